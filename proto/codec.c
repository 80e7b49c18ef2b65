/*
 * codec -- the table-driven walkers behind every proto/ message. See codec.h.
 * SPDX-License-Identifier: MIT
 */
#include "codec.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Enums are stored through int pointers; make sure they are int-sized. */
_Static_assert(sizeof(enum proto_job_status) == sizeof(int), "enum size");
_Static_assert(sizeof(enum proto_job_type) == sizeof(int), "enum size");

#define AT(base, off)  ((char *)(base) + (off))
#define CAT(base, off) ((const char *)(base) + (off))

static size_t bytes_len(enum proto__kind k)
{
    return k == PK_ADDR ? 20 : 32;
}

static bool is_present(const struct proto__field *f, const void *base)
{
    switch (f->kind) {
    case PK_STR:
        return *(char *const *)CAT(base, f->off) != NULL;
    case PK_ARR:
        return true; /* an absent optional array is an empty one */
    default:
        return f->has_off == PROTO__NO_HAS || *(const bool *)CAT(base, f->has_off);
    }
}

/* Decode the array member <f> into a heap array of f->sub elements. */
static enum err decode_array(const cJSON *obj, const struct proto__field *f, void *base,
                             struct json_err *e)
{
    const cJSON *arr = NULL;
    size_t n = 0;
    enum err rc = json_get_array(obj, f->key, f->required ? JSON_REQUIRED : JSON_OPTIONAL,
                                 (size_t)f->max, &arr, &n, e);
    if (rc != ERR_OK || !arr || n == 0)
        return rc;
    const struct proto__type *t = f->sub;
    char *items = calloc(n, t->size);
    if (!items)
        return json_fail(e, f->key, ERR_NOMEM, "out of memory");
    /* Owned by base from here on, so a failure below is freed by release. */
    *(void **)AT(base, f->off) = items;
    *(size_t *)AT(base, f->count_off) = n;
    size_t mark = json_path_push(e, f->key);
    size_t i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        size_t m2 = json_path_push_index(e, i);
        rc = json_expect_object(c, NULL, e);
        if (rc == ERR_OK)
            rc = proto__decode(c, t, items + i * t->size, false, e);
        if (rc != ERR_OK)
            return rc;
        json_path_pop(e, m2);
    }
    json_path_pop(e, mark);
    return ERR_OK;
}

static enum err decode_field(const cJSON *obj, const struct proto__field *f, void *base,
                             struct json_err *e)
{
    unsigned flags = f->required ? JSON_REQUIRED : JSON_OPTIONAL;
    void *p = AT(base, f->off);
    if (f->kind == PK_ARR)
        return decode_array(obj, f, base, e);
    if (!f->required && !json_has(obj, f->key))
        return ERR_OK;
    enum err rc;
    switch (f->kind) {
    case PK_STR:
        rc = json_get_str(obj, f->key, flags, (size_t)f->min, (size_t)f->max, (char **)p, e);
        break;
    case PK_INT:
        rc = json_get_int(obj, f->key, flags, f->min, f->max, (int64_t *)p, e);
        break;
    case PK_BOOL:
        rc = json_get_bool(obj, f->key, flags, (bool *)p, e);
        break;
    case PK_ENUM:
        rc = json_get_enum(obj, f->key, flags, f->names, f->n_names, (int *)p, e);
        break;
    case PK_ADDR:
    case PK_HASH:
        rc = json_get_hex(obj, f->key, flags, (uint8_t *)p, bytes_len(f->kind), e);
        break;
    case PK_U256:
        rc = json_get_u256(obj, f->key, flags, (uint8_t *)p, e);
        break;
    case PK_OBJ: {
        const cJSON *sub = NULL;
        rc = json_get_object(obj, f->key, flags, &sub, e);
        if (rc == ERR_OK) {
            size_t mark = json_path_push(e, f->key);
            rc = proto__decode(sub, f->sub, p, false, e);
            json_path_pop(e, mark);
        }
        break;
    }
    default:
        LOOM_ASSERT(!"unknown field kind");
        return ERR_INVAL;
    }
    if (rc == ERR_OK && f->has_off != PROTO__NO_HAS)
        *(bool *)AT(base, f->has_off) = true;
    return rc;
}

/* The field of <t> named <key>, or t->n_fields. Members usually come in
 * the table's order (our encoder writes them so), so field <hint> is tried
 * first: one comparison per member instead of a scan. */
static size_t field_index(const struct proto__type *t, const char *key, size_t hint)
{
    if (hint < t->n_fields && strcmp(key, t->fields[hint].key) == 0)
        return hint;
    for (size_t i = 0; i < t->n_fields; i++)
        if (strcmp(key, t->fields[i].key) == 0)
            return i;
    return t->n_fields;
}

enum err proto__decode(const cJSON *obj, const struct proto__type *t, void *base, bool allow_v,
                       struct json_err *e)
{
    const cJSON *member[PROTO__FIELDS_MAX] = {NULL};
    size_t next = 0;
    enum err rc;

