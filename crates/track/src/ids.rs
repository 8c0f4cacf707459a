//! Bounded track ids.

use std::collections::HashSet;

/// Gives out ids `1..space` from a counter that wraps, skipping ids still in use.
///
/// After id `space - 1` comes id `1` again (0 is never used), so ids stay below `space` in
/// a run of any length. An id is in use from [`IdAllocator::allocate`] until
/// [`IdAllocator::release`]; an id in use is never given out twice. Memory is one set
/// entry per id in use.
#[derive(Debug, Clone)]
pub struct IdAllocator {
    next: u64,
    space: u64,
    live: HashSet<u64>,
}

impl IdAllocator {
    /// An allocator of ids `1..space` (`space` is raised to 2 if smaller).
    pub fn new(space: u64) -> Self {
        Self {
            next: 1,
            space: space.max(2),
            live: HashSet::new(),
        }
    }

    /// The next free id, or `None` if all `space - 1` ids are in use.
    pub fn allocate(&mut self) -> Option<u64> {
        if self.live.len() as u64 >= self.space - 1 {
            return None;
        }
        loop {
            let id = self.next;
            self.next = if id + 1 >= self.space { 1 } else { id + 1 };
            if self.live.insert(id) {
                return Some(id);
            }
        }
    }

    /// Returns `id` (no effect if it is not in use).
    pub fn release(&mut self, id: u64) {
        self.live.remove(&id);
    }

    /// Whether `id` is in use.
    pub fn in_use(&self, id: u64) -> bool {
        self.live.contains(&id)
    }

    /// Number of ids in use.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no id is in use.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Releases every id; the counter keeps its position.
    pub fn release_all(&mut self) {
        self.live.clear();
    }

    /// The exclusive upper bound of ids.
    pub fn space(&self) -> u64 {
        self.space
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_skips_ids_in_use() {
        let mut ids = IdAllocator::new(5);
        assert_eq!(ids.allocate(), Some(1));
        assert_eq!(ids.allocate(), Some(2));
        assert_eq!(ids.allocate(), Some(3));
        ids.release(1);
        ids.release(3);
        assert_eq!(ids.allocate(), Some(4));
        // Wraps to 1 (free), then skips 2 (in use) to 3.
        assert_eq!(ids.allocate(), Some(1));
        assert_eq!(ids.allocate(), Some(3));
        assert_eq!(ids.allocate(), None);
        assert_eq!(ids.len(), 4);
        ids.release(99);
        ids.release(2);
        assert!(!ids.in_use(2));
        assert_eq!(ids.allocate(), Some(2));
        ids.release_all();
        assert!(ids.is_empty());
        assert_eq!(ids.allocate(), Some(3));
        assert_eq!(IdAllocator::new(0).space(), 2);
        let mut tiny = IdAllocator::new(0);
        assert_eq!(tiny.allocate(), Some(1));
        assert_eq!(tiny.allocate(), None);
    }
}
