//! Live statistics of a running pipeline, and the report at its end.
//!
//! Counters are atomics updated by the thread that owns a stage and readable from any
//! thread (progress bars, the service's metrics endpoint) without locks. Nothing is
//! logged per frame; readers aggregate per interval.

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;
use visualpath_core::{Histogram, Name};
use visualpath_sdk::SinkStatus;

/// Why a stage did not process an item it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The analyzer's schedule declined the frame.
    Schedule,
    /// The analyzer's `when:` condition was false.
    Condition,
    /// The frame's source is not one the analyzer is applied to.
    SourceFilter,
    /// The analyzer was still busy with an earlier frame that timed out.
    Busy,
    /// The analyzer exceeded its timeout on this frame.
    Timeout,
    /// The analyzer (or sink) failed on this item.
    Error,
    /// A join of several inputs never received all parts of this frame.
    JoinIncomplete,
}

impl SkipReason {
    /// All reasons, in report order.
    pub const ALL: [SkipReason; 7] = [
        Self::Schedule,
        Self::Condition,
        Self::SourceFilter,
        Self::Busy,
        Self::Timeout,
        Self::Error,
        Self::JoinIncomplete,
    ];

    /// Name used in reports and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Condition => "condition",
            Self::SourceFilter => "source_filter",
            Self::Busy => "busy",
            Self::Timeout => "timeout",
            Self::Error => "error",
            Self::JoinIncomplete => "join_incomplete",
        }
    }
}

/// The kind of a pipeline node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Produces frames.
    Source,
    /// Turns frames into observations.
    Analyzer,
    /// Turns observations into events.
    Fusion,
    /// Joins sources by capture time.
    Sync,
    /// Writes records.
    Sink,
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Analyzer => "analyzer",
            Self::Fusion => "fusion",
            Self::Sync => "sync",
            Self::Sink => "sink",
        })
    }
}

/// The state of a source (a camera or a file).
///
/// ```text
///            first frame                      no frame for stall_timeout
/// Connecting ───────────> Streaming ───────────────────────────────────> Stalled
///    ^   │ connect failed     │ stream ended / read error                    │
///    │   v                    v                                              v
///    └── BackingOff <──────────────────────────────────────────────────────┘
///  (jittered exponential wait, then Connecting again)        end, stop, fatal: Stopped
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Opening the stream (before the first frame, and after every failure).
    Connecting = 0,
    /// Frames are arriving.
    Streaming = 1,
    /// The stream stopped delivering frames; it is about to be reconnected.
    Stalled = 2,
    /// Waiting before the next connection attempt.
    BackingOff = 3,
    /// Ended (end of file, stopped, or a permanent error).
    Stopped = 4,
}

impl SourceState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Connecting,
            1 => Self::Streaming,
            2 => Self::Stalled,
            3 => Self::BackingOff,
            _ => Self::Stopped,
        }
    }

    /// Name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Streaming => "streaming",
            Self::Stalled => "stalled",
            Self::BackingOff => "backing_off",
            Self::Stopped => "stopped",
        }
    }
}

/// Live status of a source node.
#[derive(Debug)]
pub struct SourceStatus {
    state: AtomicU8,
    /// Successful reconnections (a frame after a failure).
    pub reconnects: AtomicU64,
    /// Failed connection attempts and stalls.
    pub failures: AtomicU64,
    capture_clock: AtomicU8,
    /// Monotonic time of the last frame (0 before the first).
    pub last_frame_ns: AtomicU64,
    /// From a failure to the next frame, ns.
    pub recovery: Histogram,
}

impl Default for SourceStatus {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(SourceState::Connecting as u8),
            reconnects: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            capture_clock: AtomicU8::new(0),
            last_frame_ns: AtomicU64::new(0),
            recovery: Histogram::new(),
        }
    }
}

impl SourceStatus {
    /// Current state.
    pub fn state(&self) -> SourceState {
        SourceState::from_u8(self.state.load(Ordering::Relaxed))
    }

    /// Sets the state; returns the previous one.
    pub fn set_state(&self, s: SourceState) -> SourceState {
        SourceState::from_u8(self.state.swap(s as u8, Ordering::Relaxed))
    }

