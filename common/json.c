/*
 * json -- strict typed JSON over cJSON. See json.h for the value formats.
 * SPDX-License-Identifier: MIT
 */
#include "json.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "hex.h"

/* ---- error path ---------------------------------------------------------- */

void json_err_init(struct json_err *e)
{
    e->code = ERR_OK;
    e->path[0] = '\0';
    e->message[0] = '\0';
    e->path_len = 0;
}

/* Append text to the path, marking truncation with "..." at the end. */
static void path_append(struct json_err *e, const char *s)
{
    size_t n = strlen(s);
    if (e->path_len + n + 1 > JSON_PATH_MAX) {
        size_t keep = JSON_PATH_MAX - 4;
        if (e->path_len < keep) {
            memcpy(e->path + e->path_len, s, keep - e->path_len);
            e->path_len = keep;
        }
        memcpy(e->path + keep, "...", 4);
        e->path_len = JSON_PATH_MAX - 1;
        return;
    }
    memcpy(e->path + e->path_len, s, n + 1);
    e->path_len += n;
}

size_t json_path_push(struct json_err *e, const char *key)
{
    if (!e)
        return 0;
    size_t mark = e->path_len;
    if (e->code != ERR_OK)
        return mark;
    if (e->path_len > 0)
        path_append(e, ".");
    path_append(e, key);
    return mark;
}

size_t json_path_push_index(struct json_err *e, size_t index)
{
    if (!e)
        return 0;
    size_t mark = e->path_len;
    if (e->code != ERR_OK)
        return mark;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "[%zu]", index);
    path_append(e, tmp);
    return mark;
}

void json_path_pop(struct json_err *e, size_t mark)
{
    if (!e || e->code != ERR_OK || mark > e->path_len)
        return;
    e->path_len = mark;
    e->path[mark] = '\0';
}

enum err json_fail(struct json_err *e, const char *key, enum err code, const char *fmt, ...)
{
    if (!e || e->code != ERR_OK)
        return code;
    if (key)
        (void)json_path_push(e, key);
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->message, JSON_MSG_MAX, fmt, ap);
    va_end(ap);
    if (n < 0)
        e->message[0] = '\0';
    return code;
}

/* Quote at most 40 bytes of untrusted text into out for a reason. */
static void quote_value(char *out, size_t out_size, const char *s)
{
    size_t n = strlen(s);
    size_t max = 40;
    if (n > max)
        snprintf(out, out_size, "\"%.*s...\"", (int)max, s);
    else
        snprintf(out, out_size, "\"%s\"", s);
}

/* ---- parsing -------------------------------------------------------------- */

/*
 * Measure nesting on the raw text so that cJSON, which recurses once per
 * level, never sees a document deeper than the cap. Only strings need
 * tracking: brackets inside them do not nest.
 */
static enum err check_depth(const char *data, size_t len, unsigned max_depth, struct json_err *e)
{
    unsigned depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return json_fail(e, NULL, ERR_TOOBIG, "nesting deeper than %u levels at byte %zu",
                                 max_depth, i);
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return ERR_OK;
}

static int cmp_keys(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a;
    const cJSON *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/*
 * Reject duplicate keys anywhere in the tree: two parsers that keep
 * different copies would read different messages. Sorting keeps large
 * objects O(n log n).
 */
static enum err check_dups(const cJSON *v, struct json_err *e)
{
    enum err rc = ERR_OK;
    const cJSON **keys = NULL;
    if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            n++;
        if (n > 1) {
            keys = malloc(n * sizeof *keys);
            if (!keys)
                return json_fail(e, NULL, ERR_NOMEM, "out of memory");
            size_t i = 0;
            for (const cJSON *c = v->child; c; c = c->next)
                keys[i++] = c;
            qsort(keys, n, sizeof *keys, cmp_keys);
            for (i = 1; i < n; i++) {
                if (strcmp(keys[i - 1]->string, keys[i]->string) == 0) {
                    rc = json_fail(e, keys[i]->string, ERR_INVAL, "duplicate key");
                    goto out;
                }
            }
        }
        for (const cJSON *c = v->child; c; c = c->next) {
            size_t mark = json_path_push(e, c->string);
            rc = check_dups(c, e);
            if (rc != ERR_OK)
                goto out;
            json_path_pop(e, mark);
        }
    } else if (cJSON_IsArray(v)) {
        size_t i = 0;
        for (const cJSON *c = v->child; c; c = c->next, i++) {
            size_t mark = json_path_push_index(e, i);
            rc = check_dups(c, e);
            if (rc != ERR_OK)
                goto out;
            json_path_pop(e, mark);
        }
    }
out:
    free(keys);
    return rc;
}

