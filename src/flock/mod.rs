//! `flock`: a drop-in for util-linux 2.38.1's flock(1).
//!
//! This module is the front end only: [`args`] reads the command line, and
//! [`run`] turns the request into calls on the shared primitives in
//! `crate::lock`, choosing util-linux's messages and exit codes.

pub mod args;
mod slots;

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::io::Errno;
use rustix::time::ClockId;

use crate::Prog;
use crate::error::sysexits::{EX_CANTCREAT, EX_DATAERR, EX_NOINPUT, EX_OSERR, EX_UNAVAILABLE};
use crate::error::{Error, LOCK_LOST, NO_RESULT, Result, strerror};
use crate::lock::child::{Command, SpawnError, Status};
use crate::lock::fdlock::{self, Api, Failure, Mode, Wait};
use crate::lock::file::{LockError, LockFile, OpenMode};
use crate::lock::kind::{Held, HeldFdNumber};
use crate::lock::single_flight::{self, JoinError, Joined};
use crate::lock::supervise::{Plan, STOP_SIGNALS, Supervisor};
use crate::lock::timer::Deadline;
use crate::lock::watchdog::{self, Watchdog, Watched};
use crate::stdio::Stdio;
use args::{Config, Request, Target};

/// The util-linux release whose behaviour this tool reproduces.
pub const UTIL_LINUX_VERSION: &str = "2.38.1";

/// Run flock with the arguments after `argv[0]`; the exit code on success.
pub fn run(prog: &Prog, args: &[std::ffi::OsString], io: &mut Stdio) -> Result<u8> {
    match args::parse(prog, args)? {
        Request::Help => {
            io.out(
                args::HELP
                    .replace("{prog}", &prog.name.to_string_lossy())
                    .as_bytes(),
            );
            Ok(0)
        }
        Request::Version => {
            // util-linux's shape, so scripts that sniff the version keep working.
            let line = format!(
                "{} from util-linux {} (lockkit {})\n",
                prog.name.to_string_lossy(),
                UTIL_LINUX_VERSION,
                env!("CARGO_PKG_VERSION")
            );
            io.out(line.as_bytes());
            Ok(0)
        }
        Request::Run(config) => locked(prog, &config, io),
    }
}

/// `cannot open lock file <path>: <error>`, with util-linux's exit codes.
fn open_error(prog: &Prog, path: &OsStr, e: Errno) -> Error {
    let code = match e {
        Errno::NOMEM | Errno::MFILE | Errno::NFILE => EX_OSERR,
        Errno::ROFS | Errno::NOSPC => EX_CANTCREAT,
        _ => EX_NOINPUT,
    };
    let mut text = b"cannot open lock file ".to_vec();
    text.extend_from_slice(path.as_bytes());
    Error::errno(code, &prog.name, text, e)
}

/// The lock call itself failed: `<path or fd>: <error>`.
fn lock_error(prog: &Prog, what: &[u8], e: Errno) -> Error {
    let code = match e {
        Errno::NOLCK | Errno::NOMEM => EX_OSERR,
        _ => EX_DATAERR,
    };
    Error::errno(code, &prog.name, what, e)
}

fn monotonic_raw_micros() -> i64 {
    let t = rustix::time::clock_gettime(ClockId::MonotonicRaw);
    t.tv_sec * 1_000_000 + t.tv_nsec / 1_000
}

