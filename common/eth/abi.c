/*
 * abi -- a recursive-descent type parser, a head/tail encoder and a
 * bounds-checked decoder. The decoder charges every value it creates and
 * every byte it copies against budgets proportional to the input, so
 * offsets that point many times at the same data cannot make it do more
 * than linear work.
 * SPDX-License-Identifier: MIT
 */
#include "eth/abi.h"

#include <stdlib.h>
#include <string.h>

#include "eth/keccak.h"

/* ---- types ---- */

struct parser {
    const char *s;
    size_t pos;
};

static void skip_ws(struct parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n')
        p->pos++;
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Read an identifier; returns its length (0 if none). */
static size_t read_ident(struct parser *p, const char **start)
{
    *start = p->s + p->pos;
    if (!is_ident_start(p->s[p->pos]))
        return 0;
    size_t n = 0;
    while (is_ident_char(p->s[p->pos + n]))
        n++;
    p->pos += n;
    return n;
}

static struct abi_type *type_new(enum abi_kind kind)
{
    struct abi_type *t = calloc(1, sizeof(*t));
    if (t)
        t->kind = kind;
    return t;
}

void abi_type_free(struct abi_type *t)
{
    if (!t)
        return;
    abi_type_free(t->elem);
    for (size_t i = 0; i < t->n_members; i++)
        abi_type_free(t->members[i]);
    free(t->members);
    free(t);
}

bool abi_type_is_dynamic(const struct abi_type *t)
{
    switch (t->kind) {
    case ABI_BYTES:
    case ABI_STRING:
    case ABI_ARRAY:
        return true;
    case ABI_FIXED_ARRAY:
        return abi_type_is_dynamic(t->elem);
    case ABI_TUPLE:
        for (size_t i = 0; i < t->n_members; i++) {
            if (abi_type_is_dynamic(t->members[i]))
                return true;
        }
        return false;
    default:
        return false;
    }
}

/* Bytes a type takes in the head of its enclosing sequence. Static sizes
 * are bounded by ABI_MAX_STATIC at parse time, so this cannot overflow. */
static size_t head_size(const struct abi_type *t)
{
    if (abi_type_is_dynamic(t))
        return 32;
    if (t->kind == ABI_FIXED_ARRAY)
        return t->length * head_size(t->elem);
    if (t->kind == ABI_TUPLE) {
        size_t n = 0;
        for (size_t i = 0; i < t->n_members; i++)
            n += head_size(t->members[i]);
        return n;
    }
    return 32;
}

/* Parse decimal digits at p into *out (no leading zero, bounded). */
static enum err parse_uint(const char *s, size_t n, size_t max, size_t *out)
{
    if (n == 0 || (n > 1 && s[0] == '0'))
        return ERR_INVAL;
    size_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return ERR_INVAL;
        v = v * 10 + (size_t)(s[i] - '0');
        if (v > max)
            return ERR_TOOBIG;
    }
    *out = v;
    return ERR_OK;
}

static bool ident_is(const char *id, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(id, word, n) == 0;
}

static enum err parse_elementary(const char *id, size_t n, struct abi_type **out)
{
    enum abi_kind kind;
    unsigned size = 0;
    if (ident_is(id, n, "address")) {
        kind = ABI_ADDRESS;
    } else if (ident_is(id, n, "bool")) {
        kind = ABI_BOOL;
    } else if (ident_is(id, n, "string")) {
        kind = ABI_STRING;
    } else if (ident_is(id, n, "bytes")) {
        kind = ABI_BYTES;
    } else if (ident_is(id, n, "uint") || ident_is(id, n, "int")) {
        kind = id[0] == 'u' ? ABI_UINT : ABI_INT; /* aliases of the 256-bit types */
        size = 256;
    } else {
        size_t pl, sz;
        if (n > 4 && memcmp(id, "uint", 4) == 0) {
            kind = ABI_UINT;
            pl = 4;
        } else if (n > 3 && memcmp(id, "int", 3) == 0) {
            kind = ABI_INT;
            pl = 3;
        } else if (n > 5 && memcmp(id, "bytes", 5) == 0) {
            kind = ABI_BYTES_N;
            pl = 5;
        } else {
            return ERR_INVAL;
        }
        if (parse_uint(id + pl, n - pl, 256, &sz) != ERR_OK)
            return ERR_INVAL;
        bool ok = kind == ABI_BYTES_N ? (sz >= 1 && sz <= 32) : (sz >= 8 && sz % 8 == 0);
        if (!ok)
            return ERR_INVAL;
        size = (unsigned)sz;
    }
    struct abi_type *t = type_new(kind);
    if (!t)
        return ERR_NOMEM;
    t->size = size;
    *out = t;
    return ERR_OK;
}

