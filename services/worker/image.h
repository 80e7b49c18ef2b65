/*
 * image -- the "image" job kind (type GRAFICA): decode a JPEG or PNG, run
 * the spec's filter pipeline as OpenCL kernels, encode a PNG.
 *
 * Pixels travel as float4 (R, G, B, unused) in 0..255 between steps and
 * are rounded to the nearest integer and clamped only once, when encoded,
 * so a pipeline loses no precision between steps. The filters (what a CPU
 * reference must compute to match within 1 per channel):
 *   gaussian_blur{sigma}: separable, radius ceil(3 sigma), weights
 *       exp(-k^2 / (2 sigma^2)) normalised to sum 1, edges clamped.
 *   sharpen{amount}: 3x3 Laplacian sharpening,
 *       out = (1 + 4a) c - a (north + south + east + west), edges clamped,
 *       then clamped to 0..255.
 *   grayscale: Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), in all three.
 *   resize{width,height}: bilinear with pixel centres aligned
 *       (src = (dst + 0.5) * in / out - 0.5, clamped to the image).
 *   brightness_contrast{brightness,contrast}:
 *       out = (v - 128) * contrast + 128 + brightness, clamped to 0..255.
 * Alpha in a PNG input is dropped (the output is RGB).
 * Not here: the spec decoding (proto/jobspec). Threading: one job per call.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_IMAGE_H
#define LOOM_WORKER_IMAGE_H

#include <stddef.h>

#include "err.h"

struct buf;
struct job_ctx;

/* Decoded images are at most this many pixels (and JOBSPEC_MAX_IMAGE_SIDE a side). */
#define IMAGE_MAX_PIXELS ((size_t)1 << 25)
/* Largest encoded input accepted. */
#define IMAGE_MAX_FILE_BYTES ((size_t)64 << 20)

/*
 * Decode the JPEG (libturbojpeg, accurate DCT) or PNG (libpng) in <data>
 * into 8-bit RGB, rows top to bottom.
 *   rgb: receives a heap block of w*h*3 bytes (caller frees).
 * Returns ERR_OK; ERR_INVAL (neither format, or corrupt: msg says which);
 * ERR_TOOBIG (over the side or pixel limits); ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err image_decode(const unsigned char *data, size_t len, unsigned char **rgb,
                                      unsigned *w, unsigned *h, struct buf *msg);

/*
 * Encode <w> x <h> RGB pixels (borrowed) as PNG into <png> (a heap block the
 * caller frees). Returns ERR_OK, ERR_NOMEM, ERR_IO (libpng failed).
 */
LOOM_MUST_CHECK enum err image_encode_png(const unsigned char *rgb, unsigned w, unsigned h,
                                          unsigned char **png, size_t *png_len, struct buf *msg);

/*
 * Run the image job of j->spec: writes the PNG named by the spec into
 * j->out_dir. Returns ERR_OK, the errors above, ERR_CL, ERR_AUTH (input
 * digest), ERR_IO. Blocks.
 */
LOOM_MUST_CHECK enum err image_run(struct job_ctx *j);

/* The Gaussian blur step on its own, for benchmarks: an RGB image uploaded
 * once, blurred in place on the device by each run. */
struct image_blur;
struct cl_ctx;

/* Upload <w> x <h> RGB pixels (borrowed) and build the kernels. Returns
 * ERR_OK, ERR_CL, ERR_NOMEM. */
LOOM_MUST_CHECK enum err image_blur_new(struct cl_ctx *cl, const unsigned char *rgb, unsigned w,
                                        unsigned h, struct image_blur **out, struct buf *msg);

/* Blur with <sigma> (both passes) and wait for the device. */
LOOM_MUST_CHECK enum err image_blur_run(struct image_blur *b, double sigma, struct buf *msg);
void image_blur_free(struct image_blur *b);

#endif
