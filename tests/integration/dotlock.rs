//! lockkit's `dotlock` where it promises more than liblockfile's
//! dotlockfile: waiters woken by events rather than a 5-60 s sleep, stale
//! locks broken by exactly one of many breakers, PID reuse noticed with `-p`,
//! no temp file left behind by a catchable signal, and command mode passing
//! SIGTERM/SIGHUP on to the command.
//!
//! Nothing here is timed, and nothing synchronises with another process by
//! sleeping (the PID-reuse test alone waits for the *clock*, see there). A
//! test that needs a waiter to be *waiting* checks that its temp file exists
//! and that it is blocked in poll(2) ([`wait_until_waiting`]); commands say
//! "ready" on their stdout. Where "woken by an event" must be told apart from "retried
//! on schedule", the waiter's only scheduled retry is 60 s away (`-r 1 -i
//! 60`) and the test allows it [`SAFETY`] (30 s): finishing at all proves
//! the event, with 30 s of slack for a loaded machine.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::util::{
    Impl, Scratch, TestCommand, argv, code_of, counter as count_under_lock, dead_pid, ended,
    in_poll, lockkit_bin, pidfd, race, reference, send_signal, signal_name, stderr_of,
    timeout_until, unshare_or_skip, wait_bounded, watch_until,
};

/// How long a test waits for something that should take milliseconds.
/// Only a safety net: well below the 60 s a waiter with `-r 1 -i 60` would
/// take to retry on its schedule.
const SAFETY: Duration = Duration::from_secs(30);

/// The waiter options whose only scheduled retry is 60 s away.
const SLOW_SCHEDULE: [&str; 4] = ["-r", "1", "-i", "60"];

fn dotlock(s: &Scratch) -> TestCommand {
    TestCommand::lockkit(s, "dotlock")
}

/// `dotlock ARGS` started in the background, in a process group of its own
/// (so that a failing test can kill it and whatever it started).
fn spawn(s: &Scratch, args: &[&str]) -> Child {
    dotlock(s).args(args).own_process_group().spawn()
}

/// The `.lk…` temp files in the scratch directory.
fn temps(s: &Scratch) -> Vec<String> {
    s.names_starting_with(".lk")
}

#[track_caller]
fn assert_no_temps(s: &Scratch, what: &str) {
    let left = temps(s);
    assert!(left.is_empty(), "{what}: temp files left behind: {left:?}");
}

/// Block until the dotlock process `pid` is waiting for its lock: its temp
/// file exists (so it is past the runtime's start-up poll of fds 0-2) and it
/// is blocked in poll(2), which it only enters, after making the temp file,
/// to wait between attempts — with its inotify watch, pidfds and timers
/// already set up. Returns false if it ended without ever waiting.
///
/// The kernel has no event for "is blocked", so this looks repeatedly
/// ([`watch_until`]), with [`SAFETY`] as the only bound.
fn wait_until_waiting(pid: u32, s: &Scratch) -> bool {
    let prefix = format!(".lk{pid:05}");
    watch_until(pid, SAFETY, "dotlock never started waiting", || {
        temps(s).iter().any(|t| t.starts_with(&prefix)) && in_poll(pid)
    })
}

/// A process that lives until its stdin is closed (`cat`), to put its pid
/// in a lock.
fn live_process() -> Child {
    Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start cat")
}

fn end_process(mut p: Child) {
    drop(p.stdin.take());
    p.wait().expect("wait for cat");
}

// Waking up -------------------------------------------------------------

#[test]
fn waiter_wakes_when_the_lock_is_removed() {
    // inotify on the lock's directory: the reference would sleep until its
    // retry (here 60 s away).
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    let mut w = spawn(&s, &[&SLOW_SCHEDULE[..], &["x.lock"]].concat());
    assert!(wait_until_waiting(w.id(), &s), "the waiter ended early");
    std::fs::remove_file(s.path("x.lock")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "waiter after the lock was removed");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    assert_eq!(s.read("x.lock"), "0\n", "the waiter's lock");
    assert_no_temps(&s, "after taking the lock");
}

#[test]
fn a_lock_taken_after_a_long_wait_is_born_fresh() {
    // The waiter's temp file dates from when its wait began; the lock it
    // links must not carry that age, or the next caller breaks it at once
    // as "older than 5 minutes". The test ages the waiting temp file
    // instead of waiting 5 minutes.
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    let mut w = spawn(&s, &["-r", "-1", "x.lock"]);
    assert!(wait_until_waiting(w.id(), &s), "the waiter ended early");
    for t in temps(&s) {
        s.age(&t, 400);
    }
    std::fs::remove_file(s.path("x.lock")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "waiter after the lock was removed");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    dotlock(&s).args(["-r", "0", "x.lock"]).run().code(4);
    assert_eq!(s.read("x.lock"), "0\n", "the waiter's lock, not broken");
    assert_no_temps(&s, "after a fresh lock");
}

