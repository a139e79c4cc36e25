//! N-slot semaphores made of byte-range locks on one file ([`layout`]):
//! at most N holders at once, served in the order they arrived, every wait
//! a kernel wait.
//!
//! Taking a slot ([`SlotLock`]):
//!
//! 1. **Join** ([`SlotLock::join`]): hold `AGREE_BASE + N` shared, then ask
//!    the kernel (`F_OFD_GETLK`, a write probe) whether anyone holds
//!    another agree byte: a participant that says another N is an error,
//!    not a silent overflow. Whoever joins second sees the first, as each
//!    takes its byte before it looks.
//! 2. **Ticket**: under `COUNTER_LOCK`, read the next ticket `t` from the
//!    file, write `t + 1`, and lock the queue byte `QUEUE_BASE + t` before
//!    letting the counter go, so a later ticket never misses an earlier
//!    one. When no queue byte is locked at all, nobody waits, and the count
//!    starts again at 0.
//! 3. **Queue**: wait until no earlier queue byte is locked. The waiter
//!    finds the closest earlier one still locked (by bisection with
//!    `F_OFD_GETLK`) and blocks on it (`F_OFD_SETLKW`, shared, let go at
//!    once); when it wakes it looks again, since a waiter that died left
//!    the queue without being served. Each waiter blocks on its own
//!    predecessor, so one release wakes one waiter, not the herd.
//! 4. **Head**: try each slot byte with `F_OFD_SETLK`; if none is free,
//!    wait for any of them: one small thread per slot, each blocked in
//!    `F_OFD_SETLKW` on its byte of the same open file description. The
//!    first to get its slot wins (an atomic claim); the others are
//!    interrupted (the deadline's no-op SIGALRM, sent to each thread) and
//!    let go of a slot they got meanwhile. To take every slot (`-x`), the
//!    head blocks on the whole slot range in one call.
//! 5. Unlock the queue byte: the next waiter becomes the head.
//!
//! No starvation: tickets are served in order, and only the head takes a
//! slot, so a newcomer cannot overtake a waiter however often slots free.
//! A participant that dies (SIGKILL included) loses every lock with its
//! last descriptor: its slot frees and its ticket leaves the queue.

pub mod layout;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use rustix::io::Errno;

use super::fdlock::{self, Api, Failure, Mode};
use super::kind::{AcquireError, Held, Lock, Wait};
use super::timer::{Deadline, Interruptible, ThreadHandle};
use layout::{AGREE_BASE, COUNTER_LOCK, MAX_SLOTS, QUEUE_BASE, SLOT_BASE, TICKETS};

/// What a participant takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// One slot, whichever frees first.
    One,
    /// Every slot at once: the pool to itself.
    Every,
}

/// Why joining a semaphore failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// Someone holds or waits on the file with this other number of slots.
    Mismatch {
        theirs: u64,
    },
    /// The file has content that is not a ticket counter (its size).
    NotSemaphore {
        size: u64,
    },
    /// Not a regular file (a device, a FIFO, a socket): nowhere to count.
    NotRegular,
    Sys(Errno),
}

/// A semaphore joined, ready to take a slot (or all of them).
#[derive(Debug)]
pub struct SlotLock {
    fd: Option<OwnedFd>,
    n: u64,
    claim: Claim,
}

/// A slot (or every slot) held, with the semaphore's agree byte. The kernel
/// keeps them while the open file description lives: a command that
/// inherits the descriptor holds them too.
#[derive(Debug)]
pub struct HeldSlot {
    fd: OwnedFd,
    slot: Option<u64>,
    n: u64,
}

impl HeldSlot {
    /// The slot held (0 ≤ i < N); None when every slot is.
    pub fn slot(&self) -> Option<u64> {
        self.slot
    }

    /// N.
    pub fn slots(&self) -> u64 {
        self.n
    }
}

