//! The lock-lost watchdog: while a command runs under a lock that is known
//! by its name, notice when the name no longer names the file that was
//! locked — the lock file removed or replaced, the flock'd file unlinked or
//! renamed away (newcomers would then lock another file), its directory
//! renamed — and say what happened.
//!
//! One watcher serves every kind of lock that has a name: an fd lock's and
//! a lock file's differ only in the identity compared (the locked file
//! through a symlink at the name, or the lock file itself).
//!
//! It is event-driven: one inotify instance watches the file (its removal,
//! rename, and link-count change), its directory (names deleted, created,
//! moved; the directory itself removed or moved) and the directories
//! further up (moved). An event is not a loss by itself — a touch, a chmod,
//! another file made in the directory all wake it — so on any event the
//! name is looked up again and compared with the locked file's device and
//! inode. Where the kernel refuses the watch (the user's inotify instances
//! used up, no descriptor to spare, ENOSYS under a seccomp filter) or on a
//! remote file system (whose other clients inotify cannot see), it looks
//! every 100 ms instead: it never stops watching.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;

use super::fs::{FileId, lock_dir};
use super::kind::{Held, Loss};

/// The time a command stopped after a loss has between SIGTERM and
/// SIGKILL, unless the tool is told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Where no event can say the lock was lost: how often to look.
pub const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Watches one lock's name.
#[derive(Debug)]
pub struct Watchdog {
    path: PathBuf,
    dir: PathBuf,
    /// The locked file.
    id: FileId,
    /// Its directory, when the watch began.
    dir_id: Option<FileId>,
    /// The name is looked up through a symlink (an fd lock, which
    /// util-linux opens following one) or not (a lock file).
    follow: bool,
    inotify: Option<OwnedFd>,
    file_wd: Option<i32>,
    dir_wd: Option<i32>,
    /// Look on a schedule ([`LOOK_EVERY`]): no watch, or a remote file
    /// system.
    timed: bool,
    /// Looked once since the watch began (the lock may have been lost
    /// before it did).
    looked: bool,
    /// Seen since the last look: the name renamed away, the directory
    /// removed (what the message says; the look decides).
    renamed: bool,
    dir_removed: bool,
}

impl Watchdog {
    /// Watch `path`, which named the file `id` when it was locked.
    pub fn new(path: &Path, id: FileId, follow_symlinks: bool) -> Watchdog {
        let dir = lock_dir(path).to_path_buf();
        let dir_id = rustix::fs::stat(&dir).ok().map(|st| FileId::of(&st));
        let mut dog = Watchdog {
            path: path.to_path_buf(),
            dir,
            id,
            dir_id,
            follow: follow_symlinks,
            inotify: None,
            file_wd: None,
            dir_wd: None,
            timed: true,
            looked: false,
            renamed: false,
            dir_removed: false,
        };
        dog.inotify = dog.watch();
        dog.timed = dog.inotify.is_none() || super::wait::on_remote_fs(&dog.dir);
        dog
    }

    /// Watch `path`, whose file is open (and locked) as `fd`; the name is
    /// looked up through a symlink, as it was opened.
    pub fn for_open_file(path: &Path, fd: BorrowedFd<'_>) -> Result<Watchdog, Errno> {
        let id = FileId::of(&rustix::fs::fstat(fd)?);
        Ok(Watchdog::new(path, id, true))
    }

