//! The WebSocket event stream (`/ws?clientId=...`): [`Events`] and [`Event`].

use std::io::ErrorKind;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;
use tungstenite::handshake::HandshakeError;
use tungstenite::{Message, WebSocket};

use crate::error::{ComfyError, io_reason, one_line, secs};
use crate::history::error_message;
use crate::json;
use crate::url::{BaseUrl, encode};

/// How long connecting and the WebSocket handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The first client message: asks for binary previews in format 4 (with `prompt_id`).
const FEATURE_FLAGS: &str = r#"{"type":"feature_flags","data":{"supports_preview_metadata":true}}"#;

/// One message from the server. Prompt-specific messages go only to the socket whose
/// `clientId` submitted the prompt; `Status` and `Interrupted` go to every socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The queue changed: pending + running prompts.
    Status {
        /// Prompts waiting or running on the server.
        queue_remaining: u64,
    },
    /// `execution_start`: the prompt began running.
    Start {
        /// The prompt.
        prompt_id: String,
    },
    /// `execution_cached`: these nodes' outputs come from the cache.
    Cached {
        /// The prompt.
        prompt_id: String,
        /// Node ids served from the cache.
        nodes: Vec<String>,
    },
    /// `executing`: `node` starts; `node: None` means the prompt finished (after the
    /// history was written). On reconnect during a run the server sends it without
    /// `prompt_id`.
    Executing {
        /// The prompt, when the server says.
        prompt_id: Option<String>,
        /// The node now running; `None` when the prompt is done.
        node: Option<String>,
    },
    /// `progress` of a node (sampler steps, images saved, ...).
    Progress {
        /// The prompt (older nodes' messages lack it).
        prompt_id: Option<String>,
        /// The node (older nodes' messages lack it).
        node: Option<String>,
        /// Steps done.
        value: u64,
        /// Steps in total.
        max: u64,
    },
    /// `executed`: an output node's UI data (`{"images": [...]}`).
    Executed {
        /// The prompt.
        prompt_id: String,
        /// The output node.
        node: String,
        /// Its UI output, as sent.
        output: Value,
    },
    /// `execution_success` (sent before the history is written: wait for
    /// `Executing { node: None }` before reading it).
    Success {
        /// The prompt.
        prompt_id: String,
    },
    /// `execution_error`: a node raised at run time.
    Error {
        /// The prompt.
        prompt_id: String,
        /// The failing node.
        node_id: Option<String>,
        /// Its class.
        node_type: Option<String>,
        /// `exception_type: exception_message`, on one line.
        message: String,
    },
    /// `execution_interrupted` (sent to every socket).
    Interrupted {
        /// The prompt.
        prompt_id: String,
        /// The node that was running.
        node_id: Option<String>,
    },
    /// A binary preview image (format 4 carries the prompt and node; legacy format 1 does
    /// not).
    Preview {
        /// The prompt, from format 4's metadata.
        prompt_id: Option<String>,
        /// The node, from format 4's metadata.
        node_id: Option<String>,
        /// `image/png` or `image/jpeg`.
        mime: String,
        /// The encoded image.
        bytes: Vec<u8>,
    },
    /// A binary progress text of a node (format 3).
    Text {
        /// The node.
        node_id: String,
        /// The text.
        text: String,
    },
    /// Anything else (`progress_state`, `feature_flags`, custom nodes' messages); binary
    /// ones are named `binary:<type>`.
    Other {
        /// The message type.
        kind: String,
    },
}

impl Event {
    /// The prompt this event is about, when it says.
    pub fn prompt_id(&self) -> Option<&str> {
        match self {
            Event::Start { prompt_id }
            | Event::Cached { prompt_id, .. }
            | Event::Executed { prompt_id, .. }
            | Event::Success { prompt_id }
            | Event::Error { prompt_id, .. }
            | Event::Interrupted { prompt_id, .. } => Some(prompt_id),
            Event::Executing { prompt_id, .. }
            | Event::Progress { prompt_id, .. }
            | Event::Preview { prompt_id, .. } => prompt_id.as_deref(),
            Event::Status { .. } | Event::Text { .. } | Event::Other { .. } => None,
        }
    }
}