impl AsFd for HeldSlot {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Held for HeldSlot {
    /// Unlock the slot(s) and the agree byte, then close.
    fn release(self) -> Result<(), Errno> {
        let (start, len) = match self.slot {
            Some(i) => (SLOT_BASE + i, 1),
            None => (SLOT_BASE, self.n),
        };
        let r = unlock(self.fd.as_fd(), start, len).and(unlock(
            self.fd.as_fd(),
            AGREE_BASE + self.n,
            1,
        ));
        let closed = super::sys::close(self.fd);
        r.and(closed)
    }
}

impl SlotLock {
    /// Join the semaphore of `n` slots kept on `fd` (open read-write, on a
    /// regular file that is empty or holds the 8-byte counter). Dropping the
    /// result (or an error) lets everything go.
    pub fn join(fd: OwnedFd, n: u32, claim: Claim) -> Result<SlotLock, JoinError> {
        let n = u64::from(n);
        if n == 0 || n > MAX_SLOTS {
            return Err(JoinError::Sys(Errno::INVAL));
        }
        let st = rustix::fs::fstat(&fd).map_err(JoinError::Sys)?;
        let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
        if kind == rustix::fs::FileType::Directory {
            return Err(JoinError::Sys(Errno::ISDIR));
        }
        let size = st.st_size as u64;
        if kind != rustix::fs::FileType::RegularFile {
            return Err(JoinError::NotRegular);
        }
        if size != 0 && size != 8 {
            return Err(JoinError::NotSemaphore { size });
        }
        try_lock(fd.as_fd(), Mode::Shared, AGREE_BASE + n, 1)
            .and_then(|got| if got { Ok(()) } else { Err(Errno::AGAIN) })
            .map_err(JoinError::Sys)?;
        // Another agree byte below ours or above it: another N.
        for (start, end) in [
            (AGREE_BASE, AGREE_BASE + n),
            (AGREE_BASE + n + 1, AGREE_BASE + MAX_SLOTS + 1),
        ] {
            if end > start {
                if let Some((at, _)) =
                    probe(fd.as_fd(), start, end - start).map_err(JoinError::Sys)?
                {
                    return Err(JoinError::Mismatch {
                        theirs: at.max(start) - AGREE_BASE,
                    });
                }
            }
        }
        Ok(SlotLock {
            fd: Some(fd),
            n,
            claim,
        })
    }

    /// Not waiting: busy if anyone is queued or no slot is free.
    fn now(&self, fd: BorrowedFd<'_>) -> Result<Option<u64>, AcquireError> {
        if probe(fd, QUEUE_BASE, TICKETS)
            .map_err(AcquireError::Sys)?
            .is_some()
        {
            return Err(AcquireError::Busy);
        }
        self.take_free(fd)
            .map_err(AcquireError::Sys)?
            .ok_or(AcquireError::Busy)
    }

    /// A free slot (or all of them) without waiting: the slot taken, None
    /// for all of them; `Ok(None)` outer when busy.
    fn take_free(&self, fd: BorrowedFd<'_>) -> Result<Option<Option<u64>>, Errno> {
        match self.claim {
            Claim::Every => Ok(try_lock(fd, Mode::Exclusive, SLOT_BASE, self.n)?.then_some(None)),
            Claim::One => {
                for i in 0..self.n {
                    if try_lock(fd, Mode::Exclusive, SLOT_BASE + i, 1)? {
                        return Ok(Some(Some(i)));
                    }
                }
                Ok(None)
            }
        }
    }

    /// Take a ticket, wait for our turn, take a slot as the head, leave
    /// the queue (also when the wait failed).
    fn queued(
        &self,
        fd: BorrowedFd<'_>,
        until: Option<Instant>,
    ) -> Result<Option<u64>, AcquireError> {
        let t = take_ticket(fd, until)?;
        let got = wait_turn(fd, t, until).and_then(|()| self.as_head(fd, until));
        let left = unlock(fd, QUEUE_BASE + t, 1);
        let slot = got?;
        left.map_err(AcquireError::Sys)?;
        Ok(slot)
    }

    fn as_head(
        &self,
        fd: BorrowedFd<'_>,
        until: Option<Instant>,
    ) -> Result<Option<u64>, AcquireError> {
        if let Some(got) = self.take_free(fd).map_err(AcquireError::Sys)? {
            return Ok(got);
        }
        match self.claim {
            Claim::Every => block(fd, Mode::Exclusive, SLOT_BASE, self.n, until).map(|()| None),
            Claim::One => any_slot(fd, self.n, until).map(Some),
        }
    }
}

impl Lock for SlotLock {
    type Held = HeldSlot;

