//! The `track` analyzer's settings.
//!
//! ```yaml
//! analyzers:
//!   - name: people
//!     track:
//!       detector: detect            # default: the upstream analyzer with detections
//!       classes: [person]           # default: every class
//!       tracker: {bytetrack: {track_buffer: 60}}   # or {sort: {max_age: 3}}
//!       slots: 10
//!       slot_grace: 2s
//!       zones:
//!         - {name: door, points: [[0.1, 0.5], [0.4, 0.5], [0.4, 1.0], [0.1, 1.0]]}
//!       lines:
//!         - {name: gate, a: [0.5, 0.0], b: [0.5, 1.0]}
//!     after: [detect]
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use visualpath_core::{HumanDuration, Name};
use visualpath_sdk::{AnalyzerFactory, ComponentError};

use crate::slots::MAX_SLOTS;
use crate::zones::{LineConfig, ZoneConfig};
use crate::{ByteTrackConfig, ConfigError, KIND, SortConfig, TrackerOptions};

/// Default [`TrackConfig::id_space`].
pub const DEFAULT_ID_SPACE: u64 = 1_000_000;
/// Smallest `id_space` (more than [`crate::MAX_TRACKS`] live tracks must fit).
pub const MIN_ID_SPACE: u64 = 10_000;
/// Largest `id_space`: 2^53, so that ids stay exact as JSON numbers read as doubles.
pub const MAX_ID_SPACE: u64 = 1 << 53;
/// Most zones, and most lines, per analyzer (each adds values to every observation).
pub const MAX_REGIONS: usize = 32;
/// Most entries in `classes`.
pub const MAX_CLASSES: usize = 1000;

fn default_slots() -> u32 {
    10
}
fn default_slot_grace() -> HumanDuration {
    HumanDuration::from_millis(2000)
}
fn default_id_space() -> u64 {
    DEFAULT_ID_SPACE
}
fn default_class_aware() -> bool {
    true
}

/// Which tracking algorithm, with its settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
pub enum TrackerConfig {
    /// ByteTrack, with Ultralytics' setting names (`{bytetrack: {track_buffer: 60}}`).
    #[serde(rename = "bytetrack")]
    ByteTrack(ByteTrackConfig),
    /// SORT (`{sort: {max_age: 3}}`).
    #[serde(rename = "sort")]
    Sort(SortConfig),
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self::ByteTrack(ByteTrackConfig::default())
    }
}

impl TrackerConfig {
    /// The algorithm's name as written in YAML (`bytetrack`, `sort`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::ByteTrack(_) => "bytetrack",
            Self::Sort(_) => "sort",
        }
    }

    /// Checks the algorithm's settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::ByteTrack(c) => c.validate_at("tracker.bytetrack."),
            Self::Sort(c) => c.validate_at("tracker.sort."),
        }
    }

    /// Builds the tracker.
    pub fn build(&self, options: TrackerOptions) -> Result<Box<dyn crate::Tracker>, ConfigError> {
        Ok(match self {
            Self::ByteTrack(c) => Box::new(crate::ByteTrack::new(c.clone(), options)?),
            Self::Sort(c) => Box::new(crate::Sort::new(c.clone(), options)?),
        })
    }
}

/// Settings of the `track` analyzer: multi-object tracking of an upstream analyzer's
/// detections, with stable slots, zones and lines.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackConfig {
    /// The tracking algorithm and its settings: `{bytetrack: {...}}` or `{sort: {...}}`;
    /// every setting has a default, so `{bytetrack: {}}` is valid. Default ByteTrack with
    /// Ultralytics' defaults.
    #[serde(default)]
    pub tracker: TrackerConfig,
    /// The upstream analyzer whose detections are tracked (it must be in `after`). On a
    /// frame where it produced an observation the tracker is updated with its detections
    /// (none is an update too); on other frames the tracks are predicted. Default: the
    /// last upstream analyzer whose observation has detections; once one has been seen it
    /// is used from then on whenever it is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<Name>,
    /// Track only detections of these classes, by name as the detector writes them (exact,
    /// case-sensitive, e.g. `[person, car]`); the others are ignored. Default: every class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Whether a detection can only continue a track of the same class (a person never
    /// becomes a car). `false` matches across classes and lets a track take the class of
    /// its latest detection, which helps detectors that hesitate between similar classes
    /// (car/truck). Default `true`.
    #[serde(default = "default_class_aware")]
    pub class_aware: bool,
    /// Number of stable slots `p1..pN` given to confirmed tracks, from 1 to 1000. Default
    /// `10`.
    #[serde(default = "default_slots")]
    #[schemars(range(min = 1, max = 1000))]
    pub slots: u32,
    /// How long (capture time) the slot of a track that ended stays reserved for the same
    /// object re-entering near its last box. Default `2s`.
    #[serde(default = "default_slot_grace")]
    pub slot_grace: HumanDuration,
    /// Ids are `1..id_space`: the id counter wraps there, skipping ids still in use. From
    /// 10000 to 2^53. Default `1000000`.
    #[serde(default = "default_id_space")]
    #[schemars(range(min = 10000, max = 9007199254740992_u64))]
    pub id_space: u64,
    /// Polygon zones whose tracks are counted (`zone.<name>.count`, ...); at most 32.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<ZoneConfig>,
    /// Lines whose crossings are counted (`line.<name>.in`, ...); at most 32. Default:
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineConfig>,
}

