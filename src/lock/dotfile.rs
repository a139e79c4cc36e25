//! Lock files created by hard-linking (the "dot lock" of mail spools, of
//! liblockfile and procmail): a uniquely named temp file is created next to
//! the lock and linked to the lock name; whoever's link lands owns the lock.
//!
//! This works over NFS, where `O_EXCL` historically did not: `link` is atomic
//! on the server, and success is judged by comparing the two names' identity
//! (device and inode) rather than by `link`'s return value, which a lost NFS
//! reply can falsify.
//!
//! Also here: judging whether an existing lock is still valid (its holder's
//! pid, or its age on the *file system's* clock), breaking a stale lock so
//! that concurrent breakers cannot both win, and touching/removing.

use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, Timestamps, UTIME_NOW};
use rustix::io::Errno;

use super::cleanup;

/// A file's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    fn of(st: &rustix::fs::Stat) -> FileId {
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
    fn of(sec: i64, nsec: i64) -> FsTime {
        FsTime(i128::from(sec) * 1_000_000_000 + i128::from(nsec))
    }

    pub fn plus(self, d: Duration) -> FsTime {
        FsTime(self.0 + d.as_nanos() as i128)
    }
}

/// The directory a lock lives in (`.` for a bare name).
pub fn lock_dir(lock: &Path) -> &Path {
    match lock.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// liblockfile's temp name: `.lk` + pid (at least 5 digits) + one hex digit
/// of the clock + the short host name, cut to 31 bytes, in the lock's
/// directory.
pub fn liblockfile_temp_name(lock: &Path) -> PathBuf {
    liblockfile_temp_name_for(lock, std::process::id(), clock_digit())
}

/// The clock digit of liblockfile's temp name: `time(NULL) & 15`.
fn clock_digit() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        & 15
}

/// [`liblockfile_temp_name`] of process `pid` with clock digit `digit`
/// (0–15): the names a run can use (the security tests plant links there).
pub fn liblockfile_temp_name_for(lock: &Path, pid: u32, digit: u64) -> PathBuf {
    let host = rustix::system::uname();
    let host = host.nodename().to_bytes();
    let short = host.split(|&b| b == b'.').next().unwrap_or_default();
    let mut name = format!(".lk{pid:05}{:x}", digit & 15).into_bytes();
    name.extend_from_slice(short);
    name.truncate(31);
    sibling(lock, &name)
}

/// Create the temp file under liblockfile's name ([`Temp::create`]).
///
/// The name embeds our pid and host, so a file already there was left by
/// an earlier process that had our pid and was killed before it could
/// remove it (SIGKILL: no handler runs). liblockfile then fails with
/// L_TMPLOCK one time in 16 (the clock digit) for every later process that
/// gets that pid — and pids wrap quickly (`pid_max` is often 32768).
/// Instead of failing, the other clock digits are tried in turn; the
/// leftover is not removed (nothing proves which host or pid namespace made
/// it). Only when all 16 names are taken does creation fail, as before.
pub fn create_liblockfile_temp(lock: &Path, contents: &[u8], mode: u32) -> Result<Temp, TempError> {
    let first = clock_digit();
    let mut result = Err(TempError::Create(Errno::EXIST));
    for k in 0..16 {
        result = Temp::create(
            &liblockfile_temp_name_for(lock, std::process::id(), first + k),
            contents,
            mode,
        );
        if !matches!(result, Err(TempError::Create(Errno::EXIST))) {
            break;
        }
    }
    result
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
    /// Its mtime: the file system's clock when it was made.
    born: FsTime,
    /// The local monotonic clock at the same moment.
    born_local: Instant,
    _guard: cleanup::Guard,
}

