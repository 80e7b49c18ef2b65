/*
 * backend -- deep copy and free of the interface's value types.
 * SPDX-License-Identifier: MIT
 */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

void gw_file_release(struct gw_file *f)
{
    if (f == NULL)
        return;
    free(f->name);
    free(f->sha256);
    memset(f, 0, sizeof(*f));
}

void gw_job_release(struct gw_job *job)
{
    if (job == NULL)
        return;
    free(job->title);
    free(job->description);
    free(job->type);
    free(job->client);
    free(job->worker);
    free(job->status);
    free(job->spec_sha256);
    free(job->chain_job_id);
    free(job->escrow_wei);
    free(job->result_sha256);
    free(job->cloud_link);
    free(job->external_links);
    for (size_t i = 0; i < job->n_files; i++)
        gw_file_release(&job->files[i]);
    free(job->files);
    memset(job, 0, sizeof(*job));
}

static int dup_opt(char **dst, const char *src)
{
    if (src == NULL) {
        *dst = NULL;
        return 0;
    }
    *dst = strdup(src);
    return *dst == NULL;
}

enum err gw_file_copy(struct gw_file *dst, const struct gw_file *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->size_bytes = src->size_bytes;
    if (dup_opt(&dst->name, src->name) | dup_opt(&dst->sha256, src->sha256)) {
        gw_file_release(dst);
        return ERR_NOMEM;
    }
    return ERR_OK;
}

enum err gw_job_copy(struct gw_job *dst, const struct gw_job *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->id = src->id;
    dst->price_usd_cents = src->price_usd_cents;
    dst->progress = src->progress;
    dst->created_at = src->created_at;
    dst->result_size_bytes = src->result_size_bytes;
    dst->deadline_at = src->deadline_at;
    dst->max_runtime_s = src->max_runtime_s;
    int bad = dup_opt(&dst->title, src->title) | dup_opt(&dst->description, src->description) |
              dup_opt(&dst->type, src->type) | dup_opt(&dst->client, src->client) |
              dup_opt(&dst->worker, src->worker) | dup_opt(&dst->status, src->status) |
              dup_opt(&dst->spec_sha256, src->spec_sha256) |
              dup_opt(&dst->chain_job_id, src->chain_job_id) |
              dup_opt(&dst->escrow_wei, src->escrow_wei) |
              dup_opt(&dst->result_sha256, src->result_sha256) |
              dup_opt(&dst->cloud_link, src->cloud_link) |
              dup_opt(&dst->external_links, src->external_links);
    if (!bad && src->n_files > 0) {
        dst->files = calloc(src->n_files, sizeof(*dst->files));
        bad = dst->files == NULL;
        for (size_t i = 0; !bad && i < src->n_files; i++) {
            bad = gw_file_copy(&dst->files[i], &src->files[i]) != ERR_OK;
            if (!bad)
                dst->n_files = i + 1;
        }
    }
    if (bad) {
        gw_job_release(dst);
        return ERR_NOMEM;
    }
    return ERR_OK;
}
