//! Security: links planted by an unprivileged user in a sticky
//! world-writable directory (like /tmp or /var/lock).
//!
//! Each case builds an [`Arena`]: a scratch directory with `pub/` (mode
//! 1777, root's, like /tmp) and `victim/` (0755, root's) holding
//! `victim/secret` (0600, root's, known content, an old mtime). The
//! attacker, uid 65534 (`setpriv`), plants symlinks and hard links in
//! `pub/` at the lock name, at the temp-file names the next run will use, or
//! in place of the lock's parent directory. lockkit then runs as root, and
//! afterwards the victim must be intact: same bytes, mode, owner, group,
//! link count and mtime, never opened (an inotify watch sees every open),
//! and no new name in `victim/`. What happens to the planted link is
//! asserted too.
//!
//! lockkit follows a symlink at the lock name only where the kernel's
//! `fs.protected_symlinks` rule would (`lock::file::follow_check`): another
//! user's symlink in a sticky world-writable directory that its owner does
//! not own is refused (EACCES) or, when judging a lock, seen as the kernel
//! leaves it (like a dangling link: stale). So lockkit behaves everywhere as
//! the reference tools do where the sysctl is 1 (Debian's default); what
//! is asserted of lockkit does not depend on the sysctl (it is 0 in some
//! containers).
//!
//! The same plants are run against the reference tools in a fresh arena,
//! and what they do is asserted too (and printed with `--nocapture`, for
//! docs/reliability.md). Where a reference follows a planted symlink, what
//! it does depends on `fs.protected_symlinks`: where it is 0 (as on the
//! development and CI machines) the outcome observed there is asserted,
//! victim damage included — the contrast docs/compat.md describes; where
//! it is 1 the kernel refuses to follow, and what the kernel guarantees is
//! asserted: the victim is intact (and util-linux's flock fails as
//! lockkit's does). Plants that are not followed (hard links, names taken
//! by symlinks at the temp-file names) are asserted whatever the sysctl.
//!
//! Everything here needs root (to plant as uid 65534 and to be the victim's
//! owner); without root the tests skip ([`root_or_skip`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{
    AS_NOBODY, Holder, Impl, Output, Scratch, TestCommand, code_of, dead_pid, reference,
    root_or_skip, target, unshare_or_skip, wait_bounded,
};

const VICTIM_DATA: &[u8] = b"victim data: must never change\n";

/// An hour: old enough for every age rule to call a lock stale.
const OLD: i64 = 3600;
/// Ten seconds: fresh for every age rule.
const FRESH: i64 = 10;

/// Why every test here needs root.
const PLANTING: &str = "to plant links as uid 65534 against root's files";

/// Does the kernel let root follow another user's symlink in a sticky
/// world-writable directory (`fs.protected_symlinks` = 0)?
fn kernel_follows_planted_symlinks() -> bool {
    let sysctl = std::fs::read_to_string("/proc/sys/fs/protected_symlinks")
        .expect("read /proc/sys/fs/protected_symlinks");
    sysctl.trim() == "0"
}

/// What must not change about the victim.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    data: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    mtime: (i64, i64),
    ino: u64,
}

fn meta(p: &Path) -> Meta {
    let m = p.symlink_metadata().expect("lstat victim");
    Meta {
        data: std::fs::read(p).expect("read victim"),
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        nlink: m.nlink(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ino: m.ino(),
    }
}

/// What is at a name: for assertions and the reference report.
#[derive(Debug, Clone, PartialEq, Eq)]
enum At {
    Missing,
    /// A symlink with its target and owner.
    Symlink(PathBuf, u32),
    /// A regular file with its owner and inode.
    File(u32, u64),
    Other,
}

/// What became of the victim in a run, from [`Arena::changes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    /// Nothing happened to it.
    Intact,
    /// Opened or read, nothing else.
    Read,
    /// Its modification time changed, nothing else (a touch through a link).
    Touched,
    /// Itself intact, but `victim/new` was created beside it.
    NewBeside,
    /// Anything else.
    Other,
}

impl Victim {
    fn judge(changes: &str) -> Victim {
        match changes {
            "" => Victim::Intact,
            "mtime changed" => Victim::Touched,
            r#"created in victim/: ["new"]"# => Victim::NewBeside,
            c if c.starts_with("opened/read") && !c.contains(';') => Victim::Read,
            _ => Victim::Other,
        }
    }
}

/// A sticky world-writable `pub/`, a root-owned `victim/secret`, and an
/// inotify watch that sees the victim being opened.
struct Arena {
    s: Scratch,
    before: Meta,
    inotify: rustix::fd::OwnedFd,
}

