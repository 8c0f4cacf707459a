//! Event clips: MP4 files around events, from per-camera ring buffers of encoded video.
//!
//! Each FFmpeg-based source (file, RTSP, HTTP, webcam) hands copies of its compressed
//! video packets to the clip recorder through a [`visualpath_media::PacketTaps`]
//! registry. The recorder keeps, per camera, a ring of packets starting at a keyframe
//! ([`ring`]), bounded by time (`buffer`, plus up to one GOP) and bytes (`buffer_bytes`,
//! drops counted). Nothing is re-encoded.
//!
//! On an event record for camera X (`Record::Event`; observations and sync sets are
//! counted as `skipped`), the recorder opens a clip from the last keyframe at or before
//! `since - pre`, collects packets until `until + post` (an event that has not ended
//! keeps the clip open, up to `max_clip`), and writes
//! `{dir}/{source}/{YYYYmmdd-HHMMSS}-{rule}-{id}.mp4` (time of the first event's
//! `since`, UTC) by remuxing, timestamps starting at 0. So a clip's duration is
//! `pre + (until - since) + post` plus up to one GOP before. Events of the same camera
//! whose windows overlap (or that start while another is running) extend one clip; the
//! sidecar lists them all. Next to the clip: `{same}.jpg`, the picture at the first
//! event's start (decoded from the clip's first keyframe), and `{same}.json`, the sidecar.
//!
//! All the work (collecting, muxing, JPEG, retention) happens on the sink's own thread;
//! the source thread only appends an `Arc` of the packet to the ring under a short lock.
//! After each clip, retention deletes the oldest clips under `dir` beyond `max_bytes` or
//! older than `max_age`.
//!
//! A restarted stream (reconnect, rewound file) starts a fresh ring; a clip open at that
//! moment is written with what it has. At the end of the run ([`Sink::flush`]) open clips
//! are written with what the ring holds.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod ring;
pub mod writer;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use visualpath_core::{Event, EventPhase, HumanDuration, Name, Record};
use visualpath_media::{PacketConsumer, PacketTaps, TapPacket, TapStream};
use visualpath_sdk::{ComponentError, Result, Sink, SinkHealth, SinkStatus};
use visualpath_sinks::SinkSettings;

use crate::ring::{ClipPlan, Packet, Ring};
use crate::writer::Header;

/// Settings of the clip writer (a `clips:` entry of a pipeline file's `sinks:`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClipsConfig {
    /// Folder for clips, snapshots and sidecars (one subfolder per camera). Created if
    /// missing. Required.
    pub dir: PathBuf,
    /// Video kept before an event's start when its rule sets no `clip:` window. Default
    /// `5s`.
    #[serde(default = "default_pre")]
    pub pre: HumanDuration,
    /// Video kept after an event's end when its rule sets no `clip:` window. Default
    /// `5s`.
    #[serde(default = "default_post")]
    pub post: HumanDuration,
    /// Video each camera's ring keeps (plus up to one GOP): must cover the longest `pre`
    /// of any rule, plus how late events reach this sink. Default `30s`.
    #[serde(default = "default_buffer")]
    pub buffer: HumanDuration,
    /// Byte cap of each camera's ring; beyond it the oldest GOPs are dropped (counted)
    /// even if the ring then holds less than `buffer`. Default `67108864` (64 MiB).
    #[serde(default = "default_buffer_bytes")]
    pub buffer_bytes: u64,
    /// Longest clip: a clip whose events keep running is written when it reaches this
    /// length. Default `10m`.
    #[serde(default = "default_max_clip")]
    pub max_clip: HumanDuration,
    /// Retention: total size of `dir` (clips, snapshots, sidecars) beyond which the
    /// oldest clips are deleted after each new clip. Default none (no limit).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Retention: clips older than this are deleted after each new clip. Default none.
    #[serde(default)]
    pub max_age: Option<HumanDuration>,
    /// Write a JPEG snapshot of the event's frame next to each clip. Default `true`.
    #[serde(default = "default_true")]
    pub snapshot: bool,
    /// Put the MP4 index first (`movflags +faststart`), for playback while
    /// downloading. Default `true`.
    #[serde(default = "default_true")]
    pub faststart: bool,
}

