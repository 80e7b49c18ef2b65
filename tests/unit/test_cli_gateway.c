/*
 * The loom CLI against the gateway's own code: what the CLI sends, the
 * gateway's modules accept, and what the gateway's codec writes, the CLI
 * reads. Signed requests made by clients/cli/sign.c pass
 * services/gateway/auth.c's auth_check_request (with a verify() that uses
 * common/eth's eip191_recover, as the gateway's main will); the multipart
 * body of loom create is parsed by services/gateway/multipart.c into the
 * same fields and files; job records written by the gateway's codec_job and
 * codec_jobs decode; every error body the gateway writes (codec_error with
 * httperr's status) maps back to the error it came from.
 *
 * The CLI's modules come from build/lib/libcli.a, the gateway's from its
 * service archive (the Makefile links both into every unit test).
 *
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "clients/cli/api.h"
#include "clients/cli/cli_http.h"
#include "clients/cli/evstream.h"
#include "clients/cli/sign.h"
#include "eth/eip191.h"
#include "eth/key.h"
#include "hex.h"
#include "json.h"
#include "services/gateway/auth.h"
#include "services/gateway/codec.h"
#include "services/gateway/httperr.h"
#include "services/gateway/multipart.h"

static const char test_key_hex[] =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
static const char test_addr[] = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

/* The gateway's verify() seam, filled with common/eth's recovery. */
static enum err verify_eip191(void *ctx, const char *message, size_t len, const char *signature,
                              char **address_out)
{
    (void)ctx;
    uint8_t rsv[65], addr[20];
    if (hex_decode_exact(signature, rsv, 65) != ERR_OK)
        return ERR_INVAL;
    enum err e = eip191_recover(message, len, rsv, addr);
    if (e != ERR_OK)
        return e;
    char *s = malloc(43);
    if (s == NULL)
        return ERR_NOMEM;
    hex_encode(addr, 20, true, s);
    *address_out = s;
    return ERR_OK;
}

static void test_signed_request_passes_gateway_auth(void **state)
{
    (void)state;
    struct key k;
    assert_int_equal(key_from_hex(test_key_hex, &k), ERR_OK);
    struct gw_backend be;
    memset(&be, 0, sizeof(be));
    be.verify = verify_eip191;
    const char body[] =
        "--b\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nT\r\n--b--\r\n";
    const char *target = "/api/jobs?x=1";
    int64_t now = (int64_t)time(NULL);
    struct sign_headers sh;
    assert_int_equal(sign_request(&k, "POST", target, body, strlen(body), now, NULL, &sh), ERR_OK);
    struct auth_headers h = {sh.address, sh.timestamp, sh.nonce, sh.signature};
    char body_sha[SIGN_SHA256_HEX];
    sign_sha256_hex(body, strlen(body), body_sha);
    char *signer = NULL;
    int64_t ts = 0;
    struct buf msg;
    buf_init(&msg, 512);
    assert_int_equal(
        auth_check_request(&be, &h, "POST", target, body_sha, now, 300, &signer, &ts, &msg),
        ERR_OK);
    assert_string_equal(signer, test_addr);
    assert_int_equal(ts, now);
    free(signer);
    signer = NULL;
    /* Another body, another target, another method, or a stale clock: refused. */
    char other_sha[SIGN_SHA256_HEX];
    sign_sha256_hex("x", 1, other_sha);
    assert_int_equal(
        auth_check_request(&be, &h, "POST", target, other_sha, now, 300, &signer, &ts, &msg),
        ERR_AUTH);
    assert_int_equal(
        auth_check_request(&be, &h, "POST", "/api/jobs", body_sha, now, 300, &signer, &ts, &msg),
        ERR_AUTH);
    assert_int_equal(
        auth_check_request(&be, &h, "PUT", target, body_sha, now, 300, &signer, &ts, &msg),
        ERR_AUTH);
    assert_int_equal(
        auth_check_request(&be, &h, "POST", target, body_sha, now + 301, 300, &signer, &ts, &msg),
        ERR_AUTH);
    assert_null(signer);
    buf_release(&msg);
    key_wipe(&k);
}

/* What the gateway's parser saw: "name|filename|content;" per part. */
struct parts {
    struct buf log;
};

static enum err part_begin(void *arg, const struct multipart_part *p)
{
    struct parts *x = arg;
    return buf_appendf(&x->log, "%s|%s|", p->name, p->filename ? p->filename : "-");
}

static enum err part_data(void *arg, const void *p, size_t n)
{
    struct parts *x = arg;
    return buf_append(&x->log, p, n);
}

static enum err part_end(void *arg)
{
    struct parts *x = arg;
    return buf_append_byte(&x->log, ';');
}

