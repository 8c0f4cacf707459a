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
//!
//! Baseline, measured in the same run right after the sink: a bare `redis` connection
//! (same connect and I/O timeouts) sending the same `XADD key MAXLEN ~ 100000 * ...`
//! commands (built by the sink's own [`xadd`]) one by one, each answered before the
//! next, on the writing thread, measured the same way by the same reader. The records'
//! JSON is encoded once before the timing (throughput: whole commands are built before
//! it); for the latency run the send time is written into the pre-encoded JSON (same
//! width) and the command built just before it is sent. Each stream key is deleted
//! before each run, so sink and baseline start from an empty stream. "vs bare" is
//! sink ÷ bare for events/s sent and for p99; compare those ratios across machines, not
//! absolute numbers.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use visualpath_sdk::core::{HumanDuration, Name, Values};
use visualpath_sdk::{Record, Sink};
use visualpath_sink_redis::{RedisConfig, xadd};
use visualpath_sinks::{QueueConfig, QueueOverflow, SinkSettings};
use visualpath_testkit::Server;
use visualpath_testkit::bench::{Stamped, now_ns};

fn event(source: &'static str, seq: u64) -> Record {
    let values = Values::new().with("count", 3.0).with("score", 0.87);
    visualpath_testkit::bench::event("intrusion", source, seq, now_ns(), 0, values)
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
    cfg.maxlen = MAXLEN;
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

/// `r` with its capture time set to `t`.
fn at_time(mut r: Record, t: i64) -> Record {
    if let Record::Event(e) = &mut r {
        Arc::get_mut(e).unwrap().capture_time_ns = t;
    }
    r
}

/// Who appends.
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
/// The sink's `maxlen` here (see [`sink`]).
const MAXLEN: u64 = 100_000;

/// A bare connection with the sink's default timeouts.
fn bare(url: &str) -> redis::Connection {
    let timeout = Duration::from_secs(5);
    let con = redis::Client::open(url)
        .unwrap()
        .get_connection_with_timeout(timeout)
        .unwrap();
    con.set_read_timeout(Some(timeout)).unwrap();
    con.set_write_timeout(Some(timeout)).unwrap();
    con
}

/// Deletes `key`, so that a run starts from an empty stream.
fn reset(url: &str, key: &str) {
    let _: i64 = redis::cmd("DEL").arg(key).query(&mut bare(url)).unwrap();
}

fn measure(via: Via, url: &str) -> Row {
    // (a) Throughput.
    let key = "visualpath:tput";
    reset(url, key);
    let rx = reader(url, key);
    let mut s = None;
    let start;
    match via {
        Via::Sink => {
            let s = s.insert(sink(url));
            let status = s.status().unwrap();
            start = Instant::now();
            for seq in 0..N {
                s.write(&event("tput", seq)).unwrap();
            }
            while status.sent.load(Ordering::Relaxed) < N {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        Via::Bare => {
            let mut con = bare(url);
            let cmds: Vec<redis::Cmd> = (0..N)
                .map(|seq| {
                    let r = event("tput", seq);
                    let json = serde_json::to_vec(&r).unwrap();
                    xadd(key, MAXLEN, true, &r, &json)
                })
                .collect();
            start = Instant::now();
            for c in &cmds {
                let _: redis::Value = c.query(&mut con).unwrap();
            }
        }
    }
    let sent_rate = N as f64 / start.elapsed().as_secs_f64();
    let mut got = 0u64;
    while got < N && rx.recv_timeout(Duration::from_secs(10)).is_ok() {
        got += 1;
    }
    let rate = got as f64 / start.elapsed().as_secs_f64();
    if let Some(mut s) = s {
        s.flush().unwrap();
    }
    Row {
        sent_rate,
        rate,
        got,
        lat: latency(via, url),
    }
}

/// (b) Latency at 1,000 events/s; sorted.
fn latency(via: Via, url: &str) -> Vec<i64> {
    let key = "visualpath:lat";
    reset(url, key);
    let rx = reader(url, key);
    let period = Duration::from_micros(1000);
    let wait = |t0: Instant, seq: u64| {
        let due = t0 + period * seq as u32;
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
    };
    let mut s = None;
    match via {
        Via::Sink => {
            let s = s.insert(sink(url));
            let t0 = Instant::now();
            for seq in 0..M {
                wait(t0, seq);
                s.write(&event("lat", seq)).unwrap();
            }
        }
        Via::Bare => {
            let mut con = bare(url);
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
            let t0 = Instant::now();
            for (seq, p) in (0..M).zip(pre.iter_mut()) {
                wait(t0, seq);
                // The record as the sink gets it (capture time = now), for the fields
                // `xadd` takes from it; the JSON is the pre-encoded one, stamped.
                let r = event("lat", seq);
                let Record::Event(e) = &r else { unreachable!() };
                p.stamp(e.capture_time_ns);
                let _: redis::Value = xadd(key, MAXLEN, true, &r, p.text.as_bytes())
                    .query(&mut con)
                    .unwrap();
            }
        }
    }
    let mut lat = Vec::with_capacity(M as usize);
    while (lat.len() as u64) < M {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(l) => lat.push(l),
            Err(_) => break,
        }
    }
    if let Some(mut s) = s {
        s.flush().unwrap();
    }
    lat.sort_unstable();
    lat
}

fn main() {
    let Some(server) = Server::redis() else {
        return;
    };
    println!(
        "| sink | events/s sent | events/s received | p50 ms | p99 ms | latency load | vs bare |"
    );
    println!("|---|---|---|---|---|---|---|");
    let sink = measure(Via::Sink, server.url());
    let bare = measure(Via::Bare, server.url());
    let vs = format!(
        "{:.2}× events/s sent, {:.2}× p99",
        sink.sent_rate / bare.sent_rate,
        pct(&sink.lat, 0.99) / pct(&bare.lat, 0.99)
    );
    for (label, r, vs) in [
        ("redis", &sink, vs.as_str()),
        ("bare redis connection", &bare, "baseline"),
    ] {
        println!(
            "| {label} | {:.0} | {:.0}{} | {:.2} | {:.2} | 1000 ev/s, {} of {M} received | {vs} |",
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
