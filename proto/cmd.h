/*
 * cmd -- jobstore commands over nanomsg REQ/REP and their replies
 * (message kinds "cmd:<command>", "reply:<command>", "reply:error").
 *
 * Request:  {"v":1,"cmd":"job.get","req_id":"r-17","args":{"job_id":42}}
 * Reply:    {"v":1,"ok":true,"result":{...}}
 *           {"v":1,"ok":false,"error":{"code":"not_found","message":"..."}}
 * "req_id" is optional, echoed in logs only (REQ/REP pairs replies itself).
 * The error code is err_code() of an enum err other than ERR_OK. A reply
 * does not name its command: the requester decodes it with the command it
 * sent. Who sends what: the gateway job.create, job.get, job.list,
 * job.progress, job.result, file.put, auth.nonce; the indexer
 * events.apply, checkpoint.get, reorg.rollback; the keeper jobs.due.
 * Not here: the transport (common/bus), what the jobstore does with a
 * command (services/jobstore). Threading: no shared state.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_PROTO_CMD_H
#define LOOM_PROTO_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "job.h"
#include "proto.h"

enum proto_cmd {
    PROTO_CMD_JOB_CREATE = 0, /* "job.create" -> job */
    PROTO_CMD_JOB_GET,        /* "job.get" -> job */
    PROTO_CMD_JOB_LIST,       /* "job.list" -> page */
    PROTO_CMD_JOB_PROGRESS,   /* "job.progress" -> job */
    PROTO_CMD_JOB_RESULT,     /* "job.result" -> job */
    PROTO_CMD_FILE_PUT,       /* "file.put" -> file */
    PROTO_CMD_AUTH_NONCE,     /* "auth.nonce" -> {} (ERR_EXISTS on replay) */
    PROTO_CMD_EVENTS_APPLY,   /* "events.apply" -> applied */
    PROTO_CMD_CHECKPOINT_GET, /* "checkpoint.get" -> checkpoint */
    PROTO_CMD_REORG_ROLLBACK, /* "reorg.rollback" -> rollback */
    PROTO_CMD_JOBS_DUE,       /* "jobs.due" -> due */
    PROTO_CMD__COUNT
};

/* Wire names of the commands, indexed by enum proto_cmd. */
extern const char *const proto_cmd_names[PROTO_CMD__COUNT];

/* Caps of the command family. */
#define PROTO_REQ_ID_MAX       64
#define PROTO_FILE_NAME_MAX    255
#define PROTO_CONTENT_TYPE_MAX 255
#define PROTO_CREATE_FILES_MAX 64                 /* files in one job.create: a form's parts */
#define PROTO_FILE_SIZE_MAX    ((int64_t)1 << 40) /* 1 TiB */
#define PROTO_NONCE_MIN        8
#define PROTO_NONCE_MAX        128
#define PROTO_LIST_LIMIT_MAX   200 /* job.list page size; the jobstore's default is 50 */
#define PROTO_DUE_LIMIT_MAX    1000
#define PROTO_EVENTS_MAX       5000   /* events in one events.apply */
#define PROTO_BLOCKS_MAX       5000   /* block entries in one events.apply */
#define PROTO_BLOCK_RANGE_MAX  100000 /* to_block - from_block + 1 */
#define PROTO_ERR_MESSAGE_MAX  1024

/* ---- arguments ------------------------------------------------------------ */

/* One input file of a job.create: an uploaded store object, recorded in the
 * same transaction as the job. */
struct proto_new_file {
    char *name;         /* 1..PROTO_FILE_NAME_MAX bytes, unique within the job */
    uint8_t sha256[32]; /* content address in the gateway's store */
    int64_t size_bytes; /* 0..PROTO_FILE_SIZE_MAX */
    char *content_type; /* a media type, 1..PROTO_CONTENT_TYPE_MAX bytes */
};

