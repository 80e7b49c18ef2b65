/*
 * codec -- the table-driven engine behind every proto/ message (internal).
 *
 * A message body is a C struct described by a struct proto__type: one row per
 * member with its key, kind, offset, optionality and bounds. One walker
 * decodes, one encodes (validating the same bounds, so nothing invalid goes
 * out), one compares, one frees. Cross-member rules go in the type's check
 * function, which both directions run.
 * Not for use outside proto/: the public API is in job.h, feed.h, cmd.h.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_PROTO_CODEC_H
#define LOOM_PROTO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct cJSON;

enum proto__kind {
    PK_STR,  /* char *: heap string, NULL when an optional one is absent */
    PK_INT,  /* int64_t in [min, max] */
    PK_BOOL, /* bool */
    PK_ENUM, /* an enum (int-sized) indexing names[0..n_names) */
    PK_ADDR, /* uint8_t[20] */
    PK_HASH, /* uint8_t[32] */
    PK_U256, /* uint8_t[32] big-endian, a decimal string on the wire */
    PK_OBJ,  /* an embedded struct of type sub */
    PK_ARR,  /* a heap array of sub elements; size_t count at count_off; max items = max */
};

/* has_off value for members without a presence flag. */
#define PROTO__NO_HAS ((size_t)-1)

struct proto__type;

struct proto__field {
    const char *key;
    enum proto__kind kind;
    bool required;
    size_t off;               /* the value */
    size_t has_off;           /* optional non-pointer members: a bool set when present */
    int64_t min, max;         /* PK_INT bounds; PK_STR length bounds in bytes; PK_ARR max */
    const char *const *names; /* PK_ENUM */
    size_t n_names;
    const struct proto__type *sub; /* PK_OBJ, PK_ARR */
    size_t count_off;              /* PK_ARR */
};

/* Most fields in one type (proto__decode() keeps a pointer per field on
 * the stack); test_proto checks every type against it. */
#define PROTO__FIELDS_MAX 64

struct proto__type {
    const char *name; /* as docs/PROTOCOL.md heads its member table */
    size_t size;      /* sizeof the struct */
    const struct proto__field *fields;
    size_t n_fields;
    /* Cross-member rules, run after decoding and before encoding; records
     * failures in e relative to the object's path. NULL: none. */
    enum err (*check)(const void *obj, struct json_err *e);
};

/* Row builders: S is the struct, M the member (and has_M its flag). */
#define PF_ROW(key, kind, req, off, has, lo, hi, names, n, sub, count)                             \
    {                                                                                              \
        key, kind, req, off, has, lo, hi, names, n, sub, count                                     \
    }
#define PF_STR(S, M, req, lo, hi)                                                                  \
    PF_ROW(#M, PK_STR, req, offsetof(S, M), PROTO__NO_HAS, lo, hi, NULL, 0, NULL, 0)
#define PF_INT(S, M, lo, hi)                                                                       \
    PF_ROW(#M, PK_INT, true, offsetof(S, M), PROTO__NO_HAS, lo, hi, NULL, 0, NULL, 0)
#define PF_INT_OPT(S, M, lo, hi)                                                                   \
    PF_ROW(#M, PK_INT, false, offsetof(S, M), offsetof(S, has_##M), lo, hi, NULL, 0, NULL, 0)
#define PF_BOOL(S, M)                                                                              \
    PF_ROW(#M, PK_BOOL, true, offsetof(S, M), PROTO__NO_HAS, 0, 0, NULL, 0, NULL, 0)
#define PF_ENUM(S, M, names, n)                                                                    \
    PF_ROW(#M, PK_ENUM, true, offsetof(S, M), PROTO__NO_HAS, 0, 0, names, n, NULL, 0)
#define PF_ENUM_OPT(S, M, names, n)                                                                \
    PF_ROW(#M, PK_ENUM, false, offsetof(S, M), offsetof(S, has_##M), 0, 0, names, n, NULL, 0)
#define PF_BYTES(K, S, M) PF_ROW(#M, K, true, offsetof(S, M), PROTO__NO_HAS, 0, 0, NULL, 0, NULL, 0)
#define PF_BYTES_OPT(K, S, M)                                                                      \
    PF_ROW(#M, K, false, offsetof(S, M), offsetof(S, has_##M), 0, 0, NULL, 0, NULL, 0)
#define PF_OBJ(S, M, T)                                                                            \
    PF_ROW(#M, PK_OBJ, true, offsetof(S, M), PROTO__NO_HAS, 0, 0, NULL, 0, &(T), 0)
#define PF_OBJ_OPT(S, M, T)                                                                        \
    PF_ROW(#M, PK_OBJ, false, offsetof(S, M), offsetof(S, has_##M), 0, 0, NULL, 0, &(T), 0)
#define PF_ARR(S, M, req, T, max_items)                                                            \
    PF_ROW(#M, PK_ARR, req, offsetof(S, M), PROTO__NO_HAS, 0, max_items, NULL, 0, &(T),            \
           offsetof(S, n_##M))

#define PROTO__N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Decode the object <obj> into <base> (zeroed by the caller) by <t>.
 * allow_v: accept a "v" member (the envelope checked it already).
 * On failure <base> may hold partial allocations: release it with
 * proto__release(). Errors as the json_get_* readers, plus ERR_INVAL
 * "unknown field" and whatever t->check reports.
 */
LOOM_MUST_CHECK enum err proto__decode(const struct cJSON *obj, const struct proto__type *t,
                                       void *base, bool allow_v, struct json_err *e);

/* Add the members of <base> to the object <obj> by <t>, validating each
 * value as the decoder would. ERR_INVAL / ERR_RANGE / ERR_TOOBIG with the
 * member's path, ERR_NOMEM. */
LOOM_MUST_CHECK enum err proto__encode(struct cJSON *obj, const struct proto__type *t,
                                       const void *base, struct json_err *e);

/* Free what proto__decode() allocated in <base> and zero it. */
void proto__release(const struct proto__type *t, void *base);

/* True if every member described by <t> is equal in <a> and <b>. */
bool proto__equal(const struct proto__type *t, const void *a, const void *b);

/* Parse a whole message: size and depth caps, an object at the root, and
 * "v" == PROTO_VERSION (ERR_VERSION otherwise). *root is the caller's. */
LOOM_MUST_CHECK enum err proto__parse(const char *data, size_t len, struct cJSON **root,
                                      struct json_err *e);

/* Make a root object holding "v": PROTO_VERSION. */
LOOM_MUST_CHECK enum err proto__new_root(struct cJSON **root);

/* Decode a message made of <t>'s members plus "v". */
LOOM_MUST_CHECK enum err proto__decode_msg(const char *data, size_t len,
                                           const struct proto__type *t, void *base,
                                           struct json_err *e);

/* Encode <base> as a message (v plus t's members), appended to <out>. */
LOOM_MUST_CHECK enum err proto__encode_msg(const struct proto__type *t, const void *base,
                                           struct buf *out, struct json_err *e);

/* The job record's type (job.c), embedded in replies by cmd.c. */
extern const struct proto__type proto__job_type;

/* The named types, for proto_type_*(); defined in job.c, feed.c, cmd.c. */
extern const struct proto__type *const proto__job_types[];
extern const size_t proto__n_job_types;
extern const struct proto__type *const proto__feed_types[];
extern const size_t proto__n_feed_types;
extern const struct proto__type *const proto__cmd_types[];
extern const size_t proto__n_cmd_types;

#endif
