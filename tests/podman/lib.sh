# shellcheck shell=bash
# The harness of the podman tests: the real podman 4.3 running its containers on
# tether-conmon, with everything it keeps in a private directory, and checks that count
# failures. Sourced by tests/podman/test_*.sh.
#
#   pm_setup              # the private store, a busybox image, containers.conf -> tether-conmon
#   p ARGS...             # podman with the private store (cwd $PM_DIR/cwd, a timeout)
#   expect_eq DESC GOT WANT / expect_match DESC GOT REGEX / expect_rc DESC RC WANT
#   pm_run_tests NAME...  # runs the test functions, tears down, prints a summary, exits
#
# What stays private, and how: see store.sh (shared with hack/bench/run.sh).
# PM_CONMON=/usr/bin/conmon runs the same tests on another monitor, for comparison (the
# checks that the monitor is tether-conmon then fail, as they should).
# tether-conmon runs through a wrapper that sets ASAN_OPTIONS and UBSAN_OPTIONS (podman
# gives the monitor a fresh environment) so that sanitizer reports, which the monitor's
# /dev/null stderr would swallow, land in $PM_DIR/san: that directory must stay empty.

PM_IMAGE=localhost/busybox:latest
PM_TIMEOUT=${PM_TIMEOUT:-120}
export PM_TIMEOUT
PM_FAILURES=0
PM_CHECKS=0
# Host-wide paths podman uses when something escapes the private set-up.
PM_GLOBAL_PATHS=(/var/lib/containers /var/cache/containers /run/containers /run/libpod
                 /dev/shm/libpod_lock /etc/cni/net.d/cni.lock /root/.config/containers)

pm_log() { printf '%s\n' "$*" >&2; }

# Exits 77 (a skip for ctest) with the reason, when podman cannot run here at all.
pm_skip() {
    echo "SKIP: $*"
    exit 77
}

pm_check_prerequisites() {
    [ "$(id -u)" = 0 ] || pm_skip "needs root"
    command -v podman >/dev/null || pm_skip "podman is not installed (hack/deps.sh test)"
    [ -x /usr/sbin/runc ] || pm_skip "runc is not installed"
    if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
        pm_skip "busybox-static is not installed"
    fi
    if ! command -v unshare >/dev/null || ! command -v script >/dev/null; then
        pm_skip "util-linux's unshare and script are needed"
    fi
    if [ -z "${PM_CONMON:-}" ] &&
        { [ -z "${TETHER_BIN_DIR:-}" ] || [ ! -x "$TETHER_BIN_DIR/tether-conmon" ]; }; then
        pm_skip "TETHER_BIN_DIR must hold the built tether-conmon"
    fi
}

# shellcheck source=store.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/store.sh"
# p is exported to the shells of `script` by some tests: what it calls goes with it.
export -f pm_store_flags pm_store_env

# podman with the private store; runs from $PM_DIR/cwd (the monitor inherits podman's cwd)
# under a timeout (--foreground: `run -t` must stay in its terminal's foreground group).
p() {
    (
        cd "$PM_DIR/cwd" || exit 1
        pm_store_flags "$PM_DIR"
        pm_store_env "$PM_DIR" "$PM_DIR/containers.conf"
        exec env "${PM_ENV[@]}" timeout --foreground -k 5 "$PM_TIMEOUT" podman "${PM_FLAGS[@]}" "$@"
    )
}

pm_write_wrappers() {
    cat >"$PM_DIR/bin/tether-conmon" <<EOF
#!/bin/sh
export ASAN_OPTIONS=log_path=$PM_DIR/san/asan:detect_leaks=1
export UBSAN_OPTIONS=log_path=$PM_DIR/san/ubsan:print_stacktrace=1:halt_on_error=1
export TETHER_CONMON_LOG=$PM_DIR/monitor.log
exec "${PM_CONMON:-$TETHER_BIN_DIR/tether-conmon}" "\$@"
EOF
    chmod 755 "$PM_DIR/bin/tether-conmon"
}

pm_setup() {
    local path
    pm_check_prerequisites
    PM_GLOBAL_BEFORE=()
    for path in "${PM_GLOBAL_PATHS[@]}"; do
        [ -e "$path" ] && PM_GLOBAL_BEFORE+=("$path")
    done
    PM_DIR=$(mktemp -d /tmp/tpm.XXXXXX) # short: attach socket paths are bound by length
    export PM_DIR
    trap pm_teardown EXIT
    pm_store_init "$PM_DIR"
    mkdir -p "$PM_DIR"/{san,work}
    pm_store_conf "$PM_DIR" "$PM_DIR/containers.conf" "$PM_DIR/bin/tether-conmon"
    pm_write_wrappers
    pm_store_import "$PM_DIR" "$PM_DIR/containers.conf" "$PM_IMAGE" ||
        pm_fail_setup "podman import failed"
    # podman must take the monitor: it falls back to another conmon in silence when it
    # does not like its --version.
    local conmon
    conmon=$(p info --format '{{.Host.Conmon.Path}}') || pm_fail_setup "podman info failed"
    [ "$conmon" = "$PM_DIR/bin/tether-conmon" ] ||
        pm_fail_setup "podman chose $conmon instead of tether-conmon"
}

