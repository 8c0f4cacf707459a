//! The WebSocket hub against real tungstenite clients over real sockets.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};
use visualpath_sdk::core::{Event, EventPhase, HumanDuration, Name, Values};
use visualpath_sdk::{Record, Sink};
use visualpath_sink_ws::{SlowClient, WsConfig, WsSink};
use visualpath_sinks::SinkSettings;

const WAIT: Duration = Duration::from_secs(20);

type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

fn event(i: u64, pad: usize) -> Record {
    let mut values = Values::new();
    for k in 0..pad {
        values.set(format!("pad{k:05}"), 0.5);
    }
    Record::Event(Arc::new(Event {
        id: i,
        rule: Name::from_static("r"),
        source: Name::from_static("cam"),
        phase: EventPhase::Start,
        seq: i,
        capture_time_ns: i as i64,
        since_ns: i as i64,
        until_ns: None,
        values,
        clip: Default::default(),
    }))
}

fn seq_of(text: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(text).expect("a JSON record");
    assert_eq!(v["kind"], "event");
    v["seq"].as_u64().expect("a seq")
}

fn start(cfg: &WsConfig) -> WsSink {
    let mut settings = SinkSettings::new(Name::from_static("live"));
    settings.retry.drain_timeout = HumanDuration::from_millis(10_000);
    WsSink::start(cfg, &settings).expect("sink starts")
}

fn config() -> WsConfig {
    WsConfig::new("127.0.0.1:0")
}

fn connect(addr: SocketAddr, path: &str) -> Ws {
    let (ws, _) = tungstenite::connect(format!("ws://{addr}{path}")).expect("client connects");
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(WAIT)).unwrap();
    }
    ws
}

fn local(ws: &Ws) -> SocketAddr {
    match ws.get_ref() {
        MaybeTlsStream::Plain(s) => s.local_addr().unwrap(),
        _ => unreachable!("plain TCP"),
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn wait_peers(sink: &WsSink, n: u64) {
    let st = sink.status().unwrap();
    wait_until(&format!("{n} peers"), || {
        st.peers.load(Ordering::Relaxed) == n
    });
}

/// How a client's connection ended.
#[derive(Debug, PartialEq)]
enum Ending {
    Closed(Option<CloseCode>),
    Broken,
}

/// Reads until the connection ends; returns the seqs received and how it ended.
/// `count` is bumped after every message.
fn reader(mut ws: Ws, count: Arc<AtomicU64>) -> JoinHandle<(Vec<u64>, Ending)> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            match ws.read() {
                Ok(Message::Text(t)) => {
                    got.push(seq_of(&t));
                    count.fetch_add(1, Ordering::SeqCst);
                }
                Ok(Message::Close(f)) => {
                    let code = f.map(|f| f.code);
                    // Drive the close handshake to its end.
                    while ws.read().is_ok() {}
                    return (got, Ending::Closed(code));
                }
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return (got, Ending::Closed(None)),
                Err(_) => return (got, Ending::Broken),
            }
        }
    })
}

#[test]
fn every_client_receives_every_record_in_order() {
    const N: u64 = 2000;
    let mut cfg = config();
    // Large enough that no client can fall behind in this test.
    cfg.client_queue = N as usize;
    let mut sink = start(&cfg);
    let addr = sink.local_addr();
    let readers: Vec<_> = (0..3)
        .map(|_| reader(connect(addr, "/"), Arc::default()))
        .collect();
    wait_peers(&sink, 3);
    for i in 0..N {
        sink.write(&event(i, 0)).unwrap();
    }
    sink.flush().unwrap();
    let want: Vec<u64> = (0..N).collect();
    for r in readers {
        let (got, end) = r.join().unwrap();
        assert_eq!(got, want);
        assert_eq!(end, Ending::Closed(Some(CloseCode::Away)));
    }
    let st = sink.status().unwrap();
    assert_eq!(st.sent.load(Ordering::Relaxed), N);
    assert_eq!(st.dropped.load(Ordering::Relaxed), 0);
    assert_eq!(st.peers.load(Ordering::Relaxed), 0);
    assert_eq!(st.queued.load(Ordering::Relaxed), 0);
    assert_eq!(st.latency.count(), 3 * N);
    assert!(sink.write(&event(N, 0)).is_err(), "closed after flush");
}

