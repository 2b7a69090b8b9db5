#!/usr/bin/env bash
# Runs every unit test, and container lifecycles with tether-shim --foreground, under
# valgrind's memcheck in a build without sanitizers (valgrind cannot run ASan binaries).
# Fails on any memcheck error or definite leak, and on any test failure.
# Usage: hack/valgrind.sh     (build dir: $TETHER_VALGRIND_BUILD_DIR, default build/valgrind)
# Needs root for the container lifecycle (tests/integration/it_hard_valgrind.c).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${TETHER_VALGRIND_BUILD_DIR:-build/valgrind}
command -v valgrind >/dev/null || {
    echo "valgrind: not installed (hack/deps.sh test installs it)" >&2
    exit 1
}

units=() # CMake targets <part>_test_<module>; binaries in tests/unit/<part>/
for src in tests/unit/*/test_*.c; do
    part=$(basename "$(dirname "$src")")
    units+=("${part}_$(basename "$src" .c)")
done
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTETHER_SANITIZE=OFF -DTETHER_WERROR=ON \
    >/dev/null
cmake --build "$build" -j"$(nproc)" --target tether-shim tether-init it_hard_valgrind \
    "${units[@]}" >/dev/null

vg=(valgrind --quiet --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --error-exitcode=99 --child-silent-after-fork=yes
    --num-callers=30)
fail=0
for t in "${units[@]}"; do
    start=$SECONDS
    if "${vg[@]}" "$build/tests/unit/${t%%_*}/${t#*_}" >"$build/$t.valgrind.log" 2>&1; then
        echo "valgrind: $t ok ($((SECONDS - start))s)"
    else
        echo "valgrind: $t FAILED (exit $?):" >&2
        tail -n 60 "$build/$t.valgrind.log" >&2
        fail=1
    fi
done

start=$SECONDS
if TETHER_VALGRIND=1 TETHER_BIN_DIR="$build/bin" "$build/bin/it_hard_valgrind" \
    >"$build/it_hard_valgrind.log" 2>&1; then
    echo "valgrind: tether-shim lifecycles ok ($((SECONDS - start))s)"
else
    echo "valgrind: tether-shim lifecycles FAILED:" >&2
    tail -n 80 "$build/it_hard_valgrind.log" >&2
    fail=1
fi
if [ "$fail" -ne 0 ]; then
    echo "valgrind: failures above (logs in $build/*.log)" >&2
    exit 1
fi
echo "valgrind: clean"