    fn acquire(&mut self, wait: Wait) -> Result<HeldSlot, AcquireError> {
        let Some(fd) = self.fd.as_ref() else {
            // Taken already: the descriptor went with the held lock.
            return Err(AcquireError::Sys(Errno::BADF));
        };
        let slot = match wait {
            Wait::Now => self.now(fd.as_fd())?,
            Wait::Until(at) => self.queued(fd.as_fd(), Some(at))?,
            Wait::Forever => self.queued(fd.as_fd(), None)?,
        };
        let fd = self.fd.take().ok_or(AcquireError::Sys(Errno::BADF))?;
        Ok(HeldSlot {
            fd,
            slot,
            n: self.n,
        })
    }
}

/// The next ticket, with its queue byte locked.
fn take_ticket(fd: BorrowedFd<'_>, until: Option<Instant>) -> Result<u64, AcquireError> {
    block(fd, Mode::Exclusive, COUNTER_LOCK, 1, until)?;
    let t = (|| {
        let t = if probe(fd, QUEUE_BASE, TICKETS)?.is_none() {
            0
        } else {
            read_counter(fd)?
        };
        if t >= TICKETS - 1 {
            return Err(Errno::OVERFLOW);
        }
        write_counter(fd, t + 1)?;
        Ok(t)
    })();
    let t = t.map_err(AcquireError::Sys).and_then(|t| {
        // Fresh: nobody else locks a byte at or past the counter.
        block(fd, Mode::Exclusive, QUEUE_BASE + t, 1, until).map(|()| t)
    });
    let left = unlock(fd, COUNTER_LOCK, 1);
    let t = t?;
    left.map_err(AcquireError::Sys)?;
    Ok(t)
}

/// Wait until no ticket before `t` is queued.
fn wait_turn(fd: BorrowedFd<'_>, t: u64, until: Option<Instant>) -> Result<(), AcquireError> {
    while let Some(p) = closest_queued_before(fd, t).map_err(AcquireError::Sys)? {
        // Its release (or death) wakes us; a shared lock lets a second
        // waiter on the same byte through too.
        block(fd, Mode::Shared, QUEUE_BASE + p, 1, until)?;
        unlock(fd, QUEUE_BASE + p, 1).map_err(AcquireError::Sys)?;
    }
    Ok(())
}

/// The highest ticket below `t` whose queue byte someone else locks.
fn closest_queued_before(fd: BorrowedFd<'_>, t: u64) -> Result<Option<u64>, Errno> {
    // The last byte of a lock reported for [start, end), within it.
    let last_in = |(at, len): (u64, u64), end: u64| {
        if len == 0 {
            end - 1
        } else {
            (at + len).min(end) - 1
        }
    };
    if t == 0 {
        return Ok(None);
    }
    let Some(l) = probe(fd, QUEUE_BASE, t)? else {
        return Ok(None);
    };
    // `found` is queued; nothing at or past `hi` (below t) is.
    let mut found = last_in(l, QUEUE_BASE + t) - QUEUE_BASE;
    let mut hi = t;
    while found + 1 < hi {
        let mid = found + 1 + (hi - found - 1) / 2;
        match probe(fd, QUEUE_BASE + mid, hi - mid)? {
            Some(l) => found = last_in(l, QUEUE_BASE + hi) - QUEUE_BASE,
            None => hi = mid,
        }
    }
    Ok(Some(found))
}

/// A thread's stack: it makes one lock call at a time and sends a message.
const WAITER_STACK: usize = 64 * 1024;
/// The most waiting threads: each costs the kernel a stack of its own
/// (16 KiB on x86-64), which for 65 536 slots would be a gigabyte.
const MAX_WAITERS: u64 = 1024;
/// The longest pause between tries of slots no thread waits on.
const MAX_RETRY: Duration = Duration::from_millis(100);
/// Nobody has won the race for a slot yet.
const NOBODY: u64 = u64::MAX;
/// The wait was called off (deadline, error): nobody may win any more.
const CALLED_OFF: u64 = u64::MAX - 1;

/// What a slot's waiting thread tells the head.
enum Report {
    /// Waiting: this is how to interrupt it.
    Ready(u64, ThreadHandle),
    /// Got its slot and won.
    Won(u64),
    Failed(Errno),
    /// Has stopped waiting (and holds nothing unless it won).
    Done(u64),
}

/// Wait for whichever of the `n` slots frees first: one thread blocked on
/// each. Slots past [`MAX_WAITERS`], and those whose thread the system
/// refuses (a thread limit), are tried on a timer instead, backing off from
/// 10 ms to [`MAX_RETRY`].
fn any_slot(fd: BorrowedFd<'_>, n: u64, until: Option<Instant>) -> Result<u64, AcquireError> {
    let winner = AtomicU64::new(NOBODY);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        // Kept, not dropped: a dropped handle detaches its thread, whose
        // pthread id is then freed the moment it ends, and the referee may
        // still be signalling it (it ends right after its last report).
        let mut threads = Vec::new();
        let mut unthreaded = Vec::new();
        for i in 0..n {
            if !unthreaded.is_empty() || i >= MAX_WAITERS {
                unthreaded.push(i);
                continue;
            }
            let (tx, winner) = (tx.clone(), &winner);
            let r = std::thread::Builder::new()
                .stack_size(WAITER_STACK)
                .spawn_scoped(s, move || wait_for_slot(fd, i, winner, &tx));
            match r {
                Ok(t) => threads.push(t),
                Err(_) => unthreaded.push(i),
            }
        }
        let race = Race {
            fd,
            winner: &winner,
            rx: &rx,
            spawned: threads.len() as u64,
            done: 0,
            waiting: vec![None; n as usize],
        };
        // `tx` lives on, so the channel never reports every sender gone.
        let outcome = race.referee(&unthreaded, until);
        for t in threads {
            // A thread that panicked has reported nothing more to act on.
            let _ = t.join();
        }
        outcome
    })
}

