/* Unit tests for proto/jobspec: valid specs of each kind and every decoder
 * error path. SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jobspec.h"

#define SHA_A "0000000000000000000000000000000000000000000000000000000000000001"
#define SHA_B "abcdefABCDEF0123456789abcdefABCDEF0123456789abcdefABCDEF01234567"

static struct jobspec *decode_ok(const char *json)
{
    struct jobspec *s = NULL;
    char err[JOBSPEC_ERR_MAX];
    enum err e = jobspec_decode(json, strlen(json), &s, err);
    if (e != ERR_OK)
        fail_msg("decode failed: %s (%s)", err, json);
    return s;
}

/* Decode <json>, expect <want> and an error message containing <needle>. */
static void decode_bad(const char *json, enum err want, const char *needle)
{
    struct jobspec *s = NULL;
    char err[JOBSPEC_ERR_MAX];
    enum err e = jobspec_decode(json, strlen(json), &s, err);
    if (e != want || strstr(err, needle) == NULL)
        fail_msg("spec %s: got %s \"%s\", want %s containing \"%s\"", json, err_str(e), err,
                 err_str(want), needle);
    assert_null(s);
}

static void test_opencl_full(void **state)
{
    (void)state;
    struct jobspec *s = decode_ok(
        "{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"a.bin\",\"sha256\":\"" SHA_A "\"},"
        "{\"name\":\"k.cl\",\"sha256\":\"" SHA_B "\"}],"
        "\"opencl\":{\"source_file\":\"k.cl\",\"kernel\":\"step2\",\"global\":[64,32],"
        "\"local\":[8,4],\"passes\":3,\"args\":["
        "{\"type\":\"in\",\"file\":\"a.bin\",\"output\":\"a_after.bin\"},"
        "{\"type\":\"out\",\"size_bytes\":4096,\"output\":\"c.bin\"},"
        "{\"type\":\"local\",\"size_bytes\":256},"
        "{\"type\":\"int\",\"value\":-5},{\"type\":\"uint\",\"value\":4294967295},"
        "{\"type\":\"long\",\"value\":\"-9223372036854775808\"},"
        "{\"type\":\"ulong\",\"value\":\"18446744073709551615\"},"
        "{\"type\":\"float\",\"value\":1.5},{\"type\":\"double\",\"value\":-2.25},"
        "{\"type\":\"long\",\"value\":123}]}}");
    assert_int_equal(s->kind, JOBSPEC_OPENCL);
    assert_int_equal(s->n_inputs, 2);
    assert_string_equal(s->inputs[1].name, "k.cl");
    assert_int_equal(s->inputs[0].sha256[31], 1);
    assert_int_equal(s->inputs[1].sha256[0], 0xab);
    const struct jobspec_opencl *c = &s->u.opencl;
    assert_null(c->source);
    assert_string_equal(c->source_file, "k.cl");
    assert_string_equal(c->kernel, "step2");
    assert_int_equal(c->dims, 2);
    assert_int_equal(c->global[0], 64);
    assert_int_equal(c->global[1], 32);
    assert_int_equal(c->local[1], 4);
    assert_int_equal(c->passes, 3);
    assert_int_equal(c->n_args, 10);
    assert_int_equal(c->args[0].type, JOBSPEC_ARG_IN);
    assert_string_equal(c->args[0].output, "a_after.bin");
    assert_int_equal(c->args[1].size_bytes, 4096);
    assert_int_equal(c->args[2].type, JOBSPEC_ARG_LOCAL);
    assert_int_equal(c->args[3].value.i, -5);
    assert_int_equal(c->args[4].value.u, 4294967295u);
    assert_true(c->args[5].value.l == INT64_MIN);
    assert_true(c->args[6].value.ul == UINT64_MAX);
    assert_true(c->args[7].value.f == 1.5f);
    assert_true(c->args[8].value.d == -2.25);
    assert_true(c->args[9].value.l == 123);
    assert_non_null(jobspec_find_input(s, "a.bin"));
    assert_null(jobspec_find_input(s, "zzz"));
    assert_string_equal(jobspec_kind_name(s->kind), "opencl");
    jobspec_free(s);
}

