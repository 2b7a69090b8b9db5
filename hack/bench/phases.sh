# shellcheck shell=bash
# The measurements of hack/bench/run.sh (sourced after lib.sh, with run.sh's variables set).
# Each phase records samples with `record METRIC UNIT SUBJECT VALUE` and describes its
# metrics with `meta`; report.sh turns them into the tables, charts.sh into the charts.

L_TETHER="tether"
L_CONMON="conmon"
L_CTD="containerd-shim-runc-v2"
L_CTDT="containerd-shim-tether-v2"
L_PMC="conmon (podman)"
L_PMT="tether-conmon (podman)"
L_FLOOR="floor: an idle program (sleep)"
# L_BASE ("tether-shim @REV") is set by run.sh when a baseline is measured.

# label KIND
label() {
    case $1 in
    tether) echo "$L_TETHER" ;;
    base) echo "$L_BASE" ;;
    conmon) echo "$L_CONMON" ;;
    ctd) echo "$L_CTD" ;;
    ctdt) echo "$L_CTDT" ;;
    pmc) echo "$L_PMC" ;;
    pmt) echo "$L_PMT" ;;
    floor) echo "$L_FLOOR" ;;
    esac
}

# The subjects of the JSON-RPC shim's comparisons: tether-shim, its baseline, and its peers.
shims() {
    echo tether
    if [ -n "$BASE_BIN" ]; then echo base; fi
    printf '%s\n' conmon ctd
}

# log_record LABEL OUT TIME RATE CPU HWM: records one run of logbench (its output OUT) under
# the four metrics named: elapsed seconds, MiB/s of LOG_BYTES, the monitor's CPU seconds and
# its peak RSS.
log_record() {
    local lbl=$1 out=$2 secs
    secs=$(awk '$1 == "seconds" { print $2 }' <<<"$out")
    record "$3" s "$lbl" "$secs"
    record "$4" MiB/s "$lbl" \
        "$(awk -v b="$LOG_BYTES" -v s="$secs" 'BEGIN { printf "%.0f", b / 1048576 / s }')"
    record "$5" s "$lbl" "$(awk '$1 == "cpu_ms" { printf "%.2f", $2 / 1000 }' <<<"$out")"
    record "$6" KiB "$lbl" "$(awk '$1 == "hwm_kb" { print $2 }' <<<"$out")"
}

# --- memory per idle shim, and idle wakeups ------------------------------------------------
# phase_memory N: N idle `sleep` containers per shim, started interleaved.
phase_memory() {
    local n=$1 s m
    local -a subjects idle=()
    mapfile -t subjects < <(shims)
    subjects+=(floor)
    say "memory: $n idle container(s) per shim (${subjects[*]})"
    idle_set "m$n" "$n" "${subjects[@]}"
    idle_memory "N=$n" "Memory per shim, idle container, N=$n" "$L_TETHER" "${subjects[@]}"
    if [ "$n" -gt 1 ]; then
        meta "N=$n: PSS" chart "memory|tether-shim and its peers: PSS per shim, $n idle containers each"
        say "idle wakeups over $MEM_IDLE s"
        for s in "${subjects[@]}"; do idle+=("$(label "$s")=${IDLE_PIDS[$s]}"); done
        idle_window "idle $MEM_IDLE s" "$MEM_IDLE" "${idle[@]}"
        for m in "context switches" "CPU time"; do
            meta "idle $MEM_IDLE s: $m" section "Idle wakeups per shim over $MEM_IDLE s (N=$n)"
            meta "idle $MEM_IDLE s: $m" ref "$L_TETHER"
        done
    fi
    idle_stop "m$n" "$n" "${subjects[@]}"
}

# --- containerd: its shims side by side ----------------------------------------------------
POD_SIZE=3
POD_ANNOTATION=io.kubernetes.cri.sandbox-id

