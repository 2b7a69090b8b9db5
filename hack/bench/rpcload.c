/* Request throughput of one tether-shim: CLIENTS threads, each on its own connection, send
 * `state` requests back to back (one outstanding request each) for SECONDS seconds.
 *
 *   rpcload SOCKET CLIENTS SECONDS
 *
 * Prints "calls N", "rps R" and the latency percentiles "p50_us", "p99_us", "max_us" over
 * every call of every client. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchlib.h"

#define RPCLOAD_MAX_CLIENTS 64

struct client {
    pthread_t thread;
    const char *socket;
    const uint64_t *end_ns;       /* set by main between the two barriers */
    pthread_barrier_t *connected; /* every client has connected */
    pthread_barrier_t *go;        /* the end time is set */
    uint64_t *lat;                /* per-call latencies, ns */
    size_t n, cap;
};

static void *client_main(void *arg)
{
    struct client *cl = arg;
    struct bench_conn *c = bench_conn_open(cl->socket);

    pthread_barrier_wait(cl->connected);
    pthread_barrier_wait(cl->go);
    for (;;) {
        uint64_t t0 = bench_now_ns();
        json_t *res;

        if (t0 >= *cl->end_ns)
            break;
        res = bench_conn_call(c, "state", NULL);
        json_decref(res);
        if (cl->n == cl->cap) {
            cl->cap = cl->cap != 0 ? cl->cap * 2 : 65536;
            cl->lat = realloc(cl->lat, cl->cap * sizeof(*cl->lat));
            if (cl->lat == NULL)
                abort();
        }
        cl->lat[cl->n++] = bench_now_ns() - t0;
    }
    bench_conn_close(c);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);

    return (double)v[i] / 1000.0;
}

int main(int argc, char **argv)
{
    struct client cl[RPCLOAD_MAX_CLIENTS];
    pthread_barrier_t connected, go;
    int clients;
    double seconds;
    uint64_t start, end_ns, *all;
    size_t total = 0, k = 0;

    bench_set_prog("rpcload");
    if (argc != 4)
        bench_die("usage: rpcload SOCKET CLIENTS SECONDS");
    clients = atoi(argv[2]);
    seconds = atof(argv[3]);
    if (clients < 1 || clients > RPCLOAD_MAX_CLIENTS || seconds <= 0)
        bench_die("CLIENTS must be 1..%d and SECONDS > 0", RPCLOAD_MAX_CLIENTS);

    pthread_barrier_init(&connected, NULL, (unsigned)clients + 1);
    pthread_barrier_init(&go, NULL, (unsigned)clients + 1);
    memset(cl, 0, sizeof(cl));
    for (int i = 0; i < clients; i++) {
        cl[i].socket = argv[1];
        cl[i].connected = &connected;
        cl[i].go = &go;
        cl[i].end_ns = &end_ns;
        if (pthread_create(&cl[i].thread, NULL, client_main, &cl[i]) != 0)
            bench_die("pthread_create: %s", strerror(errno));
    }
    pthread_barrier_wait(&connected);
    start = bench_now_ns();
    end_ns = start + (uint64_t)(seconds * 1e9);
    pthread_barrier_wait(&go);
    for (int i = 0; i < clients; i++) {
        pthread_join(cl[i].thread, NULL);
        total += cl[i].n;
    }
    seconds = (double)(bench_now_ns() - start) / 1e9;
    if (total == 0)
        bench_die("no call completed");
    all = malloc(total * sizeof(*all));
    if (all == NULL)
        abort();
    for (int i = 0; i < clients; i++) {
        memcpy(all + k, cl[i].lat, cl[i].n * sizeof(*all));
        k += cl[i].n;
        free(cl[i].lat);
    }
    qsort(all, total, sizeof(*all), cmp_u64);
    printf("calls %zu\n", total);
    printf("rps %.0f\n", (double)total / seconds);
    printf("p50_us %.1f\n", pct_us(all, total, 0.50));
    printf("p99_us %.1f\n", pct_us(all, total, 0.99));
    printf("max_us %.1f\n", (double)all[total - 1] / 1000.0);
    free(all);
    pthread_barrier_destroy(&connected);
    pthread_barrier_destroy(&go);
    return 0;
}