fn default_pre() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_post() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_buffer() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_buffer_bytes() -> u64 {
    64 << 20
}
fn default_max_clip() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_true() -> bool {
    true
}

impl ClipsConfig {
    /// A config writing to `dir` with the defaults.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            pre: default_pre(),
            post: default_post(),
            buffer: default_buffer(),
            buffer_bytes: default_buffer_bytes(),
            max_clip: default_max_clip(),
            max_bytes: None,
            max_age: None,
            snapshot: true,
            faststart: true,
        }
    }

    /// The command-line form: `DIR[,key=value...]` with keys `pre`, `post`, `buffer`,
    /// `max_bytes`, `max_age`, `snapshot` (e.g. `clips/,pre=2s,max_bytes=1000000000`).
    pub fn from_cli(arg: &str) -> Result<ClipsConfig> {
        let mut parts = arg.split(',');
        let dir = parts.next().unwrap_or_default();
        if dir.is_empty() {
            return Err(ComponentError::new(format!(
                "clips `{arg}`: expected DIR[,key=value...] (keys: pre, post, buffer, max_bytes, max_age, snapshot)"
            )));
        }
        let mut c = Self::new(dir);
        for kv in parts {
            let bad = |why: &str| ComponentError::new(format!("clips `{arg}`: `{kv}`: {why}"));
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad("expected key=value"))?;
            let dur = || HumanDuration::parse(v).map_err(|e| bad(&e));
            let num = || v.parse::<u64>().map_err(|_| bad("expected a byte count"));
            match k {
                "pre" => c.pre = dur()?,
                "post" => c.post = dur()?,
                "buffer" => c.buffer = dur()?,
                "max_bytes" => c.max_bytes = Some(num()?),
                "max_age" => c.max_age = Some(dur()?),
                "snapshot" => {
                    c.snapshot = v.parse().map_err(|_| bad("expected true or false"))?;
                }
                _ => {
                    return Err(bad(
                        "unknown key (valid: pre, post, buffer, max_bytes, max_age, snapshot)",
                    ));
                }
            }
        }
        Ok(c)
    }

    /// Checks the values; errors name the sink, the field and what would be valid.
    pub fn validate(&self, name: &Name) -> Result<()> {
        let bad = |field: &str, why: &str| {
            ComponentError::new(format!("sink `{name}`: clips `{field}`: {why}"))
        };
        if self.dir.as_os_str().is_empty() {
            return Err(bad("dir", "must name a folder"));
        }
        if self.buffer.get().is_zero() {
            return Err(bad("buffer", "must be more than 0s (e.g. 30s)"));
        }
        if self.buffer_bytes < 1 << 16 {
            return Err(bad("buffer_bytes", "must be at least 65536"));
        }
        if self.max_clip.get() < Duration::from_secs(1) {
            return Err(bad("max_clip", "must be at least 1s"));
        }
        Ok(())
    }

    /// Starts the recorder: registers its packet consumer with `taps` (the registry the
    /// pipeline's sources report to) and starts its writer thread.
    pub fn build(&self, settings: &SinkSettings, taps: &PacketTaps) -> Result<Box<dyn Sink>> {
        Ok(Box::new(ClipsSink::start(self, settings, taps)?))
    }
}

/// One camera's state, shared by its source thread (pushing) and the writer.
#[derive(Debug)]
struct Camera {
    ring: Ring,
    header: Option<Arc<Header>>,
    /// Incremented on each stream start.
    generation: u64,
    ended: bool,
}

/// The packet consumer registered with the sources' taps.
struct Recorder {
    cameras: RwLock<HashMap<Name, Arc<Mutex<Camera>>>>,
    max_ns: i64,
    max_bytes: usize,
}

