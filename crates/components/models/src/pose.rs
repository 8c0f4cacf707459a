//! `pose`: keypoints per person (MoveNet), with joint angles fusion rules can use.
//!
//! People come from an upstream analyzer on the same frame: the tracks of a `track`
//! analyzer (so each pose carries its `track_id` and the person's slot), else the
//! `person` detections of a `detect` analyzer (`persons_from:` names which; default: the
//! last upstream observation with tracks, else with detections). With no upstream
//! analyzer at all, one pose is estimated on the whole frame (a single-person setup such
//! as a coaching app).
//!
//! Each person box is grown to a square with a margin, cropped, resized to the model's
//! input (192x192 for MoveNet Lightning) and run through the model: in one batch when the
//! model's batch dimension is free, else one run per person (the built-in model has a
//! fixed batch of 1).
//!
//! Values: `count`, and the joint angles in degrees of the primary person (the lowest
//! slot when tracked, else the largest box) as `left_knee`, `right_elbow`, ...; when
//! tracked, also `p{slot}.left_knee` and so on for every slotted person.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use visualpath_core::{BBox, Name, Pose};
use visualpath_infer::{
    Device, ElementType as ModelElement, Input, InputData, LoadOptions, Output,
};
use visualpath_sdk::{
    Analyzer, AnalyzerFactory, ComponentError, Frame, ObservationData, Result, SourceInfo,
    Upstream, Values,
};
use visualpath_vision::{
    ColorOrder, CropConfig, ElementType, InputTensor, Layout, MovenetConfig, MovenetDecoder,
    Normalize, PreprocessConfig, Preprocessor, Resize, TensorRef,
};

use crate::load::{Loaded, load, warm_up};
use crate::registry::Family;

fn default_model() -> String {
    "movenet-lightning".into()
}
fn default_class() -> String {
    "person".into()
}
fn default_max_people() -> usize {
    6
}
fn default_margin() -> f32 {
    0.25
}
fn default_min_score() -> f32 {
    0.3
}

/// Settings of the `pose` analyzer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoseConfig {
    /// A built-in model id or a path to an `.onnx` file. Built-in: `movenet-lightning`.
    /// Default `movenet-lightning`.
    #[serde(default = "default_model")]
    pub model: String,
    /// Family of a model given by path: `movenet`. Default: the built-in model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    /// The upstream analyzer (in `after:`) whose tracks or detections give the people.
    /// Default: the last upstream observation with tracks, else with detections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persons_from: Option<Name>,
    /// Class of the objects to estimate poses for. Default `person`.
    #[serde(default = "default_class")]
    pub class: String,
    /// Most people per frame (the largest boxes first). Default `6`.
    #[serde(default = "default_max_people")]
    pub max_people: usize,
    /// Context around each person box, as a fraction of its side. Default `0.25`.
    #[serde(default = "default_margin")]
    pub margin: f32,
    /// Minimum keypoint score for a joint angle to be reported. Default `0.3`.
    #[serde(default = "default_min_score")]
    pub min_keypoint_score: f32,
    /// Where the model runs: `auto`, `cpu`, `cuda:N`, `tensorrt:N`, `openvino`. Default `auto`.
    #[serde(default)]
    pub device: Device,
    /// Threads per inference (0: one per core). Default `0`.
    #[serde(default)]
    pub threads: usize,
}

impl Default for PoseConfig {
    fn default() -> Self {
        Self {
            model: default_model(),
            family: None,
            persons_from: None,
            class: default_class(),
            max_people: default_max_people(),
            margin: default_margin(),
            min_keypoint_score: default_min_score(),
            device: Device::default(),
            threads: 0,
        }
    }
}

/// The analyzer kind, as written in pipeline files.
pub const KIND: &str = "pose";