    LOOM_ASSERT(t->n_fields <= PROTO__FIELDS_MAX);
    /* One pass over the members: each found field's first occurrence (as
     * a lookup by key would find it), and unknown members refused before
     * anything is decoded: a misspelt optional member must not pass. */
    for (const cJSON *c = obj->child; c; c = c->next) {
        size_t i = field_index(t, c->string, next);
        if (i < t->n_fields) {
            if (member[i] == NULL)
                member[i] = c;
            next = i + 1;
        } else if (!(allow_v && strcmp(c->string, "v") == 0)) {
            char key[48];
            size_t n = strlen(c->string);
            /* Path text is ours; cap an attacker's key before quoting it. */
            memcpy(key, c->string, n < sizeof key - 1 ? n : sizeof key - 1);
            key[n < sizeof key - 1 ? n : sizeof key - 1] = '\0';
            return json_fail(e, key, ERR_INVAL, "unknown field");
        }
    }
    for (size_t i = 0; i < t->n_fields; i++) {
        /* A view of <obj> that starts at the field's member (or holds none):
         * the typed readers below look the key up in it and find it at once,
         * the same member a lookup in <obj> would return. */
        cJSON view;
        memset(&view, 0, sizeof view);
        view.type = cJSON_Object;
        view.child = (cJSON *)member[i]; /* only read */
        rc = decode_field(&view, &t->fields[i], base, e);
        if (rc != ERR_OK)
            return rc;
    }
    if (t->check)
        return t->check(base, e);
    return ERR_OK;
}

/* Validate a string the way the decoder would. */
static enum err check_str(const struct proto__field *f, const char *s, struct json_err *e)
{
    size_t len = strlen(s);
    if (len > (size_t)f->max)
        return json_fail(e, f->key, ERR_TOOBIG, "longer than %zu bytes", (size_t)f->max);
    if (len < (size_t)f->min)
        return json_fail(e, f->key, ERR_INVAL, "shorter than %zu bytes", (size_t)f->min);
    if (!json_utf8_valid(s, len))
        return json_fail(e, f->key, ERR_INVAL, "not valid UTF-8");
    return ERR_OK;
}

static enum err encode_field(cJSON *obj, const struct proto__field *f, const void *base,
                             struct json_err *e)
{
    const void *p = CAT(base, f->off);
    enum err rc;
    if (!is_present(f, base)) {
        if (f->required)
            return json_fail(e, f->key, ERR_INVAL, "required");
        return ERR_OK;
    }
    switch (f->kind) {
    case PK_STR:
        rc = check_str(f, *(char *const *)p, e);
        if (rc == ERR_OK)
            rc = json_add_str(obj, f->key, *(char *const *)p);
        break;
    case PK_INT: {
        int64_t v = *(const int64_t *)p;
        if (v < f->min || v > f->max)
            return json_fail(e, f->key, ERR_RANGE, "must be between %lld and %lld",
                             (long long)f->min, (long long)f->max);
        rc = json_add_int(obj, f->key, v);
        break;
    }
    case PK_BOOL:
        rc = json_add_bool(obj, f->key, *(const bool *)p);
        break;
    case PK_ENUM: {
        int v = *(const int *)p;
        if (v < 0 || (size_t)v >= f->n_names)
            return json_fail(e, f->key, ERR_RANGE, "enumeration value %d out of range", v);
        rc = json_add_str(obj, f->key, f->names[v]);
        break;
    }
    case PK_ADDR:
    case PK_HASH:
        rc = json_add_hex(obj, f->key, (const uint8_t *)p, bytes_len(f->kind));
        break;
    case PK_U256:
        rc = json_add_u256(obj, f->key, (const uint8_t *)p);
        break;
    case PK_OBJ: {
        cJSON *sub = NULL;
        rc = json_add_object(obj, f->key, &sub);
        if (rc == ERR_OK) {
            size_t mark = json_path_push(e, f->key);
            rc = proto__encode(sub, f->sub, p, e);
            json_path_pop(e, mark);
        }
        break;
    }
    case PK_ARR: {
        const char *items = *(const char *const *)p;
        size_t n = *(const size_t *)CAT(base, f->count_off);
        cJSON *arr = NULL;
        if (n > (size_t)f->max)
            return json_fail(e, f->key, ERR_TOOBIG, "more than %zu items", (size_t)f->max);
        if (n == 0 && !f->required)
            return ERR_OK;
        rc = json_add_array(obj, f->key, &arr);
        size_t mark = json_path_push(e, f->key);
        for (size_t i = 0; i < n && rc == ERR_OK; i++) {
            cJSON *item = NULL;
            size_t m2 = json_path_push_index(e, i);
            rc = json_add_object(arr, NULL, &item);
            if (rc == ERR_OK)
                rc = proto__encode(item, f->sub, items + i * f->sub->size, e);
            json_path_pop(e, m2);
        }
        json_path_pop(e, mark);
        break;
    }
    default:
        LOOM_ASSERT(!"unknown field kind");
        return ERR_INVAL;
    }
    if (rc == ERR_NOMEM)
        return json_fail(e, f->key, rc, "out of memory");
    return rc;
}

