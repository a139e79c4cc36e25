//! glibc `getopt_long` in POSIX mode (an option string starting with `+`),
//! message for message.
//!
//! The reference tools parse their arguments with glibc, and scripts (and
//! their authors) see its exact behaviour: parsing stops at the first operand,
//! long options may be abbreviated to any unambiguous prefix, clustered short
//! options, `-wARG`/`-w ARG`/`--wait=ARG`/`--wait ARG`, and glibc's wording
//! for every mistake. clap cannot be bent into that, so the tools use this.
//!
//! Options are returned one at a time, so a tool can act on `-h`/`-V` the
//! moment they are reached, as the C tools do.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// Whether an option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HasArg {
    No,
    Required,
}

/// A short option letter.
#[derive(Debug, Clone, Copy)]
pub struct Short<T> {
    pub letter: u8,
    pub has_arg: HasArg,
    pub id: T,
}

/// A long option, in the order of the C table (which decides how ambiguity
/// is reported).
#[derive(Debug, Clone, Copy)]
pub struct Long<T> {
    pub name: &'static str,
    pub has_arg: HasArg,
    pub id: T,
    /// An option the reference release does not have. Abbreviations resolve
    /// to the reference's own options first, so an abbreviation that worked
    /// with the reference (`--s` for `--shared`) keeps its meaning even
    /// though an extension (`--start`) shares the prefix.
    pub extension: bool,
}

/// An option table.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a, T> {
    pub shorts: &'a [Short<T>],
    pub longs: &'a [Long<T>],
    /// `getopt_long` (true) or plain `getopt` (false). Plain getopt has no
    /// long options: `--bogus` is the cluster `-`, `b`, … and fails on `-`.
    /// A tool using it may still accept its `longs` spelled out in full.
    pub long_options: bool,
}

/// A mistake in the arguments, as glibc reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mistake {
    /// `invalid option -- 'z'`
    InvalidShort(u8),
    /// `option requires an argument -- 'w'`
    ShortNeedsArg(u8),
    /// `unrecognized option '--bogus=1'` (the text after `--`)
    UnknownLong(OsString),
    /// `option '--n' is ambiguous; possibilities: '--nonblocking' '--no-fork'`
    Ambiguous {
        given: OsString,
        candidates: Vec<&'static str>,
    },
    /// `option '--shared' doesn't allow an argument`
    LongTakesNoArg(&'static str),
    /// `option '--timeout' requires an argument`
    LongNeedsArg(&'static str),
}

impl Mistake {
    /// glibc's message, prefixed with the full `argv[0]` as glibc does.
    pub fn message(&self, argv0: &OsStr) -> Vec<u8> {
        let mut m = argv0.as_bytes().to_vec();
        m.extend_from_slice(b": ");
        match self {
            Mistake::InvalidShort(c) => {
                m.extend_from_slice(b"invalid option -- '");
                m.push(*c);
                m.push(b'\'');
            }
            Mistake::ShortNeedsArg(c) => {
                m.extend_from_slice(b"option requires an argument -- '");
                m.push(*c);
                m.push(b'\'');
            }
            Mistake::UnknownLong(text) => {
                m.extend_from_slice(b"unrecognized option '--");
                m.extend_from_slice(text.as_bytes());
                m.push(b'\'');
            }
            Mistake::Ambiguous { given, candidates } => {
                m.extend_from_slice(b"option '--");
                m.extend_from_slice(given.as_bytes());
                m.extend_from_slice(b"' is ambiguous; possibilities:");
                for c in candidates {
                    m.extend_from_slice(b" '--");
                    m.extend_from_slice(c.as_bytes());
                    m.push(b'\'');
                }
            }
            Mistake::LongTakesNoArg(name) => {
                m.extend_from_slice(b"option '--");
                m.extend_from_slice(name.as_bytes());
                m.extend_from_slice(b"' doesn't allow an argument");
            }
            Mistake::LongNeedsArg(name) => {
                m.extend_from_slice(b"option '--");
                m.extend_from_slice(name.as_bytes());
                m.extend_from_slice(b"' requires an argument");
            }
        }
        m
    }
}

/// One step of the parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a, T> {
    Opt(T, Option<&'a OsStr>),
    Mistake(Mistake),
}

/// The parser. Iterate it for options; then [`Getopt::operands`] gives what
/// follows them.
#[derive(Debug)]
pub struct Getopt<'a, T> {
    args: &'a [OsString],
    spec: Spec<'a, T>,
    /// Index of the argument being looked at.
    optind: usize,
    /// Offset of the next letter inside a cluster of short options (0: none).
    cluster: usize,
    done: bool,
}

