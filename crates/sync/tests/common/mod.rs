//! Helpers shared by the integration tests.
#![allow(dead_code)]

use visualpath_sync::{SyncSet, Synchronizer};

/// Milliseconds to nanoseconds (capture times).
pub const MS: i64 = 1_000_000;
/// Milliseconds to nanoseconds (monotonic times).
pub const MS_U: u64 = 1_000_000;

/// A compact, comparable view of a set: index, reference (ms), members as
/// `(input, capture ms, item)`, partial, skew (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub index: u64,
    pub reference_ms: i64,
    pub members: Vec<(usize, i64, u32)>,
    pub partial: bool,
    pub skew_ms: i64,
}

/// Shorthand constructor for an expected [`View`].
pub fn v(
    index: u64,
    reference_ms: i64,
    members: &[(usize, i64, u32)],
    partial: bool,
    skew_ms: i64,
) -> View {
    View {
        index,
        reference_ms,
        members: members.to_vec(),
        partial,
        skew_ms,
    }
}

/// Converts sets to views; every capture time must be a whole number of milliseconds.
pub fn views(sets: &[SyncSet<u32>]) -> Vec<View> {
    sets.iter()
        .map(|s| {
            assert_eq!(s.reference_ns % MS, 0);
            assert_eq!(s.skew_ns % MS, 0);
            View {
                index: s.index,
                reference_ms: s.reference_ns / MS,
                members: s.members().map(|(i, c, t)| (i, c / MS, *t)).collect(),
                partial: s.partial,
                skew_ms: s.skew_ns / MS,
            }
        })
        .collect()
}

/// Drives a synchronizer and collects what it emits.
pub struct Driver {
    pub sync: Box<dyn Synchronizer<u32> + Send>,
    pub out: Vec<SyncSet<u32>>,
    next_id: u32,
}

impl Driver {
    pub fn new(sync: Box<dyn Synchronizer<u32> + Send>) -> Self {
        Self {
            sync,
            out: Vec::new(),
            next_id: 0,
        }
    }

    /// Pushes an item captured at `capture_ms` arriving at `now_ms`; returns its id
    /// (0, 1, 2, ... in push order).
    pub fn push(&mut self, input: usize, capture_ms: i64, now_ms: u64) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        self.sync
            .push(input, capture_ms * MS, now_ms * MS_U, id, &mut self.out);
        id
    }

    pub fn poll(&mut self, now_ms: u64) {
        self.sync.poll(now_ms * MS_U, &mut self.out);
    }

    pub fn end(&mut self, input: usize, now_ms: u64) {
        self.sync.end_input(input, now_ms * MS_U, &mut self.out);
    }

    pub fn finish(&mut self) {
        self.sync.finish(&mut self.out);
    }

    /// Views of everything emitted since the last call.
    pub fn take(&mut self) -> Vec<View> {
        let v = views(&self.out);
        self.out.clear();
        v
    }
}