#[test]
fn a_waiter_without_inotify_looks_again_soon() {
    // Past fs.inotify.max_user_instances a waiter gets no watch. It then
    // looks again every 10 ms … 1 s (not attempts of the schedule) instead
    // of sleeping until the retry 60 s away. inotify_init1 is made to fail
    // with EMFILE by strace's fault injection.
    if !crate::util::strace_or_skip() {
        return;
    }
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    let mut w = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "inject=inotify_init1:error=EMFILE",
        ])
        .arg(s.link("dotlock", &lockkit_bin()))
        .args([&SLOW_SCHEDULE[..], &["x.lock"]].concat())
        .current_dir(s.dir())
        .stderr(Stdio::piped())
        .spawn()
        .expect("strace dotlock");
    // The traced dotlock is strace's child; wait until it waits.
    let tracer = w.id();
    let child = || {
        std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children"))
            .ok()
            .and_then(|c| c.split_whitespace().next()?.parse::<u32>().ok())
    };
    assert!(
        watch_until(tracer, SAFETY, "dotlock never started waiting", || {
            child().is_some_and(|c| !temps(&s).is_empty() && in_poll(c))
        }),
        "the waiter ended early"
    );
    std::fs::remove_file(s.path("x.lock")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "waiter without inotify");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    assert_eq!(s.read("x.lock"), "0\n", "the waiter's lock");
    assert_no_temps(&s, "after taking the lock");
}

#[test]
fn waiter_wakes_when_the_holder_dies() {
    // -p: a pidfd on the holder named in the lock. The lock *name* does not
    // change when its holder dies, so inotify cannot be what wakes it.
    let s = Scratch::new();
    let holder = live_process(); // started before its lock was made
    s.write("x.lock", format!("{}\n", holder.id()));
    let mut w = spawn(&s, &[&["-p"], &SLOW_SCHEDULE[..], &["x.lock"]].concat());
    assert!(wait_until_waiting(w.id(), &s), "the waiter ended early");
    assert_eq!(s.read("x.lock"), format!("{}\n", holder.id()));
    end_process(holder); // exits and is reaped: its pid is now dead
    let st = wait_bounded(&mut w, SAFETY, "waiter after its holder died");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    // Plain lock mode with -p writes the caller's pid: this test process.
    assert_eq!(s.read("x.lock"), format!("{}\n", std::process::id()));
    assert_no_temps(&s, "after breaking the dead holder's lock");
}

