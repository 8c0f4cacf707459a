//! Job states and submissions.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a job is in its life.
///
/// `queued -> running -> succeeded | failed | cancelled`; a running job whose backend died
/// or failed goes back to `queued` (another attempt) until its retry limit; `retry` puts a
/// failed or cancelled job back to `queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Succeeded, failed or cancelled: nothing more happens unless someone retries it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown job state `{s}` (valid: queued, running, succeeded, failed, cancelled)"
                )
            })
    }
}

/// How an attempt (one run of a job on one backend) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    Running,
    Succeeded,
    /// The workflow failed on the backend (an `execution_error`, a rejected prompt).
    Failed,
    /// The backend died or stopped answering mid-job.
    Lost,
    /// Interrupted on our request (cancel).
    Cancelled,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Running => "running",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::Lost => "lost",
            AttemptState::Cancelled => "cancelled",
        }
    }
}

impl FromStr for AttemptState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            AttemptState::Running,
            AttemptState::Succeeded,
            AttemptState::Failed,
            AttemptState::Lost,
            AttemptState::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| format!("unknown attempt state `{s}`"))
    }
}

/// Default number of extra attempts after the first one fails or its backend dies.
pub const DEFAULT_MAX_RETRIES: u32 = 2;

/// What a client submits: a workflow plus parameters, or a sweep of parameter sets
/// (one job each, grouped in a batch).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// The ComfyUI workflow, API format (or UI format, converted with the catalogue).
    pub workflow: Value,
    /// `{placeholder}` values.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// One job per parameter set, merged over `params`.
    #[serde(default)]
    pub sweep: Option<crate::sweep::Sweep>,
    /// Higher runs first; equal priorities run in submission order.
    #[serde(default)]
    pub priority: i64,
    /// Output node ids to run (ComfyUI's `partial_execution_targets`); all outputs when absent.
    #[serde(default)]
    pub outputs: Option<Vec<String>>,
    /// Tags a backend must all have.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The backend pool to run in; any pool when absent.
    #[serde(default)]
    pub pool: Option<String>,
    /// Extra attempts after a failure or a lost backend.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// A name for the job (or the batch of a sweep).
    #[serde(default)]
    pub name: Option<String>,
}

fn default_retries() -> u32 {
    DEFAULT_MAX_RETRIES
}
