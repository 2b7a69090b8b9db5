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
# What stays private (nothing under /var/lib/containers, /run/containers, /etc):
#  - storage, run state and temporary files: podman's --root, --runroot and --tmpdir;
#  - the runtime's state: runc through a wrapper named runc that adds --root (podman does
#    not pass --runtime-flag to the cleanup process it runs from the monitor);
#  - containers.conf through CONTAINERS_CONF (the system files are then not read at all):
#    conmon_path, cgroupfs, file events, file locks (not /dev/shm/libpod_lock), private CNI
#    and volume directories, ulimits the machine's hard limits allow;
#  - the image: a busybox tar imported as localhost/busybox:latest (a full name: a short one
#    makes podman lock /var/cache/containers), in a mount namespace whose /var/lib is
#    private (any image copy writes /var/lib/containers/cache/blob-info-cache-v1.boltdb);
#  - the working directory (podman's, hence the monitor's and the cleanup's).
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

# podman with the private store; runs from $PM_DIR/cwd (the monitor inherits podman's cwd)
# under a timeout (--foreground: `run -t` must stay in its terminal's foreground group).
p() {
    (
        cd "$PM_DIR/cwd" || exit 1
        CONTAINERS_CONF=$PM_DIR/containers.conf \
        CONTAINERS_REGISTRIES_CONF=$PM_DIR/registries.conf \
        TMPDIR=$PM_DIR/vartmp \
            exec timeout --foreground -k 5 "$PM_TIMEOUT" podman \
            --root "$PM_DIR/root" --runroot "$PM_DIR/runroot" --tmpdir "$PM_DIR/tmp" \
            --runtime "$PM_DIR/bin/runc" --cgroup-manager cgroupfs --events-backend file \
            --storage-driver overlay "$@"
    )
}

pm_write_conf() {
    cat >"$PM_DIR/containers.conf" <<EOF
[containers]
# the machine's hard limits may be lower than podman's default nofile
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
log_driver = "k8s-file"
[engine]
conmon_path = ["$PM_DIR/bin/tether-conmon"]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PM_DIR/tmp/events/events.log"
tmp_dir = "$PM_DIR/tmp"
static_dir = "$PM_DIR/root/libpod"
volume_path = "$PM_DIR/root/volumes"
image_copy_tmp_dir = "$PM_DIR/vartmp"
lock_type = "file"
runtime = "$PM_DIR/bin/runc"
[network]
network_backend = "cni"
network_config_dir = "$PM_DIR/cni"
EOF
    printf 'unqualified-search-registries = []\nshort-name-mode = "permissive"\n' \
        >"$PM_DIR/registries.conf"
}

pm_write_wrappers() {
    # Named runc: podman adds the --log-format=json runtime arguments only for runtimes it
    # knows by name.
    printf '#!/bin/sh\nexec /usr/sbin/runc --root %s/runc "$@"\n' "$PM_DIR" >"$PM_DIR/bin/runc"
    cat >"$PM_DIR/bin/tether-conmon" <<EOF
#!/bin/sh
export ASAN_OPTIONS=log_path=$PM_DIR/san/asan:detect_leaks=1
export UBSAN_OPTIONS=log_path=$PM_DIR/san/ubsan:print_stacktrace=1:halt_on_error=1
export TETHER_CONMON_LOG=$PM_DIR/monitor.log
exec "${PM_CONMON:-$TETHER_BIN_DIR/tether-conmon}" "\$@"
EOF
    chmod 755 "$PM_DIR/bin/runc" "$PM_DIR/bin/tether-conmon"
}

# busybox's static binary and one link per applet, imported as an image with a private
# /var/lib (see the top).
pm_import_image() {
    local rootfs=$PM_DIR/build/rootfs
    mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc,root,run} "$PM_DIR/build/varlib"
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    (cd "$rootfs/bin" && for a in $(./busybox --list); do
        [ "$a" = busybox ] || ln -sf busybox "$a"
    done)
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf "$PM_DIR/build/busybox.tar" .
    # shellcheck disable=SC2016 # expanded by the inner shell
    PM_FN=$(declare -f p) unshare -m --propagation private bash -c '
        eval "$PM_FN"
        mount --bind "$PM_DIR/build/varlib" /var/lib &&
        p import -q --change "CMD [\"/bin/sh\"]" --change "ENV PATH=/bin" \
            "$PM_DIR/build/busybox.tar" '"$PM_IMAGE"' >/dev/null' || return 1
    rm -rf "$PM_DIR/build"
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
    mkdir -p "$PM_DIR"/{root,runroot,tmp,runc,cni,vartmp,bin,cwd,san,work}
    pm_write_conf
    pm_write_wrappers
    pm_import_image || pm_fail_setup "podman import failed"
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
