//! `lockkit status` and `flock --who`: who holds a lock and who waits.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::util::{
    Holder, Scratch, TestCommand, dead_pid, lockkit_bin, unshare_or_skip, wait_bounded,
    wait_until_blocked,
};

fn status(s: &Scratch, args: &[&str]) -> crate::util::Output {
    TestCommand::suite(s).arg("status").args(args).run()
}

/// The one line of the output about `pid`.
#[track_caller]
fn line_of(out: &crate::util::Output, pid: u32) -> &str {
    let needle = format!("pid {pid} ");
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(&needle)).collect();
    assert_eq!(lines.len(), 1, "one line about pid {pid}\n{out}");
    lines[0]
}

/// `python3 -c code` reading `json` on stdin; its stdout.
fn python_json(json: &str, code: &str) -> String {
    let out = TestCommand::script(
        &Scratch::new(),
        &format!("python3 -c {}", crate::util::sh_quote(code)),
    )
    .stdin(json)
    .run();
    out.success();
    out.stdout
}

#[test]
fn an_exclusive_flock_names_its_holder() {
    let s = Scratch::new();
    let h = Holder::flock(s.dir(), "job.lock", false);
    let out = status(&s, &["job.lock"]);
    out.success().stderr("");
    let mine = [line_of(&out, h.pid())];
    assert!(
        mine[0].starts_with(&format!("job.lock: held by pid {} (", h.pid())),
        "{out}"
    );
    assert!(mine[0].contains("python3"), "{out}");
    assert!(
        mine[0].contains(", exclusive flock, whole file, running since "),
        "{out}"
    );
    h.release();
    status(&s, &["job.lock"]).code(1).stdout("job.lock: free\n");
}

#[test]
fn shared_holders_and_a_blocked_waiter() {
    let s = Scratch::new();
    let a = Holder::flock(s.dir(), "l", true);
    let b = Holder::flock(s.dir(), "l", true);
    let mut waiter = TestCommand::lockkit(&s, "flock")
        .args(["l", "true"])
        .own_process_group()
        .spawn();
    wait_until_blocked(waiter.id(), &s.path("l"));
    let out = status(&s, &["l"]);
    out.success();
    for pid in [a.pid(), b.pid()] {
        let l = line_of(&out, pid);
        assert!(l.contains("held by") && l.contains("shared flock"), "{out}");
    }
    let w = [line_of(&out, waiter.id())];
    assert!(
        w[0].starts_with(&format!(
            "l: waited for by pid {} (flock l true)",
            waiter.id()
        )) && w[0].contains("exclusive flock, whole file"),
        "{out}"
    );
    // Holders first, then the waiters.
    assert!(
        out.stdout
            .lines()
            .last()
            .is_some_and(|l| l.contains("waited for")),
        "{out}"
    );

    let json = status(&s, &["--json", "l"]).stdout;
    let roles = python_json(
        &json,
        &format!(
            "import json,sys\nd=json.load(sys.stdin)\nt=d['targets'][0]\n\
             assert d['version']==1 and t['kind']=='fd' and t['state']=='held' and t['held']\n\
             for l in t['locks']:\n  \
             print(l['role'],l['lock'],l['mode'],l['start'],l['end'],\
             [p['pid'] for p in l['processes']]==[l['kernel_pid']],\
             l['kernel_pid'] in ({},{},{}))",
            a.pid(),
            b.pid(),
            waiter.id()
        ),
    );
    let mut roles: Vec<&str> = roles.lines().collect();
    roles.sort_unstable();
    assert_eq!(
        roles,
        [
            "holder flock shared 0 None True True",
            "holder flock shared 0 None True True",
            "waiter flock exclusive 0 None True True"
        ]
    );
    drop((a, b));
    wait_bounded(
        &mut waiter,
        std::time::Duration::from_secs(60),
        "the waiter",
    );
}

