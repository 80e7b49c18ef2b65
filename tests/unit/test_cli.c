/*
 * Unit tests for the loom CLI's modules (clients/cli): option parsing and
 * exit statuses, signed requests, the SSE parser, the gateway codec
 * (errors, job records, the multipart body) and the escrow encodings.
 *
 * The CLI's modules are linked from build/lib/libcli.a (the Makefile: every
 * CLI module but main.c). The commands and main.c are covered by
 * tests/integration/cli.sh.
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
#include <unistd.h>

#include "clients/cli/api.h"
#include "clients/cli/cli.h"
#include "clients/cli/cli_escrow.h"
#include "clients/cli/evstream.h"
#include "clients/cli/cli_http.h"
#include "clients/cli/sign.h"
#include "eth/eip191.h"
#include "hex.h"
#include "json.h"

/* anvil's second dev account (public test key) and its address. */
static const char test_key_hex[] =
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
static const char test_addr[] = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

/* ---- cli ---------------------------------------------------------------- */

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(cli_exit_for(ERR_OK), 0);
    assert_int_equal(cli_exit_for(ERR_INVAL), 65);
    assert_int_equal(cli_exit_for(ERR_RPC), 65);
    assert_int_equal(cli_exit_for(ERR_STATE), 65);
    assert_int_equal(cli_exit_for(ERR_NOTFOUND), 66);
    assert_int_equal(cli_exit_for(ERR_UNAVAILABLE), 69);
    assert_int_equal(cli_exit_for(ERR_NOMEM), 70);
    assert_int_equal(cli_exit_for(ERR_IO), 74);
    assert_int_equal(cli_exit_for(ERR_TIMEDOUT), 75);
    assert_int_equal(cli_exit_for(ERR_PROTO), 76);
    assert_int_equal(cli_exit_for(ERR_PERM), 77);
    assert_int_equal(cli_exit_for(ERR_AUTH), 77);
    assert_int_equal(cli_exit_for(ERR__COUNT), 70);
    for (int e = 1; e < ERR__COUNT; e++)
        assert_true(cli_exit_for((enum err)e) >= 64); /* no error maps to success */
}

static void test_parse_usd(void **state)
{
    (void)state;
    int64_t c = 0;
    assert_int_equal(cli_parse_usd("12.50", &c), ERR_OK);
    assert_int_equal(c, 1250);
    assert_int_equal(cli_parse_usd("3", &c), ERR_OK);
    assert_int_equal(c, 300);
    assert_int_equal(cli_parse_usd("0.01", &c), ERR_OK);
    assert_int_equal(c, 1);
    assert_int_equal(cli_parse_usd("1000000000", &c), ERR_OK);
    assert_int_equal(c, 100000000000LL);
    c = 7;
    assert_int_equal(cli_parse_usd("1.234", &c), ERR_INVAL); /* no silent rounding */
    assert_int_equal(cli_parse_usd("0", &c), ERR_INVAL);
    assert_int_equal(cli_parse_usd("0.00", &c), ERR_INVAL);
    assert_int_equal(cli_parse_usd("-1", &c), ERR_INVAL);
    assert_int_equal(cli_parse_usd("1e3", &c), ERR_INVAL);
    assert_int_equal(cli_parse_usd("", &c), ERR_INVAL);
    assert_int_equal(cli_parse_usd("1000000000.01", &c), ERR_RANGE);
    assert_int_equal(c, 7);
    char out[CLI_USD_MAX];
    cli_format_usd(1250, out);
    assert_string_equal(out, "12.50");
    cli_format_usd(5, out);
    assert_string_equal(out, "0.05");
}

static void test_parse_job_id(void **state)
{
    (void)state;
    int64_t id = 0;
    assert_int_equal(cli_parse_job_id("42", &id), ERR_OK);
    assert_int_equal(id, 42);
    assert_int_equal(cli_parse_job_id("9223372036854775807", &id), ERR_OK);
    assert_int_equal(id, INT64_MAX);
    assert_int_equal(cli_parse_job_id("9223372036854775808", &id), ERR_INVAL);
    assert_int_equal(cli_parse_job_id("0", &id), ERR_INVAL);
    assert_int_equal(cli_parse_job_id("042", &id), ERR_INVAL);
    assert_int_equal(cli_parse_job_id("4x", &id), ERR_INVAL);
    assert_int_equal(cli_parse_job_id("-4", &id), ERR_INVAL);
}

