# shellcheck shell=bash
# Helpers of hack/bench/run.sh (sourced): recording samples, reading /proc, and starting and
# stopping one idle container through each subject. Expects run.sh's variables: WS
# (workspace), RUN (its tmpfs), BIN (tether binaries), BASE_BIN (the baseline's, when there
# is one), RUNC, RUNC_ROOT, TSTATE, TSTATE_BASE, BUNDLE_SLEEP, CTR (ctr with its address and
# namespace), IMAGE, CTD_RUNC_ROOT, PMD (the private podman store) and PM_IMAGE.

say() {
    printf '%s\n' "== $*" >&2
}

die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

# record METRIC UNIT SUBJECT VALUE: one sample into the results file.
record() {
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$WS/results.tsv"
}

# meta METRIC KEY VALUE: how a metric is reported (keys: floor, ref, better, section, chart).
meta() {
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$WS/meta.tsv"
}

# ns_to_ms NS
ns_to_ms() {
    awk -v v="$1" 'BEGIN { printf "%.3f", v / 1e6 }'
}

# smaps_field PID FIELD: a field of /proc/PID/smaps_rollup in kB.
smaps_field() {
    awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print "NA" }' \
        "/proc/$1/smaps_rollup"
}

# threads PID
threads() {
    awk '$1 == "Threads:" { print $2 }' "/proc/$1/status"
}

