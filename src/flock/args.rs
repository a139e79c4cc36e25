//! flock's command line, as util-linux 2.38.1 reads it, plus the newer
//! upstream options (`--fcntl`, `--start`, `--length`, `--fd`).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use crate::Prog;
use crate::cnum::{self, NumError};
use crate::error::{Error, Result, strerror, sysexits::EX_USAGE};
use crate::getopt::{Getopt, Item, Spec};
use crate::lock::fdlock::{Api, Mode};
use crate::lock::slots::layout::MAX_SLOTS;
use crate::lock::watchdog::DEFAULT_GRACE;
use crate::opts::{Opt, Read};

pub mod defs;

pub use defs::HELP;
use defs::{Id, OPTIONS};

/// The definitions the parser reads (without their documentation).
const PARSED: [Opt<Id>; OPTIONS.len()] = crate::opts::for_parser(OPTIONS);

/// The `-w` value as util-linux 2.38.1 converts it: whole seconds and
/// microseconds, truncated toward zero (not yet validated: the kernel judges
/// negative or non-finite values when the timer is armed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    pub sec: i64,
    pub usec: i64,
}

impl Timeout {
    fn from_secs(v: f64) -> Timeout {
        let sec = c_double_to_i64(v);
        let frac = v - sec as f64;
        Timeout {
            sec,
            usec: micros_toward_zero(frac),
        }
    }

    pub fn is_zero(self) -> bool {
        self.sec == 0 && self.usec == 0
    }
}

/// C's `(int64_t)d` on x86-64: truncation, and INT64_MIN for anything that
/// does not fit (NaN, infinities, |d| ≥ 2^63). Rust's `as` saturates instead.
fn c_double_to_i64(d: f64) -> i64 {
    if d.is_finite() && d > -9.223_372_036_854_776e18 && d < 9.223_372_036_854_776e18 {
        d as i64
    } else {
        i64::MIN
    }
}

/// `(frac * 1000000)` truncated, computed on the exact binary value of
/// `frac`: `-w 0.000001` is 0.99999999999999995 µs, hence 0 µs and
/// non-blocking, as with util-linux 2.38.1 (a plain f64 multiply rounds it up
/// to 1).
fn micros_toward_zero(frac: f64) -> i64 {
    if !frac.is_finite() {
        return i64::MIN;
    }
    let bits = frac.abs().to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mantissa = if exp == 0 {
        (bits & ((1 << 52) - 1)) << 1
    } else {
        (bits & ((1 << 52) - 1)) | (1 << 52)
    };
    // |frac| = mantissa × 2^(exp - 1075)
    let shift = 1075 - exp;
    let product = u128::from(mantissa) * 1_000_000;
    let micros = if shift <= 0 {
        // |frac| ≥ 2^52 cannot happen for a fractional part; be safe.
        return c_double_to_i64(frac * 1e6);
    } else if shift >= 128 {
        0
    } else {
        (product >> shift) as i64
    };
    if frac < 0.0 { -micros } else { micros }
}

/// What to lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file or directory by name; there is always a command.
    Path {
        path: OsString,
        command: Vec<OsString>,
    },
    /// A descriptor the caller opened: `flock 9`, or `flock --fd 9 cmd`.
    Fd {
        fd: i32,
        command: Option<Vec<OsString>>,
    },
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub nonblock: bool,
    pub timeout: Option<Timeout>,
    pub conflict_exit_code: u8,
    pub close: bool,
    pub no_fork: bool,
    pub verbose: bool,
    pub api: Api,
    pub target: Target,
    /// Run the command once for the callers that come while it runs.
    pub single_flight: bool,
    /// `--slots N`: take one of N slots (or all of them).
    pub slots: Option<u32>,
    /// The lock type is exclusive because `-x`/`-e` said so (with `--slots`:
    /// every slot at once), not by default.
    pub exclusive_given: bool,
    /// `--who`: name the holders on a conflict or timeout.
    pub who: bool,
    /// `--watchdog`: stop the command if the lock is lost.
    pub watchdog: bool,
    /// `--grace`: SIGTERM to SIGKILL after a loss.
    pub grace: Duration,
    /// `--forward-signals`: pass stop signals on to the command.
    pub forward_signals: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Run(Config),
    Help,
    Version,
}

