# shellcheck shell=bash
# Helpers of hack/bench/run.sh (sourced): recording samples, reading /proc, and starting and
# stopping one idle container through each shim. Expects run.sh's variables: WS (workspace),
# BIN (tether binaries), RUNC, RUNC_ROOT, TSTATE, BUNDLE_SLEEP, CTR (ctr with its address and
# namespace), IMAGE, CTD_RUNC_ROOT.

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

# meta METRIC KEY VALUE: how a metric is reported (keys: floor, ref, better, section).
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

# start_idle SHIM ID: starts an idle container through SHIM (tether, conmon or ctd) and sets
# SPID (the shim's pid) and CPID (the container init's pid).
start_idle() {
    local out
    out=$("$1_start" "$2") || die "cannot start $2 through $1"
    read -r SPID CPID <<<"$out"
    if [ -z "$SPID" ] || [ -z "$CPID" ]; then
        die "no pids for $2 through $1"
    fi
}

# --- idle containers, one function set per shim ------------------------------------------
# X_start ID  starts a container running `sleep` and prints "SHIM_PID CONTAINER_PID"
# X_stop ID   kills it (SIGKILL) and removes it, leaving no shim behind

tether_start() {
    local out
    out=$("$BIN/tetherctl" --state-dir "$TSTATE" --json create "$1" --bundle "$BUNDLE_SLEEP" \
        --runtime-root "$RUNC_ROOT") || die "tetherctl create $1 failed"
    "$BIN/tetherctl" --state-dir "$TSTATE" start "$1" >/dev/null || die "tetherctl start $1 failed"
    sed -E 's/.*"shim_pid":([0-9]+).*/\1/' <<<"$out" | tr '\n' ' '
    sed -E 's/.*"pid":([0-9]+).*/\1/' <<<"$out"
}

tether_stop() {
    "$BIN/tetherctl" --state-dir "$TSTATE" delete --force "$1" >/dev/null 2>&1 || true
    "$BIN/tetherctl" --state-dir "$TSTATE" shutdown --force "$1" >/dev/null 2>&1 || true
    rm -rf "${TSTATE:?}/$1"
}

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

ctd_start() {
    local cpid
    "${CTR[@]}" run -d --log-uri "file://$RUN/ctd-logs/$1.log" --runc-root "$CTD_RUNC_ROOT" \
        "$IMAGE" "$1" sleep 1000000 >/dev/null || die "ctr run $1 failed"
    cpid=$("${CTR[@]}" task ls | awk -v id="$1" '$1 == id { print $2 }')
    [ -n "$cpid" ] || die "no task $1 in containerd"
    echo "$(ppid "$cpid") $cpid"
}

ctd_stop() {
    "${CTR[@]}" task kill -s SIGKILL "$1" >/dev/null 2>&1 || true
    "${CTR[@]}" task rm -f "$1" >/dev/null 2>&1 || true
    "${CTR[@]}" containers rm "$1" >/dev/null 2>&1 || true
}
