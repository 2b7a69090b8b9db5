#!/usr/bin/env bash
# Benchmarks tether's three front ends against their peers on the same machine, the same
# busybox bundle or image and the same runc, in one run, the subjects interleaved
# (A B C A B C ...) so that drift hits all of them equally: tether-shim (JSON-RPC) against
# conmon and containerd-shim-runc-v2 (and the bare OCI runtime as the floor),
# containerd-shim-tether-v2 against containerd-shim-runc-v2 through a private containerd,
# and tether-conmon against conmon through a private podman; tether-shim also against its
# own build of a baseline revision.
#
#   hack/bench/run.sh [--quick] [--doc PATH | --no-doc] [--baseline REV | --no-baseline]
#                     [--only PHASE[,PHASE...]]
#
# Measures: memory per idle shim (N=1 and N=20; containerd and podman N=10, and a pod of 3
# containers), idle wakeups, the lifecycle latency of a `true` container and its phases,
# exit notification latency, log throughput (1 GiB of 100-byte lines), density (200
# tether shims) and `state` request throughput. Prints a table and, unless --quick or
# --no-doc, writes docs/benchmarks.md and its charts (docs/bench/) from the same run.
#
# --baseline REV: also build REV (a git worktree, Release, the same flags) and measure its
# tether-shim ("tether-shim @REV") in the memory, idle, lifecycle, exit and log phases. The
# default is 12299ae, the last commit before the core became a library of its own, when the
# repository has it; --quick measures no baseline unless asked. The baseline's build is kept
# in BUILD/baseline-<commit> for the next run.
#
# --only: run these phases alone (memory, containerd, podman, lifecycle, trace, exit, log,
# density, rpc), with the counts of a full run (or of --quick) and no page written: to look at one
# figure again after a change, in minutes.
#
# --quick: small counts and sizes, a minute or two, no page written: proves the harness works
# (CI). Needs root (containers); installs its Debian packages when one is missing; builds
# tether in Release under build-bench (TETHER_BENCH_BUILD overrides). Everything it starts
# lives under a private workspace (TMPDIR, default /tmp) with private runc roots, a private
# containerd and a private podman store, and is removed on exit, failure or interrupt. The
# raw samples of the last run stay in BUILD/bench/last-run/ (hack/bench/report.sh renders
# them again).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
HB=$REPO/hack/bench

QUICK=0
DOC=
ONLY=
BASELINE=default
usage() {
    awk 'NR == 1 { next } !/^#/ || /shellcheck/ { exit } { sub(/^# ?/, ""); print }' "$0"
}
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --doc)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        DOC=$2
        shift
        ;;
    --no-doc) DOC=none ;;
    --baseline)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        BASELINE=$2
        shift
        ;;
    --no-baseline) BASELINE=none ;;
    --only)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        ONLY=,$2,
        DOC=none
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
    shift
done
if [ -z "$DOC" ]; then
    if [ "$QUICK" = 1 ]; then DOC=none; else DOC=$REPO/docs/benchmarks.md; fi
fi

if [ "$QUICK" = 1 ]; then
    WARMUP=1 LIFE_REPS=3 EXIT_REPS=3 LOG_BLOCKS=1024 LOG_REPS=1 MEM_N=3 MEM_IDLE=3
    DENSITY_N=10 DENSITY_IDLE=5 RPC_SECS=1 RPC_REPS=1
    CTD_N=2 PM_N=2 PM_LIFE_REPS=2 PM_LOG_REPS=1 TRACE_REPS=2
else
    WARMUP=3 LIFE_REPS=150 EXIT_REPS=50 LOG_BLOCKS=16384 LOG_REPS=5 MEM_N=20 MEM_IDLE=30
    DENSITY_N=200 DENSITY_IDLE=60 RPC_SECS=5 RPC_REPS=3
    CTD_N=10 PM_N=10 PM_LIFE_REPS=40 PM_LOG_REPS=3 TRACE_REPS=30
fi
if [ "$BASELINE" = default ]; then
    # The last commit before the core split (shim/core/ became a library with front ends).
    if [ "$QUICK" = 0 ] && git -C "$REPO" cat-file -e "12299ae^{commit}" 2>/dev/null; then
        BASELINE=12299ae
    else
        BASELINE=none
    fi
