//! The webhook sink against a real HTTP/1.1 receiver on a local socket.

#[path = "common/receiver.rs"]
mod receiver;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use receiver::{Receiver, Reply, Request};
use sha2::Sha256;
use visualpath_sdk::core::{Event, EventPhase, HumanDuration, Name, SyncSet};
use visualpath_sdk::{Record, SinkHealth, SinkStatus};
use visualpath_sink_webhook::WebhookConfig;
use visualpath_sinks::{RecordKind, SinkSettings};

const SECRET: &str = "s3cret-key";

fn event(i: u64) -> Record {
    Record::Event(Arc::new(Event {
        id: i,
        rule: Name::from_static("busy"),
        source: Name::from_static("cam"),
        phase: EventPhase::Start,
        seq: i,
        capture_time_ns: i as i64,
        since_ns: i as i64,
        until_ns: None,
        values: Default::default(),
        clip: Default::default(),
    }))
}

fn seq_of(r: &Request) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("a JSON body");
    v["seq"].as_u64().expect("a seq")
}

fn settings() -> SinkSettings {
    let mut s = SinkSettings::new(Name::from_static("hook"));
    s.retry.initial = HumanDuration::from_millis(5);
    s.retry.max = HumanDuration::from_millis(50);
    s.retry.drain_timeout = HumanDuration::from_millis(20_000);
    s
}

fn config(url: String) -> WebhookConfig {
    let mut c = WebhookConfig::new(url);
    c.secret = Some(SECRET.into());
    c
}

/// Checks the signature the way a receiver would, without the sink's code.
fn verify(r: &Request) {
    let ts = r
        .header("x-visualpath-timestamp")
        .expect("timestamp header");
    let sig = r
        .header("x-visualpath-signature")
        .expect("signature header");
    let hex = sig.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, want, "bad signature");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts: u64 = ts.parse().unwrap();
    assert!(ts.abs_diff(now) < 600, "timestamp {ts} far from now {now}");
}

fn delivered(rx: &Receiver) -> Vec<u64> {
    rx.requests()
        .iter()
        .filter(|r| r.status == 200)
        .map(seq_of)
        .collect()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn failed_calls_are_retried_and_everything_arrives_once_in_order() {
    const N: u64 = 30;
    const FAIL: usize = 7;
    let rx = Receiver::start(|n| {
        if n < FAIL {
            Reply::Status(503)
        } else {
            Reply::Status(200)
        }
    });
    let mut sink = config(rx.url("/hooks/vp?token=abc"))
        .build(&settings())
        .unwrap();
    for i in 0..N {
        sink.write(&event(i)).unwrap();
    }
    sink.flush().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), N as usize + FAIL);
    // The failed attempts were all of record 0 (the head is retried; later ones wait).
    assert!(reqs[..FAIL].iter().all(|r| seq_of(r) == 0));
    assert_eq!(delivered(&rx), (0..N).collect::<Vec<_>>());
    for r in &reqs {
        verify(r);
        assert_eq!(r.path, "/hooks/vp?token=abc");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["kind"], "event");
        assert_eq!(v["rule"], "busy");
    }
    let st = sink.status().unwrap();
    assert_eq!(st.sent.load(Ordering::Relaxed), N);
    assert_eq!(st.retries.load(Ordering::Relaxed), FAIL as u64);
    assert_eq!(st.failed.load(Ordering::Relaxed), 0);
    assert_eq!(st.health(), SinkHealth::Healthy);
    let e = st.last_error().unwrap();
    assert!(e.contains("503") && e.contains("/hooks/vp"), "{e}");
    assert!(
        !e.contains("token=abc"),
        "the query may hold credentials: {e}"
    );
}

#[test]
fn a_rejected_record_fails_and_the_next_one_proceeds() {
    let rx = Receiver::start(|n| {
        if n == 2 {
            Reply::Status(400)
        } else {
            Reply::Status(200)
        }
    });
    let mut sink = config(rx.url("/h")).build(&settings()).unwrap();
    for i in 0..5 {
        sink.write(&event(i)).unwrap();
    }
    sink.flush().unwrap();
    assert_eq!(delivered(&rx), vec![0, 1, 3, 4]);
    assert_eq!(rx.count(), 5, "a 400 is not retried");
    let st = sink.status().unwrap();
    assert_eq!(st.sent.load(Ordering::Relaxed), 4);
    assert_eq!(st.failed.load(Ordering::Relaxed), 1);
    assert_eq!(st.retries.load(Ordering::Relaxed), 0);
    let e = st.last_error().unwrap();
    assert!(e.contains("400") && e.contains(&rx.url("/h")), "{e}");
}