/// Block until some process opens `name` in the scratch directory (an
/// inotify event) or `child` ends, whichever comes first; false if neither
/// happens within [`SAFETY`].
fn until_opened_or_ended(inotify: &rustix::fd::OwnedFd, name: &str, child: &Child) -> bool {
    use rustix::event::{PollFd, PollFlags};
    use rustix::fs::inotify::{ReadFlags, Reader};
    let pidfd = pidfd(child);
    let end = Instant::now() + SAFETY;
    loop {
        let timeout = timeout_until(end);
        let mut fds = [
            PollFd::new(inotify, PollFlags::IN),
            PollFd::new(&pidfd, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
        if !fds[1].revents().is_empty() {
            return true;
        }
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = Reader::new(inotify, &mut buf);
        while let Ok(ev) = reader.next() {
            if ev.events().contains(ReadFlags::OPEN)
                && ev
                    .file_name()
                    .is_some_and(|n| n.to_bytes() == name.as_bytes())
            {
                return true;
            }
        }
    }
}

#[test]
fn waiter_wakes_when_a_zombie_holder_is_reaped() {
    // The holder exits but its parent (this test) reaps it only after the
    // waiter has looked at the lock again (it opens the lock to read the
    // pid: seen through inotify). While a zombie, the holder still "exists"
    // for kill(pid, 0), as for the reference; once reaped its pid is dead.
    // Either way the waiter must end up with the lock long before its only
    // scheduled retry.
    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    let s = Scratch::new();
    let mut holder = live_process();
    s.write("x.lock", format!("{}\n", holder.id()));
    let mut w = spawn(&s, &[&["-p"], &SLOW_SCHEDULE[..], &["x.lock"]].concat());
    assert!(wait_until_waiting(w.id(), &s), "the waiter ended early");
    let watch = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).expect("inotify");
    inotify::add_watch(&watch, s.dir(), WatchFlags::OPEN).expect("watch");
    drop(holder.stdin.take()); // the holder exits; not reaped yet
    assert!(
        until_opened_or_ended(&watch, "x.lock", &w),
        "the waiter did not react to its holder's exit"
    );
    holder.wait().expect("reap the holder");
    let st = wait_bounded(&mut w, SAFETY, "waiter after its zombie holder was reaped");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    assert_eq!(s.read("x.lock"), format!("{}\n", std::process::id()));
    assert_no_temps(&s, "after the zombie holder");
}

#[test]
fn waiter_wakes_when_the_lock_reaches_its_age_limit() {
    // A lock without a pid is stale 300 s after its mtime. This one gets
    // there 3 s from now; the waiter's only scheduled retry is at 60 s, so
    // only the age timer can let it finish within SAFETY. If the machine is
    // so slow that the waiter starts after the lock went stale, it takes it
    // at once: still correct, only the timer went unexercised (noted).
    let s = Scratch::new();
    s.write("x.lock", "0\n");
    s.age("x.lock", 297);
    let mut w = spawn(&s, &[&SLOW_SCHEDULE[..], &["x.lock"]].concat());
    let waited = wait_until_waiting(w.id(), &s);
    let st = wait_bounded(&mut w, SAFETY, "waiter on an ageing lock");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    assert_eq!(s.read("x.lock"), "0\n");
    let age = SystemTime::now()
        .duration_since(
            std::fs::metadata(s.path("x.lock"))
                .expect("stat")
                .modified()
                .expect("mtime"),
        )
        .unwrap_or_default();
    assert!(
        age < Duration::from_secs(100),
        "the lock is the waiter's new one"
    );
    assert_no_temps(&s, "after the age limit");
    if !waited {
        eprintln!("note: the waiter found the lock already stale; the age timer was not exercised");
    }
}

// Breaking stale locks atomically ----------------------------------------

fn winners(results: &[(i32, String)]) -> usize {
    results.iter().filter(|(c, _)| *c == 0).count()
}

/// One stale lock, many breakers at once, over and over: exactly one wins.
/// `imp` is lockkit's or the reference; for the reference nothing is
/// asserted and the number of trials without exactly one winner returned.
/// For lockkit a `FAULTS` line is printed (see `crate::faults::report`).
pub(crate) fn stale_race_trials(
    s: &Scratch,
    imp: Impl,
    pid_mode: bool,
    trials: usize,
    n: usize,
) -> usize {
    let tool = match imp {
        Impl::Lockkit => s.link("dotlock", &lockkit_bin()),
        Impl::Reference => s.link("dotlockfile", &reference("dotlock").expect("reference")),
    };
    // n × `tool -r 0 [-p] s.lock`, started together (see `race`).
    let extra: &[&str] = if pid_mode { &["-p"] } else { &[] };
    let runs = vec![argv(&tool, &[&["-r", "0"], extra, &["s.lock"]].concat()); n];
    let dead = dead_pid(); // a child of ours, reaped
    let mut bad_trials = 0;
    let start = Instant::now();
    for trial in 0..trials {
        let _ = std::fs::remove_file(s.path("s.lock"));
        if pid_mode {
            s.write("s.lock", format!("{dead}\n")); // fresh, dead holder
        } else {
            s.write("s.lock", "0\n");
            s.age("s.lock", 600); // past the 300 s limit
        }
        let results = race(s, &runs, SAFETY);
        if imp == Impl::Reference {
            bad_trials += usize::from(winners(&results) != 1);
            for t in temps(s) {
                let _ = std::fs::remove_file(s.path(t));
            }
            continue;
        }
        let what = format!("trial {trial} ({})", if pid_mode { "-p" } else { "age" });
        assert_eq!(winners(&results), 1, "{what}: exit codes {results:?}");
        assert!(
            results
                .iter()
                .all(|(c, e)| (*c == 0 || *c == 4) && e.is_empty()),
            "{what}: {results:?}"
        );
        let want = if pid_mode {
            format!("{}\n", std::process::id())
        } else {
            "0\n".to_owned()
        };
        assert_eq!(s.read("s.lock"), want, "{what}: the winner's lock");
        assert_eq!(
            std::fs::metadata(s.path("s.lock")).expect("stat").nlink(),
            1,
            "{what}"
        );
        assert_no_temps(s, &what);
    }
    if imp == Impl::Lockkit {
        let name = if pid_mode {
            "dotlock_stale_race_pid"
        } else {
            "dotlock_stale_race_age"
        };
        crate::faults::report(name, trials, 0, 0, 0, start);
    }
    bad_trials
}

#[test]
fn concurrent_breakers_of_an_old_lock_have_one_winner() {
    let s = Scratch::new();
    stale_race_trials(&s, Impl::Lockkit, false, crate::faults::trials(100), 16);
}

#[test]
fn concurrent_breakers_of_a_dead_holders_lock_have_one_winner() {
    let s = Scratch::new();
    stale_race_trials(&s, Impl::Lockkit, true, crate::faults::trials(100), 16);
    // For contrast (reported, not asserted): liblockfile's check-then-unlink
    // lets a second breaker remove the first one's fresh lock.
    if reference("dotlock").is_some() {
        let s = Scratch::new();
        let bad = stale_race_trials(&s, Impl::Reference, true, 30, 16);
        eprintln!("reference dotlockfile: {bad} of 30 trials did not have exactly one winner");
    }
}

/// Someone (any local user can) holding a flock(2) on `path` in the scratch
/// directory — the directory itself with ".".
pub(crate) fn flock_held_by_another(s: &Scratch, path: &str) -> crate::util::Holder {
    let mut c = Command::new("python3");
    c.arg("-c")
        .arg(format!(
            "import fcntl,os,sys\nfd=os.open({path:?},os.O_RDONLY)\n\
             fcntl.flock(fd,fcntl.LOCK_EX)\nprint('ready',flush=True)\nsys.stdin.read()"
        ))
        .current_dir(s.dir());
    crate::util::Holder::start(c)
}

#[test]
fn a_flock_held_on_the_directory_does_not_let_every_breaker_win() {
    // Anyone who can open a directory can flock it and never let go; that
    // must neither hang the breakers nor make them break unserialised.
    let s = Scratch::new();
    let _attacker = flock_held_by_another(&s, ".");
    stale_race_trials(&s, Impl::Lockkit, false, 5, 16);
    stale_race_trials(&s, Impl::Lockkit, true, 5, 16);
}

#[test]
fn a_flock_held_on_the_stale_lock_makes_breakers_refuse() {
    // The removers' lock itself held by someone who does not let go: no
    // breaker may remove the lock unserialised; they give up as if it were
    // held.
    let s = Scratch::new();
    let tool = s.link("dotlock", &lockkit_bin());
    s.write("s.lock", "0\n");
    s.age("s.lock", 600);
    let attacker = flock_held_by_another(&s, "s.lock");
    let runs = vec![argv(&tool, &["-r", "0", "s.lock"]); 4];
    let results = race(&s, &runs, SAFETY);
    assert!(
        results.iter().all(|(c, e)| *c == 4 && e.is_empty()),
        "{results:?}"
    );
    drop(attacker);
    assert_eq!(s.read("s.lock"), "0\n", "the stale lock, not removed");
    assert_no_temps(&s, "after refusing");
    // Once it is free again, a breaker wins.
    dotlock(&s).args(["-r", "0", "s.lock"]).run().success();
}

// Mutual exclusion ------------------------------------------------------

/// `workers` (one tool + options each) incrementing `count` non-atomically
/// `cycles` times each under the lock: the final count must be exact, and
/// neither the lock nor a temp file may be left.
fn counter(s: &Scratch, workers: &[&str], cycles: u32) {
    counter_with_prelude(s, "", workers, cycles);
}

/// [`counter`] with shell functions defined first.
fn counter_with_prelude(s: &Scratch, prelude: &str, workers: &[&str], cycles: u32) {
    // Each worker is a lock command whose command mode does the update.
    let workers: Vec<String> = workers.iter().map(|w| format!("'{w}'")).collect();
    count_under_lock(
        s,
        prelude,
        "$1 c.lock sh -c 'read n < count; echo $((n + 1)) > count' || echo \"$1: $?\" >> errors",
        &workers,
        cycles,
        "c.lock",
    );
    assert_no_temps(s, "after the counter");
}

#[test]
fn counter_is_exact_with_lockkit_and_a_foreign_tool_mixed() {
    // Interoperation under churn: lockkit waits on locks another tool made
    // and removed (it wakes on their unlink), and vice versa. The foreign
    // tool is procmail's lockfile (`-0`: no sleep between its attempts).
    // liblockfile's dotlockfile cannot be used here: a waiting dotlockfile
    // that sees the lock vanish between its lstat and its stat judges it
    // stale and unlinks whatever lock was made meanwhile, so it loses
    // updates against itself alone under load (measured: 2 runs in 4 with 8
    // dotlockfile workers on this machine). Its exclusion with lockkit is
    // checked one attempt at a time in
    // `lockfile::a_lockfile_lock_excludes_the_other_tools_and_theirs_exclude_it`
    // and `dotlock_and_dotlockfile_exclude_each_other` below.
    let Some(procmail) = reference("lockfile") else {
        return;
    };
    let s = Scratch::new();
    s.link("dotlock", &lockkit_bin());
    s.link("plockfile", &procmail);
    let kit = "dotlock -r -1";
    // procmail's lockfile has no command mode: lock, update, remove.
    let foreign = "run_plockfile";
    counter_with_prelude(
        &s,
        "run_plockfile() { plockfile -0 -r -1 \"$1\" && { shift; \"$@\"; rc=$?; rm -f c.lock; return $rc; }; }\n",
        &[kit, foreign, kit, foreign, kit, foreign, kit, foreign],
        30,
    );
}

#[test]
fn dotlock_and_dotlockfile_exclude_each_other() {
    // A lock held by either excludes the other, with and without -p.
    let Some(r) = reference("dotlock") else {
        return;
    };
    let s = Scratch::new();
    s.link("dotlock", &lockkit_bin());
    s.link("dotlockfile", &r);
    for (holder, other) in [("dotlock", "dotlockfile"), ("dotlockfile", "dotlock")] {
        for p in ["", "-p "] {
            let out = TestCommand::script(
                &s,
                &format!(
                    "{holder} {p}x.lock && {other} {p}-r 0 x.lock; echo \"$?\"; \
                     {other} -u x.lock; [ -e x.lock ] || echo removed"
                ),
            )
            .run();
            out.success().stdout("4\nremoved\n").stderr("");
        }
    }
}

#[test]
fn counter_is_exact_with_lockkit_alone() {
    let s = Scratch::new();
    s.link("dotlock", &lockkit_bin());
    counter(&s, &["dotlock -r -1"; 8], 60);
}

// Signals while waiting --------------------------------------------------

#[test]
fn a_signalled_waiter_dies_of_the_signal_and_leaves_no_temp_file() {
    // The reference removes its temp file for TERM, HUP, INT, QUIT, PIPE...
    // but leaks it on USR1 (and USR2, ALRM). lockkit: every catchable one.
    // (SIGQUIT is left out only because dying of it may dump core; SIGKILL
    // cannot be caught, so its temp file necessarily stays.)
    let s = Scratch::new();
    s.write("x.lock", "held\n");
    for sig in [
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPIPE,
        libc::SIGALRM,
    ] {
        let name = signal_name(sig);
        let mut w = spawn(&s, &[&SLOW_SCHEDULE[..], &["x.lock"]].concat());
        assert!(
            wait_until_waiting(w.id(), &s),
            "SIG{name}: the waiter ended early"
        );
        send_signal(w.id(), sig);
        let st = wait_bounded(&mut w, SAFETY, &format!("waiter sent SIG{name}"));
        assert_eq!(
            st.signal(),
            Some(sig),
            "SIG{name}: {st:?} {}",
            stderr_of(&mut w)
        );
        assert_no_temps(&s, &format!("SIG{name}"));
        assert_eq!(s.read("x.lock"), "held\n", "SIG{name}: the held lock");
    }
}

#[test]
fn a_signalled_command_mode_waiter_runs_nothing_and_leaves_nothing() {
    let s = Scratch::new();
    s.write("x.lock", "held\n");
    let args = [
        &SLOW_SCHEDULE[..],
        &["x.lock", "sh", "-c", "echo ran > ran"],
    ]
    .concat();
    let mut w = spawn(&s, &args);
    assert!(wait_until_waiting(w.id(), &s), "the waiter ended early");
    send_signal(w.id(), libc::SIGTERM);
    let st = wait_bounded(&mut w, SAFETY, "command-mode waiter sent SIGTERM");
    assert_eq!(st.signal(), Some(libc::SIGTERM), "{st:?}");
    assert!(!s.exists("ran"), "the command ran");
    assert_no_temps(&s, "command-mode waiter");
    assert_eq!(s.read("x.lock"), "held\n");
}

fn sigmask_has(pid: u32, field: &str, sig: libc::c_int) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(str::trim)
        .expect("field in /proc/PID/status");
    let mask = u64::from_str_radix(hex, 16).expect("hex mask");
    mask & (1 << (sig - 1)) != 0
}

