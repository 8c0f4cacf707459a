//! Rule tests: a file format that states observations and the events rules must emit for
//! them, in the spirit of Vector's config unit tests (`visualpath test FILE`).
//!
//! ```yaml
//! description: busy fires after one second of motion
//! rules:
//!   - name: busy
//!     when: motion.score > 0.05
//!     for: 1s
//! input:                 # observations, in order; t in seconds of capture time
//!   - {source: cam1, seq: 0, t: 0.0, analyzer: motion, values: {score: 0.1}}
//!   - {source: cam1, seq: 1, t: 0.5, analyzer: motion, values: {score: 0.1}}
//!   - {source: cam1, seq: 2, t: 1.0, analyzer: motion, values: {score: 0.1}}
//!   - {source: cam1, seq: 3, t: 1.5, analyzer: motion, values: {score: 0.0}}
//!   - {source: cam1, seq: 4, t: 1.6, analyzer: detect, detections: [{class: person}], tags: [x]}
//!   - {source: cam1, end: true}   # end of stream: FusionEngine::finish_source
//! expect:                # events, in order; t/since/until in seconds
//!   - {rule: busy, phase: start, seq: 2, since: 0.0}
//!   - {rule: busy, phase: end, seq: 3, until: 1.0}
//! ```
//!
//! The input is fed to a fresh [`FusionEngine`] in order; the events it emits must match
//! `expect` one for one, in order. In an expected event only `rule` and `phase` are required;
//! every other field is checked only when given (`values` must then list exactly the event's
//! values). Times are seconds, converted to nanoseconds by rounding, so `0.1` and the
//! engine's `100000000` ns compare equal. Values compare with a relative tolerance of 1e-9.
//!
//! [`RuleTest::run`] returns a readable report of the differences: each expected event next
//! to the actual one, with the fields that differ, and the unexpected or missing events.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use visualpath_core::observation::Timing;
use visualpath_core::{
    BBox, Detection, Event, EventPhase, Name, Observation, ObservationData, Values,
};

use crate::rules::{FusionEngine, RuleConfig};

/// A rule test: rules, input observations and the expected events.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    /// What the test checks, for people reading it. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The rules under test, as in a pipeline's `rules:`. Required.
    pub rules: Vec<RuleConfig>,
    /// Observations and end-of-stream markers, fed to the engine in order. Default: none.
    #[serde(default)]
    pub input: Vec<TestInput>,
    /// The events the rules must emit, in order. Default: none (the rules must stay silent).
    #[serde(default)]
    pub expect: Vec<ExpectedEvent>,
}

/// One input item: an observation, or (with `end: true`) the end of a source's stream.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    /// The source (camera) the observation is about. Required.
    pub source: Name,
    /// `true` ends the source's stream instead (active events end); the item then has no
    /// other field. Default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub end: bool,
    /// The frame's `seq`. Required for an observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The frame's capture time, in seconds (any origin). Required for an observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// The analyzer that made the observation. Required for an observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyzer: Option<Name>,
    /// Named values (`{score: 0.1}` is read as `motion.score`). Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, f64>,
    /// Detections (read by `count`). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detections: Vec<TestDetection>,
    /// Tags (read by `has`). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// A detection in a test input.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestDetection {
    /// Class name, e.g. `person`. Required.
    pub class: String,
    /// Class id. Default `0`.
    #[serde(default)]
    pub class_id: u32,
    /// Confidence in `[0, 1]`. Default `1.0`.
    #[serde(default = "default_score")]
    pub score: f32,
    /// Box `[x1, y1, x2, y2]` in pixels. Default `[0, 0, 0, 0]`.
    #[serde(rename = "box", default)]
    pub bbox: [f32; 4],
}

fn default_score() -> f32 {
    1.0
}

/// The phase of an expected event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TestPhase {
    /// The event's start record.
    Start,
    /// The event's end record.
    End,
}

impl TestPhase {
    fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::End => "end",
        }
    }
}

