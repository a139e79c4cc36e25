//! Opening a lock file by name for an fd lock, the way util-linux flock does.
//!
//! * `O_CREAT|O_NOCTTY`, mode 0666 minus the umask, no `O_TRUNC`, no
//!   `O_EXCL`, and *no* `O_CLOEXEC`: a command run under the lock inherits the
//!   descriptor and so holds the lock too. (An existing symlink is followed,
//!   as util-linux does; see docs/compat.md) — except one the kernel's
//!   `fs.protected_symlinks` rule would refuse, whatever that sysctl says:
//!   see [`follow_check`].
//! * Read-only by default: flock(2) does not care about the open mode, so a
//!   user who can only read a file can still lock it.
//! * A directory cannot be opened with `O_CREAT` (EISDIR), so it is opened
//!   again read-only without it: directories can be locked.
//! * On NFS, flock(2) is emulated with fcntl locks and an exclusive lock
//!   needs a writable descriptor (EBADF, or EIO on old kernels): the file is
//!   then reopened read-write and the lock retried.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Access, Mode as FileMode, OFlags};
use rustix::io::Errno;

use super::fdlock::{self, Api, Failure, Mode, Wait};

/// How to open the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    ReadOnly,
    WriteOnly,
    ReadWrite,
}

/// An open lock file.
#[derive(Debug)]
pub struct LockFile {
    fd: OwnedFd,
    path: OsString,
    mode: OpenMode,
}

/// Why [`LockFile::lock`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockError {
    /// The lock was not granted.
    Lock(Failure),
    /// Reopening read-write for NFS failed (reported like the first open).
    Reopen(Errno),
}

impl LockFile {
    /// Open (creating if needed) `path` for locking.
    pub fn open(path: &OsStr, mode: OpenMode) -> Result<LockFile, Errno> {
        let (fd, mode) = open_or_dir(path, mode)?;
        Ok(LockFile {
            fd,
            path: path.to_owned(),
            mode,
        })
    }

    pub fn path(&self) -> &OsStr {
        &self.path
    }

    /// The descriptor, for a held lock to keep (see `kind::FdLock`).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Take the lock as [`fdlock::lock`] does, with the NFS fallback.
    pub fn lock(&mut self, mode: Mode, api: Api, wait: Wait<'_>) -> Result<(), LockError> {
        loop {
            match fdlock::lock(self.fd.as_fd(), mode, api, wait) {
                Err(Failure::Sys(e @ (Errno::IO | Errno::BADF))) => {
                    if self.mode == OpenMode::ReadWrite || mode == Mode::Shared {
                        return Err(LockError::Lock(Failure::Sys(e)));
                    }
                    // util-linux reports whatever errno the fallback left
                    // behind, e.g. EACCES from access(2) or EISDIR from the
                    // reopen of a directory; so do we.
                    if let Err(denied) = rustix::fs::access(
                        self.path.as_os_str(),
                        Access::READ_OK | Access::WRITE_OK,
                    ) {
                        return Err(LockError::Lock(Failure::Sys(denied)));
                    }
                    match open_raw(&self.path, OpenMode::ReadWrite) {
                        Ok(fd) => {
                            self.fd = fd;
                            self.mode = OpenMode::ReadWrite;
                        }
                        Err(Errno::ISDIR) => {
                            // A directory reopens read-only, which cannot help.
                            let (fd, m) = open_or_dir(&self.path, OpenMode::ReadWrite)
                                .map_err(LockError::Reopen)?;
                            self.fd = fd;
                            self.mode = m;
                            return Err(LockError::Lock(Failure::Sys(Errno::ISDIR)));
                        }
                        Err(e) => return Err(LockError::Reopen(e)),
                    }
                }
                other => return other.map_err(LockError::Lock),
            }
        }
    }
}

