//! The Redis Streams sink against a real redis-server (Debian's), started on a free port.
//! Entries are read back with `XRANGE` on a connection of the test's own.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use visualpath_sdk::core::{Event, EventPhase, HumanDuration, Name, Observation, Values};
use visualpath_sdk::{Record, SinkHealth};
use visualpath_sink_redis::RedisConfig;
use visualpath_sinks::{QueueConfig, QueueOverflow, RetryConfig, SinkSettings};
use visualpath_testkit::Server;

fn event(seq: u64) -> Record {
    Record::Event(Arc::new(Event {
        id: seq,
        rule: Name::from_static("intrusion"),
        source: Name::from_static("cam1"),
        phase: EventPhase::Start,
        seq,
        capture_time_ns: 1_700_000_000_000_000_000 + seq as i64,
        since_ns: 1_700_000_000_000_000_000,
        until_ns: None,
        values: Values::new().with("count", seq as f64),
        clip: Default::default(),
    }))
}

fn observation(seq: u64) -> Record {
    Record::Observation(Arc::new(Observation {
        analyzer: Name::from_static("motion"),
        source: Name::from_static("cam2"),
        seq,
        capture_time_ns: 5 + seq as i64,
        arrival_ns: 0,
        frame_size: (640, 480),
        data: Default::default(),
        timing: Default::default(),
    }))
}

fn settings() -> SinkSettings {
    let mut s = SinkSettings::new(Name::from_static("redis"));
    s.queue = QueueConfig {
        capacity: 10_000,
        overflow: QueueOverflow::Block,
    };
    s.retry = RetryConfig {
        initial: HumanDuration::from_millis(20),
        max: HumanDuration::from_millis(200),
        attempts: 0,
        drain_timeout: HumanDuration::from_millis(10_000),
    };
    s
}

/// (entry id, field → value) of every entry of `key`.
type Entry = (String, Vec<(String, String)>);

fn xrange(con: &mut redis::Connection, key: &str) -> Vec<Entry> {
    let raw: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(con)
        .expect("XRANGE");
    raw.into_iter()
        .map(|(id, flat)| {
            let pairs = flat
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            (id, pairs)
        })
        .collect()
}

fn xlen(con: &mut redis::Connection, key: &str) -> u64 {
    redis::cmd("XLEN").arg(key).query(con).expect("XLEN")
}

fn connect(server: &Server) -> redis::Connection {
    redis::Client::open(server.url())
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("test connection")
}

#[test]
fn entries_read_back_in_order_with_fields_and_json() {
    let Some(server) = Server::redis() else {
        return;
    };
    let mut sink = RedisConfig::new(server.url()).build(&settings()).unwrap();
    let status = sink.status().unwrap();
    for seq in 0..300 {
        sink.write(&event(seq)).unwrap();
        if seq % 3 == 0 {
            sink.write(&observation(seq)).unwrap();
        }
    }
    sink.flush().unwrap();
    assert_eq!(status.sent.load(Ordering::Relaxed), 400);
    assert_eq!(status.health(), SinkHealth::Healthy);
    let mut con = connect(&server);
    let events = xrange(&mut con, "visualpath:cam1");
    assert_eq!(events.len(), 300);
    let mut last_id = (0u64, 0u64);
    for (i, (id, fields)) in events.iter().enumerate() {
        let (ms, n) = id.split_once('-').unwrap();
        let id = (ms.parse().unwrap(), n.parse().unwrap());
        assert!(id > last_id, "ids increase");
        last_id = id;
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["kind", "source", "seq", "capture_time_ns", "record"]
        );
        assert_eq!(fields[0].1, "event");
        assert_eq!(fields[1].1, "cam1");
        assert_eq!(fields[2].1, i.to_string());
        assert_eq!(
            fields[3].1,
            (1_700_000_000_000_000_000 + i as i64).to_string()
        );
        let rec: serde_json::Value = serde_json::from_str(&fields[4].1).unwrap();
        assert_eq!(rec["kind"], "event");
        assert_eq!(rec["seq"], i as u64);
        assert_eq!(rec["rule"], "intrusion");
        assert_eq!(rec["values"]["count"], i as f64);
    }
    let obs = xrange(&mut con, "visualpath:cam2");
    assert_eq!(obs.len(), 100);
    let rec: serde_json::Value = serde_json::from_str(&obs[1].1[4].1).unwrap();
    assert_eq!(
        (rec["kind"].as_str(), rec["seq"].as_u64()),
        (Some("observation"), Some(3))
    );
    assert_eq!(rec["analyzer"], "motion");
    assert_eq!(rec["width"], 640);
}

