/* SHA-256 (FIPS 180-4), for the one digest the front end needs: the name of its socket,
 * which containerd derives from a SHA-256 of its address, namespace and group id. */
#ifndef TETHER_CONTAINERD_SHA256_H
#define TETHER_CONTAINERD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define TETHER_SHA256_LEN 32

/* The digest of the len bytes at data. */
void tether_sha256(const void *data, size_t len, uint8_t out[TETHER_SHA256_LEN]);

#endif
