/*
 * docs/PROTOCOL.md against proto/: every message kind in the code has a
 * "### `kind`" section with an example that decodes, re-encodes and decodes
 * again to an equal message (and no section names a kind the code lacks);
 * every object type has a "### type `name`" section whose member table
 * lists exactly the code's keys, in wire order (and no section names a type
 * the code lacks). Run from the repository root (scripts/test.sh does).
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define MAX_SECTIONS 128
#define MAX_KEYS     64

struct section {
    bool is_type;
    char *name;
    char *example;        /* first fenced block of a kind section */
    char *keys[MAX_KEYS]; /* member table rows of a type section */
    size_t n_keys;
    bool seen; /* matched by the code */
};

struct doc {
    struct section s[MAX_SECTIONS];
    size_t n;
};

/* Copy the text between the first pair of backquotes of <line>. */
static char *backquoted(const char *line)
{
    const char *a = strchr(line, '`');
    if (!a)
        return NULL;
    const char *b = strchr(a + 1, '`');
    if (!b)
        return NULL;
    return strndup(a + 1, (size_t)(b - a - 1));
}

static void load(struct doc *d)
{
    FILE *f = fopen("docs/PROTOCOL.md", "r");
    if (!f)
        fail_msg("cannot open docs/PROTOCOL.md: run from the repository root");
    memset(d, 0, sizeof *d);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    struct section *cur = NULL;
    bool in_fence = false;
    struct buf fence;
    buf_init(&fence, 0);
    while ((n = getline(&line, &cap, f)) != -1) {
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (strncmp(line, "```", 3) == 0) {
            if (in_fence && cur && !cur->is_type && !cur->example)
                cur->example = strdup(buf_cstr(&fence));
            in_fence = !in_fence;
            buf_reset(&fence);
            continue;
        }
        if (in_fence) {
            if (fence.len)
                assert_int_equal(buf_append_byte(&fence, '\n'), ERR_OK);
            assert_int_equal(buf_append_str(&fence, line), ERR_OK);
            continue;
        }
        if (line[0] == '#') {
            cur = NULL;
            if (strncmp(line, "### `", 5) == 0 || strncmp(line, "### type `", 10) == 0) {
                assert_true(d->n < MAX_SECTIONS);
                cur = &d->s[d->n++];
                cur->is_type = strncmp(line, "### type ", 9) == 0;
                cur->name = backquoted(line);
                assert_non_null(cur->name);
            }
            continue;
        }
        if (cur && cur->is_type && strncmp(line, "| `", 3) == 0) {
            assert_true(cur->n_keys < MAX_KEYS);
            cur->keys[cur->n_keys++] = backquoted(line);
        }
    }
    free(line);
    buf_release(&fence);
    fclose(f);
    assert_false(in_fence);
}

static void unload(struct doc *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->s[i].name);
        free(d->s[i].example);
        for (size_t k = 0; k < d->s[i].n_keys; k++)
            free(d->s[i].keys[k]);
    }
}

static struct section *find(struct doc *d, bool is_type, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->s[i].is_type == is_type && strcmp(d->s[i].name, name) == 0)
            return &d->s[i];
    return NULL;
}

static void test_every_kind_documented_and_decodes(void **state)
{
    (void)state;
    struct doc d;
    load(&d);
    for (size_t i = 0; i < proto_kind_count(); i++) {
        const char *kind = proto_kind_name(i);
        struct section *s = find(&d, false, kind);
        if (!s)
            fail_msg("message kind %s has no \"### `%s`\" section in docs/PROTOCOL.md", kind, kind);
        s->seen = true;
        if (!s->example)
            fail_msg("section %s has no example", kind);
        struct json_err e;
        bool stable = false;
        json_err_init(&e);
        enum err rc = proto_kind_roundtrip(i, s->example, strlen(s->example), NULL, &stable, &e);
        if (rc != ERR_OK)
            fail_msg("example of %s does not decode: %s at \"%s\": %s", kind, err_code(rc), e.path,
                     e.message);
        if (!stable)
            fail_msg("example of %s does not survive re-encoding", kind);
    }
    for (size_t i = 0; i < d.n; i++)
        if (!d.s[i].is_type && !d.s[i].seen)
            fail_msg("docs/PROTOCOL.md documents kind %s, which proto/ does not have", d.s[i].name);
    unload(&d);
}

static void test_every_type_documented_with_its_members(void **state)
{
    (void)state;
    struct doc d;
    load(&d);
    for (size_t i = 0; i < proto_type_count(); i++) {
        const char *name = proto_type_name(i);
        struct section *s = find(&d, true, name);
        if (!s)
            fail_msg("type %s has no \"### type `%s`\" section in docs/PROTOCOL.md", name, name);
        s->seen = true;
        size_t n = proto_type_field_count(i);
        for (size_t k = 0; k < n || k < s->n_keys; k++) {
            const char *code = k < n ? proto_type_field_key(i, k) : "(none)";
            const char *doc = k < s->n_keys ? s->keys[k] : "(none)";
            if (strcmp(code, doc) != 0)
                fail_msg("type %s member %zu: the code has %s, docs/PROTOCOL.md has %s", name, k,
                         code, doc);
        }
    }
    for (size_t i = 0; i < d.n; i++)
        if (d.s[i].is_type && !d.s[i].seen)
            fail_msg("docs/PROTOCOL.md documents type %s, which proto/ does not have", d.s[i].name);
    unload(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_documented_and_decodes),
        cmocka_unit_test(test_every_type_documented_with_its_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
