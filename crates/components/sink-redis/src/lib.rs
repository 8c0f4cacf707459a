//! Redis Streams: records appended with `XADD … MAXLEN ~ N` (`docs/ref/sinks/redis.md`).
//!
//! Design decisions:
//!
//! - One [`Outbox`] (bounded queue, retries, counters) in front of a synchronous redis
//!   connection (the `redis` crate without an async runtime). Every socket operation has
//!   a timeout: connecting (`connect_timeout`), reading and writing (`io_timeout`).
//! - One `XADD` per record, answered before the next (a record counts as `sent` when Redis
//!   returned its entry id). No pipelining yet: the outbox hands over one record at a time.
//! - A lost connection, a timeout or a server that is loading or busy is transient: the
//!   connection is dropped and the next attempt connects again. A command Redis rejects
//!   (e.g. the key holds another type) is permanent for that record; bad credentials are
//!   permanent too (the configuration must change).
//! - The entry is `kind`, `source`, `seq`, `capture_time_ns` (for filtering without
//!   parsing JSON) and `record` (the record's JSON, `docs/ref/jsonl.md`).

#![forbid(clippy::print_stdout, clippy::print_stderr)]

use std::time::Duration;

use serde::{Deserialize, Serialize};
use visualpath_sdk::core::HumanDuration;
use visualpath_sdk::{ComponentError, Record, Result, Sink};
use visualpath_sinks::{Outbox, SinkSettings, Transport};

/// Settings of the sink (a `redis:` entry of a pipeline file's `sinks:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// The server: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (port 6379, database 0 by
    /// default). Credentials are sent to the server, never logged.
    pub url: String,
    /// Stream key template: `{source}` is the record's source (a sync set's group) and
    /// `{kind}` its kind (`observation`, `event`, `sync`). Default `visualpath:{source}`.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Trim each stream to about this many entries (`XADD key MAXLEN ~ N`); `0` never
    /// trims. Default `10000`.
    #[serde(default = "default_maxlen")]
    pub maxlen: u64,
    /// `true`: `MAXLEN ~` (Redis trims whole macro nodes, cheap; the stream may hold a
    /// few more entries than `maxlen`). `false`: `MAXLEN =` (exact). Default `true`.
    #[serde(default = "default_true")]
    pub approximate: bool,
    /// Longest wait for a TCP connection (and the handshake). Default `5s`.
    #[serde(default = "default_timeout")]
    pub connect_timeout: HumanDuration,
    /// Longest wait for a reply or for the socket to accept a command. Default `5s`.
    #[serde(default = "default_timeout")]
    pub io_timeout: HumanDuration,
}

fn default_stream() -> String {
    "visualpath:{source}".into()
}
fn default_maxlen() -> u64 {
    10_000
}
fn default_true() -> bool {
    true
}
fn default_timeout() -> HumanDuration {
    HumanDuration::from_millis(5_000)
}

impl RedisConfig {
    /// A configuration with every optional field at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: default_stream(),
            maxlen: default_maxlen(),
            approximate: true,
            connect_timeout: default_timeout(),
            io_timeout: default_timeout(),
        }
    }

    /// From the command line (`--redis redis://HOST:PORT[/DB|/STREAM]`): a numeric path
    /// is the database, any other path the stream key template.
    pub fn from_cli(arg: &str) -> Result<Self> {
        let bad = |why: String| {
            ComponentError::new(format!(
                "--redis `{}`: {why} (expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB|/STREAM])",
                redact(arg)
            ))
        };
        let rest = arg
            .strip_prefix("redis://")
            .ok_or_else(|| bad("not a redis:// URL".into()))?;
        let after_auth = rest.rfind('@').map_or(0, |i| i + 1);
        let cfg = match rest[after_auth..].find('/') {
            Some(slash) => {
                let slash = after_auth + slash;
                let (addr, path) = (&rest[..slash], &rest[slash + 1..]);
                if path.is_empty() || path.bytes().all(|b| b.is_ascii_digit()) {
                    Self::new(arg)
                } else {
                    let mut c = Self::new(format!("redis://{addr}"));
                    c.stream = path.to_string();
                    c
                }
            }
            None => Self::new(arg),
        };
        open_client(&cfg.url).map_err(bad)?;
        StreamKey::parse(&cfg.stream).map_err(bad)?;
        Ok(cfg)
    }

    /// Validates the settings and starts the sink.
    pub fn build(&self, settings: &SinkSettings) -> Result<Box<dyn Sink>> {
        let name = &settings.name;
        let field =
            |f: &str, why: String| ComponentError::new(format!("sink `{name}`: `{f}`: {why}"));
        let client = open_client(&self.url).map_err(|e| field("url", e))?;
        let key = StreamKey::parse(&self.stream).map_err(|e| field("stream", e))?;
        for (f, d) in [
            ("connect_timeout", self.connect_timeout),
            ("io_timeout", self.io_timeout),
        ] {
            if d.get().is_zero() {
                return Err(field(f, "must be more than 0".into()));
            }
        }
        let what = format!("redis {}", client.get_connection_info().addr());
        let transport = RedisTransport {
            client,
            con: None,
            key,
            maxlen: self.maxlen,
            approximate: self.approximate,
            connect_timeout: self.connect_timeout.get(),
            io_timeout: self.io_timeout.get(),
            json: Vec::with_capacity(1024),
        };
        Ok(Box::new(Outbox::start(
            what,
            transport,
            settings.queue,
            settings.retry,
        )?))
    }
}

