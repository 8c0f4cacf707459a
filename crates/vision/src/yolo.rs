//! Decoder for YOLO detection heads exported without NMS (Ultralytics YOLOv5, YOLOv8,
//! YOLO11 ONNX exports).
//!
//! # Layouts
//!
//! | layout | shape           | per candidate                                              | score         |
//! |--------|-----------------|------------------------------------------------------------|---------------|
//! | `v8`   | `[1, 4+nc, N]`  | `cx, cy, w, h` (model-input pixels), then `nc` class scores | max class     |
//! | `v5`   | `[1, N, 5+nc]`  | `cx, cy, w, h, objectness`, then `nc` class scores          | obj x max cls |
//!
//! `v8` is also YOLO11's head. The class count `nc` must equal the number of labels.
//!
//! **Auto-detection** (`layout: auto`, the default), for a shape `[1, A, B]` and `L`
//! labels: if exactly one of `A == 4 + L` (v8) and `B == 5 + L` (v5) holds, that layout;
//! if both hold, the smaller of `A` and `B` is the attribute axis (`A <= B`: v8, else
//! v5), since real heads have far more candidates than attributes; if neither holds, an
//! error names the shape and what was expected.
//!
//! # Semantics
//!
//! Each candidate takes its best class (argmax; the earliest class wins a tie) and that
//! class's score (times objectness for v5); the class filter applies to that best class,
//! as Ultralytics does. For v5 a candidate whose objectness is below `confidence` is
//! skipped first (exact when class scores are at most 1). Candidates with score
//! `>= confidence`, a finite box and a passing class go through greedy NMS in
//! model-input space ([`mod@crate::nms`]; class-aware by default, strict `IoU >
//! nms_iou`), which stops at `max_detections`; boxes are then mapped to source pixels
//! (clamped).

use visualpath_core::{BBox, Detection};

use crate::error::{ConfigError, DecodeError};
use crate::labels::{ClassFilter, ClassRef, Labels};
use crate::nms::{Candidate, NmsMode, nms};
use crate::tensor::TensorRef;
use crate::transform::Transform;
use crate::util::{check_fraction, check_max_detections, finite4, shape_error};

const NAME: &str = "yolo";

/// Output layout of a YOLO head.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum YoloLayout {
    /// Detect from the shape (see the module docs).
    #[default]
    Auto,
    /// `[1, 4+nc, N]`, no objectness (YOLOv8, YOLO11).
    V8,
    /// `[1, N, 5+nc]`, with objectness (YOLOv5).
    V5,
}

/// Settings of the YOLO decoder.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct YoloConfig {
    /// Minimum score of a detection, 0-1. Default `0.25`.
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// Classes to keep, by name (`person`) or 0-based id (`0`); empty keeps all.
    /// Default `[]`.
    #[serde(default)]
    pub classes: Vec<ClassRef>,
    /// Most detections reported per frame (the highest scores), 1-10000. Default `100`.
    #[serde(default = "default_max_detections")]
    pub max_detections: usize,
    /// NMS IoU threshold, 0-1: a box overlapping a better kept box by more is dropped.
    /// Default `0.45`.
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
    /// `class_aware` (only boxes of the same class suppress each other) or
    /// `class_agnostic`. Default `class_aware`.
    #[serde(default)]
    pub nms_mode: NmsMode,
    /// Output layout: `auto`, `v8` or `v5`. Default `auto`.
    #[serde(default)]
    pub layout: YoloLayout,
}

fn default_confidence() -> f32 {
    0.25
}

fn default_max_detections() -> usize {
    100
}

fn default_nms_iou() -> f32 {
    0.45
}

impl Default for YoloConfig {
    fn default() -> Self {
        Self {
            confidence: default_confidence(),
            classes: Vec::new(),
            max_detections: default_max_detections(),
            nms_iou: default_nms_iou(),
            nms_mode: NmsMode::default(),
            layout: YoloLayout::default(),
        }
    }
}

/// Decodes YOLO outputs into detections in source pixels. Holds scratch buffers that are
/// reused across frames.
#[derive(Debug, Clone)]
pub struct YoloDecoder {
    config: YoloConfig,
    labels: Labels,
    filter: ClassFilter,
    best_score: Vec<f32>,
    candidates: Vec<Candidate>,
}

