//! Live-camera benchmarks against a real RTSP server (`cargo bench -p visualpath-pipeline
//! --bench live -- <what>`), each printing a Markdown table for BENCHMARKS.md:
//!
//! - `soak [--minutes 30] [--overload 2]`: one 640x480 10 fps RTSP camera and an analyzer
//!   `overload` times slower than the camera (it burns CPU for that many frame intervals);
//!   per minute, the capture-to-analyzer-start latency p50/p99/max, against the bound
//!   "one frame interval + analyzer time + 10 ms".
//! - `capacity [--secs 20]`: how many 640x480 10 fps RTSP cameras, each with a motion
//!   analyzer, one process decodes and analyzes in real time; CPU per camera.
//! - `reconnect [--cycles 100]`: a server killed and restarted after random delays;
//!   time from the server being back to the first frame.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use visualpath_analyzers::MotionConfig;
use visualpath_core::{Frame, Name, ObservationData};
use visualpath_media::RtspConfig;
use visualpath_runtime::{
    AnalyzerOptions, EdgeSpec, Executor, NodeKind, PipelineBuilder, SourceOptions,
};
use visualpath_sdk::{Analyzer, AnalyzerFactory, Result, SourceInfo, Upstream};
use visualpath_testkit::{Server, derived_media};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// (busy, total) jiffies of the whole machine.
fn machine_jiffies() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

fn cpu_secs() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Burns CPU for `busy` per frame and records how old each frame is when it starts.
#[derive(Clone)]
struct Slow {
    busy: Duration,
    ages_ms: Arc<Mutex<Vec<(Instant, f64)>>>,
}

struct SlowInstance(Slow);

