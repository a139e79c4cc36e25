//! procmail lockfile's grammar, apart from what it does.
//!
//! procmail reads its arguments in one pass, left to right, and locks each
//! file the moment it reaches it with the options in force there; when a
//! lock fails it reads them a second time, up to the failing one, to undo
//! what the first pass did. [`tokens`] is that grammar alone: both passes
//! consume the same items, and it can be tested (and fuzzed) without
//! touching a file.
//!
//! The grammar, as procmail 3.22 has it:
//!
//! * an argument not starting with `-` (the empty one too) is a file;
//! * `-` alone is ignored; `--help` and `--version` are lockkit's;
//! * otherwise the letters after `-` are options, read one after another:
//!   `-!`, `-v`, `-h`/`-?`, `-ml`/`-mu` (the whole rest), `-r`/`-l`/`-s`
//!   with a number (the rest of the argument, or the next one), and a
//!   number `-nnn` (the sleep time). A number is read with `strtol`, and
//!   whatever follows it is read as more options: `-r3!` is `-r 3 -!`, and
//!   `-r 3v` is `-r 3 -v`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::cnum;
use crate::opts::{Opt, Value};

pub mod defs;

pub use defs::{EXAMPLES, HELP, USAGE};
use defs::{Id, OPTIONS};

/// The definitions the parser reads (without their documentation).
const PARSED: [Opt<Id>; OPTIONS.len()] = crate::opts::for_parser(OPTIONS);

/// `-ml` or `-mu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailbox {
    Lock,
    Unlock,
}

/// One thing the arguments say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// Lock this file.
    Lock(&'a OsStr),
    /// `-!`: invert the exit status (each one toggles it).
    Invert,
    /// `-nnn`: seconds between attempts (never negative).
    Sleep(i32),
    /// `-r nnn`: retries (negative: forever).
    Retries(i32),
    /// `-l nnn`: force locks older than this many seconds (0: never).
    LockTimeout(i32),
    /// `-s nnn`: seconds to wait after forcing a lock (never negative).
    Suspend(i32),
    /// `-ml` / `-mu`.
    Mailbox(Mailbox),
    /// `-h` or `-?`.
    Help,
    /// `-v`.
    Version,
    /// `--help` (lockkit's).
    LongHelp,
    /// `--version` (lockkit's).
    LongVersion,
    /// A usage error; nothing follows it.
    Usage,
}

/// An item and the index of the argument it was read from: for an option
/// with a separate value (`-r 3`), the value's. A failure there limits the
/// undo pass to the arguments before that index, as in procmail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub at: usize,
    pub item: Item<'a>,
}

/// C `strtol(s, &end, 10)` stored in an `int`: the value (0 if no digits),
/// whether digits were read, and the unparsed rest.
pub(crate) fn strtol_int(s: &[u8]) -> (i32, bool, &[u8]) {
    let r = cnum::strtol(s);
    (r.value as i32, r.digits, r.rest)
}

/// The items of `args` (which exclude `argv[0]`), in order. It ends after
/// a [`Item::Usage`].
pub fn tokens(args: &[OsString]) -> Tokens<'_> {
    Tokens {
        args,
        next: 0,
        here: 0,
        cluster: &[],
        mailbox_seen: false,
        done: false,
    }
}

/// The iterator [`tokens`] returns.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    args: &'a [OsString],
    /// Index of the next argument not yet started.
    next: usize,
    /// Index of the argument being read (it moves on to an option's
    /// separate value, whose rest is read as options too).
    here: usize,
    /// The unread rest of the current cluster of options.
    cluster: &'a [u8],
    /// A `-m…` was read: a second one is a usage error.
    mailbox_seen: bool,
    done: bool,
}

impl<'a> Tokens<'a> {
    fn token(&self, at: usize, item: Item<'a>) -> Option<Token<'a>> {
        Some(Token { at, item })
    }

    fn usage(&mut self, at: usize) -> Option<Token<'a>> {
        self.done = true;
        self.token(at, Item::Usage)
    }

    /// The next option letter of the cluster.
    fn option(&mut self) -> Option<Token<'a>> {
        let (&c, rest) = self.cluster.split_first()?;
        let here = self.here;
        let Some(opt) = PARSED.iter().find(|o| o.short.contains(&c)) else {
            // Anything else must be a sleep time (strtol skips blanks and
            // takes a sign: `- 5` and `-+5` are 5 seconds).
            let (v, digits, after) = strtol_int(self.cluster);
            if !digits || v < 0 {
                return self.usage(here);
            }
            self.cluster = after;
            return self.token(here, Item::Sleep(v));
        };
        match opt.value {
            Value::Required(_) => {
                let (value, at): (&'a [u8], usize) = if !rest.is_empty() {
                    (rest, here)
                } else if let Some(v) = self.args.get(self.next) {
                    self.next += 1;
                    (v.as_bytes(), self.next - 1)
                } else {
                    return self.usage(here);
                };
                let (v, _, after) = strtol_int(value);
                self.here = at;
                self.cluster = after;
                // Only a suspend time cannot be negative.
                if v < 0 && opt.id == Id::Suspend {
                    return self.usage(at);
                }
                self.token(at, item(opt.id, v))
            }
            Value::Suffix(_) => {
                // The whole rest of the argument names which one.
                let which = PARSED.iter().find(|o| {
                    o.short.contains(&c)
                        && matches!(o.value, Value::Suffix(s) if s.as_bytes() == rest)
                });
                let Some(which) = which else {
                    return self.usage(here);
                };
                if self.mailbox_seen {
                    return self.usage(here);
                }
                self.mailbox_seen = true;
                self.cluster = &[];
                self.token(here, item(which.id, 0))
            }
            Value::None | Value::Number(_) => {
                self.cluster = rest;
                self.token(here, item(opt.id, 0))
            }
        }
    }
}

