//! Stable slots `p1..pN` on top of any tracker.
//!
//! Track ids grow without end (up to `id_space`) and change whenever a tracker loses an
//! object for too long. Slots are the small, stable numbers users put on screen and in
//! rules: "p3 has been at the door for 10 s".
//!
//! # Rules, in the order [`Slots::assign`] applies them on every frame
//!
//! 1. **Deaths.** A track in the tracker's [`ended`](crate::Tracker::ended) list gives up
//!    its slot, which is *reserved* for `grace` of stream time with the track's last box
//!    and class. A reservation expires on the first frame at least `grace` after the death
//!    (so `grace: 0` never reserves).
//! 2. **Known tracks** keep their slot while they live, including while lost (absent from
//!    the output) inside the tracker's buffer.
//! 3. **Re-entry.** A track seen for the first time whose class equals a reservation's and
//!    whose box is *near* the reserved box takes that slot back. *Near*: the boxes overlap
//!    (`IoU > 0`) or their centres are less than 1.5 times the reserved box's diagonal
//!    apart. Several candidates are resolved greedily by increasing centre distance
//!    divided by that diagonal (then lower slot, then output order).
//!    *Hand-over*: a track seen for the first time that is near (same rule) the last box of
//!    a slotted track of the same class that is *absent* from this frame's output (lost,
//!    still alive in the tracker's buffer) takes that slot over: the tracker has given the
//!    same object a new id before dropping the old one. Reservations are considered
//!    first, then hand-overs. If the lost track comes back later it has no slot and waits
//!    for a free one like any other (rule 4).
//! 4. **Free slots**, lowest first, go to the tracks in the output that have no slot,
//!    oldest first (the order in which [`Slots`] first saw them). A slot is free when no
//!    live track holds it and it is not reserved. With all `N` slots held or reserved a
//!    track waits without a slot; it gets one, oldest first, on the frame one frees up.
//!
//! Slot numbers are `1..=N` ([`visualpath_core::Track::slot`]); `Slots` never gives out more
//! than `N`.
//!
//! # Memory
//!
//! One entry per live confirmed track the tracker reported (removed when the track ends)
//! and at most `N` reservations. As a guard against a tracker that never reports ends, when
//! more than [`MAX_KNOWN`] tracks are remembered the ones unseen for the longest are
//! treated as ended.

use std::collections::HashMap;

use visualpath_core::{BBox, Track};

use crate::clock::{FrameTime, StreamClock};

/// Most tracks remembered at once (see the module docs).
pub const MAX_KNOWN: usize = 2 * crate::MAX_TRACKS;
/// Largest number of slots.
pub const MAX_SLOTS: u32 = 1000;
/// *Near* for re-entry: centre distance below this many reserved-box diagonals.
pub const REENTRY_DIAGONALS: f32 = 1.5;

#[derive(Clone, Copy, Debug)]
struct Known {
    /// 0-based slot.
    slot: Option<u32>,
    /// First-seen order (lower is older).
    order: u64,
    /// Stream time the track was last in the output.
    seen_ns: i64,
    /// Its box and class when last in the output (for hand-overs).
    bbox: BBox,
    class_id: u32,
}

#[derive(Clone, Copy, Debug)]
struct Reservation {
    bbox: BBox,
    class_id: u32,
    died_ns: i64,
}

/// Stable slot assignment; see the module docs.
#[derive(Debug)]
pub struct Slots {
    n: u32,
    grace_ns: i64,
    clock: StreamClock,
    /// Per 0-based slot: the live track id holding it.
    holder: Vec<Option<u64>>,
    reserved: Vec<Option<Reservation>>,
    known: HashMap<u64, Known>,
    next_order: u64,
    fresh: Vec<usize>,
    pairs: Vec<(f32, u32, usize)>,
    waiting: Vec<(u64, usize)>,
    stale: Vec<(i64, u64)>,
}

impl Slots {
    /// `slots` slots (clamped to `1..=MAX_SLOTS`), reserved for `grace_ns` nanoseconds after
    /// their track ends (negative counts as 0).
    pub fn new(slots: u32, grace_ns: i64) -> Self {
        let n = slots.clamp(1, MAX_SLOTS);
        Self {
            n,
            grace_ns: grace_ns.max(0),
            clock: StreamClock::new(),
            holder: vec![None; n as usize],
            reserved: vec![None; n as usize],
            known: HashMap::new(),
            next_order: 0,
            fresh: Vec::new(),
            pairs: Vec::new(),
            waiting: Vec::new(),
            stale: Vec::new(),
        }
    }

