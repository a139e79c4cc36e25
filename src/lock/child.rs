//! Running the command under the lock, and turning its end into an exit code.
//!
//! std's `Command` is not used on purpose: it empties the child's signal mask
//! and resets SIGPIPE, so a command run under the reference tools and under
//! lockkit would start differently (a script that ignores SIGPIPE, or a
//! supervisor that blocks signals, would notice). Here the child inherits
//! exactly what the tool inherited, as with fork+execvp in C, and the lock
//! descriptor unless asked to close it.
//!
//! The command starts with `posix_spawn` (glibc: `clone(CLONE_VM |
//! CLONE_VFORK)`, no copy of our page tables, no copy-on-write faults
//! afterwards), searching PATH exactly as glibc's `execvp` does — which is
//! what the reference tools call after fork: an empty PATH element is the
//! current directory, EACCES is remembered while the search goes on, and an
//! executable without a `#!` line (ENOEXEC) is run by /bin/sh, a fallback
//! glibc's `posix_spawnp` no longer makes. The C tools' "message from the
//! child, then `_exit(127)`" and our "exec error reported with the status"
//! look the same from outside.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions};

/// A command line ready to exec.
#[derive(Debug)]
pub struct Command {
    argv: Vec<CString>,
    close_in_child: Option<RawFd>,
    default_signals: Vec<libc::c_int>,
    /// Variables set (Some) or removed (None) in the command's environment;
    /// none: it gets ours untouched.
    env: Vec<(OsString, Option<OsString>)>,
    /// SIGKILL the command when this thread of ours ends.
    die_with_parent: bool,
}

/// Why a command did not start: no process could be made (what a failed
/// fork is in the C tools, and is reported as).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    Fork(Errno),
}

/// A started command, or one that could not be executed.
#[derive(Debug)]
pub struct Child {
    pid: Option<Pid>,
    /// Why it never ran (then there is no process).
    exec_error: Option<Errno>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(u8),
    Signaled(i32),
    /// It never ran: exec failed with this error.
    ExecFailed(Errno),
}

impl Status {
    /// The shell's convention: the exit status, or 128 + the signal number.
    /// (An exec failure has no code of its own; tools choose one.)
    pub fn code(self) -> u8 {
        match self {
            Status::Exited(c) => c,
            Status::Signaled(s) => (128 + s) as u8,
            Status::ExecFailed(_) => 127,
        }
    }
}

fn errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

impl Command {
    /// `argv[0]` is the program, looked up in PATH. Arguments cannot hold a
    /// NUL byte (they come from argv or the environment); one that did would
    /// be cut there.
    pub fn new(argv: &[OsString]) -> Command {
        let argv = argv
            .iter()
            .map(|a| {
                let bytes = a.as_bytes();
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                CString::new(&bytes[..end]).unwrap_or_default()
            })
            .collect();
        Command {
            argv,
            close_in_child: None,
            default_signals: Vec::new(),
            env: Vec::new(),
            die_with_parent: false,
        }
    }

    /// Set `key` to `value` in the command's environment, or remove it
    /// (None).
    pub fn env(&mut self, key: &str, value: Option<&OsStr>) -> &mut Self {
        self.env.push((key.into(), value.map(OsStr::to_owned)));
        self
    }

