/*
 * jobspec -- strict decoder for job.json and the result manifest encoder.
 *
 * Every object is checked for unknown and duplicate keys before its fields
 * are read, so a typo in a spec fails loudly instead of running a job with a
 * default. Error messages name the JSON path ("opencl.args[2].value").
 *
 * SPDX-License-Identifier: MIT
 */
#include "jobspec.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hex.h"

/* Integers above 2^53 do not survive a trip through a JSON number (a double),
 * so larger long/ulong scalars must be given as decimal strings. */
#define EXACT_INT_MAX 9007199254740992.0

struct dec {
    char *errbuf;
};

__attribute__((format(printf, 3, 4))) static enum err fail(struct dec *d, enum err e,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->errbuf, JOBSPEC_ERR_MAX, fmt, ap);
    va_end(ap);
    return e;
}

int jobspec_is_safe_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '.')
        return 0;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        if (!ok || n >= JOBSPEC_MAX_NAME)
            return 0;
    }
    return 1;
}

const char *jobspec_kind_name(enum jobspec_kind k)
{
    switch (k) {
    case JOBSPEC_OPENCL:
        return "opencl";
    case JOBSPEC_TRAIN:
        return "train";
    case JOBSPEC_IMAGE:
        return "image";
    }
    return "unknown";
}

/* Fail on a key of <obj> outside the NULL-terminated <allowed>, and on a key
 * given twice (cJSON keeps both; we would silently read the first). */
static enum err check_keys(struct dec *d, const cJSON *obj, const char *path,
                           const char *const *allowed)
{
    if (!cJSON_IsObject(obj))
        return fail(d, ERR_INVAL, "\"%s\": must be an object", path);
    for (const cJSON *it = obj->child; it != NULL; it = it->next) {
        int known = 0;
        for (const char *const *a = allowed; *a != NULL; a++)
            if (strcmp(*a, it->string) == 0)
                known = 1;
        if (!known)
            return fail(d, ERR_INVAL, "\"%s%s%s\": unknown key", path, path[0] ? "." : "",
                        it->string);
        if (cJSON_GetObjectItemCaseSensitive(obj, it->string) != it)
            return fail(d, ERR_INVAL, "\"%s%s%s\": duplicate key", path, path[0] ? "." : "",
                        it->string);
    }
    return ERR_OK;
}

/* Read string <key> of <obj>. Absent and !required: *out stays NULL. */
static enum err get_str(struct dec *d, const cJSON *obj, const char *path, const char *key,
                        int required, size_t max_len, char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    const char *dot = path[0] ? "." : "";
    if (it == NULL) {
        if (required)
            return fail(d, ERR_INVAL, "\"%s%s%s\": missing", path, dot, key);
        return ERR_OK;
    }
    if (!cJSON_IsString(it))
        return fail(d, ERR_INVAL, "\"%s%s%s\": must be a string", path, dot, key);
    size_t n = strlen(it->valuestring);
    if (n == 0 || n > max_len)
        return fail(d, ERR_INVAL, "\"%s%s%s\": must be 1 to %zu bytes", path, dot, key, max_len);
    *out = strdup(it->valuestring);
    return *out ? ERR_OK : ERR_NOMEM;
}

static enum err get_name(struct dec *d, const cJSON *obj, const char *path, const char *key,
                         int required, char **out)
{
    enum err e = get_str(d, obj, path, key, required, JOBSPEC_MAX_NAME, out);
    if (e != ERR_OK || *out == NULL)
        return e;
    if (!jobspec_is_safe_name(*out))
        return fail(d, ERR_INVAL,
                    "\"%s%s%s\": \"%s\" is not a safe file name ([A-Za-z0-9._-], no leading '.')",
                    path, path[0] ? "." : "", key, *out);
    return ERR_OK;
}