impl Recorder {
    fn camera(&self, source: &Name) -> Arc<Mutex<Camera>> {
        if let Some(c) = self
            .cameras
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(source)
        {
            return Arc::clone(c);
        }
        let mut map = self.cameras.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(source.clone()).or_insert_with(|| {
            Arc::new(Mutex::new(Camera {
                ring: Ring::new(self.max_ns, self.max_bytes),
                header: None,
                generation: 0,
                ended: false,
            }))
        }))
    }

    fn existing(&self, source: &Name) -> Option<Arc<Mutex<Camera>>> {
        self.cameras
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(source)
            .cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PacketConsumer for Recorder {
    fn stream_start(&self, source: &Name, s: &TapStream) {
        let cam = self.camera(source);
        let mut c = lock(&cam);
        c.ring.restart(s.frame_duration_ns);
        c.generation += 1;
        c.ended = false;
        c.header = Some(Arc::new(Header {
            parameters: Mutex::new(s.parameters.clone()),
            time_base: s.time_base,
            codec: s.codec,
            width: s.width,
            height: s.height,
            frame_ns: s.frame_duration_ns,
        }));
    }

    fn packet(&self, source: &Name, p: &TapPacket) {
        // A stream whose start this recorder did not see has no header: ignored.
        let Some(cam) = self.existing(source) else {
            return;
        };
        let mut c = lock(&cam);
        if c.header.is_none() {
            return;
        }
        c.ring.push(p.clone());
    }

    fn frame(&self, source: &Name, pts_ns: i64, capture_time_ns: i64) {
        if let Some(cam) = self.existing(source) {
            lock(&cam).ring.map_time(pts_ns, capture_time_ns);
        }
    }

    fn stream_end(&self, source: &Name) {
        if let Some(cam) = self.existing(source) {
            lock(&cam).ended = true;
        }
    }
}

enum Command {
    Event(Arc<Event>),
    Flush(SyncSender<()>),
}

/// Commands queued for the writer thread.
const QUEUE: usize = 1024;
/// How often the writer collects packets for open clips.
const TICK: Duration = Duration::from_millis(50);
/// Longest wait for the writer in `flush` and on drop.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// The clip recorder sink (see the crate docs). `sent` counts event records applied to
/// a clip that was written, `failed` event records whose clip could not be written,
/// `dropped` records refused because the writer's queue (1024) was full, `skipped`
/// observations and sync sets.
pub struct ClipsSink {
    tx: Option<SyncSender<Command>>,
    status: Arc<SinkStatus>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ClipsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipsSink").finish_non_exhaustive()
    }
}

impl ClipsSink {
    /// Validates `config`, creates its folder, registers with `taps` and starts the
    /// writer thread.
    pub fn start(config: &ClipsConfig, settings: &SinkSettings, taps: &PacketTaps) -> Result<Self> {
        config.validate(&settings.name)?;
        std::fs::create_dir_all(&config.dir).map_err(|e| {
            ComponentError::new(format!(
                "sink `{}`: clips `dir`: cannot create `{}`: {e}",
                settings.name,
                config.dir.display()
            ))
        })?;
        let recorder = Arc::new(Recorder {
            cameras: RwLock::new(HashMap::new()),
            max_ns: config.buffer.as_nanos_i64(),
            max_bytes: usize::try_from(config.buffer_bytes).unwrap_or(usize::MAX),
        });
        taps.register(recorder.clone());
        let status = SinkStatus::new();
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let mut w = WriterLoop {
            config: config.clone(),
            recorder,
            status: Arc::clone(&status),
            open: Vec::new(),
            written: VecDeque::new(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("clips-{}", settings.name))
            .spawn(move || w.run(rx))
            .map_err(|e| {
                ComponentError::new(format!("sink `{}`: cannot start: {e}", settings.name))
            })?;
        Ok(Self {
            tx: Some(tx),
            status,
            thread: Some(thread),
        })
    }

    fn wait_writer(&self) -> Result<()> {
        let Some(tx) = &self.tx else { return Ok(()) };
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        tx.send(Command::Flush(done_tx))
            .map_err(|_| ComponentError::new("clips: the writer thread stopped"))?;
        done_rx
            .recv_timeout(FLUSH_TIMEOUT)
            .map_err(|_| ComponentError::transient("clips: writing open clips timed out"))
    }
}

impl Sink for ClipsSink {
    fn write(&mut self, record: &Record) -> Result<()> {
        let Record::Event(e) = record else {
            SinkStatus::bump(&self.status.skipped);
            return Ok(());
        };
        let Some(tx) = &self.tx else { return Ok(()) };
        match tx.try_send(Command::Event(Arc::clone(e))) {
            Ok(()) => {
                self.status.queued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                SinkStatus::bump(&self.status.dropped);
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(ComponentError::new("clips: the writer thread stopped"))
            }
        }
    }