impl PoseConfig {
    /// Checks ranges (no file access).
    pub fn validate(&self) -> Result<()> {
        let bad = |f: &str, m: String| Err(ComponentError::new(format!("pose: `{f}` {m}")));
        if self.max_people == 0 || self.max_people > 100 {
            return bad(
                "max_people",
                format!("must be between 1 and 100, got {}", self.max_people),
            );
        }
        if !(0.0..=2.0).contains(&self.margin) {
            return bad(
                "margin",
                format!("must be between 0 and 2, got {}", self.margin),
            );
        }
        if !(0.0..=1.0).contains(&self.min_keypoint_score) {
            return bad(
                "min_keypoint_score",
                format!("must be between 0 and 1, got {}", self.min_keypoint_score),
            );
        }
        Ok(())
    }

    /// One line for logs and `visualpath graph`.
    pub fn describe(&self) -> String {
        format!("pose ({}, up to {} people)", self.model, self.max_people)
    }

    /// Loads the model (shared), checks it, warms it up, and returns the factory.
    pub fn build(&self) -> Result<Arc<dyn AnalyzerFactory>> {
        self.validate()?;
        let loaded = load(
            KIND,
            &self.model,
            self.family,
            &[Family::Movenet],
            &LoadOptions {
                device: self.device,
                threads: self.threads,
            },
        )?;
        let info = &loaded.model.info().inputs[0];
        let side = info.shape.get(1).copied().flatten().unwrap_or(192) as u32;
        let dtype = match info.element {
            ModelElement::U8 => ElementType::U8,
            ModelElement::F32 => ElementType::F32,
            _ => ElementType::I32,
        };
        let batchable = info.shape.first().copied().flatten().is_none();
        warm_up(&loaded, &[1, side as usize, side as usize, 3])?;
        let decoder = MovenetDecoder::new(MovenetConfig {
            angles: true,
            angle_min_score: self.min_keypoint_score,
        })
        .map_err(|e| ComponentError::new(format!("pose: {e}")))?;
        Ok(Arc::new(PoseFactory {
            config: self.clone(),
            loaded,
            decoder,
            side,
            dtype,
            batchable,
        }))
    }
}

struct PoseFactory {
    config: PoseConfig,
    loaded: Loaded,
    decoder: MovenetDecoder,
    side: u32,
    dtype: ElementType,
    batchable: bool,
}

impl AnalyzerFactory for PoseFactory {
    fn describe(&self) -> String {
        format!(
            "{} on {}{}",
            self.config.describe(),
            self.loaded.model.describe(),
            if self.batchable { ", batched" } else { "" }
        )
    }

    fn create(&self, _source: &SourceInfo) -> Result<Box<dyn Analyzer>> {
        let pre = Preprocessor::new(PreprocessConfig {
            width: self.side,
            height: self.side,
            resize: Resize::Stretch,
            color: ColorOrder::Rgb,
            layout: Layout::Nhwc,
            dtype: self.dtype,
            normalize: Normalize::None,
            ..Default::default()
        })
        .map_err(|e| ComponentError::new(format!("pose: {e}")))?;
        Ok(Box::new(PoseAnalyzer {
            config: self.config.clone(),
            loaded: self.loaded.clone(),
            decoder: self.decoder.clone(),
            crop: CropConfig {
                margin: self.config.margin,
                ..Default::default()
            },
            pre,
            input: InputTensor::default(),
            outputs: Vec::new(),
        }))
    }
}

struct PoseAnalyzer {
    config: PoseConfig,
    loaded: Loaded,
    decoder: MovenetDecoder,
    crop: CropConfig,
    pre: Preprocessor,
    input: InputTensor,
    outputs: Vec<Output>,
}

/// A person to estimate: box, track id and slot when tracked.
struct Person {
    bbox: BBox,
    track: Option<(u64, Option<u32>)>,
}

