//! Greedy non-maximum suppression.
//!
//! Semantics (identical to the classic greedy algorithm):
//!
//! 1. Candidates with a non-finite score or box coordinate are dropped.
//! 2. The rest are sorted by score, highest first; the sort is stable, so equal scores
//!    keep their input order (the earlier one wins a tie).
//! 3. Walking that order, a candidate is kept unless it overlaps an already *kept*
//!    candidate with IoU strictly greater than the threshold (only a kept candidate of
//!    the same class when class-aware). A suppressed candidate suppresses nothing, so in
//!    an overlap chain A > B > C where A overlaps B and B overlaps C but A does not
//!    overlap C, A and C are kept.
//! 4. The walk stops once `max_keep` candidates are kept.
//!
//! The work is done in place, without allocation: kept candidates are compacted to the
//! front of the vector. Cost is O(n log n) for the sort plus O(n * kept) IoU tests, so
//! `max_keep` also bounds the time spent on degenerate outputs (thousands of candidates
//! at a low threshold).

use visualpath_core::BBox;

/// A scored, classed box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The box (any coordinate space; IoU is computed in it).
    pub bbox: BBox,
    /// Score; higher is better.
    pub score: f32,
    /// Class id (ignored when class-agnostic).
    pub class_id: u32,
}

/// Whether boxes of different classes suppress each other.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NmsMode {
    /// Only boxes of the same class suppress each other.
    #[default]
    ClassAware,
    /// Any overlapping boxes suppress each other.
    ClassAgnostic,
}

/// Greedy NMS on [`Candidate`]s, in place; see the module docs. Afterwards `candidates`
/// holds the kept ones, highest score first.
pub fn nms(candidates: &mut Vec<Candidate>, iou_threshold: f32, mode: NmsMode, max_keep: usize) {
    nms_by(candidates, iou_threshold, mode, max_keep, |c| {
        (c.bbox, c.score, c.class_id)
    });
}

/// Greedy NMS on any items that carry a box, a score and a class (`key`), in place; see
/// the module docs.
pub fn nms_by<T>(
    items: &mut Vec<T>,
    iou_threshold: f32,
    mode: NmsMode,
    max_keep: usize,
    key: impl Fn(&T) -> (BBox, f32, u32),
) {
    items.retain(|t| {
        let (b, s, _) = key(t);
        s.is_finite() && [b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite())
    });
    items.sort_by(|a, b| key(b).1.total_cmp(&key(a).1));
    let mut kept = 0;
    for i in 0..items.len() {
        if kept == max_keep {
            break;
        }
        let (bi, _, ci) = key(&items[i]);
        let area_i = bi.area();
        let suppressed = items[..kept].iter().any(|k| {
            let (bk, _, ck) = key(k);
            (mode == NmsMode::ClassAgnostic || ck == ci)
                && overlaps(&bk, &bi, area_i, iou_threshold)
        });
        if !suppressed {
            items.swap(kept, i);
            kept += 1;
        }
    }
    items.truncate(kept);
}

