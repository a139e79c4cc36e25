//! Sharing one inotify watch among the waiters of one lock.
//!
//! inotify instances are a per-user quota (`fs.inotify.max_user_instances`,
//! often 128): one per waiting process would let a queue of waiters take
//! them all, and the user's other programs (editors, `tail -f`) would fail.
//! So of the waiters of a lock, one — the *watcher* — holds the watch and
//! tells the others, its *followers*, when the lock name changes:
//!
//! * The watcher listens on an abstract unix socket whose name is derived
//!   from the effective uid, the device and inode of the lock's directory
//!   and the lock's name ([`socket_name`]). Abstract names leave no file
//!   behind and are freed by the kernel when their last descriptor closes,
//!   also when the process is killed.
//! * A waiter that finds the name bound connects as a follower and polls the
//!   connection: a byte means "the lock name changed, look again"; end of
//!   file means the watcher went away (it took the lock, gave up or died):
//!   the follower looks again and joins afresh, so one of them binds the
//!   name and becomes the next watcher.
//! * A watcher accepts followers while descriptors last (it keeps some for
//!   the lock work itself) and up to [`MAX_FOLLOWERS`]; then it closes its
//!   listener, which frees the name for the next watcher.
//!
//! Anyone may bind an abstract name. A listener of another uid is skipped
//! ([`SO_PEERCRED`](rustix::net::sockopt::socket_peercred)), connections of
//! another uid are refused, and a name that cannot be used after
//! [`MAX_INDEX`] tries makes the waiter watch on its own. A silent or lying
//! watcher of the same uid can only delay a follower: every waiter keeps
//! the reference tool's schedule of attempts as its backstop and give-up
//! clock, so safety never depends on the relay.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::sockopt::Timeout;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

/// What a lock's waiters share a watch for: its directory and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub uid: u32,
    pub dev: u64,
    pub ino: u64,
    pub name: Vec<u8>,
}

/// How many followers one watcher serves at most (its poll set grows with
/// them): beyond this, waiters elect another watcher.
pub const MAX_FOLLOWERS: usize = 1000;

/// Names tried before watching alone (names of other users, or bound but
/// never listening).
pub const MAX_INDEX: u32 = 8;

/// How long a waiter waits for a name that is bound but not yet listening
/// (a watcher between bind(2) and listen(2)) before trying the next one.
const SETUP_PATIENCE: Duration = Duration::from_secs(2);

/// FNV-1a, 64 bits: stable across builds, so that every lockkit version
/// derives the same name for a lock.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The abstract socket name (without the leading NUL) of `key`'s `index`th
/// watcher. The lock's name is hashed (it may be 255 bytes; an abstract
/// name is at most 107): a collision makes the waiters of two locks of one
/// directory share a watcher, which wakes both — a spurious look, no more.
pub fn socket_name(key: &Key, index: u32) -> Vec<u8> {
    format!(
        "lockkit/wait/{:x}/{:x}/{:x}/{:016x}/{index}",
        key.uid,
        key.dev,
        key.ino,
        fnv1a(&key.name)
    )
    .into_bytes()
}

/// A waiter's part in the relay.
#[derive(Debug)]
pub enum Role {
    /// Holds the watch and tells its followers.
    Watcher(Watcher),
    /// Told by a watcher, through this connection.
    Follower(OwnedFd),
    /// On its own: no relay could be had.
    Alone,
}

/// The watcher's side.
#[derive(Debug)]
pub struct Watcher {
    /// Closed once full (or on a listening error).
    pub listener: Option<OwnedFd>,
    pub followers: Vec<OwnedFd>,
}

/// A socket to bind or connect with. Blocking, so that a connect waits for
/// room in a busy watcher's backlog (a thousand waiters may come at once)
/// rather than failing and electing another watcher — but at most `patience`
/// (SO_SNDTIMEO bounds a unix connect), so a watcher that never accepts
/// cannot hold us. Followers only ever read, and do so with MSG_DONTWAIT.
fn socket(patience: Duration) -> Result<OwnedFd, Errno> {
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    rustix::net::sockopt::set_socket_timeout(&sock, Timeout::Send, Some(patience))?;
    Ok(sock)
}

