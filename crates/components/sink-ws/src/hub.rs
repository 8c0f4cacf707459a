//! The running hub: listener, accept thread, one writer thread per client.

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes, WebSocket};
use visualpath_sdk::{ComponentError, Record, Result, Sink, SinkHealth, SinkStatus};
use visualpath_sinks::SinkSettings;

use crate::{SlowClient, WsConfig};

/// How long the accept thread sleeps when no connection is waiting.
const ACCEPT_POLL: Duration = Duration::from_millis(10);
/// How often an idle client thread looks for incoming frames (pings, close).
const IDLE_POLL: Duration = Duration::from_millis(50);
/// How often a client thread retries a write the socket did not take.
const BLOCKED_POLL: Duration = Duration::from_millis(2);
/// Bound of the opening handshake (a client that connects and sends nothing).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound of the closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Msg {
    text: Utf8Bytes,
    at: Instant,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Open,
    /// Too slow under `slow_client: disconnect`: close now.
    Kick,
    /// The run ended: deliver what is queued until the deadline, then close.
    Drain(Instant),
}

struct ClientQueue {
    msgs: VecDeque<Msg>,
    mode: Mode,
}

struct Client {
    peer: SocketAddr,
    q: Mutex<ClientQueue>,
    cv: Condvar,
    delivered: AtomicU64,
    skipped: AtomicU64,
}

/// One connected client, as seen by [`WsSink::clients`].
#[derive(Debug, Clone, PartialEq)]
pub struct WsClientInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// Messages handed to the client's socket.
    pub delivered: u64,
    /// Messages dropped for this client by `slow_client: skip`.
    pub skipped: u64,
    /// Messages waiting for this client.
    pub queued: u64,
}

struct Hub {
    what: String,
    cfg: WsConfig,
    status: Arc<SinkStatus>,
    clients: Mutex<Vec<Arc<Client>>>,
    /// Client threads alive (handshaking or connected): bounded by `max_clients`.
    slots: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stop: AtomicBool,
    /// Set by `flush`: the deadline of the drain.
    drain: Mutex<Option<Instant>>,
}

/// The WebSocket sink. [`WsConfig::build`] returns it boxed; tests and embedders can
/// use it directly for [`WsSink::local_addr`] and [`WsSink::clients`].
pub struct WsSink {
    hub: Arc<Hub>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    drain_timeout: Duration,
    closed: bool,
}

impl std::fmt::Debug for WsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsSink").field("addr", &self.addr).finish()
    }
}