    /// The environment with [`Command::env`]'s changes, as `KEY=value`
    /// strings (None: ours, unchanged).
    fn environment(&self) -> Option<Vec<CString>> {
        if self.env.is_empty() {
            return None;
        }
        let changed = |k: &OsStr| self.env.iter().any(|(key, _)| key == k);
        let pair = |k: &OsStr, v: &OsStr| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).ok()
        };
        let mut out: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| !changed(k))
            .filter_map(|(k, v)| pair(&k, &v))
            .collect();
        for (i, (k, v)) in self.env.iter().enumerate() {
            let last = !self.env[i + 1..].iter().any(|(later, _)| later == k);
            if let (true, Some(v)) = (last, v) {
                out.extend(pair(k, v));
            }
        }
        Some(out)
    }

    /// Close this descriptor in the child before exec (`flock -o`).
    pub fn close_in_child(&mut self, fd: RawFd) -> &mut Self {
        self.close_in_child = Some(fd);
        self
    }

    /// Reset these signals to their default action in the child before exec
    /// (exec would anyway; this says so to posix_spawn, whose child must not
    /// run the parent's handlers, e.g. lock cleanup, before it execs).
    pub fn default_signals(&mut self, signals: &[libc::c_int]) -> &mut Self {
        self.default_signals = signals.to_vec();
        self
    }

    /// Have the kernel SIGKILL the command if the thread that starts it
    /// ends (the tool killed outright): `PR_SET_PDEATHSIG`, set in the
    /// child before exec, which posix_spawn cannot do — so this command
    /// starts through our own clone (see `Forker`). Only the command
    /// itself is covered, not processes it starts.
    pub fn die_with_parent(&mut self) -> &mut Self {
        self.die_with_parent = true;
        self
    }

    fn pointers(&self) -> Vec<*const libc::c_char> {
        pointers(&self.argv)
    }

    /// Replace this process with the command (`flock -F`). Returns only on
    /// failure, with the reason.
    pub fn exec(&self) -> Errno {
        let argv = self.pointers();
        if argv.len() < 2 {
            return Errno::NOENT;
        }
        match self.environment() {
            // SAFETY: argv is a NULL-terminated array of pointers into
            // CStrings that outlive the call.
            None => unsafe { libc::execvp(argv[0], argv.as_ptr()) },
            Some(env) => {
                let envp = pointers(&env);
                // SAFETY: as above, and so is envp.
                unsafe { libc::execvpe(argv[0], argv.as_ptr(), envp.as_ptr()) }
            }
        };
        errno()
    }

    /// Start the command. An exec failure shows when the child is waited
    /// for, as [`Status::ExecFailed`].
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        reset_sigchld();
        let argv = self.pointers();
        if argv.len() < 2 {
            return Ok(Child::failed(Errno::NOENT));
        }
        let spawner = Spawner::new(
            self.close_in_child,
            &self.default_signals,
            self.environment(),
        );
        let forker = self.die_with_parent.then(|| Forker {
            default_signals: self.default_signals.clone(),
            env: spawner.env.as_ref().map(|(_, p)| p.clone()),
            parent: rustix::process::getpid(),
        });
        let as_exec_judges = exec_access_flags();
        let path = std::env::var_os("PATH");
        let found = search(
            self.argv[0].as_bytes(),
            path.as_deref().map(OsStrExt::as_bytes),
            |candidate, searching| {
                // A cheap look first, so that a candidate the kernel would
                // not execute costs no process: only an error that the
                // search goes on after is taken from it; anything else is
                // left for exec itself to report.
                if searching {
                    if let Err(e) = executable(candidate, as_exec_judges) {
                        if search_continues(e) {
                            return Err(e);
                        }
                    }
                }
                match &forker {
                    Some(f) => f.spawn_or_script(candidate, &argv),
                    None => spawner.spawn_or_script(candidate, &argv),
                }
            },
        );
        match found {
            Ok(pid) => Ok(Child {
                pid: Some(pid),
                exec_error: None,
            }),
            // The process could not be made at all.
            Err(e @ (Errno::AGAIN | Errno::NOMEM)) => Err(SpawnError::Fork(e)),
            Err(e) => Ok(Child::failed(e)),
        }
    }
}

/// A NULL-terminated array of pointers into `strings`.
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Errors after which glibc's `execvp` tries the next PATH element: the
/// file is missing or not executable by us (EACCES is also remembered), or
/// a strange file system said something that cannot mean anything else.
fn search_continues(e: Errno) -> bool {
    matches!(
        e,
        Errno::ACCESS
            | Errno::NOENT
            | Errno::STALE
            | Errno::NOTDIR
            | Errno::NODEV
            | Errno::TIMEDOUT
    )
}

