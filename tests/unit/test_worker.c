/* Tests for the worker's compute half: generic OpenCL jobs against CPU
 * references, training on digits.csv, the image pipeline on china.jpg
 * against a CPU reference, hostile kernels in the confined child, and the
 * pieces (jobpipe, jobfiles, sandbox, cl). Jobs run through runner_run(),
 * which execs build/bin/loom-worker (LOOM_BUILD) in its run-job mode.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "services/worker/cl.h"
#include "services/worker/image.h"
#include "services/worker/job.h"
#include "services/worker/jobfiles.h"
#include "services/worker/jobpipe.h"
#include "jobspec.h"
#include "services/worker/runner.h"
#include "services/worker/sandbox.h"
#include "services/worker/train.h"

static char tmp_root[1024];
static int tmp_seq;

static void make_tmp(char *out, size_t n)
{
    snprintf(out, n, "%s/w%d", tmp_root, tmp_seq++);
    assert_int_equal(mkdir(out, 0755), 0);
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
    struct buf msg;
    buf_init(&msg, 0);
    if (jobfiles_write(dir, name, p, n, &msg) != ERR_OK)
        fail_msg("cannot write %s/%s: %s", dir, name, buf_cstr(&msg));
    buf_release(&msg);
}

static void sha_hex(const void *p, size_t n, char hex[65])
{
    unsigned char d[32];
    jobfiles_sha256(p, n, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static unsigned char *read_all(const char *dir, const char *name, size_t *len)
{
    struct buf msg;
    buf_init(&msg, 0);
    unsigned char *p = NULL;
    if (jobfiles_read(dir, name, (size_t)1 << 30, &p, len, &msg) != ERR_OK)
        fail_msg("cannot read %s/%s: %s", dir, name, buf_cstr(&msg));
    buf_release(&msg);
    return p;
}

static unsigned progress_calls;
static void count_progress(void *arg, unsigned pct)
{
    (void)arg;
    assert_true(pct <= 100);
    progress_calls++;
}

/* Write <spec> to a new folder and run it with the given limits; the work
 * folder's path goes to <out_dir>. */
static void run_spec(const char *spec, const char *files_dir, long long wall_ms, long long cpu_s,
                     long long mem_bytes, struct runner_result *res, char *out_dir, size_t out_n)
{
    char dir[4096], spec_path[4200], exe[4096];
    make_tmp(dir, sizeof(dir));
    write_file(dir, "job.json", spec, strlen(spec));
    snprintf(spec_path, sizeof(spec_path), "%s/job.json", dir);
    snprintf(out_dir, out_n, "%s/out", dir);
    assert_int_equal(mkdir(out_dir, 0755), 0);
    const char *b = getenv("LOOM_BUILD");
    snprintf(exe, sizeof(exe), "%s/bin/loom-worker", b && *b ? b : "build");
    struct runner_opts o = {.exe = exe,
                            .spec_path = spec_path,
                            .files_dir = files_dir,
                            .out_dir = out_dir,
                            .wall_ms = wall_ms,
                            .cpu_seconds = cpu_s,
                            .mem_bytes = mem_bytes,
                            .seccomp = 1};
    runner_result_init(res);
    progress_calls = 0;
    assert_int_equal(runner_run(&o, count_progress, NULL, res), ERR_OK);
}

static void expect_ok(struct runner_result *res)
{
    if (res->status != RUNNER_OK)
        fail_msg("job %s: %s", runner_status_name(res->status), buf_cstr(&res->reason));
}

/* --- generic opencl jobs ------------------------------------------------ */

static uint32_t mix(uint32_t v, uint32_t k)
{
    v = v * 2654435761u ^ (v >> 13);
    return (v << 7 | v >> 25) + k;
}

static void test_opencl_integer_bit_exact(void **state)
{
    (void)state;
    enum { N = 4096, PASSES = 3 };
    uint32_t a[N], ref[N], cnt[N];
    for (uint32_t i = 0; i < N; i++)
        a[i] = ref[i] = i * 0x9e3779b9u + 12345u;
    for (int p = 0; p < PASSES; p++)
        for (int i = 0; i < N; i++) {
            ref[i] = mix(ref[i], 0xdeadbeefu);
            cnt[i] = (uint32_t)__builtin_popcount(ref[i]) + (uint32_t)p;
        }
    char files[4096], out[4300], hex[65];
    make_tmp(files, sizeof(files));
    write_file(files, "a.bin", a, sizeof(a));
    sha_hex(a, sizeof(a), hex);
    /* c counts passes itself (in its top 16 bits, since the buffer persists
     * between passes) and holds popcount + pass index below. */
    const char *kernel = "__kernel void mixk(__global uint *a, __global uint *c, uint k) {"
                         " size_t i = get_global_id(0);"
                         " uint v = a[i] * 2654435761u ^ (a[i] >> 13);"
                         " a[i] = rotate(v, 7u) + k;"
                         " uint pass = c[i] >> 16;"
                         " c[i] = ((pass + 1) << 16) | (popcount(a[i]) + pass); }";
    struct buf spec;
    buf_init(&spec, 0);
    assert_int_equal(buf_appendf(&spec,
                                 "{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"a.bin\","
                                 "\"sha256\":\"%s\"}],\"opencl\":{\"source\":\"%s\",\"kernel\":"
                                 "\"mixk\",\"global\":[%d],\"local\":[64],\"passes\":%d,\"args\":["
                                 "{\"type\":\"in\",\"file\":\"a.bin\",\"output\":\"a_out.bin\"},"
                                 "{\"type\":\"out\",\"size_bytes\":%zu,\"output\":\"c.bin\"},"
                                 "{\"type\":\"uint\",\"value\":%u}]}}",
                                 hex, kernel, N, PASSES, sizeof(cnt), 0xdeadbeefu),
                     ERR_OK);
    struct runner_result res;
    run_spec(buf_cstr(&spec), files, 60000, 0, 0, &res, out, sizeof(out));
    expect_ok(&res);
    assert_int_equal(res.files.n, 2);
    assert_string_equal(res.files.files[0].name, "a_out.bin");
    assert_string_equal(res.files.files[1].name, "c.bin");
    assert_int_equal(res.last_percent, 100);
    size_t n = 0;
    unsigned char *got = read_all(out, "a_out.bin", &n);
    assert_int_equal(n, sizeof(ref));
    assert_memory_equal(got, ref, sizeof(ref)); /* bit for bit */
    unsigned char digest[32];
    jobfiles_sha256(got, n, digest);
    assert_memory_equal(digest, res.files.files[0].sha256, 32);
    free(got);
    got = read_all(out, "c.bin", &n);
    uint32_t c[N];
    memcpy(c, got, sizeof(c));
    for (int i = 0; i < N; i++)
        assert_int_equal(c[i], ((uint32_t)PASSES << 16) | cnt[i]);
    free(got);
    runner_result_release(&res);
    buf_release(&spec);
}

