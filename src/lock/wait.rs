//! Waiting for a lock *file* to become free, without polling.
//!
//! The C tools sleep 5–60 s between attempts. A [`Waiter`] instead lets the
//! kernel say when trying again can succeed:
//!
//! * the lock name is removed or renamed in its directory (inotify);
//! * the process named in the lock exits (pidfd);
//! * a deadline passes (the lock reaching its age limit, the caller's give-up
//!   time, or the next attempt of the reference schedule, which the caller
//!   keeps as a backstop);
//! * and, separately, the process we work for exits (pidfd), which ends the
//!   wait for good.
//!
//! inotify sees only changes made through this kernel: on NFS and other
//! remote file systems another client's unlink is invisible, so
//! [`Waiter::events_reliable`] is false there and the caller must fall back
//! to the reference schedule.
//!
//! Nothing is set up until the first wait: an uncontended lock costs no
//! inotify instance. Closing one whose watch was used waits for an SRCU
//! grace period (1–15 ms measured here, more under load), and so does the
//! exit of a process that still has it. So the descriptor of a finished wait
//! is parked, and [`close_parked`] hands the slow last close to a throwaway
//! child as the tool ends: the caller's next command (`lockfile x && cmd`)
//! starts without waiting for the kernel's housekeeping.

use std::os::fd::{AsFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags};

/// Why [`Waiter::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Something happened to the lock name: try again.
    LockChanged,
    /// The process holding the lock exited: try again.
    HolderExited,
    /// The process we were asked to watch over exited.
    ParentDied,
    /// The deadline passed.
    Deadline,
    /// The descriptor given to [`Waiter::watch_fd`] became readable (e.g. a
    /// signal's self-pipe).
    Interrupted,
}

/// Watches one lock file's name.
#[derive(Debug)]
pub struct Waiter {
    dir: PathBuf,
    name: Vec<u8>,
    /// inotify and `remote` have been set up (at the first wait).
    armed: bool,
    /// Armed since the last attempt: the name may have been freed between
    /// that attempt and the watch, so the caller must look once more.
    fresh: bool,
    inotify: Option<OwnedFd>,
    holder: Option<(i32, OwnedFd)>,
    parent: Option<OwnedFd>,
    extra: Option<OwnedFd>,
    remote: bool,
    /// Without inotify on a local file system (the per-user instance limit,
    /// `fs.inotify.max_user_instances`, reached): the pause before looking
    /// again, doubling from [`LOOK_FIRST`] to [`LOOK_AT_MOST`].
    look_again: Duration,
}

/// Where the kernel cannot tell us (no inotify instance to be had), look
/// again soon rather than only on the reference's 5–60 s schedule: a
/// thousand such waiters sleeping in step all try at the same instants and
/// most find the lock taken, so some ran out of retries (measured:
/// 81 of 1 000 `dotlock` waiters, docs/benchmarks.md). These looks are not
/// attempts of the schedule: they spend no retry, and the schedule still
/// says when to give up.
const LOOK_FIRST: Duration = Duration::from_millis(10);
const LOOK_AT_MOST: Duration = Duration::from_secs(1);

/// `statfs` magic numbers of file systems whose changes may come from other
/// machines, where inotify cannot see them.
const REMOTE_FS: &[i64] = &[
    0x6969,      // NFS
    0xFF53_4D42, // CIFS
    0xFE53_4D42, // SMB2
    0x517B,      // SMB
    0x564C,      // NCP
    0x0102_1997, // 9P (v9fs)
    0x6573_5546, // FUSE (sshfs and friends)
    0x7461_636F, // OCFS2
    0x0116_1970, // GFS2
    0x00C3_6400, // CEPH
    0x5346_414F, // AFS
    0x6B41_4653, // kAFS
];

