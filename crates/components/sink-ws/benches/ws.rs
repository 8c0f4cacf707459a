//! WebSocket sink throughput and latency with 1 and 50 real clients on loopback.
//!
//! `cargo bench -p visualpath-sink-ws --bench ws`. Prints Markdown rows: records/s
//! sustained (every client received every record) and write → client-receive latency
//! (measured by each client; every client's every message counts), for a burst written
//! as fast as possible and for a paced stream of 1000 records/s.
//!
//! Baseline, measured in the same run right after each sink run: bare tungstenite server
//! sockets (blocking, `TCP_NODELAY` like the sink's) writing the same JSON text with
//! `send` (write + flush per message), read by the same client code. With 1 client the
//! writing thread writes to the socket itself; with 50, it hands each message to 50 bare
//! writer threads (one per socket, over a std channel each). The JSON is encoded once
//! before the timing; the write time is written into it (same width: the clock is
//! [`CLOCK_BASE`] + ns since the run's start, 16 digits) just before it is sent.
//! "vs bare" is sink records/s ÷ bare records/s for the bursts and sink p99 ÷ bare p99
//! for the paced runs; compare those ratios across machines, not absolute numbers.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::{Message, Utf8Bytes};
use visualpath_sdk::core::{Name, Values};
use visualpath_sdk::{Record, Sink};
use visualpath_sink_ws::{WsConfig, WsSink};
use visualpath_sinks::SinkSettings;
use visualpath_testkit::bench::Stamped;

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

/// Added to the ns since a run's start, so that every time stamp has 16 digits and can be
/// written over a pre-encoded one in place (the baseline).
const CLOCK_BASE: u64 = 1_000_000_000_000_000;

/// The bench's clock (writers and clients): [`CLOCK_BASE`] + ns since `epoch`.
fn clock(epoch: Instant) -> u64 {
    CLOCK_BASE + epoch.elapsed().as_nanos() as u64
}

/// Who writes to the clients.
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Sink,
    Bare,
}

type Reader = JoinHandle<(Vec<u64>, Instant)>;

