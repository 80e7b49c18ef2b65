/*
 * cl -- OpenCL host calls and their error mapping.
 *
 * Targets OpenCL 1.2 host APIs so that every ICD we meet (POCL 3, NVIDIA,
 * AMD) accepts the same calls. The wrapper types own one CL object each, so
 * callers never see cl_* types and a move to another API stays in this file.
 *
 * SPDX-License-Identifier: MIT
 */
#define CL_TARGET_OPENCL_VERSION 120
#include "cl.h"

#include <CL/cl.h>
#include <ctype.h>
#include <stdarg.h>
#include <strings.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "msg.h"

struct cl_ctx {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    char *device_name;
    char *platform_name;
    cl_ulong max_alloc;
    cl_ulong global_mem;
    cl_device_type type;
};

struct cl_prog {
    cl_program program;
};

struct cl_kern {
    cl_kernel kernel;
    char *name;
};

struct cl_mem {
    cl_mem mem;
    size_t size;
};

#define NAME(x)                                                                                    \
    {                                                                                              \
        x, #x                                                                                      \
    }
static const struct {
    cl_int code;
    const char *name;
} status_names[] = {
    {CL_SUCCESS, "CL_SUCCESS"},
    NAME(CL_DEVICE_NOT_FOUND),
    NAME(CL_DEVICE_NOT_AVAILABLE),
    NAME(CL_COMPILER_NOT_AVAILABLE),
    NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE),
    NAME(CL_OUT_OF_RESOURCES),
    NAME(CL_OUT_OF_HOST_MEMORY),
    NAME(CL_PROFILING_INFO_NOT_AVAILABLE),
    NAME(CL_MEM_COPY_OVERLAP),
    NAME(CL_IMAGE_FORMAT_MISMATCH),
    NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED),
    NAME(CL_BUILD_PROGRAM_FAILURE),
    NAME(CL_MAP_FAILURE),
    NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET),
    NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST),
    NAME(CL_COMPILE_PROGRAM_FAILURE),
    NAME(CL_LINKER_NOT_AVAILABLE),
    NAME(CL_LINK_PROGRAM_FAILURE),
    NAME(CL_DEVICE_PARTITION_FAILED),
    NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE),
    NAME(CL_INVALID_VALUE),
    NAME(CL_INVALID_DEVICE_TYPE),
    NAME(CL_INVALID_PLATFORM),
    NAME(CL_INVALID_DEVICE),
    NAME(CL_INVALID_CONTEXT),
    NAME(CL_INVALID_QUEUE_PROPERTIES),
    NAME(CL_INVALID_COMMAND_QUEUE),
    NAME(CL_INVALID_HOST_PTR),
    NAME(CL_INVALID_MEM_OBJECT),
    NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR),
    NAME(CL_INVALID_IMAGE_SIZE),
    NAME(CL_INVALID_SAMPLER),
    NAME(CL_INVALID_BINARY),
    NAME(CL_INVALID_BUILD_OPTIONS),
    NAME(CL_INVALID_PROGRAM),
    NAME(CL_INVALID_PROGRAM_EXECUTABLE),
    NAME(CL_INVALID_KERNEL_NAME),
    NAME(CL_INVALID_KERNEL_DEFINITION),
    NAME(CL_INVALID_KERNEL),
    NAME(CL_INVALID_ARG_INDEX),
    NAME(CL_INVALID_ARG_VALUE),
    NAME(CL_INVALID_ARG_SIZE),
    NAME(CL_INVALID_KERNEL_ARGS),
    NAME(CL_INVALID_WORK_DIMENSION),
    NAME(CL_INVALID_WORK_GROUP_SIZE),
    NAME(CL_INVALID_WORK_ITEM_SIZE),
    NAME(CL_INVALID_GLOBAL_OFFSET),
    NAME(CL_INVALID_EVENT_WAIT_LIST),
    NAME(CL_INVALID_EVENT),
    NAME(CL_INVALID_OPERATION),
    NAME(CL_INVALID_GL_OBJECT),
    NAME(CL_INVALID_BUFFER_SIZE),
    NAME(CL_INVALID_MIP_LEVEL),
    NAME(CL_INVALID_GLOBAL_WORK_SIZE),
    NAME(CL_INVALID_PROPERTY),
    NAME(CL_INVALID_IMAGE_DESCRIPTOR),
    NAME(CL_INVALID_COMPILER_OPTIONS),
    NAME(CL_INVALID_LINKER_OPTIONS),
    NAME(CL_INVALID_DEVICE_PARTITION_COUNT),
    {-69, "CL_INVALID_PIPE_SIZE"},
    {-70, "CL_INVALID_DEVICE_QUEUE"},
    {-71, "CL_INVALID_SPEC_ID"},
    {-72, "CL_MAX_SIZE_RESTRICTION_EXCEEDED"},
};
#undef NAME

