//! Every statement the store runs, in one place, so a test can check each one's query plan
//! (no full scans of `jobs`, `attempts` or `outputs`).
//!
//! Statements that must walk a particular index name it (`INDEXED BY`): SQLite then fails
//! to prepare them rather than silently scanning, should the schema ever lose the index.

/// The `jobs` columns `codec::job_from_row` reads, in its order.
macro_rules! job_cols {
    () => {
        "id, batch, name, state, priority, workflow, params, targets, tags, pool, max_retries, \
         attempts, excluded, requirements, plan, backend, prompt_id, error, created_ms, \
         started_ms, finished_ms"
    };
}

/// The `attempts` columns `codec::attempt_from_row` reads, in its order.
macro_rules! attempt_cols {
    () => {
        "id, job, backend, prompt_id, client_id, state, error, started_ms, finished_ms"
    };
}

// ---- jobs: reads ----

pub(crate) const JOB_BY_ID: &str = concat!("SELECT ", job_cols!(), " FROM jobs WHERE id = ?1");

pub(crate) const JOB_STATE: &str = "SELECT state FROM jobs WHERE id = ?1";

pub(crate) const JOB_EXCLUDED: &str = "SELECT excluded FROM jobs WHERE id = ?1";

pub(crate) const JOB_EXISTS: &str = "SELECT 1 FROM jobs WHERE id = ?1";

/// Newest first, any state: walks the table backwards from `?1`.
pub(crate) const JOBS_NEWEST: &str = concat!(
    "SELECT ",
    job_cols!(),
    " FROM jobs WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
);

/// Newest first in one state.
pub(crate) const JOBS_BY_STATE: &str = concat!(
    "SELECT ",
    job_cols!(),
    " FROM jobs INDEXED BY jobs_state WHERE state = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
);

/// Newest first in one batch and one state.
pub(crate) const JOBS_BY_BATCH_STATE: &str = concat!(
    "SELECT ",
    job_cols!(),
    " FROM jobs INDEXED BY jobs_batch \
     WHERE batch = ?1 AND state = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4"
);

/// The queue in scheduling order.
pub(crate) const QUEUED_HEAD: &str = concat!(
    "SELECT ",
    job_cols!(),
    " FROM jobs INDEXED BY jobs_queue WHERE state = 'queued' \
     ORDER BY priority DESC, id ASC LIMIT ?1"
);

pub(crate) const RUNNING_JOBS: &str = concat!(
    "SELECT ",
    job_cols!(),
    " FROM jobs INDEXED BY jobs_state WHERE state = 'running' ORDER BY id"
);

// ---- jobs: writes ----

pub(crate) const INSERT_BATCH: &str = "INSERT INTO batches (name, created_ms) VALUES (?1, ?2)";

pub(crate) const INSERT_JOB: &str = "INSERT INTO jobs (batch, name, state, priority, workflow, \
     params, targets, tags, pool, max_retries, requirements, plan, created_ms) \
     VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

pub(crate) const START_JOB: &str = "UPDATE jobs SET state = 'running', attempts = attempts + 1, \
     backend = ?2, prompt_id = ?3, started_ms = ?4, finished_ms = NULL WHERE id = ?1";

pub(crate) const SUCCEED_JOB: &str =
    "UPDATE jobs SET state = 'succeeded', error = NULL, finished_ms = ?2 WHERE id = ?1";

pub(crate) const FAIL_JOB: &str =
    "UPDATE jobs SET state = 'failed', error = ?2, finished_ms = ?3 WHERE id = ?1";

pub(crate) const REQUEUE_JOB: &str = "UPDATE jobs SET state = 'queued', excluded = ?2, \
     error = COALESCE(?3, error), finished_ms = NULL WHERE id = ?1";

pub(crate) const CANCEL_JOB: &str =
    "UPDATE jobs SET state = 'cancelled', finished_ms = ?2 WHERE id = ?1";

pub(crate) const RETRY_JOB: &str = "UPDATE jobs SET state = 'queued', error = NULL, \
     excluded = '[]', finished_ms = NULL WHERE id = ?1";

pub(crate) const SET_PRIORITY: &str = "UPDATE jobs SET priority = ?2 WHERE id = ?1";

// ---- attempts ----

pub(crate) const INSERT_ATTEMPT: &str = "INSERT INTO attempts \
     (job, backend, prompt_id, client_id, state, started_ms) \
     VALUES (?1, ?2, ?3, ?4, 'running', ?5)";

pub(crate) const ATTEMPT_JOB_STATE: &str = "SELECT job, state FROM attempts WHERE id = ?1";

pub(crate) const FINISH_ATTEMPT: &str =
    "UPDATE attempts SET state = ?2, error = ?3, finished_ms = ?4 WHERE id = ?1";

