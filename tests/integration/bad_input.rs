//! One table of bad inputs for the three tools — malformed and out-of-range
//! numbers, empty strings, missing operands, paths that are too long, contain
//! newlines or non-UTF-8 bytes (these must *work*: paths are bytes), FIFOs,
//! UNIX sockets, devices, directories, dangling symlinks, symlink loops,
//! unreadable and unwritable places (as uid 65534), missing directories and
//! files used as directories.
//!
//! Every row runs differentially: the reference tool and lockkit each run
//! the whole table for a tool as one shell script (one row after another,
//! each in an emptied scratch directory), and each row must agree on the
//! exit status, stdout, stderr and the files left behind. To compare bytes
//! exactly even where they are not UTF-8 (a path in a message, a file
//! name), a row's stdout and stderr pass through `cat -v`, and the files
//! left are listed with a newline in a name shown as `\n` and other bytes
//! as `cat -v` shows them. A row that leaves a file shows it in that
//! listing with its type, mode, size and owner; lockkit must never leave a
//! temp file (`.lk…`, `_…`) behind.
//!
//! This is the one place that sweeps bad input. Neighbouring cases with
//! other spellings are in the differential suites: flock_diff.rs
//! (`timeout_values`, `conflict_exit_code_values`, `fd_number_operands`,
//! `opening_lock_files`, `permissions_as_nobody`), dotlock_diff.rs
//! (`retry_argument_parsing`, `interval_argument_parsing`,
//! `missing_and_unwritable_directories`, `name_length_limits`,
//! `symlinks_and_directories_at_the_lock_path`) and lockfile_diff.rs
//! (`usage_errors`, `option_values_and_clusters`, `held_locks`,
//! `missing_and_unwritable_directories`, `long_names`); no row here repeats
//! one of theirs verbatim.
//!
//! Nothing blocks: locks that exist are tried with `flock -n`,
//! `dotlock -r 0` or `lockfile -r0`. A FIFO is opened by flock(1) (and read
//! by dotlockfile(1)) with a plain blocking open(2), which waits forever for
//! a writer: those rows give the FIFO a writer first (`3<>fifo`), and the
//! reference is not run on the one dotlock case where it would hang. Rows
//! where lockkit differs on purpose (docs/compat.md) assert lockkit's
//! behaviour (`Expect::Lockkit`).

use std::fmt::Write as _;

use crate::util::{Impl, is_root, normalize, reference, root_or_skip, run_tool_script, sh_quote};

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cat {
    /// Malformed, out-of-range or huge numbers.
    Number,
    /// Empty strings, as paths and as option values.
    Empty,
    /// Missing operands or option values.
    Missing,
    /// A name component over NAME_MAX (255) or a path over PATH_MAX (4096),
    /// and the longest that still work.
    TooLong,
    /// A newline in a path (must work).
    Newline,
    /// Bytes that are not UTF-8 in a path (must work).
    NonUtf8,
    Fifo,
    Socket,
    Device,
    Directory,
    DanglingSymlink,
    SymlinkLoop,
    /// Places uid 65534 cannot read or search.
    Unreadable,
    /// Places uid 65534 cannot write.
    Unwritable,
    /// A lock in a directory that does not exist.
    NoDir,
    /// A file used as a directory (ENOTDIR).
    NotDir,
}

const ALL_CATS: [Cat; 16] = [
    Cat::Number,
    Cat::Empty,
    Cat::Missing,
    Cat::TooLong,
    Cat::Newline,
    Cat::NonUtf8,
    Cat::Fifo,
    Cat::Socket,
    Cat::Device,
    Cat::Directory,
    Cat::DanglingSymlink,
    Cat::SymlinkLoop,
    Cat::Unreadable,
    Cat::Unwritable,
    Cat::NoDir,
    Cat::NotDir,
];

/// What a row must do.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The same as the reference tool.
    SameAsReference,
    /// Not compared with the reference, which would never end, or differs
    /// on purpose (docs/compat.md; the row's comment says which): lockkit's
    /// stdout (the `exit N` line, the command's output, the files left) and
    /// stderr.
    Lockkit(&'static str, &'static str),
}

/// One bad input.
#[derive(Debug, Clone, Copy)]
struct Row {
    cat: Cat,
    /// What the row shows.
    what: &'static str,
    /// Shell code run (as root) in the emptied scratch directory first.
    prep: &'static str,
    /// The shell command: the tool with its arguments (`$NOBODY tool …` to
    /// run it as uid 65534). Its stdout and stderr are redirected to files.
    cmd: &'static str,
    expect: Expect,
}