fn locked(prog: &Prog, config: &Config, io: &mut Stdio) -> Result<u8> {
    if config.single_flight {
        return single_flight(prog, config, io);
    }
    if let Some(n) = config.slots {
        return slots::locked(prog, config, n, io);
    }
    // An exclusive OFD lock needs a descriptor open for writing.
    let open_mode = match (config.api, config.mode) {
        (Api::Ofd { .. }, Mode::Exclusive) => OpenMode::WriteOnly,
        _ => OpenMode::ReadOnly,
    };
    let (mut file, fd_num, command) = match &config.target {
        Target::Path { path, command } => {
            let file = LockFile::open(path, open_mode).map_err(|e| open_error(prog, path, e))?;
            (Some(file), None, Some(command))
        }
        Target::Fd { fd, command } => (None, Some(*fd), command.as_ref()),
    };

    // The file is opened first: util-linux creates it even when the timer
    // then cannot be set up.
    let deadline = arm_deadline(prog, config)?;
    let started = config.verbose.then(monotonic_raw_micros);
    let wait = wait_policy(config, &deadline);
    let result = match (&mut file, fd_num) {
        (Some(file), _) => file.lock(config.mode, config.api, wait),
        (None, Some(fd)) => {
            fdlock::lock_fd_number(fd, config.mode, config.api, wait).map_err(LockError::Lock)
        }
        (None, None) => unreachable!("a target is either a path or a descriptor"),
    };
    drop(deadline);
    let what = match (&file, fd_num) {
        (Some(f), _) => f.path().as_bytes().to_vec(),
        (None, fd) => fd.unwrap_or(-1).to_string().into_bytes(),
    };
    match result {
        Ok(()) => {}
        Err(LockError::Lock(f)) => {
            let e = not_locked(prog, config, &what, f);
            return Err(match f {
                Failure::Sys(_) => e,
                Failure::Busy | Failure::TimedOut => {
                    let fd = file
                        .as_ref()
                        .map_or(fd_num.unwrap_or(-1), |f| f.as_fd().as_raw_fd());
                    who(e, prog, config, fd, config.mode, config.api)
                }
            });
        }
        Err(LockError::Reopen(e)) => return Err(open_error(prog, OsStr::from_bytes(&what), e)),
    }

    took_lock(prog, started, io);
    let Some(argv) = command else {
        return Ok(0);
    };
    let lock_fd = match &file {
        Some(f) => f.as_fd().as_raw_fd(),
        None => fd_num.unwrap_or(-1),
    };
    let under = Under {
        fd: lock_fd,
        named: file.as_ref().map(|f| (f.path(), f.as_fd())),
        held: HeldFdNumber::new(lock_fd, config.api),
    };
    let code = run_command(prog, config, argv, under, |_| {}, io);
    // Like util-linux, hold the descriptor (and our share of the lock)
    // until the process exits, after the exit-time output checks.
    std::mem::forget(file);
    code
}

/// The `-w` deadline, armed (None without `-w`).
fn arm_deadline(prog: &Prog, config: &Config) -> Result<Option<Deadline>> {
    config
        .timeout
        .map(|t| Deadline::arm(t.sec, t.usec.wrapping_mul(1000)))
        .transpose()
        .map_err(|e| Error::errno(EX_OSERR, &prog.name, "cannot set up timer", e))
}

fn wait_policy<'a>(config: &Config, deadline: &'a Option<Deadline>) -> Wait<'a> {
    match (deadline, config.nonblock) {
        (_, true) => Wait::NonBlock,
        (Some(d), false) => Wait::Until(d),
        (None, false) => Wait::Block,
    }
}

/// The lock was not had: a conflict, a timeout, or the kernel's refusal.
fn not_locked(prog: &Prog, config: &Config, what: &[u8], f: Failure) -> Error {
    match f {
        Failure::Busy => conflict(prog, config, "failed to get lock"),
        Failure::TimedOut => conflict(prog, config, "timeout while waiting to get lock"),
        Failure::Sys(e) => lock_error(prog, what, e),
    }
}

/// `--verbose`: how long getting the lock took (since `started`).
fn took_lock(prog: &Prog, started: Option<i64>, io: &mut Stdio) {
    if let Some(started) = started {
        let took = monotonic_raw_micros() - started;
        let line = format!(
            "{}: getting lock took {}.{:06} seconds\n",
            prog.name.to_string_lossy(),
            took / 1_000_000,
            took % 1_000_000
        );
        io.out(line.as_bytes());
    }
}

/// What the command runs under: a lock held on descriptor `fd` and, for a
/// lock taken by name, that name and its open file (what `--watchdog`
/// watches).
struct Under<'a, H: Held> {
    fd: RawFd,
    named: Option<(&'a OsStr, BorrowedFd<'a>)>,
    held: H,
}

