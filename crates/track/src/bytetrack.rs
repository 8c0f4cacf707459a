//! ByteTrack (Zhang et al., 2022), following Ultralytics' implementation and settings.
//!
//! # Settings
//!
//! [`ByteTrackConfig`] uses the names and defaults of Ultralytics' `bytetrack.yaml`, so
//! values tuned there carry over: `track_high_thresh` 0.25, `track_low_thresh` 0.1,
//! `new_track_thresh` 0.25, `track_buffer` 30, `match_thresh` 0.8, `fuse_score` true.
//!
//! # One update, exactly
//!
//! Costs are `1 - IoU` between a track's predicted box and a detection's box; with
//! `fuse_score` they are `1 - IoU * score`. A stage with threshold `m` considers only
//! pairs whose boxes overlap (`IoU > 0`) and whose cost is `<= m`, i.e. `IoU >= 1 - m`
//! (fused: `IoU * score >= 1 - m`), and picks the matching that maximises the total of
//! `m - cost` (see [`crate::assign`]; this is what `lap.lapjv(..., cost_limit=m)` does in
//! Ultralytics). So `match_thresh: 0.8` means "a match needs `IoU * score >= 0.2`".
//!
//! 0. Every track's filter is advanced to the frame (lost tracks first get their height
//!    velocity set to 0, as in ByteTrack). Detections with a non-finite score or a box
//!    without a positive finite area are ignored. *High* detections have
//!    `score >= track_high_thresh`, *low* ones `track_low_thresh < score <
//!    track_high_thresh`; the rest are ignored.
//! 1. Confirmed tracks (tracked and lost) against high detections, threshold
//!    `match_thresh`, fused if `fuse_score`. A matched lost track is tracked again with
//!    its id.
//! 2. Tracked tracks still unmatched against low detections, threshold 0.5, never fused
//!    (as Ultralytics). This is ByteTrack's point: an occluded, low-confidence detection
//!    keeps its track.
//! 3. Tracked tracks still unmatched become lost.
//! 4. Tentative tracks against the high detections left, threshold 0.7, fused if
//!    `fuse_score`. A matched tentative track is confirmed and gets its id; an unmatched
//!    one is dropped.
//! 5. Every high detection still unmatched with `score >= new_track_thresh` starts a
//!    tentative track.
//! 6. A lost track is dropped when more than `track_buffer / 30` seconds of stream time
//!    (plus 1 ms of tolerance for rounded timestamps) passed since its last match.
//! 7. Duplicates: a tracked or tentative track and a lost track of the same class whose
//!    boxes have `IoU > 0.85` are one object seen twice; the one with the shorter history
//!    (frames from its start to its latest match) is dropped, the tracked one on a tie
//!    (Ultralytics' `remove_duplicate_stracks`).
//!
//! The output is every confirmed track matched on this frame, in creation order.
//!
//! # Where this differs from Ultralytics, and why
//!
//! - **Time, not frame counts.** Ultralytics keeps a lost track for `frame_rate / 30 *
//!   track_buffer` frames, i.e. `track_buffer / 30` seconds at the video's nominal rate.
//!   Here the same duration is measured on the frames' capture times, which also holds for
//!   irregular frames and for "detect every Nth frame" pipelines (predict-only frames do
//!   not use up the buffer faster). At a steady 30 frames per second an occlusion of up to
//!   `track_buffer` frames keeps the id, one frame more loses it, as in Ultralytics.
//! - **Every new track is tentative**, including on the first frame (Ultralytics confirms
//!   the tracks of frame 1 at once): the first frame of a stream is arbitrary (a reset, a
//!   reconnect), and a false detection on it would otherwise become a confirmed track.
//! - **Ids are given at confirmation**, so tentative tracks that die do not use up ids.
//! - **Classes**: with `class_aware` (the default, see [`TrackerOptions`]) a detection only
//!   matches tracks of its `class_id`; Ultralytics matches across classes.
//! - **Unconfirmed tracks are predicted** like the others (Ultralytics leaves them in place
//!   for one frame). Their velocity is 0 until their second detection, so only their
//!   uncertainty differs.
//! - **Predict-only frames** ([`Tracker::predict`]) have no Ultralytics counterpart: every
//!   filter advances, lost tracks may expire, and tracked tracks are output with their
//!   predicted boxes.

use visualpath_core::{Detection, Track};

use crate::clock::{FrameTime, StreamClock};
use crate::config::{check_fraction, check_range};
use crate::ids::IdAllocator;
use crate::tracklet::{CostSpec, Matcher, Phase, Tracklet, oldest, usable};
use crate::{ConfigError, MAX_TRACKS, Tracker, TrackerOptions};

