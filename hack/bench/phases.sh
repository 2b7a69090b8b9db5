# shellcheck shell=bash
# The measurements of hack/bench/run.sh (sourced after lib.sh, with run.sh's variables set).
# Each phase records samples with `record METRIC UNIT SUBJECT VALUE` and describes its
# metrics with `meta`; report.sh turns them into the tables.

L_TETHER="tether"
L_CONMON="conmon"
L_CTD="containerd-shim-runc-v2"
SHIMS=(tether conmon ctd)

# label SHIM
label() {
    case $1 in
    tether) echo "$L_TETHER" ;;
    conmon) echo "$L_CONMON" ;;
    ctd) echo "$L_CTD" ;;
    esac
}

# --- memory per idle shim, and idle wakeups ------------------------------------------------
# phase_memory N: N idle `sleep` containers per shim, started interleaved.
phase_memory() {
    local n=$1 i s id pid sec m
    local -A pids sw0 cpu0
    say "memory: $n idle container(s) per shim"
    sec="Memory per shim, idle container, N=$n"
    for s in "${SHIMS[@]}"; do pids[$s]=; done
    for ((i = 1; i <= n; i++)); do
        for s in "${SHIMS[@]}"; do
            id=m$n-$s-$i
            start_idle "$s" "$id"
            pids[$s]+=" $SPID"
        done
    done
    sleep 2
    for s in "${SHIMS[@]}"; do
        for pid in ${pids[$s]}; do
            record "N=$n: RSS" KiB "$(label "$s")" "$(smaps_field "$pid" Rss)"
            record "N=$n: PSS" KiB "$(label "$s")" "$(smaps_field "$pid" Pss)"
            record "N=$n: Private_Dirty" KiB "$(label "$s")" "$(smaps_field "$pid" Private_Dirty)"
            record "N=$n: threads" count "$(label "$s")" "$(threads "$pid")"
        done
    done
    for m in RSS PSS Private_Dirty threads; do
        meta "N=$n: $m" section "$sec"
        meta "N=$n: $m" ref "$L_TETHER"
        if [ "$m" = PSS ] && [ "$n" -gt 1 ]; then
            meta "N=$n: $m" chart "memory|Memory per shim: PSS, $n idle containers per shim"
        fi
    done
    if [ "$n" -gt 1 ]; then
        say "idle wakeups over $MEM_IDLE s"
        for s in "${SHIMS[@]}"; do
            for pid in ${pids[$s]}; do
                sw0[$pid]=$(switches "$pid")
                cpu0[$pid]=$(cpu_ticks "$pid")
            done
        done
        sleep "$MEM_IDLE"
        for s in "${SHIMS[@]}"; do
            for pid in ${pids[$s]}; do
                record "idle $MEM_IDLE s: context switches" count "$(label "$s")" \
                    "$(($(switches "$pid") - sw0[$pid]))"
                record "idle $MEM_IDLE s: CPU time" ms "$(label "$s")" \
                    "$((($(cpu_ticks "$pid") - cpu0[$pid]) * 1000 / CLK_TCK))"
            done
        done
        sec="Idle wakeups per shim over $MEM_IDLE s (N=$n)"
        meta "idle $MEM_IDLE s: context switches" section "$sec"
        meta "idle $MEM_IDLE s: CPU time" section "$sec"
        meta "idle $MEM_IDLE s: context switches" ref "$L_TETHER"
        meta "idle $MEM_IDLE s: CPU time" ref "$L_TETHER"
    fi
    for ((i = 1; i <= n; i++)); do
        for s in "${SHIMS[@]}"; do "${s}_stop" "m$n-$s-$i"; done
    done
}

# --- lifecycle of a `true` container -------------------------------------------------------
LIFE_M="lifecycle of true"
LAUNCH_M="part of it: starting the shim"
life_subjects() {
    echo "run" "steps"
    if [ "$CRUN_OK" = 1 ]; then echo "crun"; fi
    echo "tether" "tetherctl" "conmon" "ctd" "launch"
}

