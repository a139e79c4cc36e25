# lockfile completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
complete -c lockfile -s 'v' -d 'Display the version number and exit'
complete -c lockfile -s 'r' -d 'Make at most nnn retries before giving up on a lock' -r -f
complete -c lockfile -s 'l' -d 'Set locktimeout to nnn seconds' -r -f
complete -c lockfile -s 's' -d 'Suspend nnn seconds after a locktimeout occurred' -r -f
complete -c lockfile -s '!' -d 'Invert the exitcode of lockfile'
complete -c lockfile -o 'ml' -d 'Lock your system mail-spool file'
complete -c lockfile -o 'mu' -d 'Unlock your system mail-spool file'
complete -c lockfile -s 'h' -d 'Print the usage and the options'
complete -c lockfile -l help -d 'This help'
complete -c lockfile -l version -d 'Print lockkit\'s version on standard output'
