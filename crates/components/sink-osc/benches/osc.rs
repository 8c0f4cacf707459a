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
//!
//! Baseline, measured in the same run right after each sink run: the same datagrams sent
//! by a bare `std::net::UdpSocket` loop (on the writing thread, no queue, no delivery
//! thread) to the same kind of receiver at the same pacing. The datagrams are encoded once,
//! before the timing, with the sink's own [`Encoder`] and default layout (the record's
//! slots depend only on `seq % 7`, so 7 encodings cover every record); only the 8-byte
//! bundle timetag is written into them at send time (the wall clock then, as the sink's
//! records carry the wall clock at `write`). "vs bare" is sink records/s ÷ bare records/s
//! (sent; received in brackets, as the receiver may lose datagrams) for the sustained run
//! and sink p99 ÷ bare p99 for the paced runs; compare that ratio across machines, not the
//! absolute numbers.

#![allow(clippy::print_stdout)]

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use visualpath_sdk::core::{BBox, ObservationData, Timing};
use visualpath_sdk::{Name, Observation, Record, Track, Values};
use visualpath_sink_osc::OscConfig;
use visualpath_sink_osc::encode::{Datagrams, Encoder, Format, Layout, ntp_timetag, timetag_ns};
use visualpath_sinks::{QueueOverflow, SinkSettings};
use visualpath_testkit::bench::now_ns;

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

/// Sleeps until record `i` is due at `rate` per second after `start` (no wait without a
/// rate). Sleep, not spin: the machine may have 2 cores for the writer, the delivery
/// thread and the receiver.
fn pace(start: Instant, i: u64, rate: Option<f64>) {
    if let Some(r) = rate {
        let due = start + Duration::from_secs_f64(i as f64 / r);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// Who sends the records.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    /// The OSC sink (queue, delivery thread, encoder, socket).
    Sink,
    /// Pre-encoded datagrams from a bare `UdpSocket` on the writing thread.
    Bare,
}

/// The datagrams of `record(seq)` for every `seq % 7`, encoded once by the sink's encoder
/// with the layout `OscConfig::new` gives; the timetag (bytes 8..16 of each bundle) is
/// overwritten at send time.
fn encode_once() -> Vec<Vec<Vec<u8>>> {
    let cfg = OscConfig::new("127.0.0.1", 9);
    assert!(cfg.prefix.is_none() && cfg.max_rate.is_none());
    let mut enc = Encoder::new(Layout {
        prefix: String::new(),
        format: Format::parse(&cfg.format).unwrap(),
        origin: cfg.origin,
        max_slots: cfg.max_slots,
        bundle: cfg.bundle,
        timetag: cfg.timetag,
        max_datagram: cfg.max_datagram,
        max_rate: cfg.max_rate,
    });
    let mut out = Datagrams::default();
    let variants: Vec<Vec<Vec<u8>>> = (0..7u64)
        .map(|v| {
            assert!(enc.encode(&record(v), 0, &mut out));
            let ds: Vec<Vec<u8>> = out.iter().map(<[u8]>::to_vec).collect();
            assert!(ds.iter().all(|d| d.len() >= 16 && &d[..8] == b"#bundle\0"));
            ds
        })
        .collect();
    // The same datagrams as the sink sends: record 10 (variant 3) encoded afresh equals
    // variant 3 with record 10's timetag written in.
    let r = record(10);
    let Record::Observation(o) = &r else {
        unreachable!()
    };
    let (secs, frac) = ntp_timetag(o.capture_time_ns);
    assert!(enc.encode(&r, 0, &mut out));
    let mut check = variants[3].clone();
    for d in &mut check {
        d[8..12].copy_from_slice(&secs.to_be_bytes());
        d[12..16].copy_from_slice(&frac.to_be_bytes());
    }
    assert!(check.iter().map(Vec::as_slice).eq(out.iter()));
    variants
}

/// Writes `n` records, paced at `rate` per second when set; returns (elapsed of the
/// writes + drain, what was received, records sent).
fn run(via: Via, n: u64, rate: Option<f64>) -> (Duration, Received, u64) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let rx = std::thread::spawn(move || receive(sock, s2));
    let (elapsed, sent) = match via {
        Via::Sink => {
            let mut settings = SinkSettings::new(Name::from_static("bench"));
            settings.queue.overflow = QueueOverflow::Block;
            let mut sink = OscConfig::new("127.0.0.1", port).build(&settings).unwrap();
            let status = sink.status().unwrap();
            let start = Instant::now();
            for i in 0..n {
                pace(start, i, rate);
                sink.write(&record(i)).unwrap();
            }
            sink.flush().unwrap();
            (start.elapsed(), status.sent.load(Ordering::Relaxed))
        }
        Via::Bare => {
            let mut variants = encode_once();
            // Like the sink's socket: unspecified local address, connected to the target.
            let tx = UdpSocket::bind("0.0.0.0:0").unwrap();
            tx.connect(("127.0.0.1", port)).unwrap();
            let start = Instant::now();
            for i in 0..n {
                pace(start, i, rate);
                let (secs, frac) = ntp_timetag(now_ns());
                for d in &mut variants[(i % 7) as usize] {
                    d[8..12].copy_from_slice(&secs.to_be_bytes());
                    d[12..16].copy_from_slice(&frac.to_be_bytes());
                    assert_eq!(tx.send(d).unwrap(), d.len());
                }
            }
            (start.elapsed(), n)
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    (elapsed, rx.join().unwrap(), sent)
}

/// One printed row's numbers.
struct Row {
    secs: f64,
    rps: f64,
    dps: f64,
    received: u64,
    sent: u64,
    p50: f64,
    p99: f64,
}

fn measure(via: Via, n: u64, rate: Option<f64>) -> Row {
    let (el, mut r, sent) = run(via, n, rate);
    let secs = el.as_secs_f64();
    Row {
        secs,
        rps: sent as f64 / secs,
        dps: r.datagrams as f64 / secs,
        received: r.records,
        sent,
        p50: pct(&mut r.latencies_ns, 0.5),
        p99: pct(&mut r.latencies_ns, 0.99),
    }
}

fn main() {
    // Warm-up.
    let _ = run(Via::Sink, 2_000, None);
    let _ = run(Via::Bare, 2_000, None);
    println!(
        "| run | records | records/s | datagrams/s | received | p50 write->received (µs) | p99 (µs) | vs bare |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, bare_name, n, rate) in [
        ("sustained (blocking queue)", "sustained", 50_000u64, None),
        ("paced 1,000/s", "paced 1,000/s", 10_000, Some(1_000.0)),
        ("paced 30/s (one camera)", "paced 30/s", 600, Some(30.0)),
    ] {
        let sink = measure(Via::Sink, n, rate);
        let bare = measure(Via::Bare, n, rate);
        let vs = if rate.is_none() {
            // Sent records/s; received records/s too, as the receiver may lose datagrams
            // at these rates.
            format!(
                "{:.2}× records/s (received records/s: {:.2}×)",
                sink.rps / bare.rps,
                (sink.received as f64 / sink.secs) / (bare.received as f64 / bare.secs)
            )
        } else {
            format!("{:.2}× p99", sink.p99 / bare.p99)
        };
        for (label, r, vs) in [
            (name.to_string(), &sink, vs.as_str()),
            (format!("bare UdpSocket, {bare_name}"), &bare, "baseline"),
        ] {
            println!(
                "| {label} | {n} | {:.0} | {:.0} | {} of {} | {:.0} | {:.0} | {vs} |",
                r.rps, r.dps, r.received, r.sent, r.p50, r.p99,
            );
        }
    }
}
