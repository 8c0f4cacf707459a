//! Moving jobs and attempts between states.
//!
//! Each call checks the current state and changes it in one transaction, so two callers
//! racing on one job cannot both win: the loser gets [`StoreError::State`].
//!
//! Ending a job (`complete`, `fail`, `requeue`, `mark_cancelled`) also closes its open
//! attempt if the caller has not already done so with `finish_attempt`, so no attempt
//! stays `running` under a job that is not.

use rusqlite::{OptionalExtension, Transaction, params};
use visualpath_farm::job::{AttemptState, JobState};

use crate::codec::{parse_attempt_state, to_json};
use crate::error::StoreError;
use crate::jobs::job_state;
use crate::rows::{AttemptId, JobId, OutputRow};
use crate::sql;
use crate::store::Store;

const QUEUED_OR_RUNNING: &[JobState] = &[JobState::Queued, JobState::Running];

/// Fails with [`StoreError::State`] unless `job` is in one of `allowed`.
fn expect_state(
    tx: &Transaction<'_>,
    job: JobId,
    allowed: &[JobState],
    wanted: &'static str,
) -> Result<JobState, StoreError> {
    let state = job_state(tx, job)?;
    if allowed.contains(&state) {
        Ok(state)
    } else {
        Err(StoreError::State { job, state, wanted })
    }
}

/// Closes the job's running attempts (normally at most one) as `state`.
fn close_open_attempts(
    tx: &Transaction<'_>,
    job: JobId,
    state: AttemptState,
    error: Option<&str>,
    now_ms: Option<i64>,
) -> Result<(), StoreError> {
    tx.prepare_cached(sql::CLOSE_OPEN_ATTEMPTS)?
        .execute(params![job, state.as_str(), error, now_ms])?;
    Ok(())
}

/// The job's excluded backends.
fn excluded(tx: &Transaction<'_>, job: JobId) -> Result<Vec<String>, StoreError> {
    let text: String = tx
        .prepare_cached(sql::JOB_EXCLUDED)?
        .query_row([job], |r| r.get(0))?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
        row: format!("job {job}"),
        column: "excluded",
        reason: e.to_string(),
    })
}

/// Checks one output handed to `complete`.
fn check_output(job: JobId, index: usize, o: &OutputRow) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidOutput { job, index, reason };
    if o.job != job {
        return Err(invalid(format!("it names job {}", o.job)));
    }
    if o.node.is_empty() || o.kind.is_empty() {
        return Err(invalid("node and kind must not be empty".into()));
    }
    if o.bytes < 0 {
        return Err(invalid(format!("bytes is {} (must be 0 or more)", o.bytes)));
    }
    Ok(())
}

impl Store {
    /// Starts an attempt of a queued job on `backend`: the job becomes running, its
    /// attempt count goes up, and its backend, prompt id and start time are set. Refused
    /// unless the job is queued, or if the job excludes `backend`.
    pub fn start_attempt(
        &self,
        job: JobId,
        backend: &str,
        prompt_id: &str,
        client_id: &str,
        now_ms: i64,
    ) -> Result<AttemptId, StoreError> {
        self.write(
            || format!("start job {job} on backend `{backend}`"),
            |tx| {
                expect_state(tx, job, &[JobState::Queued], "queued")?;
                if excluded(tx, job)?.iter().any(|b| b == backend) {
                    return Err(StoreError::Excluded {
                        job,
                        backend: backend.to_string(),
                    });
                }
                tx.prepare_cached(sql::INSERT_ATTEMPT)?
                    .execute(params![job, backend, prompt_id, client_id, now_ms])?;
                let attempt = tx.last_insert_rowid();
                tx.prepare_cached(sql::START_JOB)?
                    .execute(params![job, backend, prompt_id, now_ms])?;
                Ok(attempt)
            },
        )
    }

