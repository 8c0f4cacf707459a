//! The outbox's [`Transport`]: one rumqttc client per connection, its event loop on a
//! thread of its own, PUBACKs counted per connection.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rumqttc::{
    Client, ConnectReturnCode, ConnectionError, Event, Incoming, LastWill, MqttOptions, Outgoing,
    QoS,
};
use visualpath_sdk::{ComponentError, Record, Result};
use visualpath_sinks::Transport;

use crate::state::CameraState;
use crate::{BrokerUrl, state_topic, status_topic, topic_for};

/// Requests the client may hold before its event loop takes them (QoS 0 backlog).
const CHANNEL: usize = 256;
/// How long a clean shutdown waits for the `offline` status to be acknowledged.
const GOODBYE: Duration = Duration::from_secs(1);

pub(crate) struct Options {
    pub broker: BrokerUrl,
    pub prefix: String,
    pub qos: QoS,
    pub client_id: String,
    pub keep_alive: Duration,
    pub connect_timeout: Duration,
    pub ack_timeout: Duration,
    pub state: bool,
    pub max_packet_bytes: usize,
    pub what: String,
}

/// What the event loop thread reports about one connection.
#[derive(Default)]
struct Progress {
    connected: bool,
    /// The connection is over (error, refusal or client gone); no more progress.
    dead: Option<ComponentError>,
    /// QoS 1 PUBACKs received on this connection.
    acked: u64,
    /// Publishes (any QoS) written by the event loop on this connection.
    written: u64,
}

struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Progress)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

/// One connection: a client and the counts of what it issued.
struct Conn {
    client: Client,
    shared: Arc<Shared>,
    /// QoS 1 publishes issued on this connection.
    issued_acked: u64,
    /// Publishes of any QoS issued on this connection.
    issued: u64,
}

pub(crate) struct MqttTransport {
    opt: Options,
    conn: Option<Conn>,
    states: HashMap<String, CameraState>,
    payload: Vec<u8>,
}

impl MqttTransport {
    pub(crate) fn new(opt: Options) -> Self {
        Self {
            opt,
            conn: None,
            states: HashMap::new(),
            payload: Vec::with_capacity(1024),
        }
    }

    fn connect(&self) -> Result<Conn> {
        let o = &self.opt;
        let mut mo = MqttOptions::new(o.client_id.clone(), o.broker.host.clone(), o.broker.port);
        mo.set_keep_alive(o.keep_alive)
            .set_clean_session(true)
            .set_max_packet_size(o.max_packet_bytes, o.max_packet_bytes)
            .set_last_will(LastWill::new(
                status_topic(&o.prefix),
                "offline",
                QoS::AtLeastOnce,
                true,
            ));
        if let Some(user) = &o.broker.user {
            mo.set_credentials(user.clone(), o.broker.password.clone().unwrap_or_default());
        }
        let (client, mut connection) = Client::new(mo, CHANNEL);
        connection
            .eventloop
            .network_options
            .set_connection_timeout(o.connect_timeout.as_secs().max(1));
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress::default()),
            changed: Condvar::new(),
        });
        let s = shared.clone();
        let what = o.what.clone();
        std::thread::Builder::new()
            .name(format!("mqtt {}", o.broker.port))
            .spawn(move || event_loop(&mut connection, &s, &what))
            .map_err(|e| {
                ComponentError::new(format!("cannot start the MQTT event loop thread: {e}"))
            })?;
        let mut conn = Conn {
            client,
            shared,
            issued_acked: 0,
            issued: 0,
        };
        let deadline = Instant::now() + o.connect_timeout + Duration::from_secs(1);
        conn.wait(deadline, |p| p.connected)?;
        conn.publish(
            &status_topic(&o.prefix),
            QoS::AtLeastOnce,
            true,
            b"online".to_vec(),
        )?;
        tracing::info!(sink = %o.what, "connected");
        Ok(conn)
    }

    fn try_send(&mut self, record: &Record) -> Result<bool> {
        self.payload.clear();
        serde_json::to_writer(&mut self.payload, record)
            .map_err(|e| ComponentError::new(format!("cannot encode the record as JSON: {e}")))?;
        if self.payload.len() + 1024 > self.opt.max_packet_bytes {
            return Err(ComponentError::new(format!(
                "record of {} bytes is larger than max_packet_bytes ({})",
                self.payload.len(),
                self.opt.max_packet_bytes
            )));
        }
        if self
            .conn
            .as_ref()
            .is_none_or(|c| c.shared.lock().dead.is_some())
        {
            self.conn = None;
            self.conn = Some(self.connect()?);
        }
        let prefix = &self.opt.prefix;
        let qos = self.opt.qos;
        let state = match (record, self.opt.state) {
            (Record::Event(e), true) => {
                let st = self.states.entry(e.source.to_string()).or_default();
                st.apply(e);
                Some((
                    state_topic(prefix, e.source.as_ref()),
                    serde_json::to_vec(st)
                        .map_err(|e| ComponentError::new(format!("state JSON: {e}")))?,
                ))
            }
            _ => None,
        };
        let conn = self.conn.as_mut().expect("connected above");
        conn.publish(&topic_for(prefix, record), qos, false, self.payload.clone())?;
        if let Some((topic, body)) = state {
            conn.publish(&topic, qos, true, body)?;
        }
        if qos == QoS::AtLeastOnce {
            let target = conn.issued_acked;
            let deadline = Instant::now() + self.opt.ack_timeout;
            conn.wait(deadline, |p| p.acked >= target)?;
        }
        Ok(true)
    }
}

