//! Observations: what one analyzer says about one frame.

use std::borrow::Cow;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::name::Name;

/// A text that is usually a compile-time constant (class names, value names).
pub type Label = Cow<'static, str>;

/// Named scalar values (motion score, brightness, a joint angle), in insertion order.
///
/// Kept as a small vector: observations carry a handful of values and lookups by name
/// are faster than hashing at that size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Values(Vec<(Label, f64)>);

impl Values {
    /// No values.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Sets `name` to `value`, replacing an earlier value of that name.
    pub fn set(&mut self, name: impl Into<Label>, value: f64) {
        let name = name.into();
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else {
            self.0.push((name, value));
        }
    }

    /// Builder form of [`Values::set`].
    pub fn with(mut self, name: impl Into<Label>, value: f64) -> Self {
        self.set(name, value);
        self
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    /// All values in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            // JSON has no NaN/inf: write them as null rather than failing the record.
            if v.is_finite() {
                m.serialize_entry(k.as_ref(), v)?;
            } else {
                m.serialize_entry(k.as_ref(), &Option::<f64>::None)?;
            }
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m: Vec<(String, Option<f64>)> = serde_json::Map::deserialize(d)?
            .into_iter()
            .map(|(k, v)| (k, v.as_f64()))
            .collect();
        Ok(Self(
            m.into_iter()
                .map(|(k, v)| (Cow::Owned(k), v.unwrap_or(f64::NAN)))
                .collect(),
        ))
    }
}

/// An axis-aligned box in pixels of the source frame: `x1,y1` top-left, `x2,y2`
/// bottom-right.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BBox {
    /// Left.
    pub x1: f32,
    /// Top.
    pub y1: f32,
    /// Right.
    pub x2: f32,
    /// Bottom.
    pub y2: f32,
}

impl BBox {
    /// A box from its corners.
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }
    /// Width (0 if inverted).
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }
    /// Height (0 if inverted).
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }
    /// Area (0 if inverted).
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    /// Centre point.
    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) * 0.5, (self.y1 + self.y2) * 0.5)
    }
    /// Intersection over union with another box.
    pub fn iou(&self, other: &BBox) -> f32 {
        let ix = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let iy = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

impl Serialize for BBox {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(4))?;
        for v in [self.x1, self.y1, self.x2, self.y2] {
            // Round to 1/100 pixel: shorter output, no meaningful precision lost.
            q.serialize_element(&((v as f64 * 100.0).round() / 100.0))?;
        }
        q.end()
    }
}

impl<'de> Deserialize<'de> for BBox {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [x1, y1, x2, y2] = <[f32; 4]>::deserialize(d)?;
        Ok(Self { x1, y1, x2, y2 })
    }
}

/// One detected object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Class name (COCO names for the built-in detectors, e.g. `person`).
    pub class: Label,
    /// Class id as the model numbers it (COCO ids are 1-based for the SSD model).
    pub class_id: u32,
    /// Confidence in `[0, 1]`.
    pub score: f32,
    /// Box in pixels of the source frame.
    #[serde(rename = "box")]
    pub bbox: BBox,
}

/// An area of the frame an analyzer flags (e.g. a grid cell with motion), in pixels of
/// the source frame. Downstream analyzers can restrict their work to these areas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    /// Optional name (a configured zone, or `r{row}c{col}` for grid cells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Label>,
    /// Box in pixels of the source frame.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Strength in `[0, 1]` (e.g. the fraction of changed pixels).
    pub score: f32,
}

/// A tracked object: a detection with an identity that persists across frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Track id: unique among live tracks; ids are not reused while remembered.
    pub id: u64,
    /// Stable slot `1..=N` (`p1..pN`), kept while the track lives and given back to the
    /// same object if it re-enters within the grace period; `None` when all slots are taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
    /// Class name.
    pub class: Label,
    /// Class id.
    pub class_id: u32,
    /// Score of the latest matched detection.
    pub score: f32,
    /// Box in pixels of the source frame (predicted when not matched on this frame).
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Velocity of the box centre, pixels per second of capture time.
    pub velocity: [f32; 2],
    /// Frames since the track started.
    pub age: u32,
    /// Frames on which it was matched to a detection.
    pub hits: u32,
    /// Frames since it was last matched (0 when matched on this frame).
    pub lost: u32,
}

