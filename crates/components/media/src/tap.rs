//! Packet taps: copies of a source's compressed video packets for other components (the
//! clip recorder keeps them in a ring buffer and remuxes them into MP4 around events).
//!
//! A [`PacketTaps`] registry is shared by the sources and the consumers of one pipeline:
//! each FFmpeg-based source gets a [`PacketTap`] for its name
//! ([`PacketTaps::tap`]), and consumers [`PacketTaps::register`] themselves (before or
//! after the sources were created). A source with a tap reports, from its own thread:
//! - [`PacketConsumer::stream_start`] when a stream (re)starts, just before its first
//!   packet: a connection opened, or a file rewound for a loop; it carries the codec
//!   parameters a muxer needs. Everything before it belongs to an older stream, and a
//!   consumer registered after it sees that source from its next stream start;
//! - [`PacketConsumer::packet`] for every packet of the decoded video stream, before it
//!   is decoded (the payload is copied once into an `Arc<[u8]>`, shared by consumers);
//! - [`PacketConsumer::frame`] for every picture it emits, mapping stream time to capture
//!   time (so consumers can place packets on the capture-time axis);
//! - [`PacketConsumer::stream_end`] when the stream ends (end of file, lost connection).
//!
//! Consumers must return quickly and never block: they run on the source's thread.
//! With no consumer registered, a tap costs one uncontended read lock per packet and
//! copies nothing.

use std::fmt;
use std::sync::{Arc, RwLock};

use ffmpeg_next as ffmpeg;
use visualpath_core::Name;

/// The video stream a source is about to send packets of.
pub struct TapStream {
    /// The codec parameters (codec, size, extradata), owned (a copy).
    pub parameters: ffmpeg::codec::Parameters,
    /// Time base of the packets' `pts`/`dts`/`duration`.
    pub time_base: ffmpeg::Rational,
    /// Codec name (`h264`, `hevc`, `mpeg4`, ...).
    pub codec: &'static str,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Nominal duration of one frame, in nanoseconds.
    pub frame_duration_ns: i64,
}

impl fmt::Debug for TapStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapStream")
            .field("codec", &self.codec)
            .field("time_base", &self.time_base)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

/// One compressed video packet.
#[derive(Debug, Clone)]
pub struct TapPacket {
    /// The payload.
    pub data: Arc<[u8]>,
    /// Presentation timestamp in the stream's time base.
    pub pts: Option<i64>,
    /// Decoding timestamp in the stream's time base.
    pub dts: Option<i64>,
    /// Duration in the stream's time base (`0` when unknown).
    pub duration: i64,
    /// Whether the packet is a keyframe (decoding can start here).
    pub key: bool,
    /// `pts` (or `dts` when there is no `pts`) in nanoseconds from the stream's start:
    /// the same origin as the `pts_ns` of decoded frames, so
    /// [`PacketConsumer::frame`]'s mapping applies. `None` without either timestamp.
    pub pts_ns: Option<i64>,
    /// `dts` (or `pts`) in nanoseconds from the stream's start; increases in decoding
    /// order for well-formed streams.
    pub dts_ns: Option<i64>,
}

/// A consumer of packets (see the module docs for when each method is called). All
/// methods run on a source's thread and must not block.
pub trait PacketConsumer: Send + Sync {
    /// A new stream starts on `source`.
    fn stream_start(&self, source: &Name, stream: &TapStream);
    /// A packet of the current stream.
    fn packet(&self, source: &Name, packet: &TapPacket);
    /// A picture with stream time `pts_ns` got capture time `capture_time_ns`.
    fn frame(&self, source: &Name, pts_ns: i64, capture_time_ns: i64);
    /// The current stream ended.
    fn stream_end(&self, source: &Name);
}

/// The registry shared by the sources and packet consumers of a pipeline (cheap to
/// clone; clones share the registry).
#[derive(Clone, Default)]
pub struct PacketTaps {
    consumers: Arc<RwLock<Vec<Arc<dyn PacketConsumer>>>>,
}

impl fmt::Debug for PacketTaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketTaps")
            .field("consumers", &self.len())
            .finish()
    }
}

impl PacketTaps {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a consumer; it receives what every tap of this registry reports from now on.
    pub fn register(&self, consumer: Arc<dyn PacketConsumer>) {
        self.consumers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(consumer);
    }

    /// Registered consumers.
    pub fn len(&self) -> usize {
        self.consumers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Whether no consumer is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tap a source named `source` reports through.
    pub fn tap(&self, source: Name) -> PacketTap {
        PacketTap {
            source,
            taps: self.clone(),
        }
    }
}

/// A source's handle on a [`PacketTaps`] registry.
#[derive(Clone, Debug)]
pub struct PacketTap {
    source: Name,
    taps: PacketTaps,
}

impl PacketTap {
    /// The source this tap reports for.
    pub fn source(&self) -> &Name {
        &self.source
    }

    /// Whether any consumer listens (when not, sources skip copying packets).
    pub fn active(&self) -> bool {
        !self.taps.is_empty()
    }

    fn each(&self, f: impl Fn(&dyn PacketConsumer)) {
        let consumers = self
            .taps
            .consumers
            .read()
            .unwrap_or_else(|e| e.into_inner());
        for c in consumers.iter() {
            f(c.as_ref());
        }
    }

    /// Reports a new stream.
    pub fn stream_start(&self, stream: &TapStream) {
        self.each(|c| c.stream_start(&self.source, stream));
    }

    /// Reports a packet.
    pub fn packet(&self, packet: &TapPacket) {
        self.each(|c| c.packet(&self.source, packet));
    }

    /// Reports a picture's stream time and capture time.
    pub fn frame(&self, pts_ns: i64, capture_time_ns: i64) {
        self.each(|c| c.frame(&self.source, pts_ns, capture_time_ns));
    }

    /// Reports the end of the stream.
    pub fn stream_end(&self) {
        self.each(|c| c.stream_end(&self.source));
    }
}
