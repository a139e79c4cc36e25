//! `flock --single-flight`: one run of the command for the callers that
//! come while it runs, each of them exiting with its status.
//!
//! A run is held open by its command blocking on a FIFO until the test
//! opens it for writing: the test decides when a run ends, never a sleep.
//! Runs are counted by the lines their commands append to a file.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::Duration;

use crate::util::{
    Scratch, TestCommand, code_of, race, send_signal, stderr_of, wait_bounded, wait_until_blocked,
};

const SAFETY: Duration = Duration::from_secs(30);

/// The command of every run: append `$1` (the caller's name) to `runs`;
/// the first run of the file (none recorded in `runs` yet) says `ready`
/// and waits for `fifo` to be opened for writing. It exits with
/// `base` + the number of runs before it.
const RUN: &str = r#"n=$(wc -l < runs); echo "$1" >> runs
if [ "$n" -eq 0 ]; then echo ready; exec 3<fifo; fi
exit $(($2 + n))"#;

fn flock(s: &Scratch) -> TestCommand {
    TestCommand::lockkit(s, "flock")
}

/// `flock --single-flight OPTS lock sh -c RUN sh NAME BASE`.
fn caller(s: &Scratch, opts: &[&str], name: &str, base: u8) -> TestCommand {
    flock(s)
        .arg("--single-flight")
        .args(opts)
        .args(["lock", "sh", "-c", RUN, "sh", name])
        .arg(base.to_string())
        .own_process_group()
}

/// A scratch directory with an empty `runs` and the FIFO.
fn scratch() -> Scratch {
    let s = Scratch::new();
    s.write("runs", "");
    let fifo = s.path("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_bits_truncate(0o600),
        0,
    )
    .expect("mkfifo");
    s
}

/// Start the leader of a first run and return once its command runs.
fn leader(s: &Scratch, opts: &[&str], base: u8) -> Child {
    let mut child = caller(s, opts, "leader", base).spawn();
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("leader stdout"))
        .read_line(&mut line)
        .expect("read the leader's readiness");
    assert_eq!(line, "ready\n", "the leader's command did not start");
    child
}

/// Callers that arrive during the run: each is started and seen blocked
/// on the lock before the next one starts.
fn followers(s: &Scratch, opts: &[&str], n: usize, base: u8) -> Vec<Child> {
    (0..n)
        .map(|i| {
            let child = caller(s, opts, &format!("follower{i}"), base).spawn();
            wait_until_blocked(child.id(), &s.path("lock"));
            child
        })
        .collect()
}

/// End the first run: its command was waiting for a writer of the FIFO.
fn end_run(s: &Scratch) {
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .open(s.path("fifo"))
            .expect("open the fifo for writing"),
    );
}

/// Exit code and stderr of a caller.
fn finish(child: &mut Child) -> (i32, String) {
    let st = wait_bounded(child, SAFETY, "single-flight caller");
    (code_of(st), stderr_of(child))
}

fn runs(s: &Scratch) -> Vec<String> {
    s.read("runs").lines().map(str::to_owned).collect()
}

fn record_line(s: &Scratch, key: &str) -> String {
    s.read("lock")
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {key} in the record:\n{}", s.read("lock")))
}

#[test]
fn callers_during_a_run_take_its_status_and_a_later_caller_runs_again() {
    let s = scratch();
    let mut lead = leader(&s, &[], 7);
    let mut waiting = followers(&s, &[], 8, 100);
    let mut verbose = followers(&s, &["--verbose"], 1, 100);
    assert_eq!(record_line(&s, "state"), "running");
    end_run(&s);
    assert_eq!(finish(&mut lead), (7, String::new()));
    for f in &mut waiting {
        assert_eq!(finish(f), (7, String::new()), "a follower");
    }
    let mut v = verbose.pop().expect("the verbose follower");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut v.stdout.take().expect("stdout"), &mut out)
        .expect("read stdout");
    assert_eq!(finish(&mut v), (7, String::new()));
    assert_eq!(out, "flock: took the result of run 1 (status 7)\n");
    assert_eq!(runs(&s), ["leader"], "exactly one run");
    assert_eq!(record_line(&s, "generation"), "1");
    assert_eq!(record_line(&s, "state"), "done");

    // After the end: a new run, with its own status.
    caller(&s, &[], "later", 40)
        .run()
        .code(41)
        .stdout("")
        .stderr("");
    assert_eq!(runs(&s), ["leader", "later"]);
    assert_eq!(record_line(&s, "generation"), "2");
    assert!(record_line(&s, "result").starts_with("2 "));
}

