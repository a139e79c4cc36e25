//! A lock on etcd: a lease, and a key created with it, ordered as etcd's
//! own lock recipe orders them (`etcdctl lock`, Go's `concurrency.Mutex`),
//! so that lockkit and those tools exclude each other on the same name.
//!
//! * The lease is granted first and kept alive (a thread renews it every
//!   TTL/3, sooner when the window before the loss deadline is shorter)
//!   while we wait and while we hold.
//! * Our key, `NAME/<lease id in hex>` (readers: `NAME/read/<id>`), is
//!   created with the lease if absent (a transaction); its create revision
//!   is our place in the queue and the fencing token.
//! * Exclusive: held when no key under `NAME/` was created before ours;
//!   otherwise we watch the last key created before ours for its deletion
//!   (one waiter wakes per release: no herd) and look again. Shared (etcd's
//!   RWMutex recipe): only earlier writers stand in the way — every key
//!   under `NAME/` but `NAME/read/`. Slots: held when fewer than N keys
//!   under `NAME/` were created before ours (watching the prefix for
//!   deletions); each holder claims the lowest free slot number in its
//!   key's value, which also carries N: a different N is refused.
//! * Lost: our key deleted (a watch on it), the lease gone (a keep-alive
//!   answers TTL 0, or refuses), or no renewal succeeded by (send time of
//!   the last good one + TTL − `guard`): etcd hands the lock on the moment
//!   the lease ends, so the holder's command must be stopped `guard`
//!   (its grace period plus a margin) before that can happen. The held
//!   lock's `lost` descriptor becomes readable, and the supervisor stops
//!   the command.

pub mod client;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use serde_json::{Value, json};

pub use client::{Client, Config, EtcdError};
use client::{b64, bytes, int, prefix_end};

use super::kind::{AcquireError, Held, Lock, Wait};

/// How the name is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exclusive,
    Shared,
    /// One of this many slots.
    Slots(u32),
}

/// Why a held (or queued) lease lock was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Our key was deleted.
    KeyDeleted,
    /// etcd says the lease is gone (revoked, or expired).
    LeaseGone,
    /// No renewal succeeded in time: etcd may let the lease expire.
    NoRenewal,
}

impl Why {
    pub fn text(self) -> &'static str {
        match self {
            Why::KeyDeleted => "its key was deleted",
            Why::LeaseGone => "its lease was revoked or expired",
            Why::NoRenewal => "etcd did not renew its lease in time",
        }
    }
}

/// Why the lock was not taken, beyond a conflict or a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseError {
    Busy,
    TimedOut,
    Etcd(EtcdError),
    /// Lost while waiting in the queue.
    Lost(Why),
    /// Slots: another user of the name gives another N (None: not a
    /// semaphore, e.g. `etcdctl lock`).
    SlotsConflict {
        key: Vec<u8>,
        theirs: Option<u64>,
    },
    /// A pipe or thread could not be made.
    Sys(Errno),
    /// A stop signal came while waiting (the lease is revoked: the tool
    /// dies of it).
    Interrupted(libc::c_int),
}

impl From<EtcdError> for LeaseError {
    fn from(e: EtcdError) -> Self {
        LeaseError::Etcd(e)
    }
}

/// Time kept back from the lease's TTL besides the grace period: what
/// stopping the command and the clocks' drift may take.
pub const MARGIN: Duration = Duration::from_secs(1);

/// The stack of the keep-alive and watch threads: an HTTP call (and a TLS
/// handshake) needs more than a few pages, far less than std's 2 MiB; only
/// the pages touched count in memory.
const THREAD_STACK: usize = 512 * 1024;

/// A lock on `name` in etcd, ready to be taken.
#[derive(Debug)]
pub struct Lease {
    client: Client,
    name: Vec<u8>,
    mode: Mode,
    ttl: Duration,
    /// The grace period: the holder's command is stopped this long (plus
    /// [`MARGIN`]) before the lease could expire.
    grace: Duration,
}

/// What the keep-alive and watch threads share with the lock.
#[derive(Debug)]
struct Shared {
    why: Mutex<Option<Why>>,
    /// While waiting: where the loss is told too.
    wake: Mutex<Option<Sender<Event>>>,
    stop: AtomicBool,
    lost_w: OwnedFd,
}