impl<'a, T: Copy + PartialEq> Getopt<'a, T> {
    /// `args` excludes `argv[0]`.
    pub fn new(args: &'a [OsString], spec: Spec<'a, T>) -> Self {
        Getopt {
            args,
            spec,
            optind: 0,
            cluster: 0,
            done: false,
        }
    }

    /// The arguments after the options (valid once iteration has ended).
    pub fn operands(&self) -> &'a [OsString] {
        &self.args[self.optind.min(self.args.len())..]
    }

    /// The next argument, when the parser stands between arguments (not
    /// inside a cluster of short options) and has not finished.
    pub fn peek(&self) -> Option<&'a OsStr> {
        if self.done || self.cluster != 0 {
            return None;
        }
        self.args.get(self.optind).map(OsString::as_os_str)
    }

    /// Take the argument [`Getopt::peek`] showed as handled by the caller.
    pub fn take_peeked(&mut self) {
        if self.peek().is_some() {
            self.optind += 1;
        }
    }

    fn short(&mut self) -> Item<'a, T> {
        let arg = self.args[self.optind].as_bytes();
        let letter = arg[self.cluster];
        self.cluster += 1;
        let last = self.cluster >= arg.len();
        if last {
            self.cluster = 0;
            self.optind += 1;
        }
        let found = self
            .spec
            .shorts
            .iter()
            .find(|s| s.letter == letter && letter != b':');
        let Some(opt) = found else {
            return Item::Mistake(Mistake::InvalidShort(letter));
        };
        match opt.has_arg {
            HasArg::No => Item::Opt(opt.id, None),
            HasArg::Required if !last => {
                let value = OsStr::from_bytes(&arg[self.cluster..]);
                self.cluster = 0;
                self.optind += 1;
                Item::Opt(opt.id, Some(value))
            }
            HasArg::Required => match self.args.get(self.optind) {
                Some(value) => {
                    self.optind += 1;
                    Item::Opt(opt.id, Some(value.as_os_str()))
                }
                None => Item::Mistake(Mistake::ShortNeedsArg(letter)),
            },
        }
    }

    fn long(&mut self) -> Item<'a, T> {
        let text = &self.args[self.optind].as_bytes()[2..];
        self.optind += 1;
        let (name, value) = match text.iter().position(|&b| b == b'=') {
            Some(eq) => (&text[..eq], Some(OsStr::from_bytes(&text[eq + 1..]))),
            None => (text, None),
        };
        let opt = match self.lookup(name) {
            Ok(opt) => opt,
            Err(candidates) if candidates.is_empty() => {
                return Item::Mistake(Mistake::UnknownLong(OsStr::from_bytes(text).into()));
            }
            Err(candidates) => {
                return Item::Mistake(Mistake::Ambiguous {
                    given: OsStr::from_bytes(text).into(),
                    candidates,
                });
            }
        };
        match (opt.has_arg, value) {
            (HasArg::No, None) => Item::Opt(opt.id, None),
            (HasArg::No, Some(_)) => Item::Mistake(Mistake::LongTakesNoArg(opt.name)),
            (HasArg::Required, Some(v)) => Item::Opt(opt.id, Some(v)),
            (HasArg::Required, None) => match self.args.get(self.optind) {
                Some(v) => {
                    self.optind += 1;
                    Item::Opt(opt.id, Some(v.as_os_str()))
                }
                None => Item::Mistake(Mistake::LongNeedsArg(opt.name)),
            },
        }
    }

    /// Find a long option by exact name or unambiguous prefix. On failure,
    /// the ambiguous candidates (empty when nothing matches).
    fn lookup(&self, name: &[u8]) -> Result<&'a Long<T>, Vec<&'static str>> {
        let longs = self.spec.longs;
        if let Some(exact) = longs.iter().find(|l| l.name.as_bytes() == name) {
            return Ok(exact);
        }
        let matches = |l: &&Long<T>| l.name.as_bytes().starts_with(name);
        // The reference's own options win an abbreviation over extensions.
        let core_match = longs.iter().filter(matches).any(|l| !l.extension);
        let mut candidates = longs
            .iter()
            .filter(matches)
            .filter(|l| !core_match || !l.extension);
        let Some(first) = candidates.next() else {
            return Err(Vec::new());
        };
        // Like glibc: a match that means the same as the first one (an alias
        // such as `--nb` for `--nonblocking`) is no ambiguity, and only those
        // that differ from the first are listed with it.
        let differing: Vec<&'static str> = candidates
            .filter(|l| l.id != first.id || l.has_arg != first.has_arg)
            .map(|l| l.name)
            .collect();
        if differing.is_empty() {
            Ok(first)
        } else {
            let mut all = vec![first.name];
            all.extend(differing);
            Err(all)
        }
    }
}

