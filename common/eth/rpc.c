/*
 * rpc -- blocking Ethereum JSON-RPC 2.0 client over libcurl.
 *
 * Layout, top to bottom: messages and error kinds; strict parsers on cJSON
 * trees (values, the envelope, typed results, and their text-in wrappers);
 * request builders; client set-up (the one CURL easy handle); the HTTP
 * exchange with retries; the typed calls, each a (builder, exchange, parser)
 * triple; batches. See rpc.h for the contracts, the retry policy and the
 * threading model.
 *
 * SPDX-License-Identifier: MIT
 */
#include "eth/rpc.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "eth/hexq.h"

/* Room for rpc_errmsg(): messages quote at most short excerpts. */
#define RPC_ERRMSG_MAX 4096
/* Largest request id we hand out: ids travel as JSON numbers, which cJSON
 * (like JavaScript) holds as doubles, exact up to 2^53. */
#define RPC_ID_MAX ((uint64_t)1 << 53)
/* eth_feeHistory limits: geth caps blockCount at 1024 and percentiles at 100. */
#define RPC_FEE_HISTORY_MAX_BLOCKS      1024
#define RPC_FEE_HISTORY_MAX_PERCENTILES 100
/* Bytes of an untrusted value quoted in a message. */
#define RPC_EXCERPT 48

struct rpc {
    CURL *curl;
    struct curl_slist *headers;
    char *url;
    long connect_timeout_ms;
    long timeout_ms;
    unsigned max_attempts;
    long backoff_base_ms;
    long backoff_max_ms;
    size_t max_response_bytes;
    uint64_t next_id;
    uint64_t rng;      /* xorshift64* state for backoff jitter */
    struct buf req;    /* request body, reused */
    struct buf resp;   /* response body, capped at max_response_bytes */
    enum err resp_err; /* why the write callback refused data */
    long http_status;  /* of the last completed exchange */
    struct buf errmsg; /* rpc_errmsg() */
    int has_last_error;
    struct rpc_error last_error;
    struct rpc_stats stats;
    int stamp_sent;                    /* rpc_opts.stamp_sent */
    size_t out_body;                   /* body bytes of the current attempt written so far */
    uint64_t sent_ns;                  /* rpc_last_sent_ns() */
    char curl_errbuf[CURL_ERROR_SIZE]; /* libcurl's own text, filled by libcurl */
};

struct rpc_batch_item {
    char *method;
    char *params;
    char *result; /* compact JSON, from cJSON_PrintUnformatted (malloc) */
    size_t result_len;
    int has_error;
    struct rpc_error error;
};

struct rpc_batch {
    struct rpc_batch_item *items;
    size_t count;
    size_t cap;
    int answered; /* the last send stored an answer for every item */
};

/* ------------------------------------------------------------------ */
/* Messages                                                            */

/* Append a message to <why> (may be NULL) and return ERR_PROTO. */
__attribute__((format(printf, 2, 3))) static enum err bad(struct buf *why, const char *fmt, ...)
{
    if (why != NULL) {
        va_list ap;
        va_start(ap, fmt);
        /* A message that does not fit is dropped: the error code still
         * stands, and the buffer stays valid. */
        enum err e = buf_vappendf(why, fmt, ap);
        (void)e;
        va_end(ap);
    }
    return ERR_PROTO;
}

__attribute__((format(printf, 2, 3))) static void set_msg(struct rpc *c, const char *fmt, ...)
{
    buf_reset(&c->errmsg);
    va_list ap;
    va_start(ap, fmt);
    enum err e = buf_vappendf(&c->errmsg, fmt, ap);
    (void)e; /* see bad() */
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */

void rpc_error_release(struct rpc_error *e)
{
    if (e == NULL)
        return;
    free(e->message);
    free(e->data_json);
    free(e->data);
    memset(e, 0, sizeof *e);
}

/* ASCII case-insensitive substring test; <needle> is lower case. */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p != '\0'; p++) {
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    }
    return 0;
}

enum rpc_errkind rpc_error_kind(const struct rpc_error *e)
{
    /* Texts from geth (core/txpool/errors.go, eth/filters), anvil, Erigon,
     * Nethermind, Infura and Alchemy; matched loosely because wording
     * varies ("Nonce too low", "nonce too low: next nonce 5, tx nonce 3"). */
    static const struct {
        const char *text;
        enum rpc_errkind kind;
    } table[] = {
        {"nonce too low", RPC_ERRKIND_NONCE_TOO_LOW},
        {"already known", RPC_ERRKIND_ALREADY_KNOWN},
        {"already imported", RPC_ERRKIND_ALREADY_KNOWN},
        {"alreadyknown", RPC_ERRKIND_ALREADY_KNOWN},
        {"underpriced", RPC_ERRKIND_UNDERPRICED},
        {"insufficient funds", RPC_ERRKIND_INSUFFICIENT_FUNDS},
        {"execution reverted", RPC_ERRKIND_REVERTED},
        {"revert", RPC_ERRKIND_REVERTED},
        {"exceeds block range", RPC_ERRKIND_LOG_RANGE},
        {"block range", RPC_ERRKIND_LOG_RANGE},
        {"more than 10000 results", RPC_ERRKIND_LOG_RANGE},
        {"response size exceeded", RPC_ERRKIND_LOG_RANGE},
        {"query timeout exceeded", RPC_ERRKIND_LOG_RANGE},
    };
    if (e == NULL || e->message == NULL)
        return RPC_ERRKIND_OTHER;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (contains_ci(e->message, table[i].text))
            return table[i].kind;
    }
    return RPC_ERRKIND_OTHER;
}

/* ------------------------------------------------------------------ */
/* Value parsers on cJSON nodes                                        */

static enum err node_str(const cJSON *n, const char *what, const char **s, size_t *len,
                         struct buf *why)
{
    if (n == NULL)
        return bad(why, "missing field \"%s\"", what);
    if (!cJSON_IsString(n) || n->valuestring == NULL)
        return bad(why, "field \"%s\": not a string", what);
    *s = n->valuestring;
    *len = strlen(n->valuestring);
    return ERR_OK;
}

/* Turn the result <e> of parsing quantity <s> of field <what> (at most
 * <bits> bits) into this module's error. */
static enum err quantity_result(enum err e, const char *what, const char *s, unsigned bits,
                                struct buf *why)
{
    if (e == ERR_RANGE)
        return bad(why, "field \"%s\": quantity over %u bits", what, bits);
    if (e != ERR_OK)
        return bad(why, "field \"%s\": bad quantity \"%.*s\"", what, RPC_EXCERPT, s);
    return ERR_OK;
}

static enum err node_u64(const cJSON *n, const char *what, uint64_t *out, struct buf *why)
{
    const char *s = NULL;
    size_t len = 0;
    enum err e = node_str(n, what, &s, &len, why);
    if (e != ERR_OK)
        return e;
    return quantity_result(hexq_parse_u64(s, len, out), what, s, 64, why);
}

static enum err node_u256(const cJSON *n, const char *what, uint8_t out[32], struct buf *why)
{
    const char *s = NULL;
    size_t len = 0;
    enum err e = node_str(n, what, &s, &len, why);
    if (e != ERR_OK)
        return e;
    return quantity_result(hexq_parse_u256(s, len, out), what, s, 256, why);
}

static enum err node_fixed(const cJSON *n, const char *what, uint8_t *out, size_t nbytes,
                           struct buf *why)
{
    const char *s = NULL;
    size_t len = 0;
    enum err e = node_str(n, what, &s, &len, why);
    if (e != ERR_OK)
        return e;
    if (hexq_parse_fixed(s, len, out, nbytes) != ERR_OK)
        return bad(why, "field \"%s\": expected %zu bytes of hex, got \"%.*s\"", what, nbytes,
                   RPC_EXCERPT, s);
    return ERR_OK;
}

