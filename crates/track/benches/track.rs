//! Tracker update cost per frame in steady state: objects on a grid, each moving on a
//! small circle (period 600 frames, so the precomputed scene loops without a jump), with
//! 1 px of detection noise, 30 frames per second. Every measured call is one frame with
//! all objects tracked (after 100 warm-up frames).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use visualpath_core::{BBox, Detection};
use visualpath_track::analyzer::TrackAnalyzer;
use visualpath_track::{
    ByteTrack, ByteTrackConfig, FrameTime, Sort, SortConfig, TrackConfig, Tracker, TrackerOptions,
};

const PERIOD: usize = 600;

fn scene(n: usize) -> Vec<Vec<Detection>> {
    let mut state = 42u64;
    let mut rnd = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as f32 / (1u64 << 31) as f32
    };
    let cols = (n as f32).sqrt().ceil() as usize;
    let phases: Vec<f32> = (0..n).map(|_| rnd() * std::f32::consts::TAU).collect();
    (0..PERIOD)
        .map(|k| {
            (0..n)
                .map(|i| {
                    let (x0, y0) = (
                        50.0 + 90.0 * (i % cols) as f32,
                        80.0 + 130.0 * (i / cols) as f32,
                    );
                    let a = phases[i] + k as f32 * std::f32::consts::TAU / PERIOD as f32;
                    let (x, y) = (
                        x0 + 20.0 * a.cos() + rnd() - 0.5,
                        y0 + 20.0 * a.sin() + rnd() - 0.5,
                    );
                    Detection {
                        class: "person".into(),
                        class_id: 1,
                        score: 0.5 + 0.5 * rnd(),
                        bbox: BBox::new(x - 15.0, y - 35.0, x + 15.0, y + 35.0),
                    }
                })
                .collect()
        })
        .collect()
}

fn ft(k: u64) -> FrameTime {
    FrameTime::new(k, k as i64 * 33_333_333)
}

fn run(b: &mut criterion::Bencher<'_>, tracker: &mut dyn Tracker, frames: &[Vec<Detection>]) {
    let mut k = 0u64;
    for _ in 0..100 {
        tracker.update(ft(k), &frames[k as usize % PERIOD]);
        k += 1;
    }
    assert_eq!(
        tracker.update(ft(k), &frames[k as usize % PERIOD]).len(),
        frames[0].len(),
        "every object is tracked in steady state"
    );
    k += 1;
    b.iter(|| {
        let out = tracker.update(ft(k), &frames[k as usize % PERIOD]);
        k += 1;
        black_box(out.len())
    });
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("bytetrack_update");
    for n in [10usize, 100, 500] {
        let frames = scene(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &frames, |b, frames| {
            let mut t =
                ByteTrack::new(ByteTrackConfig::default(), TrackerOptions::default()).unwrap();
            run(b, &mut t, frames);
        });
    }
    group.finish();

    let frames = scene(100);
    c.bench_function("sort_update/100", |b| {
        let mut t = Sort::new(SortConfig::default(), TrackerOptions::default()).unwrap();
        run(b, &mut t, &frames);
    });

    // The whole analyzer step (tracker, slots, 2 zones, 2 lines, values) at 100 objects.
    let cfg: TrackConfig = serde_json::from_str(
        r#"{"zones": [{"name": "a", "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
                      {"name": "b", "points": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]}],
            "lines": [{"name": "h", "a": [0, 0.5], "b": [1, 0.5]},
                      {"name": "v", "a": [0.5, 0], "b": [0.5, 1]}]}"#,
    )
    .unwrap();
    c.bench_function("track_analyzer_step/100", |b| {
        let mut a = TrackAnalyzer::new(&cfg).unwrap();
        let mut k = 0u64;
        for _ in 0..100 {
            a.step(ft(k), 1000, 1400, Some(&frames[k as usize % PERIOD]));
            k += 1;
        }
        b.iter(|| {
            let d = a.step(ft(k), 1000, 1400, Some(&frames[k as usize % PERIOD]));
            k += 1;
            black_box(d.tracks.len())
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
