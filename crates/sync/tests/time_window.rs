//! Scenario tests of the `time_window` policy, with synthetic timestamps.

mod common;

use common::{Driver, MS, v};
use visualpath_core::HumanDuration;
use visualpath_sync::{SyncPolicy, TimeWindowConfig, build};

fn tw(tolerance_ms: u64, lateness_ms: u64, emit_partial: bool) -> TimeWindowConfig {
    TimeWindowConfig {
        tolerance: HumanDuration::from_millis(tolerance_ms),
        lateness: HumanDuration::from_millis(lateness_ms),
        emit_partial,
        ..TimeWindowConfig::default()
    }
}

fn driver(cfg: TimeWindowConfig, inputs: usize) -> Driver {
    Driver::new(build(&SyncPolicy::TimeWindow(cfg), inputs).unwrap())
}

/// (pushed, emitted, complete, partial, dropped, late, duplicates, evicted)
fn counters(d: &Driver) -> (u64, u64, u64, u64, u64, u64, u64, u64) {
    let s = d.sync.stats();
    assert!(s.is_conserved(), "{s:?}");
    (
        s.pushed,
        s.emitted,
        s.complete,
        s.partial,
        s.dropped,
        s.late,
        s.duplicates,
        s.evicted,
    )
}

#[test]
fn two_inputs_with_jitter_pair_up() {
    let mut d = driver(tw(10, 50, true), 2);
    let a0 = d.push(0, 0, 0);
    let b0 = d.push(1, 3, 1);
    let a1 = d.push(0, 34, 2);
    let b1 = d.push(1, 31, 3);
    let a2 = d.push(0, 66, 4);
    let b2 = d.push(1, 70, 5);
    let b3 = d.push(1, 98, 6); // B first this time: B opens the set
    let a3 = d.push(0, 101, 7);
    assert_eq!(
        d.take(),
        vec![
            v(0, 0, &[(0, 0, a0), (1, 3, b0)], false, 3),
            v(1, 34, &[(0, 34, a1), (1, 31, b1)], false, 3),
            v(2, 66, &[(0, 66, a2), (1, 70, b2)], false, 4),
            v(3, 98, &[(0, 101, a3), (1, 98, b3)], false, 3),
        ]
    );
    assert_eq!(counters(&d), (8, 4, 4, 0, 0, 0, 0, 0));
    let s = d.sync.stats();
    assert_eq!(
        (s.emitted_items, s.pending_sets, s.pending_items),
        (8, 0, 0)
    );
    assert_eq!(s.skew_ns.count(), 4);
    assert_eq!(s.skew_ns.max(), 4 * MS as u64);
    assert_eq!(s.skew_ns.min(), 3 * MS as u64);
}

#[test]
fn three_inputs_in_any_arrival_order() {
    let mut d = driver(tw(10, 50, true), 3);
    let b0 = d.push(1, 2, 0);
    let a0 = d.push(0, 0, 1);
    assert!(d.take().is_empty(), "C is missing");
    let c0 = d.push(2, 5, 2);
    let c1 = d.push(2, 38, 3);
    let b1 = d.push(1, 35, 4);
    let a1 = d.push(0, 33, 5);
    let a2 = d.push(0, 66, 6);
    let c2 = d.push(2, 64, 7);
    let b2 = d.push(1, 69, 8);
    assert_eq!(
        d.take(),
        vec![
            v(0, 2, &[(0, 0, a0), (1, 2, b0), (2, 5, c0)], false, 5),
            v(1, 38, &[(0, 33, a1), (1, 35, b1), (2, 38, c1)], false, 5),
            v(2, 66, &[(0, 66, a2), (1, 69, b2), (2, 64, c2)], false, 5),
        ]
    );
    assert_eq!(counters(&d), (9, 3, 3, 0, 0, 0, 0, 0));
}