/* An integral JSON number within [min, max]; absent and !required gives <def>. */
static enum err num_int(struct dec *d, const cJSON *it, const char *path, const char *key,
                        double min, double max, double *out)
{
    const char *dot = path[0] && key[0] ? "." : "";
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
        floor(it->valuedouble) != it->valuedouble || it->valuedouble < min || it->valuedouble > max)
        return fail(d, ERR_INVAL, "\"%s%s%s\": must be an integer from %.0f to %.0f", path, dot,
                    key, min, max);
    *out = it->valuedouble;
    return ERR_OK;
}

static enum err get_uint(struct dec *d, const cJSON *obj, const char *path, const char *key,
                         int required, uint64_t min, uint64_t max, uint64_t def, uint64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (it == NULL) {
        if (required)
            return fail(d, ERR_INVAL, "\"%s%s%s\": missing", path, path[0] ? "." : "", key);
        *out = def;
        return ERR_OK;
    }
    double v;
    enum err e = num_int(d, it, path, key, (double)min, (double)max, &v);
    if (e == ERR_OK)
        *out = (uint64_t)v;
    return e;
}

static enum err get_double(struct dec *d, const cJSON *obj, const char *path, const char *key,
                           int required, double min, double max, double def, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    const char *dot = path[0] ? "." : "";
    if (it == NULL) {
        if (required)
            return fail(d, ERR_INVAL, "\"%s%s%s\": missing", path, dot, key);
        *out = def;
        return ERR_OK;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < min ||
        it->valuedouble > max)
        return fail(d, ERR_INVAL, "\"%s%s%s\": must be a number from %g to %g", path, dot, key, min,
                    max);
    *out = it->valuedouble;
    return ERR_OK;
}

static enum err get_bool(struct dec *d, const cJSON *obj, const char *path, const char *key,
                         int def, int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (it == NULL) {
        *out = def;
        return ERR_OK;
    }
    if (!cJSON_IsBool(it))
        return fail(d, ERR_INVAL, "\"%s%s%s\": must be true or false", path, path[0] ? "." : "",
                    key);
    *out = cJSON_IsTrue(it);
    return ERR_OK;
}

static enum err decode_inputs(struct dec *d, const cJSON *root, struct jobspec *s)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    if (arr == NULL)
        return ERR_OK;
    if (!cJSON_IsArray(arr))
        return fail(d, ERR_INVAL, "\"inputs\": must be an array");
    int n = cJSON_GetArraySize(arr);
    if (n > JOBSPEC_MAX_INPUTS)
        return fail(d, ERR_INVAL, "\"inputs\": at most %d entries", JOBSPEC_MAX_INPUTS);
    if (n == 0)
        return ERR_OK;
    s->inputs = calloc((size_t)n, sizeof(*s->inputs));
    if (s->inputs == NULL)
        return ERR_NOMEM;
    static const char *const keys[] = {"name", "sha256", NULL};
    int i = 0;
    for (const cJSON *it = arr->child; it != NULL; it = it->next, i++) {
        char path[32];
        snprintf(path, sizeof(path), "inputs[%d]", i);
        struct jobspec_input *in = &s->inputs[i];
        s->n_inputs = (size_t)i + 1; /* counted first: jobspec_free() frees a half-read entry */
        enum err e = check_keys(d, it, path, keys);
        if (e == ERR_OK)
            e = get_name(d, it, path, "name", 1, &in->name);
        if (e != ERR_OK)
            return e;
        char *hex = NULL;
        e = get_str(d, it, path, "sha256", 1, 64, &hex);
        if (e != ERR_OK)
            return e;
        int ok = strlen(hex) == 64 && hex_decode_digits(hex, 32, in->sha256) == ERR_OK;
        free(hex);
        if (!ok)
            return fail(d, ERR_INVAL, "\"%s.sha256\": must be 64 hex digits", path);
        for (int k = 0; k < i; k++)
            if (strcmp(s->inputs[k].name, in->name) == 0)
                return fail(d, ERR_INVAL, "\"%s.name\": \"%s\" is listed twice", path, in->name);
    }
    return ERR_OK;
}

/* Fail unless <name> (read from <path>) is one of the spec's inputs. */
static enum err need_input(struct dec *d, const struct jobspec *s, const char *path,
                           const char *name)
{
    if (jobspec_find_input(s, name) == NULL)
        return fail(d, ERR_INVAL, "\"%s\": \"%s\" is not listed in inputs", path, name);
    return ERR_OK;
}

