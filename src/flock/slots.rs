//! `flock --slots N`: the file is a semaphore of N slots
//! (`crate::lock::slots`); the command runs holding one of them, or all.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use crate::Prog;
use crate::error::sysexits::{EX_DATAERR, EX_OSERR, EX_USAGE};
use crate::error::{Error, Result};
use crate::lock::fdlock::{Api, Mode};
use crate::lock::file::{LockFile, OpenMode};
use crate::lock::kind::{AcquireError, Lock, Wait};
use crate::lock::slots::layout::SLOT_BASE;
use crate::lock::slots::{Claim, JoinError, SlotLock};
use crate::lock::timer::Deadline;
use crate::stdio::Stdio;

use super::Under;
use super::args::{Config, Target};
use super::{conflict, lock_error, monotonic_raw_micros, open_error, run_command, took_lock};

/// Take a slot (or, with an explicit `-x`, every slot) of the semaphore
/// `n` slots on the named file, and run the command holding it.
pub(super) fn locked(prog: &Prog, config: &Config, n: u32, io: &mut Stdio) -> Result<u8> {
    let Target::Path { path, command } = &config.target else {
        // The parser lets only a file and a command through.
        return Err(Error::msg(EX_USAGE, &prog.name, "--slots requires a file"));
    };
    // Read-write: the ticket counter is written, and slots are write locks.
    let file = LockFile::open(path, OpenMode::ReadWrite).map_err(|e| open_error(prog, path, e))?;
    let wait = match (config.nonblock, config.timeout) {
        (true, _) => Wait::Now,
        (false, None) => Wait::Forever,
        (false, Some(t)) => {
            // Values util-linux's timer refuses are refused the same way.
            let nsec = t.usec.wrapping_mul(1000);
            drop(
                Deadline::arm(t.sec, nsec)
                    .map_err(|e| Error::errno(EX_OSERR, &prog.name, "cannot set up timer", e))?,
            );
            let left = Duration::new(t.sec as u64, nsec as u32);
            Instant::now()
                .checked_add(left)
                .map_or(Wait::Forever, Wait::Until)
        }
    };
    let started = config.verbose.then(monotonic_raw_micros);
    let claim = if config.exclusive_given {
        Claim::Every
    } else {
        Claim::One
    };
    // The descriptor keeps its number inside the lock (for `--who`).
    let fd = file.as_fd().as_raw_fd();
    let mut lock =
        SlotLock::join(file.into_fd(), n, claim).map_err(|e| join_error(prog, path, n, e))?;
    let held = match lock.acquire(wait) {
        Ok(held) => held,
        Err(AcquireError::Busy) => {
            let e = conflict(prog, config, "failed to get lock");
            return Err(who(e, prog, config, fd, n));
        }
        Err(AcquireError::TimedOut) => {
            let e = conflict(prog, config, "timeout while waiting to get lock");
            return Err(who(e, prog, config, fd, n));
        }
        Err(AcquireError::Sys(e)) => return Err(lock_error(prog, path.as_bytes(), e)),
    };
    let slot = held.slot().map(|i| i.to_string());
    let lock_fd = held.as_fd().as_raw_fd();
    took_lock(prog, started, io);
    // `--watchdog` watches the file through a twin descriptor: the held
    // slot owns the one the lock is on.
    let twin = match config.watchdog {
        true => {
            Some(rustix::io::dup(held.as_fd()).map_err(|e| lock_error(prog, path.as_bytes(), e))?)
        }
        false => None,
    };
    // As for one lock: never unlocked, only closed when flock exits, so a
    // process the command left behind with the descriptor keeps the slot.
    let under = Under {
        fd: lock_fd,
        named: twin.as_ref().map(|t| (path.as_os_str(), t.as_fd())),
        held,
    };
    run_command(
        prog,
        config,
        command,
        under,
        |cmd| {
            cmd.env("LOCKKIT_SLOTS", Some(OsStr::new(&n.to_string())))
                .env("LOCKKIT_SLOT", slot.as_deref().map(OsStr::new));
        },
        io,
    )
}

/// `--who`: the holders of the slots (with every slot taken, those are
/// what stood in the way).
fn who(e: Error, prog: &Prog, config: &Config, fd: RawFd, n: u32) -> Error {
    let slots = Api::Ofd {
        start: SLOT_BASE,
        len: u64::from(n),
    };
    super::who(e, prog, config, fd, Mode::Exclusive, slots)
}

fn join_error(prog: &Prog, path: &OsStr, n: u32, e: JoinError) -> Error {
    let mut text = path.as_bytes().to_vec();
    match e {
        JoinError::Mismatch { theirs } => {
            text.extend_from_slice(
                format!(
                    ": in use with --slots {theirs}; everyone sharing it must give the same \
                     number (this one says {n})"
                )
                .as_bytes(),
            );
            Error::msg(EX_DATAERR, &prog.name, text)
        }
        JoinError::NotSemaphore { size } => {
            text.extend_from_slice(
                format!(
                    ": not a --slots file: it holds {size} bytes of other data \
                     (--slots keeps only an 8-byte counter in its file)"
                )
                .as_bytes(),
            );
            Error::msg(EX_DATAERR, &prog.name, text)
        }
        JoinError::NotRegular => {
            text.extend_from_slice(b": not a regular file (--slots keeps a counter in its file)");
            Error::msg(EX_DATAERR, &prog.name, text)
        }
        JoinError::Sys(e) => lock_error(prog, path.as_bytes(), e),
    }
}
