/*
 * runner -- fork, confine, exec "run-job", watch the pipe and the clock.
 *
 * SPDX-License-Identifier: MIT
 */
#include "runner.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobpipe.h"
#include "msg.h"
#include "sandbox.h"

extern char **environ;

/* The descriptor the child finds its progress pipe on. */
#define CHILD_PIPE_FD 3
/* Largest file a job may write: all output buffers plus metadata. */
#define MAX_FILE_BYTES (((long long)1 << 30) + ((long long)64 << 20))
/* Most environment entries passed on. */
#define MAX_ENV 256

const char *runner_status_name(enum runner_status s)
{
    switch (s) {
    case RUNNER_OK:
        return "ok";
    case RUNNER_FAILED:
        return "failed";
    case RUNNER_OOM:
        return "out_of_memory";
    case RUNNER_TIMEOUT:
        return "timeout";
    case RUNNER_CPU_LIMIT:
        return "cpu_limit";
    case RUNNER_CRASHED:
        return "crashed";
    }
    return "unknown";
}

void runner_result_init(struct runner_result *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->reason, JOBPIPE_MAX_TEXT + 1024);
}

void runner_result_release(struct runner_result *r)
{
    buf_release(&r->reason);
    jobfiles_set_release(&r->files);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *signal_hint(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "invalid memory access, for example a write out of a buffer's bounds";
    case SIGBUS:
        return "bus error, for example a misaligned or out-of-bounds access";
    case SIGABRT:
        return "aborted, often an allocation that failed under the memory limit";
    case SIGILL:
        return "illegal instruction";
    case SIGFPE:
        return "arithmetic exception";
    case SIGXFSZ:
        return "wrote a file over the size limit";
    case SIGSYS:
        return "a system call the sandbox forbids";
    default:
        return "killed";
    }
}

/* Everything between fork and exec: only async-signal-safe calls. */
static void child_exec(int pipe_w, char **argv, char **envp, const struct sandbox_limits *lim,
                       const struct sandbox_filter *filter)
{
    setpgid(0, 0);
    /* A daemon may block signals (for signalfd) or ignore SIGPIPE; both
     * survive exec. The job gets default handling, so RLIMIT_CPU's SIGXCPU
     * and RLIMIT_FSIZE's SIGXFSZ stop it. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXCPU, SIG_DFL);
    signal(SIGXFSZ, SIG_DFL);
    if (pipe_w != CHILD_PIPE_FD) {
        if (dup2(pipe_w, CHILD_PIPE_FD) == -1)
            _exit(126);
    } else {
        int fl = fcntl(pipe_w, F_GETFD);
        fcntl(pipe_w, F_SETFD, fl & ~FD_CLOEXEC);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull != -1 && devnull != 0) {
        dup2(devnull, 0);
        close(devnull);
    }
    /* Every descriptor above the pipe: sockets, the key file, databases. */
    syscall(SYS_close_range, CHILD_PIPE_FD + 1, ~0U, 0);
    int rc = sandbox_apply(lim, filter);
    if (rc != 0)
        _exit(125);
    execve(argv[0], argv, envp);
    _exit(127);
}

enum err runner_run(const struct runner_opts *o, runner_progress_fn *progress_cb, void *cb_arg,
                    struct runner_result *res)
{
    enum err e = ERR_OK;
    int pfd[2] = {-1, -1};
    pid_t pid = -1;
    char **envp = NULL;
    struct jobpipe_reader rd;
    jobpipe_reader_init(&rd);

    struct sandbox_limits lim = {
        .cpu_seconds = o->cpu_seconds,
        .mem_bytes = o->mem_bytes > 0 && o->mem_bytes < RUNNER_MEM_FLOOR_BYTES
                         ? RUNNER_MEM_FLOOR_BYTES
                         : o->mem_bytes,
        .file_bytes = MAX_FILE_BYTES,
        .seccomp = o->seccomp,
    };
    struct sandbox_filter filter = {0};
    if (lim.seccomp && sandbox_filter_build(&filter) != ERR_OK)
        lim.seccomp = 0; /* not this architecture: rlimits and process group only */

    /* Environment: the driver's variables (POCL_*, HOME for its kernel
     * cache, OCL_ICD_*), without the worker's own settings. */
    envp = calloc(MAX_ENV + 1, sizeof(*envp));
    if (envp == NULL) {
        e = ERR_NOMEM;
        goto done;
    }
    size_t ne = 0;
    for (char **v = environ; *v != NULL && ne < MAX_ENV; v++)
        if (strncmp(*v, "LOOM_", 5) != 0)
            envp[ne++] = *v;

    /* execve() takes char *const[]; the strings are never written. */
    static char a_run[] = "run-job", a_spec[] = "--spec", a_files[] = "--files", a_out[] = "--out",
                a_plat[] = "--cl-platform", a_dev[] = "--cl-device", a_pfd[] = "--progress-fd",
                a_three[] = "3", a_empty[] = "", a_jid[] = "--job-id";
    char jid[24];
    (void)snprintf(jid, sizeof(jid), "%lld", o->job_id);
    char *argv[] = {(char *)(uintptr_t)o->exe,
                    a_run,
                    a_spec,
                    (char *)(uintptr_t)o->spec_path,
                    a_files,
                    (char *)(uintptr_t)o->files_dir,
                    a_out,
                    (char *)(uintptr_t)o->out_dir,
                    a_plat,
                    o->cl_platform ? (char *)(uintptr_t)o->cl_platform : a_empty,
                    a_dev,
                    o->cl_device ? (char *)(uintptr_t)o->cl_device : a_empty,
                    a_pfd,
                    a_three,
                    a_jid,
                    jid,
                    NULL};