static enum err get_dims(struct dec *d, const cJSON *obj, const char *key, int required,
                         uint64_t out[3], unsigned *dims)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (arr == NULL) {
        if (required)
            return fail(d, ERR_INVAL, "\"opencl.%s\": missing", key);
        return ERR_OK;
    }
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n < 1 || n > 3)
        return fail(d, ERR_INVAL, "\"opencl.%s\": must be an array of 1 to 3 integers", key);
    if (*dims != 0 && (unsigned)n != *dims)
        return fail(d, ERR_INVAL, "\"opencl.%s\": must have as many entries as opencl.global", key);
    *dims = (unsigned)n;
    int i = 0;
    for (const cJSON *it = arr->child; it != NULL; it = it->next, i++) {
        char path[32];
        snprintf(path, sizeof(path), "opencl.%s[%d]", key, i);
        double v;
        enum err e = num_int(d, it, path, "", 1, (double)JOBSPEC_MAX_GLOBAL, &v);
        if (e != ERR_OK)
            return e;
        out[i] = (uint64_t)v;
    }
    return ERR_OK;
}

static enum err decode_scalar(struct dec *d, const cJSON *v, const char *path,
                              struct jobspec_arg *a)
{
    char vpath[48];
    snprintf(vpath, sizeof(vpath), "%s.value", path);
    if (v == NULL)
        return fail(d, ERR_INVAL, "\"%s\": missing", vpath);
    double x;
    enum err e;
    switch (a->type) {
    case JOBSPEC_ARG_INT:
        e = num_int(d, v, vpath, "", -2147483648.0, 2147483647.0, &x);
        a->value.i = (int32_t)x;
        return e;
    case JOBSPEC_ARG_UINT:
        e = num_int(d, v, vpath, "", 0, 4294967295.0, &x);
        a->value.u = (uint32_t)x;
        return e;
    case JOBSPEC_ARG_LONG:
    case JOBSPEC_ARG_ULONG:
        if (cJSON_IsString(v)) {
            /* Full 64-bit range as a decimal string. */
            const char *p = v->valuestring;
            char *end = NULL;
            errno = 0;
            if (a->type == JOBSPEC_ARG_LONG)
                a->value.l = strtoll(p, &end, 10);
            else
                a->value.ul = strtoull(p, &end, 10);
            if (errno != 0 || end == p || *end != '\0' ||
                (a->type == JOBSPEC_ARG_ULONG && p[0] == '-'))
                return fail(d, ERR_INVAL, "\"%s\": \"%s\" is not a %s decimal integer", vpath, p,
                            a->type == JOBSPEC_ARG_LONG ? "64-bit" : "unsigned 64-bit");
            return ERR_OK;
        }
        e = num_int(d, v, vpath, "", a->type == JOBSPEC_ARG_LONG ? -EXACT_INT_MAX : 0,
                    EXACT_INT_MAX, &x);
        if (a->type == JOBSPEC_ARG_LONG)
            a->value.l = (int64_t)x;
        else
            a->value.ul = (uint64_t)x;
        return e;
    case JOBSPEC_ARG_FLOAT:
    case JOBSPEC_ARG_DOUBLE:
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
            (a->type == JOBSPEC_ARG_FLOAT && fabs(v->valuedouble) > 3.4028234663852886e38))
            return fail(d, ERR_INVAL, "\"%s\": must be a finite %s", vpath,
                        a->type == JOBSPEC_ARG_FLOAT ? "float" : "double");
        if (a->type == JOBSPEC_ARG_FLOAT)
            a->value.f = (float)v->valuedouble;
        else
            a->value.d = v->valuedouble;
        return ERR_OK;
    default:
        LOOM_ASSERT(0);
    }
    return ERR_INVAL;
}

