//! dotlockfile's command line (liblockfile 1.17): POSIX getopt over
//! `qpNr:mluci:tP`, options acted on left to right.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use crate::Prog;
use crate::cnum::{atoi, parse_secs};
use crate::error::{Error, Result};
use crate::getopt::{Getopt, Item, Spec};
use crate::lock::user;
use crate::lock::watchdog::DEFAULT_GRACE;
use crate::opts::Opt;

/// liblockfile's return codes, which are dotlockfile's exit codes.
pub mod codes {
    pub const L_SUCCESS: u8 = 0;
    pub const L_NAMELEN: u8 = 1;
    pub const L_TMPLOCK: u8 = 2;
    pub const L_TMPWRITE: u8 = 3;
    pub const L_MAXTRYS: u8 = 4;
    pub const L_ERROR: u8 = 5;
    pub const L_ORPHANED: u8 = 7;
    pub const L_RMSTALE: u8 = 8;
    /// Usage errors and failed `-u`/`-t`/`-c`.
    pub const FAILURE: u8 = 1;
}
use codes::*;

/// dotlockfile names itself this way whatever it was invoked as.
pub const NAME: &str = "dotlockfile";

/// The prefix of getopt's messages. glibc prints `argv[0]` as invoked, so
/// through a `dotlockfile` link (`/usr/bin/dotlockfile -z`) they are the
/// reference's byte for byte; under lockkit's own name `dotlock`, which the
/// reference never has, they say `dotlockfile` like every other message of
/// the tool, so one run never names itself two ways.
fn getopt_name(prog: &Prog) -> &OsStr {
    if prog.name == NAME {
        &prog.argv0
    } else {
        OsStr::new(NAME)
    }
}

pub mod defs;

pub use defs::{HELP, USAGE};
use defs::{Id, OPTIONS};

/// The definitions the parser reads (without their documentation).
const PARSED: [Opt<Id>; OPTIONS.len()] = crate::opts::for_parser(OPTIONS);

/// What to do with the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Lock {
        command: Option<Vec<OsString>>,
    },
    Unlock,
    Touch,
    Check,
    /// `--help` (a lockkit extension; dotlockfile has no long options).
    Help,
    /// `--version` (likewise).
    Version,
}

/// `-r -1`: liblockfile's "forever" (0x7ffffff0 retries, ~4000 years).
pub const FOREVER: i64 = 0x7fff_fff0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub lock: PathBuf,
    pub action: Action,
    pub quiet: bool,
    pub use_pid: bool,
    /// Extra attempts after the first.
    pub retries: i64,
    /// Fixed seconds between attempts (`-i`, at most 60), instead of 5, 10, … 60.
    pub interval: Option<u64>,
    pub passthrough: bool,
    /// `--watchdog`: stop the command if the lock is lost.
    pub watchdog: bool,
    /// `--grace`: SIGTERM to SIGKILL after a loss.
    pub grace: Duration,
}

fn usage() -> Error {
    Error::silent(FAILURE).raw_line(USAGE.trim_end_matches('\n'))
}

/// The user's mailbox lock: `$MAIL.lock`, or `/var/mail/<user>.lock`.
fn mailbox_lock() -> Option<PathBuf> {
    if let Some(mail) = std::env::var_os("MAIL") {
        let mut p = mail.into_vec();
        p.extend_from_slice(b".lock");
        return Some(PathBuf::from(OsString::from_vec(p)));
    }
    let user = user_name()?;
    let mut p = b"/var/mail/".to_vec();
    p.extend_from_slice(&user);
    p.extend_from_slice(b".lock");
    Some(PathBuf::from(OsString::from_vec(p)))
}

/// The name of the effective user, from the passwd database.
fn user_name() -> Option<Vec<u8>> {
    user::by_uid(user::effective_uid()).map(|a| a.name)
}

