/*
 * jobdb_schema -- the job store's migrations: 1 creates every table, 2
 * adds the job terms, 3 restates the hex checks in a cheaper, equivalent
 * form, 4 rekeys chain_events by block number first and drops an index.
 *
 * Conventions, checked by constraints so that no writer can break them:
 * 32-byte values (chain job id, sha256 hashes, block and tx hashes) are
 * "0x" + 64 lower-case hex digits; addresses are "0x" + 40 lower-case hex
 * digits; wei amounts are numeric(78,0) (a uint256 has at most 78 decimal
 * digits); chain times are timestamptz (the chain gives Unix seconds).
 * SPDX-License-Identifier: MIT
 */
#include "jobdb_schema.h"

#include "db.h"

#define HEX32    "'^0x[0-9a-f]{64}$'"
#define ADDR     "'^0x[0-9a-f]{40}$'"
#define STATUSES "('PENDING','OPEN','WORKING','SUBMITTED','COMPLETED','DISPUTED','REFUNDED')"

static const char *const v1_init[] = {
    /* One row per job: the seed's `projects` columns first, then what the
     * chain adds. Status and the fields after chain_job_id up to the
     * transition columns are derived from chain_events (jobdb.c fold). */
    "CREATE TABLE jobs ("
    " id bigserial PRIMARY KEY,"
    " title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),"
    " description text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),"
    " type text NOT NULL CHECK (type IN ('IA','GRAFICA')),"
    " price numeric NOT NULL CHECK (price > 0),"
    " wallet_address text NOT NULL CHECK (wallet_address ~ " ADDR "),"
    " status text NOT NULL DEFAULT 'PENDING' CHECK (status IN " STATUSES "),"
    " progress smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " cloud_link text,"
    " script_path text,"
    " external_links text,"
    " attachment_info text,"
    " worker_address text CHECK (worker_address ~ " ADDR "),"
    " chain_job_id text NOT NULL UNIQUE CHECK (chain_job_id ~ " HEX32 "),"
    " price_usd_cents bigint NOT NULL CHECK (price_usd_cents > 0),"
    " quote_wei numeric(78,0) CHECK (quote_wei >= 0),"
    " escrow_wei numeric(78,0) CHECK (escrow_wei >= 0),"
    " spec_sha256 text NOT NULL CHECK (spec_sha256 ~ " HEX32 "),"
    " result_sha256 text CHECK (result_sha256 ~ " HEX32 "),"
    " deadline_at timestamptz,"
    " claim_expires_at timestamptz,"
    " challenge_ends_at timestamptz,"
    " funded_tx text CHECK (funded_tx ~ " HEX32 "),"
    " funded_at timestamptz,"
    " claimed_tx text CHECK (claimed_tx ~ " HEX32 "),"
    " claimed_at timestamptz,"
    " submitted_tx text CHECK (submitted_tx ~ " HEX32 "),"
    " submitted_at timestamptz,"
    " released_tx text CHECK (released_tx ~ " HEX32 "),"
    " released_at timestamptz,"
    " disputed_tx text CHECK (disputed_tx ~ " HEX32 "),"
    " disputed_at timestamptz,"
    " resolved_tx text CHECK (resolved_tx ~ " HEX32 "),"
    " resolved_at timestamptz,"
    " reopened_tx text CHECK (reopened_tx ~ " HEX32 "),"
    " reopened_at timestamptz,"
    " refunded_tx text CHECK (refunded_tx ~ " HEX32 "),"
    " refunded_at timestamptz,"
    " funding_flag text"
    " CHECK (funding_flag IN ('wrong_client','spec_mismatch','underfunded')))",
    /* Listing filters, newest first (keyset on id). */
    "CREATE INDEX jobs_status_id ON jobs (status, id)",
    "CREATE INDEX jobs_client_id ON jobs (wallet_address, id)",
    "CREATE INDEX jobs_worker_id ON jobs (worker_address, id) WHERE worker_address IS NOT NULL",
    /* The keeper's deadline index: one partial index per action, so each
     * "due by now" scan reads only the jobs in the status that action needs. */
    "CREATE INDEX jobs_due_release ON jobs (challenge_ends_at) WHERE status = 'SUBMITTED'",
    "CREATE INDEX jobs_due_reopen ON jobs (claim_expires_at) WHERE status = 'WORKING'",
    "CREATE INDEX jobs_due_refund ON jobs (deadline_at)"
    " WHERE status IN ('OPEN','WORKING') OR (status = 'PENDING' AND funded_tx IS NOT NULL)",

    "CREATE TABLE job_files ("
    " job_id bigint NOT NULL REFERENCES jobs (id),"
    " name text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),"
    " role text NOT NULL CHECK (role IN ('input','spec','result')),"
    " sha256 text NOT NULL CHECK (sha256 ~ " HEX32 "),"
    " size_bytes bigint NOT NULL CHECK (size_bytes >= 0),"
    " content_type text NOT NULL CHECK (length(content_type) BETWEEN 1 AND 255),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (job_id, name))",

    /* The event log: every escrow event applied, exactly once per
     * (block_hash, log_index) (keyed by block number first since migration
     * 4). Job state is a fold over it, so a rollback
     * deletes the events above the fork and recomputes the jobs they touched. */
    "CREATE TABLE chain_events ("
    " block_number bigint NOT NULL CHECK (block_number >= 0),"
    " block_hash text NOT NULL CHECK (block_hash ~ " HEX32 "),"
    " log_index integer NOT NULL CHECK (log_index >= 0),"
    " tx_hash text NOT NULL CHECK (tx_hash ~ " HEX32 "),"
    " block_time timestamptz NOT NULL,"
    " kind text NOT NULL,"
    " chain_job_id text CHECK (chain_job_id ~ " HEX32 "),"
    " client text CHECK (client ~ " ADDR "),"
    " worker text CHECK (worker ~ " ADDR "),"
    " account text CHECK (account ~ " ADDR "),"
    " to_address text CHECK (to_address ~ " ADDR "),"
    " ref text CHECK (ref ~ " HEX32 "),"
    " amount_wei numeric(78,0),"
    " amount2_wei numeric(78,0),"
    " price_usd_cents bigint,"
    " spec_hash text,"
    " result_hash text,"
    " deadline_at timestamptz,"
    " expires_at timestamptz,"
    " max_runtime_s bigint,"
    " window_s bigint,"
    " by_client boolean,"
    " flag text,"
    " PRIMARY KEY (block_hash, log_index))",
    "CREATE INDEX chain_events_job ON chain_events (chain_job_id, block_number, log_index)",
    "CREATE INDEX chain_events_block ON chain_events (block_number)",

    /* Recent block hashes for reorg detection (pruned to the newest
     * JOBDB_KEEP_BLOCKS), and the one-row checkpoint. */
    "CREATE TABLE chain_blocks ("
    " number bigint PRIMARY KEY CHECK (number >= 0),"
    " hash text NOT NULL CHECK (hash ~ " HEX32 "),"
    " parent_hash text CHECK (parent_hash ~ " HEX32 "))",
    "CREATE TABLE chain_checkpoint ("
    " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
    " block_number bigint NOT NULL CHECK (block_number >= 0),"
    " block_hash text NOT NULL CHECK (block_hash ~ " HEX32 "),"
    " updated_at timestamptz NOT NULL DEFAULT now())",

    /* Signed-request nonces: a (signer, nonce) pair is accepted once. */
    "CREATE TABLE auth_nonces ("
    " address text NOT NULL CHECK (address ~ " ADDR "),"
    " nonce text NOT NULL CHECK (length(nonce) BETWEEN 1 AND 128),"
    " expires_at timestamptz NOT NULL,"
    " PRIMARY KEY (address, nonce))",
    "CREATE INDEX auth_nonces_expiry ON auth_nonces (expires_at)",
};