impl<'a, T: Copy + PartialEq> Iterator for Getopt<'a, T> {
    type Item = Item<'a, T>;

    fn next(&mut self) -> Option<Item<'a, T>> {
        if self.done {
            return None;
        }
        if self.cluster > 0 {
            return Some(self.short());
        }
        let Some(arg) = self.args.get(self.optind) else {
            self.done = true;
            return None;
        };
        let bytes = arg.as_bytes();
        if bytes == b"--" {
            self.optind += 1;
            self.done = true;
            return None;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            // POSIX mode: the first operand ends the options.
            self.done = true;
            return None;
        }
        let exact_long = || {
            self.spec
                .longs
                .iter()
                .any(|l| l.name.as_bytes() == &bytes[2..])
        };
        if bytes[1] == b'-' && (self.spec.long_options || exact_long()) {
            return Some(self.long());
        }
        self.cluster = 1;
        Some(self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum O {
        Shared,
        NonBlock,
        NoFork,
        Wait,
        Verbose,
        Version,
        Start,
    }

    const SHORTS: &[Short<O>] = &[
        Short {
            letter: b's',
            has_arg: HasArg::No,
            id: O::Shared,
        },
        Short {
            letter: b'n',
            has_arg: HasArg::No,
            id: O::NonBlock,
        },
        Short {
            letter: b'w',
            has_arg: HasArg::Required,
            id: O::Wait,
        },
    ];

    const fn long(name: &'static str, has_arg: HasArg, id: O, extension: bool) -> Long<O> {
        Long {
            name,
            has_arg,
            id,
            extension,
        }
    }

    const LONGS: &[Long<O>] = &[
        long("shared", HasArg::No, O::Shared, false),
        long("nonblocking", HasArg::No, O::NonBlock, false),
        long("nb", HasArg::No, O::NonBlock, false),
        long("timeout", HasArg::Required, O::Wait, false),
        long("wait", HasArg::Required, O::Wait, false),
        long("no-fork", HasArg::No, O::NoFork, false),
        long("verbose", HasArg::No, O::Verbose, false),
        long("version", HasArg::No, O::Version, false),
        long("start", HasArg::Required, O::Start, true),
    ];

    fn parse(args: &[&str]) -> (Vec<Item<'static, O>>, Vec<String>) {
        let args: &'static [OsString] = Box::leak(args.iter().map(OsString::from).collect());
        let mut g = Getopt::new(
            args,
            Spec {
                shorts: SHORTS,
                longs: LONGS,
                long_options: true,
            },
        );
        let items: Vec<_> = g.by_ref().collect();
        let rest = g
            .operands()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        (items, rest)
    }

    fn v(s: &'static str) -> Option<&'static OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn stops_at_first_operand() {
        let (items, rest) = parse(&["-n", "lock", "-s", "cmd"]);
        assert_eq!(items, vec![Item::Opt(O::NonBlock, None)]);
        assert_eq!(rest, ["lock", "-s", "cmd"]);
        let (_, rest) = parse(&["-", "x"]);
        assert_eq!(rest, ["-", "x"]);
        let (items, rest) = parse(&["--", "-n"]);
        assert!(items.is_empty());
        assert_eq!(rest, ["-n"]);
    }

    #[test]
    fn clusters_and_arguments() {
        let (items, rest) = parse(&["-nw1.5", "-w", "2", "--wait=3", "--timeout", "4", "f"]);
        assert_eq!(
            items,
            vec![
                Item::Opt(O::NonBlock, None),
                Item::Opt(O::Wait, v("1.5")),
                Item::Opt(O::Wait, v("2")),
                Item::Opt(O::Wait, v("3")),
                Item::Opt(O::Wait, v("4")),
            ]
        );
        assert_eq!(rest, ["f"]);
        let (items, _) = parse(&["-nw"]);
        assert_eq!(items[1], Item::Mistake(Mistake::ShortNeedsArg(b'w')));
    }

    #[test]
    fn abbreviations_and_ambiguity() {
        let (items, _) = parse(&["--nonblock", "--nb", "--verb", "--n"]);
        assert_eq!(items[0], Item::Opt(O::NonBlock, None));
        assert_eq!(items[1], Item::Opt(O::NonBlock, None));
        assert_eq!(items[2], Item::Opt(O::Verbose, None));
        assert_eq!(
            items[3],
            Item::Mistake(Mistake::Ambiguous {
                given: "n".into(),
                candidates: vec!["nonblocking", "no-fork"]
            })
        );
        let m = Mistake::Ambiguous {
            given: "ver".into(),
            candidates: vec!["verbose", "version"],
        };
        assert_eq!(
            m.message(OsStr::new("flock")),
            b"flock: option '--ver' is ambiguous; possibilities: '--verbose' '--version'"
        );
    }

    #[test]
    fn extensions_do_not_steal_reference_abbreviations() {
        let (items, _) = parse(&["--s", "--st", "1"]);
        assert_eq!(items[0], Item::Opt(O::Shared, None));
        assert_eq!(items[1], Item::Opt(O::Start, v("1")));
    }

    #[test]
    fn plain_getopt_has_no_long_options() {
        let args: &'static [OsString] =
            Box::leak(["--start", "--bogus"].iter().map(OsString::from).collect());
        let spec = Spec {
            shorts: SHORTS,
            longs: LONGS,
            long_options: false,
        };
        let items: Vec<_> = Getopt::new(args, spec).collect();
        // Only a long option spelled out in full is accepted.
        assert_eq!(items[0], Item::Opt(O::Start, Some(OsStr::new("--bogus"))));
        let args: &'static [OsString] = Box::leak([OsString::from("--bog")].into());
        let items: Vec<_> = Getopt::new(args, spec).collect();
        assert_eq!(items[0], Item::Mistake(Mistake::InvalidShort(b'-')));
    }

    #[test]
    fn long_option_mistakes() {
        let (items, _) = parse(&["--sh=x"]);
        assert_eq!(items[0], Item::Mistake(Mistake::LongTakesNoArg("shared")));
        let (items, _) = parse(&["--time"]);
        assert_eq!(items[0], Item::Mistake(Mistake::LongNeedsArg("timeout")));
        let (items, _) = parse(&["--bogus=1"]);
        assert_eq!(
            items[0],
            Item::Mistake(Mistake::UnknownLong("bogus=1".into()))
        );
        let (items, _) = parse(&["--wait="]);
        assert_eq!(items[0], Item::Opt(O::Wait, v("")));
        let (items, _) = parse(&["-z"]);
        assert_eq!(Item::Mistake(Mistake::InvalidShort(b'z')), items[0].clone());
    }
}
