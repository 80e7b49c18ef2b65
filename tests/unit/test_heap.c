/* Unit tests for common/heap: the settings take effect, and GLIBC_TUNABLES
 * leaves glibc's defaults alone. Each case runs in a child process, since
 * mallopt() settings last for the life of the process.
 * SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heap.h"

/* In a child: tune (with GLIBC_TUNABLES set when <tunables>), allocate
 * 1 MiB (over glibc's default 128 KiB mmap threshold, under ours), and
 * exit with the number of mmapped chunks glibc then holds (mallinfo2's
 * hblks), or 100 when heap_tune_for_batches() failed. */
static int mmapped_after_1mib(const char *tunables)
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        if (tunables)
            setenv("GLIBC_TUNABLES", tunables, 1);
        else
            unsetenv("GLIBC_TUNABLES");
        if (heap_tune_for_batches() != 0)
            _exit(100);
        size_t before = mallinfo2().hblks;
        char *p = malloc((size_t)1 << 20);
        if (!p)
            _exit(101);
        memset(p, 1, (size_t)1 << 20);
        size_t n = mallinfo2().hblks - before;
        free(p);
        _exit((int)n);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_tuned_keeps_mib_buffers_on_heap(void **state)
{
    (void)state;
    assert_int_equal(mmapped_after_1mib(NULL), 0);
}

static void test_glibc_tunables_win(void **state)
{
    (void)state;
    /* The operator's GLIBC_TUNABLES: our settings are not applied, so the
     * 1 MiB block is mmapped under glibc's default threshold. */
    assert_int_equal(mmapped_after_1mib("glibc.malloc.check=0"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tuned_keeps_mib_buffers_on_heap),
        cmocka_unit_test(test_glibc_tunables_win),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
