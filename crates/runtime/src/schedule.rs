//! Which frames an analyzer runs on.
//!
//! A schedule is decided per analyzer and per source, before the analyzer's condition
//! (`when:`) is evaluated. Frames a schedule declines are counted as `skipped_schedule`
//! and still flow on to downstream analyzers (without this analyzer's observation).
//!
//! - `every_frame`: every frame that reaches the analyzer.
//! - `every_nth: N`: the 1st, (N+1)th, (2N+1)th... frame that *reaches* the analyzer
//!   (frames dropped upstream do not count, so the analyzed rate is exactly 1/N of the
//!   arriving rate).
//! - `target_fps: F`: at most F frames per second of capture time. A frame is admitted
//!   when its capture time reaches the next due time; the due time then advances by
//!   1/F. If the stream falls behind by more than one interval (a gap, a slow source),
//!   the due time restarts from the current frame: no bursts to catch up. Combined with
//!   a `realtime` input edge, an analyzer slower than F simply runs as often as it can
//!   on the newest frame.

use serde::{Deserialize, Serialize};

/// A frame-admission policy.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// Every frame that reaches the analyzer.
    #[default]
    EveryFrame,
    /// Every Nth frame that reaches the analyzer (N >= 1).
    EveryNth(u32),
    /// At most this many frames per second of capture time (> 0).
    TargetFps(f64),
}

impl Schedule {
    /// Checks the parameter; the error names the valid range.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Self::EveryNth(0) => Err("every_nth must be 1 or more".into()),
            Self::TargetFps(f) if !(f.is_finite() && f > 0.0) => {
                Err(format!("target_fps must be a positive number, got {f}"))
            }
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EveryFrame => f.write_str("every frame"),
            Self::EveryNth(n) => write!(f, "every {n} frames"),
            Self::TargetFps(x) => write!(f, "{x} fps"),
        }
    }
}

/// Per-source state of a [`Schedule`].
#[derive(Debug, Clone, Default)]
pub struct Admission {
    offered: u64,
    next_due_ns: Option<i64>,
}

impl Admission {
    /// Whether to analyze a frame with this capture time.
    pub fn admit(&mut self, schedule: &Schedule, capture_ns: i64) -> bool {
        let n = self.offered;
        self.offered += 1;
        match *schedule {
            Schedule::EveryFrame => true,
            Schedule::EveryNth(k) => n.is_multiple_of(u64::from(k.max(1))),
            Schedule::TargetFps(fps) => {
                let interval = (1e9 / fps) as i64;
                match self.next_due_ns {
                    Some(due) if capture_ns < due => false,
                    Some(due) => {
                        let next = due + interval;
                        self.next_due_ns = Some(if next <= capture_ns {
                            capture_ns + interval
                        } else {
                            next
                        });
                        true
                    }
                    None => {
                        self.next_due_ns = Some(capture_ns + interval);
                        true
                    }
                }
            }
        }
    }

    /// Forgets timing (after a discontinuity).
    pub fn reset(&mut self) {
        self.next_due_ns = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: Schedule, times_ms: &[i64]) -> Vec<bool> {
        let mut a = Admission::default();
        times_ms
            .iter()
            .map(|t| a.admit(&s, t * 1_000_000))
            .collect()
    }

    #[test]
    fn every_nth_counts_arrivals() {
        let got = run(Schedule::EveryNth(3), &[0, 100, 200, 300, 400, 500, 600]);
        assert_eq!(got, [true, false, false, true, false, false, true]);
    }

    #[test]
    fn target_fps_caps_rate_without_bursts() {
        // 10 fps source, 3 fps target: admitted at 0, 400, 700, 1000, 1400, ...
        let t: Vec<i64> = (0..21).map(|i| i * 100).collect();
        let got = run(Schedule::TargetFps(3.0), &t);
        let admitted: Vec<i64> = t
            .iter()
            .zip(&got)
            .filter(|(_, a)| **a)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(admitted, [0, 400, 700, 1000, 1400, 1700, 2000]);
        // A gap of 5 s does not cause a burst afterwards.
        let got = run(
            Schedule::TargetFps(2.0),
            &[0, 5000, 5100, 5200, 5300, 5400, 5500],
        );
        assert_eq!(got, [true, true, false, false, false, false, true]);
    }

    #[test]
    fn validation() {
        assert!(Schedule::EveryNth(0).validate().is_err());
        assert!(Schedule::TargetFps(0.0).validate().is_err());
        assert!(Schedule::TargetFps(f64::NAN).validate().is_err());
        assert!(Schedule::EveryNth(2).validate().is_ok());
    }
}
