/*
 * train -- CSV in, SGD in OpenCL kernels, weights and metrics out.
 *
 * All matrices on the device are row-major and padded with zeros: features
 * and hidden units to a multiple of 16 (the SGEMM kernel's column block),
 * classes to 16, row counts to a multiple of 8 (its row block). Zero padding
 * is stable under SGD here: padded inputs are zero, so their weight
 * gradients are zero; padded classes get a zero gradient from the softmax
 * kernel; padded hidden units start with zero weights and stay at
 * ReLU(0) = 0. Results are read back unpadded.
 *
 * SPDX-License-Identifier: MIT
 */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "msg.h"
#include "cl.h"
#include "job.h"
#include "jobfiles.h"
#include "jobspec.h"

/* SGEMM: each work-item computes an 8-row x 16*C-column block of C (C = 1
 * or 2 float16 vectors) in registers, so the inner loop does 8 broadcasts
 * and 8*C float16 multiply-adds per C vector loads of B. Work-items run
 * rows-fastest (dimension 0) in work-groups of one, so consecutive
 * work-items reuse the same panel of B from cache and POCL does not wrap
 * already-vectorised code in its work-item loop vectoriser. Measured on
 * POCL 3.1 (one core, CPU time, 1024^3): the textbook element-per-work-item
 * kernel about 6 GFLOP/s, a 4x16 block 25, this 8x32 block 40-47. */
#define SGEMM_ROWS 8
#define SGEMM_COLS 16
/* Large products first pack op(B) into panels of 16 columns, each K x 16
 * floats contiguous (kernels pack_n, pack_t), and multiply with sgemm_p*:
 * the unpacked kernel reads 64 bytes of B per k at a stride of a whole row
 * of B, one cache line and often one page per load, which stalls on the
 * TLB and defeats the prefetcher once B outgrows the caches. Measured on
 * POCL 3.1 (one core, CPU time, 1008x1024x1024): unpacked 8x32 block
 * 23 GFLOP/s, packed 52-54 (OpenBLAS 80-92 in the same runs). Packing
 * costs one pass over B and one more kernel launch, so it is used only
 * where B (k x n floats) is over 256 KiB and there are at least 64 rows
 * of A to reuse each panel: never at the digits MLP's sizes. */
#define SGEMM_PACK_MIN_KN   65536
#define SGEMM_PACK_MIN_ROWS 64
/* The fused path: on a CPU device, one kernel launch (kernel fused_epoch,
 * global and local size 1) runs a whole epoch -- per batch the row gather,
 * forward, softmax gradient, backward and SGD update -- instead of 12 to 15
 * launches per batch (8 for logistic regression), each of which costs POCL
 * several microseconds of host work against well under a microsecond of
 * arithmetic at the digits MLP's 32 x 64 x 64. One work-item runs on one
 * core, so the path is taken only while the padded weights (W1 and W2) are
 * at most FUSED_MAX_WEIGHTS floats and the padded batch at most
 * FUSED_MAX_BATCH rows; beyond that the per-product kernels, spread over
 * every core, can win. Measured on 2 cores of an AMD EPYC (POCL 3.1, wall
 * clock per epoch of 1438 rows, load about 3; the limits raised for the
 * measurement), fused against per product: features x hidden 64 x 64 batch
 * 32: 1.3 against 8.6 ms; 256 x 256 batch 32: 9.8 against 33.7; 256 x 256
 * batch 256: 10.5 against 12.4; 64 x 1024 batch 32: 12.3 against 23.0;
 * 64 x 64 batch 1024: 1.0 against 2.0; but 512 x 512 (270,000 weights)
 * batch 256: 36.3 against 23.3, and batch 32: 37.7 against 35.2. The limit
 * sits between 82,000 weights (fused wins) and 270,000 (it loses). A GPU
 * always takes the per-product path (one work-item would leave it idle). */
#define FUSED_MAX_WEIGHTS ((size_t)1 << 17)
#define FUSED_MAX_BATCH   1024

