# flock completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
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
complete -c flock -n '__fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -f -a '(__fish_complete_subcommand --fcs-skip=2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace)'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 's' -l shared -d 'Get a shared lock'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'x' -s 'e' -l exclusive -d 'Get an exclusive lock (default)'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'u' -l unlock -d 'Remove a lock'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'n' -l nonblock -d 'Fail rather than wait'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'w' -l timeout -d 'Wait for a limited amount of time' -r -f
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'E' -l conflict-exit-code -d 'Exit code after conflict or timeout' -r -f
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'o' -l close -d 'Close file descriptor before running command'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'c' -l command -d 'Run a single command string through the shell' -r -f -a '(__fish_complete_command)'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'F' -l no-fork -d 'Execute command without forking'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l fcntl -d 'Use fcntl(F_OFD_SETLK) rather than flock(2)'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l start -d 'Starting offset of the lock range (implies --fcntl)' -r -f
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l length -d 'Length of the lock range (implies --fcntl)' -r -f
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l fd -d 'Lock this file descriptor and run a command' -r -f
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l verbose -d 'Increase verbosity'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l slots -d 'Take one of n slots (a semaphore)' -r -f
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l single-flight -d 'Run the command once for all who come while it runs'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l who -d 'On a conflict or timeout, name who holds the lock'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l watchdog -d 'Stop the command if the lock file is removed or replaced'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l grace -d 'With --watchdog: time between SIGTERM and SIGKILL' -r -f
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l forward-signals -d 'Pass TERM, INT, HUP, QUIT, USR1, USR2 to the command'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'h' -l help -d 'Display this help'
complete -c flock -n 'not __fish_lockkit_after_operand 1 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'V' -l version -d 'Display version'