/// Would exec find this file executable (by the effective ids, as exec
/// judges)? Path lookup, permission and `noexec` mounts fail here as in
/// exec; what only exec can tell (a directory, a missing `#!` interpreter)
/// passes.
fn executable(path: &CStr, flags: rustix::fs::AtFlags) -> Result<(), Errno> {
    rustix::fs::accessat(rustix::fs::CWD, path, rustix::fs::Access::EXEC_OK, flags)
}

/// Flags for [`executable`]: `AT_EACCESS` only when the effective ids may
/// differ from the real ones, since it needs faccessat2, which older seccomp
/// profiles refuse. The kernel says so at exec (`AT_SECURE`: set-id or
/// file capabilities), and lockkit never changes its ids.
fn exec_access_flags() -> rustix::fs::AtFlags {
    // SAFETY: getauxval reads the auxiliary vector; it has no preconditions.
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    if secure {
        rustix::fs::AtFlags::EACCESS
    } else {
        rustix::fs::AtFlags::empty()
    }
}

/// glibc's `execvp` search (posix/execvpe.c): `run` is tried on `file`
/// itself if it has a slash, else on each PATH candidate in order (an empty
/// element is the current directory; no PATH is `/bin:/usr/bin`), with
/// `searching` true. The search stops at the first success or at an error
/// that [`search_continues`] does not cover; having seen EACCES, it ends
/// with EACCES, else with the last error.
fn search<T>(
    file: &[u8],
    path: Option<&[u8]>,
    mut run: impl FnMut(&CStr, bool) -> Result<T, Errno>,
) -> Result<T, Errno> {
    if file.is_empty() {
        return Err(Errno::NOENT);
    }
    if file.contains(&b'/') {
        let file = CString::new(file).map_err(|_| Errno::NOENT)?;
        return run(&file, false);
    }
    let path = path.unwrap_or(b"/bin:/usr/bin");
    // glibc sizes its buffer by PATH's first PATH_MAX - 1 bytes and skips
    // elements that do not fit.
    let limit = path.len().min(libc::PATH_MAX as usize - 1) + 1;
    let mut got_eacces = false;
    let mut last = Errno::NOENT;
    for dir in path.split(|&b| b == b':') {
        if dir.len() >= limit {
            continue;
        }
        let mut full = dir.to_vec();
        if !dir.is_empty() {
            full.push(b'/');
        }
        full.extend_from_slice(file);
        let Ok(full) = CString::new(full) else {
            continue;
        };
        match run(&full, true) {
            Ok(found) => return Ok(found),
            Err(e) if search_continues(e) => {
                got_eacces |= e == Errno::ACCESS;
                last = e;
            }
            Err(e) => return Err(e),
        }
    }
    Err(if got_eacces { Errno::ACCESS } else { last })
}

unsafe extern "C" {
    static environ: *const *const libc::c_char;
}

/// `posix_spawn` set up once for every attempt of one command: the child's
/// signal defaults and file actions.
struct Spawner {
    attr: libc::posix_spawnattr_t,
    actions: libc::posix_spawn_file_actions_t,
    /// The command's environment if it is not ours: the strings, and the
    /// array of pointers into them.
    env: Option<(Vec<CString>, Vec<*const libc::c_char>)>,
}