/* One parse of argv with a small table; stderr text into *err_text. */
struct parsed {
    struct cli c;
    char *name;
    long long n;
    bool flag;
    struct cli_strv multi;
    char *err_text;
    size_t err_len;
};

static const struct cli_cmd_spec *spec_for(struct parsed *p, struct cli_opt opts[4])
{
    static struct cli_cmd_spec sp;
    const struct cli_opt tmpl[4] = {
        {"name", CLI_OPT_STR, NULL, "dflt", 0, 0, "NAME", "a name", &p->name},
        {"n", CLI_OPT_INT, NULL, "5", 1, 10, "N", "a number", &p->n},
        {"flag", CLI_OPT_FLAG, NULL, NULL, 0, 0, NULL, "a flag", &p->flag},
        {"file", CLI_OPT_MULTI, NULL, NULL, 0, 0, "FILE", "files", &p->multi},
    };
    memcpy(opts, tmpl, sizeof(tmpl));
    sp = (struct cli_cmd_spec){"t", "JOB", 1, 2, "test", "loom t 1", opts, 4};
    return &sp;
}

static enum err parse(struct parsed *p, struct cli_opt opts[4], int argc, char **argv)
{
    memset(p, 0, sizeof(*p));
    p->c.out = stdout;
    p->c.err = open_memstream(&p->err_text, &p->err_len);
    enum err e = cli_parse(&p->c, spec_for(p, opts), argc, argv);
    fclose(p->c.err);
    return e;
}

static void parsed_release(struct parsed *p, struct cli_opt opts[4])
{
    cli_release(&p->c, spec_for(p, opts));
    free(p->err_text);
}

static void test_cli_parse(void **state)
{
    (void)state;
    struct parsed p;
    struct cli_opt opts[4];

    unsetenv("LOOM_GATEWAY_URL");
    setenv("LOOM_RPC_URL", "http://env:1", 1);
    char *a1[] = {"t",      "--json",   "42",        "--name",        "x", "--n=7", "--file", "a",
                  "--flag", "--file=b", "--rpc-url", "http://flag:2", "43"};
    assert_int_equal(parse(&p, opts, 13, a1), ERR_OK);
    assert_true(p.c.json); /* a bare flag never swallows the next argument */
    assert_int_equal(p.c.n_args, 2);
    assert_string_equal(p.c.args[0], "42");
    assert_string_equal(p.c.args[1], "43");
    assert_string_equal(p.name, "x");
    assert_int_equal(p.n, 7);
    assert_true(p.flag);
    assert_int_equal(p.multi.n, 2);
    assert_string_equal(p.multi.v[1], "b");
    assert_string_equal(p.c.rpc_url, "http://flag:2"); /* flags win over the environment */
    assert_string_equal(p.c.gateway_url, "http://127.0.0.1:8080");
    assert_int_equal(p.c.timeout_s, 120);
    parsed_release(&p, opts);

    char *a2[] = {"t", "--", "--not-an-option"};
    assert_int_equal(parse(&p, opts, 3, a2), ERR_OK);
    assert_string_equal(p.c.args[0], "--not-an-option");
    assert_string_equal(p.name, "dflt");
    assert_string_equal(p.c.rpc_url, "http://env:1");
    parsed_release(&p, opts);
    unsetenv("LOOM_RPC_URL");

    char *a3[] = {"t", "1", "--help", "--bogus"};
    assert_int_equal(parse(&p, opts, 4, a3), ERR_OK);
    assert_true(p.c.help);
    parsed_release(&p, opts);

    struct {
        int argc;
        char *argv[4];
        const char *msg;
    } bad[] = {
        {1, {"t"}, "missing argument: usage is loom t JOB"},
        {4, {"t", "1", "2", "3"}, "unexpected argument \"3\""},
        {3, {"t", "1", "--bogus"}, "unknown option \"--bogus\""},
        {3, {"t", "1", "-x"}, "unknown option \"-x\""},
        {3, {"t", "1", "--name"}, "--name needs a value (NAME)"},
        {3, {"t", "1", "--n=11"}, "must be an integer from 1 to 10"},
        {3, {"t", "1", "--n=1x"}, "must be an integer from 1 to 10"},
        {3, {"t", "1", "--flag=yes"}, "--flag takes no value"},
        {3, {"t", "1", "--key=0x01"}, "keys are never taken on the command line"},
        {4, {"t", "1", "--private-key", "0x01"}, "keys are never taken on the command line"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(&p, opts, bad[i].argc, bad[i].argv), ERR_INVAL);
        if (strstr(p.err_text, bad[i].msg) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, p.err_text, bad[i].msg);
        assert_non_null(strstr(p.err_text, "(see loom t --help)"));
        parsed_release(&p, opts);
    }

    setenv("LOOM_TIMEOUT_S", "0", 1); /* bad environment values are usage errors too */
    char *a4[] = {"t", "1"};
    assert_int_equal(parse(&p, opts, 2, a4), ERR_INVAL);
    assert_non_null(strstr(p.err_text, "LOOM_TIMEOUT_S \"0\" of --timeout"));
    parsed_release(&p, opts);
    unsetenv("LOOM_TIMEOUT_S");
}

