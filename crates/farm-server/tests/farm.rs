//! The orchestrator against real ComfyUI servers (scripts/comfyui.sh installs one; the
//! tests skip with a message when it is not installed): priority order, cancel of a queued
//! and of a running job, failover when a backend is killed mid-job, an orchestrator
//! restart mid-queue, validation before queueing, outputs and sidecars, sweeps.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use visualpath_farm::job::{JobState, Submission};
use visualpath_farm_server::{Farm, FarmConfig, FarmError, JobView, NewBackend};
use visualpath_farm_store::JobFilter;
use visualpath_testkit::Server;

fn comfy(test: &str) -> Option<Server> {
    let s = Server::comfyui();
    if s.is_none() {
        visualpath_testkit::skip(test, "no ComfyUI install (run scripts/comfyui.sh)");
    }
    s
}

fn config(dir: &Path) -> FarmConfig {
    let mut cfg = FarmConfig::new(dir);
    cfg.poll_interval = Duration::from_millis(200);
    cfg.probe_timeout = Duration::from_secs(2);
    cfg
}

fn add(farm: &Farm, name: &str, server: &Server, max_concurrent: u32) {
    farm.add_backend(&NewBackend {
        name: name.into(),
        url: server.url().to_string(),
        tags: Vec::new(),
        pool: None,
        weight: 1.0,
        max_concurrent,
    })
    .unwrap();
}

/// Wait until every named backend is healthy with its catalogue.
fn wait_ready(farm: &Farm, names: &[&str]) {
    let t0 = Instant::now();
    loop {
        let b = farm.backends();
        let ready = names.iter().all(|n| {
            b.iter()
                .any(|v| v.name == *n && v.health == "healthy" && v.classes > 0)
        });
        if ready {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "backends not ready: {b:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_job(farm: &Farm, id: i64, what: &str, f: impl Fn(&JobView) -> bool) -> JobView {
    let t0 = Instant::now();
    loop {
        let j = farm.job(id).unwrap().expect("job exists");
        if f(&j) {
            return j;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "job {id} never became {what}: {j:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn done(farm: &Farm, id: i64) -> JobView {
    wait_job(farm, id, "final", |j| j.state.is_final())
}

/// EmptyImage -> `blurs` x ImageBlur -> SaveImage: about 1.3 s per blur on 2 cores.
fn slow(blurs: usize, prefix: &str) -> Value {
    let mut wf = serde_json::Map::new();
    wf.insert(
        "1".into(),
        json!({"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 2, "color": 0}}),
    );
    let mut last = "1".to_string();
    for i in 0..blurs {
        let id = format!("{}", 10 + i);
        wf.insert(
            id.clone(),
            json!({"class_type": "ImageBlur", "inputs": {"image": [last, 0], "blur_radius": 31, "sigma": 10.0}}),
        );
        last = id;
    }
    wf.insert(
        "9".into(),
        json!({"class_type": "SaveImage", "inputs": {"images": [last, 0], "filename_prefix": prefix}}),
    );
    Value::Object(wf)
}

/// A tiny image job with a `{color}`-free prefix parameter.
fn quick(prefix: &str) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 255}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}}
    })
}

fn sub(workflow: Value) -> Submission {
    serde_json::from_value(json!({ "workflow": workflow })).unwrap()
}

fn submit(farm: &Farm, s: &Submission) -> i64 {
    let (_, ids) = farm.submit(s).unwrap();
    ids[0]
}

