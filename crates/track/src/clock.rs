//! Frame times and the monotonic stream time derived from them.

use visualpath_core::Frame;

/// Frame interval assumed until two frames with increasing capture times were seen: 1/30 s.
pub const DEFAULT_FRAME_INTERVAL_NS: i64 = 33_333_333;

/// Smallest and largest frame interval the fallback uses (1 ms and 10 s).
const INTERVAL_RANGE_NS: (i64, i64) = (1_000_000, 10_000_000_000);

/// When a frame was captured: all a tracker needs to know about a frame besides its
/// detections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FrameTime {
    /// The frame's 0-based index in its source ([`Frame::seq`]).
    pub seq: u64,
    /// Capture time, nanoseconds since the Unix epoch ([`Frame::capture_time_ns`]).
    pub capture_time_ns: i64,
}

impl FrameTime {
    /// A frame time from its parts.
    pub const fn new(seq: u64, capture_time_ns: i64) -> Self {
        Self {
            seq,
            capture_time_ns,
        }
    }

    /// The time of `frame`.
    pub fn of(frame: &Frame) -> Self {
        Self::new(frame.seq, frame.capture_time_ns)
    }
}

/// Turns frame capture times into a monotonic stream time.
///
/// Stream time is the capture time plus an offset that is 0 until capture time misbehaves:
///
/// - The first frame starts stream time at its capture time (time step 0).
/// - A frame whose capture time is later than the previous frame's is placed at its
///   capture time plus the offset (so while capture times increase, stream time *is*
///   capture time). The elapsed capture time since the first frame that had the previous
///   capture time, divided by the `seq` difference, becomes the measured frame interval
///   (clamped to 1 ms..10 s). If that place is not after the previous frame (an earlier
///   fallback overshot), the frame is placed the elapsed capture time after the previous
///   frame and the offset absorbs the difference.
/// - A frame with the **same** capture time as the previous frame (a stale or duplicated
///   timestamp) is placed `max(1, seq delta)` measured intervals (initially
///   [`DEFAULT_FRAME_INTERVAL_NS`]) after the previous frame; the offset is unchanged, so
///   the next frame with a later capture time lands where it should.
/// - A frame with an **earlier** capture time (a clock stepped back, a looped file) is
///   placed `max(1, seq delta)` intervals after the previous frame, and the offset is
///   re-anchored so that later frames follow their capture times from there.
#[derive(Clone, Debug)]
pub struct StreamClock {
    /// `(seq, capture)` of the previous frame.
    last: Option<FrameTime>,
    /// `seq` of the first frame that had the previous frame's capture time.
    anchor_seq: u64,
    offset_ns: i64,
    now_ns: i64,
    interval_ns: i64,
}

impl Default for StreamClock {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamClock {
    /// A clock that has seen no frame.
    pub const fn new() -> Self {
        Self {
            last: None,
            anchor_seq: 0,
            offset_ns: 0,
            now_ns: 0,
            interval_ns: DEFAULT_FRAME_INTERVAL_NS,
        }
    }

    fn fallback(&self, prev_seq: u64, seq: u64) -> i64 {
        let steps = seq.checked_sub(prev_seq).filter(|&s| s > 0).unwrap_or(1);
        self.interval_ns
            .saturating_mul(i64::try_from(steps).unwrap_or(i64::MAX))
    }

    /// Advances to `frame`; returns the time step in nanoseconds (0 on the first frame).
    pub fn advance(&mut self, frame: FrameTime) -> i64 {
        let Some(prev) = self.last.replace(frame) else {
            self.anchor_seq = frame.seq;
            self.offset_ns = 0;
            self.now_ns = frame.capture_time_ns;
            return 0;
        };
        let capture = frame.capture_time_ns;
        let dt = if capture > prev.capture_time_ns {
            let elapsed = capture.saturating_sub(prev.capture_time_ns);
            if let Some(steps) = frame.seq.checked_sub(self.anchor_seq).filter(|&s| s > 0) {
                let per = elapsed / i64::try_from(steps).unwrap_or(i64::MAX);
                self.interval_ns = per.clamp(INTERVAL_RANGE_NS.0, INTERVAL_RANGE_NS.1);
            }
            self.anchor_seq = frame.seq;
            let place = capture.saturating_add(self.offset_ns);
            if place > self.now_ns {
                place.saturating_sub(self.now_ns)
            } else {
                self.offset_ns = self.now_ns.saturating_add(elapsed).saturating_sub(capture);
                elapsed
            }
        } else if capture == prev.capture_time_ns {
            self.fallback(prev.seq, frame.seq)
        } else {
            let dt = self.fallback(prev.seq, frame.seq);
            self.anchor_seq = frame.seq;
            self.offset_ns = self.now_ns.saturating_add(dt).saturating_sub(capture);
            dt
        };
        self.now_ns = self.now_ns.saturating_add(dt);
        dt
    }

