//! `motion` on synthetic frames.

mod support;

use std::sync::Arc;

use support::*;
use visualpath_analyzers::{MotionConfig, MotionZone};
use visualpath_sdk::{AnalyzerFactory, BBox, Name};

fn factory(config: MotionConfig) -> Arc<dyn AnalyzerFactory> {
    config.validate().unwrap();
    config.factory()
}

fn no_blur() -> MotionConfig {
    MotionConfig {
        blur: false,
        ..MotionConfig::default()
    }
}

/// A white square `side` pixels wide with its top-left corner at `(x0, y0)`, on black.
fn square(w: u32, h: u32, seq: u64, x0: u32, y0: u32, side: u32) -> visualpath_sdk::Frame {
    gray(w, h, seq, |x, y| {
        if inside(x, y, x0, y0, x0 + side, y0 + side) {
            255
        } else {
            0
        }
    })
}

fn cell_values(data: &visualpath_sdk::ObservationData) -> Vec<(String, f64)> {
    data.values
        .iter()
        .filter(|(k, _)| k.starts_with("cell."))
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

#[test]
fn identical_frames_score_exactly_zero() {
    for blur in [true, false] {
        let mut a = create(&factory(MotionConfig {
            blur,
            threshold: 0.0,
            pixel_threshold: 0,
            ..MotionConfig::default()
        }));
        let f = gray(640, 480, 0, |x, y| noise(x, y, 1));
        let g = gray(640, 480, 1, |x, y| noise(x, y, 1));
        for frame in [&f, &g, &g] {
            let d = run(&mut *a, frame);
            assert_eq!(value(&d, "score"), 0.0);
            // threshold 0 still needs one changed pixel to count as moving.
            assert_eq!(value(&d, "moving"), 0.0);
            assert!(d.regions.is_empty() && d.tags.is_empty(), "{d:?}");
            assert!(cell_values(&d).iter().all(|(_, v)| *v == 0.0));
        }
    }
}

#[test]
fn first_frame_has_every_value_at_zero_and_a_stable_schema() {
    let mut a = create(&factory(MotionConfig {
        zones: vec![MotionZone {
            name: Name::from_static("door"),
            bbox: [0.0, 0.0, 0.5, 0.5],
        }],
        ..MotionConfig::default()
    }));
    let first = run(&mut *a, &gray(64, 48, 0, |x, y| noise(x, y, 1)));
    let second = run(&mut *a, &gray(64, 48, 1, |x, y| noise(x, y, 2)));
    let names = |d: &visualpath_sdk::ObservationData| {
        d.values
            .iter()
            .map(|(k, _)| k.to_owned())
            .collect::<Vec<_>>()
    };
    let mut expected = vec!["score".to_owned(), "moving".to_owned()];
    for r in 0..3 {
        for c in 0..4 {
            expected.push(format!("cell.r{r}c{c}"));
        }
    }
    expected.push("zone.door".to_owned());
    assert_eq!(names(&first), expected);
    assert_eq!(names(&second), expected);
    assert!(first.values.iter().all(|(_, v)| v == 0.0), "{first:?}");
    assert!(first.regions.is_empty() && first.tags.is_empty());
    assert!(value(&second, "score") > 0.1, "{second:?}");
}

/// 640x480 at width 160 is an exact 4x downscale: the 80-pixel square is 20x20 working
/// pixels at (45, 45), moving 10 working pixels right. Without blur the changed pixels
/// are exactly the two 10x20 bands the square leaves and enters: 400 of 19200.
#[test]
fn moving_square_without_blur_is_exact() {
    let mut a = create(&factory(no_blur()));
    run(&mut *a, &square(640, 480, 0, 180, 180, 80));
    let d = run(&mut *a, &square(640, 480, 1, 220, 180, 80));
    assert_eq!(value(&d, "score"), 400.0 / 19200.0);
    assert_eq!(value(&d, "moving"), 1.0);
    assert!(d.has_tag("motion"));
    // The grid is 4x3 cells of 40x40 working pixels; all change is in r1c1.
    for (k, v) in cell_values(&d) {
        let want = if k == "cell.r1c1" {
            400.0 / 1600.0
        } else {
            0.0
        };
        assert_eq!(v, want, "{k}");
    }
    assert_eq!(d.regions.len(), 1, "{:?}", d.regions);
    let r = &d.regions[0];
    assert_eq!(r.name.as_deref(), Some("r1c1"));
    // Working 40..80 maps back to source 160..320 on both axes.
    assert_eq!(r.bbox, BBox::new(160.0, 160.0, 320.0, 320.0));
    assert_eq!(r.score, 0.25);
}

/// With the 3x3 blur, each blurred edge spreads over the working pixels next to it, so
/// a working pixel changes exactly when the number of square pixels in its 3x3
/// neighbourhood changes (one pixel of difference is 255 / 9 = 28 > 25). Along x that
/// is columns 44..=55 and 64..=75 (each band grows by one column on both sides: 12
/// instead of 10), along y rows 44..=65 (22 instead of 20): 2 * 12 * 22 = 528.
#[test]
fn moving_square_with_blur_grows_by_one_pixel_per_edge() {
    let mut a = create(&factory(MotionConfig::default()));
    run(&mut *a, &square(640, 480, 0, 180, 180, 80));
    let d = run(&mut *a, &square(640, 480, 1, 220, 180, 80));
    assert_eq!(value(&d, "score"), 528.0 / 19200.0);
    assert_eq!(value(&d, "cell.r1c1"), 528.0 / 1600.0);
    assert_eq!(d.regions.len(), 1);
    assert_eq!(d.regions[0].bbox, BBox::new(160.0, 160.0, 320.0, 320.0));
}

/// 768x576 RGB24 at width 160 is a 4.8x downscale. The 96-pixel square (20 working
/// pixels) starts at 218, not on a box boundary, and moves 48 pixels (10 working
/// pixels). Each of the two changed 10x20 bands can lose or gain, per edge, one
/// partially covered working pixel (box averaging) and one more (blur): the count lies
/// in [2 * 8 * 18, 2 * 14 * 24] = [288, 672] of 19200 working pixels, around the exact
/// 400. All of it stays inside working 40..80 on both axes: cell r1c1, which maps back
/// to source 192..384.
#[test]
fn moving_square_at_a_fractional_scale_stays_within_the_derived_bounds() {
    let white = |x0: u32| {
        move |x: u32, y: u32| {
            if inside(x, y, x0, 218, x0 + 96, 218 + 96) {
                [255; 3]
            } else {
                [0; 3]
            }
        }
    };
    let mut a = create(&factory(MotionConfig::default()));
    run(&mut *a, &rgb(768, 576, 0, white(218)));
    let d = run(&mut *a, &rgb(768, 576, 1, white(266)));
    let score = value(&d, "score");
    assert!(
        (288.0 / 19200.0..=672.0 / 19200.0).contains(&score),
        "score {score} = {} working pixels",
        score * 19200.0
    );
    assert_eq!(d.regions.len(), 1, "{:?}", d.regions);
    assert_eq!(d.regions[0].name.as_deref(), Some("r1c1"));
    assert_eq!(d.regions[0].bbox, BBox::new(192.0, 192.0, 384.0, 384.0));
    let cell_pixels = value(&d, "cell.r1c1") * 1600.0;
    assert_eq!(cell_pixels.round(), (score * 19200.0).round());
}

#[test]
fn several_regions_come_in_row_major_order_with_their_boxes() {
    // A second square moving in the bottom-right cell (working x 120..160, y 80..120).
    let frame = |seq: u64, dx: u32| {
        gray(640, 480, seq, move |x, y| {
            let a = inside(x, y, 180 + dx, 180, 260 + dx, 260);
            let b = inside(x, y, 500 + dx, 360, 540 + dx, 440);
            if a || b { 255 } else { 0 }
        })
    };
    let mut a = create(&factory(no_blur()));
    run(&mut *a, &frame(0, 0));
    let d = run(&mut *a, &frame(1, 40));
    let names: Vec<_> = d
        .regions
        .iter()
        .map(|r| r.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["r1c1", "r2c3"]);
    assert_eq!(d.regions[1].bbox, BBox::new(480.0, 320.0, 640.0, 480.0));
    // Second square: 10x20 working pixels left, 10x20 entered.
    assert_eq!(value(&d, "cell.r2c3"), 400.0 / 1600.0);
    assert_eq!(value(&d, "score"), 800.0 / 19200.0);
}

#[test]
fn cells_below_threshold_are_not_regions_and_threshold_sets_moving() {
    let mut a = create(&factory(MotionConfig {
        blur: false,
        threshold: 0.3,
        ..MotionConfig::default()
    }));
    run(&mut *a, &square(640, 480, 0, 180, 180, 80));
    let d = run(&mut *a, &square(640, 480, 1, 220, 180, 80));
    // r1c1 scores 0.25 < 0.3, the frame 0.0208 < 0.3.
    assert!(d.regions.is_empty());
    assert_eq!(value(&d, "moving"), 0.0);
    assert!(!d.has_tag("motion"));
}

#[test]
fn pixel_threshold_is_a_strict_bound() {
    let level = |seq, v| gray(64, 48, seq, move |_, _| v);
    for (t, moving) in [(29, 1.0), (30, 0.0)] {
        let mut a = create(&factory(MotionConfig {
            pixel_threshold: t,
            ..no_blur()
        }));
        run(&mut *a, &level(0, 100));
        let d = run(&mut *a, &level(1, 130));
        assert_eq!(value(&d, "moving"), moving, "pixel_threshold {t}");
        assert_eq!(value(&d, "score"), moving);
    }
}

#[test]
fn zones_report_only_what_changed_inside_them() {
    let zone = |name: &'static str, bbox| MotionZone {
        name: Name::from_static(name),
        bbox,
    };
    let mut a = create(&factory(MotionConfig {
        zones: vec![
            // Working x 40..80, y 30..75: holds all 400 changed pixels, 1800 pixels.
            zone("door", [0.25, 0.25, 0.5, 0.625]),
            // Working x 40..50, every row: holds columns 45..50 of the left band.
            zone("left", [0.25, 0.0, 0.3125, 1.0]),
            zone("window", [0.75, 0.0, 1.0, 0.25]),
            // Working x 44.6..50: pixel 44 (centre 44.5) is out, 45..50 are in.
            zone("centres", [44.6 / 160.0, 0.0, 0.3125, 1.0]),
            // Contains no working pixel centre.
            zone("tiny", [0.5, 0.5, 0.501, 0.501]),
        ],
        ..no_blur()
    }));
    run(&mut *a, &square(640, 480, 0, 180, 180, 80));
    let d = run(&mut *a, &square(640, 480, 1, 220, 180, 80));
    assert_eq!(value(&d, "zone.door"), 400.0 / 1800.0);
    assert_eq!(value(&d, "zone.left"), 100.0 / 1200.0);
    assert_eq!(value(&d, "zone.centres"), 100.0 / 600.0);
    assert_eq!(value(&d, "zone.window"), 0.0);
    assert_eq!(value(&d, "zone.tiny"), 0.0);
    // Zones are values only: regions are grid cells.
    assert_eq!(d.regions.len(), 1);
}

