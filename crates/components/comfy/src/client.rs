//! [`Client`]: blocking HTTP calls to one ComfyUI server.

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use serde_json::{Value, json};
use ureq::Agent;
use ureq::http::Response;

use crate::error::{ComfyError, io_reason, one_line, secs};
use crate::history::{self, HistoryEntry, OutputItem};
use crate::queue::{self, PromptRequest, QueueState, Submitted};
use crate::stats::{self, SystemStats};
use crate::url::{BaseUrl, encode, query};

/// The default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a JSON answer may hold (the node catalogue of a server with many custom nodes
/// is several MB; this only guards against a runaway body).
const MAX_JSON_BYTES: u64 = 256 * 1024 * 1024;

/// A blocking client for one ComfyUI server (`http://host:port`). Cheap to clone; clones
/// share a connection pool. Every call is one HTTP request with [`Client::with_timeout`]
/// as its deadline (downloads: as the longest silence, so big videos can stream).
#[derive(Clone)]
pub struct Client {
    base: BaseUrl,
    agent: Agent,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.base.base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A response of which only the status and body matter.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Client {
    /// A client for `url`, which must be `http://host[:port][/]` (no TLS, no path); the
    /// trailing `/` is dropped. Nothing is sent yet.
    pub fn new(url: &str) -> Result<Client, ComfyError> {
        let base = BaseUrl::parse(url)?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .user_agent("visualpath-comfy")
            .build();
        Ok(Client {
            base,
            agent: Agent::new_with_config(config),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same client with another per-request timeout (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The base URL, `http://host:port`.
    pub fn url(&self) -> &str {
        &self.base.base
    }

    /// `GET /api/system_stats`: versions, RAM, devices.
    pub fn system_stats(&self) -> Result<SystemStats, ComfyError> {
        let path = "/api/system_stats";
        let v = self.get_json(path)?;
        stats::parse(&v).map_err(|e| self.protocol(path, e))
    }

    /// `GET /api/object_info`: the node catalogue, raw (class name → definition).
    pub fn object_info(&self) -> Result<Value, ComfyError> {
        let path = "/api/object_info";
        let v = self.get_json(path)?;
        if !v.is_object() {
            return Err(self.protocol(
                path,
                format!("expected an object, got {}", crate::json::kind(&v)),
            ));
        }
        Ok(v)
    }

    /// `GET /api/models`: the model folder names (`checkpoints`, `loras`, ...).
    pub fn model_folders(&self) -> Result<Vec<String>, ComfyError> {
        self.string_list("/api/models")
    }

    /// `GET /api/models/{folder}`: the model files in one folder (an unknown folder is
    /// `Http { status: 404 }`).
    pub fn models(&self, folder: &str) -> Result<Vec<String>, ComfyError> {
        self.string_list(&format!("/api/models/{}", encode(folder)))
    }

    /// `GET /api/queue`: the running prompt and the pending ones (sorted by number).
    pub fn queue(&self) -> Result<QueueState, ComfyError> {
        let path = "/api/queue";
        let v = self.get_json(path)?;
        queue::parse_queue(&v).map_err(|e| self.protocol(path, e))
    }

    /// `POST /api/prompt`. A 400 is [`ComfyError::Rejected`] with a one-line summary of
    /// the error and each node's errors. An accepted prompt may still carry
    /// `node_errors` for outputs that will not run ([`Submitted::has_node_errors`]).
    pub fn submit(&self, request: &PromptRequest<'_>) -> Result<Submitted, ComfyError> {
        let path = "/api/prompt";
        let answer = self.post(path, &request.body())?;
        match answer.status {
            200..=299 => {
                let v = self.parse_json(path, &answer.body)?;
                queue::parse_submitted(&v).map_err(|e| self.protocol(path, e))
            }
            400 => match serde_json::from_slice::<Value>(&answer.body) {
                Ok(v) => Err(ComfyError::Rejected {
                    url: self.url().to_string(),
                    message: queue::rejection_summary(&v),
                }),
                Err(_) => Err(self.http("POST", path, &answer)),
            },
            _ => Err(self.http("POST", path, &answer)),
        }
    }

    /// `GET /api/history/{prompt_id}`: `None` while the prompt is pending or running, or
    /// when the server does not know it (never submitted, deleted, or the server
    /// restarted).
    pub fn history(&self, prompt_id: &str) -> Result<Option<HistoryEntry>, ComfyError> {
        let path = format!("/api/history/{}", encode(prompt_id));
        let v = self.get_json(&path)?;
        let Value::Object(map) = &v else {
            return Err(self.protocol(
                &path,
                format!("expected an object, got {}", crate::json::kind(&v)),
            ));
        };
        match map.get(prompt_id) {
            None => Ok(None),
            Some(entry) => history::parse_entry(entry)
                .map(Some)
                .map_err(|e| self.protocol(&path, e)),
        }
    }

    /// `GET /api/view?filename=&subfolder=&type=`: streams one output file into `to`
    /// (bounded memory, for large videos). Returns the bytes written and the MIME type
    /// the server guessed. A missing file is `Http { status: 404 }`.
    pub fn download(
        &self,
        item: &OutputItem,
        to: &mut dyn Write,
    ) -> Result<(u64, Option<String>), ComfyError> {
        let path = "/api/view";
        let url = format!(
            "{}{path}{}",
            self.url(),
            query(&[
                ("filename", &item.filename),
                ("subfolder", &item.subfolder),
                ("type", &item.file_type),
            ])
        );
        let t = Some(self.timeout);
        let mut response = self
            .agent
            .get(&url)
            .config()
            .timeout_global(None)
            .timeout_connect(t)
            .timeout_send_request(t)
            .timeout_recv_response(t)
            .timeout_per_read(t)
            .build()
            .call()
            .map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = read_limited(&mut response, 64 * 1024).unwrap_or_default();
            return Err(self.http("GET", path, &Answer { status, body }));
        }
        let mime = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        let what = if item.subfolder.is_empty() {
            item.filename.clone()
        } else {
            format!("{}/{}", item.subfolder, item.filename)
        };
        let mut reader = response.body_mut().as_reader();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ComfyError::connect(
                        self.url(),
                        format!(
                            "download of {what} broke off after {total} bytes: {}",
                            io_reason(&e, self.timeout)
                        ),
                    ));
                }
            };
            to.write_all(&buf[..n]).map_err(|e| ComfyError::Write {
                url: self.url().to_string(),
                what: what.clone(),
                reason: e.to_string(),
            })?;
            total += n as u64;
        }
        Ok((total, mime))
    }

