//! The server's base URL (`http://host:port`) and percent-encoding for paths and queries.

use crate::error::ComfyError;

/// A validated base URL: `http://host[:port]`, without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUrl {
    /// `http://host:port` exactly as given (minus any trailing `/`).
    pub base: String,
    /// `host:port` (port 80 filled in when absent), for the WebSocket and raw sockets.
    pub authority: String,
}

impl BaseUrl {
    /// Parses `http://host[:port][/]`. Anything else (https, ws, a path, a query,
    /// credentials, a bad port) is an error saying what would be valid.
    pub fn parse(url: &str) -> Result<BaseUrl, ComfyError> {
        let bad = |reason: &str| ComfyError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = url.trim();
        let lower = trimmed.to_ascii_lowercase();
        let rest = if lower.starts_with("http://") {
            &trimmed["http://".len()..]
        } else if lower.starts_with("https://") {
            return Err(bad(
                "https is not supported (this client has no TLS); use http://host:port",
            ));
        } else if lower.starts_with("ws://") || lower.starts_with("wss://") {
            return Err(bad(
                "give the http://host:port base URL; the WebSocket address is derived from it",
            ));
        } else {
            return Err(bad(
                "expected http://host:port (e.g. http://127.0.0.1:8188)",
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(bad(
                "expected only http://host:port, without a path, query or fragment",
            ));
        }
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        if authority
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad("the host contains whitespace"));
        }
        // `[v6]:port`, `[v6]`, `host:port`, `host`.
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((inside, after)) = v6.split_once(']') else {
                return Err(bad("unterminated IPv6 address (expected [addr]:port)"));
            };
            if inside.is_empty() {
                return Err(bad("empty IPv6 address"));
            }
            match after {
                "" => (&authority[..inside.len() + 2], None),
                p => match p.strip_prefix(':') {
                    Some(p) => (&authority[..inside.len() + 2], Some(p)),
                    None => return Err(bad("expected [addr]:port")),
                },
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let port = match port {
            None => 80,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(bad("the port must be a number from 1 to 65535")),
            },
        };
        Ok(BaseUrl {
            base: format!("http://{authority}"),
            authority: format!("{host}:{port}"),
        })
    }
}

/// Percent-encodes everything except RFC 3986 unreserved characters, so the result is
/// safe as a path segment and as a query key or value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k1=v1&k2=v2`, encoded.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> (String, String) {
        let b = BaseUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (b.base, b.authority)
    }

    fn err(url: &str) -> String {
        BaseUrl::parse(url).expect_err(url).to_string()
    }

    #[test]
    fn accepts_http_host_port() {
        assert_eq!(
            ok("http://127.0.0.1:8188/"),
            ("http://127.0.0.1:8188".into(), "127.0.0.1:8188".into())
        );
        assert_eq!(
            ok("HTTP://gpu1:8188"),
            ("http://gpu1:8188".into(), "gpu1:8188".into())
        );
        assert_eq!(ok("http://gpu1"), ("http://gpu1".into(), "gpu1:80".into()));
        assert_eq!(
            ok("http://[::1]:8188/"),
            ("http://[::1]:8188".into(), "[::1]:8188".into())
        );
    }

    #[test]
    fn rejects_everything_else_in_one_line() {
        assert!(err("https://h:1").contains("https is not supported"));
        assert!(err("ws://h:1/ws").contains("WebSocket address is derived"));
        assert!(err("h:1").contains("expected http://host:port"));
        assert!(err("http://h:1/comfy").contains("without a path"));
        assert!(err("http://h:1/?x=1").contains("without a path"));
        assert!(err("http://u:p@h:1").contains("credentials"));
        assert!(err("http://h:99999").contains("port must be a number"));
        assert!(err("http://h:").contains("port must be a number"));
        assert!(err("http://:8188").contains("host is empty"));
        assert!(err("http://[::1").contains("IPv6"));
        for e in [err("https://h:1"), err("nonsense")] {
            assert!(!e.contains('\n'), "{e}");
            assert!(e.starts_with("invalid ComfyUI URL `"), "{e}");
        }
    }

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(
            encode("a b/c&d=e?f#g%h+i"),
            "a%20b%2Fc%26d%3De%3Ff%23g%25h%2Bi"
        );
        assert_eq!(encode("Az09-._~"), "Az09-._~");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(
            query(&[("filename", "x 1.png"), ("type", "output")]),
            "?filename=x%201.png&type=output"
        );
        assert_eq!(query(&[]), "");
    }
}
