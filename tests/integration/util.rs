//! The one test harness every tool's tests share.
//!
//! * [`Scratch`]: a fresh directory under `target/tmp` with a `bin/` holding
//!   the multi-call link (`bin/flock` → lockkit, or → the reference tool);
//! * [`TestCommand`]: a builder that runs a tool through its link (or a shell
//!   script that finds it on PATH), optionally as uid 65534, with a safety
//!   timeout, and returns an [`Output`] to assert on;
//! * [`Holder`]: a background process that holds a lock and says so on its
//!   stdout before the test goes on — tests never sleep to synchronise;
//! * [`Diff`]: one case run against the reference tool and lockkit, each in
//!   its own identical scratch directory, comparing exit status, stdout,
//!   stderr and the files left behind;
//! * shell snippets for test scripts ([`sh_quote`], [`cases_script`],
//!   [`QUIET_JOBS`], [`WAIT_SLEEPING_FN`]);
//! * watching and waiting for background processes without sleeping to
//!   synchronise ([`wait_bounded`], [`watch_until`], [`in_poll`],
//!   [`ended`], …), and the race and counter set-ups the dot-lock tools'
//!   tests share ([`race`], [`counter`]);
//! * skipping a test that cannot run here, visibly and counted ([`skip`],
//!   [`root_or_skip`]).

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any one command may run before the harness kills it. Only a
/// safety net against a hang; nothing is timed.
const SAFETY_TIMEOUT: Duration = Duration::from_secs(60);

/// Which implementation of a tool to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Lockkit,
    Reference,
}

pub fn lockkit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lockkit"))
}

/// The reference binary for a tool, if installed. A missing one is a
/// [`skip`] (a failure under `CI=true`); the caller returns on `None`.
///
/// Debian installs dotlockfile setgid mail, which changes some of its
/// behaviour; lockkit installs without setgid, so the comparison runs a
/// plain copy (made once per test run).
pub fn reference(tool: &str) -> Option<PathBuf> {
    let path = match tool {
        "flock" => "/usr/bin/flock",
        "dotlock" | "dotlockfile" => "/usr/bin/dotlockfile",
        "lockfile" => "/usr/bin/lockfile",
        other => panic!("no reference tool for {other}"),
    };
    if !Path::new(path).exists() {
        skip(&format!("reference tool {path} is not installed"));
        return None;
    }
    if tool == "flock" {
        return Some(PathBuf::from(path));
    }
    static COPIES: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut copies = COPIES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = copies.iter().find(|(t, _)| t == path) {
        return Some(p.clone());
    }
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("reference-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("reference dir");
    let copy = dir.join(Path::new(path).file_name().expect("file name"));
    std::fs::copy(path, &copy).expect("copy reference tool");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755))
        .expect("chmod reference copy");
    copies.push((path.to_owned(), copy.clone()));
    Some(copy)
}

/// The binary that plays `tool` for `imp`: lockkit, or the reference tool
/// (which must be installed: see [`reference`]).
///
/// The tests call both sides `dotlock`, a name only lockkit has: as
/// `dotlock`, dotlockfile runs through a wrapper that starts it as
/// `dotlockfile` (the same process: `exec -a`), so its getopt messages are
/// those of the installed tool, as lockkit's `dotlock` prints them
/// (docs/compat.md).
pub fn target(imp: Impl, tool: &str) -> PathBuf {
    match imp {
        Impl::Lockkit => lockkit_bin(),
        Impl::Reference => {
            let path = reference(tool).expect("reference tool installed");
            if tool != "dotlock" {
                return path;
            }
            let wrapper = path.with_file_name("dotlockfile-as-installed");
            if !wrapper.exists() {
                // Made aside and renamed: tests running at the same time
                // never see it half written.
                let aside = path.with_file_name(format!(
                    ".dotlockfile-as-installed.{:?}",
                    std::thread::current().id()
                ));
                let script = format!(
                    "#!/bin/bash\nexec -a dotlockfile {} \"$@\"\n",
                    sh_quote(&path.to_string_lossy())
                );
                std::fs::write(&aside, script).expect("write the dotlockfile wrapper");
                std::fs::set_permissions(&aside, std::fs::Permissions::from_mode(0o755))
                    .expect("chmod the dotlockfile wrapper");
                std::fs::rename(&aside, &wrapper).expect("rename the dotlockfile wrapper");
            }
            wrapper
        }
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// Skips --------------------------------------------------------------------
//
// A test (or a part of one) that cannot run here calls [`skip`] or
// [`root_or_skip`] and returns. There are two kinds of skip:
//
// * Something is missing: a reference tool, strace, a locale, a namespace
//   or a mount the kernel refuses to root. Under `CI=true` that is a
//   failure ([`skip`] panics): CI installs and allows all of it, so a skip
//   there would be a test that silently never ran.
// * The test needs root and the suite runs as another user
//   ([`root_or_skip`]). The suite must pass both as root and as an
//   unprivileged user, so this skip is shown and counted but never fails,
//   even under `CI=true`. CI runs the suite as root, where nothing skips
//   this way, and again as uid 65534 (`.ci/run`), where these skips are
//   counted apart.
//
// Each skip prints `skipped: <test>: <reason>` once, straight to the
// process's stderr: libtest captures only `eprintln!`, so the line shows in
// every run, passing or not. When the test binary exits, the number of skips
// and the list follow libtest's summary (an `atexit` handler: libtest has
// no hook of its own, and a last test would run before others end).
// `.ci/run` counts the `skipped:` lines again at the very end of its output.

/// The skips so far, one line each (`<test>: <reason>`), without repeats.
static SKIPS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Is this a CI run (`CI=true`), where a missing tool is a failure?
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true")
}

/// The running test's name (libtest names each test's thread after it).
fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("(a helper thread)")
        .to_owned()
}