impl Arena {
    /// `None` (a skip) unless root.
    fn new(victim_age: i64) -> Option<Arena> {
        if !root_or_skip(PLANTING) {
            return None;
        }
        let s = Scratch::new();
        s.mkdir("pub");
        s.chmod("pub", 0o1777);
        s.mkdir("victim");
        s.chmod("victim", 0o755);
        s.write("victim/secret", VICTIM_DATA);
        s.chmod("victim/secret", 0o600);
        s.age("victim/secret", victim_age);
        let before = meta(&s.path("victim/secret"));
        use rustix::fs::inotify;
        let inotify = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)
            .expect("inotify_init");
        inotify::add_watch(
            &inotify,
            s.path("victim/secret"),
            inotify::WatchFlags::OPEN | inotify::WatchFlags::ACCESS | inotify::WatchFlags::MODIFY,
        )
        .expect("inotify watch on the victim");
        Some(Arena { s, before, inotify })
    }

    fn victim(&self) -> PathBuf {
        self.s.path("victim/secret")
    }

    /// Run shell code as uid 65534 in the scratch directory, with `$V` the
    /// victim file and `$D` the victim directory (absolute paths).
    #[track_caller]
    fn plant(&self, script: &str) {
        let out = Command::new(AS_NOBODY[0])
            .args(&AS_NOBODY[1..])
            .args(["/bin/sh", "-euc", script])
            .current_dir(self.s.dir())
            .env("V", self.victim())
            .env("D", self.s.path("victim"))
            .output()
            .expect("run setpriv");
        assert!(
            out.status.success(),
            "planting as uid 65534 failed: {script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A hard link `pub/<name>` to the victim. protected_hardlinks (1 by
    /// default) forbids uid 65534 to link root's 0600 file; then root makes
    /// it: the result is the same (a name has no owner of its own, the
    /// file stays root's), as where the sysctl is 0 and the attacker can.
    fn hard_link(&self, name: &str) -> &'static str {
        let dst = self.s.path("pub").join(name);
        let by_nobody = Command::new(AS_NOBODY[0])
            .args(&AS_NOBODY[1..])
            .arg("ln")
            .arg(self.victim())
            .arg(&dst)
            .stderr(Stdio::null())
            .status()
            .expect("run setpriv ln")
            .success();
        if by_nobody {
            return "planted by uid 65534";
        }
        std::fs::hard_link(self.victim(), &dst).expect("hard link as root");
        "made by root: protected_hardlinks forbids uid 65534"
    }

    fn run(&self, imp: Impl, tool: &str, args: &[&str]) -> Output {
        TestCommand::tool(&self.s, imp, tool).args(args).run()
    }

    fn at(&self, rel: &str) -> At {
        let p = self.s.path(rel);
        match p.symlink_metadata() {
            Err(_) => At::Missing,
            Ok(m) if m.file_type().is_symlink() => {
                At::Symlink(std::fs::read_link(&p).expect("readlink"), m.uid())
            }
            Ok(m) if m.is_file() => At::File(m.uid(), m.ino()),
            Ok(_) => At::Other,
        }
    }

    /// The names in `victim/` besides `secret`.
    fn new_in_victim_dir(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.s.path("victim"))
            .expect("read victim dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "secret")
            .collect();
        v.sort();
        v
    }

    /// How many times the victim was opened, read or written since the last
    /// call.
    fn touched(&self) -> usize {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = rustix::fs::inotify::Reader::new(&self.inotify, &mut buf);
        let mut n = 0;
        while reader.next().is_ok() {
            n += 1;
        }
        n
    }

    /// What happened to the victim, in words (empty: nothing).
    fn changes(&self, nlink: u64) -> String {
        let mut out = Vec::new();
        // First: reading the victim below opens it too.
        let opened = self.touched();
        if opened > 0 {
            out.push(format!("opened/read ({opened} inotify events)"));
        }
        match self.victim().symlink_metadata() {
            Err(_) => return "victim REMOVED".into(),
            Ok(_) => {
                let now = meta(&self.victim());
                let b = &self.before;
                if now.data != b.data {
                    out.push(format!(
                        "content changed to {:?}",
                        String::from_utf8_lossy(&now.data)
                    ));
                }
                if now.mode != b.mode || now.uid != b.uid || now.gid != b.gid {
                    out.push(format!(
                        "mode/owner changed {:o} {}:{}",
                        now.mode, now.uid, now.gid
                    ));
                }
                if now.nlink != nlink {
                    out.push(format!("nlink {} (expected {nlink})", now.nlink));
                }
                if now.mtime != b.mtime {
                    out.push("mtime changed".into());
                }
                if now.ino != b.ino {
                    out.push("replaced by another file".into());
                }
            }
        }
        let new = self.new_in_victim_dir();
        if !new.is_empty() {
            out.push(format!("created in victim/: {new:?}"));
        }
        out.join("; ")
    }

    /// The victim is exactly as it was (with `nlink` links), was never
    /// opened, and nothing new appeared beside it.
    #[track_caller]
    fn assert_intact(&self, what: &str, nlink: u64) {
        let changes = self.changes(nlink);
        assert!(changes.is_empty(), "{what}: {changes}");
    }
}

/// One run of lockkit against a plant: the exit code it must give and what
/// must be at `name` afterwards; and what the reference does with the same
/// plant.
struct Case<'a> {
    plant: &'a dyn Fn(&Arena),
    victim_age: i64,
    tool: &'a str,
    args: &'a [&'a str],
    code: i32,
    name: &'a str,
    after: Expect,
    /// The victim's link count afterwards.
    nlink: u64,
    /// The reference's run, or `None` where it has no such run (util-linux
    /// 2.38.1 has no `--fcntl`).
    reference: Option<Ref>,
}

/// What the reference tool does with a plant where the kernel follows
/// planted symlinks (`fs.protected_symlinks` = 0): its exit code, what
/// becomes of the victim, and what is at the lock name afterwards.
#[derive(Debug, Clone, Copy)]
struct Ref {
    code: i32,
    victim: Victim,
    after: Expect,
}

impl<'a> Case<'a> {
    /// The reference, run with the same plant, exits with `code`, leaves
    /// the victim `victim` and the lock name `after`.
    fn reference(self, code: i32, victim: Victim, after: Expect) -> Case<'a> {
        Case {
            reference: Some(Ref {
                code,
                victim,
                after,
            }),
            ..self
        }
    }
}