static void test_multipart_parses_in_gateway(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cli_gw.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char spec[256], in1[256];
    (void)snprintf(spec, sizeof(spec), "%s/spec.json", dir);
    (void)snprintf(in1, sizeof(in1), "%s/digits.csv", dir);
    FILE *f = fopen(spec, "w");
    fputs("{\"kind\":\"train\"}", f);
    fclose(f);
    f = fopen(in1, "wb");
    fwrite("a\r\nb\0c", 1, 6, f); /* CRLF and NUL inside a file part */
    fclose(f);
    const char *inputs[] = {in1};
    struct api_job_new in = {"Train \"digits\"", "line1\nline2", "IA", 1250, spec, inputs, 1};
    struct buf body, why, boundary;
    buf_init(&body, 0);
    buf_init(&why, 1024);
    buf_init(&boundary, 128);
    /* The Content-Type loom create sends, through the gateway's reader. */
    assert_int_equal(multipart_boundary("multipart/form-data; boundary=loom-0123456789abcdef0123"
                                        "456789abcdef",
                                        &boundary),
                     ERR_OK);
    assert_string_equal(buf_cstr(&boundary), "loom-0123456789abcdef0123456789abcdef");
    assert_int_equal(api_build_multipart(&in, buf_cstr(&boundary), &body, &why), ERR_OK);
    struct parts x;
    buf_init(&x.log, 0);
    struct multipart_cbs cbs = {part_begin, part_data, part_end, &x};
    struct multipart *m = NULL;
    assert_int_equal(multipart_new(buf_cstr(&boundary), &cbs, 8192, 64, &m), ERR_OK);
    /* One byte at a time, as a slow network would deliver it. */
    for (size_t i = 0; i < body.len; i++)
        assert_int_equal(multipart_feed(m, body.data + i, 1), ERR_OK);
    assert_int_equal(multipart_finish(m), ERR_OK);
    multipart_free(m);
    const char want[] = "title|-|Train \"digits\";description|-|line1\nline2;type|-|IA;"
                        "price_usd_cents|-|1250;job.json|job.json|{\"kind\":\"train\"};"
                        "file|digits.csv|a\r\nb\0c;";
    assert_int_equal(x.log.len, sizeof(want) - 1);
    assert_memory_equal(x.log.data, want, sizeof(want) - 1);
    buf_release(&x.log);
    buf_release(&body);
    buf_release(&why);
    buf_release(&boundary);
    unlink(spec);
    unlink(in1);
    rmdir(dir);
}

static void test_gateway_records_decode(void **state)
{
    (void)state;
    struct gw_file files[1] = {{"digits.csv", "aa", 6}};
    struct gw_job j = {
        .id = 42,
        .title = "Train digits",
        .description = "MLP",
        .type = "IA",
        .price_usd_cents = 1250,
        .client = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
        .worker = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
        .status = "SUBMITTED",
        .progress = 100,
        .created_at = 1764460800,
        .spec_sha256 = "d4f02eaafd1a9e9de7d10972ca8e47fa7a985825c3c9c1e249c72683cb3e4f19",
        .result_sha256 = "f6a214f7a5fcda0c2cee9660b7fc29f5649e3c68aad48e20e950137c98913a68",
        .result_size_bytes = 7,
        .files = files,
        .n_files = 1,
    };
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(codec_job(&j, &out), ERR_OK);
    struct cJSON *o = NULL;
    struct json_err je;
    json_err_init(&je);
    assert_int_equal(json_parse(out.data, out.len, 1 << 20, 16, &o, &je), ERR_OK);
    struct api_job got;
    assert_int_equal(api_job_decode(o, &got, &je), ERR_OK);
    assert_int_equal(got.id, 42);
    assert_string_equal(got.status, "SUBMITTED");
    assert_string_equal(got.client, j.client);
    assert_string_equal(got.worker, j.worker);
    assert_int_equal(got.price_usd_cents, 1250);
    assert_int_equal(got.progress, 100);
    assert_true(got.has_spec && got.has_result);
    assert_int_equal(got.spec_sha256[0], 0xd4);
    assert_int_equal(got.result_sha256[31], 0x68);
    assert_int_equal(got.result_size_bytes, 7);
    api_job_release(&got);
    json_free(o);

    /* A page of two, with a cursor. */
    struct gw_job two[2] = {j, j};
    two[1].id = 41;
    two[1].worker = NULL;
    two[1].result_sha256 = NULL;
    buf_reset(&out);
    assert_int_equal(codec_jobs(two, 2, 41, &out), ERR_OK);
    assert_int_equal(json_parse(out.data, out.len, 1 << 20, 16, &o, &je), ERR_OK);
    const struct cJSON *arr = NULL;
    size_t n = 0;
    assert_int_equal(json_get_array(o, "jobs", JSON_REQUIRED, 100, &arr, &n, &je), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(api_job_decode(cJSON_GetArrayItem(arr, 1), &got, &je), ERR_OK);
    assert_int_equal(got.id, 41);
    assert_null(got.worker);
    assert_false(got.has_result);
    api_job_release(&got);
    json_free(o);
    buf_release(&out);
}

static void test_gateway_errors_map_back(void **state)
{
    (void)state;
    for (int code = 1; code < ERR__COUNT; code++) {
        struct buf body, msg;
        buf_init(&body, 1024);
        buf_init(&msg, 1024);
        assert_int_equal(codec_error(httperr_code(code), "why", &body), ERR_OK);
        int status = httperr_status(code);
        enum err got = api_error_from(status, body.data, body.len, &msg);
        enum err want = (enum err)code;
        /* The gateway's own faults are not the caller's: "unavailable". */
        if (status >= 500 &&
            (want == ERR_NOMEM || want == ERR_IO || want == ERR_DB || want == ERR_CL))
            want = ERR_UNAVAILABLE;
        if (got != want)
            fail_msg("%s (HTTP %d) came back as %s", err_code((enum err)code), status,
                     err_code(got));
        assert_string_equal(buf_cstr(&msg), "why");
        buf_release(&body);
        buf_release(&msg);
    }
    struct buf body, msg;
    buf_init(&body, 1024);
    buf_init(&msg, 1024);
    assert_int_equal(codec_error(httperr_code(HTTPERR_RATE_LIMITED), "slow down", &body), ERR_OK);
    assert_int_equal(
        api_error_from(httperr_status(HTTPERR_RATE_LIMITED), body.data, body.len, &msg),
        ERR_TIMEDOUT); /* exit 75: try again later */
    buf_release(&body);
    buf_release(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_request_passes_gateway_auth),
        cmocka_unit_test(test_multipart_parses_in_gateway),
        cmocka_unit_test(test_gateway_records_decode),
        cmocka_unit_test(test_gateway_errors_map_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
