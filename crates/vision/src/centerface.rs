//! Decoder for CenterFace (anchor-free face detector with five landmarks).
//!
//! Outputs for a `W` x `H` model input (both multiples of 32), at stride 4
//! (`h = H / 4`, `w = W / 4`):
//!
//! | tensor      | shape          | content                                                   |
//! |-------------|----------------|-----------------------------------------------------------|
//! | `heatmap`   | `[1, 1, h, w]` | face-centre probability per cell                          |
//! | `scale`     | `[1, 2, h, w]` | log box size: channel 0 height, channel 1 width           |
//! | `offset`    | `[1, 2, h, w]` | sub-cell centre offset: channel 0 y, channel 1 x          |
//! | `landmarks` | `[1, 10, h, w]`| per landmark `j`: channel `2j` y, `2j+1` x, box-relative  |
//!
//! # Decoding (our formulation of the published method)
//!
//! A cell `(row, col)` is a candidate when its heatmap value `p` is `>= confidence` and
//! not smaller than any of its (up to 8) neighbours: a 3x3 peak, which removes the
//! duplicate neighbours of each face before NMS. For a candidate, in model-input pixels:
//!
//! - centre `cx = 4 (col + offset_x + 0.5)`, `cy = 4 (row + offset_y + 0.5)`;
//! - size `bw = 4 exp(scale_w)`, `bh = 4 exp(scale_h)` (the scale maps are log-encoded);
//! - box `[cx - bw/2, cy - bh/2, cx + bw/2, cy + bh/2]`, score `p`;
//! - landmark `j` at `(x1 + lm[2j+1] * bw, y1 + lm[2j] * bh)` with `(x1, y1)` the box's
//!   top-left corner. (The reference demo clamps the corner to the image before adding
//!   the landmark offsets, which shifts landmarks of faces cut by the border; we use the
//!   unclamped corner.)
//!
//! Candidates go through class-agnostic greedy NMS (`IoU > nms_iou`, default 0.3 as
//! published) in model-input space, stopping at `max_detections`; boxes and landmarks
//! are then mapped to source pixels (clamped). Candidates with non-finite values (e.g.
//! `exp` overflow) are skipped. The landmark tensor is optional (models exported without
//! it give faces with no landmarks).

use std::cmp::Ordering;

use visualpath_core::{BBox, Face};

use crate::error::{ConfigError, DecodeError};
use crate::nms::{NmsMode, nms_by};
use crate::tensor::TensorRef;
use crate::transform::Transform;
use crate::util::{check_fraction, check_max_detections, check_shape, finite4};

const NAME: &str = "centerface";
const STRIDE: f32 = 4.0;

/// Settings of the CenterFace decoder.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CenterFaceConfig {
    /// Minimum heatmap value of a face, 0-1. Default `0.5`.
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// NMS IoU threshold, 0-1. Default `0.3`.
    #[serde(default = "default_nms_iou")]
    pub nms_iou: f32,
    /// Most faces reported per frame (the highest scores), 1-10000. Default `100`.
    #[serde(default = "default_max_detections")]
    pub max_detections: usize,
}

fn default_confidence() -> f32 {
    0.5
}

fn default_nms_iou() -> f32 {
    0.3
}

fn default_max_detections() -> usize {
    100
}

impl Default for CenterFaceConfig {
    fn default() -> Self {
        Self {
            confidence: default_confidence(),
            nms_iou: default_nms_iou(),
            max_detections: default_max_detections(),
        }
    }
}

/// The output tensors of a CenterFace model.
#[derive(Debug, Clone, Copy)]
pub struct CenterFaceOutputs<'a> {
    /// `[1, 1, h, w]`.
    pub heatmap: TensorRef<'a>,
    /// `[1, 2, h, w]`.
    pub scale: TensorRef<'a>,
    /// `[1, 2, h, w]`.
    pub offset: TensorRef<'a>,
    /// `[1, 10, h, w]`, or `None` for models without landmarks.
    pub landmarks: Option<TensorRef<'a>>,
}

/// A face in model-input pixels, before mapping.
#[derive(Debug, Clone, Copy)]
struct RawFace {
    bbox: BBox,
    score: f32,
    landmarks: [[f32; 2]; 5],
}

/// Decodes CenterFace outputs into faces in source pixels. Holds a scratch buffer reused
/// across frames.
#[derive(Debug, Clone)]
pub struct CenterFaceDecoder {
    config: CenterFaceConfig,
    raw: Vec<RawFace>,
}