phase_containerd() {
    local n=$CTD_N i s pid sec m id pss pd nthreads
    local -A spids
    local -a ids
    say "containerd: $n idle containers per shim (ctr run -d)"
    idle_set "c$n" "$n" ctd ctdt floor
    idle_memory "containerd, N=$n" \
        "containerd: memory per container, $n idle containers (ctr run -d, one shim each)" \
        "$L_CTDT" ctd ctdt floor
    idle_stop "c$n" "$n" floor
    meta "containerd, N=$n: PSS" chart \
        "memory-containerd|containerd: PSS per container, $n idle containers (one shim each)"
    say "containerd: idle wakeups over $MEM_IDLE s"
    idle_window "containerd idle $MEM_IDLE s" "$MEM_IDLE" "$L_CTD=${IDLE_PIDS[ctd]}" \
        "$L_CTDT=${IDLE_PIDS[ctdt]}"
    sec="containerd: idle wakeups per shim over $MEM_IDLE s (N=$n)"
    for m in "context switches" "CPU time"; do
        meta "containerd idle $MEM_IDLE s: $m" section "$sec"
        meta "containerd idle $MEM_IDLE s: $m" ref "$L_CTDT"
    done

    # A pod: POD_SIZE containers with the sandbox annotation Kubernetes' CRI plugin sets on
    # every container of a pod. Both shims serve a sandbox's containers from one process.
    # The N containers above still run, as other pods of a node do: the shims' code pages are
    # shared with theirs, as they would be (PSS splits a shared page among its sharers;
    # Private_Dirty is the pod shim's own memory whatever runs beside it).
    say "containerd: a pod of $POD_SIZE containers per shim, beside the $n containers above"
    sec="containerd: a pod of $POD_SIZE idle containers (annotation $POD_ANNOTATION), beside the $n above"
    for s in ctd ctdt; do
        ids=()
        spids=()
        for ((i = 1; i <= POD_SIZE; i++)); do
            id=pod-$s-$i
            ids+=("$id")
            if [ "$s" = ctd ]; then
                read -r pid _ < <(ctr_run_idle "$id" --runc-root "$CTD_RUNC_ROOT" \
                    --annotation "$POD_ANNOTATION=bench-pod-$s")
            else
                read -r pid _ < <(ctr_run_idle "$id" --runtime io.containerd.tether.v2 \
                    --annotation "$POD_ANNOTATION=bench-pod-$s")
            fi
            spids[$pid]=1
        done
        sleep 2
        pss=0
        pd=0
        nthreads=0
        for pid in "${!spids[@]}"; do
            pss=$((pss + $(smaps_field "$pid" Pss)))
            pd=$((pd + $(smaps_field "$pid" Private_Dirty)))
            nthreads=$((nthreads + $(threads "$pid")))
        done
        record "pod of $POD_SIZE: shim processes" count "$(label "$s")" "${#spids[@]}"
        record "pod of $POD_SIZE: PSS of its shims" KiB "$(label "$s")" "$pss"
        record "pod of $POD_SIZE: Private_Dirty of its shims" KiB "$(label "$s")" "$pd"
        record "pod of $POD_SIZE: threads of its shims" count "$(label "$s")" "$nthreads"
        for id in "${ids[@]}"; do "${s}_stop" "$id"; done
    done
    idle_stop "c$n" "$n" ctd ctdt
    for m in "shim processes" "PSS of its shims" "Private_Dirty of its shims" "threads of its shims"; do
        meta "pod of $POD_SIZE: $m" section "$sec"
        meta "pod of $POD_SIZE: $m" ref "$L_CTDT"
    done
}

# --- podman: its monitors side by side -----------------------------------------------------
PM_LIFE_M="podman run --rm true"
PM_LOG_T="podman log: elapsed"
PM_LOG_RATE="podman log: throughput"
PM_LOG_CPU="podman log: monitor CPU time"
PM_LOG_HWM="podman log: monitor peak RSS"

pm_conf() {
    case $1 in
    pmc) echo conmon.conf ;;
    pmt) echo tether.conf ;;
    esac
}