    /// Where capture times come from (`arrival`, `rtcp`, `media`).
    pub fn capture_clock(&self) -> visualpath_core::CaptureClock {
        match self.capture_clock.load(Ordering::Relaxed) {
            1 => visualpath_core::CaptureClock::Rtcp,
            2 => visualpath_core::CaptureClock::Media,
            _ => visualpath_core::CaptureClock::Arrival,
        }
    }

    /// Records the capture clock of the latest frame; returns whether it changed.
    pub fn set_capture_clock(&self, c: visualpath_core::CaptureClock) -> bool {
        let v = match c {
            visualpath_core::CaptureClock::Arrival => 0,
            visualpath_core::CaptureClock::Rtcp => 1,
            visualpath_core::CaptureClock::Media => 2,
        };
        self.capture_clock.swap(v, Ordering::Relaxed) != v
    }
}

/// Counters of one node.
#[derive(Debug)]
pub struct NodeStats {
    /// Node name.
    pub name: Name,
    /// Node kind.
    pub kind: NodeKind,
    /// Items received (frames for sources: frames produced).
    pub received: AtomicU64,
    /// Items processed (frames analyzed, records written, observations evaluated).
    pub processed: AtomicU64,
    /// Items emitted (observations, events, sets, records).
    pub emitted: AtomicU64,
    /// Failures.
    pub errors: AtomicU64,
    skipped: [AtomicU64; SkipReason::ALL.len()],
    /// Time spent per processed item, ns.
    pub latency: Histogram,
    /// For sinks: from the frame's arrival in the pipeline to the record's write, ns.
    pub end_to_end: Histogram,
    /// The most recent error message.
    pub last_error: Mutex<Option<String>>,
    /// For sources: connection state and reconnections.
    pub source: SourceStatus,
    /// For sync groups: skew of each emitted set, ns.
    pub skew: Histogram,
    /// For analyzers: from the frame's capture time to the start of its analysis (wall
    /// clock), ns: how old a frame is when an analyzer gets to it.
    pub capture_to_start: Histogram,
    /// For sinks that deliver asynchronously: their own counters and health.
    pub sink: std::sync::OnceLock<std::sync::Arc<SinkStatus>>,
}

impl NodeStats {
    /// Empty counters.
    pub fn new(name: Name, kind: NodeKind) -> Self {
        Self {
            name,
            kind,
            received: AtomicU64::new(0),
            processed: AtomicU64::new(0),
            emitted: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            skipped: Default::default(),
            latency: Histogram::new(),
            end_to_end: Histogram::new(),
            last_error: Mutex::new(None),
            source: SourceStatus::default(),
            skew: Histogram::new(),
            capture_to_start: Histogram::new(),
            sink: std::sync::OnceLock::new(),
        }
    }

