/*
 * heap -- glibc malloc settings for batch-handling services (heap.h).
 * SPDX-License-Identifier: MIT
 */
#include "heap.h"

#include <malloc.h>
#include <stdlib.h>

int heap_tune_for_batches(void)
{
    if (getenv("GLIBC_TUNABLES") != NULL)
        return 0;
    /* mallopt() returns 1 on success, 0 on error. */
    if (mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD_BYTES) != 1 ||
        mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD_BYTES) != 1 ||
        mallopt(M_TOP_PAD, HEAP_TOP_PAD_BYTES) != 1)
        return -1;
    return 0;
}
