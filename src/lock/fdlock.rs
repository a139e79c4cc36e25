//! Locks held through a file descriptor: flock(2) and open-file-description
//! (OFD) byte-range locks, taken with a wait policy.
//!
//! Both kinds belong to the open file description, not the process, so they
//! outlive the tool when the description is shared (the `flock 9` form) and
//! are inherited by a command that keeps the descriptor.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use rustix::fs::FlockOperation;
use rustix::io::Errno;

use super::timer::Deadline;

/// What to do to the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
    Unlock,
}

/// Which kernel lock to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// flock(2): whole file; independent of POSIX record locks.
    Flock,
    /// fcntl(2) `F_OFD_SETLK[W]` on a byte range (`len` 0 = to the end of
    /// the file and beyond): conflicts with POSIX `F_SETLK` locks such as
    /// glibc's lckpwdf, not with flock(2) locks.
    Ofd { start: u64, len: u64 },
}

/// How long to wait for a conflicting lock to go away.
#[derive(Debug, Clone, Copy)]
pub enum Wait<'a> {
    /// Until the kernel grants it.
    Block,
    /// Not at all.
    NonBlock,
    /// Until the deadline's timer goes off.
    Until(&'a Deadline),
}

/// Why a lock was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Held by someone else and we were not to wait.
    Busy,
    /// Held by someone else until the deadline passed.
    TimedOut,
    /// The kernel refused the request.
    Sys(Errno),
}

/// Take (or release) the lock, waiting as `wait` says. The kernel wakes a
/// blocked waiter the moment the lock is free; a deadline interrupts the
/// wait with its timer signal, and any other interruption (a stray SIGALRM
/// from `kill`) is not a timeout and the wait goes on.
pub fn lock(fd: BorrowedFd<'_>, mode: Mode, api: Api, wait: Wait<'_>) -> Result<(), Failure> {
    let block = !matches!(wait, Wait::NonBlock);
    loop {
        match attempt(fd, mode, api, block) {
            Ok(()) => return Ok(()),
            // fcntl reports a conflict as EACCES on some systems.
            Err(Errno::WOULDBLOCK | Errno::ACCESS) => return Err(Failure::Busy),
            Err(Errno::INTR) => match wait {
                Wait::Until(deadline) if deadline.expired() => return Err(Failure::TimedOut),
                _ => continue,
            },
            Err(e) => return Err(Failure::Sys(e)),
        }
    }
}

/// [`lock`] on a descriptor number the user gave (`flock 9`), which may not
/// be open at all: the kernel's answer (EBADF) is the error then.
pub fn lock_fd_number(fd: RawFd, mode: Mode, api: Api, wait: Wait<'_>) -> Result<(), Failure> {
    if fd < 0 {
        return Err(Failure::Sys(Errno::BADF));
    }
    // SAFETY: the descriptor is only borrowed for the duration of the lock
    // calls, and the kernel validates it; a closed one fails with EBADF.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    lock(fd, mode, api, wait)
}

/// One system call, whose answer is the caller's to judge (EINTR, or a
/// conflict as EAGAIN/EACCES): for a wait that something other than a
/// deadline may end.
pub fn attempt(fd: BorrowedFd<'_>, mode: Mode, api: Api, block: bool) -> Result<(), Errno> {
    match api {
        Api::Flock => {
            let op = match (mode, block) {
                (Mode::Shared, true) => FlockOperation::LockShared,
                (Mode::Shared, false) => FlockOperation::NonBlockingLockShared,
                (Mode::Exclusive, true) => FlockOperation::LockExclusive,
                (Mode::Exclusive, false) => FlockOperation::NonBlockingLockExclusive,
                (Mode::Unlock, true) => FlockOperation::Unlock,
                (Mode::Unlock, false) => FlockOperation::NonBlockingUnlock,
            };
            rustix::fs::flock(fd, op)
        }
        Api::Ofd { start, len } => {
            // rustix only has process-associated F_SETLK; OFD needs libc.
            // SAFETY: flock is plain data; all-zero is a valid value.
            let mut fl: libc::flock = unsafe { std::mem::zeroed() };
            fl.l_type = match mode {
                Mode::Shared => libc::F_RDLCK,
                Mode::Exclusive => libc::F_WRLCK,
                Mode::Unlock => libc::F_UNLCK,
            } as libc::c_short;
            fl.l_whence = libc::SEEK_SET as libc::c_short;
            // Offsets beyond off_t wrap negative and the kernel says EINVAL,
            // as it does for util-linux.
            fl.l_start = start as libc::off_t;
            fl.l_len = len as libc::off_t;
            let cmd = if block {
                libc::F_OFD_SETLKW
            } else {
                libc::F_OFD_SETLK
            };
            // SAFETY: a valid fd and a pointer to an initialised struct flock.
            let rc = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &mut fl as *mut libc::flock) };
            if rc == -1 {
                Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO))
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn scratch_file(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!(
            "lockkit-fdlock-{}-{name}",
            rustix::process::getpid().as_raw_nonzero()
        ));
        std::fs::write(&p, b"").expect("create test file");
        p
    }

    #[test]
    fn threads_time_out_each_at_their_own_deadline() {
        let path = scratch_file("deadlines");
        let held = std::fs::File::options()
            .read(true)
            .write(true)
            .open(&path)
            .expect("open");
        let range = Api::Ofd { start: 0, len: 1 };
        lock(held.as_fd(), Mode::Exclusive, Api::Flock, Wait::NonBlock).expect("hold");
        lock(held.as_fd(), Mode::Exclusive, range, Wait::NonBlock).expect("hold range");
        // Each waiter has its own descriptor (its own open file description),
        // so the lock held above is a conflict for it.
        let waiter = |sec: i64, nsec: i64| {
            let path = path.clone();
            std::thread::spawn(move || {
                let f = std::fs::File::open(&path).expect("open");
                let deadline = Deadline::arm(sec, nsec).expect("arm");
                let got = lock(
                    f.as_fd(),
                    Mode::Exclusive,
                    Api::Flock,
                    Wait::Until(&deadline),
                );
                (got, deadline.expired())
            })
        };
        let short = waiter(0, 50_000_000);
        let long = waiter(0, 300_000_000);
        // The same for a byte-range lock, the kind a wait on several slots
        // of a semaphore would use.
        let ofd = {
            let path = path.clone();
            std::thread::spawn(move || {
                let f = std::fs::File::open(&path).expect("open");
                let deadline = Deadline::arm(0, 100_000_000).expect("arm");
                let got = lock(f.as_fd(), Mode::Shared, range, Wait::Until(&deadline));
                (got, deadline.expired())
            })
        };
        // Whichever thread's timer fires, only that thread may give up, and
        // only because its own deadline passed.
        assert_eq!(
            short.join().expect("thread"),
            (Err(Failure::TimedOut), true)
        );
        assert_eq!(long.join().expect("thread"), (Err(Failure::TimedOut), true));
        assert_eq!(ofd.join().expect("thread"), (Err(Failure::TimedOut), true));
        drop(held);
        let _ = std::fs::remove_file(&path);
    }
}
