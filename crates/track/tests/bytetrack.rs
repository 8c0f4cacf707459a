//! ByteTrack on synthetic scenes with ground truth.

mod common;

use common::*;
use visualpath_core::{BBox, Detection, Track};
use visualpath_track::{
    ByteTrack, ByteTrackConfig, FrameTime, MAX_TRACKS, Tracker, TrackerOptions,
};

fn tracker() -> ByteTrack {
    ByteTrack::new(ByteTrackConfig::default(), TrackerOptions::default()).unwrap()
}

fn ids(tracks: &[Track]) -> Vec<u64> {
    tracks.iter().map(|t| t.id).collect()
}

#[test]
fn two_objects_crossing_keep_their_ids() {
    // A walks right, B walks left, 10 px lower; they overlap for about 16 frames and
    // coincide in x at frame 30. During the overlap B (behind) is detected with a low
    // score, as a detector would.
    for offset in [0.0f32, 10.0, 25.0] {
        let mut t = tracker();
        let mut score = Score::default();
        let mut rng = Rng(1);
        for k in 0..60u64 {
            let xa = 100.0 + 6.0 * k as f32;
            let xb = 460.0 - 6.0 * k as f32;
            let a = centered(xa, 300.0, 50.0, 120.0);
            let b = centered(xb, 300.0 + offset, 50.0, 120.0);
            let occluded = (xa - xb).abs() < 50.0;
            let dets = [
                person(
                    centered(xa + rng.jitter(1.0), 300.0 + rng.jitter(1.0), 50.0, 120.0),
                    0.9,
                ),
                person(
                    centered(
                        xb + rng.jitter(1.0),
                        300.0 + offset + rng.jitter(1.0),
                        50.0,
                        120.0,
                    ),
                    if occluded { 0.2 } else { 0.85 },
                ),
            ];
            let out = t.update(ft(k), &dets);
            assert_unique_ids(out);
            score.frame(k, &[(1, a), (2, b)], out);
        }
        let c = score.counts();
        assert_eq!(c.id_switches, 0, "offset {offset}: {c:?}");
        assert_eq!(c.transfers, 0, "offset {offset}: {c:?}");
        // Both are tracked on every frame after confirmation.
        assert_eq!(c.matched, 2 * 59, "offset {offset}: {c:?}");
    }
}

/// One object moving right at 3 px per frame, hidden on frames `hidden`.
fn occlusion_run(hidden: std::ops::Range<u64>, frames: u64) -> Vec<Vec<Track>> {
    let mut t = tracker();
    (0..frames)
        .map(|k| {
            let b = centered(200.0 + 3.0 * k as f32, 300.0, 40.0, 100.0);
            let dets = if hidden.contains(&k) {
                vec![]
            } else {
                vec![person(b, 0.9)]
            };
            t.update(ft(k), &dets).to_vec()
        })
        .collect()
}

#[test]
fn occlusion_up_to_track_buffer_keeps_the_id() {
    // track_buffer 30 at 30 fps: hidden for 1..=30 frames keeps the id, 31 does not.
    for k in [1u64, 10, 29, 30] {
        let frames = occlusion_run(40..40 + k, 40 + k + 10);
        let first = frames[1][0].id;
        for (f, out) in frames.iter().enumerate() {
            let f = f as u64;
            if f == 0 || (40..40 + k).contains(&f) {
                assert!(out.is_empty(), "hidden {k}, frame {f}: {out:?}");
            } else {
                assert_eq!(ids(out), [first], "hidden {k}, frame {f}");
            }
        }
        // The box came back where the object is: the prediction kept up.
        let back = &frames[(40 + k) as usize][0];
        assert_eq!(back.lost, 0);
        assert_eq!(back.hits, 40 + 1);
    }
    for k in [31u64, 45] {
        let frames = occlusion_run(40..40 + k, 40 + k + 10);
        let first = frames[1][0].id;
        // Back after the buffer: a new tentative track (not output on its first frame),
        // then a new id.
        assert!(frames[(40 + k) as usize].is_empty(), "hidden {k}");
        let again = &frames[(40 + k + 1) as usize];
        assert_eq!(again.len(), 1);
        assert_ne!(again[0].id, first, "hidden {k}");
    }
}

