//! The seam every kind of lock fits: a [`Lock`] is taken, waiting as a
//! [`Wait`] says, and gives a [`Held`] lock, which the
//! [supervisor](super::supervise) keeps while the command runs — renewing it
//! on its schedule and stopping the command if it is lost — and which is
//! then released.
//!
//! Kinds today: fd locks ([`FdLock`] → [`HeldFd`]: flock(2) and OFD
//! byte-range locks) and lock files ([`super::dotfile::LinkLock`] →
//! [`super::dotfile::Held`], taken by the lock-file acquire loop; the
//! drop-in tools drive that loop with their references' retry schedules
//! and hand the supervisor the `Held`), and N-slot semaphores
//! ([`super::slots::SlotLock`] → [`super::slots::HeldSlot`]), and locks in
//! etcd ([`super::lease::Lease`] → [`super::lease::HeldLease`]).
//!
//! The traits are small on purpose: what a kind can do differently is *how*
//! it waits (the kernel, inotify, a lease grant), whether it must be kept
//! alive (a lock file's mtime, a lease's keep-alive) and whether it can be
//! taken away (a lease expiring); the rest of a tool does not care.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;

use super::fdlock::{self, Api, Failure, Mode};
use super::file::{LockError, LockFile};
use super::timer::Deadline;

/// How long [`Lock::acquire`] may wait for a lock held by someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Not at all: one attempt.
    Now,
    /// Until this instant (monotonic clock).
    Until(Instant),
    /// As long as it takes.
    Forever,
}

/// Why a lock was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
    /// Held by someone else, and [`Wait::Now`].
    Busy,
    /// Still held by someone else at the deadline.
    TimedOut,
    /// The system refused (the kind's own errors map to an errno, which the
    /// tools turn into their reference's message).
    Sys(Errno),
}

/// A kind of lock, ready to be taken.
pub trait Lock {
    /// The lock once taken.
    type Held: Held;

    /// Take the lock, waiting as `wait` says.
    fn acquire(&mut self, wait: Wait) -> Result<Self::Held, AcquireError>;
}

/// How a held lock was lost: what the tool's message names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Its name is gone: the file was removed.
    Removed,
    /// Its name is gone: the file was renamed away.
    Renamed,
    /// Its name now names another file.
    Replaced,
    /// The directory it was in was renamed (or one further up).
    DirectoryRenamed,
    /// The directory it was in was removed.
    DirectoryRemoved,
    /// Taken away otherwise (a lease expired or was revoked).
    TakenAway,
}

/// A lock that is held.
///
/// The supervisor uses these queries while the command runs:
/// [`Held::renew`] every [`Held::renew_every`], and [`Held::check_lost`]
/// as it starts, whenever [`Held::lost`] (polled next to the command's
/// pidfd) is readable, and every [`Held::check_lost_every`]. A renewal
/// that fails is not a loss by itself (a lock file's touch can fail on a
/// full or read-only file system and the lock is still there): a kind that
/// can lose its lock says so through `check_lost`.
pub trait Held {
    /// Give the lock up. Never removes a lock that is no longer ours.
    fn release(self) -> Result<(), Errno>
    where
        Self: Sized;

    /// How often the lock must be renewed to stay valid (None: never).
    fn renew_every(&self) -> Option<Duration> {
        None
    }

    /// Renew it (a lock file's touch, a lease's keep-alive).
    fn renew(&mut self) -> Result<(), Errno> {
        Ok(())
    }

