//! `--watchdog` / `--grace` (flock and dotlock command modes) and flock's
//! `--forward-signals`: a command whose lock is lost is stopped (SIGTERM to
//! it and every process it started, SIGKILL after the grace period), the
//! tool says what happened and exits 79; harmless changes stop nothing.
//!
//! The command itself changes the lock where it can (no coordination
//! needed); otherwise it says `ready` once its trap is set, and the test
//! waits for that line. Nothing is timed.

use std::io::{BufRead, BufReader, Write};
use std::process::Child;
use std::time::Duration;

use crate::util::{
    Diff, Scratch, TestCommand, code_of, lockkit_bin, send_signal, sh_quote, stderr_of,
    strace_or_skip, wait_bounded,
};

const SAFETY: Duration = Duration::from_secs(60);

/// The tools, with the prefix of their messages.
const TOOLS: [(&str, &str); 2] = [("flock", "flock"), ("dotlock", "dotlockfile")];

/// A command that notes SIGTERM in `log` and ends with 3, after doing
/// `act` (which loses the lock); it waits in a builtin `wait`, which a
/// trapped signal interrupts.
fn stoppable(act: &str) -> String {
    format!(
        "trap 'echo got-TERM >> log; kill $p 2>/dev/null; exit 3' TERM\n\
         sleep 1000 >/dev/null 2>&1 &\n\
         p=$!\n\
         {act}\n\
         wait $p\n\
         echo not-reached >> log\n"
    )
}

/// `tool --watchdog --grace 0.2 d/x.lock sh -c SCRIPT`, run to its end.
fn watched(s: &Scratch, tool: &str, script: &str) -> crate::util::Output {
    TestCommand::lockkit(s, tool)
        .args([
            "--watchdog",
            "--grace",
            "0.2",
            "d/x.lock",
            "sh",
            "-c",
            script,
        ])
        .run()
}

fn scratch() -> Scratch {
    let s = Scratch::new();
    s.mkdir("d");
    s
}

#[test]
fn a_removed_lock_stops_the_command() {
    for (tool, name) in TOOLS {
        let s = scratch();
        let out = watched(&s, tool, &stoppable("rm d/x.lock"));
        out.code(79).stderr(&format!(
            "{name}: lock lost: d/x.lock was removed; stopping the command\n"
        ));
        assert_eq!(s.read("log"), "got-TERM\n", "{tool}");
        assert!(!s.exists("d/x.lock"), "{tool}");
    }
}

#[test]
fn a_lock_renamed_away_stops_the_command() {
    for (tool, name) in TOOLS {
        let s = scratch();
        let out = watched(&s, tool, &stoppable("mv d/x.lock d/aside"));
        out.code(79).stderr(&format!(
            "{name}: lock lost: d/x.lock was renamed; stopping the command\n"
        ));
        assert_eq!(s.read("log"), "got-TERM\n", "{tool}");
    }
}

#[test]
fn a_replaced_lock_stops_the_command_and_the_newcomer_keeps_its_file() {
    for (tool, name) in TOOLS {
        let s = scratch();
        let out = watched(
            &s,
            tool,
            &stoppable("echo other > d/new; mv d/new d/x.lock"),
        );
        out.code(79).stderr(&format!(
            "{name}: lock lost: d/x.lock was replaced by another file; stopping the command\n"
        ));
        assert_eq!(s.read("log"), "got-TERM\n", "{tool}");
        // Not ours: left alone.
        assert_eq!(s.read("d/x.lock"), "other\n", "{tool}");
    }
}

#[test]
fn a_renamed_directory_stops_the_command() {
    for (tool, name) in TOOLS {
        let s = scratch();
        let out = watched(&s, tool, &stoppable("mv d moved"));
        out.code(79).stderr(&format!(
            "{name}: lock lost: d/x.lock: its directory was renamed; stopping the command\n"
        ));
        assert_eq!(s.read("log"), "got-TERM\n", "{tool}");
    }
}

