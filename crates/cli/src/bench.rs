//! `visualpath bench`: the engine's cost against the bare work, measured in one run.
//!
//! Three ways of doing the same work on the same file, each repeated and reported as the
//! median:
//! - `decode`: the source alone in a loop (FFmpeg decode + conversion to RGB);
//! - `bare`: decode and call each analyzer in a plain loop, no runtime (the minimum
//!   cost of the work itself);
//! - `pipeline`: the same analyzers through the runtime (source thread, edges,
//!   executor, observations, a JSONL sink).
//!
//! The ratio `pipeline / bare` is the framework's overhead (below 1 when the runtime's
//! pipelining across threads wins).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use visualpath_sdk::{AnalyzerFactory, Poll, Source, SourceContext, Upstream};

use crate::bench_models::{DetectBenchArgs, E2eArgs};
use crate::run::{RunArgs, plan_for};

/// `visualpath bench <what>`.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCmd {
    /// The runtime against the bare work (decode + analyzers in a plain loop).
    Engine(BenchArgs),
    /// Detector inference: visualpath (Rust, ONNX Runtime) against Python onnxruntime.
    Detect(DetectBenchArgs),
    /// End to end on a video: detect + track every frame, and detect every Nth frame with
    /// tracking in between; throughput and capture-to-output latency.
    E2e(E2eArgs),
}

/// Arguments of `visualpath bench engine`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The video to measure with.
    #[arg(long, default_value = "assets/media/vtest.avi")]
    pub input: String,
    /// Analyzers, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "motion,frame_stats,scene_cut"
    )]
    pub analyze: Vec<String>,
    /// Repetitions of each measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Executor for the pipeline run: `sequential`, `pool` or `pool:N`.
    #[arg(long, default_value = "pool:2")]
    pub executor: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn args_for(b: &BenchArgs, jsonl: Option<PathBuf>) -> RunArgs {
    RunArgs {
        input: b.input.clone(),
        analyze: b.analyze.clone(),
        jsonl,
        stdout: false,
        osc: None,
        mqtt: None,
        redis: None,
        ws: None,
        webhook: None,
        max_frames: None,
        duration: None,
        realtime: false,
        looping: false,
        rtsp_transport: None,
        trace: None,
        executor: Some(b.executor.clone()),
        no_progress: true,
        report: None,
    }
}

fn open_source(b: &BenchArgs) -> anyhow::Result<Box<dyn Source>> {
    let plan = plan_for(&args_for(b, None))?;
    let spec = &plan.config.sources[0];
    let src = match (&spec.file, &spec.images, &spec.synthetic) {
        (Some(f), _, _) => f.build(spec.name.value.clone()),
        (_, Some(i), _) => i.build(spec.name.value.clone()),
        (_, _, Some(s)) => s.build(spec.name.value.clone()),
        _ => bail!("no source"),
    };
    src.map_err(|e| anyhow::anyhow!("{}", e.message))
}

/// Frames per second of the source alone.
fn decode_only(b: &BenchArgs) -> anyhow::Result<(u64, f64)> {
    let mut src = open_source(b)?;
    let cx = SourceContext::new(visualpath_core::SystemClock::shared());
    let t = Instant::now();
    let mut n = 0u64;
    while let Poll::Frame(_) = src
        .next_frame(&cx)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?
    {
        n += 1;
    }
    Ok((n, n as f64 / t.elapsed().as_secs_f64()))
}

/// Frames per second of decode + analyzers in a plain loop.
fn bare(b: &BenchArgs) -> anyhow::Result<(u64, f64)> {
    let plan = plan_for(&args_for(b, None))?;
    let mut src = open_source(b)?;
    let info = src.info().clone();
    let mut analyzers = Vec::new();
    for &i in &plan.analyzer_order {
        let a = &plan.config.analyzers[i];
        let f: std::sync::Arc<dyn AnalyzerFactory> = if let Some(c) = &a.motion {
            c.factory()
        } else if let Some(c) = &a.frame_stats {
            c.factory()
        } else if let Some(c) = &a.scene_cut {
            c.factory()
        } else {
            bail!("unsupported analyzer");
        };
        analyzers.push(
            f.create(&info)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?,
        );
    }
    let cx = SourceContext::new(visualpath_core::SystemClock::shared());
    let t = Instant::now();
    let mut n = 0u64;
    while let Poll::Frame(f) = src
        .next_frame(&cx)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?
    {
        for a in &mut analyzers {
            std::hint::black_box(
                a.analyze(&f, Upstream::default())
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?,
            );
        }
        n += 1;
    }
    Ok((n, n as f64 / t.elapsed().as_secs_f64()))
}

/// Frames per second through the runtime, writing JSONL.
fn pipeline(b: &BenchArgs, dir: &std::path::Path) -> anyhow::Result<(u64, f64)> {
    let plan = plan_for(&args_for(b, Some(dir.join("bench.jsonl"))))?;
    let overrides = visualpath_pipeline::Overrides {
        executor: Some(crate::run::parse_executor_pub(&b.executor)?),
        ..Default::default()
    };
    let p = visualpath_pipeline::builder(&plan, &overrides)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    let report = p.run().context("running")?;
    let secs = t.elapsed().as_secs_f64();
    if let Some(e) = report.error {
        bail!("{e}");
    }
    let n = report
        .nodes
        .iter()
        .filter(|n| n.kind == visualpath_runtime::NodeKind::Source)
        .map(|n| n.processed)
        .sum::<u64>();
    Ok((n, n as f64 / secs))
}

pub fn bench(cmd: BenchCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCmd::Engine(b) => engine(b),
        BenchCmd::Detect(b) => crate::bench_models::detect(b),
        BenchCmd::E2e(b) => crate::bench_models::e2e(b),
    }
}

fn engine(b: BenchArgs) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("visualpath-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut d = Vec::new();
    let mut r = Vec::new();
    let mut p = Vec::new();
    let mut frames = 0;
    for i in 0..b.repeat.max(1) {
        // Interleave the three so machine noise hits them alike.
        let (n, x) = decode_only(&b)?;
        d.push(x);
        let (_, y) = bare(&b)?;
        r.push(y);
        let (m, z) = pipeline(&b, &dir)?;
        p.push(z);
        frames = n;
        if m != n {
            bail!("pipeline processed {m} frames, decode {n}");
        }
        eprintln!(
            "round {}: decode {x:.1} fps, bare {y:.1} fps, pipeline {z:.1} fps",
            i + 1
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (d, r, p) = (median(d), median(r), median(p));
    println!(
        "input: {} ({frames} frames), analyzers: {}, executor: {}",
        b.input,
        b.analyze.join(","),
        b.executor
    );
    println!();
    println!(
        "| measurement | fps (median of {}) | vs bare |",
        b.repeat.max(1)
    );
    println!("|---|---|---|");
    println!("| decode only | {d:.1} | |");
    println!("| bare loop: decode + analyzers | {r:.1} | 1.00 |");
    println!(
        "| visualpath pipeline (+ JSONL sink) | {p:.1} | {:.2} |",
        p / r
    );
    Ok(ExitCode::SUCCESS)
}
