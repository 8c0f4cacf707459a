//! Render farm benchmarks against real ComfyUI servers (scripts/comfyui.sh).
//!
//! `cargo bench -p visualpath-farm-server --bench farm [-- dispatch|failover] [--jobs N]`
//!
//! * dispatch: N tiny jobs (default 1,000) queued at once on 2 backends. Scheduling
//!   overhead per job = from the moment the job could start (queued with a free slot, or
//!   a slot freed while it waited) to our `/prompt` call, p50/p99. Same-run baseline: a
//!   bare client running the same jobs on the same 2 servers back to back (one thread per
//!   server: submit, wait for `executing: null`, read the history, download the output);
//!   the ratio of throughputs is the farm's whole cost per job.
//! * failover: a job running on backend A; A is killed (socket closes) or frozen
//!   (SIGSTOP: only the health probes notice); time until the job runs on backend B.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use visualpath_comfy::{Client, Event, Events, PromptRequest};
use visualpath_farm::job::{JobState, Submission};
use visualpath_farm_server::{Farm, FarmConfig, NewBackend};
use visualpath_testkit::Server;

fn tiny(i: usize) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": i % 65536}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bench/t"}}
    })
}

/// A different colour each round: ComfyUI caches node outputs of identical inputs.
fn slow(round: usize) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 2, "color": round}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 31, "sigma": 10.0}},
        "3": {"class_type": "ImageBlur", "inputs": {"image": ["2", 0], "blur_radius": 31, "sigma": 10.0}},
        "4": {"class_type": "ImageBlur", "inputs": {"image": ["3", 0], "blur_radius": 31, "sigma": 10.0}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "bench/slow"}}
    })
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn farm_with(dir: &std::path::Path, servers: &[(&str, &Server)]) -> Farm {
    let mut cfg = FarmConfig::new(dir);
    cfg.poll_interval = Duration::from_millis(250);
    cfg.probe_timeout = Duration::from_secs(1);
    let farm = Farm::start(cfg).unwrap();
    for (name, s) in servers {
        farm.add_backend(&NewBackend {
            name: (*name).into(),
            url: s.url().into(),
            tags: Vec::new(),
            pool: None,
            weight: 1.0,
            max_concurrent: 1,
        })
        .unwrap();
    }
    let t0 = Instant::now();
    while !servers.iter().all(|(n, _)| {
        farm.backends()
            .iter()
            .any(|b| b.name == *n && b.health == "healthy" && b.classes > 0)
    }) {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "backends not ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    farm
}

fn submit(farm: &Farm, wf: Value) -> i64 {
    let s: Submission = serde_json::from_value(json!({ "workflow": wf })).unwrap();
    farm.submit(&s).unwrap().1[0]
}

/// One server, `n` jobs back to back with the bare client.
fn bare_worker(url: String, n: usize, next: Arc<AtomicUsize>, total: usize) {
    let client = Client::new(&url).unwrap();
    let id = format!("bare-{}", url.rsplit(':').next().unwrap_or("x"));
    let mut events = Events::connect(&url, &id, Duration::from_millis(200)).unwrap();
    let _ = n;
    loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i >= total {
            return;
        }
        let prompt_id = format!("{id}-{i}");
        let wf = tiny(i);
        client
            .submit(&PromptRequest {
                prompt: &wf,
                client_id: &id,
                prompt_id: &prompt_id,
                targets: None,
                extra_data: None,
            })
            .unwrap();
        loop {
            match events.next().unwrap() {
                Some(Event::Executing {
                    prompt_id: Some(p),
                    node: None,
                }) if p == prompt_id => break,
                _ => {}
            }
        }
        let h = client.history(&prompt_id).unwrap().unwrap();
        for o in &h.outputs {
            let mut sink = Vec::new();
            client.download(o, &mut sink).unwrap();
        }
    }
}

