//! Model-free analyzers for visualpath: `motion`, `frame_stats` and `scene_cut`.
//!
//! Each analyzer has a config type ([`MotionConfig`], [`FrameStatsConfig`],
//! [`SceneCutConfig`]) that deserialises from the pipeline file (unknown fields are
//! rejected), validates itself with one-line messages naming the field and its valid
//! range, describes itself (`motion (threshold 0.01, grid 4x3)`), and builds an
//! [`AnalyzerFactory`](visualpath_sdk::AnalyzerFactory) with `factory()`. The factory
//! creates one analyzer per source, so per-camera state (the previous frame, the last
//! cut) is never shared. An invalid config still yields a factory, whose `create`
//! returns the validation error: callers that want to fail early call `validate()`.
//!
//! # Design decisions
//!
//! - **One small working image.** All analyzers work on a grayscale image downscaled
//!   by box averaging to `width` pixels (default 160), made by [`gray::Downscaler`]:
//!   pure integer code, one pass over the source bytes, no allocation after the first
//!   frame. Results that are positions (motion regions) are mapped back to source pixels
//!   with [`gray::WorkImage::source_from_work`].
//! - **Pixel formats.** RGB24 and BGR24 are converted with integer BT.601 luma weights;
//!   GRAY8 is used as is; NV12 and YUV420P contribute their Y plane. The match over
//!   [`PixelFormat`](visualpath_sdk::PixelFormat) is exhaustive, so a new format added
//!   to the core is a compile error here rather than a silent misreading. Frames larger
//!   than [`gray::MAX_SOURCE_SIDE`] per side are rejected with a `ComponentError`.
//! - **Synchronous and deterministic.** No threads, no clocks, no floating point in the
//!   per-pixel loops; statistics are exact integer sums turned into ratios at the end,
//!   so the same frames always give the same values.
//! - **Stream boundaries.** `reset()` and a change of frame size both start a new
//!   stream: the first frame of a stream scores 0 in `motion` and `scene_cut`.
//!
//! See each module for the exact definition of every value and tag.

#![forbid(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod check;
pub mod frame_stats;
pub mod gray;
pub mod motion;
pub mod scene_cut;

pub use frame_stats::{FrameStats, FrameStatsConfig};
pub use motion::{MotionConfig, MotionZone};
pub use scene_cut::{LumaHistogram, SceneCutConfig};
