//! The rows the store takes and gives back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use visualpath_farm::job::{AttemptState, JobState};

/// A job's id: increasing, never reused (newer jobs have larger ids).
pub type JobId = i64;
/// A batch's id (a sweep's jobs share one).
pub type BatchId = i64;
/// An attempt's id: one run of a job on one backend.
pub type AttemptId = i64;

/// A job to submit. It starts `queued`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    pub name: Option<String>,
    /// Higher runs first; equal priorities run in submission order.
    pub priority: i64,
    /// The patched workflow, API format (a JSON object of nodes).
    pub workflow: Value,
    /// The parameter values patched in (kept for display and retries).
    pub params: Value,
    /// Output node ids to run; all outputs when `None`.
    pub targets: Option<Vec<String>>,
    /// Tags a backend must all have.
    pub tags: Vec<String>,
    /// The backend pool to run in; any pool when `None`.
    pub pool: Option<String>,
    /// Extra attempts after a failure or a lost backend.
    pub max_retries: u32,
    /// What the workflow needs of a backend (opaque to the store).
    pub requirements: Value,
    /// The execution plan (opaque to the store).
    pub plan: Value,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: JobId,
    pub batch: Option<BatchId>,
    pub name: Option<String>,
    pub state: JobState,
    pub priority: i64,
    pub workflow: Value,
    pub params: Value,
    pub targets: Option<Vec<String>>,
    pub tags: Vec<String>,
    pub pool: Option<String>,
    pub max_retries: u32,
    /// Attempts started so far (equals the number of rows `Store::attempts` returns).
    pub attempts: u32,
    /// Backends this job must not go to again (added by `requeue`, cleared by `retry`).
    pub excluded: Vec<String>,
    pub requirements: Value,
    pub plan: Value,
    /// The backend of the current or last attempt.
    pub backend: Option<String>,
    /// ComfyUI's prompt id of the current or last attempt.
    pub prompt_id: Option<String>,
    /// Why the job failed (or was last requeued); cleared on success and by `retry`.
    pub error: Option<String>,
    pub created_ms: i64,
    /// When the current or last attempt started.
    pub started_ms: Option<i64>,
    /// When the job reached a final state; `None` while queued or running.
    pub finished_ms: Option<i64>,
}

/// One run of a job on one backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRow {
    pub id: AttemptId,
    pub job: JobId,
    pub backend: String,
    pub prompt_id: String,
    pub client_id: String,
    pub state: AttemptState,
    pub error: Option<String>,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
}

/// One file (or text) a job produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputRow {
    pub job: JobId,
    /// The output node's id.
    pub node: String,
    /// ComfyUI's output key: "images", "gifs", "audio", "text", ...
    pub kind: String,
    pub filename: String,
    pub subfolder: String,
    /// "output" or "temp".
    pub file_type: String,
    /// Where we stored it, relative to the data dir; `None` if not downloaded.
    pub path: Option<String>,
    pub bytes: i64,
    pub mime: Option<String>,
    /// Text outputs themselves.
    pub text: Option<String>,
}

/// A ComfyUI server the farm sends jobs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendRow {
    /// Unique; attempts refer to backends by name.
    pub name: String,
    pub url: String,
    pub tags: Vec<String>,
    pub pool: Option<String>,
    pub weight: f64,
    pub max_concurrent: u32,
    /// When it was first added (an update keeps the first value).
    pub added_ms: i64,
}

/// A group of jobs submitted together (a sweep).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRow {
    pub id: BatchId,
    pub name: Option<String>,
    pub created_ms: i64,
    /// Jobs per state; every state is present (0 when none).
    pub counts: BTreeMap<JobState, u64>,
}

/// Which jobs `Store::jobs` lists, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFilter {
    /// Only these states; empty = all.
    pub states: Vec<JobState>,
    /// Only this batch's jobs.
    pub batch: Option<BatchId>,
    /// At most this many (0 returns nothing).
    pub limit: usize,
    /// Only jobs older than this id: pass the last id of a page to get the next page.
    pub before: Option<JobId>,
}

impl Default for JobFilter {
    /// All states, all batches, the newest 50.
    fn default() -> Self {
        JobFilter {
            states: Vec::new(),
            batch: None,
            limit: 50,
            before: None,
        }
    }
}
