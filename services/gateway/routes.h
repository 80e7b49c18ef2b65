/*
 * routes -- the gateway's route table: method + path pattern -> handler id,
 * in one place. /api/openapi.json documents exactly these (a test checks it).
 *
 * Patterns are literal segments and {id} (a positive decimal job id) or
 * {name} (a file name, percent-decoded, checked by validate_filename). The
 * seed's /api/projects... paths are rewritten to /api/jobs... before
 * matching, so both reach the same handlers. Threading: pure.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_ROUTES_H
#define LOOM_GW_ROUTES_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "intake.h"

enum route_id {
    ROUTE_JOBS_CREATE,
    ROUTE_JOBS_LIST,
    ROUTE_JOB_GET,
    ROUTE_JOB_PROGRESS,
    ROUTE_JOB_RESULT_PUT,
    ROUTE_JOB_RESULT_GET,
    ROUTE_JOB_FILES_POST,
    ROUTE_JOB_FILE_GET,
    ROUTE_QUOTE,
    ROUTE_EVENTS,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_OPENAPI,
    ROUTE_AUTH_NONCE,
    ROUTE_AUTH_SIWE,
    ROUTE__COUNT
};

struct route {
    enum route_id id;
    const char *method;   /* "GET", "POST", "PUT" */
    const char *pattern;  /* "/api/jobs/{id}/files/{name}" */
    const char *name;     /* operationId in the OpenAPI document */
    int is_signed;        /* needs an Ethereum signature or a SIWE session */
    enum intake_sink sink; /* how the body is read */
};

/* The table, ROUTE__COUNT rows in enum order. */
extern const struct route routes_table[ROUTE__COUNT];

/* Parameters pulled out of a matched path. */
struct route_params {
    int64_t id;      /* {id}; 0 when the pattern has none */
    struct buf name; /* {name}, decoded; empty when none */
};

/*
 * Match <method> and <path> (no query; borrowed). Returns the route in *out
 * and fills <params> (initialised by the caller with buf_init).
 * Returns ERR_OK; ERR_NOTFOUND (no pattern matches the path);
 * ERR_STATE (the path matches but not with this method: 405); ERR_INVAL
 * (a {id} that is not a positive integer, or a {name} that is not a safe
 * file name: the message goes into params->name).
 */
LOOM_MUST_CHECK enum err routes_match(const char *method, const char *path,
                                      const struct route **out, struct route_params *params);

/* The route's sink for <content_type> (NULL = absent): POST /api/jobs takes
 * a form (files into the store) or JSON; POST .../files a form or the raw
 * file; POST .../result the raw file; everything else a small buffer. */
enum intake_sink routes_sink(const struct route *r, const char *content_type);

#endif