#[test]
fn inherited_ignored_signals_stay_ignored_while_waiting() {
    // As under nohup: SIGHUP and SIGINT ignored by the caller do not end
    // the wait (nor does lockkit install its cleanup handler over them).
    let s = Scratch::new();
    s.write("x.lock", "held\n");
    let ignore = || {
        // SAFETY: signal(2) is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
        }
        Ok(())
    };
    // SAFETY: the closure only calls async-signal-safe functions.
    let cmd = unsafe { dotlock(&s).pre_exec(ignore) };
    let mut w = cmd
        .args(SLOW_SCHEDULE)
        .arg("x.lock")
        .own_process_group()
        .spawn();
    assert!(wait_until_waiting(w.id(), &s), "the waiter ended early");
    for sig in [libc::SIGINT, libc::SIGHUP] {
        assert!(
            sigmask_has(w.id(), "SigIgn:", sig),
            "SIG{} no longer ignored",
            signal_name(sig)
        );
    }
    // Ignored signals are discarded when sent: had either had a handler or
    // the default action, it would be pending now and would end the process
    // before it could see the lock go.
    send_signal(w.id(), libc::SIGINT);
    send_signal(w.id(), libc::SIGHUP);
    std::fs::remove_file(s.path("x.lock")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "waiter with ignored signals");
    assert_eq!(st.code(), Some(0), "{st:?} {}", stderr_of(&mut w));
    assert_eq!(s.read("x.lock"), "0\n");
    assert_no_temps(&s, "after ignored signals");
}

