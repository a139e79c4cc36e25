//! Differential tests: every case runs against a plain (non-setgid) copy of
//! procmail 3.22's /usr/bin/lockfile (it reports v3.23pre) and lockkit's
//! `lockfile` (see `util::Diff`), and both must agree on exit status,
//! stdout, stderr and the files left behind.
//!
//! Row numbers refer to the differential case table (§15) of the reference
//! notes, `procmail-lockfile.md`; § numbers to its sections. Where lockkit
//! differs on purpose (its `-v` text; a lock that cannot be forced is given
//! up after the retries; no one-second roll-over waits; uncaught signals
//! clean up; the failure cleanup removes only locks that are still this
//! run's), lockkit's side is asserted on its own.
//!
//! Nothing here waits for procmail's default 8-s sleeptime against a lock
//! that stays held: such cases use `-r0`, or `-0`/`-1` with a small `-r`,
//! and `-s0` with `-l`. Background runs are synchronised through /proc and
//! the locks they make, never by sleeping. Mailbox (`-m`) cases run only in
//! a private mount namespace with a tmpfs on /var/mail.

use std::os::unix::fs::symlink;
use std::process::Command;

use crate::util::{
    Diff, Impl, Output, QUIET_JOBS, Scratch, TestCommand, WAIT_SLEEPING_FN, cases_script,
    reference, root_or_skip, run_in_scratch, run_tool_script, unshare_or_skip,
};

/// Shell functions for scripts.
///
/// * `state`: what is in the scratch directory (but `bin/`): type, mode,
///   size and name, one line each, sorted;
/// * `reset`: empty the scratch directory (but `bin/`).
///
/// Scripts that wait for a background lockfile to sleep between attempts
/// add `util::WAIT_SLEEPING_FN` and call `wait_sleeping PID FILE`, FILE
/// being the lock it made before the held one: neither tool says when it
/// starts waiting, and procmail's temp file comes and goes within an
/// attempt.
const SHELL_FNS: &str = r#"
state() {
    find . -path ./bin -prune -o ! -name . -printf '%y %m %s %p\n' | LC_ALL=C sort
}
reset() {
    find . -mindepth 1 -maxdepth 1 ! -name bin -exec rm -rf {} +
}
"#;

/// One script running `lockfile ARGS` for each case in turn, each preceded
/// by the shell code `prep` and a header line on stdout and stderr, and
/// followed by its exit status and the directory's `state`.
fn batch(prep: &str, cases: &[&[&str]]) -> Diff {
    let cases = cases_script("lockfile", &format!("reset; {prep}"), "; state", cases);
    Diff::lockfile_script(&format!("{SHELL_FNS}{cases}"))
}

/// Set a symlink's own mtime `secs` seconds in the past (`touch -h`: the
/// harness's `Scratch::age` follows links).
fn age_link(s: &Scratch, rel: &str, secs: u32) {
    let ok = Command::new("touch")
        .args(["-h", "-d", &format!("{secs} sec ago")])
        .arg(s.path(rel))
        .status()
        .expect("run touch -h")
        .success();
    assert!(ok, "touch -h {rel}");
}

/// `lockfile ARGS` from lockkit in a fresh scratch directory prepared by
/// `setup`; its output and the files it left behind.
fn lockkit_args(setup: impl Fn(&Scratch), args: &[&str]) -> (Output, String) {
    run_in_scratch(setup, |s| TestCommand::lockkit(s, "lockfile").args(args))
}

/// `script` (where `lockfile` is `imp`'s) in a fresh scratch directory
/// prepared by `setup`; its output and the files it left behind.
fn run_script(imp: Impl, setup: impl Fn(&Scratch), script: &str) -> (Output, String) {
    run_tool_script(imp, "lockfile", setup, &format!("{SHELL_FNS}{script}"))
}

fn held(s: &Scratch) {
    s.write("held", "");
}