fn open_client(url: &str) -> std::result::Result<redis::Client, String> {
    if !url.starts_with("redis://") {
        return Err(format!(
            "`{}` is not a redis:// URL (TLS and unix sockets are not supported by this build)",
            redact(url)
        ));
    }
    let c = redis::Client::open(url).map_err(|e| format!("`{}`: {e}", redact(url)))?;
    if let redis::ConnectionAddr::Tcp(host, _) = c.get_connection_info().addr()
        && host.is_empty()
    {
        return Err(format!("`{}` has no host", redact(url)));
    }
    Ok(c)
}

/// `url` with the credentials replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***@{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// A parsed stream key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKey(Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Source,
    Kind,
}

impl StreamKey {
    /// Parses a template with the placeholders `{source}` and `{kind}`.
    pub fn parse(t: &str) -> std::result::Result<Self, String> {
        if t.is_empty() {
            return Err("the stream key is empty".into());
        }
        let mut parts = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(format!("`{t}`: `}}` without `{{`"));
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("`{t}`: unclosed `{{`"))?;
            parts.push(match &rest[open + 1..open + close] {
                "source" => Part::Source,
                "kind" => Part::Kind,
                other => {
                    return Err(format!(
                        "`{t}`: unknown placeholder `{{{other}}}` (use {{source}} or {{kind}})"
                    ));
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self(parts))
    }

    /// The key of `record`'s stream.
    pub fn key(&self, record: &Record) -> String {
        let mut k = String::with_capacity(32);
        for p in &self.0 {
            match p {
                Part::Text(s) => k.push_str(s),
                Part::Source => k.push_str(record.source().as_str()),
                Part::Kind => k.push_str(record.kind()),
            }
        }
        k
    }
}

/// The `seq` and `capture_time_ns` fields of a record's entry: a sync set's index and
/// reference time.
pub fn seq_and_time(record: &Record) -> (u64, i64) {
    match record {
        Record::Observation(o) => (o.seq, o.capture_time_ns),
        Record::Event(e) => (e.seq, e.capture_time_ns),
        Record::Sync(s) => (s.index, s.reference_ns),
    }
}

/// The `XADD` command for `record` (its JSON in `json`).
pub fn xadd(key: &str, maxlen: u64, approximate: bool, record: &Record, json: &[u8]) -> redis::Cmd {
    let (seq, time) = seq_and_time(record);
    let mut c = redis::cmd("XADD");
    c.arg(key);
    if maxlen > 0 {
        c.arg("MAXLEN")
            .arg(if approximate { "~" } else { "=" })
            .arg(maxlen);
    }
    c.arg("*")
        .arg("kind")
        .arg(record.kind())
        .arg("source")
        .arg(record.source().as_str())
        .arg("seq")
        .arg(seq)
        .arg("capture_time_ns")
        .arg(time)
        .arg("record")
        .arg(json);
    c
}

struct RedisTransport {
    client: redis::Client,
    con: Option<redis::Connection>,
    key: StreamKey,
    maxlen: u64,
    approximate: bool,
    connect_timeout: Duration,
    io_timeout: Duration,
    json: Vec<u8>,
}

impl RedisTransport {
    fn connection(&mut self) -> Result<&mut redis::Connection> {
        if self.con.is_none() {
            let con = self
                .client
                .get_connection_with_timeout(self.connect_timeout)
                .map_err(|e| classify(&e, "cannot connect"))?;
            con.set_read_timeout(Some(self.io_timeout))
                .and_then(|()| con.set_write_timeout(Some(self.io_timeout)))
                .map_err(|e| classify(&e, "cannot set socket timeouts"))?;
            tracing::info!(stream = ?self.key, "connected to redis");
            self.con = Some(con);
        }
        Ok(self.con.as_mut().expect("set above"))
    }
}

impl Transport for RedisTransport {
    fn send(&mut self, record: &Record) -> Result<bool> {
        self.json.clear();
        serde_json::to_writer(&mut self.json, record)
            .map_err(|e| ComponentError::new(format!("cannot encode the record as JSON: {e}")))?;
        let cmd = xadd(
            &self.key.key(record),
            self.maxlen,
            self.approximate,
            record,
            &self.json,
        );
        let con = self.connection()?;
        match cmd.query::<redis::Value>(con) {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = classify(&e, "XADD failed");
                if err.transient {
                    self.con = None;
                }
                Err(err)
            }
        }
    }
}

/// Lost connections, timeouts and a server that is loading or busy are transient;
/// rejected commands and bad credentials are permanent.
fn classify(e: &redis::RedisError, what: &str) -> ComponentError {
    use redis::{ErrorKind, RetryMethod};
    let msg = format!("{what}: {e}");
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return ComponentError::transient(msg);
    }
    if matches!(e.kind(), ErrorKind::AuthenticationFailed) {
        return ComponentError::new(msg);
    }
    match e.retry_method() {
        RetryMethod::NoRetry => ComponentError::new(msg),
        _ => ComponentError::transient(msg),
    }
}

#[cfg(test)]
mod tests;
