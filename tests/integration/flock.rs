//! lockkit's `flock` where util-linux 2.38.1 cannot be compared: the newer
//! upstream options (`--fcntl`, `--start`/`--length`, `--fd`), the fixes over
//! 2.38.1 (docs/compat.md), and properties checked through /proc.

use std::os::unix::process::CommandExt;

use crate::util::{Diff, Holder, Scratch, TestCommand, skip, wait_until_blocked};

fn flock(s: &Scratch) -> TestCommand {
    TestCommand::lockkit(s, "flock")
}

/// A script whose `flock` is lockkit's.
fn script(s: &Scratch, text: &str) -> TestCommand {
    s.link("flock", &crate::util::lockkit_bin());
    TestCommand::script(s, text)
}

#[test]
fn fcntl_conflicts_with_posix_locks() {
    // What --fcntl exists for: glibc's lckpwdf and other F_SETLK users.
    let s = Scratch::new();
    let _posix = Holder::posix(s.dir(), "pw.lock", true, 0, 0);
    flock(&s)
        .args(["--fcntl", "-n", "--verbose", "pw.lock", "echo", "never"])
        .run()
        .code(1)
        .stdout("")
        .stderr("flock: failed to get lock\n");
    flock(&s)
        .args(["--fcntl", "-w", "0.1", "-E", "7", "pw.lock", "true"])
        .run()
        .code(7);
    // flock(2) locks are a separate namespace.
    flock(&s)
        .args(["-n", "pw.lock", "echo", "flock(2) is independent"])
        .run()
        .success()
        .stdout("flock(2) is independent\n");
}

#[test]
fn fcntl_shared_locks_share() {
    let s = Scratch::new();
    let _posix = Holder::posix(s.dir(), "f", false, 0, 0);
    flock(&s)
        .args(["--fcntl", "-s", "-n", "f", "echo", "shared"])
        .run()
        .success()
        .stdout("shared\n");
    flock(&s).args(["--fcntl", "-n", "f", "true"]).run().code(1);
}

#[test]
fn fcntl_is_independent_of_flock_locks() {
    // upstream's fcntl-vs-flock subtest, both ways round.
    let s = Scratch::new();
    let ofd = Holder::ofd(s.dir(), "f", false, 0, 0);
    flock(&s)
        .args(["--nonblock", "--exclusive", "f", "echo", "flock vs fcntl"])
        .run()
        .success()
        .stdout("flock vs fcntl\n");
    drop(ofd);
    let _flock = Holder::flock(s.dir(), "f", false);
    flock(&s)
        .args(["--fcntl", "-n", "f", "echo", "fcntl vs flock"])
        .run()
        .success()
        .stdout("fcntl vs flock\n");
}

#[test]
fn fcntl_conflicts_with_other_ofd_locks() {
    let s = Scratch::new();
    let _ofd = Holder::ofd(s.dir(), "f", true, 0, 0);
    flock(&s)
        .args(["--fcntl", "-n", "-s", "f", "true"])
        .run()
        .code(1);
}

#[test]
fn byte_ranges() {
    let s = Scratch::new();
    let _posix = Holder::posix(s.dir(), "f", true, 0, 10);
    // Beside the held bytes 0..10: free.
    flock(&s)
        .args(["--start", "10", "--length", "5", "-n", "f", "echo", "free"])
        .run()
        .success()
        .stdout("free\n");
    // Overlapping: busy. --start/--length imply --fcntl.
    flock(&s)
        .args(["--start", "5", "--length", "10", "-n", "f", "true"])
        .run()
        .code(1);
    // From 10 to the end of file (length 0): free.
    flock(&s)
        .args(["--start", "0xa", "-n", "f", "true"])
        .run()
        .success();
}

#[test]
fn byte_range_is_what_the_kernel_records() {
    // upstream's range-lock subtest, read through /proc/locks instead of
    // lslocks: an OFD lock of 3 bytes from 5 covers 5..7.
    let s = Scratch::new();
    // The command: the kind, type, start and end of the locks on f.
    let show =
        "ino=$(stat -c %i f); grep \":$ino \" /proc/locks | awk '{print $2, $3, $4, $7, $8}'";
    let out = flock(&s)
        .args(["--start", "5", "--length", "3", "f", "sh", "-c", show])
        .run();
    out.success().stdout("OFDLCK ADVISORY WRITE 5 7\n");
    let out = flock(&s)
        .args(["--shared", "--length", "1KiB", "f", "sh", "-c", show])
        .run();
    out.success().stdout("OFDLCK ADVISORY READ 0 1023\n");
}

