//! The `track` analyzer: configuration, detector selection, slots, zones and lines.

mod common;

use std::sync::Arc;

use common::*;
use visualpath_core::{
    Detection, Frame, Image, Name, Observation, ObservationData, PixelBuffer, PixelFormat, Timing,
};
use visualpath_sdk::{SourceInfo, Upstream};
use visualpath_track::analyzer::TrackAnalyzer;
use visualpath_track::metrics::SwitchCounts;
use visualpath_track::{Anchor, SortConfig, TrackConfig, TrackerConfig, ZoneConfig};

fn frame(image: &Image, k: u64) -> Frame {
    Frame {
        source: Name::from_static("cam"),
        seq: k,
        pts_ns: None,
        capture_time_ns: k as i64 * FRAME_NS,
        arrival_ns: 0,
        capture_clock: visualpath_core::CaptureClock::Media,
        image: image.clone(),
    }
}

fn observation(analyzer: &'static str, k: u64, detections: Vec<Detection>) -> Arc<Observation> {
    Arc::new(Observation {
        analyzer: Name::from_static(analyzer),
        source: Name::from_static("cam"),
        seq: k,
        capture_time_ns: k as i64 * FRAME_NS,
        arrival_ns: 0,
        frame_size: (0, 0),
        data: ObservationData {
            detections,
            ..ObservationData::default()
        },
        timing: Timing::default(),
    })
}

fn image(w: u32, h: u32) -> Image {
    Image::packed(
        w,
        h,
        PixelFormat::Gray8,
        PixelBuffer::from_vec(vec![0; (w * h) as usize]),
    )
    .unwrap()
}

#[test]
fn config_from_json_with_defaults() {
    let c: TrackConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c, TrackConfig::default());
    assert_eq!(c.slots, 10);
    assert_eq!(c.slot_grace.to_string(), "2s");
    assert_eq!(c.id_space, 1_000_000);
    let TrackerConfig::ByteTrack(b) = &c.tracker else {
        panic!("default tracker")
    };
    assert_eq!(
        (b.track_high_thresh, b.track_low_thresh, b.new_track_thresh),
        (0.25, 0.1, 0.25)
    );
    assert_eq!(
        (b.track_buffer, b.match_thresh, b.fuse_score),
        (30, 0.8, true)
    );

    let c: TrackConfig = serde_json::from_str(
        r#"{"tracker": {"sort": {"max_age": 3}}, "detector": "yolo", "classes": ["person"],
            "slots": 4, "slot_grace": "500ms",
            "zones": [{"name": "door", "points": [[0.1, 0.1], [0.3, 0.1], [0.3, 0.4]]}],
            "lines": [{"name": "gate", "a": [0, 0.5], "b": [1, 0.5], "anchor": "center"}]}"#,
    )
    .unwrap();
    assert_eq!(
        c.tracker,
        TrackerConfig::Sort(SortConfig {
            max_age: 3,
            ..SortConfig::default()
        })
    );
    assert!(c.zones[0].normalized);
    assert_eq!(c.zones[0].anchor, Anchor::BottomCenter);
    assert_eq!(c.lines[0].anchor, Anchor::Center);
    assert!(c.validate().is_ok());
    assert_eq!(
        c.describe(),
        "track (sort, 4 slots, detector yolo, classes person, 1 zone, 1 line)"
    );
    assert_eq!(
        TrackConfig::default().describe(),
        "track (bytetrack, 10 slots)"
    );
    // Round trip.
    let back: TrackConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    // Unknown fields are rejected at every level.
    for bad in [
        r#"{"trackr": {}}"#,
        r#"{"tracker": {"bytetrack": {"track_bufer": 3}}}"#,
        r#"{"tracker": {"botsort": {}}}"#,
        r#"{"zones": [{"name": "a", "points": [], "anchr": "center"}]}"#,
    ] {
        assert!(serde_json::from_str::<TrackConfig>(bad).is_err(), "{bad}");
    }
    let schema = serde_json::to_string(&schemars::schema_for!(TrackConfig)).unwrap();
    assert!(schema.contains("track_high_thresh") && schema.contains("bottom_center"));
}