static void test_opencl_float_tolerance(void **state)
{
    (void)state;
    enum { N = 10000 };
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i * 0.01f + 0.5f;
    char files[4096], out[4300], hex[65];
    make_tmp(files, sizeof(files));
    write_file(files, "x.bin", x, sizeof(x));
    sha_hex(x, sizeof(x), hex);
    struct buf spec;
    buf_init(&spec, 0);
    assert_int_equal(
        buf_appendf(
            &spec,
            "{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"x.bin\",\"sha256\":\"%s\"}"
            "],\"opencl\":{\"source\":\"__kernel void f(__global const float *x, __global "
            "float *y, float a, double b, int n) { int i = get_global_id(0); if (i < n) "
            "y[i] = a * sqrt(x[i]) + (float)b * x[i] * x[i] - exp(-x[i]); }\",\"kernel\":"
            "\"f\",\"global\":[10240],\"args\":[{\"type\":\"in\",\"file\":\"x.bin\"},"
            "{\"type\":\"out\",\"size_bytes\":%zu,\"output\":\"y.bin\"},"
            "{\"type\":\"float\",\"value\":1.5},{\"type\":\"double\",\"value\":-0.25},"
            "{\"type\":\"int\",\"value\":%d}]}}",
            hex, sizeof(x) + 240 * sizeof(float), N),
        ERR_OK);
    struct runner_result res;
    char outdir[4300];
    run_spec(buf_cstr(&spec), files, 60000, 0, 0, &res, outdir, sizeof(outdir));
    (void)out;
    expect_ok(&res);
    size_t n = 0;
    unsigned char *got = read_all(outdir, "y.bin", &n);
    assert_int_equal(n, (N + 240) * sizeof(float));
    const float *y = (const float *)(void *)got;
    /* Tolerance: OpenCL 1.2 allows sqrt 3 ulp and exp 3 ulp in single
     * precision, and the compiler may fuse multiply-adds, so each result may
     * differ from the double-precision reference by a few float ulps:
     * 1e-5 relative (about 80 ulp) plus 1e-6 absolute bounds that with room. */
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double xi = x[i];
        double ref = 1.5 * sqrt(xi) - 0.25 * xi * xi - exp(-xi);
        double d = fabs(y[i] - ref);
        double rel = d / (fabs(ref) + 1e-30);
        if (d > 1e-6 + 1e-5 * fabs(ref))
            fail_msg("y[%d] = %.9g, reference %.9g", i, y[i], ref);
        if (rel > worst)
            worst = rel;
    }
    for (int i = N; i < N + 240; i++)
        assert_true(y[i] == 0.0f); /* zero-filled, untouched past n */
    free(got);
    runner_result_release(&res);
    buf_release(&spec);
}

/* --- train ------------------------------------------------------------- */

static double json_number_after(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (p == NULL)
        fail_msg("no %s in %s", key, text);
    return strtod(p + strlen(key), NULL);
}

static void run_train(const char *model_fields, double min_test_acc, size_t weights_bytes,
                      unsigned epochs)
{
    size_t n = 0;
    unsigned char *csv = read_all("examples", "digits.csv", &n);
    char hex[65], out[4300];
    sha_hex(csv, n, hex);
    free(csv);
    struct buf spec;
    buf_init(&spec, 0);
    assert_int_equal(buf_appendf(&spec,
                                 "{\"v\":1,\"kind\":\"train\",\"inputs\":[{\"name\":\"digits.csv\","
                                 "\"sha256\":\"%s\"}],\"train\":{%s,\"epochs\":%u,\"batch_size\":"
                                 "32,\"seed\":1,\"test_fraction\":0.2,\"data\":\"digits.csv\"}}",
                                 hex, model_fields, epochs),
                     ERR_OK);
    struct runner_result res;
    run_spec(buf_cstr(&spec), "examples", 120000, 0, 0, &res, out, sizeof(out));
    expect_ok(&res);
    assert_int_equal(res.files.n, 3);
    assert_string_equal(res.files.files[0].name, "metrics.json");
    assert_string_equal(res.files.files[1].name, "model.json");
    assert_string_equal(res.files.files[2].name, "weights.bin");
    assert_int_equal(res.files.files[2].size_bytes, weights_bytes);
    assert_true(progress_calls >= epochs);
    unsigned char *m = read_all(out, "metrics.json", &n);
    const char *text = (const char *)m;
    assert_int_equal((int)json_number_after(text, "\"train_rows\":"), 1438);
    assert_int_equal((int)json_number_after(text, "\"test_rows\":"), 359);
    assert_int_equal((int)json_number_after(text, "\"classes\":"), 10);
    char key[32];
    snprintf(key, sizeof(key), "{\"epoch\":%u,", epochs);
    assert_non_null(strstr(text, key)); /* one entry per epoch */
    double first_loss = json_number_after(text, "{\"epoch\":1,\"loss\":");
    double last_loss = json_number_after(strstr(text, key), "\"loss\":");
    double test_acc = json_number_after(text, "\"final\":{\"train_accuracy\":");
    test_acc = json_number_after(strstr(text, "\"final\":"), "\"test_accuracy\":");
    print_message("train %s: loss %.4f -> %.4f, test accuracy %.4f\n", model_fields, first_loss,
                  last_loss, test_acc);
    assert_true(last_loss < first_loss);
    if (test_acc < min_test_acc)
        fail_msg("test accuracy %.4f below %.2f", test_acc, min_test_acc);
    free(m);
    runner_result_release(&res);
    buf_release(&spec);
}

static void test_train_logistic(void **state)
{
    (void)state;
    run_train("\"model\":\"logistic\",\"learning_rate\":0.05", 0.94, (64 * 10 + 10) * 4, 30);
}

static void test_train_mlp(void **state)
{
    (void)state;
    run_train("\"model\":\"mlp\",\"hidden\":64,\"learning_rate\":0.1", 0.96,
              (64 * 64 + 64 + 64 * 10 + 10) * 4, 30);
}

/* --- the fused and per-product training paths ---------------------------- */

/* Train on examples/digits.csv in this process (no child: train_run_path()
 * is not reachable through the runner) with <path>; returns the weights
 * (weights.bin as floats, *n_out of them) and the path taken. */