impl Analyzer for SlowInstance {
    fn analyze(&mut self, frame: &Frame, _: Upstream<'_>) -> Result<ObservationData> {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let age = (wall - frame.capture_time_ns) as f64 / 1e6;
        self.0.ages_ms.lock().unwrap().push((Instant::now(), age));
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < self.0.busy {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        Ok(ObservationData::default())
    }
}

impl AnalyzerFactory for Slow {
    fn describe(&self) -> String {
        format!("slow ({:?} per frame)", self.busy)
    }
    fn create(&self, _: &SourceInfo) -> Result<Box<dyn Analyzer>> {
        Ok(Box::new(SlowInstance(self.clone())))
    }
}

fn soak() {
    let minutes: u64 = arg("--minutes", 30);
    let overload: f64 = arg("--overload", 2.0);
    let Some(clip) = derived_media("vtest_640x480_h264.mp4") else {
        return;
    };
    let Some(server) = Server::rtsp(&clip) else {
        return;
    };
    let interval_ms = 100.0;
    let busy = Duration::from_secs_f64(interval_ms * overload / 1e3);
    let slow = Slow {
        busy,
        ages_ms: Arc::new(Mutex::new(Vec::new())),
    };
    let mut p = PipelineBuilder::new();
    let cam = p.source(
        "cam",
        RtspConfig::new(server.url())
            .build(Name::from_static("cam"))
            .unwrap(),
        SourceOptions::default(),
    );
    let a = p.analyzer("slow", Arc::new(slow.clone()), AnalyzerOptions::default());
    p.link(cam).with(EdgeSpec::realtime()).to(a);
    let running = p.build().unwrap().start().unwrap();
    let start = Instant::now();
    println!(
        "one RTSP camera, 640x480 at 10 fps (frame interval {interval_ms} ms); analyzer busy {} ms per frame ({overload}x overload); bound: {interval_ms} + {} + 10 = {} ms",
        busy.as_millis(),
        busy.as_millis(),
        interval_ms as u128 + busy.as_millis() + 10
    );
    println!();
    println!(
        "| minute | frames analyzed | dropped (newer frame replaced it) | capture-to-start p50 (ms) | p99 (ms) | max (ms) |"
    );
    println!("|---|---|---|---|---|---|");
    let mut last_drops = 0;
    for m in 1..=minutes {
        std::thread::sleep(
            (start + Duration::from_secs(60 * m)).saturating_duration_since(Instant::now()),
        );
        let mut ages: Vec<f64> = {
            let mut v = slow.ages_ms.lock().unwrap();
            let out = v.iter().map(|(_, a)| *a).collect();
            v.clear();
            out
        };
        let report = running.report();
        let drops: u64 = report.edges.iter().map(|e| e.replaced).sum();
        let n = ages.len();
        let p50 = quantile(&mut ages, 0.5);
        let p99 = quantile(&mut ages, 0.99);
        let max = ages.iter().copied().fold(0.0, f64::max);
        println!(
            "| {m} | {n} | {} | {p50:.1} | {p99:.1} | {max:.1} |",
            drops - last_drops
        );
        last_drops = drops;
    }
    running.stop();
    let r = running.wait();
    let src = r.node("cam").and_then(|n| n.source.clone());
    println!();
    println!(
        "capture clock: {}; reconnects: {}",
        src.as_ref().map(|s| s.capture_clock).unwrap_or("?"),
        src.map(|s| s.reconnects).unwrap_or(0)
    );
}

fn capacity() {
    let secs: u64 = arg("--secs", 20);
    let Some(clip) = derived_media("vtest_640x480_h264.mp4") else {
        return;
    };
    // One server per 8 cameras: a single Python GStreamer server gets bursty beyond that,
    // which would measure the test server rather than visualpath.
    let mut servers: Vec<Server> = Vec::new();
    println!(
        "RTSP cameras at 640x480, 10 fps, each decoded and motion-analyzed (pool executor, 2 threads); {secs} s per step; one test server per 8 cameras (the servers run on the same 2 cores)"
    );
    println!();
    println!(
        "| cameras | decoded fps per camera (min / mean) | analyzed fps per camera | wait before analysis p99 (ms, worst camera) | CPU of visualpath (cores) | CPU per camera (% of a core) | whole machine busy (of 2 cores) | real time |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let steps: Vec<usize> = std::env::args()
        .skip_while(|a| a != "--steps")
        .nth(1)
        .map(|v| v.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 16, 32, 48, 64, 80, 96, 128]);
    for n in steps {
        while servers.len() < n.div_ceil(8) {
            let Some(s) = Server::rtsp(&clip) else { return };
            servers.push(s);
        }
        let mut p = PipelineBuilder::new();
        p.executor(Executor::Pool { threads: 2 });
        let motion = p.analyzer(
            "motion",
            MotionConfig::default().factory(),
            AnalyzerOptions::default(),
        );
        for i in 0..n {
            let name = format!("cam{i}");
            let mut cfg = RtspConfig::new(servers[i / 8].url());
            cfg.threads = arg("--decoder-threads", 0);
            let src = cfg.build(Name::new(&name).unwrap()).unwrap();
            let c = p.source(&name, src, SourceOptions::default());
            // Lossless small queues: every frame is analyzed, and the queue age says whether
            // analysis keeps up (a latest-only edge would also count the test servers'
            // occasional back-to-back frames as drops).
            p.link(c).with(EdgeSpec::lossless(4)).to(motion);
        }
        let running = p.build().unwrap().start().unwrap();
        // Warm up: every camera connected and streaming.
        let t = Instant::now();
        while running
            .node_stats()
            .iter()
            .filter(|s| s.kind == NodeKind::Source)
            .any(|s| s.processed.load(std::sync::atomic::Ordering::Relaxed) < 5)
        {
            if t.elapsed() > Duration::from_secs(60) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let counts = |r: &visualpath_runtime::RunReport| -> (Vec<u64>, u64) {
            let frames = r
                .nodes
                .iter()
                .filter(|n| n.kind == NodeKind::Source)
                .map(|n| n.processed)
                .collect();
            let analyzed = r.node("motion").map(|n| n.processed).unwrap_or(0);
            (frames, analyzed)
        };
        let (f0, d0) = counts(&running.report());
        let (c0, t0, m0) = (cpu_secs(), Instant::now(), machine_jiffies());
        std::thread::sleep(Duration::from_secs(secs));
        let report = running.report();
        let (f1, d1) = counts(&report);
        let queue_p99 = report
            .edges
            .iter()
            .map(|e| e.queue_age.p99_ms)
            .fold(0.0, f64::max);
        let (cpu, wall, m1) = (
            cpu_secs() - c0,
            t0.elapsed().as_secs_f64(),
            machine_jiffies(),
        );
        let machine = 2.0 * (m1.0 - m0.0) / (m1.1 - m0.1).max(1.0);
        running.stop();
        running.wait();
        let fps: Vec<f64> = f0
            .iter()
            .zip(&f1)
            .map(|(a, b)| (b - a) as f64 / wall)
            .collect();
        let min = fps.iter().copied().fold(f64::MAX, f64::min);
        let mean = fps.iter().sum::<f64>() / n as f64;
        let analyzed_fps = (d1 - d0) as f64 / wall / n as f64;
        let real_time = min >= 9.5 && analyzed_fps >= 9.5 && queue_p99 < 100.0;
        println!(
            "| {n} | {min:.1} / {mean:.1} | {analyzed_fps:.1} | {queue_p99:.1} | {:.2} | {:.1} | {machine:.2} | {} |",
            cpu / wall,
            100.0 * cpu / wall / n as f64,
            if real_time { "yes" } else { "no" }
        );
        if !real_time {
            break;
        }
    }
}

fn reconnect() {
    let cycles: usize = arg("--cycles", 100);
    let Some(clip) = derived_media("vtest_640x480_h264.mp4") else {
        return;
    };
    let Some(mut server) = Server::rtsp(&clip) else {
        return;
    };
    let mut p = PipelineBuilder::new();
    let cam = p.source(
        "cam",
        RtspConfig::new(server.url())
            .build(Name::from_static("cam"))
            .unwrap(),
        SourceOptions::default(),
    );
    let a = p.analyzer(
        "motion",
        MotionConfig::default().factory(),
        AnalyzerOptions::default(),
    );
    p.link(cam).to(a);
    let running = p.build().unwrap().start().unwrap();
    let frames = |r: &visualpath_runtime::RunningPipeline| {
        r.node_stats()
            .iter()
            .find(|s| s.name.as_str() == "cam")
            .map(|s| s.processed.load(std::sync::atomic::Ordering::Relaxed))
            .unwrap_or(0)
    };
    while frames(&running) < 10 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut seed = 11u64;
    let mut rnd = |lo: u64, hi: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Duration::from_millis(lo + (seed >> 33) % (hi - lo))
    };
    let mut back_to_frame = Vec::new();
    for _ in 0..cycles {
        std::thread::sleep(rnd(200, 1000));
        server.kill();
        std::thread::sleep(rnd(50, 2000));
        server.restart();
        let back = Instant::now();
        let before = frames(&running);
        while frames(&running) == before {
            std::thread::sleep(Duration::from_millis(2));
        }
        back_to_frame.push(back.elapsed().as_secs_f64() * 1e3);
    }
    running.stop();
    let r = running.wait();
    let n = back_to_frame.len();
    let p50 = quantile(&mut back_to_frame, 0.5);
    let p99 = quantile(&mut back_to_frame, 0.99);
    let max = back_to_frame[n - 1];
    let min = back_to_frame[0];
    println!(
        "RTSP camera (640x480, 10 fps, 1 s GOP) killed and restarted {n} times (up 0.2-1 s, down 0.05-2 s); backoff 100 ms doubling to 5 s, jittered"
    );
    println!();
    println!("| server back to first frame | ms |");
    println!("|---|---|");
    println!("| min | {min:.0} |");
    println!("| p50 | {p50:.0} |");
    println!("| p99 | {p99:.0} |");
    println!("| max | {max:.0} |");
    println!();
    let src = r.node("cam").and_then(|n| n.source.clone()).unwrap();
    println!(
        "reconnects counted by the runtime: {}, failures: {}",
        src.reconnects, src.failures
    );
}

fn main() {
    // `cargo bench` passes `--bench`; the first other word chooses the benchmark.
    let what = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--") && a.parse::<f64>().is_err());
    match what.as_deref() {
        Some("soak") => soak(),
        Some("capacity") => capacity(),
        Some("reconnect") => reconnect(),
        _ => eprintln!(
            "usage: cargo bench -p visualpath-pipeline --bench live -- soak|capacity|reconnect [options]"
        ),
    }
}