    /// Sets `slot` on every track of `tracks` (the tracker's output for `frame`), given the
    /// tracks that `ended` on that frame.
    pub fn assign(&mut self, frame: FrameTime, tracks: &mut [Track], ended: &[Track]) {
        self.clock.advance(frame);
        let now = self.clock.now_ns();

        // 1. Deaths, then expiries.
        for e in ended {
            self.end(e.id, e.bbox, e.class_id, now);
        }
        for r in &mut self.reserved {
            if r.is_some_and(|r| now.saturating_sub(r.died_ns) >= self.grace_ns) {
                *r = None;
            }
        }

        // 2. Known tracks keep their slot; remember the new ones.
        self.fresh.clear();
        for (i, t) in tracks.iter_mut().enumerate() {
            match self.known.get_mut(&t.id) {
                Some(k) => {
                    k.seen_ns = now;
                    k.bbox = t.bbox;
                    k.class_id = t.class_id;
                    t.slot = k.slot.map(|s| s + 1);
                }
                None => {
                    self.known.insert(
                        t.id,
                        Known {
                            slot: None,
                            order: self.next_order,
                            seen_ns: now,
                            bbox: t.bbox,
                            class_id: t.class_id,
                        },
                    );
                    self.next_order += 1;
                    t.slot = None;
                    self.fresh.push(i);
                }
            }
        }

        // 3. Re-entry of new tracks near a reservation.
        self.pairs.clear();
        for &i in &self.fresh {
            let t = &tracks[i];
            for (s, r) in self.reserved.iter().enumerate() {
                if let Some(r) = r
                    && r.class_id == t.class_id
                    && let Some(score) = nearness(&r.bbox, &t.bbox)
                {
                    self.pairs.push((score, s as u32, i));
                }
            }
        }
        self.pairs
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for k in 0..self.pairs.len() {
            let (_, s, i) = self.pairs[k];
            if self.reserved[s as usize].is_none() || tracks[i].slot.is_some() {
                continue;
            }
            self.reserved[s as usize] = None;
            self.take(s, &mut tracks[i]);
        }

        // 3b. Hand-over from slotted tracks absent from this frame (lost, not ended).
        self.pairs.clear();
        for &i in &self.fresh {
            let t = &tracks[i];
            if t.slot.is_some() {
                continue;
            }
            for (&id, k) in &self.known {
                if id != t.id
                    && k.seen_ns < now
                    && k.class_id == t.class_id
                    && let Some(s) = k.slot
                    && let Some(score) = nearness(&k.bbox, &t.bbox)
                {
                    self.pairs.push((score, s, i));
                }
            }
        }
        self.pairs
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for k in 0..self.pairs.len() {
            let (_, s, i) = self.pairs[k];
            let Some(old) = self.holder[s as usize] else {
                continue;
            };
            let old_absent = self.known.get(&old).is_some_and(|k| k.seen_ns < now);
            if !old_absent || tracks[i].slot.is_some() {
                continue;
            }
            if let Some(k) = self.known.get_mut(&old) {
                k.slot = None;
            }
            self.take(s, &mut tracks[i]);
        }

        // 4. Free slots to the oldest tracks without one.
        self.waiting.clear();
        for (i, t) in tracks.iter().enumerate() {
            if t.slot.is_none()
                && let Some(k) = self.known.get(&t.id)
            {
                self.waiting.push((k.order, i));
            }
        }
        self.waiting.sort_unstable();
        let mut free = 0u32;
        for k in 0..self.waiting.len() {
            while free < self.n
                && (self.holder[free as usize].is_some() || self.reserved[free as usize].is_some())
            {
                free += 1;
            }
            if free == self.n {
                break;
            }
            let i = self.waiting[k].1;
            self.take(free, &mut tracks[i]);
        }

        self.enforce_bound();
    }

    fn take(&mut self, slot: u32, track: &mut Track) {
        self.holder[slot as usize] = Some(track.id);
        if let Some(k) = self.known.get_mut(&track.id) {
            k.slot = Some(slot);
        }
        track.slot = Some(slot + 1);
    }

    fn end(&mut self, id: u64, bbox: BBox, class_id: u32, now: i64) {
        if let Some(k) = self.known.remove(&id)
            && let Some(s) = k.slot
        {
            self.holder[s as usize] = None;
            if self.grace_ns > 0 {
                self.reserved[s as usize] = Some(Reservation {
                    bbox,
                    class_id,
                    died_ns: now,
                });
            }
        }
    }

