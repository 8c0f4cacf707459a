//! Configuration: the `sync:` section of a pipeline.
//!
//! ```yaml
//! sync:
//!   policy: none
//! ---
//! sync:
//!   policy:
//!     time_window: {tolerance: 20ms, lateness: 100ms, emit_partial: true}
//! ---
//! sync:
//!   policy:
//!     barrier: {timeout: 200ms}
//! ```
//!
//! [`SyncPolicy`] is an externally tagged enum: a unit variant is written as a bare string
//! (`none`), a variant with settings as a one-key mapping (`{time_window: {...}}`). Every
//! setting has a default, so `{time_window: {}}` is valid.

use visualpath_core::HumanDuration;

use crate::SyncError;

/// Largest accepted [`TimeWindowConfig::max_pending`].
pub const MAX_PENDING_LIMIT: usize = 4096;

/// How several inputs are synchronized (the `sync:` section of a pipeline).
#[derive(
    Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// How items from the inputs are joined into sets: `none`, `{time_window: {...}}` or
    /// `{barrier: {...}}`. Default `none`.
    #[serde(default)]
    pub policy: SyncPolicy,
}

impl SyncConfig {
    /// Checks the settings that serde cannot check (ranges). See [`SyncPolicy::validate`].
    pub fn validate(&self) -> Result<(), SyncError> {
        self.policy.validate()
    }
}

/// A synchronization policy. See the crate documentation for the exact semantics.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SyncPolicy {
    /// No joining: every item is emitted at once as a set with one member.
    #[default]
    None,
    /// Join items whose capture times are within `tolerance` of each other; a watermark on
    /// capture time decides when a set cannot be completed any more.
    TimeWindow(TimeWindowConfig),
    /// Join the next item of every input regardless of capture time; a set that is not
    /// complete `timeout` after it was opened (in arrival time) is emitted partial.
    Barrier(BarrierConfig),
}

impl SyncPolicy {
    /// The policy's name as written in YAML (`none`, `time_window`, `barrier`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::TimeWindow(_) => "time_window",
            Self::Barrier(_) => "barrier",
        }
    }

    /// Checks the settings that serde cannot check (ranges).
    pub fn validate(&self) -> Result<(), SyncError> {
        match self {
            Self::None | Self::Barrier(_) => Ok(()),
            Self::TimeWindow(tw) => {
                if (1..=MAX_PENDING_LIMIT).contains(&tw.max_pending) {
                    Ok(())
                } else {
                    Err(SyncError::MaxPending(tw.max_pending))
                }
            }
        }
    }
}

/// Settings of the `time_window` policy.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeWindowConfig {
    /// Largest distance between an item's capture time and the reference time of the set it
    /// joins (the reference is the capture time of the item that opened the set), so members
    /// of a complete set are at most twice this apart. Choose about half the frame interval
    /// of the inputs (`16ms` at 30 fps): larger values can pair an item with the neighbour
    /// of its real partner when that partner is missing. Default `20ms`.
    #[serde(default = "default_tolerance")]
    pub tolerance: HumanDuration,
    /// How far, in capture time, an input may run behind the most recent capture time seen
    /// on it (out-of-order delivery, or one input lagging the others). The watermark is the
    /// smallest per-input maximum capture time minus this; an incomplete set is given up when
    /// the watermark passes its reference time plus `tolerance`. Larger values wait longer
    /// for missing members (more latency, fewer partial sets). Default `100ms`.
    #[serde(default = "default_lateness")]
    pub lateness: HumanDuration,
    /// Whether a set that is given up while incomplete is emitted with `partial: true`
    /// (`true`) or dropped and counted (`false`). With `false`, once an input has ended no
    /// set is complete any more, so nothing is emitted after that. Default `true`.
    #[serde(default = "default_emit_partial")]
    pub emit_partial: bool,
    /// Largest number of sets waiting for members (1 to 4096). When an item would open one
    /// more, the pending set with the earliest reference time is evicted (emitted partial or
    /// dropped, per `emit_partial`) and counted. Bounds memory when an input is silent and
    /// the watermark cannot advance. Default `64`.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// Longest time, in arrival (monotonic) time, that a set waits for members after it was
    /// opened; then it is given up like a set passed by the watermark. Useful with live
    /// cameras, where an input that stalls without ending would otherwise hold every set
    /// back until `max_pending` evicts it. Leave unset for files (their arrival times say
    /// nothing about capture times). Default unset (no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<HumanDuration>,
}

fn default_tolerance() -> HumanDuration {
    HumanDuration::from_millis(20)
}

fn default_lateness() -> HumanDuration {
    HumanDuration::from_millis(100)
}

fn default_emit_partial() -> bool {
    true
}

fn default_max_pending() -> usize {
    64
}

impl Default for TimeWindowConfig {
    fn default() -> Self {
        Self {
            tolerance: default_tolerance(),
            lateness: default_lateness(),
            emit_partial: default_emit_partial(),
            max_pending: default_max_pending(),
            max_wait: None,
        }
    }
}