// Rows 1, 27, 28, 31 and §2: usage errors (usage once; twice when the bad
// token is the separate value of -r/-l/-s), `-h`/`-?`, runs that attempt
// nothing, `--`, a lone `-`.
#[test]
fn usage_errors() {
    batch(
        ": > held",
        &[
            &[],
            &["-x", "f"],
            &["--", "f"],
            &["-5x", "f"],
            &["--5", "f"],
            &["-+", "f"],
            &["- ", "f"],
            &["-1 ", "f"],
            &["-99999999999999999999", "f"],
            &["-m"],
            &["-mx"],
            &["-mlx"],
            &["-ml!"],
            &["-mu1"],
            &["-r"],
            &["-l"],
            &["-s"],
            &["-r0", "-l"],
            &["-rx", "f"],
            &["-s-1", "f"],
            &["-"],
            &["-", "-"],
            &["-r3"],
            &["-!"],
            &["-!!"],
            &["-r0", "-l", "5", "-s", "0", "-1"],
            &["-h"],
            &["-?"],
            &["-hx"],
            &["-!h", "f"],
            &["f", "-?"],
            // Usage twice.
            &["-r", "x"],
            &["-r", "3x", "f"],
            &["-s", "-1", "f"],
            &["-l", "x", "f"],
            &["-s", "1x"],
            &["-r", "-r0", "f"],
            &["f", "-r", "x", "g"],
            // A lone `-` is ignored.
            &["-", "a"],
            &["a", "-"],
        ],
    )
    .check();
}

// Row 30 and §2: clustered flags, values in the same or the next argument
// (consumed even when they start with `-`), strtol and 32-bit wrap-around,
// scanning on after a value, flags anywhere, the last value winning.
#[test]
fn option_values_and_clusters() {
    batch(
        ": > held; : > old; touch -d '100 sec ago' old",
        &[
            &["-r3!", "a"],
            &["-1r2", "held"],
            &["-r0!", "held"],
            &["-r!", "held"],
            &["-l5s0r0", "old"],
            &["-r0l", "5", "-s0", "old"],
            &["- 1", "-r1", "held"],
            &["-r", "", "held"],
            &["-1", "-r", "4294967296", "held"],
            &["-4294967297", "-r1", "held"],
            &["-r", "-1", "a"],
            &["-r", "-5", "a"],
            &["-r", "4294967295", "a"],
            &["-r", "0!", "held"],
            &["-r", "0 1", "held"],
            &["-r", " +0", "held"],
            &["-r", "+0", "held"],
            &["-s", "0!", "-r0", "held"],
            &["-l", "-1", "-s", "0", "-r", "0", "held"],
            &["-0", "-r3", "held"],
            &["-0", "-r", "1", "held"],
            &["-r1", "-r0", "held"],
            &["-rr", "0", "held"],
            &["-0!", "a"],
            &["-5!", "-r0", "held"],
            &["a", "-r0", "b", "held", "c"],
            &["-r0", "a", "-0", "b", "-l", "0", "held"],
            &["./-x"],
            &["-r0", "./-r"],
        ],
    )
    .check();
}

// §2: after a value given as a separate argument, scanning goes on in that
// argument with the whole option grammar, as it does after a value in the
// same argument (`-l 5s0r0` is `-l5 -s0 -r0`).
#[test]
fn options_after_a_separate_value() {
    batch(
        ": > held; : > old; touch -d '100 sec ago' old",
        &[
            &["-l", "5s0r0", "old"],
            &["-r", "0r", "0", "held"],
            &["-r", "0l", "5", "-s0", "old"],
            &["-s", "0r0", "held"],
            &["-r", "0h"],
            &["a", "-r", "0?", "b"],
        ],
    )
    .check();
    if let Some(diff) = in_mail_namespace(&mail_cases(&["-r 0ml", "-s 0mu", "-r 0ml -mu"])) {
        diff.check();
    }
}

