#![doc = include_str!("../../../docs/ref/sync.md")]
#![forbid(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

mod barrier;
mod config;
mod none;
mod time_window;

pub use barrier::BarrierSync;
pub use config::{BarrierConfig, MAX_PENDING_LIMIT, SyncConfig, SyncPolicy, TimeWindowConfig};
pub use none::NoSync;
pub use time_window::TimeWindowSync;
pub use visualpath_core::Histogram;

/// One slot of a set: the member's capture time (ns, wall clock) and the member.
pub type Slot<T> = Option<(i64, T)>;

/// Items from several inputs, emitted together.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncSet<T> {
    /// 0-based index of the set among the sets this synchronizer emitted.
    pub index: u64,
    /// The capture time the set is matched around (ns, wall clock); see the policy table in
    /// the crate documentation.
    pub reference_ns: i64,
    /// One slot per input, in input order: `Some((capture_ns, item))` or `None` when the
    /// input has no member.
    pub items: Vec<Slot<T>>,
    /// Largest minus smallest capture time of the members (ns); 0 with one member.
    pub skew_ns: i64,
    /// Whether a slot is empty (always `false` for the `none` policy).
    pub partial: bool,
}

impl<T> SyncSet<T> {
    /// Number of members (slots that are not empty).
    pub fn present(&self) -> usize {
        self.items.iter().filter(|s| s.is_some()).count()
    }

    /// Indices of the inputs that have no member.
    pub fn missing(&self) -> impl Iterator<Item = usize> + '_ {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.is_none().then_some(i))
    }

    /// The members as `(input, capture_ns, item)`, in input order.
    pub fn members(&self) -> impl Iterator<Item = (usize, i64, &T)> + '_ {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|(c, t)| (i, *c, t)))
    }
}

/// Counters and gauges of a synchronizer.
///
/// Item accounting: every pushed item ends in exactly one of `emitted_items`, `late`,
/// `duplicates`, `dropped_items`, `rejected`, or is still held (`pending_items`).
#[derive(Debug, Default)]
pub struct SyncStats {
    /// Items passed to [`Synchronizer::push`].
    pub pushed: u64,
    /// Sets emitted.
    pub emitted: u64,
    /// Emitted sets with every slot filled.
    pub complete: u64,
    /// Emitted sets with an empty slot.
    pub partial: u64,
    /// Incomplete sets dropped instead of emitted (`time_window` with `emit_partial: false`).
    pub dropped: u64,
    /// Sets given up because `max_pending` was exceeded (also counted in `partial` or
    /// `dropped`).
    pub evicted: u64,
    /// Sets given up because their wait (`barrier.timeout`, `time_window.max_wait`) expired
    /// (also counted in `partial` or `dropped`).
    pub timed_out: u64,
    /// Items delivered in emitted sets.
    pub emitted_items: u64,
    /// Items dropped because they were too late to join or open a set.
    pub late: u64,
    /// Items dropped because another item of the same input took their slot.
    pub duplicates: u64,
    /// Items dropped with the sets in `dropped`.
    pub dropped_items: u64,
    /// Items dropped because their input index was out of range or the input had ended.
    pub rejected: u64,
    /// Items whose capture time was below an earlier capture time of the same input
    /// (informational: such an item is also counted wherever it ended).
    pub out_of_order: u64,
    /// Sets currently waiting for members (gauge).
    pub pending_sets: u64,
    /// Items currently held in those sets (gauge).
    pub pending_items: u64,
    /// Skew of every emitted set with two or more members (ns).
    pub skew_ns: Histogram,
}

impl SyncStats {
    /// Whether every pushed item is accounted for exactly once (see the type docs). Always
    /// true unless a synchronizer has a bug; cheap enough for debug assertions.
    pub fn is_conserved(&self) -> bool {
        self.pushed
            == self.emitted_items
                + self.late
                + self.duplicates
                + self.dropped_items
                + self.rejected
                + self.pending_items
    }
}