/// A WebSocket to one ComfyUI server, read with a timeout (blocking, one thread).
pub struct Events {
    ws: WebSocket<TcpStream>,
    url: String,
    client_id: String,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl Events {
    /// Opens `ws://host:port/ws?clientId=<client_id>` for the server at `url` (the same
    /// `http://host:port` base as [`crate::Client`]) and asks for format-4 previews. No
    /// `Origin` header is sent (ComfyUI answers 403 to a mismatched one). `read_timeout`
    /// is how long [`Events::next`] waits before returning `Ok(None)`.
    ///
    /// Connecting replaces any other socket with the same `client_id` on that server.
    pub fn connect(
        url: &str,
        client_id: &str,
        read_timeout: Duration,
    ) -> Result<Events, ComfyError> {
        let base = BaseUrl::parse(url)?;
        let url = base.base.clone();
        let stream = open(&base)?;
        let io = |e: std::io::Error| ComfyError::connect(&url, io_reason(&e, CONNECT_TIMEOUT));
        stream.set_read_timeout(Some(CONNECT_TIMEOUT)).map_err(io)?;
        stream
            .set_write_timeout(Some(CONNECT_TIMEOUT))
            .map_err(io)?;
        let _ = stream.set_nodelay(true);
        let request = format!("ws://{}/ws?clientId={}", base.authority, encode(client_id));
        let (mut ws, _) = tungstenite::client(request.as_str(), stream).map_err(|e| match e {
            HandshakeError::Interrupted(_) => ComfyError::connect(
                &url,
                format!("no WebSocket handshake within {}", secs(CONNECT_TIMEOUT)),
            ),
            HandshakeError::Failure(e) => handshake_error(&url, e),
        })?;
        let wait = read_timeout.max(Duration::from_millis(1));
        ws.get_mut().set_read_timeout(Some(wait)).map_err(io)?;
        ws.send(Message::text(FEATURE_FLAGS))
            .map_err(|e| ws_error(&url, e))?;
        tracing::debug!(url = %url, client_id, "ComfyUI WebSocket connected");
        Ok(Events {
            ws,
            url,
            client_id: client_id.to_string(),
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `clientId` this socket receives events for.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The next event: `Ok(None)` when nothing arrived within the read timeout (check for
    /// cancellation and call again), `Err(Closed)` once the socket is closed or the server
    /// died, `Err(Protocol)` for a malformed message (the stream stays usable). Pings are
    /// answered.
    // Not an `Iterator`: a timeout is `Ok(None)`, not the end, and errors must be seen.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Event>, ComfyError> {
        loop {
            let message = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(ws_error(&self.url, e)),
            };
            let parsed = match message {
                Message::Text(text) => parse_text(text.as_str()),
                Message::Binary(bytes) => parse_binary(&bytes),
                Message::Close(_) => {
                    return Err(ComfyError::Closed {
                        url: self.url.clone(),
                    });
                }
                // Pongs to pings are queued by tungstenite and sent on the next read.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            return parsed
                .map(Some)
                .map_err(|what| ComfyError::protocol(&self.url, what));
        }
    }

    /// Closes the socket politely (best effort).
    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}

/// A TCP connection to the first address of `base` that answers.
fn open(base: &BaseUrl) -> Result<TcpStream, ComfyError> {
    let addrs = base
        .authority
        .to_socket_addrs()
        .map_err(|e| ComfyError::connect(&base.base, format!("cannot resolve the host ({e})")))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(ComfyError::connect(
        &base.base,
        match last {
            Some(e) => io_reason(&e, CONNECT_TIMEOUT),
            None => "the host has no address".into(),
        },
    ))
}

fn handshake_error(url: &str, e: tungstenite::Error) -> ComfyError {
    match e {
        tungstenite::Error::Http(response) => {
            let body = response
                .body()
                .as_deref()
                .map(|b| one_line(&String::from_utf8_lossy(b), 200))
                .unwrap_or_default();
            ComfyError::Http {
                url: url.to_string(),
                method: "GET",
                path: "/ws".into(),
                status: response.status().as_u16(),
                body,
            }
        }
        other => ws_error(url, other),
    }
}

/// Maps a tungstenite error: anything meaning "the connection is gone" is `Closed`.
fn ws_error(url: &str, e: tungstenite::Error) -> ComfyError {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Io(_)
        | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            ComfyError::Closed {
                url: url.to_string(),
            }
        }
        other => ComfyError::protocol(
            url,
            format!("WebSocket: {}", one_line(&other.to_string(), 200)),
        ),
    }
}

/// Parses a text frame `{"type": T, "data": {...}}`.
pub(crate) fn parse_text(text: &str) -> Result<Event, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "a WebSocket text message is not JSON ({e}): {}",
            one_line(text, 80)
        )
    })?;
    let Some(kind) = v.get("type").and_then(Value::as_str) else {
        return Err(format!(
            "a WebSocket message has no `type`: {}",
            one_line(text, 80)
        ));
    };
    let data = v.get("data").unwrap_or(&Value::Null);
    let need = |key: &str| {
        json::string(data, key).ok_or_else(|| format!("`{kind}` message without `{key}`"))
    };
    Ok(match kind {
        "status" => Event::Status {
            queue_remaining: data
                .pointer("/status/exec_info/queue_remaining")
                .and_then(|n| n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)))
                .ok_or("`status` message without `status.exec_info.queue_remaining`")?,
        },
        "execution_start" => Event::Start {
            prompt_id: need("prompt_id")?,
        },
        "execution_cached" => Event::Cached {
            prompt_id: need("prompt_id")?,
            nodes: data
                .get("nodes")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(json::as_string).collect())
                .unwrap_or_default(),
        },
        "executing" => Event::Executing {
            prompt_id: json::string(data, "prompt_id"),
            node: json::string(data, "node"),
        },
        "progress" => Event::Progress {
            prompt_id: json::string(data, "prompt_id"),
            node: json::string(data, "node"),
            value: json::uint(data, "value").ok_or("`progress` message without `value`")?,
            max: json::uint(data, "max").ok_or("`progress` message without `max`")?,
        },
        "executed" => Event::Executed {
            prompt_id: need("prompt_id")?,
            node: need("node")?,
            output: data.get("output").cloned().unwrap_or(Value::Null),
        },
        "execution_success" => Event::Success {
            prompt_id: need("prompt_id")?,
        },
        "execution_error" => Event::Error {
            prompt_id: need("prompt_id")?,
            node_id: json::string(data, "node_id"),
            node_type: json::string(data, "node_type"),
            message: error_message(data),
        },
        "execution_interrupted" => Event::Interrupted {
            prompt_id: need("prompt_id")?,
            node_id: json::string(data, "node_id"),
        },
        other => Event::Other {
            kind: other.to_string(),
        },
    })
}

