//! Configs of the live sources: what a pipeline file says about an RTSP camera, an HTTP
//! stream or a webcam, their validation (without connecting), and the FFmpeg options
//! each one turns into.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use visualpath_core::HumanDuration;
use visualpath_sdk::{ComponentError, Name, Source};

use super::{LiveKind, LiveSource, LiveSpec};
use crate::decode::{DecoderOptions, Threading, redact_location};

/// Margin added to the larger of the two timeouts to get FFmpeg's own socket timeouts
/// (a backstop: the interrupt callback enforces the real deadlines first, with clearer
/// errors).
const BACKSTOP_MARGIN: Duration = Duration::from_secs(1);

/// Reordering wait for RTP over UDP, in microseconds (FFmpeg's `max_delay`; its RTSP
/// default is 100 ms). See the module docs of [`crate::live`].
pub const RTSP_MAX_DELAY_US: u32 = 50_000;

/// How RTP packets travel from an RTSP camera.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    /// Interleaved in the RTSP TCP connection: no loss, no reordering, passes NAT and
    /// firewalls. The default.
    #[default]
    Tcp,
    /// Separate UDP ports: lowest latency on a clean LAN, but packets can be lost
    /// (visible as decoding artefacts) and firewalls often block them.
    Udp,
}

impl RtspTransport {
    /// FFmpeg's name for it (`rtsp_transport` option).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}

/// An RTSP camera (H.264, H.265, MJPEG or any codec FFmpeg decodes), read with FFmpeg's
/// RTSP client. Nothing connects when the source is built: the first frame request
/// connects, and a camera that is down only delays frames (the runtime retries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RtspConfig {
    /// The stream URL: `rtsp://[user:password@]host[:port]/path`, or `rtsps://...` for
    /// RTSP over TLS. Characters in the user name or password that have a meaning in
    /// URLs (`@`, `:`, `/`, `?`, `#`, `%`) must be percent-encoded. Credentials (and
    /// query parameters such as `password=` or `token=`) never appear in logs, errors or
    /// reports. Required.
    pub url: String,
    /// How RTP packets travel: `tcp` (interleaved in the RTSP connection) or `udp`.
    /// Default `tcp`.
    #[serde(default)]
    pub transport: RtspTransport,
    /// Longest wait for the camera to answer and describe its stream, from the start of
    /// a connection attempt until the stream is ready (includes the first packets FFmpeg
    /// reads to learn the stream's size). Must be more than 0. Default `5s`.
    #[serde(default = "default_timeout")]
    pub connect_timeout: HumanDuration,
    /// Longest wait for a decoded frame while connected; after it the camera is
    /// reported `stalled` and the runtime reconnects. Must be more than 0. Default `5s`.
    #[serde(default = "default_timeout")]
    pub stall_timeout: HumanDuration,
    /// Decoder threads (slice threading, which adds no latency); `0` lets FFmpeg choose
    /// one per core. Default `0`.
    #[serde(default)]
    pub threads: u32,
}

/// A video stream over HTTP(S): MJPEG (`multipart/x-mixed-replace`, what most IP cameras
/// and `mjpg-streamer` serve) or any stream FFmpeg's HTTP client reads (MPEG-TS, FLV,
/// fragmented MP4). Nothing connects when the source is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The stream URL: `http://[user:password@]host[:port]/path` or `https://...`.
    /// Credentials and secret-looking query parameters never appear in logs, errors or
    /// reports. Required.
    pub url: String,
    /// Longest wait for the server to answer and for enough data to identify the
    /// stream. Must be more than 0. Default `5s`.
    #[serde(default = "default_timeout")]
    pub connect_timeout: HumanDuration,
    /// Longest wait for a decoded frame while connected; after it the stream is
    /// reported `stalled` and the runtime reconnects. Must be more than 0. Default `5s`.
    #[serde(default = "default_timeout")]
    pub stall_timeout: HumanDuration,
}

