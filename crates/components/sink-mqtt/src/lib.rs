//! MQTT: observations, events and sync sets published to a broker (`docs/ref/sinks/mqtt.md`).
//!
//! Design decisions:
//!
//! - One [`Outbox`] (bounded queue, retries, counters) in front of an MQTT 3.1.1 client
//!   (rumqttc, sync API). The client's event loop runs on a thread of its own and is
//!   polled all the time; the outbox's delivery thread publishes and waits.
//! - **QoS 1 is counted when acknowledged.** A record counts as `sent` only after the
//!   broker's PUBACK for it (and for its state update) arrived. Until then `send` waits
//!   (at most `ack_timeout`); a lost connection or a missing PUBACK is a transient error,
//!   so the outbox retries the same record on a new connection: at least once, duplicates
//!   possible after a reconnect, no loss while the queue has room.
//! - **One client per connection.** rumqttc 0.25 keeps unacknowledged publishes across a
//!   reconnect only when the broker resumes the session; with a clean session it drops them
//!   (and the requests still queued in its channel) silently (`EventLoop::poll`, `clean`).
//!   So the sink does not let rumqttc reconnect: after an error the client is dropped and
//!   the next `send` connects a fresh one (clean session). Retransmission is the outbox's
//!   job, and PUBACKs can be counted exactly per connection.
//! - **QoS 0 is fire-and-forget.** `send` hands the publish to the client's bounded channel
//!   and counts it as sent; records in that channel are lost if the connection drops.
//! - The retained per-camera state topic and the availability topic are described in the
//!   reference page.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod state;
mod transport;

use serde::{Deserialize, Serialize};
use visualpath_sdk::core::HumanDuration;
use visualpath_sdk::{ComponentError, Record, Result, Sink};
use visualpath_sinks::{Outbox, SinkSettings};

pub use state::CameraState;

/// Settings of the sink (a `mqtt:` entry of a pipeline file's `sinks:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker: `mqtt://[USER[:PASSWORD]@]HOST[:PORT]` (port 1883 by default). The
    /// user and password (percent-encoded if needed) are sent to the broker, never logged.
    pub url: String,
    /// Topic prefix: observations go to `{topic}/{source}/{analyzer}`, events to
    /// `{topic}/{source}/events/{rule}`, sync sets to `{topic}/sync/{group}`. Default
    /// `visualpath`. Levels separated by `/`; no `+`, `#`, empty levels or leading `/`.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Quality of service of the records: `0` (at most once, not acknowledged) or `1` (at
    /// least once: counted as sent when the broker acknowledged it). Default `1`.
    #[serde(default = "default_qos")]
    pub qos: u8,
    /// MQTT client id. Default `visualpath-<process id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Keep-alive interval (the broker drops the client after 1.5 times this without
    /// traffic; the client pings when idle). Whole seconds, at least `1s`. Default `30s`.
    #[serde(default = "default_keep_alive")]
    pub keep_alive: HumanDuration,
    /// Longest wait for the TCP connection and the broker's CONNACK. Whole seconds, at
    /// least `1s`. Default `5s`.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// With QoS 1, longest wait for a PUBACK before the connection counts as broken (the
    /// record is then retried on a new connection). Default `10s`.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout: HumanDuration,
    /// Publish a retained per-camera state to `{topic}/{source}/state` after every event
    /// (active events and the last event of each rule). Default `true`.
    #[serde(default = "default_true")]
    pub state: bool,
    /// Largest MQTT packet sent (a larger record fails permanently). Default `1048576`.
    #[serde(default = "default_max_packet")]
    pub max_packet_bytes: usize,
}

fn default_topic() -> String {
    "visualpath".into()
}
fn default_qos() -> u8 {
    1
}
fn default_keep_alive() -> HumanDuration {
    HumanDuration::from_millis(30_000)
}
fn default_connect_timeout() -> HumanDuration {
    HumanDuration::from_millis(5_000)
}
fn default_ack_timeout() -> HumanDuration {
    HumanDuration::from_millis(10_000)
}
fn default_true() -> bool {
    true
}
fn default_max_packet() -> usize {
    1 << 20
}

