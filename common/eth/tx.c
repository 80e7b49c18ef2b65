/*
 * tx -- transaction encoding and decoding on top of rlp.c. The signed and
 * unsigned forms share one field writer; the signature fields are appended
 * (or EIP-155's chain_id, 0, 0) before the list is closed.
 * SPDX-License-Identifier: MIT
 */
#include "eth/tx.h"

#include <string.h>

#include "eth/keccak.h"
#include "eth/key.h"
#include "eth/rlp.h"

/* The largest legacy chain id whose v (chain_id * 2 + 36) fits in 64 bits. */
#define LEGACY_MAX_CHAIN_ID ((UINT64_MAX - 36) / 2)

void tx_init(struct tx *t, enum tx_type type, uint64_t chain_id)
{
    memset(t, 0, sizeof(*t));
    t->type = type;
    t->chain_id = chain_id;
    buf_init(&t->data, TX_MAX_DATA);
    buf_init(&t->access_list, TX_MAX_ACCESS_LIST);
}

void tx_release(struct tx *t)
{
    if (!t)
        return;
    buf_release(&t->data);
    buf_release(&t->access_list);
}

static enum err sig_word(struct buf *b, const uint8_t w[32])
{
    struct u256 v;
    enum err e = u256_from_be(w, 32, &v);
    LOOM_ASSERT(e == ERR_OK);
    return rlp_append_u256(b, v);
}

/* Append the RLP list of <t>'s fields; with_sig adds v/r/s (or y_parity/r/s),
 * otherwise the signing form. */
static enum err encode(const struct tx *t, bool with_sig, struct buf *out)
{
    enum err e = ERR_OK;
    size_t rollback = out->len, start;
    if (t->type == TX_EIP1559) {
        e = buf_append_byte(out, 0x02);
        if (e != ERR_OK)
            goto fail;
    } else if (t->type != TX_LEGACY || t->chain_id > LEGACY_MAX_CHAIN_ID) {
        return ERR_INVAL;
    }
    start = out->len;
    if (t->type == TX_EIP1559) {
        if ((e = rlp_append_u64(out, t->chain_id)) != ERR_OK ||
            (e = rlp_append_u64(out, t->nonce)) != ERR_OK ||
            (e = rlp_append_u256(out, t->max_priority_fee_per_gas)) != ERR_OK ||
            (e = rlp_append_u256(out, t->max_fee_per_gas)) != ERR_OK)
            goto fail;
    } else {
        if ((e = rlp_append_u64(out, t->nonce)) != ERR_OK ||
            (e = rlp_append_u256(out, t->gas_price)) != ERR_OK)
            goto fail;
    }
    if ((e = rlp_append_u64(out, t->gas_limit)) != ERR_OK ||
        (e = rlp_append_bytes(out, t->to, t->has_to ? 20 : 0)) != ERR_OK ||
        (e = rlp_append_u256(out, t->value)) != ERR_OK ||
        (e = rlp_append_bytes(out, t->data.data, t->data.len)) != ERR_OK)
        goto fail;
    if (t->type == TX_EIP1559) {
        if (t->access_list.len)
            e = rlp_append_raw(out, t->access_list.data, t->access_list.len);
        else
            e = rlp_append_raw(out, "\xc0", 1);
        if (e != ERR_OK)
            goto fail;
    }
    if (with_sig) {
        if (t->type == TX_EIP1559)
            e = rlp_append_u64(out, t->sig.recid);
        else if (t->chain_id == 0)
            e = rlp_append_u64(out, 27u + t->sig.recid);
        else
            e = rlp_append_u64(out, t->chain_id * 2 + 35 + t->sig.recid);
        if (e != ERR_OK || (e = sig_word(out, t->sig.r)) != ERR_OK ||
            (e = sig_word(out, t->sig.s)) != ERR_OK)
            goto fail;
    } else if (t->type == TX_LEGACY && t->chain_id != 0) {
        if ((e = rlp_append_u64(out, t->chain_id)) != ERR_OK ||
            (e = rlp_append_u64(out, 0)) != ERR_OK || (e = rlp_append_u64(out, 0)) != ERR_OK)
            goto fail;
    }
    e = rlp_end_list(out, start);
    if (e != ERR_OK)
        goto fail;
    return ERR_OK;
fail:
    out->len = rollback;
    if (out->data)
        out->data[rollback] = '\0';
    return e;
}

enum err tx_signing_payload(const struct tx *t, struct buf *out)
{
    return encode(t, false, out);
}

/* Hash what encode() writes, in a scratch buffer sized for the calldata. */
static enum err hash_encoding(const struct tx *t, bool with_sig, uint8_t hash[32])
{
    struct buf tmp;
    buf_init(&tmp, TX_MAX_DATA + TX_MAX_ACCESS_LIST + 1024);
    enum err e = encode(t, with_sig, &tmp);
    if (e == ERR_OK)
        keccak256(tmp.data, tmp.len, hash);
    buf_release(&tmp);
    return e;
}

enum err tx_signing_hash(const struct tx *t, uint8_t hash[32])
{
    return hash_encoding(t, false, hash);
}

enum err tx_sign(struct tx *t, const struct key *k)
{
    uint8_t h[32];
    enum err e = tx_signing_hash(t, h);
    if (e != ERR_OK)
        return e;
    e = ecdsa_sign(k->priv, h, &t->sig);
    if (e != ERR_OK)
        return e;
    t->is_signed = true;
    return ERR_OK;
}

enum err tx_encode_raw(const struct tx *t, struct buf *out)
{
    if (!t->is_signed)
        return ERR_STATE;
    return encode(t, true, out);
}