static enum err parse_type(struct parser *p, int depth, struct abi_type **out);

/*
 * Parse "(T1 [indexed] [name], ...)" at p. With <indexed> non-NULL (events),
 * the "indexed" keyword is allowed and *indexed receives one flag per
 * member (owned by the caller).
 */
static enum err parse_params(struct parser *p, int depth, bool **indexed, struct abi_type **out)
{
    enum err e = ERR_OK;
    bool *flags = NULL;
    struct abi_type *t = type_new(ABI_TUPLE);
    if (!t)
        return ERR_NOMEM;
    skip_ws(p);
    if (p->s[p->pos] != '(') {
        e = ERR_INVAL;
        goto fail;
    }
    p->pos++;
    skip_ws(p);
    if (p->s[p->pos] == ')') {
        p->pos++;
        goto done;
    }
    for (;;) {
        struct abi_type *m = NULL;
        e = parse_type(p, depth + 1, &m);
        if (e != ERR_OK)
            goto fail;
        struct abi_type **mm = realloc(t->members, (t->n_members + 1) * sizeof(*mm));
        if (!mm) {
            abi_type_free(m);
            e = ERR_NOMEM;
            goto fail;
        }
        t->members = mm;
        t->members[t->n_members++] = m;
        if (indexed) {
            bool *ff = realloc(flags, t->n_members * sizeof(*ff));
            if (!ff) {
                e = ERR_NOMEM;
                goto fail;
            }
            flags = ff;
            flags[t->n_members - 1] = false;
        }
        skip_ws(p);
        const char *id;
        size_t n = read_ident(p, &id);
        if (indexed && n == 7 && memcmp(id, "indexed", 7) == 0) {
            flags[t->n_members - 1] = true;
            skip_ws(p);
            n = read_ident(p, &id);
        }
        (void)n; /* a parameter name: accepted and dropped */
        skip_ws(p);
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == ')') {
            p->pos++;
            break;
        }
        e = ERR_INVAL;
        goto fail;
    }
done:
    if (indexed)
        *indexed = flags;
    *out = t;
    return ERR_OK;
fail:
    free(flags);
    abi_type_free(t);
    return e;
}

/* Static size with overflow and cap checks. */
static enum err check_static_size(const struct abi_type *t)
{
    if (abi_type_is_dynamic(t))
        return ERR_OK;
    size_t total = 32;
    if (t->kind == ABI_FIXED_ARRAY) {
        size_t el = head_size(t->elem);
        if (t->length > ABI_MAX_STATIC / el)
            return ERR_TOOBIG;
        total = t->length * el;
    } else if (t->kind == ABI_TUPLE) {
        total = 0;
        for (size_t i = 0; i < t->n_members; i++) {
            total += head_size(t->members[i]);
            if (total > ABI_MAX_STATIC)
                return ERR_TOOBIG;
        }
    }
    return total > ABI_MAX_STATIC ? ERR_TOOBIG : ERR_OK;
}

