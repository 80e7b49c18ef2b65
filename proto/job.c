/*
 * job -- the job record's member table and status rules. See job.h.
 * SPDX-License-Identifier: MIT
 */
#include "job.h"

#include <stddef.h>

#include "cmd.h"
#include "codec.h"

const char *const proto_file_role_names[PROTO_FILE_ROLE__COUNT] = {"input", "spec", "result"};

#define T struct proto_transition
static const struct proto__field transition_fields[] = {
    PF_ENUM(T, status, proto_job_status_names, PROTO_STATUS__COUNT),
    PF_BYTES(PK_HASH, T, tx_hash),
    PF_INT(T, block_number, 0, PROTO_MAX_ID),
    PF_INT(T, at, 0, PROTO_MAX_TIME_AT),
};
#undef T

static const struct proto__type transition_type = {
    "transition", sizeof(struct proto_transition), transition_fields, PROTO__N(transition_fields),
    NULL,
};

#define T struct proto_job_file
static const struct proto__field job_file_fields[] = {
    PF_ENUM(T, role, proto_file_role_names, PROTO_FILE_ROLE__COUNT),
    PF_STR(T, name, true, 1, PROTO_FILE_NAME_MAX),
    PF_BYTES(PK_HASH, T, sha256),
    PF_INT(T, size_bytes, 0, PROTO_FILE_SIZE_MAX),
    PF_STR(T, content_type, true, 1, PROTO_CONTENT_TYPE_MAX),
};
#undef T

static const struct proto__type job_file_type = {
    "job_file", sizeof(struct proto_job_file), job_file_fields, PROTO__N(job_file_fields), NULL,
};

/*
 * The status rules of job.h: what the chain must have recorded for a job to
 * be in its status. They catch a record assembled from a half-updated row.
 */
static enum err job_check(const void *obj, struct json_err *e)
{
    const struct proto_job *j = obj;
    const char *st =
        (unsigned)j->status < PROTO_STATUS__COUNT ? proto_job_status_names[j->status] : "?";
    if (j->status != PROTO_STATUS_PENDING) {
        if (!j->has_chain_job_id)
            return json_fail(e, "chain_job_id", ERR_INVAL, "required when status is %s", st);
        if (!j->has_escrow_wei)
            return json_fail(e, "escrow_wei", ERR_INVAL, "required when status is %s", st);
    }
    if ((j->status == PROTO_STATUS_WORKING || j->status == PROTO_STATUS_SUBMITTED) &&
        !j->has_worker_address)
        return json_fail(e, "worker_address", ERR_INVAL, "required when status is %s", st);
    if (j->status == PROTO_STATUS_SUBMITTED && !j->has_result_sha256)
        return json_fail(e, "result_sha256", ERR_INVAL, "required when status is %s", st);
    return ERR_OK;
}

#define T struct proto_job
static const struct proto__field job_fields[] = {
    PF_INT(T, id, 1, PROTO_MAX_ID),
    PF_STR(T, title, true, 1, PROTO_TITLE_MAX),
    PF_STR(T, description, true, 0, PROTO_DESCRIPTION_MAX),
    PF_ENUM(T, type, proto_job_type_names, PROTO_JOB_TYPE__COUNT),
    PF_INT(T, price_usd_cents, 1, PROTO_PRICE_CENTS_MAX),
    PF_BYTES(PK_ADDR, T, wallet_address),
    PF_ENUM(T, status, proto_job_status_names, PROTO_STATUS__COUNT),
    PF_INT(T, progress, 0, 100),
    PF_INT(T, created_at, 0, PROTO_MAX_TIME_AT),
    PF_STR(T, cloud_link, false, 0, PROTO_LINK_MAX),
    PF_STR(T, script_path, false, 0, PROTO_PATH_MAX),
    PF_STR(T, external_links, false, 0, PROTO_INFO_MAX),
    PF_STR(T, attachment_info, false, 0, PROTO_INFO_MAX),
    PF_BYTES_OPT(PK_ADDR, T, worker_address),
    PF_BYTES_OPT(PK_HASH, T, chain_job_id),
    PF_BYTES_OPT(PK_U256, T, escrow_wei),
    PF_BYTES_OPT(PK_HASH, T, spec_sha256),
    PF_BYTES_OPT(PK_HASH, T, result_sha256),
    PF_INT(T, deadline_at, 0, PROTO_MAX_TIME_AT),
    PF_INT(T, max_runtime_s, 1, PROTO_RUNTIME_MAX_S),
    PF_INT_OPT(T, claim_expires_at, 0, PROTO_MAX_TIME_AT),
    PF_INT_OPT(T, challenge_ends_at, 0, PROTO_MAX_TIME_AT),
    PF_ARR(T, transitions, false, transition_type, PROTO_TRANSITIONS_MAX),
    PF_ARR(T, files, false, job_file_type, PROTO_JOB_FILES_MAX),
};
#undef T

const struct proto__type proto__job_type = {
    "job", sizeof(struct proto_job), job_fields, PROTO__N(job_fields), job_check,
};

const struct proto__type *const proto__job_types[] = {&proto__job_type, &transition_type,
                                                      &job_file_type};
const size_t proto__n_job_types = PROTO__N(proto__job_types);

enum err proto_job_encode(const struct proto_job *job, struct buf *out, struct json_err *e)
{
    return proto__encode_msg(&proto__job_type, job, out, e);
}

enum err proto_job_decode(const char *data, size_t len, struct proto_job *out, struct json_err *e)
{
    return proto__decode_msg(data, len, &proto__job_type, out, e);
}

void proto_job_release(struct proto_job *job)
{
    if (job)
        proto__release(&proto__job_type, job);
}

bool proto_job_equal(const struct proto_job *a, const struct proto_job *b)
{
    return proto__equal(&proto__job_type, a, b);
}
