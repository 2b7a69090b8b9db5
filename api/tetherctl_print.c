/* tetherctl output: JSON for scripts, aligned "key: value" lines and event lines for people. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "tetherctl.h"

struct kv {
    char *key;
    char *value;
};

struct kv_list {
    struct kv *items;
    size_t len;
    size_t cap;
};

static void print_json_line(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    if (s != NULL) {
        puts(s);
        free(s);
    }
}

/* A scalar (or array) for people: strings bare unless they would be ambiguous. */
static char *format_value(json_t *v, bool quote_spaces)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        if (!quote_spaces || (s[0] != '\0' && strpbrk(s, " \t\n\"=") == NULL))
            return xstrdup(s);
        break;
    }
    case JSON_INTEGER:
        return xasprintf("%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return xasprintf("%g", json_real_value(v));
    case JSON_TRUE:
        return xstrdup("true");
    case JSON_FALSE:
        return xstrdup("false");
    case JSON_NULL:
        return xstrdup("-");
    case JSON_OBJECT:
    case JSON_ARRAY:
        break;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return s != NULL ? s : xstrdup("?");
}

static void kv_add(struct kv_list *l, const char *key, char *value)
{
    if (l->len == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = xrealloc(l->items, l->cap * sizeof(*l->items));
    }
    l->items[l->len].key = xstrdup(key);
    l->items[l->len].value = value;
    l->len++;
}

static void kv_flatten(struct kv_list *l, const char *prefix, json_t *obj)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        cleanup_free char *full = prefix != NULL ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
        if (json_is_object(v) && json_object_size(v) > 0)
            kv_flatten(l, full, v);
        else
            kv_add(l, full, format_value(v, false));
    }
}

void ctl_print_result(const struct ctl *ctl, json_t *result)
{
    struct kv_list l = {0};
    size_t width = 0;

    if (ctl->json) {
        print_json_line(result);
        return;
    }
    if (!json_is_object(result)) {
        cleanup_free char *s = format_value(result, false);
        puts(s);
        return;
    }
    kv_flatten(&l, NULL, result);
    for (size_t i = 0; i < l.len; i++)
        if (strlen(l.items[i].key) > width)
            width = strlen(l.items[i].key);
    for (size_t i = 0; i < l.len; i++) {
        printf("%s:%*s %s\n", l.items[i].key, (int)(width - strlen(l.items[i].key)), "",
               l.items[i].value);
        free(l.items[i].key);
        free(l.items[i].value);
    }
    free(l.items);
}

void ctl_print_event(const struct ctl *ctl, json_t *notification)
{
    json_t *params = json_object_get(notification, "params");
    const char *method = json_string_value(json_object_get(notification, "method"));
    const char *key;
    json_t *v;

    if (method == NULL || strcmp(method, "event") != 0 || !json_is_object(params)) {
        /* Not an event: show it whole rather than guess at its shape. */
        print_json_line(notification);
    } else if (ctl->json) {
        print_json_line(params);
    } else {
        json_t *seq = json_object_get(params, "seq");
        const char *ts = json_string_value(json_object_get(params, "timestamp"));
        const char *topic = json_string_value(json_object_get(params, "topic"));

        printf("%lld %s %s", (long long)json_integer_value(seq), ts != NULL ? ts : "-",
               topic != NULL ? topic : "-");
        json_object_foreach(params, key, v)
        {
            cleanup_free char *s = NULL;
            if (strcmp(key, "seq") == 0 || strcmp(key, "timestamp") == 0 ||
                strcmp(key, "topic") == 0 || strcmp(key, "id") == 0)
                continue;
            s = format_value(v, true);
            printf(" %s=%s", key, s);
        }
        putchar('\n');
    }
    fflush(stdout);
}

int ctl_exit_status(json_t *result)
{
    json_t *v = json_object_get(result, "exit_status");

    if (!json_is_integer(v))
        return -1;
    return (int)(json_integer_value(v) & 0xff);
}
