//! One attempt of one job on one backend, on its own thread.
//!
//! The WebSocket is opened before the prompt is submitted, so no event of ours can be
//! missed. Completion is ComfyUI's `executing` with `node: null` for our prompt id (sent
//! after the history write), and the outcome is then read from `/history`: its last
//! status message tells success, error and interrupt apart. Events sent while the socket
//! was down are never replayed, so whenever the socket drops, or nothing arrived for a
//! while, `/history` and `/queue` decide: finished there -> settle; still queued or
//! running there -> reconnect and keep following; unknown there, or the backend does not
//! answer -> the attempt is lost (the job goes back to the queue for another backend).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use visualpath_comfy::{
    Client, ComfyError, Event, Events, HistoryEntry, Outcome as ComfyOutcome, OutputItem,
    PromptRequest,
};
use visualpath_farm_store::{AttemptId, JobRow, OutputRow};

use crate::engine::{DispatchSample, Farm};
use crate::view::Progress;

/// How long `Events::next` waits before the loop checks flags.
const TICK: Duration = Duration::from_millis(200);
/// Silence after which `/history` is asked directly (a missed completion message).
const SILENCE_CHECK: Duration = Duration::from_secs(3);
/// Reconnects of the WebSocket to a backend that still has our prompt.
const MAX_RECONNECTS: u32 = 5;

pub(crate) struct Attempt {
    /// 1 for the first attempt.
    pub(crate) number: u32,
    pub(crate) job: JobRow,
    pub(crate) attempt: AttemptId,
    pub(crate) backend: String,
    /// Also our client id: one WebSocket session per attempt.
    pub(crate) prompt_id: String,
    pub(crate) client: Client,
    /// The same server with the probe timeout, for "where is our prompt?" checks: a
    /// frozen backend must not hold the attempt for a whole request timeout.
    pub(crate) probe: Client,
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) lost: Arc<AtomicBool>,
    /// When the job could have started (for the dispatch overhead); None after a restart.
    pub(crate) ready_at: Option<Instant>,
}

pub(crate) enum Outcome {
    Succeeded(Vec<OutputRow>),
    /// The workflow failed or was refused on this backend.
    Failed(String),
    /// The backend died, froze, or lost the prompt.
    Lost(String),
    Cancelled,
    /// The orchestrator is shutting down: leave the job running in the store.
    Abandoned,
}

/// Run (or, with `resume`, re-attach to) an attempt and settle it.
pub(crate) fn run(farm: &Farm, a: Attempt, resume: bool) {
    let outcome = follow(farm, &a, resume);
    if let Outcome::Abandoned = outcome {
        return;
    }
    farm.settle(&a, outcome);
}

enum Finish {
    /// The backend says the prompt ended.
    Ended,
    Early(Outcome),
}

fn follow(farm: &Farm, a: &Attempt, resume: bool) -> Outcome {
    let url = a.client.url().to_string();
    let mut events = match Events::connect(&url, &a.prompt_id, TICK) {
        Ok(e) => e,
        Err(e) => return Outcome::Lost(e.to_string()),
    };
    if resume {
        match where_is(a) {
            Place::Finished(h) => return finish(farm, a, h),
            Place::Queued => {}
            Place::Gone(why) | Place::Unreachable(why) => return Outcome::Lost(why),
        }
    } else {
        let extra = json!({ "visualpath": { "job": a.job.id, "attempt": a.number } });
        let req = PromptRequest {
            prompt: &a.job.workflow,
            client_id: &a.prompt_id,
            prompt_id: &a.prompt_id,
            targets: a.job.targets.as_deref(),
            extra_data: Some(&extra),
        };
        if let Some(ready) = a.ready_at {
            farm.record_dispatch(DispatchSample {
                job: a.job.id,
                overhead: ready.elapsed(),
            });
        }
        match a.client.submit(&req) {
            Ok(_) => {}
            Err(ComfyError::Rejected { message, .. }) => {
                return Outcome::Failed(format!("the backend refused the prompt: {message}"));
            }
            Err(e) if e.is_unreachable() => return Outcome::Lost(e.to_string()),
            Err(e) => return Outcome::Failed(e.to_string()),
        }
    }
    match watch(farm, a, &mut events) {
        Finish::Early(o) => o,
        Finish::Ended => match history_after_end(a) {
            Ok(h) => finish(farm, a, h),
            Err(o) => o,
        },
    }
}

