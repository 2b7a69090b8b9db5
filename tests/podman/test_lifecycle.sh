#!/usr/bin/env bash
# A container's life through podman on tether-conmon: exec (exit code, -i, -t, a missing
# binary), stop (a trapped TERM, an ignored one), kill, wait, start, restart, a restart
# policy (podman's cleanup process starts the next monitor), rm -f, ps -a and inspect
# (ExitCode, OOMKilled).
# shellcheck disable=SC2016 # single-quoted commands are expanded by the container's shell
set -uo pipefail
. "$(dirname "$0")/lib.sh"

pm_state_is() { [ "$(pm_state "$1" '{{.State.Status}}')" = "$2" ]; }

in_terminal() {
    SHELL=/bin/bash script -qec "$1" /dev/null </dev/null | tr -d '\r'
}

test_exec() {
    local out
    p run -d --name ex "$PM_IMAGE" sleep 1000 >/dev/null
    p exec ex sh -c 'echo from-exec; echo exec-err >&2; exit 5' >"$PM_DIR/work/o" 2>"$PM_DIR/work/e"
    expect_rc "exec exit code" $? 5
    expect_eq "exec stdout" "$(cat "$PM_DIR/work/o")" "from-exec"
    expect_eq "exec stderr" "$(cat "$PM_DIR/work/e")" "exec-err"
    out=$(printf 'hello\nworld\n' | p exec -i ex sh -c 'cat; echo end')
    expect_rc "exec -i" $? 0
    expect_eq "exec -i" "$out" $'hello\nworld\nend'
    p exec ex nosuchbinary 2>/dev/null
    expect_rc "exec of a missing binary" $? 127
    export -f p
    export PM_DIR PM_TIMEOUT PM_IMAGE
    out=$(in_terminal "stty rows 31 cols 91; p exec -t ex stty size; echo rc=\$?")
    expect_eq "exec -t size" "$out" $'31 91\nrc=0'
    out=$(in_terminal "p exec -t ex sh -c 'test -t 1 && echo tty; exit 6'; echo rc=\$?")
    expect_eq "exec -t" "$out" $'tty\nrc=6'
    # The container is not disturbed by its exec sessions.
    expect_eq "still running" "$(pm_state ex '{{.State.Status}}')" running
    p rm -f -t 0 ex >/dev/null
}

test_stop() {
    local start elapsed
    # A trapped TERM: the container's own exit code, at once.
    p run -d --name trap "$PM_IMAGE" \
        sh -c 'trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done' >/dev/null
    PM_WAIT=10 pm_wait_for pm_logs_say trap ready
    start=$SECONDS
    p stop -t 10 trap >/dev/null
    expect_rc "stop" $? 0
    expect_true "a trapped TERM stops at once" test $((SECONDS - start)) -lt 5
    expect_eq "trapped: ExitCode" "$(pm_state trap '{{.State.ExitCode}}')" 7
    expect_eq "trapped: state" "$(pm_state trap '{{.State.Status}}')" exited
    # An ignored TERM (sleep as PID 1): SIGKILL at the timeout, 137.
    p run -d --name ign "$PM_IMAGE" sleep 1000 >/dev/null
    start=$(date +%s%N)
    p stop -t 1 ign >/dev/null 2>&1
    elapsed=$((($(date +%s%N) - start) / 1000000))
    expect_true "the timeout was waited for ($elapsed ms)" test "$elapsed" -ge 1000
    expect_true "and not much more ($elapsed ms)" test "$elapsed" -lt 6000
    expect_eq "ignored: ExitCode" "$(pm_state ign '{{.State.ExitCode}}')" 137
    p rm -f trap ign >/dev/null
}

pm_logs_say() { p logs "$1" 2>/dev/null | grep -q "$2"; }