    /// Writes every open clip with what the rings hold (the end of the run).
    fn flush(&mut self) -> Result<()> {
        self.wait_writer()
    }

    fn status(&self) -> Option<Arc<SinkStatus>> {
        Some(Arc::clone(&self.status))
    }
}

impl Drop for ClipsSink {
    fn drop(&mut self) {
        let _ = self.wait_writer();
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A clip being collected.
struct OpenClip {
    source: Name,
    plan: ClipPlan,
    header: Arc<Header>,
    generation: u64,
    packets: Vec<Packet>,
    next_seq: u64,
    offset_ns: Option<i64>,
    lost: u64,
    opened: Instant,
    /// Event records applied (for the counters).
    records: u64,
    /// The ring did not reach back to the wanted start.
    truncated_start: bool,
}

struct WriterLoop {
    config: ClipsConfig,
    recorder: Arc<Recorder>,
    status: Arc<SinkStatus>,
    open: Vec<OpenClip>,
    /// Recently written clips: event ids and sidecar path, to record late end records.
    written: VecDeque<(Name, Vec<u64>, PathBuf, serde_json::Value)>,
}

impl WriterLoop {
    fn run(&mut self, rx: Receiver<Command>) {
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Command::Event(e)) => {
                    self.status.queued.fetch_sub(1, Ordering::Relaxed);
                    self.event(&e);
                }
                Ok(Command::Flush(done)) => {
                    self.collect(true);
                    let _ = done.send(());
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.collect(true);
                    return;
                }
            }
            self.collect(false);
        }
    }

    fn window(&self, e: &Event) -> (i64, i64) {
        ring::window(
            e,
            self.config.pre.as_nanos_i64(),
            self.config.post.as_nanos_i64(),
        )
    }

    fn event(&mut self, e: &Event) {
        let w = self.window(e);
        if let Some(c) = self
            .open
            .iter_mut()
            .find(|c| c.source == e.source && c.plan.has(e.id))
        {
            c.plan.add(e, w);
            c.records += 1;
            return;
        }
        if e.phase == EventPhase::End && self.late_end(e) {
            return;
        }
        if let Some(c) = self
            .open
            .iter_mut()
            .find(|c| c.source == e.source && c.plan.overlaps(w.0))
        {
            c.plan.add(e, w);
            c.records += 1;
            return;
        }
        let Some(cam) = self.recorder.existing(&e.source) else {
            self.fail(1, &format!("camera `{}` sends no video packets to clips (not an FFmpeg source, or not started)", e.source));
            return;
        };
        let c = lock(&cam);
        let Some(header) = c.header.clone() else {
            drop(c);
            self.fail(1, &format!("camera `{}` has no video stream yet", e.source));
            return;
        };
        let next_seq = c.ring.start_seq(w.0);
        let truncated_start = {
            let (p, _) = c.ring.since(next_seq);
            match (p.first(), c.ring.offset_ns()) {
                (Some(p), Some(o)) => p.time_ns + o > w.0,
                _ => true,
            }
        };
        let open = OpenClip {
            source: e.source.clone(),
            plan: ClipPlan::new(e, w),
            header,
            generation: c.generation,
            packets: Vec::new(),
            next_seq,
            offset_ns: c.ring.offset_ns(),
            lost: 0,
            opened: Instant::now(),
            records: 1,
            truncated_start,
        };
        drop(c);
        self.open.push(open);
    }

    /// An end record for a clip already written: updates its sidecar.
    fn late_end(&mut self, e: &Event) -> bool {
        let Some((_, _, path, sidecar)) = self
            .written
            .iter_mut()
            .find(|(s, ids, _, _)| *s == e.source && ids.contains(&e.id))
        else {
            return false;
        };
        let wanted_end = ring::window(
            e,
            self.config.pre.as_nanos_i64(),
            self.config.post.as_nanos_i64(),
        )
        .1;
        let wanted_end = sidecar["wanted_end_ns"]
            .as_i64()
            .unwrap_or(wanted_end)
            .max(wanted_end);
        sidecar["wanted_end_ns"] = wanted_end.into();
        if sidecar["end_ns"]
            .as_i64()
            .is_some_and(|end| end < wanted_end)
        {
            sidecar["truncated"] = true.into();
        }
        if let Some(events) = sidecar.get_mut("events").and_then(|v| v.as_array_mut()) {
            for ev in events.iter_mut() {
                if ev.get("event_id").and_then(|v| v.as_u64()) == Some(e.id) {
                    *ev = event_json(e, true);
                }
            }
        }
        match write_json(path, sidecar) {
            Ok(()) => SinkStatus::bump(&self.status.sent),
            Err(m) => self.fail(1, &m),
        }
        true
    }