/// Connects `clients` clients to `addr`, each reading `n` text messages on a thread of
/// its own and noting write -> receive latencies (ns) and when it got the last one.
fn readers(addr: SocketAddr, clients: usize, n: u64, epoch: Instant) -> Vec<Reader> {
    (0..clients)
        .map(|_| {
            let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/")).unwrap();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(n as usize);
                let mut last = Instant::now();
                while (lat.len() as u64) < n {
                    match ws.read() {
                        Ok(Message::Text(t)) => {
                            let now = clock(epoch);
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
        .collect()
}

/// Waits until record `i` is due at `rate` per second after `start` (spinning).
fn pace(start: Instant, i: u64, rate: Option<f64>) {
    if let Some(r) = rate {
        let due = start + Duration::from_secs_f64(i as f64 / r);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
    }
}

/// Returns (records/s, p50 µs, p99 µs, max µs, dropped messages; `None` for the bare
/// sockets, which cannot drop).
fn run(via: Via, clients: usize, n: u64, rate: Option<f64>) -> (f64, f64, f64, f64, Option<u64>) {
    let epoch = Instant::now();
    let (start, readers, dropped) = match via {
        Via::Sink => {
            let mut cfg = WsConfig::new("127.0.0.1:0");
            cfg.client_queue = n as usize; // nothing skipped: measure, don't drop
            let mut sink =
                WsSink::start(&cfg, &SinkSettings::new(Name::from_static("bench"))).unwrap();
            let readers = readers(sink.local_addr(), clients, n, epoch);
            let st = sink.status().unwrap();
            while st.peers.load(std::sync::atomic::Ordering::Relaxed) < clients as u64 {
                std::thread::sleep(Duration::from_millis(5));
            }
            let start = Instant::now();
            for i in 0..n {
                pace(start, i, rate);
                let at = clock(epoch) as i64;
                sink.write(&event(i, at)).unwrap();
            }
            let results: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
            sink.flush().unwrap();
            let dropped = st.dropped.load(std::sync::atomic::Ordering::Relaxed);
            (start, results, Some(dropped))
        }
        Via::Bare => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let acceptor = std::thread::spawn(move || {
                (0..clients)
                    .map(|_| {
                        let (s, _) = listener.accept().unwrap();
                        s.set_nodelay(true).unwrap();
                        tungstenite::accept(s).unwrap()
                    })
                    .collect::<Vec<_>>()
            });
            let readers = readers(addr, clients, n, epoch);
            let mut sockets = acceptor.join().unwrap();
            let mut texts: Vec<Stamped> = (0..n)
                .map(|i| Stamped::new(&event(i, CLOCK_BASE as i64), CLOCK_BASE as i64))
                .collect();
            // The same text as the sink sends, once stamped.
            let t = clock(epoch);
            let mut probe = Stamped::new(&event(7, CLOCK_BASE as i64), CLOCK_BASE as i64);
            probe.stamp(t as i64);
            assert_eq!(
                probe.text,
                serde_json::to_string(&event(7, t as i64)).unwrap()
            );
            // With 1 client, its socket stays open (`open`) until the client has read
            // everything; with 50, each writer thread closes its own when done.
            let (start, open) = if clients == 1 {
                let ws = &mut sockets[0];
                let start = Instant::now();
                for (i, t) in (0..n).zip(texts.iter_mut()) {
                    pace(start, i, rate);
                    t.stamp(clock(epoch) as i64);
                    ws.send(Message::Text(std::mem::take(&mut t.text).into()))
                        .unwrap();
                }
                (start, sockets)
            } else {
                let (senders, writers): (Vec<_>, Vec<_>) = sockets
                    .into_iter()
                    .map(|mut ws| {
                        let (tx, rx) = mpsc::sync_channel::<Utf8Bytes>(n as usize);
                        let w = std::thread::spawn(move || {
                            for t in rx {
                                ws.send(Message::Text(t)).unwrap();
                            }
                        });
                        (tx, w)
                    })
                    .unzip();
                let start = Instant::now();
                for (i, t) in (0..n).zip(texts.iter_mut()) {
                    pace(start, i, rate);
                    t.stamp(clock(epoch) as i64);
                    let text = Utf8Bytes::from(std::mem::take(&mut t.text));
                    for tx in &senders {
                        tx.send(text.clone()).unwrap();
                    }
                }
                // Each writer thread sends what is left in its channel, then ends.
                drop(senders);
                for w in writers {
                    w.join().unwrap();
                }
                (start, Vec::new())
            };
            let results: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
            drop(open);
            (start, results, None)
        }
    };
    let mut all = Vec::with_capacity(n as usize * clients);
    let mut end = start;
    for (lat, last) in readers {
        all.extend(lat);
        end = end.max(last);
    }
    all.sort_unstable();
    let secs = end.duration_since(start).as_secs_f64();
    (
        n as f64 / secs,
        pct(&all, 0.5),
        pct(&all, 0.99),
        *all.last().unwrap() as f64 / 1e3,
        dropped,
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!(
        "| clients | mode | records | records/s | p50 µs | p99 µs | max µs | dropped | vs bare |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for clients in [1usize, 50] {
        let burst = if clients == 1 { 50_000 } else { 10_000 };
        for (mode, n, rate) in [("burst", burst, None), ("paced 1000/s", 3000, Some(1000.0))] {
            let sink = run(Via::Sink, clients, n, rate);
            let bare = run(Via::Bare, clients, n, rate);
            let vs = if rate.is_none() {
                format!("{:.2}× records/s", sink.0 / bare.0)
            } else {
                format!("{:.2}× p99", sink.2 / bare.2)
            };
            let writer = if clients == 1 {
                "bare tungstenite socket"
            } else {
                "bare tungstenite, 50 writer threads"
            };
            for (label, (rps, p50, p99, max, dropped), vs) in [
                (mode.to_string(), sink, vs.as_str()),
                (format!("{writer}, {mode}"), bare, "baseline"),
            ] {
                let dropped = dropped.map_or("n/a".to_string(), |d| d.to_string());
                println!(
                    "| {clients} | {label} | {n} | {rps:.0} | {p50:.0} | {p99:.0} | {max:.0} | {dropped} | {vs} |"
                );
            }
        }
    }
}
