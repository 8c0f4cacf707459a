//! The store against real SQLite files in temporary folders: every transition and every
//! refused one, queue order, durability across reopen and crashes, migrations, threads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use visualpath_farm_store::{
    AttemptState, BackendRow, JobFilter, JobId, JobRow, JobState, NewJob, OutputRow, Store,
    StoreError,
};

// ---------------------------------------------------------------- helpers

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn open(dir: &Path) -> Store {
    Store::open(&dir.join("farm.db")).expect("open store")
}

fn new_job(name: &str, priority: i64) -> NewJob {
    NewJob {
        name: Some(name.to_string()),
        priority,
        workflow: json!({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}),
        params: json!({"seed": 1}),
        targets: Some(vec!["9".to_string()]),
        tags: vec!["sdxl".to_string()],
        pool: Some("gpu".to_string()),
        max_retries: 2,
        requirements: json!({"classes": ["KSampler"]}),
        plan: json!({"order": ["3"]}),
    }
}

fn submit_one(store: &Store, name: &str, priority: i64) -> JobId {
    let (_, ids) = store
        .submit(&[new_job(name, priority)], None, 1_000)
        .expect("submit");
    ids[0]
}

fn job(store: &Store, id: JobId) -> JobRow {
    store.job(id).expect("read job").expect("job exists")
}

fn output(job: JobId, filename: &str) -> OutputRow {
    OutputRow {
        job,
        node: "9".into(),
        kind: "images".into(),
        filename: filename.into(),
        subfolder: "".into(),
        file_type: "output".into(),
        path: Some(format!("outputs/{job}/{filename}")),
        bytes: 1234,
        mime: Some("image/png".into()),
        text: None,
    }
}

fn backend(name: &str, added_ms: i64) -> BackendRow {
    BackendRow {
        name: name.into(),
        url: format!("http://{name}:8188"),
        tags: vec!["sdxl".into()],
        pool: Some("gpu".into()),
        weight: 1.5,
        max_concurrent: 2,
        added_ms,
    }
}

/// A job brought to `state` through the API (running ones have an open attempt).
fn job_in(store: &Store, state: JobState) -> JobId {
    let id = submit_one(store, "j", 0);
    match state {
        JobState::Queued => {}
        JobState::Running => {
            store
                .start_attempt(id, "b1", "p", "c", 2_000)
                .expect("start");
        }
        JobState::Succeeded => {
            store
                .start_attempt(id, "b1", "p", "c", 2_000)
                .expect("start");
            store.complete(id, &[], 3_000).expect("complete");
        }
        JobState::Failed => store.fail(id, "boom", 3_000).expect("fail"),
        JobState::Cancelled => {
            assert_eq!(store.cancel(id, 3_000).expect("cancel"), JobState::Queued);
        }
    }
    assert_eq!(job(store, id).state, state);
    id
}

fn queue_ids(store: &Store) -> Vec<JobId> {
    store
        .queued()
        .expect("queued")
        .iter()
        .map(|j| j.id)
        .collect()
}

fn assert_one_line(err: &StoreError) -> String {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "error is not one line: {msg:?}");
    msg
}

fn counts(pairs: &[(JobState, u64)]) -> BTreeMap<JobState, u64> {
    let mut m: BTreeMap<JobState, u64> = JobState::ALL.into_iter().map(|s| (s, 0)).collect();
    for (s, n) in pairs {
        m.insert(*s, *n);
    }
    m
}

// ---------------------------------------------------------------- submit and read

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn submitted_jobs_read_back_exactly() {
    let dir = tmp();
    let store = open(dir.path());
    let mut loose = new_job("loose", 5);
    loose.targets = None;
    loose.pool = None;
    loose.name = None;
    let (batch, ids) = store
        .submit(&[new_job("a", 1), loose.clone()], None, 42)
        .expect("submit");
    assert_eq!(batch, None);
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1], "ids increase in submission order: {ids:?}");

    let a = job(&store, ids[0]);
    let expected = new_job("a", 1);
    assert_eq!(a.id, ids[0]);
    assert_eq!(a.batch, None);
    assert_eq!(a.name.as_deref(), Some("a"));
    assert_eq!(a.state, JobState::Queued);
    assert_eq!(a.priority, 1);
    assert_eq!(a.workflow, expected.workflow);
    assert_eq!(a.params, expected.params);
    assert_eq!(a.targets, expected.targets);
    assert_eq!(a.tags, expected.tags);
    assert_eq!(a.pool, expected.pool);
    assert_eq!(a.max_retries, 2);
    assert_eq!(a.attempts, 0);
    assert!(a.excluded.is_empty());
    assert_eq!(a.requirements, expected.requirements);
    assert_eq!(a.plan, expected.plan);
    assert_eq!((a.backend, a.prompt_id, a.error), (None, None, None));
    assert_eq!(
        (a.created_ms, a.started_ms, a.finished_ms),
        (42, None, None)
    );

    let b = job(&store, ids[1]);
    assert_eq!((b.name, b.targets, b.pool), (None, None, None));
    assert_eq!(b.priority, 5);

    assert_eq!(store.job(ids[1] + 100).expect("read"), None);
    assert_eq!(
        store.counts().expect("counts"),
        counts(&[(JobState::Queued, 2)])
    );
}

