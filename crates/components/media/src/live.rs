//! Live sources: RTSP cameras, HTTP streams (MJPEG) and V4L2 webcams, read with FFmpeg.
//!
//! One type, [`LiveSource`], serves the three kinds; its config ([`RtspConfig`],
//! [`HttpConfig`], [`WebcamConfig`]) decides the URL and FFmpeg options. Decoding is the
//! shared core in [`crate::decode`].
//!
//! # Connecting and reconnecting
//! Building a source validates its config and connects to nothing: the first
//! [`Source::next_frame`] call connects, so a camera that is down at start-up makes the
//! runtime report `connecting`/backoff states instead of failing the pipeline. Every
//! failure (cannot connect, stalled, connection lost, the camera ended the stream, a
//! stream that cannot be decoded) returns a transient [`ComponentError`] and drops the
//! connection (input, demuxer and decoder); the next `next_frame` call connects again
//! from scratch. The source never waits between attempts: backoff is the runtime's job.
//!
//! # Deadlines and stopping (no call can hang)
//! Every blocking FFmpeg call runs under an interrupt callback that reads a deadline
//! (monotonic, real time) and the [`StopHandle`]:
//! - opening (connect, RTSP handshake, reading until the stream is identified) must end
//!   within `connect_timeout`, else the error is `cannot connect to ...: timed out after
//!   5s`;
//! - while connected, each `next_frame` call must produce a frame within
//!   `stall_timeout`, else the error is [`ComponentError::stalled`] (`no frame for 5s
//!   from ...`). Packets that arrive but decode to nothing (other streams, corrupt data)
//!   do not count as frames;
//! - [`StopHandle::stop`] aborts whatever is blocking; the call returns [`Poll::Eos`].
//!   FFmpeg polls the callback at least every 100 ms while it waits on a socket, so a
//!   stop takes effect within about 100 ms. One wait FFmpeg cannot interrupt is the
//!   host name lookup (`getaddrinfo`), bounded by the system resolver's own timeout: use
//!   IP addresses or a local resolver for cameras when prompt stopping matters.
//!
//! FFmpeg's own socket timeouts (`timeout`, `rw_timeout`) are also set, to the larger of
//! the two timeouts plus 1 s, as a backstop; the interrupt fires first with the clearer
//! error. Timeouts are measured in real time, not on the pipeline clock, because FFmpeg
//! blocks in real time.
//!
//! Webcams are opened non-blocking (`AVFMT_FLAG_NONBLOCK`, set through `fflags` as `+4`
//! because the option has no name for it): FFmpeg's `video4linux2` input does not consult
//! the interrupt callback while it waits for a frame, so the source polls it every
//! [`POLL_INTERVAL`] and checks the deadline and the stop flag between polls. (The
//! machines these sources were developed on have no camera and no `v4l2loopback`: only
//! the webcam error paths are tested; the non-blocking capture path has not run against
//! a device.)
//!
//! # Stopping, for runtimes
//! Take the handle before moving the source to its thread ([`LiveSource::stop_handle`]),
//! or give every camera one shared handle ([`LiveSource::with_stop_handle`]); to stop,
//! call [`StopHandle::stop`] from any thread. A `next_frame` blocked in a connect, a read
//! or a webcam poll then returns `Ok(Poll::Eos)` (measured: about 1 ms after the stop
//! against an unresponsive RTSP server), and every later call returns `Ok(Poll::Eos)` at
//! once without connecting. Dropping the source closes its connection (bounded by
//! [`CLOSE_GRACE`], immediately after a stop).
//!
//! # FFmpeg options (verified against FFmpeg 5.1's option tables)
//! - RTSP: `rtsp_transport` `tcp`|`udp`; `timeout` (µs, socket I/O; FFmpeg 5 removed the
//!   old `stimeout`, and before 5.0 `timeout` meant the *listen* timeout and switched the
//!   client to listening, so this crate requires FFmpeg 5); `allowed_media_types`
//!   `video` (audio would be read and discarded); `fflags` `+nobuffer` (packets read
//!   while identifying the stream are not queued for later, so the first frames are
//!   fresh rather than up to a second old); `max_delay` [`config::RTSP_MAX_DELAY_US`]
//!   (50 ms instead of FFmpeg's 100 ms: how long RTP over UDP waits for a missing packet
//!   before giving up on it; on a LAN a gap is almost always a loss rather than
//!   reordering, so waiting only delays every later frame; no effect over TCP, which
//!   never reorders). `reorder_queue_size` is left at FFmpeg's default: the time bound is
//!   what limits latency, and a packet-count bound would trigger at different delays for
//!   different bit rates. `fpsprobesize` `0`: FFmpeg otherwise decodes about 20 extra
//!   frames while opening just to estimate the frame rate, which the codec headers
//!   usually state anyway; measured against a local GStreamer server (25 fps), the
//!   first frame came 2.1 s after the connect started with it and 1.1 s without
//!   (`ffprobe`: 1.37 s vs 0.48 s). The cost: `fps` is unknown for streams whose headers
//!   do not state it.
//! - HTTP: `timeout` (µs, passed to the TCP layer), `rw_timeout` (µs), `reconnect` `0`
//!   (FFmpeg's own reconnect would hide outages from the runtime's state machine),
//!   `fflags` `+nobuffer`, `fpsprobesize` `0` (as for RTSP). FFmpeg identifies MJPEG
//!   streams by their `multipart/x-mixed-replace` content type; opening reads (and, with
//!   `nobuffer`, drops) the first frame and needs about 2 KiB of data to decide, so a
//!   server must send a few tiny frames or one normal one before the first frame is
//!   returned.
//! - Webcams (`video4linux2`): `video_size` `WxH`, `framerate`, `input_format`, `fflags`
//!   `+nobuffer+4`. The device path is resolved first (`/dev/v4l/by-id/...` links to
//!   `/dev/videoN`), because FFmpeg recognizes V4L2 devices by that path prefix.
//!
//! # Frame fields
//! - `seq` counts decoded frames from 0 and continues across reconnects.
//! - `pts_ns` is the stream time from the stream's start, per connection (it restarts
//!   near 0 after a reconnect).
//! - `capture_time_ns` and `capture_clock`:
//!   - RTSP with RTCP sender reports ([`CaptureClock::Rtcp`]): FFmpeg anchors the stream
//!     on the first sender report, `AVFormatContext.start_time_realtime` = the wall-clock
//!     time (µs since the Unix epoch) of raw timestamp 0; capture time is that anchor
//!     plus the frame's raw timestamp (`pts_ns` plus the stream's start time). FFmpeg
//!     sets the anchor when the first report arrives (see below for when); frames
//!     before it, frames without a timestamp, and results more than
//!     [`MAX_RTCP_SKEW_NS`] (10 s) away from the arrival time (a camera with a wrong
//!     clock) use the arrival time instead. With a single (video) stream FFmpeg does not
//!     re-anchor on later reports, so drift between the camera's RTP clock and the
//!     local clock (tens of ppm: 83 ppm, 0.3 s per hour, was measured against the test
//!     server) would accumulate until the next reconnect; a drift tracker removes it
//!     (see `DriftTracker`: the windowed minimum of arrival minus capture, relative to
//!     the first window's, followed at most at 500 ppm so that a busy machine delaying
//!     every frame for a while is not taken for drift; a corrected time is never later
//!     than the arrival), so capture times keep the camera's anchor and the local
//!     clock's rate.
//!
//!     Verified against a local GStreamer RTSP server whose frames carry their true
//!     capture time (wall-clock milliseconds drawn into the pixels when each frame is
//!     made, then H.264 over RTP, TCP and UDP): RTCP capture times matched the drawn
//!     times to the millisecond at 25 fps and at 10 fps, while arrival times were 42 ms
//!     and 103 ms late (the server's pipeline latency of one frame plus about 2 ms).
//!     Using the raw timestamp matters: the stream's start time was 41 ms (FFmpeg counts
//!     from the RTP timestamp of the first sender report when that arrives before the
//!     first packet), so adding the start-relative `pts_ns` to the anchor would have been
//!     a frame early. The first
//!     sender report arrived between 0 and 2 s after the first frame, so the first
//!     frames of a connection usually carry arrival times.
//!   - HTTP and webcams ([`CaptureClock::Arrival`]): the pipeline clock's wall time when
//!     the frame is returned. (V4L2 buffers carry kernel capture timestamps, which could
//!     be used later; they would remove the USB and decode delay.)
//!
//!   The clock in use is logged at the first frame of each connection and whenever it
//!   changes. Capture times never go backwards within a connection (a frame that would
//!   gets the previous time plus 1 ns), so switching from arrival to RTCP times when the
//!   first report arrives can squeeze a few frames 1 ns apart.
//! - `arrival_ns` is the pipeline clock's monotonic time when the frame is returned.
//!
//! # Credentials
//! URLs are only ever shown through [`crate::decode::redact_location`]: user
//! information and secret-looking query parameters become `***` in
//! [`SourceInfo::location`], errors and logs.

