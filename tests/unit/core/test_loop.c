/* The event loop: sources removed (and freed) by a callback while their own events are
 * still pending in the same batch are never touched again; deferred releases run once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/loop.h>
#include <tether/util.h>

struct pair {
    struct tether_source src;
    int wfd;
    struct pair *victim; /* removed and freed by this source's callback */
    struct pair **slot;  /* cleared when this pair is freed */
    int *calls;
};

static void pair_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct pair *p = container_of(src, struct pair, src);

    (void)revents;
    (*p->calls)++;
    if (p->victim != NULL) {
        tether_loop_remove(loop, &p->victim->src);
        close(p->victim->src.fd);
        close(p->victim->wfd);
        *p->victim->slot = NULL;
        free(p->victim);
        p->victim = NULL;
    }
}

static struct pair *pair_new(struct tether_loop *loop, int *calls)
{
    struct tether_error err = {0};
    struct pair *p = xzalloc(sizeof(*p));
    int fds[2];

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    assert_int_equal(write(fds[1], "x", 1), 1); /* readable from the start */
    p->src.fd = fds[0];
    p->wfd = fds[1];
    p->src.events = EPOLLIN;
    p->src.cb = pair_cb;
    p->calls = calls;
    assert_int_equal(tether_loop_add(loop, &p->src, &err), 0);
    return p;
}

static void test_remove_and_free_pending(void **state)
{
    struct tether_loop loop;
    struct tether_error err = {0};
    struct pair *pairs[2];
    int calls = 0, i;

    (void)state;
    assert_int_equal(tether_loop_init(&loop, &err), 0);
    /* Both are ready in one batch; whichever runs first frees the other. */
    for (i = 0; i < 2; i++) {
        pairs[i] = pair_new(&loop, &calls);
        pairs[i]->slot = &pairs[i];
    }
    pairs[0]->victim = pairs[1];
    pairs[1]->victim = pairs[0];
    assert_int_equal(tether_loop_run_once(&loop, 1000, &err), 2);
    assert_int_equal(calls, 1); /* the freed one's event was scrubbed, not dispatched */
    assert_true((pairs[0] == NULL) != (pairs[1] == NULL));
    /* The survivor is still registered: it is readable again, and dispatched. */
    assert_int_equal(tether_loop_run_once(&loop, 1000, &err), 1);
    assert_int_equal(calls, 2);
    for (i = 0; i < 2; i++)
        if (pairs[i] != NULL) {
            tether_loop_remove(&loop, &pairs[i]->src);
            close(pairs[i]->src.fd);
            close(pairs[i]->wfd);
            free(pairs[i]);
        }
    tether_loop_fini(&loop);
}

static int released;

static void count_release(struct tether_source *src)
{
    (void)src;
    released++;
}

static void test_deferred_release(void **state)
{
    struct tether_loop loop;
    struct tether_error err = {0};
    int calls = 0;
    struct pair *a;

    (void)state;
    released = 0;
    assert_int_equal(tether_loop_init(&loop, &err), 0);
    a = pair_new(&loop, &calls);
    a->slot = &a;
    a->src.release = count_release;
    /* Outside a batch the release runs at once, and only once. */
    tether_loop_remove(&loop, &a->src);
    tether_loop_remove(&loop, &a->src);
    assert_int_equal(released, 1);
    close(a->src.fd);
    close(a->wfd);
    free(a);
    tether_loop_fini(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remove_and_free_pending),
        cmocka_unit_test(test_deferred_release),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
