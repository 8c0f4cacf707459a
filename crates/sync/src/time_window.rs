//! The `time_window` policy: join by capture time, give up by watermark.
//!
//! Pending sets live in one `Vec` sorted by reference time (ties in opening order), at most
//! `max_pending + 1` long at any moment, so every operation is a linear scan over a small,
//! bounded vector; no allocation happens per push besides the new set's slots.

use crate::{
    Accept, Core, Slot, SyncError, SyncPolicy, SyncSet, SyncStats, Synchronizer, TimeWindowConfig,
    nanos_i64, nanos_u64,
};

/// A set waiting for members.
#[derive(Debug)]
struct Pending<T> {
    reference_ns: i64,
    /// Arrival time of the item that opened it (for `max_wait`).
    opened_ns: u64,
    slots: Vec<Slot<T>>,
    /// Every live input has a member: emit at the next drain.
    ready: bool,
}

/// The watermark on capture time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Watermark {
    /// A live input has pushed nothing yet: nothing is behind the watermark.
    Unknown,
    /// Smallest per-input maximum over live inputs, minus `lateness`.
    At(i64),
    /// Every input has ended: everything is behind the watermark.
    End,
}

impl Watermark {
    /// Whether capture time `t` is strictly behind the watermark.
    fn passed(self, t: i64) -> bool {
        match self {
            Self::Unknown => false,
            Self::At(w) => t < w,
            Self::End => true,
        }
    }
}

/// Why a pending set leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leave {
    Ready,
    Watermark,
    Timeout,
    Evicted,
    Finish,
}

/// The `time_window` policy (see the crate documentation for the exact rules).
#[derive(Debug)]
pub struct TimeWindowSync<T> {
    tolerance: i64,
    lateness: i64,
    emit_partial: bool,
    max_pending: usize,
    max_wait: Option<u64>,
    pending: Vec<Pending<T>>,
    core: Core,
}

impl<T> TimeWindowSync<T> {
    /// A synchronizer for `inputs` inputs (at least one) with settings `cfg`.
    pub fn new(cfg: &TimeWindowConfig, inputs: usize) -> Result<Self, SyncError> {
        SyncPolicy::TimeWindow(cfg.clone()).validate()?;
        let core = Core::new(inputs)?;
        Ok(Self {
            tolerance: nanos_i64(cfg.tolerance),
            lateness: nanos_i64(cfg.lateness),
            emit_partial: cfg.emit_partial,
            max_pending: cfg.max_pending,
            max_wait: cfg.max_wait.map(nanos_u64),
            pending: Vec::with_capacity(cfg.max_pending + 1),
            core,
        })
    }

    /// The current watermark.
    fn watermark(&self) -> Watermark {
        if self.core.live == 0 {
            return Watermark::End;
        }
        let mut min = i64::MAX;
        for (m, &ended) in self.core.max_capture.iter().zip(&self.core.ended) {
            if ended {
                continue;
            }
            match m {
                Some(m) => min = min.min(*m),
                None => return Watermark::Unknown,
            }
        }
        Watermark::At(min.saturating_sub(self.lateness))
    }

    /// Places an accepted item (steps 1 to 4 of the crate documentation).
    fn place(&mut self, input: usize, capture_ns: i64, now_ns: u64, item: T, newest: bool) {
        let tol = self.tolerance.unsigned_abs();
        let mut join: Option<(usize, u64)> = None;
        let mut taken: Option<(usize, u64)> = None;
        for (k, p) in self.pending.iter().enumerate() {
            let d = capture_ns.abs_diff(p.reference_ns);
            if d > tol {
                if p.reference_ns > capture_ns {
                    break; // sorted: every later set is even further away
                }
                continue;
            }
            let best = if p.slots[input].is_none() {
                &mut join
            } else {
                &mut taken
            };
            if best.is_none_or(|(_, bd)| d < bd) {
                *best = Some((k, d));
            }
        }
        // 1. Join the nearest set with a free slot.
        if let Some((k, _)) = join {
            let ready = {
                let p = &mut self.pending[k];
                p.slots[input] = Some((capture_ns, item));
                self.core.ready(&p.slots)
            };
            self.pending[k].ready = ready;
            return;
        }
        // 2. A repeated or out-of-order item competes for the nearest taken slot.
        if !newest && let Some((k, d)) = taken {
            self.core.stats.duplicates += 1;
            let p = &mut self.pending[k];
            if let Some((old, _)) = &p.slots[input]
                && d < old.abs_diff(p.reference_ns)
            {
                p.slots[input] = Some((capture_ns, item));
            }
            return;
        }
        // 3. Too late to open a set that could still be completed.
        if self
            .watermark()
            .passed(capture_ns.saturating_add(self.tolerance))
        {
            self.core.stats.late += 1;
            return;
        }
        // 4. Open a new set.
        let mut slots: Vec<Slot<T>> = (0..self.core.inputs()).map(|_| None).collect();
        slots[input] = Some((capture_ns, item));
        let ready = self.core.ready(&slots);
        let at = self
            .pending
            .partition_point(|p| p.reference_ns <= capture_ns);
        self.pending.insert(
            at,
            Pending {
                reference_ns: capture_ns,
                opened_ns: now_ns,
                slots,
                ready,
            },
        );
    }

