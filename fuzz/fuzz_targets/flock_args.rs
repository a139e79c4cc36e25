//! flock's parser: no panic, deterministic, refusals are 64 with a message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lockkit_fuzz::checks::check_flock(&lockkit_fuzz::argv(data)));
