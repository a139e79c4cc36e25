//! Files to remove if a signal ends the process: the temp files of lock-file
//! creation (and, for tools that promise it, locks made so far).
//!
//! A [`Guard`] registers a path for as long as it lives. [`on_fatal_signals`]
//! installs handlers for every catchable signal whose default action ends
//! the process (unless the caller inherited it ignored, which is respected);
//! the handler unlinks what is registered, restores the default action and
//! raises the signal again, so the caller sees "killed by signal", as with
//! the C tools — which forget to clean up on signals they do not list.
//!
//! The registry is a copy-on-write array behind an atomic pointer, so the
//! handler only loads a pointer and calls `unlink(2)`: async-signal-safe.
//! Superseded arrays are leaked; there are a handful per run.

use std::ffi::CString;
use std::path::Path;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, Ordering};

/// A NULL-terminated array of C strings.
type Snapshot = Vec<*const libc::c_char>;

static CURRENT: AtomicPtr<*const libc::c_char> = AtomicPtr::new(ptr::null_mut());
/// Owned paths behind the pointers (never freed while registered).
static PATHS: Mutex<Vec<(u64, CString)>> = Mutex::new(Vec::new());
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

/// Publish the current set of paths for the handler.
fn publish(paths: &[(u64, CString)]) {
    let mut snap: Snapshot = paths.iter().map(|(_, c)| c.as_ptr()).collect();
    snap.push(ptr::null());
    let leaked = Box::leak(snap.into_boxed_slice());
    CURRENT.store(leaked.as_mut_ptr(), Ordering::SeqCst);
}

/// Keeps a path registered for removal on a fatal signal.
#[derive(Debug)]
pub struct Guard {
    id: u64,
}

impl Guard {
    pub fn new(path: &Path) -> Guard {
        let c = super::dotfile::c_path(path);
        let id = {
            let mut n = NEXT_ID.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        let mut paths = PATHS.lock().unwrap_or_else(|e| e.into_inner());
        paths.push((id, c));
        publish(&paths);
        Guard { id }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut paths = PATHS.lock().unwrap_or_else(|e| e.into_inner());
        // Publish the smaller set before freeing the string.
        let removed: Vec<(u64, CString)> = {
            let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *paths)
                .into_iter()
                .partition(|(i, _)| *i == self.id);
            *paths = kept;
            gone
        };
        publish(&paths);
        // The handler may still be reading an older snapshot that points at
        // the string; keep it alive (leak) rather than risk a dangling read.
        std::mem::forget(removed);
    }
}

extern "C" fn on_fatal(sig: libc::c_int) {
    let list = CURRENT.load(Ordering::SeqCst);
    if !list.is_null() {
        let mut i = 0;
        // SAFETY: `list` is a leaked, NULL-terminated array of pointers to
        // leaked-or-live C strings; unlink is async-signal-safe.
        unsafe {
            loop {
                let p = *list.add(i);
                if p.is_null() {
                    break;
                }
                libc::unlink(p);
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

/// Install the cleanup handler for every fatal signal that is not ignored
/// (a signal the caller ignores stays ignored, as with the C tools), and
/// return the signals that got it.
pub fn on_fatal_signals() -> Vec<libc::c_int> {
    let mut installed = Vec::new();
    for &sig in FATAL_SIGNALS {
        // SAFETY: querying and installing dispositions with valid structs.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, ptr::null(), &mut old) != 0 || old.sa_sigaction == libc::SIG_IGN
            {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fatal as *const () as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(sig, &sa, ptr::null_mut()) == 0 {
                installed.push(sig);
            }
        }
    }
    installed
}

/// Put the default action back (before exec, or once nothing needs cleaning).
pub fn default_fatal_signals() {
    for &sig in FATAL_SIGNALS {
        // SAFETY: querying and restoring dispositions with valid structs.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, ptr::null(), &mut old) == 0
                && old.sa_sigaction == on_fatal as *const () as libc::sighandler_t
            {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}
