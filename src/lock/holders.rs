//! Who holds a lock, and who waits for it: what `lockkit status` and
//! `flock --who` report.
//!
//! * fd locks come from `/proc/locks`, matched by device and inode (never by
//!   name). The kernel prints one line per lock, and a `->` line per blocked
//!   request under the lock it waits for:
//!   `ID: [-> ]KIND SUBTYPE MODE PID MAJ:MIN:INO START END`, major and minor
//!   in hex, END `EOF` for "to the end of the file and beyond". The pid is
//!   the one that took the lock, as seen from *our* pid namespace: 0 when
//!   that process is in a namespace we cannot see, -1 for an OFD lock (which
//!   belongs to an open file description, not a process).
//! * Who shares an open file description is not in `/proc/locks`: it is in
//!   `/proc/PID/fdinfo/FD`, whose `lock:` lines list the locks held through
//!   that descriptor's file (flock and OFD locks belong to the description,
//!   so every process with a descriptor for it shows them). Reading another
//!   user's descriptors needs ptrace access (root, or the same user), and a
//!   *blocked* request never shows there: an OFD waiter's pid is unknowable.
//!   So the descriptors are looked through only when the kernel's pid does
//!   not answer (OFD, or the listed process is gone while its lock lives on
//!   in a descriptor it passed on), and whatever cannot be read is counted,
//!   never guessed.
//! * Lock files (dotlock, lockfile, any link-made lock): judged exactly as
//!   dotlock judges them ([`crate::lock::dotfile::judge`]).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::lock::dotfile::judge::{self, AgeLimit, Policy, ProcStat, ProcessState};
use crate::lock::file::open_unless_planted;
use crate::lock::fs::{FileId, FsTime};
use crate::lock::slots::layout;

/// The kernel's kinds of file lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// flock(2).
    Flock,
    /// fcntl(2) open-file-description lock.
    Ofd,
    /// Classic POSIX fcntl(2)/lockf(3) record lock (per process).
    Posix,
    /// A file lease (fcntl F_SETLEASE).
    Lease,
    /// An NFS server's delegation.
    Delegation,
    /// Anything a later kernel may print.
    Other,
}

impl Kind {
    fn parse(word: &[u8]) -> Kind {
        match word {
            b"FLOCK" => Kind::Flock,
            b"OFDLCK" => Kind::Ofd,
            b"POSIX" => Kind::Posix,
            b"LEASE" => Kind::Lease,
            b"DELEG" => Kind::Delegation,
            _ => Kind::Other,
        }
    }
}

/// Read (shared) or write (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Shared,
    Exclusive,
    /// A lease being broken (`UNLCK`), or a word we do not know.
    Other,
}

/// One line of `/proc/locks` for the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The kernel's number for the lock (a waiter has its lock's number).
    pub id: u64,
    /// A request blocked behind lock `id`, not a lock held.
    pub blocked: bool,
    pub kind: Kind,
    pub access: Access,
    /// As printed: the taker's pid in our namespace, 0 if not visible, -1
    /// for OFD locks.
    pub pid: i32,
    pub start: u64,
    /// The last byte; `None` for `EOF` (to the end and beyond).
    pub end: Option<u64>,
}

impl Entry {
    /// Do two locks cover a common byte?
    pub fn overlaps(&self, start: u64, end: Option<u64>) -> bool {
        self.end.is_none_or(|e| e >= start) && end.is_none_or(|e| e >= self.start)
    }

    /// Same lock as seen in another listing (fdinfo numbers its own).
    fn same_lock(&self, other: &Entry) -> bool {
        (self.kind, self.access, self.start, self.end)
            == (other.kind, other.access, other.start, other.end)
    }
}

/// The file whose locks are wanted, as `/proc/locks` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub id: FileId,
    major: u64,
    minor: u64,
}

impl Target {
    pub fn of(st: &rustix::fs::Stat) -> Target {
        Target {
            id: FileId::of(st),
            major: u64::from(rustix::fs::major(st.st_dev)),
            minor: u64::from(rustix::fs::minor(st.st_dev)),
        }
    }
}

