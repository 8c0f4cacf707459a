//! visualpath sources: video files, RTSP and HTTP cameras and webcams (FFmpeg), image
//! folders and a synthetic test pattern, each implementing [`visualpath_sdk::Source`].
//!
//! | source | config | kind |
//! | --- | --- | --- |
//! | [`FileSource`] | [`FileSourceConfig`] | `file` |
//! | [`ImageFolderSource`] | [`ImageFolderConfig`] | `images` |
//! | [`SyntheticSource`] | [`SyntheticConfig`] | `synthetic` |
//! | [`LiveSource`] | [`RtspConfig`] | `rtsp` |
//! | [`LiveSource`] | [`HttpConfig`] | `http` |
//! | [`LiveSource`] | [`WebcamConfig`] | `webcam` |
//!
//! Every source emits packed RGB24 frames at the input's native size, from a
//! [`visualpath_core::BufferPool`], so steady-state operation allocates no pixel storage.
//! Sources produce frames as fast as they are asked; real-time pacing, frame limits and
//! looping decisions (`loop: true` makes the runtime call [`Source::rewind`] at the end)
//! belong to the runtime.
//!
//! Live sources (cameras, streams) connect lazily, reconnect from scratch on the call
//! after any error, can be stopped from another thread with a [`StopHandle`], and stamp
//! frames with RTCP or arrival times; see [`live`].
//!
//! Times follow one rule for every non-live source: capture time is the run's start
//! (the clock's wall time at the first `next_frame` call) plus media time, so a file
//! behaves like a camera that started when the run started. `arrival_ns` is the clock's
//! monotonic time when the frame is returned. Details per source are in each module.
//!
//! [`decode::VideoDecoder`] is the reusable FFmpeg core (demux, decode, convert) for
//! sources that read through FFmpeg. File and live sources can hand copies of their
//! compressed packets to other components through a [`tap::PacketTap`]
//! (`with_packet_tap`), e.g. for event clips.
//!
//! [`Source::rewind`]: visualpath_sdk::Source::rewind

#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod decode;
pub mod file;
pub mod images;
pub mod live;
pub mod synthetic;
pub mod tap;

pub use decode::{
    DecodeStep, DecodedFrame, DecoderOptions, StreamInfo, Threading, VideoDecoder, redact_location,
};
pub use file::{FileSource, FileSourceConfig, probe, source_name_from_path};
pub use images::{ImageFolderConfig, ImageFolderSource};
pub use live::{
    HttpConfig, LiveKind, LiveSource, RtspConfig, RtspTransport, StopHandle, WebcamConfig,
};
pub use synthetic::{SyntheticConfig, SyntheticSource, moves, object_boxes, synthetic_frame};
pub use tap::{PacketConsumer, PacketTap, PacketTaps, TapPacket, TapStream};