#[test]
fn without_inotify_the_lock_is_looked_at_on_a_schedule() {
    if !strace_or_skip() {
        return;
    }
    for (tool, name) in TOOLS {
        let s = scratch();
        s.link(tool, &lockkit_bin());
        // The tool alone is traced (no -f): its inotify instance is refused
        // as when the user's quota is used up.
        let script = format!(
            "exec strace -qq -o /dev/null -e inject=inotify_init1:error=EMFILE \
             {tool} --watchdog --grace 0.2 d/x.lock sh -c {}",
            sh_quote(&stoppable("rm d/x.lock"))
        );
        let out = TestCommand::script(&s, &script).run();
        out.code(79).stderr(&format!(
            "{name}: lock lost: d/x.lock was removed; stopping the command\n"
        ));
        assert_eq!(s.read("log"), "got-TERM\n", "{tool}");
    }
}

#[test]
fn dotlock_reports_the_loss_with_or_without_passthrough() {
    let s = scratch();
    let out = TestCommand::lockkit(&s, "dotlock")
        .args(["-P", "-p", "--watchdog", "d/x.lock", "sh", "-c"])
        .arg(stoppable("rm d/x.lock"))
        .run();
    out.code(79);
    assert_eq!(s.read("log"), "got-TERM\n");
}

#[test]
fn a_command_deaf_to_term_is_killed_after_the_grace_period() {
    for (tool, _) in TOOLS {
        let s = scratch();
        // The sleep inherits the ignored TERM: only SIGKILL ends it.
        let out = watched(
            &s,
            tool,
            "trap '' TERM; rm d/x.lock; exec sleep 1000 >/dev/null 2>&1",
        );
        out.code(79);
        assert!(out.stderr.contains("was removed"), "{tool}: {out}");
    }
}

#[test]
fn a_job_the_command_started_in_the_background_is_stopped_too() {
    for (tool, _) in TOOLS {
        let s = scratch();
        // The job says through a FIFO that its trap is set; the command
        // waits for that before losing the lock.
        let script = stoppable(
            "mkfifo up\n\
             sh -c 'trap \"echo bg-got-TERM >> log; kill \\$q; exit 0\" TERM; \
             sleep 1000 >/dev/null 2>&1 & q=$!; echo up > up; wait $q' &\n\
             read x < up\n\
             rm d/x.lock",
        );
        let out = watched(&s, tool, &script);
        out.code(79);
        let mut log: Vec<String> = s.read("log").lines().map(str::to_owned).collect();
        log.sort();
        assert_eq!(log, ["bg-got-TERM", "got-TERM"], "{tool}: {out}");
    }
}