impl Clone for SyncStats {
    fn clone(&self) -> Self {
        let skew_ns = Histogram::new();
        skew_ns.merge(&self.skew_ns);
        Self {
            pushed: self.pushed,
            emitted: self.emitted,
            complete: self.complete,
            partial: self.partial,
            dropped: self.dropped,
            evicted: self.evicted,
            timed_out: self.timed_out,
            emitted_items: self.emitted_items,
            late: self.late,
            duplicates: self.duplicates,
            dropped_items: self.dropped_items,
            rejected: self.rejected,
            out_of_order: self.out_of_order,
            pending_sets: self.pending_sets,
            pending_items: self.pending_items,
            skew_ns,
        }
    }
}

/// A synchronizer for `inputs` inputs carrying items of type `T`.
///
/// Every method appends the sets it emits to `out` (it never clears `out`). No method
/// panics on any input.
pub trait Synchronizer<T> {
    /// Number of inputs (slots per set).
    fn inputs(&self) -> usize;

    /// Offers an item of `input` captured at `capture_ns` (wall clock) and arriving at
    /// `now_ns` (monotonic). First emits the sets whose wait expired at `now_ns`.
    fn push(
        &mut self,
        input: usize,
        capture_ns: i64,
        now_ns: u64,
        item: T,
        out: &mut Vec<SyncSet<T>>,
    );

    /// Emits the sets whose wait expired at `now_ns`. Call at [`Self::next_deadline`].
    fn poll(&mut self, now_ns: u64, out: &mut Vec<SyncSet<T>>);

    /// Records that `input` reached its end of stream: it no longer holds sets back, and
    /// items pushed on it later are rejected. Repeated or out-of-range calls do nothing.
    fn end_input(&mut self, input: usize, now_ns: u64, out: &mut Vec<SyncSet<T>>);

    /// Gives up every set still waiting (end of the pipeline). The synchronizer stays
    /// usable; its per-input state (capture maxima, ended inputs) is kept.
    fn finish(&mut self, out: &mut Vec<SyncSet<T>>);

    /// The monotonic time at which [`Self::poll`] should next be called, if any set waits
    /// for a deadline.
    fn next_deadline(&self) -> Option<u64>;

    /// Counters, gauges and the skew histogram.
    fn stats(&self) -> &SyncStats;
}

/// A configuration or construction error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// A synchronizer needs at least one input.
    #[error("sync needs at least one input (got 0)")]
    NoInputs,
    /// `time_window.max_pending` out of range.
    #[error(
        "sync policy `time_window`: `max_pending` must be between 1 and {limit} (got {0})",
        limit = MAX_PENDING_LIMIT
    )]
    MaxPending(usize),
}

/// Builds the synchronizer for `policy` with `inputs` inputs.
pub fn build<T: Send + 'static>(
    policy: &SyncPolicy,
    inputs: usize,
) -> Result<Box<dyn Synchronizer<T> + Send>, SyncError> {
    Ok(match policy {
        SyncPolicy::None => Box::new(NoSync::new(inputs)?),
        SyncPolicy::TimeWindow(cfg) => Box::new(TimeWindowSync::new(cfg, inputs)?),
        SyncPolicy::Barrier(cfg) => Box::new(BarrierSync::new(cfg, inputs)?),
    })
}

/// State shared by the policies: which inputs have ended, set numbering, statistics.
#[derive(Debug)]
struct Core {
    ended: Vec<bool>,
    live: usize,
    /// Largest capture time pushed per input (for the watermark and `out_of_order`).
    max_capture: Vec<Option<i64>>,
    next_index: u64,
    stats: SyncStats,
}

/// What [`Core::accept`] decided about a pushed item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accept {
    /// Rejected (counted).
    Rejected,
    /// Accepted; `newest`: its capture time is greater than every earlier one of its input.
    Accepted { newest: bool },
}

impl Core {
    fn new(inputs: usize) -> Result<Self, SyncError> {
        if inputs == 0 {
            return Err(SyncError::NoInputs);
        }
        Ok(Self {
            ended: vec![false; inputs],
            live: inputs,
            max_capture: vec![None; inputs],
            next_index: 0,
            stats: SyncStats::default(),
        })
    }

    fn inputs(&self) -> usize {
        self.ended.len()
    }

    /// Counts a push, rejects bad inputs, and updates the input's capture maximum.
    fn accept(&mut self, input: usize, capture_ns: i64) -> Accept {
        self.stats.pushed += 1;
        if self.ended.get(input).is_none_or(|&e| e) {
            self.stats.rejected += 1;
            return Accept::Rejected;
        }
        let prev = self.max_capture[input];
        if prev.is_some_and(|m| capture_ns < m) {
            self.stats.out_of_order += 1;
        }
        let newest = prev.is_none_or(|m| capture_ns > m);
        if newest {
            self.max_capture[input] = Some(capture_ns);
        }
        Accept::Accepted { newest }
    }

