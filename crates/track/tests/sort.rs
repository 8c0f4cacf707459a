//! SORT on synthetic scenes.

mod common;

use common::*;
use visualpath_core::{Detection, Track};
use visualpath_track::{Sort, SortConfig, Tracker, TrackerOptions};

fn sort(cfg: SortConfig) -> Sort {
    Sort::new(cfg, TrackerOptions::default()).unwrap()
}

fn ids(t: &[Track]) -> Vec<u64> {
    t.iter().map(|t| t.id).collect()
}

fn walker(k: u64) -> Detection {
    person(centered(100.0 + 3.0 * k as f32, 200.0, 40.0, 100.0), 0.8)
}

#[test]
fn min_hits_confirms_and_tentative_tracks_stay_hidden() {
    let mut t = sort(SortConfig::default());
    assert!(t.update(ft(0), &[walker(0)]).is_empty());
    assert!(t.update(ft(1), &[walker(1)]).is_empty());
    let out = t.update(ft(2), &[walker(2)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].hits, 3);
    // min_hits 1 confirms at once.
    let mut t = sort(SortConfig {
        min_hits: 1,
        ..SortConfig::default()
    });
    assert_eq!(t.update(ft(0), &[walker(0)]).len(), 1);
    // A detection that never repeats is never output, and an interrupted streak starts
    // over: hits on frames 0, 1, (miss), 3, 4 -> confirmed only on frame 5.
    let mut t = sort(SortConfig::default());
    for (k, seen, shown) in [
        (0, true, false),
        (1, true, false),
        (2, false, false),
        (3, true, false),
        (4, true, false),
        (5, true, true),
    ] {
        let dets: Vec<Detection> = if seen { vec![walker(k)] } else { vec![] };
        assert_eq!(
            t.update(ft(k), &dets).len(),
            usize::from(shown),
            "frame {k}"
        );
    }
}

#[test]
fn max_age_counts_missed_detector_frames() {
    // max_age 1: one missed frame keeps the track, two end it.
    for (missed, same) in [(1u64, true), (2, false)] {
        let mut t = sort(SortConfig::default());
        let mut seen = Vec::new();
        for k in 0..15u64 {
            let hidden = (8..8 + missed).contains(&k);
            let dets: Vec<Detection> = if hidden { vec![] } else { vec![walker(k)] };
            let out = t.update(ft(k), &dets);
            seen.extend(ids(out));
        }
        seen.dedup();
        assert_eq!(seen.len() == 1, same, "missed {missed}: {seen:?}");
    }
    // Predict-only frames do not count.
    let mut t = sort(SortConfig::default());
    for k in 0..5u64 {
        t.update(ft(k), &[walker(k)]);
    }
    let id = t.update(ft(5), &[walker(5)])[0].id;
    for k in 6..12u64 {
        let out = t.predict(ft(k));
        assert_eq!(ids(out), [id]);
        assert_eq!(out[0].lost as u64, k - 5);
    }
    assert_eq!(ids(t.update(ft(12), &[walker(12)])), [id]);
    // And a track that ended is reported once.
    t.update(ft(13), &[]);
    assert!(t.ended().is_empty());
    t.update(ft(14), &[]);
    assert_eq!(ids(t.ended()), [id]);
    assert_eq!(t.live_tracks(), 0);
}

#[test]
fn iou_threshold_gates_matches() {
    // The object jumps 30 px per frame: IoU between frames is 10/70 = 0.14 < 0.3 before
    // the filter learns the velocity, so SORT with the default threshold never confirms
    // it; with iou_threshold 0.1 it does.
    let jump = |k: u64| person(centered(100.0 + 30.0 * k as f32, 200.0, 40.0, 100.0), 0.9);
    let mut t = sort(SortConfig::default());
    for k in 0..6u64 {
        assert!(t.update(ft(k), &[jump(k)]).is_empty(), "frame {k}");
    }
    let mut t = sort(SortConfig {
        iou_threshold: 0.1,
        ..SortConfig::default()
    });
    let shown = (0..6u64)
        .filter(|&k| !t.update(ft(k), &[jump(k)]).is_empty())
        .count();
    assert!(shown >= 3, "{shown}");
}

#[test]
fn crossing_without_swaps() {
    let mut t = sort(SortConfig::default());
    let mut score = Score::default();
    for k in 0..60u64 {
        let a = centered(100.0 + 6.0 * k as f32, 300.0, 50.0, 120.0);
        let b = centered(460.0 - 6.0 * k as f32, 310.0, 50.0, 120.0);
        let out = t.update(ft(k), &[person(a, 0.9), person(b, 0.9)]);
        assert_unique_ids(out);
        score.frame(k, &[(1, a), (2, b)], out);
    }
    let c = score.counts();
    assert_eq!(c.id_switches, 0, "{c:?}");
    assert_eq!(c.matched, 2 * 58);
}

#[test]
fn config_checks() {
    let e = Sort::new(
        SortConfig {
            min_hits: 0,
            ..SortConfig::default()
        },
        TrackerOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.0,
        "track: `tracker.sort.min_hits` must be between 1 and 100000, got 0"
    );
}
