//! `lockkit status [--json] [--kind auto|fd|file] TARGET...`: who holds each
//! target and who waits for it.
//!
//! The front end: it reads the command line, asks the core
//! ([`crate::lock::holders`]) what the kernel and the file say, decides
//! what kind of lock each target is, and words the answer (one line per
//! holder or waiter, or one JSON document).
//!
//! A target is an **fd lock** when the kernel lists locks or waiters on it
//! (an N-slot **semaphore** when they follow the slots layout); otherwise
//! a **lock file** when it is a file whose whole content is a pid line (what
//! dotlockfile, `dotlock` and procmail's `lockfile` write: `1234\n`, `0\n`,
//! `0`) or a symbolic link; otherwise **free**. A missing target is free.
//! `--kind fd` and `--kind file` force the view.
//!
//! Exit status, as liblockfile's `lockfile-check`: 0 when any target is held
//! (a slot taken, a lock file dotlock would keep), 1 when none is, 2 on any
//! error (a target that cannot be examined, a usage mistake) — an error wins,
//! as the answer is then incomplete.

mod cluster;
mod json;
pub mod who;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use clap::{Arg, ArgAction};
use rustix::fs::FileType;
use rustix::io::Errno;

use crate::error::strerror;
use crate::lock::fs::FsTime;
use crate::lock::holders::{
    self, Access, BreakRule, Entry, Holder, Kind, LockFileInfo, PidVerdict, Process, SlotRole,
};
use crate::stdio::Stdio;
use json::{Json, Value};

pub const NAME: &str = "status";

/// Exit statuses.
pub const HELD: u8 = 0;
pub const NOT_HELD: u8 = 1;
pub const TROUBLE: u8 = 2;

pub fn command() -> clap::Command {
    clap::Command::new(NAME)
        .about("Say who holds each lock, and who waits for it")
        .long_about(
            "For each TARGET, say what holds it and who waits for it: the fd locks the \
             kernel lists for the file (flock, OFD and POSIX locks, leases; whole file or \
             byte ranges), with each holder's pid, command line, user and start time, and \
             the requests blocked behind them; an N-slot semaphore's slots, holders and \
             queue; or, for a lock file (dotlock, dotlockfile, lockfile), its owner, age, \
             the pid written in it, whether that process is alive, dead or a reused pid, \
             and whether dotlock would break it now and by which rule. One line per \
             holder or waiter, or one JSON document with --json.",
        )
        .after_help(
            "Exit status: 0 when any target is held, 1 when none is, 2 on an error (a \
             target that cannot be examined, or a usage mistake).\n\n\
             Examples:\n  \
             lockkit status /run/lock/backup.lock\n  \
             lockkit status --json /var/mail/alice.lock | jq '.targets[0].locks'",
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print one JSON document (schema in lockkit(1))"),
        )
        .arg(
            Arg::new("kind")
                .long("kind")
                .value_name("KIND")
                .value_parser(["auto", "fd", "file"])
                .default_value("auto")
                .help("Look at fd locks (fd), judge a lock file (file), or decide (auto)"),
        )
        .arg(
            Arg::new("cluster")
                .long("cluster")
                .action(ArgAction::SetTrue)
                .help("The targets are lockkit cluster lock names in etcd: holders and queue"),
        )
        .arg(
            Arg::new("endpoints")
                .long("endpoints")
                .value_name("URLS")
                .requires("cluster")
                .help("With --cluster: etcd endpoints (default $ETCDCTL_ENDPOINTS, else http://127.0.0.1:2379)"),
        )
        .args(["cacert", "cert", "key", "password-file"].map(|name| {
            Arg::new(name)
                .long(name)
                .value_name("FILE")
                .requires("cluster")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .value_hint(clap::ValueHint::FilePath)
                .help(match name {
                    "cacert" => "With --cluster: the CA for https endpoints (PEM)",
                    "cert" => "With --cluster: a client certificate (PEM), with --key",
                    "key" => "With --cluster: the client certificate's key (PEM)",
                    _ => "With --cluster and --user: read the password from this file",
                })
        }))
        .arg(
            Arg::new("user")
                .long("user")
                .value_name("NAME")
                .requires("cluster")
                .help(
                    "With --cluster: the etcd user (password from --password-file, else \
                     $LOCKKIT_ETCD_PASSWORD)",
                ),
        )
        .arg(
            Arg::new("target")
                .value_name("TARGET")
                .required(true)
                .num_args(1..)
                .value_parser(clap::value_parser!(OsString))
                .value_hint(clap::ValueHint::AnyPath)
                .help(
                    "A lock: a file or directory flocked, or a lock file (symlinks are followed)",
                ),
        )
}

