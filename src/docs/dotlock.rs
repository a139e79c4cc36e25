//! dotlock's man page: the hand-written sections around the OPTIONS that
//! `src/dotlock/args/defs.rs` defines.

use super::man::Page;

/// The synopsis, one form a line (after the command's name).
const SYNOPSIS: &str = "\
[-l] [-r retries] [-i interval] [-p] [-q] <-m|lockfile>
[-l] [-r retries] [-i interval] [-p] [-q] [-P] <-m|lockfile> command [argument...]
-u|-t|-c [-p] [-q] <-m|lockfile>
--help|--version";

/// The man page.
pub fn page() -> Page {
    Page {
        file: "lockkit-dotlock.1",
        title: "LOCKKIT-DOTLOCK",
        names: "lockkit-dotlock, dotlock, dotlockfile",
        summary: "create, remove, touch or check a lock file, or run a command under one",
        command: "dotlock",
        synopsis: SYNOPSIS,
        body: format!(
            "{BEFORE_OPTIONS}\n# OPTIONS\n{}{AFTER_OPTIONS}",
            super::dotlock().options_markup()
        ),
    }
}

const BEFORE_OPTIONS: &str = r#"
# DESCRIPTION
`dotlock` creates and removes lock files: the "dot lock" that mail programs
use and that works over NFS. It is lockkit's drop-in replacement for
liblockfile's `dotlockfile`(1) (release 1.17), with the same options,
messages, exit statuses and lock files. It runs as `dotlock` or
`dotlockfile` through a link of that name (see `lockkit install-links` in
`lockkit`(1)), or as `lockkit dotlock`. Its messages always say
`dotlockfile`.

A lock is a file, created atomically: dotlock writes a temporary file next
to the lock (named `.lk` + pid + host) and links it to the lock's name,
which succeeds for one process only. The lock contains a process id and a
newline (`-p`), or `0` and a newline. Whoever holds it removes it
(`dotlock -u`, or `rm`) when done.

If the lock exists, dotlock retries up to `-r` times, following
dotlockfile's schedule (5, 10, 15 ... 60 seconds apart, or `-i`) to decide
when to give up, but it takes the lock the moment it is released rather than
at the next retry. A lock it finds stale (see NOTES) is removed and taken.

With a command after the lock file, dotlock takes the lock, runs the
command, keeps the lock fresh while it runs (touching it every 30 seconds
when it holds no pid), and removes it when the command ends. Options are
read up to the lock file only: everything after it is the command.

Options are acted on from left to right; `-u`, `-t` and `-c` cannot be
combined with `-l` or a command, and if several of them are given, `-c` wins
over `-t`, which wins over `-u`.
"#;

const AFTER_OPTIONS: &str = r#"
# EXIT STATUS
Creating a lock exits with liblockfile's status:

: 0 (L_SUCCESS)
The lock was created (or, with a command, the command ran: the status is 0
unless `-P`).

: 1 (L_NAMELEN)
The lock's name is too long (4096 bytes or more).

: 2 (L_TMPLOCK)
The temporary file could not be created, e.g. the directory does not exist
or is not writable.

: 3 (L_TMPWRITE)
The temporary file could not be written.

: 4 (L_MAXTRYS)
Gave up: the lock was still held after the retries.

: 5 (L_ERROR)
Another error: a bad `-r` or `-i` value, the mailbox of an unknown user
(`-m`), a name too long for the temporary file, the calling process died
while dotlock waited, or a command could not be started (fork failed).

: 7 (L_ORPHANED)
`-p` without a command, and the caller (whose pid would be written) is pid
1.

: 8 (L_RMSTALE)
A stale lock could not be removed (e.g. another user's lock in a sticky
directory).

The other actions and errors:

: 1
A usage error (printed with the usage), or `-u`, `-t` or `-c` failed (for
`-c`: no valid lock).

: 127
With `-P`: the command could not be run.

: *status*
With `-P`: the command's exit status, or 128 plus the signal number if a
signal killed it.