    /// `POST /api/interrupt {"prompt_id": id}`: stops `prompt_id` if it is the one
    /// running (cooperatively: the current node finishes first), otherwise does nothing.
    /// Never sends the global interrupt.
    pub fn interrupt(&self, prompt_id: &str) -> Result<(), ComfyError> {
        self.post_ok("/api/interrupt", &json!({ "prompt_id": prompt_id }))
    }

    /// `POST /api/queue {"delete": ids}`: removes pending prompts. Running prompts and
    /// unknown ids are silently ignored by the server (use [`Client::interrupt`]).
    pub fn delete_pending(&self, prompt_ids: &[&str]) -> Result<(), ComfyError> {
        if prompt_ids.is_empty() {
            return Ok(());
        }
        self.post_ok("/api/queue", &json!({ "delete": prompt_ids }))
    }

    // -- plumbing ------------------------------------------------------------------------

    fn get(&self, path: &str) -> Result<Answer, ComfyError> {
        tracing::trace!(url = %self.url(), path, "GET");
        let mut response = self
            .agent
            .get(format!("{}{path}", self.url()))
            .config()
            .timeout_global(Some(self.timeout))
            .build()
            .call()
            .map_err(|e| self.transport(e))?;
        self.answer(&mut response)
    }

    fn post(&self, path: &str, body: &Value) -> Result<Answer, ComfyError> {
        tracing::trace!(url = %self.url(), path, "POST");
        let bytes = serde_json::to_vec(body)
            .map_err(|e| self.protocol(path, format!("cannot encode the request ({e})")))?;
        let mut response = self
            .agent
            .post(format!("{}{path}", self.url()))
            .header("Content-Type", "application/json")
            .config()
            .timeout_global(Some(self.timeout))
            .build()
            .send(&bytes[..])
            .map_err(|e| self.transport(e))?;
        self.answer(&mut response)
    }

    fn answer(&self, response: &mut Response<ureq::Body>) -> Result<Answer, ComfyError> {
        let status = response.status().as_u16();
        let body = read_limited(response, MAX_JSON_BYTES).map_err(|e| self.transport(e))?;
        Ok(Answer { status, body })
    }

