//! Built-in sinks.
//!
//! - [`JsonlSink`]: one JSON object per line into a file (the record shapes of
//!   `docs/ref/jsonl.md`).
//! - [`CsvSink`]: one row per value into a CSV file; both file sinks rotate by size or
//!   age ([`RotateConfig`]).
//! - [`StdoutSink`]: the same on standard output.
//! - [`FnSink`]: calls a closure for every record (the in-process API).
//! - [`Outbox`]: asynchronous delivery (bounded queue, retries, counters, health) for
//!   network sinks, which implement [`Transport`]; see [`outbox`].
//!
//! Sinks are driven by the runtime on a thread of their own through a bounded queue;
//! they never buffer without bound themselves (the file writer's buffer is 64 KiB).

#![forbid(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use visualpath_sdk::{ComponentError, Record, Result, Sink};

pub mod files;
pub mod outbox;
pub use files::{CsvConfig, CsvSink, RotateConfig, RotatingFile, csv_rows};
pub use outbox::{Outbox, QueueConfig, QueueOverflow, RetryConfig, Transport};

/// What every sink entry of a pipeline file has besides its kind: its name and its
/// delivery settings (used by sinks built on [`Outbox`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSettings {
    /// The sink's name (for logs and errors).
    pub name: visualpath_sdk::Name,
    /// The delivery queue.
    pub queue: QueueConfig,
    /// Retries.
    pub retry: RetryConfig,
}

impl SinkSettings {
    /// Default delivery settings for the sink called `name`.
    pub fn new(name: visualpath_sdk::Name) -> Self {
        Self {
            name,
            queue: QueueConfig::default(),
            retry: RetryConfig::default(),
        }
    }
}

/// Which records a sink receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Analyzer observations.
    Observations,
    /// Fusion events.
    Events,
    /// Synchronized sets.
    Sync,
}

impl RecordKind {
    /// Whether `r` is of this kind.
    pub fn matches(self, r: &Record) -> bool {
        matches!(
            (self, r),
            (Self::Observations, Record::Observation(_))
                | (Self::Events, Record::Event(_))
                | (Self::Sync, Record::Sync(_))
        )
    }
}

/// Settings of a JSONL file sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    /// File to write. Created (with missing parent folders) or truncated at start.
    pub path: PathBuf,
    /// Append to an existing file instead of truncating it. Default `false`.
    #[serde(default)]
    pub append: bool,
    /// Rotation: `{max_bytes: 100000000, every: 1h, keep: 24}` (each optional). Default:
    /// none (one file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate: Option<RotateConfig>,
}

impl JsonlConfig {
    /// Opens the file.
    pub fn build(&self) -> Result<Box<dyn Sink>> {
        Ok(Box::new(JsonlSink::with_rotation(
            &self.path,
            self.append,
            self.rotate,
        )?))
    }
}

/// Writes records as JSON lines to a file.
#[derive(Debug)]
pub struct JsonlSink {
    file: RotatingFile,
    line: Vec<u8>,
}

impl JsonlSink {
    /// Creates (or truncates, or appends to) `path`.
    pub fn create(path: &Path, append: bool) -> Result<Self> {
        Self::with_rotation(path, append, None)
    }

    /// Like [`JsonlSink::create`], with rotation.
    pub fn with_rotation(path: &Path, append: bool, rotate: Option<RotateConfig>) -> Result<Self> {
        Ok(Self {
            file: RotatingFile::create(path, append, rotate)?,
            line: Vec::with_capacity(1024),
        })
    }
}

fn encode(line: &mut Vec<u8>, r: &Record) -> Result<()> {
    line.clear();
    r.write_json(line)
        .map_err(|e| ComponentError::new(format!("cannot encode a {} record: {e}", r.kind())))?;
    line.push(b'\n');
    Ok(())
}

impl Sink for JsonlSink {
    fn write(&mut self, record: &Record) -> Result<()> {
        encode(&mut self.line, record)?;
        self.file.write_record(b"", &self.line)
    }

    fn flush(&mut self) -> Result<()> {
        self.file.flush()
    }
}

/// Writes records as JSON lines to standard output.
#[derive(Debug, Default)]
pub struct StdoutSink {
    line: Vec<u8>,
}

impl Sink for StdoutSink {
    fn write(&mut self, record: &Record) -> Result<()> {
        encode(&mut self.line, record)?;
        let mut out = std::io::stdout().lock();
        out.write_all(&self.line)
            .map_err(|e| ComponentError::new(format!("cannot write to stdout: {e}")))
    }

    fn flush(&mut self) -> Result<()> {
        std::io::stdout()
            .flush()
            .map_err(|e| ComponentError::new(format!("cannot flush stdout: {e}")))
    }
}

/// Calls a closure for every record.
pub struct FnSink<F>(pub F);

impl<F: FnMut(&Record) -> Result<()> + Send> Sink for FnSink<F> {
    fn write(&mut self, record: &Record) -> Result<()> {
        (self.0)(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use visualpath_core::{Name, Observation, ObservationData, Timing, Values};

    fn obs(seq: u64) -> Record {
        Record::Observation(Arc::new(Observation {
            analyzer: Name::from_static("motion"),
            source: Name::from_static("cam"),
            seq,
            capture_time_ns: 5,
            arrival_ns: 0,
            frame_size: (0, 0),
            data: ObservationData {
                values: Values::new().with("score", 0.5),
                ..Default::default()
            },
            timing: Timing::default(),
        }))
    }

    #[test]
    fn jsonl_writes_one_line_per_record_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.jsonl");
        let mut s = JsonlSink::create(&path, false).unwrap();
        s.write(&obs(0)).unwrap();
        s.write(&obs(1)).unwrap();
        s.flush().unwrap();
        drop(s);
        let mut s = JsonlSink::create(&path, true).unwrap();
        s.write(&obs(2)).unwrap();
        s.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["seq"], 2);
        assert_eq!(lines[0]["values"]["score"], 0.5);
    }

    #[test]
    fn jsonl_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let e = JsonlSink::create(&blocker.join("out.jsonl"), false).unwrap_err();
        assert!(e.message.contains("file"), "{}", e.message);
        assert!(
            e.message.starts_with("cannot create folder"),
            "{}",
            e.message
        );
    }

    #[test]
    fn record_kind_filter() {
        assert!(RecordKind::Observations.matches(&obs(0)));
        assert!(!RecordKind::Events.matches(&obs(0)));
    }
}
