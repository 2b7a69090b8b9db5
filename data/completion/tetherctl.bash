# bash completion for tetherctl(1): the commands, each command's options, container ids
# from the state directory, and the values of the options that take a known kind of
# value (directories, files, signals, a runtime, a log format, a restart policy).
# Installed as BASH_COMPLETION_DIR/tetherctl; plain bash, it needs nothing from the
# bash-completion package but to be loaded. tests/completion/check_completion.sh keeps it
# in step with `tetherctl --help`.

# The per-command options; the global ones are accepted after every command too.
_tetherctl_options() {
    local create='--bundle --runtime --runtime-root --init --restart -t --tty
        -i --interactive --log-format --log-path --log-max-size --log-max-files'
    case $1 in
    run) echo "$create --events" ;;
    create) echo "$create" ;;
    attach) echo '--exec --no-stdin' ;;
    exec) echo '-t --tty -i --interactive --id -e --env -w --workdir' ;;
    state) echo '--exec' ;;
    kill) echo '--all --exec' ;;
    stop) echo '-t --timeout --signal' ;;
    update) echo '--memory --cpus --cpu-quota --cpu-period --pids-limit --resources' ;;
    stats) echo '--watch --interval' ;;
    logs) echo '-f --follow --path' ;;
    events) echo '--since' ;;
    delete | shutdown) echo '--force' ;;
    esac
}

# Whether option $2 of command $1 ("" before the command) takes a value.
_tetherctl_takes_value() {
    case $2 in
    --state-dir | --socket | --bundle | --runtime | --runtime-root | --restart | \
        --log-format | --log-path | --log-max-size | --log-max-files | --exec | --id | \
        --env | -e | --workdir | -w | --path | --memory | --cpus | --cpu-quota | \
        --cpu-period | --pids-limit | --resources | --interval | --timeout | --signal | \
        --since)
        return 0
        ;;
    -t) [ "$1" = stop ] ;; # --timeout for stop, --tty elsewhere
    *) return 1 ;;
    esac
}

# The containers in state directory $1: its subdirectories that a shim has locked once.
_tetherctl_ids() {
    local d
    for d in "$1"/*/shim.lock; do
        [ -e "$d" ] || continue
        d=${d%/shim.lock}
        printf '%s\n' "${d##*/}"
    done
}

_tetherctl() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev='' cword=$COMP_CWORD
    local globals='--state-dir --socket --json -h --help'
    local commands='run create start attach exec state kill stop wait pause resume update
        stats top ps logs events delete shutdown version ls'
    local state_dir=/run/tether cmd='' operands=0 verbatim=0 i word
    COMPREPLY=()
    # bash splits "--opt=value" at the "=" (COMP_WORDBREAKS): "--opt" "=" "value".
    if [ "$cur" = = ]; then
        cur=''
        cword=$((cword + 1))
    fi
    [ "$cword" -gt 1 ] && prev=${COMP_WORDS[cword - 1]}
    [ "$prev" = = ] && [ "$cword" -gt 2 ] && prev=${COMP_WORDS[cword - 2]}

    # What comes before the word being completed: the command, the state directory and
    # how many operands the command has already.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [ "$verbatim" = 1 ]; then
            operands=$((operands + 1))
            continue
        fi
        case $word in
        --)
            [ -n "$cmd" ] && verbatim=1
            ;;
        -*)
            if _tetherctl_takes_value "$cmd" "$word"; then
                i=$((i + 1))
                [ "${COMP_WORDS[i]}" = = ] && i=$((i + 1))
                [ "$word" = --state-dir ] && [ "$i" -lt "$COMP_CWORD" ] && state_dir=${COMP_WORDS[i]}
            fi
            ;;
        *)
            if [ -z "$cmd" ]; then
                cmd=$word
            else
                operands=$((operands + 1))
            fi
            ;;
        esac
    done
    state_dir=${state_dir/#\~/$HOME}
    # After exec's id, or after "--", the words are the command to run in the container.
    if [ "$verbatim" = 1 ] || { [ "$cmd" = exec ] && [ "$operands" -ge 1 ]; }; then
        return 0
    fi

    # The value of an option.
    if [[ $prev == -* ]] && _tetherctl_takes_value "$cmd" "$prev"; then
        case $prev in
        --state-dir | --bundle | --runtime-root)
            compopt -o filenames 2>/dev/null || true
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            ;;
        --socket | --log-path | --path)
            compopt -o filenames 2>/dev/null || true
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            ;;
        --runtime)
            if [[ $cur == */* ]]; then
                compopt -o filenames 2>/dev/null || true
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            else
                mapfile -t COMPREPLY < <(compgen -W 'runc crun' -- "$cur")
            fi
            ;;
        --log-format) mapfile -t COMPREPLY < <(compgen -W 'cri jsonl raw' -- "$cur") ;;
        --restart)
            mapfile -t COMPREPLY < <(compgen -W 'no on-failure always unless-stopped' -- "$cur")
            ;;
        --signal) mapfile -t COMPREPLY < <(compgen -A signal -- "$cur") ;;
        esac
        return 0
    fi

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_tetherctl_options "$cmd") $globals" -- "$cur")
        return 0
    fi
    if [ -z "$cmd" ]; then
        mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        return 0
    fi
    case $cmd:$operands in
    run:0 | create:0) ;; # a new container's id
    kill:1) mapfile -t COMPREPLY < <(compgen -A signal -- "$cur") ;;
    ls:*) ;;
    *:0) mapfile -t COMPREPLY < <(compgen -W "$(_tetherctl_ids "$state_dir")" -- "$cur") ;;
    esac
    return 0
}

complete -F _tetherctl tetherctl
