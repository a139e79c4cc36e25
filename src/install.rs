//! `lockkit install-links [--force] [--dry-run] [--relative] DIR`: create
//! the multi-call links.
//!
//! One symbolic link per name a tool answers to ([`link_names`]), in DIR,
//! pointing at the running binary (canonicalized; with `--relative`, as a
//! path relative to DIR's real location). What is already there decides:
//!
//! * nothing: the link is created (`symlink(2)` fails rather than replace
//!   anything that appeared meanwhile);
//! * anything that resolves to the running binary itself (a link, a chain of
//!   links, a hard link): kept as it is;
//! * a directory: refused, always — nothing here ever removes a directory;
//! * anything else (a file, a link elsewhere, a dangling link): refused,
//!   unless `--force`; then the new link is made under a temporary name in
//!   DIR and renamed over it, so the name is never missing and a link in the
//!   way is replaced, never followed.
//!
//! Every name is tried; one line per name says what was done (stdout) or
//! what failed (stderr). Exit 0 when every link is in place, 73
//! (EX_CANTCREAT) otherwise; `--dry-run` says what would be done, with the
//! same exit code, and changes nothing.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches};
use rustix::fs::{FileType, Stat};
use rustix::io::Errno;

use crate::error::strerror;
use crate::error::sysexits::EX_CANTCREAT;
use crate::stdio::Stdio;
use crate::suite::link_names;

pub const NAME: &str = "install-links";

pub fn command() -> clap::Command {
    clap::Command::new(NAME)
        .about("Create the tools' links (flock, dotlock, …) in a directory")
        .long_about(
            "Create, in DIR, a symbolic link to this binary for each name a tool runs as: \
             flock, dotlock, dotlockfile and lockfile. A link that already leads to this \
             binary is kept; anything else in the way is refused unless --force, and a \
             directory is never replaced. One line per name says what was done.",
        )
        .after_help(
            "Exit status: 0 when every link is in place, 73 when one could not be made or was \
             refused, 64 for a usage error.\n\n\
             Examples:\n  \
             lockkit install-links ~/.local/bin\n  \
             lockkit install-links --dry-run --force /usr/local/bin",
        )
        .arg(
            Arg::new("force")
                .short('f')
                .long("force")
                .action(ArgAction::SetTrue)
                .help("Replace a file or link that is in the way (atomically; never a directory)"),
        )
        .arg(
            Arg::new("dry-run")
                .short('n')
                .long("dry-run")
                .action(ArgAction::SetTrue)
                .help("Say what would be done, and change nothing"),
        )
        .arg(
            Arg::new("relative")
                .short('r')
                .long("relative")
                .action(ArgAction::SetTrue)
                .help("Make the links relative to DIR instead of absolute"),
        )
        .arg(
            Arg::new("dir")
                .value_name("DIR")
                .required(true)
                .value_parser(clap::value_parser!(OsString))
                .value_hint(clap::ValueHint::DirPath)
                .help("The directory to create the links in (it must exist)"),
        )
}

#[derive(Debug, Clone, Copy)]
struct Options {
    force: bool,
    dry_run: bool,
}

pub fn run(m: &ArgMatches, io: &mut Stdio) -> u8 {
    let dir = m
        .get_one::<OsString>("dir")
        .map(PathBuf::from)
        .unwrap_or_default();
    let opts = Options {
        force: m.get_flag("force"),
        dry_run: m.get_flag("dry-run"),
    };
    match install(&dir, m.get_flag("relative"), opts, io) {
        Ok(true) => 0,
        Ok(false) => EX_CANTCREAT,
        Err(message) => {
            io.err(&message);
            EX_CANTCREAT
        }
    }
}

/// `lockkit: <what>: <strerror>` and a newline.
fn error_line(what: &[u8], errno: Errno) -> Vec<u8> {
    let mut line = b"lockkit: ".to_vec();
    line.extend_from_slice(what);
    line.extend_from_slice(b": ");
    line.extend_from_slice(strerror(errno).as_bytes());
    line.push(b'\n');
    line
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}

fn same_file(a: &Stat, b: &Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// Every link, in turn. Ok(all in place); Err(message) when nothing could
/// be tried (DIR or the binary not found).
fn install(dir: &Path, relative: bool, opts: Options, io: &mut Stdio) -> Result<bool, Vec<u8>> {
    match rustix::fs::stat(dir) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
        Ok(_) => return Err(error_line(dir.as_os_str().as_bytes(), Errno::NOTDIR)),
        Err(Errno::NOENT) => {
            // A fresh account has no ~/.local/bin yet: say how to go on.
            let d = dir.as_os_str().as_bytes();
            let mut message = error_line(d, Errno::NOENT);
            message.extend_from_slice(&line(&[
                b"lockkit: create it first (mkdir -p ",
                d,
                b") and put it on PATH",
            ]));
            return Err(message);
        }
        Err(e) => return Err(error_line(dir.as_os_str().as_bytes(), e)),
    }
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| error_line(b"cannot find the running binary", io_errno(&e)))?;
    let exe_stat =
        rustix::fs::stat(&exe).map_err(|e| error_line(b"cannot find the running binary", e))?;
    let target = if relative {
        // Resolved from where the link really is, symlinked DIR or not.
        let real_dir = dir
            .canonicalize()
            .map_err(|e| error_line(dir.as_os_str().as_bytes(), io_errno(&e)))?;
        relative_path(&real_dir, &exe)
    } else {
        exe.clone()
    };
    let mut all_in_place = true;
    for name in link_names() {
        match install_one(dir, name, &target, &exe, &exe_stat, opts) {
            Ok((said, in_place)) => {
                io.out(&said);
                all_in_place &= in_place;
            }
            Err(message) => {
                io.err(&message);
                all_in_place = false;
            }
        }
    }
    Ok(all_in_place)
}

