//! Video files (and any input FFmpeg's demuxers open) as a [`Source`].
//!
//! # Frame fields
//! - `seq`: 0-based, one per decoded frame, continuing across [`Source::rewind`].
//! - `pts_ns`: the frame's stream time from the stream's start (see
//!   [`crate::decode`] for how missing timestamps are synthesized).
//! - `capture_time_ns`: for files, capture time is the run's start plus media time, so a
//!   file behaves like a camera that started when the run started. Precisely: the wall
//!   time (`cx.clock.wall_ns()`) at the first [`Source::next_frame`] call, plus the
//!   frame's `pts_ns` minus the first frame's `pts_ns`, plus a loop offset. After a
//!   rewind the offset is chosen so that the first frame of the new pass comes one
//!   nominal frame duration after the last frame of the previous pass. Capture times are
//!   strictly increasing: a frame whose timestamp does not advance (broken files) gets
//!   the previous capture time plus 1 ns.
//! - `arrival_ns`: `cx.clock.mono_ns()` when the frame is returned.
//!
//! The source decodes as fast as it is called; real-time pacing and frame limits are the
//! runtime's job.

use std::path::Path;

use serde::{Deserialize, Serialize};
use visualpath_core::Frame;
use visualpath_sdk::{ComponentError, Name, Poll, Source, SourceContext, SourceInfo};

use crate::decode::{DecoderOptions, VideoDecoder};
use crate::tap::PacketTap;

/// A video file read with FFmpeg.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Path of the video file (any container and codec FFmpeg reads: MP4, MKV, AVI, MOV,
    /// TS; H.264, HEVC, MPEG-4, MJPEG, VP9, ...). A URL FFmpeg opens (`http://...`) also
    /// works. Required.
    pub path: String,
    /// Start again from the beginning at the end of the file, forever. Frame numbers and
    /// capture times keep increasing across loops. Default `false`.
    #[serde(rename = "loop", default = "default_loop")]
    pub looping: bool,
    /// Decoder threads; `0` lets FFmpeg use one per core. Default `0`.
    #[serde(default = "default_threads")]
    pub threads: u32,
}

fn default_loop() -> bool {
    false
}

fn default_threads() -> u32 {
    0
}

impl Default for FileSourceConfig {
    fn default() -> Self {
        Self {
            path: String::new(),
            looping: default_loop(),
            threads: default_threads(),
        }
    }
}

impl FileSourceConfig {
    /// A config reading `path` with the defaults.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }

    /// Opens the file as a source named `name`.
    pub fn build(&self, name: Name) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(FileSource::open(name, self)?))
    }

    fn decoder_options(&self) -> DecoderOptions {
        DecoderOptions {
            threads: self.threads,
            ..DecoderOptions::default()
        }
    }
}

/// Turns media time into capture times: run start + media time + loop offset, strictly
/// increasing (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct MediaTimeline {
    start_wall_ns: Option<i64>,
    /// Added to `pts_ns` to get the time since the start; set at the first frame of each
    /// pass.
    offset_ns: Option<i64>,
    last_rel_ns: Option<i64>,
}

impl MediaTimeline {
    /// Records the run start (only the first call counts).
    pub(crate) fn start(&mut self, wall_ns: impl FnOnce() -> i64) -> i64 {
        *self.start_wall_ns.get_or_insert_with(wall_ns)
    }

    /// The next pass starts one `frame_duration_ns` after the last frame.
    pub(crate) fn new_pass(&mut self) {
        self.offset_ns = None;
    }

    /// Capture time of a frame with stream time `pts_ns`.
    pub(crate) fn capture_time(&mut self, pts_ns: i64, frame_duration_ns: i64) -> i64 {
        let start = self.start_wall_ns.unwrap_or(0);
        let offset = *self
            .offset_ns
            .get_or_insert_with(|| match self.last_rel_ns {
                None => pts_ns.saturating_neg(),
                Some(last) => last
                    .saturating_add(frame_duration_ns)
                    .saturating_sub(pts_ns),
            });
        let mut rel = pts_ns.saturating_add(offset);
        if let Some(last) = self.last_rel_ns
            && rel <= last
        {
            rel = last.saturating_add(1);
        }
        self.last_rel_ns = Some(rel);
        start.saturating_add(rel)
    }
}

/// A video file (or stream URL) decoded with FFmpeg. See the module docs for the frame
/// fields.
#[derive(Debug)]
pub struct FileSource {
    info: SourceInfo,
    decoder: VideoDecoder,
    seq: u64,
    timeline: MediaTimeline,
}

impl FileSource {
    /// Opens `config.path` as a source named `name`.
    pub fn open(name: Name, config: &FileSourceConfig) -> Result<Self, ComponentError> {
        let decoder = VideoDecoder::open(&config.path, config.decoder_options())?;
        let info = source_info(name, &decoder);
        Ok(Self {
            info,
            decoder,
            seq: 0,
            timeline: MediaTimeline::default(),
        })
    }

