//! The link protocol: a uniquely named temp file is created next to the
//! lock and hard-linked to the lock name; whoever's link lands owns the
//! lock.
//!
//! This works over NFS, where `O_EXCL` historically did not: `link` is atomic
//! on the server, and success is judged by comparing the two names' identity
//! (device and inode) rather than by `link`'s return value, which a lost NFS
//! reply can falsify.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::naming::{self, Naming};
use crate::lock::cleanup;
use crate::lock::fs::{FileId, FsTime, set_times_now, write_all};
use crate::lock::sys;

/// Why a temp file could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempError {
    /// Creating it failed (liblockfile's `L_TMPLOCK`).
    Create(Errno),
    /// Writing the contents failed (`L_TMPWRITE`); the file was removed.
    Write(Errno),
}

/// The temp file a lock is linked from. Removed when dropped, and by the
/// signal handlers of [`cleanup`] if the process is killed first.
#[derive(Debug)]
pub struct Temp {
    path: PathBuf,
    id: FileId,
    /// Its mtime: the file system's clock when it was made (or last
    /// refreshed).
    born: FsTime,
    /// The local monotonic clock at the same moment.
    born_local: Instant,
    /// A link was tried already: the next one refreshes the times first.
    tried: bool,
    _guard: cleanup::Guard,
}

/// The outcome of one link attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The lock is ours.
    Acquired,
    /// Another file holds the name (with link's error, if it gave one).
    Held(Option<Errno>),
    /// The lock name cannot be examined (e.g. hard links unsupported): link's
    /// error, if any, and lstat's.
    NoLock(Option<Errno>, Errno),
}

impl Link {
    /// The error a tool that reports link's errno sees (procmail's).
    pub fn errno(self) -> Option<Errno> {
        match self {
            Link::Acquired => None,
            Link::Held(e) => Some(e.unwrap_or(Errno::EXIST)),
            Link::NoLock(e, stat) => Some(e.unwrap_or(stat)),
        }
    }
}

impl Temp {
    /// Make the temp file for `lock` under the tool's naming scheme, with
    /// `contents` and `mode` (the umask applies).
    ///
    /// Both names embed our pid, so a file already there was left by an
    /// earlier process that had our pid and was killed before it could
    /// remove it (SIGKILL: no handler runs); pids wrap quickly. Instead of
    /// failing as liblockfile does one time in 16, the other names of the
    /// scheme (clock digits; procmail's serials) are tried in turn. The
    /// leftover is not removed: nothing proves which host or pid namespace
    /// made it.
    pub fn make(
        naming: Naming,
        lock: &Path,
        contents: &[u8],
        mode: u32,
    ) -> Result<Temp, TempError> {
        match naming {
            Naming::Liblockfile => {
                let first = naming::clock_digit();
                let mut result = Err(TempError::Create(Errno::EXIST));
                for k in 0..16 {
                    let name =
                        naming::liblockfile_temp_name_for(lock, std::process::id(), first + k);
                    result = Temp::create(&name, contents, mode);
                    if !matches!(result, Err(TempError::Create(Errno::EXIST))) {
                        break;
                    }
                }
                result
            }
            Naming::Procmail => {
                let mut serial = 0;
                let mut contents = contents;
                loop {
                    match Temp::create(&naming::procmail_temp_name(lock, serial), contents, mode) {
                        Err(TempError::Create(Errno::EXIST)) if serial < 8 => serial += 1,
                        // procmail writes its `0` unchecked: on a full file
                        // system (an inode left, no space) its lock is
                        // empty and the run succeeds. The content means
                        // nothing to lockfile, so do the same.
                        Err(TempError::Write(Errno::NOSPC | Errno::DQUOT))
                            if !contents.is_empty() =>
                        {
                            contents = b"";
                        }
                        other => return other,
                    }
                }
            }
        }
    }

