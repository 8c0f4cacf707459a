//! The pipeline file's types. The JSON Schema (`visualpath schema`) and the reference
//! page `docs/ref/config.md` are generated from these types and their doc comments.
//!
//! Component kinds are chosen by key, one key per entry, as Kubernetes volumes are:
//!
//! ```yaml
//! sources:
//!   - name: cam1
//!     file: {path: vtest.avi}
//! analyzers:
//!   - motion: {threshold: 0.02}
//! ```
//!
//! This keeps every entry a plain struct, so every error (an unknown field, a wrong type,
//! an unknown component kind) is reported at its exact line and column and lists the
//! valid choices.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use visualpath_analyzers::{FrameStatsConfig, MotionConfig, SceneCutConfig};
use visualpath_clips::ClipsConfig;
use visualpath_core::{HumanDuration, Name};
use visualpath_fusion::RuleConfig;
use visualpath_media::{
    FileSourceConfig, HttpConfig, ImageFolderConfig, RtspConfig, SyntheticConfig, WebcamConfig,
};
use visualpath_models::{DetectConfig, FaceConfig, PoseConfig};
use visualpath_runtime::{ErrorPolicy, Executor, Isolation, Overflow, Qos, Schedule};
use visualpath_sink_mqtt::MqttConfig;
use visualpath_sink_osc::OscConfig;
use visualpath_sink_redis::RedisConfig;
use visualpath_sink_webhook::WebhookConfig;
use visualpath_sink_ws::WsConfig;
use visualpath_sinks::{CsvConfig, JsonlConfig, QueueConfig, RetryConfig, SinkSettings};
use visualpath_sync::SyncPolicy;
use visualpath_track::TrackConfig;
use visualpath_yaml::Spanned;

/// A visualpath pipeline: where frames come from, what analyzes them, which rules turn
/// observations into events, and where results go.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Format version of the file. Only `1` exists. Default `1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Spanned<u32>>,
    /// How analyzers and fusion rules are mapped onto threads: `sequential` (one worker
    /// thread, deterministic output order) or `{pool: {threads: N}}` (N workers, 0 = one
    /// per core). Sinks, and analyzers with `isolation: thread` or a `timeout`, always get
    /// threads of their own. Default `sequential`.
    #[serde(default)]
    pub executor: Executor,
    /// Where frames come from. At least one.
    pub sources: Vec<Spanned<SourceSpec>>,
    /// What analyzes the frames. They form a graph through `after:`. Default: none.
    #[serde(default)]
    pub analyzers: Vec<Spanned<AnalyzerSpec>>,
    /// Rules that turn observations into events. Default: none.
    #[serde(default)]
    pub fusion: Vec<Spanned<RuleConfig>>,
    /// Groups of sources joined by capture time into sync sets. Default: none.
    #[serde(default)]
    pub sync: Vec<Spanned<SyncSpec>>,
    /// Where records go. Default: none.
    #[serde(default)]
    pub sinks: Vec<Spanned<SinkSpec>>,
    /// Queue behaviour of particular links, overriding the defaults. Default: none.
    #[serde(default)]
    pub edges: Vec<Spanned<EdgeConfig>>,
}

/// One source of frames (a camera or a file). Set exactly one of `rtsp`, `http`,
/// `webcam`, `file`, `images`, `synthetic`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// The source's name, written as `source` in records. Required.
    pub name: Spanned<Name>,
    /// An RTSP camera (`rtsp://user:${CAM_PASSWORD}@host/stream`), over TCP or UDP, with
    /// reconnection; credentials are never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtsp: Option<RtspConfig>,
    /// An HTTP camera stream (MJPEG `multipart/x-mixed-replace`, or anything FFmpeg's HTTP
    /// input reads live), with reconnection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConfig>,
    /// A local webcam (V4L2, e.g. `/dev/video0`), with reconnection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webcam: Option<WebcamConfig>,
    /// A video file (any container and codec FFmpeg reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSourceConfig>,
    /// A folder of JPEG/PNG images, read in file-name order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<ImageFolderConfig>,
    /// A generated test pattern with moving squares (no file needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticConfig>,
    /// Release frames at their capture-time pace, so a file behaves like a camera (with
    /// `realtime` links, slow analyzers then work on the newest frame). Default `false`.
    #[serde(default)]
    pub realtime: bool,
    /// Stop after this many frames. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_frames: Option<u64>,
    /// Stop after this much capture time from the first frame. Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    /// Settings of analyzers that differ for this source, by analyzer name: each value is
    /// merged into that analyzer's settings (e.g. `overrides: {motion: {threshold: 0.05}}`
    /// for a camera with more noise). Default: none.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub overrides: std::collections::BTreeMap<Name, Spanned<serde_json::Value>>,
}