impl Temp {
    /// Create `path` exclusively (never through a planted symlink) with
    /// `contents` and `mode` (the umask applies).
    pub fn create(path: &Path, contents: &[u8], mode: u32) -> Result<Temp, TempError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // Fatal signals are held back from just before the file exists
        // until it is registered for cleanup (issue 7): a signal that came
        // during open(2) used to be delivered as it returned, with the file
        // made but not yet registered, and the temp file was left behind
        // (seen in signal storms: 2 runs in 60). Held back, it is delivered
        // when `deferred` drops, and the handler removes the file.
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
        crate::stdio::write_all(fd.as_fd(), contents).map_err(fail)?;
        let st = rustix::fs::fstat(&fd).map_err(fail)?;
        let born_local = Instant::now();
        close_checked(fd).map_err(fail)?;
        Ok(Temp {
            path: path.to_owned(),
            id,
            born: FsTime::of(st.st_mtime, st.st_mtime_nsec as i64),
            born_local,
            _guard: guard,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
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
    pub fn link_to(&self, lock: &Path) -> Result<Link, Errno> {
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

    /// Its identity (that of the lock too, once linked).
    pub fn id(&self) -> FileId {
        self.id
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        // Nobody else removes our temp file: no directory lock needed.
        let _ = unlink_if(&self.path, self.id);
    }
}

/// `close(2)` with its error (NFS reports write errors there).
fn close_checked(fd: OwnedFd) -> Result<(), Errno> {
    use std::os::fd::IntoRawFd;
    let raw = fd.into_raw_fd();
    // SAFETY: we own `raw` and close it exactly once.
    if unsafe { libc::close(raw) } == 0 {
        Ok(())
    } else {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO))
    }
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

/// How to judge an existing lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Read a pid from the lock: a live process keeps it valid, a dead one
    /// makes it stale (`-p`).
    pub use_pid: bool,
    /// Without a usable pid, when the lock's age (by its mtime, on the file
    /// system's clock) makes it stale.
    pub age: AgeLimit,
    /// Judge a symlink at the lock name by its target (liblockfile: a
    /// dangling one is stale) rather than by the link itself (procmail).
    pub follow_symlinks: bool,
}

/// An age rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeLimit {
    /// Stale once this old (liblockfile: 300 s).
    After(Duration),
    /// Stale when strictly more than this many whole seconds old (procmail's
    /// `-l`); a negative limit makes any lock stale, a future one never is.
    OverSeconds(i64),
}

impl AgeLimit {
    /// The moment a lock with this mtime becomes stale.
    fn expiry(self, mtime: FsTime) -> FsTime {
        match self {
            AgeLimit::After(d) => mtime.plus(d),
            AgeLimit::OverSeconds(n) => {
                let mtime_sec = mtime.0.div_euclid(1_000_000_000);
                FsTime((mtime_sec + i128::from(n) + 1) * 1_000_000_000)
            }
        }
    }
}

/// What an existing lock looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    /// `lstat` identity of the name; `None` if it vanished.
    pub id: Option<FileId>,
    pub stale: bool,
    /// The live process named in the lock (with [`Policy::use_pid`]).
    pub holder: Option<i32>,
    /// When the age rule will make it stale, if that is what keeps it valid.
    pub expires: Option<FsTime>,
}

/// liblockfile's validity test, with two fixes: "now" is the file system's
/// clock (not the local one, and not the accident of the file's atime), and
/// a pid that now belongs to a process started after the lock was made
/// (pid reuse) does not keep the lock alive.
pub fn judge(lock: &Path, policy: Policy, now: FsTime) -> Judgement {
    let id = rustix::fs::lstat(lock).ok().map(|st| FileId::of(&st));
    let stale = Judgement {
        id,
        stale: true,
        holder: None,
        expires: None,
    };
    // A symlink is followed only as fs.protected_symlinks allows (issue 7):
    // another user's symlink in a sticky world-writable directory is judged
    // as the kernel's EACCES leaves it, like a dangling one — stale, so
    // only the link itself is removed. lstat first, so that a file swapped
    // for a symlink after this look is not followed.
    let st = match rustix::fs::lstat(lock) {
        Ok(st)
            if policy.follow_symlinks
                && rustix::fs::FileType::from_raw_mode(st.st_mode)
                    == rustix::fs::FileType::Symlink =>
        {
            match super::file::follow_check(lock) {
                super::file::Follow::Refused => return stale,
                _ => rustix::fs::stat(lock),
            }
        }
        other => other,
    };
    let Ok(st) = st else {
        return stale;
    };
    let mtime = FsTime::of(st.st_mtime, st.st_mtime_nsec as i64);
    if policy.use_pid {
        if let Some(pid) = read_pid(lock).filter(|&p| p > 0) {
            match process_state(pid) {
                ProcessState::Dead => return stale,
                ProcessState::Alive { started_after } => {
                    let birth = birth_time(lock).unwrap_or(mtime);
                    if started_after.is_some_and(|t| t > birth.plus(Duration::from_secs(1))) {
                        return stale; // the pid was reused
                    }
                    return Judgement {
                        id,
                        stale: false,
                        holder: Some(pid),
                        expires: None,
                    };
                }
                ProcessState::Unknown => {}
            }
        }
    }
    let expires = policy.age.expiry(mtime);
    Judgement {
        id,
        stale: now >= expires,
        holder: None,
        expires: Some(expires),
    }
}

