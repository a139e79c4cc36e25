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
//! The registry is a copy-on-write array behind an atomic pointer, so the
//! handler only loads a pointer and calls `lstat(2)` and `unlink(2)`:
//! async-signal-safe. Superseded arrays and their strings are leaked (a
//! handler may still be reading them); there are a handful per run.

use std::ffi::CString;
use std::path::Path;
use std::ptr;
use std::sync::Mutex;

use super::dotfile::FileId;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// One registered file, as the handler sees it.
#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    path: *const libc::c_char,
    dev: u64,
    ino: u64,
}

/// The handler's view: an array ending with a null `path`.
static CURRENT: AtomicPtr<Entry> = AtomicPtr::new(ptr::null_mut());
/// The registered files (guard id, path, identity).
static PATHS: Mutex<Vec<(u64, &'static CString, FileId)>> = Mutex::new(Vec::new());
static NEXT_ID: Mutex<u64> = Mutex::new(0);

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

/// Publish the current set for the handler.
fn publish(paths: &[(u64, &'static CString, FileId)]) {
    let mut snap: Vec<Entry> = paths
        .iter()
        .map(|(_, c, id)| Entry {
            path: c.as_ptr(),
            dev: id.dev,
            ino: id.ino,
        })
        .collect();
    snap.push(Entry {
        path: ptr::null(),
        dev: 0,
        ino: 0,
    });
    let leaked = Box::leak(snap.into_boxed_slice());
    CURRENT.store(leaked.as_mut_ptr(), Ordering::SeqCst);
}

/// Keeps a file registered for removal on a fatal signal.
#[derive(Debug)]
pub struct Guard {
    id: u64,
}

impl Guard {
    /// Remove `path` on a fatal signal if it is then still the file `id`.
    pub fn new(path: &Path, id: FileId) -> Guard {
        let c: &'static CString = Box::leak(Box::new(super::dotfile::c_path(path)));
        let guard = {
            let mut n = NEXT_ID.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        let mut paths = PATHS.lock().unwrap_or_else(|e| e.into_inner());
        paths.push((guard, c, id));
        publish(&paths);
        Guard { id: guard }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut paths = PATHS.lock().unwrap_or_else(|e| e.into_inner());
        paths.retain(|(g, _, _)| *g != self.id);
        publish(&paths);
    }
}

extern "C" fn on_fatal(sig: libc::c_int) {
    let list = CURRENT.load(Ordering::SeqCst);
    if !list.is_null() {
        let mut i = 0;
        // SAFETY: `list` is a leaked array of entries ending with a null
        // path, pointing at leaked C strings; lstat and unlink are
        // async-signal-safe.
        unsafe {
            loop {
                let e = *list.add(i);
                if e.path.is_null() {
                    break;
                }
                let mut st: libc::stat = std::mem::zeroed();
                if libc::lstat(e.path, &mut st) == 0 && st.st_dev == e.dev && st.st_ino == e.ino {
                    libc::unlink(e.path);
                }
                i += 1;
            }
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
/// the next (issue 7: a signal there left a file behind, or met the default
/// action).
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