/* job.create: a client posts a job (PENDING until the escrow is funded). */
struct proto_job_create {
    char *title;       /* 1..PROTO_TITLE_MAX bytes */
    char *description; /* 0..PROTO_DESCRIPTION_MAX bytes */
    enum proto_job_type type;
    int64_t price_usd_cents;    /* 1..PROTO_PRICE_CENTS_MAX */
    uint8_t wallet_address[20]; /* the client, as verified by the gateway */
    char *cloud_link;           /* optional (NULL) */
    char *script_path;          /* optional */
    char *external_links;       /* optional */
    char *attachment_info;      /* optional */
    bool has_spec_sha256;
    uint8_t spec_sha256[32]; /* sha256 of job.json, if uploaded already */
    int64_t deadline_at;     /* Unix seconds */
    int64_t max_runtime_s;   /* 1..PROTO_RUNTIME_MAX_S */
    /* Input files, recorded with the job in one transaction (optional:
     * 0..PROTO_CREATE_FILES_MAX; file.put adds more while PENDING). */
    struct proto_new_file *files;
    size_t n_files;
};

/* job.get */
struct proto_job_get {
    int64_t job_id;
};

/* job.list: filters are ANDed; pages go by ascending id. */
struct proto_job_list {
    bool has_status;
    enum proto_job_status status;
    bool has_type;
    enum proto_job_type type;
    bool has_client;
    uint8_t client[20]; /* wallet_address */
    bool has_worker;
    uint8_t worker[20]; /* worker_address */
    bool has_cursor;
    int64_t cursor; /* jobs with id > cursor: the next_cursor of the previous page */
    bool has_limit;
    int64_t limit; /* 1..PROTO_LIST_LIMIT_MAX; the jobstore uses 50 when absent */
};

/* job.progress: the worker holding the claim reports progress. */
struct proto_job_progress {
    int64_t job_id;
    uint8_t worker[20];
    int64_t progress; /* percent, 0..100 */
};

/* job.result: the worker records its uploaded result. */
struct proto_job_result {
    int64_t job_id;
    uint8_t worker[20];
    uint8_t result_sha256[32]; /* sha256 of the result file */
    char *file_name;           /* the uploaded result file, 1..PROTO_FILE_NAME_MAX bytes */
};

/* file.put: an uploaded file's record (also the reply's result). */
struct proto_file {
    int64_t job_id;
    char *name;         /* 1..PROTO_FILE_NAME_MAX bytes */
    uint8_t sha256[32]; /* content address in the gateway's store */
    int64_t size_bytes; /* 0..PROTO_FILE_SIZE_MAX */
    char *content_type; /* a media type, 1..PROTO_CONTENT_TYPE_MAX bytes */
};

/* auth.nonce: consume a signed request's nonce for <address>. */
struct proto_auth_nonce {
    uint8_t address[20];
    char *nonce;        /* PROTO_NONCE_MIN..PROTO_NONCE_MAX bytes */
    int64_t expires_at; /* the jobstore may forget the nonce after this, Unix seconds */
};

/* A block by number and hash (checkpoints, blocks of an events.apply). */
struct proto_block_ref {
    int64_t number;
    uint8_t hash[32];
};

/*
 * The fields of a decoded escrow event: every parameter of the Solidity
 * event in contracts/src/LoomEscrow.sol (the truth), renamed to our units.
 * chain_job_id (jobId) is always present; the others are present exactly for
 * the events that carry them:
 *   JobCreated       client ref price_usd_cents amount_wei spec_sha256 deadline_at
 *                    max_runtime_s challenge_window_s
 *   JobClaimed       client worker claim_expires_at
 *   JobSubmitted     client worker result_sha256 challenge_ends_at
 *   PaymentReleased  client worker amount_wei by_client
 *   JobDisputed      client worker
 *   JobReopened      client worker
 *   JobRefunded      client worker amount_wei (worker: the zero address if none claimed)
 *   DisputeResolved  client worker to_worker_wei to_client_wei
 */