static void test_train_and_image(void **state)
{
    (void)state;
    struct jobspec *s = decode_ok(
        "{\"v\":1,\"kind\":\"train\",\"inputs\":[{\"name\":\"d.csv\",\"sha256\":\"" SHA_A "\"}],"
        "\"train\":{\"model\":\"mlp\",\"hidden\":32,\"epochs\":5,\"batch_size\":16,"
        "\"learning_rate\":0.1,\"seed\":7,\"test_fraction\":0.25,\"data\":\"d.csv\","
        "\"header\":true,\"label_column\":0}}");
    assert_int_equal(s->u.train.model, JOBSPEC_MODEL_MLP);
    assert_int_equal(s->u.train.hidden, 32);
    assert_int_equal(s->u.train.epochs, 5);
    assert_int_equal(s->u.train.batch_size, 16);
    assert_true(s->u.train.learning_rate == 0.1);
    assert_int_equal(s->u.train.seed, 7);
    assert_true(s->u.train.test_fraction == 0.25);
    assert_int_equal(s->u.train.header, 1);
    assert_int_equal(s->u.train.label_column, 0);
    jobspec_free(s);
    /* Defaults. */
    s = decode_ok("{\"v\":1,\"kind\":\"train\",\"inputs\":[{\"name\":\"d.csv\",\"sha256\":\"" SHA_A
                  "\"}],\"train\":{\"model\":\"logistic\",\"epochs\":1,\"learning_rate\":1,"
                  "\"data\":\"d.csv\"}}");
    assert_int_equal(s->u.train.hidden, 0);
    assert_int_equal(s->u.train.batch_size, 32);
    assert_int_equal(s->u.train.seed, 1);
    assert_true(s->u.train.test_fraction == 0.2);
    assert_int_equal(s->u.train.header, 0);
    assert_int_equal(s->u.train.label_column, -1);
    jobspec_free(s);
    s = decode_ok(
        "{\"v\":1,\"kind\":\"image\",\"inputs\":[{\"name\":\"p.jpg\",\"sha256\":\"" SHA_A "\"}],"
        "\"image\":{\"input\":\"p.jpg\",\"steps\":[{\"op\":\"gaussian_blur\",\"sigma\":2},"
        "{\"op\":\"sharpen\",\"amount\":0.5},{\"op\":\"grayscale\"},"
        "{\"op\":\"resize\",\"width\":10,\"height\":20},"
        "{\"op\":\"brightness_contrast\",\"brightness\":-3}]}}");
    const struct jobspec_image *im = &s->u.image;
    assert_string_equal(im->output, "output.png");
    assert_int_equal(im->n_steps, 5);
    assert_int_equal(im->steps[0].type, JOBSPEC_STEP_GAUSSIAN_BLUR);
    assert_true(im->steps[0].p1 == 2.0);
    assert_true(im->steps[1].p1 == 0.5);
    assert_int_equal(im->steps[2].type, JOBSPEC_STEP_GRAYSCALE);
    assert_int_equal(im->steps[3].width, 10);
    assert_int_equal(im->steps[3].height, 20);
    assert_true(im->steps[4].p1 == -3.0);
    assert_true(im->steps[4].p2 == 1.0);
    jobspec_free(s);
}

#define CL_HEAD                                                                                    \
    "{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"a.bin\",\"sha256\":\"" SHA_A "\"}],"
#define CL_BODY(x) CL_HEAD "\"opencl\":{\"source\":\"k\",\"kernel\":\"k\",\"global\":[4]" x "}}"
#define ARG(x)     CL_BODY(",\"args\":[" x "]")