impl WsSink {
    /// Validates `cfg`, binds the listener and starts accepting clients.
    pub fn start(cfg: &WsConfig, settings: &SinkSettings) -> Result<Self> {
        let name = settings.name.as_str();
        cfg.validate(name)?;
        let listener = TcpListener::bind(cfg.bind.as_str()).map_err(|e| {
            ComponentError::new(format!(
                "sink `{name}`: cannot listen on `{}` for WebSocket clients: {e}",
                cfg.bind
            ))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| ComponentError::new(format!("sink `{name}`: {e}")))?;
        listener.set_nonblocking(true).map_err(|e| {
            ComponentError::new(format!("sink `{name}`: cannot configure `{addr}`: {e}"))
        })?;
        let what = format!("websocket {addr}");
        let hub = Arc::new(Hub {
            what: what.clone(),
            cfg: cfg.clone(),
            status: SinkStatus::new(),
            clients: Mutex::new(Vec::new()),
            slots: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            drain: Mutex::new(None),
        });
        let h = hub.clone();
        let accept = std::thread::Builder::new()
            .name(format!("ws accept {addr}"))
            .spawn(move || accept_loop(&h, &listener))
            .map_err(|e| ComponentError::new(format!("{what}: cannot start accept thread: {e}")))?;
        tracing::info!(sink = name, %addr, path = cfg.path.as_deref().unwrap_or("*"), "WebSocket sink listening");
        Ok(Self {
            hub,
            addr,
            accept: Some(accept),
            drain_timeout: settings.retry.drain_timeout.get(),
            closed: false,
        })
    }

    /// The address the listener is bound to (the actual port when `bind` used port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connected clients and their counters.
    pub fn clients(&self) -> Vec<WsClientInfo> {
        lock(&self.hub.clients)
            .iter()
            .map(|c| WsClientInfo {
                peer: c.peer,
                delivered: c.delivered.load(Ordering::Relaxed),
                skipped: c.skipped.load(Ordering::Relaxed),
                queued: lock(&c.q).msgs.len() as u64,
            })
            .collect()
    }

    /// Stops accepting, tells every client to close (after draining until `deadline`),
    /// and joins every thread.
    fn close(&mut self, deadline: Instant) {
        if self.closed {
            return;
        }
        self.closed = true;
        *lock(&self.hub.drain) = Some(deadline);
        self.hub.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        for c in lock(&self.hub.clients).iter() {
            let mut q = lock(&c.q);
            if q.mode == Mode::Open {
                q.mode = Mode::Drain(deadline);
            }
            drop(q);
            c.cv.notify_all();
        }
        let threads = std::mem::take(&mut *lock(&self.hub.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Sink for WsSink {
    fn write(&mut self, record: &Record) -> Result<()> {
        if self.closed {
            return Err(ComponentError::new(format!(
                "{}: sink already closed",
                self.hub.what
            )));
        }
        let hub = &self.hub;
        let clients = lock(&hub.clients);
        if clients.is_empty() {
            SinkStatus::bump(&hub.status.skipped);
            return Ok(());
        }
        // Serialized once; every client's message shares the same buffer.
        let text: Utf8Bytes = serde_json::to_string(record)
            .map_err(|e| {
                ComponentError::new(format!("cannot encode a {} record: {e}", record.kind()))
            })?
            .into();
        let at = Instant::now();
        for c in clients.iter() {
            push(
                hub,
                c,
                Msg {
                    text: text.clone(),
                    at,
                },
            );
        }
        drop(clients);
        SinkStatus::bump(&hub.status.sent);
        hub.status.set_health(SinkHealth::Healthy);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.close(Instant::now() + self.drain_timeout);
        Ok(())
    }

    fn status(&self) -> Option<Arc<SinkStatus>> {
        Some(self.hub.status.clone())
    }
}

impl Drop for WsSink {
    fn drop(&mut self) {
        self.close(Instant::now());
    }
}

/// Queues `msg` for `c` without blocking, applying the slow-client policy.
fn push(hub: &Hub, c: &Client, msg: Msg) {
    let st = &hub.status;
    let mut q = lock(&c.q);
    if q.mode != Mode::Open {
        SinkStatus::bump(&st.dropped);
        return;
    }
    if q.msgs.len() >= hub.cfg.client_queue {
        match hub.cfg.slow_client {
            SlowClient::Skip => {
                q.msgs.pop_front();
                st.queued.fetch_sub(1, Ordering::Relaxed);
                SinkStatus::bump(&st.dropped);
                let n = c.skipped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_power_of_two() {
                    tracing::warn!(sink = %hub.what, client = %c.peer, skipped = n, "slow WebSocket client: skipping its oldest messages");
                }
            }
            SlowClient::Disconnect => {
                let n = q.msgs.len() as u64;
                q.msgs.clear();
                q.mode = Mode::Kick;
                st.queued.fetch_sub(n, Ordering::Relaxed);
                st.dropped.fetch_add(n + 1, Ordering::Relaxed);
                drop(q);
                c.cv.notify_one();
                return;
            }
        }
    }
    q.msgs.push_back(msg);
    st.queued.fetch_add(1, Ordering::Relaxed);
    drop(q);
    c.cv.notify_one();
}

fn accept_loop(hub: &Arc<Hub>, listener: &TcpListener) {
    while !hub.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => admit(hub, stream, peer),
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of file descriptors and the like: log, back off, keep serving.
                hub.status
                    .set_error(format!("{}: accept failed: {e}", hub.what));
                tracing::warn!(sink = %hub.what, "accept failed: {e}");
                std::thread::sleep(ACCEPT_POLL * 10);
            }
        }
    }
}

fn admit(hub: &Arc<Hub>, mut stream: TcpStream, peer: SocketAddr) {
    lock(&hub.threads).retain(|t| !t.is_finished());
    if hub.slots.load(Ordering::SeqCst) >= hub.cfg.max_clients {
        tracing::warn!(sink = %hub.what, client = %peer, max = hub.cfg.max_clients, "WebSocket client refused: max_clients reached");
        let _ = stream.set_nonblocking(true);
        let _ = stream.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    hub.slots.fetch_add(1, Ordering::SeqCst);
    let h = hub.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("ws client {peer}"))
        .spawn(move || {
            serve(&h, stream, peer);
            h.slots.fetch_sub(1, Ordering::SeqCst);
        });
    match spawned {
        Ok(t) => lock(&hub.threads).push(t),
        Err(e) => {
            hub.slots.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(sink = %hub.what, client = %peer, "cannot start a client thread: {e}");
        }
    }
}

/// Why a client thread stops.
enum End {
    /// We close the connection with this code and reason.
    Close(CloseCode, &'static str),
    /// The connection is gone (the client closed it, or an I/O error).
    Gone(String),
}

fn handshake(hub: &Hub, stream: TcpStream) -> std::result::Result<WebSocket<TcpStream>, String> {
    let _ = stream.set_nodelay(true);
    stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)))
        .and_then(|()| stream.set_write_timeout(Some(HANDSHAKE_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let want = hub.cfg.path.clone();
    let check = move |req: &tungstenite::handshake::server::Request,
                      resp: tungstenite::handshake::server::Response| {
        match &want {
            Some(p) if req.uri().path() != p => {
                let mut r = tungstenite::handshake::server::ErrorResponse::new(Some(format!(
                    "no WebSocket at this path; use {p}\n"
                )));
                *r.status_mut() = tungstenite::http::StatusCode::NOT_FOUND;
                Err(r)
            }
            _ => Ok(resp),
        }
    };
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let ws = tungstenite::accept_hdr_with_config(stream, check, Some(config))
        .map_err(|e| e.to_string())?;
    ws.get_ref()
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

fn serve(hub: &Hub, stream: TcpStream, peer: SocketAddr) {
    let mut ws = match handshake(hub, stream) {
        Ok(ws) => ws,
        Err(e) => {
            tracing::debug!(sink = %hub.what, client = %peer, "WebSocket handshake failed: {e}");
            return;
        }
    };
    let client = Arc::new(Client {
        peer,
        q: Mutex::new(ClientQueue {
            msgs: VecDeque::with_capacity(hub.cfg.client_queue.min(1024)),
            mode: Mode::Open,
        }),
        cv: Condvar::new(),
        delivered: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
    });
    {
        let mut clients = lock(&hub.clients);
        // Registered under the lock `close` takes to tell clients to drain, so a client
        // that finishes its handshake during shutdown sees the drain deadline.
        if let Some(d) = *lock(&hub.drain) {
            lock(&client.q).mode = Mode::Drain(d);
        }
        clients.push(client.clone());
        hub.status
            .peers
            .store(clients.len() as u64, Ordering::Relaxed);
    }
    tracing::info!(sink = %hub.what, client = %peer, "WebSocket client connected");

    let end = run(hub, &client, &mut ws);

    {
        let mut clients = lock(&hub.clients);
        clients.retain(|c| !Arc::ptr_eq(c, &client));
        hub.status
            .peers
            .store(clients.len() as u64, Ordering::Relaxed);
    }
    // No more pushes can reach this client: what is left was not delivered.
    let left = {
        let mut q = lock(&client.q);
        let n = q.msgs.len() as u64;
        q.msgs.clear();
        n
    };
    hub.status.queued.fetch_sub(left, Ordering::Relaxed);
    hub.status.dropped.fetch_add(left, Ordering::Relaxed);
    let skipped = client.skipped.load(Ordering::Relaxed);
    let delivered = client.delivered.load(Ordering::Relaxed);
    match end {
        End::Close(code, reason) => {
            if code == CloseCode::Policy {
                let msg = format!("{}: client {peer} disconnected: {reason}", hub.what);
                tracing::warn!(sink = %hub.what, client = %peer, delivered, skipped, "WebSocket client disconnected: {reason}");
                hub.status.set_error(msg);
            } else {
                tracing::info!(sink = %hub.what, client = %peer, delivered, skipped, "WebSocket client closed: {reason}");
            }
            close_gracefully(&mut ws, code, reason);
        }
        End::Gone(why) => {
            tracing::info!(sink = %hub.what, client = %peer, delivered, skipped, "WebSocket client left: {why}");
        }
    }
}

/// The client's loop: write what is queued, answer pings, notice a close.
fn run(hub: &Hub, c: &Client, ws: &mut WebSocket<TcpStream>) -> End {
    let st = &hub.status;
    // Messages written to the socket layer but not yet fully flushed.
    let mut inflight: Vec<Instant> = Vec::new();
    let mut blocked_since: Option<Instant> = None;
    let mut batch: Vec<Msg> = Vec::new();
    loop {
        // Wait for work (or a moment, to look at incoming frames).
        {
            let mut q = lock(&c.q);
            let pause = if blocked_since.is_some() {
                Some(BLOCKED_POLL)
            } else if q.msgs.is_empty() && q.mode == Mode::Open {
                Some(IDLE_POLL)
            } else {
                None
            };
            if let Some(p) = pause {
                q = c.cv.wait_timeout(q, p).unwrap_or_else(|e| e.into_inner()).0;
            }
            match q.mode {
                Mode::Kick => {
                    st.dropped
                        .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                    return End::Close(
                        CloseCode::Policy,
                        "too slow: its queue overflowed (slow_client: disconnect)",
                    );
                }
                Mode::Drain(deadline) => {
                    if Instant::now() >= deadline
                        || (q.msgs.is_empty() && inflight.is_empty() && blocked_since.is_none())
                    {
                        st.dropped
                            .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                        return End::Close(CloseCode::Away, "the run ended");
                    }
                }
                Mode::Open => {}
            }
            if blocked_since.is_none() && !q.msgs.is_empty() {
                batch.extend(q.msgs.drain(..));
                st.queued.fetch_sub(batch.len() as u64, Ordering::Relaxed);
            }
        }

        // Write the batch, then flush.
        for m in batch.drain(..) {
            inflight.push(m.at);
            match ws.write(Message::Text(m.text)) {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => {
                    st.dropped
                        .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                    return End::Gone(e.to_string());
                }
            }
        }
        match ws.flush() {
            Ok(()) => {
                blocked_since = None;
                let now = Instant::now();
                for at in inflight.drain(..) {
                    st.latency.record(
                        u64::try_from(now.duration_since(at).as_nanos()).unwrap_or(u64::MAX),
                    );
                    SinkStatus::bump(&c.delivered);
                }
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                let since = *blocked_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= hub.cfg.write_timeout.get() {
                    st.dropped
                        .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                    return End::Close(
                        CloseCode::Policy,
                        "stalled: its socket accepted no data for write_timeout",
                    );
                }
            }
            Err(e) => {
                st.dropped
                    .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                return End::Gone(e.to_string());
            }
        }

        // Incoming frames: pings are answered by tungstenite on the next flush; a close
        // frame is answered and ends the connection.
        loop {
            match ws.read() {
                Ok(Message::Close(_)) => {
                    let _ = ws.flush();
                    st.dropped
                        .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                    return End::Gone("it closed the connection".into());
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => {
                    st.dropped
                        .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                    return End::Gone(e.to_string());
                }
            }
        }
    }
}

/// Sends a close frame and waits (boundedly) for the client's reply.
fn close_gracefully(ws: &mut WebSocket<TcpStream>, code: CloseCode, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    if ws.close(Some(frame)).is_err() {
        return;
    }
    let until = Instant::now() + CLOSE_TIMEOUT;
    while Instant::now() < until {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                let _ = ws.flush();
                std::thread::sleep(BLOCKED_POLL);
            }
            Err(_) => return,
        }
    }
}