const char *cl_status_name(int status)
{
    for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
        if (status_names[i].code == status)
            return status_names[i].name;
    return "CL_UNKNOWN_ERROR";
}

/* The one place a CL status becomes an enum err: allocation failures are
 * ERR_NOMEM so that a job that asks for too much reads as out of memory. */
__attribute__((format(printf, 3, 4))) static enum err cl_fail(struct buf *msg, cl_int st,
                                                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct buf tmp;
    buf_init(&tmp, 4096);
    enum err e = buf_vappendf(&tmp, fmt, ap);
    va_end(ap);
    if (e == ERR_OK)
        msg_addf(msg, "%s: %s", buf_cstr(&tmp), cl_status_name(st));
    buf_release(&tmp);
    if (st == CL_MEM_OBJECT_ALLOCATION_FAILURE || st == CL_OUT_OF_HOST_MEMORY)
        return ERR_NOMEM;
    if (st == CL_INVALID_KERNEL_NAME)
        return ERR_NOTFOUND;
    if (st == CL_INVALID_BUFFER_SIZE)
        return ERR_TOOBIG;
    return ERR_CL;
}

static char *platform_str(cl_platform_id p, cl_platform_info what)
{
    size_t n = 0;
    if (clGetPlatformInfo(p, what, 0, NULL, &n) != CL_SUCCESS || n == 0)
        return strdup("");
    char *s = calloc(1, n + 1);
    if (s != NULL && clGetPlatformInfo(p, what, n, s, NULL) != CL_SUCCESS)
        s[0] = '\0';
    return s;
}

static char *device_str(cl_device_id d, cl_device_info what)
{
    size_t n = 0;
    if (clGetDeviceInfo(d, what, 0, NULL, &n) != CL_SUCCESS || n == 0)
        return strdup("");
    char *s = calloc(1, n + 1);
    if (s != NULL && clGetDeviceInfo(d, what, n, s, NULL) != CL_SUCCESS)
        s[0] = '\0';
    return s;
}

static int icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return n == 0;
}

/* Match entry <i> named <name> against a selector: empty, an index, or a
 * name substring. */
static int selector_matches(const char *sel, unsigned i, const char *name)
{
    if (sel == NULL || sel[0] == '\0')
        return 1;
    int all_digits = 1;
    for (const char *p = sel; *p; p++)
        if (!isdigit((unsigned char)*p))
            all_digits = 0;
    if (all_digits) {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(sel, &end, 10);
        return errno == 0 && v == i;
    }
    return icontains(name, sel);
}

#define MAX_PLATFORMS 16
#define MAX_DEVICES   64