phase_podman() {
    local n=$PM_N s sec m rep conf ns id out bytes pidfile log last
    pm_store_flags "$PMD"
    say "podman: $n idle containers per monitor (podman run -d)"
    idle_set "p$n" "$n" pmc pmt floor
    idle_memory "podman, N=$n" \
        "podman: memory per container monitor, $n idle containers (podman run -d)" \
        "$L_PMT" pmc pmt floor
    idle_stop "p$n" "$n" floor
    meta "podman, N=$n: PSS" chart \
        "memory-podman|podman: PSS per container monitor, $n idle containers"
    say "podman: idle wakeups over $MEM_IDLE s"
    idle_window "podman idle $MEM_IDLE s" "$MEM_IDLE" "$L_PMC=${IDLE_PIDS[pmc]}" \
        "$L_PMT=${IDLE_PIDS[pmt]}"
    sec="podman: idle wakeups per monitor over $MEM_IDLE s (N=$n)"
    for m in "context switches" "CPU time"; do
        meta "podman idle $MEM_IDLE s: $m" section "$sec"
        meta "podman idle $MEM_IDLE s: $m" ref "$L_PMT"
    done
    idle_stop "p$n" "$n" pmc pmt

    say "podman: podman run --rm true, 1 warm-up + $PM_LIFE_REPS runs each, interleaved"
    for ((rep = -1; rep < PM_LIFE_REPS; rep++)); do
        for s in pmc pmt; do
            ns=$(pm_exec "$(pm_conf "$s")" timeout -k 5 120 "$BB/benchlife" cmd podman \
                "${PM_FLAGS[@]}" run --rm "$PM_IMAGE" true) || die "podman run --rm ($s) failed"
            [ "$rep" -ge 0 ] && record "$PM_LIFE_M" ms "$(label "$s")" "$(ns_to_ms "$ns")"
        done
    done
    meta "$PM_LIFE_M" section "podman: lifecycle of a \`true\` container (podman run --rm)"
    meta "$PM_LIFE_M" ref "$L_PMT"
    meta "$PM_LIFE_M" chart "lifecycle-podman|podman run --rm of a true container"

    say "podman: log throughput, $((LOG_BYTES / 1048576)) MiB of 100-byte lines, $PM_LOG_REPS runs each"
    # The last record of the log: "P" and the x's of the line dd cut short, or a whole line.
    if [ $((LOG_BYTES % 100)) -eq 0 ]; then
        last="F $LINE"
    else
        last="P $(printf '%*s' $((LOG_BYTES % 100)) '' | tr ' ' x)"
    fi
    for ((rep = 0; rep < PM_LOG_REPS; rep++)); do
        for s in pmc pmt; do
            conf=$(pm_conf "$s")
            id=pl-$s-$rep
            pm "$conf" create --name "$id" --log-driver k8s-file "$PM_IMAGE" sh -c \
                "yes $LINE | dd bs=65536 count=$LOG_BLOCKS iflag=fullblock 2>/dev/null" >/dev/null ||
                die "podman create $id failed"
            read -r pidfile log < <(pm "$conf" inspect \
                --format '{{.ConmonPidFile}} {{.HostConfig.LogConfig.Path}}' "$id") ||
                die "podman inspect $id failed"
            sync
            out=$(pm_exec "$conf" timeout -k 5 900 "$BB/logbench" podman "$pidfile" "$log" podman \
                "${PM_FLAGS[@]}" start "$id") || die "podman log throughput ($s) failed"
            # The log ends with the container's last bytes (a line cut short: a partial
            # record), and podman logs reads them back.
            [[ $(tail -n 1 "$log") == *" stdout $last" ]] ||
                die "the k8s-file log of $id ($s) does not end with the container's last bytes"
            [[ $(pm "$conf" logs --tail 1 "$id") == *"${last#? }" ]] ||
                die "podman logs $id ($s) does not end with the container's last bytes"
            pm "$conf" rm -f -t 0 "$id" >/dev/null || die "podman rm $id failed"
            bytes=$(awk '$1 == "log_bytes" { print $2 }' <<<"$out")
            [ "$bytes" -gt "$LOG_BYTES" ] || die "$s: the k8s-file log holds only $bytes bytes"
            log_record "$(label "$s")" "$out" "$PM_LOG_T" "$PM_LOG_RATE" "$PM_LOG_CPU" "$PM_LOG_HWM"
        done
    done
    for m in "$PM_LOG_T" "$PM_LOG_RATE" "$PM_LOG_CPU" "$PM_LOG_HWM"; do
        meta "$m" section "podman: log throughput, $((LOG_BYTES / 1048576)) MiB of 100-byte lines into the k8s-file log"
        meta "$m" ref "$L_PMT"
    done
    meta "$PM_LOG_RATE" better higher
    meta "$PM_LOG_RATE" chart "log-podman|podman: $((LOG_BYTES / 1048576)) MiB into the k8s-file log through the monitor"
}

# --- lifecycle of a `true` container -------------------------------------------------------
LIFE_M="lifecycle of true"
LAUNCH_M="part of it: starting the shim"
# What a shim costs a lifecycle by being a program of its own at all: hack/bench/nullshim.c,
# driven like tether-shim, started, asked the lifecycle's five requests, gone.
NULL_M="lifecycle without a runtime: a shim that does nothing"
PHASE_M="lifecycle phase"
# The CPU time the shim's own processes used (tether-shim's launcher and daemon; the floor:
# tether-shim --version), from the kernel's count.
CPU_M="lifecycle: CPU time of the shim's processes"
life_subjects() {
    echo run steps
    if [ "$CRUN_OK" = 1 ]; then echo crun; fi
    echo tether
    if [ -n "$BASE_BIN" ]; then echo base; fi
    echo tetherctl conmon ctd ctdt launch procstart null
}

