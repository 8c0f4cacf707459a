//! Live sources against real servers from the testkit: a GStreamer RTSP server looping an
//! H.264 clip (TCP and UDP, RTCP capture times, pause = stall, kill/restart = reconnect)
//! and an MJPEG-over-HTTP server (frames, freeze = stall).
//!
//! Every test skips with a `SKIP:` line when its server or media cannot be had. No test
//! asserts how long something took; loops that wait for a state are bounded by a number
//! of calls, each of which is itself bounded by the source's timeouts.

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use visualpath_core::{CaptureClock, Frame, HumanDuration, SharedClock, SystemClock};
use visualpath_media::{HttpConfig, LiveSource, RtspConfig, RtspTransport};
use visualpath_sdk::{ComponentError, Name, Poll, Source, SourceContext};
use visualpath_testkit::{Server, derived_media};

struct Cx {
    clock: SharedClock,
    cx: SourceContext,
}

fn cx() -> Cx {
    let clock = SystemClock::shared();
    Cx {
        clock: clock.clone(),
        cx: SourceContext::new(clock),
    }
}

fn media(name: &str) -> Option<PathBuf> {
    derived_media(name)
}

fn rtsp_source(url: &str, transport: RtspTransport, stall_ms: u64) -> LiveSource {
    let mut c = RtspConfig::new(url);
    c.transport = transport;
    c.connect_timeout = HumanDuration::from_millis(5_000);
    c.stall_timeout = HumanDuration::from_millis(stall_ms);
    c.build_live(Name::from_static("cam")).unwrap()
}

/// The next result, with the wall time right after it returned.
fn next(src: &mut dyn Source, cx: &Cx) -> (Result<Poll, ComponentError>, i64) {
    let r = src.next_frame(&cx.cx);
    (r, cx.clock.wall_ns())
}

fn frame(src: &mut dyn Source, cx: &Cx) -> (Frame, i64) {
    match next(src, cx) {
        (Ok(Poll::Frame(f)), t) => (f, t),
        (other, _) => panic!("expected a frame, got {other:?}"),
    }
}

