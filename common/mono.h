/*
 * mono -- readings of CLOCK_MONOTONIC, for deadlines, timeouts and
 * latencies: never set back by NTP or an operator, unlike CLOCK_REALTIME
 * (clock_gettime(2)). The zero is arbitrary (in practice the boot), so a
 * reading only means something against another reading of the same machine.
 * Thread-safe; no errors (CLOCK_MONOTONIC exists on every Linux).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_MONO_H
#define LOOM_MONO_H

#include <stdint.h>

/* The monotonic clock in nanoseconds. */
uint64_t mono_ns(void);

/* The monotonic clock in whole milliseconds (rounded down). */
int64_t mono_ms(void);

/* The monotonic clock in milliseconds with the fraction (microsecond
 * resolution and better, for sleeps to a deadline and measured latencies). */
double mono_ms_frac(void);

#endif
