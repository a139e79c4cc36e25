//! Entry point: pick the tool from the name the binary was invoked by.
//!
//! A link named after a tool (`flock`, `dotlock`/`dotlockfile`, `lockfile`)
//! runs that tool; any other name is the suite, `lockkit <tool> ...`.
//! Dispatch is by hand, as uutils does: clap's multicall mode would reject a
//! renamed binary.
//!
//! `no_main`: Rust's runtime would set SIGPIPE to "ignore" before `main`,
//! and the reference tools (and the commands they run) inherit whatever the
//! caller set. Taking the C `main` keeps the inherited disposition.

#![cfg_attr(not(test), no_main)]
// Unit tests get libtest's main, so the entry path goes unused there.
#![cfg_attr(test, allow(dead_code))]

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use lockkit::Prog;
use lockkit::suite::{find_tool, run_tool};

fn basename(path: &OsStr) -> &OsStr {
    let bytes = path.as_bytes();
    match bytes.iter().rposition(|&b| b == b'/') {
        Some(slash) => OsStr::from_bytes(&bytes[slash + 1..]),
        None => path,
    }
}

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // A panic is a bug. Unwinding runs the drop guards (temp files, locks
    // made) and ends in status 101, as from a Rust `main`; it must not
    // reach this C frame, where it would abort.
    let args = std::env::args_os().collect();
    std::panic::catch_unwind(|| dispatch(args)).map_or(101, libc::c_int::from)
}

fn dispatch(args: Vec<OsString>) -> u8 {
    let argv0 = args.first().cloned().unwrap_or_else(|| "lockkit".into());
    let invoked_as = basename(&argv0);
    if let Some(tool) = find_tool(invoked_as).filter(|t| t.linked) {
        let prog = Prog {
            name: invoked_as.to_owned(),
            argv0: argv0.clone(),
        };
        return run_tool(tool, &prog, &args[1..]);
    }
    let args = lockkit::suite::help_as_flag(args);
    if let Some(tool) = args.get(1).and_then(|a| find_tool(a)) {
        // `lockkit flock ...` is exactly `flock ...`.
        return run_tool(tool, &Prog::named(tool.name), &args[2..]);
    }
    lockkit::suite::run(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_found_by_basename_only() {
        assert!(find_tool(basename(OsStr::new("/usr/bin/flock"))).is_some());
        assert!(find_tool(basename(OsStr::new("flock"))).is_some());
        assert!(find_tool(basename(OsStr::new("dotlockfile"))).is_some());
        assert!(find_tool(basename(OsStr::new("/bin/lockkit"))).is_none());
        assert!(find_tool(basename(OsStr::new("flock.bak"))).is_none());
        assert!(find_tool(basename(OsStr::new("/flock/lockkit"))).is_none());
    }

    #[test]
    fn suite_definition_is_consistent() {
        lockkit::suite::command().debug_assert();
    }
}