mod config;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;
use visualpath_core::{CaptureClock, Frame, HumanDuration};
use visualpath_sdk::{ComponentError, Name, Poll, Source, SourceContext, SourceInfo};

pub use config::{HttpConfig, RTSP_MAX_DELAY_US, RtspConfig, RtspTransport, WebcamConfig};

use crate::decode::{DecodeStep, DecodedFrame, DecoderOptions, VideoDecoder, redact_location};
use crate::tap::PacketTap;

/// How long a non-blocking input (a webcam) that has no frame yet waits before it is
/// polled again.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Longest time closing a connection may block (an RTSP `TEARDOWN` to a healthy
/// server); a stop request ends it at once.
pub const CLOSE_GRACE: Duration = Duration::from_millis(200);

/// RTCP-derived capture times further than this from the arrival time are not trusted
/// (the arrival time is used instead): 10 s.
pub const MAX_RTCP_SKEW_NS: u64 = 10_000_000_000;

/// Lets a runtime stop a live source that is blocked in [`Source::next_frame`] from
/// another thread. Cloning shares the flag; one handle may be shared by many sources
/// ([`LiveSource::with_stop_handle`]).
///
/// After [`StopHandle::stop`], a blocked call returns within about 100 ms and every call
/// returns [`Poll::Eos`] without connecting. Stopping is permanent.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// A handle that has not been stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every source using this handle to stop (idempotent, never blocks).
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The kind of a live input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveKind {
    /// An RTSP camera.
    Rtsp,
    /// An HTTP(S) stream.
    Http,
    /// A V4L2 device.
    Webcam,
}

