/* Validation of method parameters: every method checks its params object for unknown keys
 * and wrong types and refuses with a clear message (kind INVALID -> -32602). Getters
 * leave *out untouched when the key is absent, so callers preset defaults. */
#ifndef TETHER_SHIM_PARAMS_H
#define TETHER_SHIM_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <tether/error.h>

/* Refuses keys not in allowed (NULL-terminated). */
int tether_params_check(json_t *params, const char *const *allowed, struct tether_error *err);
int tether_params_bool(json_t *params, const char *key, bool *out, struct tether_error *err);
/* An integer in [min, max]. */
int tether_params_int(json_t *params, const char *key, int64_t min, int64_t max, int64_t *out,
                      struct tether_error *err);
int tether_params_string(json_t *params, const char *key, const char **out,
                         struct tether_error *err);
/* An object (borrowed). */
int tether_params_object(json_t *params, const char *key, json_t **out, struct tether_error *err);
/* A key that must be present. */
int tether_params_require(json_t *params, const char *key, struct tether_error *err);
/* A signal given as a number or a name ("SIGTERM", "TERM"). */
int tether_params_signal(json_t *params, const char *key, int *out, struct tether_error *err);
/* An array of strings, returned as a NULL-terminated malloc'd copy. */
int tether_params_strings(json_t *params, const char *key, size_t max, char ***out,
                          struct tether_error *err);
void tether_params_strings_free(char **v);

/* A path a client gives for the shim to open: absolute, no "..", no empty component,
 * bounded length. The last component is opened with O_NOFOLLOW by the user of the path. */
int tether_params_path(const char *path, const char *what, struct tether_error *err);

#endif