/// An expected event. Only `rule` and `phase` are required; other fields are checked when
/// given.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedEvent {
    /// The rule that fired. Required.
    pub rule: Name,
    /// `start` or `end`. Required.
    pub phase: TestPhase,
    /// The source. Default: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Name>,
    /// `seq` of the observation that caused the record. Default: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Capture time of that observation, in seconds. Default: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// When the condition started holding, in seconds. Default: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<f64>,
    /// For an end record: when the condition last held, in seconds. Default: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<f64>,
    /// The event id (1 for the engine's first event). Default: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The event's values, exactly (`{motion.score: 0.1, "count(detect,person)": 1}`).
    /// Default: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, f64>>,
}

fn secs_to_ns(what: &str, t: f64) -> Result<i64, String> {
    if !t.is_finite() || t.abs() > 9.0e9 {
        return Err(format!(
            "{what}: time {t} is out of range (seconds, at most 9e9)"
        ));
    }
    Ok((t * 1e9).round() as i64)
}

fn secs(ns: i64) -> String {
    format!("{}", ns as f64 / 1e9)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn show_values<'a>(it: impl Iterator<Item = (&'a str, f64)>) -> String {
    let parts: Vec<String> = it.map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

fn show_actual(e: &Event) -> String {
    let phase = match e.phase {
        EventPhase::Start => "start",
        EventPhase::End => "end",
    };
    let mut s = format!(
        "{phase} {} source={} seq={} t={} since={}",
        e.rule,
        e.source,
        e.seq,
        secs(e.capture_time_ns),
        secs(e.since_ns)
    );
    if let Some(u) = e.until_ns {
        let _ = write!(s, " until={}", secs(u));
    }
    let _ = write!(s, " id={} values={}", e.id, show_values(e.values.iter()));
    s
}

impl ExpectedEvent {
    fn show(&self) -> String {
        let mut s = format!("{} {}", self.phase.name(), self.rule);
        if let Some(v) = &self.source {
            let _ = write!(s, " source={v}");
        }
        if let Some(v) = self.seq {
            let _ = write!(s, " seq={v}");
        }
        if let Some(v) = self.t {
            let _ = write!(s, " t={v}");
        }
        if let Some(v) = self.since {
            let _ = write!(s, " since={v}");
        }
        if let Some(v) = self.until {
            let _ = write!(s, " until={v}");
        }
        if let Some(v) = self.id {
            let _ = write!(s, " id={v}");
        }
        if let Some(v) = &self.values {
            let _ = write!(
                s,
                " values={}",
                show_values(v.iter().map(|(k, v)| (k.as_str(), *v)))
            );
        }
        s
    }

    /// The fields of `e` that differ from this expectation, described.
    fn mismatches(&self, e: &Event) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let phase = match e.phase {
            EventPhase::Start => TestPhase::Start,
            EventPhase::End => TestPhase::End,
        };
        if self.rule != e.rule {
            out.push(format!("rule: expected {}, got {}", self.rule, e.rule));
        }
        if self.phase != phase {
            out.push(format!(
                "phase: expected {}, got {}",
                self.phase.name(),
                phase.name()
            ));
        }
        if let Some(s) = &self.source
            && *s != e.source
        {
            out.push(format!("source: expected {s}, got {}", e.source));
        }
        if let Some(s) = self.seq
            && s != e.seq
        {
            out.push(format!("seq: expected {s}, got {}", e.seq));
        }
        let mut time = |name: &str, want: Option<f64>, got: Option<i64>| -> Result<(), String> {
            if let Some(w) = want {
                let w_ns = secs_to_ns(&format!("expected `{name}`"), w)?;
                match got {
                    Some(g) if g == w_ns => {}
                    Some(g) => out.push(format!("{name}: expected {w}, got {}", secs(g))),
                    None => out.push(format!("{name}: expected {w}, got none")),
                }
            }
            Ok(())
        };
        time("t", self.t, Some(e.capture_time_ns))?;
        time("since", self.since, Some(e.since_ns))?;
        time("until", self.until, e.until_ns)?;
        if let Some(i) = self.id
            && i != e.id
        {
            out.push(format!("id: expected {i}, got {}", e.id));
        }
        if let Some(want) = &self.values {
            let same = want.len() == e.values.len()
                && want
                    .iter()
                    .all(|(k, v)| e.values.get(k).is_some_and(|g| close(*v, g)));
            if !same {
                out.push(format!(
                    "values: expected {}, got {}",
                    show_values(want.iter().map(|(k, v)| (k.as_str(), *v))),
                    show_values(e.values.iter())
                ));
            }
        }
        Ok(out)
    }
}

