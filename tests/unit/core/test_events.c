/* The event journal (sequence numbers, bounded retention, replay lookups, typed events with
 * their own copies of strings) and the exit record (wait status -> exit_status/signal, its
 * JSON, and the atomic exit.json). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <tether/util.h>

#include "events.h"
#include "exitrec.h"

/* ---- events ---- */

static const struct tether_event *publish_n(struct tether_events *ev, uint64_t n)
{
    const struct tether_event *last = NULL;
    uint64_t i;

    /* Each event carries attempt = its seq - 1, to tell the slots' contents apart. */
    for (i = 0; i < n; i++) {
        struct tether_event tmpl = {
            .topic = TETHER_TOPIC_RESTART, .id = "ctr", .attempt = (unsigned)ev->last_seq};
        last = tether_events_publish(ev, &tmpl);
    }
    return last;
}

static void test_events_seq_from_one(void **state)
{
    struct tether_events ev;
    const struct tether_event *e;
    struct tether_event tmpl = {.topic = TETHER_TOPIC_CREATE, .id = "web-1", .pid = 42};
    struct timespec before, after;

    (void)state;
    tether_events_init(&ev, 0);
    assert_int_equal(ev.cap, TETHER_EVENTS_RETAINED);
    assert_int_equal(ev.last_seq, 0);
    /* An empty journal: nothing to get, the first seq to come is 1. */
    assert_int_equal(tether_events_first_seq(&ev), 1);
    assert_null(tether_events_get(&ev, 0));
    assert_null(tether_events_get(&ev, 1));

    clock_gettime(CLOCK_REALTIME, &before);
    e = tether_events_publish(&ev, &tmpl);
    clock_gettime(CLOCK_REALTIME, &after);
    assert_int_equal(e->seq, 1);
    assert_int_equal(e->topic, TETHER_TOPIC_CREATE);
    assert_string_equal(tether_topic_name(e->topic), "create");
    assert_string_equal(e->id, "web-1");
    /* The journal keeps its own copy of the strings. */
    assert_ptr_not_equal(e->id, tmpl.id);
    assert_int_equal(e->pid, 42);
    assert_null(e->exec_id);
    assert_null(e->text);
    /* The time of publication is set when the template has none. */
    assert_true(e->time.tv_sec >= before.tv_sec && e->time.tv_sec <= after.tv_sec);

    /* A template's own time is kept. */
    tmpl = (struct tether_event){.topic = TETHER_TOPIC_PAUSED, .id = "web-1"};
    tmpl.time.tv_sec = 1000;
    e = tether_events_publish(&ev, &tmpl);
    assert_int_equal(e->seq, 2);
    assert_string_equal(tether_topic_name(e->topic), "paused");
    assert_int_equal(e->time.tv_sec, 1000);

    assert_int_equal(ev.last_seq, 2);
    assert_int_equal(tether_events_first_seq(&ev), 1);
    assert_int_equal(tether_events_get(&ev, 1)->seq, 1);
    assert_int_equal(tether_events_get(&ev, 2)->seq, 2);
    assert_null(tether_events_get(&ev, 3));
    tether_events_fini(&ev);
}

static void test_topic_names(void **state)
{
    static const char *const names[TETHER_TOPIC_COUNT] = {
        "create",  "start", "exit",    "delete",         "exec_start", "paused",
        "resumed", "oom",   "restart", "restart_failed", "seccomp"};
    int t;

    (void)state;
    for (t = 0; t < TETHER_TOPIC_COUNT; t++)
        assert_string_equal(tether_topic_name((enum tether_topic)t), names[t]);
    assert_string_equal(tether_topic_name(TETHER_TOPIC_COUNT), "unknown");
}

/* Every retained seq is found with its own content; everything else is not. */
static void check_retained(const struct tether_events *ev, uint64_t first, uint64_t last)
{
    uint64_t seq;

    assert_int_equal(tether_events_first_seq(ev), first);
    assert_int_equal(ev->last_seq, last);
    for (seq = first; seq <= last; seq++) {
        const struct tether_event *e = tether_events_get(ev, seq);

        assert_non_null(e);
        assert_int_equal(e->seq, seq);
        assert_int_equal(e->attempt, (unsigned)seq - 1);
        assert_string_equal(e->id, "ctr");
    }
    assert_null(tether_events_get(ev, 0));
    if (first > 1) {
        assert_null(tether_events_get(ev, first - 1));
        assert_null(tether_events_get(ev, 1));
    }
    assert_null(tether_events_get(ev, last + 1));
    assert_null(tether_events_get(ev, UINT64_MAX));
}

