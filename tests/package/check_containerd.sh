#!/usr/bin/env bash
# With the Debian package installed: a private containerd, whose PATH holds only the
# system's directories, runs a busybox task with the runtime io.containerd.tether.v2, so it
# finds the packaged /usr/bin/containerd-shim-tether-v2. Checks the task's output and exit
# code and that the shim that served it was the packaged binary. Leaves nothing behind.
# Run by tests/package/check_package.sh while the package is installed (as root).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."

fail() {
    echo "check_containerd: $*" >&2
    exit 1
}

[ -x /usr/bin/containerd-shim-tether-v2 ] || fail "the package has no containerd shim"
work=$(mktemp -d /tmp/tether-pkg-ctd-XXXXXX)
sock=$work/c.sock
ns=tether-package
image=docker.io/tether-package/busybox:latest
ctd=
ctr_() { timeout 60 ctr --address "$sock" -n "$ns" "$@"; }

cleanup() {
    local status=$? id m
    if [ -n "$ctd" ]; then
        for id in $(ctr_ task ls -q 2>/dev/null); do ctr_ task rm -f "$id" >/dev/null 2>&1; done
        for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$id" >/dev/null 2>&1; done
        kill "$ctd" 2>/dev/null && wait "$ctd" 2>/dev/null
    fi
    # Shims of this containerd (there should be none left) and its mounts.
    pkill -KILL -f -- "-address $sock" 2>/dev/null || true
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m"; done
    rm -rf "$work"
    # runc's root of this namespace, which the shim made (only when empty: nothing left in it).
    rmdir "/run/containerd/runc/$ns" 2>/dev/null
    exit "$status"
}
trap cleanup EXIT

hack/mkbundle.sh "$work/bundle" -- true >/dev/null
hack/bench/mkimage.sh "$work/bundle/rootfs" "$work/image.tar" "$image"
cat >"$work/config.toml" <<CONF
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
CONF
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    setsid containerd -c "$work/config.toml" >"$work/containerd.log" 2>&1 &
ctd=$!
for ((i = 0; i < 500; i++)); do
    ctr_ version >/dev/null 2>&1 && break
    kill -0 "$ctd" 2>/dev/null || fail "containerd died: $(tail -n 5 "$work/containerd.log")"
    sleep 0.02
done
ctr_ images import "$work/image.tar" >/dev/null || fail "ctr images import failed"

# A task that stays until told: its shim is the packaged binary.
ctr_ run -d --runtime io.containerd.tether.v2 "$image" pkg-sleep sleep 1000 >/dev/null ||
    fail "ctr run -d failed: $(tail -n 5 "$work/containerd.log")"
shim=$(pgrep -f -- "containerd-shim-tether-v2 .*-address $sock" | head -n 1) ||
    fail "no tether shim serves the task"
exe=$(readlink "/proc/$shim/exe")
[ "$exe" = /usr/bin/containerd-shim-tether-v2 ] || fail "the task's shim is $exe"
ctr_ task kill -s KILL pkg-sleep
ctr_ task rm -f pkg-sleep >/dev/null 2>&1 || true
ctr_ containers rm pkg-sleep

# ctr run --rm: output and exit code come back through the packaged shim.
status=0
out=$(ctr_ run --rm --runtime io.containerd.tether.v2 "$image" pkg-run \
    sh -c 'echo hello from the package; exit 3' </dev/null) || status=$?
[ "$status" -eq 3 ] || fail "ctr run exited $status, not 3"
[ "$out" = "hello from the package" ] || fail "unexpected output: $out"
for ((i = 0; i < 100; i++)); do
    pgrep -f -- "containerd-shim-tether-v2 .*-address $sock" >/dev/null || break
    sleep 0.05
done
! pgrep -f -- "containerd-shim-tether-v2 .*-address $sock" >/dev/null ||
    fail "a tether shim is left after the last task was removed"
echo "check_containerd: ctr ran tasks on /usr/bin/containerd-shim-tether-v2 (exit 3)"