struct proto_event_fields {
    uint8_t chain_job_id[32];
    bool has_client;
    uint8_t client[20];
    bool has_worker;
    uint8_t worker[20];
    bool has_ref;
    uint8_t ref[32]; /* JobCreated: the client's reference; jobId = keccak256(abi.encode(client,
                        ref)) */
    bool has_price_usd_cents;
    int64_t price_usd_cents;
    bool has_amount_wei;
    uint8_t amount_wei[32]; /* escrowed (JobCreated), paid or refunded */
    bool has_spec_sha256;
    uint8_t spec_sha256[32];
    bool has_result_sha256;
    uint8_t result_sha256[32];
    bool has_deadline_at;
    int64_t deadline_at;
    bool has_max_runtime_s;
    int64_t max_runtime_s;
    bool has_challenge_window_s;
    int64_t challenge_window_s; /* JobCreated: window after submission, 0..PROTO_RUNTIME_MAX_S */
    bool has_claim_expires_at;
    int64_t claim_expires_at;
    bool has_challenge_ends_at;
    int64_t challenge_ends_at;
    bool has_by_client;
    bool by_client; /* PaymentReleased: true when the client accepted, false after the window */
    bool has_to_worker_wei;
    uint8_t to_worker_wei[32]; /* DisputeResolved: wei credited to the worker */
    bool has_to_client_wei;
    uint8_t to_client_wei[32]; /* DisputeResolved: wei credited to the client */
};

struct proto_event {
    int64_t block_number;
    uint8_t block_hash[32];
    int64_t block_at; /* the block's timestamp, Unix seconds (when each transition happened) */
    uint8_t tx_hash[32];
    int64_t log_index; /* position of the log in its block */
    enum proto_event_name name;
    struct proto_event_fields fields;
};

/*
 * events.apply: the events of blocks from_block..to_block, applied with the
 * new checkpoint in one database transaction. Rules the decoder enforces:
 * from_block <= to_block, at most PROTO_BLOCK_RANGE_MAX blocks; blocks
 * strictly ascending inside the range, the last one equal to checkpoint,
 * whose number is to_block; each event's (block_number, block_hash) listed
 * in blocks; events strictly ascending by (block_number, log_index); each
 * event carries exactly its fields (see struct proto_event_fields).
 */
struct proto_events_apply {
    int64_t from_block;
    int64_t to_block;
    struct proto_block_ref *blocks; /* every block that has events, and to_block */
    size_t n_blocks;
    struct proto_event *events;
    size_t n_events;
    struct proto_block_ref checkpoint;
};

/* reorg.rollback: forget events above to_block; the checkpoint becomes
 * (to_block, block_hash). */
struct proto_reorg_rollback {
    int64_t to_block;
    uint8_t block_hash[32];
};

/* jobs.due: what the keeper should settle at <now_at>. */
struct proto_jobs_due {
    int64_t now_at; /* Unix seconds */
    int64_t limit;  /* 1..PROTO_DUE_LIMIT_MAX */
};

struct proto_request {
    enum proto_cmd cmd;
    char *req_id; /* optional (NULL), 1..PROTO_REQ_ID_MAX bytes */
    union {
        struct proto_job_create job_create;
        struct proto_job_get job_get;
        struct proto_job_list job_list;
        struct proto_job_progress job_progress;
        struct proto_job_result job_result;
        struct proto_file file_put;
        struct proto_auth_nonce auth_nonce;
        struct proto_events_apply events_apply;
        /* checkpoint.get has no arguments: "args":{} */
        struct proto_reorg_rollback reorg_rollback;
        struct proto_jobs_due jobs_due;
    } args;
};

/* ---- results ---------------------------------------------------------------- */

/* job.list */
struct proto_job_page {
    struct proto_job *jobs; /* 0..PROTO_LIST_LIMIT_MAX */
    size_t n_jobs;
    bool has_next_cursor;
    int64_t next_cursor; /* absent on the last page */
};

/* events.apply */
struct proto_applied {
    int64_t events_applied; /* newly applied; replays count 0 */
    struct proto_block_ref checkpoint;
};

