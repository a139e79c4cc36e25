//! The supervisor: runs the command while a [`Held`] lock is kept, in one
//! poll loop over
//!
//! * the command's pidfd (its end),
//! * the self-pipe of [`Noted`] signals (those the tool passes on or
//!   survives, and SIGCHLD when the tool waits for every process of the
//!   command),
//! * the held lock's renewal timer ([`Held::renew_every`]),
//! * the held lock's "lost" descriptor ([`Held::lost`]), after which
//!   [`Held::check_lost`] says whether the lock was lost (an inotify
//!   watch wakes on harmless changes too), or a timed look where the kind
//!   can only look ([`Held::check_lost_every`]).
//!
//! A tool says what it wants with a [`Plan`]. flock's plan is empty
//! (unless `--watchdog` or `--forward-signals`): no handler is installed,
//! nothing is passed on, and the supervisor is a plain `waitpid`, exactly
//! util-linux's. dotlock passes stop signals on and, once told to stop (or
//! the lock lost), keeps its lock until every process of the command has
//! ended: the supervisor is a child subreaper, so processes the command
//! leaves behind are reparented to it, get the stop signal too and are
//! waited for.
//!
//! When the kernel refuses a pidfd (ENOSYS before 5.3 or under a seccomp
//! filter, EPERM in some containers, EMFILE), SIGCHLD on the self-pipe still
//! says when the command ends; without either, the supervisor looks at the
//! command every 10 ms, backing off to 1 s. It never spins, and never stops
//! watching.

use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions, WaitStatus};

use super::child::{Child, Command, SpawnError, Status};
use super::cleanup;
use super::kind::{Held, Loss};
use super::noted::Noted;

/// What a tool wants from the supervisor.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// Signals that stop the command: passed on to it (and, with
    /// `outlive_every_process`, to every process it leaves behind); the
    /// tool then dies of the same signal once the lock is released.
    pub forward: &'a [libc::c_int],
    /// Signals noted and otherwise ignored while the command runs.
    pub survive: &'a [libc::c_int],
    /// Once the command is told to stop (a forwarded signal, or the lock
    /// lost), wait for every process of the command — those it left behind
    /// included — before returning, so the lock outlives them all.
    pub outlive_every_process: bool,
    /// After the lock is lost: SIGTERM to the command, then SIGKILL after
    /// this long.
    pub grace: Duration,
}

impl Plan<'_> {
    /// util-linux flock's: no handler, nothing passed on, a plain wait.
    pub const PLAIN: Plan<'static> = Plan {
        forward: &[],
        survive: &[],
        outlive_every_process: false,
        grace: Duration::from_secs(10),
    };
}

/// The stop signals a command is sent on (`flock --forward-signals`,
/// `lockkit cluster`): the ones a user or a service manager sends to end
/// or poke a job, passed on so that the command ends (or reacts) as its
/// tool was asked to.
pub const STOP_SIGNALS: &[libc::c_int] = &[
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// How the supervised command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The command's status (an error if it could not be waited for).
    pub status: Result<Status, Errno>,
    /// The last stop signal passed on, if any.
    pub stopped_by: Option<libc::c_int>,
    /// The lock was lost while the command ran (it was then stopped).
    pub lost: Option<Loss>,
}

/// The supervisor, prepared before the command starts (so that a signal
/// that comes while it starts is noted, not missed).
#[derive(Debug)]
pub struct Supervisor<'a> {
    plan: Plan<'a>,
    noted: Option<Noted>,
    subreaper: bool,
    on_loss: Option<Report<'a>>,
}

/// What the tool says the moment the lock is lost.
struct Report<'a>(&'a dyn Fn(Loss));

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Report")
    }
}

/// Where no event can say that the command ended: the first pause before
/// looking again, doubling up to the longest.
const LOOK_FIRST: Duration = Duration::from_millis(10);
const LOOK_AT_MOST: Duration = Duration::from_secs(1);

