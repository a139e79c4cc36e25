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
//! `#!` line through /bin/sh, as the reference tools do.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, RawFd};
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
    Exec(Errno),
}

/// A started command.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(u8),
    Signaled(i32),
}

impl Status {
    /// The shell's convention: the exit status, or 128 + the signal number.
    pub fn code(self) -> u8 {
        match self {
            Status::Exited(c) => c,
            Status::Signaled(s) => (128 + s) as u8,
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

    /// Fork and exec. An exec failure is reported here (through a
    /// close-on-exec pipe), not as the child's exit status.
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        let argv = self.pointers();
        if argv.len() < 2 {
            return Err(SpawnError::Exec(Errno::NOENT));
        }
        reset_sigchld();
        let (rd, wr) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(SpawnError::Fork)?;
        // SAFETY: the process is single-threaded; the child only calls
        // async-signal-safe functions (close, execvp, write, _exit) on data
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
                libc::execvp(argv[0], argv.as_ptr());
                let e = *libc::__errno_location();
                let bytes = e.to_ne_bytes();
                libc::write(wr.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
                libc::_exit(127);
            }
        }
        drop(wr);
        let child = Child {
            pid: Pid::from_raw(pid).ok_or(SpawnError::Fork(Errno::AGAIN))?,
        };
        let mut buf = [0u8; 4];
        let mut got = 0;
        while got < buf.len() {
            match rustix::io::read(&rd, &mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(Errno::INTR) => {}
                Err(_) => break,
            }
        }
        if got == buf.len() {
            // The child could not exec and has exited: reap it.
            let _ = child.wait();
            return Err(SpawnError::Exec(Errno::from_raw_os_error(
                i32::from_ne_bytes(buf),
            )));
        }
        Ok(child)
    }
}

impl Child {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Wait for the command to end (retrying on EINTR).
    pub fn wait(&self) -> Result<Status, Errno> {
        loop {
            match rustix::process::waitpid(Some(self.pid), WaitOptions::empty()) {
                Ok(Some((_, st))) => {
                    if let Some(code) = st.exit_status() {
                        return Ok(Status::Exited(code as u8));
                    }
                    if let Some(sig) = st.terminating_signal() {
                        return Ok(Status::Signaled(sig));
                    }
                }
                Ok(None) => {}
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// An inherited "ignore SIGCHLD" would make the kernel reap the child itself
/// and `waitpid` fail; restore the default first, as util-linux does.
fn reset_sigchld() {
    // SAFETY: SIG_DFL is always a valid disposition for SIGCHLD.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}