impl PoseAnalyzer {
    fn persons(&self, frame: &Frame, upstream: &Upstream<'_>) -> Option<Vec<Person>> {
        let class = self.config.class.as_str();
        let obs = match &self.config.persons_from {
            Some(n) => upstream.get(n.as_str()),
            None => upstream
                .iter()
                .filter(|o| !o.data.tracks.is_empty())
                .last()
                .or_else(|| {
                    upstream
                        .iter()
                        .filter(|o| !o.data.detections.is_empty())
                        .last()
                })
                .or_else(|| upstream.iter().last()),
        };
        let Some(obs) = obs else {
            // No upstream analyzer: the whole frame is one person.
            return if upstream.is_empty() {
                Some(vec![Person {
                    bbox: BBox::new(0.0, 0.0, frame.width() as f32, frame.height() as f32),
                    track: None,
                }])
            } else {
                None
            };
        };
        let mut v: Vec<Person> = if !obs.data.tracks.is_empty() {
            obs.data
                .tracks
                .iter()
                .filter(|t| t.class == class)
                .map(|t| Person {
                    bbox: t.bbox,
                    track: Some((t.id, t.slot)),
                })
                .collect()
        } else {
            obs.data
                .detections
                .iter()
                .filter(|d| d.class == class)
                .map(|d| Person {
                    bbox: d.bbox,
                    track: None,
                })
                .collect()
        };
        v.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
        v.truncate(self.config.max_people);
        Some(v)
    }

    fn estimate(&mut self, frame: &Frame, p: &Person) -> Result<Option<Pose>> {
        let err = |e: &dyn std::fmt::Display| ComponentError::new(format!("pose: {e}"));
        let Some(region) = self.crop.region(&p.bbox, frame.width(), frame.height()) else {
            return Ok(None);
        };
        let t = self
            .pre
            .run_region(&frame.image, region, &mut self.input)
            .map_err(|e| err(&e))?;
        let shape = *self.input.shape();
        let data = match (self.input.as_i32(), self.input.as_u8(), self.input.as_f32()) {
            (Some(d), _, _) => InputData::I32(d),
            (_, Some(d), _) => InputData::U8(d),
            (_, _, Some(d)) => InputData::F32(d),
            _ => return Err(err(&"empty input tensor")),
        };
        self.loaded
            .model
            .run(
                &[Input {
                    shape: &shape,
                    data,
                }],
                &mut self.outputs,
            )
            .map_err(|e| err(&e))?;
        let out = self
            .outputs
            .first()
            .ok_or_else(|| err(&"the model returned no output"))?;
        let mut pose = self
            .decoder
            .decode(
                &TensorRef {
                    shape: &out.shape,
                    data: &out.data,
                },
                &t,
                Some(p.bbox),
            )
            .map_err(|e| err(&e))?;
        pose.track_id = p.track.map(|(id, _)| id);
        Ok(Some(pose))
    }
}

impl Analyzer for PoseAnalyzer {
    fn analyze(&mut self, frame: &Frame, upstream: Upstream<'_>) -> Result<ObservationData> {
        let persons = self.persons(frame, &upstream).unwrap_or_default();
        let mut poses = Vec::with_capacity(persons.len());
        let mut slots = Vec::with_capacity(persons.len());
        for p in &persons {
            if let Some(pose) = self.estimate(frame, p)? {
                slots.push(p.track.and_then(|(_, s)| s));
                poses.push(pose);
            }
        }
        let mut values = Values::new().with("count", poses.len() as f64);
        // The primary person: lowest slot when tracked, else the largest box (first).
        let primary = slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (s, i)))
            .min()
            .map(|(_, i)| i)
            .or(if poses.is_empty() { None } else { Some(0) });
        if let Some(i) = primary {
            for (k, v) in poses[i].angles.iter() {
                values.set(k.to_string(), v);
            }
        }
        for (pose, slot) in poses.iter().zip(&slots) {
            if let Some(s) = slot {
                for (k, v) in pose.angles.iter() {
                    values.set(format!("p{s}.{k}"), v);
                }
            }
        }
        Ok(ObservationData {
            values,
            poses,
            ..Default::default()
        })
    }
}