/// Print and count a skip of the running test, once per test and reason.
fn record_skip(reason: &str) {
    let line = format!("{}: {reason}", current_test());
    let mut skips = SKIPS.lock().unwrap_or_else(|e| e.into_inner());
    if skips.contains(&line) {
        return;
    }
    if skips.is_empty() {
        // SAFETY: atexit only stores the pointer of a function that takes
        // nothing and unwinds nowhere.
        unsafe { libc::atexit(print_skips) };
    }
    let _ = std::io::stderr().write_all(format!("skipped: {line}\n").as_bytes());
    skips.push(line);
}

/// At exit: how many skips, and which.
extern "C" fn print_skips() {
    // A test thread could still hold the lock when a failed run exits: then
    // the per-skip lines above must do.
    let Ok(skips) = SKIPS.try_lock() else {
        return;
    };
    let mut msg = format!("\n{} skipped (test: reason):\n", skips.len());
    for line in skips.iter() {
        msg.push_str("    ");
        msg.push_str(line);
        msg.push('\n');
    }
    let _ = std::io::stderr().write_all(msg.as_bytes());
}

/// Skip the running test (or the part of it that follows): something it
/// needs is missing here. Prints and counts the skip; under `CI=true` it
/// fails the test instead. The caller returns (or leaves the part out).
#[track_caller]
pub fn skip(reason: &str) {
    if under_ci() {
        panic!(
            "{}: would skip ({reason}), and CI=true makes a skip a failure",
            current_test()
        );
    }
    record_skip(reason);
}

/// Are we root? If not, print and count a skip of the running test (or of
/// the part that needs root, `what`) — never a failure, even under
/// `CI=true`: the suite must pass as an unprivileged user too.
pub fn root_or_skip(what: &str) -> bool {
    if is_root() {
        return true;
    }
    record_skip(&format!("needs root {what}"));
    false
}

/// Is strace there (for fault injection and counting system calls)? If
/// not, a [`skip`] — a failure under `CI=true`.
pub fn strace_or_skip() -> bool {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip("strace is not installed");
    }
    ok
}

/// Can namespaces be made here with `unshare FLAGS` (e.g. `-m`, `-pf`,
/// `-u`; `what` names them)? Only root can ([`root_or_skip`]); a root that
/// the kernel still refuses (a container without CAP_SYS_ADMIN) is a
/// [`skip`].
#[track_caller]
pub fn unshare_or_skip(flags: &[&str], what: &str) -> bool {
    if !root_or_skip(&format!("for {what}")) {
        return false;
    }
    let ok = Command::new("unshare")
        .args(flags)
        .arg("true")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(&format!(
            "`unshare {}` is refused: no {what}",
            flags.join(" ")
        ));
    }
    ok
}

