/*
 * train -- the "train" job kind (type IA): multinomial logistic regression
 * or a one-hidden-layer MLP (ReLU), trained with mini-batch SGD in OpenCL
 * kernels on an uploaded CSV.
 *
 * Data: every field a number; the label column (configurable) holds class
 * indexes 0..K-1 (K = the largest label + 1, at most TRAIN_MAX_CLASSES).
 * Rows are shuffled with the spec's seed (splitmix64), the last
 * test_fraction of them held out; features are standardised with the mean
 * and standard deviation of the training rows (a constant feature keeps
 * std 1). Loss: mean softmax cross-entropy. Initial weights: logistic zero;
 * MLP uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010),
 * biases zero. Each epoch visits the training rows in a new shuffled order.
 * Outputs in the work folder:
 *   metrics.json  per epoch: loss, train_loss, train_accuracy, test_loss,
 *                 test_accuracy (losses and accuracies over whole splits)
 *   model.json    shapes, label column, feature mean and std, and the layout
 *                 of weights.bin
 *   weights.bin   float32 little-endian: per layer W (fan_in x fan_out,
 *                 row-major) then b (fan_out)
 * The matrix products go through one SGEMM kernel that keeps an 8 x 16 or
 * 8 x 32 block of C per work-item in float16 registers (see train.c);
 * train_sgemm_* expose it for benchmarks.
 * Threading: one job per call.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_TRAIN_H
#define LOOM_WORKER_TRAIN_H

#include <stddef.h>

#include "err.h"

struct buf;
struct cl_ctx;
struct cl_mem;
struct job_ctx;

#define TRAIN_MAX_ROWS      1000000
#define TRAIN_MAX_COLUMNS   4096
#define TRAIN_MAX_CELLS     ((size_t)1 << 26)
#define TRAIN_MAX_CLASSES   256
#define TRAIN_MAX_CSV_BYTES ((size_t)512 << 20)

/*
 * Run the train job of j->spec. Returns ERR_OK; ERR_INVAL (the CSV does not
 * parse: msg names the row and column; a label that is not a class index;
 * fewer than 2 classes or too few rows to split); ERR_TOOBIG (over the
 * limits above); ERR_CL; ERR_NOMEM; input errors. Blocks.
 */
LOOM_MUST_CHECK enum err train_run(struct job_ctx *j);

/* The SGEMM kernel on its own, for benchmarks: C = A B, all row-major,
 * M a multiple of 8, N a multiple of 16. */
struct train_sgemm;
LOOM_MUST_CHECK enum err train_sgemm_new(struct cl_ctx *cl, struct train_sgemm **out,
                                         struct buf *msg);
void train_sgemm_free(struct train_sgemm *s);
/* Enqueue C (M x N) = A (M x K) B (K x N); does not wait. */
LOOM_MUST_CHECK enum err train_sgemm_run(struct train_sgemm *s, unsigned m, unsigned n, unsigned k,
                                         struct cl_mem *a, struct cl_mem *b, struct cl_mem *c,
                                         struct buf *msg);
/* As train_sgemm_run() with op(A) = A^T when <trans_a> (A stored K x M) or
 * op(B) = B^T when <trans_b> (B stored N x K), as the trainer's backward
 * pass uses them; not both. Products with K x N over SGEMM_PACK_MIN_KN
 * (train.c) and M >= 64 take the packed-B kernels. Returns ERR_OK, ERR_CL,
 * ERR_NOMEM (the panel buffer); does not wait. */
LOOM_MUST_CHECK enum err train_sgemm_run_op(struct train_sgemm *s, int trans_a, int trans_b,
                                            unsigned m, unsigned n, unsigned k, struct cl_mem *a,
                                            struct cl_mem *b, struct cl_mem *c, struct buf *msg);

#endif
