//! Write the man pages (`DIR/man/*.1`) and the shell completions
//! (`DIR/completions/…`) that [`crate::docs`] makes.
//!
//! They are committed; `cargo run --example generate -- .` rewrites them,
//! and a test fails when the committed files differ from what the code
//! generates. The generator is a developer's tool, so it runs as an example
//! and nothing of it is linked into the installed binary.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgMatches};
use rustix::io::Errno;

use crate::error::strerror;
use crate::error::sysexits::EX_CANTCREAT;
use crate::stdio::Stdio;

pub const NAME: &str = "generate";

pub fn command() -> clap::Command {
    clap::Command::new(NAME)
        .about("Write the man pages and shell completions into DIR/man and DIR/completions")
        .arg(
            Arg::new("dir")
                .value_name("DIR")
                .required(true)
                .value_parser(clap::value_parser!(OsString))
                .value_hint(clap::ValueHint::DirPath)
                .help("The directory to write man/ and completions/ in (the source tree: .)"),
        )
}

/// `generate DIR`, as the example runs it.
pub fn main(args: Vec<OsString>) -> u8 {
    let mut io = Stdio::new();
    let code = match command().try_get_matches_from(args) {
        Ok(m) => run(&m, &mut io),
        Err(e) => {
            let _ = e.print();
            e.exit_code() as u8
        }
    };
    io.finish(std::ffi::OsStr::new(NAME), code)
}

fn run(m: &ArgMatches, io: &mut Stdio) -> u8 {
    let dir = m
        .get_one::<OsString>("dir")
        .map(PathBuf::from)
        .unwrap_or_default();
    match write_all(&dir) {
        Ok(()) => 0,
        Err(message) => {
            io.err(&message);
            EX_CANTCREAT
        }
    }
}

/// Write every file, creating `man/` and `completions/` as needed; the
/// error is the message line to print.
pub fn write_all(dir: &Path) -> Result<(), Vec<u8>> {
    for (rel, contents) in crate::docs::files() {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| error_line(parent, &e))?;
        }
        std::fs::write(&path, contents).map_err(|e| error_line(&path, &e))?;
    }
    Ok(())
}

/// `lockkit: <path>: <strerror>` and a newline.
fn error_line(path: &Path, e: &std::io::Error) -> Vec<u8> {
    let errno = Errno::from_io_error(e).unwrap_or(Errno::IO);
    let mut line = b"lockkit: ".to_vec();
    line.extend_from_slice(path.as_os_str().as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(strerror(errno).as_bytes());
    line.push(b'\n');
    line
}