/// One analyzer. Set exactly one of `motion`, `frame_stats`, `scene_cut`, `detect`,
/// `track`, `pose`, `face`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzerSpec {
    /// The analyzer's name, written as `analyzer` in records and used in conditions
    /// (`motion.score`). Default: its kind (`motion`, `detect`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Spanned<Name>>,
    /// Frame differencing: motion score, per-cell scores and regions with motion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motion: Option<MotionConfig>,
    /// Brightness, contrast and sharpness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_stats: Option<FrameStatsConfig>,
    /// Scene cuts from luma histogram changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_cut: Option<SceneCutConfig>,
    /// Object detection with an ONNX model (default: SSD-MobileNet-v2 COCO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect: Option<DetectConfig>,
    /// Multi-object tracking (ByteTrack or SORT) with stable slots, zones and lines; runs
    /// after a `detect` analyzer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<TrackConfig>,
    /// Body keypoints and joint angles per person (MoveNet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose: Option<PoseConfig>,
    /// Faces with landmarks (CenterFace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face: Option<FaceConfig>,
    /// Analyzers whose observations of the same frame this one needs: it runs after them
    /// and receives frames from them. Default: none (frames come from the sources).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<Spanned<Name>>,
    /// Analyze only frames of these sources; frames of other sources pass through.
    /// Default: every source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<Spanned<Name>>>,
    /// Run only when this condition holds on the observations the analyzers in `after`
    /// made on the same frame, e.g. `motion.score > 0.02`. Grammar: docs/ref/conditions.md.
    /// Default: always.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Spanned<String>>,
    /// Which frames to analyze: `every_frame`, `{every_nth: N}` or `{target_fps: F}`.
    /// Default `every_frame`.
    #[serde(default)]
    pub schedule: Schedule,
    /// Give up on a frame after this long: the frame passes on without this analyzer's
    /// observation and the analyzer is skipped until the late call returns. Runs the
    /// analyzer on a thread of its own. Default: no timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// What to do when the analyzer fails on a frame: `skip` the frame, or `stop` the
    /// pipeline. Default `skip`.
    #[serde(default)]
    pub on_error: ErrorPolicy,
    /// Where the analyzer runs: `inline` on the executor, or `thread` for a thread of its
    /// own. Default `inline`.
    #[serde(default)]
    pub isolation: Isolation,
}

/// A group of sources joined by capture time.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncSpec {
    /// The group's name, written as `sync` in its records. Required.
    pub name: Spanned<Name>,
    /// The sources to join, in the order their members appear in sets. Required.
    pub sources: Vec<Spanned<Name>>,
    /// How items are joined: `none`, `{time_window: {...}}` or `{barrier: {...}}`.
    /// Default `none`.
    #[serde(default)]
    pub policy: SyncPolicy,
}

/// Writes to standard output (no settings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {}

/// What a sink does when a write fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SinkOnError {
    /// Stop the pipeline: no record is silently lost.
    #[default]
    Stop,
    /// Count the failure and go on.
    Skip,
}

/// One sink. Set exactly one of `jsonl`, `csv`, `stdout`, `osc`, `mqtt`, `redis`,
/// `websocket`, `webhook`, `clips`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    /// The sink's name. Required.
    pub name: Spanned<Name>,
    /// One JSON object per line into a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonl: Option<JsonlConfig>,
    /// One row per observation value into CSV files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvConfig>,
    /// One JSON object per line on standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<StdoutConfig>,
    /// OSC over UDP (TouchDesigner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub osc: Option<OscConfig>,
    /// MQTT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttConfig>,
    /// Redis Streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisConfig>,
    /// A WebSocket broadcast hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WsConfig>,
    /// HTTP webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConfig>,
    /// Event clips (MP4 around events, JPEG snapshot, JSON sidecar).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clips: Option<ClipsConfig>,
    /// The delivery queue of network sinks (`osc`, `mqtt`, `redis`, `websocket`,
    /// `webhook`): `{capacity: 1024, overflow: drop_oldest}` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueConfig>,
    /// Retries of network sinks: `{initial: 100ms, max: 5s, attempts: 0, drain_timeout:
    /// 5s}` by default (`attempts: 0` retries until delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryConfig>,
    /// What the sink receives: `observations` (of every analyzer), `events` (of every
    /// rule), `sync` (sets of every sync group), or names of analyzers and sync groups.
    /// Default `[observations, events]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Vec<Spanned<String>>>,
    /// What to do when a write fails: `stop` or `skip`. Default `stop`.
    #[serde(default)]
    pub on_error: SinkOnError,
}

