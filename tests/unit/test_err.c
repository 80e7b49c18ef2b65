/* Unit tests for common/err. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "err.h"

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(err_str(ERR_OK), "ok");
    assert_string_equal(err_str(ERR_TIMEDOUT), "timed out");
    assert_string_equal(err_code(ERR_NOTFOUND), "not_found");
    assert_string_equal(err_code(ERR_AUTH), "unauthorized");
    assert_string_equal(err_str((enum err)999), "unknown error");
    assert_string_equal(err_code((enum err) - 1), "unknown");
}

static void test_every_code_named(void **state)
{
    (void)state;
    for (int e = 0; e < ERR__COUNT; e++) {
        assert_non_null(err_str((enum err)e));
        assert_true(strlen(err_str((enum err)e)) > 0);
        assert_true(strcmp(err_code((enum err)e), "unknown") != 0);
        for (int f = 0; f < e; f++) /* codes are distinct: clients switch on them */
            assert_true(strcmp(err_code((enum err)e), err_code((enum err)f)) != 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_every_code_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