/// A local camera through Video4Linux2 (Linux), read with FFmpeg's `video4linux2` input.
/// Nothing is opened when the source is built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebcamConfig {
    /// The V4L2 device: `/dev/videoN`, or a stable link to one such as
    /// `/dev/v4l/by-id/usb-...-video-index0`. The user running visualpath must be
    /// allowed to open it (usually: a member of the `video` group). Default
    /// `/dev/video0`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Requested frame width in pixels (the camera picks the nearest size it supports).
    /// Give both `width` and `height`, or neither to keep the camera's current size.
    /// Default: unset.
    #[serde(default)]
    pub width: Option<u32>,
    /// Requested frame height in pixels; see `width`. Default: unset.
    #[serde(default)]
    pub height: Option<u32>,
    /// Requested frame rate in frames per second (the camera picks the nearest rate it
    /// supports). Default: unset (the camera's current rate).
    #[serde(default)]
    pub fps: Option<f64>,
    /// Requested capture format, as FFmpeg names it: a pixel format for raw capture
    /// (`yuyv422`, `nv12`) or a codec for compressed capture (`mjpeg`, `h264`).
    /// Compressed formats reach higher sizes and rates over USB 2. List what a camera
    /// offers with `ffmpeg -f v4l2 -list_formats all -i /dev/video0`. Default: unset (the
    /// camera's current format).
    #[serde(default)]
    pub input_format: Option<String>,
    /// Longest wait for the device to open and deliver its first frames. Must be more
    /// than 0. Default `5s`.
    #[serde(default = "default_timeout")]
    pub connect_timeout: HumanDuration,
    /// Longest wait for a frame while capturing; after it the camera is reported
    /// `stalled` and the runtime reopens it. Must be more than 0. Default `5s`.
    #[serde(default = "default_timeout")]
    pub stall_timeout: HumanDuration,
}

fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

fn default_device() -> String {
    "/dev/video0".to_owned()
}

impl Default for RtspConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            transport: RtspTransport::default(),
            connect_timeout: default_timeout(),
            stall_timeout: default_timeout(),
            threads: 0,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            connect_timeout: default_timeout(),
            stall_timeout: default_timeout(),
        }
    }
}

impl Default for WebcamConfig {
    fn default() -> Self {
        Self {
            device: default_device(),
            width: None,
            height: None,
            fps: None,
            input_format: None,
            connect_timeout: default_timeout(),
            stall_timeout: default_timeout(),
        }
    }
}

/// Checks that `url` is `scheme://host...` with one of `schemes` (case-insensitive) and
/// a non-empty host. Errors show the URL redacted.
fn check_url(what: &str, url: &str, schemes: &[&str], example: &str) -> Result<(), ComponentError> {
    let shown = redact_location(url);
    if url.trim().is_empty() {
        return Err(ComponentError::new(format!(
            "{what} source: `url` is empty; write {example}"
        )));
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ComponentError::new(format!(
            "{what} source: `{}` contains spaces or control characters; percent-encode them (space = %20)",
            shown.escape_debug()
        )));
    }
    let scheme = url.find("://").map(|i| &url[..i]);
    if !scheme.is_some_and(|s| schemes.iter().any(|w| s.eq_ignore_ascii_case(w))) {
        return Err(ComponentError::new(format!(
            "{what} source: `{shown}` is not an {what} URL; write {example}"
        )));
    }
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = authority
        .rfind('@')
        .map_or(authority, |at| &authority[at + 1..]);
    if host.is_empty() || host.starts_with(':') {
        return Err(ComponentError::new(format!(
            "{what} source: `{shown}` has no host; write {example}"
        )));
    }
    Ok(())
}

fn check_timeout(what: &str, field: &str, d: HumanDuration) -> Result<(), ComponentError> {
    if d.get().is_zero() {
        return Err(ComponentError::new(format!(
            "{what} source: `{field}` must be more than 0 (e.g. `5s`)"
        )));
    }
    Ok(())
}

/// FFmpeg's own socket timeout in microseconds: the larger timeout plus a margin.
fn backstop_us(a: HumanDuration, b: HumanDuration) -> String {
    let d = a.get().max(b.get()).saturating_add(BACKSTOP_MARGIN);
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).to_string()
}