// Rows 2, 3, 31, 36 (without its timing) and §3.2: free locks are made with
// the content `0`, mode 0444 less the umask, one link, owned by the caller;
// many at once; a name starting with `-` through `./`.
#[test]
fn locking_free_files() {
    Diff::lockfile_script(&format!(
        "{SHELL_FNS}
         lockfile a.lock; echo \"exit $?\"; cat a.lock; echo; stat -c '%a %s %h %u %g %F' a.lock
         mkdir sub; lockfile sub/x.lock; echo \"exit $?\"
         for m in 077 000 0777 027; do
             (umask $m; lockfile u$m; echo \"umask $m: exit $?\"; stat -c '%a %s' u$m; cat u$m; echo)
         done
         state"
    ))
    .check();
    batch(
        "",
        &[
            &["a", "b", "c", "d", "e"],
            &["a", "b", "c", "d", "e", "f", "g", "h", "i"],
            &["-", "a"],
            &["./-x", "./--"],
        ],
    )
    .check();
}

// Rows 4, 9, 10, 20 and §3.4: held locks, including names that are not
// lock files (dangling symlink, directory, `d/`, `.`, symlink to a file);
// one retry counter for the whole command line.
#[test]
fn held_locks() {
    Diff::lockfile(["-r0", "held"]).setup(held).check();
    batch(
        "echo data > file; ln -s nowhere dang; mkdir d; ln -s file s; : > held",
        &[
            &["-r0", "dang"],
            &["-r0", "d"],
            &["-r0", "d/"],
            &["-r0", "."],
            &["-r0", "s"],
            &["-r0", "file"],
            &["-r0", "a", "b", "held", "c"],
            &["-r0", "a", "a"],
            &["-r0", "a", "d/", "b"],
            &["-0", "-r1", "a", "held"],
        ],
    )
    .check();
}

// Rows 7, 8 and §6 (the rows without -m): -! swaps 0 and 73 only, and only
// the -! options before the failing argument count.
#[test]
fn invert() {
    batch(
        ": > held",
        &[
            &["-!", "a"],
            &["a", "-!"],
            &["-!!", "a"],
            &["-!", "-!", "a"],
            &["-!", "a", "-!"],
            &["-!", "-r0", "held"],
            &["-r0", "held", "-!"],
            &["-!", "-r0", "held", "-!"],
            &["a", "-!", "-r0", "held"],
            &["-!", "-r0", "a", "held", "b"],
            &["-!", "nodir/x"],
            &["-!", "a", "-x"],
            &["-!", "a", "-h"],
            &["-!"],
            &["-!", "-r", "x"],
        ],
    )
    .check();
}

// §5 and rows 9, 29 (but -v): on any failure the locks made before the
// failing argument are removed and later arguments are not processed.
#[test]
fn failure_cleanup() {
    batch(
        ": > held",
        &[
            &["-r0", "a", "b", "held", "c"],
            &["a", "-x"],
            &["a", "b", "-h"],
            &["a", "-?", "b"],
            &["a", "--", "b"],
            &["a", "nodir/x", "b"],
            &["a", "-r", "x", "b"],
            &["a", "b", "-s", "-1", "c"],
            &["a", "-r3"],
            &["a", "-r0", "b", "held", "-x"],
            &["a", "", "b"],
        ],
    )
    .check();
}

// Rows 13, 15, 16, 17 and §3.3: -l forces a lock strictly older than its
// value (whole seconds, by the file system's clock), whatever it holds;
// the new lock is a fresh `0`, 0444. -l 0 never forces, a negative -l
// forces at once, a future mtime is never stale. Forced locks are this
// run's, so a later failure removes them.
#[test]
fn forcing_stale_locks() {
    let old = |s: &Scratch| {
        s.write("old", "this is thirty bytes of junk!\n");
        s.chmod("old", 0o600);
        s.age("old", 100);
    };
    Diff::lockfile_script("lockfile -l 10 -s 0 -r0 old; echo \"exit $?\"; cat old")
        .setup(old)
        .check();
    Diff::lockfile(["-l", "0", "-s0", "-r0", "old"])
        .setup(old)
        .check();
    Diff::lockfile(["-l", "10", "-s0", "-r0", "a", "old", "b"])
        .setup(old)
        .check();
    Diff::lockfile(["-l", "10", "-s0", "-r0", "old", "held"])
        .setup(move |s| {
            old(s);
            held(s);
        })
        .check();
    Diff::lockfile(["-l", "-1", "-s0", "-r0", "held"])
        .setup(held)
        .check();
    // The strict boundary, away from it: 5 s and 20 s against -l 10.
    for age in [5, 20] {
        Diff::lockfile(["-l", "10", "-s0", "-r0", "L"])
            .setup(move |s| {
                s.write("L", "0");
                s.age("L", age);
            })
            .check();
    }
    // A future mtime (an hour ahead) is never stale, even for -l -1.
    for limit in ["1", "-1"] {
        Diff::lockfile(["-l", limit, "-s0", "-r0", "held"])
            .setup(|s| {
                held(s);
                s.age("held", -3600);
            })
            .check();
    }
    // Exactly at the boundary: 10 s old is not older than 10 (held), 11 s
    // is. Both locks are dated from a probe file made just before, and the
    // round counts only if a probe made just after is still in the same
    // clock second (and not near its end, to leave room for the coarse
    // file system clock), so the temp files' mtimes are that second too.
    // Otherwise the round is repeated, a bounded number of times.
    Diff::lockfile_script(
        "i=0
         while :; do
             rm -f L10 L11 p1 p2
             : > p1; t=$(stat -c %Y p1)
             : > L10; touch -d @$((t - 10)) L10
             : > L11; touch -d @$((t - 11)) L11
             lockfile -l 10 -s0 -r0 L10 2>e10; r10=$?
             lockfile -l 10 -s0 -r0 L11 2>e11; r11=$?
             : > p2; set -- $(stat -c '%Y %y' p2)
             case $3 in *.9*) ;; *) [ \"$1\" = \"$t\" ] && break ;; esac
             i=$((i + 1)); [ $i -lt 50 ] || { echo 'the clock never held still'; break; }
         done
         echo \"10 s old: exit $r10\"; cat e10; echo \"11 s old: exit $r11\"; cat e11
         rm -f p1 p2 e10 e11",
    )
    .check();
}

