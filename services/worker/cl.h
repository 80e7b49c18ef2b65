/*
 * cl -- the worker's only door to OpenCL (ocl-icd loader, any ICD: POCL on
 * the CPU, NVIDIA or AMD GPUs).
 *
 * Opens one device (chosen by platform and device selectors), builds
 * programs, makes buffers and kernels, runs NDRanges. Every OpenCL error is
 * mapped here, once, to ERR_CL with the CL error name ("CL_OUT_OF_RESOURCES")
 * in the caller's message buffer; a program that does not build returns
 * ERR_CL with the build log.
 * Not here: what a job does (jobcl, train, image), sandboxing (runner).
 * Threading: a cl_ctx and everything made from it belong to one thread.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_CL_H
#define LOOM_WORKER_CL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct buf;
struct cl_ctx;
struct cl_prog;
struct cl_kern;
struct cl_mem;

/* Longest build log kept in a message (the rest is cut). */
#define CL_MAX_BUILD_LOG ((size_t)16 << 10)

/*
 * Open a device and its context and in-order command queue.
 *   platform_sel: "" or NULL for the first platform; a decimal index; or a
 *                 case-insensitive substring of the platform name. Borrowed.
 *   device_sel:   the same for devices of that platform (all device types).
 *   out:          receives the context, owned by the caller (cl_close).
 *   msg:          on failure, receives why (appended).
 * Returns ERR_OK; ERR_NOTFOUND (no platform or device matches: msg lists
 * what exists); ERR_CL (an OpenCL call failed); ERR_NOMEM. Blocks while the
 * driver starts (POCL: tens of ms).
 */
LOOM_MUST_CHECK enum err cl_open(const char *platform_sel, const char *device_sel,
                                 struct cl_ctx **out, struct buf *msg);

/* Release the queue, context and device. Accepts NULL. Blocks until the
 * queue drains. */
void cl_close(struct cl_ctx *c);

/* The device's name and its platform's name, borrowed from <c>. */
const char *cl_device_name(const struct cl_ctx *c);
const char *cl_platform_name(const struct cl_ctx *c);

/* The device's largest single allocation and its global memory, in bytes. */
uint64_t cl_max_alloc_bytes(const struct cl_ctx *c);
uint64_t cl_global_mem_bytes(const struct cl_ctx *c);

/* Non-zero when the device is a CPU (CL_DEVICE_TYPE_CPU: POCL's "cpu"
 * device), where a work-group runs on one core and a kernel launch costs
 * microseconds of host work. */
int cl_device_is_cpu(const struct cl_ctx *c);

/*
 * Append one line per platform and device ("0.1 pocl: cpu-name") to <out>.
 * Returns ERR_OK, ERR_CL, ERR_NOMEM, ERR_TOOBIG.
 */
LOOM_MUST_CHECK enum err cl_list_devices(struct buf *out);

/*
 * Build <src> (<len> bytes, borrowed) with <options> (borrowed, may be NULL)
 * for the device of <c>.
 *   out: receives the program (cl_prog_free).
 *   msg: on failure "cannot build program: CL_BUILD_PROGRAM_FAILURE" and the
 *        build log (at most CL_MAX_BUILD_LOG bytes of it).
 * Returns ERR_OK, ERR_CL, ERR_NOMEM. Blocks while the compiler runs.
 */
LOOM_MUST_CHECK enum err cl_build(struct cl_ctx *c, const char *src, size_t len,
                                  const char *options, struct cl_prog **out, struct buf *msg);
void cl_prog_free(struct cl_prog *p);

/*
 * Make a kernel for function <name> of <p>. Returns ERR_OK, ERR_NOTFOUND (no
 * such kernel: CL_INVALID_KERNEL_NAME), ERR_CL, ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err cl_kernel_new(struct cl_prog *p, const char *name, struct cl_kern **out,
                                       struct buf *msg);
void cl_kernel_free(struct cl_kern *k);

/* Number of arguments the kernel takes (CL_KERNEL_NUM_ARGS). */
LOOM_MUST_CHECK enum err cl_kernel_num_args(struct cl_kern *k, unsigned *out, struct buf *msg);

/*
 * Make a device buffer of <size_bytes> (>= 1), read-write. If <init> is not
 * NULL its first <size_bytes> are copied in (borrowed); else the buffer is
 * zero-filled. Returns ERR_OK, ERR_NOMEM (CL_MEM_OBJECT_ALLOCATION_FAILURE or
 * CL_OUT_OF_HOST_MEMORY), ERR_TOOBIG (over the device's max allocation),
 * ERR_CL. Blocks until the data is on the device.
 */
LOOM_MUST_CHECK enum err cl_buffer_new(struct cl_ctx *c, size_t size_bytes, const void *init,
                                       struct cl_mem **out, struct buf *msg);
void cl_buffer_free(struct cl_mem *m);
size_t cl_buffer_size(const struct cl_mem *m);

/* Copy <size_bytes> between host memory and <m> at <offset_bytes>; blocking. */
LOOM_MUST_CHECK enum err cl_buffer_write(struct cl_ctx *c, struct cl_mem *m, size_t offset_bytes,
                                         const void *src, size_t size_bytes, struct buf *msg);
LOOM_MUST_CHECK enum err cl_buffer_read(struct cl_ctx *c, struct cl_mem *m, size_t offset_bytes,
                                        void *dst, size_t size_bytes, struct buf *msg);

/* Set argument <index> of <k>: a scalar of <size> bytes at <value> (copied),
 * a buffer, or <size> bytes of __local memory. Errors name the argument. */
LOOM_MUST_CHECK enum err cl_kernel_set_scalar(struct cl_kern *k, unsigned index, size_t size,
                                              const void *value, struct buf *msg);
LOOM_MUST_CHECK enum err cl_kernel_set_buffer(struct cl_kern *k, unsigned index, struct cl_mem *m,
                                              struct buf *msg);
LOOM_MUST_CHECK enum err cl_kernel_set_local(struct cl_kern *k, unsigned index, size_t size,
                                             struct buf *msg);

/*
 * Enqueue <k> over an NDRange of <dims> (1..3) dimensions.
 *   global: work-items per dimension. local: work-group sizes, or NULL for
 *           the driver's choice.
 * Does not wait: call cl_finish(). Returns ERR_OK, ERR_CL (for example
 * CL_INVALID_WORK_GROUP_SIZE, CL_INVALID_KERNEL_ARGS).
 */
LOOM_MUST_CHECK enum err cl_run(struct cl_ctx *c, struct cl_kern *k, unsigned dims,
                                const size_t *global, const size_t *local, struct buf *msg);

/* Wait until every command queued on <c> has finished. */
LOOM_MUST_CHECK enum err cl_finish(struct cl_ctx *c, struct buf *msg);

/* The name of an OpenCL status code ("CL_INVALID_VALUE"); static storage. */
const char *cl_status_name(int status);

#endif
