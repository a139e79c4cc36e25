//! A deadline that can end a blocked lock call.
//!
//! flock(2) and `F_OFD_SETLKW` cannot be polled; the only way to stop waiting
//! in them is a signal whose handler was installed *without* `SA_RESTART`, so
//! the call returns EINTR. A POSIX timer on the monotonic clock sends SIGALRM
//! at the deadline and then every 10 ms, which covers the window where the
//! signal lands just before the process enters the call.
//!
//! Whether the deadline has passed is judged by the clock, not by the signal:
//! a SIGALRM from `kill` (or anything else) interrupts the call too, and the
//! caller simply waits again.
//!
//! An inherited *blocked* SIGALRM would keep the timer's signal from ever
//! arriving (rpm scriptlets ran that way, and util-linux then waits forever);
//! SIGALRM is unblocked while a deadline is armed and the mask restored after.

use std::mem::MaybeUninit;

use rustix::io::Errno;
use rustix::time::{ClockId, Timespec};

/// Re-fire interval after the deadline.
const REFIRE_NS: i64 = 10_000_000;

/// An armed deadline. Dropping it deletes the timer (so nothing fires into a
/// command started afterwards) and restores the signal mask.
#[derive(Debug)]
pub struct Deadline {
    timer: libc::timer_t,
    at: Timespec,
    unblocked: bool,
}

extern "C" fn on_alarm(_: libc::c_int) {
    // Nothing to do: the point is that the blocked call returns EINTR.
}

fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL)
}

impl Deadline {
    /// Arm a deadline `sec` seconds and `nsec` nanoseconds from now. Values
    /// the kernel rejects (negative, `nsec` out of range) give EINVAL, as for
    /// util-linux.
    pub fn arm(sec: i64, nsec: i64) -> Result<Deadline, Errno> {
        install_handler()?;
        let unblocked = unblock_sigalrm()?;
        let mut deadline = Deadline {
            timer: std::ptr::null_mut(),
            at: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            unblocked,
        };
        // SAFETY: sigevent is plain data; all-zero is valid before filling.
        let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
        sev.sigev_notify = libc::SIGEV_SIGNAL;
        sev.sigev_signo = libc::SIGALRM;
        let mut timer = MaybeUninit::<libc::timer_t>::uninit();
        // SAFETY: valid pointers to a sigevent and to storage for the id.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, timer.as_mut_ptr()) } != 0 {
            return Err(last_errno());
        }
        // SAFETY: timer_create succeeded and wrote the id.
        deadline.timer = unsafe { timer.assume_init() };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: REFIRE_NS,
            },
            it_value: libc::timespec {
                tv_sec: sec,
                tv_nsec: nsec,
            },
        };
        let now = rustix::time::clock_gettime(ClockId::Monotonic);
        // SAFETY: a live timer id and a valid itimerspec.
        if unsafe { libc::timer_settime(deadline.timer, 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(last_errno());
        }
        deadline.at = add(now, sec, nsec);
        Ok(deadline)
    }

    /// Has the monotonic clock reached the deadline?
    pub fn expired(&self) -> bool {
        let now = rustix::time::clock_gettime(ClockId::Monotonic);
        (now.tv_sec, now.tv_nsec) >= (self.at.tv_sec, self.at.tv_nsec)
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if !self.timer.is_null() {
            // SAFETY: the id came from timer_create and is deleted once.
            unsafe { libc::timer_delete(self.timer) };
        }
        if self.unblocked {
            set_sigalrm_blocked(true);
        }
    }
}

fn add(now: Timespec, sec: i64, nsec: i64) -> Timespec {
    let total = i128::from(now.tv_sec) * 1_000_000_000
        + i128::from(now.tv_nsec)
        + i128::from(sec) * 1_000_000_000
        + i128::from(nsec);
    let sec = i64::try_from(total / 1_000_000_000).unwrap_or(i64::MAX);
    Timespec {
        tv_sec: sec,
        tv_nsec: (total % 1_000_000_000) as i64,
    }
}

/// SIGALRM handler without SA_RESTART, so blocking lock calls return EINTR.
/// (signal-hook always sets SA_RESTART, which would make the wait endless.)
fn install_handler() -> Result<(), Errno> {
    // SAFETY: sigaction is plain data; the handler is async-signal-safe (empty).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as libc::sighandler_t;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()) != 0 {
            return Err(last_errno());
        }
    }
    Ok(())
}

/// Unblock SIGALRM; true if it had been blocked.
fn unblock_sigalrm() -> Result<bool, Errno> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset/sigprocmask.
    unsafe {
        let mut current: libc::sigset_t = std::mem::zeroed();
        if libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut current) != 0 {
            return Err(last_errno());
        }
        let blocked = libc::sigismember(&current, libc::SIGALRM) == 1;
        if blocked {
            set_sigalrm_blocked(false);
        }
        Ok(blocked)
    }
}

fn set_sigalrm_blocked(block: bool) {
    // SAFETY: a sigset built by sigemptyset/sigaddset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::sigprocmask(how, &set, std::ptr::null_mut());
    }
}
