# dotlockfile completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
function __fish_lockkit_after_operand --argument-names skip
    set -l words (commandline -opc)
    set -e words[1..$skip]
    set -l value 0
    for w in $words
        if test $value = 1
            set value 0
        else if contains -- $w $argv[2..-1]
            set value 1
        else if not string match -q -- '-?*' $w
            return 0
        end
    end
    return 1
end
complete -c dotlockfile -n '__fish_lockkit_after_operand 1 -r -i --grace' -f -a '(__fish_complete_subcommand --fcs-skip=2 -r -i --grace)'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'l' -d 'Create the lock (the default)'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'u' -d 'Remove the lock'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 't' -d 'Touch the lock, to keep it fresh'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'c' -d 'Check: exit 0 if a valid lock exists'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'r' -d 'Retry this many times before giving up (default 5, -1: forever)' -r -f
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'i' -d 'Seconds between scheduled retries (default 5, 10, ... 60)' -r -f
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'p' -d 'Write a pid into the lock (the caller\'s, or dotlock\'s own in command mode)'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'm' -d 'Lock your mailbox: $MAIL.lock or /var/mail/$USER.lock'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'q' -d 'Quiet'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'P' -d 'Exit with the command\'s status'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -s 'N' -d 'Write no pid (the default)'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -l help -d 'Show this help'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -l version -d 'Show the version'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -l watchdog -d 'With a command: stop it if the lock is removed or replaced, and exit 79'
complete -c dotlockfile -n 'not __fish_lockkit_after_operand 1 -r -i --grace' -l grace -d 'With --watchdog: seconds from SIGTERM to SIGKILL (5)' -r -f
