//! Files with rotation, and the CSV sink.
//!
//! [`RotatingFile`] writes whole records (lines) to `path`. With a [`RotateConfig`],
//! when the file reaches `max_bytes` or has been open for `every`, it is closed and
//! renamed to `{stem}.{n}.{ext}` (`n` = 000001, 000002, ... continuing after the
//! highest number already in the folder, so names sort in time order), and a fresh
//! `path` is opened: the file a user follows always has the same name. With `keep`, only
//! the newest `keep` rotated files are kept. A record is never split across files.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use visualpath_sdk::core::HumanDuration;
use visualpath_sdk::{ComponentError, Record, Result, Sink};

/// When a file sink starts a new file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateConfig {
    /// Start a new file when the current one would grow past this many bytes (at least
    /// 1024). Default: no size limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Start a new file after this long, e.g. `1h`. Default: no time limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<HumanDuration>,
    /// Rotated files to keep (the oldest are deleted). Default: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<usize>,
}

impl RotateConfig {
    /// Checks the values; `path` names the file in the error.
    pub fn validate(&self, path: &Path) -> Result<()> {
        if self.max_bytes.is_some_and(|b| b < 1024) {
            return Err(ComponentError::new(format!(
                "`{}`: rotate.max_bytes must be at least 1024",
                path.display()
            )));
        }
        if self.every.is_some_and(|d| d.get().is_zero()) {
            return Err(ComponentError::new(format!(
                "`{}`: rotate.every must be longer than 0s",
                path.display()
            )));
        }
        if self.keep == Some(0) {
            return Err(ComponentError::new(format!(
                "`{}`: rotate.keep must be at least 1 (leave it out to keep every file)",
                path.display()
            )));
        }
        Ok(())
    }
}

/// A file written record by record, rotated per a [`RotateConfig`].
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    out: BufWriter<File>,
    rotate: Option<RotateConfig>,
    bytes: u64,
    opened: Instant,
}

fn open(path: &Path, append: bool) -> Result<(File, u64)> {
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
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((file, len))
}

/// `out.jsonl` -> (`out`, `.jsonl`).
fn split_name(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.rfind('.') {
        Some(i) if i > 0 => (name[..i].to_string(), name[i..].to_string()),
        _ => (name, String::new()),
    }
}

/// Rotated siblings of `path`, as (number, path), sorted by number.
fn rotated(path: &Path) -> Vec<(u64, PathBuf)> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (stem, ext) = split_name(path);
    let prefix = format!("{stem}.");
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let mid = name.strip_prefix(&prefix)?.strip_suffix(ext.as_str())?;
            (mid.len() == 6 && mid.bytes().all(|b| b.is_ascii_digit()))
                .then(|| (mid.parse().ok(), e.path()))
                .and_then(|(n, p)| Some((n?, p)))
        })
        .collect();
    v.sort();
    v
}

impl RotatingFile {
    /// Creates (or truncates, or appends to) `path`.
    pub fn create(path: &Path, append: bool, rotate: Option<RotateConfig>) -> Result<Self> {
        if let Some(r) = &rotate {
            r.validate(path)?;
        }
        let (file, bytes) = open(path, append)?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::with_capacity(64 * 1024, file),
            rotate,
            bytes,
            opened: Instant::now(),
        })
    }

    /// Writes one record's bytes, rotating first if they would cross a limit; `header`
    /// (may be empty) is written first to every file that starts empty.
    pub fn write_record(&mut self, header: &[u8], bytes: &[u8]) -> Result<()> {
        if let Some(r) = self.rotate {
            let too_big = r
                .max_bytes
                .is_some_and(|m| self.bytes + bytes.len() as u64 > m);
            let too_old = r.every.is_some_and(|d| self.opened.elapsed() >= d.get());
            if (too_big || too_old) && self.bytes > header.len() as u64 {
                self.rotate_now()?;
            }
        }
        if self.bytes == 0 && !header.is_empty() {
            self.put(header)?;
        }
        self.put(bytes)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| {
            ComponentError::new(format!("cannot write to `{}`: {e}", self.path.display()))
        })?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn rotate_now(&mut self) -> Result<()> {
        self.flush()?;
        let existing = rotated(&self.path);
        let next = existing.last().map_or(1, |(n, _)| n + 1);
        let (stem, ext) = split_name(&self.path);
        let target = self.path.with_file_name(format!("{stem}.{next:06}{ext}"));
        std::fs::rename(&self.path, &target).map_err(|e| {
            ComponentError::new(format!(
                "cannot rotate `{}` to `{}`: {e}",
                self.path.display(),
                target.display()
            ))
        })?;
        if let Some(keep) = self.rotate.and_then(|r| r.keep) {
            let all = rotated(&self.path);
            for (_, old) in all.iter().take(all.len().saturating_sub(keep)) {
                if let Err(e) = std::fs::remove_file(old) {
                    tracing::warn!("cannot delete old file `{}`: {e}", old.display());
                }
            }
        }
        let (file, _) = open(&self.path, false)?;
        self.out = BufWriter::with_capacity(64 * 1024, file);
        self.bytes = 0;
        self.opened = Instant::now();
        Ok(())
    }

    /// Flushes and syncs the data to disk.
    pub fn flush(&mut self) -> Result<()> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_data())
            .map_err(|e| {
                ComponentError::new(format!("cannot flush `{}`: {e}", self.path.display()))
            })
    }
}

