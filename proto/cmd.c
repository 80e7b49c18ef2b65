/*
 * cmd -- jobstore commands and replies: the envelopes, one member table per
 * argument and result type, and the rules of events.apply. See cmd.h.
 * SPDX-License-Identifier: MIT
 */
#include "cmd.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

const char *const proto_cmd_names[PROTO_CMD__COUNT] = {
    [PROTO_CMD_JOB_CREATE] = "job.create",
    [PROTO_CMD_JOB_GET] = "job.get",
    [PROTO_CMD_JOB_LIST] = "job.list",
    [PROTO_CMD_JOB_PROGRESS] = "job.progress",
    [PROTO_CMD_JOB_RESULT] = "job.result",
    [PROTO_CMD_FILE_PUT] = "file.put",
    [PROTO_CMD_AUTH_NONCE] = "auth.nonce",
    [PROTO_CMD_EVENTS_APPLY] = "events.apply",
    [PROTO_CMD_CHECKPOINT_GET] = "checkpoint.get",
    [PROTO_CMD_REORG_ROLLBACK] = "reorg.rollback",
    [PROTO_CMD_JOBS_DUE] = "jobs.due",
};

/* ---- argument types ----------------------------------------------------- */

#define T struct proto_new_file
static const struct proto__field new_file_fields[] = {
    PF_STR(T, name, true, 1, PROTO_FILE_NAME_MAX),
    PF_BYTES(PK_HASH, T, sha256),
    PF_INT(T, size_bytes, 0, PROTO_FILE_SIZE_MAX),
    PF_STR(T, content_type, true, 1, PROTO_CONTENT_TYPE_MAX),
};
#undef T
static const struct proto__type new_file_type = {"new_file", sizeof(struct proto_new_file),
                                                 new_file_fields, PROTO__N(new_file_fields), NULL};

#define T struct proto_job_create
static const struct proto__field job_create_fields[] = {
    PF_STR(T, title, true, 1, PROTO_TITLE_MAX),
    PF_STR(T, description, true, 0, PROTO_DESCRIPTION_MAX),
    PF_ENUM(T, type, proto_job_type_names, PROTO_JOB_TYPE__COUNT),
    PF_INT(T, price_usd_cents, 1, PROTO_PRICE_CENTS_MAX),
    PF_BYTES(PK_ADDR, T, wallet_address),
    PF_STR(T, cloud_link, false, 0, PROTO_LINK_MAX),
    PF_STR(T, script_path, false, 0, PROTO_PATH_MAX),
    PF_STR(T, external_links, false, 0, PROTO_INFO_MAX),
    PF_STR(T, attachment_info, false, 0, PROTO_INFO_MAX),
    PF_BYTES_OPT(PK_HASH, T, spec_sha256),
    PF_INT(T, deadline_at, 0, PROTO_MAX_TIME_AT),
    PF_INT(T, max_runtime_s, 1, PROTO_RUNTIME_MAX_S),
    PF_ARR(T, files, false, new_file_type, PROTO_CREATE_FILES_MAX),
};
#undef T

#define T struct proto_job_get
static const struct proto__field job_get_fields[] = {
    PF_INT(T, job_id, 1, PROTO_MAX_ID),
};
#undef T

#define T struct proto_job_list
static const struct proto__field job_list_fields[] = {
    PF_ENUM_OPT(T, status, proto_job_status_names, PROTO_STATUS__COUNT),
    PF_ENUM_OPT(T, type, proto_job_type_names, PROTO_JOB_TYPE__COUNT),
    PF_BYTES_OPT(PK_ADDR, T, client),
    PF_BYTES_OPT(PK_ADDR, T, worker),
    PF_INT_OPT(T, cursor, 0, PROTO_MAX_ID),
    PF_INT_OPT(T, limit, 1, PROTO_LIST_LIMIT_MAX),
};
#undef T

#define T struct proto_job_progress
static const struct proto__field job_progress_fields[] = {
    PF_INT(T, job_id, 1, PROTO_MAX_ID),
    PF_BYTES(PK_ADDR, T, worker),
    PF_INT(T, progress, 0, 100),
};
#undef T

#define T struct proto_job_result
static const struct proto__field job_result_fields[] = {
    PF_INT(T, job_id, 1, PROTO_MAX_ID),
    PF_BYTES(PK_ADDR, T, worker),
    PF_BYTES(PK_HASH, T, result_sha256),
    PF_STR(T, file_name, true, 1, PROTO_FILE_NAME_MAX),
};
#undef T

