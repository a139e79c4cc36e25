# dotlockfile completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
complete -c dotlockfile -s 'l' -d 'Create the lock (the default)'
complete -c dotlockfile -s 'u' -d 'Remove the lock'
complete -c dotlockfile -s 't' -d 'Touch the lock, to keep it fresh'
complete -c dotlockfile -s 'c' -d 'Check: exit 0 if a valid lock exists'
complete -c dotlockfile -s 'r' -d 'Retry this many times before giving up (default 5, -1: forever)' -r -f
complete -c dotlockfile -s 'i' -d 'Seconds between scheduled retries (default 5, 10, ... 60)' -r -f
complete -c dotlockfile -s 'p' -d 'Write a pid into the lock (the caller\'s, or dotlock\'s own in command mode)'
complete -c dotlockfile -s 'm' -d 'Lock your mailbox: $MAIL.lock or /var/mail/$USER.lock'
complete -c dotlockfile -s 'q' -d 'Quiet'
complete -c dotlockfile -s 'P' -d 'Exit with the command\'s status'
complete -c dotlockfile -s 'N' -d 'Write no pid (the default)'
complete -c dotlockfile -l help -d 'Show this help'
complete -c dotlockfile -l version -d 'Show the version'
