//! `detect`: object detection with an ONNX model (SSD or YOLO).
//!
//! Per frame:
//! 1. The region to analyze: the whole frame, or `roi` (normalised), intersected with the
//!    union of the regions an upstream analyzer flagged (`regions_from: motion`: "run the
//!    detector only where motion is"). No region flagged: nothing is run and the
//!    observation reports `count: 0` with the tag `no_regions`.
//! 2. Pre-processing: SSD models take uint8 RGB of any size, so a whole RGB24 frame is
//!    handed to the model as it is (no copy); a region, or another pixel format, is
//!    converted at its own size. YOLO models get a letterboxed float tensor of
//!    `input_size` (default: the model's declared size, else 640x640).
//! 3. Inference on the model session shared by every camera using the same file.
//! 4. Decoding into detections in source-frame pixels, with the class filter and
//!    confidence threshold.
//!
//! Values: `count` (detections kept). Detections carry COCO class names for the built-in
//! model.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use visualpath_core::{BBox, Name, PixelFormat};
use visualpath_infer::{Device, Input, InputData, LoadOptions, Output};
use visualpath_sdk::{
    Analyzer, AnalyzerFactory, ComponentError, Detection, Frame, ObservationData, Result,
    SourceInfo, Upstream, Values,
};
use visualpath_vision::ssd::{SsdConfig, SsdDecoder, SsdOutputs};
use visualpath_vision::yolo::{YoloConfig, YoloDecoder};
use visualpath_vision::{
    ClassRef, ColorOrder, ElementType, InputTensor, Labels, Layout, Normalize, PreprocessConfig,
    Preprocessor, Resize, TensorRef,
};

use crate::load::{Loaded, load, warm_up};
use crate::registry::Family;

fn default_model() -> String {
    "ssd-mobilenet-v2-coco".into()
}
fn default_confidence() -> f32 {
    0.5
}
fn default_nms_iou() -> f32 {
    0.45
}
fn default_max() -> usize {
    100
}

/// Settings of the `detect` analyzer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// A built-in model id or a path to an `.onnx` file. Built-in: `ssd-mobilenet-v2-coco`
    /// (COCO, 80 classes). Default `ssd-mobilenet-v2-coco`.
    #[serde(default = "default_model")]
    pub model: String,
    /// Family of a model given by path: `ssd` or `yolo`. Default: the built-in model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// Class names of a model given by path, in class-id order (YOLO: id 0 first). Default:
    /// COCO-80 names for `yolo`, COCO-90 ids for `ssd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Keep only these classes (names, e.g. `[person, car]`). Default: every class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// Minimum detection score, 0..1. Default `0.5`.
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// Intersection-over-union above which overlapping YOLO boxes are merged (SSD models do
    /// this inside the graph). Default `0.45`.
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
    /// Most detections per frame. Default `100`.
    #[serde(default = "default_max")]
    pub max_detections: usize,
    /// Only look at this part of the frame: `[x1, y1, x2, y2]` in 0..1 of the frame size.
    /// Default: the whole frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roi: Option<[f32; 4]>,
    /// Only look where this upstream analyzer flagged regions on the same frame (e.g.
    /// `motion`); must be in `after:`. Default: everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions_from: Option<Name>,
    /// YOLO input `[width, height]`. Default: the model's declared size, else `[640, 640]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_size: Option<[u32; 2]>,
    /// Where the model runs: `auto`, `cpu`, `cuda:N`, `tensorrt:N`, `openvino`. Default `auto`.
    #[serde(default)]
    pub device: Device,
    /// Threads per inference (0: one per core). Default `0`.
    #[serde(default)]
    pub threads: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            model: default_model(),
            family: None,
            labels: None,
            classes: None,
            confidence: default_confidence(),
            nms_iou: default_nms_iou(),
            max_detections: default_max(),
            roi: None,
            regions_from: None,
            input_size: None,
            device: Device::default(),
            threads: 0,
        }
    }
}