static float *train_in_process(struct cl_ctx *cl, const char *model_fields, unsigned epochs,
                               unsigned batch, enum train_path path, enum err want,
                               enum train_path *used, size_t *n_out, struct buf *msg)
{
    size_t n = 0;
    unsigned char *csv = read_all("examples", "digits.csv", &n);
    char hex[65], spec_text[1024], errbuf[JOBSPEC_ERR_MAX], out[4096];
    sha_hex(csv, n, hex);
    free(csv);
    int len = snprintf(spec_text, sizeof(spec_text),
                       "{\"v\":1,\"kind\":\"train\",\"inputs\":[{\"name\":\"digits.csv\","
                       "\"sha256\":\"%s\"}],\"train\":{%s,\"epochs\":%u,\"batch_size\":%u,"
                       "\"seed\":1,\"test_fraction\":0.2,\"data\":\"digits.csv\"}}",
                       hex, model_fields, epochs, batch);
    assert_true(len > 0 && (size_t)len < sizeof(spec_text));
    struct jobspec *spec = NULL;
    assert_int_equal(jobspec_decode(spec_text, (size_t)len, &spec, errbuf), ERR_OK);
    make_tmp(out, sizeof(out));
    struct job_ctx j = {
        .cl = cl, .spec = spec, .files_dir = "examples", .out_dir = out, .pipe = NULL, .msg = msg};
    *used = TRAIN_PATH_AUTO;
    enum err e = train_run_path(&j, path, used);
    if (e != want)
        fail_msg("train_run_path: %s, want %s: %s", err_str(e), err_str(want), buf_cstr(msg));
    jobspec_free(spec);
    if (e != ERR_OK)
        return NULL;
    unsigned char *w = read_all(out, "weights.bin", &n);
    assert_int_equal(n % sizeof(float), 0);
    *n_out = n / sizeof(float);
    return (float *)w;
}

/* The fused path (one launch per epoch) and the per-product path give the
 * same weights after 3 epochs of the digits MLP and of logistic regression,
 * within 1e-4 absolute per weight (weights are of order 0.1-1). The two
 * paths add in the same order, and on POCL 3.1 they agree bit for bit; the
 * bound leaves room for a compiler that contracts a multiply and an add
 * into one rounding in one path and not the other. The fused path is
 * deterministic: two runs agree bit for bit. */
static void test_train_fused_matches_per_product(void **state)
{
    (void)state;
    struct buf msg;
    buf_init(&msg, 0);
    struct cl_ctx *cl = NULL;
    assert_int_equal(cl_open("0", "0", &cl, &msg), ERR_OK);
    static const char *const models[] = {"\"model\":\"mlp\",\"hidden\":64,\"learning_rate\":0.1",
                                         "\"model\":\"logistic\",\"learning_rate\":0.05"};
    static const size_t sizes[] = {64 * 64 + 64 + 64 * 10 + 10, 64 * 10 + 10};
    for (size_t mi = 0; mi < 2; mi++) {
        enum train_path used = TRAIN_PATH_AUTO;
        size_t nf = 0, np = 0, nf2 = 0;
        float *f =
            train_in_process(cl, models[mi], 3, 32, TRAIN_PATH_AUTO, ERR_OK, &used, &nf, &msg);
        assert_int_equal(used, TRAIN_PATH_FUSED); /* POCL is a CPU device */
        float *f2 =
            train_in_process(cl, models[mi], 3, 32, TRAIN_PATH_FUSED, ERR_OK, &used, &nf2, &msg);
        assert_int_equal(used, TRAIN_PATH_FUSED);
        float *p = train_in_process(cl, models[mi], 3, 32, TRAIN_PATH_PER_PRODUCT, ERR_OK, &used,
                                    &np, &msg);
        assert_int_equal(used, TRAIN_PATH_PER_PRODUCT);
        assert_int_equal(nf, sizes[mi]);
        assert_int_equal(np, sizes[mi]);
        assert_int_equal(nf2, sizes[mi]);
        assert_memory_equal(f, f2, nf * sizeof(float));
        double maxdiff = 0, maxabs = 0;
        for (size_t i = 0; i < nf; i++) {
            maxdiff = fmax(maxdiff, fabs((double)f[i] - p[i]));
            maxabs = fmax(maxabs, fabs((double)p[i]));
        }
        print_message("fused vs per-product, %s: max |diff| %.3g (max |w| %.3g)\n", models[mi],
                      maxdiff, maxabs);
        assert_true(maxabs > 0.1);
        if (maxdiff > 1e-4)
            fail_msg("%s: fused and per-product weights differ by %g", models[mi], maxdiff);
        free(f);
        free(f2);
        free(p);
    }
    cl_close(cl);
    buf_release(&msg);
}

/* Over the fused kernel's limits (hidden 2048: 64 x 2048 + 2048 x 16 =
 * 163840 padded weights > 131072; a batch of 1100 rows pads to 1104 > 1024)
 * AUTO falls back to the per-product path and still trains; hidden 1536
 * (122880 weights) and batches of 1024 stay fused; asking for FUSED over
 * the limits fails with ERR_INVAL and says why. */
static void test_train_fused_fallback(void **state)
{
    (void)state;
    struct buf msg;
    buf_init(&msg, 0);
    struct cl_ctx *cl = NULL;
    assert_int_equal(cl_open("0", "0", &cl, &msg), ERR_OK);
    static const struct {
        const char *fields;
        unsigned batch;
        enum train_path want;
        size_t floats;
    } cases[] = {
        {"\"model\":\"mlp\",\"hidden\":2048,\"learning_rate\":0.1", 32, TRAIN_PATH_PER_PRODUCT,
         64 * 2048 + 2048 + 2048 * 10 + 10},
        {"\"model\":\"mlp\",\"hidden\":1536,\"learning_rate\":0.1", 32, TRAIN_PATH_FUSED,
         64 * 1536 + 1536 + 1536 * 10 + 10},
        {"\"model\":\"logistic\",\"learning_rate\":0.05", 1100, TRAIN_PATH_PER_PRODUCT,
         64 * 10 + 10},
        {"\"model\":\"logistic\",\"learning_rate\":0.05", 1024, TRAIN_PATH_FUSED, 64 * 10 + 10},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum train_path used = TRAIN_PATH_AUTO;
        size_t n = 0;
        float *w = train_in_process(cl, cases[i].fields, 1, cases[i].batch, TRAIN_PATH_AUTO, ERR_OK,
                                    &used, &n, &msg);
        assert_int_equal(used, cases[i].want);
        assert_int_equal(n, cases[i].floats);
        free(w);
    }
    enum train_path used = TRAIN_PATH_AUTO;
    size_t n = 0;
    buf_reset(&msg);
    assert_null(
        train_in_process(cl, cases[0].fields, 1, 32, TRAIN_PATH_FUSED, ERR_INVAL, &used, &n, &msg));
    assert_int_equal(used, TRAIN_PATH_AUTO); /* set only once a model is set up */
    assert_non_null(strstr(buf_cstr(&msg), "the fused trainer takes a CPU device, at most 131072"));
    buf_reset(&msg);
    assert_null(train_in_process(cl, cases[2].fields, 1, 1100, TRAIN_PATH_FUSED, ERR_INVAL, &used,
                                 &n, &msg));
    assert_non_null(strstr(buf_cstr(&msg), "batches of at most 1024 rows"));
    cl_close(cl);
    buf_release(&msg);
}