static enum err parse_type(struct parser *p, int depth, struct abi_type **out)
{
    enum err e;
    struct abi_type *t = NULL;
    if (depth > ABI_MAX_DEPTH)
        return ERR_TOOBIG;
    skip_ws(p);
    const char *id;
    size_t save = p->pos;
    size_t n = read_ident(p, &id);
    if (n == 5 && memcmp(id, "tuple", 5) == 0 && p->s[p->pos] == '(') {
        n = 0;
    } else if (n == 0 && p->s[p->pos] != '(') {
        return ERR_INVAL;
    }
    if (n == 0) {
        e = parse_params(p, depth, NULL, &t);
        if (e != ERR_OK)
            return e;
        if (t->n_members == 0 && depth > 0) {
            abi_type_free(t);
            return ERR_INVAL; /* an empty tuple has no encoding of its own */
        }
    } else {
        /* identifiers may run into digits: re-read [a-z0-9]+ as one token */
        p->pos = save;
        size_t k = 0;
        while ((p->s[p->pos + k] >= 'a' && p->s[p->pos + k] <= 'z') ||
               (p->s[p->pos + k] >= '0' && p->s[p->pos + k] <= '9'))
            k++;
        e = parse_elementary(p->s + p->pos, k, &t);
        if (e != ERR_OK)
            return e;
        p->pos += k;
    }
    while (p->s[p->pos] == '[') {
        size_t start = ++p->pos, len = 0;
        while (p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
        if (p->s[p->pos] != ']') {
            e = ERR_INVAL;
            goto fail;
        }
        bool fixed = p->pos > start;
        if (fixed) {
            e = parse_uint(p->s + start, p->pos - start, ABI_MAX_FIXED_LEN, &len);
            if (e == ERR_OK && len == 0)
                e = ERR_INVAL;
            if (e != ERR_OK)
                goto fail;
        }
        p->pos++;
        if (++depth > ABI_MAX_DEPTH) {
            e = ERR_TOOBIG;
            goto fail;
        }
        struct abi_type *a = type_new(fixed ? ABI_FIXED_ARRAY : ABI_ARRAY);
        if (!a) {
            e = ERR_NOMEM;
            goto fail;
        }
        if (t->kind == ABI_TUPLE && t->n_members == 0) {
            free(a);
            e = ERR_INVAL;
            goto fail;
        }
        a->elem = t;
        a->length = len;
        t = a;
        e = check_static_size(t);
        if (e != ERR_OK)
            goto fail;
    }
    e = check_static_size(t);
    if (e != ERR_OK)
        goto fail;
    *out = t;
    return ERR_OK;
fail:
    abi_type_free(t);
    return e;
}

enum err abi_type_parse(const char *s, struct abi_type **out)
{
    if (strnlen(s, ABI_MAX_TYPE_LEN + 1) > ABI_MAX_TYPE_LEN)
        return ERR_TOOBIG;
    struct parser p = {s, 0};
    struct abi_type *t = NULL;
    enum err e = parse_type(&p, 0, &t);
    if (e != ERR_OK)
        return e;
    skip_ws(&p);
    if (p.s[p.pos] != '\0') {
        abi_type_free(t);
        return ERR_INVAL;
    }
    *out = t;
    return ERR_OK;
}

enum err abi_type_canonical(const struct abi_type *t, struct buf *out)
{
    enum err e = ERR_OK;
    switch (t->kind) {
    case ABI_UINT:
        return buf_appendf(out, "uint%u", t->size);
    case ABI_INT:
        return buf_appendf(out, "int%u", t->size);
    case ABI_ADDRESS:
        return buf_append_str(out, "address");
    case ABI_BOOL:
        return buf_append_str(out, "bool");
    case ABI_BYTES_N:
        return buf_appendf(out, "bytes%u", t->size);
    case ABI_BYTES:
        return buf_append_str(out, "bytes");
    case ABI_STRING:
        return buf_append_str(out, "string");
    case ABI_ARRAY:
        if ((e = abi_type_canonical(t->elem, out)) != ERR_OK)
            return e;
        return buf_append_str(out, "[]");
    case ABI_FIXED_ARRAY:
        if ((e = abi_type_canonical(t->elem, out)) != ERR_OK)
            return e;
        return buf_appendf(out, "[%zu]", t->length);
    case ABI_TUPLE:
        if ((e = buf_append_byte(out, '(')) != ERR_OK)
            return e;
        for (size_t i = 0; i < t->n_members; i++) {
            if (i && (e = buf_append_byte(out, ',')) != ERR_OK)
                return e;
            if ((e = abi_type_canonical(t->members[i], out)) != ERR_OK)
                return e;
        }
        return buf_append_byte(out, ')');
    }
    return ERR_INVAL;
}

/* ---- values ---- */

void abi_value_uint(struct abi_value *v, struct u256 x)
{
    u256_to_be(x, v->word);
}

void abi_value_int64(struct abi_value *v, int64_t x)
{
    memset(v->word, x < 0 ? 0xff : 0, 32);
    for (int i = 0; i < 8; i++)
        v->word[31 - i] = (uint8_t)((uint64_t)x >> (8 * i));
}

enum err abi_value_int_neg(struct abi_value *v, struct u256 mag)
{
    struct u256 limit = {{0, 0, 0, (uint64_t)1 << 63}}, r;
    if (u256_cmp(mag, limit) > 0)
        return ERR_RANGE;
    /* two's complement: ~(mag - 1); mag == 0 gives 0 */
    if (u256_is_zero(mag)) {
        memset(v->word, 0, 32);
        return ERR_OK;
    }
    enum err e = u256_sub(mag, u256_from_u64(1), &r);
    LOOM_ASSERT(e == ERR_OK);
    for (int i = 0; i < 4; i++)
        r.w[i] = ~r.w[i];
    u256_to_be(r, v->word);
    return ERR_OK;
}

void abi_value_address(struct abi_value *v, const uint8_t addr[20])
{
    memset(v->word, 0, 12);
    memcpy(v->word + 12, addr, 20);
}

void abi_value_bool(struct abi_value *v, bool b)
{
    memset(v->word, 0, 32);
    v->word[31] = b ? 1 : 0;
}

enum err abi_value_fixed_bytes(struct abi_value *v, const void *p, size_t n)
{
    if (n < 1 || n > 32)
        return ERR_INVAL;
    memset(v->word, 0, 32);
    memcpy(v->word, p, n);
    return ERR_OK;
}

enum err abi_value_bytes(struct abi_value *v, const void *p, size_t n)
{
    uint8_t *copy = malloc(n + 1);
    if (!copy)
        return ERR_NOMEM;
    if (n)
        memcpy(copy, p, n);
    copy[n] = '\0';
    free(v->bytes);
    v->bytes = copy;
    v->len = n;
    return ERR_OK;
}

void abi_value_release(struct abi_value *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_items; i++)
        abi_value_release(&v->items[i]);
    free(v->items);
    free(v->bytes);
    memset(v, 0, sizeof(*v));
}