/// Settings of a CSV file sink.
///
/// One row per value, in long ("tidy") form, so every analyzer fits one header:
/// `capture_time_ns,source,seq,kind,name,key,value`. Observations give one row per
/// entry of `values` plus the counts `detections`, `tracks`, `poses`, `faces` when
/// non-zero (`kind` = `observation`, `name` = the analyzer); events give a row with key
/// `start` or `end` and value 1, then one row per event value (`kind` = `event`, `name`
/// = the rule); sync sets give key `members` and `skew_ms` (`name` = the group). Text
/// fields are quoted when they contain a comma, quote or newline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// File to write. Created (with missing parent folders) or truncated at start.
    pub path: PathBuf,
    /// Append to an existing file instead of truncating it (the header is written only
    /// to empty files). Default `false`.
    #[serde(default)]
    pub append: bool,
    /// Rotation. Default: none (one file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate: Option<RotateConfig>,
}

impl CsvConfig {
    /// Opens the file.
    pub fn build(&self) -> Result<Box<dyn Sink>> {
        Ok(Box::new(CsvSink {
            file: RotatingFile::create(&self.path, self.append, self.rotate)?,
            rows: String::with_capacity(1024),
        }))
    }
}

const CSV_HEADER: &str = "capture_time_ns,source,seq,kind,name,key,value\n";

/// Writes records as CSV rows (see [`CsvConfig`]).
#[derive(Debug)]
pub struct CsvSink {
    file: RotatingFile,
    rows: String,
}

fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// The leading columns of a row.
struct RowKey<'a> {
    t: i64,
    source: &'a str,
    seq: u64,
    kind: &'a str,
    name: &'a str,
}

fn csv_row(out: &mut String, k: &RowKey<'_>, key: &str, value: f64) {
    use std::fmt::Write as _;
    let _ = write!(out, "{},", k.t);
    csv_field(out, k.source);
    let _ = write!(out, ",{},{},", k.seq, k.kind);
    csv_field(out, k.name);
    out.push(',');
    csv_field(out, key);
    if value.is_finite() {
        let _ = writeln!(out, ",{value}");
    } else {
        out.push_str(",\n");
    }
}

/// The CSV rows of one record.
pub fn csv_rows(out: &mut String, r: &Record) {
    match r {
        Record::Observation(o) => {
            let k = RowKey {
                t: o.capture_time_ns,
                source: o.source.as_str(),
                seq: o.seq,
                kind: "observation",
                name: o.analyzer.as_str(),
            };
            for (key, v) in o.data.values.iter() {
                csv_row(out, &k, key, v);
            }
            let d = &o.data;
            for (key, n) in [
                ("detections", d.detections.len()),
                ("tracks", d.tracks.len()),
                ("poses", d.poses.len()),
                ("faces", d.faces.len()),
            ] {
                if n > 0 {
                    csv_row(out, &k, key, n as f64);
                }
            }
        }
        Record::Event(e) => {
            let k = RowKey {
                t: e.capture_time_ns,
                source: e.source.as_str(),
                seq: e.seq,
                kind: "event",
                name: e.rule.as_str(),
            };
            let phase = match e.phase {
                visualpath_sdk::EventPhase::Start => "start",
                visualpath_sdk::EventPhase::End => "end",
            };
            csv_row(out, &k, phase, 1.0);
            for (key, v) in e.values.iter() {
                csv_row(out, &k, key, v);
            }
        }
        Record::Sync(s) => {
            let k = RowKey {
                t: s.reference_ns,
                source: s.group.as_str(),
                seq: s.index,
                kind: "sync",
                name: s.group.as_str(),
            };
            csv_row(out, &k, "members", s.members.len() as f64);
            csv_row(out, &k, "skew_ms", s.skew_ns as f64 / 1e6);
        }
    }
}

