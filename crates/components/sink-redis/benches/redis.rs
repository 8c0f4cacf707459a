//! Throughput and added latency of the Redis Streams sink against a real redis-server.
//!
//! `cargo bench -p visualpath-sink-redis --bench redis`
//!
//! (a) events/s sustained: 20,000 events written as fast as the sink takes them (queue
//! `block`); "sent" when the sink's `sent` counter reached 20,000 (every XADD answered),
//! "received" when a reader blocked in `XREAD` on another connection had them all;
//! (b) latency from `Sink::write` to that reader receiving the entry, at a steady 1,000
//! events/s (the write time is carried in `capture_time_ns` and compared with the wall
//! clock at the reader, same machine). Prints Markdown table rows.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use visualpath_sdk::core::{Event, EventPhase, HumanDuration, Name, Values};
use visualpath_sdk::{Record, Sink};
use visualpath_sink_redis::RedisConfig;
use visualpath_sinks::{QueueConfig, QueueOverflow, SinkSettings};
use visualpath_testkit::Server;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn event(source: &'static str, seq: u64) -> Record {
    Record::Event(Arc::new(Event {
        id: seq,
        rule: Name::from_static("intrusion"),
        source: Name::from_static(source),
        phase: EventPhase::Start,
        seq,
        capture_time_ns: now_ns(),
        since_ns: 0,
        until_ns: None,
        values: Values::new().with("count", 3.0).with("score", 0.87),
        clip: Default::default(),
    }))
}

type Reply = Option<Vec<(String, Vec<(String, Vec<String>)>)>>;

/// Reads `key` with `XREAD BLOCK` from its end; sends the latency of every entry.
fn reader(url: &str, key: &str) -> mpsc::Receiver<i64> {
    let mut con = redis::Client::open(url)
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    let key = key.to_string();
    let (tx, rx) = mpsc::sync_channel(100_000);
    std::thread::spawn(move || {
        let mut last = "$".to_string();
        loop {
            let r: Reply = match redis::cmd("XREAD")
                .arg("COUNT")
                .arg(1000)
                .arg("BLOCK")
                .arg(2000)
                .arg("STREAMS")
                .arg(&key)
                .arg(&last)
                .query(&mut con)
            {
                Ok(r) => r,
                Err(_) => return,
            };
            let at = now_ns();
            for (_, entries) in r.unwrap_or_default() {
                for (id, fields) in entries {
                    let t: i64 = fields[7].parse().unwrap(); // capture_time_ns
                    if tx.send(at - t).is_err() {
                        return;
                    }
                    last = id;
                }
            }
        }
    });
    // XREAD with `$` only sees entries added after it started: let it block first.
    std::thread::sleep(Duration::from_millis(200));
    rx
}

fn sink(url: &str) -> Box<dyn Sink> {
    let mut cfg = RedisConfig::new(url);
    cfg.maxlen = 100_000;
    let mut s = SinkSettings::new(Name::from_static("redis"));
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
    let Some(server) = Server::redis() else {
        return;
    };
    println!("| sink | events/s sent | events/s received | p50 ms | p99 ms | latency load |");
    println!("|---|---|---|---|---|---|");
    // (a) Throughput.
    let rx = reader(server.url(), "visualpath:tput");
    let mut s = sink(server.url());
    let status = s.status().unwrap();
    const N: u64 = 20_000;
    let start = Instant::now();
    for seq in 0..N {
        s.write(&event("tput", seq)).unwrap();
    }
    while status.sent.load(Ordering::Relaxed) < N {
        std::thread::sleep(Duration::from_micros(200));
    }
    let sent_rate = N as f64 / start.elapsed().as_secs_f64();
    let mut got = 0u64;
    while got < N && rx.recv_timeout(Duration::from_secs(10)).is_ok() {
        got += 1;
    }
    let rate = got as f64 / start.elapsed().as_secs_f64();
    s.flush().unwrap();
    // (b) Latency at 1,000 events/s.
    let rx = reader(server.url(), "visualpath:lat");
    let mut s = sink(server.url());
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
            Ok(l) => lat.push(l),
            Err(_) => break,
        }
    }
    s.flush().unwrap();
    lat.sort_unstable();
    println!(
        "| redis | {sent_rate:.0} | {rate:.0}{} | {:.2} | {:.2} | 1000 ev/s, {} of {M} received |",
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
