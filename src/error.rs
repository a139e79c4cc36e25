//! The one error type of the suite.
//!
//! Every tool reports failure the same way: an [`Error`] carrying the exact
//! bytes to print on stderr (possibly none) and the process exit code. The
//! code space is the tool's own (sysexits for `flock` and `lockfile`,
//! liblockfile's 0–8 for `dotlock`), so the error is built by the front end
//! that knows it, and `main` only prints and exits.

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;

use rustix::io::Errno;

/// `<sysexits.h>` codes used by the tools.
pub mod sysexits {
    pub const EX_USAGE: u8 = 64;
    pub const EX_DATAERR: u8 = 65;
    pub const EX_NOINPUT: u8 = 66;
    pub const EX_NOUSER: u8 = 67;
    pub const EX_UNAVAILABLE: u8 = 69;
    pub const EX_SOFTWARE: u8 = 70;
    pub const EX_OSERR: u8 = 71;
    pub const EX_CANTCREAT: u8 = 73;
    pub const EX_TEMPFAIL: u8 = 75;
}

/// The exit status of `flock` and `dotlock` after `--watchdog` saw the lock
/// lost (and stopped the command).
pub const LOCK_LOST: u8 = 79;

/// Single-flight (`flock --single-flight`): the run this caller waited for
/// ended without recording a result (its leader was killed). The same
/// number for every tool of the suite.
pub const NO_RESULT: u8 = 80;

/// `lockkit cluster`: no etcd endpoint could be reached (or none serves
/// the JSON gateway), so the lock could not be had.
pub const CLUSTER_UNREACHABLE: u8 = 81;

/// A failure: what to print on stderr and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: u8,
    /// Complete stderr text, newlines included; empty for a silent failure.
    message: Vec<u8>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Exit with `code` and print nothing (e.g. a lock conflict without `--verbose`).
    pub fn silent(code: u8) -> Error {
        Error {
            code,
            message: Vec::new(),
        }
    }

    /// `<prog>: <text>` and exit with `code`.
    pub fn msg(code: u8, prog: &OsStr, text: impl AsRef<[u8]>) -> Error {
        Error::silent(code).line(prog, text)
    }

    /// `<prog>: <text>: <strerror(errno)>` (the `warn(3)` style) and exit with `code`.
    pub fn errno(code: u8, prog: &OsStr, text: impl AsRef<[u8]>, errno: Errno) -> Error {
        let mut t = text.as_ref().to_vec();
        t.extend_from_slice(b": ");
        t.extend_from_slice(strerror(errno).as_bytes());
        Error::msg(code, prog, t)
    }

    /// Append one more `<prog>: <text>` line.
    pub fn line(mut self, prog: &OsStr, text: impl AsRef<[u8]>) -> Error {
        self.message.extend_from_slice(prog.as_bytes());
        self.message.extend_from_slice(b": ");
        self.raw_line(text)
    }

    /// Append a line printed exactly as given (getopt's messages, the "Try" hint).
    pub fn raw_line(mut self, text: impl AsRef<[u8]>) -> Error {
        self.message.extend_from_slice(text.as_ref());
        self.message.push(b'\n');
        self
    }

    pub fn code(&self) -> u8 {
        self.code
    }

    pub fn message(&self) -> &[u8] {
        &self.message
    }
}

/// The C library's text for an errno value, as `perror(3)` prints it
/// (`No such file or directory`, without Rust's ` (os error 2)` suffix).
pub fn strerror(errno: Errno) -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: the buffer is valid for its length; the XSI strerror_r writes a
    // NUL-terminated string into it (truncated if it must be).
    let rc = unsafe { libc::strerror_r(errno.raw_os_error(), buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {}", errno.raw_os_error());
    }
    // SAFETY: strerror_r succeeded, so `buf` holds a NUL-terminated string.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_matches_libc_wording() {
        assert_eq!(strerror(Errno::NOENT), "No such file or directory");
        assert_eq!(strerror(Errno::RANGE), "Numerical result out of range");
    }

    #[test]
    fn messages_are_prefixed_lines() {
        let e = Error::errno(66, OsStr::new("flock"), "cannot open x", Errno::ACCESS)
            .raw_line("Try it.");
        assert_eq!(e.code(), 66);
        assert_eq!(
            e.message(),
            b"flock: cannot open x: Permission denied\nTry it.\n"
        );
    }
}
