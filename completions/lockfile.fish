complete -c lockfile -s r -d 'Make at most nnn retries before giving up on a lock (-1: forever)' -r -f
complete -c lockfile -s l -d 'Force a lock that is older than nnn seconds' -r -f
complete -c lockfile -s s -d 'Suspend nnn seconds after forcing a lock (default 16)' -r -f
complete -c lockfile -s m -d '-ml: lock your system mail-spool file; -mu: unlock it' -r -f -a "l\t'Lock your system mail-spool file'
u\t'Unlock your system mail-spool file'"
complete -c lockfile -s ! -d 'Invert the exit status (0 and 73)'
complete -c lockfile -s v -d 'Display the version number and exit'
complete -c lockfile -s h -d 'Display the options and exit'
complete -c lockfile -l help -d 'Display help with examples'
complete -c lockfile -l version -d 'Display lockkit\'s version'