/// The end of a `u32`-length-prefixed section at byte 4 (after the event type), checked
/// against the frame's length.
fn prefixed_end(bytes: &[u8], frame: &str, section: &str) -> Result<usize, String> {
    let len = be_u32(bytes, 4).ok_or_else(|| format!("{frame} without its {section} length"))?;
    usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(8))
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            format!(
                "{frame} with {len} bytes of {section} in {} bytes",
                bytes.len()
            )
        })
}

/// Reads a big-endian `u32` at `at`.
fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses a binary frame: `u32 type` (big-endian), then the payload.
pub(crate) fn parse_binary(bytes: &[u8]) -> Result<Event, String> {
    let kind = be_u32(bytes, 0).ok_or_else(|| {
        format!(
            "a binary WebSocket message of {} bytes has no type",
            bytes.len()
        )
    })?;
    match kind {
        // PREVIEW_IMAGE: u32 format (1 JPEG, 2 PNG), image.
        1 => {
            let format = be_u32(bytes, 4).ok_or("a preview (binary type 1) without its format")?;
            let mime = match format {
                1 => "image/jpeg",
                2 => "image/png",
                n => return Err(format!("a preview (binary type 1) in unknown format {n}")),
            };
            Ok(Event::Preview {
                prompt_id: None,
                node_id: None,
                mime: mime.into(),
                bytes: bytes[8..].to_vec(),
            })
        }
        // TEXT: u32 node id length, node id, text.
        3 => {
            let end = prefixed_end(bytes, "a text (binary type 3)", "node id")?;
            Ok(Event::Text {
                node_id: String::from_utf8_lossy(&bytes[8..end]).into_owned(),
                text: String::from_utf8_lossy(&bytes[end..]).into_owned(),
            })
        }
        // PREVIEW_IMAGE_WITH_METADATA: u32 metadata length, JSON metadata, image.
        4 => {
            let end = prefixed_end(bytes, "a preview (binary type 4)", "metadata")?;
            let meta: Value = serde_json::from_slice(&bytes[8..end]).map_err(|e| {
                format!("a preview (binary type 4) whose metadata is not JSON ({e})")
            })?;
            Ok(Event::Preview {
                prompt_id: json::string(&meta, "prompt_id"),
                node_id: json::string(&meta, "node_id"),
                mime: json::string(&meta, "image_type").unwrap_or_else(|| "image/png".into()),
                bytes: bytes[end..].to_vec(),
            })
        }
        n => Ok(Event::Other {
            kind: format!("binary:{n}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(v: Value) -> Event {
        parse_text(&v.to_string()).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    #[test]
    fn parses_status_and_lifecycle() {
        assert_eq!(
            text(
                json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 2}}, "sid": "c"}})
            ),
            Event::Status { queue_remaining: 2 }
        );
        assert_eq!(
            text(json!({"type": "execution_start", "data": {"prompt_id": "p", "timestamp": 1}})),
            Event::Start {
                prompt_id: "p".into()
            }
        );
        assert_eq!(
            text(
                json!({"type": "execution_cached", "data": {"nodes": ["1", 5], "prompt_id": "p"}})
            ),
            Event::Cached {
                prompt_id: "p".into(),
                nodes: vec!["1".into(), "5".into()]
            }
        );
        assert_eq!(
            text(
                json!({"type": "executing", "data": {"node": "3", "display_node": "3", "prompt_id": "p"}})
            ),
            Event::Executing {
                prompt_id: Some("p".into()),
                node: Some("3".into())
            }
        );
        assert_eq!(
            text(json!({"type": "executing", "data": {"node": null, "prompt_id": "p"}})),
            Event::Executing {
                prompt_id: Some("p".into()),
                node: None
            }
        );
        // On reconnect: no prompt_id.
        assert_eq!(
            text(json!({"type": "executing", "data": {"node": "4"}})),
            Event::Executing {
                prompt_id: None,
                node: Some("4".into())
            }
        );
        assert_eq!(
            text(json!({"type": "execution_success", "data": {"prompt_id": "p", "timestamp": 1}})),
            Event::Success {
                prompt_id: "p".into()
            }
        );
    }

    #[test]
    fn parses_progress_with_and_without_ids() {
        assert_eq!(
            text(
                json!({"type": "progress", "data": {"value": 1, "max": 2, "prompt_id": "p", "node": "6"}})
            ),
            Event::Progress {
                prompt_id: Some("p".into()),
                node: Some("6".into()),
                value: 1,
                max: 2
            }
        );
        assert_eq!(
            text(json!({"type": "progress", "data": {"value": 3.0, "max": 20}})),
            Event::Progress {
                prompt_id: None,
                node: None,
                value: 3,
                max: 20
            }
        );
        assert!(parse_text(r#"{"type":"progress","data":{"max":2}}"#).is_err());
    }

    #[test]
    fn parses_executed_error_interrupted() {
        let out = json!({"images": [{"filename": "a.png", "subfolder": "", "type": "output"}]});
        assert_eq!(
            text(
                json!({"type": "executed", "data": {"node": "4", "display_node": "4", "output": out, "prompt_id": "p"}})
            ),
            Event::Executed {
                prompt_id: "p".into(),
                node: "4".into(),
                output: out
            }
        );
        assert_eq!(
            text(
                json!({"type": "execution_error", "data": {"prompt_id": "p", "node_id": "2", "node_type": "LoadImage",
                "executed": [], "exception_message": "cannot identify image file", "exception_type": "PIL.UnidentifiedImageError",
                "traceback": ["a", "b"], "current_inputs": {}, "current_outputs": {}, "timestamp": 1}})
            ),
            Event::Error {
                prompt_id: "p".into(),
                node_id: Some("2".into()),
                node_type: Some("LoadImage".into()),
                message: "PIL.UnidentifiedImageError: cannot identify image file".into()
            }
        );
        assert_eq!(
            text(
                json!({"type": "execution_interrupted", "data": {"prompt_id": "p", "node_id": "3", "node_type": "ImageBlur", "executed": ["1"]}})
            ),
            Event::Interrupted {
                prompt_id: "p".into(),
                node_id: Some("3".into())
            }
        );
    }

    #[test]
    fn chatty_and_unknown_messages_are_other() {
        assert_eq!(
            text(json!({"type": "progress_state", "data": {"prompt_id": "p", "nodes": {}}})),
            Event::Other {
                kind: "progress_state".into()
            }
        );
        assert_eq!(
            text(json!({"type": "feature_flags", "data": {"supports_preview_metadata": true}})),
            Event::Other {
                kind: "feature_flags".into()
            }
        );
        assert_eq!(
            text(json!({"type": "crystools.monitor", "data": {}})),
            Event::Other {
                kind: "crystools.monitor".into()
            }
        );
    }

    #[test]
    fn malformed_text_messages_are_errors() {
        assert!(parse_text("not json").unwrap_err().contains("not JSON"));
        assert!(
            parse_text(r#"{"data":{}}"#)
                .unwrap_err()
                .contains("no `type`")
        );
        let e = parse_text(r#"{"type":"execution_start","data":{}}"#).unwrap_err();
        assert_eq!(e, "`execution_start` message without `prompt_id`");
        assert!(parse_text(r#"{"type":"status","data":{}}"#).is_err());
    }

    fn frame(kind: u32, rest: &[&[u8]]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        for part in rest {
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn parses_format_4_previews() {
        let meta = br#"{"node_id": "6", "prompt_id": "p", "display_node_id": "6", "parent_node_id": null, "real_node_id": "6", "image_type": "image/png"}"#;
        let png = b"\x89PNG\r\n\x1a\nrest";
        let bytes = frame(4, &[&(meta.len() as u32).to_be_bytes(), meta, png]);
        assert_eq!(
            parse_binary(&bytes).unwrap(),
            Event::Preview {
                prompt_id: Some("p".into()),
                node_id: Some("6".into()),
                mime: "image/png".into(),
                bytes: png.to_vec()
            }
        );
        let jpeg_meta = br#"{"image_type": "image/jpeg"}"#;
        let bytes = frame(4, &[&(jpeg_meta.len() as u32).to_be_bytes(), jpeg_meta]);
        assert!(
            matches!(parse_binary(&bytes).unwrap(), Event::Preview { prompt_id: None, ref mime, ref bytes, .. } if mime == "image/jpeg" && bytes.is_empty())
        );
    }

    #[test]
    fn parses_legacy_previews_and_texts() {
        assert_eq!(
            parse_binary(&frame(1, &[&2u32.to_be_bytes(), b"png"])).unwrap(),
            Event::Preview {
                prompt_id: None,
                node_id: None,
                mime: "image/png".into(),
                bytes: b"png".to_vec()
            }
        );
        assert!(
            matches!(parse_binary(&frame(1, &[&1u32.to_be_bytes()])).unwrap(), Event::Preview { ref mime, .. } if mime == "image/jpeg")
        );
        assert_eq!(
            parse_binary(&frame(
                3,
                &[&2u32.to_be_bytes(), b"12", "50% done".as_bytes()]
            ))
            .unwrap(),
            Event::Text {
                node_id: "12".into(),
                text: "50% done".into()
            }
        );
        assert_eq!(
            parse_binary(&frame(9, &[b"x"])).unwrap(),
            Event::Other {
                kind: "binary:9".into()
            }
        );
    }

    #[test]
    fn truncated_binary_frames_are_errors_not_panics() {
        assert!(parse_binary(&[]).is_err());
        assert!(parse_binary(&[0, 0, 0]).is_err());
        assert!(parse_binary(&frame(4, &[])).is_err());
        assert!(
            parse_binary(&frame(4, &[&100u32.to_be_bytes(), b"{}"]))
                .unwrap_err()
                .contains("100 bytes of metadata")
        );
        assert!(parse_binary(&frame(4, &[&u32::MAX.to_be_bytes()])).is_err());
        assert!(
            parse_binary(&frame(4, &[&2u32.to_be_bytes(), b"no"]))
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(parse_binary(&frame(3, &[&5u32.to_be_bytes(), b"ab"])).is_err());
        assert!(
            parse_binary(&frame(1, &[&7u32.to_be_bytes()]))
                .unwrap_err()
                .contains("unknown format 7")
        );
        assert!(parse_binary(&frame(1, &[])).is_err());
    }

    /// A fake ComfyUI WebSocket: checks the handshake and the feature negotiation,
    /// pings, sends a status, then a binary frame split in two with a pause longer than
    /// the client's read timeout, then drops the connection without a close frame.
    #[test]
    fn events_over_a_real_socket() {
        use std::io::Write;
        use std::net::TcpListener;
        use std::sync::{Arc, Mutex};
        use tungstenite::handshake::server::{Request, Response};

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let seen = Arc::new(Mutex::new(String::new()));
            let record = Arc::clone(&seen);
            let mut ws = tungstenite::accept_hdr(stream, move |req: &Request, resp: Response| {
                let origin = req.headers().get("origin").is_some();
                *record.lock().unwrap() = format!("{} origin={origin}", req.uri());
                Ok(resp)
            })
            .unwrap();
            let first = ws.read().unwrap();
            ws.send(Message::Ping(b"hi".to_vec().into())).unwrap();
            let pong = ws.read().unwrap();
            ws.send(Message::text(
                r#"{"type":"status","data":{"status":{"exec_info":{"queue_remaining":1}},"sid":"c 1"}}"#,
            ))
            .unwrap();
            std::thread::sleep(Duration::from_millis(300));
            // An unmasked binary frame (type 3: node "7", text "hi") in two pieces.
            let payload = [0, 0, 0, 3, 0, 0, 0, 1, b'7', b'h', b'i'];
            let mut frame = vec![0x82, payload.len() as u8];
            frame.extend_from_slice(&payload);
            let raw = ws.get_mut();
            raw.write_all(&frame[..6]).unwrap();
            raw.flush().unwrap();
            std::thread::sleep(Duration::from_millis(300));
            raw.write_all(&frame[6..]).unwrap();
            raw.flush().unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let handshake = seen.lock().unwrap().clone();
            (handshake, first, pong)
        });

        let mut events = Events::connect(&url, "c 1", Duration::from_millis(100)).unwrap();
        assert_eq!(events.url(), url.trim_end_matches('/'));
        let mut got = Vec::new();
        let mut idle = 0;
        let end = loop {
            match events.next() {
                Ok(Some(e)) => got.push(e),
                Ok(None) => idle += 1,
                Err(e) => break e,
            }
            assert!(idle < 200, "no end after {idle} idle reads: {got:?}");
        };
        let (handshake, first, pong) = server.join().unwrap();
        assert_eq!(handshake, "/ws?clientId=c%201 origin=false");
        assert_eq!(first, Message::text(FEATURE_FLAGS));
        assert_eq!(pong, Message::Pong(b"hi".to_vec().into()));
        assert_eq!(
            got,
            [
                Event::Status { queue_remaining: 1 },
                Event::Text {
                    node_id: "7".into(),
                    text: "hi".into()
                }
            ]
        );
        assert!(idle >= 2, "the pauses must show as Ok(None), got {idle}");
        assert!(matches!(end, ComfyError::Closed { .. }), "{end}");
        assert!(end.is_unreachable());
        assert!(events.next().unwrap_err().is_unreachable());
    }

    #[test]
    fn connecting_to_nothing_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = Events::connect(
            &format!("http://127.0.0.1:{port}"),
            "c",
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        assert!(matches!(
            Events::connect("ws://127.0.0.1:1/ws", "c", Duration::ZERO),
            Err(ComfyError::Url { .. })
        ));
    }

    #[test]
    fn prompt_id_accessor() {
        assert_eq!(
            Event::Start {
                prompt_id: "p".into()
            }
            .prompt_id(),
            Some("p")
        );
        assert_eq!(
            Event::Executing {
                prompt_id: None,
                node: None
            }
            .prompt_id(),
            None
        );
        assert_eq!(Event::Status { queue_remaining: 0 }.prompt_id(), None);
    }
}
