//! The FFmpeg core shared by every FFmpeg-based source: demux, decode, convert.
//!
//! [`VideoDecoder`] opens anything FFmpeg's demuxers open (a file path or a URL), picks
//! the best video stream that has a decoder, decodes it with FFmpeg's frame threading
//! and converts every picture to packed RGB24 at its native size with swscale. It knows
//! nothing about pipelines, names or clocks, so the file source and the live sources
//! ([`crate::live`]) share it: the live sources open the input themselves (with an
//! interrupt callback and protocol options) and hand it to [`VideoDecoder::from_input`],
//! read through [`VideoDecoder::poll_frame`] (which reports a non-blocking input that has
//! nothing yet instead of ending the stream), and reconnect by dropping the decoder.
//!
//! # Decisions
//! - **Pixel storage.** swscale writes into one staging `AVFrame` owned by the decoder
//!   (allocated once per picture size), and each picture is then copied row by row into
//!   a buffer from a [`BufferPool`], which drops the staging frame's row padding. In a
//!   steady state no pixel storage is allocated: a frame's buffer returns to the pool
//!   when the last consumer drops it. (Scaling straight into pooled memory would need
//!   `unsafe` pointer plumbing, which this workspace denies; the copy costs well under a
//!   millisecond for SD video.)
//! - **Scaler contexts live in a thread-local cache.** `ffmpeg-next` does not mark its
//!   swscale context `Send`, but a [`Source`](visualpath_sdk::Source) must be. A scaler holds no
//!   state between calls, so each thread keeps a few contexts keyed by input format and
//!   size ([`SCALER_CACHE`] entries, least recently used evicted) and the decoder itself
//!   stays `Send`.
//! - **Timestamps.** `pts_ns` is the frame's best-effort timestamp (FFmpeg's guess from
//!   pts and dts) minus the stream's start time, converted with the stream time base.
//!   When a frame has none, it is the previous frame's plus one nominal frame duration
//!   (the first such frame gets 0), so timestamps exist for every frame.
//! - **Corrupt data.** A packet the demuxer or decoder rejects is skipped and counted
//!   ([`VideoDecoder::skipped_packets`]); decoding fails only after
//!   [`DecoderOptions::max_consecutive_errors`] failures in a row with no picture in
//!   between. Any other read error (I/O, a truncated file) ends the stream like an end
//!   of file: the decoder is drained, so every picture that can be decoded is returned,
//!   and then the stream ends. The error is kept in [`VideoDecoder::read_error`].
//! - **Colours.** swscale's defaults are used (BT.601 matrix for YUV input unless the
//!   pixel format says otherwise), bilinear chroma upsampling.
//! - **FFmpeg's own log** is silenced once per process ([`init`]): errors are reported
//!   through our one-line messages and counters instead of FFmpeg's stderr lines.
//! - **Unsafe code.** The workspace denies it; the single exception in this crate is
//!   the private `read_start_time_realtime`, a one-field read of
//!   `AVFormatContext.start_time_realtime` (the RTSP demuxer's RTCP wall-clock anchor),
//!   which `ffmpeg-next` does not expose. Its safety argument is next to it.
//! - **Credentials** never leave this module unredacted: every message and
//!   [`VideoDecoder::location`] use [`redact_location`].

use std::cell::RefCell;
use std::sync::{Arc, Once};

use ffmpeg::format::Pixel;
use ffmpeg::format::stream::Disposition;
use ffmpeg::software::scaling;
use ffmpeg::{Rational, codec, decoder, frame, media};
use ffmpeg_next as ffmpeg;
use visualpath_core::{BufferPool, Image, PixelFormat};
use visualpath_sdk::ComponentError;

use crate::tap::{PacketTap, TapPacket, TapStream};

/// FFmpeg's "no timestamp" marker (`AV_NOPTS_VALUE`).
const NO_PTS: i64 = i64::MIN;

/// Nominal frame duration assumed when a stream states no frame rate: 40 ms (25 fps).
pub const FALLBACK_FRAME_DURATION_NS: i64 = 40_000_000;

/// Scaler contexts kept per thread.
pub const SCALER_CACHE: usize = 4;

static INIT: Once = Once::new();

/// Initializes FFmpeg once per process and silences its log (idempotent, cheap after the
/// first call). Every constructor in this crate calls it. It registers libavdevice's
/// inputs (`video4linux2` for webcams).
pub fn init() {
    INIT.call_once(|| {
        // `init` only registers devices on FFmpeg >= 5 and cannot fail there.
        let _ = ffmpeg::init();
        // Already done by `init` when the binding's `device` feature is on; explicit so
        // webcams never depend on that detail (registering twice is harmless).
        ffmpeg::device::register_all();
        ffmpeg::log::set_level(ffmpeg::log::Level::Quiet);
    });
}

