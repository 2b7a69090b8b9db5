#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/paths.h>
#include <tether/util.h>

char *tether_paths_self_dir(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (n <= 0)
        return NULL;
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL)
        return NULL;
    if (slash == self)
        return xstrdup("/");
    *slash = '\0';
    return xstrdup(self);
}

char *tether_paths_join(const char *dir, const char *rel)
{
    size_t len = strlen(dir);

    if (rel[0] == '/')
        return xstrdup(rel);
    while (len > 0 && dir[len - 1] == '/')
        len--;
    for (;;) {
        if (strncmp(rel, "./", 2) == 0) {
            rel += 2;
        } else if (strcmp(rel, ".") == 0) {
            rel += 1;
        } else if (strcmp(rel, "..") == 0 || strncmp(rel, "../", 3) == 0) {
            /* Up one level: drop the last component ("/" stays "/"). */
            while (len > 0 && dir[len - 1] != '/')
                len--;
            while (len > 0 && dir[len - 1] == '/')
                len--;
            rel += rel[2] == '/' ? 3 : 2;
        } else {
            break;
        }
    }
    if (rel[0] == '\0')
        return len > 0 ? xasprintf("%.*s", (int)len, dir) : xstrdup("/");
    return xasprintf("%.*s/%s", (int)len, dir, rel);
}

/* DIR/NAME without a doubled slash when DIR is "/". */
static char *in_dir(const char *dir, const char *name)
{
    return xasprintf("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
}

char *tether_paths_helper(const char *self_dir, const char *name)
{
    cleanup_free char *libexec = tether_paths_join(self_dir, TETHER_LIBEXEC_FROM_BIN);
    char *installed = in_dir(libexec, name);
    char *sibling;

    if (access(installed, X_OK) == 0)
        return installed;
    sibling = in_dir(self_dir, name);
    if (access(sibling, X_OK) == 0) {
        free(installed);
        return sibling;
    }
    free(sibling);
    return installed;
}
