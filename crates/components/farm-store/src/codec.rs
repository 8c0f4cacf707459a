//! Between rows and SQL: column lists, JSON columns and state names.

use rusqlite::Row;
use serde::Serialize;
use serde::de::DeserializeOwned;
use visualpath_farm::job::{AttemptState, JobState};

use crate::error::StoreError;
use crate::rows::{AttemptRow, BackendRow, JobRow, OutputRow};

/// JSON text for a column. Serializing plain data (values, strings, lists) cannot fail;
/// should it ever, the error says which column.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

/// Reads one stored row; `owner` names it for errors ("job 12").
struct Reader<'a, 'r> {
    row: &'a Row<'r>,
    owner: &'a dyn Fn() -> String,
}

impl Reader<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, i: usize) -> Result<T, StoreError> {
        Ok(self.row.get(i)?)
    }

    fn corrupt(&self, column: &'static str, reason: impl ToString) -> StoreError {
        StoreError::Corrupt {
            row: (self.owner)(),
            column,
            reason: reason.to_string(),
        }
    }

    fn text(&self, i: usize, column: &'static str) -> Result<&str, StoreError> {
        self.row
            .get_ref(i)?
            .as_str()
            .map_err(|e| self.corrupt(column, e))
    }

    fn json<T: DeserializeOwned>(&self, i: usize, column: &'static str) -> Result<T, StoreError> {
        let text = self.text(i, column)?;
        serde_json::from_str(text).map_err(|e| self.corrupt(column, e))
    }

    fn json_opt<T: DeserializeOwned>(
        &self,
        i: usize,
        column: &'static str,
    ) -> Result<Option<T>, StoreError> {
        let text = self
            .row
            .get_ref(i)?
            .as_str_or_null()
            .map_err(|e| self.corrupt(column, e))?;
        match text {
            None => Ok(None),
            Some(text) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| self.corrupt(column, e)),
        }
    }

    fn count(&self, i: usize, column: &'static str) -> Result<u32, StoreError> {
        let n: i64 = self.get(i)?;
        u32::try_from(n).map_err(|_| self.corrupt(column, format!("{n} is not a count")))
    }

    fn job_state(&self, i: usize) -> Result<JobState, StoreError> {
        let s = self.text(i, "state")?;
        s.parse().map_err(|e: String| self.corrupt("state", e))
    }

    fn attempt_state(&self, i: usize) -> Result<AttemptState, StoreError> {
        let s = self.text(i, "state")?;
        s.parse().map_err(|e: String| self.corrupt("state", e))
    }
}

/// Parses a job state read by a one-column query.
pub(crate) fn parse_job_state(job: i64, s: &str) -> Result<JobState, StoreError> {
    s.parse().map_err(|reason| StoreError::Corrupt {
        row: format!("job {job}"),
        column: "state",
        reason,
    })
}

/// Parses an attempt state read by a one-column query.
pub(crate) fn parse_attempt_state(attempt: i64, s: &str) -> Result<AttemptState, StoreError> {
    s.parse().map_err(|reason| StoreError::Corrupt {
        row: format!("attempt {attempt}"),
        column: "state",
        reason,
    })
}

/// A job from a row selected with `sql::job_cols!()`.
pub(crate) fn job_from_row(row: &Row<'_>) -> Result<JobRow, StoreError> {
    let id: i64 = row.get(0)?;
    let owner = move || format!("job {id}");
    let r = Reader { row, owner: &owner };
    Ok(JobRow {
        id,
        batch: r.get(1)?,
        name: r.get(2)?,
        state: r.job_state(3)?,
        priority: r.get(4)?,
        workflow: r.json(5, "workflow")?,
        params: r.json(6, "params")?,
        targets: r.json_opt(7, "targets")?,
        tags: r.json(8, "tags")?,
        pool: r.get(9)?,
        max_retries: r.count(10, "max_retries")?,
        attempts: r.count(11, "attempts")?,
        excluded: r.json(12, "excluded")?,
        requirements: r.json(13, "requirements")?,
        plan: r.json(14, "plan")?,
        backend: r.get(15)?,
        prompt_id: r.get(16)?,
        error: r.get(17)?,
        created_ms: r.get(18)?,
        started_ms: r.get(19)?,
        finished_ms: r.get(20)?,
    })
}

/// An attempt from a row selected with `sql::attempt_cols!()`.
pub(crate) fn attempt_from_row(row: &Row<'_>) -> Result<AttemptRow, StoreError> {
    let id: i64 = row.get(0)?;
    let owner = move || format!("attempt {id}");
    let r = Reader { row, owner: &owner };
    Ok(AttemptRow {
        id,
        job: r.get(1)?,
        backend: r.get(2)?,
        prompt_id: r.get(3)?,
        client_id: r.get(4)?,
        state: r.attempt_state(5)?,
        error: r.get(6)?,
        started_ms: r.get(7)?,
        finished_ms: r.get(8)?,
    })
}

/// An output from a row selected by `sql::OUTPUTS_OF_JOB`.
pub(crate) fn output_from_row(row: &Row<'_>) -> Result<OutputRow, StoreError> {
    Ok(OutputRow {
        job: row.get(0)?,
        node: row.get(1)?,
        kind: row.get(2)?,
        filename: row.get(3)?,
        subfolder: row.get(4)?,
        file_type: row.get(5)?,
        path: row.get(6)?,
        bytes: row.get(7)?,
        mime: row.get(8)?,
        text: row.get(9)?,
    })
}

/// A backend from a row selected by `sql::BACKENDS`.
pub(crate) fn backend_from_row(row: &Row<'_>) -> Result<BackendRow, StoreError> {
    let name: String = row.get(0)?;
    let owner = || format!("backend `{name}`");
    let r = Reader { row, owner: &owner };
    Ok(BackendRow {
        url: r.get(1)?,
        tags: r.json(2, "tags")?,
        pool: r.get(3)?,
        weight: r.get(4)?,
        max_concurrent: r.count(5, "max_concurrent")?,
        added_ms: r.get(6)?,
        name: name.clone(),
    })
}