impl Shared {
    fn lose(&self, why: Why) {
        if self.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut w = self.why.lock().unwrap_or_else(|p| p.into_inner());
        if w.is_none() {
            *w = Some(why);
            let _ = rustix::io::write(&self.lost_w, b"x");
            if let Some(tx) = self.wake.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                let _ = tx.send(Event::Lost(why));
            }
        }
    }

    fn why(&self) -> Option<Why> {
        *self.why.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug, Clone, Copy)]
enum Event {
    /// Our turn came: the lock is ours as of this revision.
    Turn(i64),
    /// Look at the queue again (and watch anew).
    Look,
    Lost(Why),
    /// A stop signal was noted.
    Signal,
}

/// Signals that end a wait: the lease is revoked first, so that no waiting
/// key holds up the queue until its TTL runs out.
const ENDS_A_WAIT: &[libc::c_int] = &[libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Tell `tx` when a noted signal arrives (one message; the thread then
/// ends, leaving the signal to be taken).
fn on_signal(noted: &super::noted::Noted, tx: Sender<Event>) -> Result<(), LeaseError> {
    let Some(fd) = noted.wake_fd_owned() else {
        return Ok(());
    };
    std::thread::Builder::new()
        .name("signals".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            while let Err(Errno::INTR) = rustix::event::poll(&mut fds, None) {}
            let _ = tx.send(Event::Signal);
        })
        .map(drop)
        .map_err(|_| LeaseError::Sys(Errno::AGAIN))
}

/// The lease: its id, and the threads keeping it.
#[derive(Debug)]
struct Session {
    client: Client,
    id: i64,
    shared: Arc<Shared>,
    lost_r: OwnedFd,
}

impl Session {
    fn grant(client: &Client, ttl: Duration, guard: Duration) -> Result<Session, LeaseError> {
        let sent = Instant::now();
        let v = client.call("/v3/lease/grant", &json!({"TTL": ttl.as_secs().max(1)}))?;
        let id = int(&v, "ID");
        // etcd may grant more than asked (its minimum TTL), never less.
        let granted = Duration::from_secs(int(&v, "TTL").max(0) as u64);
        if id == 0 || granted.is_zero() {
            return Err(EtcdError::Protocol(format!("lease grant: {v}")).into());
        }
        let (lost_r, lost_w) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(LeaseError::Sys)?;
        let shared = Arc::new(Shared {
            why: Mutex::new(None),
            wake: Mutex::new(None),
            stop: AtomicBool::new(false),
            lost_w,
        });
        let session = Session {
            client: client.clone(),
            id,
            shared: shared.clone(),
            lost_r,
        };
        let c = client.clone();
        std::thread::Builder::new()
            .name("keepalive".into())
            .stack_size(THREAD_STACK)
            .spawn(move || keep_alive(&c, id, granted, guard, sent, &shared))
            .map_err(|_| LeaseError::Sys(Errno::AGAIN))?;
        Ok(session)
    }

    /// Revoke the lease (its keys go with it), best effort and briefly.
    fn revoke(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.client.call_within(
            "/v3/lease/revoke",
            &json!({"ID": self.id.to_string()}),
            Some(Duration::from_secs(2)),
        );
    }
}

/// gRPC's NOT_FOUND: etcd's "requested lease not found".
const NOT_FOUND: i64 = 5;

/// Renew the lease until told to stop, or until it is lost.
fn keep_alive(
    client: &Client,
    id: i64,
    ttl: Duration,
    guard: Duration,
    mut last_good: Instant,
    shared: &Shared,
) {
    let window = ttl.saturating_sub(guard);
    let every = (ttl / 3).min(window / 2).max(Duration::from_millis(100));
    let retry = (window / 8).clamp(Duration::from_millis(50), Duration::from_millis(500));
    let mut next = last_good + every;
    loop {
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let deadline = last_good + window;
        let sent = Instant::now();
        let left = deadline.saturating_duration_since(sent);
        if left.is_zero() {
            shared.lose(Why::NoRenewal);
            return;
        }
        match client.call_within(
            "/v3/lease/keepalive",
            &json!({"ID": id.to_string()}),
            Some(left),
        ) {
            Ok(v) if int(&v, "TTL") > 0 => {
                last_good = sent;
                next = sent + every;
            }
            // A missing TTL is 0: the lease is gone; so is an unknown lease.
            Ok(_)
            | Err(EtcdError::Refused {
                code: NOT_FOUND, ..
            }) => {
                shared.lose(Why::LeaseGone);
                return;
            }
            // Anything else (no leader during an election, a member going
            // away, a timeout) is not a loss: try again until the deadline.
            Err(_) => next = (Instant::now() + retry).min(deadline),
        }
    }
}

/// What a watch saw.
#[derive(Debug, Clone, Copy)]
enum Seen<'a> {
    /// A key in the range was deleted at revision `rev`; `create` is its
    /// create revision (0 if etcd could not say).
    Deleted {
        key: &'a [u8],
        create: i64,
        rev: i64,
    },
    /// Events were compacted away before they could be seen.
    Compacted,
}

