#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "journald.h"
#include "logfmt.h"

#define MESSAGE_PREFIX "MESSAGE="
/* journald's own bound on field names (sd-journal's journal_field_valid). */
#define FIELD_NAME_MAX 64

struct tether_journald {
    void *handle; /* libsystemd, NULL with a test's sender */
    tether_journald_send_fn send;
    char **fields;
    size_t n_fields;
    char *msg; /* "MESSAGE=" + one entry's content, allocated at the first write */
    bool failing;
};

bool tether_journald_field_valid(const char *field)
{
    const char *eq = strchr(field, '=');
    size_t n;

    if (eq == NULL || eq == field || strlen(field) > TETHER_JOURNALD_FIELD_LEN_MAX)
        return false;
    n = (size_t)(eq - field);
    if (n > FIELD_NAME_MAX || field[0] == '_' || (field[0] >= '0' && field[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = field[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    /* The core sets these itself. */
    return !(n == 7 && memcmp(field, "MESSAGE", 7) == 0) &&
           !(n == 8 && memcmp(field, "PRIORITY", 8) == 0) &&
           !(n == 25 && memcmp(field, "CONTAINER_PARTIAL_MESSAGE", 25) == 0);
}

static struct tether_journald *journald_new(char *const *fields, struct tether_error *err)
{
    struct tether_journald *j;
    size_t n = 0;

    while (fields != NULL && fields[n] != NULL) {
        if (!tether_journald_field_valid(fields[n])) {
            char q[128];
            tether_error_setk(err, TETHER_ERR_INVALID, 0, "invalid journal field \"%s\"",
                              tether_quote(fields[n], q, sizeof(q)));
            return NULL;
        }
        if (++n > TETHER_JOURNALD_FIELDS_MAX) {
            tether_error_setk(err, TETHER_ERR_INVALID, 0, "more than %d journal fields",
                              TETHER_JOURNALD_FIELDS_MAX);
            return NULL;
        }
    }
    j = xzalloc(sizeof(*j));
    j->fields = xzalloc((n + 1) * sizeof(*j->fields));
    for (size_t i = 0; i < n; i++)
        j->fields[i] = xstrdup(fields[i]);
    j->n_fields = n;
    return j;
}

struct tether_journald *tether_journald_open_with(char *const *fields, tether_journald_send_fn send,
                                                  struct tether_error *err)
{
    struct tether_journald *j = journald_new(fields, err);

    if (j != NULL)
        j->send = send;
    return j;
}

struct tether_journald *tether_journald_open(char *const *fields, struct tether_error *err)
{
    struct tether_journald *j = journald_new(fields, err);

    if (j == NULL)
        return NULL;
    j->handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (j->handle == NULL) {
        tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "cannot load libsystemd: %s", dlerror());
        tether_journald_close(j);
        return NULL;
    }
    /* dlsym(3), EXAMPLES: a function pointer is had through a void * object pointer. */
    *(void **)&j->send = dlsym(j->handle, "sd_journal_sendv");
    if (j->send == NULL) {
        tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "libsystemd has no sd_journal_sendv");
        tether_journald_close(j);
        return NULL;
    }
    return j;
}

void tether_journald_close(struct tether_journald *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->n_fields; i++)
        free(j->fields[i]);
    free(j->fields);
    free(j->msg);
    if (j->handle != NULL)
        dlclose(j->handle);
    free(j);
}

/* One entry: the content (a line with its '\n', or a piece of one) and the fields. */
static int send_entry(struct tether_journald *j, enum tether_logfmt_stream stream, const char *s,
                      size_t n, bool partial)
{
    static const char prio_out[] = "PRIORITY=6", prio_err[] = "PRIORITY=3";
    static const char partial_field[] = "CONTAINER_PARTIAL_MESSAGE=true";
    struct iovec iov[3 + TETHER_JOURNALD_FIELDS_MAX];
    size_t k = 0, prefix = strlen(MESSAGE_PREFIX);

    memcpy(j->msg + prefix, s, n);
    iov[k++] = (struct iovec){.iov_base = j->msg, .iov_len = prefix + n};
    iov[k++] = stream == TETHER_LOGFMT_STDERR
                   ? (struct iovec){.iov_base = (void *)prio_err, .iov_len = sizeof(prio_err) - 1}
                   : (struct iovec){.iov_base = (void *)prio_out, .iov_len = sizeof(prio_out) - 1};
    if (partial)
        iov[k++] =
            (struct iovec){.iov_base = (void *)partial_field, .iov_len = sizeof(partial_field) - 1};
    for (size_t i = 0; i < j->n_fields; i++)
        iov[k++] = (struct iovec){.iov_base = j->fields[i], .iov_len = strlen(j->fields[i])};
    return j->send(iov, (int)k);
}

int tether_journald_write(struct tether_journald *j, enum tether_logfmt_stream stream,
                          const char *data, size_t len, struct tether_error *err)
{
    const char *end = data + len;
    int rc = 0;

    if (j->msg == NULL)
        j->msg = xmalloc(strlen(MESSAGE_PREFIX) + TETHER_LOGFMT_LINE_MAX);
    memcpy(j->msg, MESSAGE_PREFIX, strlen(MESSAGE_PREFIX));
    while (data < end && rc >= 0) {
        const char *nl = memchr(data, '\n', (size_t)(end - data));
        size_t n = nl != NULL ? (size_t)(nl - data) + 1 : (size_t)(end - data);
        bool partial = nl == NULL;

        if (n > TETHER_LOGFMT_LINE_MAX) {
            n = TETHER_LOGFMT_LINE_MAX;
            partial = true;
        }
        rc = send_entry(j, stream, data, n, partial);
        data += n;
    }
    if (rc >= 0) {
        j->failing = false;
        return 0;
    }
    if (j->failing)
        return 0;
    j->failing = true;
    return tether_error_set(err, -rc, "sd_journal_sendv");
}
