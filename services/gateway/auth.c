/*
 * auth -- canonical request text, signer checks, EIP-4361, session tokens.
 * SPDX-License-Identifier: MIT
 */
#include "auth.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "validate.h"

enum err auth_canonical(const char *method, const char *target, const char *body_sha256,
                        const char *timestamp, const char *nonce, struct buf *out)
{
    return buf_appendf(out, "loom-request-v1\n%s\n%s\n%s\n%s\n%s", method, target, body_sha256,
                       timestamp, nonce);
}

static enum err fail(struct buf *msg, enum err e, const char *why)
{
    buf_reset(msg);
    if (buf_append_str(msg, why) != ERR_OK)
        buf_reset(msg);
    return e;
}

enum err auth_check_request(const struct gw_backend *be, const struct auth_headers *h,
                            const char *method, const char *target, const char *body_sha256,
                            int64_t now, int64_t window_s, char **address_out, int64_t *ts_out,
                            struct buf *msg)
{
    *address_out = NULL;
    if (h->address == NULL || h->timestamp == NULL || h->nonce == NULL || h->signature == NULL)
        return fail(msg, ERR_AUTH,
                    "missing signature headers (X-Loom-Address, X-Loom-Timestamp, "
                    "X-Loom-Nonce, X-Loom-Signature) or session");
    if (validate_address(h->address) != ERR_OK)
        return fail(msg, ERR_INVAL, "X-Loom-Address is not a 0x address of 40 hex digits");
    if (validate_nonce(h->nonce) != ERR_OK)
        return fail(msg, ERR_INVAL, "X-Loom-Nonce must be 8-64 characters of [A-Za-z0-9_-]");
    int64_t ts = 0;
    if (validate_int64(h->timestamp, 0, INT64_MAX / 2, &ts) != ERR_OK)
        return fail(msg, ERR_INVAL, "X-Loom-Timestamp must be unix seconds");
    if (ts < now - window_s || ts > now + window_s)
        return fail(msg, ERR_AUTH, "stale timestamp: outside the accepted window");
    struct buf text;
    buf_init(&text, 0);
    enum err e = auth_canonical(method, target, body_sha256, h->timestamp, h->nonce, &text);
    if (e != ERR_OK)
        goto out;
    char *signer = NULL;
    e = be->verify(be->verify_ctx, text.data, text.len, h->signature, &signer);
    if (e == ERR_NOMEM)
        goto out;
    if (e != ERR_OK) {
        e = fail(msg, ERR_AUTH, "bad signature");
        goto out;
    }
    if (!validate_address_equal(signer, h->address)) {
        free(signer);
        e = fail(msg, ERR_AUTH, "wrong signer: signature is not from X-Loom-Address");
        goto out;
    }
    *address_out = signer;
    *ts_out = ts;
out:
    buf_release(&text);
    return e;
}

/* ---- EIP-4361 --------------------------------------------------------- */

void auth_siwe_release(struct auth_siwe *s)
{
    free(s->domain);
    free(s->address);
    free(s->statement);
    free(s->uri);
    free(s->version);
    free(s->nonce);
    memset(s, 0, sizeof(*s));
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

enum err auth_parse_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &se))
        return ERR_INVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return ERR_INVAL;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return ERR_INVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return ERR_INVAL;
        offset = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return ERR_INVAL;
    }
    if (*p != '\0')
        return ERR_INVAL;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *out = (int64_t)timegm(&tm) - offset;
    return ERR_OK;
}

/* Take the next line (without LF) from *p; NULL at the end. */
static char *next_line(char **p)
{
    if (*p == NULL)
        return NULL;
    char *line = *p;
    char *lf = strchr(line, '\n');
    if (lf) {
        *lf = '\0';
        *p = lf + 1;
    } else {
        *p = NULL;
    }
    return line;
}

static enum err field(const char *line, const char *prefix, char **dst)
{
    size_t n = strlen(prefix);
    if (line == NULL || strncmp(line, prefix, n) != 0 || line[n] == '\0')
        return ERR_INVAL;
    *dst = strdup(line + n);
    return *dst ? ERR_OK : ERR_NOMEM;
}

