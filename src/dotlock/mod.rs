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
use crate::error::{Error, Result, strerror};
use crate::lock::child::{Command, SpawnError, Status};
use crate::lock::cleanup;
use crate::lock::dotfile::{self, AcquireError, AgeLimit, Backoff, FileId, Policy, TempError};
use crate::lock::held_file::HeldFile;
use crate::lock::kind::Held;
use crate::lock::supervise::{self, Plan, Supervisor};
use crate::stdio::Stdio;
use args::codes::*;
use args::{Action, Config, NAME};

/// liblockfile's age limit for a lock without a live pid.
const MAX_AGE: Duration = Duration::from_secs(300);
/// How often command mode refreshes a lock without a pid.
const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// dotlockfile's sleeps: 5, 10, 15, … 60, 60, … or a fixed `-i` interval,
/// `retries` times.
struct Schedule {
    left: i64,
    pause: u64,
    fixed: Option<u64>,
}

impl Backoff for Schedule {
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
        age: AgeLimit::After(MAX_AGE),
        follow_symlinks: true,
    }
}

/// `-c`: 0 if a valid lock exists. Age is judged on the file system's clock
/// when a probe file can be made next to the lock, else on the local one.
fn check(config: &Config) -> u8 {
    let lock = config.lock.as_path();
    let now = match dotfile::create_liblockfile_temp(lock, b"", 0o600) {
        Ok(probe) => probe.fs_now(),
        Err(_) => local_now(),
    };
    let j = dotfile::judge(lock, policy(config), now);
    if j.id.is_some() && !j.stale {
        0
    } else {
        FAILURE
    }
}

fn local_now() -> dotfile::FsTime {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    dotfile::FsTime(i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec))
}

/// Take the lock holding `pid`; on failure the exit code (silent, as
/// upstream). With `guard_lock`, a fatal signal from the moment of the link
/// on removes the lock (if it is still ours); the guard is returned.
fn take(config: &Config, pid: u32, guard_lock: bool) -> Result<(FileId, Option<cleanup::Guard>)> {
    let lock = config.lock.as_path();
    if lock.as_os_str().len() + 32 > 4096 {
        return Err(Error::silent(L_ERROR));
    }
    cleanup::on_fatal_signals();
    // (A leftover temp file of a killed process that had our pid does not
    // make this fail: see `create_liblockfile_temp`.)
    let temp = dotfile::create_liblockfile_temp(lock, format!("{pid}\n").as_bytes(), 0o644)
        .map_err(|e| match e {
            TempError::Create(_) => Error::silent(L_TMPLOCK),
            TempError::Write(_) => Error::silent(L_TMPWRITE),
        })?;
    let mut schedule = Schedule {
        left: config.retries,
        pause: 0,
        fixed: config.interval,
    };
    let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
    // Registered before the link: the handler removes the name only if it
    // is our temp file's inode, i.e. only once the link has landed.
    let id = temp.id();
    let guard = guard_lock.then(|| cleanup::Guard::new(lock, id));
    let result = dotfile::acquire(lock, &temp, policy(config), &mut schedule, parent);
    drop(temp);
    result.map(|()| (id, guard)).map_err(|e| {
        Error::silent(match e {
            AcquireError::GaveUp => L_MAXTRYS,
            AcquireError::CannotBreak(_) => L_RMSTALE,
            AcquireError::TempLost(_) | AcquireError::ParentDied => L_ERROR,
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
    let r = take(config, pid, false).map(drop);
    cleanup::default_fatal_signals();
    r
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
/// told to stop, the lock is kept until every process of the command has
/// ended — those it started in the background included.
const PLAN: Plan<'static> = Plan {
    forward: FORWARDED,
    survive: SURVIVED,
    outlive_every_process: true,
    // A lock file is never reported lost: unused.
    grace: Duration::from_secs(10),
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
    let (lock_id, _lock_guard) = take(config, pid, true)?;
    // Without a pid, the lock is touched so that it does not go stale.
    let mut held = HeldFile::new(lock, lock_id, (!config.use_pid).then_some(TOUCH_EVERY));

    let supervisor = Supervisor::prepare(PLAN);
    let mut cmd = Command::new(argv);
    cmd.default_signals(&supervisor.handled());
    let status = match supervisor.run(&cmd, &mut held) {
        Ok(outcome) => match outcome.status {
            Ok(Status::ExecFailed(e)) => Err(e),
            Ok(status) => Ok((status.code(), outcome.stopped_by)),
            Err(_) => Ok((L_ERROR, outcome.stopped_by)),
        },
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
