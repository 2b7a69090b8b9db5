#!/usr/bin/env bash
# Packs a root filesystem into a single-layer OCI image layout tar, offline, for
# `ctr images import`:
#
#   hack/bench/mkimage.sh ROOTFS OUT.tar NAME
#
# NAME is the full reference containerd gives the image (e.g.
# docker.io/tether-bench/busybox:latest). The layer is an uncompressed tar with fixed owner
# and mtime, so the same rootfs always gives the same digests. The image's default command
# is MKIMAGE_CMD, a JSON array (default ["sh"]; a CRI sandbox image wants one that runs until
# killed, e.g. ["sleep","1000000"]).
set -euo pipefail

[ $# -eq 3 ] || {
    echo "usage: mkimage.sh ROOTFS OUT.tar NAME" >&2
    exit 2
}
rootfs=$1
out=$2
name=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/mkimage.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/layout/blobs/sha256"

# Moves FILE into the blob store and prints "DIGEST SIZE".
add_blob() {
    local digest size
    digest=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mv "$1" "$work/layout/blobs/sha256/$digest"
    echo "$digest $size"
}

tar --sort=name --mtime=@0 --numeric-owner --owner=0 --group=0 -C "$rootfs" \
    -cf "$work/layer.tar" .
read -r layer_digest layer_size < <(add_blob "$work/layer.tar")

cmd=${MKIMAGE_CMD:-'["sh"]'}
fmt='{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":%s},'
fmt+='"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}'
# shellcheck disable=SC2059
printf "$fmt" "$cmd" "$layer_digest" >"$work/config.json"
read -r config_digest config_size < <(add_blob "$work/config.json")

fmt='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
fmt+='"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'
fmt+='"digest":"sha256:%s","size":%s},'
fmt+='"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
fmt+='"digest":"sha256:%s","size":%s}]}'
# shellcheck disable=SC2059
printf "$fmt" "$config_digest" "$config_size" "$layer_digest" "$layer_size" \
    >"$work/manifest.json"
read -r manifest_digest manifest_size < <(add_blob "$work/manifest.json")

fmt='{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",'
fmt+='"digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s",'
fmt+='"org.opencontainers.image.ref.name":"%s"}}]}'
# shellcheck disable=SC2059
printf "$fmt" "$manifest_digest" "$manifest_size" "$name" "${name##*:}" \
    >"$work/layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
tar -C "$work/layout" -cf "$out" .