enum err abi_value_items(struct abi_value *v, size_t n)
{
    struct abi_value *items = calloc(n ? n : 1, sizeof(*items));
    if (!items)
        return ERR_NOMEM;
    for (size_t i = 0; i < v->n_items; i++)
        abi_value_release(&v->items[i]);
    free(v->items);
    v->items = items;
    v->n_items = n;
    return ERR_OK;
}

struct u256 abi_value_u256(const struct abi_value *v)
{
    struct u256 r;
    enum err e = u256_from_be(v->word, 32, &r);
    LOOM_ASSERT(e == ERR_OK);
    return r;
}

/* Does a scalar word fit its type? (clean padding, range, bool 0/1) */
static bool word_fits(const struct abi_type *t, const uint8_t w[32])
{
    switch (t->kind) {
    case ABI_UINT: {
        size_t pad = 32 - t->size / 8;
        for (size_t i = 0; i < pad; i++) {
            if (w[i])
                return false;
        }
        return true;
    }
    case ABI_INT: {
        size_t pad = 32 - t->size / 8;
        uint8_t ext = (w[pad] & 0x80) ? 0xff : 0x00;
        for (size_t i = 0; i < pad; i++) {
            if (w[i] != ext)
                return false;
        }
        return true;
    }
    case ABI_ADDRESS:
        for (size_t i = 0; i < 12; i++) {
            if (w[i])
                return false;
        }
        return true;
    case ABI_BOOL:
        for (size_t i = 0; i < 31; i++) {
            if (w[i])
                return false;
        }
        return w[31] <= 1;
    case ABI_BYTES_N:
        for (size_t i = t->size; i < 32; i++) {
            if (w[i])
                return false;
        }
        return true;
    default:
        return false;
    }
}

/* ---- encoding ---- */

static enum err put_len_word(struct buf *out, size_t n)
{
    uint8_t w[32] = {0};
    for (int i = 0; i < 8; i++)
        w[31 - i] = (uint8_t)((uint64_t)n >> (8 * i));
    return buf_append(out, w, 32);
}

static enum err enc(const struct abi_type *t, const struct abi_value *v, struct buf *out);

