/*
 * headsub -- the newHeads subscription thread: connect, subscribe, read,
 * ping when idle, and on any failure back off and start again.
 *
 * The thread waits only in ws calls and in poll() on the stop pipe's read
 * end, which every ws call watches too (ws_opts.cancel_fd): headsub_free()
 * writes one byte and the thread leaves whatever it was waiting on.
 * Signals are blocked on the thread, so a service's SIGTERM handler runs
 * on its main thread as before.
 *
 * SPDX-License-Identifier: MIT
 */
#include "eth/headsub.h"

#include <cJSON.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "ws.h"
#include "mono.h"

/* Longest subscription id kept: geth and anvil use 0x + 32 hex digits. */
#define SUB_ID_MAX 128

struct headsub {
    struct headsub_opts o;
    char *url;
    int stop_pipe[2];
    pthread_t thread;
    atomic_bool live;
    atomic_uint_fast64_t heads, attempts, failures;
    struct buf why; /* the current failure's text, for on_state_cb */
    char sub_id[SUB_ID_MAX + 1];
    uint64_t rng;
};

static const char subscribe_req[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_subscribe\",\"params\":[\"newHeads\"]}";

static void set_why(struct headsub *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(struct headsub *h, const char *fmt, ...)
{
    va_list ap;

    buf_reset(&h->why);
    va_start(ap, fmt);
    if (buf_vappendf(&h->why, fmt, ap) != ERR_OK)
        buf_reset(&h->why);
    va_end(ap);
}

/* A QUANTITY ("0x1b4") as uint64_t; 0 when absent or malformed. */
static uint64_t quantity(const cJSON *v)
{
    const char *s = cJSON_GetStringValue(v);
    uint64_t n = 0;
    size_t i;

    if (s == NULL || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || s[2] == '\0' || strlen(s) > 18)
        return 0;
    for (i = 2; s[i]; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return 0;
        n = n << 4 | (uint64_t)d;
    }
    return n;
}

/*
 * One message while waiting for the subscription reply. Sets *done and
 * the subscription id on a result; ERR_RPC on an error object; ERR_PROTO
 * on a reply with neither. Other messages are ignored (ERR_OK, !*done).
 */
static enum err on_reply(struct headsub *h, const char *text, bool *done)
{
    cJSON *j = cJSON_Parse(text);
    enum err e = ERR_OK;

    *done = false;
    if (j == NULL) {
        set_why(h, "eth_subscribe: the node's answer is not JSON");
        return ERR_PROTO;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    if (!cJSON_IsNumber(id) || id->valuedouble != 1.0)
        goto out;
    *done = true;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const char *res = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "result"));
    if (err != NULL) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(err, "message"));
        set_why(h, "eth_subscribe refused: %lld: %.200s",
                cJSON_IsNumber(code) ? (long long)code->valuedouble : 0LL, m ? m : "");
        e = ERR_RPC;
    } else if (res == NULL || res[0] == '\0' || strlen(res) > SUB_ID_MAX) {
        set_why(h, "eth_subscribe: no subscription id in the answer");
        e = ERR_PROTO;
    } else {
        snprintf(h->sub_id, sizeof h->sub_id, "%s", res);
    }
out:
    cJSON_Delete(j);
    return e;
}

/* One message on a live subscription: a notification of ours counts as a
 * head; anything else well-formed is ignored. ERR_PROTO when not JSON. */
static enum err on_message(struct headsub *h, const char *text)
{
    cJSON *j = cJSON_Parse(text);

    if (j == NULL) {
        set_why(h, "a message that is not JSON");
        return ERR_PROTO;
    }
    const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "method"));
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(j, "params");
    const char *sub =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(params, "subscription"));
    if (method != NULL && strcmp(method, "eth_subscription") == 0 && sub != NULL &&
        strcmp(sub, h->sub_id) == 0) {
        const cJSON *head = cJSON_GetObjectItemCaseSensitive(params, "result");
        uint64_t number = quantity(cJSON_GetObjectItemCaseSensitive(head, "number"));
        atomic_fetch_add(&h->heads, 1);
        h->o.on_head_cb(h->o.arg, number);
    }
    cJSON_Delete(j);
    return ERR_OK;
}

/* Connect, subscribe, and read until something fails. *was_live tells
 * whether the subscription came up. Returns the failure (never ERR_OK);
 * h->why holds its text. */