#[test]
fn priority_order_outputs_sidecar_and_text_parameters() {
    let Some(server) = comfy("priority_order_outputs_sidecar_and_text_parameters") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let farm = Farm::start(config(dir.path())).unwrap();
    add(&farm, "b1", &server, 1);
    wait_ready(&farm, &["b1"]);

    // The backend is busy with a slow job while three more are queued.
    let blocker = submit(&farm, &sub(slow(2, "farm/blocker")));
    wait_job(&farm, blocker, "running", |j| j.state == JobState::Running);
    let mut low = sub(quick("farm/low"));
    low.priority = -5;
    let low = submit(&farm, &low);
    let mid = submit(&farm, &sub(quick("farm/mid")));
    let mut high = sub(json!({
        "1": {"class_type": "PrimitiveString", "inputs": {"value": "hello {who}, seed {seed}"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        "3": {"class_type": "EmptyImage", "inputs": {"width": "{w}", "height": 32, "batch_size": 1, "color": 0}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "farm/high"}}
    }));
    high.priority = 10;
    high.params = BTreeMap::from([
        ("who".into(), json!("world")),
        ("seed".into(), json!(42)),
        ("w".into(), json!(48)),
    ]);
    let high = submit(&farm, &high);

    let jobs: Vec<JobView> = [blocker, low, mid, high]
        .iter()
        .map(|&id| done(&farm, id))
        .collect();
    for j in &jobs {
        assert_eq!(j.state, JobState::Succeeded, "{j:?}");
        assert_eq!(j.attempts, 1);
    }
    let started = |id: i64| {
        jobs.iter()
            .find(|j| j.id == id)
            .unwrap()
            .started_ms
            .unwrap()
    };
    assert!(started(high) <= started(mid), "priority 10 before 0");
    assert!(started(mid) <= started(low), "priority 0 before -5");

    // The parameters reached the backend: the text output shows them.
    let h = &jobs[3];
    let text = h.outputs.iter().find(|o| o.kind == "text").unwrap();
    assert_eq!(text.text.as_deref(), Some("hello world, seed 42"));
    let img = h.outputs.iter().find(|o| o.kind == "images").unwrap();
    let url = img.url.as_deref().unwrap();
    let file = url.rsplit('/').next().unwrap();
    let path = farm.output_path(high, file).expect("stored output");
    let png = std::fs::read(&path).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    // 48 wide: the integer parameter was patched as a number.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 48);
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(path.with_file_name("job.json")).unwrap()).unwrap();
    assert_eq!(sidecar["backend"]["name"], "b1");
    assert_eq!(sidecar["params"]["who"], "world");
    assert_eq!(sidecar["workflow"]["3"]["inputs"]["width"], 48);
    assert!(sidecar["outputs"].as_array().unwrap().len() >= 2);
    farm.shutdown();
}