    fn fail(&self, records: u64, message: &str) {
        tracing::warn!(error = message, "clip not written");
        self.status.failed.fetch_add(records, Ordering::Relaxed);
        self.status.set_health(SinkHealth::Failing);
        self.status.set_error(message);
    }

    /// Pulls new packets into the open clips and writes the complete ones (all, with
    /// `all`).
    fn collect(&mut self, all: bool) {
        let mut i = 0;
        while i < self.open.len() {
            let done = self.pull(i) || all;
            if done {
                let clip = self.open.swap_remove(i);
                self.finish(clip);
            } else {
                i += 1;
            }
        }
    }

    /// Collects packets for clip `i`; whether it is complete.
    fn pull(&mut self, i: usize) -> bool {
        let max_clip = self.config.max_clip.as_nanos_i64();
        let clip = &mut self.open[i];
        let Some(cam) = self.recorder.existing(&clip.source) else {
            return true;
        };
        let c = lock(&cam);
        if c.generation != clip.generation {
            return true;
        }
        let (new, gap) = c.ring.since(clip.next_seq);
        clip.lost += gap;
        clip.offset_ns = c.ring.offset_ns().or(clip.offset_ns);
        let ended = c.ended;
        drop(c);
        for p in new {
            if clip.packets.is_empty() && !p.key {
                clip.next_seq = p.seq + 1;
                continue;
            }
            clip.next_seq = p.seq + 1;
            clip.packets.push(p);
        }
        let Some(offset) = clip.offset_ns else {
            return ended;
        };
        let newest = clip.packets.last().map(|p| p.time_ns + offset);
        let first = clip.packets.first().map(|p| p.time_ns + offset);
        let too_long = matches!((first, newest), (Some(a), Some(b)) if b - a >= max_clip);
        ended
            || too_long
            || newest.is_some_and(|n| clip.plan.complete(n))
            || clip.opened.elapsed() > self.config.max_clip.get() + self.config.buffer.get()
    }

