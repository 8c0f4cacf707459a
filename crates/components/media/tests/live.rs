//! Live sources without external servers: validation at build time, connection errors,
//! interrupts (deadlines and stop) against sockets the tests create, webcam error paths,
//! and an MJPEG-over-HTTP server written here (frames, stall, end of stream, reconnect).
//!
//! No test asserts how long anything took: the deadlines are checked through the error
//! each mechanism produces (our interrupt says `timed out after <connect_timeout>`), and
//! "does not hang" through the call returning at all.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use visualpath_core::{CaptureClock, HumanDuration, SystemClock};
use visualpath_media::{HttpConfig, LiveSource, RtspConfig, StopHandle, WebcamConfig};
use visualpath_sdk::{ComponentError, Name, Poll, Source, SourceContext};

fn cx() -> SourceContext {
    SourceContext::new(SystemClock::shared())
}

fn name() -> Name {
    Name::from_static("cam")
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn expect_err(src: &mut dyn Source) -> ComponentError {
    match src.next_frame(&cx()) {
        Err(e) => e,
        Ok(Poll::Frame(f)) => panic!("unexpected frame {}", f.seq),
        Ok(Poll::Eos) => panic!("unexpected end of stream"),
    }
}

fn expect_frame(src: &mut dyn Source) -> visualpath_core::Frame {
    match src.next_frame(&cx()) {
        Ok(Poll::Frame(f)) => f,
        Ok(Poll::Eos) => panic!("unexpected end of stream"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

fn rtsp(url: &str, connect_ms: u64) -> LiveSource {
    let mut c = RtspConfig::new(url);
    c.connect_timeout = HumanDuration::from_millis(connect_ms);
    c.build_live(name()).unwrap()
}

#[test]
fn building_validates_without_connecting() {
    // A port nothing listens on: building succeeds, nothing is contacted.
    let url = format!("rtsp://127.0.0.1:{}/s", closed_port());
    let src = RtspConfig::new(&url).build(name()).unwrap();
    let info = src.info();
    assert_eq!((info.kind, info.live), ("rtsp", true));
    assert_eq!(info.location, url);
    assert_eq!((info.width, info.height, info.fps), (None, None, None));

    let e = RtspConfig::new("rtp://127.0.0.1/s")
        .build(name())
        .unwrap_err();
    assert!(!e.transient, "a bad config is permanent");
    assert!(e.message.contains("not an RTSP URL"), "{}", e.message);
    let e = HttpConfig::new("rtsp://u:topsecret@h/s")
        .build(name())
        .unwrap_err();
    assert!(!e.message.contains("topsecret"), "{}", e.message);
    let w = WebcamConfig::default().build(name()).unwrap();
    assert_eq!(w.info().kind, "webcam");
    assert_eq!(w.info().location, "/dev/video0");
}

#[test]
fn refused_connection_is_transient_and_retried_from_scratch() {
    let port = closed_port();
    let url = format!("rtsp://admin:hunter2@127.0.0.1:{port}/stream?password=hunter3");
    let mut src = rtsp(&url, 5_000);
    assert_eq!(
        src.info().location,
        format!("rtsp://***@127.0.0.1:{port}/stream?password=***")
    );
    for attempt in 1..=2 {
        let e = expect_err(&mut src);
        assert!(e.transient && !e.stalled, "{e:?}");
        assert_eq!(
            e.message,
            format!(
                "cannot connect to rtsp://***@127.0.0.1:{port}/stream?password=***: connection refused (is the camera or server running, and is the port right?)"
            )
        );
        assert!(!e.message.contains("hunter"));
        assert_eq!(src.connect_failures(), attempt);
        assert!(!src.is_connected());
    }
    assert_eq!((src.connects(), src.reconnects()), (0, 0));

    let mut http = HttpConfig::new(format!("http://127.0.0.1:{port}/video.mjpg"))
        .build_live(name())
        .unwrap();
    let e = expect_err(&mut http);
    assert!(e.transient && !e.stalled);
    assert!(
        e.message.starts_with(&format!(
            "cannot connect to http://127.0.0.1:{port}/video.mjpg: connection refused"
        )),
        "{}",
        e.message
    );
}

/// A listener whose connections the kernel accepts but nobody ever answers.
fn blackhole() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[test]
fn a_server_that_never_answers_times_out_at_the_connect_timeout() {
    let (_listener, port) = blackhole();
    let mut src = rtsp(&format!("rtsp://127.0.0.1:{port}/s"), 300);
    let e = expect_err(&mut src);
    assert!(e.transient && !e.stalled, "{e:?}");
    // Our deadline fired (FFmpeg's own backstop would say only "timed out").
    assert_eq!(
        e.message,
        format!("cannot connect to rtsp://127.0.0.1:{port}/s: timed out after 300ms")
    );

    let mut c = HttpConfig::new(format!("http://127.0.0.1:{port}/x"));
    c.connect_timeout = HumanDuration::from_millis(250);
    let mut http = c.build_live(name()).unwrap();
    let e = expect_err(&mut http);
    assert_eq!(
        e.message,
        format!("cannot connect to http://127.0.0.1:{port}/x: timed out after 250ms")
    );
}

#[test]
fn stop_interrupts_a_blocked_connect() {
    let (_listener, port) = blackhole();
    // Long enough that only the stop can end the call in this test.
    let mut src = rtsp(&format!("rtsp://127.0.0.1:{port}/s"), 120_000);
    let stop = src.stop_handle();
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        stop.stop();
    });
    let started = Instant::now();
    let r = src.next_frame(&cx());
    let took = started.elapsed();
    stopper.join().unwrap();
    assert!(matches!(r, Ok(Poll::Eos)), "a stop ends the stream: {r:?}");
    eprintln!("stop took effect after {took:?} (stop sent at 300ms)");
    // Stopped is final: no connection attempt, immediate end.
    assert!(matches!(src.next_frame(&cx()), Ok(Poll::Eos)));
    assert_eq!(src.connect_failures(), 0);
}

#[test]
fn a_shared_stop_handle_stops_every_source_before_it_connects() {
    let stop = StopHandle::new();
    let port = closed_port();
    let mut a = rtsp(&format!("rtsp://127.0.0.1:{port}/a"), 1_000).with_stop_handle(stop.clone());
    let mut b = HttpConfig::new(format!("http://127.0.0.1:{port}/b"))
        .build_live(name())
        .unwrap()
        .with_stop_handle(stop.clone());
    assert!(matches!(
        expect_err(&mut a),
        ComponentError {
            transient: true,
            ..
        }
    ));
    stop.stop();
    assert!(a.stop_handle().is_stopped());
    assert!(matches!(a.next_frame(&cx()), Ok(Poll::Eos)));
    assert!(matches!(b.next_frame(&cx()), Ok(Poll::Eos)));
    assert_eq!(b.connect_failures(), 0, "b never tried to connect");
}

#[test]
fn missing_webcam_is_a_clear_transient_error() {
    if std::path::Path::new("/dev/video0").exists() {
        visualpath_testkit::skip(
            "missing-webcam error for /dev/video0",
            "this machine has a /dev/video0",
        );
    } else {
        let mut cam = WebcamConfig::default().build_live(name()).unwrap();
        let e = expect_err(&mut cam);
        assert!(e.transient && !e.stalled, "{e:?}");
        assert_eq!(
            e.message,
            "cannot open webcam /dev/video0: no such file or directory (check the device path, that the camera is connected, and that this user may open it, e.g. is in the `video` group)"
        );
        assert_eq!(cam.connect_failures(), 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("video7");
    let mut cam = WebcamConfig::new(missing.to_str().unwrap())
        .build_live(name())
        .unwrap();
    let e = expect_err(&mut cam);
    assert!(
        e.message.contains("video7: no such file or directory"),
        "{}",
        e.message
    );
}

#[test]
fn a_path_that_is_not_a_v4l2_device_is_rejected_before_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("by-id-camera");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let mut cam = WebcamConfig::new(link.to_str().unwrap())
        .build_live(name())
        .unwrap();
    let e = expect_err(&mut cam);
    assert!(e.transient);
    assert!(
        e.message
            .contains("`/dev/null` is not a V4L2 capture device (expected /dev/videoN"),
        "{}",
        e.message
    );
}

// ---------------------------------------------------------------------------------------
// A minimal MJPEG-over-HTTP server.

/// What the server does after sending its frames on a connection.
#[derive(Clone, Copy, PartialEq)]
enum After {
    /// Keep the connection open without sending anything (a frozen camera).
    Freeze,
    /// Close the connection (the camera ended the stream).
    Close,
}

struct Mjpeg {
    port: u16,
    done: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Mjpeg {
    /// Serves `frames` JPEG frames of `w`x`h` per connection, `interval` apart, then does
    /// `after`.
    fn start(w: u32, h: u32, frames: usize, interval: Duration, after: After) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let jpeg = jpeg(w, h);
        let (d, c) = (done.clone(), connections.clone());
        let thread = thread::spawn(move || {
            let mut handlers = Vec::new();
            while !d.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        c.fetch_add(1, Ordering::SeqCst);
                        let (d, jpeg) = (d.clone(), jpeg.clone());
                        handlers.push(thread::spawn(move || {
                            serve(stream, &jpeg, frames, interval, after, &d)
                        }));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            for h in handlers {
                let _ = h.join();
            }
        });
        Self {
            port,
            done,
            connections,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/video.mjpg", self.port)
    }
}

impl Drop for Mjpeg {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn jpeg(w: u32, h: u32) -> Arc<Vec<u8>> {
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [(x * 255 / w) as u8, (y * 255 / h) as u8, 128]
        })
        .collect();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut out)
        .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    Arc::new(out)
}

fn serve(
    mut s: TcpStream,
    jpeg: &[u8],
    frames: usize,
    interval: Duration,
    after: After,
    done: &AtomicBool,
) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // Read the request head.
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let head = "HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=vpframe\r\nCache-Control: no-cache\r\n\r\n";
    if s.write_all(head.as_bytes()).is_err() {
        return;
    }
    for _ in 0..frames {
        if done.load(Ordering::SeqCst) {
            return;
        }
        let part = format!(
            "--vpframe\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            jpeg.len()
        );
        if s.write_all(part.as_bytes()).is_err()
            || s.write_all(jpeg).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            return;
        }
        thread::sleep(interval);
    }
    if after == After::Freeze {
        while !done.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn http(url: &str, stall_ms: u64) -> LiveSource {
    let mut c = HttpConfig::new(url);
    c.stall_timeout = HumanDuration::from_millis(stall_ms);
    c.build_live(name()).unwrap()
}

#[test]
fn mjpeg_over_http_delivers_frames_with_arrival_times() {
    let server = Mjpeg::start(64, 48, 1_000, Duration::from_millis(20), After::Close);
    let mut src = http(&server.url(), 5_000);
    let clock = SystemClock::shared();
    let cx = SourceContext::new(clock.clone());
    let mut last: Option<visualpath_core::Frame> = None;
    for i in 0..10u64 {
        let before = clock.wall_ns();
        let f = match src.next_frame(&cx) {
            Ok(Poll::Frame(f)) => f,
            other => panic!("frame {i}: {other:?}"),
        };
        let after = clock.wall_ns();
        assert_eq!(f.seq, i);
        assert_eq!((f.width(), f.height()), (64, 48));
        assert_eq!(f.capture_clock, CaptureClock::Arrival);
        assert!(
            (before..=after).contains(&f.capture_time_ns),
            "arrival capture time is taken during the call"
        );
        // Decoded colours follow the gradient the server encoded (JPEG is lossy).
        let px = &f.image.data()[(47 * 64 + 63) * 3..][..3];
        assert!(
            px[0] > 200 && px[1] > 200 && px[2].abs_diff(128) < 30,
            "{px:?}"
        );
        if let Some(prev) = &last {
            assert!(f.capture_time_ns > prev.capture_time_ns);
            assert!(f.arrival_ns >= prev.arrival_ns);
        }
        last = Some(f);
    }
    let info = src.info();
    assert_eq!((info.width, info.height), (Some(64), Some(48)));
    assert_eq!(info.kind, "http");
    assert_eq!((src.connects(), src.reconnects()), (1, 0));
}

/// Frames until the first error or end of stream: (their seqs, what ended the run).
fn frames_until_error(
    src: &mut dyn Source,
    limit: usize,
) -> (Vec<u64>, Result<Poll, ComponentError>) {
    let mut seqs = Vec::new();
    loop {
        match src.next_frame(&cx()) {
            Ok(Poll::Frame(f)) if seqs.len() < limit => seqs.push(f.seq),
            other => return (seqs, other),
        }
    }
}

#[test]
fn a_frozen_mjpeg_stream_is_stalled_then_reconnects() {
    let server = Mjpeg::start(64, 48, 10, Duration::from_millis(10), After::Freeze);
    let mut src = http(&server.url(), 400);
    let (seqs, end) = frames_until_error(&mut src, 100);
    // Opening reads (and drops, `nobuffer`) what FFmpeg needs to identify the stream.
    assert!((1..=10).contains(&seqs.len()), "{seqs:?}");
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    let e = end.unwrap_err();
    assert!(e.stalled && e.transient, "{e:?}");
    assert_eq!(
        e.message,
        format!("no frame for 400ms from {}", server.url())
    );
    assert!(
        !src.is_connected(),
        "the connection is dropped after a stall"
    );
    // The next call reconnects from scratch and frames flow again.
    assert_eq!(expect_frame(&mut src).seq, seqs.len() as u64);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert_eq!((src.connects(), src.reconnects()), (2, 1));
}

#[test]
fn stop_interrupts_a_frozen_stream() {
    let server = Mjpeg::start(64, 48, 5, Duration::from_millis(10), After::Freeze);
    // Long enough that only the stop can end the blocked read in this test.
    let mut src = http(&server.url(), 120_000);
    let stop = src.stop_handle();
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(500));
        stop.stop();
    });
    let (seqs, end) = frames_until_error(&mut src, 100);
    stopper.join().unwrap();
    assert!(!seqs.is_empty());
    assert!(matches!(end, Ok(Poll::Eos)), "{end:?}");
    assert!(!src.is_connected());
}

#[test]
fn a_server_that_ends_the_stream_is_transient_and_reconnected() {
    let server = Mjpeg::start(64, 48, 5, Duration::from_millis(5), After::Close);
    let mut src = http(&server.url(), 5_000);
    let mut frames = 0;
    let mut errors = Vec::new();
    // Like the runtime: keep calling after errors (no backoff needed against a local
    // server).
    while frames < 12 && errors.len() < 20 {
        match src.next_frame(&cx()) {
            Ok(Poll::Frame(f)) => {
                assert_eq!(f.seq, frames, "seq continues across reconnects");
                frames += 1;
            }
            Ok(Poll::Eos) => panic!("a live source does not end"),
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(frames, 12, "errors: {errors:?}");
    assert!(!errors.is_empty());
    for e in &errors {
        assert!(e.transient && !e.stalled, "{e:?}");
        // FFmpeg's MJPEG reader reports the closed connection as an I/O error.
        let ended = format!("{}: the server ended the stream", server.url());
        let lost = format!(
            "lost the connection to {}: the server closed or broke the connection (input/output error)",
            server.url()
        );
        assert!(e.message == ended || e.message == lost, "{}", e.message);
    }
    assert!(src.reconnects() >= 2, "{}", src.reconnects());
}
