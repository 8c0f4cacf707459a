//! SyntheticSource: determinism, ground truth, still periods, limits and config.

mod common;

use common::{WALL0, context, drain, is_eos, next};
use visualpath_core::BBox;
use visualpath_media::{SyntheticConfig, SyntheticSource, moves, object_boxes, synthetic_frame};
use visualpath_sdk::{Name, Source};

fn source(cfg: &SyntheticConfig) -> SyntheticSource {
    SyntheticSource::new(Name::from_static("synth"), cfg).unwrap()
}

fn pixel(data: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
    let i = (y as usize * width as usize + x as usize) * 3;
    [data[i], data[i + 1], data[i + 2]]
}

fn inside(b: &BBox, x: u32, y: u32) -> bool {
    let (x, y) = (x as f32, y as f32);
    x >= b.x1 && x < b.x2 && y >= b.y1 && y < b.y2
}

#[test]
fn frames_are_deterministic_and_match_the_pure_function() {
    let cfg = SyntheticConfig {
        objects: 3,
        ..SyntheticConfig::default()
    };
    let mut a = source(&cfg);
    let mut b = source(&cfg);
    let (_clock, cx) = context();
    for i in 0..25u64 {
        let fa = next(&mut a, &cx);
        let fb = next(&mut b, &cx);
        assert_eq!(fa.image.data(), fb.image.data(), "frame {i}");
        if i % 8 == 0 {
            assert_eq!(
                fa.image.data(),
                synthetic_frame(&cfg, i).as_slice(),
                "frame {i}"
            );
        }
    }
    assert_ne!(synthetic_frame(&cfg, 0), synthetic_frame(&cfg, 1));
}

#[test]
fn boxes_are_ground_truth_for_bright_pixels() {
    let cfg = SyntheticConfig {
        width: 320,
        height: 240,
        objects: 4,
        ..SyntheticConfig::default()
    };
    for index in [0u64, 1, 17, 250, 1000] {
        let boxes = object_boxes(&cfg, index);
        assert_eq!(boxes.len(), 4);
        let data = synthetic_frame(&cfg, index);
        assert_eq!(data.len(), 320 * 240 * 3);
        for b in &boxes {
            assert_eq!((b.width(), b.height()), (30.0, 30.0));
            assert!(
                b.x1 >= 0.0 && b.y1 >= 0.0 && b.x2 <= 320.0 && b.y2 <= 240.0,
                "{b:?}"
            );
        }
        for y in 0..240 {
            for x in 0..320 {
                let max = *pixel(&data, 320, x, y).iter().max().unwrap();
                if boxes.iter().any(|b| inside(b, x, y)) {
                    assert!(
                        max >= 150,
                        "dim pixel {max} inside a square at ({x},{y}) frame {index}"
                    );
                } else {
                    assert!(
                        max <= 40,
                        "bright pixel {max} outside squares at ({x},{y}) frame {index}"
                    );
                }
            }
        }
    }
}

#[test]
fn pixels_change_only_where_squares_are() {
    let cfg = SyntheticConfig {
        width: 160,
        height: 120,
        objects: 2,
        ..SyntheticConfig::default()
    };
    let mut changed_inside = 0;
    for index in 1..40u64 {
        let prev = synthetic_frame(&cfg, index - 1);
        let cur = synthetic_frame(&cfg, index);
        let boxes: Vec<BBox> = object_boxes(&cfg, index - 1)
            .into_iter()
            .chain(object_boxes(&cfg, index))
            .collect();
        for y in 0..120 {
            for x in 0..160 {
                if pixel(&prev, 160, x, y) != pixel(&cur, 160, x, y) {
                    assert!(
                        boxes.iter().any(|b| inside(b, x, y)),
                        "change outside the squares at ({x},{y}) frame {index}"
                    );
                    changed_inside += 1;
                }
            }
        }
    }
    assert!(
        changed_inside > 1000,
        "squares barely changed pixels: {changed_inside}"
    );
}

#[test]
fn squares_move_at_different_speeds_and_bounce() {
    let cfg = SyntheticConfig::default();
    let b0 = object_boxes(&cfg, 0);
    let b1 = object_boxes(&cfg, 1);
    let speed = |i: usize| ((b1[i].x1 - b0[i].x1).abs(), (b1[i].y1 - b0[i].y1).abs());
    assert_ne!(speed(0), speed(1));
    // Object 0 reverses horizontal direction somewhere in the first 400 frames and always
    // stays in the frame.
    let xs: Vec<f32> = (0..400).map(|i| object_boxes(&cfg, i)[0].x1).collect();
    let dirs: Vec<f32> = xs.windows(2).map(|w| (w[1] - w[0]).signum()).collect();
    assert!(dirs.contains(&1.0) && dirs.contains(&-1.0));
    assert!(xs.iter().all(|&x| (0.0..=580.0).contains(&x)));
}

