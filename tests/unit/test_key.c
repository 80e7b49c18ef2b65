/* Unit tests for common/eth/key and common/eth/ecdsa. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eth/ecdsa.h"
#include "hex.h"
#include "eth/key.h"

/* anvil's first dev account (public test key). */
static const char *ANVIL_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
static const char *ANVIL_ADDR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

static void assert_addr(const uint8_t a[20], const char *want)
{
    char s[KEY_ADDR_HEX_MAX];
    key_addr_to_checksum(a, s);
    assert_string_equal(s, want);
}

static void test_from_hex(void **state)
{
    (void)state;
    struct key k;
    assert_int_equal(key_from_hex(ANVIL_KEY, &k), ERR_OK);
    assert_addr(k.addr, ANVIL_ADDR);
    char with[80];
    snprintf(with, sizeof(with), "0x%s\n", ANVIL_KEY);
    assert_int_equal(key_from_hex(with, &k), ERR_OK);
    snprintf(with, sizeof(with), "%s\r\n", ANVIL_KEY);
    assert_int_equal(key_from_hex(with, &k), ERR_OK);
    assert_addr(k.addr, ANVIL_ADDR);
    snprintf(with, sizeof(with), "%s\n\n", ANVIL_KEY);
    assert_int_equal(key_from_hex(with, &k), ERR_INVAL);
    assert_int_equal(key_from_hex("0x1234", &k), ERR_INVAL);
    snprintf(with, sizeof(with), "%.63sz", ANVIL_KEY);
    assert_int_equal(key_from_hex(with, &k), ERR_INVAL);
    assert_int_equal(
        key_from_hex("0000000000000000000000000000000000000000000000000000000000000000", &k),
        ERR_CRYPTO);
    /* the curve order n itself */
    assert_int_equal(
        key_from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", &k),
        ERR_CRYPTO);
    key_wipe(&k);
    uint8_t zero[sizeof(k)] = {0};
    assert_memory_equal(&k, zero, sizeof(k));
    key_wipe(NULL);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/loom-keytest.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], link[256], text[100];
    snprintf(path, sizeof(path), "%s/key", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    struct key k;
    struct buf why;
    buf_init(&why, 0);

    snprintf(text, sizeof(text), "0x%s\n", ANVIL_KEY);
    write_file(path, text, 0600);
    assert_int_equal(key_load_file(path, &k, &why), ERR_OK);
    assert_addr(k.addr, ANVIL_ADDR);
    assert_int_equal(key_load_file(path, &k, NULL), ERR_OK);

    write_file(path, text, 0400);
    assert_int_equal(key_load_file(path, &k, &why), ERR_OK);

    write_file(path, text, 0644);
    assert_int_equal(key_load_file(path, &k, &why), ERR_PERM);
    assert_non_null(strstr(buf_cstr(&why), "has mode 0644, want 0600"));
    write_file(path, text, 0640);
    assert_int_equal(key_load_file(path, &k, NULL), ERR_PERM);

    write_file(path, text, 0600);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(key_load_file(link, &k, &why), ERR_PERM);
    assert_non_null(strstr(buf_cstr(&why), "symbolic link"));

    if (geteuid() == 0) { /* only root can give a file away */
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(key_load_file(path, &k, &why), ERR_PERM);
        assert_non_null(strstr(buf_cstr(&why), "owned by uid 65534"));
    }

    assert_int_equal(key_load_file(dir, &k, &why), ERR_PERM); /* a directory */
    assert_non_null(strstr(buf_cstr(&why), "not a regular file"));

    snprintf(text, sizeof(text), "%s", "not a key\n");
    write_file(path, text, 0600);
    assert_int_equal(key_load_file(path, &k, &why), ERR_INVAL);
    assert_non_null(strstr(buf_cstr(&why), "does not hold one key"));
    snprintf(text, sizeof(text), "0x%s\n%s", ANVIL_KEY, "0123456789");
    write_file(path, text, 0600);
    assert_int_equal(key_load_file(path, &k, &why), ERR_INVAL);
    write_file(path, "0000000000000000000000000000000000000000000000000000000000000000", 0600);
    assert_int_equal(key_load_file(path, &k, &why), ERR_CRYPTO);

    unlink(path);
    assert_int_equal(key_load_file(path, &k, &why), ERR_NOTFOUND);
    assert_non_null(strstr(buf_cstr(&why), "does not exist"));
    unlink(link);
    rmdir(dir);
    buf_release(&why);
    key_wipe(&k);
}