/* One epoch through train_epoch_*() on both paths against SGD written out
 * in C (double accumulators) at shapes that exercise the padding: 13
 * features (padded 16), 20 hidden units (32), 3 classes (16), batches of 7
 * (8) over 50 rows, so the last batch has 1 row. Tolerance 1e-5 absolute:
 * float against double over sums of at most 13 or 20 terms per step, 8
 * steps. */
static void ref_epoch(size_t rows, size_t d, size_t h, size_t k, size_t batch, const float *x,
                      const int *y, const size_t *order, float lr, double *w1, double *b1,
                      double *w2, double *b2)
{
    size_t l1 = h ? h : k;
    double *a = calloc(batch * l1, sizeof(double)), *g = calloc(batch * k, sizeof(double));
    double *dh = calloc(batch * l1, sizeof(double));
    assert_non_null(a);
    assert_non_null(g);
    assert_non_null(dh);
    for (size_t s = 0; s < rows; s += batch) {
        size_t nb = rows - s < batch ? rows - s : batch;
        for (size_t r = 0; r < nb; r++) {
            const float *xr = x + order[s + r] * d;
            for (size_t c = 0; c < l1; c++) {
                double v = b1[c];
                for (size_t i = 0; i < d; i++)
                    v += xr[i] * w1[i * l1 + c];
                a[r * l1 + c] = h && v < 0 ? 0 : v;
            }
            double z[16], mx = -1e300, sum = 0;
            for (size_t c = 0; c < k; c++) {
                z[c] = h ? b2[c] : a[r * l1 + c];
                for (size_t i = 0; h && i < h; i++)
                    z[c] += a[r * l1 + i] * w2[i * k + c];
                mx = fmax(mx, z[c]);
            }
            for (size_t c = 0; c < k; c++)
                sum += exp(z[c] - mx);
            for (size_t c = 0; c < k; c++)
                g[r * k + c] =
                    (exp(z[c] - mx) / sum - ((int)c == y[order[s + r]] ? 1 : 0)) / (double)nb;
        }
        /* dH with the old W2, then every update. */
        for (size_t r = 0; h && r < nb; r++)
            for (size_t i = 0; i < h; i++) {
                double v = 0;
                for (size_t c = 0; c < k; c++)
                    v += g[r * k + c] * w2[i * k + c];
                dh[r * h + i] = a[r * h + i] > 0 ? v : 0;
            }
        const double *g1 = h ? dh : g;
        for (size_t i = 0; h && i < h; i++)
            for (size_t c = 0; c < k; c++) {
                double v = 0;
                for (size_t r = 0; r < nb; r++)
                    v += a[r * h + i] * g[r * k + c];
                w2[i * k + c] -= lr * v;
            }
        for (size_t c = 0; h && c < k; c++) {
            double v = 0;
            for (size_t r = 0; r < nb; r++)
                v += g[r * k + c];
            b2[c] -= lr * v;
        }
        for (size_t i = 0; i < d; i++)
            for (size_t c = 0; c < l1; c++) {
                double v = 0;
                for (size_t r = 0; r < nb; r++)
                    v += x[order[s + r] * d + i] * g1[r * l1 + c];
                w1[i * l1 + c] -= lr * v;
            }
        for (size_t c = 0; c < l1; c++) {
            double v = 0;
            for (size_t r = 0; r < nb; r++)
                v += g1[r * l1 + c];
            b1[c] -= lr * v;
        }
    }
    free(a);
    free(g);
    free(dh);
}

static void test_train_epoch_reference(void **state)
{
    (void)state;
    enum { ROWS = 50, D = 13, H = 20, K = 3, BATCH = 7 };
    struct buf msg;
    buf_init(&msg, 0);
    struct cl_ctx *cl = NULL;
    assert_int_equal(cl_open("0", "0", &cl, &msg), ERR_OK);
    float x[ROWS * D], w1[D * H], w2[H * K];
    int y[ROWS];
    size_t order[ROWS];
    for (size_t i = 0; i < ROWS * D; i++)
        x[i] = (float)((int)(i * 37 % 29) - 14) / 8.0f;
    for (size_t i = 0; i < D * H; i++)
        w1[i] = (float)((int)(i * 53 % 31) - 15) / 40.0f;
    for (size_t i = 0; i < H * K; i++)
        w2[i] = (float)((int)(i * 41 % 23) - 11) / 30.0f;
    for (size_t i = 0; i < ROWS; i++) {
        y[i] = (int)(i * 7 % K);
        order[i] = (i * 17 + 5) % ROWS; /* 17 is prime to 50: a permutation */
    }
    const float lr = 0.3f;
    for (int mlp = 0; mlp < 2; mlp++) {
        size_t h = mlp ? H : 0, l1 = mlp ? H : K;
        double rw1[D * H], rb1[H] = {0}, rw2[H * K], rb2[K] = {0};
        for (size_t i = 0; i < D * l1; i++)
            rw1[i] = w1[i];
        for (size_t i = 0; i < H * K; i++)
            rw2[i] = w2[i];
        ref_epoch(ROWS, D, h, K, BATCH, x, y, order, lr, rw1, rb1, rw2, rb2);
        for (int pi = 0; pi < 2; pi++) {
            enum train_path path = pi ? TRAIN_PATH_PER_PRODUCT : TRAIN_PATH_FUSED;
            struct train_epoch *t = NULL;
            assert_int_equal(train_epoch_new(cl, path, ROWS, D, h, K, BATCH, x, y, w1,
                                             mlp ? w2 : NULL, &t, &msg),
                             ERR_OK);
            assert_int_equal(train_epoch_path(t), path);
            assert_int_equal(train_epoch_run(t, order, lr, &msg), ERR_OK);
            float gw1[D * H], gb1[H], gw2[H * K], gb2[K];
            assert_int_equal(train_epoch_weights(t, gw1, gb1, gw2, gb2, &msg), ERR_OK);
            double maxdiff = 0, moved = 0;
            for (size_t i = 0; i < D * l1; i++) {
                maxdiff = fmax(maxdiff, fabs(gw1[i] - rw1[i]));
                moved = fmax(moved, fabs(rw1[i] - w1[i]));
            }
            for (size_t i = 0; i < l1; i++)
                maxdiff = fmax(maxdiff, fabs(gb1[i] - rb1[i]));
            for (size_t i = 0; mlp && i < H * K; i++)
                maxdiff = fmax(maxdiff, fabs(gw2[i] - rw2[i]));
            for (size_t i = 0; mlp && i < K; i++)
                maxdiff = fmax(maxdiff, fabs(gb2[i] - rb2[i]));
            assert_true(moved > 0.01); /* the epoch did move the weights */
            if (maxdiff > 1e-5)
                fail_msg("%s, %s path: max |diff| from the C reference %g",
                         mlp ? "mlp" : "logistic", pi ? "per-product" : "fused", maxdiff);
            train_epoch_free(t);
        }
    }
    cl_close(cl);
    buf_release(&msg);
}