fi
RPC_CLIENTS=8
# The log generator writes LOG_BLOCKS blocks of 64 KiB: 1 GiB in a full run.
LOG_BYTES=$((LOG_BLOCKS * 65536))
LOG_SMALL_BLOCKS=256
# containerd's namespace, of this run alone: containerd-shim-tether-v2 keeps runc's state in
# /run/containerd/runc/<namespace>, which two runs at once must not share.
NS=tbench-$$
IMAGE=docker.io/tether-bench/busybox:latest
PM_IMAGE=localhost/busybox:latest

# shellcheck source=lib.sh
source "$HB/lib.sh"
# shellcheck source=../../tests/podman/store.sh
source "$REPO/tests/podman/store.sh"

[ "$(id -u)" -eq 0 ] || die "needs root (it runs containers)"
# Everything this script starts (runtimes, the three shims, containerd, the timing programs)
# inherits a raised CPU priority: the same for every subject, and other work on a shared
# machine disturbs the figures less.
renice -n -10 -p $$ >/dev/null 2>&1 || say "cannot raise the priority: running at the default one"

# --- packages ---------------------------------------------------------------------------------
"$REPO/hack/deps.sh" bench >&2 || die "cannot install the benchmark's packages (hack/deps.sh bench)"
RUNC=$(command -v runc)

# --- build ---------------------------------------------------------------------------------
BUILD=${TETHER_BENCH_BUILD:-$REPO/build-bench}
say "building tether (Release) in $BUILD"
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTETHER_TESTS=OFF \
    -DTETHER_SANITIZE=OFF >"$BUILD.cmake.log" 2>&1 || {
    cat "$BUILD.cmake.log" >&2
    die "cmake configure failed"
}
cmake --build "$BUILD" -j"$(nproc)" >"$BUILD.cmake.log" 2>&1 || {
    tail -40 "$BUILD.cmake.log" >&2
    die "build failed"
}
rm -f "$BUILD.cmake.log"
BIN=$BUILD/bin
BB=$BUILD/bench
for prog in tether-shim tetherctl tether-conmon containerd-shim-tether-v2; do
    [ -x "$BIN/$prog" ] || die "no $prog in $BIN"
done
mkdir -p "$BB"
for prog in benchlife exitlat logbench rpcload; do
    cc -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -o "$BB/$prog" \
        "$HB/$prog.c" "$HB/benchlib.c" -ljansson || die "cannot build $prog"
done
# The shim that does nothing: the C library alone, as the least a program of its own links.
cc -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$BB/nullshim" "$HB/nullshim.c" ||
    die "cannot build nullshim"

# --- the baseline -------------------------------------------------------------------------
# build_baseline REV: builds REV's tether (Release, the flags above) from a temporary git
# worktree into BUILD/baseline-<commit>, once; sets BASE_BIN, BASE_SHORT and L_BASE.
BASE_BIN=
BASE_SRC=
L_BASE=
build_baseline() {
    local rev dir
    rev=$(git -C "$REPO" rev-parse --verify --quiet "$1^{commit}") ||
        die "--baseline $1: no such commit in $REPO"
    BASE_SHORT=$(git -C "$REPO" rev-parse --short=7 "$rev")
    dir=$BUILD/baseline-$rev
    if [ ! -x "$dir/bin/tether-shim" ] || [ ! -x "$dir/bin/tetherctl" ]; then
        say "building the baseline $BASE_SHORT (Release) in $dir"
        BASE_SRC=$(mktemp -d "${TMPDIR:-/tmp}/tether-baseline.XXXXXX")
        rmdir "$BASE_SRC"
        git -C "$REPO" worktree add --detach --quiet "$BASE_SRC" "$rev" ||
            die "cannot check out $BASE_SHORT in a worktree"
        if ! { cmake -S "$BASE_SRC" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DTETHER_TESTS=OFF \
            -DTETHER_SANITIZE=OFF && cmake --build "$dir" -j"$(nproc)"; } >"$dir.log" 2>&1; then
            tail -40 "$dir.log" >&2
            die "the baseline $BASE_SHORT does not build"
        fi
        rm -f "$dir.log"
        git -C "$REPO" worktree remove --force "$BASE_SRC"
        BASE_SRC=
    fi
    BASE_BIN=$dir/bin
    L_BASE="tether-shim @$BASE_SHORT"
}

