#!/usr/bin/env bash
# Keeps the man pages in step with the binaries: every option a binary's --help prints is
# documented in its man page, and every option the page documents is in --help.
# Usage: tests/man/check_man.sh BIN_DIR MAN_DIR
#
# An option is documented when it is in a term of a definition list (an unindented line
# of the scdoc source starting with "*-") in a section whose title ends in OPTIONS, or,
# for a binary with subcommands, in the "## COMMAND" subsection of "# COMMANDS". Options
# are words starting with "--", and single letters after "-"; for a binary with Go-style
# flags (one dash before a whole word, as containerd's shims take them), words starting
# with one "-".
#
# For a binary with subcommands, each command's --help is compared with its subsection:
# what the help prints must be documented there or among the global options, and what the
# subsection documents must be in the command's help. The commands the binary's --help
# lists and the page's subsections must be the same.
set -euo pipefail
export LC_ALL=C

# One line per binary: its name in BIN_DIR, its page in MAN_DIR, its subcommands ("-" for
# none, "commands" for a "Commands:" block in --help whose lines indented by two spaces
# start with the command names, each with its own `BINARY COMMAND --help`), and the style
# of its options: "gnu" (--long, -x; the default) or "go" (-long).
BINARIES=(
    "tether-shim tether-shim.8.scd -"
    "tether-conmon tether-conmon.8.scd -"
    "tether-init tether-init.1.scd -"
    "tetherctl tetherctl.1.scd commands"
    "containerd-shim-tether-v2 containerd-shim-tether-v2.8.scd - go"
)

if [ $# -ne 2 ]; then
    echo "usage: $0 BIN_DIR MAN_DIR" >&2
    exit 2
fi
bin_dir=$1
man_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
problems=()

# The options in the text on stdin, one per line, sorted and unique, in the option style
# of the binary being checked ($style).
style=gnu
options_in() {
    local re='(?<![A-Za-z0-9_-])(--[A-Za-z][A-Za-z0-9-]*|-[A-Za-z])(?![A-Za-z0-9_-])'
    if [ "$style" = go ]; then
        re='(?<![A-Za-z0-9_-])-[A-Za-z][A-Za-z0-9-]*(?![A-Za-z0-9_-])'
    fi
    { grep -oP -- "$re" || true; } | sort -u
}

# The documented options of a page, as "TAG OPTION" lines: TAG is "global" in the OPTIONS
# sections and the command's name in a subsection of COMMANDS.
documented() {
    local tag line
    awk '
        /^# / { section = substr($0, 3); command = ""; next }
        /^## / { command = substr($0, 4); next }
        /^\*-/ {
            if (section ~ /OPTIONS$/)
                print "global\t" $0
            else if (section == "COMMANDS" && command != "")
                print command "\t" $0
        }
    ' "$1" | while IFS=$'\t' read -r tag line; do
        printf '%s\n' "$line" | options_in | sed "s/^/$tag /"
    done
}

# The options documented under one tag, from the output of documented().
tagged() {
    awk -v tag="$2" 'tag == "*" || $1 == tag { print $2 }' "$1" | sort -u
}

# The subsections of the COMMANDS section of a page.
page_commands() {
    awk '/^# / { section = substr($0, 3) }
         /^## / && section == "COMMANDS" { print substr($0, 4) }' "$1" | sort -u
}

# The commands listed under "Commands:" in a --help.
help_commands() {
    awk '/^Commands:/ { on = 1; next }
         on && /^$/ { exit }
         on && /^  [a-z]/ { print $1 }' "$1" | sort -u
}

# Records a problem, "WHAT: ITEM...", when the lines of file ITEMS are not empty.
report() {
    local what=$1 items
    items=$(sed '/^$/d' "$2" | tr '\n' ' ')
    if [ -n "$items" ]; then
        problems+=("$what: ${items% }")
    fi
}

# Writes `BINARY [COMMAND] --help` to file OUT; records a problem if it fails.
help_to() {
    local out=$1 status=0
    shift
    "$@" --help >"$out" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        problems+=("\`${1##*/}${2:+ $2} --help\` failed with status $status")
        return 1
    fi
}

check_binary() {
    local name=$1 page_name=$2 subcommands=$3
    local bin=$bin_dir/$name page=$man_dir/$page_name d=$work/$name sub

    if [ ! -x "$bin" ]; then
        problems+=("$name: no executable $bin (build it first)")
        return
    fi
    if [ ! -f "$page" ]; then
        problems+=("$name: no man page source $page")
        return
    fi
    mkdir -p "$d"
    documented "$page" >"$d/doc"
    tagged "$d/doc" global >"$d/global"
    tagged "$d/doc" '*' >"$d/all"
    help_to "$d/help" "$bin" || return 0
    options_in <"$d/help" >"$d/help_opts"

    if [ "$subcommands" = - ]; then
        comm -23 "$d/help_opts" "$d/global" >"$d/x"
        report "$name: in \`$name --help\`, not documented in $page_name" "$d/x"
        comm -13 "$d/help_opts" "$d/global" >"$d/x"
        report "$name: documented in $page_name, not in \`$name --help\`" "$d/x"
        return
    fi

    # The global help shows every command with its options: each must be documented
    # somewhere, and the OPTIONS sections must hold only options of the global help.
    comm -23 "$d/help_opts" "$d/all" >"$d/x"
    report "$name: in \`$name --help\`, not documented in $page_name" "$d/x"
    comm -13 "$d/help_opts" "$d/global" >"$d/x"
    report "$name: documented in the OPTIONS of $page_name, not in \`$name --help\`" "$d/x"

    help_commands "$d/help" >"$d/help_commands"
    page_commands "$page" >"$d/page_commands"
    comm -23 "$d/help_commands" "$d/page_commands" >"$d/x"
    report "$name: commands in \`$name --help\` without a \"## COMMAND\" in $page_name" "$d/x"
    comm -13 "$d/help_commands" "$d/page_commands" >"$d/x"
    report "$name: \"## COMMAND\" subsections of $page_name that \`$name --help\` lacks" "$d/x"

    while read -r sub; do
        help_to "$d/help.$sub" "$bin" "$sub" || continue
        options_in <"$d/help.$sub" >"$d/help_opts.$sub"
        tagged "$d/doc" "$sub" >"$d/doc.$sub"
        comm -23 "$d/help_opts.$sub" <(sort -u "$d/doc.$sub" "$d/global") >"$d/x"
        report "$name $sub: in \`$name $sub --help\`, not documented under \"## $sub\" or OPTIONS in $page_name" "$d/x"
        comm -13 "$d/help_opts.$sub" "$d/doc.$sub" >"$d/x"
        report "$name $sub: documented under \"## $sub\" in $page_name, not in \`$name $sub --help\`" "$d/x"
    done < <(comm -12 "$d/help_commands" "$d/page_commands")
}

for entry in "${BINARIES[@]}"; do
    read -r name page subcommands opt_style <<<"$entry"
    style=${opt_style:-gnu}
    check_binary "$name" "$page" "$subcommands"
done

if [ ${#problems[@]} -gt 0 ]; then
    echo "check_man: the man pages and the binaries' --help differ:" >&2
    printf '  %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "check_man: ${#BINARIES[@]} man pages in step with --help"
