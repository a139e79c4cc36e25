//! Every argument parser against arbitrary argv: no input may
//! panic. A panic is a bug: in the binary it is "panicked at …" and exit
//! 101 (main.rs catches the unwind at the C `main`).
//!
//! In-process property tests (proptest) feed each parser argv made of
//! arbitrary bytes (non-UTF-8 and empty arguments included) and of
//! fragments biased towards its grammar (`-`, `--`, its option letters and
//! long names, digits, `=`, huge numbers), and check cheap invariants: the
//! parse is deterministic, refusals carry the tool's usage status, the
//! number parsers agree with each other and with the C library (`strtol`,
//! `strtod` in the C locale). Then a smaller test runs the real binary
//! through each link name with random argv, constrained so that no case can
//! wait or run anything but `true`/`false`.
//!
//! `PARSERS_FUZZ_SCALE=N` multiplies every case count (e.g. 50 for a long
//! local run); the fuzz/ crate (cargo-fuzz) goes further.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config as ProptestConfig;

use lockkit::cnum::{self, NumError};
use lockkit::lockfile::args::{Item, tokens};
use lockkit::opts::{Opt, Value};

use crate::parser_checks::{
    c_strtod, check_dotlock, check_flock, check_getopt, check_lockfile, check_numbers, check_suite,
    os,
};

use crate::util::{Scratch, TestCommand};

// Generators ---------------------------------------------------------------

