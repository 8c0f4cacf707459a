//! `face`: faces with five landmarks (CenterFace).
//!
//! The frame (or `roi`) is resized to `width` pixels wide, keeping its aspect ratio with
//! both sides rounded to multiples of 32 as CenterFace requires, and fed as BGR floats
//! 0-255. Faces come back in source pixels with their landmarks.
//!
//! Values: `count`, `max_size` (height in pixels of the largest face; 0 without faces).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use visualpath_core::BBox;
use visualpath_infer::{Device, Input, InputData, LoadOptions, Output};
use visualpath_sdk::{
    Analyzer, AnalyzerFactory, ComponentError, Frame, ObservationData, Result, SourceInfo,
    Upstream, Values,
};
use visualpath_vision::{
    CenterFaceConfig, CenterFaceDecoder, CenterFaceOutputs, ColorOrder, ElementType, InputTensor,
    Layout, Normalize, PreprocessConfig, Preprocessor, Resize, TensorRef,
};

use crate::load::{Loaded, load, warm_up};
use crate::registry::Family;

fn default_model() -> String {
    "centerface".into()
}
fn default_width() -> u32 {
    640
}
fn default_confidence() -> f32 {
    0.5
}
fn default_nms_iou() -> f32 {
    0.3
}

/// Settings of the `face` analyzer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceConfig {
    /// A built-in model id or a path to an `.onnx` file. Built-in: `centerface`. Default
    /// `centerface`.
    #[serde(default = "default_model")]
    pub model: String,
    /// Family of a model given by path: `centerface`. Default: the built-in model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// Width the frame is resized to before detection (rounded to a multiple of 32, 64 to
    /// 4096); larger finds smaller faces, slower. Default `640`.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Minimum face score, 0..1. Default `0.5`.
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// Overlap above which two face boxes are merged. Default `0.3`.
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
    /// Only look at this part of the frame: `[x1, y1, x2, y2]` in 0..1. Default: everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roi: Option<[f32; 4]>,
    /// Where the model runs: `auto`, `cpu`, `cuda:N`, `tensorrt:N`, `openvino`. Default `auto`.
    #[serde(default)]
    pub device: Device,
    /// Threads per inference (0: one per core). Default `0`.
    #[serde(default)]
    pub threads: usize,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            model: default_model(),
            family: None,
            width: default_width(),
            confidence: default_confidence(),
            nms_iou: default_nms_iou(),
            roi: None,
            device: Device::default(),
            threads: 0,
        }
    }
}

/// The analyzer kind, as written in pipeline files.
pub const KIND: &str = "face";

impl FaceConfig {
    /// Checks ranges (no file access).
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, m: String| Err(ComponentError::new(format!("face: `{f}` {m}")));
        if !(64..=4096).contains(&self.width) {
            return bad(
                "width",
                format!("must be between 64 and 4096, got {}", self.width),
            );
        }
        if !(0.0..=1.0).contains(&self.confidence) {
            return bad(
                "confidence",
                format!("must be between 0 and 1, got {}", self.confidence),
            );
        }
        if !(0.0..=1.0).contains(&self.nms_iou) {
            return bad(
                "nms_iou",
                format!("must be between 0 and 1, got {}", self.nms_iou),
            );
        }
        if let Some([x1, y1, x2, y2]) = self.roi
            && !(0.0 <= x1 && x1 < x2 && x2 <= 1.0 && 0.0 <= y1 && y1 < y2 && y2 <= 1.0)
        {
            return bad(
                "roi",
                "must be [x1, y1, x2, y2] with 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1".into(),
            );
        }
        Ok(())
    }

    /// One line for logs and `visualpath graph`.
    pub fn describe(&self) -> String {
        format!(
            "face ({}, width {}, confidence {})",
            self.model, self.width, self.confidence
        )
    }

    /// Loads the model (shared), checks it, warms it up, and returns the factory.
    pub fn build(&self) -> Result<Arc<dyn AnalyzerFactory>> {
        self.validate()?;
        let loaded = load(
            KIND,
            &self.model,
            self.family,
            &[Family::Centerface],
            &LoadOptions {
                device: self.device,
                threads: self.threads,
            },
        )?;
        let w = round32(self.width);
        warm_up(&loaded, &[1, 3, round32(w * 3 / 4) as usize, w as usize])?;
        let decoder = CenterFaceDecoder::new(CenterFaceConfig {
            confidence: self.confidence,
            nms_iou: self.nms_iou,
            ..Default::default()
        })
        .map_err(|e| ComponentError::new(format!("face: {e}")))?;
        Ok(Arc::new(FaceFactory {
            config: self.clone(),
            loaded,
            decoder,
        }))
    }
}

