/*
 * image -- JPEG/PNG in, OpenCL filter pipeline, PNG out.
 *
 * Two float4 buffers ping-pong between steps; resize makes a new one of the
 * target size. Each kernel is one work-item per output pixel: image filters
 * are memory-bound, and on POCL the implicit work-group vectoriser turns
 * these loops over neighbouring x into SIMD code.
 *
 * SPDX-License-Identifier: MIT
 */
#include "image.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "buf.h"
#include "msg.h"
#include "cl.h"
#include "job.h"
#include "jobfiles.h"
#include "jobspec.h"

static const char image_cl[] =
    "__kernel void to_float(__global const uchar *rgb, __global float4 *img)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    img[i] = (float4)(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 0.0f);\n"
    "}\n"
    "__kernel void to_rgb(__global const float4 *img, __global uchar *rgb)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    float4 v = clamp(floor(img[i] + 0.5f), 0.0f, 255.0f);\n"
    "    rgb[3 * i] = (uchar)v.x;\n"
    "    rgb[3 * i + 1] = (uchar)v.y;\n"
    "    rgb[3 * i + 2] = (uchar)v.z;\n"
    "}\n"
    "__kernel void blur_h(__global const float4 *src, __global float4 *dst, int w,\n"
    "                     __constant float *wt, int r)\n"
    "{\n"
    "    int x = get_global_id(0), y = get_global_id(1);\n"
    "    __global const float4 *row = src + (size_t)y * w;\n"
    "    float4 s = 0.0f;\n"
    "    for (int k = -r; k <= r; k++)\n"
    "        s += wt[k + r] * row[clamp(x + k, 0, w - 1)];\n"
    "    dst[(size_t)y * w + x] = s;\n"
    "}\n"
    "__kernel void blur_v(__global const float4 *src, __global float4 *dst, int w, int h,\n"
    "                     __constant float *wt, int r)\n"
    "{\n"
    "    int x = get_global_id(0), y = get_global_id(1);\n"
    "    float4 s = 0.0f;\n"
    "    for (int k = -r; k <= r; k++)\n"
    "        s += wt[k + r] * src[(size_t)clamp(y + k, 0, h - 1) * w + x];\n"
    "    dst[(size_t)y * w + x] = s;\n"
    "}\n"
    "__kernel void sharpen(__global const float4 *src, __global float4 *dst, int w, int h,\n"
    "                      float a)\n"
    "{\n"
    "    int x = get_global_id(0), y = get_global_id(1);\n"
    "    float4 c = src[(size_t)y * w + x];\n"
    "    float4 n = src[(size_t)max(y - 1, 0) * w + x];\n"
    "    float4 s = src[(size_t)min(y + 1, h - 1) * w + x];\n"
    "    float4 e = src[(size_t)y * w + min(x + 1, w - 1)];\n"
    "    float4 o = src[(size_t)y * w + max(x - 1, 0)];\n"
    "    dst[(size_t)y * w + x] = clamp((1.0f + 4.0f * a) * c - a * (n + s + e + o), 0.0f,\n"
    "                                   255.0f);\n"
    "}\n"
    "__kernel void grayscale(__global const float4 *src, __global float4 *dst)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    float4 v = src[i];\n"
    "    float g = 0.299f * v.x + 0.587f * v.y + 0.114f * v.z;\n"
    "    dst[i] = (float4)(g, g, g, 0.0f);\n"
    "}\n"
    "__kernel void resize(__global const float4 *src, __global float4 *dst, int iw, int ih,\n"
    "                     int ow, int oh)\n"
    "{\n"
    "    int x = get_global_id(0), y = get_global_id(1);\n"
    "    float sx = clamp((x + 0.5f) * ((float)iw / ow) - 0.5f, 0.0f, (float)(iw - 1));\n"
    "    float sy = clamp((y + 0.5f) * ((float)ih / oh) - 0.5f, 0.0f, (float)(ih - 1));\n"
    "    int x0 = (int)sx, y0 = (int)sy;\n"
    "    int x1 = min(x0 + 1, iw - 1), y1 = min(y0 + 1, ih - 1);\n"
    "    float fx = sx - x0, fy = sy - y0;\n"
    "    float4 a = src[(size_t)y0 * iw + x0], b = src[(size_t)y0 * iw + x1];\n"
    "    float4 c = src[(size_t)y1 * iw + x0], d = src[(size_t)y1 * iw + x1];\n"
    "    float4 top = a + (b - a) * fx, bot = c + (d - c) * fx;\n"
    "    dst[(size_t)y * ow + x] = top + (bot - top) * fy;\n"
    "}\n"
    "__kernel void bright_contrast(__global const float4 *src, __global float4 *dst,\n"
    "                              float brightness, float contrast)\n"
    "{\n"
    "    size_t i = get_global_id(0);\n"
    "    dst[i] = clamp((src[i] - 128.0f) * contrast + 128.0f + brightness, 0.0f, 255.0f);\n"
    "}\n";

