/*
 * Tests for services/jobstore/jobmap.c, the proto <-> jobdb translation:
 * the chain job id against a vector computed with Foundry's cast, the
 * seed's price text, row -> wire record (requested vs escrow terms,
 * history), wire event -> jobdb event for every field the contract emits,
 * and which feed message a status change gives. No database needed.
 * SPDX-License-Identifier: MIT
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/jobstore/jobmap.h"
#include "hex.h"

#define CLIENT "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
#define WORKER "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
#define SPEC   "0xd4f02eaafd1a9e9de7d10972ca8e47fa7a985825c3c9c1e249c72683cb3e4f19"
#define TX     "0x709b55bd3da0f5a838125bd0ee20c5bfdd7caba173912d4281cae816b79a201b"
/* cast keccak $(cast abi-encode "f(address,bytes32)" CLIENT 0x00..2a) */
#define CHAIN_42 "0x367b324050bfe42dbb24c3286e5acbc18a9dbcf9ddc6ddc81e06ab106e433fdb"

static void hexb(const char *s, uint8_t *out, size_t n)
{
    assert_int_equal(hex_decode_exact(s, out, n), ERR_OK);
}

static void test_chain_id_and_price(void **state)
{
    struct proto_job_create a;
    struct jobmap_new_job nj;
    uint8_t client[20], id[32], want[32];

    (void)state;
    hexb(CLIENT, client, 20);
    hexb(CHAIN_42, want, 32);
    jobmap_chain_job_id(client, 42, id);
    assert_memory_equal(id, want, 32);

    memset(&a, 0, sizeof a);
    a.title = "t";
    a.description = "";
    a.type = PROTO_JOB_GRAFICA;
    a.price_usd_cents = 5;
    memcpy(a.wallet_address, client, 20);
    a.deadline_at = 1764547200;
    a.max_runtime_s = 60;
    assert_int_equal(jobmap_new_job(&a, 42, &nj), ERR_INVAL); /* no spec hash */
    a.has_spec_sha256 = true;
    hexb(SPEC, a.spec_sha256, 32);
    assert_int_equal(jobmap_new_job(&a, 42, &nj), ERR_OK);
    assert_string_equal(nj.in.price, "0.05");
    assert_string_equal(nj.in.chain_job_id, CHAIN_42);
    assert_string_equal(nj.in.wallet_address, CLIENT);
    assert_string_equal(nj.in.spec_sha256, SPEC);
    assert_int_equal(nj.in.type, JOBDB_TYPE_GRAFICA);
    assert_int_equal(nj.in.id, 42);
    assert_int_equal(nj.in.deadline_unix, 1764547200);
    assert_int_equal(nj.in.max_runtime_s, 60);
    a.price_usd_cents = 123456;
    assert_int_equal(jobmap_new_job(&a, 7, &nj), ERR_OK);
    assert_string_equal(nj.in.price, "1234.56");
}

/* A funded, claimed row as jobdb returns it. */
static void row_of(struct jobdb_job *r)
{
    memset(r, 0, sizeof *r);
    r->id = 42;
    r->title = "train";
    r->description = "d";
    r->type = JOBDB_TYPE_IA;
    r->price = "12.50";
    r->wallet_address = CLIENT;
    r->status = JOBDB_WORKING;
    r->progress = 35;
    r->created_at_ms = 1764460800123;
    r->worker_address = WORKER;
    r->chain_job_id = CHAIN_42;
    r->price_usd_cents = 1250;
    r->escrow_wei = "4166666666666666";
    r->spec_sha256 = SPEC;
    r->deadline_unix = 1764547200;
    r->claim_expires_unix = 1764464700;
    r->tx[JOBDB_TR_FUNDED].tx_hash = TX;
    r->tx[JOBDB_TR_FUNDED].at_unix = 1764460900;
    r->tx[JOBDB_TR_CLAIMED].tx_hash = TX;
    r->tx[JOBDB_TR_CLAIMED].at_unix = 1764461100;
    r->max_runtime_s = 600;
    r->requested_deadline_unix = 1764500000;
    r->requested_max_runtime_s = 3600;
}

