//! The `barrier` policy: the next item of every input, with a timeout in arrival time.

use crate::{
    Accept, BarrierConfig, Core, Slot, SyncError, SyncSet, SyncStats, Synchronizer, nanos_u64,
};

/// The open set.
#[derive(Debug)]
struct Open<T> {
    deadline_ns: u64,
    slots: Vec<Slot<T>>,
}

/// The `barrier` policy (see the crate documentation for the exact rules).
#[derive(Debug)]
pub struct BarrierSync<T> {
    timeout: u64,
    open: Option<Open<T>>,
    core: Core,
}

impl<T> BarrierSync<T> {
    /// A synchronizer for `inputs` inputs (at least one) with settings `cfg`.
    pub fn new(cfg: &BarrierConfig, inputs: usize) -> Result<Self, SyncError> {
        Ok(Self {
            timeout: nanos_u64(cfg.timeout),
            open: None,
            core: Core::new(inputs)?,
        })
    }

    /// Emits the open set if it is ready, or if `now_ns` (when given) is at its deadline.
    fn settle(&mut self, now_ns: Option<u64>, out: &mut Vec<SyncSet<T>>) {
        if let Some(o) = &self.open {
            let ready = self.core.ready(&o.slots);
            let expired = now_ns.is_some_and(|now| now >= o.deadline_ns);
            if ready || expired {
                if !ready {
                    self.core.stats.timed_out += 1;
                }
                self.close(out);
            }
        }
        self.update_gauges();
    }

    /// Emits the open set, if any.
    fn close(&mut self, out: &mut Vec<SyncSet<T>>) {
        if let Some(o) = self.open.take() {
            let partial = o.slots.iter().any(|s| s.is_none());
            let reference_ns = o.slots.iter().flatten().map(|(c, _)| *c).max().unwrap_or(0);
            self.core.emit(reference_ns, o.slots, partial, out);
        }
    }

    fn update_gauges(&mut self) {
        let st = &mut self.core.stats;
        let held = self
            .open
            .as_ref()
            .map_or(0, |o| o.slots.iter().filter(|s| s.is_some()).count());
        st.pending_sets = u64::from(self.open.is_some());
        st.pending_items = held as u64;
    }
}

impl<T> Synchronizer<T> for BarrierSync<T> {
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
        self.settle(Some(now_ns), out);
        if self.core.accept(input, capture_ns) == Accept::Rejected {
            return;
        }
        let n = self.core.inputs();
        let timeout = self.timeout;
        let open = self.open.get_or_insert_with(|| Open {
            deadline_ns: now_ns.saturating_add(timeout),
            slots: (0..n).map(|_| None).collect(),
        });
        let slot = &mut open.slots[input];
        match slot {
            Some((old, _)) => {
                // Latest wins: keep the later capture; on a tie, the item pushed last.
                self.core.stats.duplicates += 1;
                if capture_ns >= *old {
                    *slot = Some((capture_ns, item));
                }
            }
            None => *slot = Some((capture_ns, item)),
        }
        self.settle(None, out);
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<SyncSet<T>>) {
        self.settle(Some(now_ns), out);
    }

    fn end_input(&mut self, input: usize, now_ns: u64, out: &mut Vec<SyncSet<T>>) {
        self.core.end(input);
        self.settle(Some(now_ns), out);
    }

    fn finish(&mut self, out: &mut Vec<SyncSet<T>>) {
        self.close(out);
        self.update_gauges();
    }

    fn next_deadline(&self) -> Option<u64> {
        self.open.as_ref().map(|o| o.deadline_ns)
    }

    fn stats(&self) -> &SyncStats {
        &self.core.stats
    }
}