/// Run the command (set up by `setup`) while `under.held` is held (or
/// become its holder, with `-F`): its exit code, util-linux's way. The lock
/// is kept, never released: like util-linux, flock holds its descriptor
/// (and its share of the lock) until it exits, after the exit-time output
/// checks.
fn run_command<H: Held>(
    prog: &Prog,
    config: &Config,
    argv: &[OsString],
    under: Under<'_, H>,
    setup: impl FnOnce(&mut Command),
    io: &mut Stdio,
) -> Result<u8> {
    let lock_fd = under.fd;
    if config.verbose {
        let mut line = prog.name.as_bytes().to_vec();
        line.extend_from_slice(b": executing ");
        line.extend_from_slice(argv[0].as_bytes());
        line.push(b'\n');
        io.out(&line);
    }

    let mut cmd = Command::new(argv);
    setup(&mut cmd);
    let exec_failed = |e: Errno| {
        let code = if e == Errno::NOMEM {
            EX_OSERR
        } else {
            EX_UNAVAILABLE
        };
        let mut text = b"failed to execute ".to_vec();
        text.extend_from_slice(argv[0].as_bytes());
        Error::errno(code, &prog.name, text, e)
    };
    if config.no_fork {
        // The command becomes the holder: the lock descriptor is not
        // close-on-exec, and what stdout had buffered is dropped by exec —
        // or, if exec fails, by util-linux's `_exit`.
        let e = cmd.exec();
        io.discard();
        return Err(exec_failed(e));
    }
    if config.close {
        cmd.close_in_child(lock_fd);
    }
    let dog = match (under.named, config.watchdog) {
        (Some((path, fd)), true) => Some(
            Watchdog::for_open_file(Path::new(path), fd)
                .map_err(|e| lock_error(prog, path.as_bytes(), e))?,
        ),
        _ => None,
    };
    let supervisor = Supervisor::prepare(plan(config));
    if config.watchdog || config.forward_signals {
        cmd.default_signals(&supervisor.handled());
    }
    let report = |loss| {
        let name = under.named.map_or(OsStr::new(""), |(path, _)| path);
        let mut line = prog.name.as_bytes().to_vec();
        line.extend_from_slice(b": ");
        line.extend_from_slice(&watchdog::loss_message(Path::new(name), loss));
        line.push(b'\n');
        let _ = crate::stdio::write_all(rustix::stdio::stderr(), &line);
    };
    let supervisor = supervisor.on_loss(&report);
    let mut held = Watched::new(under.held, dog);
    let outcome = supervisor.run(&cmd, &mut held);
    std::mem::forget(held);
    let outcome = outcome
        .map_err(|SpawnError::Fork(e)| Error::errno(EX_OSERR, &prog.name, "fork failed", e))?;
    let status = outcome
        .status
        .map_err(|e| Error::errno(1, &prog.name, "waitpid failed", e))?;
    match status {
        Status::ExecFailed(e) => Err(exec_failed(e)),
        _ if outcome.lost.is_some() => Err(Error::silent(LOCK_LOST)),
        other => Ok(other.code()),
    }
}

