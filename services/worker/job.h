/*
 * job -- run one decoded job spec inside the child process: the dispatch to
 * the job kinds (jobcl, train, image) and the child's main routine.
 *
 * Everything here runs in the confined child that runner.h starts; it never
 * sees a key. Not here: limits and process handling (runner, sandbox).
 * Threading: one job at a time on the calling thread (plus the progress
 * ticker of jobpipe).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_JOB_H
#define LOOM_WORKER_JOB_H

#include "err.h"

struct buf;
struct cl_ctx;
struct jobspec;
struct jobpipe_writer;

/* What a job kind gets to work with; all borrowed. */
struct job_ctx {
    struct cl_ctx *cl;
    const struct jobspec *spec;
    const char *files_dir;       /* inputs, checked against their sha256 on read */
    const char *out_dir;         /* outputs go here */
    struct jobpipe_writer *pipe; /* progress; NULL when nobody listens */
    struct buf *msg;             /* on failure, why (appended) */
};

/* Report <percent> (0..100) of the job done. */
void job_progress(struct job_ctx *j, unsigned percent);

/*
 * Check that <bytes> more of address space fit under the process's
 * RLIMIT_AS, with what the process maps already (/proc/self/statm). POCL
 * aborts on a failed host allocation instead of returning
 * CL_MEM_OBJECT_ALLOCATION_FAILURE, so job kinds call this before they make
 * large buffers, to fail with a clear reason instead of SIGABRT.
 *   what: borrowed, names the allocation in the message.
 * Returns ERR_OK (fits, or no limit) or ERR_NOMEM with j->msg saying how
 * much was asked for and how much the limit leaves.
 */
LOOM_MUST_CHECK enum err job_check_memory(struct job_ctx *j, unsigned long long bytes,
                                          const char *what);

/*
 * Run j->spec to completion. Returns ERR_OK (outputs written) or the error
 * of the step that failed, with j->msg saying why: ERR_AUTH (an input does
 * not match its sha256), ERR_CL (build log, CL error), ERR_NOMEM (out of
 * memory), ERR_INVAL (input data the job cannot use), ERR_IO.
 */
LOOM_MUST_CHECK enum err job_run(struct job_ctx *j);

/*
 * The whole child: read and decode <spec_path>, open the OpenCL device,
 * run, and report progress and the verdict on <progress_fd> (jobpipe frames;
 * -1 for none, then the verdict goes to the log only). <job_id> (the
 * daemon's job, 0 for a local run) goes on every log line. Returns the
 * process exit status: 0 when the job succeeded, 1 when it failed.
 */
int job_child_main(const char *spec_path, const char *files_dir, const char *out_dir,
                   const char *cl_platform, const char *cl_device, int progress_fd,
                   long long job_id);

#endif