/// `lockkit status ARGS` (the arguments after `lockkit`).
pub fn main(args: &[OsString]) -> u8 {
    let mut io = Stdio::new();
    let code = match command()
        .bin_name("lockkit status")
        .try_get_matches_from(args)
    {
        Ok(m) => {
            let kind = match m.get_one::<String>("kind").map(String::as_str) {
                Some("fd") => Forced::Fd,
                Some("file") => Forced::File,
                _ => Forced::Auto,
            };
            let targets: Vec<&OsString> = m
                .get_many::<OsString>("target")
                .map(Iterator::collect)
                .unwrap_or_default();
            if m.get_flag("cluster") {
                cluster::run(&targets, &m, m.get_flag("json"), &mut io)
            } else {
                run(&targets, kind, m.get_flag("json"), &mut io)
            }
        }
        Err(e) => {
            let text = e.render().to_string();
            match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    io.out(text.as_bytes());
                    0
                }
                _ => {
                    io.err(text.as_bytes());
                    TROUBLE
                }
            }
        }
    };
    io.finish(OsStr::new("lockkit"), code)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forced {
    Auto,
    Fd,
    File,
}

/// What was found for one target.
enum Found {
    /// Could not be examined: the error text.
    Error(Vec<u8>),
    /// Nothing there.
    Missing,
    /// Neither fd locks nor a lock file (an empty file, a directory…).
    Free,
    Fd(FdLocks),
    File(LockFileInfo),
}

struct FdLocks {
    /// In the kernel's order, a lock's waiters after it.
    holders: Vec<Holder>,
    /// The slot counts the semaphore's participants say (one if they agree).
    slot_counts: Vec<u64>,
}

impl FdLocks {
    fn slots(&self) -> Option<u64> {
        self.slot_counts.first().copied()
    }
}

impl Found {
    fn held(&self) -> bool {
        match self {
            Found::Fd(fd) => fd.holders.iter().any(|h| {
                !h.entry.blocked
                    && match holders::slot_role(&h.entry, fd.slots()) {
                        None => true,
                        Some(role) => matches!(role, SlotRole::Slot(_) | SlotRole::AllSlots(_)),
                    }
            }),
            Found::File(info) => info.would_break.is_none(),
            _ => false,
        }
    }
}

fn run(targets: &[&OsString], forced: Forced, as_json: bool, io: &mut Stdio) -> u8 {
    // One read of /proc/locks serves every target.
    let listing = if forced == Forced::File {
        Ok(Vec::new())
    } else {
        holders::read_proc_locks()
    };
    let now = FsTime::local_now();
    let found: Vec<Found> = targets
        .iter()
        .map(|t| inspect(Path::new(t), forced, &listing, now))
        .collect();
    let mut processes = Processes::default();
    let nested = holders::in_nested_pid_namespace();
    if as_json {
        io.out(&json_report(targets, &found, &mut processes, now, nested));
    } else {
        for (target, f) in targets.iter().zip(&found) {
            let lines = human(target.as_bytes(), f, &mut processes, now, nested);
            match f {
                Found::Error(_) => io.err(&lines),
                _ => io.out(&lines),
            }
        }
    }
    if found.iter().any(|f| matches!(f, Found::Error(_))) {
        TROUBLE
    } else if found.iter().any(Found::held) {
        HELD
    } else {
        NOT_HELD
    }
}