/// The analyzer kind, as written in pipeline files.
pub const KIND: &str = "detect";

fn bad(field: &str, msg: String) -> ComponentError {
    ComponentError::new(format!("detect: `{field}` {msg}"))
}

impl DetectConfig {
    /// Checks ranges (no file access).
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.confidence) {
            return Err(bad(
                "confidence",
                format!("must be between 0 and 1, got {}", self.confidence),
            ));
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return Err(bad(
                "nms_iou",
                format!("must be between 0 and 1, got {}", self.nms_iou),
            ));
        }
        if self.max_detections == 0 || self.max_detections > 10_000 {
            return Err(bad(
                "max_detections",
                format!("must be between 1 and 10000, got {}", self.max_detections),
            ));
        }
        if let Some([x1, y1, x2, y2]) = self.roi
            && !(0.0 <= x1 && x1 < x2 && x2 <= 1.0 && 0.0 <= y1 && y1 < y2 && y2 <= 1.0)
        {
            return Err(bad(
                "roi",
                format!(
                    "must be [x1, y1, x2, y2] with 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1, got {:?}",
                    self.roi.unwrap_or_default()
                ),
            ));
        }
        if let Some([w, h]) = self.input_size
            && !(32..=4096).contains(&w) | !(32..=4096).contains(&h)
        {
            return Err(bad(
                "input_size",
                format!("must be between 32 and 4096, got [{w}, {h}]"),
            ));
        }
        Ok(())
    }

    /// One line for logs and `visualpath graph`.
    pub fn describe(&self) -> String {
        let mut s = format!("detect ({}, confidence {}", self.model, self.confidence);
        if let Some(c) = &self.classes {
            s.push_str(&format!(", classes {}", c.join("/")));
        }
        if let Some(r) = &self.regions_from {
            s.push_str(&format!(", where `{r}` flags regions"));
        }
        s.push(')');
        s
    }

    /// Loads the model (shared), checks it, warms it up, and returns the factory.
    pub fn build(&self) -> Result<Arc<dyn AnalyzerFactory>> {
        self.validate()?;
        let loaded = load(
            KIND,
            &self.model,
            self.family,
            &[Family::Ssd, Family::Yolo],
            &LoadOptions {
                device: self.device,
                threads: self.threads,
            },
        )?;
        let classes: Vec<ClassRef> = self
            .classes
            .iter()
            .flatten()
            .map(|c| ClassRef::Name(c.clone()))
            .collect();
        let labels = match (&self.labels, loaded.resolved.family) {
            (Some(names), _) => Labels::from_names(names.iter().cloned()),
            (None, Family::Yolo) => Labels::coco80(),
            _ => Labels::coco90(),
        };
        let err = |e: &dyn std::fmt::Display| ComponentError::new(format!("detect: {e}"));
        let decoder = match loaded.resolved.family {
            Family::Yolo => {
                let cfg = YoloConfig {
                    confidence: self.confidence,
                    classes: classes.clone(),
                    max_detections: self.max_detections,
                    nms_iou: self.nms_iou,
                    ..Default::default()
                };
                Decoder::Yolo(YoloDecoder::new(cfg, labels).map_err(|e| err(&e))?)
            }
            _ => {
                let cfg = SsdConfig {
                    confidence: self.confidence,
                    classes,
                    max_detections: self.max_detections,
                    ..Default::default()
                };
                Decoder::Ssd(SsdDecoder::new(cfg, labels).map_err(|e| err(&e))?)
            }
        };
        let yolo_size = self.input_size.unwrap_or_else(|| {
            let s = &loaded.model.info().inputs[0].shape;
            match (s.get(3).copied().flatten(), s.get(2).copied().flatten()) {
                (Some(w), Some(h)) => [w as u32, h as u32],
                _ => [640, 640],
            }
        });
        match &decoder {
            Decoder::Yolo(_) => warm_up(
                &loaded,
                &[1, 3, yolo_size[1] as usize, yolo_size[0] as usize],
            )?,
            Decoder::Ssd(_) => warm_up(&loaded, &[1, 240, 320, 3])?,
        }
        Ok(Arc::new(DetectFactory {
            config: self.clone(),
            loaded,
            decoder,
            yolo_size,
        }))
    }
}

