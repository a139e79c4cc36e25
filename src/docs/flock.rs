//! flock's options for documentation and completion, and its man page.
//!
//! flock itself parses with `crate::getopt` (`src/flock/args.rs`); the
//! tests below keep this definition and that parser in step.

use clap::{Arg, ArgAction, Command, ValueHint};

use super::man::{Page, markup};

/// The synopsis, one form a line: util-linux's three, then `--fd`'s two.
const USAGE: &str = "\
flock [options] file|directory command [argument...]
flock [options] file|directory -c command
flock [options] number
flock [options] --fd number command [argument...]
flock [options] --fd number -c command";

fn flag(id: &'static str, help: &'static str, long_help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .action(ArgAction::SetTrue)
        .help(help)
        .long_help(long_help)
}

fn value(id: &'static str, name: &'static str, help: &'static str, long_help: &'static str) -> Arg {
    Arg::new(id)
        .long(id)
        .value_name(name)
        .num_args(1)
        // Any word: nothing to complete (util-linux's completion offers a
        // placeholder), and never file names.
        .value_hint(ValueHint::Other)
        .help(help)
        .long_help(long_help)
}

/// flock as clap sees it: every option of `src/flock/args.rs` (and
/// `-c`/`--command`, which flock reads after the file), for the man page
/// and the completions only.
pub fn command() -> Command {
    Command::new("flock")
        .about("Manage file locks from shell scripts")
        .override_usage(USAGE)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .args([
            flag(
                "shared",
                "Get a shared lock",
                "Obtain a shared lock, sometimes called a read lock. Any number of \
                 processes can hold a shared lock on a file at once, but none while \
                 another holds an exclusive lock.",
            )
            .short('s'),
            flag(
                "exclusive",
                "Get an exclusive lock (the default)",
                "Obtain an exclusive lock, sometimes called a write lock. This is the \
                 default. -e is the same.",
            )
            .short('x')
            .visible_short_alias('e'),
            flag(
                "unlock",
                "Remove a lock",
                "Drop a lock. This is usually not required, since a lock is dropped \
                 when the last descriptor of the file is closed; it is useful in the \
                 third form (flock -u 9), for example when the enclosed command group \
                 may have forked a background process which should not be holding \
                 the lock.",
            )
            .short('u'),
            flag(
                "nonblock",
                "Fail rather than wait",
                "Fail rather than wait if the lock cannot be acquired at once. See -E \
                 for the exit status used. --nonblocking and --nb are the same.",
            )
            .short('n')
            .aliases(["nonblocking", "nb"]),
            value(
                "timeout",
                "secs",
                "Wait for a limited amount of time",
                "Fail if the lock cannot be acquired within secs seconds. Decimal \
                 fractions are allowed, written with the locale's decimal point \
                 (-w 0.5, or -w 0,5 under a locale with a decimal comma). Zero means \
                 --nonblock. See -E for the exit status used. --wait is the same.",
            )
            .short('w')
            .alias("wait"),
            value(
                "conflict-exit-code",
                "number",
                "Exit status after a conflict or timeout",
                "The exit status used when -n is in use and a conflicting lock \
                 exists, or -w is in use and the timeout is reached. The default is \
                 1. The number must be from 0 to 255.",
            )
            .short('E'),
            flag(
                "close",
                "Close the lock's descriptor before running the command",
                "Close the file descriptor on which the lock is held before running \
                 the command. This is useful if the command starts a process that \
                 should not be holding the lock. Not allowed with --no-fork.",
            )
            .short('o'),
            Arg::new("command-string")
                .short('c')
                .long("command")
                .value_name("command")
                .num_args(1)
                .value_hint(ValueHint::CommandString)
                .help("Run a single command string through the shell")
                .long_help(
                    "Pass a single command, without arguments, to the shell with -c: \
                     $SHELL if it is set and not empty, else /bin/sh. It is written \
                     after the file (flock file -c command), or with --fd among the \
                     options.",
                ),
            flag(
                "no-fork",
                "Run the command without forking",
                "Do not fork before running the command: flock is replaced by the \
                 command, which goes on holding the lock (its exit status is then the \
                 command's own). Not allowed with --close, as nothing would be left \
                 to hold the lock.",
            )
            .short('F'),
            flag(
                "fcntl",
                "Use fcntl(F_OFD_SETLK) rather than flock(2)",
                "Lock with open file description locks (fcntl(2) F_OFD_SETLK and \
                 F_OFD_SETLKW) instead of flock(2). They conflict with classic POSIX \
                 fcntl locks (such as the /etc/.pwd.lock lock that glibc's lckpwdf \
                 takes) and not with flock(2) locks. An exclusive --fcntl lock opens \
                 the file write-only, so it needs write permission. From util-linux \
                 2.41.",
            ),
            value(
                "start",
                "offset",
                "Starting offset of the lock range (implies --fcntl)",
                "Lock a byte range starting at offset (implies --fcntl). Sizes may \
                 have a K, M, G, T, P, E, Z or Y suffix (KiB = 1024, KB = 1000) and a \
                 decimal fraction before it (0.5K = 512). The default is 0. From \
                 util-linux 2.42.",
            ),
            value(
                "length",
                "number",
                "Length of the lock range (implies --fcntl)",
                "Lock a byte range of this length (implies --fcntl), with the same \
                 syntax as --start. 0, the default, means to the end of the file. \
                 From util-linux 2.42.",
            ),
            value(
                "fd",
                "number",
                "Lock this file descriptor and run a command",
                "Lock the open file descriptor number, inherited from the caller, \
                 and run the command (or the -c command string) while holding it. \
                 The positional third form cannot run a command: flock 9 cmd locks a \
                 file named 9. From upstream util-linux after 2.42.",
            ),
            flag(
                "verbose",
                "Report how long getting the lock took",
                "Report on stdout how long it took to get the lock and which \
                 command is run, and on stderr why the lock could not be had.",
            ),
            flag("help", "Display help", "Display help text and exit.").short('h'),
            flag(
                "version",
                "Display version",
                "Print the version (flock from util-linux 2.38.1, and lockkit's \
                 version) and exit.",
            )
            .short('V'),
            Arg::new("file")
                .value_name("file")
                .value_hint(ValueHint::AnyPath)
                .help("The file or directory to lock, or a file descriptor number")
                .long_help(
                    "The file or directory to lock. It is created if it does not \
                     exist (a directory cannot be created). As the only operand: \
                     the number of an open file descriptor to lock.",
                ),
            Arg::new("command")
                .value_name("command")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true)
                .value_hint(ValueHint::CommandWithArguments)
                .help("The command to run while holding the lock, and its arguments")
                .long_help(
                    "The command to run while holding the lock, with its arguments \
                     (looked up in PATH). Everything after the file belongs to it, \
                     including words that look like options.",
                ),
        ])
}

