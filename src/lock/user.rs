//! Who we are in the passwd database (for the mail-spool lock names
//! `/var/mail/<login>.lock`).

use std::ffi::{CStr, CString};

/// A passwd entry's uid and login name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub name: Vec<u8>,
}

/// The entry of user id `uid`.
pub fn by_uid(uid: u32) -> Option<Account> {
    lookup(|pw, buf, result| {
        // SAFETY: valid out-pointers; getpwuid_r writes at most `buf.len()`
        // bytes into `buf`.
        unsafe { libc::getpwuid_r(uid, pw, buf.as_mut_ptr(), buf.len(), result) }
    })
}

/// The entry of login `name`.
pub fn by_name(name: &[u8]) -> Option<Account> {
    let name = CString::new(name).ok()?;
    lookup(|pw, buf, result| {
        // SAFETY: as in `by_uid`; `name` is NUL-terminated.
        unsafe { libc::getpwnam_r(name.as_ptr(), pw, buf.as_mut_ptr(), buf.len(), result) }
    })
}

/// The real user id.
pub fn real_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// The effective user id.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn lookup(
    call: impl FnOnce(&mut libc::passwd, &mut [libc::c_char], &mut *mut libc::passwd) -> libc::c_int,
) -> Option<Account> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data; all-zero is a valid value to be filled.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    if call(&mut pw, &mut buf, &mut result) != 0 || result.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: the call succeeded: pw_name points at a NUL-terminated string
    // in `buf`, which is still alive.
    let name = unsafe { CStr::from_ptr(pw.pw_name) }.to_bytes().to_vec();
    Some(Account {
        uid: pw.pw_uid,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_zero_both_ways() {
        let root = by_uid(0).expect("root in passwd");
        assert_eq!(root.name, b"root");
        assert_eq!(by_name(b"root").map(|a| a.uid), Some(0));
        assert_eq!(by_name(b"no such user, surely"), None);
        assert_eq!(by_name(b"nul\0inside"), None);
    }
}
