#!/usr/bin/env bash
# Installs what tether needs to build, test, demo and benchmark on Debian 12.
# Usage: hack/deps.sh [build|package|test|bench]   (each set includes build; test includes
# package, for the package check of hack/test.sh)
# Quick when everything is there already: apt runs only for missing packages.
set -euo pipefail

set_name=${1:-test}
pkgs=(build-essential cmake pkg-config libjansson-dev libseccomp-dev scdoc runc crun
      busybox-static musl-tools util-linux)
# The containerd front end (TETHER_CONTAINERD): protoc-c, libprotobuf-c and the .proto files
# of containerd 1.6 and its dependencies; ttrpc's Go sources define the frame's messages.
pkgs+=(protobuf-c-compiler libprotobuf-c-dev libprotobuf-dev
       golang-github-containerd-containerd-dev golang-github-containerd-ttrpc-dev
       golang-github-containerd-cgroups-dev golang-github-gogo-protobuf-dev
       golang-github-gogo-googleapis-dev)
# The Debian package (hack/package.sh) and lintian.
package_tools=(debhelper dpkg-dev lintian)
case "$set_name" in
build) ;;
package)
    pkgs+=("${package_tools[@]}")
    ;;
test)
    pkgs+=(libcmocka-dev clang libclang-rt-14-dev clang-format clang-tidy cppcheck valgrind)
    # tests/package/check_package.sh builds the package and reads its man pages.
    pkgs+=("${package_tools[@]}" man-db)
    # The containerd front end's tests: a private containerd driven with ctr, and through
    # its CRI plugin by a Python gRPC client (stubs generated at test time).
    pkgs+=(containerd python3-grpcio python3-grpc-tools)
    # tests/podman: the real podman on tether-conmon (and systemd's journald and journalctl,
    # jq to read the journal's JSON, for its journald driver); conmon only to compare.
    pkgs+=(podman systemd jq procps)
    ;;
bench)
    # The peers (conmon, containerd-shim-runc-v2), and podman to run conmon and tether-conmon.
    pkgs+=(libcmocka-dev conmon containerd podman gnuplot-nox)
    ;;
*)
    echo "usage: $0 [build|package|test|bench]" >&2
    exit 2
    ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "hack/deps.sh: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
fi
echo "hack/deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
