/*
 * jobcl -- the generic "opencl" job kind: build the client's kernel, bind
 * its typed arguments, enqueue it <passes> times, read back the outputs.
 *
 * Not here: any check on what the kernel computes (it is the client's), the
 * limits that stop a hostile kernel (runner). Threading: one job per call.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_WORKER_JOBCL_H
#define LOOM_WORKER_JOBCL_H

#include "err.h"

struct job_ctx;

/*
 * Run the opencl job of j->spec. Each output buffer named in the spec is
 * written whole to j->out_dir under its name. Returns ERR_OK; ERR_CL (build
 * failure with the build log, a CL call that failed); ERR_INVAL (argument
 * count differs from the kernel's, an empty input file); ERR_NOMEM;
 * ERR_TOOBIG (a buffer over the device's largest allocation); the errors of
 * jobfiles_read_input(). Blocks.
 */
LOOM_MUST_CHECK enum err jobcl_run(struct job_ctx *j);

#endif