fn dispatch(jobs: usize) {
    let (Some(a), Some(b)) = (Server::comfyui(), Server::comfyui()) else {
        eprintln!("SKIP dispatch: no ComfyUI install (run scripts/comfyui.sh)");
        return;
    };
    // Baseline: the bare client, one thread per server.
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = [a.url().to_string(), b.url().to_string()]
        .into_iter()
        .map(|u| {
            let next = next.clone();
            std::thread::spawn(move || bare_worker(u, jobs, next, jobs))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let bare = t0.elapsed();

    let dir = tempfile::tempdir().unwrap();
    let farm = farm_with(dir.path(), &[("a", &a), ("b", &b)]);
    farm.take_dispatch_samples();
    let t0 = Instant::now();
    let ids: Vec<i64> = (0..jobs).map(|i| submit(&farm, tiny(i))).collect();
    let queued_in = t0.elapsed();
    for &id in &ids {
        loop {
            let j = farm.job(id).unwrap().unwrap();
            if j.state.is_final() {
                assert_eq!(j.state, JobState::Succeeded, "{j:?}");
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let through_farm = t0.elapsed();
    let mut s: Vec<Duration> = farm
        .take_dispatch_samples()
        .into_iter()
        .map(|d| d.overhead)
        .collect();
    s.sort();
    farm.shutdown();
    println!(
        "dispatch: {jobs} jobs on 2 backends; submitting all took {:.2?} ({:.0} µs/job incl. validation and the SQLite write)",
        queued_in,
        queued_in.as_secs_f64() * 1e6 / jobs as f64
    );
    println!(
        "dispatch: scheduling overhead (could start -> /prompt call) p50 {:.2?} p99 {:.2?} max {:.2?} over {} jobs",
        pct(&s, 0.5),
        pct(&s, 0.99),
        s.last().copied().unwrap_or_default(),
        s.len()
    );
    let fj = jobs as f64 / through_farm.as_secs_f64();
    let bj = jobs as f64 / bare.as_secs_f64();
    println!(
        "dispatch: throughput farm {fj:.1} jobs/s ({through_farm:.2?}), bare client baseline {bj:.1} jobs/s ({bare:.2?}), farm/bare = {:.2}",
        fj / bj
    );
}

fn failover(rounds: usize) {
    let (Some(mut a), Some(b)) = (Server::comfyui(), Server::comfyui()) else {
        eprintln!("SKIP failover: no ComfyUI install (run scripts/comfyui.sh)");
        return;
    };
    for mode in ["killed", "frozen"] {
        let mut times = Vec::new();
        for round in 0..rounds {
            let dir = tempfile::tempdir().unwrap();
            let farm = farm_with(dir.path(), &[("a", &a)]);
            let id = submit(&farm, slow(round + if mode == "killed" { 0 } else { 100 }));
            let t0 = Instant::now();
            loop {
                let j = farm.job(id).unwrap().unwrap();
                if j.state == JobState::Running && j.progress.is_some() {
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(60), "never ran: {j:?}");
                std::thread::sleep(Duration::from_millis(5));
            }
            farm.add_backend(&NewBackend {
                name: "b".into(),
                url: b.url().into(),
                tags: Vec::new(),
                pool: None,
                weight: 1.0,
                max_concurrent: 1,
            })
            .unwrap();
            while !farm
                .backends()
                .iter()
                .any(|v| v.name == "b" && v.health == "healthy" && v.classes > 0)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let t0 = Instant::now();
            if mode == "killed" {
                a.kill();
            } else {
                a.pause();
            }
            loop {
                let j = farm.job(id).unwrap().unwrap();
                if j.backend.as_deref() == Some("b") && j.state == JobState::Running {
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(60), "{j:?}");
                std::thread::sleep(Duration::from_millis(2));
            }
            times.push(t0.elapsed());
            farm.shutdown();
            if mode == "killed" {
                a.restart();
            } else {
                a.resume();
            }
            // Let b finish the job it took over before the next round.
            std::thread::sleep(Duration::from_secs(5));
        }
        times.sort();
        println!(
            "failover ({mode}): backend {mode} -> job running on another backend: median {:.2?}, min {:.2?}, max {:.2?} over {rounds} rounds (probe every 250 ms, timeout 1 s, down after 2 failures)",
            pct(&times, 0.5),
            times[0],
            times[times.len() - 1]
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let jobs = args
        .iter()
        .position(|a| a == "--jobs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let want = |name: &str| {
        let filters: Vec<&String> = args
            .iter()
            .filter(|a| !a.starts_with("--") && a.parse::<usize>().is_err())
            .collect();
        filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
    };
    if want("dispatch") {
        dispatch(jobs);
    }
    if want("failover") {
        failover(5);
    }
}