impl Default for TrackConfig {
    fn default() -> Self {
        Self {
            tracker: TrackerConfig::default(),
            detector: None,
            classes: None,
            class_aware: default_class_aware(),
            slots: default_slots(),
            slot_grace: default_slot_grace(),
            id_space: default_id_space(),
            zones: Vec::new(),
            lines: Vec::new(),
        }
    }
}

/// `<prefix><field>` must be in `0..=1`.
pub(crate) fn check_fraction(prefix: &str, field: &str, value: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{KIND}: `{prefix}{field}` must be between 0 and 1, got {value}"
        )))
    }
}

/// `<prefix><field>` must be in `min..=max`.
pub(crate) fn check_range<T: PartialOrd + std::fmt::Display>(
    prefix: &str,
    field: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "{KIND}: `{prefix}{field}` must be between {min} and {max}, got {value}"
        )))
    }
}

/// `id_space` must be in `MIN_ID_SPACE..=MAX_ID_SPACE`.
pub(crate) fn check_id_space(value: u64) -> Result<(), ConfigError> {
    check_range("", "id_space", value, MIN_ID_SPACE, MAX_ID_SPACE)
}

impl TrackConfig {
    /// Checks every setting; the error is one line naming the field and what is valid.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.tracker.validate()?;
        check_range("", "slots", self.slots, 1, MAX_SLOTS)?;
        check_id_space(self.id_space)?;
        if let Some(classes) = &self.classes {
            if classes.is_empty() || classes.len() > MAX_CLASSES {
                return Err(ConfigError(format!(
                    "{KIND}: `classes` must list 1 to {MAX_CLASSES} class names, got {} (leave it out to track every class)",
                    classes.len()
                )));
            }
            if let Some(i) = classes.iter().position(|c| c.trim().is_empty()) {
                return Err(ConfigError(format!(
                    "{KIND}: `classes[{i}]` is empty; write a class name such as `person`"
                )));
            }
        }
        for (what, n) in [("zones", self.zones.len()), ("lines", self.lines.len())] {
            if n > MAX_REGIONS {
                return Err(ConfigError(format!(
                    "{KIND}: `{what}` may list at most {MAX_REGIONS} entries, got {n}"
                )));
            }
        }
        let mut seen = HashSet::new();
        for (i, z) in self.zones.iter().enumerate() {
            z.validate_at(&format!("zones[{i}]"))?;
            if !seen.insert(z.name.as_str()) {
                return Err(ConfigError(format!(
                    "{KIND}: `zones[{i}]` reuses the name `{}`; zone names must be unique",
                    z.name
                )));
            }
        }
        seen.clear();
        for (i, l) in self.lines.iter().enumerate() {
            l.validate_at(&format!("lines[{i}]"))?;
            if !seen.insert(l.name.as_str()) {
                return Err(ConfigError(format!(
                    "{KIND}: `lines[{i}]` reuses the name `{}`; line names must be unique",
                    l.name
                )));
            }
        }
        Ok(())
    }

    /// A short description, e.g. `track (bytetrack, 10 slots, 2 zones, 1 line)`.
    pub fn describe(&self) -> String {
        let mut s = format!("{KIND} ({}, {} slots", self.tracker.name(), self.slots);
        if let Some(d) = &self.detector {
            s.push_str(&format!(", detector {d}"));
        }
        if let Some(c) = &self.classes {
            s.push_str(&format!(", classes {}", c.join("/")));
        }
        let plural =
            |n: usize, one: &str, many: &str| format!(", {n} {}", if n == 1 { one } else { many });
        if !self.zones.is_empty() {
            s.push_str(&plural(self.zones.len(), "zone", "zones"));
        }
        if !self.lines.is_empty() {
            s.push_str(&plural(self.lines.len(), "line", "lines"));
        }
        s.push(')');
        s
    }

    /// The options shared by the trackers.
    pub fn tracker_options(&self) -> TrackerOptions {
        TrackerOptions {
            class_aware: self.class_aware,
            id_space: self.id_space,
        }
    }

    /// The factory that creates one analyzer per source. An invalid configuration is
    /// reported by [`AnalyzerFactory::create`] (the same message as
    /// [`TrackConfig::validate`]).
    pub fn factory(&self) -> Arc<dyn AnalyzerFactory> {
        Arc::new(crate::analyzer::TrackFactory {
            config: self
                .validate()
                .map(|()| Arc::new(self.clone()))
                .map_err(|e| ComponentError::new(e.0)),
            description: self.describe(),
        })
    }
}
