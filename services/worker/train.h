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
 * An epoch runs as one fused kernel launch on CPU devices for small models,
 * else one launch per product and step (enum train_path below).
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
 * Same as train_run_path(j, TRAIN_PATH_AUTO, NULL).
 */
LOOM_MUST_CHECK enum err train_run(struct job_ctx *j);

/* How an epoch runs on the device. FUSED: one kernel launch per epoch, one
 * work-item looping over the batches (forward, softmax gradient, backward
 * and SGD update in one pass); only on a CPU device and for models whose
 * padded weights (W1 and W2) are at most 131072 floats and whose batch is at
 * most 1024 rows (train.c, FUSED_MAX_*). PER_PRODUCT: one launch
 * per matrix product or elementwise step, every work-item count the product
 * allows. AUTO: FUSED where it fits, else PER_PRODUCT. The two give the same
 * weights up to float rounding (tests/unit/test_worker.c states the bound). */
enum train_path { TRAIN_PATH_AUTO, TRAIN_PATH_FUSED, TRAIN_PATH_PER_PRODUCT };

/*
 * As train_run(), with the path chosen by <path>; <used> (may be NULL)
 * receives the path taken (FUSED or PER_PRODUCT) once the model is set up.
 * Returns train_run()'s errors, and ERR_INVAL when <path> is
 * TRAIN_PATH_FUSED and the model or device is outside the fused limits.
 */
LOOM_MUST_CHECK enum err train_run_path(struct job_ctx *j, enum train_path path,
                                        enum train_path *used);

/*
 * One epoch of the trainer on its own, for benchmarks and tests: the code
 * train_run() runs per epoch, on data already standardised.
 *   path:   as train_run_path().
 *   rows, d, hidden, classes: training rows, features, hidden units (0 for
 *           logistic regression), classes (>= 2).
 *   batch:  rows per SGD step (>= 1).
 *   x:      rows x d floats, row-major; y: rows labels in 0..classes-1;
 *   w1:     d x (hidden, or classes for logistic) initial weights; w2:
 *           hidden x classes (NULL for logistic). All borrowed, copied;
 *           biases start at zero.
 * Returns ERR_OK; ERR_INVAL (FUSED asked for and over its limits); ERR_CL;
 * ERR_NOMEM; ERR_TOOBIG.
 */
struct train_epoch;
LOOM_MUST_CHECK enum err train_epoch_new(struct cl_ctx *cl, enum train_path path, size_t rows,
                                         size_t d, size_t hidden, size_t classes, unsigned batch,
                                         const float *x, const int *y, const float *w1,
                                         const float *w2, struct train_epoch **out,
                                         struct buf *msg);
/* FUSED or PER_PRODUCT. */
enum train_path train_epoch_path(const struct train_epoch *t);
/* Run one epoch over the rows in <order> (a permutation of 0..rows-1) with
 * learning rate <lr>; blocks until the device is done. ERR_OK or ERR_CL. */
LOOM_MUST_CHECK enum err train_epoch_run(struct train_epoch *t, const size_t *order, float lr,
                                         struct buf *msg);
/* Copy the current weights out, unpadded, in train_epoch_new()'s layouts
 * (b1: hidden or classes floats, b2: classes; w2 and b2 unused for
 * logistic). ERR_OK, ERR_CL, ERR_NOMEM. */
LOOM_MUST_CHECK enum err train_epoch_weights(struct train_epoch *t, float *w1, float *b1, float *w2,
                                             float *b2, struct buf *msg);
void train_epoch_free(struct train_epoch *t);

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