life_label() {
    case $1 in
    run) echo "floor: runc run" ;;
    steps) echo "runc create+start+delete" ;;
    crun) echo "crun run" ;;
    tether) echo "tether (protocol client)" ;;
    base) echo "$L_BASE (protocol client)" ;;
    tetherctl) echo "tether (tetherctl run)" ;;
    conmon) echo "conmon + runc start/delete" ;;
    ctd) echo "containerd-shim-runc-v2 (ctr run --rm)" ;;
    ctdt) echo "containerd-shim-tether-v2 (ctr run --rm)" ;;
    launch) echo "tether-shim start alone (spawn to socket ready)" ;;
    procstart) echo "floor: spawn, exec and exit of tether-shim --version" ;;
    null) echo "floor: a shim that does nothing (nullshim)" ;;
    nullsteps) echo "floor: runc create+start+delete beside a shim that does nothing" ;;
    esac
}

# life_once SUBJECT ID: prints nanoseconds (then NAME=NANOSECONDS per phase for the subjects
# benchlife times phase by phase).
life_once() {
    case $1 in
    run) timeout -k 5 120 "$BB/benchlife" cmd "$RUNC" --root "$RUNC_ROOT" run --bundle "$BUNDLE_TRUE" "$2" ;;
    steps) PHASES=1 timeout -k 5 120 "$BB/benchlife" runc-steps "$RUNC" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/pids/$2" ;;
    crun) timeout -k 5 120 "$BB/benchlife" cmd crun --root "$RUN/crun" run --bundle "$BUNDLE_TRUE" "$2" ;;
    tether) PHASES=1 timeout -k 5 120 "$BB/benchlife" tether "$BIN/tether-shim" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/life" ;;
    base) PHASES=1 timeout -k 5 120 "$BB/benchlife" tether "$BASE_BIN/tether-shim" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/life" ;;
    tetherctl)
        timeout -k 5 120 "$BB/benchlife" cmd "$BIN/tetherctl" --state-dir "$RUN/life" run "$2" \
            --bundle "$BUNDLE_TRUE" --runtime-root "$RUNC_ROOT"
        ;;
    launch) timeout -k 5 120 "$BB/benchlife" launch "$BIN/tether-shim" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/life" ;;
    procstart) PHASES=1 timeout -k 5 120 "$BB/benchlife" cmd "$BIN/tether-shim" --version ;;
    null) PHASES=1 timeout -k 5 120 "$BB/benchlife" tether "$BB/nullshim" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/life" ;;
    nullsteps)
        PHASES=1 timeout -k 5 120 "$BB/benchlife" null-steps "$BB/nullshim" "$RUNC" "$RUNC_ROOT" \
            "$BUNDLE_TRUE" "$2" "$RUN/life"
        ;;
    conmon) timeout -k 5 120 "$BB/benchlife" conmon "$RUNC" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/conmon/$2" ;;
    ctd)
        timeout -k 5 120 "$BB/benchlife" cmd "${CTR[@]}" run --rm --log-uri "file://$RUN/ctd-logs/$2.log" \
            --runc-root "$CTD_RUNC_ROOT" "$IMAGE" "$2" true
        ;;
    ctdt)
        timeout -k 5 120 "$BB/benchlife" cmd "${CTR[@]}" run --rm --log-uri "file://$RUN/ctd-logs/$2.log" \
            --runtime io.containerd.tether.v2 "$IMAGE" "$2" true
        ;;
    esac
}

phase_lifecycle() {
    local rep s id out ns p sec
    local -a subjects
    mapfile -t subjects < <(life_subjects | tr ' ' '\n')
    say "lifecycle: ${subjects[*]}, $WARMUP warm-up + $LIFE_REPS runs each, interleaved"
    for ((rep = -WARMUP; rep < LIFE_REPS; rep++)); do
        for s in "${subjects[@]}"; do
            id=l-$s-$((rep + WARMUP))
            out=$(life_once "$s" "$id") || die "lifecycle $s failed"
            rm -rf "${RUN:?}/life/$id" "${RUN:?}/conmon/$id" "$RUN/pids/$id" "$RUN/ctd-logs/$id.log"
            [ "$rep" -lt 0 ] && continue
            read -r ns _ <<<"$out"
            case $s in
            launch | procstart) record "$LAUNCH_M" ms "$(life_label "$s")" "$(ns_to_ms "$ns")" ;;
            null) record "$NULL_M" ms "$(life_label "$s")" "$(ns_to_ms "$ns")" ;;
            *) record "$LIFE_M" ms "$(life_label "$s")" "$(ns_to_ms "$ns")" ;;
            esac
            for p in $out; do
                case $p in
                cpu=*) record "$CPU_M" ms "$(life_label "$s")" "$(ns_to_ms "${p#*=}")" ;;
                *=*) record "$PHASE_M: ${p%%=*}" ms "$(life_label "$s")" "$(ns_to_ms "${p#*=}")" ;;
                esac
            done
        done
    done
    sec="Lifecycle latency: create, start, wait, delete of a \`true\` container"
    meta "$LIFE_M" section "$sec"
    meta "$LIFE_M" floor "$(life_label run)"
    meta "$LIFE_M" ref "$(life_label tether)"
    meta "$LIFE_M" chart "lifecycle|Lifecycle of a true container: create, start, wait, delete"
    meta "$LAUNCH_M" section "$sec"
    meta "$LAUNCH_M" floor "$(life_label procstart)"
    meta "$NULL_M" section "$sec"
    meta "$CPU_M" section "Lifecycle phases: tether-shim's lifecycle against the runtime invocations alone"
    meta "$CPU_M" ref "$(life_label tether)"
    meta "$CPU_M" floor "$(life_label procstart)"
    for p in launch create start exit delete shutdown; do
        meta "$PHASE_M: $p" section "Lifecycle phases: tether-shim's lifecycle against the runtime invocations alone"
        meta "$PHASE_M: $p" ref "$(life_label tether)"
    done
}

