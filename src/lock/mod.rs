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
//! * [`kind`]: the seam every kind of lock implements (take, wait, hold,
//!   renew, lost), with the fd-lock kind;
//! * [`held_file`]: a held lock file;
//! * [`supervise`]: running the command while a lock is held (signals,
//!   renewals, loss, every process of the command);
//! * [`child`]: starting the command and its exit status;
//! * [`dotfile`]: lock files made by linking a temp file (validity, stale
//!   breaking, the event-driven acquire loop);
//! * [`wait`]: waking a lock-file waiter on release (inotify, pidfd);
//! * [`cleanup`]: removing temp files and locks when a signal kills us;
//! * [`noted`]: signals a waiter or supervisor notes and handles itself.

pub mod child;
pub mod cleanup;
pub mod dotfile;
pub mod fdlock;
pub mod file;
pub mod held_file;
pub mod kind;
pub mod noted;
pub mod supervise;
pub mod timer;
pub mod wait;
