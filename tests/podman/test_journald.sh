#!/usr/bin/env bash
# podman's journald log driver on tether-conmon, against a real systemd-journald: the
# monitor sends each line with the fields podman filters on (CONTAINER_ID_FULL) and reads
# back (MESSAGE, PRIORITY, CONTAINER_PARTIAL_MESSAGE), plus CONTAINER_ID, CONTAINER_NAME,
# SYSLOG_IDENTIFIER and CONTAINER_TAG; `podman logs` prints them as written. Also the none
# and passthrough drivers.
#
# The journald is private: this script runs in a mount namespace of its own whose /run is a
# fresh tmpfs, so the journald started here (volatile storage, its configuration in
# /run/systemd/journald.conf.d) owns /run/systemd/journal and /run/log/journal for this
# namespace only, beside any journald of the machine. podman, the monitors and the
# containers run in the same namespace, and all of them are gone before it ends.
set -uo pipefail
if [ "${PM_PRIVATE_NS:-}" != 1 ]; then
    [ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
    exec env PM_PRIVATE_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

JOURNALD=/lib/systemd/systemd-journald
JOURNAL_DIR=/run/log/journal

start_journald() {
    [ -x "$JOURNALD" ] || pm_skip "systemd-journald is not installed (the systemd package)"
    command -v journalctl >/dev/null || pm_skip "journalctl is not installed"
    mount -t tmpfs -o mode=0755 tmpfs /run || pm_fail_setup "cannot mount a private /run"
    mkdir -p /run/systemd/journald.conf.d "$JOURNAL_DIR"
    printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\nForwardToSyslog=no\n%s\n' \
        'ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
ReadKMsg=no
Audit=no
RateLimitBurst=0' >/run/systemd/journald.conf.d/private.conf
    "$JOURNALD" </dev/null >"$PM_DIR/work/journald.out" 2>&1 &
    JOURNALD_PID=$!
    export PM_TEARDOWN_HOOK=stop_journald
    PM_WAIT=10 pm_wait_for test -S /run/systemd/journal/socket ||
        pm_fail_setup "journald did not start: $(cat "$PM_DIR/work/journald.out")"
}

stop_journald() {
    kill "$JOURNALD_PID" 2>/dev/null
    wait "$JOURNALD_PID" 2>/dev/null
}

# The entries of container $1 as JSON lines.
entries() {
    journalctl -D "$JOURNAL_DIR" -o json --no-pager "CONTAINER_ID_FULL=$1" 2>/dev/null
}

field() { jq -r "$1" 2>/dev/null; }

has_entries() { [ "$(entries "$1" | wc -l)" -ge "$2" ]; }

test_journald_fields() {
    local id out
    p run --name jd --log-driver journald --log-opt tag=mytag "$PM_IMAGE" \
        sh -c 'echo jd-out; echo jd-err >&2; printf jd-partial' >"$PM_DIR/work/o" 2>/dev/null
    expect_rc "run" $? 0
    expect_eq "attached output as usual" "$(cat "$PM_DIR/work/o")" $'jd-out\njd-partial'
    id=$(pm_state jd '{{.Id}}')
    PM_WAIT=10 pm_wait_for has_entries "$id" 3
    entries "$id" >"$PM_DIR/work/entries"
    expect_eq "entries" "$(wc -l <"$PM_DIR/work/entries")" 3
    out=$(grep '"jd-out' "$PM_DIR/work/entries")
    expect_eq "MESSAGE" "$(field .MESSAGE <<<"$out")" "jd-out"
    expect_eq "PRIORITY (stdout)" "$(field .PRIORITY <<<"$out")" 6
    expect_eq "CONTAINER_ID" "$(field .CONTAINER_ID <<<"$out")" "${id:0:12}"
    expect_eq "CONTAINER_NAME" "$(field .CONTAINER_NAME <<<"$out")" jd
    expect_eq "CONTAINER_TAG" "$(field .CONTAINER_TAG <<<"$out")" mytag
    expect_eq "SYSLOG_IDENTIFIER" "$(field .SYSLOG_IDENTIFIER <<<"$out")" mytag
    expect_eq "sent by the monitor" "$(field ._COMM <<<"$out")" tether-conmon
    expect_eq "not partial" "$(field .CONTAINER_PARTIAL_MESSAGE <<<"$out")" null
    out=$(grep '"jd-err' "$PM_DIR/work/entries")
    expect_eq "PRIORITY (stderr)" "$(field .PRIORITY <<<"$out")" 3
    out=$(grep '"jd-partial' "$PM_DIR/work/entries")
    expect_eq "partial" "$(field .CONTAINER_PARTIAL_MESSAGE <<<"$out")" true
    # podman reads them back: stdout and stderr apart, the partial line as written.
    p logs jd >"$PM_DIR/work/o" 2>"$PM_DIR/work/e"
    expect_rc "logs" $? 0
    expect_eq "logs stdout" "$(od -An -c "$PM_DIR/work/o" | tr -s ' ')" \
        "$(printf 'jd-out\njd-partial' | od -An -c | tr -s ' ')"
    expect_eq "logs stderr" "$(cat "$PM_DIR/work/e")" jd-err
    p rm -f jd >/dev/null
}

# -l k8s-file and journald at once are not what podman passes; -l none is.
test_none() {
    local out
    out=$(p run --name nl --log-driver none "$PM_IMAGE" echo still-attached)
    expect_eq "attached output" "$out" still-attached
    p logs nl >/dev/null 2>"$PM_DIR/work/e"
    expect_rc "logs of -l none" $? 125
    expect_match "its reason" "$(cat "$PM_DIR/work/e")" "'none' log driver"
    p rm -f nl >/dev/null
}

# passthrough: the container writes straight to podman's own stdout and stderr.
pm_state_is() { [ "$(pm_state "$1" '{{.State.Status}}')" = "$2" ]; }

test_passthrough() {
    local rc
    p run --name pt --log-driver passthrough "$PM_IMAGE" \
        sh -c 'sleep 1; echo pass-out; echo pass-err >&2' \
        >"$PM_DIR/work/o" 2>"$PM_DIR/work/e" </dev/null &
    pm_wait_for pm_state_is pt running
    expect_true "no attach socket while it runs" test ! -e "$(pm_state pt '{{.StaticDir}}')/attach"
    wait $!
    rc=$?
    expect_rc "run" $rc 0
    expect_eq "stdout" "$(cat "$PM_DIR/work/o")" pass-out
    expect_eq "stderr" "$(cat "$PM_DIR/work/e")" pass-err
    p rm -f pt >/dev/null
}

pm_check_prerequisites
command -v jq >/dev/null || pm_skip "jq is not installed (hack/deps.sh test)"
pm_setup
start_journald
pm_run_tests test_journald_fields test_none test_passthrough
