//! The committed man pages (`man/`) and shell completions (`completions/`):
//! exactly what the generator makes from the current code, pages that
//! render without warnings, and scripts that the shells load.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::Scratch;

const REGENERATE: &str = "run `cargo run --example generate -- .` and commit the result";

/// The source tree, where the generated files are committed.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The files under `root/man` and `root/completions`, relative to `root`,
/// sorted.
fn generated_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["man", "completions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.expect("read directory entry");
            files.push(Path::new(dir).join(entry.file_name()));
        }
    }
    files.sort();
    files
}

/// Whether `program` can be run (it is on PATH). Under `CI=true` a missing
/// one fails the test; elsewhere the caller skips, and this says why.
fn installed(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        crate::util::skip(&format!("{program} is not installed"));
    }
    found
}

#[test]
fn committed_files_are_what_the_code_generates() {
    let s = Scratch::new();
    let out = s.path("generated");
    // In process: the generator is a library function (and an example),
    // not part of the installed binary.
    if let Err(message) = lockkit::generate::write_all(&out) {
        panic!("{}", String::from_utf8_lossy(&message));
    }
    let fresh = generated_files(&out);
    let committed = generated_files(repo());
    assert!(fresh.len() >= 4 + 5 * 3, "generated only {fresh:?}");

    let mut problems = Vec::new();
    for rel in &fresh {
        let want = std::fs::read(out.join(rel)).expect("read generated file");
        match std::fs::read(repo().join(rel)) {
            Err(_) => problems.push(format!("{} is missing", rel.display())),
            Ok(have) if have != want => problems.push(format!("{} is out of date", rel.display())),
            Ok(_) => {}
        }
    }
    for rel in committed.iter().filter(|r| !fresh.contains(r)) {
        problems.push(format!("{} is no longer generated", rel.display()));
    }
    assert!(
        problems.is_empty(),
        "the committed man pages and completions differ from what the code generates:\n  {}\n\
         To update them, {REGENERATE}.",
        problems.join("\n  ")
    );
}

#[test]
fn generate_reports_what_it_cannot_write() {
    let s = Scratch::new();
    s.write("file", "");
    let message = lockkit::generate::write_all(&s.path("file")).expect_err("a file as DIR");
    let want = format!(
        "lockkit: {}/man: Not a directory\n",
        s.path("file").display()
    );
    assert_eq!(String::from_utf8_lossy(&message), want);
}

#[test]
fn man_pages_render_without_warnings() {
    if !installed("man") {
        return;
    }
    let pages: Vec<PathBuf> = generated_files(repo())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "1"))
        .collect();
    assert_eq!(pages.len(), 5, "{pages:?}");
    for page in pages {
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(repo().join(&page))
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .expect("run man");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "man --warnings -l {}: {}\n{stderr}",
            page.display(),
            out.status
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"] {
            assert!(
                text.contains(section),
                "{} has no {section}",
                page.display()
            );
        }
    }
}

/// Each name the completions are for: lockkit and every link name.
const NAMES: [&str; 5] = ["lockkit", "flock", "dotlock", "dotlockfile", "lockfile"];