/// What must be at the lock name after the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The planted symlink or hard link, untouched.
    Planted,
    /// Nothing (the planted link was removed, and no lock left).
    Gone,
    /// A lock of root's, a new file (not the victim) in place of the link.
    RootLock,
}

/// What is at `name` in `a` after a run must be `after` (`planted`: what
/// was there before the run).
#[track_caller]
fn assert_after(a: &Arena, name: &str, planted: &At, after: Expect, what: &str) {
    let now = a.at(name);
    match after {
        Expect::Planted => assert_eq!(&now, planted, "{what}: the planted link changed"),
        Expect::Gone => assert_eq!(now, At::Missing, "{what}: left {now:?}"),
        Expect::RootLock => match now {
            At::File(0, ino) => {
                assert_ne!(ino, a.before.ino, "{what}: the lock is the victim")
            }
            other => panic!("{what}: expected root's new lock, found {other:?}"),
        },
    }
}

/// Run `case` against lockkit and, in a fresh arena, against the reference
/// (both asserted): returns the report line.
#[track_caller]
fn check(case: &Case<'_>) -> String {
    let Some(a) = Arena::new(case.victim_age) else {
        return String::new();
    };
    (case.plant)(&a);
    let planted = a.at(case.name);
    let nlink_planted = meta(&a.victim()).nlink;
    a.touched();
    let what = format!("lockkit {} {}", case.tool, case.args.join(" "));
    let out = a.run(Impl::Lockkit, case.tool, case.args);
    assert_eq!(out.code, case.code, "{what}: exit code\n{out}");
    a.assert_intact(&what, case.nlink);
    assert_after(&a, case.name, &planted, case.after, &what);
    let mut line = format!(
        "{what} [victim nlink {nlink_planted} with the plant]: lockkit exit {}",
        out.code
    );
    let want = case.reference.filter(|_| reference(case.tool).is_some());
    if let Some(want) = want {
        let r = Arena::new(case.victim_age).expect("root");
        (case.plant)(&r);
        let planted = r.at(case.name);
        r.touched();
        let out = r.run(Impl::Reference, case.tool, case.args);
        let changes = r.changes(case.nlink);
        let victim = Victim::judge(&changes);
        let what = format!("reference {} {}", case.tool, case.args.join(" "));
        if matches!(planted, At::Symlink(..)) && !kernel_follows_planted_symlinks() {
            // The kernel refuses to follow the link (EACCES): the victim is
            // safe, whatever the tool makes of the refusal.
            assert_eq!(victim, Victim::Intact, "{what}: {changes}\n{out}");
        } else {
            assert_eq!(
                (out.code, victim),
                (want.code, want.victim),
                "{what}: exit code and victim ({changes})\n{out}"
            );
            assert_after(&r, case.name, &planted, want.after, &what);
        }
        line.push_str(&format!(
            "; reference exit {}{}, victim: {}, lock name: {:?}",
            out.code,
            if out.stderr.is_empty() {
                String::new()
            } else {
                format!(" ({})", out.stderr.trim_end())
            },
            if changes.is_empty() {
                "intact"
            } else {
                &changes
            },
            r.at(case.name)
        ));
    }
    line
}

fn report(title: &str, lines: &[String]) {
    eprintln!("== {title}");
    for l in lines.iter().filter(|l| !l.is_empty()) {
        eprintln!("  {l}");
    }
}

