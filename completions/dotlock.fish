# dotlock completion (lockkit); generated from the option definitions by `cargo run --example generate -- .`
complete -c dotlock -s 'l' -d 'Create the lock (the default)'
complete -c dotlock -s 'u' -d 'Remove the lock'
complete -c dotlock -s 't' -d 'Touch the lock, to keep it fresh'
complete -c dotlock -s 'c' -d 'Check: exit 0 if a valid lock exists'
complete -c dotlock -s 'r' -d 'Retry this many times before giving up (default 5, -1: forever)' -r -f
complete -c dotlock -s 'i' -d 'Seconds between scheduled retries (default 5, 10, ... 60)' -r -f
complete -c dotlock -s 'p' -d 'Write a pid into the lock (the caller\'s, or dotlock\'s own in command mode)'
complete -c dotlock -s 'm' -d 'Lock your mailbox: $MAIL.lock or /var/mail/$USER.lock'
complete -c dotlock -s 'q' -d 'Quiet'
complete -c dotlock -s 'P' -d 'Exit with the command\'s status'
complete -c dotlock -s 'N' -d 'Write no pid (the default)'
complete -c dotlock -l help -d 'Show this help'
complete -c dotlock -l version -d 'Show the version'