static void test_top_level_errors(void **state)
{
    (void)state;
    decode_bad("{", ERR_INVAL, "not valid JSON");
    decode_bad("[]", ERR_INVAL, "must be an object");
    decode_bad("{\"kind\":\"opencl\"}", ERR_INVAL, "\"v\": missing");
    decode_bad("{\"v\":2,\"kind\":\"opencl\"}", ERR_VERSION, "version 1 only");
    decode_bad("{\"v\":1}", ERR_INVAL, "\"kind\": missing");
    decode_bad("{\"v\":1,\"kind\":\"render\"}", ERR_INVAL, "is not one of opencl, train, image");
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"x\":1}", ERR_INVAL, "\"x\": unknown key");
    decode_bad("{\"v\":1,\"v\":1,\"kind\":\"opencl\"}", ERR_INVAL, "\"v\": duplicate key");
    decode_bad("{\"v\":1,\"kind\":\"opencl\"}", ERR_INVAL, "\"opencl\": missing");
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"opencl\":{},\"train\":{}}", ERR_INVAL,
               "\"train\": not allowed in a job of kind \"opencl\"");
    size_t big = JOBSPEC_MAX_JSON_BYTES + 1;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, ' ', big);
    huge[big] = '\0';
    decode_bad(huge, ERR_TOOBIG, "over the limit");
    free(huge);
}

static void test_input_errors(void **state)
{
    (void)state;
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"inputs\":{},\"opencl\":{}}", ERR_INVAL,
               "\"inputs\": must be an array");
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"../x\",\"sha256\":\"" SHA_A
               "\"}],\"opencl\":{}}",
               ERR_INVAL, "not a safe file name");
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\".hidden\",\"sha256\":\"" SHA_A
               "\"}],\"opencl\":{}}",
               ERR_INVAL, "not a safe file name");
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"a\"}],\"opencl\":{}}",
               ERR_INVAL, "\"inputs[0].sha256\": missing");
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"a\",\"sha256\":\"12\"}],"
               "\"opencl\":{}}",
               ERR_INVAL, "must be 64 hex digits");
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"a\",\"sha256\":\"" SHA_A
               "\",\"size\":3}],\"opencl\":{}}",
               ERR_INVAL, "\"inputs[0].size\": unknown key");
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":\"a\",\"sha256\":\"" SHA_A
               "\"},{\"name\":\"a\",\"sha256\":\"" SHA_A "\"}],\"opencl\":{}}",
               ERR_INVAL, "is listed twice");
    decode_bad("{\"v\":1,\"kind\":\"opencl\",\"inputs\":[{\"name\":7,\"sha256\":\"" SHA_A
               "\"}],\"opencl\":{}}",
               ERR_INVAL, "\"inputs[0].name\": must be a string");
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(buf_append_str(&b, "{\"v\":1,\"kind\":\"opencl\",\"inputs\":["), ERR_OK);
    for (int i = 0; i <= JOBSPEC_MAX_INPUTS; i++)
        assert_int_equal(
            buf_appendf(&b, "%s{\"name\":\"f%d\",\"sha256\":\"%s\"}", i ? "," : "", i, SHA_A),
            ERR_OK);
    assert_int_equal(buf_append_str(&b, "],\"opencl\":{}}"), ERR_OK);
    decode_bad(buf_cstr(&b), ERR_INVAL, "at most 16 entries");
    buf_release(&b);
}