/* --- image --------------------------------------------------------------- */

/* CPU reference of image.h's filters, in float like the kernels. */
static float *ref_blur(const float *src, int w, int h, double sigma)
{
    int r = (int)ceil(3.0 * sigma);
    float *wt = malloc(sizeof(float) * (size_t)(2 * r + 1));
    double sum = 0;
    for (int i = -r; i <= r; i++)
        sum += exp(-(double)i * i / (2.0 * sigma * sigma));
    for (int i = -r; i <= r; i++)
        wt[i + r] = (float)(exp(-(double)i * i / (2.0 * sigma * sigma)) / sum);
    float *tmp = calloc((size_t)w * h * 3, sizeof(float));
    float *dst = calloc((size_t)w * h * 3, sizeof(float));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float s = 0;
                for (int k = -r; k <= r; k++) {
                    int xx = x + k < 0 ? 0 : x + k >= w ? w - 1 : x + k;
                    s += wt[k + r] * src[((size_t)y * w + xx) * 3 + c];
                }
                tmp[((size_t)y * w + x) * 3 + c] = s;
            }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float s = 0;
                for (int k = -r; k <= r; k++) {
                    int yy = y + k < 0 ? 0 : y + k >= h ? h - 1 : y + k;
                    s += wt[k + r] * tmp[((size_t)yy * w + x) * 3 + c];
                }
                dst[((size_t)y * w + x) * 3 + c] = s;
            }
    free(tmp);
    free(wt);
    return dst;
}

static float clampf(float v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

static float px(const float *s, int w, int h, int x, int y, int c)
{
    x = x < 0 ? 0 : x >= w ? w - 1 : x;
    y = y < 0 ? 0 : y >= h ? h - 1 : y;
    return s[((size_t)y * w + x) * 3 + c];
}

static void test_image_matches_cpu(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *jpg = read_all("examples", "china.jpg", &n);
    char hex[65], out[4300];
    sha_hex(jpg, n, hex);
    struct buf spec, msg;
    buf_init(&spec, 0);
    buf_init(&msg, 0);
    const int ow = 320, oh = 213;
    assert_int_equal(
        buf_appendf(&spec,
                    "{\"v\":1,\"kind\":\"image\",\"inputs\":[{\"name\":\"china.jpg\",\"sha256\":"
                    "\"%s\"}],\"image\":{\"input\":\"china.jpg\",\"output\":\"r.png\",\"steps\":["
                    "{\"op\":\"gaussian_blur\",\"sigma\":1.5},{\"op\":\"sharpen\",\"amount\":0.6},"
                    "{\"op\":\"brightness_contrast\",\"brightness\":12,\"contrast\":1.3},"
                    "{\"op\":\"resize\",\"width\":%d,\"height\":%d},{\"op\":\"grayscale\"}]}}",
                    hex, ow, oh),
        ERR_OK);
    struct runner_result res;
    run_spec(buf_cstr(&spec), "examples", 60000, 0, 0, &res, out, sizeof(out));
    expect_ok(&res);

    /* Reference: the same decode, then the filters in plain C. */
    unsigned char *rgb = NULL;
    unsigned w = 0, h = 0;
    assert_int_equal(image_decode(jpg, n, &rgb, &w, &h, &msg), ERR_OK);
    assert_int_equal(w, 640);
    assert_int_equal(h, 427);
    size_t np = (size_t)w * h;
    float *img = malloc(np * 3 * sizeof(float));
    for (size_t i = 0; i < np * 3; i++)
        img[i] = rgb[i];
    float *bl = ref_blur(img, (int)w, (int)h, 1.5);
    float *sh = malloc(np * 3 * sizeof(float));
    const float a = 0.6f;
    for (int y = 0; y < (int)h; y++)
        for (int x = 0; x < (int)w; x++)
            for (int c = 0; c < 3; c++) {
                float v =
                    (1.0f + 4.0f * a) * px(bl, (int)w, (int)h, x, y, c) -
                    a * (px(bl, (int)w, (int)h, x, y - 1, c) + px(bl, (int)w, (int)h, x, y + 1, c) +
                         px(bl, (int)w, (int)h, x + 1, y, c) + px(bl, (int)w, (int)h, x - 1, y, c));
                sh[((size_t)y * w + x) * 3 + c] = clampf(v);
            }
    for (size_t i = 0; i < np * 3; i++)
        sh[i] = clampf((sh[i] - 128.0f) * 1.3f + 128.0f + 12.0f);
    float *rs = malloc((size_t)ow * oh * 3 * sizeof(float));
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            float sx = (x + 0.5f) * ((float)w / ow) - 0.5f;
            float sy = (y + 0.5f) * ((float)h / oh) - 0.5f;
            sx = sx < 0 ? 0 : sx > (float)(w - 1) ? (float)(w - 1) : sx;
            sy = sy < 0 ? 0 : sy > (float)(h - 1) ? (float)(h - 1) : sy;
            int x0 = (int)sx, y0 = (int)sy;
            float fx = sx - x0, fy = sy - y0;
            for (int c = 0; c < 3; c++) {
                float p00 = px(sh, (int)w, (int)h, x0, y0, c);
                float p10 = px(sh, (int)w, (int)h, x0 + 1, y0, c);
                float p01 = px(sh, (int)w, (int)h, x0, y0 + 1, c);
                float p11 = px(sh, (int)w, (int)h, x0 + 1, y0 + 1, c);
                float top = p00 + (p10 - p00) * fx, bot = p01 + (p11 - p01) * fx;
                rs[((size_t)y * ow + x) * 3 + c] = top + (bot - top) * fy;
            }
        }
    size_t plen = 0;
    unsigned char *png = read_all(out, "r.png", &plen);
    unsigned char *got = NULL;
    unsigned gw = 0, gh = 0;
    assert_int_equal(image_decode(png, plen, &got, &gw, &gh, &msg), ERR_OK);
    assert_int_equal(gw, ow);
    assert_int_equal(gh, oh);
    int worst = 0;
    for (size_t i = 0; i < (size_t)ow * oh; i++) {
        const float *p = rs + i * 3;
        float g = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
        int want = (int)clampf(floorf(g + 0.5f));
        for (int c = 0; c < 3; c++) {
            int d = abs((int)got[i * 3 + c] - want);
            if (d > worst)
                worst = d;
        }
    }
    print_message("image: largest difference from the CPU reference %d\n", worst);
    assert_true(worst <= 1);
    free(got);
    free(png);
    free(rs);
    free(sh);
    free(bl);
    free(img);
    free(rgb);
    free(jpg);
    runner_result_release(&res);
    buf_release(&msg);
    buf_release(&spec);
}