/// `cases` (times `PARSERS_FUZZ_SCALE`), with no failure files written next
/// to the sources: a failure prints its minimal argv, which then belongs in
/// [`hard_cases_through_every_parser`].
fn config(cases: u32) -> ProptestConfig {
    let scale = std::env::var("PARSERS_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    ProptestConfig {
        cases: cases.saturating_mul(scale),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What every grammar gets: signs, digits, numbers at and past the limits
/// of each integer type, float spellings, blanks, and non-UTF-8 bytes.
const COMMON: &[&[u8]] = &[
    b"-",
    b"--",
    b"=",
    b" ",
    b"\t",
    b"+",
    b"0",
    b"1",
    b"7",
    b"00",
    b"-1",
    b"0x",
    b"0xF",
    b".",
    b",",
    b"e",
    b"e-",
    b"p",
    b"nan",
    b"inf",
    b"255",
    b"256",
    b"2147483648",
    b"4294967296",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551616",
    b"99999999999999999999999999999999",
    b"\xff",
    b"\x80",
    "\u{e9}".as_bytes(),
];

const FLOCK_EXTRA: &[&[u8]] = &[
    b"-v", b"s", b"n", b"w", b"E", b"--n", b"--s", b"--ver", b"K", b"KiB", b"KB", b"EiB", b"Y",
    b"1e999", b"0x1p-2", b"f", b"true",
];

const DOTLOCK_EXTRA: &[&[u8]] = &[
    b"q", b"p", b"r", b"i", b"l", b"u", b"--he", b"f", b"x.lock", b"true", b"false",
];

const LOCKFILE_EXTRA: &[&[u8]] = &[b"-m", b"!", b"r", b"l", b"s", b"v", b"m", b"a", b"b"];

const SUITE: &[&[u8]] = &[
    b"install-links",
    b"generate",
    b"--force",
    b"--dry-run",
    b"--relative",
    b"-f",
    b"-n",
    b"-r",
    b"--help",
    b"-h",
    b"--version",
    b"-V",
    b"help",
    b"d",
    b"--dir",
    b"--forc",
];

/// A tool's fragments: every spelling of its options, from its definitions
/// (so that a new option is fuzzed too), then `extra`.
fn grammar<T: Copy>(opts: &[Opt<T>], extra: &[&'static [u8]]) -> Vec<&'static [u8]> {
    let leak = |s: String| -> &'static [u8] { Box::leak(s.into_bytes().into_boxed_slice()) };
    let mut out = Vec::new();
    for o in opts {
        for &c in o.short {
            let suffix = match o.value {
                Value::Suffix(s) => s,
                _ => "",
            };
            out.push(leak(format!("-{}{suffix}", char::from(c))));
        }
        for l in o.long.iter().chain(&o.shown) {
            out.push(leak(format!("--{l}")));
        }
    }
    out.extend_from_slice(extra);
    out
}

static FLOCK: LazyLock<Vec<&[u8]>> =
    LazyLock::new(|| grammar(lockkit::flock::args::defs::OPTIONS, FLOCK_EXTRA));
static DOTLOCK: LazyLock<Vec<&[u8]>> =
    LazyLock::new(|| grammar(lockkit::dotlock::args::defs::OPTIONS, DOTLOCK_EXTRA));
static LOCKFILE: LazyLock<Vec<&[u8]>> =
    LazyLock::new(|| grammar(lockkit::lockfile::args::defs::OPTIONS, LOCKFILE_EXTRA));

/// The fragments of one grammar, with the common ones.
fn fragments(grammar: &'static [&'static [u8]]) -> Vec<&'static [u8]> {
    COMMON.iter().chain(grammar).copied().collect()
}

/// One argument: arbitrary bytes (no NUL: no real argument has one), empty,
/// or a few of the grammar's fragments run together.
fn arg(grammar: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => vec(1u8..=255, 0..12),
        1 => Just(Vec::new()),
        6 => vec(select(fragments(grammar)), 1..5).prop_map(|parts| parts.concat()),
    ]
}

fn to_argv(args: Vec<Vec<u8>>) -> Vec<OsString> {
    args.into_iter().map(OsString::from_vec).collect()
}

/// An argv (after `argv[0]`) for a grammar.
fn argv(grammar: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<OsString>> {
    vec(arg(grammar), 0..8).prop_map(to_argv)
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn flock_parse_never_panics(args in argv(&FLOCK)) {
        check_flock(&args);
    }

    #[test]
    fn dotlock_parse_never_panics(args in argv(&DOTLOCK)) {
        check_dotlock(&args);
    }

    #[test]
    fn lockfile_grammar_is_well_formed(args in argv(&LOCKFILE)) {
        check_lockfile(&args);
    }

    #[test]
    fn getopt_ends_and_leaves_the_operands(
        args in argv(&FLOCK),
        long_options in any::<bool>(),
        peeking in any::<bool>(),
    ) {
        check_getopt(&args, long_options, peeking);
    }
}

proptest! {
    // clap builds its command for each case: slower.
    #![proptest_config(config(200))]

    #[test]
    fn suite_command_line_never_panics(args in argv(SUITE)) {
        check_suite(&args);
    }
}

/// Inputs at the edges of the grammars and of the number ranges: each once
/// through every parser.
#[test]
fn hard_cases_through_every_parser() {
    let cases: &[&[&str]] = &[
        // A whole number times its unit past u128: out of range, never a
        // wrapped or panicking multiplication.
        &["--start", "0400000000000000000042Z", "f", "true"],
        &["--length", "0xffffffffffffffffY", "f", "true"],
        // A long fraction times its unit past u128, likewise.
        &["--length", "1.999999999999999999999999999999Y", "f", "true"],
        &[],
        &[""],
        &["-"],
        &["--"],
        &["-w", "nan(", "9"],
        &["-w", "0x.p", "9"],
        &["-w", "1e-99999999999999999999", "9"],
        &["-r", "-1", "-r"],
        &["-s", "-2147483649"],
        &["-mu", "-ml"],
        &["--=", "-:"],
    ];
    for case in cases {
        let args = os(case);
        check_flock(&args);
        check_dotlock(&args);
        check_lockfile(&args);
        check_suite(&args);
        check_getopt(&args, true, true);
        check_getopt(&args, false, false);
        for bytes in case.iter() {
            check_numbers(bytes.as_bytes());
        }
    }
    // 2^128 and more: out of range (wrapping arithmetic, as in a release
    // build, would make it offset 0).
    for size in [
        "0400000000000000000042Z",
        "0xffffffffffffffffY",
        "0x400000000000000Z",
        "1.999999999999999999999999999999Y",
    ] {
        assert_eq!(cnum::parse_size(size.as_bytes()), Err(NumError::Range));
    }
}

const NUMERIC: &[&[u8]] = &[
    b" ",
    b"\t",
    b"\x0b",
    b"+",
    b"-",
    b"0",
    b"1",
    b"5",
    b"9",
    b"00000",
    b"2147483647",
    b"2147483648",
    b"9223372036854775807",
    b"9223372036854775808",
    b"99999999999999999999",
    b"x",
    b".",
    b"e",
    b"K",
    b"\xc2\xa0",
];

fn numeric() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => vec(any::<u8>(), 0..16),
        3 => vec(select(NUMERIC), 0..5).prop_map(|parts| parts.concat()),
    ]
}

