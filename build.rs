//! Link the unwinder statically where the C toolchain has it.
//!
//! Rust's std on `*-linux-gnu` needs `_Unwind_*`, which it takes from the
//! shared libgcc_s: one more library for the dynamic loader to find, map and
//! relocate at every start. For a tool that cron and shell loops start
//! thousands of times, that is measurable (about 20 000 instructions and six
//! system calls per run; see docs/benchmarks.md). `libgcc_eh.a` is the same
//! unwinder as an archive: linked first, it satisfies those symbols and the
//! linker's `--as-needed` drops libgcc_s. Where the archive is not found (a
//! non-gcc toolchain, cross builds), nothing changes.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if !target.ends_with("-linux-gnu") || target != host {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let Ok(out) = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    // gcc prints the bare name back when it has no such file.
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !path.is_absolute() || !path.is_file() {
        return;
    }
    if let Some(dir) = path.parent() {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=static=gcc_eh");
    }
}
