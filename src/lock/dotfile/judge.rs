//! Judging an existing lock: valid (held) or stale (may be broken).
//!
//! liblockfile's rules — a live pid keeps a lock valid, else its age decides
//! — with fixes: "now" is the file system's clock (not the local one, and
//! not the accident of the file's atime), and a pid that now belongs to a
//! process started after the pid was written (pid reuse) does not keep the
//! lock alive.

use std::path::Path;
use std::time::Duration;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::Pid;

use crate::lock::file::{Follow, follow_check, open_unless_planted};
use crate::lock::fs::{FileId, FsTime};

/// How to judge an existing lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Read a pid from the lock: a live process keeps it valid, a dead one
    /// makes it stale (`-p`).
    pub use_pid: bool,
    /// Without a usable pid, when the lock's age (by its mtime, on the file
    /// system's clock) makes it stale; `None`: never by age.
    pub age: Option<AgeLimit>,
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
    pub fn expiry(self, mtime: FsTime) -> FsTime {
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

/// How much later than the pid was written its process may seem to have
/// started and still count as the writer: process start times are derived
/// from boot-relative ticks and today's wall clock, so a clock step moves
/// them. Doubt keeps the lock (liblockfile would keep it whatever).
pub const REUSE_MARGIN: Duration = Duration::from_secs(2);

/// Judge the lock at `lock` by `policy`, with `now` on the file system's
/// clock.
pub fn judge(lock: &Path, policy: Policy, now: FsTime) -> Judgement {
    let first = rustix::fs::lstat(lock);
    let id = first.as_ref().ok().map(FileId::of);
    let stale = Judgement {
        id,
        stale: true,
        holder: None,
        expires: None,
    };
    // A symlink is followed only as fs.protected_symlinks allows: another
    // user's symlink in a sticky world-writable directory is judged as the
    // kernel's EACCES leaves it, like a dangling one — stale, so only the
    // link itself is removed. One lstat gives the identity and the status:
    // a lock that vanishes after it is judged as it was (not "stale" with
    // nothing to go by), and a file swapped for a symlink is not followed.
    let st = match first {
        Ok(st)
            if policy.follow_symlinks
                && FileType::from_raw_mode(st.st_mode) == FileType::Symlink =>
        {
            match follow_check(lock) {
                Follow::Refused => return stale,
                _ => rustix::fs::stat(lock),
            }
        }
        other => other,
    };
    let Ok(st) = st else {
        return stale;
    };
    if policy.use_pid {
        let pid = match read_pid(lock) {
            Ok(pid) => pid,
            // Out of descriptors or memory: the pid is unknown, not absent.
            // Doubt keeps the lock; the next look decides.
            Err(_) => {
                return Judgement {
                    id,
                    stale: false,
                    holder: None,
                    expires: None,
                };
            }
        };
        if let Some(pid) = pid.filter(|&p| p > 0) {
            let written = FsTime::mtime(&st).max(FsTime::ctime(&st));
            match process_state(pid) {
                ProcessState::Dead => return stale,
                ProcessState::Alive { started } => {
                    if reused(started, written) {
                        return stale;
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
    let Some(age) = policy.age else {
        return Judgement {
            id,
            stale: false,
            holder: None,
            expires: None,
        };
    };
    let expires = age.expiry(FsTime::mtime(&st));
    Judgement {
        id,
        stale: now >= expires,
        holder: None,
        expires: Some(expires),
    }
}

/// Is a live process that `started` (wall clock) not the one that wrote its
/// pid into the lock at `written` (the file's last change)? Only when it
/// plainly started afterwards; unknown start times count as the writer.
pub fn reused(started: Option<FsTime>, written: FsTime) -> bool {
    started.is_some_and(|t| t > written.plus(REUSE_MARGIN))
}

/// The pid in a lock: C `atoi` of its first 16 bytes (blanks, a sign,
/// digits; the rest ignored; wrapped like a C `int`), as liblockfile reads
/// it.
/// `Ok(None)` where there is no pid to read (as liblockfile, which then
/// judges by age); `Err` where we could not look for want of resources.
fn read_pid(lock: &Path) -> Result<Option<i32>, Errno> {
    // Not through a planted symlink; never as our controlling terminal;
    // never blocking on a FIFO.
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = match open_unless_planted(lock, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(e @ (Errno::MFILE | Errno::NFILE | Errno::NOMEM)) => return Err(e),
        Err(_) => return Ok(None),
    };
    let mut buf = [0u8; 16];
    Ok(rustix::io::read(&fd, &mut buf)
        .ok()
        .map(|n| pid_text(&buf[..n])))
}

/// C `atoi` of at most 16 bytes (which cannot overflow a `long`).
pub fn pid_text(text: &[u8]) -> i32 {
    let mut rest = text;
    while let [b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r', tail @ ..] = rest {
        rest = tail;
    }
    let negative = rest.first() == Some(&b'-');
    if let [b'-' | b'+', tail @ ..] = rest {
        rest = tail;
    }
    let magnitude = rest
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, &d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    (if negative { -magnitude } else { magnitude }) as i32
}

/// What became of the process a lock names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    Dead,
    /// Alive (or not ours to signal); when it started, on the wall clock.
    Alive {
        started: Option<FsTime>,
    },
    Unknown,
}

pub fn process_state(pid: i32) -> ProcessState {
    let Some(p) = Pid::from_raw(pid) else {
        return ProcessState::Unknown;
    };
    match rustix::process::test_kill_process(p) {
        Ok(()) | Err(Errno::PERM) => {
            let stat = std::fs::read(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|text| ProcStat::parse(&text));
            // A zombie has exited; only its parent has not collected it yet.
            if stat.as_ref().is_some_and(|s| s.state == b'Z') {
                return ProcessState::Dead;
            }
            ProcessState::Alive {
                started: stat.and_then(|s| s.started()),
            }
        }
        Err(Errno::SRCH) => ProcessState::Dead,
        Err(_) => ProcessState::Unknown,
    }
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub state: u8,
    /// Field 22: when it started, in clock ticks since boot.
    pub start_ticks: u64,
}

impl ProcStat {
    pub fn parse(stat: &[u8]) -> Option<ProcStat> {
        // Fields after the command name, which may contain spaces and ')'.
        let close = stat.iter().rposition(|&b| b == b')')?;
        let mut fields = stat[close + 1..]
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty());
        // Field 3 overall is the state; field 22 (starttime) the 20th after
        // the name.
        let state = *fields.next()?.first()?;
        let start = fields.nth(18)?;
        Some(ProcStat {
            state,
            start_ticks: std::str::from_utf8(start).ok()?.trim().parse().ok()?,
        })
    }

    /// When the process started, as wall-clock time (today's: a step of
    /// the clock since moves it).
    pub fn started(&self) -> Option<FsTime> {
        let hz = rustix::param::clock_ticks_per_second();
        if hz == 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_are_read_as_atoi_reads_them() {
        assert_eq!(pid_text(b"123\n"), 123);
        assert_eq!(pid_text(b"  -5x"), -5);
        assert_eq!(pid_text(b"+7"), 7);
        assert_eq!(pid_text(b""), 0);
        assert_eq!(pid_text(b"hello"), 0);
        assert_eq!(pid_text(b"4294967297"), 1);
        assert_eq!(pid_text(b"9999999999999999"), 9999999999999999i64 as i32);
    }

    #[test]
    fn proc_stat_survives_odd_command_names() {
        let mut line = b"42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 ".to_vec();
        line.extend_from_slice(b"98765 1000 100 18446744073709551615\n");
        let st = ProcStat::parse(&line).expect("parsed");
        assert_eq!(st.state, b'S');
        assert_eq!(st.start_ticks, 98765);
        assert_eq!(ProcStat::parse(b"42 (x) Z"), None);
        assert_eq!(ProcStat::parse(b"garbage"), None);
    }

    #[test]
    fn our_own_start_is_before_now() {
        let text = std::fs::read("/proc/self/stat").expect("proc");
        let st = ProcStat::parse(&text).expect("parsed");
        let started = st.started().expect("clock ticks");
        assert!(started <= FsTime::local_now());
    }

    #[test]
    fn reuse_needs_a_start_plainly_after_the_write() {
        let written = FsTime::of(1000, 0);
        assert!(!reused(None, written));
        assert!(!reused(Some(FsTime::of(900, 0)), written));
        assert!(!reused(Some(written.plus(REUSE_MARGIN)), written));
        assert!(reused(Some(FsTime::of(1003, 0)), written));
    }

    #[test]
    fn age_limits() {
        let m = FsTime::of(100, 500_000_000);
        assert_eq!(
            AgeLimit::After(Duration::from_secs(300)).expiry(m),
            FsTime::of(400, 500_000_000)
        );
        // procmail: strictly more than n whole seconds (by the second).
        assert_eq!(AgeLimit::OverSeconds(10).expiry(m), FsTime::of(111, 0));
        assert_eq!(AgeLimit::OverSeconds(-1).expiry(m), FsTime::of(100, 0));
    }

    #[test]
    fn live_pids_keep_a_lock_and_dead_ones_do_not() {
        let dir = std::env::temp_dir().join(format!("lockkit-judge-{}", std::process::id()));
        let _ = std::fs::create_dir(&dir);
        let lock = dir.join("l");
        let policy = Policy {
            use_pid: true,
            age: Some(AgeLimit::After(Duration::from_secs(300))),
            follow_symlinks: true,
        };
        std::fs::write(&lock, format!("{}\n", std::process::id())).expect("write");
        let j = judge(&lock, policy, FsTime::local_now());
        assert!(!j.stale);
        assert_eq!(j.holder, Some(std::process::id() as i32));
        // No pid: the age decides (fresh here).
        std::fs::write(&lock, "0\n").expect("write");
        let j = judge(&lock, policy, FsTime::local_now());
        assert!(!j.stale && j.expires.is_some());
        let later = FsTime::local_now().plus(Duration::from_secs(301));
        assert!(judge(&lock, policy, later).stale);
        std::fs::remove_file(&lock).expect("rm");
        assert!(judge(&lock, policy, FsTime::local_now()).stale);
        let _ = std::fs::remove_dir(&dir);
    }
}
