//! OSC over UDP, for TouchDesigner and other OSC tools.
//!
//! Each record becomes a set of OSC messages with one argument each (so each address is
//! one CHOP channel in TouchDesigner's OSC In CHOP), sent as one OSC bundle per record
//! (split into several bundles of at most `max_datagram` bytes) whose timetag is the
//! frame's capture time. What is sent (addresses and types are in
//! `docs/ref/sinks/osc.md`):
//!
//! - an observation with tracks (the `track` analyzer): per slot `p1..pN` (`max_slots`)
//!   the box centre `tx`, `ty` (normalised, origin per `origin`), `w`, `h`, `id`,
//!   `active` and `score` (zeros and `active 0` for empty slots), then `/count`;
//! - an observation with poses: per slot `{keypoint}:tx`, `:ty`, `:score`, the slot
//!   taken from the pose's track;
//! - with no tracker on the source, the detector's `/count`;
//! - every observation's values as `/{source}/{analyzer}/{name}`;
//! - an event as `/event/{rule}`: `1` at its start, `0` at its end;
//! - sync sets: nothing (counted as skipped).
//!
//! The socket work runs on the [`Outbox`]'s delivery thread; the pure encoding lives in
//! [`encode`].

#![forbid(clippy::print_stdout, clippy::print_stderr)]

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use visualpath_sdk::{ComponentError, Record, Result, Sink};
use visualpath_sinks::{Outbox, SinkSettings, Transport};

pub mod encode;

use encode::{Datagrams, Encoder, Format, Layout};

/// Where normalised coordinates have their `(0, 0)`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `(0, 0)` at the bottom-left corner, `y` growing upwards (TouchDesigner's
    /// convention for texture coordinates).
    #[default]
    BottomLeft,
    /// `(0, 0)` at the top-left corner, `y` growing downwards (image rows).
    TopLeft,
}

/// The timetag of the bundles.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Timetag {
    /// The record's capture time, as an NTP timestamp.
    #[default]
    Capture,
    /// OSC's "immediately" (for receivers that schedule bundles by their timetag).
    Immediate,
}

fn default_format() -> String {
    "touchdesigner".into()
}
fn default_true() -> bool {
    true
}
fn default_max_slots() -> u32 {
    10
}
fn default_max_datagram() -> usize {
    1472
}

/// Most slots `max_slots` accepts (the tracker's own limit).
pub const MAX_SLOTS: u32 = 1000;

