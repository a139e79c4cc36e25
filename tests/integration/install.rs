//! `lockkit install-links`: the multi-call links, made in a directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{Scratch, TestCommand, lockkit_bin};

const NAMES: [&str; 4] = ["flock", "dotlock", "dotlockfile", "lockfile"];

/// The running binary as install-links names it: canonical.
fn exe() -> PathBuf {
    lockkit_bin().canonicalize().expect("canonical lockkit")
}

/// `<verb> links/<name> -> <exe>` for each name, as stdout has them.
fn lines(verb: &str, dir: &str) -> String {
    NAMES
        .iter()
        .map(|n| format!("{verb} {dir}/{n} -> {}\n", exe().display()))
        .collect()
}

/// `links/<name>` is a symbolic link whose text is the canonical binary.
#[track_caller]
fn assert_links_to_exe(s: &Scratch, rel: &str) {
    let text = std::fs::read_link(s.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert_eq!(text, exe(), "{rel}");
}

/// Nothing but the entries named is in `dir` (no temp files left).
#[track_caller]
fn assert_entries(dir: &Path, want: &[&str]) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = want.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(names, want);
}

/// Run a link made by install-links as the tool it names, in the scratch dir.
fn run_link(s: &Scratch, link: &Path, args: &[&str]) -> i32 {
    let st = Command::new(link)
        .args(args)
        .current_dir(s.dir())
        .env("LC_ALL", "C")
        .status()
        .unwrap_or_else(|e| panic!("run {}: {e}", link.display()));
    st.code().expect("exit code")
}

#[test]
fn creates_all_links_and_they_work_as_the_tools() {
    let s = Scratch::new();
    s.mkdir("links");
    TestCommand::suite(&s)
        .args(["install-links", "links"])
        .run()
        .success()
        .stdout(&lines("created", "links"))
        .stderr("");
    for n in NAMES {
        assert_links_to_exe(&s, format!("links/{n}").as_str());
    }
    assert_entries(&s.path("links"), &NAMES);

    assert_eq!(
        run_link(&s, &s.path("links/flock"), &["-n", "lk", "true"]),
        0
    );
    assert!(s.exists("lk"));
    assert_eq!(run_link(&s, &s.path("links/lockfile"), &["-r0", "x"]), 0);
    assert!(s.exists("x"), "lockfile made no lock");
    assert_eq!(run_link(&s, &s.path("links/dotlock"), &["x2"]), 0);
    assert!(s.exists("x2"), "dotlock made no lock");
    assert_eq!(run_link(&s, &s.path("links/dotlockfile"), &["-u", "x2"]), 0);
    assert!(!s.exists("x2"), "dotlockfile -u left the lock");
}

#[test]
fn running_twice_keeps_the_links() {
    let s = Scratch::new();
    s.mkdir("links");
    let install = || {
        TestCommand::suite(&s)
            .args(["install-links", "links"])
            .run()
    };
    install().success();
    let kept: String = NAMES
        .iter()
        .map(|n| format!("kept links/{n} (already a link to {})\n", exe().display()))
        .collect();
    install().success().stdout(&kept).stderr("");
    // --force does not touch a link that is already right.
    TestCommand::suite(&s)
        .args(["install-links", "--force", "links"])
        .run()
        .success()
        .stdout(&kept);
    assert_entries(&s.path("links"), &NAMES);
}

