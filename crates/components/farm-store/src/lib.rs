//! The render farm's durable state: jobs, batches, attempts, outputs and backends in one
//! SQLite file, so restarting the orchestrator loses nothing.
//!
//! Design decisions:
//!
//! - One [`Store`] holds one connection behind a mutex (`Send + Sync`); every call is one
//!   transaction, so a crash never leaves half a change (a submission is all jobs or none,
//!   a completed job always has its outputs).
//! - WAL journaling with `synchronous = FULL`: a call that returned `Ok` survives a crash
//!   or power cut; readers in other processes do not block the writer. `busy_timeout`
//!   makes concurrent writers from other processes wait instead of failing, and write
//!   transactions take the write lock up front. Foreign keys are enforced.
//! - Migrations: `PRAGMA user_version` counts applied entries of a fixed list, applied in
//!   one transaction at open; a file from a newer schema is refused.
//! - The queue order is priority (high first) then id (old first). A requeued or retried
//!   job keeps its id and so its place.
//! - State changes check the current state in the same transaction; a refused change is
//!   [`StoreError::State`] ("job 12 is succeeded, not queued").
//! - Scale: every call is an index walk or a point lookup (see the schema's indexes), and
//!   jobs per state are counters kept by triggers, so 100,000+ stored jobs cost nothing
//!   extra. Times are passed in by the caller (milliseconds), the store reads no clock.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod backends;
mod codec;
mod error;
mod jobs;
mod rows;
mod schema;
mod sql;
mod store;
mod transitions;

pub use error::StoreError;
pub use rows::{
    AttemptId, AttemptRow, BackendRow, BatchId, BatchRow, JobFilter, JobId, JobRow, NewJob,
    OutputRow,
};
pub use store::Store;
pub use visualpath_farm::job::{AttemptState, JobState};

#[cfg(test)]
mod tests;