# --- where a `ctr run --rm` spends its time -----------------------------------------------
CTR_SEG_M="ctr run --rm, traced"
LIFE_TRACE_M="lifecycle, traced"
TRACE_DIR=""
TRACE_OWN=0

# trace_setup: a tracefs instance of this run's own (TRACE_DIR) recording every exec, fork,
# process end and SIGCHLD sent, with the thread group of each event; 1 when the kernel offers
# none.
trace_setup() {
    local t=/sys/kernel/tracing
    [ -d "$t/instances" ] || mount -t tracefs nodev "$t" 2>/dev/null || true
    [ -d "$t/instances" ] || return 1
    mkdir "$t/instances/tether-bench-$$" 2>/dev/null || return 1
    TRACE_DIR=$t/instances/tether-bench-$$
    [ -f "$TRACE_DIR/options/record-tgid" ] &&
        [ -d "$TRACE_DIR/events/signal/signal_generate" ] || return 1
    echo 0 >"$TRACE_DIR/tracing_on"
    echo 1 >"$TRACE_DIR/options/record-tgid"
    echo 8192 >"$TRACE_DIR/buffer_size_kb"
    echo 'sig == 17' >"$TRACE_DIR/events/signal/signal_generate/filter"
    echo 1 >"$TRACE_DIR/events/signal/signal_generate/enable"
    echo 1 >"$TRACE_DIR/events/sched/sched_process_exec/enable"
    echo 1 >"$TRACE_DIR/events/sched/sched_process_exit/enable"
    echo 1 >"$TRACE_DIR/events/sched/sched_process_fork/enable"
    # The containerd shims' epoll_wait and epoll_pwait (x86_64 numbers): when tether's
    # daemon sleeps and when it works.
    if [ "$(uname -m)" = x86_64 ] && [ -d "$TRACE_DIR/events/raw_syscalls" ]; then
        for e in sys_enter sys_exit; do
            echo '(id == 232 || id == 281) && comm ~ "containerd-shim*"' \
                >"$TRACE_DIR/events/raw_syscalls/$e/filter"
            echo 1 >"$TRACE_DIR/events/raw_syscalls/$e/enable"
        done
        TRACE_OWN=1
    fi
}

# trace_remove: the instance goes with the run (cleanup calls it too).
trace_remove() {
    [ -n "$TRACE_DIR" ] && [ -d "$TRACE_DIR" ] || return 0
    echo 0 >"$TRACE_DIR/tracing_on" 2>/dev/null
    rmdir "$TRACE_DIR" 2>/dev/null
    TRACE_DIR=""
}