fn error_text(target: &Path, what: &str, e: Errno) -> Vec<u8> {
    let mut t = target.as_os_str().as_bytes().to_vec();
    t.extend_from_slice(b": ");
    t.extend_from_slice(what.as_bytes());
    t.extend_from_slice(strerror(e).as_bytes());
    t
}

fn inspect(path: &Path, forced: Forced, listing: &Result<Vec<u8>, Errno>, now: FsTime) -> Found {
    let st = match rustix::fs::stat(path) {
        Ok(st) => Some(st),
        // A dangling symlink is a lock file dotlock would judge (stale).
        Err(Errno::NOENT) => match rustix::fs::lstat(path) {
            Ok(l) if FileType::from_raw_mode(l.st_mode) == FileType::Symlink => None,
            Ok(_) | Err(Errno::NOENT) => return Found::Missing,
            Err(e) => return Found::Error(error_text(path, "", e)),
        },
        Err(e) => return Found::Error(error_text(path, "", e)),
    };
    if forced != Forced::File {
        if let Some(st) = &st {
            let listing = match listing {
                Ok(l) => l,
                Err(e) => return Found::Error(error_text(path, "cannot read /proc/locks: ", *e)),
            };
            let mut found = holders::holders(listing, &holders::Target::of(st));
            // Holders first, then the waiters (the sort is stable).
            found.sort_by_key(|h| h.entry.blocked);
            if !found.is_empty() || forced == Forced::Fd {
                let entries: Vec<Entry> = found.iter().map(|h| h.entry).collect();
                return Found::Fd(FdLocks {
                    slot_counts: holders::slot_counts(&entries),
                    holders: found,
                });
            }
        }
    }
    let file = match holders::lock_file(path, now) {
        Ok(Some(info)) => info,
        Ok(None) => return Found::Missing,
        Err(e) => return Found::Error(error_text(path, "", e)),
    };
    let regular = st.is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::RegularFile);
    let looks_locked = (regular && holders::is_pid_text(&file.content) && file.size <= 64)
        || (file.symlink && st.is_none());
    if forced == Forced::File || looks_locked {
        Found::File(file)
    } else {
        Found::Free
    }
}

/// Process details, each looked up once.
#[derive(Default)]
struct Processes {
    known: HashMap<i32, Option<Process>>,
    users: HashMap<u32, Option<Vec<u8>>>,
}

impl Processes {
    fn get(&mut self, pid: i32) -> Option<&Process> {
        self.known
            .entry(pid)
            .or_insert_with(|| holders::process(pid))
            .as_ref()
    }

    fn user(&mut self, uid: u32) -> Option<Vec<u8>> {
        self.users
            .entry(uid)
            .or_insert_with(|| crate::lock::user::by_uid(uid).map(|a| a.name))
            .clone()
    }
}

// Words ---------------------------------------------------------------------

/// Bytes for a one-line message: invalid UTF-8 and control characters as
/// `\xNN`.
pub fn escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if (c as u32) < 0x20 || c == '\u{7f}' {
                out.extend_from_slice(format!("\\x{:02x}", c as u32).as_bytes());
            } else {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        for b in chunk.invalid() {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    }
    out
}

fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Flock => "flock",
        Kind::Ofd => "ofd",
        Kind::Posix => "posix",
        Kind::Lease => "lease",
        Kind::Delegation => "delegation",
        Kind::Other => "other",
    }
}

fn access_word(a: Access) -> &'static str {
    match a {
        Access::Shared => "shared",
        Access::Exclusive => "exclusive",
        Access::Other => "other",
    }
}

/// `exclusive flock`, `shared OFD lock`, `exclusive POSIX lock`.
pub fn lock_words(e: &Entry) -> String {
    let kind = match e.kind {
        Kind::Flock => "flock",
        Kind::Ofd => "OFD lock",
        Kind::Posix => "POSIX lock",
        Kind::Lease => "lease",
        Kind::Delegation => "delegation",
        Kind::Other => "lock",
    };
    let access = match e.access {
        Access::Shared => "shared ",
        Access::Exclusive => "exclusive ",
        Access::Other => "",
    };
    format!("{access}{kind}")
}

