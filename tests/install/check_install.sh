#!/usr/bin/env bash
# An installed tether works with nothing from the build tree. Installs BUILD_DIR with
# `cmake --install --prefix` into a temporary directory, checks the layout, then runs
# busybox containers through PREFIX/bin/tetherctl with only the system's directories on
# PATH, and checks that:
#   - the installed tether-shim ran them (its /proc/PID/exe), found beside tetherctl;
#   - create --init put PREFIX/libexec/tether/tether-init in front of the container's
#     process (the container's own mountinfo names the bind mount's source), even with
#     another tether-init beside tether-shim;
#   - without the installed one, the one beside tether-shim is used (a build tree's
#     layout), and without either the error names the installed path.
# Usage: tests/install/check_install.sh CMAKE BUILD_DIR SOURCE_DIR
# Needs root, runc and busybox-static; exits 77 (skipped) when not root.
set -euo pipefail
export LC_ALL=C

if [ $# -ne 3 ]; then
    echo "usage: $0 CMAKE BUILD_DIR SOURCE_DIR" >&2
    exit 2
fi
cmake=$1
build=$(cd "$2" && pwd)
src=$(cd "$3" && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "check_install: skipped: containers need root"
    exit 77
fi

work=$(mktemp -d /tmp/tether-install-XXXXXX)
prefix=$work/prefix
state=$work/state
ids=()
cleanup() {
    local id
    for id in "${ids[@]}"; do
        "$prefix/bin/tetherctl" --state-dir "$state" shutdown "$id" --force >/dev/null 2>&1 ||
            true
        runc --root "$work/runc" delete --force "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "check_install: $*" >&2
    exit 1
}

# tetherctl from the prefix, with a clean environment: nothing of the build tree on PATH,
# no TETHER_SHIM.
ctl() {
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        "$prefix/bin/tetherctl" --state-dir "$state" "$@"
}

"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log" ||
    fail "cmake --install failed: $(cat "$work/install.log")"

# The layout: every file installed, and nothing else.
(cd "$prefix" && find . -type f | sed 's|^\./||' | sort) >"$work/files"
# The front ends built in this tree (they are options) come with their man pages.
fronts=()
[ -x "$build/bin/containerd-shim-tether-v2" ] &&
    fronts+=(bin/containerd-shim-tether-v2 share/man/man8/containerd-shim-tether-v2.8)
[ -x "$build/bin/tether-conmon" ] &&
    fronts+=(libexec/tether/tether-conmon share/man/man8/tether-conmon.8)
for want in "${fronts[@]}" bin/tetherctl bin/tether-shim libexec/tether/tether-init \
    share/man/man1/tetherctl.1 share/man/man1/tether-init.1 share/man/man7/tether-protocol.7 \
    share/man/man8/tether-shim.8 share/bash-completion/completions/tetherctl \
    share/doc/tether/PROTOCOL.md share/doc/tether/schemas/create.params.json \
    share/doc/tether/examples/containerd-tether.toml \
    share/doc/tether/examples/containers.conf.d/tether.conf; do
    grep -qxF "$want" "$work/files" || fail "not installed: $want"
done
unexpected=$(grep -vE '^(bin/(tetherctl|tether-shim|containerd-shim-tether-v2)|libexec/tether/(tether-init|tether-conmon)|share/man/man[178]/[a-z0-9-]+\.[178]|share/bash-completion/completions/tetherctl|share/doc/tether/(PROTOCOL\.md|schemas/[a-z_.]+\.json|examples/.+))$' \
    "$work/files" || true)
[ -z "$unexpected" ] || fail "installed but not expected: $unexpected"
for f in bin/tetherctl bin/tether-shim libexec/tether/tether-init; do
    [ -x "$prefix/$f" ] || fail "$f is not executable"
done

# The container prints the source of its /dev/tether-init mount (the mount's root within
# its file system, which ends with the host path's tail) and what runs as its PID 1.
# shellcheck disable=SC2016 # expanded by the container's shell
"$src/hack/mkbundle.sh" "$work/bundle" -- sh -c \
    'grep " /dev/tether-init " /proc/self/mountinfo | cut -d" " -f4;
     echo "pid1: $(tr "\0" " " </proc/1/cmdline)"; exit 7' >/dev/null
tail_of() { # the part of a path under /tmp, which a tmpfs /tmp shows as its root
    printf '%s\n' "${1#/tmp}"
}

# Runs container $1 with --init; $2 is the exit status expected. Leaves its log in
# $work/$1.log.
run_init() {
    local id=$1 want=$2 status=0
    ids+=("$id")
    ctl run "$id" --bundle "$work/bundle" --runtime-root "$work/runc" --init \
        >"$work/$id.out" 2>"$work/$id.err" || status=$?
    [ "$status" -eq "$want" ] ||
        fail "run $id --init exited $status, not $want: $(cat "$work/$id.err")"
    if [ "$want" -eq 7 ]; then
        cp "$state/$id/container.log" "$work/$id.log"
        grep -q 'pid1: /dev/tether-init -- sh -c' "$work/$id.log" ||
            fail "$id: PID 1 was not tether-init: $(cat "$work/$id.log")"
    fi
}

# 1. create, start, wait, delete, shutdown: the installed shim, the installed init.
ids+=(c1)
ctl create c1 --bundle "$work/bundle" --runtime-root "$work/runc" --init >/dev/null ||
    fail "create c1 --init failed"
shim_pid=$(cat "$state/c1/shim.pid")
shim_exe=$(readlink "/proc/$shim_pid/exe")
[ "$shim_exe" = "$prefix/bin/tether-shim" ] ||
    fail "the shim that ran c1 is $shim_exe, not $prefix/bin/tether-shim"
ctl start c1 >/dev/null || fail "start c1 failed"
status=0
ctl wait c1 >/dev/null || status=$?
[ "$status" -eq 7 ] || fail "wait c1: status $status, not 7"
grep -q 'pid1: /dev/tether-init -- sh -c' "$state/c1/container.log" ||
    fail "c1: PID 1 was not tether-init: $(cat "$state/c1/container.log")"
grep -qF "$(tail_of "$prefix/libexec/tether/tether-init")" "$state/c1/container.log" ||
    fail "c1 did not get $prefix/libexec/tether/tether-init: $(cat "$state/c1/container.log")"
ctl delete c1 >/dev/null || fail "delete c1 failed"
ctl shutdown c1 >/dev/null || fail "shutdown c1 failed"

# 2. The installed tether-init wins over one beside tether-shim (a decoy that exits 99).
printf '#!/bin/sh\nexit 99\n' >"$prefix/bin/tether-init"
chmod 755 "$prefix/bin/tether-init"
run_init c2 7
grep -qF "$(tail_of "$prefix/libexec/tether/tether-init")" "$work/c2.log" ||
    fail "c2 did not get $prefix/libexec/tether/tether-init: $(cat "$work/c2.log")"

# 3. Without it, the one beside tether-shim: the build tree's layout.
cp "$build/bin/tether-init" "$prefix/bin/tether-init"
rm "$prefix/libexec/tether/tether-init"
run_init c3 7
grep -qF "$(tail_of "$prefix/bin/tether-init")" "$work/c3.log" ||
    fail "c3 did not get $prefix/bin/tether-init: $(cat "$work/c3.log")"

# 4. With neither, create fails and says where tether-init was expected.
rm "$prefix/bin/tether-init"
ids+=(c4)
status=0
ctl run c4 --bundle "$work/bundle" --runtime-root "$work/runc" --init \
    >/dev/null 2>"$work/c4.err" || status=$?
[ "$status" -ne 0 ] || fail "run c4 --init without any tether-init succeeded"
grep -qF "$prefix/libexec/tether/tether-init" "$work/c4.err" ||
    fail "c4's error does not name $prefix/libexec/tether/tether-init: $(cat "$work/c4.err")"

echo "check_install: installed tree works alone (tether-shim beside tetherctl," \
    "tether-init from libexec/tether, then beside the shim)"