static void test_events_small_cap(void **state)
{
    struct tether_events ev;

    (void)state;
    tether_events_init(&ev, 4);
    publish_n(&ev, 3);
    check_retained(&ev, 1, 3);
    publish_n(&ev, 1);
    check_retained(&ev, 1, 4);
    /* The fifth event pushes out the first, and so on. */
    publish_n(&ev, 1);
    check_retained(&ev, 2, 5);
    publish_n(&ev, 6);
    check_retained(&ev, 8, 11);
    tether_events_fini(&ev);
}

static void test_events_growth_keeps_slots(void **state)
{
    struct tether_events ev;

    (void)state;
    /* A cap that is not a power of two: the ring grows 4, 8, 16, then 20, and wraps. */
    tether_events_init(&ev, 20);
    publish_n(&ev, 3);
    assert_int_equal(ev.alloc, 4);
    check_retained(&ev, 1, 3);
    publish_n(&ev, 14);
    check_retained(&ev, 1, 17);
    assert_int_equal(ev.alloc, 20);
    publish_n(&ev, 33);
    check_retained(&ev, 31, 50);
    assert_int_equal(ev.alloc, 20);
    tether_events_fini(&ev);
}

static void test_events_default_retention(void **state)
{
    struct tether_events ev;

    (void)state;
    tether_events_init(&ev, 0);
    /* Most shims see a few events: the ring starts small. */
    publish_n(&ev, 3);
    assert_true(ev.alloc < TETHER_EVENTS_RETAINED);
    publish_n(&ev, 2 * TETHER_EVENTS_RETAINED - 3 + 5);
    check_retained(&ev, TETHER_EVENTS_RETAINED + 6, 2 * TETHER_EVENTS_RETAINED + 5);
    assert_int_equal(ev.alloc, TETHER_EVENTS_RETAINED);
    tether_events_fini(&ev);
}

static void test_events_strings_copied(void **state)
{
    struct tether_events ev;
    cleanup_free char *big = xmalloc(100001);
    const struct tether_event *e;
    struct tether_event tmpl = {.topic = TETHER_TOPIC_EXIT, .id = "c", .exec_id = "ex-1", .pid = 7};

    (void)state;
    memset(big, 'z', 100000);
    big[100000] = '\0';
    tmpl.text = big;
    tmpl.exit.exit_status = 137;
    tmpl.exit.signal = SIGKILL;
    tether_events_init(&ev, 2);
    e = tether_events_publish(&ev, &tmpl);
    /* The caller's buffers may go away: the journal owns copies. */
    memset(big, 'y', 100000);
    assert_int_equal(strlen(e->text), 100000);
    assert_int_equal(e->text[99999], 'z');
    assert_string_equal(e->exec_id, "ex-1");
    assert_int_equal(e->exit.exit_status, 137);
    assert_int_equal(e->exit.signal, SIGKILL);
    /* Slots that are reused release what the old event held (ASan/valgrind see it). */
    publish_n(&ev, 3);
    tether_events_fini(&ev);
}

/* ---- exit records ---- */