    /// Emits or drops every set that can leave at `now_ns`, in reference order, then
    /// evicts down to `max_pending`.
    fn drain(&mut self, now_ns: u64, out: &mut Vec<SyncSet<T>>) {
        let w = self.watermark();
        let mut k = 0;
        while k < self.pending.len() {
            let p = &self.pending[k];
            let why = if p.ready {
                Leave::Ready
            } else if w.passed(p.reference_ns.saturating_add(self.tolerance)) {
                Leave::Watermark
            } else if self
                .max_wait
                .is_some_and(|mw| now_ns >= p.opened_ns.saturating_add(mw))
            {
                Leave::Timeout
            } else {
                k += 1;
                continue;
            };
            let p = self.pending.remove(k);
            self.leave(p, why, out);
        }
        while self.pending.len() > self.max_pending {
            let p = self.pending.remove(0);
            self.leave(p, Leave::Evicted, out);
        }
        self.update_gauges();
    }

    fn leave(&mut self, p: Pending<T>, why: Leave, out: &mut Vec<SyncSet<T>>) {
        let partial = p.slots.iter().any(|s| s.is_none());
        match why {
            Leave::Timeout => self.core.stats.timed_out += 1,
            Leave::Evicted => self.core.stats.evicted += 1,
            Leave::Ready | Leave::Watermark | Leave::Finish => {}
        }
        if partial && !self.emit_partial {
            self.core.drop_set(p.slots);
        } else {
            self.core.emit(p.reference_ns, p.slots, partial, out);
        }
    }

    fn update_gauges(&mut self) {
        let st = &mut self.core.stats;
        st.pending_sets = self.pending.len() as u64;
        st.pending_items = self
            .pending
            .iter()
            .map(|p| p.slots.iter().filter(|s| s.is_some()).count() as u64)
            .sum();
    }
}

impl<T> Synchronizer<T> for TimeWindowSync<T> {
    fn inputs(&self) -> usize {
        self.core.inputs()
    }

    fn push(
        &mut self,
        input: usize,
        capture_ns: i64,
        now_ns: u64,
        item: T,
        out: &mut Vec<SyncSet<T>>,
    ) {
        // Expire first, so that the result does not depend on how promptly poll was called.
        self.drain(now_ns, out);
        if let Accept::Accepted { newest } = self.core.accept(input, capture_ns) {
            self.place(input, capture_ns, now_ns, item, newest);
            self.drain(now_ns, out);
        }
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<SyncSet<T>>) {
        self.drain(now_ns, out);
    }

    fn end_input(&mut self, input: usize, now_ns: u64, out: &mut Vec<SyncSet<T>>) {
        if self.core.end(input) {
            for k in 0..self.pending.len() {
                self.pending[k].ready = self.core.ready(&self.pending[k].slots);
            }
        }
        self.drain(now_ns, out);
    }

    fn finish(&mut self, out: &mut Vec<SyncSet<T>>) {
        for p in std::mem::take(&mut self.pending) {
            self.leave(p, Leave::Finish, out);
        }
        self.update_gauges();
    }

    fn next_deadline(&self) -> Option<u64> {
        let mw = self.max_wait?;
        self.pending
            .iter()
            .map(|p| p.opened_ns.saturating_add(mw))
            .min()
    }

    fn stats(&self) -> &SyncStats {
        &self.core.stats
    }
}
