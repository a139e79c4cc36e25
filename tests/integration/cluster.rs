//! `lockkit cluster`: a lock in a real etcd, started by the test (see
//! util.rs's `Etcd`), next to `etcdctl lock`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::*;

const LIMIT: Duration = Duration::from_secs(60);

/// `lockkit cluster --endpoints … args…`.
fn cluster(etcd: &Etcd, s: &Scratch, args: &[&str]) -> Command {
    let mut cmd = Command::new(lockkit_bin());
    cmd.arg0("lockkit")
        .arg("cluster")
        .arg(format!("--endpoints={}", etcd.endpoints()))
        .args(args)
        .current_dir(s.dir())
        .env("LC_ALL", "C")
        .env_remove("ETCDCTL_ENDPOINTS")
        .process_group(0);
    cmd
}

use std::os::unix::process::CommandExt;

/// Start `cmd` (whose command prints a line once it runs under the lock)
/// and return once that line came: the child and the line.
fn start_holding(mut cmd: Command) -> (Child, String) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn lockkit cluster");
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout");
    BufReader::new(out)
        .read_line(&mut line)
        .expect("read the holder's line");
    assert!(
        !line.is_empty(),
        "the holder ended before it held the lock: {}",
        stderr_of(&mut child)
    );
    (child, line.trim_end().to_owned())
}

/// A holder whose command says `ready` and then waits for its stdin to end.
fn holder(etcd: &Etcd, s: &Scratch, extra: &[&str], name: &str) -> (Child, String) {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend([
        name,
        "sh",
        "-c",
        "echo \"ready $LOCKKIT_SLOT\"; exec cat >/dev/null",
    ]);
    start_holding(cluster(etcd, s, &args))
}