// Command mode and signals -----------------------------------------------

/// `dotlock -P x.lock sh -c SCRIPT` in its own process group; returns it
/// and the command's pid, once the command has said "ready PID".
fn start_command(s: &Scratch, script: &str) -> (Child, BufReader<std::process::ChildStdout>, u32) {
    let mut w = spawn(s, &["-P", "x.lock", "sh", "-c", script]);
    let mut out = BufReader::new(w.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read ready line");
    let pid = line
        .strip_prefix("ready ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("command did not start: {line:?} {}", stderr_of(&mut w)));
    (w, out, pid)
}

/// Is `pid` gone for good (reaped)?
fn reaped(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid as i32, 0) };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

#[test]
fn term_and_hup_are_passed_to_the_command_then_the_wrapper_dies_of_them() {
    // The reference dies at once, leaving its lock behind and the command
    // running. lockkit passes the signal on, waits for the command, removes
    // the lock and then dies of the same signal.
    for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1] {
        let name = signal_name(sig);
        let s = Scratch::new();
        let script = format!(
            "trap 'echo got-{name} >> log; kill -KILL $p; wait $p 2>/dev/null; exit 7' {name}\n\
             sleep 50 >/dev/null 2>&1 </dev/null &\n\
             p=$!\n\
             echo \"ready $$\"\n\
             wait $p\n\
             echo not-reached >> log\n"
        );
        let (mut w, _out, cmd_pid) = start_command(&s, &script);
        assert!(
            s.exists("x.lock"),
            "SIG{name}: no lock while the command runs"
        );
        send_signal(w.id(), sig);
        let st = wait_bounded(&mut w, SAFETY, &format!("wrapper sent SIG{name}"));
        assert_eq!(st.signal(), Some(sig), "SIG{name}: {st:?}");
        assert_eq!(stderr_of(&mut w), "", "SIG{name}");
        assert_eq!(
            s.read("log"),
            format!("got-{name}\n"),
            "SIG{name}: the command's trap"
        );
        // The wrapper waited for (reaped) the command before it died.
        assert!(
            reaped(cmd_pid),
            "SIG{name}: the command outlived the wrapper"
        );
        assert!(!s.exists("x.lock"), "SIG{name}: the lock was left behind");
        assert_no_temps(&s, &format!("SIG{name}"));
    }
}

#[test]
fn int_and_quit_to_the_wrapper_alone_are_survived() {
    // As upstream: SIGINT/SIGQUIT sent to the wrapper (not to the terminal's
    // process group) are not passed on; the command goes on and its status
    // comes through -P.
    let s = Scratch::new();
    let script = "trap 'echo got-INT >> log' INT\n\
                  trap 'echo got-QUIT >> log' QUIT\n\
                  echo \"ready $$\"\n\
                  read line\n\
                  exit 9\n";
    let (mut w, _out, cmd_pid) = start_command(&s, script);
    send_signal(w.id(), libc::SIGINT);
    send_signal(w.id(), libc::SIGQUIT);
    // Both are pending (or handled) before the command is told to end, so
    // the wrapper deals with them before it can see the command exit.
    let mut stdin = w.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("tell the command to end");
    drop(stdin);
    let st = wait_bounded(&mut w, SAFETY, "wrapper sent INT and QUIT");
    assert_eq!(st.code(), Some(9), "{st:?} {}", stderr_of(&mut w));
    assert!(
        !s.exists("log"),
        "the command got a signal: {}",
        s.read("log")
    );
    assert!(reaped(cmd_pid));
    assert!(!s.exists("x.lock"), "the lock was left behind");
    assert_no_temps(&s, "INT/QUIT");
}