#[test]
fn missing_frame_is_emitted_partial_when_the_watermark_passes() {
    let mut d = driver(tw(10, 50, true), 2);
    let a0 = d.push(0, 0, 0);
    let b0 = d.push(1, 1, 1);
    let a1 = d.push(0, 33, 2); // B's frame at 34 never arrives
    let a2 = d.push(0, 66, 3);
    let b2 = d.push(1, 67, 4);
    // Watermark = min(66, 67) - 50 = 16: set 33 may still get B (33 + 10 >= 16).
    assert_eq!(
        d.take(),
        vec![
            v(0, 0, &[(0, 0, a0), (1, 1, b0)], false, 1),
            v(1, 66, &[(0, 66, a2), (1, 67, b2)], false, 1),
        ]
    );
    let a3 = d.push(0, 100, 5);
    assert!(d.take().is_empty(), "watermark 17 has not passed 43");
    let b3 = d.push(1, 101, 6);
    // Watermark = 50 > 33 + 10: set 33 is given up, in reference order before set 100.
    assert_eq!(
        d.take(),
        vec![
            v(2, 33, &[(0, 33, a1)], true, 0),
            v(3, 100, &[(0, 100, a3), (1, 101, b3)], false, 1),
        ]
    );
    assert_eq!(counters(&d), (7, 4, 3, 1, 0, 0, 0, 0));
    assert_eq!(
        d.sync.stats().skew_ns.count(),
        3,
        "the single-member set records no skew"
    );
}

#[test]
fn missing_frame_is_dropped_without_emit_partial() {
    let mut d = driver(tw(10, 50, false), 2);
    d.push(0, 0, 0);
    d.push(1, 1, 1);
    d.push(0, 33, 2);
    let a2 = d.push(0, 66, 3);
    let b2 = d.push(1, 67, 4);
    let a3 = d.push(0, 100, 5);
    let b3 = d.push(1, 101, 6);
    let got = d.take();
    assert_eq!(got.len(), 3);
    // Indices stay contiguous: a dropped set takes no number.
    assert_eq!(got[1], v(1, 66, &[(0, 66, a2), (1, 67, b2)], false, 1));
    assert_eq!(got[2], v(2, 100, &[(0, 100, a3), (1, 101, b3)], false, 1));
    assert_eq!(counters(&d), (7, 3, 3, 0, 1, 0, 0, 0));
    assert_eq!(d.sync.stats().dropped_items, 1);
}

#[test]
fn ended_input_no_longer_holds_sets_back() {
    let mut d = driver(tw(10, 50, true), 3);
    let a0 = d.push(0, 0, 0);
    let b0 = d.push(1, 1, 1);
    let c0 = d.push(2, 2, 2);
    let a1 = d.push(0, 33, 3);
    let b1 = d.push(1, 34, 4);
    assert_eq!(d.take().len(), 1, "set 33 waits for C");
    d.end(2, 5);
    // C ended: set 33 has every live input, emitted at once as partial.
    assert_eq!(
        d.take(),
        vec![v(1, 33, &[(0, 33, a1), (1, 34, b1)], true, 1)]
    );
    let a2 = d.push(0, 66, 6);
    let b2 = d.push(1, 65, 7);
    let rejected = d.push(2, 66, 8);
    assert_eq!(
        d.take(),
        vec![v(2, 66, &[(0, 66, a2), (1, 65, b2)], true, 1)]
    );
    let _ = (a0, b0, c0, rejected);
    // Only A is left: every A item is a set of its own, at once.
    d.end(1, 9);
    let a3 = d.push(0, 100, 10);
    assert_eq!(d.take(), vec![v(3, 100, &[(0, 100, a3)], true, 0)]);
    let s = d.sync.stats();
    assert_eq!((s.rejected, s.complete, s.partial), (1, 1, 3));
    assert!(s.is_conserved());
}