# switches PID: voluntary + involuntary context switches summed over every thread.
switches() {
    cat "/proc/$1"/task/*/status 2>/dev/null |
        awk '$1 ~ /^(non)?voluntary_ctxt_switches:$/ { s += $2 } END { print s + 0 }'
}

# cpu_ticks PID: utime + stime of the whole process, in clock ticks.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# shellcheck disable=SC2034 # used by phases.sh
CLK_TCK=$(getconf CLK_TCK)

# ppid PID
ppid() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $2 }'
}

# wait_for_file PATH [SECONDS]
wait_for_file() {
    local i limit=$((${2:-10} * 100))
    for ((i = 0; i < limit; i++)); do
        [ -s "$1" ] && return 0
        sleep 0.01
    done
    die "timed out waiting for $1"
}

# record_memory METRIC_PREFIX SUBJECT PID: RSS, PSS, Private_Dirty and threads of one process.
record_memory() {
    record "$1: RSS" KiB "$2" "$(smaps_field "$3" Rss)"
    record "$1: PSS" KiB "$2" "$(smaps_field "$3" Pss)"
    record "$1: Private_Dirty" KiB "$2" "$(smaps_field "$3" Private_Dirty)"
    record "$1: threads" count "$2" "$(threads "$3")"
}

# idle_window METRIC_PREFIX SECONDS SUBJECT=PIDS...: context switches and CPU time of every
# pid over SECONDS of idleness, one sample per pid. PIDS is a space-separated list.
idle_window() {
    local prefix=$1 secs=$2 arg subj pid
    local -A sw0 cpu0
    shift 2
    for arg in "$@"; do
        for pid in ${arg#*=}; do
            sw0[$pid]=$(switches "$pid")
            cpu0[$pid]=$(cpu_ticks "$pid")
        done
    done
    sleep "$secs"
    for arg in "$@"; do
        subj=${arg%%=*}
        for pid in ${arg#*=}; do
            record "$prefix: context switches" count "$subj" "$(($(switches "$pid") - sw0[$pid]))"
            record "$prefix: CPU time" ms "$subj" \
                "$((($(cpu_ticks "$pid") - cpu0[$pid]) * 1000 / CLK_TCK))"
        done
    done
}

# idle_set TAG N KIND...: N idle containers of each KIND (named TAG-KIND-I), started
# interleaved so that drift hits every kind alike, then two seconds to settle; IDLE_PIDS[KIND]
# holds the pids measured (shims, monitors, floor processes).
declare -A IDLE_PIDS
idle_set() {
    local tag=$1 n=$2 i s
    shift 2
    IDLE_PIDS=()
    for s in "$@"; do IDLE_PIDS[$s]=; done
    for ((i = 1; i <= n; i++)); do
        for s in "$@"; do
            start_idle "$s" "$tag-$s-$i"
            IDLE_PIDS[$s]+=" $SPID"
        done
    done
    sleep 2
}

# idle_memory PREFIX SECTION REF KIND...: records the memory of every pid of idle_set's
# KINDs under PREFIX, and describes the metrics (their section, the subject they are
# compared with, the floor).
idle_memory() {
    local prefix=$1 sec=$2 ref=$3 s pid m
    shift 3
    for s in "$@"; do
        for pid in ${IDLE_PIDS[$s]}; do record_memory "$prefix" "$(label "$s")" "$pid"; done
    done
    for m in RSS PSS Private_Dirty threads; do
        meta "$prefix: $m" section "$sec"
        meta "$prefix: $m" ref "$ref"
        meta "$prefix: $m" floor "$L_FLOOR"
    done
}

# idle_stop TAG N KIND...: stops what idle_set started.
idle_stop() {
    local tag=$1 n=$2 i s
    shift 2
    for ((i = 1; i <= n; i++)); do
        for s in "$@"; do "${s}_stop" "$tag-$s-$i"; done
    done
}

# start_idle KIND ID: starts an idle container through KIND and sets SPID (the shim's or
# monitor's pid) and CPID (the container init's pid).
start_idle() {
    local out
    out=$("$1_start" "$2") || die "cannot start $2 through $1"
    read -r SPID CPID <<<"$out"
    if [ -z "$SPID" ] || [ -z "$CPID" ]; then
        die "no pids for $2 through $1"
    fi
}

# --- idle containers, one function set per kind -------------------------------------------
# X_start ID  starts a container running `sleep` and prints "SHIM_PID CONTAINER_PID"
# X_stop ID   kills it (SIGKILL) and removes it, leaving no shim behind
# tether: tether-shim through tetherctl; base: the same from the baseline's build; conmon:
# conmon driven as podman drives it; ctd and ctdt: containerd-shim-runc-v2 and
# containerd-shim-tether-v2 through ctr; pmc and pmt: podman with conmon and with
# tether-conmon.

tetherctl_start() { # BIN STATE ID
    local out
    out=$("$1/tetherctl" --state-dir "$2" --json create "$3" --bundle "$BUNDLE_SLEEP" \
        --runtime-root "$RUNC_ROOT") || die "tetherctl create $3 failed"
    "$1/tetherctl" --state-dir "$2" start "$3" >/dev/null || die "tetherctl start $3 failed"
    sed -E 's/.*"shim_pid":([0-9]+).*/\1/' <<<"$out" | tr '\n' ' '
    sed -E 's/.*"pid":([0-9]+).*/\1/' <<<"$out"
}

tetherctl_stop() { # BIN STATE ID
    "$1/tetherctl" --state-dir "$2" delete --force "$3" >/dev/null 2>&1 || true
    "$1/tetherctl" --state-dir "$2" shutdown --force "$3" >/dev/null 2>&1 || true
    rm -rf "${2:?}/$3"
}

tether_start() { tetherctl_start "$BIN" "$TSTATE" "$1"; }
tether_stop() { tetherctl_stop "$BIN" "$TSTATE" "$1"; }
base_start() { tetherctl_start "$BASE_BIN" "$TSTATE_BASE" "$1"; }
base_stop() { tetherctl_stop "$BASE_BIN" "$TSTATE_BASE" "$1"; }

conmon_start() {
    local w=$RUN/conmon/$1
    mkdir -p "$w/exit" "$w/sock"
    conmon --api-version 1 -c "$1" -u "$1" -n "$1" -r "$RUNC" --runtime-arg "--root=$RUNC_ROOT" \
        -b "$BUNDLE_SLEEP" -p "$w/pid" -P "$w/conmon.pid" -l "k8s-file:$w/ctr.log" --exit-dir "$w/exit" \
        --socket-dir-path "$w/sock" >/dev/null 2>&1 </dev/null || die "conmon $1 failed"
    wait_for_file "$w/conmon.pid"
    cat "$w/conmon.pid" >>"$WS/conmon.pids"
    echo >>"$WS/conmon.pids"
    wait_for_file "$w/pid"
    "$RUNC" --root "$RUNC_ROOT" start "$1" || die "runc start $1 (conmon) failed"
    echo "$(cat "$w/conmon.pid") $(cat "$w/pid")"
}