/// Parse the arguments after `argv[0]`.
pub fn parse(prog: &Prog, args: &[OsString]) -> Result<Config> {
    let name = OsStr::new(NAME);
    let mut quiet = false;
    let mut use_pid = false;
    let mut retries: i64 = 5;
    let mut interval = None;
    let mut passthrough = false;
    let (mut lock_flag, mut unlock, mut check, mut touch) = (false, false, false, false);
    let mut mailbox: Option<PathBuf> = None;
    let mut watchdog = false;
    let mut grace: Option<Duration> = None;

    let mut g = Getopt::new(
        args,
        Spec {
            options: &PARSED,
            long_options: false,
        },
    );
    for item in g.by_ref() {
        let (opt, value) = match item {
            Item::Opt(opt, value) => (opt, value.unwrap_or_default()),
            Item::Mistake(m) => {
                return Err(usage_after(m.message(getopt_name(prog))));
            }
        };
        match opt {
            Id::Quiet => quiet = true,
            Id::Pid => use_pid = true,
            Id::NoPid => {}
            Id::Lock => lock_flag = true,
            Id::Unlock => unlock = true,
            Id::Check => check = true,
            Id::Touch => touch = true,
            Id::Passthrough => passthrough = true,
            Id::Help | Id::Version => {
                let action = if opt == Id::Help {
                    Action::Help
                } else {
                    Action::Version
                };
                return Ok(Config {
                    lock: PathBuf::new(),
                    action,
                    quiet,
                    use_pid,
                    retries,
                    interval,
                    passthrough,
                    watchdog,
                    grace: grace.unwrap_or(DEFAULT_GRACE),
                });
            }
            Id::Watchdog => watchdog = true,
            Id::Grace => match parse_secs(value.as_bytes()) {
                Ok(d) => grace = Some(d),
                Err(_) => {
                    let mut t = b"--grace ".to_vec();
                    t.extend_from_slice(value.as_bytes());
                    t.extend_from_slice(b": invalid argument");
                    return Err(Error::msg(L_ERROR, name, t));
                }
            },
            Id::Retries => {
                let n = atoi(value.as_bytes());
                if n <= 0 && n != -1 && value.as_bytes() != b"0" {
                    let e = Error::silent(L_ERROR);
                    return Err(if quiet {
                        e
                    } else {
                        let mut t = b"-r ".to_vec();
                        t.extend_from_slice(value.as_bytes());
                        t.extend_from_slice(b": invalid argument");
                        e.line(name, t)
                    });
                }
                retries = if n == -1 { FOREVER } else { i64::from(n) };
            }
            Id::Interval => {
                let n = atoi(value.as_bytes());
                if n <= 0 && value.as_bytes() != b"0" {
                    return Err(Error::msg(L_ERROR, name, "-i needs argument >= 0"));
                }
                interval = Some(u64::from(n.max(0) as u32).min(60));
            }
            Id::Mailbox => match mailbox_lock() {
                Some(p) => mailbox = Some(p),
                None => {
                    let e = Error::silent(L_ERROR);
                    return Err(if quiet {
                        e
                    } else {
                        e.line(name, "You don't exist. Go away.")
                    });
                }
            },
        }
    }
    let mut rest = g.operands().iter();
    let lock = match mailbox {
        Some(m) => m,
        None => match rest.next() {
            Some(l) => PathBuf::from(l),
            None => return Err(usage()),
        },
    };
    let command: Vec<OsString> = rest.cloned().collect();
    if (!command.is_empty() || lock_flag) && (touch || check || unlock) {
        return Err(usage());
    }
    if lock.as_os_str().len() >= 4096 {
        let e = Error::silent(FAILURE);
        return Err(if quiet {
            e
        } else {
            let mut t = lock.as_os_str().as_bytes().to_vec();
            t.extend_from_slice(b": name too long");
            e.line(name, t)
        });
    }
    let command_mode = !(command.is_empty() || touch || check || unlock);
    if let Some(why) = if grace.is_some() && !watchdog {
        Some("--grace needs --watchdog")
    } else if watchdog && !command_mode {
        Some("--watchdog needs a command to run")
    } else {
        None
    } {
        return Err(Error::msg(FAILURE, name, why).raw_line(USAGE.trim_end_matches('\n')));
    }
    let action = if check {
        Action::Check
    } else if touch {
        Action::Touch
    } else if unlock {
        Action::Unlock
    } else {
        Action::Lock {
            command: (!command.is_empty()).then_some(command),
        }
    };
    Ok(Config {
        lock,
        action,
        quiet,
        use_pid,
        retries,
        interval,
        passthrough,
        watchdog,
        grace: grace.unwrap_or(DEFAULT_GRACE),
    })
}