struct SlowRun {
    n: u64,
    fast: Vec<Vec<u64>>,
    slow: Vec<u64>,
    slow_end: Ending,
    /// The slow client's skip counter, last seen while it was connected.
    slow_skipped: u64,
    dropped: u64,
    sent: u64,
}

/// Two clients that keep up and one that never reads while records are written: the
/// writer goes in lock step with the two readers (so their own queues never fill) and
/// must never wait on the third. The third starts reading once all is written.
fn slow_client_run(policy: SlowClient) -> SlowRun {
    const N: u64 = 3000;
    const PAD: usize = 400; // about 6 KB per message: 18 MB in all, more than socket buffers
    let mut cfg = config();
    cfg.client_queue = 8;
    cfg.slow_client = policy;
    cfg.write_timeout = HumanDuration::from_millis(60_000);
    let mut sink = start(&cfg);
    let addr = sink.local_addr();
    let counts: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::default()).collect();
    let fast: Vec<_> = counts
        .iter()
        .map(|c| reader(connect(addr, "/"), c.clone()))
        .collect();
    let slow = connect(addr, "/");
    let slow_addr = local(&slow);
    wait_peers(&sink, 3);
    let mut slow_skipped = 0;
    for i in 0..N {
        sink.write(&event(i, PAD)).unwrap();
        wait_until("the fast clients", || {
            counts.iter().all(|c| c.load(Ordering::SeqCst) > i)
        });
        if let Some(c) = sink.clients().iter().find(|c| c.peer == slow_addr) {
            slow_skipped = c.skipped;
        }
    }
    let slow = reader(slow, Arc::default());
    sink.flush().unwrap();
    let fast = fast.into_iter().map(|f| f.join().unwrap().0).collect();
    let (slow, slow_end) = slow.join().unwrap();
    let st = sink.status().unwrap();
    SlowRun {
        n: N,
        fast,
        slow,
        slow_end,
        slow_skipped,
        dropped: st.dropped.load(Ordering::Relaxed),
        sent: st.sent.load(Ordering::Relaxed),
    }
}