    /// Sends copies of the file's compressed video packets to `tap` (see [`crate::tap`]).
    pub fn with_packet_tap(mut self, tap: PacketTap) -> Self {
        self.decoder.set_packet_tap(Some(tap));
        self
    }

    /// Packets skipped because they could not be decoded, since opening.
    pub fn skipped_packets(&self) -> u64 {
        self.decoder.skipped_packets()
    }

    /// The underlying decoder.
    pub fn decoder(&self) -> &VideoDecoder {
        &self.decoder
    }
}

fn source_info(name: Name, decoder: &VideoDecoder) -> SourceInfo {
    let s = decoder.info();
    SourceInfo {
        name,
        kind: "file",
        location: decoder.location().to_owned(),
        width: (s.width > 0).then_some(s.width),
        height: (s.height > 0).then_some(s.height),
        fps: s.fps,
        frame_count: s.frame_count,
        live: false,
    }
}

impl Source for FileSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self, cx: &SourceContext) -> Result<Poll, ComponentError> {
        self.timeline.start(|| cx.clock.wall_ns());
        let Some(decoded) = self.decoder.next_frame()? else {
            return Ok(Poll::Eos);
        };
        let capture_time_ns = self
            .timeline
            .capture_time(decoded.pts_ns, self.decoder.info().frame_duration_ns);
        self.decoder.tap_frame(decoded.pts_ns, capture_time_ns);
        let frame = Frame {
            source: self.info.name.clone(),
            seq: self.seq,
            pts_ns: Some(decoded.pts_ns),
            capture_time_ns,
            arrival_ns: cx.clock.mono_ns(),
            capture_clock: visualpath_core::CaptureClock::Media,
            image: decoded.image,
        };
        self.seq += 1;
        Ok(Poll::Frame(frame))
    }

    fn rewind(&mut self) -> Result<(), ComponentError> {
        if self.decoder.frames_since_start() == 0 {
            return Err(ComponentError::new(format!(
                "cannot loop `{}`: it produced no frames",
                self.decoder.location()
            )));
        }
        self.decoder.seek_to_start()?;
        self.timeline.new_pass();
        Ok(())
    }
}

/// Opens `path` (a file or URL) and reports what it holds without decoding a frame.
///
/// The info's name is derived from the file name (letters, digits, `_` and `-` kept,
/// other characters replaced by `_`, prefixed with `v` when it does not start with a
/// letter), or `video` when nothing usable remains.
pub fn probe(path: impl AsRef<Path>) -> Result<SourceInfo, ComponentError> {
    let path = path.as_ref();
    let Some(url) = path.to_str() else {
        return Err(ComponentError::new(format!(
            "cannot open video file `{}`: the path is not valid UTF-8",
            path.display()
        )));
    };
    let decoder = VideoDecoder::open(url, DecoderOptions::default())?;
    Ok(source_info(source_name_from_path(path), &decoder))
}

/// A source name from a file path: its stem with characters a [`Name`] does not allow
/// replaced by `_`, prefixed with `v` if it does not start with a letter (`2024 cam.mkv` →
/// `v2024_cam`).
pub fn source_name_from_path(path: &Path) -> Name {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let mut s: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, 'v');
    }
    Name::new(&s).unwrap_or_else(|_| Name::from_static("video"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_is_start_plus_media_time_and_increases_across_passes() {
        let mut t = MediaTimeline::default();
        assert_eq!(t.start(|| 1_000), 1_000);
        assert_eq!(t.start(|| 5_000), 1_000, "only the first call counts");
        // The first pts is the origin even when it is not 0.
        assert_eq!(t.capture_time(500, 100), 1_000);
        assert_eq!(t.capture_time(600, 100), 1_100);
        assert_eq!(t.capture_time(700, 100), 1_200);
        t.new_pass();
        assert_eq!(t.capture_time(500, 100), 1_300);
        assert_eq!(t.capture_time(600, 100), 1_400);
        // Non-advancing timestamps still give increasing capture times.
        assert_eq!(t.capture_time(600, 100), 1_401);
        assert_eq!(t.capture_time(550, 100), 1_402);
        assert_eq!(t.capture_time(800, 100), 1_600);
    }

    #[test]
    fn names_from_paths() {
        assert_eq!(
            source_name_from_path(Path::new("/a/bikes.mp4")).as_str(),
            "bikes"
        );
        assert_eq!(
            source_name_from_path(Path::new("2024 cam.mkv")).as_str(),
            "v2024_cam"
        );
        assert_eq!(source_name_from_path(Path::new("")).as_str(), "v");
        let long = "a".repeat(100) + ".mp4";
        assert_eq!(source_name_from_path(Path::new(&long)).as_str().len(), 63);
    }
}
