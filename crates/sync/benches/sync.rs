//! Push throughput with 4 inputs: 33 ms frames with jitter, in a shuffled arrival order
//! within each frame period, for every policy.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use visualpath_core::HumanDuration;
use visualpath_sync::{BarrierConfig, SyncPolicy, TimeWindowConfig, build};

const INPUTS: usize = 4;
const FRAMES: usize = 2_500;

/// `(input, capture_ns, now_ns)` for `FRAMES` frames of `INPUTS` cameras.
fn workload() -> Vec<(usize, i64, u64)> {
    let mut state: u64 = 42;
    let mut rnd = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    };
    let mut items = Vec::with_capacity(FRAMES * INPUTS);
    let mut now = 0u64;
    for k in 0..FRAMES as i64 {
        let mut batch: Vec<(usize, i64)> = (0..INPUTS)
            .map(|i| {
                let jitter = i64::from(rnd() % 9) - 4;
                (i, (k * 33 + i as i64 * 2 + jitter) * 1_000_000)
            })
            .collect();
        for j in (1..batch.len()).rev() {
            batch.swap(j, rnd() as usize % (j + 1));
        }
        for (i, c) in batch {
            now += 1_000_000;
            items.push((i, c, now));
        }
        now += 29_000_000;
    }
    items
}

fn bench(c: &mut Criterion) {
    let items = workload();
    let policies = [
        ("none", SyncPolicy::None),
        (
            "time_window",
            SyncPolicy::TimeWindow(TimeWindowConfig {
                tolerance: HumanDuration::from_millis(15),
                ..TimeWindowConfig::default()
            }),
        ),
        ("barrier", SyncPolicy::Barrier(BarrierConfig::default())),
    ];
    let mut group = c.benchmark_group("push_4_inputs");
    group.throughput(Throughput::Elements(items.len() as u64));
    for (name, policy) in policies {
        group.bench_function(name, |b| {
            let mut out = Vec::with_capacity(items.len());
            b.iter(|| {
                let mut sync = build::<u64>(&policy, INPUTS).expect("valid policy");
                for (n, &(input, capture, now)) in items.iter().enumerate() {
                    sync.push(input, capture, now, n as u64, &mut out);
                    out.clear();
                }
                sync.finish(&mut out);
                out.clear();
                black_box(sync.stats().emitted)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