    /// Ends a running attempt as `state` (not `running`) with an optional error. The job's
    /// state is untouched: follow with `complete`, `fail`, `requeue` or `mark_cancelled`.
    pub fn finish_attempt(
        &self,
        attempt: AttemptId,
        state: AttemptState,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if state == AttemptState::Running {
            return Err(StoreError::FinishAsRunning { attempt });
        }
        self.write(
            || format!("finish attempt {attempt}"),
            |tx| {
                let found: Option<(JobId, String)> = tx
                    .prepare_cached(sql::ATTEMPT_JOB_STATE)?
                    .query_row([attempt], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let (job, current) = found.ok_or(StoreError::NoAttempt(attempt))?;
                let current = parse_attempt_state(attempt, &current)?;
                if current != AttemptState::Running {
                    return Err(StoreError::AttemptState {
                        attempt,
                        job,
                        state: current,
                    });
                }
                tx.prepare_cached(sql::FINISH_ATTEMPT)?.execute(params![
                    attempt,
                    state.as_str(),
                    error,
                    now_ms
                ])?;
                Ok(())
            },
        )
    }

    /// A running job succeeded: stores its outputs (in order) and clears its error, in one
    /// transaction, so there is no succeeded job without its outputs. Closes an open
    /// attempt as succeeded.
    pub fn complete(
        &self,
        job: JobId,
        outputs: &[OutputRow],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        for (index, o) in outputs.iter().enumerate() {
            check_output(job, index, o)?;
        }
        self.write(
            || format!("complete job {job}"),
            |tx| {
                expect_state(tx, job, &[JobState::Running], "running")?;
                tx.prepare_cached(sql::SUCCEED_JOB)?
                    .execute(params![job, now_ms])?;
                close_open_attempts(tx, job, AttemptState::Succeeded, None, Some(now_ms))?;
                let mut insert = tx.prepare_cached(sql::INSERT_OUTPUT)?;
                for o in outputs {
                    insert.execute(params![
                        job,
                        o.node,
                        o.kind,
                        o.filename,
                        o.subfolder,
                        o.file_type,
                        o.path,
                        o.bytes,
                        o.mime,
                        o.text
                    ])?;
                }
                Ok(())
            },
        )
    }

    /// A queued or running job failed for good with `error`. Closes an open attempt as
    /// failed.
    pub fn fail(&self, job: JobId, error: &str, now_ms: i64) -> Result<(), StoreError> {
        self.write(
            || format!("fail job {job}"),
            |tx| {
                expect_state(tx, job, QUEUED_OR_RUNNING, "queued or running")?;
                tx.prepare_cached(sql::FAIL_JOB)?
                    .execute(params![job, error, now_ms])?;
                close_open_attempts(tx, job, AttemptState::Failed, Some(error), Some(now_ms))?;
                Ok(())
            },
        )
    }

    /// Puts a running job back in the queue at its old place (the queue is ordered by
    /// priority then id, and the id does not change). `exclude` adds a backend the job must
    /// not go to again; `error` (if given) records why. Closes an open attempt as lost,
    /// without an end time (no clock is passed in): call `finish_attempt` first to record
    /// one. The retry limit is the caller's policy: compare `attempts` with `max_retries`.
    pub fn requeue(
        &self,
        job: JobId,
        exclude: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(
            || format!("requeue job {job}"),
            |tx| {
                expect_state(tx, job, &[JobState::Running], "running")?;
                let mut list = excluded(tx, job)?;
                if let Some(backend) = exclude
                    && !list.iter().any(|b| b == backend)
                {
                    list.push(backend.to_string());
                }
                let list = to_json(&list).map_err(|reason| StoreError::Corrupt {
                    row: format!("job {job}"),
                    column: "excluded",
                    reason,
                })?;
                tx.prepare_cached(sql::REQUEUE_JOB)?
                    .execute(params![job, list, error])?;
                close_open_attempts(tx, job, AttemptState::Lost, error, None)?;
                Ok(())
            },
        )
    }

    /// Cancels a job; returns its state before. Queued: cancelled at once. Running:
    /// unchanged (the caller interrupts it on its backend, then calls `mark_cancelled`).
    /// Already final: unchanged.
    pub fn cancel(&self, job: JobId, now_ms: i64) -> Result<JobState, StoreError> {
        self.write(
            || format!("cancel job {job}"),
            |tx| {
                let state = job_state(tx, job)?;
                if state == JobState::Queued {
                    tx.prepare_cached(sql::CANCEL_JOB)?
                        .execute(params![job, now_ms])?;
                }
                Ok(state)
            },
        )
    }

    /// A job being cancelled was interrupted (running) or never started (queued): it
    /// becomes cancelled. Closes an open attempt as cancelled. Refused once final (e.g. it
    /// succeeded before the interrupt arrived).
    pub fn mark_cancelled(&self, job: JobId, now_ms: i64) -> Result<(), StoreError> {
        self.write(
            || format!("mark job {job} cancelled"),
            |tx| {
                expect_state(tx, job, QUEUED_OR_RUNNING, "queued or running")?;
                tx.prepare_cached(sql::CANCEL_JOB)?
                    .execute(params![job, now_ms])?;
                close_open_attempts(tx, job, AttemptState::Cancelled, None, Some(now_ms))?;
                Ok(())
            },
        )
    }

    /// Changes a queued or running job's priority; returns its state. A queued job moves
    /// in the queue at once.
    pub fn set_priority(&self, job: JobId, priority: i64) -> Result<JobState, StoreError> {
        self.write(
            || format!("set the priority of job {job}"),
            |tx| {
                let state = expect_state(tx, job, QUEUED_OR_RUNNING, "queued or running")?;
                tx.prepare_cached(sql::SET_PRIORITY)?
                    .execute(params![job, priority])?;
                Ok(state)
            },
        )
    }

    /// Queues a failed or cancelled job again at its old place, clearing its error and
    /// exclusions. Its attempts (and the attempt count) are kept.
    pub fn retry(&self, job: JobId) -> Result<(), StoreError> {
        self.write(
            || format!("retry job {job}"),
            |tx| {
                expect_state(
                    tx,
                    job,
                    &[JobState::Failed, JobState::Cancelled],
                    "failed or cancelled",
                )?;
                tx.prepare_cached(sql::RETRY_JOB)?.execute([job])?;
                Ok(())
            },
        )
    }
}