#[test]
fn batches_hold_their_jobs_and_counts() {
    let dir = tmp();
    let store = open(dir.path());
    let (b1, ids1) = store
        .submit(&[new_job("x", 0), new_job("y", 0)], Some(Some("sweep")), 10)
        .expect("named batch");
    let (b2, ids2) = store
        .submit(&[new_job("z", 0)], Some(None), 20)
        .expect("unnamed batch");
    let (b1, b2) = (b1.expect("batch id"), b2.expect("batch id"));
    assert!(b2 > b1);
    assert!(ids1.iter().all(|&id| job(&store, id).batch == Some(b1)));
    assert_eq!(job(&store, ids2[0]).batch, Some(b2));

    store
        .start_attempt(ids1[0], "b1", "p", "c", 30)
        .expect("start");
    store.complete(ids1[0], &[], 40).expect("complete");

    let row = store.batch(b1).expect("batch").expect("exists");
    assert_eq!(row.name.as_deref(), Some("sweep"));
    assert_eq!(row.created_ms, 10);
    assert_eq!(
        row.counts,
        counts(&[(JobState::Queued, 1), (JobState::Succeeded, 1)])
    );
    let listed = store.batches(10).expect("batches");
    assert_eq!(
        listed
            .iter()
            .map(|b| (b.id, b.name.clone()))
            .collect::<Vec<_>>(),
        vec![(b2, None), (b1, Some("sweep".to_string()))],
        "newest first"
    );
    assert_eq!(listed[0].counts, counts(&[(JobState::Queued, 1)]));
    assert_eq!(store.batches(1).expect("batches").len(), 1);
    assert_eq!(store.batch(b2 + 1).expect("batch"), None);
}

#[test]
fn an_empty_submission_is_refused() {
    let store = Store::open_in_memory().expect("store");
    let err = store.submit(&[], Some(Some("b")), 1).expect_err("empty");
    assert!(matches!(err, StoreError::EmptySubmission), "{err:?}");
    assert_eq!(store.batches(10).expect("batches"), vec![]);
}

#[test]
fn an_invalid_job_in_the_middle_stores_nothing() {
    let dir = tmp();
    let store = open(dir.path());
    let before = submit_one(&store, "before", 0);
    let mut bad = new_job("bad", 0);
    bad.workflow = json!(["not", "an", "object"]);
    let err = store
        .submit(
            &[new_job("first", 0), bad, new_job("third", 0)],
            Some(Some("doomed")),
            5,
        )
        .expect_err("invalid workflow");
    assert!(
        matches!(err, StoreError::InvalidJob { index: 1, .. }),
        "{err:?}"
    );
    let msg = assert_one_line(&err);
    assert!(msg.contains("#1") && msg.contains("an array"), "{msg}");

    let mut bad_tag = new_job("bad tag", 0);
    bad_tag.tags.push(String::new());
    let err = store
        .submit(&[new_job("ok", 0), bad_tag], None, 5)
        .expect_err("empty tag");
    assert!(
        matches!(err, StoreError::InvalidJob { index: 1, .. }),
        "{err:?}"
    );

    // Nothing of either submission is there; the store still works afterwards.
    drop(store);
    let store = open(dir.path());
    let all = store.jobs(&JobFilter::default()).expect("jobs");
    assert_eq!(all.iter().map(|j| j.id).collect::<Vec<_>>(), vec![before]);
    assert_eq!(store.batches(10).expect("batches"), vec![]);
    assert_eq!(
        store.counts().expect("counts"),
        counts(&[(JobState::Queued, 1)])
    );
    let after = submit_one(&store, "after", 0);
    assert!(after > before);
}

// ---------------------------------------------------------------- queue order

#[test]
fn queue_is_priority_then_fifo() {
    let dir = tmp();
    let store = open(dir.path());
    let low1 = submit_one(&store, "low1", 0);
    let high1 = submit_one(&store, "high1", 10);
    let low2 = submit_one(&store, "low2", 0);
    let neg = submit_one(&store, "neg", -5);
    let high2 = submit_one(&store, "high2", 10);
    let mid = submit_one(&store, "mid", 3);
    assert_eq!(queue_ids(&store), vec![high1, high2, mid, low1, low2, neg]);
    let head: Vec<JobId> = store
        .queued_head(2)
        .expect("head")
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(head, vec![high1, high2]);
    assert_eq!(store.queued_head(0).expect("head"), vec![]);

    // Only queued jobs are in the queue.
    store
        .start_attempt(high1, "b1", "p", "c", 5)
        .expect("start");
    store.cancel(mid, 6).expect("cancel");
    assert_eq!(queue_ids(&store), vec![high2, low1, low2, neg]);
}

#[test]
fn set_priority_moves_a_queued_job_and_refuses_final_ones() {
    let dir = tmp();
    let store = open(dir.path());
    let a = submit_one(&store, "a", 0);
    let b = submit_one(&store, "b", 0);
    let c = submit_one(&store, "c", 0);
    assert_eq!(store.set_priority(c, 7).expect("raise"), JobState::Queued);
    assert_eq!(queue_ids(&store), vec![c, a, b]);
    assert_eq!(store.set_priority(c, 0).expect("lower"), JobState::Queued);
    assert_eq!(queue_ids(&store), vec![a, b, c], "back to its id's place");

    store.start_attempt(a, "b1", "p", "c", 5).expect("start");
    assert_eq!(
        store.set_priority(a, 3).expect("running"),
        JobState::Running
    );
    assert_eq!(job(&store, a).priority, 3);

    for state in [JobState::Succeeded, JobState::Failed, JobState::Cancelled] {
        let id = job_in(&store, state);
        let err = store.set_priority(id, 9).expect_err("final");
        assert!(
            matches!(err, StoreError::State { job, state: s, .. } if job == id && s == state),
            "{err:?}"
        );
        assert_eq!(
            assert_one_line(&err),
            format!("job {id} is {state}, not queued or running")
        );
        assert_eq!(job(&store, id).priority, 0, "unchanged");
    }
}

