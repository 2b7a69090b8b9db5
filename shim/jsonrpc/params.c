#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "params.h"

int tether_params_check(json_t *params, const char *const *allowed, struct tether_error *err)
{
    const char *key;
    json_t *value;

    json_object_foreach(params, key, value)
    {
        const char *const *a;
        bool ok = false;

        (void)value;
        for (a = allowed; *a != NULL; a++)
            if (strcmp(*a, key) == 0)
                ok = true;
        if (!ok)
            return tether_error_setk(err, TETHER_ERR_INVALID, 0, "unknown parameter \"%s\"", key);
    }
    return 0;
}

int tether_params_require(json_t *params, const char *key, struct tether_error *err)
{
    if (json_object_get(params, key) == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "missing parameter \"%s\"", key);
    return 0;
}

static int wrong_type(const char *key, const char *want, struct tether_error *err)
{
    return tether_error_setk(err, TETHER_ERR_INVALID, 0, "parameter \"%s\" must be %s", key, want);
}

int tether_params_bool(json_t *params, const char *key, bool *out, struct tether_error *err)
{
    json_t *v = json_object_get(params, key);

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return wrong_type(key, "a boolean", err);
    *out = json_is_true(v);
    return 0;
}

int tether_params_int(json_t *params, const char *key, int64_t min, int64_t max, int64_t *out,
                      struct tether_error *err)
{
    json_t *v = json_object_get(params, key);
    int64_t n;

    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return wrong_type(key, "an integer", err);
    n = json_integer_value(v);
    if (n < min || n > max)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "parameter \"%s\" out of range [%lld, %lld]", key, (long long)min,
                                 (long long)max);
    *out = n;
    return 0;
}

int tether_params_string(json_t *params, const char *key, const char **out,
                         struct tether_error *err)
{
    json_t *v = json_object_get(params, key);

    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return wrong_type(key, "a string", err);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "parameter \"%s\" must not contain NUL", key);
    *out = json_string_value(v);
    return 0;
}

int tether_params_object(json_t *params, const char *key, json_t **out, struct tether_error *err)
{
    json_t *v = json_object_get(params, key);

    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return wrong_type(key, "an object", err);
    *out = v;
    return 0;
}

int tether_params_signal(json_t *params, const char *key, int *out, struct tether_error *err)
{
    json_t *v = json_object_get(params, key);
    int sig = -1;

    if (v == NULL)
        return 0;
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n >= 1 && n <= SIGRTMAX)
            sig = (int)n;
    } else if (json_is_string(v)) {
        sig = tether_signal_parse(json_string_value(v));
    } else {
        return wrong_type(key, "a signal number or name", err);
    }
    if (sig < 1)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "parameter \"%s\": unknown signal",
                                 key);
    *out = sig;
    return 0;
}

void tether_params_strings_free(char **v)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

int tether_params_strings(json_t *params, const char *key, size_t max, char ***out,
                          struct tether_error *err)
{
    json_t *v = json_object_get(params, key);
    json_t *item;
    size_t i, n;
    char **list;

    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return wrong_type(key, "an array of strings", err);
    n = json_array_size(v);
    if (n > max)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "parameter \"%s\": at most %zu items",
                                 key, max);
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item) || strlen(json_string_value(item)) != json_string_length(item))
            return wrong_type(key, "an array of strings", err);
    }
    list = xzalloc((n + 1) * sizeof(*list));
    json_array_foreach(v, i, item)
    {
        list[i] = xstrdup(json_string_value(item));
    }
    *out = list;
    return 0;
}

int tether_params_path(const char *path, const char *what, struct tether_error *err)
{
    const char *p;

    if (path[0] != '/')
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "%s must be an absolute path", what);
    if (strlen(path) >= PATH_MAX)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "%s is too long", what);
    for (p = path; *p != '\0';) {
        const char *end = strchr(p + 1, '/');
        size_t len = end ? (size_t)(end - p - 1) : strlen(p + 1);
        if ((len == 2 && strncmp(p + 1, "..", 2) == 0) || (len == 1 && p[1] == '.'))
            return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                     "%s must not contain \".\" or \"..\" components", what);
        if (len == 0)
            return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                     "%s must not contain empty components or end in \"/\"", what);
        if (end == NULL)
            break;
        p = end;
    }
    return 0;
}