static void test_opencl_errors(void **state)
{
    (void)state;
    decode_bad(CL_HEAD "\"opencl\":{\"kernel\":\"k\",\"global\":[4]}}", ERR_INVAL,
               "exactly one of source and source_file");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"source_file\":\"a.bin\",\"kernel\":\"k\","
                       "\"global\":[4]}}",
               ERR_INVAL, "exactly one of source and source_file");
    decode_bad(CL_HEAD "\"opencl\":{\"source_file\":\"b.cl\",\"kernel\":\"k\",\"global\":[4]}}",
               ERR_INVAL, "\"opencl.source_file\": \"b.cl\" is not listed in inputs");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"\",\"kernel\":\"k\",\"global\":[4]}}", ERR_INVAL,
               "\"opencl.source\": must be 1 to");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"global\":[4]}}", ERR_INVAL,
               "\"opencl.kernel\": missing");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"kernel\":\"1k\",\"global\":[4]}}", ERR_INVAL,
               "not a C identifier");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"kernel\":\"k\"}}", ERR_INVAL,
               "\"opencl.global\": missing");
    decode_bad(CL_BODY(",\"bogus\":1"), ERR_INVAL, "\"opencl.bogus\": unknown key");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"kernel\":\"k\",\"global\":[1,2,3,4]}}",
               ERR_INVAL, "array of 1 to 3 integers");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"kernel\":\"k\",\"global\":[]}}", ERR_INVAL,
               "array of 1 to 3 integers");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"kernel\":\"k\",\"global\":[0]}}", ERR_INVAL,
               "\"opencl.global[0]\": must be an integer from 1");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"kernel\":\"k\",\"global\":[2.5]}}",
               ERR_INVAL, "\"opencl.global[0]\": must be an integer");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"kernel\":\"k\",\"global\":[65536,65536]}}",
               ERR_INVAL, "more than 1073741824 work-items");
    decode_bad(CL_BODY(",\"local\":[4,1]"), ERR_INVAL, "as many entries as opencl.global");
    decode_bad(CL_BODY(",\"local\":[3]"), ERR_INVAL, "does not divide global size 4");
    decode_bad(CL_HEAD "\"opencl\":{\"source\":\"x\",\"kernel\":\"k\",\"global\":[2048],"
                       "\"local\":[2048]}}",
               ERR_INVAL, "more than 1024 work-items per group");
    decode_bad(CL_BODY(",\"passes\":0"), ERR_INVAL, "\"opencl.passes\": must be an integer");
    decode_bad(CL_BODY(",\"passes\":100001"), ERR_INVAL, "\"opencl.passes\"");
    decode_bad(CL_BODY(",\"args\":{}"), ERR_INVAL, "\"opencl.args\": must be an array");
}

static void test_arg_errors(void **state)
{
    (void)state;
    decode_bad(ARG("3"), ERR_INVAL, "\"opencl.args[0]\": must be an object");
    decode_bad(ARG("{}"), ERR_INVAL, "\"opencl.args[0].type\": missing");
    decode_bad(ARG("{\"type\":\"half\"}"), ERR_INVAL, "\"half\" is not one of int");
    decode_bad(ARG("{\"type\":\"int\"}"), ERR_INVAL, "\"opencl.args[0].value\": missing");
    decode_bad(ARG("{\"type\":\"int\",\"value\":2147483648}"), ERR_INVAL,
               "must be an integer from -2147483648 to 2147483647");
    decode_bad(ARG("{\"type\":\"uint\",\"value\":-1}"), ERR_INVAL, "from 0 to 4294967295");
    decode_bad(ARG("{\"type\":\"int\",\"value\":\"3\"}"), ERR_INVAL, "must be an integer");
    decode_bad(ARG("{\"type\":\"long\",\"value\":\"12x\"}"), ERR_INVAL,
               "is not a 64-bit decimal integer");
    decode_bad(ARG("{\"type\":\"long\",\"value\":\"9223372036854775808\"}"), ERR_INVAL,
               "is not a 64-bit decimal integer");
    decode_bad(ARG("{\"type\":\"ulong\",\"value\":\"-1\"}"), ERR_INVAL,
               "unsigned 64-bit decimal integer");
    decode_bad(ARG("{\"type\":\"long\",\"value\":1e300}"), ERR_INVAL, "must be an integer");
    decode_bad(ARG("{\"type\":\"float\",\"value\":1e39}"), ERR_INVAL, "must be a finite float");
    decode_bad(ARG("{\"type\":\"double\",\"value\":true}"), ERR_INVAL, "must be a finite double");
    decode_bad(ARG("{\"type\":\"int\",\"value\":1,\"size_bytes\":4}"), ERR_INVAL,
               "\"opencl.args[0].size_bytes\": unknown key");
    decode_bad(ARG("{\"type\":\"in\"}"), ERR_INVAL, "\"opencl.args[0].file\": missing");
    decode_bad(ARG("{\"type\":\"in\",\"file\":\"b.bin\"}"), ERR_INVAL,
               "\"opencl.args[0].file\": \"b.bin\" is not listed in inputs");
    decode_bad(ARG("{\"type\":\"in\",\"file\":\"a.bin\",\"output\":\"x/y\"}"), ERR_INVAL,
               "not a safe file name");
    decode_bad(ARG("{\"type\":\"out\"}"), ERR_INVAL, "\"opencl.args[0].size_bytes\": missing");
    decode_bad(ARG("{\"type\":\"out\",\"size_bytes\":0}"), ERR_INVAL, "must be an integer from 1");
    decode_bad(ARG("{\"type\":\"out\",\"size_bytes\":1073741825}"), ERR_INVAL,
               "from 1 to 1073741824");
    decode_bad(ARG("{\"type\":\"out\",\"size_bytes\":1073741824},"
                   "{\"type\":\"out\",\"size_bytes\":1}"),
               ERR_INVAL, "output buffers exceed 1073741824 bytes in all");
    decode_bad(ARG("{\"type\":\"local\",\"size_bytes\":1048577}"), ERR_INVAL, "from 1 to 1048576");
    decode_bad(ARG("{\"type\":\"local\",\"size_bytes\":4,\"output\":\"l.bin\"}"), ERR_INVAL,
               "\"opencl.args[0].output\": unknown key");
    decode_bad(ARG("{\"type\":\"out\",\"size_bytes\":4,\"output\":\"o\"},"
                   "{\"type\":\"out\",\"size_bytes\":4,\"output\":\"o\"}"),
               ERR_INVAL, "\"opencl.args[1].output\": \"o\" is used twice");
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i <= JOBSPEC_MAX_ARGS; i++)
        assert_int_equal(buf_appendf(&b, "%s{\"type\":\"int\",\"value\":%d}", i ? "," : "", i),
                         ERR_OK);
    struct buf spec;
    buf_init(&spec, 0);
    assert_int_equal(buf_appendf(&spec, ARG("%s"), buf_cstr(&b)), ERR_OK);
    decode_bad(buf_cstr(&spec), ERR_INVAL, "at most 32 entries");
    buf_release(&spec);
    buf_release(&b);
}

