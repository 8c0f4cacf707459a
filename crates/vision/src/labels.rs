//! Class labels: the COCO label maps and class filters.
//!
//! - [`COCO90`]: the TensorFlow Object Detection API numbering, ids `1..=90`; ten ids
//!   (12, 26, 29, 30, 45, 66, 68, 69, 71, 83) were dropped from the released dataset
//!   and have no name.
//! - [`COCO80`]: the same 80 names, 0-based and contiguous, as YOLO models number them.
//!
//! Detections of an id without a name are labelled `class_<id>`.

use std::borrow::Cow;

use visualpath_core::observation::Label;

use crate::error::ConfigError;

/// COCO class names by TensorFlow Object Detection API id (index = id; index 0 and the
/// ten unused ids are `None`).
pub const COCO90: [Option<&str>; 91] = [
    None,
    Some("person"),
    Some("bicycle"),
    Some("car"),
    Some("motorcycle"),
    Some("airplane"),
    Some("bus"),
    Some("train"),
    Some("truck"),
    Some("boat"),
    Some("traffic light"),
    Some("fire hydrant"),
    None,
    Some("stop sign"),
    Some("parking meter"),
    Some("bench"),
    Some("bird"),
    Some("cat"),
    Some("dog"),
    Some("horse"),
    Some("sheep"),
    Some("cow"),
    Some("elephant"),
    Some("bear"),
    Some("zebra"),
    Some("giraffe"),
    None,
    Some("backpack"),
    Some("umbrella"),
    None,
    None,
    Some("handbag"),
    Some("tie"),
    Some("suitcase"),
    Some("frisbee"),
    Some("skis"),
    Some("snowboard"),
    Some("sports ball"),
    Some("kite"),
    Some("baseball bat"),
    Some("baseball glove"),
    Some("skateboard"),
    Some("surfboard"),
    Some("tennis racket"),
    Some("bottle"),
    None,
    Some("wine glass"),
    Some("cup"),
    Some("fork"),
    Some("knife"),
    Some("spoon"),
    Some("bowl"),
    Some("banana"),
    Some("apple"),
    Some("sandwich"),
    Some("orange"),
    Some("broccoli"),
    Some("carrot"),
    Some("hot dog"),
    Some("pizza"),
    Some("donut"),
    Some("cake"),
    Some("chair"),
    Some("couch"),
    Some("potted plant"),
    Some("bed"),
    None,
    Some("dining table"),
    None,
    None,
    Some("toilet"),
    None,
    Some("tv"),
    Some("laptop"),
    Some("mouse"),
    Some("remote"),
    Some("keyboard"),
    Some("cell phone"),
    Some("microwave"),
    Some("oven"),
    Some("toaster"),
    Some("sink"),
    Some("refrigerator"),
    None,
    Some("book"),
    Some("clock"),
    Some("vase"),
    Some("scissors"),
    Some("teddy bear"),
    Some("hair drier"),
    Some("toothbrush"),
];

/// The 80 COCO class names in YOLO order (index = class id).
pub const COCO80: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];

/// Class names by id (`0..len()`; some ids may have no name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    names: Vec<Option<Label>>,
}

impl Labels {
    /// The TensorFlow Object Detection API COCO map (ids 1..=90, 80 named).
    pub fn coco90() -> Self {
        Self {
            names: COCO90.iter().map(|n| n.map(Cow::Borrowed)).collect(),
        }
    }

    /// The YOLO COCO list (ids 0..=79).
    pub fn coco80() -> Self {
        Self {
            names: COCO80.iter().map(|n| Some(Cow::Borrowed(*n))).collect(),
        }
    }

    /// Custom names, ids `0..names.len()`.
    pub fn from_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self {
            names: names
                .into_iter()
                .map(|n| Some(Cow::Owned(n.into())))
                .collect(),
        }
    }

    /// Number of ids (`max id + 1`): 91 for COCO-90, 80 for COCO-80.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no ids.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name of `id`.
    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize)?.as_deref()
    }

    /// The id of `name` (exact match).
    pub fn id(&self, name: &str) -> Option<u32> {
        self.names
            .iter()
            .position(|n| n.as_deref() == Some(name))
            .map(|i| i as u32)
    }

    /// The label reported for `id`: its name, or `class_<id>`.
    pub fn label(&self, id: u32) -> Label {
        match self.names.get(id as usize) {
            Some(Some(n)) => n.clone(),
            _ => Cow::Owned(format!("class_{id}")),
        }
    }

    /// All names, for error messages.
    fn listing(&self) -> String {
        let names: Vec<&str> = self.names.iter().filter_map(|n| n.as_deref()).collect();
        names.join(", ")
    }
}

