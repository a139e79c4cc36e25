//! lockfile's man page: the hand-written sections around the OPTIONS that
//! `src/lockfile/args/defs.rs` defines.

use super::man::Page;

/// The synopsis, one form a line (after the command's name).
const SYNOPSIS: &str = "\
[-nnn] [-r nnn] [-l nnn] [-s nnn] [-!] [-ml|-mu] file ...
-v | -h | --help | --version";

/// The man page.
pub fn page() -> Page {
    Page {
        file: "lockkit-lockfile.1",
        title: "LOCKKIT-LOCKFILE",
        names: "lockkit-lockfile, lockfile",
        summary: "conditionally create lock files, several at once",
        command: "lockfile",
        synopsis: SYNOPSIS,
        body: format!(
            "{BEFORE_OPTIONS}\n# OPTIONS\n{}{AFTER_OPTIONS}",
            super::lockfile().options_markup() + OPTIONS_NOTE
        ),
    }
}

/// After the options and operands, in the OPTIONS section.
const OPTIONS_NOTE: &str =
    "Values follow their option directly or as the next argument, even one that
starts with `-` (`-r -1`). Flags can be combined: `-1r3!` is `-1 -r 3 -!`.\n";

const BEFORE_OPTIONS: &str = r#"
# DESCRIPTION
`lockfile` creates lock files, one or several, and waits for each to be free
if it must. It is lockkit's drop-in replacement for procmail's `lockfile`(1)
(Debian's procmail 3.22, which calls itself v3.23pre): the same grammar,
messages, exit statuses and lock files. It runs as `lockfile` through a link
of that name (see `lockkit install-links` in `lockkit`(1)), or as
`lockkit lockfile`.

A lock is a read-only file (mode 0444 minus the umask) containing `0`,
created atomically: lockfile writes a temporary file in the lock's directory
and links it to the lock's name, which succeeds for one process only. Once
lockfile has exited the locks stay; remove them with `rm -f` when done.

The arguments are read from left to right in one pass, and each file is
locked when it is reached, with the options in force at that point: options
may come before, between and after the files, and stay in force until
changed. If a lock exists, lockfile waits *nnn* seconds (`-nnn`, default 8)
between attempts, up to `-r` retries, but it takes the lock the moment it is
released. If a file cannot be locked, the locks this run made are removed
and lockfile exits with an error: all or nothing.
"#;

const AFTER_OPTIONS: &str = r#"
# EXIT STATUS
: 0
Every file was locked (or, with `-!`, locking failed with status 73); or
`--help` or `--version`.

: 64 (EX_USAGE)
No arguments, nothing to lock, an unknown option or a bad value, `--`, a
second `-ml` or `-mu`, `-v`, `-h`; also `-mu` when the lock could not be
removed and nothing else was done.

: 67 (EX_NOUSER)
`-ml` or `-mu` for a user without a passwd entry, after earlier locks in the
same run (they are removed). With nothing done before, it is a usage error
(64).

: 69 (EX_UNAVAILABLE)
`Try praying`: the lock cannot be created at all (a missing or unwritable
directory, a file system without hard links, and so on); or `Filename too
long`.

: 73 (EX_CANTCREAT)
`Sorry`: a lock was still held after the retries ran out. Also a success
inverted by `-!`.

: 75 (EX_TEMPFAIL)
`Signal received`: SIGHUP, SIGINT, SIGQUIT or SIGTERM arrived while
lockfile waited for a lock.

On every failure, the locks this run made are removed first. Killed by
another signal, lockfile also removes them and its temporary file, then dies
of the signal.

# ENVIRONMENT
: `LOGNAME`
Your login name for `-ml` and `-mu`, if it names the real user id (as it
is, or cut at `@` and lower-cased); otherwise the real user id's name in the
passwd database is used.

# FILES
: `/var/mail/`*login*`.lock`
The mailbox lock of `-ml` and `-mu`. Locking in a spool directory that only
group `mail` may write needs privileges lockkit does not take (Debian's
lockfile is setgid mail).

: *dir*`/_`*...*
The temporary file, in the lock's directory, while lockfile works; it is
always removed.

# EXAMPLES
Lock a mail folder while a script edits it; `-r 3` gives up after three
retries, and the lock is removed with `rm`:
```
lockfile -r 3 "$HOME/Mail/inbox.lock" || exit 1
formail -s procmail < "$HOME/Mail/inbox"
rm -f "$HOME/Mail/inbox.lock"
```

Take several locks, all or nothing, retrying every second:
```
lockfile -1 -r 10 db.lock index.lock && { rebuild; rm -f db.lock index.lock; }
```

Break a lock left behind by a crashed writer once it is more than 10
minutes old:
```
lockfile -l 600 -r 5 /var/spool/app/queue.lock
```

Lock your system mailbox:
```
lockfile -ml && { mail_work; lockfile -mu; }
```

# NOTES
## Stale locks
A lock holds no process id, so lockfile cannot tell whether its holder is
alive: only `-l` breaks old locks. The age is measured on the file system's
clock (against the modification time of lockfile's fresh temporary file),
so clock skew between an NFS client and its server does not matter. A lock
that cannot be forced (a directory, someone else's lock in a sticky
directory) gets the message `Forced unlock denied on "`*file*`"` and counts
as a failed attempt.
Forcing is atomic among lockkit processes: of several runs that find one old
lock, exactly one forces it.

## Waiting
lockfile wakes as soon as the lock is removed (inotify) or reaches the `-l`
age, and still gives up exactly when procmail's would: the retry schedule,
shared by all files of a run, is the clock. On NFS and other remote file
systems, where such events cannot be seen, it retries on the schedule.

## NFS
Creating the lock through a temporary file and `link`(2) is safe on NFS,
where O_EXCL is not. Where `link`(2) fails with EXDEV, an exclusive create is
used instead, as procmail does (the lock is then empty).

## No descriptor, nothing inherited
A lock file is not tied to a process: it stays until it is removed, whoever
exits. Remove it with `rm -f` (or `lockfile -mu` for the mailbox). Apart from
forcing (`-l`) and `-mu`, lockfile never removes a lock that this run did
not make.

## Differences from procmail's lockfile
* Waiters wake on release instead of sleeping the sleeptime.
* A lock that cannot be forced counts against `-r` instead of being retried
  forever; forcing is atomic; the failure cleanup only removes locks that
  are still this run's; uncaught signals clean up too.
* No one-second pauses for the clock to tick; `-0` does not poll.
* `-ml` or `-mu` without a passwd entry after earlier locks exits 67, not 0.
* `-v` prints lockkit's version instead of procmail's copyright text, and
  does not crash for a user without a passwd entry; `--help` and
  `--version` are new.
* lockkit installs without privileges: Debian's lockfile is setgid mail.

The full list, with the reasons, is `docs/compat.md` in lockkit's sources.

# SEE ALSO
`lockfile`(1), `procmail`(1), `formail`(1), `lockkit`(1),
`lockkit-flock`(1), `lockkit-dotlock`(1), `dotlockfile`(1), flock(2),
fcntl(2)
"#;