    /// Marks `input` ended; false if it is out of range or already ended.
    fn end(&mut self, input: usize) -> bool {
        match self.ended.get_mut(input) {
            Some(e) if !*e => {
                *e = true;
                self.live -= 1;
                true
            }
            _ => false,
        }
    }

    /// Whether every live input has a member in `slots`.
    fn ready<T>(&self, slots: &[Slot<T>]) -> bool {
        slots
            .iter()
            .zip(&self.ended)
            .all(|(s, &e)| e || s.is_some())
    }

    /// Emits a set, numbering it and recording statistics.
    fn emit<T>(
        &mut self,
        reference_ns: i64,
        items: Vec<Slot<T>>,
        partial: bool,
        out: &mut Vec<SyncSet<T>>,
    ) {
        let mut present = 0u64;
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        for (c, _) in items.iter().flatten() {
            present += 1;
            lo = lo.min(*c);
            hi = hi.max(*c);
        }
        let skew_ns = if present >= 2 {
            hi.saturating_sub(lo)
        } else {
            0
        };
        let st = &mut self.stats;
        st.emitted += 1;
        if partial {
            st.partial += 1;
        } else {
            st.complete += 1;
        }
        st.emitted_items += present;
        if present >= 2 {
            st.skew_ns.record(skew_ns.max(0) as u64);
        }
        out.push(SyncSet {
            index: self.next_index,
            reference_ns,
            items,
            skew_ns,
            partial,
        });
        self.next_index += 1;
    }

    /// Drops an incomplete set, counting it and its members.
    fn drop_set<T>(&mut self, items: Vec<Slot<T>>) {
        self.stats.dropped += 1;
        self.stats.dropped_items += items.iter().filter(|s| s.is_some()).count() as u64;
    }
}

/// Nanoseconds of a duration as `i64` (saturating).
fn nanos_i64(d: visualpath_core::HumanDuration) -> i64 {
    d.as_nanos_i64()
}

/// Nanoseconds of a duration as `u64` (saturating).
fn nanos_u64(d: visualpath_core::HumanDuration) -> u64 {
    u64::try_from(d.get().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_rejects_zero_inputs_and_bad_config() {
        assert_eq!(
            build::<u32>(&SyncPolicy::None, 0).err(),
            Some(SyncError::NoInputs)
        );
        let bad = SyncPolicy::TimeWindow(TimeWindowConfig {
            max_pending: 0,
            ..TimeWindowConfig::default()
        });
        assert_eq!(build::<u32>(&bad, 2).err(), Some(SyncError::MaxPending(0)));
        assert_eq!(
            SyncError::NoInputs.to_string(),
            "sync needs at least one input (got 0)"
        );
        for p in [
            SyncPolicy::None,
            SyncPolicy::TimeWindow(TimeWindowConfig::default()),
            SyncPolicy::Barrier(BarrierConfig::default()),
        ] {
            let s = build::<u32>(&p, 3).unwrap();
            assert_eq!(s.inputs(), 3);
            assert_eq!(s.next_deadline(), None);
        }
    }

    #[test]
    fn set_helpers() {
        let s = SyncSet {
            index: 0,
            reference_ns: 5,
            items: vec![Some((5, 'a')), None, Some((7, 'c'))],
            skew_ns: 2,
            partial: true,
        };
        assert_eq!(s.present(), 2);
        assert_eq!(s.missing().collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            s.members().collect::<Vec<_>>(),
            vec![(0, 5, &'a'), (2, 7, &'c')]
        );
    }

    #[test]
    fn stats_clone_keeps_histogram() {
        let s = SyncStats::default();
        s.skew_ns.record(1000);
        let c = SyncStats {
            pushed: 3,
            ..s.clone()
        };
        assert_eq!(c.skew_ns.count(), 1);
        assert_eq!(c.skew_ns.max(), 1000);
        assert_eq!(c.pushed, 3);
        assert!(!c.is_conserved());
        assert!(s.is_conserved());
    }
}
