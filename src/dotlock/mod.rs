//! `dotlock`: a drop-in for liblockfile 1.17's dotlockfile(1).
//!
//! The front end only: [`args`] reads the command line; the lock-file
//! machinery (temp file + link, validity, stale breaking, event-driven
//! waiting, signal cleanup) is `crate::lock`'s.

pub mod args;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use crate::Prog;
use crate::error::{Error, LOCK_LOST, Result, strerror};
use crate::lock::child::{Command, SpawnError, Status};
use crate::lock::cleanup;
use crate::lock::dotfile::{
    self, AgeLimit, Backoff, Failure, LinkErrors, Naming, Policy, Request, Schedule, Stale, Temp,
    TempError,
};
use crate::lock::fs::FsTime;
use crate::lock::kind::Held;
use crate::lock::supervise::{self, Plan, Supervisor};
use crate::lock::watchdog::{self, Watchdog, Watched};
use crate::stdio::Stdio;
use args::codes::*;
use args::{Action, Config, NAME};

/// liblockfile's age limit for a lock without a live pid.
const MAX_AGE: Duration = Duration::from_secs(300);
/// How often command mode refreshes a lock without a pid.
const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// dotlockfile's sleeps: 5, 10, 15, … 60, 60, … or a fixed `-i` interval,
/// `retries` times.
struct Retries {
    left: i64,
    pause: u64,
    fixed: Option<u64>,
}

impl Backoff for Retries {
    fn next_pause(&mut self) -> Option<Duration> {
        if self.left <= 0 {
            return None;
        }
        self.left -= 1;
        self.pause = match self.fixed {
            Some(i) => i,
            None => (self.pause + 5).min(60),
        };
        Some(Duration::from_secs(self.pause))
    }
}

pub fn run(prog: &Prog, args: &[OsString], io: &mut Stdio) -> Result<u8> {
    let config = args::parse(prog, args)?;
    let lock = config.lock.as_path();
    match &config.action {
        Action::Unlock => Ok(if dotfile::remove(lock).is_ok() {
            0
        } else {
            FAILURE
        }),
        Action::Touch => Ok(if dotfile::touch(lock).is_ok() {
            0
        } else {
            FAILURE
        }),
        Action::Check => Ok(check(&config)),
        Action::Help => {
            io.out(args::HELP.as_bytes());
            Ok(0)
        }
        Action::Version => {
            let line = format!(
                "dotlockfile (lockkit {}), compatible with liblockfile 1.17\n",
                env!("CARGO_PKG_VERSION")
            );
            io.out(line.as_bytes());
            Ok(0)
        }
        Action::Lock { command: None } => lock_only(&config).map(|_| L_SUCCESS),
        Action::Lock {
            command: Some(command),
        } => run_command(&config, command),
    }
}

fn policy(config: &Config) -> Policy {
    Policy {
        use_pid: config.use_pid,
        age: Some(AgeLimit::After(MAX_AGE)),
        follow_symlinks: true,
    }
}

/// `-c`: 0 if a valid lock exists. Age is judged on the file system's clock
/// when a probe file can be made next to the lock, else on the local one.
fn check(config: &Config) -> u8 {
    let lock = config.lock.as_path();
    let now = match Temp::make(Naming::Liblockfile, lock, b"", 0o600) {
        Ok(probe) => probe.fs_now(),
        Err(_) => FsTime::local_now(),
    };
    let j = dotfile::judge(lock, policy(config), now);
    if j.id.is_some() && !j.stale {
        0
    } else {
        FAILURE
    }
}

/// Take the lock holding `pid`; on failure the exit code (silent, as
/// upstream). With `guard_lock`, a fatal signal from the moment of the link
/// on removes the lock (if it is still ours); the guard is returned.
fn take(config: &Config, pid: u32, guard_lock: bool) -> Result<dotfile::Held> {
    let lock = config.lock.as_path();
    if lock.as_os_str().len() + 32 > 4096 {
        return Err(Error::silent(L_ERROR));
    }
    cleanup::on_fatal_signals();
    let mut temp = Temp::make(
        Naming::Liblockfile,
        lock,
        format!("{pid}\n").as_bytes(),
        0o644,
    )
    .map_err(|e| match e {
        TempError::Create(_) => Error::silent(L_TMPLOCK),
        TempError::Write(_) => Error::silent(L_TMPWRITE),
    })?;
    let mut schedule = Schedule::new(Retries {
        left: config.retries,
        pause: 0,
        fixed: config.interval,
    });
    let request = Request {
        lock,
        policy: policy(config),
        stale: Stale::Break,
        link_errors: LinkErrors::Tolerate,
        parent: rustix::process::getppid().map(|p| p.as_raw_nonzero().get()),
        interrupt: None,
        guard_lock,
    };
    let result = dotfile::acquire(&request, &mut temp, &mut schedule, &mut dotfile::Quiet);
    drop(temp);
    result.map_err(|e| {
        Error::silent(match e {
            Failure::GaveUp => L_MAXTRYS,
            Failure::CannotBreak(_) => L_RMSTALE,
            Failure::TempLost(_)
            | Failure::ParentDied
            | Failure::Interrupted
            | Failure::Link(_) => L_ERROR,
        })
    })
}

