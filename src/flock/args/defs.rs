//! flock's options, defined once: util-linux 2.38.1's, in the order of its
//! `--help`, then the newer upstream ones. The parser reads this table,
//! `--help` is rendered from it, and so are the man page and completions.

use crate::opts::{Complete, Operand, Opt, Out, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Shared,
    Exclusive,
    Unlock,
    NonBlock,
    Timeout,
    ConflictExitCode,
    Close,
    Command,
    NoFork,
    Fcntl,
    Start,
    Length,
    Fd,
    Verbose,
    Help,
    Version,
    TryHelp,
    SingleFlight,
    Slots,
    Who,
    Watchdog,
    Grace,
    ForwardSignals,
}

const fn opt(id: Id, short: &'static [u8], long: &'static [&'static str]) -> Opt<Id> {
    Opt::new(id, short, long)
}

/// util-linux's option string is `+sexnoFuw:E:hV?`; its long options come
/// in this order (which shows in ambiguity messages), then the additions.
pub const OPTIONS: &[Opt<Id>] = &[
    opt(Id::Shared, b"s", &["shared"])
        .help("get a shared lock")
        .doc(
            "Obtain a shared lock, sometimes called a read lock. Any number of \
              processes can hold a shared lock on a file at once, but none while \
              another holds an exclusive lock.",
        ),
    opt(Id::Exclusive, b"xe", &["exclusive"])
        .help("get an exclusive lock (default)")
        .doc(
            "Obtain an exclusive lock, sometimes called a write lock. This is the \
              default. -e is the same.",
        ),
    opt(Id::Unlock, b"u", &["unlock"])
        .help("remove a lock")
        .doc(
            "Drop a lock. This is usually not required, since a lock is dropped \
              when the last descriptor of the file is closed; it is useful in the \
              third form (flock -u 9), for example when the enclosed command group \
              may have forked a background process which should not be holding \
              the lock.",
        ),
    opt(Id::NonBlock, b"n", &["nonblocking", "nb"])
        .shown("nonblock")
        .help("fail rather than wait")
        .doc(
            "Fail rather than wait if the lock cannot be acquired at once. See -E \
              for the exit status used. --nonblocking and --nb are the same.",
        ),
    opt(Id::Timeout, b"w", &["timeout", "wait"])
        .value("secs")
        .help("wait for a limited amount of time")
        .doc(
            "Fail if the lock cannot be acquired within secs seconds. Decimal \
              fractions are allowed, written with the locale's decimal point \
              (-w 0.5, or -w 0,5 under a locale with a decimal comma). Zero means \
              --nonblock. See -E for the exit status used. --wait is the same.",
        ),
    opt(Id::ConflictExitCode, b"E", &["conflict-exit-code"])
        .value("number")
        .help("exit code after conflict or timeout")
        .doc(
            "The exit status used when -n is in use and a conflicting lock \
              exists, or -w is in use and the timeout is reached. The default is \
              1. The number must be from 0 to 255.",
        ),
    opt(Id::Close, b"o", &["close"])
        .help("close file descriptor before running command")
        .doc(
            "Close the file descriptor on which the lock is held before running \
              the command. This is useful if the command starts a process that \
              should not be holding the lock. Not allowed with --no-fork.",
        ),
    opt(Id::Command, b"c", &["command"])
        .value("command")
        .read(Read::AfterOperand)
        .complete(Complete::CommandString)
        .help("run a single command string through the shell")
        .doc(
            "Pass a single command, without arguments, to the shell with -c: \
              $SHELL if it is set and not empty, else /bin/sh. It is written \
              after the file (flock file -c command), or with --fd among the \
              options.",
        ),
    opt(Id::NoFork, b"F", &["no-fork"])
        .help("execute command without forking")
        .doc(
            "Do not fork before running the command: flock is replaced by the \
              command, which goes on holding the lock (its exit status is then the \
              command's own). Not allowed with --close, as nothing would be left \
              to hold the lock.",
        ),
    opt(Id::Fcntl, b"", &["fcntl"])
        .extension()
        .help("use fcntl(F_OFD_SETLK) rather than flock(2)")
        .doc(
            "Lock with open file description locks (fcntl(2) F_OFD_SETLK and \
              F_OFD_SETLKW) instead of flock(2). They conflict with classic POSIX \
              fcntl locks (such as the /etc/.pwd.lock lock that glibc's lckpwdf \
              takes) and not with flock(2) locks. An exclusive --fcntl lock opens \
              the file write-only, so it needs write permission. From util-linux \
              2.41.",
        ),
    opt(Id::Start, b"", &["start"])
        .extension()
        .value("offset")
        .help("starting offset of the lock range (implies --fcntl)")
        .doc(
            "Lock a byte range starting at offset (implies --fcntl). Sizes may \
              have a K, M, G, T, P, E, Z or Y suffix (KiB = 1024, KB = 1000) and a \
              decimal fraction before it (0.5K = 512). The default is 0. From \
              util-linux 2.42.",
        ),
    opt(Id::Length, b"", &["length"])
        .extension()
        .value("number")
        .help("length of the lock range (implies --fcntl)")
        .doc(
            "Lock a byte range of this length (implies --fcntl), with the same \
              syntax as --start. 0, the default, means to the end of the file. \
              From util-linux 2.42.",
        ),
    opt(Id::Fd, b"", &["fd"])
        .extension()
        .value("number")
        .help("lock this file descriptor and run a command")
        .doc(
            "Lock the open file descriptor number, inherited from the caller, \
              and run the command (or the -c command string) while holding it. \
              The positional third form cannot run a command: flock 9 cmd locks a \
              file named 9. From upstream util-linux after 2.42.",
        ),
    opt(Id::Verbose, b"", &["verbose"])
        .help("increase verbosity")
        .doc(
            "Report on stdout how long it took to get the lock and which \
              command is run, and on stderr why the lock could not be had.",
        ),
    opt(Id::Slots, b"", &["slots"])
        .extension()
        .value("n")
        .help("take one of n slots (a semaphore)")
        .doc(
            "Make the file a semaphore of n slots (1 to 65536): at most n \
              commands run at once, each holding one slot, and waiters are \
              served in the order they came. The command learns its slot in \
              LOCKKIT_SLOT (0 to n-1) and n in LOCKKIT_SLOTS. -s (the default \
              here) takes one slot; -x or -e takes every slot at once, waiting \
              until none is held (LOCKKIT_SLOT is then unset). -n, -w, -E, -o, \
              -F and --verbose keep their meanings; --fcntl is implied; -u, \
              --fd, --start and --length cannot be used. Everyone sharing the \
              file must give the same n, and be able to write to it. See \
              SLOTS. A lockkit extension.",
        ),
    opt(Id::SingleFlight, b"", &["single-flight"])
        .extension()
        .help("run the command once for all who come while it runs")
        .doc(
            "If no run of the command is in progress, run it holding an \
              exclusive lock on the file, and exit with its status. If one is, \
              wait for it to end and exit with that run's status, without \
              running the command. The file keeps a small record of the runs \
              (see SINGLE-FLIGHT): it is opened read-write and must be a \
              regular file that holds nothing else. -n and -w limit the wait for \
              a run in progress (see -E for the exit status). Waiters of a run \
              whose flock was killed exit with status 80. Not with -s, -u, -F, \
              --fcntl, --start, --length, --fd or a descriptor number.",
        ),
    opt(Id::Who, b"", &["who"])
        .extension()
        .help("on a conflict or timeout, name who holds the lock")
        .doc(
            "When the lock cannot be had (-n, or -w ran out), print one more line \
              on standard error, after --verbose's own, naming the holders that \
              stand in the way: pid, command line, kind of lock and when the \
              process started (flock: held by pid 1234 (backup.sh), exclusive \
              flock since 21:03:05). A holder in another pid namespace, or an OFD \
              lock held through a descriptor we may not look at, is said to be \
              unknown, never guessed. With --slots: the slots' holders; with \
              --single-flight: the run's leader. lockkit status says more. A \
              lockkit extension.",
        ),
    opt(Id::Watchdog, b"", &["watchdog"])
        .extension()
        .help("stop the command if the lock file is removed or replaced")
        .doc(
            "While the command runs, watch the lock file: if its name no longer \
              names the file that was locked (it was removed, renamed away or \
              replaced, or its directory was renamed), newcomers would lock \
              another file. Then send SIGTERM to the command and every process \
              it started, SIGKILL after the grace period (--grace), say so on \
              stderr and exit with status 79. See WATCHDOG. Also guards \
              --slots and --single-flight runs (a single-flight run stopped so \
              ends with 79 for its waiters too). Needs a file or directory: not \
              with a file descriptor, --unlock or --no-fork.",
        ),
    opt(Id::Grace, b"", &["grace"])
        .extension()
        .value("secs")
        .help("with --watchdog: time between SIGTERM and SIGKILL")
        .doc(
            "With --watchdog: how long the command has after SIGTERM before \
              SIGKILL. The default is 5. Decimal fractions are allowed, as for \
              -w.",
        ),
    opt(Id::ForwardSignals, b"", &["forward-signals"])
        .extension()
        .help("pass TERM, INT, HUP, QUIT, USR1, USR2 to the command")
        .doc(
            "Pass SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 that \
              flock receives while the command runs on to the command, and exit \
              as the command does (128 plus the signal number if it dies of \
              it). Without it, as util-linux does, such a signal ends flock and \
              leaves the command running. A flock still waiting for the lock \
              dies of them either way. Not with --no-fork.",
        ),
    opt(Id::Help, b"h", &["help"])
        .help("display this help")
        .doc("Display help text and exit."),
    opt(Id::Version, b"V", &["version"])
        .help("display version")
        .doc(
            "Print the version (flock from util-linux 2.38.1, and lockkit's \
              version) and exit.",
        ),
    // getopt's own `?`: util-linux prints only the "Try --help" line.
    opt(Id::TryHelp, b"?", &[]),
];

pub const OPERANDS: &[Operand] = &[
    Operand {
        name: "file",
        doc: "The file or directory to lock. It is created if it does not \
              exist (a directory cannot be created). As the only operand: \
              the number of an open file descriptor to lock.",
        complete: Complete::Files,
        repeated: false,
    },
    Operand {
        name: "command",
        doc: "The command to run while holding the lock, with its arguments \
              (looked up in PATH). Everything after the file belongs to it, \
              including words that look like options.",
        complete: Complete::CommandWithArgs,
        repeated: false,
    },
];

/// The usage forms: util-linux's three, then `--fd`'s two.
pub const FORMS: &[&str] = &[
    "[options] <file>|<directory> <command> [<argument>...]",
    "[options] <file>|<directory> -c <command>",
    "[options] <file descriptor number>",
    "[options] --fd <file descriptor number> <command> [<argument>...]",
    "[options] --fd <file descriptor number> -c <command>",
];

/// `--help`, with `{prog}` standing for the program's name.
pub const HELP: &str = crate::const_text!(help);

/// util-linux's layout: the options in a column from 26, `-h` and `-V`
/// apart.
const fn help(out: &mut Out) {
    out.usage(FORMS);
    out.str("\nManage file locks from shell scripts.\n\nOptions:\n");
    let mut i = 0;
    while i < OPTIONS.len() {
        let o = &OPTIONS[i];
        i += 1;
        if o.help.is_empty() {
            continue;
        }
        if matches!(o.id, Id::Help) {
            out.str("\n");
        }
        let start = out.len();
        match o.short {
            [c, ..] => {
                out.str(" -");
                out.byte(*c);
                out.str(", ");
            }
            [] => out.str("     "),
        }
        if let Some(long) = o.shown_long() {
            out.str("--");
            out.str(long);
        }
        if let crate::opts::Value::Required(name) = o.value {
            out.str(" <");
            out.str(name);
            out.str(">");
        }
        out.pad_to(start, 26, 2);
        out.str(o.help);
        out.str("\n");
    }
    out.str(
        "\nExamples:\n \
         flock -n /run/lock/backup.lock backup.sh   skip if a backup is running\n \
         ( flock -w 10 9 || exit 1; ... ) 9>/run/lock/my.lock\n\n\
         For more details see lockkit-flock(1).\n",
    );
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::Prog;
    use crate::flock::args::parse;

    /// flock's complaint when its parser refuses `args` as getopt would (an
    /// unknown option, a missing value), rather than accepting them or
    /// finding another fault.
    fn getopt_refuses(args: &[&str]) -> Option<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let e = parse(&Prog::named("flock"), &args).err()?;
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

    fn documented() -> impl Iterator<Item = &'static Opt<Id>> {
        OPTIONS.iter().filter(|o| !o.doc.is_empty())
    }

    /// Every documented option, in every spelling (the shown abbreviation
    /// too), is one flock accepts, where the documentation says.
    #[test]
    fn every_documented_spelling_is_accepted() {
        for o in documented() {
            let shorts = o.short.iter().map(|&c| format!("-{}", char::from(c)));
            let longs = o.long.iter().chain(&o.shown).map(|l| format!("--{l}"));
            for s in shorts.chain(longs) {
                let args: Vec<&str> = match (o.read, o.value) {
                    (Read::AfterOperand, _) => vec!["f", &s, "true"],
                    (_, crate::opts::Value::Required(_)) => vec![&s, "1", "f", "true"],
                    _ => vec![&s, "f", "true"],
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
        for c in (0x21u8..0x7f).filter(|&c| c != b'-' && c != b'?') {
            let opt = format!("-{}", char::from(c));
            if getopt_refuses(&[&opt, "1", "f", "true"]).is_none() {
                assert!(
                    documented().any(|o| o.short.contains(&c)),
                    "flock accepts {opt}, which is not documented"
                );
            }
        }
    }

    /// Every long option flock accepts is documented: each one-letter
    /// abbreviation names no option, a documented one, or is ambiguous
    /// between documented ones.
    #[test]
    fn every_accepted_long_option_is_documented() {
        let names: Vec<&str> = documented().flat_map(|o| o.long.iter().copied()).collect();
        for c in 'a'..='z' {
            let opt = format!("--{c}");
            match getopt_refuses(&[&opt, "1", "f", "true"]) {
                None => assert!(
                    names.iter().any(|d| d.starts_with(c)),
                    "flock accepts {opt}, and no documented option starts with it"
                ),
                Some(e) if e.contains("ambiguous") => {
                    for name in e.split('\'').filter_map(|w| w.strip_prefix("--")) {
                        assert!(
                            name.len() <= 1 || names.contains(&name),
                            "flock has --{name}, which is not documented ({e})"
                        );
                    }
                }
                Some(_) => {}
            }
        }
    }

    #[test]
    fn help_lists_every_option_but_getopts_own() {
        for o in OPTIONS.iter().filter(|o| o.id != Id::TryHelp) {
            assert!(!o.help.is_empty() && !o.doc.is_empty(), "{:?}", o.id);
            let long = o.shown_long().expect("a long name");
            assert!(HELP.contains(&format!("--{long}")), "{long}");
        }
    }
}