static enum err node_data(const cJSON *n, const char *what, uint8_t **out, size_t *out_len,
                          struct buf *why)
{
    const char *s = NULL;
    size_t len = 0;
    enum err e = node_str(n, what, &s, &len, why);
    if (e != ERR_OK)
        return e;
    e = hexq_parse_data(s, len, out, out_len);
    if (e == ERR_NOMEM)
        return e;
    if (e != ERR_OK)
        return bad(why, "field \"%s\": bad hex data \"%.*s\"", what, RPC_EXCERPT, s);
    return ERR_OK;
}

static const cJSON *field(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A field that may be null: *present says which. */
static enum err node_fixed_or_null(const cJSON *n, const char *what, uint8_t *out, size_t nbytes,
                                   int *present, struct buf *why)
{
    if (n != NULL && cJSON_IsNull(n)) {
        *present = 0;
        return ERR_OK;
    }
    enum err e = node_fixed(n, what, out, nbytes, why);
    if (e == ERR_OK)
        *present = 1;
    return e;
}

/* Parse JSON text strictly: one value, nothing but whitespace after it. */
static enum err parse_json(const char *s, size_t len, cJSON **out, struct buf *why)
{
    if (s == NULL || len == 0)
        return bad(why, "empty body");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (root == NULL)
        return bad(why, "not valid JSON");
    for (const char *p = end; p < s + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            return bad(why, "trailing bytes after the JSON value");
        }
    }
    *out = root;
    return ERR_OK;
}

/* A JSON number that is an integer we can compare exactly. */
static int number_is_int(const cJSON *n, double limit)
{
    if (!cJSON_IsNumber(n))
        return 0;
    double d = n->valuedouble;
    return isfinite(d) && floor(d) == d && fabs(d) <= limit;
}

/* ------------------------------------------------------------------ */
/* Envelope                                                            */

/* Fill *out from an error object node; all or nothing. */
static enum err parse_error_obj(const cJSON *n, struct rpc_error *out, struct buf *why)
{
    struct rpc_error tmp = {0};
    enum err e = ERR_OK;
    if (!cJSON_IsObject(n))
        return bad(why, "\"error\" is not an object");
    const cJSON *code = field(n, "code");
    if (!number_is_int(code, (double)RPC_ID_MAX))
        return bad(why, "error: \"code\" is not an integer");
    const cJSON *msg = field(n, "message");
    if (!cJSON_IsString(msg) || msg->valuestring == NULL)
        return bad(why, "error: \"message\" is not a string");
    tmp.code = (int64_t)code->valuedouble;
    tmp.message = strdup(msg->valuestring);
    if (tmp.message == NULL) {
        e = ERR_NOMEM;
        goto cleanup;
    }
    const cJSON *data = field(n, "data");
    if (data != NULL) {
        tmp.data_json = cJSON_PrintUnformatted(data);
        if (tmp.data_json == NULL) {
            e = ERR_NOMEM;
            goto cleanup;
        }
        if (cJSON_IsString(data) && data->valuestring != NULL) {
            /* Revert data; anything else in a string is kept as JSON only. */
            enum err he = hexq_parse_data(data->valuestring, strlen(data->valuestring), &tmp.data,
                                          &tmp.data_len);
            if (he == ERR_NOMEM) {
                e = ERR_NOMEM;
                goto cleanup;
            }
        }
    }
    *out = tmp;
    return ERR_OK;
cleanup:
    rpc_error_release(&tmp);
    return e;
}

/* Check "jsonrpc" and split result/error. id checks are left to callers. */
static enum err parse_envelope(const cJSON *root, const cJSON **result, const cJSON **error,
                               const cJSON **id, struct buf *why)
{
    if (!cJSON_IsObject(root))
        return bad(why, "response is not a JSON object");
    const cJSON *v = field(root, "jsonrpc");
    if (!cJSON_IsString(v) || v->valuestring == NULL || strcmp(v->valuestring, "2.0") != 0)
        return bad(why, "\"jsonrpc\" is not \"2.0\"");
    const cJSON *r = field(root, "result");
    const cJSON *er = field(root, "error");
    if (r != NULL && er != NULL)
        return bad(why, "response has both \"result\" and \"error\"");
    if (r == NULL && er == NULL)
        return bad(why, "response has neither \"result\" nor \"error\"");
    const cJSON *i = field(root, "id");
    if (i == NULL)
        return bad(why, "response has no \"id\"");
    *result = r;
    *error = er;
    *id = i;
    return ERR_OK;
}

/*
 * Check the envelope of a single response to <want_id>; *result is the
 * result node (owned by root) on ERR_OK; *error is filled on ERR_RPC.
 */
static enum err check_single(const cJSON *root, uint64_t want_id, const cJSON **result,
                             struct rpc_error *error, struct buf *why)
{
    const cJSON *r, *er, *id;
    enum err e = parse_envelope(root, &r, &er, &id, why);
    if (e != ERR_OK)
        return e;
    /* JSON-RPC 2.0 section 5: id is null when the server could not read it
     * (parse error, invalid request); only an error response may do that. */
    int id_null_error = cJSON_IsNull(id) && er != NULL;
    if (!id_null_error) {
        if (!number_is_int(id, (double)RPC_ID_MAX) || id->valuedouble < 0)
            return bad(why, "response \"id\" is not our numeric id %llu",
                       (unsigned long long)want_id);
        if ((uint64_t)id->valuedouble != want_id)
            return bad(why, "response id %llu does not match request id %llu",
                       (unsigned long long)id->valuedouble, (unsigned long long)want_id);
    }
    if (er != NULL) {
        e = parse_error_obj(er, error, why);
        return e == ERR_OK ? ERR_RPC : e;
    }
    *result = r;
    return ERR_OK;
}

enum err rpc_parse_response(const char *body, size_t len, uint64_t id, char **result_json,
                            size_t *result_len, struct rpc_error *error, struct buf *why)
{
    cJSON *root = NULL;
    enum err e = parse_json(body, len, &root, why);
    if (e != ERR_OK)
        return e;
    const cJSON *result = NULL;
    e = check_single(root, id, &result, error, why);
    if (e == ERR_OK) {
        char *text = cJSON_PrintUnformatted(result);
        if (text == NULL) {
            e = ERR_NOMEM;
        } else {
            *result_json = text;
            if (result_len != NULL)
                *result_len = strlen(text);
        }
    }
    cJSON_Delete(root);
    return e;
}

/* ------------------------------------------------------------------ */
/* Typed result parsers on nodes                                       */

static enum err parse_u64_node(const cJSON *n, uint64_t *out, struct buf *why)
{
    return node_u64(n, "result", out, why);
}

static enum err parse_u256_node(const cJSON *n, uint8_t out[32], struct buf *why)
{
    return node_u256(n, "result", out, why);
}

static enum err parse_block_node(const cJSON *n, struct rpc_block *out, struct buf *why)
{
    if (cJSON_IsNull(n))
        return ERR_NOTFOUND;
    if (!cJSON_IsObject(n))
        return bad(why, "block is not an object");
    struct rpc_block b;
    memset(&b, 0, sizeof b);
    enum err e = node_u64(field(n, "number"), "number", &b.number, why);
    if (e == ERR_OK)
        e = node_fixed_or_null(field(n, "hash"), "hash", b.hash, 32, &b.has_hash, why);
    if (e == ERR_OK)
        e = node_fixed(field(n, "parentHash"), "parentHash", b.parent_hash, 32, why);
    if (e == ERR_OK)
        e = node_u64(field(n, "timestamp"), "timestamp", &b.timestamp, why);
    if (e == ERR_OK)
        e = node_u64(field(n, "gasLimit"), "gasLimit", &b.gas_limit, why);
    if (e == ERR_OK)
        e = node_u64(field(n, "gasUsed"), "gasUsed", &b.gas_used, why);
    const cJSON *fee = field(n, "baseFeePerGas");
    if (e == ERR_OK && fee != NULL) {
        e = node_u256(fee, "baseFeePerGas", b.base_fee_per_gas, why);
        b.has_base_fee = 1;
    }
    if (e != ERR_OK)
        return e;
    *out = b;
    return ERR_OK;
}

static void log_release(struct rpc_log *l)
{
    free(l->data);
    memset(l, 0, sizeof *l);
}

