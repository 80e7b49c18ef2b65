/* Unit tests for common/log: every line must parse as JSON with the fields
 * given. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char captured[200000];

/* Run fn with the log redirected to a temporary file; return the text. */
static const char *capture(void (*fn)(void))
{
    FILE *f = tmpfile();
    assert_non_null(f);
    log_set_fd(fileno(f));
    fn();
    log_set_fd(2);
    rewind(f);
    size_t n = fread(captured, 1, sizeof captured - 1, f);
    captured[n] = '\0';
    fclose(f);
    return captured;
}

static void emit_fields(void)
{
    log_init("worker", LOG_LEVEL_INFO);
    LOG_INFO("job.claimed", "job_id=%lld tx=%s ok=%d ratio=%g size_bytes=%zu note=plain flag", 42LL,
             "0xab\"\n", 1, 0.5, (size_t)7);
}

static void test_fields(void **state)
{
    (void)state;
    const char *out = capture(emit_fields);
    assert_non_null(strchr(out, '\n'));
    assert_null(strchr(strchr(out, '\n') + 1, '\n')); /* exactly one line */
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "service")->valuestring, "worker");
    assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "info");
    assert_string_equal(cJSON_GetObjectItem(j, "event")->valuestring, "job.claimed");
    assert_int_equal(cJSON_GetObjectItem(j, "job_id")->valuedouble, 42);
    assert_string_equal(cJSON_GetObjectItem(j, "tx")->valuestring, "0xab\"\n");
    assert_int_equal(cJSON_GetObjectItem(j, "ok")->valueint, 1);
    assert_true(cJSON_GetObjectItem(j, "ratio")->valuedouble == 0.5);
    assert_int_equal(cJSON_GetObjectItem(j, "size_bytes")->valueint, 7);
    assert_string_equal(cJSON_GetObjectItem(j, "note")->valuestring, "plain");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "flag")));
    const char *ts = cJSON_GetObjectItem(j, "ts")->valuestring;
    assert_int_equal(strlen(ts), 24); /* 2026-11-29T23:59:59.123Z */
    assert_int_equal(ts[23], 'Z');
    cJSON_Delete(j);
}

static int side_effects;
static const char *counted(void)
{
    side_effects++;
    return "x";
}

static void emit_filtered(void)
{
    log_init("gateway", LOG_LEVEL_WARN);
    LOG_INFO("skipped", "v=%s", counted()); /* level off: not evaluated */
    LOG_DEBUG("skipped", "v=%s", counted());
    LOG_WARN("kept", "v=%s", counted());
    LOG_ERROR("kept2", NULL);
}

static void test_level_filter(void **state)
{
    (void)state;
    side_effects = 0;
    const char *out = capture(emit_filtered);
    assert_int_equal(side_effects, 1);
    assert_null(strstr(out, "skipped"));
    assert_non_null(strstr(out, "\"event\":\"kept\""));
    assert_non_null(strstr(out, "\"level\":\"error\""));
    log_set_level(LOG_LEVEL_INFO);
}

static const char *volatile null_str; /* NULL, hidden from the format checker */
static void emit_nulls(void)
{
    log_init("t", LOG_LEVEL_DEBUG);
    LOG_DEBUG("n", "s=%s c=%c u=%u x=%x neg=%d", null_str, 'q', 7u, 255u, -3);
}

static void test_null_and_misc(void **state)
{
    (void)state;
    cJSON *j = cJSON_Parse(capture(emit_nulls));
    assert_non_null(j);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "s")));
    assert_string_equal(cJSON_GetObjectItem(j, "c")->valuestring, "q");
    assert_int_equal(cJSON_GetObjectItem(j, "u")->valueint, 7);
    assert_string_equal(cJSON_GetObjectItem(j, "x")->valuestring, "0xff");
    assert_int_equal(cJSON_GetObjectItem(j, "neg")->valueint, -3);
    cJSON_Delete(j);
}

static char *huge;
static void emit_huge(void)
{
    log_init("t", LOG_LEVEL_INFO);
    LOG_INFO("big", "a=%d body=%s", 1, huge);
}

static void test_truncation_still_json(void **state)
{
    (void)state;
    huge = malloc(100000);
    memset(huge, 'z', 99999);
    huge[99999] = '\0';
    const char *out = capture(emit_huge);
    free(huge);
    assert_true(strlen(out) <= 65536);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "truncated")));
    assert_int_equal(cJSON_GetObjectItem(j, "a")->valueint, 1);
    assert_null(cJSON_GetObjectItem(j, "body"));
    cJSON_Delete(j);
}

static void test_level_parse(void **state)
{
    (void)state;
    enum log_level l = LOG_LEVEL_INFO;
    assert_int_equal(log_level_parse("debug", &l), ERR_OK);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("error", &l), ERR_OK);
    assert_int_equal(l, LOG_LEVEL_ERROR);
    assert_int_equal(log_level_parse("loud", &l), ERR_INVAL);
    assert_int_equal(l, LOG_LEVEL_ERROR);
    assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
    assert_string_equal(log_level_name((enum log_level)9), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_null_and_misc), cmocka_unit_test(test_truncation_still_json),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
