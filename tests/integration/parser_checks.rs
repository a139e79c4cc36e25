//! The oracle that the property tests (parsers_fuzz.rs) and the cargo-fuzz
//! targets (fuzz/, which include this file) share: each `check_*` feeds one
//! parser an argv or a string and asserts what must hold for any input — no
//! panic, determinism, refusals with the tool's usage status, getopt always
//! ending with the operands as the argv's tail, the integer parsers agreeing
//! with glibc's `strtol`. Only `lockkit`, `clap` (through lockkit) and
//! `libc` are used, so both crates can compile it.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use lockkit::Prog;
use lockkit::cnum::{self, NumError};
use lockkit::getopt::{Getopt, Item as GetoptItem, Spec};
use lockkit::lockfile::args::{Item, tokens};
use lockkit::opts::Opt;

pub fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

// The tools' parsers -------------------------------------------------------

pub fn check_flock(args: &[OsString]) {
    use lockkit::flock::args::{Request, Target, parse};
    let prog = Prog::named("flock");
    let first = parse(&prog, args);
    assert_eq!(first, parse(&prog, args), "not deterministic: {args:?}");
    match first {
        Err(e) => {
            assert_eq!(e.code(), 64, "{args:?}: {e:?}");
            assert!(!e.message().is_empty(), "a silent refusal: {args:?}");
        }
        Ok(Request::Run(c)) => match c.target {
            Target::Path { path, command } => {
                assert!(args.contains(&path), "{args:?}");
                assert!(!command.is_empty(), "{args:?}");
            }
            // A negative number is a descriptor too, as for util-linux
            // (`flock ' -1'`): flock(2) then says EBADF.
            Target::Fd { command, .. } => {
                assert!(command.is_none_or(|c| !c.is_empty()), "{args:?}");
            }
        },
        Ok(Request::Help | Request::Version) => {}
    }
}

pub fn check_dotlock(args: &[OsString]) {
    use lockkit::dotlock::args::parse;
    let prog = Prog::named("dotlock");
    let first = parse(&prog, args);
    assert_eq!(first, parse(&prog, args), "not deterministic: {args:?}");
    match first {
        Err(e) => assert!(matches!(e.code(), 1 | 5), "{args:?}: {e:?}"),
        Ok(c) => {
            assert!(c.retries >= 0, "{args:?}: {c:?}");
            assert!(c.interval.is_none_or(|i| i <= 60), "{args:?}: {c:?}");
        }
    }
}

/// The items of procmail's grammar are well formed: indices in range and
/// never going back, a file is a whole argument, a usage error comes last
/// and ends the items, sleep and suspend times are never negative.
pub fn check_lockfile(args: &[OsString]) {
    let mut it = tokens(args);
    let items: Vec<_> = it.by_ref().collect();
    assert!(it.next().is_none(), "resumed after the end: {args:?}");
    let mut last = 0;
    for (n, t) in items.iter().enumerate() {
        assert!(t.at < args.len() && t.at >= last, "{args:?}: {items:?}");
        last = t.at;
        match t.item {
            Item::Lock(name) => {
                assert_eq!(name, args[t.at].as_os_str(), "{args:?}");
                assert_ne!(name.as_bytes().first(), Some(&b'-'), "{args:?}");
            }
            Item::Usage => assert_eq!(n, items.len() - 1, "{args:?}: {items:?}"),
            Item::Sleep(v) | Item::Suspend(v) => assert!(v >= 0, "{args:?}: {items:?}"),
            _ => {}
        }
    }
    assert_eq!(items, tokens(args).collect::<Vec<_>>(), "not deterministic");
    // The undo pass reads the arguments before the failing one.
    if let Some(t) = items.last() {
        let _ = tokens(&args[..t.at]).count();
    }
}

/// `lockkit`'s own command line; what `install-links` reads is there.
pub fn check_suite(args: &[OsString]) {
    let mut full = vec![OsString::from("lockkit")];
    full.extend_from_slice(args);
    match lockkit::suite::command().try_get_matches_from(&full) {
        Ok(m) => {
            if let Some(("install-links", sub)) = m.subcommand() {
                assert!(sub.get_one::<OsString>("dir").is_some(), "{args:?}");
                let _ = (sub.get_flag("force"), sub.get_flag("dry-run"));
                let _ = sub.get_flag("relative");
            }
        }
        Err(e) => {
            let _ = e.render().to_string();
        }
    }
}

