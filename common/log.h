/*
 * log -- one JSON object per line on stderr (DESIGN.md "Configuration, logs").
 *
 * Every line carries ts (UTC, ms), service, level and event; callers add
 * fields with a printf-compatible field list, "key=%spec key=%spec ...", so
 * the compiler checks argument types:
 *
 *   LOG_INFO("job.claimed", "job_id=%lld tx=%s", (long long)id, tx_hex);
 *   -> {"ts":"...","service":"worker","level":"info","event":"job.claimed",
 *       "job_id":42,"tx":"0xab.."}
 *
 * %s values are JSON-escaped strings (NULL gives null); integer and %g/%f
 * conversions become JSON numbers (NaN and infinities become null). The level
 * is tested before anything is formatted. Each line goes out in a single
 * write(2), so lines from several threads never interleave.
 * Not here: log files or rotation (operators redirect stderr).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_LOG_H
#define LOOM_LOG_H

#include <stdarg.h>

#include "err.h"

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Set the service name put on every line (borrowed; must outlive logging)
 * and the minimum level written. Call once at start-up. */
void log_init(const char *service, enum log_level min_level);

/* Change the minimum level. */
void log_set_level(enum log_level min_level);

/* Redirect output to file descriptor <fd> (default 2). For tests. */
void log_set_fd(int fd);

/* Return non-zero when a line at <level> would be written. */
int log_is_enabled(enum log_level level);

/*
 * Parse "debug", "info", "warn" or "error" (case-sensitive) into *out.
 * Returns ERR_OK or ERR_INVAL (unknown name; *out unchanged).
 */
LOOM_MUST_CHECK enum err log_level_parse(const char *s, enum log_level *out);

/* Name of <level>: "debug", "info", "warn", "error". Static storage. */
const char *log_level_name(enum log_level level);

/*
 * Write one line. <event> is a dotted event name ("job.claimed"); <fields>
 * is a "key=%spec ..." list as above (NULL or "" for none). A token without
 * a conversion ("cause=disk") is written as a string field. Lines longer
 * than 64 KiB are truncated with "truncated":true. Use the LOG_* macros,
 * which skip formatting when the level is off.
 */
void log_write(enum log_level level, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

void log_vwrite(enum log_level level, const char *event, const char *fields, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define LOG_AT(lvl, event, ...)                                                                    \
    do {                                                                                           \
        if (log_is_enabled(lvl))                                                                   \
            log_write(lvl, event, __VA_ARGS__);                                                    \
    } while (0)
#define LOG_DEBUG(event, ...) LOG_AT(LOG_LEVEL_DEBUG, event, __VA_ARGS__)
#define LOG_INFO(event, ...)  LOG_AT(LOG_LEVEL_INFO, event, __VA_ARGS__)
#define LOG_WARN(event, ...)  LOG_AT(LOG_LEVEL_WARN, event, __VA_ARGS__)
#define LOG_ERROR(event, ...) LOG_AT(LOG_LEVEL_ERROR, event, __VA_ARGS__)

#endif
