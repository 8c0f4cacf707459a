//! One POST per record: URL checks, signing, status classification.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use visualpath_sdk::{ComponentError, Record, Result};
use visualpath_sinks::Transport;

use crate::WebhookConfig;

/// Checks that `url` is a plain-HTTP URL with a host.
pub(crate) fn parse_url(url: &str) -> std::result::Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(if url.starts_with("https://") {
            "uses https, which this build does not support (plain http:// only)".into()
        } else {
            "must start with http://".into()
        });
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() || host.starts_with(':') {
        return Err("has no host".into());
    }
    match url.parse::<ureq::http::Uri>() {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("is not a valid URL: {e}")),
    }
}

/// `url` without user info, query or fragment, for errors and logs.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let cut = rest.find(['?', '#']);
    let rest = &rest[..cut.unwrap_or(rest.len())];
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let query = if cut.is_some() { "?…" } else { "" };
    if scheme.is_empty() {
        format!("{host}{path}{query}")
    } else {
        format!("{scheme}://{host}{path}{query}")
    }
}

/// The `X-Visualpath-Signature` value: `sha256=` and the lowercase hex HMAC-SHA256 of
/// `<timestamp>.<body>` keyed with `secret`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

/// The HTTP transport of the outbox.
pub(crate) struct Http {
    agent: ureq::Agent,
    url: String,
    shown: String,
    secret: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    /// Longest honoured `Retry-After`.
    max_wait: Duration,
    body: Vec<u8>,
}

impl Http {
    pub(crate) fn new(cfg: &WebhookConfig, secret: Option<Vec<u8>>, max_wait: Duration) -> Self {
        let t = cfg.timeout.get();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(t))
            .timeout_connect(Some(t))
            .user_agent(concat!("visualpath/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
            url: cfg.url.clone(),
            shown: redact_url(&cfg.url),
            secret,
            headers: cfg
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            max_wait,
            body: Vec::with_capacity(1024),
        }
    }
}

/// What a response status means for delivery.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    Transient,
    Permanent,
}

pub(crate) fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 429 | 500..=599 => Outcome::Transient,
        _ => Outcome::Permanent,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not honoured).
fn retry_after(resp: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl Transport for Http {
    fn send(&mut self, record: &Record) -> Result<bool> {
        self.body.clear();
        record.write_json(&mut self.body).map_err(|e| {
            ComponentError::new(format!("cannot encode a {} record: {e}", record.kind()))
        })?;
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(secret) = &self.secret {
            let ts = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            req = req
                .header("X-Visualpath-Timestamp", ts.to_string())
                .header("X-Visualpath-Signature", sign(secret, ts, &self.body));
        }
        let mut resp = match req.send(&self.body[..]) {
            Ok(r) => r,
            Err(e) => {
                let what = match &e {
                    ureq::Error::Timeout(_) => "timed out".to_string(),
                    ureq::Error::ConnectionFailed => "connection failed".to_string(),
                    ureq::Error::Io(io) => io.to_string(),
                    other => other.to_string(),
                };
                // Requests that never got a response may pass: retry them all.
                return Err(ComponentError::transient(format!(
                    "POST {}: {what}",
                    self.shown
                )));
            }
        };
        let status = resp.status().as_u16();
        let wait = retry_after(&resp);
        // Read (a bounded part of) the body so the connection can be reused.
        let _ = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
        let reason = resp.status().canonical_reason().unwrap_or("");
        let msg = format!("POST {}: HTTP {status} {reason}", self.shown);
        match classify(status) {
            Outcome::Delivered => Ok(true),
            Outcome::Transient => {
                if let Some(w) = wait.filter(|_| status == 429 || status == 503) {
                    std::thread::sleep(w.min(self.max_wait));
                }
                Err(ComponentError::transient(msg.trim_end().to_string()))
            }
            Outcome::Permanent => Err(ComponentError::new(msg.trim_end().to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // HMAC-SHA256 itself: RFC 4231 test case 2 (key "Jefe").
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The signed material is "<timestamp>.<body>"; value computed with
        // `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key`.
        assert_eq!(
            sign(b"key", 1_700_000_000, br#"{"a":1}"#),
            "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(classify(200), Outcome::Delivered);
        assert_eq!(classify(204), Outcome::Delivered);
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(s), Outcome::Transient, "{s}");
        }
        for s in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert_eq!(classify(s), Outcome::Permanent, "{s}");
        }
    }

    #[test]
    fn urls_are_checked_and_redacted() {
        assert!(parse_url("http://127.0.0.1:9000/a/b?x=1").is_ok());
        assert!(parse_url("http://example.com").is_ok());
        assert!(
            parse_url("https://example.com/")
                .unwrap_err()
                .contains("https")
        );
        assert!(parse_url("http:///x").is_err());
        assert!(parse_url("127.0.0.1:80").is_err());
        assert_eq!(
            redact_url("http://u:secret@h:1/p?token=abc"),
            "http://h:1/p?…"
        );
        assert_eq!(redact_url("http://h:1/p"), "http://h:1/p");
        assert_eq!(redact_url("http://h"), "http://h");
    }
}
