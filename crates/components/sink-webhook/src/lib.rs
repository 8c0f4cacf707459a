//! HTTP webhooks: records POSTed as JSON, signed, retried.
//!
//! Each record the sink takes is sent as one `POST` to `url` whose body is the record's
//! JSON (the shape of `docs/ref/jsonl.md`) with `Content-Type: application/json`.
//! Which records are sent is set by `records` (default: events only); records of other
//! kinds that reach the sink (through its `inputs:`) are counted as skipped and never
//! queued, so a stream of observations cannot push events out of the queue.
//!
//! Delivery goes through the [`Outbox`]: a bounded queue and one delivery thread, so
//! requests are made one at a time, in order. A response is:
//!
//! - `2xx`: delivered;
//! - `408`, `429`, `5xx`, a connection error or a timeout (`timeout`, per request):
//!   transient, the same record is retried with backoff (`retry:`) while the next
//!   ones wait, so order is kept. A `Retry-After` (seconds) on a 429 or 503 is honoured
//!   up to `retry.max`;
//! - anything else (`3xx`, other `4xx`): permanent; the record counts as failed and the
//!   next one proceeds. The error names the status and the URL (without credentials or
//!   query).
//!
//! Signing: with a `secret` (or `secret_env`), every request carries
//! `X-Visualpath-Timestamp: <unix seconds>` and
//! `X-Visualpath-Signature: sha256=<hex>`, the lowercase hex HMAC-SHA256, keyed with
//! the secret's UTF-8 bytes, of `<timestamp>.<body>` (the timestamp's decimal digits, a
//! full stop, then the exact body bytes). A retry is signed again with a new timestamp.
//! A receiver should recompute it over the raw body, compare in constant time and reject
//! old timestamps.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod transport;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use visualpath_sdk::core::HumanDuration;
use visualpath_sdk::{ComponentError, Record, Result, Sink, SinkStatus};
use visualpath_sinks::{Outbox, RecordKind, SinkSettings};

pub use transport::{redact_url, sign};

/// Settings of the sink (a `webhook:` entry of a pipeline file's `sinks:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST: an `http://` URL (`http://127.0.0.1:9000/hooks/visualpath`).
    /// `https://` is not supported by this build. Required.
    pub url: String,
    /// Which records to POST: `events`, `observations`, `sync`. Default `[events]`.
    #[serde(default = "default_records")]
    pub records: Vec<RecordKind>,
    /// Limit of each request: connecting, sending and receiving the response. Default
    /// `5s`.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Key for the `X-Visualpath-Signature` header. Default: none (requests are not
    /// signed). Prefer `secret_env`, which keeps it out of the pipeline file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Name of an environment variable holding the signing key, read when the sink
    /// starts (it must be set and non-empty). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// Extra request headers (`Authorization: Bearer ...`). Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

fn default_records() -> Vec<RecordKind> {
    vec![RecordKind::Events]
}

fn default_timeout() -> HumanDuration {
    HumanDuration::from_millis(5000)
}