/// A named point of a pose, in pixels of the source frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keypoint {
    /// Name (COCO keypoint names: `nose`, `left_knee`, ...).
    pub name: Label,
    /// X.
    pub x: f32,
    /// Y.
    pub y: f32,
    /// Confidence in `[0, 1]`.
    pub score: f32,
}

/// One person's pose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// The person box the pose was estimated in.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Mean keypoint confidence.
    pub score: f32,
    /// Keypoints in the model's order.
    pub keypoints: Vec<Keypoint>,
    /// Joint angles in degrees (`left_knee`, `right_elbow`, ...) where the three points are
    /// confident.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    pub angles: Values,
    /// The track this person belongs to, when a tracker ran before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
}

/// One face.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Box in pixels of the source frame.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Confidence in `[0, 1]`.
    pub score: f32,
    /// Landmarks (left eye, right eye, nose, left mouth corner, right mouth corner).
    pub landmarks: Vec<[f32; 2]>,
}

/// The payload of an observation. Analyzers fill what they know; empty parts are left
/// out of output records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservationData {
    /// Named scalars, referenced in conditions as `analyzer.value`.
    pub values: Values,
    /// Detected objects.
    pub detections: Vec<Detection>,
    /// Flagged areas.
    pub regions: Vec<Region>,
    /// Tracked objects (confirmed tracks only).
    pub tracks: Vec<Track>,
    /// Poses.
    pub poses: Vec<Pose>,
    /// Faces.
    pub faces: Vec<Face>,
    /// Free-form labels (e.g. `cut` from the scene-cut analyzer).
    pub tags: Vec<Label>,
}

impl ObservationData {
    /// Number of detections of class `class` (all classes when `None`).
    pub fn count(&self, class: Option<&str>) -> usize {
        match class {
            None => self.detections.len(),
            Some(c) => self.detections.iter().filter(|d| d.class == c).count(),
        }
    }

    /// Whether `tag` is present.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// Timing of the analyzer call that produced an observation, on the pipeline's
/// monotonic clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// When the frame was handed to the analyzer's input queue.
    pub queued_ns: u64,
    /// When the analyzer started on it.
    pub started_ns: u64,
    /// How long the analyzer took.
    pub duration_ns: u64,
}

/// What one analyzer said about one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The analyzer that produced it.
    pub analyzer: Name,
    /// The frame's source.
    pub source: Name,
    /// The frame's `seq`.
    pub seq: u64,
    /// The frame's capture time (ns since the Unix epoch).
    pub capture_time_ns: i64,
    /// The frame's arrival time (pipeline monotonic clock).
    pub arrival_ns: u64,
    /// The frame's size in pixels, `(width, height)` (`(0, 0)` when unknown): boxes and
    /// points are in these pixels; sinks normalise with it.
    pub frame_size: (u32, u32),
    /// The payload.
    pub data: ObservationData,
    /// Timing of the analyzer call.
    pub timing: Timing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_replace_and_serialize() {
        let mut v = Values::new().with("score", 0.5);
        v.set("score", 0.25);
        v.set(String::from("region.a"), f64::NAN);
        assert_eq!(v.get("score"), Some(0.25));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"score":0.25,"region.a":null}"#
        );
    }

    #[test]
    fn iou() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
    }

    #[test]
    fn detection_json_contract() {
        let d = Detection {
            class: "person".into(),
            class_id: 1,
            score: 0.9,
            bbox: BBox::new(1.0, 2.0, 3.5, 4.25),
        };
        let s = serde_json::to_string(&d).unwrap();
        assert_eq!(
            s,
            r#"{"class":"person","class_id":1,"score":0.9,"box":[1.0,2.0,3.5,4.25]}"#
        );
        let back: Detection = serde_json::from_str(&s).unwrap();
        assert_eq!(back, d);
    }
}
