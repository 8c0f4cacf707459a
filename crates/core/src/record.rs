//! The output record shapes: one JSON object per observation, event or sync set.
//!
//! This is a user-facing contract (documented in `docs/ref/jsonl.md`): every sink that
//! writes JSON (JSONL files, stdout, and later MQTT, WebSocket, Redis, webhooks) writes
//! exactly these objects. Fields are only added, never renamed.

use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::event::{Event, EventPhase};
use crate::name::Name;
use crate::observation::Observation;

/// One member of a synchronized set.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncMember {
    /// The member's source.
    pub source: Name,
    /// Its frame `seq`.
    pub seq: u64,
    /// Its capture time.
    pub capture_time_ns: i64,
}

/// Items from several sources joined by capture time.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncSet {
    /// The synchronizer that produced the set.
    pub group: Name,
    /// 0-based index of the set within its synchronizer.
    pub index: u64,
    /// The set's reference time: the capture time the members were matched around.
    pub reference_ns: i64,
    /// Members, in the synchronizer's source order.
    pub members: Vec<SyncMember>,
    /// Sources that have no member in this set.
    pub missing: Vec<Name>,
    /// Largest minus smallest member capture time.
    pub skew_ns: i64,
    /// Whether the set lacks a member (emitted on timeout or end of stream).
    pub partial: bool,
}

/// Anything a sink writes.
#[derive(Clone, Debug)]
pub enum Record {
    /// An analyzer's observation.
    Observation(Arc<Observation>),
    /// A fusion event.
    Event(Arc<Event>),
    /// A synchronized set.
    Sync(Arc<SyncSet>),
}

impl Record {
    /// The `kind` field of the record's JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Observation(_) => "observation",
            Self::Event(_) => "event",
            Self::Sync(_) => "sync",
        }
    }

    /// The record's source (for a sync set: its group name).
    pub fn source(&self) -> &Name {
        match self {
            Self::Observation(o) => &o.source,
            Self::Event(e) => &e.source,
            Self::Sync(s) => &s.group,
        }
    }

    /// Writes the record as one line of JSON (no trailing newline) into `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(out, self)
    }
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e4).round() / 100.0
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", self.kind())?;
        match self {
            Self::Observation(o) => {
                m.serialize_entry("source", &o.source)?;
                m.serialize_entry("seq", &o.seq)?;
                m.serialize_entry("capture_time_ns", &o.capture_time_ns)?;
                m.serialize_entry("analyzer", &o.analyzer)?;
                if o.frame_size != (0, 0) {
                    m.serialize_entry("width", &o.frame_size.0)?;
                    m.serialize_entry("height", &o.frame_size.1)?;
                }
                let d = &o.data;
                if !d.values.is_empty() {
                    m.serialize_entry("values", &d.values)?;
                }
                if !d.detections.is_empty() {
                    m.serialize_entry("detections", &d.detections)?;
                }
                if !d.regions.is_empty() {
                    m.serialize_entry("regions", &d.regions)?;
                }
                if !d.tracks.is_empty() {
                    m.serialize_entry("tracks", &d.tracks)?;
                }
                if !d.poses.is_empty() {
                    m.serialize_entry("poses", &d.poses)?;
                }
                if !d.faces.is_empty() {
                    m.serialize_entry("faces", &d.faces)?;
                }
                if !d.tags.is_empty() {
                    m.serialize_entry("tags", &d.tags)?;
                }
                m.serialize_entry("analyze_ms", &ms(o.timing.duration_ns))?;
            }
            Self::Event(e) => {
                m.serialize_entry("source", &e.source)?;
                m.serialize_entry("seq", &e.seq)?;
                m.serialize_entry("capture_time_ns", &e.capture_time_ns)?;
                m.serialize_entry("rule", &e.rule)?;
                m.serialize_entry("event_id", &e.id)?;
                m.serialize_entry("phase", &e.phase)?;
                m.serialize_entry("since_ns", &e.since_ns)?;
                if let Some(u) = e.until_ns {
                    m.serialize_entry("until_ns", &u)?;
                }
                if e.phase == EventPhase::End
                    && let Some(u) = e.until_ns
                {
                    m.serialize_entry("duration_ms", &ms((u - e.since_ns).max(0) as u64))?;
                }
                m.serialize_entry("values", &e.values)?;
                m.serialize_entry(
                    "clip",
                    &ClipJson {
                        start_ns: e.clip_start_ns(),
                        end_ns: e.clip_end_ns(),
                    },
                )?;
            }
            Self::Sync(set) => {
                m.serialize_entry("source", &set.group)?;
                m.serialize_entry("seq", &set.index)?;
                m.serialize_entry("capture_time_ns", &set.reference_ns)?;
                m.serialize_entry("sync", &set.group)?;
                m.serialize_entry("skew_ms", &ms(set.skew_ns.max(0) as u64))?;
                m.serialize_entry("partial", &set.partial)?;
                let members: Vec<MemberJson<'_>> = set
                    .members
                    .iter()
                    .map(|mb| MemberJson {
                        source: &mb.source,
                        seq: mb.seq,
                        capture_time_ns: mb.capture_time_ns,
                    })
                    .collect();
                m.serialize_entry("members", &members)?;
                if !set.missing.is_empty() {
                    m.serialize_entry("missing", &set.missing)?;
                }
            }
        }
        m.end()
    }
}

