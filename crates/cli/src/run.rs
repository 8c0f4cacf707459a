//! `visualpath run`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use visualpath_analyzers::{FrameStatsConfig, MotionConfig, SceneCutConfig};
use visualpath_core::Name;
use visualpath_media::{
    FileSourceConfig, HttpConfig, ImageFolderConfig, RtspConfig, RtspTransport, SyntheticConfig,
    WebcamConfig,
};
use visualpath_models::{DetectConfig, FaceConfig, PoseConfig};
use visualpath_pipeline::config::{
    AnalyzerSpec, PipelineConfig, SinkSpec, SourceSpec, StdoutConfig,
};
use visualpath_pipeline::{Overrides, Plan, builder, load_path};
use visualpath_runtime::{Executor, NodeKind, RunReport};
use visualpath_sink_mqtt::MqttConfig;
use visualpath_sink_osc::OscConfig;
use visualpath_sink_redis::RedisConfig;
use visualpath_sink_webhook::WebhookConfig;
use visualpath_sink_ws::WsConfig;
use visualpath_sinks::JsonlConfig;
use visualpath_track::TrackConfig;
use visualpath_yaml::Spanned;

/// Arguments of `visualpath run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A video file, an RTSP or HTTP camera URL, a webcam (/dev/videoN), an image folder,
    /// `synthetic[:WxH[@FPS]]`, or a pipeline .yaml.
    pub input: String,
    /// Analyzers to run, comma-separated: motion, frame_stats, scene_cut, detect, track,
    /// pose, face (`track` runs after `detect`, `pose` after `track` or `detect`).
    #[arg(long, value_delimiter = ',')]
    pub analyze: Vec<String>,
    /// Write observations and events as JSON lines to this file.
    #[arg(long)]
    pub jsonl: Option<PathBuf>,
    /// Write observations and events as JSON lines to standard output.
    #[arg(long)]
    pub stdout: bool,
    /// Send tracks, detections and events as OSC over UDP to HOST:PORT (TouchDesigner's
    /// OSC In CHOP; see docs/recipes/touchdesigner.md).
    #[arg(long, value_name = "HOST:PORT")]
    pub osc: Option<String>,
    /// Publish observations and events to an MQTT broker: mqtt://HOST:PORT[/TOPIC-PREFIX].
    #[arg(long, value_name = "URL")]
    pub mqtt: Option<String>,
    /// Append observations and events to a Redis stream: redis://HOST:PORT[/STREAM].
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// Serve observations and events to WebSocket clients on ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    pub ws: Option<String>,
    /// POST events as JSON to this URL.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Stop each source after this many frames.
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// Stop each source after this many seconds of capture time (for files: media time).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Pace files at their native frame rate, as a camera would deliver them.
    #[arg(long)]
    pub realtime: bool,
    /// Start a file again at its end (media inputs only).
    #[arg(long = "loop")]
    pub looping: bool,
    /// RTSP transport for an rtsp:// INPUT: `tcp` (default) or `udp`.
    #[arg(long)]
    pub rtsp_transport: Option<String>,
    /// Write a per-frame trace (one JSON line per frame per stage) to this file.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Executor: `sequential`, `pool` (one thread per core) or `pool:N`.
    #[arg(long)]
    pub executor: Option<String>,
    /// Never show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Write the end-of-run report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

const ANALYZERS: &str = "motion, frame_stats, scene_cut, detect, track, pose, face";