/// The man page.
pub fn page() -> Page {
    Page {
        file: "lockkit-flock.1",
        title: "LOCKKIT-FLOCK",
        names: "lockkit-flock, flock",
        summary: "manage file locks from shell scripts",
        command: command(),
        before_options: markup(BEFORE_OPTIONS),
        after_options: markup(AFTER_OPTIONS),
        clap_options: true,
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

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::Prog;
    use crate::flock::args::parse;

    fn prog() -> Prog {
        Prog::named("flock")
    }

    /// Whether flock's parser refuses `args` as getopt would (an unknown
    /// option, a missing value), rather than accepting them or finding
    /// another fault.
    fn getopt_refuses(args: &[&str]) -> Option<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let e = parse(&prog(), &args).err()?;
        let text = String::from_utf8_lossy(e.message()).into_owned();
        [
            "invalid option",
            "unrecognized option",
            "requires an argument",
            "ambiguous",
        ]
        .iter()
        .any(|m| text.contains(m))
        .then_some(text)
    }

    fn options() -> Vec<Arg> {
        crate::docs::options_of(command())
    }

    /// Every documented option, in every spelling, is one flock accepts.
    #[test]
    fn every_documented_option_is_accepted() {
        for arg in options() {
            let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
            let mut spellings: Vec<String> = Vec::new();
            spellings.extend(
                arg.get_short_and_visible_aliases()
                    .into_iter()
                    .flatten()
                    .map(|c| format!("-{c}")),
            );
            spellings.extend(
                arg.get_all_short_aliases()
                    .into_iter()
                    .flatten()
                    .map(|c| format!("-{c}")),
            );
            spellings.extend(arg.get_long().map(|l| format!("--{l}")));
            spellings.extend(
                arg.get_all_aliases()
                    .into_iter()
                    .flatten()
                    .map(|l| format!("--{l}")),
            );
            assert!(!spellings.is_empty(), "{:?}", arg.get_id());
            for s in spellings {
                let args: Vec<&str> = if arg.get_id() == "command-string" {
                    // Read after the file, not by getopt.
                    vec!["f", &s, "true"]
                } else if takes_value {
                    vec![&s, "1", "f", "true"]
                } else {
                    vec![&s, "f", "true"]
                };
                if let Some(e) = getopt_refuses(&args) {
                    panic!("documented {s} is refused by flock: {e}");
                }
            }
        }
    }

    /// Every short option flock accepts is documented (`-?` only prints the
    /// "Try --help" line, as util-linux's does, and is left out).
    #[test]
    fn every_accepted_short_option_is_documented() {
        let documented: Vec<char> = options()
            .iter()
            .flat_map(|a| {
                a.get_short()
                    .into_iter()
                    .chain(a.get_all_short_aliases().into_iter().flatten())
            })
            .collect();
        for c in (0x21u8..0x7f)
            .map(char::from)
            .filter(|&c| c != '-' && c != '?')
        {
            let opt = format!("-{c}");
            if getopt_refuses(&[&opt, "1", "f", "true"]).is_none() {
                assert!(
                    documented.contains(&c),
                    "flock accepts {opt}, which is not documented"
                );
            }
        }
    }

    /// Every long option flock accepts is documented: each one-letter
    /// abbreviation either names no option, names one that is documented,
    /// or is ambiguous between options that all are.
    #[test]
    fn every_accepted_long_option_is_documented() {
        let documented: Vec<String> = options()
            .iter()
            .flat_map(|a| {
                a.get_long()
                    .map(str::to_owned)
                    .into_iter()
                    .chain(a.get_all_aliases().into_iter().flatten().map(str::to_owned))
            })
            .collect();
        for c in 'a'..='z' {
            let opt = format!("--{c}");
            match getopt_refuses(&[&opt, "1", "f", "true"]) {
                None => assert!(
                    documented.iter().any(|d| d.starts_with(c)),
                    "flock accepts {opt}, and no documented option starts with it"
                ),
                Some(e) if e.contains("ambiguous") => {
                    for name in e.split('\'').filter_map(|w| w.strip_prefix("--")) {
                        assert!(
                            name.len() <= 1 || documented.iter().any(|d| d == name),
                            "flock has --{name}, which is not documented ({e})"
                        );
                    }
                }
                Some(_) => {}
            }
        }
        for name in [
            "nonblocking",
            "nb",
            "timeout",
            "wait",
            "fcntl",
            "start",
            "length",
            "fd",
            "verbose",
        ] {
            assert!(documented.iter().any(|d| d == name), "--{name}");
        }
    }

    #[test]
    fn definition_is_consistent() {
        command().debug_assert();
    }
}