// ---------------------------------------------------------------- transitions

#[test]
fn start_attempt_runs_a_queued_job() {
    let dir = tmp();
    let store = open(dir.path());
    let id = submit_one(&store, "a", 0);
    let attempt = store
        .start_attempt(id, "gpu-1", "prompt-1", "client-1", 2_000)
        .expect("start");
    let row = job(&store, id);
    assert_eq!(row.state, JobState::Running);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.backend.as_deref(), Some("gpu-1"));
    assert_eq!(row.prompt_id.as_deref(), Some("prompt-1"));
    assert_eq!(row.started_ms, Some(2_000));
    assert_eq!(row.finished_ms, None);

    let attempts = store.attempts(id).expect("attempts");
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!(a.id, attempt);
    assert_eq!(a.job, id);
    assert_eq!(
        (
            a.backend.as_str(),
            a.prompt_id.as_str(),
            a.client_id.as_str()
        ),
        ("gpu-1", "prompt-1", "client-1")
    );
    assert_eq!(a.state, AttemptState::Running);
    assert_eq!(
        (a.error.clone(), a.started_ms, a.finished_ms),
        (None, 2_000, None)
    );

    let running = store.running().expect("running");
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].0, row);
    assert_eq!(&running[0].1, a);
    assert_eq!(
        store.counts().expect("counts"),
        counts(&[(JobState::Running, 1)])
    );
}

#[test]
fn finish_attempt_ends_only_a_running_attempt() {
    let dir = tmp();
    let store = open(dir.path());
    let id = submit_one(&store, "a", 0);
    let attempt = store.start_attempt(id, "b1", "p", "c", 10).expect("start");

    let err = store
        .finish_attempt(attempt, AttemptState::Running, None, 11)
        .expect_err("running is not an end");
    assert!(matches!(err, StoreError::FinishAsRunning { .. }), "{err:?}");

    store
        .finish_attempt(attempt, AttemptState::Failed, Some("OOM"), 20)
        .expect("finish");
    let a = &store.attempts(id).expect("attempts")[0];
    assert_eq!(a.state, AttemptState::Failed);
    assert_eq!(a.error.as_deref(), Some("OOM"));
    assert_eq!(a.finished_ms, Some(20));
    assert_eq!(job(&store, id).state, JobState::Running, "job untouched");

    // running() still reports the job, with its latest (now finished) attempt.
    let running = store.running().expect("running");
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].1.state, AttemptState::Failed);

    let err = store
        .finish_attempt(attempt, AttemptState::Succeeded, None, 30)
        .expect_err("already finished");
    assert_eq!(
        assert_one_line(&err),
        format!("attempt {attempt} of job {id} is failed, not running")
    );
    let err = store
        .finish_attempt(attempt + 99, AttemptState::Lost, None, 30)
        .expect_err("unknown");
    assert!(
        matches!(err, StoreError::NoAttempt(n) if n == attempt + 99),
        "{err:?}"
    );
}

#[test]
fn complete_stores_outputs_with_the_success() {
    let dir = tmp();
    let store = open(dir.path());
    let id = submit_one(&store, "a", 0);
    store.start_attempt(id, "b1", "p", "c", 10).expect("start");
    let mut text = output(id, "");
    text.kind = "text".into();
    text.path = None;
    text.mime = None;
    text.bytes = 0;
    text.text = Some("a caption".into());
    let outs = vec![output(id, "b.png"), output(id, "a.png"), text];
    store.complete(id, &outs, 50).expect("complete");

    let row = job(&store, id);
    assert_eq!(row.state, JobState::Succeeded);
    assert_eq!(row.finished_ms, Some(50));
    assert_eq!(store.outputs(id).expect("outputs"), outs, "all, in order");
    let a = &store.attempts(id).expect("attempts")[0];
    assert_eq!(
        (a.state, a.finished_ms),
        (AttemptState::Succeeded, Some(50)),
        "the open attempt was closed"
    );
    assert!(store.running().expect("running").is_empty());
}

#[test]
fn complete_with_a_bad_output_changes_nothing() {
    let dir = tmp();
    let store = open(dir.path());
    let id = submit_one(&store, "a", 0);
    store.start_attempt(id, "b1", "p", "c", 10).expect("start");
    let err = store
        .complete(id, &[output(id, "ok.png"), output(id + 1, "x.png")], 50)
        .expect_err("wrong job");
    assert!(
        matches!(err, StoreError::InvalidOutput { job, index: 1, .. } if job == id),
        "{err:?}"
    );
    assert_one_line(&err);
    assert_eq!(job(&store, id).state, JobState::Running);
    assert_eq!(store.outputs(id).expect("outputs"), vec![]);
}