fn range_words(e: &Entry) -> String {
    match (e.start, e.end) {
        (0, None) => "whole file".into(),
        (s, None) => format!("bytes {s} to the end"),
        (s, Some(end)) if s == end => format!("byte {s}"),
        (s, Some(end)) => format!("bytes {s}-{end}"),
    }
}

/// `2026-12-03 21:03:05`, or only the time when `short` and it is today.
pub fn time_words(t: FsTime, now: FsTime, short: bool) -> String {
    let secs = i64::try_from(t.0.div_euclid(1_000_000_000)).unwrap_or(0);
    let now_secs = i64::try_from(now.0.div_euclid(1_000_000_000)).unwrap_or(0);
    let (Some(lt), Some(ln)) = (
        crate::lock::sys::local_time(secs),
        crate::lock::sys::local_time(now_secs),
    ) else {
        return format!("@{secs}");
    };
    let time = format!("{:02}:{:02}:{:02}", lt.hour, lt.minute, lt.second);
    if short && (lt.year, lt.month, lt.day) == (ln.year, ln.month, ln.day) {
        time
    } else {
        format!("{}-{:02}-{:02} {time}", lt.year, lt.month, lt.day)
    }
}

/// `42 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
fn duration_words(ns: i128) -> String {
    let s = (ns.max(0) / 1_000_000_000) as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// `pid 1234 (backup.sh --full)`, with `, user alice, running since …`
/// when `detail`.
fn process_words(ps: &mut Processes, pid: i32, detail: bool) -> Vec<u8> {
    let mut out = format!("pid {pid}").into_bytes();
    let Some(p) = ps.get(pid).cloned() else {
        out.extend_from_slice(b" (not visible in /proc: it exited, or /proc hides it)");
        return out;
    };
    out.extend_from_slice(b" (");
    out.extend_from_slice(&escape(&p.command));
    out.push(b')');
    if detail {
        if let Some(uid) = p.uid {
            out.extend_from_slice(b", user ");
            match ps.user(uid) {
                Some(name) => out.extend_from_slice(&escape(&name)),
                None => out.extend_from_slice(uid.to_string().as_bytes()),
            }
        }
    }
    out
}

fn since_words(ps: &mut Processes, pid: i32, now: FsTime) -> String {
    match ps.get(pid).and_then(|p| p.started) {
        Some(t) => format!(
            ", running since {} ({})",
            time_words(t, now, false),
            duration_words(now.0 - t.0)
        ),
        None => String::new(),
    }
}

/// Why no process can be named for a holder.
fn unknown_words(h: &Holder) -> String {
    if h.other_namespace {
        return "a process in another pid namespace (pid not visible)".into();
    }
    let why = if h.entry.blocked {
        "the kernel names no pid for a waiting OFD request"
    } else if h.listed_gone {
        "the process that took it has exited, and no process we can see has its descriptor"
    } else {
        "an OFD lock names no pid, and no process we can see has its descriptor"
    };
    if h.unreadable > 0 {
        format!(
            "an unknown process ({why}; the descriptors of {} processes could not be read: \
             run as root to see them)",
            h.unreadable
        )
    } else {
        format!("an unknown process ({why})")
    }
}

/// "free", or what can be said of it inside a nested pid namespace.
fn free_words(nested: bool) -> &'static [u8] {
    if nested {
        b"free as far as this pid namespace can see (the kernel hides the locks of processes outside it)"
    } else {
        b"free"
    }
}