    /// Create `path` exclusively (never through a planted symlink) with
    /// `contents` and `mode` (the umask applies).
    pub fn create(path: &Path, contents: &[u8], mode: u32) -> Result<Temp, TempError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // Fatal signals are held back from just before the file exists
        // until it is registered for cleanup: a signal delivered as open(2)
        // returns would find the file made but not yet registered, and
        // leave it behind. Held back, it is delivered when `deferred`
        // drops, and the handler removes the file.
        let deferred = cleanup::Deferred::new();
        let fd = rustix::fs::open(path, flags, Mode::from_bits_truncate(mode))
            .map_err(TempError::Create)?;
        let fail = |e| {
            let _ = rustix::fs::unlink(path);
            TempError::Write(e)
        };
        let id = FileId::of(&rustix::fs::fstat(&fd).map_err(fail)?);
        // Registered before anything else can fail, so a signal cleans up.
        let guard = cleanup::Guard::new(path, id);
        drop(deferred);
        // The name must still be the file we created (an NFS guard, as in
        // procmail): otherwise it is not ours to use or to remove.
        if rustix::fs::lstat(path).map(|st| FileId::of(&st)) != Ok(id) {
            return Err(TempError::Create(Errno::EXIST));
        }
        write_all(fd.as_fd(), contents).map_err(fail)?;
        let st = rustix::fs::fstat(&fd).map_err(fail)?;
        let born_local = Instant::now();
        sys::close(fd).map_err(fail)?;
        Ok(Temp {
            path: path.to_owned(),
            id,
            born: FsTime::mtime(&st),
            born_local,
            tried: false,
            _guard: guard,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its identity (that of the lock too, once linked).
    pub fn id(&self) -> FileId {
        self.id
    }

    /// "Now" on the lock directory's file system clock: the temp file's
    /// mtime plus the time elapsed here since. Immune to a local clock that
    /// disagrees with an NFS server's.
    pub fn fs_now(&self) -> FsTime {
        self.born.plus(self.born_local.elapsed())
    }

    /// Convert a file system time to the local monotonic clock.
    pub fn local_instant(&self, t: FsTime) -> Instant {
        let delta = t.0 - self.born.0;
        if delta <= 0 {
            self.born_local
        } else {
            let d = Duration::from_nanos(delta.min(u64::MAX as i128) as u64);
            self.born_local
                .checked_add(d)
                .unwrap_or(self.born_local + Duration::from_secs(1 << 32))
        }
    }

    /// Try to take `lock` by linking it to this temp file.
    ///
    /// A lock's age is its file's mtime, and the link carries the temp
    /// file's: a temp file made when a wait began would give a lock taken
    /// after a long wait an age it never had, and the next caller with an
    /// age limit would break it at once. So every attempt but the first
    /// sets the temp file's times to now before linking.
    pub fn link_to(&mut self, lock: &Path) -> Result<Link, Errno> {
        if std::mem::replace(&mut self.tried, true) {
            self.refresh()?;
        }
        // The return value of link(2) is not trusted (a retransmitted NFS
        // request can report EEXIST for our own success): identity decides.
        let linked = rustix::fs::link(&self.path, lock).err();
        let mine = rustix::fs::lstat(&self.path)?;
        match rustix::fs::lstat(lock) {
            Ok(st) if FileId::of(&st) == FileId::of(&mine) => Ok(Link::Acquired),
            Ok(_) => Ok(Link::Held(linked)),
            Err(e) => Ok(Link::NoLock(linked, e)),
        }
    }

    /// Set the temp file's times to now (never through a symlink: the
    /// name is ours, made with O_EXCL) and re-read the file system clock.
    fn refresh(&mut self) -> Result<(), Errno> {
        set_times_now(&self.path, AtFlags::SYMLINK_NOFOLLOW)?;
        let st = rustix::fs::lstat(&self.path)?;
        if FileId::of(&st) != self.id {
            return Err(Errno::NOENT);
        }
        self.born = FsTime::mtime(&st);
        self.born_local = Instant::now();
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        // Nobody else removes our temp file: no serialisation needed.
        let _ = super::breaking::unlink_if(&self.path, self.id);
    }
}