life_label() {
    case $1 in
    run) echo "floor: runc run" ;;
    steps) echo "runc create+start+delete" ;;
    crun) echo "crun run" ;;
    tether) echo "tether (protocol client)" ;;
    tetherctl) echo "tether (tetherctl run)" ;;
    conmon) echo "conmon + runc start/delete" ;;
    ctd) echo "containerd-shim-runc-v2 (ctr run --rm)" ;;
    launch) echo "tether-shim start alone (spawn to socket ready)" ;;
    esac
}

# life_once SUBJECT ID: prints nanoseconds.
life_once() {
    case $1 in
    run) timeout -k 5 120 "$BB/benchlife" cmd "$RUNC" --root "$RUNC_ROOT" run --bundle "$BUNDLE_TRUE" "$2" ;;
    steps) timeout -k 5 120 "$BB/benchlife" runc-steps "$RUNC" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/pids/$2" ;;
    crun) timeout -k 5 120 "$BB/benchlife" cmd crun --root "$RUN/crun" run --bundle "$BUNDLE_TRUE" "$2" ;;
    tether) timeout -k 5 120 "$BB/benchlife" tether "$BIN/tether-shim" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/life" ;;
    tetherctl)
        timeout -k 5 120 "$BB/benchlife" cmd "$BIN/tetherctl" --state-dir "$RUN/life" run "$2" \
            --bundle "$BUNDLE_TRUE" --runtime-root "$RUNC_ROOT"
        ;;
    launch) timeout -k 5 120 "$BB/benchlife" launch "$BIN/tether-shim" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/life" ;;
    conmon) timeout -k 5 120 "$BB/benchlife" conmon "$RUNC" "$RUNC_ROOT" "$BUNDLE_TRUE" "$2" "$RUN/conmon/$2" ;;
    ctd)
        timeout -k 5 120 "$BB/benchlife" cmd "${CTR[@]}" run --rm --log-uri "file://$RUN/ctd-logs/$2.log" \
            --runc-root "$CTD_RUNC_ROOT" "$IMAGE" "$2" true
        ;;
    esac
}

phase_lifecycle() {
    local rep s id ns
    local -a subjects
    mapfile -t subjects < <(life_subjects | tr ' ' '\n')
    say "lifecycle: ${subjects[*]}, $WARMUP warm-up + $LIFE_REPS runs each, interleaved"
    for ((rep = -WARMUP; rep < LIFE_REPS; rep++)); do
        for s in "${subjects[@]}"; do
            id=l-$s-$((rep + WARMUP))
            ns=$(life_once "$s" "$id") || die "lifecycle $s failed"
            rm -rf "${RUN:?}/life/$id" "${RUN:?}/conmon/$id" "$RUN/pids/$id" "$RUN/ctd-logs/$id.log"
            if [ "$rep" -lt 0 ]; then
                continue
            elif [ "$s" = launch ]; then
                record "$LAUNCH_M" ms "$(life_label "$s")" "$(ns_to_ms "$ns")"
            else
                record "$LIFE_M" ms "$(life_label "$s")" "$(ns_to_ms "$ns")"
            fi
        done
    done
    meta "$LIFE_M" section "Lifecycle latency: create, start, wait, delete of a \`true\` container"
    meta "$LIFE_M" floor "$(life_label run)"
    meta "$LIFE_M" ref "$(life_label tether)"
    meta "$LIFE_M" chart "lifecycle|Lifecycle of a true container: create, start, wait, delete"
    meta "$LAUNCH_M" section "Lifecycle latency: create, start, wait, delete of a \`true\` container"
}

# --- exit notification latency -------------------------------------------------------------
EXIT_EV="exit -> event at a client"
EXIT_FILE="exit -> exit file"