# Runs again, with the kernel's process events traced, and cut by hack/bench/trace.awk:
# - each containerd shim's `ctr run --rm ... true` (as in the lifecycle phase), into the
#   segments of its chain: from ctr's exec to the shim's start command, the runtime's create,
#   start (with the container's run) and delete, the delete command containerd runs once the
#   shim's connection is closed, and ctr's end;
# - tether-shim's lifecycle and the runtime's steps alone (benchlife, as in the lifecycle
#   phase), into the time a runtime process or the container runs and the rest, within each
#   run: what the shim adds beyond its runtime invocations, without their spread;
# - the runtime's steps again, each followed by its request to a shim that does nothing
#   (nullshim, launched before and shut down after): what any shim that is a program of its
#   own adds by the same measure, before it does any work.
# Tracing costs microseconds an event; the lifecycle phase's runs stay untraced.
phase_trace() {
    local rep s id out p m mode own
    local -A keys=()
    if ! trace_setup; then
        trace_remove
        say "traced runs: this kernel offers no tracefs instance with the events needed; skipped"
        return 0
    fi
    say "traced runs: ctr run --rm per containerd shim, tether-shim, runc alone and beside a shim that does nothing; 1 warm-up + $TRACE_REPS runs each, interleaved"
    for ((rep = -1; rep < TRACE_REPS; rep++)); do
        for s in ctd ctdt tether steps nullsteps; do
            id=t-$s-$((rep + 1))
            echo >"$TRACE_DIR/trace"
            echo 1 >"$TRACE_DIR/tracing_on"
            life_once "$s" "$id" >/dev/null || die "traced run ($s) failed"
            echo 0 >"$TRACE_DIR/tracing_on"
            # tether's containerd shim: its own time on the way too (TRACE_OWN).
            case $s in
            ctd) m=$CTR_SEG_M mode=ctr own=0 ;;
            ctdt) m=$CTR_SEG_M mode=ctr own=$TRACE_OWN ;;
            *) m=$LIFE_TRACE_M mode=life own=0 ;;
            esac
            out=$(awk -v mode="$mode" -v own="$own" -v runtime="$RUNC" -f "$HB/trace.awk" \
                "$TRACE_DIR/trace")
            rm -rf "$RUN/ctd-logs/$id.log" "${RUN:?}/life/$id" "$RUN/pids/$id"
            [ "$rep" -lt 0 ] && continue
            case $out in error=*) die "traced run ($s): ${out#error=}" ;; esac
            for p in $out; do
                record "$m: ${p%%=*}" ms "$(life_label "$s")" "${p#*=}"
                keys["$m: ${p%%=*}"]=1
            done
        done
    done
    trace_remove
    for p in "${!keys[@]}"; do
        case $p in
        "$CTR_SEG_M: "*) meta "$p" section "Traced runs: where a \`ctr run --rm\` spends its time" ;;
        *) meta "$p" section "Traced runs: tether-shim's lifecycle and the runtime alone, outside the runtime" ;;
        esac
    done
}

# --- exit notification latency -------------------------------------------------------------
EXIT_EV="exit -> event at a client"
EXIT_FILE="exit -> exit file"

# exit_tether KIND LABEL REP: one sample through tether-shim (KIND tether or base).
exit_tether() {
    local kind=$1 lbl=$2 rep=$3 id out state=$TSTATE
    [ "$kind" = base ] && state=$TSTATE_BASE
    id=x-$kind-$((rep + 1))
    start_idle "$kind" "$id"
    out=$(timeout -k 5 120 "$BB/exitlat" --pid "$CPID" --file "$state/$id/exit.json" \
        --tether "$state/$id/shim.sock") || die "exitlat ($kind) failed"
    "${kind}_stop" "$id"
    if [ "$rep" -ge 0 ]; then
        record "$EXIT_EV" ms "$lbl (subscribe)" "$(ns_to_ms "$(awk '$1 == "event" { print $2 }' <<<"$out")")"
        record "$EXIT_FILE" ms "$lbl (exit.json)" "$(ns_to_ms "$(awk '$1 == "file" { print $2 }' <<<"$out")")"
    fi
}

# exit_ctr KIND REP: one sample through containerd (KIND ctd or ctdt), at `ctr events`.
exit_ctr() {
    local kind=$1 rep=$2 id out
    id=x-$kind-$((rep + 1))
    start_idle "$kind" "$id"
    out=$(timeout -k 5 120 "$BB/exitlat" --pid "$CPID" --events-cmd "${CTR[*]} events" \
        --events-ready "${CTR[*]} containers label $id bench=ready" \
        --events-match "/tasks/exit {\"container_id\":\"$id\"") ||
        die "exitlat ($kind) failed"
    "${kind}_stop" "$id"
    if [ "$rep" -ge 0 ]; then
        record "$EXIT_EV" ms "$(label "$kind") (ctr events)" \
            "$(ns_to_ms "$(awk '$1 == "event" { print $2 }' <<<"$out")")"
    fi
}

phase_exit() {
    local rep id out
    say "exit notification: $EXIT_REPS runs per shim, interleaved"
    for ((rep = -1; rep < EXIT_REPS; rep++)); do
        exit_tether tether "$L_TETHER" "$rep"
        if [ -n "$BASE_BIN" ]; then exit_tether base "$L_BASE" "$rep"; fi

        id=x-c-$((rep + 1))
        start_idle conmon "$id"
        out=$(timeout -k 5 120 "$BB/exitlat" --pid "$CPID" --file "$RUN/conmon/$id/exit/$id") ||
            die "exitlat (conmon) failed"
        conmon_stop "$id"
        if [ "$rep" -ge 0 ]; then
            record "$EXIT_FILE" ms "conmon (exit-dir file)" \
                "$(ns_to_ms "$(awk '$1 == "file" { print $2 }' <<<"$out")")"
        fi

        exit_ctr ctd "$rep"
        exit_ctr ctdt "$rep"
    done
    meta "$EXIT_EV" section "Exit notification latency: container init dead -> notification"
    meta "$EXIT_FILE" section "Exit notification latency: container init dead -> notification"
    meta "$EXIT_EV" ref "tether (subscribe)"
    meta "$EXIT_FILE" ref "tether (exit.json)"
}