/// The head's side of the race for a slot.
struct Race<'a> {
    fd: BorrowedFd<'a>,
    winner: &'a AtomicU64,
    rx: &'a mpsc::Receiver<Report>,
    spawned: u64,
    done: u64,
    /// Threads still waiting, by slot.
    waiting: Vec<Option<ThreadHandle>>,
}

fn claim(winner: &AtomicU64, who: u64) -> bool {
    winner
        .compare_exchange(NOBODY, who, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

impl Race<'_> {
    /// Wait for a winner (or the deadline, or an error), then stop every
    /// thread.
    fn referee(
        mut self,
        unthreaded: &[u64],
        mut until: Option<Instant>,
    ) -> Result<u64, AcquireError> {
        let mut retry = Duration::from_millis(10);
        let outcome = loop {
            let left = until.map(|at| at.saturating_duration_since(Instant::now()));
            let timeout = match (left, unthreaded.is_empty()) {
                (left, true) => left,
                (Some(left), false) => Some(left.min(retry)),
                (None, false) => Some(retry),
            };
            let report = match timeout {
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t) => self.rx.recv_timeout(t),
            };
            match report {
                Ok(Report::Ready(i, h)) => self.waiting[i as usize] = Some(h),
                Ok(Report::Won(i)) => break Ok(i),
                Ok(Report::Done(i)) => self.finished(i),
                Ok(Report::Failed(e)) => {
                    if claim(self.winner, CALLED_OFF) {
                        break Err(AcquireError::Sys(e));
                    }
                    // Someone won first: its report is on the way.
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if claim(self.winner, CALLED_OFF) {
                        break Err(AcquireError::Sys(Errno::IO));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if until.is_some_and(|at| Instant::now() >= at) {
                        if claim(self.winner, CALLED_OFF) {
                            break Err(AcquireError::TimedOut);
                        }
                        // Someone won just now: wait for its report.
                        until = None;
                        continue;
                    }
                    match self.try_unthreaded(unthreaded) {
                        Ok(Some(i)) => break Ok(i),
                        Ok(None) => retry = (retry * 2).min(MAX_RETRY),
                        Err(e) => {
                            if claim(self.winner, CALLED_OFF) {
                                break Err(AcquireError::Sys(e));
                            }
                        }
                    }
                }
            }
        };
        self.stop_all();
        outcome
    }

    fn finished(&mut self, i: u64) {
        self.done += 1;
        self.waiting[i as usize] = None;
    }

    /// One try at each slot no thread waits on.
    fn try_unthreaded(&self, slots: &[u64]) -> Result<Option<u64>, Errno> {
        for &i in slots {
            if try_lock(self.fd, Mode::Exclusive, SLOT_BASE + i, 1)? {
                if claim(self.winner, i) {
                    return Ok(Some(i));
                }
                unlock(self.fd, SLOT_BASE + i, 1)?;
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// The race is decided: interrupt every thread still waiting, again
    /// every 10 ms for any that the signal reached just before its lock
    /// call, until all have stopped.
    fn stop_all(&mut self) {
        let interrupt = |h: ThreadHandle| {
            // SAFETY: `any_slot` keeps every thread's join handle (no
            // thread is detached) and joins them only after this returns,
            // so each pthread id is still valid.
            let _ = unsafe { h.interrupt() };
        };
        self.waiting.iter().flatten().for_each(|&h| interrupt(h));
        while self.done < self.spawned {
            match self.rx.recv_timeout(Duration::from_millis(10)) {
                Ok(Report::Ready(i, h)) => {
                    self.waiting[i as usize] = Some(h);
                    interrupt(h);
                }
                Ok(Report::Done(i)) => self.finished(i),
                Ok(Report::Won(_) | Report::Failed(_)) => {}
                Err(RecvTimeoutError::Timeout) => {
                    self.waiting.iter().flatten().for_each(|&h| interrupt(h))
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }
}

/// A slot's waiting thread: block on slot `i` until it is ours or the race
/// is decided; a slot got after someone else won is let go.
fn wait_for_slot(fd: BorrowedFd<'_>, i: u64, winner: &AtomicU64, tx: &Sender<Report>) {
    match Interruptible::here() {
        Err(e) => {
            let _ = tx.send(Report::Failed(e));
        }
        Ok((_interruptible, me)) => {
            let _ = tx.send(Report::Ready(i, me));
            let api = Api::Ofd {
                start: SLOT_BASE + i,
                len: 1,
            };
            while winner.load(Ordering::Acquire) == NOBODY {
                match fdlock::attempt(fd, Mode::Exclusive, api, true) {
                    Ok(()) => {
                        if claim(winner, i) {
                            let _ = tx.send(Report::Won(i));
                        } else {
                            let _ = unlock(fd, SLOT_BASE + i, 1);
                        }
                        break;
                    }
                    Err(Errno::INTR) => {}
                    Err(e) => {
                        let _ = tx.send(Report::Failed(e));
                        break;
                    }
                }
            }
        }
    }
    let _ = tx.send(Report::Done(i));
}

/// Block for a lock on `[start, start + len)` until it is granted or the
/// deadline passes.
fn block(
    fd: BorrowedFd<'_>,
    mode: Mode,
    start: u64,
    len: u64,
    until: Option<Instant>,
) -> Result<(), AcquireError> {
    let api = Api::Ofd { start, len };
    let r = match until {
        None => fdlock::lock(fd, mode, api, fdlock::Wait::Block),
        Some(at) => match Deadline::until(at).map_err(AcquireError::Sys)? {
            Some(d) => fdlock::lock(fd, mode, api, fdlock::Wait::Until(&d)),
            None => fdlock::lock(fd, mode, api, fdlock::Wait::NonBlock),
        },
    };
    r.map_err(|f| match f {
        Failure::Busy | Failure::TimedOut => AcquireError::TimedOut,
        Failure::Sys(e) => AcquireError::Sys(e),
    })
}

/// One attempt: true if granted, false if someone else holds a conflict.
fn try_lock(fd: BorrowedFd<'_>, mode: Mode, start: u64, len: u64) -> Result<bool, Errno> {
    match fdlock::lock(fd, mode, Api::Ofd { start, len }, fdlock::Wait::NonBlock) {
        Ok(()) => Ok(true),
        Err(Failure::Busy | Failure::TimedOut) => Ok(false),
        Err(Failure::Sys(e)) => Err(e),
    }
}

fn unlock(fd: BorrowedFd<'_>, start: u64, len: u64) -> Result<(), Errno> {
    fdlock::lock(
        fd,
        Mode::Unlock,
        Api::Ofd { start, len },
        fdlock::Wait::NonBlock,
    )
    .map_err(|f| match f {
        Failure::Sys(e) => e,
        Failure::Busy | Failure::TimedOut => Errno::AGAIN,
    })
}

/// Would a write lock on `[start, start + len)` conflict with someone
/// else's lock (`F_OFD_GETLK`)? That lock's start and length (0: to the
/// end) if so.
fn probe(fd: BorrowedFd<'_>, start: u64, len: u64) -> Result<Option<(u64, u64)>, Errno> {
    // rustix has no F_OFD_GETLK.
    // SAFETY: flock is plain data; all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    // SAFETY: a valid descriptor and a pointer to an initialised struct flock.
    let rc = unsafe {
        libc::fcntl(
            fd.as_raw_fd(),
            libc::F_OFD_GETLK,
            &mut fl as *mut libc::flock,
        )
    };
    if rc == -1 {
        return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO));
    }
    if fl.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(None);
    }
    Ok(Some((fl.l_start as u64, fl.l_len as u64)))
}

/// The next ticket (an empty file is 0).
fn read_counter(fd: BorrowedFd<'_>) -> Result<u64, Errno> {
    let mut buf = [0u8; 8];
    super::fs::read_head(fd, &mut buf)?;
    Ok(u64::from_le_bytes(buf))
}

fn write_counter(fd: BorrowedFd<'_>, next: u64) -> Result<(), Errno> {
    super::fs::write_head(fd, &next.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("lockkit-slots-{}-{name}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir.join("sem")
    }

    fn open(path: &std::path::Path) -> OwnedFd {
        std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .expect("open")
            .into()
    }

    #[test]
    fn slots_are_taken_in_turn_then_busy_then_freed() {
        let path = scratch("turns");
        let mut held = Vec::new();
        for want in 0..3 {
            let mut l = SlotLock::join(open(&path), 3, Claim::One).expect("join");
            let h = l.acquire(Wait::Forever).expect("a free slot");
            assert_eq!(h.slot(), Some(want));
            held.push(h);
        }
        let mut l = SlotLock::join(open(&path), 3, Claim::One).expect("join");
        assert_eq!(l.acquire(Wait::Now).err(), Some(AcquireError::Busy));
        let mut l = SlotLock::join(open(&path), 3, Claim::One).expect("join");
        assert_eq!(
            l.acquire(Wait::Until(Instant::now() + Duration::from_millis(20)))
                .err(),
            Some(AcquireError::TimedOut)
        );
        let mut all = SlotLock::join(open(&path), 3, Claim::Every).expect("join");
        assert_eq!(all.acquire(Wait::Now).err(), Some(AcquireError::Busy));
        held.remove(1).release().expect("release");
        let mut l = SlotLock::join(open(&path), 3, Claim::One).expect("join");
        assert_eq!(l.acquire(Wait::Now).expect("freed").slot(), Some(1));
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn a_waiter_gets_the_slot_that_frees_and_the_threads_stop() {
        let path = scratch("any");
        let mut first = SlotLock::join(open(&path), 2, Claim::One).expect("join");
        let a = first.acquire(Wait::Now).expect("slot");
        let mut second = SlotLock::join(open(&path), 2, Claim::One).expect("join");
        let b = second.acquire(Wait::Now).expect("slot");
        assert_eq!((a.slot(), b.slot()), (Some(0), Some(1)));
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut l = SlotLock::join(open(&path), 2, Claim::One).expect("join");
                l.acquire(Wait::Forever).map(|h| h.slot())
            }
        });
        // Whenever the waiter gets there, slot 1 is the one that frees.
        b.release().expect("release");
        assert_eq!(waiter.join().expect("thread"), Ok(Some(1)));
        drop(a);
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn slots_past_the_waiting_threads_are_found_too() {
        let path = scratch("many");
        let n = MAX_WAITERS + 6;
        let other = open(&path);
        assert!(try_lock(other.as_fd(), Mode::Exclusive, SLOT_BASE, n).expect("lock"));
        for free in [3, n - 1] {
            let waiter = std::thread::spawn({
                let path = path.clone();
                move || {
                    let mut l = SlotLock::join(open(&path), n as u32, Claim::One).expect("join");
                    l.acquire(Wait::Forever).map(|h| h.slot())
                }
            });
            unlock(other.as_fd(), SLOT_BASE + free, 1).expect("unlock");
            assert_eq!(waiter.join().expect("thread"), Ok(Some(free)));
            assert!(try_lock(other.as_fd(), Mode::Exclusive, SLOT_BASE + free, 1).expect("lock"));
        }
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn every_slot_freeing_at_once_ends_the_race_cleanly() {
        // Every waiting thread gets its slot at once and all but one let
        // go, while the head interrupts threads that are ending.
        let path = scratch("all-at-once");
        // Enough threads that glibc unmaps the stacks of ended ones.
        let n = MAX_WAITERS;
        let other = open(&path);
        for _ in 0..5 {
            assert!(try_lock(other.as_fd(), Mode::Exclusive, SLOT_BASE, n).expect("lock"));
            let (ready_tx, ready_rx) = mpsc::channel();
            let waiter = std::thread::spawn({
                let path = path.clone();
                move || {
                    let mut l = SlotLock::join(open(&path), n as u32, Claim::One).expect("join");
                    ready_tx.send(()).expect("send");
                    l.acquire(Wait::Forever).map(|h| h.slot())
                }
            });
            ready_rx.recv().expect("joined");
            // Until every thread waits on its slot (/proc/locks lists each
            // blocked request with `->`); the kernel has no event for this.
            let ino = std::fs::metadata(&path).expect("stat").ino();
            let blocked = || {
                let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
                let ino = format!(":{ino} ");
                locks
                    .lines()
                    .filter(|l| l.contains(" -> ") && l.contains(&ino))
                    .count()
            };
            let began = Instant::now();
            while blocked() < n as usize {
                assert!(
                    began.elapsed() < Duration::from_secs(60),
                    "threads never waited"
                );
                std::thread::yield_now();
            }
            unlock(other.as_fd(), SLOT_BASE, n).expect("unlock");
            let got = waiter.join().expect("thread").expect("a slot");
            assert!(got.is_some_and(|i| i < n), "{got:?}");
        }
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn another_number_of_slots_is_refused() {
        let path = scratch("mismatch");
        let _three = SlotLock::join(open(&path), 3, Claim::One).expect("join");
        assert_eq!(
            SlotLock::join(open(&path), 4, Claim::One).err(),
            Some(JoinError::Mismatch { theirs: 3 })
        );
        assert_eq!(
            SlotLock::join(open(&path), 2, Claim::One).err(),
            Some(JoinError::Mismatch { theirs: 3 })
        );
        assert!(SlotLock::join(open(&path), 3, Claim::Every).is_ok());
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn the_closest_queued_ticket_is_found() {
        let path = scratch("bisect");
        let other = open(&path);
        let me = open(&path);
        assert_eq!(closest_queued_before(me.as_fd(), 100), Ok(None));
        for t in [3, 17, 18, 60] {
            assert!(try_lock(other.as_fd(), Mode::Exclusive, QUEUE_BASE + t, 1).expect("lock"));
        }
        assert_eq!(closest_queued_before(me.as_fd(), 100), Ok(Some(60)));
        assert_eq!(closest_queued_before(me.as_fd(), 60), Ok(Some(18)));
        assert_eq!(closest_queued_before(me.as_fd(), 17), Ok(Some(3)));
        assert_eq!(closest_queued_before(me.as_fd(), 3), Ok(None));
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn content_that_is_not_a_counter_is_left_alone() {
        let path = scratch("content");
        std::fs::write(&path, b"precious data").expect("write");
        assert_eq!(
            SlotLock::join(open(&path), 2, Claim::One).err(),
            Some(JoinError::NotSemaphore { size: 13 })
        );
        assert_eq!(std::fs::read(&path).expect("read"), b"precious data");
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }
}