fn live_decoder_options(threads: u32) -> DecoderOptions {
    DecoderOptions {
        threads,
        // Frame threading adds a frame of latency per thread; slice threading none.
        threading: Threading::Slice,
        ..DecoderOptions::default()
    }
}

fn pairs(list: &[(&str, String)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

impl RtspConfig {
    /// A config for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Checks the config without connecting: the URL is `rtsp://` or `rtsps://` with a
    /// host, and both timeouts are more than 0.
    pub fn validate(&self) -> Result<(), ComponentError> {
        check_url(
            "RTSP",
            &self.url,
            &["rtsp", "rtsps"],
            "rtsp://[user:password@]host[:port]/path (or rtsps://...)",
        )?;
        check_timeout("RTSP", "connect_timeout", self.connect_timeout)?;
        check_timeout("RTSP", "stall_timeout", self.stall_timeout)
    }

    /// Validates and creates the source named `name`, without connecting.
    pub fn build(&self, name: Name) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(self.build_live(name)?))
    }

    /// Like [`RtspConfig::build`], returning the concrete type (for
    /// [`LiveSource::stop_handle`]).
    pub fn build_live(&self, name: Name) -> Result<LiveSource, ComponentError> {
        self.validate()?;
        Ok(LiveSource::new(name, self.spec()))
    }

    /// The FFmpeg options used to open the stream (see the module docs of
    /// [`crate::live`] for why each is set).
    pub fn ffmpeg_options(&self) -> Vec<(String, String)> {
        pairs(&[
            ("rtsp_transport", self.transport.as_str().to_owned()),
            (
                "timeout",
                backstop_us(self.connect_timeout, self.stall_timeout),
            ),
            ("allowed_media_types", "video".to_owned()),
            ("fflags", "+nobuffer".to_owned()),
            ("max_delay", RTSP_MAX_DELAY_US.to_string()),
            // Do not decode ~20 frames at open just to estimate the frame rate.
            ("fpsprobesize", "0".to_owned()),
        ])
    }

    fn spec(&self) -> LiveSpec {
        LiveSpec {
            kind: LiveKind::Rtsp,
            url: self.url.clone(),
            options: self.ffmpeg_options(),
            connect_timeout: self.connect_timeout.get(),
            stall_timeout: self.stall_timeout.get(),
            decoder: live_decoder_options(self.threads),
        }
    }
}

impl HttpConfig {
    /// A config for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Checks the config without connecting: the URL is `http://` or `https://` with a
    /// host, and both timeouts are more than 0.
    pub fn validate(&self) -> Result<(), ComponentError> {
        check_url(
            "HTTP",
            &self.url,
            &["http", "https"],
            "http://[user:password@]host[:port]/path (or https://...)",
        )?;
        check_timeout("HTTP", "connect_timeout", self.connect_timeout)?;
        check_timeout("HTTP", "stall_timeout", self.stall_timeout)
    }

    /// Validates and creates the source named `name`, without connecting.
    pub fn build(&self, name: Name) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(self.build_live(name)?))
    }

    /// Like [`HttpConfig::build`], returning the concrete type.
    pub fn build_live(&self, name: Name) -> Result<LiveSource, ComponentError> {
        self.validate()?;
        Ok(LiveSource::new(name, self.spec()))
    }

    /// The FFmpeg options used to open the stream.
    pub fn ffmpeg_options(&self) -> Vec<(String, String)> {
        let backstop = backstop_us(self.connect_timeout, self.stall_timeout);
        pairs(&[
            // Passed down to the TCP layer (socket timeout, µs).
            ("timeout", backstop.clone()),
            // Any protocol read (µs).
            ("rw_timeout", backstop),
            // We reconnect ourselves (from scratch, with backoff, visible as states).
            ("reconnect", "0".to_owned()),
            ("fflags", "+nobuffer".to_owned()),
            ("fpsprobesize", "0".to_owned()),
        ])
    }

    fn spec(&self) -> LiveSpec {
        LiveSpec {
            kind: LiveKind::Http,
            url: self.url.clone(),
            options: self.ffmpeg_options(),
            connect_timeout: self.connect_timeout.get(),
            stall_timeout: self.stall_timeout.get(),
            decoder: live_decoder_options(0),
        }
    }
}