    /// One inotify instance watching the file, its directory and the
    /// directories above; None if the kernel refuses any of the first two.
    fn watch(&mut self) -> Option<OwnedFd> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()?;
        if !super::wait::leaves_reserve(&fd) {
            return None;
        }
        // An unlink shows as ATTRIB (the link count) while the file is
        // still open somewhere (flock's own descriptor), DELETE_SELF after.
        let mut on_file = WatchFlags::DELETE_SELF | WatchFlags::MOVE_SELF | WatchFlags::ATTRIB;
        if !self.follow {
            on_file |= WatchFlags::DONT_FOLLOW;
        }
        self.file_wd = Some(inotify::add_watch(&fd, &self.path, on_file).ok()?);
        let on_dir = WatchFlags::DELETE
            | WatchFlags::MOVED_FROM
            | WatchFlags::CREATE
            | WatchFlags::MOVED_TO
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::ONLYDIR;
        self.dir_wd = Some(inotify::add_watch(&fd, &self.dir, on_dir).ok()?);
        // Renaming a directory further up moves the lock away too. These
        // are extra (a watch refused here leaves the rest working).
        for up in self.dir.ancestors().skip(1) {
            if up.as_os_str().is_empty() || up.parent().is_none() {
                break;
            }
            let _ = inotify::add_watch(&fd, up, WatchFlags::MOVE_SELF | WatchFlags::ONLYDIR);
        }
        Some(fd)
    }

    /// Readable when something happened that may be a loss.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inotify.as_ref().map(|fd| fd.as_fd())
    }

    /// How often [`Watchdog::check`] must be called where no event tells.
    pub fn look_every(&self) -> Option<Duration> {
        self.timed.then_some(LOOK_EVERY)
    }

    /// Is the lock lost? Reads the pending events, and looks if there were
    /// any (or if it has never looked, or looks on a schedule).
    pub fn check(&mut self) -> Option<Loss> {
        let news = self.drain();
        if self.looked && !news && !self.timed {
            return None;
        }
        self.looked = true;
        self.look()
    }

    /// Read every pending event; true if there was one.
    fn drain(&mut self) -> bool {
        let Some(fd) = &self.inotify else {
            return false;
        };
        let name = self.path.file_name().map(|n| n.as_bytes());
        let mut any = false;
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(fd.as_fd(), &mut buf);
        loop {
            match reader.next() {
                Ok(ev) => {
                    any = true;
                    let (wd, flags) = (Some(ev.wd()), ev.events());
                    let ours = ev.file_name().map(|n| n.to_bytes()) == name;
                    if (wd == self.file_wd && flags.contains(ReadFlags::MOVE_SELF))
                        || (wd == self.dir_wd && ours && flags.contains(ReadFlags::MOVED_FROM))
                    {
                        self.renamed = true;
                    }
                    if wd == self.dir_wd && flags.contains(ReadFlags::DELETE_SELF) {
                        self.dir_removed = true;
                    }
                }
                Err(Errno::INTR) => {}
                Err(_) => break, // EAGAIN: drained
            }
        }
        any
    }

    /// Does the name still name the locked file, in the same directory?
    /// A name that cannot be looked up for another reason than its absence
    /// (a directory made unsearchable) is no loss: never a false alarm.
    fn look(&mut self) -> Option<Loss> {
        let dir_gone = match (self.dir_id, rustix::fs::stat(&self.dir)) {
            (Some(id), Ok(st)) => FileId::of(&st) != id,
            (Some(_), Err(e)) => matches!(e, Errno::NOENT | Errno::NOTDIR),
            (None, _) => false,
        };
        let loss = if dir_gone {
            Some(if self.dir_removed {
                Loss::DirectoryRemoved
            } else {
                Loss::DirectoryRenamed
            })
        } else {
            let now = if self.follow {
                rustix::fs::stat(&self.path)
            } else {
                rustix::fs::lstat(&self.path)
            };
            match now {
                Ok(st) if FileId::of(&st) == self.id => None,
                Ok(_) => Some(Loss::Replaced),
                Err(Errno::NOENT | Errno::NOTDIR) if self.renamed => Some(Loss::Renamed),
                Err(Errno::NOENT | Errno::NOTDIR) => Some(Loss::Removed),
                Err(_) => None,
            }
        };
        if loss.is_none() {
            // Renamed away and back, say: still ours.
            self.renamed = false;
            self.dir_removed = false;
        }
        loss
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Closing a used inotify instance waits for the kernel's
        // housekeeping: leave it to the tool's end (see `wait`).
        if let Some(fd) = self.inotify.take() {
            super::wait::park(fd);
        }
    }
}

/// A held lock, watched by a [`Watchdog`] or not: releasing and renewing
/// are the lock's own; a loss is what the watchdog sees.
#[derive(Debug)]
pub struct Watched<H> {
    held: H,
    dog: Option<Watchdog>,
}

impl<H: Held> Watched<H> {
    pub fn new(held: H, dog: Option<Watchdog>) -> Watched<H> {
        Watched { held, dog }
    }

    pub fn held(&self) -> &H {
        &self.held
    }
}

impl<H: Held> Held for Watched<H> {
    fn release(self) -> Result<(), Errno> {
        // Stop watching first: the release itself changes the name.
        drop(self.dog);
        self.held.release()
    }

    fn renew_every(&self) -> Option<Duration> {
        self.held.renew_every()
    }

    fn renew(&mut self) -> Result<(), Errno> {
        self.held.renew()
    }

    fn lost(&self) -> Option<BorrowedFd<'_>> {
        match &self.dog {
            Some(dog) => dog.fd(),
            None => self.held.lost(),
        }
    }

    fn check_lost(&mut self) -> Option<Loss> {
        match &mut self.dog {
            Some(dog) => dog.check(),
            None => self.held.check_lost(),
        }
    }

    fn check_lost_every(&self) -> Option<Duration> {
        match &self.dog {
            Some(dog) => dog.look_every(),
            None => self.held.check_lost_every(),
        }
    }
}