    /// Counts a skip.
    pub fn skip(&self, why: SkipReason) {
        self.skipped[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Skips for one reason.
    pub fn skipped(&self, why: SkipReason) -> u64 {
        self.skipped[why as usize].load(Ordering::Relaxed)
    }

    /// Records an error; returns how many errors this node has had.
    pub fn error(&self, message: String) -> u64 {
        *self.last_error.lock() = Some(message);
        self.errors.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A serializable snapshot.
    pub fn snapshot(&self) -> NodeReport {
        NodeReport {
            name: self.name.clone(),
            kind: self.kind,
            received: self.received.load(Ordering::Relaxed),
            processed: self.processed.load(Ordering::Relaxed),
            emitted: self.emitted.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            skipped: SkipReason::ALL
                .iter()
                .map(|r| (r.as_str(), self.skipped(*r)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            latency: LatencySummary::of(&self.latency),
            end_to_end: (self.end_to_end.count() > 0).then(|| LatencySummary::of(&self.end_to_end)),
            last_error: self.last_error.lock().clone(),
            source: (self.kind == NodeKind::Source).then(|| SourceReport {
                state: self.source.state(),
                reconnects: self.source.reconnects.load(Ordering::Relaxed),
                failures: self.source.failures.load(Ordering::Relaxed),
                capture_clock: self.source.capture_clock().as_str(),
                recovery: (self.source.recovery.count() > 0)
                    .then(|| LatencySummary::of(&self.source.recovery)),
            }),
            skew: (self.skew.count() > 0).then(|| LatencySummary::of(&self.skew)),
            capture_to_start: (self.capture_to_start.count() > 0)
                .then(|| LatencySummary::of(&self.capture_to_start)),
            delivery: self.sink.get().map(|s| DeliveryReport::of(s)),
        }
    }
}

/// Quantiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
}

impl LatencySummary {
    /// Summarises a histogram of nanoseconds.
    pub fn of(h: &Histogram) -> Self {
        let ms = |ns: u64| (ns as f64 / 1e3).round() / 1e3;
        Self {
            count: h.count(),
            p50_ms: ms(h.quantile(0.5)),
            p99_ms: ms(h.quantile(0.99)),
            max_ms: ms(h.max()),
            mean_ms: (h.mean() / 1e3).round() / 1e3,
        }
    }
}

/// A node's counters at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// Node name.
    pub name: Name,
    /// Node kind.
    pub kind: NodeKind,
    /// Items received.
    pub received: u64,
    /// Items processed.
    pub processed: u64,
    /// Items emitted.
    pub emitted: u64,
    /// Failures.
    pub errors: u64,
    /// Skips by reason (only non-zero ones).
    pub skipped: Vec<(&'static str, u64)>,
    /// Processing time per item.
    pub latency: LatencySummary,
    /// For sinks: pipeline arrival to write.
    pub end_to_end: Option<LatencySummary>,
    /// The most recent error.
    pub last_error: Option<String>,
    /// For sources: state, reconnections, capture clock, recovery times.
    pub source: Option<SourceReport>,
    /// For sync groups: skew of emitted sets.
    pub skew: Option<LatencySummary>,
    /// For analyzers: frame capture to analysis start.
    pub capture_to_start: Option<LatencySummary>,
    /// For sinks that deliver asynchronously (brokers, sockets, webhooks).
    pub delivery: Option<DeliveryReport>,
}

/// A sink's delivery counters and health at one moment (see [`SinkStatus`]).
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryReport {
    /// `starting`, `healthy`, `retrying` or `failing`.
    pub health: &'static str,
    /// Records delivered.
    pub sent: u64,
    /// Records given up on.
    pub failed: u64,
    /// Records dropped by the sink's queue (overflow, or left at the end of the run).
    pub dropped: u64,
    /// Records the sink chose not to send (rate limit).
    pub skipped: u64,
    /// Attempts retried.
    pub retries: u64,
    /// Records waiting now.
    pub queued: u64,
    /// Connected clients (WebSocket).
    pub peers: u64,
    /// From the write to delivery.
    pub latency: Option<LatencySummary>,
    /// The last delivery error.
    pub last_error: Option<String>,
}

impl DeliveryReport {
    /// A snapshot of `s`.
    pub fn of(s: &SinkStatus) -> Self {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Self {
            health: s.health().as_str(),
            sent: n(&s.sent),
            failed: n(&s.failed),
            dropped: n(&s.dropped),
            skipped: n(&s.skipped),
            retries: n(&s.retries),
            queued: n(&s.queued),
            peers: n(&s.peers),
            latency: (s.latency.count() > 0).then(|| LatencySummary::of(&s.latency)),
            last_error: s.last_error(),
        }
    }
}

/// A source's connection status at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    /// Current state.
    pub state: SourceState,
    /// Successful reconnections.
    pub reconnects: u64,
    /// Failed connection attempts and stalls.
    pub failures: u64,
    /// Where capture times come from.
    pub capture_clock: &'static str,
    /// From a failure to the next frame.
    pub recovery: Option<LatencySummary>,
}

impl NodeReport {
    /// Total skips.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().map(|(_, n)| n).sum()
    }
}

/// An edge's counters at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeReport {
    /// Producer.
    pub from: Name,
    /// Consumer.
    pub to: Name,
    /// Declared behaviour (`realtime`, `durable(8, block)`, ...).
    pub spec: String,
    /// Items pushed.
    pub pushed: u64,
    /// Items delivered.
    pub delivered: u64,
    /// Dropped: replaced by a newer item (realtime).
    pub replaced: u64,
    /// Dropped: edge full (drop-oldest).
    pub overflow: u64,
    /// Discarded at an early stop.
    pub discarded: u64,
    /// Largest depth seen.
    pub max_depth: u64,
    /// Time items waited.
    pub queue_age: LatencySummary,
}

/// Everything measured during a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Wall time of the run, seconds.
    pub elapsed_secs: f64,
    /// Per node.
    pub nodes: Vec<NodeReport>,
    /// Per edge.
    pub edges: Vec<EdgeReport>,
    /// Events emitted (start and end records).
    pub events: u64,
    /// Pixel buffers allocated and copied during the run.
    pub buffers: BufferReport,
    /// The error that stopped the run early, if any.
    pub error: Option<String>,
}

