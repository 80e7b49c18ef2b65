/*
 * err -- names for the error codes. One table, indexed by enum err.
 * SPDX-License-Identifier: MIT
 */
#include "err.h"

static const struct {
    const char *str;
    const char *code;
} err_table[ERR__COUNT] = {
    [ERR_OK] = {"ok", "ok"},
    [ERR_INVAL] = {"invalid argument", "invalid"},
    [ERR_NOMEM] = {"out of memory", "no_memory"},
    [ERR_TOOBIG] = {"too large", "too_large"},
    [ERR_RANGE] = {"out of range", "out_of_range"},
    [ERR_NOTFOUND] = {"not found", "not_found"},
    [ERR_EXISTS] = {"already exists", "exists"},
    [ERR_PERM] = {"permission denied", "forbidden"},
    [ERR_AUTH] = {"authentication failed", "unauthorized"},
    [ERR_STATE] = {"invalid state", "conflict"},
    [ERR_TIMEDOUT] = {"timed out", "timeout"},
    [ERR_IO] = {"i/o error", "io_error"},
    [ERR_PROTO] = {"protocol error", "protocol_error"},
    [ERR_VERSION] = {"unsupported version", "unsupported_version"},
    [ERR_RPC] = {"rpc error", "rpc_error"},
    [ERR_DB] = {"database error", "database_error"},
    [ERR_UNAVAILABLE] = {"service unavailable", "unavailable"},
    [ERR_CRYPTO] = {"cryptographic failure", "crypto_error"},
    [ERR_CL] = {"opencl error", "opencl_error"},
    [ERR_CANCELED] = {"canceled", "canceled"},
};

const char *err_str(enum err e)
{
    if ((unsigned)e >= ERR__COUNT)
        return "unknown error";
    return err_table[e].str;
}

const char *err_code(enum err e)
{
    if ((unsigned)e >= ERR__COUNT)
        return "unknown";
    return err_table[e].code;
}