impl Sink for CsvSink {
    fn write(&mut self, record: &Record) -> Result<()> {
        self.rows.clear();
        csv_rows(&mut self.rows, record);
        if self.rows.is_empty() {
            return Ok(());
        }
        self.file
            .write_record(CSV_HEADER.as_bytes(), self.rows.as_bytes())
    }

    fn flush(&mut self) -> Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use visualpath_sdk::core::{Observation, ObservationData, Timing, Values};
    use visualpath_sdk::{Event, EventPhase, Name};

    fn obs(seq: u64, source: &str) -> Record {
        Record::Observation(Arc::new(Observation {
            analyzer: Name::from_static("motion"),
            source: Name::new(source).unwrap(),
            seq,
            capture_time_ns: 1000 + seq as i64,
            arrival_ns: 0,
            frame_size: (640, 480),
            data: ObservationData {
                values: Values::new().with("score", 0.5).with("moving", 1.0),
                ..Default::default()
            },
            timing: Timing::default(),
        }))
    }

    #[test]
    fn rotation_by_size_keeps_records_whole_and_numbers_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let rotate = RotateConfig {
            max_bytes: Some(2048),
            every: None,
            keep: Some(3),
        };
        let mut s = crate::JsonlSink::with_rotation(&path, false, Some(rotate)).unwrap();
        for i in 0..200 {
            s.write(&obs(i, "cam")).unwrap();
        }
        s.flush().unwrap();
        let before = rotated(&path);
        assert_eq!(before.len(), 3, "keep 3: {before:?}");
        let mut seqs = Vec::new();
        for p in before.iter().map(|(_, p)| p.clone()).chain([path.clone()]) {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.len() <= 2048,
                "{} is {} bytes",
                p.display(),
                text.len()
            );
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                seqs.push(v["seq"].as_u64().unwrap());
            }
        }
        // The newest records are all there, in order, with no gap.
        assert_eq!(*seqs.last().unwrap(), 199);
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
        // Numbers continue after a restart.
        drop(s);
        let mut s = crate::JsonlSink::with_rotation(&path, true, Some(rotate)).unwrap();
        for i in 0..40 {
            s.write(&obs(i, "cam")).unwrap();
        }
        s.flush().unwrap();
        let after = rotated(&path);
        assert!(after.last().unwrap().0 > before.last().unwrap().0);
    }

    #[test]
    fn bad_rotation_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let e = RotatingFile::create(
            &path,
            false,
            Some(RotateConfig {
                max_bytes: Some(10),
                ..Default::default()
            }),
        )
        .unwrap_err();
        assert!(
            e.message.contains("rotate.max_bytes must be at least 1024"),
            "{}",
            e.message
        );
    }

    #[test]
    fn csv_rows_have_a_header_in_every_file_and_quote_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let cfg = CsvConfig {
            path: path.clone(),
            append: false,
            rotate: Some(RotateConfig {
                max_bytes: Some(1024),
                ..Default::default()
            }),
        };
        let mut s = cfg.build().unwrap();
        for i in 0..30 {
            s.write(&obs(i, "cam-1")).unwrap();
        }
        s.write(&Record::Event(Arc::new(Event {
            id: 7,
            rule: Name::from_static("busy"),
            source: Name::from_static("cam-1"),
            phase: EventPhase::Start,
            seq: 30,
            capture_time_ns: 2000,
            since_ns: 1990,
            until_ns: None,
            values: Values::new().with("count", 3.0),
            clip: Default::default(),
        })))
        .unwrap();
        s.flush().unwrap();
        let mut rows = Vec::new();
        for p in rotated(&path)
            .into_iter()
            .map(|(_, p)| p)
            .chain([path.clone()])
        {
            let text = std::fs::read_to_string(&p).unwrap();
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some(CSV_HEADER.trim_end()), "{}", p.display());
            rows.extend(lines.map(str::to_string));
        }
        assert_eq!(rows.len(), 30 * 2 + 2);
        assert_eq!(rows[0], "1000,cam-1,0,observation,motion,score,0.5");
        assert_eq!(rows[rows.len() - 2], "2000,cam-1,30,event,busy,start,1");
        assert_eq!(rows[rows.len() - 1], "2000,cam-1,30,event,busy,count,3");
        let mut q = String::new();
        csv_field(&mut q, "a,\"b\"");
        assert_eq!(q, "\"a,\"\"b\"\"\"");
    }
}
