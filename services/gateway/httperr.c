/*
 * httperr -- enum err to HTTP status: the table.
 * SPDX-License-Identifier: MIT
 */
#include "httperr.h"

/* Why each status: 4xx when the client can fix the request, 5xx when we or a
 * dependency failed; 503 where retrying later may succeed. */
static const int status_table[HTTPERR__END] = {
    [ERR_OK] = 200,
    [ERR_INVAL] = 400,
    [ERR_NOMEM] = 503,
    [ERR_TOOBIG] = 413,
    [ERR_RANGE] = 400,
    [ERR_NOTFOUND] = 404,
    [ERR_EXISTS] = 409,
    [ERR_PERM] = 403,
    [ERR_AUTH] = 401,
    [ERR_STATE] = 409,
    [ERR_TIMEDOUT] = 504,
    [ERR_IO] = 500,
    [ERR_PROTO] = 502,
    [ERR_VERSION] = 400,
    [ERR_RPC] = 502,
    [ERR_DB] = 503,
    [ERR_UNAVAILABLE] = 503,
    [ERR_CRYPTO] = 401,
    [ERR_CL] = 500,
    [ERR_CANCELED] = 503,
    [HTTPERR_RATE_LIMITED] = 429,
    [HTTPERR_METHOD_NOT_ALLOWED] = 405,
};

int httperr_status(int code)
{
    if (code < 0 || code >= HTTPERR__END || status_table[code] == 0)
        return 500;
    return status_table[code];
}

const char *httperr_code(int code)
{
    if (code == HTTPERR_RATE_LIMITED)
        return "rate_limited";
    if (code == HTTPERR_METHOD_NOT_ALLOWED)
        return "method_not_allowed";
    return err_code((enum err)code);
}
