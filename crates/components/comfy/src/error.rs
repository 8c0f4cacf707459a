//! [`ComfyError`]: everything that can go wrong talking to one ComfyUI server.

use std::time::Duration;

/// An error from a ComfyUI server or from reaching it. Every message is one line and names
/// the server's base URL, so a farm log says which backend failed.
///
/// [`ComfyError::is_unreachable`] separates "the backend is down or unreachable" (retry
/// elsewhere, mark it offline) from "the backend answered, with an error".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ComfyError {
    /// The base URL is not `http://host[:port][/]`.
    #[error("invalid ComfyUI URL `{url}`: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong and what would be valid.
        reason: String,
    },
    /// No connection, or the connection was refused, reset or timed out: the server is
    /// down, overloaded or unreachable.
    #[error("ComfyUI at {url} is unreachable: {reason}")]
    Connect {
        /// The server's base URL.
        url: String,
        /// What happened (refused, reset, timed out, ...).
        reason: String,
    },
    /// The server answered with an unexpected HTTP status.
    #[error("ComfyUI at {url} answered {method} {path} with HTTP {status}: {body}")]
    Http {
        /// The server's base URL.
        url: String,
        /// `GET` or `POST`.
        method: &'static str,
        /// The request path (`/api/...`, without the query).
        path: String,
        /// The HTTP status.
        status: u16,
        /// The response body on one line, shortened.
        body: String,
    },
    /// `POST /api/prompt` was refused (HTTP 400): the workflow is invalid on this server
    /// (unknown node class, missing model, bad input). `message` summarises the error and
    /// every `node_errors` entry on one line.
    #[error("ComfyUI at {url} rejected the prompt: {message}")]
    Rejected {
        /// The server's base URL.
        url: String,
        /// One-line summary of `error` and `node_errors`.
        message: String,
    },
    /// The server sent something this client does not understand (not JSON, a missing
    /// field, a truncated binary frame).
    #[error("ComfyUI at {url} sent an unexpected answer: {what}")]
    Protocol {
        /// The server's base URL.
        url: String,
        /// What was expected and what came.
        what: String,
    },
    /// The WebSocket was closed (by the server, or because the server died).
    #[error("ComfyUI at {url} closed the WebSocket")]
    Closed {
        /// The server's base URL.
        url: String,
    },
    /// Writing a downloaded file to the caller's writer failed (the server is fine).
    #[error("cannot store {what} downloaded from ComfyUI at {url}: {reason}")]
    Write {
        /// The server's base URL.
        url: String,
        /// The output file (`subfolder/filename`).
        what: String,
        /// The writer's error.
        reason: String,
    },
}

impl ComfyError {
    /// Whether the backend is down or unreachable (refused, reset, timed out, closed), as
    /// opposed to a backend that answered with an error.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ComfyError::Connect { .. } | ComfyError::Closed { .. })
    }

    pub(crate) fn connect(url: &str, reason: impl Into<String>) -> ComfyError {
        ComfyError::Connect {
            url: url.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn protocol(url: &str, what: impl Into<String>) -> ComfyError {
        ComfyError::Protocol {
            url: url.to_string(),
            what: what.into(),
        }
    }
}

/// The reason text for an I/O error on the connection to the server.
pub(crate) fn io_reason(e: &std::io::Error, timeout: Duration) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connection refused (is ComfyUI running?)".into(),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
            format!("connection reset ({e})")
        }
        K::UnexpectedEof => "connection closed before the answer was complete".into(),
        K::TimedOut | K::WouldBlock => format!("no answer within {}", secs(timeout)),
        _ => e.to_string(),
    }
}

/// `10 s`, `0.5 s`.
pub(crate) fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// `text` on one line (whitespace runs collapsed to one space), cut at `max` characters
/// with an ellipsis.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().count() > max {
        out = out.chars().take(max).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_collapses_and_cuts() {
        assert_eq!(one_line("  a\n\tb  c \r\n", 100), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("", 3), "");
    }

    #[test]
    fn unreachable_is_connect_or_closed() {
        let url = "http://h:1";
        assert!(ComfyError::connect(url, "refused").is_unreachable());
        assert!(ComfyError::Closed { url: url.into() }.is_unreachable());
        assert!(!ComfyError::protocol(url, "x").is_unreachable());
        let rejected = ComfyError::Rejected {
            url: url.into(),
            message: "m".into(),
        };
        assert!(!rejected.is_unreachable());
        assert_eq!(
            rejected.to_string(),
            "ComfyUI at http://h:1 rejected the prompt: m"
        );
    }

    #[test]
    fn io_reasons_name_the_cause() {
        let t = Duration::from_secs(10);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(io_reason(&refused, t).contains("refused"));
        let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(io_reason(&timeout, t), "no answer within 10 s");
    }
}