/// One step of [`VideoDecoder::poll_frame`].
#[derive(Debug)]
pub enum DecodeStep {
    /// A picture.
    Frame(DecodedFrame),
    /// The input is non-blocking and has no data yet (FFmpeg returned `EAGAIN`): call
    /// again later.
    Pending,
    /// The stream has ended (see [`VideoDecoder::read_error`] for why).
    End,
}

/// What [`VideoDecoder::feed`] did.
enum Fed {
    /// A packet went to the decoder, or draining started.
    Sent,
    /// A non-blocking input had nothing to read.
    WouldBlock,
}

/// How FFmpeg spreads decoding over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threading {
    /// Frame threading: several frames decode at once. Best throughput; adds up to one
    /// frame of latency per thread, which is fine for files.
    #[default]
    Frame,
    /// Slice threading: one frame at a time, split into slices (when the stream has
    /// several). No added latency; for live cameras.
    Slice,
}

/// Options of a [`VideoDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderOptions {
    /// Decoder threads; `0` lets FFmpeg choose (one per core), `1` disables threading.
    pub threads: u32,
    /// Threading kind.
    pub threading: Threading,
    /// Undecodable packets in a row (with no picture in between) after which decoding
    /// fails instead of skipping.
    pub max_consecutive_errors: u32,
    /// Idle pixel buffers the pool keeps for reuse.
    pub pool_size: usize,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            threading: Threading::Frame,
            max_consecutive_errors: 100,
            pool_size: 8,
        }
    }
}

/// What the opened stream says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// Frame width in pixels, as the codec parameters state it.
    pub width: u32,
    /// Frame height in pixels, as the codec parameters state it.
    pub height: u32,
    /// Average frame rate (`avg_frame_rate`, else `r_frame_rate`), when stated.
    pub fps: Option<f64>,
    /// Frame count: the container's count when stated, else duration times frame rate.
    pub frame_count: Option<u64>,
    /// Codec name (e.g. `h264`, `msmpeg4v3`).
    pub codec: &'static str,
    /// Nominal duration of one frame in nanoseconds (from `fps`, else
    /// [`FALLBACK_FRAME_DURATION_NS`]).
    pub frame_duration_ns: i64,
}

/// One decoded picture.
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    /// Packed RGB24 pixels at the stream's native size.
    pub image: Image,
    /// Stream time in nanoseconds from the stream's start (synthesized when the frame has
    /// no timestamp; see the module docs).
    pub pts_ns: i64,
    /// Whether `pts_ns` was synthesized.
    pub pts_synthesized: bool,
}

/// Demuxer, video decoder and RGB converter for one input.
pub struct VideoDecoder {
    url: String,
    location: String,
    options: DecoderOptions,
    input: ffmpeg::format::context::Input,
    stream_index: usize,
    time_base: Rational,
    start_pts: Option<i64>,
    decoder: decoder::Video,
    info: StreamInfo,
    decoded: frame::Video,
    rgb: frame::Video,
    pending: Option<ffmpeg::Packet>,
    draining: bool,
    finished: bool,
    pool: BufferPool,
    consecutive_errors: u32,
    skipped: u64,
    read_error: Option<String>,
    read_error_code: Option<ffmpeg::Error>,
    last_pts_ns: Option<i64>,
    frames_since_start: u64,
    /// Receives copies of the packets (see [`crate::tap`]).
    tap: Option<PacketTap>,
    /// Whether `tap` was told of the current stream and not yet of its end.
    tap_open: bool,
    parameters: codec::Parameters,
}

impl Drop for VideoDecoder {
    fn drop(&mut self) {
        self.tap_end();
    }
}

impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoDecoder")
            .field("location", &self.location)
            .field("info", &self.info)
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

/// Query and fragment parameters whose value [`redact_location`] hides: a parameter is
/// secret when its name, lowercased, contains one of these.
pub const SECRET_PARAMS: &[&str] = &[
    "pass",
    "pwd",
    "token",
    "secret",
    "key",
    "auth",
    "sig",
    "credential",
    "session",
];