impl Row {
    /// Runs as uid 65534, or makes a device node: needs root.
    fn needs_root(&self) -> bool {
        self.cmd.contains("$NOBODY") || self.prep.contains("mknod")
    }
}

const fn row(cat: Cat, what: &'static str, prep: &'static str, cmd: &'static str) -> Row {
    Row {
        cat,
        what,
        prep,
        cmd,
        expect: Expect::SameAsReference,
    }
}

/// A row asserting lockkit's own behaviour ([`Expect::Lockkit`]).
const fn lockkit(
    cat: Cat,
    what: &'static str,
    prep: &'static str,
    cmd: &'static str,
    stdout: &'static str,
    stderr: &'static str,
) -> Row {
    Row {
        cat,
        what,
        prep,
        cmd,
        expect: Expect::Lockkit(stdout, stderr),
    }
}

/// Shell code shared by every table's script.
///
/// * `NOBODY`: `setpriv` words that run the rest of the line as uid/gid
///   65534 with no groups;
/// * `reset`: empty the scratch directory (but `bin/`);
/// * `show [FILE]`: the bytes as `cat -v` shows them, 255 `a`s as `{255a}`;
/// * `state`: what is in it (but `bin/`): type, mode, size (`-` for a
///   directory), owner and path, sorted; a newline in a name shows as `\n`,
///   the rest as `show` shows it;
/// * `long N`: a name of N `a`s;
/// * `deep N`: make N nested directories named `$L255`; `deeppath N`:
///   their path, with a trailing slash (N × 256 bytes);
/// * `sock NAME`: bind a UNIX socket there (and leave it).
const PRELUDE: &str = r#"umask 022
NOBODY='setpriv --reuid=65534 --regid=65534 --clear-groups --'
reset() { find . -mindepth 1 -maxdepth 1 ! -name bin -exec rm -rf {} +; }
long() { printf "%0${1}d" 0 | tr 0 a; }
L255=$(long 255)
state() {
    find . -path ./bin -prune -o ! -name . \( -type d -printf '%y %m - %u %p\0' -o -printf '%y %m %s %u %p\0' \) |
        LC_ALL=C sort -z | sed -z 's/\n/\\n/g' | tr '\0' '\n' | show
}
show() { sed "s/$L255/{255a}/g" "$@" | cat -v; }
deep() { ( mkdir "$L255"; i=1; while [ $i -lt "$1" ]; do cd "$L255" && mkdir "$L255" || exit; i=$((i + 1)); done ) }
deeppath() { i=0; while [ $i -lt "$1" ]; do printf '%s/' "$L255"; i=$((i + 1)); done; }
sock() { python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1"; }
"#;

use Cat::*;

/// util-linux 2.38.1's flock(1).
#[rustfmt::skip]
const FLOCK: &[Row] = &[
    // Numbers. Syntax errors are refused before the file is opened; values
    // that parse but cannot arm the timer fail (71) after creating it.
    row(Number, "--timeout= with letters", "", "flock --timeout=abc lockA true"),
    row(Number, "-w 1e999 (attached): too big for the timer", "", "flock -w1e999 lockA true"),
    row(Number, "--timeout=-1", "", "flock --timeout=-1 lockA echo never"),
    row(Number, "-w NaN", "", "flock -w NaN --verbose lockA true"),
    row(Number, "--wait=inf, shared", "", "flock --wait=inf -s lockA true"),
    row(Number, "-w with 23 digits", "", "flock -w 99999999999999999999999 lockA true"),
    row(Number, "-w hex with junk", "", "flock -w 0x1g lockA true"),
    row(Number, "-E999 (attached)", "", "flock -E999 lockA true"),
    row(Number, "-E-1 (attached) with -n", "", "flock -E-1 -n lockA true"),
    row(Number, "--conflict-exit-code=abc", "", "flock --conflict-exit-code=abc lockA true"),
    row(Number, "-E with 20 digits", "", "flock -E 99999999999999999999 lockA true"),
    // Empty strings.
    row(Empty, "--wait with an empty value", "", "flock --wait '' lockA true"),
    row(Empty, "-n -E ''", "", "flock -n -E '' lockA true"),
    row(Empty, "an empty lock path, -n", "", "flock -n '' true"),
    row(Empty, "an empty -c command string", "", "flock lockA -c ''"),
    row(Empty, "an empty fd-form operand, shared", "", "flock -s ''"),
    // Missing operands.
    row(Missing, "options only", "", "flock --verbose -n"),
    row(Missing, "--conflict-exit-code without its value", "", "flock -s --conflict-exit-code"),
    row(Missing, "a file name but no command: read as an fd number", "", "flock -n lockA"),
    // Too long.
    row(TooLong, "a 256-byte name in a subdirectory", "mkdir d", r#"flock "d/$(long 256)" true"#),
    row(TooLong, "a 255-byte name works", "", r#"flock "$L255" echo ok"#),
    row(TooLong, "4100 bytes through existing directories", "deep 16", r#"flock "$(deeppath 16)lock" true"#),
    row(TooLong, "3844 bytes through existing directories works", "deep 15", r#"flock "$(deeppath 15)lock" echo ok"#),
    // Newlines and non-UTF-8 bytes: paths are bytes.
    row(Newline, "a newline in the name works", "", r#"flock "$(printf 'a\nb')" echo ok"#),
    row(Newline, "a newline in a failing path", "", r#"flock "$(printf 'no\ndir/x')" true"#),
    row(NonUtf8, "bytes 0xff 0xfe in the name work", "", r#"flock "$(printf '\377\376.lock')" echo ok"#),
    row(NonUtf8, "a 0xff byte in a failing path", "", r#"flock --verbose "$(printf 'nodir\377/x')" true"#),
    row(NonUtf8, "a command name with a 0xff byte that is not found", "", r#"flock "$(printf '\377')" "$(printf 'c\377md')""#),
    // Special files. A FIFO without a writer blocks both in open(2) forever.
    row(Fifo, "a FIFO with a writer ready", "mkfifo fifo", "flock -n fifo echo ok 3<>fifo"),
    row(Fifo, "a FIFO used as a directory", "mkfifo fifo", "flock fifo/x true"),
    row(Socket, "a UNIX socket, shared and -n", "sock sock", "flock -s -n sock true"),
    row(Device, "a null device node works", "mknod null c 1 3", "flock -n null echo ok"),
    row(Device, "a device node with no driver", "mknod nodev c 240 0", "flock nodev true"),
    row(Device, "/dev/null, shared", "", "flock -s /dev/null echo ok"),
    row(Directory, "a directory, -n and -c", "mkdir dir", "flock -n dir -c 'echo ok'"),
    row(Directory, "dir/., exclusive", "mkdir dir", "flock -x dir/. echo ok"),
    row(DanglingSymlink, "a dangling symlink into a directory: its target is made", "mkdir sub; ln -s sub/target dang", "flock dang echo ok"),
    row(SymlinkLoop, "a symlink loop, -n", "ln -s loop loop", "flock -n loop true"),
    row(SymlinkLoop, "a symlink loop as a directory, shared", "ln -s loop loop", "flock -s loop/x true"),
    // As uid 65534.
    row(Unreadable, "root's mode-000 file, shared", ": > f; chmod 000 f", "$NOBODY flock -s f true"),
    row(Unreadable, "root's write-only (0622) file", ": > f; chmod 622 f", "$NOBODY flock f echo ok"),
    row(Unreadable, "an unsearchable directory", "mkdir priv; chmod 700 priv", "$NOBODY flock priv/x true"),
    row(Unwritable, "a new file in a read-only directory", "mkdir ro; chmod 555 ro", "$NOBODY flock -n ro/new true"),
    row(Unwritable, "a writable, unreadable (0333) directory works", "mkdir wx; chmod 333 wx", "$NOBODY flock wx/new echo ok"),
    row(NoDir, "a missing directory two levels up, -E 7", "", "flock -E 7 nodir/a/b true"),
    row(NotDir, "a file as a directory, shared", ": > file", "flock -s file/x true"),
    // Bad values for the options util-linux added after 2.38.1, which
    // 2.38.1 refuses as unrecognized (docs/compat.md, "Extensions"):
    // upstream's messages, 64, nothing made.
    lockkit(Number, "--fd with letters (extension)", "", "flock --fd abc true", "exit 64\n", "flock: invalid file descriptor: 'abc'\n"),
    lockkit(Empty, "--start with an empty value (extension)", "", "flock --start '' lockA true", "exit 64\n", "flock: invalid as start offset: '': Invalid argument\n"),
    lockkit(Number, "--length=-1 (extension)", "", "flock --length=-1 lockA true", "exit 64\n", "flock: invalid as length of lock range: '-1': Invalid argument\n"),
];

/// liblockfile 1.17's dotlockfile(1) (a plain, non-setgid copy).
#[rustfmt::skip]
const DOTLOCK: &[Row] = &[
    // -r and -i are read with atoi: a huge value is -1 (-r: for ever; -i:
    // refused), 2^32 is 0 but not the string "0" (refused).
    row(Number, "-r x", "", "dotlock -r x a.lock"),
    row(Number, "-r with 20 digits on a free lock", "", "dotlock -r 99999999999999999999 a.lock"),
    row(Number, "-r -5", "", "dotlock -r -5 a.lock"),
    row(Number, "-r 4294967296", "", "dotlock -r 4294967296 a.lock"),
    row(Number, "-i with 20 digits", "", "dotlock -i 99999999999999999999 a.lock"),
    row(Number, "-q -i -5: -q does not silence it", "", "dotlock -q -i -5 a.lock"),
    // atoi wraps -2147483649 to 2147483647, which the reference overflows
    // to no attempt at all (4, even on a free lock); lockkit takes it as a
    // very long time (docs/compat.md, "-r 2147483647").
    lockkit(Number, "-r -2147483649 wraps to 2147483647: a free lock is taken", "", "dotlock -r -2147483649 a.lock", "exit 0\nf 644 2 root ./a.lock\n", ""),
    row(Empty, "-i ''", "", "dotlock -i '' a.lock"),
    row(Empty, "an empty lock name", "", "dotlock -r 0 ''"),
    row(Empty, "-u of an empty name", "", "dotlock -u ''"),
    row(Empty, "-m with MAIL empty: the lock is .lock", "", "MAIL= dotlock -m -r 0"),
    row(Empty, "an empty command name, -P", "", "dotlock -P x.lock ''"),
    row(Missing, "no lock name", "", "dotlock -p -r 0"),
    row(Missing, "-u with no name, quiet", "", "dotlock -q -u"),
    row(TooLong, "a 256-byte name", "", r#"dotlock -r 0 "$(long 256)""#),
    row(TooLong, "4097 bytes through existing directories", "deep 16", r#"dotlock -r 0 "$(deeppath 16)x""#),
    row(TooLong, "3846 bytes through existing directories works", "deep 15", r#"dotlock "$(deeppath 15)x.lock""#),
    row(TooLong, "-u of 5001 bytes ending in 0xff", "", r#"dotlock -u "$(long 5000)$(printf '\377')""#),
    row(Newline, "a newline in the name works", "", r#"dotlock "$(printf 'a\nb.lock')""#),
    row(Newline, "-u of a name with a newline", r#"echo 0 > "$(printf 'x\ny.lock')""#, r#"dotlock -u "$(printf 'x\ny.lock')""#),
    row(NonUtf8, "bytes 0xff 0xfe in the name work", "", r#"dotlock "$(printf '\377\376.lock')""#),
    row(NonUtf8, "MAIL with a 0xff byte and a newline, -m", "", r#"MAIL="$(printf 'm\377\nx')" dotlock -m -r 0"#),
    row(NonUtf8, "a command name with a 0xff byte that is not found, -P", "", r#"dotlock -P x.lock "$(printf 'c\377md')""#),
    row(NonUtf8, "a held lock named with 0xff, command mode", r#"echo 0 > "$(printf '\377.lock')""#, r#"dotlock -r 0 "$(printf '\377.lock')" echo never"#),
    // A FIFO at the lock path is read for a pid: the reference's open(2)
    // waits for a writer and its read(2) for data.
    row(Fifo, "a FIFO holding 0: a fresh lock", "mkfifo fifo", r#"{ printf '0\n' >&3; dotlock -r 0 fifo; } 3<>fifo"#),
    row(Fifo, "-u of a FIFO", "mkfifo fifo", "dotlock -u fifo"),
    // Not compared: the reference's open(2) of the FIFO never returns.
    // lockkit opens it without blocking (O_NONBLOCK), finds no pid, and
    // judges it by age: fresh, so held.
    lockkit(Fifo, "a FIFO with no writer: held (the reference hangs)", "mkfifo fifo", "dotlock -r 0 fifo", "exit 4\np 644 0 root ./fifo\n", ""),
    row(Socket, "a UNIX socket: a fresh lock", "sock sock", "dotlock -r 0 sock"),
    row(Device, "a null device node: a fresh lock", "mknod null c 1 3", "dotlock -r 0 null"),
    row(Device, "-c -p of a null device node", "mknod null c 1 3", "dotlock -c -p null"),
    row(Directory, "-u of a directory", "mkdir dir", "dotlock -u dir"),
    row(Directory, "'.' as the lock", "", "dotlock -r 0 ."),
    row(DanglingSymlink, "-c of a dangling symlink", "ln -s nowhere dang", "dotlock -c dang"),
    row(DanglingSymlink, "-u of a dangling symlink", "ln -s nowhere dang", "dotlock -u dang"),
    row(SymlinkLoop, "a symlink loop: stale, replaced", "ln -s loop loop", "dotlock -r 0 loop"),
    row(SymlinkLoop, "a symlink loop as a directory", "ln -s loop loop", "dotlock -r 0 loop/x"),
    row(Unreadable, "root's unreadable lock naming a dead pid, -p", "mkdir w; chmod 777 w; echo 99999999 > w/x.lock; chmod 000 w/x.lock", "$NOBODY dotlock -p -r 0 w/x.lock"),
    row(Unreadable, "an unsearchable directory, command mode", "mkdir priv; chmod 700 priv", "$NOBODY dotlock -r 0 priv/x.lock echo never"),
    row(Unwritable, "a read-only subdirectory", "mkdir ro; chmod 555 ro", "$NOBODY dotlock -r 0 ro/x.lock"),
    row(Unwritable, "a writable, unreadable (0333) directory works", "mkdir wx; chmod 333 wx", "$NOBODY dotlock wx/x.lock"),
    row(Unwritable, "-t of root's lock in a 0777 directory", "mkdir w; chmod 777 w; echo 0 > w/x.lock", "$NOBODY dotlock -t w/x.lock"),
    row(NoDir, "a missing directory, -r 1", "", "dotlock -r 1 nodir/x.lock"),
    row(NotDir, "-u through a file", ": > file", "dotlock -u file/x.lock"),
    row(NotDir, "-t through a file", ": > file", "dotlock -t file/x.lock"),
];

/// procmail 3.22's lockfile(1) (a plain, non-setgid copy).
#[rustfmt::skip]
const LOCKFILE: &[Row] = &[
    // strtol into a 32-bit int: 20 digits saturate to -1 (-r: for ever);
    // -999999999999 is a negative sleeptime.
    row(Number, "-r with 20 digits on a free lock", "", "lockfile -r99999999999999999999 a"),
    row(Number, "-l with letters (attached)", "", "lockfile -labc a"),
    row(Number, "-r-5 (attached): for ever, on a free lock", "", "lockfile -r-5 a"),
    row(Number, "-999999999999 as sleeptime", "", "lockfile -999999999999 a"),
    row(Number, "-l 99999999999 on a held lock", ": > held", "lockfile -l 99999999999 -s0 -r0 held"),
    row(Number, "-s -99999999999", "", "lockfile -s -99999999999 a"),
    row(Empty, "-! does not invert Try praying for ''", "", "lockfile -! ''"),
    row(Empty, "-l '' is 0: never forces", ": > held", "lockfile -l '' -r0 held"),
    row(Empty, "-s '' is 0", ": > held", "lockfile -s '' -r0 held"),
    row(Missing, "-l at the end, after a lock was made", "", "lockfile -r0 a -l"),
    row(Missing, "options only", "", "lockfile -0 -r0 -l5 -s0"),
    row(TooLong, "a 257-byte name in a subdirectory: cut to 255", "mkdir d", r#"lockfile "d/$(long 257)""#),
    row(TooLong, "4097 bytes through existing directories", "deep 16", r#"lockfile "$(deeppath 16)x""#),
    row(TooLong, "3843 bytes through existing directories works", "deep 15", r#"lockfile "$(deeppath 15)xyz""#),
    row(Newline, "a newline in the name works", "", r#"lockfile "$(printf 'a\nb')""#),
    row(Newline, "a held lock named with a newline", r#": > "$(printf 'held\nlock')""#, r#"lockfile -r0 "$(printf 'held\nlock')""#),
    row(NonUtf8, "bytes 0xff 0xfe in the name work", "", r#"lockfile "$(printf '\377\376')""#),
    row(NonUtf8, "a 0xff byte in a failing path", "", r#"lockfile "$(printf 'nodir\377/x')""#),
    row(Fifo, "a FIFO: held", "mkfifo fifo", "lockfile -r0 fifo"),
    row(Fifo, "an old FIFO is forced", "mkfifo fifo; touch -d '100 sec ago' fifo", "lockfile -l 10 -s0 -r0 fifo"),
    row(Socket, "a UNIX socket: held", "sock sock", "lockfile -r0 sock"),
    row(Device, "a null device node: held", "mknod null c 1 3", "lockfile -r0 null"),
    row(Device, "an old device node is forced", "mknod null c 1 3; touch -d '100 sec ago' null", "lockfile -l 10 -s0 -r0 null"),
    row(Directory, "dir/.: held", "mkdir dir", "lockfile -r0 dir/."),
    row(Directory, "a directory after a lock: that lock is removed", "mkdir dir", "lockfile -r0 a dir b"),
    row(DanglingSymlink, "-! on a dangling symlink", "ln -s nowhere dang", "lockfile -! -r0 dang"),
    row(SymlinkLoop, "a symlink loop: held", "ln -s loop loop", "lockfile -r0 loop"),
    row(SymlinkLoop, "a symlink loop as a directory", "ln -s loop loop", "lockfile loop/x"),
    row(Unreadable, "an unsearchable directory", "mkdir priv; chmod 700 priv", "$NOBODY lockfile priv/x"),
    row(Unreadable, "root's old unreadable lock in a 0777 directory is forced", "mkdir w; chmod 777 w; : > w/x; chmod 000 w/x; touch -d '100 sec ago' w/x", "$NOBODY lockfile -l 10 -s0 -r0 w/x"),
    row(Unwritable, "a read-only directory after a lock: that lock is removed", "mkdir w; chmod 777 w; mkdir w/ro; chmod 555 w/ro", "$NOBODY lockfile w/a w/ro/x"),
    row(Unwritable, "a writable, unreadable (0333) directory works", "mkdir wx; chmod 333 wx", "$NOBODY lockfile wx/x"),
    row(NoDir, "-! on missing directories", "", "lockfile -! nodir/a/b"),
    // procmail first spends ~2 s on its nine temp names here.
    row(NotDir, "a file as a directory", ": > file", "lockfile file/x"),
];

/// The script running `rows` (with their table indices) one after another.
/// Each row: a header line `## tool N: what` on stdout and stderr, its
/// preparation, the command, `exit N`, its stdout and stderr (`show`),
/// and the files left (`state`).
fn script(tool: &str, rows: &[(usize, &Row)]) -> String {
    let mut s = String::from(PRELUDE);
    for (i, r) in rows {
        let hdr = sh_quote(&format!("## {tool} {i}: {}", r.what));
        let _ = writeln!(
            s,
            "reset\necho {hdr}; echo {hdr} >&2\n{}\n{} >bin/.out 2>bin/.err; echo \"exit $?\"\n\
             show bin/.out; show bin/.err >&2\nstate",
            if r.prep.is_empty() { ":" } else { r.prep },
            r.cmd
        );
    }
    s.push_str("reset\n");
    s
}

/// Output split at the `## ` header lines: header → the lines after it.
fn chunks(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![(String::new(), String::new())];
    for line in text.split_inclusive('\n') {
        if line.starts_with("## ") {
            out.push((line.trim_end().to_owned(), String::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push_str(line);
        }
    }
    out
}

/// One side's run of `rows`: per header, (stdout, stderr).
fn run_side(imp: Impl, tool: &str, rows: &[(usize, &Row)]) -> Vec<(String, String, String)> {
    let (out, files) = run_tool_script(imp, tool, |_| {}, &script(tool, rows));
    assert_eq!(out.code, 0, "{imp:?}: the {tool} script failed\n{out}");
    assert_eq!(files, "", "{imp:?}: the last reset left files");
    let stdout = chunks(&normalize(&out.stdout));
    let stderr = chunks(&normalize(&out.stderr));
    let headers = |c: &[(String, String)]| c.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>();
    assert_eq!(
        headers(&stdout),
        headers(&stderr),
        "{imp:?}: stdout and stderr rows differ\n{out}"
    );
    assert_eq!(
        stdout.len(),
        rows.len() + 1,
        "{imp:?}: not every row ran\n{out}"
    );
    assert_eq!(
        (stdout[0].1.as_str(), stderr[0].1.as_str()),
        ("", ""),
        "{imp:?}: output before the first row"
    );
    stdout
        .into_iter()
        .zip(stderr)
        .skip(1)
        .map(|((h, o), (_, e))| (h, o, e))
        .collect()
}

/// Names of temp files in a row's `state` lines (liblockfile's `.lk…`,
/// procmail's `_…`).
fn temp_files(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| {
            l.rsplit('/')
                .next()
                .is_some_and(|n| l.contains(" ./") && (n.starts_with(".lk") || n.starts_with('_')))
        })
        .collect()
}

/// Run `table` for `tool` on both sides and require each row to agree;
/// report every row that does not.
fn check_table(tool: &str, table: &[Row]) {
    if reference(tool).is_none() {
        return;
    }
    let root = is_root();
    let rows: Vec<(usize, &Row)> = table
        .iter()
        .enumerate()
        .filter(|(_, r)| root || !r.needs_root())
        .collect();
    let left_out = table.len() - rows.len();
    if left_out > 0 {
        root_or_skip(&format!("for {left_out} rows run as uid 65534"));
    }
    let compared: Vec<(usize, &Row)> = rows
        .iter()
        .copied()
        .filter(|(_, r)| matches!(r.expect, Expect::SameAsReference))
        .collect();
    // The two sides run at the same time, each in its own scratch
    // directory: the reference's own pauses (procmail's take seconds) then
    // cost no extra time.
    let (want, got) = std::thread::scope(|scope| {
        let want = scope.spawn(|| run_side(Impl::Reference, tool, &compared));
        let got = run_side(Impl::Lockkit, tool, &rows);
        let want = want.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (want, got)
    });
    let mut want = want.into_iter();
    // lockkit's own rows are written for a run as root; what a run makes
    // belongs to whoever runs the suite.
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("run id -un");
    let mine = format!(" {} ./", String::from_utf8_lossy(&me.stdout).trim());
    let mut failures = String::new();
    for ((i, r), (hdr, out, err)) in rows.iter().zip(&got) {
        let (want_out, want_err) = match r.expect {
            Expect::SameAsReference => {
                let (want_hdr, o, e) = want.next().expect("a reference row");
                assert_eq!(&want_hdr, hdr, "rows out of step");
                (o, e)
            }
            Expect::Lockkit(o, e) => (o.replace(" root ./", &mine), e.to_owned()),
        };
        if (&want_out, &want_err) != (out, err) {
            let _ = write!(
                failures,
                "\n{tool} row {i} ({:?}): {}\n$ {}\n--- expected stdout:\n{want_out}--- lockkit stdout:\n{out}\
                 --- expected stderr:\n{want_err}--- lockkit stderr:\n{err}",
                r.cat, r.what, r.cmd
            );
        }
        let temps = temp_files(out);
        if !temps.is_empty() {
            let _ = write!(
                failures,
                "\n{tool} row {i}: lockkit left temp files: {temps:?}"
            );
        }
    }
    assert!(failures.is_empty(), "rows that differ:{failures}");
}

#[test]
fn flock_bad_input() {
    check_table("flock", FLOCK);
}

#[test]
fn dotlock_bad_input() {
    check_table("dotlock", DOTLOCK);
}

#[test]
fn lockfile_bad_input() {
    check_table("lockfile", LOCKFILE);
}

/// The table keeps its breadth: at least 60 rows, and every category for
/// every tool.
#[test]
fn the_table_covers_every_category() {
    let tables = [
        ("flock", FLOCK),
        ("dotlock", DOTLOCK),
        ("lockfile", LOCKFILE),
    ];
    let total: usize = tables.iter().map(|(_, t)| t.len()).sum();
    assert!(total >= 60, "only {total} rows");
    for (tool, table) in tables {
        for cat in ALL_CATS {
            assert!(
                table.iter().any(|r| r.cat == cat),
                "{tool}: no row for {cat:?}"
            );
        }
        assert!(
            table.iter().all(|r| r.cmd.contains(tool)),
            "{tool}: a row runs something else"
        );
        let counts: Vec<String> = ALL_CATS
            .iter()
            .map(|&c| format!("{c:?} {}", table.iter().filter(|r| r.cat == c).count()))
            .collect();
        eprintln!("{tool}: {} rows: {}", table.len(), counts.join(", "));
    }
}
