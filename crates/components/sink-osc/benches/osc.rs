//! OSC sink throughput and latency into a real UDP receiver.
//!
//! `cargo bench -p visualpath-sink-osc --bench osc`
//!
//! The record: a typical 5-person `track` observation (10 slots, so 70 slot channels,
//! `/count` and 2 values: 73 messages in 2 bundles of at most 1,472 bytes). Its capture
//! time is the wall clock at `write`, so the bundle timetag tells the receiver (a Rust
//! thread on 127.0.0.1) when the record was written: latency is write -> last datagram
//! of the record received, on the same clock.
//!
//! Two runs: sustained (as fast as `write` with a blocking queue allows) and paced (1,000
//! records/s, latency without queueing). Prints Markdown rows.

#![allow(clippy::print_stdout)]

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use visualpath_sdk::core::{BBox, ObservationData, Timing};
use visualpath_sdk::{Name, Observation, Record, Track, Values};
use visualpath_sink_osc::OscConfig;
use visualpath_sink_osc::encode::timetag_ns;
use visualpath_sinks::{QueueOverflow, SinkSettings};

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn record(seq: u64) -> Record {
    let tracks = (0..5u32)
        .map(|i| {
            let x = 60.0 + 140.0 * i as f32 + (seq % 7) as f32;
            Track {
                id: 100 + u64::from(i),
                slot: Some(i + 1),
                class: "person".into(),
                class_id: 1,
                score: 0.8,
                bbox: BBox::new(x, 150.0, x + 70.0, 400.0),
                velocity: [1.0, 0.0],
                age: 30,
                hits: 30,
                lost: 0,
            }
        })
        .collect();
    Record::Observation(Arc::new(Observation {
        analyzer: Name::from_static("track"),
        source: Name::from_static("cam"),
        seq,
        capture_time_ns: now_ns(),
        arrival_ns: 0,
        frame_size: (768, 576),
        data: ObservationData {
            values: Values::new().with("count", 5.0).with("slots_used", 5.0),
            tracks,
            ..Default::default()
        },
        timing: Timing::default(),
    }))
}

struct Received {
    records: u64,
    datagrams: u64,
    latencies_ns: Vec<u64>,
}

/// Receives until `stop` and the socket is quiet; one record = consecutive datagrams
/// with the same timetag.
fn receive(sock: UdpSocket, stop: Arc<AtomicBool>) -> Received {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 65536];
    let mut r = Received {
        records: 0,
        datagrams: 0,
        latencies_ns: Vec::new(),
    };
    let mut cur: Option<(i64, i64)> = None; // (timetag ns, last arrival ns)
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let at = now_ns();
                r.datagrams += 1;
                if n < 16 || &buf[..8] != b"#bundle\0" {
                    continue;
                }
                let s = u32::from_be_bytes(buf[8..12].try_into().unwrap());
                let f = u32::from_be_bytes(buf[12..16].try_into().unwrap());
                let tt = timetag_ns(s, f);
                match &mut cur {
                    Some((t, last)) if *t == tt => *last = at,
                    _ => {
                        if let Some((t, last)) = cur.take() {
                            r.records += 1;
                            r.latencies_ns.push((last - t).max(0) as u64);
                        }
                        cur = Some((tt, at));
                    }
                }
            }
            Err(_) => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
        }
    }
    if let Some((t, last)) = cur {
        r.records += 1;
        r.latencies_ns.push((last - t).max(0) as u64);
    }
    r
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    v.sort_unstable();
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i] as f64 / 1e3
}

/// Writes `n` records, paced at `rate` per second when set; returns (elapsed of the
/// writes + drain, what was received).
fn run(n: u64, rate: Option<f64>) -> (Duration, Received, u64) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let rx = std::thread::spawn(move || receive(sock, s2));
    let mut settings = SinkSettings::new(Name::from_static("bench"));
    settings.queue.overflow = QueueOverflow::Block;
    let mut sink = OscConfig::new("127.0.0.1", port).build(&settings).unwrap();
    let status = sink.status().unwrap();
    let start = Instant::now();
    for i in 0..n {
        if let Some(r) = rate {
            let due = start + Duration::from_secs_f64(i as f64 / r);
            // Sleep (not spin): the machine may have 2 cores for the writer, the
            // delivery thread and the receiver.
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        sink.write(&record(i)).unwrap();
    }
    sink.flush().unwrap();
    let elapsed = start.elapsed();
    let sent = status.sent.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    (elapsed, rx.join().unwrap(), sent)
}

fn main() {
    // Warm-up.
    let _ = run(2_000, None);
    println!(
        "| run | records | records/s | datagrams/s | received | p50 write->received (µs) | p99 (µs) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, n, rate) in [
        ("sustained (blocking queue)", 50_000u64, None),
        ("paced 1,000/s", 10_000, Some(1_000.0)),
        ("paced 30/s (one camera)", 600, Some(30.0)),
    ] {
        let (el, mut r, sent) = run(n, rate);
        let secs = el.as_secs_f64();
        let p50 = pct(&mut r.latencies_ns, 0.5);
        let p99 = pct(&mut r.latencies_ns, 0.99);
        println!(
            "| {name} | {n} | {:.0} | {:.0} | {} of {sent} | {p50:.0} | {p99:.0} |",
            sent as f64 / secs,
            r.datagrams as f64 / secs,
            r.records,
        );
    }
}