fn symlink_to_victim(a: &Arena) {
    a.plant(r#"ln -s "$V" pub/x.lock"#);
}

// A symlink at the lock name pointing at root's file. dotlock judges a
// foreign symlink as the kernel leaves it (stale), so it removes the link
// and takes the lock; `-t` and flock refuse (EACCES); `-u` removes the
// link; lockfile judges the link itself (lstat), as procmail does. Where
// the kernel follows the link, dotlockfile reads the victim and judges the
// lock by it (a fresh victim: held), `-t` touches the victim, and
// util-linux opens it; procmail never follows.
#[test]
fn symlink_at_the_lock_name_to_a_victim_file() {
    if !root_or_skip(PLANTING) {
        return;
    }
    let dead = dead_pid().to_string();
    let cases: Vec<Case<'_>> = vec![
        // Old and fresh victims: a followed link would be judged by the
        // victim's mtime (held when fresh).
        case(
            &symlink_to_victim,
            OLD,
            "dotlock",
            &["-r", "0", "pub/x.lock"],
            0,
            Expect::RootLock,
        )
        .reference(0, Victim::Read, Expect::RootLock),
        case(
            &symlink_to_victim,
            FRESH,
            "dotlock",
            &["-r", "0", "pub/x.lock"],
            0,
            Expect::RootLock,
        )
        .reference(4, Victim::Read, Expect::Planted),
        case(
            &symlink_to_victim,
            FRESH,
            "dotlock",
            &["-p", "-r", "0", "pub/x.lock"],
            0,
            Expect::RootLock,
        )
        .reference(4, Victim::Read, Expect::Planted),
        case(
            &symlink_to_victim,
            FRESH,
            "dotlock",
            &["-r", "0", "pub/x.lock", "true"],
            0,
            Expect::Gone,
        )
        .reference(4, Victim::Read, Expect::Planted),
        case(
            &symlink_to_victim,
            FRESH,
            "dotlock",
            &["-p", "-r", "0", "pub/x.lock", "true"],
            0,
            Expect::Gone,
        )
        .reference(4, Victim::Read, Expect::Planted),
        case(
            &symlink_to_victim,
            FRESH,
            "dotlock",
            &["-c", "pub/x.lock"],
            1,
            Expect::Planted,
        )
        .reference(0, Victim::Read, Expect::Planted),
        case(
            &symlink_to_victim,
            FRESH,
            "dotlock",
            &["-c", "-p", "pub/x.lock"],
            1,
            Expect::Planted,
        )
        .reference(0, Victim::Read, Expect::Planted),
        case(
            &symlink_to_victim,
            OLD,
            "dotlock",
            &["-t", "pub/x.lock"],
            1,
            Expect::Planted,
        )
        .reference(0, Victim::Touched, Expect::Planted),
        case(
            &symlink_to_victim,
            OLD,
            "dotlock",
            &["-u", "pub/x.lock"],
            0,
            Expect::Gone,
        )
        .reference(0, Victim::Intact, Expect::Gone),
        case(
            &symlink_to_victim,
            OLD,
            "dotlockfile",
            &["-r", "0", "pub/x.lock"],
            0,
            Expect::RootLock,
        )
        .reference(0, Victim::Read, Expect::RootLock),
        // procmail judges the link's own mtime: fresh link → held …
        case(
            &symlink_to_victim,
            OLD,
            "lockfile",
            &["-r0", "pub/x.lock"],
            73,
            Expect::Planted,
        )
        .reference(73, Victim::Intact, Expect::Planted),
        case(
            &symlink_to_victim,
            OLD,
            "lockfile",
            &["-l", "10", "-s0", "-r0", "pub/x.lock"],
            73,
            Expect::Planted,
        )
        .reference(73, Victim::Intact, Expect::Planted),
        // flock refuses the foreign link (as the kernel does where
        // protected_symlinks is 1): util-linux's message, exit 66. (Where
        // the kernel follows it, util-linux opens and locks the victim.)
        case(
            &symlink_to_victim,
            OLD,
            "flock",
            &["pub/x.lock", "true"],
            66,
            Expect::Planted,
        )
        .reference(0, Victim::Read, Expect::Planted),
        case(
            &symlink_to_victim,
            OLD,
            "flock",
            &["-n", "-s", "pub/x.lock", "-c", "true"],
            66,
            Expect::Planted,
        )
        .reference(0, Victim::Read, Expect::Planted),
        // (util-linux 2.38.1 has no --fcntl: lockkit's only.)
        case(
            &symlink_to_victim,
            OLD,
            "flock",
            &["--fcntl", "pub/x.lock", "true"],
            66,
            Expect::Planted,
        ),
    ];
    // … an old link is forced: the link goes, never its target.
    let aged = |a: &Arena| {
        a.plant(r#"ln -s "$V" pub/x.lock; touch -h -d '100 sec ago' pub/x.lock"#);
    };
    let forced = case(
        &aged,
        OLD,
        "lockfile",
        &["-l", "10", "-s0", "-r0", "pub/x.lock"],
        0,
        Expect::RootLock,
    )
    .reference(0, Victim::Intact, Expect::RootLock);
    // A symlink to the attacker's own file naming a dead pid: stale, and
    // only the link is removed (the attacker's file too is left alone).
    let own_file = move |a: &Arena| {
        a.plant(&format!("echo {dead} > pub/mine; ln -s mine pub/x.lock"));
    };
    let dead_pid_case = case(
        &own_file,
        FRESH,
        "dotlock",
        &["-p", "-r", "0", "pub/x.lock"],
        0,
        Expect::RootLock,
    )
    .reference(0, Victim::Intact, Expect::RootLock);
    let mut lines: Vec<String> = cases.iter().map(check).collect();
    lines.push(check(&forced));
    lines.push(check(&dead_pid_case));
    report("symlink at the lock name -> victim/secret", &lines);
    // (The attacker's file behind the dead-pid link survived: check()
    // asserted the lock; look at the file too.)
    let a = Arena::new(FRESH).expect("root");
    own_file(&a);
    a.run(Impl::Lockkit, "dotlock", &["-p", "-r", "0", "pub/x.lock"])
        .success();
    assert!(a.s.exists("pub/mine"), "the link's target was removed");
}

fn case<'a>(
    plant: &'a dyn Fn(&Arena),
    victim_age: i64,
    tool: &'a str,
    args: &'a [&'a str],
    code: i32,
    after: Expect,
) -> Case<'a> {
    Case {
        plant,
        victim_age,
        tool,
        args,
        code,
        name: "pub/x.lock",
        after,
        nlink: 1,
        reference: None,
    }
}

