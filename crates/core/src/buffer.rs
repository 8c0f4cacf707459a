//! Reference-counted immutable pixel storage with copy accounting and pooling.
//!
//! A [`PixelBuffer`] is shared by every clone of a frame: fan-out to many analyzers and
//! sinks costs one atomic increment per consumer and never copies pixels. Mutation is
//! explicit ([`PixelBuffer::make_mut`]) and copies only when the storage is shared.
//!
//! Process-wide counters ([`stats`]) record every storage allocation and every copy, so
//! tests can prove the copies a pipeline claims not to make.
//!
//! A [`BufferPool`] recycles storage: when the last reference to a pooled buffer drops,
//! its `Vec` returns to the pool (bounded: extra buffers are freed) for the next frame.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

static ALLOCATED: AtomicU64 = AtomicU64::new(0);
static REUSED: AtomicU64 = AtomicU64::new(0);
static COPIES: AtomicU64 = AtomicU64::new(0);
static COPIED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Process-wide buffer counters since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BufferStats {
    /// Pixel storages allocated fresh.
    pub allocated: u64,
    /// Pixel storages taken from a pool instead of allocated.
    pub reused: u64,
    /// Copies of pixel data (copy-on-write or explicit).
    pub copies: u64,
    /// Bytes copied by those copies.
    pub copied_bytes: u64,
}

/// Reads the process-wide buffer counters.
pub fn stats() -> BufferStats {
    BufferStats {
        allocated: ALLOCATED.load(Ordering::Relaxed),
        reused: REUSED.load(Ordering::Relaxed),
        copies: COPIES.load(Ordering::Relaxed),
        copied_bytes: COPIED_BYTES.load(Ordering::Relaxed),
    }
}

struct Storage {
    data: Vec<u8>,
    home: Option<Weak<PoolInner>>,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(pool) = self.home.take().and_then(|w| w.upgrade()) {
            pool.give_back(std::mem::take(&mut self.data));
        }
    }
}

/// Immutable, reference-counted pixel bytes.
#[derive(Clone)]
pub struct PixelBuffer(Arc<Storage>);

impl PixelBuffer {
    /// Takes ownership of `data` (no copy).
    pub fn from_vec(data: Vec<u8>) -> Self {
        ALLOCATED.fetch_add(1, Ordering::Relaxed);
        Self(Arc::new(Storage { data, home: None }))
    }

    /// Copies `data` into a new buffer (counted as a copy).
    pub fn copy_from_slice(data: &[u8]) -> Self {
        COPIES.fetch_add(1, Ordering::Relaxed);
        COPIED_BYTES.fetch_add(data.len() as u64, Ordering::Relaxed);
        Self::from_vec(data.to_vec())
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0.data
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.data.len()
    }

    /// Whether the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.data.is_empty()
    }

    /// How many handles share this storage.
    pub fn ref_count(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// Whether two handles share one storage.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// Mutable access: free when this is the only handle, otherwise the bytes are copied
    /// first (copy-on-write, counted in [`stats`]).
    pub fn make_mut(&mut self) -> &mut [u8] {
        if Arc::get_mut(&mut self.0).is_none() {
            COPIES.fetch_add(1, Ordering::Relaxed);
            COPIED_BYTES.fetch_add(self.0.data.len() as u64, Ordering::Relaxed);
            ALLOCATED.fetch_add(1, Ordering::Relaxed);
            self.0 = Arc::new(Storage {
                data: self.0.data.clone(),
                home: None,
            });
        }
        match Arc::get_mut(&mut self.0) {
            Some(s) => &mut s.data,
            None => unreachable!("storage was just made unique"),
        }
    }
}

impl fmt::Debug for PixelBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PixelBuffer")
            .field("len", &self.len())
            .field("refs", &self.ref_count())
            .finish()
    }
}

struct PoolInner {
    free: Mutex<Vec<Vec<u8>>>,
    max_free: usize,
}

impl PoolInner {
    fn give_back(&self, v: Vec<u8>) {
        if let Ok(mut free) = self.free.lock()
            && free.len() < self.max_free
        {
            free.push(v);
        }
    }
}

/// A bounded pool of pixel storages, for decoders that produce same-sized frames.
#[derive(Clone)]
pub struct BufferPool(Arc<PoolInner>);

impl BufferPool {
    /// A pool that keeps at most `max_free` idle buffers.
    pub fn new(max_free: usize) -> Self {
        Self(Arc::new(PoolInner {
            free: Mutex::new(Vec::with_capacity(max_free)),
            max_free,
        }))
    }

    /// Fills a buffer of `len` bytes with `fill` and wraps it. The storage comes from the
    /// pool when one of the right capacity is idle; `fill` receives the bytes to write
    /// (their previous content is unspecified).
    pub fn fill(&self, len: usize, fill: impl FnOnce(&mut [u8])) -> PixelBuffer {
        let reused = self.0.free.lock().ok().and_then(|mut free| {
            let i = free.iter().position(|v| v.capacity() >= len)?;
            Some(free.swap_remove(i))
        });
        let mut data = match reused {
            Some(v) => {
                REUSED.fetch_add(1, Ordering::Relaxed);
                v
            }
            None => {
                ALLOCATED.fetch_add(1, Ordering::Relaxed);
                Vec::with_capacity(len)
            }
        };
        data.resize(len, 0);
        fill(&mut data);
        PixelBuffer(Arc::new(Storage {
            data,
            home: Some(Arc::downgrade(&self.0)),
        }))
    }

    /// Idle buffers currently held.
    pub fn idle(&self) -> usize {
        self.0.free.lock().map(|f| f.len()).unwrap_or(0)
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("idle", &self.idle())
            .field("max_free", &self.0.max_free)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_shares_and_make_mut_copies_only_when_shared() {
        let mut a = PixelBuffer::from_vec(vec![1, 2, 3]);
        let b = a.clone();
        assert!(PixelBuffer::ptr_eq(&a, &b));
        assert_eq!(a.ref_count(), 2);
        let before = stats().copies;
        a.make_mut()[0] = 9;
        assert!(stats().copies > before);
        assert_eq!(b.as_slice(), &[1, 2, 3]);
        assert_eq!(a.as_slice(), &[9, 2, 3]);
        // now unique: no further copy
        let ptr = a.as_slice().as_ptr();
        a.make_mut()[1] = 8;
        assert_eq!(a.as_slice().as_ptr(), ptr);
    }

    #[test]
    fn pool_recycles_storage() {
        let pool = BufferPool::new(2);
        let a = pool.fill(16, |b| b.fill(7));
        let ptr = a.as_slice().as_ptr();
        drop(a);
        assert_eq!(pool.idle(), 1);
        let b = pool.fill(16, |b| b.fill(1));
        assert_eq!(b.as_slice().as_ptr(), ptr);
        assert_eq!(b.as_slice(), &[1; 16]);
        assert_eq!(pool.idle(), 0);
    }

    #[test]
    fn pool_is_bounded() {
        let pool = BufferPool::new(1);
        let a = pool.fill(4, |_| {});
        let b = pool.fill(4, |_| {});
        drop(a);
        drop(b);
        assert_eq!(pool.idle(), 1);
    }
}
