#!/usr/bin/env bash
# With the Debian package installed: the real podman runs containers on the packaged
# /usr/libexec/tether/tether-conmon (private store and containers.conf, as tests/podman/
# sets them up). Checks output, exit code and that the monitor was the packaged binary.
# Run by tests/package/check_package.sh while the package is installed (as root).
set -uo pipefail
export LC_ALL=C
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/podman/lib.sh
source tests/podman/lib.sh
PM_CONMON=/usr/libexec/tether/tether-conmon
export PM_CONMON

test_packaged_monitor() {
    local out rc=0
    out=$(p run --rm "$PM_IMAGE" sh -c 'echo hello from the package; exit 3') || rc=$?
    expect_rc "podman run --rm" "$rc" 3
    expect_eq "its output" "$out" "hello from the package"
    p run -d --name pkg-sleep "$PM_IMAGE" sleep 1000 >/dev/null
    expect_eq "the monitor's binary" "$(pm_conmon_exe pkg-sleep)" "$PM_CONMON"
    p rm -f -t 0 pkg-sleep >/dev/null
}

[ -x "$PM_CONMON" ] || {
    echo "check_podman: the package has no $PM_CONMON" >&2
    exit 1
}
pm_setup
pm_run_tests test_packaged_monitor
