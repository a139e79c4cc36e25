//! The `lockkit` suite command line (clap): no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lockkit_fuzz::checks::check_suite(&lockkit_fuzz::argv(data)));
