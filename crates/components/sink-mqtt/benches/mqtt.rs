//! Throughput and added latency of the MQTT sink against a real mosquitto broker.
//!
//! `cargo bench -p visualpath-sink-mqtt --bench mqtt`
//!
//! For QoS 0 and 1: (a) events/s sustained: 20,000 events written as fast as the sink
//! takes them (queue `block`); "sent" when the sink's `sent` counter reached 20,000
//! (QoS 1: every PUBACK received; QoS 0: handed to the client), "received" when a QoS 0
//! subscriber on another connection had them all (a QoS 1 subscriber would be the
//! bottleneck: mosquitto drops QoS 1 messages beyond its 1,000-message queue for a slow
//! subscriber);
//! (b) latency from `Sink::write` to the subscriber receiving the message, at a steady
//! 1,000 events/s (the write time is carried in `capture_time_ns` and compared with the
//! wall clock at the subscriber, same machine). Prints Markdown table rows.
//!
//! Baseline, measured in the same run right after each sink run: a bare rumqttc client
//! (its event loop polled on a thread of its own, as rumqttc's sync API requires; same
//! request channel size, 256) publishing the same payloads to the same topics of the same
//! broker, with the same QoS; with QoS 1 it waits for each PUBACK before the next publish,
//! like the sink. The payloads are the records' JSON encoded once before the timing; for
//! the latency run the send time is written into the pre-encoded JSON (same width) just
//! before each publish. "Sent" means the same as for the sink (QoS 0: handed to the client;
//! QoS 1: acknowledged) and the subscribers are the same. "vs bare" is sink ÷ bare for
//! events/s sent and for p99; compare those ratios across machines, not absolute numbers.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Incoming, MqttOptions, Outgoing, QoS};
use visualpath_sdk::core::{HumanDuration, Name, Values};
use visualpath_sdk::{Record, Sink};
use visualpath_sink_mqtt::{MqttConfig, topic_for};
use visualpath_sinks::{QueueConfig, QueueOverflow, SinkSettings};
use visualpath_testkit::Server;
use visualpath_testkit::bench::{Stamped, now_ns};

fn event(rule: &'static str, seq: u64) -> Record {
    let values = Values::new().with("count", 3.0).with("score", 0.87);
    visualpath_testkit::bench::event(rule, "cam1", seq, now_ns(), 0, values)
}

/// Receives (seq, latency ns) per message on `topic`.
fn subscriber(port: u16, topic: &str, sub_qos: QoS) -> (mpsc::Receiver<(u64, i64)>, Client) {
    static N: AtomicU32 = AtomicU32::new(0);
    let id = N.fetch_add(1, Ordering::Relaxed);
    let mut o = MqttOptions::new(format!("bench-sub-{id}"), "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(o, 16);
    let c = client.clone();
    let topic = topic.to_string();
    let (tx, rx) = mpsc::sync_channel(100_000);
    let (ready_tx, ready_rx) = mpsc::sync_channel(4);
    std::thread::spawn(move || {
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    let _ = c.try_subscribe(topic.clone(), sub_qos);
                }
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    let _ = ready_tx.try_send(());
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let at = now_ns();
                    let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
                    let seq = v["seq"].as_u64().unwrap();
                    let sent = v["capture_time_ns"].as_i64().unwrap();
                    if tx.send((seq, at - sent)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("subscribed");
    (rx, client)
}

fn sink(url: &str, qos: u8) -> Box<dyn Sink> {
    let mut cfg = MqttConfig::new(url);
    cfg.topic = "bench".into();
    cfg.qos = qos;
    cfg.state = false;
    let mut s = SinkSettings::new(Name::from_static("mqtt"));
    s.queue = QueueConfig {
        capacity: 1024,
        overflow: QueueOverflow::Block,
    };
    s.retry.drain_timeout = HumanDuration::from_millis(30_000);
    cfg.build(&s).unwrap()
}

fn pct(sorted: &[i64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1e6
}

/// `r` with its capture time set to `t`.
fn at_time(mut r: Record, t: i64) -> Record {
    if let Record::Event(e) = &mut r {
        Arc::get_mut(e).unwrap().capture_time_ns = t;
    }
    r
}

/// A bare rumqttc client: the event loop on a thread of its own, PUBACKs passed back
/// over a channel.
struct Bare {
    client: Client,
    qos: QoS,
    acks: mpsc::Receiver<()>,
    written: Arc<AtomicU64>,
    issued: u64,
}

impl Bare {
    fn connect(port: u16, qos: u8) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let id = N.fetch_add(1, Ordering::Relaxed);
        let mut o = MqttOptions::new(format!("bench-bare-{id}"), "127.0.0.1", port);
        o.set_max_packet_size(1 << 20, 1 << 20)
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true);
        // The sink's request channel size.
        let (client, mut conn) = Client::new(o, 256);
        // At most one PUBACK is outstanding (each publish waits for its own).
        let (ack_tx, acks) = mpsc::sync_channel(16);
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let written = Arc::new(AtomicU64::new(0));
        let w = written.clone();
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        let _ = ready_tx.try_send(());
                    }
                    Ok(Event::Incoming(Incoming::PubAck(_))) => {
                        if ack_tx.send(()).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                        w.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("bare client connected");
        Self {
            client,
            qos: if qos == 0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            },
            acks,
            written,
            issued: 0,
        }
    }

    /// Publishes; with QoS 1 returns once the broker acknowledged it.
    fn publish(&mut self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, self.qos, false, payload)
            .unwrap();
        self.issued += 1;
        if self.qos == QoS::AtLeastOnce {
            self.acks
                .recv_timeout(Duration::from_secs(10))
                .expect("PUBACK");
        }
    }

    /// Waits until everything issued is written, then disconnects.
    fn close(self) {
        let until = Instant::now() + Duration::from_secs(10);
        while self.written.load(Ordering::Relaxed) < self.issued && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.client.disconnect();
    }
}