/* EIP-55's published test addresses. */
static void test_eip55(void **state)
{
    (void)state;
    static const char *good[] = {
        "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77", "0x27b1fdb04752bbc536007a920d24acb045561c26",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint8_t a[20];
        char s[KEY_ADDR_HEX_MAX];
        assert_int_equal(key_addr_parse(good[i], a), ERR_OK);
        key_addr_to_checksum(a, s);
        assert_string_equal(s, good[i]);
        assert_true(key_addr_is_checksummed(good[i]));
    }
    uint8_t a[20];
    /* one letter's case flipped */
    assert_int_equal(key_addr_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", a), ERR_INVAL);
    assert_false(key_addr_is_checksummed("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"));
    assert_int_equal(key_addr_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", a), ERR_OK);
    assert_false(key_addr_is_checksummed("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));
    assert_int_equal(key_addr_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea", a), ERR_INVAL);
    assert_int_equal(key_addr_parse("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00", a), ERR_INVAL);
    assert_int_equal(key_addr_parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", a), ERR_INVAL);
    assert_false(key_addr_is_checksummed("0x5aAeb"));
}

/* A signature by anvil's key over 32 bytes of 0x11, from
 * `cast wallet sign --no-hash` (Foundry 1.7.1). */
static void test_sign_known(void **state)
{
    (void)state;
    struct key k;
    uint8_t h[32], rsv[65], want[65], addr[20];
    struct sig sg, back;
    memset(h, 0x11, 32);
    assert_int_equal(key_from_hex(ANVIL_KEY, &k), ERR_OK);
    assert_int_equal(ecdsa_sign(k.priv, h, &sg), ERR_OK);
    sig_to_rsv(&sg, rsv);
    assert_int_equal(
        hex_decode_exact("0x0f7ab7fdc86593590dfcf2e79ffe37056ed62d7191979e42979d39942847fbb9"
                         "04f14566b0640bb3c10128294cda733f61fa74f3dc846979c55115e92b0a1b751b",
                         want, 65),
        ERR_OK);
    assert_memory_equal(rsv, want, 65);
    assert_int_equal(sig_from_rsv(rsv, &back), ERR_OK);
    assert_int_equal(ecdsa_recover_address(h, &back, addr), ERR_OK);
    assert_memory_equal(addr, k.addr, 20);
    uint8_t pub[64], pub2[64];
    assert_int_equal(ecdsa_pubkey(k.priv, pub), ERR_OK);
    assert_int_equal(ecdsa_recover(h, &back, pub2), ERR_OK);
    assert_memory_equal(pub, pub2, 64);
    assert_true(ecdsa_seckey_is_valid(k.priv));
    key_wipe(&k);
}

static void test_sign_errors(void **state)
{
    (void)state;
    uint8_t zero[32] = {0}, h[32], addr[20], pub[64], rsv[65];
    struct sig sg;
    memset(h, 0x22, 32);
    assert_false(ecdsa_seckey_is_valid(zero));
    assert_int_equal(ecdsa_sign(zero, h, &sg), ERR_CRYPTO);
    assert_int_equal(ecdsa_pubkey(zero, pub), ERR_CRYPTO);

    struct key k;
    assert_int_equal(key_from_hex(ANVIL_KEY, &k), ERR_OK);
    for (int i = 0; i < 50; i++) {
        h[0] = (uint8_t)i;
        assert_int_equal(ecdsa_sign(k.priv, h, &sg), ERR_OK);
        assert_true(sg.s[0] < 0x80); /* low s */
        assert_int_equal(ecdsa_recover_address(h, &sg, addr), ERR_OK);
        assert_memory_equal(addr, k.addr, 20);
    }
    /* high s: s' = n - s with the other recid is the same signature, refused (EIP-2) */
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                  0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    struct sig hi = sg;
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = n[i] - sg.s[i] - borrow;
        borrow = d < 0;
        hi.s[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    hi.recid ^= 1;
    assert_int_equal(ecdsa_recover_address(h, &hi, addr), ERR_CRYPTO);
    struct sig bad = sg;
    bad.recid = 2;
    assert_int_equal(ecdsa_recover_address(h, &bad, addr), ERR_CRYPTO);
    bad = sg;
    memset(bad.r, 0, 32);
    assert_int_equal(ecdsa_recover_address(h, &bad, addr), ERR_CRYPTO);
    bad = sg;
    memcpy(bad.r, n, 32); /* r = n overflows */
    assert_int_equal(ecdsa_recover_address(h, &bad, addr), ERR_CRYPTO);
    /* another hash recovers another address */
    h[1] ^= 1;
    assert_int_equal(ecdsa_recover_address(h, &sg, addr), ERR_OK);
    assert_memory_not_equal(addr, k.addr, 20);

    sig_to_rsv(&sg, rsv);
    rsv[64] = 1;
    assert_int_equal(sig_from_rsv(rsv, &bad), ERR_OK);
    assert_int_equal(bad.recid, 1);
    rsv[64] = 29;
    assert_int_equal(sig_from_rsv(rsv, &bad), ERR_INVAL);
    rsv[64] = 2;
    assert_int_equal(sig_from_rsv(rsv, &bad), ERR_INVAL);
    key_wipe(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_hex),    cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_eip55),       cmocka_unit_test(test_sign_known),
        cmocka_unit_test(test_sign_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