enum err auth_siwe_parse(const char *text, struct auth_siwe *out, struct buf *msg)
{
    static const char suffix[] = " wants you to sign in with your Ethereum account:";
    memset(out, 0, sizeof(*out));
    enum err e = ERR_NOMEM;
    char *copy = strdup(text);
    if (copy == NULL)
        return ERR_NOMEM;
    char *p = copy, *line;
    const char *why = "first line must be \"<domain> wants you to sign in with your Ethereum "
                      "account:\"";
    line = next_line(&p);
    size_t n = line ? strlen(line) : 0;
    size_t sn = sizeof(suffix) - 1;
    if (line == NULL || n <= sn || strcmp(line + n - sn, suffix) != 0)
        goto bad;
    line[n - sn] = '\0';
    if ((out->domain = strdup(line)) == NULL)
        goto nomem;
    why = "second line must be the 0x address";
    line = next_line(&p);
    if (line == NULL || validate_address(line) != ERR_OK)
        goto bad;
    if ((out->address = strdup(line)) == NULL)
        goto nomem;
    why = "an empty line must follow the address";
    line = next_line(&p);
    if (line == NULL || *line != '\0')
        goto bad;
    line = next_line(&p);
    if (line != NULL && *line != '\0') { /* a statement, then an empty line */
        if ((out->statement = strdup(line)) == NULL)
            goto nomem;
        line = next_line(&p);
        why = "an empty line must follow the statement";
        if (line == NULL || *line != '\0')
            goto bad;
    } else if (line == NULL) {
        goto bad;
    }
    why = "missing \"URI: \" line";
    if ((e = field(next_line(&p), "URI: ", &out->uri)) != ERR_OK)
        goto fail_e;
    why = "missing \"Version: \" line";
    if ((e = field(next_line(&p), "Version: ", &out->version)) != ERR_OK)
        goto fail_e;
    why = "missing or bad \"Chain ID: \" line";
    char *tmp = NULL;
    if ((e = field(next_line(&p), "Chain ID: ", &tmp)) != ERR_OK)
        goto fail_e;
    e = validate_int64(tmp, 1, INT64_MAX, &out->chain_id) == ERR_OK ? ERR_OK : ERR_INVAL;
    free(tmp);
    if (e != ERR_OK)
        goto fail_e;
    why = "missing or bad \"Nonce: \" line (at least 8 alphanumerics)";
    if ((e = field(next_line(&p), "Nonce: ", &out->nonce)) != ERR_OK)
        goto fail_e;
    if (strlen(out->nonce) < 8 || validate_nonce(out->nonce) != ERR_OK ||
        strpbrk(out->nonce, "_-") != NULL) {
        e = ERR_INVAL;
        goto fail_e;
    }
    why = "missing or bad \"Issued At: \" line (RFC 3339)";
    tmp = NULL;
    if ((e = field(next_line(&p), "Issued At: ", &tmp)) != ERR_OK)
        goto fail_e;
    e = auth_parse_rfc3339(tmp, &out->issued_at);
    free(tmp);
    if (e != ERR_OK)
        goto fail_e;
    /* Optional fields, in the order EIP-4361 fixes. */
    line = next_line(&p);
    why = "bad \"Expiration Time: \" line";
    if (line != NULL && strncmp(line, "Expiration Time: ", 17) == 0) {
        if (auth_parse_rfc3339(line + 17, &out->expiration) != ERR_OK)
            goto bad;
        line = next_line(&p);
    }
    why = "bad \"Not Before: \" line";
    if (line != NULL && strncmp(line, "Not Before: ", 12) == 0) {
        if (auth_parse_rfc3339(line + 12, &out->not_before) != ERR_OK)
            goto bad;
        line = next_line(&p);
    }
    if (line != NULL && strncmp(line, "Request ID: ", 12) == 0)
        line = next_line(&p);
    why = "bad \"Resources:\" list";
    if (line != NULL && strcmp(line, "Resources:") == 0) {
        while ((line = next_line(&p)) != NULL && strncmp(line, "- ", 2) == 0)
            ;
    }
    why = "unexpected trailing text";
    if (line != NULL && !(*line == '\0' && p == NULL))
        goto bad;
    free(copy);
    return ERR_OK;
nomem:
    e = ERR_NOMEM;
    goto fail_e;
bad:
    e = ERR_INVAL;
fail_e:
    if (e == ERR_INVAL) {
        buf_reset(msg);
        if (buf_appendf(msg, "malformed sign-in message: %s", why) != ERR_OK)
            buf_reset(msg);
    }
    free(copy);
    auth_siwe_release(out);
    return e;
}