/// Become `key`'s watcher or one of its followers. `spare` says whether a
/// new descriptor leaves enough for the lock work (else it is given back).
/// Names that make us wait (bound but not listening, a backlog never
/// accepted) share one [`SETUP_PATIENCE`], so squatters cannot delay the
/// wait's start by more.
pub fn join(key: &Key, spare: &dyn Fn(&OwnedFd) -> bool) -> Role {
    let end = Instant::now() + SETUP_PATIENCE;
    let mut pause = Duration::from_micros(100);
    for index in 0..MAX_INDEX {
        let Ok(addr) = SocketAddrUnix::new_abstract_name(&socket_name(key, index)) else {
            return Role::Alone;
        };
        let patience = end.saturating_duration_since(Instant::now());
        if patience.is_zero() {
            return Role::Alone;
        }
        let sock = match socket(patience) {
            Ok(s) if spare(&s) => s,
            _ => return Role::Alone,
        };
        loop {
            match rustix::net::bind(&sock, &addr) {
                Ok(()) => {
                    // The listener never blocks: accepted until EAGAIN.
                    let listening = rustix::io::ioctl_fionbio(&sock, true)
                        .and_then(|()| rustix::net::listen(&sock, MAX_FOLLOWERS as i32));
                    if listening.is_err() {
                        return Role::Alone;
                    }
                    return Role::Watcher(Watcher {
                        listener: Some(sock),
                        followers: Vec::new(),
                    });
                }
                Err(Errno::ADDRINUSE) => {}
                Err(_) => return Role::Alone,
            }
            // Bound by someone: follow, if it is one of ours.
            match rustix::net::connect(&sock, &addr) {
                Ok(()) if is_ours(&sock, key.uid) => return Role::Follower(sock),
                Ok(()) => break,
                Err(Errno::INTR) => {}
                // Bound but not listening: a watcher between bind(2) and
                // listen(2), or one that just left (then our next bind
                // takes the name). Patience, briefly, then the next name.
                Err(Errno::CONNREFUSED) if Instant::now() + pause < end => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                // Out of patience (EAGAIN: a backlog never accepted), or a
                // name of someone else's: the next name.
                Err(_) => break,
            }
        }
    }
    Role::Alone
}

/// Is the peer of `sock` a process of `uid`?
fn is_ours(sock: &OwnedFd, uid: u32) -> bool {
    rustix::net::sockopt::socket_peercred(sock).is_ok_and(|c| c.uid.as_raw() == uid)
}

impl Watcher {
    /// Accept the followers waiting to be accepted. Those of other users
    /// are closed at once; once the descriptors we may use (or
    /// [`MAX_FOLLOWERS`]) run out, the listener is closed.
    pub fn accept(&mut self, uid: u32, spare: &dyn Fn(&OwnedFd) -> bool) {
        while let Some(listener) = &self.listener {
            match rustix::net::accept_with(listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK) {
                Ok(conn) if !is_ours(&conn, uid) => drop(conn),
                Ok(conn) if spare(&conn) && self.followers.len() < MAX_FOLLOWERS => {
                    self.followers.push(conn);
                }
                Ok(conn) => {
                    // Full: this one and later comers elect another watcher.
                    drop(conn);
                    self.listener = None;
                }
                Err(Errno::INTR | Errno::CONNABORTED) => {}
                Err(Errno::AGAIN) => return,
                Err(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => {
                    self.listener = None;
                }
                Err(_) => self.listener = None,
            }
        }
    }

    /// Tell every follower the lock name changed — those still in the
    /// listener's backlog too, accepted first: they joined and looked
    /// before the change, so nothing else would tell them. (One whose
    /// connect comes after this accept looks again itself once joined.)
    pub fn tell_all(&mut self, uid: u32, spare: &dyn Fn(&OwnedFd) -> bool) {
        self.accept(uid, spare);
        self.tell();
    }

    /// Tell every accepted follower the lock name changed; forget those
    /// gone.
    pub fn tell(&mut self) {
        self.followers.retain(|conn| {
            // A full buffer (EAGAIN) already wakes the follower.
            !matches!(
                rustix::net::send(conn, b"!", SendFlags::NOSIGNAL | SendFlags::DONTWAIT),
                Err(e) if e != Errno::AGAIN && e != Errno::INTR
            )
        });
    }

    /// A follower's connection became readable: it left (or sent what a
    /// follower never sends). Forget it.
    pub fn drop_follower(&mut self, raw: i32) {
        self.followers.retain(|c| c.as_raw_fd() != raw);
    }
}

/// What a follower heard on its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// The lock name changed.
    Changed,
    /// The watcher is gone: join again.
    Gone,
    /// Nothing after all.
    Nothing,
}