/// Settings of the sink (a `osc:` entry of a pipeline file's `sinks:`).
///
/// ```yaml
/// sinks:
///   - name: touchdesigner
///     inputs: [people, pose, events]
///     osc:
///       host: 127.0.0.1
///       port: 7000
///       prefix: /vp
///       max_rate: 30
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OscConfig {
    /// Host name or IP address to send to (e.g. `127.0.0.1`).
    pub host: String,
    /// UDP port to send to (TouchDesigner's OSC In CHOP "Network Port").
    pub port: u16,
    /// Put before every address, e.g. `/vp` gives `/vp/p1/tx`. `{source}` in it is
    /// replaced by the record's source, to keep cameras apart (`/vp/{source}`). Default:
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Slot channel names: `touchdesigner` (default: `p1/tx`, keypoints `p1/nose:tx`, as
    /// TouchDesigner's body tracking CHOPs name them) or a template with `{slot}` and
    /// `{axis}`, e.g. `p{slot}_{axis}` gives `p1_tx` and, for keypoints, `p1_nose_tx`.
    #[serde(default = "default_format")]
    pub format: String,
    /// Origin of normalised coordinates: `bottom_left` (default, TouchDesigner's
    /// convention) or `top_left`.
    #[serde(default)]
    pub origin: Origin,
    /// Send each record as one OSC bundle (split when larger than `max_datagram`) rather
    /// than as separate messages. Default `true`.
    #[serde(default = "default_true")]
    pub bundle: bool,
    /// Bundle timetag: `capture` (default: the frame's capture time) or `immediate`.
    #[serde(default)]
    pub timetag: Timetag,
    /// Most observations sent per second per source and analyzer; more are skipped.
    /// Events are never limited. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<f64>,
    /// Slots `p1..pN` sent on every track (and pose) observation, empty ones as zeros
    /// with `active 0`, so the receiver's channels stay put. `0` sends no slot channels.
    /// Default `10` (the tracker's default number of slots); at most 1000.
    #[serde(default = "default_max_slots")]
    pub max_slots: u32,
    /// Largest UDP datagram in bytes; bundles are split to fit. Default `1472` (an
    /// Ethernet MTU of 1500 minus IP and UDP headers); from 64 to 65507.
    #[serde(default = "default_max_datagram")]
    pub max_datagram: usize,
}

impl OscConfig {
    /// A configuration sending to `host:port` with every other setting at its default.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            prefix: None,
            format: default_format(),
            origin: Origin::default(),
            bundle: true,
            timetag: Timetag::default(),
            max_rate: None,
            max_slots: default_max_slots(),
            max_datagram: default_max_datagram(),
        }
    }

    /// From the command line (`--osc HOST:PORT[/PREFIX]`, IPv6 hosts in brackets:
    /// `[::1]:7000`).
    pub fn from_cli(arg: &str) -> Result<Self> {
        let bad = |why: &str| {
            ComponentError::new(format!(
                "`{arg}`: {why}; expected HOST:PORT or HOST:PORT/PREFIX (e.g. 127.0.0.1:7000 or 127.0.0.1:7000/vp)"
            ))
        };
        let a = arg
            .strip_prefix("osc.udp://")
            .or_else(|| arg.strip_prefix("osc://"))
            .unwrap_or(arg);
        let (hostport, prefix) = match a.find('/') {
            Some(i) => (&a[..i], Some(a[i..].to_string())),
            None => (a, None),
        };
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(|| bad("no port"))?;
            (h, p)
        } else {
            hostport.rsplit_once(':').ok_or_else(|| bad("no port"))?
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
        let c = Self {
            prefix: prefix.filter(|p| p != "/"),
            ..Self::new(host, port)
        };
        c.layout("--osc").map_err(|e| bad(&e.message))?;
        Ok(c)
    }

    /// The resolved layout; errors name `sink`, the field and what would be valid.
    fn layout(&self, sink: &str) -> Result<Layout> {
        let bad = |field: &str, why: String| {
            ComponentError::new(format!("sink `{sink}`: `{field}` {why}"))
        };
        if self.host.trim().is_empty() {
            return Err(bad(
                "host",
                "is empty; expected a host name or IP address".into(),
            ));
        }
        if self.port == 0 {
            return Err(bad("port", "is 0; expected 1 to 65535".into()));
        }
        let format = Format::parse(&self.format).map_err(|e| bad("format", e))?;
        let prefix = match &self.prefix {
            None => String::new(),
            Some(p) => {
                let p = p.trim_end_matches('/');
                let p = if p.is_empty() || p.starts_with('/') {
                    p.to_owned()
                } else {
                    format!("/{p}")
                };
                let mut clean = String::new();
                let plain = p.replace("{source}", "").replace('/', "");
                encode::sanitize(&plain, &mut clean);
                if clean != plain || p.contains("//") {
                    return Err(bad(
                        "prefix",
                        format!(
                            "`{p}` has characters OSC addresses cannot hold (space, #*,?[]{{}}, or an empty `//` part); expected e.g. `/vp` or `/vp/{{source}}`"
                        ),
                    ));
                }
                p
            }
        };
        if let Some(r) = self.max_rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(bad(
                "max_rate",
                format!("is {r}; expected a number above 0 (per second)"),
            ));
        }
        if self.max_slots > MAX_SLOTS {
            return Err(bad(
                "max_slots",
                format!("is {}; expected 0 to {MAX_SLOTS}", self.max_slots),
            ));
        }
        if !(64..=65_507).contains(&self.max_datagram) {
            return Err(bad(
                "max_datagram",
                format!("is {}; expected 64 to 65507 bytes", self.max_datagram),
            ));
        }
        Ok(Layout {
            prefix,
            format,
            origin: self.origin,
            max_slots: self.max_slots,
            bundle: self.bundle,
            timetag: self.timetag,
            max_datagram: self.max_datagram,
            max_rate: self.max_rate,
        })
    }

    /// Starts the sink.
    pub fn build(&self, settings: &SinkSettings) -> Result<Box<dyn Sink>> {
        let layout = self.layout(settings.name.as_str())?;
        let target = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let what = format!("osc udp://{target}");
        let transport = UdpTransport::new(target, Encoder::new(layout));
        Ok(Box::new(Outbox::start(
            what,
            transport,
            settings.queue,
            settings.retry,
        )?))
    }
}