impl AsFd for LockFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn open_raw(path: &OsStr, mode: OpenMode) -> Result<OwnedFd, Errno> {
    let access = match mode {
        OpenMode::ReadOnly => OFlags::RDONLY,
        OpenMode::WriteOnly => OFlags::WRONLY,
        OpenMode::ReadWrite => OFlags::RDWR,
    };
    open_unless_planted(
        Path::new(path),
        access | OFlags::NOCTTY | OFlags::CREATE,
        FileMode::from_bits_truncate(0o666),
    )
}

/// `open(2)`, following a symlink at the name only as [`follow_check`]
/// allows (a refused one is EACCES, as the kernel gives where
/// fs.protected_symlinks is 1).
///
/// Security: first without following, so a symlink is only
/// followed once the check has allowed it. In a sticky world-writable
/// directory (/tmp, /var/lock) another user's symlink could otherwise make
/// us open — with O_CREAT, *create* — any file it points at (a device, for a
/// read). A symlink swapped for a file after the check is not followed.
pub fn open_unless_planted(path: &Path, flags: OFlags, mode: FileMode) -> Result<OwnedFd, Errno> {
    for _ in 0..8 {
        match rustix::fs::open(path, flags | OFlags::NOFOLLOW, mode) {
            Err(Errno::LOOP) => {}
            other => return other,
        }
        match follow_check(path) {
            Follow::Refused => return Err(Errno::ACCESS),
            Follow::Allowed => return rustix::fs::open(path, flags, mode),
            // Gone or replaced since: look again.
            Follow::NotSymlink => {}
        }
    }
    rustix::fs::open(path, flags | OFlags::NOFOLLOW, mode)
}

/// What the kernel's `fs.protected_symlinks` rule says about following a
/// symlink at `path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// No symlink there (nothing, or another kind of file).
    NotSymlink,
    /// A symlink the rule lets us follow.
    Allowed,
    /// Another user's symlink in a sticky world-writable directory that
    /// the directory's owner does not own either.
    Refused,
}

/// Apply the kernel's `fs.protected_symlinks` rule (fs/namei.c,
/// `may_follow_link`) ourselves, so that lockkit never follows another
/// user's symlink planted in a sticky world-writable directory, even where
/// the sysctl is 0 (as in some containers). Where it is 1 — the default of
/// Debian, Ubuntu, Fedora… — the kernel already refuses such a follow with
/// EACCES, so the reference tools behave exactly as lockkit does everywhere.
///
/// A symlink passing this check cannot be swapped by the attacker
/// afterwards: it is ours, or the directory's owner's, or in a directory
/// that is not both sticky and world-writable.
pub fn follow_check(path: &Path) -> Follow {
    use rustix::fs::FileType;
    let Ok(link) = rustix::fs::lstat(path) else {
        return Follow::NotSymlink;
    };
    if FileType::from_raw_mode(link.st_mode) != FileType::Symlink {
        return Follow::NotSymlink;
    }
    if link.st_uid == rustix::process::geteuid().as_raw() {
        return Follow::Allowed;
    }
    let Ok(dir) = rustix::fs::stat(super::fs::lock_dir(path)) else {
        return Follow::Allowed; // as the kernel would decide, then
    };
    let sticky_world_writable = libc::S_ISVTX | libc::S_IWOTH;
    if dir.st_mode & sticky_world_writable != sticky_world_writable || dir.st_uid == link.st_uid {
        return Follow::Allowed;
    }
    Follow::Refused
}

/// Open with `O_CREAT`, falling back to a plain read-only open for a
/// directory. Returns the mode actually used.
fn open_or_dir(path: &OsStr, mode: OpenMode) -> Result<(OwnedFd, OpenMode), Errno> {
    match open_raw(path, mode) {
        Ok(fd) => Ok((fd, mode)),
        Err(Errno::ISDIR) => {
            let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::NOCTTY, FileMode::empty())?;
            Ok((fd, OpenMode::ReadOnly))
        }
        Err(e) => Err(e),
    }
}