impl Spawner {
    fn new(
        close_in_child: Option<RawFd>,
        default_signals: &[libc::c_int],
        env: Option<Vec<CString>>,
    ) -> Spawner {
        let env = env.map(|strings| {
            let ptrs = pointers(&strings);
            (strings, ptrs)
        });
        // SAFETY: the attribute and file-action objects are initialised
        // here before any other use and destroyed once, in Drop; the signal
        // set is filled by the libc calls.
        unsafe {
            let mut s = Spawner {
                attr: std::mem::zeroed(),
                actions: std::mem::zeroed(),
                env,
            };
            libc::posix_spawnattr_init(&mut s.attr);
            libc::posix_spawn_file_actions_init(&mut s.actions);
            // The default action for the signals we handle (glibc resets
            // every handled signal in the child anyway; this says so).
            let mut defaults: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut defaults);
            for &sig in default_signals {
                libc::sigaddset(&mut defaults, sig);
            }
            internal_signals_as_exec_leaves_them(&mut defaults);
            libc::posix_spawnattr_setsigdefault(&mut s.attr, &defaults);
            libc::posix_spawnattr_setflags(
                &mut s.attr,
                libc::POSIX_SPAWN_SETSIGDEF as libc::c_short,
            );
            if let Some(fd) = close_in_child {
                libc::posix_spawn_file_actions_addclose(&mut s.actions, fd);
            }
            s
        }
    }

    /// `posix_spawn` one path; a file the kernel cannot execute (no `#!`)
    /// is run by /bin/sh as `sh path args…`, as glibc's `execvp` does.
    fn spawn_or_script(&self, path: &CStr, argv: &[*const libc::c_char]) -> Result<Pid, Errno> {
        match self.run(path, argv) {
            Err(Errno::NOEXEC) => {
                let sh = c"/bin/sh";
                let mut script = vec![sh.as_ptr(), path.as_ptr()];
                script.extend_from_slice(&argv[1..]);
                self.run(sh, &script)
            }
            other => other,
        }
    }

    fn run(&self, path: &CStr, argv: &[*const libc::c_char]) -> Result<Pid, Errno> {
        let mut pid: libc::pid_t = 0;
        // SAFETY: path is NUL-terminated, argv NULL-terminated and pointing
        // into live CStrings, the environment is environ or an array
        // NULL-terminated by `pointers` into strings it lives with, and the
        // attribute objects were initialised in `new`.
        let envp = match &self.env {
            Some((_, ptrs)) => ptrs.as_ptr(),
            // SAFETY: reading the pointer environ holds.
            None => unsafe { environ },
        };
        let rc = unsafe {
            libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                &self.actions,
                &self.attr,
                argv.as_ptr().cast(),
                envp.cast(),
            )
        };
        match rc {
            0 => Pid::from_raw(pid).ok_or(Errno::AGAIN),
            e => Err(Errno::from_raw_os_error(e)),
        }
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        // SAFETY: both objects were initialised in `new` and are destroyed
        // exactly once.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut self.actions);
            libc::posix_spawnattr_destroy(&mut self.attr);
        }
    }
}

/// Start a command that must die with us (`PR_SET_PDEATHSIG`, which
/// `posix_spawn` cannot set): as glibc's posix_spawn starts a process —
/// `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own, so no page table
/// is copied and this thread waits only until the exec — with the death
/// signal set in the child first. Sharing our memory until it execs, the
/// child makes only async-signal-safe calls on data prepared before the
/// clone, runs no signal handler of ours (all signals are blocked across
/// the clone; the child puts handled ones back to their default before
/// unblocking), and leaves why an exec failed in `Start`.
struct Forker {
    default_signals: Vec<libc::c_int>,
    /// The environment's pointers (into strings the Spawner keeps).
    env: Option<Vec<*const libc::c_char>>,
    parent: Pid,
}

/// What the child of [`Forker`] reads, and writes back.
struct Start<'a> {
    path: &'a CStr,
    argv: &'a [*const libc::c_char],
    script: &'a [*const libc::c_char],
    envp: *const *const libc::c_char,
    default_signals: &'a [libc::c_int],
    last_signal: libc::c_int,
    parent: libc::pid_t,
    /// The caller's signal mask, for the command.
    mask: libc::sigset_t,
    /// Set by the child when it could not exec.
    errno: libc::c_int,
}

/// The stack the child runs on until it execs: its calls are a few
/// system-call wrappers.
const CHILD_STACK: usize = 64 * 1024;