/// `/proc/locks`, read in large chunks (the kernel formats it anew for
/// each read: fewer reads, less work; 10 000 locks are about 600 KB).
pub fn read_proc_locks() -> Result<Vec<u8>, Errno> {
    let fd = rustix::fs::open(
        "/proc/locks",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut text = Vec::with_capacity(1 << 20);
    loop {
        if text.capacity() - text.len() < 64 * 1024 {
            text.reserve(text.capacity());
        }
        match rustix::io::read(&fd, rustix::buffer::spare_capacity(&mut text)) {
            Ok(0) => return Ok(text),
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The entries of `listing` (`/proc/locks` text) for `target`, in order.
/// Lines for other files are skipped after looking at their device field
/// only, with no allocation.
pub fn entries(listing: &[u8], target: &Target) -> Vec<Entry> {
    listing
        .split(|&b| b == b'\n')
        .filter_map(|line| parse_line(line, Some(target)))
        .collect()
}

/// One line: `ID: [-> ...]KIND SUBTYPE MODE PID MAJ:MIN:INO START END`;
/// `None` for another file (with `target`) or anything unreadable.
fn parse_line(line: &[u8], target: Option<&Target>) -> Option<Entry> {
    let mut words = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty());
    let id = number(words.next()?.strip_suffix(b":")?)?;
    let mut blocked = false;
    let mut kind = words.next()?;
    while kind == b"->" {
        blocked = true;
        kind = words.next()?;
    }
    let _subtype = words.next()?;
    let access = match words.next()? {
        b"READ" => Access::Shared,
        b"WRITE" => Access::Exclusive,
        _ => Access::Other,
    };
    let pid = words.next()?;
    let dev = words.next()?;
    let mut parts = dev.splitn(3, |&b| b == b':');
    let (major, minor, ino) = (parts.next()?, parts.next()?, parts.next()?);
    let ino = number(ino)?;
    let (major, minor) = (hex(major)?, hex(minor)?);
    if let Some(t) = target {
        if (ino, major, minor) != (t.id.ino, t.major, t.minor) {
            return None;
        }
    }
    let pid = match pid {
        [b'-', digits @ ..] => -i32::try_from(number(digits)?).ok()?,
        digits => i32::try_from(number(digits)?).ok()?,
    };
    let start = number(words.next()?)?;
    let end = match words.next()? {
        b"EOF" => None,
        n => Some(number(n)?),
    };
    Some(Entry {
        id,
        blocked,
        kind: Kind::parse(kind),
        access,
        pid,
        start,
        end,
    })
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))?
    })
}

fn hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some((n << 4) | u64::from(v))
    })
}

/// A lock or a waiter, with the processes behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub entry: Entry,
    /// The processes known to hold it (or, for a waiter, to wait): the
    /// kernel's pid if that process lives, else every process found with a
    /// descriptor through which the lock is held.
    pub pids: Vec<i32>,
    /// The kernel listed pid 0: the holder is in a pid namespace we cannot
    /// see.
    pub other_namespace: bool,
    /// The kernel's pid is gone (its descriptor lives on elsewhere).
    pub listed_gone: bool,
    /// Processes whose descriptors we may not read (when they were looked
    /// through): a holder may hide among them.
    pub unreadable: usize,
    /// How many identical OFD locks (same range and mode, no pid) this one
    /// stands for: fdinfo cannot tell which of their processes holds which,
    /// so they are one holder with every process found.
    pub identical: usize,
}