// A dangling symlink at the lock name into the victim directory: following
// it with O_CREAT would create victim/new as root. Nothing may appear there.
// (Where the kernel follows the link, util-linux creates victim/new.)
#[test]
fn symlink_at_the_lock_name_into_a_victim_directory() {
    if !root_or_skip(PLANTING) {
        return;
    }
    let dangling = |a: &Arena| a.plant(r#"ln -s "$D/new" pub/x.lock"#);
    let cases = [
        case(
            &dangling,
            OLD,
            "dotlock",
            &["-r", "0", "pub/x.lock"],
            0,
            Expect::RootLock,
        )
        .reference(0, Victim::Intact, Expect::RootLock),
        case(
            &dangling,
            OLD,
            "dotlock",
            &["-r", "0", "pub/x.lock", "true"],
            0,
            Expect::Gone,
        )
        .reference(0, Victim::Intact, Expect::Gone),
        case(
            &dangling,
            OLD,
            "dotlock",
            &["-t", "pub/x.lock"],
            1,
            Expect::Planted,
        )
        .reference(1, Victim::Intact, Expect::Planted),
        case(
            &dangling,
            OLD,
            "dotlock",
            &["-c", "pub/x.lock"],
            1,
            Expect::Planted,
        )
        .reference(1, Victim::Intact, Expect::Planted),
        case(
            &dangling,
            OLD,
            "lockfile",
            &["-r0", "pub/x.lock"],
            73,
            Expect::Planted,
        )
        .reference(73, Victim::Intact, Expect::Planted),
        case(
            &dangling,
            OLD,
            "flock",
            &["pub/x.lock", "true"],
            66,
            Expect::Planted,
        )
        .reference(0, Victim::NewBeside, Expect::Planted),
        case(
            &dangling,
            OLD,
            "flock",
            &["-x", "-w", "1", "pub/x.lock", "true"],
            66,
            Expect::Planted,
        )
        .reference(0, Victim::NewBeside, Expect::Planted),
        // (util-linux 2.38.1 has no --fcntl: lockkit's only.)
        case(
            &dangling,
            OLD,
            "flock",
            &["--fcntl", "pub/x.lock", "true"],
            66,
            Expect::Planted,
        ),
    ];
    let lines: Vec<String> = cases.iter().map(check).collect();
    report("dangling symlink at the lock name -> victim/new", &lines);
}

// A hard link at the lock name to root's file. Stale-lock breaking, forcing
// and -u remove the planted *name* (the victim keeps its own, with one link
// again); a held one is left alone; flock locks the file it finds (an
// existing file, opened without O_TRUNC as util-linux does): nothing is
// written. (`dotlock -t` through a hard link: see the next test.)
#[test]
fn hard_link_at_the_lock_name_to_a_victim_file() {
    if !root_or_skip(PLANTING) {
        return;
    }
    let how = std::sync::Mutex::new("");
    let hard = |a: &Arena| {
        *how.lock().expect("lock") = a.hard_link("x.lock");
    };
    let broken = |age, tool, args, code| Case {
        nlink: 1,
        ..case(&hard, age, tool, args, code, Expect::RootLock)
    };
    let kept = |age, tool, args, code| Case {
        nlink: 2,
        ..case(&hard, age, tool, args, code, Expect::Planted)
    };
    // The references do the same to the name; dotlockfile reads the lock's
    // content, here the victim's (no symlink: whatever the sysctl).
    let cases = [
        broken(OLD, "dotlock", &["-r", "0", "pub/x.lock"][..], 0).reference(
            0,
            Victim::Read,
            Expect::RootLock,
        ),
        kept(FRESH, "dotlock", &["-r", "0", "pub/x.lock"][..], 4).reference(
            4,
            Victim::Read,
            Expect::Planted,
        ),
        Case {
            after: Expect::Gone,
            ..broken(OLD, "dotlock", &["-r", "0", "pub/x.lock", "true"][..], 0)
        }
        .reference(0, Victim::Read, Expect::Gone),
        Case {
            after: Expect::Gone,
            ..broken(OLD, "dotlock", &["-u", "pub/x.lock"][..], 0)
        }
        .reference(0, Victim::Intact, Expect::Gone),
        kept(FRESH, "dotlock", &["-c", "pub/x.lock"][..], 0).reference(
            0,
            Victim::Read,
            Expect::Planted,
        ),
        kept(OLD, "lockfile", &["-r0", "pub/x.lock"][..], 73).reference(
            73,
            Victim::Intact,
            Expect::Planted,
        ),
        broken(
            OLD,
            "lockfile",
            &["-l", "10", "-s0", "-r0", "pub/x.lock"][..],
            0,
        )
        .reference(0, Victim::Intact, Expect::RootLock),
    ];
    let mut lines: Vec<String> = cases.iter().map(check).collect();
    // flock opens and locks the file at the name, the victim's inode, as
    // util-linux does (no O_TRUNC, no write): only opening is allowed.
    for args in [
        &["pub/x.lock", "true"][..],
        &["--fcntl", "pub/x.lock", "true"][..],
        &["-s", "pub/x.lock", "true"][..],
    ] {
        let a = Arena::new(OLD).expect("root");
        hard(&a);
        a.touched();
        let out = a.run(Impl::Lockkit, "flock", args);
        out.success();
        let changes = a.changes(2);
        assert!(
            changes.starts_with("opened/read") && !changes.contains(';'),
            "flock {args:?} through a hard link: only opening is allowed, got: {changes}"
        );
        lines.push(format!(
            "lockkit flock {} via hard link: exit 0, victim opened and locked, not written",
            args.join(" ")
        ));
    }
    lines.push(format!("hard link {}", how.lock().expect("lock")));
    report("hard link at the lock name -> victim/secret", &lines);
}

// `dotlock -t` on a hard link touches the inode it names, as liblockfile's
// utime(2) does: times only, never content, mode or owner. Where
// protected_hardlinks is 1 (the default) the attacker can only link files
// it may already write — and so could touch itself.
#[test]
fn touch_through_a_hard_link_sets_times_only() {
    let Some(a) = Arena::new(OLD) else {
        return;
    };
    let how = a.hard_link("x.lock");
    a.run(Impl::Lockkit, "dotlock", &["-t", "pub/x.lock"])
        .success();
    let now = meta(&a.victim());
    let b = &a.before;
    assert_eq!(
        (&now.data, now.mode, now.uid, now.gid, now.nlink, now.ino),
        (&b.data, b.mode, b.uid, b.gid, 2, b.ino),
        "dotlock -t through a hard link"
    );
    assert!(a.new_in_victim_dir().is_empty());
    eprintln!("== dotlock -t via hard link ({how}): times set to now, nothing else");
}

/// Start `tool ARGS` (lockkit's) through a shell that reports its pid and
/// waits for a go: `plant` runs with the pid the tool will have (the shell
/// execs it), so that planting at the tool's temp-file names is exact.
fn run_pinned(a: &Arena, imp: Impl, tool: &str, args: &[&str], plant: impl FnOnce(u32)) -> Output {
    let link = a.s.link(tool, &target(imp, tool));
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("echo $$; read go; exec \"$0\" \"$@\"")
        .arg(&link)
        .args(args)
        .current_dir(a.s.dir())
        .env("LC_ALL", "C")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn pinned run");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read pid");
    let pid: u32 = line.trim().parse().expect("pid line");
    plant(pid);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("say go");
    drop(stdin);
    let st = wait_bounded(&mut child, Duration::from_secs(60), "pinned run");
    let mut out = String::new();
    let _ = stdout.read_to_string(&mut out);
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    Output {
        code: code_of(st),
        stdout: out,
        stderr: err,
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The file name of a temp-file path.
fn file_name(p: std::path::PathBuf) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .expect("a file name")
}

/// liblockfile's temp names for `pid`: all 16 clock nibbles (lockkit's own
/// naming, so the plants sit exactly where the run will look).
fn dotlock_temp_names(pid: u32) -> Vec<String> {
    (0..16)
        .map(|nibble| {
            file_name(lockkit::lock::dotfile::liblockfile_temp_name_for(
                Path::new("x.lock"),
                pid,
                nibble,
            ))
        })
        .collect()
}

/// procmail's temp names for `pid`, for every second from a little before
/// now to a minute on (the run's clock second, plus the serial's carry),
/// and all four serial characters.
fn lockfile_temp_names(pid: u32) -> Vec<String> {
    let now = unix_now();
    (now - 2..now + 60)
        .flat_map(|t| {
            (0..4).map(move |serial| {
                file_name(lockkit::lockfile::temp_name_for(
                    Path::new("x.lock"),
                    pid,
                    serial,
                    t,
                ))
            })
        })
        .collect()
}

/// Shell code planting, in `pub/`, a symlink named each of `names` to
/// `target` (a shell word).
fn plant_links(names: &[String], target: &str) -> String {
    let mut script = String::from("cd pub\n");
    for n in names {
        script.push_str(&format!("ln -s {target} '{n}'\n"));
    }
    script
}

// The temp-file names are predictable (pid, clock, host). Symlinks planted
// at every name the next run will try — to the victim, or dangling into the
// victim directory — are never followed (O_CREAT|O_EXCL|O_NOFOLLOW): the
// run gives up as the reference does (dotlock: 2, cannot create the temp
// file; lockfile: every candidate name taken, 69), the plants stay, the
// victim is intact and nothing is created beside it.
#[test]
fn symlinks_at_the_temp_file_names() {
    if !root_or_skip(PLANTING) {
        return;
    }
    let mut lines = Vec::new();
    for (tool, args, code) in [
        ("dotlock", &["-r", "0", "pub/x.lock"][..], 2),
        ("dotlock", &["-r", "0", "pub/x.lock", "true"][..], 2),
        ("dotlock", &["-c", "pub/x.lock"][..], 1),
        ("lockfile", &["-r0", "pub/x.lock"][..], 69),
    ] {
        for target in ["\"$V\"", "\"$D/new\""] {
            let mut codes = Vec::new();
            for imp in [Impl::Lockkit, Impl::Reference] {
                if imp == Impl::Reference && reference(tool).is_none() {
                    continue;
                }
                let a = Arena::new(OLD).expect("root");
                let mut planted = Vec::new();
                let out = run_pinned(&a, imp, tool, args, |pid| {
                    planted = if tool == "lockfile" {
                        lockfile_temp_names(pid)
                    } else {
                        dotlock_temp_names(pid)
                    };
                    a.plant(&plant_links(&planted, target));
                });
                let changes = a.changes(1);
                let links_kept = planted
                    .iter()
                    .all(|n| matches!(a.at(&format!("pub/{n}")), At::Symlink(_, 65534)));
                let lock = a.at("pub/x.lock");
                // The same for the reference, whatever the sysctl: an
                // exclusive create never follows a symlink.
                let what = format!(
                    "{imp:?} {tool} {} with temp names -> {target}",
                    args.join(" ")
                );
                assert_eq!(out.code, code, "{what}\n{out}");
                assert!(changes.is_empty(), "{what}: {changes}");
                assert!(links_kept, "{what}: a planted link was touched");
                assert_eq!(lock, At::Missing, "{what}: a lock was made");
                codes.push(format!(
                    "{imp:?} exit {} {}victim {}, plants {}",
                    out.code,
                    if out.stderr.is_empty() {
                        String::new()
                    } else {
                        format!("({}) ", out.stderr.trim_end())
                    },
                    if changes.is_empty() {
                        "intact"
                    } else {
                        &changes
                    },
                    if links_kept { "kept" } else { "touched" }
                ));
            }
            lines.push(format!(
                "{tool} {} -> {target}: {}",
                args.join(" "),
                codes.join("; ")
            ));
        }
    }
    // Only the first candidate planted: lockfile moves on to the next name
    // and gets the lock; the plant stays.
    let a = Arena::new(OLD).expect("root");
    let mut first = String::new();
    let out = run_pinned(
        &a,
        Impl::Lockkit,
        "lockfile",
        &["-r0", "pub/x.lock"],
        |pid| {
            // The first candidate (serial `.`) of each second from two
            // before now on: the run's first name, whenever it starts.
            let firsts: Vec<String> = lockfile_temp_names(pid).into_iter().step_by(4).collect();
            first = firsts[2].clone();
            a.plant(&plant_links(&firsts, "\"$V\""));
        },
    );
    out.success();
    a.assert_intact("lockfile with its first temp names planted", 1);
    assert!(matches!(a.at("pub/x.lock"), At::File(0, _)));
    assert!(matches!(
        a.at(&format!("pub/{first}")),
        At::Symlink(_, 65534)
    ));
    report("symlinks at the temp-file names", &lines);
}

// The lock's parent directory replaced by a symlink (pub/a -> victim/):
// both lockkit and the reference follow it — /var/lock -> /run/lock and
// /var/mail -> /var/spool/mail are such links — so the lock is made in
// victim/. That creates a new file of root's there but writes through no
// existing one: the victim is intact. A path through a directory an
// attacker controls is the attacker's to redirect; see the report.
#[test]
fn symlinked_parent_directory() {
    if !root_or_skip(PLANTING) {
        return;
    }
    let mut lines = Vec::new();
    for (tool, args) in [
        ("dotlock", &["-r", "0", "pub/a/x.lock"][..]),
        ("lockfile", &["-r0", "pub/a/x.lock"][..]),
        ("flock", &["pub/a/x.lock", "true"][..]),
    ] {
        let mut seen = Vec::new();
        for imp in [Impl::Lockkit, Impl::Reference] {
            if imp == Impl::Reference && reference(tool).is_none() {
                continue;
            }
            let a = Arena::new(OLD).expect("root");
            a.plant(r#"ln -s "$D" pub/a"#);
            a.touched();
            let out = a.run(imp, tool, args);
            assert_eq!(a.touched(), 0, "{imp:?} {tool}: the victim was opened");
            let b = &a.before;
            let now = meta(&a.victim());
            assert_eq!(
                (&now.data, now.mode, now.nlink, now.mtime, now.ino),
                (&b.data, b.mode, b.nlink, b.mtime, b.ino),
                "{imp:?} {tool} via a symlinked parent: the victim changed"
            );
            seen.push((out.code, a.new_in_victim_dir()));
        }
        if let [lk, rf] = &seen[..] {
            assert_eq!(
                lk, rf,
                "{tool} via a symlinked parent: lockkit (left) vs the reference"
            );
        }
        lines.push(format!(
            "{tool} {}: (exit, created in victim/) = {:?}",
            args.join(" "),
            seen
        ));
    }
    report(
        "symlinked parent directory pub/a -> victim/ (lockkit, reference)",
        &lines,
    );
}

// Anyone who can open a directory can hold a flock(2) on it. lockkit's
// removers and stale-lock breakers serialise on that lock (docs/design.md);
// an attacker holding it in /tmp must not make them hang: after a short
// wait they go on without it, as upstream does. No timing is asserted: the
// runs must simply end (the harness's safety timeout is the bound).
#[test]
fn a_flock_on_the_directory_does_not_hang_removal() {
    let Some(a) = Arena::new(OLD) else {
        return;
    };
    let Some(flock) = reference("flock") else {
        return;
    };
    let mut cmd = Command::new(AS_NOBODY[0]);
    cmd.args(&AS_NOBODY[1..])
        .arg(flock)
        .args(["pub", "sh", "-c", "echo held; cat >/dev/null"])
        .current_dir(a.s.dir());
    // Unlock (root's lock), command mode (which removes its lock at the
    // end), breaking a stale lock, and lockfile forcing one: all at once,
    // each on a lock of its own.
    a.s.write("pub/u.lock", "0\n");
    for old in ["pub/s.lock", "pub/f.lock"] {
        a.s.write(old, "0\n");
        a.s.age(old, OLD);
    }
    let stale_ino = |rel: &str| a.s.path(rel).metadata().expect("stat").ino();
    let (s_ino, f_ino) = (stale_ino("pub/s.lock"), stale_ino("pub/f.lock"));
    let holder = Holder::start(cmd);
    let runs: Vec<(&str, &[&str])> = vec![
        ("dotlock", &["-u", "pub/u.lock"]),
        ("dotlock", &["-r", "0", "pub/c.lock", "true"]),
        ("dotlock", &["-r", "0", "pub/s.lock"]),
        ("lockfile", &["-l", "10", "-s0", "-r0", "pub/f.lock"]),
    ];
    let mut kids: Vec<_> = runs
        .iter()
        .map(|(tool, args)| {
            TestCommand::lockkit(&a.s, tool)
                .args(*args)
                .own_process_group()
                .spawn()
        })
        .collect();
    for ((tool, args), kid) in runs.iter().zip(&mut kids) {
        let what = format!("{tool} {args:?} with pub/ flocked by uid 65534");
        let st = wait_bounded(kid, Duration::from_secs(60), &what);
        assert_eq!(code_of(st), 0, "{what}");
    }
    drop(holder);
    assert!(
        !a.s.exists("pub/u.lock"),
        "dotlock -u did not remove the lock"
    );
    assert!(!a.s.exists("pub/c.lock"), "command mode left its lock");
    assert_ne!(
        stale_ino("pub/s.lock"),
        s_ino,
        "the stale lock was not broken"
    );
    assert_ne!(
        stale_ino("pub/f.lock"),
        f_ino,
        "the old lock was not forced"
    );
    a.assert_intact("removal with the directory flocked", 1);
}

// The mailbox lock (`lockfile -ml`, `-mu`) in a sticky world-writable spool
// (a private mount namespace with a tmpfs on /var/mail, mode 1777): a
// symlink planted at /var/mail/root.lock is held (-r0: 73), forced only
// when the link itself is old (the link goes), and removed by -mu — the
// victim is never touched.
#[test]
fn mailbox_lock_in_a_sticky_spool() {
    let Some(a) = Arena::new(OLD) else {
        return;
    };
    if !unshare_or_skip(&["-m"], "private mount namespace for /var/mail") {
        return;
    }
    let nobody = AS_NOBODY.join(" ");
    let script = format!(
        "mount -t tmpfs -o mode=1777 tmpfs /var/mail || exit 1
         export LOGNAME=root
         plant() {{ {nobody} ln -s \"$V\" /var/mail/root.lock; }}
         plant; lockfile -r0 -ml; echo \"held: $?\"; ls -l /var/mail | grep -c 'root.lock ->'
         touch -h -d '100 sec ago' /var/mail/root.lock
         lockfile -l 10 -s0 -r0 -ml; echo \"forced: $?\"; test -L /var/mail/root.lock || echo replaced
         rm -f /var/mail/root.lock; plant
         lockfile -mu; echo \"unlocked: $?\"; test -e /var/mail/root.lock || test -L /var/mail/root.lock || echo gone"
    );
    a.s.write("bin/ns.sh", &script);
    a.s.link("lockfile", &target(Impl::Lockkit, "lockfile"));
    a.touched();
    let out = TestCommand::script(&a.s, "exec unshare -m sh bin/ns.sh")
        .env("V", a.victim())
        .run();
    out.success();
    assert_eq!(
        out.stdout, "held: 73\n1\nforced: 0\nreplaced\nunlocked: 0\ngone\n",
        "{out}"
    );
    assert!(
        out.stderr
            .contains("Forcing lock on \"/var/mail/root.lock\""),
        "{out}"
    );
    a.assert_intact("lockfile -ml/-mu in a sticky spool", 1);
}

// flock and util-linux differentially on a symlink planted by uid 65534:
// util-linux follows it with O_CREAT (creating the target of a dangling
// one) unless the kernel's protected_symlinks refuses (EACCES); lockkit
// always refuses. Where the sysctl is 1 both give the same result; where
// it is 0 util-linux opens the victim, or creates the dangling link's
// target. A symlink of the caller's own (or in a directory that is not
// sticky and world-writable) is followed by both.
#[test]
fn flock_and_util_linux_on_planted_symlinks() {
    if !root_or_skip(PLANTING) {
        return;
    }
    let follows = kernel_follows_planted_symlinks();
    let mut lines = vec![format!("the kernel follows planted symlinks: {follows}")];
    // What util-linux does to the victim where the kernel follows the link.
    for (what, plant, followed) in [
        ("-> victim/secret", r#"ln -s "$V" pub/x.lock"#, Victim::Read),
        (
            "-> victim/new (dangling)",
            r#"ln -s "$D/new" pub/x.lock"#,
            Victim::NewBeside,
        ),
    ] {
        for imp in [Impl::Lockkit, Impl::Reference] {
            if imp == Impl::Reference && reference("flock").is_none() {
                continue;
            }
            let a = Arena::new(OLD).expect("root");
            a.plant(plant);
            a.touched();
            let out = a.run(imp, "flock", &["pub/x.lock", "true"]);
            let changes = a.changes(1);
            // Where the kernel refuses, util-linux fails as lockkit does.
            if imp == Impl::Lockkit || !follows {
                assert_eq!(
                    (out.code, out.stderr.as_str()),
                    (
                        66,
                        "flock: cannot open lock file pub/x.lock: Permission denied\n"
                    ),
                    "{imp:?} flock {what}"
                );
                assert!(changes.is_empty(), "{imp:?} flock {what}: {changes}");
            } else {
                assert_eq!(
                    (out.code, out.stderr.as_str()),
                    (0, ""),
                    "util-linux {what}"
                );
                assert_eq!(
                    Victim::judge(&changes),
                    followed,
                    "util-linux flock {what}: {changes}"
                );
            }
            lines.push(format!(
                "{imp:?} flock pub/x.lock true, x.lock {what}: exit {}{}, victim: {}",
                out.code,
                if out.stderr.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", out.stderr.trim_end())
                },
                if changes.is_empty() {
                    "intact"
                } else {
                    &changes
                }
            ));
        }
    }
    // The caller's own symlinks are followed, as util-linux does: to an
    // existing file, and creating a dangling one's target.
    let a = Arena::new(OLD).expect("root");
    std::os::unix::fs::symlink("own-target", a.s.path("pub/own.lock")).expect("symlink");
    let out = a.run(Impl::Lockkit, "flock", &["pub/own.lock", "true"]);
    out.success();
    assert!(
        a.s.path("pub/own-target").is_file(),
        "own dangling link's target not created"
    );
    // uid 65534's link in a directory that is not sticky and world-writable
    // (only root can write there: root put it there for nobody) is
    // followed too, by the kernel's rule.
    a.s.mkdir("plain");
    std::os::unix::fs::symlink("t", a.s.path("plain/x.lock")).expect("symlink");
    let chown = Command::new("chown")
        .args(["-h", "65534:65534"])
        .arg(a.s.path("plain/x.lock"))
        .status()
        .expect("chown");
    assert!(chown.success());
    a.run(Impl::Lockkit, "flock", &["plain/x.lock", "true"])
        .success();
    assert!(
        a.s.path("plain/t").is_file(),
        "link in a plain directory not followed"
    );
    report("flock vs util-linux on planted symlinks", &lines);
}
