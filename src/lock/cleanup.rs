//! Files to remove if a signal ends the process: the temp files of lock-file
//! creation (and, for tools that promise it, locks made so far).
//!
//! A [`Guard`] registers a path *and the identity (device, inode) of the
//! file we made there* for as long as it lives; the handler removes the name
//! only if it still refers to that file, so a lock someone else made in our
//! place is never touched. [`on_fatal_signals`]
//! installs handlers for every catchable signal whose default action ends
//! the process (unless the caller inherited it ignored, which is respected);
//! the handler unlinks what is registered, restores the default action and
//! raises the signal again, so the caller sees "killed by signal", as with
//! the C tools — which forget to clean up on signals they do not list.
//!
//! The registry is a list of fixed-size chunks of slots that are never
//! freed, so the handler only loads atomics and calls `lstat(2)` and
//! `unlink(2)`: async-signal-safe. A slot is reused once its guard drops,
//! so memory follows the number of files registered *at once* (one per
//! lock of a `lockfile a b c …` run), never the number of attempts.

use std::ffi::CString;
use std::path::Path;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use super::fs::FileId;

/// One registered file, as the handler sees it: `path` null when free.
struct Slot {
    path: AtomicPtr<libc::c_char>,
    dev: AtomicU64,
    ino: AtomicU64,
}

const CHUNK: usize = 16;

struct Chunk {
    slots: [Slot; CHUNK],
    next: AtomicPtr<Chunk>,
}

/// The first chunk; later ones hang off `next`. Chunks are leaked on
/// purpose: a handler may be walking them at any moment.
static HEAD: AtomicPtr<Chunk> = AtomicPtr::new(ptr::null_mut());

/// Free slots, and the last chunk (to append to). Only the main program
/// takes it, never the handler.
struct Registry {
    free: Vec<&'static Slot>,
    last: Option<&'static Chunk>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    free: Vec::new(),
    last: None,
});

impl Registry {
    fn take_slot(&mut self) -> &'static Slot {
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        let chunk: &'static Chunk = Box::leak(Box::new(Chunk {
            slots: std::array::from_fn(|_| Slot {
                path: AtomicPtr::new(ptr::null_mut()),
                dev: AtomicU64::new(0),
                ino: AtomicU64::new(0),
            }),
            next: AtomicPtr::new(ptr::null_mut()),
        }));
        let raw = ptr::from_ref(chunk).cast_mut();
        match self.last {
            Some(last) => last.next.store(raw, Ordering::SeqCst),
            None => HEAD.store(raw, Ordering::SeqCst),
        }
        self.last = Some(chunk);
        self.free.extend(chunk.slots[1..].iter().rev());
        &chunk.slots[0]
    }
}

/// Signals whose default action terminates the process and which a handler
/// can catch.
pub const FATAL_SIGNALS: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGABRT,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGUSR1,
    libc::SIGSEGV,
    libc::SIGUSR2,
    libc::SIGPIPE,
    libc::SIGALRM,
    libc::SIGTERM,
    libc::SIGSTKFLT,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGIO,
    libc::SIGPWR,
    libc::SIGSYS,
];

/// Keeps a file registered for removal on a fatal signal.
#[derive(Debug)]
pub struct Guard {
    slot: &'static Slot,
    /// Owns the string the slot points at (freed after the slot empties).
    _path: CString,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Slot")
    }
}

