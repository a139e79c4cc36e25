//! `flock --slots N`: N-slot semaphores (docs/man/lockkit-flock.1.md,
//! SLOTS). Every wait here is for a marker a process writes, or for a lock
//! the kernel lists in /proc/locks; no sleeps, no timing assertions.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::util::{Scratch, TestCommand, code_of, kill_group, wait_bounded};

const LIMIT: Duration = Duration::from_secs(60);
/// Where ticket `t`'s queue byte is (src/lock/slots/layout.rs).
const QUEUE_BASE: u64 = 1 << 42;

fn flock(s: &Scratch) -> TestCommand {
    TestCommand::lockkit(s, "flock")
}

/// `flock --slots n <extra…> sem sh -c script` in its own process group.
fn start(s: &Scratch, n: u32, extra: &[&str], script: &str) -> Child {
    flock(s)
        .arg("--slots")
        .arg(n.to_string())
        .args(extra)
        .args(["sem", "sh", "-c", script])
        .own_process_group()
        .spawn()
}

/// A holder: its command writes its slot to `<name>.slot`, says so on
/// stdout, and holds the slot until its stdin closes (or it is killed).
struct SlotHolder {
    child: Child,
}

impl SlotHolder {
    fn start(s: &Scratch, n: u32, name: &str) -> SlotHolder {
        let mut child = start(
            s,
            n,
            &[],
            &format!("echo \"${{LOCKKIT_SLOT-none}}\" > {name}.slot; echo ready; exec cat"),
        );
        let mut line = String::new();
        let out = child.stdout.as_mut().expect("stdout");
        // Blocks until the command runs, holding its slot.
        BufReader::new(out)
            .read_line(&mut line)
            .expect("read readiness");
        assert_eq!(line, "ready\n", "holder {name} never got a slot");
        SlotHolder { child }
    }

    /// Let go normally: the command ends, then flock.
    fn release(mut self) {
        drop(self.child.stdin.take());
        let st = wait_bounded(&mut self.child, LIMIT, "holder");
        assert_eq!(code_of(st), 0);
    }
}

impl Drop for SlotHolder {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Wait until someone holds ticket `t`'s queue byte of `sem` (a waiter
/// has taken its place in the queue). The kernel has no event for this,
/// so /proc/locks is read repeatedly, bounded by the safety limit.
fn wait_until_queued(s: &Scratch, t: u64) {
    let ino = s
        .path("sem")
        .metadata()
        .expect("stat sem")
        .ino()
        .to_string();
    let start = (QUEUE_BASE + t).to_string();
    let began = Instant::now();
    loop {
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        let queued = locks.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"OFDLCK")
                && f.get(3) == Some(&"WRITE")
                && f.get(5).and_then(|d| d.rsplit(':').next()) == Some(ino.as_str())
                && f.get(6) == Some(&start.as_str())
        });
        if queued {
            return;
        }
        assert!(began.elapsed() < LIMIT, "ticket {t} never queued");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn finish(child: &mut Child, what: &str) -> i32 {
    code_of(wait_bounded(child, LIMIT, what))
}

#[test]
fn sixteen_workers_on_three_slots() {
    let s = Scratch::new();
    s.link("flock", &crate::util::lockkit_bin());
    s.write("count", "0\n");
    s.write("max", "0\n");
    s.write("inuse", "");
    // Enter and leave under a separate lock, counting concurrent holders
    // and the slots in use.
    let worker = r#"
        flock c.lock sh -c '
            n=$(($(cat count) + 1)); echo $n > count
            [ $n -gt $(cat max) ] && echo $n > max
            grep -qx "$LOCKKIT_SLOT" inuse && echo "slot $LOCKKIT_SLOT twice" >> errors
            echo "$LOCKKIT_SLOT" >> inuse; echo "$LOCKKIT_SLOT $LOCKKIT_SLOTS" >> ran'
        i=0; while [ $i -lt 20 ]; do i=$((i + 1)); done
        flock c.lock sh -c '
            echo $(($(cat count) - 1)) > count
            grep -vx "$LOCKKIT_SLOT" inuse > inuse.new; mv inuse.new inuse'
    "#;
    let mut workers: Vec<Child> = (0..16).map(|_| start(&s, 3, &[], worker)).collect();
    for w in &mut workers {
        assert_eq!(finish(w, "worker"), 0);
    }
    assert!(!s.exists("errors"), "{}", s.read("errors"));
    let max: u32 = s.read("max").trim().parse().expect("max");
    assert!((1..=3).contains(&max), "{max} holders at once");
    assert_eq!(s.read("count").trim(), "0");
    let ran = s.read("ran");
    assert_eq!(ran.lines().count(), 16, "{ran}");
    for line in ran.lines() {
        assert!(["0 3", "1 3", "2 3"].contains(&line), "{line}");
    }
}

