//! dotlock's parser: no panic, deterministic, refusals are 1 or 5.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lockkit_fuzz::checks::check_dotlock(&lockkit_fuzz::argv(data)));
