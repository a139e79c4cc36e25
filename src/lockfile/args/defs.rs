//! lockfile's options, defined once: procmail's (in the order of its
//! `-h` text) and lockkit's `--help` and `--version`. The grammar in
//! `super::tokens` finds its letters here, `-h` and `--help` are rendered
//! from this table, and so are the man page and completions.

use crate::opts::{Complete, Operand, Opt, Out, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Version,
    Sleep,
    Retries,
    LockTimeout,
    Suspend,
    Invert,
    MailLock,
    MailUnlock,
    Help,
    LongHelp,
    LongVersion,
}

const fn opt(id: Id, short: &'static [u8], long: &'static [&'static str]) -> Opt<Id> {
    Opt::new(id, short, long)
}

pub const OPTIONS: &[Opt<Id>] = &[
    opt(Id::Version, b"v", &[])
        .help("display the version number and exit")
        .doc(
            "Print the version and the name of your mailbox lock, and exit with \
              status 64 (removing the locks made so far).",
        ),
    opt(Id::Sleep, b"", &[])
        .with_value(Value::Number("nnn"))
        .help("wait nnn seconds between locking attempts")
        .doc(
            "The sleeptime: wait *nnn* seconds between locking attempts (default \
              8). `-0` does not pause: a finite `-r` is used up at once, and with \
              the default `-r -1` lockfile waits until the lock is released.",
        ),
    opt(Id::Retries, b"r", &[])
        .value("nnn")
        .help("make at most nnn retries before giving up on a lock")
        .doc(
            "Make at most *nnn* retries before giving up on a lock (default -1: \
              retry forever; any negative number does). The retries are counted \
              for the whole run, not per file; write `-r` again before a file to \
              reset them.",
        ),
    opt(Id::LockTimeout, b"l", &[])
        .value("nnn")
        .help("set locktimeout to nnn seconds")
        .doc(
            "The locktimeout: a lock older than *nnn* seconds (by its \
              modification time, on the file system's clock) is forced: removed \
              and replaced by this run's lock, with the message `Forcing lock on \
              \"`*file*`\"`. 0, the default, never forces; a negative number forces \
              any existing lock.",
        ),
    opt(Id::Suspend, b"s", &[])
        .value("nnn")
        .help("suspend nnn seconds after a locktimeout occurred")
        .doc(
            "Suspend *nnn* seconds after forcing a lock, or after failing to \
              force one (default 16).",
        ),
    opt(Id::Invert, b"!", &[])
        .help("invert the exitcode of lockfile")
        .doc(
            "Invert the exit status: 0 becomes 73 and 73 becomes 0 (other \
              statuses are unchanged). Each `-!` toggles; after a failure only \
              those before the file that failed count.",
        ),
    opt(Id::MailLock, b"m", &[])
        .with_value(Value::Suffix("l"))
        .help("lock your system mail-spool file")
        .doc(
            "Lock your system mailbox: `/var/mail/`*login*`.lock` (see \
              ENVIRONMENT).",
        ),
    opt(Id::MailUnlock, b"m", &[])
        .with_value(Value::Suffix("u"))
        .help("unlock your system mail-spool file")
        .doc(
            "Unlock your system mailbox: remove its lock. Only one of `-ml` and \
              `-mu`, once, in a run.",
        ),
    // procmail's `-h` text does not list `-h`.
    opt(Id::Help, b"h?", &[]).doc(
        "Print the usage and the options, and exit with status 64 (removing \
              the locks made so far).",
    ),
    opt(Id::LongHelp, b"", &["help"])
        .extension()
        .help("this help; --version: lockkit's version")
        .doc(
            "Print lockkit's help (the options and examples) on standard output, \
              and exit with status 0; like `-h`, it removes the locks made so far. \
              It must be written in full, as a whole argument.",
        ),
    opt(Id::LongVersion, b"", &["version"]).extension().doc(
        "Print lockkit's version on standard output, and exit with status 0; \
              like `-v`, it removes the locks made so far. It must be written in \
              full, as a whole argument.",
    ),
];

pub const OPERANDS: &[Operand] = &[Operand {
    name: "file",
    doc: "A lock file to create, used exactly as given (nothing is appended). \
          Any argument that does not start with `-` is a file; a lone `-` is \
          ignored, and `--` is a usage error (there is no end of options).",
    complete: Complete::Files,
    repeated: true,
}];

/// How an option is written: `-r nnn`, `-nnn`, `-ml`, `--help`.
const fn spelled(out: &mut Out, o: &Opt<Id>) {
    if let [long, ..] = o.long {
        out.str("--");
        out.str(long);
        return;
    }
    out.byte(b'-');
    if let [c, ..] = o.short {
        out.byte(*c);
    }
    match o.value {
        Value::None => {}
        Value::Required(name) => {
            out.byte(b' ');
            out.str(name);
        }
        Value::Suffix(s) | Value::Number(s) => out.str(s),
    }
}

/// procmail's options (not lockkit's), with their `-h` line.
const fn listed(o: &Opt<Id>, extension: bool) -> bool {
    !o.help.is_empty() && o.extension == extension
}

/// procmail's usage line: its options' spellings.
pub const USAGE: &str = crate::const_text!(usage);

const fn usage(out: &mut Out) {
    out.str("Usage: lockfile");
    let mut i = 0;
    while i < OPTIONS.len() {
        if listed(&OPTIONS[i], false) {
            out.str(if i == 0 { " " } else { " | " });
            spelled(out, &OPTIONS[i]);
        }
        i += 1;
    }
    out.str(" | file ...\n");
}

const fn lines(out: &mut Out, extension: bool) {
    let mut i = 0;
    while i < OPTIONS.len() {
        let o = &OPTIONS[i];
        if listed(o, extension) {
            out.byte(b'\t');
            spelled(out, o);
            out.byte(b'\t');
            out.str(o.help);
            out.byte(b'\n');
        }
        i += 1;
    }
}

/// procmail's `-h` text, after the usage line.
pub const HELP: &str = crate::const_text!(help);

const fn help(out: &mut Out) {
    lines(out, false);
}

/// What `--help` adds to the `-h` text.
pub const EXAMPLES: &str = crate::const_text!(examples);

const fn examples(out: &mut Out) {
    lines(out, true);
    out.str(
        "\nLocks are created read-only with the content 0; remove them with rm -f.\n\
         Waiters wake as soon as a lock is released.\n\
         \nExamples:\n  \
         lockfile -r 3 inbox.lock && { work; rm -f inbox.lock; }\n  \
         lockfile -1 -r 10 -l 600 db.lock index.lock\n",
    );
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::lockfile::args::{Item, tokens};

    fn first(arg: &str) -> Item<'static> {
        let args: &'static [OsString] = Box::leak(Box::new([OsString::from(arg)]));
        tokens(args).next().expect("an item").item
    }

    /// Each documented spelling is an option of procmail's grammar, and
    /// every letter the grammar takes is documented.
    #[test]
    fn definitions_and_grammar_agree() {
        for o in OPTIONS {
            assert!(!o.doc.is_empty(), "{:?}", o.id);
            let words: Vec<String> = match (o.short, o.long, o.value) {
                (_, [long, ..], _) => vec![format!("--{long}")],
                (_, _, Value::Number(_)) => vec!["-5".into()],
                (letters, _, Value::Suffix(s)) => letters
                    .iter()
                    .map(|&c| format!("-{}{s}", char::from(c)))
                    .collect(),
                (letters, _, _) => letters
                    .iter()
                    .map(|&c| format!("-{}7", char::from(c)))
                    .collect(),
            };
            for w in words {
                assert!(!matches!(first(&w), Item::Usage | Item::Lock(_)), "{w}");
            }
        }
        for c in (0x21u8..0x7f).filter(|c| !c.is_ascii_digit() && !b"+- ".contains(c)) {
            // With a value for the letters that take one (and a sleep time
            // for the others).
            let word = format!("-{}7", char::from(c));
            let taken = !matches!(first(&word), Item::Usage);
            let documented = OPTIONS.iter().any(|o| o.short.contains(&c));
            // `-m` needs `l` or `u` and nothing else.
            assert_eq!(taken, documented && c != b'm', "{word}");
        }
    }
}