static enum err parse_log_node(const cJSON *n, struct rpc_log *out, struct buf *why)
{
    if (!cJSON_IsObject(n))
        return bad(why, "log is not an object");
    struct rpc_log l;
    memset(&l, 0, sizeof l);
    enum err e = node_fixed(field(n, "address"), "address", l.address, 20, why);
    const cJSON *topics = field(n, "topics");
    if (e == ERR_OK && !cJSON_IsArray(topics))
        e = bad(why, "log: \"topics\" is not an array");
    if (e == ERR_OK && cJSON_GetArraySize(topics) > 4)
        e = bad(why, "log: more than 4 topics");
    if (e == ERR_OK) {
        const cJSON *t;
        cJSON_ArrayForEach(t, topics)
        {
            e = node_fixed(t, "topics[]", l.topics[l.n_topics], 32, why);
            if (e != ERR_OK)
                break;
            l.n_topics++;
        }
    }
    if (e == ERR_OK)
        e = node_u64(field(n, "blockNumber"), "blockNumber", &l.block_number, why);
    if (e == ERR_OK)
        e = node_fixed(field(n, "blockHash"), "blockHash", l.block_hash, 32, why);
    if (e == ERR_OK)
        e = node_fixed(field(n, "transactionHash"), "transactionHash", l.tx_hash, 32, why);
    if (e == ERR_OK)
        e = node_u64(field(n, "transactionIndex"), "transactionIndex", &l.tx_index, why);
    if (e == ERR_OK)
        e = node_u64(field(n, "logIndex"), "logIndex", &l.log_index, why);
    const cJSON *removed = field(n, "removed");
    if (e == ERR_OK && removed != NULL) {
        /* geth always sends it; some nodes omit it when false. */
        if (!cJSON_IsBool(removed))
            e = bad(why, "log: \"removed\" is not a boolean");
        else
            l.removed = cJSON_IsTrue(removed);
    }
    /* data last: the only allocation. */
    if (e == ERR_OK)
        e = node_data(field(n, "data"), "data", &l.data, &l.data_len, why);
    if (e != ERR_OK)
        return e;
    *out = l;
    return ERR_OK;
}

void rpc_logs_release(struct rpc_logs *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++)
        log_release(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static enum err parse_logs_node(const cJSON *n, struct rpc_logs *out, struct buf *why)
{
    if (!cJSON_IsArray(n))
        return bad(why, "logs are not an array");
    struct rpc_logs ls = {NULL, 0};
    int count = cJSON_GetArraySize(n);
    enum err e = ERR_OK;
    if (count > 0) {
        ls.items = calloc((size_t)count, sizeof *ls.items);
        if (ls.items == NULL)
            return ERR_NOMEM;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, n)
    {
        e = parse_log_node(item, &ls.items[ls.count], why);
        if (e != ERR_OK)
            goto cleanup;
        ls.count++;
    }
    *out = ls;
    return ERR_OK;
cleanup:
    rpc_logs_release(&ls);
    return e;
}

void rpc_receipt_release(struct rpc_receipt *r)
{
    if (r == NULL)
        return;
    rpc_logs_release(&r->logs);
    memset(r, 0, sizeof *r);
}

static enum err parse_receipt_node(const cJSON *n, struct rpc_receipt *out, struct buf *why)
{
    if (cJSON_IsNull(n))
        return ERR_NOTFOUND;
    if (!cJSON_IsObject(n))
        return bad(why, "receipt is not an object");
    struct rpc_receipt r;
    memset(&r, 0, sizeof r);
    uint64_t status = 0;
    enum err e = node_fixed(field(n, "transactionHash"), "transactionHash", r.tx_hash, 32, why);
    if (e == ERR_OK)
        e = node_u64(field(n, "status"), "status", &status, why);
    if (e == ERR_OK && status > 1)
        e = bad(why, "receipt: \"status\" is %llu, not 0 or 1", (unsigned long long)status);
    if (e == ERR_OK)
        e = node_fixed(field(n, "from"), "from", r.from, 20, why);
    if (e == ERR_OK)
        e = node_fixed_or_null(field(n, "to"), "to", r.to, 20, &r.has_to, why);
    const cJSON *ca = field(n, "contractAddress");
    if (e == ERR_OK && ca != NULL)
        e = node_fixed_or_null(ca, "contractAddress", r.contract_address, 20,
                               &r.has_contract_address, why);
    if (e == ERR_OK)
        e = node_u64(field(n, "blockNumber"), "blockNumber", &r.block_number, why);
    if (e == ERR_OK)
        e = node_fixed(field(n, "blockHash"), "blockHash", r.block_hash, 32, why);
    if (e == ERR_OK)
        e = node_u64(field(n, "transactionIndex"), "transactionIndex", &r.tx_index, why);
    if (e == ERR_OK)
        e = node_u64(field(n, "gasUsed"), "gasUsed", &r.gas_used, why);
    if (e == ERR_OK)
        e = node_u256(field(n, "effectiveGasPrice"), "effectiveGasPrice", r.effective_gas_price,
                      why);
    if (e == ERR_OK)
        e = parse_logs_node(field(n, "logs"), &r.logs, why);
    if (e != ERR_OK)
        return e;
    r.status = (int)status;
    *out = r;
    return ERR_OK;
}

void rpc_fee_history_release(struct rpc_fee_history *h)
{
    if (h == NULL)
        return;
    free(h->base_fee_per_gas);
    free(h->gas_used_ratio);
    free(h->reward);
    memset(h, 0, sizeof *h);
}

static enum err parse_fee_history_node(const cJSON *n, size_t n_percentiles,
                                       struct rpc_fee_history *out, struct buf *why)
{
    if (!cJSON_IsObject(n))
        return bad(why, "fee history is not an object");
    struct rpc_fee_history h;
    memset(&h, 0, sizeof h);
    enum err e = node_u64(field(n, "oldestBlock"), "oldestBlock", &h.oldest_block, why);
    if (e != ERR_OK)
        return e;
    const cJSON *fees = field(n, "baseFeePerGas");
    const cJSON *ratios = field(n, "gasUsedRatio");
    const cJSON *reward = field(n, "reward");
    if (!cJSON_IsArray(fees))
        return bad(why, "fee history: \"baseFeePerGas\" is not an array");
    if (!cJSON_IsArray(ratios))
        return bad(why, "fee history: \"gasUsedRatio\" is not an array");
    size_t nb = (size_t)cJSON_GetArraySize(ratios);
    size_t nf = (size_t)cJSON_GetArraySize(fees);
    /* The spec's n + 1 base fees (the last is the next block's); a node asked
     * for nothing may send none at all. */
    if (!(nf == nb + 1 || (nb == 0 && nf == 0)))
        return bad(why, "fee history: %zu base fees for %zu blocks", nf, nb);
    if (n_percentiles > 0) {
        if (!cJSON_IsArray(reward) || (size_t)cJSON_GetArraySize(reward) != nb)
            return bad(why, "fee history: \"reward\" is not an array of %zu rows", nb);
    } else if (reward != NULL && !(cJSON_IsArray(reward) && cJSON_GetArraySize(reward) == 0)) {
        return bad(why, "fee history: \"reward\" present but no percentiles were asked");
    }
    h.n_blocks = nb;
    h.n_percentiles = n_percentiles;
    h.base_fee_per_gas = calloc(nf > 0 ? nf : 1, sizeof *h.base_fee_per_gas);
    h.gas_used_ratio = calloc(nb > 0 ? nb : 1, sizeof *h.gas_used_ratio);
    if (n_percentiles > 0)
        h.reward = calloc(nb * n_percentiles > 0 ? nb * n_percentiles : 1, sizeof *h.reward);
    if (h.base_fee_per_gas == NULL || h.gas_used_ratio == NULL ||
        (n_percentiles > 0 && h.reward == NULL)) {
        e = ERR_NOMEM;
        goto cleanup;
    }
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, fees)
    {
        e = node_u256(it, "baseFeePerGas[]", h.base_fee_per_gas[i++], why);
        if (e != ERR_OK)
            goto cleanup;
    }
    i = 0;
    cJSON_ArrayForEach(it, ratios)
    {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < 0 ||
            it->valuedouble > 1) {
            e = bad(why, "fee history: gasUsedRatio[%zu] is not a number in [0, 1]", i);
            goto cleanup;
        }
        h.gas_used_ratio[i++] = it->valuedouble;
    }
    if (n_percentiles > 0) {
        size_t row = 0;
        cJSON_ArrayForEach(it, reward)
        {
            if (!cJSON_IsArray(it) || (size_t)cJSON_GetArraySize(it) != n_percentiles) {
                e = bad(why, "fee history: reward[%zu] does not hold %zu values", row,
                        n_percentiles);
                goto cleanup;
            }
            size_t col = 0;
            const cJSON *v;
            cJSON_ArrayForEach(v, it)
            {
                e = node_u256(v, "reward[][]", h.reward[row * n_percentiles + col], why);
                if (e != ERR_OK)
                    goto cleanup;
                col++;
            }
            row++;
        }
    }
    *out = h;
    return ERR_OK;