#[test]
fn callers_racing_the_end_of_a_run_get_a_status_of_a_run_after_them() {
    let s = scratch();
    let flock = s.link("flock", &crate::util::lockkit_bin());
    let mut generation = 0;
    for round in 0..4u8 {
        // Each round's statuses are its own: a result of an earlier
        // round (one that ended before these callers came) would show.
        let base = 10 + 40 * round;
        s.write("runs", "");
        let mut lead = leader(&s, &[], base);
        let mut early = followers(&s, &[], 3, base);
        let base_arg = base.to_string();
        let mut racers: Vec<Vec<String>> = (0..12)
            .map(|i| {
                let name = format!("racer{i}");
                [
                    flock.to_str().expect("utf-8 path"),
                    "--single-flight",
                    "lock",
                    "sh",
                    "-c",
                    RUN,
                    "sh",
                    &name,
                    &base_arg,
                ]
                .map(str::to_owned)
                .to_vec()
            })
            .collect();
        // The run ends as the racers start: one of them opens the FIFO.
        racers.insert(6, ["sh", "-c", "exec 4>fifo"].map(str::to_owned).to_vec());
        let results = race(&s, &racers, SAFETY);
        let ran = runs(&s);
        let status_of_run = |k: usize| i32::from(base) + k as i32;
        assert_eq!(finish(&mut lead), (status_of_run(0), String::new()));
        assert_eq!(ran[0], "leader");
        for f in &mut early {
            let (code, err) = finish(f);
            assert!(
                (0..ran.len()).any(|k| code == status_of_run(k)) && err.is_empty(),
                "an early follower: {code} {err:?} (runs {ran:?})"
            );
        }
        for (i, (code, err)) in results.iter().enumerate().filter(|(i, _)| *i != 6) {
            let name = format!("racer{}", if i < 6 { i } else { i - 1 });
            assert!(err.is_empty(), "{name}: {err}");
            match ran.iter().position(|r| *r == name) {
                // It led a run: that run's status.
                Some(k) => assert_eq!(*code, status_of_run(k), "{name} led run {k}"),
                // It followed: the status of a run of this round.
                None => assert!(
                    (0..ran.len()).any(|k| *code == status_of_run(k)),
                    "{name} exited {code}, no run's status (runs {ran:?})"
                ),
            }
        }
        assert_eq!(results[6].0, 0, "the FIFO opener");
        // Every run a caller led, and only those, is counted by the record.
        generation += ran.len();
        assert_eq!(record_line(&s, "generation"), generation.to_string());
    }
}

#[test]
fn the_waiters_of_a_killed_leader_exit_80_and_the_next_caller_runs() {
    let message =
        "flock: lock: the run in progress ended without a result (its leader was killed)\n";
    for opts in [&[][..], &["-o"]] {
        let s = scratch();
        let mut lead = leader(&s, opts, 7);
        let mut waiting = followers(&s, opts, 4, 7);
        send_signal(lead.id(), libc::SIGKILL);
        assert_eq!(code_of(lead.wait().expect("reap the leader")), 128 + 9);
        if opts.is_empty() {
            // The command inherited the lock and still holds it: its
            // waiters wait for it to end.
            end_run(&s);
        }
        for f in &mut waiting {
            assert_eq!(finish(f), (80, message.to_owned()), "{opts:?}");
        }
        if !opts.is_empty() {
            // With -o the lock went with the leader; the command is still
            // waiting for the FIFO.
            end_run(&s);
        }
        assert_eq!(runs(&s), ["leader"]);
        // The killed run's record is a leftover for the next caller.
        caller(&s, opts, "next", 30)
            .run()
            .code(31)
            .stderr("")
            .stdout("");
        assert_eq!(record_line(&s, "generation"), "2");
    }
}

#[test]
fn nonblock_and_timeout_limit_the_wait_for_a_run() {
    let s = scratch();
    let mut lead = leader(&s, &[], 7);
    caller(&s, &["-n", "-E", "9"], "n", 0)
        .run()
        .code(9)
        .stdout("")
        .stderr("");
    caller(&s, &["--nonblock", "--verbose"], "n", 0)
        .run()
        .code(1)
        .stdout("")
        .stderr("flock: failed to get lock\n");
    caller(&s, &["-w", "0.05", "-E", "9", "--verbose"], "w", 0)
        .run()
        .code(9)
        .stdout("")
        .stderr("flock: timeout while waiting to get lock\n");
    let mut patient = followers(&s, &["-w", "1000"], 1, 0);
    end_run(&s);
    assert_eq!(finish(&mut lead), (7, String::new()));
    assert_eq!(finish(&mut patient[0]), (7, String::new()));
    assert_eq!(runs(&s), ["leader"], "no waiter ran the command");
    // No run in progress: -n leads.
    caller(&s, &["-n"], "n", 20).run().code(21);
}