/* Encode a sequence (tuple members or array elements): heads, then tails. */
static enum err enc_seq(const struct abi_type *const *types, const struct abi_type *same,
                        const struct abi_value *items, size_t n, struct buf *out)
{
    size_t head = 0;
    for (size_t i = 0; i < n; i++)
        head += head_size(same ? same : types[i]);
    struct buf tail;
    buf_init(&tail, out->max_bytes);
    enum err e = ERR_OK;
    for (size_t i = 0; i < n; i++) {
        const struct abi_type *ti = same ? same : types[i];
        if (abi_type_is_dynamic(ti)) {
            if (head > SIZE_MAX - tail.len) {
                e = ERR_TOOBIG;
                break;
            }
            if ((e = put_len_word(out, head + tail.len)) != ERR_OK ||
                (e = enc(ti, &items[i], &tail)) != ERR_OK)
                break;
        } else if ((e = enc(ti, &items[i], out)) != ERR_OK) {
            break;
        }
    }
    if (e == ERR_OK)
        e = buf_append(out, tail.data, tail.len);
    buf_release(&tail);
    return e;
}

static enum err enc(const struct abi_type *t, const struct abi_value *v, struct buf *out)
{
    enum err e;
    switch (t->kind) {
    case ABI_UINT:
    case ABI_INT:
    case ABI_ADDRESS:
    case ABI_BOOL:
    case ABI_BYTES_N:
        if (!word_fits(t, v->word))
            return ERR_RANGE;
        return buf_append(out, v->word, 32);
    case ABI_BYTES:
    case ABI_STRING: {
        static const uint8_t zeros[32];
        if ((e = put_len_word(out, v->len)) != ERR_OK ||
            (e = buf_append(out, v->bytes, v->len)) != ERR_OK)
            return e;
        return buf_append(out, zeros, (32 - v->len % 32) % 32);
    }
    case ABI_ARRAY:
        if ((e = put_len_word(out, v->n_items)) != ERR_OK)
            return e;
        return enc_seq(NULL, t->elem, v->items, v->n_items, out);
    case ABI_FIXED_ARRAY:
        if (v->n_items != t->length)
            return ERR_INVAL;
        return enc_seq(NULL, t->elem, v->items, v->n_items, out);
    case ABI_TUPLE:
        if (v->n_items != t->n_members)
            return ERR_INVAL;
        return enc_seq((const struct abi_type *const *)t->members, NULL, v->items, v->n_items, out);
    }
    return ERR_INVAL;
}

enum err abi_encode(const struct abi_type *t, const struct abi_value *v, struct buf *out)
{
    size_t old = out->len;
    enum err e = enc(t, v, out);
    if (e != ERR_OK) {
        out->len = old;
        if (out->data)
            out->data[old] = '\0';
    }
    return e;
}

/* ---- decoding ---- */

struct budget {
    size_t values; /* values still allowed */
    size_t bytes;  /* bytes of bytes/string still allowed */
};

/* Read a 32-byte word as a size, failing when it exceeds <max>. */
static bool word_to_size(const uint8_t w[32], size_t max, size_t *out)
{
    for (int i = 0; i < 24; i++) {
        if (w[i])
            return false;
    }
    uint64_t v = 0;
    for (int i = 24; i < 32; i++)
        v = v << 8 | w[i];
    if (v > max)
        return false;
    *out = (size_t)v;
    return true;
}

static enum err dec(const struct abi_type *t, const uint8_t *p, size_t avail, struct budget *b,
                    struct abi_value *v);

/* Decode n items laid out as a sequence starting at p (avail bytes). */
static enum err dec_seq(const struct abi_type *const *types, const struct abi_type *same,
                        const uint8_t *p, size_t avail, size_t n, struct budget *b,
                        struct abi_value *v)
{
    if (n > b->values)
        return ERR_TOOBIG;
    b->values -= n;
    enum err e = abi_value_items(v, n);
    if (e != ERR_OK)
        return e;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const struct abi_type *ti = same ? same : types[i];
        size_t hs = head_size(ti);
        if (hs > avail - pos)
            return ERR_INVAL;
        if (abi_type_is_dynamic(ti)) {
            size_t off;
            if (!word_to_size(p + pos, avail, &off))
                return ERR_INVAL;
            e = dec(ti, p + off, avail - off, b, &v->items[i]);
        } else {
            e = dec(ti, p + pos, hs, b, &v->items[i]);
        }
        if (e != ERR_OK)
            return e;
        pos += hs;
    }
    return ERR_OK;
}