impl Guard {
    /// Remove `path` on a fatal signal if it is then still the file `id`.
    pub fn new(path: &Path, id: FileId) -> Guard {
        let path = super::fs::c_path(path);
        let slot = REGISTRY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take_slot();
        slot.dev.store(id.dev, Ordering::SeqCst);
        slot.ino.store(id.ino, Ordering::SeqCst);
        // Published last: the handler never sees a half-filled slot.
        slot.path.store(path.as_ptr().cast_mut(), Ordering::SeqCst);
        Guard { slot, _path: path }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Handlers run only on the main thread (every thread the core
        // starts blocks every signal, see `Deferred::all`), so a handler
        // that interrupts this drop either finished reading the string
        // before the slot empties or finds it empty; the string is freed
        // after (the fence keeps the compiler from moving the free up).
        self.slot.path.store(ptr::null_mut(), Ordering::SeqCst);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        REGISTRY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .free
            .push(self.slot);
    }
}

extern "C" fn on_fatal(sig: libc::c_int) {
    let mut chunk = HEAD.load(Ordering::SeqCst);
    // SAFETY: chunks are leaked and never freed; a non-null slot path points
    // at a string its guard frees only after nulling the slot with fatal
    // signals blocked. lstat and unlink are async-signal-safe.
    unsafe {
        while let Some(c) = chunk.as_ref() {
            for slot in &c.slots {
                let path = slot.path.load(Ordering::SeqCst);
                if path.is_null() {
                    continue;
                }
                let mut st: libc::stat = std::mem::zeroed();
                if libc::lstat(path, &mut st) == 0
                    && st.st_dev == slot.dev.load(Ordering::SeqCst)
                    && st.st_ino == slot.ino.load(Ordering::SeqCst)
                {
                    libc::unlink(path);
                }
            }
            chunk = c.next.load(Ordering::SeqCst);
        }
    }
    // SAFETY: signal and raise are async-signal-safe. The signal is blocked
    // while this handler runs, so it is delivered (with the default action)
    // as soon as the handler returns.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// Fatal signals held back (blocked) while it lives, and the signal mask
/// restored when it drops, so that one that came meanwhile is delivered
/// then. For the few steps between making a file and registering it with a
/// [`Guard`], or between taking one handler off a signal and installing
/// the next (a signal there would leave the file behind, or meet the
/// default action).
pub struct Deferred {
    old: libc::sigset_t,
}

impl Deferred {
    /// Hold back the fatal signals.
    pub fn new() -> Deferred {
        Deferred::block(|set| {
            for &sig in FATAL_SIGNALS {
                // SAFETY: a valid set and signal number.
                unsafe { libc::sigaddset(set, sig) };
            }
        })
    }

    /// Hold back every signal: for starting a thread or process that must
    /// never run one of our handlers (it inherits the mask).
    pub fn all() -> Deferred {
        Deferred::block(|set| {
            // SAFETY: a valid set.
            unsafe { libc::sigfillset(set) };
        })
    }

    fn block(fill: impl FnOnce(&mut libc::sigset_t)) -> Deferred {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset; the
        // mask calls get valid pointers.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            fill(&mut set);
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            Deferred { old }
        }
    }
}

impl Default for Deferred {
    fn default() -> Deferred {
        Deferred::new()
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        // SAFETY: restoring the mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, ptr::null_mut()) };
    }
}

/// The signals whose disposition is [`on_fatal`] (bit n: signal n), so that
/// putting the defaults back costs one system call per signal, not two.
static INSTALLED: AtomicU64 = AtomicU64::new(0);

/// Install the cleanup handler for every fatal signal that is not ignored
/// (a signal the caller ignores stays ignored, as with the C tools); see
/// [`installed`] for which got it.
pub fn on_fatal_signals() {
    // Installing and reading the old action is one call; an inherited
    // "ignore" is then put back. Held back meanwhile, so that an ignored
    // signal never meets our handler (it is discarded when unblocked).
    let _deferred = Deferred::new();
    for &sig in FATAL_SIGNALS {
        // SAFETY: installing dispositions with valid structs.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fatal as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, &sa, &mut old) != 0 {
                continue;
            }
            if old.sa_sigaction == libc::SIG_IGN {
                libc::sigaction(sig, &old, ptr::null_mut());
                continue;
            }
        }
        INSTALLED.fetch_or(1 << sig, Ordering::SeqCst);
    }
}

/// `sig` is being given another handler (see `noted`): no longer ours to
/// reset.
pub fn handed_over(sig: libc::c_int) {
    INSTALLED.fetch_and(!(1 << sig), Ordering::SeqCst);
}

/// The signals that have the cleanup handler now.
pub fn installed() -> Vec<libc::c_int> {
    let ours = INSTALLED.load(Ordering::SeqCst);
    FATAL_SIGNALS
        .iter()
        .copied()
        .filter(|&sig| ours & (1 << sig) != 0)
        .collect()
}

/// Ignore `sig` from now on (and in the commands we start).
pub fn ignore(sig: libc::c_int) {
    INSTALLED.fetch_and(!(1 << sig), Ordering::SeqCst);
    // SAFETY: SIG_IGN is a valid disposition for the catchable signals
    // callers pass.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// Put the default action back (before exec, or once nothing needs cleaning).
pub fn default_fatal_signals() {
    let ours = INSTALLED.swap(0, Ordering::SeqCst);
    for &sig in FATAL_SIGNALS {
        if ours & (1 << sig) != 0 {
            // SAFETY: SIG_DFL is a valid disposition for any signal.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks() -> usize {
        let mut n = 0;
        let mut c = HEAD.load(Ordering::SeqCst);
        // SAFETY: chunks are leaked and never freed.
        while let Some(chunk) = unsafe { c.as_ref() } {
            n += 1;
            c = chunk.next.load(Ordering::SeqCst);
        }
        n
    }

    #[test]
    fn slots_are_reused_so_memory_follows_what_is_registered_at_once() {
        let id = FileId { dev: 1, ino: 2 };
        let many: Vec<Guard> = (0..3 * CHUNK)
            .map(|i| Guard::new(Path::new(&format!("/nonexistent/{i}")), id))
            .collect();
        let peak = chunks();
        assert!(peak >= 3);
        drop(many);
        for round in 0..1000 {
            let a = Guard::new(Path::new("/nonexistent/a"), id);
            let b = Guard::new(Path::new(&format!("/nonexistent/b{round}")), id);
            drop((a, b));
        }
        assert_eq!(chunks(), peak, "no chunk added for short-lived guards");
    }
}