fn human(target: &[u8], found: &Found, ps: &mut Processes, now: FsTime, nested: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = |text: &[u8]| {
        out.extend_from_slice(&escape(target));
        out.extend_from_slice(b": ");
        out.extend_from_slice(text);
        out.push(b'\n');
    };
    match found {
        Found::Error(text) => {
            let mut t = b"lockkit: status: ".to_vec();
            t.extend_from_slice(&escape(text));
            t.push(b'\n');
            return t;
        }
        Found::Missing => line(b"free (no such file)"),
        Found::Free => line(free_words(nested)),
        Found::Fd(fd) if fd.holders.is_empty() => line(free_words(nested)),
        Found::Fd(fd) => {
            let n = fd.slots();
            if let Some(n) = n {
                let taken = fd
                    .holders
                    .iter()
                    .filter(|h| {
                        !h.entry.blocked
                            && matches!(
                                holders::slot_role(&h.entry, Some(n)),
                                Some(SlotRole::Slot(_) | SlotRole::AllSlots(_))
                            )
                    })
                    .count();
                let mut t = format!(
                    "semaphore with {n} slot{} ({taken} taken)",
                    if n == 1 { "" } else { "s" }
                );
                if fd.slot_counts.len() > 1 {
                    let all: Vec<String> = fd.slot_counts.iter().map(u64::to_string).collect();
                    t.push_str(&format!(
                        "; its participants disagree on the count: {}",
                        all.join(", ")
                    ));
                }
                line(t.as_bytes());
            }
            for h in &fd.holders {
                let role = holders::slot_role(&h.entry, n);
                let (verb, what) = match (role, h.entry.blocked) {
                    (Some(SlotRole::Agree(_) | SlotRole::Counter), _) => continue,
                    (Some(SlotRole::Slot(i)), false) => ("held by", format!("slot {i}")),
                    (Some(SlotRole::AllSlots(n)), false) => {
                        ("held by", format!("all {n} slots (exclusive)"))
                    }
                    (Some(SlotRole::Queue(t)), _) => ("waited for by", format!("queue ticket {t}")),
                    (Some(SlotRole::Slot(i)), true) => ("waited for by", format!("slot {i}")),
                    (Some(SlotRole::AllSlots(n)), true) => {
                        ("waited for by", format!("all {n} slots (exclusive)"))
                    }
                    (None, blocked) => (
                        if blocked { "waited for by" } else { "held by" },
                        format!("{}, {}", lock_words(&h.entry), range_words(&h.entry)),
                    ),
                };
                if h.pids.is_empty() {
                    line(format!("{verb} {}, {what}", unknown_words(h)).as_bytes());
                }
                for &pid in &h.pids {
                    let mut t = format!("{verb} ").into_bytes();
                    t.extend_from_slice(&process_words(ps, pid, true));
                    t.extend_from_slice(format!(", {what}").as_bytes());
                    t.extend_from_slice(since_words(ps, pid, now).as_bytes());
                    if h.listed_gone {
                        t.extend_from_slice(
                            format!(" (taken by pid {}, which has exited)", h.entry.pid).as_bytes(),
                        );
                    }
                    if h.identical > 1 {
                        t.extend_from_slice(
                            format!(
                                " (one of {} identical locks; the kernel does not say which \
                                 process holds which)",
                                h.identical
                            )
                            .as_bytes(),
                        );
                    }
                    line(&t);
                }
            }
        }
        Found::File(info) => line(&file_words(info, ps, now)),
    }
    out
}

