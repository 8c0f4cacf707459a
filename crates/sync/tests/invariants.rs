//! Deterministic randomized test: 10,000 pushes of jittered, lossy, duplicated and reordered
//! streams through every policy, checking invariants after every call.

use std::collections::HashMap;

use visualpath_core::HumanDuration;
use visualpath_sync::{BarrierConfig, SyncPolicy, SyncSet, Synchronizer, TimeWindowConfig, build};

const MS: i64 = 1_000_000;

/// Numerical Recipes' 64-bit LCG; the high bits are used.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }

    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u32) -> bool {
        self.below(100) < pct
    }
}

struct Checker {
    inputs: usize,
    policy: SyncPolicy,
    /// id -> (input, capture)
    pushed: Vec<(usize, i64)>,
    /// id -> index of the set that delivered it
    emitted: HashMap<u32, u64>,
    next_index: u64,
    max_pending_seen: u64,
}

impl Checker {
    fn check(&mut self, sync: &dyn Synchronizer<u32>, out: &mut Vec<SyncSet<u32>>) {
        for set in out.drain(..) {
            assert_eq!(set.index, self.next_index, "indices are contiguous");
            self.next_index += 1;
            assert_eq!(set.items.len(), self.inputs, "one slot per input");
            let mut lo = i64::MAX;
            let mut hi = i64::MIN;
            for (slot, (c, id)) in set
                .items
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.as_ref().map(|x| (i, x)))
            {
                let (input, capture) = self.pushed[*id as usize];
                assert_eq!(slot, input, "item {id} is in its own input's slot");
                assert_eq!(*c, capture, "item {id} keeps its capture time");
                assert!(
                    self.emitted.insert(*id, set.index).is_none(),
                    "item {id} emitted twice"
                );
                lo = lo.min(*c);
                hi = hi.max(*c);
            }
            let present = set.present();
            assert!(present >= 1, "no empty sets");
            assert_eq!(set.skew_ns, if present >= 2 { hi - lo } else { 0 });
            match &self.policy {
                SyncPolicy::None => {
                    assert_eq!(present, 1);
                    assert!(!set.partial);
                }
                SyncPolicy::TimeWindow(cfg) => {
                    assert_eq!(set.partial, present < self.inputs);
                    let tol = cfg.tolerance.as_nanos_i64();
                    for (_, c, _) in set.members() {
                        assert!(
                            (c - set.reference_ns).abs() <= tol,
                            "member within tolerance"
                        );
                    }
                    if !set.partial {
                        assert!(set.skew_ns <= 2 * tol, "skew {} > 2 * {tol}", set.skew_ns);
                    }
                    assert!(cfg.emit_partial || !set.partial);
                }
                SyncPolicy::Barrier(_) => {
                    assert_eq!(set.partial, present < self.inputs);
                    assert_eq!(set.reference_ns, hi);
                }
            }
        }
        let s = sync.stats();
        assert_eq!(s.pushed as usize, self.pushed.len());
        assert!(s.is_conserved(), "{s:?}");
        assert_eq!(s.emitted, self.next_index);
        assert_eq!(s.emitted, s.complete + s.partial);
        assert_eq!(s.emitted_items as usize, self.emitted.len());
        let bound = match &self.policy {
            SyncPolicy::None => 0,
            SyncPolicy::TimeWindow(cfg) => cfg.max_pending as u64,
            SyncPolicy::Barrier(_) => 1,
        };
        assert!(
            s.pending_sets <= bound,
            "{} pending > {bound}",
            s.pending_sets
        );
        assert!(s.pending_items <= bound * self.inputs as u64);
        self.max_pending_seen = self.max_pending_seen.max(s.pending_sets);
    }
}

/// One simulated run: the synchronizer, its output and the checker.
struct Sim {
    rng: Lcg,
    sync: Box<dyn Synchronizer<u32> + Send>,
    out: Vec<SyncSet<u32>>,
    ck: Checker,
    now: u64,
}

impl Sim {
    fn push(&mut self, input: usize, capture: i64) {
        let id = self.ck.pushed.len() as u32;
        let input = if self.rng.chance(1) {
            self.ck.inputs + 1
        } else {
            input
        };
        self.ck.pushed.push((input, capture));
        self.sync.push(input, capture, self.now, id, &mut self.out);
        self.after_call();
    }

    fn after_call(&mut self) {
        self.ck.check(self.sync.as_ref(), &mut self.out);
        if let Some(d) = self.sync.next_deadline() {
            assert!(d > self.now, "a set whose deadline passed is still held");
        }
    }
}

