/* Kubernetes' path: containerd's CRI plugin, enabled in the private containerd with a
 * runtime handler "tether" (runtime_type io.containerd.tether.v2), drives a pod through
 * tests/integration/cri/cri_pod.py, a CRI client (gRPC on containerd's socket) run with
 * Debian's /usr/bin/python3 and its grpcio. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_containerd.h"

#define PYTHON "/usr/bin/python3"

static void test_cri_pod(void **state)
{
    struct th_ctrd c;
    cleanup_free char *script = xasprintf("%s/tests/integration/cri/cri_pod.py", TETHER_SOURCE_DIR);
    cleanup_free char *logs = NULL;
    const char *argv[] = {PYTHON, script, NULL, "tether", TH_CTRD_IMAGE, NULL, NULL};
    struct th_cmd cmd = {0};
    const char *probe[] = {PYTHON, "-c", "import grpc, grpc_tools", NULL};
    struct th_cmd p = {.argv = probe};

    (void)state;
    th_ctrd_require();
    if (th_cmd_run(&p) != 0)
        fail_msg("%s cannot import grpc and grpc_tools: install python3-grpcio and "
                 "python3-grpc-tools (hack/deps.sh test): %s",
                 PYTHON, p.err);
    th_cmd_free(&p);

    th_ctrd_start(&c, true);
    logs = xasprintf("%s/pod-logs", c.env.dir);
    mkdir(logs, 0755);
    argv[2] = c.sock;
    argv[5] = logs;
    cmd.argv = argv;
    cmd.timeout_ms = 180000;
    th_cmd_run(&cmd);
    for (char *line = strtok(cmd.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "SANDBOX ", 8) == 0)
            th_ctrd_track(&c, line + 8);
        printf("# %s\n", line);
    }
    if (cmd.status != 0) {
        fprintf(stderr, "%s\n", cmd.err);
        th_ctrd_stop(&c);
        fail_msg("cri_pod.py exited with %d", cmd.status);
    }
    th_cmd_free(&cmd);
    th_ctrd_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cri_pod),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
