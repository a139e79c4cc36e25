//! `lockkit cluster`: run a command while holding a lock in etcd, and stop
//! it if the lock is lost. Parse (`args`), plan (the supervisor's plan, the
//! command's environment), then the core (`lock::lease`, `lock::supervise`);
//! the messages and exit statuses are worded here.

pub mod args;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;

use rustix::io::Errno;

use crate::Prog;
use crate::error::sysexits::{EX_DATAERR, EX_NOINPUT, EX_OSERR, EX_UNAVAILABLE, EX_USAGE};
use crate::error::{CLUSTER_UNREACHABLE, Error, LOCK_LOST, Result};
use crate::lock::child::{Command, SpawnError, Status};
use crate::lock::kind::{Held, Wait};
use crate::lock::lease::{self, Client, EtcdError, Lease, LeaseError, Mode};
use crate::lock::supervise::{Plan, STOP_SIGNALS, Supervisor};
use crate::stdio::Stdio;
use args::{Config, Parsed, Password};

pub fn run(prog: &Prog, args: &[std::ffi::OsString], io: &mut Stdio) -> Result<u8> {
    let prog = &Prog {
        name: "lockkit cluster".into(),
        argv0: prog.argv0.clone(),
    };
    match args::parse(prog, args)? {
        Parsed::Help => {
            io.out(args::HELP.replace("{prog}", "lockkit cluster").as_bytes());
            Ok(0)
        }
        Parsed::Version => {
            io.out(format!("lockkit cluster {}\n", env!("CARGO_PKG_VERSION")).as_bytes());
            Ok(0)
        }
        Parsed::Run(config) => locked(prog, &config, io),
    }
}

fn password(prog: &Prog, how: &Password) -> Result<String> {
    match how {
        Password::File(path) => lease::client::password_from_file(path).map_err(|e| {
            let errno = Errno::from_io_error(&e).unwrap_or(Errno::IO);
            let mut what = b"cannot read ".to_vec();
            what.extend_from_slice(path.as_os_str().as_bytes());
            Error::errno(EX_NOINPUT, &prog.name, what, errno)
        }),
        Password::EnvOrPrompt => std::env::var("LOCKKIT_ETCD_PASSWORD")
            .ok()
            .or_else(|| lease::prompt_password("etcd password: "))
            .ok_or_else(|| {
                Error::msg(
                    EX_USAGE,
                    &prog.name,
                    "--user needs a password: --password-file, LOCKKIT_ETCD_PASSWORD or a terminal",
                )
            }),
    }
}

fn etcd_error(prog: &Prog, e: &EtcdError) -> Error {
    let code = match e {
        EtcdError::Unreachable(_) | EtcdError::NoGateway(_) => CLUSTER_UNREACHABLE,
        EtcdError::Tls(_) => EX_NOINPUT,
        EtcdError::Refused { .. } | EtcdError::Protocol(_) => EX_UNAVAILABLE,
    };
    Error::msg(code, &prog.name, e.to_string())
}

fn name_text(config: &Config) -> String {
    config.name.to_string_lossy().into_owned()
}

fn not_taken(prog: &Prog, config: &Config, e: LeaseError) -> Error {
    let conflict = |why: &str| {
        let e = Error::silent(config.conflict_exit_code);
        if config.verbose {
            e.line(&prog.name, why)
        } else {
            e
        }
    };
    match e {
        LeaseError::Busy => conflict("failed to get lock"),
        LeaseError::TimedOut => conflict("timeout while waiting to get lock"),
        LeaseError::Etcd(e) => etcd_error(prog, &e),
        LeaseError::Lost(why) => Error::msg(
            if why == lease::Why::NoRenewal {
                CLUSTER_UNREACHABLE
            } else {
                EX_UNAVAILABLE
            },
            &prog.name,
            format!(
                "lost the place in the queue for {}: {}",
                name_text(config),
                why.text()
            ),
        ),
        LeaseError::SlotsConflict { key, theirs } => Error::msg(
            EX_DATAERR,
            &prog.name,
            match theirs {
                Some(n) => format!(
                    "{} is used with --slots {n} (key {}): every user must give the same number",
                    name_text(config),
                    String::from_utf8_lossy(&key)
                ),
                None => format!(
                    "{} is used as a plain lock (key {}), not with --slots",
                    name_text(config),
                    String::from_utf8_lossy(&key)
                ),
            },
        ),
        LeaseError::Sys(e) => Error::errno(EX_OSERR, &prog.name, "cannot start a thread", e),
        // The lease is revoked: die of the signal, as if never handled.
        LeaseError::Interrupted(sig) => crate::lock::supervise::die_of(sig),
    }
}