static void test_cli_fail_json(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    size_t out_len = 0, err_len = 0;
    struct cli c;
    memset(&c, 0, sizeof(c));
    c.cmd = "fund";
    c.json = true;
    c.out = open_memstream(&out, &out_len);
    c.err = open_memstream(&err, &err_len);
    assert_int_equal(cli_fail(&c, ERR_RPC, "cannot fund job %d: rpc: %s", 42, "insufficient funds"),
                     65);
    assert_int_equal(cli_fail_code(&c, ERR_INVAL, 78, "bad \"x\""), 78);
    fclose(c.out);
    fclose(c.err);
    assert_string_equal(err, "loom fund: cannot fund job 42: rpc: insufficient funds\n"
                             "loom fund: bad \"x\"\n");
    assert_string_equal(out, "{\"error\":{\"code\":\"rpc_error\",\"message\":\"cannot fund job 42: "
                             "rpc: insufficient funds\",\"exit\":65}}\n"
                             "{\"error\":{\"code\":\"invalid\",\"message\":\"bad \\\"x\\\"\","
                             "\"exit\":78}}\n");
    free(out);
    free(err);
}

static void test_load_key_modes(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cli.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    (void)snprintf(path, sizeof(path), "%s/k", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n", test_key_hex);
    fclose(f);
    struct cli c;
    memset(&c, 0, sizeof(c));
    c.key_file = path;
    struct key k;
    struct buf why;
    buf_init(&why, 1024);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(cli_load_key(&c, &k, &why), ERR_PERM);
    assert_non_null(strstr(buf_cstr(&why), "has mode 0644, want 0600"));
    buf_reset(&why);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(cli_load_key(&c, &k, &why), ERR_OK);
    char addr[43];
    hex_encode(k.addr, 20, true, addr);
    assert_string_equal(addr, test_addr);
    key_wipe(&k);
    c.key_file = NULL;
    assert_int_equal(cli_load_key(&c, &k, &why), ERR_INVAL);
    assert_non_null(strstr(buf_cstr(&why), "LOOM_KEY_FILE"));
    buf_release(&why);
    unlink(path);
    rmdir(dir);
}

/* ---- sign --------------------------------------------------------------- */

static void test_sha256(void **state)
{
    (void)state;
    char hex[SIGN_SHA256_HEX];
    sign_sha256_hex(NULL, 0, hex); /* FIPS 180-2 / well-known empty-string digest */
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sign_sha256_hex("abc", 3, hex); /* FIPS 180-2 appendix B.1 */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char path[] = "/tmp/test_cli_sha.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    uint8_t d[32];
    uint64_t size = 0;
    assert_int_equal(sign_sha256_file(path, d, &size), ERR_OK);
    assert_int_equal(size, 3);
    hex_encode(d, 32, false, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    assert_int_equal(sign_sha256_file(path, d, &size), ERR_NOTFOUND);
}

static void test_sign_request(void **state)
{
    (void)state;
    struct key k;
    assert_int_equal(key_from_hex(test_key_hex, &k), ERR_OK);
    struct sign_headers h;
    assert_int_equal(
        sign_request(&k, "POST", "/api/jobs", NULL, 0, 1764460800, "abcdef0123456789", &h), ERR_OK);
    assert_string_equal(h.address, test_addr);
    assert_string_equal(h.timestamp, "1764460800");
    assert_string_equal(h.nonce, "abcdef0123456789");
    /* The same text signed by `cast wallet sign` (personal_sign, RFC 6979). */
    assert_string_equal(h.signature,
                        "0x876f5f7832674a31e6e3c377d2ea1fde69a1978203240a1b6e93893bd19dd086381a"
                        "9305cce7c48e9b69d6323567ae0cf24c7128bde7d889d4a206575da433bc1c");
    struct buf text;
    buf_init(&text, 0);
    assert_int_equal(
        sign_canonical("POST", "/api/jobs",
                       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                       "1764460800", "abcdef0123456789", &text),
        ERR_OK);
    assert_string_equal(buf_cstr(&text),
                        "loom-request-v1\nPOST\n/api/jobs\n"
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                        "1764460800\nabcdef0123456789");
    uint8_t rsv[65], who[20];
    assert_int_equal(hex_decode_exact(h.signature, rsv, 65), ERR_OK);
    assert_int_equal(eip191_recover(text.data, text.len, rsv, who), ERR_OK);
    assert_memory_equal(who, k.addr, 20);
    /* A body changes the signed text: the signature no longer recovers to us. */
    struct sign_headers h2;
    assert_int_equal(
        sign_request(&k, "POST", "/api/jobs", "x", 1, 1764460800, "abcdef0123456789", &h2), ERR_OK);
    assert_string_not_equal(h2.signature, h.signature);
    /* Fresh nonces: 32 hex digits, never the same twice. */
    struct sign_headers r1, r2;
    assert_int_equal(sign_request(&k, "GET", "/", NULL, 0, 1, NULL, &r1), ERR_OK);
    assert_int_equal(sign_request(&k, "GET", "/", NULL, 0, 1, NULL, &r2), ERR_OK);
    assert_int_equal(strlen(r1.nonce), 32);
    assert_string_not_equal(r1.nonce, r2.nonce);
    assert_int_equal(sign_request(&k, "GET", "/", NULL, 0, 1, "short", &r1), ERR_INVAL);
    assert_int_equal(sign_request(&k, "GET", "/", NULL, 0, 1, "has space!", &r1), ERR_INVAL);
    buf_release(&text);
    key_wipe(&k);
}

/* ---- evstream ----------------------------------------------------------- */

struct got {
    struct buf log; /* "type=data|" per event */
    int stop_after; /* stop at this event number (1-based); 0 never */
    int n;
};

static int got_cb(void *arg, const char *type, const char *data, size_t len)
{
    struct got *g = arg;
    assert_int_equal(strlen(data), len);
    assert_int_equal(buf_appendf(&g->log, "%s=%s|", type, data), ERR_OK);
    g->n++;
    return g->stop_after && g->n == g->stop_after ? 7 : 0;
}

/* Feed <s> one byte at a time and in one piece; both must give <want>. */
static void check_stream(const char *s, const char *want)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct got g = {.stop_after = 0};
        struct evstream p;
        int stop = 0;
        buf_init(&g.log, 0);
        evstream_init(&p, 0, got_cb, &g);
        if (bytewise) {
            for (size_t i = 0; s[i]; i++)
                assert_int_equal(evstream_feed(&p, s + i, 1, &stop), ERR_OK);
        } else {
            assert_int_equal(evstream_feed(&p, s, strlen(s), &stop), ERR_OK);
        }
        assert_int_equal(stop, 0);
        assert_string_equal(buf_cstr(&g.log), want);
        evstream_release(&p);
        buf_release(&g.log);
    }
}

