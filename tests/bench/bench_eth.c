/*
 * bench_eth -- common/eth against the bare libraries, in the same run.
 *
 *   signatures/s:  ecdsa_sign()     vs secp256k1_ecdsa_sign_recoverable + serialize
 *   recoveries/s:  ecdsa_recover()  vs parse_compact + secp256k1_ecdsa_recover + serialize
 *                  (ecdsa_recover_address(), which adds a keccak, printed too)
 *   keccak-256:    keccak256() MB/s vs OpenSSL EVP SHA3-256 (same permutation,
 *                  other padding) on 1 MiB and 64-byte inputs
 * Targets: signing and recovery >= 0.9 of bare; keccak >= 0.5 of OpenSSL.
 * Each pair is measured in alternating rounds and the best round of each
 * side is kept, so a busy machine hurts both sides alike. The bare calls
 * live here only as the baseline (STYLE.md: the library is otherwise
 * called from common/eth/ecdsa.c alone). Prints figures and conditions;
 * asserts nothing. Usage: bench_eth [rounds] (default 5).
 * SPDX-License-Identifier: MIT
 */
#include <nettle/version.h>
/* OpenSSL's types.h has a typedef named ERR_STATE, which is also one of our
 * enum err values: rename OpenSSL's for this file. */
#define ERR_STATE openssl_ERR_STATE
#include <openssl/crypto.h>
#include <openssl/evp.h>
#undef ERR_STATE
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eth/ecdsa.h"
#include "eth/keccak.h"

#define N_SIG 4000 /* operations per round */
#define N_MSG 64

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t priv[32], hashes[N_MSG][32];
static struct sig sigs[N_MSG];
static secp256k1_context *bare;
static volatile uint8_t sink;

static void ours_sign(void)
{
    struct sig s;
    for (int i = 0; i < N_SIG; i++) {
        if (ecdsa_sign(priv, hashes[i % N_MSG], &s) != ERR_OK)
            abort();
        sink ^= s.r[0];
    }
}

static void bare_sign(void)
{
    secp256k1_ecdsa_recoverable_signature rs;
    uint8_t out[64];
    int recid;
    for (int i = 0; i < N_SIG; i++) {
        if (secp256k1_ecdsa_sign_recoverable(bare, &rs, hashes[i % N_MSG], priv, NULL, NULL) != 1)
            abort();
        secp256k1_ecdsa_recoverable_signature_serialize_compact(bare, out, &recid, &rs);
        sink ^= out[0];
    }
}

static void ours_recover(void)
{
    uint8_t pub[64];
    for (int i = 0; i < N_SIG; i++) {
        if (ecdsa_recover(hashes[i % N_MSG], &sigs[i % N_MSG], pub) != ERR_OK)
            abort();
        sink ^= pub[0];
    }
}

static void ours_recover_address(void)
{
    uint8_t addr[20];
    for (int i = 0; i < N_SIG; i++) {
        if (ecdsa_recover_address(hashes[i % N_MSG], &sigs[i % N_MSG], addr) != ERR_OK)
            abort();
        sink ^= addr[0];
    }
}

