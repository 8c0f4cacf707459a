//! A WebSocket broadcast hub: every connected client receives every record.
//!
//! The sink listens on `bind` (bound when the sink is built, so a used or bad address is
//! an error at start) and accepts any number of clients up to `max_clients`. Every
//! record written to the sink is serialized to JSON once (the shape of
//! `docs/ref/jsonl.md`) and queued as one text message for every connected client.
//!
//! - Each client has its own bounded queue (`client_queue` messages) and its own writer
//!   thread, so [`Sink::write`] never blocks on a socket and no client takes messages
//!   from another.
//! - A client that does not keep up fills its queue; `slow_client` decides what happens:
//!   `skip` (default) drops that client's oldest queued message (the others are not
//!   affected; the drop is counted for that client), `disconnect` closes that client
//!   (close code 1008). A client whose socket accepts no data for `write_timeout` is
//!   disconnected under either policy.
//! - Clients that connect later receive records written after they connected; nothing
//!   is replayed.
//! - Incoming pings are answered; incoming data messages are ignored; a client's close
//!   frame is answered and frees its thread.
//! - [`Sink::flush`] (the end of the run) stops accepting, lets each client receive what
//!   is queued for it for at most the drain timeout (`retry.drain_timeout`), then closes
//!   it with close code 1001 and joins its thread. Dropping the sink without flushing
//!   closes the clients at once.
//!
//! Counters ([`SinkStatus`]): `peers` = connected clients; `sent` = records broadcast
//! to at least one client; `skipped` = records written while no client was connected;
//! `dropped` = messages (one per client and record) not delivered to a connected
//! client: skipped by `slow_client: skip`, discarded when a client was disconnected
//! (slow, stalled, or gone with messages still queued) or left at shutdown; `queued` =
//! messages waiting in all client queues; `latency` = from `write` to the message being
//! handed to the client's socket, per client and message. `failed` and `retries` stay 0.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod hub;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use visualpath_sdk::core::HumanDuration;
use visualpath_sdk::{ComponentError, Result, Sink};
use visualpath_sinks::SinkSettings;

pub use hub::{WsClientInfo, WsSink};

/// What happens to a client whose queue is full (it does not read as fast as records
/// are written).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SlowClient {
    /// Drop that client's oldest queued message to make room (it misses some records,
    /// counted per client); the other clients are not affected.
    #[default]
    Skip,
    /// Close that client's connection (close code 1008); it may reconnect.
    Disconnect,
}

/// Settings of the sink (a `websocket:` entry of a pipeline file's `sinks:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WsConfig {
    /// Address to listen on, `HOST:PORT` (`127.0.0.1:8765`; `0.0.0.0:8765` for every
    /// interface; port `0` picks a free port). Required.
    pub bind: String,
    /// URL path clients must request (`/events`); other paths get HTTP 404. Default:
    /// any path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Messages that may wait for one client. Default `256`; at least 1.
    #[serde(default = "default_client_queue")]
    pub client_queue: usize,
    /// When a client's queue is full: `skip` (default: drop its oldest message) or
    /// `disconnect`.
    #[serde(default)]
    pub slow_client: SlowClient,
    /// Clients connected at once; more get HTTP 503. Default `100`; at least 1.
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// A client whose socket accepts no data for this long is disconnected. Default
    /// `5s`.
    #[serde(default = "default_write_timeout")]
    pub write_timeout: HumanDuration,
}

fn default_client_queue() -> usize {
    256
}

fn default_max_clients() -> usize {
    100
}

fn default_write_timeout() -> HumanDuration {
    HumanDuration::from_millis(5000)
}

impl WsConfig {
    /// Default settings listening on `bind`.
    pub fn new(bind: impl Into<String>) -> Self {
        Self {
            bind: bind.into(),
            path: None,
            client_queue: default_client_queue(),
            slow_client: SlowClient::default(),
            max_clients: default_max_clients(),
            write_timeout: default_write_timeout(),
        }
    }