/// The locks on `target` and the requests waiting for them, each with its
/// processes; `listing` is `/proc/locks`.
pub fn holders(listing: &[u8], target: &Target) -> Vec<Holder> {
    let listed = entries(listing, target);
    let mut sharers: Option<Sharers> = None;
    let mut found: Vec<Holder> = listed
        .iter()
        .map(|&entry| {
            let mut holder = Holder {
                entry,
                pids: Vec::new(),
                other_namespace: entry.pid == 0,
                listed_gone: false,
                unreadable: 0,
                identical: 1,
            };
            if entry.pid > 0 {
                if alive(entry.pid) {
                    holder.pids.push(entry.pid);
                    return holder;
                }
                holder.listed_gone = true;
            }
            // Only a lock held through a descriptor can be found in one; a
            // blocked request is never listed in fdinfo.
            if entry.pid != 0 && !entry.blocked && entry.kind != Kind::Posix {
                let found = sharers.get_or_insert_with(|| Sharers::scan(target));
                holder.pids = found.holding(&entry);
                holder.unreadable = found.unreadable;
            }
            holder
        })
        .collect();
    // A lock whose taker has gone and that no descriptor was found for may
    // have been released since the listing was read (the taker exited):
    // then it is left out rather than reported held by nobody.
    if found.iter().any(|h| h.listed_gone && h.pids.is_empty()) {
        let fresh = read_proc_locks()
            .map(|l| entries(&l, target))
            .unwrap_or_default();
        found.retain(|h| {
            !(h.listed_gone && h.pids.is_empty())
                || fresh.iter().any(|e| {
                    e.same_lock(&h.entry) && (e.pid, e.blocked) == (h.entry.pid, h.entry.blocked)
                })
        });
    }
    // Identical OFD locks merged (their waiters have no pid to tell apart
    // either).
    let mut merged: Vec<Holder> = Vec::with_capacity(found.len());
    for h in found {
        let twin = merged.iter_mut().find(|m| {
            m.entry.kind == Kind::Ofd
                && m.entry.pid == -1
                && h.entry.pid == -1
                && m.entry.blocked == h.entry.blocked
                && m.entry.same_lock(&h.entry)
        });
        match twin {
            Some(m) => m.identical += 1,
            None => merged.push(h),
        }
    }
    merged
}

/// The inode of the initial pid namespace (`PROC_PID_INIT_INO`, fixed in
/// the kernel).
const INIT_PID_NS: u64 = 0xEFFF_FFFC;

/// Do we run in a pid namespace below the initial one (a container)? The
/// kernel then leaves out of `/proc/locks` the locks of processes we
/// cannot see: "no lock listed" means "none visible from here".
pub fn in_nested_pid_namespace() -> bool {
    rustix::fs::stat("/proc/self/ns/pid").is_ok_and(|st| st.st_ino != INIT_PID_NS)
}

fn alive(pid: i32) -> bool {
    // A zombie holds nothing: its descriptors are closed.
    std::fs::read(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| ProcStat::parse(&t))
        .is_some_and(|s| s.state != b'Z')
}

/// Every descriptor on the target file found in `/proc/*/fd`, with the
/// locks its fdinfo lists.
struct Sharers {
    found: Vec<(i32, Vec<Entry>)>,
    unreadable: usize,
}

impl Sharers {
    fn scan(target: &Target) -> Sharers {
        let mut found = Vec::new();
        let mut unreadable = 0;
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return Sharers { found, unreadable };
        };
        for p in procs.flatten() {
            let name = p.file_name();
            let Some(pid) = number(name.as_bytes()).and_then(|n| i32::try_from(n).ok()) else {
                continue;
            };
            let fds = match std::fs::read_dir(format!("/proc/{pid}/fd")) {
                Ok(fds) => fds,
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    unreadable += 1;
                    continue;
                }
                Err(_) => continue, // gone meanwhile
            };
            let mut locks = Vec::new();
            for fd in fds.flatten() {
                // stat follows the magic link to the open file itself.
                let same = rustix::fs::stat(fd.path()).is_ok_and(|st| FileId::of(&st) == target.id);
                if !same {
                    continue;
                }
                let info = std::fs::read(format!(
                    "/proc/{pid}/fdinfo/{}",
                    fd.file_name().to_string_lossy()
                ))
                .unwrap_or_default();
                locks.extend(
                    info.split(|&b| b == b'\n')
                        .filter_map(|l| l.strip_prefix(b"lock:"))
                        .filter_map(|l| parse_line(l, Some(target))),
                );
            }
            if !locks.is_empty() {
                found.push((pid, locks));
            }
        }
        Sharers { found, unreadable }
    }

    fn holding(&self, entry: &Entry) -> Vec<i32> {
        self.found
            .iter()
            .filter(|(_, locks)| locks.iter().any(|l| l.same_lock(entry)))
            .map(|&(pid, _)| pid)
            .collect()
    }
}

/// What `/proc` says about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: i32,
    /// Its arguments joined by spaces (raw bytes); for a process without
    /// any (a kernel thread, a zombie) its name in brackets.
    pub command: Vec<u8>,
    /// Its effective user id.
    pub uid: Option<u32>,
    /// When it started, on today's wall clock.
    pub started: Option<FsTime>,
}