/* Migration 2: what a client asks for at creation (deadline, runtime per
 * claim; the escrow's JobCreated may differ and then wins), and the
 * escrow's max runtime once funded, so a job row and the job.open feed
 * carry every term a worker needs without reading chain_events. */
static const char *const v2_terms[] = {
    "ALTER TABLE jobs"
    " ADD COLUMN max_runtime_s bigint CHECK (max_runtime_s > 0),"
    " ADD COLUMN requested_deadline_at timestamptz,"
    " ADD COLUMN requested_max_runtime_s bigint CHECK (requested_max_runtime_s > 0)",
};

/* Migration 3: the same hex checks, cheaper. Migration 1 wrote them as
 * `x ~ '^0x[0-9a-f]{64}$'`; PostgreSQL's regex engine expands the bounded
 * repetition and takes about 8-12 us per test, against about 1.6 us for
 * `length(x) = 66 AND x ~ '^0x[0-9a-f]*$'` (psql, 50,000 strings; docs/
 * indexer.md, "Catch-up into PostgreSQL"), and there are 8 on every
 * chain_events row and 13 on every jobs row, tested on each INSERT and
 * UPDATE. The accepted set is the same: the regex admits only the 2 + N
 * one-byte characters "0x" and [0-9a-f] (case-sensitive; `$` is the end of
 * the string, a trailing newline is refused), so length() in characters is
 * 2 + N exactly when the digits are N; a NULL makes both forms NULL, which
 * a CHECK accepts, as before. Each constraint keeps the name PostgreSQL gave
 * it in migration 1 (<table>_<column>_check) and still fails with
 * check_violation (23514, db.c's ERR_INVAL). A fresh database applies 1, 2
 * and 3, so it ends with the same constraints as an upgraded one. Each
 * ALTER TABLE drops and re-adds its table's checks in one statement: one
 * scan of the existing rows per table, under the migration's lock. */