#[test]
fn a_link_that_leads_to_the_binary_another_way_is_kept() {
    let s = Scratch::new();
    s.mkdir("links");
    // A chain: links/flock -> ../lockkit -> the binary.
    symlink(exe(), s.path("lockkit")).unwrap();
    symlink("../lockkit", s.path("links/flock")).unwrap();
    let out = TestCommand::suite(&s)
        .args(["install-links", "links"])
        .run();
    out.success();
    assert!(
        out.stdout
            .starts_with("kept links/flock (already a link to ../lockkit)\n"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_link(s.path("links/flock")).unwrap(),
        Path::new("../lockkit")
    );
}

#[test]
fn a_file_in_the_way_is_refused_and_the_rest_made() {
    let s = Scratch::new();
    s.mkdir("links");
    s.write("links/lockfile", "precious\n");
    let out = TestCommand::suite(&s)
        .args(["install-links", "links"])
        .run();
    out.code(73).stderr("");
    let e = exe();
    let e = e.display();
    assert_eq!(
        out.stdout,
        format!(
            "created links/flock -> {e}\n\
             created links/dotlock -> {e}\n\
             created links/dotlockfile -> {e}\n\
             refused links/lockfile: a file is in the way (use --force to replace it)\n"
        )
    );
    assert_eq!(s.read("links/lockfile"), "precious\n");
    for n in ["flock", "dotlock", "dotlockfile"] {
        assert_links_to_exe(&s, format!("links/{n}").as_str());
    }

    // --force replaces it, atomically (no temp file left behind).
    TestCommand::suite(&s)
        .args(["install-links", "--force", "links"])
        .run()
        .success()
        .stdout(&format!(
            "kept links/flock (already a link to {e})\n\
             kept links/dotlock (already a link to {e})\n\
             kept links/dotlockfile (already a link to {e})\n\
             replaced links/lockfile -> {e}\n"
        ));
    assert_links_to_exe(&s, "links/lockfile");
    assert_entries(&s.path("links"), &NAMES);
}

#[test]
fn a_dangling_link_in_the_way_is_replaced_never_followed() {
    let s = Scratch::new();
    s.mkdir("links");
    let victim = s.path("victim");
    symlink(&victim, s.path("links/flock")).unwrap();
    let out = TestCommand::suite(&s)
        .args(["install-links", "links"])
        .run();
    out.code(73);
    assert!(
        out.stdout.starts_with(&format!(
            "refused links/flock: a link to {} is in the way (use --force to replace it)\n",
            victim.display()
        )),
        "{out}"
    );
    assert_eq!(std::fs::read_link(s.path("links/flock")).unwrap(), victim);

    let out = TestCommand::suite(&s)
        .args(["install-links", "--force", "links"])
        .run();
    out.success();
    assert!(
        out.stdout
            .starts_with(&format!("replaced links/flock -> {}\n", exe().display())),
        "{out}"
    );
    assert_links_to_exe(&s, "links/flock");
    assert!(
        !s.exists("victim"),
        "the dangling link's target was created"
    );
    assert_entries(&s.path("links"), &NAMES);
}

#[test]
fn a_directory_in_the_way_is_never_replaced() {
    let s = Scratch::new();
    s.mkdir("links/dotlock");
    s.write("links/dotlock/keep", "x");
    let out = TestCommand::suite(&s)
        .args(["install-links", "--force", "links"])
        .run();
    out.code(73);
    assert!(
        out.stdout
            .contains("refused links/dotlock: a directory is in the way\n"),
        "{out}"
    );
    assert_eq!(s.read("links/dotlock/keep"), "x");
    for n in ["flock", "dotlockfile", "lockfile"] {
        assert_links_to_exe(&s, format!("links/{n}").as_str());
    }
}

#[test]
fn dry_run_changes_nothing() {
    let s = Scratch::new();
    s.mkdir("links");
    s.write("links/flock", "mine\n");
    let e = exe();
    let e = e.display();
    TestCommand::suite(&s)
        .args(["install-links", "--dry-run", "links"])
        .run()
        .code(73)
        .stdout(&format!(
            "would refuse links/flock: a file is in the way (use --force to replace it)\n\
             would create links/dotlock -> {e}\n\
             would create links/dotlockfile -> {e}\n\
             would create links/lockfile -> {e}\n"
        ));
    TestCommand::suite(&s)
        .args(["install-links", "--dry-run", "--force", "links"])
        .run()
        .success()
        .stdout(&format!(
            "would replace links/flock -> {e}\n\
             would create links/dotlock -> {e}\n\
             would create links/dotlockfile -> {e}\n\
             would create links/lockfile -> {e}\n"
        ));
    assert_entries(&s.path("links"), &["flock"]);
    assert_eq!(s.read("links/flock"), "mine\n");

    // Links already in place: would keep them.
    TestCommand::suite(&s)
        .args(["install-links", "--force", "links"])
        .run()
        .success();
    let out = TestCommand::suite(&s)
        .args(["install-links", "-n", "links"])
        .run();
    out.success();
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("would keep links/"))
            .count(),
        4,
        "{out}"
    );
}

