//! Queue operations with 100,000 stored jobs beside the same operations with 1,000 stored
//! jobs (the same-run baseline): the ratio shows how each call scales with the table.
//!
//! Each store is a file in a temporary folder (WAL, `synchronous = FULL`, so every write
//! includes its fsync). Fill: N jobs submitted in one transaction, then all but the newest
//! ~1,000 (a tenth of them for N = 1,000) finished in one more transaction (an attempt and
//! an output each, one in twenty failed); a few are left running. The queued jobs have
//! mixed priorities.
//!
//! Run: `cargo bench -p visualpath-farm-store --bench store`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use visualpath_farm_store::{JobFilter, JobId, NewJob, OutputRow, Store};

/// A typical text-to-image workflow in API format (~1 KB of JSON).
fn workflow(seed: u64) -> Value {
    json!({
        "3": {"class_type": "KSampler", "inputs": {"seed": seed, "steps": 20, "cfg": 7.0,
              "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
              "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
              "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode",
              "inputs": {"text": "a lighthouse on a cliff at dusk, volumetric light", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry, low quality", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "farm", "images": ["8", 0]}}
    })
}

fn new_job(i: u64) -> NewJob {
    NewJob {
        name: Some(format!("job-{i}")),
        priority: (i % 5) as i64,
        workflow: workflow(i),
        params: json!({"seed": i}),
        targets: None,
        tags: vec!["sdxl".into()],
        pool: None,
        max_retries: 2,
        requirements: json!({"classes": ["KSampler", "SaveImage"], "models": ["sd_xl_base_1.0.safetensors"]}),
        plan: json!({"order": ["4", "5", "6", "7", "3", "8", "9"]}),
    }
}

fn output(job: JobId) -> OutputRow {
    OutputRow {
        job,
        node: "9".into(),
        kind: "images".into(),
        filename: format!("farm_{job:05}_.png"),
        subfolder: String::new(),
        file_type: "output".into(),
        path: Some(format!("outputs/{job}/farm_{job:05}_.png")),
        bytes: 1_500_000,
        mime: Some("image/png".into()),
        text: None,
    }
}

/// A store in `dir` holding `total` jobs, `queued` of them queued, 8 running.
fn fill(dir: &Path, total: u64, queued: u64) -> Store {
    let t0 = Instant::now();
    let file = dir.join("farm.db");
    let store = Store::open(&file).expect("open");
    let jobs: Vec<NewJob> = (0..total).map(new_job).collect();
    let (_, ids) = store.submit(&jobs, None, 1_000).expect("fill: submit");
    let finished = ids[(total - queued - 8) as usize - 1];
    // Finishing ~99,000 jobs call by call would take minutes of fsyncs: one transaction
    // on the same file does what start_attempt + complete/fail would have written.
    let mut conn = rusqlite::Connection::open(&file).expect("raw open");
    let tx = conn.transaction().expect("begin");
    tx.execute(
        "INSERT INTO attempts (job, backend, prompt_id, client_id, state, error, started_ms, \
         finished_ms) SELECT id, 'gpu-' || (id % 8), 'prompt-' || id, 'farm', \
         CASE WHEN id % 20 = 0 THEN 'failed' ELSE 'succeeded' END, \
         CASE WHEN id % 20 = 0 THEN 'execution_error' END, created_ms, created_ms + 9000 \
         FROM jobs WHERE id <= ?1",
        [finished],
    )
    .expect("fill: attempts");
    tx.execute(
        "INSERT INTO outputs (job, node, kind, filename, subfolder, file_type, path, bytes, mime) \
         SELECT id, '9', 'images', 'farm_' || id || '_.png', '', 'output', \
         'outputs/' || id || '/farm_' || id || '_.png', 1500000, 'image/png' \
         FROM jobs WHERE id <= ?1 AND id % 20 <> 0",
        [finished],
    )
    .expect("fill: outputs");
    tx.execute(
        "UPDATE jobs SET state = CASE WHEN id % 20 = 0 THEN 'failed' ELSE 'succeeded' END, \
         error = CASE WHEN id % 20 = 0 THEN 'execution_error' END, attempts = 1, \
         backend = 'gpu-' || (id % 8), prompt_id = 'prompt-' || id, \
         started_ms = created_ms, finished_ms = created_ms + 9000 WHERE id <= ?1",
        [finished],
    )
    .expect("fill: finish");
    tx.commit().expect("fill: commit");
    for &id in &ids[ids.len() - queued as usize - 8..ids.len() - queued as usize] {
        store
            .start_attempt(id, "gpu-0", &format!("prompt-{id}"), "farm", 2_000)
            .expect("fill: running");
    }
    let counts = store.counts().expect("counts");
    eprintln!("filled {total} jobs in {:.1?}: {counts:?}", t0.elapsed());
    store
}

fn queue_operations(c: &mut Criterion) {
    let sizes: [(u64, u64); 2] = [(1_000, 100), (100_000, 1_000)];
    let dirs: Vec<tempfile::TempDir> = sizes
        .iter()
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let stores: Vec<(u64, Store)> = sizes
        .iter()
        .zip(&dirs)
        .map(|(&(total, queued), dir)| (total, fill(dir.path(), total, queued)))
        .collect();

    let mut g = c.benchmark_group("queue operations");
    let mut seq = 10_000_000u64;
    let mut next = move || {
        seq += 1;
        seq
    };

    for (total, store) in &stores {
        let total = *total;
        let one = |i: u64| [new_job(i)];
        g.bench_with_input(BenchmarkId::new("submit one job", total), store, |b, s| {
            b.iter_batched(
                || one(next()),
                |jobs| s.submit(black_box(&jobs), None, 5_000).expect("submit"),
                BatchSize::SmallInput,
            )
        });
        g.bench_with_input(BenchmarkId::new("queued_head(16)", total), store, |b, s| {
            b.iter(|| black_box(s.queued_head(16).expect("head")))
        });
        g.bench_with_input(
            BenchmarkId::new("start_attempt+complete", total),
            store,
            |b, s| {
                b.iter_batched(
                    || s.submit(&one(next()), None, 5_000).expect("setup").1[0],
                    |id| {
                        s.start_attempt(id, "gpu-1", "p", "farm", 6_000)
                            .expect("start");
                        s.complete(id, &[output(id)], 7_000).expect("complete");
                    },
                    BatchSize::SmallInput,
                )
            },
        );
        g.bench_with_input(
            BenchmarkId::new("cancel queued job", total),
            store,
            |b, s| {
                b.iter_batched(
                    || s.submit(&one(next()), None, 5_000).expect("setup").1[0],
                    |id| s.cancel(id, 8_000).expect("cancel"),
                    BatchSize::SmallInput,
                )
            },
        );
        let head = store.queued_head(1).expect("head")[0].id;
        let mut p = 0i64;
        g.bench_with_input(BenchmarkId::new("set_priority", total), store, |b, s| {
            b.iter(|| {
                p = (p + 1) % 5;
                s.set_priority(head, p).expect("priority")
            })
        });
        // Ids spread over the whole table (a fixed pseudo-random walk).
        let mut x = 12345u64;
        g.bench_with_input(BenchmarkId::new("job(id)", total), store, |b, s| {
            b.iter(|| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let id = (x >> 33) % total + 1;
                black_box(s.job(id as i64).expect("job"))
            })
        });
        g.bench_with_input(BenchmarkId::new("jobs(newest 50)", total), store, |b, s| {
            let f = JobFilter::default();
            b.iter(|| black_box(s.jobs(&f).expect("jobs")))
        });
        g.bench_with_input(
            BenchmarkId::new("jobs(failed, newest 50)", total),
            store,
            |b, s| {
                let f = JobFilter {
                    states: vec![visualpath_farm_store::JobState::Failed],
                    ..JobFilter::default()
                };
                b.iter(|| black_box(s.jobs(&f).expect("jobs")))
            },
        );
        g.bench_with_input(BenchmarkId::new("counts", total), store, |b, s| {
            b.iter(|| black_box(s.counts().expect("counts")))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500));
    targets = queue_operations
}
criterion_main!(benches);
