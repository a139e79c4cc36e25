//! A small client for etcd's v3 API through its JSON gateway (HTTP/1.1 on
//! the client port, etcd 3.4 and later): POST a JSON body to `/v3/...`,
//! read one JSON answer (or, for a watch, one per line).
//!
//! The gateway's conventions: int64 fields are JSON strings, keys and
//! values base64, and fields at their zero value are left out (a missing
//! number is 0). An endpoint that cannot be reached is skipped for the
//! next one (failover); every call is bounded by timeouts, so a slow or
//! frozen member cannot hold a caller for long.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// How to reach the cluster.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `http://host:port` or `https://host:port`, tried in order.
    pub endpoints: Vec<String>,
    /// PEM files: the CA to trust (else the system's web roots), and a
    /// client certificate with its key.
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// User name and password (etcd's auth).
    pub user: Option<(String, String)>,
    /// Bound on connecting to one endpoint, and on one call.
    pub connect_timeout: Duration,
    pub call_timeout: Duration,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdError {
    /// No endpoint answered: each with why.
    Unreachable(Vec<(String, String)>),
    /// The endpoint answers HTTP but not the JSON gateway (404): it was
    /// started with `--enable-grpc-gateway=false`, or it is not etcd.
    NoGateway(String),
    /// etcd refused the request: its gRPC code and message.
    Refused { code: i64, message: String },
    /// A certificate or key file could not be read or used.
    Tls(String),
    /// An answer we cannot make sense of.
    Protocol(String),
}

impl std::fmt::Display for EtcdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EtcdError::Unreachable(tried) => {
                f.write_str("cannot reach etcd at ")?;
                for (i, (ep, why)) in tried.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{ep} ({why})")?;
                }
                Ok(())
            }
            EtcdError::NoGateway(ep) => write!(
                f,
                "{ep} does not serve etcd's JSON gateway (/v3/...: 404); etcd 3.4 or later \
                 with --enable-grpc-gateway (the default) is needed"
            ),
            EtcdError::Refused { message, .. } => write!(f, "etcd refused: {message}"),
            EtcdError::Tls(why) => f.write_str(why),
            EtcdError::Protocol(why) => write!(f, "unexpected answer from etcd: {why}"),
        }
    }
}

/// The endpoints in `text`: comma-separated; `host:port` is
/// `http://host:port`, as etcdctl takes it. The default when `text` is
/// None or empty: `$ETCDCTL_ENDPOINTS`, else `http://127.0.0.1:2379`.
pub fn endpoints(text: Option<&str>) -> Vec<String> {
    let from_env = std::env::var("ETCDCTL_ENDPOINTS").ok();
    text.filter(|t| !t.is_empty())
        .or(from_env.as_deref().filter(|e| !e.is_empty()))
        .unwrap_or("http://127.0.0.1:2379")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e.contains("://") {
                e.to_owned()
            } else {
                format!("http://{e}")
            }
        })
        .collect()
}

/// A password kept in a file: its first line.
pub fn password_from_file(path: &std::path::Path) -> std::io::Result<String> {
    let text = std::fs::read(path)?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(String::from_utf8_lossy(line).into_owned())
}

/// gRPC's code for an expired or unknown auth token.
const UNAUTHENTICATED: i64 = 16;

/// A connection pool to the cluster's endpoints; cheap to clone (threads
/// share the agent, the auth token and which endpoint last answered).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    /// For watches: no timeout on the answer's body, which is a stream.
    stream_agent: ureq::Agent,
    config: Arc<Config>,
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// The endpoint that answered last: tried first.
    current: usize,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.config.endpoints)
            .finish()
    }
}

/// An int64 field: a JSON string (or number); missing is 0.
pub fn int(v: &Value, field: &str) -> i64 {
    match v.get(field) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// A bytes field: base64; missing is empty.
pub fn bytes(v: &Value, field: &str) -> Vec<u8> {
    v.get(field)
        .and_then(Value::as_str)
        .and_then(|s| B64.decode(s).ok())
        .unwrap_or_default()
}

/// Bytes for a request.
pub fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

/// The end of the range of every key starting with `prefix` (etcd's
/// `WithPrefix`): the prefix with its last byte below 0xff incremented.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xff: to the end of the key space.
    vec![0]
}

