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
use std::time::Duration;

use rustix::io::Errno;

use crate::Prog;
use crate::error::Result;
use crate::error::sysexits::{EX_CANTCREAT, EX_NOUSER, EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE};
use crate::lock::cleanup;
use crate::lock::dotfile::{
    self, AgeLimit, Backoff, Failure, Held, LinkErrors, Naming, Policy, Report, Request, Schedule,
    Stale, Temp, TempError,
};
use crate::lock::fs::FileId;
use crate::lock::noted::Noted;
use crate::lock::user;
use crate::stdio::Stdio;

pub mod args;

use args::{Item, Mailbox, Token};

use args::{EXAMPLES, HELP, USAGE};

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
    let uid = user::real_uid();
    let by_logname = std::env::var_os("LOGNAME").and_then(|l| {
        let name = l.into_vec();
        let cut: Vec<u8> = name
            .split(|&b| b == b'@')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        [name, cut]
            .into_iter()
            .find_map(|n| user::by_name(&n).filter(|a| a.uid == uid))
    });
    let login = by_logname.or_else(|| user::by_uid(uid))?.name;
    Some(mailbox_path(&login))
}

/// `/var/mail/<login>.lock`
fn mailbox_path(login: &[u8]) -> PathBuf {
    let mut p = b"/var/mail/".to_vec();
    p.extend_from_slice(login);
    p.extend_from_slice(b".lock");
    PathBuf::from(OsString::from_vec(p))
}

/// procmail's temp name (the security tests plant links at the names a
/// run will use).
pub use crate::lock::dotfile::procmail_temp_name_for as temp_name_for;

/// procmail's schedule: `sleeptime` seconds between attempts, while the
/// run's retries last (negative: forever). One for the whole run: each
/// file's wait spends from the same retries.
struct Retries {
    left: i32,
    sleeptime: i32,
}

impl Backoff for Retries {
    fn next_pause(&mut self) -> Option<Duration> {
        if self.left == 0 {
            return None;
        }
        if self.left > 0 {
            self.left -= 1;
        }
        Some(Duration::from_secs(self.sleeptime.max(0) as u64))
    }
}

/// A lock this run made.
struct Made {
    held: Held,
    /// An `O_PATH` descriptor on it: while open, its inode number cannot be
    /// reused, so "same device and inode" keeps meaning "our lock". Taken
    /// when the run goes on to its next lock: only a run that can still
    /// fail needs it (its cleanup removes the locks still ours).
    pin: Option<OwnedFd>,
}

impl Made {
    fn new(held: Held) -> Made {
        Made { held, pin: None }
    }

    fn pin(&mut self) {
        use rustix::fs::{Mode, OFlags};
        if self.pin.is_some() {
            return;
        }
        let id = self.held.id();
        self.pin = rustix::fs::open(
            self.held.path(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .filter(|fd| rustix::fs::fstat(fd).is_ok_and(|st| FileId::of(&st) == id));
    }

    fn path(&self) -> &Path {
        self.held.path()
    }

    /// Remove it if it is still ours.
    fn undo(self) {
        let _ = dotfile::remove_if_ours(self.held.path(), self.held.id());
    }
}

/// The run's state, as the arguments are processed.
struct Run<'a> {
    io: &'a mut Stdio,
    locktimeout: i32,
    suspend: i32,
    invert: bool,
    /// The run's retries and the moment of procmail's next attempt.
    schedule: Schedule<Retries>,
    /// Something was attempted (a file, `-ml`, a successful `-mu`).
    worked: bool,
    /// Locks this run made (cleanup removes them only while they are ours).
    made: Vec<Made>,
    signals: Noted,
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
        for made in self.made.iter_mut().rev().take_while(|m| m.pin.is_none()) {
            made.pin();
        }
        let mut lock = PathBuf::from(name);
        loop {
            let mut temp = match Temp::make(Naming::Procmail, &lock, b"0", 0o444) {
                Ok(t) => t,
                Err(TempError::Create(e) | TempError::Write(e)) => {
                    self.link_error(&mut lock, e)?;
                    continue;
                }
            };
            let forcing = self.locktimeout != 0;
            let request = Request {
                lock: &lock,
                policy: Policy {
                    use_pid: false,
                    age: forcing.then_some(AgeLimit::OverSeconds(i64::from(self.locktimeout))),
                    follow_symlinks: false,
                },
                stale: Stale::Force {
                    suspend: Duration::from_secs(self.suspend.max(0) as u64),
                },
                link_errors: LinkErrors::Fatal,
                parent: None,
                interrupt: Some(&self.signals),
                guard_lock: true,
            };
            let mut report = Says { io: &mut *self.io };
            let result = dotfile::acquire(&request, &mut temp, &mut self.schedule, &mut report);
            drop(temp);
            match result {
                Ok(held) => {
                    self.made.push(Made::new(held));
                    return Ok(());
                }
                Err(Failure::Interrupted) => {
                    self.say(&giving_up("Signal received", lock.as_os_str()));
                    return Err(Stop::Failed(EX_TEMPFAIL));
                }
                Err(Failure::GaveUp) => {
                    self.say(&giving_up("Sorry", lock.as_os_str()));
                    return Err(Stop::Failed(EX_CANTCREAT));
                }
                Err(Failure::Link(e) | Failure::TempLost(e) | Failure::CannotBreak(e)) => {
                    self.link_error(&mut lock, e)?;
                }
                Err(Failure::ParentDied) => {
                    self.link_error(&mut lock, Errno::SRCH)?;
                }
            }
        }
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

/// Says what procmail says while it waits.
struct Says<'a> {
    io: &'a mut Stdio,
}

impl Report for Says<'_> {
    fn forced(&mut self, lock: &Path, result: std::result::Result<(), Errno>) {
        let text = if result.is_ok() {
            "Forcing lock on"
        } else {
            "Forced unlock denied on"
        };
        self.io.err(&quoted(text, lock.as_os_str(), ""));
    }
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
    let mailbox = user::by_uid(user::real_uid())
        .map(|a| mailbox_path(&a.name))
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
                self.schedule.backoff_mut().sleeptime = v;
                Ok(())
            }
            Item::Retries(v) => {
                self.schedule.backoff_mut().left = v;
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
        if let Some(pos) = self.made.iter().position(|m| m.path() == path) {
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
    cleanup::ignore(libc::SIGPIPE);
    let _ = prog; // procmail names itself "lockfile" whatever it is called
    let mut run = Run {
        io,
        locktimeout: 0,
        suspend: SUSPEND,
        invert: false,
        worked: false,
        made: Vec::new(),
        signals,
        schedule: Schedule::new(Retries {
            left: RETRIES,
            sleeptime: SLEEPTIME,
        }),
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
                    return Ok(0);
                }
            };
            failure_cleanup(&mut run, args, at, code)
        }
    };
    // The cleanup handlers stay: with nothing registered any more they act
    // as the default action would.
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
