//! Regenerate the committed man pages and shell completions:
//! `cargo run --example generate -- .` (from the source tree).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(lockkit::generate::main(std::env::args_os().collect()))
}
