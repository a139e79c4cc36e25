//! lockkit's `lockfile` where it promises more than procmail's lockfile:
//! it works with the other dot-lock tools on the same name; it wakes as soon
//! as a lock is released (inotify) while spending retries only on
//! procmail's schedule; one of many concurrent `-l` forcers wins; a failed
//! run never leaves a partial set of locks and removes only locks that are
//! still its own, also when a signal ends it; no one-second roll-over waits.
//!
//! Nothing here is timed and nothing synchronises by sleeping. A test that
//! needs a run to be *waiting* checks that its temp file exists and that it
//! is blocked in poll(2) ([`wait_until_waiting`]). lockkit keeps the temp
//! file of the lock it is trying for until it gets it or gives up, so "the
//! temp file still exists" also proves that the failure cleanup, which runs
//! after the temp file is removed, has not begun. Where "woken by an event"
//! must be told apart from "retried on schedule", the run's sleeptime is an
//! hour ([`NEVER`]): finishing at all within [`SAFETY`] proves the event.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use crate::util::{
    Scratch, TestCommand, argv, blocked_on, code_of, counter as count_under_lock, in_poll,
    lockkit_bin, race, reference, send_signal, signal_name, stderr_of, stopped, wait_bounded,
    watch_until,
};

/// How long a test waits for something that should take milliseconds.
/// Only a safety net, far below the hour of a [`NEVER`] sleeptime.
const SAFETY: Duration = Duration::from_secs(30);

/// A sleeptime that puts procmail's next attempt an hour away.
const NEVER: &str = "-3600";

fn lockfile(s: &Scratch) -> TestCommand {
    TestCommand::lockkit(s, "lockfile")
}

/// lockkit's `lockfile ARGS` in the background, in a process group of its
/// own (so that a failing test can kill it).
fn spawn(s: &Scratch, args: &[&str]) -> Child {
    lockfile(s).args(args).own_process_group().spawn()
}

/// `lockfile: Sorry, giving up on "NAME"`
fn sorry(name: &str) -> String {
    format!("lockfile: Sorry, giving up on \"{name}\"\n")
}

/// `lockfile: Forcing lock on "NAME"`
fn forcing(name: &str) -> String {
    format!("lockfile: Forcing lock on \"{name}\"\n")
}

/// The `_…` temp files in the scratch directory.
fn temps(s: &Scratch) -> Vec<String> {
    s.names_starting_with("_")
}

#[track_caller]
fn assert_no_temps(s: &Scratch, what: &str) {
    let left = temps(s);
    assert!(left.is_empty(), "{what}: temp files left behind: {left:?}");
}

/// The start of process `pid`'s temp file names: `_`, the pid in procmail's
/// base-64 digits (low bits first), then a serial character.
fn temp_prefix(pid: u32) -> String {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut v = pid;
    let mut name = String::from("_");
    loop {
        name.push(char::from(DIGITS[(v & 63) as usize]));
        v >>= 6;
        if v == 0 {
            return name;
        }
    }
}

/// Does process `pid` have a temp file in the scratch directory?
fn has_temp(s: &Scratch, pid: u32) -> bool {
    let prefix = temp_prefix(pid);
    temps(s).iter().any(|t| {
        t.strip_prefix(&prefix)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| ".,+%".contains(c))
    })
}

