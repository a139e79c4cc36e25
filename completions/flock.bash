# flock completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
_flock() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    local i=1
    while (( i < COMP_CWORD )); do
        case ${COMP_WORDS[i]} in
            --) (( i++ )); break ;;
            -w|--timeout|-E|--conflict-exit-code|-c|--command|--start|--length|--fd|--slots|--grace|-[!-]*[wEc]) (( i += 2 )) ;;
            -?*) (( i++ )) ;;
            *) break ;;
        esac
    done
    if (( COMP_CWORD > i )); then
        local c=$(( i + 1 ))
        case ${COMP_WORDS[c]} in
            -c|--command) (( COMP_CWORD == c + 1 )) && COMPREPLY=($(compgen -c -- "$cur")); return 0 ;;
        esac
        if (( COMP_CWORD == c )); then
            COMPREPLY=($(compgen -c -- "$cur"))
        elif declare -F _command_offset >/dev/null; then
            _command_offset "$c"
        fi
        return 0
    fi
    case $prev in
        -w|--timeout|-[!-]*w|-E|--conflict-exit-code|-[!-]*E|--start|--length|--fd|--slots|--grace) COMPREPLY=("$cur"); compopt -o nospace 2>/dev/null; return 0 ;;
        -c|--command|-[!-]*c) COMPREPLY=($(compgen -c -- "$cur")); return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-s --shared -x -e --exclusive -u --unlock -n --nonblock -w --timeout -E --conflict-exit-code -o --close -c --command -F --no-fork --fcntl --start --length --fd --verbose --slots --single-flight --who --watchdog --grace --forward-signals -h --help -V --version' -- "$cur"))
    fi
}

complete -F _flock -o bashdefault -o default flock
