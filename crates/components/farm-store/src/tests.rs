//! Tests of the internals: query plans and the migration runner.

use std::path::Path;

use rusqlite::Connection;

use crate::error::StoreError;
use crate::schema::{MIGRATIONS, migrate_with};
use crate::sql;

/// A fresh connection with the current schema.
fn migrated() -> Connection {
    let mut conn = Connection::open_in_memory().expect("in-memory database");
    migrate_with(&mut conn, Path::new(":memory:"), MIGRATIONS).expect("migrate");
    conn
}

/// The `EXPLAIN QUERY PLAN` lines of one statement.
fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("cannot prepare `{sql}`: {e}"));
    let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
    let rows = stmt
        .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .expect("query plan");
    rows.map(|r| r.expect("plan row")).collect()
}

#[test]
fn no_statement_scans_or_sorts_a_big_table() {
    let conn = migrated();
    let mut bad = Vec::new();
    for (name, sql) in sql::ALL {
        for line in plan(&conn, sql) {
            let full_scan = ["jobs", "attempts", "outputs", "job_counts"]
                .iter()
                .any(|t| line == format!("SCAN {t}"));
            if full_scan || line.contains("TEMP B-TREE") {
                bad.push(format!("{name}: {line}"));
            }
        }
    }
    assert!(bad.is_empty(), "statements that scan or sort: {bad:#?}");
}

#[test]
fn hot_reads_use_the_intended_index() {
    let conn = migrated();
    let expect = [
        (sql::QUEUED_HEAD, "jobs_queue"),
        (sql::RUNNING_JOBS, "jobs_state"),
        (sql::JOBS_BY_STATE, "jobs_state"),
        (sql::JOBS_BY_BATCH_STATE, "jobs_batch"),
        (sql::ATTEMPTS_OF_JOB, "attempts_job"),
        (sql::LATEST_ATTEMPT, "attempts_job"),
        (sql::CLOSE_OPEN_ATTEMPTS, "attempts_job"),
        (sql::OUTPUTS_OF_JOB, "outputs_job"),
    ];
    for (sql, index) in expect {
        let lines = plan(&conn, sql).join(" | ");
        assert!(
            lines.contains(index),
            "`{sql}` should use {index}, plan: {lines}"
        );
    }
    let lines = plan(&conn, sql::JOB_BY_ID).join(" | ");
    assert!(lines.contains("INTEGER PRIMARY KEY"), "{lines}");
}

fn user_version(conn: &Connection) -> i64 {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version")
}

fn has_table(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .expect("sqlite_schema")
        == 1
}

#[test]
fn migrations_apply_only_the_missing_steps() {
    let mut conn = Connection::open_in_memory().expect("db");
    let v1 = ["CREATE TABLE a (x INTEGER)"];
    migrate_with(&mut conn, Path::new("t.db"), &v1).expect("to v1");
    assert_eq!(user_version(&conn), 1);
    conn.execute("INSERT INTO a VALUES (7)", [])
        .expect("insert");

    // Re-running v1 on a v1 file does nothing (would fail: table exists).
    migrate_with(&mut conn, Path::new("t.db"), &v1).expect("v1 again");

    let v2 = [
        "CREATE TABLE a (x INTEGER)",
        "ALTER TABLE a ADD COLUMN y TEXT DEFAULT 'new'",
    ];
    migrate_with(&mut conn, Path::new("t.db"), &v2).expect("to v2");
    assert_eq!(user_version(&conn), 2);
    let (x, y): (i64, String) = conn
        .query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("row kept");
    assert_eq!((x, y.as_str()), (7, "new"));
}

#[test]
fn a_failing_migration_changes_nothing() {
    let mut conn = Connection::open_in_memory().expect("db");
    let broken = [
        "CREATE TABLE a (x INTEGER); CREATE TABLE b (y INTEGER)",
        "NOT SQL AT ALL",
    ];
    let err = migrate_with(&mut conn, Path::new("t.db"), &broken).expect_err("must fail");
    assert!(
        matches!(err, StoreError::Migrate { from: 0, to: 2, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("t.db") && !msg.contains('\n'), "{msg}");
    assert_eq!(user_version(&conn), 0);
    assert!(!has_table(&conn, "a") && !has_table(&conn, "b"));
}

#[test]
fn the_current_schema_has_every_table() {
    let conn = migrated();
    assert_eq!(user_version(&conn), MIGRATIONS.len() as i64);
    for t in [
        "jobs",
        "batches",
        "attempts",
        "outputs",
        "backends",
        "job_counts",
    ] {
        assert!(has_table(&conn, t), "missing table {t}");
    }
}