/// Closes a job's open attempts; `?4` may be NULL (no end time known).
pub(crate) const CLOSE_OPEN_ATTEMPTS: &str = "UPDATE attempts \
     SET state = ?2, error = COALESCE(error, ?3), finished_ms = ?4 \
     WHERE job = ?1 AND state = 'running'";

pub(crate) const ATTEMPTS_OF_JOB: &str = concat!(
    "SELECT ",
    attempt_cols!(),
    " FROM attempts WHERE job = ?1 ORDER BY id"
);

pub(crate) const LATEST_ATTEMPT: &str = concat!(
    "SELECT ",
    attempt_cols!(),
    " FROM attempts WHERE job = ?1 ORDER BY id DESC LIMIT 1"
);

// ---- outputs ----

pub(crate) const INSERT_OUTPUT: &str = "INSERT INTO outputs \
     (job, node, kind, filename, subfolder, file_type, path, bytes, mime, text) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Columns in `codec::output_from_row`'s order.
pub(crate) const OUTPUTS_OF_JOB: &str = "SELECT job, node, kind, filename, subfolder, \
     file_type, path, bytes, mime, text FROM outputs WHERE job = ?1 ORDER BY id";

// ---- batches and counts ----

pub(crate) const BATCH_BY_ID: &str = "SELECT id, name, created_ms FROM batches WHERE id = ?1";

pub(crate) const BATCHES_NEWEST: &str =
    "SELECT id, name, created_ms FROM batches ORDER BY id DESC LIMIT ?1";

/// Jobs per state of a batch (0: all jobs).
pub(crate) const COUNTS: &str = "SELECT state, n FROM job_counts WHERE batch = ?1";

// ---- backends ----

pub(crate) const UPSERT_BACKEND: &str = "INSERT INTO backends \
     (name, url, tags, pool, weight, max_concurrent, added_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
     ON CONFLICT (name) DO UPDATE SET url = excluded.url, tags = excluded.tags, \
     pool = excluded.pool, weight = excluded.weight, max_concurrent = excluded.max_concurrent";

pub(crate) const DELETE_BACKEND: &str = "DELETE FROM backends WHERE name = ?1";

/// Columns in `codec::backend_from_row`'s order.
pub(crate) const BACKENDS: &str = "SELECT name, url, tags, pool, weight, max_concurrent, \
     added_ms FROM backends ORDER BY name";

/// Every statement above, named, for the query-plan test.
#[cfg(test)]
pub(crate) const ALL: &[(&str, &str)] = &[
    ("JOB_BY_ID", JOB_BY_ID),
    ("JOB_STATE", JOB_STATE),
    ("JOB_EXCLUDED", JOB_EXCLUDED),
    ("JOB_EXISTS", JOB_EXISTS),
    ("JOBS_NEWEST", JOBS_NEWEST),
    ("JOBS_BY_STATE", JOBS_BY_STATE),
    ("JOBS_BY_BATCH_STATE", JOBS_BY_BATCH_STATE),
    ("QUEUED_HEAD", QUEUED_HEAD),
    ("RUNNING_JOBS", RUNNING_JOBS),
    ("INSERT_BATCH", INSERT_BATCH),
    ("INSERT_JOB", INSERT_JOB),
    ("START_JOB", START_JOB),
    ("SUCCEED_JOB", SUCCEED_JOB),
    ("FAIL_JOB", FAIL_JOB),
    ("REQUEUE_JOB", REQUEUE_JOB),
    ("CANCEL_JOB", CANCEL_JOB),
    ("RETRY_JOB", RETRY_JOB),
    ("SET_PRIORITY", SET_PRIORITY),
    ("INSERT_ATTEMPT", INSERT_ATTEMPT),
    ("ATTEMPT_JOB_STATE", ATTEMPT_JOB_STATE),
    ("FINISH_ATTEMPT", FINISH_ATTEMPT),
    ("CLOSE_OPEN_ATTEMPTS", CLOSE_OPEN_ATTEMPTS),
    ("ATTEMPTS_OF_JOB", ATTEMPTS_OF_JOB),
    ("LATEST_ATTEMPT", LATEST_ATTEMPT),
    ("INSERT_OUTPUT", INSERT_OUTPUT),
    ("OUTPUTS_OF_JOB", OUTPUTS_OF_JOB),
    ("BATCH_BY_ID", BATCH_BY_ID),
    ("BATCHES_NEWEST", BATCHES_NEWEST),
    ("COUNTS", COUNTS),
    ("UPSERT_BACKEND", UPSERT_BACKEND),
    ("DELETE_BACKEND", DELETE_BACKEND),
    ("BACKENDS", BACKENDS),
];