/// A scratch directory, removed when dropped.
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("scratch-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("bin")).expect("create scratch dir");
        // Reachable by the unprivileged user of permission tests.
        for dir in [root.as_path(), &root.join("bin")] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
                .expect("chmod scratch");
        }
        Scratch { root }
    }

    /// The working directory of commands (the scratch root).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    pub fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }

    /// Install `bin/<name>` as a link to `target`.
    pub fn link(&self, name: &str, target: &Path) -> PathBuf {
        // Made aside and renamed into place: a process started meanwhile
        // through an earlier link of this name never finds it missing.
        let link = self.bin().join(name);
        let aside = self.bin().join(format!(".{name}.new"));
        let _ = std::fs::remove_file(&aside);
        std::os::unix::fs::symlink(target, &aside).expect("symlink tool");
        std::fs::rename(&aside, &link).expect("rename the link into place");
        link
    }

    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, contents).expect("write scratch file");
        p
    }

    pub fn mkdir(&self, rel: impl AsRef<Path>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    pub fn chmod(&self, rel: impl AsRef<Path>, mode: u32) {
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }

    /// Set a file's mtime (and atime) to `secs` seconds in the past (a
    /// negative value: in the future), without following a symlink target's
    /// absence (the file must exist).
    pub fn age(&self, rel: impl AsRef<Path>, secs: i64) {
        self.set_times(rel, secs, secs);
    }

    /// Set a file's access time to `atime_ago` and its modification time to
    /// `mtime_ago` seconds in the past (negative: in the future). The file
    /// must exist; a symlink's target is the one changed.
    pub fn set_times(&self, rel: impl AsRef<Path>, atime_ago: i64, mtime_ago: i64) {
        let at = |secs: i64| {
            let now = std::time::SystemTime::now();
            if secs >= 0 {
                now - Duration::from_secs(secs as u64)
            } else {
                now + Duration::from_secs(secs.unsigned_abs())
            }
        };
        let path = self.path(rel);
        let f = std::fs::File::options()
            .write(true)
            .open(&path)
            .or_else(|_| std::fs::File::open(&path))
            .expect("open file to age");
        f.set_times(
            std::fs::FileTimes::new()
                .set_accessed(at(atime_ago))
                .set_modified(at(mtime_ago)),
        )
        .expect("set file times");
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read scratch file")
    }

    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        self.path(rel).symlink_metadata().is_ok()
    }

    /// The names in the root directory (not below it) that start with
    /// `prefix`, sorted: a tool's temp files, say.
    pub fn names_starting_with(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .expect("read scratch dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        names
    }

    /// Everything under the root except `bin/`, one line per entry with its
    /// type, permissions and size: what a command left behind.
    pub fn listing(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![self.root.clone()];
        let mut entries = Vec::new();
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                let rel = p.strip_prefix(&self.root).unwrap_or(&p).to_path_buf();
                if rel == Path::new("bin") {
                    continue;
                }
                let Ok(meta) = p.symlink_metadata() else {
                    continue;
                };
                let kind = if meta.file_type().is_symlink() {
                    'l'
                } else if meta.is_dir() {
                    stack.push(p.clone());
                    'd'
                } else {
                    'f'
                };
                let size = if meta.is_file() { meta.len() } else { 0 };
                entries.push(format!(
                    "{kind} {:o} {size} {}",
                    meta.mode() & 0o7777,
                    rel.display()
                ));
            }
        }
        entries.sort();
        for e in entries {
            let _ = writeln!(out, "{e}");
        }
        out
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Make everything removable again (permission tests chmod things).
        let _ = Command::new("chmod")
            .args(["-R", "u+rwx"])
            .arg(&self.root)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// What a finished command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code, or 128 + signal when killed (as a shell reports it).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code\n{self}");
        self
    }

    #[track_caller]
    pub fn stdout(&self, s: &str) -> &Self {
        assert_eq!(self.stdout, s, "stdout\n{self}");
        self
    }

    #[track_caller]
    pub fn stderr(&self, s: &str) -> &Self {
        assert_eq!(self.stderr, s, "stderr\n{self}");
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        self.code(0)
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- exit: {}\n--- stdout:\n{}--- stderr:\n{}---",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run a child to completion with the safety timeout, feeding `stdin`.
fn run_to_end(mut cmd: Command, stdin: Option<Vec<u8>>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    // Its own process group, so the safety net can take down everything it
    // started (a leftover background process would keep the pipes open).
    cmd.process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(input) = stdin {
        let mut w = child.stdin.take().expect("stdin");
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        });
    }
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let timed_out = done_rx.recv_timeout(SAFETY_TIMEOUT).is_err();
        if timed_out {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
        timed_out
    });
    let out = child.wait_with_output().expect("wait for command");
    let _ = done_tx.send(());
    if watchdog.join().unwrap_or(false) {
        panic!("command still running after {SAFETY_TIMEOUT:?}: killed its process group\n{cmd:?}");
    }
    let code = match (out.status.code(), out.status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => -1,
    };
    Output {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A tool invocation being built.
pub struct TestCommand {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

/// `setpriv` arguments that drop to uid/gid 65534 with no groups.
pub const AS_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--",
];

impl TestCommand {
    /// `tool` (e.g. `flock`) from `imp`, through `bin/<tool>` in `scratch`,
    /// with `argv[0]` = the plain tool name, as when found on PATH.
    pub fn tool(scratch: &Scratch, imp: Impl, tool: &str) -> TestCommand {
        let link = scratch.link(tool, &target(imp, tool));
        let mut cmd = Command::new(link);
        cmd.arg0(tool);
        Self::base(scratch, cmd)
    }

    /// lockkit's `tool`, through its link.
    pub fn lockkit(scratch: &Scratch, tool: &str) -> TestCommand {
        Self::tool(scratch, Impl::Lockkit, tool)
    }

    /// The `lockkit` binary itself (suite mode).
    pub fn suite(scratch: &Scratch) -> TestCommand {
        let mut cmd = Command::new(lockkit_bin());
        cmd.arg0("lockkit");
        Self::base(scratch, cmd)
    }

    /// `sh -c script` with `bin/` first on PATH, so the script's `flock` is
    /// the link (install it first with [`Scratch::link`] or
    /// [`TestCommand::tool`]).
    pub fn script(scratch: &Scratch, script: &str) -> TestCommand {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(script);
        Self::base(scratch, cmd)
    }

    /// Run as uid/gid 65534 (needs root): `setpriv … <tool>` found on PATH.
    pub fn nobody(scratch: &Scratch, imp: Impl, tool: &str) -> TestCommand {
        scratch.link(tool, &target(imp, tool));
        let mut cmd = Command::new(AS_NOBODY[0]);
        cmd.args(&AS_NOBODY[1..]).arg(tool);
        Self::base(scratch, cmd)
    }

    fn base(scratch: &Scratch, mut cmd: Command) -> TestCommand {
        // The tools keep signals they inherit ignored (as the C tools do),
        // and `cargo test` started as a background job of a script inherits
        // SIGINT and SIGQUIT ignored. Every command starts with them at
        // their defaults; a test that wants them ignored says so itself.
        // SAFETY: signal(2) is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                Ok(())
            });
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut new_path = scratch.bin().into_os_string();
        new_path.push(":");
        new_path.push(path);
        cmd.current_dir(scratch.dir())
            .env("PATH", new_path)
            .env("LC_ALL", "C")
            .env_remove("POSIXLY_CORRECT");
        TestCommand { cmd, stdin: None }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(a);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Self {
        self.cmd.env_remove(k);
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Code run in the child just before exec (e.g. to block a signal).
    ///
    /// # Safety
    /// As for [`CommandExt::pre_exec`].
    pub unsafe fn pre_exec<F>(mut self, f: F) -> Self
    where
        F: FnMut() -> std::io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: forwarded to the caller.
        unsafe { self.cmd.pre_exec(f) };
        self
    }

    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Run in a process group of its own, so that a failing test can kill
    /// it and whatever it started ([`wait_bounded`], [`watch_until`]).
    pub fn own_process_group(mut self) -> Self {
        self.cmd.process_group(0);
        self
    }

    /// Run to completion.
    pub fn run(self) -> Output {
        run_to_end(self.cmd, self.stdin)
    }

    /// Start in the background with piped stdio.
    pub fn spawn(mut self) -> Child {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.cmd.spawn().expect("spawn background command")
    }
}