impl MqttConfig {
    /// A configuration with every optional field at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            topic: default_topic(),
            qos: default_qos(),
            client_id: None,
            keep_alive: default_keep_alive(),
            connect_timeout: default_connect_timeout(),
            ack_timeout: default_ack_timeout(),
            state: true,
            max_packet_bytes: default_max_packet(),
        }
    }

    /// From the command line (`--mqtt mqtt://HOST:PORT[/TOPIC-PREFIX]`): a path after the
    /// address is the topic prefix.
    pub fn from_cli(arg: &str) -> Result<Self> {
        let bad = |why: &str| {
            ComponentError::new(format!(
                "--mqtt `{}`: {why} (expected mqtt://[USER[:PASSWORD]@]HOST[:PORT][/TOPIC-PREFIX])",
                redact(arg)
            ))
        };
        let rest = arg
            .strip_prefix("mqtt://")
            .ok_or_else(|| bad("not an mqtt:// URL"))?;
        let cfg = match rest.split_once('/') {
            Some((addr, prefix)) if !prefix.is_empty() => {
                let mut c = Self::new(format!("mqtt://{addr}"));
                c.topic = prefix.trim_end_matches('/').to_string();
                c
            }
            Some((addr, _)) => Self::new(format!("mqtt://{addr}")),
            None => Self::new(arg),
        };
        BrokerUrl::parse(&cfg.url).map_err(|e| bad(&e))?;
        validate_prefix(&cfg.topic).map_err(|e| bad(&e))?;
        Ok(cfg)
    }

    /// Validates the settings and starts the sink.
    pub fn build(&self, settings: &SinkSettings) -> Result<Box<dyn Sink>> {
        let name = &settings.name;
        let field =
            |f: &str, why: String| ComponentError::new(format!("sink `{name}`: `{f}`: {why}"));
        let broker = BrokerUrl::parse(&self.url).map_err(|e| field("url", e))?;
        validate_prefix(&self.topic).map_err(|e| field("topic", e))?;
        let qos = match self.qos {
            0 => rumqttc::QoS::AtMostOnce,
            1 => rumqttc::QoS::AtLeastOnce,
            q => return Err(field("qos", format!("{q} is not supported (use 0 or 1)"))),
        };
        let client_id = self
            .client_id
            .clone()
            .unwrap_or_else(|| format!("visualpath-{}", std::process::id()));
        if client_id.is_empty() || client_id.len() > 65535 {
            return Err(field("client_id", "must be 1 to 65535 bytes".into()));
        }
        let whole_secs = |f: &str, d: HumanDuration| {
            let d = d.get();
            if d.as_secs() == 0 || d.subsec_nanos() != 0 {
                Err(field(
                    f,
                    format!("{d:?} is not a whole number of seconds >= 1s"),
                ))
            } else {
                Ok(d)
            }
        };
        let keep_alive = whole_secs("keep_alive", self.keep_alive)?;
        let connect_timeout = whole_secs("connect_timeout", self.connect_timeout)?;
        if self.ack_timeout.get().is_zero() {
            return Err(field("ack_timeout", "must be more than 0".into()));
        }
        if self.max_packet_bytes < 1024 || self.max_packet_bytes > 268_435_455 {
            return Err(field(
                "max_packet_bytes",
                format!("{} is outside 1024..=268435455", self.max_packet_bytes),
            ));
        }
        let what = format!("mqtt broker {}:{}", broker.host, broker.port);
        let transport = transport::MqttTransport::new(transport::Options {
            broker,
            prefix: self.topic.clone(),
            qos,
            client_id,
            keep_alive,
            connect_timeout,
            ack_timeout: self.ack_timeout.get(),
            state: self.state,
            max_packet_bytes: self.max_packet_bytes,
            what: what.clone(),
        });
        Ok(Box::new(Outbox::start(
            what,
            transport,
            settings.queue,
            settings.retry,
        )?))
    }
}

/// The topic a record is published to, under `prefix`.
pub fn topic_for(prefix: &str, record: &Record) -> String {
    match record {
        Record::Observation(o) => format!("{prefix}/{}/{}", o.source, o.analyzer),
        Record::Event(e) => format!("{prefix}/{}/events/{}", e.source, e.rule),
        Record::Sync(s) => format!("{prefix}/sync/{}", s.group),
    }
}

/// The retained per-camera state topic of `source`.
pub fn state_topic(prefix: &str, source: &str) -> String {
    format!("{prefix}/{source}/state")
}

/// The retained availability topic (`online` / `offline`).
pub fn status_topic(prefix: &str) -> String {
    format!("{prefix}/status")
}

fn validate_prefix(p: &str) -> std::result::Result<(), String> {
    if p.is_empty() {
        return Err("the topic prefix is empty".into());
    }
    if p.starts_with('/') || p.ends_with('/') || p.contains("//") {
        return Err(format!(
            "`{p}` has an empty topic level (no leading, trailing or doubled `/`)"
        ));
    }
    if p.contains(['+', '#', '\0']) {
        return Err(format!("`{p}` contains a wildcard (`+`, `#`) or NUL"));
    }
    if p.len() > 1024 {
        return Err("the topic prefix is longer than 1024 bytes".into());
    }
    Ok(())
}

/// A parsed `mqtt://` URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl BrokerUrl {
    pub(crate) fn parse(url: &str) -> std::result::Result<Self, String> {
        let shown = redact(url);
        let rest = match url.split_once("://") {
            Some(("mqtt" | "tcp", rest)) => rest,
            Some(("mqtts" | "ssl" | "ws" | "wss", _)) => {
                return Err(format!(
                    "`{shown}`: TLS and WebSocket are not supported by this build (use mqtt://HOST:PORT)"
                ));
            }
            _ => {
                return Err(format!(
                    "`{shown}` is not an mqtt:// URL (expected mqtt://[USER[:PASSWORD]@]HOST[:PORT])"
                ));
            }
        };
        if rest.contains(['/', '?', '#']) {
            return Err(format!(
                "`{shown}` has a path or query; the URL names the broker only (put the topic prefix in `topic`)"
            ));
        }
        let (cred, addr) = match rest.rsplit_once('@') {
            Some((c, a)) => (Some(c), a),
            None => (None, rest),
        };
        let (user, password) = match cred {
            None => (None, None),
            Some(c) => {
                let (u, p) = match c.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (c, None),
                };
                let u = percent_decode(u)
                    .ok_or_else(|| format!("`{shown}`: bad %-escape in the user"))?;
                let p = match p {
                    Some(p) => Some(
                        percent_decode(p)
                            .ok_or_else(|| format!("`{shown}`: bad %-escape in the password"))?,
                    ),
                    None => None,
                };
                (Some(u), p)
            }
        };
        let (host, port) = if let Some(v6) = addr.strip_prefix('[') {
            let (h, tail) = v6
                .split_once(']')
                .ok_or_else(|| format!("`{shown}`: unclosed `[` in the host"))?;
            (h.to_string(), tail.strip_prefix(':'))
        } else {
            match addr.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (addr.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{shown}` has no host"));
        }
        let port = match port {
            None => 1883,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{shown}`: port `{p}` is not a number in 1..=65535"))?,
        };
        Ok(Self {
            host,
            port,
            user,
            password,
        })
    }
}

/// `url` with the password (and user) replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***@{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_string(),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