impl LiveKind {
    /// The [`SourceInfo::kind`]: `rtsp`, `http` or `webcam`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rtsp => "rtsp",
            Self::Http => "http",
            Self::Webcam => "webcam",
        }
    }
}

/// What a [`LiveSource`] needs to (re)connect; built by the configs.
#[derive(Clone)]
struct LiveSpec {
    kind: LiveKind,
    /// Secret: may hold credentials. Never printed.
    url: String,
    options: Vec<(String, String)>,
    connect_timeout: Duration,
    stall_timeout: Duration,
    decoder: DecoderOptions,
}

/// The deadline and stop flag that FFmpeg's interrupt callback reads.
#[derive(Debug)]
struct Watch {
    origin: Instant,
    /// Nanoseconds since `origin`; `u64::MAX` for none.
    deadline_ns: AtomicU64,
    /// The deadline (not a stop) aborted a call since the current connection started.
    fired: AtomicBool,
    stop: StopHandle,
    /// The runtime's stop token (`SourceContext::stop`), learnt on the first call.
    runtime_stop: std::sync::OnceLock<visualpath_sdk::StopToken>,
}

impl Watch {
    fn new(stop: StopHandle) -> Self {
        Self {
            origin: Instant::now(),
            deadline_ns: AtomicU64::new(u64::MAX),
            fired: AtomicBool::new(false),
            stop,
            runtime_stop: std::sync::OnceLock::new(),
        }
    }

