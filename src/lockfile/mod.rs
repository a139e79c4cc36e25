//! `lockfile`: a drop-in for procmail's lockfile(1) (Debian procmail 3.22,
//! which reports v3.23pre).
//!
//! The front end: procmail's one-pass, left-to-right grammar ([`args`]),
//! where each file is locked when it is reached with the options in force
//! there, and its messages and exit codes. The lock-file machinery (temp
//! file + link, forcing a stale lock, event-driven waiting, signal cleanup)
//! is `crate::lock`'s, shared with `dotlock`.

use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::io::Errno;

use crate::Prog;
use crate::error::Result;
use crate::error::sysexits::{EX_CANTCREAT, EX_NOUSER, EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE};
use crate::lock::cleanup;
use crate::lock::dotfile::{self, AgeLimit, Backoff, FileId, Link, Policy, Temp, TempError};
use crate::lock::noted::Noted;
use crate::lock::wait::Waiter;
use crate::stdio::Stdio;

pub mod args;

use args::{Item, Mailbox, Token};

const USAGE: &str =
    "Usage: lockfile -v | -nnn | -r nnn | -l nnn | -s nnn | -! | -ml | -mu | file ...\n";
const HELP: &str = "\t-v\tdisplay the version number and exit
\t-nnn\twait nnn seconds between locking attempts
\t-r nnn\tmake at most nnn retries before giving up on a lock
\t-l nnn\tset locktimeout to nnn seconds
\t-s nnn\tsuspend nnn seconds after a locktimeout occurred
\t-!\tinvert the exitcode of lockfile
\t-ml\tlock your system mail-spool file
\t-mu\tunlock your system mail-spool file
";

/// Added to `--help` (procmail's `-h` text is kept as it was).
const EXAMPLES: &str = "\
\t--help\tthis help; --version: lockkit's version

Locks are created read-only with the content 0; remove them with rm -f.
Waiters wake as soon as a lock is released.

Examples:
  lockfile -r 3 inbox.lock && { work; rm -f inbox.lock; }
  lockfile -1 -r 10 -l 600 db.lock index.lock
";

/// procmail's defaults.
const SLEEPTIME: i32 = 8;
const RETRIES: i32 = -1;
const SUSPEND: i32 = 16;

/// The signals procmail's lockfile turns into "Signal received" (75).
const GIVE_UP_SIGNALS: &[libc::c_int] = &[libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM];

/// How a run ends early.
#[derive(Debug)]
enum Stop {
    /// Status 64: usage (already printed), `-v`, `-h`.
    Usage,
    /// Status 0: `--help` or `--version` (lockkit's, on stdout; like `-h`
    /// and `-v` they end the run and undo what it did).
    Info,
    /// A lock could not be had: the status.
    Failed(u8),
    /// `-m…` without a passwd entry. procmail cleans up and then reports
    /// success if an earlier file had been locked — success without a lock;
    /// lockkit fails with EX_NOUSER (67) instead. With nothing done before,
    /// it is a usage error, as in procmail.
    NoUser,
}

/// The user's mailbox lock: `/var/mail/<login>.lock`. `$LOGNAME` is used if
/// it names the real uid (as is, or cut at `@` and lower-cased), else the
/// real uid's passwd entry.
fn mailbox_lock() -> Option<PathBuf> {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let by_logname = std::env::var_os("LOGNAME").and_then(|l| {
        let name = l.into_vec();
        let cut: Vec<u8> = name
            .split(|&b| b == b'@')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        [name, cut]
            .into_iter()
            .find_map(|n| passwd_name(Lookup::Name(&n)).filter(|(u, _)| *u == uid))
    });
    let (_, login) = by_logname.or_else(|| passwd_name(Lookup::Uid(uid)))?;
    Some(mailbox_path(&login))
}