#[test]
fn an_ofd_lock_is_traced_to_the_process_with_its_descriptor() {
    let s = Scratch::new();
    let h = Holder::ofd(s.dir(), "o", true, 5, 10);
    let out = status(&s, &["o"]);
    out.success();
    let l = line_of(&out, h.pid());
    assert!(
        l.contains("held by") && l.contains("exclusive OFD lock, bytes 5-14"),
        "{out}"
    );
    let json = status(&s, &["--json", "o"]).stdout;
    let got = python_json(
        &json,
        "import json,sys\nl=json.load(sys.stdin)['targets'][0]['locks'][0]\n\
         print(l['lock'],l['kernel_pid'],l['start'],l['end'],[p['pid'] for p in l['processes']])",
    );
    assert_eq!(got, format!("ofd -1 5 14 [{}]\n", h.pid()));
}

#[test]
fn posix_byte_ranges() {
    let s = Scratch::new();
    let w = Holder::posix(s.dir(), "p", true, 10, 5);
    let r = Holder::posix(s.dir(), "p", false, 100, 0);
    let out = status(&s, &["p"]);
    out.success();
    for (pid, what) in [
        (w.pid(), "exclusive POSIX lock, bytes 10-14"),
        (r.pid(), "shared POSIX lock, bytes 100 to the end"),
    ] {
        assert!(line_of(&out, pid).contains(what), "{out}");
    }
}

#[test]
fn a_semaphore_shows_its_slots_and_queue() {
    // The slots layout, taken by hand: 4 slots agreed, slot 1 held, a
    // waiter queued with ticket 7.
    let s = Scratch::new();
    let code = "import fcntl,os,struct,sys\n\
        fd=os.open('sem',os.O_RDWR|os.O_CREAT,0o666)\n\
        def lk(t,start):\n  \
        fcntl.fcntl(fd,fcntl.F_OFD_SETLK,struct.pack('hhqqi',t,0,start,1,0))\n\
        lk(fcntl.F_RDLCK,(1<<40)+4)\nlk(fcntl.F_WRLCK,1)\n\
        q=os.open('sem',os.O_RDWR)\n\
        fcntl.fcntl(q,fcntl.F_OFD_SETLK,struct.pack('hhqqi',fcntl.F_WRLCK,0,(1<<42)+7,1,0))\n\
        print('ready',flush=True)\nsys.stdin.read()";
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(code).current_dir(s.dir());
    let h = Holder::start(cmd);
    let out = status(&s, &["sem"]);
    out.success();
    let pid = h.pid();
    assert!(
        out.stdout
            .contains("sem: semaphore with 4 slots (1 taken)\n"),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!("sem: held by pid {pid} (")),
        "{out}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(&format!("pid {pid} ")) && l.contains(", slot 1")),
        "{out}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with(&format!("sem: waited for by pid {pid} "))
                && l.contains("queue ticket 7")),
        "{out}"
    );
    let json = status(&s, &["--json", "sem"]).stdout;
    let got = python_json(
        &json,
        "import json,sys\nt=json.load(sys.stdin)['targets'][0]\n\
         print(t['kind'],t['slots']['count'],sorted((l['role'],l['slot'],l['ticket']) for l in t['locks']))",
    );
    assert_eq!(got, "slots 4 [('holder', 1, None), ('waiter', None, 7)]\n");
}

#[test]
fn a_dotlock_with_a_live_holder() {
    let s = Scratch::new();
    s.link("dotlock", &lockkit_bin());
    let mut cmd = Command::new(s.bin().join("dotlock"));
    cmd.arg0("dotlock")
        .args(["-p", "d.lock", "sh", "-c", "echo ready; cat >/dev/null"])
        .current_dir(s.dir());
    let h = Holder::start(cmd);
    let out = status(&s, &["d.lock"]);
    out.success();
    assert!(
        out.stdout.starts_with(&format!(
            "d.lock: lock file of pid {} (dotlock -p d.lock sh -c",
            h.pid()
        )),
        "{out}"
    );
    assert!(
        out.stdout.ends_with(&format!(
            "; dotlock -p keeps it while pid {} lives\n",
            h.pid()
        )),
        "{out}"
    );
    let json = status(&s, &["--json", "d.lock"]).stdout;
    let got = python_json(
        &json,
        "import json,sys\nt=json.load(sys.stdin)['targets'][0]\nf=t['lock_file']\n\
         print(t['kind'],t['state'],f['pid'],f['pid_state'],f['would_break'],f['mode'],f['process']['pid'])",
    );
    assert_eq!(got, format!("file held {0} alive None 0644 {0}\n", h.pid()));
}