static enum err session(struct headsub *h, bool *was_live)
{
    struct ws_opts wo = {
        .url = h->url, .max_message_bytes = h->o.max_message_bytes, .cancel_fd = h->stop_pipe[0]};
    struct ws *w = NULL;
    struct buf msg;
    enum err e;
    bool done = false;

    *was_live = false;
    buf_init(&msg, 0);
    e = ws_new(&wo, &w);
    if (e != ERR_OK) {
        set_why(h, "%s", err_str(e));
        goto out;
    }
    double deadline = mono_ms_frac() + (double)h->o.connect_timeout_ms;
    e = ws_connect(w, h->o.connect_timeout_ms);
    if (e == ERR_OK)
        e = ws_send_text(w, subscribe_req, sizeof subscribe_req - 1, h->o.connect_timeout_ms);
    while (e == ERR_OK && !done) {
        double left = deadline - mono_ms_frac();
        e = left >= 1 ? ws_recv(w, &msg, (long)left) : ERR_TIMEDOUT;
        if (e == ERR_OK) {
            e = on_reply(h, buf_cstr(&msg), &done);
            if (e != ERR_OK)
                goto out;
        } else if (e == ERR_TIMEDOUT) {
            set_why(h, "eth_subscribe: no answer within %ld ms", h->o.connect_timeout_ms);
            goto out;
        }
    }
    if (e != ERR_OK) {
        set_why(h, "%s", ws_errmsg(w));
        goto out;
    }
    *was_live = true;
    atomic_store(&h->live, true);
    if (h->o.on_state_cb != NULL)
        h->o.on_state_cb(h->o.arg, true, ERR_OK, "");
    /* Read until failure; after an idle ping_interval_ms send a ping, and
     * if a second interval passes with no pong and no message, the link
     * is dead. */
    bool pinged = false;
    uint64_t pongs_at_ping = 0;
    for (;;) {
        e = ws_recv(w, &msg, h->o.ping_interval_ms);
        if (e == ERR_OK) {
            pinged = false;
            e = on_message(h, buf_cstr(&msg));
            if (e != ERR_OK)
                goto out;
            continue;
        }
        if (e != ERR_TIMEDOUT) {
            set_why(h, "%s", ws_errmsg(w));
            goto out;
        }
        if (pinged && ws_pongs(w) == pongs_at_ping) {
            set_why(h, "no pong within %ld ms", h->o.ping_interval_ms);
            goto out;
        }
        pongs_at_ping = ws_pongs(w);
        pinged = true;
        e = ws_ping(w, h->o.connect_timeout_ms);
        if (e != ERR_OK) {
            set_why(h, "%s", ws_errmsg(w));
            goto out;
        }
    }
out:
    atomic_store(&h->live, false);
    ws_free(w);
    buf_release(&msg);
    return e;
}

/* Wait <ms> or until stopped; true when stopped. */
static bool nap(struct headsub *h, long ms)
{
    struct pollfd p = {.fd = h->stop_pipe[0], .events = POLLIN};
    double until = mono_ms_frac() + (double)ms;

    for (;;) {
        double left = until - mono_ms_frac();
        if (left <= 0)
            return false;
        int r = poll(&p, 1, (int)left + 1);
        if (r > 0)
            return true;
        if (r == -1 && errno != EINTR)
            return false;
    }
}

static void *thread_main(void *arg)
{
    struct headsub *h = arg;
    long backoff = 0;

    for (;;) {
        bool was_live;
        atomic_fetch_add(&h->attempts, 1);
        enum err e = session(h, &was_live);
        if (e == ERR_CANCELED)
            break;
        atomic_fetch_add(&h->failures, 1);
        if (h->o.on_state_cb != NULL)
            h->o.on_state_cb(h->o.arg, false, e, buf_cstr(&h->why));
        /* Exponential backoff with full jitter (AWS Architecture Blog,
         * "Exponential Backoff And Jitter", 2015); a subscription that was
         * up starts the sequence again. */
        if (was_live)
            backoff = 0;
        backoff = backoff == 0 ? h->o.backoff_base_ms : backoff * 2;
        if (backoff > h->o.backoff_max_ms)
            backoff = h->o.backoff_max_ms;
        h->rng = h->rng * 6364136223846793005ULL + 1442695040888963407ULL; /* Knuth MMIX LCG */
        long wait = (long)((h->rng >> 33) % (uint64_t)(backoff + 1));
        if (nap(h, wait))
            break;
    }
    return NULL;
}