conmon_stop() {
    local w=$RUN/conmon/$1
    "$RUNC" --root "$RUNC_ROOT" kill "$1" KILL >/dev/null 2>&1 || true
    [ -e "$w/exit/$1" ] || wait_for_file "$w/exit/$1" 10
    "$RUNC" --root "$RUNC_ROOT" delete --force "$1" >/dev/null 2>&1 || true
    rm -rf "$w"
}

# ctr_run_idle ID ARGS...: `ctr run -d` of a sleeping container with ARGS (runtime options
# and annotations); prints "SHIM_PID CONTAINER_PID" (the shim is the init's parent).
ctr_run_idle() {
    local id=$1 cpid
    shift
    "${CTR[@]}" run -d --log-uri "file://$RUN/ctd-logs/$id.log" "$@" "$IMAGE" "$id" \
        sleep 1000000 >/dev/null || die "ctr run $id failed"
    cpid=$("${CTR[@]}" task ls | awk -v id="$id" '$1 == id { print $2 }')
    [ -n "$cpid" ] || die "no task $id in containerd"
    echo "$(ppid "$cpid") $cpid"
}

ctd_start() { ctr_run_idle "$1" --runc-root "$CTD_RUNC_ROOT"; }
ctdt_start() { ctr_run_idle "$1" --runtime io.containerd.tether.v2; }

ctd_stop() {
    "${CTR[@]}" task kill -s SIGKILL "$1" >/dev/null 2>&1 || true
    "${CTR[@]}" task rm -f "$1" >/dev/null 2>&1 || true
    "${CTR[@]}" containers rm "$1" >/dev/null 2>&1 || true
}

ctdt_stop() { ctd_stop "$@"; }

# floor: a program doing nothing (coreutils' sleep, linked to the C library alone), the
# memory any idle process costs here: its PSS holds its share of the C library and of the
# dynamic loader, as every monitor's does.
floor_start() {
    sleep 1000000 >/dev/null 2>&1 &
    echo "$!" >"$RUN/pids/floor-$1"
    echo "$! $!"
}

floor_stop() {
    [ -f "$RUN/pids/floor-$1" ] && kill "$(cat "$RUN/pids/floor-$1")" 2>/dev/null
    rm -f "$RUN/pids/floor-$1"
}

# pm_exec CONF CMD...: CMD with the environment and working directory podman has on the
# private store with containers.conf CONF (conmon.conf or tether.conf: which monitor podman
# runs). PM_FLAGS (pm_store_flags) holds podman's options for the store.
pm_exec() {
    local conf=$1
    shift
    (
        cd "$PMD/cwd" || exit 1
        pm_store_env "$PMD" "$PMD/$conf"
        exec env "${PM_ENV[@]}" "$@"
    )
}

# pm CONF ARGS...: podman on the private store.
pm() {
    local conf=$1
    shift
    pm_exec "$conf" timeout -k 5 300 podman "${PM_FLAGS[@]}" "$@"
}

pm_start_idle() { # CONF ID
    local out
    pm "$1" run -d --name "$2" "$PM_IMAGE" sleep 1000000 >/dev/null || die "podman run $2 failed"
    out=$(pm "$1" inspect --format '{{.State.ConmonPid}} {{.State.Pid}}' "$2") ||
        die "podman inspect $2 failed"
    echo "$out"
}

pmc_start() { pm_start_idle conmon.conf "$1"; }
pmt_start() { pm_start_idle tether.conf "$1"; }
pmc_stop() { pm conmon.conf rm -f -t 0 "$1" >/dev/null 2>&1 || true; }
pmt_stop() { pm tether.conf rm -f -t 0 "$1" >/dev/null 2>&1 || true; }
