#!/usr/bin/env bash
# Runs a real busybox container through tether-shim and shows what happened: the shim's
# events, the container's log and its exit code. Installs what it needs on Debian 12
# (as root), builds tether, and cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/deps.sh build
build=${TETHER_BUILD_DIR:-build/demo}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTETHER_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
bin=$PWD/$build/bin

work=$(mktemp -d /tmp/tether-demo.XXXXXX)
cleanup() {
    "$bin/tetherctl" --state-dir "$work/state" shutdown demo --force >/dev/null 2>&1 || true
    runc --root "$work/runc" delete --force demo >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== building a busybox bundle in $work/bundle"
hack/mkbundle.sh "$work/bundle" -- sh -c \
    'echo "hello from $(hostname), pid $$"; echo "this goes to stderr" >&2;
     sleep 1 & echo "an orphan the shim will reap"; sleep 0.2; exit 3' >/dev/null

echo "== tetherctl run demo --events (runc, through tether-shim)"
set +e
"$bin/tetherctl" --state-dir "$work/state" run demo --bundle "$work/bundle" \
    --runtime-root "$work/runc" --events
status=$?
set -e

echo "== the container log ($work/state/demo/container.log, CRI format)"
cat "$work/state/demo/container.log"
echo "== exit.json, written before the exit event was published"
cat "$work/state/demo/exit.json"
echo "== the container exited with status $status"
