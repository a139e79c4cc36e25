//! flock's man page: the hand-written sections around the OPTIONS that
//! `src/flock/args/defs.rs` defines.

use super::man::Page;

/// The synopsis, one form a line (after the command's name).
const SYNOPSIS: &str = "\
[options] file|directory command [argument...]
[options] file|directory -c command
[options] number
[options] --fd number command [argument...]
[options] --fd number -c command";

/// The man page.
pub fn page() -> Page {
    Page {
        file: "lockkit-flock.1",
        title: "LOCKKIT-FLOCK",
        names: "lockkit-flock, flock",
        summary: "manage file locks from shell scripts",
        command: "flock",
        synopsis: SYNOPSIS,
        body: format!(
            "{BEFORE_OPTIONS}\n# OPTIONS\n{}{AFTER_OPTIONS}",
            super::flock().options_markup()
        ),
    }
}

const BEFORE_OPTIONS: &str = r#"
# DESCRIPTION
`flock` takes a flock(2) lock on a file, a directory or an open file
descriptor, for shell scripts and the command line. It is lockkit's drop-in
replacement for util-linux's `flock`(1) (release 2.38.1): the same options,
messages and exit statuses, plus options from newer util-linux releases. It
runs as `flock` through a link of that name (see `lockkit install-links` in
`lockkit`(1)), or as `lockkit flock`.

The first and second forms wrap the lock around a command, in a manner
similar to `su`(1) or `newgrp`(1). They lock the file or directory, which is
created (permissions allowing) if it does not exist, run the command, and
exit with its status when it ends. Everything after the file belongs to the
command: options written after the file are the command's, not flock's.

The third form locks an open file descriptor by its number, typically one
the shell opened with a redirection; the lock stays with that descriptor
after flock exits (see EXAMPLES). A number given as the only operand is
always a descriptor, and a file given alone is an error.

The fourth and fifth forms lock an inherited descriptor *and* run a command
while holding it.

By default, if the lock cannot be had at once, flock waits until it is
released: the kernel wakes it the moment the holder lets go. `-n` fails
instead, and `-w` limits the wait.
"#;

const AFTER_OPTIONS: &str = r#"
# EXIT STATUS
When a command runs, flock exits with the command's status: its exit
status, or 128 plus the signal number if a signal killed it. Otherwise:

: 0
The lock was taken (third form), or `--help` or `--version`.

: 1
The lock could not be had: `-n` and the lock is held, or the `-w` timeout
passed (unless `-E` chose another status); or writing to standard output
failed at exit (`flock: write error`, which replaces any other status).

: 64 (EX_USAGE)
A usage error: no arguments, an unknown option, a bad `-w`, `-E`, `--start`,
`--length` or descriptor number, `-E` out of range, `--close` with
`--no-fork`, `-c` without exactly one argument, no operand, `--fd` without a
command.

: 65 (EX_DATAERR)
The lock call failed with an unexpected error, for instance a descriptor that
is not open (`flock: 9: Bad file descriptor`).

: 66 (EX_NOINPUT)
The lock file could not be opened: a missing directory, no permission, and
so on.

: 69 (EX_UNAVAILABLE)
The command could not be run (not found, not executable).

: 71 (EX_OSERR)
Out of memory or descriptors, the kernel could not provide a lock
(ENOLCK), the `-w` timer could not be set up (a negative, infinite or NaN
timeout), or fork failed.

: 73 (EX_CANTCREAT)
The lock file could not be created: a read-only file system, or no space.

# ENVIRONMENT
: `SHELL`
The shell that runs a `-c` command string, if set and not empty; otherwise
`/bin/sh`. A name without a slash is looked up in `PATH`.

: `PATH`
Searched for the command, as execvp(3) does.

: `LC_ALL`, `LC_NUMERIC`, `LANG`
The decimal point of `-w` values follows the locale: under a locale with a
decimal comma, `-w 0,5` is valid and `-w 0.5` is not. Messages are always
in English.

# FILES
: `/run/lock/`, `/var/lock/`
The usual place for lock files (a memory file system emptied at boot;
`/var/lock` is a link to `/run/lock` on most systems). flock follows
symbolic links and creates the target of a dangling one, as util-linux's
does, so keep lock files in a directory that only the intended users can
write, such as `/run/lock/`*app*`/`.

