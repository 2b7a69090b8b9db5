#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tether/util.h>

#include "bundle.h"

#define CONFIG_MAX (4u << 20)

/* A config.json is loaded, looked at or changed, and released within one turn of the loop,
 * and its JSON values (podman's bundles carry a seccomp profile: thousands of them) live
 * meanwhile in a scratch mapping of their own, dropped whole at the release. From malloc
 * they would be freed into malloc's per-thread caches, each small chunk kept there
 * holding a heap page resident long after: ~24 KiB per monitor under podman. A value the
 * scratch has no room for comes from malloc (and goes back to it). */
static struct {
    char *base;
    size_t size, used;
    unsigned depth;
    json_malloc_t prev_malloc;
    json_free_t prev_free;
} scratch;

static bool in_scratch(const void *p)
{
    return scratch.base != NULL && (const char *)p >= scratch.base &&
           (const char *)p < scratch.base + scratch.size;
}

static void *scratch_malloc(size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;

    if (scratch.base != NULL && need >= n && scratch.size - scratch.used >= need) {
        void *p = scratch.base + scratch.used;
        scratch.used += need;
        return p;
    }
    return malloc(n);
}

static void scratch_free(void *p)
{
    if (!in_scratch(p))
        free(p);
}

static void scratch_begin(size_t text_len)
{
    if (scratch.depth++ > 0)
        return;
    /* Address space only: the pages the parse touches are the ones that count. */
    scratch.size = text_len * 16 + (256u << 10);
    scratch.base = mmap(NULL, scratch.size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (scratch.base == MAP_FAILED)
        scratch.base = NULL;
    scratch.used = 0;
    json_get_alloc_funcs(&scratch.prev_malloc, &scratch.prev_free);
    json_set_alloc_funcs(scratch_malloc, scratch_free);
}

static void scratch_end(void)
{
    if (scratch.depth == 0 || --scratch.depth > 0)
        return;
    json_set_alloc_funcs(scratch.prev_malloc, scratch.prev_free);
    if (scratch.base != NULL)
        munmap(scratch.base, scratch.size);
    scratch.base = NULL;
    scratch.size = scratch.used = 0;
}

json_t *tether_bundle_load(const char *bundle, struct tether_error *err)
{
    cleanup_free char *path = xasprintf("%s/config.json", bundle);
    cleanup_free char *text = NULL;
    json_error_t jerr;
    size_t len;
    json_t *config;

    if (tether_read_file(path, CONFIG_MAX, &text, &len, err) < 0)
        return NULL;
    scratch_begin(len);
    config = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(config)) {
        json_decref(config);
        scratch_end();
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "%s: not a JSON object: %s", path, jerr.text);
        return NULL;
    }
    return config;
}

void tether_bundle_release(json_t *config)
{
    if (config == NULL)
        return;
    json_decref(config);
    scratch_end();
}

static char *absolute(const char *bundle, const char *path)
{
    return path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", bundle, path);
}

int tether_bundle_relocate(json_t *config, const char *bundle, struct tether_error *err)
{
    json_t *root = json_object_get(config, "root");
    json_t *path = json_object_get(root, "path");
    json_t *mounts = json_object_get(config, "mounts"), *m;
    size_t i;

    if (!json_is_string(path))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "config.json has no root.path");
    {
        cleanup_free char *abs = absolute(bundle, json_string_value(path));
        json_object_set_new(root, "path", json_string(abs));
    }
    json_array_foreach(mounts, i, m)
    {
        json_t *src = json_object_get(m, "source");
        if (json_is_string(src) && json_string_value(src)[0] != '/' &&
            json_string_value(src)[0] != '\0') {
            cleanup_free char *abs = absolute(bundle, json_string_value(src));
            /* Only paths that exist under the bundle: "proc", "tmpfs" … are not paths. */
            struct stat st;
            if (stat(abs, &st) == 0)
                json_object_set_new(m, "source", json_string(abs));
        }
    }
    return 0;
}

int tether_bundle_add_init(json_t *config, const char *init_path, struct tether_error *err)
{
    json_t *process = json_object_get(config, "process");
    json_t *args = json_object_get(process, "args");
    json_t *mounts = json_object_get(config, "mounts");
    json_t *new_args;

    if (!json_is_array(args) || json_array_size(args) == 0)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "config.json has no process.args");
    if (access(init_path, X_OK) < 0)
        return tether_error_set(err, errno, "tether-init %s", init_path);
    if (mounts == NULL) {
        mounts = json_array();
        json_object_set_new(config, "mounts", mounts);
    }
    json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:[s,s,s]}", "destination",
                                            TETHER_INIT_DEST, "type", "bind", "source", init_path,
                                            "options", "bind", "ro", "nosuid"));
    new_args = json_pack("[s,s]", TETHER_INIT_DEST, "--");
    json_array_extend(new_args, args);
    json_object_set_new(process, "args", new_args);
    return 0;
}

int tether_bundle_write(json_t *config, const char *dir, struct tether_error *err)
{
    cleanup_free char *path = xasprintf("%s/config.json", dir);
    char *text = json_dumps(config, JSON_COMPACT);
    json_malloc_t alloc;
    json_free_t release;
    int rc;

    if (text == NULL)
        return tether_error_set(err, 0, "cannot encode config.json");
    rc = tether_write_file_atomic(path, text, strlen(text), 0600, err);
    /* Encoded with jansson's allocator of the moment (the scratch while config is loaded). */
    json_get_alloc_funcs(&alloc, &release);
    release(text);
    return rc;
}

int tether_bundle_stop_signal(const char *bundle)
{
    json_t *config = tether_bundle_load(bundle, NULL);
    const char *name = json_string_value(json_object_get(json_object_get(config, "annotations"),
                                                         "org.opencontainers.image.stopSignal"));
    int sig = name != NULL ? tether_signal_parse(name) : -1;

    tether_bundle_release(config);
    return sig > 0 ? sig : SIGTERM;
}
