#!/bin/sh
# Builds an OCI bundle around Debian's static busybox, offline:
#
#   hack/mkbundle.sh DIR [--] [ARG...]
#
# DIR/rootfs gets /bin/busybox plus one symlink per applet, the usual mount points and a
# minimal /etc/passwd and /etc/group; DIR/config.json comes from `runc spec` with
# process.terminal set to false and process.args set to ARGS (default: sh). Rebuilding over
# an existing DIR is fine. Needs the busybox-static and runc packages.
set -eu

BUSYBOX=/bin/busybox

die() {
    echo "mkbundle: $*" >&2
    exit 1
}

[ $# -ge 1 ] || die "usage: mkbundle.sh DIR [--] [ARG...]"
dir=$1
shift
[ "${1-}" = "--" ] && shift
[ $# -ge 1 ] || set -- sh

[ -x "$BUSYBOX" ] || die "$BUSYBOX not found: install the busybox-static package"
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked: install the busybox-static package"
fi
runc=$(command -v runc) || die "runc not found on PATH: install the runc package"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rootfs=$dir/rootfs
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" \
    "$rootfs/etc" "$rootfs/root" "$rootfs/run"
chmod 1777 "$rootfs/tmp"

if ! cmp -s "$BUSYBOX" "$rootfs/bin/busybox"; then
    cp "$BUSYBOX" "$rootfs/bin/busybox.tmp"
    mv -f "$rootfs/bin/busybox.tmp" "$rootfs/bin/busybox"
fi
# busybox's own shell runs its ln applet without a fork per link: about four times faster
# than a loop in the calling shell.
# shellcheck disable=SC2016
"$BUSYBOX" sh -c '
    cd "$1"
    for applet in $(./busybox --list); do
        [ "$applet" = busybox ] && continue
        ln -sfn busybox "$applet"
    done' mkbundle "$rootfs/bin"

printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

rm -f "$dir/config.json" "$dir/config.json.tmp"
(cd "$dir" && "$runc" spec) || die "runc spec failed in $dir"

# Sets "terminal" and replaces the "args" array of `runc spec`'s output (one key per line,
# the array closed by a line holding only "]" or "],"); the ARGs arrive in ARGV and are
# escaped as JSON strings byte by byte.
# shellcheck disable=SC2016
LC_ALL=C "$BUSYBOX" awk '
    function jstr(s,    out, i, c) {
        out = ""
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c == "\\")
                out = out "\\\\"
            else if (c == "\"")
                out = out "\\\""
            else if (c in ctl)
                out = out sprintf("\\u%04x", ctl[c])
            else
                out = out c
        }
        return "\"" out "\""
    }
    BEGIN {
        for (i = 1; i < 32; i++)
            ctl[sprintf("%c", i)] = i
        ctl[sprintf("%c", 127)] = 127
        args = ""
        for (i = 1; i < ARGC; i++)
            args = args (i > 1 ? ", " : "") jstr(ARGV[i])
        ARGC = 1
        done_term = 0; done_args = 0; skipping = 0
    }
    skipping {
        if ($0 ~ /^[ \t]*\],?[ \t]*$/) {
            comma = ($0 ~ /,[ \t]*$/) ? "," : ""
            print indent "\"args\": [" args "]" comma
            skipping = 0
            done_args = 1
        }
        next
    }
    !done_term && /^[ \t]*"terminal":[ \t]*(true|false)/ {
        sub(/(true|false)/, "false")
        done_term = 1
        print
        next
    }
    !done_args && /^[ \t]*"args":[ \t]*\[[ \t]*$/ {
        indent = $0
        sub(/".*/, "", indent)
        skipping = 1
        next
    }
    { print }
    END {
        if (!done_term || !done_args) {
            print "mkbundle: unexpected runc spec layout" > "/dev/stderr"
            exit 1
        }
    }
' "$@" <"$dir/config.json" >"$dir/config.json.tmp" || die "cannot edit $dir/config.json"
mv -f "$dir/config.json.tmp" "$dir/config.json"
