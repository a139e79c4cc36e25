//! The acquire loop every lock-file tool runs: link → judge → break a stale
//! lock → wait for a reason to try again → …, until the lock is ours or the
//! tool's schedule says to give up. The tools' ways (liblockfile's and
//! procmail's) are parameters of [`Request`].
//!
//! Attempts happen at the reference tool's moments ([`Schedule`]) *and*
//! whenever trying again could succeed: the lock name is removed, the
//! holder's process exits, or the lock reaches its age limit. So the wait
//! ends within milliseconds of the lock becoming free, and gives up exactly
//! when the reference would.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::breaking::{Broke, break_stale, remove_if_ours, touch};
use super::judge::{Policy, judge};
use super::link::{Link, Temp};
use crate::lock::cleanup;
use crate::lock::fs::FileId;
use crate::lock::kind;
use crate::lock::noted::Noted;
use crate::lock::wait::{Event, Waiter};

/// When to try again if nothing tells us sooner: the reference tool's sleeps
/// between attempts. When it runs out, the reference would give up.
pub trait Backoff {
    /// The pause before the next scheduled attempt, or `None` when no
    /// attempts are left.
    fn next_pause(&mut self) -> Option<Duration>;
}

/// The give-up clock: a [`Backoff`] and the moment of the next scheduled
/// attempt. One schedule may serve several locks (procmail's retries and
/// sleeps are shared by every file of a run: a wake-up on one file does
/// not move the moment the run gives up).
pub struct Schedule<B> {
    backoff: B,
    due: Option<Instant>,
}

impl<B: Backoff> Schedule<B> {
    pub fn new(backoff: B) -> Schedule<B> {
        Schedule { backoff, due: None }
    }

    /// The backoff, for a tool whose later options change it.
    pub fn backoff_mut(&mut self) -> &mut B {
        &mut self.backoff
    }

    /// The next scheduled attempt, or `None` when the schedule has run out.
    fn due(&mut self, events_reliable: bool) -> Option<Instant> {
        match self.due {
            Some(t) if t > Instant::now() => Some(t),
            _ => {
                self.due = next_due(&mut self.backoff, events_reliable);
                self.due
            }
        }
    }

    /// Spend one attempt outside the schedule (procmail: a refused force);
    /// false if none was left.
    fn spend(&mut self) -> bool {
        self.backoff.next_pause().is_some()
    }
}

/// When the next scheduled attempt is due, or `None` when the schedule has
/// run out.
///
/// A zero pause means the reference would try again at once — and, nothing
/// having changed, fail the same way. Where events are reliable those
/// attempts are skipped (any change wakes the waiter anyway): a finite run
/// of them ends the schedule now, an endless one (`-r -1 -i 0`) leaves only
/// the events, so nothing spins. Where events cannot be seen, a zero pause
/// is stretched to [`MIN_PAUSE`].
pub fn next_due(backoff: &mut dyn Backoff, events_reliable: bool) -> Option<Instant> {
    // Beyond this many zero pauses in a row, the schedule is taken as endless.
    const ENDLESS: u32 = 10_000_000;
    let mut zeros = 0;
    loop {
        match backoff.next_pause()? {
            pause if !pause.is_zero() => {
                return Some(Instant::now().checked_add(pause).unwrap_or_else(far_future));
            }
            _ if !events_reliable => return Some(Instant::now() + MIN_PAUSE),
            _ if zeros >= ENDLESS => return Some(far_future()),
            _ => zeros += 1,
        }
    }
}

/// The shortest pause between scheduled attempts where no event can end a
/// wait early.
pub const MIN_PAUSE: Duration = Duration::from_millis(10);

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// What to do with a lock found stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// Break it and try again at once (liblockfile).
    Break,
    /// Force it, report it, then pause (procmail's `-l` and `-s`); a
    /// refused force spends a retry.
    Force { suspend: Duration },
}