impl WebcamConfig {
    /// A config for `device` with the defaults.
    pub fn new(device: impl Into<String>) -> Self {
        Self {
            device: device.into(),
            ..Self::default()
        }
    }

    /// Checks the config without opening the device: a device path, `width` and `height`
    /// both given (and positive) or both unset, a positive `fps`, a plausible
    /// `input_format`, timeouts more than 0.
    pub fn validate(&self) -> Result<(), ComponentError> {
        let err = |m: String| Err(ComponentError::new(format!("webcam source: {m}")));
        if self.device.trim().is_empty() {
            return err("`device` is empty; write a V4L2 device such as /dev/video0".into());
        }
        if self.device.contains('\0') {
            return err(format!(
                "`device` `{}` contains a NUL character",
                self.device.escape_debug()
            ));
        }
        match (self.width, self.height) {
            (Some(0), _) | (_, Some(0)) => {
                return err("`width` and `height` must be more than 0".into());
            }
            (Some(_), None) | (None, Some(_)) => {
                return err(
                    "give both `width` and `height` (e.g. 1280 and 720), or neither".into(),
                );
            }
            _ => {}
        }
        if let Some(fps) = self.fps
            && !(fps.is_finite() && fps > 0.0 && fps <= 1000.0)
        {
            return err(format!(
                "`fps` {fps} is not a frame rate; write a number of frames per second above 0 (e.g. 30)"
            ));
        }
        if let Some(f) = &self.input_format
            && (f.is_empty()
                || !f
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return err(format!(
                "`input_format` `{}` is not a format name; write an FFmpeg pixel format or codec such as `mjpeg` or `yuyv422`",
                f.escape_debug()
            ));
        }
        check_timeout("webcam", "connect_timeout", self.connect_timeout)?;
        check_timeout("webcam", "stall_timeout", self.stall_timeout)
    }