#[test]
fn bash_completions_load() {
    for name in NAMES {
        let out = Command::new("bash")
            .args([
                "--norc",
                "-c",
                &format!("source completions/{name}.bash && complete -p {name}"),
            ])
            .current_dir(repo())
            .output()
            .expect("run bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("-F _{name} ")),
            "completions/{name}.bash: {}\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// What bash's completion function offers for a command line (the words;
/// the last one is being completed).
fn bash_complete(name: &str, words: &[&str]) -> String {
    let script = format!(
        "source completions/{name}.bash
         COMP_WORDS=(\"$@\"); COMP_CWORD=$(( $# - 1 ))
         _{name} \"$1\" \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" 2>/dev/null
         for w in \"${{COMPREPLY[@]}}\"; do printf '%s\\n' \"$w\"; done"
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &script, "bash"])
        .args(words)
        .current_dir(repo())
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{words:?}: {}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_completes_flock_like_util_linux() {
    // Options for a dashed word...
    assert_eq!(bash_complete("flock", &["flock", "--ti"]), "--timeout\n");
    assert_eq!(
        bash_complete("flock", &["flock", "--fd", "9", "--no-f"]),
        "--no-fork\n"
    );
    // ...and nothing of its own otherwise, so bash completes file names.
    assert_eq!(bash_complete("flock", &["flock", ""]), "");
    assert_eq!(bash_complete("flock", &["flock", "-n", ""]), "");
    assert_eq!(bash_complete("flock", &["flock", "-n", "/run/lo"]), "");
    // A value: the word itself, so that no file name is offered.
    assert_eq!(bash_complete("flock", &["flock", "-w", "1"]), "1\n");
    assert_eq!(bash_complete("flock", &["flock", "-nw", ""]), "\n");
    // Command names for -c, and for the command after the file.
    assert!(bash_complete("flock", &["flock", "x.lock", "-c", "ech"]).contains("echo\n"));
    assert!(bash_complete("flock", &["flock", "-w", "5", "x.lock", "ech"]).contains("echo\n"));
    // The command's own options are not flock's.
    assert_eq!(
        bash_complete("flock", &["flock", "x.lock", "ls", "--ver"]),
        ""
    );
    assert!(bash_complete("dotlock", &["dotlock", "-r", "3", "x", "ech"]).contains("echo\n"));
    assert_eq!(
        bash_complete("dotlock", &["dotlock", "-"]).lines().count(),
        15
    );
    // procmail's two-letter options.
    assert_eq!(bash_complete("lockfile", &["lockfile", "-m"]), "-ml\n-mu\n");
    // A lock file after them, and a value after -r, even in a cluster.
    assert_eq!(bash_complete("lockfile", &["lockfile", "-ml", ""]), "");
    assert_eq!(bash_complete("lockfile", &["lockfile", "-5r", "1"]), "1\n");
    // lockkit's tools, then their options.
    assert!(bash_complete("lockkit", &["lockkit", "fl"]).contains("flock\n"));
    assert_eq!(
        bash_complete("lockkit", &["lockkit", "flock", "--verb"]),
        "--verbose\n"
    );
    let commands = bash_complete("lockkit", &["lockkit", "flock", "x.lock", "-c", "tru"]);
    assert!(
        commands.contains("true\n") && commands.lines().all(|c| c.starts_with("tru")),
        "{commands}"
    );
    assert_eq!(
        bash_complete("lockkit", &["lockkit", "install-links", "--dr"]),
        "--dry-run\n"
    );
    // install-links takes a directory.
    assert_eq!(
        bash_complete("lockkit", &["lockkit", "install-links", "ma"]),
        "man\n"
    );
}

#[test]
fn zsh_completions_load() {
    if !installed("zsh") {
        return;
    }
    let script = format!(
        "fpath=(completions $fpath); autoload -U compinit; compinit -u -D; print -r -- {}",
        NAMES.map(|n| format!("$_comps[{n}]")).join(" ")
    );
    let out = Command::new("zsh")
        .args(["-f", "-c", &script])
        .current_dir(repo())
        .output()
        .expect("run zsh");
    let want = NAMES.map(|n| format!("_{n}")).join(" ") + "\n";
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        want,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What zsh lists for each line (typed, then TAB), in one interactive zsh
/// driven through a pseudo-terminal (zsh's zpty): each read waits until
/// the listing shows the expected text, so a missing completion ends in the
/// safety timeout, and the failure shows everything zsh printed.
#[test]
fn zsh_completes_options_and_commands() {
    if !installed("zsh") {
        return;
    }
    let cases = [
        (
            "flock --ti",
            "--timeout*-- Wait for a limited amount of time",
        ),
        ("flock x.lock mkdi", "mkdir"),
        ("dotlock -", "-P*-- Exit with the command"),
        ("lockfile -m", "-ml*-mu"),
        ("lockkit fl", "flock*-- Manage locks"),
        ("lockkit flock --verb", "--verbose"),
    ];
    let mut driver = format!(
        "zmodload zsh/zpty\n\
         zpty z zsh -f -i\n\
         zpty -w z \"PS1='%% '; fpath=({}/completions $fpath); autoload -U compinit; \
         compinit -u -D; bindkey '^I' list-choices; LISTMAX=0; print RE''ADY\"\n\
         zpty -r z out '*READY*'\n",
        repo().display()
    );
    for (line, want) in cases {
        // Ctrl-U clears the line that list-choices left.
        driver.push_str(&format!(
            "zpty -w -n z $'{line}\\t'\nzpty -r z out '*{want}*'\n\
             print -r -- {line:?} ok\nzpty -w -n z $'\\C-u'\n"
        ));
    }
    driver.push_str("zpty -d z\n");
    let s = Scratch::new();
    s.write("driver.zsh", &driver);
    let out = crate::util::TestCommand::script(&s, "exec zsh -f driver.zsh").run();
    for (line, _) in cases {
        assert!(out.stdout.contains(&format!("{line} ok")), "{line}\n{out}");
    }
}

#[test]
fn fish_completes_options_and_commands() {
    if !installed("fish") {
        return;
    }
    let out = Command::new("fish")
        .args([
            "--no-config",
            "-c",
            "source completions/flock.fish; complete -C 'flock --ti'; \
             source completions/lockfile.fish; complete -C 'lockfile -m'; \
             complete -C 'flock -w 5 x.lock mkdi'; complete -C 'flock x.lock --no'; \
             source completions/lockkit.fish; complete -C 'lockkit flock --verb'",
        ])
        .current_dir(repo())
        .output()
        .expect("run fish");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("--timeout\t")
            && stdout.contains("\n-ml\t")
            && stdout.contains("\n-mu\t")
            && stdout.contains("\nmkdir\t")
            && !stdout.contains("--nonblock")
            && stdout.contains("\n--verbose\t"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
