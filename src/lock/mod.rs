//! The lock core every tool is built on. It depends on nothing else in the
//! crate: the front ends (`src/flock/`, …) only parse their grammar, decide
//! what to do and word the outcome; everything that touches the kernel
//! lives here, and every raw C call is wrapped here.
//!
//! * [`fs`]: identity, the file system's clock, names next to a lock;
//! * [`file`]: opening a lock file by name (create, directory fallback, NFS
//!   reopen, no planted symlinks);
//! * [`fdlock`]: flock(2) and OFD byte-range locks on a descriptor, with a
//!   wait policy (block / don't / until a deadline);
//! * [`timer`]: the deadline that can interrupt a blocked lock call;
//! * [`lease`]: a lock on etcd (a lease and a key, etcd's lock recipe);
//! * [`kind`]: the seam every kind of lock implements (take, wait, hold,
//!   renew, lost), with the fd-lock kind;
//! * [`supervise`]: running the command while a lock is held (signals,
//!   renewals, loss, every process of the command);
//! * [`child`]: starting the command and its exit status;
//! * [`dotfile`]: lock files made by linking a temp file (naming, link,
//!   judging, breaking, the acquire loop);
//! * [`wait`]: waking a lock-file waiter on release (inotify, pidfd);
//! * [`relay`]: one inotify watch shared by the waiters of a lock;
//! * [`cleanup`]: removing temp files and locks when a signal kills us;
//! * [`noted`]: signals a waiter or supervisor notes and handles itself;
//! * [`slots`]: N-slot semaphores of byte-range locks;
//! * [`single_flight`]: one run of a command for the callers that arrive
//!   while it runs (a flock(2) and a record in the file);
//! * [`holders`]: who holds a lock and who waits (`/proc/locks`, fdinfo,
//!   lock files judged as dotlock judges them);
//! * [`watchdog`]: noticing that a held lock's name no longer names the
//!   locked file (removed, replaced, its directory renamed);
//! * [`user`]: passwd look-ups;
//! * [`sys`]: safe wrappers for raw calls needed elsewhere.

pub mod child;
pub mod cleanup;
pub mod dotfile;
pub mod fdlock;
pub mod file;
pub mod fs;
pub mod holders;
pub mod kind;
pub mod lease;
pub mod noted;
pub mod relay;
pub mod single_flight;
pub mod slots;
pub mod supervise;
pub mod sys;
pub mod timer;
pub mod user;
pub mod wait;
pub mod watchdog;
