/*
 * err -- the one error vocabulary of The Loom.
 *
 * Every fallible function returns enum err (0 = success) and passes results
 * out through pointers. Not here: messages with context (the caller builds
 * them), logging (the caller logs), HTTP mapping (the gateway owns that table).
 * Threading: pure functions, safe from any thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_ERR_H
#define LOOM_ERR_H

#include <stdio.h>
#include <stdlib.h>

/* Mark a fallible function so that ignoring its result is a compile error. */
#define LOOM_MUST_CHECK __attribute__((warn_unused_result))

enum err {
    ERR_OK = 0,      /* success */
    ERR_INVAL,       /* an argument or input is malformed or out of range */
    ERR_NOMEM,       /* an allocation failed */
    ERR_TOOBIG,      /* input or output over a documented size cap */
    ERR_RANGE,       /* arithmetic overflow or a value outside its type */
    ERR_NOTFOUND,    /* the named thing does not exist */
    ERR_EXISTS,      /* the thing already exists (duplicate key, reused nonce) */
    ERR_PERM,        /* not allowed: wrong signer, wrong worker, bad file mode */
    ERR_AUTH,        /* authentication failed: bad or missing signature */
    ERR_STATE,       /* the operation is not valid in the current state */
    ERR_TIMEDOUT,    /* a deadline passed before the operation finished */
    ERR_IO,          /* an operating-system or transport failure */
    ERR_PROTO,       /* the peer broke the protocol (bad frame, bad JSON-RPC) */
    ERR_VERSION,     /* a message carries a version this build does not speak */
    ERR_RPC,         /* a JSON-RPC node answered with an error object */
    ERR_DB,          /* the database failed */
    ERR_UNAVAILABLE, /* a dependency is down; retrying later may succeed */
    ERR_CRYPTO,      /* a signature or key operation failed */
    ERR_CL,          /* an OpenCL call failed */
    ERR_CANCELED,    /* the operation was cancelled (shutdown) */
    ERR__COUNT       /* number of codes; not an error */
};

/*
 * Return a short, stable, lower-case name for <e> ("ok", "invalid argument",
 * ...). Never NULL: unknown values give "unknown error". The string is static.
 */
const char *err_str(enum err e);

/*
 * Return the stable machine code for <e>, as used in JSON error bodies
 * ("ok", "invalid", "not_found", ...). Static storage, never NULL.
 */
const char *err_code(enum err e);

/*
 * Always-on assertion for programmer errors (STYLE.md "Errors"): prints
 * file:line and the expression, then aborts. Never use it for bad input.
 */
#define LOOM_ASSERT(expr)                                                                          \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #expr);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