static const char *const v3_hex_checks[] = {
    "ALTER TABLE jobs"
    " DROP CONSTRAINT jobs_wallet_address_check, ADD CONSTRAINT jobs_wallet_address_check"
    " CHECK (length(wallet_address) = 42 AND wallet_address ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_worker_address_check, ADD CONSTRAINT jobs_worker_address_check"
    " CHECK (length(worker_address) = 42 AND worker_address ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_chain_job_id_check, ADD CONSTRAINT jobs_chain_job_id_check"
    " CHECK (length(chain_job_id) = 66 AND chain_job_id ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_spec_sha256_check, ADD CONSTRAINT jobs_spec_sha256_check"
    " CHECK (length(spec_sha256) = 66 AND spec_sha256 ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_result_sha256_check, ADD CONSTRAINT jobs_result_sha256_check"
    " CHECK (length(result_sha256) = 66 AND result_sha256 ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_funded_tx_check, ADD CONSTRAINT jobs_funded_tx_check"
    " CHECK (length(funded_tx) = 66 AND funded_tx ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_claimed_tx_check, ADD CONSTRAINT jobs_claimed_tx_check"
    " CHECK (length(claimed_tx) = 66 AND claimed_tx ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_submitted_tx_check, ADD CONSTRAINT jobs_submitted_tx_check"
    " CHECK (length(submitted_tx) = 66 AND submitted_tx ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_released_tx_check, ADD CONSTRAINT jobs_released_tx_check"
    " CHECK (length(released_tx) = 66 AND released_tx ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_disputed_tx_check, ADD CONSTRAINT jobs_disputed_tx_check"
    " CHECK (length(disputed_tx) = 66 AND disputed_tx ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_resolved_tx_check, ADD CONSTRAINT jobs_resolved_tx_check"
    " CHECK (length(resolved_tx) = 66 AND resolved_tx ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_reopened_tx_check, ADD CONSTRAINT jobs_reopened_tx_check"
    " CHECK (length(reopened_tx) = 66 AND reopened_tx ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT jobs_refunded_tx_check, ADD CONSTRAINT jobs_refunded_tx_check"
    " CHECK (length(refunded_tx) = 66 AND refunded_tx ~ '^0x[0-9a-f]*$')",
    "ALTER TABLE job_files"
    " DROP CONSTRAINT job_files_sha256_check, ADD CONSTRAINT job_files_sha256_check"
    " CHECK (length(sha256) = 66 AND sha256 ~ '^0x[0-9a-f]*$')",
    "ALTER TABLE chain_events"
    " DROP CONSTRAINT chain_events_block_hash_check, ADD CONSTRAINT chain_events_block_hash_check"
    " CHECK (length(block_hash) = 66 AND block_hash ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT chain_events_tx_hash_check, ADD CONSTRAINT chain_events_tx_hash_check"
    " CHECK (length(tx_hash) = 66 AND tx_hash ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT chain_events_chain_job_id_check, ADD CONSTRAINT "
    "chain_events_chain_job_id_check"
    " CHECK (length(chain_job_id) = 66 AND chain_job_id ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT chain_events_client_check, ADD CONSTRAINT chain_events_client_check"
    " CHECK (length(client) = 42 AND client ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT chain_events_worker_check, ADD CONSTRAINT chain_events_worker_check"
    " CHECK (length(worker) = 42 AND worker ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT chain_events_account_check, ADD CONSTRAINT chain_events_account_check"
    " CHECK (length(account) = 42 AND account ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT chain_events_to_address_check, ADD CONSTRAINT chain_events_to_address_check"
    " CHECK (length(to_address) = 42 AND to_address ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT chain_events_ref_check, ADD CONSTRAINT chain_events_ref_check"
    " CHECK (length(ref) = 66 AND ref ~ '^0x[0-9a-f]*$')",
    "ALTER TABLE chain_blocks"
    " DROP CONSTRAINT chain_blocks_hash_check, ADD CONSTRAINT chain_blocks_hash_check"
    " CHECK (length(hash) = 66 AND hash ~ '^0x[0-9a-f]*$'),"
    " DROP CONSTRAINT chain_blocks_parent_hash_check, ADD CONSTRAINT chain_blocks_parent_hash_check"
    " CHECK (length(parent_hash) = 66 AND parent_hash ~ '^0x[0-9a-f]*$')",
    "ALTER TABLE chain_checkpoint"
    " DROP CONSTRAINT chain_checkpoint_block_hash_check, ADD CONSTRAINT "
    "chain_checkpoint_block_hash_check"
    " CHECK (length(block_hash) = 66 AND block_hash ~ '^0x[0-9a-f]*$')",
    "ALTER TABLE auth_nonces"
    " DROP CONSTRAINT auth_nonces_address_check, ADD CONSTRAINT auth_nonces_address_check"
    " CHECK (length(address) = 42 AND address ~ '^0x[0-9a-f]*$')",
};