pm_fail_setup() {
    pm_log "FAIL: set-up: $*"
    exit 1
}

# ---- checks ----

pm_fail() {
    PM_FAILURES=$((PM_FAILURES + 1))
    pm_log "FAIL: ${PM_TEST:-}: $*"
}

expect_eq() {
    PM_CHECKS=$((PM_CHECKS + 1))
    [ "$2" = "$3" ] || pm_fail "$1: got '$2', want '$3'"
}

expect_match() {
    PM_CHECKS=$((PM_CHECKS + 1))
    [[ $2 =~ $3 ]] || pm_fail "$1: '$2' does not match /$3/"
}

expect_rc() {
    PM_CHECKS=$((PM_CHECKS + 1))
    [ "$2" = "$3" ] || pm_fail "$1: exit status $2, want $3"
}

expect_true() {
    local desc=$1
    shift
    PM_CHECKS=$((PM_CHECKS + 1))
    "$@" || pm_fail "$desc"
}

# The binary behind the monitor of container $1: must be tether-conmon itself.
pm_conmon_exe() {
    local pid
    pid=$(p container inspect --format '{{.State.ConmonPid}}' "$1") || return 1
    [ "$pid" -gt 0 ] 2>/dev/null && readlink "/proc/$pid/exe"
}

# Polls "$@" every 0.1 s for up to $PM_WAIT seconds.
pm_wait_for() {
    local i
    for ((i = 0; i < ${PM_WAIT:-20} * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

pm_state() { p container inspect --format "$2" "$1" 2>/dev/null; }

# ---- the end ----

# Processes whose command line names $PM_DIR (monitors, cleanups, podman, wrappers), not
# this shell or its ancestors.
pm_pids() {
    local skip=" " pid=$BASHPID
    while [ "${pid:-0}" -gt 1 ]; do
        skip="$skip$pid "
        pid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    done
    for pid in $(pgrep -f -- "$PM_DIR"); do
        case $skip in *" $pid "*) ;; *) echo "$pid" ;; esac
    done
}

pm_leftovers() {
    local bad=0 pid
    if grep -F " $PM_DIR" /proc/self/mountinfo; then bad=1; fi
    for pid in $(pm_pids); do
        pm_log "left running: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
        bad=1
    done
    return $bad
}

pm_teardown() {
    local status=$? pid c path m
    trap - EXIT
    [ -n "${PM_DIR:-}" ] && [ -d "$PM_DIR" ] || exit "$status"
    PM_TIMEOUT=60
    p rm -a -f -t 0 >/dev/null 2>&1
    [ -n "${PM_TEARDOWN_HOOK:-}" ] && "$PM_TEARDOWN_HOOK"
    p rmi -a -f >/dev/null 2>&1 # also unmounts c/storage's bind mount of the store
    # What outlived podman (a killed podman, a container left "created").
    for pid in $(pm_pids); do kill -9 "$pid" 2>/dev/null; done
    for c in "$PM_DIR"/runc/*/; do
        [ -d "$c" ] && /usr/sbin/runc --root "$PM_DIR/runc" delete -f "$(basename "$c")" 2>/dev/null
    done
    grep -F " $PM_DIR" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    sleep 0.2
    if ! pm_leftovers; then
        pm_log "FAIL: teardown: processes or mounts were left behind"
        status=1
    fi
    for path in "${PM_GLOBAL_PATHS[@]}"; do
        if [ -e "$path" ] && [[ " ${PM_GLOBAL_BEFORE[*]} " != *" $path "* ]]; then
            pm_log "FAIL: teardown: $path was created"
            status=1
        fi
    done
    if [ -n "$(ls -A "$PM_DIR/san")" ]; then
        pm_log "FAIL: sanitizer reports from tether-conmon:"
        cat "$PM_DIR"/san/* >&2
        status=1
    fi
    if [ "$status" -ne 0 ] && [ -s "$PM_DIR/monitor.log" ]; then
        pm_log "--- the monitors' log:"
        tail -n 50 "$PM_DIR/monitor.log" >&2
    fi
    rm -rf "$PM_DIR"
    exit "$status"
}

# Runs the test functions given, one after the other in this shell (they share the store),
# then reports and exits through the teardown.
pm_run_tests() {
    local t start before
    for t in "$@"; do
        PM_TEST=$t
        before=$PM_FAILURES
        start=$SECONDS
        "$t"
        if [ "$PM_FAILURES" -eq "$before" ]; then
            echo "ok   $t ($((SECONDS - start)) s)"
        else
            echo "FAIL $t ($((SECONDS - start)) s)"
        fi
    done
    echo "$PM_CHECKS checks, $PM_FAILURES failed"
    [ "$PM_FAILURES" -eq 0 ]
}