#[test]
fn invalid_workflows_are_rejected_before_queueing() {
    let Some(server) = comfy("invalid_workflows_are_rejected_before_queueing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let farm = Farm::start(config(dir.path())).unwrap();
    // Before any backend reported its catalogue there is nothing to validate against.
    match farm.submit(&sub(quick("x"))) {
        Err(FarmError::Unavailable(m)) => assert!(m.contains("no backend"), "{m}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    add(&farm, "b1", &server, 1);
    wait_ready(&farm, &["b1"]);
    let mut unknown = quick("x");
    unknown["2"]["class_type"] = json!("NoSuchNode");
    let err = farm.submit(&sub(unknown)).unwrap_err().to_string();
    assert!(
        err.contains("NoSuchNode") && err.contains('2'),
        "the error names the node and its class: {err}"
    );
    let mut dangling = quick("x");
    dangling["3"]["inputs"]["images"] = json!(["7", 0]);
    let err = farm.submit(&sub(dangling)).unwrap_err().to_string();
    assert!(err.contains('7'), "{err}");
    let mut cycle = quick("x");
    cycle["1"] = json!({"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}});
    let err = farm.submit(&sub(cycle)).unwrap_err().to_string();
    assert!(err.contains("cycle"), "{err}");
    let mut missing_param = sub(quick("{prefix}"));
    let err = farm.submit(&missing_param).unwrap_err().to_string();
    assert!(err.contains("prefix"), "{err}");
    missing_param.params.insert("prefx".into(), json!("a"));
    let err = farm.submit(&missing_param).unwrap_err().to_string();
    assert!(err.contains("prefx"), "{err}");
    let mut bad_type = sub(quick("x"));
    bad_type.workflow["1"]["inputs"]["width"] = json!("{w}");
    bad_type.params.insert("w".into(), json!("wide"));
    let err = farm.submit(&bad_type).unwrap_err().to_string();
    assert!(err.contains("width") && err.contains('w'), "{err}");
    let mut model = quick("x");
    model["5"] = json!({"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "missing.safetensors"}});
    let err = farm.submit(&sub(model)).unwrap_err().to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
    // Nothing reached the store.
    let all = farm.jobs(&JobFilter {
        states: Vec::new(),
        batch: None,
        limit: 100,
        before: None,
    });
    assert!(all.unwrap().is_empty());
    farm.shutdown();
}

#[test]
fn cancel_queued_and_running_jobs_by_prompt_id_only() {
    let Some(server) = comfy("cancel_queued_and_running_jobs_by_prompt_id_only") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let farm = Farm::start(config(dir.path())).unwrap();
    // Two prompts at once on the backend: one running, one pending in its own queue.
    add(&farm, "b1", &server, 2);
    wait_ready(&farm, &["b1"]);
    let running = submit(&farm, &sub(slow(4, "farm/cancelme")));
    wait_job(&farm, running, "running", |j| j.state == JobState::Running);
    let pending_on_backend = submit(&farm, &sub(quick("farm/survivor")));
    wait_job(&farm, pending_on_backend, "running", |j| {
        j.state == JobState::Running
    });
    let queued = submit(&farm, &sub(quick("farm/queued")));
    assert_eq!(farm.job(queued).unwrap().unwrap().state, JobState::Queued);

    // Queued: removed at once, never sent anywhere.
    assert_eq!(farm.cancel(queued).unwrap(), JobState::Cancelled);
    let q = farm.job(queued).unwrap().unwrap();
    assert_eq!((q.state, q.attempts), (JobState::Cancelled, 0));

    // Running: interrupted on the backend by its prompt id.
    wait_job(&farm, running, "progressing", |j| j.progress.is_some());
    assert_eq!(farm.cancel(running).unwrap(), JobState::Running);
    let r = done(&farm, running);
    assert_eq!(r.state, JobState::Cancelled, "{r:?}");
    // The other prompt on the same backend was not interrupted (no global interrupt).
    let s = done(&farm, pending_on_backend);
    assert_eq!(s.state, JobState::Succeeded, "{s:?}");
    // A final job cannot be cancelled again.
    assert!(matches!(farm.cancel(running), Err(FarmError::Conflict(_))));
    // Retry puts it back and it runs to the end.
    farm.retry(running).unwrap();
    let again = done(&farm, running);
    assert_eq!(again.state, JobState::Succeeded, "{again:?}");
    assert_eq!(again.attempts, 2);
    farm.shutdown();
}

#[test]
fn a_backend_killed_mid_job_fails_over_to_another() {
    let test = "a_backend_killed_mid_job_fails_over_to_another";
    let (Some(mut a), Some(b)) = (comfy(test), comfy(test)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let farm = Farm::start(config(dir.path())).unwrap();
    add(&farm, "a", &a, 1);
    wait_ready(&farm, &["a"]);
    let id = submit(&farm, &sub(slow(3, "farm/failover")));
    wait_job(&farm, id, "running on a", |j| {
        j.state == JobState::Running && j.backend.as_deref() == Some("a") && j.progress.is_some()
    });
    add(&farm, "b", &b, 1);
    wait_ready(&farm, &["b"]);
    let killed = Instant::now();
    a.kill();
    let moved = wait_job(&farm, id, "running on b", |j| {
        j.backend.as_deref() == Some("b")
    });
    let failover = killed.elapsed();
    eprintln!("failover: backend killed -> job running on another backend in {failover:?}");
    assert_eq!(moved.attempts, 2);
    let j = done(&farm, id);
    assert_eq!(j.state, JobState::Succeeded, "{j:?}");
    let detail = farm.job_detail(id).unwrap().unwrap().detail.unwrap();
    assert_eq!(detail.excluded, vec!["a".to_string()]);
    assert_eq!(detail.attempts[0].state.as_str(), "lost");
    assert_eq!(detail.attempts[1].backend, "b");
    let health = farm.backends();
    assert_eq!(
        health.iter().find(|v| v.name == "a").unwrap().health,
        "down"
    );
    farm.shutdown();
}

#[test]
fn a_restarted_orchestrator_loses_nothing() {
    let Some(server) = comfy("a_restarted_orchestrator_loses_nothing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let farm = Farm::start(config(dir.path())).unwrap();
    add(&farm, "b1", &server, 1);
    wait_ready(&farm, &["b1"]);
    let running = submit(&farm, &sub(slow(3, "farm/restart")));
    let queued: Vec<i64> = (0..3)
        .map(|i| submit(&farm, &sub(quick(&format!("farm/q{i}")))))
        .collect();
    wait_job(&farm, running, "running", |j| j.state == JobState::Running);
    let prompt = farm.job(running).unwrap().unwrap().prompt_id.unwrap();
    farm.shutdown();
    drop(farm);

    // The backend keeps running the prompt while no orchestrator watches.
    let farm = Farm::start(config(dir.path())).unwrap();
    let r = farm.job(running).unwrap().unwrap();
    assert_eq!(
        r.state,
        JobState::Running,
        "re-attached, not restarted: {r:?}"
    );
    for &q in &queued {
        assert_eq!(farm.job(q).unwrap().unwrap().state, JobState::Queued);
    }
    // The backend is known again from the store, without registering it.
    wait_ready(&farm, &["b1"]);
    let r = done(&farm, running);
    assert_eq!(r.state, JobState::Succeeded, "{r:?}");
    assert_eq!(r.attempts, 1, "the same attempt was followed to its end");
    assert_eq!(r.prompt_id.as_deref(), Some(prompt.as_str()));
    assert!(!r.outputs.is_empty());
    for &q in &queued {
        let j = done(&farm, q);
        assert_eq!((j.state, j.attempts), (JobState::Succeeded, 1), "{j:?}");
    }
    farm.shutdown();
}

#[test]
fn a_sweep_is_a_batch_of_jobs() {
    let Some(server) = comfy("a_sweep_is_a_batch_of_jobs") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let farm = Farm::start(config(dir.path())).unwrap();
    add(&farm, "b1", &server, 1);
    wait_ready(&farm, &["b1"]);
    let s: Submission = serde_json::from_value(json!({
        "workflow": {
            "1": {"class_type": "EmptyImage", "inputs": {"width": "{size}", "height": "{size}", "batch_size": 1, "color": "{color}"}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "farm/sweep_{size}"}}
        },
        "sweep": {"grid": {"size": [16, 32], "color": [0, 65280]}},
        "name": "sizes"
    }))
    .unwrap();
    let (batch, ids) = farm.submit(&s).unwrap();
    assert!(batch.is_some());
    assert_eq!(ids.len(), 4);
    let mut sizes = Vec::new();
    for id in ids {
        let j = done(&farm, id);
        assert_eq!(j.state, JobState::Succeeded, "{j:?}");
        sizes.push((
            j.params["size"].as_i64().unwrap(),
            j.params["color"].as_i64().unwrap(),
        ));
        let file = j.outputs[0]
            .url
            .as_deref()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let png = std::fs::read(farm.output_path(j.id, &file).unwrap()).unwrap();
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert_eq!(i64::from(w), j.params["size"].as_i64().unwrap());
    }
    // Grid axes in name order (color, size), the last varying fastest.
    assert_eq!(sizes, vec![(16, 0), (32, 0), (16, 65280), (32, 65280)]);
    let b = farm.batches(10).unwrap();
    assert_eq!(b[0].counts.get(&JobState::Succeeded), Some(&4));
    farm.shutdown();
}

#[test]
fn a_one_backend_farm_retries_after_the_backend_restarts() {
    let Some(mut server) = comfy("a_one_backend_farm_retries_after_the_backend_restarts") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let farm = Farm::start(config(dir.path())).unwrap();
    add(&farm, "only", &server, 1);
    wait_ready(&farm, &["only"]);
    let id = submit(&farm, &sub(slow(3, "farm/only")));
    wait_job(&farm, id, "running", |j| {
        j.state == JobState::Running && j.progress.is_some()
    });
    server.kill();
    // Lost, queued again (not failed: no other backend could take it), not excluded.
    let q = wait_job(&farm, id, "queued again", |j| j.state != JobState::Running);
    assert_eq!(q.state, JobState::Queued, "{q:?}");
    assert!(q.waiting.is_some(), "says why it waits: {q:?}");
    server.restart();
    let j = done(&farm, id);
    assert_eq!((j.state, j.attempts), (JobState::Succeeded, 2), "{j:?}");
    let detail = farm.job_detail(id).unwrap().unwrap().detail.unwrap();
    assert!(detail.excluded.is_empty(), "{detail:?}");
    farm.shutdown();
}

#[test]
fn a_frozen_backend_fails_over_and_its_prompt_is_stopped_when_it_thaws() {
    let test = "a_frozen_backend_fails_over_and_its_prompt_is_stopped_when_it_thaws";
    let (Some(a), Some(b)) = (comfy(test), comfy(test)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let farm = Farm::start(config(dir.path())).unwrap();
    add(&farm, "a", &a, 1);
    wait_ready(&farm, &["a"]);
    let id = submit(&farm, &sub(slow(4, "farm/frozen")));
    wait_job(&farm, id, "running on a", |j| {
        j.state == JobState::Running && j.progress.is_some()
    });
    let old_prompt = farm.job(id).unwrap().unwrap().prompt_id.unwrap();
    add(&farm, "b", &b, 1);
    wait_ready(&farm, &["b"]);
    // SIGSTOP: the socket stays open, only the health probes notice.
    a.pause();
    wait_job(&farm, id, "running on b", |j| {
        j.backend.as_deref() == Some("b")
    });
    a.resume();
    // Thawed, `a` would finish the old prompt beside the new attempt; the farm stops it.
    let client = visualpath_comfy::Client::new(a.url()).unwrap();
    let t0 = Instant::now();
    loop {
        let h = client.history(&old_prompt).unwrap();
        if let Some(h) = h {
            assert_eq!(h.outcome, visualpath_comfy::Outcome::Interrupted, "{h:?}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the orphaned prompt was never stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let j = done(&farm, id);
    assert_eq!((j.state, j.attempts), (JobState::Succeeded, 2), "{j:?}");
    farm.shutdown();
}