enum err cl_list_devices(struct buf *out)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int st = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (st != CL_SUCCESS)
        return cl_fail(out, st, "cannot list OpenCL platforms");
    enum err e = ERR_OK;
    for (cl_uint i = 0; i < np && i < MAX_PLATFORMS && e == ERR_OK; i++) {
        char *pname = platform_str(plats[i], CL_PLATFORM_NAME);
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        st = clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd);
        if (st != CL_SUCCESS)
            nd = 0;
        for (cl_uint j = 0; j < nd && j < MAX_DEVICES && e == ERR_OK; j++) {
            char *dname = device_str(devs[j], CL_DEVICE_NAME);
            e = buf_appendf(out, "%u.%u %s: %s\n", i, j, pname ? pname : "", dname ? dname : "");
            free(dname);
        }
        free(pname);
    }
    return e;
}

enum err cl_open(const char *platform_sel, const char *device_sel, struct cl_ctx **out,
                 struct buf *msg)
{
    enum err e = ERR_OK;
    struct cl_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ERR_NOMEM;
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int st = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (st != CL_SUCCESS) {
        e = cl_fail(msg, st, "cannot list OpenCL platforms (is an ICD installed?)");
        goto fail;
    }
    int found = 0;
    for (cl_uint i = 0; i < np && i < MAX_PLATFORMS && !found; i++) {
        char *pname = platform_str(plats[i], CL_PLATFORM_NAME);
        if (pname == NULL) {
            e = ERR_NOMEM;
            goto fail;
        }
        if (!selector_matches(platform_sel, i, pname)) {
            free(pname);
            continue;
        }
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            nd = 0;
        for (cl_uint j = 0; j < nd && j < MAX_DEVICES; j++) {
            char *dname = device_str(devs[j], CL_DEVICE_NAME);
            if (dname != NULL && selector_matches(device_sel, j, dname)) {
                c->platform = plats[i];
                c->device = devs[j];
                c->platform_name = pname;
                c->device_name = dname;
                pname = NULL;
                found = 1;
                break;
            }
            free(dname);
        }
        free(pname);
    }
    if (!found) {
        e = ERR_NOTFOUND;
        msg_addf(msg, "no OpenCL device matches platform \"%s\" device \"%s\"; have:\n",
                 platform_sel ? platform_sel : "", device_sel ? device_sel : "");
        enum err le = cl_list_devices(msg);
        (void)le; /* the listing is a courtesy in the message */
        goto fail;
    }
    clGetDeviceInfo(c->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof(c->max_alloc), &c->max_alloc,
                    NULL);
    clGetDeviceInfo(c->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(c->global_mem), &c->global_mem,
                    NULL);
    clGetDeviceInfo(c->device, CL_DEVICE_TYPE, sizeof(c->type), &c->type, NULL);
    c->context = clCreateContext(NULL, 1, &c->device, NULL, NULL, &st);
    if (c->context == NULL) {
        e = cl_fail(msg, st, "cannot create a context on \"%s\"", c->device_name);
        goto fail;
    }
    c->queue = clCreateCommandQueue(c->context, c->device, 0, &st);
    if (c->queue == NULL) {
        e = cl_fail(msg, st, "cannot create a command queue on \"%s\"", c->device_name);
        goto fail;
    }
    *out = c;
    return ERR_OK;
fail:
    cl_close(c);
    return e;
}

void cl_close(struct cl_ctx *c)
{
    if (c == NULL)
        return;
    if (c->queue != NULL) {
        clFinish(c->queue);
        clReleaseCommandQueue(c->queue);
    }
    if (c->context != NULL)
        clReleaseContext(c->context);
    free(c->device_name);
    free(c->platform_name);
    free(c);
}

const char *cl_device_name(const struct cl_ctx *c)
{
    return c->device_name;
}

const char *cl_platform_name(const struct cl_ctx *c)
{
    return c->platform_name;
}

uint64_t cl_max_alloc_bytes(const struct cl_ctx *c)
{
    return c->max_alloc;
}

uint64_t cl_global_mem_bytes(const struct cl_ctx *c)
{
    return c->global_mem;
}

int cl_device_is_cpu(const struct cl_ctx *c)
{
    return (c->type & CL_DEVICE_TYPE_CPU) != 0;
}

