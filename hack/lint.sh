#!/usr/bin/env bash
# Static checks of every C source: clang-format (the committed .clang-format), cppcheck and
# clang-tidy (the committed .clang-tidy, on the compile commands of a build). Fails on any
# finding. Usage: hack/lint.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build/lint}
mapfile -t sources < <(git ls-files '*.c' '*.h')
fail=0

echo "lint: clang-format (${#sources[@]} files)"
if ! clang-format --dry-run -Werror "${sources[@]}"; then
    fail=1
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
# Apart from the generated protobuf-c headers the containerd front end includes, nothing
# needs to be compiled: the compile database is all clang-tidy needs.
if grep -q '^TETHER_CONTAINERD:BOOL=ON$' "$build/CMakeCache.txt"; then
    if ! out=$(cmake --build "$build" --target tether_containerd_proto_gen 2>&1); then
        printf '%s\n' "$out" >&2
        exit 1
    fi
fi
# clang-tidy reads the product code; cmocka's assertions are not known to end a test, so
# its analyzer would flag every pointer a test checked for NULL (cppcheck reads the tests).
mapfile -t units < <(git ls-files 'shim/*.c' 'runtime/*.c' 'api/*.c' | grep -v '^shim/init/')

echo "lint: cppcheck"
# In tests, cmocka's fail_msg() and assertions leave the test by longjmp, which cppcheck
# does not know: what it then calls leaks and double frees in tests/ is not.
if ! cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
    --enable=warning,performance,portability \
    --suppress=missingIncludeSystem --suppress=unknownMacro \
    --suppress='memleak:tests/*' --suppress='doubleFree:tests/*' \
    -D_GNU_SOURCE -DTETHER_VERSION='"lint"' -I include -I shim/core -I shim/jsonrpc -I shim/init \
    "${sources[@]}"; then
    fail=1
fi

echo "lint: clang-tidy (${#units[@]} translation units)"
if ! printf '%s\n' "${units[@]}" |
    xargs -P "$(nproc)" -n 8 clang-tidy -p "$build" --quiet 2>/dev/null; then
    fail=1
fi
# tether-init is built by its own command (musl); check it with the flags it uses.
for f in shim/init/*.c; do
    if ! clang-tidy --quiet "$f" -- -std=gnu11 -D_GNU_SOURCE -Ishim/init 2>/dev/null; then
        fail=1
    fi
done

if [ "$fail" -ne 0 ]; then
    echo "lint: findings above" >&2
    exit 1
fi
echo "lint: clean"