/// How a link that did not take the lock is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkErrors {
    /// By identity only (liblockfile): a name that cannot be examined seven
    /// times in a row gives up.
    Tolerate,
    /// By link's errno (procmail): anything but EEXIST ends the attempt
    /// with that error, except EXDEV, where an `O_EXCL` create stands in.
    Fatal,
}

/// One lock to take, and the tool's ways of taking it.
pub struct Request<'a> {
    pub lock: &'a Path,
    pub policy: Policy,
    pub stale: Stale,
    pub link_errors: LinkErrors,
    /// Give up (with [`Failure::ParentDied`]) when this process exits.
    pub parent: Option<i32>,
    /// Signals that end the wait (checked after each failed attempt).
    pub interrupt: Option<&'a Noted>,
    /// From the link on, a fatal signal removes the lock (if it is ours).
    pub guard_lock: bool,
}

/// Hears what a tool may have to report while it waits.
pub trait Report {
    /// A stale lock was forced (`Ok`) or the unlink was refused.
    fn forced(&mut self, _lock: &Path, _result: Result<(), Errno>) {}
}

/// Nothing to report.
pub struct Quiet;
impl Report for Quiet {}

/// Why [`acquire`] did not take the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The schedule ran out with the lock still held (or never examinable).
    GaveUp,
    /// A stale lock could not be removed.
    CannotBreak(Errno),
    /// Our own temp file vanished.
    TempLost(Errno),
    /// The watched parent process exited.
    ParentDied,
    /// A noted signal arrived.
    Interrupted,
    /// The link failed for another reason than a held lock
    /// ([`LinkErrors::Fatal`]).
    Link(Errno),
}

/// A lock file this process made. As a [`kind::Held`]: renewing touches it
/// (a lock without a live pid goes stale at its age limit), releasing
/// removes the name only while it is still our file.
#[derive(Debug)]
pub struct Held {
    path: PathBuf,
    id: FileId,
    /// Removes it on a fatal signal (if still ours), where asked.
    _guard: Option<cleanup::Guard>,
    renew_every: Option<Duration>,
}

impl Held {
    fn new(path: &Path, id: FileId, guard: Option<cleanup::Guard>) -> Held {
        Held {
            path: path.to_owned(),
            id,
            _guard: guard,
            renew_every: None,
        }
    }

    /// Touch it this often while a command runs (None: its validity does
    /// not depend on its age, e.g. it names a live process).
    pub fn set_renew_every(&mut self, every: Option<Duration>) {
        self.renew_every = every;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn id(&self) -> FileId {
        self.id
    }
}

impl kind::Held for Held {
    fn release(self) -> Result<(), Errno> {
        remove_if_ours(&self.path, self.id)
    }

    fn renew_every(&self) -> Option<Duration> {
        self.renew_every
    }

    fn renew(&mut self) -> Result<(), Errno> {
        touch(&self.path)
    }

