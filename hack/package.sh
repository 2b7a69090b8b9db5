#!/usr/bin/env bash
# Builds the Debian package tether_<version>_<arch>.deb from debian/ with dpkg-buildpackage
# (debhelper, the CMake build in Release, no tests) in a copy of the source, and checks it
# with lintian, failing on any error. Installs what it needs on Debian 12 (as root).
# Prints the package's path on its last line.
# Usage: hack/package.sh [OUT_DIR]      (default build/package)
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "package: $*" >&2
    exit 1
}

out=${1:-build/package}
hack/deps.sh package

version=$(sed -n 's/^project(tether VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || die "no project(tether VERSION ...) in CMakeLists.txt"
changelog=$(dpkg-parsechangelog -l debian/changelog -S Version)
[ "$changelog" = "$version" ] ||
    die "debian/changelog is at $changelog, CMakeLists.txt at $version: add an entry" \
        "(dch -v $version)"
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
deb=tether_${version}_${arch}.deb

# dpkg-buildpackage works in the source tree and writes next to it: both go under OUT_DIR,
# so the checkout stays clean. The copy holds what git tracks plus new files not ignored.
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/src/tether-$version
rm -rf "$out/src"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xf - -C "$src"
else
    tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$src"
fi

echo "package: dpkg-buildpackage in $src"
log=$out/build.log
if ! (cd "$src" &&
    DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }nocheck parallel=$(nproc)" \
        dpkg-buildpackage -us -uc -b) >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    die "dpkg-buildpackage failed (whole log: $log)"
fi
rm -f "$out"/tether*.deb "$out"/tether*.ddeb "$out"/tether*.changes "$out"/tether*.buildinfo
mv "$out/src"/tether*.deb "$out/src"/tether*.changes "$out/src"/tether*.buildinfo "$out"/
mv "$out/src"/tether*.ddeb "$out"/ 2>/dev/null || true
[ -f "$out/$deb" ] || die "dpkg-buildpackage made no $deb (log: $log)"
rm -rf "$out/src"

echo "package: lintian $deb"
lintian --allow-root --fail-on error --display-info "$out/$deb" ||
    die "lintian found errors in $out/$deb"
echo "$out/$deb"