/// getopt's complaint, then the usage text.
fn usage_after(line: Vec<u8>) -> Error {
    Error::silent(FAILURE)
        .raw_line(line)
        .raw_line(USAGE.trim_end_matches('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config> {
        let prog = Prog::named("dotlock");
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&prog, &args)
    }

    #[test]
    fn retries_are_read_like_atoi() {
        assert_eq!(run(&["-r", " 3", "x"]).map(|c| c.retries), Ok(3));
        assert_eq!(run(&["-r", "5x", "x"]).map(|c| c.retries), Ok(5));
        assert_eq!(run(&["-r", "-1x", "x"]).map(|c| c.retries), Ok(FOREVER));
        assert_eq!(run(&["-r", "0", "x"]).map(|c| c.retries), Ok(0));
        for bad in ["00", "-0", "0x1", "abc", "-2"] {
            let e = run(&["-r", bad, "x"]).expect_err(bad);
            assert_eq!(e.code(), L_ERROR);
        }
        assert_eq!(
            run(&["-q", "-r", "abc", "x"]).expect_err("q").message(),
            b""
        );
    }

    #[test]
    fn everything_after_the_lock_is_the_command() {
        let c = run(&["-p", "x.lock", "-P", "sh"]).expect("parse");
        assert!(!c.passthrough);
        assert_eq!(
            c.action,
            Action::Lock {
                command: Some(vec!["-P".into(), "sh".into()])
            }
        );
    }

    #[test]
    fn help_and_version_are_long_options_only() {
        assert_eq!(run(&["--help"]).map(|c| c.action), Ok(Action::Help));
        assert_eq!(
            run(&["-q", "--version", "x"]).map(|c| c.action),
            Ok(Action::Version)
        );
        assert_eq!(run(&["-h"]).expect_err("no -h").code(), 1);
    }

    #[test]
    fn conflicts_and_precedence() {
        assert_eq!(run(&["-l", "-u", "x"]).expect_err("conflict").code(), 1);
        assert_eq!(run(&["-u", "x", "cmd"]).expect_err("conflict").code(), 1);
        assert_eq!(run(&["-u", "-t", "x"]).map(|c| c.action), Ok(Action::Touch));
        assert_eq!(run(&["-c", "-u", "x"]).map(|c| c.action), Ok(Action::Check));
        assert_eq!(run(&["-i", "100", "x"]).map(|c| c.interval), Ok(Some(60)));
    }

    #[test]
    fn watchdog_is_for_command_mode_only() {
        let c = run(&["--watchdog", "--grace", "0.5", "x", "cmd"]).expect("parse");
        assert!(c.watchdog);
        assert_eq!(c.grace, Duration::from_millis(500));
        assert_eq!(run(&["x", "cmd"]).map(|c| c.watchdog), Ok(false));
        for args in [
            &["--watchdog", "x"][..],
            &["--watchdog", "-u", "x"][..],
            &["--grace", "1", "x", "cmd"][..],
        ] {
            let e = run(args).expect_err("usage");
            assert_eq!(e.code(), FAILURE, "{args:?}");
            assert!(e.message().starts_with(b"dotlockfile: --"), "{args:?}");
            assert!(e.message().ends_with(USAGE.as_bytes()), "{args:?}");
        }
        let e = run(&["--watchdog", "--grace", "-1", "x", "cmd"]).expect_err("bad");
        assert_eq!(
            (e.code(), e.message()),
            (L_ERROR, &b"dotlockfile: --grace -1: invalid argument\n"[..])
        );
        // Only spelled out in full: dotlockfile has no long options.
        assert_eq!(run(&["--watch", "x", "cmd"]).expect_err("abbrev").code(), 1);
    }
}