    /// Validates and creates the source named `name`, without opening the device.
    pub fn build(&self, name: Name) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(self.build_live(name)?))
    }

    /// Like [`WebcamConfig::build`], returning the concrete type.
    pub fn build_live(&self, name: Name) -> Result<LiveSource, ComponentError> {
        self.validate()?;
        Ok(LiveSource::new(name, self.spec()))
    }

    /// The FFmpeg options used to open the device.
    pub fn ffmpeg_options(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let (Some(w), Some(h)) = (self.width, self.height) {
            out.push(("video_size", format!("{w}x{h}")));
        }
        if let Some(fps) = self.fps {
            out.push(("framerate", format!("{fps}")));
        }
        if let Some(f) = &self.input_format {
            out.push(("input_format", f.clone()));
        }
        // `nobuffer`, plus AVFMT_FLAG_NONBLOCK (4), which `fflags` has no name for: the
        // device is opened O_NONBLOCK so a camera that stops delivering never blocks a
        // read (see the module docs of `crate::live`).
        out.push((
            "fflags",
            format!("+nobuffer+{}", ffmpeg_next::ffi::AVFMT_FLAG_NONBLOCK),
        ));
        pairs(&out)
    }

    fn spec(&self) -> LiveSpec {
        LiveSpec {
            kind: LiveKind::Webcam,
            url: self.device.clone(),
            options: self.ffmpeg_options(),
            connect_timeout: self.connect_timeout.get(),
            stall_timeout: self.stall_timeout.get(),
            decoder: live_decoder_options(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtsp_err(url: &str) -> String {
        RtspConfig::new(url).validate().unwrap_err().message
    }

    #[test]
    fn defaults_match_serde_defaults() {
        let r: RtspConfig = serde_json::from_str(r#"{"url": ""}"#).unwrap();
        assert_eq!(r, RtspConfig::default());
        assert_eq!(r.transport, RtspTransport::Tcp);
        assert_eq!(r.connect_timeout.get(), Duration::from_secs(5));
        assert_eq!(r.stall_timeout.get(), Duration::from_secs(5));
        let h: HttpConfig = serde_json::from_str(r#"{"url": ""}"#).unwrap();
        assert_eq!(h, HttpConfig::default());
        let w: WebcamConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(w, WebcamConfig::default());
        assert_eq!(w.device, "/dev/video0");
    }

    #[test]
    fn parses_fields_and_rejects_unknown_ones() {
        let r: RtspConfig = serde_json::from_str(
            r#"{"url": "rtsp://h/s", "transport": "udp", "connect_timeout": "250ms", "stall_timeout": 2, "threads": 2}"#,
        )
        .unwrap();
        assert_eq!(r.transport, RtspTransport::Udp);
        assert_eq!(r.connect_timeout.get(), Duration::from_millis(250));
        assert_eq!(r.stall_timeout.get(), Duration::from_secs(2));
        assert_eq!(r.threads, 2);
        assert!(
            serde_json::from_str::<RtspConfig>(r#"{"url": "rtsp://h", "tranport": "udp"}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<RtspConfig>(r#"{"url": "rtsp://h", "transport": "sctp"}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<HttpConfig>(r#"{"url": "http://h", "threads": 1}"#).is_err()
        );
        let w: WebcamConfig = serde_json::from_str(
            r#"{"device": "/dev/video2", "width": 640, "height": 480, "fps": 15, "input_format": "mjpeg"}"#,
        )
        .unwrap();
        assert_eq!(
            (w.width, w.height, w.fps),
            (Some(640), Some(480), Some(15.0))
        );
        assert!(serde_json::from_str::<WebcamConfig>(r#"{"resolution": "640x480"}"#).is_err());
    }

    #[test]
    fn rtsp_urls_are_checked_without_connecting() {
        assert!(
            RtspConfig::new("rtsp://10.0.0.5:554/stream1")
                .validate()
                .is_ok()
        );
        assert!(RtspConfig::new("RTSP://cam/s").validate().is_ok());
        assert!(
            RtspConfig::new("rtsps://u:p@cam.local/s")
                .validate()
                .is_ok()
        );
        assert!(RtspConfig::new("rtsp://[::1]:8554/s").validate().is_ok());
        let e = rtsp_err("http://admin:secret@cam/s");
        assert!(
            e.contains("not an RTSP URL") && e.contains("rtsp://"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
        assert!(rtsp_err("").contains("empty"));
        assert!(rtsp_err("cam/stream").contains("not an RTSP URL"));
        assert!(rtsp_err("rtsp:///stream").contains("no host"));
        assert!(rtsp_err("rtsp://user:pw@/s").contains("no host"));
        assert!(rtsp_err("rtsp://user:pw@:554/s").contains("no host"));
        let e = rtsp_err("rtsp://cam/my stream");
        assert!(e.contains("spaces"), "{e}");
        assert!(rtsp_err("rtsp://cam/s\0").contains("control"));
    }

    #[test]
    fn http_urls_are_checked() {
        assert!(
            HttpConfig::new("http://cam:8080/video.mjpg")
                .validate()
                .is_ok()
        );
        assert!(
            HttpConfig::new("https://u:p@cam/stream?x=1")
                .validate()
                .is_ok()
        );
        let e = HttpConfig::new("rtsp://cam/s").validate().unwrap_err();
        assert!(!e.transient);
        assert!(e.message.contains("not an HTTP URL"), "{}", e.message);
        assert!(
            HttpConfig::new("ftp://h/x")
                .validate()
                .unwrap_err()
                .message
                .contains("http://")
        );
    }

    #[test]
    fn timeouts_must_be_positive() {
        let mut c = RtspConfig::new("rtsp://h/s");
        c.stall_timeout = HumanDuration::default();
        let e = c.validate().unwrap_err().message;
        assert!(e.contains("`stall_timeout` must be more than 0"), "{e}");
        let mut h = HttpConfig::new("http://h/s");
        h.connect_timeout = HumanDuration::default();
        assert!(
            h.validate()
                .unwrap_err()
                .message
                .contains("connect_timeout")
        );
        let w = WebcamConfig {
            stall_timeout: HumanDuration::default(),
            ..WebcamConfig::default()
        };
        assert!(w.validate().unwrap_err().message.contains("stall_timeout"));
    }

    #[test]
    fn webcam_settings_are_checked() {
        assert!(WebcamConfig::default().validate().is_ok());
        let bad = |w: WebcamConfig| w.validate().unwrap_err().message;
        let only_width = WebcamConfig {
            width: Some(640),
            ..WebcamConfig::default()
        };
        assert!(bad(only_width).contains("both `width` and `height`"));
        let zero = WebcamConfig {
            width: Some(0),
            height: Some(480),
            ..WebcamConfig::default()
        };
        assert!(bad(zero).contains("more than 0"));
        for fps in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let c = WebcamConfig {
                fps: Some(fps),
                ..WebcamConfig::default()
            };
            assert!(bad(c).contains("`fps`"), "{fps}");
        }
        let f = WebcamConfig {
            input_format: Some("mjpeg;rm".into()),
            ..WebcamConfig::default()
        };
        assert!(bad(f).contains("input_format"));
        assert!(bad(WebcamConfig::new(" ")).contains("empty"));
    }

    #[test]
    fn schemas_document_every_field_and_reject_unknown_ones() {
        for (schema, fields) in [
            (
                schemars::schema_for!(RtspConfig),
                &[
                    "url",
                    "transport",
                    "connect_timeout",
                    "stall_timeout",
                    "threads",
                ][..],
            ),
            (
                schemars::schema_for!(HttpConfig),
                &["url", "connect_timeout", "stall_timeout"][..],
            ),
            (
                schemars::schema_for!(WebcamConfig),
                &[
                    "device",
                    "width",
                    "height",
                    "fps",
                    "input_format",
                    "connect_timeout",
                    "stall_timeout",
                ][..],
            ),
        ] {
            let v = serde_json::to_value(&schema).unwrap();
            assert_eq!(v["additionalProperties"], false, "{v}");
            for f in fields {
                let d = v["properties"][f]["description"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    d.contains("Default") || d.contains("Required"),
                    "{f}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn ffmpeg_options_per_kind() {
        let mut c = RtspConfig::new("rtsp://h/s");
        c.transport = RtspTransport::Udp;
        c.connect_timeout = HumanDuration::from_millis(2_000);
        c.stall_timeout = HumanDuration::from_millis(500);
        let o = c.ffmpeg_options();
        let get = |o: &[(String, String)], k: &str| {
            o.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        };
        assert_eq!(get(&o, "rtsp_transport").as_deref(), Some("udp"));
        // The larger timeout plus 1 s, in microseconds.
        assert_eq!(get(&o, "timeout").as_deref(), Some("3000000"));
        assert_eq!(get(&o, "stimeout"), None, "FFmpeg 5 has no `stimeout`");
        assert_eq!(get(&o, "max_delay").as_deref(), Some("50000"));
        let h = HttpConfig::new("http://h/s").ffmpeg_options();
        assert_eq!(get(&h, "rw_timeout").as_deref(), Some("6000000"));
        assert_eq!(get(&h, "reconnect").as_deref(), Some("0"));
        let w = WebcamConfig {
            width: Some(1280),
            height: Some(720),
            fps: Some(29.97),
            input_format: Some("mjpeg".into()),
            ..WebcamConfig::default()
        }
        .ffmpeg_options();
        assert_eq!(get(&w, "video_size").as_deref(), Some("1280x720"));
        assert_eq!(get(&w, "framerate").as_deref(), Some("29.97"));
        assert_eq!(get(&w, "input_format").as_deref(), Some("mjpeg"));
        assert_eq!(get(&w, "fflags").as_deref(), Some("+nobuffer+4"));
        let plain = WebcamConfig::default().ffmpeg_options();
        assert_eq!(plain.len(), 1, "{plain:?}");
    }
}
