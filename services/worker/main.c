/*
 * loom-worker -- the OpenCL worker's entry point.
 *
 * Modes (the first positional argument):
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
#include "job.h"
#include "jobspec.h"
#include "log.h"
#include "runner.h"

static char *spec_path, *files_dir, *out_dir, *cl_platform, *cl_device, *log_level;
static long long progress_fd, max_runtime_ms, cpu_seconds, mem_bytes;
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
    {"log_level", CFG_STR, "info", 0, 0, "debug|info|warn|error", "minimum log level", &log_level},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static void on_progress(void *arg, unsigned percent)
{
    (void)arg;
    LOG_DEBUG("job.progress", "percent=%u", percent);
}

static int run_local(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        fprintf(stderr, "loom-worker: cannot find own binary: %s\n", strerror(errno));
        return EX_OSERR;
    }
    exe[n] = '\0';
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
    const char *mode = n_pos == 1 ? argv[pos[0]] : NULL;
    log_init(mode && strcmp(mode, "run-job") == 0 ? "worker-job" : "worker", lvl);
    if (help) {
        cfg_print_help(stdout, "loom-worker",
                       "OpenCL worker. Modes: run-local --spec F --files D --out D | devices", opts,
                       N_OPTS);
        goto done;
    }
    if (e != ERR_OK) {
        fprintf(stderr, "loom-worker: %s\n", errbuf);
        rc = EX_USAGE;
        goto done;
    }
    if (mode == NULL) {
        fprintf(stderr, "loom-worker: give one mode: run-local, devices (see --help)\n");
        rc = EX_USAGE;
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
        rc = run_local();
    } else if (strcmp(mode, "run-job") == 0) {
        rc =
            job_child_main(spec_path, files_dir, out_dir, cl_platform, cl_device, (int)progress_fd);
    } else {
        fprintf(stderr, "loom-worker: unknown mode \"%s\"\n", mode);
        rc = EX_USAGE;
    }
done:
    cfg_release(opts, N_OPTS);
    free(pos);
    return rc;
}
