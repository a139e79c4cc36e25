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
//!   stderr and the files left behind.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

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

/// The reference binary for a tool, if installed. Under `CI=true` a missing
/// one fails the test; elsewhere the caller skips and says why.
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
        if std::env::var_os("CI").is_some_and(|v| v == "true") {
            panic!("reference tool {path} is missing, and CI=true makes that a failure");
        }
        eprintln!("skipping: reference tool {path} is not installed");
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

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
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
        let link = self.bin().join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, &link).expect("symlink tool");
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
        let now = std::time::SystemTime::now();
        let when = if secs >= 0 {
            now - Duration::from_secs(secs as u64)
        } else {
            now + Duration::from_secs(secs.unsigned_abs())
        };
        let path = self.path(rel);
        let f = std::fs::File::options()
            .write(true)
            .open(&path)
            .or_else(|_| std::fs::File::open(&path))
            .expect("open file to age");
        f.set_times(
            std::fs::FileTimes::new()
                .set_accessed(when)
                .set_modified(when),
        )
        .expect("set file times");
    }

    pub fn read(&self, rel: impl AsRef<Path>) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read scratch file")
    }

    pub fn exists(&self, rel: impl AsRef<Path>) -> bool {
        self.path(rel).symlink_metadata().is_ok()
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
        let target = match imp {
            Impl::Lockkit => lockkit_bin(),
            Impl::Reference => reference(tool).expect("reference tool installed"),
        };
        let link = scratch.link(tool, &target);
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
        let target = match imp {
            Impl::Lockkit => lockkit_bin(),
            Impl::Reference => reference(tool).expect("reference tool installed"),
        };
        scratch.link(tool, &target);
        let mut cmd = Command::new(AS_NOBODY[0]);
        cmd.args(&AS_NOBODY[1..]).arg(tool);
        Self::base(scratch, cmd)
    }

    fn base(scratch: &Scratch, mut cmd: Command) -> TestCommand {
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
    let start = std::time::Instant::now();
    loop {
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        let blocked = locks.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"->")
                && f.get(5) == Some(&pid.to_string().as_str())
                && f.get(6).and_then(|d| d.rsplit(':').next()) == Some(&ino.to_string())
        });
        if blocked {
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

    /// Run as uid 65534 (the case is skipped unless the tests run as root).
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
        let target = match imp {
            Impl::Lockkit => lockkit_bin(),
            Impl::Reference => reference(self.tool).expect("reference tool installed"),
        };
        let link = scratch.link(self.tool, &target);
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
        if self.nobody && !is_root() {
            eprintln!("skipping: needs root to run as uid 65534");
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