#[test]
fn fail_ends_queued_and_running_jobs() {
    let dir = tmp();
    let store = open(dir.path());
    let queued = submit_one(&store, "q", 0);
    store
        .fail(queued, "no backend has node X", 7)
        .expect("fail queued");
    let row = job(&store, queued);
    assert_eq!(row.state, JobState::Failed);
    assert_eq!(row.error.as_deref(), Some("no backend has node X"));
    assert_eq!(row.finished_ms, Some(7));
    assert_eq!(row.attempts, 0);

    let running = job_in(&store, JobState::Running);
    store
        .fail(running, "execution_error", 9)
        .expect("fail running");
    assert_eq!(job(&store, running).state, JobState::Failed);
    let a = &store.attempts(running).expect("attempts")[0];
    assert_eq!(a.state, AttemptState::Failed);
    assert_eq!(a.error.as_deref(), Some("execution_error"));
    assert_eq!(a.finished_ms, Some(9));
}

#[test]
fn requeue_keeps_the_place_and_records_exclusions() {
    let dir = tmp();
    let store = open(dir.path());
    let a = submit_one(&store, "a", 0);
    let b = submit_one(&store, "b", 0);
    let c = submit_one(&store, "c", 0);
    let first = store
        .start_attempt(a, "gpu-1", "p1", "c", 10)
        .expect("start");
    assert_eq!(queue_ids(&store), vec![b, c]);

    store
        .requeue(a, Some("gpu-1"), Some("backend gpu-1 stopped answering"))
        .expect("requeue");
    assert_eq!(queue_ids(&store), vec![a, b, c], "back at the head");
    let row = job(&store, a);
    assert_eq!(row.state, JobState::Queued);
    assert_eq!(row.excluded, vec!["gpu-1".to_string()]);
    assert_eq!(
        row.error.as_deref(),
        Some("backend gpu-1 stopped answering")
    );
    assert_eq!(row.attempts, 1);
    assert_eq!(row.backend.as_deref(), Some("gpu-1"), "last backend kept");
    let att = store.attempts(a).expect("attempts");
    assert_eq!(att[0].id, first);
    assert_eq!(
        att[0].state,
        AttemptState::Lost,
        "open attempt closed as lost"
    );

    // The excluded backend is refused; another one is fine.
    let err = store
        .start_attempt(a, "gpu-1", "p2", "c", 20)
        .expect_err("excluded");
    assert!(
        matches!(&err, StoreError::Excluded { job, backend } if *job == a && backend == "gpu-1")
    );
    assert_one_line(&err);
    assert_eq!(job(&store, a).state, JobState::Queued);
    let second = store
        .start_attempt(a, "gpu-2", "p2", "c", 20)
        .expect("start");
    store
        .finish_attempt(second, AttemptState::Failed, Some("OOM"), 25)
        .expect("finish");
    // A second exclusion adds; the same one again does not duplicate; no error keeps the old.
    store.requeue(a, Some("gpu-2"), None).expect("requeue");
    let row = job(&store, a);
    assert_eq!(row.excluded, vec!["gpu-1".to_string(), "gpu-2".to_string()]);
    assert_eq!(
        row.error.as_deref(),
        Some("backend gpu-1 stopped answering")
    );
    let att = store.attempts(a).expect("attempts");
    assert_eq!(att[1].state, AttemptState::Failed, "already finished: kept");
    store
        .start_attempt(a, "gpu-3", "p3", "c", 30)
        .expect("start");
    store.requeue(a, Some("gpu-1"), None).expect("requeue");
    assert_eq!(
        job(&store, a).excluded,
        vec!["gpu-1".to_string(), "gpu-2".to_string()],
        "no duplicate"
    );
    assert_eq!(job(&store, a).attempts, 3);
    store
        .requeue(a, None, None)
        .expect_err("queued, not running");
    assert_eq!(queue_ids(&store), vec![a, b, c]);
}

#[test]
fn cancel_queued_at_once_running_later() {
    let dir = tmp();
    let store = open(dir.path());
    let q = submit_one(&store, "q", 0);
    assert_eq!(store.cancel(q, 5).expect("cancel"), JobState::Queued);
    let row = job(&store, q);
    assert_eq!((row.state, row.finished_ms), (JobState::Cancelled, Some(5)));

    let r = job_in(&store, JobState::Running);
    assert_eq!(store.cancel(r, 6).expect("cancel"), JobState::Running);
    assert_eq!(
        job(&store, r).state,
        JobState::Running,
        "caller interrupts first"
    );
    store.mark_cancelled(r, 8).expect("mark");
    let row = job(&store, r);
    assert_eq!((row.state, row.finished_ms), (JobState::Cancelled, Some(8)));
    let a = &store.attempts(r).expect("attempts")[0];
    assert_eq!((a.state, a.finished_ms), (AttemptState::Cancelled, Some(8)));

    // Final jobs: cancel reports the state and changes nothing.
    for state in [JobState::Succeeded, JobState::Failed, JobState::Cancelled] {
        let id = job_in(&store, state);
        let before = job(&store, id);
        assert_eq!(store.cancel(id, 99).expect("cancel"), state);
        assert_eq!(job(&store, id), before);
    }
}