enum err tx_hash(const struct tx *t, uint8_t hash[32])
{
    if (!t->is_signed)
        return ERR_STATE;
    return hash_encoding(t, true, hash);
}

enum err tx_recover_sender(const struct tx *t, uint8_t addr[20])
{
    if (!t->is_signed)
        return ERR_STATE;
    uint8_t h[32];
    enum err e = tx_signing_hash(t, h);
    if (e != ERR_OK)
        return e;
    return ecdsa_recover_address(h, &t->sig, addr);
}

/* r or s: a canonical integer of at most 32 bytes, left-padded. */
static enum err read_word(const struct rlp_item *it, uint8_t out[32])
{
    struct u256 v;
    enum err e = rlp_item_u256(it, &v);
    if (e != ERR_OK)
        return e;
    u256_to_be(v, out);
    return ERR_OK;
}

/* EIP-2930 access list: [[address(20), [storage_key(32), ...]], ...]. */
static enum err check_access_list(const struct rlp_item *al)
{
    if (al->kind != RLP_LIST)
        return ERR_INVAL;
    struct rlp_iter it, keys;
    struct rlp_item entry, key;
    enum err e;
    rlp_iter_init(&it, al);
    while ((e = rlp_iter_next(&it, &entry)) == ERR_OK) {
        struct rlp_item parts[2];
        size_t n;
        if (rlp_list_items(&entry, parts, 2, &n) != ERR_OK || n != 2)
            return ERR_INVAL;
        if (parts[0].kind != RLP_STRING || parts[0].len != 20 || parts[1].kind != RLP_LIST)
            return ERR_INVAL;
        rlp_iter_init(&keys, &parts[1]);
        while ((e = rlp_iter_next(&keys, &key)) == ERR_OK) {
            if (key.kind != RLP_STRING || key.len != 32)
                return ERR_INVAL;
        }
        if (e != ERR_NOTFOUND)
            return e;
    }
    return e == ERR_NOTFOUND ? ERR_OK : e;
}

static enum err decode_fields(const struct rlp_item *f, size_t n, struct tx *t)
{
    enum err e;
    size_t i = 0;
    uint64_t v = 0;
    bool type2 = t->type == TX_EIP1559;
    if (n != (type2 ? 12u : 9u))
        return ERR_INVAL;
    if (type2 && (e = rlp_item_u64(&f[i++], &t->chain_id)) != ERR_OK)
        return e;
    if ((e = rlp_item_u64(&f[i++], &t->nonce)) != ERR_OK)
        return e;
    if (t->nonce == UINT64_MAX) /* EIP-2681 */
        return ERR_RANGE;
    if (type2) {
        if ((e = rlp_item_u256(&f[i++], &t->max_priority_fee_per_gas)) != ERR_OK ||
            (e = rlp_item_u256(&f[i++], &t->max_fee_per_gas)) != ERR_OK)
            return e;
    } else if ((e = rlp_item_u256(&f[i++], &t->gas_price)) != ERR_OK) {
        return e;
    }
    if ((e = rlp_item_u64(&f[i++], &t->gas_limit)) != ERR_OK)
        return e;
    const struct rlp_item *to = &f[i++];
    if (to->kind != RLP_STRING || (to->len != 0 && to->len != 20))
        return ERR_INVAL;
    t->has_to = to->len == 20;
    if (t->has_to)
        memcpy(t->to, to->payload, 20);
    if ((e = rlp_item_u256(&f[i++], &t->value)) != ERR_OK)
        return e;
    const struct rlp_item *data = &f[i++];
    if (data->kind != RLP_STRING)
        return ERR_INVAL;
    if ((e = buf_append(&t->data, data->payload, data->len)) != ERR_OK)
        return e;
    if (type2) {
        const struct rlp_item *al = &f[i++];
        if ((e = check_access_list(al)) != ERR_OK)
            return e;
        if (al->raw_len != 1 && (e = buf_append(&t->access_list, al->raw, al->raw_len)) != ERR_OK)
            return e;
    }
    if ((e = rlp_item_u64(&f[i++], &v)) != ERR_OK)
        return e;
    if (type2) {
        if (v > 1)
            return ERR_INVAL;
        t->sig.recid = (uint8_t)v;
    } else if (v == 27 || v == 28) {
        t->chain_id = 0;
        t->sig.recid = (uint8_t)(v - 27);
    } else if (v >= 37) {
        t->chain_id = (v - 35) / 2;
        t->sig.recid = (uint8_t)((v - 35) % 2);
    } else {
        return ERR_INVAL;
    }
    if ((e = read_word(&f[i++], t->sig.r)) != ERR_OK ||
        (e = read_word(&f[i++], t->sig.s)) != ERR_OK)
        return e;
    t->is_signed = true;
    return ERR_OK;
}

enum err tx_decode_raw(const uint8_t *raw, size_t len, struct tx *out)
{
    enum tx_type type;
    enum err e;
    if (len == 0)
        return ERR_INVAL;
    if (raw[0] >= 0xc0) {
        type = TX_LEGACY;
    } else if (raw[0] == 0x02) {
        type = TX_EIP1559;
        raw++;
        len--;
    } else if (raw[0] <= 0x7f) {
        return ERR_VERSION; /* another EIP-2718 type */
    } else {
        return ERR_INVAL;
    }
    struct rlp_item top, f[12];
    size_t n = 0;
    e = rlp_decode(raw, len, &top);
    if (e != ERR_OK)
        return e == ERR_TOOBIG ? ERR_INVAL : e;
    e = rlp_list_items(&top, f, 12, &n);
    if (e != ERR_OK)
        return e;
    tx_init(out, type, 0);
    e = decode_fields(f, n, out);
    if (e != ERR_OK)
        tx_release(out);
    return e;
}
