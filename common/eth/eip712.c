/*
 * eip712 -- encodeType, encodeData and hashStruct over C type tables.
 * Struct references are resolved by name in the caller's table each time;
 * tables are small (a handful of types), so a linear search is enough.
 * SPDX-License-Identifier: MIT
 */
#include "eth/eip712.h"

#include <stdlib.h>
#include <string.h>

#include "eth/keccak.h"
#include "eth/key.h"

/* Length of the base type name of a member type (before any "["). */
static size_t base_len(const char *type)
{
    return strcspn(type, "[");
}

static const struct eip712_type *find_type(const struct eip712_types *ts, const char *name,
                                           size_t len)
{
    for (size_t i = 0; i < ts->n_types; i++) {
        if (strlen(ts->types[i].name) == len && memcmp(ts->types[i].name, name, len) == 0)
            return &ts->types[i];
    }
    return NULL;
}

/* Check a member type's base: a struct in ts, string, bytes, or an atomic ABI type. */
static enum err check_base(const struct eip712_types *ts, const char *type)
{
    size_t n = base_len(type);
    if (find_type(ts, type, n))
        return ERR_OK;
    char *base = strndup(type, n);
    if (!base)
        return ERR_NOMEM;
    struct abi_type *t = NULL;
    enum err e = abi_type_parse(base, &t);
    if (e == ERR_OK && (t->kind > ABI_STRING || base[0] == '('))
        e = ERR_INVAL; /* arrays are written as suffixes; tuples are structs here */
    else if (e == ERR_INVAL)
        e = ERR_NOTFOUND;
    abi_type_free(t);
    free(base);
    return e;
}

static enum err collect_deps(const struct eip712_types *ts, const struct eip712_type *t,
                             const struct eip712_type **found, size_t *n_found)
{
    for (size_t i = 0; i < *n_found; i++) {
        if (found[i] == t)
            return ERR_OK;
    }
    LOOM_ASSERT(*n_found < ts->n_types);
    found[(*n_found)++] = t;
    for (size_t i = 0; i < t->n_members; i++) {
        const char *mt = t->members[i].type;
        enum err e = check_base(ts, mt);
        if (e != ERR_OK)
            return e;
        const struct eip712_type *dep = find_type(ts, mt, base_len(mt));
        if (dep && (e = collect_deps(ts, dep, found, n_found)) != ERR_OK)
            return e;
    }
    return ERR_OK;
}