extern "C" fn start_child(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Start` the parent keeps alive (it is suspended
    // until we exec or exit); every pointer in it is valid and NUL-ended.
    // Only async-signal-safe calls follow, and every signal is blocked.
    unsafe {
        let start = &mut *arg.cast::<Start<'_>>();
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        // The parent died before the line above: nobody would kill us.
        if libc::getppid() != start.parent {
            libc::_exit(127);
        }
        // A handler of ours must not run here, on memory we share: caught
        // signals go back to their default (exec would do the same).
        for sig in 1..=start.last_signal {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction != libc::SIG_DFL
                && old.sa_sigaction != libc::SIG_IGN
            {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        for &sig in start.default_signals {
            libc::signal(sig, libc::SIG_DFL);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &start.mask, std::ptr::null_mut());
        libc::execve(
            start.path.as_ptr(),
            start.argv.as_ptr().cast(),
            start.envp.cast(),
        );
        let mut e = *libc::__errno_location();
        if e == libc::ENOEXEC {
            libc::execve(
                c"/bin/sh".as_ptr(),
                start.script.as_ptr().cast(),
                start.envp.cast(),
            );
            e = *libc::__errno_location();
        }
        start.errno = e;
        libc::_exit(127)
    }
}

impl Forker {
    fn spawn_or_script(&self, path: &CStr, argv: &[*const libc::c_char]) -> Result<Pid, Errno> {
        let mut script = vec![c"/bin/sh".as_ptr(), path.as_ptr()];
        script.extend_from_slice(&argv[1..]);
        let envp = match &self.env {
            Some(ptrs) => ptrs.as_ptr(),
            // SAFETY: reading the pointer environ holds.
            None => unsafe { environ },
        };
        // SAFETY: a fresh private mapping, unmapped below.
        let stack = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                CHILD_STACK,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::STACK,
            )?
        };
        // SAFETY: plain-data C structs, zero is a valid value.
        let mut start = Start {
            path,
            argv,
            script: &script,
            envp,
            default_signals: &self.default_signals,
            last_signal: libc::SIGRTMAX(),
            parent: self.parent.as_raw_nonzero().get(),
            mask: unsafe { std::mem::zeroed() },
            errno: 0,
        };
        // SAFETY: sigset_t and the pointers are valid; the stack outlives
        // the child's use of it (this thread is suspended until the child
        // execs or exits: CLONE_VFORK), and grows down from its end.
        let pid = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut start.mask);
            let top = stack.cast::<u8>().add(CHILD_STACK).cast::<libc::c_void>();
            let pid = libc::clone(
                start_child,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&raw mut start).cast(),
            );
            let e = errno();
            libc::pthread_sigmask(libc::SIG_SETMASK, &start.mask, std::ptr::null_mut());
            // The child is done with its stack: it exec'd or exited.
            let _ = rustix::mm::munmap(stack, CHILD_STACK);
            if pid < 0 {
                return Err(e);
            }
            Pid::from_raw_unchecked(pid)
        };
        // Written by the child, behind the compiler's back.
        // SAFETY: a valid, aligned field.
        let failed = unsafe { std::ptr::read_volatile(&raw const start.errno) };
        if failed != 0 {
            // exec failed: reap the child, report why.
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
            return Err(Errno::from_raw_os_error(failed));
        }
        Ok(pid)
    }
}

/// glibc's spawn child sets its two internal signals (32 and 33, used for
/// thread cancellation and set*id) to "ignore" unless they are in the
/// default set — and an ignored signal stays ignored across exec, so the
/// command would start differently than after fork+exec. Put each in the
/// default set unless we really inherited it ignored. (glibc's sigaction
/// and sigaddset refuse these numbers, hence the system call and the raw
/// bit.)
fn internal_signals_as_exec_leaves_them(defaults: &mut libc::sigset_t) {
    for sig in [32, 33] {
        if !kernel_ignores(sig) {
            add_raw_signal(defaults, sig);
        }
    }
}

/// Is `sig`'s disposition SIG_IGN, as the kernel has it?
fn kernel_ignores(sig: libc::c_int) -> bool {
    // The kernel's struct sigaction starts with the handler, an unsigned
    // long, on every supported architecture (see the compile_error! below);
    // the buffer is larger than the whole struct.
    let mut old = [0 as libc::c_ulong; 16];
    // The kernel's sigset size (_NSIG / 8), which it requires exactly.
    const KERNEL_SIGSET_BYTES: libc::c_long = 8;
    // SAFETY: a query (no new action) into a buffer larger than the
    // kernel's struct.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            libc::c_long::from(sig),
            std::ptr::null::<libc::c_ulong>(),
            old.as_mut_ptr(),
            KERNEL_SIGSET_BYTES,
        )
    };
    rc == 0 && old[0] == libc::SIG_IGN as libc::c_ulong
}

// Architectures whose rt_sigaction differs (MIPS: flags first and a 128-bit
// sigset; SPARC: an extra argument) or that are untested: refuse to build
// rather than misread a disposition.
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64",
    )
)))]
compile_error!(
    "lockkit supports Linux on x86_64, x86, aarch64, arm, riscv64, powerpc64, s390x and \
     loongarch64 only (src/lock/child.rs reads the kernel's struct sigaction)"
);

/// `sigaddset` without glibc's refusal of its internal signals: glibc and
/// musl store signal `n` as bit `(n-1) % W` of word `(n-1) / W`, where the
/// words are `unsigned long` (W bits) — on every Linux target, 32- or 64-bit,
/// either byte order.
fn add_raw_signal(set: &mut libc::sigset_t, sig: libc::c_int) {
    const W: usize = libc::c_ulong::BITS as usize;
    let bit = sig as usize - 1;
    let words = std::mem::size_of::<libc::sigset_t>() / std::mem::size_of::<libc::c_ulong>();
    assert!(bit / W < words, "signal {sig} out of sigset_t");
    // SAFETY: sigset_t is an array of `words` unsigned longs, suitably
    // aligned for them; the index was checked above.
    unsafe {
        let base = (set as *mut libc::sigset_t).cast::<libc::c_ulong>();
        *base.add(bit / W) |= 1 << (bit % W);
    }
}

impl Child {
    fn failed(e: Errno) -> Child {
        Child {
            pid: None,
            exec_error: Some(e),
        }
    }

    /// The command's process (none if it could not be executed).
    pub fn pid(&self) -> Option<Pid> {
        self.pid
    }

    /// Why the command could not be executed, if it could not.
    pub fn exec_error(&self) -> Option<Errno> {
        self.exec_error
    }

    /// Wait for the command to end (retrying on EINTR).
    pub fn wait(&self) -> Result<Status, Errno> {
        loop {
            if let Some(status) = self.poll(WaitOptions::empty())? {
                return Ok(status);
            }
        }
    }

    /// Its status if it has ended, without blocking.
    pub fn try_wait(&self) -> Result<Option<Status>, Errno> {
        self.poll(WaitOptions::NOHANG)
    }

    fn poll(&self, options: WaitOptions) -> Result<Option<Status>, Errno> {
        let Some(pid) = self.pid else {
            return Ok(self.exec_error.map(Status::ExecFailed));
        };
        match rustix::process::waitpid(Some(pid), options) {
            Ok(Some((_, st))) => {
                if let Some(code) = st.exit_status() {
                    return Ok(Some(Status::Exited(code as u8)));
                }
                Ok(st.terminating_signal().map(Status::Signaled))
            }
            Ok(None) | Err(Errno::INTR) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// An inherited "ignore SIGCHLD" would make the kernel reap the child itself
/// and `waitpid` fail; restore the default first, as util-linux does. A
/// handler (the supervisor's) is left in place.
fn reset_sigchld() {
    if super::noted::is_ignored(libc::SIGCHLD) {
        // SAFETY: SIG_DFL is always a valid disposition for SIGCHLD.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run [`search`] where each candidate's result comes from `results`
    /// (by path; anything else is ENOENT); returns the outcome and the
    /// candidates tried.
    fn trace(
        file: &str,
        path: Option<&str>,
        results: &[(&str, Result<u32, Errno>)],
    ) -> (Result<u32, Errno>, Vec<String>) {
        let mut tried = Vec::new();
        let got = search(file.as_bytes(), path.map(str::as_bytes), |c, searching| {
            let c = c.to_str().expect("utf-8").to_owned();
            tried.push(format!("{c}{}", if searching { "" } else { " (direct)" }));
            results
                .iter()
                .find(|(p, _)| *p == c)
                .map_or(Err(Errno::NOENT), |(_, r)| *r)
        });
        (got, tried)
    }

    #[test]
    fn search_order_and_the_current_directory() {
        let (got, tried) = trace("cmd", Some("/a::b:/c/"), &[("/c//cmd", Ok(7))]);
        assert_eq!(got, Ok(7));
        assert_eq!(tried, ["/a/cmd", "cmd", "b/cmd", "/c//cmd"]);
        let (_, tried) = trace("cmd", Some(""), &[]);
        assert_eq!(tried, ["cmd"]);
        let (_, tried) = trace("cmd", None, &[]);
        assert_eq!(tried, ["/bin/cmd", "/usr/bin/cmd"]);
    }

    #[test]
    fn a_slash_means_no_search() {
        let (got, tried) = trace("./cmd", Some("/a:/b"), &[]);
        assert_eq!(
            (got, tried),
            (Err(Errno::NOENT), vec!["./cmd (direct)".into()])
        );
        assert_eq!(trace("", Some("/a"), &[]), (Err(Errno::NOENT), vec![]));
    }

    #[test]
    fn eacces_is_remembered_and_other_errors_stop() {
        let r = [
            ("/a/cmd", Err(Errno::ACCESS)),
            ("/b/cmd", Err(Errno::NOTDIR)),
        ];
        assert_eq!(trace("cmd", Some("/a:/b:/c"), &r).0, Err(Errno::ACCESS));
        let r = [("/a/cmd", Err(Errno::NOTDIR))];
        assert_eq!(trace("cmd", Some("/a:/b"), &r).0, Err(Errno::NOENT));
        let r = [("/b/cmd", Err(Errno::STALE))];
        assert_eq!(trace("cmd", Some("/a:/b"), &r).0, Err(Errno::STALE));
        // A missing #! interpreter (ENOENT from exec) is passed over too.
        let r = [("/a/cmd", Err(Errno::NOENT)), ("/b/cmd", Ok(1))];
        assert_eq!(trace("cmd", Some("/a:/b"), &r).0, Ok(1));
        let r = [("/a/cmd", Err(Errno::TXTBSY)), ("/b/cmd", Ok(1))];
        let (got, tried) = trace("cmd", Some("/a:/b"), &r);
        assert_eq!((got, tried.len()), (Err(Errno::TXTBSY), 1));
    }

    #[test]
    fn overlong_path_elements_are_skipped_as_glibc_does() {
        let long = format!("/{}", "d".repeat(libc::PATH_MAX as usize));
        let path = format!("{long}:/a");
        let (_, tried) = trace("cmd", Some(&path), &[]);
        assert_eq!(tried, ["/a/cmd"]);
    }

    #[test]
    fn raw_signal_bits_are_where_sigismember_looks() {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid sigset_t.
        unsafe { libc::sigemptyset(&mut set) };
        for sig in [1, 14, 31, 32, 33, 64] {
            add_raw_signal(&mut set, sig);
        }
        for sig in [1, 14, 31, 64] {
            // SAFETY: a valid sigset_t and signal number.
            assert_eq!(unsafe { libc::sigismember(&set, sig) }, 1, "signal {sig}");
        }
        for sig in [2, 15, 30, 34, 63] {
            // SAFETY: a valid sigset_t and signal number.
            assert_eq!(unsafe { libc::sigismember(&set, sig) }, 0, "signal {sig}");
        }
    }

    #[test]
    fn kernel_dispositions_agree_with_proc() {
        // Whatever this process inherited (a parent that used posix_spawn
        // leaves glibc's internal signals ignored).
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let ign = status
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .expect("SigIgn");
        for sig in [32, 33, libc::SIGTERM, libc::SIGPIPE] {
            let want = ign & (1 << (sig - 1)) != 0;
            assert_eq!(kernel_ignores(sig), want, "signal {sig}");
        }
    }
}
