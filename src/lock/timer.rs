//! A deadline that can end a blocked lock call, for the thread that armed it.
//!
//! flock(2) and `F_OFD_SETLKW` cannot be polled; the only way to stop waiting
//! in them is a signal whose handler was installed *without* `SA_RESTART`, so
//! the call returns EINTR. A [`Deadline`] is a POSIX timer on the monotonic
//! clock that sends SIGALRM *to the thread that armed it* (`SIGEV_THREAD_ID`)
//! at the deadline and then every 10 ms, which covers the window where the
//! signal lands just before the thread enters the call. Being per thread,
//! several threads can each wait on a lock with a deadline of their own (a
//! wait on several byte ranges at once); in a single-threaded tool it is
//! util-linux's process-wide SIGALRM timer.
//!
//! Whether the deadline has passed is judged by the clock, not by the signal:
//! a SIGALRM from `kill` (or anything else) interrupts the call too, and the
//! caller simply waits again.
//!
//! An inherited *blocked* SIGALRM would keep the timer's signal from ever
//! arriving (rpm scriptlets ran that way, and util-linux then waits forever);
//! SIGALRM is unblocked in the thread while a deadline is armed and its mask
//! restored after.

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use rustix::io::Errno;
use rustix::time::{ClockId, Timespec};

/// Re-fire interval after the deadline.
const REFIRE_NS: i64 = 10_000_000;

/// An armed deadline. Dropping it deletes the timer (so nothing fires into a
/// command started afterwards, or into the tool while it waits for one) and
/// restores the thread's signal mask. It belongs to the thread that armed it
/// (its signal goes there, and the mask it changed is that thread's), hence
/// neither `Send` nor `Sync`.
#[derive(Debug)]
pub struct Deadline {
    // Fields drop in this order: the timer goes first, so no signal of it
    // can be left pending behind a re-blocked SIGALRM (`flock -F` would hand
    // it to the command).
    _timer: Timer,
    _mask: MaskRestore,
    at: Timespec,
    _this_thread: PhantomData<*const ()>,
}

/// Blocks SIGALRM again in this thread when dropped, if it had been blocked.
#[derive(Debug)]
struct MaskRestore {
    unblocked: bool,
}

impl Drop for MaskRestore {
    fn drop(&mut self) {
        if self.unblocked {
            set_sigalrm_blocked(true);
        }
    }
}

/// A created POSIX timer. Its id is whatever the kernel chose, and the
/// first timer of a process has id 0 (a null `timer_t` in glibc), so a
/// timer's existence is this value's, never the id's.
#[derive(Debug)]
struct Timer(libc::timer_t);

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: the id came from a successful timer_create and, owned by
        // this value, is deleted exactly once.
        unsafe { libc::timer_delete(self.0) };
    }
}

extern "C" fn on_alarm(_: libc::c_int) {
    // Nothing to do: the point is that the blocked call returns EINTR.
}

fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL)
}