pub(crate) fn try_help(prog: &Prog) -> String {
    format!(
        "Try '{} --help' for more information.",
        prog.name.to_string_lossy()
    )
}

/// `<what>: '<arg>'` with `: <strerror>` on overflow, exit 64 (util-linux's
/// `*_or_err` helpers).
pub(crate) fn bad_number(
    prog: &Prog,
    what: &str,
    arg: &OsStr,
    err: NumError,
    always_errno: bool,
) -> Error {
    let mut text = format!("{what}: '").into_bytes();
    text.extend_from_slice(arg.as_bytes());
    text.push(b'\'');
    match err {
        NumError::Range => {
            text.extend_from_slice(b": ");
            text.extend_from_slice(strerror(rustix::io::Errno::RANGE).as_bytes());
        }
        NumError::Invalid if always_errno => {
            text.extend_from_slice(b": ");
            text.extend_from_slice(strerror(rustix::io::Errno::INVAL).as_bytes());
        }
        NumError::Invalid => {}
    }
    Error::msg(EX_USAGE, &prog.name, text)
}

/// The shell for `-c`: `$SHELL` if set and not empty, else /bin/sh.
pub(crate) fn shell_command(script: &OsStr) -> Vec<OsString> {
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".into());
    vec![shell, "-c".into(), script.to_owned()]
}

/// `-c`/`--command`, which flock reads among its operands (or after `--fd`).
fn is_command_flag(arg: &OsStr) -> bool {
    let arg = arg.as_bytes();
    PARSED
        .iter()
        .filter(|o| o.read == Read::AfterOperand)
        .any(|o| {
            o.short.iter().any(|c| arg == [b'-', *c])
                || o.long
                    .iter()
                    .any(|l| arg.strip_prefix(b"--") == Some(l.as_bytes()))
        })
}