enum Place {
    Finished(HistoryEntry),
    Queued,
    /// The backend answers and has no record of the prompt.
    Gone(String),
    /// The backend did not answer in time.
    Unreachable(String),
}

/// Ask the backend where our prompt is.
fn where_is(a: &Attempt) -> Place {
    match a.probe.history(&a.prompt_id) {
        Ok(Some(h)) if !matches!(h.outcome, ComfyOutcome::Unfinished) => {
            return Place::Finished(h);
        }
        Ok(_) => {}
        Err(e) => return Place::Unreachable(e.to_string()),
    }
    match a.probe.queue() {
        Ok(q) => {
            let ours = |i: &visualpath_comfy::QueueItem| i.prompt_id == a.prompt_id;
            if q.running.iter().any(ours) || q.pending.iter().any(ours) {
                Place::Queued
            } else {
                // The history is written before the prompt leaves the queue; look once more.
                match a.probe.history(&a.prompt_id) {
                    Ok(Some(h)) if !matches!(h.outcome, ComfyOutcome::Unfinished) => {
                        Place::Finished(h)
                    }
                    _ => Place::Gone(format!(
                        "{} has no record of prompt {} (it restarted?)",
                        a.client.url(),
                        a.prompt_id
                    )),
                }
            }
        }
        Err(e) => Place::Unreachable(e.to_string()),
    }
}

/// Counts nodes as ComfyUI reports them, for [`Progress`].
struct Tracker {
    total: u64,
    done: std::collections::BTreeSet<String>,
    current: Option<String>,
}

impl Tracker {
    fn new(a: &Attempt) -> Tracker {
        let total = a.job.plan["order"].as_array().map_or(0, |o| o.len() as u64);
        Tracker {
            total: total.max(1),
            done: Default::default(),
            current: None,
        }
    }

    fn progress(&self, step: Option<(u64, u64)>) -> Progress {
        Progress {
            node: self.current.clone(),
            value: (self.done.len() as u64).min(self.total),
            max: self.total,
            step: step.map(|s| s.0),
            steps: step.map(|s| s.1),
        }
    }

    /// A node starts: the one before it is finished.
    fn start(&mut self, node: String) {
        if let Some(prev) = self.current.replace(node) {
            self.done.insert(prev);
        }
    }
}