static const struct {
    const char *name;
    enum jobspec_arg_type type;
} arg_types[] = {
    {"int", JOBSPEC_ARG_INT},     {"uint", JOBSPEC_ARG_UINT},   {"long", JOBSPEC_ARG_LONG},
    {"ulong", JOBSPEC_ARG_ULONG}, {"float", JOBSPEC_ARG_FLOAT}, {"double", JOBSPEC_ARG_DOUBLE},
    {"in", JOBSPEC_ARG_IN},       {"out", JOBSPEC_ARG_OUT},     {"local", JOBSPEC_ARG_LOCAL},
};

static enum err decode_arg(struct dec *d, const cJSON *it, const char *path,
                           const struct jobspec *s, struct jobspec_arg *a, uint64_t *out_total)
{
    static const char *const k_scalar[] = {"type", "value", NULL};
    static const char *const k_in[] = {"type", "file", "output", NULL};
    static const char *const k_out[] = {"type", "size_bytes", "output", NULL};
    static const char *const k_local[] = {"type", "size_bytes", NULL};
    if (!cJSON_IsObject(it))
        return fail(d, ERR_INVAL, "\"%s\": must be an object", path);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
    if (!cJSON_IsString(t))
        return fail(d, ERR_INVAL, "\"%s.type\": missing or not a string", path);
    size_t k;
    for (k = 0; k < sizeof(arg_types) / sizeof(arg_types[0]); k++)
        if (strcmp(arg_types[k].name, t->valuestring) == 0)
            break;
    if (k == sizeof(arg_types) / sizeof(arg_types[0]))
        return fail(d, ERR_INVAL,
                    "\"%s.type\": \"%.32s\" is not one of int, uint, long, ulong, float, double, "
                    "in, out, local",
                    path, t->valuestring);
    a->type = arg_types[k].type;
    enum err e;
    char fpath[48];
    switch (a->type) {
    case JOBSPEC_ARG_IN:
        e = check_keys(d, it, path, k_in);
        if (e == ERR_OK)
            e = get_name(d, it, path, "file", 1, &a->file);
        snprintf(fpath, sizeof(fpath), "%s.file", path);
        if (e == ERR_OK)
            e = need_input(d, s, fpath, a->file);
        if (e == ERR_OK)
            e = get_name(d, it, path, "output", 0, &a->output);
        return e;
    case JOBSPEC_ARG_OUT:
    case JOBSPEC_ARG_LOCAL:
        e = check_keys(d, it, path, a->type == JOBSPEC_ARG_OUT ? k_out : k_local);
        if (e == ERR_OK)
            e = get_uint(d, it, path, "size_bytes", 1, 1,
                         a->type == JOBSPEC_ARG_OUT ? JOBSPEC_MAX_BUFFER : JOBSPEC_MAX_LOCAL_MEM, 0,
                         &a->size_bytes);
        if (e == ERR_OK && a->type == JOBSPEC_ARG_OUT) {
            e = get_name(d, it, path, "output", 0, &a->output);
            *out_total += a->size_bytes;
            if (e == ERR_OK && *out_total > JOBSPEC_MAX_OUT_TOTAL)
                e = fail(d, ERR_INVAL, "\"%s.size_bytes\": output buffers exceed %llu bytes in all",
                         path, (unsigned long long)JOBSPEC_MAX_OUT_TOTAL);
        }
        return e;
    default:
        e = check_keys(d, it, path, k_scalar);
        if (e == ERR_OK)
            e = decode_scalar(d, cJSON_GetObjectItemCaseSensitive(it, "value"), path, a);
        return e;
    }
}

