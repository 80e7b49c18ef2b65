/*
 * cmd_fetch -- loom fetch: download a job's result into a folder and check
 * its sha256 against the job record (the hash the worker committed on
 * chain in JobSubmitted, as the indexer recorded it) and the gateway's
 * X-Loom-SHA256 header. The file appears under its final name only after
 * the check passed (written to a temporary name, then renamed).
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "cmds.h"
#include "hex.h"
#include "json.h"
#include "sign.h"

int cmd_fetch(struct cli *c, int argc, char **argv)
{
    char *out_dir = NULL, *name = NULL;
    const struct cli_opt opts[] = {
        {"out", CLI_OPT_STR, NULL, NULL, 0, 0, "DIR",
         "folder to write the result into (created if missing) (required)", &out_dir},
        {"name", CLI_OPT_STR, NULL, "result", 0, 0, "NAME", "file name inside DIR", &name},
    };
    const struct cli_cmd_spec sp = {
        "fetch",
        "JOB",
        1,
        1,
        "Download the result of job JOB into DIR and check its sha256 against the job record; "
        "a mismatch leaves no file behind.",
        "loom fetch 42 --out results/",
        opts,
        sizeof(opts) / sizeof(opts[0])};
    struct api *a = NULL;
    struct api_job j;
    struct buf path, tmp;
    char *header_sha = NULL;
    struct cJSON *o = NULL;
    int64_t id = 0;
    int fd = -1;
    enum err e;
    int rc = cli_begin(c, &sp, argc, argv);
    memset(&j, 0, sizeof(j));
    buf_init(&path, 8192);
    buf_init(&tmp, 8192);
    if (rc >= 0)
        goto out;
    if (cli_parse_job_id(c->args[0], &id) != ERR_OK) {
        rc = cli_usage(c, "JOB \"%s\" must be a job id (a positive integer)", c->args[0]);
        goto out;
    }
    if (out_dir == NULL || out_dir[0] == '\0') {
        rc = cli_usage(c, "--out DIR is required");
        goto out;
    }
    if (name[0] == '\0' || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        rc = cli_usage(c, "--name \"%s\" must be a plain file name", name);
        goto out;
    }
    if ((e = api_new(c->gateway_url, (long)c->timeout_s * 1000, &a)) != ERR_OK) {
        rc = cli_fail(c, e, "bad gateway URL \"%s\"", c->gateway_url);
        goto out;
    }
    if ((e = api_job_get(a, id, &j)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot fetch job %" PRId64 ": %s", id, api_errmsg(a));
        goto out;
    }
    if (!j.has_result) {
        rc = cli_fail(c, ERR_STATE, "cannot fetch job %" PRId64 ": it has no result yet (%s)", id,
                      j.status);
        goto out;
    }
    if (mkdir(out_dir, 0755) == -1 && errno != EEXIST) {
        rc = cli_fail_code(c, ERR_IO, CLI_EXIT_CANTCREAT,
                           "cannot fetch job %" PRId64 ": cannot create \"%s\": %s", id, out_dir,
                           strerror(errno));
        goto out;
    }
    if (buf_appendf(&path, "%s/%s", out_dir, name) != ERR_OK ||
        buf_appendf(&tmp, "%s/.%s.part", out_dir, name) != ERR_OK) {
        rc = cli_fail(c, ERR_TOOBIG, "cannot fetch job %" PRId64 ": path too long", id);
        goto out;
    }
    fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rc = cli_fail_code(c, ERR_IO, CLI_EXIT_CANTCREAT,
                           "cannot fetch job %" PRId64 ": cannot write \"%s\": %s", id,
                           buf_cstr(&tmp), strerror(errno));
        goto out;
    }
    if ((e = api_fetch_result(a, id, fd, &header_sha)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot fetch job %" PRId64 ": %s", id, api_errmsg(a));
        goto out;
    }
    if (fsync(fd) == -1 || close(fd) == -1) {
        fd = -1;
        rc = cli_fail(c, ERR_IO, "cannot fetch job %" PRId64 ": cannot write \"%s\": %s", id,
                      buf_cstr(&tmp), strerror(errno));
        goto out;
    }
    fd = -1;
    uint8_t got[32];
    uint64_t size = 0;
    if ((e = sign_sha256_file(buf_cstr(&tmp), got, &size)) != ERR_OK) {
        rc = cli_fail(c, e, "cannot fetch job %" PRId64 ": cannot read back \"%s\"", id,
                      buf_cstr(&tmp));
        goto out;
    }
    char got_hex[65], want_hex[65];
    hex_encode(got, 32, false, got_hex);
    hex_encode(j.result_sha256, 32, false, want_hex);
    if (memcmp(got, j.result_sha256, 32) != 0) {
        rc = cli_fail(c, ERR_INVAL,
                      "cannot fetch job %" PRId64 ": sha256 mismatch: downloaded %s, the job "
                      "record says %s; nothing kept",
                      id, got_hex, want_hex);
        goto out;
    }
    if (header_sha != NULL) {
        const char *h = strncmp(header_sha, "0x", 2) == 0 ? header_sha + 2 : header_sha;
        if (strcasecmp(h, got_hex) != 0) {
            rc = cli_fail(c, ERR_PROTO,
                          "cannot fetch job %" PRId64 ": the gateway labelled the download %s "
                          "but it hashes to %s; nothing kept",
                          id, h, got_hex);
            goto out;
        }
    }
    if (rename(buf_cstr(&tmp), buf_cstr(&path)) == -1) {
        rc = cli_fail_code(c, ERR_IO, CLI_EXIT_CANTCREAT,
                           "cannot fetch job %" PRId64 ": cannot rename to \"%s\": %s", id,
                           buf_cstr(&path), strerror(errno));
        goto out;
    }
    buf_reset(&tmp); /* nothing to clean up */
    if (c->json) {
        e = json_new_object(&o);
        if (e == ERR_OK)
            e = json_add_int(o, "job_id", id);
        if (e == ERR_OK)
            e = json_add_str(o, "path", buf_cstr(&path));
        if (e == ERR_OK)
            e = json_add_int(o, "size_bytes", (int64_t)size);
        if (e == ERR_OK)
            e = json_add_str(o, "sha256", got_hex);
        if (e == ERR_OK)
            e = cli_print_json(c, o);
        rc = e == ERR_OK ? CLI_EXIT_OK : cli_fail(c, e, "cannot print the result");
        goto out;
    }
    fprintf(c->out,
            "fetched job %" PRId64 ": %s (%" PRIu64 " bytes, sha256 %s, matches the job "
            "record)\n",
            id, buf_cstr(&path), size, got_hex);
    rc = CLI_EXIT_OK;
out:
    if (fd != -1)
        close(fd);
    if (tmp.len > 0)
        (void)unlink(buf_cstr(&tmp)); /* a failed or rejected download leaves nothing */
    free(header_sha);
    json_free(o);
    api_job_release(&j);
    api_free(a);
    buf_release(&tmp);
    buf_release(&path);
    cli_release(c, &sp);
    return rc;
}