/// `lockkit cluster ARGS` (its output dropped), returned once NAME's
/// queue holds `keys` keys: its own among them.
fn queued(etcd: &Etcd, s: &Scratch, args: &[&str], name: &str, keys: usize) -> Child {
    let w = cluster(etcd, s, args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("waiter");
    let prefix = format!("{name}/");
    watch_until(w.id(), LIMIT, "the waiter queues", || {
        etcd.keys(&prefix).len() == keys
    });
    w
}

fn finish(mut child: Child) -> (i32, String) {
    drop(child.stdin.take());
    let st = wait_bounded(&mut child, LIMIT, "lockkit cluster");
    (code_of(st), stderr_of(&mut child))
}

fn setup() -> Option<(Scratch, Etcd)> {
    if !etcd_or_skip() {
        return None;
    }
    let s = Scratch::new();
    let etcd = Etcd::start(&s);
    Some((s, etcd))
}

#[test]
fn exclusion_with_etcdctl_lock_workers_exact_counter() {
    let Some((s, etcd)) = setup() else { return };
    s.write("count", "0\n");
    let bump = "n=$(cat count); echo $((n+1)) > count.new; mv count.new count";
    let rounds = 8;
    let mut workers = Vec::new();
    for _ in 0..2 {
        let ours = cluster(&etcd, &s, &["counter", "sh", "-c", bump]);
        let mut theirs = etcd.etcdctl_cmd(&["lock", "counter", "--", "sh", "-c", bump]);
        theirs.current_dir(s.dir());
        for mut cmd in [ours, theirs] {
            workers.push(std::thread::spawn(move || {
                for _ in 0..rounds {
                    let st = cmd.stdout(Stdio::null()).status().expect("worker");
                    assert!(st.success(), "a worker failed: {st:?}");
                }
            }));
        }
    }
    for w in workers {
        w.join().expect("worker thread");
    }
    assert_eq!(s.read("count").trim(), (4 * rounds).to_string());
}

#[test]
fn nonblock_and_timeout_leave_no_waiting_key() {
    let Some((s, etcd)) = setup() else { return };
    let (h, _) = holder(&etcd, &s, &[], "job");
    let held = etcd.keys("job/");
    assert_eq!(held.len(), 1, "{held:?}");
    let out = cluster(&etcd, &s, &["-n", "job", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 1);
    assert!(out.stderr.is_empty());
    let out = cluster(&etcd, &s, &["-n", "-E", "7", "--verbose", "job", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 7);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "lockkit cluster: failed to get lock\n"
    );
    let out = cluster(&etcd, &s, &["-w", "0.3", "--verbose", "job", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("timeout"));
    assert_eq!(etcd.keys("job/"), held, "a waiter's key was left behind");
    let (code, err) = finish(h);
    assert_eq!((code, err.as_str()), (0, ""));
    // Released: the key went with the revoked lease.
    assert!(etcd.keys("job/").is_empty());
    let out = cluster(&etcd, &s, &["-n", "job", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 0);
}

#[test]
fn etcdctl_lock_and_lockkit_exclude_each_other() {
    let Some((s, etcd)) = setup() else { return };
    // etcdctl holds: lockkit -n is refused.
    // (etcdctl passes no stdin to its command: it sleeps until killed.)
    let mut theirs = etcd.etcdctl_cmd(&[
        "lock",
        "--ttl",
        "2",
        "mixed",
        "--",
        "sh",
        "-c",
        "echo held; exec sleep 600",
    ]);
    theirs.current_dir(s.dir()).process_group(0);
    let (mut t, _) = start_holding(theirs);
    let out = cluster(&etcd, &s, &["-n", "mixed", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 1);
    kill_group(&mut t);
    // Its lease lingers until its TTL: lockkit waits for it.
    let out = cluster(&etcd, &s, &["mixed", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 0);
    // lockkit holds: etcdctl waits (its own --timeout is not a lock
    // timeout, so look at the queue instead: a second key, not first).
    let (h, _) = holder(&etcd, &s, &[], "mixed");
    let mut waiting = etcd.etcdctl_cmd(&["lock", "mixed", "--", "true"]);
    waiting
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut w = waiting.spawn().expect("etcdctl lock");
    let pid = w.id();
    watch_until(pid, LIMIT, "etcdctl queues", || {
        etcd.keys("mixed/").len() == 2
    });
    assert!(
        wait_within(&mut w, Duration::ZERO).is_none(),
        "etcdctl took a held lock"
    );
    drop(finish(h));
    assert!(wait_bounded(&mut w, LIMIT, "etcdctl lock").success());
}

#[test]
fn the_command_gets_the_key_revision_and_fencing_token() {
    let Some((s, etcd)) = setup() else { return };
    let show = "echo \"$ETCD_LOCK_KEY $ETCD_LOCK_REV $LOCKKIT_FENCING_TOKEN ${LOCKKIT_SLOT-none}\"";
    let run = || {
        let out = cluster(&etcd, &s, &["env", "sh", "-c", show])
            .output()
            .expect("run");
        assert!(out.status.success());
        let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let f: Vec<String> = line.split(' ').map(str::to_owned).collect();
        assert_eq!(f.len(), 4, "{line}");
        f
    };
    let a = run();
    let b = run();
    assert!(a[0].starts_with("env/") && a[0].len() > 4, "{a:?}");
    assert_eq!(a[3], "none");
    let token = |f: &[String]| f[2].parse::<i64>().expect("a number");
    let rev = |f: &[String]| f[1].parse::<i64>().expect("a number");
    assert!(token(&b) > token(&a), "{a:?} then {b:?}");
    assert!(rev(&a) >= token(&a));
}

#[test]
fn slots_hold_n_at_once_with_distinct_slot_numbers() {
    let Some((s, etcd)) = setup() else { return };
    let (a, la) = holder(&etcd, &s, &["--slots", "2"], "pool");
    let (b, lb) = holder(&etcd, &s, &["--slots", "2"], "pool");
    let mut slots = vec![la, lb];
    slots.sort();
    assert_eq!(slots, ["ready 0", "ready 1"]);
    let out = cluster(&etcd, &s, &["--slots", "2", "-n", "pool", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 1);
    // Another number of slots on the same name is refused.
    let out = cluster(&etcd, &s, &["--slots", "3", "-n", "pool", "true"])
        .output()
        .expect("run");
    assert_eq!(
        code_of(out.status),
        65,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--slots 2"));
    drop(finish(a));
    let (c, lc) = holder(&etcd, &s, &["--slots", "2"], "pool");
    assert!(lc.starts_with("ready "), "{lc}");
    drop(finish(b));
    drop(finish(c));
}

#[test]
fn readers_share_and_writers_exclude() {
    let Some((s, etcd)) = setup() else { return };
    let (r1, _) = holder(&etcd, &s, &["-s"], "rw");
    let (r2, _) = holder(&etcd, &s, &["-s"], "rw");
    let out = cluster(&etcd, &s, &["-x", "-n", "rw", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 1);
    let out = cluster(&etcd, &s, &["-n", "rw", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 1);
    drop(finish(r1));
    drop(finish(r2));
    let (w, _) = holder(&etcd, &s, &["-x"], "rw");
    let out = cluster(&etcd, &s, &["-s", "-n", "rw", "true"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 1);
    drop(finish(w));
}

/// A holder whose command runs until stopped; its pid.
fn long_holder(etcd: &Etcd, s: &Scratch, extra: &[&str], script: &str) -> (Child, u32) {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["victim", "sh", "-c", script]);
    let (child, line) = start_holding(cluster(etcd, s, &args));
    let pid = line.parse().expect("the command's pid");
    (child, pid)
}

#[test]
fn a_deleted_key_stops_the_command_with_79() {
    let Some((s, etcd)) = setup() else { return };
    let (mut h, pid) = long_holder(&etcd, &s, &[], "echo $$; exec sleep 600");
    let out = etcd.etcdctl(&["del", "--prefix", "victim/"]);
    assert!(out.status.success());
    let st = wait_bounded(&mut h, LIMIT, "lockkit cluster after the delete");
    assert_eq!(code_of(st), 79);
    assert_eq!(
        stderr_of(&mut h),
        "lockkit cluster: lock victim lost (its key was deleted): stopping the command\n"
    );
    assert!(ended(pid));
}

#[test]
fn a_command_deaf_to_term_is_killed_after_the_grace_period() {
    let Some((s, etcd)) = setup() else { return };
    let (mut h, pid) = long_holder(
        &etcd,
        &s,
        &["--grace", "0.2"],
        "trap '' TERM; echo $$; while :; do sleep 1; done",
    );
    etcd.etcdctl(&["del", "--prefix", "victim/"]);
    let st = wait_bounded(&mut h, LIMIT, "lockkit cluster");
    assert_eq!(code_of(st), 79);
    assert!(ended(pid));
}

#[test]
fn a_frozen_or_dead_etcd_stops_the_command() {
    let Some((s, mut etcd)) = setup() else { return };
    for kill in [false, true] {
        let (mut h, pid) = long_holder(
            &etcd,
            &s,
            &["--ttl", "3", "--grace", "1"],
            "echo $$; exec sleep 600",
        );
        let member = etcd.members[0].pid();
        if kill {
            etcd.members[0].kill();
        } else {
            send_signal(member, libc::SIGSTOP);
        }
        let st = wait_bounded(&mut h, LIMIT, "lockkit cluster, etcd gone");
        assert_eq!(code_of(st), 79);
        assert!(
            stderr_of(&mut h).contains("did not renew its lease in time"),
            "kill={kill}"
        );
        assert!(ended(pid));
        if !kill {
            send_signal(member, libc::SIGCONT);
            // The lease outlived the command (stopped TTL - grace - margin
            // after the last renewal): still there, or expiring now.
            etcd.wait_ready();
        }
    }
}

#[test]
fn a_killed_lockkit_takes_its_command_with_it() {
    let Some((s, etcd)) = setup() else { return };
    let (mut h, pid) = long_holder(&etcd, &s, &[], "echo $$; exec sleep 600");
    send_signal(h.id(), libc::SIGKILL);
    let _ = h.wait();
    watch_until(pid, LIMIT, "the command dies with lockkit", || ended(pid));
}

#[test]
fn unreachable_etcd_is_81_and_names_the_endpoints() {
    let s = Scratch::new();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(lockkit_bin())
        .args(["cluster", "--endpoints", &dead, "job", "true"])
        .current_dir(s.dir())
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 81);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&dead) && err.starts_with("lockkit cluster: cannot reach etcd"),
        "{err}"
    );
}

#[test]
fn a_dead_endpoint_among_several_is_skipped_and_names_are_looked_up() {
    let Some((s, etcd)) = setup() else { return };
    let dead = format!("http://127.0.0.1:{}", free_port());
    for endpoints in [
        format!("{dead},{}", etcd.endpoints()),
        etcd.endpoints().replace("127.0.0.1", "localhost"),
    ] {
        let out = Command::new(lockkit_bin())
            .args(["cluster", "--endpoints", &endpoints, "job", "true"])
            .current_dir(s.dir())
            .output()
            .expect("run");
        assert_eq!(
            code_of(out.status),
            0,
            "{endpoints}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_command_starts_as_the_tool_was_started() {
    // The command is started so that it dies with lockkit (a death signal
    // set in the child), which posix_spawn cannot do: check that it still
    // starts as under flock — PATH searched, a script without `#!` run by
    // /bin/sh, what cannot be executed named, and the caller's signal mask
    // and ignored signals inherited.
    let Some((s, etcd)) = setup() else { return };
    let out = cluster(&etcd, &s, &["job", "no-such-command-here"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 69);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "lockkit cluster: failed to execute no-such-command-here: No such file or directory\n"
    );
    s.write("plain", "echo \"ran $1\"\n");
    let script = s.path("plain");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = cluster(&etcd, &s, &["job", "./plain", "it"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran it\n");
    let show = "while read -r k v; do case $k in SigIgn:|SigBlk:) echo $k $v;; esac; done \
                </proc/self/status";
    let mut cmd = cluster(&etcd, &s, &["job", "sh", "-c", show]);
    // SAFETY: only async-signal-safe calls, on sets of our own.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            crate::util::block_sigalrm()
        });
    }
    let out = cmd.output().expect("run");
    assert_eq!(code_of(out.status), 0);
    let bit = |sig: i32| 1u64 << (sig - 1);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let mask = |name: &str| {
        shown
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or_else(|| panic!("no {name} in {shown:?}"))
    };
    assert_eq!(mask("SigBlk:"), bit(libc::SIGALRM), "{shown}");
    assert_eq!(
        mask("SigIgn:") & bit(libc::SIGPIPE),
        bit(libc::SIGPIPE),
        "{shown}"
    );
    assert!(etcd.keys("job/").is_empty());
}

#[test]
fn options_a_lease_cannot_have_are_usage_errors() {
    let s = Scratch::new();
    for opt in ["--fd=3", "-u", "-o", "-F"] {
        let out = Command::new(lockkit_bin())
            .args(["cluster", opt, "job", "true"])
            .current_dir(s.dir())
            .output()
            .expect("run");
        assert_eq!(code_of(out.status), 64, "{opt}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used"));
    }
}

#[test]
fn the_exit_status_is_the_commands() {
    let Some((s, etcd)) = setup() else { return };
    let out = cluster(&etcd, &s, &["job", "-c", "exit 3"])
        .output()
        .expect("run");
    assert_eq!(code_of(out.status), 3);
    assert!(etcd.keys("job/").is_empty());
}

#[test]
fn killing_the_leader_of_three_loses_nothing() {
    if !etcd_or_skip() {
        return;
    }
    let s = Scratch::new();
    let mut etcd = Etcd::cluster(&s, 3, &[]);
    let (h, _) = holder(&etcd, &s, &["--ttl", "3", "--grace", "1"], "trio");
    // Two waiters, queued one after the other: they must keep their order.
    let mut waiters = Vec::new();
    for (i, who) in ["first", "second"].iter().enumerate() {
        let script = format!("echo {who} >> order");
        let args = ["--ttl", "3", "--grace", "1", "trio", "sh", "-c", &script];
        waiters.push(queued(&etcd, &s, &args, "trio", i + 2));
    }
    let leader = etcd.leader();
    etcd.members[leader].kill();
    // A waiter that waits longer than the TTL: had the holder's lease
    // lapsed, it would get the lock; it must time out instead.
    let out = cluster(&etcd, &s, &["-w", "6", "trio", "true"])
        .output()
        .expect("run");
    assert_eq!(
        code_of(out.status),
        1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, err) = finish(h);
    assert_eq!((code, err.as_str()), (0, ""));
    for mut w in waiters {
        let st = wait_bounded(&mut w, LIMIT, "a waiter");
        assert!(st.success(), "{}", stderr_of(&mut w));
    }
    assert_eq!(s.read("order"), "first\nsecond\n");
}

#[test]
fn a_restarted_member_never_makes_a_second_holder() {
    let Some((s, mut etcd)) = setup() else { return };
    // Each command notes that it is inside; one finding another inside
    // is a second holder.
    let script = "trap 'rm -f inside; exit 1' TERM; set -C; \
                  { : > inside; } 2>/dev/null || echo double >> bad; echo ready; \
                  cat >/dev/null; rm -f inside";
    let (h, _) = start_holding(cluster(
        &etcd,
        &s,
        &["--ttl", "3", "--grace", "1", "one", "sh", "-c", script],
    ));
    let args = ["--ttl", "3", "--grace", "1", "one", "sh", "-c", script];
    let mut w = queued(&etcd, &s, &args, "one", 2);
    etcd.members[0].restart();
    etcd.wait_ready();
    let (code, _) = finish(h);
    assert!(code == 0 || code == 79, "holder: {code}");
    let st = wait_bounded(&mut w, LIMIT, "the waiter");
    assert!(matches!(code_of(st), 0 | 79 | 81), "waiter: {st:?}");
    assert!(!s.exists("bad"), "two holders at once");
}

/// Make a CA, a server certificate for 127.0.0.1 and a client certificate
/// with openssl: the file names (ca, server cert, server key, client cert,
/// client key).
fn certificates(s: &Scratch) -> Option<[String; 5]> {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip("openssl is not installed");
        return None;
    }
    s.write(
        "san.cnf",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    let script = "set -e
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
        for who in server client; do
          openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj /CN=$who
          openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem -days 2 -extfile san.cnf
        done";
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(s.dir())
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = |f: &str| s.path(f).to_string_lossy().into_owned();
    Some([
        p("ca.pem"),
        p("server.pem"),
        p("server.key"),
        p("client.pem"),
        p("client.key"),
    ])
}

#[test]
fn tls_with_client_certificates() {
    if !etcd_or_skip() {
        return;
    }
    let s = Scratch::new();
    let Some([ca, cert, key, ccert, ckey]) = certificates(&s) else {
        return;
    };
    let extra: Vec<String> = [
        "--cert-file",
        &cert,
        "--key-file",
        &key,
        "--trusted-ca-file",
        &ca,
        "--client-cert-auth",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let etcd = Etcd::cluster(&s, 1, &extra);
    assert!(etcd.endpoints().starts_with("https://"));
    let ok = cluster(
        &etcd,
        &s,
        &[
            "--cacert", &ca, "--cert", &ccert, "--key", &ckey, "tls", "true",
        ],
    )
    .output()
    .expect("run");
    assert_eq!(
        code_of(ok.status),
        0,
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let status = Command::new(lockkit_bin())
        .args(["status", "--cluster", "--endpoints", &etcd.endpoints()])
        .args(["--cacert", &ca, "--cert", &ccert, "--key", &ckey, "tls"])
        .output()
        .expect("lockkit status");
    assert_eq!(
        code_of(status.status),
        1,
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&status.stdout), "tls: free\n");
    // Without a client certificate the server refuses the handshake.
    let no = cluster(&etcd, &s, &["--cacert", &ca, "tls", "true"])
        .output()
        .expect("run");
    assert_eq!(
        code_of(no.status),
        81,
        "{}",
        String::from_utf8_lossy(&no.stderr)
    );
    // Without the CA, the server is not trusted.
    let untrusted = cluster(
        &etcd,
        &s,
        &["--cert", &ccert, "--key", &ckey, "tls", "true"],
    )
    .output()
    .expect("run");
    assert_eq!(code_of(untrusted.status), 81);
}

#[test]
fn user_and_password() {
    let Some((s, mut etcd)) = setup() else { return };
    for args in [
        vec!["user", "add", "root:rootpw", "--interactive=false"],
        vec!["user", "grant-role", "root", "root"],
        vec!["auth", "enable"],
    ] {
        let out = etcd.etcdctl(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    etcd.ctl_args.push("--user=root:rootpw".into());
    s.write("pw", "rootpw\n");
    let ok = cluster(
        &etcd,
        &s,
        &["--user", "root", "--password-file", "pw", "auth", "true"],
    )
    .output()
    .expect("run");
    assert_eq!(
        code_of(ok.status),
        0,
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let env = cluster(
        &etcd,
        &s,
        &[
            "--user",
            "root",
            "auth",
            "sh",
            "-c",
            "[ -z \"$LOCKKIT_ETCD_PASSWORD\" ]",
        ],
    )
    .env("LOCKKIT_ETCD_PASSWORD", "rootpw")
    .stdin(Stdio::null())
    .output()
    .expect("run");
    assert_eq!(
        code_of(env.status),
        0,
        "{}",
        String::from_utf8_lossy(&env.stderr)
    );
    s.write("bad", "nope\n");
    let bad = cluster(
        &etcd,
        &s,
        &["--user", "root", "--password-file", "bad", "auth", "true"],
    )
    .output()
    .expect("run");
    assert_eq!(
        code_of(bad.status),
        69,
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let none = cluster(&etcd, &s, &["auth", "true"]).output().expect("run");
    assert_eq!(
        code_of(none.status),
        69,
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    assert!(etcd.keys("auth/").is_empty());
}

#[test]
fn a_waiter_stopped_by_a_signal_leaves_no_key() {
    let Some((s, etcd)) = setup() else { return };
    let (h, _) = holder(&etcd, &s, &[], "sig");
    let mut w = queued(&etcd, &s, &["sig", "true"], "sig", 2);
    send_signal(w.id(), libc::SIGTERM);
    let st = wait_bounded(&mut w, LIMIT, "the waiter");
    assert_eq!(code_of(st), 128 + libc::SIGTERM);
    assert_eq!(
        etcd.keys("sig/").len(),
        1,
        "the waiter's key was left behind"
    );
    drop(finish(h));
}

#[test]
fn a_waiter_whose_key_is_deleted_never_runs() {
    // Its key deleted while it waits (by hand, or a lease revoked), a
    // waiter has lost its place: the holder's release must not hand it
    // the lock, even though nothing else stands before it.
    let Some((s, etcd)) = setup() else { return };
    let (h, _) = holder(&etcd, &s, &[], "gone");
    let held = etcd.keys("gone/");
    let mut w = cluster(&etcd, &s, &["gone", "sh", "-c", "echo ran > ran"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("waiter");
    watch_until(w.id(), LIMIT, "the waiter queues", || {
        etcd.keys("gone/").len() == 2
    });
    let theirs: Vec<String> = etcd
        .keys("gone/")
        .into_iter()
        .filter(|k| !held.contains(k))
        .collect();
    assert!(etcd.etcdctl(&["del", &theirs[0]]).status.success());
    drop(finish(h));
    let st = wait_bounded(&mut w, LIMIT, "the waiter");
    assert_eq!(code_of(st), 69);
    assert_eq!(
        stderr_of(&mut w),
        "lockkit cluster: lost the place in the queue for gone: its key was deleted\n"
    );
    assert!(!s.path("ran").exists(), "the waiter ran its command");
}

#[test]
fn a_waiter_behind_one_that_gives_up_still_waits_for_the_holder() {
    // C waits behind B, B behind the holder A. B gives up: C must look
    // again and find A, not take B's leaving as its turn. C's command
    // lists the name's keys when it starts: only its own may be left.
    let Some((s, etcd)) = setup() else { return };
    let (a, _) = holder(&etcd, &s, &[], "line");
    let mut b = queued(&etcd, &s, &["line", "true"], "line", 2);
    let list = format!(
        "ETCDCTL_API=3 etcdctl --endpoints={} get --prefix --keys-only line/ > seen",
        etcd.endpoints()
    );
    let mut c = queued(&etcd, &s, &["line", "sh", "-c", &list], "line", 3);
    send_signal(b.id(), libc::SIGTERM);
    wait_bounded(&mut b, LIMIT, "the waiter that gives up");
    watch_until(c.id(), LIMIT, "B's key goes", || {
        etcd.keys("line/").len() == 2
    });
    drop(finish(a));
    let st = wait_bounded(&mut c, LIMIT, "the last waiter");
    assert_eq!(code_of(st), 0);
    let seen: Vec<String> = s
        .read("seen")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(seen.len(), 1, "C ran beside another holder: {seen:?}");
}

#[test]
fn status_shows_the_holder_and_the_queue() {
    let Some((s, etcd)) = setup() else { return };
    let status = |name: &str| {
        Command::new(lockkit_bin())
            .args([
                "status",
                "--cluster",
                "--endpoints",
                &etcd.endpoints(),
                name,
            ])
            .env("TZ", "UTC")
            .output()
            .expect("lockkit status")
    };
    let free = status("st");
    assert_eq!(code_of(free.status), 1);
    assert_eq!(String::from_utf8_lossy(&free.stdout), "st: free\n");
    let (h, _) = holder(&etcd, &s, &[], "st");
    let mut w = queued(&etcd, &s, &["st", "true"], "st", 2);
    let out = status("st");
    assert_eq!(code_of(out.status), 0);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!("st: held by pid {} on ", h.id())),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("st: waiting: pid {} on ", w.id())),
        "{text}"
    );
    // The same as one JSON document (python3 reads it).
    let json = Command::new(lockkit_bin())
        .args(["status", "--cluster", "--json", "--endpoints"])
        .arg(etcd.endpoints())
        .args(["st", "none"])
        .output()
        .expect("lockkit status --json");
    assert_eq!(code_of(json.status), 0);
    let read = Command::new("python3")
        .args([
            "-c",
            "import json,sys\nd=json.load(sys.stdin)\n\
             for t in d['targets']: print(t['target'],t['state'],[(k['role'],k['pid']) for k in t['keys']])",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut p| {
            use std::io::Write;
            p.stdin.take().expect("stdin").write_all(&json.stdout)?;
            p.wait_with_output()
        })
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&read.stdout),
        format!(
            "st held [('holder', {}), ('waiter', {})]\nnone free []\n",
            h.id(),
            w.id()
        )
    );
    drop(finish(h));
    assert!(wait_bounded(&mut w, LIMIT, "the waiter").success());
}

#[test]
fn a_revoked_lease_stops_the_command() {
    let Some((s, etcd)) = setup() else { return };
    let (mut h, pid) = long_holder(&etcd, &s, &[], "echo $$; exec sleep 600");
    let keys = etcd.keys("victim/");
    let lease = keys[0].rsplit('/').next().expect("lease hex").to_owned();
    let out = etcd.etcdctl(&["lease", "revoke", &lease]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = wait_bounded(&mut h, LIMIT, "lockkit cluster after the revoke");
    assert_eq!(code_of(st), 79);
    // The key goes with the lease: the watch or the keep-alive says so first.
    let err = stderr_of(&mut h);
    assert!(
        err.contains("lost (its key was deleted)") || err.contains("revoked"),
        "{err}"
    );
    assert!(ended(pid));
}

#[test]
fn a_disabled_gateway_is_named() {
    if !etcd_or_skip() {
        return;
    }
    let s = Scratch::new();
    let etcd = Etcd::cluster(&s, 1, &["--enable-grpc-gateway=false".to_owned()]);
    let out = cluster(&etcd, &s, &["gw", "true"]).output().expect("run");
    assert_eq!(code_of(out.status), 81);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not serve etcd's JSON gateway"), "{err}");
}
