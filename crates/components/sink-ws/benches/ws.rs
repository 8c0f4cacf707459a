//! WebSocket sink throughput and latency with 1 and 50 real clients on loopback.
//!
//! `cargo bench -p visualpath-sink-ws --bench ws`. Prints Markdown rows: records/s
//! sustained (every client received every record) and write → client-receive latency
//! (measured by each client; every client's every message counts), for a burst written
//! as fast as possible and for a paced stream of 1000 records/s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::Message;
use visualpath_sdk::core::{Event, EventPhase, Name, Values};
use visualpath_sdk::{Record, Sink};
use visualpath_sink_ws::{WsConfig, WsSink};
use visualpath_sinks::SinkSettings;

fn event(i: u64, at_ns: i64) -> Record {
    let values = Values::new()
        .with("motion.score", 0.0467)
        .with("count(detect,person)", 3.0);
    Record::Event(Arc::new(Event {
        id: i,
        rule: Name::from_static("busy"),
        source: Name::from_static("plaza"),
        phase: EventPhase::Start,
        seq: i,
        capture_time_ns: at_ns,
        since_ns: at_ns,
        until_ns: None,
        values,
        clip: Default::default(),
    }))
}

fn pct(sorted: &[u64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i] as f64 / 1e3
}

/// Returns (records/s, p50 µs, p99 µs, max µs, skipped messages).
fn run(clients: usize, n: u64, rate: Option<f64>) -> (f64, f64, f64, f64, u64) {
    let mut cfg = WsConfig::new("127.0.0.1:0");
    cfg.client_queue = n as usize; // nothing skipped: measure, don't drop
    let mut sink = WsSink::start(&cfg, &SinkSettings::new(Name::from_static("bench"))).unwrap();
    let addr = sink.local_addr();
    let epoch = Instant::now();
    let readers: Vec<_> = (0..clients)
        .map(|_| {
            let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(n as usize);
                let mut last = Instant::now();
                while (lat.len() as u64) < n {
                    match ws.read() {
                        Ok(Message::Text(t)) => {
                            let now = epoch.elapsed().as_nanos() as u64;
                            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                            let at = v["capture_time_ns"].as_u64().unwrap();
                            lat.push(now.saturating_sub(at));
                            last = Instant::now();
                        }
                        Ok(_) => {}
                        Err(e) => panic!("client: {e}"),
                    }
                }
                (lat, last)
            })
        })
        .collect();
    let st = sink.status().unwrap();
    while st.peers.load(std::sync::atomic::Ordering::Relaxed) < clients as u64 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let start = Instant::now();
    for i in 0..n {
        if let Some(r) = rate {
            let due = start + Duration::from_secs_f64(i as f64 / r);
            while Instant::now() < due {
                std::hint::spin_loop();
            }
        }
        let at = epoch.elapsed().as_nanos() as i64;
        sink.write(&event(i, at)).unwrap();
    }
    let mut all = Vec::with_capacity(n as usize * clients);
    let mut end = start;
    for r in readers {
        let (lat, last) = r.join().unwrap();
        all.extend(lat);
        end = end.max(last);
    }
    sink.flush().unwrap();
    all.sort_unstable();
    let secs = end.duration_since(start).as_secs_f64();
    (
        n as f64 / secs,
        pct(&all, 0.5),
        pct(&all, 0.99),
        *all.last().unwrap() as f64 / 1e3,
        st.dropped.load(std::sync::atomic::Ordering::Relaxed),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("| clients | mode | records | records/s | p50 µs | p99 µs | max µs | dropped |");
    println!("|---|---|---|---|---|---|---|---|");
    for clients in [1usize, 50] {
        let n = if clients == 1 { 50_000 } else { 10_000 };
        let (rps, p50, p99, max, dropped) = run(clients, n, None);
        println!(
            "| {clients} | burst | {n} | {rps:.0} | {p50:.0} | {p99:.0} | {max:.0} | {dropped} |"
        );
        let (rps, p50, p99, max, dropped) = run(clients, 3000, Some(1000.0));
        println!(
            "| {clients} | paced 1000/s | 3000 | {rps:.0} | {p50:.0} | {p99:.0} | {max:.0} | {dropped} |"
        );
    }
}
