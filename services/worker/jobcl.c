/*
 * jobcl -- generic kernels from the job spec.
 *
 * Buffers live for the whole job, so passes > 1 lets a kernel iterate on
 * its own output (a stencil, a reduction in rounds). The queue is drained
 * after every pass so progress reflects finished work.
 *
 * SPDX-License-Identifier: MIT
 */
#include "jobcl.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "msg.h"
#include "cl.h"
#include "job.h"
#include "jobfiles.h"
#include "jobspec.h"

enum err jobcl_run(struct job_ctx *j)
{
    const struct jobspec_opencl *c = &j->spec->u.opencl;
    enum err e = ERR_OK;
    unsigned char *src_file = NULL;
    struct cl_prog *prog = NULL;
    struct cl_kern *kern = NULL;
    struct cl_mem **mems = calloc(c->n_args ? c->n_args : 1, sizeof(*mems));
    void *host = NULL;
    if (mems == NULL)
        return ERR_NOMEM;

    const char *src = c->source;
    size_t src_len = src ? strlen(src) : 0;
    if (c->source_file != NULL) {
        e = jobfiles_read_input(j->files_dir, jobspec_find_input(j->spec, c->source_file),
                                JOBSPEC_MAX_SOURCE, &src_file, &src_len, j->msg);
        if (e != ERR_OK)
            goto done;
        src = (const char *)src_file;
    }
    e = cl_build(j->cl, src, src_len, NULL, &prog, j->msg);
    if (e != ERR_OK)
        goto done;
    e = cl_kernel_new(prog, c->kernel, &kern, j->msg);
    if (e != ERR_OK)
        goto done;
    unsigned nargs = 0;
    e = cl_kernel_num_args(kern, &nargs, j->msg);
    if (e != ERR_OK)
        goto done;
    if (nargs != c->n_args) {
        e = ERR_INVAL;
        msg_addf(j->msg, "kernel \"%s\" takes %u arguments; the spec gives %zu", c->kernel, nargs,
                 c->n_args);
        goto done;
    }
    /* Device buffers live in host memory on POCL; outputs are copied once
     * more when read back, and an input once more while it is read. */
    unsigned long long need = 0;
    for (size_t i = 0; i < c->n_args; i++) {
        const struct jobspec_arg *a = &c->args[i];
        if (a->type == JOBSPEC_ARG_OUT)
            need += a->size_bytes * (a->output ? 2 : 1);
    }
    e = job_check_memory(j, need, "the job's output buffers");
    if (e != ERR_OK)
        goto done;
    for (size_t i = 0; i < c->n_args; i++) {
        const struct jobspec_arg *a = &c->args[i];
        unsigned idx = (unsigned)i;
        unsigned char *data = NULL;
        size_t len = 0;
        switch (a->type) {
        case JOBSPEC_ARG_INT:
            e = cl_kernel_set_scalar(kern, idx, sizeof(int32_t), &a->value.i, j->msg);
            break;
        case JOBSPEC_ARG_UINT:
            e = cl_kernel_set_scalar(kern, idx, sizeof(uint32_t), &a->value.u, j->msg);
            break;
        case JOBSPEC_ARG_LONG:
            e = cl_kernel_set_scalar(kern, idx, sizeof(int64_t), &a->value.l, j->msg);
            break;
        case JOBSPEC_ARG_ULONG:
            e = cl_kernel_set_scalar(kern, idx, sizeof(uint64_t), &a->value.ul, j->msg);
            break;
        case JOBSPEC_ARG_FLOAT:
            e = cl_kernel_set_scalar(kern, idx, sizeof(float), &a->value.f, j->msg);
            break;
        case JOBSPEC_ARG_DOUBLE:
            e = cl_kernel_set_scalar(kern, idx, sizeof(double), &a->value.d, j->msg);
            break;
        case JOBSPEC_ARG_LOCAL:
            e = cl_kernel_set_local(kern, idx, (size_t)a->size_bytes, j->msg);
            break;
        case JOBSPEC_ARG_IN:
            e = jobfiles_read_input(j->files_dir, jobspec_find_input(j->spec, a->file),
                                    (size_t)JOBSPEC_MAX_BUFFER, &data, &len, j->msg);
            if (e == ERR_OK && len == 0) {
                e = ERR_INVAL;
                msg_addf(j->msg, "input \"%s\" is empty", a->file);
            }
            if (e == ERR_OK)
                e = job_check_memory(j, 2ULL * len, "an input buffer");
            if (e == ERR_OK)
                e = cl_buffer_new(j->cl, len, data, &mems[i], j->msg);
            free(data);
            if (e == ERR_OK)
                e = cl_kernel_set_buffer(kern, idx, mems[i], j->msg);
            break;
        case JOBSPEC_ARG_OUT:
            e = cl_buffer_new(j->cl, (size_t)a->size_bytes, NULL, &mems[i], j->msg);
            if (e == ERR_OK)
                e = cl_kernel_set_buffer(kern, idx, mems[i], j->msg);
            break;
        }
        if (e != ERR_OK)
            goto done;
    }
    size_t global[3], local[3];
    int has_local = c->local[0] != 0;
    for (unsigned d = 0; d < c->dims; d++) {
        global[d] = (size_t)c->global[d];
        local[d] = (size_t)c->local[d];
    }
    for (unsigned p = 0; p < c->passes; p++) {
        e = cl_run(j->cl, kern, c->dims, global, has_local ? local : NULL, j->msg);
        if (e != ERR_OK)
            goto done;
        e = cl_finish(j->cl, j->msg);
        if (e != ERR_OK)
            goto done;
        job_progress(j, (unsigned)(((unsigned long long)(p + 1) * 95) / c->passes));
    }
    for (size_t i = 0; i < c->n_args; i++) {
        if (c->args[i].output == NULL || mems[i] == NULL)
            continue;
        size_t n = cl_buffer_size(mems[i]);
        host = malloc(n);
        if (host == NULL) {
            e = ERR_NOMEM;
            msg_addf(j->msg, "cannot allocate %zu bytes to read back \"%s\"", n, c->args[i].output);
            goto done;
        }
        e = cl_buffer_read(j->cl, mems[i], 0, host, n, j->msg);
        if (e != ERR_OK)
            goto done;
        e = jobfiles_write(j->out_dir, c->args[i].output, host, n, j->msg);
        if (e != ERR_OK)
            goto done;
        free(host);
        host = NULL;
    }
done:
    free(host);
    for (size_t i = 0; i < c->n_args; i++)
        cl_buffer_free(mems[i]);
    free(mems);
    cl_kernel_free(kern);
    cl_prog_free(prog);
    free(src_file);
    return e;
}
