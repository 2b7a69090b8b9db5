#!/bin/sh
# Renders one man page from its scdoc source: render.sh SCDOC VERSION SOURCE OUTPUT
#
# @VERSION@ in the source becomes VERSION. In the roff that scdoc writes, every "-" of
# the text becomes "\-", which man(7) renders as the ASCII hyphen-minus, so that options
# and commands copied from the page work (roff's plain "-" is a typographic hyphen).
# Request lines (starting with "." or "'") are left alone, and so are the distances of
# motion escapes (scdoc's list bullets use \h'-04').
set -eu

scdoc=$1
version=$2
source=$3
output=$4

hyphens=$(
    cat <<'SED'
/^[.']/b
s/-/\\-/g
s/\\\\-/\\-/g
s/\\\([hv]\)'\\-/\\\1'-/g
SED
)

sed "s/@VERSION@/$version/g" "$source" | "$scdoc" >"$output.tmp"
sed -e "$hyphens" "$output.tmp" >"$output"
rm -f "$output.tmp"