static int by_name(const void *a, const void *b)
{
    const struct eip712_type *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static enum err append_type(const struct eip712_type *t, struct buf *out)
{
    enum err e = buf_appendf(out, "%s(", t->name);
    for (size_t i = 0; e == ERR_OK && i < t->n_members; i++)
        e = buf_appendf(out, "%s%s %s", i ? "," : "", t->members[i].type, t->members[i].name);
    if (e == ERR_OK)
        e = buf_append_byte(out, ')');
    return e;
}

enum err eip712_encode_type(const struct eip712_types *ts, const char *primary, struct buf *out)
{
    const struct eip712_type *p = find_type(ts, primary, strlen(primary));
    if (!p)
        return ERR_NOTFOUND;
    const struct eip712_type **found = calloc(ts->n_types, sizeof(*found));
    if (!found)
        return ERR_NOMEM;
    size_t n = 0, old = out->len;
    enum err e = collect_deps(ts, p, found, &n);
    if (e == ERR_OK) {
        qsort(found + 1, n - 1, sizeof(*found), by_name); /* primary first, then by name */
        for (size_t i = 0; e == ERR_OK && i < n; i++)
            e = append_type(found[i], out);
    }
    if (e != ERR_OK) {
        out->len = old;
        if (out->data)
            out->data[old] = '\0';
    }
    free(found);
    return e;
}

enum err eip712_type_hash(const struct eip712_types *ts, const char *primary, uint8_t out[32])
{
    struct buf b;
    buf_init(&b, 0);
    enum err e = eip712_encode_type(ts, primary, &b);
    if (e == ERR_OK)
        keccak256(b.data, b.len, out);
    buf_release(&b);
    return e;
}

static enum err hash_struct(const struct eip712_types *ts, const struct eip712_type *t,
                            const struct abi_value *v, int depth, uint8_t out[32]);

/* The 32-byte encodeData word of value <v> of member type <type> (the first
 * <len> characters of it: array suffixes are peeled from the right). */
static enum err encode_value(const struct eip712_types *ts, const char *type, size_t len,
                             const struct abi_value *v, int depth, uint8_t out[32])
{
    if (depth > EIP712_MAX_DEPTH)
        return ERR_TOOBIG;
    if (len > 0 && type[len - 1] == ']') {
        /* T[k] or T[]: keccak256 of the concatenated element words */
        size_t open = len - 1;
        while (open > 0 && type[open] != '[')
            open--;
        if (type[open] != '[')
            return ERR_INVAL;
        if (open + 2 < len) {
            size_t k = 0;
            for (size_t i = open + 1; i + 1 < len; i++) {
                if (type[i] < '0' || type[i] > '9' || k > ABI_MAX_FIXED_LEN)
                    return ERR_INVAL;
                k = k * 10 + (size_t)(type[i] - '0');
            }
            if (k != v->n_items)
                return ERR_INVAL;
        }
        struct keccak_ctx c;
        keccak_init(&c);
        for (size_t i = 0; i < v->n_items; i++) {
            uint8_t w[32];
            enum err e = encode_value(ts, type, open, &v->items[i], depth + 1, w);
            if (e != ERR_OK)
                return e;
            keccak_update(&c, w, 32);
        }
        keccak_digest(&c, out);
        return ERR_OK;
    }
    const struct eip712_type *st = find_type(ts, type, len);
    if (st)
        return hash_struct(ts, st, v, depth + 1, out);
    if ((len == 6 && memcmp(type, "string", 6) == 0) ||
        (len == 5 && memcmp(type, "bytes", 5) == 0)) {
        keccak256(v->bytes, v->len, out);
        return ERR_OK;
    }
    char *base = strndup(type, len);
    if (!base)
        return ERR_NOMEM;
    struct abi_type *at = NULL;
    struct buf w;
    buf_init(&w, 32);
    enum err e = abi_type_parse(base, &at);
    if (e == ERR_INVAL)
        e = ERR_NOTFOUND;
    if (e == ERR_OK && at->kind > ABI_BYTES_N)
        e = ERR_INVAL;
    if (e == ERR_OK)
        e = abi_encode(at, v, &w); /* range and padding checks */
    if (e == ERR_OK)
        memcpy(out, w.data, 32);
    buf_release(&w);
    abi_type_free(at);
    free(base);
    return e;
}

static enum err encode_data(const struct eip712_types *ts, const struct eip712_type *t,
                            const struct abi_value *v, int depth, struct buf *out)
{
    uint8_t w[32];
    if (v->n_items != t->n_members)
        return ERR_INVAL;
    enum err e = eip712_type_hash(ts, t->name, w);
    if (e == ERR_OK)
        e = buf_append(out, w, 32);
    for (size_t i = 0; e == ERR_OK && i < t->n_members; i++) {
        const char *mt = t->members[i].type;
        e = encode_value(ts, mt, strlen(mt), &v->items[i], depth, w);
        if (e == ERR_OK)
            e = buf_append(out, w, 32);
    }
    return e;
}

static enum err hash_struct(const struct eip712_types *ts, const struct eip712_type *t,
                            const struct abi_value *v, int depth, uint8_t out[32])
{
    struct buf b;
    buf_init(&b, 0);
    enum err e = encode_data(ts, t, v, depth, &b);
    if (e == ERR_OK)
        keccak256(b.data, b.len, out);
    buf_release(&b);
    return e;
}

enum err eip712_encode_data(const struct eip712_types *ts, const char *primary,
                            const struct abi_value *v, struct buf *out)
{
    const struct eip712_type *t = find_type(ts, primary, strlen(primary));
    if (!t)
        return ERR_NOTFOUND;
    size_t old = out->len;
    enum err e = encode_data(ts, t, v, 0, out);
    if (e != ERR_OK) {
        out->len = old;
        if (out->data)
            out->data[old] = '\0';
    }
    return e;
}

enum err eip712_hash_struct(const struct eip712_types *ts, const char *primary,
                            const struct abi_value *v, uint8_t out[32])
{
    const struct eip712_type *t = find_type(ts, primary, strlen(primary));
    if (!t)
        return ERR_NOTFOUND;
    return hash_struct(ts, t, v, 0, out);
}

enum err eip712_domain_separator(const struct eip712_domain *d, uint8_t out[32])
{
    struct eip712_member m[5];
    struct abi_value v = {0};
    size_t n = 0;
    enum err e = abi_value_items(&v, 5);
    if (e != ERR_OK)
        return e;
    if (d->name) {
        m[n] = (struct eip712_member){"string", "name"};
        e = abi_value_bytes(&v.items[n++], d->name, strlen(d->name));
    }
    if (e == ERR_OK && d->version) {
        m[n] = (struct eip712_member){"string", "version"};
        e = abi_value_bytes(&v.items[n++], d->version, strlen(d->version));
    }
    if (e == ERR_OK && d->has_chain_id) {
        m[n] = (struct eip712_member){"uint256", "chainId"};
        abi_value_uint(&v.items[n++], u256_from_u64(d->chain_id));
    }
    if (e == ERR_OK && d->has_verifying_contract) {
        m[n] = (struct eip712_member){"address", "verifyingContract"};
        abi_value_address(&v.items[n++], d->verifying_contract);
    }
    if (e == ERR_OK && d->has_salt) {
        m[n] = (struct eip712_member){"bytes32", "salt"};
        e = abi_value_fixed_bytes(&v.items[n++], d->salt, 32);
    }
    if (e == ERR_OK) {
        struct eip712_type dt = {"EIP712Domain", m, n};
        struct eip712_types ts = {&dt, 1};
        v.n_items = n; /* the unused tail items are empty; release frees all 5 */
        e = eip712_hash_struct(&ts, "EIP712Domain", &v, out);
        v.n_items = 5;
    }
    abi_value_release(&v);
    return e;
}

void eip712_digest(const uint8_t domain_separator[32], const uint8_t struct_hash[32],
                   uint8_t out[32])
{
    struct keccak_ctx c;
    keccak_init(&c);
    keccak_update(&c, "\x19\x01", 2);
    keccak_update(&c, domain_separator, 32);
    keccak_update(&c, struct_hash, 32);
    keccak_digest(&c, out);
}

enum err eip712_sign(const struct key *k, const uint8_t domain_separator[32],
                     const uint8_t struct_hash[32], struct sig *out)
{
    uint8_t h[32];
    eip712_digest(domain_separator, struct_hash, h);
    return ecdsa_sign(k->priv, h, out);
}

enum err eip712_recover(const uint8_t domain_separator[32], const uint8_t struct_hash[32],
                        const uint8_t rsv[65], uint8_t addr[20])
{
    struct sig s;
    uint8_t h[32];
    enum err e = sig_from_rsv(rsv, &s);
    if (e != ERR_OK)
        return e;
    eip712_digest(domain_separator, struct_hash, h);
    return ecdsa_recover_address(h, &s, addr);
}