#[test]
fn lock_files_dotlock_would_break() {
    let s = Scratch::new();
    let dead = dead_pid();
    s.write("dead.lock", format!("{dead}\n"));
    let out = status(&s, &["dead.lock"]);
    out.code(1).stderr("");
    assert!(
        out.stdout.starts_with(&format!(
            "dead.lock: stale lock file of pid {dead} (dead), owner "
        )),
        "{out}"
    );
    assert!(
        out.stdout
            .ends_with("; dotlock would break it now (dead pid)\n"),
        "{out}"
    );

    // dotlock without -p writes "0\n": no pid, the age decides.
    TestCommand::lockkit(&s, "dotlock")
        .arg("old.lock")
        .run()
        .success();
    assert_eq!(s.read("old.lock"), "0\n");
    let young = status(&s, &["old.lock"]);
    young.success();
    assert!(
        young.stdout.contains("lock file with no pid") && young.stdout.contains("(age rule)"),
        "{young}"
    );
    s.age("old.lock", 600);
    let out = status(&s, &["old.lock"]);
    out.code(1);
    assert!(
        out.stdout
            .starts_with("old.lock: stale lock file with no pid, "),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(", age 10 min; dotlock would break it now (older than 5 minutes)\n"),
        "{out}"
    );
    let json = status(&s, &["--json", "old.lock", "dead.lock"]).stdout;
    let got = python_json(
        &json,
        "import json,sys\nfor t in json.load(sys.stdin)['targets']:\n  \
         print(t['state'],t['lock_file']['pid_state'],t['lock_file']['would_break'],t['lock_file']['age']>=600)",
    );
    assert_eq!(got, "stale none age True\nstale dead dead-pid False\n");
}

#[test]
fn a_lockfile_lock_has_no_pid() {
    let s = Scratch::new();
    TestCommand::lockkit(&s, "lockfile")
        .arg("m.lock")
        .run()
        .success();
    let out = status(&s, &["m.lock"]);
    out.success();
    assert!(
        out.stdout
            .starts_with("m.lock: lock file with no pid, owner "),
        "{out}"
    );
    assert!(out.stdout.contains(", mode 0444, "), "{out}");
}

#[test]
fn exit_codes() {
    let s = Scratch::new();
    s.write("empty", "");
    s.write("notes", "hello\n");
    status(&s, &["missing"])
        .code(1)
        .stdout("missing: free (no such file)\n");
    status(&s, &["empty", "notes", "."])
        .code(1)
        .stdout("empty: free\nnotes: free\n.: free\n");
    // Forced: an empty file judged as a lock file (fresh, no pid: held).
    status(&s, &["--kind", "file", "empty"]).success();
    // An error wins over an answer.
    let h = Holder::flock(s.dir(), "held", false);
    status(&s, &["held"]).success();
    let out = status(&s, &["held", "empty/x"]);
    out.code(2);
    assert_eq!(
        out.stderr, "lockkit: status: empty/x: Not a directory\n",
        "{out}"
    );
    drop(h);
    let usage = status(&s, &[]);
    usage.code(2);
    assert!(usage.stderr.contains("Usage: lockkit status"), "{usage}");
    status(&s, &["--kind", "x", "held"]).code(2);
    status(&s, &["--help"]).success();
}

#[test]
fn status_while_a_holder_exits_is_held_or_free() {
    let s = Scratch::new();
    for _ in 0..20 {
        let h = Holder::flock(s.dir(), "r", false);
        let pid = h.pid();
        let child = TestCommand::suite(&s).args(["status", "r"]).spawn();
        h.release();
        let out = child.wait_with_output().expect("status");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.stderr, b"", "{stdout}");
        match out.status.code() {
            Some(0) => assert!(
                stdout.starts_with(&format!("r: held by pid {pid} (")),
                "{stdout}"
            ),
            Some(1) => assert_eq!(stdout, "r: free\n"),
            other => panic!("{other:?}: {stdout}"),
        }
    }
}