static const char train_cl[] =
    "#define SGEMM(NAME, C, AE, BV)                                              \\\n"
    "__kernel void NAME(int M, int N, int K, __global const float *A, int lda,   \\\n"
    "                   __global const float *B, int ldb, __global float *Cm, int ldc) \\\n"
    "{                                                                           \\\n"
    "    int i = get_global_id(0) * 8, j = get_global_id(1) * 16 * C;            \\\n"
    "    float16 acc[8][C];                                                      \\\n"
    "    for (int r = 0; r < 8; r++)                                             \\\n"
    "        for (int c = 0; c < C; c++)                                         \\\n"
    "            acc[r][c] = 0.0f;                                               \\\n"
    "    for (int k = 0; k < K; k++) {                                           \\\n"
    "        float16 b[C];                                                       \\\n"
    "        for (int c = 0; c < C; c++)                                         \\\n"
    "            b[c] = BV(j + 16 * c);                                          \\\n"
    "        for (int r = 0; r < 8; r++) {                                       \\\n"
    "            float a = AE(i + r, k);                                         \\\n"
    "            for (int c = 0; c < C; c++)                                     \\\n"
    "                acc[r][c] = mad((float16)a, b[c], acc[r][c]);               \\\n"
    "        }                                                                   \\\n"
    "    }                                                                       \\\n"
    "    for (int r = 0; r < 8; r++)                                             \\\n"
    "        for (int c = 0; c < C; c++)                                         \\\n"
    "            vstore16(acc[r][c], 0, Cm + (size_t)(i + r) * ldc + j + 16 * c); \\\n"
    "}\n"
    "#define A_N(i, k) A[(size_t)(i) * lda + (k)]\n"
    "#define A_T(i, k) A[(size_t)(k) * lda + (i)]\n"
    "#define B_N(j) vload16(0, B + (size_t)k * ldb + (j))\n"
    "#define BT(j, c) B[(size_t)((j) + c) * ldb + k]\n"
    "#define B_T(j) (float16)(BT(j, 0), BT(j, 1), BT(j, 2), BT(j, 3), BT(j, 4), BT(j, 5), \\\n"
    "    BT(j, 6), BT(j, 7), BT(j, 8), BT(j, 9), BT(j, 10), BT(j, 11), BT(j, 12), BT(j, 13), \\\n"
    "    BT(j, 14), BT(j, 15))\n"
    "SGEMM(sgemm_nn1, 1, A_N, B_N)\n"
    "SGEMM(sgemm_nn2, 2, A_N, B_N)\n"
    "SGEMM(sgemm_tn1, 1, A_T, B_N)\n"
    "SGEMM(sgemm_tn2, 2, A_T, B_N)\n"
    "SGEMM(sgemm_nt1, 1, A_N, B_T)\n"
    "SGEMM(sgemm_nt2, 2, A_N, B_T)\n"
    "#define B_P(j) vload16(0, B + ((size_t)((j) / 16) * K + k) * 16)\n"
    "SGEMM(sgemm_pn1, 1, A_N, B_P)\n"
    "SGEMM(sgemm_pn2, 2, A_N, B_P)\n"
    "SGEMM(sgemm_pt1, 1, A_T, B_P)\n"
    "SGEMM(sgemm_pt2, 2, A_T, B_P)\n"
    "__kernel void pack_n(__global const float *B, int ldb, int K, __global float *P)\n"
    "{\n"
    "    int j = get_global_id(0), k = get_global_id(1);\n"
    "    P[((size_t)(j / 16) * K + k) * 16 + j % 16] = B[(size_t)k * ldb + j];\n"
    "}\n"
    "__kernel void pack_t(__global const float *B, int ldb, int K, __global float *P)\n"
    "{\n"
    "    int j = get_global_id(0), k = get_global_id(1);\n"
    "    P[((size_t)(j / 16) * K + k) * 16 + j % 16] = B[(size_t)j * ldb + k];\n"
    "}\n"
    "__kernel void bias_act(__global float *Z, __global const float *bias, int ld, int relu)\n"
    "{\n"
    "    int j = get_global_id(0), i = get_global_id(1);\n"
    "    float v = Z[(size_t)i * ld + j] + bias[j];\n"
    "    Z[(size_t)i * ld + j] = relu ? fmax(v, 0.0f) : v;\n"
    "}\n"
    "__kernel void softmax_grad(__global const float *Z, __global const int *y,\n"
    "                           __global float *G, int ld, int k, int nvalid, float inv_n)\n"
    "{\n"
    "    int i = get_global_id(0);\n"
    "    __global const float *z = Z + (size_t)i * ld;\n"
    "    __global float *g = G + (size_t)i * ld;\n"
    "    if (i >= nvalid) {\n"
    "        for (int j = 0; j < ld; j++)\n"
    "            g[j] = 0.0f;\n"
    "        return;\n"
    "    }\n"
    "    float m = z[0];\n"
    "    for (int j = 1; j < k; j++)\n"
    "        m = fmax(m, z[j]);\n"
    "    float s = 0.0f;\n"
    "    for (int j = 0; j < k; j++)\n"
    "        s += exp(z[j] - m);\n"
    "    for (int j = 0; j < ld; j++)\n"
    "        g[j] = j < k ? (exp(z[j] - m) / s - (j == y[i] ? 1.0f : 0.0f)) * inv_n : 0.0f;\n"
    "}\n"
    "__kernel void relu_back(__global float *dH, __global const float *H)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    if (H[i] <= 0.0f)\n"
    "        dH[i] = 0.0f;\n"
    "}\n"
    "__kernel void colsum(__global const float *G, __global float *db, int rows, int ld)\n"
    "{\n"
    "    int j = get_global_id(0);\n"
    "    float s = 0.0f;\n"
    "    for (int i = 0; i < rows; i++)\n"
    "        s += G[(size_t)i * ld + j];\n"
    "    db[j] = s;\n"
    "}\n"
    "__kernel void sgd(__global float *W, __global const float *dW, float lr)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    W[i] -= lr * dW[i];\n"
    "}\n"
    "/* The fused path: one work-item runs a whole epoch (see FUSED_MAX_WEIGHTS).\n"
    " * Each product keeps an 8 x 16 block of its result in float16 registers,\n"
    " * as SGEMM does, and folds in what the per-product path runs as separate\n"
    " * kernels: bias and ReLU after the forward products, the ReLU mask after\n"
    " * dH = G W2^T, and the SGD update after the weight gradients, which are\n"
    " * never stored. */\n"
    "/* acc[r] = row r of the 8 x 16 block at (i, j) of op(A) B, op(A)'s element\n"
    " * (i + r, p) being AE; A, B, lda, ldb, kk, i and j from the caller. */\n"
    "#define F_ACC(AE)                                                          \\\n"
    "    float16 acc[8];                                                        \\\n"
    "    for (int r = 0; r < 8; r++)                                            \\\n"
    "        acc[r] = 0.0f;                                                     \\\n"
    "    for (int p = 0; p < kk; p++) {                                         \\\n"
    "        float16 b = vload16(0, B + (size_t)p * ldb + j);                   \\\n"
    "        for (int r = 0; r < 8; r++)                                        \\\n"
    "            acc[r] = mad((float16)(AE), b, acc[r]);                        \\\n"
    "    }\n"
    "void f_nn(int m, int n, int kk, __global const float *A, int lda, __global const float *B,\n"
    "          int ldb, __global const float *bias, int relu, __global float *C, int ldc)\n"
    "{\n"
    "    for (int i = 0; i < m; i += 8)\n"
    "        for (int j = 0; j < n; j += 16) {\n"
    "            F_ACC(A[(size_t)(i + r) * lda + p]);\n"
    "            float16 bv = vload16(0, bias + j);\n"
    "            for (int r = 0; r < 8; r++) {\n"
    "                float16 v = acc[r] + bv;\n"
    "                vstore16(relu ? fmax(v, 0.0f) : v, 0, C + (size_t)(i + r) * ldc + j);\n"
    "            }\n"
    "        }\n"
    "}\n"
    "void f_nn_mask(int m, int n, int kk, __global const float *A, int lda, __global const float "
    "*B,\n"
    "               int ldb, __global const float *H, __global float *C, int ldc)\n"
    "{\n"
    "    for (int i = 0; i < m; i += 8)\n"
    "        for (int j = 0; j < n; j += 16) {\n"
    "            F_ACC(A[(size_t)(i + r) * lda + p]);\n"
    "            for (int r = 0; r < 8; r++) {\n"
    "                float16 h = vload16(0, H + (size_t)(i + r) * ldc + j);\n"
    "                vstore16(select(acc[r], (float16)0.0f, islessequal(h, (float16)0.0f)), 0,\n"
    "                         C + (size_t)(i + r) * ldc + j);\n"
    "            }\n"
    "        }\n"
    "}\n"
    "void f_tn_sgd(int m, int n, int kk, __global const float *A, int lda, __global const float "
    "*B,\n"
    "              int ldb, __global float *W, int ldw, float lr)\n"
    "{\n"
    "    for (int i = 0; i < m; i += 8)\n"
    "        for (int j = 0; j < n; j += 16) {\n"
    "            F_ACC(A[(size_t)p * lda + i + r]);\n"
    "            for (int r = 0; r < 8; r++) {\n"
    "                __global float *w = W + (size_t)(i + r) * ldw + j;\n"
    "                vstore16(vload16(0, w) - lr * acc[r], 0, w);\n"
    "            }\n"
    "        }\n"
    "}\n"
    "void f_bias_sgd(int m, int n, __global const float *G, int ld, __global float *b, float lr)\n"
    "{\n"
    "    for (int j = 0; j < n; j += 16) {\n"
    "        float16 s = 0.0f;\n"
    "        for (int i = 0; i < m; i++)\n"
    "            s += vload16(0, G + (size_t)i * ld + j);\n"
    "        vstore16(vload16(0, b + j) - lr * s, 0, b + j);\n"
    "    }\n"
    "}\n"
    "void f_softmax_grad(int m, int nvalid, __global const float *Z, __global const int *Y,\n"
    "                    __global const int *ord, __global float *G, int ld, int k, float inv_n)\n"
    "{\n"
    "    for (int i = 0; i < m; i++) {\n"
    "        __global const float *z = Z + (size_t)i * ld;\n"
    "        __global float *g = G + (size_t)i * ld;\n"
    "        if (i >= nvalid) {\n"
    "            for (int j = 0; j < ld; j++)\n"
    "                g[j] = 0.0f;\n"
    "            continue;\n"
    "        }\n"
    "        int y = Y[ord[i]];\n"
    "        float mx = z[0];\n"
    "        for (int j = 1; j < k; j++)\n"
    "            mx = fmax(mx, z[j]);\n"
    "        float s = 0.0f;\n"
    "        for (int j = 0; j < k; j++) {\n"
    "            g[j] = exp(z[j] - mx);\n"
    "            s += g[j];\n"
    "        }\n"
    "        for (int j = 0; j < ld; j++)\n"
    "            g[j] = j < k ? (g[j] / s - (j == y ? 1.0f : 0.0f)) * inv_n : 0.0f;\n"
    "    }\n"
    "}\n"
    "__kernel void fused_epoch(__global const float *X, __global const int *Y, __global const int "
    "*ord,\n"
    "                          int n, int batch, int dp, int hp, int kp, int k, float lr,\n"
    "                          __global float *W1, __global float *B1, __global float *W2,\n"
    "                          __global float *B2, __global float *xb, __global float *hb,\n"
    "                          __global float *zb, __global float *gb, __global float *dhb,\n"
    "                          __global float *w2t)\n"
    "{\n"
    "    for (int s = 0; s < n; s += batch) {\n"
    "        int nb = min(batch, n - s), m = (nb + 7) / 8 * 8;\n"
    "        for (int r = 0; r < m; r++) {\n"
    "            __global const float *src = X + (size_t)ord[s + min(r, nb - 1)] * dp;\n"
    "            for (int c = 0; c < dp; c += 16)\n"
    "                vstore16(r < nb ? vload16(0, src + c) : (float16)0.0f, 0, xb + (size_t)r * dp "
    "+ c);\n"
    "        }\n"
    "        float inv_n = 1.0f / (float)nb;\n"
    "        if (hp == 0) {\n"
    "            f_nn(m, kp, dp, xb, dp, W1, kp, B1, 0, zb, kp);\n"
    "            f_softmax_grad(m, nb, zb, Y, ord + s, gb, kp, k, inv_n);\n"
    "            f_tn_sgd(dp, kp, m, xb, dp, gb, kp, W1, kp, lr);\n"
    "            f_bias_sgd(m, kp, gb, kp, B1, lr);\n"
    "            continue;\n"
    "        }\n"
    "        f_nn(m, hp, dp, xb, dp, W1, hp, B1, 1, hb, hp);\n"
    "        f_nn(m, kp, hp, hb, hp, W2, kp, B2, 0, zb, kp);\n"
    "        f_softmax_grad(m, nb, zb, Y, ord + s, gb, kp, k, inv_n);\n"
    "        for (int c = 0; c < kp; c++)\n"
    "            for (int j = 0; j < hp; j++)\n"
    "                w2t[(size_t)c * hp + j] = W2[(size_t)j * kp + c];\n"
    "        f_nn_mask(m, hp, kp, gb, kp, w2t, hp, hb, dhb, hp);\n"
    "        f_tn_sgd(hp, kp, m, hb, hp, gb, kp, W2, kp, lr);\n"
    "        f_bias_sgd(m, kp, gb, kp, B2, lr);\n"
    "        f_tn_sgd(dp, hp, m, xb, dp, dhb, hp, W1, hp, lr);\n"
    "        f_bias_sgd(m, hp, dhb, hp, B1, lr);\n"
    "    }\n"
    "}\n";