static enum err dec(const struct abi_type *t, const uint8_t *p, size_t avail, struct budget *b,
                    struct abi_value *v)
{
    size_t n;
    switch (t->kind) {
    case ABI_UINT:
    case ABI_INT:
    case ABI_ADDRESS:
    case ABI_BOOL:
    case ABI_BYTES_N:
        if (avail < 32 || !word_fits(t, p))
            return ERR_INVAL;
        memcpy(v->word, p, 32);
        return ERR_OK;
    case ABI_BYTES:
    case ABI_STRING:
        if (avail < 32 || !word_to_size(p, avail - 32, &n))
            return ERR_INVAL;
        if (n > b->bytes)
            return ERR_TOOBIG;
        b->bytes -= n;
        return abi_value_bytes(v, p + 32, n);
    case ABI_ARRAY: {
        if (avail < 32 || !word_to_size(p, avail - 32, &n))
            return ERR_INVAL;
        size_t hs = head_size(t->elem); /* >= 32: empty tuples are refused by the parser */
        if (n > (avail - 32) / hs)
            return ERR_INVAL;
        return dec_seq(NULL, t->elem, p + 32, avail - 32, n, b, v);
    }
    case ABI_FIXED_ARRAY:
        return dec_seq(NULL, t->elem, p, avail, t->length, b, v);
    case ABI_TUPLE:
        return dec_seq((const struct abi_type *const *)t->members, NULL, p, avail, t->n_members, b,
                       v);
    }
    return ERR_INVAL;
}

enum err abi_decode(const struct abi_type *t, const uint8_t *data, size_t len,
                    struct abi_value *out)
{
    memset(out, 0, sizeof(*out));
    /* A non-aliased encoding holds at most one value per 32-byte word per
     * nesting level and copies each data byte once. */
    struct budget b = {(len / 32 + 1) * (ABI_MAX_DEPTH + 1), len};
    return dec(t, data ? data : (const uint8_t *)"", len, &b, out);
}

/* ---- selectors and events ---- */

/* Parse "name(params)" into name and a tuple type; indexed as parse_params(). */
static enum err parse_signature(const char *sig, char **name, struct abi_type **params,
                                bool **indexed)
{
    if (strnlen(sig, ABI_MAX_TYPE_LEN + 1) > ABI_MAX_TYPE_LEN)
        return ERR_TOOBIG;
    struct parser p = {sig, 0};
    skip_ws(&p);
    const char *id;
    size_t n = read_ident(&p, &id);
    if (n == 0)
        return ERR_INVAL;
    struct abi_type *t = NULL;
    bool *flags = NULL;
    enum err e = parse_params(&p, 0, indexed ? &flags : NULL, &t);
    if (e != ERR_OK)
        return e;
    skip_ws(&p);
    if (p.s[p.pos] != '\0') {
        e = ERR_INVAL;
        goto fail;
    }
    *name = strndup(id, n);
    if (!*name) {
        e = ERR_NOMEM;
        goto fail;
    }
    *params = t;
    if (indexed)
        *indexed = flags;
    return ERR_OK;
fail:
    free(flags);
    abi_type_free(t);
    return e;
}

/* keccak256(name || canonical(params)) */
static enum err signature_hash(const char *name, const struct abi_type *params, uint8_t out[32])
{
    struct buf b;
    buf_init(&b, 2 * ABI_MAX_TYPE_LEN);
    enum err e = buf_append_str(&b, name);
    if (e == ERR_OK)
        e = abi_type_canonical(params, &b);
    if (e == ERR_OK)
        keccak256(b.data, b.len, out);
    buf_release(&b);
    return e;
}

enum err abi_selector(const char *sig, uint8_t out[4])
{
    char *name = NULL;
    struct abi_type *params = NULL;
    uint8_t h[32];
    enum err e = parse_signature(sig, &name, &params, NULL);
    if (e != ERR_OK)
        return e;
    e = signature_hash(name, params, h);
    if (e == ERR_OK)
        memcpy(out, h, 4);
    free(name);
    abi_type_free(params);
    return e;
}

