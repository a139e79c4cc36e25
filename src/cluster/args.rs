//! `lockkit cluster`'s command line: flock's grammar (options up to the
//! name, then the command or `-c` and a string), etcdctl's option names for
//! reaching the cluster.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::Prog;
use crate::cnum;
use crate::error::{Error, Result, sysexits::EX_USAGE};
use crate::flock::args::{bad_number, shell_command, try_help};
use crate::getopt::{Getopt, Item, Spec};
use crate::lock::lease::{MARGIN, Mode};
use crate::opts::Opt;

pub mod defs;

pub use defs::HELP;
use defs::{Id, OPTIONS};

const PARSED: [Opt<Id>; OPTIONS.len()] = crate::opts::for_parser(OPTIONS);

/// Where the password for `--user` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    File(PathBuf),
    /// `$LOCKKIT_ETCD_PASSWORD`, else the terminal.
    EnvOrPrompt,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub name: OsString,
    pub command: Vec<OsString>,
    pub mode: Mode,
    pub nonblock: bool,
    pub timeout: Option<Duration>,
    pub conflict_exit_code: u8,
    pub verbose: bool,
    pub endpoints: Vec<String>,
    pub ttl: Duration,
    pub grace: Duration,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub user: Option<(String, Password)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Run(Box<Config>),
    Help,
    Version,
}

const DEFAULT_TTL: u64 = 10;
const DEFAULT_GRACE: Duration = Duration::from_secs(5);

fn usage(prog: &Prog, text: impl AsRef<[u8]>) -> Error {
    Error::msg(EX_USAGE, &prog.name, text)
}

fn utf8(prog: &Prog, what: &str, v: &OsStr) -> Result<String> {
    v.to_str()
        .map(str::to_owned)
        .ok_or_else(|| usage(prog, format!("{what} must be text (UTF-8)")))
}

