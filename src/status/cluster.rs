//! `lockkit status --cluster NAME...`: who holds a `lockkit cluster` lock
//! in etcd and who waits, from the keys of the name (their values say
//! host, pid and since when; a key of another tool, e.g. `etcdctl lock`'s,
//! has no value and shows only its key and lease).

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use crate::lock::fs::FsTime;
use crate::lock::lease::{self, Client, Entry};
use crate::stdio::Stdio;

use super::TROUBLE;
use super::json::{Json, Value};

/// One line for a key of the queue.
pub fn line(name: &str, e: &Entry) -> String {
    let role = match (e.holds, e.shared, e.slot) {
        (true, _, Some(slot)) => format!("held (slot {slot}) by"),
        (true, true, None) => "held (shared) by".to_owned(),
        (true, false, None) => "held by".to_owned(),
        (false, true, _) => "waiting (shared):".to_owned(),
        (false, false, _) => "waiting:".to_owned(),
    };
    let who = match (&e.host, e.pid) {
        (Some(h), Some(p)) => format!(" pid {p} on {h}"),
        _ => " a client that left no details".to_owned(),
    };
    let since = e
        .since
        .map(|s| {
            let t = FsTime(i128::from(s) * 1_000_000_000);
            format!(" since {}", super::time_words(t, t, false))
        })
        .unwrap_or_default();
    format!(
        "{name}: {role}{who}{since} (key {}, lease {:x}, revision {})\n",
        String::from_utf8_lossy(&e.key),
        e.lease,
        e.create_revision
    )
}

fn password(m: &clap::ArgMatches) -> Result<String, String> {
    match m.get_one::<std::path::PathBuf>("password-file") {
        Some(path) => lease::client::password_from_file(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        None => std::env::var("LOCKKIT_ETCD_PASSWORD")
            .map_err(|_| "--user needs --password-file or LOCKKIT_ETCD_PASSWORD".to_owned()),
    }
}

/// Exit 0 when any name is held, 1 when none is, 2 on an error.
pub fn run(names: &[&OsString], m: &clap::ArgMatches, as_json: bool, io: &mut Stdio) -> u8 {
    let endpoints = lease::client::endpoints(m.get_one::<String>("endpoints").map(String::as_str));
    let user = match m.get_one::<String>("user") {
        Some(name) => match password(m) {
            Ok(pw) => Some((name.clone(), pw)),
            Err(e) => {
                io.err(format!("lockkit status: {e}\n").as_bytes());
                return TROUBLE;
            }
        },
        None => None,
    };
    let file = |name: &str| m.get_one::<std::path::PathBuf>(name).cloned();
    let client = match Client::new(lease::Config {
        endpoints,
        cacert: file("cacert"),
        cert: file("cert"),
        key: file("key"),
        user,
        connect_timeout: Duration::from_secs(2),
        call_timeout: Duration::from_secs(5),
    }) {
        Ok(c) => c,
        Err(e) => {
            io.err(format!("lockkit status: {e}\n").as_bytes());
            return TROUBLE;
        }
    };
    let mut held = false;
    let mut trouble = false;
    let mut j = Json::new();
    if as_json {
        j.open("", false);
        j.int("version", 1);
        j.int("now", super::secs(FsTime::local_now()));
        j.open("targets", true);
    }
    for name in names {
        let text = name.to_string_lossy();
        let found = lease::queue(&client, name.as_bytes());
        match &found {
            Ok(entries) => held |= entries.iter().any(|e| e.holds),
            Err(e) => {
                io.err(format!("lockkit status: {text}: {e}\n").as_bytes());
                trouble = true;
            }
        }
        if as_json {
            json_target(&mut j, name.as_bytes(), &found);
            continue;
        }
        match found {
            Ok(entries) if entries.is_empty() => io.out(format!("{text}: free\n").as_bytes()),
            Ok(entries) => {
                for e in &entries {
                    io.out(line(&text, e).as_bytes());
                }
            }
            Err(_) => {}
        }
    }
    if as_json {
        j.close(true);
        j.close(false);
        io.out(&j.finish());
    }
    match (trouble, held) {
        (true, _) => TROUBLE,
        (false, true) => 0,
        (false, false) => 1,
    }
}

/// One target of `--json`: the name's keys in queue order.
fn json_target(j: &mut Json, name: &[u8], found: &Result<Vec<Entry>, lease::EtcdError>) {
    j.open("", false);
    j.str("target", name);
    j.str("kind", "cluster");
    let held = found.as_ref().is_ok_and(|es| es.iter().any(|e| e.holds));
    let state = match found {
        Err(_) => "error",
        Ok(_) if held => "held",
        Ok(_) => "free",
    };
    j.str("state", state);
    j.put("held", Value::Bool(held));
    j.opt_str("error", found.as_ref().err().map(|e| e.to_string()));
    j.open("keys", true);
    for e in found.iter().flatten() {
        j.open("", false);
        j.str("role", if e.holds { "holder" } else { "waiter" });
        j.str("key", &e.key);
        j.str("lease", format!("{:x}", e.lease));
        j.int("revision", e.create_revision);
        j.put("shared", Value::Bool(e.shared));
        j.opt_int("slot", e.slot);
        j.opt_str("host", e.host.as_deref());
        j.opt_int("pid", e.pid);
        j.opt_int("since", e.since);
        j.close(false);
    }
    j.close(true);
    j.close(false);
}