impl<'a> Supervisor<'a> {
    /// Install what `plan` needs: handlers noting its signals, and the
    /// child-subreaper role with SIGCHLD noted if every process of the
    /// command is to be outlived. Nothing at all for [`Plan::PLAIN`].
    pub fn prepare(plan: Plan<'a>) -> Supervisor<'a> {
        let mut signals: Vec<libc::c_int> =
            plan.forward.iter().chain(plan.survive).copied().collect();
        let mut subreaper = false;
        if plan.outlive_every_process {
            // Inherited "ignore" would have the kernel reap our children
            // itself (and waitpid fail): take the default, as before any
            // spawn.
            if super::noted::is_ignored(libc::SIGCHLD) {
                // SAFETY: SIG_DFL is a valid disposition for SIGCHLD.
                unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
            }
            signals.push(libc::SIGCHLD);
            // Without it (kernels before 3.4) a process the command leaves
            // behind goes to init and cannot be waited for: only the
            // command is, as before.
            subreaper =
                rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok();
        }
        let noted = (!signals.is_empty()).then(|| Noted::install(&signals));
        Supervisor {
            plan,
            noted,
            subreaper,
            on_loss: None,
        }
    }

    /// Call `report` the moment the lock is found lost, before the command
    /// is told to stop (the tool's message).
    pub fn on_loss(mut self, report: &'a dyn Fn(Loss)) -> Self {
        self.on_loss = Some(Report(report));
        self
    }

    /// The signals with a handler of ours, which the command must start
    /// with at their default action (an inherited "ignore" has no handler,
    /// and stays ignored).
    pub fn handled(&self) -> Vec<libc::c_int> {
        let mut all = cleanup::installed();
        if let Some(n) = &self.noted {
            all.extend(n.signals());
        }
        all
    }

    /// Start `cmd` and supervise it while `held` is kept, until it has
    /// ended (and, if it was told to stop and the plan says so, every
    /// process it left behind too). The lock is not released here: the
    /// tool does that, and reports as its reference does.
    pub fn run<H: Held + ?Sized>(
        &self,
        cmd: &Command,
        held: &mut H,
    ) -> Result<Outcome, SpawnError> {
        // A lock-file wait parks its inotify descriptor for a cheap close at
        // exit; the command may run for hours, so let it go now.
        super::wait::close_parked();
        let child = cmd.spawn()?;
        let Some(pid) = child.pid() else {
            // It could not be executed: nothing to wait for.
            return Ok(Outcome {
                status: child.try_wait().map(|s| s.unwrap_or(Status::Exited(127))),
                stopped_by: None,
                lost: None,
            });
        };
        if self.noted.is_none()
            && held.renew_every().is_none()
            && held.lost().is_none()
            && held.check_lost_every().is_none()
        {
            // Nothing to watch but the command: block in waitpid, as
            // util-linux flock does.
            return Ok(Outcome {
                status: child.wait(),
                stopped_by: None,
                lost: None,
            });
        }
        Ok(self.watch(&child, pid, held))
    }

    fn watch<H: Held + ?Sized>(&self, child: &Child, pid: Pid, held: &mut H) -> Outcome {
        let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty()).ok();
        let sigchld_noted = self
            .noted
            .as_ref()
            .is_some_and(|n| n.wake_fd().is_some() && n.signals().contains(&libc::SIGCHLD));
        let mut run = Run {
            pid,
            status: None,
            stop: None,
            lost: None,
            kill_at: None,
            passing: None,
            passed: Vec::new(),
            all_gone: false,
        };
        let renew_every = held.renew_every();
        let mut next_renew = renew_every.map(|d| Instant::now() + d);
        let mut look = LOOK_FIRST;
        loop {
            if let Some(noted) = &self.noted {
                for sig in noted.take() {
                    if self.plan.forward.contains(&sig) {
                        run.stop = Some(sig);
                        self.pass_on(&mut run, sig);
                    }
                }
            }
            if run.lost.is_none()
                && run.status.is_none()
                && let Some(loss) = held.check_lost()
            {
                run.lost = Some(loss);
                if let Some(Report(report)) = &self.on_loss {
                    report(loss);
                }
                run.kill_at = Some(Instant::now() + self.plan.grace);
                self.pass_on(&mut run, libc::SIGTERM);
            }
            if run.kill_at.is_some_and(|at| Instant::now() >= at) {
                run.kill_at = None;
                self.pass_on(&mut run, libc::SIGKILL);
            }
            if let Err(e) = self.reap(child, &mut run) {
                return run.outcome(Err(e));
            }
            if let Some(sig) = run.passing {
                // Processes the command left behind, reparented to us since.
                self.pass_on_to_new(&mut run, sig);
            }
            let stopping = run.stop.is_some() || run.lost.is_some();
            if let Some(status) = run.status
                && (!stopping || !self.subreaper || run.all_gone)
            {
                return run.outcome(Ok(status));
            }
            let now = Instant::now();
            if let (Some(at), Some(every)) = (next_renew, renew_every)
                && now >= at
            {
                // A failed renewal is not a loss (see `Held`).
                let _ = held.renew();
                next_renew = Some(Instant::now() + every);
            }

            // Wait for the next thing to happen.
            let waiting_for_others = run.status.is_some();
            let ending_seen = sigchld_noted || (pidfd.is_some() && !waiting_for_others);
            let watching = run.lost.is_none() && run.status.is_none();
            let next_look = held
                .check_lost_every()
                .filter(|_| watching)
                .map(|every| now + every);
            let mut until = [next_renew, run.kill_at, next_look]
                .into_iter()
                .flatten()
                .min();
            if !ending_seen {
                until = Some(until.map_or(now + look, |u| u.min(now + look)));
                look = (look * 2).min(LOOK_AT_MOST);
            }
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(3);
            if let Some(w) = self.noted.as_ref().and_then(|n| n.wake_fd()) {
                fds.push(PollFd::from_borrowed_fd(w, PollFlags::IN));
            }
            if let (Some(p), false) = (&pidfd, waiting_for_others) {
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            if let (Some(l), true) = (held.lost(), watching) {
                fds.push(PollFd::from_borrowed_fd(l, PollFlags::IN));
            }
            let timeout = until.map(|u| timespec(u.saturating_duration_since(Instant::now())));
            if let Err(e) = rustix::event::poll(&mut fds, timeout.as_ref())
                && e != Errno::INTR
            {
                // Should not happen; never spin on it.
                std::thread::sleep(look);
            }
        }
    }

    /// Pass `sig` to the command (while it runs) and, as subreaper, to
    /// every process reparented to us; later arrivals get it as they come.
    fn pass_on(&self, run: &mut Run, sig: libc::c_int) {
        run.passing = Some(sig);
        run.passed.clear();
        if run.status.is_none() {
            send(run.pid, sig);
            run.passed.push(run.pid);
        }
        self.pass_on_to_new(run, sig);
    }

    fn pass_on_to_new(&self, run: &mut Run, sig: libc::c_int) {
        if !self.subreaper {
            return;
        }
        // Our children cannot be reused pids: they stay ours (as zombies at
        // worst) until we reap them, and only this thread does.
        for p in children_of(rustix::process::getpid()) {
            if !run.passed.contains(&p) {
                send(p, sig);
                run.passed.push(p);
            }
        }
    }

    /// Collect the command's status and, as subreaper, every other child
    /// that ended (no zombies pile up under a long-running command).
    fn reap(&self, child: &Child, run: &mut Run) -> Result<(), Errno> {
        if !self.subreaper {
            if run.status.is_none() {
                run.status = child.try_wait()?;
            }
            run.all_gone = run.status.is_some();
            return Ok(());
        }
        loop {
            // wait(2), i.e. waitpid(-1): any child, whatever its process
            // group (`waitpid(None)` would be only those in ours).
            match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some((p, ws))) => {
                    if p == run.pid {
                        run.status = status_of(ws);
                    }
                    run.passed.retain(|&q| q != p);
                }
                Ok(None) => {
                    run.all_gone = false;
                    return Ok(());
                }
                Err(Errno::CHILD) => {
                    run.all_gone = true;
                    return match run.status {
                        Some(_) => Ok(()),
                        // Reaped by someone else: nothing will say how it
                        // ended.
                        None => Err(Errno::CHILD),
                    };
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// A stop signal that came after the command ended, and so was never
    /// passed on (in signal storms, one that came while the lock was being
    /// removed). From here those signals meet their default action; one
    /// that was noted before is returned, for the tool to die of.
    pub fn late_stop(&self) -> Option<libc::c_int> {
        let noted = self.noted.as_ref()?;
        for sig in noted.signals() {
            if self.plan.forward.contains(&sig) {
                // SAFETY: restoring a default disposition.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
            }
        }
        noted
            .take()
            .into_iter()
            .find(|s| self.plan.forward.contains(s))
    }
}

/// State of one supervised run.
struct Run {
    pid: Pid,
    status: Option<Status>,
    stop: Option<libc::c_int>,
    lost: Option<Loss>,
    kill_at: Option<Instant>,
    /// The signal every process of the command is to get, and those that
    /// got it.
    passing: Option<libc::c_int>,
    passed: Vec<Pid>,
    /// No child of ours is left.
    all_gone: bool,
}

impl Run {
    fn outcome(&self, status: Result<Status, Errno>) -> Outcome {
        Outcome {
            status,
            stopped_by: self.stop,
            lost: self.lost,
        }
    }
}

fn status_of(ws: WaitStatus) -> Option<Status> {
    if let Some(code) = ws.exit_status() {
        return Some(Status::Exited(code as u8));
    }
    ws.terminating_signal().map(Status::Signaled)
}

fn timespec(d: Duration) -> rustix::time::Timespec {
    rustix::time::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

/// kill(2); a process already gone (or a zombie) is fine.
fn send(pid: Pid, sig: libc::c_int) {
    if let Some(sig) = Signal::from_named_raw(sig) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// The processes whose parent is `parent`, from /proc (where the kernel
/// keeps no list of them, `/proc/PID/task/TID/children` needs
/// CONFIG_PROC_CHILDREN; every /proc has the stat files).
fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let pid: i32 = name.to_str()?.parse().ok()?;
            let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
            (ppid_in_stat(&stat)? == parent.as_raw_nonzero().get()).then(|| Pid::from_raw(pid))?
        })
        .collect()
}

/// The parent pid in a `/proc/PID/stat` line: the second field after the
/// command name, which is in parentheses and may itself hold `)` or spaces.
fn ppid_in_stat(stat: &[u8]) -> Option<i32> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Die of `sig` as if it had never been handled: default action, unblocked,
/// raised. (A signal the process cannot die of ends it with 128 + sig.)
pub fn die_of(sig: libc::c_int) -> ! {
    cleanup::default_fatal_signals();
    // SAFETY: plain signal calls on a zero-initialised set.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    std::process::exit(128 + sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

    fn lost_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
    }

    #[test]
    fn ppid_is_read_past_a_hostile_command_name() {
        assert_eq!(ppid_in_stat(b"42 (sh) S 7 42 42 0 -1"), Some(7));
        assert_eq!(ppid_in_stat(b"42 (a) b) 9 (c) R 13 42"), Some(13));
        assert_eq!(ppid_in_stat(b"42 (x y) S 1 0"), Some(1));
        assert_eq!(ppid_in_stat(b"garbage"), None);
    }

    /// A held lock whose loss the test triggers.
    struct Losable {
        lost: OwnedFd,
        renewed: u32,
        every: Option<Duration>,
    }

    impl Held for Losable {
        fn release(self) -> Result<(), Errno> {
            Ok(())
        }
        fn renew_every(&self) -> Option<Duration> {
            self.every
        }
        fn renew(&mut self) -> Result<(), Errno> {
            self.renewed += 1;
            Ok(())
        }
        fn lost(&self) -> Option<BorrowedFd<'_>> {
            Some(self.lost.as_fd())
        }
    }