impl WebhookConfig {
    /// Default settings posting to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            records: default_records(),
            timeout: default_timeout(),
            secret: None,
            secret_env: None,
            headers: BTreeMap::new(),
        }
    }

    /// From the command line (`--webhook URL`).
    pub fn from_cli(arg: &str) -> Result<Self> {
        if transport::parse_url(arg).is_err() {
            return Err(ComponentError::new(format!(
                "`{}` is not a webhook URL: expected http://HOST[:PORT][/PATH], e.g. \
                 http://127.0.0.1:9000/hook",
                redact_url(arg)
            )));
        }
        Ok(Self::new(arg))
    }

    /// Checks the values and resolves the secret; the error names the sink and field.
    fn resolve_secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let bad = |field: &str, what: String| {
            Err(ComponentError::new(format!(
                "sink `{name}`: webhook `{field}` {what}"
            )))
        };
        if let Err(e) = transport::parse_url(&self.url) {
            return bad("url", format!("`{}` {e}", redact_url(&self.url)));
        }
        if self.records.is_empty() {
            return bad(
                "records",
                "must list at least one of events, observations, sync".into(),
            );
        }
        if self.timeout.get() < Duration::from_millis(1) {
            return bad("timeout", "must be at least 1ms".into());
        }
        for (k, v) in &self.headers {
            if ureq::http::HeaderName::try_from(k.as_str()).is_err() {
                return bad("headers", format!("`{k}` is not a valid header name"));
            }
            if ureq::http::HeaderValue::try_from(v.as_str()).is_err() {
                return bad(
                    "headers",
                    format!("value of `{k}` is not a valid header value"),
                );
            }
        }
        match (&self.secret, &self.secret_env) {
            (Some(_), Some(_)) => bad("secret_env", "cannot be set together with `secret`".into()),
            (Some(s), None) if s.is_empty() => bad("secret", "must not be empty".into()),
            (Some(s), None) => Ok(Some(s.as_bytes().to_vec())),
            (None, Some(var)) => match std::env::var(var) {
                Ok(s) if !s.is_empty() => Ok(Some(s.into_bytes())),
                _ => bad(
                    "secret_env",
                    format!("names `{var}`, which is not set (or empty) in the environment"),
                ),
            },
            (None, None) => Ok(None),
        }
    }

    /// Starts the sink: validates, then starts the delivery thread (nothing is sent
    /// until the first record; a receiver that is down is retried, not an error).
    pub fn build(&self, settings: &SinkSettings) -> Result<Box<dyn Sink>> {
        let name = settings.name.as_str();
        let secret = self.resolve_secret(name)?;
        let what = format!("webhook {}", redact_url(&self.url));
        let t = transport::Http::new(self, secret, settings.retry.max.get());
        let outbox = Outbox::start(what, t, settings.queue, settings.retry)?;
        Ok(Box::new(WebhookSink {
            status: outbox.status_handle(),
            outbox,
            records: self.records.clone(),
        }))
    }
}

/// The outbox, behind a filter on the record kinds to send.
#[derive(Debug)]
struct WebhookSink {
    outbox: Outbox,
    status: Arc<SinkStatus>,
    records: Vec<RecordKind>,
}

impl Sink for WebhookSink {
    fn write(&mut self, record: &Record) -> Result<()> {
        if self.records.iter().any(|k| k.matches(record)) {
            self.outbox.write(record)
        } else {
            SinkStatus::bump(&self.status.skipped);
            Ok(())
        }
    }

    fn flush(&mut self) -> Result<()> {
        self.outbox.flush()
    }

    fn status(&self) -> Option<Arc<SinkStatus>> {
        Some(self.status.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_and_defaults() {
        let c = WebhookConfig::from_cli("http://127.0.0.1:9000/hook").unwrap();
        assert_eq!(c.records, vec![RecordKind::Events]);
        assert_eq!(c.timeout.get(), Duration::from_secs(5));
        for bad in [
            "ftp://x/",
            "127.0.0.1:9000",
            "http://",
            "https://example.com/",
        ] {
            let e = WebhookConfig::from_cli(bad).unwrap_err().message;
            assert!(e.contains("http://HOST"), "{e}");
        }
        let e = WebhookConfig::from_cli("ftp://user:pw@host/")
            .unwrap_err()
            .message;
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn yaml_is_strict() {
        let c: WebhookConfig = serde_json::from_str(
            r#"{"url":"http://h/","records":["events","observations"],"timeout":"2s","headers":{"X-A":"b"}}"#,
        )
        .unwrap();
        assert_eq!(c.records.len(), 2);
        assert!(serde_json::from_str::<WebhookConfig>(r#"{"url":"http://h/","batch":2}"#).is_err());
    }

    #[test]
    fn validation_names_sink_and_field() {
        let settings = SinkSettings::new(visualpath_sdk::Name::from_static("hook"));
        let mut c = WebhookConfig::new("http://127.0.0.1:1/");
        c.secret_env = Some("VISUALPATH_TEST_SURELY_UNSET_VAR".into());
        let e = c.build(&settings).unwrap_err().message;
        assert!(
            e.contains("`hook`") && e.contains("secret_env") && e.contains("SURELY_UNSET"),
            "{e}"
        );
        let mut c = WebhookConfig::new("http://127.0.0.1:1/");
        c.headers.insert("bad header".into(), "x".into());
        let e = c.build(&settings).unwrap_err().message;
        assert!(e.contains("headers") && e.contains("bad header"), "{e}");
        let mut c = WebhookConfig::new("http://127.0.0.1:1/");
        c.records.clear();
        assert!(c.build(&settings).unwrap_err().message.contains("records"));
    }
}
