//! A minimal HTTP/1.1 receiver on std::net for the webhook tests and benchmark: reads
//! the request line, headers and a `Content-Length` body, answers as its script says,
//! and keeps the connection open for the next request.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What to answer to the n-th request (0-based, counted over all connections).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reply {
    /// This status, empty body.
    Status(u16),
    /// This status and a `Retry-After: <secs>` header.
    RetryAfter(u16, u64),
    /// Never answer (until the client gives up and closes).
    Hang,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered (0 for `Hang`).
    pub status: u16,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Script = Box<dyn Fn(usize) -> Reply + Send + Sync>;

struct Shared {
    script: Script,
    requests: Mutex<Vec<Request>>,
    stop: AtomicBool,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on a free port of 127.0.0.1.
    pub fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        Self::bind("127.0.0.1:0", script)
    }

    /// Listens on `addr`.
    pub fn bind(addr: &str, script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind(addr).expect("receiver binds");
        listener.set_nonblocking(true).unwrap();
        let local = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let s = s.clone();
                        conns.push(std::thread::spawn(move || serve(&s, stream)));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => panic!("receiver accept: {e}"),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Self {
            addr: local,
            shared,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(s: &Shared, stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    // Bounded reads so a stopped receiver's threads end.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut out = stream.try_clone().expect("clone stream");
    let mut r = BufReader::new(stream);
    loop {
        let Some((path, headers)) = read_head(s, &mut r) else {
            return;
        };
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if read_exact_patiently(s, &mut r, &mut body).is_err() {
            return;
        }
        let at = Instant::now();
        let mut reqs = s.requests.lock().unwrap();
        let n = reqs.len();
        let reply = (s.script)(n);
        let status = match reply {
            Reply::Status(c) | Reply::RetryAfter(c, _) => c,
            Reply::Hang => 0,
        };
        reqs.push(Request {
            path,
            headers,
            body,
            status,
            at,
        });
        drop(reqs);
        let resp = match reply {
            Reply::Status(c) => format!("HTTP/1.1 {c} X\r\nContent-Length: 0\r\n\r\n"),
            Reply::RetryAfter(c, secs) => {
                format!("HTTP/1.1 {c} X\r\nRetry-After: {secs}\r\nContent-Length: 0\r\n\r\n")
            }
            Reply::Hang => {
                // Wait until the client closes (or the receiver stops).
                let mut b = [0u8; 1];
                loop {
                    if s.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    match r.read(&mut b) {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(e) if is_timeout(&e) => {}
                        Err(_) => return,
                    }
                }
            }
        };
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads a request head; `None` at the end of the connection or when stopping.
fn read_head(s: &Shared, r: &mut BufReader<TcpStream>) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    let mut lines = Vec::new();
    loop {
        line.clear();
        loop {
            match r.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => break,
                Err(e) if is_timeout(&e) => {
                    if s.stop.load(Ordering::SeqCst) {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
        let l = line.trim_end_matches(['\r', '\n']).to_string();
        if l.is_empty() {
            break;
        }
        lines.push(l);
    }
    let first = lines.first()?.clone();
    let path = first.split(' ').nth(1).unwrap_or("").to_string();
    let headers = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((path, headers))
}

fn read_exact_patiently(
    s: &Shared,
    r: &mut BufReader<TcpStream>,
    buf: &mut [u8],
) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(e) if is_timeout(&e) => {
                if s.stop.load(Ordering::SeqCst) {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