/// Watch the deletions of `key` (or, with `range_end`, of a range) from
/// revision `from`, calling `seen` for each in revision order (etcd orders
/// one watch's events), until it returns false or `stop` is set. A broken
/// stream is resumed (through the other endpoints) after the last revision
/// seen, so no deletion is missed but a compacted one.
fn watch_deletions(
    client: Client,
    key: Vec<u8>,
    range_end: Option<Vec<u8>>,
    mut from: i64,
    prev_kv: bool,
    stop: Arc<AtomicBool>,
    mut seen: impl FnMut(Seen<'_>) -> bool + Send + 'static,
) -> Result<(), LeaseError> {
    let run = move || {
        let mut pause = Duration::from_millis(20);
        while !stop.load(Ordering::SeqCst) {
            let mut req = json!({"key": b64(&key), "start_revision": from.to_string(),
                "filters": ["NOPUT"], "prev_kv": prev_kv});
            if let Some(end) = &range_end {
                req["range_end"] = json!(b64(end));
            }
            if let Ok(mut lines) = client.watch(&json!({"create_request": req})) {
                while let Some(Ok(r)) = lines.next_object() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    pause = Duration::from_millis(20);
                    let rev = r.get("header").map_or(0, |h| int(h, "revision"));
                    for ev in r
                        .get("events")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let Some(kv) = ev.get("kv") else { continue };
                        let at = int(kv, "mod_revision");
                        from = from.max(at + 1);
                        let create = ev.get("prev_kv").map_or(0, |p| int(p, "create_revision"));
                        let key = bytes(kv, "key");
                        if !seen(Seen::Deleted {
                            key: &key,
                            create,
                            rev: at,
                        }) {
                            return;
                        }
                    }
                    from = from.max(rev + 1);
                    let compacted = int(&r, "compact_revision");
                    if compacted > 0 {
                        from = from.max(compacted);
                        if !seen(Seen::Compacted) {
                            return;
                        }
                        break;
                    }
                    if r.get("canceled").and_then(Value::as_bool) == Some(true) {
                        break;
                    }
                }
            }
            if stop.load(Ordering::SeqCst) {
                return;
            }
            // The stream broke (a member went away): try again, backing off.
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    };
    std::thread::Builder::new()
        .name("watch".into())
        .stack_size(THREAD_STACK)
        .spawn(run)
        .map(drop)
        .map_err(|_| LeaseError::Sys(Errno::AGAIN))
}

/// Watch the queue from revision `from` until our `turn` comes (None: it
/// has), then our key for as long as the lock is held. A deletion of our
/// key is a loss, seen in order with the rest, so a turn is never taken
/// after our key went. Tells the waiter through `tx`; ends when the waiter
/// is to look again (it watches anew) or the lock is lost.
fn watch_queue(
    client: &Client,
    turn: Option<Turn>,
    (prefix, ours, create): (&[u8], Vec<u8>, i64),
    from: i64,
    shared: Arc<Shared>,
    tx: Sender<Event>,
) -> Result<Watching, LeaseError> {
    let stop = Arc::new(AtomicBool::new(false));
    let (key, range_end) = match &turn {
        Some(t) => t.watched(prefix, &ours),
        None => (ours.clone(), None),
    };
    // Slots count the keys before ours: a deletion must say when its key
    // was created.
    let prev_kv = matches!(turn, Some(Turn::Fewer { .. }));
    let c = client.clone();
    let mut turn = turn;
    watch_deletions(
        client.clone(),
        key,
        range_end,
        from,
        prev_kv,
        stop.clone(),
        move |seen| {
            let rev = match seen {
                Seen::Deleted { rev, .. } => rev,
                Seen::Compacted => 0,
            };
            let step = match seen {
                Seen::Deleted { key, .. } if key == ours.as_slice() => {
                    shared.lose(Why::KeyDeleted);
                    return false;
                }
                Seen::Deleted { key, create: c, .. } => match &mut turn {
                    Some(t) => t.deleted(key, c, create),
                    None => Step::Wait,
                },
                Seen::Compacted => {
                    if let Ok(false) = exists(&c, &ours, None) {
                        shared.lose(Why::KeyDeleted);
                        return false;
                    }
                    if turn.is_none() {
                        return true;
                    }
                    Step::LookAgain
                }
            };
            match step {
                Step::Wait => true,
                Step::Ours => {
                    turn = None;
                    let _ = tx.send(Event::Turn(rev));
                    true
                }
                Step::LookAgain => {
                    let _ = tx.send(Event::Look);
                    false
                }
            }
        },
    )?;
    Ok(Watching(stop))
}

