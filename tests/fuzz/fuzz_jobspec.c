/* libFuzzer target for proto/jobspec's decoder: any input either decodes
 * to a spec that re-checks its own invariants, or fails with a message.
 * Seed corpus: tests/fuzz/corpus/jobspec (the example specs and edge cases).
 * SPDX-License-Identifier: MIT */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "jobspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jobspec *s = NULL;
    char err[JOBSPEC_ERR_MAX];
    enum err e = jobspec_decode((const char *)data, size, &s, err);
    if (e != ERR_OK) {
        LOOM_ASSERT(s == NULL && err[0] != '\0' && strlen(err) < JOBSPEC_ERR_MAX);
        return 0;
    }
    LOOM_ASSERT(s->n_inputs <= JOBSPEC_MAX_INPUTS);
    for (size_t i = 0; i < s->n_inputs; i++)
        LOOM_ASSERT(jobspec_is_safe_name(s->inputs[i].name));
    if (s->kind == JOBSPEC_OPENCL) {
        const struct jobspec_opencl *c = &s->u.opencl;
        LOOM_ASSERT(c->dims >= 1 && c->dims <= 3 && c->passes >= 1);
        LOOM_ASSERT(c->n_args <= JOBSPEC_MAX_ARGS);
        for (size_t i = 0; i < c->n_args; i++) {
            const struct jobspec_arg *a = &c->args[i];
            LOOM_ASSERT(a->output == NULL || jobspec_is_safe_name(a->output));
            LOOM_ASSERT(a->type != JOBSPEC_ARG_IN || jobspec_find_input(s, a->file) != NULL);
            LOOM_ASSERT(a->size_bytes <= JOBSPEC_MAX_BUFFER);
        }
    } else if (s->kind == JOBSPEC_TRAIN) {
        LOOM_ASSERT(jobspec_find_input(s, s->u.train.data) != NULL);
    } else {
        LOOM_ASSERT(jobspec_find_input(s, s->u.image.input) != NULL);
        LOOM_ASSERT(s->u.image.n_steps >= 1 && s->u.image.n_steps <= JOBSPEC_MAX_STEPS);
    }
    jobspec_free(s);
    return 0;
}
