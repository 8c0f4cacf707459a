//! The scheduler: priority then FIFO, capability match (node classes and model files),
//! least load per weight, per-backend limits, tags, pools, exclusions, health.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use visualpath_farm::catalog::{Catalog, Choice, Requirements};
use visualpath_farm::health::HealthState;
use visualpath_farm::sched::{Assignment, BackendSpec, QueuedJob, Scheduler};

/// A catalogue with `classes` (no inputs) plus a checkpoint loader offering `ckpts`.
fn catalog(classes: &[&str], ckpts: &[&str]) -> Arc<Catalog> {
    let mut info = serde_json::Map::new();
    for c in classes {
        info.insert(
            (*c).into(),
            json!({"input": {"required": {}}, "output": ["IMAGE"], "output_is_list": [false],
                   "output_name": ["IMAGE"], "name": c, "output_node": false}),
        );
    }
    info.insert(
        "CheckpointLoaderSimple".into(),
        json!({"input": {"required": {"ckpt_name": [ckpts]}}, "output": ["MODEL"],
               "output_is_list": [false], "output_name": ["MODEL"],
               "name": "CheckpointLoaderSimple", "output_node": false}),
    );
    Arc::new(Catalog::from_object_info(&serde_json::Value::Object(info)).unwrap())
}

fn backend(name: &str, max: u32) -> BackendSpec {
    BackendSpec {
        name: name.into(),
        tags: BTreeSet::new(),
        pool: None,
        weight: 1.0,
        max_concurrent: max,
    }
}

fn job(id: i64, priority: i64, classes: &[&str]) -> QueuedJob {
    QueuedJob {
        id,
        priority,
        requirements: Requirements {
            classes: classes.iter().map(|c| c.to_string()).collect(),
            choices: BTreeSet::new(),
        },
        tags: BTreeSet::new(),
        pool: None,
        excluded: BTreeSet::new(),
    }
}

fn ready(s: &mut Scheduler, name: &str, max: u32, cat: Arc<Catalog>) {
    s.upsert_backend(backend(name, max));
    s.set_catalog(name, cat);
    s.set_health(name, HealthState::Healthy);
}

fn a(job: i64, backend: &str) -> Assignment {
    Assignment {
        job,
        backend: backend.into(),
    }
}

#[test]
fn priority_first_then_submission_order() {
    let mut s = Scheduler::new();
    ready(&mut s, "b", 1, catalog(&["X"], &[]));
    s.enqueue(job(1, 0, &["X"]));
    s.enqueue(job(2, 5, &["X"]));
    s.enqueue(job(3, 5, &["X"]));
    s.enqueue(job(4, -1, &["X"]));
    assert_eq!(s.queued().collect::<Vec<_>>(), vec![2, 3, 1, 4]);
    let mut ran = Vec::new();
    for _ in 0..4 {
        let got = s.assign();
        assert_eq!(got.len(), 1, "one slot: one job at a time");
        ran.push(got[0].job);
        assert!(s.assign().is_empty(), "the slot is taken until released");
        s.release("b");
    }
    assert_eq!(ran, vec![2, 3, 1, 4]);
    assert!(s.is_empty());
}

#[test]
fn priority_change_reorders_the_queue() {
    let mut s = Scheduler::new();
    s.enqueue(job(1, 0, &["X"]));
    s.enqueue(job(2, 0, &["X"]));
    assert!(s.set_priority(2, 10));
    assert!(!s.set_priority(99, 1));
    assert_eq!(s.queued().collect::<Vec<_>>(), vec![2, 1]);
    assert!(s.remove(2));
    assert!(!s.remove(2));
    assert_eq!(s.queued().collect::<Vec<_>>(), vec![1]);
}

#[test]
fn a_job_only_goes_where_its_classes_and_models_are() {
    let mut s = Scheduler::new();
    ready(&mut s, "plain", 1, catalog(&["X"], &["a.safetensors"]));
    ready(
        &mut s,
        "video",
        1,
        catalog(&["X", "SaveVideo"], &["b.safetensors"]),
    );
    s.enqueue(job(1, 0, &["SaveVideo"]));
    let mut needs_a = job(2, 0, &["CheckpointLoaderSimple"]);
    needs_a.requirements.choices.insert(Choice {
        class: "CheckpointLoaderSimple".into(),
        input: "ckpt_name".into(),
        value: "a.safetensors".into(),
    });
    s.enqueue(needs_a);
    let mut got = s.assign();
    got.sort_by_key(|x| x.job);
    assert_eq!(got, vec![a(1, "video"), a(2, "plain")]);
}

#[test]
fn a_job_nobody_can_run_waits_without_blocking_others() {
    let mut s = Scheduler::new();
    ready(&mut s, "b", 1, catalog(&["X"], &[]));
    s.enqueue(job(1, 9, &["Unknown"]));
    s.enqueue(job(2, 0, &["X"]));
    assert_eq!(s.assign(), vec![a(2, "b")]);
    assert!(s.contains(1));
    let why = s.blocked_reason(1).unwrap();
    assert!(why.contains("b lacks node class `Unknown`"), "{why}");
}