static void test_job_record(void **state)
{
    struct jobdb_history_entry h[2];
    struct proto_job j;
    struct jobdb_job r;
    uint8_t want[32];

    (void)state;
    row_of(&r);
    memset(h, 0, sizeof h);
    h[0].status = JOBDB_OPEN;
    snprintf(h[0].tx_hash, sizeof h[0].tx_hash, "%s", TX);
    h[0].block_number = 100;
    h[0].at_unix = 1764460900;
    h[1] = h[0];
    h[1].status = JOBDB_WORKING;
    h[1].block_number = 101;
    assert_int_equal(jobmap_job(&r, h, 2, &j), ERR_OK);
    assert_int_equal(j.id, 42);
    assert_int_equal(j.status, PROTO_STATUS_WORKING);
    assert_int_equal(j.created_at, 1764460800);
    assert_int_equal(j.deadline_at, 1764547200); /* funded: the escrow's terms */
    assert_int_equal(j.max_runtime_s, 600);
    assert_true(j.has_escrow_wei);
    hexb("0x000000000000000000000000000000000000000000000000000ecd8fae906aaa", want, 32);
    assert_memory_equal(j.escrow_wei, want, 32); /* 4166666666666666 */
    assert_true(j.has_claim_expires_at);
    assert_false(j.has_challenge_ends_at);
    assert_int_equal(j.n_transitions, 2);
    assert_int_equal(j.transitions[1].status, PROTO_STATUS_WORKING);
    assert_int_equal(j.transitions[1].block_number, 101);
    proto_job_release(&j);

    /* Not funded yet: the requested terms; no escrow. */
    r.status = JOBDB_PENDING;
    r.worker_address = NULL;
    r.escrow_wei = NULL;
    r.tx[JOBDB_TR_FUNDED].tx_hash = NULL;
    r.tx[JOBDB_TR_CLAIMED].tx_hash = NULL;
    r.max_runtime_s = 0;
    r.claim_expires_unix = 0;
    assert_int_equal(jobmap_job(&r, NULL, 0, &j), ERR_OK);
    assert_int_equal(j.deadline_at, 1764500000);
    assert_int_equal(j.max_runtime_s, 3600);
    assert_false(j.has_escrow_wei);
    assert_false(j.has_worker_address);
    proto_job_release(&j);

    /* A row no wire record can describe. */
    r.requested_max_runtime_s = 0;
    assert_int_equal(jobmap_job(&r, NULL, 0, &j), ERR_DB);
    r.requested_max_runtime_s = 1;
    r.wallet_address = "0x12";
    assert_int_equal(jobmap_job(&r, NULL, 0, &j), ERR_DB);
}

/* File rows -> the record's files: roles by name, sha256 as bytes; a bad
 * row empties the list. */
static void test_job_files(void **state)
{
    struct jobdb_file f[3] = {
        {42, "job.json", JOBDB_FILE_SPEC, TX, 412, "application/json"},
        {42, "in.csv", JOBDB_FILE_INPUT, TX, 0, "text/csv"},
        {42, "out.tar", JOBDB_FILE_RESULT, TX, 1048576, "application/x-tar"},
    };
    struct proto_job j;
    struct jobdb_job r;
    uint8_t want[32];

    (void)state;
    row_of(&r);
    hexb(TX, want, 32);
    assert_int_equal(jobmap_job(&r, NULL, 0, &j), ERR_OK);
    assert_int_equal(j.n_files, 0);
    assert_int_equal(jobmap_job_files(f, 3, &j), ERR_OK);
    assert_int_equal(j.n_files, 3);
    assert_int_equal(j.files[0].role, PROTO_FILE_SPEC);
    assert_string_equal(j.files[0].name, "job.json");
    assert_int_equal(j.files[0].size_bytes, 412);
    assert_string_equal(j.files[0].content_type, "application/json");
    assert_int_equal(j.files[1].role, PROTO_FILE_INPUT);
    assert_int_equal(j.files[1].size_bytes, 0);
    assert_int_equal(j.files[2].role, PROTO_FILE_RESULT);
    assert_string_equal(j.files[2].name, "out.tar");
    assert_int_equal(j.files[2].size_bytes, 1048576);
    assert_memory_equal(j.files[2].sha256, want, 32);
    /* Setting again replaces the list. */
    assert_int_equal(jobmap_job_files(f + 2, 1, &j), ERR_OK);
    assert_int_equal(j.n_files, 1);
    assert_string_equal(j.files[0].name, "out.tar");

    f[1].sha256 = "0x12";
    assert_int_equal(jobmap_job_files(f, 3, &j), ERR_DB);
    assert_int_equal(j.n_files, 0);
    assert_null(j.files);
    f[1].sha256 = TX;
    f[1].size_bytes = -1;
    assert_int_equal(jobmap_job_files(f, 3, &j), ERR_DB);
    f[1].size_bytes = 0;
    f[1].role = (enum jobdb_file_role)7;
    assert_int_equal(jobmap_job_files(f, 3, &j), ERR_DB);
    assert_int_equal(j.n_files, 0);
    proto_job_release(&j);
}