#[derive(Clone)]
enum Decoder {
    Ssd(SsdDecoder),
    Yolo(YoloDecoder),
}

struct DetectFactory {
    config: DetectConfig,
    loaded: Loaded,
    decoder: Decoder,
    yolo_size: [u32; 2],
}

impl AnalyzerFactory for DetectFactory {
    fn describe(&self) -> String {
        format!(
            "{} on {}",
            self.config.describe(),
            self.loaded.model.describe()
        )
    }

    fn create(&self, _source: &SourceInfo) -> Result<Box<dyn Analyzer>> {
        Ok(Box::new(Detect {
            config: self.config.clone(),
            loaded: self.loaded.clone(),
            decoder: self.decoder.clone(),
            yolo_size: self.yolo_size,
            pre: None,
            input: InputTensor::default(),
            outputs: Vec::new(),
        }))
    }
}

struct Detect {
    config: DetectConfig,
    loaded: Loaded,
    decoder: Decoder,
    yolo_size: [u32; 2],
    /// Pre-processor and the region size it was built for.
    pre: Option<(Preprocessor, (u32, u32))>,
    input: InputTensor,
    outputs: Vec<Output>,
}

fn out_ref<'a>(outputs: &'a [Output], part: &str) -> Option<TensorRef<'a>> {
    outputs
        .iter()
        .find(|o| o.name.contains(part))
        .map(|o| TensorRef {
            shape: &o.shape,
            data: &o.data,
        })
}

impl Detect {
    /// The region to analyze, or `None` when there is nothing to look at.
    fn region(&self, frame: &Frame, upstream: &Upstream<'_>) -> Option<BBox> {
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        let mut r = match self.config.roi {
            Some([x1, y1, x2, y2]) => BBox::new(x1 * w, y1 * h, x2 * w, y2 * h),
            None => BBox::new(0.0, 0.0, w, h),
        };
        if let Some(src) = &self.config.regions_from {
            let regions = upstream
                .get(src.as_str())
                .map(|o| o.data.regions.as_slice())
                .unwrap_or(&[]);
            let mut union: Option<BBox> = None;
            for g in regions {
                union = Some(match union {
                    None => g.bbox,
                    Some(u) => BBox::new(
                        u.x1.min(g.bbox.x1),
                        u.y1.min(g.bbox.y1),
                        u.x2.max(g.bbox.x2),
                        u.y2.max(g.bbox.y2),
                    ),
                });
            }
            let u = union?;
            r = BBox::new(
                r.x1.max(u.x1),
                r.y1.max(u.y1),
                r.x2.min(u.x2),
                r.y2.min(u.y2),
            );
        }
        // Whole pixels, at least 16 x 16.
        let r = BBox::new(
            r.x1.floor().max(0.0),
            r.y1.floor().max(0.0),
            r.x2.ceil().min(w),
            r.y2.ceil().min(h),
        );
        (r.width() >= 16.0 && r.height() >= 16.0).then_some(r)
    }
}

/// The cached pre-processor for `size`, rebuilt when the size changes.
fn preprocessor(
    slot: &mut Option<(Preprocessor, (u32, u32))>,
    size: (u32, u32),
    cfg: impl FnOnce() -> PreprocessConfig,
) -> Result<&mut Preprocessor> {
    if slot.as_ref().is_none_or(|(_, s)| *s != size) {
        let p =
            Preprocessor::new(cfg()).map_err(|e| ComponentError::new(format!("detect: {e}")))?;
        *slot = Some((p, size));
    }
    match slot {
        Some((p, _)) => Ok(p),
        None => unreachable!("set above"),
    }
}

