//! Webhook sink throughput and latency against a local HTTP/1.1 receiver (keep-alive,
//! answers 200 at once; signing on).
//!
//! `cargo bench -p visualpath-sink-webhook --bench webhook`. Prints Markdown rows:
//! requests/s sustained and write → request-received latency (measured at the
//! receiver), for a burst written as fast as possible and a paced 200 records/s.

#[path = "../tests/common/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant};

use receiver::{Receiver, Reply};
use visualpath_sdk::Record;
use visualpath_sdk::core::{Name, Values};
use visualpath_sink_webhook::WebhookConfig;
use visualpath_sinks::{QueueOverflow, SinkSettings};

fn event(i: u64, at_ns: i64) -> Record {
    let values = Values::new()
        .with("motion.score", 0.0467)
        .with("count(detect,person)", 3.0);
    visualpath_testkit::bench::event("busy", "plaza", i, at_ns, at_ns, values)
}

fn pct(sorted: &[u64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i] as f64 / 1e3
}

fn run(n: u64, rate: Option<f64>) -> (f64, f64, f64, f64) {
    let rx = Receiver::start(|_| Reply::Status(200));
    let mut cfg = WebhookConfig::new(rx.url("/hook"));
    cfg.secret = Some("bench-secret".into());
    let mut settings = SinkSettings::new(Name::from_static("bench"));
    settings.queue.capacity = n as usize;
    settings.queue.overflow = QueueOverflow::Block;
    settings.retry.drain_timeout = visualpath_sdk::core::HumanDuration::from_millis(120_000);
    let mut sink = cfg.build(&settings).unwrap();
    let epoch = Instant::now();
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
    sink.flush().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len() as u64, n);
    let mut lat: Vec<u64> = reqs
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let at = v["capture_time_ns"].as_u64().unwrap();
            (r.at.duration_since(epoch).as_nanos() as u64).saturating_sub(at)
        })
        .collect();
    let end = reqs.iter().map(|r| r.at).max().unwrap();
    lat.sort_unstable();
    (
        n as f64 / end.duration_since(start).as_secs_f64(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        *lat.last().unwrap() as f64 / 1e3,
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("| mode | requests | requests/s | p50 µs | p99 µs | max µs |");
    println!("|---|---|---|---|---|---|");
    let (rps, p50, p99, max) = run(10_000, None);
    println!("| burst | 10000 | {rps:.0} | {p50:.0} | {p99:.0} | {max:.0} |");
    let (rps, p50, p99, max) = run(1000, Some(200.0));
    println!("| paced 200/s | 1000 | {rps:.0} | {p50:.0} | {p99:.0} | {max:.0} |");
}
