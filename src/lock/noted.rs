//! Signals that are *noted* rather than acted on in the handler: each sets a
//! flag and wakes a self-pipe, which a waiter polls next to its other
//! descriptors (inotify, pidfds). The tools then decide: lockfile gives up
//! with "Signal received", dotlock's command mode passes the signal on.
//!
//! signal-hook does the registration. Its handlers chain to whatever was
//! installed before, so a signal's lock-phase cleanup handler is taken off
//! first; a signal inherited as ignored is left ignored, as the C tools do.

use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::pipe::PipeFlags;

/// Signals being noted.
#[derive(Debug)]
pub struct Noted {
    flags: Vec<(libc::c_int, Arc<AtomicBool>)>,
    wake: Option<OwnedFd>,
}

/// Was `sig` ignored when we inherited it?
pub fn is_ignored(sig: libc::c_int) -> bool {
    // SAFETY: querying a disposition into a zeroed struct.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

impl Noted {
    /// Note `signals` (those not inherited ignored) from now on.
    pub fn install(signals: &[libc::c_int]) -> Noted {
        let mut flags = Vec::new();
        let Ok((rd, wr)) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK) else {
            return Noted { flags, wake: None };
        };
        // Held back while each signal changes hands (issue 7): one that
        // came between the reset below and signal-hook's handler met the
        // default action — in dotlock's command mode, dying with the lock
        // left behind. It is delivered, and noted, once this drops.
        let _deferred = super::cleanup::Deferred::new();
        // The handlers stay registered for the rest of the process, so the
        // write end they use is never closed.
        let wake = wr.into_raw_fd();
        for &sig in signals {
            if is_ignored(sig) {
                continue;
            }
            // SAFETY: resetting a disposition, so signal-hook does not chain
            // to the cleanup handler.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
            super::cleanup::handed_over(sig);
            let flag = Arc::new(AtomicBool::new(false));
            let noted = Arc::clone(&flag);
            // One handler per signal: set the flag, wake the pipe. (Not
            // signal-hook's flag + pipe pair: that is two registrations and
            // a duplicated descriptor per signal, a third of a dotlock's
            // start-up system calls.)
            // SAFETY: the action only stores to an atomic and writes to a
            // pipe (async-signal-safe; signal-hook keeps errno). The write
            // end lives as long as the process (see below).
            let registered = unsafe {
                signal_hook::low_level::register(sig, move || {
                    noted.store(true, Ordering::SeqCst);
                    libc::write(wake, [0u8].as_ptr().cast(), 1);
                })
            }
            .is_ok();
            if registered {
                flags.push((sig, flag));
            }
        }
        Noted {
            flags,
            wake: Some(rd),
        }
    }

    /// The signals that are being noted.
    pub fn signals(&self) -> Vec<libc::c_int> {
        self.flags.iter().map(|(s, _)| *s).collect()
    }

    /// A descriptor that becomes readable when a noted signal arrives.
    pub fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        self.wake.as_ref().map(|w| w.as_fd())
    }

    /// An owned copy of [`Noted::wake_fd`], for a [`super::wait::Waiter`].
    pub fn wake_fd_owned(&self) -> Option<OwnedFd> {
        self.wake.as_ref().and_then(|w| w.try_clone().ok())
    }

    /// The signals that arrived since the last call (clearing them).
    pub fn take(&self) -> Vec<libc::c_int> {
        if let Some(fd) = &self.wake {
            let mut buf = [0u8; 64];
            while matches!(rustix::io::read(fd.as_fd(), &mut buf), Ok(n) if n > 0) {}
        }
        self.flags
            .iter()
            .filter(|(_, f)| f.swap(false, Ordering::SeqCst))
            .map(|(s, _)| *s)
            .collect()
    }

    /// Sleep, cut short by a noted signal (which stays to be taken).
    pub fn sleep(&self, d: Duration) {
        let timeout = rustix::time::Timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(d.subsec_nanos()),
        };
        match &self.wake {
            Some(w) => {
                let mut fds = [PollFd::new(w, PollFlags::IN)];
                let _ = rustix::event::poll(&mut fds, Some(&timeout));
            }
            None => std::thread::sleep(d),
        }
    }
}

impl Drop for Noted {
    fn drop(&mut self) {
        // signal-hook's handlers stay registered for the rest of the process
        // and write to the pipe whenever a noted signal comes. Closing the
        // read end would turn a signal that comes after this (while the
        // tool exits) into a write to a pipe without readers: SIGPIPE,
        // which then killed dotlock (seen in signal storms, issue 7) or,
        // where SIGPIPE is itself noted, made its handler raise it again
        // and again. So the read end is kept open until the process exits.
        if let Some(fd) = self.wake.take() {
            std::mem::forget(fd);
        }
    }
}
