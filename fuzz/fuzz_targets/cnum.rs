//! The C-like number parsers: the integer ones agree with glibc's strtol
//! and each other; none panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lockkit_fuzz::checks::check_numbers(data));
