//! What the API returns and what the WebSocket pushes (see docs/ref/farm.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use visualpath_farm::job::JobState;
use visualpath_farm_store::{AttemptRow, JobRow, OutputRow};

/// A running job's progress: nodes finished out of the nodes the run executes (from
/// ComfyUI's `executing` and `execution_cached` messages), and the current node's own
/// steps when it reports them (samplers send `progress` with value = step, max = steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The node running now.
    pub node: Option<String>,
    /// Nodes finished (cached ones included).
    pub value: u64,
    /// Nodes the run executes.
    pub max: u64,
    /// The current node's step and steps, when it reports them.
    pub step: Option<u64>,
    pub steps: Option<u64>,
}

/// One output of a finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputView {
    pub node: String,
    pub kind: String,
    pub filename: String,
    /// Where to fetch the stored file; None for text outputs.
    pub url: Option<String>,
    pub mime: Option<String>,
    pub bytes: i64,
    pub text: Option<String>,
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: i64,
    pub batch: Option<i64>,
    pub name: Option<String>,
    pub state: JobState,
    pub priority: i64,
    pub backend: Option<String>,
    pub prompt_id: Option<String>,
    pub attempts: u32,
    pub max_retries: u32,
    pub error: Option<String>,
    pub params: Value,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub progress: Option<Progress>,
    pub preview: Option<String>,
    /// Why a queued job is waiting, when no backend could take it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub waiting: Option<String>,
    pub outputs: Vec<OutputView>,
    /// Only in single-job answers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<JobDetail>,
}

/// The parts of a job only `GET /api/farm/jobs/{id}` includes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    pub workflow: Value,
    pub plan: Value,
    pub targets: Option<Vec<String>>,
    pub tags: Vec<String>,
    pub pool: Option<String>,
    pub excluded: Vec<String>,
    pub attempts: Vec<AttemptRow>,
}

impl JobView {
    pub(crate) fn new(row: &JobRow, outputs: &[OutputRow]) -> JobView {
        JobView {
            id: row.id,
            batch: row.batch,
            name: row.name.clone(),
            state: row.state,
            priority: row.priority,
            backend: row.backend.clone(),
            prompt_id: row.prompt_id.clone(),
            attempts: row.attempts,
            max_retries: row.max_retries,
            error: row.error.clone(),
            params: row.params.clone(),
            created_ms: row.created_ms,
            started_ms: row.started_ms,
            finished_ms: row.finished_ms,
            progress: None,
            preview: None,
            waiting: None,
            outputs: outputs
                .iter()
                .map(|o| OutputView {
                    node: o.node.clone(),
                    kind: o.kind.clone(),
                    filename: o.filename.clone(),
                    url: o.path.as_ref().and_then(|p| {
                        let file = p.rsplit('/').next()?;
                        Some(format!("/api/farm/outputs/{}/{}", row.id, file))
                    }),
                    mime: o.mime.clone(),
                    bytes: o.bytes,
                    text: o.text.clone(),
                })
                .collect(),
            detail: None,
        }
    }
}

/// A GPU (or CPU) device a backend reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub vram_total: u64,
    pub vram_free: u64,
}

/// A backend as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendView {
    pub name: String,
    pub url: String,
    pub tags: Vec<String>,
    pub pool: Option<String>,
    pub weight: f64,
    pub max_concurrent: u32,
    pub health: String,
    /// Our jobs on it.
    pub running: u32,
    /// Its own queue length (ours and others').
    pub queue_remaining: u32,
    pub last_error: Option<String>,
    pub comfyui_version: Option<String>,
    /// Node classes in its catalogue (0 until reported).
    pub classes: usize,
    /// Model files per folder it reported (checkpoints, loras, ...).
    pub models: BTreeMap<String, usize>,
    pub ram_total: Option<u64>,
    pub ram_free: Option<u64>,
    pub devices: Vec<DeviceView>,
}

/// What the WebSocket pushes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FarmEvent {
    Job {
        job: Box<JobView>,
    },
    Progress {
        job: i64,
        #[serde(flatten)]
        progress: Progress,
    },
    Preview {
        job: i64,
        url: String,
    },
    Backend {
        backend: Box<BackendView>,
    },
}