enum err image_decode(const unsigned char *data, size_t len, unsigned char **rgb, unsigned *w,
                      unsigned *h, struct buf *msg)
{
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
        tjhandle tj = tjInitDecompress();
        if (tj == NULL)
            return ERR_NOMEM;
        int iw = 0, ih = 0, sub = 0, cs = 0;
        enum err e = ERR_OK;
        unsigned char *out = NULL;
        if (len > (size_t)0xFFFFFFFFUL ||
            tjDecompressHeader3(tj, data, (unsigned long)len, &iw, &ih, &sub, &cs) != 0) {
            e = ERR_INVAL;
            msg_addf(msg, "cannot read JPEG header: %s", tjGetErrorStr2(tj));
        } else if (iw < 1 || ih < 1 || iw > JOBSPEC_MAX_IMAGE_SIDE || ih > JOBSPEC_MAX_IMAGE_SIDE ||
                   (size_t)iw * (size_t)ih > IMAGE_MAX_PIXELS) {
            e = ERR_TOOBIG;
            msg_addf(msg, "JPEG of %dx%d is over the limits", iw, ih);
        } else if ((out = malloc((size_t)iw * ih * 3)) == NULL) {
            e = ERR_NOMEM;
        } else if (tjDecompress2(tj, data, (unsigned long)len, out, iw, 0, ih, TJPF_RGB,
                                 TJFLAG_ACCURATEDCT) != 0) {
            e = ERR_INVAL;
            msg_addf(msg, "cannot decode JPEG: %s", tjGetErrorStr2(tj));
        }
        tjDestroy(tj);
        if (e != ERR_OK) {
            free(out);
            return e;
        }
        *rgb = out;
        *w = (unsigned)iw;
        *h = (unsigned)ih;
        return ERR_OK;
    }
    if (len >= 8 && png_sig_cmp(data, 0, 8) == 0) {
        png_image im;
        memset(&im, 0, sizeof(im));
        im.version = PNG_IMAGE_VERSION;
        if (!png_image_begin_read_from_memory(&im, data, len)) {
            msg_addf(msg, "cannot read PNG header: %s", im.message);
            return ERR_INVAL;
        }
        if (im.width > JOBSPEC_MAX_IMAGE_SIDE || im.height > JOBSPEC_MAX_IMAGE_SIDE ||
            (size_t)im.width * im.height > IMAGE_MAX_PIXELS) {
            msg_addf(msg, "PNG of %ux%u is over the limits", im.width, im.height);
            png_image_free(&im);
            return ERR_TOOBIG;
        }
        im.format = PNG_FORMAT_RGB;
        unsigned char *out = malloc(PNG_IMAGE_SIZE(im));
        if (out == NULL) {
            png_image_free(&im);
            return ERR_NOMEM;
        }
        if (!png_image_finish_read(&im, NULL, out, 0, NULL)) {
            msg_addf(msg, "cannot decode PNG: %s", im.message);
            free(out);
            png_image_free(&im);
            return ERR_INVAL;
        }
        *rgb = out;
        *w = im.width;
        *h = im.height;
        png_image_free(&im);
        return ERR_OK;
    }
    msg_addf(msg, "%s", "input is neither JPEG nor PNG");
    return ERR_INVAL;
}

enum err image_encode_png(const unsigned char *rgb, unsigned w, unsigned h, unsigned char **png,
                          size_t *png_len, struct buf *msg)
{
    png_image im;
    memset(&im, 0, sizeof(im));
    im.version = PNG_IMAGE_VERSION;
    im.width = w;
    im.height = h;
    im.format = PNG_FORMAT_RGB;
    png_alloc_size_t n = 0;
    if (!png_image_write_to_memory(&im, NULL, &n, 0, rgb, 0, NULL)) {
        msg_addf(msg, "cannot encode PNG: %s", im.message);
        return ERR_IO;
    }
    unsigned char *out = malloc(n);
    if (out == NULL)
        return ERR_NOMEM;
    if (!png_image_write_to_memory(&im, out, &n, 0, rgb, 0, NULL)) {
        msg_addf(msg, "cannot encode PNG: %s", im.message);
        free(out);
        return ERR_IO;
    }
    *png = out;
    *png_len = n;
    return ERR_OK;
}