/// C `atoi` of the first 16 bytes: blanks, a sign, digits; the rest ignored;
/// overflow wraps like a C `int`.
fn read_pid(lock: &Path) -> Option<i32> {
    // Not through a planted symlink; never as our controlling terminal;
    // never blocking on a FIFO.
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = super::file::open_unless_planted(lock, flags, Mode::empty()).ok()?;
    let mut buf = [0u8; 16];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    Some(crate::cnum::atoi(&buf[..n]))
}

enum ProcessState {
    Dead,
    /// Alive (or not ours to signal); when it started, on the wall clock.
    Alive {
        started_after: Option<FsTime>,
    },
    Unknown,
}

fn process_state(pid: i32) -> ProcessState {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    if rc == 0 || errno == Some(libc::EPERM) {
        let stat = ProcStat::read(pid);
        // A zombie has exited; only its parent has not collected it yet.
        if stat.as_ref().is_some_and(|s| s.state == b'Z') {
            return ProcessState::Dead;
        }
        ProcessState::Alive {
            started_after: stat.and_then(|s| s.started()),
        }
    } else if errno == Some(libc::ESRCH) {
        ProcessState::Dead
    } else {
        ProcessState::Unknown
    }
}

/// What /proc says about a process.
struct ProcStat {
    state: u8,
    start_ticks: u64,
}

impl ProcStat {
    fn read(pid: i32) -> Option<ProcStat> {
        let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which may contain spaces and ')'.
        let close = stat.iter().rposition(|&b| b == b')')?;
        let fields: Vec<&[u8]> = stat[close + 1..]
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty())
            .collect();
        // Field 3 overall is the state; field 22 (starttime) the 20th after
        // the name.
        Some(ProcStat {
            state: *fields.first()?.first()?,
            start_ticks: std::str::from_utf8(fields.get(19)?).ok()?.parse().ok()?,
        })
    }

    /// When the process started, as wall-clock time.
    fn started(&self) -> Option<FsTime> {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if hz <= 0 {
            return None;
        }
        let since_boot = i128::from(self.start_ticks) * 1_000_000_000 / i128::from(hz);
        let boot = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        let real = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
        let boot_ns = FsTime::of(boot.tv_sec, boot.tv_nsec).0;
        let real_ns = FsTime::of(real.tv_sec, real.tv_nsec).0;
        Some(FsTime(real_ns - boot_ns + since_boot))
    }
}

/// The file's creation time, where the file system records one.
fn birth_time(lock: &Path) -> Option<FsTime> {
    let stx = rustix::fs::statx(
        rustix::fs::CWD,
        lock,
        AtFlags::empty(),
        rustix::fs::StatxFlags::BTIME,
    )
    .ok()?;
    if stx.stx_mask & rustix::fs::StatxFlags::BTIME.bits() == 0 {
        return None;
    }
    Some(FsTime::of(
        stx.stx_btime.tv_sec,
        i64::from(stx.stx_btime.tv_nsec),
    ))
}

