//! `scene_cut` on synthetic frames.

mod support;

use support::*;
use visualpath_analyzers::SceneCutConfig;
use visualpath_sdk::{Analyzer, Frame};

fn level(seq: u64, v: u8) -> Frame {
    gray(64, 48, seq, move |_, _| v)
}

fn analyzer(threshold: f64, min_gap: u32) -> Box<dyn Analyzer> {
    create(
        &SceneCutConfig {
            threshold,
            min_gap,
            ..SceneCutConfig::default()
        }
        .factory(),
    )
}

#[test]
fn black_to_white_is_a_full_cut() {
    let mut a = analyzer(0.4, 5);
    let first = run(&mut *a, &level(0, 0));
    assert_eq!(value(&first, "cut_score"), 0.0);
    assert_eq!(value(&first, "cut"), 0.0);
    assert!(first.tags.is_empty());
    let d = run(&mut *a, &level(1, 255));
    assert_eq!(value(&d, "cut_score"), 1.0);
    assert_eq!(value(&d, "cut"), 1.0);
    assert_eq!(d.tags, ["cut"]);
    let same = run(&mut *a, &level(2, 255));
    assert_eq!(value(&same, "cut_score"), 0.0);
    assert!(same.tags.is_empty());
}

/// Frames alternate black and white, so every frame after the first scores 1. With
/// `min_gap` 5 the reported cuts are 5 frame numbers apart.
#[test]
fn min_gap_spaces_reported_cuts() {
    let mut a = analyzer(0.4, 5);
    let mut cuts = Vec::new();
    for seq in 0..14u64 {
        let d = run(
            &mut *a,
            &level(seq, if seq.is_multiple_of(2) { 0 } else { 255 }),
        );
        if seq > 0 {
            assert_eq!(
                value(&d, "cut_score"),
                1.0,
                "suppressed cuts keep their score"
            );
        }
        if d.has_tag("cut") {
            assert_eq!(value(&d, "cut"), 1.0);
            cuts.push(seq);
        } else {
            assert_eq!(value(&d, "cut"), 0.0);
        }
    }
    assert_eq!(cuts, [1, 6, 11]);

    // Counted in frame numbers: frames dropped before the analyzer still count.
    let mut a = analyzer(0.4, 5);
    let seqs = [(0, 0), (10, 255), (12, 0), (15, 255)];
    let cut: Vec<bool> = seqs
        .iter()
        .map(|&(seq, v)| run(&mut *a, &level(seq, v)).has_tag("cut"))
        .collect();
    assert_eq!(cut, [false, true, false, true]);
}

#[test]
fn min_gap_zero_or_one_reports_every_cut() {
    for gap in [0, 1] {
        let mut a = analyzer(0.4, gap);
        let cuts = (0..6u64)
            .filter(|&seq| {
                run(
                    &mut *a,
                    &level(seq, if seq.is_multiple_of(2) { 0 } else { 255 }),
                )
                .has_tag("cut")
            })
            .count();
        assert_eq!(cuts, 5, "min_gap {gap}");
    }
}

/// Half the frame going from black to white moves half the histogram mass: 0.5.
#[test]
fn threshold_is_strict() {
    let half = |seq| gray(64, 48, seq, |x, _| if x < 32 { 255 } else { 0 });
    for (threshold, cut) in [(0.4, true), (0.5, false)] {
        let mut a = analyzer(threshold, 5);
        run(&mut *a, &level(0, 0));
        let d = run(&mut *a, &half(1));
        assert_eq!(value(&d, "cut_score"), 0.5);
        assert_eq!(d.has_tag("cut"), cut, "threshold {threshold}");
    }
}

/// Moving content with the same histogram (a shifted texture) is not a cut; a change of
/// brightness within one bin is no change at all.
#[test]
fn motion_without_a_histogram_change_is_not_a_cut() {
    let mut a = analyzer(0.4, 5);
    run(
        &mut *a,
        &gray(320, 240, 0, |x, y| {
            if (x / 40 + y / 40).is_multiple_of(2) {
                200
            } else {
                30
            }
        }),
    );
    let d = run(
        &mut *a,
        &gray(320, 240, 1, |x, y| {
            if ((x + 40) / 40 + y / 40).is_multiple_of(2) {
                200
            } else {
                30
            }
        }),
    );
    assert_eq!(value(&d, "cut_score"), 0.0);
    run(&mut *a, &level(2, 64));
    assert_eq!(value(&run(&mut *a, &level(3, 71)), "cut_score"), 0.0);
    assert_eq!(value(&run(&mut *a, &level(4, 72)), "cut_score"), 1.0);
}

#[test]
fn reset_and_size_changes_start_a_new_stream() {
    let mut a = analyzer(0.4, 5);
    run(&mut *a, &level(0, 0));
    assert!(run(&mut *a, &level(1, 255)).has_tag("cut"));
    a.reset();
    assert_eq!(value(&run(&mut *a, &level(2, 0)), "cut_score"), 0.0);
    // The last cut was forgotten too: frame 3 is a cut although 3 - 1 < 5.
    assert!(run(&mut *a, &level(3, 255)).has_tag("cut"));
    // Another size: first frame of a new stream, and the gap restarts.
    let big = gray(320, 240, 4, |_, _| 0);
    assert_eq!(value(&run(&mut *a, &big), "cut_score"), 0.0);
    assert!(run(&mut *a, &gray(320, 240, 5, |_, _| 255)).has_tag("cut"));
}

#[test]
fn a_restarted_sequence_number_does_not_suppress_cuts() {
    let mut a = analyzer(0.4, 5);
    run(&mut *a, &level(100, 0));
    assert!(run(&mut *a, &level(101, 255)).has_tag("cut"));
    assert!(run(&mut *a, &level(0, 0)).has_tag("cut"));
}

#[test]
fn formats_agree() {
    let tex = |x, y| noise(x, y, 4) / 2;
    let mut results = Vec::new();
    for kind in 0..3 {
        let mut a = analyzer(0.4, 5);
        let make = |seq: u64, salt: u32| match kind {
            0 => gray(200, 150, seq, move |x, y| {
                tex(x, y).wrapping_add(salt as u8)
            }),
            1 => rgb(200, 150, seq, move |x, y| {
                [tex(x, y).wrapping_add(salt as u8); 3]
            }),
            _ => nv12(200, 150, seq, 3, move |x, y| {
                tex(x, y).wrapping_add(salt as u8)
            }),
        };
        run(&mut *a, &make(0, 0));
        results.push(run(&mut *a, &make(1, 100)));
    }
    assert!(value(&results[0], "cut_score") > 0.3);
    assert_eq!(results[1], results[0]);
    assert_eq!(results[2], results[0]);
}