fn tls(config: &Config) -> Result<ureq::tls::TlsConfig, EtcdError> {
    use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| EtcdError::Tls(format!("cannot read {}: {e}", p.display())))
    };
    let mut b = TlsConfig::builder();
    if let Some(ca) = &config.cacert {
        let pem = read(ca)?;
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(EtcdError::Tls(format!(
                "no certificate in {}",
                ca.display()
            )));
        }
        b = b.root_certs(RootCerts::new_with_certs(&certs));
    }
    match (&config.cert, &config.key) {
        (Some(cert), Some(key)) => {
            let pem = read(cert)?;
            let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            let key_pem = read(key)?;
            let key = PrivateKey::from_pem(&key_pem)
                .map_err(|e| EtcdError::Tls(format!("{}: {e}", key.display())))?;
            if chain.is_empty() {
                return Err(EtcdError::Tls(format!(
                    "no certificate in {}",
                    cert.display()
                )));
            }
            b = b.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        (None, None) => {}
        _ => {
            return Err(EtcdError::Tls("--cert and --key go together".to_owned()));
        }
    }
    Ok(b.build())
}

impl Client {
    pub fn new(config: Config) -> Result<Client, EtcdError> {
        // The keep-alive and watch threads allocate little and mostly sleep.
        crate::lock::sys::one_malloc_arena();
        let tls = tls(&config)?;
        let base = || {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .tls_config(tls.clone())
                .timeout_connect(Some(config.connect_timeout))
                // Never through an HTTP proxy from the environment: it
                // could buffer a watch's stream.
                .proxy(None)
                // Answers are small JSON, headers a few lines: ureq's 128
                // KiB buffers per connection would be most of a waiting
                // process's memory.
                .input_buffer_size(4 * 1024)
                .output_buffer_size(4 * 1024)
                .user_agent("lockkit")
        };
        let agent = ureq::Agent::with_parts(
            base().timeout_global(Some(config.call_timeout)).build(),
            DefaultConnector::default(),
            Literal,
        );
        let stream_agent = ureq::Agent::with_parts(
            base()
                .timeout_recv_response(Some(config.call_timeout))
                .build(),
            DefaultConnector::default(),
            Literal,
        );
        Ok(Client {
            agent,
            stream_agent,
            config: Arc::new(config),
            state: Arc::new(Mutex::new(State::default())),
        })
    }