/// Makes a location safe to log: the user information of a URL
/// (`scheme://user:pass@host/...` or `scheme://user@host/...`) becomes `***`, and so does
/// the value of every query or fragment parameter whose name looks secret (see
/// [`SECRET_PARAMS`]: `?password=x&user=y` → `?password=***&user=y`).
///
/// A password that contains an unescaped `/`, `?` or `#` (which makes the URL ambiguous)
/// is still hidden: when the host part has a port that is not a number, everything up to
/// the last `@` (or the whole host part when there is none) is replaced. Anything that is
/// not a `scheme://` URL is returned as is.
pub fn redact_location(location: &str) -> String {
    let Some(scheme_end) = location.find("://") else {
        return location.to_owned();
    };
    let rest_start = scheme_end + 3;
    let rest = &location[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let mut out = String::with_capacity(location.len() + 8);
    out.push_str(&location[..rest_start]);
    let tail = match authority.rfind('@') {
        Some(at) => {
            out.push_str("***");
            out.push_str(&authority[at..]);
            &rest[authority_end..]
        }
        None if has_non_numeric_port(authority) => {
            // `user:pa/ss@host`: the host part ended inside the password. Hide up to the
            // last `@` anywhere (over-redacting a path or query is harmless).
            out.push_str("***");
            match rest.rfind('@') {
                Some(at) => &rest[at..],
                None => &rest[authority_end..],
            }
        }
        None => {
            out.push_str(authority);
            &rest[authority_end..]
        }
    };
    redact_params(tail, &mut out);
    out
}

/// Whether `host[:port]` has a port part that is not a number (so it is probably the
/// start of a password).
fn has_non_numeric_port(authority: &str) -> bool {
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    match authority[host_end..].rfind(':') {
        Some(colon) => {
            let port = &authority[host_end + colon + 1..];
            !port.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// Appends `tail` (path, `?query`, `#fragment`) to `out` with secret parameter values
/// replaced by `***`.
fn redact_params(tail: &str, out: &mut String) {
    let params_start = tail.find(['?', '#']).unwrap_or(tail.len());
    out.push_str(&tail[..params_start]);
    let mut rest = &tail[params_start..];
    while let Some(sep) = rest.chars().next() {
        // `sep` is `?`, `#`, `&` or `;`: copy it and the parameter after it.
        out.push(sep);
        rest = &rest[sep.len_utf8()..];
        let end = rest.find(['&', ';', '#']).unwrap_or(rest.len());
        let param = &rest[..end];
        match param.split_once('=') {
            Some((name, _)) if is_secret_param(name) => {
                out.push_str(name);
                out.push_str("=***");
            }
            _ => out.push_str(param),
        }
        rest = &rest[end..];
    }
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

/// Whether `location` names a network or other non-file input (has a `scheme://`).
pub(crate) fn is_url(location: &str) -> bool {
    location
        .find("://")
        .is_some_and(|i| i > 0 && !location[..i].eq_ignore_ascii_case("file"))
}

fn rational_to_f64(r: Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

fn medium_name(m: media::Type) -> &'static str {
    match m {
        media::Type::Video => "video",
        media::Type::Audio => "audio",
        media::Type::Subtitle => "subtitle",
        media::Type::Data => "data",
        media::Type::Attachment => "attachment",
        media::Type::Unknown => "unknown",
    }
}

impl VideoDecoder {
    /// Opens `url` (a file path or any URL FFmpeg opens) and its best decodable video
    /// stream.
    ///
    /// Errors are one line and name the input (credentials redacted): it cannot be opened,
    /// it has no video stream, or its codec has no decoder in this FFmpeg build. Opening a
    /// URL (`scheme://`) that fails is reported as transient.
    pub fn open(url: &str, options: DecoderOptions) -> Result<Self, ComponentError> {
        init();
        let location = redact_location(url);
        if url.is_empty() {
            return Err(ComponentError::new(
                "cannot open video: the path is empty (give a video file path or a URL)",
            ));
        }
        if url.contains('\0') {
            return Err(ComponentError::new(format!(
                "cannot open video `{}`: the path contains a NUL character",
                location.escape_debug()
            )));
        }
        let url_like = is_url(url);
        let input = ffmpeg::format::input(url).map_err(|e| {
            let what = if url_like {
                "video stream"
            } else {
                "video file"
            };
            let hint = if e == ffmpeg::Error::InvalidData {
                " (not a video format FFmpeg reads, or a damaged or truncated file)"
            } else {
                ""
            };
            let msg = format!("cannot open {what} `{location}`: {e}{hint}");
            if url_like {
                ComponentError::transient(msg)
            } else {
                ComponentError::new(msg)
            }
        })?;
        Self::from_input(url, input, options)
    }

    /// Sets up decoding of an input that the caller opened (for example with an
    /// interrupt callback and protocol options, as the live sources do): picks its best
    /// decodable video stream and opens the decoder.
    ///
    /// `url` is what was opened; it is kept for [`VideoDecoder::seek_to_start`]'s reopen
    /// and shown only redacted. Errors are one line, name the input, and are permanent
    /// (the stream has no video, or no decoder for its codec); callers that reconnect may
    /// treat them as transient.
    pub fn from_input(
        url: &str,
        input: ffmpeg::format::context::Input,
        options: DecoderOptions,
    ) -> Result<Self, ComponentError> {
        init();
        let location = redact_location(url);
        let Picked {
            index: stream_index,
            time_base,
            start_pts,
            parameters,
            fps,
            frame_count,
        } = pick_stream(&input, &location)?;
        let mut ctx =
            codec::context::Context::from_parameters(parameters.clone()).map_err(|e| {
                ComponentError::new(format!("cannot set up the decoder for `{location}`: {e}"))
            })?;
        ctx.set_threading(ffmpeg::threading::Config {
            kind: match options.threading {
                Threading::Frame => ffmpeg::threading::Type::Frame,
                Threading::Slice => ffmpeg::threading::Type::Slice,
            },
            count: options.threads as usize,
            ..Default::default()
        });
        let codec_name = ctx.id().name();
        let decoder = ctx.decoder().video().map_err(|e| {
            ComponentError::new(format!(
                "cannot open the `{codec_name}` decoder for `{location}`: {e}"
            ))
        })?;
        let (width, height) = (decoder.width(), decoder.height());
        let frame_duration_ns = fps
            .map(|f| (1e9 / f).round() as i64)
            .filter(|d| *d > 0)
            .unwrap_or(FALLBACK_FRAME_DURATION_NS);
        let frame_count = frame_count.or_else(|| {
            let fps = fps?;
            let duration_s = input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE);
            (input.duration() > 0).then(|| (duration_s * fps).round() as u64)
        });
        let pool = BufferPool::new(options.pool_size);
        Ok(Self {
            url: url.to_owned(),
            location,
            options,
            input,
            stream_index,
            time_base,
            start_pts,
            decoder,
            info: StreamInfo {
                width,
                height,
                fps,
                frame_count,
                codec: codec_name,
                frame_duration_ns,
            },
            decoded: frame::Video::empty(),
            rgb: frame::Video::empty(),
            pending: None,
            draining: false,
            finished: false,
            pool,
            consecutive_errors: 0,
            skipped: 0,
            read_error: None,
            read_error_code: None,
            last_pts_ns: None,
            frames_since_start: 0,
            tap: None,
            tap_open: false,
            parameters,
        })
    }

    /// Sends copies of this stream's packets to `tap` from now on (see [`crate::tap`]).
    /// The stream's start is reported just before its first packet (so consumers
    /// registered after this call, but before reading starts, see it). `None` removes
    /// the tap.
    pub fn set_packet_tap(&mut self, tap: Option<PacketTap>) {
        self.tap_end();
        self.tap = tap;
    }

    /// Tells the packet tap, if any, that the picture with stream time `pts_ns` got
    /// capture time `capture_time_ns` (sources call it for every frame they emit).
    pub fn tap_frame(&self, pts_ns: i64, capture_time_ns: i64) {
        if let Some(t) = &self.tap {
            t.frame(pts_ns, capture_time_ns);
        }
    }

    fn tap_start(&mut self) {
        if let Some(t) = &self.tap {
            t.stream_start(&TapStream {
                parameters: self.parameters.clone(),
                time_base: self.time_base,
                codec: self.info.codec,
                width: self.info.width,
                height: self.info.height,
                frame_duration_ns: self.info.frame_duration_ns,
            });
            self.tap_open = true;
        }
    }

    fn tap_end(&mut self) {
        if self.tap_open {
            self.tap_open = false;
            if let Some(t) = &self.tap {
                t.stream_end();
            }
        }
    }

    fn tap_packet(&mut self, p: &ffmpeg::Packet) {
        if !self.tap.as_ref().is_some_and(PacketTap::active) {
            return;
        }
        if !self.tap_open {
            self.tap_start();
        }
        let Some(tap) = &self.tap else { return };
        let Some(data) = p.data() else {
            return;
        };
        let start = self.start_pts.unwrap_or(0);
        let rel = |ts: i64| self.to_ns(ts.saturating_sub(start));
        let (pts, dts) = (p.pts(), p.dts());
        tap.packet(&TapPacket {
            data: Arc::from(data),
            pts,
            dts,
            duration: p.duration(),
            key: p.is_key(),
            pts_ns: pts.or(dts).map(rel),
            dts_ns: dts.or(pts).map(rel),
        });
    }

    /// What the stream says about itself.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The input, with credentials redacted.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Packets skipped because the demuxer or decoder rejected them, since opening.
    pub fn skipped_packets(&self) -> u64 {
        self.skipped
    }

    /// The read error that ended the stream early, if one did (see the module docs).
    pub fn read_error(&self) -> Option<&str> {
        self.read_error.as_deref()
    }

    /// FFmpeg's error behind [`VideoDecoder::read_error`] (for callers that classify it,
    /// such as a live source telling a timeout from a reset connection).
    pub fn read_error_code(&self) -> Option<ffmpeg::Error> {
        self.read_error_code
    }

    /// Pictures returned since opening or since the last [`VideoDecoder::seek_to_start`].
    pub fn frames_since_start(&self) -> u64 {
        self.frames_since_start
    }

    /// Decodes the next picture; `Ok(None)` at the end of the stream (and on every later
    /// call until [`VideoDecoder::seek_to_start`]).
    ///
    /// For a blocking input (every input except a non-blocking device), this is
    /// [`VideoDecoder::poll_frame`] without its [`DecodeStep::Pending`] case: an `EAGAIN`
    /// from such an input is treated as a read error, as any other.
    pub fn next_frame(&mut self) -> Result<Option<DecodedFrame>, ComponentError> {
        match self.step(false)? {
            DecodeStep::Frame(f) => Ok(Some(f)),
            // `step(false)` never reports `Pending`; ending is the safe reading anyway.
            DecodeStep::End | DecodeStep::Pending => Ok(None),
        }
    }

    /// Like [`VideoDecoder::next_frame`], but when the input is non-blocking and has no
    /// data yet (FFmpeg's `EAGAIN`), returns [`DecodeStep::Pending`] instead of treating
    /// it as a read error; call again later. Decoder state is kept across `Pending`.
    pub fn poll_frame(&mut self) -> Result<DecodeStep, ComponentError> {
        self.step(true)
    }

    fn step(&mut self, nonblocking: bool) -> Result<DecodeStep, ComponentError> {
        loop {
            if self.finished {
                return Ok(DecodeStep::End);
            }
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    if let Some(frame) = self.convert()? {
                        self.consecutive_errors = 0;
                        return Ok(DecodeStep::Frame(frame));
                    }
                    continue;
                }
                Err(ffmpeg::Error::Other {
                    errno: ffmpeg::error::EAGAIN,
                }) => {}
                Err(ffmpeg::Error::Eof) => {
                    self.finish();
                    return Ok(DecodeStep::End);
                }
                Err(e) => {
                    self.packet_failed(e)?;
                    if self.draining {
                        continue;
                    }
                }
            }
            if self.draining {
                // A draining decoder that asks for input has nothing left.
                self.finish();
                return Ok(DecodeStep::End);
            }
            if let Fed::WouldBlock = self.feed(nonblocking)? {
                return Ok(DecodeStep::Pending);
            }
        }
    }

    /// The stream's start time (the `pts_ns` origin) in nanoseconds of stream time: what
    /// to add to a frame's `pts_ns` to get its raw timestamp. `0` when the stream states
    /// none.
    pub fn start_time_ns(&self) -> i64 {
        self.start_pts.map_or(0, |p| self.to_ns(p))
    }

    /// The input's wall-clock anchor (`AVFormatContext.start_time_realtime`): the
    /// wall-clock time, in microseconds since the Unix epoch, of raw timestamp 0 (a frame's
    /// `pts_ns` + [`VideoDecoder::start_time_ns`]). FFmpeg's RTSP demuxer sets it from the
    /// first RTCP sender report; `None` until then and for inputs that do not set it.
    pub fn start_time_realtime_us(&self) -> Option<i64> {
        let t = read_start_time_realtime(&self.input);
        (t != NO_PTS).then_some(t)
    }

    /// Seeks back to the start of the stream and resets the decoder, so the next picture
    /// is the first one again. Reopens the input when it cannot seek.
    pub fn seek_to_start(&mut self) -> Result<(), ComponentError> {
        // Timestamps here are in microseconds (`AV_TIME_BASE`); `..0` passes 0 as the
        // (inclusive) upper bound to `avformat_seek_file`. The first try lands on the
        // last keyframe at or before 0; the second, for streams whose first keyframe is
        // later, on the keyframe nearest 0, which is the first one.
        // Packets after a seek belong to a new stream for a packet tap.
        self.tap_end();
        if self.input.seek(0, ..0).is_err() && self.input.seek(0, ..).is_err() {
            let mut fresh = Self::open(&self.url, self.options.clone())?;
            fresh.skipped = self.skipped;
            fresh.tap = self.tap.take();
            *self = fresh;
            return Ok(());
        }
        self.flush();
        self.read_error = None;
        self.read_error_code = None;
        self.last_pts_ns = None;
        self.frames_since_start = 0;
        Ok(())
    }

    /// Drops every buffered packet and picture and resets the decoder's state (call after
    /// a seek or a stream interruption). The demuxer position is unchanged.
    pub fn flush(&mut self) {
        self.decoder.flush();
        self.pending = None;
        self.draining = false;
        self.finished = false;
        self.consecutive_errors = 0;
    }

    fn finish(&mut self) {
        self.finished = true;
        self.tap_end();
        if self.skipped > 0 {
            tracing::warn!(
                location = %self.location,
                skipped = self.skipped,
                "skipped undecodable packets"
            );
        }
    }

    /// Records one rejected packet or failed decode; fails after too many in a row.
    fn packet_failed(&mut self, e: ffmpeg::Error) -> Result<(), ComponentError> {
        self.skipped += 1;
        self.consecutive_errors += 1;
        if self.consecutive_errors >= self.options.max_consecutive_errors.max(1) {
            self.finished = true;
            return Err(ComponentError::new(format!(
                "`{}` is corrupt after frame {}: {} packets in a row could not be decoded (last error: {e})",
                self.location, self.frames_since_start, self.consecutive_errors
            )));
        }
        Ok(())
    }

    /// Sends one packet of the video stream to the decoder (or enters draining mode at
    /// the end of the input). With `nonblocking`, an input that has nothing to read yet
    /// returns [`Fed::WouldBlock`] (any pending packet is kept).
    fn feed(&mut self, nonblocking: bool) -> Result<Fed, ComponentError> {
        loop {
            let packet = match self.pending.take() {
                Some(p) => p,
                None => {
                    let mut p = ffmpeg::Packet::empty();
                    match p.read(&mut self.input) {
                        Ok(()) => {
                            if p.stream() != self.stream_index {
                                continue;
                            }
                            self.tap_packet(&p);
                            p
                        }
                        Err(ffmpeg::Error::Eof) => return self.start_draining(),
                        Err(ffmpeg::Error::Other {
                            errno: ffmpeg::error::EAGAIN,
                        }) if nonblocking => return Ok(Fed::WouldBlock),
                        Err(ffmpeg::Error::InvalidData) => {
                            self.packet_failed(ffmpeg::Error::InvalidData)?;
                            continue;
                        }
                        Err(e) => {
                            self.read_error = Some(format!(
                                "reading `{}` stopped after frame {}: {e}",
                                self.location, self.frames_since_start
                            ));
                            self.read_error_code = Some(e);
                            tracing::warn!(location = %self.location, error = %e, "read error; ending the stream");
                            return self.start_draining();
                        }
                    }
                }
            };
            match self.decoder.send_packet(&packet) {
                Ok(()) => return Ok(Fed::Sent),
                Err(ffmpeg::Error::Other {
                    errno: ffmpeg::error::EAGAIN,
                }) => {
                    // The decoder wants its output read first; keep the packet.
                    self.pending = Some(packet);
                    return Ok(Fed::Sent);
                }
                Err(ffmpeg::Error::Eof) => {
                    self.draining = true;
                    return Ok(Fed::Sent);
                }
                Err(e) => {
                    self.packet_failed(e)?;
                    // Give the decoder a chance to return pictures before the next packet.
                    return Ok(Fed::Sent);
                }
            }
        }
    }

    fn start_draining(&mut self) -> Result<Fed, ComponentError> {
        self.draining = true;
        // An error here means the decoder is already drained or flushed: nothing to do.
        let _ = self.decoder.send_eof();
        Ok(Fed::Sent)
    }

    /// Converts the picture in `self.decoded` to pooled RGB24. `Ok(None)` when the
    /// picture is unusable (counted as a failed packet).
    fn convert(&mut self) -> Result<Option<DecodedFrame>, ComponentError> {
        let (width, height, format) = (
            self.decoded.width(),
            self.decoded.height(),
            self.decoded.format(),
        );
        if width == 0 || height == 0 || format == Pixel::None {
            self.packet_failed(ffmpeg::Error::InvalidData)?;
            return Ok(None);
        }
        if self.rgb.width() != width
            || self.rgb.height() != height
            || self.rgb.format() != Pixel::RGB24
        {
            // A new size (first picture or a mid-stream change): the scaler allocates a
            // fresh staging frame on the next run.
            self.rgb = frame::Video::empty();
        }
        let scaled = with_scaler(format, width, height, |scaler| {
            scaler.run(&self.decoded, &mut self.rgb)
        });
        if let Err(e) = scaled {
            self.packet_failed(e).map_err(|_| {
                ComponentError::new(format!(
                    "cannot convert `{}` pictures ({} {width}x{height}) to RGB: {e}",
                    self.location,
                    format_name(format)
                ))
            })?;
            return Ok(None);
        }
        if self.rgb.planes() == 0 {
            // The staging frame could not be allocated (out of memory).
            return Err(ComponentError::transient(format!(
                "cannot allocate a {width}x{height} RGB frame for `{}`",
                self.location
            )));
        }
        let row = width as usize * 3;
        let stride = self.rgb.stride(0);
        let src = self.rgb.data(0);
        let len = row * height as usize;
        let pixels = self.pool.fill(len, |dst| {
            if stride == row {
                dst.copy_from_slice(&src[..len]);
            } else {
                for (d, s) in dst.chunks_exact_mut(row).zip(src.chunks(stride)) {
                    d.copy_from_slice(&s[..row]);
                }
            }
        });
        let image = Image::packed(width, height, PixelFormat::Rgb24, pixels)
            .map_err(|e| ComponentError::new(format!("`{}`: {e}", self.location)))?;
        let (pts_ns, pts_synthesized) = match self.decoded.timestamp() {
            Some(ts) => (
                self.to_ns(ts.saturating_sub(self.start_pts.unwrap_or(0))),
                false,
            ),
            None => (
                self.last_pts_ns
                    .map_or(0, |p| p.saturating_add(self.info.frame_duration_ns)),
                true,
            ),
        };
        self.last_pts_ns = Some(pts_ns);
        self.frames_since_start += 1;
        Ok(Some(DecodedFrame {
            image,
            pts_ns,
            pts_synthesized,
        }))
    }

    fn to_ns(&self, ts: i64) -> i64 {
        let (num, den) = (
            i128::from(self.time_base.numerator()),
            i128::from(self.time_base.denominator()),
        );
        if den == 0 {
            return 0;
        }
        let ns = i128::from(ts) * num * 1_000_000_000 / den;
        ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

/// Reads `AVFormatContext.start_time_realtime` (`AV_NOPTS_VALUE` when unset), which
/// `ffmpeg-next` has no accessor for. The crate's only unsafe code.
#[allow(unsafe_code)]
fn read_start_time_realtime(input: &ffmpeg::format::context::Input) -> i64 {
    // SAFETY: `as_ptr` returns the `AVFormatContext` that `input` owns; it is non-null and
    // fully initialized (`avformat_open_input` succeeded, or `Input` would not exist) and
    // stays valid while `input` is borrowed. The field is a plain `int64_t` read by value.
    // FFmpeg writes it only from within demuxer calls made through `&mut Input` on the
    // thread that owns the input (`Input` is `Send` but not `Sync`), so no write can race
    // with this read.
    unsafe { (*input.as_ptr()).start_time_realtime }
}

/// The chosen stream's facts.
struct Picked {
    index: usize,
    time_base: Rational,
    start_pts: Option<i64>,
    parameters: codec::Parameters,
    fps: Option<f64>,
    frame_count: Option<u64>,
}

/// Chooses the video stream: FFmpeg's best video stream when its codec has a decoder,
/// else the first video stream that has one.
fn pick_stream(
    input: &ffmpeg::format::context::Input,
    location: &str,
) -> Result<Picked, ComponentError> {
    let has_decoder = |s: &ffmpeg::Stream| decoder::find(s.parameters().id()).is_some();
    let best = input.streams().best(media::Type::Video);
    let chosen = match best {
        Some(s) if has_decoder(&s) => Some(s),
        _ => input.streams().find(|s| {
            s.parameters().medium() == media::Type::Video
                && !s.disposition().contains(Disposition::ATTACHED_PIC)
                && has_decoder(s)
        }),
    };
    let Some(stream) = chosen else {
        let videos: Vec<String> = input
            .streams()
            .filter(|s| s.parameters().medium() == media::Type::Video)
            .map(|s| match s.parameters().id() {
                codec::Id::None => "an unknown codec".to_owned(),
                id => format!("codec `{}`", id.name()),
            })
            .collect();
        if !videos.is_empty() {
            return Err(ComponentError::new(format!(
                "`{location}` has a video stream in a codec this FFmpeg build cannot decode ({}); re-encode it to a common codec such as H.264",
                videos.join(", ")
            )));
        }
        let streams: Vec<String> = input
            .streams()
            .map(|s| {
                let p = s.parameters();
                format!("{} {}", medium_name(p.medium()), p.id().name())
            })
            .collect();
        let streams = if streams.is_empty() {
            "none".to_owned()
        } else {
            streams.join(", ")
        };
        return Err(ComponentError::new(format!(
            "`{location}` has no video stream FFmpeg can decode (streams: {streams})"
        )));
    };
    let fps = rational_to_f64(stream.avg_frame_rate()).or_else(|| rational_to_f64(stream.rate()));
    let time_base = stream.time_base();
    let frame_count = match stream.frames() {
        n if n > 0 => Some(n as u64),
        _ => {
            let d = stream.duration();
            match (fps, rational_to_f64(time_base)) {
                (Some(fps), Some(tb)) if d > 0 && d != NO_PTS => {
                    Some((d as f64 * tb * fps).round() as u64)
                }
                _ => None,
            }
        }
    };
    let start = stream.start_time();
    Ok(Picked {
        index: stream.index(),
        time_base,
        start_pts: (start != NO_PTS).then_some(start),
        parameters: stream.parameters(),
        fps,
        frame_count,
    })
}

fn format_name(p: Pixel) -> &'static str {
    p.descriptor().map_or("unknown", |d| d.name())
}

thread_local! {
    static SCALERS: RefCell<Vec<scaling::Context>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scaler from (`format`, `width`, `height`) to RGB24 at the
/// same size, creating it when needed (see the module docs).
fn with_scaler<R>(
    format: Pixel,
    width: u32,
    height: u32,
    f: impl FnOnce(&mut scaling::Context) -> Result<R, ffmpeg::Error>,
) -> Result<R, ffmpeg::Error> {
    SCALERS.with(|cell| {
        let mut scalers = cell.borrow_mut();
        let wanted = scaling::context::Definition {
            format,
            width,
            height,
        };
        let pos = scalers.iter().position(|s| *s.input() == wanted);
        let mut scaler = match pos {
            Some(i) => scalers.remove(i),
            None => scaling::Context::get(
                format,
                width,
                height,
                Pixel::RGB24,
                width,
                height,
                scaling::Flags::BILINEAR,
            )?,
        };
        let out = f(&mut scaler);
        if scalers.len() >= SCALER_CACHE {
            scalers.remove(0);
        }
        scalers.push(scaler);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_only() {
        assert_eq!(
            redact_location("rtsp://admin:secret@10.0.0.5:554/stream1"),
            "rtsp://***@10.0.0.5:554/stream1"
        );
        assert_eq!(
            redact_location("rtsp://user@host/a@b"),
            "rtsp://***@host/a@b"
        );
        assert_eq!(
            redact_location("http://host/path?x=a@b"),
            "http://host/path?x=a@b"
        );
        assert_eq!(redact_location("videos/a@b.mp4"), "videos/a@b.mp4");
        assert_eq!(redact_location("rtsp://host/s"), "rtsp://host/s");
        assert_eq!(
            redact_location("rtsp://admin@10.0.0.5/s"),
            "rtsp://***@10.0.0.5/s"
        );
        assert_eq!(
            redact_location("rtsp://a%40b:p%40ss@cam:554"),
            "rtsp://***@cam:554"
        );
        assert_eq!(
            redact_location("rtsp://[::1]:8554/s"),
            "rtsp://[::1]:8554/s"
        );
    }

    #[test]
    fn redacts_secret_query_and_fragment_parameters() {
        assert_eq!(
            redact_location("rtsp://cam/cam/realmonitor?channel=1&user=admin&password=secret"),
            "rtsp://cam/cam/realmonitor?channel=1&user=admin&password=***"
        );
        assert_eq!(
            redact_location("http://cam/video.cgi?PWD=x;Token=y&pass=z&fps=5"),
            "http://cam/video.cgi?PWD=***;Token=***&pass=***&fps=5"
        );
        assert_eq!(
            redact_location(
                "https://u:p@cdn/s.m3u8?X-Amz-Signature=abc&X-Amz-Credential=d#access_token=e"
            ),
            "https://***@cdn/s.m3u8?X-Amz-Signature=***&X-Amz-Credential=***#access_token=***"
        );
        assert_eq!(
            redact_location("http://h/s?apikey=1&auth=2&session_id=3&secret=4&sig=5"),
            "http://h/s?apikey=***&auth=***&session_id=***&secret=***&sig=***"
        );
        // Valueless and empty parameters are kept.
        assert_eq!(
            redact_location("http://h/s?password&x=&"),
            "http://h/s?password&x=&"
        );
        // Query secrets of non-URLs (file paths) are not touched.
        assert_eq!(redact_location("a.mp4?token=1"), "a.mp4?token=1");
    }

    #[test]
    fn redacts_passwords_that_break_the_url() {
        // An unescaped `/` in the password ends the host part early.
        let r = redact_location("rtsp://admin:pa/ss@10.0.0.5/stream");
        assert_eq!(r, "rtsp://***@10.0.0.5/stream");
        // No `@` at all after a non-numeric port: the whole host part is hidden.
        assert_eq!(redact_location("rtsp://admin:secret/x"), "rtsp://***/x");
        // `?` in the password.
        assert_eq!(
            redact_location("rtsp://admin:pa?ss@host/s"),
            "rtsp://***@host/s"
        );
        for url in [
            "rtsp://admin:hunter2@cam/s",
            "rtsp://admin:hun/ter2@cam/s",
            "rtsp://admin:hun#ter2@cam/s",
            "rtsp://admin:hun?ter2@cam/s",
            "rtsp://admin:hunter2/@cam/s",
            "http://cam/s?password=hunter2",
            "http://cam/s#token=hunter2",
        ] {
            assert!(!redact_location(url).contains("hunter2"), "{url}");
        }
    }

    #[test]
    fn url_detection() {
        assert!(is_url("rtsp://h/s"));
        assert!(is_url("http://h/s.mp4"));
        assert!(!is_url("file:///tmp/a.mp4"));
        assert!(!is_url("/tmp/a.mp4"));
        assert!(!is_url("://x"));
    }
}