cleanup:
    rpc_fee_history_release(&h);
    return e;
}

/* Which node parser a call's result goes through, and where it writes. */
enum parser_kind { P_U64, P_U256, P_DATA, P_HASH, P_BLOCK, P_LOGS, P_RECEIPT, P_FEES };

struct parse_target {
    enum parser_kind kind;
    void *out;
    size_t *out_len;      /* P_DATA */
    size_t n_percentiles; /* P_FEES */
};

static enum err parse_node(const cJSON *r, const struct parse_target *t, struct buf *why)
{
    switch (t->kind) {
    case P_U64:
        return parse_u64_node(r, t->out, why);
    case P_U256:
        return parse_u256_node(r, t->out, why);
    case P_DATA:
        return node_data(r, "result", t->out, t->out_len, why);
    case P_HASH:
        return node_fixed(r, "result", t->out, 32, why);
    case P_BLOCK:
        return parse_block_node(r, t->out, why);
    case P_LOGS:
        return parse_logs_node(r, t->out, why);
    case P_RECEIPT:
        return parse_receipt_node(r, t->out, why);
    case P_FEES:
        return parse_fee_history_node(r, t->n_percentiles, t->out, why);
    }
    return ERR_INVAL;
}

/* Public text-in parsers: parse the JSON, then the node. */
static enum err parse_text(const char *json, size_t len, const struct parse_target *t,
                           struct buf *why)
{
    cJSON *root = NULL;
    enum err e = parse_json(json, len, &root, why);
    if (e != ERR_OK)
        return e;
    e = parse_node(root, t, why);
    cJSON_Delete(root);
    return e;
}

enum err rpc_parse_u64(const char *json, size_t len, uint64_t *out, struct buf *why)
{
    struct parse_target t = {P_U64, out, NULL, 0};
    return parse_text(json, len, &t, why);
}

enum err rpc_parse_u256(const char *json, size_t len, uint8_t out[32], struct buf *why)
{
    struct parse_target t = {P_U256, out, NULL, 0};
    return parse_text(json, len, &t, why);
}

enum err rpc_parse_block(const char *json, size_t len, struct rpc_block *out, struct buf *why)
{
    struct parse_target t = {P_BLOCK, out, NULL, 0};
    return parse_text(json, len, &t, why);
}

enum err rpc_parse_logs(const char *json, size_t len, struct rpc_logs *out, struct buf *why)
{
    struct parse_target t = {P_LOGS, out, NULL, 0};
    return parse_text(json, len, &t, why);
}

enum err rpc_parse_receipt(const char *json, size_t len, struct rpc_receipt *out, struct buf *why)
{
    struct parse_target t = {P_RECEIPT, out, NULL, 0};
    return parse_text(json, len, &t, why);
}

enum err rpc_parse_fee_history(const char *json, size_t len, size_t n_percentiles,
                               struct rpc_fee_history *out, struct buf *why)
{
    struct parse_target t = {P_FEES, out, NULL, n_percentiles};
    return parse_text(json, len, &t, why);
}

/* ------------------------------------------------------------------ */
/* Request builders                                                    */

static int method_ok(const char *m)
{
    if (m == NULL || *m == '\0' || strlen(m) > 128)
        return 0;
    for (const char *p = m; *p != '\0'; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_';
        if (!ok)
            return 0;
    }
    return 1;
}

/* params must be one JSON array or object, so the request stays valid. */
static int params_ok(const char *params)
{
    cJSON *root = NULL;
    if (parse_json(params, strlen(params), &root, NULL) != ERR_OK)
        return 0;
    int ok = cJSON_IsArray(root) || cJSON_IsObject(root);
    cJSON_Delete(root);
    return ok;
}

static enum err append_blockref(struct buf *b, struct rpc_blockref ref)
{
    switch (ref.tag) {
    case RPC_TAG_NUMBER: {
        enum err e = buf_append_byte(b, '"');
        if (e == ERR_OK)
            e = hexq_append_u64(b, ref.number);
        if (e == ERR_OK)
            e = buf_append_byte(b, '"');
        return e;
    }
    case RPC_TAG_LATEST:
        return buf_append_str(b, "\"latest\"");
    case RPC_TAG_PENDING:
        return buf_append_str(b, "\"pending\"");
    case RPC_TAG_SAFE:
        return buf_append_str(b, "\"safe\"");
    case RPC_TAG_FINALIZED:
        return buf_append_str(b, "\"finalized\"");
    case RPC_TAG_EARLIEST:
        return buf_append_str(b, "\"earliest\"");
    }
    return ERR_INVAL;
}

static enum err append_quoted_data(struct buf *b, const uint8_t *p, size_t n)
{
    enum err e = buf_append_byte(b, '"');
    if (e == ERR_OK)
        e = hexq_append_data(b, p, n);
    if (e == ERR_OK)
        e = buf_append_byte(b, '"');
    return e;
}

static enum err append_call_obj(struct buf *b, const struct rpc_tx_call *m)
{
    enum err e = buf_append_byte(b, '{');
    const char *sep = "";
    if (e == ERR_OK && m->from != NULL) {
        e = buf_append_str(b, "\"from\":");
        if (e == ERR_OK)
            e = append_quoted_data(b, m->from, 20);
        sep = ",";
    }
    if (e == ERR_OK && m->to != NULL) {
        e = buf_appendf(b, "%s\"to\":", sep);
        if (e == ERR_OK)
            e = append_quoted_data(b, m->to, 20);
        sep = ",";
    }
    if (e == ERR_OK && m->gas != 0) {
        e = buf_appendf(b, "%s\"gas\":\"", sep);
        if (e == ERR_OK)
            e = hexq_append_u64(b, m->gas);
        if (e == ERR_OK)
            e = buf_append_byte(b, '"');
        sep = ",";
    }
    if (e == ERR_OK && m->value != NULL) {
        e = buf_appendf(b, "%s\"value\":\"", sep);
        if (e == ERR_OK)
            e = hexq_append_u256(b, m->value);
        if (e == ERR_OK)
            e = buf_append_byte(b, '"');
        sep = ",";
    }
    if (e == ERR_OK && m->data_len > 0) {
        /* "data" rather than "input": every node version accepts it. */
        e = buf_appendf(b, "%s\"data\":", sep);
        if (e == ERR_OK)
            e = append_quoted_data(b, m->data, m->data_len);
    }
    if (e == ERR_OK)
        e = buf_append_byte(b, '}');
    return e;
}