    /// A descriptor that becomes readable when the lock may have been lost
    /// (taken away: a lease expired or revoked; an inotify watch saw the
    /// lock's name change). None: it cannot be lost while we hold it, the
    /// kind has no way to tell, or it can only look ([`Held::check_lost_every`]).
    fn lost(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Has the lock been lost, and how? Called when [`Held::lost`] is
    /// readable (it must then consume what made it readable, or say the
    /// lock is lost), and at other wakes too, so it must be cheap when
    /// nothing happened. By default a readable `lost` descriptor is the
    /// loss itself.
    fn check_lost(&mut self) -> Option<Loss> {
        self.lost().is_some_and(readable).then_some(Loss::TakenAway)
    }

    /// Where no descriptor can tell of a loss (the kernel refused the
    /// watch), how often [`Held::check_lost`] must look. None: never.
    fn check_lost_every(&self) -> Option<Duration> {
        None
    }
}

/// Is `fd` readable right now (without waiting)?
pub(super) fn readable(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [rustix::event::PollFd::from_borrowed_fd(
        fd,
        rustix::event::PollFlags::IN,
    )];
    let zero = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

/// An fd lock on a lock file opened by name (flock(2) or OFD).
#[derive(Debug)]
pub struct FdLock {
    file: Option<LockFile>,
    mode: Mode,
    api: Api,
}

impl FdLock {
    /// `mode` must be shared or exclusive.
    pub fn new(file: LockFile, mode: Mode, api: Api) -> FdLock {
        FdLock {
            file: Some(file),
            mode,
            api,
        }
    }
}

impl Lock for FdLock {
    type Held = HeldFd<OwnedFd>;

    /// A wait with a deadline arms the SIGALRM timer of [`Deadline`] for
    /// it, as flock(1) does: a blocked flock(2) can be ended no other way.
    fn acquire(&mut self, wait: Wait) -> Result<HeldFd<OwnedFd>, AcquireError> {
        let Some(file) = self.file.as_mut() else {
            // Taken already: the descriptor went with the held lock.
            return Err(AcquireError::Sys(Errno::BADF));
        };
        let deadline = match wait {
            Wait::Until(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    None
                } else {
                    Some(
                        Deadline::arm(left.as_secs() as i64, i64::from(left.subsec_nanos()))
                            .map_err(AcquireError::Sys)?,
                    )
                }
            }
            _ => None,
        };
        let how = match (wait, &deadline) {
            (Wait::Forever, _) => fdlock::Wait::Block,
            (Wait::Until(_), Some(d)) => fdlock::Wait::Until(d),
            (Wait::Now, _) | (Wait::Until(_), None) => fdlock::Wait::NonBlock,
        };
        let r = file.lock(self.mode, self.api, how);
        drop(deadline);
        match r {
            Ok(()) => {}
            Err(LockError::Lock(Failure::Busy)) => {
                return Err(if matches!(wait, Wait::Until(_)) {
                    AcquireError::TimedOut
                } else {
                    AcquireError::Busy
                });
            }
            Err(LockError::Lock(Failure::TimedOut)) => return Err(AcquireError::TimedOut),
            Err(LockError::Lock(Failure::Sys(e)) | LockError::Reopen(e)) => {
                return Err(AcquireError::Sys(e));
            }
        }
        let file = self.file.take().ok_or(AcquireError::Sys(Errno::BADF))?;
        Ok(HeldFd {
            fd: file.into_fd(),
            api: self.api,
        })
    }
}

/// An fd lock that is held: the kernel keeps it while the open file
/// description lives (a command that inherits the descriptor holds it too),
/// so there is nothing to renew, and nobody can take it away.
#[derive(Debug)]
pub struct HeldFd<F: AsFd> {
    fd: F,
    api: Api,
}

impl<F: AsFd> HeldFd<F> {
    /// A lock already taken on `fd` (e.g. `flock 9`, taken by the caller).
    pub fn new(fd: F, api: Api) -> HeldFd<F> {
        HeldFd { fd, api }
    }
}

impl<F: AsFd> Held for HeldFd<F> {
    /// Unlock, then close (when `F` owns the descriptor).
    fn release(self) -> Result<(), Errno> {
        let r = fdlock::lock(self.fd.as_fd(), Mode::Unlock, self.api, fdlock::Wait::Block);
        drop(self.fd);
        r.map_err(|e| match e {
            Failure::Sys(e) => e,
            Failure::Busy | Failure::TimedOut => Errno::AGAIN,
        })
    }
}

/// An fd lock held on a descriptor number that the caller keeps open
/// (`flock 9`, or flock's own lock file, which it holds until it exits).
#[derive(Debug, Clone, Copy)]
pub struct HeldFdNumber {
    fd: RawFd,
    api: Api,
}

impl HeldFdNumber {
    pub fn new(fd: RawFd, api: Api) -> HeldFdNumber {
        HeldFdNumber { fd, api }
    }
}

impl Held for HeldFdNumber {
    /// Unlock; the descriptor stays open (it is the caller's).
    fn release(self) -> Result<(), Errno> {
        fdlock::lock_fd_number(self.fd, Mode::Unlock, self.api, fdlock::Wait::Block).map_err(|e| {
            match e {
                Failure::Sys(e) => e,
                Failure::Busy | Failure::TimedOut => Errno::AGAIN,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::file::OpenMode;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lockkit-kind-{}-{name}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir.join("f")
    }

    #[test]
    fn an_fd_lock_is_taken_refused_then_released() {
        let path = scratch("fd");
        let open = || LockFile::open(path.as_os_str(), OpenMode::ReadOnly).expect("open");
        let mut a = FdLock::new(open(), Mode::Exclusive, Api::Flock);
        let mut b = FdLock::new(open(), Mode::Exclusive, Api::Flock);
        let held = a.acquire(Wait::Now).expect("free lock");
        assert_eq!(b.acquire(Wait::Now).err(), Some(AcquireError::Busy));
        assert_eq!(held.renew_every(), None);
        assert!(held.lost().is_none());
        let mut held = held;
        assert_eq!(held.check_lost(), None);
        assert_eq!(held.check_lost_every(), None);
        held.release().expect("release");
        let again = b.acquire(Wait::Now).expect("released lock");
        // Taken once: the descriptor went with the held lock.
        assert_eq!(
            b.acquire(Wait::Now).err(),
            Some(AcquireError::Sys(Errno::BADF))
        );
        again.release().expect("release");
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn a_deadline_already_past_is_one_attempt() {
        let path = scratch("past");
        let open = || LockFile::open(path.as_os_str(), OpenMode::ReadOnly).expect("open");
        let mut a = FdLock::new(open(), Mode::Exclusive, Api::Flock);
        let mut b = FdLock::new(open(), Mode::Exclusive, Api::Flock);
        let held = a.acquire(Wait::Forever).expect("free lock");
        assert_eq!(
            b.acquire(Wait::Until(Instant::now())).err(),
            Some(AcquireError::TimedOut)
        );
        held.release().expect("release");
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }
}