#define T struct proto_file
static const struct proto__field file_fields[] = {
    PF_INT(T, job_id, 1, PROTO_MAX_ID),
    PF_STR(T, name, true, 1, PROTO_FILE_NAME_MAX),
    PF_BYTES(PK_HASH, T, sha256),
    PF_INT(T, size_bytes, 0, PROTO_FILE_SIZE_MAX),
    PF_STR(T, content_type, true, 1, PROTO_CONTENT_TYPE_MAX),
};
#undef T

#define T struct proto_auth_nonce
static const struct proto__field auth_nonce_fields[] = {
    PF_BYTES(PK_ADDR, T, address),
    PF_STR(T, nonce, true, PROTO_NONCE_MIN, PROTO_NONCE_MAX),
    PF_INT(T, expires_at, 0, PROTO_MAX_TIME_AT),
};
#undef T

#define T struct proto_block_ref
static const struct proto__field block_ref_fields[] = {
    PF_INT(T, number, 0, PROTO_MAX_ID),
    PF_BYTES(PK_HASH, T, hash),
};
#undef T

#define T struct proto_event_fields
static const struct proto__field event_fields_fields[] = {
    PF_BYTES(PK_HASH, T, chain_job_id),
    PF_BYTES_OPT(PK_ADDR, T, client),
    PF_BYTES_OPT(PK_ADDR, T, worker),
    PF_BYTES_OPT(PK_HASH, T, ref),
    PF_INT_OPT(T, price_usd_cents, 1, PROTO_PRICE_CENTS_MAX),
    PF_BYTES_OPT(PK_U256, T, amount_wei),
    PF_BYTES_OPT(PK_HASH, T, spec_sha256),
    PF_BYTES_OPT(PK_HASH, T, result_sha256),
    PF_INT_OPT(T, deadline_at, 0, PROTO_MAX_TIME_AT),
    PF_INT_OPT(T, max_runtime_s, 1, PROTO_RUNTIME_MAX_S),
    PF_INT_OPT(T, challenge_window_s, 0, PROTO_RUNTIME_MAX_S),
    PF_INT_OPT(T, claim_expires_at, 0, PROTO_MAX_TIME_AT),
    PF_INT_OPT(T, challenge_ends_at, 0, PROTO_MAX_TIME_AT),
    PF_ROW("by_client", PK_BOOL, false, offsetof(T, by_client), offsetof(T, has_by_client), 0, 0,
           NULL, 0, NULL, 0),
    PF_BYTES_OPT(PK_U256, T, to_worker_wei),
    PF_BYTES_OPT(PK_U256, T, to_client_wei),
};
#undef T

/* The fields each event carries besides chain_job_id (cmd.h lists them):
 * every parameter of its Solidity event in contracts/src/LoomEscrow.sol. */
static const char *const event_carries[PROTO_EV__COUNT][9] = {
    [PROTO_EV_JOB_CREATED] = {"client", "ref", "price_usd_cents", "amount_wei", "spec_sha256",
                              "deadline_at", "max_runtime_s", "challenge_window_s", NULL},
    [PROTO_EV_JOB_CLAIMED] = {"client", "worker", "claim_expires_at", NULL},
    [PROTO_EV_JOB_SUBMITTED] = {"client", "worker", "result_sha256", "challenge_ends_at", NULL},
    [PROTO_EV_PAYMENT_RELEASED] = {"client", "worker", "amount_wei", "by_client", NULL},
    [PROTO_EV_JOB_DISPUTED] = {"client", "worker", NULL},
    [PROTO_EV_JOB_REOPENED] = {"client", "worker", NULL},
    [PROTO_EV_JOB_REFUNDED] = {"client", "worker", "amount_wei", NULL},
    [PROTO_EV_DISPUTE_RESOLVED] = {"client", "worker", "to_worker_wei", "to_client_wei", NULL},
};

static bool carries(enum proto_event_name name, const char *key)
{
    for (size_t i = 0; event_carries[name][i]; i++)
        if (strcmp(event_carries[name][i], key) == 0)
            return true;
    return false;
}