/// `/var/mail/<login>.lock`
fn mailbox_path(login: &[u8]) -> PathBuf {
    let mut p = b"/var/mail/".to_vec();
    p.extend_from_slice(login);
    p.extend_from_slice(b".lock");
    PathBuf::from(OsString::from_vec(p))
}

enum Lookup<'a> {
    Name(&'a [u8]),
    Uid(libc::uid_t),
}

/// A passwd entry's uid and login name.
fn passwd_name(how: Lookup<'_>) -> Option<(libc::uid_t, Vec<u8>)> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; the getpw*_r calls fill it with pointers
    // into `buf`, which outlives their use.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = match how {
            Lookup::Name(n) => {
                let c = std::ffi::CString::new(n).ok()?;
                libc::getpwnam_r(
                    c.as_ptr(),
                    &mut pw,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut result,
                )
            }
            Lookup::Uid(u) => {
                libc::getpwuid_r(u, &mut pw, buf.as_mut_ptr(), buf.len(), &mut result)
            }
        };
        if rc != 0 || result.is_null() || pw.pw_name.is_null() {
            return None;
        }
        Some((
            pw.pw_uid,
            std::ffi::CStr::from_ptr(pw.pw_name).to_bytes().to_vec(),
        ))
    }
}

/// procmail's temp name for this run's `serial`th try (see
/// [`temp_name_for`]).
fn temp_name(lock: &Path, serial: usize) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    temp_name_for(lock, std::process::id(), serial, now)
}

/// procmail's temp name: `_` + pid + serial + time (base-64 digits, low
/// bits first) + `.` + host, at most 29 bytes, in the lock's directory —
/// for process `pid` at unix time `now` (the security tests plant links at
/// the names a run will use).
pub fn temp_name_for(lock: &Path, pid: u32, serial: usize, now: u64) -> PathBuf {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    fn b64(mut v: u64, out: &mut Vec<u8>) {
        loop {
            out.push(DIGITS[(v & 63) as usize]);
            v >>= 6;
            if v == 0 {
                break;
            }
        }
    }
    let mut name = b"_".to_vec();
    b64(u64::from(pid), &mut name);
    name.push(b".,+%"[serial % 4]);
    b64(now + (serial / 4) as u64, &mut name);
    name.push(b'.');
    let host = rustix::system::uname();
    for &c in host.nodename().to_bytes() {
        if matches!(c, b'/' | b':' | b'\\') {
            name.extend_from_slice(format!("\\{c:03o}").as_bytes());
        } else {
            name.push(c);
        }
    }
    name.truncate(29);
    dotfile::sibling(lock, &name)
}

/// procmail's schedule: `sleeptime` seconds between attempts, while the
/// run's retries last (negative: forever).
struct Retries<'a> {
    left: &'a mut i32,
    sleeptime: i32,
}

impl Backoff for Retries<'_> {
    fn next_pause(&mut self) -> Option<Duration> {
        if *self.left == 0 {
            return None;
        }
        if *self.left > 0 {
            *self.left -= 1;
        }
        Some(Duration::from_secs(self.sleeptime.max(0) as u64))
    }
}

/// A lock this run made.
struct Made {
    path: PathBuf,
    id: FileId,
    /// Removes it on a fatal signal (if still ours).
    _guard: cleanup::Guard,
    /// An `O_PATH` descriptor on it: while open, its inode number cannot be
    /// reused, so "same device and inode" keeps meaning "our lock".
    _pin: Option<OwnedFd>,
}

impl Made {
    fn new(path: PathBuf, id: FileId, guard: cleanup::Guard) -> Made {
        use rustix::fs::{Mode, OFlags};
        let pin = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .filter(|fd| {
            rustix::fs::fstat(fd).is_ok_and(|st| st.st_dev == id.dev && st.st_ino == id.ino)
        });
        Made {
            path,
            id,
            _guard: guard,
            _pin: pin,
        }
    }

    /// Remove it if it is still ours.
    fn undo(self) {
        let _ = dotfile::remove_if_ours(&self.path, self.id);
    }
}