/// One link: the line saying what was done (stdout) and whether the link
/// is (or would be) in place; or the error message (stderr).
fn install_one(
    dir: &Path,
    name: &str,
    target: &Path,
    exe: &Path,
    exe_stat: &Stat,
    opts: Options,
) -> Result<(Vec<u8>, bool), Vec<u8>> {
    let dest = &dir.join(name);
    let d = dest.as_os_str().as_bytes();
    let t = target.as_os_str().as_bytes();
    // What was done, or with --dry-run what would be.
    let verb = |done: &'static [u8], would: &'static [u8]| if opts.dry_run { would } else { done };
    let found = match rustix::fs::lstat(dest) {
        Ok(st) => st,
        Err(Errno::NOENT) => {
            if opts.dry_run {
                return Ok((line(&[b"would create ", d, b" -> ", t]), true));
            }
            // symlink(2) fails if something appeared meanwhile.
            return match rustix::fs::symlink(target, dest) {
                Ok(()) => Ok((line(&[b"created ", d, b" -> ", t]), true)),
                Err(e) => Err(error_line(&[b"cannot create ", d].concat(), e)),
            };
        }
        Err(e) => return Err(error_line(d, e)),
    };
    let kind = FileType::from_raw_mode(found.st_mode);
    let link_text = || rustix::fs::readlink(dest, Vec::new()).unwrap_or_default();
    // Whatever leads to the running binary already does the job.
    if rustix::fs::stat(dest).is_ok_and(|st| same_file(&st, exe_stat)) {
        let why = if kind == FileType::Symlink {
            [b"already a link to ", link_text().as_bytes()].concat()
        } else {
            [b"already the same file as ", exe.as_os_str().as_bytes()].concat()
        };
        let kept = verb(b"kept ", b"would keep ");
        return Ok((line(&[kept, d, b" (", &why, b")"]), true));
    }
    let refused = verb(b"refused ", b"would refuse ");
    if kind == FileType::Directory {
        return Ok((line(&[refused, d, b": a directory is in the way"]), false));
    }
    if !opts.force {
        let what = if kind == FileType::Symlink {
            [b"a link to ", link_text().as_bytes()].concat()
        } else {
            b"a file".to_vec()
        };
        let why = b" is in the way (use --force to replace it)";
        return Ok((line(&[refused, d, b": ", &what, why]), false));
    }
    if opts.dry_run {
        return Ok((line(&[b"would replace ", d, b" -> ", t]), true));
    }
    match replace(dir, name, dest, target) {
        Ok(()) => Ok((line(&[b"replaced ", d, b" -> ", t]), true)),
        Err(e) => Err(error_line(&[b"cannot replace ", d].concat(), e)),
    }
}

/// Make the link under a fresh temporary name in `dir` (symlink(2) never
/// overwrites), then rename it over `dest`: the name always exists, and a
/// link at `dest` is replaced itself, not followed. rename(2) will not put a
/// non-directory in place of a directory, so none is ever removed.
fn replace(dir: &Path, name: &str, dest: &Path, target: &Path) -> Result<(), Errno> {
    let pid = std::process::id();
    let mut n = 0u32;
    let tmp = loop {
        let tmp = dir.join(format!(".{name}.install-links.{pid}.{n}"));
        match rustix::fs::symlink(target, &tmp) {
            Ok(()) => break tmp,
            Err(Errno::EXIST) if n < 100 => n += 1,
            Err(e) => return Err(e),
        }
    };
    rustix::fs::rename(&tmp, dest).inspect_err(|_| {
        let _ = rustix::fs::unlink(&tmp);
    })
}

fn line(parts: &[&[u8]]) -> Vec<u8> {
    let mut l = parts.concat();
    l.push(b'\n');
    l
}

/// The path from directory `from` to `to`, both absolute and canonical.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for c in &to[common..] {
        rel.push(c);
    }
    rel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let r = |a: &str, b: &str| relative_path(Path::new(a), Path::new(b));
        assert_eq!(r("/usr/bin", "/usr/bin/lockkit"), Path::new("lockkit"));
        assert_eq!(
            r("/home/u/.local/bin", "/home/u/.cargo/bin/lockkit"),
            Path::new("../../.cargo/bin/lockkit")
        );
        assert_eq!(r("/", "/lockkit"), Path::new("lockkit"));
        assert_eq!(r("/a/b", "/lockkit"), Path::new("../../lockkit"));
    }

    #[test]
    fn the_command_is_consistent() {
        command().debug_assert();
    }
}
