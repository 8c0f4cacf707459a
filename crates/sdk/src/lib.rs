//! The component SDK: what a source, an analyzer or a sink must implement.
//!
//! This crate holds only traits and the small types they exchange, and re-exports the
//! data model from `visualpath-core`, so that component authors depend on one small,
//! slow-moving crate (as `tracing-core` is to `tracing`). The runtime that drives
//! components lives in `visualpath-runtime`.
//!
//! - A [`Source`] produces frames on its own thread ([`Source::next_frame`] may block).
//! - An [`AnalyzerFactory`] creates one [`Analyzer`] per source it is applied to, so
//!   per-camera state (a previous frame, a tracker) is never shared; shared resources
//!   (a model session) live in the factory and are handed to each instance.
//! - A [`Fusion`] turns observations into [`Event`]s.
//! - A [`Sink`] receives [`Record`]s on its own thread.
//!
//! Components never sleep to pace themselves and never spawn unbounded queues; pacing,
//! queues, drops and timeouts are the runtime's job.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use visualpath_core as core;
pub use visualpath_core::{
    BBox, CaptureClock, ClipWindow, Clock, Detection, Event, EventPhase, Face, Frame, Image,
    Keypoint, Name, Observation, ObservationData, PixelBuffer, PixelFormat, Pose, Record, Region,
    SharedClock, SyncSet, Track, Values,
};

/// An error from a component, for users: one line that says what failed and, where
/// possible, what would be valid. The runtime adds the camera, stage and frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ComponentError {
    /// The message.
    pub message: String,
    /// Whether trying again later may succeed (a camera that dropped, a broker that is
    /// restarting) as opposed to a permanent problem (a missing file, a bad model).
    pub transient: bool,
    /// A transient error because a live source stopped delivering (a frozen stream), as
    /// opposed to failing to connect: the runtime reports the camera as `stalled`.
    pub stalled: bool,
}

impl ComponentError {
    /// A permanent error.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: false,
            stalled: false,
        }
    }

    /// An error that may go away if retried.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: true,
            stalled: false,
        }
    }

    /// A live source stopped delivering frames (retried like a transient error).
    pub fn stalled(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: true,
            stalled: true,
        }
    }
}

/// Result type of component calls.
pub type Result<T, E = ComponentError> = std::result::Result<T, E>;

/// What a source knows about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceInfo {
    /// The source's name in the pipeline.
    pub name: Name,
    /// Its kind (`file`, `images`, `synthetic`, `rtsp`, ...).
    pub kind: &'static str,
    /// Where it reads from, with any credentials removed (safe to log).
    pub location: String,
    /// Frame width when known before the first frame.
    pub width: Option<u32>,
    /// Frame height when known before the first frame.
    pub height: Option<u32>,
    /// Nominal frame rate when known.
    pub fps: Option<f64>,
    /// Number of frames when known (files).
    pub frame_count: Option<u64>,
    /// Whether frames arrive in real time (cameras) rather than as fast as they can be
    /// read (files).
    pub live: bool,
}

impl SourceInfo {
    /// Info with only a name and a kind.
    pub fn new(name: Name, kind: &'static str) -> Self {
        Self {
            name,
            kind,
            location: String::new(),
            width: None,
            height: None,
            fps: None,
            frame_count: None,
            live: false,
        }
    }
}

/// What [`Source::next_frame`] returns.
#[derive(Debug)]
pub enum Poll {
    /// A frame.
    Frame(Frame),
    /// The stream has ended (end of file). The source will not be called again unless
    /// the runtime loops it with [`Source::rewind`].
    Eos,
}

/// Asks a source to stop. Cloning shares the flag; set once, it stays set.
#[derive(Clone, Debug, Default)]
pub struct StopToken(Arc<std::sync::atomic::AtomicBool>);

impl StopToken {
    /// A token that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the token (from any thread).
    pub fn stop(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether it is set.
    pub fn is_stopped(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Everything a source needs from the runtime.
#[derive(Clone, Debug)]
pub struct SourceContext {
    /// The pipeline clock: `arrival_ns` is `clock.mono_ns()` when a frame is produced,
    /// and capture times are on `clock.wall_ns()`'s timeline.
    pub clock: SharedClock,
    /// Set when the source must stop (removed, pipeline stopping). A source that blocks
    /// (network, device) should check it while waiting and return [`Poll::Eos`] soon
    /// after it is set.
    pub stop: StopToken,
}

impl SourceContext {
    /// A context on `clock` with a fresh stop token.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            stop: StopToken::new(),
        }
    }
}

/// A producer of frames: a file, a folder of images, a camera.
///
/// The runtime calls [`Source::next_frame`] in a loop on a dedicated thread. `seq`
/// numbers must start at 0 and increase by one per decoded frame, including across a
/// [`Source::rewind`].
pub trait Source: Send {
    /// What the source knows about itself.
    fn info(&self) -> &SourceInfo;

    /// Produces the next frame, blocking until it is available.
    fn next_frame(&mut self, cx: &SourceContext) -> Result<Poll>;

    /// Starts again from the beginning (for looping files). The default says the source
    /// cannot loop.
    fn rewind(&mut self) -> Result<()> {
        Err(ComponentError::new(format!(
            "source `{}` ({}) cannot loop",
            self.info().name,
            self.info().kind
        )))
    }
}

/// The observations already made on a frame by the analyzers an analyzer runs after.
#[derive(Clone, Copy, Debug, Default)]
pub struct Upstream<'a> {
    observations: &'a [Arc<Observation>],
}

