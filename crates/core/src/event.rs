//! Events: what fusion rules decide.

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::name::Name;
use crate::observation::Values;

/// How much video around an event a clip recorder should keep.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct ClipWindow {
    /// Video to keep before the event's start. Default `0s`.
    #[serde(default)]
    pub pre: HumanDuration,
    /// Video to keep after the event's end. Default `0s`.
    #[serde(default)]
    pub post: HumanDuration,
}

/// Whether an event record marks the start or the end of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventPhase {
    /// The condition has held for the rule's `for` duration.
    Start,
    /// The condition stopped holding (or the stream ended) after a start.
    End,
}

/// A fusion decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Unique within a run; the start and end records of one event share it.
    pub id: u64,
    /// The rule that fired.
    pub rule: Name,
    /// The source whose observations fired it.
    pub source: Name,
    /// Start or end.
    pub phase: EventPhase,
    /// `seq` of the frame at which this phase happened.
    pub seq: u64,
    /// Capture time of that frame (ns since the Unix epoch).
    pub capture_time_ns: i64,
    /// Capture time at which the condition first became true (the held period's start).
    pub since_ns: i64,
    /// For `end`: capture time of the last frame on which the condition held.
    pub until_ns: Option<i64>,
    /// Values the rule's condition referred to, at this phase.
    pub values: Values,
    /// The clip window around the event.
    pub clip: ClipWindow,
}

impl Event {
    /// Start of the clip: `pre` before the condition first held.
    pub fn clip_start_ns(&self) -> i64 {
        self.since_ns.saturating_sub(self.clip.pre.as_nanos_i64())
    }

    /// End of the clip: `post` after the condition last held (after this phase's time
    /// for a start record, whose end is not known yet).
    pub fn clip_end_ns(&self) -> i64 {
        self.until_ns
            .unwrap_or(self.capture_time_ns)
            .saturating_add(self.clip.post.as_nanos_i64())
    }
}