pub fn parse(prog: &Prog, args: &[OsString]) -> Result<Parsed> {
    let spec = Spec {
        options: &PARSED,
        long_options: true,
    };
    let mut g = Getopt::new(args, spec);
    let mut shared = false;
    let mut exclusive = false;
    let mut slots = None;
    let mut nonblock = false;
    let mut timeout = None;
    let mut conflict_exit_code = 1;
    let mut verbose = false;
    let mut endpoints = None;
    let mut ttl = DEFAULT_TTL;
    let mut grace = DEFAULT_GRACE;
    let (mut cacert, mut cert, mut key) = (None, None, None);
    let mut user = None;
    let mut password_file = None;
    for item in g.by_ref() {
        let (id, value) = match item {
            Item::Opt(id, value) => (id, value.unwrap_or_default()),
            Item::Mistake(m) => {
                return Err(Error::silent(EX_USAGE)
                    .raw_line(m.message(&prog.argv0))
                    .raw_line(try_help(prog)));
            }
        };
        match id {
            Id::Shared => shared = true,
            Id::Exclusive => exclusive = true,
            Id::NonBlock => nonblock = true,
            Id::Timeout => {
                let point = cnum::locale_decimal_point();
                let secs = cnum::parse_f64(value.as_bytes(), &point)
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e12)
                    .ok_or_else(|| {
                        usage(
                            prog,
                            "invalid timeout value: '".to_owned() + &value.to_string_lossy() + "'",
                        )
                    })?;
                timeout = Some(Duration::from_secs_f64(secs));
            }
            Id::ConflictExitCode => {
                let code = cnum::parse_i32(value.as_bytes())
                    .map_err(|e| bad_number(prog, "invalid exit code", value, e, false))?;
                conflict_exit_code = u8::try_from(code)
                    .map_err(|_| usage(prog, "exit code out of range (expected 0 to 255)"))?;
            }
            Id::Command => {} // read after the name
            Id::Slots => {
                let n = cnum::parse_i64(value.as_bytes())
                    .map_err(|e| bad_number(prog, "invalid number of slots", value, e, false))?;
                slots = Some(u32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
                    usage(
                        prog,
                        "number of slots out of range (expected 1 to 4294967295)",
                    )
                })?);
            }
            Id::Verbose => verbose = true,
            Id::Endpoints => endpoints = Some(utf8(prog, "--endpoints", value)?),
            Id::Ttl => {
                let n = cnum::parse_i64(value.as_bytes())
                    .map_err(|e| bad_number(prog, "invalid TTL", value, e, false))?;
                ttl = u64::try_from(n)
                    .ok()
                    .filter(|&n| (1..=9_000_000_000).contains(&n))
                    .ok_or_else(|| usage(prog, "TTL out of range (expected 1 or more seconds)"))?;
            }
            Id::Grace => {
                grace = cnum::parse_secs(value.as_bytes())
                    .map_err(|e| bad_number(prog, "invalid grace period", value, e, false))?;
            }
            Id::CaCert => cacert = Some(PathBuf::from(value)),
            Id::Cert => cert = Some(PathBuf::from(value)),
            Id::Key => key = Some(PathBuf::from(value)),
            Id::User => {
                let name = utf8(prog, "--user", value)?;
                if name.contains(':') {
                    return Err(usage(
                        prog,
                        "--user takes a name only: a password on the command line can be read \
                         by every local user (use --password-file or LOCKKIT_ETCD_PASSWORD)",
                    ));
                }
                user = Some(name);
            }
            Id::PasswordFile => password_file = Some(PathBuf::from(value)),
            Id::Help => return Ok(Parsed::Help),
            Id::Version => return Ok(Parsed::Version),
            Id::Unlock => {
                return Err(usage(
                    prog,
                    "--unlock cannot be used: a cluster lock is released when its command ends",
                ));
            }
            Id::Close => {
                return Err(usage(
                    prog,
                    "--close cannot be used: a cluster lock is a lease, not a file descriptor",
                ));
            }
            Id::NoFork => {
                return Err(usage(
                    prog,
                    "--no-fork cannot be used: the lease must be kept alive while the command runs",
                ));
            }
            Id::Fd => {
                return Err(usage(
                    prog,
                    "--fd cannot be used: a cluster lock is a lease, not a file descriptor",
                ));
            }
        }
    }
    let rest = g.operands();
    let Some((name, after)) = rest.split_first() else {
        return Err(usage(prog, "not enough arguments").raw_line(try_help(prog)));
    };
    if name.is_empty() {
        return Err(usage(prog, "the lock's name cannot be empty"));
    }
    let command = match after {
        [] => {
            return Err(usage(
                prog,
                "no command to run: a cluster lock is held only while its command runs",
            )
            .raw_line(try_help(prog)));
        }
        [c, script] if c == "-c" || c == "--command" => shell_command(script),
        [c, ..] if c == "-c" || c == "--command" => {
            return Err(
                usage(prog, "-c requires exactly one command argument").raw_line(try_help(prog))
            );
        }
        cmd => cmd.to_vec(),
    };
    if shared && exclusive {
        return Err(usage(prog, "-s and -x cannot be used together"));
    }
    let mode = match (slots, shared) {
        (Some(_), true) => {
            return Err(usage(
                prog,
                "--slots cannot be used with -s: every slot is one holder",
            ));
        }
        (Some(n), false) => Mode::Slots(n),
        (None, true) => Mode::Shared,
        (None, false) => Mode::Exclusive,
    };
    if Duration::from_secs(ttl) <= grace + MARGIN {
        return Err(usage(
            prog,
            format!(
                "--ttl must exceed --grace by more than {} second: the command is stopped that \
                 long before the lease could expire",
                MARGIN.as_secs()
            ),
        ));
    }
    if cert.is_some() != key.is_some() {
        return Err(usage(prog, "--cert and --key go together"));
    }
    if password_file.is_some() && user.is_none() {
        return Err(usage(prog, "--password-file needs --user"));
    }
    let endpoints = crate::lock::lease::client::endpoints(endpoints.as_deref());
    if endpoints.is_empty() {
        return Err(usage(prog, "no endpoint given"));
    }
    if let Some(bad) = endpoints
        .iter()
        .find(|e| !e.starts_with("http://") && !e.starts_with("https://"))
    {
        return Err(usage(
            prog,
            format!("endpoint '{bad}' is not an http:// or https:// URL"),
        ));
    }
    let user = user.map(|u| {
        (
            u,
            password_file.map_or(Password::EnvOrPrompt, Password::File),
        )
    });
    Ok(Parsed::Run(Box::new(Config {
        name: name.clone(),
        command,
        mode,
        nonblock: nonblock || timeout.is_some_and(|t| t.is_zero()),
        timeout: timeout.filter(|t| !t.is_zero()),
        conflict_exit_code,
        verbose,
        endpoints,
        ttl: Duration::from_secs(ttl),
        grace,
        cacert,
        cert,
        key,
        user,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Parsed> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse(&Prog::named("cluster"), &args)
    }

    fn config(args: &[&str]) -> Config {
        match run(args) {
            Ok(Parsed::Run(c)) => *c,
            other => panic!("{other:?}"),
        }
    }

    fn refused(args: &[&str]) -> String {
        let e = run(args).expect_err("refused");
        assert_eq!(e.code(), EX_USAGE);
        String::from_utf8_lossy(e.message()).into_owned()
    }

    #[test]
    fn flock_spellings() {
        let c = config(&[
            "-n",
            "-E",
            "7",
            "--endpoints",
            "a:1,https://b:2",
            "job",
            "true",
            "-x",
        ]);
        assert_eq!(c.command, ["true", "-x"]);
        assert!(c.nonblock);
        assert_eq!(c.conflict_exit_code, 7);
        assert_eq!(c.endpoints, ["http://a:1", "https://b:2"]);
        assert_eq!(c.mode, Mode::Exclusive);
        let c = config(&["-s", "-w", "0.5", "job", "-c", "echo hi"]);
        assert_eq!(c.mode, Mode::Shared);
        assert_eq!(c.timeout, Some(Duration::from_millis(500)));
        assert_eq!(
            c.command.last().map(OsString::as_os_str),
            Some(OsStr::new("echo hi"))
        );
        assert_eq!(config(&["--slots", "3", "j", "true"]).mode, Mode::Slots(3));
        assert!(config(&["-w", "0", "j", "true"]).nonblock);
    }

    #[test]
    fn what_a_lease_cannot_do_is_refused_with_why() {
        for (opt, why) in [
            ("--fd=3", "not a file descriptor"),
            ("-u", "released when its command ends"),
            ("-o", "not a file descriptor"),
            ("-F", "kept alive"),
        ] {
            assert!(refused(&[opt, "j", "true"]).contains(why), "{opt}");
        }
        assert!(refused(&["--user", "root:pw", "j", "true"]).contains("every local user"));
        assert!(
            refused(&["--ttl", "5", "--grace", "4", "j", "true"]).contains("--ttl must exceed")
        );
        assert!(refused(&["-s", "--slots", "2", "j", "true"]).contains("-s"));
        assert!(refused(&["j"]).contains("no command"));
        assert!(refused(&["--cert", "c", "j", "true"]).contains("go together"));
    }
}