#[test]
fn a_receiver_that_is_down_gets_everything_once_it_is_up() {
    let port = visualpath_testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut sink = config(format!("http://{addr}/h"))
        .build(&settings())
        .unwrap();
    let st = sink.status().unwrap();
    for i in 0..10 {
        sink.write(&event(i)).unwrap();
    }
    wait_until("connection refused retries", || {
        st.retries.load(Ordering::Relaxed) >= 3
    });
    assert_eq!(st.health(), SinkHealth::Retrying);
    assert!(st.last_error().unwrap().contains(&addr));
    let rx = Receiver::bind(&addr, |_| Reply::Status(200));
    sink.flush().unwrap();
    assert_eq!(delivered(&rx), (0..10).collect::<Vec<_>>());
    assert_eq!(rx.count(), 10);
    assert_eq!(st.sent.load(Ordering::Relaxed), 10);
}

#[test]
fn a_receiver_that_never_answers_times_out_and_is_retried() {
    let rx = Receiver::start(|n| {
        if n == 0 {
            Reply::Hang
        } else {
            Reply::Status(200)
        }
    });
    let mut cfg = config(rx.url("/h"));
    cfg.timeout = HumanDuration::from_millis(300);
    let mut sink = cfg.build(&settings()).unwrap();
    let st = sink.status().unwrap();
    for i in 0..3 {
        sink.write(&event(i)).unwrap();
    }
    wait_until("the timeout", || st.retries.load(Ordering::Relaxed) >= 1);
    let e = st.last_error().unwrap();
    assert!(e.contains("timed out"), "{e}");
    sink.flush().unwrap();
    assert_eq!(delivered(&rx), vec![0, 1, 2]);
    assert_eq!(st.sent.load(Ordering::Relaxed), 3);
}

#[test]
fn retry_after_is_honoured_and_other_kinds_are_skipped() {
    let rx = Receiver::start(|n| match n {
        0 => Reply::RetryAfter(429, 1),
        _ => Reply::Status(200),
    });
    let mut cfg = config(rx.url("/h"));
    cfg.headers
        .insert("Authorization".into(), "Bearer xyz".into());
    let mut s = settings();
    s.retry.max = HumanDuration::from_millis(2000);
    let mut sink = cfg.build(&s).unwrap();
    let sync = Record::Sync(Arc::new(SyncSet {
        group: Name::from_static("pair"),
        index: 0,
        reference_ns: 0,
        members: Vec::new(),
        missing: Vec::new(),
        skew_ns: 0,
        partial: false,
    }));
    sink.write(&sync).unwrap();
    sink.write(&event(0)).unwrap();
    sink.write(&event(1)).unwrap();
    sink.flush().unwrap();
    let reqs = rx.requests();
    assert_eq!(delivered(&rx), vec![0, 1]);
    // The retry waited for Retry-After (1 s), not only the 5 ms backoff.
    assert!(reqs[1].at.duration_since(reqs[0].at) >= Duration::from_millis(900));
    assert!(
        reqs.iter()
            .all(|r| r.header("authorization") == Some("Bearer xyz"))
    );
    let st: Arc<SinkStatus> = sink.status().unwrap();
    assert_eq!(
        st.skipped.load(Ordering::Relaxed),
        1,
        "sync sets are not sent by default"
    );

    // Asking for sync sets sends them.
    let rx2 = Receiver::start(|_| Reply::Status(204));
    let mut cfg = config(rx2.url("/h"));
    cfg.records = vec![RecordKind::Sync];
    let mut sink = cfg.build(&settings()).unwrap();
    sink.write(&sync).unwrap();
    sink.write(&event(0)).unwrap();
    sink.flush().unwrap();
    let reqs = rx2.requests();
    assert_eq!(reqs.len(), 1);
    let v: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(v["kind"], "sync");
}
