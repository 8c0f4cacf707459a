//! Identity metrics against ground truth: raw id switches and slot switches.
//!
//! The input is a list of [`GtMatch`] records, one per ground-truth object per frame,
//! saying which track (and slot) that object was matched to, if any. How the matching is
//! made is up to the caller; [`match_frame`] does the usual thing for boxes (maximum total
//! IoU, each pair with `IoU >= min_iou`). [`count_switches`] then counts, per ground-truth
//! object in frame order:
//!
//! - an **id switch** when it is matched to a track id different from the one it was last
//!   matched to (frames where it is unmatched are skipped, so a lost-then-found object
//!   with the same id is not a switch, and one that comes back with a new id is: this is
//!   CLEAR-MOT's IDSW);
//! - a **slot switch** likewise with the slot (frames without a slot are skipped);
//! - a **fragmentation** when it is matched after one or more unmatched frames that
//!   followed a match;
//! - a **transfer** (per track id, in frame order) when a track is matched to a
//!   ground-truth object different from the one it was last matched to: the signature of
//!   two tracks swapping objects.
//!
//! Records may come in any order; frames are compared as numbers.

use visualpath_core::{BBox, Track};

use crate::assign::{Assigner, Edge, OverlapFinder};

/// One ground-truth object on one frame and what it was matched to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GtMatch {
    /// Frame number (any increasing numbering).
    pub frame: u64,
    /// Ground-truth object id.
    pub gt: u64,
    /// The track matched to it on this frame, if any.
    pub track: Option<u64>,
    /// That track's slot, if it had one.
    pub slot: Option<u32>,
}

/// Counts from [`count_switches`]; see the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchCounts {
    /// Records seen (ground-truth objects times frames).
    pub records: u64,
    /// Records matched to a track.
    pub matched: u64,
    /// Distinct ground-truth objects.
    pub objects: u64,
    /// Raw identity switches.
    pub id_switches: u64,
    /// Slot switches.
    pub slot_switches: u64,
    /// Track fragmentations.
    pub fragmentations: u64,
    /// Tracks that moved to another ground-truth object.
    pub transfers: u64,
}

/// Counts identity and slot switches in `records`; see the module docs.
pub fn count_switches(records: &[GtMatch]) -> SwitchCounts {
    let mut c = SwitchCounts {
        records: records.len() as u64,
        matched: records.iter().filter(|r| r.track.is_some()).count() as u64,
        ..SwitchCounts::default()
    };
    let mut by_gt: Vec<&GtMatch> = records.iter().collect();
    by_gt.sort_by_key(|r| (r.gt, r.frame));
    let mut prev_gt = None;
    let (mut last_track, mut last_slot, mut gap) = (None, None, false);
    for r in by_gt {
        if prev_gt != Some(r.gt) {
            prev_gt = Some(r.gt);
            c.objects += 1;
            (last_track, last_slot, gap) = (None, None, false);
        }
        match r.track {
            Some(t) => {
                if last_track.is_some_and(|l| l != t) {
                    c.id_switches += 1;
                }
                if gap {
                    c.fragmentations += 1;
                }
                last_track = Some(t);
                gap = false;
                if let Some(s) = r.slot {
                    if last_slot.is_some_and(|l| l != s) {
                        c.slot_switches += 1;
                    }
                    last_slot = Some(s);
                }
            }
            None => gap = last_track.is_some(),
        }
    }
    let mut by_track: Vec<(u64, u64, u64)> = records
        .iter()
        .filter_map(|r| r.track.map(|t| (t, r.frame, r.gt)))
        .collect();
    by_track.sort_unstable();
    for w in by_track.windows(2) {
        if w[0].0 == w[1].0 && w[0].2 != w[1].2 {
            c.transfers += 1;
        }
    }
    c
}

/// Reusable matcher of ground-truth boxes to tracks for [`GtMatch`] records.
#[derive(Debug, Default)]
pub struct GtMatcher {
    finder: OverlapFinder,
    assigner: Assigner,
    gt_boxes: Vec<BBox>,
    track_boxes: Vec<BBox>,
    pairs: Vec<(u32, u32)>,
    edges: Vec<Edge>,
    matches: Vec<(u32, u32)>,
}