/// `--single-flight`: lead a run of the command, or wait for the run in
/// progress and exit with its status (`lock::single_flight`).
fn single_flight(prog: &Prog, config: &Config, io: &mut Stdio) -> Result<u8> {
    let Target::Path { path, command } = &config.target else {
        unreachable!("the parser refuses --single-flight with a descriptor")
    };
    let file = LockFile::open(path, OpenMode::ReadWrite).map_err(|e| open_error(prog, path, e))?;
    let deadline = arm_deadline(prog, config)?;
    let started = config.verbose.then(monotonic_raw_micros);
    let joined = single_flight::join(file.as_fd(), wait_policy(config, &deadline));
    drop(deadline);
    let leader = match joined {
        Ok(Joined::Lead(leader)) => leader,
        Ok(Joined::Took(run)) => {
            if config.verbose {
                let line = format!(
                    "{}: took the result of run {} (status {})\n",
                    prog.name.to_string_lossy(),
                    run.generation,
                    run.status
                );
                io.out(line.as_bytes());
            }
            return Ok(run.status);
        }
        Ok(Joined::NoResult { .. }) => {
            return Err(Error::msg(
                NO_RESULT,
                &prog.name,
                in_file(
                    path,
                    "the run in progress ended without a result (its leader was killed)",
                ),
            ));
        }
        Err(e) => {
            let busy = matches!(e, JoinError::Busy | JoinError::TimedOut);
            let err = not_joined(prog, config, path, e);
            return Err(if busy {
                let fd = file.as_fd().as_raw_fd();
                who(err, prog, config, fd, Mode::Exclusive, Api::Flock)
            } else {
                err
            });
        }
    };
    took_lock(prog, started, io);
    let fd = file.as_fd().as_raw_fd();
    let under = Under {
        fd,
        named: Some((path.as_os_str(), file.as_fd())),
        held: HeldFdNumber::new(fd, Api::Flock),
    };
    let outcome = run_command(prog, config, command, under, |_| {}, io);
    // Its waiters exit as this caller does, errors of its own included.
    let code = match &outcome {
        Ok(code) => *code,
        Err(e) => e.code(),
    };
    let Err(e) = leader.finish(code) else {
        return outcome;
    };
    let mut text = in_file(path, "cannot record the run's result: ");
    text.extend_from_slice(strerror(e).as_bytes());
    Err(match outcome {
        Ok(code) => Error::msg(code, &prog.name, text),
        Err(err) => err.line(&prog.name, text),
    })
}

/// `<file>: <text>`.
fn in_file(path: &OsStr, text: &str) -> Vec<u8> {
    let mut line = path.as_bytes().to_vec();
    line.extend_from_slice(b": ");
    line.extend_from_slice(text.as_bytes());
    line
}

/// Why a single-flight caller neither led nor took a result.
fn not_joined(prog: &Prog, config: &Config, path: &OsStr, e: JoinError) -> Error {
    let lock_failure = match e {
        JoinError::Busy => Failure::Busy,
        JoinError::TimedOut => Failure::TimedOut,
        JoinError::Sys(e) => Failure::Sys(e),
        JoinError::Record(e) => {
            return Error::errno(
                EX_CANTCREAT,
                &prog.name,
                in_file(path, "cannot record the run"),
                e,
            );
        }
        JoinError::NotAFile => {
            let why = "not a regular file, where --single-flight keeps its record";
            return Error::msg(EX_DATAERR, &prog.name, in_file(path, why));
        }
        JoinError::Foreign => {
            let why = "holds something other than a single-flight record: not overwriting it";
            return Error::msg(EX_DATAERR, &prog.name, in_file(path, why));
        }
    };
    not_locked(prog, config, path.as_bytes(), lock_failure)
}

/// `--who`: one more line naming the holders of what stood in the way of
/// a `mode` lock through `api` on descriptor `fd`.
fn who(e: Error, prog: &Prog, config: &Config, fd: RawFd, mode: Mode, api: Api) -> Error {
    if !config.who {
        return e;
    }
    e.raw_line(crate::status::who::line(&prog.name, fd, mode, api))
}

/// How the command is supervised. Without the extensions, the plain plan:
/// no signal is caught or forwarded while the command runs (a killed flock
/// leaves the command running, and holding the lock, as upstream), and the
/// wait is a blocking waitpid. `--watchdog` makes flock outlive every
/// process of the command once it stops them (they all hold the lock);
/// the command stays in flock's process group, so job control works.
fn plan(config: &Config) -> Plan<'static> {
    if !config.watchdog && !config.forward_signals {
        return Plan::PLAIN;
    }
    Plan {
        forward: if config.forward_signals {
            STOP_SIGNALS
        } else {
            &[]
        },
        survive: &[],
        outlive_every_process: config.watchdog,
        grace: config.grace,
    }
}

/// Could not get the lock: the `-E` code, with a reason only if verbose.
fn conflict(prog: &Prog, config: &Config, why: &str) -> Error {
    let e = Error::silent(config.conflict_exit_code);
    if config.verbose {
        e.line(&prog.name, why)
    } else {
        e
    }
}