fn locked(prog: &Prog, config: &Config, io: &mut Stdio) -> Result<u8> {
    let user = match &config.user {
        Some((name, how)) => Some((name.clone(), password(prog, how)?)),
        None => None,
    };
    // Bounds on one call: short enough that a frozen member is passed over
    // well within the lease's window.
    let call = (config.ttl / 4).clamp(
        std::time::Duration::from_millis(500),
        std::time::Duration::from_secs(5),
    );
    let client = Client::new(lease::Config {
        endpoints: config.endpoints.clone(),
        cacert: config.cacert.clone(),
        cert: config.cert.clone(),
        key: config.key.clone(),
        user,
        connect_timeout: call.min(std::time::Duration::from_secs(2)),
        call_timeout: call,
    })
    .map_err(|e| etcd_error(prog, &e))?;
    let mut lease = Lease::new(
        client,
        config.name.as_bytes(),
        config.mode,
        config.ttl,
        config.grace,
    );
    let started = Instant::now();
    let wait = match (config.nonblock, config.timeout) {
        (true, _) => Wait::Now,
        (false, Some(t)) => Wait::Until(started + t),
        (false, None) => Wait::Forever,
    };
    let held = lease.take(wait).map_err(|e| not_taken(prog, config, e))?;
    if config.verbose {
        let took = started.elapsed();
        io.err(
            format!(
                "{}: getting lock took {}.{:06} seconds (key {}, revision {})\n",
                prog.name.to_string_lossy(),
                took.as_secs(),
                took.subsec_micros(),
                String::from_utf8_lossy(held.key()),
                held.fencing_token()
            )
            .as_bytes(),
        );
        let mut line = prog.name.as_bytes().to_vec();
        line.extend_from_slice(b": executing ");
        line.extend_from_slice(config.command[0].as_bytes());
        line.push(b'\n');
        io.err(&line);
    }
    run_command(prog, config, held)
}

fn run_command(prog: &Prog, config: &Config, mut held: lease::HeldLease) -> Result<u8> {
    let mut cmd = Command::new(&config.command);
    // The password was for etcd, not for the command and all it starts.
    cmd.env("LOCKKIT_ETCD_PASSWORD", None);
    let key = OsStr::from_bytes(held.key()).to_owned();
    cmd.env("ETCD_LOCK_KEY", Some(&key));
    cmd.env(
        "ETCD_LOCK_REV",
        Some(OsStr::new(&held.revision().to_string())),
    );
    cmd.env(
        "LOCKKIT_FENCING_TOKEN",
        Some(OsStr::new(&held.fencing_token().to_string())),
    );
    if let Mode::Slots(n) = config.mode {
        let slot = held.slot().unwrap_or(0).to_string();
        cmd.env("LOCKKIT_SLOT", Some(OsStr::new(&slot)));
        cmd.env("LOCKKIT_SLOTS", Some(OsStr::new(&n.to_string())));
    }
    // If lockkit is killed outright, the command must not run on while the
    // lease expires and another holder starts.
    cmd.die_with_parent();
    let plan = Plan {
        // A stopped lockkit must not leave the command running without
        // its lease: the signal is passed on, and the tool exits as it did.
        forward: STOP_SIGNALS,
        survive: &[],
        outlive_every_process: true,
        grace: config.grace,
    };
    let supervisor = Supervisor::prepare(plan);
    cmd.default_signals(&supervisor.handled());
    let reason = held.loss_reason();
    let name = name_text(config);
    let report = |_| {
        let why = reason.why().map_or("it was taken away", lease::Why::text);
        let line = format!(
            "{}: lock {name} lost ({why}): stopping the command\n",
            prog.name.to_string_lossy()
        );
        let _ = crate::stdio::write_all(rustix::stdio::stderr(), line.as_bytes());
    };
    let supervisor = supervisor.on_loss(&report);
    let outcome = supervisor.run(&cmd, &mut held);
    // Revoke whatever happened: the next waiter goes at once.
    let _ = held.release();
    let outcome = outcome
        .map_err(|SpawnError::Fork(e)| Error::errno(EX_OSERR, &prog.name, "fork failed", e))?;
    let status = outcome
        .status
        .map_err(|e| Error::errno(1, &prog.name, "waitpid failed", e))?;
    match status {
        Status::ExecFailed(e) => {
            let code = if e == Errno::NOMEM {
                EX_OSERR
            } else {
                EX_UNAVAILABLE
            };
            let mut text = b"failed to execute ".to_vec();
            text.extend_from_slice(config.command[0].as_bytes());
            Err(Error::errno(code, &prog.name, text, e))
        }
        _ if outcome.lost.is_some() => Err(Error::silent(LOCK_LOST)),
        other => Ok(other.code()),
    }
}
