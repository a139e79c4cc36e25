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

use crate::opts::{Opt, Read, Value};

/// Whether an option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HasArg {
    No,
    Required,
}

fn has_arg<T>(opt: &Opt<T>) -> HasArg {
    match opt.value {
        Value::Required(_) => HasArg::Required,
        _ => HasArg::No,
    }
}

/// An option table: a tool's definitions (only those read among the
/// options take part; long names in table order, which decides how
/// ambiguity is reported).
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a, T> {
    pub options: &'a [Opt<T>],
    /// `getopt_long` (true) or plain `getopt` (false). Plain getopt has no
    /// long options: `--bogus` is the cluster `-`, `b`, … and fails on `-`.
    /// A tool using it may still accept its long names spelled out in full.
    pub long_options: bool,
}

impl<'a, T> Spec<'a, T> {
    fn parsed(&self) -> impl Iterator<Item = &'a Opt<T>> {
        self.options.iter().filter(|o| o.read == Read::Options)
    }

    /// Every long name, with its option, in table order.
    fn longs(&self) -> impl Iterator<Item = (&'a Opt<T>, &'static str)> {
        self.parsed()
            .flat_map(|o| o.long.iter().map(move |name| (o, *name)))
    }
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
            .parsed()
            .find(|o| o.short.contains(&letter) && letter != b':');
        let Some(opt) = found else {
            return Item::Mistake(Mistake::InvalidShort(letter));
        };
        match has_arg(opt) {
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
        let (opt, name) = match self.lookup(name) {
            Ok(found) => found,
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
        match (has_arg(opt), value) {
            (HasArg::No, None) => Item::Opt(opt.id, None),
            (HasArg::No, Some(_)) => Item::Mistake(Mistake::LongTakesNoArg(name)),
            (HasArg::Required, Some(v)) => Item::Opt(opt.id, Some(v)),
            (HasArg::Required, None) => match self.args.get(self.optind) {
                Some(v) => {
                    self.optind += 1;
                    Item::Opt(opt.id, Some(v.as_os_str()))
                }
                None => Item::Mistake(Mistake::LongNeedsArg(name)),
            },
        }
    }

    /// Find a long option by exact name or unambiguous prefix: the option
    /// and its full name. On failure, the ambiguous candidates (empty when
    /// nothing matches).
    fn lookup(&self, name: &[u8]) -> Result<(&'a Opt<T>, &'static str), Vec<&'static str>> {
        if let Some(exact) = self.spec.longs().find(|(_, l)| l.as_bytes() == name) {
            return Ok(exact);
        }
        let matches = |(_, l): &(&Opt<T>, &str)| l.as_bytes().starts_with(name);
        // The reference's own options win an abbreviation over extensions.
        let core_match = self.spec.longs().filter(matches).any(|(o, _)| !o.extension);
        let mut candidates = self
            .spec
            .longs()
            .filter(matches)
            .filter(|(o, _)| !core_match || !o.extension);
        let Some(first) = candidates.next() else {
            return Err(Vec::new());
        };
        // Like glibc: a match that means the same as the first one (an alias
        // such as `--nb` for `--nonblocking`) is no ambiguity, and only those
        // that differ from the first are listed with it.
        let differing: Vec<&'static str> = candidates
            .filter(|(o, _)| o.id != first.0.id || has_arg(o) != has_arg(first.0))
            .map(|(_, l)| l)
            .collect();
        if differing.is_empty() {
            Ok(first)
        } else {
            let mut all = vec![first.1];
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
        let exact_long = || self.spec.longs().any(|(_, l)| l.as_bytes() == &bytes[2..]);
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

    const fn opt(id: O, short: &'static [u8], long: &'static [&'static str]) -> Opt<O> {
        Opt::new(id, short, long)
    }

    const OPTIONS: &[Opt<O>] = &[
        opt(O::Shared, b"s", &["shared"]),
        opt(O::NonBlock, b"n", &["nonblocking", "nb"]),
        opt(O::Wait, b"w", &["timeout", "wait"]).value("secs"),
        opt(O::NoFork, b"", &["no-fork"]),
        opt(O::Verbose, b"", &["verbose"]),
        opt(O::Version, b"", &["version"]),
        opt(O::Start, b"", &["start"]).value("offset").extension(),
    ];

    fn parse(args: &[&str]) -> (Vec<Item<'static, O>>, Vec<String>) {
        let args: &'static [OsString] = Box::leak(args.iter().map(OsString::from).collect());
        let mut g = Getopt::new(
            args,
            Spec {
                options: OPTIONS,
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
            options: OPTIONS,
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
