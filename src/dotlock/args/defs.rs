//! dotlock's options, defined once: dotlockfile's letters (`qpNr:mluci:tP`,
//! plain getopt) and lockkit's `--help` and `--version`. The parser reads
//! this table, `--help` is rendered from it, and so are the man page and
//! completions.

use crate::opts::{Complete, Operand, Opt, Out, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Lock,
    Unlock,
    Touch,
    Check,
    Retries,
    Interval,
    Pid,
    Mailbox,
    Quiet,
    Passthrough,
    NoPid,
    Help,
    Version,
    Watchdog,
    Grace,
}

const fn opt(id: Id, short: &'static [u8], long: &'static [&'static str]) -> Opt<Id> {
    Opt::new(id, short, long)
}

/// In the order of `--help`.
pub const OPTIONS: &[Opt<Id>] = &[
    opt(Id::Lock, b"l", &[])
        .help("create the lock (the default); with a command, run it\nholding the lock, then remove the lock")
        .doc("Create the lock; this is the default. With a command, run the command \
              while holding the lock, then remove the lock."),
    opt(Id::Unlock, b"u", &[])
        .help("remove the lock")
        .doc("Remove the lock. A lock that does not exist counts as removed."),
    opt(Id::Touch, b"t", &[])
        .help("touch the lock, to keep it fresh")
        .doc("Set the lock's modification time to now, so that it is not taken \
              for stale. A lock without a pid must be touched at least every 5 \
              minutes while it is held."),
    opt(Id::Check, b"c", &[])
        .help("check: exit 0 if a valid lock exists")
        .doc("Check whether a valid (not stale) lock exists: exit 0 if it does, 1 \
              if not. With -p, the pid in the lock counts."),
    opt(Id::Retries, b"r", &[])
        .value("retries")
        .help("retry this many times before giving up (default 5, -1:\nforever); the wait ends as soon as the lock is released")
        .doc("The number of times to retry before giving up (default 5; -1 \
              means forever). The retries follow dotlockfile's schedule, 5, 10, \
              15 ... 60 seconds apart (about 75 seconds for the default), but a \
              waiter takes the lock the moment it is released."),
    opt(Id::Interval, b"i", &[])
        .value("interval")
        .help("seconds between scheduled retries (default 5, 10, ... 60)")
        .doc("Retry every interval seconds (at most 60) instead of 5, 10, 15 \
              ... 60 seconds apart."),
    opt(Id::Pid, b"p", &[])
        .help("write a pid into the lock (the caller's, or dotlock's own\nin command mode); a lock whose process is gone is stale")
        .doc("Write a process id into the lock, and honour the one in an existing \
              lock: a lock whose process no longer exists is stale at once. \
              Without a command the pid is the caller's (the parent of dotlock, \
              typically the shell); with a command, dotlock's own (it stays \
              alive as the command's parent)."),
    opt(Id::Mailbox, b"m", &[])
        .help("lock your mailbox: $MAIL.lock or /var/mail/$USER.lock")
        .doc("Use the lock of the caller's mailbox instead of a lock file \
              argument: $MAIL.lock if MAIL is set, otherwise \
              /var/mail/user.lock, with the user name of the effective uid."),
    opt(Id::Quiet, b"q", &[])
        .help("quiet")
        .doc("Suppress the messages that follow this option on the command line \
              (a bad -r value, an unknown mailbox user, a lock that cannot be \
              removed); usage errors, a bad -i and a command that cannot be run \
              are still reported."),
    opt(Id::Passthrough, b"P", &[])
        .help("exit with the command's status")
        .doc("With a command: exit with the command's status (128 plus the signal \
              number if a signal killed it; 127 if it could not be run) instead of \
              0. It must come before the lock file: after it, -P is the command."),
    opt(Id::NoPid, b"N", &[])
        .help("write no pid (the default)")
        .doc("Write no process id into the lock (the content is 0); the default."),
    opt(Id::Help, b"", &["help"])
        .extension()
        .help("show this help")
        .doc("Print the usage, the options and examples, and exit (lockkit only)."),
    opt(Id::Version, b"", &["version"])
        .extension()
        .help("show the version")
        .doc("Print the version and exit (lockkit only)."),
    opt(Id::Watchdog, b"", &["watchdog"])
        .extension()
        .help("with a command: stop it if the lock is removed or\nreplaced, and exit 79")
        .doc("With a command: while it runs, watch the lock. If the lock file is \
              removed, renamed away or replaced by another file, or its directory \
              is renamed, send SIGTERM to the command and every process it started, \
              SIGKILL after the grace period (--grace), say so on stderr and exit \
              with status 79 (with or without -P). See WATCHDOG. Spelled out in \
              full, before the lock file (lockkit only)."),
    opt(Id::Grace, b"", &["grace"])
        .extension()
        .value("secs")
        .help("with --watchdog: seconds from SIGTERM to SIGKILL (5)")
        .doc("With --watchdog: how long the command has after SIGTERM before \
              SIGKILL; the default is 5. Decimal fractions are allowed (0.5). \
              Written as --grace secs, in two words (lockkit only)."),
];

pub const OPERANDS: &[Operand] = &[
    Operand {
        name: "lockfile",
        doc: "The lock file, used exactly as given (no .lock is added). Not \
              with -m, where the first argument is already the command.",
        complete: Complete::Files,
        repeated: false,
    },
    Operand {
        name: "command",
        doc: "A command to run while holding the lock, with its arguments \
              (looked up in PATH); the lock is removed when it ends. Everything \
              after the lock file belongs to it.",
        complete: Complete::CommandWithArgs,
        repeated: false,
    },
];

/// dotlockfile's usage text, as it prints it after a usage error.
pub const USAGE: &str = "\
Usage:  dotlockfile -l [-r retries] [-i interval] [-p] [-q] <-m|lockfile>
        dotlockfile -l [-r retries] [-i interval] [-p] [-q] <-m|lockfile> [-P] command args...
        dotlockfile -u|-t
";

/// `--help`: the usage lines, what each option does, and examples.
pub const HELP: &str = crate::const_text!(help);

/// The options in a column from 17.
const fn help(out: &mut Out) {
    out.str(USAGE);
    out.str(
        "\nCreate, remove, touch or check a lock file that works across NFS and with\n\
         mail programs (lockkit's drop-in replacement for liblockfile's dotlockfile).\n\
         \nOptions:\n",
    );
    let mut i = 0;
    while i < OPTIONS.len() {
        let o = &OPTIONS[i];
        i += 1;
        let start = out.len();
        out.str("  ");
        match o.short {
            [c, ..] => {
                out.byte(b'-');
                out.byte(*c);
            }
            [] => out.str("    "),
        }
        if let [long, ..] = o.long {
            out.str("--");
            out.str(long);
        }
        if let Value::Required(name) = o.value {
            out.byte(b' ');
            out.str(name);
        }
        out.pad_to(start, 17, 2);
        out.indented(o.help, 17);
        out.byte(b'\n');
    }
    out.str(
        "\nA lock without a live pid is stale after 5 minutes. Exit status: 0, or\n\
         liblockfile's code (4: gave up, 2: cannot create the temp file, ...).\n\
         \nExamples:\n  \
         dotlock -r 5 /var/lock/x && { work; dotlock -u /var/lock/x; }\n  \
         dotlock -p -P /run/lock/nightly.lock nightly.sh\n",
    );
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::Prog;
    use crate::dotlock::args::parse;

    /// dotlock's complaint when its parser refuses `args` as getopt would.
    fn getopt_refuses(args: &[&str]) -> Option<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let e = parse(&Prog::named("dotlock"), &args).err()?;
        let text = String::from_utf8_lossy(e.message()).into_owned();
        ["invalid option", "requires an argument"]
            .iter()
            .any(|m| text.contains(m))
            .then_some(text)
    }

    #[test]
    fn every_documented_option_is_accepted() {
        for o in OPTIONS {
            assert!(!o.doc.is_empty() && !o.help.is_empty(), "{:?}", o.id);
            let spelling = match (o.short, o.long) {
                ([c, ..], _) => format!("-{}", char::from(*c)),
                ([], [l, ..]) => format!("--{l}"),
                ([], []) => panic!("{:?} has no name", o.id),
            };
            let args: Vec<&str> = if matches!(o.value, Value::Required(_)) {
                vec![&spelling, "1", "x.lock"]
            } else {
                vec![&spelling, "x.lock"]
            };
            if let Some(e) = getopt_refuses(&args) {
                panic!("documented {spelling} is refused by dotlock: {e}");
            }
        }
    }

    #[test]
    fn every_accepted_option_is_documented() {
        for c in (0x21u8..0x7f).filter(|&c| c != b'-') {
            let opt = format!("-{}", char::from(c));
            if getopt_refuses(&[&opt, "1", "x.lock"]).is_none() {
                assert!(
                    OPTIONS.iter().any(|o| o.short.contains(&c)),
                    "dotlock accepts {opt}, which is not documented"
                );
            }
        }
    }
}