enum err cl_build(struct cl_ctx *c, const char *src, size_t len, const char *options,
                  struct cl_prog **out, struct buf *msg)
{
    cl_int st;
    cl_program prog = clCreateProgramWithSource(c->context, 1, &src, &len, &st);
    if (prog == NULL)
        return cl_fail(msg, st, "cannot create program");
    st = clBuildProgram(prog, 1, &c->device, options, NULL, NULL);
    if (st != CL_SUCCESS) {
        enum err e = cl_fail(msg, st, "cannot build program");
        size_t n = 0;
        if (clGetProgramBuildInfo(prog, c->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) ==
                CL_SUCCESS &&
            n > 1) {
            char *log = calloc(1, n + 1);
            if (log != NULL && clGetProgramBuildInfo(prog, c->device, CL_PROGRAM_BUILD_LOG, n, log,
                                                     NULL) == CL_SUCCESS) {
                size_t keep = strnlen(log, n);
                if (keep > CL_MAX_BUILD_LOG)
                    keep = CL_MAX_BUILD_LOG;
                if (buf_append_str(msg, "\nbuild log:\n") == ERR_OK)
                    msg_add(msg, log, keep);
            }
            free(log);
        }
        clReleaseProgram(prog);
        return e;
    }
    struct cl_prog *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        clReleaseProgram(prog);
        return ERR_NOMEM;
    }
    p->program = prog;
    *out = p;
    return ERR_OK;
}

void cl_prog_free(struct cl_prog *p)
{
    if (p == NULL)
        return;
    clReleaseProgram(p->program);
    free(p);
}

enum err cl_kernel_new(struct cl_prog *p, const char *name, struct cl_kern **out, struct buf *msg)
{
    cl_int st;
    cl_kernel k = clCreateKernel(p->program, name, &st);
    if (k == NULL)
        return cl_fail(msg, st, "cannot create kernel \"%s\"", name);
    struct cl_kern *w = calloc(1, sizeof(*w));
    char *nm = strdup(name);
    if (w == NULL || nm == NULL) {
        free(w);
        free(nm);
        clReleaseKernel(k);
        return ERR_NOMEM;
    }
    w->kernel = k;
    w->name = nm;
    *out = w;
    return ERR_OK;
}

void cl_kernel_free(struct cl_kern *k)
{
    if (k == NULL)
        return;
    clReleaseKernel(k->kernel);
    free(k->name);
    free(k);
}

enum err cl_kernel_num_args(struct cl_kern *k, unsigned *out, struct buf *msg)
{
    cl_uint n = 0;
    cl_int st = clGetKernelInfo(k->kernel, CL_KERNEL_NUM_ARGS, sizeof(n), &n, NULL);
    if (st != CL_SUCCESS)
        return cl_fail(msg, st, "cannot query kernel \"%s\"", k->name);
    *out = n;
    return ERR_OK;
}

enum err cl_buffer_new(struct cl_ctx *c, size_t size_bytes, const void *init, struct cl_mem **out,
                       struct buf *msg)
{
    LOOM_ASSERT(size_bytes > 0);
    if (size_bytes > c->max_alloc) {
        msg_addf(msg, "buffer of %zu bytes is over the device's largest allocation (%llu)",
                 size_bytes, (unsigned long long)c->max_alloc);
        return ERR_TOOBIG;
    }
    cl_int st;
    cl_mem m = clCreateBuffer(c->context, CL_MEM_READ_WRITE, size_bytes, NULL, &st);
    if (m == NULL)
        return cl_fail(msg, st, "cannot allocate a buffer of %zu bytes", size_bytes);
    if (init != NULL) {
        st = clEnqueueWriteBuffer(c->queue, m, CL_TRUE, 0, size_bytes, init, 0, NULL, NULL);
    } else {
        static const cl_uchar zero = 0;
        st = clEnqueueFillBuffer(c->queue, m, &zero, 1, 0, size_bytes, 0, NULL, NULL);
        if (st == CL_SUCCESS)
            st = clFinish(c->queue);
    }
    if (st != CL_SUCCESS) {
        clReleaseMemObject(m);
        return cl_fail(msg, st, "cannot fill a buffer of %zu bytes", size_bytes);
    }
    struct cl_mem *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        clReleaseMemObject(m);
        return ERR_NOMEM;
    }
    w->mem = m;
    w->size = size_bytes;
    *out = w;
    return ERR_OK;
}

