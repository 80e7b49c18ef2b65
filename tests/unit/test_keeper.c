/* Unit tests for services/keeper: upkeep ABI, fee policy, due sources,
 * transaction journal, metrics text, keeper settings. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "eth/abi.h"
#include "hex.h"
#include "metrics.h"
#include "eth/key.h"
#include "eth/rpc.h"
#include "services/keeper/due.h"
#include "services/keeper/feepolicy.h"
#include "services/keeper/keeper.h"
#include "services/keeper/kstats.h"
#include "services/keeper/txjournal.h"
#include "services/keeper/upkeep.h"

static void word_u64(uint8_t w[32], uint64_t v)
{
    memset(w, 0, 32);
    for (int i = 0; i < 8; i++)
        w[31 - i] = (uint8_t)(v >> (8 * i));
}

static void fill_id(uint8_t id[32], uint8_t b)
{
    memset(id, b, 32);
}

/* ---- upkeep ---------------------------------------------------------------- */

static void test_encode_perform_vector(void **state)
{
    (void)state;
    struct upkeep_item it[2] = {{.action = UPKEEP_RELEASE}, {.action = UPKEEP_REOPEN}};
    fill_id(it[0].job_id, 0x11);
    fill_id(it[1].job_id, 0x22);
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(upkeep_encode_perform(it, 2, &b), ERR_OK);
    /* performUpkeep(bytes) = 0x4585e33b (AutomationCompatibleInterface); then
     * offset 0x20, length 0xc0, and abi.encode(Item[]): 0x20, 2, id, 1, id, 3. */
    assert_int_equal(b.len, 4 + 32 * 2 + 32 * 6);
    const uint8_t *p = (const uint8_t *)b.data;
    static const uint8_t sel[4] = {0x45, 0x85, 0xe3, 0x3b};
    assert_memory_equal(p, sel, 4);
    uint8_t w[32];
    word_u64(w, 0x20);
    assert_memory_equal(p + 4, w, 32);
    word_u64(w, 0xc0);
    assert_memory_equal(p + 36, w, 32);
    word_u64(w, 0x20);
    assert_memory_equal(p + 68, w, 32);
    word_u64(w, 2);
    assert_memory_equal(p + 100, w, 32);
    assert_memory_equal(p + 132, it[0].job_id, 32);
    word_u64(w, 1);
    assert_memory_equal(p + 164, w, 32);
    assert_memory_equal(p + 196, it[1].job_id, 32);
    word_u64(w, 3);
    assert_memory_equal(p + 228, w, 32);

    struct upkeep_item back[UPKEEP_BATCH_MAX];
    size_t n = 0;
    assert_int_equal(upkeep_decode_perform(p, b.len, back, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(back[1].job_id, it[1].job_id, 32);
    assert_int_equal(back[0].action, UPKEEP_RELEASE);
    assert_int_equal(back[1].action, UPKEEP_REOPEN);
    assert_int_equal(back[0].due_at, 0);
    /* Another selector, truncated data, a bad action. */
    uint8_t *bad = malloc(b.len);
    memcpy(bad, p, b.len);
    bad[0] ^= 1;
    assert_int_equal(upkeep_decode_perform(bad, b.len, back, &n), ERR_INVAL);
    bad[0] ^= 1;
    assert_int_equal(upkeep_decode_perform(bad, b.len - 1, back, &n), ERR_INVAL);
    assert_int_equal(upkeep_decode_perform(bad, 3, back, &n), ERR_INVAL);
    bad[4 + 32 * 2 + 32 * 5 + 31] = 4;
    assert_int_equal(upkeep_decode_perform(bad, b.len, back, &n), ERR_INVAL);
    free(bad);
    buf_release(&b);
}

static void test_encode_errors(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    struct upkeep_item it = {.action = UPKEEP_NONE};
    assert_int_equal(upkeep_encode_perform(&it, 1, &b), ERR_INVAL);
    it.action = UPKEEP_REFUND;
    assert_int_equal(upkeep_encode_perform(&it, 0, &b), ERR_INVAL);
    assert_int_equal(upkeep_encode_perform(&it, UPKEEP_BATCH_MAX + 1, &b), ERR_INVAL);
    uint8_t ids[2][32];
    assert_int_equal(upkeep_encode_check(ids, 0, &b), ERR_INVAL);
    assert_int_equal(upkeep_encode_check(ids, UPKEEP_CHECK_MAX + 1, &b), ERR_INVAL);
    assert_int_equal(b.len, 0);
    assert_string_equal(upkeep_action_name(UPKEEP_REFUND), "refund");
    assert_string_equal(upkeep_action_name(UPKEEP_NONE), "none");
    buf_release(&b);
}

static void test_encode_check_vector(void **state)
{
    (void)state;
    uint8_t ids[1][32];
    fill_id(ids[0], 0xab);
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(upkeep_encode_check(ids, 1, &b), ERR_OK);
    /* checkUpkeep(bytes) = 0x6e04ff0d; offset 0x20, length 0x60,
     * abi.encode(bytes32[]): 0x20, 1, id. */
    static const uint8_t sel[4] = {0x6e, 0x04, 0xff, 0x0d};
    assert_int_equal(b.len, 4 + 32 * 5);
    assert_memory_equal(b.data, sel, 4);
    uint8_t w[32];
    word_u64(w, 0x60);
    assert_memory_equal(b.data + 36, w, 32);
    word_u64(w, 1);
    assert_memory_equal(b.data + 100, w, 32);
    assert_memory_equal(b.data + 132, ids[0], 32);
    buf_release(&b);
}

/* (bool needed, bytes abi.encode(Item[])) with <n> items of action <a>. */
static size_t check_result(uint8_t *out, int needed, size_t n, unsigned a)
{
    size_t words = 3 + 2 + 2 * n;
    memset(out, 0, words * 32);
    word_u64(out, (uint64_t)needed);
    word_u64(out + 32, 0x40);
    word_u64(out + 64, (uint64_t)(64 + 64 * n));
    word_u64(out + 96, 0x20);
    word_u64(out + 128, (uint64_t)n);
    for (size_t i = 0; i < n; i++) {
        fill_id(out + 160 + 64 * i, (uint8_t)(0x30 + i));
        word_u64(out + 192 + 64 * i, a);
    }
    return words * 32;
}

static void test_decode_check_result(void **state)
{
    (void)state;
    uint8_t data[32 * 11];
    struct upkeep_item out[3];
    size_t n = 99;
    size_t len = check_result(data, 1, 3, UPKEEP_REFUND);
    assert_int_equal(upkeep_decode_check_result(data, len, out, 3, &n), ERR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[2].job_id[0], 0x32);
    assert_int_equal(out[2].action, UPKEEP_REFUND);
    assert_int_equal(upkeep_decode_check_result(data, len, out, 2, &n), ERR_TOOBIG);
    assert_int_equal(upkeep_decode_check_result(data, len - 1, out, 3, &n), ERR_PROTO);
    len = check_result(data, 0, 0, 1);
    assert_int_equal(upkeep_decode_check_result(data, len, out, 3, &n), ERR_OK);
    assert_int_equal(n, 0);
    len = check_result(data, 1, 0, 1); /* needed but empty: inconsistent */
    assert_int_equal(upkeep_decode_check_result(data, len, out, 3, &n), ERR_PROTO);
    len = check_result(data, 0, 1, 1); /* not needed but one item */
    assert_int_equal(upkeep_decode_check_result(data, len, out, 3, &n), ERR_PROTO);
    len = check_result(data, 1, 1, 4); /* no such action */
    assert_int_equal(upkeep_decode_check_result(data, len, out, 3, &n), ERR_PROTO);
    len = check_result(data, 2, 1, 1); /* bool must be 0 or 1 */
    assert_int_equal(upkeep_decode_check_result(data, len, out, 3, &n), ERR_PROTO);
}

static void set_log(struct rpc_log *l, const uint8_t addr[20], const char *sig, size_t n_topics)
{
    memset(l, 0, sizeof(*l));
    memcpy(l->address, addr, 20);
    l->n_topics = n_topics;
    assert_int_equal(abi_event_topic(sig, l->topics[0]), ERR_OK);
    for (size_t i = 1; i < n_topics; i++)
        fill_id(l->topics[i], (uint8_t)(0x40 + i));
}

static void test_read_receipt(void **state)
{
    (void)state;
    uint8_t escrow[20], other[20];
    memset(escrow, 0xe5, 20);
    memset(other, 0x07, 20);
    struct rpc_log logs[5];
    uint8_t data[64];
    set_log(&logs[0], escrow, "PaymentReleased(bytes32,address,address,uint256,bool)", 4);
    set_log(&logs[1], other, "PaymentReleased(bytes32,address,address,uint256,bool)", 4);
    set_log(&logs[2], escrow, "JobRefunded(bytes32,address,address,uint256)", 4);
    logs[2].topics[1][0] = 0x99;
    set_log(&logs[3], escrow, "JobReopened(bytes32,address,address)", 4);
    set_log(&logs[4], escrow, "UpkeepPerformed(address,uint256,uint256)", 2);
    word_u64(data, 3);
    word_u64(data + 32, 7);
    logs[4].data = data;
    logs[4].data_len = 64;
    struct rpc_receipt r;
    memset(&r, 0, sizeof(r));
    r.logs.items = logs;
    r.logs.count = 5;
    struct upkeep_outcome oc;
    assert_int_equal(upkeep_read_receipt(&r, escrow, &oc), ERR_OK);
    assert_int_equal(oc.n_settled, 3); /* the other contract's log is ignored */
    assert_int_equal(oc.actions[0], UPKEEP_RELEASE);
    assert_int_equal(oc.actions[1], UPKEEP_REFUND);
    assert_int_equal(oc.settled[1][0], 0x99);
    assert_int_equal(oc.actions[2], UPKEEP_REOPEN);
    assert_int_equal(oc.has_performed, 1);
    assert_int_equal(oc.performed_settled, 3);
    assert_int_equal(oc.performed_skipped, 7);
    upkeep_outcome_release(&oc);
    upkeep_outcome_release(NULL);
    /* Malformed: a settlement event without its indexed topics, bad data. */
    logs[3].n_topics = 2;
    assert_int_equal(upkeep_read_receipt(&r, escrow, &oc), ERR_PROTO);
    upkeep_outcome_release(&oc);
    logs[3].n_topics = 4;
    logs[4].data_len = 32;
    assert_int_equal(upkeep_read_receipt(&r, escrow, &oc), ERR_PROTO);
    upkeep_outcome_release(&oc);
    r.logs.count = 0;
    assert_int_equal(upkeep_read_receipt(&r, escrow, &oc), ERR_OK);
    assert_int_equal(oc.n_settled, 0);
    assert_int_equal(oc.has_performed, 0);
    upkeep_outcome_release(&oc);
}

/* ---- feepolicy -------------------------------------------------------------- */

static void test_fee_quote(void **state)
{
    (void)state;
    uint8_t base[3][32], reward[2][32];
    word_u64(base[0], 900);
    word_u64(base[1], 950);
    word_u64(base[2], 1000); /* the next block's */
    word_u64(reward[0], 5);
    word_u64(reward[1], 1);
    double ratio[2] = {0.5, 0.5};
    struct rpc_fee_history h = {.oldest_block = 10,
                                .n_blocks = 2,
                                .base_fee_per_gas = base,
                                .gas_used_ratio = ratio,
                                .n_percentiles = 1,
                                .reward = reward};
    struct feepolicy p = {
        .max_fee_wei = u256_from_u64(1000000), .min_tip_wei = u256_from_u64(2), .bump_pct = 10};
    struct fee_quote q;
    assert_int_equal(feepolicy_quote(&p, &h, &q), ERR_OK);
    /* sorted rewards [1, 5]: the median index 1 is 5; max_fee = 2 * 1000 + 5 */
    assert_int_equal(q.tip.w[0], 5);
    assert_int_equal(q.max_fee.w[0], 2005);
    assert_int_equal(q.base_fee_next.w[0], 1000);
    assert_false(q.capped);
    assert_false(q.below_base);
    p.min_tip_wei = u256_from_u64(50); /* the floor wins */
    assert_int_equal(feepolicy_quote(&p, &h, &q), ERR_OK);
    assert_int_equal(q.tip.w[0], 50);
    assert_int_equal(q.max_fee.w[0], 2050);
    p.max_fee_wei = u256_from_u64(1500); /* the ceiling caps */
    assert_int_equal(feepolicy_quote(&p, &h, &q), ERR_OK);
    assert_int_equal(q.max_fee.w[0], 1500);
    assert_true(q.capped);
    assert_false(q.below_base);
    p.max_fee_wei = u256_from_u64(40); /* under the base fee, and under the tip */
    assert_int_equal(feepolicy_quote(&p, &h, &q), ERR_OK);
    assert_int_equal(q.max_fee.w[0], 40);
    assert_int_equal(q.tip.w[0], 40);
    assert_true(q.below_base);
    h.reward = NULL; /* no percentiles: tip is the floor */
    h.n_percentiles = 0;
    p.max_fee_wei = u256_from_u64(1000000);
    assert_int_equal(feepolicy_quote(&p, &h, &q), ERR_OK);
    assert_int_equal(q.tip.w[0], 50);
    h.n_percentiles = 2;
    assert_int_equal(feepolicy_quote(&p, &h, &q), ERR_INVAL);
    h.n_percentiles = 0;
    h.base_fee_per_gas = NULL;
    assert_int_equal(feepolicy_quote(&p, &h, &q), ERR_INVAL);
}

static void test_fee_bump(void **state)
{
    (void)state;
    struct feepolicy p = {
        .max_fee_wei = u256_from_u64(5000), .min_tip_wei = u256_from_u64(0), .bump_pct = 10};
    struct fee_quote now = {.max_fee = u256_from_u64(100), .tip = u256_from_u64(1)};
    struct u256 mf, tip;
    /* ceil(2003 * 1.10) = 2204 (2203.3), ceil(3 * 1.10) = 4 (3.3): geth's
     * threshold old * 110 / 100 is met on both fields. */
    assert_int_equal(feepolicy_bump(&p, u256_from_u64(2003), u256_from_u64(3), &now, &mf, &tip),
                     ERR_OK);
    assert_int_equal(mf.w[0], 2204);
    assert_int_equal(tip.w[0], 4);
    /* Exact multiples stay exact: 2000 -> 2200, 100 -> 110. */
    assert_int_equal(feepolicy_bump(&p, u256_from_u64(2000), u256_from_u64(100), &now, &mf, &tip),
                     ERR_OK);
    assert_int_equal(mf.w[0], 2200);
    assert_int_equal(tip.w[0], 110);
    /* A zero tip becomes one wei. */
    now.tip = u256_from_u64(0);
    assert_int_equal(feepolicy_bump(&p, u256_from_u64(10), u256_from_u64(0), &now, &mf, &tip),
                     ERR_OK);
    assert_int_equal(tip.w[0], 1);
    assert_int_equal(mf.w[0], 100); /* the current quote is higher than 11 */
    /* The market moved: the current quote wins on both fields. */
    now.max_fee = u256_from_u64(4000);
    now.tip = u256_from_u64(300);
    assert_int_equal(feepolicy_bump(&p, u256_from_u64(2000), u256_from_u64(100), &now, &mf, &tip),
                     ERR_OK);
    assert_int_equal(mf.w[0], 4000);
    assert_int_equal(tip.w[0], 300);
    /* A bump past the ceiling is refused; outputs untouched. */
    p.bump_pct = 12;
    now.max_fee = u256_from_u64(100);
    now.tip = u256_from_u64(1);
    mf = u256_from_u64(7);
    assert_int_equal(feepolicy_bump(&p, u256_from_u64(4500), u256_from_u64(100), &now, &mf, &tip),
                     ERR_RANGE);
    assert_int_equal(mf.w[0], 7);
    /* 12%: ceil(4000 * 1.12) = 4480. */
    assert_int_equal(feepolicy_bump(&p, u256_from_u64(4000), u256_from_u64(100), &now, &mf, &tip),
                     ERR_OK);
    assert_int_equal(mf.w[0], 4480);
    assert_int_equal(tip.w[0], 112);
}

/* ---- due sources ---------------------------------------------------------------- */

static void test_due_mem(void **state)
{
    (void)state;
    struct due_source *s = NULL;
    assert_int_equal(due_mem_new(&s), ERR_OK);
    uint8_t id[32];
    int64_t due[] = {30, 10, 20, 10};
    for (int i = 0; i < 4; i++) {
        fill_id(id, (uint8_t)(i + 1));
        assert_int_equal(due_mem_add(s, id, UPKEEP_RELEASE + (enum upkeep_action)(i % 3), due[i]),
                         ERR_OK);
    }
    assert_int_equal(due_mem_add(s, id, UPKEEP_NONE, 5), ERR_INVAL);
    struct upkeep_item out[8];
    size_t n = 0;
    assert_int_equal(due_fetch(s, 25, out, 8, &n), ERR_OK);
    assert_int_equal(n, 3);                /* 30 is not due at 25 */
    assert_int_equal(out[0].job_id[0], 2); /* due 10, added before the other 10 */
    assert_int_equal(out[1].job_id[0], 4);
    assert_int_equal(out[2].job_id[0], 3);
    assert_int_equal(out[2].due_at, 20);
    assert_int_equal(out[2].action, UPKEEP_REOPEN);
    assert_int_equal(due_fetch(s, 25, out, 1, &n), ERR_OK); /* the soonest only */
    assert_int_equal(n, 1);
    assert_int_equal(out[0].job_id[0], 2);
    assert_int_equal(due_fetch(s, 100, out, 2, &n), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[1].due_at, 10);
    assert_int_equal(due_fetch(s, 9, out, 8, &n), ERR_OK);
    assert_int_equal(n, 0);
    due_mem_clear(s);
    assert_int_equal(due_fetch(s, 100, out, 8, &n), ERR_OK);
    assert_int_equal(n, 0);
    due_source_free(s);
    due_source_free(NULL);
}

static const char *LINE_OK =
    "{\"chain_job_id\":\"0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798\","
    "\"action\":\"refund\",\"due_at\":1764547200}";

static void test_due_parse_line(void **state)
{
    (void)state;
    struct upkeep_item it;
    assert_int_equal(due_parse_line(LINE_OK, strlen(LINE_OK), &it), ERR_OK);
    assert_int_equal(it.job_id[0], 0x94);
    assert_int_equal(it.job_id[31], 0x98);
    assert_int_equal(it.action, UPKEEP_REFUND);
    assert_int_equal(it.due_at, 1764547200);
    static const char *bad[] = {
        "",
        "[]",
        "{\"chain_job_id\":\"0x94\",\"action\":\"refund\",\"due_at\":1}",
        "{\"chain_job_id\":\"0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798\","
        "\"action\":\"pay\",\"due_at\":1}",
        "{\"chain_job_id\":\"0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798\","
        "\"action\":\"release\",\"due_at\":-1}",
        "{\"chain_job_id\":\"0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798\","
        "\"action\":\"release\"}",
        "{\"chain_job_id\":\"0x9414886b1ebf025db067a4cbd13a0903fbd9733a5372bba1b58bd72c1699b798\","
        "\"action\":\"release\",\"due_at\":1} x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(due_parse_line(bad[i], strlen(bad[i]), &it), ERR_INVAL);
}

static char *tmp_path(const char *name)
{
    static char dir[256];
    if (dir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/test_keeper.XXXXXX", base ? base : "/tmp");
        assert_non_null(mkdtemp(dir));
    }
    char *p = malloc(512);
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_due_file(void **state)
{
    (void)state;
    char *path = tmp_path("due.jsonl");
    struct due_source *s = NULL;
    assert_int_equal(due_file_new(path, &s), ERR_OK);
    struct upkeep_item out[4];
    size_t n = 9;
    unlink(path);
    assert_int_equal(due_fetch(s, 100, out, 4, &n), ERR_OK); /* missing: empty */
    assert_int_equal(n, 0);
    struct buf t;
    buf_init(&t, 0);
    assert_int_equal(
        buf_appendf(&t,
                    "%s\n\n  \n{\"chain_job_id\":\"0x%064x\",\"action\":\"release\",\"due_at\":5}\n"
                    "{\"chain_job_id\":\"0x%064x\",\"action\":\"reopen\",\"due_at\":7}",
                    LINE_OK, 1, 2),
        ERR_OK);
    write_file(path, buf_cstr(&t));
    assert_int_equal(due_fetch(s, 6, out, 4, &n), ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].job_id[31], 1);
    assert_int_equal(out[0].action, UPKEEP_RELEASE);
    assert_int_equal(due_fetch(s, 1764547200, out, 4, &n), ERR_OK);
    assert_int_equal(n, 3);
    assert_int_equal(out[1].action, UPKEEP_REOPEN);
    assert_int_equal(out[2].due_at, 1764547200);
    assert_int_equal(buf_append_str(&t, "\nnot json\n"), ERR_OK);
    write_file(path, buf_cstr(&t));
    assert_int_equal(due_fetch(s, 100, out, 4, &n), ERR_INVAL);
    unlink(path);
    assert_int_equal(mkdir(path, 0700), 0); /* a folder cannot be read as the list */
    assert_int_equal(due_fetch(s, 100, out, 4, &n), ERR_IO);
    rmdir(path);
    buf_release(&t);
    due_source_free(s);
    free(path);
}

/* ---- txjournal ---------------------------------------------------------------- */

static void test_journal(void **state)
{
    (void)state;
    char *path = tmp_path("k.journal");
    struct txjournal *j = NULL, *j2 = NULL;
    assert_int_equal(txjournal_open(path, &j), ERR_OK);
    assert_int_equal(txjournal_open(path, &j2), ERR_EXISTS); /* one keeper per journal */
    const uint8_t a[3] = {0x02, 0xf8, 0x01}, b[2] = {0xab, 0xcd};
    assert_int_equal(txjournal_append(j, a, 3), ERR_OK);
    assert_int_equal(txjournal_append(j, b, 2), ERR_OK);
    assert_int_equal(txjournal_append(j, b, 0), ERR_INVAL);
    struct txjournal_entry *e = NULL;
    size_t n = 0, skipped = 9;
    assert_int_equal(txjournal_load(j, &e, &n, &skipped), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(skipped, 0);
    assert_int_equal(e[0].len, 3);
    assert_memory_equal(e[0].raw, a, 3);
    assert_memory_equal(e[1].raw, b, 2);
    txjournal_entries_free(e, n);
    /* A torn last line (crash while writing) and a garbage line are skipped. */
    FILE *f = fopen(path, "a");
    fputs("zz\n0x02f8", f);
    fclose(f);
    assert_int_equal(txjournal_load(j, &e, &n, &skipped), ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(skipped, 2);
    /* Compact to the second entry; appends go to the new file. */
    assert_int_equal(txjournal_rewrite(j, e + 1, 1), ERR_OK);
    txjournal_entries_free(e, n);
    assert_int_equal(txjournal_append(j, a, 3), ERR_OK);
    assert_int_equal(txjournal_load(j, &e, &n, NULL), ERR_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(e[0].raw, b, 2);
    assert_memory_equal(e[1].raw, a, 3);
    txjournal_entries_free(e, n);
    assert_int_equal(txjournal_rewrite(j, NULL, 0), ERR_OK);
    assert_int_equal(txjournal_load(j, &e, &n, NULL), ERR_OK);
    assert_int_equal(n, 0);
    txjournal_entries_free(e, n);
    txjournal_free(j);
    assert_int_equal(txjournal_open(path, &j2), ERR_OK); /* the lock went with the first */
    txjournal_free(j2);
    txjournal_free(NULL);
    char *nodir = tmp_path("no/such/dir/journal");
    assert_int_equal(txjournal_open(nodir, &j), ERR_IO);
    free(nodir);
    free(path);
}

/* ---- kstats and keeper settings --------------------------------------------------- */

static void test_kstats(void **state)
{
    (void)state;
    struct metrics *m = NULL;
    struct kstats s;
    assert_int_equal(metrics_new(&m), ERR_OK);
    assert_int_equal(kstats_init(&s, m), ERR_OK);
    kstats_observe_lag(&s, 0.5);
    kstats_observe_lag(&s, 3);
    kstats_observe_lag(&s, -4); /* counts as 0 */
    kstats_observe_lag(&s, 5000);
    metrics_add(s.jobs_settled, 500);
    metrics_add(s.txs_sent, 5);
    metrics_set(s.balance_wei, 1e18);
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(metrics_render(m, &b), ERR_OK);
    const char *t = buf_cstr(&b);
    assert_non_null(strstr(t, "# TYPE loom_keeper_jobs_due gauge\nloom_keeper_jobs_due 0\n"));
    assert_non_null(strstr(t, "# TYPE loom_keeper_jobs_settled_total counter\n"
                              "loom_keeper_jobs_settled_total 500\n"));
    assert_non_null(strstr(t, "\nloom_keeper_txs_sent_total 5\n"));
    assert_non_null(strstr(t, "\nloom_keeper_balance_wei 1e+18\n"));
    assert_non_null(strstr(t, "\nloom_keeper_last_block 0\n"));
    assert_non_null(strstr(t, "# TYPE loom_keeper_settlement_lag_seconds histogram\n"));
    assert_non_null(strstr(t, "loom_keeper_settlement_lag_seconds_bucket{le=\"1\"} 2\n"));
    assert_non_null(strstr(t, "loom_keeper_settlement_lag_seconds_bucket{le=\"2\"} 2\n"));
    assert_non_null(strstr(t, "loom_keeper_settlement_lag_seconds_bucket{le=\"5\"} 3\n"));
    assert_non_null(strstr(t, "loom_keeper_settlement_lag_seconds_bucket{le=\"3600\"} 3\n"));
    assert_non_null(strstr(t, "loom_keeper_settlement_lag_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(t, "loom_keeper_settlement_lag_seconds_sum 5003.5\n"));
    assert_non_null(strstr(t, "loom_keeper_settlement_lag_seconds_count 4\n"));
    struct buf small;
    buf_init(&small, 64);
    assert_int_equal(metrics_render(m, &small), ERR_TOOBIG);
    buf_release(&small);
    /* The names are taken: a second set in the same registry is refused. */
    struct kstats again;
    assert_int_equal(kstats_init(&again, m), ERR_EXISTS);
    buf_release(&b);
    metrics_free(m);
}

static void test_kstats_health(void **state)
{
    (void)state;
    struct buf r;
    buf_init(&r, 0);
    /* Healthy while the last good tick is younger than the limit. */
    assert_int_equal(kstats_health(1000, 1000, 500, 7, &r), ERR_OK);
    assert_int_equal(kstats_health(1000, 1499, 500, 7, &r), ERR_OK);
    assert_int_equal(r.len, 0);
    assert_int_equal(kstats_health(1000, 1500, 500, 7, &r), ERR_UNAVAILABLE);
    assert_string_equal(buf_cstr(&r),
                        "stale: last good tick 500 ms ago (limit 500 ms), last block 7");
    buf_reset(&r);
    assert_int_equal(kstats_health(-1, 0, 500, 0, &r), ERR_UNAVAILABLE);
    assert_string_equal(buf_cstr(&r), "stale: no good tick yet");
    struct buf tiny;
    buf_init(&tiny, 8);
    assert_int_equal(kstats_health(-1, 0, 500, 0, &tiny), ERR_TOOBIG);
    buf_release(&tiny);
    buf_release(&r);
}

static void test_keeper_new_bounds(void **state)
{
    (void)state;
    struct due_source *due = NULL;
    assert_int_equal(due_mem_new(&due), ERR_OK);
    struct rpc *rpc = NULL;
    struct rpc_opts ro = {.url = "http://127.0.0.1:9"};
    assert_int_equal(rpc_new(&ro, &rpc), ERR_OK);
    struct key key;
    memset(&key, 0, sizeof(key));
    struct keeper_opts o = {.rpc = rpc,
                            .due = due,
                            .key = &key,
                            .chain_id = 31337,
                            .batch_max = 100,
                            .batch_gas_pct = 25,
                            .due_limit = 1000,
                            .max_in_flight = 16,
                            .replace_after_ms = 60000,
                            .fee_history_blocks = 10,
                            .tip_percentile = 50,
                            .fees = {.bump_pct = 10}};
    struct keeper *k = NULL;
    assert_int_equal(keeper_new(&o, &k), ERR_OK);
    assert_int_equal(keeper_next_nonce(k), 0);
    assert_int_equal(metrics_value(keeper_stats(k)->txs_sent), 0);
    struct buf page;
    buf_init(&page, 0);
    assert_int_equal(metrics_render(keeper_metrics(k), &page), ERR_OK);
    assert_non_null(strstr(buf_cstr(&page), "\nloom_keeper_txs_in_flight 0\n"));
    buf_release(&page);
    keeper_free(k);
    keeper_free(NULL);
    struct keeper_opts bad;
    bad = o, bad.batch_max = 101;
    assert_int_equal(keeper_new(&bad, &k), ERR_INVAL);
    bad = o, bad.batch_max = 0;
    assert_int_equal(keeper_new(&bad, &k), ERR_INVAL);
    bad = o, bad.fees.bump_pct = 9; /* nodes refuse bumps under 10% */
    assert_int_equal(keeper_new(&bad, &k), ERR_INVAL);
    bad = o, bad.batch_gas_pct = 91;
    assert_int_equal(keeper_new(&bad, &k), ERR_INVAL);
    bad = o, bad.due_limit = 1001;
    assert_int_equal(keeper_new(&bad, &k), ERR_INVAL);
    bad = o, bad.replace_after_ms = 0;
    assert_int_equal(keeper_new(&bad, &k), ERR_INVAL);
    bad = o, bad.tip_percentile = 101;
    assert_int_equal(keeper_new(&bad, &k), ERR_INVAL);
    bad = o, bad.rpc = NULL;
    assert_int_equal(keeper_new(&bad, &k), ERR_INVAL);
    /* keeper_start against a node that is not there: the transport error. */
    ro.max_attempts = 1;
    ro.connect_timeout_ms = 500;
    struct rpc *down = NULL;
    assert_int_equal(rpc_new(&ro, &down), ERR_OK);
    o.rpc = down;
    assert_int_equal(keeper_new(&o, &k), ERR_OK);
    enum err e = keeper_start(k, 0);
    assert_true(e == ERR_UNAVAILABLE || e == ERR_IO || e == ERR_TIMEDOUT);
    keeper_free(k);
    rpc_free(down);
    rpc_free(rpc);
    due_source_free(due);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_perform_vector),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_encode_check_vector),
        cmocka_unit_test(test_decode_check_result),
        cmocka_unit_test(test_read_receipt),
        cmocka_unit_test(test_fee_quote),
        cmocka_unit_test(test_fee_bump),
        cmocka_unit_test(test_due_mem),
        cmocka_unit_test(test_due_parse_line),
        cmocka_unit_test(test_due_file),
        cmocka_unit_test(test_journal),
        cmocka_unit_test(test_kstats),
        cmocka_unit_test(test_kstats_health),
        cmocka_unit_test(test_keeper_new_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
