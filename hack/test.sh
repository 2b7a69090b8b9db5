#!/usr/bin/env bash
# Installs what the tests need, builds with ASan+UBSan and warnings as errors, and runs
# every test: unit (cmocka) and integration (real runc/crun containers), then a short
# fuzz run. Needs root (containers). The last line is ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh test
build=${TETHER_BUILD_DIR:-build/test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTETHER_SANITIZE=ON -DTETHER_WERROR=ON \
    >/dev/null
cmake --build "$build" -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j2 --timeout 900