/// Sends datagrams to one UDP peer; see the crate docs.
struct UdpTransport {
    target: String,
    socket: Option<UdpSocket>,
    encoder: Encoder,
    out: Datagrams,
    /// The record whose datagrams are in `out` with `next` not yet sent (after an error).
    pending: Option<Record>,
    next: usize,
    epoch: Instant,
    /// ICMP refusals seen (nothing listening at the target).
    refusals: u64,
}

impl UdpTransport {
    fn new(target: String, encoder: Encoder) -> Self {
        Self {
            target,
            socket: None,
            encoder,
            out: Datagrams::default(),
            pending: None,
            next: 0,
            epoch: Instant::now(),
            refusals: 0,
        }
    }

    fn connect(&self) -> Result<UdpSocket> {
        let addr: SocketAddr = self
            .target
            .to_socket_addrs()
            .map_err(|e| ComponentError::transient(format!("cannot resolve {}: {e}", self.target)))?
            .next()
            .ok_or_else(|| {
                ComponentError::transient(format!("{} resolves to no address", self.target))
            })?;
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let s = UdpSocket::bind(local)
            .map_err(|e| ComponentError::transient(format!("cannot open a UDP socket: {e}")))?;
        s.set_write_timeout(Some(Duration::from_secs(1)))
            .and_then(|()| s.connect(addr))
            .map_err(|e| ComponentError::transient(format!("cannot set up UDP to {addr}: {e}")))?;
        Ok(s)
    }
}

