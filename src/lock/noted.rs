//! Signals that are *noted* rather than acted on in the handler: each sets a
//! flag and wakes a self-pipe, which a waiter polls next to its other
//! descriptors (inotify, pidfds). The tools then decide: lockfile gives up
//! with "Signal received", dotlock's command mode passes the signal on.
//!
//! signal-hook does the registration. Its handlers chain to whatever was
//! installed before, so a signal's lock-phase cleanup handler is taken off
//! first; a signal inherited as ignored is left ignored, as the C tools do.

use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::pipe::PipeFlags;

/// Signals being noted.
#[derive(Debug)]
pub struct Noted {
    flags: Vec<(libc::c_int, Arc<AtomicBool>)>,
    /// The write end of the self-pipe, for the handlers; -1 until a wait
    /// needs the pipe. Until then a signal only sets its flag: a run that
    /// never waits (a free lock) must not spend two descriptors on it —
    /// procmail's lockfile takes a free lock under `ulimit -n 5`.
    wake_wr: Arc<AtomicI32>,
    /// The read end, made by the first wait.
    wake: OnceLock<OwnedFd>,
}

/// Was `sig` ignored when we inherited it?
pub fn is_ignored(sig: libc::c_int) -> bool {
    // SAFETY: querying a disposition into a zeroed struct (rustix has no
    // stable sigaction).
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Write one byte to `fd` (a self-pipe's write end that is never closed).
/// Async-signal-safe: one write(2), errno kept by signal-hook.
fn poke(fd: RawFd) {
    // SAFETY: the write end lives as long as the process (see `pipe`).
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = rustix::io::write(fd, &[0u8]);
}

impl Noted {
    /// Note `signals` (those not inherited ignored) from now on.
    pub fn install(signals: &[libc::c_int]) -> Noted {
        let mut flags = Vec::new();
        let wake_wr = Arc::new(AtomicI32::new(-1));
        // Held back while each signal changes hands: one that came between
        // the reset below and signal-hook's handler met the default action
        // — in dotlock's command mode, dying with the lock left behind. It
        // is delivered, and noted, once this drops.
        let _deferred = super::cleanup::Deferred::new();
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
            let wr = Arc::clone(&wake_wr);
            // One handler per signal: set the flag, wake the pipe if a wait
            // made one. (Not signal-hook's flag + pipe pair: that is two
            // registrations and a duplicated descriptor per signal, a third
            // of a dotlock's start-up system calls.)
            // SAFETY: the action only touches atomics and writes to a pipe
            // (async-signal-safe; signal-hook keeps errno).
            let registered = unsafe {
                signal_hook::low_level::register(sig, move || {
                    noted.store(true, Ordering::SeqCst);
                    let fd = wr.load(Ordering::SeqCst);
                    if fd >= 0 {
                        poke(fd);
                    }
                })
            }
            .is_ok();
            if registered {
                flags.push((sig, flag));
            }
        }
        Noted {
            flags,
            wake_wr,
            wake: OnceLock::new(),
        }
    }

    /// The self-pipe's read end, made now if this is the first wait; `None`
    /// if no pipe can be had (out of descriptors).
    fn pipe(&self) -> Option<&OwnedFd> {
        if let Some(fd) = self.wake.get() {
            return Some(fd);
        }
        let (rd, wr) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).ok()?;
        // Short of descriptors, wait without it rather than take what the
        // lock work needs: a poll is still cut short (EINTR) by a handler,
        // and a signal that comes just before it is seen at the next wake.
        if !super::wait::leaves_reserve(&wr) {
            return None;
        }
        // The handlers may use the write end from now until the process
        // ends, so it is never closed.
        let wr = wr.into_raw_fd();
        self.wake_wr.store(wr, Ordering::SeqCst);
        // A signal noted before the store set only its flag: make the pipe
        // say so too, so that a poll on it cannot miss it. (One after the
        // store writes for itself; a second byte is harmless.)
        if self.pending() {
            poke(wr);
        }
        Some(self.wake.get_or_init(|| rd))
    }

    /// Has a noted signal arrived that is not yet taken?
    fn pending(&self) -> bool {
        self.flags.iter().any(|(_, f)| f.load(Ordering::SeqCst))
    }

    /// The signals that are being noted.
    pub fn signals(&self) -> Vec<libc::c_int> {
        self.flags.iter().map(|(s, _)| *s).collect()
    }

    /// A descriptor that becomes readable when a noted signal arrives (made
    /// by the first call: only a wait needs it).
    pub fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        self.pipe().map(|w| w.as_fd())
    }

    /// An owned copy of [`Noted::wake_fd`], for a [`super::wait::Waiter`].
    pub fn wake_fd_owned(&self) -> Option<OwnedFd> {
        self.pipe()
            .and_then(|w| w.try_clone().ok())
            .filter(super::wait::leaves_reserve)
    }

    /// The signals that arrived since the last call (clearing them).
    pub fn take(&self) -> Vec<libc::c_int> {
        if let Some(fd) = self.wake.get() {
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
        let end = Instant::now().checked_add(d);
        let pipe = self.pipe();
        loop {
            let left = end.map_or(d, |e| e.saturating_duration_since(Instant::now()));
            if left.is_zero() || self.pending() {
                return;
            }
            let timeout = rustix::time::Timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            // Without a pipe, a poll of nothing still ends with EINTR when
            // a handler runs (poll is never restarted).
            let mut fds: Vec<PollFd<'_>> = pipe
                .into_iter()
                .map(|w| PollFd::new(w, PollFlags::IN))
                .collect();
            match rustix::event::poll(&mut fds, Some(&timeout)) {
                Ok(n) if n > 0 => return,
                _ => {}
            }
        }
    }
}

impl Drop for Noted {
    fn drop(&mut self) {
        // signal-hook's handlers stay registered for the rest of the process
        // and write to the pipe whenever a noted signal comes. Closing the
        // read end would turn a signal that comes after this (while the
        // tool exits) into a write to a pipe without readers: SIGPIPE,
        // which then killed dotlock or, where SIGPIPE is itself noted, made
        // its handler raise it again and again. So the read end is kept
        // open until the process exits.
        if let Some(fd) = self.wake.take() {
            std::mem::forget(fd);
        }
    }
}