#[test]
fn validation_messages_name_the_field() {
    let check = |c: TrackConfig, msg: &str| assert_eq!(c.validate().unwrap_err().0, msg);
    check(
        TrackConfig {
            slots: 0,
            ..TrackConfig::default()
        },
        "track: `slots` must be between 1 and 1000, got 0",
    );
    check(
        TrackConfig {
            classes: Some(vec![]),
            ..TrackConfig::default()
        },
        "track: `classes` must list 1 to 1000 class names, got 0 (leave it out to track every class)",
    );
    let zone = ZoneConfig {
        name: Name::from_static("door"),
        points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
        normalized: true,
        anchor: Anchor::default(),
    };
    check(
        TrackConfig {
            zones: vec![zone.clone(), zone],
            ..TrackConfig::default()
        },
        "track: `zones[1]` reuses the name `door`; zone names must be unique",
    );
    check(
        TrackConfig {
            tracker: TrackerConfig::Sort(SortConfig {
                iou_threshold: -0.1,
                ..SortConfig::default()
            }),
            ..TrackConfig::default()
        },
        "track: `tracker.sort.iou_threshold` must be between 0 and 1, got -0.1",
    );
    // The factory reports the same message when creating an analyzer.
    let f = TrackConfig {
        slots: 0,
        ..TrackConfig::default()
    }
    .factory();
    assert_eq!(f.describe(), "track (bytetrack, 0 slots)");
    let e = f
        .create(&SourceInfo::new(Name::from_static("cam"), "synthetic"))
        .unwrap_err();
    assert_eq!(
        e.message,
        "track: `slots` must be between 1 and 1000, got 0"
    );
}

#[test]
fn detector_present_updates_absent_predicts() {
    let factory = TrackConfig::default().factory();
    let mut a = factory
        .create(&SourceInfo::new(Name::from_static("cam"), "synthetic"))
        .unwrap();
    let img = image(640, 480);
    let walker = |k: u64| person(centered(100.0 + 3.0 * k as f32, 200.0, 40.0, 100.0), 0.9);
    let mut id = None;
    for k in 0..10u64 {
        // A motion analyzer without detections runs before the detector.
        let up = [
            observation("motion", k, vec![]),
            observation("detect", k, vec![walker(k)]),
        ];
        let data = a.analyze(&frame(&img, k), Upstream::new(&up)).unwrap();
        assert_eq!(
            data.values.get("count"),
            Some(if k == 0 { 0.0 } else { 1.0 })
        );
        if k > 0 {
            assert_eq!(data.tracks[0].slot, Some(1));
            assert_eq!(*id.get_or_insert(data.tracks[0].id), data.tracks[0].id);
        }
    }
    // The detector did not run: predicted.
    let up = [observation("motion", 10, vec![])];
    let data = a.analyze(&frame(&img, 10), Upstream::new(&up)).unwrap();
    assert_eq!(data.tracks.len(), 1);
    assert_eq!(data.tracks[0].lost, 1);
    // The detector ran and found nothing: an update, the track is lost (not output),
    // but it keeps its slot.
    let up = [
        observation("motion", 11, vec![]),
        observation("detect", 11, vec![]),
    ];
    let data = a.analyze(&frame(&img, 11), Upstream::new(&up)).unwrap();
    assert!(data.tracks.is_empty());
    assert_eq!(data.values.get("count"), Some(0.0));
    assert_eq!(data.values.get("slots_used"), Some(1.0));
    // Found again.
    let up = [observation("detect", 12, vec![walker(12)])];
    let data = a.analyze(&frame(&img, 12), Upstream::new(&up)).unwrap();
    assert_eq!(data.tracks[0].id, id.unwrap());
    // reset() forgets it all.
    a.reset();
    let up = [observation("detect", 13, vec![walker(13)])];
    let data = a.analyze(&frame(&img, 13), Upstream::new(&up)).unwrap();
    assert!(data.tracks.is_empty());
    assert_eq!(data.values.get("slots_used"), Some(0.0));
}

#[test]
fn named_detector_and_class_filter() {
    let cfg = TrackConfig {
        detector: Some(Name::from_static("cars")),
        classes: Some(vec!["car".into()]),
        ..TrackConfig::default()
    };
    let mut a = TrackAnalyzer::new(&cfg).unwrap();
    let img = image(640, 480);
    for k in 0..5u64 {
        let b = centered(100.0, 100.0, 60.0, 40.0);
        let up = [
            observation(
                "people",
                k,
                vec![person(centered(300.0, 100.0, 40.0, 80.0), 0.9)],
            ),
            observation(
                "cars",
                k,
                vec![car(b, 0.9), person(centered(400.0, 300.0, 40.0, 80.0), 0.9)],
            ),
        ];
        let data =
            visualpath_sdk::Analyzer::analyze(&mut a, &frame(&img, k), Upstream::new(&up)).unwrap();
        if k > 0 {
            assert_eq!(data.tracks.len(), 1);
            assert_eq!(data.tracks[0].class, "car");
        }
    }
    assert_eq!(a.detector().map(Name::as_str), Some("cars"));
    // Without the named detector on a frame: predict (the people detections are not used).
    let up = [observation(
        "people",
        5,
        vec![person(centered(300.0, 100.0, 40.0, 80.0), 0.9)],
    )];
    let data =
        visualpath_sdk::Analyzer::analyze(&mut a, &frame(&img, 5), Upstream::new(&up)).unwrap();
    assert_eq!(data.tracks.len(), 1);
    assert_eq!(data.tracks[0].lost, 1);
}

