//! glibc-style getopt over a tricky table: no panic, it ends, and the
//! operands are what follows the options. The first byte picks plain getopt
//! or getopt_long, and whether the caller peeks at each argument first (as
//! flock does for `-c`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&mode, rest)) = data.split_first() {
        let args = lockkit_fuzz::argv(rest);
        lockkit_fuzz::checks::check_getopt(&args, mode & 1 != 0, mode & 2 != 0);
    }
});
