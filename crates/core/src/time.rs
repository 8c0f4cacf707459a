//! Injected time.
//!
//! Every time-dependent part of visualpath (pacing, fusion windows, synchronizer
//! timeouts, reconnect backoff, statistics) reads time through a [`Clock`], so tests can
//! drive it with a [`ManualClock`] and get deterministic results.
//!
//! Two timelines exist and are never mixed:
//! - *wall* time, nanoseconds since the Unix epoch: what `capture_time_ns` is measured in;
//! - *monotonic* time, nanoseconds since the clock was created: what latencies and
//!   `arrival_ns` are measured in.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of wall and monotonic time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Nanoseconds since the Unix epoch.
    fn wall_ns(&self) -> i64;
    /// Monotonic nanoseconds since this clock was created. Never decreases.
    fn mono_ns(&self) -> u64;
    /// Blocks until `mono_ns() >= deadline_ns`. A simulated clock advances instead.
    fn sleep_until(&self, deadline_ns: u64);
}

/// A clock shared between threads.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
    origin_wall_ns: i64,
}

impl SystemClock {
    /// A real clock whose monotonic origin is now.
    pub fn new() -> Self {
        let origin_wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Self {
            origin: Instant::now(),
            origin_wall_ns,
        }
    }

    /// A shared real clock.
    pub fn shared() -> SharedClock {
        Arc::new(Self::new())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn wall_ns(&self) -> i64 {
        // Derived from the monotonic origin so that wall time never jumps backwards
        // within a run (NTP steps would otherwise reorder capture times).
        self.origin_wall_ns + self.origin.elapsed().as_nanos() as i64
    }

    fn mono_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    fn sleep_until(&self, deadline_ns: u64) {
        let now = self.mono_ns();
        if deadline_ns > now {
            std::thread::sleep(Duration::from_nanos(deadline_ns - now));
        }
    }
}

/// A simulated clock for tests: time moves only when told to (or when a caller sleeps).
#[derive(Debug)]
pub struct ManualClock {
    wall_origin_ns: i64,
    mono: AtomicU64,
    wall_offset: AtomicI64,
}

impl ManualClock {
    /// A simulated clock at monotonic 0 and wall time `wall_origin_ns`.
    pub fn new(wall_origin_ns: i64) -> Self {
        Self {
            wall_origin_ns,
            mono: AtomicU64::new(0),
            wall_offset: AtomicI64::new(0),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        let ns = by.as_nanos() as u64;
        self.mono.fetch_add(ns, Ordering::SeqCst);
        self.wall_offset.fetch_add(ns as i64, Ordering::SeqCst);
    }

    /// Sets monotonic time (and moves wall time by the same amount). Never goes back.
    pub fn set_mono_ns(&self, t: u64) {
        let prev = self.mono.fetch_max(t, Ordering::SeqCst);
        if t > prev {
            self.wall_offset
                .fetch_add((t - prev) as i64, Ordering::SeqCst);
        }
    }
}

impl Clock for ManualClock {
    fn wall_ns(&self) -> i64 {
        self.wall_origin_ns + self.wall_offset.load(Ordering::SeqCst)
    }

    fn mono_ns(&self) -> u64 {
        self.mono.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, deadline_ns: u64) {
        self.set_mono_ns(deadline_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_both_timelines() {
        let c = ManualClock::new(1_000);
        c.advance(Duration::from_millis(5));
        assert_eq!(c.mono_ns(), 5_000_000);
        assert_eq!(c.wall_ns(), 5_001_000);
        c.sleep_until(10_000_000);
        assert_eq!(c.mono_ns(), 10_000_000);
        c.sleep_until(1); // never goes back
        assert_eq!(c.mono_ns(), 10_000_000);
        assert_eq!(c.wall_ns(), 10_001_000);
    }

    #[test]
    fn system_clock_is_monotonic() {
        let c = SystemClock::new();
        let a = c.mono_ns();
        let b = c.mono_ns();
        assert!(b >= a);
        assert!(c.wall_ns() > 1_600_000_000_000_000_000);
    }
}
