/*
 * codec -- the gateway's JSON bodies: jobs, pages of jobs, quotes, errors
 * out; job fields, progress and sign-in requests in.
 *
 * The only gateway module that calls cJSON (STYLE.md: one module per foreign
 * library); when proto/ grows job codecs these move there. Parsers take
 * untrusted bytes and say what is wrong in <msg> (a one-line reason for the
 * client). Threading: pure functions.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_CODEC_H
#define LOOM_GW_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "buf.h"
#include "err.h"

/* Fields of a new job as a client sent them (JSON or form), not yet validated.
 * Strings are heap copies (NULL when absent); codec_job_fields_release frees. */
struct codec_job_fields {
    char *title;
    char *description;
    char *type;
    char *cloud_link;
    char *external_links;
    int64_t price_usd_cents;
    int has_price;
};

void codec_job_fields_release(struct codec_job_fields *f);

/*
 * Parse a JSON object {"title":..., "type":..., "price_usd_cents":N, ...}.
 * Unknown keys are ignored; a key of the wrong JSON type is an error.
 * Returns ERR_OK, ERR_INVAL (msg says which key or "malformed JSON"), ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err codec_parse_job_fields(const char *json, size_t len,
                                                struct codec_job_fields *out, struct buf *msg);

/* Parse {"progress": 0..100}. ERR_OK, ERR_INVAL (msg set). */
LOOM_MUST_CHECK enum err codec_parse_progress(const char *json, size_t len, int *progress,
                                              struct buf *msg);

/* Parse {"message": "...", "signature": "0x..."} (EIP-4361 sign-in). Strings
 * are heap copies the caller frees. ERR_OK, ERR_INVAL (msg set), ERR_NOMEM. */
LOOM_MUST_CHECK enum err codec_parse_siwe(const char *json, size_t len, char **message,
                                          char **signature, struct buf *msg);

/* Check that <len> bytes are one JSON object (a job spec). ERR_OK or ERR_INVAL. */
LOOM_MUST_CHECK enum err codec_check_object(const char *json, size_t len);

/* Append the JSON of <job> / a page of jobs / a quote / an error body to <out>.
 * Return ERR_OK, ERR_NOMEM, ERR_TOOBIG (out's cap). */
LOOM_MUST_CHECK enum err codec_job(const struct gw_job *job, struct buf *out);
LOOM_MUST_CHECK enum err codec_jobs(const struct gw_job *jobs, size_t n, int64_t next_before_id,
                                    struct buf *out);
LOOM_MUST_CHECK enum err codec_quote(const struct gw_quote *q, struct buf *out);
/* {"error":{"code":<code>,"message":<message>}} */
LOOM_MUST_CHECK enum err codec_error(const char *code, const char *message, struct buf *out);
/* {"address":..., "expires_at":N} for a sign-in. */
LOOM_MUST_CHECK enum err codec_session(const char *address, int64_t expires_at, struct buf *out);

#endif