/// A background process holding a lock. It prints one line once it holds
/// the lock; [`Holder::start`] returns after reading it. It lets go when its
/// stdin is closed (dropping the holder), and drop waits for it to end.
pub struct Holder {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl Holder {
    /// Start `cmd`, which must print a line when it holds the lock and then
    /// hold it until its stdin reaches end of file.
    pub fn start(mut cmd: Command) -> Holder {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start holder");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("holder stdout"));
        let mut line = String::new();
        // Blocks until the holder has the lock: no sleeping, no polling.
        stdout.read_line(&mut line).expect("read holder readiness");
        assert!(!line.is_empty(), "holder exited before taking the lock");
        Holder {
            child: Some(child),
            stdin,
            stdout: Some(stdout),
        }
    }

    fn python(dir: &Path, code: &str) -> Holder {
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(code).current_dir(dir);
        Holder::start(cmd)
    }

    /// flock(2) on `path` (relative to `dir`), created if missing.
    pub fn flock(dir: &Path, path: &str, shared: bool) -> Holder {
        let op = if shared { "LOCK_SH" } else { "LOCK_EX" };
        Holder::python(
            dir,
            &format!(
                "import fcntl,os,sys\nfd=os.open({path:?},os.O_RDONLY|os.O_CREAT,0o666)\n\
                 fcntl.flock(fd,fcntl.{op})\nprint('ready',flush=True)\nsys.stdin.read()"
            ),
        )
    }

    /// A classic POSIX (process-associated) lock, as glibc's lckpwdf takes:
    /// `len` bytes from `start` (0 = to the end), write or read.
    pub fn posix(dir: &Path, path: &str, write: bool, start: u64, len: u64) -> Holder {
        let op = if write { "LOCK_EX" } else { "LOCK_SH" };
        let mode = if write { "os.O_RDWR" } else { "os.O_RDONLY" };
        Holder::python(
            dir,
            &format!(
                "import fcntl,os,sys\nfd=os.open({path:?},{mode}|os.O_CREAT,0o666)\n\
                 fcntl.lockf(fd,fcntl.{op},{len},{start})\nprint('ready',flush=True)\nsys.stdin.read()"
            ),
        )
    }

    /// An open-file-description lock (what `flock --fcntl` takes).
    pub fn ofd(dir: &Path, path: &str, write: bool, start: u64, len: u64) -> Holder {
        let typ = if write {
            "fcntl.F_WRLCK"
        } else {
            "fcntl.F_RDLCK"
        };
        let mode = if write { "os.O_RDWR" } else { "os.O_RDONLY" };
        Holder::python(
            dir,
            &format!(
                "import fcntl,os,struct,sys\nfd=os.open({path:?},{mode}|os.O_CREAT,0o666)\n\
                 fcntl.fcntl(fd,fcntl.F_OFD_SETLKW,struct.pack('hhqqi',{typ},0,{start},{len},0))\n\
                 print('ready',flush=True)\nsys.stdin.read()"
            ),
        )
    }

    /// Read the holder's remaining output after it was released.
    pub fn release(mut self) -> String {
        drop(self.stdin.take());
        let mut rest = String::new();
        if let Some(mut out) = self.stdout.take() {
            let _ = out.read_to_string(&mut rest);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        rest
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

/// Block until process `pid` is waiting in the kernel for a lock on
/// `path`, as `/proc/locks` shows (a `->` line for a blocked request).
/// The kernel offers no event for this, so it is checked repeatedly, with
/// the safety timeout as the only bound.
pub fn wait_until_blocked(pid: u32, path: &Path) {
    let ino = std::fs::metadata(path).expect("stat lock file").ino();
    let start = Instant::now();
    loop {
        if blocked_on(pid, ino) {
            return;
        }
        assert!(
            start.elapsed() < SAFETY_TIMEOUT,
            "process {pid} never blocked on {}",
            path.display()
        );
        std::thread::yield_now();
    }
}

/// Prepares a scratch directory.
type Setup = Box<dyn Fn(&Scratch)>;

/// One differential case: the same arguments, environment and setup, run
/// against the reference tool and lockkit.
pub struct Diff {
    tool: &'static str,
    args: Vec<OsString>,
    script: Option<String>,
    env: Vec<(OsString, Option<OsString>)>,
    stdin: Option<Vec<u8>>,
    nobody: bool,
    setup: Vec<Setup>,
    held: Vec<(String, bool)>,
}

impl Diff {
    /// `flock ARGS`.
    pub fn flock<I, S>(args: I) -> Diff
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Diff {
            tool: "flock",
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            script: None,
            env: Vec::new(),
            stdin: None,
            nobody: false,
            setup: Vec::new(),
            held: Vec::new(),
        }
    }

    /// `dotlock ARGS` (lockkit's `dotlock` link against liblockfile's
    /// dotlockfile, invoked through a link of the same name).
    pub fn dotlock<I, S>(args: I) -> Diff
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut d = Diff::flock(args);
        d.tool = "dotlock";
        d
    }

    /// A `sh -c` script in which `dotlock` is the tool under test.
    pub fn dotlock_script(script: &str) -> Diff {
        let mut d = Diff::flock_script(script);
        d.tool = "dotlock";
        d
    }

    /// `lockfile ARGS` (lockkit's `lockfile` link against a plain copy of
    /// procmail's lockfile, invoked through a link of the same name).
    pub fn lockfile<I, S>(args: I) -> Diff
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut d = Diff::flock(args);
        d.tool = "lockfile";
        d
    }