#[test]
fn lost_track_ends_once_with_its_last_matched_box() {
    let mut t = tracker();
    let mut ended = Vec::new();
    for k in 0..80u64 {
        let dets = if k < 10 {
            vec![person(
                centered(100.0 + 3.0 * k as f32, 300.0, 40.0, 100.0),
                0.9,
            )]
        } else {
            vec![]
        };
        t.update(ft(k), &dets);
        ended.extend(t.ended().iter().map(|e| (k, e.clone())));
    }
    assert_eq!(ended.len(), 1, "{ended:?}");
    let (k, e) = &ended[0];
    // Last match at frame 9; removed on the first frame more than 1 s later: frame 40.
    assert_eq!(*k, 40);
    assert!((e.bbox.center().0 - 127.0).abs() < 1.0, "{e:?}");
    assert_eq!(e.lost, 31);
    assert_eq!(t.live_tracks(), 0);
    assert_eq!(t.ids_in_use(), 0);
}

#[test]
fn crowd_of_200_is_tracked_with_stable_ids() {
    let mut t = tracker();
    let mut score = Score::default();
    let mut rng = Rng(7);
    let phases: Vec<f32> = (0..200)
        .map(|_| rng.unit() * std::f32::consts::TAU)
        .collect();
    let base = |i: usize| {
        (
            60.0 + 96.0 * (i % 20) as f32,
            100.0 + 160.0 * (i / 20) as f32,
        )
    };
    for k in 0..100u64 {
        let mut gt = Vec::with_capacity(200);
        let mut dets = Vec::with_capacity(200);
        for (i, &ph) in phases.iter().enumerate() {
            let (x0, y0) = base(i);
            let a = k as f32 * std::f32::consts::TAU / 60.0 + ph;
            let (x, y) = (x0 + 20.0 * a.sin(), y0 + 15.0 * a.cos());
            gt.push((i as u64, centered(x, y, 40.0, 90.0)));
            dets.push(person(
                centered(x + rng.jitter(1.0), y + rng.jitter(1.0), 40.0, 90.0),
                0.5 + 0.5 * rng.unit(),
            ));
        }
        // Detector order changes every frame.
        for i in (1..dets.len()).rev() {
            dets.swap(i, rng.next_u32() as usize % (i + 1));
        }
        let out = t.update(ft(k), &dets);
        assert_unique_ids(out);
        if k >= 1 {
            assert_eq!(out.len(), 200, "frame {k}");
        }
        score.frame(k, &gt, out);
    }
    let c = score.counts();
    assert_eq!(c.id_switches, 0, "{c:?}");
    assert_eq!(c.matched, 200 * 99, "{c:?}");
    assert_eq!(t.live_tracks(), 200);
}

#[test]
fn low_score_detections_keep_a_track_alive() {
    // Scores 0.9, then 10 frames in the low band (0.1 < s < 0.25), then 0.9 again.
    let run = |low: f32| {
        let mut t = tracker();
        (0..40u64)
            .map(|k| {
                let s = if (20..30).contains(&k) { low } else { 0.9 };
                let b = centered(100.0 + 4.0 * k as f32, 200.0, 40.0, 100.0);
                t.update(ft(k), &[person(b, s)]).to_vec()
            })
            .collect::<Vec<_>>()
    };
    let frames = run(0.15);
    let id = frames[1][0].id;
    for (k, out) in frames.iter().enumerate().skip(1) {
        assert_eq!(ids(out), [id], "frame {k}");
        assert_eq!(out[0].score, if (20..30).contains(&k) { 0.15 } else { 0.9 });
    }
    // Below track_low_thresh the detections are ignored: the track is lost meanwhile
    // (absent from the output), and found again with the same id.
    let frames = run(0.05);
    for (k, out) in frames.iter().enumerate().skip(1) {
        if (20..30).contains(&k) {
            assert!(out.is_empty(), "frame {k}");
        } else {
            assert_eq!(ids(out), [id], "frame {k}");
        }
    }
}

#[test]
fn low_score_detections_never_start_tracks() {
    let mut t = tracker();
    for k in 0..20u64 {
        let out = t.update(ft(k), &[person(centered(100.0, 100.0, 40.0, 80.0), 0.2)]);
        assert!(out.is_empty());
    }
    assert_eq!(t.live_tracks(), 0);
    // new_track_thresh above track_high_thresh: a 0.3 detection matches but never starts.
    let cfg = ByteTrackConfig {
        new_track_thresh: 0.5,
        ..ByteTrackConfig::default()
    };
    let mut t = ByteTrack::new(cfg, TrackerOptions::default()).unwrap();
    for k in 0..5u64 {
        assert!(
            t.update(ft(k), &[person(centered(100.0, 100.0, 40.0, 80.0), 0.3)])
                .is_empty()
        );
    }
    assert_eq!(t.live_tracks(), 0);
}