/* Migration 4: one index less per event row. Migration 1 keyed
 * chain_events by (block_hash, log_index) and indexed block_number apart,
 * for rollbacks ("every event above the fork") and the duplicate check by
 * block; each new event paid three B-tree entries. The primary key is now
 * (block_number, log_index, block_hash), which serves both, and the
 * separate block_number index goes: about 100,000 WAL records and 10% of
 * the event INSERT's time less per 100,000 events (docs/indexer.md,
 * "Session of 2026-11-30 (evening)"). For chain data it says what
 * migration 1 said: a block hash names one block (the hash commits to the
 * header, number included), so events unique per (block number, log index,
 * block hash) are unique per (block hash, log index). The database no
 * longer refuses by itself the same (hash, log index) under two numbers,
 * which no node can serve; the job store takes batches only from the
 * indexer, checks each event's hash against its batch's block of that
 * number, asks which events it holds by (block range, block hashes) and
 * compares all three (jobdb.c, check_batch, st_event_held). On an existing database
 * the ALTER TABLE builds the new index under an exclusive lock on
 * chain_events until the migration commits (docs/operators.md). */
static const char *const v4_events_key[] = {
    "ALTER TABLE chain_events DROP CONSTRAINT chain_events_pkey,"
    " ADD CONSTRAINT chain_events_pkey PRIMARY KEY (block_number, log_index, block_hash)",
    "DROP INDEX IF EXISTS chain_events_block",
};

static const struct db_migration migrations[] = {
    {1, "init", v1_init, sizeof v1_init / sizeof v1_init[0]},
    {2, "job_terms", v2_terms, sizeof v2_terms / sizeof v2_terms[0]},
    {3, "hex_checks", v3_hex_checks, sizeof v3_hex_checks / sizeof v3_hex_checks[0]},
    {4, "events_key", v4_events_key, sizeof v4_events_key / sizeof v4_events_key[0]},
};

const struct db_migration *jobdb_schema_migrations(size_t *n)
{
    *n = sizeof migrations / sizeof migrations[0];
    return migrations;
}
