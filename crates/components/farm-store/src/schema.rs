//! The schema and its migrations.
//!
//! `PRAGMA user_version` holds how many entries of [`MIGRATIONS`] a file has had applied.
//! Opening applies the missing ones in one transaction (all or none, together with the new
//! version number) and refuses a file whose version is above ours: a newer build wrote it
//! and this one would misread it.
//!
//! Never edit a released migration; append a new one.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::StoreError;

/// Schema version 1: jobs, batches, attempts, outputs, backends, per-state counters.
///
/// Indexes (each listed call stays an index lookup with 100,000+ jobs):
/// * `jobs_queue`: the queue in scheduling order, queued jobs only (`queued_head`).
/// * `jobs_state`: one state newest first (`jobs` with states, `running`).
/// * `jobs_batch`: one batch's jobs in one state newest first (`jobs` with a batch).
/// * `attempts_job`, `outputs_job`: a job's attempts and outputs.
/// * `job_counts`: jobs per state, overall (`batch = 0`) and per batch, kept by triggers
///   so `counts`, `batch` and `batches` never count rows.
const V1: &str = "
CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    created_ms INTEGER NOT NULL
);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch INTEGER REFERENCES batches (id),
    name TEXT,
    state TEXT NOT NULL
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    priority INTEGER NOT NULL,
    workflow TEXT NOT NULL,
    params TEXT NOT NULL,
    targets TEXT,
    tags TEXT NOT NULL,
    pool TEXT,
    max_retries INTEGER NOT NULL CHECK (max_retries >= 0),
    attempts INTEGER NOT NULL DEFAULT 0,
    excluded TEXT NOT NULL DEFAULT '[]',
    requirements TEXT NOT NULL,
    plan TEXT NOT NULL,
    backend TEXT,
    prompt_id TEXT,
    error TEXT,
    created_ms INTEGER NOT NULL,
    started_ms INTEGER,
    finished_ms INTEGER
);
CREATE INDEX jobs_queue ON jobs (priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_batch ON jobs (batch, state, id) WHERE batch IS NOT NULL;

CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job INTEGER NOT NULL REFERENCES jobs (id),
    backend TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    state TEXT NOT NULL
        CHECK (state IN ('running', 'succeeded', 'failed', 'lost', 'cancelled')),
    error TEXT,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER
);
CREATE INDEX attempts_job ON attempts (job, id);

CREATE TABLE outputs (
    id INTEGER PRIMARY KEY,
    job INTEGER NOT NULL REFERENCES jobs (id),
    node TEXT NOT NULL,
    kind TEXT NOT NULL,
    filename TEXT NOT NULL,
    subfolder TEXT NOT NULL,
    file_type TEXT NOT NULL,
    path TEXT,
    bytes INTEGER NOT NULL,
    mime TEXT,
    text TEXT
);
CREATE INDEX outputs_job ON outputs (job, id);

CREATE TABLE backends (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    tags TEXT NOT NULL,
    pool TEXT,
    weight REAL NOT NULL,
    max_concurrent INTEGER NOT NULL CHECK (max_concurrent >= 0),
    added_ms INTEGER NOT NULL
);

-- Jobs per state: batch 0 counts every job, batch N the jobs of batch N.
CREATE TABLE job_counts (
    batch INTEGER NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (batch, state)
) WITHOUT ROWID;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (batch, state, n) VALUES (0, NEW.state, 1)
        ON CONFLICT (batch, state) DO UPDATE SET n = n + 1;
    INSERT INTO job_counts (batch, state, n)
        SELECT NEW.batch, NEW.state, 1 WHERE NEW.batch IS NOT NULL
        ON CONFLICT (batch, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF state, batch ON jobs
WHEN OLD.state IS NOT NEW.state OR OLD.batch IS NOT NEW.batch BEGIN
    UPDATE job_counts SET n = n - 1 WHERE batch = 0 AND state = OLD.state;
    UPDATE job_counts SET n = n - 1 WHERE batch = OLD.batch AND state = OLD.state;
    INSERT INTO job_counts (batch, state, n) VALUES (0, NEW.state, 1)
        ON CONFLICT (batch, state) DO UPDATE SET n = n + 1;
    INSERT INTO job_counts (batch, state, n)
        SELECT NEW.batch, NEW.state, 1 WHERE NEW.batch IS NOT NULL
        ON CONFLICT (batch, state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE batch = 0 AND state = OLD.state;
    UPDATE job_counts SET n = n - 1 WHERE batch = OLD.batch AND state = OLD.state;
END;
";

/// Every schema change in order; entry `i` takes a file from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1];

/// Brings `conn` (the file `file`) up to date with [`MIGRATIONS`].
pub(crate) fn migrate(conn: &mut Connection, file: &Path) -> Result<(), StoreError> {
    migrate_with(conn, file, MIGRATIONS)
}

/// [`migrate`] with a given migration list (tests use shorter and longer lists).
pub(crate) fn migrate_with(
    conn: &mut Connection,
    file: &Path,
    migrations: &[&str],
) -> Result<(), StoreError> {
    let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let open_err = |source| StoreError::Open {
        file: file.to_path_buf(),
        source,
    };
    // IMMEDIATE: two processes opening a fresh file must not both migrate it.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(open_err)?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(open_err)?;
    if found > supported {
        return Err(StoreError::NewerSchema {
            file: file.to_path_buf(),
            found,
            supported,
        });
    }
    let Ok(done) = usize::try_from(found) else {
        return Err(StoreError::BadSchema {
            file: file.to_path_buf(),
            found,
            supported,
        });
    };
    if done == migrations.len() {
        return Ok(()); // the transaction only read; dropping it ends it
    }
    let migrate_err = |source| StoreError::Migrate {
        file: file.to_path_buf(),
        from: found,
        to: supported,
        source,
    };
    for sql in &migrations[done..] {
        tx.execute_batch(sql).map_err(migrate_err)?;
    }
    tx.pragma_update(None, "user_version", supported)
        .map_err(migrate_err)?;
    tx.commit().map_err(migrate_err)
}