impl GtMatcher {
    /// A matcher with no scratch memory yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one record per ground-truth object `(gt id, box)` of `frame` to `out`,
    /// matched to the `tracks` by maximum total IoU among pairs with `IoU >= min_iou`
    /// (`min_iou` is raised to a tiny positive value: boxes must overlap).
    pub fn match_frame(
        &mut self,
        frame: u64,
        gt: &[(u64, BBox)],
        tracks: &[Track],
        min_iou: f32,
        out: &mut Vec<GtMatch>,
    ) {
        self.gt_boxes.clear();
        self.gt_boxes.extend(gt.iter().map(|g| g.1));
        self.track_boxes.clear();
        self.track_boxes.extend(tracks.iter().map(|t| t.bbox));
        self.finder
            .find(&self.gt_boxes, &self.track_boxes, &mut self.pairs);
        let max_cost = 1.0 - f64::from(min_iou.max(1e-6));
        self.edges.clear();
        for &(i, j) in &self.pairs {
            let iou = f64::from(self.gt_boxes[i as usize].iou(&self.track_boxes[j as usize]));
            self.edges.push(Edge {
                row: i,
                col: j,
                cost: 1.0 - iou,
            });
        }
        self.assigner.solve(
            gt.len(),
            tracks.len(),
            &self.edges,
            max_cost,
            &mut self.matches,
        );
        let mut m = self.matches.iter().peekable();
        for (i, &(id, _)) in gt.iter().enumerate() {
            let track = match m.peek() {
                Some(&&(r, c)) if r as usize == i => {
                    m.next();
                    Some(&tracks[c as usize])
                }
                _ => None,
            };
            out.push(GtMatch {
                frame,
                gt: id,
                track: track.map(|t| t.id),
                slot: track.and_then(|t| t.slot),
            });
        }
    }
}

/// One-shot form of [`GtMatcher::match_frame`].
pub fn match_frame(
    frame: u64,
    gt: &[(u64, BBox)],
    tracks: &[Track],
    min_iou: f32,
    out: &mut Vec<GtMatch>,
) {
    GtMatcher::new().match_frame(frame, gt, tracks, min_iou, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(frame: u64, gt: u64, track: Option<u64>, slot: Option<u32>) -> GtMatch {
        GtMatch {
            frame,
            gt,
            track,
            slot,
        }
    }

    #[test]
    fn counts_switches_fragmentations_and_transfers() {
        // gt 1: tracks 10, 10, (miss), 10, 12  -> 1 switch, 1 fragmentation.
        // gt 2: tracks 11, 11, 10 (swap with gt 1's old track) -> 1 switch; track 10
        // moved from gt 1 to gt 2 -> transfers; then back to gt 1? no.
        // Slots: gt 1 keeps slot 1 across the id change (no slot switch); gt 2 goes
        // 2 -> 1 (one slot switch).
        let records = vec![
            r(5, 2, Some(10), Some(1)),
            r(0, 1, Some(10), Some(1)),
            r(1, 1, Some(10), Some(1)),
            r(2, 1, None, None),
            r(3, 1, Some(10), Some(1)),
            r(4, 1, Some(12), Some(1)),
            r(0, 2, Some(11), Some(2)),
            r(1, 2, Some(11), Some(2)),
            r(3, 2, Some(11), None),
        ];
        let c = count_switches(&records);
        assert_eq!(
            c,
            SwitchCounts {
                records: 9,
                matched: 8,
                objects: 2,
                id_switches: 2,
                slot_switches: 1,
                fragmentations: 1,
                transfers: 1,
            }
        );
        assert_eq!(count_switches(&[]), SwitchCounts::default());
    }

    #[test]
    fn a_gap_before_the_first_match_is_not_a_fragmentation() {
        let c = count_switches(&[r(0, 1, None, None), r(1, 1, Some(3), None)]);
        assert_eq!(c.fragmentations, 0);
        assert_eq!(c.id_switches, 0);
    }

    #[test]
    fn matches_boxes_by_iou() {
        let t = |id, x: f32, slot| Track {
            id,
            slot,
            class: "person".into(),
            class_id: 1,
            score: 1.0,
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            velocity: [0.0; 2],
            age: 0,
            hits: 1,
            lost: 0,
        };
        let tracks = [t(7, 0.0, Some(2)), t(8, 100.0, None)];
        let gt = [
            (1, BBox::new(1.0, 0.0, 11.0, 10.0)),
            (2, BBox::new(50.0, 0.0, 60.0, 10.0)),
            (3, BBox::new(108.0, 0.0, 118.0, 10.0)),
        ];
        let mut out = Vec::new();
        match_frame(4, &gt, &tracks, 0.5, &mut out);
        assert_eq!(
            out,
            [
                r(4, 1, Some(7), Some(2)),
                r(4, 2, None, None),
                // IoU 2/18 < 0.5: unmatched.
                r(4, 3, None, None),
            ]
        );
        out.clear();
        match_frame(4, &gt, &tracks, 0.1, &mut out);
        assert_eq!(out[2], r(4, 3, Some(8), None));
    }
}
