# lockfile completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
_lockfile() {
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

complete -F _lockfile -o bashdefault -o default lockfile