/// Pushes 10,000 items from `inputs` simulated cameras and returns
/// `(emitted, complete, partial, late, duplicates, dropped, evicted, timed_out)`.
///
/// Every 33 ms each camera captures a frame (own phase, +-4 ms jitter). Frames are lost
/// (5%), repeated a moment later (3%), delivered one frame late (4%: reordering) or five
/// frames late (1%: beyond `lateness`), in a random order within each frame period; 1%
/// go to a bad input index. Input 0 is silent for 200 frames now and then, and the last
/// input ends near the end.
fn run(policy: SyncPolicy, inputs: usize, seed: u64) -> (u64, u64, u64, u64, u64, u64, u64, u64) {
    let mut sim = Sim {
        rng: Lcg(seed),
        sync: build::<u32>(&policy, inputs).unwrap(),
        out: Vec::new(),
        ck: Checker {
            inputs,
            policy: policy.clone(),
            pushed: Vec::new(),
            emitted: HashMap::new(),
            next_index: 0,
            max_pending_seen: 0,
        },
        now: 0,
    };
    let period = 33 * MS;
    // (due frame, input, capture): items to deliver in a later frame period.
    let mut delayed: Vec<(i64, usize, i64)> = Vec::new();
    let mut ended = false;
    let mut k: i64 = 0;
    while sim.ck.pushed.len() < 10_000 {
        let mut batch: Vec<(usize, i64)> = Vec::new();
        delayed.retain(|&(due, i, c)| {
            if due <= k {
                batch.push((i, c));
                false
            } else {
                true
            }
        });
        for input in 0..inputs {
            if input == 0 && inputs > 1 && (k / 200) % 5 == 3 {
                continue; // silent stretch
            }
            if ended && input == inputs - 1 {
                continue;
            }
            if sim.rng.chance(5) {
                continue; // lost
            }
            let jitter = i64::from(sim.rng.below(9)) * MS - 4 * MS;
            let capture = k * period + input as i64 * 5 * MS + jitter;
            if sim.rng.chance(3) {
                batch.push((input, capture - i64::from(sim.rng.below(3)) * MS));
            }
            if sim.rng.chance(4) {
                delayed.push((k + 1, input, capture));
            } else if sim.rng.chance(1) {
                delayed.push((k + 5, input, capture));
            } else {
                batch.push((input, capture));
            }
        }
        // Random arrival order within the period.
        for j in (1..batch.len()).rev() {
            let r = sim.rng.below(j as u32 + 1) as usize;
            batch.swap(j, r);
        }
        for (input, capture) in batch {
            sim.now += u64::from(sim.rng.below(4)) * 1_000_000;
            sim.push(input, capture);
        }
        sim.now += 20_000_000;
        if sim.rng.chance(50) {
            sim.sync.poll(sim.now, &mut sim.out);
            sim.after_call();
        }
        if !ended && sim.ck.pushed.len() >= 9_000 && inputs > 1 {
            ended = true;
            sim.sync.end_input(inputs - 1, sim.now, &mut sim.out);
            sim.after_call();
        }
        k += 1;
    }
    sim.sync.finish(&mut sim.out);
    sim.ck.check(sim.sync.as_ref(), &mut sim.out);
    let s = sim.sync.stats();
    assert_eq!(
        (s.pending_sets, s.pending_items),
        (0, 0),
        "finish holds nothing back"
    );
    // Conservation, item by item: what was not emitted was counted as lost.
    let lost = sim.ck.pushed.len() - sim.ck.emitted.len();
    assert_eq!(
        lost as u64,
        s.late + s.duplicates + s.dropped_items + s.rejected
    );
    assert!(s.rejected > 0, "the run exercises bad input indices");
    assert!(s.out_of_order > 0, "the run exercises reordering");
    if let SyncPolicy::TimeWindow(cfg) = &policy {
        assert!(s.skew_ns.max() <= 2 * cfg.tolerance.as_nanos_i64() as u64);
        assert!(sim.ck.max_pending_seen > 1, "the run made sets wait");
    }
    (
        s.emitted,
        s.complete,
        s.partial,
        s.late,
        s.duplicates,
        s.dropped,
        s.evicted,
        s.timed_out,
    )
}

fn tw(emit_partial: bool, max_pending: usize, max_wait_ms: Option<u64>) -> SyncPolicy {
    SyncPolicy::TimeWindow(TimeWindowConfig {
        tolerance: HumanDuration::from_millis(15),
        lateness: HumanDuration::from_millis(60),
        emit_partial,
        max_pending,
        max_wait: max_wait_ms.map(HumanDuration::from_millis),
    })
}

#[test]
fn time_window_invariants_hold_under_noise() {
    for (inputs, seed) in [(2, 1), (3, 2), (4, 3)] {
        let (emitted, complete, partial, late, dups, dropped, evicted, _) =
            run(tw(true, 16, None), inputs, seed);
        assert!(
            complete > 100,
            "{inputs} inputs: most sets complete ({complete})"
        );
        assert!(
            partial > 0 && late > 0 && dups > 0 && evicted > 0,
            "every path is exercised: {inputs} inputs, partial {partial}, late {late}, dups {dups}, evicted {evicted}"
        );
        assert_eq!(dropped, 0);
        assert_eq!(emitted, complete + partial);
    }
}

#[test]
fn time_window_without_partials_drops_instead() {
    let (emitted, complete, partial, _, _, dropped, _, _) = run(tw(false, 16, None), 3, 4);
    assert_eq!(partial, 0);
    assert_eq!(emitted, complete);
    assert!(dropped > 0);
}

#[test]
fn time_window_with_max_wait_times_out() {
    let (.., timed_out) = run(tw(true, 64, Some(150)), 3, 5);
    assert!(timed_out > 0);
}

#[test]
fn barrier_invariants_hold_under_noise() {
    for (inputs, seed) in [(2, 6), (4, 7)] {
        let policy = SyncPolicy::Barrier(BarrierConfig {
            timeout: HumanDuration::from_millis(40),
        });
        let (emitted, complete, partial, late, dups, dropped, evicted, timed_out) =
            run(policy, inputs, seed);
        assert!(complete > 100 && partial > 0 && dups > 0 && timed_out > 0);
        assert_eq!((late, dropped, evicted), (0, 0, 0));
        assert_eq!(emitted, complete + partial);
    }
}

#[test]
fn none_invariants_hold_under_noise() {
    let (emitted, complete, partial, ..) = run(SyncPolicy::None, 3, 8);
    assert_eq!(partial, 0);
    assert_eq!(emitted, complete);
    assert!(emitted > 9_000);
}

#[test]
fn runs_are_deterministic() {
    assert_eq!(
        run(tw(true, 16, Some(150)), 3, 9),
        run(tw(true, 16, Some(150)), 3, 9)
    );
}