# --- workspace and cleanup -----------------------------------------------------------------
WS=$(mktemp -d "${TMPDIR:-/tmp}/tether-bench.XXXXXX")
case $WS in *[[:space:]]*) die "workspace path has blanks: $WS" ;; esac
# Runtime state (runc roots, shim state directories, pid and exit files, sockets) lives on a
# private tmpfs, as it does under /run on a production host; bundles, the containerd content
# store and the logs of the throughput test stay on the workspace's own filesystem.
RUN=$WS/run
RUNC_ROOT=$RUN/runc
CTD_RUNC_ROOT=$RUN/ctd-runc
TSTATE=$RUN/tstate
TSTATE_BASE=$RUN/tstate-base
CTD_SOCK=$RUN/ctd.sock
# containerd-shim-tether-v2 keeps runc's state here (runc's own options are not read).
CTDT_RUNC_ROOT=/run/containerd/runc/$NS
# The private podman store: a short path (its monitors' attach sockets are bound by length)
# on a tmpfs of its own.
PMD=
CTR=(ctr --address "$CTD_SOCK" -n "$NS")
CTD_PID=
: >"$WS/results.tsv"
: >"$WS/meta.tsv"
: >"$WS/conmon.pids"

# kill_if PID NAME: SIGKILL PID when it still runs the program NAME (never a reused pid).
kill_if() {
    [ -n "$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] && kill -9 "$1" 2>/dev/null
    return 0
}

cleanup() {
    local rc=$? d id p c
    # A second ctrl-c must not cut the cleanup short.
    trap '' INT TERM
    trap - EXIT
    set +e
    say "cleaning up $WS"
    for d in "$TSTATE"/*/ "$TSTATE_BASE"/*/ "$RUN"/life/*/; do
        [ -d "$d" ] || continue
        id=$(basename "$d")
        if [ -S "$d/shim.sock" ]; then
            "$BIN/tetherctl" --state-dir "$(dirname "$d")" shutdown --force "$id" >/dev/null 2>&1
        fi
        [ -f "$d/shim.pid" ] && kill_if "$(cat "$d/shim.pid")" tether-shim
    done
    if [ -n "$PMD" ] && [ -d "$PMD" ]; then
        for c in conmon.conf tether.conf; do
            [ -f "$PMD/$c" ] && pm_exec "$c" timeout -k 5 60 podman "${PM_FLAGS[@]}" rm -a -f -t 0 \
                >/dev/null 2>&1
        done
        [ -f "$PMD/conmon.conf" ] && pm_exec conmon.conf timeout -k 5 60 podman "${PM_FLAGS[@]}" \
            rmi -a -f >/dev/null 2>&1
        # Whatever outlived podman: monitors, cleanups, containers of the store.
        for p in /proc/[0-9]*; do
            if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$PMD/"; then
                kill -9 "${p#/proc/}" 2>/dev/null
            fi
        done
        for id in $("$RUNC" --root "$PMD/runc" list -q 2>/dev/null); do
            "$RUNC" --root "$PMD/runc" delete --force "$id" >/dev/null 2>&1
        done
        awk -v d="$PMD/" 'index($2, d) == 1 || $2 == substr(d, 1, length(d) - 1) { print $2 }' \
            /proc/mounts | sort -r | while read -r p; do umount -l "$p"; done
        rm -rf "$PMD"
    fi
    if [ -n "$BASE_SRC" ]; then
        git -C "$REPO" worktree remove --force "$BASE_SRC" >/dev/null 2>&1
        rm -rf "$BASE_SRC"
    fi
    declare -F trace_remove >/dev/null && trace_remove
    if [ -n "$CTD_PID" ]; then
        for id in $(timeout 10 "${CTR[@]}" task ls -q 2>/dev/null); do
            timeout 10 "${CTR[@]}" task rm -f "$id" >/dev/null 2>&1
        done
        for id in $(timeout 10 "${CTR[@]}" containers ls -q 2>/dev/null); do
            timeout 10 "${CTR[@]}" containers rm "$id" >/dev/null 2>&1
        done
        kill "$CTD_PID" 2>/dev/null
        wait "$CTD_PID" 2>/dev/null
    fi
    # containerd-shim-runc-v2 processes started for this workspace's containerd only.
    for p in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "-address $CTD_SOCK"; then
            kill_if "${p#/proc/}" containerd-shim
        fi
    done
    while read -r p; do kill_if "$p" conmon; done <"$WS/conmon.pids"
    for p in "$RUN"/pids/floor-*; do
        [ -f "$p" ] && kill_if "$(cat "$p")" sleep
    done
    for d in "$RUNC_ROOT" "$CTD_RUNC_ROOT/$NS" "$CTDT_RUNC_ROOT"; do
        [ -d "$d" ] || continue
        for id in $("$RUNC" --root "$d" list -q 2>/dev/null); do
            "$RUNC" --root "$d" delete --force "$id" >/dev/null 2>&1
        done
    done
    rmdir "$CTDT_RUNC_ROOT" 2>/dev/null
    awk -v ws="$WS/" 'index($2, ws) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r p; do umount -l "$p"; done
    rm -rf "$WS"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$RUN"
mount -t tmpfs -o size=1g,mode=0700 tether-bench "$RUN" || die "cannot mount a tmpfs on $RUN"
mkdir -p "$RUNC_ROOT" "$CTD_RUNC_ROOT" "$TSTATE" "$TSTATE_BASE" "$RUN/life" "$RUN/conmon" \
    "$RUN/ctd-logs" "$RUN/pids" "$WS/logs"
[ "$BASELINE" = none ] || build_baseline "$BASELINE"

# --- bundles, image, containerd ------------------------------------------------------------
[ -x "$REPO/hack/mkbundle.sh" ] || die "hack/mkbundle.sh is missing"
say "making busybox bundles"
LINE=$(printf '%099d' 0 | tr 0 x)
BUNDLE_TRUE=$WS/bundle-true
BUNDLE_SLEEP=$WS/bundle-sleep
BUNDLE_LOG=$WS/bundle-log
BUNDLE_LOG_SMALL=$WS/bundle-log-small
"$REPO/hack/mkbundle.sh" "$BUNDLE_TRUE" -- true >/dev/null
"$REPO/hack/mkbundle.sh" "$BUNDLE_SLEEP" -- sleep 1000000 >/dev/null
# 100-byte lines (99 x + newline) from busybox yes, cut to an exact size by dd in 64 KiB
# writes: the same bytes as `yes | head -c`, whose byte-at-a-time reading would make the
# generator, not the consumer, the bottleneck.
"$REPO/hack/mkbundle.sh" "$BUNDLE_LOG" -- sh -c \
    "yes $LINE | dd bs=65536 count=$LOG_BLOCKS iflag=fullblock 2>/dev/null" >/dev/null
# The same with LOG_SMALL_BLOCKS: the shim's peak RSS after it is compared with the one
# after the full amount, to see whether memory grows with what is logged.
"$REPO/hack/mkbundle.sh" "$BUNDLE_LOG_SMALL" -- sh -c \
    "yes $LINE | dd bs=65536 count=$LOG_SMALL_BLOCKS iflag=fullblock 2>/dev/null" >/dev/null
"$HB/mkimage.sh" "$BUNDLE_SLEEP/rootfs" "$WS/image.tar" "$IMAGE"

say "starting a private containerd"
mkdir -p "$WS/ctd"
cat >"$WS/ctd/config.toml" <<EOF
version = 2
root = "$WS/ctd/root"
state = "$RUN/ctd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CTD_SOCK"
[ttrpc]
  address = "$CTD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
# In a session of its own, so that a ctrl-c meant for this script does not stop it before the
# cleanup has removed its containers. The tether shim built above comes first on its PATH:
# containerd finds the shim of io.containerd.tether.v2 there.
PATH=$BIN:$PATH setsid containerd -c "$WS/ctd/config.toml" >"$WS/ctd/containerd.log" 2>&1 &
CTD_PID=$!
for ((i = 0; i < 500; i++)); do
    "${CTR[@]}" version >/dev/null 2>&1 && break
    kill -0 "$CTD_PID" 2>/dev/null || { tail "$WS/ctd/containerd.log" >&2; die "containerd died"; }
    sleep 0.02
done
"${CTR[@]}" images import "$WS/image.tar" >/dev/null || die "ctr images import failed"

say "setting up a private podman store"
PMD=$(mktemp -d /tmp/tpb.XXXXXX)
# On a tmpfs: runtime state, as under /run, and the store with the containers' k8s-file logs
# too, so that the log phase times the monitors and not this machine's disk (the log phase of
# tether-shim and conmon above keeps its logs on the workspace's filesystem).
mount -t tmpfs -o "size=$((LOG_BYTES * 2 / 1048576 + 512))m,mode=0700" tether-bench-pm "$PMD" ||
    die "cannot mount a tmpfs on $PMD"
pm_store_init "$PMD"
pm_store_flags "$PMD"
pm_store_conf "$PMD" "$PMD/conmon.conf" "$(command -v conmon)"
pm_store_conf "$PMD" "$PMD/tether.conf" "$BIN/tether-conmon"
pm_store_import "$PMD" "$PMD/conmon.conf" "$PM_IMAGE" || die "podman import failed"
# podman falls back to another conmon in silence when it does not like the one configured.
for c in conmon tether; do
    want=$(awk -F'"' '/^conmon_path/ { print $2 }' "$PMD/$c.conf")
    got=$(pm "$c.conf" info --format '{{.Host.Conmon.Path}}') || die "podman info failed"
    [ "$got" = "$want" ] || die "podman runs $got, not $want"
done

CRUN_REASON=
if out=$(crun --root "$RUN/crun" run --bundle "$BUNDLE_TRUE" crun-probe </dev/null 2>&1); then
    CRUN_OK=1
else
    CRUN_OK=0
    CRUN_REASON=$(printf '%s\n' "$out" | tail -1)
    say "crun cannot run containers here: $CRUN_REASON"
fi

# --- machine -------------------------------------------------------------------------------
pkgver() {
    dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"
}
{
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'cpu\t%s\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    printf 'cores\t%s\n' "$(nproc)"
    printf 'memory\t%s\n' "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    printf 'os\t%s\n' "$(. /etc/os-release && echo "$PRETTY_NAME")"
    printf 'cgroups\t%s\n' "$(if [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo v2; else
        echo "v1 (hybrid: cgroup2 at /sys/fs/cgroup/unified)"; fi)"
    printf 'fs\t%s; runtime state on tmpfs\n' \
        "$(df -T "$WS" | awk 'NR == 2 { print $2 " (" $1 ")" }')"
    for p in runc crun conmon containerd podman busybox-static libjansson4; do
        printf 'pkg %s\t%s\n' "$p" "$(pkgver "$p")"
    done
    printf 'tether\t%s, commit %s%s\n' "$("$BIN/tether-shim" --version 2>/dev/null | head -1)" \
        "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(git -C "$REPO" diff --quiet HEAD -- CMakeLists.txt include runtime shim api \
            2>/dev/null || echo ' plus uncommitted changes')"
    if [ -n "$BASE_BIN" ]; then
        printf 'baseline\t%s, commit %s (%s)\n' "$("$BASE_BIN/tether-shim" --version 2>/dev/null | head -1)" \
            "$BASE_SHORT" "$(git -C "$REPO" log -1 --format=%s "$BASE_SHORT" | cut -c1-100)"
    fi
    printf 'load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'quick\t%s\n' "$QUICK"
    printf 'crun\t%s\n' "${CRUN_REASON:-works}"
} >"$WS/machine.tsv"

# shellcheck source=phases.sh
source "$HB/phases.sh"

T0=$SECONDS
# want PHASE: whether this run measures PHASE (all of them unless --only).
want() { [ -z "$ONLY" ] || [[ $ONLY == *",$1,"* ]]; }
if want memory; then
    phase_memory 1
    phase_memory "$MEM_N"
fi
want containerd && phase_containerd
want podman && phase_podman
want lifecycle && phase_lifecycle
want trace && phase_trace
want exit && phase_exit
want log && phase_log
want density && phase_density
want rpc && phase_rpc
{
    printf 'load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'duration\t%s s\n' "$((SECONDS - T0))"
    printf 'params\tlifecycle %s runs, exit %s runs, log %s MiB x %s, memory N=1 and N=%s (idle %s s), containerd N=%s, podman N=%s, podman run --rm %s runs, podman log x %s, traced runs %s x 5, density %s (idle %s s), rpc %s clients x %s s x %s\n' \
        "$LIFE_REPS" "$EXIT_REPS" "$((LOG_BYTES / 1048576))" "$LOG_REPS" "$MEM_N" "$MEM_IDLE" \
        "$CTD_N" "$PM_N" "$PM_LIFE_REPS" "$PM_LOG_REPS" "$TRACE_REPS" \
        "$DENSITY_N" "$DENSITY_IDLE" "$RPC_CLIENTS" "$RPC_SECS" "$RPC_REPS"
} >>"$WS/machine.tsv"

# The raw samples stay in the build directory: report.sh can render them again.
rm -rf "$BB/last-run"
mkdir -p "$BB/last-run"
cp "$WS/results.tsv" "$WS/meta.tsv" "$WS/machine.tsv" "$BB/last-run/"
# Charts next to the page (docs/bench/), or with the samples when no page is written.
if [ "$DOC" = none ]; then
    "$HB/charts.sh" "$BB/last-run" "$BB/last-run/bench" bench
else
    "$HB/charts.sh" "$BB/last-run" "$(dirname "$DOC")/bench" bench
fi
"$HB/report.sh" "$BB/last-run" "$DOC"