#[test]
fn reset_forgets_the_previous_frame() {
    let mut a = create(&factory(MotionConfig::default()));
    let f = |seq, salt| gray(320, 240, seq, move |x, y| noise(x, y, salt));
    run(&mut *a, &f(0, 1));
    assert!(value(&run(&mut *a, &f(1, 2)), "score") > 0.1);
    a.reset();
    let d = run(&mut *a, &f(2, 3));
    assert_eq!(value(&d, "score"), 0.0);
    assert!(d.tags.is_empty());
    assert!(value(&run(&mut *a, &f(3, 4)), "score") > 0.1);
}

#[test]
fn a_size_change_starts_a_new_stream() {
    let mut a = create(&factory(MotionConfig::default()));
    let f = |w, h, seq, salt| gray(w, h, seq, move |x, y| noise(x, y, salt));
    run(&mut *a, &f(640, 480, 0, 1));
    assert_eq!(value(&run(&mut *a, &f(320, 240, 1, 2)), "score"), 0.0);
    assert!(value(&run(&mut *a, &f(320, 240, 2, 3)), "score") > 0.1);
    // Same working size (160x120) from another source size is still a new stream.
    assert_eq!(value(&run(&mut *a, &f(640, 480, 3, 4)), "score"), 0.0);
    // Tiny frames: working image 5x3, finer grid than pixels.
    assert_eq!(value(&run(&mut *a, &f(5, 3, 4, 5)), "score"), 0.0);
    let d = run(&mut *a, &f(5, 3, 5, 6));
    assert!(value(&d, "score") > 0.0);
    for r in &d.regions {
        assert!(r.bbox.x2 <= 5.0 && r.bbox.y2 <= 3.0, "{r:?}");
    }
}

