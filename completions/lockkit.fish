# lockkit completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
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
complete -c lockkit -n '__fish_use_subcommand' -s 'h' -l help -d 'Print help'
complete -c lockkit -n '__fish_use_subcommand' -s 'V' -l version -d 'Print version'
complete -c lockkit -n __fish_use_subcommand -f -a flock -d 'Manage locks from shell scripts (drop-in for util-linux flock(1))'
complete -c lockkit -n __fish_use_subcommand -f -a dotlock -d 'Create, remove or run a command under a lock file (drop-in for dotlockfile(1))'
complete -c lockkit -n __fish_use_subcommand -f -a lockfile -d 'Conditionally create lock files, several at once (drop-in for procmail\'s lockfile(1))'
complete -c lockkit -n __fish_use_subcommand -f -a cluster -d 'Run a command under a lock in etcd, stopping it if the lock is lost'
complete -c lockkit -n __fish_use_subcommand -f -a install-links -d 'Create the tools\' links (flock, dotlock, …) in a directory'
complete -c lockkit -n __fish_use_subcommand -f -a status -d 'Say who holds each lock, and who waits for it'
complete -c lockkit -n __fish_use_subcommand -f -a help -d 'Print this help, or the help of a tool or subcommand'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -f -a '(__fish_complete_subcommand --fcs-skip=3 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace)'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 's' -l shared -d 'Get a shared lock'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'x' -s 'e' -l exclusive -d 'Get an exclusive lock (default)'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'u' -l unlock -d 'Remove a lock'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'n' -l nonblock -d 'Fail rather than wait'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'w' -l timeout -d 'Wait for a limited amount of time' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'E' -l conflict-exit-code -d 'Exit code after conflict or timeout' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'o' -l close -d 'Close file descriptor before running command'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'c' -l command -d 'Run a single command string through the shell' -r -f -a '(__fish_complete_command)'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'F' -l no-fork -d 'Execute command without forking'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l fcntl -d 'Use fcntl(F_OFD_SETLK) rather than flock(2)'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l start -d 'Starting offset of the lock range (implies --fcntl)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l length -d 'Length of the lock range (implies --fcntl)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l fd -d 'Lock this file descriptor and run a command' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l verbose -d 'Increase verbosity'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l slots -d 'Take one of n slots (a semaphore)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l single-flight -d 'Run the command once for all who come while it runs'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l who -d 'On a conflict or timeout, name who holds the lock'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l watchdog -d 'Stop the command if the lock file is removed or replaced'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l grace -d 'With --watchdog: time between SIGTERM and SIGKILL' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -l forward-signals -d 'Pass TERM, INT, HUP, QUIT, USR1, USR2 to the command'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'h' -l help -d 'Display this help'
complete -c lockkit -n '__fish_seen_subcommand_from flock; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --start --length --fd --slots --grace' -s 'V' -l version -d 'Display version'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and __fish_lockkit_after_operand 2 -r -i --grace' -f -a '(__fish_complete_subcommand --fcs-skip=3 -r -i --grace)'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'l' -d 'Create the lock (the default)'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'u' -d 'Remove the lock'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 't' -d 'Touch the lock, to keep it fresh'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'c' -d 'Check: exit 0 if a valid lock exists'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'r' -d 'Retry this many times before giving up (default 5, -1: forever)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'i' -d 'Seconds between scheduled retries (default 5, 10, ... 60)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'p' -d 'Write a pid into the lock (the caller\'s, or dotlock\'s own in command mode)'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'm' -d 'Lock your mailbox: $MAIL.lock or /var/mail/$USER.lock'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'q' -d 'Quiet'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'P' -d 'Exit with the command\'s status'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -s 'N' -d 'Write no pid (the default)'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -l help -d 'Show this help'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -l version -d 'Show the version'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -l watchdog -d 'With a command: stop it if the lock is removed or replaced, and exit 79'
complete -c lockkit -n '__fish_seen_subcommand_from dotlock; and not __fish_lockkit_after_operand 2 -r -i --grace' -l grace -d 'With --watchdog: seconds from SIGTERM to SIGKILL (5)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -s 'v' -d 'Display the version number and exit'
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -s 'r' -d 'Make at most nnn retries before giving up on a lock' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -s 'l' -d 'Set locktimeout to nnn seconds' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -s 's' -d 'Suspend nnn seconds after a locktimeout occurred' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -s '!' -d 'Invert the exitcode of lockfile'
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -o 'ml' -d 'Lock your system mail-spool file'
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -o 'mu' -d 'Unlock your system mail-spool file'
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -s 'h' -d 'Print the usage and the options'
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -l help -d 'This help'
complete -c lockkit -n '__fish_seen_subcommand_from lockfile' -l version -d 'Print lockkit\'s version on standard output'
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -f -a '(__fish_complete_subcommand --fcs-skip=3 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file)'
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -s 's' -l shared -d 'Get a shared lock (a reader)'
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -s 'x' -s 'e' -l exclusive -d 'Get an exclusive lock (default)'
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -s 'n' -l nonblock -d 'Fail rather than wait'
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -s 'w' -l timeout -d 'Wait for a limited amount of time' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -s 'E' -l conflict-exit-code -d 'Exit code after conflict or timeout' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -s 'c' -l command -d 'Run a single command string through the shell' -r -f -a '(__fish_complete_command)'
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l slots -d 'Take one of n slots (a semaphore)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l verbose -d 'Increase verbosity'
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l endpoints -d 'Etcd endpoints, comma-separated' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l ttl -d 'The lease\'s time to live (default 10)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l grace -d 'Lock lost: time between SIGTERM and SIGKILL (default 5)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l cacert -d 'Verify https endpoints with this CA (PEM)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l cert -d 'Client certificate (PEM)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l key -d 'The client certificate\'s key (PEM)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l user -d 'Authenticate as this etcd user' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -l password-file -d 'Read --user\'s password from this file' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -s 'h' -l help -d 'Display this help'
complete -c lockkit -n '__fish_seen_subcommand_from cluster; and not __fish_lockkit_after_operand 2 -w --timeout -E --conflict-exit-code -c --command --slots --endpoints --ttl --grace --cacert --cert --key --user --password-file' -s 'V' -l version -d 'Display version'
complete -c lockkit -n '__fish_seen_subcommand_from install-links' -s 'f' -l force -d 'Replace a file or link that is in the way (atomically; never a directory)'
complete -c lockkit -n '__fish_seen_subcommand_from install-links' -s 'n' -l dry-run -d 'Say what would be done, and change nothing'
complete -c lockkit -n '__fish_seen_subcommand_from install-links' -s 'r' -l relative -d 'Make the links relative to DIR instead of absolute'
complete -c lockkit -n '__fish_seen_subcommand_from install-links' -s 'h' -l help -d 'Print help (see more with \'--help\')'
complete -c lockkit -n '__fish_seen_subcommand_from install-links' -f -a '(__fish_complete_directories (commandline -ct))'
complete -c lockkit -n '__fish_seen_subcommand_from status' -l json -d 'Print one JSON document (schema in lockkit(1))'
complete -c lockkit -n '__fish_seen_subcommand_from status' -l kind -d 'Look at fd locks (fd), judge a lock file (file), or decide (auto)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from status' -l cluster -d 'The targets are lockkit cluster lock names in etcd: holders and queue'
complete -c lockkit -n '__fish_seen_subcommand_from status' -l endpoints -d 'With --cluster: etcd endpoints (default $ETCDCTL_ENDPOINTS, else http://127.0.0.1:2379)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from status' -l cacert -d 'With --cluster: the CA for https endpoints (PEM)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from status' -l cert -d 'With --cluster: a client certificate (PEM), with --key' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from status' -l key -d 'With --cluster: the client certificate\'s key (PEM)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from status' -l password-file -d 'With --cluster and --user: read the password from this file' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from status' -l user -d 'With --cluster: the etcd user (password from --password-file, else $LOCKKIT_ETCD_PASSWORD)' -r -f
complete -c lockkit -n '__fish_seen_subcommand_from status' -s 'h' -l help -d 'Print help (see more with \'--help\')'
complete -c lockkit -n '__fish_seen_subcommand_from help' -s 'h' -l help -d 'Print help'