fn same(a: &Record, b: &Record) -> bool {
    match (a, b) {
        (Record::Observation(x), Record::Observation(y)) => Arc::ptr_eq(x, y),
        (Record::Event(x), Record::Event(y)) => Arc::ptr_eq(x, y),
        (Record::Sync(x), Record::Sync(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

impl Transport for UdpTransport {
    fn send(&mut self, record: &Record) -> Result<bool> {
        // A retry of the record that failed part-way: send what is left of it (encoding
        // again would count it twice against the rate limit).
        let retry = self.pending.as_ref().is_some_and(|p| same(p, record));
        if !retry {
            self.pending = None;
            self.next = 0;
            let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            if !self.encoder.encode(record, now, &mut self.out) {
                return Ok(false);
            }
        }
        if self.socket.is_none() {
            match self.connect() {
                Ok(s) => self.socket = Some(s),
                Err(e) => {
                    self.pending = Some(record.clone());
                    return Err(e);
                }
            }
        }
        let Some(sock) = &self.socket else {
            return Ok(false);
        };
        // UDP reports an ICMP "port unreachable" for an earlier datagram on a later send:
        // the error is about the past, so this datagram is sent again at once (once per
        // call). Nothing listening is normal for OSC (TouchDesigner not started yet): it is
        // logged, and only a refusal of the immediate resend is retried with backoff.
        let mut resent = false;
        while self.next < self.out.len() {
            let d = self.out.get(self.next);
            match sock.send(d) {
                Ok(n) if n == d.len() => self.next += 1,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused && !resent => {
                    resent = true;
                    self.refusals += 1;
                    if self.refusals.is_power_of_two() {
                        tracing::warn!(
                            refusals = self.refusals,
                            "nothing is listening at {} (ICMP port unreachable); sending anyway",
                            self.target
                        );
                    }
                }
                Ok(n) => {
                    self.pending = None;
                    return Err(ComponentError::new(format!(
                        "datagram of {} bytes sent as {n} bytes",
                        d.len()
                    )));
                }
                Err(e) => {
                    let transient = match e.kind() {
                        // An ICMP "port unreachable" for an earlier datagram: nothing is
                        // listening (yet). The socket stays usable.
                        ErrorKind::ConnectionRefused => true,
                        ErrorKind::WouldBlock
                        | ErrorKind::TimedOut
                        | ErrorKind::Interrupted
                        | ErrorKind::NetworkUnreachable
                        | ErrorKind::HostUnreachable
                        | ErrorKind::NetworkDown
                        | ErrorKind::AddrNotAvailable
                        | ErrorKind::ConnectionReset => {
                            self.socket = None;
                            true
                        }
                        _ => false,
                    };
                    let msg = format!("cannot send to {}: {e}", self.target);
                    if transient {
                        self.pending = Some(record.clone());
                        return Err(ComponentError::transient(msg));
                    }
                    self.pending = None;
                    return Err(ComponentError::new(msg));
                }
            }
        }
        self.pending = None;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visualpath_sdk::Name;

    #[test]
    fn cli_forms() {
        let c = OscConfig::from_cli("127.0.0.1:7000").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.prefix.as_deref()),
            ("127.0.0.1", 7000, None)
        );
        assert_eq!(c.format, "touchdesigner");
        assert!(c.bundle);
        let c = OscConfig::from_cli("localhost:9000/vp/").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.prefix.as_deref()),
            ("localhost", 9000, Some("/vp/"))
        );
        let c = OscConfig::from_cli("[::1]:7000").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 7000));
        let c = OscConfig::from_cli("osc://h:1").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("h", 1));
        for bad in ["127.0.0.1", ":7000", "h:0", "h:70000", "h:x", "h:1/a b"] {
            let e = OscConfig::from_cli(bad).unwrap_err().message;
            assert!(e.contains(bad) && e.contains("HOST:PORT"), "{e}");
        }
    }

    #[test]
    fn config_defaults_and_validation() {
        let c: OscConfig = serde_json::from_str(r#"{"host": "127.0.0.1", "port": 7000}"#).unwrap();
        assert_eq!(c, OscConfig::new("127.0.0.1", 7000));
        assert!(
            serde_json::from_str::<OscConfig>(r#"{"host": "h", "port": 1, "url": "x"}"#).is_err()
        );
        let s = SinkSettings::new(Name::from_static("td"));
        let err = |c: OscConfig| c.build(&s).map(|_| ()).unwrap_err().message;
        let e = err(OscConfig {
            format: "p{slot}".into(),
            ..OscConfig::new("h", 1)
        });
        assert!(
            e.starts_with("sink `td`: `format`") && e.contains("{axis}"),
            "{e}"
        );
        let e = err(OscConfig {
            max_rate: Some(0.0),
            ..OscConfig::new("h", 1)
        });
        assert!(e.contains("`max_rate`"), "{e}");
        let e = err(OscConfig {
            max_slots: 5000,
            ..OscConfig::new("h", 1)
        });
        assert!(e.contains("`max_slots`") && e.contains("1000"), "{e}");
        let e = err(OscConfig {
            max_datagram: 10,
            ..OscConfig::new("h", 1)
        });
        assert!(e.contains("`max_datagram`"), "{e}");
        let e = err(OscConfig {
            prefix: Some("/a b".into()),
            ..OscConfig::new("h", 1)
        });
        assert!(e.contains("`prefix`"), "{e}");
        let l = OscConfig {
            prefix: Some("vp/{source}/".into()),
            ..OscConfig::new("h", 1)
        }
        .layout("td")
        .unwrap();
        assert_eq!(l.prefix, "/vp/{source}");
    }
}