    /// Whether this source was asked to stop, by its own handle or by the runtime.
    fn stopped(&self) -> bool {
        self.stop.is_stopped() || self.runtime_stop.get().is_some_and(|t| t.is_stopped())
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Sets the deadline to now + `timeout` (keeps `fired`).
    fn arm(&self, timeout: Duration) {
        let t = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        self.deadline_ns
            .store(self.now_ns().saturating_add(t), Ordering::Relaxed);
    }

    /// Starts a connection: clears `fired` and sets the deadline.
    fn arm_connect(&self, timeout: Duration) {
        self.fired.store(false, Ordering::Relaxed);
        self.arm(timeout);
    }

    fn fired(&self) -> bool {
        self.fired.load(Ordering::Relaxed)
    }

    /// The interrupt callback: whether FFmpeg should abort what it is doing.
    fn should_abort(&self) -> bool {
        if self.stopped() {
            return true;
        }
        if self.now_ns() >= self.deadline_ns.load(Ordering::Relaxed) {
            self.fired.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// Capture times of one connection (see the module docs).
#[derive(Debug, Default)]
struct LiveTimeline {
    last_ns: Option<i64>,
    clock: Option<CaptureClock>,
    drift: DriftTracker,
}

/// Length of the windows in which [`DriftTracker`] takes the minimum transit delay.
const DRIFT_WINDOW_NS: i64 = 5_000_000_000;
/// The fastest drift followed, in parts per million (crystal oscillators are within about
/// 100 ppm): the correction moves at most 2.5 ms per 5 s window.
const MAX_DRIFT_PPM: i64 = 500;

/// Follows the drift between a camera's RTP clock and the local wall clock.
///
/// The transit delay `arrival - rtcp_capture` is network and decoding delay plus the
/// accumulated drift; its minimum over a window of [`DRIFT_WINDOW_NS`] is the drift plus a
/// fixed least delay (the minimum filters out queueing and scheduling jitter, which only
/// ever add delay). The correction is the current window's minimum minus the first
/// window's: added to the RTCP time, it keeps capture times on the local clock's rate
/// while keeping the camera's anchor. It moves once per window, by the drift of one
/// window (under a millisecond at 100 ppm), so it never jumps.
#[derive(Debug, Default)]
struct DriftTracker {
    /// The first complete window's minimum delay.
    reference: Option<i64>,
    /// Start (arrival time) and minimum delay of the window being filled.
    window: Option<(i64, i64)>,
    correction_ns: i64,
}

impl DriftTracker {
    /// Records one frame's delay; returns the correction to add to its RTCP time.
    fn observe(&mut self, rtcp_ns: i64, arrival_ns: i64) -> i64 {
        let delay = arrival_ns.saturating_sub(rtcp_ns);
        match &mut self.window {
            Some((start, min)) if arrival_ns.saturating_sub(*start) < DRIFT_WINDOW_NS => {
                *min = (*min).min(delay);
            }
            Some((_, min)) => {
                let closed = *min;
                match self.reference {
                    None => self.reference = Some(closed),
                    Some(r) => {
                        // Clocks drift slowly; a faster change of the least delay is load or
                        // the network (a busy machine delays every frame of a window), not
                        // drift: follow it at most at MAX_DRIFT_PPM.
                        let target = closed.saturating_sub(r);
                        let step = DRIFT_WINDOW_NS / 1_000_000 * MAX_DRIFT_PPM;
                        self.correction_ns += (target - self.correction_ns).clamp(-step, step);
                    }
                }
                self.window = Some((arrival_ns, delay));
            }
            None => self.window = Some((arrival_ns, delay)),
        }
        self.correction_ns
    }
}

/// One frame's capture time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    capture_time_ns: i64,
    clock: CaptureClock,
    /// First frame of the connection, or a different clock than the previous frame.
    switched: bool,
}

impl LiveTimeline {
    /// The capture time of a frame that arrived at wall time `arrival_ns`, whose
    /// RTCP-derived capture time is `rtcp_ns` when known.
    fn stamp(&mut self, rtcp_ns: Option<i64>, arrival_ns: i64) -> Stamp {
        // Corrected, a capture time is never later than the frame's arrival.
        let corrected = rtcp_ns.map(|t| {
            t.saturating_add(self.drift.observe(t, arrival_ns))
                .min(arrival_ns)
        });
        let (mut t, clock) = match corrected.filter(|t| t.abs_diff(arrival_ns) <= MAX_RTCP_SKEW_NS)
        {
            Some(t) => (t, CaptureClock::Rtcp),
            None => (arrival_ns, CaptureClock::Arrival),
        };
        if let Some(last) = self.last_ns
            && t <= last
        {
            t = last.saturating_add(1);
        }
        self.last_ns = Some(t);
        let switched = self.clock != Some(clock);
        self.clock = Some(clock);
        Stamp {
            capture_time_ns: t,
            clock,
            switched,
        }
    }
}

/// The RTCP capture time of a frame: the anchor (µs since the epoch of raw timestamp 0)
/// plus the raw timestamp in ns. `None` on overflow.
fn rtcp_capture_ns(anchor_us: i64, raw_pts_ns: i64) -> Option<i64> {
    anchor_us.checked_mul(1_000)?.checked_add(raw_pts_ns)
}

/// An open connection.
struct Connection {
    decoder: VideoDecoder,
    timeline: LiveTimeline,
}

/// Why connecting did not produce a connection.
enum ConnectFailure {
    Stopped,
    Error(ComponentError),
}

/// An RTSP camera, HTTP stream or webcam; built by [`RtspConfig`], [`HttpConfig`] or
/// [`WebcamConfig`]. See the module docs for connecting, deadlines, stopping and the
/// frame fields.
pub struct LiveSource {
    info: SourceInfo,
    spec: LiveSpec,
    watch: Arc<Watch>,
    conn: Option<Connection>,
    seq: u64,
    connects: u64,
    connect_failures: u64,
    skipped_closed: u64,
    tap: Option<PacketTap>,
}

impl fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may hold credentials.
        f.debug_struct("LiveSource")
            .field("name", &self.info.name)
            .field("kind", &self.info.kind)
            .field("location", &self.info.location)
            .field("connected", &self.conn.is_some())
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl LiveSource {
    fn new(name: Name, spec: LiveSpec) -> Self {
        crate::decode::init();
        let mut info = SourceInfo::new(name, spec.kind.as_str());
        info.location = redact_location(&spec.url);
        info.live = true;
        Self {
            info,
            spec,
            watch: Arc::new(Watch::new(StopHandle::new())),
            conn: None,
            seq: 0,
            connects: 0,
            connect_failures: 0,
            skipped_closed: 0,
            tap: None,
        }
    }

    /// Sends copies of the compressed video packets of every connection to `tap` (see
    /// [`crate::tap`]); each connection reports a new stream.
    pub fn with_packet_tap(mut self, tap: PacketTap) -> Self {
        self.disconnect();
        self.tap = Some(tap);
        self
    }

    /// The handle that stops this source (see [`StopHandle`]). Call it before handing the
    /// source to its thread; calling [`StopHandle::stop`] from any thread makes a blocked
    /// [`Source::next_frame`] return [`Poll::Eos`] within about 100 ms.
    pub fn stop_handle(&self) -> StopHandle {
        self.watch.stop.clone()
    }

    /// Uses `stop` instead of the source's own handle (one handle can stop every
    /// camera of a pipeline). Closes any open connection.
    pub fn with_stop_handle(mut self, stop: StopHandle) -> Self {
        self.disconnect();
        self.watch = Arc::new(Watch::new(stop));
        self
    }

    /// The kind of input.
    pub fn kind(&self) -> LiveKind {
        self.spec.kind
    }

    /// Whether a connection is open.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Successful connections after the first one (how often the source came back after
    /// losing its input).
    pub fn reconnects(&self) -> u64 {
        self.connects.saturating_sub(1)
    }

    /// Successful connections, the first one included.
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Connection attempts that failed (refused, timed out, no decodable video).
    pub fn connect_failures(&self) -> u64 {
        self.connect_failures
    }

    /// Packets skipped because they could not be decoded, over all connections.
    pub fn skipped_packets(&self) -> u64 {
        self.skipped_closed
            + self
                .conn
                .as_ref()
                .map_or(0, |c| c.decoder.skipped_packets())
    }

    /// The clock of the last frame's capture time in the current connection, if any.
    pub fn capture_clock(&self) -> Option<CaptureClock> {
        self.conn.as_ref().and_then(|c| c.timeline.clock)
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.spec.connect_timeout
    }

    /// The stall timeout.
    pub fn stall_timeout(&self) -> Duration {
        self.spec.stall_timeout
    }

    /// Closes the connection, if one is open; the next [`Source::next_frame`] reconnects.
    pub fn disconnect(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.skipped_closed += conn.decoder.skipped_packets();
            // Closing may talk to the peer (RTSP TEARDOWN): bound it.
            self.watch.arm(CLOSE_GRACE);
            drop(conn);
        }
    }

    fn what(&self) -> &'static str {
        match self.spec.kind {
            LiveKind::Rtsp | LiveKind::Http => "connect to",
            LiveKind::Webcam => "open webcam",
        }
    }

    /// The error for a failed connection attempt, `reason` being one line.
    fn connect_error(&self, reason: &str) -> ComponentError {
        let hint = match self.spec.kind {
            LiveKind::Webcam => {
                " (check the device path, that the camera is connected, and that this user may open it, e.g. is in the `video` group)"
            }
            _ => "",
        };
        ComponentError::transient(format!(
            "cannot {} {}: {reason}{hint}",
            self.what(),
            self.info.location
        ))
    }

    /// The path or URL to give FFmpeg.
    fn target(&self) -> Result<String, ComponentError> {
        if self.spec.kind != LiveKind::Webcam {
            return Ok(self.spec.url.clone());
        }
        let path = std::fs::canonicalize(&self.spec.url)
            .map_err(|e| self.connect_error(&io_reason(&e)))?;
        match path.to_str() {
            Some(p) if p.starts_with("/dev/video") => Ok(p.to_owned()),
            _ => Err(self.connect_error(&format!(
                "`{}` is not a V4L2 capture device (expected /dev/videoN or a link to one, such as /dev/v4l/by-id/...)",
                path.display()
            ))),
        }
    }

    fn connect(&mut self) -> Result<(), ConnectFailure> {
        let target = self.target().map_err(ConnectFailure::Error)?;
        let mut dict = ffmpeg::Dictionary::new();
        for (k, v) in &self.spec.options {
            dict.set(k, v);
        }
        self.watch.arm_connect(self.spec.connect_timeout);
        let watch = Arc::clone(&self.watch);
        let opened = ffmpeg::format::input_with_interrupt_and_dictionary(
            &target,
            move || watch.should_abort(),
            dict,
        );
        let input = match opened {
            Ok(input) => input,
            Err(e) => {
                if self.watch.stopped() {
                    return Err(ConnectFailure::Stopped);
                }
                let reason = if self.watch.fired() {
                    format!(
                        "timed out after {}",
                        HumanDuration(self.spec.connect_timeout)
                    )
                } else {
                    ffmpeg_reason(e)
                };
                return Err(ConnectFailure::Error(self.connect_error(&reason)));
            }
        };
        let mut decoder = VideoDecoder::from_input(&target, input, self.spec.decoder.clone())
            .map_err(|e| {
                // `e` already names the (redacted) input; a camera can be reconfigured,
                // so it is worth retrying.
                ConnectFailure::Error(ComponentError::transient(e.message))
            })?;
        if let Some(tap) = &self.tap {
            decoder.set_packet_tap(Some(tap.clone()));
        }
        let s = decoder.info();
        self.info.width = (s.width > 0).then_some(s.width);
        self.info.height = (s.height > 0).then_some(s.height);
        self.info.fps = s.fps;
        tracing::info!(
            source = %self.info.name,
            kind = self.info.kind,
            location = %self.info.location,
            codec = s.codec,
            width = s.width,
            height = s.height,
            fps = ?s.fps,
            connects = self.connects + 1,
            "connected"
        );
        self.connects += 1;
        self.conn = Some(Connection {
            decoder,
            timeline: LiveTimeline::default(),
        });
        Ok(())
    }

    /// Builds the frame for a decoded picture.
    fn frame(&mut self, decoded: DecodedFrame, cx: &SourceContext) -> Option<Frame> {
        let kind = self.spec.kind;
        let conn = self.conn.as_mut()?;
        let arrival_wall_ns = cx.clock.wall_ns();
        let rtcp_ns = match (kind, decoded.pts_synthesized) {
            (LiveKind::Rtsp, false) => conn.decoder.start_time_realtime_us().and_then(|anchor| {
                rtcp_capture_ns(
                    anchor,
                    decoded.pts_ns.saturating_add(conn.decoder.start_time_ns()),
                )
            }),
            _ => None,
        };
        let stamp = conn.timeline.stamp(rtcp_ns, arrival_wall_ns);
        conn.decoder
            .tap_frame(decoded.pts_ns, stamp.capture_time_ns);
        if stamp.switched {
            tracing::info!(
                source = %self.info.name,
                location = %self.info.location,
                capture_clock = stamp.clock.as_str(),
                rtcp_minus_arrival_ms = ?rtcp_ns.map(|t| (t - arrival_wall_ns) as f64 / 1e6),
                "capture times from {}",
                match stamp.clock {
                    CaptureClock::Rtcp => "RTCP sender reports",
                    _ => "arrival",
                }
            );
        }
        let frame = Frame {
            source: self.info.name.clone(),
            seq: self.seq,
            pts_ns: Some(decoded.pts_ns),
            capture_time_ns: stamp.capture_time_ns,
            arrival_ns: cx.clock.mono_ns(),
            capture_clock: stamp.clock,
            image: decoded.image,
        };
        self.seq += 1;
        Some(frame)
    }

    /// The error after the stream ended while connected (the connection is then closed),
    /// `read_error` being the decoder's [`VideoDecoder::read_error_code`].
    fn ended_error(&self, read_error: Option<ffmpeg::Error>) -> ComponentError {
        let loc = &self.info.location;
        let timed_out = matches!(
            read_error,
            Some(ffmpeg::Error::Other {
                errno: ffmpeg::error::ETIMEDOUT
            })
        );
        if self.watch.fired() || timed_out {
            return ComponentError::stalled(format!(
                "no frame for {} from {loc}",
                HumanDuration(self.spec.stall_timeout)
            ));
        }
        match read_error {
            // How FFmpeg's HTTP and MJPEG readers report a peer that closed the connection.
            Some(ffmpeg::Error::Other {
                errno: ffmpeg::error::EIO,
            }) => ComponentError::transient(format!(
                "lost the connection to {loc}: the {} closed or broke the connection (input/output error)",
                self.peer()
            )),
            Some(e) => ComponentError::transient(format!(
                "lost the connection to {loc}: {}",
                ffmpeg_reason(e)
            )),
            None => {
                ComponentError::transient(format!("{loc}: the {} ended the stream", self.peer()))
            }
        }
    }

    /// Who is at the other end, for messages.
    fn peer(&self) -> &'static str {
        match self.spec.kind {
            LiveKind::Http => "server",
            _ => "camera",
        }
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.disconnect();
    }
}