/// Queue behaviour of one link. See docs/ref/edges.md.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// The producing node. Required.
    pub from: Spanned<Name>,
    /// The consuming node (the fusion rules together are the node `fusion`). Required.
    pub to: Spanned<Name>,
    /// `realtime` (depth 1, a new item replaces the waiting one) or `durable` (every item
    /// in order, up to `capacity`). Required.
    pub qos: Qos,
    /// Bound of a `durable` edge. Default `8` into analyzers and sync groups, `1024` into
    /// fusion and sinks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<usize>,
    /// When a `durable` edge is full: `block` (the producer waits; lossless) or
    /// `drop-oldest`. Default `block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overflow: Option<Overflow>,
}

impl SourceSpec {
    /// Whether it is a live camera (frames arrive in real time).
    pub fn is_live(&self) -> bool {
        self.rtsp.is_some() || self.http.is_some() || self.webcam.is_some()
    }

    /// The kinds set on this entry.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.rtsp.is_some() {
            k.push("rtsp");
        }
        if self.http.is_some() {
            k.push("http");
        }
        if self.webcam.is_some() {
            k.push("webcam");
        }
        if self.file.is_some() {
            k.push("file");
        }
        if self.images.is_some() {
            k.push("images");
        }
        if self.synthetic.is_some() {
            k.push("synthetic");
        }
        k
    }
}

impl AnalyzerSpec {
    /// The kinds set on this entry.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.motion.is_some() {
            k.push("motion");
        }
        if self.frame_stats.is_some() {
            k.push("frame_stats");
        }
        if self.scene_cut.is_some() {
            k.push("scene_cut");
        }
        if self.detect.is_some() {
            k.push("detect");
        }
        if self.track.is_some() {
            k.push("track");
        }
        if self.pose.is_some() {
            k.push("pose");
        }
        if self.face.is_some() {
            k.push("face");
        }
        k
    }
}

impl SinkSpec {
    /// The kinds set on this entry.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.jsonl.is_some() {
            k.push("jsonl");
        }
        if self.csv.is_some() {
            k.push("csv");
        }
        if self.stdout.is_some() {
            k.push("stdout");
        }
        if self.osc.is_some() {
            k.push("osc");
        }
        if self.mqtt.is_some() {
            k.push("mqtt");
        }
        if self.redis.is_some() {
            k.push("redis");
        }
        if self.websocket.is_some() {
            k.push("websocket");
        }
        if self.webhook.is_some() {
            k.push("webhook");
        }
        if self.clips.is_some() {
            k.push("clips");
        }
        k
    }

    /// An entry called `name` with no kind set (set one with struct update syntax).
    pub fn named(name: Name) -> Self {
        Self {
            name: Spanned::from(name),
            jsonl: None,
            csv: None,
            stdout: None,
            osc: None,
            mqtt: None,
            redis: None,
            websocket: None,
            webhook: None,
            clips: None,
            queue: None,
            retry: None,
            inputs: None,
            on_error: SinkOnError::default(),
        }
    }

    /// The name and delivery settings of this entry.
    pub fn settings(&self) -> SinkSettings {
        SinkSettings {
            name: self.name.value.clone(),
            queue: self.queue.unwrap_or_default(),
            retry: self.retry.unwrap_or_default(),
        }
    }
}

/// Source kinds, for error messages and `--help`.
pub const SOURCE_KINDS: &[&str] = &["rtsp", "http", "webcam", "file", "images", "synthetic"];
/// Analyzer kinds.
pub const ANALYZER_KINDS: &[&str] = &[
    "motion",
    "frame_stats",
    "scene_cut",
    "detect",
    "track",
    "pose",
    "face",
];
/// Sink kinds.
pub const SINK_KINDS: &[&str] = &[
    "jsonl",
    "csv",
    "stdout",
    "osc",
    "mqtt",
    "redis",
    "websocket",
    "webhook",
    "clips",
];
/// The name of the node that evaluates the fusion rules.
pub const FUSION_NODE: &str = "fusion";
