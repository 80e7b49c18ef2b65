/*
 * sandbox -- confine the child process that runs a job: resource limits and
 * a seccomp filter, applied between fork() and exec().
 *
 * The filter is a denylist, not an allowlist: the child runs an OpenCL
 * driver, and POCL compiles kernels with an in-process LLVM, starts a thread
 * per core, writes its kernel cache and dlopen()s the compiled kernels, so
 * the set of system calls a driver needs is large, varies by vendor (NVIDIA
 * uses ioctls on /dev/nvidia*) and is not ours to pin down. What the filter
 * takes away is what a job never needs and an escaped job would want: new
 * sockets (no network), ptrace and other processes' memory, signals to other
 * processes, mounts and namespaces, kernel modules, kexec, reboot, BPF, perf,
 * keyrings, io_uring and userfaultfd; denied calls fail with EPERM. It also
 * rejects foreign ABIs (x32 numbers, another architecture) outright.
 * Sanitizer builds (ASan): RLIMIT_AS is not set, since ASan reserves
 * terabytes of shadow address space, and ptrace stays allowed, since
 * LeakSanitizer stops the process's threads with it at exit.
 * Not here: deciding the limits (runner), process bookkeeping.
 * Threading: sandbox_apply() runs in a freshly forked child and makes only
 * async-signal-safe system calls.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_SANDBOX_H
#define LOOM_WORKER_SANDBOX_H

#include <stddef.h>

#include "err.h"

struct sandbox_limits {
    long long cpu_seconds; /* RLIMIT_CPU: soft (SIGXCPU) at this, hard one second later */
    long long mem_bytes;   /* RLIMIT_AS: address space, 0 = no limit */
    long long file_bytes;  /* RLIMIT_FSIZE: largest file the job may write */
    int seccomp;           /* non-zero: install the seccomp filter */
};

/* A prepared seccomp program; built in the parent so the child only copies
 * it into the kernel. */
struct sandbox_filter {
    size_t n;
    unsigned long long insns[64]; /* struct sock_filter, 8 bytes each */
};

/*
 * Build the filter for this architecture into <f>. Returns ERR_OK, or
 * ERR_STATE when seccomp filtering is not supported here (other
 * architectures: the caller runs without it and says so).
 */
LOOM_MUST_CHECK enum err sandbox_filter_build(struct sandbox_filter *f);

/* Return non-zero when sandbox_apply() enforces mem_bytes (RLIMIT_AS):
 * always, except in AddressSanitizer builds. */
int sandbox_limits_address_space(void);

/*
 * In the child: no core dumps, the limits of <l>, PR_SET_NO_NEW_PRIVS and,
 * when l->seccomp, the filter <f> (borrowed). Returns 0 or an errno value
 * (the child then reports it and exits before running anything).
 */
int sandbox_apply(const struct sandbox_limits *l, const struct sandbox_filter *f);

#endif
