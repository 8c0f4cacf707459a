//! The MQTT sink against a real mosquitto broker (Debian's), started on a free port.
//!
//! The subscriber is a rumqttc client of the test's own (an independent connection),
//! and Debian's `mosquitto_sub` reads the retained topics back where it is installed.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Incoming, MqttOptions, QoS};
use visualpath_sdk::core::{Event as VpEvent, EventPhase, HumanDuration, Name, Values};
use visualpath_sdk::{Record, Sink, SinkHealth, SinkStatus};
use visualpath_sink_mqtt::MqttConfig;
use visualpath_sinks::{QueueConfig, QueueOverflow, RetryConfig, SinkSettings};
use visualpath_testkit::Server;

const WAIT: Duration = Duration::from_secs(30);

fn event(seq: u64, phase: EventPhase) -> Record {
    Record::Event(Arc::new(VpEvent {
        id: seq / 2,
        rule: Name::from_static("intrusion"),
        source: Name::from_static("cam1"),
        phase,
        seq,
        capture_time_ns: 1_700_000_000_000_000_000 + seq as i64,
        since_ns: 1_700_000_000_000_000_000,
        until_ns: (phase == EventPhase::End).then_some(1_700_000_000_000_000_000 + seq as i64),
        values: Values::new().with("count", seq as f64),
        clip: Default::default(),
    }))
}

fn settings(overflow: QueueOverflow) -> SinkSettings {
    let mut s = SinkSettings::new(Name::from_static("mqtt"));
    s.queue = QueueConfig {
        capacity: 10_000,
        overflow,
    };
    s.retry = RetryConfig {
        initial: HumanDuration::from_millis(50),
        max: HumanDuration::from_millis(300),
        attempts: 0,
        drain_timeout: HumanDuration::from_millis(10_000),
    };
    s
}

/// A subscriber on its own connection: every message as (topic, JSON) on a channel.
/// With `persistent`, a fixed client id and a kept session (QoS 1 messages queued by the
/// broker while it is away are delivered when it comes back); otherwise it subscribes
/// again after every reconnect.
struct Subscriber {
    rx: mpsc::Receiver<(String, Vec<u8>)>,
    _client: Client,
}

fn subscribe(port: u16, filter: &str, persistent: bool) -> Subscriber {
    let id = format!("test-sub-{}-{port}", std::process::id());
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_clean_session(!persistent)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(o, 16);
    let (tx, rx) = mpsc::sync_channel(100_000);
    let (ready_tx, ready_rx) = mpsc::sync_channel(4);
    let c = client.clone();
    let filter = filter.to_string();
    std::thread::spawn(move || {
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Incoming::ConnAck(a))) if !a.session_present => {
                    let _ = c.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    let _ = ready_tx.try_send(());
                }
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    });
    ready_rx.recv_timeout(WAIT).expect("subscribed");
    Subscriber {
        rx,
        _client: client,
    }
}

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).expect("JSON payload")
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Retained messages under `filter`, read with Debian's `mosquitto_sub`.
fn retained(port: u16, filter: &str, count: usize) -> Option<BTreeMap<String, String>> {
    let prog = visualpath_testkit::find_program("mosquitto_sub")?;
    let out = Command::new(prog)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", filter])
        .args([
            "-v",
            "--retained-only",
            "-C",
            &count.to_string(),
            "-W",
            "10",
        ])
        .output()
        .expect("run mosquitto_sub");
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(t, m)| (t.to_string(), m.to_string()))
            .collect(),
    )
}