static enum err decode_opencl(struct dec *d, const cJSON *o, struct jobspec *s)
{
    static const char *const keys[] = {"source", "source_file", "kernel", "global",
                                       "local",  "passes",      "args",   NULL};
    struct jobspec_opencl *c = &s->u.opencl;
    enum err e = check_keys(d, o, "opencl", keys);
    if (e == ERR_OK)
        e = get_str(d, o, "opencl", "source", 0, JOBSPEC_MAX_SOURCE, &c->source);
    if (e == ERR_OK)
        e = get_name(d, o, "opencl", "source_file", 0, &c->source_file);
    if (e != ERR_OK)
        return e;
    if ((c->source == NULL) == (c->source_file == NULL))
        return fail(d, ERR_INVAL, "\"opencl\": give exactly one of source and source_file");
    if (c->source_file != NULL && (e = need_input(d, s, "opencl.source_file", c->source_file)))
        return e;
    e = get_str(d, o, "opencl", "kernel", 1, JOBSPEC_MAX_KERNEL_NAME, &c->kernel);
    if (e != ERR_OK)
        return e;
    for (const char *p = c->kernel; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
              (p != c->kernel && *p >= '0' && *p <= '9')))
            return fail(d, ERR_INVAL, "\"opencl.kernel\": not a C identifier");
    e = get_dims(d, o, "global", 1, c->global, &c->dims);
    if (e != ERR_OK)
        return e;
    e = get_dims(d, o, "local", 0, c->local, &c->dims);
    if (e != ERR_OK)
        return e;
    uint64_t gprod = 1, lprod = 1;
    for (unsigned i = 0; i < c->dims; i++) {
        gprod *= c->global[i];
        if (gprod > JOBSPEC_MAX_GLOBAL)
            return fail(d, ERR_INVAL, "\"opencl.global\": more than %llu work-items in all",
                        (unsigned long long)JOBSPEC_MAX_GLOBAL);
        if (c->local[0] != 0) {
            lprod *= c->local[i];
            if (lprod > JOBSPEC_MAX_LOCAL)
                return fail(d, ERR_INVAL, "\"opencl.local\": more than %d work-items per group",
                            JOBSPEC_MAX_LOCAL);
            if (c->global[i] % c->local[i] != 0)
                return fail(d, ERR_INVAL,
                            "\"opencl.local[%u]\": %llu does not divide global size %llu", i,
                            (unsigned long long)c->local[i], (unsigned long long)c->global[i]);
        }
    }
    uint64_t passes;
    e = get_uint(d, o, "opencl", "passes", 0, 1, JOBSPEC_MAX_PASSES, 1, &passes);
    if (e != ERR_OK)
        return e;
    c->passes = (unsigned)passes;
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(o, "args");
    if (args == NULL)
        return ERR_OK;
    int n = cJSON_GetArraySize(args);
    if (!cJSON_IsArray(args) || n > JOBSPEC_MAX_ARGS)
        return fail(d, ERR_INVAL, "\"opencl.args\": must be an array of at most %d entries",
                    JOBSPEC_MAX_ARGS);
    if (n == 0)
        return ERR_OK;
    c->args = calloc((size_t)n, sizeof(*c->args));
    if (c->args == NULL)
        return ERR_NOMEM;
    uint64_t out_total = 0;
    int i = 0;
    for (const cJSON *it = args->child; it != NULL; it = it->next, i++) {
        char path[32];
        snprintf(path, sizeof(path), "opencl.args[%d]", i);
        c->n_args = (size_t)i + 1;
        e = decode_arg(d, it, path, s, &c->args[i], &out_total);
        if (e != ERR_OK)
            return e;
        const char *outname = c->args[i].output;
        for (int k = 0; outname != NULL && k < i; k++)
            if (c->args[k].output != NULL && strcmp(c->args[k].output, outname) == 0)
                return fail(d, ERR_INVAL, "\"%s.output\": \"%s\" is used twice", path, outname);
    }
    return ERR_OK;
}