#[test]
fn relative_links_work() {
    let s = Scratch::new();
    s.mkdir("a/links");
    // Through a symlinked directory: relative to where the links really are.
    symlink("a/links", s.path("via")).unwrap();
    let out = TestCommand::suite(&s)
        .args(["install-links", "--relative", "via"])
        .run();
    out.success().stderr("");
    let real = s.path("a/links").canonicalize().unwrap();
    for n in NAMES {
        let text = std::fs::read_link(real.join(n)).unwrap();
        assert!(text.is_relative(), "{n} -> {}", text.display());
        assert!(
            out.stdout
                .contains(&format!("created via/{n} -> {}\n", text.display())),
            "{out}"
        );
        assert_eq!(real.join(&text).canonicalize().unwrap(), exe(), "{n}");
    }
    assert_eq!(
        run_link(&s, &s.path("a/links/flock"), &["-n", "lk", "true"]),
        0
    );
    assert_eq!(run_link(&s, &s.path("via/lockfile"), &["-r0", "x"]), 0);
    assert!(s.exists("x"));
}

#[test]
fn a_directory_name_that_is_not_utf8() {
    let s = Scratch::new();
    let name = OsStr::from_bytes(b"l\xffnks");
    std::fs::create_dir(s.path(name)).unwrap();
    let out = TestCommand::suite(&s).arg("install-links").arg(name).run();
    out.success().stdout(&lines("created", "l\u{fffd}nks"));
    for n in NAMES {
        assert_eq!(std::fs::read_link(s.path(name).join(n)).unwrap(), exe());
    }
    assert_eq!(
        run_link(&s, &s.path(name).join("flock"), &["-n", "lk", "true"]),
        0
    );
}

/// A missing DIR (`~/.local/bin` on a fresh account) is an error that says
/// how to go on; nothing is created.
#[test]
fn dir_must_exist() {
    let s = Scratch::new();
    TestCommand::suite(&s)
        .args(["install-links", "nosuch"])
        .run()
        .code(73)
        .stdout("")
        .stderr(
            "lockkit: nosuch: No such file or directory\n\
             lockkit: create it first (mkdir -p nosuch) and put it on PATH\n",
        );
    s.write("file", "");
    TestCommand::suite(&s)
        .args(["install-links", "file"])
        .run()
        .code(73)
        .stdout("")
        .stderr("lockkit: file: Not a directory\n");
    assert!(!s.exists("nosuch"));
}

#[test]
fn a_directory_it_may_not_write_fails_every_name() {
    if !crate::util::root_or_skip("to run as another user") {
        return;
    }
    let s = Scratch::new();
    s.mkdir("links");
    s.chmod("links", 0o755);
    // As nobody, who may not write in links/.
    let mut script: Vec<String> = crate::util::AS_NOBODY
        .iter()
        .map(|a| crate::util::sh_quote(a))
        .collect();
    script.push(crate::util::sh_quote(&lockkit_bin().to_string_lossy()));
    script.push("install-links links".to_owned());
    let out = TestCommand::script(&s, &script.join(" ")).run();
    out.code(73).stdout("");
    let want: String = NAMES
        .iter()
        .map(|n| format!("lockkit: cannot create links/{n}: Permission denied\n"))
        .collect();
    out.stderr(&want);
    assert_entries(&s.path("links"), &[]);
}

#[test]
fn dir_is_required() {
    let s = Scratch::new();
    let out = TestCommand::suite(&s).arg("install-links").run();
    out.code(64);
    assert!(out.stderr.contains("<DIR>"), "{out}");
}