/* --- hostile kernels ----------------------------------------------------- */

static void run_kernel(const char *src, unsigned long long out_bytes, long long wall_ms,
                       long long cpu_s, long long mem, struct runner_result *res)
{
    struct buf spec;
    buf_init(&spec, 0);
    assert_int_equal(buf_appendf(&spec,
                                 "{\"v\":1,\"kind\":\"opencl\",\"opencl\":{\"source\":\"%s\","
                                 "\"kernel\":\"k\",\"global\":[64],\"args\":[{\"type\":\"out\","
                                 "\"size_bytes\":%llu,\"output\":\"o.bin\"}]}}",
                                 src, out_bytes),
                     ERR_OK);
    char out[4300];
    run_spec(buf_cstr(&spec), ".", wall_ms, cpu_s, mem, res, out, sizeof(out));
    buf_release(&spec);
}

static void expect_failure(struct runner_result *res, enum runner_status st, const char *needle)
{
    if (res->status != st || strstr(buf_cstr(&res->reason), needle) == NULL)
        fail_msg("got %s \"%s\", want %s with \"%s\"", runner_status_name(res->status),
                 buf_cstr(&res->reason), runner_status_name(st), needle);
    assert_int_equal(res->files.n, 0);
}

static void test_hostile_kernels(void **state)
{
    (void)state;
    struct runner_result res;

    run_kernel("__kernel void k(__global uint *o) { for (uint i = 0;; i++) "
               "o[get_global_id(0)] = i; }",
               256, 2500, 0, 0, &res);
    expect_failure(&res, RUNNER_TIMEOUT, "timed out: still running after 2500 ms");
    assert_true(res.progress_reports >= 2); /* heard from while it hung */
    assert_true(res.wall_ms >= 2500 && res.wall_ms < 10000);
    runner_result_release(&res);

    run_kernel("__kernel void k(__global uint *o) { for (uint i = 0;; i++) "
               "o[get_global_id(0)] = i; }",
               256, 30000, 1, 0, &res);
    expect_failure(&res, RUNNER_CPU_LIMIT, "cpu time limit");
    runner_result_release(&res);

    run_kernel("__kernel void k(__global uint *o) { "
               "o[get_global_id(0) * 400000000u + 100000000u] = 1; }",
               256, 30000, 0, 0, &res);
    expect_failure(&res, RUNNER_CRASHED, "signal 11");
    runner_result_release(&res);

    if (sandbox_limits_address_space()) { /* not under AddressSanitizer */
        run_kernel("__kernel void k(__global uint *o) { o[0] = 1; }", 1ULL << 30, 30000, 0,
                   1LL << 30, &res);
        expect_failure(&res, RUNNER_OOM, "out of memory (limit 1024 MiB)");
        assert_int_equal(res.job_err, ERR_NOMEM);
        runner_result_release(&res);
    }

    run_kernel("__kernel void k(__global uint *o) { o[0] = undefined_thing; }", 256, 30000, 0, 0,
               &res);
    expect_failure(&res, RUNNER_FAILED, "CL_BUILD_PROGRAM_FAILURE");
    assert_non_null(strstr(buf_cstr(&res.reason), "undefined_thing"));
    assert_int_equal(res.job_err, ERR_CL);
    runner_result_release(&res);

    run_kernel("__kernel void k(__global uint *o, uint n) { o[0] = n; }", 256, 30000, 0, 0, &res);
    expect_failure(&res, RUNNER_FAILED, "kernel \"k\" takes 2 arguments; the spec gives 1");
    runner_result_release(&res);

    run_kernel("__kernel void other(__global uint *o) { o[0] = 1; }", 256, 30000, 0, 0, &res);
    expect_failure(&res, RUNNER_FAILED, "CL_INVALID_KERNEL_NAME");
    assert_int_equal(res.job_err, ERR_NOTFOUND);
    runner_result_release(&res);

    /* The parent is still here and serves the next job. */
    run_kernel("__kernel void k(__global uint *o) { o[get_global_id(0)] = get_global_id(0); }", 256,
               30000, 0, 0, &res);
    expect_ok(&res);
    assert_int_equal(res.files.n, 1);
    assert_int_equal(res.files.files[0].size_bytes, 256);
    runner_result_release(&res);
}

static void test_input_digest_mismatch(void **state)
{
    (void)state;
    char files[4096], out[4300];
    make_tmp(files, sizeof(files));
    write_file(files, "a.bin", "abcd", 4);
    struct runner_result res;
    run_spec("{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"a.bin\",\"sha256\":"
             "\"0000000000000000000000000000000000000000000000000000000000000000\"}],\"opencl\":"
             "{\"source\":\"__kernel void k(__global uint *a) { a[0] = 1; }\",\"kernel\":\"k\","
             "\"global\":[1],\"args\":[{\"type\":\"in\",\"file\":\"a.bin\"}]}}",
             files, 30000, 0, 0, &res, out, sizeof(out));
    expect_failure(&res, RUNNER_FAILED, "input \"a.bin\" does not match its sha256");
    assert_int_equal(res.job_err, ERR_AUTH);
    runner_result_release(&res);
    run_spec("{\"v\":1,\"kind\":\"opencl\"}", files, 30000, 0, 0, &res, out, sizeof(out));
    expect_failure(&res, RUNNER_FAILED, "bad job spec: \"opencl\": missing");
    runner_result_release(&res);
}

/* --- pieces -------------------------------------------------------------- */