static enum err append_filter(struct buf *b, const struct rpc_log_filter *f)
{
    if (f->n_topics > 4)
        return ERR_INVAL;
    enum err e = buf_append_str(b, "[{\"fromBlock\":");
    if (e == ERR_OK)
        e = append_blockref(b, f->from_block);
    if (e == ERR_OK)
        e = buf_append_str(b, ",\"toBlock\":");
    if (e == ERR_OK)
        e = append_blockref(b, f->to_block);
    if (e == ERR_OK && f->n_addresses > 0) {
        e = buf_append_str(b, f->n_addresses == 1 ? ",\"address\":" : ",\"address\":[");
        for (size_t i = 0; e == ERR_OK && i < f->n_addresses; i++) {
            if (i > 0)
                e = buf_append_byte(b, ',');
            if (e == ERR_OK)
                e = append_quoted_data(b, f->addresses[i], 20);
        }
        if (e == ERR_OK && f->n_addresses > 1)
            e = buf_append_byte(b, ']');
    }
    if (e == ERR_OK && f->n_topics > 0) {
        e = buf_append_str(b, ",\"topics\":[");
        for (size_t i = 0; e == ERR_OK && i < f->n_topics; i++) {
            const struct rpc_topic_filter *t = &f->topics[i];
            if (i > 0)
                e = buf_append_byte(b, ',');
            if (e != ERR_OK)
                break;
            if (t->n == 0) {
                e = buf_append_str(b, "null");
                continue;
            }
            if (t->n > 1)
                e = buf_append_byte(b, '[');
            for (size_t j = 0; e == ERR_OK && j < t->n; j++) {
                if (j > 0)
                    e = buf_append_byte(b, ',');
                if (e == ERR_OK)
                    e = append_quoted_data(b, t->any_of[j], 32);
            }
            if (e == ERR_OK && t->n > 1)
                e = buf_append_byte(b, ']');
        }
        if (e == ERR_OK)
            e = buf_append_byte(b, ']');
    }
    if (e == ERR_OK)
        e = buf_append_str(b, "}]");
    return e;
}

static enum err append_request(struct buf *b, uint64_t id, const char *method, const char *params)
{
    return buf_appendf(b, "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"%s\",\"params\":%s}",
                       (unsigned long long)id, method, params);
}

/* ------------------------------------------------------------------ */
/* Client set-up                                                       */

static pthread_once_t rpc_curl_once = PTHREAD_ONCE_INIT;
static CURLcode rpc_curl_init_rc = CURLE_FAILED_INIT;

static void rpc_curl_global_init(void)
{
    /* curl_global_init is not thread-safe on every libcurl build; once. */
    rpc_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct rpc *c = userdata;
    size_t n = size * nmemb;
    enum err e = buf_append(&c->resp, ptr, n);
    if (e != ERR_OK) {
        c->resp_err = e;
        return 0; /* libcurl aborts the transfer with CURLE_WRITE_ERROR */
    }
    return n;
}

/*
 * libcurl's debug callback (CURLOPT_DEBUGFUNCTION, with CURLOPT_VERBOSE), used
 * only for rpc_last_sent_ns(): libcurl reports outgoing body bytes as
 * CURLINFO_DATA_OUT right after its write of them to the connection returned
 * (lib/http.c Curl_buffer_send for a body sent with the headers, the upload
 * loop otherwise), so the moment the count reaches the body's length is the
 * moment the request was completely written. Everything else is ignored.
 */
static int debug_cb(CURL *handle, curl_infotype type, char *data, size_t size, void *userdata)
{
    struct rpc *c = userdata;
    (void)handle;
    (void)data;
    if (type != CURLINFO_DATA_OUT)
        return 0;
    c->out_body += size;
    if (c->out_body >= c->req.len && c->sent_ns == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        c->sent_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    return 0;
}

static uint64_t rng_next(struct rpc *c)
{
    /* xorshift64* (Vigna, "An experimental exploration of Marsaglia's
     * xorshift generators", 2016): jitter needs spread, not secrecy. */
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

enum err rpc_new(const struct rpc_opts *opts, struct rpc **out)
{
    if (opts == NULL || opts->url == NULL || out == NULL)
        return ERR_INVAL;
    if (strncasecmp(opts->url, "http://", 7) != 0 && strncasecmp(opts->url, "https://", 8) != 0)
        return ERR_INVAL;
    if (opts->connect_timeout_ms < 0 || opts->timeout_ms < 0 || opts->backoff_base_ms < 0 ||
        opts->backoff_max_ms < 0)
        return ERR_INVAL;
    long base = opts->backoff_base_ms ? opts->backoff_base_ms : RPC_DEFAULT_BACKOFF_BASE_MS;
    long max = opts->backoff_max_ms ? opts->backoff_max_ms : RPC_DEFAULT_BACKOFF_MAX_MS;
    if (base > max)
        return ERR_INVAL;
    pthread_once(&rpc_curl_once, rpc_curl_global_init);
    if (rpc_curl_init_rc != CURLE_OK)
        return ERR_IO;

    enum err e = ERR_OK;
    struct rpc *c = calloc(1, sizeof *c);
    if (c == NULL)
        return ERR_NOMEM;
    c->connect_timeout_ms =
        opts->connect_timeout_ms ? opts->connect_timeout_ms : RPC_DEFAULT_CONNECT_TIMEOUT_MS;
    c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : RPC_DEFAULT_TIMEOUT_MS;
    c->max_attempts = opts->max_attempts ? opts->max_attempts : RPC_DEFAULT_MAX_ATTEMPTS;
    c->backoff_base_ms = base;
    c->backoff_max_ms = max;
    c->max_response_bytes =
        opts->max_response_bytes ? opts->max_response_bytes : RPC_DEFAULT_MAX_RESPONSE_BYTES;
    c->next_id = 1;
    c->stamp_sent = opts->stamp_sent != 0;
    buf_init(&c->req, 0);
    buf_init(&c->resp, c->max_response_bytes);
    buf_init(&c->errmsg, RPC_ERRMSG_MAX);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
             (uint64_t)(uintptr_t)c;
    if (c->rng == 0)
        c->rng = 0x9E3779B97F4A7C15ULL;

    c->url = strdup(opts->url);
    if (c->url == NULL) {
        e = ERR_NOMEM;
        goto cleanup;
    }
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        e = ERR_IO;
        goto cleanup;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (h != NULL)
        c->headers = h;
    h = h ? curl_slist_append(c->headers, "Accept: application/json") : NULL;
    /* No "Expect: 100-continue" round trip before large bodies. */
    h = h ? curl_slist_append(c->headers, "Expect:") : NULL;
    if (h == NULL) {
        e = ERR_NOMEM;
        goto cleanup;
    }
    CURL *k = c->curl;
    CURLcode rc = curl_easy_setopt(k, CURLOPT_URL, c->url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Our own timeouts; no SIGALRM, so any thread may call. */
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    /* TCP keep-alive probes so that an idle pooled connection a NAT or load
     * balancer dropped is noticed; 60 s is under common idle limits (AWS
     * NLB 350 s, many NATs 120 s). */
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_TCP_KEEPALIVE, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_TCP_KEEPIDLE, 60L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_TCP_KEEPINTVL, 30L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_HTTPHEADER, c->headers);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_POST, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_USERAGENT, "loom-rpc/1");
    /* Let the node compress large eth_getLogs answers; the cap applies to
     * the decompressed bytes, so a compression bomb still stops there. */
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_ACCEPT_ENCODING, "");
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response_bytes);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, write_cb);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_WRITEDATA, c);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(k, CURLOPT_ERRORBUFFER, c->curl_errbuf);
    if (rc == CURLE_OK && c->stamp_sent)
        rc = curl_easy_setopt(k, CURLOPT_DEBUGFUNCTION, debug_cb);
    if (rc == CURLE_OK && c->stamp_sent)
        rc = curl_easy_setopt(k, CURLOPT_DEBUGDATA, c);
    if (rc == CURLE_OK && c->stamp_sent)
        rc = curl_easy_setopt(k, CURLOPT_VERBOSE, 1L);
    if (rc != CURLE_OK) {
        e = rc == CURLE_OUT_OF_MEMORY ? ERR_NOMEM : ERR_IO;
        goto cleanup;
    }
    *out = c;
    return ERR_OK;
cleanup:
    rpc_free(c);
    return e;
}

void rpc_free(struct rpc *c)
{
    if (c == NULL)
        return;
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->url);
    buf_release(&c->req);
    buf_release(&c->resp);
    buf_release(&c->errmsg);
    rpc_error_release(&c->last_error);
    free(c);
}