#[test]
fn the_record_file_is_flocks_and_holds_nothing_else() {
    let s = Scratch::new();
    s.link("flock", &crate::util::lockkit_bin());
    TestCommand::script(&s, "umask 027; exec flock --single-flight lock true")
        .run()
        .success();
    let meta = std::fs::metadata(s.path("lock")).expect("stat");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o640
    );
    assert!(s.read("lock").starts_with("lockkit-single-flight 1\nboot "));

    // Someone else's file is not overwritten, nor the command run.
    s.write("script.sh", "#!/bin/sh\necho hi\n");
    flock(&s)
        .args(["--single-flight", "script.sh", "touch", "ran"])
        .run()
        .code(65)
        .stderr(
            "flock: script.sh: holds something other than a single-flight record: \
             not overwriting it\n",
        );
    assert_eq!(s.read("script.sh"), "#!/bin/sh\necho hi\n");
    s.mkdir("dir");
    flock(&s)
        .args(["--single-flight", "dir", "touch", "ran"])
        .run()
        .code(65)
        .stderr("flock: dir: not a regular file, where --single-flight keeps its record\n");
    assert!(!s.exists("ran"));

    // The leader's own errors are its waiters' status too.
    flock(&s)
        .args(["--single-flight", "lock", "./no-such-command-here"])
        .run()
        .code(69)
        .stderr("flock: failed to execute ./no-such-command-here: No such file or directory\n");
    assert!(s.read("lock").contains("\nresult 2 "), "{}", s.read("lock"));
    assert!(s.read("lock").ends_with(" 69\n"), "{}", s.read("lock"));
}

#[test]
fn what_single_flight_cannot_do_is_a_usage_error() {
    let s = Scratch::new();
    s.write("f", "");
    for (args, why) in [
        (
            &["-s", "f", "true"][..],
            "cannot be used with --shared: the run holds the lock alone",
        ),
        (
            &["-u", "f", "true"],
            "cannot be used with --unlock: it runs a command",
        ),
        (
            &["9"],
            "needs a file name, not a descriptor: it keeps its record in the file",
        ),
        (
            &["--fd", "0", "true"],
            "needs a file name, not a descriptor: it keeps its record in the file",
        ),
        (
            &["-F", "f", "true"],
            "cannot be used with --no-fork: the run's status is recorded after it ends",
        ),
        (
            &["--fcntl", "f", "true"],
            "cannot be used with --fcntl, --start or --length: it locks with flock(2)",
        ),
        (
            &["--length", "1", "f", "true"],
            "cannot be used with --fcntl, --start or --length: it locks with flock(2)",
        ),
    ] {
        flock(&s)
            .arg("--single-flight")
            .args(args)
            .run()
            .code(64)
            .stdout("")
            .stderr(&format!("flock: --single-flight {why}\n"));
    }
    assert_eq!(s.read("f"), "", "nothing recorded");
}

#[test]
fn a_record_that_cannot_be_written_is_reported() {
    // A file size limit of 0 (SIGXFSZ ignored) makes the record's write
    // fail with EFBIG: before the run, the command is not run; after it
    // (the limit set by the command on its flock), the leader says so and
    // exits with the command's status, and the run stays `running`.
    let s = Scratch::new();
    s.link("flock", &crate::util::lockkit_bin());
    TestCommand::script(
        &s,
        "trap '' XFSZ; ulimit -f 0; exec flock --single-flight lock touch ran",
    )
    .run()
    .code(73)
    .stderr("flock: lock: cannot record the run: File too large\n");
    assert!(!s.exists("ran"));
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        crate::util::skip("no prlimit to limit a running flock's file size");
        return;
    }
    TestCommand::script(
        &s,
        "trap '' XFSZ; exec flock --single-flight lock sh -c 'prlimit --pid $PPID --fsize=0; exit 4'",
    )
    .run()
    .code(4)
    .stderr("flock: lock: cannot record the run's result: File too large\n");
    assert_eq!(record_line(&s, "state"), "running");
    // Left `running` by a leader that is gone: the next caller leads.
    flock(&s)
        .args(["--single-flight", "lock", "sh", "-c", "exit 5"])
        .run()
        .code(5);
    assert_eq!(record_line(&s, "generation"), "2");
}
