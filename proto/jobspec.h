/*
 * jobspec -- the job spec (job.json) a client uploads with a job, and the
 * result manifest a worker produces: strict decoder and encoder.
 *
 * A spec names what a worker runs (docs/workers.md has the format with
 * examples). Three kinds: "opencl" (a generic kernel), "train" (type IA:
 * logistic regression or a one-hidden-layer MLP on a CSV) and "image" (type
 * GRAFICA: a filter pipeline on a JPEG/PNG). Every input file is listed once
 * in "inputs" with its sha256, so a worker can fetch and check all of them
 * before it runs anything; the kind-specific part refers to inputs by name.
 * The decoder is strict: unknown keys, wrong types, missing fields and
 * values outside the limits below are errors with a message that names the
 * JSON path. Not here: running a job (services/worker), fetching files.
 * Threading: pure functions; a decoded spec is immutable and may be shared.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_JOBSPEC_H
#define LOOM_JOBSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct buf;

/* The only spec version this build speaks. */
#define JOBSPEC_VERSION 1

/* Limits on every size (the decoder rejects anything past them). */
#define JOBSPEC_MAX_JSON_BYTES  ((size_t)1 << 20) /* job.json itself: 1 MiB */
#define JOBSPEC_MAX_NAME        64                /* file names: [A-Za-z0-9._-], no leading '.' */
#define JOBSPEC_MAX_INPUTS      16
#define JOBSPEC_MAX_SOURCE      ((size_t)256 << 10) /* inline or file kernel source: 256 KiB */
#define JOBSPEC_MAX_KERNEL_NAME 64
#define JOBSPEC_MAX_ARGS        32
#define JOBSPEC_MAX_GLOBAL      ((uint64_t)1 << 30) /* product of the global sizes */
#define JOBSPEC_MAX_LOCAL       1024                /* product of the local sizes */
#define JOBSPEC_MAX_BUFFER      ((uint64_t)1 << 30) /* one buffer: 1 GiB */
#define JOBSPEC_MAX_OUT_TOTAL   ((uint64_t)1 << 30) /* all output buffers together */
#define JOBSPEC_MAX_LOCAL_MEM   ((uint64_t)1 << 20) /* one __local argument: 1 MiB */
#define JOBSPEC_MAX_PASSES      100000
#define JOBSPEC_MAX_EPOCHS      1000
#define JOBSPEC_MAX_HIDDEN      4096
#define JOBSPEC_MAX_BATCH       4096
#define JOBSPEC_MAX_STEPS       32
#define JOBSPEC_MAX_IMAGE_SIDE  16384 /* resize target; the worker checks decoded images too */
#define JOBSPEC_MAX_SIGMA       64.0

/* Room for a decoder error message. */
#define JOBSPEC_ERR_MAX 256

enum jobspec_kind { JOBSPEC_OPENCL, JOBSPEC_TRAIN, JOBSPEC_IMAGE };

struct jobspec_input {
    char *name; /* owned; a safe file name */
    unsigned char sha256[32];
};

enum jobspec_arg_type {
    JOBSPEC_ARG_INT,    /* cl_int, value.i */
    JOBSPEC_ARG_UINT,   /* cl_uint, value.u */
    JOBSPEC_ARG_LONG,   /* cl_long, value.l */
    JOBSPEC_ARG_ULONG,  /* cl_ulong, value.ul */
    JOBSPEC_ARG_FLOAT,  /* cl_float, value.f */
    JOBSPEC_ARG_DOUBLE, /* cl_double, value.d */
    JOBSPEC_ARG_IN,     /* __global buffer filled from input <file>; <output> names a read-back */
    JOBSPEC_ARG_OUT,    /* __global buffer of <size_bytes> zero bytes; <output> names a read-back */
    JOBSPEC_ARG_LOCAL,  /* __local memory of <size_bytes> */
};

struct jobspec_arg {
    enum jobspec_arg_type type;
    union {
        int32_t i;
        uint32_t u;
        int64_t l;
        uint64_t ul;
        float f;
        double d;
    } value;
    char *file;          /* owned; ARG_IN: the input's name (listed in inputs) */
    uint64_t size_bytes; /* ARG_OUT, ARG_LOCAL: bytes; ARG_IN: 0 */
    char *output;        /* owned or NULL: result file name the buffer is read back into */
};

