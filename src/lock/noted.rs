//! Signals that are *noted* rather than acted on in the handler: each sets a
//! flag and wakes a self-pipe, which a waiter polls next to its other
//! descriptors (inotify, pidfds). The tools then decide: lockfile gives up
//! with "Signal received", dotlock's command mode passes the signal on.
//!
//! The handler is our own (one `sigaction` per signal, which also tells
//! whether the signal was inherited ignored: then it is left ignored, as
//! the C tools do). It replaces the lock-phase cleanup handler of the
//! signal. It only sets a flag and, once a wait has made the self-pipe,
//! writes a byte to it: async-signal-safe.

use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::pipe::PipeFlags;

/// Signals being noted.
#[derive(Debug)]
pub struct Noted {
    signals: Vec<libc::c_int>,
}

/// One flag per signal number, set by [`on_noted`].
static ARRIVED: [AtomicBool; 65] = [const { AtomicBool::new(false) }; 65];

/// The write end of the self-pipe, for the handler; -1 until a wait needs
/// the pipe. Until then a signal only sets its flag: a run that never waits
/// (a free lock) must not spend two descriptors on it — procmail's lockfile
/// takes a free lock under `ulimit -n 5`. Never closed once made: a handler
/// may write to it until the process ends.
static WAKE_WR: AtomicI32 = AtomicI32::new(-1);

/// The read end, made by the first wait. Kept open until the process
/// exits: closing it would turn a late signal's write into SIGPIPE.
static WAKE_RD: OnceLock<OwnedFd> = OnceLock::new();

extern "C" fn on_noted(sig: libc::c_int) {
    // SAFETY: errno is thread-local; it is restored so that the code the
    // signal interrupted sees its own.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(flag) = usize::try_from(sig).ok().and_then(|s| ARRIVED.get(s)) {
        flag.store(true, Ordering::SeqCst);
    }
    let fd = WAKE_WR.load(Ordering::SeqCst);
    if fd >= 0 {
        poke(fd);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
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

/// Write one byte to `fd` (the self-pipe's write end, never closed).
/// Async-signal-safe: one write(2).
fn poke(fd: RawFd) {
    // SAFETY: the write end lives as long as the process (see `WAKE_WR`).
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = rustix::io::write(fd, &[0u8]);
}

/// Put [`on_noted`] on `sig`, unless it was inherited ignored (then it
/// stays ignored): one `sigaction`, whose old action says which.
fn install_handler(sig: libc::c_int) -> bool {
    // SAFETY: installing a disposition with a valid struct; the handler is
    // async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_noted as *const () as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &sa, &mut old) != 0 {
            return false;
        }
        if old.sa_sigaction == libc::SIG_IGN {
            libc::sigaction(sig, &old, std::ptr::null_mut());
            return false;
        }
    }
    true
}

impl Noted {
    /// Note `signals` (those not inherited ignored) from now on.
    pub fn install(signals: &[libc::c_int]) -> Noted {
        // Held back while each signal changes hands, so that none meets a
        // half-made disposition; one that came meanwhile is delivered, and
        // noted, once this drops.
        let _deferred = super::cleanup::Deferred::new();
        let signals = signals
            .iter()
            .copied()
            .filter(|&sig| {
                let ours = install_handler(sig);
                if ours {
                    super::cleanup::handed_over(sig);
                }
                ours
            })
            .collect();
        Noted { signals }
    }

    /// The self-pipe's read end, made now if this is the first wait; `None`
    /// if no pipe can be had (out of descriptors).
    fn pipe(&self) -> Option<&'static OwnedFd> {
        if let Some(fd) = WAKE_RD.get() {
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
        WAKE_WR.store(wr, Ordering::SeqCst);
        // A signal noted before the store set only its flag: make the pipe
        // say so too, so that a poll on it cannot miss it. (One after the
        // store writes for itself; a second byte is harmless.)
        if self.pending() {
            poke(wr);
        }
        Some(WAKE_RD.get_or_init(|| rd))
    }

    /// Has a noted signal arrived that is not yet taken?
    fn pending(&self) -> bool {
        self.signals.iter().any(|&s| flag(s).load(Ordering::SeqCst))
    }

    /// The signals that are being noted.
    pub fn signals(&self) -> Vec<libc::c_int> {
        self.signals.clone()
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
        if let Some(fd) = WAKE_RD.get() {
            let mut buf = [0u8; 64];
            while matches!(rustix::io::read(fd.as_fd(), &mut buf), Ok(n) if n > 0) {}
        }
        self.signals
            .iter()
            .copied()
            .filter(|&s| flag(s).swap(false, Ordering::SeqCst))
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

fn flag(sig: libc::c_int) -> &'static AtomicBool {
    // Noted signals are valid signal numbers (1..=64).
    &ARRIVED[usize::try_from(sig).unwrap_or(0).min(64)]
}
