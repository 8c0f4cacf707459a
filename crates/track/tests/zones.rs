//! Zones and lines with exact expected values, on hand-made tracks.

use visualpath_core::{BBox, Name, Track, Values};
use visualpath_track::zones::{MAX_REMEMBERED, MAX_WINDOW_EVENTS};
use visualpath_track::{Anchor, FrameTime, LineConfig, LineStats, Regions, ZoneConfig, ZoneStats};

const S: i64 = 1_000_000_000;

/// A 20x40 box whose bottom centre is `(x, y)`.
fn track(id: u64, x: f32, y: f32, lost: u32) -> Track {
    Track {
        id,
        slot: None,
        class: "person".into(),
        class_id: 1,
        score: 0.9,
        bbox: BBox::new(x - 10.0, y - 40.0, x + 10.0, y),
        velocity: [0.0; 2],
        age: 5,
        hits: 5,
        lost,
    }
}

fn regions() -> Regions {
    let door = ZoneConfig {
        name: Name::from_static("door"),
        points: vec![[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]],
        normalized: true,
        anchor: Anchor::BottomCenter,
    };
    // Drawn bottom to top at x = 500 px: moving right is `in`.
    let gate = LineConfig {
        name: Name::from_static("gate"),
        a: [0.5, 1.0],
        b: [0.5, 0.0],
        normalized: true,
        anchor: Anchor::BottomCenter,
    };
    Regions::new(&[door], &[gate])
}

fn zone(count: u32, max_dwell_s: f64, entered: u32, exited: u32) -> Option<ZoneStats> {
    Some(ZoneStats {
        count,
        max_dwell_s,
        entered,
        exited,
    })
}

fn line(ins: u64, outs: u64, per_minute: u32) -> Option<LineStats> {
    Some(LineStats {
        ins,
        outs,
        per_minute,
    })
}

#[test]
fn counts_dwell_enter_exit_and_crossings() {
    let mut r = regions();
    let at = |k: i64| FrameTime::new(k as u64, k * S);
    let up = |r: &mut Regions, k: i64, tracks: &[Track], ended: &[Track]| {
        r.update(at(k), 1000, 1000, tracks, ended);
        (r.zone(0), r.line(0))
    };

    // t=0: T1 outside, T2 inside.
    let got = up(
        &mut r,
        0,
        &[track(1, 300.0, 500.0, 0), track(2, 500.0, 500.0, 0)],
        &[],
    );
    assert_eq!(got, (zone(1, 0.0, 1, 0), line(0, 0, 0)));
    // t=1: T1 enters.
    let got = up(
        &mut r,
        1,
        &[track(1, 450.0, 500.0, 0), track(2, 500.0, 500.0, 0)],
        &[],
    );
    assert_eq!(got, (zone(2, 1.0, 1, 0), line(0, 0, 0)));
    // t=2: T1 crosses the gate rightwards (in); T2 is predicted far away (lost 1): a
    // predicted box changes nothing, T2 stays a member.
    let got = up(
        &mut r,
        2,
        &[track(1, 550.0, 500.0, 0), track(2, 800.0, 500.0, 1)],
        &[],
    );
    assert_eq!(got, (zone(2, 2.0, 0, 0), line(1, 0, 1)));
    // t=3: T1 leaves the zone; T2 is matched again where it was (no crossing).
    let got = up(
        &mut r,
        3,
        &[track(1, 700.0, 500.0, 0), track(2, 500.0, 500.0, 0)],
        &[],
    );
    assert_eq!(got, (zone(1, 3.0, 0, 1), line(1, 0, 1)));
    assert_eq!(r.dwell_s(0, 2), Some(3.0));
    assert_eq!(r.dwell_s(0, 1), None);
    // t=4: T2 ends inside (an exit); T1 comes back leftwards: `out`, and enters.
    let got = up(
        &mut r,
        4,
        &[track(1, 450.0, 500.0, 0)],
        &[track(2, 500.0, 500.0, 0)],
    );
    assert_eq!(got, (zone(1, 0.0, 1, 1), line(1, 1, 2)));
    assert_eq!(r.remembered(), 1);

    let mut v = Values::new();
    r.write_values(&mut v);
    let names: Vec<&str> = v.iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        [
            "zone.door.count",
            "zone.door.max_dwell_s",
            "zone.door.entered",
            "zone.door.exited",
            "line.gate.in",
            "line.gate.out",
            "line.gate.per_minute",
        ]
    );
    assert_eq!(v.get("line.gate.per_minute"), Some(2.0));

    // The per-minute window is (now - 60 s, now]: crossings at 2 s and 4 s.
    let still = [track(1, 450.0, 500.0, 0)];
    let mut window = |t: i64| {
        r.update(FrameTime::new(0, t), 1000, 1000, &still, &[]);
        r.line(0).map(|l| l.per_minute)
    };
    assert_eq!(window(62 * S - 1), Some(2));
    assert_eq!(window(62 * S), Some(1));
    assert_eq!(window(64 * S - 1), Some(1));
    assert_eq!(window(64 * S), Some(0));
    // Dwell keeps growing: T1 entered at 4 s.
    assert_eq!(r.zone(0).unwrap().max_dwell_s, 60.0);
    assert_eq!(r.line(0), line(1, 1, 0));
}

