//! The shared locking primitives every tool is built on.
//!
//! The front ends (`src/flock/`, …) only parse their grammar and decide what
//! to do; everything that touches the kernel lives here, shaped for reuse:
//!
//! * [`file`]: opening a lock file by name (create, directory fallback, NFS
//!   reopen);
//! * [`fdlock`]: flock(2) and OFD byte-range locks on a descriptor, with a
//!   wait policy (block / don't / until a deadline);
//! * [`timer`]: the deadline that can interrupt a blocked lock call;
//! * [`child`]: running the command under the lock and its exit status;
//! * [`dotfile`]: lock files made by linking a temp file (validity, stale
//!   breaking, the event-driven acquire loop);
//! * [`wait`]: waking a lock-file waiter on release (inotify, pidfd);
//! * [`cleanup`]: removing temp files and locks when a signal kills us;
//! * [`noted`]: signals a waiter or supervisor notes and handles itself;
//! * [`sys`]: safe wrappers for raw calls needed elsewhere.

pub mod child;
pub mod cleanup;
pub mod dotfile;
pub mod fdlock;
pub mod file;
pub mod noted;
pub mod sys;
pub mod timer;
pub mod wait;
