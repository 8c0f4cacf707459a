//! The per-frame trace (`--trace trace.jsonl`).
//!
//! One JSON line per frame per stage, so a user can follow a frame through the pipeline
//! and see where time went:
//!
//! ```json
//! {"t_ns":120034,"stage":"cam1","source":"cam1","seq":7,"what":"emit","capture_time_ns":1700000000000000000}
//! {"t_ns":120400,"stage":"motion","source":"cam1","seq":7,"what":"analyze","queued_ns":120034,"start_ns":120100,"duration_ns":300}
//! {"t_ns":120500,"stage":"detect","source":"cam1","seq":7,"what":"skip","reason":"condition"}
//! {"t_ns":120900,"stage":"out","source":"cam1","seq":7,"what":"write"}
//! ```
//!
//! `t_ns`, `queued_ns` and `start_ns` are on the pipeline's monotonic clock. Writing never
//! slows the pipeline: entries go through a bounded queue to a writer thread, and if it
//! falls behind, entries are dropped and counted (reported at the end of the run).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use serde::Serialize;
use visualpath_core::{Name, SharedClock};

use crate::stats::SkipReason;

#[derive(Serialize)]
struct Entry {
    t_ns: u64,
    stage: Name,
    source: Name,
    seq: u64,
    what: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capture_time_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queued_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ns: Option<u64>,
}

/// A handle to the trace writer. Cloning shares it.
#[derive(Clone)]
pub struct Tracer {
    tx: SyncSender<Entry>,
    dropped: Arc<AtomicU64>,
    clock: SharedClock,
}

/// Owns the writer thread; [`TraceWriter::finish`] flushes and reports drops.
pub struct TraceWriter {
    handle: Option<JoinHandle<std::io::Result<u64>>>,
    dropped: Arc<AtomicU64>,
}

const QUEUE: usize = 8192;

impl Tracer {
    /// Creates the trace file and its writer thread.
    pub fn create(path: &Path, clock: SharedClock) -> std::io::Result<(Tracer, TraceWriter)> {
        let file = File::create(path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot create trace file `{}`: {e}", path.display()),
            )
        })?;
        let (tx, rx) = sync_channel::<Entry>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let handle = std::thread::Builder::new()
            .name("vp-trace".into())
            .spawn(move || write_all(rx, BufWriter::new(file)))?;
        Ok((
            Tracer {
                tx,
                dropped: dropped.clone(),
                clock,
            },
            TraceWriter {
                handle: Some(handle),
                dropped,
            },
        ))
    }

    fn send(&self, e: Entry) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(e) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn base(&self, stage: &Name, source: &Name, seq: u64, what: &'static str) -> Entry {
        Entry {
            t_ns: self.clock.mono_ns(),
            stage: stage.clone(),
            source: source.clone(),
            seq,
            what,
            reason: None,
            capture_time_ns: None,
            queued_ns: None,
            start_ns: None,
            duration_ns: None,
        }
    }

    pub(crate) fn emitted(&self, source: &Name, seq: u64, arrival_ns: u64, capture_ns: i64) {
        let mut e = self.base(source, source, seq, "emit");
        e.t_ns = arrival_ns;
        e.capture_time_ns = Some(capture_ns);
        self.send(e);
    }

    pub(crate) fn analyzed(
        &self,
        stage: &Name,
        source: &Name,
        seq: u64,
        queued: u64,
        start: u64,
        dur: u64,
    ) {
        let mut e = self.base(stage, source, seq, "analyze");
        e.queued_ns = Some(queued);
        e.start_ns = Some(start);
        e.duration_ns = Some(dur);
        self.send(e);
    }

    pub(crate) fn skip(&self, stage: &Name, source: &Name, seq: u64, why: SkipReason) {
        let mut e = self.base(stage, source, seq, "skip");
        e.reason = Some(why.as_str());
        self.send(e);
    }

    pub(crate) fn written(&self, stage: &Name, source: &Name, seq: u64, t: u64) {
        let mut e = self.base(stage, source, seq, "write");
        e.t_ns = t;
        self.send(e);
    }
}

fn write_all(rx: Receiver<Entry>, mut out: BufWriter<File>) -> std::io::Result<u64> {
    let mut n = 0;
    for e in rx {
        serde_json::to_writer(&mut out, &e)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

impl TraceWriter {
    /// Waits for the writer (all [`Tracer`] clones must be dropped first) and returns
    /// (entries written, entries dropped).
    pub fn finish(mut self) -> std::io::Result<(u64, u64)> {
        let written = match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r?,
            Some(Err(_)) => return Err(std::io::Error::other("trace writer panicked")),
            None => 0,
        };
        Ok((written, self.dropped.load(Ordering::Relaxed)))
    }
}
