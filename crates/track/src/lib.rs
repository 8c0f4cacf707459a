//! Multi-object tracking for visualpath: identities that persist across frames, stable
//! slots `p1..pN`, polygon zones and counting lines.
//!
//! The pieces, bottom-up:
//!
//! - [`kalman`]: a constant-velocity Kalman filter on the box `(cx, cy, aspect, h)`, written
//!   as four decoupled 2x2 filters (exactly equivalent to ByteTrack's 8-D filter, see the
//!   module docs), with velocities in pixels per second of capture time.
//! - [`assign`]: minimum-cost linear assignment with a cost threshold, on sparse candidate
//!   pairs found with a uniform grid over the boxes, split into connected components that
//!   are solved exactly (Hungarian algorithm, shortest augmenting paths).
//! - [`bytetrack`] ([`ByteTrack`]) and [`sort`] ([`Sort`]): the two trackers, behind the
//!   [`Tracker`] trait. ByteTrack's settings carry the names of Ultralytics' tracker YAML.
//! - [`slots`] ([`Slots`]): stable slot numbers on top of any tracker, with re-entry.
//! - [`zones`] ([`Regions`]): zone counts and dwell times, line crossings and rates.
//! - [`metrics`]: identity switches and slot switches against ground truth.
//! - [`TrackConfig`]: the `track` analyzer of pipeline files ([`analyzer`]), which chains
//!   all of the above on the detections of an upstream analyzer and reports `count`,
//!   `slots_used`, `zone.<name>.count`, `zone.<name>.max_dwell_s`, `zone.<name>.entered`,
//!   `zone.<name>.exited`, `line.<name>.in`, `line.<name>.out` and
//!   `line.<name>.per_minute` for fusion rules (`people.zone.door.count >= 3`).
//!
//! Used from Rust, a tracker and slots (the analyzer adds zones, lines and values):
//!
//! ```
//! use visualpath_core::{BBox, Detection};
//! use visualpath_track::{ByteTrack, ByteTrackConfig, FrameTime, Slots, Tracker, TrackerOptions};
//!
//! let mut tracker = ByteTrack::new(ByteTrackConfig::default(), TrackerOptions::default())?;
//! let mut slots = Slots::new(10, 2_000_000_000);
//! for k in 0..3u64 {
//!     let x = 100.0 + 3.0 * k as f32;
//!     let det = Detection {
//!         class: "person".into(),
//!         class_id: 1,
//!         score: 0.9,
//!         bbox: BBox::new(x, 50.0, x + 40.0, 150.0),
//!     };
//!     let frame = FrameTime::new(k, k as i64 * 33_333_333);
//!     let mut tracks = tracker.update(frame, &[det]).to_vec();
//!     slots.assign(frame, &mut tracks, tracker.ended());
//!     // Confirmed on its second detection, in slot p1.
//!     assert_eq!(tracks.len(), if k == 0 { 0 } else { 1 });
//!     assert!(tracks.iter().all(|t| t.id == 1 && t.slot == Some(1)));
//! }
//! # Ok::<(), visualpath_track::ConfigError>(())
//! ```
//!
//! # Time
//!
//! Everything here is pure and synchronous: no threads, no clock reads. Time comes from the
//! frames ([`FrameTime`]: `seq` and `capture_time_ns`) through a [`StreamClock`], which
//! turns capture times into a monotonic stream time. While capture times increase, stream
//! time *is* the capture time, so irregular frames get their true time steps. A frame
//! whose capture time does not increase (a stale or duplicated timestamp, a clock stepped
//! back) is placed `max(1, seq delta)` measured frame intervals (initially 1/30 s) after
//! the previous one, and later frames follow their capture times again. Every duration in
//! this crate (Kalman time steps, ByteTrack's lost-track buffer, slot grace, zone dwell,
//! the per-minute window) is measured on stream time.
//!
//! # Classes
//!
//! By default a detection only continues a track of the same `class_id`
//! ([`TrackerOptions::class_aware`]): a person never becomes a car, and a car next to a
//! person never takes its id. Turning it off gives Ultralytics' behaviour (match across
//! classes, the track takes its latest detection's class), useful for detectors that
//! hesitate between similar classes.
//!
//! # Identities
//!
//! Track ids are `u64` values from a counter that wraps at `id_space` (default 1,000,000;
//! ids are `1..id_space`), skipping ids still held by live tracks ([`IdAllocator`]). An id
//! is given when a track is *confirmed*, so tentative tracks that die never use up ids and
//! the ids users see follow each other in order of confirmation. Every container (tracks, lost tracks, id set, slot
//! bookkeeping, zone memberships, line windows) has a hard bound, see [`MAX_TRACKS`].

