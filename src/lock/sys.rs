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
}