fn watch(farm: &Farm, a: &Attempt, events: &mut Events) -> Finish {
    let mut nodes = Tracker::new(a);
    let mut last_event = Instant::now();
    let mut cancel_sent: Option<Instant> = None;
    let mut reconnects = 0;
    let grace = farm.inner.cfg.cancel_grace;
    loop {
        if farm.stopping() {
            return Finish::Early(Outcome::Abandoned);
        }
        if a.lost.load(Ordering::SeqCst) {
            return Finish::Early(Outcome::Lost(format!(
                "{} stopped answering its health probes",
                a.client.url()
            )));
        }
        if a.cancel.load(Ordering::SeqCst) {
            match cancel_sent {
                None => {
                    // Pending on the backend: delete it; running: interrupt this prompt only.
                    let _ = a.client.delete_pending(&[&a.prompt_id]);
                    let _ = a.client.interrupt(&a.prompt_id);
                    cancel_sent = Some(Instant::now());
                }
                Some(t) if t.elapsed() > grace => return Finish::Early(Outcome::Cancelled),
                Some(_) => {}
            }
        }
        match events.next() {
            Ok(Some(ev)) => {
                last_event = Instant::now();
                match ev {
                    Event::Executing {
                        prompt_id: Some(p),
                        node: None,
                    } if p == a.prompt_id => return Finish::Ended,
                    Event::Executing {
                        prompt_id: Some(p),
                        node: Some(n),
                    } if p == a.prompt_id => {
                        nodes.start(n);
                        farm.progress(a.job.id, nodes.progress(None));
                    }
                    Event::Cached {
                        prompt_id,
                        nodes: cached,
                    } if prompt_id == a.prompt_id => {
                        nodes.done.extend(cached);
                        farm.progress(a.job.id, nodes.progress(None));
                    }
                    Event::Progress {
                        prompt_id,
                        node,
                        value,
                        max,
                    } if prompt_id.as_deref().is_none_or(|p| p == a.prompt_id) => {
                        if node.is_some() && node != nodes.current {
                            nodes.current = node;
                        }
                        farm.progress(a.job.id, nodes.progress(Some((value, max))));
                    }
                    Event::Preview {
                        prompt_id: Some(p),
                        mime,
                        bytes,
                        ..
                    } if p == a.prompt_id => farm.preview_image(a.job.id, mime, bytes),
                    Event::Interrupted { prompt_id, .. } if prompt_id == a.prompt_id => {
                        // `executing: null` follows; the history tells the outcome.
                    }
                    _ => {}
                }
            }
            Ok(None) => {
                let check = if cancel_sent.is_some() {
                    Duration::from_millis(500)
                } else {
                    SILENCE_CHECK
                };
                if last_event.elapsed() >= check {
                    last_event = Instant::now();
                    match where_is(a) {
                        Place::Finished(_) => return Finish::Ended,
                        Place::Queued => {}
                        Place::Gone(_) if cancel_sent.is_some() => {
                            // Deleted from the backend's queue before it ran.
                            return Finish::Early(Outcome::Cancelled);
                        }
                        Place::Gone(why) => return Finish::Early(Outcome::Lost(why)),
                        // No answer in time, but the socket is open: a busy or frozen
                        // backend. Its health probes decide (the `lost` flag above).
                        Place::Unreachable(_) => {}
                    }
                }
            }
            Err(e) => {
                // The socket dropped: a dead backend, or just the connection?
                match where_is(a) {
                    Place::Finished(_) => return Finish::Ended,
                    Place::Gone(_) if cancel_sent.is_some() => {
                        return Finish::Early(Outcome::Cancelled);
                    }
                    // The socket closed and the backend does not answer: dead.
                    Place::Gone(why) | Place::Unreachable(why) => {
                        return Finish::Early(Outcome::Lost(format!("{e}; {why}")));
                    }
                    Place::Queued if reconnects < MAX_RECONNECTS => {
                        reconnects += 1;
                        match Events::connect(a.client.url(), &a.prompt_id, TICK) {
                            Ok(ev) => *events = ev,
                            Err(e) => return Finish::Early(Outcome::Lost(e.to_string())),
                        }
                    }
                    Place::Queued => {
                        return Finish::Early(Outcome::Lost(format!(
                            "the event stream of {} keeps dropping: {e}",
                            a.client.url()
                        )));
                    }
                }
            }
        }
    }
}

/// `/history` right after `executing: null` (written just before it; retried briefly).
fn history_after_end(a: &Attempt) -> Result<HistoryEntry, Outcome> {
    for i in 0..10 {
        match a.client.history(&a.prompt_id) {
            Ok(Some(h)) if !matches!(h.outcome, ComfyOutcome::Unfinished) => return Ok(h),
            Ok(_) => std::thread::sleep(Duration::from_millis(50 * (i + 1))),
            Err(e) if e.is_unreachable() => return Err(Outcome::Lost(e.to_string())),
            Err(e) => return Err(Outcome::Failed(e.to_string())),
        }
    }
    Err(Outcome::Lost(format!(
        "{} finished prompt {} but has no history for it",
        a.client.url(),
        a.prompt_id
    )))
}