impl CenterFaceDecoder {
    /// Validates the settings.
    pub fn new(config: CenterFaceConfig) -> Result<Self, ConfigError> {
        check_fraction(NAME, "confidence", config.confidence)?;
        check_fraction(NAME, "nms_iou", config.nms_iou)?;
        check_max_detections(NAME, config.max_detections)?;
        Ok(Self {
            config,
            raw: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &CenterFaceConfig {
        &self.config
    }

    /// Decodes one frame's outputs; `transform` is the pre-processor's
    /// `image_from_model_input` (its model-input size fixes the expected map size).
    pub fn decode(
        &mut self,
        outputs: &CenterFaceOutputs<'_>,
        transform: &Transform,
    ) -> Result<Vec<Face>, DecodeError> {
        let (h, w) = (
            transform.from_height as usize / 4,
            transform.from_width as usize / 4,
        );
        let input = format!(
            "for a {}x{} input",
            transform.from_width, transform.from_height
        );
        let expect = |c: usize| (format!("[1, {c}, {h}, {w}] {input}"), [1, c, h, w]);
        let (e, s) = expect(1);
        check_shape(NAME, "heatmap", &outputs.heatmap, &e, |x| x == s)?;
        let (e, s) = expect(2);
        check_shape(NAME, "scale", &outputs.scale, &e, |x| x == s)?;
        check_shape(NAME, "offset", &outputs.offset, &e, |x| x == s)?;
        if let Some(lm) = &outputs.landmarks {
            let (e, s) = expect(10);
            check_shape(NAME, "landmarks", lm, &e, |x| x == s)?;
        }
        let plane = h * w;
        let heat = outputs.heatmap.data;
        let (scale, offset) = (outputs.scale.data, outputs.offset.data);
        let conf = self.config.confidence;
        self.raw.clear();
        for row in 0..h {
            for col in 0..w {
                let i = row * w + col;
                let p = heat[i];
                if p.is_nan() || p < conf || !is_peak(heat, w, h, row, col, p) {
                    continue;
                }
                let bh = STRIDE * scale[i].exp();
                let bw = STRIDE * scale[plane + i].exp();
                let cy = STRIDE * (row as f32 + offset[i] + 0.5);
                let cx = STRIDE * (col as f32 + offset[plane + i] + 0.5);
                let (x1, y1) = (cx - bw / 2.0, cy - bh / 2.0);
                let bbox = BBox::new(x1, y1, x1 + bw, y1 + bh);
                if !finite4([bbox.x1, bbox.y1, bbox.x2, bbox.y2]) {
                    continue;
                }
                let mut landmarks = [[0.0; 2]; 5];
                if let Some(lm) = &outputs.landmarks {
                    for (j, l) in landmarks.iter_mut().enumerate() {
                        let ly = lm.data[2 * j * plane + i];
                        let lx = lm.data[(2 * j + 1) * plane + i];
                        *l = [x1 + lx * bw, y1 + ly * bh];
                    }
                    if !landmarks.iter().flatten().all(|v| v.is_finite()) {
                        continue;
                    }
                }
                self.raw.push(RawFace {
                    bbox,
                    score: p,
                    landmarks,
                });
            }
        }
        nms_by(
            &mut self.raw,
            self.config.nms_iou,
            NmsMode::ClassAgnostic,
            self.config.max_detections,
            |f| (f.bbox, f.score, 0),
        );
        let with_landmarks = outputs.landmarks.is_some();
        Ok(self
            .raw
            .iter()
            .map(|f| Face {
                bbox: transform.map_box(&f.bbox),
                score: f.score,
                landmarks: if with_landmarks {
                    f.landmarks
                        .iter()
                        .map(|[x, y]| {
                            let (x, y) = transform.map_point(*x, *y);
                            [x, y]
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            })
            .collect())
    }
}

/// Whether `p` at `(row, col)` is not smaller than any neighbour.
fn is_peak(heat: &[f32], w: usize, h: usize, row: usize, col: usize, p: f32) -> bool {
    let rows = row.saturating_sub(1)..=(row + 1).min(h - 1);
    rows.into_iter().all(|r| {
        let cols = col.saturating_sub(1)..=(col + 1).min(w - 1);
        cols.into_iter()
            .all(|c| heat[r * w + c].partial_cmp(&p) != Some(Ordering::Greater))
    })
}