/// The process `pid`, if it is still there.
pub fn process(pid: i32) -> Option<Process> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let started = ProcStat::parse(&stat).and_then(|s| s.started());
    let mut command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    while command.last() == Some(&0) {
        command.pop();
    }
    for b in &mut command {
        if *b == 0 {
            *b = b' ';
        }
    }
    if command.is_empty() {
        let open = stat.iter().position(|&b| b == b'(');
        let close = stat.iter().rposition(|&b| b == b')');
        if let (Some(o), Some(c)) = (open, close) {
            command = [b"[", &stat[o + 1..c], b"]"].concat();
        }
    }
    let status = std::fs::read(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid = status
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"Uid:"))
        .and_then(|ids| {
            ids.split(|&b| b == b'\t' || b == b' ')
                .filter(|w| !w.is_empty())
                .nth(1)
        })
        .and_then(number)
        .and_then(|n| u32::try_from(n).ok());
    Some(Process {
        pid,
        command,
        uid,
        started,
    })
}

/// The role of a byte-range lock in an N-slot semaphore ([`layout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRole {
    /// A participant that says the semaphore has N slots.
    Agree(u64),
    /// Slot `i`.
    Slot(u64),
    /// Every slot at once, of an N-slot semaphore (`-x`).
    AllSlots(u64),
    /// Reading or bumping the ticket counter (for an instant).
    Counter,
    /// The waiter with ticket `t`.
    Queue(u64),
}

/// What an OFD lock is in the slots layout, if anything; `n` is the number
/// of slots the participants agree on, if known.
pub fn slot_role(e: &Entry, n: Option<u64>) -> Option<SlotRole> {
    if e.kind != Kind::Ofd {
        return None;
    }
    let one_byte = e.end == Some(e.start);
    if e.start >= layout::QUEUE_BASE && one_byte {
        return Some(SlotRole::Queue(e.start - layout::QUEUE_BASE));
    }
    if e.start == layout::COUNTER_LOCK && one_byte {
        return Some(SlotRole::Counter);
    }
    if e.start >= layout::AGREE_BASE && e.start < layout::AGREE_BASE + layout::MAX_SLOTS + 1 {
        return one_byte.then_some(SlotRole::Agree(e.start - layout::AGREE_BASE));
    }
    let n = n?;
    let end = e.end?;
    if e.start == layout::SLOT_BASE && end == layout::SLOT_BASE + n - 1 && n > 1 {
        return Some(SlotRole::AllSlots(n));
    }
    let index = e.start.checked_sub(layout::SLOT_BASE)?;
    (one_byte && index < n).then_some(SlotRole::Slot(index))
}

/// The slot count the participants of `entries` agree on (the held
/// `AGREE_BASE + N` locks), smallest first; more than one is a mismatch.
pub fn slot_counts(entries: &[Entry]) -> Vec<u64> {
    let mut counts: Vec<u64> = entries
        .iter()
        .filter(|e| !e.blocked)
        .filter_map(|e| match slot_role(e, None) {
            Some(SlotRole::Agree(n)) => Some(n),
            _ => None,
        })
        .collect();
    counts.sort_unstable();
    counts.dedup();
    counts
}

/// dotlock's age rule (liblockfile's): stale at 5 minutes.
pub const DOTLOCK_MAX_AGE: Duration = Duration::from_secs(300);

/// What the pid in a lock file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidVerdict {
    /// No pid (0, empty, not a number): only the age rule applies.
    NoPid,
    Alive {
        started: Option<FsTime>,
    },
    Dead,
    /// A live process that started after the pid was written.
    Reused {
        started: Option<FsTime>,
    },
    /// Could not be told (no permission to ask and no `/proc`).
    Unknown,
}

/// Why dotlock would break a lock file now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakRule {
    DeadPid,
    ReusedPid,
    /// Past the age limit with no valid pid.
    Age,
    /// A symbolic link to nothing (liblockfile judges it stale).
    Dangling,
}

