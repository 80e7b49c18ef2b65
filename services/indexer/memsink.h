/*
 * memsink -- a sink (sink.h) held in memory, optionally made durable by a
 * journal file: the indexer's test and benchmark sink, and its stand-in for
 * the job store until the bus client is wired.
 *
 * Events are kept in (block number, log index) order, keyed for duplicates
 * by (block hash, log index); the checkpoint and the hashes of every block a
 * batch listed are kept too, the last to answer rollback's ERR_STATE.
 * With a journal, every accepted command is first appended to the file as
 * one line, the command's own wire JSON (proto_request_encode(): an
 * events.apply or a reorg.rollback), and flushed with fdatasync(2) when
 * <sync> is set, before the memory changes and before the call returns: a
 * line is the unit of atomicity. memsink_open() replays the lines; a last
 * line without its newline or that does not decode is a write torn by a
 * crash, and is cut off (the command it held was never acknowledged).
 * Not here: job status (the job store derives it), logging.
 * Threading: one thread at a time.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_INDEXER_MEMSINK_H
#define LOOM_INDEXER_MEMSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "sink.h"

struct proto_event;
struct proto_checkpoint;
struct memsink;

/*
 * Open a sink. <journal_path> (borrowed) NULL keeps everything in memory;
 * otherwise the file is created (0600) or replayed.
 *   sync: fdatasync after every journal append (the crash-safe setting).
 *   out:  the sink's state, owned by the caller (memsink_free()).
 *   sink: filled with the operations and context for the follower.
 * Returns ERR_OK; ERR_IO (open, read or truncate failed; errno kept);
 * ERR_PROTO (a journal line other than the last does not decode, or a
 * replayed command is refused: the file is not a journal this module
 * wrote); ERR_NOMEM.
 */
LOOM_MUST_CHECK enum err memsink_open(const char *journal_path, bool sync, struct memsink **out,
                                      struct sink *sink);

/* Close the journal and free <m>. Accepts NULL. */
void memsink_free(struct memsink *m);

/* The events held, in (block number, log index) order; borrowed, valid until
 * the next command. */
const struct proto_event *memsink_events(const struct memsink *m, size_t *count);

/* Events ever newly applied (replays and rolled-back events included in the
 * count once each time they were applied). With no reorg, equal to the
 * number held exactly when no event was applied twice. */
uint64_t memsink_applied_total(const struct memsink *m);

/* Number of events.apply and reorg.rollback commands accepted since
 * memsink_open(), those replayed from the journal included. */
uint64_t memsink_commands(const struct memsink *m);

/*
 * Test hook: make the next apply or rollback fail with <rc> (not ERR_OK).
 * With <after_commit> the command is carried out first (journal and memory)
 * and only the reply is lost, as when the job store commits and the bus
 * times out.
 */
void memsink_fail_next(struct memsink *m, enum err rc, bool after_commit);

#endif