    /// A `sh -c` script in which `lockfile` is the tool under test.
    pub fn lockfile_script(script: &str) -> Diff {
        let mut d = Diff::flock_script(script);
        d.tool = "lockfile";
        d
    }

    /// A `sh -c` script in which `flock` is the tool under test.
    pub fn flock_script(script: &str) -> Diff {
        let mut d = Diff::flock(Vec::<OsString>::new());
        d.script = Some(script.to_owned());
        d
    }

    /// Prepare the scratch directory before the run (called once per side).
    pub fn setup(mut self, f: impl Fn(&Scratch) + 'static) -> Self {
        self.setup.push(Box::new(f));
        self
    }

    /// Have a background process hold an exclusive flock(2) lock on `path`.
    pub fn held(mut self, path: &str) -> Self {
        self.held.push((path.to_owned(), false));
        self
    }

    /// Have a background process hold a shared flock(2) lock on `path`.
    pub fn held_shared(mut self, path: &str) -> Self {
        self.held.push((path.to_owned(), true));
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.env.push((k.into(), Some(v.as_ref().to_owned())));
        self
    }

    pub fn env_remove(mut self, k: &str) -> Self {
        self.env.push((k.into(), None));
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Run as uid 65534 (the case is skipped, [`root_or_skip`], unless the
    /// tests run as root).
    #[allow(clippy::wrong_self_convention)] // a builder step, read as "run as nobody"
    pub fn as_nobody(mut self) -> Self {
        self.nobody = true;
        self
    }

    fn run_one(&self, imp: Impl) -> (Output, String) {
        let scratch = Scratch::new();
        for f in &self.setup {
            f(&scratch);
        }
        let holders: Vec<Holder> = self
            .held
            .iter()
            .map(|(p, shared)| Holder::flock(scratch.dir(), p, *shared))
            .collect();
        let link = scratch.link(self.tool, &target(imp, self.tool));
        let mut raw = if self.nobody {
            let mut c = Command::new(AS_NOBODY[0]);
            c.args(&AS_NOBODY[1..]);
            c
        } else if self.script.is_some() {
            Command::new("/bin/sh")
        } else {
            let mut c = Command::new(&link);
            c.arg0(self.tool);
            c
        };
        match &self.script {
            Some(script) if self.nobody => raw.args(["/bin/sh", "-c", script]),
            Some(script) => raw.args(["-c", script]),
            None if self.nobody => raw.arg(self.tool).args(&self.args),
            None => raw.args(&self.args),
        };
        let mut cmd = TestCommand::base(&scratch, raw);
        for (k, v) in &self.env {
            cmd = match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(input) = &self.stdin {
            cmd = cmd.stdin(input.clone());
        }
        let mut out = cmd.run();
        for h in holders {
            out.stdout.push_str(&h.release());
        }
        out.stdout = normalize(&out.stdout);
        out.stderr = normalize(&out.stderr);
        (out, scratch.listing())
    }

    /// Run on both sides and require the same observable behaviour.
    #[track_caller]
    pub fn check(self) {
        if self.nobody && !root_or_skip("to run as uid 65534") {
            return;
        }
        if reference(self.tool).is_none() {
            return;
        }
        let (want, want_files) = self.run_one(Impl::Reference);
        let (got, got_files) = self.run_one(Impl::Lockkit);
        let what = match &self.script {
            Some(s) => format!("script: {s}"),
            None => format!("{} {:?}", self.tool, self.args),
        };
        assert_eq!(
            want, got,
            "{what}: reference (left) and lockkit (right) differ"
        );
        assert_eq!(
            want_files, got_files,
            "{what}: files left behind differ (reference left, lockkit right)"
        );
    }
}

/// Replace what legitimately varies between runs: the time taken to get the
/// lock (`took 0.000123 seconds`).
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split_inclusive('\n') {
        match line.find("getting lock took ") {
            Some(i) => {
                let head = &line[..i + "getting lock took ".len()];
                let tail = &line[head.len()..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .unwrap_or(tail.len());
                out.push_str(head);
                out.push_str("<n>");
                out.push_str(&tail[end..]);
            }
            None => out.push_str(line),
        }
    }
    out
}

/// A command made by `cmd` in a fresh scratch directory prepared by
/// `setup`: its output and the files it left behind ([`Scratch::listing`]).
pub fn run_in_scratch(
    setup: impl FnOnce(&Scratch),
    cmd: impl FnOnce(&Scratch) -> TestCommand,
) -> (Output, String) {
    let s = Scratch::new();
    setup(&s);
    let out = cmd(&s).run();
    (out, s.listing())
}

/// `sh -c script` in which `tool` is `imp`'s, run as [`run_in_scratch`]
/// does: for a side that is checked on its own, or compared in part.
pub fn run_tool_script(
    imp: Impl,
    tool: &str,
    setup: impl FnOnce(&Scratch),
    script: &str,
) -> (Output, String) {
    run_in_scratch(setup, |s| {
        s.link(tool, &target(imp, tool));
        TestCommand::script(s, script)
    })
}

// Shell snippets for test scripts -----------------------------------------

/// Quote `arg` for a POSIX shell.
pub fn sh_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Shell code running `tool ARGS` once for each case, in turn: before it,
/// the shell code `prep` (unless empty) and a header line `## tool ARGS` on
/// stdout and on stderr; after it, its exit status (`exit N`) and then the
/// shell code `after` on the same line (e.g. `"; state"`). Many cases thus
/// share one script run, and one [`Diff`].
pub fn cases_script<C, A>(
    tool: &str,
    prep: &str,
    after: &str,
    cases: impl IntoIterator<Item = C>,
) -> String
where
    C: AsRef<[A]>,
    A: AsRef<str>,
{
    let mut script = String::new();
    for args in cases {
        let line = args
            .as_ref()
            .iter()
            .map(|a| sh_quote(a.as_ref()))
            .collect::<Vec<_>>()
            .join(" ");
        let hdr = sh_quote(&format!("## {tool} {line}"));
        if !prep.is_empty() {
            script.push_str(prep);
            script.push('\n');
        }
        script.push_str(&format!(
            "echo {hdr}; echo {hdr} >&2; {tool} {line}; echo \"exit $?\"{after}\n"
        ));
    }
    script
}

/// First line of scripts that signal or kill background jobs: the shell's
/// own job reports ("Terminated", "Hangup") and `kill`'s complaints about a
/// job that already ended come at moments that vary from run to run, so the
/// script's stderr goes to /dev/null and each tool run writes to fd 3
/// (`2>&3`), the script's real stderr.
pub const QUIET_JOBS: &str = "exec 3>&2 2>/dev/null\n";

/// Shell function for scripts: `wait_sleeping PID GLOB` returns once PID (a
/// tool started in the background, working in the current directory) is
/// asleep (state S in /proc/PID/stat) while a file matching GLOB exists, e.g.
/// its temp file (`'.lk*'`) or the lock it made before the one it waits
/// for: it made an attempt and now waits for the next one. A tool asleep is
/// past its check for signals: both implementations only block in their
/// sleep or poll. It fails, saying so on stdout, if PID ends first. The
/// kernel offers no event for "asleep", so /proc is read repeatedly, with
/// an iteration bound as the only safety net. GLOB is expanded unquoted: no
/// blanks in it.
pub const WAIT_SLEEPING_FN: &str = r#"
wait_sleeping() {
    n=0
    while :; do
        { read -r st < "/proc/$1/stat"; } 2>/dev/null || { echo "the tool ended early"; return 1; }
        case $st in
            *") Z "*) echo "the tool ended early"; return 1 ;;
            *") S "*) for f in $2; do [ -e "$f" ] && return 0; done ;;
        esac
        n=$((n + 1))
        [ "$n" -lt 2000000 ] || { echo "the tool never waited"; return 1; }
    done
}
"#;

// Watching background processes -------------------------------------------
//
// The kernel has events for a process *ending* (a pidfd becomes readable),
// which [`wait_bounded`] waits for. For states it has no event for (blocked
// in poll, waiting for a lock, stopped), [`watch_until`] looks through /proc
// repeatedly, with a safety bound only.

/// The state letter of process `pid` (R, S, D, T, Z, …, from
/// `/proc/PID/stat`), or None once it is gone.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.trim_start().chars().next()
}

/// Is process `pid` a zombie or gone?
pub fn ended(pid: u32) -> bool {
    process_state(pid).is_none_or(|c| c == 'Z' || c == 'X')
}

/// Is process `pid` stopped (by SIGSTOP)?
pub fn stopped(pid: u32) -> bool {
    process_state(pid) == Some('T')
}

/// Is process `pid` blocked in poll(2)/ppoll(2) right now?
pub fn in_poll(pid: u32) -> bool {
    if let Ok(sc) = std::fs::read_to_string(format!("/proc/{pid}/syscall")) {
        let nr: Option<libc::c_long> = sc.split_whitespace().next().and_then(|n| n.parse().ok());
        #[cfg(target_arch = "x86_64")]
        let polls = [libc::SYS_ppoll, libc::SYS_poll];
        #[cfg(not(target_arch = "x86_64"))]
        let polls = [libc::SYS_ppoll];
        return nr.is_some_and(|n| polls.contains(&n));
    }
    // No /proc/PID/syscall (CONFIG_HAVE_ARCH_TRACEHOOK off): the kernel
    // function it sleeps in.
    std::fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| w.contains("poll"))
}