# ENVIRONMENT
: `MAIL`
With `-m`, the mailbox whose lock is taken: `$MAIL.lock`. If it is unset,
`/var/mail/`*user*`.lock`.

: `PATH`
Searched for the command, as execvp(3) does.

# FILES
: `/var/mail/`*user*`.lock`
The mailbox lock of `-m` when `MAIL` is unset. Locking in a spool directory
that only group `mail` may write needs privileges lockkit does not take
(Debian's dotlockfile is setgid mail).

: `/run/lock/`, `/var/lock/`
The usual place for other lock files.

: *dir*`/.lk`*pid*...
The temporary file, next to the lock, while dotlock works; it is always
removed.

# EXAMPLES
Take a lock, retrying 5 times (about 75 seconds) before giving up, and
remove it when done:
```
dotlock -r 5 /var/lock/x && { do_work; dotlock -u /var/lock/x; }
```

Run a command under the lock; `-P` passes its exit status on:
```
dotlock -r 5 -P /var/lock/nightly.lock /usr/local/bin/nightly.sh
```

Record the holder's pid, so that a lock left behind by a crashed process is
broken at once instead of after 5 minutes:
```
dotlock -p -r 3 /run/lock/myapp.lock
```

Lock your mailbox while fetching mail:
```
dotlock -m && { fetchmail; dotlock -m -u; }
```

Wait as long as it takes:
```
dotlock -r -1 /var/lock/x
```

# NOTES
## Stale locks
A lock is stale, and dotlock removes it and takes its place, when it is
older than 5 minutes by its modification time, or, with `-p`, when it names
a process that no longer exists (or whose pid was reused by a newer
process). Age is judged on the file system's clock, so clock skew between an
NFS client and its server does not matter. A lock held for longer than 5
minutes without a pid must be touched (`-t`) to stay valid; command mode
does that by itself.

Stale locks are broken atomically among lockkit processes: two waiters
never both take the same stale lock.

## Waiting
dotlock wakes as soon as the lock is removed (inotify), its `-p` holder
exits, or it reaches the age limit, and still gives up exactly when
dotlockfile would. On NFS and other remote file systems, where such events
cannot be seen, it retries on the schedule.

## NFS
The temporary file and `link`(2) make lock files safe on NFS, where
O_EXCL is not. Whether the link landed is judged by comparing the two
names' inodes, not by link's result, which NFS can misreport.

## Signals and inheritance
No lock descriptor is involved: a lock file stays until it is removed, and
nothing is inherited by the command. In command mode, SIGTERM, SIGHUP,
SIGUSR1, SIGUSR2 and SIGPIPE are passed on to the command; dotlock waits for
it, removes the lock and dies of the same signal. SIGINT, SIGQUIT and SIGALRM
are survived, as dotlockfile does. Temporary files are removed on any
catchable fatal signal.

## Differences from liblockfile's dotlockfile 1.17
* Waiters wake on release instead of sleeping up to a minute.
* Stale locks are broken atomically; with `-p`, a reused pid or a zombie
  holder makes a lock stale; age is judged on the file system's clock, not
  the file's access time.
* `-i 0` does not spin; `-r 2147483647` waits for a long time instead of
  failing at once; a stale lock found on the last retry is taken.
* Temporary files never leak; in command mode, SIGTERM and SIGHUP no longer
  leave the lock and the command behind, and a lock that cannot be removed
  at the end is reported.
* `--help` and `--version`.
* Debian's dotlockfile is setgid `mail`; lockkit installs without
  privileges, so it cannot lock mailboxes in a spool that only group mail
  may write.

The full list, with the reasons, is `docs/compat.md` in lockkit's sources.

# SEE ALSO
`dotlockfile`(1), `lockfile_create`(3), `maillock`(3), `lockfile`(1),
`lockkit`(1), `lockkit-flock`(1), `lockkit-lockfile`(1), flock(2), fcntl(2)
"#;
