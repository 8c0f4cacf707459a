//! `visualpath bench detect` and `visualpath bench e2e`.

use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use visualpath_core::{Frame, ManualClock, Name};
use visualpath_infer::{Device, Input, InputData, LoadOptions, Model};
use visualpath_media::FileSourceConfig;
use visualpath_models::DetectConfig;
use visualpath_runtime::{NodeKind, Schedule};
use visualpath_sdk::{Poll, SourceContext, SourceInfo, Upstream};

use crate::run::{RunArgs, plan_for};

/// Arguments of `visualpath bench detect`.
#[derive(clap::Args, Debug)]
pub struct DetectBenchArgs {
    /// The video whose frames are fed to the model.
    #[arg(long, default_value = "assets/media/vtest.avi")]
    pub input: String,
    /// Frames to time (the first N of the video).
    #[arg(long, default_value_t = 100)]
    pub frames: usize,
    /// ONNX Runtime intra-op threads, for both sides.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Rounds (Rust and Python alternate; medians are reported).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

/// Arguments of `visualpath bench e2e`.
#[derive(clap::Args, Debug)]
pub struct E2eArgs {
    /// The video.
    #[arg(long, default_value = "assets/media/vtest.avi")]
    pub input: String,
    /// Detect every Nth frame in the second configuration.
    #[arg(long, default_value_t = 3)]
    pub every: u32,
    /// Seconds of paced (real-time) input for the latency measurement.
    #[arg(long, default_value_t = 40.0)]
    pub latency_secs: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn decode_frames(input: &str, n: usize) -> anyhow::Result<Vec<Frame>> {
    let mut src = FileSourceConfig::new(input)
        .build(Name::from_static("bench"))
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let cx = SourceContext::new(Arc::new(ManualClock::new(0)));
    let mut v = Vec::new();
    while v.len() < n {
        match src
            .next_frame(&cx)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?
        {
            Poll::Frame(f) => v.push(f),
            Poll::Eos => break,
        }
    }
    Ok(v)
}

fn python_median_ms(model: &std::path::Path, b: &DetectBenchArgs) -> anyhow::Result<f64> {
    let root = crate::repo_root().context("repository root (for tools/ and scripts/)")?;
    let py = Command::new("bash")
        .arg(root.join("scripts/python-tools.sh"))
        .output()
        .context("scripts/python-tools.sh")?;
    if !py.status.success() {
        bail!(
            "no Python tools virtualenv: {}",
            String::from_utf8_lossy(&py.stderr)
        );
    }
    let python = String::from_utf8_lossy(&py.stdout).trim().to_string();
    let out = Command::new(python)
        .arg(root.join("tools/ssd_reference.py"))
        .arg(model)
        .arg(&b.input)
        .args([
            "--threads",
            &b.threads.to_string(),
            "--frames",
            &b.frames.to_string(),
            "--bench",
        ])
        .output()?;
    if !out.status.success() {
        bail!(
            "python reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

pub fn detect(b: DetectBenchArgs) -> anyhow::Result<ExitCode> {
    let resolved = visualpath_models::registry::resolve(
        "ssd-mobilenet-v2-coco",
        None,
        &[visualpath_models::Family::Ssd],
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let frames = decode_frames(&b.input, b.frames)?;
    let model = visualpath_infer_ort::load(
        &resolved.path,
        &LoadOptions {
            device: Device::Cpu,
            threads: b.threads,
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let analyzer_factory = DetectConfig {
        threads: b.threads,
        device: Device::Cpu,
        ..Default::default()
    }
    .build()
    .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let mut analyzer = analyzer_factory
        .create(&SourceInfo::new(Name::from_static("bench"), "file"))
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let (mut py, mut raw, mut full) = (Vec::new(), Vec::new(), Vec::new());
    let mut outputs = Vec::new();
    for round in 0..b.rounds.max(1) {
        let p = python_median_ms(&resolved.path, &b)?;
        py.push(p);
        let mut t_raw = Vec::new();
        let mut t_full = Vec::new();
        for f in &frames {
            let shape = [1, f.height() as usize, f.width() as usize, 3];
            let t = Instant::now();
            model
                .run(
                    &[Input {
                        shape: &shape,
                        data: InputData::U8(f.image.data()),
                    }],
                    &mut outputs,
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            t_raw.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            std::hint::black_box(
                analyzer
                    .analyze(f, Upstream::default())
                    .map_err(|e| anyhow::anyhow!("{}", e.message))?,
            );
            t_full.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (r, a) = (median(t_raw), median(t_full));
        eprintln!(
            "round {}: python {p:.2} ms, rust onnxruntime {r:.2} ms, rust detect analyzer {a:.2} ms",
            round + 1
        );
        raw.push(r);
        full.push(a);
    }
    let (p, r, a) = (median(py), median(raw), median(full));
    println!(
        "SSD-MobileNet-v2-COCO on {} ({} frames, {}x{}), {} intra-op thread(s), CPU",
        b.input,
        frames.len(),
        frames.first().map(|f| f.width()).unwrap_or(0),
        frames.first().map(|f| f.height()).unwrap_or(0),
        b.threads
    );
    println!();
    println!(
        "| measurement (median ms per frame, median of {} rounds) | ms | vs Python |",
        b.rounds.max(1)
    );
    println!("|---|---|---|");
    println!("| Python onnxruntime 1.31.1: `session.run` | {p:.2} | 1.00 |");
    println!(
        "| visualpath: ONNX Runtime run (same input) | {r:.2} | {:.3} |",
        r / p
    );
    println!(
        "| visualpath: `detect` analyzer (input + run + decode) | {a:.2} | {:.3} |",
        a / p
    );
    Ok(ExitCode::SUCCESS)
}

struct E2eResult {
    fps: f64,
    p50: f64,
    p99: f64,
    frames: u64,
    switches: Switches,
}

/// Identity breaks seen in the track records of a run.
///
/// vtest.avi has no ground-truth annotations, so a switch is detected from the output:
/// an *id switch* is a new track id whose first box overlaps (IoU > 0.3) the last box of a
/// track id that ended within the previous second (the same person, a new id); it is
/// also a *slot switch* when the new id's slot differs from the ended id's slot.
#[derive(Default, Debug, Clone, Copy)]
struct Switches {
    ids: usize,
    slots_used: usize,
    id_switches: usize,
    slot_switches: usize,
}

fn count_switches(jsonl: &std::path::Path) -> anyhow::Result<Switches> {
    use std::collections::HashMap;
    use visualpath_core::BBox;
    let text = std::fs::read_to_string(jsonl)?;
    // id -> (first seen t, first box, slot) and (last seen t, last box, slot)
    let mut first: HashMap<u64, (i64, BBox, Option<u64>)> = HashMap::new();
    let mut last: HashMap<u64, (i64, BBox, Option<u64>)> = HashMap::new();
    let mut slots = std::collections::HashSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if v["analyzer"] != "track" {
            continue;
        }
        let t = v["capture_time_ns"].as_i64().unwrap_or(0);
        for tr in v["tracks"].as_array().into_iter().flatten() {
            let id = tr["id"].as_u64().unwrap_or(0);
            let b: Vec<f32> = tr["box"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_f64())
                .map(|x| x as f32)
                .collect();
            if b.len() != 4 {
                continue;
            }
            let bb = BBox::new(b[0], b[1], b[2], b[3]);
            let slot = tr["slot"].as_u64();
            if let Some(s) = slot {
                slots.insert(s);
            }
            first.entry(id).or_insert((t, bb, slot));
            last.insert(id, (t, bb, slot));
        }
    }
    let mut sw = Switches {
        ids: first.len(),
        slots_used: slots.len(),
        ..Default::default()
    };
    for (id, (t0, b0, s0)) in &first {
        let prev = last.iter().find(|(other, (t1, b1, _))| {
            *other != id && *t1 < *t0 && t0 - t1 <= 1_000_000_000 && b1.iou(b0) > 0.3
        });
        if let Some((_, (_, _, s1))) = prev {
            sw.id_switches += 1;
            if s1 != s0 {
                sw.slot_switches += 1;
            }
        }
    }
    Ok(sw)
}

fn e2e_run(
    b: &E2eArgs,
    every: Option<u32>,
    paced: bool,
    dir: &std::path::Path,
) -> anyhow::Result<E2eResult> {
    let mut args = RunArgs {
        input: b.input.clone(),
        analyze: vec!["detect".into(), "track".into()],
        jsonl: Some(dir.join("e2e.jsonl")),
        stdout: false,
        osc: None,
        mqtt: None,
        redis: None,
        ws: None,
        webhook: None,
        max_frames: None,
        duration: paced.then_some(b.latency_secs),
        realtime: paced,
        looping: false,
        rtsp_transport: None,
        trace: None,
        executor: Some("pool:2".into()),
        no_progress: true,
        report: None,
    };
    if paced {
        args.looping = true;
    }
    let mut plan = plan_for(&args)?;
    if let Some(n) = every {
        let mut cfg = plan.config.clone();
        for a in &mut cfg.analyzers {
            if a.detect.is_some() {
                a.schedule = Schedule::EveryNth(n);
            }
        }
        plan = visualpath_pipeline::plan::validate(cfg).map_err(|e| {
            anyhow::anyhow!(
                "{}",
                e.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })?;
    }
    let overrides = visualpath_pipeline::Overrides {
        realtime: paced,
        duration: args.duration.map(std::time::Duration::from_secs_f64),
        ..Default::default()
    };
    let p = visualpath_pipeline::builder(&plan, &overrides)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t = Instant::now();
    let report = p.run()?;
    let secs = t.elapsed().as_secs_f64();
    if let Some(e) = report.error {
        bail!("{e}");
    }
    let frames: u64 = report
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Source)
        .map(|n| n.processed)
        .sum();
    let sink = report
        .node("jsonl")
        .and_then(|n| n.end_to_end)
        .unwrap_or_default();
    Ok(E2eResult {
        fps: frames as f64 / secs,
        p50: sink.p50_ms,
        p99: sink.p99_ms,
        frames,
        switches: count_switches(&dir.join("e2e.jsonl"))?,
    })
}

pub fn e2e(b: E2eArgs) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("visualpath-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let configs = [
        ("detect every frame + track".to_string(), None),
        (
            format!("detect every {}th frame + track between", b.every),
            Some(b.every),
        ),
    ];
    println!(
        "{}: detect (ssd-mobilenet-v2-coco, CPU) + track (bytetrack), executor pool:2, JSONL sink",
        b.input
    );
    println!();
    println!(
        "| configuration | throughput, unpaced (fps) | paced at the file's 10 fps: capture-to-output p50 / p99 (ms) | frames (paced) | track ids / slots used | id switches / slot switches |"
    );
    println!("|---|---|---|---|---|---|");
    for (label, every) in configs {
        let fast = e2e_run(&b, every, false, &dir)?;
        let paced = e2e_run(&b, every, true, &dir)?;
        let s = fast.switches;
        println!(
            "| {label} | {:.1} | {:.1} / {:.1} | {} | {} / {} | {} / {} |",
            fast.fps,
            paced.p50,
            paced.p99,
            paced.frames,
            s.ids,
            s.slots_used,
            s.id_switches,
            s.slot_switches
        );
    }
    println!();
    println!(
        "An id switch is a new track id whose first box overlaps (IoU > 0.3) the last box of an id that ended within the previous second; a slot switch is such a case where the slot changed too (vtest has no ground-truth annotations). Counts are from the unpaced run over the whole file."
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}
