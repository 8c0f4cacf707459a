//! `FusionEngine::observe` with 10 rules, and condition evaluation on its own.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use visualpath_core::observation::Timing;
use visualpath_core::{BBox, Detection, Name, Observation, ObservationData, Values};
use visualpath_fusion::{Condition, Expr, FusionEngine, ObservationEnv, RuleConfig};

const RULES: [&str; 10] = [
    "motion.score > 0.05",
    "motion.score > 0.5 and count(detect, \"person\") >= 1",
    "count(detect) > 2 or has(scene, \"cut\")",
    "stats.brightness < 40",
    "not present(detect) and motion.score > 0.2",
    "motion.region.r1c2 > 0.3 && count(detect, 'car') == 0",
    "stats.brightness > 200 or stats.brightness < 10",
    "(motion.score > 0.1 or stats.brightness > 100) and not has(scene, \"cut\")",
    "count(detect, \"person\") >= 2 and count(detect, \"car\") >= 1",
    "present(scene) == false",
];

fn observation(analyzer: &str, data: ObservationData) -> Observation {
    Observation {
        analyzer: Name::new(analyzer).unwrap(),
        source: Name::new("cam1").unwrap(),
        seq: 0,
        capture_time_ns: 0,
        arrival_ns: 0,
        frame_size: (0, 0),
        data,
        timing: Timing::default(),
    }
}

fn detection(class: &'static str) -> Detection {
    Detection {
        class: class.into(),
        class_id: 1,
        score: 0.9,
        bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
    }
}

/// Observations of four analyzers; `motion` alternates between a quiet and a busy version
/// so that rules start and end now and then.
fn templates() -> Vec<Observation> {
    let motion = |score: f64| {
        observation(
            "motion",
            ObservationData {
                values: Values::new()
                    .with("score", score)
                    .with("region.r1c2", score),
                ..ObservationData::default()
            },
        )
    };
    vec![
        motion(0.01),
        motion(0.8),
        observation(
            "detect",
            ObservationData {
                detections: vec![detection("person"), detection("person"), detection("car")],
                ..ObservationData::default()
            },
        ),
        observation(
            "stats",
            ObservationData {
                values: Values::new().with("brightness", 120.0),
                ..ObservationData::default()
            },
        ),
        observation(
            "scene",
            ObservationData {
                tags: vec!["day".into()],
                ..ObservationData::default()
            },
        ),
    ]
}

fn rules() -> Vec<RuleConfig> {
    RULES
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut r = RuleConfig::new(
                Name::new(&format!("rule{i}")).unwrap(),
                Condition::parse(w).unwrap(),
            );
            r.hold = visualpath_core::HumanDuration::from_millis(200 * (i as u64 % 3));
            r
        })
        .collect()
}

fn bench_observe(c: &mut Criterion) {
    let mut group = c.benchmark_group("fusion");
    group.throughput(Throughput::Elements(1));
    group.bench_function("observe/10_rules", |b| {
        let mut engine = FusionEngine::new(rules());
        let mut obs = templates();
        let mut out = Vec::with_capacity(64);
        let mut frame: u64 = 0;
        let mut k: usize = 0;
        b.iter(|| {
            // Four observations per frame (one per analyzer), frames 40 ms apart; motion is
            // busy for 50 frames, then quiet for 50.
            let slot = k % 4;
            let idx = match slot {
                0 if (frame / 50).is_multiple_of(2) => 1,
                0 => 0,
                s => s + 1,
            };
            let o = &mut obs[idx];
            o.seq = frame;
            o.capture_time_ns = frame as i64 * 40_000_000;
            engine.observe(black_box(o), &mut out);
            out.clear();
            k += 1;
            if slot == 3 {
                frame += 1;
            }
        });
    });
    let exprs: Vec<Expr> = RULES.iter().map(|w| Expr::parse(w).unwrap()).collect();
    let obs = templates();
    group.throughput(Throughput::Elements(RULES.len() as u64));
    group.bench_function("eval/10_conditions_observation_env", |b| {
        let env = ObservationEnv::new(&obs[1..]);
        b.iter(|| exprs.iter().filter(|e| e.eval(black_box(&env))).count());
    });
    group.finish();
}

criterion_group!(benches, bench_observe);
criterion_main!(benches);
