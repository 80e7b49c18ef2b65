/*
 * log -- JSON lines on stderr. The formatter walks the field list itself so
 * that string values are escaped; it stays in a fixed-size stack area and
 * truncates rather than allocate, so logging never fails for lack of memory.
 * SPDX-License-Identifier: MIT
 */
#include "log.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 65536

static const char *log_service = "loom";
static enum log_level log_min = LOG_LEVEL_INFO;
static int log_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, enum log_level min_level)
{
    log_service = service ? service : "loom";
    log_min = min_level;
}

void log_set_level(enum log_level min_level)
{
    log_min = min_level;
}

void log_set_fd(int fd)
{
    log_fd = fd;
}

int log_is_enabled(enum log_level level)
{
    return level >= log_min;
}

const char *log_level_name(enum log_level level)
{
    if ((unsigned)level > LOG_LEVEL_ERROR)
        return "unknown";
    return level_names[level];
}

enum err log_level_parse(const char *s, enum log_level *out)
{
    for (unsigned i = 0; i <= LOG_LEVEL_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return ERR_OK;
        }
    }
    return ERR_INVAL;
}

/* A bounded writer over a stack array: once full it stops and remembers. */
struct line {
    char *p;
    size_t len;
    size_t cap;
    int truncated;
    size_t last_good; /* length at the end of the last complete field */
};

static void put(struct line *l, const char *s, size_t n)
{
    if (l->truncated)
        return;
    if (n > l->cap - l->len) {
        l->truncated = 1;
        return;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void puts_raw(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static void put_json_string(struct line *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c == '\n') {
            put(l, "\\n", 2);
        } else if (c == '\t') {
            put(l, "\\t", 2);
        } else if (c == '\r') {
            put(l, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            put(l, esc, 6);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
    put(l, "\"", 1);
}

static void put_fmt(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct line *l, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(l, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/*
 * Consume one conversion at *pp (just past '%') and write its value.
 * Supports the length modifiers hh h l ll z j and conversions d i u x s g f
 * c p; others are written as the literal text.
 */
static void put_value(struct line *l, const char **pp, va_list *ap)
{
    const char *p = *pp;
    int lmod = 0; /* 0 int, 1 long, 2 long long, 3 size_t, 4 intmax */
    while (*p == 'h')
        p++;
    if (p[0] == 'l' && p[1] == 'l') {
        lmod = 2;
        p += 2;
    } else if (*p == 'l') {
        lmod = 1;
        p++;
    } else if (*p == 'z') {
        lmod = 3;
        p++;
    } else if (*p == 'j') {
        lmod = 4;
        p++;
    }
    char conv = *p ? *p++ : '\0';
    switch (conv) {
    case 'd':
    case 'i': {
        long long v = lmod == 0   ? va_arg(*ap, int)
                      : lmod == 1 ? va_arg(*ap, long)
                      : lmod == 2 ? va_arg(*ap, long long)
                      : lmod == 3 ? (long long)va_arg(*ap, size_t)
                                  : (long long)va_arg(*ap, intmax_t);
        put_fmt(l, "%lld", v);
        break;
    }
    case 'u':
    case 'x': {
        unsigned long long v = lmod == 0   ? va_arg(*ap, unsigned)
                               : lmod == 1 ? va_arg(*ap, unsigned long)
                               : lmod == 2 ? va_arg(*ap, unsigned long long)
                               : lmod == 3 ? va_arg(*ap, size_t)
                                           : (unsigned long long)va_arg(*ap, uintmax_t);
        if (conv == 'x')
            put_fmt(l, "\"0x%llx\"", v);
        else
            put_fmt(l, "%llu", v);
        break;
    }
    case 'g':
    case 'f': {
        double v = va_arg(*ap, double);
        if (isfinite(v))
            put_fmt(l, conv == 'g' ? "%.17g" : "%f", v);
        else
            puts_raw(l, "null");
        break;
    }
    case 'c': {
        char c = (char)va_arg(*ap, int);
        put_json_string(l, &c, 1);
        break;
    }
    case 'p':
        put_fmt(l, "\"%p\"", va_arg(*ap, void *));
        break;
    case 's': {
        const char *s = va_arg(*ap, const char *);
        if (s)
            put_json_string(l, s, strlen(s));
        else
            puts_raw(l, "null");
        break;
    }
    default:
        puts_raw(l, "null");
        break;
    }
    *pp = p;
}

static void put_fields(struct line *l, const char *f, va_list *ap)
{
    while (f && *f) {
        while (*f == ' ')
            f++;
        if (!*f)
            break;
        const char *eq = f;
        while (*eq && *eq != '=' && *eq != ' ')
            eq++;
        if (!l->truncated)
            l->last_good = l->len;
        put(l, ",", 1);
        put_json_string(l, f, (size_t)(eq - f));
        put(l, ":", 1);
        if (*eq != '=') { /* a bare word: a flag set to true */
            puts_raw(l, "true");
            f = eq;
            continue;
        }
        f = eq + 1;
        if (f[0] == '%' && f[1] != '%') {
            f++;
            put_value(l, &f, ap);
            /* text glued to a conversion ("%dms") is dropped: keep units in keys */
            while (*f && *f != ' ')
                f++;
        } else {
            const char *end = f;
            while (*end && *end != ' ')
                end++;
            put_json_string(l, f, (size_t)(end - f));
            f = end;
        }
    }
}

void log_vwrite(enum log_level level, const char *event, const char *fields, va_list ap)
{
    if (!log_is_enabled(level))
        return;
    char storage[LOG_LINE_MAX];
    struct line l = {storage, 0, sizeof storage - 32, 0, 0}; /* room to close */

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char tbuf[96];
    snprintf(tbuf, sizeof tbuf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    puts_raw(&l, "{\"ts\":\"");
    puts_raw(&l, tbuf);
    puts_raw(&l, "\",\"service\":");
    put_json_string(&l, log_service, strlen(log_service));
    puts_raw(&l, ",\"level\":\"");
    puts_raw(&l, log_level_name(level));
    puts_raw(&l, "\",\"event\":");
    put_json_string(&l, event ? event : "", event ? strlen(event) : 0);

    l.last_good = l.len;
    va_list cp;
    va_copy(cp, ap);
    put_fields(&l, fields, &cp);
    va_end(cp);

    if (l.truncated) {
        /* Drop the field that did not fit, so the line still parses. */
        l.len = l.last_good;
        l.truncated = 0;
        l.cap += 32;
        puts_raw(&l, ",\"truncated\":true");
    }
    l.cap = sizeof storage;
    puts_raw(&l, "}\n");
    ssize_t off = 0;
    while ((size_t)off < l.len) {
        ssize_t n = write(log_fd, storage + off, l.len - (size_t)off);
        if (n <= 0)
            break; /* nowhere else to report it */
        off += n;
    }
}

void log_write(enum log_level level, const char *event, const char *fields, ...)
{
    va_list ap;
    va_start(ap, fields);
    log_vwrite(level, event, fields, ap);
    va_end(ap);
}
