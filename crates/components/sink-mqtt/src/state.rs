//! The retained per-camera state (`{prefix}/{source}/state`): a pure fold over events.

use std::collections::BTreeMap;

use serde::Serialize;
use visualpath_sdk::core::{Event, EventPhase, Values};

/// What the retained state topic of one camera holds: the events active now and the last
/// event record of every rule seen. Published (retained) after every event of the camera,
/// so a client that subscribes late learns the current situation at once.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CameraState {
    /// The camera.
    pub source: String,
    /// Capture time of the event that produced this state (ns since the Unix epoch).
    pub capture_time_ns: i64,
    /// Number of events active now (started, not ended).
    pub active_count: usize,
    /// Events active now, by rule.
    pub active: BTreeMap<String, ActiveEvent>,
    /// The last record of each rule (start or end), by rule.
    pub last: BTreeMap<String, LastEvent>,
}

/// An event that started and has not ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveEvent {
    /// The event's id (shared by its start and end records).
    pub event_id: u64,
    /// Capture time at which the condition first held.
    pub since_ns: i64,
    /// Values at the start.
    pub values: Values,
}

/// The last record of a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastEvent {
    /// The event's id.
    pub event_id: u64,
    /// `start` or `end`.
    pub phase: EventPhase,
    /// Capture time of the frame of that phase.
    pub capture_time_ns: i64,
    /// When the condition first held.
    pub since_ns: i64,
    /// For `end`: when it last held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_ns: Option<i64>,
}

impl CameraState {
    /// Folds `e` (an event of this camera) into the state.
    pub fn apply(&mut self, e: &Event) {
        if self.source.is_empty() {
            self.source = e.source.to_string();
        }
        self.capture_time_ns = e.capture_time_ns;
        let rule = e.rule.to_string();
        match e.phase {
            EventPhase::Start => {
                self.active.insert(
                    rule.clone(),
                    ActiveEvent {
                        event_id: e.id,
                        since_ns: e.since_ns,
                        values: e.values.clone(),
                    },
                );
            }
            EventPhase::End => {
                if self.active.get(&rule).is_some_and(|a| a.event_id == e.id) {
                    self.active.remove(&rule);
                }
            }
        }
        self.active_count = self.active.len();
        self.last.insert(
            rule,
            LastEvent {
                event_id: e.id,
                phase: e.phase,
                capture_time_ns: e.capture_time_ns,
                since_ns: e.since_ns,
                until_ns: e.until_ns,
            },
        );
    }
}