const char *rpc_errmsg(const struct rpc *c)
{
    return buf_cstr(&c->errmsg);
}

const struct rpc_error *rpc_last_error(const struct rpc *c)
{
    return c->has_last_error ? &c->last_error : NULL;
}

void rpc_get_stats(const struct rpc *c, struct rpc_stats *out)
{
    *out = c->stats;
}

uint64_t rpc_last_sent_ns(const struct rpc *c)
{
    return c->sent_ns;
}

/* ------------------------------------------------------------------ */
/* HTTP exchange with retries                                          */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* Full-jitter backoff after failed attempt <k> (1-based); see rpc.h. */
static long backoff_ms(struct rpc *c, unsigned k)
{
    long cap = c->backoff_base_ms;
    for (unsigned i = 1; i < k && cap < c->backoff_max_ms; i++)
        cap *= 2;
    if (cap > c->backoff_max_ms)
        cap = c->backoff_max_ms;
    return (long)(rng_next(c) % ((uint64_t)cap + 1));
}

/* Map a libcurl failure; *retry says whether it is transient. */
static enum err map_curl(struct rpc *c, CURLcode rc, int *retry)
{
    *retry = 0;
    const char *detail = c->curl_errbuf[0] != '\0' ? c->curl_errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        *retry = 1;
        set_msg(c, "connect: %s", detail);
        return ERR_UNAVAILABLE;
    case CURLE_OPERATION_TIMEDOUT:
        *retry = 1;
        set_msg(c, "timeout: %s", detail);
        return ERR_TIMEDOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        *retry = 1;
        set_msg(c, "transport: %s", detail);
        return ERR_IO;
    case CURLE_WRITE_ERROR:
        if (c->resp_err == ERR_TOOBIG) {
            set_msg(c, "response over %zu bytes", c->max_response_bytes);
            return ERR_TOOBIG;
        }
        if (c->resp_err == ERR_NOMEM) {
            set_msg(c, "response: out of memory");
            return ERR_NOMEM;
        }
        set_msg(c, "transport: %s", detail);
        return ERR_IO;
    case CURLE_FILESIZE_EXCEEDED:
        set_msg(c, "response over %zu bytes", c->max_response_bytes);
        return ERR_TOOBIG;
    case CURLE_OUT_OF_MEMORY:
        set_msg(c, "libcurl: out of memory");
        return ERR_NOMEM;
    default:
        set_msg(c, "transport: %s", detail);
        return ERR_IO;
    }
}

/*
 * POST c->req and leave the body in c->resp and the status in
 * c->http_status. Returns ERR_OK for any HTTP answer that is not 429/5xx
 * (the caller judges other statuses), else the mapped transport error after
 * the last attempt.
 */
static enum err http_post(struct rpc *c)
{
    enum err e = ERR_IO;
    for (unsigned attempt = 1; attempt <= c->max_attempts; attempt++) {
        if (attempt > 1) {
            c->stats.retries++;
            sleep_ms(backoff_ms(c, attempt - 1));
        }
        buf_reset(&c->resp);
        c->resp_err = ERR_OK;
        c->curl_errbuf[0] = '\0';
        c->http_status = 0;
        c->out_body = 0;
        c->sent_ns = 0;
        c->stats.http_requests++;
        CURLcode rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, c->req.data);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->req.len);
        if (rc == CURLE_OK)
            rc = curl_easy_perform(c->curl);
        int retry = 0;
        if (rc != CURLE_OK) {
            e = map_curl(c, rc, &retry);
        } else {
            long status = 0;
            rc = curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
            if (rc != CURLE_OK) {
                set_msg(c, "transport: no HTTP status");
                return ERR_IO;
            }
            c->http_status = status;
            if (status != 429 && status < 500)
                return ERR_OK;
            /* Overloaded or restarting node or proxy: transient. */
            set_msg(c, "http status %ld", status);
            e = ERR_UNAVAILABLE;
            retry = 1;
        }
        if (!retry)
            return e;
    }
    return e;
}

/* After http_post: the caller has a 2xx, or another status whose body may
 * still be a JSON-RPC error object (some proxies answer 400 with one). */
static enum err status_error(struct rpc *c)
{
    long s = c->http_status;
    if (s == 401 || s == 403) {
        set_msg(c, "http status %ld (check the node URL's API key)", s);
        return ERR_AUTH;
    }
    set_msg(c, "http status %ld", s);
    return ERR_PROTO;
}

/* Record an error object as the client's last error. */
static void keep_error(struct rpc *c, struct rpc_error *err)
{
    rpc_error_release(&c->last_error);
    c->last_error = *err;
    memset(err, 0, sizeof *err);
    c->has_last_error = 1;
    set_msg(c, "%lld: %s", (long long)c->last_error.code, c->last_error.message);
}

static void begin_call(struct rpc *c)
{
    c->stats.calls++;
    c->sent_ns = 0;
    buf_reset(&c->errmsg);
    buf_reset(&c->req);
    rpc_error_release(&c->last_error);
    c->has_last_error = 0;
}

static enum err end_call(struct rpc *c, enum err e)
{
    if (e == ERR_RPC)
        c->stats.rpc_errors++;
    else if (e != ERR_OK)
        c->stats.failures++;
    return e;
}

/*
 * One call: send <method>(<params>) and return the parsed response tree in
 * *root (the caller frees it with cJSON_Delete) and its result node in
 * *result. On failure nothing is returned.
 */
static enum err do_call(struct rpc *c, const char *method, const char *params, cJSON **root,
                        const cJSON **result)
{
    uint64_t id = c->next_id++;
    if (c->next_id >= RPC_ID_MAX)
        c->next_id = 1;
    enum err e = append_request(&c->req, id, method, params);
    if (e != ERR_OK) {
        set_msg(c, "request for %s: %s", method, err_str(e));
        return e;
    }
    e = http_post(c);
    if (e != ERR_OK)
        return e;
    int ok_status = c->http_status >= 200 && c->http_status < 300;
    cJSON *tree = NULL;
    struct rpc_error err = {0};
    buf_reset(&c->errmsg);
    e = buf_appendf(&c->errmsg, "%s response: ", method);
    (void)e;
    e = parse_json(c->resp.data, c->resp.len, &tree, &c->errmsg);
    if (e == ERR_OK)
        e = check_single(tree, id, result, &err, &c->errmsg);
    if (e == ERR_RPC) {
        keep_error(c, &err);
    } else if (!ok_status) {
        e = status_error(c);
    }
    if (e != ERR_OK) {
        cJSON_Delete(tree);
        return e;
    }
    *root = tree;
    return ERR_OK;
}

enum err rpc_call_raw(struct rpc *c, const char *method, const char *params_json,
                      char **result_json, size_t *result_len)
{
    begin_call(c);
    const char *params = params_json != NULL ? params_json : "[]";
    if (!method_ok(method) || !params_ok(params)) {
        set_msg(c, "bad method name or params for a raw call");
        return end_call(c, ERR_INVAL);
    }
    cJSON *root = NULL;
    const cJSON *result = NULL;
    enum err e = do_call(c, method, params, &root, &result);
    if (e == ERR_OK) {
        char *text = cJSON_PrintUnformatted(result);
        if (text == NULL) {
            e = ERR_NOMEM;
        } else {
            buf_reset(&c->errmsg);
            *result_json = text;
            if (result_len != NULL)
                *result_len = strlen(text);
        }
    }
    cJSON_Delete(root);
    return end_call(c, e);
}

/* ------------------------------------------------------------------ */
/* Typed calls                                                         */

/*
 * Send <method> with the params in <params> (a buf, borrowed) and parse the
 * result with the node parser <t> names.
 */