    fn sh(script: &str) -> Command {
        let argv: Vec<OsString> = ["/bin/sh", "-c", script]
            .iter()
            .map(OsString::from)
            .collect();
        Command::new(&argv)
    }

    #[test]
    fn a_plain_run_is_the_commands_status() {
        let sup = Supervisor::prepare(Plan::PLAIN);
        let mut held = crate::lock::kind::HeldFdNumber::new(0, crate::lock::fdlock::Api::Flock);
        let out = sup.run(&sh("exit 3"), &mut held).expect("spawn");
        assert_eq!(out.status, Ok(Status::Exited(3)));
        assert_eq!((out.stopped_by, out.lost), (None, None));
    }

    #[test]
    fn a_lost_lock_stops_the_command_with_term() {
        let (rd, wr) = lost_pipe().expect("pipe");
        let mut held = Losable {
            lost: rd,
            renewed: 0,
            every: None,
        };
        let sup = Supervisor::prepare(Plan::PLAIN);
        // The loss is already signalled: the command is stopped at once.
        drop(wr);
        let out = sup.run(&sh("exec sleep 1000"), &mut held).expect("spawn");
        assert_eq!(out.status, Ok(Status::Signaled(libc::SIGTERM)));
        assert_eq!(out.lost, Some(Loss::TakenAway));
    }