#[test]
fn retry_requeues_failed_and_cancelled_jobs_with_history() {
    let dir = tmp();
    let store = open(dir.path());
    let a = submit_one(&store, "a", 0);
    let later = submit_one(&store, "later", 0);
    store
        .start_attempt(a, "gpu-1", "p", "c", 10)
        .expect("start");
    store
        .requeue(a, Some("gpu-1"), Some("lost"))
        .expect("requeue");
    store
        .start_attempt(a, "gpu-2", "p", "c", 20)
        .expect("start");
    store.fail(a, "execution_error", 30).expect("fail");

    store.retry(a).expect("retry");
    let row = job(&store, a);
    assert_eq!(row.state, JobState::Queued);
    assert_eq!((row.error, row.finished_ms), (None, None));
    assert!(row.excluded.is_empty(), "exclusions cleared");
    assert_eq!(row.attempts, 2, "attempt count kept");
    assert_eq!(
        store.attempts(a).expect("attempts").len(),
        2,
        "history kept"
    );
    assert_eq!(queue_ids(&store), vec![a, later], "at its id's place");
    store
        .start_attempt(a, "gpu-1", "p", "c", 40)
        .expect("gpu-1 allowed again");

    let c = job_in(&store, JobState::Cancelled);
    store.retry(c).expect("retry cancelled");
    assert_eq!(job(&store, c).state, JobState::Queued);
}

/// Every operation from every state: allowed ones reach the right state, refused ones
/// name the job and leave it unchanged.
#[test]
fn every_transition_and_every_refusal() {
    type Op = fn(&Store, JobId) -> Result<(), StoreError>;
    /// Name, call, states it applies to, state it leads to (`None`: unchanged), and the
    /// `wanted` text of its refusal.
    type Case = (
        &'static str,
        Op,
        &'static [JobState],
        Option<JobState>,
        &'static str,
    );
    let ops: [Case; 7] = [
        (
            "start_attempt",
            |s, id| s.start_attempt(id, "b2", "p", "c", 5).map(drop),
            &[JobState::Queued],
            Some(JobState::Running),
            "queued",
        ),
        (
            "complete",
            |s, id| s.complete(id, &[], 5),
            &[JobState::Running],
            Some(JobState::Succeeded),
            "running",
        ),
        (
            "fail",
            |s, id| s.fail(id, "x", 5),
            &[JobState::Queued, JobState::Running],
            Some(JobState::Failed),
            "queued or running",
        ),
        (
            "requeue",
            |s, id| s.requeue(id, None, None),
            &[JobState::Running],
            Some(JobState::Queued),
            "running",
        ),
        (
            "mark_cancelled",
            |s, id| s.mark_cancelled(id, 5),
            &[JobState::Queued, JobState::Running],
            Some(JobState::Cancelled),
            "queued or running",
        ),
        (
            "set_priority",
            |s, id| s.set_priority(id, 1).map(drop),
            &[JobState::Queued, JobState::Running],
            None, // state unchanged
            "queued or running",
        ),
        (
            "retry",
            |s, id| s.retry(id),
            &[JobState::Failed, JobState::Cancelled],
            Some(JobState::Queued),
            "failed or cancelled",
        ),
    ];
    let dir = tmp();
    let store = open(dir.path());
    for (name, op, allowed, to, wanted) in ops {
        for from in JobState::ALL {
            let id = job_in(&store, from);
            let before = job(&store, id);
            let result = op(&store, id);
            if allowed.contains(&from) {
                result.unwrap_or_else(|e| panic!("{name} from {from}: {e}"));
                assert_eq!(
                    job(&store, id).state,
                    to.unwrap_or(from),
                    "{name} from {from}"
                );
            } else {
                let err = result.expect_err(&format!("{name} from {from} must be refused"));
                assert!(
                    matches!(err, StoreError::State { job, state, wanted: w }
                        if job == id && state == from && w == wanted),
                    "{name} from {from}: {err:?}"
                );
                assert_eq!(
                    assert_one_line(&err),
                    format!("job {id} is {from}, not {wanted}")
                );
                assert_eq!(
                    job(&store, id),
                    before,
                    "{name} from {from} changed the job"
                );
            }
        }
        // And an unknown job.
        let err = op(&store, 999_999).expect_err("unknown job");
        assert!(matches!(err, StoreError::NoJob(999_999)), "{name}: {err:?}");
        assert_eq!(err.to_string(), "no job 999999");
    }
    assert!(matches!(
        store.cancel(999_999, 1),
        Err(StoreError::NoJob(999_999))
    ));
    assert!(matches!(
        store.outputs(999_999),
        Err(StoreError::NoJob(999_999))
    ));
    assert!(matches!(
        store.attempts(999_999),
        Err(StoreError::NoJob(999_999))
    ));

    // The counters followed every change.
    let all = store
        .jobs(&JobFilter {
            limit: 10_000,
            ..JobFilter::default()
        })
        .expect("jobs");
    let mut recount = counts(&[]);
    for j in &all {
        *recount.entry(j.state).or_default() += 1;
    }
    assert_eq!(store.counts().expect("counts"), recount);
}

#[test]
fn the_refusal_message_reads_as_specified() {
    let store = Store::open_in_memory().expect("store");
    let id = job_in(&store, JobState::Succeeded);
    let err = store
        .start_attempt(id, "b", "p", "c", 1)
        .expect_err("succeeded");
    assert_eq!(
        err.to_string(),
        format!("job {id} is succeeded, not queued")
    );
}

// ---------------------------------------------------------------- listing

