/*
 * job -- the job record on the wire (message kind "record:job").
 *
 * Every column of the seed's `projects` table, plus what the chain adds. The
 * jobstore sends it in replies; the gateway serves it over REST. It is the
 * wire form only: the jobstore's database module keeps its own row form.
 * Seed columns keep their names except `price`, carried exactly as
 * price_usd_cents (the seed's USD price times 100).
 * Not here: the worker's job spec (jobspec.h). Threading: no shared state.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_PROTO_JOB_H
#define LOOM_PROTO_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

/* Caps on the record's strings, in bytes of UTF-8. */
#define PROTO_TITLE_MAX       200
#define PROTO_DESCRIPTION_MAX 16384
#define PROTO_LINK_MAX        2048
#define PROTO_PATH_MAX        1024
#define PROTO_INFO_MAX        4096
#define PROTO_TRANSITIONS_MAX 64
#define PROTO_JOB_FILES_MAX   256 /* files listed in one record */

/* What a file of a job is: an input, the job spec (job.json) or the result. */
enum proto_file_role {
    PROTO_FILE_INPUT = 0,
    PROTO_FILE_SPEC,
    PROTO_FILE_RESULT,
    PROTO_FILE_ROLE__COUNT
};
/* Wire names, indexed by enum proto_file_role: "input", "spec", "result". */
extern const char *const proto_file_role_names[PROTO_FILE_ROLE__COUNT];

/* One stored file of a job (type "job_file"): the bytes live in the
 * gateway's content-addressed store under <sha256>; the job store keeps the
 * row (jobdb_list_files). */
struct proto_job_file {
    enum proto_file_role role;
    char *name;         /* 1..PROTO_FILE_NAME_MAX (cmd.h) bytes, unique in the job */
    uint8_t sha256[32]; /* sha256 of the bytes: their store address */
    int64_t size_bytes; /* 0..PROTO_FILE_SIZE_MAX (cmd.h) */
    char *content_type; /* a media type, 1..PROTO_CONTENT_TYPE_MAX (cmd.h) bytes */
};

/* One on-chain transition of a job: the event that moved it to <status>. */
struct proto_transition {
    enum proto_job_status status; /* the status entered */
    uint8_t tx_hash[32];          /* the transaction that emitted the event */
    int64_t block_number;         /* 0..2^53-1 */
    int64_t at;                   /* the block's timestamp, Unix seconds */
};

struct proto_job {
    /* The seed's projects columns. */
    int64_t id;                 /* database id, 1..2^53-1 */
    char *title;                /* 1..PROTO_TITLE_MAX bytes */
    char *description;          /* 0..PROTO_DESCRIPTION_MAX bytes */
    enum proto_job_type type;   /* IA or GRAFICA */
    int64_t price_usd_cents;    /* the seed's price, 1..PROTO_PRICE_CENTS_MAX */
    uint8_t wallet_address[20]; /* the client */
    enum proto_job_status status;
    int64_t progress;      /* percent, 0..100 */
    int64_t created_at;    /* Unix seconds */
    char *cloud_link;      /* optional (NULL), 0..PROTO_LINK_MAX bytes */
    char *script_path;     /* optional, 0..PROTO_PATH_MAX bytes */
    char *external_links;  /* optional, 0..PROTO_INFO_MAX bytes, free text */
    char *attachment_info; /* optional, 0..PROTO_INFO_MAX bytes, free text */
    bool has_worker_address;
    uint8_t worker_address[20]; /* the worker holding or having held the claim */
    /* What the chain adds. */
    bool has_chain_job_id;
    uint8_t chain_job_id[32]; /* the escrow's bytes32 job id; set from OPEN on */
    bool has_escrow_wei;
    uint8_t escrow_wei[32]; /* wei locked in escrow (uint256, big-endian) */
    bool has_spec_sha256;
    uint8_t spec_sha256[32]; /* sha256 of job.json, committed at creation */
    bool has_result_sha256;
    uint8_t result_sha256[32]; /* sha256 of the result, committed at submission */
    int64_t deadline_at;       /* refund after this time, Unix seconds */
    int64_t max_runtime_s;     /* a claim lapses after this, 1..PROTO_RUNTIME_MAX_S */
    bool has_claim_expires_at;
    int64_t claim_expires_at; /* current claim lapses at, Unix seconds */
    bool has_challenge_ends_at;
    int64_t challenge_ends_at;            /* challenge window ends at, Unix seconds */
    struct proto_transition *transitions; /* oldest first, 0..PROTO_TRANSITIONS_MAX */
    size_t n_transitions;
    struct proto_job_file *files; /* by name, 0..PROTO_JOB_FILES_MAX; job.get only */
    size_t n_files;
};

/*
 * Encode <job> (borrowed) as a "record:job" message, appended to <out>.
 * Validates every member as the decoder would, and the status rules: from
 * OPEN on, chain_job_id and escrow_wei are required; WORKING and SUBMITTED
 * require worker_address; SUBMITTED requires result_sha256.
 *   e: may be NULL; receives the failing member's path.
 * Returns ERR_OK; ERR_INVAL, ERR_RANGE, ERR_TOOBIG (a member breaks its
 * rules, or <out> is full), ERR_NOMEM. On failure <out> may hold part of the
 * text only if ERR_TOOBIG came from <out> itself; reset it before reuse.
 */
LOOM_MUST_CHECK enum err proto_job_encode(const struct proto_job *job, struct buf *out,
                                          struct json_err *e);

/*
 * Decode a "record:job" message from <len> bytes at <data> (borrowed) into
 * <out>, which is overwritten. On success the caller owns <out>'s strings
 * and array: free them with proto_job_release(). On failure <out> is left
 * empty (zeroed) and <e> (may be NULL) names the failing member.
 * Returns ERR_OK; ERR_VERSION ("v" is not 1); ERR_INVAL (malformed JSON,
 * missing member, wrong type, unknown member, broken status rule); ERR_RANGE;
 * ERR_TOOBIG (message over PROTO_MAX_MSG_BYTES, nesting over PROTO_MAX_DEPTH,
 * string or array over its cap); ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err proto_job_decode(const char *data, size_t len, struct proto_job *out,
                                          struct json_err *e);

/* Free the strings and array of <job> and zero it. Accepts NULL. */
void proto_job_release(struct proto_job *job);

/* True if <a> and <b> carry the same record. */
bool proto_job_equal(const struct proto_job *a, const struct proto_job *b);

#endif