#[derive(Serialize)]
struct ClipJson {
    start_ns: i64,
    end_ns: i64,
}

#[derive(Serialize)]
struct MemberJson<'a> {
    source: &'a Name,
    seq: u64,
    capture_time_ns: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::HumanDuration;
    use crate::event::ClipWindow;
    use crate::observation::{BBox, Detection, ObservationData, Timing, Values};

    #[test]
    fn observation_record_contract() {
        let o = Observation {
            analyzer: Name::from_static("detect"),
            source: Name::from_static("cam1"),
            seq: 100,
            capture_time_ns: 1_000,
            arrival_ns: 5,
            frame_size: (0, 0),
            data: ObservationData {
                values: Values::new().with("count", 1.0),
                detections: vec![Detection {
                    class: "person".into(),
                    class_id: 1,
                    score: 0.5,
                    bbox: BBox::new(0.0, 1.0, 2.0, 3.0),
                }],
                ..Default::default()
            },
            timing: Timing {
                queued_ns: 0,
                started_ns: 0,
                duration_ns: 1_234_567,
            },
        };
        let mut out = Vec::new();
        Record::Observation(Arc::new(o))
            .write_json(&mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"kind":"observation","source":"cam1","seq":100,"capture_time_ns":1000,"analyzer":"detect","values":{"count":1.0},"detections":[{"class":"person","class_id":1,"score":0.5,"box":[0.0,1.0,2.0,3.0]}],"analyze_ms":1.23}"#
        );
    }

    #[test]
    fn event_record_contract() {
        let e = Event {
            id: 3,
            rule: Name::from_static("busy"),
            source: Name::from_static("cam1"),
            phase: EventPhase::End,
            seq: 20,
            capture_time_ns: 3_000_000_000,
            since_ns: 1_000_000_000,
            until_ns: Some(2_500_000_000),
            values: Values::new().with("motion.score", 0.5),
            clip: ClipWindow {
                pre: HumanDuration::from_millis(500),
                post: HumanDuration::from_millis(1000),
            },
        };
        let mut out = Vec::new();
        Record::Event(Arc::new(e)).write_json(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"kind":"event","source":"cam1","seq":20,"capture_time_ns":3000000000,"rule":"busy","event_id":3,"phase":"end","since_ns":1000000000,"until_ns":2500000000,"duration_ms":1500.0,"values":{"motion.score":0.5},"clip":{"start_ns":500000000,"end_ns":3500000000}}"#
        );
    }
}