    #[test]
    fn a_command_deaf_to_term_is_killed_after_the_grace_period() {
        // The loss is reported by the command itself, once it ignores TERM:
        // through a FIFO that is the held lock's "lost" descriptor.
        let dir = std::env::temp_dir().join(format!("lockkit-sup-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let fifo = dir.join("lost");
        let _ = std::fs::remove_file(&fifo);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let rd = rustix::fs::open(
            &fifo,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("open fifo");
        let mut held = Losable {
            lost: rd,
            renewed: 0,
            every: Some(Duration::from_millis(1)),
        };
        let plan = Plan {
            grace: Duration::from_millis(50),
            ..Plan::PLAIN
        };
        let sup = Supervisor::prepare(plan);
        let script = format!(
            "trap '' TERM; echo lost > '{}'; while :; do sleep 1; done",
            fifo.display()
        );
        let out = sup.run(&sh(&script), &mut held).expect("spawn");
        assert_eq!(out.status, Ok(Status::Signaled(libc::SIGKILL)));
        assert_eq!(out.lost, Some(Loss::TakenAway));
        // It was renewed on its schedule until then.
        assert!(held.renewed > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A held lock that can only look: lost at its third look.
    struct Looking {
        looks: u32,
    }

    impl Held for Looking {
        fn release(self) -> Result<(), Errno> {
            Ok(())
        }
        fn check_lost(&mut self) -> Option<Loss> {
            self.looks += 1;
            (self.looks >= 3).then_some(Loss::Removed)
        }
        fn check_lost_every(&self) -> Option<Duration> {
            Some(Duration::from_millis(1))
        }
    }

    #[test]
    fn a_lock_that_can_only_look_is_looked_at_on_its_schedule() {
        let mut held = Looking { looks: 0 };
        let reported = std::cell::Cell::new(None);
        let report = |loss| reported.set(Some(loss));
        let sup = Supervisor::prepare(Plan::PLAIN).on_loss(&report);
        let out = sup.run(&sh("exec sleep 1000"), &mut held).expect("spawn");
        assert_eq!(out.status, Ok(Status::Signaled(libc::SIGTERM)));
        assert_eq!(out.lost, Some(Loss::Removed));
        assert_eq!(reported.get(), Some(Loss::Removed));
        assert_eq!(held.looks, 3);
    }
}
