/*
 * httperr -- the one table from error to HTTP status and stable JSON code.
 *
 * Every failure the gateway reports goes out as
 *   {"error":{"code":"not_found","message":"no such job"}}
 * where code is err_code() of an enum err (common/err.h), or one of the two
 * HTTP-only codes below, which have no enum err. Threading: pure.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_HTTPERR_H
#define LOOM_GW_HTTPERR_H

#include "err.h"

/* HTTP-only failures, numbered after enum err so one int names any row. */
enum httperr_extra {
    HTTPERR_RATE_LIMITED = ERR__COUNT, /* 429, "rate_limited" */
    HTTPERR_METHOD_NOT_ALLOWED,        /* 405, "method_not_allowed" */
    HTTPERR__END
};

/* HTTP status for <code> (an enum err or enum httperr_extra); 500 if unknown. */
int httperr_status(int code);

/* Stable machine code for <code>: err_code() for enum err values. */
const char *httperr_code(int code);

#endif