# --- log throughput ------------------------------------------------------------------------
LOG_T="log: elapsed"
LOG_RATE="log: throughput"
LOG_CPU="log: consumer CPU time"
LOG_HWM="log: consumer peak RSS"
LOG_HWM_SMALL="log: consumer peak RSS after only $((LOG_SMALL_BLOCKS / 16)) MiB"

log_subjects() {
    echo floor raw cri
    if [ -n "$BASE_BIN" ]; then echo base-raw base-cri; fi
    echo conmon tconmon
}

log_label() {
    case $1 in
    floor) echo "floor: runc run | cat" ;;
    raw) echo "tether raw" ;;
    cri) echo "tether cri" ;;
    base-raw) echo "$L_BASE raw" ;;
    base-cri) echo "$L_BASE cri" ;;
    conmon) echo "conmon k8s-file" ;;
    tconmon) echo "tether-conmon k8s-file" ;;
    esac
}

# log_once SUBJECT ID [BUNDLE]
log_once() {
    local log=$WS/logs/$2.log bundle=${3:-$BUNDLE_LOG}
    case $1 in
    floor) timeout -k 5 900 "$BB/logbench" floor "$RUNC" "$RUNC_ROOT" "$bundle" "$2" ;;
    raw | cri)
        timeout -k 5 900 "$BB/logbench" tether "$BIN/tether-shim" "$RUNC_ROOT" "$bundle" "$2" \
            "$RUN/life" "$log" "$1"
        ;;
    base-raw | base-cri)
        timeout -k 5 900 "$BB/logbench" tether "$BASE_BIN/tether-shim" "$RUNC_ROOT" "$bundle" "$2" \
            "$RUN/life" "$log" "${1#base-}"
        ;;
    conmon)
        timeout -k 5 900 "$BB/logbench" conmon "$RUNC" "$RUNC_ROOT" "$bundle" "$2" \
            "$RUN/conmon/$2" "$log"
        ;;
    tconmon)
        timeout -k 5 900 "$BB/logbench" conmon "$RUNC" "$RUNC_ROOT" "$bundle" "$2" \
            "$RUN/conmon/$2" "$log" "$BIN/tether-conmon"
        ;;
    esac
}

phase_log() {
    local rep s id out bytes
    local -a subjects
    mapfile -t subjects < <(log_subjects | tr ' ' '\n')
    say "log throughput: $((LOG_BYTES / 1048576)) MiB of 100-byte lines, $LOG_REPS runs each"
    for ((rep = 0; rep < LOG_REPS; rep++)); do
        for s in "${subjects[@]}"; do
            id=g-$s-$rep
            sync
            out=$(log_once "$s" "$id") || die "log throughput ($s) failed"
            rm -rf "$WS/logs/$id.log" "${RUN:?}/life/$id" "${RUN:?}/conmon/$id"
            bytes=$(awk '$1 == "log_bytes" { print $2 }' <<<"$out")
            case $s in
            raw | base-raw) [ "$bytes" = "$LOG_BYTES" ] || die "$s log holds $bytes bytes, not $LOG_BYTES" ;;
            floor) ;;
            *) [ "$bytes" -gt "$LOG_BYTES" ] || die "$s log holds only $bytes bytes" ;;
            esac
            log_record "$(log_label "$s")" "$out" "$LOG_T" "$LOG_RATE" "$LOG_CPU" "$LOG_HWM"
        done
    done
    for m in "$LOG_T" "$LOG_RATE" "$LOG_CPU" "$LOG_HWM"; do
        meta "$m" section "Log throughput: $((LOG_BYTES / 1048576)) MiB of 100-byte lines on stdout"
        meta "$m" floor "$(log_label floor)"
        meta "$m" ref "$(log_label cri)"
    done
    meta "$LOG_RATE" better higher
    meta "$LOG_T" chart "log|Log throughput: $((LOG_BYTES / 1048576)) MiB of 100-byte lines"

    # Does the consumer's memory grow with the amount logged? The same runs with a small
    # amount, as many times each and interleaved alike, against the peak RSS of the full runs
    # above: medians against medians (one process's peak moves by 100-200 KiB from run to
    # run, with the pages of code and libraries it happened to fault in).
    for ((rep = 0; rep < LOG_REPS; rep++)); do
        for s in raw cri conmon; do
            id=h-$s-$rep
            out=$(log_once "$s" "$id" "$BUNDLE_LOG_SMALL") || die "log throughput ($s, small) failed"
            rm -rf "$WS/logs/$id.log" "${RUN:?}/life/$id" "${RUN:?}/conmon/$id"
            record "$LOG_HWM_SMALL" KiB "$(log_label "$s")" "$(awk '$1 == "hwm_kb" { print $2 }' <<<"$out")"
        done
    done
    meta "$LOG_HWM_SMALL" section "Log throughput: $((LOG_BYTES / 1048576)) MiB of 100-byte lines on stdout"
    meta "$LOG_HWM_SMALL" ref "$(log_label cri)"
}

