/*
 * cmd_watch -- loom watch: a live view of one job, fed by the gateway's
 * Server-Sent Events (GET /api/events, the job feed's mirror). No polling:
 * the job record is read once when the stream opens (and once after each
 * reconnection), and from then on only events move the view. Exits when
 * the job reaches a terminal status (or --until's).
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cmds.h"
#include "json.h"

/* Reconnections after the stream drops before watch gives up; with the
 * backoff below that rides out about half a minute of gateway restart. */
#define WATCH_RECONNECTS 5
/* A stream open this long before it dropped resets the count above. */
#define WATCH_STABLE_S  30
#define WATCH_BAR_WIDTH 30
/* Event data is one feed message: a few hundred bytes. */
#define WATCH_EVENT_MAX 65536

struct watch {
    struct cli *c;
    struct api *a;
    int64_t id;
    const char *until; /* NULL: a terminal status */
    char status[16];
    int64_t progress;
    bool done;
    bool tty;
    bool drawn;   /* a bar is on the terminal line */
    bool opened;  /* a stream was open once: a later failure is a drop */
    enum err err; /* a failure inside a callback */
};

static bool is_terminal(const char *s)
{
    return strcmp(s, "COMPLETED") == 0 || strcmp(s, "REFUNDED") == 0 || strcmp(s, "DISPUTED") == 0;
}