#[test]
fn a_killed_holder_frees_its_slot() {
    let s = Scratch::new();
    let a = SlotHolder::start(&s, 2, "a");
    let b = SlotHolder::start(&s, 2, "b");
    let mut waiter = start(&s, 2, &[], "echo $LOCKKIT_SLOT > got");
    wait_until_queued(&s, 0);
    // flock and its command, both holding the descriptor, die at once.
    drop(a);
    assert_eq!(finish(&mut waiter, "waiter"), 0);
    assert_eq!(s.read("got"), s.read("a.slot"));
    b.release();
}

#[test]
fn nonblocking_when_full_and_timeout() {
    let s = Scratch::new();
    let h = SlotHolder::start(&s, 1, "h");
    flock(&s)
        .args(["--slots", "1", "-n", "sem", "echo", "never"])
        .run()
        .code(1)
        .stdout("")
        .stderr("");
    flock(&s)
        .args(["--slots", "1", "-n", "-E", "7", "--verbose", "sem", "true"])
        .run()
        .code(7)
        .stderr("flock: failed to get lock\n");
    flock(&s)
        .args(["--slots", "1", "-w", "0.05", "--verbose", "sem", "true"])
        .run()
        .code(1)
        .stderr("flock: timeout while waiting to get lock\n");
    // Free again once the holder is gone; -w with time to spare.
    h.release();
    flock(&s)
        .args([
            "--slots",
            "1",
            "-w",
            "30",
            "sem",
            "sh",
            "-c",
            "echo $LOCKKIT_SLOT",
        ])
        .run()
        .success()
        .stdout("0\n");
}

#[test]
fn waiters_are_served_in_the_order_they_came() {
    let s = Scratch::new();
    let h = SlotHolder::start(&s, 1, "h");
    let mut waiters = Vec::new();
    for (t, name) in ["A", "B", "C"].iter().enumerate() {
        waiters.push(start(&s, 1, &[], &format!("echo {name} >> order")));
        wait_until_queued(&s, t as u64);
    }
    h.release();
    for w in &mut waiters {
        assert_eq!(finish(w, "waiter"), 0);
    }
    assert_eq!(s.read("order"), "A\nB\nC\n");
}

#[test]
fn exclusive_takes_every_slot_and_newcomers_queue_behind_it() {
    let s = Scratch::new();
    s.link("flock", &crate::util::lockkit_bin());
    let h0 = SlotHolder::start(&s, 2, "h0");
    let h1 = SlotHolder::start(&s, 2, "h1");
    let mut all = start(
        &s,
        2,
        &["-x"],
        "echo \"all ${LOCKKIT_SLOT-unset} $LOCKKIT_SLOTS\" >> log; \
         flock -n --slots 2 sem true; echo \"other $?\" >> log",
    );
    wait_until_queued(&s, 0);
    let mut one = start(&s, 2, &["-s"], "echo \"one $LOCKKIT_SLOT\" >> log");
    wait_until_queued(&s, 1);
    h0.release();
    // A slot is free, but two are waiting for it in turn.
    flock(&s)
        .args(["--slots", "2", "-n", "sem", "true"])
        .run()
        .code(1);
    h1.release();
    assert_eq!(finish(&mut all, "-x"), 0);
    assert_eq!(finish(&mut one, "-s"), 0);
    // Both slots free at once when -x ends: either may be the one.
    let log = s.read("log");
    assert!(
        [
            "all unset 2\nother 1\none 0\n",
            "all unset 2\nother 1\none 1\n"
        ]
        .contains(&log.as_str()),
        "{log}"
    );
}

#[test]
fn everyone_must_say_the_same_number() {
    let s = Scratch::new();
    let h = SlotHolder::start(&s, 3, "h");
    for extra in [&[][..], &["-n"], &["-x"]] {
        flock(&s)
            .args(["--slots", "4"])
            .args(extra)
            .args(["sem", "echo", "never"])
            .run()
            .code(65)
            .stdout("")
            .stderr(
                "flock: sem: in use with --slots 3; everyone sharing it must give the \
                 same number (this one says 4)\n",
            );
    }
    flock(&s)
        .args(["--slots", "3", "sem", "sh", "-c", "echo $LOCKKIT_SLOT"])
        .run()
        .success()
        .stdout("1\n");
    h.release();
    // Nobody left: another number is fine now.
    flock(&s)
        .args(["--slots", "5", "sem", "true"])
        .run()
        .success();
}