impl Deadline {
    /// Arm a deadline `sec` seconds and `nsec` nanoseconds from now for the
    /// calling thread. Values the kernel rejects (negative, `nsec` out of
    /// range) give EINVAL, as for util-linux.
    pub fn arm(sec: i64, nsec: i64) -> Result<Deadline, Errno> {
        install_handler()?;
        let timer = Timer::for_this_thread()?;
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
        // The mask is changed only once nothing can fail any more, so an
        // error leaves it as it was.
        // SAFETY: a live timer id and a valid itimerspec.
        if unsafe { libc::timer_settime(timer.0, 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(last_errno());
        }
        let mask = MaskRestore {
            unblocked: unblock_sigalrm()?,
        };
        Ok(Deadline {
            _timer: timer,
            _mask: mask,
            at: add(now, sec, nsec),
            _this_thread: PhantomData,
        })
    }

    /// A deadline at `at` (monotonic), or None if it has passed already
    /// (then there is nothing to wait for: one attempt).
    pub fn until(at: std::time::Instant) -> Result<Option<Deadline>, Errno> {
        let left = at.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        Deadline::arm(
            i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            i64::from(left.subsec_nanos()),
        )
        .map(Some)
    }

    /// Has the monotonic clock reached the deadline?
    pub fn expired(&self) -> bool {
        let now = rustix::time::clock_gettime(ClockId::Monotonic);
        (now.tv_sec, now.tv_nsec) >= (self.at.tv_sec, self.at.tv_nsec)
    }
}

/// Lets other threads end this thread's blocked lock call, with the same
/// no-op SIGALRM (no `SA_RESTART`) a deadline uses: a wait on several locks
/// at once gives each its own thread, and the first to get one stops the
/// others. Like a deadline, it unblocks SIGALRM in this thread while it
/// lives. Whoever is interrupted judges by shared state, not by the signal
/// (which may also land just before the call: the sender repeats it until
/// the thread says it is done).
#[derive(Debug)]
pub struct Interruptible {
    _mask: MaskRestore,
    _this_thread: PhantomData<*const ()>,
}

/// The thread that made an [`Interruptible`], for another thread to send
/// its signal to.
#[derive(Debug, Clone, Copy)]
pub struct ThreadHandle(libc::pthread_t);

impl Interruptible {
    /// Make the calling thread interruptible; its handle goes to the
    /// thread that will interrupt it.
    pub fn here() -> Result<(Interruptible, ThreadHandle), Errno> {
        install_handler()?;
        let mask = MaskRestore {
            unblocked: unblock_sigalrm()?,
        };
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        Ok((
            Interruptible {
                _mask: mask,
                _this_thread: PhantomData,
            },
            ThreadHandle(me),
        ))
    }
}

impl ThreadHandle {
    /// Send the thread SIGALRM: its blocked lock call returns EINTR.
    ///
    /// # Safety
    /// The thread must not have been joined yet (it may have ended): only
    /// then is its pthread id still valid.
    pub unsafe fn interrupt(self) -> Result<(), Errno> {
        // SAFETY: the caller guarantees the id is still valid.
        match unsafe { libc::pthread_kill(self.0, libc::SIGALRM) } {
            0 => Ok(()),
            e => Err(Errno::from_raw_os_error(e)),
        }
    }
}

impl Timer {
    /// A stopped timer on the monotonic clock whose signal is SIGALRM to
    /// the calling thread.
    fn for_this_thread() -> Result<Timer, Errno> {
        // SAFETY: sigevent is plain data; all-zero is valid before filling.
        let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
        sev.sigev_notify = libc::SIGEV_THREAD_ID;
        sev.sigev_signo = libc::SIGALRM;
        sev.sigev_notify_thread_id = rustix::thread::gettid().as_raw_nonzero().get();
        let mut id = MaybeUninit::<libc::timer_t>::uninit();
        // SAFETY: valid pointers to a sigevent and to storage for the id.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, id.as_mut_ptr()) } != 0 {
            return Err(last_errno());
        }
        // SAFETY: timer_create succeeded and wrote the id.
        Ok(Timer(unsafe { id.assume_init() }))
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
/// (With SA_RESTART the wait would be endless.)
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

/// Unblock SIGALRM in this thread; true if it had been blocked.
fn unblock_sigalrm() -> Result<bool, Errno> {
    // SAFETY: sigset_t is plain data, filled by pthread_sigmask.
    unsafe {
        let mut current: libc::sigset_t = std::mem::zeroed();
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut current);
        if rc != 0 {
            return Err(Errno::from_raw_os_error(rc));
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
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `notify:` targets of this process's POSIX timers, from
    /// /proc/self/timers (`signal/tid.<tid>` for a thread-directed one).
    fn timer_targets() -> Vec<String> {
        let text = std::fs::read_to_string("/proc/self/timers").unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("notify:"))
            .map(|t| t.trim().to_owned())
            .collect()
    }

    fn this_thread() -> String {
        format!("signal/tid.{}", rustix::thread::gettid().as_raw_nonzero())
    }

    #[test]
    fn the_timer_signals_the_arming_thread_and_is_deleted_on_drop() {
        if !std::path::Path::new("/proc/self/timers").exists() {
            eprintln!("skipping: no /proc/self/timers on this kernel");
            return;
        }
        // Several in a row: whichever is the process's first timer has id 0,
        // which must be deleted like any other.
        for _ in 0..3 {
            let deadline = Deadline::arm(60, 0).expect("arm");
            assert!(timer_targets().contains(&this_thread()));
            assert!(!deadline.expired());
            drop(deadline);
            assert!(!timer_targets().contains(&this_thread()));
        }
    }

    #[test]
    fn a_rejected_value_leaves_no_timer_and_no_mask_change() {
        assert_eq!(Deadline::arm(0, 2_000_000_000).err(), Some(Errno::INVAL));
        assert_eq!(Deadline::arm(-1, 0).err(), Some(Errno::INVAL));
        assert!(!timer_targets().contains(&this_thread()));
    }

    #[test]
    fn sigalrm_blocked_before_is_blocked_again_after() {
        let blocked = || {
            // SAFETY: reading this thread's mask into a zeroed sigset.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set);
                libc::sigismember(&set, libc::SIGALRM) == 1
            }
        };
        std::thread::spawn(move || {
            set_sigalrm_blocked(true);
            let deadline = Deadline::arm(60, 0).expect("arm");
            assert!(!blocked(), "unblocked while armed");
            drop(deadline);
            assert!(blocked(), "blocked again after");
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn deadline_arithmetic_carries_nanoseconds() {
        let t = add(
            Timespec {
                tv_sec: 1,
                tv_nsec: 900_000_000,
            },
            2,
            200_000_000,
        );
        assert_eq!((t.tv_sec, t.tv_nsec), (4, 100_000_000));
        let far = add(
            Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            },
            i64::MAX,
            0,
        );
        assert_eq!(far.tv_sec, i64::MAX);
    }
}
