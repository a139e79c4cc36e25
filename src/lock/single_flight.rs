//! Single-flight: of the callers that want the same work done, one runs it
//! (the leader) and the others wait for its end and take its exit status.
//!
//! The protocol is a flock(2) on the file plus a small text record in it,
//! written only by a leader while it holds the exclusive lock:
//!
//! ```text
//! lockkit-single-flight 1
//! boot <boot id>
//! generation <G>
//! state running|done
//! started <S>
//! result <G'> <E> <C>        (or: result none)
//! ```
//!
//! G counts runs; S is when run G started; `result` is the last run that
//! recorded an exit status (run G itself once it is done): its generation,
//! the time it ended and its status C. Times are CLOCK_BOOTTIME
//! nanoseconds: one clock for every process of the machine that never
//! steps; the boot id (`/proc/sys/kernel/random/boot_id`) says which boot
//! they count from.
//!
//! A caller notes its arrival A on that clock, then tries the exclusive
//! lock without waiting. Not granted: it waits for a shared lock (the run
//! in progress, if any, ends first) and reads the record. Whenever it holds
//! either lock, it decides by the record ([`decide`]): a result that ended
//! at or after A is its result; a run left `running` while nobody holds the
//! exclusive lock was killed before it recorded one; otherwise the caller
//! leads (with the exclusive lock), or, holding only the shared one, waits
//! for the exclusive lock and decides again. A leader records the end and
//! its status *before* it releases, and a caller's arrival is taken
//! *before* its first try, so every caller sees a run that ended after it
//! arrived, and none takes one that ended before.

use std::os::fd::BorrowedFd;

use rustix::fs::FileType;
use rustix::io::Errno;
use rustix::time::ClockId;

use super::fdlock::{self, Api, Failure, Mode, Wait};
use super::kind::{Held as _, HeldFd};

/// The record's first line; another version is someone else's file.
pub const MAGIC: &str = "lockkit-single-flight 1\n";

/// Where the kernel says which boot this is.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// A record is a few hundred bytes; a longer file is not one.
const MAX_RECORD: usize = 512;

/// Reads of a record that does not parse before it counts as damaged
/// (only a writer outside the protocol could tear one).
const READS: usize = 3;

/// CLOCK_BOOTTIME now, in nanoseconds.
pub fn boottime() -> u64 {
    let t = rustix::time::clock_gettime(ClockId::Boottime);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

/// This boot's id, if the kernel tells it.
fn boot_id() -> Option<String> {
    let text = std::fs::read_to_string(BOOT_ID).ok()?;
    let id = text.trim();
    is_token(id).then(|| id.to_owned())
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic())
}

/// A run that recorded its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunResult {
    pub generation: u64,
    pub ended: u64,
    pub status: u8,
}

/// The record, as a leader writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The boot its times count from ("-" if the writer could not tell).
    pub boot: String,
    pub generation: u64,
    pub running: bool,
    pub started: u64,
    pub result: Option<RunResult>,
}

impl Record {
    pub fn to_text(&self) -> String {
        let result = match self.result {
            Some(r) => format!("{} {} {}", r.generation, r.ended, r.status),
            None => "none".to_owned(),
        };
        format!(
            "{MAGIC}boot {}\ngeneration {}\nstate {}\nstarted {}\nresult {result}\n",
            self.boot,
            self.generation,
            if self.running { "running" } else { "done" },
            self.started,
        )
    }

    /// Strictly the format [`Record::to_text`] writes; None otherwise.
    pub fn parse(text: &[u8]) -> Option<Record> {
        let text = std::str::from_utf8(text).ok()?.strip_prefix(MAGIC)?;
        let mut lines = text.split_terminator('\n');
        let mut field = |key: &str| lines.next()?.strip_prefix(key)?.strip_prefix(' ');
        let boot = field("boot").filter(|b| is_token(b))?.to_owned();
        let generation = number(field("generation")?)?;
        let running = match field("state")? {
            "running" => true,
            "done" => false,
            _ => return None,
        };
        let started = number(field("started")?)?;
        let result = match field("result")? {
            "none" => None,
            r => {
                let mut w = r.split(' ');
                let r = RunResult {
                    generation: number(w.next()?)?,
                    ended: number(w.next()?)?,
                    status: u8::try_from(number(w.next()?)?).ok()?,
                };
                if w.next().is_some() {
                    return None;
                }
                Some(r)
            }
        };
        if lines.next().is_some() || !text.ends_with('\n') {
            return None;
        }
        if !running && result.is_none_or(|r| r.generation != generation) {
            return None;
        }
        Some(Record {
            boot,
            generation,
            running,
            started,
            result,
        })
    }
}

