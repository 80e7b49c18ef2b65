/*
 * sandbox -- rlimits and a raw seccomp-BPF denylist (no libseccomp).
 *
 * The BPF program follows the kernel's Documentation/userspace-api/seccomp_filter.rst:
 * check seccomp_data.arch first (a different ABI has different numbers), then
 * compare seccomp_data.nr against each denied call.
 *
 * SPDX-License-Identifier: MIT
 */
#include "sandbox.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define SANDBOX_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH AUDIT_ARCH_AARCH64
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif

_Static_assert(sizeof(struct sock_filter) == 8, "struct sock_filter is 8 bytes");

#ifdef SANDBOX_ARCH
static const long denied[] = {
    SYS_socket,
#ifndef SANDBOX_ASAN
    SYS_ptrace, /* LeakSanitizer stops threads with it in sanitizer builds */
#endif
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_kill,
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,
    SYS_setns,
    SYS_unshare,
    SYS_kexec_load,
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,
    SYS_reboot,
    SYS_swapon,
    SYS_swapoff,
    SYS_bpf,
    SYS_perf_event_open,
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,
    SYS_userfaultfd,
    SYS_io_uring_setup,
    SYS_acct,
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_sethostname,
    SYS_setdomainname,
    SYS_kexec_file_load,
    SYS_pidfd_open,
#ifdef SYS_iopl
    SYS_iopl,
    SYS_ioperm,
#endif
};
#endif

enum err sandbox_filter_build(struct sandbox_filter *f)
{
#ifndef SANDBOX_ARCH
    (void)f;
    return ERR_STATE;
#else
    size_t nd = sizeof(denied) / sizeof(denied[0]);
    struct sock_filter prog[64];
    size_t n = 0;
    LOOM_ASSERT(nd + 8 <= 64);
    prog[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_ARCH, 1, 0);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    prog[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    /* x32 system calls carry bit 30 and would slip past the numbers below. */
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
    /* Each denied number jumps to the EPERM return after the list. */
    for (size_t i = 0; i < nd; i++) {
        unsigned char to_deny = (unsigned char)(nd - i); /* skip the rest and the ALLOW */
        prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied[i],
                                                 to_deny, 0);
    }
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    f->n = n;
    memcpy(f->insns, prog, n * sizeof(prog[0]));
    return ERR_OK;
#endif
}

int sandbox_limits_address_space(void)
{
#ifdef SANDBOX_ASAN
    return 0;
#else
    return 1;
#endif
}

static int set_limit(int resource, long long soft, long long hard)
{
    struct rlimit rl = {.rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard};
    return setrlimit(resource, &rl) == -1 ? errno : 0;
}

int sandbox_apply(const struct sandbox_limits *l, const struct sandbox_filter *f)
{
    int rc = set_limit(RLIMIT_CORE, 0, 0);
    if (rc == 0 && l->cpu_seconds > 0)
        rc = set_limit(RLIMIT_CPU, l->cpu_seconds, l->cpu_seconds + 1);
    if (rc == 0 && l->mem_bytes > 0 && sandbox_limits_address_space())
        rc = set_limit(RLIMIT_AS, l->mem_bytes, l->mem_bytes);
    if (rc == 0 && l->file_bytes > 0)
        rc = set_limit(RLIMIT_FSIZE, l->file_bytes, l->file_bytes);
    if (rc != 0)
        return rc;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
        return errno;
    if (l->seccomp && f != NULL && f->n > 0) {
        struct sock_fprog prog = {.len = (unsigned short)f->n,
                                  .filter = (struct sock_filter *)(void *)f->insns};
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == -1)
            return errno;
    }
    return 0;
}