enum err json_parse(const char *data, size_t len, size_t max_bytes, unsigned max_depth, cJSON **out,
                    struct json_err *e)
{
    enum err rc;
    cJSON *root = NULL;
    if (len > max_bytes)
        return json_fail(e, NULL, ERR_TOOBIG, "document of %zu bytes is over the %zu-byte cap", len,
                         max_bytes);
    if (len == 0)
        return json_fail(e, NULL, ERR_INVAL, "empty document");
    rc = check_depth(data, len, max_depth, e);
    if (rc != ERR_OK)
        return rc;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!root) {
        size_t at = end && end >= data && end <= data + len ? (size_t)(end - data) : 0;
        return json_fail(e, NULL, ERR_INVAL, "malformed JSON at byte %zu", at);
    }
    for (size_t i = (size_t)(end - data); i < len; i++) {
        char c = data[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            rc =
                json_fail(e, NULL, ERR_INVAL, "trailing bytes after the JSON value at byte %zu", i);
            goto fail;
        }
    }
    rc = check_dups(root, e);
    if (rc != ERR_OK)
        goto fail;
    *out = root;
    return ERR_OK;
fail:
    cJSON_Delete(root);
    return rc;
}

void json_free(cJSON *v)
{
    cJSON_Delete(v);
}

/* ---- building and printing ---------------------------------------------- */

enum err json_new_object(cJSON **out)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return ERR_NOMEM;
    *out = o;
    return ERR_OK;
}

enum err json_add_array(cJSON *obj, const char *key, cJSON **out)
{
    cJSON *a = cJSON_AddArrayToObject(obj, key);
    if (!a)
        return ERR_NOMEM;
    *out = a;
    return ERR_OK;
}

enum err json_add_object(cJSON *obj, const char *key, cJSON **out)
{
    cJSON *o;
    if (key) {
        o = cJSON_AddObjectToObject(obj, key);
        if (!o)
            return ERR_NOMEM;
    } else {
        o = cJSON_CreateObject();
        if (!o)
            return ERR_NOMEM;
        if (!cJSON_AddItemToArray(obj, o)) {
            cJSON_Delete(o);
            return ERR_NOMEM;
        }
    }
    *out = o;
    return ERR_OK;
}

enum err json_print(const cJSON *v, struct buf *out)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s)
        return ERR_NOMEM;
    enum err rc = buf_append_str(out, s);
    cJSON_free(s);
    return rc;
}

enum err json_add_str(cJSON *obj, const char *key, const char *s)
{
    return cJSON_AddStringToObject(obj, key, s) ? ERR_OK : ERR_NOMEM;
}

enum err json_add_int(cJSON *obj, const char *key, int64_t v)
{
    if (v > JSON_INT_MAX || v < -JSON_INT_MAX)
        return ERR_RANGE;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    return cJSON_AddRawToObject(obj, key, tmp) ? ERR_OK : ERR_NOMEM;
}

enum err json_add_bool(cJSON *obj, const char *key, bool v)
{
    return cJSON_AddBoolToObject(obj, key, v) ? ERR_OK : ERR_NOMEM;
}

enum err json_add_hex(cJSON *obj, const char *key, const uint8_t *bytes, size_t n)
{
    char *s = malloc(2 * n + 3);
    if (!s)
        return ERR_NOMEM;
    hex_encode(bytes, n, true, s);
    enum err rc = json_add_str(obj, key, s);
    free(s);
    return rc;
}

enum err json_add_u256(cJSON *obj, const char *key, const uint8_t be[32])
{
    char tmp[DEC_U256_MAX];
    dec_u256_be(be, tmp);
    return json_add_str(obj, key, tmp);
}

/* ---- pure conversions ----------------------------------------------------- */

