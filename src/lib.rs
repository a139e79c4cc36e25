//! lockkit: locking for shell scripts. One multi-call binary whose tools are
//! drop-in replacements for util-linux flock(1), liblockfile's
//! dotlockfile(1) and procmail's lockfile(1).
//!
//! * [`lock`]: the shared primitives (fd locks, lock files, waiting, running
//!   the command);
//! * [`flock`]: the front end of each tool (grammar, messages, exit codes);
//! * [`error`], [`stdio`], [`getopt`], [`cnum`]: what every front end needs
//!   to behave byte for byte like the C tools;
//! * [`opts`]: the type of each tool's option table, from which its parser,
//!   `--help` and (through [`docs`]) man page and completions are made.

use std::ffi::OsString;

pub mod cluster;
pub mod cnum;
pub mod docs;
pub mod dotlock;
pub mod error;
pub mod flock;
pub mod generate;
pub mod getopt;
pub mod install;
pub mod lock;
pub mod lockfile;
pub mod opts;
pub mod status;
pub mod stdio;
pub mod suite;

/// How the running tool names itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prog {
    /// The short name that prefixes the tool's own messages (`flock`).
    pub name: OsString,
    /// `argv[0]` exactly as invoked, which glibc's getopt messages print.
    pub argv0: OsString,
}

impl Prog {
    /// A tool invoked by its bare name (`lockkit flock …`, or found on PATH).
    pub fn named(name: &str) -> Prog {
        Prog {
            name: name.into(),
            argv0: name.into(),
        }
    }
}