#![forbid(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod analyzer;
pub mod assign;
pub mod bytetrack;
mod clock;
pub mod config;
mod ids;
pub mod kalman;
pub mod metrics;
pub mod slots;
pub mod sort;
mod tracklet;
pub mod zones;

pub use analyzer::TrackAnalyzer;
pub use bytetrack::{ByteTrack, ByteTrackConfig};
pub use clock::{DEFAULT_FRAME_INTERVAL_NS, FrameTime, StreamClock};
pub use config::{TrackConfig, TrackerConfig};
pub use ids::IdAllocator;
pub use slots::Slots;
pub use sort::{Sort, SortConfig};
pub use zones::{Anchor, LineConfig, LineStats, Regions, ZoneConfig, ZoneStats};

use visualpath_core::{Detection, Track};

/// Most tracks (tentative, tracked and lost) one tracker holds. When a new track would
/// exceed it, the lost track unmatched for the longest time is dropped first; when there
/// is none, the detection does not start a track. Far above any real scene (a crowd of
/// 500 people uses about 600), it only bounds memory against a broken detector.
pub const MAX_TRACKS: usize = 4096;

/// The analyzer kind, as written in pipeline files.
pub const KIND: &str = "track";

/// A configuration error: one line naming the setting and what would be valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Settings shared by every tracker (not specific to one algorithm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerOptions {
    /// Whether a detection can only continue a track of the same `class_id` (a person never
    /// continues a car). When `false`, classes are ignored in matching and a track takes
    /// the class of its latest detection (Ultralytics' behaviour).
    pub class_aware: bool,
    /// Ids are `1..id_space`; see [`IdAllocator`].
    pub id_space: u64,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            class_aware: true,
            id_space: config::DEFAULT_ID_SPACE,
        }
    }
}

/// A multi-object tracker: turns per-frame detections into tracks with identities.
///
/// Call exactly one of [`Tracker::update`] (the detector ran on this frame, even if it
/// found nothing) or [`Tracker::predict`] (it did not run) per frame, in frame order. Both
/// return the *confirmed* tracks visible on this frame; tentative tracks never appear.
pub trait Tracker: Send {
    /// Advances to `frame` and associates `detections` (boxes in source pixels) with the
    /// tracks. Detections whose box or score is not finite, or whose box has no area, are
    /// ignored. Returns the confirmed tracks matched on this frame (`lost == 0`).
    fn update(&mut self, frame: FrameTime, detections: &[Detection]) -> &[Track];

    /// Advances to `frame`, on which the detector did not run: the filters move every
    /// track by its velocity and ages it, and the confirmed tracks that were visible at the
    /// last update are returned with their predicted boxes (`lost` counts the frames since
    /// their last match). This is how "detect every 3rd frame, track in between" works.
    fn predict(&mut self, frame: FrameTime) -> &[Track];

    /// Confirmed tracks that ended during the last `update`/`predict` call, each with its
    /// last matched box. Slots and zones use it to release what the track held.
    fn ended(&self) -> &[Track];

    /// Number of tracks held, tentative and lost ones included (at most [`MAX_TRACKS`]).
    fn live_tracks(&self) -> usize;

    /// Forgets every track (a new stream). The id counter keeps running, so an id never
    /// names two objects of one output shortly after each other.
    fn reset(&mut self);
}