static enum err typed_call(struct rpc *c, const char *method, const struct buf *params,
                           const struct parse_target *t)
{
    cJSON *root = NULL;
    const cJSON *r = NULL;
    enum err e = do_call(c, method, buf_cstr(params), &root, &r);
    if (e != ERR_OK)
        return end_call(c, e);
    buf_reset(&c->errmsg);
    enum err ae = buf_appendf(&c->errmsg, "%s response: ", method);
    (void)ae;
    e = parse_node(r, t, &c->errmsg);
    cJSON_Delete(root);
    if (e == ERR_OK)
        buf_reset(&c->errmsg);
    else if (e == ERR_NOTFOUND)
        set_msg(c, "%s: the node answered null", method);
    return end_call(c, e);
}

/* Build params in a local buffer; report a build failure as the call's. */
static enum err params_fail(struct rpc *c, struct buf *p, enum err e)
{
    set_msg(c, "cannot build params: %s", err_str(e));
    buf_release(p);
    return end_call(c, e);
}

enum err rpc_chain_id(struct rpc *c, uint64_t *chain_id)
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = buf_append_str(&p, "[]");
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_U64, chain_id, NULL, 0};
    e = typed_call(c, "eth_chainId", &p, &t);
    buf_release(&p);
    return e;
}

enum err rpc_block_number(struct rpc *c, uint64_t *number)
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = buf_append_str(&p, "[]");
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_U64, number, NULL, 0};
    e = typed_call(c, "eth_blockNumber", &p, &t);
    buf_release(&p);
    return e;
}

static enum err block_params(struct buf *p, struct rpc_blockref ref)
{
    enum err e = buf_append_byte(p, '[');
    if (e == ERR_OK)
        e = append_blockref(p, ref);
    if (e == ERR_OK)
        e = buf_append_str(p, ",false]");
    return e;
}

enum err rpc_get_block(struct rpc *c, struct rpc_blockref ref, struct rpc_block *out)
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = block_params(&p, ref);
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_BLOCK, out, NULL, 0};
    e = typed_call(c, "eth_getBlockByNumber", &p, &t);
    buf_release(&p);
    return e;
}

enum err rpc_get_logs(struct rpc *c, const struct rpc_log_filter *filter, struct rpc_logs *out)
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = filter != NULL ? append_filter(&p, filter) : ERR_INVAL;
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_LOGS, out, NULL, 0};
    e = typed_call(c, "eth_getLogs", &p, &t);
    buf_release(&p);
    return e;
}

enum err rpc_eth_call(struct rpc *c, const struct rpc_tx_call *msg, struct rpc_blockref ref,
                      uint8_t **out, size_t *out_len)
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = (msg != NULL && msg->to != NULL) ? buf_append_byte(&p, '[') : ERR_INVAL;
    if (e == ERR_OK)
        e = append_call_obj(&p, msg);
    if (e == ERR_OK)
        e = buf_append_byte(&p, ',');
    if (e == ERR_OK)
        e = append_blockref(&p, ref);
    if (e == ERR_OK)
        e = buf_append_byte(&p, ']');
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_DATA, out, out_len, 0};
    e = typed_call(c, "eth_call", &p, &t);
    buf_release(&p);
    return e;
}

enum err rpc_estimate_gas(struct rpc *c, const struct rpc_tx_call *msg, uint64_t *gas)
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    /* No block parameter: older nodes reject a second one. */
    enum err e = msg != NULL ? buf_append_byte(&p, '[') : ERR_INVAL;
    if (e == ERR_OK)
        e = append_call_obj(&p, msg);
    if (e == ERR_OK)
        e = buf_append_byte(&p, ']');
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_U64, gas, NULL, 0};
    e = typed_call(c, "eth_estimateGas", &p, &t);
    buf_release(&p);
    return e;
}

enum err rpc_fee_history(struct rpc *c, uint64_t block_count, struct rpc_blockref newest,
                         const double *percentiles, size_t n_percentiles,
                         struct rpc_fee_history *out)
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = ERR_OK;
    if (block_count < 1 || block_count > RPC_FEE_HISTORY_MAX_BLOCKS ||
        n_percentiles > RPC_FEE_HISTORY_MAX_PERCENTILES ||
        (n_percentiles > 0 && percentiles == NULL))
        e = ERR_INVAL;
    for (size_t i = 0; e == ERR_OK && i < n_percentiles; i++) {
        double v = percentiles[i];
        if (!(v >= 0 && v <= 100) || (i > 0 && v < percentiles[i - 1]))
            e = ERR_INVAL;
    }
    if (e == ERR_OK)
        e = buf_append_str(&p, "[\"");
    if (e == ERR_OK)
        e = hexq_append_u64(&p, block_count);
    if (e == ERR_OK)
        e = buf_append_str(&p, "\",");
    if (e == ERR_OK)
        e = append_blockref(&p, newest);
    if (e == ERR_OK)
        e = buf_append_str(&p, ",[");
    for (size_t i = 0; e == ERR_OK && i < n_percentiles; i++)
        e = buf_appendf(&p, "%s%.17g", i > 0 ? "," : "", percentiles[i]);
    if (e == ERR_OK)
        e = buf_append_str(&p, "]]");
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_FEES, out, NULL, n_percentiles};
    e = typed_call(c, "eth_feeHistory", &p, &t);
    buf_release(&p);
    return e;
}

enum err rpc_max_priority_fee(struct rpc *c, uint8_t wei[32])
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = buf_append_str(&p, "[]");
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_U256, wei, NULL, 0};
    e = typed_call(c, "eth_maxPriorityFeePerGas", &p, &t);
    buf_release(&p);
    return e;
}

static enum err address_block_params(struct buf *p, const uint8_t address[20],
                                     struct rpc_blockref ref)
{
    enum err e = address != NULL ? buf_append_byte(p, '[') : ERR_INVAL;
    if (e == ERR_OK)
        e = append_quoted_data(p, address, 20);
    if (e == ERR_OK)
        e = buf_append_byte(p, ',');
    if (e == ERR_OK)
        e = append_blockref(p, ref);
    if (e == ERR_OK)
        e = buf_append_byte(p, ']');
    return e;
}

enum err rpc_get_transaction_count(struct rpc *c, const uint8_t address[20],
                                   struct rpc_blockref ref, uint64_t *nonce)
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = address_block_params(&p, address, ref);
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_U64, nonce, NULL, 0};
    e = typed_call(c, "eth_getTransactionCount", &p, &t);
    buf_release(&p);
    return e;
}

enum err rpc_get_balance(struct rpc *c, const uint8_t address[20], struct rpc_blockref ref,
                         uint8_t wei[32])
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = address_block_params(&p, address, ref);
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_U256, wei, NULL, 0};
    e = typed_call(c, "eth_getBalance", &p, &t);
    buf_release(&p);
    return e;
}

enum err rpc_send_raw_transaction(struct rpc *c, const uint8_t *raw, size_t len,
                                  uint8_t tx_hash[32])
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = (raw != NULL && len > 0) ? buf_append_byte(&p, '[') : ERR_INVAL;
    if (e == ERR_OK)
        e = append_quoted_data(&p, raw, len);
    if (e == ERR_OK)
        e = buf_append_byte(&p, ']');
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_HASH, tx_hash, NULL, 0};
    e = typed_call(c, "eth_sendRawTransaction", &p, &t);
    buf_release(&p);
    return e;
}

static enum err hash_params(struct buf *p, const uint8_t hash[32])
{
    enum err e = hash != NULL ? buf_append_byte(p, '[') : ERR_INVAL;
    if (e == ERR_OK)
        e = append_quoted_data(p, hash, 32);
    if (e == ERR_OK)
        e = buf_append_byte(p, ']');
    return e;
}

enum err rpc_get_receipt(struct rpc *c, const uint8_t tx_hash[32], struct rpc_receipt *out)
{
    begin_call(c);
    struct buf p;
    buf_init(&p, 0);
    enum err e = hash_params(&p, tx_hash);
    if (e != ERR_OK)
        return params_fail(c, &p, e);
    struct parse_target t = {P_RECEIPT, out, NULL, 0};
    e = typed_call(c, "eth_getTransactionReceipt", &p, &t);
    buf_release(&p);
    return e;
}

/* ------------------------------------------------------------------ */
/* Batches                                                             */