// Row 19 and §3.4: a symlink is judged by its own mtime (lstat) and forced
// by removing the link, not its target; a dangling one likewise.
#[test]
fn forcing_symlinks() {
    Diff::lockfile_script("lockfile -l 10 -s0 -r0 sym.lock; echo \"exit $?\"; cat target")
        .setup(|s| {
            s.write("target", "target data\n");
            symlink("target", s.path("sym.lock")).expect("symlink");
            age_link(s, "sym.lock", 100);
        })
        .check();
    // An old target behind a fresh link: held.
    Diff::lockfile(["-l", "10", "-s0", "-r0", "sym.lock"])
        .setup(|s| {
            s.write("target", "target data\n");
            s.age("target", 100);
            symlink("target", s.path("sym.lock")).expect("symlink");
        })
        .check();
    Diff::lockfile(["-l", "10", "-s0", "-r0", "dang"])
        .setup(|s| {
            symlink("nowhere", s.path("dang")).expect("symlink");
            age_link(s, "dang", 100);
        })
        .check();
}

// Rows 21, 22, 23, 24 and §3.3: errors other than "held" are fatal at once
// (Try praying, 69): a missing directory, a path through a plain file, the
// empty name, a directory the caller cannot write.
#[test]
fn missing_and_unwritable_directories() {
    Diff::lockfile(["nodir/x"]).check();
    Diff::lockfile(["plain/x"])
        .setup(|s| {
            s.write("plain", "data\n");
        })
        .check();
    Diff::lockfile([""]).check();
    Diff::lockfile(["-r0", "-l", "5", "-s0", "a", "nodir/x", "b"]).check();
    // As uid 65534: a 0555 directory, a root-owned 0755 one, a 0777 one
    // (the lock is made, owned by the caller).
    Diff::lockfile(["ro/x"])
        .setup(|s| {
            s.mkdir("ro");
            s.chmod("ro", 0o555);
        })
        .as_nobody()
        .check();
    Diff::lockfile(["x"]).as_nobody().check();
    Diff::lockfile_script("lockfile w/x; echo \"exit $?\"; stat -c '%u %g %a %s' w/x")
        .setup(|s| {
            s.mkdir("w");
            s.chmod("w", 0o777);
        })
        .as_nobody()
        .check();
}

// Rows 25, 26 and §3.3: a name too long for the file system is shortened
// one character at a time (the lock gets the 255-character name); a
// directory part too long ends in "Filename too long".
#[test]
fn long_names() {
    Diff::lockfile([format!("{}.lock", "a".repeat(258))]).check();
    Diff::lockfile([format!("{}/xyz", "c".repeat(300))]).check();
}