#[test]
fn every_input_ended_flushes_everything() {
    let mut d = driver(tw(10, 50, true), 2);
    let a0 = d.push(0, 0, 0);
    let a1 = d.push(0, 33, 1);
    d.end(0, 2);
    assert!(d.take().is_empty(), "B is live and may still deliver");
    let b0 = d.push(1, 2, 3);
    assert_eq!(d.take(), vec![v(0, 0, &[(0, 0, a0), (1, 2, b0)], false, 2)]);
    d.end(1, 4);
    assert_eq!(d.take(), vec![v(1, 33, &[(0, 33, a1)], true, 0)]);
    d.push(1, 40, 5);
    d.push(0, 40, 5);
    assert!(d.take().is_empty());
    assert_eq!(d.sync.stats().rejected, 2);
    d.end(1, 6); // repeated: nothing happens
    d.end(9, 6); // out of range: nothing happens
    assert_eq!(counters(&d), (5, 2, 1, 1, 0, 0, 0, 0));
}

#[test]
fn late_items_are_counted_and_dropped() {
    let mut d = driver(tw(10, 20, true), 2);
    for (k, t) in [0i64, 33, 66].into_iter().enumerate() {
        d.push(0, t, 2 * k as u64);
        d.push(1, t, 2 * k as u64 + 1);
    }
    assert_eq!(d.take().len(), 3);
    // Watermark = 66 - 20 = 46; 5 + 10 < 46 and no pending set can take it: late.
    d.push(1, 5, 10);
    // 36 + 10 = 46 is not below the watermark: it opens a set (which will end partial).
    let b_ok = d.push(1, 36, 11);
    assert!(d.take().is_empty());
    let s = d.sync.stats();
    assert_eq!((s.late, s.out_of_order, s.pending_sets), (1, 2, 1));
    d.finish();
    assert_eq!(d.take(), vec![v(3, 36, &[(1, 36, b_ok)], true, 0)]);
    assert_eq!(counters(&d), (8, 4, 3, 1, 0, 1, 0, 0));
}

#[test]
fn an_item_behind_the_watermark_still_joins_a_pending_set() {
    let mut d = driver(tw(10, 20, true), 2);
    d.push(0, 0, 0);
    d.push(1, 0, 1);
    let a40 = d.push(0, 40, 2);
    let b62 = d.push(1, 62, 3);
    let a70 = d.push(0, 70, 4);
    // Watermark = min(70, 62) - 20 = 42; set 40 lasts until it passes 50.
    assert_eq!(d.take().len(), 2);
    let b31 = d.push(1, 31, 5); // 31 + 10 < 42, but set 40 has a free B slot within 10
    assert_eq!(
        d.take(),
        vec![v(2, 40, &[(0, 40, a40), (1, 31, b31)], false, 9)]
    );
    let s = d.sync.stats();
    assert_eq!((s.late, s.out_of_order), (0, 1));
    let _ = (b62, a70);
}

#[test]
fn duplicates_keep_the_item_closer_to_the_reference() {
    let mut d = driver(tw(10, 50, true), 3);
    let b40 = d.push(1, 40, 0); // opens set 40
    let _a46 = d.push(0, 46, 1); // joins set 40
    let _a42 = d.push(0, 42, 2); // older than 46: duplicate, closer (2 < 6): replaces
    let a50 = d.push(0, 50, 3); // newest of A: the next frame, opens set 50
    let a40 = d.push(0, 40, 4); // duplicate of set 40, closer (0 < 2): replaces
    let _a40b = d.push(0, 40, 5); // same distance: the item already there stays
    assert_eq!(d.sync.stats().duplicates, 3);
    assert_eq!(d.sync.stats().pending_items, 3);
    let c41 = d.push(2, 41, 6); // joins the nearest set with a free C slot: 40
    assert_eq!(
        d.take(),
        vec![v(
            0,
            40,
            &[(0, 40, a40), (1, 40, b40), (2, 41, c41)],
            false,
            1
        )]
    );
    d.finish();
    assert_eq!(d.take(), vec![v(1, 50, &[(0, 50, a50)], true, 0)]);
    assert_eq!(counters(&d), (7, 2, 1, 1, 0, 0, 3, 0));
    assert_eq!(d.sync.stats().out_of_order, 3);
}

