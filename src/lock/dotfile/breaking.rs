//! Removing lock files: breaking a stale one so that however many processes
//! judged it stale at once, exactly the file they judged is removed, once;
//! and owners removing their own.
//!
//! There is no "unlink this name if it is still that inode" in POSIX, so
//! removers serialise, and a breaker looks again while it is alone: only if
//! the name still refers to the file it judged, and that file is still
//! stale, is it unlinked. Locks are only ever created by `link`, which
//! cannot replace a file, so under the serialisation the name can only lose
//! its file to the remover itself.
//!
//! What removers serialise on depends only on what every remover sees
//! alike, the lock file's own status, so all of them pick the same object:
//!
//! * a world-readable regular file with one link — what lock files are —
//!   is serialised on a flock(2) of **itself** (the inode being judged).
//!   Not of its directory: anyone who can open a directory can flock it
//!   forever — in `/tmp`, any user — and that must not stop removals;
//! * anything else (a symlink, a directory, a file others may not read, a
//!   hard link planted to someone's file, which is never opened) is
//!   serialised on a flock(2) of the lock's directory.
//!
//! Both can be held by others who do not let go. So no lock that others
//! can take decides safety: when the serialisation cannot be had within a
//! few seconds, a breaker **refuses** to break (the lock is treated as held
//! and the wait goes on by the schedule); it never falls back to an
//! unserialised break. Only where the kernel cannot give the lock at all
//! (flock(2) on NFS needs a writable descriptor; a directory we may not
//! read) does a breaker do what liblockfile and procmail always do — look
//! again, then unlink — as no lockkit process can serialise there either.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::judge::{Judgement, Policy, judge};
use crate::lock::cleanup;
use crate::lock::file::{Follow, follow_check};
use crate::lock::fs::{FileId, FsTime, lock_dir, set_times_now};

/// What [`break_stale`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broke {
    /// This call removed the stale lock.
    Removed,
    /// The judged file is gone or no longer stale (another breaker was
    /// first, or its owner renewed it): nothing removed.
    Gone,
    /// The removers' lock is held by someone who does not let go: nothing
    /// removed; treat the lock as held.
    Refused,
}

/// How long a remover waits for the removers' lock. lockkit holds it only
/// for a look and an unlink, so among honest processes the wait is
/// microseconds; past this, someone is holding it on purpose.
const PATIENCE: Duration = Duration::from_secs(5);

/// Remove a lock judged stale (see the module comment).
pub fn break_stale(
    lock: &Path,
    judged: &Judgement,
    policy: Policy,
    now: FsTime,
) -> Result<Broke, Errno> {
    let Some(id) = judged.id else {
        return Ok(Broke::Gone);
    };
    match Serial::take(lock, Some(id)) {
        Serial::Changed => Ok(Broke::Gone),
        Serial::Busy => Ok(Broke::Refused),
        Serial::Held(_) | Serial::Unavailable => {
            let again = judge(lock, policy, now);
            if again.id != Some(id) || !again.stale {
                return Ok(Broke::Gone);
            }
            unlink_lock(lock).map(|()| Broke::Removed)
        }
    }
}

/// Remove a lock, whatever file is there (`dotlock -u`); one that is already
/// gone is fine.
pub fn remove(lock: &Path) -> Result<(), Errno> {
    let _serialised = Serial::take(lock, None);
    unlink_lock(lock)
}

/// Remove `path` if it is still the file `id`: never someone else's file
/// that took its place.
pub fn remove_if_ours(path: &Path, id: FileId) -> Result<(), Errno> {
    // Our own lock: if someone holds the removers' lock past our patience,
    // we remove it anyway (a breaker can only be inside while holding it).
    match Serial::take(path, Some(id)) {
        Serial::Changed => Ok(()),
        _ => unlink_if(path, id),
    }
}