#[test]
fn maxlen_trims_exactly_or_approximately() {
    let Some(server) = Server::redis() else {
        return;
    };
    let mut exact = RedisConfig::new(server.url());
    exact.stream = "exact:{source}".into();
    exact.maxlen = 50;
    exact.approximate = false;
    let mut approx = RedisConfig::new(server.url());
    approx.stream = "approx:{source}".into();
    approx.maxlen = 100;
    let mut a = exact.build(&settings()).unwrap();
    let mut b = approx.build(&settings()).unwrap();
    for seq in 0..1000 {
        a.write(&event(seq)).unwrap();
        b.write(&event(seq)).unwrap();
    }
    a.flush().unwrap();
    b.flush().unwrap();
    let mut con = connect(&server);
    assert_eq!(xlen(&mut con, "exact:cam1"), 50);
    let kept = xrange(&mut con, "exact:cam1");
    assert_eq!(kept[0].1[2].1, "950", "the newest are kept");
    let n = xlen(&mut con, "approx:cam1");
    // `~`: whole macro nodes (stream-node-max-entries, 100 by default) are trimmed.
    assert!((100..1000).contains(&n), "approximately trimmed: {n}");
    let kept = xrange(&mut con, "approx:cam1");
    assert_eq!(kept.last().unwrap().1[2].1, "999");
}

/// The server is killed mid-run and restarted on the same port: the sink retries
/// (counted), reconnects and delivers what was queued; nothing panics. The test server
/// keeps nothing on disk, so only what was written after the restart is checked.
#[test]
fn recovers_after_the_server_is_killed_and_restarted() {
    let Some(mut server) = Server::redis() else {
        return;
    };
    let mut sink = RedisConfig::new(server.url()).build(&settings()).unwrap();
    let status = sink.status().unwrap();
    for seq in 0..100 {
        sink.write(&event(seq)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while status.sent.load(Ordering::Relaxed) < 100 {
        assert!(Instant::now() < deadline, "first 100 not sent");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    for seq in 100..200 {
        sink.write(&event(seq)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    server.restart();
    sink.flush().unwrap();
    assert!(
        status.retries.load(Ordering::Relaxed) > 0,
        "the outage was retried"
    );
    assert_eq!(status.sent.load(Ordering::Relaxed), 200);
    assert_eq!(
        status.failed.load(Ordering::Relaxed) + status.dropped.load(Ordering::Relaxed),
        0
    );
    assert_eq!(status.health(), SinkHealth::Healthy);
    let mut con = connect(&server);
    let seqs: Vec<u64> = xrange(&mut con, "visualpath:cam1")
        .iter()
        .map(|(_, f)| f[2].1.parse().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (100..200).collect::<Vec<_>>(),
        "everything since the kill, in order"
    );
}

#[test]
fn a_rejected_command_fails_the_record_only() {
    let Some(server) = Server::redis() else {
        return;
    };
    let mut con = connect(&server);
    let () = redis::cmd("SET")
        .arg("visualpath:cam1")
        .arg("not a stream")
        .query(&mut con)
        .unwrap();
    let mut sink = RedisConfig::new(server.url()).build(&settings()).unwrap();
    let status = sink.status().unwrap();
    sink.write(&event(0)).unwrap();
    sink.write(&observation(1)).unwrap();
    sink.flush().unwrap();
    assert_eq!(
        status.failed.load(Ordering::Relaxed),
        1,
        "WRONGTYPE is permanent"
    );
    assert_eq!(status.sent.load(Ordering::Relaxed), 1);
    assert!(status.last_error().unwrap().contains("WRONGTYPE"));
}