static void test_evstream(void **state)
{
    (void)state;
    check_stream(": connected\n\nevent: job.progress\ndata: {\"job_id\":1}\n\n",
                 "job.progress={\"job_id\":1}|");
    check_stream("data: a\r\ndata:b\r\n\r\n", "message=a\nb|"); /* CRLF, no space after ':' */
    check_stream("data: x\rdata: y\r\rdata: z\n\n", "message=x\ny|message=z|"); /* bare CR */
    check_stream("event: e\n\ndata: d\n\n", "message=d|"); /* no data: not dispatched, type reset */
    check_stream("id: 7\nretry: 10\nfoo: bar\ndata\n\n", "message=|"); /* "data" alone: empty */
    check_stream("\xEF\xBB\xBF"
                 "data: bom\n\n",
                 "message=bom|");
    check_stream("data: unfinished", ""); /* no blank line yet: nothing */

    /* A callback's non-zero answer stops the feed and drops the rest. */
    struct got g = {.stop_after = 1};
    struct evstream p;
    int stop = 0;
    buf_init(&g.log, 0);
    evstream_init(&p, 0, got_cb, &g);
    assert_int_equal(evstream_feed(&p, "data: 1\n\ndata: 2\n\n", 18, &stop), ERR_OK);
    assert_int_equal(stop, 7);
    assert_string_equal(buf_cstr(&g.log), "message=1|");
    evstream_release(&p);
    buf_release(&g.log);

    /* Lines over the cap fail. */
    struct got g2 = {.stop_after = 0};
    buf_init(&g2.log, 0);
    evstream_init(&p, 8, got_cb, &g2);
    assert_int_equal(evstream_feed(&p, "data: 0123456789\n", 17, &stop), ERR_TOOBIG);
    evstream_release(&p);
    buf_release(&g2.log);
}