enum err abi_encode_call(const char *sig, const struct abi_value *args, struct buf *out)
{
    char *name = NULL;
    struct abi_type *params = NULL;
    uint8_t h[32];
    size_t old = out->len;
    enum err e = parse_signature(sig, &name, &params, NULL);
    if (e != ERR_OK)
        return e;
    e = signature_hash(name, params, h);
    if (e == ERR_OK)
        e = buf_append(out, h, 4);
    if (e == ERR_OK)
        e = abi_encode(params, args, out);
    if (e != ERR_OK) {
        out->len = old;
        if (out->data)
            out->data[old] = '\0';
    }
    free(name);
    abi_type_free(params);
    return e;
}

void abi_event_free(struct abi_event *ev)
{
    if (!ev)
        return;
    free(ev->name);
    abi_type_free(ev->params);
    free(ev->indexed);
    free(ev);
}

enum err abi_event_parse(const char *sig, struct abi_event **out)
{
    struct abi_event *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return ERR_NOMEM;
    enum err e = parse_signature(sig, &ev->name, &ev->params, &ev->indexed);
    if (e != ERR_OK)
        goto fail;
    for (size_t i = 0; i < ev->params->n_members; i++)
        ev->n_indexed += ev->indexed[i];
    if (ev->n_indexed > 3) {
        e = ERR_INVAL;
        goto fail;
    }
    e = signature_hash(ev->name, ev->params, ev->topic0);
    if (e != ERR_OK)
        goto fail;
    *out = ev;
    return ERR_OK;
fail:
    abi_event_free(ev);
    return e;
}

enum err abi_event_topic(const char *sig, uint8_t out[32])
{
    struct abi_event *ev = NULL;
    enum err e = abi_event_parse(sig, &ev);
    if (e != ERR_OK)
        return e;
    memcpy(out, ev->topic0, 32);
    abi_event_free(ev);
    return ERR_OK;
}

static bool is_value_type(const struct abi_type *t)
{
    return t->kind <= ABI_BYTES_N;
}

enum err abi_event_decode(const struct abi_event *ev, const uint8_t (*topics)[32], size_t n_topics,
                          const uint8_t *data, size_t len, struct abi_value *out)
{
    memset(out, 0, sizeof(*out));
    if (n_topics == 0)
        return ERR_INVAL;
    if (memcmp(topics[0], ev->topic0, 32) != 0)
        return ERR_NOTFOUND;
    if (n_topics != 1 + ev->n_indexed)
        return ERR_INVAL;
    const struct abi_type *params = ev->params;
    size_t n = params->n_members, n_data = n - ev->n_indexed;
    /* The non-indexed parameters form one tuple encoded in data. */
    struct abi_type data_type = {.kind = ABI_TUPLE, .n_members = n_data};
    struct abi_type **members = calloc(n_data ? n_data : 1, sizeof(*members));
    struct abi_value dv = {0};
    enum err e = ERR_OK;
    if (!members)
        return ERR_NOMEM;
    for (size_t i = 0, j = 0; i < n; i++) {
        if (!ev->indexed[i])
            members[j++] = params->members[i];
    }
    data_type.members = members;
    e = abi_decode(&data_type, data, len, &dv);
    if (e != ERR_OK)
        goto out;
    e = abi_value_items(out, n);
    if (e != ERR_OK)
        goto out;
    for (size_t i = 0, ti = 1, di = 0; i < n; i++) {
        struct abi_value *v = &out->items[i];
        if (!ev->indexed[i]) {
            *v = dv.items[di]; /* move */
            memset(&dv.items[di], 0, sizeof(dv.items[di]));
            di++;
            continue;
        }
        const uint8_t *topic = topics[ti++];
        if (is_value_type(params->members[i])) {
            if (!word_fits(params->members[i], topic)) {
                e = ERR_INVAL;
                goto out;
            }
        } else {
            v->is_topic_hash = true;
        }
        memcpy(v->word, topic, 32);
    }
out:
    abi_value_release(&dv);
    free(members);
    return e;
}