fn round32(v: u32) -> u32 {
    (v.div_ceil(32) * 32).max(32)
}

struct FaceFactory {
    config: FaceConfig,
    loaded: Loaded,
    decoder: CenterFaceDecoder,
}

impl AnalyzerFactory for FaceFactory {
    fn describe(&self) -> String {
        format!(
            "{} on {}",
            self.config.describe(),
            self.loaded.model.describe()
        )
    }

    fn create(&self, _source: &SourceInfo) -> Result<Box<dyn Analyzer>> {
        Ok(Box::new(FaceAnalyzer {
            config: self.config.clone(),
            loaded: self.loaded.clone(),
            decoder: self.decoder.clone(),
            pre: None,
            input: InputTensor::default(),
            outputs: Vec::new(),
        }))
    }
}

struct FaceAnalyzer {
    config: FaceConfig,
    loaded: Loaded,
    decoder: CenterFaceDecoder,
    pre: Option<(Preprocessor, (u32, u32))>,
    input: InputTensor,
    outputs: Vec<Output>,
}

fn output<'a>(outputs: &'a [Output], i: usize) -> Option<TensorRef<'a>> {
    outputs.get(i).map(|o| TensorRef {
        shape: &o.shape,
        data: &o.data,
    })
}

impl Analyzer for FaceAnalyzer {
    fn analyze(&mut self, frame: &Frame, _upstream: Upstream<'_>) -> Result<ObservationData> {
        let err = |e: &dyn std::fmt::Display| ComponentError::new(format!("face: {e}"));
        let (fw, fh) = (frame.width() as f32, frame.height() as f32);
        let region = match self.config.roi {
            Some([x1, y1, x2, y2]) => BBox::new(x1 * fw, y1 * fh, x2 * fw, y2 * fh),
            None => BBox::new(0.0, 0.0, fw, fh),
        };
        let w = round32(self.config.width);
        let h = round32((w as f32 * region.height() / region.width().max(1.0)).round() as u32);
        if self.pre.as_ref().is_none_or(|(_, s)| *s != (w, h)) {
            let p = Preprocessor::new(PreprocessConfig {
                width: w,
                height: h,
                resize: Resize::Stretch,
                color: ColorOrder::Bgr,
                layout: Layout::Nchw,
                dtype: ElementType::F32,
                normalize: Normalize::None,
                ..Default::default()
            })
            .map_err(|e| err(&e))?;
            self.pre = Some((p, (w, h)));
        }
        let Some((pre, _)) = &mut self.pre else {
            return Err(err(&"no pre-processor"));
        };
        let t = pre
            .run_region(&frame.image, region, &mut self.input)
            .map_err(|e| err(&e))?;
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
            .map_err(|e| err(&e))?;
        let outs = CenterFaceOutputs {
            heatmap: output(&self.outputs, 0).ok_or_else(|| err(&"missing heatmap output"))?,
            scale: output(&self.outputs, 1).ok_or_else(|| err(&"missing scale output"))?,
            offset: output(&self.outputs, 2).ok_or_else(|| err(&"missing offset output"))?,
            landmarks: output(&self.outputs, 3),
        };
        let faces = self.decoder.decode(&outs, &t).map_err(|e| err(&e))?;
        let max_size = faces.iter().map(|f| f.bbox.height()).fold(0.0f32, f32::max);
        Ok(ObservationData {
            values: Values::new()
                .with("count", faces.len() as f64)
                .with("max_size", f64::from(max_size)),
            faces,
            ..Default::default()
        })
    }
}
