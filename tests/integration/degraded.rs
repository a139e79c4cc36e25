//! Waiting when the kernel refuses what wakes a waiter early — pidfd_open
//! refused by a seccomp filter (ENOSYS as before Linux 5.3, EPERM as in
//! older container profiles), descriptors run short (`ulimit -n`) — and
//! sharing the user's inotify quota among many waiters.
//!
//! A refused pidfd or inotify watch must never end a wait: the waiter falls
//! back to looking again on its own, as the reference tools do, and takes
//! the lock once it is freed. The faults are injected with strace, as the
//! existing inotify test does. Nothing is timed: the test frees the lock
//! once the waiter is waiting ([`wait_until_waiting`]) and waits for the
//! waiter to end, with [`SAFETY`] as the only bound, below the 60 s of the
//! waiter's only scheduled retry.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{
    Diff, Scratch, TestCommand, in_poll, lockkit_bin, stderr_of, wait_bounded, watch_until,
};

const SAFETY: Duration = Duration::from_secs(30);

/// The waiter options whose only scheduled retry is 60 s away.
const SLOW_SCHEDULE: [&str; 4] = ["-r", "1", "-i", "60"];

/// The `.lk…` temp files in the scratch directory.
fn temps(s: &Scratch) -> Vec<String> {
    s.names_starting_with(".lk")
}

/// Block until dotlock `pid` waits: its temp file exists and it is blocked
/// in poll(2). False if it ended first.
fn wait_until_waiting(pid: u32, s: &Scratch) -> bool {
    let prefix = format!(".lk{pid:05}");
    watch_until(pid, SAFETY, "dotlock never started waiting", || {
        temps(s).iter().any(|t| t.starts_with(&prefix)) && in_poll(pid)
    })
}