impl Conn {
    /// Hands one publish to the client (without waiting for the broker).
    fn publish(&mut self, topic: &str, qos: QoS, retain: bool, payload: Vec<u8>) -> Result<()> {
        // The channel is bounded: with QoS 0 and a slow socket it may fill up; wait for
        // the event loop to write some (bounded by the connect timeout) rather than block.
        let mut payload = Some(payload);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let p = payload.take().unwrap_or_default();
            match self.client.try_publish(topic, qos, retain, p) {
                Ok(()) => break,
                Err(rumqttc::ClientError::TryRequest(rumqttc::Request::Publish(back)))
                    if Instant::now() < deadline =>
                {
                    payload = Some(back.payload.to_vec());
                    let written = self.shared.lock().written;
                    self.wait(deadline, |p| p.written > written)?;
                }
                Err(e) => {
                    self.kill();
                    return Err(ComponentError::transient(format!("publish failed: {e}")));
                }
            }
        }
        self.issued += 1;
        if qos == QoS::AtLeastOnce {
            self.issued_acked += 1;
        }
        Ok(())
    }

    /// Waits until `done` holds, the connection dies or `deadline` passes (then the
    /// connection is given up: the broker may be frozen).
    fn wait(&mut self, deadline: Instant, done: impl Fn(&Progress) -> bool) -> Result<()> {
        let mut p = self.shared.lock();
        loop {
            if let Some(e) = &p.dead {
                return Err(e.clone());
            }
            if done(&p) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                let connected = p.connected;
                drop(p);
                self.kill();
                return Err(ComponentError::transient(if connected {
                    "no acknowledgement from the broker in time; reconnecting"
                } else {
                    "connection timed out"
                }));
            }
            p = self
                .shared
                .changed
                .wait_timeout(p, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Gives this connection up (the event loop thread ends on its next poll).
    fn kill(&mut self) {
        self.shared.update(|p| {
            p.dead
                .get_or_insert_with(|| ComponentError::transient("connection given up"));
        });
        let _ = self.client.try_disconnect();
    }
}

impl Transport for MqttTransport {
    fn send(&mut self, record: &Record) -> Result<bool> {
        let r = self.try_send(record);
        if let Err(e) = &r
            && e.transient
            && let Some(mut c) = self.conn.take()
        {
            c.kill();
        }
        r
    }

    fn flush(&mut self) -> Result<()> {
        // QoS 0: wait (briefly) until what was handed to the client is written.
        if let Some(c) = self.conn.as_mut()
            && self.opt.qos == QoS::AtMostOnce
        {
            let target = c.issued;
            let deadline = Instant::now() + self.opt.ack_timeout;
            if let Err(e) = c.wait(deadline, |p| p.written >= target) {
                self.conn = None;
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for MqttTransport {
    fn drop(&mut self) {
        // A clean goodbye: the availability topic says `offline` (the will covers
        // crashes), then DISCONNECT.
        if let Some(mut c) = self.conn.take() {
            let status = status_topic(&self.opt.prefix);
            if c.publish(&status, QoS::AtLeastOnce, true, b"offline".to_vec())
                .is_ok()
            {
                let target = c.issued_acked;
                let _ = c.wait(Instant::now() + GOODBYE, |p| p.acked >= target);
            }
            let _ = c.client.try_disconnect();
            // The event loop sends DISCONNECT; wait briefly so the broker sees it.
            let _ = c.wait(Instant::now() + GOODBYE, |p| !p.connected);
        }
    }
}

/// Polls one connection until it fails or the client is gone. Never reconnects: the
/// transport makes a new client instead (see the crate docs).
fn event_loop(connection: &mut rumqttc::Connection, shared: &Shared, what: &str) {
    for ev in connection.iter() {
        if shared.lock().dead.is_some() {
            break;
        }
        match ev {
            Ok(Event::Incoming(Incoming::ConnAck(_))) => shared.update(|p| p.connected = true),
            Ok(Event::Incoming(Incoming::PubAck(_))) => shared.update(|p| p.acked += 1),
            Ok(Event::Outgoing(Outgoing::Publish(_))) => shared.update(|p| p.written += 1),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                shared.update(|p| {
                    p.connected = false;
                    p.dead
                        .get_or_insert_with(|| ComponentError::transient("disconnected"));
                });
                break;
            }
            Ok(_) => {}
            Err(e) => {
                let err = classify(&e);
                tracing::debug!(sink = %what, "connection ended: {e}");
                shared.update(|p| {
                    p.connected = false;
                    p.dead.get_or_insert(err);
                });
                break;
            }
        }
    }
    shared.update(|p| {
        p.connected = false;
        p.dead
            .get_or_insert_with(|| ComponentError::transient("the MQTT client stopped"));
    });
}

/// Bad credentials or a refused client id are permanent (the configuration must change);
/// everything else may pass.
fn classify(e: &ConnectionError) -> ComponentError {
    match e {
        ConnectionError::ConnectionRefused(
            code @ (ConnectReturnCode::BadUserNamePassword
            | ConnectReturnCode::NotAuthorized
            | ConnectReturnCode::BadClientId
            | ConnectReturnCode::RefusedProtocolVersion),
        ) => ComponentError::new(format!("the broker refused the connection: {code:?}")),
        other => ComponentError::transient(format!("connection failed: {other}")),
    }
}
