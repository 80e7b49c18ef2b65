/*
 * runner -- run one job in a confined child process and say how it ended.
 *
 * The child is a fresh exec of the worker binary in its "run-job" mode, not
 * a bare fork: a fork would carry a copy of the parent's memory (the
 * worker's Ethereum key, its sockets, libevent state) into the process that
 * runs untrusted kernels, and an OpenCL driver is not usable in a forked
 * copy of a process that had already started it. exec gives the job a
 * clean address space that never held the key, with every descriptor but
 * the progress pipe closed and LOOM_* variables removed from its environment.
 * The child runs under RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE, no core dumps, a
 * seccomp denylist (sandbox.h), in its own process group, and is killed with
 * SIGKILL (the whole group) at the wall-clock deadline.
 * Not here: fetching inputs or uploading results (the daemon).
 * Threading: runner_run() blocks the calling thread for the job's length;
 * the daemon calls it from a thread of its own. It uses no global state.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_RUNNER_H
#define LOOM_WORKER_RUNNER_H

#include "buf.h"
#include "err.h"
#include "jobfiles.h"

/*
 * Address space POCL itself needs in the child before a job allocates
 * anything: measured on POCL 3.1 (Debian 12, 2 cores) with prlimit --as on
 * "run-job" for a small kernel: it ran at 512 MiB and failed at 384 MiB,
 * with a cold and a warm kernel cache alike (LLVM, the ICD loader and one
 * thread stack per core map far more than they touch). The floor doubles
 * that for machines with more cores (a thread and its stack each) and
 * other drivers; the runner never sets less.
 */
#define RUNNER_MEM_FLOOR_BYTES ((long long)1 << 30)

struct runner_opts {
    const char *exe;         /* the worker binary to exec (borrowed) */
    const char *spec_path;   /* job.json (borrowed) */
    const char *files_dir;   /* inputs, already fetched (borrowed) */
    const char *out_dir;     /* an existing, empty work folder for outputs (borrowed) */
    const char *cl_platform; /* selectors passed to cl_open() in the child; may be NULL */
    const char *cl_device;
    long long wall_ms;     /* kill after this long (the claim's max runtime) */
    long long cpu_seconds; /* RLIMIT_CPU; all threads count, so about wall x cores */
    long long mem_bytes;   /* RLIMIT_AS; raised to RUNNER_MEM_FLOOR_BYTES if lower */
    int seccomp;           /* non-zero: install the seccomp filter where supported */
    long long job_id;      /* the daemon's job id, put on the child's log lines; 0: none */
};

enum runner_status {
    RUNNER_OK,        /* the job finished; files holds the result */
    RUNNER_FAILED,    /* the job reported an error (bad input, build log, CL error) */
    RUNNER_OOM,       /* the job ran out of memory under its limit */
    RUNNER_TIMEOUT,   /* killed at the wall-clock deadline */
    RUNNER_CPU_LIMIT, /* killed by RLIMIT_CPU */
    RUNNER_CRASHED,   /* killed by a signal (SIGSEGV from an out-of-bounds write...) */
};

struct runner_result {
    enum runner_status status;
    enum err job_err;          /* RUNNER_FAILED/OOM: the child's error code */
    struct buf reason;         /* one paragraph for the client: why it failed */
    struct jobfiles_set files; /* RUNNER_OK: the result file set, sorted */
    unsigned last_percent;
    unsigned progress_reports; /* progress frames received */
    double cpu_seconds;        /* user + system time of the child */
    long long wall_ms;
};

void runner_result_init(struct runner_result *r);
void runner_result_release(struct runner_result *r);

/* Called on every progress report (at least every second while the child
 * is healthy), from the thread that called runner_run(). */
typedef void runner_progress_fn(void *arg, unsigned percent);

/*
 * Run the job described by <o> and fill <res> (initialised by the caller).
 * A job that fails is not an error of this function: it returns ERR_OK and
 * res->status says what happened.
 * Returns ERR_OK; ERR_IO (pipe, fork or wait failed: the job did not run);
 * ERR_NOMEM. Blocks until the child is gone.
 */
LOOM_MUST_CHECK enum err runner_run(const struct runner_opts *o, runner_progress_fn *progress_cb,
                                    void *cb_arg, struct runner_result *res);

/* "ok", "failed", "out_of_memory", "timeout", "cpu_limit", "crashed". */
const char *runner_status_name(enum runner_status s);

#endif