/* An event carries exactly the fields of its name: no more, no fewer. */
static enum err event_check(const void *obj, struct json_err *e)
{
    const struct proto_event *ev = obj;
    if ((unsigned)ev->name >= PROTO_EV__COUNT)
        return json_fail(e, "name", ERR_RANGE, "enumeration value %d out of range", (int)ev->name);
    const char *nm = proto_event_names[ev->name];
    size_t mark = json_path_push(e, "fields");
    for (size_t i = 1; i < PROTO__N(event_fields_fields); i++) {
        const struct proto__field *f = &event_fields_fields[i];
        bool has = *(const bool *)((const char *)&ev->fields + f->has_off);
        bool want = carries(ev->name, f->key);
        if (has && !want)
            return json_fail(e, f->key, ERR_INVAL, "not a field of %s", nm);
        if (!has && want)
            return json_fail(e, f->key, ERR_INVAL, "required for %s", nm);
    }
    json_path_pop(e, mark);
    return ERR_OK;
}

static const struct proto__type event_fields_type = {
    "event_fields",
    sizeof(struct proto_event_fields),
    event_fields_fields,
    PROTO__N(event_fields_fields),
    NULL,
};

#define T struct proto_event
static const struct proto__field event_fields[] = {
    PF_INT(T, block_number, 0, PROTO_MAX_ID),
    PF_BYTES(PK_HASH, T, block_hash),
    PF_INT(T, block_at, 0, PROTO_MAX_TIME_AT),
    PF_BYTES(PK_HASH, T, tx_hash),
    PF_INT(T, log_index, 0, (int64_t)UINT32_MAX),
    PF_ENUM(T, name, proto_event_names, PROTO_EV__COUNT),
    PF_OBJ(T, fields, event_fields_type),
};
#undef T

static const struct proto__type block_ref_type = {
    "block_ref", sizeof(struct proto_block_ref), block_ref_fields, PROTO__N(block_ref_fields), NULL,
};
static const struct proto__type event_type = {
    "event", sizeof(struct proto_event), event_fields, PROTO__N(event_fields), event_check,
};

/* Fail at <array>[i].<key>. */
static enum err fail_at(struct json_err *e, const char *array, size_t i, const char *key,
                        const char *why)
{
    (void)json_path_push(e, array);
    (void)json_path_push_index(e, i);
    return json_fail(e, key, ERR_INVAL, "%s", why);
}