    pub fn endpoints(&self) -> &[String] {
        &self.config.endpoints
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A thread that panicked while holding it left plain data behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// POST `body` to `path` and return the JSON answer, trying each
    /// endpoint from the one that answered last; within `timeout` if given
    /// (else the configured call timeout).
    pub fn call(&self, path: &str, body: &Value) -> Result<Value, EtcdError> {
        self.call_within(path, body, None)
    }

    pub fn call_within(
        &self,
        path: &str,
        body: &Value,
        timeout: Option<Duration>,
    ) -> Result<Value, EtcdError> {
        let mut reauthenticated = false;
        loop {
            match self.post(path, body, timeout, false) {
                Err(EtcdError::Refused { code, .. })
                    if code == UNAUTHENTICATED
                        && !reauthenticated
                        && self.config.user.is_some() =>
                {
                    // The token expired (etcd's simple tokens last 5 minutes).
                    self.state().token = None;
                    reauthenticated = true;
                }
                Ok(Answer::Json(v)) => return Ok(v),
                Ok(Answer::Stream(_)) => {
                    return Err(EtcdError::Protocol("a stream".into()));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Start a watch: the answer's lines, one JSON object each.
    pub fn watch(&self, body: &Value) -> Result<Lines, EtcdError> {
        match self.post("/v3/watch", body, None, true)? {
            Answer::Stream(lines) => Ok(lines),
            Answer::Json(_) => Err(EtcdError::Protocol("no stream".into())),
        }
    }

    fn token(&self, endpoint: &str) -> Result<Option<String>, EtcdError> {
        let Some((name, password)) = &self.config.user else {
            return Ok(None);
        };
        if let Some(t) = self.state().token.clone() {
            return Ok(Some(t));
        }
        let url = format!("{endpoint}/v3/auth/authenticate");
        let answer = self
            .agent
            .post(&url)
            .send(json!({"name": name, "password": password}).to_string())
            .map_err(|e| EtcdError::Unreachable(vec![(endpoint.to_owned(), e.to_string())]))?;
        let v = json_answer(endpoint, answer)?;
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| EtcdError::Protocol("no token".into()))?
            .to_owned();
        self.state().token = Some(token.clone());
        Ok(Some(token))
    }

    fn post(
        &self,
        path: &str,
        body: &Value,
        timeout: Option<Duration>,
        stream: bool,
    ) -> Result<Answer, EtcdError> {
        let n = self.config.endpoints.len();
        let first = self.state().current;
        let mut tried = Vec::new();
        let text = body.to_string();
        for i in 0..n {
            let at = (first + i) % n;
            let endpoint = self.config.endpoints[at].trim_end_matches('/');
            let token = match self.token(endpoint) {
                Ok(t) => t,
                Err(EtcdError::Unreachable(mut why)) => {
                    tried.append(&mut why);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let url = format!("{endpoint}{path}");
            let agent = if stream {
                &self.stream_agent
            } else {
                &self.agent
            };
            let mut req = agent.post(&url).header("content-type", "application/json");
            if let Some(t) = &token {
                req = req.header("authorization", t);
            }
            let sent = match timeout {
                Some(t) => req.config().timeout_global(Some(t)).build().send(&text),
                None => req.send(&text),
            };
            match sent {
                Ok(answer) => {
                    self.state().current = at;
                    if stream && answer.status().is_success() {
                        let reader = BufReader::new(answer.into_body().into_reader());
                        return Ok(Answer::Stream(Lines { reader }));
                    }
                    return json_answer(endpoint, answer).map(Answer::Json);
                }
                Err(e) => tried.push((endpoint.to_owned(), e.to_string())),
            }
        }
        Err(EtcdError::Unreachable(tried))
    }
}

/// Endpoints are usually addresses (`http://10.0.0.1:2379`): those need
/// no lookup. ureq's resolver, bounded by a timeout, starts a thread for
/// each lookup, even of an address; names still go to it.
#[derive(Debug)]
struct Literal;

impl Resolver for Literal {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        // `host:port` with the scheme's default port: an address parses.
        let literal = uri
            .scheme()
            .zip(uri.authority())
            .and_then(|(scheme, authority)| DefaultResolver::host_and_port(scheme, authority))
            .and_then(|hp| hp.parse::<SocketAddr>().ok());
        match literal {
            Some(addr) => {
                let mut addrs = self.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            None => DefaultResolver::default().resolve(uri, config, timeout),
        }
    }
}

enum Answer {
    Json(Value),
    Stream(Lines),
}

/// A watch's answer, read one JSON object per line.
pub struct Lines {
    reader: BufReader<ureq::BodyReader<'static>>,
}

impl Lines {
    /// The next object; None when the stream ended or broke.
    pub fn next_object(&mut self) -> Option<Result<Value, EtcdError>> {
        let mut line = Vec::new();
        loop {
            line.clear();
            match self.reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(
                serde_json::from_slice::<Value>(&line)
                    .map_err(|e| EtcdError::Protocol(e.to_string()))
                    .and_then(|v| match v.get("error") {
                        Some(err) => Err(refused(err)),
                        None => Ok(v.get("result").cloned().unwrap_or(v)),
                    }),
            );
        }
    }
}

fn refused(err: &Value) -> EtcdError {
    EtcdError::Refused {
        code: int(err, "code"),
        message: err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_owned(),
    }
}

fn json_answer(
    endpoint: &str,
    answer: ureq::http::Response<ureq::Body>,
) -> Result<Value, EtcdError> {
    let status = answer.status();
    let body = answer
        .into_body()
        .read_to_vec()
        .map_err(|e| EtcdError::Unreachable(vec![(endpoint.to_owned(), e.to_string())]))?;
    if status == 404 {
        return Err(EtcdError::NoGateway(endpoint.to_owned()));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|_| {
        EtcdError::Protocol(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    })?;
    if !status.is_success() || v.get("error").is_some() {
        return Err(refused(&v));
    }
    // Streaming endpoints (keep-alive) wrap their one answer.
    Ok(match v.get("result") {
        Some(r) if v.as_object().is_some_and(|o| o.len() == 1) => r.clone(),
        _ => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_fields() {
        let v = json!({"ID": "694d77aa9e38260f", "TTL": "5", "n": 3});
        assert_eq!(int(&v, "TTL"), 5);
        assert_eq!(int(&v, "n"), 3);
        assert_eq!(int(&v, "missing"), 0);
        let kv = json!({"key": b64(b"a/b")});
        assert_eq!(bytes(&kv, "key"), b"a/b");
        assert_eq!(bytes(&kv, "value"), b"");
    }

    #[test]
    fn addresses_need_no_lookup() {
        let at = |uri: &str| {
            let uri: ureq::http::Uri = uri.parse().expect("uri");
            let config = ureq::config::Config::default();
            Literal
                .resolve(&uri, &config, NextTimeout::default())
                .map(|a| a.iter().copied().collect::<Vec<_>>())
        };
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(
            at("http://10.0.0.1:2379/v3/kv/range").ok(),
            Some(vec![addr("10.0.0.1:2379")])
        );
        assert_eq!(
            at("https://[::1]:2379/").ok(),
            Some(vec![addr("[::1]:2379")])
        );
        assert_eq!(at("http://10.0.0.1/").ok(), Some(vec![addr("10.0.0.1:80")]));
        assert_eq!(
            at("https://10.0.0.1/").ok(),
            Some(vec![addr("10.0.0.1:443")])
        );
        // A name is looked up.
        assert!(at("http://localhost:2379/").is_ok_and(|a| !a.is_empty()));
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"job/"), b"job0");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}