    // `lost` stays None: a lock file gives no event when someone breaks it,
    // short of an inotify watch kept for the whole command, which holds one
    // of the user's few inotify instances (see `wait`) for as long as the
    // command runs. Only when asked (`--watchdog`) is it watched, by
    // `watchdog::Watched`.
}

/// Take the lock of `req` by linking `temp` to it (see the module comment).
/// A stale lock is broken (see [`break_stale`]) and the next attempt follows
/// at once, even after the last scheduled one.
pub fn acquire<B: Backoff>(
    req: &Request<'_>,
    temp: &mut Temp,
    schedule: &mut Schedule<B>,
    report: &mut dyn Report,
) -> Result<Held, Failure> {
    let lock = req.lock;
    // Registered before the link: the handler removes the name only if it
    // is our temp file's inode, i.e. only once the link has landed.
    let guard = req.guard_lock.then(|| cleanup::Guard::new(lock, temp.id()));
    let mut waiter = Waiter::new(lock);
    // Set up at the first wait: an uncontended lock costs nothing more.
    let mut watching = false;
    // Consecutive attempts where the lock name could not be examined.
    let mut unexaminable = 0;
    loop {
        let link = temp.link_to(lock).map_err(Failure::TempLost)?;
        if link == Link::Acquired {
            return Ok(Held::new(lock, temp.id(), guard));
        }
        if req.interrupt.is_some_and(|n| !n.take().is_empty()) {
            return Err(Failure::Interrupted);
        }
        let mut examine = true;
        match (req.link_errors, link) {
            (LinkErrors::Fatal, _) => match link.errno().unwrap_or(Errno::EXIST) {
                Errno::EXIST => {}
                Errno::XDEV => match exclusive_create(lock) {
                    // No hard links across this boundary: an O_EXCL create
                    // stands in, as procmail falls back to (an empty lock).
                    Ok(id) => {
                        let guard = req.guard_lock.then(|| cleanup::Guard::new(lock, id));
                        return Ok(Held::new(lock, id, guard));
                    }
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(Failure::Link(e)),
                },
                e => return Err(Failure::Link(e)),
            },
            (LinkErrors::Tolerate, Link::NoLock(..)) => {
                unexaminable += 1;
                if unexaminable >= 7 {
                    return Err(Failure::GaveUp);
                }
                examine = false;
            }
            (LinkErrors::Tolerate, _) => unexaminable = 0,
        }
        let mut expiry = None;
        if examine {
            let j = judge(lock, req.policy, temp.fs_now());
            if j.id.is_none() {
                continue; // freed since the link failed: try again at once
            }
            if j.stale {
                match (req.stale, break_stale(lock, &j, req.policy, temp.fs_now())) {
                    (_, Ok(Broke::Refused)) => {}
                    (Stale::Break, Ok(_)) => continue,
                    (Stale::Break, Err(e)) => return Err(Failure::CannotBreak(e)),
                    (Stale::Force { suspend }, result) => {
                        let result = result.map(drop);
                        report.forced(lock, result);
                        // procmail loops on a refused force forever; here
                        // it spends a retry like any failed attempt.
                        if result.is_err() && !schedule.spend() {
                            return Err(Failure::GaveUp);
                        }
                        match req.interrupt {
                            Some(n) => n.sleep(suspend),
                            None => std::thread::sleep(suspend),
                        }
                        continue;
                    }
                }
            } else {
                if !waiter.watch_holder(j.holder) {
                    continue; // it exited since we judged it: look again
                }
                expiry = j.expires.map(|t| temp.local_instant(t));
            }
        }
        let Some(due) = schedule.due(waiter.events_reliable()) else {
            return Err(Failure::GaveUp);
        };
        if !std::mem::replace(&mut watching, true) {
            if let Some(fd) = req.interrupt.and_then(Noted::wake_fd_owned) {
                waiter.watch_fd(fd);
            }
            if let Some(pid) = req.parent {
                if !waiter.watch_parent(pid) {
                    return Err(Failure::ParentDied);
                }
            }
        }
        let until = expiry.map_or(due, |e| e.min(due));
        if waiter.wait(until) == Event::ParentDied {
            return Err(Failure::ParentDied);
        }
    }
}

/// A lock file as a [`kind::Lock`]: liblockfile's lock (temp file, link,
/// judging, one-winner breaking), waiting as a [`kind::Wait`] says instead
/// of by a tool's retry schedule. For new tools built on the seam; the
/// drop-ins keep their references' schedules.
#[derive(Debug, Clone)]
pub struct LinkLock {
    pub lock: PathBuf,
    pub policy: Policy,
    /// What the lock file says (a pid, for `Policy::use_pid`).
    pub contents: Vec<u8>,
}

/// Waits until a moment (`None`: forever), looking at least once a minute.
struct UntilMoment(Option<Instant>);

impl Backoff for UntilMoment {
    fn next_pause(&mut self) -> Option<Duration> {
        const AT_MOST: Duration = Duration::from_secs(60);
        match self.0 {
            None => Some(AT_MOST),
            Some(end) => {
                let left = end.checked_duration_since(Instant::now())?;
                (!left.is_zero()).then(|| left.min(AT_MOST))
            }
        }
    }
}

impl kind::Lock for LinkLock {
    type Held = Held;

