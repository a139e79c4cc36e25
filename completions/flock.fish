# flock completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
complete -c flock -s 's' -l shared -d 'Get a shared lock'
complete -c flock -s 'x' -s 'e' -l exclusive -d 'Get an exclusive lock (default)'
complete -c flock -s 'u' -l unlock -d 'Remove a lock'
complete -c flock -s 'n' -l nonblock -d 'Fail rather than wait'
complete -c flock -s 'w' -l timeout -d 'Wait for a limited amount of time' -r -f
complete -c flock -s 'E' -l conflict-exit-code -d 'Exit code after conflict or timeout' -r -f
complete -c flock -s 'o' -l close -d 'Close file descriptor before running command'
complete -c flock -s 'c' -l command -d 'Run a single command string through the shell' -r -f -a '(__fish_complete_command)'
complete -c flock -s 'F' -l no-fork -d 'Execute command without forking'
complete -c flock -l fcntl -d 'Use fcntl(F_OFD_SETLK) rather than flock(2)'
complete -c flock -l start -d 'Starting offset of the lock range (implies --fcntl)' -r -f
complete -c flock -l length -d 'Length of the lock range (implies --fcntl)' -r -f
complete -c flock -l fd -d 'Lock this file descriptor and run a command' -r -f
complete -c flock -l verbose -d 'Increase verbosity'
complete -c flock -s 'h' -l help -d 'Display this help'
complete -c flock -s 'V' -l version -d 'Display version'