# --- density -------------------------------------------------------------------------------
phase_density() {
    local i id t0 pid rss=0 pss=0 pd=0 sw=0 cpu=0 sec
    local -a shim_pids=()
    say "density: $DENSITY_N tether shims, idle $DENSITY_IDLE s"
    sec="Density: $DENSITY_N idle containers through tether, started one after another"
    for ((i = 1; i <= DENSITY_N; i++)); do
        id=d-$i
        t0=$EPOCHREALTIME
        start_idle tether "$id"
        record "density: tetherctl create+start" ms "$L_TETHER" \
            "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", (b - a) * 1000 }')"
        shim_pids+=("$SPID")
    done
    sleep 2
    for pid in "${shim_pids[@]}"; do
        rss=$((rss + $(smaps_field "$pid" Rss)))
        pss=$((pss + $(smaps_field "$pid" Pss)))
        pd=$((pd + $(smaps_field "$pid" Private_Dirty)))
        record "density: PSS per shim" KiB "$L_TETHER" "$(smaps_field "$pid" Pss)"
        record "density: Private_Dirty per shim" KiB "$L_TETHER" "$(smaps_field "$pid" Private_Dirty)"
    done
    record "density: total RSS of $DENSITY_N shims" MiB "$L_TETHER" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
    record "density: total PSS of $DENSITY_N shims" MiB "$L_TETHER" "$(awk -v k="$pss" 'BEGIN { printf "%.1f", k / 1024 }')"
    record "density: total Private_Dirty of $DENSITY_N shims" MiB "$L_TETHER" "$(awk -v k="$pd" 'BEGIN { printf "%.1f", k / 1024 }')"
    local -A sw0 cpu0
    for pid in "${shim_pids[@]}"; do
        sw0[$pid]=$(switches "$pid")
        cpu0[$pid]=$(cpu_ticks "$pid")
    done
    sleep "$DENSITY_IDLE"
    for pid in "${shim_pids[@]}"; do
        sw=$((sw + $(switches "$pid") - sw0[$pid]))
        cpu=$((cpu + $(cpu_ticks "$pid") - cpu0[$pid]))
    done
    record "density: context switches of all shims in $DENSITY_IDLE s" count "$L_TETHER" "$sw"
    record "density: CPU time of all shims in $DENSITY_IDLE s" ms "$L_TETHER" "$((cpu * 1000 / CLK_TCK))"
    for m in "density: tetherctl create+start" "density: PSS per shim" \
        "density: Private_Dirty per shim" "density: total RSS of $DENSITY_N shims" \
        "density: total PSS of $DENSITY_N shims" \
        "density: total Private_Dirty of $DENSITY_N shims" \
        "density: context switches of all shims in $DENSITY_IDLE s" \
        "density: CPU time of all shims in $DENSITY_IDLE s"; do
        meta "$m" section "$sec"
    done
    for ((i = 1; i <= DENSITY_N; i++)); do tether_stop "d-$i"; done
}

# --- request throughput --------------------------------------------------------------------
phase_rpc() {
    local rep out sec
    say "requests: $RPC_CLIENTS clients calling state for $RPC_SECS s, $RPC_REPS runs"
    sec="Request throughput: \`state\` from $RPC_CLIENTS concurrent clients on one shim"
    start_idle tether rpc
    for ((rep = 0; rep < RPC_REPS; rep++)); do
        out=$(timeout -k 5 300 "$BB/rpcload" "$TSTATE/rpc/shim.sock" "$RPC_CLIENTS" "$RPC_SECS") ||
            die "rpcload failed"
        record "state calls per second" calls/s "$L_TETHER" "$(awk '$1 == "rps" { print $2 }' <<<"$out")"
        record "state latency p50" us "$L_TETHER" "$(awk '$1 == "p50_us" { print $2 }' <<<"$out")"
        record "state latency p99" us "$L_TETHER" "$(awk '$1 == "p99_us" { print $2 }' <<<"$out")"
    done
    tether_stop rpc
    for m in "state calls per second" "state latency p50" "state latency p99"; do
        meta "$m" section "$sec"
    done
    meta "state calls per second" better higher
}