void cl_buffer_free(struct cl_mem *m)
{
    if (m == NULL)
        return;
    clReleaseMemObject(m->mem);
    free(m);
}

size_t cl_buffer_size(const struct cl_mem *m)
{
    return m->size;
}

enum err cl_buffer_write(struct cl_ctx *c, struct cl_mem *m, size_t offset_bytes, const void *src,
                         size_t size_bytes, struct buf *msg)
{
    LOOM_ASSERT(offset_bytes <= m->size && size_bytes <= m->size - offset_bytes);
    cl_int st = clEnqueueWriteBuffer(c->queue, m->mem, CL_TRUE, offset_bytes, size_bytes, src, 0,
                                     NULL, NULL);
    if (st != CL_SUCCESS)
        return cl_fail(msg, st, "cannot write %zu bytes to a buffer", size_bytes);
    return ERR_OK;
}

enum err cl_buffer_read(struct cl_ctx *c, struct cl_mem *m, size_t offset_bytes, void *dst,
                        size_t size_bytes, struct buf *msg)
{
    LOOM_ASSERT(offset_bytes <= m->size && size_bytes <= m->size - offset_bytes);
    cl_int st = clEnqueueReadBuffer(c->queue, m->mem, CL_TRUE, offset_bytes, size_bytes, dst, 0,
                                    NULL, NULL);
    if (st != CL_SUCCESS)
        return cl_fail(msg, st, "cannot read %zu bytes from a buffer", size_bytes);
    return ERR_OK;
}

enum err cl_kernel_set_scalar(struct cl_kern *k, unsigned index, size_t size, const void *value,
                              struct buf *msg)
{
    cl_int st = clSetKernelArg(k->kernel, index, size, value);
    if (st != CL_SUCCESS)
        return cl_fail(msg, st, "cannot set argument %u of kernel \"%s\" (%zu-byte scalar)", index,
                       k->name, size);
    return ERR_OK;
}

enum err cl_kernel_set_buffer(struct cl_kern *k, unsigned index, struct cl_mem *m, struct buf *msg)
{
    cl_int st = clSetKernelArg(k->kernel, index, sizeof(cl_mem), &m->mem);
    if (st != CL_SUCCESS)
        return cl_fail(msg, st, "cannot set argument %u of kernel \"%s\" (buffer)", index, k->name);
    return ERR_OK;
}

enum err cl_kernel_set_local(struct cl_kern *k, unsigned index, size_t size, struct buf *msg)
{
    cl_int st = clSetKernelArg(k->kernel, index, size, NULL);
    if (st != CL_SUCCESS)
        return cl_fail(msg, st, "cannot set argument %u of kernel \"%s\" (%zu bytes local)", index,
                       k->name, size);
    return ERR_OK;
}

enum err cl_run(struct cl_ctx *c, struct cl_kern *k, unsigned dims, const size_t *global,
                const size_t *local, struct buf *msg)
{
    LOOM_ASSERT(dims >= 1 && dims <= 3);
    cl_int st =
        clEnqueueNDRangeKernel(c->queue, k->kernel, dims, NULL, global, local, 0, NULL, NULL);
    if (st != CL_SUCCESS)
        return cl_fail(msg, st, "cannot run kernel \"%s\"", k->name);
    return ERR_OK;
}

enum err cl_finish(struct cl_ctx *c, struct buf *msg)
{
    cl_int st = clFinish(c->queue);
    if (st != CL_SUCCESS)
        return cl_fail(msg, st, "kernel execution failed on \"%s\"", c->device_name);
    return ERR_OK;
}
