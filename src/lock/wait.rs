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
//! The waiters of one lock share one inotify watch ([`super::relay`]): one
//! of them watches and tells the others. Where the kernel refuses a pidfd
//! (seccomp: ENOSYS, EPERM) or inotify, or descriptors run short, the
//! waiter looks again every 10 ms to 1 s and checks its parent with
//! getppid(2) at each wake: it waits, as the reference tools do, and never
//! gives up early.
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

use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags};

use super::relay::{self, Heard, Role};

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

/// A process watched for its exit: through its pidfd, or, where none can be
/// had (pidfd_open refused by a seccomp filter with ENOSYS or EPERM, or no
/// descriptor left), by looking again at each wake.
#[derive(Debug)]
struct Watched {
    pid: i32,
    pidfd: Option<OwnedFd>,
}

/// Watches one lock file's name.
#[derive(Debug)]
pub struct Waiter {
    lock: PathBuf,
    dir: PathBuf,
    name: Vec<u8>,
    /// inotify or the relay, and `remote`, have been set up (at the first
    /// wait).
    armed: bool,
    /// Armed (or joined a new watcher) since the last attempt: the name may
    /// have been freed before the watch began, so the caller must look once
    /// more.
    fresh: bool,
    /// Held by the watcher of the lock's waiters, or by one alone.
    inotify: Option<OwnedFd>,
    /// Our part among the lock's waiters (see [`super::relay`]).
    role: Role,
    key: Option<relay::Key>,
    /// A watcher without inotify: the lock's identity when last told.
    told: Option<Option<(u64, u64)>>,
    holder: Option<Watched>,
    parent: Option<Watched>,
    extra: Option<OwnedFd>,
    remote: bool,
    /// Where nothing can tell us (no inotify and no watcher, or a holder
    /// without a pidfd, on a local file system): the pause before looking
    /// again, doubling from [`LOOK_FIRST`] to [`LOOK_AT_MOST`].
    look_again: Duration,
    /// RLIMIT_NOFILE, read when first needed: our descriptors must leave
    /// [`RESERVE`] for the lock work.
    nofile: Option<u64>,
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

/// How often a parent watched without a pidfd is checked (dotlockfile
/// checks every 5 s, or every second with `-i`).
const PARENT_CHECK: Duration = Duration::from_secs(1);

/// The pause after `d` between looks without events.
fn next_look(d: Duration) -> Duration {
    (d * 2).clamp(LOOK_FIRST, LOOK_AT_MOST)
}

/// Descriptors left for the lock work itself (reading a holder's pid, the
/// directory lock of a stale break, a probe file) whatever the waiter
/// holds: waking early is an optimisation, and must never make an attempt
/// fail (or a pid go unread) where the reference, holding nothing, would
/// succeed (`ulimit -n 4`).
const RESERVE: u64 = 3;

/// Does holding `fd` leave [`RESERVE`] descriptors below `nofile`?
/// (Descriptors are allocated lowest first, so a new one's number tells
/// how many lie above it.)
fn spare(fd: &OwnedFd, nofile: u64) -> bool {
    (fd.as_raw_fd() as u64).saturating_add(RESERVE) < nofile
}

/// RLIMIT_NOFILE (`u64::MAX` if unlimited).
fn nofile() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// Does holding the new descriptor `fd` (one for waiting only) leave
/// [`RESERVE`] for the lock work? (For the signal pipe of [`super::noted`].)
pub(super) fn leaves_reserve(fd: &OwnedFd) -> bool {
    spare(fd, nofile())
}

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

/// Is `dir` on a file system whose changes may come from other machines
/// (where inotify cannot see them)?
pub(super) fn on_remote_fs(dir: &Path) -> bool {
    rustix::fs::statfs(dir)
        .map(|s| REMOTE_FS.contains(&{ s.f_type }))
        .unwrap_or(false)
}

fn parent_dir(lock: &Path) -> &Path {
    match lock.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// What a descriptor in one poll stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Extra,
    Parent,
    Holder,
    Inotify,
    Listener,
    Follower(RawFd),
    Watcher,
}

impl Waiter {
    /// Watch the directory of `lock` for its name going away (from the
    /// first wait on).
    pub fn new(lock: &Path) -> Waiter {
        Waiter {
            lock: lock.to_path_buf(),
            dir: parent_dir(lock).to_path_buf(),
            name: lock
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default(),
            armed: false,
            fresh: false,
            inotify: None,
            role: Role::Alone,
            key: None,
            told: None,
            holder: None,
            parent: None,
            extra: None,
            remote: false,
            look_again: LOOK_FIRST,
            nofile: None,
        }
    }