#[test]
fn a_file_with_other_content_is_left_alone() {
    let s = Scratch::new();
    s.write("data", "precious\n");
    flock(&s)
        .args(["--slots", "2", "data", "true"])
        .run()
        .code(65)
        .stderr(
            "flock: data: not a --slots file: it holds 9 bytes of other data \
             (--slots keeps only an 8-byte counter in its file)\n",
        );
    assert_eq!(s.read("data"), "precious\n");
}

#[test]
fn no_fork_and_close_keep_their_meanings() {
    let s = Scratch::new();
    s.link("flock", &crate::util::lockkit_bin());
    // -F: the command itself holds the slot.
    flock(&s)
        .args(["--slots", "1", "-F", "sem", "sh", "-c"])
        .arg("echo $LOCKKIT_SLOT; flock -n --slots 1 sem true; echo $?")
        .run()
        .success()
        .stdout("0\n1\n");
    // -o: the command does not have the descriptor; flock holds the slot.
    flock(&s)
        .args(["--slots", "1", "-o", "sem", "sh", "-c"])
        .arg("ls -l /proc/$$/fd | grep -c /sem; flock -n --slots 1 sem true; echo $?")
        .run()
        .success()
        .stdout("0\n1\n");
}

#[test]
fn usage_errors_say_why() {
    let s = Scratch::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--slots", "0", "f", "true"],
            "number of slots out of range (expected 1 to 65536)",
        ),
        (
            &["--slots", "65537", "f", "true"],
            "number of slots out of range (expected 1 to 65536)",
        ),
        (
            &["--slots", "-1", "f", "true"],
            "number of slots out of range (expected 1 to 65536)",
        ),
        (
            &["--slots", "two", "f", "true"],
            "invalid number of slots: 'two'",
        ),
        (
            &["--slots", "2", "-u", "f", "true"],
            "--slots and --unlock are incompatible: a slot is let go when the command ends",
        ),
        (
            &["--slots", "2", "--fd", "0", "true"],
            "--slots and --fd are incompatible: flock must open the semaphore's file itself",
        ),
        (
            &["--slots", "2", "--start", "1", "f", "true"],
            "--slots and --start/--length are incompatible: the semaphore's byte ranges are fixed",
        ),
        (
            &["--slots", "2", "f"],
            "--slots requires a file and a command: a slot is held while the command runs",
        ),
        (
            &["--slots", "2", "9"],
            "--slots requires a file and a command: a slot is held while the command runs",
        ),
    ];
    for (args, message) in cases {
        flock(&s)
            .args(*args)
            .run()
            .code(64)
            .stdout("")
            .stderr(&format!("flock: {message}\n"));
    }
    assert!(!s.exists("f"), "a usage error creates nothing");
    // --fcntl is what --slots uses anyway.
    flock(&s)
        .args(["--slots", "2", "--fcntl", "f", "true"])
        .run()
        .success();
}

#[test]
fn an_inherited_blocked_sigalrm_neither_stalls_nor_prolongs_a_wait() {
    let s = Scratch::new();
    let a = SlotHolder::start(&s, 2, "a");
    let b = SlotHolder::start(&s, 2, "b");
    // Waiting for either slot, then giving up at the deadline: the threads
    // waiting for each slot must still be stopped.
    // SAFETY: block_sigalrm is async-signal-safe.
    unsafe { flock(&s).pre_exec(crate::util::block_sigalrm) }
        .args(["--slots", "2", "-w", "0.05", "sem", "true"])
        .run()
        .code(1);
    // SAFETY: as above.
    let mut waiter = unsafe { flock(&s).pre_exec(crate::util::block_sigalrm) }
        .args([
            "--slots",
            "2",
            "sem",
            "sh",
            "-c",
            "echo $LOCKKIT_SLOT > got",
        ])
        .own_process_group()
        .spawn();
    wait_until_queued(&s, 0);
    a.release();
    assert_eq!(finish(&mut waiter, "waiter"), 0);
    assert_eq!(s.read("got"), s.read("a.slot"));
    b.release();
}

#[test]
fn a_waiter_killed_in_the_queue_leaves_it() {
    let s = Scratch::new();
    let h = SlotHolder::start(&s, 1, "h");
    let mut waiters = Vec::new();
    for (t, name) in ["A", "B", "C", "D"].iter().enumerate() {
        waiters.push(start(&s, 1, &[], &format!("echo {name} >> order")));
        wait_until_queued(&s, t as u64);
    }
    // B, in the middle, and D, last, die waiting.
    kill_group(&mut waiters[3]);
    kill_group(&mut waiters[1]);
    h.release();
    assert_eq!(finish(&mut waiters[0], "A"), 0);
    assert_eq!(finish(&mut waiters[2], "C"), 0);
    assert_eq!(s.read("order"), "A\nC\n");
}
