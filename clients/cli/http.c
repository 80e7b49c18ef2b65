/*
 * http -- libcurl easy handle, one per client; see http.h.
 * SPDX-License-Identifier: MIT
 */
#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sign.h"

struct http {
    CURL *curl;
    char *base;
    long timeout_ms;
    const struct key *signer;
    char curl_err[CURL_ERROR_SIZE];
    struct buf errmsg;
};

/* What the write and header callbacks fill for one call. */
struct xfer {
    struct http_response *out;
    int fd;               /* download target, or -1 */
    http_chunk_fn cb;     /* stream consumer, or NULL */
    void *cb_arg;
    bool stopped;         /* the consumer asked to stop */
    bool write_failed;    /* writing fd failed */
    enum err body_err;    /* buffering failed (ERR_TOOBIG, ERR_NOMEM) */
    CURL *curl;
};

void http_response_init(struct http_response *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, HTTP_MAX_BODY);
}

void http_response_release(struct http_response *r)
{
    if (r == NULL)
        return;
    buf_release(&r->body);
    free(r->sha256);
    r->sha256 = NULL;
}

static void reset_response(struct http_response *r)
{
    buf_reset(&r->body);
    free(r->sha256);
    r->sha256 = NULL;
    r->status = 0;
    r->retry_after_s = 0;
}

enum err http_new(const char *base_url, long timeout_ms, struct http **out)
{
    if (base_url == NULL ||
        (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0))
        return ERR_INVAL;
    /* Idempotent after the first call; rpc.c makes the same call. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ERR_IO;
    struct http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return ERR_NOMEM;
    buf_init(&h->errmsg, 1024);
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--; /* "http://gw/" and "http://gw" mean the same */
    h->base = strndup(base_url, n);
    h->timeout_ms = timeout_ms;
    h->curl = curl_easy_init();
    if (h->base == NULL || h->curl == NULL) {
        enum err e = h->base == NULL ? ERR_NOMEM : ERR_IO;
        http_free(h);
        return e;
    }
    *out = h;
    return ERR_OK;
}

void http_free(struct http *h)
{
    if (h == NULL)
        return;
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free(h->base);
    buf_release(&h->errmsg);
    free(h);
}

void http_set_signer(struct http *h, const struct key *k)
{
    h->signer = k;
}

const char *http_errmsg(const struct http *h)
{
    return buf_cstr(&h->errmsg);
}

static void set_errmsg(struct http *h, const char *what, const char *detail)
{
    buf_reset(&h->errmsg);
    if (buf_appendf(&h->errmsg, "%s%s%s", what, detail && *detail ? ": " : "",
                    detail ? detail : "") != ERR_OK)
        buf_reset(&h->errmsg);
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    long status = 0;
    if (curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        status = 0;
    if (status == 200 && x->fd != -1) {
        size_t done = 0;
        while (done < n) {
            ssize_t w = write(x->fd, p + done, n - done);
            if (w == -1 && errno == EINTR)
                continue;
            if (w <= 0) {
                x->write_failed = true;
                return 0;
            }
            done += (size_t)w;
        }
        return n;
    }
    if (status == 200 && x->cb != NULL) {
        if (x->cb(x->cb_arg, p, n) != 0) {
            x->stopped = true;
            return 0; /* makes libcurl abort the transfer */
        }
        return n;
    }
    enum err e = buf_append(&x->out->body, p, n);
    if (e != ERR_OK) {
        x->body_err = e;
        return 0;
    }
    return n;
}

/* Header value of <line> if its name is <name> (case-insensitive), else NULL;
 * *len gets the value's length without surrounding space and CRLF. */
static const char *header_value(const char *line, size_t n, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    *len = (size_t)(end - v);
    return v;
}

static size_t header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb, len = 0;
    const char *v;
    if ((v = header_value(p, n, "X-Loom-SHA256", &len)) != NULL) {
        free(x->out->sha256);
        x->out->sha256 = strndup(v, len);
    } else if ((v = header_value(p, n, "Retry-After", &len)) != NULL) {
        long s = 0;
        for (size_t i = 0; i < len && v[i] >= '0' && v[i] <= '9' && s < 86400; i++)
            s = s * 10 + (v[i] - '0');
        x->out->retry_after_s = s;
    }
    return n;
}

/* Map a libcurl failure to enum err (once, here). */
static enum err map_curl(struct http *h, CURLcode rc)
{
    const char *detail = h->curl_err[0] ? h->curl_err : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        set_errmsg(h, "connect", detail);
        return ERR_UNAVAILABLE;
    case CURLE_OPERATION_TIMEDOUT:
        set_errmsg(h, "timed out", detail);
        return ERR_TIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        set_errmsg(h, "out of memory", NULL);
        return ERR_NOMEM;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        set_errmsg(h, "connection broken", detail);
        return ERR_UNAVAILABLE;
    default:
        set_errmsg(h, "http", detail);
        return ERR_IO;
    }
}

