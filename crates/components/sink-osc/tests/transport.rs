//! Delivery over a real UDP socket: a receiver that is not there yet (ICMP "port
//! unreachable" -> retried), then appears; the rate limit counted as skipped.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use visualpath_sdk::core::{HumanDuration, ObservationData, Timing};
use visualpath_sdk::{
    Event, EventPhase, Name, Observation, Record, Sink, SinkHealth, SinkStatus, Values,
};
use visualpath_sink_osc::OscConfig;
use visualpath_sinks::SinkSettings;

fn event(i: u64) -> Record {
    Record::Event(Arc::new(Event {
        id: i,
        rule: Name::from_static("door"),
        source: Name::from_static("cam"),
        phase: if i.is_multiple_of(2) {
            EventPhase::Start
        } else {
            EventPhase::End
        },
        seq: i,
        capture_time_ns: 1_767_225_600_000_000_000 + i as i64,
        since_ns: 0,
        until_ns: None,
        values: Values::new(),
        clip: Default::default(),
    }))
}

fn settings() -> SinkSettings {
    let mut s = SinkSettings::new(Name::from_static("td"));
    s.retry.initial = HumanDuration::from_millis(10);
    s.retry.max = HumanDuration::from_millis(40);
    s.retry.drain_timeout = HumanDuration::from_millis(2000);
    s
}

fn done(s: &SinkStatus) -> u64 {
    s.sent.load(Ordering::Relaxed)
        + s.skipped.load(Ordering::Relaxed)
        + s.failed.load(Ordering::Relaxed)
}

/// Waits (at most 10 s) until `n` records are accounted for.
fn wait_done(s: &SinkStatus, n: u64) {
    let until = Instant::now() + Duration::from_secs(10);
    while done(s) < n {
        assert!(Instant::now() < until, "records not delivered: {s:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn missing_receiver_costs_no_delay_then_records_are_delivered() {
    let port = visualpath_testkit::free_port();
    let mut sink: Box<dyn Sink> = OscConfig::new("127.0.0.1", port)
        .build(&settings())
        .unwrap();
    let status = sink.status().unwrap();
    // Nothing listens: the kernel answers with "port unreachable", which a later send
    // reports as "connection refused". That error is about an earlier datagram: the sink
    // sends the datagram again at once, so no record waits for a backoff.
    let n = 20;
    for i in 0..n {
        sink.write(&event(i)).unwrap();
        wait_done(&status, i + 1);
    }
    assert_eq!(status.sent.load(Ordering::Relaxed), n, "{status:?}");
    assert_eq!(status.retries.load(Ordering::Relaxed), 0, "{status:?}");
    assert_eq!(status.failed.load(Ordering::Relaxed), 0);

    // The receiver appears: the next record arrives, intact.
    let rx = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sink.write(&event(100)).unwrap();
    let mut buf = [0u8; 2048];
    let len = rx.recv(&mut buf).expect("datagram received");
    let (_, packet) = rosc::decoder::decode_udp(&buf[..len]).unwrap();
    let rosc::OscPacket::Bundle(b) = packet else {
        panic!("not a bundle: {packet:?}")
    };
    let rosc::OscPacket::Message(m) = &b.content[0] else {
        panic!("not a message")
    };
    assert_eq!(m.addr, "/event/door");
    assert_eq!(m.args, vec![rosc::OscType::Int(1)]);
    wait_done(&status, n + 1);
    assert_eq!(status.health(), SinkHealth::Healthy);
    sink.flush().unwrap();
    assert_eq!(status.sent.load(Ordering::Relaxed), n + 1);
    assert_eq!(status.failed.load(Ordering::Relaxed), 0);
}

#[test]
fn over_the_rate_limit_is_skipped_and_events_are_not_limited() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let port = rx.local_addr().unwrap().port();
    let mut sink = OscConfig {
        max_rate: Some(5.0),
        ..OscConfig::new("127.0.0.1", port)
    }
    .build(&settings())
    .unwrap();
    let status = sink.status().unwrap();
    let obs = |seq| {
        Record::Observation(Arc::new(Observation {
            analyzer: Name::from_static("motion"),
            source: Name::from_static("cam"),
            seq,
            capture_time_ns: seq as i64,
            arrival_ns: 0,
            frame_size: (640, 480),
            data: ObservationData {
                values: Values::new().with("score", 0.5),
                ..Default::default()
            },
            timing: Timing::default(),
        }))
    };
    for i in 0..50 {
        sink.write(&obs(i)).unwrap();
    }
    for i in 0..10 {
        sink.write(&event(i)).unwrap();
    }
    sink.flush().unwrap();
    let sent = status.sent.load(Ordering::Relaxed);
    let skipped = status.skipped.load(Ordering::Relaxed);
    assert_eq!(sent + skipped, 60, "{status:?}");
    assert!(skipped >= 1 && sent >= 11, "{status:?}");
    // Everything sent arrived (loopback), events included.
    let mut events = 0;
    let mut buf = [0u8; 2048];
    for _ in 0..sent {
        let len = rx.recv(&mut buf).expect("datagram");
        if buf[..len].windows(11).any(|w| w == b"/event/door") {
            events += 1;
        }
    }
    assert_eq!(events, 10);
}
