//! SORT (Bewley et al., 2016) on this crate's Kalman filter and assignment.
//!
//! # Settings
//!
//! [`SortConfig`] has SORT's three parameters with its defaults: `max_age` 1, `min_hits`
//! 3, `iou_threshold` 0.3.
//!
//! # One update, exactly
//!
//! 1. Every track's filter is advanced to the frame. Detections with a non-finite score
//!    or a box without a positive finite area are ignored; all others are used (SORT has
//!    no score threshold: filter scores upstream).
//! 2. All tracks against all detections, cost `1 - IoU`, threshold `1 - iou_threshold`:
//!    a match needs overlapping boxes with `IoU >= iou_threshold`, and the matching
//!    maximises the total of `IoU - iou_threshold` (see [`crate::assign`]). SORT solves
//!    the full assignment and then discards pairs under the threshold; gating first never
//!    pairs a track with a detection it does not overlap enough.
//! 3. A matched track counts one more consecutive hit; a track with `min_hits`
//!    consecutive hits is confirmed and gets its id (with `min_hits: 1` at once). An
//!    unmatched track's hit streak restarts at 0; after more than `max_age` consecutive
//!    unmatched updates it is dropped.
//! 4. Every unmatched detection starts a tentative track.
//!
//! The output is every confirmed track matched on this frame, in creation order.
//!
//! # Where this differs from SORT, and why
//!
//! - The Kalman filter is ByteTrack's (see [`crate::kalman`]), with time steps from capture
//!   times; SORT's filter works on `(cx, cy, area, aspect)` with fixed noise per frame.
//! - `max_age` and `min_hits` count updates (frames on which the detector ran);
//!   [`Tracker::predict`] frames advance the filters without using them up.
//! - SORT outputs every track during its first `min_hits` frames (a warm-up exception) and
//!   hides a confirmed track again after one miss until it has `min_hits` new consecutive
//!   hits. Here tentative tracks are never output, and a confirmed track stays confirmed:
//!   it is output on every frame it is matched.
//! - Ids are given at confirmation; with `class_aware` (the default) detections only match
//!   tracks of their class.

use visualpath_core::{Detection, Track};

use crate::clock::{FrameTime, StreamClock};
use crate::config::{check_fraction, check_range};
use crate::ids::IdAllocator;
use crate::tracklet::{CostSpec, Matcher, Phase, Tracklet, oldest, usable};
use crate::{ConfigError, MAX_TRACKS, Tracker, TrackerOptions};

/// Largest `max_age` and `min_hits`.
pub const MAX_SORT_FRAMES: u32 = 100_000;

fn default_max_age() -> u32 {
    1
}
fn default_min_hits() -> u32 {
    3
}
fn default_iou_threshold() -> f64 {
    0.3
}

/// SORT settings, named and defaulted as in the reference implementation.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SortConfig {
    /// Consecutive detector frames a track may go unmatched before it is dropped (it is
    /// dropped at the `max_age + 1`-th). From 0 to 100000. Default `1`.
    #[serde(default = "default_max_age")]
    #[schemars(range(min = 0, max = 100000))]
    pub max_age: u32,
    /// Consecutive matched detector frames that confirm a new track (1 confirms at once).
    /// From 1 to 100000. Default `3`.
    #[serde(default = "default_min_hits")]
    #[schemars(range(min = 1, max = 100000))]
    pub min_hits: u32,
    /// Smallest IoU (0-1) of a match. Default `0.3`.
    #[serde(default = "default_iou_threshold")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub iou_threshold: f64,
}

impl Default for SortConfig {
    fn default() -> Self {
        Self {
            max_age: default_max_age(),
            min_hits: default_min_hits(),
            iou_threshold: default_iou_threshold(),
        }
    }
}

impl SortConfig {
    /// Checks the ranges; the error names the field as `<prefix><field>`.
    pub fn validate_at(&self, prefix: &str) -> Result<(), ConfigError> {
        check_range(prefix, "max_age", self.max_age, 0, MAX_SORT_FRAMES)?;
        check_range(prefix, "min_hits", self.min_hits, 1, MAX_SORT_FRAMES)?;
        check_fraction(prefix, "iou_threshold", self.iou_threshold)
    }
}