static void bare_recover(void)
{
    secp256k1_ecdsa_recoverable_signature rs;
    secp256k1_pubkey pk;
    uint8_t compact[64], pub[65];
    for (int i = 0; i < N_SIG; i++) {
        const struct sig *s = &sigs[i % N_MSG];
        memcpy(compact, s->r, 32);
        memcpy(compact + 32, s->s, 32);
        size_t len = sizeof(pub);
        if (secp256k1_ecdsa_recoverable_signature_parse_compact(bare, &rs, compact, s->recid) !=
                1 ||
            secp256k1_ecdsa_recover(bare, &pk, &rs, hashes[i % N_MSG]) != 1)
            abort();
        secp256k1_ec_pubkey_serialize(bare, pub, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
        sink ^= pub[1];
    }
}

static uint8_t *big;
static size_t big_len, hash_reps;
static EVP_MD_CTX *evp;

static void ours_keccak(void)
{
    uint8_t h[32];
    for (size_t i = 0; i < hash_reps; i++) {
        keccak256(big, big_len, h);
        sink ^= h[0];
    }
}

static void openssl_sha3(void)
{
    uint8_t h[32];
    unsigned int n = 0;
    for (size_t i = 0; i < hash_reps; i++) {
        if (EVP_DigestInit_ex(evp, EVP_sha3_256(), NULL) != 1 ||
            EVP_DigestUpdate(evp, big, big_len) != 1 || EVP_DigestFinal_ex(evp, h, &n) != 1)
            abort();
        sink ^= h[0];
    }
}

/* Best time of <rounds> alternating runs of a and b. */
static void race(void (*a)(void), void (*b)(void), int rounds, double *ta, double *tb)
{
    *ta = *tb = 1e30;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        a();
        double t1 = now_s();
        b();
        double t2 = now_s();
        if (t1 - t0 < *ta)
            *ta = t1 - t0;
        if (t2 - t1 < *tb)
            *tb = t2 - t1;
    }
}

static void print_conditions(int rounds)
{
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof(line), f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) {
                    snprintf(model, sizeof(model), "%s", p + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    double load[3] = {0};
    if (getloadavg(load, 3) < 0)
        load[0] = -1;
    printf("conditions: cpu \"%s\", %ld online cpus, load average %.2f, single thread,\n"
           "  nettle %d.%d, %s, libsecp256k1 0.2 (Debian), %d rounds (best kept)\n",
           model, sysconf(_SC_NPROCESSORS_ONLN), load[0], nettle_version_major(),
           nettle_version_minor(), OpenSSL_version(OPENSSL_VERSION), rounds);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 5;
    if (rounds < 1)
        rounds = 1;
    print_conditions(rounds);
    bare = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    memset(priv, 0x46, 32);
    for (int i = 0; i < N_MSG; i++) {
        keccak256(&i, sizeof(i), hashes[i]);
        if (ecdsa_sign(priv, hashes[i], &sigs[i]) != ERR_OK)
            abort();
    }
    double ta, tb, tc, td;
    race(ours_sign, bare_sign, rounds, &ta, &tb);
    printf(
        "sign      common/eth %8.0f /s   bare libsecp256k1 %8.0f /s   ratio %.3f (target >= 0.9)\n",
        N_SIG / ta, N_SIG / tb, tb / ta);
    race(ours_recover, bare_recover, rounds, &tc, &td);
    printf(
        "recover   common/eth %8.0f /s   bare libsecp256k1 %8.0f /s   ratio %.3f (target >= 0.9)\n",
        N_SIG / tc, N_SIG / td, td / tc);
    race(ours_recover_address, bare_recover, rounds, &tc, &td);
    printf("recover+address (adds keccak of the key) %8.0f /s   ratio to bare recover %.3f\n",
           N_SIG / tc, td / tc);

    evp = EVP_MD_CTX_new();
    static const struct {
        size_t len, reps;
        const char *label;
    } sizes[] = {{(size_t)1 << 20, 64, "1 MiB"}, {64, 200000, "64 B"}};
    for (size_t s = 0; s < 2; s++) {
        big_len = sizes[s].len;
        hash_reps = sizes[s].reps;
        big = malloc(big_len);
        for (size_t i = 0; i < big_len; i++)
            big[i] = (uint8_t)(i * 131);
        race(ours_keccak, openssl_sha3, rounds, &ta, &tb);
        double mb = (double)big_len * (double)hash_reps / 1e6;
        printf("keccak256 %-6s common/eth %7.1f MB/s   OpenSSL SHA3-256 %7.1f MB/s   ratio %.3f "
               "(target >= 0.5)\n",
               sizes[s].label, mb / ta, mb / tb, tb / ta);
        free(big);
    }
    EVP_MD_CTX_free(evp);
    secp256k1_context_destroy(bare);
    return sink == 0x5a ? 0 : 0;
}