#[test]
fn records_state_and_status_reach_a_subscriber() {
    let Some(broker) = Server::mosquitto() else {
        return;
    };
    let sub = subscribe(broker.port(), "vp/#", false);
    let mut cfg = MqttConfig::new(broker.url());
    cfg.topic = "vp".into();
    let mut sink = cfg.build(&settings(QueueOverflow::Block)).unwrap();
    let status = sink.status().unwrap();
    for seq in 0..20 {
        let phase = if seq % 2 == 0 {
            EventPhase::Start
        } else {
            EventPhase::End
        };
        sink.write(&event(seq, phase)).unwrap();
    }
    wait_for("20 records acknowledged", || {
        status.sent.load(Ordering::Relaxed) == 20
    });
    let mut events = Vec::new();
    let mut states = 0;
    let mut online = false;
    let deadline = Instant::now() + WAIT;
    while events.len() < 20 || states < 20 {
        let (topic, body) = sub
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("all messages arrive");
        match topic.as_str() {
            "vp/cam1/events/intrusion" => events.push(json(&body)),
            "vp/cam1/state" => states += 1,
            "vp/status" => online |= body == b"online",
            t => panic!("unexpected topic {t}"),
        }
    }
    assert!(online, "`online` published on connect");
    // The payload is the record's JSON (docs/ref/jsonl.md), in order.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["kind"], "event");
        assert_eq!(e["source"], "cam1");
        assert_eq!(e["rule"], "intrusion");
        assert_eq!(e["seq"], i as u64);
        assert_eq!(e["phase"], if i % 2 == 0 { "start" } else { "end" });
        assert_eq!(e["values"]["count"], i as f64);
    }
    sink.flush().unwrap();
    assert_eq!(status.health(), SinkHealth::Healthy);
    assert_eq!(status.failed.load(Ordering::Relaxed), 0);
    // Retained: the last state (event 9 ended: nothing active) and `offline` after the
    // clean shutdown, read back by an independent client.
    if let Some(r) = retained(broker.port(), "vp/#", 2) {
        assert_eq!(
            r.get("vp/status").map(String::as_str),
            Some("offline"),
            "{r:?}"
        );
        let st: serde_json::Value = serde_json::from_str(&r["vp/cam1/state"]).unwrap();
        assert_eq!(st["source"], "cam1");
        assert_eq!(st["active_count"], 0);
        assert_eq!(st["last"]["intrusion"]["phase"], "end");
        assert_eq!(st["last"]["intrusion"]["event_id"], 9);
    } else {
        visualpath_testkit::skip(
            "retained-topic check",
            "no mosquitto_sub (mosquitto-clients)",
        );
    }
}