/// Plain lock mode: the pid written is the caller's (our parent's).
fn lock_only(config: &Config) -> Result<()> {
    let pid = if config.use_pid {
        match rustix::process::getppid() {
            Some(p) if p.as_raw_nonzero().get() != 1 => p.as_raw_nonzero().get() as u32,
            _ => return Err(Error::silent(L_ORPHANED)),
        }
    } else {
        0
    };
    // The cleanup handlers stay: with nothing registered any more they act
    // as the default action would.
    take(config, pid, false).map(drop)
}

/// Signals the wrapper passes on to the command (it then removes the lock
/// and dies of the same signal), and those it only survives, as upstream.
const FORWARDED: &[libc::c_int] = &[
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGPIPE,
];
const SURVIVED: &[libc::c_int] = &[libc::SIGINT, libc::SIGQUIT, libc::SIGALRM];

/// How the command is supervised: stop signals are passed on and, once
/// told to stop (or the lock is lost, with `--watchdog`), the lock is kept
/// until every process of the command has ended — those it started in the
/// background included.
const PLAN: Plan<'static> = Plan {
    forward: FORWARDED,
    survive: SURVIVED,
    outlive_every_process: true,
    grace: watchdog::DEFAULT_GRACE,
};

/// Command mode: lock, run the command, keep the lock fresh, remove it.
fn run_command(config: &Config, argv: &[OsString]) -> Result<u8> {
    let lock = config.lock.as_path();
    let pid = if config.use_pid {
        std::process::id()
    } else {
        0
    };
    // From here a fatal signal must not leave our lock behind.
    let mut held = take(config, pid, true)?;
    // Without a pid, the lock is touched so that it does not go stale.
    held.set_renew_every((!config.use_pid).then_some(TOUCH_EVERY));
    let dog = config
        .watchdog
        .then(|| Watchdog::new(held.path(), held.id(), false));
    let mut held = Watched::new(held, dog);

    let report = |loss| {
        let mut line = format!("{NAME}: ").into_bytes();
        line.extend_from_slice(&watchdog::loss_message(lock, loss));
        line.push(b'\n');
        eprint_raw(&line);
    };
    let plan = Plan {
        grace: config.grace,
        ..PLAN
    };
    let supervisor = Supervisor::prepare(plan).on_loss(&report);
    let mut cmd = Command::new(argv);
    cmd.default_signals(&supervisor.handled());
    let (status, lost) = match supervisor.run(&cmd, &mut held) {
        Ok(outcome) => (
            match outcome.status {
                Ok(Status::ExecFailed(e)) => Err(e),
                Ok(status) => Ok((status.code(), outcome.stopped_by)),
                Err(_) => Ok((L_ERROR, outcome.stopped_by)),
            },
            outcome.lost.is_some(),
        ),
        Err(SpawnError::Fork(e)) => {
            let _ = held.release();
            let err = Error::silent(L_ERROR);
            return Err(if config.quiet {
                err
            } else {
                err.raw_line(format!("fork: {}", strerror(e)))
            });
        }
    };
    // The command has ended: the lock goes, whatever happened (unless it is
    // no longer ours: then there is nothing of ours to remove).
    let removed = held.release();
    let mut err = Error::silent(0);
    if let Err(e) = &status {
        // dotlockfile reports with perror(argv[0]), which leaves out the
        // "name: " prefix when the name is empty (`dotlock x.lock ''`).
        let mut text = argv[0].as_bytes().to_vec();
        if !text.is_empty() {
            text.extend_from_slice(b": ");
        }
        text.extend_from_slice(strerror(*e).as_bytes());
        err = err.raw_line(text);
    }
    if let (Err(e), false) = (removed, config.quiet) {
        let mut text = lock.as_os_str().as_bytes().to_vec();
        text.extend_from_slice(b": cannot remove lock: ");
        text.extend_from_slice(strerror(e).as_bytes());
        err = err.line(OsStr::new(NAME), text);
    }
    let code = match status {
        // The command was stopped because the lock was lost: that is the
        // outcome, whatever else came.
        Ok(_) if lost => LOCK_LOST,
        Ok((status, forwarded)) => {
            if let Some(sig) = forwarded.or_else(|| supervisor.late_stop()) {
                // Told to stop: we passed the signal on, waited for the
                // command and removed the lock; now go the same way.
                eprint_raw(err.message());
                supervise::die_of(sig);
            }
            if config.passthrough { status } else { 0 }
        }
        Err(_) => {
            if config.passthrough {
                127
            } else {
                0
            }
        }
    };
    if err.message().is_empty() {
        Ok(code)
    } else {
        Err(Error::silent(code).raw_line(strip_newline(err.message())))
    }
}

fn strip_newline(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\n").unwrap_or(b)
}

fn eprint_raw(b: &[u8]) {
    let _ = crate::stdio::write_all(rustix::stdio::stderr(), b);
}
