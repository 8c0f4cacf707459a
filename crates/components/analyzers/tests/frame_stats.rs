//! `frame_stats` on synthetic frames.

mod support;

use std::sync::Arc;

use support::*;
use visualpath_analyzers::FrameStatsConfig;
use visualpath_sdk::AnalyzerFactory;

fn factory() -> Arc<dyn AnalyzerFactory> {
    FrameStatsConfig::default().factory()
}

fn stats(frame: &visualpath_sdk::Frame) -> visualpath_sdk::ObservationData {
    run(&mut *create(&factory()), frame)
}

#[test]
fn uniform_gray_is_exact() {
    for v in [0u8, 20, 38, 39, 128, 255] {
        for frame in [gray(320, 240, 0, |_, _| v), rgb(320, 240, 0, |_, _| [v; 3])] {
            let d = stats(&frame);
            assert_eq!(value(&d, "brightness"), f64::from(v) / 255.0);
            assert_eq!(value(&d, "contrast"), 0.0);
            assert_eq!(value(&d, "sharpness"), 0.0);
            assert!(d.has_tag("blurry"), "a featureless frame is blurry");
            // 0.15 * 255 = 38.25: 38 is dark, 39 is not.
            assert_eq!(d.has_tag("dark"), v <= 38, "{v}");
        }
    }
}

/// A one-pixel 0/255 checkerboard at the working size (160x120, no downscale): every
/// interior Laplacian is +-4 (in 0..1 luma units) with as many of each sign, so the
/// variance is exactly 16, the maximum; mean 0.5, standard deviation 0.5.
#[test]
fn one_pixel_checkerboard_is_maximally_sharp() {
    let d = stats(&gray(160, 120, 0, |x, y| {
        if (x + y).is_multiple_of(2) { 255 } else { 0 }
    }));
    assert_eq!(value(&d, "sharpness"), 16.0);
    assert_eq!(value(&d, "brightness"), 0.5);
    assert_eq!(value(&d, "contrast"), 0.5);
    assert!(d.tags.is_empty(), "{:?}", d.tags);
}

#[test]
fn coarse_checkerboard_is_sharp_and_blurring_it_lowers_sharpness() {
    // 8-pixel squares at 640x480 become 2-pixel squares at width 160.
    let board = |x: u32, y: u32| {
        if (x / 8 + y / 8).is_multiple_of(2) {
            255
        } else {
            0
        }
    };
    let sharp = value(&stats(&gray(640, 480, 0, board)), "sharpness");
    assert!(sharp > 1.0, "{sharp}");
    // The same board through an 8x8 moving average: soft edges 8 pixels wide.
    let soft = |x: u32, y: u32| {
        let mut s = 0u32;
        for dy in 0..8 {
            for dx in 0..8 {
                s += u32::from(board(
                    (x + dx).saturating_sub(4),
                    (y + dy).saturating_sub(4),
                ));
            }
        }
        (s / 64) as u8
    };
    let blurred = value(&stats(&gray(640, 480, 0, soft)), "sharpness");
    assert!(blurred < sharp / 2.0, "{blurred} vs {sharp}");
}

#[test]
fn linear_gradients_have_zero_sharpness() {
    let d = stats(&gray(160, 120, 0, |x, _| x as u8));
    assert_eq!(value(&d, "sharpness"), 0.0);
    assert!(value(&d, "contrast") > 0.1);
    // Mean of 0..=159 is 79.5.
    assert_eq!(value(&d, "brightness"), 79.5 / 255.0);
}

#[test]
fn tiny_frames_have_zero_sharpness_and_no_panic() {
    for (w, h) in [(1, 1), (2, 5), (5, 2), (3, 3)] {
        let d = stats(&gray(w, h, 0, |x, y| noise(x, y, 3)));
        if w < 3 || h < 3 {
            assert_eq!(value(&d, "sharpness"), 0.0);
        }
        assert!(value(&d, "brightness").is_finite());
    }
}

#[test]
fn thresholds_come_from_the_config() {
    let mut a = create(
        &FrameStatsConfig {
            dark_below: 0.9,
            blurry_below: 0.0,
            ..FrameStatsConfig::default()
        }
        .factory(),
    );
    let d = run(&mut *a, &gray(64, 48, 0, |_, _| 200));
    // 200/255 = 0.78 < 0.9 is dark; sharpness 0 is not < 0, so not blurry.
    assert_eq!(d.tags, ["dark"]);
}

/// Pure red (luma 60) must not read as pure blue (luma 23) when given as BGR24, and
/// the same picture in every format gives the same statistics.
#[test]
fn formats_agree_and_channels_are_in_order() {
    let red = stats(&bgr(64, 48, 0, |_, _| [200, 0, 0]));
    assert_eq!(value(&red, "brightness"), 60.0 / 255.0);
    let red_rgb = stats(&rgb(64, 48, 0, |_, _| [200, 0, 0]));
    assert_eq!(red, red_rgb);
    let tex = |x, y| noise(x, y, 5);
    let reference = stats(&gray(300, 200, 0, tex));
    assert!(value(&reference, "sharpness") > 0.1);
    assert_eq!(
        stats(&rgb(300, 200, 0, move |x, y| [tex(x, y); 3])),
        reference
    );
    assert_eq!(
        stats(&bgr(300, 200, 0, move |x, y| [tex(x, y); 3])),
        reference
    );
    assert_eq!(stats(&nv12(300, 200, 0, 255, tex)), reference);
}

#[test]
fn results_are_deterministic_across_frames_and_instances() {
    let f = rgb(768, 576, 0, |x, y| {
        [noise(x, y, 1), noise(x, y, 2), (x / 3) as u8]
    });
    let mut a = create(&factory());
    let first = run(&mut *a, &f);
    assert_eq!(run(&mut *a, &f), first);
    assert_eq!(stats(&f), first);
}
