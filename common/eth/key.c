/*
 * key -- key files, addresses and EIP-55. The file is read into a small
 * stack buffer with a hard bound (a key file is at most ~70 bytes), and that
 * buffer is wiped on every path.
 * SPDX-License-Identifier: MIT
 */
#include "eth/key.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eth/ecdsa.h"
#include "hex.h"
#include "eth/keccak.h"

enum err key_from_bytes(const uint8_t priv[32], struct key *out)
{
    uint8_t pub[64];
    enum err e = ecdsa_pubkey(priv, pub);
    if (e != ERR_OK)
        return e;
    memcpy(out->priv, priv, 32);
    key_pub_to_addr(pub, out->addr);
    return ERR_OK;
}

enum err key_from_hex(const char *hex, struct key *out)
{
    size_t n = strlen(hex);
    if (n >= 1 && hex[n - 1] == '\n') {
        n--;
        if (n >= 1 && hex[n - 1] == '\r')
            n--;
    }
    size_t skip = (n >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) ? 2 : 0;
    if (n - skip != 64)
        return ERR_INVAL;
    uint8_t priv[32];
    size_t got = 0;
    enum err e = hex_decode(hex, n, priv, sizeof(priv), &got);
    if (e == ERR_OK)
        e = key_from_bytes(priv, out);
    explicit_bzero(priv, sizeof(priv));
    return e;
}

static void set_why(struct buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_why(struct buf *why, const char *fmt, ...)
{
    if (!why)
        return;
    buf_reset(why);
    va_list ap;
    va_start(ap, fmt);
    /* The reason is best effort: a full buffer leaves it empty. */
    if (buf_vappendf(why, fmt, ap) != ERR_OK)
        buf_reset(why);
    va_end(ap);
}

enum err key_load_file(const char *path, struct key *out, struct buf *why)
{
    /* 0x + 64 digits + \r\n is 68 bytes; read one more to detect junk. */
    char text[72];
    enum err e = ERR_OK;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        int errnum = errno;
        if (errnum == ENOENT) {
            set_why(why, "key file \"%s\" does not exist", path);
            return ERR_NOTFOUND;
        }
        if (errnum == ELOOP) {
            set_why(why, "key file \"%s\" is a symbolic link; point to the file itself", path);
            return ERR_PERM;
        }
        set_why(why, "cannot open key file \"%s\": %s", path, strerror(errnum));
        return errnum == EACCES ? ERR_PERM : ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) == -1) {
        set_why(why, "cannot stat key file \"%s\": %s", path, strerror(errno));
        e = ERR_IO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        set_why(why, "key file \"%s\" is not a regular file", path);
        e = ERR_PERM;
        goto out;
    }
    if (st.st_uid != geteuid()) {
        set_why(why, "key file \"%s\" is owned by uid %u, not by this user (uid %u)", path,
                (unsigned)st.st_uid, (unsigned)geteuid());
        e = ERR_PERM;
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        set_why(why, "key file \"%s\" has mode %04o, want 0600 (chmod 600 %s)", path,
                (unsigned)(st.st_mode & 07777), path);
        e = ERR_PERM;
        goto out;
    }
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, text + len, sizeof(text) - 1 - len);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            set_why(why, "cannot read key file \"%s\": %s", path, strerror(errno));
            e = ERR_IO;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == sizeof(text) - 1)
            break;
    }
    text[len] = '\0';
    if (len == sizeof(text) - 1 || memchr(text, '\0', len) != NULL) {
        set_why(why, "key file \"%s\" does not hold one key in hex", path);
        e = ERR_INVAL;
        goto out;
    }
    e = key_from_hex(text, out);
    if (e == ERR_INVAL)
        set_why(why, "key file \"%s\" does not hold one key in hex (64 digits, optional 0x)", path);
    else if (e == ERR_CRYPTO)
        set_why(why, "key file \"%s\" holds an invalid secp256k1 key (zero or >= n)", path);
out:
    explicit_bzero(text, sizeof(text));
    close(fd);
    return e;
}

void key_wipe(struct key *k)
{
    if (k)
        explicit_bzero(k, sizeof(*k));
}

void key_pub_to_addr(const uint8_t pub[64], uint8_t addr[20])
{
    uint8_t h[32];
    keccak256(pub, 64, h);
    memcpy(addr, h + 12, 20);
}

void key_addr_to_checksum(const uint8_t addr[20], char out[KEY_ADDR_HEX_MAX])
{
    /* EIP-55: hash the lower-case hex (without 0x); upper-case each letter
     * whose corresponding hash nibble is >= 8. */
    char lower[41];
    uint8_t h[32];
    hex_encode(addr, 20, false, lower);
    keccak256(lower, 40, h);
    out[0] = '0';
    out[1] = 'x';
    for (int i = 0; i < 40; i++) {
        char c = lower[i];
        int nib = (i % 2 == 0) ? h[i / 2] >> 4 : h[i / 2] & 15;
        if (c >= 'a' && c <= 'f' && nib >= 8)
            c = (char)(c - 'a' + 'A');
        out[2 + i] = c;
    }
    out[42] = '\0';
}

enum err key_addr_parse(const char *s, uint8_t addr[20])
{
    if (strlen(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
        return ERR_INVAL;
    bool has_lower = false, has_upper = false;
    for (int i = 2; i < 42; i++) {
        has_lower |= (s[i] >= 'a' && s[i] <= 'f');
        has_upper |= (s[i] >= 'A' && s[i] <= 'F');
    }
    uint8_t tmp[20];
    if (hex_decode_exact(s, tmp, 20) != ERR_OK)
        return ERR_INVAL;
    if (has_lower && has_upper && !key_addr_is_checksummed(s))
        return ERR_INVAL;
    memcpy(addr, tmp, 20);
    return ERR_OK;
}

bool key_addr_is_checksummed(const char *s)
{
    uint8_t a[20];
    char want[KEY_ADDR_HEX_MAX];
    if (strlen(s) != 42 || s[0] != '0' || s[1] != 'x' || hex_decode_exact(s, a, 20) != ERR_OK)
        return false;
    key_addr_to_checksum(a, want);
    return memcmp(want, s, 42) == 0;
}