    fn acquire(&mut self, wait: kind::Wait) -> Result<Held, kind::AcquireError> {
        let mut temp = Temp::make(
            super::Naming::Liblockfile,
            &self.lock,
            &self.contents,
            0o644,
        )
        .map_err(
            |(super::TempError::Create(e) | super::TempError::Write(e))| kind::AcquireError::Sys(e),
        )?;
        let end = match wait {
            kind::Wait::Now => Some(Instant::now()),
            kind::Wait::Until(t) => Some(t),
            kind::Wait::Forever => None,
        };
        let request = Request {
            lock: &self.lock,
            policy: self.policy,
            stale: Stale::Break,
            link_errors: LinkErrors::Tolerate,
            parent: None,
            interrupt: None,
            guard_lock: true,
        };
        let mut schedule = Schedule::new(UntilMoment(end));
        acquire(&request, &mut temp, &mut schedule, &mut Quiet).map_err(|e| match e {
            Failure::GaveUp if wait == kind::Wait::Now => kind::AcquireError::Busy,
            Failure::GaveUp => kind::AcquireError::TimedOut,
            Failure::CannotBreak(e) | Failure::TempLost(e) | Failure::Link(e) => {
                kind::AcquireError::Sys(e)
            }
            Failure::ParentDied | Failure::Interrupted => kind::AcquireError::Sys(Errno::INTR),
        })
    }
}

/// `open(O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0444)`: the fallback lock.
fn exclusive_create(lock: &Path) -> Result<FileId, Errno> {
    let fd = rustix::fs::open(
        lock,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_bits_truncate(0o444),
    )?;
    Ok(FileId::of(&rustix::fs::fstat(&fd)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pauses(Vec<u64>);
    impl Backoff for Pauses {
        fn next_pause(&mut self) -> Option<Duration> {
            (!self.0.is_empty()).then(|| Duration::from_millis(self.0.remove(0)))
        }
    }

    #[test]
    fn zero_pauses_are_skipped_where_events_wake_us() {
        let before = Instant::now();
        let due = next_due(&mut Pauses(vec![0, 0, 50]), true).expect("due");
        assert!(due >= before + Duration::from_millis(50));
        assert_eq!(next_due(&mut Pauses(vec![0, 0]), true), None);
    }

    #[test]
    fn zero_pauses_are_stretched_where_events_are_blind() {
        let before = Instant::now();
        let due = next_due(&mut Pauses(vec![0]), false).expect("due");
        assert!(due >= before + MIN_PAUSE);
    }

    #[test]
    fn lock_files_are_a_kind_of_lock() {
        use crate::lock::kind::{AcquireError, Held as _, Lock as _, Wait};
        let dir = std::env::temp_dir().join(format!("lockkit-kind-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("mkdir");
        let mut kind = LinkLock {
            lock: dir.join("l"),
            policy: Policy {
                use_pid: false,
                age: Some(super::super::AgeLimit::After(Duration::from_secs(300))),
                follow_symlinks: true,
            },
            contents: b"0\n".to_vec(),
        };
        let held = kind.acquire(Wait::Forever).expect("free");
        assert_eq!(std::fs::read(dir.join("l")).expect("lock"), b"0\n");
        assert_eq!(kind.acquire(Wait::Now).err(), Some(AcquireError::Busy));
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            kind.acquire(Wait::Until(soon)).err(),
            Some(AcquireError::TimedOut)
        );
        assert_eq!(held.renew_every(), None);
        held.release().expect("release");
        assert!(!dir.join("l").exists());
        kind.acquire(Wait::Now)
            .expect("free again")
            .release()
            .expect("release");
        let left: Vec<_> = std::fs::read_dir(&dir).expect("ls").collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_schedule_keeps_its_moment_until_it_passes() {
        let mut s = Schedule::new(Pauses(vec![60_000, 60_000]));
        let first = s.due(true).expect("due");
        assert_eq!(s.due(true), Some(first));
        assert!(s.spend());
        assert!(!s.spend());
    }
}