#[test]
fn jobs_lists_newest_first_with_filters_and_pages() {
    let dir = tmp();
    let store = open(dir.path());
    let loose: Vec<JobId> = (0..5)
        .map(|i| submit_one(&store, &format!("l{i}"), 0))
        .collect();
    let jobs: Vec<NewJob> = (0..4).map(|i| new_job(&format!("b{i}"), 0)).collect();
    let (batch, in_batch) = store.submit(&jobs, Some(Some("b")), 1).expect("batch");
    let batch = batch.expect("batch id");
    store
        .start_attempt(loose[1], "b1", "p", "c", 2)
        .expect("start");
    store.fail(loose[3], "x", 3).expect("fail");
    store.fail(in_batch[2], "x", 3).expect("fail");
    store.cancel(in_batch[0], 3).expect("cancel");

    let ids = |f: JobFilter| -> Vec<JobId> {
        store.jobs(&f).expect("jobs").iter().map(|j| j.id).collect()
    };
    let mut all: Vec<JobId> = loose.iter().chain(&in_batch).copied().collect();
    all.reverse();
    assert_eq!(ids(JobFilter::default()), all);
    assert_eq!(
        ids(JobFilter {
            limit: 3,
            ..JobFilter::default()
        }),
        all[..3].to_vec()
    );
    assert_eq!(
        ids(JobFilter {
            limit: 3,
            before: Some(all[2]),
            ..JobFilter::default()
        }),
        all[3..6].to_vec(),
        "the next page"
    );
    assert_eq!(
        ids(JobFilter {
            limit: 0,
            ..JobFilter::default()
        }),
        Vec::<JobId>::new()
    );
    assert_eq!(
        ids(JobFilter {
            states: vec![JobState::Failed],
            ..JobFilter::default()
        }),
        vec![in_batch[2], loose[3]]
    );
    assert_eq!(
        ids(JobFilter {
            states: vec![JobState::Failed, JobState::Running, JobState::Failed],
            ..JobFilter::default()
        }),
        vec![in_batch[2], loose[3], loose[1]],
        "several states merge newest first"
    );
    assert_eq!(
        ids(JobFilter {
            states: vec![JobState::Failed, JobState::Running],
            limit: 2,
            before: Some(in_batch[2]),
            ..JobFilter::default()
        }),
        vec![loose[3], loose[1]]
    );
    let mut batch_all = in_batch.clone();
    batch_all.reverse();
    assert_eq!(
        ids(JobFilter {
            batch: Some(batch),
            ..JobFilter::default()
        }),
        batch_all
    );
    assert_eq!(
        ids(JobFilter {
            batch: Some(batch),
            states: vec![JobState::Queued],
            ..JobFilter::default()
        }),
        vec![in_batch[3], in_batch[1]]
    );
    assert_eq!(
        ids(JobFilter {
            batch: Some(batch),
            limit: 2,
            before: Some(in_batch[2]),
            ..JobFilter::default()
        }),
        vec![in_batch[1], in_batch[0]]
    );
    assert_eq!(
        ids(JobFilter {
            batch: Some(batch + 1),
            ..JobFilter::default()
        }),
        Vec::<JobId>::new()
    );
}

// ---------------------------------------------------------------- backends

#[test]
fn backends_are_upserted_listed_and_removed() {
    let dir = tmp();
    let store = open(dir.path());
    store.upsert_backend(&backend("zeta", 100)).expect("add");
    store.upsert_backend(&backend("alpha", 200)).expect("add");
    let mut changed = backend("zeta", 999);
    changed.url = "http://10.0.0.9:8188".into();
    changed.tags = vec![];
    changed.pool = None;
    changed.weight = 0.25;
    changed.max_concurrent = 4;
    store.upsert_backend(&changed).expect("update");

    let list = store.backends().expect("backends");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0], backend("alpha", 200));
    assert_eq!(
        list[1],
        BackendRow {
            added_ms: 100,
            ..changed
        },
        "added_ms kept"
    );

    assert!(store.remove_backend("alpha").expect("remove"));
    assert!(!store.remove_backend("alpha").expect("remove again"));
    assert_eq!(store.backends().expect("backends").len(), 1);

    for bad in [
        BackendRow {
            name: String::new(),
            ..backend("x", 1)
        },
        BackendRow {
            url: String::new(),
            ..backend("x", 1)
        },
        BackendRow {
            weight: f64::NAN,
            ..backend("x", 1)
        },
        BackendRow {
            weight: -1.0,
            ..backend("x", 1)
        },
    ] {
        let err = store.upsert_backend(&bad).expect_err("invalid");
        assert!(matches!(err, StoreError::InvalidBackend { .. }), "{err:?}");
        assert_one_line(&err);
    }
    assert_eq!(store.backends().expect("backends").len(), 1);
}

// ---------------------------------------------------------------- durability

