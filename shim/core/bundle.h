/* The shim's own copy of a bundle's config.json, for what the shim adds to a container
 * without touching the engine's bundle: tether-init as PID 1 (create {"init":true}) and
 * the seccomp listener (create {"seccomp_notify":…}). The copy lives in <state>/<id>/ and
 * the runtime is pointed at that directory; paths the runtime resolves against the bundle
 * (root.path, relative bind-mount sources) are made absolute first. */
#ifndef TETHER_SHIM_BUNDLE_H
#define TETHER_SHIM_BUNDLE_H

#include <stdbool.h>

#include <jansson.h>

#include <tether/error.h>

/* Where tether-init appears inside the container (a read-only bind mount on /dev's
 * tmpfs, so the engine's rootfs gets no new file). */
#define TETHER_INIT_DEST "/dev/tether-init"

/* Loads <bundle>/config.json, to be given back with tether_bundle_release() within the same
 * turn of the loop (its values live in a scratch mapping until then; see bundle.c). */
json_t *tether_bundle_load(const char *bundle, struct tether_error *err);

/* Releases what tether_bundle_load() returned (NULL is fine). Every JSON value made between
 * the two calls lives in the same scratch and must be gone with it (part of config, or
 * released before). */
void tether_bundle_release(json_t *config);

/* Rewrites config (from bundle) for use from another directory: absolute root.path and
 * bind sources. */
int tether_bundle_relocate(json_t *config, const char *bundle, struct tether_error *err);

/* Puts init_path in front of process.args (bind-mounted read-only at TETHER_INIT_DEST). */
int tether_bundle_add_init(json_t *config, const char *init_path, struct tether_error *err);

/* Writes config as <dir>/config.json (atomically). */
int tether_bundle_write(json_t *config, const char *dir, struct tether_error *err);

/* The signal to stop the container with: annotation org.opencontainers.image.stopSignal,
 * else SIGTERM. */
int tether_bundle_stop_signal(const char *bundle);

#endif
