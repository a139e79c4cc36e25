//! Integration tests: the built binary, run through its multi-call names.
//! One test binary (like ripgrep's and just's) so it is built once.

mod util;

mod bad_input;
mod cluster;
mod degraded;
mod dotlock;
mod dotlock_diff;
mod faults;
mod flock;
mod flock_diff;
mod generated;
mod install;
mod lockfile;
mod lockfile_diff;
mod packaging;
mod parser_checks;
mod parsers_fuzz;
mod security;
mod single_flight;
mod slots;
mod status;
mod stress;
mod structure;
mod suite;
mod watchdog;