static void test_events(void **state)
{
    struct proto_event ev;
    struct jobdb_event out;
    uint8_t cid[32], client[20], worker[20];

    (void)state;
    hexb(CHAIN_42, cid, 32);
    hexb(CLIENT, client, 20);
    hexb(WORKER, worker, 20);

    /* JobCreated: every parameter of the Solidity event lands. */
    memset(&ev, 0, sizeof ev);
    ev.block_number = 100;
    memset(ev.block_hash, 0xbb, 32);
    ev.block_at = 1764460900;
    memset(ev.tx_hash, 0xcc, 32);
    ev.log_index = 3;
    ev.name = PROTO_EV_JOB_CREATED;
    memcpy(ev.fields.chain_job_id, cid, 32);
    ev.fields.has_client = true;
    memcpy(ev.fields.client, client, 20);
    ev.fields.has_ref = true;
    ev.fields.ref[31] = 42;
    ev.fields.has_price_usd_cents = true;
    ev.fields.price_usd_cents = 1250;
    ev.fields.has_amount_wei = true;
    ev.fields.amount_wei[30] = 0x01; /* 256 */
    ev.fields.has_spec_sha256 = true;
    hexb(SPEC, ev.fields.spec_sha256, 32);
    ev.fields.has_deadline_at = true;
    ev.fields.deadline_at = 1764547200;
    ev.fields.has_max_runtime_s = true;
    ev.fields.max_runtime_s = 3600;
    ev.fields.has_challenge_window_s = true;
    ev.fields.challenge_window_s = 86400;
    assert_int_equal(jobmap_event(&ev, &out), ERR_OK);
    assert_int_equal(out.kind, JOBDB_EV_CREATED);
    assert_int_equal(out.block_number, 100);
    assert_int_equal(out.log_index, 3);
    assert_int_equal(out.block_time_unix, 1764460900);
    assert_memory_equal(out.job_id, cid, 32);
    assert_memory_equal(out.client, client, 20);
    assert_int_equal(out.ref[31], 42);
    assert_int_equal(out.price_usd_cents, 1250);
    assert_string_equal(out.amount_wei, "256");
    assert_int_equal(out.deadline_unix, 1764547200);
    assert_int_equal(out.max_runtime_s, 3600);
    assert_int_equal(out.window_s, 86400);

    /* DisputeResolved: toWorker and toClient in jobdb's two amounts. */
    memset(&ev.fields, 0, sizeof ev.fields);
    ev.name = PROTO_EV_DISPUTE_RESOLVED;
    memcpy(ev.fields.chain_job_id, cid, 32);
    ev.fields.has_client = ev.fields.has_worker = true;
    memcpy(ev.fields.client, client, 20);
    memcpy(ev.fields.worker, worker, 20);
    ev.fields.has_to_worker_wei = ev.fields.has_to_client_wei = true;
    ev.fields.to_client_wei[31] = 7;
    assert_int_equal(jobmap_event(&ev, &out), ERR_OK);
    assert_int_equal(out.kind, JOBDB_EV_RESOLVED);
    assert_string_equal(out.amount_wei, "0");
    assert_string_equal(out.amount2_wei, "7");
    assert_memory_equal(out.worker, worker, 20);

    /* PaymentReleased by the client; JobSubmitted's window end. */
    memset(&ev.fields, 0, sizeof ev.fields);
    ev.name = PROTO_EV_PAYMENT_RELEASED;
    ev.fields.has_by_client = true;
    ev.fields.by_client = true;
    assert_int_equal(jobmap_event(&ev, &out), ERR_OK);
    assert_int_equal(out.kind, JOBDB_EV_RELEASED);
    assert_int_equal(out.by_client, 1);
    memset(&ev.fields, 0, sizeof ev.fields);
    ev.name = PROTO_EV_JOB_SUBMITTED;
    ev.fields.has_challenge_ends_at = true;
    ev.fields.challenge_ends_at = 1764470000;
    assert_int_equal(jobmap_event(&ev, &out), ERR_OK);
    assert_int_equal(out.kind, JOBDB_EV_SUBMITTED);
    assert_int_equal(out.expires_unix, 1764470000);
    ev.name = PROTO_EV_JOB_REOPENED;
    assert_int_equal(jobmap_event(&ev, &out), ERR_OK);
    assert_int_equal(out.kind, JOBDB_EV_REOPENED);
    ev.log_index = (int64_t)UINT32_MAX + 1;
    assert_int_equal(jobmap_event(&ev, &out), ERR_INVAL);
}