static enum err decode_train(struct dec *d, const cJSON *o, struct jobspec *s)
{
    static const char *const keys[] = {
        "model", "hidden", "epochs",       "batch_size", "learning_rate", "seed", "test_fraction",
        "data",  "header", "label_column", NULL};
    struct jobspec_train *t = &s->u.train;
    enum err e = check_keys(d, o, "train", keys);
    if (e != ERR_OK)
        return e;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!cJSON_IsString(m))
        return fail(d, ERR_INVAL, "\"train.model\": missing or not a string");
    if (strcmp(m->valuestring, "logistic") == 0)
        t->model = JOBSPEC_MODEL_LOGISTIC;
    else if (strcmp(m->valuestring, "mlp") == 0)
        t->model = JOBSPEC_MODEL_MLP;
    else
        return fail(d, ERR_INVAL, "\"train.model\": must be \"logistic\" or \"mlp\"");
    uint64_t v;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "hidden");
    if (t->model == JOBSPEC_MODEL_LOGISTIC && h != NULL)
        return fail(d, ERR_INVAL, "\"train.hidden\": only for model \"mlp\"");
    if (t->model == JOBSPEC_MODEL_MLP) {
        e = get_uint(d, o, "train", "hidden", 0, 1, JOBSPEC_MAX_HIDDEN, 64, &v);
        if (e != ERR_OK)
            return e;
        t->hidden = (unsigned)v;
    }
    e = get_uint(d, o, "train", "epochs", 1, 1, JOBSPEC_MAX_EPOCHS, 0, &v);
    if (e != ERR_OK)
        return e;
    t->epochs = (unsigned)v;
    e = get_uint(d, o, "train", "batch_size", 0, 1, JOBSPEC_MAX_BATCH, 32, &v);
    if (e != ERR_OK)
        return e;
    t->batch_size = (unsigned)v;
    e = get_double(d, o, "train", "learning_rate", 1, 1e-9, 10.0, 0, &t->learning_rate);
    if (e != ERR_OK)
        return e;
    e = get_uint(d, o, "train", "seed", 0, 0, (uint64_t)EXACT_INT_MAX, 1, &t->seed);
    if (e != ERR_OK)
        return e;
    e = get_double(d, o, "train", "test_fraction", 0, 0.05, 0.9, 0.2, &t->test_fraction);
    if (e != ERR_OK)
        return e;
    e = get_name(d, o, "train", "data", 1, &t->data);
    if (e != ERR_OK)
        return e;
    e = need_input(d, s, "train.data", t->data);
    if (e != ERR_OK)
        return e;
    e = get_bool(d, o, "train", "header", 0, &t->header);
    if (e != ERR_OK)
        return e;
    const cJSON *lc = cJSON_GetObjectItemCaseSensitive(o, "label_column");
    t->label_column = -1;
    if (lc != NULL) {
        double x;
        e = num_int(d, lc, "train.label_column", "", -4096, 4095, &x);
        if (e != ERR_OK)
            return e;
        t->label_column = (int)x;
    }
    return ERR_OK;
}

static enum err decode_step(struct dec *d, const cJSON *it, const char *path,
                            struct jobspec_step *st)
{
    static const char *const k_blur[] = {"op", "sigma", NULL};
    static const char *const k_sharpen[] = {"op", "amount", NULL};
    static const char *const k_gray[] = {"op", NULL};
    static const char *const k_resize[] = {"op", "width", "height", NULL};
    static const char *const k_bc[] = {"op", "brightness", "contrast", NULL};
    if (!cJSON_IsObject(it))
        return fail(d, ERR_INVAL, "\"%s\": must be an object", path);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(it, "op");
    if (!cJSON_IsString(op))
        return fail(d, ERR_INVAL, "\"%s.op\": missing or not a string", path);
    const char *name = op->valuestring;
    enum err e;
    uint64_t v;
    if (strcmp(name, "gaussian_blur") == 0) {
        st->type = JOBSPEC_STEP_GAUSSIAN_BLUR;
        e = check_keys(d, it, path, k_blur);
        if (e != ERR_OK)
            return e;
        return get_double(d, it, path, "sigma", 1, 0.1, JOBSPEC_MAX_SIGMA, 0, &st->p1);
    }
    if (strcmp(name, "sharpen") == 0) {
        st->type = JOBSPEC_STEP_SHARPEN;
        e = check_keys(d, it, path, k_sharpen);
        if (e != ERR_OK)
            return e;
        return get_double(d, it, path, "amount", 1, 0.0, 10.0, 0, &st->p1);
    }
    if (strcmp(name, "grayscale") == 0) {
        st->type = JOBSPEC_STEP_GRAYSCALE;
        return check_keys(d, it, path, k_gray);
    }
    if (strcmp(name, "resize") == 0) {
        st->type = JOBSPEC_STEP_RESIZE;
        e = check_keys(d, it, path, k_resize);
        if (e != ERR_OK)
            return e;
        e = get_uint(d, it, path, "width", 1, 1, JOBSPEC_MAX_IMAGE_SIDE, 0, &v);
        if (e != ERR_OK)
            return e;
        st->width = (unsigned)v;
        e = get_uint(d, it, path, "height", 1, 1, JOBSPEC_MAX_IMAGE_SIDE, 0, &v);
        if (e != ERR_OK)
            return e;
        st->height = (unsigned)v;
        return ERR_OK;
    }
    if (strcmp(name, "brightness_contrast") == 0) {
        st->type = JOBSPEC_STEP_BRIGHTNESS_CONTRAST;
        e = check_keys(d, it, path, k_bc);
        if (e != ERR_OK)
            return e;
        e = get_double(d, it, path, "brightness", 0, -255.0, 255.0, 0.0, &st->p1);
        if (e != ERR_OK)
            return e;
        return get_double(d, it, path, "contrast", 0, 0.0, 10.0, 1.0, &st->p2);
    }
    return fail(d, ERR_INVAL,
                "\"%s.op\": \"%.32s\" is not one of gaussian_blur, sharpen, grayscale, resize, "
                "brightness_contrast",
                path, name);
}

