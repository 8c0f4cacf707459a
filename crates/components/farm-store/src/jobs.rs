//! Submitting jobs and reading them back (jobs, queue, batches, attempts, outputs).

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Params, Row, Transaction, params};
use serde_json::Value;
use visualpath_farm::job::JobState;

use crate::codec::{attempt_from_row, job_from_row, output_from_row, parse_job_state, to_json};
use crate::error::StoreError;
use crate::rows::{AttemptRow, BatchId, BatchRow, JobFilter, JobId, JobRow, NewJob, OutputRow};
use crate::sql;
use crate::store::Store;

/// SQL `LIMIT` for a `usize` (anything past `i64::MAX` is "no limit" anyway).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Every state with 0, so callers and UIs always see all five.
fn zero_counts() -> BTreeMap<JobState, u64> {
    JobState::ALL.into_iter().map(|s| (s, 0)).collect()
}

/// Checks one submitted job; `index` is its place in the submission.
fn check_job(index: usize, job: &NewJob) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidJob { index, reason };
    if !job.workflow.is_object() {
        let got = match &job.workflow {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        return Err(invalid(format!(
            "workflow must be a JSON object of nodes (API format), got {got}"
        )));
    }
    if let Some(i) = job.tags.iter().position(String::is_empty) {
        return Err(invalid(format!("tag #{i} is empty (tags must be names)")));
    }
    if job.pool.as_deref() == Some("") {
        return Err(invalid("pool is empty (give a name or none)".into()));
    }
    Ok(())
}

/// JSON text for a column of submitted job `index`.
fn encode<T: serde::Serialize + ?Sized>(index: usize, value: &T) -> Result<String, StoreError> {
    to_json(value).map_err(|reason| StoreError::InvalidJob { index, reason })
}

/// Runs a cached statement and converts each row with `convert`.
pub(crate) fn query_rows<T>(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl Params,
    convert: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = tx.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(convert(row)?);
    }
    Ok(out)
}

/// Jobs per state for `batch` (0: all jobs), from the trigger-kept counters.
fn counts_of(tx: &Transaction<'_>, batch: BatchId) -> Result<BTreeMap<JobState, u64>, StoreError> {
    let mut counts = zero_counts();
    let rows = query_rows(tx, sql::COUNTS, [batch], |row| {
        let state: String = row.get(0)?;
        let n: i64 = row.get(1)?;
        Ok((state, n))
    })?;
    for (state, n) in rows {
        let corrupt = |reason: String| StoreError::Corrupt {
            row: format!("count of batch {batch}"),
            column: "state",
            reason,
        };
        let state: JobState = state.parse().map_err(corrupt)?;
        let n = u64::try_from(n).map_err(|_| corrupt(format!("count {n} is negative")))?;
        counts.insert(state, n);
    }
    Ok(counts)
}

/// Fails with [`StoreError::NoJob`] unless `job` exists.
fn require_job(tx: &Transaction<'_>, job: JobId) -> Result<(), StoreError> {
    let found = tx
        .prepare_cached(sql::JOB_EXISTS)?
        .query_row([job], |_| Ok(()))
        .optional()?;
    found.ok_or(StoreError::NoJob(job))
}

/// A job's current state, or [`StoreError::NoJob`].
pub(crate) fn job_state(tx: &Transaction<'_>, job: JobId) -> Result<JobState, StoreError> {
    let state: Option<String> = tx
        .prepare_cached(sql::JOB_STATE)?
        .query_row([job], |r| r.get(0))
        .optional()?;
    let state = state.ok_or(StoreError::NoJob(job))?;
    parse_job_state(job, &state)
}

/// Batches as `sql` selects them (one parameter), with their counts.
fn read_batches(tx: &Transaction<'_>, sql: &str, arg: i64) -> Result<Vec<BatchRow>, StoreError> {
    let heads = query_rows(tx, sql, [arg], |row| {
        let id: BatchId = row.get(0)?;
        let name: Option<String> = row.get(1)?;
        let created_ms: i64 = row.get(2)?;
        Ok((id, name, created_ms))
    })?;
    heads
        .into_iter()
        .map(|(id, name, created_ms)| {
            Ok(BatchRow {
                id,
                name,
                created_ms,
                counts: counts_of(tx, id)?,
            })
        })
        .collect()
}

impl Store {
    /// Stores `jobs` as queued, in order (their ids increase in that order). `batch`:
    /// `Some(name)` first creates a batch (named or not) holding them all; `None` submits
    /// loose jobs. All or nothing: one invalid job (its workflow not a JSON object, an
    /// empty tag or pool name) stores none of them and no batch.
    pub fn submit(
        &self,
        jobs: &[NewJob],
        batch: Option<Option<&str>>,
        now_ms: i64,
    ) -> Result<(Option<BatchId>, Vec<JobId>), StoreError> {
        if jobs.is_empty() {
            return Err(StoreError::EmptySubmission);
        }
        self.write(
            || format!("submit {} job(s)", jobs.len()),
            |tx| {
                let batch_id = match batch {
                    None => None,
                    Some(name) => {
                        tx.prepare_cached(sql::INSERT_BATCH)?
                            .execute(params![name, now_ms])?;
                        Some(tx.last_insert_rowid())
                    }
                };
                let mut insert = tx.prepare_cached(sql::INSERT_JOB)?;
                let mut ids = Vec::with_capacity(jobs.len());
                for (index, job) in jobs.iter().enumerate() {
                    // Checked inside the transaction: an invalid job rolls back the ones
                    // already inserted.
                    check_job(index, job)?;
                    let targets = match &job.targets {
                        Some(t) => Some(encode(index, t)?),
                        None => None,
                    };
                    insert.execute(params![
                        batch_id,
                        job.name,
                        job.priority,
                        encode(index, &job.workflow)?,
                        encode(index, &job.params)?,
                        targets,
                        encode(index, &job.tags)?,
                        job.pool,
                        i64::from(job.max_retries),
                        encode(index, &job.requirements)?,
                        encode(index, &job.plan)?,
                        now_ms,
                    ])?;
                    ids.push(tx.last_insert_rowid());
                }
                Ok((batch_id, ids))
            },
        )
    }

