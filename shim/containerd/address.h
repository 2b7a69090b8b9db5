/* Where a shim listens and how containerd finds it. containerd 1.6 names a shim's socket
 * /run/containerd/s/<hex of SHA-256 of "<containerd address>/<namespace>/<group id>">
 * (the path cleaned as Go's filepath.Join does), reads it back from the bundle's `address`
 * file, and `ctr shim --id` computes the same name: using the same scheme makes both work.
 * The group id puts the containers of one Kubernetes pod in one shim. */
#ifndef TETHER_CONTAINERD_ADDRESS_H
#define TETHER_CONTAINERD_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>

#include <tether/error.h>

/* Fixed by containerd (defaults.DefaultStateDir + "/s"), whatever its --state. */
#define TETHER_CTRD_SOCKET_DIR   "/run/containerd/s"
#define TETHER_CTRD_ADDRESS_FILE "address"

/* The annotations that name a group, in the order containerd's own shim reads them. */
#define TETHER_CTRD_ANNOTATION_GROUP   "io.containerd.runc.v2.group"
#define TETHER_CTRD_ANNOTATION_SANDBOX "io.kubernetes.cri.sandbox-id"

/* path cleaned lexically as Go's filepath.Clean does: one slash between elements, no "."
 * elements, ".." resolved against the element before it, no trailing slash. Malloc'd. */
char *tether_ctrd_clean_path(const char *path);

/* The socket path (without "unix://") of group in namespace ns of the containerd at
 * address. Malloc'd. */
char *tether_ctrd_socket_path(const char *address, const char *ns, const char *group);

/* The group of the task id whose bundle is bundle: the group annotation of its
 * config.json, else the sandbox id annotation, else id itself. Malloc'd. */
char *tether_ctrd_group_id(const char *bundle, const char *id, struct tether_error *err);

/* Writes "unix://<socket_path>" into <bundle>/address, atomically and without a trailing
 * newline (containerd reads the file untrimmed). */
int tether_ctrd_write_address(const char *bundle, const char *socket_path,
                              struct tether_error *err);

/* Whether something accepts connections at socket_path (a live shim). */
bool tether_ctrd_socket_alive(const char *socket_path);

#endif
