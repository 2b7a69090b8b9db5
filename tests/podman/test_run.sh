#!/usr/bin/env bash
# podman run, logs and attach on tether-conmon: the monitor podman starts is tether-conmon,
# exit codes, stdout and stderr apart, stdin, a terminal and its size, --rm, podman's logs
# (whole, --tail, -f, lines without a newline, --log-opt max-size), attach, and a runtime
# that fails.
# shellcheck disable=SC2016 # single-quoted commands are expanded by the container's shell
set -uo pipefail
. "$(dirname "$0")/lib.sh"

test_monitor_is_tether_conmon() {
    local exe
    # run -d
    p run -d --name mon-d "$PM_IMAGE" sleep 100 >/dev/null
    expect_match "run -d monitor" "$(pm_conmon_exe mon-d)" '/tether-conmon$'
    # an attached run, seen while it runs
    p run --name mon-a "$PM_IMAGE" sleep 3 >/dev/null &
    pm_wait_for pm_state_is mon-a running
    expect_match "run monitor" "$(pm_conmon_exe mon-a)" '/tether-conmon$'
    wait
    # exec: the session's monitor, found by its command line
    p exec mon-d sleep 3 &
    exe=$(pm_wait_for pm_exec_monitor_exe)
    expect_match "exec monitor" "$exe" '/tether-conmon$'
    wait
    p rm -f -t 0 mon-d mon-a >/dev/null
}

pm_state_is() { [ "$(pm_state "$1" '{{.State.Status}}')" = "$2" ]; }

# The program of a running exec session's monitor (its argv has --exec-process-spec). A
# process pgrep found may be gone before its exe is read (the monitor's launcher returns
# once the monitor forked away): only a process still there answers.
pm_exec_monitor_exe() {
    local pid exe
    for pid in $(pgrep -f -- "--exec-process-spec $PM_DIR"); do
        exe=$(readlink "/proc/$pid/exe") || continue
        [ "$exe" != /bin/sh ] && echo "$exe" && return 0
    done
    return 1
}

test_exit_codes() {
    local rc
    p run --rm "$PM_IMAGE" true
    expect_rc "true" $? 0
    p run --rm "$PM_IMAGE" sh -c 'exit 3'
    expect_rc "exit 3" $? 3
    p run --rm "$PM_IMAGE" nosuchbinary 2>"$PM_DIR/work/err"
    expect_rc "no such binary" $? 127
    expect_match "its message" "$(cat "$PM_DIR/work/err")" 'executable file not found'
    # The runtime's "permission denied" reaches podman, which makes it 126.
    p run --rm "$PM_IMAGE" /etc/passwd 2>"$PM_DIR/work/err"
    expect_rc "not executable" $? 126
    expect_match "its message" "$(cat "$PM_DIR/work/err")" 'permission denied'
    # Death by SIGKILL while podman run is attached.
    p run --name killed "$PM_IMAGE" sleep 100 &
    pm_wait_for pm_state_is killed running
    p kill killed >/dev/null
    wait $!
    rc=$?
    expect_rc "killed" $rc 137
    expect_eq "ExitCode" "$(pm_state killed '{{.State.ExitCode}}')" 137
    p rm -f killed >/dev/null
}

test_stdout_stderr() {
    p run --rm "$PM_IMAGE" sh -c 'echo out; echo err >&2; echo out2' \
        >"$PM_DIR/work/o" 2>"$PM_DIR/work/e"
    expect_rc "run" $? 0
    expect_eq "stdout" "$(cat "$PM_DIR/work/o")" $'out\nout2'
    expect_eq "stderr" "$(cat "$PM_DIR/work/e")" "err"
}

test_stdin() {
    head -c 204800 /dev/urandom >"$PM_DIR/work/in"
    p run --rm -i "$PM_IMAGE" cat <"$PM_DIR/work/in" >"$PM_DIR/work/out"
    expect_rc "run -i" $? 0
    expect_true "200 KB of stdin come back whole" cmp -s "$PM_DIR/work/in" "$PM_DIR/work/out"
    # The end of podman's stdin is the end of the container's.
    expect_eq "wc" "$(printf 'a\nb\nc\n' | p run --rm -i "$PM_IMAGE" wc -l | tr -d ' ')" 3
}

# `podman run -t` needs a terminal: script(1) gives it one, of a size set by stty.
in_terminal() {
    SHELL=/bin/bash script -qec "$1" /dev/null </dev/null | tr -d '\r'
}