/// A plain float: blanks, a sign, digits with a point, an exponent of at
/// most 3 digits (so the value is inside `long double`'s range, where
/// `parse_f64` and `strtod` must agree exactly); or hex with at most 13
/// significant digits (exact in a double); or `inf`/`nan`; or a mistake.
fn plain_float() -> impl Strategy<Value = String> {
    let digits = |n| vec(b'0'..=b'9', 0..=n).prop_map(|d| String::from_utf8(d).expect("ASCII"));
    let decimal = (
        select(&["", " ", "\t "][..]),
        select(&["", "+", "-"][..]),
        digits(25),
        proptest::option::of(digits(25)),
        proptest::option::of((
            select(&["e", "E"][..]),
            select(&["", "+", "-"][..]),
            1u32..1000,
        )),
        select(&["", "", "", "x", " ", "e", "."][..]),
    )
        .prop_map(|(ws, sign, int, frac, exp, junk)| {
            let mut s = format!("{ws}{sign}{int}");
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f);
            }
            if let Some((e, es, n)) = exp {
                s.push_str(&format!("{e}{es}{n}"));
            }
            s + junk
        });
    let hex = (
        select(&["", "-"][..]),
        0u64..(1 << 52),
        0usize..6,
        -1100i32..1100,
    )
        .prop_map(|(sign, mant, frac_digits, exp)| {
            let h = format!("{mant:x}");
            let cut = h.len().saturating_sub(frac_digits);
            format!("{sign}0x{}.{}p{exp}", &h[..cut], &h[cut..])
        });
    let special = select(
        &[
            "inf",
            "-INF",
            "infinity",
            "Infinity",
            "infin",
            "nan",
            "-nan",
            "NaN(123abc)",
            "nan(",
            "nan()",
            "0x",
            "0x.",
            "0xp1",
            ".",
            "-",
            "e5",
            ".e5",
        ][..],
    )
    .prop_map(str::to_owned);
    prop_oneof![6 => decimal, 3 => hex, 1 => special]
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn integer_parsers_agree_with_strtol(s in numeric()) {
        check_numbers(&s);
    }

    #[test]
    fn sizes_match_a_model(
        whole in any::<u64>(),
        radix in select(&[8u32, 10, 16][..]),
        fraction in proptest::option::of(0u32..1_000_000_000),
        suffix in select(&[
            ("", 1u128), ("K", 1 << 10), ("k", 1 << 10), ("KiB", 1 << 10), ("KB", 1000),
            ("M", 1 << 20), ("MiB", 1 << 20), ("MB", 1_000_000), ("G", 1 << 30),
            ("T", 1 << 40), ("P", 1 << 50), ("E", 1 << 60), ("EB", 1_000_000_000_000_000_000),
            ("Z", 1 << 70), ("Y", 1 << 80), ("YB", 1_000_000_000_000_000_000_000_000),
        ][..]),
    ) {
        let (text, unit) = suffix;
        // In hex, `E` (and `EB`) would be digits.
        let radix = if radix == 16 && text.starts_with('E') { 10 } else { radix };
        let mut s = match radix {
            8 => format!("0{whole:o}"),
            16 => format!("0x{whole:x}"),
            _ => format!("{whole}"),
        };
        // A fraction needs a suffix. Where the model overflows u128, the
        // size is far beyond u64 anyway.
        let fraction = fraction.filter(|_| !text.is_empty());
        let want = match fraction {
            None => u128::from(whole).checked_mul(unit),
            Some(f) => {
                let whole = whole >> 32;
                s = format!("{whole}.{f:09}");
                (u128::from(whole) * 1_000_000_000 + u128::from(f))
                    .checked_mul(unit)
                    .map(|scaled| scaled / 1_000_000_000)
            }
        };
        s.push_str(text);
        let want = want
            .and_then(|v| u64::try_from(v).ok())
            .ok_or(NumError::Range);
        prop_assert_eq!(cnum::parse_size(s.as_bytes()), want, "{}", s);
    }

    #[test]
    fn parse_f64_agrees_with_strtod(s in plain_float()) {
        let (want, used) = c_strtod(s.as_bytes());
        let got = cnum::parse_f64(s.as_bytes(), b".");
        if used == s.len() && used > 0 {
            let got = got.map_err(|e| format!("{s:?}: {e:?}, strtod says {want}"))
                .expect("accepted by strtod");
            prop_assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{:?}: {} (strtod: {})", s, got, want
            );
        } else {
            prop_assert_eq!(got, Err(NumError::Invalid), "{:?} (strtod used {})", s, used);
        }
    }
}

// The binary ---------------------------------------------------------------

/// A directory for each case, in the test's scratch directory.
fn case_dir(s: &Scratch) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    s.mkdir(format!("case{}", N.fetch_add(1, Ordering::SeqCst)))
}

/// `bin` in `s` with only `true` and `false`: the PATH of the random runs,
/// so a random word used as a command cannot be a real program.
fn commands_dir(s: &Scratch) -> std::path::PathBuf {
    let dir = s.mkdir("commands");
    for name in ["true", "false"] {
        let target = Path::new("/bin").join(name);
        std::os::unix::fs::symlink(&target, dir.join(name)).expect("link command");
    }
    dir
}