static enum err decode_image(struct dec *d, const cJSON *o, struct jobspec *s)
{
    static const char *const keys[] = {"input", "output", "steps", NULL};
    struct jobspec_image *im = &s->u.image;
    enum err e = check_keys(d, o, "image", keys);
    if (e == ERR_OK)
        e = get_name(d, o, "image", "input", 1, &im->input);
    if (e == ERR_OK)
        e = need_input(d, s, "image.input", im->input);
    if (e == ERR_OK)
        e = get_name(d, o, "image", "output", 0, &im->output);
    if (e != ERR_OK)
        return e;
    if (im->output == NULL && (im->output = strdup("output.png")) == NULL)
        return ERR_NOMEM;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(o, "steps");
    int n = cJSON_GetArraySize(steps);
    if (!cJSON_IsArray(steps) || n < 1 || n > JOBSPEC_MAX_STEPS)
        return fail(d, ERR_INVAL, "\"image.steps\": must be an array of 1 to %d steps",
                    JOBSPEC_MAX_STEPS);
    int i = 0;
    for (const cJSON *it = steps->child; it != NULL; it = it->next, i++) {
        char path[32];
        snprintf(path, sizeof(path), "image.steps[%d]", i);
        e = decode_step(d, it, path, &im->steps[i]);
        if (e != ERR_OK)
            return e;
        im->n_steps = (size_t)i + 1;
    }
    return ERR_OK;
}

