//! Backend health with hysteresis.
//!
//! A backend is probed on an interval (`/system_stats` and `/queue`). One failed or slow
//! probe makes it `degraded` (still used, ranked after healthy backends); `fall`
//! consecutive failures make it `down` (not used). Coming back takes `rise` consecutive
//! good probes, so a flapping backend does not bounce in and out of the schedule. A
//! backend seen for the first time is usable after its first good probe.
//!
//! [`Health::lost`] is the fast path: the orchestrator saw the backend's socket close in
//! the middle of a job, which is proof enough; it goes `down` at once and has to earn its
//! way back like any other.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the scheduler and the dashboard see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Never answered yet.
    Unknown,
    Healthy,
    /// Answering, but slowly or after a recent failure: used when no healthy backend fits.
    Degraded,
    /// Not used for new jobs.
    Down,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Healthy => "healthy",
            HealthState::Degraded => "degraded",
            HealthState::Down => "down",
        }
    }

    /// Whether new jobs may go to a backend in this state.
    pub fn usable(self) -> bool {
        matches!(self, HealthState::Healthy | HealthState::Degraded)
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthConfig {
    /// Consecutive failed probes before `down`.
    pub fall: u32,
    /// Consecutive good probes before a degraded or down backend is `healthy` again.
    pub rise: u32,
    /// A probe slower than this counts as slow (degraded), in milliseconds.
    pub slow_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            fall: 2,
            rise: 2,
            slow_ms: 2_000,
        }
    }
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Ok { latency_ms: u64 },
    Failed(String),
}

/// The health of one backend.
#[derive(Debug, Clone)]
pub struct Health {
    cfg: HealthConfig,
    state: HealthState,
    good: u32,
    bad: u32,
    last_error: Option<String>,
}

impl Health {
    pub fn new(cfg: HealthConfig) -> Self {
        Health {
            cfg,
            state: HealthState::Unknown,
            good: 0,
            bad: 0,
            last_error: None,
        }
    }

    pub fn state(&self) -> HealthState {
        self.state
    }

    /// The last failure's reason (kept after recovery until the next failure).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Feed one probe; returns the new state when it changed.
    pub fn observe(&mut self, probe: Probe) -> Option<HealthState> {
        let before = self.state;
        match probe {
            Probe::Ok { latency_ms } => {
                self.bad = 0;
                let slow = latency_ms > self.cfg.slow_ms;
                // A slow answer never counts towards recovery.
                self.good = if slow { 0 } else { self.good.saturating_add(1) };
                self.state = match self.state {
                    HealthState::Unknown if slow => HealthState::Degraded,
                    HealthState::Unknown => HealthState::Healthy,
                    HealthState::Healthy if slow => HealthState::Degraded,
                    HealthState::Healthy => HealthState::Healthy,
                    // Answering again, but slowly: usable, not healthy.
                    HealthState::Degraded | HealthState::Down if slow => HealthState::Degraded,
                    HealthState::Degraded | HealthState::Down if self.good >= self.cfg.rise => {
                        HealthState::Healthy
                    }
                    HealthState::Down => HealthState::Down,
                    HealthState::Degraded => HealthState::Degraded,
                };
                if slow {
                    self.last_error = Some(format!(
                        "slow: answered in {latency_ms} ms (limit {} ms)",
                        self.cfg.slow_ms
                    ));
                }
            }
            Probe::Failed(reason) => {
                self.good = 0;
                self.bad = self.bad.saturating_add(1);
                self.last_error = Some(reason);
                self.state = if self.bad >= self.cfg.fall {
                    HealthState::Down
                } else {
                    match self.state {
                        HealthState::Healthy | HealthState::Degraded => HealthState::Degraded,
                        other => other,
                    }
                };
            }
        }
        (self.state != before).then_some(self.state)
    }

    /// The backend vanished mid-job (its socket closed): down at once.
    pub fn lost(&mut self, reason: String) -> Option<HealthState> {
        let before = self.state;
        self.good = 0;
        self.bad = self.bad.max(self.cfg.fall);
        self.last_error = Some(reason);
        self.state = HealthState::Down;
        (before != HealthState::Down).then_some(HealthState::Down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Probe {
        Probe::Ok { latency_ms: 5 }
    }
    fn fail() -> Probe {
        Probe::Failed("connection refused".into())
    }

    #[test]
    fn first_good_probe_makes_a_new_backend_healthy() {
        let mut h = Health::new(HealthConfig::default());
        assert_eq!(h.state(), HealthState::Unknown);
        assert!(!h.state().usable());
        assert_eq!(h.observe(ok()), Some(HealthState::Healthy));
        assert_eq!(h.observe(ok()), None);
    }

    #[test]
    fn one_failure_degrades_fall_failures_take_it_down() {
        let mut h = Health::new(HealthConfig::default());
        h.observe(ok());
        assert_eq!(h.observe(fail()), Some(HealthState::Degraded));
        assert!(h.state().usable());
        assert_eq!(h.observe(fail()), Some(HealthState::Down));
        assert!(!h.state().usable());
        assert_eq!(h.last_error(), Some("connection refused"));
    }

    #[test]
    fn recovery_needs_rise_consecutive_good_probes() {
        let cfg = HealthConfig {
            fall: 2,
            rise: 3,
            slow_ms: 100,
        };
        let mut h = Health::new(cfg);
        h.observe(ok());
        h.observe(fail());
        h.observe(fail());
        assert_eq!(h.state(), HealthState::Down);
        assert_eq!(h.observe(ok()), None);
        assert_eq!(h.observe(ok()), None);
        // A failure in between starts the count again (flapping stays down).
        h.observe(fail());
        h.observe(ok());
        h.observe(ok());
        assert_eq!(h.state(), HealthState::Down);
        assert_eq!(h.observe(ok()), Some(HealthState::Healthy));
    }

    #[test]
    fn degraded_recovers_after_rise_good_probes() {
        let mut h = Health::new(HealthConfig::default());
        h.observe(ok());
        h.observe(fail());
        assert_eq!(h.state(), HealthState::Degraded);
        assert_eq!(h.observe(ok()), None);
        assert_eq!(h.observe(ok()), Some(HealthState::Healthy));
    }

    #[test]
    fn slow_answers_degrade_and_block_recovery() {
        let cfg = HealthConfig {
            fall: 2,
            rise: 2,
            slow_ms: 100,
        };
        let mut h = Health::new(cfg);
        assert_eq!(
            h.observe(Probe::Ok { latency_ms: 500 }),
            Some(HealthState::Degraded)
        );
        assert!(h.last_error().unwrap().contains("500 ms"));
        h.observe(ok());
        h.observe(Probe::Ok { latency_ms: 500 });
        h.observe(ok());
        assert_eq!(h.state(), HealthState::Degraded);
        assert_eq!(h.observe(ok()), Some(HealthState::Healthy));
    }

    #[test]
    fn lost_is_down_at_once_and_recovers_like_a_failure() {
        let mut h = Health::new(HealthConfig::default());
        h.observe(ok());
        assert_eq!(
            h.lost("socket closed mid-job".into()),
            Some(HealthState::Down)
        );
        assert_eq!(h.lost("again".into()), None);
        h.observe(ok());
        assert_eq!(h.state(), HealthState::Down);
        h.observe(ok());
        assert_eq!(h.state(), HealthState::Healthy);
    }
}