    if (pipe2(pfd, O_CLOEXEC) == -1) {
        e = ERR_IO;
        msg_addf(&res->reason, "cannot make a pipe: %s", strerror(errno));
        goto done;
    }
    long long start = now_ms();
    pid = fork();
    if (pid == -1) {
        e = ERR_IO;
        msg_addf(&res->reason, "cannot fork: %s", strerror(errno));
        goto done;
    }
    if (pid == 0)
        child_exec(pfd[1], argv, envp, &lim, &filter);
    setpgid(pid, pid); /* also from here: whichever runs first wins the race */
    close(pfd[1]);
    pfd[1] = -1;

    long long deadline = start + o->wall_ms;
    int got_verdict = 0, timed_out = 0, pipe_open = 1, proto_err = 0;
    struct jobpipe_msg m = {0};
    enum jobpipe_type verdict = JOBPIPE_PROGRESS;
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            break;
        }
        if (!pipe_open) {
            /* The child closed its end (it is exiting): reap it, still
             * bounded by the deadline. */
            pid_t w = wait4(pid, &status, WNOHANG, &ru);
            if (w == pid) {
                pid = -1;
                break;
            }
            struct timespec ts = {0, 5 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int pr = poll(&p, 1, left > 1000 ? 1000 : (int)left);
        if (pr == -1 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        char chunk[4096];
        ssize_t r = read(pfd[0], chunk, sizeof(chunk));
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0) {
            pipe_open = 0;
            continue;
        }
        if (jobpipe_reader_feed(&rd, chunk, (size_t)r) != ERR_OK) {
            proto_err = 1;
            pipe_open = 0;
            continue;
        }
        enum err ne2;
        while ((ne2 = jobpipe_reader_next(&rd, &m)) == ERR_OK) {
            if (m.type == JOBPIPE_PROGRESS) {
                res->last_percent = m.percent;
                res->progress_reports++;
                if (progress_cb != NULL)
                    progress_cb(cb_arg, m.percent);
            } else if (!got_verdict) {
                got_verdict = 1;
                verdict = m.type;
                if (m.type == JOBPIPE_ERROR) {
                    res->job_err = m.err;
                    msg_add(&res->reason, m.text, m.text_len);
                }
            }
        }
        if (ne2 == ERR_PROTO)
            proto_err = 1;
    }
    if (pid != -1) {
        if (wait4(pid, &status, 0, &ru) == -1) {
            e = ERR_IO;
            msg_addf(&res->reason, "cannot wait for the job process: %s", strerror(errno));
            goto done;
        }
        pid = -1;
    }
    res->wall_ms = now_ms() - start;
    res->cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;

    if (timed_out) {
        res->status = RUNNER_TIMEOUT;
        buf_reset(&res->reason);
        msg_addf(&res->reason, "timed out: still running after %lld ms, killed", o->wall_ms);
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        buf_reset(&res->reason);
        if (sig == SIGXCPU ||
            (sig == SIGKILL && o->cpu_seconds > 0 && res->cpu_seconds >= (double)o->cpu_seconds)) {
            res->status = RUNNER_CPU_LIMIT;
            msg_addf(&res->reason, "cpu time limit: used %.1f s of %lld s, killed",
                     res->cpu_seconds, o->cpu_seconds);
        } else {
            res->status = RUNNER_CRASHED;
            msg_addf(&res->reason, "crashed: signal %d (%s): %s", sig, sigabbrev_np(sig),
                     signal_hint(sig));
        }
    } else if (got_verdict && verdict == JOBPIPE_DONE && WEXITSTATUS(status) == 0 && !proto_err) {
        res->status = RUNNER_OK;
        e = jobfiles_list(o->out_dir, &res->files, &res->reason);
        if (e != ERR_OK) {
            res->status = RUNNER_FAILED;
            res->job_err = e;
            e = ERR_OK;
        }
    } else if (got_verdict && verdict == JOBPIPE_ERROR) {
        res->status = res->job_err == ERR_NOMEM ? RUNNER_OOM : RUNNER_FAILED;
        if (res->status == RUNNER_OOM) {
            struct buf tmp;
            buf_init(&tmp, res->reason.max_bytes);
            if (buf_appendf(&tmp, "out of memory (limit %lld MiB): %s", lim.mem_bytes >> 20,
                            buf_cstr(&res->reason)) == ERR_OK) {
                buf_reset(&res->reason);
                msg_add(&res->reason, tmp.data, tmp.len);
            }
            buf_release(&tmp);
        }
    } else {
        res->status = RUNNER_FAILED;
        res->job_err = ERR_PROTO;
        buf_reset(&res->reason);
        int code = WEXITSTATUS(status);
        msg_addf(&res->reason, "job process exited with status %d without a verdict%s", code,
                 code == 125   ? " (could not apply the sandbox)"
                 : code == 127 ? " (could not start the worker binary)"
                               : "");
    }
done:
    if (pid > 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (pfd[0] != -1)
        close(pfd[0]);
    if (pfd[1] != -1)
        close(pfd[1]);
    free(envp);
    jobpipe_reader_release(&rd);
    return e;
}