#[test]
fn flock_who_adds_exactly_one_line() {
    let s = Scratch::new();
    let h = Holder::flock(s.dir(), "w", false);
    let who_line = format!("flock: held by pid {} (", h.pid());
    // Without --who: util-linux's silence.
    TestCommand::lockkit(&s, "flock")
        .args(["-n", "w", "true"])
        .run()
        .code(1)
        .stderr("");
    let out = TestCommand::lockkit(&s, "flock")
        .args(["-n", "--who", "w", "true"])
        .run();
    out.code(1).stdout("");
    assert!(out.stderr.starts_with(&who_line), "{out}");
    assert!(
        out.stderr.ends_with(", exclusive flock since ")
            || out.stderr.contains(", exclusive flock since "),
        "{out}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out}");
    // After --verbose's own line, and with -E.
    let out = TestCommand::lockkit(&s, "flock")
        .args(["--verbose", "-E", "7", "-w", "0.01", "--who", "w", "true"])
        .run();
    out.code(7);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], "flock: timeout while waiting to get lock");
    assert!(lines[1].starts_with(&who_line), "{out}");
    // The descriptor form.
    let out = TestCommand::script(&s, "flock --who -n 9 9>w").run();
    out.code(1);
    assert!(
        out.stderr.starts_with(&who_line) && out.stderr.lines().count() == 1,
        "{out}"
    );
}

#[test]
fn flock_who_names_only_conflicting_holders() {
    let s = Scratch::new();
    // A shared holder does not stand in the way of a shared request, but
    // an OFD range does of an overlapping one only.
    let h = Holder::ofd(s.dir(), "r", true, 0, 10);
    let out = TestCommand::lockkit(&s, "flock")
        .args(["-n", "--who", "--start", "5", "--length", "1", "r", "true"])
        .run();
    out.code(1);
    assert!(
        out.stderr
            .starts_with(&format!("flock: held by pid {} (", h.pid())),
        "{out}"
    );
    assert!(out.stderr.contains(", exclusive OFD lock since "), "{out}");
    TestCommand::lockkit(&s, "flock")
        .args(["-n", "--who", "--start", "10", "r", "true"])
        .run()
        .success()
        .stderr("");
}

#[test]
fn a_holder_in_another_pid_namespace_is_not_guessed() {
    if !unshare_or_skip(&["--pid", "--fork", "--mount-proc"], "pid namespaces") {
        return;
    }
    let s = Scratch::new();
    let h = Holder::flock(s.dir(), "ns", false);
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(lockkit_bin())
        .args(["status", "ns"])
        .current_dir(s.dir())
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(&format!("pid {} ", h.pid())), "{stdout}");
    // Linux leaves such locks out of /proc/locks; older kernels listed
    // them with pid 0.
    match out.status.code() {
        Some(0) => assert_eq!(
            stdout,
            "ns: held by a process in another pid namespace (pid not visible), exclusive flock, whole file\n"
        ),
        _ => {
            assert_eq!(out.status.code(), Some(1), "{stdout}");
            assert_eq!(
                stdout,
                "ns: free as far as this pid namespace can see (the kernel hides the locks of processes outside it)\n"
            );
        }
    }
}

#[test]
fn a_lock_inherited_from_an_exited_flock_names_who_keeps_it() {
    // `flock 9` exits at once; the shell keeps descriptor 9, and the lock.
    let s = Scratch::new();
    s.link("flock", &lockkit_bin());
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("exec 9>i; PATH=bin:$PATH flock 9 || exit 1; echo ready; cat >/dev/null")
        .current_dir(s.dir());
    let h = Holder::start(cmd);
    let out = status(&s, &["i"]);
    out.success();
    let l = [line_of(&out, h.pid())];
    assert!(
        l[0].starts_with(&format!("i: held by pid {} (/bin/sh -c ", h.pid())),
        "{out}"
    );
    assert!(
        l[0].contains(", exclusive flock, whole file") && l[0].ends_with(", which has exited)"),
        "{out}"
    );
    let out = TestCommand::lockkit(&s, "flock")
        .args(["-n", "--who", "i", "true"])
        .run();
    out.code(1);
    assert!(
        out.stderr
            .starts_with(&format!("flock: held by pid {} (", h.pid())),
        "{out}"
    );
}