fn finish(farm: &Farm, a: &Attempt, h: HistoryEntry) -> Outcome {
    match h.outcome {
        ComfyOutcome::Success => match fetch_outputs(farm, a, &h) {
            Ok(rows) => Outcome::Succeeded(rows),
            Err(o) => o,
        },
        ComfyOutcome::Error {
            node_id,
            node_type,
            message,
        } => Outcome::Failed(format!(
            "node {} ({}): {message}",
            node_id.as_deref().unwrap_or("?"),
            node_type.as_deref().unwrap_or("?")
        )),
        ComfyOutcome::Interrupted if a.cancel.load(Ordering::SeqCst) => Outcome::Cancelled,
        ComfyOutcome::Interrupted => {
            Outcome::Failed("interrupted on the backend by someone else".into())
        }
        ComfyOutcome::Unfinished => Outcome::Lost("the prompt did not finish".into()),
    }
}

/// Copy every output into `outputs/<job>/` and write the JSON sidecar.
fn fetch_outputs(farm: &Farm, a: &Attempt, h: &HistoryEntry) -> Result<Vec<OutputRow>, Outcome> {
    let rel_dir = format!("outputs/{}", a.job.id);
    let dir = farm.data_dir().join(&rel_dir);
    let io = |what: &str, p: &Path, e: std::io::Error| {
        Outcome::Failed(format!("cannot write {what} {}: {e}", p.display()))
    };
    fs::create_dir_all(&dir).map_err(|e| io("the folder", &dir, e))?;
    let mut rows = Vec::new();
    for item in &h.outputs {
        let name = stored_name(&dir, item);
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.part"));
        let mut file = fs::File::create(&tmp).map_err(|e| io("the output", &tmp, e))?;
        let (bytes, mime) = match a.client.download(item, &mut file) {
            Ok(r) => r,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(if e.is_unreachable() {
                    Outcome::Lost(e.to_string())
                } else {
                    Outcome::Failed(e.to_string())
                });
            }
        };
        file.flush().map_err(|e| io("the output", &tmp, e))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| io("the output", &path, e))?;
        rows.push(OutputRow {
            job: a.job.id,
            node: item.node.clone(),
            kind: item.kind.clone(),
            filename: item.filename.clone(),
            subfolder: item.subfolder.clone(),
            file_type: item.file_type.clone(),
            path: Some(format!("{rel_dir}/{name}")),
            bytes: bytes as i64,
            mime,
            text: None,
        });
    }
    for (node, text) in &h.texts {
        rows.push(OutputRow {
            job: a.job.id,
            node: node.clone(),
            kind: "text".into(),
            filename: String::new(),
            subfolder: String::new(),
            file_type: String::new(),
            path: None,
            bytes: text.len() as i64,
            mime: Some("text/plain".into()),
            text: Some(text.clone()),
        });
    }
    let sidecar = json!({
        "job": a.job.id,
        "batch": a.job.batch,
        "name": a.job.name,
        "params": a.job.params,
        "workflow": a.job.workflow,
        "targets": a.job.targets,
        "backend": { "name": a.backend, "url": a.client.url() },
        "prompt_id": a.prompt_id,
        "attempt": a.number,
        "created_ms": a.job.created_ms,
        "started_ms": a.job.started_ms,
        "finished_ms": crate::engine::now_ms(),
        "outputs": rows,
    });
    let side = dir.join("job.json");
    let text = serde_json::to_vec_pretty(&sidecar).unwrap_or_default();
    fs::write(&side, text).map_err(|e| io("the sidecar", &side, e))?;
    Ok(rows)
}

/// `<node>_<file name>`, made safe and unique in the job's folder.
fn stored_name(dir: &Path, item: &OutputItem) -> String {
    let clean: String = item
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let node: String = item
        .node
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let base = format!("{node}_{}", clean.trim_start_matches('.'));
    let mut name = base.clone();
    let mut n = 1;
    while dir.join(&name).exists() || name == "job.json" {
        name = format!("{n}_{base}");
        n += 1;
    }
    name
}
