#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, ASan and UBSan, replays their seed corpora, then
# fuzzes for SECONDS (default 60) in all, split between the targets, each on a copy of its
# corpus (the repository's corpora are never touched):
#   fuzz_rpc    tether-shim's input path (line framer, JSON-RPC decoding, every method's
#               parameter validation), corpus tests/fuzz/corpus/;
#   fuzz_ttrpc  containerd-shim-tether-v2's (ttrpc frames, Request decoding, the Task
#               methods), corpus tests/fuzz/corpus_ttrpc/.
# Exits non-zero on a crash, a leak, a hang or an input that broke a target's own checks;
# the input that did it is kept in the work directory printed at the end, ready to become
# a crash-<what> file of that target's corpus.
# Usage: hack/fuzz.sh [SECONDS]     (build dir: $TETHER_FUZZ_BUILD_DIR, default build/fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
case "$secs" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS]" >&2
    exit 2
    ;;
esac
build=${TETHER_FUZZ_BUILD_DIR:-build/fuzz}

CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETHER_FUZZ=ON \
    -DTETHER_SANITIZE=ON -DTETHER_WERROR=ON >/dev/null
targets=(fuzz_rpc)
if grep -q '^TETHER_CONTAINERD:BOOL=ON$' "$build/CMakeCache.txt"; then
    targets+=(fuzz_ttrpc)
fi
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)" >/dev/null

work=$(mktemp -d /tmp/tether-fuzz-run-XXXXXX)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# corpus_of TARGET: its seed corpus in the repository.
corpus_of() {
    case $1 in
    fuzz_rpc) echo tests/fuzz/corpus ;;
    *) echo "tests/fuzz/corpus_${1#fuzz_}" ;;
    esac
}

share=$((secs / ${#targets[@]}))
[ "$share" -ge 1 ] || share=1
for t in "${targets[@]}"; do
    corpus=$(corpus_of "$t")
    mkdir -p "$work/$t"
    cp -r "$corpus" "$work/$t/corpus"
    # Every seed (and every crash found before) first, once each.
    echo "fuzz: $t: replaying $(find "$corpus" -type f | wc -l) corpus files"
    if ! "$build/bin/$t" -runs=0 "$work/$t/corpus" >"$work/$t/replay.log" 2>&1; then
        tail -n 40 "$work/$t/replay.log" >&2
        echo "fuzz: the $t corpus replay failed; log and inputs in $work/$t" >&2
        exit 1
    fi

    echo "fuzz: $t for ${share}s"
    rc=0
    "$build/bin/$t" -max_total_time="$share" -max_len=1048576 -timeout=25 \
        -rss_limit_mb=2560 -dict="tests/fuzz/$t.dict" -artifact_prefix="$work/$t/" \
        -print_final_stats=1 "$work/$t/corpus" >"$work/$t/fuzz.log" 2>&1 || rc=$?
    grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' \
        "$work/$t/fuzz.log" || true
    if [ "$rc" -ne 0 ]; then
        tail -n 60 "$work/$t/fuzz.log" >&2
        echo "fuzz: $t failed (exit $rc); the input is in $work/$t:" >&2
        for f in "$work/$t"/crash-* "$work/$t"/leak-* "$work/$t"/timeout-* "$work/$t"/oom-* \
            "$work/$t"/slow-unit-*; do
            [ -e "$f" ] && echo "  $f" >&2
        done
        exit 1
    fi
done
rm -rf "$work"
echo "fuzz: no crash"
