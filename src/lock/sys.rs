//! Safe wrappers for the few raw calls the rest of the crate needs and
//! rustix offers only as `unsafe`.

use std::os::fd::{IntoRawFd, OwnedFd};

use rustix::io::Errno;

/// `close(2)` that reports its error. Dropping an `OwnedFd` ignores it, but
/// a file system may report a failed write only there (NFS, FUSE flush).
/// The descriptor is gone either way.
pub fn close(fd: OwnedFd) -> Result<(), Errno> {
    // SAFETY: the descriptor is owned, so nothing else closes or uses it;
    // ownership ends here whatever close returns.
    unsafe { rustix::io::try_close(fd.into_raw_fd()) }
}

/// A moment in the local time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1–12.
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// `secs` since the epoch in the local time zone (`localtime_r(3)`, which
/// reads TZ).
pub fn local_time(secs: libc::time_t) -> Option<LocalTime> {
    // SAFETY: tm is plain data; all-zero is a valid value to be filled.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the
    // thread-safe variant and writes only into `tm`.
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return None;
    }
    Some(LocalTime {
        year: tm.tm_year.checked_add(1900)?,
        month: u32::try_from(tm.tm_mon + 1).ok()?,
        day: u32::try_from(tm.tm_mday).ok()?,
        hour: u32::try_from(tm.tm_hour).ok()?,
        minute: u32::try_from(tm.tm_min).ok()?,
        second: u32::try_from(tm.tm_sec).ok()?,
    })
}

/// Keep every thread's allocations in the main malloc arena. glibc gives
/// each new thread that allocates an arena of its own (64 MiB reserved, a
/// few dozen KiB touched); a process whose threads mostly sleep gains
/// nothing from them but memory.
pub fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a tunable of glibc's allocator; M_ARENA_MAX
    // takes effect for arenas created after the call.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reports_success_and_takes_the_descriptor() {
        let (r, w) = rustix::pipe::pipe().expect("pipe");
        assert_eq!(close(w), Ok(()));
        // The write end is closed: the read end sees end of file.
        let mut buf = [0u8; 1];
        assert_eq!(rustix::io::read(&r, &mut buf), Ok(0));
    }

    #[test]
    fn local_time_is_a_calendar_date() {
        let t = local_time(86_400 * 365).expect("local time");
        assert!(t.year == 1970 || t.year == 1971, "{t:?}");
        assert!((1..=12).contains(&t.month) && (1..=31).contains(&t.day) && t.hour < 24);
    }
}