static void item_clear_answer(struct rpc_batch_item *it)
{
    free(it->result);
    it->result = NULL;
    it->result_len = 0;
    rpc_error_release(&it->error);
    it->has_error = 0;
}

static void batch_clear_answers(struct rpc_batch *b)
{
    for (size_t i = 0; i < b->count; i++)
        item_clear_answer(&b->items[i]);
    b->answered = 0;
}

enum err rpc_batch_new(struct rpc_batch **out)
{
    struct rpc_batch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return ERR_NOMEM;
    *out = b;
    return ERR_OK;
}

void rpc_batch_free(struct rpc_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->count; i++) {
        item_clear_answer(&b->items[i]);
        free(b->items[i].method);
        free(b->items[i].params);
    }
    free(b->items);
    free(b);
}

size_t rpc_batch_count(const struct rpc_batch *b)
{
    return b->count;
}

enum err rpc_batch_add(struct rpc_batch *b, const char *method, const char *params_json,
                       size_t *index)
{
    const char *params = params_json != NULL ? params_json : "[]";
    if (!method_ok(method) || !params_ok(params))
        return ERR_INVAL;
    if (b->count >= RPC_MAX_BATCH)
        return ERR_TOOBIG;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct rpc_batch_item *items = realloc(b->items, cap * sizeof *items);
        if (items == NULL)
            return ERR_NOMEM;
        b->items = items;
        b->cap = cap;
    }
    struct rpc_batch_item it;
    memset(&it, 0, sizeof it);
    it.method = strdup(method);
    it.params = strdup(params);
    if (it.method == NULL || it.params == NULL) {
        free(it.method);
        free(it.params);
        return ERR_NOMEM;
    }
    /* Adding invalidates the previous answers: ids no longer line up. */
    batch_clear_answers(b);
    b->items[b->count] = it;
    if (index != NULL)
        *index = b->count;
    b->count++;
    return ERR_OK;
}

static enum err batch_add_buf(struct rpc_batch *b, const char *method, struct buf *p, enum err e,
                              size_t *index)
{
    if (e == ERR_OK)
        e = rpc_batch_add(b, method, buf_cstr(p), index);
    buf_release(p);
    return e;
}

enum err rpc_batch_add_get_block(struct rpc_batch *b, struct rpc_blockref ref, size_t *index)
{
    struct buf p;
    buf_init(&p, 0);
    enum err e = block_params(&p, ref);
    return batch_add_buf(b, "eth_getBlockByNumber", &p, e, index);
}

enum err rpc_batch_add_get_logs(struct rpc_batch *b, const struct rpc_log_filter *filter,
                                size_t *index)
{
    struct buf p;
    buf_init(&p, 0);
    enum err e = filter != NULL ? append_filter(&p, filter) : ERR_INVAL;
    return batch_add_buf(b, "eth_getLogs", &p, e, index);
}

enum err rpc_batch_add_get_receipt(struct rpc_batch *b, const uint8_t tx_hash[32], size_t *index)
{
    struct buf p;
    buf_init(&p, 0);
    enum err e = hash_params(&p, tx_hash);
    return batch_add_buf(b, "eth_getTransactionReceipt", &p, e, index);
}

enum err rpc_batch_parse_response(struct rpc_batch *b, uint64_t first_id, const char *body,
                                  size_t len, struct rpc_error *error, struct buf *why)
{
    batch_clear_answers(b);
    cJSON *root = NULL;
    enum err e = parse_json(body, len, &root, why);
    if (e != ERR_OK)
        return e;
    if (cJSON_IsObject(root)) {
        /* The node refused the whole batch (too large, unparsable): one
         * error response with a null id, JSON-RPC 2.0 section 6. */
        const cJSON *r, *er, *id;
        e = parse_envelope(root, &r, &er, &id, why);
        if (e == ERR_OK && (er == NULL || !cJSON_IsNull(id)))
            e = bad(why, "batch answered with a single non-error response");
        if (e == ERR_OK) {
            e = parse_error_obj(er, error, why);
            if (e == ERR_OK)
                e = ERR_RPC;
        }
        goto cleanup;
    }
    if (!cJSON_IsArray(root)) {
        e = bad(why, "batch response is not an array");
        goto cleanup;
    }
    if ((size_t)cJSON_GetArraySize(root) != b->count) {
        e = bad(why, "batch response holds %d answers for %zu calls", cJSON_GetArraySize(root),
                b->count);
        goto cleanup;
    }
    const cJSON *el;
    cJSON_ArrayForEach(el, root)
    {
        const cJSON *r, *er, *id;
        e = parse_envelope(el, &r, &er, &id, why);
        if (e != ERR_OK)
            goto cleanup;
        if (!number_is_int(id, (double)RPC_ID_MAX) || id->valuedouble < (double)first_id ||
            id->valuedouble >= (double)(first_id + b->count)) {
            e = bad(why, "batch answer with an id we did not send");
            goto cleanup;
        }
        struct rpc_batch_item *it = &b->items[(uint64_t)id->valuedouble - first_id];
        if (it->result != NULL || it->has_error) {
            e = bad(why, "batch answers id %llu twice", (unsigned long long)id->valuedouble);
            goto cleanup;
        }
        if (er != NULL) {
            e = parse_error_obj(er, &it->error, why);
            if (e != ERR_OK)
                goto cleanup;
            it->has_error = 1;
        } else {
            it->result = cJSON_PrintUnformatted(r);
            if (it->result == NULL) {
                e = ERR_NOMEM;
                goto cleanup;
            }
            it->result_len = strlen(it->result);
        }
    }
    /* count answers, distinct ids in range: every call is answered. */
    b->answered = 1;
    e = ERR_OK;
cleanup:
    if (e != ERR_OK)
        batch_clear_answers(b);
    cJSON_Delete(root);
    return e;
}

enum err rpc_call_batch(struct rpc *c, struct rpc_batch *b)
{
    begin_call(c);
    batch_clear_answers(b);
    if (b->count == 0) {
        set_msg(c, "empty batch");
        return end_call(c, ERR_INVAL);
    }
    if (c->next_id + b->count >= RPC_ID_MAX)
        c->next_id = 1;
    uint64_t first = c->next_id;
    c->next_id += b->count;
    enum err e = buf_append_byte(&c->req, '[');
    for (size_t i = 0; e == ERR_OK && i < b->count; i++) {
        if (i > 0)
            e = buf_append_byte(&c->req, ',');
        if (e == ERR_OK)
            e = append_request(&c->req, first + i, b->items[i].method, b->items[i].params);
    }
    if (e == ERR_OK)
        e = buf_append_byte(&c->req, ']');
    if (e != ERR_OK) {
        set_msg(c, "batch request: %s", err_str(e));
        return end_call(c, e);
    }
    e = http_post(c);
    if (e != ERR_OK)
        return end_call(c, e);
    int ok_status = c->http_status >= 200 && c->http_status < 300;
    struct rpc_error err = {0};
    buf_reset(&c->errmsg);
    enum err ae = buf_append_str(&c->errmsg, "batch response: ");
    (void)ae;
    e = rpc_batch_parse_response(b, first, c->resp.data, c->resp.len, &err, &c->errmsg);
    if (e == ERR_RPC)
        keep_error(c, &err);
    else if (!ok_status) {
        batch_clear_answers(b);
        e = status_error(c);
    } else if (e == ERR_OK)
        buf_reset(&c->errmsg);
    return end_call(c, e);
}

enum err rpc_batch_result(const struct rpc_batch *b, size_t i, const char **result_json,
                          size_t *result_len, const struct rpc_error **error)
{
    if (i >= b->count)
        return ERR_INVAL;
    if (!b->answered)
        return ERR_STATE;
    const struct rpc_batch_item *it = &b->items[i];
    if (it->has_error) {
        if (error != NULL)
            *error = &it->error;
        return ERR_RPC;
    }
    if (result_json != NULL)
        *result_json = it->result;
    if (result_len != NULL)
        *result_len = it->result_len;
    return ERR_OK;
}
