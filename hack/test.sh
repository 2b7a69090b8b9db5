#!/usr/bin/env bash
# Installs what the tests need, builds with ASan+UBSan and warnings as errors, and runs
# every test: unit (cmocka) and integration (real runc/crun containers) through ctest,
# then the static checks (hack/lint.sh), a short fuzz run (hack/fuzz.sh), the memcheck
# run (hack/valgrind.sh), the benchmark harness in its quick mode (hack/bench/run.sh
# --quick: it proves the harness works; its figures are not checked) and the Debian
# package end to end (tests/package/check_package.sh: build, lintian, install, a
# container, purge). Needs root (containers, apt-get). The closing line is ctest's summary.
# TETHER_TEST_QUICK=1 skips lint, fuzz, valgrind, the benchmark and the package (a fast
# local loop).
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh test
build=${TETHER_BUILD_DIR:-build/test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTETHER_SANITIZE=ON -DTETHER_WERROR=ON \
    >/dev/null
cmake --build "$build" -j"$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

extra=0
if [ "${TETHER_TEST_QUICK:-0}" != 1 ]; then
    hack/lint.sh || extra=1
    hack/fuzz.sh "${TETHER_FUZZ_SECONDS:-60}" || extra=1
    hack/valgrind.sh || extra=1
    hack/bench/run.sh --quick || extra=1
    tests/package/check_package.sh || extra=1
fi

# ctest last, so that its summary is the run's closing line.
status=0
ctest --test-dir "$build" --output-on-failure -j2 --timeout 900 || status=$?
if [ "$extra" -ne 0 ]; then
    echo "hack/test.sh: lint, fuzz, valgrind, the benchmark harness or the package check" \
        "failed (see above)" >&2
    exit 1
fi
exit "$status"
