/*
 * api -- the REST gateway's routes, as the CLI calls them (docs/api.md).
 *
 * Builds each request (query strings, the multipart/form-data body of
 * POST /api/jobs), sends it through http.h (signed where the gateway
 * requires it), decodes the JSON answers into small structs, and turns the
 * gateway's error bodies {"error":{"code","message"}} back into enum err
 * with the gateway's message (api_errmsg()).
 * Job records are read leniently across the two spellings in use: the
 * gateway's ("client", "worker", bare 64-digit sha256) and PROTOCOL.md's
 * record:job ("wallet_address", "worker_address", "0x"-prefixed hashes).
 * Not here: printing (the commands), the chain (escrow.h).
 * Threading: one thread; every call blocks.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_CLI_API_H
#define LOOM_CLI_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "evstream.h"
#include "http.h"

struct cJSON;
struct json_err;
struct key;
struct api;

/* Largest multipart body loom create builds in memory: 256 MiB (the
 * gateway's default upload cap is 100 MiB). */
#define API_MAX_UPLOAD ((size_t)256 << 20)

/* A job record. Strings are heap copies or NULL when absent. */
struct api_job {
    int64_t id;
    char *title;
    char *description;
    char *type;   /* "IA" or "GRAFICA" */
    char *status; /* PENDING, OPEN, WORKING, SUBMITTED, COMPLETED, DISPUTED, REFUNDED */
    char *client; /* 0x address */
    char *worker; /* 0x address or NULL */
    int64_t price_usd_cents;
    int64_t progress; /* 0..100 */
    int64_t created_at;
    bool has_spec;
    uint8_t spec_sha256[32];
    bool has_result;
    uint8_t result_sha256[32];
    int64_t result_size_bytes;
    bool has_chain_job_id;
    uint8_t chain_job_id[32];
    int64_t deadline_at;   /* 0 when absent */
    int64_t max_runtime_s; /* 0 when absent */
    struct cJSON *raw;     /* the record as received (owned), for --json */
};

/* Free what <j> owns and zero it. Accepts NULL. */
void api_job_release(struct api_job *j);

/*
 * Decode the job object <obj> (borrowed) into <out> (zeroed first; raw is
 * left NULL). Required: id, status. Returns ERR_OK, ERR_INVAL (a field has
 * the wrong type or form: <je> names it), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err api_job_decode(const struct cJSON *obj, struct api_job *out,
                                        struct json_err *je);

/* A quote: GET /api/quote?usd_cents=N. */
struct api_quote {
    int64_t usd_cents;
    uint8_t wei[32];      /* big-endian */
    char round_id[32];    /* decimal: Chainlink round ids pass 2^64 */
    int64_t updated_at;   /* unix s */
    int64_t age_s;
    char answer[80];      /* the feed's answer, decimal, scaled by 10^decimals */
    int64_t decimals;
};

/* What loom create sends. All borrowed. */
struct api_job_new {
    const char *title;
    const char *description; /* NULL = "" */
    const char *type;        /* "IA" or "GRAFICA" */
    int64_t price_usd_cents;
    const char *spec_path;   /* job.json to upload, or NULL */
    const char *const *input_paths; /* input files */
    size_t n_inputs;
};

/* Filters of GET /api/jobs; NULL = any. */
struct api_list_filter {
    const char *status;
    const char *type;
    const char *client; /* 0x address */
    const char *cursor;
    int64_t limit;      /* 0 = the gateway's default */
};

/* Create a client of the gateway at <base_url>; see http_new(). */
LOOM_MUST_CHECK enum err api_new(const char *base_url, long timeout_ms, struct api **out);

/* Free <a>. Accepts NULL. */
void api_free(struct api *a);

/* Sign requests with <k> (borrowed; must outlive the calls). */
void api_set_signer(struct api *a, const struct key *k);

/* Reason of the last failure: the gateway's message ("unknown type \"X\"")
 * or the transport's. Borrowed, valid until the next call. */
const char *api_errmsg(const struct api *a);

/*
 * Map a gateway error answer (HTTP <status>, JSON <body>) to enum err and
 * its message (appended to <msg>): the body's "code" (an err_code() name,
 * or "rate_limited" -> ERR_TIMEDOUT), else the status (404 -> ERR_NOTFOUND,
 * 401 -> ERR_AUTH, 403 -> ERR_PERM, 409 -> ERR_STATE, 413 -> ERR_TOOBIG,
 * 429 -> ERR_TIMEDOUT, 4xx -> ERR_INVAL, 5xx -> ERR_UNAVAILABLE). Server
 * faults (no_memory, io_error, database_error) become ERR_UNAVAILABLE, as
 * they are not the caller's. Never returns ERR_OK.
 */
enum err api_error_from(long status, const char *body, size_t len, struct buf *msg);

/* GET /api/jobs/{id}. Errors: the transport's, the gateway's (ERR_NOTFOUND
 * for no such job), ERR_PROTO (an answer that is not a job). */
LOOM_MUST_CHECK enum err api_job_get(struct api *a, int64_t id, struct api_job *out);

/*
 * GET /api/jobs with <f>. *out receives the answer's tree ({"jobs":[...],
 * "next_cursor":...}; caller frees with json_free()); *jobs and *n the decoded
 * jobs (caller releases each and frees the array). Errors as api_job_get().
 */
LOOM_MUST_CHECK enum err api_job_list(struct api *a, const struct api_list_filter *f,
                                      struct cJSON **out, struct api_job **jobs, size_t *n);

/*
 * Build the multipart/form-data body of <in> (RFC 7578) with <boundary>
 * into <body>: fields title, description, type, price_usd_cents; the spec
 * as part "job.json" (filename job.json); each input as part "file" with
 * its base name. Reads the files (blocks).
 * Returns ERR_OK; ERR_NOTFOUND (a file is missing: <why> names it);
 * ERR_INVAL (a name the form cannot carry: quote, backslash, control
 * characters, over 255 bytes, "job.json" for an input, a duplicate, or the
 * boundary occurring in the content); ERR_TOOBIG (over API_MAX_UPLOAD);
 * ERR_IO; ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err api_build_multipart(const struct api_job_new *in, const char *boundary,
                                             struct buf *body, struct buf *why);

/* POST /api/jobs (signed) with the form above. Errors as
 * api_build_multipart() and api_job_get(). */
LOOM_MUST_CHECK enum err api_job_create(struct api *a, const struct api_job_new *in,
                                        struct api_job *out);

/* GET /api/quote?usd_cents=<cents>. Errors as api_job_get(). */
LOOM_MUST_CHECK enum err api_quote(struct api *a, int64_t usd_cents, struct api_quote *out);

/*
 * GET /api/jobs/{id}/result into <fd>. *sha256_hex receives the
 * X-Loom-SHA256 header (heap, caller frees) or NULL. Errors as
 * api_job_get(), ERR_IO writing <fd>.
 */
LOOM_MUST_CHECK enum err api_fetch_result(struct api *a, int64_t id, int fd, char **sha256_hex);

/*
 * GET /api/events and feed the stream to <cb> through an evstream parser
 * until <cb> returns non-zero (then ERR_OK) or the stream ends
 * (ERR_UNAVAILABLE). <opened> (may be NULL) runs once, when the 200 answer's
 * first bytes arrive, before any event is parsed: watch reads the job's
 * state there, so nothing that happens after the subscription is missed.
 * A non-zero answer of <opened> stops the stream too. Errors also those of
 * the gateway's answer and of evstream_feed().
 */
LOOM_MUST_CHECK enum err api_events(struct api *a, int (*opened)(void *arg), evstream_event_fn cb,
                                    void *arg);

#endif
