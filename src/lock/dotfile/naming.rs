//! The temp-file names each tool's lock files are made from. Both schemes
//! put the file next to the lock (a link cannot cross file systems) and
//! embed the pid and host, so that no two processes on one machine — or
//! two NFS clients — pick the same name.

use std::path::{Path, PathBuf};

use super::super::fs::sibling;

/// Which tool's temp names (and lock contents) a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// liblockfile: `.lk` + pid + clock digit + short host name.
    Liblockfile,
    /// procmail: `_` + base-64 pid, serial, time + `.` + host.
    Procmail,
}

/// The clock digit of liblockfile's temp name: `time(NULL) & 15`.
pub fn clock_digit() -> u64 {
    unix_seconds() & 15
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// liblockfile's temp name for process `pid` with clock digit `digit`:
/// `.lk` + pid (at least 5 digits) + one hex digit + the short host name,
/// cut to 31 bytes, in the lock's directory.
pub fn liblockfile_temp_name_for(lock: &Path, pid: u32, digit: u64) -> PathBuf {
    sibling(
        lock,
        &liblockfile_name(pid, digit, host().nodename().to_bytes()),
    )
}

fn liblockfile_name(pid: u32, digit: u64, host: &[u8]) -> Vec<u8> {
    let short = host.split(|&b| b == b'.').next().unwrap_or_default();
    let mut name = format!(".lk{pid:05}{:x}", digit & 15).into_bytes();
    name.extend_from_slice(short);
    name.truncate(31);
    name
}

/// procmail's temp name for process `pid`'s `serial`th try at unix time
/// `now`: `_` + pid + serial + time (base-64 digits, low bits first) + `.` +
/// host (with `/`, `:` and `\` escaped), at most 29 bytes, in the lock's
/// directory.
pub fn procmail_temp_name_for(lock: &Path, pid: u32, serial: usize, now: u64) -> PathBuf {
    sibling(
        lock,
        &procmail_name(pid, serial, now, host().nodename().to_bytes()),
    )
}

/// [`procmail_temp_name_for`] this process, now.
pub fn procmail_temp_name(lock: &Path, serial: usize) -> PathBuf {
    procmail_temp_name_for(lock, std::process::id(), serial, unix_seconds())
}

fn procmail_name(pid: u32, serial: usize, now: u64, host: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    fn b64(mut v: u64, out: &mut Vec<u8>) {
        loop {
            out.push(DIGITS[(v & 63) as usize]);
            v >>= 6;
            if v == 0 {
                break;
            }
        }
    }
    let mut name = b"_".to_vec();
    b64(u64::from(pid), &mut name);
    name.push(b".,+%"[serial % 4]);
    b64(now + (serial / 4) as u64, &mut name);
    name.push(b'.');
    for &c in host {
        if matches!(c, b'/' | b':' | b'\\') {
            name.extend_from_slice(format!("\\{c:03o}").as_bytes());
        } else {
            name.push(c);
        }
    }
    name.truncate(29);
    name
}

fn host() -> rustix::system::Uname {
    rustix::system::uname()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liblockfile_names() {
        assert_eq!(
            liblockfile_name(42, 0x1b, b"box.example.org"),
            b".lk00042bbox"
        );
        assert_eq!(liblockfile_name(1234567, 3, b"h"), b".lk12345673h");
        let long = liblockfile_name(7, 1, &[b'x'; 64]);
        assert_eq!(long.len(), 31);
        assert!(long.starts_with(b".lk000071x"));
    }

    #[test]
    fn procmail_names() {
        // pid 65 = "BB" (1, 1: low digit first), serial 0 → '.', time 0 → "A".
        assert_eq!(procmail_name(65, 0, 0, b"h"), b"_BB.A.h");
        // Serials cycle through four separators and then add to the time.
        assert_eq!(procmail_name(0, 5, 0, b"h"), b"_A,B.h");
        assert_eq!(procmail_name(0, 0, 0, b"a/b:c"), b"_A.A.a\\057b\\072c");
        assert_eq!(procmail_name(0, 0, 0, &[b'x'; 64]).len(), 29);
    }

    #[test]
    fn names_sit_next_to_the_lock() {
        let t = liblockfile_temp_name_for(Path::new("/var/lock/x.lock"), 1, 2);
        assert!(t.starts_with("/var/lock"));
        let bare = procmail_temp_name_for(Path::new("x.lock"), 1, 0, 0);
        assert!(bare.to_string_lossy().starts_with('_'));
    }
}