/* The compiled pipeline: one program, a kernel per filter. */
struct kernels {
    struct cl_prog *prog;
    struct cl_kern *to_float, *to_rgb, *blur_h, *blur_v, *sharpen, *gray, *resize, *bc;
};

static void kernels_release(struct kernels *k)
{
    cl_kernel_free(k->to_float);
    cl_kernel_free(k->to_rgb);
    cl_kernel_free(k->blur_h);
    cl_kernel_free(k->blur_v);
    cl_kernel_free(k->sharpen);
    cl_kernel_free(k->gray);
    cl_kernel_free(k->resize);
    cl_kernel_free(k->bc);
    cl_prog_free(k->prog);
}

static enum err kernels_init(struct cl_ctx *cl, struct kernels *k, struct buf *msg)
{
    enum err e = cl_build(cl, image_cl, sizeof(image_cl) - 1, NULL, &k->prog, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(k->prog, "to_float", &k->to_float, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(k->prog, "to_rgb", &k->to_rgb, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(k->prog, "blur_h", &k->blur_h, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(k->prog, "blur_v", &k->blur_v, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(k->prog, "sharpen", &k->sharpen, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(k->prog, "grayscale", &k->gray, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(k->prog, "resize", &k->resize, msg);
    if (e == ERR_OK)
        e = cl_kernel_new(k->prog, "bright_contrast", &k->bc, msg);
    return e;
}

static enum err set_args(struct cl_kern *k, struct cl_mem *src, struct cl_mem *dst, struct buf *msg)
{
    enum err e = cl_kernel_set_buffer(k, 0, src, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(k, 1, dst, msg);
    return e;
}

static enum err set_int(struct cl_kern *k, unsigned i, int v, struct buf *msg)
{
    return cl_kernel_set_scalar(k, i, sizeof(v), &v, msg);
}

static enum err set_float(struct cl_kern *k, unsigned i, float v, struct buf *msg)
{
    return cl_kernel_set_scalar(k, i, sizeof(v), &v, msg);
}

/* Blur <*a> into <*a> through <tmp>, weights from the header's formula. */
static enum err run_blur(struct cl_ctx *cl, struct kernels *k, struct cl_mem *a, struct cl_mem *tmp,
                         unsigned w, unsigned h, double sigma, struct buf *msg)
{
    int r = (int)ceil(3.0 * sigma);
    float *wt = malloc(sizeof(float) * (size_t)(2 * r + 1));
    struct cl_mem *wmem = NULL;
    if (wt == NULL)
        return ERR_NOMEM;
    double sum = 0;
    for (int i = -r; i <= r; i++)
        sum += exp(-(double)i * i / (2.0 * sigma * sigma));
    for (int i = -r; i <= r; i++)
        wt[i + r] = (float)(exp(-(double)i * i / (2.0 * sigma * sigma)) / sum);
    size_t g[2] = {w, h};
    enum err e = cl_buffer_new(cl, sizeof(float) * (size_t)(2 * r + 1), wt, &wmem, msg);
    if (e == ERR_OK)
        e = set_args(k->blur_h, a, tmp, msg);
    if (e == ERR_OK)
        e = set_int(k->blur_h, 2, (int)w, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(k->blur_h, 3, wmem, msg);
    if (e == ERR_OK)
        e = set_int(k->blur_h, 4, r, msg);
    if (e == ERR_OK)
        e = cl_run(cl, k->blur_h, 2, g, NULL, msg);
    if (e == ERR_OK)
        e = set_args(k->blur_v, tmp, a, msg);
    if (e == ERR_OK)
        e = set_int(k->blur_v, 2, (int)w, msg);
    if (e == ERR_OK)
        e = set_int(k->blur_v, 3, (int)h, msg);
    if (e == ERR_OK)
        e = cl_kernel_set_buffer(k->blur_v, 4, wmem, msg);
    if (e == ERR_OK)
        e = set_int(k->blur_v, 5, r, msg);
    if (e == ERR_OK)
        e = cl_run(cl, k->blur_v, 2, g, NULL, msg);
    if (e == ERR_OK)
        e = cl_finish(cl, msg);
    cl_buffer_free(wmem);
    free(wt);
    return e;
}

/* Resize <*a> (w x h) into a new image of the step's size, which becomes
 * <*b>; <*a> is replaced by a scratch buffer of the new size. */
static enum err step_resize(struct job_ctx *j, struct kernels *k, struct cl_mem **a,
                            struct cl_mem **b, unsigned *w, unsigned *h,
                            const struct jobspec_step *st)
{
    size_t on = (size_t)st->width * st->height;
    if (on > IMAGE_MAX_PIXELS) {
        msg_addf(j->msg, "resize to %ux%u is over the pixel limit", st->width, st->height);
        return ERR_TOOBIG;
    }
    enum err e = job_check_memory(j, (unsigned long long)on * 32, "the resized image");
    if (e != ERR_OK)
        return e;
    cl_buffer_free(*b);
    *b = NULL;
    size_t og[2] = {st->width, st->height};
    e = cl_buffer_new(j->cl, on * 16, NULL, b, j->msg);
    if (e == ERR_OK)
        e = set_args(k->resize, *a, *b, j->msg);
    if (e == ERR_OK)
        e = set_int(k->resize, 2, (int)*w, j->msg);
    if (e == ERR_OK)
        e = set_int(k->resize, 3, (int)*h, j->msg);
    if (e == ERR_OK)
        e = set_int(k->resize, 4, (int)st->width, j->msg);
    if (e == ERR_OK)
        e = set_int(k->resize, 5, (int)st->height, j->msg);
    if (e == ERR_OK)
        e = cl_run(j->cl, k->resize, 2, og, NULL, j->msg);
    if (e == ERR_OK)
        e = cl_finish(j->cl, j->msg);
    if (e != ERR_OK)
        return e;
    /* The old image buffer becomes the scratch buffer, resized. */
    cl_buffer_free(*a);
    *a = NULL;
    *w = st->width;
    *h = st->height;
    return cl_buffer_new(j->cl, on * 16, NULL, a, j->msg);
}

enum err image_run(struct job_ctx *j)
{
    const struct jobspec_image *spec = &j->spec->u.image;
    struct kernels k;
    memset(&k, 0, sizeof(k));
    unsigned char *file = NULL, *rgb = NULL, *png = NULL;
    struct cl_mem *a = NULL, *b = NULL, *bytes = NULL;
    size_t len = 0, png_len = 0;
    unsigned w = 0, h = 0;
    enum err e = jobfiles_read_input(j->files_dir, jobspec_find_input(j->spec, spec->input),
                                     IMAGE_MAX_FILE_BYTES, &file, &len, j->msg);
    if (e == ERR_OK)
        e = image_decode(file, len, &rgb, &w, &h, j->msg);
    if (e == ERR_OK)
        e = kernels_init(j->cl, &k, j->msg);
    if (e != ERR_OK)
        goto done;
    job_progress(j, 5);
    size_t n = (size_t)w * h;
    e = job_check_memory(j, (unsigned long long)n * 40, "the decoded image");
    if (e != ERR_OK)
        goto done;
    e = cl_buffer_new(j->cl, n * 3, rgb, &bytes, j->msg);
    if (e == ERR_OK)
        e = cl_buffer_new(j->cl, n * 16, NULL, &a, j->msg);
    if (e == ERR_OK)
        e = cl_buffer_new(j->cl, n * 16, NULL, &b, j->msg);
    if (e == ERR_OK)
        e = set_args(k.to_float, bytes, a, j->msg);
    if (e == ERR_OK)
        e = cl_run(j->cl, k.to_float, 1, &n, NULL, j->msg);
    if (e != ERR_OK)
        goto done;
    cl_buffer_free(bytes);
    bytes = NULL;
    for (size_t i = 0; i < spec->n_steps; i++) {
        const struct jobspec_step *st = &spec->steps[i];
        size_t g[2] = {w, h};
        switch (st->type) {
        case JOBSPEC_STEP_GAUSSIAN_BLUR:
            e = run_blur(j->cl, &k, a, b, w, h, st->p1, j->msg);
            break;
        case JOBSPEC_STEP_SHARPEN:
            e = set_args(k.sharpen, a, b, j->msg);
            if (e == ERR_OK)
                e = set_int(k.sharpen, 2, (int)w, j->msg);
            if (e == ERR_OK)
                e = set_int(k.sharpen, 3, (int)h, j->msg);
            if (e == ERR_OK)
                e = set_float(k.sharpen, 4, (float)st->p1, j->msg);
            if (e == ERR_OK)
                e = cl_run(j->cl, k.sharpen, 2, g, NULL, j->msg);
            break;
        case JOBSPEC_STEP_GRAYSCALE:
            e = set_args(k.gray, a, b, j->msg);
            if (e == ERR_OK)
                e = cl_run(j->cl, k.gray, 1, &n, NULL, j->msg);
            break;
        case JOBSPEC_STEP_BRIGHTNESS_CONTRAST:
            e = set_args(k.bc, a, b, j->msg);
            if (e == ERR_OK)
                e = set_float(k.bc, 2, (float)st->p1, j->msg);
            if (e == ERR_OK)
                e = set_float(k.bc, 3, (float)st->p2, j->msg);
            if (e == ERR_OK)
                e = cl_run(j->cl, k.bc, 1, &n, NULL, j->msg);
            break;
        case JOBSPEC_STEP_RESIZE:
            e = step_resize(j, &k, &a, &b, &w, &h, st);
            n = (size_t)w * h;
            break;
        }
        if (e != ERR_OK)
            goto done;
        if (st->type != JOBSPEC_STEP_GAUSSIAN_BLUR) {
            struct cl_mem *t = a; /* the result is in b: swap */
            a = b;
            b = t;
        }
        e = cl_finish(j->cl, j->msg);
        if (e != ERR_OK)
            goto done;
        job_progress(j, 5 + (unsigned)((i + 1) * 85 / spec->n_steps));
    }
    free(rgb);
    rgb = malloc(n * 3);
    if (rgb == NULL) {
        e = ERR_NOMEM;
        goto done;
    }
    e = cl_buffer_new(j->cl, n * 3, NULL, &bytes, j->msg);
    if (e == ERR_OK)
        e = set_args(k.to_rgb, a, bytes, j->msg);
    if (e == ERR_OK)
        e = cl_run(j->cl, k.to_rgb, 1, &n, NULL, j->msg);
    if (e == ERR_OK)
        e = cl_buffer_read(j->cl, bytes, 0, rgb, n * 3, j->msg);
    if (e == ERR_OK)
        e = image_encode_png(rgb, w, h, &png, &png_len, j->msg);
    if (e != ERR_OK)
        goto done;
    e = jobfiles_write(j->out_dir, spec->output, png, png_len, j->msg);
done:
    cl_buffer_free(a);
    cl_buffer_free(b);
    cl_buffer_free(bytes);
    kernels_release(&k);
    free(png);
    free(rgb);
    free(file);
    return e;
}

struct image_blur {
    struct cl_ctx *cl;
    struct kernels k;
    struct cl_mem *a, *tmp;
    unsigned w, h;
};

enum err image_blur_new(struct cl_ctx *cl, const unsigned char *rgb, unsigned w, unsigned h,
                        struct image_blur **out, struct buf *msg)
{
    struct image_blur *b = calloc(1, sizeof(*b));
    struct cl_mem *bytes = NULL;
    if (b == NULL)
        return ERR_NOMEM;
    b->cl = cl;
    b->w = w;
    b->h = h;
    size_t n = (size_t)w * h;
    enum err e = kernels_init(cl, &b->k, msg);
    if (e == ERR_OK)
        e = cl_buffer_new(cl, n * 3, rgb, &bytes, msg);
    if (e == ERR_OK)
        e = cl_buffer_new(cl, n * 16, NULL, &b->a, msg);
    if (e == ERR_OK)
        e = cl_buffer_new(cl, n * 16, NULL, &b->tmp, msg);
    if (e == ERR_OK)
        e = set_args(b->k.to_float, bytes, b->a, msg);
    if (e == ERR_OK)
        e = cl_run(cl, b->k.to_float, 1, &n, NULL, msg);
    if (e == ERR_OK)
        e = cl_finish(cl, msg);
    cl_buffer_free(bytes);
    if (e != ERR_OK) {
        image_blur_free(b);
        return e;
    }
    *out = b;
    return ERR_OK;
}

enum err image_blur_run(struct image_blur *b, double sigma, struct buf *msg)
{
    return run_blur(b->cl, &b->k, b->a, b->tmp, b->w, b->h, sigma, msg);
}

void image_blur_free(struct image_blur *b)
{
    if (b == NULL)
        return;
    cl_buffer_free(b->a);
    cl_buffer_free(b->tmp);
    kernels_release(&b->k);
    free(b);
}