# EXAMPLES
A cron job that must not overlap with itself: skip this run if the last one
is still going.
```
*/5 * * * * flock -n /run/lock/backup.lock /usr/local/bin/backup.sh
```

Wait at most 10 seconds, and tell "still locked" (75) from the job's own
failures:
```
flock -w 10 -E 75 /run/lock/backup.lock backup.sh
```

Lock part of a script through a descriptor; the lock lasts until the
subshell closes descriptor 9:
```
(
  flock -n 9 || exit 1
  # ... commands executed under the lock ...
) 9>/run/lock/myjob.lock
```

Or for the rest of the script:
```
exec 9>/run/lock/myjob.lock
flock -n 9 || exit 1
```

Lock that descriptor and run one command under it (`--fd`):
```
exec 9>/run/lock/myjob.lock
flock -w 5 --fd 9 make install
```

A script that locks itself (the FLOCKER idiom): the first line runs the
script again under flock on its own file, once.
```
[ "${FLOCKER}" != "$0" ] && exec env FLOCKER="$0" flock -en "$0" "$0" "$@" || :
```

A command string, and a shared lock for readers:
```
flock /run/lock/db.lock -c 'db-compact && db-vacuum'
flock -s /run/lock/db.lock db-dump > dump.sql
```

Interoperate with programs that use POSIX `fcntl` locks, such as the
password file lock that `useradd` and `passwd` take:
```
flock --fcntl -w 5 /etc/.pwd.lock sed -i 's/^old:/new:/' /etc/passwd
```

# NOTES
## The lock descriptor is inherited
flock opens the lock file without close-on-exec, and the command inherits
the descriptor: the command and every process it starts (background
processes included) hold the lock until all of them have closed it or
exited. Use `-o` when the command starts something that must not keep the
lock, such as a daemon. flock keeps its own copy until the command ends;
with `-F` the command replaces flock and holds the lock itself.

flock forwards no signals: killing a waiting or forking flock leaves the
command running and holding the lock, as util-linux's does. Use `-F` (or
`-o`) if that is not wanted.

In the third form the lock belongs to the shell's open file description:
it lasts until the shell closes the descriptor (or runs `flock -u` on it),
and `flock -n 9` again on the same descriptor succeeds.

## Stale locks
A flock(2) lock cannot go stale. The kernel drops it when the last
descriptor is closed, so a holder that crashes releases it; the lock file
stays behind and is harmless. Do not remove a lock file that may be in use:
a process that opened the old file and one that creates a new one would lock
different files.

## Waiting
A waiter blocks in the kernel and is woken the moment the lock is released;
nothing is polled. `-w` is a timer that interrupts the wait; a blocked
SIGALRM inherited from the caller does not defeat it.

## NFS
On NFS, and on CIFS, flock(2) locks are emulated with byte-range locks, and
an exclusive lock then needs a descriptor open for writing. As util-linux
does, when locking fails with EIO or EBADF on a file flock opened read-only,
it reopens the file read-write (if the caller may write it) and tries again.
Some file systems have a limited implementation of flock(2), and flock may
always fail there. `--fcntl` locks are byte-range locks everywhere.

## Differences from util-linux flock 2.38.1
* `--fcntl` (util-linux 2.41), `--start` and `--length` (2.42) and `--fd`
  (later) are accepted; 2.38.1 rejects them as unrecognized options. `--f`
  is ambiguous between `--fcntl` and `--fd`.
* A blocked SIGALRM inherited from the caller no longer makes `-w` wait
  forever, and only the clock ends a wait.
* `--version` prints `flock from util-linux 2.38.1 (lockkit` *version*`)`;
  `--help` also lists the newer options and examples.
* Messages are always in English (the number syntax of `-w` does follow the
  locale).

The full list, with the reasons, is `docs/compat.md` in lockkit's sources.

# SEE ALSO
flock(2), fcntl(2), `flock`(1), `lockkit`(1), `lockkit-dotlock`(1),
`lockkit-lockfile`(1), `dotlockfile`(1), `lockfile`(1)
"#;
