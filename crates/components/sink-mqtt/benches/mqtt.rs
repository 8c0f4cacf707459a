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

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use visualpath_sdk::core::{Event as VpEvent, EventPhase, HumanDuration, Name, Values};
use visualpath_sdk::{Record, Sink};
use visualpath_sink_mqtt::MqttConfig;
use visualpath_sinks::{QueueConfig, QueueOverflow, SinkSettings};
use visualpath_testkit::Server;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn event(rule: &'static str, seq: u64) -> Record {
    Record::Event(Arc::new(VpEvent {
        id: seq,
        rule: Name::from_static(rule),
        source: Name::from_static("cam1"),
        phase: EventPhase::Start,
        seq,
        capture_time_ns: now_ns(),
        since_ns: 0,
        until_ns: None,
        values: Values::new().with("count", 3.0).with("score", 0.87),
        clip: Default::default(),
    }))
}

/// Receives (seq, latency ns) per message on `topic`.
fn subscriber(port: u16, topic: &str, sub_qos: QoS) -> (mpsc::Receiver<(u64, i64)>, Client) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let id = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

fn main() {
    let Some(broker) = Server::mosquitto() else {
        return;
    };
    println!("| sink | QoS | events/s sent | events/s received | p50 ms | p99 ms | latency load |");
    println!("|---|---|---|---|---|---|---|");
    for qos in [0u8, 1] {
        // (a) Throughput.
        let (rx, c) = subscriber(broker.port(), "bench/+/events/tput", QoS::AtMostOnce);
        let mut s = sink(broker.url(), qos);
        let status = s.status().unwrap();
        const N: u64 = 20_000;
        let start = Instant::now();
        for seq in 0..N {
            s.write(&event("tput", seq)).unwrap();
        }
        // Sent: acknowledged by the broker (QoS 1) or handed to the client (QoS 0).
        while status.sent.load(std::sync::atomic::Ordering::Relaxed) < N {
            std::thread::sleep(Duration::from_micros(200));
        }
        let sent_rate = N as f64 / start.elapsed().as_secs_f64();
        let mut got = 0u64;
        while got < N {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(_) => got += 1,
                Err(_) => break,
            }
        }
        let rate = got as f64 / start.elapsed().as_secs_f64();
        s.flush().unwrap();
        drop(s);
        let _ = c.disconnect();
        let (rx, _c) = subscriber(broker.port(), "bench/+/events/lat", QoS::AtLeastOnce);
        // (b) Latency at 1,000 events/s.
        let mut s = sink(broker.url(), qos);
        const M: u64 = 5_000;
        let period = Duration::from_micros(1000);
        let t0 = Instant::now();
        for seq in 0..M {
            let due = t0 + period * seq as u32;
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
            s.write(&event("lat", seq)).unwrap();
        }
        let mut lat = Vec::with_capacity(M as usize);
        while (lat.len() as u64) < M {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok((_, l)) => lat.push(l),
                Err(_) => break,
            }
        }
        s.flush().unwrap();
        lat.sort_unstable();
        println!(
            "| mqtt | {qos} | {sent_rate:.0} | {rate:.0}{} | {:.2} | {:.2} | 1000 ev/s, {} of {M} received |",
            if got < N {
                format!(" ({got} of {N} received)")
            } else {
                String::new()
            },
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            lat.len()
        );
    }
}
