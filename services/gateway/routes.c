/*
 * routes -- the table and the matcher.
 * SPDX-License-Identifier: MIT
 */
#include "routes.h"

#include <string.h>
#include <strings.h>

#include "validate.h"

const struct route routes_table[ROUTE__COUNT] = {
    {ROUTE_JOBS_CREATE, "POST", "/api/jobs", "createJob", 1, INTAKE_SINK_FORM},
    {ROUTE_JOBS_LIST, "GET", "/api/jobs", "listJobs", 0, INTAKE_SINK_BUFFER},
    {ROUTE_JOB_GET, "GET", "/api/jobs/{id}", "getJob", 0, INTAKE_SINK_BUFFER},
    {ROUTE_JOB_PROGRESS, "PUT", "/api/jobs/{id}/progress", "updateProgress", 1,
     INTAKE_SINK_BUFFER},
    {ROUTE_JOB_RESULT_PUT, "POST", "/api/jobs/{id}/result", "uploadResult", 1, INTAKE_SINK_FILE},
    {ROUTE_JOB_RESULT_GET, "GET", "/api/jobs/{id}/result", "getResult", 0, INTAKE_SINK_BUFFER},
    {ROUTE_JOB_FILES_POST, "POST", "/api/jobs/{id}/files", "uploadFiles", 1, INTAKE_SINK_FORM},
    {ROUTE_JOB_FILE_GET, "GET", "/api/jobs/{id}/files/{name}", "getFile", 0, INTAKE_SINK_BUFFER},
    {ROUTE_QUOTE, "GET", "/api/quote", "getQuote", 0, INTAKE_SINK_BUFFER},
    {ROUTE_EVENTS, "GET", "/api/events", "events", 0, INTAKE_SINK_BUFFER},
    {ROUTE_HEALTH, "GET", "/health", "health", 0, INTAKE_SINK_BUFFER},
    {ROUTE_METRICS, "GET", "/metrics", "metrics", 0, INTAKE_SINK_BUFFER},
    {ROUTE_OPENAPI, "GET", "/api/openapi.json", "openapi", 0, INTAKE_SINK_BUFFER},
    {ROUTE_AUTH_NONCE, "GET", "/api/auth/nonce", "authNonce", 0, INTAKE_SINK_BUFFER},
    {ROUTE_AUTH_SIWE, "POST", "/api/auth/siwe", "signIn", 0, INTAKE_SINK_BUFFER},
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode [p, p+n) into <out>; "%00" and bad escapes are errors. */
static enum err pct_decode(const char *p, size_t n, struct buf *out)
{
    buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%') {
            if (i + 2 >= n)
                return ERR_INVAL;
            int hi = hexval(p[i + 1]);
            int lo = hexval(p[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return ERR_INVAL;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (buf_append_byte(out, c) != ERR_OK)
            return ERR_INVAL;
    }
    return ERR_OK;
}

/* Match one pattern against <path>; 1 on a match (params filled), 0 not,
 * -1 when the shape matches but a parameter is invalid (*why set). */
static int match_one(const char *pattern, const char *path, struct route_params *params,
                     const char **why)
{
    const char *p = pattern, *q = path;
    while (*p != '\0' || *q != '\0') {
        if (*p != '/' || *q != '/')
            return 0;
        p++;
        q++;
        const char *pe = strchr(p, '/');
        const char *qe = strchr(q, '/');
        size_t pn = pe ? (size_t)(pe - p) : strlen(p);
        size_t qn = qe ? (size_t)(qe - q) : strlen(q);
        if (pn == 4 && memcmp(p, "{id}", 4) == 0) {
            struct buf tmp;
            buf_init(&tmp, 32);
            int64_t id = 0;
            int ok = pct_decode(q, qn, &tmp) == ERR_OK &&
                     validate_int64(buf_cstr(&tmp), 1, INT64_MAX, &id) == ERR_OK;
            buf_release(&tmp);
            if (!ok && qn > 0) {
                *why = "job id must be a positive integer";
                /* keep matching the shape to tell 400 from 404 */
                params->id = -1;
            } else if (qn == 0) {
                return 0;
            } else {
                params->id = id;
            }
        } else if (pn == 6 && memcmp(p, "{name}", 6) == 0) {
            if (qn == 0)
                return 0;
            if (pct_decode(q, qn, &params->name) != ERR_OK ||
                validate_filename(buf_cstr(&params->name)) != ERR_OK) {
                *why = "invalid file name";
                params->id = params->id == 0 ? -1 : params->id;
                params->name.len = 0;
                return -1;
            }
        } else if (pn != qn || memcmp(p, q, pn) != 0) {
            return 0;
        }
        p += pn;
        q += qn;
    }
    return params->id < 0 ? -1 : 1;
}

enum err routes_match(const char *method, const char *path, const struct route **out,
                      struct route_params *params)
{
    static const char seed[] = "/api/projects";
    struct buf norm;
    buf_init(&norm, 0);
    if (strncmp(path, seed, sizeof(seed) - 1) == 0 &&
        (path[sizeof(seed) - 1] == '\0' || path[sizeof(seed) - 1] == '/')) {
        if (buf_appendf(&norm, "/api/jobs%s", path + sizeof(seed) - 1) != ERR_OK) {
            buf_release(&norm);
            return ERR_NOMEM;
        }
        path = norm.data;
    }
    enum err e = ERR_NOTFOUND;
    const char *why = NULL;
    for (size_t i = 0; i < ROUTE__COUNT; i++) {
        params->id = 0;
        buf_reset(&params->name);
        int m = match_one(routes_table[i].pattern, path, params, &why);
        if (m == 0)
            continue;
        if (strcmp(routes_table[i].method, method) != 0) {
            e = ERR_STATE;
            continue;
        }
        if (m < 0) {
            buf_reset(&params->name);
            if (buf_append_str(&params->name, why) != ERR_OK)
                buf_reset(&params->name);
            e = ERR_INVAL;
            break;
        }
        *out = &routes_table[i];
        e = ERR_OK;
        break;
    }
    buf_release(&norm);
    return e;
}

enum intake_sink routes_sink(const struct route *r, const char *content_type)
{
    static const char mp[] = "multipart/";
    int is_mp = content_type != NULL && strncasecmp(content_type, mp, sizeof(mp) - 1) == 0;
    /* Creating a job takes JSON or a form; adding a file takes a form or the
     * raw file (?name=...). */
    if (r->id == ROUTE_JOBS_CREATE)
        return is_mp ? INTAKE_SINK_FORM : INTAKE_SINK_BUFFER;
    if (r->id == ROUTE_JOB_FILES_POST)
        return is_mp ? INTAKE_SINK_FORM : INTAKE_SINK_FILE;
    return r->sink;
}
