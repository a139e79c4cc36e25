//! Running the command under the lock, and turning its end into an exit code.
//!
//! std's `Command` is not used on purpose: it empties the child's signal mask
//! and resets SIGPIPE, so a command run under the reference tools and under
//! lockkit would start differently (a script that ignores SIGPIPE, or a
//! supervisor that blocks signals, would notice). Here the child inherits
//! exactly what the tool inherited, as with fork+execvp in C, and the lock
//! descriptor unless asked to close it.
//!
//! The command starts with `posix_spawn` (glibc: `clone(CLONE_VM |
//! CLONE_VFORK)`, no copy of our page tables, no copy-on-write faults
//! afterwards), searching PATH exactly as glibc's `execvp` does — which is
//! what the reference tools call after fork: an empty PATH element is the
//! current directory, EACCES is remembered while the search goes on, and an
//! executable without a `#!` line (ENOEXEC) is run by /bin/sh, a fallback
//! glibc's `posix_spawnp` no longer makes. The C tools' "message from the
//! child, then `_exit(127)`" and our "exec error reported with the status"
//! look the same from outside.

use std::ffi::{CStr, CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions};

/// A command line ready to exec.
#[derive(Debug)]
pub struct Command {
    argv: Vec<CString>,
    close_in_child: Option<RawFd>,
    default_signals: Vec<libc::c_int>,
}

/// Why a command did not start: no process could be made (what a failed
/// fork is in the C tools, and is reported as).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    Fork(Errno),
}

/// A started command, or one that could not be executed.
#[derive(Debug)]
pub struct Child {
    pid: Option<Pid>,
    /// Why it never ran (then there is no process).
    exec_error: Option<Errno>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(u8),
    Signaled(i32),
    /// It never ran: exec failed with this error.
    ExecFailed(Errno),
}

impl Status {
    /// The shell's convention: the exit status, or 128 + the signal number.
    /// (An exec failure has no code of its own; tools choose one.)
    pub fn code(self) -> u8 {
        match self {
            Status::Exited(c) => c,
            Status::Signaled(s) => (128 + s) as u8,
            Status::ExecFailed(_) => 127,
        }
    }
}

fn errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

impl Command {
    /// `argv[0]` is the program, looked up in PATH. Arguments cannot hold a
    /// NUL byte (they come from argv or the environment); one that did would
    /// be cut there.
    pub fn new(argv: &[OsString]) -> Command {
        let argv = argv
            .iter()
            .map(|a| {
                let bytes = a.as_bytes();
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                CString::new(&bytes[..end]).unwrap_or_default()
            })
            .collect();
        Command {
            argv,
            close_in_child: None,
            default_signals: Vec::new(),
        }
    }

    /// Close this descriptor in the child before exec (`flock -o`).
    pub fn close_in_child(&mut self, fd: RawFd) -> &mut Self {
        self.close_in_child = Some(fd);
        self
    }

    /// Reset these signals to their default action in the child before exec
    /// (exec would anyway; this says so to posix_spawn, whose child must not
    /// run the parent's handlers, e.g. lock cleanup, before it execs).
    pub fn default_signals(&mut self, signals: &[libc::c_int]) -> &mut Self {
        self.default_signals = signals.to_vec();
        self
    }

    fn pointers(&self) -> Vec<*const libc::c_char> {
        self.argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    }

    /// Replace this process with the command (`flock -F`). Returns only on
    /// failure, with the reason.
    pub fn exec(&self) -> Errno {
        let argv = self.pointers();
        if argv.len() < 2 {
            return Errno::NOENT;
        }
        // SAFETY: argv is a NULL-terminated array of pointers into CStrings
        // that outlive the call.
        unsafe { libc::execvp(argv[0], argv.as_ptr()) };
        errno()
    }