test_terminal() {
    export -f p
    export PM_DIR PM_TIMEOUT PM_IMAGE
    expect_eq "size" "$(in_terminal "stty rows 30 cols 100; p run --rm -t $PM_IMAGE stty size")" \
        "30 100"
    expect_eq "tty" "$(in_terminal "p run --rm -t $PM_IMAGE sh -c 'test -t 0 && test -t 1 && echo tty; exit 4'; echo rc=\$?")" \
        $'tty\nrc=4'
    # -it: what is typed reaches the terminal (and is echoed by it).
    expect_eq "-it input" "$(printf 'typed\n' | SHELL=/bin/bash script -qec \
        "p run --rm -it $PM_IMAGE sh -c 'read x; echo got:\$x'" /dev/null | tr -d '\r' |
        grep '^got:')" "got:typed"
}

# podman run --timeout: the monitor kills the container then, and its exit code is -1.
test_timeout() {
    local start=$SECONDS
    p run --name to --timeout 1 "$PM_IMAGE" sleep 100
    expect_true "killed in time" test $((SECONDS - start)) -lt 10
    expect_eq "ExitCode" "$(pm_state to '{{.State.ExitCode}}')" -1
    p rm -f to >/dev/null
}

test_rm() {
    p run --rm --name gone "$PM_IMAGE" true
    expect_eq "after --rm" "$(p ps -a --filter name=gone --format '{{.Names}}')" ""
}

test_logs() {
    local out rc
    p run --name lg "$PM_IMAGE" sh -c 'echo one; echo two; echo three >&2; printf four' \
        >/dev/null 2>&1
    p logs lg >"$PM_DIR/work/o" 2>"$PM_DIR/work/e"
    expect_rc "logs" $? 0
    # byte for byte: the last line has no newline, as written
    expect_eq "stdout" "$(od -An -c "$PM_DIR/work/o" | tr -s ' ')" \
        "$(printf 'one\ntwo\nfour' | od -An -c | tr -s ' ')"
    expect_eq "stderr" "$(cat "$PM_DIR/work/e")" "three"
    p run --name lt "$PM_IMAGE" sh -c 'for i in 1 2 3 4 5; do echo line$i; done' >/dev/null
    expect_eq "--tail 2" "$(p logs --tail 2 lt)" $'line4\nline5'
    # -f follows, and ends with the container.
    p run -d --name lf "$PM_IMAGE" sh -c 'echo a; sleep 1; echo b; sleep 1; echo c' >/dev/null
    out=$(p logs -f lf)
    rc=$?
    expect_rc "logs -f" $rc 0
    expect_eq "logs -f" "$out" $'a\nb\nc'
    # The file: podman's k8s-file format, local time with a numeric offset.
    out=$(head -n 1 "$(pm_state lt '{{.HostConfig.LogConfig.Path}}')")
    expect_match "k8s-file record" "$out" \
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}[+-][0-9]{2}:[0-9]{2} stdout F line1$'
    p rm -f lg lt lf >/dev/null
}

# --log-opt max-size: podman's --log-size-max; past it the log starts afresh with the
# latest output.
test_log_size_max() {
    local path size
    p run --name lsm --log-opt max-size=1k "$PM_IMAGE" \
        sh -c 'i=0; while [ $i -lt 100 ]; do echo "line $i of the log"; i=$((i+1)); done' \
        >/dev/null
    path=$(pm_state lsm '{{.HostConfig.LogConfig.Path}}')
    size=$(stat -c %s "$path")
    expect_true "log of $size bytes is at most 1000 + one record" test "$size" -le 1100
    expect_match "the latest line kept" "$(p logs lsm | tail -n 1)" '^line 99 of the log$'
    p rm -f lsm >/dev/null
}

test_attach() {
    local out
    p run -d --name at "$PM_IMAGE" \
        sh -c 'sleep 1; echo attached-out; echo attached-err >&2; sleep 0.5; exit 9' >/dev/null
    p attach --no-stdin at >"$PM_DIR/work/o" 2>"$PM_DIR/work/e"
    expect_eq "attach stdout" "$(cat "$PM_DIR/work/o")" "attached-out"
    expect_eq "attach stderr" "$(cat "$PM_DIR/work/e")" "attached-err"
    out=$(p wait at)
    expect_eq "exit code after attach" "$out" 9
    p rm -f at >/dev/null
}

# The runtime fails (no such binary): podman reports it, and no monitor stays.
test_runtime_failure() {
    p run --name bad "$PM_IMAGE" /nonexistent 2>/dev/null
    expect_rc "run" $? 127
    expect_eq "state" "$(pm_state bad '{{.State.Status}}')" "created"
    expect_eq "monitors left" "$(pgrep -f -- "-c $(pm_state bad '{{.Id}}')" | wc -l)" 0
    p rm -f bad >/dev/null
}

pm_setup
pm_run_tests test_monitor_is_tether_conmon test_exit_codes test_stdout_stderr test_stdin \
    test_terminal test_timeout test_rm test_logs test_log_size_max test_attach test_runtime_failure