#[test]
fn least_loaded_per_weight_and_concurrency_limit() {
    let mut s = Scheduler::new();
    let cat = catalog(&["X"], &[]);
    ready(&mut s, "small", 1, cat.clone());
    s.upsert_backend(BackendSpec {
        weight: 3.0,
        ..backend("big", 3)
    });
    s.set_catalog("big", cat);
    s.set_health("big", HealthState::Healthy);
    for id in 1..=6 {
        s.enqueue(job(id, 0, &["X"]));
    }
    let got = s.assign();
    // 4 slots in all (1 + 3); load per weight decides who takes which.
    assert_eq!(got.len(), 4);
    let on_big = got.iter().filter(|x| x.backend == "big").count();
    assert_eq!(on_big, 3);
    assert_eq!(s.running_on("small"), 1);
    assert_eq!(s.len(), 2);
    // Others' prompts on a backend count as load.
    s.release("small");
    s.release("big");
    s.set_external_load("small", 5);
    // Job 5 goes to big (2/3 beats 5/1); big is then full, so job 6 takes small anyway:
    // others' prompts rank a backend, they do not block it.
    assert_eq!(s.assign(), vec![a(5, "big"), a(6, "small")]);
}

#[test]
fn tags_pools_and_exclusions() {
    let mut s = Scheduler::new();
    let cat = catalog(&["X"], &[]);
    s.upsert_backend(BackendSpec {
        tags: ["gpu24".to_string()].into(),
        pool: Some("studio".into()),
        ..backend("g", 1)
    });
    ready(&mut s, "plain", 1, cat.clone());
    s.set_catalog("g", cat);
    s.set_health("g", HealthState::Healthy);

    let mut tagged = job(1, 0, &["X"]);
    tagged.tags.insert("gpu24".into());
    let mut pooled = job(2, 0, &["X"]);
    pooled.pool = Some("studio".into());
    let mut excluded = job(3, 0, &["X"]);
    excluded.excluded.insert("plain".into());
    s.enqueue(tagged);
    s.enqueue(pooled);
    s.enqueue(excluded);
    assert_eq!(s.assign(), vec![a(1, "g")]);
    assert_eq!(s.blocked_reason(2), None, "g fits, it is only busy");
    s.release("g");
    assert_eq!(s.assign(), vec![a(2, "g")]);
    assert_eq!(s.blocked_reason(3), None, "g can take it once free");
    let g = BackendSpec {
        tags: ["gpu24".to_string()].into(),
        pool: Some("studio".into()),
        ..backend("g", 1)
    };
    s.remove_backend("g");
    let why = s.blocked_reason(3).unwrap();
    assert!(why.contains("plain failed this job before"), "{why}");
    assert!(s.assign().is_empty(), "excluded from plain, g is gone");
    s.upsert_backend(g);
    s.set_catalog("g", catalog(&["X"], &[]));
    s.set_health("g", HealthState::Healthy);
    assert_eq!(s.assign(), vec![a(3, "g")]);
}

#[test]
fn down_and_unreported_backends_get_nothing_degraded_ones_come_last() {
    let mut s = Scheduler::new();
    let cat = catalog(&["X"], &[]);
    s.upsert_backend(backend("new", 1));
    s.enqueue(job(1, 0, &["X"]));
    assert!(s.assign().is_empty(), "no catalogue yet");
    assert!(
        s.blocked_reason(1)
            .unwrap()
            .contains("has not reported its node catalogue")
    );
    s.set_catalog("new", cat.clone());
    assert!(s.assign().is_empty(), "health unknown");
    s.set_health("new", HealthState::Down);
    assert!(s.blocked_reason(1).unwrap().contains("new is down"));

    ready(&mut s, "ok", 1, cat.clone());
    s.set_health("new", HealthState::Degraded);
    s.enqueue(job(2, 0, &["X"]));
    // Healthy first, the degraded one takes what is left.
    assert_eq!(s.assign(), vec![a(1, "ok"), a(2, "new")]);
}

#[test]
fn removing_a_backend_leaves_the_queue_alone() {
    let mut s = Scheduler::new();
    ready(&mut s, "b", 1, catalog(&["X"], &[]));
    s.enqueue(job(1, 0, &["X"]));
    assert!(s.remove_backend("b"));
    assert!(s.assign().is_empty());
    assert_eq!(
        s.blocked_reason(1).as_deref(),
        Some("no backend is registered")
    );
    s.occupy("nobody");
    s.release("nobody");
}

#[test]
fn a_thousand_queued_jobs_on_busy_backends_cost_little_per_round() {
    // Correctness at scale: 1,000 queued, 3 backends with 2 slots each.
    let mut s = Scheduler::new();
    let cat = catalog(&["X"], &[]);
    for b in ["a", "b", "c"] {
        ready(&mut s, b, 2, cat.clone());
    }
    for id in 0..1000 {
        s.enqueue(job(id, id % 7, &["X"]));
    }
    let mut order = Vec::new();
    loop {
        let got = s.assign();
        if got.is_empty() {
            break;
        }
        for x in got {
            order.push((x.job % 7, x.job));
            s.release(&x.backend);
        }
    }
    assert_eq!(order.len(), 1000);
    // Rounds hand out jobs in (priority desc, id asc) order.
    let mut sorted = order.clone();
    sorted.sort_by_key(|&(p, id)| (-p, id));
    assert_eq!(order, sorted);
}