    fn enforce_bound(&mut self) {
        if self.known.len() <= MAX_KNOWN {
            return;
        }
        self.stale.clear();
        self.stale
            .extend(self.known.iter().map(|(&id, k)| (k.seen_ns, id)));
        self.stale.sort_unstable();
        let excess = self.known.len() - MAX_KNOWN;
        for k in 0..excess {
            let id = self.stale[k].1;
            if let Some(known) = self.known.remove(&id)
                && let Some(s) = known.slot
            {
                self.holder[s as usize] = None;
            }
        }
    }

    /// Number of slots held by live tracks (lost ones included; reservations not).
    pub fn used(&self) -> u32 {
        self.holder.iter().filter(|h| h.is_some()).count() as u32
    }

    /// Number of slots reserved for tracks that ended.
    pub fn reserved(&self) -> u32 {
        self.reserved.iter().filter(|r| r.is_some()).count() as u32
    }

    /// The 1-based slot of live track `id`, if it has one.
    pub fn slot_of(&self, id: u64) -> Option<u32> {
        self.known.get(&id).and_then(|k| k.slot).map(|s| s + 1)
    }

    /// Number of live tracks remembered (bounded by [`MAX_KNOWN`]).
    pub fn remembered(&self) -> usize {
        self.known.len()
    }

    /// The number of slots `N`.
    pub fn capacity(&self) -> u32 {
        self.n
    }

    /// Forgets every track and reservation (a new stream).
    pub fn reset(&mut self) {
        self.holder.fill(None);
        self.reserved.fill(None);
        self.known.clear();
        self.clock.reset();
    }
}