/// The run's state, as the arguments are processed.
struct Run<'a> {
    io: &'a mut Stdio,
    sleeptime: i32,
    retries: i32,
    locktimeout: i32,
    suspend: i32,
    invert: bool,
    /// Something was attempted (a file, `-ml`, a successful `-mu`).
    worked: bool,
    /// Locks this run made (cleanup removes them only while they are ours).
    made: Vec<Made>,
    signals: Noted,
    /// When procmail would make its next attempt.
    due: Option<Instant>,
}

/// `lockfile: <what>, giving up on "<name>"`
fn giving_up(what: &str, name: &OsStr) -> Vec<u8> {
    let mut m = format!("lockfile: {what}, giving up on \"").into_bytes();
    m.extend_from_slice(name.as_bytes());
    m.extend_from_slice(b"\"\n");
    m
}

fn quoted(prefix: &str, name: &OsStr, suffix: &str) -> Vec<u8> {
    let mut m = format!("lockfile: {prefix} \"").into_bytes();
    m.extend_from_slice(name.as_bytes());
    m.push(b'"');
    m.extend_from_slice(suffix.as_bytes());
    m.push(b'\n');
    m
}

impl Run<'_> {
    fn say(&mut self, bytes: &[u8]) {
        self.io.err(bytes);
    }

    /// Lock one file (procmail's per-file loop), waking early when the lock
    /// is released.
    fn lock(&mut self, name: &OsStr) -> std::result::Result<(), Stop> {
        let mut lock = PathBuf::from(name);
        'name: loop {
            let mut serial = 0;
            let mut contents: &[u8] = b"0";
            let temp = loop {
                match Temp::create(&temp_name(&lock, serial), contents, 0o444) {
                    Ok(t) => break t,
                    Err(TempError::Create(Errno::EXIST)) if serial < 8 => serial += 1,
                    // procmail writes its `0` unchecked: on a full file
                    // system (an inode left, no space) its lock is empty and
                    // the run succeeds. The content means nothing to
                    // lockfile, so an empty lock is a whole one: do the same.
                    Err(TempError::Write(Errno::NOSPC | Errno::DQUOT)) if !contents.is_empty() => {
                        contents = b"";
                    }
                    Err(TempError::Create(e) | TempError::Write(e)) => {
                        self.link_error(&mut lock, e)?;
                        continue 'name;
                    }
                }
            };
            let mut waiter = Waiter::new(&lock);
            let mut watching_signals = false;
            loop {
                // Registered before the link: a fatal signal removes the
                // name only if it is our temp file's inode (the link landed).
                let guard = cleanup::Guard::new(&lock, temp.id());
                let errno = match temp.link_to(&lock) {
                    Ok(Link::Acquired) => {
                        self.made.push(Made::new(lock, temp.id(), guard));
                        return Ok(());
                    }
                    Ok(Link::Held(e)) => e.unwrap_or(Errno::EXIST),
                    Ok(Link::NoLock(e, stat)) => e.unwrap_or(stat),
                    Err(e) => e,
                };
                if !self.signals.take().is_empty() {
                    self.say(&giving_up("Signal received", lock.as_os_str()));
                    return Err(Stop::Failed(EX_TEMPFAIL));
                }
                if errno == Errno::XDEV {
                    // No hard links across this boundary: an O_EXCL create,
                    // as procmail falls back to (an empty lock).
                    match exclusive_create(&lock) {
                        Ok(id) => {
                            let guard = cleanup::Guard::new(&lock, id);
                            self.made.push(Made::new(lock, id, guard));
                            return Ok(());
                        }
                        Err(Errno::EXIST) => {}
                        Err(e) => {
                            self.link_error(&mut lock, e)?;
                            continue 'name;
                        }
                    }
                } else if errno != Errno::EXIST {
                    self.link_error(&mut lock, errno)?;
                    continue 'name;
                }
                // Held. Force it if it is older than the locktimeout.
                let mut expiry = None;
                if self.locktimeout != 0 {
                    let policy = Policy {
                        use_pid: false,
                        age: AgeLimit::OverSeconds(i64::from(self.locktimeout)),
                        follow_symlinks: false,
                    };
                    let now = temp.fs_now();
                    let j = dotfile::judge(&lock, policy, now);
                    // Force only a lock found too old. One that vanished
                    // since the link failed (between judge's looks, too) is
                    // also "stale", but with no expiry: there is nothing to
                    // force (procmail forces only what its lstat finds), so
                    // do not say "Forcing lock" and sleep the suspend time;
                    // the waiter below sees the removal and retries at once.
                    // (Found by stress::lockfile: 2 in 10 000 `-l` cycles.)
                    if j.stale && j.expires.is_some() {
                        let forced = dotfile::break_stale(&lock, &j, policy, now);
                        let denied = forced.is_err();
                        let text = if denied {
                            "Forced unlock denied on"
                        } else {
                            "Forcing lock on"
                        };
                        self.say(&quoted(text, lock.as_os_str(), ""));
                        if denied {
                            // procmail loops here forever; a refused force
                            // spends a retry like any failed attempt.
                            self.spend_retry(&lock)?;
                        }
                        self.signals
                            .sleep(Duration::from_secs(self.suspend.max(0) as u64));
                        continue;
                    }
                    expiry = j.expires.map(|t| temp.local_instant(t));
                }
                // The reference's next attempt: a moment shared by all files
                // (an early wake-up does not move the schedule, so a run
                // gives up when procmail's would).
                let due_at = match self.due {
                    Some(t) if t > Instant::now() => t,
                    _ => {
                        let mut schedule = Retries {
                            left: &mut self.retries,
                            sleeptime: self.sleeptime,
                        };
                        match dotfile::next_due(&mut schedule, waiter.events_reliable()) {
                            Some(t) => {
                                self.due = Some(t);
                                t
                            }
                            None => {
                                self.say(&giving_up("Sorry", lock.as_os_str()));
                                return Err(Stop::Failed(EX_CANTCREAT));
                            }
                        }
                    }
                };
                let until = expiry.map_or(due_at, |e| e.min(due_at));
                // The signal pipe only now: a free lock needs no descriptor
                // beyond the temp file's (procmail works under `ulimit -n 5`).
                if !std::mem::replace(&mut watching_signals, true) {
                    if let Some(fd) = self.signals.wake_fd_owned() {
                        waiter.watch_fd(fd);
                    }
                }
                waiter.wait(until);
            }
        }
    }

    /// A failed attempt outside the schedule (a refused force): give up if
    /// no retries are left, else use one.
    fn spend_retry(&mut self, lock: &Path) -> std::result::Result<(), Stop> {
        let mut schedule = Retries {
            left: &mut self.retries,
            sleeptime: self.sleeptime,
        };
        if schedule.next_pause().is_none() {
            self.say(&giving_up("Sorry", lock.as_os_str()));
            return Err(Stop::Failed(EX_CANTCREAT));
        }
        Ok(())
    }

    /// An attempt failed with something other than "held": too long a name
    /// is shortened to be retried (Ok); anything else ends the run.
    fn link_error(&mut self, lock: &mut PathBuf, e: Errno) -> std::result::Result<(), Stop> {
        if e == Errno::NAMETOOLONG {
            let bytes = lock.as_os_str().as_bytes();
            if bytes.len() >= 2 && bytes[bytes.len() - 2] != b'/' {
                self.say(&quoted(
                    "Truncating",
                    lock.as_os_str(),
                    " and retrying lock",
                ));
                let shorter = bytes[..bytes.len() - 1].to_vec();
                *lock = PathBuf::from(OsString::from_vec(shorter));
                return Ok(());
            }
            self.say(&giving_up("Filename too long", lock.as_os_str()));
            return Err(Stop::Failed(EX_UNAVAILABLE));
        }
        self.say(&giving_up("Try praying", lock.as_os_str()));
        Err(Stop::Failed(EX_UNAVAILABLE))
    }
}