/// Two people: B stands still, A walks right at 3 px/frame and is hidden on `hidden`
/// frames, reappearing `shift` px further than its walk would put it.
fn reentry_run(
    hidden: std::ops::Range<u64>,
    shift: f32,
    frames: u64,
) -> (Vec<ObservationData>, SwitchCounts) {
    let mut a = TrackAnalyzer::new(&TrackConfig::default()).unwrap();
    let mut score = Score::default();
    let out = (0..frames)
        .map(|k| {
            let b = centered(600.0, 300.0, 40.0, 100.0);
            let mut gt = vec![(2, b)];
            if !hidden.contains(&k) {
                let extra = if k >= hidden.end { shift } else { 0.0 };
                let x = 100.0 + 3.0 * k as f32 + extra;
                gt.insert(0, (1, centered(x, 300.0, 40.0, 100.0)));
            }
            let dets: Vec<Detection> = gt.iter().map(|g| person(g.1, 0.9)).collect();
            let d = a.step(ft(k), 1280, 720, Some(&dets));
            score.frame(k, &gt, &d.tracks);
            d
        })
        .collect();
    (out, score.counts())
}

/// `(id, slot)` of A (the track not standing at x = 600).
fn walker_slot(d: &ObservationData) -> Option<(u64, Option<u32>)> {
    d.tracks
        .iter()
        .find(|t| (t.bbox.center().0 - 600.0).abs() > 30.0)
        .map(|t| (t.id, t.slot))
}

#[test]
fn reentry_within_grace_gets_the_same_slot() {
    // Hidden on frames 40..85 (1.5 s > track_buffer 1 s): A's track ends on frame 70,
    // A reappears on frame 85 and is confirmed on frame 86 with a new id, but gets its
    // slot back: within the 2 s grace, near its last box.
    let (frames, counts) = reentry_run(40..85, 0.0, 100);
    // Against ground truth: one id switch (A's new id), no slot switch.
    assert_eq!(
        (counts.id_switches, counts.slot_switches),
        (1, 0),
        "{counts:?}"
    );
    let (id_a, slot_a) = walker_slot(&frames[10]).unwrap();
    assert_eq!(slot_a, Some(1));
    let b = frames[10].tracks.iter().find(|t| t.id != id_a).unwrap();
    assert_eq!(b.slot, Some(2));
    let (id_back, slot_back) = walker_slot(&frames[90]).unwrap();
    assert_ne!(id_back, id_a);
    assert_eq!(slot_back, Some(1));
    for (k, f) in frames.iter().enumerate().skip(40).take(50) {
        // Held while lost (until frame 70), reserved (not counted) until re-entry.
        let used = match k {
            40..=69 => 2.0,
            70..=85 => 1.0,
            _ => 2.0,
        };
        assert_eq!(f.values.get("slots_used"), Some(used), "frame {k}");
        assert_eq!(
            walker_slot(f).map(|w| w.1),
            (k >= 86).then_some(Some(1)),
            "frame {k}"
        );
    }
    // Reappearing far from its last box: the lowest slot neither held nor reserved (3).
    let (frames, counts) = reentry_run(40..85, 400.0, 100);
    assert_eq!(walker_slot(&frames[90]).unwrap().1, Some(3));
    assert_eq!(
        (counts.id_switches, counts.slot_switches),
        (1, 1),
        "{counts:?}"
    );
    // Reappearing after the grace (hidden 100 frames: ended on frame 70, reserved until
    // frame 130): slot 1 is simply the lowest free slot again.
    let (frames, _) = reentry_run(40..140, 400.0, 150);
    assert_eq!(walker_slot(&frames[145]).unwrap().1, Some(1));
}

