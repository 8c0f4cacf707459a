//! A lock-free log-linear histogram for latencies.
//!
//! Values (nanoseconds, or any `u64`) fall into buckets of about 3% relative width: one
//! group of 32 linear sub-buckets per power of two. Recording is one relaxed atomic
//! increment, so a stage can record every frame while another thread reads quantiles.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
const GROUPS: usize = 64 - SUB_BITS as usize + 1;
const BUCKETS: usize = GROUPS * SUB;

/// A concurrent histogram of `u64` values.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= SUB_BITS
    let group = (msb - SUB_BITS + 1) as usize;
    let sub = ((v >> (msb - SUB_BITS)) as usize) & (SUB - 1);
    group * SUB + sub
}

/// Smallest value that falls in bucket `b`.
fn bucket_low(b: usize) -> u64 {
    let group = b / SUB;
    let sub = (b % SUB) as u64;
    if group == 0 {
        return sub;
    }
    let shift = group as u32 - 1;
    ((SUB as u64) | sub) << shift
}

/// Largest value that falls in bucket `b`.
fn bucket_high(b: usize) -> u64 {
    if b + 1 >= BUCKETS {
        u64::MAX
    } else {
        bucket_low(b + 1) - 1
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }

    /// Records one value.
    pub fn record(&self, v: u64) {
        self.buckets[bucket_of(v)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.min.fetch_min(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Mean of the values (0 when empty).
    pub fn mean(&self) -> f64 {
        let n = self.count();
        if n == 0 {
            0.0
        } else {
            self.sum.load(Ordering::Relaxed) as f64 / n as f64
        }
    }

    /// Smallest value recorded (0 when empty).
    pub fn min(&self) -> u64 {
        if self.count() == 0 {
            0
        } else {
            self.min.load(Ordering::Relaxed)
        }
    }

    /// Largest value recorded.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The value at quantile `q` in `[0, 1]` (0 when empty), accurate to the bucket width
    /// (about 3%) and clamped to the recorded min and max.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        if q >= 1.0 {
            return self.max();
        }
        if q <= 0.0 {
            return self.min();
        }
        let rank = ((q * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, c) in self.buckets.iter().enumerate() {
            seen += c.load(Ordering::Relaxed);
            if seen >= rank {
                let mid = bucket_low(b) / 2 + bucket_high(b) / 2;
                return mid.clamp(self.min(), self.max());
            }
        }
        self.max()
    }

    /// Adds every value of `other` into `self`.
    pub fn merge(&self, other: &Histogram) {
        for (a, b) in self.buckets.iter().zip(other.buckets.iter()) {
            let v = b.load(Ordering::Relaxed);
            if v > 0 {
                a.fetch_add(v, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(other.count(), Ordering::Relaxed);
        self.sum
            .fetch_add(other.sum.load(Ordering::Relaxed), Ordering::Relaxed);
        if other.count() > 0 {
            self.min.fetch_min(other.min(), Ordering::Relaxed);
            self.max.fetch_max(other.max(), Ordering::Relaxed);
        }
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count())
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .field("max", &self.max())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut prev_high = None;
        for b in 0..BUCKETS - 1 {
            let lo = bucket_low(b);
            if let Some(h) = prev_high {
                assert_eq!(lo, h + 1, "bucket {b}");
            }
            assert_eq!(bucket_of(lo), b);
            assert_eq!(bucket_of(bucket_high(b)), b);
            prev_high = Some(bucket_high(b));
        }
    }

    #[test]
    fn quantiles_within_bucket_precision() {
        let h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 / 5_000_000.0 - 1.0).abs() < 0.04, "{p50}");
        assert!((p99 / 9_900_000.0 - 1.0).abs() < 0.04, "{p99}");
        assert_eq!(h.min(), 1000);
        assert_eq!(h.max(), 10_000_000);
        assert_eq!(h.count(), 10_000);
        assert!((h.mean() - 5_000_500.0).abs() < 1.0);
    }

    #[test]
    fn empty_and_merge() {
        let a = Histogram::new();
        assert_eq!(a.quantile(0.5), 0);
        let b = Histogram::new();
        b.record(7);
        b.record(u64::MAX);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.min(), 7);
        assert_eq!(a.quantile(1.0), u64::MAX);
        assert_eq!(a.quantile(0.0), 7);
    }
}