// Rows 32, 34, 35 and §8: HUP, INT, QUIT and TERM while waiting give
// "Signal received" (75, never inverted) and remove the locks made; a
// signal after the lock became free is forgotten; signals inherited as
// ignored stay ignored (as does SIGPIPE).
#[test]
fn signals_while_waiting() {
    let mut script = format!("{QUIET_JOBS}{SHELL_FNS}{WAIT_SLEEPING_FN}: > held\n");
    // The background job's INT and QUIT would be ignored by the shell.
    for (sig, flags) in [
        ("TERM", "-1"),
        ("INT", "-1"),
        ("HUP", "-1"),
        ("QUIT", "-1"),
        ("TERM", "-! -1"),
    ] {
        script.push_str(&format!(
            "env --default-signal=INT,QUIT lockfile {flags} a held 2>&3 & p=$!
             wait_sleeping $p a && kill -{sig} $p
             wait $p; echo \"{sig} {flags}: exit $?\"; state\n"
        ));
    }
    // Row 34: held is removed, then TERM: the lock is taken, and c too.
    script.push_str(
        "lockfile -1 a held c 2>&3 & p=$!
         wait_sleeping $p a && rm held && kill -TERM $p
         wait $p; echo \"freed, TERM: exit $?\"; state\n",
    );
    // Row 35: HUP, INT and QUIT inherited ignored stay ignored (the mask
    // in /proc says so: no waiting for something not to happen), SIGPIPE is
    // ignored; the run goes on and takes the lock once it is free.
    script.push_str(
        "rm -f a held c; : > held
         env --ignore-signal=HUP,INT,QUIT lockfile -1 a held c 2>&3 & p=$!
         if wait_sleeping $p a; then
             ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$p/status)
             echo \"HUP INT QUIT ignored: $(( 0x$ign & 7 )), PIPE ignored: $(( (0x$ign >> 12) & 1 ))\"
             kill -HUP $p; kill -INT $p; kill -QUIT $p; kill -PIPE $p
             rm held
         fi
         wait $p; echo \"ignored signals: exit $?\"; state\n",
    );
    Diff::lockfile_script(&script).check();
}

/// A case needing the mailbox (`/var/mail/<user>.lock`): the shell code
/// `body` runs as root in a private mount namespace with a tmpfs on
/// /var/mail and a passwd with a uid-0 alias `toor` (LOGNAME=root), so the
/// system's spool is never touched. `None` (a skip) where no mount
/// namespace can be had ([`unshare_or_skip`]).
fn in_mail_namespace(body: &str) -> Option<Diff> {
    if !unshare_or_skip(&["-m"], "private mount namespace for /var/mail") {
        return None;
    }
    let inner = format!(
        "mount -t tmpfs -o mode=2775 tmpfs /var/mail || exit 1
         cp /etc/passwd /var/mail/.passwd &&
             echo toor:x:0:0:toor:/root:/bin/sh >> /var/mail/.passwd &&
             mount --bind /var/mail/.passwd /etc/passwd || exit 1
         export LOGNAME=root
         {body}"
    );
    // The inner script lives in bin/, which the listing leaves out.
    let diff = Diff::lockfile_script(
        ": > held
         exec unshare -m sh bin/ns.sh",
    )
    .setup(move |s| {
        s.write("bin/ns.sh", &inner);
    });
    Some(diff)
}

/// Shell code running `lockfile ARGS` for each case, with a header, the
/// exit status, then what is in /var/mail and the scratch directory.
fn mail_cases(cases: &[&str]) -> String {
    let mut body = String::new();
    for args in cases {
        body.push_str(&format!(
            "echo '## {args}'; echo '## {args}' >&2; lockfile {args}; echo \"exit $?\"
             ls -A /var/mail; ls -A; rm -f a b\n"
        ));
    }
    body
}