/// Plain decimal digits (no sign, no spaces), as written.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// What the file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing recorded yet (empty, or only NUL bytes: a write a crash lost).
    Nothing,
    /// A record.
    Record(Record),
    /// Our magic line, or the start of it, and then no record: a write a
    /// crash cut short. Overwritten like nothing.
    Damaged,
    /// Something else: not ours to overwrite.
    Foreign,
}

impl Found {
    pub fn of(text: &[u8]) -> Found {
        if text.iter().all(|&b| b == 0) {
            return Found::Nothing;
        }
        if let Some(r) = Record::parse(text) {
            return Found::Record(r);
        }
        let magic = MAGIC.as_bytes();
        let n = text.len().min(magic.len());
        if text.len() <= MAX_RECORD && text[..n] == magic[..n] {
            Found::Damaged
        } else {
            Found::Foreign
        }
    }
}

/// Which lock the caller holds while it reads the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    Shared,
    Exclusive,
}

/// What a caller does, judged from the record while it holds a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A run ended at or after our arrival: its result is ours.
    Took(RunResult),
    /// The run we waited for was killed before it recorded a result.
    NoResult { generation: u64 },
    /// No run of ours: lead the next one (only with the exclusive lock).
    Lead {
        generation: u64,
        result: Option<RunResult>,
    },
    /// No run of ours, and only the shared lock: wait for the exclusive
    /// one and decide again.
    Again,
    /// The file holds something else (only said with the exclusive lock,
    /// when it would be overwritten).
    Foreign,
}

/// The decision of a caller that arrived at `arrival` of boot `boot` and
/// holds `held`. A `running` record with nobody holding the exclusive lock
/// is a killed leader's: its waiters say so; a caller holding the
/// exclusive lock at once (it waited for nothing) takes it for a leftover
/// and leads, unless that run started after the caller arrived.
pub fn decide(found: &Found, boot: Option<&str>, arrival: u64, held: Holding) -> Decision {
    let lead = |generation: u64, result| match held {
        Holding::Exclusive => Decision::Lead { generation, result },
        Holding::Shared => Decision::Again,
    };
    let r = match found {
        Found::Nothing | Found::Damaged => return lead(1, None),
        Found::Foreign if held == Holding::Exclusive => return Decision::Foreign,
        Found::Foreign => return Decision::Again,
        Found::Record(r) => r,
    };
    let next = r.generation.saturating_add(1);
    // Times of another boot (or of an unknown one) compare with nothing.
    if boot.is_none() || boot != Some(r.boot.as_str()) {
        return lead(next, None);
    }
    if let Some(result) = r.result.filter(|res| res.ended >= arrival) {
        return Decision::Took(result);
    }
    if r.running && (held == Holding::Shared || r.started >= arrival) {
        return Decision::NoResult {
            generation: r.generation,
        };
    }
    lead(next, r.result)
}

/// Why [`join`] could not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// A run is in progress and we were not to wait.
    Busy,
    /// Still in progress at the deadline.
    TimedOut,
    /// The file holds something other than a record.
    Foreign,
    /// Not a regular file: there is nowhere to keep a record.
    NotAFile,
    /// The leader could not write its record (a full file system): the
    /// command was not run.
    Record(Errno),
    Sys(Errno),
}

impl From<Failure> for JoinError {
    fn from(f: Failure) -> JoinError {
        match f {
            Failure::Busy => JoinError::Busy,
            Failure::TimedOut => JoinError::TimedOut,
            Failure::Sys(e) => JoinError::Sys(e),
        }
    }
}

/// What a caller is, once [`join`] has decided.
#[derive(Debug)]
pub enum Joined<'fd> {
    /// Run the command, then [`Leader::finish`].
    Lead(Leader<'fd>),
    /// Exit with this run's status.
    Took(RunResult),
    /// The run we waited for left no result.
    NoResult { generation: u64 },
}

/// A leader: holds the exclusive lock, and has recorded its run as running.
#[derive(Debug)]
pub struct Leader<'fd> {
    fd: BorrowedFd<'fd>,
    record: Record,
}