#define TR_HEAD                                                                                    \
    "{\"v\":1,\"kind\":\"train\",\"inputs\":[{\"name\":\"d.csv\",\"sha256\":\"" SHA_A "\"}],"
#define TR(x) TR_HEAD "\"train\":{\"epochs\":3,\"learning_rate\":0.1,\"data\":\"d.csv\"," x "}}"

static void test_train_errors(void **state)
{
    (void)state;
    decode_bad(TR_HEAD "\"train\":{\"epochs\":3,\"learning_rate\":0.1,\"data\":\"d.csv\"}}",
               ERR_INVAL, "\"train.model\": missing");
    decode_bad(TR("\"model\":\"svm\""), ERR_INVAL, "must be \"logistic\" or \"mlp\"");
    decode_bad(TR("\"model\":\"logistic\",\"hidden\":8"), ERR_INVAL,
               "\"train.hidden\": only for model \"mlp\"");
    decode_bad(TR("\"model\":\"mlp\",\"hidden\":0"), ERR_INVAL, "\"train.hidden\": must be");
    decode_bad(TR("\"model\":\"mlp\",\"hidden\":4097"), ERR_INVAL, "from 1 to 4096");
    decode_bad(TR_HEAD "\"train\":{\"model\":\"mlp\",\"learning_rate\":0.1,\"data\":\"d.csv\"}}",
               ERR_INVAL, "\"train.epochs\": missing");
    decode_bad(TR("\"model\":\"mlp\",\"batch_size\":0"), ERR_INVAL, "\"train.batch_size\"");
    decode_bad(TR("\"model\":\"mlp\",\"batch_size\":4097"), ERR_INVAL, "from 1 to 4096");
    decode_bad(TR_HEAD "\"train\":{\"model\":\"mlp\",\"epochs\":3,\"data\":\"d.csv\"}}", ERR_INVAL,
               "\"train.learning_rate\": missing");
    decode_bad(TR_HEAD "\"train\":{\"model\":\"mlp\",\"epochs\":3,\"learning_rate\":0,"
                       "\"data\":\"d.csv\"}}",
               ERR_INVAL, "\"train.learning_rate\": must be a number from 1e-09 to 10");
    decode_bad(TR("\"model\":\"mlp\",\"test_fraction\":0.95"), ERR_INVAL,
               "\"train.test_fraction\": must be a number from 0.05 to 0.9");
    decode_bad(TR("\"model\":\"mlp\",\"seed\":-1"), ERR_INVAL, "\"train.seed\"");
    decode_bad(TR("\"model\":\"mlp\",\"header\":1"), ERR_INVAL,
               "\"train.header\": must be true or false");
    decode_bad(TR("\"model\":\"mlp\",\"label_column\":5000"), ERR_INVAL,
               "\"train.label_column\": must be an integer from -4096 to 4095");
    decode_bad(TR_HEAD "\"train\":{\"model\":\"mlp\",\"epochs\":3,\"learning_rate\":0.1,"
                       "\"data\":\"e.csv\"}}",
               ERR_INVAL, "\"train.data\": \"e.csv\" is not listed in inputs");
    decode_bad(TR_HEAD "\"train\":{\"model\":\"mlp\",\"epochs\":3,\"learning_rate\":0.1}}",
               ERR_INVAL, "\"train.data\": missing");
    decode_bad(TR("\"model\":\"mlp\",\"optimizer\":\"adam\""), ERR_INVAL,
               "\"train.optimizer\": unknown key");
}

