#!/usr/bin/env bash
# Keeps the bash completion of tetherctl in step with the binary: completing the command
# offers exactly the commands `tetherctl --help` lists, completing "-" after a command
# offers exactly the options of `tetherctl COMMAND --help` plus the global ones, and
# option values and container ids complete as they should.
# Usage: tests/completion/check_completion.sh BIN_DIR COMPLETION_FILE
set -euo pipefail
export LC_ALL=C

if [ $# -ne 2 ]; then
    echo "usage: $0 BIN_DIR COMPLETION_FILE" >&2
    exit 2
fi
ctl=$1/tetherctl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
problems=()

# shellcheck source=/dev/null
source "$2"
if [ "$(complete -p tetherctl 2>/dev/null)" != "complete -F _tetherctl tetherctl" ]; then
    echo "check_completion: $2 does not register _tetherctl for tetherctl" >&2
    exit 1
fi

# Completes the last of the words given (the command line as bash splits it) and prints
# the candidates, one per line, sorted.
complete_words() {
    COMP_WORDS=(tetherctl "$@")
    COMP_CWORD=$#
    COMP_LINE="tetherctl $*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _tetherctl tetherctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    if [ ${#COMPREPLY[@]} -gt 0 ]; then
        printf '%s\n' "${COMPREPLY[@]}" | sort -u
    fi
}

# The options in the text on stdin, as tests/man/check_man.sh reads them.
options_in() {
    { grep -oP -- '(?<![A-Za-z0-9_-])(--[A-Za-z][A-Za-z0-9-]*|-[A-Za-z])(?![A-Za-z0-9_-])' ||
        true; } | sort -u
}

# Records a problem when the two sorted files differ.
compare() {
    local what=$1 want=$2 got=$3 missing extra
    missing=$(comm -23 "$want" "$got" | tr '\n' ' ')
    extra=$(comm -13 "$want" "$got" | tr '\n' ' ')
    if [ -n "$missing$extra" ]; then
        problems+=("$what:${missing:+ missing ${missing% }}${extra:+;}${extra:+ extra ${extra% }}")
    fi
}

# Records a problem unless completing the words gives exactly the expected lines.
expect() {
    local what=$1 want=$2
    shift 2
    printf '%s' "$want" | sed '/^$/d' | sort -u >"$work/want"
    complete_words "$@" >"$work/got"
    compare "$what" "$work/want" "$work/got"
}

"$ctl" --help >"$work/help"
awk '/^Commands:/ { on = 1; next }
     on && /^$/ { exit }
     on && /^  [a-z]/ { print $1 }' "$work/help" | sort -u >"$work/commands"
sed -n '/^Options/,/^$/p' "$work/help" | options_in >"$work/globals"
if [ ! -s "$work/commands" ] || [ ! -s "$work/globals" ]; then
    echo "check_completion: cannot read the commands and options of \`tetherctl --help\`" >&2
    exit 1
fi

complete_words '' >"$work/got"
compare "commands" "$work/commands" "$work/got"
complete_words - >"$work/got"
compare "options before the command" "$work/globals" "$work/got"

while read -r cmd; do
    "$ctl" "$cmd" --help | options_in | sort -u - "$work/globals" >"$work/want"
    complete_words "$cmd" - >"$work/got"
    compare "options of $cmd" "$work/want" "$work/got"
done <"$work/commands"

# Values of options.
expect "run --log-format" $'cri\njsonl\nraw' run x --log-format ''
expect "create --restart" $'no\non-failure\nalways\nunless-stopped' create x --restart ''
expect "run --runtime" $'runc\ncrun' run x --runtime ''
expect "stop --signal TE" SIGTERM stop x --signal SIGTE
expect "kill's signal" SIGKILL kill x SIGKI
expect "--memory takes a value, not an option" '' update x --memory -
expect "stop -t takes a value" '' stop x -t -
mkdir -p "$work/bundles/one" "$work/bundles/two"
touch "$work/bundles/file"
expect "--bundle DIR" "$work/bundles/one"$'\n'"$work/bundles/two" run x --bundle "$work/bundles/"
expect "--log-path FILE" "$work/bundles/file" run x --log-path "$work/bundles/f"

# Container ids from the state directory, before and after the command's options.
mkdir -p "$work/state/web" "$work/state/db" "$work/state/not-a-container"
touch "$work/state/web/shim.lock" "$work/state/db/shim.lock"
expect "ids in --state-dir" $'db\nweb' --state-dir "$work/state" start ''
expect "ids with --state-dir=DIR" $'db\nweb' --state-dir = "$work/state" wait ''
expect "ids after the command's options" web stop -t 5 --state-dir "$work/state" w
expect "no id for a new container" '' --state-dir "$work/state" run ''
expect "nothing after exec's id" '' --state-dir "$work/state" exec web -
expect "nothing after --" '' --state-dir "$work/state" kill -- -
expect "--state-dir value" "$work/state" --state-dir "$work/sta"

if [ ${#problems[@]} -gt 0 ]; then
    echo "check_completion: the bash completion and \`tetherctl --help\` differ:" >&2
    printf '  %s\n' "${problems[@]}" >&2
    exit 1
fi
echo "check_completion: $(wc -l <"$work/commands") commands and their options complete"
