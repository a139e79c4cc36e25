//! The file-system vocabulary every kind of lock shares: a file's identity,
//! the file system's clock, a lock's directory and sibling names, and
//! writes/closes that report what NFS reports late.

use std::ffi::{CString, OsString};
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::io::Errno;

/// A file's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(st: &rustix::fs::Stat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        }
    }
}

/// A point on the file system's clock, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FsTime(pub i128);

impl FsTime {
    pub fn of(sec: i64, nsec: i64) -> FsTime {
        FsTime(i128::from(sec) * 1_000_000_000 + i128::from(nsec))
    }

    pub fn plus(self, d: Duration) -> FsTime {
        FsTime(self.0 + d.as_nanos() as i128)
    }

    /// The local wall clock (where no file system clock can be read).
    pub fn local_now() -> FsTime {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
        FsTime::of(t.tv_sec, t.tv_nsec)
    }

    /// A file's modification time.
    pub fn mtime(st: &rustix::fs::Stat) -> FsTime {
        FsTime::of(st.st_mtime, st.st_mtime_nsec as i64)
    }

    /// A file's inode change time.
    pub fn ctime(st: &rustix::fs::Stat) -> FsTime {
        FsTime::of(st.st_ctime, st.st_ctime_nsec as i64)
    }
}

/// Set `path`'s access and modification times to now (`utime(path,
/// NULL)`), following a symlink at the name or not as `flags` say.
pub fn set_times_now(path: &Path, flags: rustix::fs::AtFlags) -> Result<(), Errno> {
    let now = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    let times = rustix::fs::Timestamps {
        last_access: now,
        last_modification: now,
    };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, flags)
}

/// The directory a lock lives in (`.` for a bare name).
pub fn lock_dir(lock: &Path) -> &Path {
    match lock.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `name` in the lock's directory: the lock path with its last component
/// replaced (a lock named `dir/` gives `dir/name`, as the C tools do).
pub fn sibling(lock: &Path, name: &[u8]) -> PathBuf {
    let bytes = lock.as_os_str().as_bytes();
    let cut = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let mut path = bytes[..cut].to_vec();
    path.extend_from_slice(name);
    PathBuf::from(OsString::from_vec(path))
}

/// A path as a C string for a signal handler (NUL bytes cannot occur in
/// paths from argv).
pub fn c_path(p: &Path) -> CString {
    let bytes = p.as_os_str().as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap_or_default()
}

/// Write all of `bytes`, retrying short writes and EINTR.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The file's first bytes, from offset 0, as many as `buf` holds or the
/// file has: how many were read.
pub fn read_head(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::pread(fd, &mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Write all of `bytes` at offset 0 (a short write is retried, a write
/// that makes no progress is ENOSPC).
pub fn write_head(fd: BorrowedFd<'_>, bytes: &[u8]) -> Result<(), Errno> {
    let mut done = 0;
    while done < bytes.len() {
        match rustix::io::pwrite(fd, &bytes[done..], done as u64) {
            Ok(0) => return Err(Errno::NOSPC),
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_replace_the_last_component() {
        assert_eq!(sibling(Path::new("/a/b.lock"), b".t"), Path::new("/a/.t"));
        assert_eq!(sibling(Path::new("b.lock"), b".t"), Path::new(".t"));
        assert_eq!(sibling(Path::new("dir/"), b".t"), Path::new("dir/.t"));
        assert_eq!(lock_dir(Path::new("x")), Path::new("."));
        assert_eq!(lock_dir(Path::new("/v/x")), Path::new("/v"));
    }

    #[test]
    fn fs_time_is_nanoseconds() {
        let t = FsTime::of(2, 5);
        assert_eq!(t.0, 2_000_000_005);
        assert_eq!(t.plus(Duration::from_millis(1)).0, 2_001_000_005);
    }

    #[test]
    fn c_paths_stop_at_a_nul() {
        let p = PathBuf::from(OsString::from_vec(b"a\0b".to_vec()));
        assert_eq!(c_path(&p).as_bytes(), b"a");
    }
}