    /// Start the command. An exec failure shows when the child is waited
    /// for, as [`Status::ExecFailed`].
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        reset_sigchld();
        let argv = self.pointers();
        if argv.len() < 2 {
            return Ok(Child::failed(Errno::NOENT));
        }
        // SAFETY: the attribute and file-action objects are initialised
        // before use and destroyed after; the signal set is filled by the
        // libc calls.
        unsafe {
            let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
            let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
            libc::posix_spawnattr_init(&mut attr);
            libc::posix_spawn_file_actions_init(&mut actions);
            // The default action for the signals we handle (glibc resets
            // every handled signal in the child anyway; this says so).
            let mut defaults: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut defaults);
            for &sig in &self.default_signals {
                libc::sigaddset(&mut defaults, sig);
            }
            internal_signals_as_exec_leaves_them(&mut defaults);
            libc::posix_spawnattr_setsigdefault(&mut attr, &defaults);
            libc::posix_spawnattr_setflags(&mut attr, libc::POSIX_SPAWN_SETSIGDEF as libc::c_short);
            if let Some(fd) = self.close_in_child {
                libc::posix_spawn_file_actions_addclose(&mut actions, fd);
            }
            let result = self.spawn_like_execvp(&argv, &attr, &actions);
            libc::posix_spawn_file_actions_destroy(&mut actions);
            libc::posix_spawnattr_destroy(&mut attr);
            match result {
                Ok(pid) => Ok(Child {
                    pid: Some(pid),
                    exec_error: None,
                }),
                // The process could not be made at all.
                Err(e @ (Errno::AGAIN | Errno::NOMEM)) => Err(SpawnError::Fork(e)),
                Err(e) => Ok(Child::failed(e)),
            }
        }
    }

    /// glibc's `execvp` search (posix/execvpe.c), each candidate started
    /// with `posix_spawn`.
    fn spawn_like_execvp(
        &self,
        argv: &[*const libc::c_char],
        attr: &libc::posix_spawnattr_t,
        actions: &libc::posix_spawn_file_actions_t,
    ) -> Result<Pid, Errno> {
        let file = self.argv[0].as_bytes();
        if file.is_empty() {
            return Err(Errno::NOENT);
        }
        if file.contains(&b'/') {
            return spawn_or_script(&self.argv[0], argv, attr, actions);
        }
        if file.len() > libc::NAME_MAX as usize {
            return Err(Errno::NAMETOOLONG);
        }
        let path = std::env::var_os("PATH");
        let path = path
            .as_deref()
            .map_or(&b"/bin:/usr/bin"[..], |p| p.as_bytes());
        let mut got_eacces = false;
        let mut last = Errno::NOENT;
        for dir in path.split(|&b| b == b':') {
            // An empty element is the current directory.
            let mut full = dir.to_vec();
            if !dir.is_empty() {
                full.push(b'/');
            }
            full.extend_from_slice(file);
            let Ok(full) = CString::new(full) else {
                continue;
            };
            match spawn_or_script(&full, argv, attr, actions) {
                Ok(pid) => return Ok(pid),
                Err(Errno::ACCESS) => {
                    got_eacces = true;
                    last = Errno::ACCESS;
                }
                Err(
                    e @ (Errno::NOENT
                    | Errno::STALE
                    | Errno::NOTDIR
                    | Errno::NODEV
                    | Errno::TIMEDOUT),
                ) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(if got_eacces { Errno::ACCESS } else { last })
    }
}

unsafe extern "C" {
    static environ: *const *const libc::c_char;
}

/// glibc's spawn child sets its two internal signals (32 and 33, used for
/// thread cancellation and set*id) to "ignore" unless they are in the
/// default set — and an ignored signal stays ignored across exec, so the
/// command would start differently than after fork+exec. Put each in the
/// default set unless we really inherited it ignored. (glibc's sigaddset
/// refuses these numbers, hence the raw bit and the raw system call.)
fn internal_signals_as_exec_leaves_them(defaults: &mut libc::sigset_t) {
    for sig in [32usize, 33] {
        // struct k_sigaction: the handler comes first.
        let mut old = [0u64; 4];
        // SAFETY: querying a disposition into a buffer larger than the
        // kernel's struct; the sigset is an array of 64-bit words on Linux.
        unsafe {
            let rc = libc::syscall(
                libc::SYS_rt_sigaction,
                sig as libc::c_long,
                std::ptr::null::<u64>(),
                old.as_mut_ptr(),
                8 as libc::c_long,
            );
            if rc == 0 && old[0] == libc::SIG_IGN as u64 {
                continue;
            }
            let words = (defaults as *mut libc::sigset_t).cast::<u64>();
            *words |= 1 << (sig - 1);
        }
    }
}

/// `posix_spawn` one path; a file the kernel cannot execute (no `#!`) is
/// run by /bin/sh as `sh path args…`, as glibc's `execvp` does.
fn spawn_or_script(
    path: &CStr,
    argv: &[*const libc::c_char],
    attr: &libc::posix_spawnattr_t,
    actions: &libc::posix_spawn_file_actions_t,
) -> Result<Pid, Errno> {
    let run = |path: &CStr, argv: &[*const libc::c_char]| {
        let mut pid: libc::pid_t = 0;
        // SAFETY: path is NUL-terminated, argv NULL-terminated and pointing
        // into live CStrings, environ is the process's environment.
        let rc = unsafe {
            libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                actions,
                attr,
                argv.as_ptr().cast(),
                environ.cast(),
            )
        };
        match rc {
            0 => Pid::from_raw(pid).ok_or(Errno::AGAIN),
            e => Err(Errno::from_raw_os_error(e)),
        }
    };
    match run(path, argv) {
        Err(Errno::NOEXEC) => {
            let sh = c"/bin/sh";
            let mut script = vec![sh.as_ptr(), path.as_ptr()];
            script.extend_from_slice(&argv[1..]);
            run(sh, &script)
        }
        other => other,
    }
}

impl Child {
    fn failed(e: Errno) -> Child {
        Child {
            pid: None,
            exec_error: Some(e),
        }
    }

    /// The command's process (none if it could not be executed).
    pub fn pid(&self) -> Option<Pid> {
        self.pid
    }

    /// Why the command could not be executed, if it could not.
    pub fn exec_error(&self) -> Option<Errno> {
        self.exec_error
    }

    /// Wait for the command to end (retrying on EINTR).
    pub fn wait(&self) -> Result<Status, Errno> {
        loop {
            if let Some(status) = self.poll(WaitOptions::empty())? {
                return Ok(status);
            }
        }
    }

    /// Its status if it has ended, without blocking.
    pub fn try_wait(&self) -> Result<Option<Status>, Errno> {
        self.poll(WaitOptions::NOHANG)
    }

    fn poll(&self, options: WaitOptions) -> Result<Option<Status>, Errno> {
        let Some(pid) = self.pid else {
            return Ok(self.exec_error.map(Status::ExecFailed));
        };
        match rustix::process::waitpid(Some(pid), options) {
            Ok(Some((_, st))) => {
                if let Some(code) = st.exit_status() {
                    return Ok(Some(Status::Exited(code as u8)));
                }
                Ok(st.terminating_signal().map(Status::Signaled))
            }
            Ok(None) | Err(Errno::INTR) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// An inherited "ignore SIGCHLD" would make the kernel reap the child itself
/// and `waitpid` fail; restore the default first, as util-linux does. A
/// handler (the supervisor's) is left in place.
fn reset_sigchld() {
    if super::noted::is_ignored(libc::SIGCHLD) {
        // SAFETY: SIG_DFL is always a valid disposition for SIGCHLD.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    }
}
