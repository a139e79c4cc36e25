//! What the fuzz targets share: turning the fuzzer's bytes into an argv,
//! and the oracle (the `check_*` functions), which is the property tests'
//! own file, so both hold every parser to the same rules.

use std::ffi::OsString;

#[path = "../../tests/integration/parser_checks.rs"]
pub mod checks;
use std::os::unix::ffi::OsStringExt;

/// The arguments after `argv[0]`: `data` split at NUL bytes (which no real
/// argument can contain), so any bytes are a valid argv, empty arguments
/// and non-UTF-8 included. Empty input is an empty argv.
pub fn argv(data: &[u8]) -> Vec<OsString> {
    if data.is_empty() {
        return Vec::new();
    }
    data.split(|&b| b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect()
}