/// A lock file as dotlock sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockFileInfo {
    /// The name is a symbolic link (judged by its target, as dotlock does).
    pub symlink: bool,
    pub uid: u32,
    pub mode: u32,
    pub size: u64,
    pub mtime: FsTime,
    /// The first bytes (at most [`CONTENT_PEEK`]).
    pub content: Vec<u8>,
    /// The pid as liblockfile reads it (C `atoi` of the first 16 bytes).
    pub pid: i32,
    pub verdict: PidVerdict,
    /// When the age rule makes it stale.
    pub expires: FsTime,
    /// What `dotlock -p` would do now: break it, and by which rule; `None`
    /// keeps it. Without `-p` only the age rule applies (`expires`).
    pub would_break: Option<BreakRule>,
}

/// How much of a lock file is read.
pub const CONTENT_PEEK: usize = 64;

/// Does `content` (a whole file) look like what lock-file tools write: a
/// pid line (`1234\n` from dotlockfile -p, `0\n` without, procmail's `0`)?
pub fn is_pid_text(content: &[u8]) -> bool {
    let text = content.strip_suffix(b"\n").unwrap_or(content);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let text = text.trim_ascii_start();
    let digits = text
        .strip_prefix(b"-")
        .or(text.strip_prefix(b"+"))
        .unwrap_or(text);
    !digits.is_empty() && digits.len() <= 19 && digits.iter().all(u8::is_ascii_digit)
}