#[test]
fn unconfirmed_tracks_are_never_output() {
    let mut t = tracker();
    let mut rng = Rng(3);
    // The first frame outputs nothing (every new track is tentative).
    let steady = |k: u64| person(centered(100.0 + k as f32, 100.0, 40.0, 80.0), 0.9);
    assert!(t.update(ft(0), &[steady(0)]).is_empty());
    for k in 1..200u64 {
        // Flicker: a detection somewhere new on every frame, never twice at one place.
        let x = 300.0 + rng.unit() * 3000.0;
        let y = 300.0 + rng.unit() * 3000.0;
        let flicker = person(centered(x, y, 30.0, 30.0), 0.95);
        let out = t.update(ft(k), &[steady(k), flicker]);
        assert_eq!(out.len(), 1, "frame {k}: {out:?}");
        assert_eq!(out[0].hits as u64, k + 1);
    }
    // Tentative tracks die on their first miss: at most the steady track and this
    // frame's flicker are held.
    assert_eq!(t.live_tracks(), 2);
    // A tentative track is not output on predict frames either.
    let mut t = tracker();
    t.update(ft(0), &[steady(0)]);
    assert!(t.predict(ft(1)).is_empty());
    assert!(t.predict(ft(2)).is_empty());
}

#[test]
fn predict_frames_move_boxes_with_velocity() {
    // 90 px/s right, 30 px/s down at 30 fps.
    let truth = |k: u64| {
        let s = k as f32 / 30.0;
        centered(100.0 + 90.0 * s, 200.0 + 30.0 * s, 40.0, 100.0)
    };
    let mut t = tracker();
    for k in 0..60u64 {
        t.update(ft(k), &[person(truth(k), 0.9)]);
    }
    let before = t.update(ft(60), &[person(truth(60), 0.9)])[0].clone();
    assert!((before.velocity[0] - 90.0).abs() < 1.0, "{before:?}");
    assert!((before.velocity[1] - 30.0).abs() < 1.0, "{before:?}");
    for j in 1..=10u64 {
        let out = t.predict(ft(60 + j)).to_vec();
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert_eq!(p.id, before.id);
        assert_eq!(p.lost, j as u32);
        assert_eq!(p.hits, before.hits);
        let (cx, cy) = p.bbox.center();
        let (tx, ty) = truth(60 + j).center();
        assert!((cx - tx).abs() < 1.0 && (cy - ty).abs() < 1.0, "{j}: {p:?}");
    }
}

#[test]
fn detect_every_third_frame_tracks_in_between() {
    let truth = |i: usize, k: u64| {
        let s = k as f32 / 30.0;
        let dir = if i == 0 { 1.0 } else { -1.0 };
        centered(
            300.0 + dir * 120.0 * s,
            200.0 + 60.0 * i as f32,
            40.0,
            100.0,
        )
    };
    let mut t = tracker();
    let mut score = Score::default();
    for k in 0..150u64 {
        let out = if k % 3 == 0 {
            let dets = [person(truth(0, k), 0.9), person(truth(1, k), 0.9)];
            t.update(ft(k), &dets)
        } else {
            t.predict(ft(k))
        };
        score.frame(k, &[(0, truth(0, k)), (1, truth(1, k))], out);
        if k > 30 {
            assert_eq!(out.len(), 2, "frame {k}");
            for tr in out {
                let gt = if tr.velocity[0] > 0.0 {
                    truth(0, k)
                } else {
                    truth(1, k)
                };
                assert!(tr.bbox.iou(&gt) > 0.9, "frame {k}: {tr:?} vs {gt:?}");
            }
        }
    }
    let c = score.counts();
    assert_eq!(c.id_switches, 0, "{c:?}");
    // Predict-only frames do not use up the lost buffer: an object hidden on detector
    // frames for 0.9 s (27 frames, 9 of them detector frames) keeps its id.
    let mut t = tracker();
    let mut seen = Vec::new();
    for k in 0..120u64 {
        let visible = !(30..57).contains(&k);
        let out = if k % 3 == 0 {
            let dets: Vec<Detection> = if visible {
                vec![person(truth(0, k), 0.9)]
            } else {
                vec![]
            };
            t.update(ft(k), &dets)
        } else {
            t.predict(ft(k))
        };
        seen.extend(out.iter().map(|t| t.id));
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "{seen:?}");
}

