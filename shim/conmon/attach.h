/* conmon's attach socket: <bundle>/attach, AF_UNIX SOCK_SEQPACKET, any number of clients
 * (podman run, attach, exec). Each packet to a client is one byte naming the stream (2
 * stdout, 3 stderr; a terminal's output is all 2) and up to 8192 bytes of output (podman
 * reads 8193). Packets from a client are raw input for the process's stdin or terminal.
 *
 * Nothing waits: output a client cannot take at once is queued, up to
 * TETHER_ATTACH_QUEUE_MAX per client; a client that lets more pile up is dropped (podman
 * reads its socket all the time: one that does not read is stuck or gone). Input the
 * process does not take at once is kept (one packet's worth) and no client is read until
 * tether_conmon_attach_resume() says stdin takes data again, so clients are held back by
 * their sockets instead of this monitor buffering without bound. A client that ends its
 * input (shutdown(SHUT_WR), as `podman run -i` does at the end of its stdin) is reported
 * once what it sent went in. */
#ifndef TETHER_CONMON_ATTACH_H
#define TETHER_CONMON_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <tether/acceptor.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>
#include <tether/timer.h>

#define TETHER_ATTACH_STDOUT     2
#define TETHER_ATTACH_STDERR     3
#define TETHER_ATTACH_PACKET_MAX 8192 /* output bytes per packet, after the stream byte */
/* Largest input packet read at once: podman writes its stdin in 32 KiB pieces, and a
 * SEQPACKET read shorter than the packet would cut it. */
#define TETHER_ATTACH_INPUT_MAX   (64 * 1024)
#define TETHER_ATTACH_QUEUE_MAX   (1024 * 1024)
#define TETHER_ATTACH_CLIENTS_MAX 128
/* At the process's end, how long clients get to take the output queued for them. */
#define TETHER_ATTACH_FINISH_MS 5000

struct tether_conmon_attach_hooks {
    /* Input for the process: returns the bytes taken (the rest is kept and sent again after
     * tether_conmon_attach_resume()), or -1 when it cannot take any (the input is dropped). */
    ssize_t (*input)(void *opaque, const char *data, size_t len);
    /* A client ended its input and all of it went in. */
    void (*input_end)(void *opaque);
    /* After tether_conmon_attach_finish(): every client is gone. */
    void (*finished)(void *opaque);
    void *opaque;
};

struct tether_attach_client;

struct tether_conmon_attach {
    struct tether_loop *loop;
    const struct tether_log *log;
    struct tether_conmon_attach_hooks hooks;
    struct tether_acceptor listen; /* src.fd -1 when not listening */
    char *path;
    bool take_input;
    /* clients[0 .. n_clients): a dropped client's slot takes the last one */
    struct tether_attach_client *clients[TETHER_ATTACH_CLIENTS_MAX];
    size_t n_clients;
    char *in_buf;  /* TETHER_ATTACH_INPUT_MAX, while there are clients */
    char *pending; /* input the process has not taken yet */
    size_t pending_off, pending_len;
    bool end_pending; /* a client ended its input: tell once pending went in */
    bool finishing;
    struct tether_timer finish_timer;
};

void tether_conmon_attach_init(struct tether_conmon_attach *a, struct tether_loop *loop,
                               const struct tether_log *log,
                               const struct tether_conmon_attach_hooks *hooks);
/* Binds the socket at path (a stale one is replaced) and accepts clients from the loop;
 * with take_input their packets go to hooks.input. */
int tether_conmon_attach_listen(struct tether_conmon_attach *a, const char *path, bool take_input,
                                struct tether_error *err);
/* Sends output to every client, in packets. */
void tether_conmon_attach_output(struct tether_conmon_attach *a, int stream, const char *data,
                                 size_t len);
/* The process takes input again: what was kept goes in, then clients are read again. */
void tether_conmon_attach_resume(struct tether_conmon_attach *a);
/* No more output will come: stops accepting clients, lets each take what is queued for it
 * (for at most TETHER_ATTACH_FINISH_MS), closes them, then calls hooks.finished. */
void tether_conmon_attach_finish(struct tether_conmon_attach *a);
/* Closes every client and the socket, and removes the socket's path. */
void tether_conmon_attach_close(struct tether_conmon_attach *a);

#endif