enum err jobspec_decode(const char *json, size_t len, struct jobspec **out,
                        char errbuf[JOBSPEC_ERR_MAX])
{
    struct dec d = {.errbuf = errbuf};
    errbuf[0] = '\0';
    if (len > JOBSPEC_MAX_JSON_BYTES)
        return fail(&d, ERR_TOOBIG, "job spec is %zu bytes, over the limit of %zu", len,
                    JOBSPEC_MAX_JSON_BYTES);
    cJSON *root = cJSON_ParseWithLength(json, len);
    struct jobspec *s = NULL;
    enum err e;
    if (root == NULL) {
        e = fail(&d, ERR_INVAL, "job spec is not valid JSON");
        goto done;
    }
    static const char *const keys[] = {"v", "kind", "inputs", "opencl", "train", "image", NULL};
    e = check_keys(&d, root, "", keys);
    if (e != ERR_OK)
        goto done;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    if (v == NULL) {
        e = fail(&d, ERR_INVAL, "\"v\": missing");
        goto done;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != JOBSPEC_VERSION) {
        e = fail(&d, ERR_VERSION, "\"v\": this worker speaks job spec version %d only",
                 JOBSPEC_VERSION);
        goto done;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        e = ERR_NOMEM;
        goto done;
    }
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(kind)) {
        e = fail(&d, ERR_INVAL, "\"kind\": missing or not a string");
        goto done;
    }
    static const char *const kinds[] = {"opencl", "train", "image"};
    int k;
    for (k = 0; k < 3; k++)
        if (strcmp(kind->valuestring, kinds[k]) == 0)
            break;
    if (k == 3) {
        e = fail(&d, ERR_INVAL, "\"kind\": \"%.32s\" is not one of opencl, train, image",
                 kind->valuestring);
        goto done;
    }
    s->kind = (enum jobspec_kind)k;
    for (int j = 0; j < 3; j++) {
        if (j != k && cJSON_GetObjectItemCaseSensitive(root, kinds[j]) != NULL) {
            e = fail(&d, ERR_INVAL, "\"%s\": not allowed in a job of kind \"%s\"", kinds[j],
                     kinds[k]);
            goto done;
        }
    }
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(root, kinds[k]);
    if (body == NULL) {
        e = fail(&d, ERR_INVAL, "\"%s\": missing", kinds[k]);
        goto done;
    }
    e = decode_inputs(&d, root, s);
    if (e != ERR_OK)
        goto done;
    if (s->kind == JOBSPEC_OPENCL)
        e = decode_opencl(&d, body, s);
    else if (s->kind == JOBSPEC_TRAIN)
        e = decode_train(&d, body, s);
    else
        e = decode_image(&d, body, s);
done:
    cJSON_Delete(root);
    if (e == ERR_NOMEM)
        fail(&d, ERR_NOMEM, "out of memory while decoding the job spec");
    if (e != ERR_OK) {
        jobspec_free(s);
        return e;
    }
    *out = s;
    return ERR_OK;
}

void jobspec_free(struct jobspec *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_inputs; i++)
        free(s->inputs[i].name);
    free(s->inputs);
    switch (s->kind) {
    case JOBSPEC_OPENCL:
        free(s->u.opencl.source);
        free(s->u.opencl.source_file);
        free(s->u.opencl.kernel);
        for (size_t i = 0; i < s->u.opencl.n_args; i++) {
            free(s->u.opencl.args[i].file);
            free(s->u.opencl.args[i].output);
        }
        free(s->u.opencl.args);
        break;
    case JOBSPEC_TRAIN:
        free(s->u.train.data);
        break;
    case JOBSPEC_IMAGE:
        free(s->u.image.input);
        free(s->u.image.output);
        break;
    }
    free(s);
}

const struct jobspec_input *jobspec_find_input(const struct jobspec *s, const char *name)
{
    for (size_t i = 0; i < s->n_inputs; i++)
        if (strcmp(s->inputs[i].name, name) == 0)
            return &s->inputs[i];
    return NULL;
}

enum err jobspec_result_encode(struct buf *out, int ok, const char *reason,
                               const struct jobspec_result_file *files, size_t n_files)
{
    enum err e = ERR_NOMEM;
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    if (root == NULL)
        goto done;
    if (!cJSON_AddNumberToObject(root, "v", JOBSPEC_VERSION) ||
        !cJSON_AddStringToObject(root, "status", ok ? "ok" : "failed"))
        goto done;
    if (reason != NULL && !cJSON_AddStringToObject(root, "reason", reason))
        goto done;
    cJSON *arr = cJSON_AddArrayToObject(root, "files");
    if (arr == NULL)
        goto done;
    for (size_t i = 0; i < n_files; i++) {
        char hex[65];
        hex_encode(files[i].sha256, 32, false, hex);
        cJSON *f = cJSON_CreateObject();
        if (f == NULL)
            goto done;
        cJSON_AddItemToArray(arr, f);
        if (!cJSON_AddStringToObject(f, "name", files[i].name) ||
            !cJSON_AddNumberToObject(f, "size_bytes", (double)files[i].size_bytes) ||
            !cJSON_AddStringToObject(f, "sha256", hex))
            goto done;
    }
    text = cJSON_PrintUnformatted(root);
    if (text == NULL)
        goto done;
    e = buf_append_str(out, text);
done:
    free(text);
    cJSON_Delete(root);
    return e;
}
