//! `flock --who`: on a conflict or timeout, one line naming who holds what
//! stood in the way.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::lock::fdlock::{Api, Mode};
use crate::lock::fs::FsTime;
use crate::lock::holders::{self, Access, Kind};

use super::{Processes, escape, lock_words, time_words, unknown_words};

/// `<prog>: held by pid 1234 (backup.sh), exclusive flock since 21:03:05`
/// (holders that conflict with the request on descriptor `fd`, `; `
/// between them), without the newline.
pub fn line(prog: &OsStr, fd: i32, mode: Mode, api: Api) -> Vec<u8> {
    let mut out = prog.as_bytes().to_vec();
    out.extend_from_slice(b": ");
    // The descriptor's own file, whichever form named it.
    let st = match rustix::fs::stat(format!("/proc/self/fd/{fd}")) {
        Ok(st) => st,
        Err(e) => {
            out.extend_from_slice(b"cannot tell who holds the lock: ");
            out.extend_from_slice(crate::error::strerror(e).as_bytes());
            return out;
        }
    };
    let listing = match holders::read_proc_locks() {
        Ok(l) => l,
        Err(e) => {
            out.extend_from_slice(b"cannot tell who holds the lock: /proc/locks: ");
            out.extend_from_slice(crate::error::strerror(e).as_bytes());
            return out;
        }
    };
    let me = std::process::id() as i32;
    let (start, end) = match api {
        Api::Flock => (0, None),
        Api::Ofd { start, len: 0 } => (start, None),
        Api::Ofd { start, len } => (start, start.checked_add(len - 1)),
    };
    let conflicting = holders::holders(&listing, &holders::Target::of(&st))
        .into_iter()
        .filter(|h| !h.entry.blocked && h.entry.pid != me)
        .filter(|h| mode != Mode::Shared || h.entry.access != Access::Shared)
        .filter(|h| match api {
            Api::Flock => h.entry.kind == Kind::Flock,
            Api::Ofd { .. } => {
                matches!(h.entry.kind, Kind::Ofd | Kind::Posix) && h.entry.overlaps(start, end)
            }
        });
    let now = FsTime::local_now();
    let mut ps = Processes::default();
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for h in conflicting {
        let what = lock_words(&h.entry);
        if h.pids.is_empty() {
            parts.push(format!("{}, {what}", unknown_words(&h)).into_bytes());
        }
        for &pid in &h.pids {
            let mut p = format!("pid {pid}").into_bytes();
            if let Some(proc) = ps.get(pid) {
                p.extend_from_slice(b" (");
                p.extend_from_slice(&escape(&proc.command));
                p.push(b')');
            }
            p.extend_from_slice(b", ");
            p.extend_from_slice(what.as_bytes());
            if let Some(t) = ps.get(pid).and_then(|p| p.started) {
                p.extend_from_slice(b" since ");
                p.extend_from_slice(time_words(t, now, true).as_bytes());
            }
            parts.push(p);
        }
    }
    if parts.is_empty() {
        out.extend_from_slice(b"no holder found (the lock was let go meanwhile)");
    } else {
        out.extend_from_slice(b"held by ");
        out.extend_from_slice(&parts.join(&b"; "[..]));
    }
    out
}