/// Parse the arguments after `argv[0]`.
pub fn parse(prog: &Prog, args: &[OsString]) -> Result<Request> {
    if args.is_empty() {
        return Err(
            Error::msg(EX_USAGE, &prog.name, "not enough arguments").raw_line(try_help(prog))
        );
    }
    let mut mode = Mode::Exclusive;
    let mut nonblock = false;
    let mut timeout = None;
    let mut conflict_exit_code = 1;
    let mut close = false;
    let mut no_fork = false;
    let mut verbose = false;
    let mut fcntl = false;
    let mut start = 0;
    let mut length = 0;
    let mut fd_opt: Option<i32> = None;
    let mut single_flight = false;
    let mut slots: Option<u32> = None;
    let mut exclusive_given = false;
    let mut range_given = false;
    let mut who = false;
    // `-c`/`--command` among the options, as upstream allows after `--fd`.
    let mut command_flag: Option<&OsStr> = None;
    let mut watchdog = false;
    let mut grace: Option<Duration> = None;
    let mut forward_signals = false;

    let mut g = Getopt::new(
        args,
        Spec {
            options: &PARSED,
            long_options: true,
        },
    );
    loop {
        if let Some(arg) = g.peek().filter(|a| fd_opt.is_some() && is_command_flag(a)) {
            command_flag = Some(arg);
            g.take_peeked();
            continue;
        }
        let Some(item) = g.next() else { break };
        let (opt, value) = match item {
            Item::Opt(opt, value) => (opt, value.unwrap_or_default()),
            Item::Mistake(m) => {
                return Err(Error::silent(EX_USAGE)
                    .raw_line(m.message(&prog.argv0))
                    .raw_line(try_help(prog)));
            }
        };
        match opt {
            Id::Shared => (mode, exclusive_given) = (Mode::Shared, false),
            Id::Exclusive => (mode, exclusive_given) = (Mode::Exclusive, true),
            Id::Unlock => (mode, exclusive_given) = (Mode::Unlock, false),
            Id::NonBlock => nonblock = true,
            Id::Close => close = true,
            Id::NoFork => no_fork = true,
            Id::Verbose => verbose = true,
            Id::Fcntl => fcntl = true,
            Id::Timeout => {
                let point = cnum::locale_decimal_point();
                let secs = cnum::parse_f64(value.as_bytes(), &point)
                    .map_err(|e| bad_number(prog, "invalid timeout value", value, e, false))?;
                timeout = Some(Timeout::from_secs(secs));
            }
            Id::ConflictExitCode => {
                let code = cnum::parse_i32(value.as_bytes())
                    .map_err(|e| bad_number(prog, "invalid exit code", value, e, false))?;
                conflict_exit_code = u8::try_from(code).map_err(|_| {
                    Error::msg(
                        EX_USAGE,
                        &prog.name,
                        "exit code out of range (expected 0 to 255)",
                    )
                })?;
            }
            Id::Start => {
                start = cnum::parse_size(value.as_bytes())
                    .map_err(|e| bad_number(prog, "invalid as start offset", value, e, true))?;
                fcntl = true;
                range_given = true;
            }
            Id::Length => {
                length = cnum::parse_size(value.as_bytes()).map_err(|e| {
                    bad_number(prog, "invalid as length of lock range", value, e, true)
                })?;
                fcntl = true;
                range_given = true;
            }
            Id::Fd => {
                let fd = cnum::parse_i32(value.as_bytes())
                    .map_err(|e| bad_number(prog, "invalid file descriptor", value, e, false))?;
                if fd < 0 {
                    return Err(bad_number(
                        prog,
                        "invalid file descriptor",
                        value,
                        NumError::Invalid,
                        false,
                    ));
                }
                fd_opt = Some(fd);
            }
            // Read among the operands, never by getopt.
            Id::Command => {}
            Id::Help => return Ok(Request::Help),
            Id::Version => return Ok(Request::Version),
            Id::TryHelp => return Err(Error::silent(EX_USAGE).raw_line(try_help(prog))),
            Id::SingleFlight => single_flight = true,
            Id::Slots => {
                let n = cnum::parse_i64(value.as_bytes())
                    .map_err(|e| bad_number(prog, "invalid number of slots", value, e, false))?;
                slots = Some(
                    u32::try_from(n)
                        .ok()
                        .filter(|&n| n >= 1 && u64::from(n) <= MAX_SLOTS)
                        .ok_or_else(|| {
                            Error::msg(
                                EX_USAGE,
                                &prog.name,
                                format!("number of slots out of range (expected 1 to {MAX_SLOTS})"),
                            )
                        })?,
                );
            }
            Id::Who => who = true,
            Id::Watchdog => watchdog = true,
            Id::Grace => {
                grace = Some(
                    cnum::parse_secs(value.as_bytes())
                        .map_err(|e| bad_number(prog, "invalid grace period", value, e, false))?,
                );
            }
            Id::ForwardSignals => forward_signals = true,
        }
    }
    let rest = g.operands();

    if no_fork && close {
        return Err(Error::msg(
            EX_USAGE,
            &prog.name,
            "the --no-fork and --close options are incompatible",
        ));
    }
    if slots.is_some() {
        let refused = if mode == Mode::Unlock {
            Some("--slots and --unlock are incompatible: a slot is let go when the command ends")
        } else if fd_opt.is_some() {
            Some("--slots and --fd are incompatible: flock must open the semaphore's file itself")
        } else if range_given {
            Some(
                "--slots and --start/--length are incompatible: the semaphore's byte ranges are fixed",
            )
        } else if rest.len() < 2 {
            Some("--slots requires a file and a command: a slot is held while the command runs")
        } else {
            None
        };
        if let Some(why) = refused {
            return Err(Error::msg(EX_USAGE, &prog.name, why));
        }
    }
    // `-w 0` means "don't wait" (a zero timer would mean "disarmed").
    if timeout.is_some_and(Timeout::is_zero) {
        timeout = None;
        nonblock = true;
    }
    let exactly_one = |flag: &OsStr| {
        let mut text = flag.as_bytes().to_vec();
        text.extend_from_slice(b" requires exactly one command argument");
        Error::msg(EX_USAGE, &prog.name, text)
    };

    let target = if let Some(fd) = fd_opt {
        let command = match (command_flag, rest) {
            (Some(_), [script]) => shell_command(script),
            (Some(flag), _) => return Err(exactly_one(flag)),
            (None, []) => return Err(Error::msg(EX_USAGE, &prog.name, "missing command")),
            (None, command) => command.to_vec(),
        };
        Target::Fd {
            fd,
            command: Some(command),
        }
    } else {
        match rest {
            [] => {
                return Err(Error::msg(
                    EX_USAGE,
                    &prog.name,
                    "requires file descriptor, file or directory",
                ));
            }
            [fd] => Target::Fd {
                fd: cnum::parse_i32(fd.as_bytes())
                    .map_err(|e| bad_number(prog, "bad file descriptor", fd, e, false))?,
                command: None,
            },
            [path, flag, script] if is_command_flag(flag) => Target::Path {
                path: path.clone(),
                command: shell_command(script),
            },
            [_, flag, ..] if is_command_flag(flag) => return Err(exactly_one(flag)),
            [path, command @ ..] => Target::Path {
                path: path.clone(),
                command: command.to_vec(),
            },
        }
    };

    if single_flight {
        if let Some(why) = single_flight_refuses(mode, no_fork, fcntl, slots.is_some(), &target) {
            return Err(Error::msg(EX_USAGE, &prog.name, why));
        }
    }
    let api = if fcntl {
        Api::Ofd { start, len: length }
    } else {
        Api::Flock
    };
    extension_conflicts(
        prog,
        &target,
        mode,
        no_fork,
        watchdog,
        grace,
        forward_signals,
    )?;
    Ok(Request::Run(Config {
        mode,
        nonblock,
        timeout,
        conflict_exit_code,
        close,
        no_fork,
        verbose,
        api,
        target,
        single_flight,
        slots,
        exclusive_given,
        who,
        watchdog,
        grace: grace.unwrap_or(DEFAULT_GRACE),
        forward_signals,
    }))
}

