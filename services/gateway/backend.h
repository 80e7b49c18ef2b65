/*
 * backend -- what the gateway needs from the rest of The Loom, as a table of
 * asynchronous function pointers.
 *
 * The HTTP half of the gateway (server.c) knows only this interface. Today
 * two implementations exist: memback.c (in memory; `--backend=memory` and the
 * tests) and, once the job store lands, a nanomsg REQ client that forwards
 * each call to services/jobstore. Signature recovery sits behind verify() for
 * the same reason: common/eth's secp256k1 code plugs in there.
 *
 * Callback rule (STYLE.md): a function that returns ERR_OK runs its callback
 * exactly once, later, on the gateway's event-loop thread (never from inside
 * the call); one that returns an error never runs it. Everything a callback
 * receives is borrowed for the duration of the callback. <msg> is a one-line
 * reason for a non-OK result ("" when none) that the gateway shows the client.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_BACKEND_H
#define LOOM_GW_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* One file of a job, named by its client-chosen label. */
struct gw_file {
    char *name;   /* label, validated by validate_filename() */
    char *sha256; /* 64 lower-case hex digits: the store object */
    uint64_t size_bytes;
};

/* A job as the gateway shows it (DESIGN.md "Job lifecycle"). */
struct gw_job {
    int64_t id;
    char *title;
    char *description;
    char *type; /* "IA" or "GRAFICA" */
    int64_t price_usd_cents;
    char *client;       /* 0x address of the creator */
    char *worker;       /* 0x address of the worker holding the claim; NULL if none */
    char *status;       /* PENDING, OPEN, WORKING, SUBMITTED, COMPLETED, DISPUTED, REFUNDED */
    int progress;       /* 0..100 */
    int64_t created_at; /* unix seconds */
    char *spec_sha256;  /* sha256 of job.json; NULL if none */
    /* The escrow's terms (job store backend; NULL or 0 when not known). */
    char *chain_job_id;    /* "0x" + 64 lower-case hex digits: the escrow's bytes32 id */
    char *escrow_wei;      /* decimal wei locked in escrow; NULL until funded */
    int64_t deadline_at;   /* refund after this time, unix seconds */
    int64_t max_runtime_s; /* seconds a claim lasts */
    char *result_sha256;   /* NULL until a result is uploaded */
    uint64_t result_size_bytes;
    char *cloud_link; /* seed fields; NULL when absent */
    char *external_links;
    struct gw_file *files;
    size_t n_files;
};

/* A new job, as validated by the gateway. Everything is borrowed. */
struct gw_job_new {
    const char *title;
    const char *description;    /* may be "" */
    const char *type;           /* "IA" or "GRAFICA" */
    int64_t price_usd_cents;    /* > 0 */
    const char *client;         /* signer's address */
    const char *spec_sha256;    /* NULL when no job.json was sent */
    const char *cloud_link;     /* NULL when absent */
    const char *external_links; /* NULL when absent */
    const struct gw_file *files;
    size_t n_files;
};

/* Filters for listing; NULL strings match anything. */
struct gw_job_filter {
    const char *status;
    const char *type;
    const char *client;
    const char *worker;
    int64_t before_id; /* cursor: only ids below this; 0 = from the newest */
    int limit;         /* 1..100 */
};

/* A USD -> wei quote from the price feed (Chainlink AggregatorV3Interface). */
struct gw_quote {
    int64_t usd_cents;
    const char *wei;    /* decimal string: amounts exceed 64 bits */
    uint64_t round_id;  /* the feed round the answer came from */
    int64_t updated_at; /* unix seconds of that round */
    int64_t age_s;      /* now - updated_at */
    const char *answer; /* the feed's answer, decimal, with <decimals> decimals */
    int decimals;
};

typedef void (*gw_job_cb)(void *arg, enum err e, const char *msg, const struct gw_job *job);
typedef void (*gw_jobs_cb)(void *arg, enum err e, const char *msg, const struct gw_job *jobs,
                           size_t n, int64_t next_before_id);
typedef void (*gw_done_cb)(void *arg, enum err e, const char *msg);
typedef void (*gw_quote_cb)(void *arg, enum err e, const char *msg, const struct gw_quote *q);

struct gw_backend {
    void *ctx; /* passed as the first argument of every call */

    /* Record a new job (status PENDING). Callback errors: ERR_INVAL,
     * ERR_UNAVAILABLE, ERR_DB. */
    enum err (*create_job)(void *ctx, const struct gw_job_new *in, gw_job_cb cb, void *arg);
    /* Fetch job <id>. Callback errors: ERR_NOTFOUND, ERR_UNAVAILABLE. */
    enum err (*get_job)(void *ctx, int64_t id, gw_job_cb cb, void *arg);
    /* Newest first; next_before_id is 0 when there is no further page. */
    enum err (*list_jobs)(void *ctx, const struct gw_job_filter *f, gw_jobs_cb cb, void *arg);
    /* Set the progress (0..100) of a WORKING job. Callback errors:
     * ERR_NOTFOUND, ERR_PERM (<worker> is not the assigned worker),
     * ERR_STATE (not WORKING). */
    enum err (*update_progress)(void *ctx, int64_t id, const char *worker, int progress,
                                gw_job_cb cb, void *arg);
    /* Attach the result object to a WORKING job. Errors as update_progress. */
    enum err (*set_result)(void *ctx, int64_t id, const char *worker, const struct gw_file *result,
                           gw_job_cb cb, void *arg);
    /* Attach an input file to a PENDING job. Callback errors: ERR_NOTFOUND,
     * ERR_PERM (<client> is not the job's client), ERR_STATE (not PENDING),
     * ERR_EXISTS (a file with that name exists). */
    enum err (*add_file)(void *ctx, int64_t id, const char *client, const struct gw_file *file,
                         gw_job_cb cb, void *arg);
    /* Record (address, nonce) as used until <expires_at> (unix s). Callback
     * errors: ERR_EXISTS (used before: a replay), ERR_UNAVAILABLE. */
    enum err (*consume_nonce)(void *ctx, const char *address, const char *nonce, int64_t expires_at,
                              gw_done_cb cb, void *arg);
    /* Convert <usd_cents> to wei with the price feed. Callback errors:
     * ERR_STATE (stale or incomplete round), ERR_RPC, ERR_UNAVAILABLE. */
    enum err (*quote)(void *ctx, int64_t usd_cents, gw_quote_cb cb, void *arg);

    /*
     * Synchronous: recover the signer of an EIP-191 personal_sign signature
     * ("\x19Ethereum Signed Message:\n" + decimal length + message, keccak-256,
     * secp256k1 recovery). <signature> is "0x" + 130 hex digits (r, s, v).
     * On ERR_OK *address_out is a heap "0x..." string the caller frees.
     * Returns ERR_OK, ERR_INVAL (malformed signature), ERR_CRYPTO (does not
     * recover), ERR_NOMEM.
     */
    enum err (*verify)(void *verify_ctx, const char *message, size_t message_len,
                       const char *signature, char **address_out);
    void *verify_ctx;
};

/* Deep-free helpers for backends that build jobs on the heap. */
void gw_job_release(struct gw_job *job);
void gw_file_release(struct gw_file *f);
/* Deep copy <src> into <dst>. Returns ERR_OK or ERR_NOMEM (dst released). */
LOOM_MUST_CHECK enum err gw_job_copy(struct gw_job *dst, const struct gw_job *src);
LOOM_MUST_CHECK enum err gw_file_copy(struct gw_file *dst, const struct gw_file *src);

#endif