#[test]
fn repeated_timestamp_is_a_duplicate_but_a_newer_frame_opens_a_set() {
    let mut d = driver(tw(10, 50, true), 2);
    let a0 = d.push(0, 0, 0);
    d.push(0, 0, 1); // same capture time again: duplicate, the first stays
    let a3 = d.push(0, 3, 2); // newer than every A so far: a new frame, opens set 3
    let b1 = d.push(1, 1, 3); // nearest set with a free B slot: 0
    assert_eq!(d.take(), vec![v(0, 0, &[(0, 0, a0), (1, 1, b1)], false, 1)]);
    let b4 = d.push(1, 4, 4);
    assert_eq!(d.take(), vec![v(1, 3, &[(0, 3, a3), (1, 4, b4)], false, 1)]);
    assert_eq!(counters(&d), (5, 2, 2, 0, 0, 0, 1, 0));
    assert_eq!(d.sync.stats().out_of_order, 0);
}

#[test]
fn out_of_order_within_an_input_still_pairs() {
    let mut d = driver(tw(10, 50, true), 2);
    let a0 = d.push(0, 0, 0);
    let a1 = d.push(0, 33, 1);
    let b1 = d.push(1, 33, 2); // B delivers its second frame first
    let b0 = d.push(1, 0, 3);
    assert_eq!(
        d.take(),
        vec![
            v(0, 33, &[(0, 33, a1), (1, 33, b1)], false, 0),
            v(1, 0, &[(0, 0, a0), (1, 0, b0)], false, 0),
        ]
    );
    assert_eq!(counters(&d), (4, 2, 2, 0, 0, 0, 0, 0));
    assert_eq!(d.sync.stats().out_of_order, 1);
}

#[test]
fn finish_flushes_pending_sets_in_reference_order() {
    let mut d = driver(tw(10, 50, true), 3);
    let b66 = d.push(1, 66, 0);
    let a0 = d.push(0, 0, 1);
    let a33 = d.push(0, 33, 2);
    let c68 = d.push(2, 68, 3);
    assert!(d.take().is_empty());
    assert_eq!(d.sync.stats().pending_sets, 3);
    d.finish();
    assert_eq!(
        d.take(),
        vec![
            v(0, 0, &[(0, 0, a0)], true, 0),
            v(1, 33, &[(0, 33, a33)], true, 0),
            v(2, 66, &[(1, 66, b66), (2, 68, c68)], true, 2),
        ]
    );
    let s = d.sync.stats();
    assert_eq!(
        (s.pending_sets, s.pending_items, s.partial, s.emitted_items),
        (0, 0, 3, 4)
    );
    assert!(s.is_conserved());

    let mut d = driver(tw(10, 50, false), 3);
    d.push(1, 66, 0);
    d.push(0, 0, 1);
    d.finish();
    assert!(d.take().is_empty());
    assert_eq!(counters(&d), (2, 0, 0, 0, 2, 0, 0, 0));
    assert_eq!(d.sync.stats().dropped_items, 2);
}

#[test]
fn flood_from_one_input_while_another_is_silent_stays_bounded() {
    let cfg = TimeWindowConfig {
        max_pending: 8,
        ..tw(10, 50, true)
    };
    let mut d = driver(cfg, 2);
    for k in 0..1000u32 {
        let id = d.push(0, i64::from(k) * 33, u64::from(k));
        assert_eq!(id, k);
        let s = d.sync.stats();
        assert!(s.pending_sets <= 8, "{s:?}");
        assert!(s.is_conserved());
    }
    let got = d.take();
    assert_eq!(got.len(), 992);
    for (k, set) in got.iter().enumerate() {
        // The oldest set is evicted first, as a partial set with its one member.
        assert_eq!(
            set,
            &v(
                k as u64,
                k as i64 * 33,
                &[(0, k as i64 * 33, k as u32)],
                true,
                0
            )
        );
    }
    assert_eq!(counters(&d), (1000, 992, 0, 992, 0, 0, 0, 992));
    assert_eq!(d.sync.stats().pending_items, 8);

    // The default bound is 64; without emit_partial evicted sets are dropped.
    let mut d = driver(tw(10, 50, false), 2);
    for k in 0..500u32 {
        d.push(0, i64::from(k) * 33, u64::from(k));
    }
    assert!(d.take().is_empty());
    assert_eq!(counters(&d), (500, 0, 0, 0, 436, 0, 0, 436));
    assert_eq!(d.sync.stats().pending_sets, 64);
}

