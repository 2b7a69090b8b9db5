#!/usr/bin/env bash
# The Debian package end to end, as a user gets it: builds it (hack/package.sh, lintian
# included), installs it with apt-get, reads its man pages and loads its bash completion,
# runs a busybox container through the installed /usr/bin/tetherctl with --init (so the
# installed tether-init is PID 1) and a PATH with nothing of the build tree, then through
# containerd (the packaged shim) and podman (the packaged monitor), purges the
# package and checks that nothing of it, and nothing of the container, is left. Cleans up
# after itself when it fails too. hack/test.sh runs it.
# Usage: tests/package/check_package.sh [OUT_DIR]   (as root; default build/package)
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.."

out=${1:-build/package}
id=tether-package-check-$$
state=/run/tether
started=$SECONDS

fail() {
    echo "check_package: $*" >&2
    exit 1
}
installed() {
    dpkg-query -W -f='${Status}' tether 2>/dev/null | grep -q 'install ok installed'
}

[ "$(id -u)" -eq 0 ] || fail "needs root (apt-get, containers)"
# Never remove a tether that someone installed on purpose.
if dpkg-query -W -f='${Status}' tether 2>/dev/null | grep -qv 'not-installed'; then
    fail "a tether package is on this machine already; remove it first (apt-get purge tether)"
fi
made_state=0
[ -d "$state" ] || made_state=1
work=$(mktemp -d /tmp/tether-package-XXXXXX)
we_installed=0

cleanup() {
    local status=$?
    if [ -x /usr/bin/tetherctl ]; then
        /usr/bin/tetherctl shutdown "$id" --force >/dev/null 2>&1 || true
    fi
    runc --root "$work/runc" delete --force "$id" >/dev/null 2>&1 || true
    rm -rf "${state:?}/$id"
    if [ "$made_state" = 1 ]; then
        rmdir "$state" 2>/dev/null || true
    fi
    if [ "$we_installed" = 1 ] && installed; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq tether >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

# 1. Build (and lint) the package.
deb=$(hack/package.sh "$out" | tail -n 1)
[ -f "$deb" ] || fail "hack/package.sh made no package (last line: $deb)"
echo "check_package: built $deb ($((SECONDS - started))s)"

# 2. Install it as a user would.
we_installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$work/install.log" 2>&1 ||
    fail "apt-get install $deb failed: $(tail -n 20 "$work/install.log")"
installed || fail "tether is not installed after apt-get install"
dpkg -L tether | sort >"$work/files"
[ "$(dpkg -S /usr/bin/tetherctl | cut -d: -f1)" = tether ] ||
    fail "/usr/bin/tetherctl does not belong to the package"
for f in /usr/bin/tetherctl /usr/bin/tether-shim /usr/libexec/tether/tether-init \
    /usr/share/bash-completion/completions/tetherctl /usr/share/doc/tether/copyright; do
    grep -qxF "$f" "$work/files" || fail "the package has no $f"
done
for page in tetherctl tether-shim tether-init tether-protocol; do
    path=$(man -w "$page" 2>/dev/null) || fail "man -w $page finds nothing"
    case $path in
    /usr/share/man/*) ;;
    *) fail "man -w $page gives $path, not a page of the package" ;;
    esac
done
MANWIDTH=80 man -P cat tetherctl 2>/dev/null | grep -q 'command-line client of tether-shim' ||
    fail "man tetherctl does not render"
bash -c 'source /usr/share/bash-completion/completions/tetherctl && complete -p tetherctl' \
    >/dev/null || fail "the bash completion does not load"
echo "check_package: installed; man pages and completion in place"

# 3. A container through the installed tetherctl, with only the system's directories on
# PATH and no TETHER_SHIM: the shim beside it and the init in /usr/libexec/tether.
# shellcheck disable=SC2016 # expanded by the container's shell
hack/mkbundle.sh "$work/bundle" -- sh -c \
    'echo "hello from $(hostname)"; grep " /dev/tether-init " /proc/self/mountinfo |
     cut -d" " -f4; echo "pid1: $(tr "\0" " " </proc/1/cmdline)"; exit 3' >/dev/null
status=0
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    /usr/bin/tetherctl run "$id" --bundle "$work/bundle" --runtime-root "$work/runc" --init -i \
    </dev/null >"$work/out" 2>"$work/err" || status=$?
[ "$status" -eq 3 ] || fail "tetherctl run exited $status, not 3: $(cat "$work/err")"
grep -qx 'hello from runc' "$work/out" || fail "unexpected output: $(cat "$work/out")"
grep -q '^pid1: /dev/tether-init -- sh -c' "$work/out" ||
    fail "PID 1 was not tether-init: $(cat "$work/out")"
grep -qx '/usr/libexec/tether/tether-init' "$work/out" ||
    fail "the container did not get /usr/libexec/tether/tether-init: $(cat "$work/out")"
grep -q 'stdout F hello from runc' "$state/$id/container.log" ||
    fail "no output in $state/$id/container.log"
echo "check_package: a container ran through /usr/bin/tetherctl run --init (exit 3)"
# What the container leaves on purpose (exit.json, its log) is removed like an engine would.
rm -rf "${state:?}/$id"
if [ "$made_state" = 1 ]; then
    rmdir "$state" || fail "$state is not empty: $(ls -A "$state")"
fi

# 3b. The front ends for the engines, as installed: containerd finds the packaged shim on
# its PATH, podman the packaged monitor at the path containers.conf gives.
tests/package/check_containerd.sh || fail "containers through containerd failed (see above)"
tests/package/check_podman.sh >"$work/podman.log" 2>&1 ||
    fail "containers through podman failed: $(tail -n 20 "$work/podman.log")"
echo "check_package: podman ran containers on /usr/libexec/tether/tether-conmon (exit 3)"

# 4. Purge, and nothing of the package is left: every file gone, every directory too
# unless another package owns it.
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq tether >"$work/purge.log" 2>&1 ||
    fail "apt-get purge tether failed: $(tail -n 20 "$work/purge.log")"
we_installed=0
! installed || fail "tether is still installed after apt-get purge"
left=()
while read -r path; do
    [ "$path" != /. ] || continue
    [ -e "$path" ] || [ -L "$path" ] || continue
    if [ -d "$path" ] && [ ! -L "$path" ] && dpkg-query -S "$path" >/dev/null 2>&1; then
        continue # shared with other packages
    fi
    left+=("$path")
done <"$work/files"
[ ${#left[@]} -eq 0 ] || fail "left after purge: ${left[*]}"
[ ! -e "$state/$id" ] || fail "$state/$id is left"
[ "$made_state" = 0 ] || [ ! -e "$state" ] || fail "$state is left"
echo "check_package: purged, nothing left ($((SECONDS - started))s in all)"