enum err headsub_start(const struct headsub_opts *opts, struct headsub **out)
{
    struct headsub *h;
    struct ws *probe = NULL;
    sigset_t all, old;
    enum err e;

    *out = NULL;
    if (opts == NULL || opts->url == NULL || opts->on_head_cb == NULL ||
        opts->connect_timeout_ms < 0 || opts->backoff_base_ms < 0 || opts->backoff_max_ms < 0 ||
        opts->ping_interval_ms < 0)
        return ERR_INVAL;
    h = calloc(1, sizeof *h);
    if (h == NULL)
        return ERR_NOMEM;
    h->o = *opts;
    h->stop_pipe[0] = h->stop_pipe[1] = -1;
    buf_init(&h->why, 4096);
    if (h->o.connect_timeout_ms == 0)
        h->o.connect_timeout_ms = HEADSUB_DEFAULT_CONNECT_TIMEOUT_MS;
    if (h->o.backoff_base_ms == 0)
        h->o.backoff_base_ms = HEADSUB_DEFAULT_BACKOFF_BASE_MS;
    if (h->o.backoff_max_ms == 0)
        h->o.backoff_max_ms = HEADSUB_DEFAULT_BACKOFF_MAX_MS;
    if (h->o.ping_interval_ms == 0)
        h->o.ping_interval_ms = HEADSUB_DEFAULT_PING_INTERVAL_MS;
    if (h->o.max_message_bytes == 0)
        h->o.max_message_bytes = HEADSUB_DEFAULT_MAX_MESSAGE_BYTES;
    h->rng = (uint64_t)mono_ms_frac() ^ (uint64_t)(uintptr_t)h;
    e = h->o.backoff_base_ms > h->o.backoff_max_ms ? ERR_INVAL : ERR_OK;
    if (e == ERR_OK) {
        /* Check the URL now, so a typo is a start-up error, not a retry
         * loop. */
        struct ws_opts wo = {.url = opts->url, .cancel_fd = -1};
        e = ws_new(&wo, &probe);
        ws_free(probe);
    }
    if (e == ERR_OK && (h->url = strdup(opts->url)) == NULL)
        e = ERR_NOMEM;
    if (e == ERR_OK && pipe(h->stop_pipe) == -1) {
        h->stop_pipe[0] = h->stop_pipe[1] = -1;
        e = ERR_IO;
    }
    if (e == ERR_OK) {
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        if (pthread_create(&h->thread, NULL, thread_main, h) != 0)
            e = ERR_IO;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (e != ERR_OK) {
        if (h->stop_pipe[0] != -1) {
            close(h->stop_pipe[0]);
            close(h->stop_pipe[1]);
        }
        free(h->url);
        buf_release(&h->why);
        free(h);
        return e;
    }
    *out = h;
    return ERR_OK;
}

enum err headsub_ws_url_for(const char *rpc_url, char **out)
{
    size_t n;
    char *u;

    *out = NULL;
    if (rpc_url == NULL || strncasecmp(rpc_url, "http://", 7) != 0)
        return ERR_INVAL;
    n = strlen(rpc_url + 7);
    u = malloc(n + 6);
    if (u == NULL)
        return ERR_NOMEM;
    memcpy(u, "ws://", 5);
    memcpy(u + 5, rpc_url + 7, n + 1);
    *out = u;
    return ERR_OK;
}

void headsub_get_stats(const struct headsub *h, struct headsub_stats *out)
{
    struct headsub *m = (struct headsub *)h; /* atomics are read, not changed */
    out->live = atomic_load(&m->live);
    out->heads = atomic_load(&m->heads);
    out->attempts = atomic_load(&m->attempts);
    out->failures = atomic_load(&m->failures);
}

void headsub_free(struct headsub *h)
{
    if (h == NULL)
        return;
    /* One byte makes the pipe readable for good: every later poll of the
     * thread returns at once. */
    while (write(h->stop_pipe[1], "x", 1) == -1 && errno == EINTR)
        ;
    pthread_join(h->thread, NULL);
    close(h->stop_pipe[0]);
    close(h->stop_pipe[1]);
    free(h->url);
    buf_release(&h->why);
    free(h);
}