/// Settings of the `barrier` policy.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BarrierConfig {
    /// How long, in arrival (monotonic) time, a set waits for the inputs that have not
    /// delivered yet after its first item arrived; then it is emitted with `partial: true`.
    /// Default `200ms`.
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
}

fn default_timeout() -> HumanDuration {
    HumanDuration::from_millis(200)
}

impl Default for BarrierConfig {
    fn default() -> Self {
        Self {
            timeout: default_timeout(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<SyncConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_match_serde_defaults() {
        assert_eq!(parse("{}").unwrap(), SyncConfig::default());
        assert_eq!(
            parse(r#"{"policy": {"time_window": {}}}"#).unwrap().policy,
            SyncPolicy::TimeWindow(TimeWindowConfig::default())
        );
        assert_eq!(
            parse(r#"{"policy": {"barrier": {}}}"#).unwrap().policy,
            SyncPolicy::Barrier(BarrierConfig::default())
        );
        assert_eq!(SyncPolicy::default(), SyncPolicy::None);
    }

    #[test]
    fn parses_every_variant() {
        assert_eq!(
            parse(r#"{"policy": "none"}"#).unwrap().policy,
            SyncPolicy::None
        );
        let tw = parse(
            r#"{"policy": {"time_window": {"tolerance": "40ms", "lateness": "1s",
                "emit_partial": false, "max_pending": 8, "max_wait": "500ms"}}}"#,
        )
        .unwrap();
        assert_eq!(
            tw.policy,
            SyncPolicy::TimeWindow(TimeWindowConfig {
                tolerance: HumanDuration::from_millis(40),
                lateness: HumanDuration::from_millis(1000),
                emit_partial: false,
                max_pending: 8,
                max_wait: Some(HumanDuration::from_millis(500)),
            })
        );
        let b = parse(r#"{"policy": {"barrier": {"timeout": "50ms"}}}"#).unwrap();
        assert_eq!(
            b.policy,
            SyncPolicy::Barrier(BarrierConfig {
                timeout: HumanDuration::from_millis(50)
            })
        );
        assert_eq!(b.policy.name(), "barrier");
    }

    #[test]
    fn rejects_unknown_fields_and_variants() {
        let e = parse(r#"{"policy": {"time_window": {"tolerence": "40ms"}}}"#).unwrap_err();
        assert!(e.contains("unknown field `tolerence`"), "{e}");
        let e = parse(r#"{"policy": "fifo"}"#).unwrap_err();
        assert!(e.contains("unknown variant `fifo`"), "{e}");
        let e = parse(r#"{"polcy": "none"}"#).unwrap_err();
        assert!(e.contains("unknown field `polcy`"), "{e}");
        let e = parse(r#"{"policy": {"barrier": {"timeout": "soon"}}}"#).unwrap_err();
        assert!(e.contains("invalid duration `soon`"), "{e}");
    }

    #[test]
    fn serializes_round_trip() {
        for policy in [
            SyncPolicy::None,
            SyncPolicy::TimeWindow(TimeWindowConfig::default()),
            SyncPolicy::TimeWindow(TimeWindowConfig {
                max_wait: Some(HumanDuration::from_millis(250)),
                ..TimeWindowConfig::default()
            }),
            SyncPolicy::Barrier(BarrierConfig::default()),
        ] {
            let cfg = SyncConfig { policy };
            let json = serde_json::to_string(&cfg).unwrap();
            assert_eq!(parse(&json).unwrap(), cfg, "{json}");
        }
        let json = serde_json::to_string(&SyncConfig::default()).unwrap();
        assert_eq!(json, r#"{"policy":"none"}"#);
    }

    #[test]
    fn validates_max_pending() {
        let mk = |n| {
            SyncPolicy::TimeWindow(TimeWindowConfig {
                max_pending: n,
                ..TimeWindowConfig::default()
            })
        };
        assert_eq!(mk(0).validate(), Err(SyncError::MaxPending(0)));
        assert_eq!(mk(4097).validate(), Err(SyncError::MaxPending(4097)));
        assert_eq!(mk(1).validate(), Ok(()));
        assert_eq!(mk(4096).validate(), Ok(()));
        assert_eq!(
            SyncError::MaxPending(0).to_string(),
            "sync policy `time_window`: `max_pending` must be between 1 and 4096 (got 0)"
        );
        let cfg = SyncConfig { policy: mk(0) };
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn schema_documents_every_field() {
        let schema = schemars::schema_for!(SyncConfig);
        let text = serde_json::to_string(&schema).unwrap();
        for needle in [
            "time_window",
            "barrier",
            "Default `20ms`",
            "Default `100ms`",
            "Default `64`",
            "Default `200ms`",
            "Default `none`",
            "Default `true`",
            "Default unset",
        ] {
            assert!(text.contains(needle), "schema lacks {needle}: {text}");
        }
    }
}