    /// One job, `None` if no job has this id.
    pub fn job(&self, id: JobId) -> Result<Option<JobRow>, StoreError> {
        self.read(
            || format!("read job {id}"),
            |tx| Ok(query_rows(tx, sql::JOB_BY_ID, [id], job_from_row)?.pop()),
        )
    }

    /// Jobs matching `f`, newest first. Page with `before: Some(last id of the page)`.
    ///
    /// With states or a batch, each state is one index walk of at most `limit` rows and the
    /// walks are merged, so no query sorts or scans a whole state.
    pub fn jobs(&self, f: &JobFilter) -> Result<Vec<JobRow>, StoreError> {
        if f.limit == 0 {
            return Ok(Vec::new());
        }
        let before = f.before.unwrap_or(i64::MAX);
        let limit = sql_limit(f.limit);
        let mut states = if f.states.is_empty() && f.batch.is_some() {
            JobState::ALL.to_vec()
        } else {
            f.states.clone()
        };
        states.sort();
        states.dedup();
        self.read(
            || "list jobs".to_string(),
            |tx| {
                if states.is_empty() {
                    return query_rows(tx, sql::JOBS_NEWEST, params![before, limit], job_from_row);
                }
                let mut all = Vec::new();
                for state in &states {
                    let state = state.as_str();
                    all.extend(match f.batch {
                        Some(batch) => query_rows(
                            tx,
                            sql::JOBS_BY_BATCH_STATE,
                            params![batch, state, before, limit],
                            job_from_row,
                        )?,
                        None => query_rows(
                            tx,
                            sql::JOBS_BY_STATE,
                            params![state, before, limit],
                            job_from_row,
                        )?,
                    });
                }
                all.sort_by_key(|j| std::cmp::Reverse(j.id));
                all.truncate(f.limit);
                Ok(all)
            },
        )
    }

    /// Every queued job in scheduling order: priority high to low, then oldest first.
    pub fn queued(&self) -> Result<Vec<JobRow>, StoreError> {
        self.queued_head(usize::MAX)
    }

    /// The first `limit` jobs of [`Store::queued`]: what a scheduler looks at. An index
    /// walk of `limit` rows: its cost does not grow with the number of stored jobs.
    pub fn queued_head(&self, limit: usize) -> Result<Vec<JobRow>, StoreError> {
        self.read(
            || "read the queue".to_string(),
            |tx| query_rows(tx, sql::QUEUED_HEAD, [sql_limit(limit)], job_from_row),
        )
    }

    /// Running jobs (oldest first) with their open attempt: the latest one, which is
    /// `running` unless the process stopped between `finish_attempt` and
    /// `complete`/`fail`/`requeue` (after a restart, check its state).
    pub fn running(&self) -> Result<Vec<(JobRow, AttemptRow)>, StoreError> {
        self.read(
            || "read running jobs".to_string(),
            |tx| {
                let jobs = query_rows(tx, sql::RUNNING_JOBS, [], job_from_row)?;
                let mut out = Vec::with_capacity(jobs.len());
                for job in jobs {
                    let attempt = query_rows(tx, sql::LATEST_ATTEMPT, [job.id], attempt_from_row)?
                        .pop()
                        .ok_or_else(|| StoreError::Corrupt {
                            row: format!("job {}", job.id),
                            column: "state",
                            reason: "running without any attempt".into(),
                        })?;
                    out.push((job, attempt));
                }
                Ok(out)
            },
        )
    }

    /// Jobs per state (every state present), read from counters, not by counting rows.
    pub fn counts(&self) -> Result<BTreeMap<JobState, u64>, StoreError> {
        self.read(|| "count jobs".to_string(), |tx| counts_of(tx, 0))
    }

    /// What a job produced, in the order `complete` got it. [`StoreError::NoJob`] for an
    /// unknown job.
    pub fn outputs(&self, job: JobId) -> Result<Vec<OutputRow>, StoreError> {
        self.read(
            || format!("read outputs of job {job}"),
            |tx| {
                require_job(tx, job)?;
                query_rows(tx, sql::OUTPUTS_OF_JOB, [job], output_from_row)
            },
        )
    }

    /// A job's attempts, oldest first (kept across `retry`). [`StoreError::NoJob`] for an
    /// unknown job.
    pub fn attempts(&self, job: JobId) -> Result<Vec<AttemptRow>, StoreError> {
        self.read(
            || format!("read attempts of job {job}"),
            |tx| {
                require_job(tx, job)?;
                query_rows(tx, sql::ATTEMPTS_OF_JOB, [job], attempt_from_row)
            },
        )
    }

    /// One batch with its jobs per state (every state present), `None` if unknown.
    pub fn batch(&self, id: BatchId) -> Result<Option<BatchRow>, StoreError> {
        self.read(
            || format!("read batch {id}"),
            |tx| Ok(read_batches(tx, sql::BATCH_BY_ID, id)?.pop()),
        )
    }

    /// The newest `limit` batches, newest first.
    pub fn batches(&self, limit: usize) -> Result<Vec<BatchRow>, StoreError> {
        self.read(
            || "list batches".to_string(),
            |tx| read_batches(tx, sql::BATCHES_NEWEST, sql_limit(limit)),
        )
    }
}