fn strictly_increasing(v: &[u64]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn a_slow_client_is_skipped_and_does_not_slow_the_others() {
    let r = slow_client_run(SlowClient::Skip);
    let all: Vec<u64> = (0..r.n).collect();
    for f in &r.fast {
        assert_eq!(*f, all, "a fast client missed records");
    }
    assert_eq!(r.sent, r.n);
    assert!(r.slow_skipped > 0, "the slow client was never skipped");
    // It got what was not skipped, oldest dropped first: increasing, ending with the newest.
    assert!(strictly_increasing(&r.slow), "out of order");
    assert_eq!(r.slow.last(), Some(&(r.n - 1)));
    assert_eq!(r.slow.len() as u64 + r.slow_skipped, r.n);
    assert_eq!(r.dropped, r.slow_skipped);
    assert_eq!(r.slow_end, Ending::Closed(Some(CloseCode::Away)));
}

#[test]
fn a_slow_client_is_disconnected_when_asked_and_does_not_slow_the_others() {
    let r = slow_client_run(SlowClient::Disconnect);
    let all: Vec<u64> = (0..r.n).collect();
    for f in &r.fast {
        assert_eq!(*f, all, "a fast client missed records");
    }
    // It got an unbroken prefix, then the connection ended.
    assert!(
        !r.slow.is_empty() && (r.slow.len() as u64) < r.n,
        "{}",
        r.slow.len()
    );
    assert_eq!(r.slow, (0..r.slow.len() as u64).collect::<Vec<_>>());
    assert!(
        matches!(
            r.slow_end,
            Ending::Closed(Some(CloseCode::Policy)) | Ending::Broken
        ),
        "{:?}",
        r.slow_end
    );
    assert_eq!(r.slow_skipped, 0);
    assert!(r.dropped > 0);
}

#[test]
fn clients_can_leave_and_come_back() {
    let mut sink = start(&config());
    let addr = sink.local_addr();
    let st = sink.status().unwrap();

    let mut a = connect(addr, "/");
    wait_peers(&sink, 1);
    for i in 0..10 {
        sink.write(&event(i, 0)).unwrap();
    }
    for i in 0..10 {
        assert_eq!(seq_of(&a.read().unwrap().into_text().unwrap()), i);
    }
    a.close(None).unwrap();
    while a.read().is_ok() {}
    wait_peers(&sink, 0);

    // Nobody listening: counted as skipped.
    for i in 10..20 {
        sink.write(&event(i, 0)).unwrap();
    }
    assert_eq!(st.skipped.load(Ordering::Relaxed), 10);

    let b = reader(connect(addr, "/"), Arc::default());
    wait_peers(&sink, 1);
    for i in 20..30 {
        sink.write(&event(i, 0)).unwrap();
    }
    sink.flush().unwrap();
    let (got, end) = b.join().unwrap();
    assert_eq!(got, (20..30).collect::<Vec<_>>());
    assert_eq!(end, Ending::Closed(Some(CloseCode::Away)));
    assert_eq!(st.sent.load(Ordering::Relaxed), 20);
    assert_eq!(st.dropped.load(Ordering::Relaxed), 0);
}

#[test]
fn pings_are_answered() {
    let sink = start(&config());
    let mut ws = connect(sink.local_addr(), "/");
    ws.send(Message::Ping(b"hi".to_vec().into())).unwrap();
    match ws.read().unwrap() {
        Message::Pong(p) => assert_eq!(&p[..], b"hi"),
        m => panic!("unexpected {m:?}"),
    }
}

#[test]
fn a_used_port_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let settings = SinkSettings::new(Name::from_static("live"));
    let e = WsConfig::new(addr.clone())
        .build(&settings)
        .unwrap_err()
        .message;
    assert!(e.contains("`live`") && e.contains(&addr), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let e = WsConfig::new("not an address")
        .build(&settings)
        .unwrap_err()
        .message;
    assert!(e.contains("not an address"), "{e}");
}

#[test]
fn wrong_path_and_too_many_clients_are_refused() {
    let mut cfg = config();
    cfg.path = Some("/events".into());
    cfg.max_clients = 1;
    let sink = start(&cfg);
    let addr = sink.local_addr();
    match tungstenite::connect(format!("ws://{addr}/other")) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!("expected HTTP 404, got {:?}", other.map(|_| ())),
    }
    let _first = connect(addr, "/events");
    wait_peers(&sink, 1);
    match tungstenite::connect(format!("ws://{addr}/events")) {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("expected HTTP 503, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_stalled_client_is_disconnected_after_the_write_timeout() {
    let mut cfg = config();
    cfg.write_timeout = HumanDuration::from_millis(300);
    cfg.client_queue = 4;
    let mut sink = start(&cfg);
    let addr = sink.local_addr();
    let stalled = connect(addr, "/");
    let fast = Arc::new(AtomicU64::new(0));
    let other = reader(connect(addr, "/"), fast.clone());
    wait_peers(&sink, 2);
    // Write until the stalled client is gone (its socket buffers fill, then nothing
    // moves for write_timeout), keeping pace with the reading client.
    let st = sink.status().unwrap();
    let mut i = 0;
    while st.peers.load(Ordering::Relaxed) == 2 {
        sink.write(&event(i, 400)).unwrap();
        wait_until("the reading client", || fast.load(Ordering::SeqCst) > i);
        i += 1;
        assert!(i < 1_000_000, "the stalled client was never dropped");
    }
    let e = st.last_error().unwrap();
    assert!(e.contains("stalled"), "{e}");
    sink.write(&event(i, 0)).unwrap();
    sink.flush().unwrap();
    let (got, _) = other.join().unwrap();
    assert_eq!(got, (0..=i).collect::<Vec<_>>());
    drop(stalled);
}
