//! NMS on 1,000 candidates (clustered like a real detector's output: ~50 objects with
//! ~20 overlapping boxes each) and YOLOv8 decoding of a full 640x640 output
//! (`[1, 84, 8400]`), with in-run baselines: cloning the candidates, and copying the YOLO
//! output once (the least any decoder that reads every value pays).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use visualpath_core::BBox;
use visualpath_vision::{
    Candidate, Labels, NmsMode, TensorRef, Transform, YoloConfig, YoloDecoder, nms,
};

struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn candidates(n: usize) -> Vec<Candidate> {
    let mut r = Rng(1);
    let centres: Vec<(f32, f32, f32, u32)> = (0..50)
        .map(|i| {
            (
                r.unit() * 600.0,
                r.unit() * 600.0,
                20.0 + r.unit() * 100.0,
                i % 5,
            )
        })
        .collect();
    (0..n)
        .map(|i| {
            let (cx, cy, s, class_id) = centres[i % centres.len()];
            let (dx, dy) = ((r.unit() - 0.5) * s * 0.3, (r.unit() - 0.5) * s * 0.3);
            Candidate {
                bbox: BBox::new(
                    cx + dx - s / 2.0,
                    cy + dy - s / 2.0,
                    cx + dx + s / 2.0,
                    cy + dy + s / 2.0,
                ),
                score: r.unit(),
                class_id,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("nms_1000");
    let input = candidates(1000);
    g.bench_function("clone_baseline", |b| b.iter(|| black_box(input.clone())));
    for (name, mode) in [
        ("class_aware", NmsMode::ClassAware),
        ("class_agnostic", NmsMode::ClassAgnostic),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || input.clone(),
                |mut v| {
                    nms(&mut v, 0.45, mode, 1000);
                    v
                },
                BatchSize::SmallInput,
            )
        });
    }
    // No overlaps at all: the worst case (every candidate is kept and compared with all
    // kept before it).
    let spread: Vec<Candidate> = (0..1000)
        .map(|i| Candidate {
            bbox: BBox::new(
                (i % 40) as f32 * 20.0,
                (i / 40) as f32 * 20.0,
                (i % 40) as f32 * 20.0 + 10.0,
                (i / 40) as f32 * 20.0 + 10.0,
            ),
            score: (i * 7919 % 1000) as f32 / 1000.0,
            class_id: 0,
        })
        .collect();
    g.bench_function("disjoint_worst_case", |b| {
        b.iter_batched(
            || spread.clone(),
            |mut v| {
                nms(&mut v, 0.45, NmsMode::ClassAgnostic, 1000);
                v
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("yolo_v8_84x8400");
    let n = 8400;
    let mut r = Rng(2);
    let mut data: Vec<f32> = (0..84 * n).map(|_| r.unit() * 0.02).collect();
    for i in (0..n).step_by(97) {
        data[i] = r.unit() * 640.0;
        data[n + i] = r.unit() * 640.0;
        data[2 * n + i] = 30.0;
        data[3 * n + i] = 60.0;
        data[4 * n + i] = 0.3 + r.unit() * 0.6;
    }
    let shape = [1, 84, n];
    let t = Transform::identity(640, 640);
    let mut copy = vec![0f32; data.len()];
    g.bench_function("copy_baseline", |b| {
        b.iter(|| {
            copy.copy_from_slice(black_box(&data));
            black_box(&copy);
        })
    });
    let mut d = YoloDecoder::new(YoloConfig::default(), Labels::coco80()).unwrap();
    g.bench_function("decode", |b| {
        b.iter(|| {
            black_box(
                d.decode(&TensorRef::new(&shape, black_box(&data)), &t)
                    .unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