impl Source for LiveSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self, cx: &SourceContext) -> Result<Poll, ComponentError> {
        let _ = self.watch.runtime_stop.set(cx.stop.clone());
        if self.watch.stopped() {
            self.disconnect();
            return Ok(Poll::Eos);
        }
        if self.conn.is_none() {
            match self.connect() {
                Ok(()) => {}
                Err(ConnectFailure::Stopped) => return Ok(Poll::Eos),
                Err(ConnectFailure::Error(e)) => {
                    self.connect_failures += 1;
                    tracing::debug!(source = %self.info.name, error = %e, "connect failed");
                    return Err(e);
                }
            }
        }
        self.watch.arm(self.spec.stall_timeout);
        loop {
            let Some(conn) = self.conn.as_mut() else {
                // Unreachable: connected above and only closed below before returning.
                return Err(ComponentError::transient(format!(
                    "{}: not connected",
                    self.info.location
                )));
            };
            let step = conn.decoder.poll_frame();
            let read_error = conn.decoder.read_error_code();
            match step {
                Ok(DecodeStep::Frame(decoded)) => {
                    if let Some(frame) = self.frame(decoded, cx) {
                        return Ok(Poll::Frame(frame));
                    }
                }
                Ok(DecodeStep::Pending) => {
                    if !self.watch.should_abort() {
                        std::thread::sleep(POLL_INTERVAL);
                        continue;
                    }
                    // A stop or the stall deadline: decided as for an ended stream.
                    let err = self.ended_error(read_error);
                    return self.close_with(err);
                }
                Ok(DecodeStep::End) => {
                    let err = self.ended_error(read_error);
                    return self.close_with(err);
                }
                Err(e) => {
                    return self.close_with(ComponentError::transient(e.message));
                }
            }
        }
    }
}

