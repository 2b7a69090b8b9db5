#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, ASan and UBSan, replays the seed corpus, then
# fuzzes the protocol's input path (line framer, JSON-RPC decoding, every method's
# parameter validation) for SECONDS (default 60) on a copy of the corpus, so the
# repository's corpus is never touched. Exits non-zero on a crash, a leak, a hang or an
# input that broke the target's own checks; the input that did it is kept in the work
# directory printed at the end, ready to become tests/fuzz/corpus/crash-<what>.
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
cmake --build "$build" --target fuzz_rpc -j"$(nproc)" >/dev/null

work=$(mktemp -d /tmp/tether-fuzz-run-XXXXXX)
cp -r tests/fuzz/corpus "$work/corpus"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Every seed (and every crash found before) first, once each.
echo "fuzz: replaying $(find tests/fuzz/corpus -type f | wc -l) corpus files"
if ! "$build/bin/fuzz_rpc" -runs=0 "$work/corpus" >"$work/replay.log" 2>&1; then
    tail -n 40 "$work/replay.log" >&2
    echo "fuzz: the corpus replay failed; log and inputs in $work" >&2
    exit 1
fi

echo "fuzz: fuzz_rpc for ${secs}s"
rc=0
"$build/bin/fuzz_rpc" -max_total_time="$secs" -max_len=1048576 -timeout=25 \
    -rss_limit_mb=2560 -dict=tests/fuzz/fuzz_rpc.dict -artifact_prefix="$work/" \
    -print_final_stats=1 "$work/corpus" >"$work/fuzz.log" 2>&1 || rc=$?
grep -E '^(Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb))' \
    "$work/fuzz.log" || true
if [ "$rc" -ne 0 ]; then
    tail -n 60 "$work/fuzz.log" >&2
    echo "fuzz: fuzz_rpc failed (exit $rc); the input is in $work:" >&2
    for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*; do
        [ -e "$f" ] && echo "  $f" >&2
    done
    exit 1
fi
rm -rf "$work"
echo "fuzz: no crash"