/// Whether IoU(`a`, `b`) > `threshold`, given `b`'s area. Disjoint boxes are rejected
/// before any multiplication, and the division is avoided: with a positive intersection
/// both areas are positive, so the union is too and `inter / union > t` is
/// `inter > t * union`.
#[inline]
fn overlaps(a: &BBox, b: &BBox, area_b: f32, threshold: f32) -> bool {
    let ix = a.x2.min(b.x2) - a.x1.max(b.x1);
    let iy = a.y2.min(b.y2) - a.y1.max(b.y1);
    if !(ix > 0.0 && iy > 0.0) {
        return false;
    }
    let inter = ix * iy;
    inter > threshold * (a.area() + area_b - inter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(x: f32, score: f32, class_id: u32) -> Candidate {
        Candidate {
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            score,
            class_id,
        }
    }

    fn scores(v: &[Candidate]) -> Vec<f32> {
        v.iter().map(|c| c.score).collect()
    }

    #[test]
    fn suppresses_overlaps_in_score_order() {
        // x=0 and x=2 overlap (IoU 8/12 = 0.67); x=20 is separate.
        let mut v = vec![c(2.0, 0.8, 0), c(20.0, 0.5, 0), c(0.0, 0.9, 0)];
        nms(&mut v, 0.5, NmsMode::ClassAware, 100);
        assert_eq!(scores(&v), [0.9, 0.5]);
        assert_eq!(v[0].bbox.x1, 0.0);
    }

    #[test]
    fn overlap_chain_keeps_both_ends() {
        // IoU(A, B) = IoU(B, C) = 50/150 = 0.33 > 0.3, IoU(A, C) = 0: B is suppressed
        // by A and therefore cannot suppress C.
        let mut v = vec![c(0.0, 0.9, 0), c(5.0, 0.8, 0), c(10.0, 0.7, 0)];
        nms(&mut v, 0.3, NmsMode::ClassAware, 100);
        assert_eq!(scores(&v), [0.9, 0.7]);
    }

    #[test]
    fn class_aware_versus_agnostic() {
        let input = vec![c(0.0, 0.9, 1), c(1.0, 0.8, 2), c(2.0, 0.7, 1)];
        let mut aware = input.clone();
        nms(&mut aware, 0.5, NmsMode::ClassAware, 100);
        assert_eq!(scores(&aware), [0.9, 0.8]);
        let mut agnostic = input;
        nms(&mut agnostic, 0.5, NmsMode::ClassAgnostic, 100);
        assert_eq!(scores(&agnostic), [0.9]);
    }

    #[test]
    fn ties_keep_input_order_and_threshold_is_strict() {
        let mut v = vec![c(1.0, 0.5, 7), c(0.0, 0.5, 7)];
        nms(&mut v, 0.5, NmsMode::ClassAware, 100);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].bbox.x1, 1.0);
        // Identical boxes have IoU 1.0, which is not > 1.0.
        let mut v = vec![c(0.0, 0.5, 0), c(0.0, 0.4, 0)];
        nms(&mut v, 1.0, NmsMode::ClassAware, 100);
        assert_eq!(v.len(), 2);
        // IoU exactly equal to the threshold does not suppress: [0,10] and [5,15]
        // (same rows) have IoU 50/150 = 1/3.
        let mut v = vec![c(0.0, 0.9, 0), c(5.0, 0.8, 0)];
        nms(&mut v, 1.0 / 3.0, NmsMode::ClassAware, 100);
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn drops_non_finite_and_respects_max_keep() {
        let mut v = vec![
            c(0.0, f32::NAN, 0),
            c(100.0, 0.3, 0),
            Candidate {
                bbox: BBox::new(0.0, f32::INFINITY, 1.0, 1.0),
                score: 0.99,
                class_id: 0,
            },
            c(50.0, 0.6, 0),
            c(200.0, 0.9, 0),
        ];
        nms(&mut v, 0.5, NmsMode::ClassAware, 2);
        assert_eq!(scores(&v), [0.9, 0.6]);
        let mut v = vec![c(0.0, 0.9, 0)];
        nms(&mut v, 0.5, NmsMode::ClassAware, 0);
        assert!(v.is_empty());
        let mut empty: Vec<Candidate> = Vec::new();
        nms(&mut empty, 0.5, NmsMode::ClassAgnostic, 10);
        assert!(empty.is_empty());
    }

    #[test]
    fn zero_area_boxes_do_not_suppress() {
        let mut v = vec![
            Candidate {
                bbox: BBox::new(1.0, 1.0, 1.0, 1.0),
                score: 0.9,
                class_id: 0,
            },
            c(0.0, 0.8, 0),
        ];
        nms(&mut v, 0.0, NmsMode::ClassAware, 10);
        assert_eq!(v.len(), 2);
    }
}