    /// Set up the watch, once: join the lock's waiters (see
    /// [`super::relay`]) as watcher or follower.
    fn arm(&mut self) {
        if self.armed {
            return;
        }
        self.armed = true;
        self.fresh = true;
        self.remote = on_remote_fs(&self.dir);
        self.key = rustix::fs::stat(&self.dir).ok().map(|st| relay::Key {
            uid: rustix::process::geteuid().as_raw(),
            dev: st.st_dev,
            ino: st.st_ino,
            name: self.name.clone(),
        });
        self.join();
    }

    /// Take a part among the lock's waiters; a watcher (or a waiter on its
    /// own) sets up its inotify watch.
    fn join(&mut self) {
        let nofile = self.nofile();
        self.role = match &self.key {
            Some(key) => relay::join(key, &|fd| spare(fd, nofile)),
            None => Role::Alone,
        };
        if !matches!(self.role, Role::Follower(_)) && self.inotify.is_none() {
            self.inotify = self.watch_dir();
        }
        self.told = None;
    }

    /// RLIMIT_NOFILE (read once: only a waiter needs it).
    fn nofile(&mut self) -> u64 {
        *self.nofile.get_or_insert_with(nofile)
    }

    /// A new inotify instance watching the lock's directory.
    fn watch_dir(&mut self) -> Option<OwnedFd> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok()?;
        if !spare(&fd, self.nofile()) {
            return None;
        }
        inotify::add_watch(
            &fd,
            &self.dir,
            WatchFlags::DELETE
                | WatchFlags::MOVED_FROM
                | WatchFlags::MOVED_TO
                | WatchFlags::CREATE
                | WatchFlags::ATTRIB
                | WatchFlags::DELETE_SELF
                | WatchFlags::MOVE_SELF
                | WatchFlags::ONLYDIR,
        )
        .ok()?;
        Some(fd)
    }

    /// Is someone (our inotify watch, or the watcher we follow) told of
    /// changes to the lock name?
    fn told_of_changes(&self) -> bool {
        self.inotify.is_some() || matches!(self.role, Role::Follower(_))
    }

    /// Can an unlink by anyone be seen as it happens? (No on remote file
    /// systems or without inotify: then retry on the reference schedule.)
    pub fn events_reliable(&mut self) -> bool {
        self.arm();
        self.told_of_changes() && !self.remote
    }

    /// Must we look again soon, on our own? (Nothing tells us of a change
    /// to the name, or of the holder's exit.)
    fn blind(&self) -> bool {
        let holder_unseen = self.holder.as_ref().is_some_and(|h| h.pidfd.is_none());
        !self.remote && (!self.told_of_changes() || holder_unseen)
    }

    /// Also wake when process `pid` (the lock's holder) exits. Returns false
    /// if it already has (so there is nothing to wait for: try again now).
    /// Where no pidfd can be had, the lock is judged again at each look
    /// (every 10 ms to 1 s), as nothing else would tell us.
    pub fn watch_holder(&mut self, pid: Option<i32>) -> bool {
        if self.holder.as_ref().map(|h| h.pid) == pid {
            return true;
        }
        self.holder = None;
        let Some(pid) = pid else {
            return true;
        };
        match pidfd(pid, self.nofile()) {
            Err(Errno::SRCH) => false,
            fd => {
                self.holder = Some(Watched {
                    pid,
                    pidfd: fd.ok(),
                });
                true
            }
        }
    }

    /// End waits with [`Event::ParentDied`] once process `pid` exits.
    /// Returns false if it is already gone (then it is not our parent any
    /// more either). Where no pidfd can be had, getppid(2) is checked at
    /// each wake and at least every second (it changes when we are
    /// orphaned): a refused pidfd never ends the wait.
    pub fn watch_parent(&mut self, pid: i32) -> bool {
        let fd = pidfd(pid, self.nofile());
        if matches!(fd, Err(Errno::SRCH)) || !is_parent(pid) {
            return false;
        }
        self.parent = Some(Watched {
            pid,
            pidfd: fd.ok(),
        });
        true
    }

    /// End waits with [`Event::Interrupted`] when `fd` is readable. The
    /// caller drains it.
    pub fn watch_fd(&mut self, fd: OwnedFd) {
        self.extra = Some(fd);
    }

    /// Has the parent we watch without a pidfd gone?
    fn parent_gone(&self) -> bool {
        self.parent
            .as_ref()
            .is_some_and(|p| p.pidfd.is_none() && !is_parent(p.pid))
    }