#[test]
fn fcntl_no_fork_keeps_the_range_lock() {
    // upstream range-lock: `--shared --fcntl --start 1 --length 2 --no-fork .`
    // and the exec'd shell itself holds the lock.
    let s = Scratch::new();
    let out = flock(&s)
        .args([
            "--shared",
            "--fcntl",
            "--start",
            "1",
            "--length",
            "2",
            "--no-fork",
            ".",
            "-c",
            "ino=$(stat -c %i .); grep \":$ino \" /proc/locks | awk '{print $2, $4, $7, $8}'",
        ])
        .env("SHELL", "/bin/sh")
        .run();
    out.success().stdout("OFDLCK READ 1 2\n");
}

#[test]
fn fcntl_size_and_option_errors() {
    let s = Scratch::new();
    for (args, err) in [
        (
            &["--start", "abc", "f", "true"][..],
            "flock: invalid as start offset: 'abc': Invalid argument\n",
        ),
        (
            &["--start", "-1", "f", "true"],
            "flock: invalid as start offset: '-1': Invalid argument\n",
        ),
        (
            &["--length", "1Q", "f", "true"],
            "flock: invalid as length of lock range: '1Q': Invalid argument\n",
        ),
        (
            &["--start", "20EiB", "f", "true"],
            "flock: invalid as start offset: '20EiB': Numerical result out of range\n",
        ),
        (
            &["--f", "f", "true"],
            "flock: option '--f' is ambiguous; possibilities: '--fcntl' '--fd' '--forward-signals'\n\
             Try 'flock --help' for more information.\n",
        ),
    ] {
        flock(&s).args(args).run().code(64).stdout("").stderr(err);
    }
    // Beyond off_t: the kernel refuses the range.
    flock(&s)
        .args(["--start", "9223372036854775808", "lockN", "true"])
        .run()
        .code(65)
        .stderr("flock: lockN: Invalid argument\n");
    // --s still means --shared, as in 2.38.1, although --start shares the prefix.
    flock(&s)
        .args(["--s", "f", "sh", "-c", "grep -q ' READ ' /proc/locks"])
        .run()
        .success();
}

#[test]
fn fcntl_opens_for_writing_when_exclusive() {
    let s = Scratch::new();
    s.mkdir("dir");
    // A directory only opens read-only: the write lock gets EBADF, the
    // read-write reopen fails with EISDIR, and that is what is reported.
    flock(&s)
        .args(["--fcntl", "dir", "true"])
        .run()
        .code(65)
        .stderr("flock: dir: Is a directory\n");
    flock(&s)
        .args(["--fcntl", "-s", "dir", "echo", "ok"])
        .run()
        .success()
        .stdout("ok\n");
    if crate::util::root_or_skip("to open a read-only file as uid 65534") {
        s.write("ro", "");
        s.chmod("ro", 0o644);
        let nobody = |imp| TestCommand::nobody(&s, imp, "flock");
        nobody(crate::util::Impl::Lockkit)
            .args(["--fcntl", "ro", "true"])
            .run()
            .code(66)
            .stderr("flock: cannot open lock file ro: Permission denied\n");
        nobody(crate::util::Impl::Lockkit)
            .args(["--fcntl", "-s", "ro", "echo", "read lock"])
            .run()
            .success()
            .stdout("read lock\n");
    }
}

#[test]
fn fd_option_runs_a_command_on_a_held_descriptor() {
    let s = Scratch::new();
    script(
        &s,
        "exec 9>f; flock --fd 9 -c 'echo $0'; flock -n --fd 9 echo again; \
         flock -n f true; echo \"other description: $?\"",
    )
    .env("SHELL", "/bin/sh")
    .run()
    .success()
    .stdout("/bin/sh\nagain\nother description: 1\n");
}

#[test]
fn fd_option_close() {
    // upstream's `close` subtest.
    let s = Scratch::new();
    script(
        &s,
        "exec 8<>lock\n\
         flock --exclusive --close --fd 8 --command 'flock --exclusive --nonblock --fd 8 true'\n\
         echo \"exit code: $?\"\n\
         flock --exclusive --fd 8 --command 'flock --exclusive --nonblock --fd 8 true'\n\
         echo \"exit code: $?\"",
    )
    .env("SHELL", "/bin/sh")
    .run()
    .success()
    .stdout("exit code: 65\nexit code: 0\n")
    .stderr("flock: 8: Bad file descriptor\n");
}

