/*
 * Differential tests of common/eth against Foundry's cast (1.7.1, from
 * node_modules/.bin/cast or $LOOM_CAST), all offline, on random inputs from
 * a fixed seed. Each cast start costs ~60 ms of CPU, so the counts are
 * chosen to keep the step near 60 s of CPU on two busy cores, and ABI
 * values are batched (one abi-encode / abi-decode call takes a parameter
 * list of ABI_PER_CALL random types). Counts: keccak 200 inputs; abi-encode
 * 300 values in 20 calls; abi-decode 300 values in 20 calls; wallet sign
 * (personal_sign) 200; mktx 100 legacy and 100 EIP-1559; decode-transaction
 * 200. Up to CAST_PARALLEL cast processes run at once. Skipped when cast is
 * missing.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eth/abi.h"
#include "eth/ecdsa.h"
#include "eth/eip191.h"
#include "hex.h"
#include "eth/keccak.h"
#include "eth/key.h"
#include "eth/tx.h"

#define N_KECCAK     200
#define ABI_PER_CALL 15 /* random parameters per abi-encode / abi-decode call */
#define N_ABI_ENCODE 20 /* calls */
#define N_ABI_DECODE 20 /* calls */
#define N_SIGN       200
#define N_MKTX       100 /* per type */
#define N_DECODE_TX  200

static const char *cast_path;
static uint64_t rng = 0x5eed5eed12345678ULL;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, good enough for test inputs */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

static uint64_t rnd_below(uint64_t n)
{
    return rnd() % n;
}

static void rnd_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

/* A cast invocation whose output is compared later. */
struct job {
    char **argv; /* owned, NULL-terminated, each string owned */
    struct buf out;
    int rc;
};

static char **argv_dup(char *const *argv)
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **v = calloc(n + 1, sizeof(*v));
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = strdup(argv[i]);
    return v;
}

static void job_free(struct job *j)
{
    for (size_t i = 0; j->argv && j->argv[i]; i++)
        free(j->argv[i]);
    free(j->argv);
    buf_release(&j->out);
}

/* Run every job, CAST_PARALLEL at a time (cast mostly waits on its own
 * start-up, so overlapping calls cuts the wall time on two cores). */
#define CAST_PARALLEL 4
static void run_jobs(struct job *jobs, size_t n)
{
    struct {
        pid_t pid;
        int fd;
        size_t idx;
    } run[CAST_PARALLEL];
    size_t next = 0, active = 0;
    char tmp[4096];
    while (next < n || active > 0) {
        while (active < CAST_PARALLEL && next < n) {
            int fds[2];
            assert_int_equal(pipe(fds), 0);
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                dup2(fds[1], 1);
                close(fds[0]);
                close(fds[1]);
                execv(cast_path, jobs[next].argv);
                _exit(127);
            }
            close(fds[1]);
            buf_init(&jobs[next].out, 0);
            run[active].pid = pid;
            run[active].fd = fds[0];
            run[active].idx = next++;
            active++;
        }
        struct pollfd pfd[CAST_PARALLEL];
        for (size_t i = 0; i < active; i++)
            pfd[i] = (struct pollfd){.fd = run[i].fd, .events = POLLIN};
        assert_true(poll(pfd, active, -1) > 0);
        for (size_t i = 0; i < active; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t r = read(run[i].fd, tmp, sizeof(tmp));
            if (r > 0) {
                assert_int_equal(buf_append(&jobs[run[i].idx].out, tmp, (size_t)r), ERR_OK);
                continue;
            }
            struct job *j = &jobs[run[i].idx];
            int status;
            close(run[i].fd);
            assert_int_equal(waitpid(run[i].pid, &status, 0), run[i].pid);
            j->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            while (j->out.len && isspace((unsigned char)j->out.data[j->out.len - 1]))
                j->out.data[--j->out.len] = '\0';
            run[i] = run[--active];
            pfd[i] = pfd[active];
            i--;
        }
    }
}

