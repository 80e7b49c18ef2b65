/*
 * bench_worker -- the worker's compute against what a user would run instead
 * on the same machine, in one run:
 *   1. the MLP's matrix products through the worker's OpenCL SGEMM kernel
 *      (services/worker/train.c) against OpenBLAS cblas_sgemm, same sizes;
 *      then one epoch of MLP training on the digits shapes through the
 *      trainer (train_epoch_*: the fused one-launch-per-epoch path and the
 *      per-product path) against the same SGD in C with one cblas_sgemm per
 *      product (blas_epoch below);
 *   2. the image job's Gaussian blur kernel against libvips on
 *      examples/china.jpg: in process (libvips.so.42 loaded with dlopen, as
 *      no libvips headers are installed; the decoded image in memory, the
 *      operation cache off), and the `vips gaussblur` command for reference
 *      (its ~0.4 s start-up and JPEG decode dwarf a 640x427 blur, so the
 *      in-process figure is the one compared).
 * Prints the device, sizes, repetitions and conditions, then GFLOP/s, times
 * and ratios. No assertions: figures only (STYLE.md).
 * Usage: build/bench/bench_worker [platform-selector [device-selector]]
 * (run from the repository root; LOOM_CL_PLATFORM / LOOM_CL_DEVICE also work).
 * SPDX-License-Identifier: MIT
 */
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "services/worker/cl.h"
#include "services/worker/image.h"
#include "services/worker/jobfiles.h"
#include "services/worker/train.h"

/* One-core mode (LOOM_BENCH_ONE_CORE=1, which the bench sets when it runs
 * itself a second time): POCL and OpenBLAS on one thread each, timed by
 * process CPU time, so other load on a shared machine barely moves the
 * figures. Default: both on every core, timed by the wall clock. */
static int one_core;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(one_core ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, struct buf *msg)
{
    fprintf(stderr, "bench_worker: %s: %s\n", what, buf_cstr(msg));
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of <rounds> timings of <reps> calls each, per call. */
#define ROUNDS 5

struct gemm_size {
    unsigned m, n, k;
    const char *what;
};

static void bench_sgemm(struct cl_ctx *cl)
{
    struct buf msg;
    buf_init(&msg, 0);
    struct train_sgemm *sg = NULL;
    double t0 = now_s();
    if (train_sgemm_new(cl, &sg, &msg) != ERR_OK)
        die("cannot build the SGEMM kernel", &msg);
    printf("sgemm kernel build: %.1f ms (POCL caches compiled kernels)\n", (now_s() - t0) * 1e3);
    /* The digits MLP (64 features, 64 hidden, 10 classes padded to 16,
     * batch 32) and the same layer shapes at realistic hidden sizes. */
    const struct gemm_size sizes[] = {
        {32, 64, 64, "MLP batch forward X W1 (batch 32, 64 -> 64)"},
        {32, 16, 64, "MLP batch forward H W2 (batch 32, 64 -> 10, padded 16)"},
        {1440, 64, 64, "MLP full-split forward X W1 (1440 rows)"},
        {1440, 16, 64, "MLP full-split forward H W2 (64 -> 10, padded 16)"},
        {256, 1024, 1024, "hidden 1024 layer, batch 256"},
        {1024, 1024, 1024, "square 1024"},
        {2048, 2048, 2048, "square 2048"},
    };
    printf("\n%-52s %6s %6s %6s %11s %11s %7s\n", "matrix product C = A B (float32)", "M", "N", "K",
           "OpenCL GF/s", "OpenBLAS", "ratio");
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        unsigned m = sizes[s].m, n = sizes[s].n, k = sizes[s].k;
        size_t na = (size_t)m * k, nb = (size_t)k * n, nc = (size_t)m * n;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *c2 = malloc(nc * 4);
        for (size_t i = 0; i < na; i++)
            a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
        for (size_t i = 0; i < nb; i++)
            b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
        struct cl_mem *da = NULL, *db = NULL, *dc = NULL;
        if (cl_buffer_new(cl, na * 4, a, &da, &msg) || cl_buffer_new(cl, nb * 4, b, &db, &msg) ||
            cl_buffer_new(cl, nc * 4, NULL, &dc, &msg))
            die("cannot allocate", &msg);
        double flops = 2.0 * m * n * k;
        unsigned reps = (unsigned)(2e9 / flops) + 1;
        if (reps > 2000)
            reps = 2000;
        double tcl[ROUNDS], tbl[ROUNDS];
        if (train_sgemm_run(sg, m, n, k, da, db, dc, &msg) || cl_finish(cl, &msg))
            die("sgemm", &msg); /* warm-up */
        for (int r = 0; r < ROUNDS; r++) {
            double t = now_s();
            for (unsigned i = 0; i < reps; i++)
                if (train_sgemm_run(sg, m, n, k, da, db, dc, &msg) != ERR_OK)
                    die("sgemm", &msg);
            if (cl_finish(cl, &msg) != ERR_OK)
                die("sgemm", &msg);
            tcl[r] = (now_s() - t) / reps;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a,
                    (int)k, b, (int)n, 0.0f, c2, (int)n);
        for (int r = 0; r < ROUNDS; r++) {
            double t = now_s();
            for (unsigned i = 0; i < reps; i++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f,
                            a, (int)k, b, (int)n, 0.0f, c2, (int)n);
            tbl[r] = (now_s() - t) / reps;
        }
        if (cl_buffer_read(cl, dc, 0, c, nc * 4, &msg) != ERR_OK)
            die("read", &msg);
        double maxdiff = 0;
        for (size_t i = 0; i < nc; i++)
            maxdiff = fmax(maxdiff, fabs((double)c[i] - c2[i]));
        qsort(tcl, ROUNDS, sizeof(double), cmp_double);
        qsort(tbl, ROUNDS, sizeof(double), cmp_double);
        double gcl = flops / tcl[ROUNDS / 2] / 1e9, gbl = flops / tbl[ROUNDS / 2] / 1e9;
        printf("%-52s %6u %6u %6u %11.1f %11.1f %7.2f  (x%u, max |diff| %.1e)\n", sizes[s].what, m,
               n, k, gcl, gbl, gcl / gbl, reps, maxdiff);
        cl_buffer_free(da);
        cl_buffer_free(db);
        cl_buffer_free(dc);
        free(a);
        free(b);
        free(c);
        free(c2);
    }
    train_sgemm_free(sg);
    buf_release(&msg);
}

