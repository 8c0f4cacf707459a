//! A long synthetic run creating more than 2,000,000 tracks: ids stay below the id
//! space, live ids are unique, and every internal container stays bounded.

mod common;

use std::collections::HashSet;

use common::*;
use visualpath_core::{Detection, Name};
use visualpath_track::{
    Anchor, ByteTrack, ByteTrackConfig, LineConfig, Regions, Slots, Tracker, TrackerOptions,
    ZoneConfig,
};

const NEW_PER_FRAME: u64 = 16;
const GRID: u64 = 32;
const TARGET: u64 = 2_000_000;

#[test]
fn two_million_tracks_keep_ids_bounded_and_unique() {
    let cfg = ByteTrackConfig {
        // Lost tracks are kept 0.1 s: fewer of them per frame keeps the run fast; the
        // bound checks below hold for any buffer.
        track_buffer: 3,
        ..ByteTrackConfig::default()
    };
    let options = TrackerOptions::default();
    let id_space = options.id_space;
    let mut tracker = ByteTrack::new(cfg, options).unwrap();
    let mut slots = Slots::new(10, 2_000_000_000);
    let zone = ZoneConfig {
        name: Name::from_static("left"),
        points: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
        normalized: true,
        anchor: Anchor::Center,
    };
    let line = LineConfig {
        name: Name::from_static("mid"),
        a: [0.0, 0.5],
        b: [1.0, 0.5],
        normalized: true,
        anchor: Anchor::Center,
    };
    let mut regions = Regions::new(&[zone], &[line]);

    let mut confirmed = 0u64;
    let mut wraps = 0u64;
    let mut prev_max = 0u64;
    let mut dets: Vec<Detection> = Vec::new();
    let mut k = 0u64;
    while confirmed <= TARGET {
        // Objects live 2 frames (born on k and k - 1); places cycle over a 32x32 grid so
        // that a place is reused long after its lost track ended.
        dets.clear();
        for age in 0..2 {
            let born = k.saturating_sub(age);
            for j in 0..NEW_PER_FRAME {
                let p = (born * NEW_PER_FRAME + j) % (GRID * GRID);
                let (x, y) = (
                    (p % GRID) as f32 * 100.0 + 50.0,
                    (p / GRID) as f32 * 100.0 + 50.0,
                );
                dets.push(person(centered(x, y, 40.0, 80.0), 0.9));
            }
        }
        let time = ft(k);
        let mut out = tracker.update(time, &dets).to_vec();
        let ended = tracker.ended();
        slots.assign(time, &mut out, ended);
        regions.update(time, 3200, 3200, &out, ended);

        let mut max = 0;
        let mut seen = HashSet::with_capacity(out.len());
        for t in &out {
            assert!(t.id > 0 && t.id < id_space, "frame {k}: id {}", t.id);
            assert!(seen.insert(t.id), "frame {k}: id {} twice", t.id);
            assert!(t.slot.is_none_or(|s| (1..=10).contains(&s)));
            if t.hits == 2 {
                confirmed += 1;
            }
            max = max.max(t.id);
        }
        if max + id_space / 2 < prev_max {
            wraps += 1;
        }
        prev_max = max;

        if k.is_multiple_of(101) {
            let live: Vec<u64> = tracker.live_ids().collect();
            let unique: HashSet<u64> = live.iter().copied().collect();
            assert_eq!(unique.len(), live.len(), "frame {k}: a live id is shared");
            assert_eq!(tracker.ids_in_use(), live.len());
            assert!(live.iter().all(|&id| id > 0 && id < id_space));
            // 32 visible, 16 tentative, lost ones for about 4 frames.
            assert!(tracker.live_tracks() <= 16 * 8, "{}", tracker.live_tracks());
            assert!(slots.remembered() <= 16 * 8, "{}", slots.remembered());
            assert!(slots.used() + slots.reserved() <= 10);
            assert!(regions.remembered() <= 16 * 8, "{}", regions.remembered());
        }
        k += 1;
    }
    assert!(confirmed > TARGET);
    // 2,000,000 confirmations in an id space of 1,000,000: at least two wraps.
    assert!(wraps >= 2, "{wraps}");
}