/* ---- api ---------------------------------------------------------------- */

static void check_error(long status, const char *body, enum err want, const char *want_msg)
{
    struct buf msg;
    buf_init(&msg, 1024);
    assert_int_equal(api_error_from(status, body, strlen(body), &msg), want);
    assert_string_equal(buf_cstr(&msg), want_msg);
    buf_release(&msg);
}

static void test_api_errors(void **state)
{
    (void)state;
    check_error(404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no job 9\"}}", ERR_NOTFOUND,
                "no job 9");
    check_error(401, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"bad signature\"}}",
                ERR_AUTH, "bad signature");
    check_error(429, "{\"error\":{\"code\":\"rate_limited\",\"message\":\"retry in 2 s\"}}",
                ERR_TIMEDOUT, "retry in 2 s");
    check_error(409, "{\"error\":{\"code\":\"conflict\",\"message\":\"not PENDING\"}}", ERR_STATE,
                "not PENDING");
    /* The gateway's own trouble is never reported as ours. */
    check_error(503, "{\"error\":{\"code\":\"no_memory\",\"message\":\"oom\"}}", ERR_UNAVAILABLE,
                "oom");
    check_error(502, "<html>bad gateway</html>", ERR_UNAVAILABLE, "gateway answered HTTP 502");
    check_error(400, "", ERR_INVAL, "gateway answered HTTP 400");
    check_error(413, "{}", ERR_TOOBIG, "gateway answered HTTP 413");
    check_error(400, "{\"error\":{\"code\":\"ok\",\"message\":\"?\"}}", ERR_PROTO, "?");
}