impl Leader<'_> {
    /// Record the run's end and status, then release the lock — also the
    /// command's share of it (a process it left behind with the descriptor
    /// keeps no waiter waiting). The lock is released even if the record
    /// cannot be written: the waiters then find the run `running`.
    pub fn finish(mut self, status: u8) -> Result<(), Errno> {
        self.record.running = false;
        self.record.result = Some(RunResult {
            generation: self.record.generation,
            ended: boottime(),
            status,
        });
        let written = write(self.fd, &self.record);
        unlock(self.fd)?;
        written
    }
}

/// Join the single flight on `fd` (open read-write): lead, or take the
/// result of a run that ends after now. Waits as `wait` says for a run in
/// progress; the first try never waits.
pub fn join<'fd>(fd: BorrowedFd<'fd>, wait: Wait<'_>) -> Result<Joined<'fd>, JoinError> {
    let arrival = boottime();
    let stat = rustix::fs::fstat(fd).map_err(JoinError::Sys)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(JoinError::NotAFile);
    }
    let boot = boot_id();
    let boot = boot.as_deref();
    let decision = match fdlock::lock(fd, Mode::Exclusive, Api::Flock, Wait::NonBlock) {
        Ok(()) => decide(&read(fd)?, boot, arrival, Holding::Exclusive),
        Err(Failure::Busy) => {
            // A run in progress, or only callers reading the record.
            fdlock::lock(fd, Mode::Shared, Api::Flock, wait)?;
            match decide(&read(fd)?, boot, arrival, Holding::Shared) {
                Decision::Again => {
                    // Converting drops the shared lock first: a run may
                    // start and end meanwhile, which the second look sees.
                    if let Err(e) = fdlock::lock(fd, Mode::Exclusive, Api::Flock, wait) {
                        unlock(fd).map_err(JoinError::Sys)?;
                        return Err(e.into());
                    }
                    decide(&read(fd)?, boot, arrival, Holding::Exclusive)
                }
                other => other,
            }
        }
        Err(e) => return Err(e.into()),
    };
    let joined = match decision {
        Decision::Lead { generation, result } => {
            let record = Record {
                boot: boot.unwrap_or("-").to_owned(),
                generation,
                running: true,
                started: boottime(),
                result,
            };
            if let Err(e) = write(fd, &record) {
                unlock(fd).map_err(JoinError::Sys)?;
                return Err(JoinError::Record(e));
            }
            return Ok(Joined::Lead(Leader { fd, record }));
        }
        Decision::Took(r) => Joined::Took(r),
        Decision::NoResult { generation } => Joined::NoResult { generation },
        Decision::Foreign => {
            unlock(fd).map_err(JoinError::Sys)?;
            return Err(JoinError::Foreign);
        }
        Decision::Again => unreachable!("decided again with the exclusive lock"),
    };
    // Let the next caller in before this process's exit.
    unlock(fd).map_err(JoinError::Sys)?;
    Ok(joined)
}

/// Give up the lock (ours, and the command's share of it).
fn unlock(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    HeldFd::new(fd, Api::Flock).release()
}

/// The file's contents (up to one byte more than a record may have), read
/// again a few times while they do not parse.
fn read(fd: BorrowedFd<'_>) -> Result<Found, JoinError> {
    let mut found = Found::Nothing;
    for _ in 0..READS {
        let mut buf = [0u8; MAX_RECORD + 1];
        let len = super::fs::read_head(fd, &mut buf).map_err(JoinError::Sys)?;
        found = Found::of(&buf[..len]);
        if !matches!(found, Found::Damaged | Found::Foreign) {
            break;
        }
    }
    Ok(found)
}

