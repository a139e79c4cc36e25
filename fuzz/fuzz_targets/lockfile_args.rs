//! procmail's grammar (lockfile's tokenizer): well-formed items, and the
//! undo pass over the prefix ends.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lockkit_fuzz::checks::check_lockfile(&lockkit_fuzz::argv(data)));