impl TestInput {
    fn to_observation(&self, index: usize) -> Result<Observation, String> {
        let what = format!("input #{} (source `{}`)", index + 1, self.source);
        let (Some(seq), Some(t), Some(analyzer)) = (self.seq, self.t, &self.analyzer) else {
            return Err(format!(
                "{what}: an observation needs `seq`, `t` and `analyzer` (or write `end: true` to end the source's stream)"
            ));
        };
        let mut values = Values::new();
        for (k, v) in &self.values {
            values.set(k.clone(), *v);
        }
        let detections = self
            .detections
            .iter()
            .map(|d| Detection {
                class: d.class.clone().into(),
                class_id: d.class_id,
                score: d.score,
                bbox: BBox::new(d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]),
            })
            .collect();
        Ok(Observation {
            analyzer: analyzer.clone(),
            source: self.source.clone(),
            seq,
            capture_time_ns: secs_to_ns(&what, t)?,
            arrival_ns: 0,
            frame_size: (0, 0),
            data: ObservationData {
                values,
                detections,
                tags: self.tags.iter().map(|t| t.clone().into()).collect(),
                ..Default::default()
            },
            timing: Timing::default(),
        })
    }

    fn is_bare(&self) -> bool {
        self.seq.is_none()
            && self.t.is_none()
            && self.analyzer.is_none()
            && self.values.is_empty()
            && self.detections.is_empty()
            && self.tags.is_empty()
    }
}

impl RuleTest {
    /// Runs the input through a fresh engine and returns the events it emitted. Errors on
    /// an invalid test (duplicate rule names, an incomplete observation).
    pub fn actual_events(&self) -> Result<Vec<Event>, String> {
        for (i, r) in self.rules.iter().enumerate() {
            if self.rules[..i].iter().any(|o| o.name == r.name) {
                return Err(format!("rule name `{}` is used twice", r.name));
            }
        }
        let mut engine = FusionEngine::new(self.rules.clone());
        let mut out = Vec::new();
        for (i, item) in self.input.iter().enumerate() {
            if item.end {
                if !item.is_bare() {
                    return Err(format!(
                        "input #{} (source `{}`): an `end: true` item takes no other field than `source`",
                        i + 1,
                        item.source
                    ));
                }
                engine.finish_source(&item.source, &mut out);
            } else {
                engine.observe(&item.to_observation(i)?, &mut out);
            }
        }
        Ok(out)
    }

    /// Runs the test. `Err` holds either why the test itself is invalid or a report of how
    /// the emitted events differ from `expect` (multi-line, for people).
    pub fn run(&self) -> Result<(), String> {
        let actual = self.actual_events()?;
        let mut report = String::new();
        let mut failed = actual.len() != self.expect.len();
        let n = actual.len().max(self.expect.len());
        for i in 0..n {
            let k = i + 1;
            match (self.expect.get(i), actual.get(i)) {
                (Some(want), Some(got)) => {
                    let diffs = want.mismatches(got)?;
                    if diffs.is_empty() {
                        let _ = writeln!(report, "  {k}. ok          {}", show_actual(got));
                    } else {
                        failed = true;
                        let _ = writeln!(report, "  {k}. expected    {}", want.show());
                        let _ = writeln!(report, "     got         {}", show_actual(got));
                        let _ = writeln!(report, "     differences {}", diffs.join("; "));
                    }
                }
                (Some(want), None) => {
                    let _ = writeln!(report, "  {k}. missing     {}", want.show());
                }
                (None, Some(got)) => {
                    let _ = writeln!(report, "  {k}. unexpected  {}", show_actual(got));
                }
                (None, None) => {}
            }
        }
        if !failed {
            return Ok(());
        }
        let mut head = format!(
            "events differ from `expect` (expected {}, got {}):\n",
            self.expect.len(),
            actual.len()
        );
        if n == 0 {
            head.push_str("  (no events)\n");
        }
        head.push_str(&report);
        Err(head.trim_end().to_owned())
    }
}
