//! Decoder for TensorFlow Object Detection API exports (SSD-MobileNet and friends) with
//! post-processing (NMS) inside the graph.
//!
//! Outputs, as exported:
//!
//! | tensor            | shape       | content                                                   |
//! |-------------------|-------------|-----------------------------------------------------------|
//! | `detection_boxes`   | `[1, N, 4]` | `ymin, xmin, ymax, xmax`, fractions of the model input      |
//! | `detection_scores`  | `[1, N]`    | score, highest first                                      |
//! | `detection_classes` | `[1, N]`    | class id as a float, 1-based COCO-90 ([`crate::COCO90`])   |
//! | `num_detections`    | `[1]`       | number of valid rows (float); optional                     |
//!
//! Semantics: the first `num_detections` rows (all `N` when absent; a count outside
//! `0..=N` is clamped, a non-finite count is an error) are read; a row is kept when its
//! score is `>= confidence`, its class (rounded to the nearest integer) passes the class
//! filter and its box is finite. Boxes are scaled by the model input size (from the
//! [`Transform`]), optionally passed through an extra NMS in model-input space, sorted by
//! score (stable), cut to `max_detections`, and mapped to source pixels (clamped).

use visualpath_core::{BBox, Detection};

use crate::error::{ConfigError, DecodeError};
use crate::labels::{ClassFilter, ClassRef, Labels};
use crate::nms::{Candidate, NmsMode, nms};
use crate::tensor::TensorRef;
use crate::transform::Transform;
use crate::util::{check_fraction, check_max_detections, check_shape, finite4};

const NAME: &str = "ssd";

/// Settings of the SSD decoder.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SsdConfig {
    /// Minimum score of a detection, 0-1. Default `0.5`.
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// Classes to keep, by name (`person`) or COCO-90 id (`1`); empty keeps all.
    /// Default `[]`.
    #[serde(default)]
    pub classes: Vec<ClassRef>,
    /// Most detections reported per frame (the highest scores), 1-10000. Default `100`.
    #[serde(default = "default_max_detections")]
    pub max_detections: usize,
    /// IoU threshold (0-1) of an extra NMS on top of the graph's own; `null` for none.
    /// Default `null`.
    #[serde(default)]
    pub nms_iou: Option<f32>,
    /// Whether the extra NMS compares boxes of all classes (`class_agnostic`) or only of
    /// the same class (`class_aware`). Default `class_aware`.
    #[serde(default)]
    pub nms_mode: NmsMode,
}

fn default_confidence() -> f32 {
    0.5
}

fn default_max_detections() -> usize {
    100
}

impl Default for SsdConfig {
    fn default() -> Self {
        Self {
            confidence: default_confidence(),
            classes: Vec::new(),
            max_detections: default_max_detections(),
            nms_iou: None,
            nms_mode: NmsMode::default(),
        }
    }
}

/// The output tensors of an SSD model.
#[derive(Debug, Clone, Copy)]
pub struct SsdOutputs<'a> {
    /// `detection_boxes`, `[1, N, 4]`.
    pub boxes: TensorRef<'a>,
    /// `detection_scores`, `[1, N]`.
    pub scores: TensorRef<'a>,
    /// `detection_classes`, `[1, N]`.
    pub classes: TensorRef<'a>,
    /// `num_detections`, `[1]` (or a scalar `[]`); `None` reads all `N` rows.
    pub num_detections: Option<TensorRef<'a>>,
}

/// Decodes SSD outputs into detections in source pixels.
#[derive(Debug, Clone)]
pub struct SsdDecoder {
    config: SsdConfig,
    labels: Labels,
    filter: ClassFilter,
}

impl SsdDecoder {
    /// Validates the settings and resolves the class filter against `labels`
    /// (normally [`Labels::coco90`]).
    pub fn new(config: SsdConfig, labels: Labels) -> Result<Self, ConfigError> {
        check_fraction(NAME, "confidence", config.confidence)?;
        if let Some(iou) = config.nms_iou {
            check_fraction(NAME, "nms_iou", iou)?;
        }
        check_max_detections(NAME, config.max_detections)?;
        let filter = ClassFilter::new(NAME, &config.classes, &labels)?;
        Ok(Self {
            config,
            labels,
            filter,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SsdConfig {
        &self.config
    }

    /// Decodes one frame's outputs; `transform` is the pre-processor's
    /// `image_from_model_input`.
    pub fn decode(
        &self,
        outputs: &SsdOutputs<'_>,
        transform: &Transform,
    ) -> Result<Vec<Detection>, DecodeError> {
        let b = &outputs.boxes;
        check_shape(NAME, "detection_boxes", b, "[1, N, 4]", |s| {
            matches!(s, [1, _, 4])
        })?;
        let n = b.shape[1];
        let expected = format!("[1, {n}] (N = {n} from detection_boxes)");
        check_shape(NAME, "detection_scores", &outputs.scores, &expected, |s| {
            s == [1, n]
        })?;
        check_shape(
            NAME,
            "detection_classes",
            &outputs.classes,
            &expected,
            |s| s == [1, n],
        )?;
        let count = match &outputs.num_detections {
            None => n,
            Some(t) => {
                check_shape(NAME, "num_detections", t, "[1]", |s| matches!(s, [1] | []))?;
                let v = t.data[0];
                if !v.is_finite() {
                    return Err(DecodeError::new(
                        NAME,
                        format!("num_detections is {v}, expected a count from 0 to {n}"),
                    ));
                }
                (v.max(0.0) as usize).min(n)
            }
        };
        let (in_w, in_h) = (transform.from_width as f32, transform.from_height as f32);
        let mut candidates = Vec::new();
        for i in 0..count {
            let score = outputs.scores.data[i];
            if score.is_nan() || score < self.config.confidence {
                continue;
            }
            let class = outputs.classes.data[i].round();
            if !(0.0..=u32::MAX as f32).contains(&class) {
                continue;
            }
            let class_id = class as u32;
            if !self.filter.allows(class_id) {
                continue;
            }
            let r = &b.data[i * 4..i * 4 + 4];
            let (ymin, xmin, ymax, xmax) = (r[0], r[1], r[2], r[3]);
            let bbox = BBox::new(xmin * in_w, ymin * in_h, xmax * in_w, ymax * in_h);
            if !finite4([bbox.x1, bbox.y1, bbox.x2, bbox.y2]) {
                continue;
            }
            candidates.push(Candidate {
                bbox,
                score,
                class_id,
            });
        }
        match self.config.nms_iou {
            Some(iou) => nms(
                &mut candidates,
                iou,
                self.config.nms_mode,
                self.config.max_detections,
            ),
            None => {
                candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
                candidates.truncate(self.config.max_detections);
            }
        }
        Ok(candidates
            .into_iter()
            .map(|c| Detection {
                class: self.labels.label(c.class_id),
                class_id: c.class_id,
                score: c.score,
                bbox: transform.map_box(&c.bbox),
            })
            .collect())
    }
}
