# shellcheck shell=bash
# podman with everything it keeps in one private directory DIR, and the monitor it runs
# chosen by a containers.conf of our own. Sourced by tests/podman/lib.sh (the podman tests)
# and hack/bench/run.sh (the benchmark).
#
#   pm_store_init DIR                 # DIR's directories, registries.conf, the runc wrapper
#   pm_store_conf DIR CONF MONITOR    # writes containers.conf CONF: podman runs MONITOR
#   pm_store_flags DIR                # PM_FLAGS: podman's global options for DIR's store
#   pm_store_env DIR CONF             # PM_ENV: podman's environment (NAME=VALUE, for env(1))
#   pm_store_import DIR CONF IMAGE    # busybox as the image IMAGE
#
# Run podman as `cd DIR/cwd && env "${PM_ENV[@]}" podman "${PM_FLAGS[@]}" ARGS...`.
#
# What stays private (nothing under /var/lib/containers, /run/containers, /etc):
#  - storage, run state and temporary files: podman's --root, --runroot and --tmpdir;
#  - the runtime's state: runc through a wrapper named runc that adds --root (podman does
#    not pass --runtime-flag to the cleanup process it runs from the monitor);
#  - containers.conf through CONTAINERS_CONF (the system files are then not read at all):
#    conmon_path, cgroupfs, file events, file locks (not /dev/shm/libpod_lock), private CNI
#    and volume directories, ulimits the machine's hard limits allow; podman passes
#    CONTAINERS_CONF on to the monitor, and so to the cleanup process the monitor runs;
#  - the image: a busybox tar imported as IMAGE (a full name: a short one makes podman lock
#    /var/cache/containers), in a mount namespace whose /var/lib is private (any image copy
#    writes /var/lib/containers/cache/blob-info-cache-v1.boltdb);
#  - the working directory (podman's, hence the monitor's and the cleanup's): DIR/cwd.
# DIR should be short: the monitors' attach socket paths under it are bound by length.

pm_store_init() {
    local dir=$1
    mkdir -p "$dir"/{root,runroot,tmp,runc,cni,vartmp,bin,cwd}
    printf 'unqualified-search-registries = []\nshort-name-mode = "permissive"\n' \
        >"$dir/registries.conf"
    # Named runc: podman adds the --log-format=json runtime arguments only for runtimes it
    # knows by name.
    printf '#!/bin/sh\nexec /usr/sbin/runc --root %s/runc "$@"\n' "$dir" >"$dir/bin/runc"
    chmod 755 "$dir/bin/runc"
}

pm_store_conf() {
    local dir=$1
    cat >"$2" <<EOF
[containers]
# the machine's hard limits may be lower than podman's default nofile
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
log_driver = "k8s-file"
[engine]
conmon_path = ["$3"]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/tmp/events/events.log"
tmp_dir = "$dir/tmp"
static_dir = "$dir/root/libpod"
volume_path = "$dir/root/volumes"
image_copy_tmp_dir = "$dir/vartmp"
lock_type = "file"
runtime = "$dir/bin/runc"
[network]
network_backend = "cni"
network_config_dir = "$dir/cni"
EOF
}

pm_store_flags() {
    PM_FLAGS=(--root "$1/root" --runroot "$1/runroot" --tmpdir "$1/tmp" --runtime "$1/bin/runc"
              --cgroup-manager cgroupfs --events-backend file --storage-driver overlay)
}

pm_store_env() {
    PM_ENV=("CONTAINERS_CONF=$2" "CONTAINERS_REGISTRIES_CONF=$1/registries.conf"
            "TMPDIR=$1/vartmp")
}

# busybox's static binary and one link per applet, imported with a private /var/lib.
pm_store_import() {
    local dir=$1 rootfs=$1/build/rootfs a
    mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc,root,run} "$dir/build/varlib"
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for a in $("$rootfs/bin/busybox" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf "$dir/build/busybox.tar" .
    pm_store_flags "$dir"
    pm_store_env "$dir" "$2"
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare -m --propagation private bash -c \
        'mount --bind "$1" /var/lib && cd "$2" && shift 2 && exec "$@" >/dev/null' \
        bash "$dir/build/varlib" "$dir/cwd" env "${PM_ENV[@]}" podman "${PM_FLAGS[@]}" \
        import -q --change 'CMD ["/bin/sh"]' --change "ENV PATH=/bin" \
        "$dir/build/busybox.tar" "$3" || return 1
    rm -rf "$dir/build"
}