/// The analyzers of `--analyze`, wired as a user would: `track` after `detect`, `pose`
/// after `track` (or `detect`), everything else on the frames directly.
fn analyzer_specs(names: &[String]) -> anyhow::Result<Vec<AnalyzerSpec>> {
    let names: Vec<&str> = names
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let mut specs = Vec::new();
    for n in &names {
        let mut spec = analyzer_spec(n)?;
        let after = |k: &str| {
            names.contains(&k).then(|| {
                Spanned::from(Name::new(k).unwrap_or_else(|_| Name::from_static("detect")))
            })
        };
        if spec.track.is_some() {
            spec.after = vec![after("detect").ok_or_else(|| {
                anyhow::anyhow!("--analyze track needs a detector: use --analyze detect,track")
            })?];
        }
        if spec.pose.is_some() {
            spec.after = after("track")
                .or_else(|| after("detect"))
                .into_iter()
                .collect();
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn analyzer_spec(name: &str) -> anyhow::Result<AnalyzerSpec> {
    let mut spec = AnalyzerSpec {
        name: None,
        motion: None,
        frame_stats: None,
        scene_cut: None,
        detect: None,
        track: None,
        pose: None,
        face: None,
        after: Vec::new(),
        sources: None,
        when: None,
        schedule: Default::default(),
        timeout: None,
        on_error: Default::default(),
        isolation: Default::default(),
    };
    match name.trim() {
        "motion" => spec.motion = Some(MotionConfig::default()),
        "frame_stats" | "stats" => spec.frame_stats = Some(FrameStatsConfig::default()),
        "scene_cut" | "scenecut" => spec.scene_cut = Some(SceneCutConfig::default()),
        "detect" => spec.detect = Some(DetectConfig::default()),
        "track" => spec.track = Some(TrackConfig::default()),
        "pose" => spec.pose = Some(PoseConfig::default()),
        "face" => spec.face = Some(FaceConfig::default()),
        other => bail!("unknown analyzer `{other}` in --analyze; available: {ANALYZERS}"),
    }
    Ok(spec)
}

fn parse_synthetic(spec: &str) -> anyhow::Result<SyntheticConfig> {
    let mut cfg = SyntheticConfig::default();
    let Some(rest) = spec.strip_prefix("synthetic:") else {
        return Ok(cfg);
    };
    let bad = || {
        anyhow::anyhow!(
            "invalid input `{spec}`: write `synthetic`, `synthetic:640x480` or `synthetic:640x480@10`"
        )
    };
    let (size, fps) = match rest.split_once('@') {
        Some((s, f)) => (s, Some(f)),
        None => (rest, None),
    };
    let (w, h) = size.split_once('x').ok_or_else(bad)?;
    cfg.width = w.parse().map_err(|_| bad())?;
    cfg.height = h.parse().map_err(|_| bad())?;
    if let Some(f) = fps {
        cfg.fps = f.parse().map_err(|_| bad())?;
    }
    Ok(cfg)
}

fn media_source(input: &str, args: &RunArgs) -> anyhow::Result<SourceSpec> {
    let name = visualpath_media::source_name_from_path(Path::new(input.trim_end_matches('/')));
    let mut spec = SourceSpec {
        name: Spanned::from(name),
        rtsp: None,
        http: None,
        webcam: None,
        file: None,
        images: None,
        synthetic: None,
        realtime: false,
        max_frames: None,
        duration: None,
        overrides: Default::default(),
    };
    let lower = input.to_ascii_lowercase();
    if lower.starts_with("rtsp://") || lower.starts_with("rtsps://") {
        spec.name = Spanned::from(camera_name(input));
        let mut c = RtspConfig::new(input);
        if let Some(t) = &args.rtsp_transport {
            c.transport = match t.as_str() {
                "tcp" => RtspTransport::Tcp,
                "udp" => RtspTransport::Udp,
                other => bail!("invalid --rtsp-transport `{other}`: write `tcp` or `udp`"),
            };
        }
        spec.rtsp = Some(c);
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        spec.name = Spanned::from(camera_name(input));
        spec.http = Some(HttpConfig::new(input));
    } else if input.starts_with("/dev/video") || input.starts_with("/dev/v4l/") {
        spec.name = Spanned::from(Name::from_static("webcam"));
        spec.webcam = Some(WebcamConfig::new(input));
    } else if input == "synthetic" || input.starts_with("synthetic:") {
        spec.name = Spanned::from(Name::from_static("synthetic"));
        spec.synthetic = Some(parse_synthetic(input)?);
    } else if Path::new(input).is_dir() {
        let mut c = ImageFolderConfig::new(input);
        c.looping = args.looping;
        spec.images = Some(c);
    } else {
        let is_url = input.contains("://");
        if !is_url && !Path::new(input).exists() {
            bail!(
                "cannot open `{input}`: no such file or folder (INPUT is a video file, an image folder, a URL, `synthetic`, or a pipeline .yaml)"
            );
        }
        let mut c = FileSourceConfig::new(input);
        c.looping = args.looping;
        spec.file = Some(c);
    }
    Ok(spec)
}

/// A source name for a camera URL: its host, made a valid name (`cam` if none).
fn camera_name(url: &str) -> Name {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority
        .rsplit('@')
        .next()
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("");
    let cleaned: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    Name::new(&format!("cam-{cleaned}")).unwrap_or_else(|_| Name::from_static("cam"))
}

fn output_sinks(args: &RunArgs) -> anyhow::Result<Vec<Spanned<SinkSpec>>> {
    let named = |n: &'static str| SinkSpec::named(Name::from_static(n));
    let mut sinks = Vec::new();
    if let Some(p) = &args.jsonl {
        sinks.push(SinkSpec {
            jsonl: Some(JsonlConfig {
                path: p.clone(),
                append: false,
                rotate: None,
            }),
            ..named("jsonl")
        });
    }
    if args.stdout {
        sinks.push(SinkSpec {
            stdout: Some(StdoutConfig {}),
            ..named("stdout")
        });
    }
    let bad = |flag: &str, e: visualpath_sdk::ComponentError| {
        anyhow::anyhow!("invalid {flag}: {}", e.message)
    };
    if let Some(a) = &args.osc {
        sinks.push(SinkSpec {
            osc: Some(OscConfig::from_cli(a).map_err(|e| bad("--osc", e))?),
            ..named("osc")
        });
    }
    if let Some(a) = &args.mqtt {
        sinks.push(SinkSpec {
            mqtt: Some(MqttConfig::from_cli(a).map_err(|e| bad("--mqtt", e))?),
            ..named("mqtt")
        });
    }
    if let Some(a) = &args.redis {
        sinks.push(SinkSpec {
            redis: Some(RedisConfig::from_cli(a).map_err(|e| bad("--redis", e))?),
            ..named("redis")
        });
    }
    if let Some(a) = &args.ws {
        sinks.push(SinkSpec {
            websocket: Some(WsConfig::from_cli(a).map_err(|e| bad("--ws", e))?),
            ..named("websocket")
        });
    }
    if let Some(a) = &args.webhook {
        sinks.push(SinkSpec {
            webhook: Some(WebhookConfig::from_cli(a).map_err(|e| bad("--webhook", e))?),
            ..named("webhook")
        });
    }
    Ok(sinks.into_iter().map(Spanned::from).collect())
}

fn parse_executor(s: &str) -> anyhow::Result<Executor> {
    match s {
        "sequential" => Ok(Executor::Sequential),
        "pool" => Ok(Executor::Pool { threads: 0 }),
        _ => match s.strip_prefix("pool:").and_then(|n| n.parse().ok()) {
            Some(threads) => Ok(Executor::Pool { threads }),
            None => bail!("invalid --executor `{s}`: write `sequential`, `pool` or `pool:N`"),
        },
    }
}

/// Parses an `--executor` value.
pub fn parse_executor_pub(s: &str) -> anyhow::Result<Executor> {
    parse_executor(s)
}

fn is_pipeline_file(input: &str) -> bool {
    let l = input.to_ascii_lowercase();
    l.ends_with(".yaml") || l.ends_with(".yml")
}

/// Builds the plan for `args`: the pipeline file, or a pipeline made from the flags.
pub fn plan_for(args: &RunArgs) -> anyhow::Result<Plan> {
    if is_pipeline_file(&args.input) {
        if !args.analyze.is_empty() {
            bail!(
                "--analyze applies to media inputs; declare analyzers in the pipeline file `{}`",
                args.input
            );
        }
        let mut plan = load_path(Path::new(&args.input)).map_err(|e| anyhow::anyhow!("{e}"))?;
        let extra = output_sinks(args)?;
        if !extra.is_empty() {
            let mut cfg = plan.config.clone();
            cfg.sinks.extend(extra);
            let file = plan.file.clone();
            plan = visualpath_pipeline::plan::validate(cfg).map_err(|errs| {
                anyhow::anyhow!(
                    "{}",
                    errs.iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })?;
            plan.file = file;
        }
        return Ok(plan);
    }
    let source = media_source(&args.input, args)?;
    let analyzers = analyzer_specs(&args.analyze)?
        .into_iter()
        .map(Spanned::from)
        .collect();
    let cfg = PipelineConfig {
        version: None,
        executor: Executor::Sequential,
        sources: vec![Spanned::from(source)],
        analyzers,
        fusion: Vec::new(),
        sync: Vec::new(),
        sinks: output_sinks(args)?,
        edges: Vec::new(),
    };
    visualpath_pipeline::plan::validate(cfg).map_err(|errs| {
        anyhow::anyhow!(
            "{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = plan_for(&args)?;
    let overrides = Overrides {
        realtime: args.realtime,
        max_frames: args.max_frames,
        duration: match args.duration {
            Some(d) if d.is_finite() && d > 0.0 => Some(Duration::from_secs_f64(d)),
            Some(d) => bail!("invalid --duration {d}: must be a positive number of seconds"),
            None => None,
        },
        executor: args.executor.as_deref().map(parse_executor).transpose()?,
        trace: args.trace.clone(),
        clock: None,
    };
    let b = builder(&plan, &overrides).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pipeline = b.build().map_err(|e| anyhow::anyhow!("{e}"))?;
    let totals: Vec<Option<u64>> = pipeline
        .source_infos()
        .iter()
        .map(|i| match (i.frame_count, args.max_frames) {
            (Some(n), Some(m)) => Some(n.min(m)),
            (n, m) => n.or(m),
        })
        .collect();
    let running = pipeline.start().context("starting the pipeline")?;

    // Ctrl-C: first press drains and finishes cleanly, second press exits at once.
    let presses = Arc::new(AtomicUsize::new(0));
    let stop_flag = Arc::new(AtomicBool::new(false));
    {
        let presses = presses.clone();
        let stop_flag = stop_flag.clone();
        let _ = ctrlc::set_handler(move || {
            if presses.fetch_add(1, Ordering::SeqCst) >= 1 {
                std::process::exit(130);
            }
            stop_flag.store(true, Ordering::SeqCst);
            eprintln!("\nstopping: finishing frames in flight (Ctrl-C again to quit at once)");
        });
    }

    let show = !args.no_progress && !args.stdout && std::io::stderr().is_terminal();
    let sources: Vec<_> = running
        .node_stats()
        .iter()
        .filter(|s| s.kind == NodeKind::Source)
        .cloned()
        .collect();
    let total: Option<u64> = totals.iter().copied().sum();
    let bar = if show {
        let bar = match total {
            Some(t) => ProgressBar::new(t).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {msg}  eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {pos} frames  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        Some(bar)
    } else {
        None
    };
    let started = std::time::Instant::now();
    let mut last = (started, 0u64);
    while !running.is_done() {
        if stop_flag.load(Ordering::SeqCst) {
            running.stop();
        }
        std::thread::sleep(Duration::from_millis(100));
        let frames: u64 = sources
            .iter()
            .map(|s| s.processed.load(Ordering::Relaxed))
            .sum();
        if let Some(bar) = &bar {
            let now = std::time::Instant::now();
            let dt = now.duration_since(last.0).as_secs_f64();
            if dt >= 0.5 {
                bar.set_message(format!("{:.1} fps", (frames - last.1) as f64 / dt));
                last = (now, frames);
            }
            bar.set_position(frames);
        }
    }
    let report = running.wait();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    eprint!("{}", report.summary());
    let frames: u64 = report
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Source)
        .map(|n| n.processed)
        .sum();
    let secs = report.elapsed_secs.max(1e-9);
    eprintln!(
        "frames: {frames} in {secs:.2} s ({:.1} fps)",
        frames as f64 / secs
    );
    if let Some(p) = &args.report {
        std::fs::write(p, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write report `{}`", p.display()))?;
    }
    Ok(exit_code(&report))
}

/// Failure when the run was stopped by an error or a source failed.
pub fn exit_code(report: &RunReport) -> ExitCode {
    let source_failed = report
        .nodes
        .iter()
        .any(|n| n.kind == NodeKind::Source && n.errors > 0 && n.last_error.is_some());
    if report.error.is_some() || source_failed {
        if let Some(e) = report.nodes.iter().find_map(|n| {
            (n.kind == NodeKind::Source)
                .then_some(n.last_error.as_ref())
                .flatten()
        }) {
            eprintln!("error: {e}");
        }
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