#[test]
fn fd_option_errors() {
    let s = Scratch::new();
    for (args, code, err) in [
        (&["--fd", "5"][..], 64, "flock: missing command\n"),
        (
            &["--fd", "abc", "true"],
            64,
            "flock: invalid file descriptor: 'abc'\n",
        ),
        (
            &["--fd", "-1", "true"],
            64,
            "flock: invalid file descriptor: '-1'\n",
        ),
        (
            &["--fd", "9", "true"],
            65,
            "flock: 9: Bad file descriptor\n",
        ),
        (
            &["--fd", "9", "-c", "a", "b"],
            64,
            "flock: -c requires exactly one command argument\n",
        ),
    ] {
        flock(&s).args(args).run().code(code).stderr(err);
    }
    assert!(!s.exists("5") && !s.exists("9"));
}

#[test]
fn upstream_unlock_test() {
    // upstream's `unlock` subtest (stdout of the fd form: the timing line only).
    let s = Scratch::new();
    let out = script(
        &s,
        "exec 8<>lock; flock --exclusive --nonblock --verbose 8; flock --unlock 8; \
         flock --exclusive --wait 0 --verbose lock true",
    )
    .run();
    let out = crate::util::normalize(&out.stdout);
    assert_eq!(
        out,
        "flock: getting lock took <n> seconds\nflock: getting lock took <n> seconds\nflock: executing true\n"
    );
}

#[test]
fn inherited_blocked_sigalrm_does_not_defeat_the_timeout() {
    // flock started with SIGALRM blocked (as rpm started its scriptlets):
    // util-linux's -w relies on SIGALRM and so waits forever; lockkit
    // unblocks it while it waits, and times out.
    let s = Scratch::new();
    let _h = Holder::flock(s.dir(), "f", false);
    // SAFETY: block_sigalrm only calls async-signal-safe functions.
    let cmd = unsafe { flock(&s).pre_exec(crate::util::block_sigalrm) };
    cmd.args(["-w", "0.2", "--verbose", "f", "true"])
        .run()
        .code(1)
        .stderr("flock: timeout while waiting to get lock\n");
}

#[test]
fn the_command_inherits_the_callers_signal_mask() {
    // The unblocking is local to the wait: the command still starts with
    // SIGALRM blocked, as it would under util-linux (bit 14 = 0x2000).
    let s = Scratch::new();
    // SAFETY: block_sigalrm only calls async-signal-safe functions.
    let cmd = unsafe { flock(&s).pre_exec(crate::util::block_sigalrm) };
    let out = cmd
        .args([
            "-w",
            "5",
            "f",
            "sh",
            "-c",
            // The shell's builtin `read`, not a forked awk: while dash forks
            // a child it briefly blocks every signal in itself.
            "while read -r k v; do [ \"$k\" = SigBlk: ] && mask=$v; done </proc/self/status; \
             [ $(( 0x$mask & 0x2000 )) -ne 0 ] && echo blocked",
        ])
        .run();
    out.success().stdout("blocked\n");
}

#[test]
fn a_stray_sigalrm_is_not_a_timeout() {
    let s = Scratch::new();
    let holder = Holder::flock(s.dir(), "f", false);
    let link = s.link("flock", &crate::util::lockkit_bin());
    // Started by hand to learn its pid.
    let child = std::process::Command::new(link)
        .arg0("flock")
        .args(["-w", "30", "f", "echo", "acquired-after-wait"])
        .current_dir(s.dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start flock");
    wait_until_blocked(child.id(), &s.path("f"));
    // SAFETY: plain kill(2).
    unsafe { libc::kill(child.id() as i32, libc::SIGALRM) };
    holder.release();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"acquired-after-wait\n");
}

#[test]
fn no_fork_keeps_the_pid_and_the_lock() {
    let s = Scratch::new();
    let out = script(
        &s,
        "flock -F f sh -c 'echo $$; ino=$(stat -c %i f); grep -c \":$ino \" /proc/locks' >out & \
         p=$!; wait; echo $p; cat out",
    )
    .run();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], lines[1], "-F must exec in place\n{out}");
    assert_eq!(lines[2], "1", "the exec'd command holds the lock\n{out}");
}