/// What an option says, with its number if it takes one.
fn item(id: Id, v: i32) -> Item<'static> {
    match id {
        Id::Version => Item::Version,
        Id::Sleep => Item::Sleep(v),
        Id::Retries => Item::Retries(v),
        Id::LockTimeout => Item::LockTimeout(v),
        Id::Suspend => Item::Suspend(v),
        Id::Invert => Item::Invert,
        Id::MailLock => Item::Mailbox(Mailbox::Lock),
        Id::MailUnlock => Item::Mailbox(Mailbox::Unlock),
        Id::Help => Item::Help,
        Id::LongHelp => Item::LongHelp,
        Id::LongVersion => Item::LongVersion,
    }
}

/// lockkit's long options, which procmail's grammar only knows as whole
/// arguments.
fn long_item(arg: &[u8]) -> Option<Item<'static>> {
    let name = arg.strip_prefix(b"--")?;
    let opt: &Opt<Id> = PARSED
        .iter()
        .find(|o| o.long.iter().any(|l| l.as_bytes() == name))?;
    Some(item(opt.id, 0))
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if self.done {
            return None;
        }
        while self.cluster.is_empty() {
            let Some(arg) = self.args.get(self.next) else {
                self.done = true;
                return None;
            };
            let arg = arg.as_bytes();
            self.here = self.next;
            self.next += 1;
            if let Some(item) = long_item(arg) {
                return self.token(self.here, item);
            }
            match arg {
                // `-` alone has no letters: the loop moves on.
                [b'-', letters @ ..] => self.cluster = letters,
                _ => return self.token(self.here, Item::Lock(OsStr::from_bytes(arg))),
            }
        }
        self.option()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(args: &[&str]) -> Vec<(usize, Item<'static>)> {
        let args: &'static [OsString] = Box::leak(args.iter().map(OsString::from).collect());
        tokens(args).map(|t| (t.at, t.item)).collect()
    }

    #[test]
    fn strtol_like_c() {
        assert_eq!(strtol_int(b"3x"), (3, true, &b"x"[..]));
        assert_eq!(strtol_int(b"!"), (0, false, &b"!"[..]));
        assert_eq!(strtol_int(b"4294967296"), (0, true, &b""[..]));
        assert_eq!(strtol_int(b"4294967295"), (-1, true, &b""[..]));
        assert_eq!(strtol_int(b"99999999999999999999"), (-1, true, &b""[..]));
        assert_eq!(strtol_int(b" -5"), (-5, true, &b""[..]));
    }

    #[test]
    fn files_and_options_in_order() {
        use Item::*;
        assert_eq!(
            items(&["a", "-", "", "-r", "3!", "-5", "b", "-ml"]),
            vec![
                (0, Lock(OsStr::new("a"))),
                (2, Lock(OsStr::new(""))),
                (4, Retries(3)),
                (4, Invert),
                (5, Sleep(5)),
                (6, Lock(OsStr::new("b"))),
                (7, Mailbox(self::Mailbox::Lock)),
            ]
        );
        assert_eq!(
            items(&["-l5s", "2", "- 7", "-v?", "--help", "--version"]),
            vec![
                (0, LockTimeout(5)),
                (1, Suspend(2)),
                (2, Sleep(7)),
                (3, Version),
                (3, Help),
                (4, LongHelp),
                (5, LongVersion),
            ]
        );
    }

    #[test]
    fn usage_errors_end_the_items() {
        use Item::*;
        assert_eq!(
            items(&["a", "-r"]),
            vec![(0, Lock(OsStr::new("a"))), (1, Usage)]
        );
        assert_eq!(items(&["-s", "-1", "a"]), vec![(1, Usage)]);
        assert_eq!(items(&["-x", "a"]), vec![(0, Usage)]);
        assert_eq!(items(&["--helpx"]), vec![(0, Usage)]);
        assert_eq!(items(&["-mx"]), vec![(0, Usage)]);
        assert_eq!(
            items(&["-mu", "-ml"]),
            vec![(0, Mailbox(self::Mailbox::Unlock)), (1, Usage)]
        );
        // What follows a value is read as options, at the value's index.
        assert_eq!(items(&["-r", "3x"]), vec![(1, Retries(3)), (1, Usage)]);
    }
}