fn parent_dir(lock: &Path) -> &Path {
    match lock.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl Waiter {
    /// Watch the directory of `lock` for its name going away (from the
    /// first wait on).
    pub fn new(lock: &Path) -> Waiter {
        Waiter {
            dir: parent_dir(lock).to_path_buf(),
            name: lock
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default(),
            armed: false,
            fresh: false,
            inotify: None,
            holder: None,
            parent: None,
            extra: None,
            remote: false,
            look_again: LOOK_FIRST,
        }
    }

    /// Set up the directory watch, once.
    fn arm(&mut self) {
        if self.armed {
            return;
        }
        self.armed = true;
        self.fresh = true;
        let dir = self.dir.as_path();
        self.remote = rustix::fs::statfs(dir)
            .map(|s| REMOTE_FS.contains(&{ s.f_type }))
            .unwrap_or(false);
        self.inotify = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .ok()
            .filter(|fd| {
                inotify::add_watch(
                    fd,
                    dir,
                    WatchFlags::DELETE
                        | WatchFlags::MOVED_FROM
                        | WatchFlags::MOVED_TO
                        | WatchFlags::CREATE
                        | WatchFlags::ATTRIB
                        | WatchFlags::DELETE_SELF
                        | WatchFlags::MOVE_SELF
                        | WatchFlags::ONLYDIR,
                )
                .is_ok()
            });
    }

    /// Can an unlink by anyone be seen as it happens? (No on remote file
    /// systems or without inotify: then retry on the reference schedule.)
    pub fn events_reliable(&mut self) -> bool {
        self.arm();
        self.inotify.is_some() && !self.remote
    }

    /// Also wake when process `pid` (the lock's holder) exits. Returns false
    /// if it already has (so there is nothing to wait for: try again now).
    /// Where pidfds are not available, nothing is watched.
    pub fn watch_holder(&mut self, pid: Option<i32>) -> bool {
        if self.holder.as_ref().map(|(p, _)| *p) == pid {
            return true;
        }
        self.holder = None;
        let Some(pid) = pid else {
            return true;
        };
        match pidfd(pid) {
            Ok(fd) => {
                self.holder = Some((pid, fd));
                true
            }
            Err(Errno::SRCH) => false,
            Err(_) => true,
        }
    }

    /// End waits with [`Event::ParentDied`] once process `pid` exits.
    /// Returns false if it is already gone (then it is not our parent any
    /// more either).
    pub fn watch_parent(&mut self, pid: i32) -> bool {
        self.parent = pidfd(pid).ok();
        let still_parent =
            rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) == Some(pid);
        self.parent.is_some() && still_parent
    }

    /// End waits with [`Event::Interrupted`] when `fd` is readable. The
    /// caller drains it.
    pub fn watch_fd(&mut self, fd: OwnedFd) {
        self.extra = Some(fd);
    }

    /// Block until an event or `until`. The first call only sets up the
    /// watch and returns [`Event::LockChanged`]: look again, now watched.
    pub fn wait(&mut self, until: Instant) -> Event {
        self.arm();
        if std::mem::take(&mut self.fresh) {
            return Event::LockChanged;
        }
        let blind = self.inotify.is_none() && !self.remote;
        loop {
            let now = Instant::now();
            if now >= until {
                return Event::Deadline;
            }
            let left = until - now;
            let look = blind && self.look_again < left;
            match self.poll_for(if look { self.look_again } else { left }) {
                Some(Event::Deadline) if look => {
                    self.look_again = (self.look_again * 2).min(LOOK_AT_MOST);
                    return Event::LockChanged;
                }
                Some(event) => return event,
                None => {}
            }
        }
    }

    /// One poll(2) of everything watched, for at most `left`: the event, or
    /// `None` to poll again (EINTR, or inotify news about other names).
    fn poll_for(&mut self, left: Duration) -> Option<Event> {
        let timeout = rustix::time::Timespec {
            tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let flags = PollFlags::IN;
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(4);
        let mut kinds = Vec::with_capacity(4);
        if let Some(fd) = &self.extra {
            fds.push(PollFd::new(fd, flags));
            kinds.push(Event::Interrupted);
        }
        if let Some(fd) = &self.parent {
            fds.push(PollFd::new(fd, flags));
            kinds.push(Event::ParentDied);
        }
        if let Some((_, fd)) = &self.holder {
            fds.push(PollFd::new(fd, flags));
            kinds.push(Event::HolderExited);
        }
        if let Some(fd) = &self.inotify {
            fds.push(PollFd::new(fd, flags));
            kinds.push(Event::LockChanged);
        }
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Some(Event::Deadline),
            Ok(_) => {}
            Err(Errno::INTR) => return None,
            Err(_) => return Some(Event::Deadline),
        }
        let ready: Vec<Event> = fds
            .iter()
            .zip(&kinds)
            .filter(|(fd, _)| !fd.revents().is_empty())
            .map(|(_, k)| *k)
            .collect();
        drop(fds);
        for kind in ready {
            match kind {
                Event::ParentDied => return Some(Event::ParentDied),
                Event::Interrupted => return Some(Event::Interrupted),
                Event::HolderExited => {
                    self.holder = None;
                    return Some(Event::HolderExited);
                }
                Event::LockChanged if self.drain_inotify() => return Some(Event::LockChanged),
                _ => {}
            }
        }
        None
    }

    /// Read pending inotify events; true if one concerns the lock name (or
    /// the directory itself went away).
    fn drain_inotify(&mut self) -> bool {
        let Some(fd) = &self.inotify else {
            return false;
        };
        let mut relevant = false;
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(fd.as_fd(), &mut buf);
        loop {
            match reader.next() {
                Ok(ev) => {
                    let about_lock = ev
                        .file_name()
                        .is_some_and(|n| n.to_bytes() == self.name.as_slice());
                    let about_dir = ev.events().intersects(
                        inotify::ReadFlags::DELETE_SELF
                            | inotify::ReadFlags::MOVE_SELF
                            | inotify::ReadFlags::IGNORED
                            | inotify::ReadFlags::QUEUE_OVERFLOW,
                    );
                    relevant |= about_lock || about_dir;
                }
                Err(Errno::INTR) => {}
                Err(_) => break, // EAGAIN: drained
            }
        }
        relevant
    }
}

