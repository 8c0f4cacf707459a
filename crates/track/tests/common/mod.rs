//! Helpers for synthetic scenes.
#![allow(dead_code)]

use visualpath_core::{BBox, Detection, Track};
use visualpath_track::FrameTime;
use visualpath_track::metrics::{GtMatch, GtMatcher, SwitchCounts, count_switches};

/// 30 frames per second.
pub const FRAME_NS: i64 = 33_333_333;

/// Frame `k` at 30 fps.
pub fn ft(k: u64) -> FrameTime {
    FrameTime::new(k, k as i64 * FRAME_NS)
}

/// A detection of class `person` (id 1).
pub fn person(b: BBox, score: f32) -> Detection {
    Detection {
        class: "person".into(),
        class_id: 1,
        score,
        bbox: b,
    }
}

/// A detection of class `car` (id 3).
pub fn car(b: BBox, score: f32) -> Detection {
    Detection {
        class: "car".into(),
        class_id: 3,
        score,
        bbox: b,
    }
}

/// A box of size `w x h` centred on `(cx, cy)`.
pub fn centered(cx: f32, cy: f32, w: f32, h: f32) -> BBox {
    BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
}

/// Deterministic PRNG.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        self.next_u32() as f32 / (1u64 << 31) as f32
    }
    /// Uniform in `[-a, a)`.
    pub fn jitter(&mut self, a: f32) -> f32 {
        (self.unit() * 2.0 - 1.0) * a
    }
}

/// Collects ground-truth matches frame by frame and counts switches.
#[derive(Default)]
pub struct Score {
    matcher: GtMatcher,
    pub records: Vec<GtMatch>,
}

impl Score {
    pub fn frame(&mut self, frame: u64, gt: &[(u64, BBox)], tracks: &[Track]) {
        self.matcher
            .match_frame(frame, gt, tracks, 0.3, &mut self.records);
    }
    pub fn counts(&self) -> SwitchCounts {
        count_switches(&self.records)
    }
}

/// Ids in `tracks` are unique.
pub fn assert_unique_ids(tracks: &[Track]) {
    let mut ids: Vec<u64> = tracks.iter().map(|t| t.id).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate ids in {tracks:?}");
}
