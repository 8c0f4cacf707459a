//! What ByteTrack and SORT share: the per-track state and the association step.

use visualpath_core::observation::Label;
use visualpath_core::{BBox, Detection, Track};

use crate::assign::{Assigner, Edge, OverlapFinder};
use crate::kalman::{BoxKalman, measure};

/// Where a track is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Started, not confirmed yet: never output, has no id.
    Tentative,
    /// Confirmed and matched at the latest update.
    Tracked,
    /// Confirmed, unmatched at the latest update, kept in case it is found again.
    Lost,
}

/// One track's state.
#[derive(Clone, Debug)]
pub(crate) struct Tracklet {
    pub kf: BoxKalman,
    pub phase: Phase,
    /// 0 while tentative.
    pub id: u64,
    pub class: Label,
    pub class_id: u32,
    pub score: f32,
    /// The state's box (after the latest predict or update).
    pub bbox: BBox,
    /// The state's box right after the latest match.
    pub last_box: BBox,
    pub age: u32,
    pub hits: u32,
    /// Frames (update or predict) since the latest match.
    pub lost: u32,
    /// Stream time of the latest match, ns.
    pub last_match_ns: i64,
    /// SORT: consecutive matched updates.
    pub streak: u32,
    /// SORT: consecutive unmatched updates.
    pub misses: u32,
    /// Marked for removal at the end of the current call.
    pub dead: bool,
}

impl Tracklet {
    /// A tentative track from a detection whose box is valid.
    pub fn new(det: &Detection, z: [f64; 4], now_ns: i64) -> Self {
        let kf = BoxKalman::new(z);
        let bbox = kf.bbox();
        Self {
            kf,
            phase: Phase::Tentative,
            id: 0,
            class: det.class.clone(),
            class_id: det.class_id,
            score: det.score,
            bbox,
            last_box: bbox,
            age: 0,
            hits: 1,
            lost: 0,
            last_match_ns: now_ns,
            streak: 1,
            misses: 0,
            dead: false,
        }
    }

    /// Advances the filter by `dt_s` seconds; one more frame of age and of `lost`.
    pub fn predict(&mut self, dt_s: f64) {
        self.kf.predict(dt_s);
        self.bbox = self.kf.bbox();
        self.age = self.age.saturating_add(1);
        self.lost = self.lost.saturating_add(1);
    }

    /// Corrects with a matched detection.
    pub fn matched(&mut self, det: &Detection, now_ns: i64) {
        if let Some(z) = measure(&det.bbox) {
            self.kf.update(z);
        }
        self.bbox = self.kf.bbox();
        self.last_box = self.bbox;
        self.score = det.score;
        if self.class_id != det.class_id || self.class != det.class {
            self.class = det.class.clone();
            self.class_id = det.class_id;
        }
        self.hits = self.hits.saturating_add(1);
        self.lost = 0;
        self.last_match_ns = now_ns;
        self.streak = self.streak.saturating_add(1);
        self.misses = 0;
    }

    /// The output form, with the current box.
    pub fn to_track(&self) -> Track {
        let v = self.kf.velocity();
        Track {
            id: self.id,
            slot: None,
            class: self.class.clone(),
            class_id: self.class_id,
            score: self.score,
            bbox: self.bbox,
            velocity: [v[0] as f32, v[1] as f32],
            age: self.age,
            hits: self.hits,
            lost: self.lost,
        }
    }

    /// The output form of an ended track: its last matched box.
    pub fn to_ended(&self) -> Track {
        let mut t = self.to_track();
        t.bbox = self.last_box;
        t
    }
}

/// Whether a detection can be tracked: finite score, box with a positive finite area.
pub(crate) fn usable(det: &Detection) -> Option<[f64; 4]> {
    if det.score.is_finite() {
        measure(&det.bbox)
    } else {
        None
    }
}

/// How a stage computes its costs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CostSpec {
    /// Multiply the IoU by the detection score (ByteTrack's `fuse_score`).
    pub fuse_score: bool,
    /// A pair is a candidate only with `1 - similarity <= max_cost`.
    pub max_cost: f64,
    /// Only pairs of the same `class_id`.
    pub class_aware: bool,
}