impl Analyzer for Detect {
    fn analyze(&mut self, frame: &Frame, upstream: Upstream<'_>) -> Result<ObservationData> {
        let Some(region) = self.region(frame, &upstream) else {
            return Ok(ObservationData {
                values: Values::new().with("count", 0.0),
                tags: vec!["no_regions".into()],
                ..Default::default()
            });
        };
        let whole = region.x1 == 0.0
            && region.y1 == 0.0
            && region.x2 == frame.width() as f32
            && region.y2 == frame.height() as f32;
        let img = &frame.image;
        let run_err = |e: &dyn std::fmt::Display| ComponentError::new(format!("detect: {e}"));
        let detections: Vec<Detection> = match self.decoder.clone() {
            Decoder::Ssd(decoder) => {
                let direct = whole
                    && img.format() == PixelFormat::Rgb24
                    && img.stride() == img.width() as usize * 3;
                let (transform, shape) = if direct {
                    (None, [1, img.height() as usize, img.width() as usize, 3])
                } else {
                    let size = (region.width() as u32, region.height() as u32);
                    let p = preprocessor(&mut self.pre, size, || PreprocessConfig {
                        width: size.0,
                        height: size.1,
                        resize: Resize::Stretch,
                        color: ColorOrder::Rgb,
                        layout: Layout::Nhwc,
                        dtype: ElementType::U8,
                        normalize: Normalize::None,
                        ..Default::default()
                    })?;
                    let t = p
                        .run_region(img, region, &mut self.input)
                        .map_err(|e| run_err(&e))?;
                    (Some(t), *self.input.shape())
                };
                let data = if direct {
                    img.data()
                } else {
                    self.input.as_u8().unwrap_or(&[])
                };
                let n: usize = shape.iter().product();
                self.loaded
                    .model
                    .run(
                        &[Input {
                            shape: &shape,
                            data: InputData::U8(&data[..n]),
                        }],
                        &mut self.outputs,
                    )
                    .map_err(|e| run_err(&e))?;
                let transform = transform.unwrap_or_else(|| {
                    visualpath_vision::Transform::identity(img.width(), img.height())
                });
                let outs = SsdOutputs {
                    boxes: out_ref(&self.outputs, "boxes")
                        .ok_or_else(|| run_err(&"the model has no boxes output"))?,
                    scores: out_ref(&self.outputs, "scores")
                        .ok_or_else(|| run_err(&"the model has no scores output"))?,
                    classes: out_ref(&self.outputs, "classes")
                        .ok_or_else(|| run_err(&"the model has no classes output"))?,
                    num_detections: out_ref(&self.outputs, "num_detections"),
                };
                decoder.decode(&outs, &transform).map_err(|e| run_err(&e))?
            }
            Decoder::Yolo(mut decoder) => {
                let [w, h] = self.yolo_size;
                let p = preprocessor(&mut self.pre, (w, h), || PreprocessConfig {
                    width: w,
                    height: h,
                    resize: Resize::default(),
                    color: ColorOrder::Rgb,
                    layout: Layout::Nchw,
                    dtype: ElementType::F32,
                    normalize: Normalize::Unit,
                    ..Default::default()
                })?;
                let t = p
                    .run_region(img, region, &mut self.input)
                    .map_err(|e| run_err(&e))?;
                let shape = *self.input.shape();
                let data = self.input.as_f32().unwrap_or(&[]);
                self.loaded
                    .model
                    .run(
                        &[Input {
                            shape: &shape,
                            data: InputData::F32(data),
                        }],
                        &mut self.outputs,
                    )
                    .map_err(|e| run_err(&e))?;
                let out = self
                    .outputs
                    .first()
                    .ok_or_else(|| run_err(&"the model returned no output"))?;
                decoder
                    .decode(
                        &TensorRef {
                            shape: &out.shape,
                            data: &out.data,
                        },
                        &t,
                    )
                    .map_err(|e| run_err(&e))?
            }
        };
        Ok(ObservationData {
            values: Values::new().with("count", detections.len() as f64),
            detections,
            ..Default::default()
        })
    }
}