enum err auth_siwe_check(const struct auth_siwe *s, const char *domain, int64_t chain_id,
                         int64_t now, int64_t skew_s, struct buf *msg)
{
    if (strcmp(s->domain, domain) != 0)
        return fail(msg, ERR_AUTH, "sign-in message is for another domain");
    if (s->chain_id != chain_id)
        return fail(msg, ERR_AUTH, "sign-in message is for another chain id");
    if (strcmp(s->version, "1") != 0)
        return fail(msg, ERR_AUTH, "sign-in message version must be 1");
    if (s->issued_at > now + skew_s)
        return fail(msg, ERR_AUTH, "sign-in message issued in the future");
    if (s->expiration != 0 && s->expiration <= now)
        return fail(msg, ERR_AUTH, "sign-in message expired");
    if (s->not_before != 0 && s->not_before > now + skew_s)
        return fail(msg, ERR_AUTH, "sign-in message not valid yet");
    return ERR_OK;
}

/* ---- sessions --------------------------------------------------------- */

static enum err session_mac(const unsigned char *key, size_t key_len, const char *body,
                            char hex[65])
{
    unsigned char mac[32];
    digest_hmac_sha256(key, key_len, body, strlen(body), mac);
    digest_to_hex(mac, sizeof(mac), hex);
    return ERR_OK;
}

enum err auth_session_issue(const unsigned char *key, size_t key_len, const char *address,
                            int64_t expires_at, struct buf *out)
{
    struct buf body;
    buf_init(&body, 256);
    char lower[43];
    if (validate_address(address) != ERR_OK)
        return ERR_INVAL;
    for (size_t i = 0; i < 43; i++)
        lower[i] = (char)((address[i] >= 'A' && address[i] <= 'F') ? address[i] + 32 : address[i]);
    lower[1] = 'x';
    enum err e = buf_appendf(&body, "v1.%s.%lld", lower, (long long)expires_at);
    char hex[65];
    if (e == ERR_OK && (e = session_mac(key, key_len, body.data, hex)) == ERR_OK)
        e = buf_appendf(out, "%s.%s", body.data, hex);
    buf_release(&body);
    return e;
}

enum err auth_session_check(const unsigned char *key, size_t key_len, const char *token,
                            int64_t now, char **address_out)
{
    /* v1.0x<40 hex>.<digits>.<64 hex> */
    size_t n = strlen(token);
    if (n < 3 + 42 + 2 + 1 + 64 || n > 200 || strncmp(token, "v1.", 3) != 0)
        return ERR_AUTH;
    const char *mac = token + n - 64;
    if (mac[-1] != '.')
        return ERR_AUTH;
    struct buf body;
    buf_init(&body, 256);
    enum err e = buf_append(&body, token, (size_t)(mac - 1 - token));
    if (e != ERR_OK) {
        buf_release(&body);
        return e;
    }
    char want[65];
    e = session_mac(key, key_len, body.data, want);
    /* Constant-time compare: the MAC must not leak byte by byte. */
    unsigned diff = 0;
    for (size_t i = 0; i < 64; i++)
        diff |= (unsigned)(want[i] ^ mac[i]);
    e = ERR_AUTH;
    if (diff == 0 && body.len > 3 + 42 + 1 && body.data[3 + 42] == '.') {
        int64_t exp = 0;
        body.data[3 + 42] = '\0';
        if (validate_int64(body.data + 3 + 43, 1, INT64_MAX, &exp) == ERR_OK && exp > now &&
            validate_address(body.data + 3) == ERR_OK) {
            *address_out = strdup(body.data + 3);
            e = *address_out ? ERR_OK : ERR_NOMEM;
        }
    }
    buf_release(&body);
    return e;
}

enum err auth_cookie_get(const char *header, const char *name, struct buf *out)
{
    size_t nl = strlen(name);
    const char *p = header;
    while (*p != '\0') {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
            return buf_append(out, p + nl + 1, len - nl - 1) == ERR_OK ? ERR_OK : ERR_TOOBIG;
        p += len;
    }
    return ERR_NOTFOUND;
}