/// Threshold of the second stage (low detections), as Ultralytics.
pub const LOW_MATCH_THRESH: f64 = 0.5;
/// Threshold of the tentative-track stage, as Ultralytics.
pub const UNCONFIRMED_MATCH_THRESH: f64 = 0.7;
/// IoU above which a tracked and a lost track are duplicates, as Ultralytics.
pub const DUPLICATE_IOU: f32 = 0.85;
/// Tolerance added to the lost-track buffer for rounded timestamps.
pub const BUFFER_TOLERANCE_NS: i64 = 1_000_000;
/// Largest `track_buffer` (one hour at the 30 fps reference).
pub const MAX_TRACK_BUFFER: u32 = 108_000;

fn default_track_high_thresh() -> f64 {
    0.25
}
fn default_track_low_thresh() -> f64 {
    0.1
}
fn default_new_track_thresh() -> f64 {
    0.25
}
fn default_track_buffer() -> u32 {
    30
}
fn default_match_thresh() -> f64 {
    0.8
}
fn default_fuse_score() -> bool {
    true
}

/// ByteTrack settings, named and defaulted as in Ultralytics' `bytetrack.yaml`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ByteTrackConfig {
    /// Score (0-1) from which a detection is *high*: used in the first association and
    /// able to start a track. Default `0.25`.
    #[serde(default = "default_track_high_thresh")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub track_high_thresh: f64,
    /// Score (0-1) above which a detection below `track_high_thresh` is *low*: used only
    /// to keep tracks that are already tracked (second association). At most
    /// `track_high_thresh`. Default `0.1`.
    #[serde(default = "default_track_low_thresh")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub track_low_thresh: f64,
    /// Score (0-1) from which an unmatched high detection starts a new (tentative) track.
    /// Default `0.25`.
    #[serde(default = "default_new_track_thresh")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub new_track_thresh: f64,
    /// How long a lost track is kept for re-identification, in frames at 30 frames per
    /// second: `track_buffer / 30` seconds of capture time (Ultralytics'
    /// `frame_rate / 30 * track_buffer` frames). From 0 to 108000. Default `30` (1 s).
    #[serde(default = "default_track_buffer")]
    #[schemars(range(min = 0, max = 108000))]
    pub track_buffer: u32,
    /// Largest cost (0-1) of a first-stage match, cost being `1 - IoU`, or `1 - IoU *
    /// score` with `fuse_score`: a match needs `IoU (* score) >= 1 - match_thresh`.
    /// Default `0.8`.
    #[serde(default = "default_match_thresh")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub match_thresh: f64,
    /// Multiply the IoU by the detection score in the first-stage and tentative-track
    /// costs, so that confident detections are preferred. Default `true`.
    #[serde(default = "default_fuse_score")]
    pub fuse_score: bool,
}

impl Default for ByteTrackConfig {
    fn default() -> Self {
        Self {
            track_high_thresh: default_track_high_thresh(),
            track_low_thresh: default_track_low_thresh(),
            new_track_thresh: default_new_track_thresh(),
            track_buffer: default_track_buffer(),
            match_thresh: default_match_thresh(),
            fuse_score: default_fuse_score(),
        }
    }
}

impl ByteTrackConfig {
    /// Checks the ranges; the error names the field as `<prefix><field>`.
    pub fn validate_at(&self, prefix: &str) -> Result<(), ConfigError> {
        check_fraction(prefix, "track_high_thresh", self.track_high_thresh)?;
        check_fraction(prefix, "track_low_thresh", self.track_low_thresh)?;
        check_fraction(prefix, "new_track_thresh", self.new_track_thresh)?;
        check_fraction(prefix, "match_thresh", self.match_thresh)?;
        check_range(
            prefix,
            "track_buffer",
            self.track_buffer,
            0,
            MAX_TRACK_BUFFER,
        )?;
        if self.track_low_thresh > self.track_high_thresh {
            return Err(ConfigError(format!(
                "{}: `{prefix}track_low_thresh` ({}) must not be above `{prefix}track_high_thresh` ({})",
                crate::KIND,
                self.track_low_thresh,
                self.track_high_thresh
            )));
        }
        Ok(())
    }

    /// The lost-track buffer in nanoseconds, tolerance included.
    pub fn buffer_ns(&self) -> i64 {
        i64::from(self.track_buffer) * 1_000_000_000 / 30 + BUFFER_TOLERANCE_NS
    }
}