/// Calls `next_frame` like the runtime does after errors (short pause, call again) until
/// a frame arrives; panics after `attempts` errors.
fn frame_after_reconnect(
    src: &mut dyn Source,
    cx: &Cx,
    attempts: usize,
) -> (Frame, Vec<ComponentError>) {
    let mut errors = Vec::new();
    loop {
        match src.next_frame(&cx.cx) {
            Ok(Poll::Frame(f)) => return (f, errors),
            Ok(Poll::Eos) => panic!("a live source does not end"),
            Err(e) => {
                assert!(e.transient, "{e:?}");
                errors.push(e);
                assert!(
                    errors.len() < attempts,
                    "no frame after {attempts} attempts: {errors:?}"
                );
                thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Frames until the first error: (frames seen, the error). Panics after `limit` frames.
fn until_error(src: &mut dyn Source, cx: &Cx, limit: usize) -> (usize, ComponentError) {
    for n in 0..limit {
        match src.next_frame(&cx.cx) {
            Ok(Poll::Frame(_)) => {}
            Ok(Poll::Eos) => panic!("a live source does not end"),
            Err(e) => return (n, e),
        }
    }
    panic!("still delivering frames after {limit}");
}

/// Reads frames of `size` until `rtcp_wanted` carry RTCP capture times (at most `limit`
/// frames); checks sizes, sequence numbers and increasing capture times, and that RTCP
/// capture times are never after arrival (same machine, same clock) and typically (the
/// median) within 200 ms of it. The median keeps a loaded machine, which can only delay
/// arrivals, from failing the test; a wrong anchor shifts every frame.
fn check_stream(src: &mut LiveSource, cx: &Cx, size: (u32, u32), rtcp_wanted: usize, limit: usize) {
    let mut lags_ms = Vec::new();
    let mut first_rtcp = None;
    let mut last_capture = i64::MIN;
    for i in 0..limit as u64 {
        let (f, arrival_wall) = frame(src, cx);
        assert_eq!(f.seq, i);
        assert_eq!((f.width(), f.height()), size, "frame {i}");
        assert!(f.capture_time_ns > last_capture, "capture times increase");
        last_capture = f.capture_time_ns;
        let lag_ms = (arrival_wall - f.capture_time_ns) as f64 / 1e6;
        match f.capture_clock {
            CaptureClock::Rtcp => {
                assert!(
                    lag_ms > -20.0,
                    "frame {i}: RTCP capture time {lag_ms:.1} ms after arrival"
                );
                first_rtcp.get_or_insert(i);
                lags_ms.push(lag_ms);
                if lags_ms.len() == rtcp_wanted {
                    lags_ms.sort_by(f64::total_cmp);
                    let median = lags_ms[lags_ms.len() / 2];
                    eprintln!(
                        "RTCP times from frame {first_rtcp:?}; arrival - capture: min {:.1} ms, median {median:.1} ms, max {:.1} ms",
                        lags_ms[0],
                        lags_ms[lags_ms.len() - 1]
                    );
                    assert!(
                        median <= 200.0,
                        "median arrival - RTCP capture {median:.1} ms"
                    );
                    let info = src.info();
                    assert_eq!((info.width, info.height), (Some(size.0), Some(size.1)));
                    return;
                }
            }
            CaptureClock::Arrival => assert!(lag_ms >= 0.0),
            CaptureClock::Media => panic!("a live source never uses media time"),
        }
    }
    panic!(
        "only {} of {limit} frames had RTCP capture times",
        lags_ms.len()
    );
}

#[test]
fn rtsp_over_tcp_delivers_frames_with_rtcp_capture_times() {
    let Some(file) = media("vtest_640x480_h264.mp4") else {
        return;
    };
    let Some(server) = Server::rtsp(&file) else {
        return;
    };
    let cx = cx();
    let mut src = rtsp_source(server.url(), RtspTransport::Tcp, 5_000);
    // The server sends a sender report every few seconds; 10 fps.
    check_stream(&mut src, &cx, (640, 480), 10, 150);
    assert_eq!(src.capture_clock(), Some(CaptureClock::Rtcp));
    assert_eq!((src.connects(), src.reconnects()), (1, 0));
    assert_eq!(src.info().kind, "rtsp");
}

#[test]
fn rtsp_over_udp_delivers_frames_with_rtcp_capture_times() {
    let Some(file) = media("vtest_h264.mp4") else {
        return;
    };
    let Some(server) = Server::rtsp(&file) else {
        return;
    };
    let cx = cx();
    let mut src = rtsp_source(server.url(), RtspTransport::Udp, 5_000);
    check_stream(&mut src, &cx, (768, 576), 10, 150);
}

#[test]
fn a_paused_rtsp_server_is_stalled_then_recovers() {
    let Some(file) = media("vtest_640x480_h264.mp4") else {
        return;
    };
    let Some(server) = Server::rtsp(&file) else {
        return;
    };
    let cx = cx();
    let mut src = rtsp_source(server.url(), RtspTransport::Tcp, 1_000);
    for _ in 0..5 {
        frame(&mut src, &cx);
    }
    server.pause();
    // Frames already in flight may still come; then the stall deadline fires.
    let (_, e) = until_error(&mut src, &cx, 50);
    assert!(e.stalled && e.transient, "{e:?}");
    assert_eq!(e.message, format!("no frame for 1s from {}", server.url()));
    assert!(!src.is_connected());
    server.resume();
    let (f, errors) = frame_after_reconnect(&mut src, &cx, 30);
    assert!(f.seq >= 5);
    eprintln!(
        "recovered after {} failed attempts: {errors:?}",
        errors.len()
    );
    assert_eq!(src.reconnects(), 1);
}

#[test]
fn stop_interrupts_a_paused_rtsp_stream() {
    let Some(file) = media("vtest_640x480_h264.mp4") else {
        return;
    };
    let Some(server) = Server::rtsp(&file) else {
        return;
    };
    let cx = cx();
    // Only the stop can end the blocked read in this test.
    let mut src = rtsp_source(server.url(), RtspTransport::Tcp, 120_000);
    frame(&mut src, &cx);
    server.pause();
    let stop = src.stop_handle();
    let stopper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(1_500));
        stop.stop();
    });
    let mut frames = 0;
    let end = loop {
        match src.next_frame(&cx.cx) {
            Ok(Poll::Frame(_)) if frames < 100 => frames += 1,
            other => break other,
        }
    };
    stopper.join().unwrap();
    assert!(matches!(end, Ok(Poll::Eos)), "{end:?}");
    server.resume();
}

#[test]
fn a_killed_rtsp_server_is_reconnected_after_restart() {
    let Some(file) = media("vtest_640x480_h264.mp4") else {
        return;
    };
    let Some(mut server) = Server::rtsp(&file) else {
        return;
    };
    let cx = cx();
    let mut src = rtsp_source(server.url(), RtspTransport::Tcp, 2_000);
    for _ in 0..5 {
        frame(&mut src, &cx);
    }
    server.kill();
    let (_, e) = until_error(&mut src, &cx, 50);
    assert!(e.transient, "{e:?}");
    // While the server is down, every call fails fast and names the camera.
    let (r, _) = next(&mut src, &cx);
    let down = r.unwrap_err();
    assert!(down.transient && !down.stalled, "{down:?}");
    assert!(
        down.message
            .starts_with(&format!("cannot connect to {}", server.url())),
        "{}",
        down.message
    );
    server.restart();
    let (f, _) = frame_after_reconnect(&mut src, &cx, 50);
    assert!(f.seq >= 5, "seq continues across reconnects");
    assert_eq!((f.width(), f.height()), (640, 480));
    assert_eq!(src.reconnects(), 1);
    assert!(src.connect_failures() >= 1);
}

#[test]
fn mjpeg_over_http_delivers_frames() {
    let Some(dir) = media("vtest_jpeg") else {
        return;
    };
    let Some(server) = Server::mjpeg(&dir, 10.0, None) else {
        return;
    };
    let cx = cx();
    let mut src = HttpConfig::new(server.url())
        .build_live(Name::from_static("cam"))
        .unwrap();
    let (first, _) = frame(&mut src, &cx);
    let size = (first.width(), first.height());
    assert!(size.0 > 0 && size.1 > 0);
    for i in 1..20 {
        let (f, arrival_wall) = frame(&mut src, &cx);
        assert_eq!(f.seq, i);
        assert_eq!((f.width(), f.height()), size);
        assert_eq!(f.capture_clock, CaptureClock::Arrival);
        assert!(f.capture_time_ns <= arrival_wall);
    }
    assert_eq!(src.info().kind, "http");
    assert_eq!(
        (src.info().width, src.info().height),
        (Some(size.0), Some(size.1))
    );
}

#[test]
fn a_frozen_mjpeg_server_is_stalled() {
    let Some(dir) = media("vtest_jpeg") else {
        return;
    };
    let Some(server) = Server::mjpeg(&dir, 10.0, Some(20)) else {
        return;
    };
    let cx = cx();
    let mut c = HttpConfig::new(server.url());
    c.stall_timeout = HumanDuration::from_millis(1_000);
    let mut src = c.build_live(Name::from_static("cam")).unwrap();
    let (frames, e) = until_error(&mut src, &cx, 100);
    assert!(frames > 0);
    assert!(e.stalled && e.transient, "{e:?}");
    assert_eq!(e.message, format!("no frame for 1s from {}", server.url()));
}