#define IM_HEAD                                                                                    \
    "{\"v\":1,\"kind\":\"image\",\"inputs\":[{\"name\":\"p.png\",\"sha256\":\"" SHA_A "\"}],"
#define IM(x) IM_HEAD "\"image\":{\"input\":\"p.png\",\"steps\":[" x "]}}"

static void test_image_errors(void **state)
{
    (void)state;
    decode_bad(IM_HEAD "\"image\":{\"steps\":[{\"op\":\"grayscale\"}]}}", ERR_INVAL,
               "\"image.input\": missing");
    decode_bad(IM_HEAD "\"image\":{\"input\":\"q.png\",\"steps\":[{\"op\":\"grayscale\"}]}}",
               ERR_INVAL, "\"image.input\": \"q.png\" is not listed in inputs");
    decode_bad(IM_HEAD "\"image\":{\"input\":\"p.png\"}}", ERR_INVAL,
               "\"image.steps\": must be an array of 1 to 32 steps");
    decode_bad(IM(""), ERR_INVAL, "\"image.steps\": must be an array of 1 to 32 steps");
    decode_bad(IM_HEAD "\"image\":{\"input\":\"p.png\",\"output\":\"/etc/x\",\"steps\":[{\"op\":"
                       "\"grayscale\"}]}}",
               ERR_INVAL, "not a safe file name");
    decode_bad(IM("1"), ERR_INVAL, "\"image.steps[0]\": must be an object");
    decode_bad(IM("{}"), ERR_INVAL, "\"image.steps[0].op\": missing");
    decode_bad(IM("{\"op\":\"emboss\"}"), ERR_INVAL, "\"emboss\" is not one of gaussian_blur");
    decode_bad(IM("{\"op\":\"gaussian_blur\"}"), ERR_INVAL, "\"image.steps[0].sigma\": missing");
    decode_bad(IM("{\"op\":\"gaussian_blur\",\"sigma\":65}"), ERR_INVAL,
               "must be a number from 0.1 to 64");
    decode_bad(IM("{\"op\":\"sharpen\",\"amount\":-1}"), ERR_INVAL,
               "\"image.steps[0].amount\": must be a number from 0 to 10");
    decode_bad(IM("{\"op\":\"grayscale\",\"sigma\":1}"), ERR_INVAL,
               "\"image.steps[0].sigma\": unknown key");
    decode_bad(IM("{\"op\":\"resize\",\"width\":10}"), ERR_INVAL,
               "\"image.steps[0].height\": missing");
    decode_bad(IM("{\"op\":\"resize\",\"width\":16385,\"height\":1}"), ERR_INVAL,
               "from 1 to 16384");
    decode_bad(IM("{\"op\":\"brightness_contrast\",\"brightness\":300}"), ERR_INVAL,
               "from -255 to 255");
    decode_bad(IM("{\"op\":\"brightness_contrast\",\"contrast\":11}"), ERR_INVAL,
               "\"image.steps[0].contrast\": must be a number from 0 to 10");
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i <= JOBSPEC_MAX_STEPS; i++)
        assert_int_equal(buf_appendf(&b, "%s{\"op\":\"grayscale\"}", i ? "," : ""), ERR_OK);
    struct buf spec;
    buf_init(&spec, 0);
    assert_int_equal(buf_appendf(&spec, IM("%s"), buf_cstr(&b)), ERR_OK);
    decode_bad(buf_cstr(&spec), ERR_INVAL, "1 to 32 steps");
    buf_release(&spec);
    buf_release(&b);
}