#[test]
fn a_grid_finer_than_the_working_image_does_not_panic() {
    let mut a = create(&factory(MotionConfig {
        width: 16,
        grid: [64, 4],
        ..MotionConfig::default()
    }));
    let f = |seq, salt| gray(32, 8, seq, move |x, y| noise(x, y, salt));
    run(&mut *a, &f(0, 1));
    let d = run(&mut *a, &f(1, 2));
    // Working image 16x4: 48 of the 64 columns of cells are empty and score 0.
    let cells = cell_values(&d);
    assert_eq!(cells.len(), 64 * 4);
    let nonzero = cells.iter().filter(|(_, v)| *v > 0.0).count();
    assert!(nonzero > 0 && nonzero <= 16 * 4, "{nonzero}");
    assert!(
        d.regions
            .iter()
            .all(|r| r.bbox.width() > 0.0 && r.bbox.height() > 0.0)
    );
}

/// Gray levels stored as GRAY8, RGB24 (r = g = b), BGR24 and NV12 (with arbitrary
/// chroma) give the same working image, so the same observation.
#[test]
fn gray8_rgb24_bgr24_and_nv12_agree() {
    let scene = |dx: u32| {
        move |x: u32, y: u32| {
            if inside(x, y, 30 + dx, 20, 90 + dx, 70) {
                200
            } else {
                noise(x, y, 9) / 4
            }
        }
    };
    let mut results = Vec::new();
    for kind in 0..4 {
        let mut a = create(&factory(MotionConfig::default()));
        let make = |seq: u64, dx: u32| {
            let s = scene(dx);
            match kind {
                0 => gray(200, 100, seq, s),
                1 => rgb(200, 100, seq, move |x, y| [s(x, y); 3]),
                2 => bgr(200, 100, seq, move |x, y| [s(x, y); 3]),
                _ => nv12(200, 100, seq, 77, s),
            }
        };
        run(&mut *a, &make(0, 0));
        results.push(run(&mut *a, &make(1, 15)));
    }
    assert!(value(&results[0], "score") > 0.05);
    for r in &results[1..] {
        assert_eq!(r, &results[0]);
    }
}