/// `dotlock ARGS` under strace, with pidfd_open failing with `errno`.
/// Returns strace (whose exit status is the traced dotlock's) and, once it
/// waits, the pid of the traced dotlock.
fn dotlock_without_pidfd(s: &Scratch, errno: &str, args: &[&str]) -> (Child, u32) {
    let mut w = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e"])
        .arg(format!("inject=pidfd_open:error={errno}"))
        .arg(s.link("dotlock", &lockkit_bin()))
        .args(args)
        .current_dir(s.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("strace dotlock");
    let tracer = w.id();
    let child = || {
        std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children"))
            .ok()
            .and_then(|c| c.split_whitespace().next()?.parse::<u32>().ok())
    };
    let mut tracee = 0;
    let waiting = watch_until(tracer, SAFETY, "dotlock never started waiting", || {
        child().is_some_and(|c| {
            tracee = c;
            temps(s)
                .iter()
                .any(|t| t.starts_with(&format!(".lk{c:05}")))
                && in_poll(c)
        })
    });
    assert!(waiting, "the waiter ended early: {}", stderr_of(&mut w));
    (w, tracee)
}

/// Free the lock the test holds, then require the waiter to end with 0.
#[track_caller]
fn release_and_succeed(s: &Scratch, w: &mut Child, what: &str) {
    std::fs::remove_file(s.path("x.lock")).expect("release");
    let st = wait_bounded(w, SAFETY, what);
    assert_eq!(st.code(), Some(0), "{what}: {}", stderr_of(w));
    assert!(
        temps(s).is_empty(),
        "{what}: temp files left: {:?}",
        temps(s)
    );
}

#[test]
fn a_waiter_refused_pidfds_waits_and_takes_the_freed_lock() {
    if !crate::util::strace_or_skip() {
        return;
    }
    for errno in ["ENOSYS", "EPERM"] {
        let s = Scratch::new();
        s.write("x.lock", "held by the test\n");
        let (mut w, _) =
            dotlock_without_pidfd(&s, errno, &[&SLOW_SCHEDULE[..], &["x.lock"]].concat());
        release_and_succeed(&s, &mut w, &format!("waiter without pidfds ({errno})"));
        assert_eq!(s.read("x.lock"), "0\n", "the waiter's lock ({errno})");
    }
}

#[test]
fn a_waiter_refused_pidfds_still_runs_its_command() {
    if !crate::util::strace_or_skip() {
        return;
    }
    for errno in ["ENOSYS", "EPERM"] {
        let s = Scratch::new();
        s.write("x.lock", "held by the test\n");
        let args = [&SLOW_SCHEDULE[..], &["x.lock", "touch", "ran"]].concat();
        let (mut w, _) = dotlock_without_pidfd(&s, errno, &args);
        std::fs::remove_file(s.path("x.lock")).expect("release");
        let st = wait_bounded(&mut w, SAFETY, "command-mode waiter without pidfds");
        assert_eq!(st.code(), Some(0), "{errno}: {}", stderr_of(&mut w));
        assert!(s.exists("ran"), "the command ran ({errno})");
        assert!(
            !s.exists("x.lock"),
            "command mode removes its lock ({errno})"
        );
    }
}

#[test]
fn a_waiter_refused_pidfds_notices_its_holder_die() {
    // -p: the holder's exit changes nothing in the directory; without a
    // pidfd the waiter must judge the lock again on its own.
    if !crate::util::strace_or_skip() {
        return;
    }
    let s = Scratch::new();
    let mut holder = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start cat");
    s.write("x.lock", format!("{}\n", holder.id()));
    let args = [&["-p"], &SLOW_SCHEDULE[..], &["x.lock"]].concat();
    let (mut w, _) = dotlock_without_pidfd(&s, "ENOSYS", &args);
    // Plain lock mode with -p writes its caller's pid: strace's.
    let caller = w.id();
    drop(holder.stdin.take());
    holder.wait().expect("reap cat");
    let st = wait_bounded(&mut w, SAFETY, "waiter whose holder died, without pidfds");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    assert_eq!(s.read("x.lock"), format!("{caller}\n"));
}

#[test]
fn a_waiter_refused_pidfds_still_gives_up_when_its_parent_dies() {
    // As dotlock::a_waiter_whose_parent_dies_gives_up_with_5, with every
    // process traced and pidfd_open refused: the parent's exit is seen by
    // getppid(2). The waiter's parent (an `sh`) is killed; the waiter is
    // then reparented to a python process that made itself a child
    // subreaper, so that its exit status can be collected and reported.
    if !crate::util::strace_or_skip() {
        return;
    }
    crate::dotlock::parent_dies_while_waiting(
        "exec strace -f -qq -o /dev/null -e inject=pidfd_open:error=ENOSYS",
        "waiter whose parent died, without pidfds",
    );
}

/// `sh -c 'ulimit -n N; exec dotlock ARGS'` in the background.
fn dotlock_with_fd_limit(s: &Scratch, limit: u32, args: &[&str]) -> Child {
    s.link("dotlock", &lockkit_bin());
    let script = format!("ulimit -n {limit} && exec dotlock \"$@\"");
    TestCommand::script(s, &script)
        .arg("sh")
        .args(args)
        .own_process_group()
        .spawn()
}

#[test]
fn a_waiter_short_of_descriptors_waits_and_takes_the_freed_lock() {
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    let mut w = dotlock_with_fd_limit(&s, 4, &[&SLOW_SCHEDULE[..], &["x.lock"]].concat());
    assert!(
        wait_until_waiting(w.id(), &s),
        "ended early: {}",
        stderr_of(&mut w)
    );
    release_and_succeed(&s, &mut w, "waiter under ulimit -n 4");
    assert_eq!(s.read("x.lock"), "0\n");
}

#[test]
fn a_waiter_short_of_descriptors_still_runs_its_command() {
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    let args = [&SLOW_SCHEDULE[..], &["x.lock", "touch", "ran"]].concat();
    let mut w = dotlock_with_fd_limit(&s, 4, &args);
    assert!(
        wait_until_waiting(w.id(), &s),
        "ended early: {}",
        stderr_of(&mut w)
    );
    std::fs::remove_file(s.path("x.lock")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "command-mode waiter under ulimit -n 4");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    assert!(s.exists("ran"), "the command ran");
    assert!(!s.exists("x.lock"), "command mode removes its lock");
}

// The inotify quota ---------------------------------------------------------

/// How many inotify instances process `pid` holds.
fn inotify_instances(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|l| l.as_os_str() == "anon_inode:inotify")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn many_waiters_share_one_inotify_instance_and_all_take_the_lock_in_turn() {
    const WAITERS: usize = 20;
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    // Each command counts the inotify instances its dotlock (the parent)
    // holds while the command runs: none.
    let command = "ls -l /proc/$PPID/fd | grep -c anon_inode:inotify >> during; true";
    let mut waiters: Vec<Child> = (0..WAITERS)
        .map(|_| {
            TestCommand::lockkit(&s, "dotlock")
                .args(SLOW_SCHEDULE)
                .args(["x.lock", "sh", "-c", command])
                .own_process_group()
                .spawn()
        })
        .collect();
    for w in &mut waiters {
        let pid = w.id();
        assert!(wait_until_waiting(pid, &s), "ended early: {}", stderr_of(w));
    }
    let holding: Vec<usize> = waiters.iter().map(|w| inotify_instances(w.id())).collect();
    let total: usize = holding.iter().sum();
    assert!(
        total <= 1,
        "{total} inotify instances among {WAITERS} waiters of one lock: {holding:?}"
    );
    // Freed once, the lock passes from waiter to waiter, each woken by an
    // event (their own retries are 60 s away).
    std::fs::remove_file(s.path("x.lock")).expect("release");
    for w in &mut waiters {
        let st = wait_bounded(w, SAFETY, "a waiter in the queue");
        assert_eq!(st.code(), Some(0), "{}", stderr_of(w));
    }
    let during = s.read("during");
    assert_eq!(
        during.lines().count(),
        WAITERS,
        "every command ran: {during}"
    );
    assert!(
        during.lines().all(|n| n == "0"),
        "inotify instances held by dotlock while its command ran: {during}"
    );
    assert!(!s.exists("x.lock"));
    assert!(temps(&s).is_empty(), "temp files left: {:?}", temps(&s));
}

// lockfile ---------------------------------------------------------------

#[test]
fn lockfile_takes_a_free_lock_with_few_descriptors_as_procmail_does() {
    for limit in [4, 5, 6] {
        Diff::lockfile_script(&format!(
            "ulimit -n {limit} && lockfile x.lock; echo \"exit $?\"; ls -A"
        ))
        .check();
    }
}

/// `lockfile` under `ulimit -n 5`, waiting for a held `x.lock` (its only
/// scheduled retry an hour away).
fn lockfile_waiting_with_5_descriptors() -> (Scratch, Child) {
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    s.link("lockfile", &lockkit_bin());
    let mut w = TestCommand::script(&s, "ulimit -n 5 && exec lockfile -3600 -r 1 x.lock")
        .own_process_group()
        .spawn();
    let pid = w.id();
    let waiting = watch_until(pid, SAFETY, "lockfile never started waiting", || {
        !s.names_starting_with("_").is_empty() && in_poll(pid)
    });
    assert!(waiting, "ended early: {}", stderr_of(&mut w));
    (s, w)
}

#[test]
fn lockfile_waits_for_a_held_lock_with_few_descriptors() {
    let (s, mut w) = lockfile_waiting_with_5_descriptors();
    std::fs::remove_file(s.path("x.lock")).expect("release");
    let st = wait_bounded(&mut w, SAFETY, "lockfile under ulimit -n 5");
    assert_eq!(st.code(), Some(0), "{}", stderr_of(&mut w));
    assert_eq!(s.read("x.lock"), "0");
}

// Squatters on the relay's socket names -----------------------------------

/// The abstract socket name of the `index`th watcher of `x.lock` in the
/// scratch directory, for effective uid `uid` (as `src/lock/relay.rs`
/// derives it).
fn relay_name(s: &Scratch, uid: u32, index: u32) -> String {
    use std::os::unix::fs::MetadataExt;
    let dir = std::fs::metadata(s.dir()).expect("stat scratch");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in b"x.lock" {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "lockkit/wait/{uid:x}/{:x}/{:x}/{h:016x}/{index}",
        dir.dev(),
        dir.ino()
    )
}

/// A process that binds and listens on abstract socket `name` (as uid
/// 65534 if `foreign`), accepts nobody and never writes, and lives until
/// its stdin closes: a `cat` that inherits the listener, made before the
/// exec. When this returns, the exec has happened, so the name is bound.
fn squatter(s: &Scratch, foreign: bool, name: &str) -> Child {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let addr = SocketAddrUnix::new_abstract_name(name.as_bytes()).expect("abstract name");
    let mut cmd = Command::new("cat");
    cmd.current_dir(s.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec only system calls, no allocation.
    unsafe {
        cmd.pre_exec(move || {
            if foreign
                && (libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresgid(65534, 65534, 65534) != 0
                    || libc::setresuid(65534, 65534, 65534) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            let sock = rustix::net::socket_with(
                AddressFamily::UNIX,
                SocketType::STREAM,
                SocketFlags::empty(),
                None,
            )?;
            rustix::net::bind(&sock, &addr)?;
            rustix::net::listen(&sock, 1000)?;
            // Kept open across the exec.
            std::mem::forget(sock);
            Ok(())
        });
    }
    cmd.spawn().expect("start squatter")
}

fn end_squatter(mut c: Child) {
    drop(c.stdin.take());
    c.wait().expect("reap squatter");
}

#[test]
fn a_silent_watcher_only_delays_a_waiter_until_its_next_attempt() {
    // Someone of our uid holds the watcher's name and never tells: the
    // waiter follows it (no inotify of its own) and still takes the freed
    // lock at its next scheduled attempt (1 s away).
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    let uid = rustix::process::geteuid().as_raw();
    let silent = squatter(&s, false, &relay_name(&s, uid, 0));
    let mut w = TestCommand::lockkit(&s, "dotlock")
        .args(["-r", "3", "-i", "1", "x.lock"])
        .own_process_group()
        .spawn();
    assert!(
        wait_until_waiting(w.id(), &s),
        "ended early: {}",
        stderr_of(&mut w)
    );
    assert_eq!(
        inotify_instances(w.id()),
        0,
        "the waiter follows the squatter"
    );
    release_and_succeed(&s, &mut w, "waiter behind a silent watcher");
    end_squatter(silent);
}

#[test]
fn a_watcher_name_held_by_another_user_is_passed_over() {
    // Anyone may bind an abstract name: a listener of another uid is not
    // followed; the waiter watches under the next name, woken by the
    // release (its own retry is 60 s away).
    if !crate::util::root_or_skip("to run a squatter as uid 65534") {
        return;
    }
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    let uid = rustix::process::geteuid().as_raw();
    let foreign = squatter(&s, true, &relay_name(&s, uid, 0));
    let mut w = TestCommand::lockkit(&s, "dotlock")
        .args([&SLOW_SCHEDULE[..], &["x.lock"]].concat())
        .own_process_group()
        .spawn();
    assert!(
        wait_until_waiting(w.id(), &s),
        "ended early: {}",
        stderr_of(&mut w)
    );
    assert_eq!(inotify_instances(w.id()), 1, "the waiter watches itself");
    release_and_succeed(&s, &mut w, "waiter past another user's squatter");
    end_squatter(foreign);
}

#[test]
fn lockfile_short_of_descriptors_still_gives_up_on_a_signal() {
    // No descriptor to spare for the signal pipe: the handler's EINTR ends
    // the wait instead.
    let (s, mut w) = lockfile_waiting_with_5_descriptors();
    let pid = w.id();
    crate::util::send_signal(pid, libc::SIGTERM);
    let st = wait_bounded(&mut w, SAFETY, "lockfile told to stop");
    assert_eq!(st.code(), Some(75));
    assert_eq!(
        stderr_of(&mut w),
        "lockfile: Signal received, giving up on \"x.lock\"\n"
    );
    assert_eq!(s.read("x.lock"), "held by the test\n");
    assert!(s.names_starting_with("_").is_empty(), "temp file left");
}

#[test]
fn a_waiter_short_of_descriptors_still_reads_the_holders_pid() {
    // With -p, a live holder keeps even an old lock. The waiter's own
    // descriptors (inotify, pidfds, sockets) must never take the one that
    // reading the holder's pid needs: the lock would then be judged by its
    // age alone, and broken. Each limit ends with "gave up" (4), the lock
    // untouched, as with dotlockfile.
    let s = Scratch::new();
    let mut holder = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start cat");
    s.write("x.lock", format!("{}\n", holder.id()));
    s.age("x.lock", 600);
    let mut waiters: Vec<(u32, Child)> = (4..=9)
        .map(|n| {
            let args = ["-p", "-r", "1", "-i", "1", "x.lock"];
            (n, dotlock_with_fd_limit(&s, n, &args))
        })
        .collect();
    for (n, w) in &mut waiters {
        let st = wait_bounded(w, SAFETY, "waiter of a live holder's old lock");
        assert_eq!(st.code(), Some(4), "ulimit -n {n}: {}", stderr_of(w));
    }
    assert_eq!(s.read("x.lock"), format!("{}\n", holder.id()), "the lock");
    drop(holder.stdin.take());
    holder.wait().expect("reap cat");
}

#[test]
fn a_watcher_out_of_descriptors_leaves_further_waiters_to_another_watcher() {
    // The first waiter (the watcher) may hold 10 descriptors: after its
    // listener, inotify instance, parent pidfd and one follower, the next
    // would eat into the three kept for the lock work. So it closes its
    // listener, and the later waiters elect a second watcher: two inotify
    // instances in all, and everybody still woken by events.
    let s = Scratch::new();
    s.write("x.lock", "held by the test\n");
    // (No redirection: dash cannot save a descriptor under `ulimit -n 10`.)
    let command = ["sh", "-c", "exec touch ran.$PPID"];
    let args = [&SLOW_SCHEDULE[..], &["x.lock"], &command[..]].concat();
    let mut first = dotlock_with_fd_limit(&s, 10, &args);
    assert!(
        wait_until_waiting(first.id(), &s),
        "ended early: {}",
        stderr_of(&mut first)
    );
    assert_eq!(inotify_instances(first.id()), 1, "the first waiter watches");
    let mut waiters = vec![first];
    for _ in 0..5 {
        let mut w = TestCommand::lockkit(&s, "dotlock")
            .args(&args)
            .own_process_group()
            .spawn();
        assert!(
            wait_until_waiting(w.id(), &s),
            "ended early: {}",
            stderr_of(&mut w)
        );
        waiters.push(w);
    }
    let holding: Vec<usize> = waiters.iter().map(|w| inotify_instances(w.id())).collect();
    assert_eq!(
        holding.iter().sum::<usize>(),
        2,
        "inotify instances: {holding:?}"
    );
    std::fs::remove_file(s.path("x.lock")).expect("release");
    for w in &mut waiters {
        let st = wait_bounded(w, SAFETY, "a waiter in the queue");
        assert_eq!(st.code(), Some(0), "{}", stderr_of(w));
    }
    assert_eq!(
        s.names_starting_with("ran.").len(),
        waiters.len(),
        "every command ran"
    );
    assert!(!s.exists("x.lock"));
}