/// A used inotify descriptor waiting for [`close_parked`], or -1.
static PARKED: AtomicI32 = AtomicI32::new(-1);

impl Drop for Waiter {
    fn drop(&mut self) {
        // Park one used inotify descriptor (see the module comment); any
        // further one is closed now.
        if let Some(fd) = self.inotify.take() {
            let raw: RawFd = fd.into_raw_fd();
            if PARKED
                .compare_exchange(-1, raw, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // SAFETY: `raw` came from an OwnedFd we own.
                drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) });
            }
        }
    }
}

/// As the tool ends: close the parked inotify descriptor without waiting
/// for its teardown. A forked child takes the last reference and pays for
/// it after we have exited; it closes stdio first, so nobody reading our
/// output waits for it either. Signals stay blocked in the child for its
/// short life: it must never run a handler (lock cleanup) of ours.
pub fn close_parked() {
    let raw = PARKED.swap(-1, Ordering::SeqCst);
    if raw < 0 {
        return;
    }
    // SAFETY: plain libc calls on valid arguments; the child runs only
    // async-signal-safe calls (close_range/close, _exit) and never returns.
    let all = super::cleanup::Deferred::all();
    unsafe {
        if libc::fork() == 0 {
            if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
                for fd in [0, 1, 2, raw] {
                    libc::close(fd);
                }
            }
            libc::_exit(0);
        }
        drop(all);
        // Not the last reference if the fork worked, so this is quick.
        libc::close(raw);
    }
}

/// A pidfd for `pid` (ESRCH: no such process).
fn pidfd(pid: i32) -> Result<OwnedFd, Errno> {
    let pid = Pid::from_raw(pid).ok_or(Errno::SRCH)?;
    rustix::process::pidfd_open(pid, PidfdFlags::empty())
}