    /// Block until an event or `until`. The first call only sets up the
    /// watch and returns [`Event::LockChanged`]: look again, now watched.
    pub fn wait(&mut self, until: Instant) -> Event {
        self.arm();
        if std::mem::take(&mut self.fresh) {
            return Event::LockChanged;
        }
        loop {
            if self.parent_gone() {
                return Event::ParentDied;
            }
            let now = Instant::now();
            if now >= until {
                return Event::Deadline;
            }
            let left = until - now;
            let look = self.blind() && self.look_again < left;
            let step = if look { self.look_again } else { left };
            let check_parent =
                self.parent.as_ref().is_some_and(|p| p.pidfd.is_none()) && PARENT_CHECK < step;
            match self.poll_for(if check_parent { PARENT_CHECK } else { step }) {
                Some(Event::Deadline) if check_parent => {}
                Some(Event::Deadline) if look => {
                    self.look_again = next_look(self.look_again);
                    self.tell_if_moved();
                    return if self.parent_gone() {
                        Event::ParentDied
                    } else {
                        Event::LockChanged
                    };
                }
                Some(Event::Deadline) if self.parent_gone() => return Event::ParentDied,
                Some(event) => return event,
                None => {}
            }
        }
    }

    /// A watcher without inotify looks for its followers: if the lock name
    /// now names another file (or none), it tells them.
    fn tell_if_moved(&mut self) {
        if !matches!(self.role, Role::Watcher(_)) || self.inotify.is_some() {
            return;
        }
        let now = rustix::fs::lstat(&self.lock)
            .ok()
            .map(|st| (st.st_dev, st.st_ino));
        if self.told != Some(now) {
            self.told = Some(now);
            self.tell_followers();
        }
    }

    /// A watcher tells its followers the lock name changed (see
    /// [`relay::Watcher::tell_all`]).
    fn tell_followers(&mut self) {
        let nofile = self.nofile();
        let uid = self.key.as_ref().map_or(u32::MAX, |k| k.uid);
        if let Role::Watcher(w) = &mut self.role {
            w.tell_all(uid, &|fd| spare(fd, nofile));
        }
    }

    /// One poll(2) of everything watched, for at most `left`: the event, or
    /// `None` to poll again (inotify news about other names, a follower
    /// come or gone).
    fn poll_for(&mut self, left: Duration) -> Option<Event> {
        let timeout = rustix::time::Timespec {
            tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut watched: Vec<(&OwnedFd, Source)> = Vec::with_capacity(6);
        if let Some(fd) = &self.extra {
            watched.push((fd, Source::Extra));
        }
        if let Some(fd) = self.parent.as_ref().and_then(|p| p.pidfd.as_ref()) {
            watched.push((fd, Source::Parent));
        }
        if let Some(fd) = self.holder.as_ref().and_then(|h| h.pidfd.as_ref()) {
            watched.push((fd, Source::Holder));
        }
        if let Some(fd) = &self.inotify {
            watched.push((fd, Source::Inotify));
        }
        match &self.role {
            Role::Watcher(w) => {
                if let Some(fd) = &w.listener {
                    watched.push((fd, Source::Listener));
                }
                for fd in &w.followers {
                    watched.push((fd, Source::Follower(fd.as_raw_fd())));
                }
            }
            Role::Follower(fd) => watched.push((fd, Source::Watcher)),
            Role::Alone => {}
        }
        let (mut fds, sources): (Vec<PollFd<'_>>, Vec<Source>) = watched
            .into_iter()
            .map(|(fd, s)| (PollFd::new(fd, PollFlags::IN), s))
            .unzip();
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Some(Event::Deadline),
            Ok(_) => {}
            // A handler ran: one of the caller's noted signals, perhaps,
            // where no self-pipe could be had. Let the caller look.
            Err(Errno::INTR) => return Some(Event::Interrupted),
            Err(_) => return Some(Event::Deadline),
        }
        let ready: Vec<Source> = fds
            .iter()
            .zip(&sources)
            .filter(|(fd, _)| !fd.revents().is_empty())
            .map(|(_, s)| *s)
            .collect();
        drop(fds);
        // Serve the followers first, whatever we return.
        let mut event = None;
        for source in ready {
            let this = match source {
                Source::Extra => Some(Event::Interrupted),
                Source::Parent => Some(Event::ParentDied),
                Source::Holder => {
                    self.holder = None;
                    Some(Event::HolderExited)
                }
                Source::Inotify if self.drain_inotify() => {
                    self.tell_followers();
                    Some(Event::LockChanged)
                }
                Source::Inotify => None,
                Source::Listener => {
                    let nofile = self.nofile();
                    let uid = self.key.as_ref().map_or(u32::MAX, |k| k.uid);
                    if let Role::Watcher(w) = &mut self.role {
                        w.accept(uid, &|fd| spare(fd, nofile));
                    }
                    None
                }
                Source::Follower(raw) => {
                    if let Role::Watcher(w) = &mut self.role {
                        w.drop_follower(raw);
                    }
                    None
                }
                Source::Watcher => match &self.role {
                    Role::Follower(conn) => match relay::hear(conn) {
                        Heard::Changed => Some(Event::LockChanged),
                        Heard::Nothing => None,
                        Heard::Gone => {
                            // Join afresh (perhaps as the next watcher),
                            // and look again: the name may have changed
                            // before the new watch began.
                            self.join();
                            Some(Event::LockChanged)
                        }
                    },
                    _ => None,
                },
            };
            event = event.or(this);
        }
        event
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

/// Is `pid` our parent (still)?
fn is_parent(pid: i32) -> bool {
    rustix::process::getppid().map(|p| p.as_raw_nonzero().get()) == Some(pid)
}

/// A used inotify descriptor waiting for [`close_parked`], or -1.
static PARKED: AtomicI32 = AtomicI32::new(-1);

impl Drop for Waiter {
    fn drop(&mut self) {
        // Park one used inotify descriptor (see the module comment); any
        // further one is closed now.
        if let Some(fd) = self.inotify.take() {
            park(fd);
        }
    }
}

/// Keep a used inotify descriptor for [`close_parked`] (one at a time; a
/// further one is closed now).
pub(super) fn park(fd: OwnedFd) {
    let raw: RawFd = fd.into_raw_fd();
    if PARKED
        .compare_exchange(-1, raw, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // SAFETY: `raw` came from an OwnedFd we own.
        drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) });
    }
}