/// One object at 100 px/s right and 50 px/s up; frame gaps from `gap`, the timestamp of
/// every 10th frame stale (the previous frame's) when `stale`. Returns the velocities
/// from frame 1 on, checking that the id never changes.
fn irregular_run(mut gap: impl FnMut() -> i64, stale: bool) -> Vec<[f32; 2]> {
    let mut t = tracker();
    let start = 1_700_000_000_000_000_000i64;
    let (mut now, mut stamp) = (start, start);
    let mut id = None;
    let mut velocities = Vec::new();
    for k in 0..150u64 {
        now += gap();
        if !(stale && k % 10 == 9) {
            stamp = now;
        }
        let s = (now - start) as f32 * 1e-9;
        let b = centered(100.0 + 100.0 * s, 300.0 - 50.0 * s, 40.0, 100.0);
        let out = t.update(FrameTime::new(k, stamp), &[person(b, 0.9)]);
        if k >= 1 {
            assert_eq!(out.len(), 1, "frame {k}");
            assert_eq!(*id.get_or_insert(out[0].id), out[0].id, "frame {k}");
            velocities.push(out[0].velocity);
        }
    }
    velocities
}

#[test]
fn irregular_frame_times_give_velocity_per_second() {
    // 20 to 80 ms between frames: the velocity is exact in pixels per second.
    let mut rng = Rng(11);
    let v = irregular_run(|| 20_000_000 + (rng.unit() * 60_000_000.0) as i64, false);
    for (k, v) in v.iter().enumerate().skip(60) {
        assert!(
            (v[0] - 100.0).abs() < 1.0 && (v[1] + 50.0).abs() < 0.5,
            "frame {k}: {v:?}"
        );
    }
    // 30 fps with +-3 ms jitter and a stale timestamp on every 10th frame: the fallback
    // (the measured interval) keeps the estimate within 2% (a 0 s step there would be
    // off by more than 4%).
    let mut rng = Rng(12);
    let v = irregular_run(|| 33_333_333 + (rng.jitter(3_000_000.0)) as i64, true);
    for (k, v) in v.iter().enumerate().skip(60) {
        assert!(
            (v[0] - 100.0).abs() < 2.0 && (v[1] + 50.0).abs() < 1.0,
            "frame {k}: {v:?}"
        );
    }
}

#[test]
fn classes_are_tracked_separately_unless_disabled() {
    let b = |k: u64| centered(100.0 + 2.0 * k as f32, 100.0, 60.0, 60.0);
    for class_aware in [true, false] {
        let opts = TrackerOptions {
            class_aware,
            ..TrackerOptions::default()
        };
        let mut t = ByteTrack::new(ByteTrackConfig::default(), opts).unwrap();
        let mut seen = Vec::new();
        for k in 0..20u64 {
            let d = if k < 10 {
                person(b(k), 0.9)
            } else {
                car(b(k), 0.9)
            };
            let out = t.update(ft(k), &[d]);
            seen.extend(out.iter().map(|t| (t.id, t.class.to_string())));
        }
        seen.dedup();
        if class_aware {
            // The person track is lost; the car starts its own track.
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert_eq!(seen[0].1, "person");
            assert_eq!(seen[1].1, "car");
            assert_ne!(seen[0].0, seen[1].0);
        } else {
            // One track whose class follows its detections.
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert_eq!(seen[0].0, seen[1].0);
            assert_eq!(seen[1].1, "car");
        }
    }
}

#[test]
fn bad_detections_are_ignored() {
    let mut t = tracker();
    let bad = [
        person(BBox::new(f32::NAN, 0.0, 10.0, 10.0), 0.9),
        person(BBox::new(0.0, 0.0, 0.0, 10.0), 0.9),
        person(BBox::new(10.0, 0.0, 0.0, 10.0), 0.9),
        person(BBox::new(0.0, 0.0, f32::INFINITY, 10.0), 0.9),
        person(BBox::new(0.0, 0.0, 10.0, 10.0), f32::NAN),
    ];
    for k in 0..5u64 {
        assert!(t.update(ft(k), &bad).is_empty());
    }
    assert_eq!(t.live_tracks(), 0);
    // Out-of-range scores are plain numbers: above 1 is high.
    for k in 5..7u64 {
        t.update(ft(k), &[person(BBox::new(0.0, 0.0, 10.0, 10.0), 7.0)]);
    }
    assert_eq!(t.live_tracks(), 1);
}