static void test_jobpipe_frames(void **state)
{
    (void)state;
    struct jobpipe_reader r;
    struct jobpipe_msg m;
    jobpipe_reader_init(&r);
    const unsigned char frames[] = {'P', 1,      0,   0,   0,   42,  'E', 4, 0, 0,
                                    0,   ERR_CL, 'b', 'a', 'd', 'D', 0,   0, 0, 0};
    for (size_t i = 0; i < 5; i++) { /* byte by byte: nothing until whole */
        assert_int_equal(jobpipe_reader_feed(&r, frames + i, 1), ERR_OK);
        assert_int_equal(jobpipe_reader_next(&r, &m), ERR_STATE);
    }
    assert_int_equal(jobpipe_reader_feed(&r, frames + 5, sizeof(frames) - 5), ERR_OK);
    assert_int_equal(jobpipe_reader_next(&r, &m), ERR_OK);
    assert_int_equal(m.type, JOBPIPE_PROGRESS);
    assert_int_equal(m.percent, 42);
    assert_int_equal(jobpipe_reader_next(&r, &m), ERR_OK);
    assert_int_equal(m.type, JOBPIPE_ERROR);
    assert_int_equal(m.err, ERR_CL);
    assert_string_equal(m.text, "bad");
    assert_int_equal(jobpipe_reader_next(&r, &m), ERR_OK);
    assert_int_equal(m.type, JOBPIPE_DONE);
    assert_int_equal(jobpipe_reader_next(&r, &m), ERR_STATE);
    const unsigned char bad_pct[] = {'P', 1, 0, 0, 0, 101};
    assert_int_equal(jobpipe_reader_feed(&r, bad_pct, sizeof(bad_pct)), ERR_OK);
    assert_int_equal(jobpipe_reader_next(&r, &m), ERR_PROTO);
    const unsigned char bad_type[] = {'X', 0, 0, 0, 0};
    assert_int_equal(jobpipe_reader_feed(&r, bad_type, sizeof(bad_type)), ERR_OK);
    assert_int_equal(jobpipe_reader_next(&r, &m), ERR_PROTO);
    const unsigned char huge[] = {'E', 0, 0, 0, 1};
    assert_int_equal(jobpipe_reader_feed(&r, huge, sizeof(huge)), ERR_OK);
    assert_int_equal(jobpipe_reader_next(&r, &m), ERR_PROTO);
    jobpipe_reader_release(&r);

    /* Writer to reader through a real pipe. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    struct jobpipe_writer *w = NULL;
    assert_int_equal(jobpipe_writer_start(fds[1], 50, &w), ERR_OK);
    jobpipe_progress(w, 30);
    jobpipe_progress(w, 250);
    usleep(130 * 1000); /* the ticker resends at least once */
    jobpipe_writer_finish(w, ERR_NOMEM, "too big");
    close(fds[1]);
    jobpipe_reader_init(&r);
    char chunk[512];
    ssize_t got;
    while ((got = read(fds[0], chunk, sizeof(chunk))) > 0)
        assert_int_equal(jobpipe_reader_feed(&r, chunk, (size_t)got), ERR_OK);
    close(fds[0]);
    unsigned seen[3] = {0, 0, 0}, ticks = 0;
    int n = 0;
    while (jobpipe_reader_next(&r, &m) == ERR_OK) {
        if (m.type == JOBPIPE_PROGRESS && n < 3)
            seen[n] = m.percent;
        if (m.type == JOBPIPE_PROGRESS && n >= 3)
            ticks++;
        n++;
        if (m.type == JOBPIPE_ERROR) {
            assert_int_equal(m.err, ERR_NOMEM);
            assert_string_equal(m.text, "too big");
        }
    }
    assert_int_equal(seen[0], 0);
    assert_int_equal(seen[1], 30);
    assert_int_equal(seen[2], 100); /* clamped */
    assert_true(ticks >= 1);
    jobpipe_reader_release(&r);
}

static void test_jobfiles(void **state)
{
    (void)state;
    char dir[4096];
    make_tmp(dir, sizeof(dir));
    struct buf msg;
    buf_init(&msg, 0);
    assert_int_equal(jobfiles_write(dir, "a.txt", "hello", 5, &msg), ERR_OK);
    assert_int_equal(jobfiles_write(dir, "a.txt", "x", 1, &msg), ERR_EXISTS);
    assert_int_equal(jobfiles_write(dir, "../x", "x", 1, &msg), ERR_INVAL);
    assert_non_null(strstr(buf_cstr(&msg), "unsafe file name"));
    unsigned char *p = NULL;
    size_t n = 0;
    assert_int_equal(jobfiles_read(dir, "a.txt", 4, &p, &n, &msg), ERR_TOOBIG);
    assert_int_equal(jobfiles_read(dir, "nope", 4, &p, &n, &msg), ERR_NOTFOUND);
    assert_int_equal(jobfiles_read(dir, "a.txt", 5, &p, &n, &msg), ERR_OK);
    assert_int_equal(n, 5);
    assert_string_equal((char *)p, "hello");
    free(p);
    /* SHA-256("hello"), FIPS 180-4 */
    unsigned char d[32];
    jobfiles_sha256("hello", 5, d);
    assert_int_equal(d[0], 0x2c);
    assert_int_equal(d[31], 0x24);
    struct jobfiles_set set = {0, NULL};
    assert_int_equal(jobfiles_write(dir, "0.bin", "", 0, &msg), ERR_OK);
    assert_int_equal(jobfiles_list(dir, &set, &msg), ERR_OK);
    assert_int_equal(set.n, 2);
    assert_string_equal(set.files[0].name, "0.bin");
    assert_int_equal(set.files[0].size_bytes, 0);
    assert_string_equal(set.files[1].name, "a.txt");
    assert_memory_equal(set.files[1].sha256, d, 32);
    jobfiles_set_release(&set);
    char link[4200];
    snprintf(link, sizeof(link), "%s/evil", dir);
    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_int_equal(jobfiles_list(dir, &set, &msg), ERR_INVAL);
    assert_int_equal(jobfiles_read(dir, "evil", 1 << 20, &p, &n, &msg), ERR_IO); /* O_NOFOLLOW */
    buf_release(&msg);
}

static void test_sandbox_denies_network(void **state)
{
    (void)state;
    struct sandbox_filter f;
    memset(&f, 0, sizeof(f));
    if (sandbox_filter_build(&f) != ERR_OK)
        skip();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sandbox_limits l = {.cpu_seconds = 5, .mem_bytes = 1LL << 30, .seccomp = 1};
        if (sandbox_apply(&l, &f) != 0)
            _exit(2);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s != -1 || errno != EPERM)
            _exit(3);
        /* Ordinary calls still work. */
        if (getpid() <= 0 || write(-1, "", 0) != -1)
            _exit(4);
        void *big = malloc((size_t)2 << 30); /* over RLIMIT_AS */
        _exit(big == NULL || !sandbox_limits_address_space() ? 0 : 5);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* The trainer's SGEMM in its three forms (A B, A^T B, A B^T) at a size
 * below the packing threshold and at one above it (packed panels of B),
 * against a C reference. Entries are multiples of 1/8 in [-1, 1], so every
 * product and partial sum is exact in float32 and the results must be
 * equal bit for bit, whatever the order of the additions. */
