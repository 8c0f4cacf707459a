//! Helpers shared by the integration tests: synthetic frames and analyzer plumbing.

#![allow(dead_code)]

use std::sync::Arc;

use visualpath_sdk::{
    Analyzer, AnalyzerFactory, Frame, Image, Name, ObservationData, PixelBuffer, PixelFormat,
    SourceInfo, Upstream,
};

/// Wraps packed pixel bytes in a frame.
pub fn frame(w: u32, h: u32, format: PixelFormat, seq: u64, data: Vec<u8>) -> Frame {
    Frame {
        source: Name::from_static("cam"),
        seq,
        pts_ns: None,
        capture_time_ns: 0,
        arrival_ns: 0,
        capture_clock: visualpath_sdk::CaptureClock::Media,
        image: Image::packed(w, h, format, PixelBuffer::from_vec(data)).unwrap(),
    }
}

/// A GRAY8 frame whose pixel `(x, y)` is `f(x, y)`.
pub fn gray(w: u32, h: u32, seq: u64, f: impl Fn(u32, u32) -> u8) -> Frame {
    let data = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| f(x, y));
    frame(w, h, PixelFormat::Gray8, seq, data.collect())
}

/// An RGB24 frame whose pixel `(x, y)` is `f(x, y)` as `[r, g, b]`.
pub fn rgb(w: u32, h: u32, seq: u64, f: impl Fn(u32, u32) -> [u8; 3]) -> Frame {
    let data = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .flat_map(|(x, y)| f(x, y));
    frame(w, h, PixelFormat::Rgb24, seq, data.collect())
}

/// A BGR24 frame whose pixel `(x, y)` is `f(x, y)` given as `[r, g, b]`.
pub fn bgr(w: u32, h: u32, seq: u64, f: impl Fn(u32, u32) -> [u8; 3]) -> Frame {
    let data = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .flat_map(|(x, y)| {
            let [r, g, b] = f(x, y);
            [b, g, r]
        });
    frame(w, h, PixelFormat::Bgr24, seq, data.collect())
}

/// An NV12 frame whose luma is `f(x, y)` and whose chroma bytes are all `chroma`.
pub fn nv12(w: u32, h: u32, seq: u64, chroma: u8, f: impl Fn(u32, u32) -> u8) -> Frame {
    let mut data: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| f(x, y))
        .collect();
    data.resize(PixelFormat::Nv12.packed_len(w, h), chroma);
    frame(w, h, PixelFormat::Nv12, seq, data)
}

/// A deterministic pseudo-random texture value (no dependency on a RNG crate).
pub fn noise(x: u32, y: u32, salt: u32) -> u8 {
    let mut v =
        x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77) ^ salt.wrapping_mul(0xC2B2_AE3D);
    v ^= v >> 15;
    v = v.wrapping_mul(0x2C1B_3C6D);
    v ^= v >> 12;
    (v >> 8) as u8
}

/// 1 inside the half-open rectangle, else 0.
pub fn inside(x: u32, y: u32, x0: u32, y0: u32, x1: u32, y1: u32) -> bool {
    (x0..x1).contains(&x) && (y0..y1).contains(&y)
}

/// Creates the analyzer of a factory for one source.
pub fn create(factory: &Arc<dyn AnalyzerFactory>) -> Box<dyn Analyzer> {
    factory
        .create(&SourceInfo::new(Name::from_static("cam"), "synthetic"))
        .unwrap()
}

/// Runs one frame through an analyzer.
pub fn run(analyzer: &mut dyn Analyzer, frame: &Frame) -> ObservationData {
    analyzer.analyze(frame, Upstream::default()).unwrap()
}

/// A value that must be present.
pub fn value(data: &ObservationData, name: &str) -> f64 {
    data.values
        .get(name)
        .unwrap_or_else(|| panic!("no value `{name}` in {:?}", data.values))
}