/* --- one epoch of MLP training ------------------------------------------ */

/* The digits MLP's shapes: 1438 training rows (80% of 1797), 64 features,
 * 64 hidden units, 10 classes, batches of 32. */
enum { EP_ROWS = 1438, EP_D = 64, EP_H = 64, EP_K = 10, EP_BATCH = 32 };

/* The same SGD as the trainer (train.c), written the way a user of a BLAS
 * would: every matrix product is one cblas_sgemm on the unpadded shapes,
 * the weight updates folded into the gradient products (alpha = -lr,
 * beta = 1), the rest plain loops. */
struct blas_mlp {
    float w1[EP_D * EP_H], b1[EP_H], w2[EP_H * EP_K], b2[EP_K];
    float xb[EP_BATCH * EP_D], hb[EP_BATCH * EP_H], gb[EP_BATCH * EP_K], dh[EP_BATCH * EP_H];
};

static void blas_epoch(struct blas_mlp *m, const float *x, const int *y, const size_t *order,
                       float lr)
{
    for (size_t s = 0; s < EP_ROWS; s += EP_BATCH) {
        int nb = EP_ROWS - s < EP_BATCH ? (int)(EP_ROWS - s) : EP_BATCH;
        for (int r = 0; r < nb; r++)
            memcpy(m->xb + r * EP_D, x + order[s + (size_t)r] * EP_D, EP_D * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, EP_H, EP_D, 1.0f, m->xb, EP_D,
                    m->w1, EP_H, 0.0f, m->hb, EP_H);
        for (int r = 0; r < nb; r++)
            for (int c = 0; c < EP_H; c++) {
                float v = m->hb[r * EP_H + c] + m->b1[c];
                m->hb[r * EP_H + c] = v > 0.0f ? v : 0.0f;
            }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, EP_K, EP_H, 1.0f, m->hb, EP_H,
                    m->w2, EP_K, 0.0f, m->gb, EP_K);
        float inv_n = 1.0f / (float)nb;
        for (int r = 0; r < nb; r++) {
            float *g = m->gb + r * EP_K, mx = -INFINITY, sum = 0.0f;
            for (int c = 0; c < EP_K; c++) {
                g[c] += m->b2[c];
                mx = fmaxf(mx, g[c]);
            }
            for (int c = 0; c < EP_K; c++) {
                g[c] = expf(g[c] - mx);
                sum += g[c];
            }
            for (int c = 0; c < EP_K; c++)
                g[c] = (g[c] / sum - (c == y[order[s + (size_t)r]] ? 1.0f : 0.0f)) * inv_n;
        }
        /* dH = G W2^T with the old W2, masked by ReLU'. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, EP_H, EP_K, 1.0f, m->gb, EP_K,
                    m->w2, EP_K, 0.0f, m->dh, EP_H);
        for (int i = 0; i < nb * EP_H; i++)
            if (m->hb[i] <= 0.0f)
                m->dh[i] = 0.0f;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, EP_H, EP_K, nb, -lr, m->hb, EP_H,
                    m->gb, EP_K, 1.0f, m->w2, EP_K);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, EP_D, EP_H, nb, -lr, m->xb, EP_D,
                    m->dh, EP_H, 1.0f, m->w1, EP_H);
        for (int c = 0; c < EP_K; c++) {
            float v = 0.0f;
            for (int r = 0; r < nb; r++)
                v += m->gb[r * EP_K + c];
            m->b2[c] -= lr * v;
        }
        for (int c = 0; c < EP_H; c++) {
            float v = 0.0f;
            for (int r = 0; r < nb; r++)
                v += m->dh[r * EP_H + c];
            m->b1[c] -= lr * v;
        }
    }
}

/* Median seconds per epoch over ROUNDS rounds of <reps> epochs. */
static double time_cl_epochs(struct train_epoch *t, const size_t *order, float lr, int reps)
{
    struct buf msg;
    buf_init(&msg, 0);
    double tt[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (int i = 0; i < reps; i++)
            if (train_epoch_run(t, order, lr, &msg) != ERR_OK)
                die("epoch", &msg);
        tt[r] = (now_s() - t0) / reps;
    }
    qsort(tt, ROUNDS, sizeof(double), cmp_double);
    buf_release(&msg);
    return tt[ROUNDS / 2];
}

static void bench_epoch(struct cl_ctx *cl)
{
    struct buf msg;
    buf_init(&msg, 0);
    static float x[EP_ROWS * EP_D], w1[EP_D * EP_H], w2[EP_H * EP_K];
    static int y[EP_ROWS];
    static size_t order[EP_ROWS];
    static struct blas_mlp ref, ref0;
    /* Synthetic standardised-looking data with a learnable label, and a
     * fixed permutation: the work per epoch does not depend on the values. */
    uint32_t s = 12345;
    for (size_t i = 0; i < EP_ROWS; i++) {
        for (size_t c = 0; c < EP_D; c++) {
            s = s * 1664525u + 1013904223u;
            x[i * EP_D + c] = (float)(s >> 8) / 16777216.0f * 3.0f - 1.5f;
        }
        y[i] = (int)(i % EP_K);
        x[i * EP_D + (size_t)y[i]] += 2.0f;
        order[i] = (i * 701 + 17) % EP_ROWS; /* 701 is prime to 1438 */
    }
    float a1 = sqrtf(6.0f / (EP_D + EP_H)), a2 = sqrtf(6.0f / (EP_H + EP_K));
    for (size_t i = 0; i < EP_D * EP_H; i++) {
        s = s * 1664525u + 1013904223u;
        w1[i] = ((float)(s >> 8) / 8388608.0f - 1.0f) * a1;
    }
    for (size_t i = 0; i < EP_H * EP_K; i++) {
        s = s * 1664525u + 1013904223u;
        w2[i] = ((float)(s >> 8) / 8388608.0f - 1.0f) * a2;
    }
    memcpy(ref0.w1, w1, sizeof(w1));
    memcpy(ref0.w2, w2, sizeof(w2));
    const float lr = 0.05f;
    const int reps = 20;

    struct train_epoch *fused = NULL, *per = NULL;
    if (train_epoch_new(cl, TRAIN_PATH_FUSED, EP_ROWS, EP_D, EP_H, EP_K, EP_BATCH, x, y, w1, w2,
                        &fused, &msg) != ERR_OK ||
        train_epoch_new(cl, TRAIN_PATH_PER_PRODUCT, EP_ROWS, EP_D, EP_H, EP_K, EP_BATCH, x, y, w1,
                        w2, &per, &msg) != ERR_OK)
        die("cannot set up the trainer", &msg);
    /* One epoch each from the same start: the three must agree. */
    ref = ref0;
    blas_epoch(&ref, x, y, order, lr);
    double diff[2] = {0, 0};
    for (int p = 0; p < 2; p++) {
        struct train_epoch *t = p ? per : fused;
        static float gw1[EP_D * EP_H], gb1[EP_H], gw2[EP_H * EP_K], gb2[EP_K];
        if (train_epoch_run(t, order, lr, &msg) != ERR_OK ||
            train_epoch_weights(t, gw1, gb1, gw2, gb2, &msg) != ERR_OK)
            die("epoch", &msg);
        for (size_t i = 0; i < EP_D * EP_H; i++)
            diff[p] = fmax(diff[p], fabs((double)gw1[i] - ref.w1[i]));
        for (size_t i = 0; i < EP_H * EP_K; i++)
            diff[p] = fmax(diff[p], fabs((double)gw2[i] - ref.w2[i]));
        for (size_t i = 0; i < EP_H; i++)
            diff[p] = fmax(diff[p], fabs((double)gb1[i] - ref.b1[i]));
        for (size_t i = 0; i < EP_K; i++)
            diff[p] = fmax(diff[p], fabs((double)gb2[i] - ref.b2[i]));
    }
    double tf = time_cl_epochs(fused, order, lr, reps);
    double tp = time_cl_epochs(per, order, lr, reps);
    double tb[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (int i = 0; i < reps; i++)
            blas_epoch(&ref, x, y, order, lr);
        tb[r] = (now_s() - t0) / reps;
    }
    qsort(tb, ROUNDS, sizeof(double), cmp_double);
    double tbl = tb[ROUNDS / 2];
    /* Five products per batch: X W1, H W2, G W2^T, H^T G, X^T dH. */
    double flops = 0;
    for (size_t s0 = 0; s0 < EP_ROWS; s0 += EP_BATCH) {
        double nb = EP_ROWS - s0 < EP_BATCH ? (double)(EP_ROWS - s0) : EP_BATCH;
        flops += 2.0 * nb * (2.0 * EP_D * EP_H + 3.0 * EP_H * EP_K);
    }
    printf("\nMLP training, one epoch on the digits shapes (batch 32, 64 -> 64 -> 10; %d rows, "
           "%d batches, %.1f MFLOP of products), median of %d rounds of %d epochs\n",
           EP_ROWS, (EP_ROWS + EP_BATCH - 1) / EP_BATCH, flops / 1e6, ROUNDS, reps);
    printf("  C + OpenBLAS cblas_sgemm per product (updates folded in):    %7.3f ms  (%.1f "
           "GFLOP/s of products)\n",
           tbl * 1e3, flops / tbl / 1e9);
    printf("  OpenCL fused (one launch per epoch):                       %7.3f ms  -> ratio "
           "%.2f (OpenBLAS time / OpenCL time), max |w - C+OpenBLAS| after 1 epoch %.1e\n",
           tf * 1e3, tbl / tf, diff[0]);
    printf("  OpenCL per product (12-15 launches per batch):              %7.3f ms  -> ratio "
           "%.2f, max |w - C+OpenBLAS| after 1 epoch %.1e\n",
           tp * 1e3, tbl / tp, diff[1]);
    train_epoch_free(fused);
    train_epoch_free(per);
    buf_release(&msg);
}

/* Wall time of one run of a command, in seconds; -1 if it failed. */
static double time_cmd(char *const argv[])
{
    double t = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return now_s() - t;
}

static double median_cmd(char *const argv[], int runs)
{
    double t[16];
    for (int i = 0; i < runs; i++)
        if ((t[i] = time_cmd(argv)) < 0)
            return -1;
    qsort(t, (size_t)runs, sizeof(double), cmp_double);
    return t[runs / 2];
}

/* libvips entry points, declared here from the libvips 8.14 C API
 * (the headers under libvips/include/vips) because libvips-dev is not a dependency. */
typedef struct _VipsImage VipsImage;
struct vips_api {
    int (*init)(const char *argv0);
    void (*cache_set_max)(int max);
    VipsImage *(*new_from_memory_copy)(const void *data, size_t size, int width, int height,
                                       int bands, int format);
    int (*gaussblur)(VipsImage *in, VipsImage **out, double sigma, ...);
    void *(*write_to_memory)(VipsImage *in, size_t *size);
    const char *(*error_buffer)(void);
    void (*unref)(void *obj);
    void (*gfree)(void *p);
};

static int vips_load(struct vips_api *v)
{
    void *h = dlopen("libvips.so.42", RTLD_NOW | RTLD_GLOBAL);
    if (h == NULL)
        return -1;
    *(void **)&v->init = dlsym(h, "vips_init");
    *(void **)&v->cache_set_max = dlsym(h, "vips_cache_set_max");
    *(void **)&v->new_from_memory_copy = dlsym(h, "vips_image_new_from_memory_copy");
    *(void **)&v->gaussblur = dlsym(h, "vips_gaussblur");
    *(void **)&v->write_to_memory = dlsym(h, "vips_image_write_to_memory");
    *(void **)&v->error_buffer = dlsym(h, "vips_error_buffer");
    *(void **)&v->unref = dlsym(RTLD_DEFAULT, "g_object_unref");
    *(void **)&v->gfree = dlsym(RTLD_DEFAULT, "g_free");
    if (!v->init || !v->cache_set_max || !v->new_from_memory_copy || !v->gaussblur ||
        !v->write_to_memory || !v->error_buffer || !v->unref || !v->gfree)
        return -1;
    if (v->init("bench_worker") != 0)
        return -1;
    v->cache_set_max(0); /* repeated identical calls must compute again */
    return 0;
}

/* Median seconds per blur of <in> by libvips; <matched> asks for float
 * arithmetic and a mask out to 3 sigma like ours (min_ampl = exp(-4.5)),
 * else libvips's defaults (integer arithmetic for 8-bit input,
 * min_ampl 0.2: a shorter mask), which is what `vips gaussblur` runs. */
static double vips_blur_time(struct vips_api *v, VipsImage *in, double sigma, int matched, int reps)
{
    double t[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (int i = 0; i < reps; i++) {
            VipsImage *out = NULL;
            int rc = matched ? v->gaussblur(in, &out, sigma, "precision", 1 /* FLOAT */, "min_ampl",
                                            exp(-4.5), NULL)
                             : v->gaussblur(in, &out, sigma, NULL);
            size_t size = 0;
            void *mem = rc == 0 ? v->write_to_memory(out, &size) : NULL;
            if (mem == NULL) {
                fprintf(stderr, "bench_worker: libvips: %s\n", v->error_buffer());
                exit(1);
            }
            v->gfree(mem);
            v->unref(out);
        }
        t[r] = (now_s() - t0) / reps;
    }
    qsort(t, ROUNDS, sizeof(double), cmp_double);
    return t[ROUNDS / 2];
}

static void bench_blur(struct cl_ctx *cl)
{
    struct buf msg;
    buf_init(&msg, 0);
    unsigned char *jpg = NULL, *rgb = NULL;
    size_t len = 0;
    unsigned w = 0, h = 0;
    if (jobfiles_read("examples", "china.jpg", (size_t)64 << 20, &jpg, &len, &msg) ||
        image_decode(jpg, len, &rgb, &w, &h, &msg))
        die("cannot read examples/china.jpg", &msg);
    const double sigma = 2.0;
    struct image_blur *ib = NULL;
    if (image_blur_new(cl, rgb, w, h, &ib, &msg) != ERR_OK)
        die("cannot set up the blur", &msg);
    if (image_blur_run(ib, sigma, &msg) != ERR_OK)
        die("blur", &msg); /* warm-up */
    const int reps = 50;
    double tk[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t = now_s();
        for (int i = 0; i < reps; i++)
            if (image_blur_run(ib, sigma, &msg) != ERR_OK)
                die("blur", &msg);
        tk[r] = (now_s() - t) / reps;
    }
    qsort(tk, ROUNDS, sizeof(double), cmp_double);
    image_blur_free(ib);

    char tmpl[] = "/tmp/bench-vips-XXXXXX";
    if (mkdtemp(tmpl) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    char out_v[256], sig[32];
    snprintf(out_v, sizeof(out_v), "%s/out.v", tmpl);
    snprintf(sig, sizeof(sig), "%g", sigma);
    char *blur_argv[] = {"vips", "gaussblur", "examples/china.jpg", out_v, sig, NULL};
    char *copy_argv[] = {"vips", "copy", "examples/china.jpg", out_v, NULL};
    double tv = median_cmd(blur_argv, 9), tc = median_cmd(copy_argv, 9);
    /* Kernel time of the blur only: both passes on float4 pixels, data on the device. */
    double ours = tk[ROUNDS / 2];
    printf("\nGaussian blur sigma %.1f on examples/china.jpg (%ux%u RGB)\n", sigma, w, h);
    printf("  OpenCL blur (2 separable passes, radius %d, float, data on device): %.2f ms\n",
           (int)ceil(3 * sigma), ours * 1e3);
    struct vips_api v;
    if (vips_load(&v) != 0) {
        printf("  libvips.so.42 not loadable: install libvips42 / libvips-tools\n");
    } else {
        VipsImage *in = v.new_from_memory_copy(rgb, (size_t)w * h * 3, (int)w, (int)h, 3, 0);
        if (in == NULL) {
            fprintf(stderr, "bench_worker: libvips: %s\n", v.error_buffer());
            exit(1);
        }
        double vd = vips_blur_time(&v, in, sigma, 0, reps);
        double vm = vips_blur_time(&v, in, sigma, 1, reps);
        printf("  libvips in process, defaults (integer, min_ampl 0.2): %.2f ms -> ratio %.2f "
               "(libvips time / OpenCL time; >= 1 means OpenCL is at least as fast)\n",
               vd * 1e3, vd / ours);
        printf("  libvips in process, matched (float, mask to 3 sigma):  %.2f ms -> ratio %.2f\n",
               vm * 1e3, vm / ours);
        v.unref(in);
    }
    if (tv < 0 || tc < 0) {
        printf("  vips command not available: install libvips-tools\n");
    } else {
        printf("  for reference, commands: vips gaussblur %.1f ms, vips copy (decode and write, "
               "no blur) %.1f ms (median of 9): start-up dominates\n",
               tv * 1e3, tc * 1e3);
    }
    char rm[300];
    snprintf(rm, sizeof(rm), "rm -rf %s", tmpl);
    if (system(rm) != 0)
        fprintf(stderr, "bench_worker: cannot remove %s\n", tmpl);
    free(rgb);
    free(jpg);
    buf_release(&msg);
}

int main(int argc, char **argv)
{
    one_core = getenv("LOOM_BENCH_ONE_CORE") != NULL;
    if (one_core) {
        /* Before the ICD loads POCL: its number of compute threads. */
        setenv("POCL_CPU_MAX_CU_COUNT", "1", 1);
        openblas_set_num_threads(1);
    }
    const char *plat = argc > 1 ? argv[1] : getenv("LOOM_CL_PLATFORM");
    const char *dev = argc > 2 ? argv[2] : getenv("LOOM_CL_DEVICE");
    struct buf msg;
    buf_init(&msg, 0);
    struct cl_ctx *cl = NULL;
    if (cl_open(plat, dev, &cl, &msg) != ERR_OK)
        die("cannot open the OpenCL device", &msg);
    printf("bench_worker: device \"%s\" (platform \"%s\"), %ld CPU cores online, "
           "OpenBLAS %s, %d OpenBLAS threads\n",
           cl_device_name(cl), cl_platform_name(cl), sysconf(_SC_NPROCESSORS_ONLN),
           openblas_get_config(), openblas_get_num_threads());
    char load[128] = "?";
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf != NULL) {
        if (fgets(load, sizeof(load), lf) != NULL)
            load[strcspn(load, "\n")] = '\0';
        fclose(lf);
    }
    if (one_core)
        printf("one-core mode: POCL_CPU_MAX_CU_COUNT=1, OpenBLAS 1 thread, CPU time\n");
    printf("timings: %s, median of %d rounds, each round many calls with the queue "
           "drained at the end; load average at start: %s (other work on the machine skews "
           "both sides)\n",
           one_core ? "process CPU time" : "wall clock", ROUNDS, load);
    bench_sgemm(cl);
    bench_epoch(cl);
    if (!one_core)
        bench_blur(cl);
    cl_close(cl);
    buf_release(&msg);
    if (!one_core) {
        printf("\n--- again on one core each, timed by process CPU time ---\n");
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            setenv("LOOM_BENCH_ONE_CORE", "1", 1);
            execv("/proc/self/exe", argv);
            _exit(127);
        }
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 1;
    }
    return 0;
}