/// Association by IoU: candidate pairs from box overlap, costs `1 - IoU` (or `1 - IoU *
/// score`), exact gated assignment. Keeps all scratch memory.
#[derive(Debug, Default)]
pub(crate) struct Matcher {
    finder: OverlapFinder,
    assigner: Assigner,
    row_boxes: Vec<BBox>,
    col_boxes: Vec<BBox>,
    pairs: Vec<(u32, u32)>,
    edges: Vec<Edge>,
    /// The latest result, `(index into rows, index into cols)`.
    pub matches: Vec<(u32, u32)>,
}

impl Matcher {
    /// Matches `tracks[rows[i]]` with `dets[cols[j]]`; the result is in `self.matches` as
    /// `(rows[i], cols[j])` (track and detection indices).
    pub fn run(
        &mut self,
        tracks: &[Tracklet],
        rows: &[u32],
        dets: &[Detection],
        cols: &[u32],
        spec: CostSpec,
    ) {
        self.matches.clear();
        if rows.is_empty() || cols.is_empty() {
            return;
        }
        self.row_boxes.clear();
        self.row_boxes
            .extend(rows.iter().map(|&r| tracks[r as usize].bbox));
        self.col_boxes.clear();
        self.col_boxes
            .extend(cols.iter().map(|&c| dets[c as usize].bbox));
        self.finder
            .find(&self.row_boxes, &self.col_boxes, &mut self.pairs);
        self.edges.clear();
        for &(i, j) in &self.pairs {
            let t = &tracks[rows[i as usize] as usize];
            let d = &dets[cols[j as usize] as usize];
            if spec.class_aware && t.class_id != d.class_id {
                continue;
            }
            let mut sim = f64::from(self.row_boxes[i as usize].iou(&self.col_boxes[j as usize]));
            if spec.fuse_score {
                sim *= f64::from(d.score);
            }
            let cost = 1.0 - sim;
            if cost <= spec.max_cost {
                self.edges.push(Edge {
                    row: i,
                    col: j,
                    cost,
                });
            }
        }
        self.assigner.solve(
            rows.len(),
            cols.len(),
            &self.edges,
            spec.max_cost,
            &mut self.matches,
        );
        for m in &mut self.matches {
            *m = (rows[m.0 as usize], cols[m.1 as usize]);
        }
    }
}

impl Matcher {
    /// Pairs `(a[i], b[j])` of track indices whose boxes overlap with `IoU > min_iou`.
    pub fn overlapping(
        &mut self,
        tracks: &[Tracklet],
        a: &[u32],
        b: &[u32],
        min_iou: f32,
        class_aware: bool,
    ) -> &[(u32, u32)] {
        self.matches.clear();
        self.row_boxes.clear();
        self.row_boxes
            .extend(a.iter().map(|&r| tracks[r as usize].bbox));
        self.col_boxes.clear();
        self.col_boxes
            .extend(b.iter().map(|&c| tracks[c as usize].bbox));
        self.finder
            .find(&self.row_boxes, &self.col_boxes, &mut self.pairs);
        self.pairs.sort_unstable();
        for &(i, j) in &self.pairs {
            let (p, q) = (a[i as usize], b[j as usize]);
            if class_aware && tracks[p as usize].class_id != tracks[q as usize].class_id {
                continue;
            }
            if self.row_boxes[i as usize].iou(&self.col_boxes[j as usize]) > min_iou {
                self.matches.push((p, q));
            }
        }
        &self.matches
    }
}

/// Index of the live track (not `dead`) among those `eligible` whose latest match is the
/// oldest: the one to drop when [`crate::MAX_TRACKS`] is reached.
pub(crate) fn oldest(tracks: &[Tracklet], eligible: impl Fn(&Tracklet) -> bool) -> Option<usize> {
    tracks
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.dead && eligible(t))
        .min_by_key(|(i, t)| (t.last_match_ns, *i))
        .map(|(i, _)| i)
}