/* The wait status of a real child that runs fn. */
static int child_status(void (*fn)(void))
{
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        _exit(99);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void exit_3(void)
{
    _exit(3);
}

static void exit_0(void)
{
    _exit(0);
}

static void die_kill(void)
{
    raise(SIGKILL);
}

static void die_term(void)
{
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
}

static const struct timespec at = {.tv_sec = 1795356821, .tv_nsec = 492604010};

static void test_exit_from_wait(void **state)
{
    struct tether_exit ex;

    (void)state;
    tether_exit_from_wait(&ex, child_status(exit_3), &at);
    assert_int_equal(ex.exit_status, 3);
    assert_int_equal(ex.signal, 0);
    assert_false(ex.oom_killed);
    assert_int_equal(ex.exited_at.tv_sec, at.tv_sec);
    assert_int_equal(ex.exited_at.tv_nsec, at.tv_nsec);

    tether_exit_from_wait(&ex, child_status(exit_0), &at);
    assert_int_equal(ex.exit_status, 0);
    assert_int_equal(ex.signal, 0);

    tether_exit_from_wait(&ex, child_status(die_kill), &at);
    assert_int_equal(ex.exit_status, 128 + SIGKILL);
    assert_int_equal(ex.signal, SIGKILL);

    tether_exit_from_wait(&ex, child_status(die_term), &at);
    assert_int_equal(ex.exit_status, 143);
    assert_int_equal(ex.signal, SIGTERM);
}

static void test_exit_json(void **state)
{
    struct tether_exit ex;
    json_t *obj = json_object();

    (void)state;
    tether_exit_from_wait(&ex, child_status(exit_3), &at);
    tether_exit_to_json(&ex, obj);
    assert_int_equal(json_integer_value(json_object_get(obj, "exit_status")), 3);
    assert_string_equal(json_string_value(json_object_get(obj, "exited_at")),
                        "2026-11-22T14:13:41.492604010Z");
    /* A normal exit names no signal; oom_killed appears only when true. */
    assert_null(json_object_get(obj, "signal"));
    assert_null(json_object_get(obj, "oom_killed"));
    json_decref(obj);

    obj = json_object();
    tether_exit_from_wait(&ex, child_status(die_kill), &at);
    ex.oom_killed = true;
    tether_exit_to_json(&ex, obj);
    assert_int_equal(json_integer_value(json_object_get(obj, "exit_status")), 137);
    assert_string_equal(json_string_value(json_object_get(obj, "signal")), "SIGKILL");
    assert_true(json_is_true(json_object_get(obj, "oom_killed")));
    json_decref(obj);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_exit_write_atomic(void **state)
{
    char dir[] = "/tmp/tether-exitrec-XXXXXX";
    cleanup_free char *path = NULL;
    cleanup_free char *text = NULL;
    struct tether_error err = {0};
    struct tether_exit ex;
    struct stat before, after;
    char old[64] = {0};
    json_t *obj;
    int fd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    path = xasprintf("%s/exit.json", dir);

    tether_exit_from_wait(&ex, child_status(exit_3), &at);
    assert_int_equal(tether_exit_write(&ex, path, &err), 0);
    assert_int_equal(tether_read_file(path, 4096, &text, NULL, &err), 0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    obj = json_loads(text, 0, NULL);
    assert_non_null(obj);
    assert_int_equal(json_integer_value(json_object_get(obj, "exit_status")), 3);
    assert_string_equal(json_string_value(json_object_get(obj, "exited_at")),
                        "2026-11-22T14:13:41.492604010Z");
    json_decref(obj);
    free(text);
    text = NULL;
    /* Nothing but exit.json is left: no temporary file. */
    assert_int_equal(count_entries(dir), 1);

    /* A rewrite replaces the file as a whole (rename): a reader holding the old file
     * still sees the old record, never a mix of the two. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &before), 0);
    tether_exit_from_wait(&ex, child_status(die_kill), &at);
    assert_int_equal(tether_exit_write(&ex, path, &err), 0);
    assert_int_equal(stat(path, &after), 0);
    assert_true(before.st_ino != after.st_ino);
    assert_true(read(fd, old, sizeof(old) - 1) > 0);
    assert_non_null(strstr(old, "\"exit_status\":3"));
    close(fd);
    assert_int_equal(tether_read_file(path, 4096, &text, NULL, &err), 0);
    assert_non_null(strstr(text, "\"exit_status\":137"));
    assert_non_null(strstr(text, "\"signal\":\"SIGKILL\""));
    assert_int_equal(after.st_mode & 07777, 0644);
    assert_int_equal(count_entries(dir), 1);

    /* A directory that is not there: an error, not a crash. */
    unlink(path);
    rmdir(dir);
    assert_int_equal(tether_exit_write(&ex, path, &err), -1);
    assert_int_equal(err.errnum, ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_seq_from_one),
        cmocka_unit_test(test_events_small_cap),
        cmocka_unit_test(test_events_growth_keeps_slots),
        cmocka_unit_test(test_events_default_retention),
        cmocka_unit_test(test_events_strings_copied),
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_exit_from_wait),
        cmocka_unit_test(test_exit_json),
        cmocka_unit_test(test_exit_write_atomic),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