static void test_safe_names(void **state)
{
    (void)state;
    assert_true(jobspec_is_safe_name("out.png"));
    assert_true(jobspec_is_safe_name("A-b_c.9"));
    assert_false(jobspec_is_safe_name(""));
    assert_false(jobspec_is_safe_name(".."));
    assert_false(jobspec_is_safe_name("a/b"));
    assert_false(jobspec_is_safe_name("a b"));
    assert_false(jobspec_is_safe_name(NULL));
    char longname[JOBSPEC_MAX_NAME + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[JOBSPEC_MAX_NAME + 1] = '\0';
    assert_false(jobspec_is_safe_name(longname));
    longname[JOBSPEC_MAX_NAME] = '\0';
    assert_true(jobspec_is_safe_name(longname));
}

static void test_result_encode(void **state)
{
    (void)state;
    struct jobspec_result_file f[2] = {{"a.bin", 3, {0}}, {"b.png", 10, {0}}};
    f[0].sha256[0] = 0xab;
    f[1].sha256[31] = 0x01;
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(jobspec_result_encode(&b, 1, NULL, f, 2), ERR_OK);
    assert_string_equal(
        buf_cstr(&b), "{\"v\":1,\"status\":\"ok\",\"files\":[{\"name\":\"a.bin\",\"size_bytes\":3,"
                      "\"sha256\":\"ab000000000000000000000000000000000000000000000000000000000000"
                      "00\"},{\"name\":\"b.png\",\"size_bytes\":10,\"sha256\":\"0000000000000000"
                      "000000000000000000000000000000000000000000000001\"}]}");
    buf_reset(&b);
    assert_int_equal(jobspec_result_encode(&b, 0, "timed \"out\"", NULL, 0), ERR_OK);
    assert_string_equal(buf_cstr(&b),
                        "{\"v\":1,\"status\":\"failed\",\"reason\":\"timed \\\"out\\\"\","
                        "\"files\":[]}");
    buf_release(&b);
    buf_init(&b, 8);
    assert_int_equal(jobspec_result_encode(&b, 1, NULL, f, 2), ERR_TOOBIG);
    buf_release(&b);
}

/* Every spec in examples/ decodes (run from the repository root). */
static void test_examples_decode(void **state)
{
    (void)state;
    static const char *const files[] = {"opencl-inline.json", "opencl-mandelbrot.json",
                                        "train-logistic.json", "train-mlp.json",
                                        "image-china.json"};
    static const enum jobspec_kind kinds[] = {JOBSPEC_OPENCL, JOBSPEC_OPENCL, JOBSPEC_TRAIN,
                                              JOBSPEC_TRAIN, JOBSPEC_IMAGE};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "examples/%s", files[i]);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            fail_msg("cannot open %s", path);
        static char text[65536];
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        fclose(f);
        text[n] = '\0';
        struct jobspec *s = decode_ok(text);
        assert_int_equal(s->kind, kinds[i]);
        jobspec_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opencl_full),      cmocka_unit_test(test_train_and_image),
        cmocka_unit_test(test_top_level_errors), cmocka_unit_test(test_input_errors),
        cmocka_unit_test(test_opencl_errors),    cmocka_unit_test(test_arg_errors),
        cmocka_unit_test(test_train_errors),     cmocka_unit_test(test_image_errors),
        cmocka_unit_test(test_safe_names),       cmocka_unit_test(test_result_encode),
        cmocka_unit_test(test_examples_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
