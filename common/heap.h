/*
 * heap -- glibc malloc settings for services that handle batches of
 * megabytes: the indexer (eth_getLogs answers of 1-3 MB, parsed into
 * thousands of small cJSON nodes, and events.apply messages of the same
 * size) and the job store (the other end of events.apply, and column
 * arrays of hundreds of KB for PostgreSQL).
 *
 * With glibc's defaults every such buffer over the dynamic mmap threshold
 * (128 KiB at first) is a fresh mmap(2), faulted in page by page and
 * unmapped when freed, and the top of the heap is trimmed back to the
 * kernel after each batch, so the next batch faults it in again. Measured
 * on the 100,000-event catch-up into PostgreSQL (tests/bench/
 * bench_indexer.sh, 2 cores, same chain, alternating runs): the indexer's
 * CPU fell from 3.2-3.4 s to 1.8-1.9 s (system time 0.7-1.0 s to
 * 0.2-0.3 s) and events/s rose 12-25% (docs/indexer.md, "Catch-up into
 * PostgreSQL").
 *
 * The cost is memory: freed heap up to HEAP_TRIM_THRESHOLD_BYTES stays
 * with the process instead of going back to the kernel.
 *
 * Source: the glibc manual, "Malloc Tunable Parameters" (mallopt(3):
 * M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, M_TOP_PAD). Operators can still
 * override each with GLIBC_TUNABLES (glibc.malloc.*), which this leaves
 * alone when set.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_HEAP_H
#define LOOM_HEAP_H

/* Allocations below this come from the heap, not from mmap(2). */
#define HEAP_MMAP_THRESHOLD_BYTES (32 << 20)
/* Free memory at the heap's top is returned to the kernel only beyond this. */
#define HEAP_TRIM_THRESHOLD_BYTES (128 << 20)
/* Extra bytes asked of the kernel each time the heap grows. */
#define HEAP_TOP_PAD_BYTES (16 << 20)

/*
 * Apply the three settings above with mallopt(3), unless the environment
 * sets GLIBC_TUNABLES (the operator's choice wins). Call once, at the start
 * of main(), before any thread starts. Returns 0 when applied or left to
 * GLIBC_TUNABLES, -1 when mallopt refused a value (nothing to do but log:
 * glibc's defaults stay in force).
 */
int heap_tune_for_batches(void);

#endif