#[test]
fn everything_survives_a_reopen() {
    let dir = tmp();
    let file = dir.path().join("nested/deeper/farm.db");
    let (queued, running, done, failed, batch, attempt) = {
        let store = Store::open(&file).expect("open creates parent dirs");
        let (batch, ids) = store
            .submit(
                &[
                    new_job("q", 3),
                    new_job("r", 2),
                    new_job("d", 1),
                    new_job("f", 0),
                ],
                Some(Some("sweep")),
                100,
            )
            .expect("submit");
        let attempt = store
            .start_attempt(ids[1], "gpu-1", "prompt-r", "client", 200)
            .expect("start");
        store
            .start_attempt(ids[2], "gpu-2", "prompt-d", "client", 210)
            .expect("start");
        store
            .complete(ids[2], &[output(ids[2], "d.png")], 300)
            .expect("complete");
        store
            .start_attempt(ids[3], "gpu-2", "prompt-f", "client", 220)
            .expect("start");
        store
            .requeue(ids[3], Some("gpu-2"), Some("lost"))
            .expect("requeue");
        store.fail(ids[3], "gave up", 320).expect("fail");
        store
            .upsert_backend(&backend("gpu-1", 50))
            .expect("backend");
        (
            ids[0],
            ids[1],
            ids[2],
            ids[3],
            batch.expect("batch"),
            attempt,
        )
    };
    assert!(file.is_file());

    let store = Store::open(&file).expect("reopen");
    assert_eq!(store.path(), file.as_path());
    assert_eq!(queue_ids(&store), vec![queued]);
    let run = store.running().expect("running");
    assert_eq!(run.len(), 1);
    assert_eq!(run[0].0.id, running);
    assert_eq!(run[0].0.backend.as_deref(), Some("gpu-1"));
    assert_eq!(run[0].1.id, attempt);
    assert_eq!(run[0].1.prompt_id, "prompt-r");
    assert_eq!(run[0].1.state, AttemptState::Running);
    assert_eq!(job(&store, done).state, JobState::Succeeded);
    assert_eq!(
        store.outputs(done).expect("outputs"),
        vec![output(done, "d.png")]
    );
    let f = job(&store, failed);
    assert_eq!(
        (f.state, f.error.as_deref()),
        (JobState::Failed, Some("gave up"))
    );
    assert_eq!(f.excluded, vec!["gpu-2".to_string()]);
    assert_eq!(
        store.attempts(failed).expect("attempts")[0].state,
        AttemptState::Lost
    );
    assert_eq!(
        store.backends().expect("backends"),
        vec![backend("gpu-1", 50)]
    );
    let b = store.batch(batch).expect("batch").expect("exists");
    assert_eq!(b.name.as_deref(), Some("sweep"));
    let expected = counts(&[
        (JobState::Queued, 1),
        (JobState::Running, 1),
        (JobState::Succeeded, 1),
        (JobState::Failed, 1),
    ]);
    assert_eq!(b.counts, expected);
    assert_eq!(store.counts().expect("counts"), expected);

    // The orchestrator carries on where it stopped.
    store
        .finish_attempt(attempt, AttemptState::Succeeded, None, 400)
        .expect("finish");
    store.complete(running, &[], 400).expect("complete");
    let next = submit_one(&store, "next", 0);
    assert!(next > failed, "ids are not reused");
}

#[test]
fn the_file_is_in_wal_mode() {
    let dir = tmp();
    let file = dir.path().join("farm.db");
    let store = Store::open(&file).expect("open");
    submit_one(&store, "a", 0);
    let conn = rusqlite::Connection::open(&file).expect("raw open");
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
}

const CRASH_ENV: &str = "VP_FARM_STORE_CRASH_DB";

/// Run only as the child of `a_crash_mid_transaction_leaves_nothing_half_written`:
/// commits some work, starts a transaction by hand, then dies without committing.
#[test]
#[ignore = "child process of a_crash_mid_transaction_leaves_nothing_half_written"]
fn crash_child() {
    let Some(file) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&file)).expect("child open");
    let (_, ids) = store
        .submit(&[new_job("kept-1", 0), new_job("kept-2", 0)], None, 1)
        .expect("child submit");
    store
        .start_attempt(ids[0], "gpu-1", "p", "c", 2)
        .expect("child start");
    let conn = rusqlite::Connection::open(Path::new(&file)).expect("child raw open");
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         UPDATE jobs SET state = 'succeeded' WHERE id = 1;
         INSERT INTO jobs (state, priority, workflow, params, tags, max_retries, requirements,
                           plan, created_ms)
             VALUES ('queued', 0, '{}', '{}', '[]', 0, 'null', 'null', 3);",
    )
    .expect("child half-written transaction");
    std::process::abort();
}

#[test]
fn a_crash_mid_transaction_leaves_nothing_half_written() {
    let dir = tmp();
    let file: PathBuf = dir.path().join("crash.db");
    let exe = std::env::current_exe().expect("test binary");
    let status = std::process::Command::new(exe)
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENV, &file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run the child");
    assert!(!status.success(), "the child must die mid-transaction");

    let store = Store::open(&file).expect("open after crash");
    let all = store.jobs(&JobFilter::default()).expect("jobs");
    let names: Vec<_> = all.iter().map(|j| (j.name.clone(), j.state)).collect();
    assert_eq!(
        names,
        vec![
            (Some("kept-2".to_string()), JobState::Queued),
            (Some("kept-1".to_string()), JobState::Running),
        ],
        "committed work kept, the uncommitted transaction gone"
    );
    assert_eq!(store.running().expect("running").len(), 1);
    assert_eq!(
        store.counts().expect("counts"),
        counts(&[(JobState::Queued, 1), (JobState::Running, 1)])
    );
}

#[test]
fn a_damaged_row_is_an_error_naming_it_not_a_panic() {
    let dir = tmp();
    let file = dir.path().join("farm.db");
    let store = Store::open(&file).expect("open");
    let id = submit_one(&store, "a", 0);
    let conn = rusqlite::Connection::open(&file).expect("raw open");
    conn.execute(
        "UPDATE jobs SET tags = '[\"unterminated' WHERE id = ?1",
        [id],
    )
    .expect("damage");
    let err = store.job(id).expect_err("damaged tags");
    assert!(
        matches!(&err, StoreError::Corrupt { column: "tags", .. }),
        "{err:?}"
    );
    let msg = assert_one_line(&err);
    assert!(msg.contains(&format!("job {id}")), "{msg}");
    conn.execute(
        "UPDATE jobs SET tags = '[]', state = 'paused' WHERE id = ?1",
        [id],
    )
    .expect_err("the schema's CHECK refuses unknown states");
}