fn exists(client: &Client, key: &[u8], range_end: Option<&[u8]>) -> Result<bool, EtcdError> {
    let mut req = json!({"key": b64(key), "count_only": true});
    if let Some(end) = range_end {
        req["range_end"] = json!(b64(end));
    }
    Ok(int(&client.call("/v3/kv/range", &req)?, "count") > 0)
}

/// A key in a range answer.
#[derive(Debug, Clone)]
struct Kv {
    key: Vec<u8>,
    value: Vec<u8>,
    create: i64,
    modified: i64,
}

fn kvs(v: &Value) -> Vec<Kv> {
    v.get("kvs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|kv| Kv {
                    key: bytes(kv, "key"),
                    value: bytes(kv, "value"),
                    create: int(kv, "create_revision"),
                    modified: int(kv, "mod_revision"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The host name, as `uname -n` gives it.
fn host() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The lock, taken.
struct Taken {
    key: Vec<u8>,
    create: i64,
    /// The revision at which it was found ours.
    rev: i64,
    slot: Option<u32>,
    watch: Watching,
}

/// What stands between a waiter and the lock, as of revision `rev`.
struct Look {
    rev: i64,
    /// None: the lock is ours.
    turn: Option<Turn>,
}

/// When a waiter's turn comes.
enum Turn {
    /// When `key`, the last key before ours, is deleted: ours if it was
    /// the only one (`alone`), else look again. Watched: the keys from it
    /// to ours, one stream, so that our own key's deletion is seen in
    /// order with it. Other waiters' keys in between are seen and ignored;
    /// only one waiter looks again at each release (no herd).
    Gone { key: Vec<u8>, alone: bool },
    /// Slots: when fewer than `n` of the keys created before ours are
    /// left; `before` are there. Watched: the whole name.
    Fewer { before: usize, n: usize },
}

/// What a deletion means to a waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Wait,
    /// The lock is ours.
    Ours,
    /// Look at the queue again.
    LookAgain,
}

impl Turn {
    /// `key`, created at revision `create` (0: unknown), was deleted; ours
    /// was created at `ours`.
    fn deleted(&mut self, key: &[u8], create: i64, ours: i64) -> Step {
        match self {
            Turn::Gone { key: last, alone } if last.as_slice() == key => {
                // Nothing created before ours can be created after it: if
                // the last one was alone, none is left.
                if *alone { Step::Ours } else { Step::LookAgain }
            }
            Turn::Gone { .. } => Step::Wait,
            Turn::Fewer { .. } if create == 0 => Step::LookAgain,
            Turn::Fewer { before, n } if create < ours => {
                *before = before.saturating_sub(1);
                if *before < *n { Step::Ours } else { Step::Wait }
            }
            Turn::Fewer { .. } => Step::Wait,
        }
    }

    /// The key (or range) to watch.
    fn watched(&self, prefix: &[u8], ours: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            Turn::Gone { key, .. } => {
                let (low, high) = if key.as_slice() < ours {
                    (key.as_slice(), ours)
                } else {
                    (ours, key.as_slice())
                };
                let mut end = high.to_vec();
                end.push(0);
                (low.to_vec(), Some(end))
            }
            Turn::Fewer { .. } => (prefix.to_vec(), Some(prefix_end(prefix))),
        }
    }
}

/// A running watch, told to stop when this is dropped (it ends at its next
/// event).
#[derive(Debug)]
struct Watching(Arc<AtomicBool>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Lease {
    pub fn new(client: Client, name: &[u8], mode: Mode, ttl: Duration, grace: Duration) -> Lease {
        Lease {
            client,
            name: name.to_vec(),
            mode,
            ttl,
            grace,
        }
    }

    fn prefix(&self) -> Vec<u8> {
        let mut p = self.name.clone();
        p.push(b'/');
        p
    }

    /// What the key's value says about its holder (for `lockkit status`).
    fn value(&self, slot: Option<u32>) -> Value {
        let mut v = json!({"tool": "lockkit", "host": host(), "pid": std::process::id(),
            "since": unix_now()});
        match self.mode {
            Mode::Shared => v["mode"] = json!("shared"),
            Mode::Slots(n) => {
                v["slots"] = json!(n);
                if let Some(s) = slot {
                    v["slot"] = json!(s);
                }
            }
            Mode::Exclusive => {}
        }
        v
    }

    /// Take the lock: grant a lease, queue, wait as `wait` says. A conflict,
    /// a timeout or an error revokes the lease (no key is left behind).
    pub fn take(&mut self, wait: Wait) -> Result<HeldLease, LeaseError> {
        let guard = self.grace + MARGIN;
        let session = Session::grant(&self.client, self.ttl, guard)?;
        match self.queue_and_wait(&session, wait) {
            Ok(Taken {
                key,
                create,
                rev,
                slot,
                watch,
            }) => {
                *session
                    .shared
                    .wake
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = None;
                Ok(HeldLease {
                    key,
                    create,
                    revision: rev,
                    slot,
                    session,
                    watch,
                })
            }
            Err(e) => {
                session.revoke();
                Err(e)
            }
        }
    }

    /// Create our key, then wait for our turn.
    fn queue_and_wait(&self, session: &Session, wait: Wait) -> Result<Taken, LeaseError> {
        let prefix = self.prefix();
        let mut key = prefix.clone();
        if self.mode == Mode::Shared {
            key.extend_from_slice(b"read/");
        }
        key.extend_from_slice(format!("{:x}", session.id).as_bytes());
        let (tx, rx) = channel();
        *session
            .shared
            .wake
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(tx.clone());
        let noted = (wait != Wait::Now).then(|| super::noted::Noted::install(ENDS_A_WAIT));
        if let Some(n) = &noted {
            on_signal(n, tx.clone())?;
        }
        if let Some(why) = session.shared.why() {
            return Err(LeaseError::Lost(why));
        }

        let value = self.value(None).to_string();
        let k = b64(&key);
        let txn = json!({
            "compare": [{"target": "CREATE", "key": k, "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": k, "value": b64(value.as_bytes()),
                "lease": session.id.to_string()}}],
            "failure": [{"request_range": {"key": k}}],
        });
        let v = self.client.call("/v3/kv/txn", &txn)?;
        let mut rev = v.get("header").map_or(0, |h| int(h, "revision"));
        let create = if v.get("succeeded").and_then(Value::as_bool) == Some(true) {
            rev
        } else {
            // Ours already (a retried request that had gone through).
            let r = v
                .pointer("/responses/0/response_range")
                .map(kvs)
                .unwrap_or_default();
            r.first().map_or(0, |kv| kv.create)
        };
        if create == 0 {
            return Err(EtcdError::Protocol(format!("no create revision: {v}")).into());
        }
        if let Mode::Slots(n) = self.mode {
            self.check_slots(&prefix, create, n)?;
        }

        let watch = loop {
            let look = self.look(&prefix, &key, create)?;
            rev = rev.max(look.rev);
            if look.turn.is_some() && wait == Wait::Now {
                return Err(LeaseError::Busy);
            }
            let held_now = look.turn.is_none();
            // Once the turn is ours, the same watch goes on watching our
            // key: nothing new to start when time matters.
            let watch = watch_queue(
                &self.client,
                look.turn,
                (&prefix, key.clone(), create),
                look.rev + 1,
                session.shared.clone(),
                tx.clone(),
            )?;
            if held_now {
                break watch;
            }
            match recv(&rx, wait) {
                Some(Event::Turn(at)) => {
                    rev = rev.max(at);
                    break watch;
                }
                Some(Event::Look) => {}
                Some(Event::Lost(why)) => return Err(LeaseError::Lost(why)),
                Some(Event::Signal) => {
                    let sig = noted.as_ref().and_then(|n| n.take().into_iter().next());
                    return Err(LeaseError::Interrupted(sig.unwrap_or(libc::SIGTERM)));
                }
                None => return Err(LeaseError::TimedOut),
            }
        };
        let slot = match self.mode {
            Mode::Slots(n) => Some(self.claim_slot(&prefix, &key, session, n)?),
            _ => None,
        };
        Ok(Taken {
            key,
            create,
            rev,
            slot,
            watch,
        })
    }

    /// What stands between our key and the lock: one transaction of reads
    /// (one round trip, one revision), which also says whether our key is
    /// still there. Nothing created before ours can be created later, so
    /// what it finds before ours can only shrink.
    fn look(&self, prefix: &[u8], key: &[u8], create: i64) -> Result<Look, LeaseError> {
        let end = prefix_end(prefix);
        let before = |from: &[u8], to: &[u8], limit: Option<u32>| {
            let mut r = json!({"key": b64(from), "range_end": b64(to), "sort_order": "DESCEND",
                "sort_target": "CREATE", "keys_only": true,
                "max_create_revision": (create - 1).to_string()});
            if let Some(l) = limit {
                r["limit"] = json!(l.to_string());
            }
            json!({ "request_range": r })
        };
        let mut readers = prefix.to_vec();
        readers.extend_from_slice(b"read/");
        let mut reads = vec![json!({"request_range": {"key": b64(key), "keys_only": true}})];
        match self.mode {
            // The last two: whether the last one is alone.
            Mode::Exclusive => reads.push(before(prefix, &end, Some(2))),
            // Writers: every key under the prefix but the readers'.
            Mode::Shared => {
                reads.push(before(prefix, &readers, Some(2)));
                reads.push(before(&prefix_end(&readers), &end, Some(2)));
            }
            // All of them: fewer than n means one of the first n is ours.
            // (A range's count ignores its revision filters: list.)
            Mode::Slots(_) => reads.push(before(prefix, &end, None)),
        }
        let v = self.client.call("/v3/kv/txn", &json!({"success": reads}))?;
        let rev = v.get("header").map_or(0, |h| int(h, "revision"));
        let ranges: Vec<Vec<Kv>> = v
            .get("responses")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .map(|x| x.get("response_range").map(kvs).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        if ranges.first().is_none_or(Vec::is_empty) {
            return Err(LeaseError::Lost(Why::KeyDeleted));
        }
        let mut found: Vec<&Kv> = ranges[1..].iter().flatten().collect();
        found.sort_by_key(|kv| std::cmp::Reverse(kv.create));
        let turn = match self.mode {
            Mode::Exclusive | Mode::Shared => found.first().map(|last| Turn::Gone {
                key: last.key.clone(),
                alone: found.len() == 1,
            }),
            Mode::Slots(n) => (found.len() >= n as usize).then_some(Turn::Fewer {
                before: found.len(),
                n: n as usize,
            }),
        };
        Ok(Look { rev, turn })
    }

    /// Every key of the name created before ours must be a semaphore with
    /// the same number of slots.
    fn check_slots(&self, prefix: &[u8], create: i64, n: u32) -> Result<(), LeaseError> {
        let v = self.client.call(
            "/v3/kv/range",
            &json!({"key": b64(prefix), "range_end": b64(&prefix_end(prefix)),
                "max_create_revision": (create - 1).to_string()}),
        )?;
        for kv in kvs(&v) {
            let theirs = serde_json::from_slice::<Value>(&kv.value)
                .ok()
                .and_then(|j| j.get("slots").and_then(Value::as_u64));
            if theirs != Some(u64::from(n)) {
                return Err(LeaseError::SlotsConflict {
                    key: kv.key,
                    theirs,
                });
            }
        }
        Ok(())
    }

    /// Claim the lowest slot number no other holder has, in our key's
    /// value: a transaction that holds only if no other holder's key
    /// changed since we looked (two claiming at once: one retries).
    fn claim_slot(
        &self,
        prefix: &[u8],
        key: &[u8],
        session: &Session,
        n: u32,
    ) -> Result<u32, LeaseError> {
        loop {
            let v = self.client.call(
                "/v3/kv/range",
                &json!({"key": b64(prefix), "range_end": b64(&prefix_end(prefix)),
                    "sort_order": "ASCEND", "sort_target": "CREATE", "limit": n.to_string()}),
            )?;
            let others: Vec<Kv> = kvs(&v).into_iter().filter(|kv| kv.key != key).collect();
            let taken: Vec<u64> = others
                .iter()
                .filter_map(|kv| serde_json::from_slice::<Value>(&kv.value).ok())
                .filter_map(|j| j.get("slot").and_then(Value::as_u64))
                .collect();
            let slot = (0..n)
                .find(|s| !taken.contains(&u64::from(*s)))
                .unwrap_or(0);
            let compare: Vec<Value> = others
                .iter()
                .map(|kv| {
                    json!({"target": "MOD", "key": b64(&kv.key), "result": "EQUAL",
                        "mod_revision": kv.modified.to_string()})
                })
                .collect();
            let value = self.value(Some(slot)).to_string();
            let r = self.client.call(
                "/v3/kv/txn",
                &json!({"compare": compare, "success": [{"request_put": {"key": b64(key),
                    "value": b64(value.as_bytes()), "lease": session.id.to_string()}}]}),
            )?;
            if r.get("succeeded").and_then(Value::as_bool) == Some(true) {
                return Ok(slot);
            }
        }
    }
}

/// Wait for an event as `wait` allows (None: the deadline passed).
fn recv(rx: &Receiver<Event>, wait: Wait) -> Option<Event> {
    match wait {
        Wait::Forever => rx.recv().ok(),
        Wait::Now => rx.try_recv().ok(),
        Wait::Until(at) => rx
            .recv_timeout(at.saturating_duration_since(Instant::now()))
            .ok(),
    }
}

impl Lock for Lease {
    type Held = HeldLease;

    fn acquire(&mut self, wait: Wait) -> Result<HeldLease, AcquireError> {
        self.take(wait).map_err(|e| match e {
            LeaseError::Busy => AcquireError::Busy,
            LeaseError::TimedOut => AcquireError::TimedOut,
            LeaseError::Sys(e) => AcquireError::Sys(e),
            LeaseError::Etcd(EtcdError::Unreachable(_)) => AcquireError::Sys(Errno::HOSTUNREACH),
            _ => AcquireError::Sys(Errno::IO),
        })
    }
}

/// A lock held on etcd: our key, kept while the lease lives.
#[derive(Debug)]
pub struct HeldLease {
    key: Vec<u8>,
    create: i64,
    revision: i64,
    slot: Option<u32>,
    session: Session,
    /// The watch on our key (stopped with the lock).
    watch: Watching,
}

/// Why a held lease was lost, readable after the loss from anywhere.
#[derive(Debug, Clone)]
pub struct LossReason(Arc<Shared>);

impl LossReason {
    pub fn why(&self) -> Option<Why> {
        self.0.why()
    }
}

impl HeldLease {
    /// Our key (`ETCD_LOCK_KEY`).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The key's create revision: increasing per name, the fencing token.
    pub fn fencing_token(&self) -> i64 {
        self.create
    }

    /// The revision at which the lock was found ours (`ETCD_LOCK_REV`).
    pub fn revision(&self) -> i64 {
        self.revision
    }

    pub fn slot(&self) -> Option<u32> {
        self.slot
    }

    pub fn lease_id(&self) -> i64 {
        self.session.id
    }

    pub fn loss_reason(&self) -> LossReason {
        LossReason(self.session.shared.clone())
    }
}

impl Held for HeldLease {
    /// Revoke the lease: its key goes with it (never another's: the key was
    /// created with our lease), and the next waiter's watch fires at once.
    fn release(self) -> Result<(), Errno> {
        self.watch.0.store(true, Ordering::SeqCst);
        self.session.revoke();
        Ok(())
    }

    fn lost(&self) -> Option<BorrowedFd<'_>> {
        Some(self.session.lost_r.as_fd())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// Ask for a password on the controlling terminal, without echo: None if
/// there is no terminal (or it cannot be read).
pub fn prompt_password(prompt: &str) -> Option<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let tty = rustix::fs::open(
        "/dev/tty",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    let saved = tcgetattr(&tty).ok()?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    let _ = rustix::io::write(&tty, prompt.as_bytes());
    tcsetattr(&tty, OptionalActions::Flush, &quiet).ok()?;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    let read = loop {
        match rustix::io::read(&tty, &mut b) {
            Ok(1) if b[0] != b'\n' => line.push(b[0]),
            Ok(_) => break true,
            Err(Errno::INTR) => {}
            Err(_) => break false,
        }
    };
    let _ = tcsetattr(&tty, OptionalActions::Flush, &saved);
    read.then(|| String::from_utf8_lossy(&line).into_owned())
}

/// One key of a name's queue, as `lockkit status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub create_revision: i64,
    pub lease: i64,
    /// It holds the lock (else it waits).
    pub holds: bool,
    /// What lockkit wrote in the value (None: another tool's key, e.g.
    /// etcdctl's, whose value is empty).
    pub host: Option<String>,
    pub pid: Option<u64>,
    /// Unix time at which it queued.
    pub since: Option<u64>,
    pub shared: bool,
    pub slot: Option<u64>,
}

/// Every key of `name`, in queue order, with who holds and who waits (by
/// the same rules the waiters apply).
pub fn queue(client: &Client, name: &[u8]) -> Result<Vec<Entry>, EtcdError> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    let v = client.call(
        "/v3/kv/range",
        &json!({"key": b64(&prefix), "range_end": b64(&prefix_end(&prefix)),
            "sort_order": "ASCEND", "sort_target": "CREATE"}),
    )?;
    let mut readers = prefix.clone();
    readers.extend_from_slice(b"read/");
    let raw = v
        .get("kvs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut writer_before = false;
    for (i, kv) in raw.iter().enumerate() {
        let key = bytes(kv, "key");
        let value: Value = serde_json::from_slice(&bytes(kv, "value")).unwrap_or(Value::Null);
        let shared = key.starts_with(&readers);
        let slots = value.get("slots").and_then(Value::as_u64);
        let holds = match (shared, slots) {
            (true, _) => !writer_before,
            (false, Some(n)) => (i as u64) < n,
            (false, None) => i == 0,
        };
        writer_before |= !shared;
        out.push(Entry {
            key,
            create_revision: int(kv, "create_revision"),
            lease: int(kv, "lease"),
            holds,
            host: value.get("host").and_then(Value::as_str).map(str::to_owned),
            pid: value.get("pid").and_then(Value::as_u64),
            since: value.get("since").and_then(Value::as_u64),
            shared,
            slot: value.get("slot").and_then(Value::as_u64),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_key_before_ours_alone_gives_the_turn_at_its_deletion() {
        let mut t = Turn::Gone {
            key: b"job/a".to_vec(),
            alone: true,
        };
        assert_eq!(t.deleted(b"job/c", 7, 9), Step::Wait);
        assert_eq!(t.deleted(b"job/a", 0, 9), Step::Ours);
        let mut t = Turn::Gone {
            key: b"job/a".to_vec(),
            alone: false,
        };
        assert_eq!(t.deleted(b"job/a", 5, 9), Step::LookAgain);
    }

    #[test]
    fn slots_count_down_the_keys_created_before_ours() {
        let mut t = Turn::Fewer { before: 3, n: 2 };
        // Created after ours, or ours: no nearer.
        assert_eq!(t.deleted(b"s/x", 12, 10), Step::Wait);
        assert_eq!(t.deleted(b"s/y", 4, 10), Step::Wait);
        assert_eq!(t.deleted(b"s/z", 5, 10), Step::Ours);
        // A deletion that does not say when its key was created.
        let mut t = Turn::Fewer { before: 3, n: 2 };
        assert_eq!(t.deleted(b"s/z", 0, 10), Step::LookAgain);
    }

    #[test]
    fn a_waiter_watches_from_the_last_key_to_its_own() {
        let t = Turn::Gone {
            key: b"job/b".to_vec(),
            alone: true,
        };
        assert_eq!(
            t.watched(b"job/", b"job/a"),
            (b"job/a".to_vec(), Some(b"job/b\0".to_vec()))
        );
        assert_eq!(
            t.watched(b"job/", b"job/c"),
            (b"job/b".to_vec(), Some(b"job/c\0".to_vec()))
        );
        let t = Turn::Fewer { before: 2, n: 1 };
        assert_eq!(
            t.watched(b"job/", b"job/c"),
            (b"job/".to_vec(), Some(b"job0".to_vec()))
        );
    }
}
