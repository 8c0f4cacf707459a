//! The `none` policy: every item is a set of its own.

use crate::{Accept, Core, SyncError, SyncSet, SyncStats, Synchronizer};

/// The `none` policy: each accepted item is emitted at once as a set whose only member is
/// that item (`partial: false`, skew 0, reference = its capture time). Holds nothing.
#[derive(Debug)]
pub struct NoSync {
    core: Core,
}

impl NoSync {
    /// A pass-through for `inputs` inputs (at least one).
    pub fn new(inputs: usize) -> Result<Self, SyncError> {
        Ok(Self {
            core: Core::new(inputs)?,
        })
    }
}

impl<T> Synchronizer<T> for NoSync {
    fn inputs(&self) -> usize {
        self.core.inputs()
    }

    fn push(
        &mut self,
        input: usize,
        capture_ns: i64,
        _now_ns: u64,
        item: T,
        out: &mut Vec<SyncSet<T>>,
    ) {
        if self.core.accept(input, capture_ns) == Accept::Rejected {
            return;
        }
        let mut items: Vec<_> = (0..self.core.inputs()).map(|_| None).collect();
        items[input] = Some((capture_ns, item));
        self.core.emit(capture_ns, items, false, out);
    }

    fn poll(&mut self, _now_ns: u64, _out: &mut Vec<SyncSet<T>>) {}

    fn end_input(&mut self, input: usize, _now_ns: u64, _out: &mut Vec<SyncSet<T>>) {
        self.core.end(input);
    }

    fn finish(&mut self, _out: &mut Vec<SyncSet<T>>) {}

    fn next_deadline(&self) -> Option<u64> {
        None
    }

    fn stats(&self) -> &SyncStats {
        &self.core.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_every_item_through_at_once() {
        let mut s = NoSync::new(2).unwrap();
        let mut out = Vec::new();
        Synchronizer::push(&mut s, 1, 500, 0, "b0", &mut out);
        s.push(0, 100, 1, "a0", &mut out);
        s.push(0, 90, 2, "a-old", &mut out); // out of order: still passed through
        assert_eq!(
            out,
            vec![
                SyncSet {
                    index: 0,
                    reference_ns: 500,
                    items: vec![None, Some((500, "b0"))],
                    skew_ns: 0,
                    partial: false
                },
                SyncSet {
                    index: 1,
                    reference_ns: 100,
                    items: vec![Some((100, "a0")), None],
                    skew_ns: 0,
                    partial: false
                },
                SyncSet {
                    index: 2,
                    reference_ns: 90,
                    items: vec![Some((90, "a-old")), None],
                    skew_ns: 0,
                    partial: false
                },
            ]
        );
        Synchronizer::<&str>::end_input(&mut s, 1, 3, &mut out);
        s.push(1, 600, 4, "late b", &mut out);
        s.push(7, 600, 4, "no such input", &mut out);
        Synchronizer::<&str>::finish(&mut s, &mut out);
        Synchronizer::<&str>::poll(&mut s, 1_000_000, &mut out);
        assert_eq!(out.len(), 3);
        let st = Synchronizer::<&str>::stats(&s);
        assert_eq!(
            (
                st.pushed,
                st.emitted,
                st.complete,
                st.partial,
                st.emitted_items,
                st.rejected,
                st.out_of_order
            ),
            (5, 3, 3, 0, 3, 2, 1)
        );
        assert_eq!(st.skew_ns.count(), 0, "single members record no skew");
        assert!(st.is_conserved());
        assert_eq!(Synchronizer::<&str>::next_deadline(&s), None);
    }
}