/// Buffer counters over a run.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct BufferReport {
    /// Fresh pixel storages.
    pub allocated: u64,
    /// Pool reuses.
    pub reused: u64,
    /// Pixel copies.
    pub copies: u64,
}

impl RunReport {
    /// The report of the node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeReport> {
        self.nodes.iter().find(|n| n.name.as_str() == name)
    }

    /// Human-readable summary table.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<10} {:<16} {:>8} {:>9} {:>8} {:>7} {:>9} {:>9}",
            "kind", "stage", "in", "processed", "dropped", "errors", "p50 ms", "p99 ms"
        );
        for n in &self.nodes {
            let dropped_in: u64 = self
                .edges
                .iter()
                .filter(|e| e.to == n.name)
                .map(|e| e.replaced + e.overflow)
                .sum();
            let _ = writeln!(
                s,
                "{:<10} {:<16} {:>8} {:>9} {:>8} {:>7} {:>9.2} {:>9.2}",
                n.kind.to_string(),
                n.name.as_str(),
                n.received + dropped_in,
                n.processed,
                dropped_in + n.skipped_total(),
                n.errors,
                n.latency.p50_ms,
                n.latency.p99_ms
            );
            for (why, k) in &n.skipped {
                let _ = writeln!(s, "{:<27} skipped ({why}): {k}", "");
            }
            if dropped_in > 0 {
                let _ = writeln!(s, "{:<27} dropped by queue: {dropped_in}", "");
            }
            if let Some(src) = &n.source
                && (src.reconnects > 0 || src.failures > 0 || src.capture_clock != "media")
            {
                let _ = writeln!(
                    s,
                    "{:<27} {}, capture clock {}, {} failures, {} reconnects",
                    "",
                    src.state.as_str(),
                    src.capture_clock,
                    src.failures,
                    src.reconnects
                );
            }
            if let Some(sk) = &n.skew {
                let _ = writeln!(
                    s,
                    "{:<27} skew p50 {:.2} ms, p99 {:.2} ms",
                    "", sk.p50_ms, sk.p99_ms
                );
            }
            if let Some(e2e) = &n.end_to_end {
                let _ = writeln!(
                    s,
                    "{:<27} arrival->write p50 {:.2} ms, p99 {:.2} ms",
                    "", e2e.p50_ms, e2e.p99_ms
                );
            }
            if let Some(d) = &n.delivery {
                let _ = write!(
                    s,
                    "{:<27} {}: sent {}, failed {}, dropped {}, skipped {}, retries {}",
                    "", d.health, d.sent, d.failed, d.dropped, d.skipped, d.retries
                );
                if d.peers > 0 {
                    let _ = write!(s, ", {} clients", d.peers);
                }
                if let Some(l) = &d.latency {
                    let _ = write!(s, ", delivery p99 {:.2} ms", l.p99_ms);
                }
                let _ = writeln!(s);
                if let Some(e) = d.last_error.as_ref().filter(|_| d.health != "healthy") {
                    let _ = writeln!(s, "{:<27} last error: {e}", "");
                }
            }
        }
        let _ = writeln!(
            s,
            "events: {}   elapsed: {:.2} s   pixel copies: {}",
            self.events, self.elapsed_secs, self.buffers.copies
        );
        if let Some(e) = &self.error {
            let _ = writeln!(s, "stopped by error: {e}");
        }
        s
    }
}