impl YoloDecoder {
    /// Validates the settings and resolves the class filter against `labels` (normally
    /// [`Labels::coco80`]; one label per model class).
    pub fn new(config: YoloConfig, labels: Labels) -> Result<Self, ConfigError> {
        check_fraction(NAME, "confidence", config.confidence)?;
        check_fraction(NAME, "nms_iou", config.nms_iou)?;
        check_max_detections(NAME, config.max_detections)?;
        if labels.is_empty() {
            return Err(ConfigError::new(
                NAME,
                "the label list is empty, expected one label per model class",
            ));
        }
        let filter = ClassFilter::new(NAME, &config.classes, &labels)?;
        Ok(Self {
            config,
            labels,
            filter,
            best_score: Vec::new(),
            candidates: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &YoloConfig {
        &self.config
    }

    /// The layout of an output of shape `shape` under the configured rule.
    pub fn layout_of(&self, shape: &[usize]) -> Result<YoloLayout, DecodeError> {
        let l = self.labels.len();
        let expected = format!("[1, 4+nc, N] or [1, N, 5+nc] with nc = {l} (the number of labels)");
        let &[1, a, b] = shape else {
            return Err(shape_error(NAME, "output 0", shape, &expected));
        };
        let v8 = a == 4 + l;
        let v5 = b == 5 + l;
        let layout = match (self.config.layout, v8, v5) {
            (YoloLayout::V8, true, _) | (YoloLayout::Auto, true, false) => YoloLayout::V8,
            (YoloLayout::V5, _, true) | (YoloLayout::Auto, false, true) => YoloLayout::V5,
            (YoloLayout::Auto, true, true) if a <= b => YoloLayout::V8,
            (YoloLayout::Auto, true, true) => YoloLayout::V5,
            (YoloLayout::V8, false, _) => {
                return Err(shape_error(
                    NAME,
                    "output 0",
                    shape,
                    &format!("[1, 4+{l}, N] (layout v8, {l} labels)"),
                ));
            }
            (YoloLayout::V5, _, false) => {
                return Err(shape_error(
                    NAME,
                    "output 0",
                    shape,
                    &format!("[1, N, 5+{l}] (layout v5, {l} labels)"),
                ));
            }
            (YoloLayout::Auto, false, false) => {
                return Err(shape_error(NAME, "output 0", shape, &expected));
            }
        };
        Ok(layout)
    }

    /// Decodes one frame's output; `transform` is the pre-processor's
    /// `image_from_model_input`.
    pub fn decode(
        &mut self,
        output: &TensorRef<'_>,
        transform: &Transform,
    ) -> Result<Vec<Detection>, DecodeError> {
        output.check_len(NAME, "output 0")?;
        let layout = self.layout_of(output.shape)?;
        let nc = self.labels.len();
        let conf = self.config.confidence;
        self.candidates.clear();
        match layout {
            YoloLayout::V5 => self.collect_v5(output.data, nc, conf),
            _ => self.collect_v8(output.data, nc, conf),
        }
        nms(
            &mut self.candidates,
            self.config.nms_iou,
            self.config.nms_mode,
            self.config.max_detections,
        );
        Ok(self
            .candidates
            .iter()
            .map(|c| Detection {
                class: self.labels.label(c.class_id),
                class_id: c.class_id,
                score: c.score,
                bbox: transform.map_box(&c.bbox),
            })
            .collect())
    }

    /// `[1, 4+nc, N]`: rows are attributes. The best score per candidate is found row by
    /// row (contiguous, vectorisable reads into a scratch array of `N`); only candidates
    /// that pass the threshold then look up their best class (a strided scan).
    fn collect_v8(&mut self, data: &[f32], nc: usize, conf: f32) {
        let n = data.len() / (4 + nc);
        if n == 0 {
            return;
        }
        let row = |k: usize| &data[k * n..(k + 1) * n];
        self.best_score.clear();
        self.best_score.extend_from_slice(row(4));
        for c in 1..nc {
            for (s, &v) in self.best_score.iter_mut().zip(row(4 + c)) {
                *s = if v > *s { v } else { *s };
            }
        }
        let (cx, cy, w, h) = (row(0), row(1), row(2), row(3));
        for (i, &score) in self.best_score.iter().enumerate() {
            if score.is_nan() || score < conf {
                continue;
            }
            // The earliest class holding the best score (the same strict `>` scan).
            let mut class_id = 0;
            let mut best = data[4 * n + i];
            for c in 1..nc {
                let v = data[(4 + c) * n + i];
                if v > best {
                    best = v;
                    class_id = c as u32;
                }
            }
            if let Some(c) = candidate(&self.filter, [cx[i], cy[i], w[i], h[i]], score, class_id) {
                self.candidates.push(c);
            }
        }
    }

    /// `[1, N, 5+nc]`: one contiguous row per candidate.
    fn collect_v5(&mut self, data: &[f32], nc: usize, conf: f32) {
        for r in data.chunks_exact(5 + nc) {
            let obj = r[4];
            if obj.is_nan() || obj < conf {
                continue;
            }
            let mut best = 0;
            for c in 1..nc {
                if r[5 + c] > r[5 + best] {
                    best = c;
                }
            }
            let score = obj * r[5 + best];
            if score >= conf
                && let Some(c) =
                    candidate(&self.filter, [r[0], r[1], r[2], r[3]], score, best as u32)
            {
                self.candidates.push(c);
            }
        }
    }
}

/// A candidate from `cx, cy, w, h`, if finite and its class passes.
fn candidate(
    filter: &ClassFilter,
    [cx, cy, w, h]: [f32; 4],
    score: f32,
    class_id: u32,
) -> Option<Candidate> {
    if !filter.allows(class_id) {
        return None;
    }
    let bbox = BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0);
    finite4([bbox.x1, bbox.y1, bbox.x2, bbox.y2]).then_some(Candidate {
        bbox,
        score,
        class_id,
    })
}

impl std::fmt::Display for YoloLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::V8 => "v8",
            Self::V5 => "v5",
        })
    }
}