/// Run `tool` (a link name) with `args` in a fresh directory: assert that
/// it ended normally, without a panic.
fn run_random(s: &Scratch, commands: &Path, tool: &str, args: &[OsString]) {
    let dir = case_dir(s);
    let mut cmd = TestCommand::lockkit(s, tool)
        .args(args)
        .env("PATH", commands)
        // flock -c runs `$SHELL -c script`: make that `true -c …`.
        .env("SHELL", commands.join("true"))
        .env("MAIL", dir.join("mbox"))
        // A private pipe for `flock 0` (/dev/null's lock is everyone's).
        .stdin(Vec::new());
    cmd.command().current_dir(&dir);
    let out = cmd.run();
    assert!(
        out.code != 101 && out.code < 128 && !out.stderr.contains("panicked"),
        "{tool} {args:?}\n{out}"
    );
}

/// Arguments safe to run: no `/` (every name stays in the case's fresh,
/// empty directory, so only `.` and `..` already exist, and nothing outside
/// it is touched).
fn safe_argv(grammar: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<OsString>> {
    vec(
        arg(grammar).prop_map(|a| a.into_iter().filter(|&b| b != b'/').collect::<Vec<u8>>()),
        0..6,
    )
    .prop_map(to_argv)
}

/// dotlock: `-r 0` first and no other `r` among the options (`.` or `..`
/// as the lock exists, and would be retried with pauses).
fn dotlock_argv() -> impl Strategy<Value = Vec<OsString>> {
    safe_argv(&DOTLOCK).prop_map(|args| {
        let rest = args.into_iter().map(|a| {
            if a.as_bytes().first() == Some(&b'-') {
                OsString::from_vec(a.into_vec().into_iter().filter(|&b| b != b'r').collect())
            } else {
                a
            }
        });
        os(&["-r", "0"]).into_iter().chain(rest).collect()
    })
}

/// lockfile: `-r0` first, and the argv cut before anything that could make
/// a case wait or reach outside: another retry count, a lock timeout (a
/// forced lock is followed by a pause), a suspend time, or `-m` (the real
/// mailbox).
fn lockfile_argv() -> impl Strategy<Value = Vec<OsString>> {
    safe_argv(&LOCKFILE).prop_map(|args| {
        let mut args: Vec<OsString> = os(&["-r0"]).into_iter().chain(args).collect();
        let cut = tokens(&args).skip(1).find_map(|t| match t.item {
            Item::Retries(_) | Item::Mailbox(_) => Some(t.at),
            Item::LockTimeout(v) | Item::Suspend(v) if v != 0 => Some(t.at),
            _ => None,
        });
        if let Some(at) = cut {
            args.truncate(at.max(1));
        }
        args
    })
}

/// The suite with anything but a tool name first (a tool name dispatches to
/// the tool, run by the tests above).
fn suite_argv() -> impl Strategy<Value = Vec<OsString>> {
    safe_argv(SUITE).prop_map(|mut args| {
        if args
            .first()
            .is_some_and(|a| lockkit::suite::find_tool(a).is_some())
        {
            args[0] = "install-links".into();
        }
        args
    })
}

/// Run `tool` (one of `names`) with argv from `args` for each case, in one
/// scratch directory with a fresh directory per case.
fn binary_cases(
    cases: u32,
    names: &'static [&'static str],
    args: impl Strategy<Value = Vec<OsString>>,
) {
    let s = Scratch::new();
    let commands = commands_dir(&s);
    let mut runner = proptest::test_runner::TestRunner::new(config(cases));
    runner
        .run(&(select(names), args), |(name, args)| {
            run_random(&s, &commands, name, &args);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Nothing holds a lock in a fresh directory, and the only commands are
/// `true` and `false`: no case waits.
#[test]
fn flock_binary_never_panics() {
    binary_cases(40, &["flock"], safe_argv(&FLOCK));
}

#[test]
fn dotlock_binary_never_panics() {
    binary_cases(40, &["dotlock", "dotlockfile"], dotlock_argv());
}

#[test]
fn lockfile_binary_never_panics() {
    binary_cases(40, &["lockfile"], lockfile_argv());
}

#[test]
fn suite_binary_never_panics() {
    let s = Scratch::new();
    let commands = commands_dir(&s);
    let mut runner = proptest::test_runner::TestRunner::new(config(30));
    runner
        .run(&suite_argv(), |args| {
            let dir = case_dir(&s);
            let mut cmd = TestCommand::suite(&s).args(&args).env("PATH", &commands);
            cmd.command().current_dir(&dir);
            let out = cmd.run();
            assert!(
                out.code != 101 && out.code < 128 && !out.stderr.contains("panicked"),
                "lockkit {args:?}\n{out}"
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