/// Look at the lock file `path` as dotlock would, with `now` on the local
/// clock (nothing is created to read the file system's: the age may be off
/// by the skew between this machine and a file server). `Ok(None)`: no
/// such file.
pub fn lock_file(path: &Path, now: FsTime) -> Result<Option<LockFileInfo>, Errno> {
    let lst = match rustix::fs::lstat(path) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let symlink = FileType::from_raw_mode(lst.st_mode) == FileType::Symlink;
    let mut dangling = false;
    let st = if symlink {
        match rustix::fs::stat(path) {
            Ok(st) => st,
            Err(Errno::NOENT) => {
                dangling = true;
                lst
            }
            Err(e) => return Err(e),
        }
    } else {
        lst
    };
    let mut content = Vec::new();
    if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
        let fd = open_unless_planted(path, flags, Mode::empty())?;
        let mut buf = [0u8; CONTENT_PEEK];
        let n = rustix::io::read(&fd, &mut buf)?;
        content.extend_from_slice(&buf[..n]);
    }
    let policy = Policy {
        use_pid: true,
        age: Some(AgeLimit::After(DOTLOCK_MAX_AGE)),
        follow_symlinks: true,
    };
    let judged = judge::judge(path, policy, now);
    if judged.id.is_none() {
        return Ok(None); // removed meanwhile
    }
    let pid = judge::pid_text(&content[..content.len().min(16)]);
    let written = FsTime::mtime(&st).max(FsTime::ctime(&st));
    let verdict = if pid <= 0 {
        PidVerdict::NoPid
    } else {
        match judge::process_state(pid) {
            ProcessState::Dead => PidVerdict::Dead,
            ProcessState::Alive { started } if judge::reused(started, written) => {
                PidVerdict::Reused { started }
            }
            ProcessState::Alive { started } => PidVerdict::Alive { started },
            ProcessState::Unknown => PidVerdict::Unknown,
        }
    };
    let expires = AgeLimit::After(DOTLOCK_MAX_AGE).expiry(FsTime::mtime(&st));
    // The judgement decides; the verdict only says why.
    let would_break = judged.stale.then_some(match verdict {
        _ if dangling => BreakRule::Dangling,
        PidVerdict::Dead => BreakRule::DeadPid,
        PidVerdict::Reused { .. } => BreakRule::ReusedPid,
        _ => BreakRule::Age,
    });
    Ok(Some(LockFileInfo {
        symlink,
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
        size: st.st_size as u64,
        mtime: FsTime::mtime(&st),
        content,
        pid,
        verdict,
        expires,
        would_break,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(major: u64, minor: u64, ino: u64) -> Target {
        Target {
            id: FileId { dev: 0, ino },
            major,
            minor,
        }
    }

    #[test]
    fn lines_of_every_kind() {
        let text = b"1: FLOCK  ADVISORY  WRITE 27285 fe:00:10010653 0 EOF\n\
            1: -> FLOCK  ADVISORY  WRITE 27326 fe:00:10010653 0 EOF\n\
            2: OFDLCK ADVISORY  READ -1 fe:00:10010653 5 14\n\
            3: POSIX  ADVISORY  WRITE 0 fe:00:10010653 100 EOF\n\
            4: LEASE  ACTIVE    READ 77 fe:00:10010653 0 EOF\n\
            5: FLOCK  ADVISORY  WRITE 1 fe:00:99 0 EOF\n\
            6: FLOCK  ADVISORY  WRITE 1 fe:01:10010653 0 EOF\n\
            7: -> -> POSIX  ADVISORY  READ 9 fe:00:10010653 0 0\n\
            8: FLOCK  ADVISORY  WRITE 5 <none>:0 0 EOF\n\
            garbage\n";
        let e = entries(text, &target(0xfe, 0, 10010653));
        assert_eq!(e.len(), 6, "{e:?}");
        assert_eq!(
            e[0],
            Entry {
                id: 1,
                blocked: false,
                kind: Kind::Flock,
                access: Access::Exclusive,
                pid: 27285,
                start: 0,
                end: None
            }
        );
        assert!(e[1].blocked && e[1].pid == 27326);
        assert_eq!(
            (e[2].kind, e[2].access, e[2].pid),
            (Kind::Ofd, Access::Shared, -1)
        );
        assert_eq!((e[2].start, e[2].end), (5, Some(14)));
        assert_eq!((e[3].kind, e[3].pid), (Kind::Posix, 0));
        assert_eq!(e[4].kind, Kind::Lease);
        assert!(e[5].blocked && e[5].id == 7);
    }

    #[test]
    fn ranges_overlap() {
        let mut e = entries(
            b"1: OFDLCK ADVISORY WRITE -1 08:01:5 5 14\n",
            &target(8, 1, 5),
        )[0];
        assert!(e.overlaps(14, None) && e.overlaps(0, Some(5)));
        assert!(!e.overlaps(15, None) && !e.overlaps(0, Some(4)));
        e.end = None;
        assert!(e.overlaps(1000, Some(1000)));
    }

    #[test]
    fn slot_roles() {
        let ofd = |start, end| Entry {
            id: 1,
            blocked: false,
            kind: Kind::Ofd,
            access: Access::Exclusive,
            pid: -1,
            start,
            end,
        };
        let agree = ofd(layout::AGREE_BASE + 4, Some(layout::AGREE_BASE + 4));
        assert_eq!(slot_role(&agree, None), Some(SlotRole::Agree(4)));
        assert_eq!(slot_counts(&[agree]), vec![4]);
        assert_eq!(
            slot_role(&ofd(2, Some(2)), Some(4)),
            Some(SlotRole::Slot(2))
        );
        assert_eq!(slot_role(&ofd(4, Some(4)), Some(4)), None);
        assert_eq!(
            slot_role(&ofd(0, Some(3)), Some(4)),
            Some(SlotRole::AllSlots(4))
        );
        let q = layout::QUEUE_BASE + 7;
        assert_eq!(
            slot_role(&ofd(q, Some(q)), Some(4)),
            Some(SlotRole::Queue(7))
        );
        let c = layout::COUNTER_LOCK;
        assert_eq!(slot_role(&ofd(c, Some(c)), None), Some(SlotRole::Counter));
    }

    #[test]
    fn pid_texts() {
        for yes in [&b"123\n"[..], b"0", b"0\n", b" 42", b"-1\n", b"7\r\n"] {
            assert!(is_pid_text(yes), "{yes:?}");
        }
        for no in [&b""[..], b"\n", b"abc", b"12 34\n", b"1\n2\n", b"hello 1"] {
            assert!(!is_pid_text(no), "{no:?}");
        }
    }

    #[test]
    fn our_own_process() {
        let me = process(std::process::id() as i32).expect("ourselves");
        assert!(!me.command.is_empty());
        assert_eq!(me.uid, Some(rustix::process::geteuid().as_raw()));
        assert!(me.started.is_some());
    }

    #[test]
    fn numbers_are_bounded() {
        assert_eq!(number(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(number(b"18446744073709551616"), None);
        assert_eq!(number(b"1x"), None);
        assert_eq!(hex(b"fe"), Some(0xfe));
        assert_eq!(hex(b"g"), None);
    }
}