fn file_words(info: &LockFileInfo, ps: &mut Processes, now: FsTime) -> Vec<u8> {
    let valid = info.would_break.is_none();
    let mut t: Vec<u8> = if valid {
        b"lock file".to_vec()
    } else {
        b"stale lock file".to_vec()
    };
    let pid = info.pid;
    match info.verdict {
        PidVerdict::NoPid => t.extend_from_slice(b" with no pid"),
        PidVerdict::Alive { .. } | PidVerdict::Unknown => {
            t.extend_from_slice(b" of ");
            t.extend_from_slice(&process_words(ps, pid, true));
            t.extend_from_slice(since_words(ps, pid, now).as_bytes());
        }
        PidVerdict::Dead => t.extend_from_slice(format!(" of pid {pid} (dead)").as_bytes()),
        PidVerdict::Reused { .. } => {
            t.extend_from_slice(format!(" of pid {pid} (reused: now ").as_bytes());
            t.extend_from_slice(&process_words(ps, pid, false));
            t.extend_from_slice(b", started after the lock was written)");
        }
    }
    t.extend_from_slice(b", owner ");
    match ps.user(info.uid) {
        Some(name) => t.extend_from_slice(&escape(&name)),
        None => t.extend_from_slice(info.uid.to_string().as_bytes()),
    }
    t.extend_from_slice(
        format!(
            ", mode {:04o}, age {}",
            info.mode,
            duration_words(now.0 - info.mtime.0)
        )
        .as_bytes(),
    );
    if info.symlink {
        t.extend_from_slice(b", a symbolic link");
    }
    let verdict = match info.would_break {
        Some(BreakRule::DeadPid) => "; dotlock would break it now (dead pid)".to_owned(),
        Some(BreakRule::ReusedPid) => "; dotlock would break it now (reused pid)".to_owned(),
        Some(BreakRule::Age) => "; dotlock would break it now (older than 5 minutes)".to_owned(),
        Some(BreakRule::Dangling) => {
            "; dotlock would break it now (a symbolic link to nothing)".to_owned()
        }
        None if matches!(info.verdict, PidVerdict::Alive { .. }) => {
            format!("; dotlock -p keeps it while pid {pid} lives")
        }
        None => format!(
            "; dotlock keeps it for {} more (age rule)",
            duration_words(info.expires.0 - now.0)
        ),
    };
    t.extend_from_slice(verdict.as_bytes());
    t
}

// JSON ----------------------------------------------------------------------

/// Whole seconds since the epoch.
pub fn secs(t: FsTime) -> i128 {
    t.0.div_euclid(1_000_000_000)
}

/// A process object as member `key` (or an array element with "").
fn json_process(j: &mut Json, ps: &mut Processes, key: &str, pid: i32) {
    j.open(key, false);
    j.int("pid", pid);
    let p = ps.get(pid).cloned();
    j.opt_str("command", p.as_ref().map(|p| p.command.clone()));
    let uid = p.as_ref().and_then(|p| p.uid);
    j.opt_int("uid", uid);
    j.opt_str("user", uid.and_then(|u| ps.user(u)));
    j.opt_int("started", p.and_then(|p| p.started).map(secs));
    j.close(false);
}

fn json_report(
    targets: &[&OsString],
    found: &[Found],
    ps: &mut Processes,
    now: FsTime,
    nested: bool,
) -> Vec<u8> {
    let mut j = Json::new();
    j.open("", false);
    j.int("version", 1);
    j.int("now", secs(now));
    j.put("nested_pid_namespace", Value::Bool(nested));
    j.open("targets", true);
    for (target, f) in targets.iter().zip(found) {
        j.open("", false);
        j.str("target", target.as_bytes());
        let (kind, state) = match f {
            Found::Error(_) => ("none", "error"),
            Found::Missing => ("none", "missing"),
            Found::Free => ("none", "free"),
            Found::Fd(fd) if fd.slots().is_some() => {
                ("slots", if f.held() { "held" } else { "free" })
            }
            Found::Fd(_) => ("fd", if f.held() { "held" } else { "free" }),
            Found::File(_) => ("file", if f.held() { "held" } else { "stale" }),
        };
        j.str("kind", kind);
        j.str("state", state);
        j.put("held", Value::Bool(f.held()));
        j.opt_str(
            "error",
            match f {
                Found::Error(t) => Some(t.clone()),
                _ => None,
            },
        );
        j.open("locks", true);
        if let Found::Fd(fd) = f {
            for h in &fd.holders {
                json_lock(&mut j, ps, h, fd.slots());
            }
        }
        j.close(true);
        match f {
            Found::Fd(fd) if fd.slots().is_some() => {
                j.open("slots", false);
                j.opt_int("count", fd.slots());
                j.open("counts_seen", true);
                for &n in &fd.slot_counts {
                    j.int("", n);
                }
                j.close(true);
                j.close(false);
            }
            _ => j.put("slots", Value::Null),
        }
        match f {
            Found::File(info) => json_file(&mut j, ps, info, now),
            _ => j.put("lock_file", Value::Null),
        }
        j.close(false);
    }
    j.close(true);
    j.close(false);
    j.finish()
}

