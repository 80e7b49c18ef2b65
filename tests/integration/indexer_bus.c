/*
 * indexer_bus -- a small bus tool for tests/integration/indexer_jobstore.sh
 * and tests/bench/bench_indexer.sh (built by them with cc; not a service).
 *
 *   indexer_bus call ADDR JSON [MS]   send one request to the job store's
 *                                     REP address, print the reply; exit 1
 *                                     when none came within MS (10,000) ms
 *   indexer_bus sub ADDR PREFIX N S   subscribe to the feed at ADDR (its
 *                                     pub_addr) for topics starting with
 *                                     PREFIX; print "READY" once connected,
 *                                     then "<unix ms> <topic> <json>" per
 *                                     message (flushed); exit after N
 *                                     messages or S seconds
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "bus.h"

static struct {
    struct event_base *base;
    long left;
} sub;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void on_message(void *arg, const char *topic, const void *data, size_t len)
{
    (void)arg;
    printf("%.3f %s %.*s\n", now_ms(), topic ? topic : "-", (int)len, (const char *)data);
    fflush(stdout);
    if (--sub.left <= 0)
        event_base_loopexit(sub.base, NULL);
}

static int do_call(const char *addr, const char *json, int timeout_ms)
{
    struct bus *b = NULL;
    void *reply = NULL;
    size_t len = 0;
    enum err e = bus_new(NULL, BUS_REQ, &b);
    if (e == ERR_OK)
        e = bus_connect(b, addr);
    if (e == ERR_OK)
        e = bus_request_wait(b, json, strlen(json), timeout_ms, &reply, &len);
    if (e == ERR_OK)
        printf("%.*s\n", (int)len, (const char *)reply);
    else
        fprintf(stderr, "indexer_bus: call %s: %s\n", addr, err_str(e));
    free(reply);
    bus_free(b);
    return e == ERR_OK ? 0 : 1;
}

static int do_sub(const char *addr, const char *prefix, long n, long seconds)
{
    struct bus *b = NULL;
    sub.base = event_base_new();
    sub.left = n;
    if (sub.base == NULL)
        return 1;
    enum err e = bus_new(sub.base, BUS_SUB, &b);
    if (e == ERR_OK)
        e = bus_subscribe(b, prefix);
    if (e == ERR_OK)
        e = bus_on_message(b, on_message, NULL);
    if (e == ERR_OK)
        e = bus_connect(b, addr);
    if (e != ERR_OK) {
        fprintf(stderr, "indexer_bus: sub %s: %s\n", addr, err_str(e));
        bus_free(b);
        event_base_free(sub.base);
        return 1;
    }
    /* A SUB connects in the background; give it a moment before READY so
     * the caller does not publish into the void. */
    struct timeval settle = {0, 300000}, limit = {seconds, 0};
    event_base_loopexit(sub.base, &settle);
    event_base_dispatch(sub.base);
    printf("READY\n");
    fflush(stdout);
    event_base_loopexit(sub.base, &limit);
    if (sub.left > 0)
        event_base_dispatch(sub.base);
    bus_free(b);
    event_base_free(sub.base);
    return sub.left <= 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "call") == 0)
        return do_call(argv[2], argv[3], argc == 5 ? (int)strtol(argv[4], NULL, 10) : 10000);
    if (argc == 6 && strcmp(argv[1], "sub") == 0)
        return do_sub(argv[2], argv[3], strtol(argv[4], NULL, 10), strtol(argv[5], NULL, 10));
    fprintf(stderr, "usage: indexer_bus call ADDR JSON [MS] | sub ADDR PREFIX N SECONDS\n");
    return 64;
}