static void render(struct watch *w)
{
    struct cli *c = w->c;
    if (c->json) {
        struct cJSON *o = NULL;
        enum err e = json_new_object(&o);
        if (e == ERR_OK)
            e = json_add_int(o, "job_id", w->id);
        if (e == ERR_OK)
            e = json_add_str(o, "status", w->status);
        if (e == ERR_OK)
            e = json_add_int(o, "progress", w->progress);
        if (e == ERR_OK)
            e = cli_print_json(c, o);
        json_free(o);
        if (e != ERR_OK)
            w->err = e;
        return;
    }
    if (!w->tty) {
        fprintf(c->out, "job %" PRId64 ": %s %" PRId64 "%%\n", w->id, w->status, w->progress);
        fflush(c->out);
        return;
    }
    char bar[WATCH_BAR_WIDTH + 1];
    int64_t filled = w->progress * WATCH_BAR_WIDTH / 100;
    for (int i = 0; i < WATCH_BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[WATCH_BAR_WIDTH] = '\0';
    fprintf(c->out, "\r\033[Kjob %" PRId64 " [%s] %3" PRId64 "%% %s", w->id, bar, w->progress,
            w->status);
    fflush(c->out);
    w->drawn = true;
}

/* Take a new status and/or progress; returns 1 when watching is over. */
static int update(struct watch *w, const char *status, int64_t progress)
{
    bool changed = false;
    if (status != NULL && strcmp(status, w->status) != 0 && strlen(status) < sizeof(w->status)) {
        memcpy(w->status, status, strlen(status) + 1);
        changed = true;
        if (strcmp(status, "SUBMITTED") == 0 || strcmp(status, "COMPLETED") == 0)
            progress = 100; /* the work is done, whatever the last report said */
    }
    if (progress >= 0 && progress <= 100 && progress != w->progress) {
        w->progress = progress;
        changed = true;
    }
    if (changed)
        render(w);
    if (w->err != ERR_OK)
        return 1;
    w->done = w->until ? strcmp(w->status, w->until) == 0 || is_terminal(w->status)
                       : is_terminal(w->status);
    return w->done ? 1 : 0;
}

/* The stream is open: read the job once, so nothing before or during the
 * subscription is missed. */
static int opened_cb(void *arg)
{
    struct watch *w = arg;
    struct api_job j;
    w->opened = true;
    enum err e = api_job_get(w->a, w->id, &j);
    if (e != ERR_OK) {
        w->err = e;
        return 1;
    }
    int stop = update(w, j.status, j.progress);
    api_job_release(&j);
    return stop;
}

static int event_cb(void *arg, const char *type, const char *data, size_t len)
{
    struct watch *w = arg;
    struct cJSON *o = NULL;
    int64_t job = 0, progress = -1;
    char *status = NULL;
    int stop = 0;
    /* Events about other jobs, or that are not JSON, are not ours: skip. */
    if (json_parse(data, len, WATCH_EVENT_MAX, 16, &o, NULL) != ERR_OK)
        return 0;
    if (json_get_int(o, "job_id", JSON_REQUIRED, 1, JSON_INT_MAX, &job, NULL) == ERR_OK &&
        job == w->id) {
        if (json_get_str(o, "status", JSON_OPTIONAL, 1, 15, &status, NULL) != ERR_OK)
            status = NULL;
        if (json_get_int(o, "progress", JSON_OPTIONAL, 0, 100, &progress, NULL) != ERR_OK)
            progress = -1;
        /* job.open.<type> means the job is (again) OPEN (PROTOCOL.md). */
        const char *st = status ? status : strncmp(type, "job.open.", 9) == 0 ? "OPEN" : NULL;
        stop = update(w, st, progress);
    }
    free(status);
    json_free(o);
    return stop;
}

int cmd_watch(struct cli *c, int argc, char **argv)
{
    static const char *const statuses[] = {"OPEN",      "WORKING",  "SUBMITTED",
                                           "COMPLETED", "DISPUTED", "REFUNDED"};
    char *until = NULL;
    const struct cli_opt opts[] = {
        {"until", CLI_OPT_STR, NULL, NULL, 0, 0, "STATUS",
         "stop when the job reaches STATUS (OPEN, WORKING, SUBMITTED, ...) instead of a "
         "terminal one",
         &until},
    };
    const struct cli_cmd_spec sp = {
        "watch",
        "JOB",
        1,
        1,
        "Follow job JOB live (GET /api/events): a progress bar on a terminal, a line per "
        "change otherwise, one JSON object per change with --json. Exits 0 when the job is "
        "COMPLETED (or reaches --until), 2 when it ends REFUNDED or DISPUTED.",
        "loom watch 42 --until SUBMITTED",
        opts,
        sizeof(opts) / sizeof(opts[0])};
    struct watch w;
    memset(&w, 0, sizeof(w));
    int rc = cli_begin(c, &sp, argc, argv);
    if (rc >= 0)
        goto out;
    if (cli_parse_job_id(c->args[0], &w.id) != ERR_OK) {
        rc = cli_usage(c, "JOB \"%s\" must be a job id (a positive integer)", c->args[0]);
        goto out;
    }
    if (until != NULL) {
        bool ok = false;
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
            ok = ok || strcmp(until, statuses[i]) == 0;
        if (!ok) {
            rc = cli_usage(c, "unknown --until status \"%s\"", until);
            goto out;
        }
    }
    w.c = c;
    w.until = until;
    w.progress = -1;
    w.tty = !c->json && isatty(fileno(c->out));
    enum err e = api_new(c->gateway_url, (long)c->timeout_s * 1000, &w.a);
    if (e != ERR_OK) {
        rc = cli_fail(c, e, "bad gateway URL \"%s\"", c->gateway_url);
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        w.err = ERR_OK;
        time_t opened_at = time(NULL);
        e = api_events(w.a, opened_cb, event_cb, &w);
        if (w.done || w.err != ERR_OK)
            break;
        /* Only a dropped stream is retried (a gateway that is down from the
         * start is reported at once); the read on reopening resynchronises,
         * so events missed meanwhile do not matter. */
        if (e != ERR_UNAVAILABLE || !w.opened)
            break;
        /* A stream that lived a while before it dropped starts the count
         * again: the limit is on reconnects in a row, not in a lifetime. */
        if (time(NULL) - opened_at >= WATCH_STABLE_S)
            attempt = 0;
        if (attempt >= WATCH_RECONNECTS)
            break;
        struct timespec ts = {(time_t)1 << attempt, 0};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        }
    }
    if (w.drawn)
        fputc('\n', c->out);
    if (w.err != ERR_OK) {
        rc = cli_fail(c, w.err, "cannot watch job %" PRId64 ": %s", w.id, api_errmsg(w.a));
        goto out;
    }
    if (!w.done) {
        rc = cli_fail(c, e == ERR_OK ? ERR_PROTO : e, "cannot watch job %" PRId64 ": %s", w.id,
                      api_errmsg(w.a)[0] ? api_errmsg(w.a) : "event stream ended");
        goto out;
    }
    if (until != NULL && strcmp(w.status, until) == 0)
        rc = CLI_EXIT_OK;
    else
        rc = strcmp(w.status, "COMPLETED") == 0 ? CLI_EXIT_OK : CLI_EXIT_JOB_FAILED;
    if (!c->json)
        fprintf(c->out, "job %" PRId64 " is %s\n", w.id, w.status);
out:
    api_free(w.a);
    cli_release(c, &sp);
    return rc;
}