/// The ByteTrack tracker; see the module docs.
#[derive(Debug)]
pub struct ByteTrack {
    config: ByteTrackConfig,
    options: TrackerOptions,
    buffer_ns: i64,
    clock: StreamClock,
    tracks: Vec<Tracklet>,
    ids: IdAllocator,
    out: Vec<Track>,
    ended: Vec<Track>,
    matcher: Matcher,
    high: Vec<u32>,
    low: Vec<u32>,
    rows: Vec<u32>,
    cols: Vec<u32>,
    det_used: Vec<bool>,
    hit: Vec<bool>,
}

impl ByteTrack {
    /// A tracker with these settings (checked: the error names the bad setting).
    pub fn new(config: ByteTrackConfig, options: TrackerOptions) -> Result<Self, ConfigError> {
        config.validate_at("tracker.bytetrack.")?;
        crate::config::check_id_space(options.id_space)?;
        Ok(Self {
            buffer_ns: config.buffer_ns(),
            config,
            options,
            clock: StreamClock::new(),
            tracks: Vec::new(),
            ids: IdAllocator::new(options.id_space),
            out: Vec::new(),
            ended: Vec::new(),
            matcher: Matcher::default(),
            high: Vec::new(),
            low: Vec::new(),
            rows: Vec::new(),
            cols: Vec::new(),
            det_used: Vec::new(),
            hit: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &ByteTrackConfig {
        &self.config
    }

    /// Ids of the confirmed tracks held (tracked and lost), in creation order.
    pub fn live_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.tracks
            .iter()
            .filter(|t| t.phase != Phase::Tentative)
            .map(|t| t.id)
    }

    /// Number of ids the id allocator holds (equals the number of confirmed tracks).
    pub fn ids_in_use(&self) -> usize {
        self.ids.len()
    }

    fn advance(&mut self, frame: FrameTime) -> i64 {
        let dt_s = self.clock.advance(frame) as f64 * 1e-9;
        self.ended.clear();
        for t in &mut self.tracks {
            if t.phase == Phase::Lost {
                t.kf.freeze_height();
            }
            t.predict(dt_s);
        }
        self.clock.now_ns()
    }

    fn apply(&mut self, dets: &[Detection], now: i64) {
        for &(ti, di) in &self.matcher.matches {
            let t = &mut self.tracks[ti as usize];
            t.matched(&dets[di as usize], now);
            if t.phase == Phase::Lost {
                t.phase = Phase::Tracked;
            }
            self.hit[ti as usize] = true;
            self.det_used[di as usize] = true;
        }
    }

    fn expire_lost(&mut self, now: i64) {
        for t in &mut self.tracks {
            if t.phase == Phase::Lost && now.saturating_sub(t.last_match_ns) > self.buffer_ns {
                t.dead = true;
            }
        }
    }

    /// Removes dead tracks (reporting confirmed ones as ended) and rebuilds the output.
    fn finish(&mut self) {
        for t in self.tracks.iter().filter(|t| t.dead) {
            if t.phase != Phase::Tentative {
                self.ids.release(t.id);
                self.ended.push(t.to_ended());
            }
        }
        self.tracks.retain(|t| !t.dead);
        self.out.clear();
        self.out.extend(
            self.tracks
                .iter()
                .filter(|t| t.phase == Phase::Tracked)
                .map(Tracklet::to_track),
        );
    }

    fn start_track(&mut self, det: &Detection, z: [f64; 4], now: i64, live: &mut usize) {
        if *live >= MAX_TRACKS {
            match oldest(&self.tracks, |t| t.phase == Phase::Lost) {
                Some(i) => self.tracks[i].dead = true,
                None => return,
            }
        } else {
            *live += 1;
        }
        self.tracks.push(Tracklet::new(det, z, now));
    }

    fn remove_duplicates(&mut self) {
        self.rows.clear();
        self.cols.clear();
        for (i, t) in self.tracks.iter().enumerate() {
            if t.dead {
                continue;
            }
            if t.phase == Phase::Lost {
                self.cols.push(i as u32);
            } else {
                self.rows.push(i as u32);
            }
        }
        if self.rows.is_empty() || self.cols.is_empty() {
            return;
        }
        let pairs = self.matcher.overlapping(
            &self.tracks,
            &self.rows,
            &self.cols,
            DUPLICATE_IOU,
            self.options.class_aware,
        );
        // Decide on every pair first (as Ultralytics), then drop.
        self.hit.clear();
        self.hit.resize(self.tracks.len(), false);
        for &(p, q) in pairs {
            let history = |t: &Tracklet| t.age.saturating_sub(t.lost);
            let (tp, tq) = (&self.tracks[p as usize], &self.tracks[q as usize]);
            let drop = if history(tp) > history(tq) { q } else { p };
            self.hit[drop as usize] = true;
        }
        for (t, &drop) in self.tracks.iter_mut().zip(&self.hit) {
            if drop {
                t.dead = true;
            }
        }
    }
}

impl Tracker for ByteTrack {
    fn update(&mut self, frame: FrameTime, dets: &[Detection]) -> &[Track] {
        let now = self.advance(frame);
        let cfg = self.config.clone();
        let class_aware = self.options.class_aware;
        self.high.clear();
        self.low.clear();
        for (i, d) in dets.iter().enumerate() {
            if usable(d).is_none() {
                continue;
            }
            let s = f64::from(d.score);
            if s >= cfg.track_high_thresh {
                self.high.push(i as u32);
            } else if s > cfg.track_low_thresh {
                self.low.push(i as u32);
            }
        }
        self.det_used.clear();
        self.det_used.resize(dets.len(), false);
        self.hit.clear();
        self.hit.resize(self.tracks.len(), false);

        // 1. Confirmed tracks against high detections.
        self.rows.clear();
        self.rows.extend(
            (0..self.tracks.len() as u32)
                .filter(|&i| self.tracks[i as usize].phase != Phase::Tentative),
        );
        let first = CostSpec {
            fuse_score: cfg.fuse_score,
            max_cost: cfg.match_thresh,
            class_aware,
        };
        self.matcher
            .run(&self.tracks, &self.rows, dets, &self.high, first);
        self.apply(dets, now);

        // 2. Tracked tracks left against low detections.
        self.rows.clear();
        self.rows.extend(
            (0..self.tracks.len() as u32).filter(|&i| {
                self.tracks[i as usize].phase == Phase::Tracked && !self.hit[i as usize]
            }),
        );
        let second = CostSpec {
            fuse_score: false,
            max_cost: LOW_MATCH_THRESH,
            class_aware,
        };
        self.matcher
            .run(&self.tracks, &self.rows, dets, &self.low, second);
        self.apply(dets, now);

        // 3. Unmatched tracked tracks are lost.
        for (t, &hit) in self.tracks.iter_mut().zip(&self.hit) {
            if t.phase == Phase::Tracked && !hit {
                t.phase = Phase::Lost;
            }
        }

        // 4. Tentative tracks against the high detections left.
        self.rows.clear();
        self.rows.extend(
            (0..self.tracks.len() as u32)
                .filter(|&i| self.tracks[i as usize].phase == Phase::Tentative),
        );
        self.cols.clear();
        self.cols.extend(
            self.high
                .iter()
                .copied()
                .filter(|&d| !self.det_used[d as usize]),
        );
        let unconfirmed = CostSpec {
            fuse_score: cfg.fuse_score,
            max_cost: UNCONFIRMED_MATCH_THRESH,
            class_aware,
        };
        self.matcher
            .run(&self.tracks, &self.rows, dets, &self.cols, unconfirmed);
        self.apply(dets, now);
        for &ti in &self.rows {
            let t = &mut self.tracks[ti as usize];
            if !self.hit[ti as usize] {
                t.dead = true;
            } else if let Some(id) = self.ids.allocate() {
                t.id = id;
                t.phase = Phase::Tracked;
            }
        }

        // 5. New tentative tracks.
        let new_thresh = cfg.new_track_thresh;
        let mut live = self.tracks.iter().filter(|t| !t.dead).count();
        for k in 0..self.high.len() {
            let di = self.high[k] as usize;
            let d = &dets[di];
            if self.det_used[di] || f64::from(d.score) < new_thresh {
                continue;
            }
            if let Some(z) = usable(d) {
                self.start_track(d, z, now, &mut live);
            }
        }

        // 6. Expired lost tracks; 7. duplicates.
        self.expire_lost(now);
        self.remove_duplicates();
        self.finish();
        &self.out
    }

    fn predict(&mut self, frame: FrameTime) -> &[Track] {
        let now = self.advance(frame);
        self.expire_lost(now);
        self.finish();
        &self.out
    }

    fn ended(&self) -> &[Track] {
        &self.ended
    }

    fn live_tracks(&self) -> usize {
        self.tracks.len()
    }

    fn reset(&mut self) {
        self.tracks.clear();
        self.ids.release_all();
        self.out.clear();
        self.ended.clear();
        self.clock.reset();
    }
}