enum err proto__encode(cJSON *obj, const struct proto__type *t, const void *base,
                       struct json_err *e)
{
    enum err rc;
    if (t->check) {
        rc = t->check(base, e);
        if (rc != ERR_OK)
            return rc;
    }
    for (size_t i = 0; i < t->n_fields; i++) {
        rc = encode_field(obj, &t->fields[i], base, e);
        if (rc != ERR_OK)
            return rc;
    }
    return ERR_OK;
}

void proto__release(const struct proto__type *t, void *base)
{
    for (size_t i = 0; i < t->n_fields; i++) {
        const struct proto__field *f = &t->fields[i];
        void *p = AT(base, f->off);
        if (f->kind == PK_STR) {
            free(*(char **)p);
        } else if (f->kind == PK_OBJ) {
            proto__release(f->sub, p);
        } else if (f->kind == PK_ARR) {
            char *items = *(char **)p;
            size_t n = *(size_t *)AT(base, f->count_off);
            for (size_t k = 0; items && k < n; k++)
                proto__release(f->sub, items + k * f->sub->size);
            free(items);
        }
    }
    memset(base, 0, t->size);
}

bool proto__equal(const struct proto__type *t, const void *a, const void *b)
{
    for (size_t i = 0; i < t->n_fields; i++) {
        const struct proto__field *f = &t->fields[i];
        const void *pa = CAT(a, f->off), *pb = CAT(b, f->off);
        bool ha = is_present(f, a), hb = is_present(f, b);
        if (ha != hb)
            return false;
        if (!ha)
            continue;
        switch (f->kind) {
        case PK_STR:
            if (strcmp(*(char *const *)pa, *(char *const *)pb) != 0)
                return false;
            break;
        case PK_INT:
            if (*(const int64_t *)pa != *(const int64_t *)pb)
                return false;
            break;
        case PK_BOOL:
            if (*(const bool *)pa != *(const bool *)pb)
                return false;
            break;
        case PK_ENUM:
            if (*(const int *)pa != *(const int *)pb)
                return false;
            break;
        case PK_ADDR:
        case PK_HASH:
        case PK_U256:
            if (memcmp(pa, pb, bytes_len(f->kind)) != 0)
                return false;
            break;
        case PK_OBJ:
            if (!proto__equal(f->sub, pa, pb))
                return false;
            break;
        case PK_ARR: {
            size_t na = *(const size_t *)CAT(a, f->count_off);
            size_t nb = *(const size_t *)CAT(b, f->count_off);
            const char *ia = *(const char *const *)pa, *ib = *(const char *const *)pb;
            if (na != nb)
                return false;
            for (size_t k = 0; k < na; k++)
                if (!proto__equal(f->sub, ia + k * f->sub->size, ib + k * f->sub->size))
                    return false;
            break;
        }
        }
    }
    return true;
}

enum err proto__parse(const char *data, size_t len, cJSON **root, struct json_err *e)
{
    cJSON *r = NULL;
    enum err rc = json_parse(data, len, PROTO_MAX_MSG_BYTES, PROTO_MAX_DEPTH, &r, e);
    if (rc != ERR_OK)
        return rc;
    rc = json_expect_object(r, NULL, e);
    if (rc != ERR_OK)
        goto fail;
    /* The version decides how to read everything else, so it goes first. */
    int64_t v = 0;
    rc = json_get_int(r, "v", JSON_REQUIRED, -JSON_INT_MAX, JSON_INT_MAX, &v, e);
    if (rc != ERR_OK)
        goto fail;
    if (v != PROTO_VERSION) {
        rc = json_fail(e, "v", ERR_VERSION,
                       "unsupported protocol version %lld (this build speaks %d)", (long long)v,
                       PROTO_VERSION);
        goto fail;
    }
    *root = r;
    return ERR_OK;
fail:
    json_free(r);
    return rc;
}

enum err proto__new_root(cJSON **root)
{
    cJSON *r = NULL;
    enum err rc = json_new_object(&r);
    if (rc != ERR_OK)
        return rc;
    rc = json_add_int(r, "v", PROTO_VERSION);
    if (rc != ERR_OK) {
        json_free(r);
        return rc;
    }
    *root = r;
    return ERR_OK;
}

enum err proto__decode_msg(const char *data, size_t len, const struct proto__type *t, void *base,
                           struct json_err *e)
{
    cJSON *root = NULL;
    memset(base, 0, t->size);
    enum err rc = proto__parse(data, len, &root, e);
    if (rc != ERR_OK)
        return rc;
    rc = proto__decode(root, t, base, true, e);
    json_free(root);
    if (rc != ERR_OK)
        proto__release(t, base);
    return rc;
}

enum err proto__encode_msg(const struct proto__type *t, const void *base, struct buf *out,
                           struct json_err *e)
{
    cJSON *root = NULL;
    enum err rc = proto__new_root(&root);
    if (rc == ERR_OK)
        rc = proto__encode(root, t, base, e);
    if (rc == ERR_OK)
        rc = json_print(root, out);
    json_free(root);
    return rc;
}