phase_exit() {
    local rep id out
    say "exit notification: $EXIT_REPS runs per shim, interleaved"
    for ((rep = -1; rep < EXIT_REPS; rep++)); do
        id=x-t-$((rep + 1))
        start_idle tether "$id"
        out=$(timeout -k 5 120 "$BB/exitlat" --pid "$CPID" --file "$TSTATE/$id/exit.json" \
            --tether "$TSTATE/$id/shim.sock") || die "exitlat (tether) failed"
        tether_stop "$id"
        if [ "$rep" -ge 0 ]; then
            record "$EXIT_EV" ms "tether (subscribe)" "$(ns_to_ms "$(awk '$1 == "event" { print $2 }' <<<"$out")")"
            record "$EXIT_FILE" ms "tether (exit.json)" "$(ns_to_ms "$(awk '$1 == "file" { print $2 }' <<<"$out")")"
        fi

        id=x-c-$((rep + 1))
        start_idle conmon "$id"
        out=$(timeout -k 5 120 "$BB/exitlat" --pid "$CPID" --file "$RUN/conmon/$id/exit/$id") ||
            die "exitlat (conmon) failed"
        conmon_stop "$id"
        if [ "$rep" -ge 0 ]; then
            record "$EXIT_FILE" ms "conmon (exit-dir file)" \
                "$(ns_to_ms "$(awk '$1 == "file" { print $2 }' <<<"$out")")"
        fi

        id=x-d-$((rep + 1))
        start_idle ctd "$id"
        out=$(timeout -k 5 120 "$BB/exitlat" --pid "$CPID" --events-cmd "${CTR[*]} events" \
            --events-ready "${CTR[*]} containers label $id bench=ready" \
            --events-match "/tasks/exit {\"container_id\":\"$id\"") ||
            die "exitlat (containerd) failed"
        ctd_stop "$id"
        if [ "$rep" -ge 0 ]; then
            record "$EXIT_EV" ms "containerd-shim-runc-v2 (ctr events)" \
                "$(ns_to_ms "$(awk '$1 == "event" { print $2 }' <<<"$out")")"
        fi
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

log_label() {
    case $1 in
    floor) echo "floor: runc run | cat" ;;
    raw) echo "tether raw" ;;
    cri) echo "tether cri" ;;
    conmon) echo "conmon k8s-file" ;;
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
    conmon)
        timeout -k 5 900 "$BB/logbench" conmon "$RUNC" "$RUNC_ROOT" "$bundle" "$2" \
            "$RUN/conmon/$2" "$log"
        ;;
    esac
}

phase_log() {
    local rep s id out secs bytes
    say "log throughput: $((LOG_BYTES / 1048576)) MiB of 100-byte lines, $LOG_REPS runs each"
    for ((rep = 0; rep < LOG_REPS; rep++)); do
        for s in floor raw cri conmon; do
            id=g-$s-$rep
            sync
            out=$(log_once "$s" "$id") || die "log throughput ($s) failed"
            rm -rf "$WS/logs/$id.log" "${RUN:?}/life/$id" "${RUN:?}/conmon/$id"
            secs=$(awk '$1 == "seconds" { print $2 }' <<<"$out")
            bytes=$(awk '$1 == "log_bytes" { print $2 }' <<<"$out")
            case $s in
            raw) [ "$bytes" = "$LOG_BYTES" ] || die "tether raw log holds $bytes bytes, not $LOG_BYTES" ;;
            cri | conmon) [ "$bytes" -gt "$LOG_BYTES" ] || die "$s log holds only $bytes bytes" ;;
            esac
            record "$LOG_T" s "$(log_label "$s")" "$secs"
            record "$LOG_RATE" MiB/s "$(log_label "$s")" \
                "$(awk -v b="$LOG_BYTES" -v s="$secs" 'BEGIN { printf "%.0f", b / 1048576 / s }')"
            record "$LOG_CPU" s "$(log_label "$s")" \
                "$(awk '$1 == "cpu_ms" { printf "%.2f", $2 / 1000 }' <<<"$out")"
            record "$LOG_HWM" KiB "$(log_label "$s")" "$(awk '$1 == "hwm_kb" { print $2 }' <<<"$out")"
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
    # amount, once each, against the peak RSS of the full runs above.
    for s in raw cri conmon; do
        id=h-$s
        out=$(log_once "$s" "$id" "$BUNDLE_LOG_SMALL") || die "log throughput ($s, small) failed"
        rm -rf "$WS/logs/$id.log" "${RUN:?}/life/$id" "${RUN:?}/conmon/$id"
        record "$LOG_HWM_SMALL" KiB "$(log_label "$s")" "$(awk '$1 == "hwm_kb" { print $2 }' <<<"$out")"
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