    fn finish(&mut self, mut clip: OpenClip) {
        let offset = clip.offset_ns.unwrap_or(0);
        let n = ring::cut_len(
            &clip.packets,
            offset,
            clip.plan.end_ns,
            clip.header.frame_ns,
        );
        clip.packets.truncate(n);
        if clip.packets.is_empty() {
            self.fail(
                clip.records,
                &format!(
                    "camera `{}`: no video for the clip of event {} (the ring held nothing from its start)",
                    clip.source, clip.plan.events[0].event.id
                ),
            );
            return;
        }
        let first = &clip.plan.events[0].event;
        let stem_name = format!(
            "{}-{}-{}",
            writer::timestamp_name(first.since_ns),
            first.rule,
            first.id
        );
        let folder = self.config.dir.join(clip.source.as_str());
        if let Err(e) = std::fs::create_dir_all(&folder) {
            self.fail(
                clip.records,
                &format!("cannot create `{}`: {e}", folder.display()),
            );
            return;
        }
        let stem = folder.join(&stem_name);
        let written = match writer::remux(&stem, &clip.header, &clip.packets, self.config.faststart)
        {
            Ok(w) => w,
            Err(m) => {
                self.fail(clip.records, &m);
                return;
            }
        };
        let mut snapshot = None;
        if self.config.snapshot {
            let jpg = stem.with_extension("jpg");
            match writer::snapshot(
                &jpg,
                &clip.header,
                &clip.packets,
                offset,
                first.capture_time_ns,
            ) {
                Ok(()) => snapshot = Some(file_name(&jpg)),
                Err(m) => tracing::warn!(error = %m, "no snapshot"),
            }
        }
        let start_ns = clip.packets[0].time_ns + offset;
        let last = clip.packets.last().map_or(0, |p| p.time_ns + offset);
        let end_ns = last + clip.header.frame_ns;
        let sidecar = serde_json::json!({
            "camera": clip.source.as_str(),
            "file": file_name(&written.path),
            "snapshot": snapshot,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "duration_s": (end_ns - start_ns) as f64 / 1e9,
            "wanted_start_ns": clip.plan.start_ns,
            "wanted_end_ns": clip.plan.end_ns,
            // Shorter than wanted: the ring did not reach back far enough, the stream
            // ended (or restarted) first, or an event was still running.
            "truncated": clip.truncated_start
                || last < clip.plan.end_ns - clip.header.frame_ns
                || clip.plan.running(),
            "frames": written.frames,
            "bytes": written.bytes,
            "lost_packets": clip.lost,
            "codec": clip.header.codec,
            "width": clip.header.width,
            "height": clip.header.height,
            "events": clip.plan.events.iter().map(|e| event_json(&e.event, e.ended)).collect::<Vec<_>>(),
        });
        let json = stem.with_extension("json");
        if let Err(m) = write_json(&json, &sidecar) {
            self.fail(clip.records, &m);
            return;
        }
        tracing::info!(camera = %clip.source, file = %written.path.display(), frames = written.frames, "clip written");
        self.status.sent.fetch_add(clip.records, Ordering::Relaxed);
        self.status.set_health(SinkHealth::Healthy);
        let ids = clip.plan.events.iter().map(|e| e.event.id).collect();
        self.written.push_back((clip.source, ids, json, sidecar));
        if self.written.len() > 64 {
            self.written.pop_front();
        }
        let deleted = writer::apply_retention(
            &self.config.dir,
            self.config.max_bytes,
            self.config.max_age.map(|a| a.get()),
            SystemTime::now(),
        );
        if deleted > 0 {
            tracing::info!(deleted, "retention deleted old clips");
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned()
}

fn event_json(e: &Event, ended: bool) -> serde_json::Value {
    serde_json::json!({
        "event_id": e.id,
        "rule": e.rule.as_str(),
        "since_ns": e.since_ns,
        "until_ns": e.until_ns,
        "capture_time_ns": e.capture_time_ns,
        "ended": ended,
        "values": e.values,
    })
}

fn write_json(path: &Path, v: &serde_json::Value) -> std::result::Result<(), String> {
    let tmp = path.with_extension("json.part");
    let text = serde_json::to_vec_pretty(v).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_form_sets_fields_and_names_bad_keys() {
        let c =
            ClipsConfig::from_cli("clips/,pre=2s,post=3s,max_bytes=1000,snapshot=false").unwrap();
        assert_eq!(c.dir, PathBuf::from("clips/"));
        assert_eq!(c.pre.get(), Duration::from_secs(2));
        assert_eq!(c.post.get(), Duration::from_secs(3));
        assert_eq!(c.max_bytes, Some(1000));
        assert!(!c.snapshot);
        let e = ClipsConfig::from_cli("clips,colour=red").unwrap_err();
        assert!(
            e.message.contains("colour") && e.message.contains("valid:"),
            "{e}"
        );
        assert!(ClipsConfig::from_cli("").is_err());
        assert!(ClipsConfig::from_cli("d,pre=soon").is_err());
    }

    #[test]
    fn validation_names_the_sink_and_field() {
        let name = Name::new("rec").unwrap();
        let mut c = ClipsConfig::new("x");
        assert!(c.validate(&name).is_ok());
        c.buffer = HumanDuration(Duration::ZERO);
        let e = c.validate(&name).unwrap_err();
        assert!(
            e.message.contains("`rec`") && e.message.contains("`buffer`"),
            "{e}"
        );
    }

    #[test]
    fn config_defaults_from_yaml_like_json() {
        let c: ClipsConfig = serde_json::from_str(r#"{"dir": "/tmp/c"}"#).unwrap();
        assert_eq!(c, ClipsConfig::new("/tmp/c"));
        assert!(serde_json::from_str::<ClipsConfig>(r#"{"dir": "d", "nope": 1}"#).is_err());
    }
}