/// How many times process `pid` has blocked (`voluntary_ctxt_switches`).
fn times_blocked(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Block until the lockfile process `pid` is waiting for a lock: its temp
/// file exists and it is blocked in poll(2), which it enters only to wait
/// between attempts (with its inotify watch set up before the first one).
/// Returns false if it ended without waiting. The kernel offers no event
/// for "is blocked in poll", hence the looking ([`watch_until`]).
fn wait_until_waiting(pid: u32, s: &Scratch) -> bool {
    watch_until(pid, SAFETY, "lockfile never started waiting", || {
        has_temp(s, pid) && in_poll(pid)
    })
}

/// The inode number of a scratch file (not following symlinks).
fn ino(s: &Scratch, name: &str) -> u64 {
    s.path(name).symlink_metadata().expect("lstat").ino()
}

// 1. Mutual exclusion, with the other dot-lock tools --------------------------

/// Workers, each a (lock command, unlock command) pair, incrementing `count`
/// non-atomically `cycles` times each while holding the lock `L`.
fn counter(s: &Scratch, workers: &[(&str, &str)], cycles: u32) {
    let workers: Vec<String> = workers
        .iter()
        .map(|(lock, unlock)| format!("'{lock}' '{unlock}'"))
        .collect();
    count_under_lock(
        s,
        "",
        "if $1 L; then\n\
           read n < count; echo $((n + 1)) > count\n\
           $2 L || echo \"$2: $?\" >> errors\n\
         else\n\
           echo \"$1: $?\" >> errors\n\
         fi",
        &workers,
        cycles,
        "L",
    );
    assert_no_temps(s, "after the counter");
}

/// lockkit's lockfile: its only scheduled retry an hour away, so every
/// hand-over to it is an inotify wake-up (a missed one hangs the test).
const KIT_LOCKFILE: (&str, &str) = ("lockfile -3600 -r -1", "rm -f");
const KIT_DOTLOCK: (&str, &str) = ("dotlock -r -1", "dotlock -u");

#[test]
fn counter_is_exact_with_the_tools_mixed() {
    // lockkit's lockfile and dotlock with procmail's lockfile (which polls:
    // with -0 up to 4 times a second, its temp-name roll-over; hence the
    // moderate numbers). liblockfile's dotlockfile cannot take part in a
    // churn test: a waiting dotlockfile that sees the lock vanish between
    // its lstat and its stat judges it stale and unlinks whatever lock has
    // been made by then — it loses updates against itself alone under load
    // (measured: 2 runs in 4 with 8 dotlockfile workers). Its exclusion
    // with lockkit is tested one attempt at a time below.
    let Some(procmail) = reference("lockfile") else {
        return;
    };
    let s = Scratch::new();
    s.link("lockfile", &lockkit_bin());
    s.link("dotlock", &lockkit_bin());
    s.link("plockfile", &procmail);
    let workers = [
        KIT_LOCKFILE,
        ("plockfile -0 -r -1", "rm -f"),
        KIT_DOTLOCK,
        ("plockfile -0 -r -1", "rm -f"),
    ];
    counter(&s, &workers, 15);
}

#[test]
fn without_a_locktimeout_a_vanishing_lock_is_never_forced() {
    // Under churn the lock often vanishes between a waiter's failed link
    // and its look at the lock. Without -l nothing may be forced: no
    // `Forcing lock` and no 16-second suspend after it.
    let s = Scratch::new();
    s.link("lockfile", &lockkit_bin());
    let workers: Vec<String> = (0..8).map(|_| "lockfile".to_owned()).collect();
    count_under_lock(
        &s,
        "",
        "if $1 L 2>>said; then\n\
           read n < count; echo $((n + 1)) > count\n\
           rm -f L\n\
         else\n\
           echo \"$1: $?\" >> errors\n\
         fi",
        &workers,
        60,
        "L",
    );
    assert_eq!(s.read("said"), "", "lockfile said something without -l");
    assert_no_temps(&s, "after the churn");
}

#[test]
fn counter_is_exact_with_lockkit_alone() {
    let s = Scratch::new();
    s.link("lockfile", &lockkit_bin());
    s.link("dotlock", &lockkit_bin());
    let mut workers = vec![KIT_LOCKFILE; 6];
    workers.extend([KIT_DOTLOCK; 2]);
    counter(&s, &workers, 40);
}

// 2. Exclusion, one attempt at a time -------------------------------------------

#[test]
fn a_lockfile_lock_excludes_the_other_tools_and_theirs_exclude_it() {
    let (Some(procmail), Some(liblockfile)) = (reference("lockfile"), reference("dotlock")) else {
        return;
    };
    let s = Scratch::new();
    s.link("dotlock", &lockkit_bin());
    s.link("plockfile", &procmail);
    s.link("dotlockfile", &liblockfile);

    // lockkit's lock keeps out lockkit's dotlock, dotlockfile and procmail's
    // lockfile.
    lockfile(&s).arg("L").run().success().stderr("");
    assert_eq!(s.read("L"), "0");
    let made = ino(&s, "L");
    for (tool, code, err) in [
        ("dotlock -r 0 L", 4, String::new()),
        ("dotlockfile -r 0 L", 4, String::new()),
        ("plockfile -r0 L", 73, sorry("L")),
    ] {
        let out = TestCommand::script(&s, tool).run();
        assert_eq!(out.code, code, "{tool}\n{out}");
        assert_eq!(out.stderr, err, "{tool}\n{out}");
        assert_eq!(ino(&s, "L"), made, "{tool}: the lock was replaced");
        assert_eq!(s.read("L"), "0", "{tool}");
    }
    std::fs::remove_file(s.path("L")).expect("rm L");

    // Their locks keep out lockkit's lockfile.
    for maker in ["dotlock L", "dotlockfile L", "plockfile L"] {
        TestCommand::script(&s, maker).run().success();
        let theirs = ino(&s, "L");
        let contents = std::fs::read(s.path("L")).expect("read L");
        lockfile(&s)
            .args(["-r0", "L"])
            .run()
            .code(73)
            .stderr(&sorry("L"));
        assert_eq!(ino(&s, "L"), theirs, "{maker}: the lock was replaced");
        assert_eq!(std::fs::read(s.path("L")).expect("read L"), contents);
        std::fs::remove_file(s.path("L")).expect("rm L");
        assert_no_temps(&s, maker);
    }
}

// 3. Two files in opposite orders --------------------------------------------------

#[test]
fn opposite_order_runs_never_deadlock_nor_leave_a_partial_set() {
    // With procmail's semantics both runs may fail (each holding its first
    // file while the other holds it out of its second); they must end by
    // their retry budget, and a run that fails removes what it took. So
    // after each trial either nothing remains (both failed) or exactly both
    // files (the one run that succeeded).
    let s = Scratch::new();
    let kit = s.link("lockfile", &lockkit_bin());
    let mut tally = [0usize; 3]; // trials with 0, 1, 2 successes
    for trial in 0..120 {
        let retries = if trial % 2 == 0 { "3" } else { "20" };
        let runs = [
            argv(&kit, &["-0", "-r", retries, "a", "b"]),
            argv(&kit, &["-0", "-r", retries, "b", "a"]),
        ];
        let results = race(&s, &runs, SAFETY);
        let what = format!("trial {trial} (-r {retries}): {results:?}");
        for (code, err) in &results {
            match code {
                0 => assert_eq!(err, "", "{what}"),
                73 => assert!(*err == sorry("a") || *err == sorry("b"), "{what}"),
                _ => panic!("{what}: unexpected exit code"),
            }
        }
        let wins = results.iter().filter(|(c, _)| *c == 0).count();
        tally[wins] += 1;
        let present: Vec<bool> = ["a", "b"].iter().map(|n| s.exists(n)).collect();
        match wins {
            0 => assert_eq!(present, [false, false], "{what}: a failed run left a lock"),
            1 => assert_eq!(present, [true, true], "{what}: the winner's set is partial"),
            _ => panic!("{what}: both runs hold the same locks"),
        }
        for n in ["a", "b"] {
            if s.exists(n) {
                assert_eq!(s.read(n), "0", "{what}");
            }
        }
        assert_no_temps(&s, &what);
        let _ = std::fs::remove_file(s.path("a"));
        let _ = std::fs::remove_file(s.path("b"));
    }
    eprintln!(
        "opposite orders: {} trials both failed, {} had one winner",
        tally[0], tally[1]
    );
}

// 4. Waking on release, retries spent on schedule ------------------------------------

#[test]
fn a_waiter_wakes_when_the_lock_is_removed() {
    // procmail's only retry would come after the sleeptime, an hour; the
    // run finishing within SAFETY proves it woke on the removal.
    let s = Scratch::new();
    s.write("held", "");
    let mut w = spawn(&s, &[NEVER, "-r", "1", "a", "held"]);
    assert!(wait_until_waiting(w.id(), &s), "the run ended early");
    assert_eq!(s.read("a"), "0", "the first file is locked before waiting");
    std::fs::remove_file(s.path("held")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "run after the lock was removed");
    assert_eq!(code_of(st), 0, "{}", stderr_of(&mut w));
    assert_eq!(stderr_of(&mut w), "");
    assert_eq!(s.read("held"), "0", "the run's lock");
    assert_eq!(s.read("a"), "0");
    assert_no_temps(&s, "after taking the lock");
}

#[test]
fn an_early_wake_that_finds_the_lock_taken_again_spends_no_retry() {
    // `-r 1`: the first failed attempt spends the only retry; procmail would
    // give up at its second attempt, an hour later. The lock is then
    // replaced (rename over it: released and at once re-taken), which wakes
    // the run; its attempt fails, but it must not give up, because
    // procmail's schedule has not reached the next attempt. Ordering, not
    // time: the run is seen blocked in poll(2) again *after* having been
    // woken (its count of voluntary context switches went up), and the
    // replacement is the only thing that can wake it.
    let s = Scratch::new();
    s.write("held", "");
    s.write("held.new", "replacement\n"); // made before the run watches
    let mut w = spawn(&s, &[NEVER, "-r", "1", "held"]);
    let pid = w.id();
    assert!(wait_until_waiting(pid, &s), "the run ended early");
    let mut base = 0;
    let settled = watch_until(pid, SAFETY, "never settled in poll", || {
        base = times_blocked(pid);
        in_poll(pid) && times_blocked(pid) == base
    });
    assert!(settled, "the run ended early: {}", stderr_of(&mut w));
    std::fs::rename(s.path("held.new"), s.path("held")).expect("replace held");
    let rewaiting = watch_until(pid, SAFETY, "never woke for the replacement", || {
        times_blocked(pid) > base && in_poll(pid)
    });
    if !rewaiting {
        let st = wait_bounded(&mut w, SAFETY, "ended run");
        panic!(
            "the run gave up after an early wake-up: {st:?}\n{}",
            stderr_of(&mut w)
        );
    }
    assert_eq!(s.read("held"), "replacement\n");
    std::fs::remove_file(s.path("held")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "run after the lock was removed");
    assert_eq!(code_of(st), 0, "{}", stderr_of(&mut w));
    assert_eq!(stderr_of(&mut w), "");
    assert_eq!(s.read("held"), "0");
    assert_no_temps(&s, "after taking the lock");
}

// 5. Forcing a stale lock atomically ---------------------------------------------------

/// Many `lockfile -l 10 -s0 -r0 S` on one 100 s old lock, `trials` times.
/// Returns the number of trials without exactly one winner; for lockkit
/// (`check`) everything is asserted and a `FAULTS` line printed (see
/// `crate::faults::report`).
pub(crate) fn forcing_trials(
    s: &Scratch,
    tool: &Path,
    trials: usize,
    n: usize,
    check: bool,
) -> usize {
    let runs = vec![argv(tool, &["-l", "10", "-s0", "-r0", "S"]); n];
    let mut bad = 0;
    let start = std::time::Instant::now();
    for trial in 0..trials {
        let _ = std::fs::remove_file(s.path("S"));
        s.write("S", "old lock\n");
        s.age("S", 100);
        let results = race(s, &runs, SAFETY);
        let winners = results.iter().filter(|(c, _)| *c == 0).count();
        if !check {
            bad += usize::from(winners != 1);
            for t in temps(s) {
                let _ = std::fs::remove_file(s.path(t));
            }
            continue;
        }
        let what = format!("trial {trial}: {results:?}");
        assert_eq!(winners, 1, "{what}");
        let forced = results
            .iter()
            .filter(|(_, e)| e.contains("Forcing"))
            .count();
        assert!(forced >= 1, "{what}: nobody forced the old lock");
        for (code, err) in &results {
            let ok = match code {
                0 => err.is_empty() || *err == forcing("S"),
                73 => *err == sorry("S") || *err == forcing("S") + &sorry("S"),
                _ => false,
            };
            assert!(ok, "{what}");
        }
        assert_eq!(s.read("S"), "0", "{what}: the winner's lock");
        let meta = s.path("S").symlink_metadata().expect("lstat S");
        assert_eq!(meta.nlink(), 1, "{what}");
        assert_no_temps(s, &what);
    }
    if check {
        crate::faults::report("lockfile_forcing_race", trials, 0, 0, 0, start);
    }
    bad
}

#[test]
fn a_lock_taken_after_a_long_wait_is_born_fresh() {
    // procmail makes its temp file per attempt, so its lock is as old as
    // the attempt that took it. A waiter's lock must not carry the age of
    // the wait: under `-l`, the next run would force it at once while its
    // holder works. The test ages the waiting temp file instead of waiting.
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    let mut w = spawn(&s, &["-r", "-1", "x.lock"]);
    let pid = w.id();
    assert!(wait_until_waiting(pid, &s), "the waiter ended early");
    for t in temps(&s) {
        s.age(&t, 100);
    }
    std::fs::remove_file(s.path("x.lock")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "waiter after the lock was removed");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    lockfile(&s)
        .args(["-l", "60", "-s", "0", "-r", "0", "x.lock"])
        .run()
        .code(73)
        .stderr(&sorry("x.lock"));
    assert_eq!(s.read("x.lock"), "0", "the waiter's lock, not forced");
    assert_no_temps(&s, "after a fresh lock");
}

/// A process's resident set in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// How often a process has gone to sleep (`voluntary_ctxt_switches`).
fn sleeps(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn memory_stays_flat_while_waiting() {
    // Every touch of the held lock wakes the waiter for another attempt;
    // attempts must not accumulate memory.
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    let mut w = spawn(&s, &["-r", "-1", "x.lock"]);
    let pid = w.id();
    assert!(wait_until_waiting(pid, &s), "the waiter ended early");
    let mut rss = Vec::new();
    for round in 0..2000 {
        let before = sleeps(pid);
        s.age("x.lock", 0);
        assert!(
            watch_until(pid, SAFETY, "the waiter never looked again", || {
                sleeps(pid) > before && in_poll(pid)
            }),
            "the waiter ended"
        );
        if round == 200 || round == 1999 {
            rss.push(rss_kib(pid));
        }
    }
    std::fs::remove_file(s.path("x.lock")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "waiter");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    assert!(
        rss[1] <= rss[0] + 128,
        "RSS grew from {} to {} KiB",
        rss[0],
        rss[1]
    );
}

#[test]
fn memory_grows_at_most_linearly_with_the_files() {
    // 1 000 free files are locked, then the run waits for a held one: its
    // high-water mark (VmHWM, of this program's own memory: a wait4 peak
    // would count the test process it was forked from) is read then.
    let s = Scratch::new();
    s.write("held", "held by the test\n");
    let names: Vec<String> = (0..1000).map(|i| format!("f{i}")).collect();
    let mut args = vec!["-r".to_owned(), "-1".to_owned()];
    args.extend(names.iter().cloned());
    args.push("held".to_owned());
    let mut w = lockfile(&s).args(&args).own_process_group().spawn();
    let pid = w.id();
    assert!(
        watch_until(
            pid,
            SAFETY,
            "lockfile never waited for the held file",
            || { in_poll(pid) && s.exists("f999") }
        ),
        "the run ended: {}",
        stderr_of(&mut w)
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    send_signal(pid, libc::SIGTERM);
    let st = wait_bounded(&mut w, SAFETY, "lockfile told to stop");
    assert_eq!(st.code(), Some(75), "{}", stderr_of(&mut w));
    assert!(hwm_kib <= 8 * 1024, "peak RSS {hwm_kib} KiB for 1000 files");
    for n in &names {
        assert!(!s.exists(n), "{n} left after the failed run");
    }
}

#[test]
fn concurrent_forcers_of_an_old_lock_have_one_winner() {
    let s = Scratch::new();
    let kit = s.link("lockfile", &lockkit_bin());
    forcing_trials(&s, &kit, crate::faults::trials(50), 10, true);
    // For contrast (reported, not asserted): procmail's lstat-then-unlink
    // can let a late forcer remove the first one's fresh lock, though the
    // window is narrow enough that free-running trials rarely hit it (the
    // next test makes the worst case certain instead).
    if let Some(r) = reference("lockfile") {
        let s = Scratch::new();
        let plockfile = s.link("plockfile", &r);
        let bad = forcing_trials(&s, &plockfile, 20, 10, false);
        eprintln!("procmail's lockfile: {bad} of 20 trials did not have exactly one winner");
    }
}

#[test]
fn a_flock_held_on_the_directory_does_not_let_every_forcer_win() {
    // Anyone who can open a directory can flock it and never let go; that
    // must neither hang the forcers nor make them force unserialised.
    let s = Scratch::new();
    let kit = s.link("lockfile", &lockkit_bin());
    let _attacker = crate::dotlock::flock_held_by_another(&s, ".");
    forcing_trials(&s, &kit, 5, 10, true);
}

#[test]
fn forcers_that_all_judged_the_lock_stale_have_one_winner() {
    // The worst case, made certain instead of hoped for: every forcer has
    // judged the old lock stale before any of them removes it. lockkit's
    // forcers (and owners removing their locks) serialise on a flock(2) of
    // the lock file itself, then judge again; the test holds that flock
    // until all of them are blocked on it, i.e. are past their first
    // judgement. A check-then-unlink forcer (procmail's) would then remove
    // the first winner's fresh lock and let a second one win.
    let s = Scratch::new();
    for trial in 0..5 {
        let _ = std::fs::remove_file(s.path("S"));
        s.write("S", "old lock\n");
        std::fs::set_permissions(s.path("S"), std::fs::Permissions::from_mode(0o644))
            .expect("chmod S");
        s.age("S", 100);
        let lock_ino = std::fs::metadata(s.path("S")).expect("stat S").ino();
        let mut gate = Command::new("python3");
        gate.arg("-c")
            .arg(
                "import fcntl,os,sys\nfd=os.open('S',os.O_RDONLY)\n\
                 fcntl.flock(fd,fcntl.LOCK_EX)\nprint('ready',flush=True)\nsys.stdin.read()",
            )
            .current_dir(s.dir());
        let gate = crate::util::Holder::start(gate);
        let mut kids: Vec<Child> = (0..10)
            .map(|_| spawn(&s, &["-l", "10", "-s0", "-r0", "S"]))
            .collect();
        for k in &mut kids {
            let pid = k.id();
            if !watch_until(pid, SAFETY, "never blocked on the lock file", || {
                blocked_on(pid, lock_ino)
            }) {
                drop(gate);
                let st = wait_bounded(k, SAFETY, "forcer");
                panic!(
                    "trial {trial}: a forcer ended without waiting for the removers' lock: \
                     {st:?} {}",
                    stderr_of(k)
                );
            }
        }
        assert_eq!(
            s.read("S"),
            "old lock\n",
            "trial {trial}: removed while gated"
        );
        gate.release();
        let results: Vec<(i32, String)> = kids
            .iter_mut()
            .map(|k| {
                let st = wait_bounded(k, SAFETY, "forcer");
                (code_of(st), stderr_of(k))
            })
            .collect();
        let what = format!("trial {trial}: {results:?}");
        let winners = results.iter().filter(|(c, _)| *c == 0).count();
        assert_eq!(winners, 1, "{what}");
        for (code, err) in &results {
            let want = match code {
                0 => forcing("S"),
                _ => forcing("S") + &sorry("S"),
            };
            assert_eq!(*err, want, "{what}");
        }
        assert_eq!(s.read("S"), "0", "{what}: the winner's lock");
        let meta = s.path("S").symlink_metadata().expect("lstat S");
        assert_eq!(meta.nlink(), 1, "{what}");
        assert_no_temps(&s, &what);
    }
}

// 6. The failure cleanup removes only what is still its own ------------------------------

/// `lockfile -N -r 1 a held`: `a` is locked, `held` is waited for. While it
/// waits, `replace` puts someone else's lock at `a`; when the run gives up
/// on `held` (Sorry, on procmail's schedule), that lock must remain.
///
/// The replacement must come before the cleanup, which is made certain, not
/// hoped for: the run is stopped (SIGSTOP) while it waits, its temp file for
/// `held` is seen to still exist (so it has not given up: the temp file goes
/// before the cleanup begins), `a` is replaced while it cannot run, and only
/// then is it continued. If a loaded machine let the sleeptime N pass before
/// the run could be stopped, the trial is repeated with a longer one.
fn foreign_lock_survives_give_up(replace: impl Fn(&Scratch)) {
    for secs in [1, 3, 9] {
        let s = Scratch::new();
        s.write("held", "");
        let sleeptime = format!("-{secs}");
        let mut w = spawn(&s, &[&sleeptime, "-r", "1", "a", "held"]);
        let pid = w.id();
        let waited = wait_until_waiting(pid, &s);
        let mut inodes = None;
        if waited {
            send_signal(pid, libc::SIGSTOP);
            watch_until(pid, SAFETY, "never stopped", || stopped(pid));
            if has_temp(&s, pid) {
                let mine = ino(&s, "a");
                replace(&s);
                inodes = Some((mine, ino(&s, "a"), s.read("a")));
            }
            send_signal(pid, libc::SIGCONT);
        }
        let st = wait_bounded(&mut w, SAFETY, "run giving up");
        let err = stderr_of(&mut w);
        assert_eq!(code_of(st), 73, "{err}");
        assert_eq!(err, sorry("held"));
        assert_eq!(s.read("held"), "", "the held lock is untouched");
        assert_no_temps(&s, "after giving up");
        let Some((mine, foreign, contents)) = inodes else {
            eprintln!(
                "note: the run gave up (sleeptime {secs} s) before it could be stopped; again"
            );
            continue;
        };
        assert!(
            s.exists("a"),
            "the run's cleanup removed the lock that replaced its own \
             (inode {foreign}; the run's own was inode {mine})"
        );
        assert_eq!(ino(&s, "a"), foreign);
        assert_eq!(s.read("a"), contents);
        return;
    }
    panic!("the run gave up each time before it could be stopped, even with 9 s to do it");
}

#[test]
fn failure_cleanup_spares_a_lock_forced_by_another_run() {
    // The realistic case: `a` looks stale to someone with -l, who forces it
    // and takes it.
    foreign_lock_survives_give_up(|s| {
        s.age("a", 100);
        lockfile(s)
            .args(["-l", "10", "-s0", "-r0", "a"])
            .run()
            .success()
            .stderr(&forcing("a"));
    });
}

#[test]
fn failure_cleanup_spares_a_lock_removed_and_made_again() {
    // Someone removes `a` and makes their own. The file system may give the
    // new file the inode number the run's lock had (ext4 reuses a freed
    // inode at once), so (dev, inode) alone cannot tell them apart.
    foreign_lock_survives_give_up(|s| {
        std::fs::remove_file(s.path("a")).expect("rm a");
        s.write("a", "foreign\n");
    });
}

// 7. Signals while waiting ------------------------------------------------------------------

#[test]
fn a_fatal_signal_while_waiting_removes_the_locks_made_and_the_temp_file() {
    // procmail dies of these without cleaning up: `a` and maybe its temp
    // file remain. lockkit removes both, then dies of the signal.
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGALRM] {
        let name = signal_name(sig);
        let s = Scratch::new();
        s.write("held", "");
        let mut w = spawn(&s, &[NEVER, "a", "b", "held"]);
        assert!(
            wait_until_waiting(w.id(), &s),
            "SIG{name}: the run ended early"
        );
        assert!(s.exists("a") && s.exists("b"), "SIG{name}");
        send_signal(w.id(), sig);
        let st = wait_bounded(&mut w, SAFETY, &format!("run sent SIG{name}"));
        assert_eq!(
            st.signal(),
            Some(sig),
            "SIG{name}: {st:?} {}",
            stderr_of(&mut w)
        );
        assert!(!s.exists("a"), "SIG{name}: `a` left behind");
        assert!(!s.exists("b"), "SIG{name}: `b` left behind");
        assert_eq!(s.read("held"), "", "SIG{name}: the held lock");
        assert_no_temps(&s, &format!("SIG{name}"));
    }
}

#[test]
fn a_give_up_signal_while_waiting_exits_75_and_removes_the_locks_made() {
    for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
        let name = signal_name(sig);
        let s = Scratch::new();
        s.write("held", "");
        let mut w = spawn(&s, &[NEVER, "a", "b", "held", "c"]);
        assert!(
            wait_until_waiting(w.id(), &s),
            "SIG{name}: the run ended early"
        );
        send_signal(w.id(), sig);
        let st = wait_bounded(&mut w, SAFETY, &format!("run sent SIG{name}"));
        let err = stderr_of(&mut w);
        assert_eq!(code_of(st), 75, "SIG{name}: {err}");
        assert_eq!(
            err, "lockfile: Signal received, giving up on \"held\"\n",
            "SIG{name}"
        );
        for f in ["a", "b", "c"] {
            assert!(!s.exists(f), "SIG{name}: `{f}` left behind");
        }
        assert_eq!(s.read("held"), "", "SIG{name}: the held lock");
        assert_no_temps(&s, &format!("SIG{name}"));
    }
}

#[test]
fn a_fatal_signal_spares_a_lock_forced_by_another_run() {
    // The signal cleanup, too, must remove only locks still the run's own.
    let s = Scratch::new();
    s.write("held", "");
    let mut w = spawn(&s, &[NEVER, "a", "held"]);
    assert!(wait_until_waiting(w.id(), &s), "the run ended early");
    s.age("a", 100);
    lockfile(&s)
        .args(["-l", "10", "-s0", "-r0", "a"])
        .run()
        .success()
        .stderr(&forcing("a"));
    let theirs = ino(&s, "a");
    send_signal(w.id(), libc::SIGUSR1);
    let st = wait_bounded(&mut w, SAFETY, "run sent SIGUSR1");
    assert_eq!(st.signal(), Some(libc::SIGUSR1), "{}", stderr_of(&mut w));
    assert!(
        s.exists("a"),
        "the signal cleanup removed the lock another run forced and took"
    );
    assert_eq!(ino(&s, "a"), theirs);
    assert_no_temps(&s, "after SIGUSR1");
}

// 8. No roll-over waits -------------------------------------------------------------------------

#[test]
fn five_and_nine_free_files_are_locked_in_one_run() {
    // procmail needs 1 s and 2 s for these (a new temp-name second every
    // four attempts); only the result is checked here.
    for files in [
        &["a", "b", "c", "d", "e"][..],
        &["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"][..],
    ] {
        let s = Scratch::new();
        lockfile(&s).args(files).run().success().stderr("");
        for f in files {
            assert_eq!(s.read(f), "0", "{f}");
        }
        assert_no_temps(&s, &format!("{files:?}"));
    }
}

// Help and version (lockkit extensions) ------------------------------------

#[test]
fn help_and_version_are_extensions() {
    let s = Scratch::new();
    let out = TestCommand::lockkit(&s, "lockfile").arg("--help").run();
    out.success().stderr("");
    for needle in ["Usage: lockfile -v", "\t-ml\t", "Examples:"] {
        assert!(out.stdout.contains(needle), "{needle}\n{out}");
    }
    let out = TestCommand::lockkit(&s, "lockfile").arg("--version").run();
    out.success();
    assert!(
        out.stdout
            .starts_with(&format!("lockfile (lockkit {})", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    // Like -h, it ends the run and undoes what the run did.
    TestCommand::lockkit(&s, "lockfile")
        .args(["a", "--help"])
        .run()
        .success();
    assert!(!s.exists("a"), "a lock made before --help was left behind");
}
