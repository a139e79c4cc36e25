# dotlock completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
_dotlock() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    local i=1
    while (( i < COMP_CWORD )); do
        case ${COMP_WORDS[i]} in
            --) (( i++ )); break ;;
            -r|-i|--grace|-[!-]*[ri]) (( i += 2 )) ;;
            -?*) (( i++ )) ;;
            *) break ;;
        esac
    done
    if (( COMP_CWORD > i )); then
        local c=$(( i + 1 ))
        if (( COMP_CWORD == c )); then
            COMPREPLY=($(compgen -c -- "$cur"))
        elif declare -F _command_offset >/dev/null; then
            _command_offset "$c"
        fi
        return 0
    fi
    case $prev in
        -r|-[!-]*r|-i|-[!-]*i|--grace) COMPREPLY=("$cur"); compopt -o nospace 2>/dev/null; return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-l -u -t -c -r -i -p -m -q -P -N --help --version --watchdog --grace' -- "$cur"))
    fi
}

complete -F _dotlock -o bashdefault -o default dotlock