/// `Some(centre distance / reserved diagonal)` when `b` is near `reserved` (see the module
/// docs), else `None`.
fn nearness(reserved: &BBox, b: &BBox) -> Option<f32> {
    let diag = reserved.width().hypot(reserved.height());
    let (ax, ay) = reserved.center();
    let (bx, by) = b.center();
    let dist = (ax - bx).hypot(ay - by);
    let score = if diag > 0.0 {
        dist / diag
    } else {
        f32::INFINITY
    };
    if reserved.iou(b) > 0.0 || score < REENTRY_DIAGONALS {
        Some(if score.is_finite() { score } else { f32::MAX })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_id_next_to_a_lost_track_takes_its_slot_over() {
        let mut s = Slots::new(4, 2_000_000_000);
        let ft = |i: u64| FrameTime::new(i, i as i64 * 100_000_000);
        // A holds slot 1, B slot 2.
        let mut v = vec![track(1, 0.0), track(2, 100.0)];
        s.assign(ft(0), &mut v, &[]);
        assert_eq!((v[0].slot, v[1].slot), (Some(1), Some(2)));
        // A is lost (absent, not ended); the tracker starts id 3 where A was.
        let mut v = vec![track(2, 100.0), track(3, 2.0)];
        s.assign(ft(1), &mut v, &[]);
        assert_eq!(v[1].slot, Some(1), "the new id continues A's slot");
        assert_eq!(v[0].slot, Some(2));
        // A comes back after all: it gets a free slot, never a duplicate.
        let mut v = vec![track(1, 50.0), track(2, 100.0), track(3, 2.0)];
        s.assign(ft(2), &mut v, &[]);
        let slots: Vec<_> = v.iter().map(|t| t.slot).collect();
        assert_eq!(slots, vec![Some(3), Some(2), Some(1)]);
        // Far from any lost track: no hand-over.
        let mut v = vec![track(2, 100.0), track(3, 2.0), track(4, 400.0)];
        s.assign(ft(3), &mut v, &[]);
        assert_eq!(v[2].slot, Some(4), "a free slot, not A's");
    }

    fn track(id: u64, x: f32) -> Track {
        Track {
            id,
            slot: None,
            class: "person".into(),
            class_id: 1,
            score: 0.9,
            bbox: BBox::new(x, 0.0, x + 10.0, 20.0),
            velocity: [0.0; 2],
            age: 1,
            hits: 2,
            lost: 0,
        }
    }

    const S: i64 = 1_000_000_000;

    fn slots_of(t: &[Track]) -> Vec<Option<u32>> {
        t.iter().map(|t| t.slot).collect()
    }

    #[test]
    fn lowest_free_first_kept_while_alive() {
        let mut s = Slots::new(3, 2 * S);
        let mut f = vec![track(7, 0.0), track(3, 100.0)];
        s.assign(FrameTime::new(0, 0), &mut f, &[]);
        assert_eq!(slots_of(&f), [Some(1), Some(2)]);
        // Track 7 is lost (absent) but alive: keeps slot 1; a new track gets slot 3.
        let mut f = vec![track(3, 100.0), track(9, 300.0)];
        s.assign(FrameTime::new(1, S / 30), &mut f, &[]);
        assert_eq!(slots_of(&f), [Some(2), Some(3)]);
        assert_eq!(s.used(), 3);
        let mut f = vec![track(7, 2.0), track(3, 100.0), track(9, 300.0)];
        s.assign(FrameTime::new(2, 2 * S / 30), &mut f, &[]);
        assert_eq!(slots_of(&f), [Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn full_slots_wait_and_oldest_gets_the_freed_one() {
        let mut s = Slots::new(1, 0);
        let mut f = vec![track(1, 0.0), track(2, 100.0), track(3, 200.0)];
        s.assign(FrameTime::new(0, 0), &mut f, &[]);
        assert_eq!(slots_of(&f), [Some(1), None, None]);
        // Track 1 ends; with no grace its slot is free at once and goes to track 2 (older
        // than 3).
        let mut f = vec![track(3, 200.0), track(2, 100.0)];
        let ended = [track(1, 0.0)];
        s.assign(FrameTime::new(1, S), &mut f, &ended);
        assert_eq!(slots_of(&f), [None, Some(1)]);
        assert_eq!(s.slot_of(2), Some(1));
        assert_eq!(s.slot_of(1), None);
    }

    #[test]
    fn reentry_near_within_grace_only() {
        let mut s = Slots::new(3, 2 * S);
        let mut f = vec![track(1, 0.0), track(2, 500.0)];
        s.assign(FrameTime::new(0, 0), &mut f, &[]);
        // Track 1 (slot 1) ends at t = 1 s.
        let mut f = vec![track(2, 500.0)];
        s.assign(FrameTime::new(1, S), &mut f, &[track(1, 0.0)]);
        assert_eq!(s.reserved(), 1);
        // A new track far away does not get slot 1 (reserved), but slot 3.
        let mut f = vec![track(2, 500.0), track(5, 900.0)];
        s.assign(FrameTime::new(2, S + S / 2), &mut f, &[]);
        assert_eq!(slots_of(&f), [Some(2), Some(3)]);
        // A new track near the reserved box within grace gets slot 1 back. The reserved
        // box is 10x20 (diagonal 22.4): 30 px away is less than 1.5 diagonals.
        let mut f = vec![track(2, 500.0), track(5, 900.0), track(6, 30.0)];
        s.assign(FrameTime::new(3, 2 * S), &mut f, &[]);
        assert_eq!(slots_of(&f), [Some(2), Some(3), Some(1)]);
        assert_eq!(s.reserved(), 0);
    }

    #[test]
    fn reservation_expires_after_grace_and_respects_class() {
        let mut s = Slots::new(2, 2 * S);
        let mut f = vec![track(1, 0.0)];
        s.assign(FrameTime::new(0, 0), &mut f, &[]);
        s.assign(FrameTime::new(1, S), &mut [], &[track(1, 0.0)]);
        // Another class near the box: no re-entry; slot 2 is free, slot 1 reserved.
        let mut car = track(2, 0.0);
        car.class_id = 3;
        let mut f = vec![car];
        s.assign(FrameTime::new(2, S + 1), &mut f, &[]);
        assert_eq!(slots_of(&f), [Some(2)]);
        // At exactly grace after the death the reservation is gone: a far track gets 1.
        let mut f = vec![f[0].clone(), track(4, 800.0)];
        s.assign(FrameTime::new(3, 3 * S), &mut f, &[]);
        assert_eq!(slots_of(&f), [Some(2), Some(1)]);
    }

    #[test]
    fn closest_candidate_wins_reentry() {
        let mut s = Slots::new(2, 2 * S);
        let mut f = vec![track(1, 0.0)];
        s.assign(FrameTime::new(0, 0), &mut f, &[]);
        s.assign(FrameTime::new(1, S), &mut [], &[track(1, 0.0)]);
        let mut f = vec![track(8, 20.0), track(9, 5.0)];
        s.assign(FrameTime::new(2, S + 1), &mut f, &[]);
        assert_eq!(slots_of(&f), [Some(2), Some(1)]);
    }

    #[test]
    fn bounded_memory_without_ends() {
        let mut s = Slots::new(2, S);
        for k in 0..(MAX_KNOWN as u64 + 100) {
            let mut f = vec![track(k + 1, 0.0)];
            s.assign(FrameTime::new(k, k as i64 * 1000), &mut f, &[]);
        }
        assert_eq!(s.remembered(), MAX_KNOWN);
        assert!(s.used() <= 2);
        s.reset();
        assert_eq!(s.remembered(), 0);
        assert_eq!(s.used(), 0);
        assert_eq!(Slots::new(0, -5).capacity(), 1);
    }
}