#[test]
fn default_mode_forks_and_the_child_holds_the_lock() {
    let s = Scratch::new();
    let out = script(
        &s,
        "flock f sh -c 'echo $PPID; ls -l /proc/$$/fd | grep -c \"/f$\"' >out & echo $!; wait; cat out",
    )
    .run();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], lines[1], "the command is flock's child\n{out}");
    assert_eq!(lines[2], "1", "the command inherits the lock fd\n{out}");
}

#[test]
fn close_option_keeps_the_fd_from_the_command() {
    let s = Scratch::new();
    flock(&s)
        .args(["-o", "f", "sh", "-c", "ls -l /proc/$$/fd | grep -c '/f$'"])
        .run()
        .code(1)
        .stdout("0\n");
}

#[test]
fn signal_dispositions_are_inherited() {
    // SIGPIPE ignored by the caller stays ignored in the command (Rust's
    // runtime would otherwise change it): compare with util-linux. The
    // command reads its own status with the shell's builtin `read`: a forked
    // reader could catch dash with every signal blocked around a fork.
    let show = "flock f sh -c 'while read -r k v; do \
                case $k in SigIgn:|SigBlk:) echo $k $v;; esac; done </proc/self/status'";
    Diff::flock_script(&format!("trap '' PIPE; {show}")).check();
    Diff::flock_script(show).check();
}

#[test]
fn paths_are_bytes() {
    // A non-UTF-8 name is created and locked, and reported byte for byte.
    use std::os::unix::ffi::OsStrExt;
    let s = Scratch::new();
    let name = std::ffi::OsStr::from_bytes(b"lock-\xff\xfe");
    flock(&s).arg(name).args(["echo", "ok"]).run().success();
    assert!(s.dir().join(name).exists());
    Diff::flock([std::ffi::OsStr::from_bytes(b"nodir/\xff"), "true".as_ref()]).check();
}

#[test]
fn version_and_help() {
    let s = Scratch::new();
    flock(&s).arg("--version").run().success().stdout(&format!(
        "flock from util-linux 2.38.1 (lockkit {})\n",
        env!("CARGO_PKG_VERSION")
    ));
    let out = flock(&s).arg("-h").run();
    out.success();
    for needle in [
        " flock [options] <file>|<directory> <command>",
        "--fcntl",
        "--fd",
        "Examples:",
    ] {
        assert!(out.stdout.contains(needle), "{needle}\n{out}");
    }
}

