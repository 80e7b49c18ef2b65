/*
 * libFuzzer target for the gateway's request parsing: request heads and
 * body framing (intake), multipart bodies, JSON bodies (codec), query
 * strings, routes, EIP-4361 messages. The first byte picks the parser; the
 * rest is the input. SPDX-License-Identifier: MIT
 */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "services/gateway/auth.h"
#include "services/gateway/codec.h"
#include "services/gateway/intake.h"
#include "services/gateway/multipart.h"
#include "services/gateway/routes.h"
#include "services/gateway/store.h"
#include "services/gateway/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *g_store;
static struct intake_limits g_limits = {1 << 16, 1 << 14, 8192, 1024, 8, 4096};

static enum intake_sink classify(void *arg, const struct intake_head *h)
{
    (void)arg;
    const struct route *r = NULL;
    struct route_params p;
    buf_init(&p.name, 1024);
    struct buf path;
    buf_init(&path, 8192);
    enum intake_sink s = INTAKE_SINK_BUFFER;
    if (buf_append(&path, h->target, strcspn(h->target, "?")) == ERR_OK &&
        routes_match(h->method, buf_cstr(&path), &r, &p) == ERR_OK)
        s = routes_sink(r, h->content_type);
    buf_release(&path);
    buf_release(&p.name);
    return s;
}

static enum err mp_begin(void *arg, const struct multipart_part *p)
{
    (void)arg;
    return validate_filename(p->filename ? p->filename : "x") == ERR_OK ? ERR_OK : ERR_INVAL;
}

static enum err mp_data(void *arg, const void *p, size_t n)
{
    (void)arg;
    (void)p;
    (void)n;
    return ERR_OK;
}

static enum err mp_end(void *arg)
{
    (void)arg;
    return ERR_OK;
}

static char *cstr(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_store == NULL) {
        char dir[] = "/tmp/loom-fuzz-gw.XXXXXX";
        if (mkdtemp(dir) == NULL || store_open(dir, &g_store) != ERR_OK)
            abort();
    }
    if (size < 2)
        return 0;
    unsigned mode = data[0] % 6, chunk = (unsigned)data[1] + 1;
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    struct buf msg;
    buf_init(&msg, 1024);
    switch (mode) {
    case 0: { /* whole requests through the intake state machine */
        struct intake *in;
        if (intake_new(g_store, &g_limits, classify, NULL, &in) != ERR_OK)
            break;
        struct intake_body *out[8];
        size_t got = 0;
        if (intake_feed_for_test(in, p, n, chunk, out, &got, 8) == ERR_OK)
            for (size_t i = 0; i < got; i++)
                intake_body_free(out[i]);
        intake_free(in);
        break;
    }
    case 1: { /* a multipart body with a fixed boundary */
        struct multipart_cbs cbs = {mp_begin, mp_data, mp_end, NULL};
        struct multipart *m;
        if (multipart_new("b0und", &cbs, 512, 8, &m) != ERR_OK)
            break;
        enum err e = ERR_OK;
        for (size_t off = 0; off < n && e == ERR_OK; off += chunk)
            e = multipart_feed(m, p + off, n - off < chunk ? n - off : chunk);
        (void)multipart_finish(m);
        multipart_free(m);
        break;
    }
    case 2: { /* JSON bodies */
        struct codec_job_fields f;
        if (codec_parse_job_fields((const char *)p, n, &f, &msg) == ERR_OK)
            codec_job_fields_release(&f);
        int progress;
        (void)codec_parse_progress((const char *)p, n, &progress, &msg);
        char *a = NULL, *b = NULL;
        if (codec_parse_siwe((const char *)p, n, &a, &b, &msg) == ERR_OK) {
            free(a);
            free(b);
        }
        (void)codec_check_object((const char *)p, n);
        break;
    }
    case 3: { /* query strings and the values the gateway validates */
        char *s = cstr(p, n);
        if (s == NULL)
            break;
        struct evkeyvalq q;
        if (evhttp_parse_query_str(s, &q) == 0) {
            for (struct evkeyval *kv = q.tqh_first; kv != NULL; kv = kv->next.tqe_next) {
                int64_t v;
                (void)validate_int64(kv->value, 1, 100, &v);
                (void)validate_address(kv->value);
            }
        }
        evhttp_clear_headers(&q);
        free(s);
        break;
    }
    case 4: { /* routes */
        char *s = cstr(p, n);
        if (s == NULL)
            break;
        const struct route *r;
        struct route_params rp;
        buf_init(&rp.name, 1024);
        (void)routes_match(chunk % 2 ? "GET" : "POST", s, &r, &rp);
        buf_release(&rp.name);
        (void)validate_filename(s);
        free(s);
        break;
    }
    case 5: { /* EIP-4361 messages and multipart Content-Type values */
        char *s = cstr(p, n);
        if (s == NULL)
            break;
        struct auth_siwe siwe;
        if (auth_siwe_parse(s, &siwe, &msg) == ERR_OK)
            auth_siwe_release(&siwe);
        struct buf bd;
        buf_init(&bd, 128);
        (void)multipart_boundary(s, &bd);
        buf_release(&bd);
        free(s);
        break;
    }
    }
    buf_release(&msg);
    return 0;
}
