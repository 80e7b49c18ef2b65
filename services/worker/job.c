/*
 * job -- the child's side: decode, open the device, dispatch, report.
 *
 * SPDX-License-Identifier: MIT
 */
#include "job.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#include <string.h>

#include "buf.h"
#include "cl.h"
#include "image.h"
#include "jobcl.h"
#include "jobfiles.h"
#include "jobpipe.h"
#include "jobspec.h"
#include "log.h"
#include "msg.h"
#include "train.h"

/* The ticker resends progress every second: twice as often as the 2 s the
 * issue asks for, so one late tick never leaves a gap. */
#define PROGRESS_INTERVAL_MS 1000

void job_progress(struct job_ctx *j, unsigned percent)
{
    if (j->pipe != NULL)
        jobpipe_progress(j->pipe, percent);
}

/* Room kept free under the limit for the driver's own allocations while a
 * job runs (queues, kernel arguments, compiled code): 64 MiB. */
#define MEMORY_HEADROOM ((unsigned long long)64 << 20)

enum err job_check_memory(struct job_ctx *j, unsigned long long bytes, const char *what)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
        return ERR_OK;
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    unsigned long long used = pages * (unsigned long long)sysconf(_SC_PAGESIZE);
    unsigned long long limit = (unsigned long long)rl.rlim_cur;
    unsigned long long left = limit > used + MEMORY_HEADROOM ? limit - used - MEMORY_HEADROOM : 0;
    if (bytes <= left)
        return ERR_OK;
    msg_addf(j->msg, "%s needs %llu MiB; the memory limit of %llu MiB leaves %llu MiB", what,
             bytes >> 20, limit >> 20, left >> 20);
    return ERR_NOMEM;
}

enum err job_run(struct job_ctx *j)
{
    switch (j->spec->kind) {
    case JOBSPEC_OPENCL:
        return jobcl_run(j);
    case JOBSPEC_TRAIN:
        return train_run(j);
    case JOBSPEC_IMAGE:
        return image_run(j);
    }
    LOOM_ASSERT(0);
    return ERR_INVAL;
}

int job_child_main(const char *spec_path, const char *files_dir, const char *out_dir,
                   const char *cl_platform, const char *cl_device, int progress_fd,
                   long long job_id)
{
    struct buf msg;
    buf_init(&msg, JOBPIPE_MAX_TEXT);
    struct jobspec *spec = NULL;
    struct cl_ctx *cl = NULL;
    struct jobpipe_writer *pipe = NULL;
    unsigned char *text = NULL;
    size_t len = 0;
    enum err e = ERR_OK;

    if (progress_fd >= 0 && (e = jobpipe_writer_start(progress_fd, PROGRESS_INTERVAL_MS, &pipe)))
        goto done;
    /* The spec is read by path, not by name in a folder: it is the worker's
     * own copy, checked against the chain before the job was claimed. */
    const char *slash = strrchr(spec_path, '/');
    struct buf dir;
    buf_init(&dir, 4096);
    e = slash ? buf_append(&dir, spec_path, (size_t)(slash - spec_path))
              : buf_append_str(&dir, ".");
    if (e == ERR_OK)
        e = jobfiles_read(buf_cstr(&dir), slash ? slash + 1 : spec_path, JOBSPEC_MAX_JSON_BYTES + 1,
                          &text, &len, &msg);
    buf_release(&dir);
    if (e != ERR_OK)
        goto done;
    char errbuf[JOBSPEC_ERR_MAX];
    e = jobspec_decode((const char *)text, len, &spec, errbuf);
    if (e != ERR_OK) {
        msg_addf(&msg, "bad job spec: %s", errbuf);
        goto done;
    }
    e = cl_open(cl_platform, cl_device, &cl, &msg);
    if (e != ERR_OK)
        goto done;
    LOG_INFO("job.start", "job_id=%lld kind=%s device=%s", job_id, jobspec_kind_name(spec->kind),
             cl_device_name(cl));
    struct job_ctx j = {.cl = cl,
                        .spec = spec,
                        .files_dir = files_dir,
                        .out_dir = out_dir,
                        .pipe = pipe,
                        .msg = &msg};
    e = job_run(&j);
    if (e == ERR_OK)
        job_progress(&j, 100);
done:
    if (e != ERR_OK && msg.len == 0)
        msg_addf(&msg, "job failed: %s", err_str(e));
    if (e != ERR_OK)
        LOG_WARN("job.failed", "job_id=%lld error=%s reason=%s", job_id, err_str(e),
                 buf_cstr(&msg));
    if (pipe != NULL)
        jobpipe_writer_finish(pipe, e, buf_cstr(&msg));
    cl_close(cl);
    jobspec_free(spec);
    free(text);
    buf_release(&msg);
    return e == ERR_OK ? 0 : 1;
}