/// The SORT tracker; see the module docs.
#[derive(Debug)]
pub struct Sort {
    config: SortConfig,
    options: TrackerOptions,
    clock: StreamClock,
    tracks: Vec<Tracklet>,
    ids: IdAllocator,
    out: Vec<Track>,
    ended: Vec<Track>,
    matcher: Matcher,
    rows: Vec<u32>,
    cols: Vec<u32>,
    det_used: Vec<bool>,
    hit: Vec<bool>,
}

impl Sort {
    /// A tracker with these settings (checked: the error names the bad setting).
    pub fn new(config: SortConfig, options: TrackerOptions) -> Result<Self, ConfigError> {
        config.validate_at("tracker.sort.")?;
        crate::config::check_id_space(options.id_space)?;
        Ok(Self {
            config,
            options,
            clock: StreamClock::new(),
            tracks: Vec::new(),
            ids: IdAllocator::new(options.id_space),
            out: Vec::new(),
            ended: Vec::new(),
            matcher: Matcher::default(),
            rows: Vec::new(),
            cols: Vec::new(),
            det_used: Vec::new(),
            hit: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &SortConfig {
        &self.config
    }

    /// Ids of the confirmed tracks held, in creation order.
    pub fn live_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.tracks
            .iter()
            .filter(|t| t.phase != Phase::Tentative)
            .map(|t| t.id)
    }

    fn advance(&mut self, frame: FrameTime) -> i64 {
        let dt_s = self.clock.advance(frame) as f64 * 1e-9;
        self.ended.clear();
        for t in &mut self.tracks {
            t.predict(dt_s);
        }
        self.clock.now_ns()
    }

    fn confirm(&mut self, i: usize) {
        let t = &mut self.tracks[i];
        if t.phase == Phase::Tentative && t.streak >= self.config.min_hits {
            if let Some(id) = self.ids.allocate() {
                t.id = id;
                t.phase = Phase::Tracked;
            }
        } else if t.phase == Phase::Lost {
            t.phase = Phase::Tracked;
        }
    }

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
}

impl Tracker for Sort {
    fn update(&mut self, frame: FrameTime, dets: &[Detection]) -> &[Track] {
        let now = self.advance(frame);
        self.cols.clear();
        self.cols.extend(
            dets.iter()
                .enumerate()
                .filter(|(_, d)| usable(d).is_some())
                .map(|(i, _)| i as u32),
        );
        self.rows.clear();
        self.rows.extend(0..self.tracks.len() as u32);
        self.det_used.clear();
        self.det_used.resize(dets.len(), false);
        self.hit.clear();
        self.hit.resize(self.tracks.len(), false);
        let spec = CostSpec {
            fuse_score: false,
            max_cost: 1.0 - self.config.iou_threshold,
            class_aware: self.options.class_aware,
        };
        self.matcher
            .run(&self.tracks, &self.rows, dets, &self.cols, spec);
        for k in 0..self.matcher.matches.len() {
            let (ti, di) = self.matcher.matches[k];
            self.tracks[ti as usize].matched(&dets[di as usize], now);
            self.hit[ti as usize] = true;
            self.det_used[di as usize] = true;
            self.confirm(ti as usize);
        }
        for (t, &hit) in self.tracks.iter_mut().zip(&self.hit) {
            if !hit {
                t.streak = 0;
                t.misses = t.misses.saturating_add(1);
                if t.phase == Phase::Tracked {
                    t.phase = Phase::Lost;
                }
                if t.misses > self.config.max_age {
                    t.dead = true;
                }
            }
        }
        let mut live = self.tracks.iter().filter(|t| !t.dead).count();
        for k in 0..self.cols.len() {
            let di = self.cols[k] as usize;
            if self.det_used[di] {
                continue;
            }
            let d = &dets[di];
            let Some(z) = usable(d) else { continue };
            if live >= MAX_TRACKS {
                match oldest(&self.tracks, |t| t.misses > 0) {
                    Some(i) => self.tracks[i].dead = true,
                    None => continue,
                }
            } else {
                live += 1;
            }
            self.tracks.push(Tracklet::new(d, z, now));
            let i = self.tracks.len() - 1;
            self.confirm(i);
        }
        self.finish();
        &self.out
    }

    fn predict(&mut self, frame: FrameTime) -> &[Track] {
        self.advance(frame);
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