#[test]
fn zones_and_lines_through_the_tracker() {
    // 1000x1000 frame; door = x 400..600, y 400..600; gate at x = 500, drawn bottom to top
    // (moving right is `in`). A person walks right along y = 500 (bottom centre) at 10 px
    // per frame from x = 105, so the filtered anchor is never within 5 px of a boundary
    // when it matters: it enters on frame 30 (x 405), crosses on frame 40 (x 505) and
    // leaves on frame 50 (x 605).
    let cfg: TrackConfig = serde_json::from_str(
        r#"{"zones": [{"name": "door", "points": [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]]}],
            "lines": [{"name": "gate", "a": [0.5, 1.0], "b": [0.5, 0.0]}]}"#,
    )
    .unwrap();
    let mut a = TrackAnalyzer::new(&cfg).unwrap();
    let bottom = |cx: f32| visualpath_core::BBox::new(cx - 20.0, 400.0, cx + 20.0, 500.0);
    let mut rows = Vec::new();
    for k in 0..60u64 {
        let cx = 105.0 + 10.0 * k as f32;
        let d = a.step(ft(k), 1000, 1000, Some(&[person(bottom(cx), 0.9)]));
        if k >= 25 {
            let (x, _) = d.tracks[0].bbox.center();
            assert!((x - cx).abs() < 1.0, "frame {k}: filtered {x} vs {cx}");
        }
        let v = |n: &str| d.values.get(n).unwrap();
        rows.push((
            k,
            v("zone.door.count"),
            v("zone.door.entered"),
            v("zone.door.exited"),
            v("zone.door.max_dwell_s"),
            v("line.gate.in"),
            v("line.gate.out"),
            v("line.gate.per_minute"),
        ));
    }
    let dwell = |frames: i64| (frames * FRAME_NS) as f64 / 1e9;
    assert_eq!(rows[29], (29, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0));
    assert_eq!(rows[30], (30, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0));
    assert_eq!(rows[39], (39, 1.0, 0.0, 0.0, dwell(9), 0.0, 0.0, 0.0));
    assert_eq!(rows[40], (40, 1.0, 0.0, 0.0, dwell(10), 1.0, 0.0, 1.0));
    assert_eq!(rows[49], (49, 1.0, 0.0, 0.0, dwell(19), 1.0, 0.0, 1.0));
    assert_eq!(rows[50], (50, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0));
    let entered: f64 = rows.iter().map(|r| r.2).sum();
    let exited: f64 = rows.iter().map(|r| r.3).sum();
    assert_eq!((entered, exited), (1.0, 1.0));
}

#[test]
fn many_ids_stay_bounded_through_the_analyzer() {
    // Objects that live 2 frames each, 12 new per frame, with a small id space: ids wrap
    // and never exceed it; slots never exceed N.
    let cfg = TrackConfig {
        id_space: 10_000,
        slots: 5,
        ..TrackConfig::default()
    };
    let mut a = TrackAnalyzer::new(&cfg).unwrap();
    let mut wrapped = 0;
    let mut prev_max = 0;
    for k in 0..4000u64 {
        let dets: Vec<Detection> = (0..24)
            .map(|j| {
                // Born on frame k - (j / 12); positions cycle over a 24x24 grid, so a
                // place is used again only after its lost track has ended.
                let born = k.saturating_sub(j / 12);
                let p = (born * 12 + j % 12) % 576;
                let (x, y) = (
                    (p % 24) as f32 * 100.0 + 50.0,
                    (p / 24) as f32 * 100.0 + 50.0,
                );
                person(centered(x, y, 40.0, 80.0), 0.9)
            })
            .collect();
        let d = a.step(ft(k), 2400, 2400, Some(&dets));
        assert_unique_ids(&d.tracks);
        for t in &d.tracks {
            assert!(t.id > 0 && t.id < 10_000);
            assert!(t.slot.is_none_or(|s| (1..=5).contains(&s)));
        }
        let max = d.tracks.iter().map(|t| t.id).max().unwrap_or(0);
        if max + 5000 < prev_max {
            wrapped += 1;
        }
        prev_max = max;
        // 24 visible, about 12 x 31 lost (1 s of buffer).
        assert!(
            a.tracker().live_tracks() <= 24 + 12 * 32,
            "{}",
            a.tracker().live_tracks()
        );
        assert!(a.slots().remembered() <= 12 + 12 * 32);
    }
    // 12 confirmations per frame: 48000 ids, about 4.8 turns of the id space.
    assert_eq!(wrapped, 4);
}