    /// From the command line (`--ws ADDR:PORT`, optionally followed by a path:
    /// `--ws 0.0.0.0:8765/events`).
    pub fn from_cli(arg: &str) -> Result<Self> {
        let bad = || {
            ComponentError::new(format!(
                "`{arg}` is not a WebSocket listen address: expected ADDR:PORT, e.g. \
                 127.0.0.1:8765 or 0.0.0.0:8765/events"
            ))
        };
        let (addr, path) = match arg.find('/') {
            Some(i) => (&arg[..i], Some(arg[i..].to_string())),
            None => (arg, None),
        };
        let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        Ok(Self {
            path,
            ..Self::new(addr)
        })
    }

    /// Checks the values; the error names the sink and the field.
    pub fn validate(&self, name: &str) -> Result<()> {
        let bad = |field: &str, what: &str| {
            Err(ComponentError::new(format!(
                "sink `{name}`: websocket `{field}` {what}"
            )))
        };
        if self.client_queue == 0 {
            return bad("client_queue", "must be at least 1");
        }
        if self.max_clients == 0 {
            return bad("max_clients", "must be at least 1");
        }
        if self.write_timeout.get() < Duration::from_millis(1) {
            return bad("write_timeout", "must be at least 1ms");
        }
        if let Some(p) = &self.path
            && !p.starts_with('/')
        {
            return bad(
                "path",
                &format!("`{p}` must start with `/` (e.g. `/events`)"),
            );
        }
        Ok(())
    }

    /// Starts the sink: binds the listener (an error names the address) and starts
    /// accepting clients.
    pub fn build(&self, settings: &SinkSettings) -> Result<Box<dyn Sink>> {
        Ok(Box::new(WsSink::start(self, settings)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_forms() {
        let c = WsConfig::from_cli("127.0.0.1:8765").unwrap();
        assert_eq!(c.bind, "127.0.0.1:8765");
        assert_eq!(c.path, None);
        let c = WsConfig::from_cli("0.0.0.0:9000/events").unwrap();
        assert_eq!(c.bind, "0.0.0.0:9000");
        assert_eq!(c.path.as_deref(), Some("/events"));
        let c = WsConfig::from_cli("[::1]:9000").unwrap();
        assert_eq!(c.bind, "[::1]:9000");
        for bad in [
            "8765",
            "localhost",
            ":8765",
            "host:port",
            "host:70000",
            "ws://h:1",
        ] {
            let e = WsConfig::from_cli(bad).unwrap_err().message;
            assert!(e.contains(bad) && e.contains("ADDR:PORT"), "{e}");
        }
    }

    #[test]
    fn yaml_defaults_and_strictness() {
        let c: WsConfig = serde_json::from_str(r#"{"bind":"127.0.0.1:1"}"#).unwrap();
        assert_eq!(c, WsConfig::new("127.0.0.1:1"));
        let c: WsConfig = serde_json::from_str(
            r#"{"bind":"h:1","slow_client":"disconnect","write_timeout":"2s"}"#,
        )
        .unwrap();
        assert_eq!(c.slow_client, SlowClient::Disconnect);
        assert_eq!(c.write_timeout.get(), Duration::from_secs(2));
        assert!(serde_json::from_str::<WsConfig>(r#"{"bind":"h:1","queue":3}"#).is_err());
    }

    #[test]
    fn validation_names_sink_and_field() {
        let mut c = WsConfig::new("127.0.0.1:0");
        c.client_queue = 0;
        let e = c.validate("live").unwrap_err().message;
        assert!(e.contains("`live`") && e.contains("client_queue"), "{e}");
        let mut c = WsConfig::new("127.0.0.1:0");
        c.path = Some("events".into());
        let e = c.validate("live").unwrap_err().message;
        assert!(e.contains("path") && e.contains("/events"), "{e}");
    }
}