test_kill_and_wait() {
    local out start
    p run -d --name k "$PM_IMAGE" sleep 1000 >/dev/null
    p kill k >/dev/null
    expect_rc "kill" $? 0
    out=$(p wait k)
    expect_eq "wait after kill" "$out" 137
    # wait returns as the container ends (the monitor's exit command sets the state), not
    # after podman's 20 s fallback.
    p run -d --name w "$PM_IMAGE" sh -c 'sleep 1; exit 4' >/dev/null
    start=$SECONDS
    out=$(p wait w)
    expect_eq "wait" "$out" 4
    expect_true "wait returned in time" test $((SECONDS - start)) -lt 10
    p rm -f k w >/dev/null
}

test_start_restart() {
    local pid1 pid2
    p run --name st "$PM_IMAGE" sh -c 'echo run' >/dev/null
    p start -a st >/dev/null
    expect_rc "start" $? 0
    expect_eq "the log is appended across starts" "$(p logs st)" $'run\nrun'
    p run -d --name rs "$PM_IMAGE" sleep 1000 >/dev/null
    pid1=$(pm_state rs '{{.State.ConmonPid}}')
    p restart -t 0 rs >/dev/null
    expect_rc "restart" $? 0
    pid2=$(pm_state rs '{{.State.ConmonPid}}')
    expect_eq "running after restart" "$(pm_state rs '{{.State.Status}}')" running
    expect_true "a new monitor" test "$pid1" != "$pid2"
    expect_match "restarted monitor" "$(pm_conmon_exe rs)" '/tether-conmon$'
    p rm -f -t 0 st rs >/dev/null
}

pm_restarts_done() {
    [ "$(pm_state rp '{{.State.Status}} {{.RestartCount}}')" = "exited 2" ]
}

# on-failure:2: podman's cleanup process, run by the monitor at each end, starts the next
# monitor; after two restarts the container stays exited.
test_restart_policy() {
    p run -d --name rp --restart on-failure:2 "$PM_IMAGE" sh -c 'echo run; sleep 0.3; exit 1' \
        >/dev/null
    PM_WAIT=30 pm_wait_for pm_restarts_done
    expect_rc "two restarts, then exited" $? 0
    expect_eq "ExitCode" "$(pm_state rp '{{.State.ExitCode}}')" 1
    expect_eq "three runs logged" "$(p logs rp)" $'run\nrun\nrun'
    p rm -f rp >/dev/null
}

test_rm_f_and_ps() {
    local out
    p run -d --name up "$PM_IMAGE" sleep 1000 >/dev/null
    p run --name ex3 "$PM_IMAGE" sh -c 'exit 3' >/dev/null
    p create --name cr "$PM_IMAGE" true >/dev/null
    out=$(p ps -a --format '{{.Names}} {{.Status}}' | sort)
    expect_match "ps -a: created" "$out" 'cr Created'
    expect_match "ps -a: exited" "$out" 'ex3 Exited \(3\)'
    expect_match "ps -a: up" "$out" 'up Up '
    p rm -f -t 0 up >/dev/null
    expect_rc "rm -f" $? 0
    expect_eq "gone" "$(p ps -a --filter name=up --format '{{.Names}}')" ""
    expect_eq "its monitor is gone" "$(pgrep -f -- "-n up " | wc -l)" 0
    p rm -f ex3 cr >/dev/null
}

# A 16 MB limit and a process that wants more: the kernel kills it; podman reports
# OOMKilled from <bundle>/oom, which tether-conmon writes where podman 4.3 looks.
test_oom() {
    p run --name oom --memory 16m "$PM_IMAGE" sh -c 'tail /dev/zero' >/dev/null 2>&1
    expect_rc "run" $? 137
    expect_eq "inspect" "$(pm_state oom '{{.State.ExitCode}} {{.State.OOMKilled}}')" "137 true"
    p run --name fine "$PM_IMAGE" true
    expect_eq "not OOM" "$(pm_state fine '{{.State.ExitCode}} {{.State.OOMKilled}}')" "0 false"
    p rm -f oom fine >/dev/null
}

pm_setup
pm_run_tests test_exec test_stop test_kill_and_wait test_start_restart test_restart_policy \
    test_rm_f_and_ps test_oom