/// `tool --watchdog d/x.lock sh -c '… read line; exit 5'` in the
/// background, once the command is running (it said `ready`).
fn start_reading(
    s: &Scratch,
    tool: &str,
    args: &[&str],
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut c = TestCommand::lockkit(s, tool)
        .args(args)
        .args(["d/x.lock", "sh", "-c", "echo ready; read line; exit 5"])
        .own_process_group()
        .spawn();
    let mut out = BufReader::new(c.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read ready");
    assert_eq!(line, "ready\n", "{tool}: {}", stderr_of(&mut c));
    (c, out)
}

fn finish(c: &mut Child) -> i32 {
    let mut stdin = c.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("tell the command to end");
    drop(stdin);
    code_of(wait_bounded(c, SAFETY, "the watched command"))
}

#[test]
fn harmless_changes_stop_nothing() {
    for (tool, _) in TOOLS {
        let s = scratch();
        // (dotlock exits with the command's status with -P.)
        let args: &[&str] = if tool == "dotlock" {
            &["-P", "--watchdog"]
        } else {
            &["--watchdog"]
        };
        let (mut c, _out) = start_reading(&s, tool, args);
        // What the holder's own renewal does, then others' harmless doings.
        TestCommand::lockkit(&s, "dotlock")
            .args(["-t", "d/x.lock"])
            .run()
            .success();
        s.age("d/x.lock", -5);
        s.chmod("d/x.lock", 0o600);
        s.write("d/other", "x");
        std::fs::rename(s.path("d/other"), s.path("d/third")).expect("mv");
        std::fs::remove_file(s.path("d/third")).expect("rm");
        assert_eq!(finish(&mut c), 5, "{tool}");
        assert_eq!(stderr_of(&mut c), "", "{tool}");
        if tool == "dotlock" {
            assert!(!s.exists("d/x.lock"), "the lock was left behind");
        }
    }
}

#[test]
fn without_the_watchdog_nothing_is_watched() {
    // The command outlives its removed lock, as with the reference tools.
    Diff::flock_script(
        "mkdir d; flock d/x.lock sh -c 'rm d/x.lock; echo still running'; echo \"exit $?\"",
    )
    .check();
    Diff::dotlock_script(
        "mkdir d; dotlock -P d/x.lock sh -c 'rm d/x.lock; echo still running; exit 4'; \
         echo \"exit $?\"",
    )
    .check();
}

#[test]
fn usage_mistakes() {
    let s = Scratch::new();
    let flock = |args: &[&str]| TestCommand::lockkit(&s, "flock").args(args).run();
    flock(&["--grace", "1", "f", "true"])
        .code(64)
        .stderr("flock: --grace needs --watchdog\n");
    flock(&["--watchdog", "9"]).code(64).stderr(
        "flock: --watchdog needs a file or directory: a file descriptor has no name to watch\n",
    );
    flock(&["--watchdog", "--no-fork", "f", "true"]).code(64);
    flock(&["--watchdog", "--grace", "x", "f", "true"])
        .code(64)
        .stderr("flock: invalid grace period: 'x'\n");
    let out = TestCommand::lockkit(&s, "dotlock")
        .args(["--watchdog", "x.lock"])
        .run();
    out.code(1);
    assert!(
        out.stderr
            .starts_with("dotlockfile: --watchdog needs a command to run\nUsage:"),
        "{out}"
    );
    assert!(!s.exists("x.lock") && !s.exists("f"));
}

// --forward-signals --------------------------------------------------------

#[test]
fn forwarded_signals_reach_the_command_and_flock_exits_as_it_does() {
    let s = Scratch::new();
    // A trapped signal: the command's own status.
    let script = "trap 'echo got-USR1 >> log; kill $p; exit 4' USR1\n\
                  sleep 1000 >/dev/null 2>&1 &\n\
                  p=$!\n\
                  echo ready\n\
                  wait $p\n";
    let (mut c, _out) = spawn_ready(&s, script);
    send_signal(c.id(), libc::SIGUSR1);
    let st = wait_bounded(&mut c, SAFETY, "flock sent USR1");
    assert_eq!(st.code(), Some(4), "{st:?} {}", stderr_of(&mut c));
    assert_eq!(s.read("log"), "got-USR1\n");

    // Untrapped: the command dies of it, flock exits 128 + TERM.
    let (mut c, _out) = spawn_ready(&s, "echo ready; exec sleep 1000 >/dev/null 2>&1");
    send_signal(c.id(), libc::SIGTERM);
    let st = wait_bounded(&mut c, SAFETY, "flock sent TERM");
    assert_eq!(st.code(), Some(128 + libc::SIGTERM), "{st:?}");
    assert_eq!(stderr_of(&mut c), "");
}

fn spawn_ready(s: &Scratch, script: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut c = TestCommand::lockkit(s, "flock")
        .args(["--forward-signals", "f", "sh", "-c", script])
        .own_process_group()
        .spawn();
    let mut out = BufReader::new(c.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read ready");
    assert_eq!(line, "ready\n", "{}", stderr_of(&mut c));
    (c, out)
}

#[test]
fn the_watchdog_guards_slots_and_single_flight_runs_too() {
    for extra in [&["--slots", "2"][..], &["--single-flight"]] {
        let s = scratch();
        let mut args = vec!["--watchdog", "--grace", "0.2"];
        args.extend(extra);
        let script = stoppable("rm d/x.lock");
        args.extend(["d/x.lock", "sh", "-c", &script]);
        TestCommand::lockkit(&s, "flock")
            .args(&args)
            .run()
            .code(79)
            .stderr("flock: lock lost: d/x.lock was removed; stopping the command\n");
        assert_eq!(s.read("log"), "got-TERM\n", "{extra:?}");
    }
}
