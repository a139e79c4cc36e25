//! Standard output and error with the C library's buffering and util-linux's
//! exit-time checks, because scripts see the difference.
//!
//! * stdout is line-buffered on a terminal and otherwise held until exit, so
//!   `flock --verbose lock cmd | cat` prints the command's output *before*
//!   flock's own lines, and an `exec` (`flock -F`) discards what was pending.
//! * stderr is unbuffered.
//! * At exit, for tools that check (util-linux's close_stdout), a failed
//!   stdout write is reported as `<prog>: write error…` and turns the exit
//!   code into 1 (EPIPE and a closed stdout are fine); an earlier failed
//!   stderr write turns it into 1 silently.

use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;

use rustix::io::Errno;

use crate::error::strerror;

/// The process's stdout/stderr, owned by `main` and lent to the tool.
#[derive(Debug)]
pub struct Stdio {
    pending: Vec<u8>,
    /// Decided at the first write, as C's stdio does (and so no system
    /// call for a run that writes nothing).
    line_buffered: Option<bool>,
    /// A write to stdout failed before exit (C's `ferror(stdout)`).
    out_failed: bool,
    /// A write to stderr failed (C's `ferror(stderr)`).
    err_failed: bool,
}

impl Default for Stdio {
    fn default() -> Self {
        Self::new()
    }
}

impl Stdio {
    pub fn new() -> Stdio {
        Stdio {
            pending: Vec::new(),
            line_buffered: None,
            out_failed: false,
            err_failed: false,
        }
    }

    /// Write to stdout, buffered as C's stdio would.
    pub fn out(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let complete = self.pending.iter().rposition(|&b| b == b'\n');
        let line_buffered = *self
            .line_buffered
            .get_or_insert_with(|| rustix::termios::isatty(stdout_fd()));
        if let Some(end) = complete.filter(|_| line_buffered) {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if write_all(stdout_fd(), &line).is_err() {
                self.out_failed = true;
            }
        }
    }

    /// Write to stderr at once.
    pub fn err(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() && write_all(stderr_fd(), bytes).is_err() {
            self.err_failed = true;
        }
    }

    /// Flush before the process ends and return the exit code to use:
    /// `code`, or 1 when the output could not be written.
    pub fn finish(&mut self, prog: &OsStr, code: u8) -> u8 {
        let pending = std::mem::take(&mut self.pending);
        let mut code = code;
        if self.out_failed {
            self.write_error(prog, None);
            code = 1;
        } else {
            // util-linux also dups and closes the descriptor, to catch errors
            // that only close reports (NFS); a full descriptor table fails it.
            match write_all(stdout_fd(), &pending).and_then(|()| dup_close(stdout_fd())) {
                Ok(()) | Err(Errno::BADF) | Err(Errno::PIPE) => {}
                Err(e) => {
                    self.write_error(prog, Some(e));
                    code = 1;
                }
            }
        }
        let stderr_ok =
            !self.err_failed && !matches!(dup_close(stderr_fd()), Err(e) if e != Errno::BADF);
        if stderr_ok { code } else { 1 }
    }

    /// Forget buffered stdout, as a C program's `_exit` does.
    pub fn discard(&mut self) {
        self.pending.clear();
    }

    /// Flush before the process ends, ignoring errors, as C programs that do
    /// not check their streams at exit behave.
    pub fn finish_unchecked(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let _ = write_all(stdout_fd(), &pending);
    }

    fn write_error(&mut self, prog: &OsStr, errno: Option<Errno>) {
        let mut line = prog.as_bytes().to_vec();
        line.extend_from_slice(b": write error");
        if let Some(e) = errno {
            line.extend_from_slice(b": ");
            line.extend_from_slice(strerror(e).as_bytes());
        }
        line.push(b'\n');
        self.err(&line);
    }
}

fn stdout_fd() -> BorrowedFd<'static> {
    rustix::stdio::stdout()
}

fn stderr_fd() -> BorrowedFd<'static> {
    rustix::stdio::stderr()
}

/// `close(dup(fd))`: what util-linux's exit-time check does after flushing,
/// with the close's own error (not the silent close of a dropped fd).
fn dup_close(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    crate::lock::sys::close(rustix::io::fcntl_dupfd_cloexec(fd, 0)?)
}

pub use crate::lock::fs::write_all;