// PID reuse --------------------------------------------------------------

/// Wait until the wall clock is past `path`'s last change plus `secs`: the
/// pid-reuse rule compares process start times with that moment, so these
/// tests wait for the clock itself, not for another process.
fn wait_for_clock_past_change(path: &Path, secs: f64) {
    let meta = std::fs::metadata(path).expect("stat");
    let changed =
        SystemTime::UNIX_EPOCH + Duration::new(meta.ctime() as u64, meta.ctime_nsec() as u32);
    let until = changed + Duration::from_secs_f64(secs);
    if let Ok(left) = until.duration_since(SystemTime::now()) {
        std::thread::sleep(left);
    }
}

#[test]
fn a_daemon_that_writes_its_forked_pid_keeps_its_lock() {
    // A daemon makes its lock, then forks and writes the child's pid into
    // it: the holder started after the lock file was made, but before its
    // pid was written. It is alive and holds the lock.
    let s = Scratch::new();
    s.write("daemon.lock", "");
    wait_for_clock_past_change(&s.path("daemon.lock"), 1.5);
    let child = live_process();
    std::fs::write(s.path("daemon.lock"), format!("{}\n", child.id())).expect("write pid");
    let out = dotlock(&s).args(["-p", "-r", "0", "daemon.lock"]).run();
    let content = s.read("daemon.lock");
    end_process(child);
    out.code(4);
    assert!(
        content.starts_with(|c: char| c.is_ascii_digit()),
        "{content:?}"
    );
    assert_no_temps(&s, "daemon lock");
}

#[test]
fn a_pid_reused_after_it_was_written_does_not_keep_the_lock() {
    // In a new pid namespace pids are handed out in order, so the test can
    // write the pid the next process will get, let the clock pass the reuse
    // margin, and start that process: a live process with the
    // lock's pid that started after the pid was written.
    let s = Scratch::new();
    let script = r#"
        echo 3 > reused.lock
        # For the clock (the quantity the rule is about): past the margin.
        sleep 2.5
        sleep 1000 & holder=$!
        [ "$holder" = 3 ] || { echo "pid $holder, not 3" >&2; exit 99; }
        # Not from pid 1: dotlock -p refuses an orphan's lock.
        (dotlock -p -r 0 reused.lock; echo "dotlock $?")
        kill "$holder"
        cat reused.lock
    "#;
    let unshare = ["--fork", "--pid", "--mount-proc"];
    if !unshare_or_skip(&unshare, "pid namespace") {
        return;
    }
    s.link("dotlock", &lockkit_bin());
    let out = TestCommand::script(&s, "exec unshare \"$@\"")
        .arg("sh")
        .args(unshare)
        .args(["sh", "-c", script])
        .run();
    out.success();
    assert!(out.stdout.starts_with("dotlock 0\n"), "{out}");
    assert_ne!(out.stdout, "dotlock 0\n3\n", "{out}");
    assert_no_temps(&s, "pid reuse");
}

// The caller going away --------------------------------------------------

#[test]
fn a_waiter_whose_parent_dies_gives_up_with_5() {
    parent_dies_while_waiting("exec", "waiter whose parent died");
}

/// A waiter's parent (an `sh`) is killed: the waiter must give up with 5.
/// It is then reparented to a python process that made itself a child
/// subreaper, so that its exit status can be collected and reported.
/// `exec` starts that python (`exec`, or e.g. `exec strace … -e inject=…`).
pub(crate) fn parent_dies_while_waiting(exec: &str, what: &str) {
    let s = Scratch::new();
    s.link("dotlock", &lockkit_bin());
    s.write("x.lock", "held\n");
    let py = "import ctypes, os, subprocess, sys\n\
              libc = ctypes.CDLL(None, use_errno=True)\n\
              if libc.prctl(36, 1, 0, 0, 0) != 0:\n    sys.exit('PR_SET_CHILD_SUBREAPER failed')\n\
              p = subprocess.Popen(['sh', '-c', 'dotlock -r 1 -i 60 x.lock & echo $!; wait'],\n\
                                   stdout=subprocess.PIPE, text=True)\n\
              waiter = int(p.stdout.readline())\n\
              print(waiter, flush=True)\n\
              sys.stdin.readline()\n\
              p.kill()\n\
              p.wait()\n\
              _, status = os.waitpid(waiter, 0)\n\
              print(os.waitstatus_to_exitcode(status), flush=True)\n";
    let mut child = TestCommand::script(&s, &format!("{exec} python3 -c \"$1\""))
        .args(["sh", py])
        .own_process_group()
        .spawn();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("waiter pid");
    let waiter: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("helper failed: {line:?} {}", stderr_of(&mut child)));
    assert!(wait_until_waiting(waiter, &s), "the waiter ended early");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"kill\n").expect("tell the helper");
    drop(stdin);
    let st = wait_bounded(&mut child, SAFETY, what);
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read status");
    assert!(st.success(), "helper: {st:?} {}", stderr_of(&mut child));
    assert_eq!(rest, "5\n", "{what}: the waiter's exit status");
    assert_no_temps(&s, what);
    assert_eq!(s.read("x.lock"), "held\n");
}