// ---------------------------------------------------------------- migrations

fn user_version(file: &Path) -> i64 {
    rusqlite::Connection::open(file)
        .expect("raw open")
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version")
}

#[test]
fn migrates_an_empty_file_and_a_bare_database() {
    let dir = tmp();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").expect("empty file");
    let store = Store::open(&empty).expect("open empty file");
    submit_one(&store, "a", 0);
    drop(store);
    let version = user_version(&empty);
    assert!(version >= 1, "schema version {version}");

    // A SQLite file someone else created (version 0, an unrelated table) gets the schema
    // and keeps its table.
    let bare = dir.path().join("bare.db");
    {
        let conn = rusqlite::Connection::open(&bare).expect("raw");
        conn.execute_batch("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('hi');")
            .expect("bare");
    }
    let store = Store::open(&bare).expect("open bare");
    assert_eq!(store.counts().expect("counts"), counts(&[]));
    drop(store);
    assert_eq!(user_version(&bare), version);
    let kept: String = rusqlite::Connection::open(&bare)
        .expect("raw")
        .query_row("SELECT t FROM notes", [], |r| r.get(0))
        .expect("notes kept");
    assert_eq!(kept, "hi");
    // Opening again runs nothing (it would fail: the tables exist).
    Store::open(&bare).expect("open again");
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tmp();
    let file = dir.path().join("future.db");
    let current = {
        Store::open(&file).expect("create");
        user_version(&file)
    };
    rusqlite::Connection::open(&file)
        .expect("raw")
        .pragma_update(None, "user_version", 99)
        .expect("bump");
    let err = Store::open(&file).expect_err("newer schema");
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, supported, .. } if supported == current),
        "{err:?}"
    );
    let msg = assert_one_line(&err);
    assert!(
        msg.contains(&file.display().to_string())
            && msg.contains("99")
            && msg.contains(&current.to_string()),
        "{msg}"
    );
    assert_eq!(user_version(&file), 99, "untouched");
}

#[test]
fn a_file_that_is_not_a_database_is_named() {
    let dir = tmp();
    let file = dir.path().join("notes.txt");
    std::fs::write(
        &file,
        "this is not sqlite, just some text that is long enough ....",
    )
    .expect("write");
    let err = Store::open(&file).expect_err("not a database");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    let msg = assert_one_line(&err);
    assert!(msg.contains("notes.txt"), "{msg}");
}

// ---------------------------------------------------------------- threads

/// One thread's work: submit, read the queue, start and complete its own jobs.
fn worker(store: &Store, t: usize, jobs: usize) -> Vec<JobId> {
    let mut done = Vec::new();
    for i in 0..jobs {
        let name = format!("t{t}-{i}");
        let batch = if i % 5 == 0 {
            Some(Some(name.as_str()))
        } else {
            None
        };
        let (_, ids) = store
            .submit(&[new_job(&name, (i % 3) as i64)], batch, i as i64)
            .expect("submit");
        let id = ids[0];
        // Our job is queued until we start it, so the queue cannot be empty.
        assert!(!store.queued_head(8).expect("head").is_empty());
        let attempt = store
            .start_attempt(id, &format!("gpu-{t}"), &name, "c", i as i64)
            .expect("start");
        if i % 4 == 0 {
            store
                .finish_attempt(attempt, AttemptState::Succeeded, None, i as i64)
                .expect("finish");
        }
        store
            .complete(id, &[output(id, "o.png")], i as i64)
            .expect("complete");
        store.counts().expect("counts");
        done.push(id);
    }
    done
}

fn check_after_threads(store: &Store, mut ids: Vec<JobId>, total: usize) {
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "every job got its own id");
    assert_eq!(
        store.counts().expect("counts"),
        counts(&[(JobState::Succeeded, total as u64)])
    );
    let all = store
        .jobs(&JobFilter {
            limit: total + 10,
            ..JobFilter::default()
        })
        .expect("jobs");
    assert_eq!(all.len(), total, "no lost or extra jobs");
    for j in &all {
        assert_eq!(j.state, JobState::Succeeded);
        assert_eq!(store.outputs(j.id).expect("outputs").len(), 1);
    }
    assert_eq!(store.batches(1000).expect("batches").len(), total / 5);
}

#[test]
fn four_threads_share_one_store() {
    let dir = tmp();
    let store = Arc::new(open(dir.path()));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || worker(&store, t, 25))
        })
        .collect();
    let ids: Vec<JobId> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    check_after_threads(&store, ids, 100);
}

#[test]
fn four_connections_share_one_file() {
    let dir = tmp();
    open(dir.path()); // created and migrated once
    let path = dir.path().to_path_buf();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || worker(&open(&path), t, 25))
        })
        .collect();
    let ids: Vec<JobId> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    check_after_threads(&open(dir.path()), ids, 100);
}

#[test]
fn an_in_memory_store_works() {
    let store = Store::open_in_memory().expect("memory");
    assert_eq!(store.path(), Path::new(":memory:"));
    let id = submit_one(&store, "a", 0);
    store.start_attempt(id, "b", "p", "c", 1).expect("start");
    store.complete(id, &[], 2).expect("complete");
    assert_eq!(
        store.counts().expect("counts"),
        counts(&[(JobState::Succeeded, 1)])
    );
}