#[test]
fn still_periods_freeze_the_picture() {
    let cfg = SyntheticConfig {
        width: 64,
        height: 48,
        still_frames: 3,
        moving_frames: 4,
        ..SyntheticConfig::default()
    };
    let mut moving = 0;
    for index in 1..30u64 {
        let same = synthetic_frame(&cfg, index) == synthetic_frame(&cfg, index - 1);
        assert_eq!(same, !moves(&cfg, index), "frame {index}");
        let n = index % 7;
        assert_eq!(moves(&cfg, index), n < 4, "frame {index}");
        moving += usize::from(!same);
    }
    assert!(moving > 10 && moving < 29);
    let none = SyntheticConfig { objects: 0, ..cfg };
    assert!(!moves(&none, 5));
    assert!(object_boxes(&none, 5).is_empty());
}

#[test]
fn frames_limit_times_and_rewind() {
    let cfg = SyntheticConfig {
        width: 32,
        height: 24,
        fps: 20.0,
        frames: Some(4),
        ..SyntheticConfig::default()
    };
    let mut src = source(&cfg);
    let info = src.info().clone();
    assert_eq!(info.kind, "synthetic");
    assert_eq!(
        (info.width, info.height, info.fps),
        (Some(32), Some(24), Some(20.0))
    );
    assert_eq!(info.frame_count, Some(4));
    assert!(!info.live);
    let (clock, cx) = context();
    let frames = drain(&mut src, &cx, &clock, 100, &[0]);
    assert_eq!(frames.len(), 4);
    assert_eq!(frames[0].capture_time_ns, WALL0 + 1_000_000);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.seq, i as u64);
        assert_eq!(f.pts_ns, Some(i as i64 * 50_000_000));
        assert_eq!(
            f.capture_time_ns,
            frames[0].capture_time_ns + i as i64 * 50_000_000
        );
        assert_eq!(f.arrival_ns, (i as u64 + 1) * 1_000_000);
    }
    assert!(is_eos(&mut src, &cx));
    src.rewind().unwrap();
    let f = next(&mut src, &cx);
    assert_eq!(f.seq, 4);
    assert_eq!(f.pts_ns, Some(0));
    assert_eq!(f.capture_time_ns, frames[0].capture_time_ns + 200_000_000);
    assert_eq!(f.image.data(), synthetic_frame(&cfg, 0).as_slice());
}

#[test]
fn invalid_settings_are_rejected_with_the_valid_range() {
    let cases = [
        (
            SyntheticConfig {
                width: 8,
                ..Default::default()
            },
            "width must be 16 to 8192 pixels, got 8",
        ),
        (
            SyntheticConfig {
                height: 9000,
                ..Default::default()
            },
            "height must be 16 to 8192",
        ),
        (
            SyntheticConfig {
                fps: 0.0,
                ..Default::default()
            },
            "fps must be a positive number",
        ),
        (
            SyntheticConfig {
                fps: f64::NAN,
                ..Default::default()
            },
            "fps must be a positive number",
        ),
        (
            SyntheticConfig {
                frames: Some(0),
                ..Default::default()
            },
            "frames must be at least 1",
        ),
        (
            SyntheticConfig {
                objects: 65,
                ..Default::default()
            },
            "objects must be 0 to 64, got 65",
        ),
        (
            SyntheticConfig {
                moving_frames: 0,
                ..Default::default()
            },
            "moving_frames must be at least 1",
        ),
    ];
    for (cfg, want) in cases {
        let e = cfg.build(Name::from_static("s")).unwrap_err();
        assert!(e.message.starts_with("synthetic source: "), "{}", e.message);
        assert!(e.message.contains(want), "{} (wanted {want})", e.message);
    }
}

#[test]
fn config_defaults() {
    let c: SyntheticConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c, SyntheticConfig::default());
    assert_eq!(
        (c.width, c.height, c.fps, c.frames, c.objects),
        (640, 480, 10.0, None, 2)
    );
    assert_eq!((c.still_frames, c.moving_frames), (0, 50));
    let c: SyntheticConfig = serde_json::from_str(r#"{"frames": 10, "objects": 0}"#).unwrap();
    assert_eq!((c.frames, c.objects), (Some(10), 0));
    assert!(serde_json::from_str::<SyntheticConfig>(r#"{"object": 1}"#).is_err());
    assert!(c.validate().is_ok());
}

#[test]
fn tiny_frames_work() {
    let cfg = SyntheticConfig {
        width: 16,
        height: 16,
        objects: 64,
        ..SyntheticConfig::default()
    };
    let mut src = source(&cfg);
    let (clock, cx) = context();
    assert_eq!(drain(&mut src, &cx, &clock, 50, &[]).len(), 50);
    for b in object_boxes(&cfg, 33) {
        assert!(b.x2 <= 16.0 && b.y2 <= 16.0, "{b:?}");
    }
}