static void test_feed(void **state)
{
    struct jobdb_job r;
    struct proto_feed m;
    uint8_t tx[32];
    int publish = -1;

    (void)state;
    hexb(TX, tx, 32);
    row_of(&r);
    assert_int_equal(jobmap_feed_change(&r, JOBDB_PENDING, 5, &m, &publish), ERR_OK);
    assert_int_equal(publish, 0);

    assert_int_equal(jobmap_feed_change(&r, JOBDB_OPEN, 5, &m, &publish), ERR_OK);
    assert_int_equal(publish, 1);
    assert_int_equal(m.kind, PROTO_FEED_OPEN);
    assert_string_equal(proto_feed_topic(&m), "job.open.IA");
    assert_int_equal(m.u.open.job_id, 42);
    assert_int_equal(m.u.open.max_runtime_s, 600);
    assert_int_equal(m.u.open.deadline_at, 1764547200);
    assert_int_equal(m.u.open.escrow_wei[31], 0xaa);

    /* Claimed: the claim's transaction and time. */
    assert_int_equal(jobmap_feed_change(&r, JOBDB_WORKING, 5, &m, &publish), ERR_OK);
    assert_int_equal(m.kind, PROTO_FEED_CLOSED);
    assert_int_equal(m.u.closed.status, PROTO_STATUS_WORKING);
    assert_true(m.u.closed.has_tx_hash);
    assert_memory_equal(m.u.closed.tx_hash, tx, 32);
    assert_int_equal(m.u.closed.at, 1764461100);

    /* Refunded by the arbiter: no JobRefunded tx, the resolution's. */
    r.tx[JOBDB_TR_RESOLVED].tx_hash = TX;
    r.tx[JOBDB_TR_RESOLVED].at_unix = 1764470000;
    assert_int_equal(jobmap_feed_change(&r, JOBDB_REFUNDED, 5, &m, &publish), ERR_OK);
    assert_int_equal(m.u.closed.status, PROTO_STATUS_REFUNDED);
    assert_int_equal(m.u.closed.at, 1764470000);
    /* No transaction known: stamped with now. */
    assert_int_equal(jobmap_feed_change(&r, JOBDB_DISPUTED, 5, &m, &publish), ERR_OK);
    assert_false(m.u.closed.has_tx_hash);
    assert_int_equal(m.u.closed.at, 5);

    assert_int_equal(jobmap_feed_progress(&r, 9, &m), ERR_OK);
    assert_int_equal(m.kind, PROTO_FEED_PROGRESS);
    assert_int_equal(m.u.progress.progress, 35);
    assert_int_equal(m.u.progress.at, 9);
    r.worker_address = NULL;
    assert_int_equal(jobmap_feed_progress(&r, 9, &m), ERR_DB);
    r.escrow_wei = NULL; /* an OPEN row without escrow cannot be offered */
    assert_int_equal(jobmap_feed_change(&r, JOBDB_OPEN, 5, &m, &publish), ERR_DB);
    assert_int_equal(publish, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_id_and_price),
        cmocka_unit_test(test_job_record),
        cmocka_unit_test(test_job_files),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_feed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