#[test]
fn pixel_coordinates_and_other_anchors() {
    // A pixel zone and a top-centre anchor: the box's top must be inside.
    let zone_cfg = ZoneConfig {
        name: Name::from_static("top"),
        points: vec![[0.0, 0.0], [1000.0, 0.0], [1000.0, 100.0], [0.0, 100.0]],
        normalized: false,
        anchor: Anchor::TopCenter,
    };
    // A horizontal line drawn left to right at y = 300 px: moving down is `in`.
    let line_cfg = LineConfig {
        name: Name::from_static("mid"),
        a: [0.0, 300.0],
        b: [1000.0, 300.0],
        normalized: false,
        anchor: Anchor::Center,
    };
    let mut r = Regions::new(&[zone_cfg], &[line_cfg]);
    // Box 20x40 with bottom at y: top at y - 40, centre at y - 20.
    r.update(
        FrameTime::new(0, 0),
        640,
        480,
        &[track(1, 50.0, 130.0, 0)],
        &[],
    );
    assert_eq!(r.zone(0).unwrap().count, 1);
    r.update(
        FrameTime::new(1, S),
        640,
        480,
        &[track(1, 50.0, 330.0, 0)],
        &[],
    );
    assert_eq!(r.zone(0), zone(0, 0.0, 0, 1));
    assert_eq!(r.line(0), line(1, 0, 1));
    // A path that passes beyond the end of the segment does not cross.
    r.update(
        FrameTime::new(2, 2 * S),
        640,
        480,
        &[track(2, 1100.0, 100.0, 0)],
        &[],
    );
    r.update(
        FrameTime::new(3, 3 * S),
        640,
        480,
        &[track(2, 1100.0, 500.0, 0)],
        &[],
    );
    assert_eq!(r.line(0), line(1, 0, 1));
}

#[test]
fn frame_size_scales_normalised_zones() {
    let mut r = regions();
    // 2000x2000: the door is 800..1200.
    r.update(
        FrameTime::new(0, 0),
        2000,
        2000,
        &[track(1, 1000.0, 1000.0, 0)],
        &[],
    );
    assert_eq!(r.zone(0).unwrap().count, 1);
    let mut r = regions();
    r.update(
        FrameTime::new(0, 0),
        1000,
        1000,
        &[track(1, 1000.0, 1000.0, 0)],
        &[],
    );
    assert_eq!(r.zone(0).unwrap().count, 0);
}

#[test]
fn per_minute_rate_saturates_and_memory_is_bounded() {
    let mut r = regions();
    // 5000 crossings, 1 ms apart.
    for k in 0..=5000i64 {
        let x = if k % 2 == 0 { 490.0 } else { 510.0 };
        r.update(
            FrameTime::new(k as u64, k * 1_000_000),
            1000,
            1000,
            &[track(1, x, 900.0, 0)],
            &[],
        );
    }
    assert_eq!(r.line(0), line(2500, 2500, MAX_WINDOW_EVENTS as u32));
    // Tracks that are never reported ended are forgotten beyond the bound.
    let mut r = regions();
    for k in 0..(MAX_REMEMBERED as u64 + 50) {
        r.update(
            FrameTime::new(k, k as i64 * 1000),
            1000,
            1000,
            &[track(k + 1, 500.0, 500.0, 0)],
            &[],
        );
        assert!(r.remembered() <= MAX_REMEMBERED);
    }
    assert_eq!(r.remembered(), MAX_REMEMBERED);
    assert_eq!(r.zone(0).unwrap().count, MAX_REMEMBERED as u32);
    r.reset();
    assert_eq!(r.remembered(), 0);
    assert_eq!(r.zone(0), zone(0, 0.0, 0, 0));
}

#[test]
fn no_zones_no_memory() {
    let mut r = Regions::new(&[], &[]);
    r.update(
        FrameTime::new(0, 0),
        100,
        100,
        &[track(1, 5.0, 5.0, 0)],
        &[],
    );
    assert_eq!(r.remembered(), 0);
    assert_eq!(r.zone(0), None);
    let mut v = Values::new();
    r.write_values(&mut v);
    assert!(v.is_empty());
}