const fn opt(id: u8, short: &'static [u8], long: &'static [&'static str]) -> Opt<u8> {
    Opt::new(id, short, long)
}

/// A table with what makes getopt tricky: aliases, a long option that is a
/// prefix of others, an extension sharing a prefix, `:` and `-` as letters,
/// and one meaning spelled with and without a value.
const OPTIONS: &[Opt<u8>] = &[
    opt(0, b"s", &["shared"]),
    opt(1, b"n", &["nonblocking", "nb"]),
    opt(1, b"", &["nonblock"]).value("x"),
    opt(2, b"w", &["wait", "timeout"]).value("secs"),
    opt(3, b":", &[]),
    opt(4, b"-", &[]),
    opt(5, b"E", &[]).value("code"),
    opt(6, b"", &["start"]).value("offset").extension(),
    opt(7, b"", &["s"]).extension(),
];

/// getopt ends, every step takes something, an option's value is (the end
/// of) an argument, and the operands are what follows the options.
pub fn check_getopt(args: &[OsString], long_options: bool, peeking: bool) {
    let spec = Spec {
        options: OPTIONS,
        long_options,
    };
    let mut g = Getopt::new(args, spec);
    let limit: usize = args.iter().map(|a| a.len() + 1).sum();
    let mut steps = 0;
    loop {
        // As flock does for `-c` after `--fd`.
        if peeking && g.peek().is_some_and(|a| a == "-c") {
            g.take_peeked();
            continue;
        }
        let Some(item) = g.next() else { break };
        steps += 1;
        assert!(steps <= limit, "no progress: {args:?}");
        match item {
            GetoptItem::Opt(_, Some(v)) => assert!(
                args.iter().any(|a| a.as_bytes().ends_with(v.as_bytes())),
                "{args:?}: {v:?}"
            ),
            GetoptItem::Opt(_, None) => {}
            GetoptItem::Mistake(m) => assert!(!m.message(OsStr::new("p")).is_empty()),
        }
    }
    assert!(g.next().is_none(), "resumed after the end: {args:?}");
    let ops = g.operands();
    assert_eq!(ops, &args[args.len() - ops.len()..], "{args:?}");
}

// Number parsers -----------------------------------------------------------

/// Make this thread's locale the C one, whatever the process's is (flock's
/// parser calls `setlocale(LC_NUMERIC, "")`), for comparing with libc.
pub fn c_locale() {
    thread_local! {
        static DONE: () = {
            // SAFETY: newlocale returns a fresh object (leaked on purpose:
            // it stays this thread's locale); uselocale only affects this
            // thread.
            unsafe {
                let loc = libc::newlocale(libc::LC_ALL_MASK, c"C".as_ptr(), std::ptr::null_mut());
                assert!(!loc.is_null(), "newlocale(C)");
                libc::uselocale(loc);
            }
        };
    }
    DONE.with(|_| {});
}

/// glibc's `strtol(s, &end, 10)`: value, digits read, ERANGE, end index.
pub fn c_strtol(s: &[u8]) -> (i64, bool, bool, usize) {
    c_locale();
    let c = std::ffi::CString::new(s).expect("no NUL");
    // SAFETY: a NUL-terminated string; errno is this thread's.
    unsafe {
        *libc::__errno_location() = 0;
        let mut end: *mut libc::c_char = std::ptr::null_mut();
        let v = libc::strtol(c.as_ptr(), &mut end, 10);
        let range = *libc::__errno_location() == libc::ERANGE;
        let used = usize::try_from(end.offset_from(c.as_ptr())).expect("end after start");
        (v, used != 0, range, used)
    }
}

/// glibc's `strtod(s, &end)`: value and end index.
pub fn c_strtod(s: &[u8]) -> (f64, usize) {
    c_locale();
    let c = std::ffi::CString::new(s).expect("no NUL");
    // SAFETY: as for c_strtol.
    unsafe {
        let mut end: *mut libc::c_char = std::ptr::null_mut();
        let v = libc::strtod(c.as_ptr(), &mut end);
        let used = usize::try_from(end.offset_from(c.as_ptr())).expect("end after start");
        (v, used)
    }
}

/// The integer parsers agree with C's `strtol` and with each other; the
/// others do not panic.
pub fn check_numbers(s: &[u8]) {
    let r = cnum::strtol(s);
    if !s.contains(&0) {
        let (v, digits, range, used) = c_strtol(s);
        assert_eq!((r.value, r.digits, r.overflow), (v, digits, range), "{s:?}");
        assert_eq!(r.rest, &s[if digits { used } else { 0 }..], "{s:?}");
    }
    assert_eq!(cnum::atoi(s), r.value as i32, "{s:?}");
    let wide = cnum::parse_i64(s);
    match wide {
        Ok(v) => assert!(r.digits && r.rest.is_empty() && v == r.value, "{s:?}"),
        Err(NumError::Range) => assert!(r.overflow, "{s:?}"),
        Err(NumError::Invalid) => assert!(!r.digits || !r.rest.is_empty(), "{s:?}"),
    }
    if let Ok(v) = cnum::parse_i32(s) {
        assert_eq!(wide, Ok(i64::from(v)), "{s:?}");
    }
    let _ = cnum::parse_size(s);
    for point in [&b"."[..], b",", "\u{66b}".as_bytes()] {
        let _ = cnum::parse_f64(s, point);
    }
}
