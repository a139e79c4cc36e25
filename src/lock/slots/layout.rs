//! Where an N-slot semaphore keeps its state, so that any program that
//! takes open-file-description byte-range locks (fcntl `F_OFD_SETLK[W]`)
//! can join it or read it. Everything is a lock on a byte range of the one
//! file the user names; the file's *content* holds only the ticket counter.
//! Byte-range locks need no bytes: the offsets below are far past the end of
//! the file, which stays 8 bytes long.
//!
//! | locked range                  | kind      | held by                                        |
//! |-------------------------------|-----------|------------------------------------------------|
//! | `SLOT_BASE + i` (1 byte)      | exclusive | the holder of slot `i` (0 ≤ i < N)             |
//! | `SLOT_BASE .. SLOT_BASE + N`  | exclusive | a holder of every slot at once (`-x`)          |
//! | `AGREE_BASE + N` (1 byte)     | shared    | every waiter and holder that says N slots      |
//! | `COUNTER_LOCK` (1 byte)       | exclusive | whoever reads and bumps the ticket counter     |
//! | `QUEUE_BASE + t` (1 byte)     | exclusive | the waiter with ticket `t`, until it is served |
//!
//! Content: bytes 0..8 of the file are the next ticket, a little-endian
//! u64, read and written only under `COUNTER_LOCK`. An empty file is
//! ticket 0.
//!
//! The kernel drops every one of these locks when the last descriptor of
//! the open file description closes: a holder or waiter that dies (SIGKILL
//! included) frees its slot and leaves the queue.

/// The first slot's byte.
pub const SLOT_BASE: u64 = 0;
/// The most slots a semaphore may have.
pub const MAX_SLOTS: u64 = 1 << 16;
/// A participant that says N slots holds `AGREE_BASE + N` shared.
pub const AGREE_BASE: u64 = 1 << 40;
/// Serialises the ticket counter.
pub const COUNTER_LOCK: u64 = 1 << 41;
/// Ticket `t`'s queue byte is `QUEUE_BASE + t`.
pub const QUEUE_BASE: u64 = 1 << 42;
/// Tickets are below this: the queue is `QUEUE_BASE..QUEUE_BASE + TICKETS`.
pub const TICKETS: u64 = 1 << 60;