    /// Stream time of the latest frame, ns (0 before the first frame).
    pub fn now_ns(&self) -> i64 {
        self.now_ns
    }

    /// Whether a frame has been seen since creation or the last reset.
    pub fn started(&self) -> bool {
        self.last.is_some()
    }

    /// Forgets every frame (the measured frame interval is kept).
    pub fn reset(&mut self) {
        self.last = None;
        self.now_ns = 0;
        self.offset_ns = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_increasing_capture_times() {
        let mut c = StreamClock::new();
        assert_eq!(c.advance(FrameTime::new(0, 1_000)), 0);
        assert_eq!(c.now_ns(), 1_000);
        assert_eq!(c.advance(FrameTime::new(1, 41_000_000)), 40_999_000);
        assert_eq!(c.now_ns(), 41_000_000);
    }

    #[test]
    fn stale_timestamps_do_not_shift_later_frames() {
        let mut c = StreamClock::new();
        c.advance(FrameTime::new(0, 0));
        // Equal time: one default interval.
        assert_eq!(c.advance(FrameTime::new(1, 0)), DEFAULT_FRAME_INTERVAL_NS);
        // The next real timestamp lands at its capture time; the interval is measured
        // from frame 0 (the first with time 0): 100 ms over 2 frames.
        assert_eq!(
            c.advance(FrameTime::new(2, 100_000_000)),
            100_000_000 - DEFAULT_FRAME_INTERVAL_NS
        );
        assert_eq!(c.now_ns(), 100_000_000);
        // Two stale frames at the measured 50 ms, then a real one.
        assert_eq!(c.advance(FrameTime::new(3, 100_000_000)), 50_000_000);
        assert_eq!(c.advance(FrameTime::new(4, 100_000_000)), 50_000_000);
        assert_eq!(c.advance(FrameTime::new(5, 250_000_000)), 50_000_000);
        assert_eq!(c.now_ns(), 250_000_000);
    }

    #[test]
    fn overshooting_fallback_and_backward_steps() {
        let mut c = StreamClock::new();
        c.advance(FrameTime::new(0, 0));
        c.advance(FrameTime::new(1, 50_000_000)); // interval 50 ms
        // Stale for 3 frames: +150 ms, stream at 200 ms.
        for s in 2..5 {
            c.advance(FrameTime::new(s, 50_000_000));
        }
        assert_eq!(c.now_ns(), 200_000_000);
        // The real time is only 120 ms: placed the elapsed 70 ms after the previous frame.
        assert_eq!(c.advance(FrameTime::new(5, 120_000_000)), 70_000_000);
        assert_eq!(c.now_ns(), 270_000_000);
        // And follows capture times from there.
        assert_eq!(c.advance(FrameTime::new(6, 130_000_000)), 10_000_000);
        // Stepped back by an hour, 2 frames later: 2 intervals (10 ms measured).
        assert_eq!(c.advance(FrameTime::new(8, -3_600_000_000_000)), 20_000_000);
        assert_eq!(c.advance(FrameTime::new(9, -3_599_990_000_000)), 10_000_000);
        assert_eq!(c.now_ns(), 310_000_000);
        // Duplicate frame (same seq, same time): one interval.
        assert_eq!(c.advance(FrameTime::new(9, -3_599_990_000_000)), 10_000_000);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut c = StreamClock::new();
        c.advance(FrameTime::new(0, i64::MIN));
        assert!(c.advance(FrameTime::new(1, i64::MAX)) > 0);
        assert!(c.advance(FrameTime::new(u64::MAX, i64::MIN)) > 0);
        assert!(c.now_ns() > 0);
        c.reset();
        assert!(!c.started());
        assert_eq!(c.advance(FrameTime::new(0, 5)), 0);
    }
}
