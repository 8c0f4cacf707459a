//! Decode throughput: `FileSource` producing RGB frames versus a bare ffmpeg-next
//! decode-only loop (the baseline: demux + decode, no conversion, no frames), both on
//! `vtest.avi` (795 frames of 768x576 MS-MPEG4v3) with the same threading, reported in
//! frames per second. Also the synthetic source's frame generation.
//!
//! The asset is looked up in `$VISUALPATH_ASSETS/media`, the repository's `assets/media`,
//! then the shared cache beside the repository; without it only the synthetic benchmark
//! runs.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ffmpeg_next as ffmpeg;
use visualpath_core::SystemClock;
use visualpath_media::{FileSource, FileSourceConfig, SyntheticConfig, decode};
use visualpath_sdk::{Name, Poll, Source, SourceContext};

fn asset(name: &str) -> Option<PathBuf> {
    visualpath_testkit::asset(&format!("media/{name}"))
}

/// Decodes every frame with ffmpeg-next alone and returns how many there were.
fn bare_decode(path: &str) -> u64 {
    let mut input = ffmpeg::format::input(path).unwrap();
    let stream = input.streams().best(ffmpeg::media::Type::Video).unwrap();
    let index = stream.index();
    let mut ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters()).unwrap();
    ctx.set_threading(ffmpeg::threading::Config {
        kind: ffmpeg::threading::Type::Frame,
        count: 0,
        ..Default::default()
    });
    let mut decoder = ctx.decoder().video().unwrap();
    let mut frame = ffmpeg::frame::Video::empty();
    let mut n = 0;
    for (s, packet) in input.packets() {
        if s.index() == index {
            decoder.send_packet(&packet).unwrap();
            while decoder.receive_frame(&mut frame).is_ok() {
                n += 1;
            }
        }
    }
    decoder.send_eof().unwrap();
    while decoder.receive_frame(&mut frame).is_ok() {
        n += 1;
    }
    n
}

/// Pulls every RGB frame from a `FileSource` and returns how many there were.
fn source_decode(path: &str, cx: &SourceContext) -> u64 {
    let mut src =
        FileSource::open(Name::from_static("bench"), &FileSourceConfig::new(path)).unwrap();
    let mut n = 0;
    while let Poll::Frame(f) = src.next_frame(cx).unwrap() {
        black_box(f.image.data()[0]);
        n += 1;
    }
    n
}

fn bench_decode(c: &mut Criterion) {
    decode::init();
    let Some(path) = asset("vtest.avi") else {
        eprintln!("SKIPPED decode benchmarks: vtest.avi is absent");
        return;
    };
    let path = path.to_str().unwrap().to_owned();
    let cx = SourceContext::new(SystemClock::shared());
    let frames = bare_decode(&path);
    assert_eq!(source_decode(&path, &cx), frames);

    let mut g = c.benchmark_group("vtest.avi");
    g.throughput(Throughput::Elements(frames));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("ffmpeg-next decode only (baseline)", |b| {
        b.iter(|| black_box(bare_decode(&path)))
    });
    g.bench_function("FileSource RGB frames", |b| {
        b.iter(|| black_box(source_decode(&path, &cx)))
    });
    g.finish();
}

fn bench_synthetic(c: &mut Criterion) {
    let cx = SourceContext::new(SystemClock::shared());
    let mut src = SyntheticConfig::default()
        .build(Name::from_static("synth"))
        .unwrap();
    let mut g = c.benchmark_group("synthetic 640x480");
    g.throughput(Throughput::Elements(1));
    g.bench_function("next_frame", |b| {
        b.iter(|| match src.next_frame(&cx).unwrap() {
            Poll::Frame(f) => black_box(f.seq),
            Poll::Eos => unreachable!("endless"),
        })
    });
    g.finish();
}

criterion_group!(benches, bench_decode, bench_synthetic);
criterion_main!(benches);