enum err json_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 + 2 * n || s[0] != '0' || s[1] != 'x')
        return ERR_INVAL;
    return hex_decode_digits(s + 2, n, out);
}

enum err json_u256_from_dec(const char *s, size_t len, uint8_t out[32])
{
    uint8_t v[32] = {0};
    if (len == 0 || (len > 1 && s[0] == '0'))
        return ERR_INVAL;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return ERR_INVAL;
    for (size_t i = 0; i < len; i++) {
        /* v = v * 10 + digit, least significant byte last (big-endian). */
        unsigned carry = (unsigned)(s[i] - '0');
        for (int j = 31; j >= 0; j--) {
            unsigned x = (unsigned)v[j] * 10u + carry;
            v[j] = (uint8_t)(x & 0xff);
            carry = x >> 8;
        }
        if (carry)
            return ERR_RANGE;
    }
    memcpy(out, v, 32);
    return ERR_OK;
}

bool json_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (len - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

/* ---- typed readers -------------------------------------------------------- */

bool json_has(const cJSON *obj, const char *key)
{
    if (!cJSON_IsObject(obj))
        return false;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsNull(v);
}

enum err json_expect_object(const cJSON *v, const char *key, struct json_err *e)
{
    if (!v)
        return json_fail(e, key, ERR_INVAL, "required");
    if (!cJSON_IsObject(v))
        return json_fail(e, key, ERR_INVAL, "must be an object");
    return ERR_OK;
}

/*
 * Look up <key>: *v is NULL and the result ERR_OK for an absent or null
 * optional member; a required one fails.
 */
static enum err member(const cJSON *obj, const char *key, unsigned flags, const cJSON **v,
                       struct json_err *e)
{
    const cJSON *m = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (m && cJSON_IsNull(m))
        m = NULL;
    if (!m && (flags & JSON_REQUIRED))
        return json_fail(e, key, ERR_INVAL, "required");
    *v = m;
    return ERR_OK;
}

/* Fetch a string member; *s stays NULL for an absent optional one. */
static enum err member_str(const cJSON *obj, const char *key, unsigned flags, const char **s,
                           size_t *len, struct json_err *e)
{
    const cJSON *v = NULL;
    enum err rc = member(obj, key, flags, &v, e);
    if (rc != ERR_OK)
        return rc;
    *s = NULL;
    if (!v)
        return ERR_OK;
    if (!cJSON_IsString(v) || !v->valuestring)
        return json_fail(e, key, ERR_INVAL, "must be a string");
    *s = v->valuestring;
    *len = strlen(v->valuestring);
    return ERR_OK;
}

enum err json_get_str(const cJSON *obj, const char *key, unsigned flags, size_t min_len,
                      size_t max_len, char **out, struct json_err *e)
{
    const char *s = NULL;
    size_t len = 0;
    enum err rc = member_str(obj, key, flags, &s, &len, e);
    if (rc != ERR_OK || !s)
        return rc;
    if (len > max_len)
        return json_fail(e, key, ERR_TOOBIG, "longer than %zu bytes", max_len);
    if (len < min_len)
        return json_fail(e, key, ERR_INVAL, "shorter than %zu bytes", min_len);
    if (!json_utf8_valid(s, len))
        return json_fail(e, key, ERR_INVAL, "not valid UTF-8");
    char *copy = malloc(len + 1);
    if (!copy)
        return json_fail(e, key, ERR_NOMEM, "out of memory");
    memcpy(copy, s, len + 1);
    *out = copy;
    return ERR_OK;
}

enum err json_get_int(const cJSON *obj, const char *key, unsigned flags, int64_t min, int64_t max,
                      int64_t *out, struct json_err *e)
{
    const cJSON *v = NULL;
    enum err rc = member(obj, key, flags, &v, e);
    if (rc != ERR_OK || !v)
        return rc;
    if (!cJSON_IsNumber(v))
        return json_fail(e, key, ERR_INVAL, "must be an integer");
    double d = v->valuedouble;
    /* The comparison is false for NaN, so NaN fails here too. */
    if (!(d >= -(double)JSON_INT_MAX && d <= (double)JSON_INT_MAX))
        return json_fail(e, key, ERR_INVAL, "must be an integer of magnitude at most 2^53-1");
    int64_t i = (int64_t)d;
    if ((double)i != d)
        return json_fail(e, key, ERR_INVAL, "must be an integer");
    if (i < min || i > max)
        return json_fail(e, key, ERR_RANGE, "must be between %lld and %lld", (long long)min,
                         (long long)max);
    *out = i;
    return ERR_OK;
}

enum err json_get_bool(const cJSON *obj, const char *key, unsigned flags, bool *out,
                       struct json_err *e)
{
    const cJSON *v = NULL;
    enum err rc = member(obj, key, flags, &v, e);
    if (rc != ERR_OK || !v)
        return rc;
    if (!cJSON_IsBool(v))
        return json_fail(e, key, ERR_INVAL, "must be true or false");
    *out = cJSON_IsTrue(v);
    return ERR_OK;
}

enum err json_get_object(const cJSON *obj, const char *key, unsigned flags, const cJSON **out,
                         struct json_err *e)
{
    const cJSON *v = NULL;
    enum err rc = member(obj, key, flags, &v, e);
    if (rc != ERR_OK || !v)
        return rc;
    if (!cJSON_IsObject(v))
        return json_fail(e, key, ERR_INVAL, "must be an object");
    *out = v;
    return ERR_OK;
}

enum err json_get_array(const cJSON *obj, const char *key, unsigned flags, size_t max_items,
                        const cJSON **out, size_t *n, struct json_err *e)
{
    const cJSON *v = NULL;
    enum err rc = member(obj, key, flags, &v, e);
    if (rc != ERR_OK || !v)
        return rc;
    if (!cJSON_IsArray(v))
        return json_fail(e, key, ERR_INVAL, "must be an array");
    size_t count = 0;
    for (const cJSON *c = v->child; c; c = c->next)
        if (++count > max_items)
            return json_fail(e, key, ERR_TOOBIG, "more than %zu items", max_items);
    *out = v;
    *n = count;
    return ERR_OK;
}

enum err json_get_enum(const cJSON *obj, const char *key, unsigned flags, const char *const *names,
                       size_t n_names, int *out, struct json_err *e)
{
    const char *s = NULL;
    size_t len = 0;
    enum err rc = member_str(obj, key, flags, &s, &len, e);
    if (rc != ERR_OK || !s)
        return rc;
    for (size_t i = 0; i < n_names; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return ERR_OK;
        }
    }
    char list[160] = "";
    size_t used = 0;
    for (size_t i = 0; i < n_names && used < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    char q[64];
    quote_value(q, sizeof q, s);
    return json_fail(e, key, ERR_INVAL, "%s is not one of %s", q, list);
}

enum err json_get_hex(const cJSON *obj, const char *key, unsigned flags, uint8_t *out, size_t n,
                      struct json_err *e)
{
    const char *s = NULL;
    size_t len = 0;
    enum err rc = member_str(obj, key, flags, &s, &len, e);
    if (rc != ERR_OK || !s)
        return rc;
    if (json_hex_decode(s, len, out, n) != ERR_OK)
        return json_fail(e, key, ERR_INVAL, "must be 0x followed by %zu hex digits", 2 * n);
    return ERR_OK;
}

enum err json_get_addr(const cJSON *obj, const char *key, unsigned flags, uint8_t out[20],
                       struct json_err *e)
{
    return json_get_hex(obj, key, flags, out, 20, e);
}

enum err json_get_hash(const cJSON *obj, const char *key, unsigned flags, uint8_t out[32],
                       struct json_err *e)
{
    return json_get_hex(obj, key, flags, out, 32, e);
}

enum err json_get_u256(const cJSON *obj, const char *key, unsigned flags, uint8_t out[32],
                       struct json_err *e)
{
    const char *s = NULL;
    size_t len = 0;
    enum err rc = member_str(obj, key, flags, &s, &len, e);
    if (rc != ERR_OK || !s)
        return rc;
    rc = json_u256_from_dec(s, len, out);
    if (rc == ERR_RANGE)
        return json_fail(e, key, ERR_RANGE, "must be below 2^256");
    if (rc != ERR_OK)
        return json_fail(e, key, ERR_INVAL,
                         "must be a decimal string of digits without leading zeros");
    return ERR_OK;
}