/// Read what the watcher sent.
pub fn hear(conn: &OwnedFd) -> Heard {
    let mut buf = [0u8; 64];
    let mut heard = Heard::Nothing;
    loop {
        match rustix::net::recv(conn.as_fd(), &mut buf, RecvFlags::DONTWAIT) {
            Ok((_, 0)) => return Heard::Gone,
            Ok(_) => heard = Heard::Changed,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return heard,
            Err(_) => return Heard::Gone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &[u8]) -> Key {
        Key {
            uid: 1000,
            dev: 0x803,
            ino: 1_234_567,
            name: name.to_vec(),
        }
    }

    #[test]
    fn names_fit_an_abstract_address_and_tell_locks_apart() {
        let long = key(&[b'x'; 255]);
        let worst = Key {
            uid: u32::MAX,
            dev: u64::MAX,
            ino: u64::MAX,
            ..long
        };
        // sun_path is 108 bytes, one of them the leading NUL.
        assert!(socket_name(&worst, MAX_INDEX).len() <= 107);
        assert!(SocketAddrUnix::new_abstract_name(&socket_name(&worst, MAX_INDEX)).is_ok());
        let base = socket_name(&key(b"x.lock"), 0);
        let others = [
            socket_name(&key(b"y.lock"), 0),
            socket_name(&key(b"x.lock"), 1),
            socket_name(
                &Key {
                    uid: 0,
                    ..key(b"x.lock")
                },
                0,
            ),
            socket_name(
                &Key {
                    dev: 1,
                    ..key(b"x.lock")
                },
                0,
            ),
            socket_name(
                &Key {
                    ino: 1,
                    ..key(b"x.lock")
                },
                0,
            ),
        ];
        for other in others {
            assert_ne!(base, other);
        }
        assert_eq!(base, socket_name(&key(b"x.lock"), 0), "stable");
    }

    #[test]
    fn the_name_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors: the names must not change
        // between builds, or waiters of two versions would not meet.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn waiters_of_one_lock_elect_one_watcher() {
        let k = Key {
            uid: rustix::process::geteuid().as_raw(),
            dev: 1,
            ino: std::process::id().into(),
            name: b"unit.lock".to_vec(),
        };
        let spare = |_: &OwnedFd| true;
        let Role::Watcher(mut w) = join(&k, &spare) else {
            panic!("the first waiter watches");
        };
        let Role::Follower(f) = join(&k, &spare) else {
            panic!("the second follows");
        };
        w.accept(k.uid, &spare);
        assert_eq!(w.followers.len(), 1);
        assert_eq!(hear(&f), Heard::Nothing);
        w.tell();
        assert_eq!(hear(&f), Heard::Changed);
        drop(w);
        assert_eq!(hear(&f), Heard::Gone);
        assert!(matches!(join(&k, &spare), Role::Watcher(_)), "re-elected");
    }

    #[test]
    fn a_follower_still_in_the_backlog_is_told_too() {
        let k = Key {
            uid: rustix::process::geteuid().as_raw(),
            dev: 2,
            ino: std::process::id().into(),
            name: b"backlog.lock".to_vec(),
        };
        let spare = |_: &OwnedFd| true;
        let Role::Watcher(mut w) = join(&k, &spare) else {
            panic!("the first waiter watches");
        };
        // Connected, not yet accepted, when the lock name changes.
        let Role::Follower(f) = join(&k, &spare) else {
            panic!("the second follows");
        };
        w.tell_all(k.uid, &spare);
        assert_eq!(hear(&f), Heard::Changed);
    }
}