/* checkpoint.get */
struct proto_checkpoint {
    bool has_checkpoint; /* false before the first events.apply */
    struct proto_block_ref checkpoint;
};

/* reorg.rollback */
struct proto_rollback {
    int64_t events_removed;
    struct proto_block_ref checkpoint;
};

/* One due job. */
struct proto_due {
    int64_t job_id;
    uint8_t chain_job_id[32];
    enum proto_due_action action;
    int64_t due_at; /* Unix seconds */
};

/* jobs.due, soonest first */
struct proto_due_page {
    struct proto_due *jobs; /* 0..PROTO_DUE_LIMIT_MAX */
    size_t n_jobs;
};

struct proto_reply {
    enum proto_cmd cmd; /* the command answered; not on the wire */
    bool ok;
    enum err error_code; /* !ok: not ERR_OK */
    char *error_message; /* !ok: 0..PROTO_ERR_MESSAGE_MAX bytes */
    union {
        struct proto_job job;       /* job.create, job.get, job.progress, job.result */
        struct proto_job_page page; /* job.list */
        struct proto_file file;     /* file.put */
        /* auth.nonce: "result":{} */
        struct proto_applied applied;       /* events.apply */
        struct proto_checkpoint checkpoint; /* checkpoint.get */
        struct proto_rollback rollback;     /* reorg.rollback */
        struct proto_due_page due;          /* jobs.due */
    } result;
};

/*
 * Append the JSON of <req> (borrowed) to <out>, validating every member and
 * rule as the decoder would.
 *   e: may be NULL; receives the failing member's path ("args.title").
 * Returns ERR_OK; ERR_INVAL / ERR_RANGE / ERR_TOOBIG (a member breaks its
 * rules, an unknown cmd, or <out> is full); ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err proto_request_encode(const struct proto_request *req, struct buf *out,
                                              struct json_err *e);

/*
 * Decode a request from <len> bytes at <data> (borrowed) into <out>
 * (overwritten). On success the caller frees it with proto_request_release();
 * on failure <out> is zeroed and <e> (may be NULL) names the member.
 * Returns ERR_OK; ERR_VERSION; ERR_INVAL (malformed JSON, unknown "cmd",
 * missing, unknown or mistyped member, a broken rule); ERR_RANGE; ERR_TOOBIG;
 * ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err proto_request_decode(const char *data, size_t len,
                                              struct proto_request *out, struct json_err *e);

/* Free what <req> holds and zero it. Accepts NULL. */
void proto_request_release(struct proto_request *req);

/* True if <a> and <b> are the same request. */
bool proto_request_equal(const struct proto_request *a, const struct proto_request *b);

/*
 * Append the JSON of <rep> (borrowed) to <out>: the result of rep->cmd when
 * rep->ok, else the error (code err_code(rep->error_code), which must not be
 * ERR_OK). Errors as proto_request_encode().
 */
LOOM_MUST_CHECK enum err proto_reply_encode(const struct proto_reply *rep, struct buf *out,
                                            struct json_err *e);

/*
 * Decode the reply to a <cmd> request from <len> bytes at <data> into <out>
 * (overwritten; out->cmd = cmd). An error reply decodes as ok = false with
 * the code and message; that is ERR_OK here, the caller acts on out->ok.
 * Returns ERR_OK; ERR_VERSION; ERR_INVAL (an unknown error code, a missing
 * "result" or "error", a result member error); ERR_RANGE; ERR_TOOBIG;
 * ERR_NOMEM. Free with proto_reply_release().
 */
LOOM_MUST_CHECK enum err proto_reply_decode(const char *data, size_t len, enum proto_cmd cmd,
                                            struct proto_reply *out, struct json_err *e);

/* Free what <rep> holds and zero it (cmd is kept). Accepts NULL. */
void proto_reply_release(struct proto_reply *rep);

/* True if <a> and <b> are the same reply to the same command. */
bool proto_reply_equal(const struct proto_reply *a, const struct proto_reply *b);

/* The command named <name>, or -1. */
int proto_cmd_find(const char *name);

#endif