/// A German locale (decimal comma) compiled into the target directory, or
/// None (a [`skip`]) where the locale sources are missing.
fn comma_locale() -> Option<std::path::PathBuf> {
    static LOCALE: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    let locale = LOCALE
        .get_or_init(|| {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("locales");
            let _ = std::fs::create_dir_all(&dir);
            let ok = std::process::Command::new("localedef")
                .args(["-i", "de_DE", "-f", "UTF-8"])
                .arg(dir.join("de-comma"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success() || dir.join("de-comma/LC_NUMERIC").exists());
            ok.then_some(dir)
        })
        .clone();
    if locale.is_none() {
        skip("localedef cannot build de_DE (Debian package `locales`)");
    }
    locale
}

#[test]
fn timeout_uses_the_locales_decimal_point() {
    // util-linux reads -w with strtold after setlocale: under a German
    // locale `0,2` is valid and `0.2` is not.
    let Some(locpath) = comma_locale() else {
        return;
    };
    for value in ["0,2", "0.2"] {
        Diff::flock(["-w", value, "--verbose", "lockB", "true"])
            .held("lockB")
            .env("LOCPATH", &locpath)
            .env("LC_ALL", "de-comma")
            .check();
    }
}

#[test]
fn the_command_runs_under_a_flock_that_catches_nothing_and_adopts_nothing() {
    // util-linux's flock only waits: no signal handler (a killed flock
    // leaves the command running), and it is no child subreaper (a process
    // the command orphans goes to init or an outer subreaper, not flock).
    let s = Scratch::new();
    let out = flock(&s)
        .args([
            "f",
            "sh",
            "-c",
            "( sleep 1000 >/dev/null 2>&1 & echo $! > job )\n\
             read -r st < /proc/$(cat job)/stat\n\
             set -- $st\n\
             echo \"flock $PPID parent $4\"\n\
             grep '^SigCgt' /proc/$PPID/status\n",
        ])
        .run();
    let job: i32 = s.read("job").trim().parse().expect("job pid");
    // SAFETY: plain kill(2) of the sleep the command started.
    unsafe { libc::kill(job, libc::SIGKILL) };
    out.success();
    let mut lines = out.stdout.lines();
    let words: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    assert_eq!(words.len(), 4, "{out}");
    assert_ne!(words[1], words[3], "flock adopted the orphan: {out}");
    assert_eq!(lines.next(), Some("SigCgt:\t0000000000000000"), "{out}");
}

/// The command prints its parent's (flock's) POSIX timers: none may be left
/// once the lock is taken, or the timer would keep interrupting flock for as
/// long as the command runs.
const SHOW_FLOCKS_TIMERS: &str = "cat /proc/$PPID/timers";

#[test]
fn the_deadline_is_gone_once_the_lock_is_taken() {
    if !std::path::Path::new("/proc/self/timers").exists() {
        crate::util::skip("this kernel has no /proc/PID/timers");
        return;
    }
    let s = Scratch::new();
    flock(&s)
        .args(["-w", "60", "f", "sh", "-c", SHOW_FLOCKS_TIMERS])
        .run()
        .success()
        .stdout("");
    Diff::flock(["-w", "60", "f", "sh", "-c", SHOW_FLOCKS_TIMERS]).check();
}

#[test]
fn the_deadline_is_gone_after_a_wait_too() {
    if !std::path::Path::new("/proc/self/timers").exists() {
        crate::util::skip("this kernel has no /proc/PID/timers");
        return;
    }
    let s = Scratch::new();
    let holder = Holder::flock(s.dir(), "f", false);
    let link = s.link("flock", &crate::util::lockkit_bin());
    let child = std::process::Command::new(link)
        .arg0("flock")
        .args(["-w", "60", "f", "sh", "-c", SHOW_FLOCKS_TIMERS])
        .current_dir(s.dir())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start flock");
    wait_until_blocked(child.id(), &s.path("f"));
    holder.release();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

/// `flock f true` under strace with a PATH of ten directories without
/// `true` and then the one with it: the process-creating calls made.
fn process_creations(s: &Scratch, tool: &std::path::Path) -> Vec<String> {
    let mut dirs: Vec<String> = (0..10)
        .map(|i| s.mkdir(format!("empty{i}")).display().to_string())
        .collect();
    let true_dir = ["/usr/bin", "/bin"]
        .into_iter()
        .find(|d| std::path::Path::new(d).join("true").exists())
        .expect("a true command");
    dirs.push(true_dir.to_owned());
    let trace = s.path("trace");
    let out = std::process::Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .args(["-e", "trace=clone,clone3,vfork,fork", "-e", "signal=none"])
        .arg(tool)
        .args(["f", "true"])
        .env("PATH", dirs.join(":"))
        .current_dir(s.dir())
        .output()
        .expect("run strace");
    assert!(out.status.success(), "{out:?}");
    std::fs::read_to_string(&trace)
        .expect("trace")
        .lines()
        .filter(|l| !l.contains("resumed>"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn one_process_for_the_command_however_long_the_path() {
    if !crate::util::strace_or_skip() {
        return;
    }
    let s = Scratch::new();
    let calls = process_creations(&s, &s.link("flock", &crate::util::lockkit_bin()));
    assert_eq!(calls.len(), 1, "{calls:#?}");
    if let Some(reference) = crate::util::reference("flock") {
        let calls = process_creations(&s, &reference);
        assert_eq!(calls.len(), 1, "util-linux: {calls:#?}");
    }
}

#[test]
fn path_search_matches_execvp_in_odd_cases() {
    // Candidates exec refuses in different ways, each followed or not by
    // one that works: execvp goes on past "missing" and "not executable"
    // (remembering the latter), and stops at anything else.
    let setup = |s: &Scratch| {
        for d in [
            "noexec",
            "dir/cmd",
            "badinterp",
            "good",
            "plain",
            "link",
            "interp",
        ] {
            s.mkdir(d);
        }
        s.write("noexec/cmd", "#!/bin/sh\necho noexec\n");
        s.chmod("noexec/cmd", 0o644);
        s.write(
            "badinterp/cmd",
            "#!/nonexistent/interpreter\necho badinterp\n",
        );
        s.chmod("badinterp/cmd", 0o755);
        s.write("good/cmd", "#!/bin/sh\necho good \"$0\" \"$@\"\n");
        s.chmod("good/cmd", 0o755);
        s.write("plain/cmd", "echo plain \"$0\" \"$@\"\n");
        s.chmod("plain/cmd", 0o755);
        s.write("notadir", "");
        std::os::unix::fs::symlink("nowhere", s.path("link/cmd")).expect("symlink");
        s.write("interp/sh", "");
        s.chmod("interp/sh", 0o644);
        s.write("interp/cmd", "#!interp/sh\necho interp\n");
        s.chmod("interp/cmd", 0o755);
        s.write("cwdcmd", "#!/bin/sh\necho from the current directory\n");
        s.chmod("cwdcmd", 0o755);
    };
    for (path, cmd) in [
        ("noexec:good", "cmd"),
        ("dir:good", "cmd"),
        ("badinterp:good", "cmd"),
        ("badinterp", "cmd"),
        ("noexec", "cmd"),
        ("noexec:badinterp", "cmd"),
        ("badinterp:noexec", "cmd"),
        ("dir:badinterp", "cmd"),
        ("notadir:good", "cmd"),
        ("notadir", "cmd"),
        ("link:plain", "cmd"),
        ("plain:good", "cmd"),
        ("interp:good", "cmd"),
        ("/nonexistent::good", "cwdcmd"),
        ("/nonexistent:good:", "cwdcmd"),
        (":", "cmd"),
    ] {
        Diff::flock(["lockA", cmd, "arg"])
            .setup(setup)
            .env("PATH", path)
            .check();
        Diff::flock(["-F", "lockA", cmd, "arg"])
            .setup(setup)
            .env("PATH", path)
            .check();
    }
    // No PATH: glibc's default, /bin:/usr/bin.
    Diff::flock(["lockA", "true"]).env_remove("PATH").check();
    // Names too long for a directory entry, found or not.
    let long = "c".repeat(300);
    Diff::flock(["lockA", &long])
        .env("PATH", "/nonexistent:good")
        .check();
    Diff::flock(["lockA", &long])
        .env("PATH", "/nonexistent")
        .check();
}

/// Run `tool f true` under strace, making the close of the exit-time
/// duplicate of stdout fail with EIO (as a file system can report a failed
/// write only there). The close to fail is found by a first, plain run.
fn with_failing_stdout_close(s: &Scratch, tool: &std::path::Path) -> std::process::Output {
    let trace = s.path("close-trace");
    let strace = |extra: &[&str]| {
        std::process::Command::new("strace")
            .args(["-qq", "-o"])
            .arg(&trace)
            .args(["-e", "trace=close,dup,fcntl", "-e", "signal=none"])
            .args(extra)
            .arg(tool)
            .args(["f", "true"])
            .current_dir(s.dir())
            .output()
            .expect("run strace")
    };
    assert!(strace(&[]).status.success());
    let text = std::fs::read_to_string(&trace).expect("trace");
    let mut closes = 0;
    let mut stdout_copy = None;
    let mut nth = None;
    for line in text.lines() {
        if line.starts_with("dup(1)") || line.starts_with("fcntl(1, F_DUPFD") {
            stdout_copy = line.rsplit("= ").next().map(|fd| fd.trim().to_owned());
        } else if line.starts_with("close(") {
            closes += 1;
            if stdout_copy
                .as_ref()
                .is_some_and(|fd| line.starts_with(&format!("close({fd})")))
            {
                nth = Some(closes);
                break;
            }
        }
    }
    let nth = nth.unwrap_or_else(|| panic!("no close of a copy of stdout:\n{text}"));
    strace(&["-e", &format!("inject=close:error=EIO:when={nth}")])
}

#[test]
fn a_failing_close_of_stdout_is_a_write_error() {
    if !crate::util::strace_or_skip() {
        return;
    }
    let s = Scratch::new();
    let want = "flock: write error: Input/output error\n";
    let out = with_failing_stdout_close(&s, &s.link("flock", &crate::util::lockkit_bin()));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), want);
    if let Some(reference) = crate::util::reference("flock") {
        let out = with_failing_stdout_close(&s, &reference);
        assert_eq!(out.status.code(), Some(1), "util-linux: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), want, "util-linux");
    }
}

#[test]
fn an_ignored_sigalrm_reaches_the_command_as_util_linux_leaves_it() {
    // util-linux 2.38.1 does not restore SIGALRM's disposition after -w, so
    // an ignored SIGALRM is ignored in the command only without -w.
    for opts in ["", "-w 5", "-F -w 5"] {
        Diff::flock_script(&format!(
            "trap '' ALRM; flock {opts} f sh -c 'while read -r k v; do \
             [ \"$k\" = SigIgn: ] && echo $v; done </proc/self/status'"
        ))
        .check();
    }
}