/// Is process `pid` waiting for a lock on the file with inode `ino`, as
/// `/proc/locks` shows (a `->` line for a blocked request)?
pub fn blocked_on(pid: u32, ino: u64) -> bool {
    let (pid, ino) = (pid.to_string(), ino.to_string());
    std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"->")
                && f.get(5) == Some(&pid.as_str())
                && f.get(6).and_then(|d| d.rsplit(':').next()) == Some(ino.as_str())
        })
}

/// Look at process `pid` every millisecond (leaving the CPU to the process
/// watched) until `ready` holds (true) or the process ends (false); past
/// `limit`, kill its process group and fail with `what`.
pub fn watch_until(pid: u32, limit: Duration, what: &str, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ended(pid) {
            return false;
        }
        if ready() {
            return true;
        }
        if start.elapsed() > limit {
            // SAFETY: plain kill(2) of a process group we started.
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            panic!("process {pid}: {what}: not after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A pidfd for `child`: readable once it has ended.
pub fn pidfd(child: &Child) -> rustix::fd::OwnedFd {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).expect("pidfd_open")
}

/// What is left from now until `end` (nothing once past), as a timeout for
/// poll(2).
pub fn timeout_until(end: Instant) -> rustix::time::Timespec {
    let left = end.saturating_duration_since(Instant::now());
    rustix::time::Timespec {
        tv_sec: left.as_secs() as i64,
        tv_nsec: i64::from(left.subsec_nanos()),
    }
}

/// Wait for `child` (woken by its pidfd, not by polling), at most `limit`;
/// past that, kill its process group and fail with `what`.
pub fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    match wait_within(child, limit) {
        Some(status) => status,
        None => {
            kill_group(child);
            panic!("{what}: still running after {limit:?}");
        }
    }
}

/// Wait for `child` (woken by its pidfd) at most `limit`: its status, or
/// `None` if it is still running (left to the caller).
pub fn wait_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    use rustix::event::{PollFd, PollFlags};
    let pidfd = pidfd(child);
    let end = Instant::now() + limit;
    loop {
        let timeout = timeout_until(end);
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => return None,
            Ok(_) => return Some(child.wait().expect("wait")),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// SIGKILL the process group `child` leads, and reap `child`.
pub fn kill_group(child: &mut Child) {
    // SAFETY: plain kill(2) of a process group we started.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
}

/// An exit status as a shell reports it (128 + the signal that killed it).
pub fn code_of(st: ExitStatus) -> i32 {
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// What a finished child wrote on stderr (once: the pipe is taken).
pub fn stderr_of(child: &mut Child) -> String {
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

/// Send signal `sig` to process `pid`, which must exist.
pub fn send_signal(pid: u32, sig: libc::c_int) {
    // SAFETY: plain kill(2).
    assert_eq!(
        unsafe { libc::kill(pid as i32, sig) },
        0,
        "kill {pid} {sig}"
    );
}

/// The name of a signal the tests send, without `SIG`.
pub fn signal_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGHUP => "HUP",
        libc::SIGINT => "INT",
        libc::SIGQUIT => "QUIT",
        libc::SIGUSR1 => "USR1",
        libc::SIGUSR2 => "USR2",
        libc::SIGPIPE => "PIPE",
        libc::SIGALRM => "ALRM",
        libc::SIGTERM => "TERM",
        _ => "?",
    }
}

/// The pid of a process that has exited and been reaped: certainly dead
/// (until the kernel hands it out again).
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait for true");
    pid
}

// Races and counters -------------------------------------------------------

/// `tool ARGS` as a program and its arguments, for [`race`].
pub fn argv(tool: &Path, args: &[&str]) -> Vec<String> {
    std::iter::once(tool.to_string_lossy().into_owned())
        .chain(args.iter().map(|a| (*a).to_owned()))
        .collect()
}

/// Run each of `runs` (a program and its arguments) in the scratch
/// directory so that they exec together: each `sh` waits on a shared pipe
/// that is then closed. Each runs in a process group of its own and may
/// take `limit` ([`wait_bounded`]). Returns their exit codes and stderr, in
/// order.
pub fn race(s: &Scratch, runs: &[Vec<String>], limit: Duration) -> Vec<(i32, String)> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("barrier pipe");
    let mut kids = Vec::with_capacity(runs.len());
    for argv in runs {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg("read x; exec \"$0\" \"$@\"")
            .args(argv)
            .current_dir(s.dir())
            .env("LC_ALL", "C")
            .process_group(0)
            .stdin(Stdio::from(rd.try_clone().expect("dup")))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        kids.push(c.spawn().expect("spawn racer"));
    }
    drop(wr); // go
    kids.into_iter()
        .map(|mut k| {
            let st = wait_bounded(&mut k, limit, "racer");
            (code_of(st), stderr_of(&mut k))
        })
        .collect()
}