#[test]
fn track_count_is_bounded() {
    let mut t = tracker();
    let mut rng = Rng(5);
    for k in 0..4u64 {
        let dets: Vec<Detection> = (0..3000)
            .map(|i| {
                // Frames 0 and 1 confirm 3000 tracks; later frames bring 3000 new ones
                // elsewhere while the first ones are lost.
                let block = if k < 2 { 0.0 } else { k as f32 };
                let x = (i % 100) as f32 * 50.0 + rng.jitter(0.5) + block * 10_000.0;
                let y = (i / 100) as f32 * 50.0;
                person(BBox::new(x, y, x + 20.0, y + 20.0), 0.9)
            })
            .collect();
        assert_unique_ids(t.update(ft(k), &dets));
        assert!(t.live_tracks() <= MAX_TRACKS);
    }
    assert_eq!(t.live_tracks(), MAX_TRACKS);
}

#[test]
fn duplicate_of_a_lost_track_is_removed_as_ultralytics_does() {
    // X (track B, from frame 0) and Y (track A, from frame 10) stand almost on the same
    // spot (IoU 0.9). On frame 20 X is no longer detected: B is lost right under A. A
    // tracked and a lost track with IoU > 0.85 are duplicates; A has the shorter history
    // (10 frames against 19), so A is dropped and B takes Y's detection on frame 21.
    let bx = centered(100.0, 100.0, 40.0, 80.0);
    let by = centered(102.0, 100.0, 40.0, 80.0);
    let mut t = tracker();
    let mut b_id = 0;
    let mut a_id = 0;
    for k in 0..20u64 {
        let dets = if k < 10 {
            vec![person(bx, 0.9)]
        } else {
            vec![person(bx, 0.9), person(by, 0.9)]
        };
        let out = t.update(ft(k), &dets).to_vec();
        if k == 5 {
            b_id = out[0].id;
        }
        if k == 15 {
            assert_eq!(out.len(), 2);
            a_id = out.iter().find(|t| t.id != b_id).unwrap().id;
            let b = out.iter().find(|t| t.id == b_id).unwrap();
            assert!(b.bbox.iou(&bx) > 0.99);
        }
    }
    let out = t.update(ft(20), &[person(by, 0.9)]);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(ids(t.ended()), [a_id]);
    let out = t.update(ft(21), &[person(by, 0.9)]);
    assert_eq!(ids(out), [b_id]);
}

#[test]
fn reset_forgets_tracks_but_not_the_id_counter() {
    let mut t = tracker();
    let b = centered(100.0, 100.0, 40.0, 80.0);
    t.update(ft(0), &[person(b, 0.9)]);
    let first = t.update(ft(1), &[person(b, 0.9)])[0].id;
    t.reset();
    assert_eq!(t.live_tracks(), 0);
    assert!(t.ended().is_empty());
    // Capture time restarts (a looped file): no effect on the new stream.
    t.update(FrameTime::new(0, 0), &[person(b, 0.9)]);
    let second = t.update(FrameTime::new(1, FRAME_NS), &[person(b, 0.9)])[0].id;
    assert_eq!(second, first + 1);
}

#[test]
fn config_checks() {
    let bad = ByteTrackConfig {
        track_low_thresh: 0.5,
        ..ByteTrackConfig::default()
    };
    let e = ByteTrack::new(bad, TrackerOptions::default()).unwrap_err();
    assert_eq!(
        e.0,
        "track: `tracker.bytetrack.track_low_thresh` (0.5) must not be above `tracker.bytetrack.track_high_thresh` (0.25)"
    );
    let bad = ByteTrackConfig {
        match_thresh: 1.5,
        ..ByteTrackConfig::default()
    };
    assert_eq!(
        ByteTrack::new(bad, TrackerOptions::default())
            .unwrap_err()
            .0,
        "track: `tracker.bytetrack.match_thresh` must be between 0 and 1, got 1.5"
    );
    let opts = TrackerOptions {
        id_space: 10,
        ..TrackerOptions::default()
    };
    assert_eq!(
        ByteTrack::new(ByteTrackConfig::default(), opts)
            .unwrap_err()
            .0,
        "track: `id_space` must be between 10000 and 9007199254740992, got 10"
    );
    assert_eq!(ByteTrackConfig::default().buffer_ns(), 1_001_000_000);
}