/// What happened, for the tool's message: `lock lost: PATH was removed;
/// stopping the command`.
pub fn loss_message(path: &Path, loss: Loss) -> Vec<u8> {
    let what: &[u8] = match loss {
        Loss::Removed => b" was removed",
        Loss::Renamed => b" was renamed",
        Loss::Replaced => b" was replaced by another file",
        Loss::DirectoryRenamed => b": its directory was renamed",
        Loss::DirectoryRemoved => b": its directory was removed",
        Loss::TakenAway => b" was taken away",
    };
    let mut text = b"lock lost: ".to_vec();
    text.extend_from_slice(path.as_os_str().as_bytes());
    text.extend_from_slice(what);
    text.extend_from_slice(b"; stopping the command");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let d = std::env::temp_dir()
                .join(format!("lockkit-watchdog-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(d.join("sub")).expect("mkdir");
            Dir(d)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn id_of(p: &Path) -> FileId {
        FileId::of(&rustix::fs::lstat(p).expect("lstat"))
    }

    /// A file locked at `sub/x.lock`, watched; with inotify and without.
    fn watched(d: &Dir, inotify: bool) -> (PathBuf, Watchdog) {
        let path = d.0.join("sub/x.lock");
        std::fs::write(&path, "").expect("write");
        let mut dog = Watchdog::new(&path, id_of(&path), false);
        if !inotify {
            dog.inotify = None;
            dog.timed = true;
        }
        assert_eq!(dog.check(), None, "a fresh lock is not lost");
        (path, dog)
    }

    #[test]
    fn harmless_changes_are_no_loss() {
        for inotify in [true, false] {
            let d = Dir::new(&format!("harmless-{inotify}"));
            let (path, mut dog) = watched(&d, inotify);
            assert_eq!(dog.look_every().is_some(), !inotify);
            crate::lock::fs::set_times_now(&path, rustix::fs::AtFlags::empty()).expect("touch");
            std::fs::write(d.0.join("sub/other"), "").expect("another file");
            std::fs::rename(d.0.join("sub/other"), d.0.join("sub/third")).expect("mv");
            assert_eq!(dog.check(), None);
            // Nothing pending any more: nothing to look at.
            assert_eq!(dog.check(), None);
        }
    }

    #[test]
    fn removal_rename_replacement_and_a_moved_directory_are_losses() {
        for inotify in [true, false] {
            let d = Dir::new(&format!("removed-{inotify}"));
            let (path, mut dog) = watched(&d, inotify);
            std::fs::remove_file(&path).expect("rm");
            assert_eq!(dog.check(), Some(Loss::Removed));

            let d = Dir::new(&format!("renamed-{inotify}"));
            let (path, mut dog) = watched(&d, inotify);
            std::fs::rename(&path, d.0.join("sub/aside")).expect("mv");
            let want = if inotify {
                Loss::Renamed
            } else {
                Loss::Removed
            };
            assert_eq!(dog.check(), Some(want));

            let d = Dir::new(&format!("replaced-{inotify}"));
            let (path, mut dog) = watched(&d, inotify);
            std::fs::write(d.0.join("sub/new"), "").expect("write");
            std::fs::rename(d.0.join("sub/new"), &path).expect("mv over");
            assert_eq!(dog.check(), Some(Loss::Replaced));

            let d = Dir::new(&format!("dir-{inotify}"));
            let (_path, mut dog) = watched(&d, inotify);
            std::fs::rename(d.0.join("sub"), d.0.join("moved")).expect("mv dir");
            assert_eq!(dog.check(), Some(Loss::DirectoryRenamed));
        }
    }

    #[test]
    fn a_loss_before_the_watch_began_is_seen_at_the_first_look() {
        let d = Dir::new("early");
        let path = d.0.join("sub/x.lock");
        std::fs::write(&path, "").expect("write");
        let id = id_of(&path);
        // (Made before the old one goes, so it cannot reuse its inode.)
        std::fs::write(d.0.join("sub/new"), "").expect("write");
        std::fs::rename(d.0.join("sub/new"), &path).expect("mv over");
        let mut dog = Watchdog::new(&path, id, false);
        assert_eq!(dog.check(), Some(Loss::Replaced));
    }

    #[test]
    fn renamed_away_and_back_is_still_ours() {
        let d = Dir::new("back");
        let (path, mut dog) = watched(&d, true);
        let aside = d.0.join("sub/aside");
        std::fs::rename(&path, &aside).expect("mv");
        std::fs::rename(&aside, &path).expect("mv back");
        assert_eq!(dog.check(), None);
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(dog.check(), Some(Loss::Removed));
    }

    #[test]
    fn messages_name_what_happened() {
        let m = |l| String::from_utf8(loss_message(Path::new("/run/lock/x"), l)).expect("utf8");
        assert_eq!(
            m(Loss::Removed),
            "lock lost: /run/lock/x was removed; stopping the command"
        );
        assert_eq!(
            m(Loss::DirectoryRenamed),
            "lock lost: /run/lock/x: its directory was renamed; stopping the command"
        );
    }
}