/// Remove a lock judged stale, such that however many processes judged it
/// stale at once, only the lock they judged is removed, and only once.
///
/// Breakers serialise on a flock(2) of the lock's directory and, holding it,
/// check that the name still refers to the judged file and that it is still
/// stale (judged again). Anyone who creates a lock does so by `link`, which
/// cannot replace the stale file, so once the check passes nothing but
/// another remover could take it away — and removers wait for each other.
/// The loser of the race finds a different file (or none) and removes
/// nothing.
///
/// Owners removing their own lock ([`remove`]) take the same directory lock,
/// so the name can only lose its file under it.
///
/// Returns Ok whether or not this call removed it; errors are unlink's.
/// Where the directory cannot be locked (not readable; some NFS setups), it
/// degrades to upstream's check-then-unlink.
pub fn break_stale(
    lock: &Path,
    judged: &Judgement,
    policy: Policy,
    now: FsTime,
) -> Result<(), Errno> {
    let _serialised = DirLock::take(lock);
    if _serialised.is_some() {
        let again = judge(lock, policy, now);
        if again.id.is_none() || again.id != judged.id || !again.stale {
            return Ok(()); // someone else broke it, or it came back to life
        }
    }
    unlink_lock(lock)
}

/// How long a remover waits for the directory lock (see [`DirLock::take`]).
const DIR_LOCK_PATIENCE: Duration = Duration::from_secs(5);

/// An exclusive flock(2) on a lock's directory, taken by every lockkit
/// process that *removes* a lock name (breakers and owners alike), so that
/// a breaker's re-check and its unlink see the same file.
struct DirLock {
    /// Held for its lock; closing it releases the lock.
    _dir: OwnedFd,
}