/// Mutual exclusion under churn: one script in which each of `workers`
/// (shell words: the arguments of a shell function `work`) runs `step`
/// `cycles` times, all at once in the background. `step` must add one to
/// the number in `count` non-atomically (read, then write) while holding
/// the lock `lock`, and append a line to `errors` when locking or unlocking
/// fails. `prelude` is shell code put first. Asserts that nothing failed,
/// that the final count is exact (no update lost) and that the lock is
/// gone; the tool's temp files are for the caller to check.
#[track_caller]
pub fn counter(
    s: &Scratch,
    prelude: &str,
    step: &str,
    workers: &[String],
    cycles: u32,
    lock: &str,
) {
    let mut script = format!(
        "{prelude}echo 0 > count\n\
         work() {{\n\
           i=0\n\
           while [ $i -lt {cycles} ]; do\n\
             {step}\n\
             i=$((i + 1))\n\
           done\n\
         }}\n"
    );
    for w in workers {
        script.push_str(&format!("work {w} &\n"));
    }
    script.push_str("wait\ncat count\n");
    let out = TestCommand::script(s, &script).run();
    out.success();
    assert!(
        !s.exists("errors"),
        "failed lockings:\n{}",
        s.read("errors")
    );
    let want = workers.len() as u32 * cycles;
    assert_eq!(out.stdout, format!("{want}\n"), "lost updates: {out}");
    assert!(!s.exists(lock), "the lock was left behind");
}

/// Block SIGALRM in the process about to exec (for `pre_exec`), as a
/// caller might: rpm started its scriptlets so.
pub fn block_sigalrm() -> std::io::Result<()> {
    // SAFETY: sigemptyset, sigaddset and sigprocmask are async-signal-safe,
    // on a set of our own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    Ok(())
}

// etcd ----------------------------------------------------------------------
//
// `lockkit cluster` is tested against a real etcd (`/usr/bin/etcd`, Debian's
// etcd-server; etcdctl from etcd-client), started here on free loopback
// ports with a throw-away data directory, and stopped by pid. Without etcd
// the tests [`skip`] (a failure under `CI=true`).

