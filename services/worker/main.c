/*
 * loom-worker -- the OpenCL worker's entry point.
 *
 * Modes (the first positional argument):
 *   serve      (the default) the daemon: hear of jobs on the feed, claim them
 *              on chain, run them, deliver and get paid (daemon.h)
 *   withdraw   withdraw this worker's balance from the escrow now
 *   run-local  run one job spec end to end on this machine, in a confined
 *              child, and print the result manifest (JSON) on stdout
 *   run-job    internal: the child side that runner.c execs
 *   devices    list the OpenCL platforms and devices
 * Only start-up lives here; the work is in runner, job and the job kinds.
 *
 * SPDX-License-Identifier: MIT
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "cl.h"
#include "daemon.h"
#include "job.h"
#include "jobspec.h"
#include "log.h"
#include "runner.h"

static char *spec_path, *files_dir, *out_dir, *cl_platform, *cl_device, *log_level;
static char *feed, *types, *gateway, *rpc_url, *deployment, *key_file, *work_dir, *threshold,
    *metrics_listen;
static long long progress_fd, job_id, max_runtime_ms, cpu_seconds, mem_bytes, min_price, device_mem;
static int use_seccomp;

static const struct cfg_opt opts[] = {
    {"spec", CFG_STR, NULL, 0, 0, NULL, "job spec file (job.json)", &spec_path},
    {"files", CFG_STR, ".", 0, 0, NULL, "folder holding the job's input files", &files_dir},
    {"out", CFG_STR, "out", 0, 0, NULL, "work folder for outputs (created; must be empty)",
     &out_dir},
    {"cl_platform", CFG_STR, "", 0, 0, NULL,
     "OpenCL platform: index or name substring (empty: the first)", &cl_platform},
    {"cl_device", CFG_STR, "", 0, 0, NULL,
     "OpenCL device of that platform: index or name substring (empty: the first)", &cl_device},
    {"max_runtime_ms", CFG_INT, "600000", 100, 7LL * 24 * 3600 * 1000, NULL,
     "wall-clock limit of one job, ms (the claim's max runtime)", &max_runtime_ms},
    {"cpu_seconds", CFG_INT, "0", 0, 7LL * 24 * 3600 * 64, NULL,
     "CPU-time limit of one job, s, all threads (0: max_runtime x cores)", &cpu_seconds},
    {"mem_bytes", CFG_INT, "8589934592", RUNNER_MEM_FLOOR_BYTES, 1LL << 46, NULL,
     "address-space limit of one job, bytes (POCL alone maps about 512 MiB)", &mem_bytes},
    {"seccomp", CFG_BOOL, "true", 0, 0, NULL, "confine jobs with the seccomp denylist",
     &use_seccomp},
    {"progress_fd", CFG_INT, "-1", -1, 1023, NULL, "run-job: descriptor for progress frames",
     &progress_fd},
    {"job_id", CFG_INT, "0", 0, 9007199254740991LL, NULL, "run-job: the daemon's job id, for logs",
     &job_id},
    {"feed", CFG_STR, "tcp://127.0.0.1:7402", 0, 0, NULL, "serve: nanomsg address of the job feed",
     &feed},
    {"types", CFG_STR, "IA,GRAFICA", 0, 0, NULL, "serve: job types offered, IA and/or GRAFICA",
     &types},
    {"min_price_usd_cents", CFG_INT, "1", 1, 100000000000LL, NULL,
     "serve: lowest job price taken, US cents", &min_price},
    {"device_mem_bytes", CFG_INT, "0", 0, 1LL << 50, NULL,
     "serve: device memory offered, bytes; opencl jobs needing more are left (0: no check)",
     &device_mem},
    {"gateway", CFG_STR, "http://127.0.0.1:8080", 0, 0, NULL, "serve: the gateway's REST URL",
     &gateway},
    {"rpc_url", CFG_STR, "http://127.0.0.1:8545", 0, 0, NULL, "serve, withdraw: JSON-RPC node",
     &rpc_url},
    {"deployment", CFG_STR, "deployment.json", 0, 0, NULL,
     "serve, withdraw: contracts/deploy.sh's JSON (chainId, escrow)", &deployment},
    {"key_file", CFG_STR, NULL, 0, 0, NULL, "serve, withdraw: the worker's key file, mode 0600",
     &key_file},
    {"work_dir", CFG_STR, "loom-work", 0, 0, NULL, "serve: folder for jobs' files (created)",
     &work_dir},
    {"withdraw_threshold_wei", CFG_STR, "0", 0, 0, NULL,
     "serve: withdraw when the escrow holds this much for us, wei (0: never automatically)",
     &threshold},
    {"metrics_listen", CFG_STR, "127.0.0.1:9201", 0, 0, NULL,
     "serve: host:port for /metrics and /health (port 0: any; empty: off)", &metrics_listen},
    {"log_level", CFG_STR, "info", 0, 0, "debug|info|warn|error", "minimum log level", &log_level},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static void on_progress(void *arg, unsigned percent)
{
    (void)arg;
    LOG_DEBUG("job.progress", "percent=%u", percent);
}

/* The daemon's settings, from the table above. */
static int run_daemon(const char *mode, const char *exe)
{
    struct daemon_opts o = {
        .exe = exe,
        .feed = feed,
        .types = types,
        .min_price_usd_cents = min_price,
        .device_mem_bytes = device_mem,
        .cl_platform = cl_platform,
        .cl_device = cl_device,
        .gateway = gateway,
        .rpc_url = rpc_url,
        .deployment = deployment,
        .key_file = key_file,
        .work_dir = work_dir,
        .withdraw_threshold_wei = threshold,
        .metrics_listen = metrics_listen,
        .max_runtime_ms = max_runtime_ms,
        .cpu_seconds = cpu_seconds,
        .mem_bytes = mem_bytes,
        .seccomp = use_seccomp,
    };
    return strcmp(mode, "withdraw") == 0 ? daemon_withdraw(&o) : daemon_serve(&o);
}

