# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_lockkit_global_optspecs
    string join \n h/help V/version
end

function __fish_lockkit_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_lockkit_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_lockkit_using_subcommand
    set -l cmd (__fish_lockkit_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c lockkit -n "__fish_lockkit_needs_command" -s h -l help -d 'Print help'
complete -c lockkit -n "__fish_lockkit_needs_command" -s V -l version -d 'Print version'
complete -c lockkit -n "__fish_lockkit_needs_command" -f -a "flock" -d 'Manage locks from shell scripts (drop-in for util-linux flock(1))'
complete -c lockkit -n "__fish_lockkit_needs_command" -f -a "dotlock" -d 'Create, remove or run a command under a lock file (drop-in for dotlockfile(1))'
complete -c lockkit -n "__fish_lockkit_needs_command" -f -a "lockfile" -d 'Conditionally create lock files, several at once (drop-in for procmail\'s lockfile(1))'
complete -c lockkit -n "__fish_lockkit_needs_command" -f -a "install-links" -d 'Create the tools\' links (flock, dotlock, …) in a directory'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s w -l timeout -d 'Wait for a limited amount of time' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s E -l conflict-exit-code -d 'Exit status after a conflict or timeout' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s c -l command -d 'Run a single command string through the shell' -r -f -a "(__fish_complete_command)"
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -l start -d 'Starting offset of the lock range (implies --fcntl)' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -l length -d 'Length of the lock range (implies --fcntl)' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -l fd -d 'Lock this file descriptor and run a command' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s s -l shared -d 'Get a shared lock'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s x -s e -l exclusive -d 'Get an exclusive lock (the default)'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s u -l unlock -d 'Remove a lock'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s n -l nonblock -d 'Fail rather than wait'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s o -l close -d 'Close the lock\'s descriptor before running the command'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s F -l no-fork -d 'Run the command without forking'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -l fcntl -d 'Use fcntl(F_OFD_SETLK) rather than flock(2)'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -l verbose -d 'Report how long getting the lock took'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s h -l help -d 'Display help'
complete -c lockkit -n "__fish_lockkit_using_subcommand flock" -s V -l version -d 'Display version'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s r -d 'Retry this many times before giving up (default 5, -1: forever)' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s i -d 'Seconds between scheduled retries (default 5, 10, ... 60)' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s l -d 'Create the lock (the default)'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s u -d 'Remove the lock'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s t -d 'Touch the lock, to keep it fresh'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s c -d 'Check: exit 0 if a valid lock exists'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s p -d 'Write a pid into the lock; a lock whose process is gone is stale'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s N -d 'Write no pid (the default)'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s m -d 'Lock your mailbox: $MAIL.lock or /var/mail/$USER.lock'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s q -d 'Quiet'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -s P -d 'Exit with the command\'s status'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -l help -d 'Show the help'
complete -c lockkit -n "__fish_lockkit_using_subcommand dotlock" -l version -d 'Show the version'
complete -c lockkit -n "__fish_lockkit_using_subcommand lockfile" -s r -d 'Make at most nnn retries before giving up on a lock (-1: forever)' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand lockfile" -s l -d 'Force a lock that is older than nnn seconds' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand lockfile" -s s -d 'Suspend nnn seconds after forcing a lock (default 16)' -r -f
complete -c lockkit -n "__fish_lockkit_using_subcommand lockfile" -s m -d '-ml: lock your system mail-spool file; -mu: unlock it' -r -f -a "l\t'Lock your system mail-spool file'
u\t'Unlock your system mail-spool file'"
complete -c lockkit -n "__fish_lockkit_using_subcommand lockfile" -s ! -d 'Invert the exit status (0 and 73)'
complete -c lockkit -n "__fish_lockkit_using_subcommand lockfile" -s v -d 'Display the version number and exit'
complete -c lockkit -n "__fish_lockkit_using_subcommand lockfile" -s h -d 'Display the options and exit'
complete -c lockkit -n "__fish_lockkit_using_subcommand lockfile" -l help -d 'Display help with examples'
complete -c lockkit -n "__fish_lockkit_using_subcommand lockfile" -l version -d 'Display lockkit\'s version'
complete -c lockkit -n "__fish_lockkit_using_subcommand install-links" -s f -l force -d 'Replace a file or link that is in the way (atomically; never a directory)'
complete -c lockkit -n "__fish_lockkit_using_subcommand install-links" -s n -l dry-run -d 'Say what would be done, and change nothing'
complete -c lockkit -n "__fish_lockkit_using_subcommand install-links" -s r -l relative -d 'Make the links relative to DIR instead of absolute'
complete -c lockkit -n "__fish_lockkit_using_subcommand install-links" -s h -l help -d 'Print help (see more with \'--help\')'
