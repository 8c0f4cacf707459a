//! Built-in sinks.
//!
//! - [`JsonlSink`]: one JSON object per line into a file (the record shapes of
//!   `docs/ref/jsonl.md`).
//! - [`StdoutSink`]: the same on standard output.
//! - [`FnSink`]: calls a closure for every record (the in-process API).
//!
//! Sinks are driven by the runtime on a thread of their own through a bounded queue;
//! they never buffer without bound themselves (the file writer's buffer is 64 KiB).

#![forbid(clippy::print_stdout, clippy::print_stderr)]

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use visualpath_sdk::{ComponentError, Record, Result, Sink};

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
}

impl JsonlConfig {
    /// Opens the file.
    pub fn build(&self) -> Result<Box<dyn Sink>> {
        Ok(Box::new(JsonlSink::create(&self.path, self.append)?))
    }
}

/// Writes records as JSON lines to a file.
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
}

impl JsonlSink {
    /// Creates (or truncates, or appends to) `path`.
    pub fn create(path: &Path, append: bool) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                ComponentError::new(format!(
                    "cannot create folder `{}` for `{}`: {e}",
                    dir.display(),
                    path.display()
                ))
            })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .map_err(|e| {
                ComponentError::new(format!("cannot open `{}` for writing: {e}", path.display()))
            })?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::with_capacity(64 * 1024, file),
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
        self.out.write_all(&self.line).map_err(|e| {
            ComponentError::new(format!("cannot write to `{}`: {e}", self.path.display()))
        })
    }

    fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_data())
            .map_err(|e| {
                ComponentError::new(format!("cannot flush `{}`: {e}", self.path.display()))
            })
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