impl LiveSource {
    /// Closes the connection and returns `err`, or [`Poll::Eos`] when stopping.
    fn close_with(&mut self, err: ComponentError) -> Result<Poll, ComponentError> {
        self.disconnect();
        if self.watch.stopped() {
            return Ok(Poll::Eos);
        }
        tracing::debug!(source = %self.info.name, error = %err, "connection closed");
        Err(err)
    }
}

/// A one-line reason for an FFmpeg error, with hints for the common network cases.
fn ffmpeg_reason(e: ffmpeg::Error) -> String {
    use ffmpeg::error as errno;
    match e {
        ffmpeg::Error::Other {
            errno: errno::ECONNREFUSED,
        } => "connection refused (is the camera or server running, and is the port right?)"
            .to_owned(),
        ffmpeg::Error::Other {
            errno: errno::ETIMEDOUT,
        } => "timed out".to_owned(),
        ffmpeg::Error::Other {
            errno: errno::EHOSTUNREACH,
        } => "host unreachable".to_owned(),
        ffmpeg::Error::Other {
            errno: errno::ENETUNREACH,
        } => "network unreachable".to_owned(),
        ffmpeg::Error::Other {
            errno: errno::ECONNRESET,
        } => "connection reset by the peer".to_owned(),
        ffmpeg::Error::Other { errno: errno::EIO } => {
            "input/output error (the host name may not resolve, or the peer closed the connection)"
                .to_owned()
        }
        ffmpeg::Error::HttpUnauthorized => {
            "401 Unauthorized (check the user name and password in the URL)".to_owned()
        }
        ffmpeg::Error::HttpForbidden => "403 Forbidden".to_owned(),
        ffmpeg::Error::HttpNotFound => "404 Not Found (check the path)".to_owned(),
        ffmpeg::Error::InvalidData => {
            "invalid data (the server's answer is not a stream FFmpeg reads)".to_owned()
        }
        e => e.to_string(),
    }
}