impl<'a> Upstream<'a> {
    /// Wraps a slice of observations.
    pub fn new(observations: &'a [Arc<Observation>]) -> Self {
        Self { observations }
    }

    /// The observation made by `analyzer` on this frame, if it ran.
    pub fn get(&self, analyzer: &str) -> Option<&'a Observation> {
        self.observations
            .iter()
            .rev()
            .find(|o| o.analyzer.as_str() == analyzer)
            .map(|o| &**o)
    }

    /// All upstream observations.
    pub fn iter(&self) -> impl Iterator<Item = &'a Observation> {
        self.observations.iter().map(|o| &**o)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty()
    }
}

/// Per-source analysis state.
pub trait Analyzer: Send {
    /// Analyzes one frame. Returning an error applies the analyzer's error policy
    /// (skip the frame by default); it never stops other analyzers or cameras.
    fn analyze(&mut self, frame: &Frame, upstream: Upstream<'_>) -> Result<ObservationData>;

    /// The source's stream was interrupted (loop, reconnect): forget state that links
    /// consecutive frames (previous frame, tracks).
    fn reset(&mut self) {}
}

/// Creates an [`Analyzer`] for each source it is applied to.
pub trait AnalyzerFactory: Send + Sync {
    /// A short description for logs and `visualpath graph` (e.g. `motion (threshold 0.02)`).
    fn describe(&self) -> String;

    /// Creates the analyzer state for one source.
    fn create(&self, source: &SourceInfo) -> Result<Box<dyn Analyzer>>;
}

/// Turns observations into events. The built-in implementation evaluates the declarative
/// rules of a pipeline file; implement this for fusion logic rules cannot express.
///
/// Observations of one source arrive in frame order per analyzer (analyzers may
/// interleave). Implementations should be plain synchronous code driven only by the
/// observations' capture times, so they are deterministic and testable.
pub trait Fusion: Send {
    /// Handles one observation; appends any events it decides to `out`.
    fn observe(&mut self, observation: &Observation, out: &mut Vec<Event>);

    /// The source has ended: close whatever is open for it (end active events).
    fn finish_source(&mut self, _source: &Name, _out: &mut Vec<Event>) {}
}

/// A consumer of records: a file, a socket, a broker, a callback.
///
/// The runtime calls it from a dedicated thread, through a bounded queue whose overflow
/// policy is configured per edge. Network sinks do their I/O on a delivery thread of
/// their own behind a second bounded queue (`visualpath_sinks::Outbox`), so `write`
/// returns at once and a broker that is down never slows the pipeline; they expose
/// their counters and health through [`Sink::status`].
pub trait Sink: Send {
    /// Writes one record.
    fn write(&mut self, record: &Record) -> Result<()>;

    /// Makes written records durable/visible (called at least at the end of the run).
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// Delivery counters and health, for sinks that deliver asynchronously.
    fn status(&self) -> Option<Arc<SinkStatus>> {
        None
    }
}

/// The health of a sink's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SinkHealth {
    /// Nothing delivered yet.
    Starting = 0,
    /// The last delivery succeeded.
    Healthy = 1,
    /// The last attempt failed with an error that may go away (a broker restarting); the
    /// record is being retried with backoff.
    Retrying = 2,
    /// The last record failed for good (retries exhausted or a permanent error).
    Failing = 3,
}

impl SinkHealth {
    /// The name used in reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Retrying => "retrying",
            Self::Failing => "failing",
        }
    }
}

/// Counters and health of a sink, shared between its delivery thread and the runtime's
/// reports. Every record handed to the sink ends in exactly one of `sent`, `failed`,
/// `dropped` and `skipped` (or is still `queued`).
#[derive(Debug, Default)]
pub struct SinkStatus {
    /// Records delivered (acknowledged where the protocol acknowledges).
    pub sent: AtomicU64,
    /// Records given up on: a permanent error or the retry budget spent.
    pub failed: AtomicU64,
    /// Records dropped by the queue's overflow policy, or left when the run ended and
    /// the drain timeout passed.
    pub dropped: AtomicU64,
    /// Records the sink chose not to send (rate limit, nothing to send for this kind).
    pub skipped: AtomicU64,
    /// Failed attempts that were retried.
    pub retries: AtomicU64,
    /// Records waiting in the queue now.
    pub queued: AtomicU64,
    /// Connected peers, for sinks that serve clients (WebSocket).
    pub peers: AtomicU64,
    /// From `write` to delivered, ns.
    pub latency: core::Histogram,
    health: std::sync::atomic::AtomicU8,
    last_error: std::sync::Mutex<Option<String>>,
}

impl SinkStatus {
    /// A new, shareable status.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The current health.
    pub fn health(&self) -> SinkHealth {
        match self.health.load(Ordering::Relaxed) {
            1 => SinkHealth::Healthy,
            2 => SinkHealth::Retrying,
            3 => SinkHealth::Failing,
            _ => SinkHealth::Starting,
        }
    }

    /// Sets the health.
    pub fn set_health(&self, h: SinkHealth) {
        self.health.store(h as u8, Ordering::Relaxed);
    }

    /// The last error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records an error.
    pub fn set_error(&self, message: impl Into<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.into());
    }

    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for dyn Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn Sink")
    }
}

impl fmt::Debug for dyn Analyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn Analyzer")
    }
}

impl fmt::Debug for dyn Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({:?})", self.info().name)
    }
}
