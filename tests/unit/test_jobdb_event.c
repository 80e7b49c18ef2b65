/*
 * Unit tests for services/jobstore/jobdb_event: the LoomEscrow event table,
 * signatures, the static-word ABI decoder and uint256 to decimal. No
 * database needed.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "buf.h"
#include "../../services/jobstore/jobdb_event.h"

static void word_u64(uint8_t w[32], uint64_t v)
{
    int i;

    memset(w, 0, 32);
    for (i = 31; i >= 24; i--, v >>= 8)
        w[i] = (uint8_t)v;
}

static void test_signatures(void **state)
{
    static const char *const want[JOBDB_EV__COUNT] = {
        "JobCreated(bytes32,address,bytes32,uint64,uint256,bytes32,uint32,uint32,uint32)",
        "JobClaimed(bytes32,address,address,uint32)",
        "JobSubmitted(bytes32,address,address,bytes32,uint32)",
        "PaymentReleased(bytes32,address,address,uint256,bool)",
        "JobDisputed(bytes32,address,address)",
        "DisputeResolved(bytes32,address,address,uint256,uint256)",
        "JobReopened(bytes32,address,address)",
        "JobRefunded(bytes32,address,address,uint256)",
        "Withdrawn(address,address,uint256)",
    };
    enum jobdb_event_kind k;
    struct buf b;
    int i;

    (void)state;
    buf_init(&b, 0);
    for (i = 0; i < JOBDB_EV__COUNT; i++) {
        buf_reset(&b);
        assert_int_equal(jobdb_event_signature((enum jobdb_event_kind)i, &b), ERR_OK);
        assert_string_equal(buf_cstr(&b), want[i]);
        assert_int_equal(jobdb_event_abi((enum jobdb_event_kind)i)->kind, i);
        assert_int_equal(
            jobdb_event_kind_by_name(jobdb_event_abi((enum jobdb_event_kind)i)->name, &k), ERR_OK);
        assert_int_equal(k, i);
    }
    assert_int_equal(jobdb_event_kind_by_name("JobAccepted", &k), ERR_NOTFOUND);
    buf_release(&b);
}

static void test_decode_created(void **state)
{
    uint8_t topics[3][32], data[7 * 32];
    struct jobdb_event e;

    (void)state;
    memset(topics, 0, sizeof topics);
    memset(topics[1], 0xab, 32);      /* jobId */
    memset(topics[2] + 12, 0xc1, 20); /* client */
    memset(data, 0, sizeof data);
    memset(data, 0x11, 32);                   /* ref */
    word_u64(data + 32, 1250);                /* priceCents */
    word_u64(data + 64, 4000000000000000ULL); /* amount */
    memset(data + 96, 0x5e, 32);              /* specHash */
    word_u64(data + 128, 1700086400);         /* deadline */
    word_u64(data + 160, 3600);               /* maxRuntime */
    word_u64(data + 192, 600);                /* window */
    assert_int_equal(jobdb_event_decode(JOBDB_EV_CREATED, (const uint8_t(*)[32])topics, 3, data,
                                        sizeof data, &e),
                     ERR_OK);
    assert_int_equal(e.kind, JOBDB_EV_CREATED);
    assert_memory_equal(e.job_id, topics[1], 32);
    assert_memory_equal(e.client, topics[2] + 12, 20);
    assert_memory_equal(e.ref, data, 32);
    assert_int_equal(e.price_usd_cents, 1250);
    assert_string_equal(e.amount_wei, "4000000000000000");
    assert_memory_equal(e.spec_hash, data + 96, 32);
    assert_int_equal(e.deadline_unix, 1700086400);
    assert_int_equal(e.max_runtime_s, 3600);
    assert_int_equal(e.window_s, 600);
    assert_string_equal(e.amount2_wei, "");

    /* Wrong shapes and dirty words. */
    assert_int_equal(jobdb_event_decode(JOBDB_EV_CREATED, (const uint8_t(*)[32])topics, 2, data,
                                        sizeof data, &e),
                     ERR_PROTO);
    assert_int_equal(jobdb_event_decode(JOBDB_EV_CREATED, (const uint8_t(*)[32])topics, 3, data,
                                        sizeof data - 32, &e),
                     ERR_PROTO);
    topics[2][0] = 1; /* an address with bits above 160 */
    assert_int_equal(jobdb_event_decode(JOBDB_EV_CREATED, (const uint8_t(*)[32])topics, 3, data,
                                        sizeof data, &e),
                     ERR_PROTO);
    topics[2][0] = 0;
    data[128 + 27] = 1; /* deadline over uint32 */
    assert_int_equal(jobdb_event_decode(JOBDB_EV_CREATED, (const uint8_t(*)[32])topics, 3, data,
                                        sizeof data, &e),
                     ERR_PROTO);
}

static void test_decode_others(void **state)
{
    uint8_t topics[4][32], data[2 * 32];
    struct jobdb_event e;

    (void)state;
    memset(topics, 0, sizeof topics);
    memset(topics[1], 0xab, 32);
    memset(topics[2] + 12, 0xc1, 20);
    memset(topics[3] + 12, 0xa1, 20);
    word_u64(data, 777);
    word_u64(data + 32, 1);
    assert_int_equal(
        jobdb_event_decode(JOBDB_EV_RELEASED, (const uint8_t(*)[32])topics, 4, data, 64, &e),
        ERR_OK);
    assert_memory_equal(e.worker, topics[3] + 12, 20);
    assert_string_equal(e.amount_wei, "777");
    assert_int_equal(e.by_client, 1);
    data[63] = 2; /* a bool that is neither 0 nor 1 */
    assert_int_equal(
        jobdb_event_decode(JOBDB_EV_RELEASED, (const uint8_t(*)[32])topics, 4, data, 64, &e),
        ERR_PROTO);
    word_u64(data + 32, 400);
    assert_int_equal(
        jobdb_event_decode(JOBDB_EV_RESOLVED, (const uint8_t(*)[32])topics, 4, data, 64, &e),
        ERR_OK);
    assert_string_equal(e.amount_wei, "777");
    assert_string_equal(e.amount2_wei, "400");
    word_u64(data, 1700003600);
    assert_int_equal(
        jobdb_event_decode(JOBDB_EV_CLAIMED, (const uint8_t(*)[32])topics, 4, data, 32, &e),
        ERR_OK);
    assert_int_equal(e.expires_unix, 1700003600);
    assert_memory_equal(e.client, topics[2] + 12, 20);
    assert_int_equal(
        jobdb_event_decode(JOBDB_EV_REOPENED, (const uint8_t(*)[32])topics, 4, NULL, 0, &e),
        ERR_OK);
    assert_memory_equal(e.worker, topics[3] + 12, 20);
    /* Withdrawn(address indexed account, address indexed to, uint256). */
    word_u64(data, 5);
    assert_int_equal(
        jobdb_event_decode(JOBDB_EV_WITHDRAWN, (const uint8_t(*)[32])topics, 3, data, 32, &e),
        ERR_PROTO); /* topic 1 is the 0xab.. job id: not an address */
    memcpy(topics[1], topics[2], 32);
    assert_int_equal(
        jobdb_event_decode(JOBDB_EV_WITHDRAWN, (const uint8_t(*)[32])topics, 3, data, 32, &e),
        ERR_OK);
    assert_memory_equal(e.account, topics[1] + 12, 20);
    assert_memory_equal(e.to, topics[2] + 12, 20);
    assert_string_equal(e.amount_wei, "5");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_decode_created),
        cmocka_unit_test(test_decode_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
