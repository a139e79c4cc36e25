# lockkit completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
_lockkit() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    COMPREPLY=()
    if (( COMP_CWORD == 1 )); then
        COMPREPLY=($(compgen -W 'flock dotlock lockfile cluster install-links status help -h --help -V --version' -- "$cur"))
        return 0
    fi
    case ${COMP_WORDS[1]} in
        flock) _lockkit_flock ;;
        dotlock) _lockkit_dotlock ;;
        lockfile) _lockkit_lockfile ;;
        cluster) _lockkit_cluster ;;
        install-links) _lockkit_install_links ;;
        status) _lockkit_status ;;
        help) _lockkit_help ;;
    esac
}

_lockkit_flock() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    local i=2
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

_lockkit_dotlock() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    local i=2
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

_lockkit_lockfile() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    case $prev in
        -ml|-mu) ;;
        -r|-[!-]*r|-l|-[!-]*l|-s|-[!-]*s) COMPREPLY=("$cur"); compopt -o nospace 2>/dev/null; return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-v -r -l -s -! -ml -mu -h --help --version' -- "$cur"))
    fi
}

_lockkit_cluster() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    local i=2
    while (( i < COMP_CWORD )); do
        case ${COMP_WORDS[i]} in
            --) (( i++ )); break ;;
            -w|--timeout|-E|--conflict-exit-code|-c|--command|--slots|--endpoints|--ttl|--grace|--cacert|--cert|--key|--user|--password-file|-[!-]*[wEc]) (( i += 2 )) ;;
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
        -w|--timeout|-[!-]*w|-E|--conflict-exit-code|-[!-]*E|--slots|--endpoints|--ttl|--grace|--cacert|--cert|--key|--user|--password-file) COMPREPLY=("$cur"); compopt -o nospace 2>/dev/null; return 0 ;;
        -c|--command|-[!-]*c) COMPREPLY=($(compgen -c -- "$cur")); return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-s --shared -x -e --exclusive -n --nonblock -w --timeout -E --conflict-exit-code -c --command --slots --verbose --endpoints --ttl --grace --cacert --cert --key --user --password-file -h --help -V --version' -- "$cur"))
    fi
}

_lockkit_install_links() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-f --force -n --dry-run -r --relative -h --help' -- "$cur"))
    else
        COMPREPLY=($(compgen -d -- "$cur"))
    fi
}

_lockkit_status() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    case $prev in
        --kind|--endpoints|--cacert|--cert|--key|--password-file|--user) COMPREPLY=("$cur"); compopt -o nospace 2>/dev/null; return 0 ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '--json --kind --cluster --endpoints --cacert --cert --key --password-file --user -h --help' -- "$cur"))
    fi
}

_lockkit_help() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-h --help' -- "$cur"))
    fi
}

complete -F _lockkit -o bashdefault -o default lockkit
