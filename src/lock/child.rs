//! Running the command under the lock, and turning its end into an exit code.
//!
//! std's `Command` is not used on purpose: it empties the child's signal mask
//! and resets SIGPIPE, so a command run under the reference tools and under
//! lockkit would start differently (a script that ignores SIGPIPE, or a
//! supervisor that blocks signals, would notice). Here the child inherits
//! exactly what the tool inherited, as with fork+execvp in C, and the lock
//! descriptor unless asked to close it.
//!
//! `execvp` is glibc's: it searches PATH and runs an executable without a
//! `#!` line through /bin/sh, as the reference tools do. Only the child
//! calls it, so the C tools' "message from the child, then `_exit`" and our
//! "exec error reported with the status" look the same from outside.

use std::ffi::{CString, OsString};
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

/// Why a command did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    Fork(Errno),
}

/// A started command.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    /// A page shared with the child, where it leaves errno if exec fails.
    report: ExecReport,
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

/// One shared anonymous page: the child writes its exec errno there before
/// `_exit`; the parent reads it once the child has been reaped. Unlike the
/// usual close-on-exec pipe this needs no file descriptors, so a command
/// still starts where util-linux's would under a tight `ulimit -n`.
#[derive(Debug)]
struct ExecReport {
    page: *mut libc::c_int,
}

const PAGE: usize = 4096;

impl ExecReport {
    fn new() -> Result<ExecReport, Errno> {
        // SAFETY: a fresh anonymous shared mapping; nothing aliases it.
        let page = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                PAGE,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
            )?
        };
        Ok(ExecReport { page: page.cast() })
    }

    /// In the child, after a failed exec.
    fn set(&self, errno: libc::c_int) {
        // SAFETY: the page is mapped, writable and int-aligned.
        unsafe { std::ptr::write_volatile(self.page, errno) };
    }

    /// In the parent, after the child was reaped.
    fn get(&self) -> Option<Errno> {
        // SAFETY: as above; the child has exited, so no concurrent write.
        let e = unsafe { std::ptr::read_volatile(self.page) };
        (e != 0).then(|| Errno::from_raw_os_error(e))
    }
}

impl Drop for ExecReport {
    fn drop(&mut self) {
        // SAFETY: unmapping the page mapped in `new`, once.
        let _ = unsafe { rustix::mm::munmap(self.page.cast(), PAGE) };
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
    /// (exec would anyway; this closes the window between fork and exec in
    /// which the parent's handlers, e.g. lock cleanup, could run there).
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

    /// Fork and exec. An exec failure shows when the child is waited for,
    /// as [`Status::ExecFailed`].
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        let argv = self.pointers();
        reset_sigchld();
        let report = ExecReport::new().map_err(SpawnError::Fork)?;
        // SAFETY: the process is single-threaded; the child only calls
        // async-signal-safe functions (signal, close, execvp, _exit) on data
        // prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(SpawnError::Fork(errno()));
        }
        if pid == 0 {
            // SAFETY: see above.
            unsafe {
                for &sig in &self.default_signals {
                    libc::signal(sig, libc::SIG_DFL);
                }
                if let Some(fd) = self.close_in_child {
                    libc::close(fd);
                }
                if argv.len() < 2 {
                    report.set(libc::ENOENT);
                } else {
                    libc::execvp(argv[0], argv.as_ptr());
                    report.set(*libc::__errno_location());
                }
                libc::_exit(127);
            }
        }
        Ok(Child {
            pid: Pid::from_raw(pid).ok_or(SpawnError::Fork(Errno::AGAIN))?,
            report,
        })
    }
}

impl Child {
    pub fn pid(&self) -> Pid {
        self.pid
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
        match rustix::process::waitpid(Some(self.pid), options) {
            Ok(Some((_, st))) => {
                if let Some(e) = self.report.get() {
                    return Ok(Some(Status::ExecFailed(e)));
                }
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
/// and `waitpid` fail; restore the default first, as util-linux does.
fn reset_sigchld() {
    // SAFETY: SIG_DFL is always a valid disposition for SIGCHLD.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}