// Help and version (lockkit extensions) ------------------------------------

#[test]
fn help_and_version_are_extensions() {
    let s = Scratch::new();
    let out = TestCommand::lockkit(&s, "dotlock").arg("--help").run();
    out.success().stderr("");
    for needle in ["Usage:  dotlockfile -l", "-r retries", "Examples:"] {
        assert!(out.stdout.contains(needle), "{needle}\n{out}");
    }
    TestCommand::lockkit(&s, "dotlock")
        .arg("--version")
        .run()
        .success()
        .stdout(&format!(
            "dotlockfile (lockkit {}), compatible with liblockfile 1.17\n",
            env!("CARGO_PKG_VERSION")
        ));
    // Anything else starting with `--` is still plain getopt's business, as
    // in dotlockfile: an invalid option `-`.
    for args in [["--bogus"], ["--he"]] {
        crate::util::Diff::dotlock(args).check();
    }
}

/// Every message of one run names the tool the same way: `dotlockfile:`,
/// as the reference's own messages do, also getopt's under lockkit's name
/// `dotlock`; through a `dotlockfile` link getopt's prefix is `argv[0]` as
/// invoked, byte for byte the reference's (docs/compat.md).
#[test]
fn one_name_in_every_message() {
    let s = Scratch::new();
    let usage = "Usage:  dotlockfile -l";
    for args in [
        &["-z", "x"][..],
        &["-r"],
        &["-r", "abc", "x"],
        &["-i", "-1", "x"],
    ] {
        for out in [
            TestCommand::lockkit(&s, "dotlock").args(args).run(),
            TestCommand::suite(&s).arg("dotlock").args(args).run(),
        ] {
            out.stdout("");
            let named: Vec<&str> = out
                .stderr
                .lines()
                .filter(|l| !l.starts_with("Usage:") && !l.starts_with(' '))
                .collect();
            assert!(!named.is_empty(), "{args:?}: {out}");
            for l in named {
                assert!(l.starts_with("dotlockfile: "), "{args:?}: {out}");
            }
        }
    }
    let Some(r) = reference("dotlock") else {
        return;
    };
    s.link("dotlockfile", &r);
    let want = TestCommand::script(&s, "\"$PWD/bin/dotlockfile\" -z x").run();
    assert!(want.stderr.contains(usage), "{want}");
    s.link("dotlockfile", &lockkit_bin());
    let got = TestCommand::script(&s, "\"$PWD/bin/dotlockfile\" -z x").run();
    assert_eq!(got, want);
    let dir = s.dir().display().to_string();
    assert!(
        got.stderr
            .starts_with(&format!("{dir}/bin/dotlockfile: invalid option -- 'z'\n")),
        "{got}"
    );
}

// Every process of the command ---------------------------------------------

/// The parent of process `pid`, from /proc.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A command whose background job outlives it: the job (its output
/// elsewhere, so that it keeps no pipe of the test open) notes SIGTERM in
/// `log` at once (it waits with the `wait` builtin, which a trapped signal
/// interrupts), and ends (writing `bg-done`) once a line is written to the
/// FIFO `go`, which the script opens before starting it. `run` prefixes the job
/// (`setsid`: in a session of its own). Once the job's trap is set (it says
/// so through the FIFO `up`), the script says `ready <its pid> <the job's
/// pid>` and waits for the job.
fn with_background_job(run: &str) -> String {
    format!(
        "exec 3<>go\n\
         {run} sh -c 'trap \"echo bg-got-TERM >> log\" TERM; echo up > up; head -n 1 <&3 & h=$!; wait $h; wait $h; echo bg-done >> log' >/dev/null 2>&1 &\n\
         read -r up < up\n\
         echo \"ready $$ $!\"\n\
         wait\n"
    )
}