struct jobspec_opencl {
    char *source;       /* owned; inline source, or NULL when source_file is set */
    char *source_file;  /* owned; an input name, or NULL */
    char *kernel;       /* owned; the kernel function name */
    unsigned dims;      /* 1..3 */
    uint64_t global[3]; /* work-items per dimension, >= 1 */
    uint64_t local[3];  /* work-group size per dimension; all 0 = the driver's choice */
    unsigned passes;    /* times the kernel is enqueued, buffers kept between passes */
    size_t n_args;
    struct jobspec_arg *args; /* owned, n_args entries */
};

enum jobspec_model { JOBSPEC_MODEL_LOGISTIC, JOBSPEC_MODEL_MLP };

struct jobspec_train {
    enum jobspec_model model;
    unsigned hidden; /* MLP hidden units (0 for logistic) */
    unsigned epochs;
    unsigned batch_size;
    double learning_rate; /* (0, 10] */
    uint64_t seed;        /* shuffling, split and initial weights */
    double test_fraction; /* [0.05, 0.9]: share of rows held out */
    char *data;           /* owned; the CSV input's name */
    int header;           /* non-zero: the first row is a header and skipped */
    int label_column;     /* 0-based; negative counts from the end (-1 = last) */
};

enum jobspec_step_type {
    JOBSPEC_STEP_GAUSSIAN_BLUR,      /* p1 = sigma (pixels) */
    JOBSPEC_STEP_SHARPEN,            /* p1 = amount */
    JOBSPEC_STEP_GRAYSCALE,          /* no parameters */
    JOBSPEC_STEP_RESIZE,             /* width, height (bilinear) */
    JOBSPEC_STEP_BRIGHTNESS_CONTRAST /* p1 = brightness (-255..255), p2 = contrast (0..10) */
};

struct jobspec_step {
    enum jobspec_step_type type;
    double p1, p2;
    unsigned width, height;
};

struct jobspec_image {
    char *input;  /* owned; the JPEG or PNG input's name */
    char *output; /* owned; the PNG result's file name (default "output.png") */
    size_t n_steps;
    struct jobspec_step steps[JOBSPEC_MAX_STEPS];
};

struct jobspec {
    enum jobspec_kind kind;
    size_t n_inputs;
    struct jobspec_input *inputs; /* owned, n_inputs entries */
    union {
        struct jobspec_opencl opencl;
        struct jobspec_train train;
        struct jobspec_image image;
    } u;
};

/*
 * Decode and validate the job spec in <json> (<len> bytes, borrowed; need
 * not be NUL-terminated).
 *   out:    receives a new spec on success, owned by the caller
 *           (jobspec_free); untouched on failure.
 *   errbuf: receives a one-line message naming the JSON path on failure.
 * Returns ERR_OK; ERR_TOOBIG (over JOBSPEC_MAX_JSON_BYTES); ERR_VERSION ("v"
 * is not JOBSPEC_VERSION); ERR_INVAL (not JSON, unknown or missing key, wrong
 * type, value out of its limits, a name not listed in inputs, a duplicate
 * name); ERR_NOMEM. Does not log.
 */
LOOM_MUST_CHECK enum err jobspec_decode(const char *json, size_t len, struct jobspec **out,
                                        char errbuf[JOBSPEC_ERR_MAX]);

/* Free <s> and everything it owns. Accepts NULL. */
void jobspec_free(struct jobspec *s);

/* Return the input named <name> in <s>, or NULL. Borrowed from <s>. */
const struct jobspec_input *jobspec_find_input(const struct jobspec *s, const char *name);

/* Return "opencl", "train" or "image". Static storage. */
const char *jobspec_kind_name(enum jobspec_kind k);

/*
 * Return non-zero if <name> is a safe file name: 1..JOBSPEC_MAX_NAME bytes
 * of [A-Za-z0-9._-], not starting with '.', so it can never leave a folder.
 */
int jobspec_is_safe_name(const char *name);

/* One file of a job result. */
struct jobspec_result_file {
    const char *name; /* borrowed */
    uint64_t size_bytes;
    unsigned char sha256[32];
};

/*
 * Append the result manifest as compact JSON to <out>:
 * {"v":1,"status":"ok"|"failed","reason":..., "files":[{"name","size_bytes","sha256"}]}
 * (sha256 as 64 lower-case hex digits; reason omitted when NULL).
 *   ok: non-zero for "ok". reason: borrowed, may be NULL. files: borrowed.
 * Returns ERR_OK, ERR_NOMEM, ERR_TOOBIG (<out>'s cap). On error <out> may
 * hold a partial document: reset it.
 */
LOOM_MUST_CHECK enum err jobspec_result_encode(struct buf *out, int ok, const char *reason,
                                               const struct jobspec_result_file *files,
                                               size_t n_files);

#endif