/* Run one transfer already configured on h->curl except the callbacks. */
static enum err perform(struct http *h, struct xfer *x, struct curl_slist *headers)
{
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->curl_err);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "loom-cli/1");
    /* Long event streams sit idle for minutes: TCP keepalive notices a peer
     * that vanished without closing. */
    curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    h->curl_err[0] = '\0';
    x->curl = h->curl;
    CURLcode rc = curl_easy_perform(h->curl);
    long status = 0;
    if (curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
        x->out->status = status;
    if (x->stopped)
        return ERR_OK;
    if (x->body_err != ERR_OK) {
        set_errmsg(h, x->body_err == ERR_TOOBIG ? "response too large" : "out of memory", NULL);
        return x->body_err;
    }
    if (x->write_failed) {
        set_errmsg(h, "cannot write the download", strerror(errno));
        return ERR_IO;
    }
    if (rc != CURLE_OK)
        return map_curl(h, rc);
    return ERR_OK;
}

/* Common setup: URL and method; the caller adds the rest. */
static enum err setup(struct http *h, const char *method, const char *target, bool whole_timeout)
{
    struct buf url;
    buf_init(&url, 8192 + 1024);
    enum err e = buf_appendf(&url, "%s%s", h->base, target);
    if (e != ERR_OK) {
        buf_release(&url);
        return e;
    }
    curl_easy_reset(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_URL, url.data); /* libcurl copies it */
    buf_release(&url);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
    if (whole_timeout)
        curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    else
        curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    buf_reset(&h->errmsg);
    return ERR_OK;
}

static enum err add_header(struct curl_slist **list, const char *name, const char *value)
{
    struct buf line;
    buf_init(&line, 4096);
    enum err e = buf_appendf(&line, "%s: %s", name, value);
    if (e == ERR_OK) {
        struct curl_slist *n = curl_slist_append(*list, line.data);
        if (n == NULL)
            e = ERR_NOMEM;
        else
            *list = n;
    }
    buf_release(&line);
    return e;
}

enum err http_request(struct http *h, const char *method, const char *target,
                      const char *content_type, const void *body, size_t len, bool sign,
                      struct http_response *out)
{
    struct curl_slist *headers = NULL;
    struct xfer x = {.out = out, .fd = -1};
    enum err e;

    reset_response(out);
    if (sign && h->signer == NULL) {
        set_errmsg(h, "no key to sign the request with", NULL);
        return ERR_STATE;
    }
    if ((e = setup(h, method, target, true)) != ERR_OK)
        return e;
    if (body != NULL || strcmp(method, "GET") != 0) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    /* libcurl would add "Expect: 100-continue" to large bodies and wait. */
    if ((e = add_header(&headers, "Expect", "")) != ERR_OK)
        goto out;
    if (content_type && (e = add_header(&headers, "Content-Type", content_type)) != ERR_OK)
        goto out;
    if (sign) {
        struct sign_headers sh;
        e = sign_request(h->signer, method, target, body, len, (int64_t)time(NULL), NULL, &sh);
        if (e != ERR_OK) {
            set_errmsg(h, "cannot sign the request", err_str(e));
            goto out;
        }
        if ((e = add_header(&headers, "X-Loom-Address", sh.address)) != ERR_OK ||
            (e = add_header(&headers, "X-Loom-Timestamp", sh.timestamp)) != ERR_OK ||
            (e = add_header(&headers, "X-Loom-Nonce", sh.nonce)) != ERR_OK ||
            (e = add_header(&headers, "X-Loom-Signature", sh.signature)) != ERR_OK)
            goto out;
    }
    e = perform(h, &x, headers);
out:
    curl_slist_free_all(headers);
    return e;
}

enum err http_download(struct http *h, const char *target, int fd, struct http_response *out)
{
    struct xfer x = {.out = out, .fd = fd};
    reset_response(out);
    enum err e = setup(h, "GET", target, false);
    if (e != ERR_OK)
        return e;
    return perform(h, &x, NULL);
}

enum err http_stream(struct http *h, const char *target, const char *accept, http_chunk_fn cb,
                     void *arg, struct http_response *out)
{
    struct curl_slist *headers = NULL;
    struct xfer x = {.out = out, .fd = -1, .cb = cb, .cb_arg = arg};
    reset_response(out);
    enum err e = setup(h, "GET", target, false);
    if (e == ERR_OK && accept)
        e = add_header(&headers, "Accept", accept);
    if (e == ERR_OK) {
        e = perform(h, &x, headers);
        /* A 200 stream that ended without the consumer stopping it: the
         * server went away. */
        if (e == ERR_OK && !x.stopped && out->status == 200) {
            set_errmsg(h, "event stream closed by the server", NULL);
            e = ERR_UNAVAILABLE;
        }
    }
    curl_slist_free_all(headers);
    return e;
}