// §2 (a second `-m` is a usage error), §5 (the cleanup undoes -ml, and
// repeats -mu) and §7 (the mailbox path; LOGNAME is used only if it maps to
// the real uid, as is or cut at `@` and lower-cased), as root.
#[test]
fn mailbox_options() {
    let mut body = mail_cases(&[
        "-ml -mu",
        "-ml -ml",
        "-mu -ml",
        "-mu -mu",
        "-ml",
        "-r0 -ml",
        "-mu",
        "-mu",
        "-ml -r0 held",
        "-r0 -ml a b held",
        "-! -ml",
        "-! -mu",
        "a -ml -x",
    ]);
    body.push_str(
        "for l in toor TOOR root@x.example nobody; do
             LOGNAME=$l lockfile -ml; echo \"LOGNAME=$l: exit $?\"; ls -A /var/mail
             rm -f /var/mail/*.lock
         done\n",
    );
    if let Some(diff) = in_mail_namespace(&body) {
        diff.check();
    }
}

// Deliberate difference (1): `-v` prints lockkit's own version line, then
// the mailbox path as procmail does (getpwuid of the real uid, whatever
// LOGNAME says); status 64 through the failure cleanup. Only the mailbox
// line is compared with the reference.
#[test]
fn version() {
    let user = String::from_utf8(
        Command::new("id")
            .arg("-un")
            .output()
            .expect("run id -un")
            .stdout,
    )
    .expect("user name");
    let want = format!(
        "lockfile (lockkit {}), compatible with procmail's lockfile v3.23pre\n\n\
         Your system mailbox's lockfile:\t/var/mail/{}.lock\n",
        env!("CARGO_PKG_VERSION"),
        user.trim_end()
    );
    for args in [
        &["-v"][..],
        &["a", "b", "-v", "c"],
        &["-!", "-v"],
        &["-v", "a"],
    ] {
        let (out, files) = lockkit_args(|_| {}, args);
        out.code(64).stdout("").stderr(&want);
        assert_eq!(files, "", "lockfile {args:?}: locks left behind");
    }
    let (out, _) = lockkit_args(|_| {}, &["-!", "-r0", "a", "-v"]);
    out.code(64);
    if reference("lockfile").is_none() {
        return;
    }
    let last_line = |imp: Impl, nobody: bool| {
        let s = Scratch::new();
        let cmd = if nobody {
            TestCommand::nobody(&s, imp, "lockfile")
        } else {
            TestCommand::tool(&s, imp, "lockfile")
        };
        let out = cmd.env("LOGNAME", "nobody").arg("-v").run();
        assert_eq!(out.code, 64, "{imp:?} -v\n{out}");
        out.stderr.lines().last().unwrap_or_default().to_owned()
    };
    assert_eq!(
        last_line(Impl::Reference, false),
        last_line(Impl::Lockkit, false)
    );
    if root_or_skip("to run -v as uid 65534") {
        assert_eq!(
            last_line(Impl::Reference, true),
            last_line(Impl::Lockkit, true)
        );
    }
    // LOGNAME naming a uid-0 alias changes -ml's lock, not -v's line.
    if let Some(diff) = in_mail_namespace(
        "LOGNAME=toor lockfile -v 2>&1 | tail -n 1; LOGNAME=toor lockfile -ml; ls -A /var/mail",
    ) {
        diff.check();
    }
}

// Deliberate difference (2), row 18's lock without a signal: a lock that
// cannot be removed (an old directory) is given up after the retries, each
// refused force spending one, where procmail would loop forever.
#[test]
fn forced_unlock_denied_gives_up() {
    let old_dir = |s: &Scratch| {
        s.mkdir("dirlock");
        s.age("dirlock", 100);
    };
    let denied = "lockfile: Forced unlock denied on \"dirlock\"\n";
    let sorry = "lockfile: Sorry, giving up on \"dirlock\"\n";
    for (retries, denials) in [("0", 1), ("1", 2), ("3", 4)] {
        let (out, files) =
            lockkit_args(old_dir, &["-l", "10", "-s", "0", "-r", retries, "dirlock"]);
        out.code(73)
            .stdout("")
            .stderr(&format!("{}{sorry}", denied.repeat(denials)));
        assert_eq!(files, "d 755 0 dirlock\n", "-r {retries}");
    }
    // -! inverts that Sorry like any other; earlier locks are removed.
    let (out, files) = lockkit_args(old_dir, &["-!", "-l", "10", "-s0", "-r0", "a", "dirlock"]);
    out.code(0).stderr(&format!("{denied}{sorry}"));
    assert_eq!(files, "d 755 0 dirlock\n");
}

// Deliberate differences (4) and (5), rows 33 and §14 items 4, 5: an
// uncaught signal while waiting (SIGUSR1) removes the locks made and the
// temp file, then kills lockfile with that signal; the failure cleanup
// spares a lock that someone else replaced meanwhile. (The replacement is
// made before the original goes, as another locker's temp file would be:
// a file made after the unlink may reuse the inode number.)
#[test]
fn lockkit_signal_cleanup() {
    let (out, files) = run_script(
        Impl::Lockkit,
        held,
        &format!(
            "{QUIET_JOBS}{WAIT_SLEEPING_FN}lockfile -1 a held 2>&3 & p=$!
             wait_sleeping $p a && kill -USR1 $p
             wait $p; echo \"exit $?\""
        ),
    );
    out.stdout("exit 138\n").stderr("");
    assert_eq!(files, "f 644 0 held\n", "locks or temp files left behind");

    let (out, files) = run_script(
        Impl::Lockkit,
        held,
        &format!(
            "{QUIET_JOBS}{WAIT_SLEEPING_FN}lockfile -1 a b held 2>&3 & p=$!
             wait_sleeping $p b && echo other > new && mv new a && kill -TERM $p
             wait $p; echo \"exit $?\"; cat a"
        ),
    );
    out.stdout("exit 75\nother\n")
        .stderr("lockfile: Signal received, giving up on \"held\"\n");
    assert_eq!(files, "f 644 0 held\nf 644 6 a\n");
}
