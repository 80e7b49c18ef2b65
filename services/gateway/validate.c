/*
 * validate -- small checks on untrusted strings.
 * SPDX-License-Identifier: MIT
 */
#include "validate.h"

#include <string.h>
#include <strings.h>

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

enum err validate_filename(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > VALIDATE_FILENAME_MAX)
        return ERR_INVAL;
    if (strcmp(name, ".") == 0 || strstr(name, "..") != NULL)
        return ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
            return ERR_INVAL;
    }
    return ERR_OK;
}

enum err validate_address(const char *s)
{
    if (strlen(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return ERR_INVAL;
    for (size_t i = 2; i < 42; i++)
        if (!is_hex(s[i]))
            return ERR_INVAL;
    return ERR_OK;
}

int validate_address_equal(const char *a, const char *b)
{
    return strlen(a) == 42 && strlen(b) == 42 && strcasecmp(a + 2, b + 2) == 0;
}

enum err validate_sha256_hex(const char *s)
{
    if (strlen(s) != 64)
        return ERR_INVAL;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return ERR_INVAL;
    return ERR_OK;
}

enum err validate_nonce(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || n > 64)
        return ERR_INVAL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return ERR_INVAL;
    }
    return ERR_OK;
}

enum err validate_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int neg = 0;
    const char *p = s;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    size_t n = strlen(p);
    if (n == 0 || n > 19)
        return ERR_INVAL;
    if (n > 1 && p[0] == '0')
        return ERR_INVAL;
    /* Accumulate negatively so INT64_MIN parses without overflow. */
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return ERR_INVAL;
        int d = p[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return ERR_RANGE;
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == INT64_MIN)
            return ERR_RANGE;
        v = -v;
    }
    if (neg && v == 0 && n >= 1)
        v = 0;
    if (v < min || v > max)
        return ERR_RANGE;
    *out = v;
    return ERR_OK;
}