impl DirLock {
    /// `None` where the directory cannot be opened or locked.
    fn take(lock: &Path) -> Option<DirLock> {
        let dir = rustix::fs::open(
            lock_dir(lock),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        match rustix::fs::flock(&dir, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Some(DirLock { _dir: dir }),
            Err(Errno::WOULDBLOCK) => {}
            Err(_) => return None,
        }
        // Security (issue 7): a bounded wait. Anyone who can open the
        // directory can hold a flock(2) on it (in /tmp, any user) and must
        // not be able to make every removal and stale-lock break there hang.
        // lockkit holds it only for a re-check and an unlink, so past
        // DIR_LOCK_PATIENCE we go on without it: upstream's check-then-unlink,
        // as where the directory cannot be locked at all. The wait is a
        // blocking flock(2) in a helper thread (so the kernel queues us
        // fairly, and /proc/locks shows the wait); if we stop waiting, the
        // thread lets go of the lock as soon as it gets it.
        let (tx, rx) = std::sync::mpsc::channel();
        // The thread starts with every signal blocked (it inherits this
        // thread's mask): signals must reach the main thread, where
        // cleanup::Deferred can hold them back.
        let spawned = {
            let _all = cleanup::Deferred::all();
            std::thread::Builder::new().spawn(move || {
                loop {
                    match rustix::fs::flock(&dir, FlockOperation::LockExclusive) {
                        Ok(()) => break,
                        Err(Errno::INTR) => {}
                        Err(_) => {
                            let _ = tx.send(None);
                            return;
                        }
                    }
                }
                // Nobody waiting any more: dropping the descriptor unlocks.
                let _ = tx.send(Some(dir));
            })
        };
        spawned.ok()?;
        match rx.recv_timeout(DIR_LOCK_PATIENCE) {
            Ok(Some(dir)) => Some(DirLock { _dir: dir }),
            _ => None,
        }
    }
}

fn unlink_lock(lock: &Path) -> Result<(), Errno> {
    match rustix::fs::unlink(lock) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// When to try again if nothing tells us sooner: the reference tool's sleeps
/// between attempts. When it runs out, the reference would give up.
pub trait Backoff {
    /// The pause before the next scheduled attempt, or `None` when no
    /// attempts are left.
    fn next_pause(&mut self) -> Option<Duration>;
}

/// Why [`acquire`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
    /// The schedule ran out with the lock still held (or never examinable).
    GaveUp,
    /// A stale lock could not be removed.
    CannotBreak(Errno),
    /// Our own temp file vanished.
    TempLost(Errno),
    /// The watched parent process exited.
    ParentDied,
}

/// Take `lock` by linking `temp` to it.
///
/// Attempts happen at the reference tool's moments (`backoff`) *and*
/// whenever trying again could succeed: the lock name is removed, the
/// holder's process exits, or the lock reaches its age limit. So the wait
/// ends within milliseconds of the lock becoming free, and gives up exactly
/// when the reference would. A stale lock is broken (see [`break_stale`])
/// and the next attempt follows at once, even after the last scheduled one.
pub fn acquire(
    lock: &Path,
    temp: &Temp,
    policy: Policy,
    backoff: &mut dyn Backoff,
    parent: Option<i32>,
) -> Result<(), AcquireError> {
    let mut waiter = super::wait::Waiter::new(lock);
    let mut watching_parent = false;
    let mut next_attempt: Option<Instant> = None;
    // Consecutive attempts where the lock name could not be examined.
    let mut unexaminable = 0;
    loop {
        let mut expiry = None;
        match temp.link_to(lock).map_err(AcquireError::TempLost)? {
            Link::Acquired => return Ok(()),
            Link::NoLock(..) => {
                unexaminable += 1;
                if unexaminable >= 7 {
                    return Err(AcquireError::GaveUp);
                }
            }
            Link::Held(_) => {
                unexaminable = 0;
                let j = judge(lock, policy, temp.fs_now());
                if j.stale {
                    break_stale(lock, &j, policy, temp.fs_now())
                        .map_err(AcquireError::CannotBreak)?;
                    continue;
                }
                if !waiter.watch_holder(j.holder) {
                    continue; // it exited since we judged it: look again
                }
                expiry = j.expires.map(|t| temp.local_instant(t));
            }
        }
        let due = match next_attempt {
            Some(t) => t,
            None => match next_due(backoff, waiter.events_reliable()) {
                Some(t) => t,
                None => return Err(AcquireError::GaveUp),
            },
        };
        next_attempt = Some(due);
        if let (Some(pid), false) = (parent, watching_parent) {
            watching_parent = true;
            if !waiter.watch_parent(pid) {
                return Err(AcquireError::ParentDied);
            }
        }
        let until = expiry.map_or(due, |e| e.min(due));
        match waiter.wait(until) {
            super::wait::Event::ParentDied => return Err(AcquireError::ParentDied),
            super::wait::Event::Deadline if Instant::now() >= due => next_attempt = None,
            _ => {}
        }
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

/// Set the lock's times to now (`utime(lock, NULL)`).
pub fn touch(lock: &Path) -> Result<(), Errno> {
    let now = Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_NOW,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_NOW,
        },
    };
    // Security (issue 7): through a symlink only as fs.protected_symlinks
    // allows (else EACCES, as the kernel gives where it is on), so a link
    // planted in a sticky directory cannot make us change another file's
    // times; a non-symlink is touched without following, so a symlink
    // swapped in after the look is not followed either.
    let flags = match super::file::follow_check(lock) {
        super::file::Follow::Refused => return Err(Errno::ACCESS),
        super::file::Follow::Allowed => AtFlags::empty(),
        super::file::Follow::NotSymlink => AtFlags::SYMLINK_NOFOLLOW,
    };
    rustix::fs::utimensat(rustix::fs::CWD, lock, &now, flags)
}

/// Remove a lock; one that is already gone is fine. Serialised with
/// stale-lock breakers (see [`break_stale`]).
pub fn remove(lock: &Path) -> Result<(), Errno> {
    let _serialised = DirLock::take(lock);
    unlink_lock(lock)
}

/// Remove `path` if it is still the file `id` (under the same directory
/// lock as [`remove`]): never someone else's file that took its place.
pub fn remove_if_ours(path: &Path, id: FileId) -> Result<(), Errno> {
    let _serialised = DirLock::take(path);
    unlink_if(path, id)
}

fn unlink_if(path: &Path, id: FileId) -> Result<(), Errno> {
    match rustix::fs::lstat(path) {
        Ok(st) if FileId::of(&st) == id => unlink_lock(path),
        Ok(_) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A path as a C string for a signal handler (NUL bytes cannot occur in
/// paths from argv).
pub fn c_path(p: &Path) -> CString {
    let bytes = p.as_os_str().as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_name_is_next_to_the_lock_and_short() {
        let t = liblockfile_temp_name(Path::new("/var/lock/x.lock"));
        let name = t.file_name().unwrap_or_default().as_bytes();
        assert!(t.starts_with("/var/lock"));
        assert!(name.starts_with(b".lk"));
        assert!(name.len() <= 31);
        let bare = liblockfile_temp_name(Path::new("x.lock"));
        assert!(bare.as_os_str().as_bytes().starts_with(b".lk"));
    }
}