/// A class in a filter: a numeric id as the model numbers it, or a name.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(untagged)]
pub enum ClassRef {
    /// A class id (`1` is `person` for SSD COCO-90, `0` for YOLO COCO-80).
    Id(u32),
    /// A class name (`person`).
    Name(String),
}

/// A resolved class filter: which ids are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClassFilter {
    /// `None`: all classes; otherwise `allowed[id]`.
    allowed: Option<Vec<bool>>,
}

impl ClassFilter {
    /// Resolves `classes` against `labels`; an empty list keeps every class.
    pub(crate) fn new(
        decoder: &'static str,
        classes: &[ClassRef],
        labels: &Labels,
    ) -> Result<Self, ConfigError> {
        if classes.is_empty() {
            return Ok(Self { allowed: None });
        }
        let mut allowed = vec![false; labels.len()];
        for c in classes {
            let id = match c {
                ClassRef::Id(id) => {
                    if *id as usize >= labels.len() {
                        return Err(ConfigError::new(
                            decoder,
                            format!(
                                "class id {id} is out of range (this label map has ids 0 to {})",
                                labels.len().saturating_sub(1)
                            ),
                        ));
                    }
                    *id
                }
                ClassRef::Name(name) => labels.id(name).ok_or_else(|| {
                    ConfigError::new(
                        decoder,
                        format!("unknown class `{name}` (known: {})", labels.listing()),
                    )
                })?,
            };
            allowed[id as usize] = true;
        }
        Ok(Self {
            allowed: Some(allowed),
        })
    }

    /// Whether `id` passes.
    pub(crate) fn allows(&self, id: u32) -> bool {
        match &self.allowed {
            None => true,
            Some(a) => a.get(id as usize).copied().unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_maps_agree() {
        let named: Vec<&str> = COCO90.iter().flatten().copied().collect();
        assert_eq!(named, COCO80);
        let unused: Vec<usize> = (1..91).filter(|&i| COCO90[i].is_none()).collect();
        assert_eq!(unused, [12, 26, 29, 30, 45, 66, 68, 69, 71, 83]);
        let l = Labels::coco90();
        assert_eq!(l.name(1), Some("person"));
        assert_eq!(l.name(90), Some("toothbrush"));
        assert_eq!(l.name(12), None);
        assert_eq!(l.label(12), "class_12");
        assert_eq!(l.label(1000), "class_1000");
        assert_eq!(l.id("dog"), Some(18));
        let y = Labels::coco80();
        assert_eq!(
            (y.len(), y.id("dog"), y.name(0)),
            (80, Some(16), Some("person"))
        );
        let c = Labels::from_names(["helmet", "vest"]);
        assert_eq!((c.len(), c.label(1)), (2, Cow::Borrowed("vest")));
    }

    #[test]
    fn filters_resolve_names_and_ids() {
        let l = Labels::coco90();
        let f =
            ClassFilter::new("ssd", &[ClassRef::Name("car".into()), ClassRef::Id(1)], &l).unwrap();
        assert!(f.allows(1) && f.allows(3) && !f.allows(2) && !f.allows(500));
        assert!(ClassFilter::new("ssd", &[], &l).unwrap().allows(77));
        let e = ClassFilter::new("ssd", &[ClassRef::Name("persn".into())], &l).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("ssd: unknown class `persn` (known: person, bicycle,"),
            "{e}"
        );
        let e = ClassFilter::new("yolo", &[ClassRef::Id(80)], &Labels::coco80()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "yolo: class id 80 is out of range (this label map has ids 0 to 79)"
        );
        let parsed: Vec<ClassRef> = serde_json::from_str(r#"["person", 3]"#).unwrap();
        assert_eq!(parsed, [ClassRef::Name("person".into()), ClassRef::Id(3)]);
    }
}
