//! The store's errors: one line each, naming the file, job, attempt or backend.

use std::path::PathBuf;

use visualpath_farm::job::{AttemptState, JobState};

use crate::rows::{AttemptId, JobId};

/// What went wrong in a store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder that should hold the database file could not be created.
    #[error("cannot create the store folder {}: {source}", .dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file could not be opened or configured (not a database, no permission, ...).
    #[error("cannot open the store {}: {source}", .file.display())]
    Open {
        file: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The file cannot use write-ahead logging (e.g. a network file system).
    #[error("store {} cannot use WAL journaling (SQLite chose `{mode}`); put it on a local disk", .file.display())]
    Wal { file: PathBuf, mode: String },
    /// The file was written by a newer build (its schema version is above ours).
    #[error("store {} has schema version {found}, newer than this build's {supported}; use a newer visualpath or another file", .file.display())]
    NewerSchema {
        file: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The file's schema version is negative: not written by the store.
    #[error("store {} has an invalid schema version {found} (valid: 0 to {supported})", .file.display())]
    BadSchema {
        file: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A migration failed; the file is left at its old version (migrations are transactional).
    #[error("cannot migrate the store {} from schema version {from} to {to}: {source}", .file.display())]
    Migrate {
        file: PathBuf,
        from: i64,
        to: i64,
        #[source]
        source: rusqlite::Error,
    },
    /// No job has this id.
    #[error("no job {0}")]
    NoJob(JobId),
    /// No attempt has this id.
    #[error("no attempt {0}")]
    NoAttempt(AttemptId),
    /// The job is not in a state the change applies to, e.g. "job 12 is succeeded, not queued".
    #[error("job {job} is {state}, not {wanted}")]
    State {
        job: JobId,
        state: JobState,
        wanted: &'static str,
    },
    /// The attempt already ended; only a running attempt can finish.
    #[error("attempt {attempt} of job {job} is {}, not running", .state.as_str())]
    AttemptState {
        attempt: AttemptId,
        job: JobId,
        state: AttemptState,
    },
    /// `finish_attempt` was asked to finish an attempt as `running`.
    #[error(
        "attempt {attempt} cannot finish as running (valid: succeeded, failed, lost, cancelled)"
    )]
    FinishAsRunning { attempt: AttemptId },
    /// The job was requeued away from this backend and must not go back to it.
    #[error(
        "job {job} must not run on backend `{backend}` again (excluded after an earlier attempt; `retry` clears exclusions)"
    )]
    Excluded { job: JobId, backend: String },
    /// `submit` was given no jobs.
    #[error("submission has no jobs (give at least one)")]
    EmptySubmission,
    /// One job of a submission is invalid; nothing of the submission was stored.
    #[error("submitted job #{index} (0-based): {reason}; nothing was stored")]
    InvalidJob { index: usize, reason: String },
    /// One output handed to `complete` is invalid; the job was left running.
    #[error("output #{index} (0-based) of job {job}: {reason}")]
    InvalidOutput {
        job: JobId,
        index: usize,
        reason: String,
    },
    /// A backend row is invalid.
    #[error("backend `{name}`: {reason}")]
    InvalidBackend { name: String, reason: String },
    /// A stored value cannot be read back (the file was edited by hand or is damaged).
    #[error("stored {row} has an invalid `{column}`: {reason}")]
    Corrupt {
        row: String,
        column: &'static str,
        reason: String,
    },
    /// SQLite refused an operation (disk full, file locked for too long, I/O error, ...).
    #[error("{}: {source}", .what.as_deref().unwrap_or("store"))]
    Db {
        /// The call that failed, e.g. "complete job 12".
        what: Option<String>,
        #[source]
        source: rusqlite::Error,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(source: rusqlite::Error) -> Self {
        StoreError::Db { what: None, source }
    }
}

impl StoreError {
    /// Names the call a database error happened in (other errors already name their job).
    pub(crate) fn within(self, what: impl FnOnce() -> String) -> Self {
        match self {
            StoreError::Db { what: None, source } => StoreError::Db {
                what: Some(what()),
                source,
            },
            other => other,
        }
    }
}
