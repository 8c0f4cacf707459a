//! Per-frame cost of each analyzer on a 768x576 RGB24 frame (the size of the OpenCV
//! `vtest.avi` sample), with the grayscale downscale alone as the baseline.
//!
//! Run with `cargo bench -p visualpath-analyzers`. The frames are synthetic but textured
//! (a moving gradient with noise-like structure) so that nothing short-circuits.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use visualpath_analyzers::gray::Downscaler;
use visualpath_analyzers::{FrameStatsConfig, MotionConfig, SceneCutConfig};
use visualpath_sdk::{
    AnalyzerFactory, Frame, Image, Name, PixelBuffer, PixelFormat, SourceInfo, Upstream,
};

const W: u32 = 768;
const H: u32 = 576;

/// A textured RGB24 frame; `phase` shifts the content so consecutive frames differ.
fn frame(seq: u64, phase: u32) -> Frame {
    let mut data = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H {
        for x in 0..W {
            let v = (x + phase).wrapping_mul(31) ^ y.wrapping_mul(17);
            data.extend_from_slice(&[v as u8, (v >> 3) as u8, (x + y + phase) as u8]);
        }
    }
    Frame {
        source: Name::from_static("bench"),
        seq,
        pts_ns: None,
        capture_time_ns: 0,
        arrival_ns: 0,
        capture_clock: visualpath_sdk::CaptureClock::Media,
        image: Image::packed(W, H, PixelFormat::Rgb24, PixelBuffer::from_vec(data))
            .expect("valid frame"),
    }
}

fn bench_analyzer(c: &mut Criterion, name: &str, factory: &dyn AnalyzerFactory) {
    let frames = [frame(0, 0), frame(1, 7)];
    let info = SourceInfo::new(Name::from_static("bench"), "synthetic");
    let mut analyzer = factory.create(&info).expect("valid config");
    let mut i = 0usize;
    c.bench_function(name, |b| {
        b.iter(|| {
            i += 1;
            let data = analyzer
                .analyze(black_box(&frames[i % 2]), Upstream::default())
                .expect("analyze");
            black_box(data)
        })
    });
}

fn benches(c: &mut Criterion) {
    let f = frame(0, 0);
    let mut down = Downscaler::new(160);
    c.bench_function("gray/downscale_768x576_rgb24", |b| {
        b.iter(|| {
            black_box(
                down.downscale(black_box(&f.image))
                    .expect("downscale")
                    .pixels()[0],
            )
        })
    });
    bench_analyzer(
        c,
        "motion/768x576_rgb24",
        &*MotionConfig::default().factory(),
    );
    bench_analyzer(
        c,
        "frame_stats/768x576_rgb24",
        &*FrameStatsConfig::default().factory(),
    );
    bench_analyzer(
        c,
        "scene_cut/768x576_rgb24",
        &*SceneCutConfig::default().factory(),
    );
}

criterion_group!(analyzers, benches);
criterion_main!(analyzers);
