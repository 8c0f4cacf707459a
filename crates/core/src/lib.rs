//! The visualpath data model.
//!
//! Everything that flows through a pipeline is defined here, with no I/O and no async
//! runtime, so that every other crate (pure cores such as fusion and synchronizers, the
//! runtime, the components) shares one vocabulary:
//!
//! - [`Frame`]: pixels behind a reference-counted immutable [`PixelBuffer`] plus the
//!   frame's identity (`source`, `seq`) and times (`pts`, `capture_time_ns`, `arrival_ns`).
//!   Cloning a frame never copies pixels; writers must call [`PixelBuffer::make_mut`],
//!   which copies only when the buffer is shared, and every copy is counted
//!   ([`buffer::stats`]).
//! - [`Observation`]: what one analyzer says about one frame.
//! - [`Event`]: what a fusion rule decides, with a clip window.
//! - [`Record`]: the JSON shape of observations, events and sync sets in every output
//!   (documented in `docs/ref/jsonl.md`).
//! - [`Clock`]: injected time, so that time-dependent cores are deterministic in tests.
//! - [`Histogram`]: lock-free latency histogram used for per-stage statistics.
//!
//! Coordinates are in pixels of the source frame unless a name says otherwise.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod buffer;
pub mod duration;
pub mod error;
pub mod event;
pub mod frame;
pub mod histogram;
pub mod name;
pub mod observation;
pub mod record;
pub mod time;

pub use buffer::{BufferPool, PixelBuffer};
pub use duration::HumanDuration;
pub use error::{ErrorContext, StageError};
pub use event::{ClipWindow, Event, EventPhase};
pub use frame::{CaptureClock, Frame, Image, PixelFormat};
pub use histogram::Histogram;
pub use name::{Name, NameError};
pub use observation::{
    BBox, Detection, Face, Keypoint, Observation, ObservationData, Pose, Region, Timing, Track,
    Values,
};
pub use record::{Record, SyncMember, SyncSet};
pub use time::{Clock, ManualClock, SharedClock, SystemClock};