static int run_local(const char *exe)
{
    if (mkdir(out_dir, 0755) == -1 && errno != EEXIST) {
        fprintf(stderr, "loom-worker: cannot create \"%s\": %s\n", out_dir, strerror(errno));
        return EX_CANTCREAT;
    }
    /* The result is every file in the folder: it must start empty. */
    DIR *d = opendir(out_dir);
    int entries = 0;
    for (struct dirent *de = d ? readdir(d) : NULL; de != NULL; de = readdir(d))
        entries += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    if (d != NULL)
        closedir(d);
    if (d == NULL || entries > 0) {
        fprintf(stderr, "loom-worker: work folder \"%s\" is not an empty folder\n", out_dir);
        return EX_CANTCREAT;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    struct runner_opts ro = {
        .exe = exe,
        .spec_path = spec_path,
        .files_dir = files_dir,
        .out_dir = out_dir,
        .cl_platform = cl_platform,
        .cl_device = cl_device,
        .wall_ms = max_runtime_ms,
        .cpu_seconds =
            cpu_seconds ? cpu_seconds : (max_runtime_ms / 1000 + 1) * (cores > 0 ? cores : 1),
        .mem_bytes = mem_bytes,
        .seccomp = use_seccomp,
    };
    struct runner_result res;
    runner_result_init(&res);
    enum err e = runner_run(&ro, on_progress, NULL, &res);
    int rc = EX_OK;
    if (e != ERR_OK) {
        LOG_ERROR("job.not_run", "error=%s reason=%s", err_str(e), buf_cstr(&res.reason));
        rc = EX_OSERR;
        goto done;
    }
    int ok = res.status == RUNNER_OK;
    LOG_INFO("job.end", "status=%s wall_ms=%lld cpu_s=%g reports=%u",
             runner_status_name(res.status), res.wall_ms, res.cpu_seconds, res.progress_reports);
    struct buf out;
    buf_init(&out, 0);
    e = jobspec_result_encode(&out, ok, ok ? NULL : buf_cstr(&res.reason), res.files.files,
                              res.files.n);
    if (e == ERR_OK)
        printf("%s\n", buf_cstr(&out));
    buf_release(&out);
    rc = ok && e == ERR_OK ? EX_OK : 1;
done:
    runner_result_release(&res);
    return rc;
}

int main(int argc, char **argv)
{
    int help = 0, n_pos = 0;
    int *pos = calloc((size_t)argc, sizeof(*pos));
    char errbuf[CFG_ERR_MAX];
    int rc = EX_OK;
    if (pos == NULL)
        return EX_OSERR;
    enum err e = cfg_load(opts, N_OPTS, argc, argv, &help, pos, &n_pos, errbuf);
    enum log_level lvl = LOG_LEVEL_INFO;
    if (e == ERR_OK && !help && log_level_parse(log_level, &lvl) != ERR_OK)
        lvl = LOG_LEVEL_INFO;
    const char *mode = n_pos == 1 ? argv[pos[0]] : n_pos == 0 ? "serve" : NULL;
    /* Jobs exec "/proc/self/exe", which in the forked child is this very
     * binary even after the file on disk was replaced (an upgrade or a
     * rebuild while the daemon runs); readlink only checks /proc is there. */
    const char *exe = "/proc/self/exe";
    char exe_path[PATH_MAX];
    ssize_t n_exe = readlink(exe, exe_path, sizeof(exe_path) - 1);
    log_init(mode && strcmp(mode, "run-job") == 0 ? "worker-job" : "worker", lvl);
    if (help) {
        cfg_print_help(
            stdout, "loom-worker",
            "OpenCL worker. Modes: serve (default) | withdraw | run-local --spec F --files D "
            "--out D | devices",
            opts, N_OPTS);
        goto done;
    }
    if (e != ERR_OK) {
        fprintf(stderr, "loom-worker: %s\n", errbuf);
        rc = EX_USAGE;
        goto done;
    }
    if (mode == NULL) {
        fprintf(stderr, "loom-worker: give one mode: serve, withdraw, run-local, devices "
                        "(see --help)\n");
        rc = EX_USAGE;
    } else if (n_exe <= 0) {
        fprintf(stderr, "loom-worker: cannot find own binary: %s\n", strerror(errno));
        rc = EX_OSERR;
    } else if (strcmp(mode, "serve") == 0 || strcmp(mode, "withdraw") == 0) {
        rc = run_daemon(mode, exe);
    } else if (strcmp(mode, "devices") == 0) {
        struct buf out;
        buf_init(&out, 0);
        e = cl_list_devices(&out);
        fputs(buf_cstr(&out), e == ERR_OK ? stdout : stderr);
        buf_release(&out);
        rc = e == ERR_OK ? EX_OK : EX_UNAVAILABLE;
    } else if (spec_path == NULL || spec_path[0] == '\0') {
        fprintf(stderr, "loom-worker: %s needs --spec\n", mode);
        rc = EX_USAGE;
    } else if (strcmp(mode, "run-local") == 0) {
        rc = run_local(exe);
    } else if (strcmp(mode, "run-job") == 0) {
        rc = job_child_main(spec_path, files_dir, out_dir, cl_platform, cl_device, (int)progress_fd,
                            job_id);
    } else {
        fprintf(stderr, "loom-worker: unknown mode \"%s\"\n", mode);
        rc = EX_USAGE;
    }
done:
    cfg_release(opts, N_OPTS);
    free(pos);
    return rc;
}