/// Close the parked inotify descriptor without waiting for its teardown:
/// as the tool ends, and before a command runs under a lock taken after a
/// wait (so that no inotify instance of ours lives while it runs). A forked
/// child takes the last reference and pays for it while we go on; it closes
/// stdio first, so nobody reading our output waits for it either. Signals
/// stay blocked in the child for its short life: it must never run a
/// handler (lock cleanup) of ours.
///
/// The child must be the *last* to close it, or we would pay after all: it
/// waits for the end of a pipe whose write end we close after our copy of
/// the descriptor. (Without a pipe to be had, the race is left to chance.)
pub fn close_parked() {
    let raw = PARKED.swap(-1, Ordering::SeqCst);
    if raw < 0 {
        return;
    }
    let order = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok();
    // SAFETY: fork, close_range and _exit, which rustix lacks, are libc's;
    // the child runs only async-signal-safe calls and never returns.
    let all = super::cleanup::Deferred::all();
    unsafe {
        if libc::fork() == 0 {
            if let Some((rd, wr)) = &order {
                rustix::io::close(wr.as_raw_fd());
                let mut byte = [0u8; 1];
                while matches!(rustix::io::read(rd, &mut byte), Err(Errno::INTR)) {}
            }
            if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
                for fd in [0, 1, 2, raw] {
                    rustix::io::close(fd);
                }
            }
            libc::_exit(0);
        }
        drop(all);
        // The child still holds it, so this is quick.
        rustix::io::close(raw);
    }
    // Now the child may close the last reference.
    drop(order);
}

/// A pidfd for `pid` (ESRCH: no such process) that leaves [`RESERVE`]
/// descriptors below `nofile` (else EMFILE).
fn pidfd(pid: i32, nofile: u64) -> Result<OwnedFd, Errno> {
    let pid = Pid::from_raw(pid).ok_or(Errno::SRCH)?;
    let fd = rustix::process::pidfd_open(pid, PidfdFlags::empty())?;
    if spare(&fd, nofile) {
        Ok(fd)
    } else {
        Err(Errno::MFILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_without_events_back_off_from_10_ms_to_1_s() {
        let mut d = LOOK_FIRST;
        let mut seen = vec![d];
        while d < LOOK_AT_MOST {
            d = next_look(d);
            seen.push(d);
        }
        assert_eq!(seen.first(), Some(&Duration::from_millis(10)));
        assert_eq!(seen.last(), Some(&Duration::from_secs(1)));
        assert!(seen.windows(2).all(|w| w[1] > w[0]), "{seen:?}");
        assert_eq!(next_look(LOOK_AT_MOST), LOOK_AT_MOST);
        assert_eq!(next_look(Duration::ZERO), LOOK_FIRST);
    }

    #[test]
    fn descriptors_keep_a_reserve_for_the_lock_work() {
        let fd = rustix::io::dup(rustix::stdio::stderr()).expect("dup");
        let n = fd.as_raw_fd() as u64;
        assert!(spare(&fd, n + RESERVE + 1));
        assert!(!spare(&fd, n + RESERVE));
        assert!(spare(&fd, u64::MAX));
    }

    #[test]
    fn an_uncontended_waiter_sets_up_nothing() {
        let w = Waiter::new(Path::new("/nonexistent/dir/x.lock"));
        assert!(!w.armed && w.inotify.is_none() && matches!(w.role, Role::Alone));
    }
}