/// A one-line reason for an I/O error, without Rust's `(os error N)` suffix.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_owned(),
                None => s,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const T0: i64 = 1_700_000_000 * S;

    #[test]
    fn timeline_prefers_plausible_rtcp_times() {
        let mut t = LiveTimeline::default();
        let a = t.stamp(None, T0);
        assert_eq!(
            (a.capture_time_ns, a.clock, a.switched),
            (T0, CaptureClock::Arrival, true)
        );
        let b = t.stamp(None, T0 + 40_000_000);
        assert_eq!(b.clock, CaptureClock::Arrival);
        assert!(!b.switched);
        // The first sender report arrives: capture is 30 ms before arrival.
        let c = t.stamp(Some(T0 + 50_000_000), T0 + 80_000_000);
        assert_eq!(
            (c.capture_time_ns, c.clock, c.switched),
            (T0 + 50_000_000, CaptureClock::Rtcp, true)
        );
        // Implausible (camera clock 11 s off): arrival.
        let d = t.stamp(Some(T0 - 11 * S), T0 + 120_000_000);
        assert_eq!(
            (d.capture_time_ns, d.clock),
            (T0 + 120_000_000, CaptureClock::Arrival)
        );
        // Exactly at the limit is still trusted.
        let e = t.stamp(Some(T0 + 130_000_000 + 10 * S), T0 + 130_000_000);
        assert_eq!(e.clock, CaptureClock::Rtcp);
    }

    #[test]
    fn timeline_never_goes_backwards() {
        let mut t = LiveTimeline::default();
        assert_eq!(t.stamp(None, T0 + 100).capture_time_ns, T0 + 100);
        // RTCP time earlier than the previous arrival time.
        let s = t.stamp(Some(T0 + 50), T0 + 120);
        assert_eq!((s.capture_time_ns, s.clock), (T0 + 101, CaptureClock::Rtcp));
        assert_eq!(t.stamp(Some(T0 + 90), T0 + 130).capture_time_ns, T0 + 102);
        assert_eq!(t.stamp(Some(T0 + 500), T0 + 600).capture_time_ns, T0 + 500);
        // A fresh connection has no history.
        let mut fresh = LiveTimeline::default();
        assert_eq!(fresh.stamp(None, T0).capture_time_ns, T0);
    }

    #[test]
    fn drift_between_rtp_and_local_clock_is_removed() {
        // The camera's RTP clock runs 100 ppm fast: raw RTCP times gain 10 µs per 100 ms
        // frame on arrival; transit delay is 30 ms plus up to 20 ms of jitter.
        let mut t = LiveTimeline::default();
        let mut worst_late_error = 0i64;
        let mut jitter = 7u64;
        for i in 0..36_000i64 {
            let true_capture = T0 + i * 100_000_000;
            jitter = jitter
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let arrival = true_capture + 30_000_000 + (jitter >> 33) as i64 % 20_000_000;
            let raw = T0 + i * 100_010_000;
            let s = t.stamp(Some(raw), arrival);
            assert_eq!(s.clock, CaptureClock::Rtcp);
            if i > 36_000 - 600 {
                worst_late_error = worst_late_error.max((s.capture_time_ns - true_capture).abs());
            }
        }
        // Uncorrected, the last frames would be 360 ms off; corrected, within a window's
        // drift (0.5 ms) plus the jitter the window minimum cannot see.
        assert!(worst_late_error < 2_000_000, "error {worst_late_error} ns");
    }

    #[test]
    fn a_load_spike_is_not_mistaken_for_drift() {
        // 10 fps, 30 ms transit; during one window (seconds 20-25) the machine is so busy
        // that every frame arrives 900 ms late.
        let mut t = LiveTimeline::default();
        let mut worst = 0i64;
        let mut last = i64::MIN;
        for i in 0..600i64 {
            let capture = T0 + i * 100_000_000;
            let late = if (200..250).contains(&i) {
                900_000_000
            } else {
                30_000_000
            };
            let s = t.stamp(Some(capture), capture + late);
            worst = worst.max((s.capture_time_ns - capture).abs());
            assert!(s.capture_time_ns > last);
            assert!(s.capture_time_ns <= capture + late, "never after arrival");
            last = s.capture_time_ns;
        }
        assert!(worst <= 2_500_000, "moved by {worst} ns");
    }

    #[test]
    fn drift_correction_follows_the_window_minimum() {
        let mut d = DriftTracker::default();
        // First window: minimum delay 30 ms.
        assert_eq!(d.observe(T0, T0 + 40_000_000), 0);
        assert_eq!(d.observe(T0 + S, T0 + S + 30_000_000), 0);
        // Second window opens (reference fixed at 30 ms), minimum 35 ms.
        assert_eq!(d.observe(T0 + 6 * S, T0 + 6 * S + 35_000_000), 0);
        // Third window opens: the correction moves toward 35 - 30 ms, at most 2.5 ms per
        // window (500 ppm).
        assert_eq!(d.observe(T0 + 12 * S, T0 + 12 * S + 35_000_000), 2_500_000);
        // Fourth window opens: there.
        assert_eq!(d.observe(T0 + 18 * S, T0 + 18 * S + 50_000_000), 5_000_000);
    }

    #[test]
    fn rtcp_capture_is_anchor_plus_raw_timestamp() {
        assert_eq!(
            rtcp_capture_ns(1_700_000_000_000_000, 40_000_000),
            Some(1_700_000_000_040_000_000)
        );
        assert_eq!(rtcp_capture_ns(i64::MAX / 10, 0), None);
        assert_eq!(rtcp_capture_ns(i64::MAX / 1000, i64::MAX), None);
    }

    #[test]
    fn watch_fires_on_deadline_and_stop() {
        let stop = StopHandle::new();
        let w = Watch::new(stop.clone());
        assert!(!w.should_abort(), "no deadline yet");
        w.arm_connect(Duration::from_secs(3600));
        assert!(!w.should_abort());
        assert!(!w.fired());
        w.arm(Duration::ZERO);
        assert!(w.should_abort());
        assert!(w.fired(), "the deadline fired");
        w.arm(Duration::from_secs(3600));
        assert!(!w.should_abort());
        assert!(w.fired(), "`fired` lasts until the next connection");
        w.arm_connect(Duration::from_secs(3600));
        assert!(!w.fired());
        stop.stop();
        assert!(w.should_abort());
        assert!(!w.fired(), "a stop is not a timeout");
        assert!(stop.clone().is_stopped());
    }

    #[test]
    fn reasons_are_one_line() {
        assert!(
            ffmpeg_reason(ffmpeg::Error::Other {
                errno: ffmpeg::error::ECONNREFUSED
            })
            .starts_with("connection refused")
        );
        assert!(ffmpeg_reason(ffmpeg::Error::HttpUnauthorized).contains("password"));
        let e = std::io::Error::from_raw_os_error(ffmpeg::error::ENOENT);
        assert_eq!(io_reason(&e), "no such file or directory");
        let e = std::io::Error::from_raw_os_error(ffmpeg::error::EBUSY);
        assert!(!io_reason(&e).contains("os error"), "{}", io_reason(&e));
    }

    #[test]
    fn debug_never_shows_the_url() {
        let src = RtspConfig::new("rtsp://admin:hunter2@10.0.0.5/s?token=abc")
            .build_live(Name::from_static("cam"))
            .unwrap();
        let d = format!("{src:?}");
        assert!(!d.contains("hunter2") && !d.contains("abc"), "{d}");
        assert_eq!(src.info().location, "rtsp://***@10.0.0.5/s?token=***");
        assert_eq!(src.info().kind, "rtsp");
        assert!(src.info().live);
        assert_eq!(src.info().width, None);
        assert!(!src.is_connected());
    }
}
