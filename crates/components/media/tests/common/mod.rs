//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use visualpath_core::{Frame, ManualClock};
use visualpath_sdk::{Poll, Source, SourceContext};

/// Wall time the test clocks start at.
pub const WALL0: i64 = 1_700_000_000_000_000_000;

/// The asset `media/name`, or `None` after printing why the calling test skips.
pub fn asset(name: &str) -> Option<PathBuf> {
    visualpath_testkit::asset(&format!("media/{name}"))
}

/// A manual clock and a context using it.
pub fn context() -> (Arc<ManualClock>, SourceContext) {
    let clock = Arc::new(ManualClock::new(WALL0));
    let cx = SourceContext::new(clock.clone());
    (clock, cx)
}

/// A deterministic 64-bit hash of the bytes (std's SipHash with fixed keys, fast even in
/// debug builds because std is optimized).
pub fn checksum(data: &[u8]) -> u64 {
    use std::hash::Hasher;
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    h.write(data);
    h.finish()
}

/// What the tests check about one frame, without keeping its pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub seq: u64,
    pub pts_ns: Option<i64>,
    pub capture_time_ns: i64,
    pub arrival_ns: u64,
    pub width: u32,
    pub height: u32,
    pub checksum: Option<u64>,
}

/// Pulls frames until end of stream (at most `limit`), advancing the clock 1 ms per call,
/// and summarizes them; pixels are hashed for the `seq`s in `hash`.
pub fn drain(
    src: &mut dyn Source,
    cx: &SourceContext,
    clock: &ManualClock,
    limit: usize,
    hash: &[u64],
) -> Vec<Summary> {
    let mut out = Vec::new();
    while out.len() < limit {
        clock.advance(Duration::from_millis(1));
        match src.next_frame(cx).expect("next_frame failed") {
            Poll::Frame(f) => out.push(summarize(&f, hash.contains(&f.seq))),
            Poll::Eos => break,
        }
    }
    out
}

/// Summary of one frame.
pub fn summarize(f: &Frame, hash: bool) -> Summary {
    Summary {
        seq: f.seq,
        pts_ns: f.pts_ns,
        capture_time_ns: f.capture_time_ns,
        arrival_ns: f.arrival_ns,
        width: f.width(),
        height: f.height(),
        checksum: hash.then(|| checksum(f.image.data())),
    }
}

/// The next frame, panicking on end of stream or error.
pub fn next(src: &mut dyn Source, cx: &SourceContext) -> Frame {
    match src.next_frame(cx).expect("next_frame failed") {
        Poll::Frame(f) => f,
        Poll::Eos => panic!("unexpected end of stream"),
    }
}

/// Whether the source is at its end.
pub fn is_eos(src: &mut dyn Source, cx: &SourceContext) -> bool {
    matches!(src.next_frame(cx).expect("next_frame failed"), Poll::Eos)
}