static void test_sgemm_forms(void **state)
{
    (void)state;
    struct buf msg;
    buf_init(&msg, 0);
    struct cl_ctx *cl = NULL;
    struct train_sgemm *sg = NULL;
    assert_int_equal(cl_open("0", "0", &cl, &msg), ERR_OK);
    assert_int_equal(train_sgemm_new(cl, &sg, &msg), ERR_OK);
    static const unsigned sizes[][3] = {{32, 64, 64}, {64, 512, 256}, {72, 528, 200}};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        unsigned m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
        float *a = malloc((size_t)m * k * 4), *b = malloc((size_t)k * n * 4);
        float *c = malloc((size_t)m * n * 4);
        assert_non_null(a);
        assert_non_null(b);
        assert_non_null(c);
        for (size_t i = 0; i < (size_t)m * k; i++)
            a[i] = (float)((int)(i * 37 % 17) - 8) / 8.0f;
        for (size_t i = 0; i < (size_t)k * n; i++)
            b[i] = (float)((int)(i * 53 % 17) - 8) / 8.0f;
        struct cl_mem *da = NULL, *db = NULL, *dc = NULL;
        assert_int_equal(cl_buffer_new(cl, (size_t)m * k * 4, a, &da, &msg), ERR_OK);
        assert_int_equal(cl_buffer_new(cl, (size_t)k * n * 4, b, &db, &msg), ERR_OK);
        assert_int_equal(cl_buffer_new(cl, (size_t)m * n * 4, NULL, &dc, &msg), ERR_OK);
        for (int form = 0; form < 3; form++) {
            /* form 1: the stored a is op(A)'s transpose (K x M); form 2: b is
             * op(B)'s (N x K). The same storage, read another way. */
            assert_int_equal(
                train_sgemm_run_op(sg, form == 1, form == 2, m, n, k, da, db, dc, &msg), ERR_OK);
            assert_int_equal(cl_finish(cl, &msg), ERR_OK);
            assert_int_equal(cl_buffer_read(cl, dc, 0, c, (size_t)m * n * 4, &msg), ERR_OK);
            for (unsigned i = 0; i < m; i++) {
                for (unsigned j = 0; j < n; j++) {
                    float want = 0.0f;
                    for (unsigned p = 0; p < k; p++) {
                        float x = form == 1 ? a[(size_t)p * m + i] : a[(size_t)i * k + p];
                        float y = form == 2 ? b[(size_t)j * k + p] : b[(size_t)p * n + j];
                        want += x * y;
                    }
                    if (c[(size_t)i * n + j] != want)
                        fail_msg("%ux%ux%u form %d: C[%u][%u] = %g, want %g", m, n, k, form, i, j,
                                 (double)c[(size_t)i * n + j], (double)want);
                }
            }
        }
        cl_buffer_free(da);
        cl_buffer_free(db);
        cl_buffer_free(dc);
        free(a);
        free(b);
        free(c);
    }
    train_sgemm_free(sg);
    cl_close(cl);
    buf_release(&msg);
}

static void test_cl_module(void **state)
{
    (void)state;
    struct buf msg;
    buf_init(&msg, 0);
    struct cl_ctx *cl = NULL;
    assert_int_equal(cl_open("", "no-such-device-xyz", &cl, &msg), ERR_NOTFOUND);
    assert_non_null(strstr(buf_cstr(&msg), "no OpenCL device matches"));
    assert_int_equal(cl_open("99", "", &cl, &msg), ERR_NOTFOUND);
    buf_reset(&msg);
    assert_int_equal(cl_open("0", "0", &cl, &msg), ERR_OK);
    assert_true(strlen(cl_device_name(cl)) > 0);
    assert_true(cl_max_alloc_bytes(cl) > 0);
    struct cl_prog *p = NULL;
    const char bad[] = "__kernel void k(__global int *a) { a[0] = nope; }";
    assert_int_equal(cl_build(cl, bad, sizeof(bad) - 1, NULL, &p, &msg), ERR_CL);
    assert_non_null(strstr(buf_cstr(&msg), "cannot build program: CL_BUILD_PROGRAM_FAILURE"));
    assert_non_null(strstr(buf_cstr(&msg), "build log:"));
    buf_reset(&msg);
    const char good[] = "__kernel void k(__global int *a, int v) { a[get_global_id(0)] = v; }";
    assert_int_equal(cl_build(cl, good, sizeof(good) - 1, NULL, &p, &msg), ERR_OK);
    struct cl_kern *k = NULL;
    assert_int_equal(cl_kernel_new(p, "missing", &k, &msg), ERR_NOTFOUND);
    assert_non_null(strstr(buf_cstr(&msg), "CL_INVALID_KERNEL_NAME"));
    assert_int_equal(cl_kernel_new(p, "k", &k, &msg), ERR_OK);
    struct cl_mem *m = NULL;
    assert_int_equal(cl_buffer_new(cl, 64 * sizeof(int), NULL, &m, &msg), ERR_OK);
    int v = -7;
    assert_int_equal(cl_kernel_set_buffer(k, 0, m, &msg), ERR_OK);
    assert_int_equal(cl_kernel_set_scalar(k, 1, sizeof(v), &v, &msg), ERR_OK);
    assert_int_equal(cl_kernel_set_scalar(k, 5, sizeof(v), &v, &msg), ERR_CL);
    assert_non_null(strstr(buf_cstr(&msg), "CL_INVALID_ARG_INDEX"));
    size_t g = 64, bad_local = 7;
    assert_int_equal(cl_run(cl, k, 1, &g, &bad_local, &msg), ERR_CL);
    assert_int_equal(cl_run(cl, k, 1, &g, NULL, &msg), ERR_OK);
    int host[64];
    assert_int_equal(cl_buffer_read(cl, m, 0, host, sizeof(host), &msg), ERR_OK);
    for (int i = 0; i < 64; i++)
        assert_int_equal(host[i], -7);
    assert_int_equal(cl_buffer_new(cl, (size_t)cl_max_alloc_bytes(cl) + 1, NULL, NULL, &msg),
                     ERR_TOOBIG);
    assert_string_equal(cl_status_name(-5), "CL_OUT_OF_RESOURCES");
    assert_string_equal(cl_status_name(12345), "CL_UNKNOWN_ERROR");
    cl_buffer_free(m);
    cl_kernel_free(k);
    cl_prog_free(p);
    cl_close(cl);
    buf_release(&msg);
}

static int setup(void **state)
{
    (void)state;
    /* Under AddressSanitizer the job process would turn SIGSEGV into a
     * report and exit status 1; let the signal through so the runner sees
     * the crash as a production build does. */
    if (!sandbox_limits_address_space())
        setenv("ASAN_OPTIONS", "handle_segv=0:handle_sigbus=0", 1);
    const char *base = getenv("LOOM_TEST_TMP");
    snprintf(tmp_root, sizeof(tmp_root), "%s/loom-worker-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmp_root) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobpipe_frames),
        cmocka_unit_test(test_jobfiles),
        cmocka_unit_test(test_sandbox_denies_network),
        cmocka_unit_test(test_opencl_integer_bit_exact),
        cmocka_unit_test(test_opencl_float_tolerance),
        cmocka_unit_test(test_train_logistic),
        cmocka_unit_test(test_train_mlp),
        cmocka_unit_test(test_train_fused_matches_per_product),
        cmocka_unit_test(test_train_fused_fallback),
        cmocka_unit_test(test_train_epoch_reference),
        cmocka_unit_test(test_image_matches_cpu),
        cmocka_unit_test(test_hostile_kernels),
        cmocka_unit_test(test_input_digest_mismatch),
        cmocka_unit_test(test_cl_module),
        cmocka_unit_test(test_sgemm_forms),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