static void test_api_job_decode(void **state)
{
    (void)state;
    /* The gateway's spelling. */
    const char *gw =
        "{\"id\":42,\"title\":\"T\",\"type\":\"IA\",\"price_usd_cents\":1250,"
        "\"client\":\"0x70997970c51812dc3a010c7d01b50e0d17dc79c8\",\"worker\":null,"
        "\"status\":\"WORKING\",\"progress\":35,\"created_at\":1764460800,"
        "\"spec_sha256\":\"d4f02eaafd1a9e9de7d10972ca8e47fa7a985825c3c9c1e249c72683cb3e"
        "4f19\",\"result_sha256\":null,\"files\":[]}";
    /* PROTOCOL.md's record:job spelling. */
    const char *proto =
        "{\"v\":1,\"id\":42,\"status\":\"SUBMITTED\",\"wallet_address\":\"0x70997970c51812dc3a0"
        "10c7d01b50e0d17dc79c8\",\"worker_address\":\"0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
        "\",\"chain_job_id\":\"0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b7"
        "98\",\"result_sha256\":\"0xf6a214f7a5fcda0c2cee9660b7fc29f5649e3c68aad48e20e950137c989"
        "13a68\",\"deadline_at\":1764547200,\"max_runtime_s\":3600}";
    struct cJSON *o = NULL;
    struct api_job j;
    struct json_err je;
    json_err_init(&je);
    assert_int_equal(json_parse(gw, strlen(gw), 1 << 20, 16, &o, &je), ERR_OK);
    assert_int_equal(api_job_decode(o, &j, &je), ERR_OK);
    assert_int_equal(j.id, 42);
    assert_string_equal(j.status, "WORKING");
    assert_string_equal(j.client, test_addr);
    assert_null(j.worker);
    assert_int_equal(j.price_usd_cents, 1250);
    assert_int_equal(j.progress, 35);
    assert_true(j.has_spec);
    assert_int_equal(j.spec_sha256[0], 0xd4);
    assert_int_equal(j.spec_sha256[31], 0x19);
    assert_false(j.has_result);
    api_job_release(&j);
    json_free(o);

    assert_int_equal(json_parse(proto, strlen(proto), 1 << 20, 16, &o, &je), ERR_OK);
    assert_int_equal(api_job_decode(o, &j, &je), ERR_OK);
    assert_string_equal(j.client, test_addr);
    assert_string_equal(j.worker, "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc");
    assert_true(j.has_chain_job_id);
    assert_int_equal(j.chain_job_id[0], 0x94);
    assert_true(j.has_result);
    assert_int_equal(j.result_sha256[0], 0xf6);
    assert_int_equal(j.deadline_at, 1764547200);
    assert_int_equal(j.max_runtime_s, 3600);
    api_job_release(&j);
    json_free(o);

    const char *bad[][2] = {
        {"{\"status\":\"OPEN\"}", "id"},
        {"{\"id\":1}", "status"},
        {"{\"id\":1,\"status\":\"OPEN\",\"spec_sha256\":\"abcd\"}", "spec_sha256"},
        {"{\"id\":1,\"status\":\"OPEN\",\"progress\":101}", "progress"},
        {"{\"id\":0,\"status\":\"OPEN\"}", "id"},
        {"[1]", ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_err_init(&je);
        assert_int_equal(json_parse(bad[i][0], strlen(bad[i][0]), 1 << 20, 16, &o, &je), ERR_OK);
        assert_int_not_equal(api_job_decode(o, &j, &je), ERR_OK);
        assert_string_equal(je.path, bad[i][1]);
        assert_null(j.status);
        json_free(o);
    }
}

static void test_api_multipart(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cli_mp.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char spec[256], in1[256], quote[256], spec_named[256];
    (void)snprintf(spec, sizeof(spec), "%s/my-spec.json", dir);
    (void)snprintf(in1, sizeof(in1), "%s/a.csv", dir);
    (void)snprintf(quote, sizeof(quote), "%s/b\"c", dir);
    (void)snprintf(spec_named, sizeof(spec_named), "%s/job.json", dir);
    FILE *f = fopen(spec, "w");
    fputs("{}", f);
    fclose(f);
    f = fopen(in1, "w");
    fputs("1,2\n", f);
    fclose(f);
    const char *inputs[] = {in1};
    struct api_job_new in = {"Title", NULL, "IA", 1250, spec, inputs, 1};
    struct buf body, why;
    buf_init(&body, 0);
    buf_init(&why, 1024);
    assert_int_equal(api_build_multipart(&in, "BND", &body, &why), ERR_OK);
    assert_string_equal(buf_cstr(&body),
                        "--BND\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nTitle\r\n"
                        "--BND\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n\r\n"
                        "--BND\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nIA\r\n"
                        "--BND\r\nContent-Disposition: form-data; name=\"price_usd_cents\"\r\n\r\n"
                        "1250\r\n"
                        "--BND\r\nContent-Disposition: form-data; name=\"job.json\"; "
                        "filename=\"job.json\"\r\nContent-Type: application/json\r\n\r\n{}\r\n"
                        "--BND\r\nContent-Disposition: form-data; name=\"file\"; "
                        "filename=\"a.csv\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                        "1,2\n\r\n--BND--\r\n");
    /* Refused before anything is read or sent. */
    const char *cases[][2] = {
        {quote, "has a quote"},
        {spec_named, "reserved for the job spec"},
    };
    for (size_t i = 0; i < 2; i++) {
        buf_reset(&body);
        buf_reset(&why);
        inputs[0] = cases[i][0];
        assert_int_equal(api_build_multipart(&in, "BND", &body, &why), ERR_INVAL);
        assert_non_null(strstr(buf_cstr(&why), cases[i][1]));
    }
    const char *twice[] = {in1, in1};
    in.input_paths = twice;
    in.n_inputs = 2;
    buf_reset(&body);
    buf_reset(&why);
    assert_int_equal(api_build_multipart(&in, "BND", &body, &why), ERR_INVAL);
    assert_non_null(strstr(buf_cstr(&why), "is given twice"));
    /* The boundary inside a file is refused rather than sent corrupt. */
    inputs[0] = in1;
    in.input_paths = inputs;
    in.n_inputs = 1;
    buf_reset(&body);
    buf_reset(&why);
    assert_int_equal(api_build_multipart(&in, "1,2", &body, &why), ERR_INVAL);
    assert_non_null(strstr(buf_cstr(&why), "boundary occurs"));
    /* A missing file. */
    char missing[256];
    (void)snprintf(missing, sizeof(missing), "%s/none.csv", dir);
    inputs[0] = missing;
    buf_reset(&body);
    buf_reset(&why);
    assert_int_equal(api_build_multipart(&in, "BND", &body, &why), ERR_NOTFOUND);
    assert_non_null(strstr(buf_cstr(&why), "none.csv"));
    buf_release(&body);
    buf_release(&why);
    unlink(spec);
    unlink(in1);
    rmdir(dir);
}

/* ---- escrow ------------------------------------------------------------- */

static void test_escrow_encodings(void **state)
{
    (void)state;
    uint8_t client[20], ref[32], id[32], spec[32], want[32];
    char hex[200];
    assert_int_equal(key_addr_parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", client), ERR_OK);
    cli_escrow_ref_of(42, ref);
    assert_int_equal(ref[31], 42);
    assert_int_equal(ref[0], 0);
    cli_escrow_job_id(client, ref, id);
    /* cast keccak $(cast abi-encode "f(address,bytes32)" <client> 0x..2a) */
    assert_int_equal(
        hex_decode_exact("0x367b324050bfe42dbb24c3286e5acbc18a9dbcf9ddc6ddc81e06ab106e4"
                         "33fdb",
                         want, 32),
        ERR_OK);
    assert_memory_equal(id, want, 32);

    struct buf data;
    buf_init(&data, 0);
    memset(spec, 0x11, 32);
    assert_int_equal(cli_escrow_calldata_create(ref, 1250, spec, 0, 3600, 600, &data), ERR_OK);
    assert_int_equal(data.len, 4 + 6 * 32);
    hex_encode(data.data, 4, true, hex);
    assert_string_equal(hex, "0xda161540"); /* docs/contracts.md's create selector */
    /* Byte for byte what `cast calldata` encodes. */
    struct buf want_create;
    buf_init(&want_create, 0);
    assert_int_equal(
        hex_decode_buf("0xda161540"
                       "000000000000000000000000000000000000000000000000000000000000002a"
                       "00000000000000000000000000000000000000000000000000000000000004e2"
                       "1111111111111111111111111111111111111111111111111111111111111111"
                       "0000000000000000000000000000000000000000000000000000000000000000"
                       "0000000000000000000000000000000000000000000000000000000000000e10"
                       "0000000000000000000000000000000000000000000000000000000000000258",
                       &want_create),
        ERR_OK);
    assert_int_equal(data.len, want_create.len);
    assert_memory_equal(data.data, want_create.data, data.len);
    buf_release(&want_create);

    const char *fns[][2] = {{"accept", "0xe4725ba1"}, {"dispute", "0xadd98c70"}};
    for (size_t i = 0; i < 2; i++) {
        buf_reset(&data);
        assert_int_equal(cli_escrow_calldata_job(fns[i][0], id, &data), ERR_OK);
        assert_int_equal(data.len, 36);
        hex_encode(data.data, 4, true, hex);
        assert_string_equal(hex, fns[i][1]);
        assert_memory_equal(data.data + 4, id, 32);
    }
    /* `cast calldata 'resolve(bytes32,uint256)' <id> 333333333333334` */
    buf_reset(&data);
    assert_int_equal(cli_escrow_calldata_resolve(id, u256_from_u64(333333333333334ULL), &data),
                     ERR_OK);
    assert_int_equal(data.len, 68);
    hex_encode(data.data, data.len, true, hex);
    assert_string_equal(hex, "0xedb70d9e"
                             "367b324050bfe42dbb24c3286e5acbc18a9dbcf9ddc6ddc81e06ab106e433fdb"
                             "00000000000000000000000000000000000000000000000000012f2a36ecd556");
    buf_reset(&data);
    assert_int_equal(cli_escrow_calldata_withdraw(&data), ERR_OK);
    hex_encode(data.data, data.len, true, hex);
    assert_string_equal(hex, "0x3ccfd60b");
    buf_release(&data);

    /* Revert data: a custom error by name, Error(string) by its reason. */
    struct buf r;
    buf_init(&r, 0);
    uint8_t rev[36] = {0xac, 0x26, 0x55, 0x08}; /* cast sig "NotClient(bytes32)" */
    assert_int_equal(cli_escrow_revert_reason(rev, sizeof(rev), &r), ERR_OK);
    assert_string_equal(buf_cstr(&r), "NotClient(bytes32)");
    buf_reset(&r);
    struct buf err_string;
    buf_init(&err_string, 0);
    assert_int_equal(
        hex_decode_buf("0x08c379a0"
                       "0000000000000000000000000000000000000000000000000000000000000020"
                       "0000000000000000000000000000000000000000000000000000000000000004"
                       "6e6f706500000000000000000000000000000000000000000000000000000000",
                       &err_string),
        ERR_OK);
    assert_int_equal(cli_escrow_revert_reason((const uint8_t *)err_string.data, err_string.len, &r),
                     ERR_OK);
    assert_string_equal(buf_cstr(&r), "Error: nope");
    buf_reset(&r);
    uint8_t unknown[4] = {0xde, 0xad, 0xbe, 0xef};
    assert_int_equal(cli_escrow_revert_reason(unknown, 4, &r), ERR_OK);
    assert_string_equal(buf_cstr(&r), "unknown error 0xdeadbeef");
    buf_release(&r);
    buf_release(&err_string);
    assert_string_equal(cli_escrow_status_name(3), "Submitted");
    assert_string_equal(cli_escrow_status_name(9), "?");
}

static void test_escrow_deployment(void **state)
{
    (void)state;
    char path[] = "/tmp/test_cli_dep.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct {
        const char *text;
        enum err want;
        const char *why;
    } cases[] = {
        {"{\"chainId\":31337,\"escrow\":\"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\",\"abi\":[]}",
         ERR_OK, ""},
        {"{\"chainId\":31337}", ERR_INVAL, "escrow: required"},
        {"{\"chainId\":\"x\",\"escrow\":\"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512\"}", ERR_INVAL,
         "chainId"},
        {"{\"chainId\":1,\"escrow\":\"0x12\"}", ERR_INVAL, "escrow"},
        {"not json", ERR_INVAL, "bad deployment file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        FILE *f = fopen(path, "w");
        fputs(cases[i].text, f);
        fclose(f);
        struct cli_escrow_deployment d;
        struct buf why;
        buf_init(&why, 1024);
        assert_int_equal(cli_escrow_load_deployment(path, &d, &why), cases[i].want);
        if (strstr(buf_cstr(&why), cases[i].why) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, buf_cstr(&why), cases[i].why);
        if (cases[i].want == ERR_OK) {
            assert_int_equal(d.chain_id, 31337);
            assert_int_equal(d.escrow[0], 0xe7);
            assert_int_equal(d.escrow[19], 0x12);
        }
        buf_release(&why);
    }
    unlink(path);
    struct cli_escrow_deployment d;
    struct buf why;
    buf_init(&why, 1024);
    assert_int_equal(cli_escrow_load_deployment(path, &d, &why), ERR_NOTFOUND);
    assert_non_null(strstr(buf_cstr(&why), "LOOM_DEPLOYMENT"));
    buf_release(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),       cmocka_unit_test(test_parse_usd),
        cmocka_unit_test(test_parse_job_id),     cmocka_unit_test(test_cli_parse),
        cmocka_unit_test(test_cli_fail_json),    cmocka_unit_test(test_load_key_modes),
        cmocka_unit_test(test_sha256),           cmocka_unit_test(test_sign_request),
        cmocka_unit_test(test_evstream),         cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_api_job_decode),   cmocka_unit_test(test_api_multipart),
        cmocka_unit_test(test_escrow_encodings), cmocka_unit_test(test_escrow_deployment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