#[test]
fn max_wait_gives_up_in_arrival_time() {
    let cfg = TimeWindowConfig {
        max_wait: Some(HumanDuration::from_millis(100)),
        ..tw(10, 50, true)
    };
    let mut d = driver(cfg, 2);
    assert_eq!(d.sync.next_deadline(), None);
    let a0 = d.push(0, 0, 0);
    let a33 = d.push(0, 33, 30);
    assert_eq!(d.sync.next_deadline(), Some(100 * MS as u64));
    d.poll(99);
    assert!(d.take().is_empty());
    d.poll(100);
    assert_eq!(d.take(), vec![v(0, 0, &[(0, 0, a0)], true, 0)]);
    assert_eq!(d.sync.next_deadline(), Some(130 * MS as u64));
    // The caller did not poll at 130: the push at 200 first gives up set 33, then joins.
    let b34 = d.push(1, 34, 200);
    assert_eq!(
        d.take(),
        vec![v(1, 33, &[(0, 33, a33)], true, 0)],
        "the expired set is not joined"
    );
    assert_eq!(d.sync.next_deadline(), Some(300 * MS as u64));
    d.finish();
    assert_eq!(d.take(), vec![v(2, 34, &[(1, 34, b34)], true, 0)]);
    assert_eq!(d.sync.stats().timed_out, 2);
    assert_eq!(counters(&d), (3, 3, 0, 3, 0, 0, 0, 0));
}

#[test]
fn single_input_emits_every_item_complete() {
    let mut d = driver(tw(10, 50, true), 1);
    let a = d.push(0, 5, 0);
    let b = d.push(0, 6, 1);
    assert_eq!(
        d.take(),
        vec![
            v(0, 5, &[(0, 5, a)], false, 0),
            v(1, 6, &[(0, 6, b)], false, 0)
        ]
    );
}

#[test]
fn bad_input_index_is_rejected_not_a_panic() {
    let mut d = driver(tw(10, 50, true), 2);
    d.push(2, 0, 0);
    d.push(usize::MAX, 0, 0);
    assert!(d.take().is_empty());
    assert_eq!(d.sync.stats().rejected, 2);
    assert_eq!(counters(&d), (2, 0, 0, 0, 0, 0, 0, 0));
}

#[test]
fn extreme_timestamps_do_not_overflow() {
    let cfg = TimeWindowConfig {
        tolerance: HumanDuration(std::time::Duration::from_secs(u64::MAX / 4)),
        lateness: HumanDuration(std::time::Duration::from_secs(u64::MAX / 4)),
        max_wait: Some(HumanDuration(std::time::Duration::from_secs(u64::MAX / 4))),
        ..TimeWindowConfig::default()
    };
    let mut s = build::<u32>(&SyncPolicy::TimeWindow(cfg), 2).unwrap();
    let mut out = Vec::new();
    s.push(0, i64::MAX, u64::MAX, 1, &mut out);
    s.push(1, i64::MIN, u64::MAX, 2, &mut out);
    s.push(0, i64::MIN, 0, 3, &mut out);
    s.poll(u64::MAX, &mut out);
    s.finish(&mut out);
    assert!(s.stats().is_conserved());
    assert_eq!(s.stats().pending_items, 0);
    assert!(out.iter().all(|set| set.skew_ns >= 0));
}

#[test]
fn an_item_between_two_sets_joins_the_earlier_one() {
    let mut d = driver(tw(10, 50, true), 2);
    let a0 = d.push(0, 0, 0);
    let a20 = d.push(0, 20, 1);
    let b10 = d.push(1, 10, 2); // 10 from both sets: the earlier reference wins
    assert_eq!(
        d.take(),
        vec![v(0, 0, &[(0, 0, a0), (1, 10, b10)], false, 10)]
    );
    let b21 = d.push(1, 21, 3);
    assert_eq!(
        d.take(),
        vec![v(1, 20, &[(0, 20, a20), (1, 21, b21)], false, 1)]
    );
}