/// A red square (luma 27) moving on blue (luma 29) barely changes luma: no motion. Read
/// with the channels swapped it would be 10 on 77, which is motion: this fails if BGR24
/// is read as RGB24.
#[test]
fn bgr24_channels_are_read_in_bgr_order() {
    let scene = |dx: u32| {
        move |x: u32, y: u32| {
            if inside(x, y, 40 + dx, 40, 120 + dx, 120) {
                [90, 0, 0]
            } else {
                [0, 0, 255]
            }
        }
    };
    for bgr_input in [false, true] {
        let mut a = create(&factory(MotionConfig::default()));
        let make = |seq, dx| {
            if bgr_input {
                bgr(320, 240, seq, scene(dx))
            } else {
                rgb(320, 240, seq, scene(dx))
            }
        };
        run(&mut *a, &make(0, 0));
        let d = run(&mut *a, &make(1, 40));
        assert_eq!(value(&d, "score"), 0.0, "bgr input: {bgr_input}");
    }
}

#[test]
fn each_source_gets_its_own_state() {
    let f = factory(MotionConfig::default());
    let (mut a, mut b) = (create(&f), create(&f));
    run(&mut *a, &gray(64, 48, 0, |x, y| noise(x, y, 1)));
    // b has never seen a frame: its first frame scores 0 whatever a saw.
    assert_eq!(
        value(
            &run(&mut *b, &gray(64, 48, 0, |x, y| noise(x, y, 2))),
            "score"
        ),
        0.0
    );
}
