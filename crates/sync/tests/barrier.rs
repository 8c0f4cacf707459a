//! Scenario tests of the `barrier` and `none` policies, with synthetic timestamps.

mod common;

use common::{Driver, MS_U, v};
use visualpath_core::HumanDuration;
use visualpath_sync::{BarrierConfig, SyncPolicy, build};

fn driver(timeout_ms: u64, inputs: usize) -> Driver {
    let cfg = BarrierConfig {
        timeout: HumanDuration::from_millis(timeout_ms),
    };
    Driver::new(build(&SyncPolicy::Barrier(cfg), inputs).unwrap())
}

/// (pushed, emitted, complete, partial, timed_out, duplicates, rejected)
fn counters(d: &Driver) -> (u64, u64, u64, u64, u64, u64, u64) {
    let s = d.sync.stats();
    assert!(s.is_conserved(), "{s:?}");
    assert_eq!(
        (s.late, s.dropped, s.evicted),
        (0, 0, 0),
        "barrier never drops sets"
    );
    (
        s.pushed,
        s.emitted,
        s.complete,
        s.partial,
        s.timed_out,
        s.duplicates,
        s.rejected,
    )
}

#[test]
fn joins_the_next_item_of_every_input_whatever_the_capture_time() {
    let mut d = driver(200, 3);
    let b = d.push(1, 500, 0);
    let a = d.push(0, 0, 5);
    assert!(d.take().is_empty());
    let c = d.push(2, 40, 10);
    // Reference is the newest member's capture time; skew spans all members.
    assert_eq!(
        d.take(),
        vec![v(0, 500, &[(0, 0, a), (1, 500, b), (2, 40, c)], false, 500)]
    );
    assert_eq!(d.sync.next_deadline(), None);
    assert_eq!(counters(&d), (3, 1, 1, 0, 0, 0, 0));
    assert_eq!(d.sync.stats().skew_ns.max(), 500 * MS_U);
}

#[test]
fn timeout_emits_a_partial_set_via_poll() {
    let mut d = driver(200, 2);
    let a = d.push(0, 33, 40);
    assert_eq!(d.sync.next_deadline(), Some(240 * MS_U));
    d.poll(239);
    assert!(d.take().is_empty());
    assert_eq!(d.sync.stats().pending_items, 1);
    d.poll(240);
    assert_eq!(d.take(), vec![v(0, 33, &[(0, 33, a)], true, 0)]);
    assert_eq!(d.sync.next_deadline(), None);
    assert_eq!(counters(&d), (1, 1, 0, 1, 1, 0, 0));
    assert_eq!(d.sync.stats().pending_items, 0);
}

#[test]
fn a_push_after_the_deadline_opens_a_new_set() {
    let mut d = driver(200, 2);
    let a = d.push(0, 133, 140);
    let b = d.push(1, 140, 400); // nobody polled at 340
    assert_eq!(d.take(), vec![v(0, 133, &[(0, 133, a)], true, 0)]);
    assert_eq!(d.sync.next_deadline(), Some(600 * MS_U));
    d.finish();
    assert_eq!(d.take(), vec![v(1, 140, &[(1, 140, b)], true, 0)]);
    assert_eq!(counters(&d), (2, 2, 0, 2, 1, 0, 0));
}

#[test]
fn duplicates_keep_the_latest_capture() {
    let mut d = driver(200, 2);
    d.push(0, 66, 70);
    let a100 = d.push(0, 100, 100); // newer: replaces
    d.push(0, 90, 105); // older capture (out of order): discarded
    assert_eq!(d.sync.stats().pending_items, 1);
    let b = d.push(1, 95, 110);
    assert_eq!(
        d.take(),
        vec![v(0, 100, &[(0, 100, a100), (1, 95, b)], false, 5)]
    );
    // Equal capture: the item pushed last wins.
    d.push(0, 200, 120);
    let a200b = d.push(0, 200, 121);
    let b2 = d.push(1, 201, 122);
    assert_eq!(
        d.take(),
        vec![v(1, 201, &[(0, 200, a200b), (1, 201, b2)], false, 1)]
    );
    assert_eq!(counters(&d), (7, 2, 2, 0, 0, 3, 0));
    assert_eq!(d.sync.stats().out_of_order, 1);
}

#[test]
fn ended_inputs_do_not_block_completion() {
    let mut d = driver(200, 3);
    let a = d.push(0, 0, 0);
    let b = d.push(1, 2, 1);
    assert!(d.take().is_empty());
    d.end(2, 2);
    assert_eq!(d.take(), vec![v(0, 2, &[(0, 0, a), (1, 2, b)], true, 2)]);
    let b2 = d.push(1, 35, 3);
    d.push(2, 33, 4); // ended: rejected
    let a2 = d.push(0, 33, 5);
    assert_eq!(
        d.take(),
        vec![v(1, 35, &[(0, 33, a2), (1, 35, b2)], true, 2)]
    );
    // The open set completes when its only missing input ends.
    let a3 = d.push(0, 66, 6);
    d.end(1, 7);
    assert_eq!(d.take(), vec![v(2, 66, &[(0, 66, a3)], true, 0)]);
    // Every input ended: nothing is accepted any more.
    d.end(0, 8);
    d.push(0, 99, 9);
    d.finish();
    assert!(d.take().is_empty());
    assert_eq!(counters(&d), (7, 3, 0, 3, 0, 0, 2));
}

#[test]
fn finish_flushes_the_open_set() {
    let mut d = driver(200, 2);
    let b = d.push(1, 7, 0);
    d.finish();
    assert_eq!(d.take(), vec![v(0, 7, &[(1, 7, b)], true, 0)]);
    d.finish();
    assert!(d.take().is_empty());
    assert_eq!(counters(&d), (1, 1, 0, 1, 0, 0, 0));
}

#[test]
fn none_policy_passes_through_with_one_member() {
    let mut d = Driver::new(build(&SyncPolicy::None, 3).unwrap());
    let a = d.push(0, 10, 0);
    let c = d.push(2, 5, 1);
    let a_old = d.push(0, 1, 2);
    assert_eq!(
        d.take(),
        vec![
            v(0, 10, &[(0, 10, a)], false, 0),
            v(1, 5, &[(2, 5, c)], false, 0),
            v(2, 1, &[(0, 1, a_old)], false, 0),
        ]
    );
    d.end(0, 3);
    d.push(0, 20, 4);
    d.push(3, 20, 4);
    d.finish();
    assert!(d.take().is_empty());
    let s = d.sync.stats();
    assert_eq!(
        (s.pushed, s.emitted, s.complete, s.partial, s.rejected),
        (5, 3, 3, 0, 2)
    );
    assert_eq!(d.sync.next_deadline(), None);
    assert!(s.is_conserved());
}