fn json_lock(j: &mut Json, ps: &mut Processes, h: &Holder, n: Option<u64>) {
    let e = &h.entry;
    let role = holders::slot_role(e, n);
    if matches!(role, Some(SlotRole::Agree(_) | SlotRole::Counter)) {
        return;
    }
    j.open("", false);
    let queued = matches!(role, Some(SlotRole::Queue(_)));
    j.str(
        "role",
        if e.blocked || queued {
            "waiter"
        } else {
            "holder"
        },
    );
    j.str("lock", kind_word(e.kind));
    j.str("mode", access_word(e.access));
    j.int("start", e.start);
    j.opt_int("end", e.end);
    j.int("kernel_pid", e.pid);
    match role {
        Some(SlotRole::Slot(i)) => j.int("slot", i),
        _ => j.put("slot", Value::Null),
    }
    j.put(
        "all_slots",
        Value::Bool(matches!(role, Some(SlotRole::AllSlots(_)))),
    );
    match role {
        Some(SlotRole::Queue(t)) => j.int("ticket", t),
        _ => j.put("ticket", Value::Null),
    }
    j.put("other_namespace", Value::Bool(h.other_namespace));
    j.put("taker_exited", Value::Bool(h.listed_gone));
    j.int("unreadable_processes", h.unreadable as u64);
    j.int("identical_locks", h.identical as u64);
    j.open("processes", true);
    for &pid in &h.pids {
        json_process(j, ps, "", pid);
    }
    j.close(true);
    j.close(false);
}

fn json_file(j: &mut Json, ps: &mut Processes, info: &LockFileInfo, now: FsTime) {
    j.open("lock_file", false);
    j.int("owner_uid", info.uid);
    j.opt_str("owner", ps.user(info.uid));
    j.str("mode", format!("{:04o}", info.mode));
    j.int("size", info.size);
    j.put("symlink", Value::Bool(info.symlink));
    j.int("mtime", secs(info.mtime));
    j.int("age", secs(FsTime(now.0 - info.mtime.0)).max(0));
    j.opt_int("pid", (info.pid > 0).then_some(info.pid));
    let state = match info.verdict {
        PidVerdict::NoPid => "none",
        PidVerdict::Alive { .. } => "alive",
        PidVerdict::Dead => "dead",
        PidVerdict::Reused { .. } => "reused",
        PidVerdict::Unknown => "unknown",
    };
    j.str("pid_state", state);
    if matches!(
        info.verdict,
        PidVerdict::Alive { .. } | PidVerdict::Reused { .. }
    ) {
        json_process(j, ps, "process", info.pid);
    } else {
        j.put("process", Value::Null);
    }
    j.opt_str(
        "would_break",
        info.would_break.map(|r| match r {
            BreakRule::DeadPid => "dead-pid",
            BreakRule::ReusedPid => "reused-pid",
            BreakRule::Age => "age",
            BreakRule::Dangling => "dangling",
        }),
    );
    j.int("stale_at", secs(info.expires));
    j.close(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_for_one_line() {
        assert_eq!(escape(b"a b\n\xff\xc3\xa9"), b"a b\\x0a\\xff\xc3\xa9");
    }

    #[test]
    fn durations() {
        let s = |n: i128| duration_words(n * 1_000_000_000);
        assert_eq!(s(42), "42 s");
        assert_eq!(s(720), "12 min");
        assert_eq!(s(3 * 3600 + 300), "3 h 5 min");
        assert_eq!(s(2 * 86400 + 4 * 3600), "2 d 4 h");
        assert_eq!(s(-5), "0 s");
    }

    #[test]
    fn the_command_is_consistent() {
        command().debug_assert();
    }
}