static int setup(void **state)
{
    (void)state;
    unsetenv("ETH_RPC_URL"); /* everything below must work offline */
    cast_path = getenv("LOOM_CAST");
    if (!cast_path)
        cast_path = "node_modules/.bin/cast";
    return 0;
}

#define NEED_CAST()                                                                                \
    do {                                                                                           \
        if (access(cast_path, X_OK) != 0) {                                                        \
            print_message("cast not found at %s\n", cast_path);                                    \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static char *hexdup(const void *p, size_t n)
{
    char *s = malloc(2 * n + 3);
    hex_encode(p, n, true, s);
    return s;
}

static void test_keccak(void **state)
{
    (void)state;
    NEED_CAST();
    static uint8_t data[N_KECCAK][400];
    size_t len[N_KECCAK];
    struct job jobs[N_KECCAK];
    for (int i = 0; i < N_KECCAK; i++) {
        len[i] = 1 + rnd_below(i < 20 ? 400 : 150); /* cast reads "0x" as empty text */
        rnd_bytes(data[i], len[i]);
        char *arg = hexdup(data[i], len[i]);
        char *argv[] = {"cast", "keccak", arg, NULL};
        jobs[i].argv = argv_dup(argv);
        free(arg);
    }
    run_jobs(jobs, N_KECCAK);
    for (int i = 0; i < N_KECCAK; i++) {
        uint8_t h[32];
        char hx[67];
        assert_int_equal(jobs[i].rc, 0);
        keccak256(data[i], len[i], h);
        hex_encode(h, 32, true, hx);
        assert_string_equal(buf_cstr(&jobs[i].out), hx);
        job_free(&jobs[i]);
    }
}

/* ---- random ABI types and values ---- */

static void gen_type(struct buf *t, int depth)
{
    int pick = (int)rnd_below(depth < 2 ? 11 : 8);
    enum err e = ERR_OK;
    switch (pick) {
    case 0:
        e = buf_appendf(t, "uint%d", 8 * (1 + (int)rnd_below(32)));
        break;
    case 1:
        e = buf_appendf(t, "int%d", 8 * (1 + (int)rnd_below(32)));
        break;
    case 2:
        e = buf_append_str(t, "address");
        break;
    case 3:
        e = buf_append_str(t, "bool");
        break;
    case 4:
        e = buf_appendf(t, "bytes%d", 1 + (int)rnd_below(32));
        break;
    case 5:
        e = buf_append_str(t, "bytes");
        break;
    case 6:
        e = buf_append_str(t, "string");
        break;
    case 7:
        e = buf_append_str(t, "uint256");
        break;
    case 8:
        gen_type(t, depth + 1);
        e = buf_append_str(t, "[]");
        break;
    case 9:
        gen_type(t, depth + 1);
        e = buf_appendf(t, "[%d]", 1 + (int)rnd_below(3));
        break;
    default: {
        int n = 1 + (int)rnd_below(3);
        e = buf_append_byte(t, '(');
        for (int i = 0; i < n; i++) {
            if (i)
                assert_int_equal(buf_append_byte(t, ','), ERR_OK);
            gen_type(t, depth + 1);
        }
        if (e == ERR_OK)
            e = buf_append_byte(t, ')');
    }
    }
    assert_int_equal(e, ERR_OK);
}

/* Fill v with a random value of type t and append cast's argument text. */
static void gen_value(const struct abi_type *t, struct abi_value *v, struct buf *arg)
{
    switch (t->kind) {
    case ABI_UINT:
    case ABI_INT: {
        uint8_t w[32];
        rnd_bytes(w, 32);
        size_t keep = t->size / 8;
        if (rnd_below(3) == 0)
            keep = 1 + rnd_below(keep); /* small numbers too */
        memset(w, 0, 32 - keep);
        bool neg = t->kind == ABI_INT && (w[32 - t->size / 8] & 0x80);
        if (t->kind == ABI_INT && keep == t->size / 8 && neg)
            memset(w, 0xff, 32 - keep); /* sign-extend */
        memcpy(v->word, w, 32);
        struct u256 u = abi_value_u256(v);
        char d[U256_DEC_MAX];
        if (neg) { /* magnitude = two's complement negation */
            for (int i = 0; i < 4; i++)
                u.w[i] = ~u.w[i];
            assert_int_equal(u256_add(u, u256_from_u64(1), &u), ERR_OK);
            assert_int_equal(buf_append_byte(arg, '-'), ERR_OK);
        }
        u256_to_dec(u, d);
        assert_int_equal(buf_append_str(arg, d), ERR_OK);
        break;
    }
    case ABI_ADDRESS: {
        uint8_t a[20];
        rnd_bytes(a, 20);
        abi_value_address(v, a);
        assert_int_equal(hex_append(arg, a, 20, true), ERR_OK);
        break;
    }
    case ABI_BOOL: {
        bool b = rnd() & 1;
        abi_value_bool(v, b);
        assert_int_equal(buf_append_str(arg, b ? "true" : "false"), ERR_OK);
        break;
    }
    case ABI_BYTES_N: {
        uint8_t b[32];
        rnd_bytes(b, t->size);
        assert_int_equal(abi_value_fixed_bytes(v, b, t->size), ERR_OK);
        assert_int_equal(hex_append(arg, b, t->size, true), ERR_OK);
        break;
    }
    case ABI_BYTES: {
        uint8_t b[80];
        size_t n = rnd_below(sizeof(b));
        rnd_bytes(b, n);
        assert_int_equal(abi_value_bytes(v, b, n), ERR_OK);
        assert_int_equal(hex_append(arg, b, n, true), ERR_OK);
        break;
    }
    case ABI_STRING: {
        char s[70];
        size_t n = 1 + rnd_below(sizeof(s) - 1); /* letters only: no quoting issues */
        for (size_t i = 0; i < n; i++)
            s[i] = (char)((rnd() & 1 ? 'a' : 'A') + rnd_below(26));
        assert_int_equal(abi_value_bytes(v, s, n), ERR_OK);
        assert_int_equal(buf_append(arg, s, n), ERR_OK);
        break;
    }
    case ABI_ARRAY:
    case ABI_FIXED_ARRAY:
    case ABI_TUPLE: {
        size_t n = t->kind == ABI_ARRAY         ? rnd_below(4)
                   : t->kind == ABI_FIXED_ARRAY ? t->length
                                                : t->n_members;
        assert_int_equal(abi_value_items(v, n), ERR_OK);
        assert_int_equal(buf_append_byte(arg, t->kind == ABI_TUPLE ? '(' : '['), ERR_OK);
        for (size_t i = 0; i < n; i++) {
            if (i)
                assert_int_equal(buf_append_byte(arg, ','), ERR_OK);
            gen_value(t->kind == ABI_TUPLE ? t->members[i] : t->elem, &v->items[i], arg);
        }
        assert_int_equal(buf_append_byte(arg, t->kind == ABI_TUPLE ? ')' : ']'), ERR_OK);
        break;
    }
    }
}

/* Compact JSON as `cast abi-decode --json` prints it, with numbers bare. */
static void to_json(const struct abi_type *t, const struct abi_value *v, struct buf *out)
{
    char d[U256_DEC_MAX], a[KEY_ADDR_HEX_MAX];
    struct u256 u;
    switch (t->kind) {
    case ABI_UINT:
        u256_to_dec(abi_value_u256(v), d);
        assert_int_equal(buf_append_str(out, d), ERR_OK);
        break;
    case ABI_INT:
        u = abi_value_u256(v);
        if (v->word[0] & 0x80) {
            for (int i = 0; i < 4; i++)
                u.w[i] = ~u.w[i];
            assert_int_equal(u256_add(u, u256_from_u64(1), &u), ERR_OK);
            assert_int_equal(buf_append_byte(out, '-'), ERR_OK);
        }
        u256_to_dec(u, d);
        assert_int_equal(buf_append_str(out, d), ERR_OK);
        break;
    case ABI_ADDRESS:
        key_addr_to_checksum(v->word + 12, a);
        assert_int_equal(buf_appendf(out, "\"%s\"", a), ERR_OK);
        break;
    case ABI_BOOL:
        assert_int_equal(buf_append_str(out, v->word[31] ? "true" : "false"), ERR_OK);
        break;
    case ABI_BYTES_N:
    case ABI_BYTES:
        assert_int_equal(buf_append_byte(out, '"'), ERR_OK);
        if (t->kind == ABI_BYTES_N)
            assert_int_equal(hex_append(out, v->word, t->size, true), ERR_OK);
        else
            assert_int_equal(hex_append(out, v->bytes, v->len, true), ERR_OK);
        assert_int_equal(buf_append_byte(out, '"'), ERR_OK);
        break;
    case ABI_STRING:
        assert_int_equal(buf_appendf(out, "\"%s\"", (const char *)v->bytes), ERR_OK);
        break;
    default:
        assert_int_equal(buf_append_byte(out, '['), ERR_OK);
        for (size_t i = 0; i < v->n_items; i++) {
            if (i)
                assert_int_equal(buf_append_byte(out, ','), ERR_OK);
            to_json(t->kind == ABI_TUPLE ? t->members[i] : t->elem, &v->items[i], out);
        }
        assert_int_equal(buf_append_byte(out, ']'), ERR_OK);
    }
}

/* Strip whitespace outside strings and the quotes around numbers. */
static void normalize_json(const char *in, struct buf *out)
{
    buf_reset(out);
    bool in_str = false;
    for (const char *p = in; *p; p++) {
        if (*p == '"') {
            /* a quoted number: copy the digits bare */
            const char *q = p + 1;
            if (!in_str && (*q == '-' || isdigit((unsigned char)*q))) {
                const char *e = q + 1;
                while (isdigit((unsigned char)*e))
                    e++;
                if (*e == '"') {
                    assert_int_equal(buf_append(out, q, (size_t)(e - q)), ERR_OK);
                    p = e;
                    continue;
                }
            }
            in_str = !in_str;
        }
        if (!in_str && isspace((unsigned char)*p))
            continue;
        assert_int_equal(buf_append_byte(out, (unsigned char)*p), ERR_OK);
    }
}

struct abi_case {
    struct abi_type *t;
    struct abi_value v;
    char *sig;
    struct buf mine;
};

/* Make a random parameter list of ABI_PER_CALL types, a value for it, the
 * abi-encode job and, when <decode>, an abi-decode job on our encoding. */
static void abi_case_make(struct abi_case *c, struct job *enc, struct job *dec)
{
    struct buf tstr, arg;
    buf_init(&tstr, 0);
    buf_init(&arg, 0);
    buf_init(&c->mine, 0);
    int n = ABI_PER_CALL;
    assert_int_equal(buf_append_byte(&tstr, '('), ERR_OK);
    for (int i = 0; i < n; i++) {
        if (i)
            assert_int_equal(buf_append_byte(&tstr, ','), ERR_OK);
        gen_type(&tstr, 1);
    }
    assert_int_equal(buf_append_byte(&tstr, ')'), ERR_OK);
    c->t = NULL;
    assert_int_equal(abi_type_parse(buf_cstr(&tstr), &c->t), ERR_OK);
    memset(&c->v, 0, sizeof(c->v));
    assert_int_equal(abi_value_items(&c->v, (size_t)n), ERR_OK);
    size_t sl = tstr.len + 2;
    c->sig = malloc(sl);
    snprintf(c->sig, sl, "f%s", buf_cstr(&tstr));
    char *argv[ABI_PER_CALL + 4] = {"cast", "abi-encode", c->sig, NULL};
    char *args[ABI_PER_CALL];
    for (int i = 0; i < n; i++) {
        buf_reset(&arg);
        gen_value(c->t->members[i], &c->v.items[i], &arg);
        args[i] = strdup(buf_cstr(&arg));
        argv[3 + i] = args[i];
    }
    argv[3 + n] = NULL;
    enc->argv = argv_dup(argv);
    for (int i = 0; i < n; i++)
        free(args[i]);
    assert_int_equal(abi_encode(c->t, &c->v, &c->mine), ERR_OK);
    if (dec) {
        char *mh = hexdup(c->mine.data, c->mine.len);
        char *dargv[] = {"cast", "abi-decode", "--json", "--input", c->sig, mh, NULL};
        dec->argv = argv_dup(dargv);
        free(mh);
    }
    buf_release(&tstr);
    buf_release(&arg);
}

static void abi_case_check(struct abi_case *c, struct job *enc, struct job *dec)
{
    if (enc->rc != 0)
        fail_msg("cast abi-encode %s failed", c->sig);
    char *mine_hex = hexdup(c->mine.data, c->mine.len);
    if (strcmp(mine_hex, buf_cstr(&enc->out)) != 0)
        fail_msg("abi-encode %s differs", c->sig);
    if (dec) {
        /* our decoding of the (identical) bytes against cast's own */
        struct abi_value d;
        struct buf json, norm;
        buf_init(&json, 0);
        buf_init(&norm, 0);
        assert_int_equal(dec->rc, 0);
        assert_int_equal(abi_decode(c->t, (const uint8_t *)c->mine.data, c->mine.len, &d), ERR_OK);
        to_json(c->t, &d, &json);
        normalize_json(buf_cstr(&dec->out), &norm);
        if (strcmp(buf_cstr(&norm), buf_cstr(&json)) != 0)
            fail_msg("abi-decode %s: cast %s, ours %s", c->sig, buf_cstr(&norm), buf_cstr(&json));
        abi_value_release(&d);
        buf_release(&json);
        buf_release(&norm);
    }
    free(mine_hex);
    free(c->sig);
    abi_value_release(&c->v);
    abi_type_free(c->t);
    buf_release(&c->mine);
}

static void abi_cases(size_t n, bool decode)
{
    struct abi_case *cs = calloc(n, sizeof(*cs));
    struct job *jobs = calloc(2 * n, sizeof(*jobs));
    size_t nj = decode ? 2 * n : n;
    for (size_t i = 0; i < n; i++)
        abi_case_make(&cs[i], &jobs[i], decode ? &jobs[n + i] : NULL);
    run_jobs(jobs, nj);
    for (size_t i = 0; i < n; i++)
        abi_case_check(&cs[i], &jobs[i], decode ? &jobs[n + i] : NULL);
    for (size_t i = 0; i < nj; i++)
        job_free(&jobs[i]);
    free(jobs);
    free(cs);
}

static void test_abi_encode(void **state)
{
    (void)state;
    NEED_CAST();
    abi_cases(N_ABI_ENCODE, false);
}

static void test_abi_decode(void **state)
{
    (void)state;
    NEED_CAST();
    abi_cases(N_ABI_DECODE, true);
}

static void random_key(struct key *k)
{
    uint8_t priv[32];
    do
        rnd_bytes(priv, 32);
    while (!ecdsa_seckey_is_valid(priv));
    assert_int_equal(key_from_bytes(priv, k), ERR_OK);
}

static void test_wallet_sign(void **state)
{
    (void)state;
    NEED_CAST();
    static struct key keys[N_SIGN];
    static char msgs[N_SIGN][100];
    struct job jobs[N_SIGN];
    for (int i = 0; i < N_SIGN; i++) {
        random_key(&keys[i]);
        size_t n = 1 + rnd_below(sizeof(msgs[i]) - 1);
        for (size_t j = 0; j < n; j++)
            msgs[i][j] = (char)('a' + rnd_below(26));
        msgs[i][n] = '\0';
        char *kh = hexdup(keys[i].priv, 32);
        char *argv[] = {"cast", "wallet", "sign", "--private-key", kh, msgs[i], NULL};
        jobs[i].argv = argv_dup(argv);
        free(kh);
    }
    run_jobs(jobs, N_SIGN);
    for (int i = 0; i < N_SIGN; i++) {
        struct sig s;
        uint8_t rsv[65], addr[20];
        size_t n = strlen(msgs[i]);
        assert_int_equal(jobs[i].rc, 0);
        assert_int_equal(eip191_sign(&keys[i], msgs[i], n, &s), ERR_OK);
        sig_to_rsv(&s, rsv);
        char *mine = hexdup(rsv, 65);
        assert_string_equal(buf_cstr(&jobs[i].out), mine);
        assert_int_equal(eip191_recover(msgs[i], n, rsv, addr), ERR_OK);
        assert_memory_equal(addr, keys[i].addr, 20);
        free(mine);
        key_wipe(&keys[i]);
        job_free(&jobs[i]);
    }
}

/* Raw transactions made by cast, kept for the decode-transaction test. */
static char *cast_raw[2 * N_MKTX];
static size_t n_cast_raw;

/* Build a random transaction, sign it, and make the matching cast mktx job. */
static void mktx_make(bool legacy, struct buf *mine, struct job *job)
{
    struct key k;
    struct tx t;
    random_key(&k);
    tx_init(&t, legacy ? TX_LEGACY : TX_EIP1559, 1 + rnd_below(UINT32_MAX));
    t.nonce = rnd_below(1u << 20);
    t.gas_limit = 21000 + rnd_below(10000000);
    uint64_t tip = rnd_below(100000000000ULL), fee = tip + rnd_below(1000000000000ULL);
    t.gas_price = u256_from_u64(fee);
    t.max_priority_fee_per_gas = u256_from_u64(tip);
    t.max_fee_per_gas = u256_from_u64(fee);
    t.has_to = true;
    rnd_bytes(t.to, 20);
    t.value = u256_from_u64(rnd_below(3) ? rnd() : 0);
    size_t dn = rnd_below(3) ? 1 + rnd_below(100) : 0;
    uint8_t data[100];
    rnd_bytes(data, dn);
    assert_int_equal(buf_append(&t.data, data, dn), ERR_OK);

    char kh[67], to[43], nonce[24], gas[24], price[24], prio[24], chain[24], value[U256_DEC_MAX];
    hex_encode(k.priv, 32, true, kh);
    hex_encode(t.to, 20, true, to);
    snprintf(nonce, sizeof(nonce), "%llu", (unsigned long long)t.nonce);
    snprintf(gas, sizeof(gas), "%llu", (unsigned long long)t.gas_limit);
    snprintf(price, sizeof(price), "%llu", (unsigned long long)fee);
    snprintf(prio, sizeof(prio), "%llu", (unsigned long long)tip);
    snprintf(chain, sizeof(chain), "%llu", (unsigned long long)t.chain_id);
    u256_to_dec(t.value, value);
    char *dh = dn ? hexdup(data, dn) : NULL;
    char *argv[24];
    int a = 0;
    argv[a++] = "cast";
    argv[a++] = "mktx";
    argv[a++] = "--private-key";
    argv[a++] = kh;
    argv[a++] = "--nonce";
    argv[a++] = nonce;
    argv[a++] = "--gas-limit";
    argv[a++] = gas;
    argv[a++] = "--gas-price";
    argv[a++] = price;
    argv[a++] = "--chain";
    argv[a++] = chain;
    argv[a++] = "--value";
    argv[a++] = value;
    if (legacy) {
        argv[a++] = "--legacy";
    } else {
        argv[a++] = "--priority-gas-price";
        argv[a++] = prio;
    }
    argv[a++] = to;
    if (dh)
        argv[a++] = dh;
    argv[a] = NULL;
    job->argv = argv_dup(argv);
    buf_init(mine, 0);
    assert_int_equal(tx_sign(&t, &k), ERR_OK);
    assert_int_equal(tx_encode_raw(&t, mine), ERR_OK);
    free(dh);
    tx_release(&t);
    key_wipe(&k);
}

static void mktx_cases(bool legacy)
{
    struct job jobs[N_MKTX];
    struct buf mine[N_MKTX];
    for (int i = 0; i < N_MKTX; i++)
        mktx_make(legacy, &mine[i], &jobs[i]);
    run_jobs(jobs, N_MKTX);
    for (int i = 0; i < N_MKTX; i++) {
        if (jobs[i].rc != 0)
            fail_msg("cast mktx failed");
        char *mh = hexdup(mine[i].data, mine[i].len);
        assert_string_equal(buf_cstr(&jobs[i].out), mh);
        cast_raw[n_cast_raw++] = strdup(buf_cstr(&jobs[i].out));
        free(mh);
        buf_release(&mine[i]);
        job_free(&jobs[i]);
    }
}

static void test_mktx_legacy(void **state)
{
    (void)state;
    NEED_CAST();
    mktx_cases(true);
}

static void test_mktx_1559(void **state)
{
    (void)state;
    NEED_CAST();
    mktx_cases(false);
}

/* Find "key": "value" in cast's (escaped) JSON output and copy the value. */
static void json_field(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "%s\\\": \\\"", key);
    const char *p = strstr(json, pat);
    assert_non_null(p);
    p += strlen(pat);
    size_t n = strcspn(p, "\\\"");
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

static void test_decode_transaction(void **state)
{
    (void)state;
    NEED_CAST();
    assert_true(n_cast_raw == 2 * N_MKTX); /* filled by the mktx tests */
    struct job jobs[N_DECODE_TX];
    size_t pick[N_DECODE_TX];
    for (size_t i = 0; i < N_DECODE_TX; i++) {
        pick[i] = (i % 2) ? N_MKTX + i / 2 : i / 2; /* alternate legacy and type 2 */
        char *argv[] = {"cast", "decode-transaction", cast_raw[pick[i]], NULL};
        jobs[i].argv = argv_dup(argv);
    }
    run_jobs(jobs, N_DECODE_TX);
    struct buf raw;
    buf_init(&raw, 0);
    for (size_t i = 0; i < N_DECODE_TX; i++) {
        const char *out = buf_cstr(&jobs[i].out);
        assert_int_equal(jobs[i].rc, 0);
        buf_reset(&raw);
        assert_int_equal(hex_decode_buf(cast_raw[pick[i]], &raw), ERR_OK);
        struct tx t;
        uint8_t from[20], h[32];
        char want[80], got[80], q[U256_HEX_MAX];
        assert_int_equal(tx_decode_raw((const uint8_t *)raw.data, raw.len, &t), ERR_OK);
        assert_int_equal(tx_recover_sender(&t, from), ERR_OK);
        hex_encode(from, 20, true, got);
        json_field(out, "signer", want, sizeof(want));
        assert_string_equal(got, want);
        assert_int_equal(tx_hash(&t, h), ERR_OK);
        hex_encode(h, 32, true, got);
        json_field(out, "hash", want, sizeof(want));
        assert_string_equal(got, want);
        u256_to_hex(u256_from_u64(t.nonce), q);
        json_field(out, "nonce", want, sizeof(want));
        assert_string_equal(q, want);
        u256_to_hex(u256_from_u64(t.chain_id), q);
        json_field(out, "chainId", want, sizeof(want));
        assert_string_equal(q, want);
        u256_to_hex(t.value, q);
        json_field(out, "value", want, sizeof(want));
        assert_string_equal(q, want);
        tx_release(&t);
        job_free(&jobs[i]);
    }
    for (size_t i = 0; i < n_cast_raw; i++)
        free(cast_raw[i]);
    n_cast_raw = 0;
    buf_release(&raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keccak),
        cmocka_unit_test(test_abi_encode),
        cmocka_unit_test(test_abi_decode),
        cmocka_unit_test(test_wallet_sign),
        cmocka_unit_test(test_mktx_legacy),
        cmocka_unit_test(test_mktx_1559),
        cmocka_unit_test(test_decode_transaction),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