/// `open(O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0444)`: the fallback lock.
fn exclusive_create(lock: &Path) -> std::result::Result<FileId, Errno> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        lock,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_bits_truncate(0o444),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    Ok(FileId {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// Run the normal pass: act on each item as it is reached (files are
/// locked then, with the options read so far). On failure, the index of the
/// argument where the run stopped.
fn scan(run: &mut Run<'_>, args: &[OsString]) -> std::result::Result<(), (usize, Stop)> {
    for Token { at, item } in args::tokens(args) {
        run.step(item).map_err(|e| (at, e))?;
    }
    Ok(())
}

/// The cleanup pass over the arguments before the failing one: undo their
/// locks and recount `-!`. Only a usage error is acted on as in the normal
/// pass (procmail prints it again); `-v`, `-h`, `--help` and `--version`
/// are passed over.
fn rescan(run: &mut Run<'_>, args: &[OsString]) {
    for Token { item, .. } in args::tokens(args) {
        match item {
            Item::Lock(name) => run.undo_file(Path::new(name)),
            Item::Mailbox(which) => run.undo_mailbox(which),
            Item::Invert => run.invert = !run.invert,
            Item::Usage => {
                run.say(USAGE.as_bytes());
                return;
            }
            Item::Sleep(_)
            | Item::Retries(_)
            | Item::LockTimeout(_)
            | Item::Suspend(_)
            | Item::Help
            | Item::Version
            | Item::LongHelp
            | Item::LongVersion => {}
        }
    }
}

fn version_text() -> String {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let mailbox = passwd_name(Lookup::Uid(uid))
        .map(|(_, login)| mailbox_path(&login))
        .map(|p| format!("\nYour system mailbox's lockfile:\t{}\n", p.display()))
        .unwrap_or_default();
    format!(
        "lockfile (lockkit {}), compatible with procmail's lockfile v3.23pre\n{mailbox}",
        env!("CARGO_PKG_VERSION")
    )
}

impl Run<'_> {
    /// The normal pass: act on one item.
    fn step(&mut self, item: Item<'_>) -> std::result::Result<(), Stop> {
        match item {
            Item::Lock(name) => {
                self.worked = true;
                self.lock(name)
            }
            Item::Invert => {
                self.invert = !self.invert;
                Ok(())
            }
            Item::Sleep(v) => {
                self.sleeptime = v;
                Ok(())
            }
            Item::Retries(v) => {
                self.retries = v;
                Ok(())
            }
            Item::LockTimeout(v) => {
                self.locktimeout = v;
                Ok(())
            }
            Item::Suspend(v) => {
                self.suspend = v;
                Ok(())
            }
            Item::Mailbox(which) => self.mailbox(which),
            Item::Version => {
                self.say(version_text().as_bytes());
                Err(Stop::Usage)
            }
            Item::Help => {
                self.say(USAGE.as_bytes());
                self.say(HELP.as_bytes());
                Err(Stop::Usage)
            }
            Item::LongHelp => {
                self.io.out(format!("{USAGE}{HELP}{EXAMPLES}").as_bytes());
                Err(Stop::Info)
            }
            Item::LongVersion => {
                self.io.out(version_text().as_bytes());
                Err(Stop::Info)
            }
            Item::Usage => {
                self.say(USAGE.as_bytes());
                Err(Stop::Usage)
            }
        }
    }

    /// Cleanup: remove a file's lock if (and only if) it is still the one
    /// this run made.
    fn undo_file(&mut self, path: &Path) {
        if let Some(pos) = self.made.iter().position(|m| m.path == path) {
            self.made.remove(pos).undo();
        }
    }

    /// Cleanup of `-ml` (our mailbox lock goes like the others, only if
    /// ours) and `-mu` (procmail repeats the unlock, complaining if it
    /// fails).
    fn undo_mailbox(&mut self, which: Mailbox) {
        let Some(p) = mailbox_lock() else { return };
        match which {
            Mailbox::Lock => self.undo_file(&p),
            Mailbox::Unlock => {
                if rustix::fs::unlink(&p).is_err() {
                    self.say(&quoted("Can't unlock", p.as_os_str(), ""));
                }
            }
        }
    }

    fn mailbox(&mut self, which: Mailbox) -> std::result::Result<(), Stop> {
        let Some(path) = mailbox_lock() else {
            self.say(b"lockfile: Can't determine your mailbox, who are you?\n");
            return Err(Stop::NoUser);
        };
        match which {
            Mailbox::Lock => {
                self.worked = true;
                self.lock(path.as_os_str())
            }
            Mailbox::Unlock => {
                if rustix::fs::unlink(&path).is_ok() {
                    self.worked = true;
                } else {
                    self.say(&quoted("Can't unlock", path.as_os_str(), ""));
                }
                Ok(())
            }
        }
    }
}

pub fn run(prog: &Prog, args: &[OsString], io: &mut Stdio) -> Result<u8> {
    if args.is_empty() {
        io.err(USAGE.as_bytes());
        return Ok(EX_USAGE);
    }
    cleanup::on_fatal_signals();
    // HUP, INT, QUIT and TERM end a wait with "Signal received"; the other
    // fatal signals keep the cleanup handler. SIGPIPE is ignored, as procmail
    // does.
    let signals = Noted::install(GIVE_UP_SIGNALS);
    // SAFETY: setting a disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let _ = prog; // procmail names itself "lockfile" whatever it is called
    let mut run = Run {
        io,
        sleeptime: SLEEPTIME,
        retries: RETRIES,
        locktimeout: 0,
        suspend: SUSPEND,
        invert: false,
        worked: false,
        made: Vec::new(),
        signals,
        due: None,
    };
    let outcome = scan(&mut run, args);
    let code = match outcome {
        Ok(()) if !run.worked => {
            // Nothing was attempted, so there is nothing to undo.
            run.say(USAGE.as_bytes());
            EX_USAGE
        }
        Ok(()) => {
            // The locks stay; forget them for the signal cleanup.
            run.made.clear();
            if run.invert { EX_CANTCREAT } else { 0 }
        }
        Err((at, Stop::NoUser)) => {
            let code = if run.worked {
                EX_NOUSER
            } else {
                run.say(USAGE.as_bytes());
                EX_USAGE
            };
            failure_cleanup(&mut run, args, at, code);
            code
        }
        Err((at, stop)) => {
            let code = match stop {
                Stop::Usage | Stop::NoUser => EX_USAGE,
                Stop::Failed(c) => c,
                Stop::Info => {
                    failure_cleanup(&mut run, args, at, 0);
                    cleanup::default_fatal_signals();
                    return Ok(0);
                }
            };
            failure_cleanup(&mut run, args, at, code)
        }
    };
    cleanup::default_fatal_signals();
    Ok(code)
}

/// procmail's second pass over the arguments before the failing one: remove
/// the locks made, recount `-!`, undo the mailbox.
fn failure_cleanup(run: &mut Run<'_>, args: &[OsString], at: usize, code: u8) -> u8 {
    run.invert = false;
    rescan(run, &args[..at]);
    // Anything left (e.g. made by the failing argument itself) goes too.
    for made in std::mem::take(&mut run.made) {
        made.undo();
    }
    match (code, run.invert) {
        (EX_CANTCREAT, true) => 0,
        (0, true) => EX_CANTCREAT,
        (c, _) => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_short_and_local() {
        let t = temp_name(Path::new("/var/mail/x.lock"), 0);
        let name = t.file_name().unwrap_or_default().as_bytes();
        assert!(name.starts_with(b"_") && name.len() <= 29, "{t:?}");
        assert!(t.starts_with("/var/mail"));
    }
}