#[test]
fn an_ofd_holder_we_may_not_look_at_is_unknown_not_guessed() {
    if !crate::util::root_or_skip("to hold a lock another user looks at") {
        return;
    }
    let s = Scratch::new();
    let _h = Holder::ofd(s.dir(), "o", true, 5, 10);
    s.chmod("o", 0o644);
    let out = Command::new(crate::util::AS_NOBODY[0])
        .args(&crate::util::AS_NOBODY[1..])
        .arg(lockkit_bin())
        .args(["status", "o"])
        .current_dir(s.dir())
        .output()
        .expect("setpriv");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("o: held by an unknown process (an OFD lock names no pid, and no process we can see has its descriptor; the descriptors of "),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(" processes could not be read: run as root to see them), exclusive OFD lock, bytes 5-14\n"),
        "{stdout}"
    );
}

#[test]
fn a_dangling_symlink_is_a_lock_file_dotlock_would_break() {
    let s = Scratch::new();
    std::os::unix::fs::symlink("nowhere", s.path("sym.lock")).expect("symlink");
    let out = status(&s, &["sym.lock"]);
    out.code(1);
    assert!(
        out.stdout
            .starts_with("sym.lock: stale lock file with no pid, owner "),
        "{out}"
    );
    assert!(
        out.stdout.ends_with(
            ", a symbolic link; dotlock would break it now (a symbolic link to nothing)\n"
        ),
        "{out}"
    );
}

#[test]
fn identical_ofd_locks_are_one_holder_with_every_process() {
    let s = Scratch::new();
    let a = Holder::ofd(s.dir(), "twin", false, 0, 1);
    let b = Holder::ofd(s.dir(), "twin", false, 0, 1);
    let out = status(&s, &["twin"]);
    out.success();
    for pid in [a.pid(), b.pid()] {
        let l = [line_of(&out, pid)];
        assert!(l[0].contains(", shared OFD lock, byte 0"), "{out}");
        assert!(
            l[0].ends_with(
                " (one of 2 identical locks; the kernel does not say which process holds which)"
            ),
            "{out}"
        );
    }
    assert_eq!(out.stdout.lines().count(), 2, "{out}");
}

/// A lockkit flock holding `args`' lock while its command runs: it says
/// `ready` and holds until its stdin ends.
fn lockkit_holder(s: &Scratch, args: &[&str]) -> Holder {
    let mut cmd = Command::new(lockkit_bin());
    cmd.arg0("flock")
        .args(args)
        .args(["sh", "-c", "echo ready; exec cat >/dev/null"])
        .current_dir(s.dir());
    Holder::start(cmd)
}

#[test]
fn flock_who_names_slot_holders_and_a_single_flight_leader() {
    let s = Scratch::new();
    TestCommand::lockkit(&s, "flock");
    for (args, what) in [
        (&["--slots", "1", "sem"][..], "exclusive OFD lock since "),
        (&["--single-flight", "run"][..], "exclusive flock since "),
    ] {
        let h = lockkit_holder(&s, args);
        let file = args[args.len() - 1];
        let mut try_args = args[..args.len() - 1].to_vec();
        try_args.extend(["-n", "--who", file, "true"]);
        let out = TestCommand::lockkit(&s, "flock").args(&try_args).run();
        out.code(1).stdout("");
        let first = format!("flock: held by pid {} (", h.pid());
        assert!(out.stderr.starts_with(&first), "{out}");
        assert!(out.stderr.contains(what), "{out}");
        assert_eq!(out.stderr.lines().count(), 1, "{out}");
        h.release();
    }
}