/// A free TCP port on 127.0.0.1 (the kernel's pick; free when returned).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// etcd and etcdctl, or a skip.
pub fn etcd_or_skip() -> bool {
    let ok = [("etcd", "--version"), ("etcdctl", "version")]
        .iter()
        .all(|(t, v)| {
            Command::new(t)
                .arg(v)
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if !ok {
        skip("etcd and etcdctl are not installed (Debian: etcd-server, etcd-client)");
    }
    ok
}

/// One etcd member.
pub struct EtcdMember {
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    pub data_dir: PathBuf,
    /// Extra arguments (TLS, ...).
    extra: Vec<String>,
    initial_cluster: String,
    child: Option<Child>,
}

/// A running etcd cluster (one member or more), stopped when dropped.
pub struct Etcd {
    pub members: Vec<EtcdMember>,
    /// Arguments etcdctl needs (TLS files, a user).
    pub ctl_args: Vec<String>,
}

impl EtcdMember {
    fn start(&mut self, state: &str) {
        let scheme = if self.extra.iter().any(|a| a == "--cert-file") {
            "https"
        } else {
            "http"
        };
        let url = self.client_url.replace("http://", &format!("{scheme}://"));
        let mut cmd = Command::new("etcd");
        cmd.args(["--name", &self.name, "--data-dir"])
            .arg(&self.data_dir)
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args(["--listen-peer-urls", &self.peer_url])
            .args(["--initial-advertise-peer-urls", &self.peer_url])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", state])
            .args(["--heartbeat-interval", "10", "--election-timeout", "100"])
            .args(["--log-level", "error", "--logger", "zap"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        self.child = Some(cmd.spawn().expect("start etcd"));
        self.client_url = url;
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL it and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on its data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.start("existing");
    }
}

impl Etcd {
    /// A single member.
    pub fn start(scratch: &Scratch) -> Etcd {
        Etcd::cluster(scratch, 1, &[])
    }

    /// `n` members on loopback, with `extra` arguments for each.
    pub fn cluster(scratch: &Scratch, n: usize, extra: &[String]) -> Etcd {
        let mut members: Vec<EtcdMember> = (0..n)
            .map(|i| EtcdMember {
                name: format!("m{i}"),
                client_url: format!("http://127.0.0.1:{}", free_port()),
                peer_url: format!("http://127.0.0.1:{}", free_port()),
                data_dir: scratch.path(format!("etcd-m{i}")),
                extra: extra.to_vec(),
                initial_cluster: String::new(),
                child: None,
            })
            .collect();
        let initial: Vec<String> = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect();
        for m in &mut members {
            m.initial_cluster = initial.join(",");
            m.start("new");
        }
        let ctl_args = if extra.iter().any(|a| a == "--cert-file") {
            let at = |flag: &str| {
                let i = extra.iter().position(|a| a == flag).expect(flag);
                extra[i + 1].clone()
            };
            vec![
                format!("--cacert={}", at("--trusted-ca-file")),
                format!("--cert={}", at("--cert-file")),
                format!("--key={}", at("--key-file")),
            ]
        } else {
            Vec::new()
        };
        let etcd = Etcd { members, ctl_args };
        etcd.wait_ready();
        etcd
    }

    /// Every member's client URL, comma-separated (`--endpoints`).
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| m.client_url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Wait (bounded) until etcd answers: `etcdctl endpoint health` of the
    /// whole cluster. etcd offers nothing to block on, so this asks again.
    pub fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let mut args = vec!["endpoint", "health", "--command-timeout=1s"];
            let user = self.ctl_args.iter().any(|a| a.starts_with("--user"));
            if user {
                // Health needs no user; a member that answers will do.
                args[1] = "status";
            }
            let out = self.etcdctl(&args);
            if out.status.success() {
                return;
            }
            assert!(
                start.elapsed() < SAFETY_TIMEOUT,
                "etcd never became healthy: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Run etcdctl against the cluster.
    pub fn etcdctl(&self, args: &[&str]) -> std::process::Output {
        self.etcdctl_cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl")
    }

    /// etcdctl against the cluster, to add to and run.
    pub fn etcdctl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .env_remove("ETCDCTL_ENDPOINTS")
            .arg(format!("--endpoints={}", self.endpoints()))
            .args(&self.ctl_args)
            .args(args);
        cmd
    }

    /// The keys under `prefix`, one per line.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.etcdctl(&["get", "--prefix", "--keys-only", prefix]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The member that leads, by index.
    pub fn leader(&self) -> usize {
        let out = self.etcdctl(&["endpoint", "status", "-w", "json", "--cluster"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // Each status has "member_id" in its header and "leader"; the
        // leader's own entry names itself.
        for (i, m) in self.members.iter().enumerate() {
            let one = self.etcdctl_one(m, &["endpoint", "status", "-w", "fields"]);
            let id = field(&one, "\"MemberID\"");
            let leader = field(&one, "\"Leader\"");
            if id.is_some() && id == leader {
                return i;
            }
        }
        panic!("no leader among the members: {text}");
    }

    fn etcdctl_one(&self, m: &EtcdMember, args: &[&str]) -> String {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .env_remove("ETCDCTL_ENDPOINTS")
            .arg(format!("--endpoints={}", m.client_url))
            .args(args)
            .output()
            .expect("etcdctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// `"Name" : value` in etcdctl's `-w fields` output.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim_start_matches([' ', ':']).trim().to_owned())
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for m in &mut self.members {
            m.kill();
        }
    }
}