/* Find block <number> in the ascending blocks[0..n). */
static const struct proto_block_ref *find_block(const struct proto_events_apply *a, int64_t number)
{
    size_t lo = 0, hi = a->n_blocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->blocks[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < a->n_blocks && a->blocks[lo].number == number ? &a->blocks[lo] : NULL;
}

/* The rules of cmd.h's struct proto_events_apply. */
static enum err events_apply_check(const void *obj, struct json_err *e)
{
    const struct proto_events_apply *a = obj;
    if (a->to_block < a->from_block)
        return json_fail(e, "to_block", ERR_INVAL, "must not be below from_block");
    if (a->to_block - a->from_block >= PROTO_BLOCK_RANGE_MAX)
        return json_fail(e, "to_block", ERR_RANGE, "range of more than %d blocks",
                         PROTO_BLOCK_RANGE_MAX);
    if (a->checkpoint.number != a->to_block)
        return json_fail(e, "checkpoint.number", ERR_INVAL, "must equal to_block");
    if (a->n_blocks == 0)
        return json_fail(e, "blocks", ERR_INVAL, "must list at least the checkpoint block");
    for (size_t i = 0; i < a->n_blocks; i++) {
        const struct proto_block_ref *b = &a->blocks[i];
        if (b->number < a->from_block || b->number > a->to_block)
            return fail_at(e, "blocks", i, "number", "outside from_block..to_block");
        if (i > 0 && b->number <= a->blocks[i - 1].number)
            return fail_at(e, "blocks", i, "number", "blocks must be strictly ascending");
    }
    const struct proto_block_ref *last = &a->blocks[a->n_blocks - 1];
    if (last->number != a->checkpoint.number || memcmp(last->hash, a->checkpoint.hash, 32) != 0)
        return fail_at(e, "blocks", a->n_blocks - 1, NULL, "the last block must be the checkpoint");
    for (size_t i = 0; i < a->n_events; i++) {
        const struct proto_event *ev = &a->events[i];
        const struct proto_block_ref *b = find_block(a, ev->block_number);
        if (!b)
            return fail_at(e, "events", i, "block_number", "block not listed in blocks");
        if (memcmp(b->hash, ev->block_hash, 32) != 0)
            return fail_at(e, "events", i, "block_hash", "differs from the hash in blocks");
        if (i > 0) {
            const struct proto_event *p = &a->events[i - 1];
            if (ev->block_number < p->block_number ||
                (ev->block_number == p->block_number && ev->log_index <= p->log_index))
                return fail_at(e, "events", i, "log_index",
                               "events must be strictly ascending by (block_number, log_index)");
        }
    }
    return ERR_OK;
}

#define T struct proto_events_apply
static const struct proto__field events_apply_fields[] = {
    PF_INT(T, from_block, 0, PROTO_MAX_ID),
    PF_INT(T, to_block, 0, PROTO_MAX_ID),
    PF_ARR(T, blocks, true, block_ref_type, PROTO_BLOCKS_MAX),
    PF_ARR(T, events, true, event_type, PROTO_EVENTS_MAX),
    PF_OBJ(T, checkpoint, block_ref_type),
};
#undef T

#define T struct proto_reorg_rollback
static const struct proto__field reorg_rollback_fields[] = {
    PF_INT(T, to_block, 0, PROTO_MAX_ID),
    PF_BYTES(PK_HASH, T, block_hash),
};
#undef T

#define T struct proto_jobs_due
static const struct proto__field jobs_due_fields[] = {
    PF_INT(T, now_at, 0, PROTO_MAX_TIME_AT),
    PF_INT(T, limit, 1, PROTO_DUE_LIMIT_MAX),
};
#undef T

/* ---- result types --------------------------------------------------------- */

#define T struct proto_job_page
static const struct proto__field job_page_fields[] = {
    PF_ARR(T, jobs, true, proto__job_type, PROTO_LIST_LIMIT_MAX),
    PF_INT_OPT(T, next_cursor, 1, PROTO_MAX_ID),
};
#undef T

#define T struct proto_applied
static const struct proto__field applied_fields[] = {
    PF_INT(T, events_applied, 0, PROTO_EVENTS_MAX),
    PF_OBJ(T, checkpoint, block_ref_type),
};
#undef T

#define T struct proto_checkpoint
static const struct proto__field checkpoint_fields[] = {
    PF_OBJ_OPT(T, checkpoint, block_ref_type),
};
#undef T

#define T struct proto_rollback
static const struct proto__field rollback_fields[] = {
    PF_INT(T, events_removed, 0, PROTO_MAX_ID),
    PF_OBJ(T, checkpoint, block_ref_type),
};
#undef T

#define T struct proto_due
static const struct proto__field due_fields[] = {
    PF_INT(T, job_id, 1, PROTO_MAX_ID),
    PF_BYTES(PK_HASH, T, chain_job_id),
    PF_ENUM(T, action, proto_due_action_names, PROTO_DUE__COUNT),
    PF_INT(T, due_at, 0, PROTO_MAX_TIME_AT),
};
#undef T

static const struct proto__type due_type = {
    "due", sizeof(struct proto_due), due_fields, PROTO__N(due_fields), NULL,
};

#define T struct proto_due_page
static const struct proto__field due_page_fields[] = {
    PF_ARR(T, jobs, true, due_type, PROTO_DUE_LIMIT_MAX),
};
#undef T

#define TYPE(var, name, S, fields, check)                                                          \
    static const struct proto__type var = {name, sizeof(S), fields, PROTO__N(fields), check}
TYPE(job_create_type, "args:job.create", struct proto_job_create, job_create_fields, NULL);
TYPE(job_get_type, "args:job.get", struct proto_job_get, job_get_fields, NULL);
TYPE(job_list_type, "args:job.list", struct proto_job_list, job_list_fields, NULL);
TYPE(job_progress_type, "args:job.progress", struct proto_job_progress, job_progress_fields, NULL);
TYPE(job_result_type, "args:job.result", struct proto_job_result, job_result_fields, NULL);
TYPE(file_type, "file", struct proto_file, file_fields, NULL);
TYPE(auth_nonce_type, "args:auth.nonce", struct proto_auth_nonce, auth_nonce_fields, NULL);
TYPE(events_apply_type, "args:events.apply", struct proto_events_apply, events_apply_fields,
     events_apply_check);
TYPE(reorg_rollback_type, "args:reorg.rollback", struct proto_reorg_rollback, reorg_rollback_fields,
     NULL);
TYPE(jobs_due_type, "args:jobs.due", struct proto_jobs_due, jobs_due_fields, NULL);
TYPE(job_page_type, "result:job.list", struct proto_job_page, job_page_fields, NULL);
TYPE(applied_type, "result:events.apply", struct proto_applied, applied_fields, NULL);
TYPE(checkpoint_type, "result:checkpoint.get", struct proto_checkpoint, checkpoint_fields, NULL);
TYPE(rollback_type, "result:reorg.rollback", struct proto_rollback, rollback_fields, NULL);
TYPE(due_page_type, "result:jobs.due", struct proto_due_page, due_page_fields, NULL);
#undef TYPE

/* "args":{} and "result":{}: no members. The size is a placeholder: nothing
 * is read or written through it. */
static const struct proto__type empty_type = {"empty", 1, NULL, 0, NULL};

/* One row per command: its argument and result types. */
static const struct {
    const struct proto__type *args, *result;
} cmds[PROTO_CMD__COUNT] = {
    [PROTO_CMD_JOB_CREATE] = {&job_create_type, &proto__job_type},
    [PROTO_CMD_JOB_GET] = {&job_get_type, &proto__job_type},
    [PROTO_CMD_JOB_LIST] = {&job_list_type, &job_page_type},
    [PROTO_CMD_JOB_PROGRESS] = {&job_progress_type, &proto__job_type},
    [PROTO_CMD_JOB_RESULT] = {&job_result_type, &proto__job_type},
    [PROTO_CMD_FILE_PUT] = {&file_type, &file_type},
    [PROTO_CMD_AUTH_NONCE] = {&auth_nonce_type, &empty_type},
    [PROTO_CMD_EVENTS_APPLY] = {&events_apply_type, &applied_type},
    [PROTO_CMD_CHECKPOINT_GET] = {&empty_type, &checkpoint_type},
    [PROTO_CMD_REORG_ROLLBACK] = {&reorg_rollback_type, &rollback_type},
    [PROTO_CMD_JOBS_DUE] = {&jobs_due_type, &due_page_type},
};

const struct proto__type *const proto__cmd_types[] = {
    &job_create_type,     &job_get_type,      &job_list_type,     &job_progress_type,
    &job_result_type,     &file_type,         &auth_nonce_type,   &block_ref_type,
    &event_type,          &event_fields_type, &events_apply_type, &empty_type,
    &reorg_rollback_type, &jobs_due_type,     &job_page_type,     &applied_type,
    &checkpoint_type,     &rollback_type,     &due_type,          &due_page_type,
    &new_file_type,
};
const size_t proto__n_cmd_types = PROTO__N(proto__cmd_types);

int proto_cmd_find(const char *name)
{
    for (int i = 0; i < PROTO_CMD__COUNT; i++)
        if (strcmp(proto_cmd_names[i], name) == 0)
            return i;
    return -1;
}

/* ---- envelopes -------------------------------------------------------------- */

/* Reject members of the envelope <root> other than "v" and keys[]. */
static enum err check_keys(const cJSON *root, const char *const *keys, size_t n, struct json_err *e)
{
    for (const cJSON *c = root->child; c; c = c->next) {
        bool known = strcmp(c->string, "v") == 0;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(c->string, keys[i]) == 0;
        if (!known) {
            char key[48];
            size_t len = strlen(c->string);
            len = len < sizeof key - 1 ? len : sizeof key - 1;
            memcpy(key, c->string, len);
            key[len] = '\0';
            return json_fail(e, key, ERR_INVAL, "unknown field");
        }
    }
    return ERR_OK;
}

/* Decode the member <key> of <root> as an object of type <t> into <base>. */
static enum err decode_member(const cJSON *root, const char *key, const struct proto__type *t,
                              void *base, struct json_err *e)
{
    const cJSON *obj = NULL;
    enum err rc = json_get_object(root, key, JSON_REQUIRED, &obj, e);
    if (rc != ERR_OK)
        return rc;
    size_t mark = json_path_push(e, key);
    rc = proto__decode(obj, t, base, false, e);
    json_path_pop(e, mark);
    return rc;
}

/* Add member <key> holding <base> encoded by <t>. */
static enum err encode_member(cJSON *root, const char *key, const struct proto__type *t,
                              const void *base, struct json_err *e)
{
    cJSON *obj = NULL;
    enum err rc = json_add_object(root, key, &obj);
    if (rc != ERR_OK)
        return rc;
    size_t mark = json_path_push(e, key);
    rc = proto__encode(obj, t, base, e);
    json_path_pop(e, mark);
    return rc;
}

enum err proto_request_encode(const struct proto_request *req, struct buf *out, struct json_err *e)
{
    cJSON *root = NULL;
    enum err rc;
    if ((unsigned)req->cmd >= PROTO_CMD__COUNT)
        return json_fail(e, "cmd", ERR_INVAL, "unknown command %d", (int)req->cmd);
    if (req->req_id) {
        size_t n = strlen(req->req_id);
        if (n < 1 || n > PROTO_REQ_ID_MAX || !json_utf8_valid(req->req_id, n))
            return json_fail(e, "req_id", ERR_INVAL, "must be 1..%d bytes of UTF-8",
                             PROTO_REQ_ID_MAX);
    }
    rc = proto__new_root(&root);
    if (rc == ERR_OK)
        rc = json_add_str(root, "cmd", proto_cmd_names[req->cmd]);
    if (rc == ERR_OK && req->req_id)
        rc = json_add_str(root, "req_id", req->req_id);
    if (rc == ERR_OK)
        rc = encode_member(root, "args", cmds[req->cmd].args, &req->args, e);
    if (rc == ERR_OK)
        rc = json_print(root, out);
    json_free(root);
    return rc;
}

enum err proto_request_decode(const char *data, size_t len, struct proto_request *out,
                              struct json_err *e)
{
    static const char *const keys[] = {"cmd", "req_id", "args"};
    cJSON *root = NULL;
    char *name = NULL;
    memset(out, 0, sizeof *out);
    enum err rc = proto__parse(data, len, &root, e);
    if (rc != ERR_OK)
        return rc;
    rc = check_keys(root, keys, PROTO__N(keys), e);
    if (rc != ERR_OK)
        goto fail;
    rc = json_get_str(root, "cmd", JSON_REQUIRED, 1, 64, &name, e);
    if (rc != ERR_OK)
        goto fail;
    int cmd = proto_cmd_find(name);
    if (cmd < 0) {
        rc = json_fail(e, "cmd", ERR_INVAL, "unknown command \"%.40s\"", name);
        goto fail;
    }
    out->cmd = (enum proto_cmd)cmd;
    rc = json_get_str(root, "req_id", JSON_OPTIONAL, 1, PROTO_REQ_ID_MAX, &out->req_id, e);
    if (rc != ERR_OK)
        goto fail;
    rc = decode_member(root, "args", cmds[cmd].args, &out->args, e);
    if (rc != ERR_OK)
        goto fail;
    free(name);
    json_free(root);
    return ERR_OK;
fail:
    proto_request_release(out);
    free(name);
    json_free(root);
    return rc;
}

void proto_request_release(struct proto_request *req)
{
    if (!req)
        return;
    if ((unsigned)req->cmd < PROTO_CMD__COUNT && cmds[req->cmd].args != &empty_type)
        proto__release(cmds[req->cmd].args, &req->args);
    free(req->req_id);
    memset(req, 0, sizeof *req);
}

bool proto_request_equal(const struct proto_request *a, const struct proto_request *b)
{
    if (a->cmd != b->cmd || (unsigned)a->cmd >= PROTO_CMD__COUNT)
        return false;
    if ((a->req_id == NULL) != (b->req_id == NULL) ||
        (a->req_id && strcmp(a->req_id, b->req_id) != 0))
        return false;
    return proto__equal(cmds[a->cmd].args, &a->args, &b->args);
}

/* The enum err whose err_code() is <code>, other than ERR_OK; -1 if none. */
static int err_from_code(const char *code)
{
    for (int i = 1; i < ERR__COUNT; i++)
        if (strcmp(err_code((enum err)i), code) == 0)
            return i;
    return -1;
}

enum err proto_reply_encode(const struct proto_reply *rep, struct buf *out, struct json_err *e)
{
    cJSON *root = NULL, *err = NULL;
    enum err rc;
    if ((unsigned)rep->cmd >= PROTO_CMD__COUNT)
        return json_fail(e, NULL, ERR_INVAL, "unknown command %d", (int)rep->cmd);
    if (!rep->ok) {
        if (rep->error_code <= ERR_OK || rep->error_code >= ERR__COUNT)
            return json_fail(e, "error.code", ERR_INVAL, "must name an error other than ok");
        if (!rep->error_message)
            return json_fail(e, "error.message", ERR_INVAL, "required");
        size_t n = strlen(rep->error_message);
        if (n > PROTO_ERR_MESSAGE_MAX)
            return json_fail(e, "error.message", ERR_TOOBIG, "longer than %d bytes",
                             PROTO_ERR_MESSAGE_MAX);
        if (!json_utf8_valid(rep->error_message, n))
            return json_fail(e, "error.message", ERR_INVAL, "not valid UTF-8");
    }
    rc = proto__new_root(&root);
    if (rc == ERR_OK)
        rc = json_add_bool(root, "ok", rep->ok);
    if (rc == ERR_OK && rep->ok)
        rc = encode_member(root, "result", cmds[rep->cmd].result, &rep->result, e);
    if (rc == ERR_OK && !rep->ok) {
        rc = json_add_object(root, "error", &err);
        if (rc == ERR_OK)
            rc = json_add_str(err, "code", err_code(rep->error_code));
        if (rc == ERR_OK)
            rc = json_add_str(err, "message", rep->error_message);
    }
    if (rc == ERR_OK)
        rc = json_print(root, out);
    json_free(root);
    return rc;
}

/* Decode {"code":..., "message":...} into <out>. */
static enum err decode_error(const cJSON *root, struct proto_reply *out, struct json_err *e)
{
    static const char *const keys[] = {"code", "message"};
    const cJSON *err = NULL;
    char *code = NULL;
    enum err rc = json_get_object(root, "error", JSON_REQUIRED, &err, e);
    if (rc != ERR_OK)
        return rc;
    size_t mark = json_path_push(e, "error");
    rc = check_keys(err, keys, PROTO__N(keys), e);
    if (rc == ERR_OK)
        rc = json_get_str(err, "code", JSON_REQUIRED, 1, 64, &code, e);
    if (rc == ERR_OK) {
        int c = err_from_code(code);
        if (c < 0)
            rc = json_fail(e, "code", ERR_INVAL, "unknown error code \"%.40s\"", code);
        else
            out->error_code = (enum err)c;
    }
    if (rc == ERR_OK)
        rc = json_get_str(err, "message", JSON_REQUIRED, 0, PROTO_ERR_MESSAGE_MAX,
                          &out->error_message, e);
    json_path_pop(e, mark);
    free(code);
    return rc;
}

enum err proto_reply_decode(const char *data, size_t len, enum proto_cmd cmd,
                            struct proto_reply *out, struct json_err *e)
{
    static const char *const keys[] = {"ok", "result", "error"};
    cJSON *root = NULL;
    memset(out, 0, sizeof *out);
    out->cmd = cmd;
    LOOM_ASSERT((unsigned)cmd < PROTO_CMD__COUNT);
    enum err rc = proto__parse(data, len, &root, e);
    if (rc != ERR_OK)
        return rc;
    rc = check_keys(root, keys, PROTO__N(keys), e);
    if (rc == ERR_OK)
        rc = json_get_bool(root, "ok", JSON_REQUIRED, &out->ok, e);
    if (rc == ERR_OK) {
        const char *other = out->ok ? "error" : "result";
        if (cJSON_GetObjectItemCaseSensitive(root, other))
            rc = json_fail(e, other, ERR_INVAL, "must be absent when ok is %s",
                           out->ok ? "true" : "false");
    }
    if (rc == ERR_OK && out->ok)
        rc = decode_member(root, "result", cmds[cmd].result, &out->result, e);
    if (rc == ERR_OK && !out->ok)
        rc = decode_error(root, out, e);
    json_free(root);
    if (rc != ERR_OK)
        proto_reply_release(out);
    return rc;
}

void proto_reply_release(struct proto_reply *rep)
{
    if (!rep)
        return;
    enum proto_cmd cmd = rep->cmd;
    if ((unsigned)cmd < PROTO_CMD__COUNT && cmds[cmd].result != &empty_type)
        proto__release(cmds[cmd].result, &rep->result);
    free(rep->error_message);
    memset(rep, 0, sizeof *rep);
    rep->cmd = cmd;
}

bool proto_reply_equal(const struct proto_reply *a, const struct proto_reply *b)
{
    if (a->cmd != b->cmd || a->ok != b->ok || (unsigned)a->cmd >= PROTO_CMD__COUNT)
        return false;
    if (a->ok)
        return proto__equal(cmds[a->cmd].result, &a->result, &b->result);
    return a->error_code == b->error_code && a->error_message && b->error_message &&
           strcmp(a->error_message, b->error_message) == 0;
}