/// Why `--single-flight` cannot go with the rest of the request, if it
/// cannot: its leader holds an exclusive flock(2) on a file it writes its
/// record to, and records the command's status once it has ended.
fn single_flight_refuses(
    mode: Mode,
    no_fork: bool,
    fcntl: bool,
    slots: bool,
    target: &Target,
) -> Option<&'static str> {
    Some(match (mode, target) {
        (Mode::Shared, _) => {
            "--single-flight cannot be used with --shared: the run holds the lock alone"
        }
        (Mode::Unlock, _) => "--single-flight cannot be used with --unlock: it runs a command",
        (_, Target::Fd { .. }) => {
            "--single-flight needs a file name, not a descriptor: it keeps its record in the file"
        }
        _ if slots => "--single-flight and --slots are incompatible: a run has one leader",
        _ if no_fork => {
            "--single-flight cannot be used with --no-fork: the run's status is recorded after it ends"
        }
        _ if fcntl => {
            "--single-flight cannot be used with --fcntl, --start or --length: it locks with flock(2)"
        }
        _ => return None,
    })
}

/// `--watchdog`, `--grace` and `--forward-signals` where they cannot work.
fn extension_conflicts(
    prog: &Prog,
    target: &Target,
    mode: Mode,
    no_fork: bool,
    watchdog: bool,
    grace: Option<Duration>,
    forward_signals: bool,
) -> Result<()> {
    let why = if grace.is_some() && !watchdog {
        "--grace needs --watchdog"
    } else if watchdog && matches!(target, Target::Fd { .. }) {
        "--watchdog needs a file or directory: a file descriptor has no name to watch"
    } else if watchdog && mode == Mode::Unlock {
        "--watchdog cannot be used with --unlock: there is no lock to watch"
    } else if watchdog && no_fork {
        "--watchdog cannot be used with --no-fork: nothing would be left to watch the lock"
    } else if forward_signals && no_fork {
        "--forward-signals cannot be used with --no-fork: the command replaces flock"
    } else {
        return Ok(());
    };
    Err(Error::msg(EX_USAGE, &prog.name, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog() -> Prog {
        Prog::named("flock")
    }

    fn run(args: &[&str]) -> Result<Request> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&prog(), &args)
    }

    fn config(args: &[&str]) -> Config {
        match run(args) {
            Ok(Request::Run(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn stderr(args: &[&str]) -> (u8, String) {
        let e = run(args).expect_err("should fail");
        (e.code(), String::from_utf8_lossy(e.message()).into_owned())
    }

    #[test]
    fn timeout_conversion_matches_2_38_1() {
        assert_eq!(
            Timeout::from_secs(1.5),
            Timeout {
                sec: 1,
                usec: 500_000
            }
        );
        assert!(Timeout::from_secs(0.000001).is_zero());
        assert!(!Timeout::from_secs(0.0000015).is_zero());
        assert!(!Timeout::from_secs(0.000002).is_zero());
        assert!(Timeout::from_secs(-0.0000001).is_zero());
        assert_eq!(Timeout::from_secs(-0.5).usec, -500_000);
        assert_eq!(Timeout::from_secs(f64::NAN).sec, i64::MIN);
        assert_eq!(Timeout::from_secs(1e19).sec, i64::MIN);
    }

    #[test]
    fn last_lock_type_wins_and_zero_wait_means_nonblock() {
        let c = config(&["-x", "-s", "-w", "1", "-w", "0", "f", "true"]);
        assert_eq!(c.mode, Mode::Shared);
        assert!(c.nonblock);
        assert_eq!(c.timeout, None);
        let c = config(&["-w", "0", "-w", "1", "f", "true"]);
        assert!(!c.nonblock);
    }

    #[test]
    fn operands() {
        assert_eq!(
            config(&["9"]).target,
            Target::Fd {
                fd: 9,
                command: None
            }
        );
        assert_eq!(
            config(&[" +5"]).target,
            Target::Fd {
                fd: 5,
                command: None
            }
        );
        let c = config(&["f", "-n", "x"]);
        assert!(!c.nonblock);
        assert_eq!(
            c.target,
            Target::Path {
                path: "f".into(),
                command: vec!["-n".into(), "x".into()]
            }
        );
        assert_eq!(
            stderr(&["f", "--command"]),
            (
                64,
                "flock: --command requires exactly one command argument\n".into()
            )
        );
        assert_eq!(
            stderr(&["-n"]),
            (
                64,
                "flock: requires file descriptor, file or directory\n".into()
            )
        );
        assert_eq!(
            stderr(&["2147483648"]),
            (
                64,
                "flock: bad file descriptor: '2147483648': Numerical result out of range\n".into()
            )
        );
    }

    #[test]
    fn fd_option_takes_a_command() {
        let c = config(&["--fd", "9", "-c", "echo hi"]);
        match c.target {
            Target::Fd {
                fd: 9,
                command: Some(cmd),
            } => assert_eq!(cmd[1..], ["-c", "echo hi"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            stderr(&["--fd", "9"]),
            (64, "flock: missing command\n".into())
        );
        assert_eq!(
            stderr(&["-c", "echo", "f"]),
            (
                64,
                "flock: invalid option -- 'c'\nTry 'flock --help' for more information.\n".into()
            )
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            stderr(&["-E", "256", "f", "true"]),
            (
                64,
                "flock: exit code out of range (expected 0 to 255)\n".into()
            )
        );
        assert_eq!(
            stderr(&["--start", "-1", "f", "true"]),
            (
                64,
                "flock: invalid as start offset: '-1': Invalid argument\n".into()
            )
        );
        let c = config(&["--start", "1KiB", "--length", "0.5K", "f", "true"]);
        assert_eq!(
            c.api,
            Api::Ofd {
                start: 1024,
                len: 512
            }
        );
        assert_eq!(config(&["-E", "7", "9"]).conflict_exit_code, 7);
    }

    #[test]
    fn single_flight_refuses_what_it_cannot_do() {
        assert!(
            config(&["--single-flight", "-s", "-x", "-o", "-w", "1", "f", "true"]).single_flight
        );
        assert!(!config(&["f", "true"]).single_flight);
        for args in [
            &["--single-flight", "-s", "f", "true"][..],
            &["--single-flight", "-u", "f", "true"],
            &["--single-flight", "9"],
            &["--single-flight", "--fd", "9", "true"],
            &["--single-flight", "-F", "f", "true"],
            &["--single-flight", "--start", "1", "f", "true"],
            &["--single-flight", "--slots", "2", "f", "true"],
        ] {
            let (code, text) = stderr(args);
            assert_eq!(code, 64, "{args:?}");
            assert!(text.starts_with("flock: --single-flight "), "{text}");
            assert_eq!(text.lines().count(), 1, "{text}");
        }
    }

    #[test]
    fn slots_and_whether_exclusive_was_asked_for() {
        let c = config(&["--slots", "3", "f", "true"]);
        assert_eq!((c.slots, c.exclusive_given), (Some(3), false));
        assert_eq!(c.mode, Mode::Exclusive);
        assert!(config(&["--slots", "3", "-s", "-e", "f", "true"]).exclusive_given);
        assert!(!config(&["--slots", "3", "-x", "-s", "f", "true"]).exclusive_given);
        assert_eq!(config(&["--sl", " +65536", "f", "true"]).slots, Some(65536));
        assert_eq!(config(&["-x", "f", "true"]).slots, None);
        assert_eq!(
            stderr(&["--slots", "4294967296", "f", "true"]),
            (
                64,
                "flock: number of slots out of range (expected 1 to 65536)\n".into()
            )
        );
    }

    #[test]
    fn help_and_version_act_when_reached() {
        assert_eq!(run(&["-V", "-z"]), Ok(Request::Version));
        assert_eq!(run(&["-o", "-F", "-h"]), Ok(Request::Help));
        assert_eq!(stderr(&["-z", "-V"]).0, 64);
        assert_eq!(
            stderr(&["-?"]),
            (64, "Try 'flock --help' for more information.\n".into())
        );
    }

    #[test]
    fn watchdog_grace_and_forwarding() {
        let c = config(&["--watchdog", "f", "true"]);
        assert!(c.watchdog && !c.forward_signals);
        assert_eq!(c.grace, DEFAULT_GRACE);
        let c = config(&[
            "--watchdog",
            "--grace",
            "0.25",
            "--forward-signals",
            "f",
            "true",
        ]);
        assert_eq!(c.grace, Duration::from_millis(250));
        assert!(c.forward_signals);
        assert!(!config(&["f", "true"]).watchdog);
        assert!(config(&["--forward-signals", "9"]).forward_signals);
        for (args, text) in [
            (
                &["--grace", "1", "f", "true"][..],
                "--grace needs --watchdog",
            ),
            (
                &["--watchdog", "9"][..],
                "--watchdog needs a file or directory",
            ),
            (
                &["--watchdog", "--fd", "9", "true"][..],
                "--watchdog needs a file",
            ),
            (&["--watchdog", "-F", "f", "true"][..], "with --no-fork"),
            (&["--watchdog", "-u", "f", "true"][..], "with --unlock"),
            (
                &["--forward-signals", "-F", "f", "true"][..],
                "with --no-fork",
            ),
        ] {
            let (code, msg) = stderr(args);
            assert_eq!(code, 64, "{args:?}");
            assert!(
                msg.starts_with("flock: ") && msg.contains(text),
                "{args:?}: {msg}"
            );
        }
        for bad in ["-1", "x", "inf", "nan"] {
            assert_eq!(
                stderr(&["--watchdog", "--grace", bad, "f", "true"]),
                (64, format!("flock: invalid grace period: '{bad}'\n"))
            );
        }
    }
}