/// Who publishes.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Sink,
    Bare,
}

/// One row's numbers.
struct Row {
    sent_rate: f64,
    rate: f64,
    got: u64,
    lat: Vec<i64>,
}

const N: u64 = 20_000;
const M: u64 = 5_000;

fn measure(via: Via, broker: &Server, qos: u8) -> Row {
    // (a) Throughput.
    let (rx, c) = subscriber(broker.port(), "bench/+/events/tput", QoS::AtMostOnce);
    let start;
    let sent_rate;
    let mut finish: Box<dyn FnOnce()> = match via {
        Via::Sink => {
            let mut s = sink(broker.url(), qos);
            let status = s.status().unwrap();
            start = Instant::now();
            for seq in 0..N {
                s.write(&event("tput", seq)).unwrap();
            }
            // Sent: acknowledged by the broker (QoS 1) or handed to the client (QoS 0).
            while status.sent.load(Ordering::Relaxed) < N {
                std::thread::sleep(Duration::from_micros(200));
            }
            sent_rate = N as f64 / start.elapsed().as_secs_f64();
            Box::new(move || {
                s.flush().unwrap();
                drop(s);
            })
        }
        Via::Bare => {
            let mut b = Bare::connect(broker.port(), qos);
            let records: Vec<Record> = (0..N).map(|seq| event("tput", seq)).collect();
            let topic = topic_for("bench", &records[0]);
            let payloads: Vec<Vec<u8>> = records
                .iter()
                .map(|r| serde_json::to_vec(r).unwrap())
                .collect();
            start = Instant::now();
            for p in payloads {
                b.publish(&topic, p);
            }
            sent_rate = N as f64 / start.elapsed().as_secs_f64();
            Box::new(move || b.close())
        }
    };
    let mut got = 0u64;
    while got < N {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(_) => got += 1,
            Err(_) => break,
        }
    }
    let rate = got as f64 / start.elapsed().as_secs_f64();
    finish();
    let _ = c.disconnect();
    let (rx, _c) = subscriber(broker.port(), "bench/+/events/lat", QoS::AtLeastOnce);
    // (b) Latency at 1,000 events/s.
    let period = Duration::from_micros(1000);
    let wait = |t0: Instant, seq: u64| {
        let due = t0 + period * seq as u32;
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
    };
    finish = match via {
        Via::Sink => {
            let mut s = sink(broker.url(), qos);
            let t0 = Instant::now();
            for seq in 0..M {
                wait(t0, seq);
                s.write(&event("lat", seq)).unwrap();
            }
            Box::new(move || s.flush().unwrap())
        }
        Via::Bare => {
            let mut b = Bare::connect(broker.port(), qos);
            let placeholder = now_ns();
            let mut pre: Vec<Stamped> = (0..M)
                .map(|seq| Stamped::new(&at_time(event("lat", seq), placeholder), placeholder))
                .collect();
            // The same payload as the sink sends, once stamped.
            let t = now_ns();
            let mut probe = Stamped::new(&at_time(event("lat", 7), placeholder), placeholder);
            probe.stamp(t);
            assert_eq!(
                probe.text,
                serde_json::to_string(&at_time(event("lat", 7), t)).unwrap()
            );
            let topic = topic_for("bench", &event("lat", 0));
            let t0 = Instant::now();
            for (seq, p) in (0..M).zip(pre.iter_mut()) {
                wait(t0, seq);
                p.stamp(now_ns());
                b.publish(&topic, std::mem::take(&mut p.text).into_bytes());
            }
            Box::new(move || b.close())
        }
    };
    let mut lat = Vec::with_capacity(M as usize);
    while (lat.len() as u64) < M {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((_, l)) => lat.push(l),
            Err(_) => break,
        }
    }
    finish();
    lat.sort_unstable();
    Row {
        sent_rate,
        rate,
        got,
        lat,
    }
}

fn main() {
    let Some(broker) = Server::mosquitto() else {
        return;
    };
    println!(
        "| sink | QoS | events/s sent | events/s received | p50 ms | p99 ms | latency load | vs bare |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for qos in [0u8, 1] {
        let sink = measure(Via::Sink, &broker, qos);
        let bare = measure(Via::Bare, &broker, qos);
        let vs = format!(
            "{:.2}× events/s sent, {:.2}× p99",
            sink.sent_rate / bare.sent_rate,
            pct(&sink.lat, 0.99) / pct(&bare.lat, 0.99)
        );
        for (label, r, vs) in [
            ("mqtt", &sink, vs.as_str()),
            ("bare rumqttc", &bare, "baseline"),
        ] {
            println!(
                "| {label} | {qos} | {:.0} | {:.0}{} | {:.2} | {:.2} | 1000 ev/s, {} of {M} received | {vs} |",
                r.sent_rate,
                r.rate,
                if r.got < N {
                    format!(" ({} of {N} received)", r.got)
                } else {
                    String::new()
                },
                pct(&r.lat, 0.5),
                pct(&r.lat, 0.99),
                r.lat.len()
            );
        }
    }
}