/// Unlink `path` if it is `id` (no serialisation: for our own temp files,
/// which nobody else removes).
pub fn unlink_if(path: &Path, id: FileId) -> Result<(), Errno> {
    match rustix::fs::lstat(path) {
        Ok(st) if FileId::of(&st) == id => unlink_lock(path),
        Ok(_) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

fn unlink_lock(lock: &Path) -> Result<(), Errno> {
    match rustix::fs::unlink(lock) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Set the lock's times to now (`utime(lock, NULL)`).
pub fn touch(lock: &Path) -> Result<(), Errno> {
    // Through a symlink only as fs.protected_symlinks allows (else EACCES,
    // as the kernel gives where it is on), so a link planted in a sticky
    // directory cannot make us change another file's times; a non-symlink
    // is touched without following, so a symlink swapped in after the look
    // is not followed either.
    let flags = match follow_check(lock) {
        Follow::Refused => return Err(Errno::ACCESS),
        Follow::Allowed => AtFlags::empty(),
        Follow::NotSymlink => AtFlags::SYMLINK_NOFOLLOW,
    };
    set_times_now(lock, flags)
}

/// The removers' lock for one lock name.
enum Serial {
    /// Held (released when dropped).
    Held(#[allow(dead_code)] OwnedFd),
    /// The name no longer refers to the file expected (or to anything).
    Changed,
    /// Someone holds it and did not let go within [`PATIENCE`].
    Busy,
    /// The kernel cannot give it (see the module comment).
    Unavailable,
}

impl Serial {
    /// Lock what removers of the file at `lock` (expected to be `expect`)
    /// serialise on.
    fn take(lock: &Path, expect: Option<FileId>) -> Serial {
        let st = match rustix::fs::lstat(lock) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Serial::Changed,
            Err(_) => return Serial::Unavailable,
        };
        let id = FileId::of(&st);
        if expect.is_some_and(|e| e != id) {
            return Serial::Changed;
        }
        if on_itself(&st) {
            // Never through a symlink swapped in; never blocking on open.
            let flags = OFlags::RDONLY
                | OFlags::NOFOLLOW
                | OFlags::NONBLOCK
                | OFlags::NOCTTY
                | OFlags::CLOEXEC;
            return match rustix::fs::open(lock, flags, Mode::empty()) {
                Ok(fd) if rustix::fs::fstat(&fd).map(|st| FileId::of(&st)) == Ok(id) => {
                    flock_patiently(fd)
                }
                Ok(_) | Err(Errno::NOENT | Errno::LOOP) => Serial::Changed,
                Err(_) => Serial::Unavailable,
            };
        }
        match rustix::fs::open(
            lock_dir(lock),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(dir) => flock_patiently(dir),
            Err(_) => Serial::Unavailable,
        }
    }
}

/// Is a file with this status serialised on itself (else on its directory)?
/// The same answer for every remover, whoever it runs as.
fn on_itself(st: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
        && st.st_nlink == 1
        && st.st_mode & 0o004 != 0
}

/// An exclusive flock(2) on `fd`, waiting at most [`PATIENCE`].
fn flock_patiently(fd: OwnedFd) -> Serial {
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => return Serial::Held(fd),
        Err(Errno::WOULDBLOCK) => {}
        // Not lockable here (NFS without a writable descriptor, …).
        Err(_) => return Serial::Unavailable,
    }
    // A blocking flock(2) in a helper thread, so the kernel queues us
    // fairly and wakes us the moment it is free; if we stop waiting, the
    // thread lets go as soon as it gets it. The thread starts with every
    // signal blocked (it inherits this thread's mask): signals must reach
    // the main thread, where cleanup::Deferred can hold them back.
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = {
        let _all = cleanup::Deferred::all();
        std::thread::Builder::new().spawn(move || {
            let got = loop {
                match rustix::fs::flock(&fd, FlockOperation::LockExclusive) {
                    Ok(()) => break Some(fd),
                    Err(Errno::INTR) => {}
                    Err(_) => break None,
                }
            };
            // Nobody waiting any more: dropping the descriptor unlocks.
            let _ = tx.send(got);
        })
    };
    if spawned.is_err() {
        return Serial::Busy;
    }
    match rx.recv_timeout(PATIENCE) {
        Ok(Some(fd)) => Serial::Held(fd),
        Ok(None) => Serial::Unavailable,
        Err(_) => Serial::Busy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::dotfile::judge::AgeLimit;
    use std::os::unix::fs::PermissionsExt;

    /// Put a new file at `path` while the old one still exists (so it gets
    /// another inode number).
    fn replace(path: &Path, text: &str) {
        let new = path.with_extension("new");
        std::fs::write(&new, text).expect("write");
        std::fs::rename(&new, path).expect("rename");
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lockkit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("mkdir");
        dir
    }

    #[test]
    fn lock_files_are_serialised_on_themselves_and_the_rest_on_the_directory() {
        let dir = scratch("serial");
        let f = dir.join("f");
        std::fs::write(&f, "0\n").expect("write");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let st = |p: &Path| rustix::fs::lstat(p).expect("lstat");
        assert!(on_itself(&st(&f)));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(!on_itself(&st(&f)), "not readable by every remover");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        std::fs::hard_link(&f, dir.join("g")).expect("link");
        assert!(!on_itself(&st(&f)), "a second link is never opened");
        std::os::unix::fs::symlink("f", dir.join("s")).expect("symlink");
        assert!(!on_itself(&st(&dir.join("s"))));
        assert!(!on_itself(&st(&dir)));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_stale_lock_is_removed_once_and_a_new_one_never() {
        let dir = scratch("break");
        let lock = dir.join("l");
        std::fs::write(&lock, "0\n").expect("write");
        let policy = Policy {
            use_pid: false,
            age: Some(AgeLimit::After(Duration::from_secs(300))),
            follow_symlinks: true,
        };
        let later = FsTime::local_now().plus(Duration::from_secs(600));
        let judged = judge(&lock, policy, later);
        assert!(judged.stale);
        // Someone else broke it and a new lock took its place: the judged
        // file is gone, and the new one is not touched.
        replace(&lock, "new\n");
        assert_eq!(break_stale(&lock, &judged, policy, later), Ok(Broke::Gone));
        assert_eq!(std::fs::read_to_string(&lock).expect("read"), "new\n");
        // The judged file itself is removed, once.
        let judged = judge(&lock, policy, later);
        assert_eq!(
            break_stale(&lock, &judged, policy, later),
            Ok(Broke::Removed)
        );
        assert!(!lock.exists());
        assert_eq!(break_stale(&lock, &judged, policy, later), Ok(Broke::Gone));
        // Not stale any more when looked at again: kept.
        std::fs::write(&lock, "0\n").expect("write");
        let judged = judge(&lock, policy, later);
        let now = FsTime::local_now();
        assert_eq!(break_stale(&lock, &judged, policy, now), Ok(Broke::Gone));
        assert!(lock.exists());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn owners_remove_only_their_own() {
        let dir = scratch("owner");
        let lock = dir.join("l");
        std::fs::write(&lock, "mine\n").expect("write");
        let mine = FileId::of(&rustix::fs::lstat(&lock).expect("lstat"));
        replace(&lock, "theirs\n");
        assert_eq!(remove_if_ours(&lock, mine), Ok(()));
        assert!(lock.exists(), "someone else's lock stays");
        let theirs = FileId::of(&rustix::fs::lstat(&lock).expect("lstat"));
        assert_eq!(remove_if_ours(&lock, theirs), Ok(()));
        assert!(!lock.exists());
        assert_eq!(remove(&lock), Ok(()), "already gone is fine");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