/// QoS 1 across a broker restart: the broker is stopped (SIGTERM: it saves its
/// persistence database) while records keep coming, then restarted on the same port.
/// The subscriber keeps a persistent session (fixed id, clean session off, QoS 1) on a
/// broker with persistence, so what the broker acknowledged reaches it even if it was
/// published while the subscriber was reconnecting. Nothing may be missing; duplicates
/// are allowed (at least once).
#[test]
fn qos1_loses_nothing_across_a_broker_restart() {
    let Some(mut broker) = Server::mosquitto_persistent() else {
        return;
    };
    let sub = subscribe(broker.port(), "vp/+/events/+", true);
    let mut cfg = MqttConfig::new(broker.url());
    cfg.topic = "vp".into();
    cfg.state = false;
    cfg.ack_timeout = HumanDuration::from_millis(2_000);
    let mut sink = cfg.build(&settings(QueueOverflow::Block)).unwrap();
    let status: Arc<SinkStatus> = sink.status().unwrap();
    const N: u64 = 600;
    let got = Arc::new(Mutex::new(BTreeMap::<u64, u32>::new()));
    let g = got.clone();
    let reader = std::thread::spawn(move || {
        while let Ok((_, body)) = sub.rx.recv_timeout(WAIT) {
            let seq = json(&body)["seq"].as_u64().unwrap();
            *g.lock().unwrap().entry(seq).or_default() += 1;
            if g.lock().unwrap().len() as u64 == N {
                return;
            }
        }
    });
    for seq in 0..N {
        sink.write(&event(seq, EventPhase::Start)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        if seq == N / 3 {
            assert!(broker.terminate().is_some(), "mosquitto exits on SIGTERM");
        }
        if seq == N / 2 {
            broker.restart();
        }
    }
    reader.join().unwrap();
    sink.flush().unwrap();
    let got = got.lock().unwrap();
    let missing: Vec<u64> = (0..N).filter(|s| !got.contains_key(s)).collect();
    assert!(missing.is_empty(), "lost across the restart: {missing:?}");
    let dups: u32 = got.values().map(|n| n - 1).sum();
    let s = &status;
    eprintln!(
        "restart: sent {} retries {} duplicates {dups}",
        s.sent.load(Ordering::Relaxed),
        s.retries.load(Ordering::Relaxed)
    );
    assert_eq!(
        s.sent.load(Ordering::Relaxed),
        N,
        "every record acknowledged once counted"
    );
    assert_eq!(
        s.failed.load(Ordering::Relaxed) + s.dropped.load(Ordering::Relaxed),
        0
    );
    assert!(
        s.retries.load(Ordering::Relaxed) > 0,
        "the outage was seen and retried"
    );
    assert_eq!(s.health(), SinkHealth::Healthy);
}

/// QoS 0: messages resume after the broker was killed and restarted.
#[test]
fn qos0_resumes_after_a_broker_restart() {
    let Some(mut broker) = Server::mosquitto() else {
        return;
    };
    let sub = subscribe(broker.port(), "vp/#", false);
    let mut cfg = MqttConfig::new(broker.url());
    cfg.topic = "vp".into();
    cfg.qos = 0;
    cfg.state = false;
    let mut sink = cfg.build(&settings(QueueOverflow::DropOldest)).unwrap();
    let status = sink.status().unwrap();
    let mut seq = 0;
    let mut seen = Vec::new();
    // Writes one record every 5 ms until one with `seq >= until` arrived.
    let pump = |sink: &mut Box<dyn Sink>, seq: &mut u64, seen: &mut Vec<u64>, until: u64| {
        let deadline = Instant::now() + WAIT;
        while !seen.iter().any(|s| *s >= until) {
            assert!(
                Instant::now() < deadline,
                "no message with seq >= {until} arrived"
            );
            sink.write(&event(*seq, EventPhase::Start)).unwrap();
            *seq += 1;
            std::thread::sleep(Duration::from_millis(5));
            while let Ok((topic, body)) = sub.rx.try_recv() {
                if topic.contains("/events/") {
                    seen.push(json(&body)["seq"].as_u64().unwrap());
                }
            }
        }
    };
    pump(&mut sink, &mut seq, &mut seen, 50);
    broker.kill();
    // Keep writing while the broker is down: the sink notices and retries.
    for _ in 0..60 {
        sink.write(&event(seq, EventPhase::Start)).unwrap();
        seq += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let cut = seq;
    broker.restart();
    pump(&mut sink, &mut seq, &mut seen, cut + 50);
    sink.flush().unwrap();
    assert!(
        status.retries.load(Ordering::Relaxed) > 0,
        "the outage was seen"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order");
}

#[test]
fn an_unreachable_broker_is_retried_not_fatal() {
    let port = visualpath_testkit::free_port();
    let cfg = MqttConfig::new(format!("mqtt://127.0.0.1:{port}"));
    let mut s = settings(QueueOverflow::DropOldest);
    s.retry.drain_timeout = HumanDuration::from_millis(300);
    let mut sink = cfg.build(&s).unwrap();
    let status = sink.status().unwrap();
    for seq in 0..5 {
        sink.write(&event(seq, EventPhase::Start)).unwrap();
    }
    wait_for("a retry", || status.retries.load(Ordering::Relaxed) > 0);
    assert_eq!(status.health(), SinkHealth::Retrying);
    assert!(
        status
            .last_error()
            .unwrap()
            .contains(&format!("mqtt broker 127.0.0.1:{port}"))
    );
    sink.flush().unwrap();
    assert_eq!(status.sent.load(Ordering::Relaxed), 0);
    assert_eq!(
        status.failed.load(Ordering::Relaxed) + status.dropped.load(Ordering::Relaxed),
        5
    );
}