static size_t round_up(size_t v, size_t m)
{
    return (v + m - 1) / m * m;
}

/* splitmix64 (Steele, Lea, Flood 2014; Vigna's public-domain reference). */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) by rejection, so no index is favoured. */
static size_t rand_below(uint64_t *s, size_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do
        r = splitmix64(s);
    while (r >= limit);
    return (size_t)(r % n);
}

static double rand_unit(uint64_t *s)
{
    return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void shuffle(size_t *idx, size_t n, uint64_t *s)
{
    for (size_t i = n; i > 1; i--) {
        size_t k = rand_below(s, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[k];
        idx[k] = t;
    }
}

/* A parsed CSV: <rows> x <cols> doubles. */
struct table {
    size_t rows, cols;
    double *cells;
};

static enum err parse_csv(const char *text, size_t len, int header, struct table *t,
                          struct buf *msg)
{
    size_t cap = 0;
    const char *p = text, *end = text + len;
    size_t line = 0;
    t->rows = t->cols = 0;
    t->cells = NULL;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        line++;
        const char *le = eol;
        if (le > p && le[-1] == '\r')
            le--;
        int skip = (header && line == 1) || le == p;
        if (!skip) {
            size_t col = 0;
            const char *f = p;
            for (;;) {
                if (t->rows >= TRAIN_MAX_ROWS || col >= TRAIN_MAX_COLUMNS ||
                    t->rows * (t->cols ? t->cols : col + 1) + col >= TRAIN_MAX_CELLS) {
                    msg_addf(msg,
                             "data is over the limits (%d rows, %d columns, %zu "
                             "cells)",
                             TRAIN_MAX_ROWS, TRAIN_MAX_COLUMNS, TRAIN_MAX_CELLS);
                    return ERR_TOOBIG;
                }
                const char *fe = memchr(f, ',', (size_t)(le - f));
                if (fe == NULL)
                    fe = le;
                char num[64];
                size_t fl = (size_t)(fe - f);
                while (fl > 0 && (*f == ' ' || *f == '\t')) {
                    f++;
                    fl--;
                }
                while (fl > 0 && (f[fl - 1] == ' ' || f[fl - 1] == '\t'))
                    fl--;
                char *nend = NULL;
                double v = 0;
                if (fl > 0 && fl < sizeof(num)) {
                    memcpy(num, f, fl);
                    num[fl] = '\0';
                    errno = 0;
                    v = strtod(num, &nend);
                }
                if (fl == 0 || fl >= sizeof(num) || nend != num + fl || errno != 0 ||
                    !isfinite(v)) {
                    msg_addf(msg, "data line %zu column %zu: not a number", line, col + 1);
                    return ERR_INVAL;
                }
                if (t->rows * (t->cols ? t->cols : TRAIN_MAX_COLUMNS) + col >= cap) {
                    size_t ncap = cap ? cap * 2 : 65536;
                    double *nc = realloc(t->cells, ncap * sizeof(double));
                    if (nc == NULL)
                        return ERR_NOMEM;
                    t->cells = nc;
                    cap = ncap;
                }
                if (t->rows == 0)
                    t->cells[col] = v;
                else
                    t->cells[t->rows * t->cols + col] = v;
                col++;
                if (fe == le)
                    break;
                f = fe + 1;
                if (t->rows > 0 && col >= t->cols) {
                    msg_addf(msg, "data line %zu has more than %zu columns", line, t->cols);
                    return ERR_INVAL;
                }
            }
            if (t->rows == 0) {
                t->cols = col;
            } else if (col != t->cols) {
                msg_addf(msg, "data line %zu has %zu columns, the first row %zu", line, col,
                         t->cols);
                return ERR_INVAL;
            }
            t->rows++;
        }
        p = eol + 1;
    }
    if (t->rows == 0 || t->cols < 2) {
        msg_addf(msg, "%s", "data needs at least one row of two columns");
        return ERR_INVAL;
    }
    return ERR_OK;
}

/* The trainer's device state. Unused members stay NULL for logistic. */
struct model {
    struct cl_ctx *cl;
    struct cl_prog *prog;
    struct cl_kern *nn[2], *tn[2], *nt[2], *bias_act, *softmax_grad, *relu_back, *colsum, *sgd;
    struct cl_kern *pn[2], *pt[2], *pack_n, *pack_t; /* packed-B products (SGEMM_PACK_*) */
    struct cl_mem *packed;                           /* op(B) in panels; grown on demand */
    int mlp;
    size_t d, dp, k, kp, h, hp;       /* features, classes, hidden units; p = padded */
    size_t bp;                        /* padded batch rows */
    struct cl_mem *w1, *b1, *w2, *b2; /* logistic uses w1/b1 only (dp x kp) */
    struct cl_mem *dw1, *db1, *dw2, *db2;
    struct cl_mem *xb, *yb, *hb, *zb, *gb, *dhb; /* batch work buffers */
    struct cl_mem *xe, *he, *ze;                 /* evaluation work buffers */
    size_t ep;                                   /* padded evaluation rows */
    int fused;                                   /* the fused path (FUSED_MAX_*) */
    struct cl_kern *fused_epoch;
    struct cl_mem *xt, *yt, *ord, *w2t; /* fused: training rows, labels, order, W2^T */
};

static void model_release(struct model *m)
{
    struct cl_mem *mems[] = {m->w1, m->b1,     m->w2, m->b2, m->dw1, m->db1, m->dw2, m->db2,
                             m->xb, m->yb,     m->hb, m->zb, m->gb,  m->dhb, m->xe,  m->he,
                             m->ze, m->packed, m->xt, m->yt, m->ord, m->w2t};
    for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
        cl_buffer_free(mems[i]);
    struct cl_kern *ks[] = {m->nn[0],  m->nn[1],    m->tn[0],        m->tn[1],     m->nt[0],
                            m->nt[1],  m->bias_act, m->softmax_grad, m->relu_back, m->colsum,
                            m->sgd,    m->pn[0],    m->pn[1],        m->pt[0],     m->pt[1],
                            m->pack_n, m->pack_t,   m->fused_epoch};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
        cl_kernel_free(ks[i]);
    cl_prog_free(m->prog);
}

static enum err build_kernels(struct model *m, struct buf *msg)
{
    enum err e = cl_build(m->cl, train_cl, sizeof(train_cl) - 1, "-cl-mad-enable", &m->prog, msg);
    static const char *const names[3][2] = {
        {"sgemm_nn1", "sgemm_nn2"}, {"sgemm_tn1", "sgemm_tn2"}, {"sgemm_nt1", "sgemm_nt2"}};
    for (int c = 0; c < 2 && e == ERR_OK; c++) {
        e = cl_kernel_new(m->prog, names[0][c], &m->nn[c], msg);
        if (e == ERR_OK)
            e = cl_kernel_new(m->prog, names[1][c], &m->tn[c], msg);
        if (e == ERR_OK)
            e = cl_kernel_new(m->prog, names[2][c], &m->nt[c], msg);
        if (e == ERR_OK)
            e = cl_kernel_new(m->prog, c ? "sgemm_pn2" : "sgemm_pn1", &m->pn[c], msg);
        if (e == ERR_OK)
            e = cl_kernel_new(m->prog, c ? "sgemm_pt2" : "sgemm_pt1", &m->pt[c], msg);
    }
    if (e == ERR_OK)
        e = cl_kernel_new(m->prog, "pack_n", &m->pack_n, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(m->prog, "pack_t", &m->pack_t, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(m->prog, "bias_act", &m->bias_act, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(m->prog, "softmax_grad", &m->softmax_grad, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(m->prog, "relu_back", &m->relu_back, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(m->prog, "colsum", &m->colsum, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(m->prog, "sgd", &m->sgd, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(m->prog, "fused_epoch", &m->fused_epoch, msg);
    return e;
}

static enum err set_i(struct cl_kern *k, unsigned i, int v, struct buf *msg)
{
    return cl_kernel_set_scalar(k, i, sizeof(v), &v, msg);
}

/* C (m x n, ldc) = op(A) op(B), with lda/ldb the stored row lengths; <pair>
 * is the kernel pair for one transposition, [0] for 16 columns per
 * work-item, [1] for 32 (used when n allows). */
static enum err gemm(struct model *md, struct cl_kern *pair[2], size_t m, size_t n, size_t k,
                     struct cl_mem *a, size_t lda, struct cl_mem *b, size_t ldb, struct cl_mem *c,
                     size_t ldc, struct buf *msg)
{
    LOOM_ASSERT(m % SGEMM_ROWS == 0 && n % SGEMM_COLS == 0);
    size_t cols = n % (2 * SGEMM_COLS) == 0 ? 2 * SGEMM_COLS : SGEMM_COLS;
    struct cl_kern *kern = pair[cols == SGEMM_COLS ? 0 : 1];
    enum err e = ERR_OK;
    if (k * n > SGEMM_PACK_MIN_KN && m >= SGEMM_PACK_MIN_ROWS) {
        /* op(B) into panels first (see SGEMM_PACK_MIN_KN). */
        struct cl_kern *pk = pair == md->nt ? md->pack_t : md->pack_n;
        size_t bytes = k * n * sizeof(float);
        if (md->packed == NULL || cl_buffer_size(md->packed) < bytes) {
            cl_buffer_free(md->packed);
            md->packed = NULL;
            e = cl_buffer_new(md->cl, bytes, NULL, &md->packed, msg);
        }
        if (e == ERR_OK)
            e = cl_kernel_set_buffer(pk, 0, b, msg);
        if (e == ERR_OK)
            e = set_i(pk, 1, (int)ldb, msg);
        if (e == ERR_OK)
            e = set_i(pk, 2, (int)k, msg);
        if (e == ERR_OK)
            e = cl_kernel_set_buffer(pk, 3, md->packed, msg);
        size_t pg[2] = {n, k};
        if (e == ERR_OK)
            e = cl_run(md->cl, pk, 2, pg, NULL, msg);
        kern = (pair == md->tn ? md->pt : md->pn)[cols == SGEMM_COLS ? 0 : 1];
        b = md->packed;
        ldb = n;
    }
    if (e == ERR_OK)
        e = set_i(kern, 0, (int)m, msg);
    if (e == ERR_OK)
        e = set_i(kern, 1, (int)n, msg);
    if (e == ERR_OK)
        e = set_i(kern, 2, (int)k, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(kern, 3, a, msg);
    if (e == ERR_OK)
        e = set_i(kern, 4, (int)lda, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(kern, 5, b, msg);
    if (e == ERR_OK)
        e = set_i(kern, 6, (int)ldb, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(kern, 7, c, msg);
    if (e == ERR_OK)
        e = set_i(kern, 8, (int)ldc, msg);
    size_t g[2] = {m / SGEMM_ROWS, n / cols}, one[2] = {1, 1};
    if (e == ERR_OK)
        e = cl_run(md->cl, kern, 2, g, one, msg);
    return e;
}

static enum err bias_act(struct model *m, struct cl_mem *z, struct cl_mem *bias, size_t rows,
                         size_t ld, int relu, struct buf *msg)
{
    enum err e = cl_kernel_set_buffer(m->bias_act, 0, z, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(m->bias_act, 1, bias, msg);
    if (e == ERR_OK)
        e = set_i(m->bias_act, 2, (int)ld, msg);
    if (e == ERR_OK)
        e = set_i(m->bias_act, 3, relu, msg);
    size_t g[2] = {ld, rows};
    if (e == ERR_OK)
        e = cl_run(m->cl, m->bias_act, 2, g, NULL, msg);
    return e;
}

static enum err colsum(struct model *m, struct cl_mem *g, struct cl_mem *db, size_t rows, size_t ld,
                       struct buf *msg)
{
    enum err e = cl_kernel_set_buffer(m->colsum, 0, g, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(m->colsum, 1, db, msg);
    if (e == ERR_OK)
        e = set_i(m->colsum, 2, (int)rows, msg);
    if (e == ERR_OK)
        e = set_i(m->colsum, 3, (int)ld, msg);
    if (e == ERR_OK)
        e = cl_run(m->cl, m->colsum, 1, &ld, NULL, msg);
    return e;
}

static enum err sgd(struct model *m, struct cl_mem *w, struct cl_mem *dw, float lr, struct buf *msg)
{
    size_t n = cl_buffer_size(w) / sizeof(float);
    enum err e = cl_kernel_set_buffer(m->sgd, 0, w, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(m->sgd, 1, dw, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_scalar(m->sgd, 2, sizeof(lr), &lr, msg);
    if (e == ERR_OK)
        e = cl_run(m->cl, m->sgd, 1, &n, NULL, msg);
    return e;
}

/* Logits (rows x kp) of x (rows x dp) into z, through h for the MLP. */
static enum err forward(struct model *m, struct cl_mem *x, struct cl_mem *h, struct cl_mem *z,
                        size_t rows, struct buf *msg)
{
    enum err e;
    if (!m->mlp) {
        e = gemm(m, m->nn, rows, m->kp, m->dp, x, m->dp, m->w1, m->kp, z, m->kp, msg);
        if (e == ERR_OK)
            e = bias_act(m, z, m->b1, rows, m->kp, 0, msg);
        return e;
    }
    e = gemm(m, m->nn, rows, m->hp, m->dp, x, m->dp, m->w1, m->hp, h, m->hp, msg);
    if (e == ERR_OK)
        e = bias_act(m, h, m->b1, rows, m->hp, 1, msg);
    if (e == ERR_OK)
        e = gemm(m, m->nn, rows, m->kp, m->hp, h, m->hp, m->w2, m->kp, z, m->kp, msg);
    if (e == ERR_OK)
        e = bias_act(m, z, m->b2, rows, m->kp, 0, msg);
    return e;
}

/* One SGD step on the batch already in xb/yb with <nvalid> real rows. */
static enum err step(struct model *m, size_t nvalid, float lr, struct buf *msg)
{
    enum err e = forward(m, m->xb, m->hb, m->zb, m->bp, msg);
    float inv_n = 1.0f / (float)nvalid;
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(m->softmax_grad, 0, m->zb, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(m->softmax_grad, 1, m->yb, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(m->softmax_grad, 2, m->gb, msg);
    if (e == ERR_OK)
        e = set_i(m->softmax_grad, 3, (int)m->kp, msg);
    if (e == ERR_OK)
        e = set_i(m->softmax_grad, 4, (int)m->k, msg);
    if (e == ERR_OK)
        e = set_i(m->softmax_grad, 5, (int)nvalid, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_scalar(m->softmax_grad, 6, sizeof(inv_n), &inv_n, msg);
    if (e == ERR_OK)
        e = cl_run(m->cl, m->softmax_grad, 1, &m->bp, NULL, msg);
    if (e != ERR_OK)
        return e;
    if (!m->mlp) {
        e = gemm(m, m->tn, m->dp, m->kp, m->bp, m->xb, m->dp, m->gb, m->kp, m->dw1, m->kp, msg);
        if (e == ERR_OK)
            e = colsum(m, m->gb, m->db1, m->bp, m->kp, msg);
        if (e == ERR_OK)
            e = sgd(m, m->w1, m->dw1, lr, msg);
        if (e == ERR_OK)
            e = sgd(m, m->b1, m->db1, lr, msg);
        return e;
    }
    /* dW2 = H^T G, db2 = sum G, dH = G W2^T masked by ReLU', dW1 = X^T dH. */
    e = gemm(m, m->tn, m->hp, m->kp, m->bp, m->hb, m->hp, m->gb, m->kp, m->dw2, m->kp, msg);
    if (e == ERR_OK)
        e = colsum(m, m->gb, m->db2, m->bp, m->kp, msg);
    if (e == ERR_OK)
        e = gemm(m, m->nt, m->bp, m->hp, m->kp, m->gb, m->kp, m->w2, m->kp, m->dhb, m->hp, msg);
    size_t nh = m->bp * m->hp;
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(m->relu_back, 0, m->dhb, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(m->relu_back, 1, m->hb, msg);
    if (e == ERR_OK)
        e = cl_run(m->cl, m->relu_back, 1, &nh, NULL, msg);
    if (e == ERR_OK)
        e = gemm(m, m->tn, m->dp, m->hp, m->bp, m->xb, m->dp, m->dhb, m->hp, m->dw1, m->hp, msg);
    if (e == ERR_OK)
        e = colsum(m, m->dhb, m->db1, m->bp, m->hp, msg);
    if (e == ERR_OK)
        e = sgd(m, m->w1, m->dw1, lr, msg);
    if (e == ERR_OK)
        e = sgd(m, m->b1, m->db1, lr, msg);
    if (e == ERR_OK)
        e = sgd(m, m->w2, m->dw2, lr, msg);
    if (e == ERR_OK)
        e = sgd(m, m->b2, m->db2, lr, msg);
    return e;
}

/* Mean cross-entropy and accuracy of the model on <rows> rows of <x>
 * (rows x dp, host, padded) with labels <y>. */
static enum err evaluate(struct model *m, const float *x, const int *y, size_t rows, float *zhost,
                         double *loss, double *acc, struct buf *msg)
{
    size_t rp = round_up(rows, SGEMM_ROWS);
    enum err e = cl_buffer_write(m->cl, m->xe, 0, x, rp * m->dp * sizeof(float), msg);
    if (e == ERR_OK)
        e = forward(m, m->xe, m->he, m->ze, rp, msg);
    if (e == ERR_OK)
        e = cl_buffer_read(m->cl, m->ze, 0, zhost, rp * m->kp * sizeof(float), msg);
    if (e != ERR_OK)
        return e;
    double l = 0;
    size_t right = 0;
    for (size_t i = 0; i < rows; i++) {
        const float *z = zhost + i * m->kp;
        size_t best = 0;
        for (size_t c = 1; c < m->k; c++)
            if (z[c] > z[best])
                best = c;
        double s = 0;
        for (size_t c = 0; c < m->k; c++)
            s += exp((double)z[c] - z[best]);
        l += log(s) - ((double)z[y[i]] - z[best]);
        right += best == (size_t)y[i];
    }
    *loss = l / (double)rows;
    *acc = (double)right / (double)rows;
    return ERR_OK;
}

static enum err buffer(struct model *m, size_t floats, const void *init, struct cl_mem **out,
                       struct buf *msg)
{
    return cl_buffer_new(m->cl, floats * sizeof(float), init, out, msg);
}

/* Uniform Glorot init of the real (unpadded) fan_in x fan_out block. */
static void glorot(float *w, size_t fan_in, size_t fan_out, size_t ld, uint64_t *seed)
{
    double a = sqrt(6.0 / (double)(fan_in + fan_out));
    for (size_t i = 0; i < fan_in; i++)
        for (size_t c = 0; c < fan_out; c++)
            w[i * ld + c] = (float)((2.0 * rand_unit(seed) - 1.0) * a);
}

static enum err write_outputs(struct job_ctx *j, struct model *m, const double *mean,
                              const double *sd, struct buf *metrics, size_t label_col)
{
    struct buf model, bin;
    buf_init(&model, (size_t)1 << 20);
    buf_init(&bin, (size_t)1 << 31);
    float *host = NULL;
    enum err e = ERR_OK;
    size_t layers = m->mlp ? 2 : 1;
    struct {
        struct cl_mem *w, *b;
        size_t in, out, ld;
    } L[2] = {{m->w1, m->b1, m->d, m->mlp ? m->h : m->k, m->mlp ? m->hp : m->kp},
              {m->w2, m->b2, m->h, m->k, m->kp}};
    e = buf_appendf(&model,
                    "{\"v\":1,\"model\":\"%s\",\"features\":%zu,\"classes\":%zu,\"hidden\":%zu,"
                    "\"label_column\":%zu,\"weights_file\":\"weights.bin\",\"dtype\":"
                    "\"float32le\",\"layers\":[",
                    m->mlp ? "mlp" : "logistic", m->d, m->k, m->mlp ? m->h : 0, label_col);
    for (size_t l = 0; l < layers && e == ERR_OK; l++) {
        e = buf_appendf(&model, "%s{\"weights\":[%zu,%zu],\"bias\":[%zu],\"activation\":\"%s\"}",
                        l ? "," : "", L[l].in, L[l].out, L[l].out,
                        m->mlp && l == 0 ? "relu" : "softmax");
        size_t rows_p = round_up(L[l].in, SGEMM_COLS);
        free(host);
        host = malloc(rows_p * L[l].ld * sizeof(float));
        if (host == NULL) {
            e = ERR_NOMEM;
            break;
        }
        if (e == ERR_OK)
            e = cl_buffer_read(m->cl, L[l].w, 0, host, cl_buffer_size(L[l].w), j->msg);
        for (size_t i = 0; i < L[l].in && e == ERR_OK; i++)
            e = buf_append(&bin, host + i * L[l].ld, L[l].out * sizeof(float));
        if (e == ERR_OK)
            e = cl_buffer_read(m->cl, L[l].b, 0, host, cl_buffer_size(L[l].b), j->msg);
        if (e == ERR_OK)
            e = buf_append(&bin, host, L[l].out * sizeof(float));
    }
    if (e == ERR_OK)
        e = buf_append_str(&model, "],\"mean\":[");
    for (size_t i = 0; i < m->d && e == ERR_OK; i++)
        e = buf_appendf(&model, "%s%.9g", i ? "," : "", mean[i]);
    if (e == ERR_OK)
        e = buf_append_str(&model, "],\"std\":[");
    for (size_t i = 0; i < m->d && e == ERR_OK; i++)
        e = buf_appendf(&model, "%s%.9g", i ? "," : "", sd[i]);
    if (e == ERR_OK)
        e = buf_append_str(&model, "]}\n");
    if (e == ERR_OK)
        e = jobfiles_write(j->out_dir, "weights.bin", bin.data, bin.len, j->msg);
    if (e == ERR_OK)
        e = jobfiles_write(j->out_dir, "model.json", model.data, model.len, j->msg);
    if (e == ERR_OK)
        e = jobfiles_write(j->out_dir, "metrics.json", metrics->data, metrics->len, j->msg);
    free(host);
    buf_release(&bin);
    buf_release(&model);
    return e;
}

/* Whether the fused kernel takes <m> on its device (FUSED_MAX_*). */
static int fused_fits(const struct model *m)
{
    size_t weights = m->dp * (m->mlp ? m->hp : m->kp) + m->hp * m->kp;
    return cl_device_is_cpu(m->cl) && weights <= FUSED_MAX_WEIGHTS && m->bp <= FUSED_MAX_BATCH;
}

/* The padded shapes of <m>: <d> features, <h> hidden units (0: logistic
 * regression), <k> classes, batches of <batch> rows, evaluation over up to
 * <eval_rows> rows. */
static void model_shape(struct model *m, size_t d, size_t h, size_t k, unsigned batch,
                        size_t eval_rows)
{
    m->mlp = h > 0;
    m->d = d;
    m->dp = round_up(d, SGEMM_COLS);
    m->k = k;
    m->kp = round_up(k, SGEMM_COLS);
    m->h = h;
    m->hp = round_up(h, SGEMM_COLS);
    m->bp = round_up(batch, SGEMM_ROWS);
    m->ep = round_up(eval_rows, SGEMM_ROWS);
}

/* Choose the path for <m> (shaped by model_shape()) on <cl>, build the
 * kernels and make the device buffers. <w1> (dp x l1, l1 = hp or kp) and
 * <w2> (hp x kp, MLP only) are the padded initial weights; <xtr> (n_train x
 * dp, padded) and <ytr> the training rows, which the fused path keeps on the
 * device. Returns ERR_OK; ERR_INVAL (<path> is TRAIN_PATH_FUSED and the
 * model is over the fused kernel's limits); ERR_CL; ERR_NOMEM; ERR_TOOBIG. */
static enum err model_open(struct model *m, struct cl_ctx *cl, enum train_path path,
                           const float *w1, const float *w2, const float *xtr, const int *ytr,
                           size_t n_train, struct buf *msg)
{
    m->cl = cl;
    if (path == TRAIN_PATH_FUSED && !fused_fits(m)) {
        msg_addf(msg,
                 "the fused trainer takes a CPU device, at most %zu padded weights and "
                 "batches of at most %d rows",
                 FUSED_MAX_WEIGHTS, FUSED_MAX_BATCH);
        return ERR_INVAL;
    }
    m->fused = path != TRAIN_PATH_PER_PRODUCT && fused_fits(m);
    size_t l1_out = m->mlp ? m->hp : m->kp;
    enum err e = build_kernels(m, msg);
    if (e == ERR_OK)
        e = buffer(m, m->dp * l1_out, w1, &m->w1, msg);
    if (e == ERR_OK)
        e = buffer(m, l1_out, NULL, &m->b1, msg);
    /* Gradients and batch labels exist only on the per-product path: the
     * fused kernel folds the update into the products and reads labels
     * from the training rows on the device. */
    if (e == ERR_OK && !m->fused)
        e = buffer(m, m->dp * l1_out, NULL, &m->dw1, msg);
    if (e == ERR_OK && !m->fused)
        e = buffer(m, l1_out, NULL, &m->db1, msg);
    if (e == ERR_OK)
        e = buffer(m, m->bp * m->dp, NULL, &m->xb, msg);
    if (e == ERR_OK && !m->fused)
        e = cl_buffer_new(m->cl, m->bp * sizeof(int), NULL, &m->yb, msg);
    if (e == ERR_OK)
        e = buffer(m, m->bp * m->kp, NULL, &m->zb, msg);
    if (e == ERR_OK)
        e = buffer(m, m->bp * m->kp, NULL, &m->gb, msg);
    if (e == ERR_OK)
        e = buffer(m, m->ep * m->dp, NULL, &m->xe, msg);
    if (e == ERR_OK)
        e = buffer(m, m->ep * m->kp, NULL, &m->ze, msg);
    if (e == ERR_OK && m->mlp) {
        e = buffer(m, m->hp * m->kp, w2, &m->w2, msg);
        if (e == ERR_OK)
            e = buffer(m, m->kp, NULL, &m->b2, msg);
        if (e == ERR_OK && !m->fused)
            e = buffer(m, m->hp * m->kp, NULL, &m->dw2, msg);
        if (e == ERR_OK && !m->fused)
            e = buffer(m, m->kp, NULL, &m->db2, msg);
        if (e == ERR_OK)
            e = buffer(m, m->bp * m->hp, NULL, &m->hb, msg);
        if (e == ERR_OK)
            e = buffer(m, m->bp * m->hp, NULL, &m->dhb, msg);
        if (e == ERR_OK)
            e = buffer(m, m->ep * m->hp, NULL, &m->he, msg);
        if (e == ERR_OK && m->fused)
            e = buffer(m, m->hp * m->kp, NULL, &m->w2t, msg);
    }
    if (e == ERR_OK && m->fused) {
        e = buffer(m, n_train * m->dp, xtr, &m->xt, msg);
        if (e == ERR_OK)
            e = cl_buffer_new(m->cl, n_train * sizeof(int), ytr, &m->yt, msg);
        if (e == ERR_OK)
            e = cl_buffer_new(m->cl, n_train * sizeof(int), NULL, &m->ord, msg);
    }
    return e;
}

/* One epoch of SGD over the <n> training rows in <order> (indexes into
 * <xtr>, n x dp padded, and <ytr>), in batches of <batch>. Scratch: <xb>
 * (bp x dp floats) and <yb> (bp ints) for the per-product path, <ord> (n
 * ints) for the fused one. Queues the work; does not wait for the last
 * kernel. Returns ERR_OK or ERR_CL. */
static enum err run_epoch(struct model *m, const size_t *order, size_t n, unsigned batch, float lr,
                          const float *xtr, const int *ytr, float *xb, int *yb, int *ord,
                          struct buf *msg)
{
    enum err e = ERR_OK;
    if (m->fused) {
        for (size_t i = 0; i < n; i++)
            ord[i] = (int)order[i];
        e = cl_buffer_write(m->cl, m->ord, 0, ord, n * sizeof(int), msg);
        /* Logistic regression never touches the MLP's buffers: stand-ins. */
        struct cl_mem *head[] = {m->xt, m->yt, m->ord};
        int ints[] = {(int)n, (int)batch, (int)m->dp, (int)m->hp, (int)m->kp, (int)m->k};
        struct cl_mem *tail[] = {m->w1,
                                 m->b1,
                                 m->mlp ? m->w2 : m->w1,
                                 m->mlp ? m->b2 : m->b1,
                                 m->xb,
                                 m->mlp ? m->hb : m->xb,
                                 m->zb,
                                 m->gb,
                                 m->mlp ? m->dhb : m->gb,
                                 m->mlp ? m->w2t : m->gb};
        struct cl_kern *kf = m->fused_epoch;
        unsigned a = 0;
        for (size_t i = 0; i < sizeof(head) / sizeof(head[0]) && e == ERR_OK; i++)
            e = cl_kernel_set_buffer(kf, a++, head[i], msg);
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]) && e == ERR_OK; i++)
            e = set_i(kf, a++, ints[i], msg);
        if (e == ERR_OK)
            e = cl_kernel_set_scalar(kf, a++, sizeof(lr), &lr, msg);
        for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]) && e == ERR_OK; i++)
            e = cl_kernel_set_buffer(kf, a++, tail[i], msg);
        size_t one = 1;
        if (e == ERR_OK)
            e = cl_run(m->cl, kf, 1, &one, &one, msg);
        return e;
    }
    for (size_t s = 0; s < n && e == ERR_OK; s += batch) {
        size_t nb = n - s < batch ? n - s : batch;
        memset(xb, 0, m->bp * m->dp * sizeof(float));
        memset(yb, 0, m->bp * sizeof(int));
        for (size_t r = 0; r < nb; r++) {
            memcpy(xb + r * m->dp, xtr + order[s + r] * m->dp, m->dp * sizeof(float));
            yb[r] = ytr[order[s + r]];
        }
        e = cl_buffer_write(m->cl, m->xb, 0, xb, m->bp * m->dp * sizeof(float), msg);
        if (e == ERR_OK)
            e = cl_buffer_write(m->cl, m->yb, 0, yb, m->bp * sizeof(int), msg);
        if (e == ERR_OK)
            e = step(m, nb, lr, msg);
    }
    return e;
}

/* Copy the unpadded <in> x <out> block of <w> (row length <ld>) to <dst>. */
static enum err read_block(struct model *m, struct cl_mem *w, size_t in, size_t out, size_t ld,
                           float *dst, struct buf *msg)
{
    float *host = malloc(cl_buffer_size(w));
    if (host == NULL)
        return ERR_NOMEM;
    enum err e = cl_buffer_read(m->cl, w, 0, host, cl_buffer_size(w), msg);
    for (size_t i = 0; i < in && e == ERR_OK; i++)
        memcpy(dst + i * out, host + i * ld, out * sizeof(float));
    free(host);
    return e;
}

enum err train_run(struct job_ctx *j)
{
    return train_run_path(j, TRAIN_PATH_AUTO, NULL);
}

enum err train_run_path(struct job_ctx *j, enum train_path path, enum train_path *used)
{
    const struct jobspec_train *ts = &j->spec->u.train;
    struct model m;
    memset(&m, 0, sizeof(m));
    m.cl = j->cl;
    struct table t = {0, 0, NULL};
    unsigned char *csv = NULL;
    size_t csv_len = 0;
    size_t *idx = NULL;
    int *labels = NULL, *ytr = NULL, *yte = NULL, *yb = NULL, *ord = NULL;
    float *xtr = NULL, *xte = NULL, *xb = NULL, *zhost = NULL, *w1 = NULL, *w2 = NULL;
    double *mean = NULL, *sd = NULL;
    struct buf metrics;
    buf_init(&metrics, (size_t)4 << 20);
    uint64_t seed = ts->seed;

    enum err e = jobfiles_read_input(j->files_dir, jobspec_find_input(j->spec, ts->data),
                                     TRAIN_MAX_CSV_BYTES, &csv, &csv_len, j->msg);
    if (e == ERR_OK)
        e = parse_csv((const char *)csv, csv_len, ts->header, &t, j->msg);
    if (e != ERR_OK)
        goto done;
    free(csv);
    csv = NULL;
    long lc = ts->label_column < 0 ? (long)t.cols + ts->label_column : ts->label_column;
    if (lc < 0 || (size_t)lc >= t.cols) {
        e = ERR_INVAL;
        msg_addf(j->msg, "label_column %d is outside the data's %zu columns", ts->label_column,
                 t.cols);
        goto done;
    }
    size_t n = t.rows, d = t.cols - 1, k = 0;
    labels = malloc(n * sizeof(int));
    idx = malloc(n * sizeof(size_t));
    if (labels == NULL || idx == NULL) {
        e = ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        double v = t.cells[i * t.cols + (size_t)lc];
        if (v < 0 || v >= TRAIN_MAX_CLASSES || floor(v) != v) {
            e = ERR_INVAL;
            msg_addf(j->msg, "data row %zu: label %g is not a class index 0..%d", i + 1, v,
                     TRAIN_MAX_CLASSES - 1);
            goto done;
        }
        labels[i] = (int)v;
        if ((size_t)labels[i] + 1 > k)
            k = (size_t)labels[i] + 1;
        idx[i] = i;
    }
    size_t n_test = (size_t)llround((double)n * ts->test_fraction);
    if (k < 2 || n_test < 1 || n_test >= n) {
        e = ERR_INVAL;
        msg_addf(j->msg, "data has %zu rows and %zu classes: too few to train on", n, k);
        goto done;
    }
    size_t n_train = n - n_test;
    shuffle(idx, n, &seed);

    size_t trp = round_up(n_train, SGEMM_ROWS), tep = round_up(n_test, SGEMM_ROWS);
    model_shape(&m, d, ts->model == JOBSPEC_MODEL_MLP ? ts->hidden : 0, k, ts->batch_size,
                trp > tep ? trp : tep);

    /* Host copies of the splits and the device copies of the model and the
     * evaluation buffers, in floats; a rough bound that catches a spec
     * whose hidden layer or data cannot fit before anything is allocated. */
    unsigned long long floats = 2ULL * (trp + tep) * m.dp + 4ULL * m.dp * (m.mlp ? m.hp : m.kp) +
                                4ULL * m.hp * m.kp + 2ULL * m.ep * (m.dp + m.hp + m.kp) +
                                6ULL * m.bp * (m.dp + m.hp + m.kp) + 1ULL * trp * m.dp +
                                3ULL * n_train;
    e = job_check_memory(j, floats * sizeof(float), "the model and data");
    if (e != ERR_OK)
        goto done;
    /* Standardise with the training rows' statistics. */
    mean = calloc(d, sizeof(double));
    sd = calloc(d, sizeof(double));
    xtr = calloc(trp * m.dp, sizeof(float));
    xte = calloc(tep * m.dp, sizeof(float));
    ytr = calloc(n_train, sizeof(int));
    yte = calloc(n_test, sizeof(int));
    xb = calloc(m.bp * m.dp, sizeof(float));
    yb = calloc(m.bp, sizeof(int));
    zhost = calloc(m.ep * m.kp, sizeof(float));
    ord = calloc(n_train, sizeof(int));
    if (!mean || !sd || !xtr || !xte || !ytr || !yte || !xb || !yb || !zhost || !ord) {
        e = ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n_train; i++)
        for (size_t c = 0, f = 0; c < t.cols; c++)
            if (c != (size_t)lc)
                mean[f++] += t.cells[idx[i] * t.cols + c];
    for (size_t f = 0; f < d; f++)
        mean[f] /= (double)n_train;
    for (size_t i = 0; i < n_train; i++)
        for (size_t c = 0, f = 0; c < t.cols; c++)
            if (c != (size_t)lc) {
                double dv = t.cells[idx[i] * t.cols + c] - mean[f];
                sd[f++] += dv * dv;
            }
    for (size_t f = 0; f < d; f++) {
        sd[f] = sqrt(sd[f] / (double)n_train);
        if (sd[f] < 1e-12)
            sd[f] = 1.0; /* a constant feature: centre it, do not blow it up */
    }
    for (size_t i = 0; i < n; i++) {
        int is_test = i >= n_train;
        size_t r = is_test ? i - n_train : i;
        float *row = (is_test ? xte : xtr) + r * m.dp;
        for (size_t c = 0, f = 0; c < t.cols; c++)
            if (c != (size_t)lc) {
                row[f] = (float)((t.cells[idx[i] * t.cols + c] - mean[f]) / sd[f]);
                f++;
            }
        (is_test ? yte : ytr)[r] = labels[idx[i]];
    }
    free(t.cells);
    t.cells = NULL;

    /* Initial weights. */
    size_t l1_out = m.mlp ? m.hp : m.kp;
    w1 = calloc(m.dp * l1_out, sizeof(float));
    w2 = m.mlp ? calloc(m.hp * m.kp, sizeof(float)) : NULL;
    if (w1 == NULL || (m.mlp && w2 == NULL)) {
        e = ERR_NOMEM;
        goto done;
    }
    if (m.mlp) {
        glorot(w1, m.d, m.h, m.hp, &seed);
        glorot(w2, m.h, m.k, m.kp, &seed);
    }
    e = model_open(&m, j->cl, path, w1, w2, xtr, ytr, n_train, j->msg);
    if (e != ERR_OK)
        goto done;
    if (used != NULL)
        *used = m.fused ? TRAIN_PATH_FUSED : TRAIN_PATH_PER_PRODUCT;

    e = buf_appendf(&metrics,
                    "{\"v\":1,\"model\":\"%s\",\"hidden\":%zu,\"features\":%zu,\"classes\":%zu,"
                    "\"train_rows\":%zu,\"test_rows\":%zu,\"batch_size\":%u,"
                    "\"learning_rate\":%.9g,\"seed\":%llu,\"epochs\":[",
                    m.mlp ? "mlp" : "logistic", m.h, d, k, n_train, n_test, ts->batch_size,
                    ts->learning_rate, (unsigned long long)ts->seed);
    if (e != ERR_OK)
        goto done;
    size_t *order = idx; /* reused: a permutation of the training rows */
    for (size_t i = 0; i < n_train; i++)
        order[i] = i;
    float lr = (float)ts->learning_rate;
    double tr_loss = 0, tr_acc = 0, te_loss = 0, te_acc = 0;
    for (unsigned ep = 0; ep < ts->epochs; ep++) {
        shuffle(order, n_train, &seed);
        e = run_epoch(&m, order, n_train, ts->batch_size, lr, xtr, ytr, xb, yb, ord, j->msg);
        if (e != ERR_OK)
            goto done;
        e = evaluate(&m, xtr, ytr, n_train, zhost, &tr_loss, &tr_acc, j->msg);
        if (e == ERR_OK)
            e = evaluate(&m, xte, yte, n_test, zhost, &te_loss, &te_acc, j->msg);
        if (e != ERR_OK)
            goto done;
        if (!isfinite(tr_loss)) {
            e = ERR_INVAL;
            msg_addf(j->msg,
                     "training diverged at epoch %u (loss is not finite): "
                     "lower the learning rate",
                     ep + 1);
            goto done;
        }
        e = buf_appendf(&metrics,
                        "%s{\"epoch\":%u,\"loss\":%.6f,\"train_loss\":%.6f,"
                        "\"train_accuracy\":%.6f,\"test_loss\":%.6f,\"test_accuracy\":%.6f}",
                        ep ? "," : "", ep + 1, tr_loss, tr_loss, tr_acc, te_loss, te_acc);
        if (e != ERR_OK)
            goto done;
        job_progress(j, 5 + (unsigned)((ep + 1) * 90ULL / ts->epochs));
    }
    e = buf_appendf(&metrics, "],\"final\":{\"train_accuracy\":%.6f,\"test_accuracy\":%.6f}}\n",
                    tr_acc, te_acc);
    if (e == ERR_OK)
        e = write_outputs(j, &m, mean, sd, &metrics, (size_t)lc);
done:
    if (e == ERR_TOOBIG && metrics.len >= metrics.max_bytes - 256)
        msg_addf(j->msg, "%s", "metrics are over 4 MiB: fewer epochs");
    model_release(&m);
    buf_release(&metrics);
    free(t.cells);
    free(csv);
    free(idx);
    free(labels);
    free(ytr);
    free(yte);
    free(yb);
    free(ord);
    free(xtr);
    free(xte);
    free(xb);
    free(zhost);
    free(w1);
    free(w2);
    free(mean);
    free(sd);
    return e;
}

struct train_sgemm {
    struct model m;
};

enum err train_sgemm_new(struct cl_ctx *cl, struct train_sgemm **out, struct buf *msg)
{
    struct train_sgemm *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return ERR_NOMEM;
    s->m.cl = cl;
    enum err e = build_kernels(&s->m, msg);
    if (e != ERR_OK) {
        train_sgemm_free(s);
        return e;
    }
    *out = s;
    return ERR_OK;
}

void train_sgemm_free(struct train_sgemm *s)
{
    if (s == NULL)
        return;
    model_release(&s->m);
    free(s);
}

enum err train_sgemm_run(struct train_sgemm *s, unsigned m, unsigned n, unsigned k,
                         struct cl_mem *a, struct cl_mem *b, struct cl_mem *c, struct buf *msg)
{
    return gemm(&s->m, s->m.nn, m, n, k, a, k, b, n, c, n, msg);
}

enum err train_sgemm_run_op(struct train_sgemm *s, int trans_a, int trans_b, unsigned m, unsigned n,
                            unsigned k, struct cl_mem *a, struct cl_mem *b, struct cl_mem *c,
                            struct buf *msg)
{
    LOOM_ASSERT(!(trans_a && trans_b));
    if (trans_a)
        return gemm(&s->m, s->m.tn, m, n, k, a, m, b, n, c, n, msg);
    if (trans_b)
        return gemm(&s->m, s->m.nt, m, n, k, a, k, b, k, c, n, msg);
    return gemm(&s->m, s->m.nn, m, n, k, a, k, b, n, c, n, msg);
}

struct train_epoch {
    struct model m;
    size_t n;
    unsigned batch;
    float *xtr, *xb; /* padded rows, per-product batch scratch */
    int *ytr, *yb, *ord;
};

enum err train_epoch_new(struct cl_ctx *cl, enum train_path path, size_t rows, size_t d,
                         size_t hidden, size_t classes, unsigned batch, const float *x,
                         const int *y, const float *w1, const float *w2, struct train_epoch **out,
                         struct buf *msg)
{
    LOOM_ASSERT(rows >= 1 && d >= 1 && classes >= 2 && batch >= 1);
    struct train_epoch *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return ERR_NOMEM;
    struct model *m = &t->m;
    model_shape(m, d, hidden, classes, batch, SGEMM_ROWS);
    size_t l1 = m->mlp ? m->hp : m->kp, l1_real = m->mlp ? hidden : classes;
    t->n = rows;
    t->batch = batch;
    t->xtr = calloc(rows * m->dp, sizeof(float));
    t->xb = calloc(m->bp * m->dp, sizeof(float));
    t->ytr = malloc(rows * sizeof(int));
    t->yb = calloc(m->bp, sizeof(int));
    t->ord = calloc(rows, sizeof(int));
    float *pw1 = calloc(m->dp * l1, sizeof(float));
    float *pw2 = m->mlp ? calloc(m->hp * m->kp, sizeof(float)) : NULL;
    enum err e = ERR_OK;
    if (!t->xtr || !t->xb || !t->ytr || !t->yb || !t->ord || !pw1 || (m->mlp && !pw2)) {
        e = ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < rows; i++) {
        memcpy(t->xtr + i * m->dp, x + i * d, d * sizeof(float));
        LOOM_ASSERT(y[i] >= 0 && (size_t)y[i] < classes);
        t->ytr[i] = y[i];
    }
    for (size_t i = 0; i < d; i++)
        memcpy(pw1 + i * l1, w1 + i * l1_real, l1_real * sizeof(float));
    for (size_t i = 0; m->mlp && i < hidden; i++)
        memcpy(pw2 + i * m->kp, w2 + i * classes, classes * sizeof(float));
    e = model_open(m, cl, path, pw1, pw2, t->xtr, t->ytr, rows, msg);
done:
    free(pw1);
    free(pw2);
    if (e != ERR_OK) {
        train_epoch_free(t);
        return e;
    }
    *out = t;
    return ERR_OK;
}

enum train_path train_epoch_path(const struct train_epoch *t)
{
    return t->m.fused ? TRAIN_PATH_FUSED : TRAIN_PATH_PER_PRODUCT;
}

enum err train_epoch_run(struct train_epoch *t, const size_t *order, float lr, struct buf *msg)
{
    enum err e =
        run_epoch(&t->m, order, t->n, t->batch, lr, t->xtr, t->ytr, t->xb, t->yb, t->ord, msg);
    if (e == ERR_OK)
        e = cl_finish(t->m.cl, msg);
    return e;
}

enum err train_epoch_weights(struct train_epoch *t, float *w1, float *b1, float *w2, float *b2,
                             struct buf *msg)
{
    struct model *m = &t->m;
    size_t l1 = m->mlp ? m->hp : m->kp, l1_real = m->mlp ? m->h : m->k;
    enum err e = read_block(m, m->w1, m->d, l1_real, l1, w1, msg);
    if (e == ERR_OK)
        e = read_block(m, m->b1, 1, l1_real, l1, b1, msg);
    if (e == ERR_OK && m->mlp)
        e = read_block(m, m->w2, m->h, m->k, m->kp, w2, msg);
    if (e == ERR_OK && m->mlp)
        e = read_block(m, m->b2, 1, m->k, m->kp, b2, msg);
    return e;
}

void train_epoch_free(struct train_epoch *t)
{
    if (t == NULL)
        return;
    model_release(&t->m);
    free(t->xtr);
    free(t->xb);
    free(t->ytr);
    free(t->yb);
    free(t->ord);
    free(t);
}
