#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include <tether/util.h>

#include "address.h"
#include "sha256.h"

char *tether_ctrd_clean_path(const char *path)
{
    size_t n = strlen(path), r = 0, w = 0, dotdot = 0;
    bool rooted = n > 0 && path[0] == '/';
    char *buf = xmalloc(n + 2);

    if (rooted) {
        buf[w++] = '/';
        r = dotdot = 1;
    }
    while (r < n) {
        if (path[r] == '/' || (path[r] == '.' && (r + 1 == n || path[r + 1] == '/'))) {
            r++; /* an empty element, or "." */
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                /* Drop the last element: back to the slash before it. */
                w--;
                while (w > dotdot && buf[w] != '/')
                    w--;
            } else if (!rooted) {
                /* A relative path keeps its leading "..". */
                if (w > 0)
                    buf[w++] = '/';
                buf[w++] = '.';
                buf[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                buf[w++] = '/';
            while (r < n && path[r] != '/')
                buf[w++] = path[r++];
        }
    }
    if (w == 0)
        buf[w++] = '.';
    buf[w] = '\0';
    return buf;
}

char *tether_ctrd_socket_path(const char *address, const char *ns, const char *group)
{
    cleanup_free char *joined = xasprintf("%s/%s/%s", address, ns, group);
    cleanup_free char *clean = tether_ctrd_clean_path(joined);
    uint8_t digest[TETHER_SHA256_LEN];
    char hex[2 * TETHER_SHA256_LEN + 1];
    size_t i;

    tether_sha256(clean, strlen(clean), digest);
    for (i = 0; i < TETHER_SHA256_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    return xasprintf("%s/%s", TETHER_CTRD_SOCKET_DIR, hex);
}

static const char *annotation(json_t *config, const char *key)
{
    const char *v = json_string_value(json_object_get(json_object_get(config, "annotations"), key));

    return v != NULL && v[0] != '\0' ? v : NULL;
}

char *tether_ctrd_group_id(const char *bundle, const char *id, struct tether_error *err)
{
    cleanup_free char *path = xasprintf("%s/config.json", bundle);
    json_error_t jerr;
    json_t *config = json_load_file(path, 0, &jerr);
    const char *group;
    char *out;

    if (config == NULL) {
        tether_error_set(err, 0, "%s: %s", path, jerr.text);
        return NULL;
    }
    group = annotation(config, TETHER_CTRD_ANNOTATION_GROUP);
    if (group == NULL)
        group = annotation(config, TETHER_CTRD_ANNOTATION_SANDBOX);
    out = xstrdup(group != NULL ? group : id);
    json_decref(config);
    return out;
}

int tether_ctrd_write_address(const char *bundle, const char *socket_path, struct tether_error *err)
{
    cleanup_free char *path = xasprintf("%s/%s", bundle, TETHER_CTRD_ADDRESS_FILE);
    cleanup_free char *text = xasprintf("unix://%s", socket_path);

    return tether_write_file_atomic(path, text, strlen(text), 0644, err);
}

bool tether_ctrd_socket_alive(const char *socket_path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    cleanup_close int fd = -1;

    if (strlen(socket_path) >= sizeof(addr.sun_path))
        return false;
    strcpy(addr.sun_path, socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    /* A blocking connect to a UNIX socket returns at once: accepted into the backlog, or
     * refused when nobody listens. */
    return connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
}