    fn post_ok(&self, path: &str, body: &Value) -> Result<(), ComfyError> {
        let answer = self.post(path, body)?;
        if (200..300).contains(&answer.status) {
            Ok(())
        } else {
            Err(self.http("POST", path, &answer))
        }
    }

    fn get_json(&self, path: &str) -> Result<Value, ComfyError> {
        let answer = self.get(path)?;
        if !(200..300).contains(&answer.status) {
            return Err(self.http("GET", path, &answer));
        }
        self.parse_json(path, &answer.body)
    }

    fn parse_json(&self, path: &str, body: &[u8]) -> Result<Value, ComfyError> {
        serde_json::from_slice(body).map_err(|e| {
            self.protocol(
                path,
                format!(
                    "not JSON ({e}): {}",
                    one_line(&String::from_utf8_lossy(body), 120)
                ),
            )
        })
    }

    fn string_list(&self, path: &str) -> Result<Vec<String>, ComfyError> {
        let v = self.get_json(path)?;
        let list = v.as_array().ok_or_else(|| {
            self.protocol(
                path,
                format!("expected an array of names, got {}", crate::json::kind(&v)),
            )
        })?;
        list.iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    self.protocol(
                        path,
                        format!("expected names, got {}", crate::json::kind(x)),
                    )
                })
            })
            .collect()
    }

    fn transport(&self, e: ureq::Error) -> ComfyError {
        let reason = match e {
            ureq::Error::Io(io) => io_reason(&io, self.timeout),
            ureq::Error::Timeout(_) => format!("no answer within {}", secs(self.timeout)),
            ureq::Error::HostNotFound => "cannot resolve the host".into(),
            ureq::Error::ConnectionFailed => "connection failed".into(),
            other => {
                return self.protocol("", format!("HTTP: {}", one_line(&other.to_string(), 200)));
            }
        };
        ComfyError::connect(self.url(), reason)
    }

    fn protocol(&self, path: &str, what: impl Into<String>) -> ComfyError {
        let what = what.into();
        if path.is_empty() {
            ComfyError::protocol(self.url(), what)
        } else {
            ComfyError::protocol(self.url(), format!("{path}: {what}"))
        }
    }

    fn http(&self, method: &'static str, path: &str, answer: &Answer) -> ComfyError {
        ComfyError::Http {
            url: self.url().to_string(),
            method,
            path: path.to_string(),
            status: answer.status,
            body: one_line(&String::from_utf8_lossy(&answer.body), 300),
        }
    }
}