/// One write of the whole record, then the file cut to its length.
fn write(fd: BorrowedFd<'_>, record: &Record) -> Result<(), Errno> {
    let text = record.to_text();
    let bytes = text.as_bytes();
    super::fs::write_head(fd, bytes)?;
    rustix::fs::ftruncate(fd, bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: &str = "b0";

    fn record(
        generation: u64,
        running: bool,
        started: u64,
        result: Option<(u64, u64, u8)>,
    ) -> Found {
        Found::Record(Record {
            boot: BOOT.into(),
            generation,
            running,
            started,
            result: result.map(|(generation, ended, status)| RunResult {
                generation,
                ended,
                status,
            }),
        })
    }

    #[test]
    fn the_text_round_trips_and_nothing_else_parses() {
        for found in [
            record(3, true, 10, Some((2, 9, 7))),
            record(3, false, 10, Some((3, 12, 0))),
            record(1, true, 10, None),
        ] {
            let Found::Record(r) = &found else {
                unreachable!()
            };
            assert_eq!(Found::of(r.to_text().as_bytes()), found);
        }
        let good = "lockkit-single-flight 1\nboot b0\ngeneration 3\nstate done\nstarted 10\nresult 3 12 7\n";
        assert!(Record::parse(good.as_bytes()).is_some());
        for bad in [
            good.replace("result 3 12 7", "result 3 12 256"),
            good.replace("result 3 12 7", "result 2 12 7"),
            good.replace("state done", "state gone"),
            good.replace("started 10", "started +10"),
            good.replace("\nresult", "\nresult  "),
            format!("{good}x\n"),
            good.trim_end().to_owned(),
        ] {
            assert_eq!(Found::of(bad.as_bytes()), Found::Damaged, "{bad:?}");
        }
        assert_eq!(Found::of(b""), Found::Nothing);
        assert_eq!(Found::of(&[0; 40]), Found::Nothing);
        assert_eq!(Found::of(b"lockkit-sing"), Found::Damaged);
        assert_eq!(Found::of(b"#!/bin/sh\necho hi\n"), Found::Foreign);
        assert_eq!(Found::of(b"lockkit-single-flight 2\n"), Found::Foreign);
    }

    #[test]
    fn a_result_that_ended_after_arrival_is_taken_under_either_lock() {
        let f = record(4, false, 10, Some((4, 20, 7)));
        for held in [Holding::Shared, Holding::Exclusive] {
            let took = Decision::Took(RunResult {
                generation: 4,
                ended: 20,
                status: 7,
            });
            assert_eq!(decide(&f, Some(BOOT), 20, held), took);
            assert_eq!(decide(&f, Some(BOOT), 5, held), took);
        }
        // Ended before we arrived: a new run.
        assert_eq!(decide(&f, Some(BOOT), 21, Holding::Shared), Decision::Again);
        assert_eq!(
            decide(&f, Some(BOOT), 21, Holding::Exclusive),
            Decision::Lead {
                generation: 5,
                result: Some(RunResult {
                    generation: 4,
                    ended: 20,
                    status: 7
                })
            }
        );
    }

    #[test]
    fn a_killed_run_leaves_its_waiters_without_a_result() {
        // Killed run 5 after run 4 ended (before we arrived at 25).
        let f = record(5, true, 22, Some((4, 20, 7)));
        assert_eq!(
            decide(&f, Some(BOOT), 25, Holding::Shared),
            Decision::NoResult { generation: 5 }
        );
        // Found at once with the exclusive lock: a leftover, unless it
        // started after we arrived.
        assert!(matches!(
            decide(&f, Some(BOOT), 25, Holding::Exclusive),
            Decision::Lead { generation: 6, .. }
        ));
        assert_eq!(
            decide(&f, Some(BOOT), 21, Holding::Exclusive),
            Decision::NoResult { generation: 5 }
        );
        // A result newer than our arrival still counts.
        assert!(matches!(
            decide(&f, Some(BOOT), 20, Holding::Shared),
            Decision::Took(_)
        ));
    }

    #[test]
    fn times_of_another_boot_compare_with_nothing() {
        let f = record(4, false, 10, Some((4, 1 << 50, 7)));
        assert_eq!(decide(&f, Some("b1"), 5, Holding::Shared), Decision::Again);
        assert_eq!(
            decide(&f, None, 5, Holding::Exclusive),
            Decision::Lead {
                generation: 5,
                result: None
            }
        );
        let running = record(4, true, 10, None);
        assert_eq!(
            decide(&running, Some("b1"), 5, Holding::Shared),
            Decision::Again
        );
    }

    #[test]
    fn foreign_contents_are_never_overwritten() {
        assert_eq!(
            decide(&Found::Foreign, Some(BOOT), 5, Holding::Exclusive),
            Decision::Foreign
        );
        assert_eq!(
            decide(&Found::Foreign, Some(BOOT), 5, Holding::Shared),
            Decision::Again
        );
        assert_eq!(
            decide(&Found::Damaged, Some(BOOT), 5, Holding::Exclusive),
            Decision::Lead {
                generation: 1,
                result: None
            }
        );
    }
}