/// Start `dotlock ARGS x.lock sh -c SCRIPT` (under `strace` injecting
/// `inject` when given); returns the process started, its stdout, the
/// dotlock's pid, and the pids on its `ready` line.
fn start_with_job(
    s: &Scratch,
    args: &[&str],
    script: &str,
    inject: Option<&str>,
) -> (Child, BufReader<std::process::ChildStdout>, u32, u32, u32) {
    make_fifo(s, "go");
    make_fifo(s, "up");
    let tail = [args, &["x.lock", "sh", "-c", script]].concat();
    let mut w = match inject {
        None => dotlock(s).args(&tail).own_process_group().spawn(),
        Some(inject) => {
            let mut c = Command::new("strace");
            c.args(["-qq", "-o", "/dev/null", "-e", inject])
                .arg(s.link("dotlock", &lockkit_bin()))
                .args(&tail)
                .current_dir(s.dir())
                .process_group(0)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            c.spawn().expect("strace dotlock")
        }
    };
    let mut out = BufReader::new(w.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read ready line");
    let pids: Vec<u32> = line
        .strip_prefix("ready ")
        .map(|p| {
            p.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let [cmd, job] = pids[..] else {
        panic!("command did not start: {line:?} {}", stderr_of(&mut w));
    };
    let wrapper = parent_of(cmd).expect("the command's parent");
    (w, out, wrapper, cmd, job)
}

fn make_fifo(s: &Scratch, name: &str) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        s.path(name),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
}

/// Let the background job end.
fn release_job(s: &Scratch) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut go = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(s.path("go"))
        .expect("open the FIFO (the job holds it open)");
    go.write_all(b"go\n").expect("tell the job to end");
}

fn stopped_wrapper_outlives_the_job(run: &str, inject: Option<&str>) {
    let s = Scratch::new();
    let script = with_background_job(run);
    let (mut w, _out, wrapper, cmd, job) = start_with_job(&s, &["-P"], &script, inject);
    send_signal(wrapper, libc::SIGTERM);
    // The command dies of the TERM passed on (it has no trap); its job is
    // left behind. The lock must stay until the job has ended too: the
    // wrapper is still there, and the job is now its child.
    let holding = watch_until(w.id(), SAFETY, "the job was never reparented", || {
        reaped(cmd) && parent_of(job) == Some(wrapper)
    });
    if !holding {
        // Leave nothing running (the job may be gone already).
        let _ = std::panic::catch_unwind(|| release_job(&s));
        if let Some(job) = rustix::process::Pid::from_raw(job as i32) {
            let _ = rustix::process::kill_process(job, rustix::process::Signal::KILL);
        }
        panic!(
            "the wrapper ended while a process of the command still ran: {}",
            stderr_of(&mut w)
        );
    }
    // The job gets the TERM too, once it is the wrapper's.
    assert!(
        watch_until(w.id(), SAFETY, "the job never got the signal", || {
            std::fs::read_to_string(s.path("log")).is_ok_and(|l| l == "bg-got-TERM\n")
        }),
        "the wrapper ended while the job still ran"
    );
    dotlock(&s).args(["-r", "0", "x.lock"]).run().code(4);
    assert!(s.exists("x.lock"), "the lock went before the job ended");
    release_job(&s);
    let st = wait_bounded(&mut w, SAFETY, "wrapper after the job ended");
    // (strace dies of its tracee's signal too.)
    assert_eq!(code_of(st), 128 + libc::SIGTERM, "{st:?}");
    assert_eq!(stderr_of(&mut w), "");
    assert_eq!(s.read("log"), "bg-got-TERM\nbg-done\n");
    assert!(reaped(job), "the job outlived the wrapper");
    assert!(!s.exists("x.lock"), "the lock was left behind");
    assert_no_temps(&s, "after the job");
}

#[test]
fn a_stopped_wrapper_keeps_the_lock_until_the_commands_last_process_ends() {
    stopped_wrapper_outlives_the_job("", None);
}

#[test]
fn a_job_in_a_session_of_its_own_is_waited_for_too() {
    // Another process group: still a process of the command.
    stopped_wrapper_outlives_the_job("setsid", None);
}

#[test]
fn without_a_pidfd_the_wrapper_still_waits_for_every_process() {
    // pidfd_open refused as on kernels before 5.3 (or under a seccomp
    // filter): SIGCHLD still says when the command and its job end.
    if crate::util::strace_or_skip() {
        stopped_wrapper_outlives_the_job("", Some("inject=pidfd_open:error=ENOSYS"));
    }
}

#[test]
fn without_a_pidfd_or_sigchld_the_command_is_still_waited_for() {
    // Neither the pidfd nor the self-pipe (pipe2 refused with EMFILE): the
    // wrapper looks at the command on a bounded schedule instead.
    if !crate::util::strace_or_skip() {
        return;
    }
    let s = Scratch::new();
    let mut w = Command::new("strace")
        .args([
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "inject=pidfd_open,pipe2:error=EMFILE",
        ])
        .arg(s.link("dotlock", &lockkit_bin()))
        .args(["-P", "x.lock", "sh", "-c", "test -e x.lock && exit 3"])
        .current_dir(s.dir())
        .process_group(0)
        .stderr(Stdio::piped())
        .spawn()
        .expect("strace dotlock");
    let st = wait_bounded(&mut w, SAFETY, "wrapper without pidfd and self-pipe");
    assert_eq!(st.code(), Some(3), "{}", stderr_of(&mut w));
    assert!(!s.exists("x.lock"), "the lock was left behind");
}

#[test]
fn a_job_left_running_by_a_command_that_ends_does_not_keep_the_lock() {
    // As dotlockfile: the lock is the command's, and goes when it ends,
    // even if it started something in the background (a daemon must not
    // keep the caller waiting). Only a stop signal makes the wrapper wait
    // for every process of the command.
    let s = Scratch::new();
    make_fifo(&s, "go");
    let script = "exec 3<>go\n\
                  ( head -n 1 <&3 >/dev/null; echo bg-done >> log ) >/dev/null 2>&1 &\n\
                  echo $! > job\n\
                  exit 5\n";
    let mut w = dotlock(&s)
        .args(["-P", "x.lock", "sh", "-c", script])
        .own_process_group()
        .spawn();
    let st = wait_bounded(&mut w, SAFETY, "wrapper of a command that left a job");
    assert_eq!(st.code(), Some(5), "{}", stderr_of(&mut w));
    assert!(!s.exists("x.lock"), "the lock outlived the command");
    let job: u32 = s.read("job").trim().parse().expect("job pid");
    assert!(!ended(job), "the job should still run");
    release_job(&s);
    assert!(!watch_until(job, SAFETY, "the job did not end", || false));
    assert_eq!(s.read("log"), "bg-done\n");
}