/// The whole body, at most `limit` bytes.
fn read_limited(response: &mut Response<ureq::Body>, limit: u64) -> Result<Vec<u8>, ureq::Error> {
    response.body_mut().with_config().limit(limit).read_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::thread;

    /// A one-shot HTTP server answering the first request with `status`, `content_type`
    /// and `body`; returns the request line and headers it received.
    fn serve_once(
        status: &str,
        content_type: &str,
        body: &'static [u8],
    ) -> (String, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let status = status.to_string();
        let content_type = content_type.to_string();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let mut body_in = vec![0u8; length];
            reader.read_exact(&mut body_in).unwrap();
            head.push_str(&String::from_utf8_lossy(&body_in));
            let mut out = stream;
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            out.write_all(reply.as_bytes()).unwrap();
            out.write_all(body).unwrap();
            head
        });
        (url, handle)
    }

    #[test]
    fn new_validates_and_strips_the_slash() {
        assert_eq!(
            Client::new("http://127.0.0.1:8188/").unwrap().url(),
            "http://127.0.0.1:8188"
        );
        assert!(matches!(
            Client::new("https://x:1"),
            Err(ComfyError::Url { .. })
        ));
    }

    #[test]
    fn a_400_with_plain_text_is_http_and_a_500_too() {
        let (url, server) = serve_once("400 Bad Request", "text/plain", b"bad\nthing");
        let prompt = json!({});
        let e = Client::new(&url)
            .unwrap()
            .submit(&PromptRequest::new(&prompt, "c", "p"))
            .unwrap_err();
        server.join().unwrap();
        assert_eq!(
            e,
            ComfyError::Http {
                url: url.clone(),
                method: "POST",
                path: "/api/prompt".into(),
                status: 400,
                body: "bad thing".into()
            }
        );
        let (url, server) = serve_once(
            "500 Internal Server Error",
            "text/plain",
            b"500 Internal Server Error\n\nServer got itself in trouble",
        );
        let e = Client::new(&url)
            .unwrap()
            .submit(&PromptRequest::new(&prompt, "c", "p"))
            .unwrap_err();
        server.join().unwrap();
        assert!(matches!(e, ComfyError::Http { status: 500, .. }), "{e}");
        assert!(!e.is_unreachable());
        assert!(
            e.to_string().contains("Server got itself in trouble"),
            "{e}"
        );
    }

    #[test]
    fn a_400_with_json_is_rejected_with_a_summary() {
        let body = br#"{"error": {"type": "invalid_prompt", "message": "Cannot execute because node Nope does not exist.", "details": "Node ID '#1'", "extra_info": {}}, "node_errors": {}}"#;
        let (url, server) = serve_once("400 Bad Request", "application/json", body);
        let prompt = json!({"1": {"class_type": "Nope", "inputs": {}}});
        let targets = vec!["1".to_string()];
        let mut request = PromptRequest::new(&prompt, "client-1", "prompt-1");
        request.targets = Some(&targets);
        let e = Client::new(&url).unwrap().submit(&request).unwrap_err();
        let sent = server.join().unwrap();
        assert!(sent.starts_with("POST /api/prompt HTTP/1.1"), "{sent}");
        assert!(!sent.to_ascii_lowercase().contains("origin:"), "{sent}");
        let body: Value = serde_json::from_str(sent.split("\r\n").last().unwrap()).unwrap();
        assert_eq!(body["client_id"], "client-1");
        assert_eq!(body["prompt_id"], "prompt-1");
        assert_eq!(body["partial_execution_targets"], json!(["1"]));
        assert_eq!(
            e.to_string(),
            format!(
                "ComfyUI at {url} rejected the prompt: invalid_prompt: Cannot execute because node Nope does not exist. (Node ID '#1')"
            )
        );
    }

    #[test]
    fn non_json_success_is_a_protocol_error() {
        let (url, server) = serve_once("200 OK", "text/html", b"<html>");
        let e = Client::new(&url).unwrap().queue().unwrap_err();
        server.join().unwrap();
        assert!(matches!(e, ComfyError::Protocol { .. }), "{e}");
        assert!(e.to_string().contains("/api/queue: not JSON"), "{e}");
    }

    #[test]
    fn download_encodes_the_query_and_streams() {
        let (url, server) = serve_once("200 OK", "image/png; charset=binary", b"\x89PNG....");
        let item = OutputItem {
            node: "4".into(),
            kind: "images".into(),
            filename: "a b&c.png".into(),
            subfolder: "orch/x".into(),
            file_type: "output".into(),
            animated: false,
        };
        let mut out = Vec::new();
        let got = Client::new(&url)
            .unwrap()
            .download(&item, &mut out)
            .unwrap();
        let sent = server.join().unwrap();
        assert_eq!(got, (8, Some("image/png".to_string())));
        assert_eq!(out, b"\x89PNG....");
        assert!(
            sent.starts_with(
                "GET /api/view?filename=a%20b%26c.png&subfolder=orch%2Fx&type=output HTTP/1.1"
            ),
            "{sent}"
        );
    }

    #[test]
    fn a_failing_writer_is_a_write_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let (url, server) = serve_once("200 OK", "image/png", b"data");
        let item = OutputItem {
            node: "4".into(),
            kind: "images".into(),
            filename: "a.png".into(),
            subfolder: String::new(),
            file_type: "output".into(),
            animated: false,
        };
        let e = Client::new(&url)
            .unwrap()
            .download(&item, &mut Full)
            .unwrap_err();
        server.join().unwrap();
        assert!(
            matches!(e, ComfyError::Write { ref what, .. } if what == "a.png"),
            "{e}"
        );
        assert!(!e.is_unreachable());
    }

    #[test]
    fn nobody_listening_is_unreachable() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = Client::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let e = client.system_stats().unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(e.to_string().contains("refused"), "{e}");
    }

    #[test]
    fn silence_is_a_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client = Client::new(&url)
            .unwrap()
            .with_timeout(Duration::from_millis(300));
        let e = client.queue().unwrap_err();
        drop(listener);
        assert!(e.is_unreachable(), "{e}");
        assert!(e.to_string().contains("no answer within 0.3 s"), "{e}");
    }
}
