//! Pre-processing: an [`Image`] (or a region of it) into a model input tensor.
//!
//! # Pipeline
//!
//! One call to [`Preprocessor::run`] / [`Preprocessor::run_region`] does:
//!
//! 1. **Geometry.** The source region `R` (the whole frame, a region of interest, or a
//!    crop from [`CropConfig::region`]) is mapped onto a destination rectangle `D` of the
//!    model input: the whole input for [`Resize::Stretch`]; for [`Resize::Letterbox`] the
//!    largest rectangle with `R`'s aspect ratio (`round(R.w * s)` x `round(R.h * s)` with
//!    `s = min(W / R.w, H / R.h)`), centred (`floor` of half the slack on each axis, as
//!    Ultralytics does). The resulting [`Transform`] (`image_from_model_input`) maps
//!    model-input coordinates back to source pixels exactly: `scale = R.w / D.w` per axis.
//! 2. **Resize.** The part of `R` inside the image is resized with `fast_image_resize`
//!    (SIMD: SSE4.1/AVX2 picked at run time) into a scratch buffer, in the image's own
//!    pixel type (`U8x3` or `U8`). Only whole destination pixels are produced: the source
//!    crop box is derived from the integer destination rectangle through the same linear
//!    map, so the pixels agree with the transform to floating-point precision even when
//!    the crop box is fractional.
//! 3. **One fused pass** writes the tensor: layout (NHWC/NCHW), channel order (RGB/BGR;
//!    grey input is replicated to three channels), element type and normalisation via a
//!    per-channel 256-entry lookup table, and the padding (letterbox bars and parts of
//!    `R` outside the image). A `u8` NHWC tensor in the image's own channel order is
//!    written by plain row copies.
//!
//! # Choices
//!
//! - **Filter.** [`Filter::Bilinear`] (default) is a fixed 2x2-tap bilinear interpolation
//!   with pixel centres at `+0.5`, like OpenCV's `INTER_LINEAR` and TensorFlow's
//!   `resize_bilinear(half_pixel_centers)`, which is what YOLO and the TF Object Detection
//!   API trained with; it is also the fastest. [`Filter::BilinearAntialias`] widens the
//!   kernel when downscaling (Pillow-style, no aliasing, slower); [`Filter::Nearest`]
//!   copies the nearest pixel.
//! - **Padding value.** Letterbox bars and out-of-image parts of a region take
//!   `Letterbox { pad_value }` (default 114, the Ultralytics grey). With `Stretch`
//!   out-of-image parts are 0 (black), as TensorFlow's `crop_and_resize` extrapolates.
//!   The pad value is a raw pixel value and goes through the same normalisation.
//! - **Normalisation** applies to `f32` outputs only: `none` (raw 0-255), `unit`
//!   (`x / 255`) or `mean_std` (`(x / 255 - mean[c]) / std[c]`, with `c` the *output*
//!   channel: `mean[0]` is red for RGB output, blue for BGR). `u8` and `i32` outputs carry
//!   raw pixel values and require `normalize: none`.
//! - **Buffers.** The caller owns the [`InputTensor`]; the pre-processor owns its
//!   scratch buffers. Both are grown on first use and then reused, so steady-state calls
//!   do not allocate pixel-sized buffers. (`fast_image_resize` itself builds its small
//!   filter-coefficient tables on every call, a few kilobytes.) Images with row padding
//!   (`stride > width * bpp`) are first copied into a packed scratch buffer, because
//!   the resizer reads whole rows.

use fast_image_resize as fr;
use visualpath_core::{BBox, Image, PixelFormat};

use crate::error::PreprocessError;
use crate::tensor::InputTensor;
use crate::transform::Transform;

/// Largest accepted model input side, in pixels.
pub const MAX_INPUT_SIDE: u32 = 8192;

/// How the source region is fitted to the model input.
#[derive(
    Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Resize {
    /// Scale each axis independently to fill the input (aspect ratio not kept).
    Stretch,
    /// Keep the aspect ratio: scale to fit, centre, and fill the bars with `pad_value`.
    Letterbox {
        /// Raw pixel value (0-255, all channels) of the bars and of parts of the region
        /// outside the image; normalised like the pixels. Default `114`.
        #[serde(default = "default_pad_value")]
        pad_value: u8,
    },
}

fn default_pad_value() -> u8 {
    114
}

impl Default for Resize {
    fn default() -> Self {
        Self::Letterbox {
            pad_value: default_pad_value(),
        }
    }
}

/// Channel order of the model input.
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
pub enum ColorOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red (Caffe/OpenCV-trained models).
    Bgr,
}

/// Memory layout of the model input.
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
pub enum Layout {
    /// `[1, 3, H, W]`: one plane per channel (PyTorch/ONNX exports).
    #[default]
    Nchw,
    /// `[1, H, W, 3]`: interleaved channels (TensorFlow exports).
    Nhwc,
}

/// Element type of the model input.
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
pub enum ElementType {
    /// Raw 0-255 values as `u8`.
    U8,
    /// Raw 0-255 values as `i32`.
    I32,
    /// `f32`, normalised as configured.
    #[default]
    F32,
}

/// How `f32` elements are computed from 0-255 pixel values.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Normalize {
    /// Raw values (0-255). The only choice for `u8` and `i32` outputs.
    None,
    /// `x / 255` (0-1).
    #[default]
    Unit,
    /// `(x / 255 - mean[c]) / std[c]` per output channel `c`.
    MeanStd {
        /// Per-channel mean in 0-1 units, in output channel order.
        mean: [f32; 3],
        /// Per-channel standard deviation in 0-1 units, in output channel order; non-zero.
        std: [f32; 3],
    },
}

impl Normalize {
    /// The ImageNet statistics in RGB order.
    pub const fn imagenet() -> Self {
        Self::MeanStd {
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    fn apply(&self, channel: usize, v: u8) -> f32 {
        let x = f32::from(v);
        match self {
            Self::None => x,
            Self::Unit => x / 255.0,
            Self::MeanStd { mean, std } => (x / 255.0 - mean[channel]) / std[channel],
        }
    }
}

/// Resampling filter.
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
#[serde(rename_all = "snake_case")]
pub enum Filter {
    /// Nearest pixel.
    Nearest,
    /// 2x2-tap bilinear interpolation (OpenCV `INTER_LINEAR`); aliases when downscaling
    /// by more than 2x, like the training pipelines of most detectors.
    #[default]
    Bilinear,
    /// Bilinear with a kernel widened by the downscale factor (Pillow-style); no
    /// aliasing, slower.
    BilinearAntialias,
}

impl Filter {
    fn algorithm(self) -> fr::ResizeAlg {
        match self {
            Self::Nearest => fr::ResizeAlg::Nearest,
            Self::Bilinear => fr::ResizeAlg::Interpolation(fr::FilterType::Bilinear),
            Self::BilinearAntialias => fr::ResizeAlg::Convolution(fr::FilterType::Bilinear),
        }
    }
}

/// How to turn images into a model input tensor.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreprocessConfig {
    /// Model input width in pixels (1-8192). Default `640`.
    #[serde(default = "default_side")]
    pub width: u32,
    /// Model input height in pixels (1-8192). Default `640`.
    #[serde(default = "default_side")]
    pub height: u32,
    /// How the image is fitted: `stretch` or `{letterbox: {pad_value: 114}}`. Default
    /// `{letterbox: {pad_value: 114}}`.
    #[serde(default)]
    pub resize: Resize,
    /// Channel order of the tensor: `rgb` or `bgr`. Default `rgb`.
    #[serde(default)]
    pub color: ColorOrder,
    /// Tensor layout: `nchw` (`[1, 3, H, W]`) or `nhwc` (`[1, H, W, 3]`). Default `nchw`.
    #[serde(default)]
    pub layout: Layout,
    /// Element type: `u8`, `i32` (raw 0-255 values) or `f32`. Default `f32`.
    #[serde(default)]
    pub dtype: ElementType,
    /// Normalisation of `f32` elements: `none` (0-255), `unit` (0-1) or
    /// `{mean_std: {mean: [..], std: [..]}}`; must be `none` for `u8`/`i32`. Default `unit`.
    #[serde(default)]
    pub normalize: Normalize,
    /// Resampling filter: `nearest`, `bilinear` or `bilinear_antialias`. Default `bilinear`.
    #[serde(default)]
    pub filter: Filter,
}

fn default_side() -> u32 {
    640
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            width: default_side(),
            height: default_side(),
            resize: Resize::default(),
            color: ColorOrder::default(),
            layout: Layout::default(),
            dtype: ElementType::default(),
            normalize: Normalize::default(),
            filter: Filter::default(),
        }
    }
}

impl PreprocessConfig {
    /// Checks what serde cannot (sizes, normalisation against the element type).
    pub fn validate(&self) -> Result<(), PreprocessError> {
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v > MAX_INPUT_SIDE {
                return Err(PreprocessError::Config(format!(
                    "{name} is {v}, expected 1 to {MAX_INPUT_SIDE} pixels"
                )));
            }
        }
        if self.dtype != ElementType::F32 && self.normalize != Normalize::None {
            return Err(PreprocessError::Config(format!(
                "{} tensors carry raw 0-255 values: set `normalize: none` (got {})",
                match self.dtype {
                    ElementType::U8 => "u8",
                    _ => "i32",
                },
                match self.normalize {
                    Normalize::Unit => "unit",
                    _ => "mean_std",
                }
            )));
        }
        if let Normalize::MeanStd { mean, std } = self.normalize {
            if mean.iter().any(|m| !m.is_finite()) {
                return Err(PreprocessError::Config(format!(
                    "normalize mean {mean:?} must be finite numbers"
                )));
            }
            if std.iter().any(|s| !s.is_finite() || *s == 0.0) {
                return Err(PreprocessError::Config(format!(
                    "normalize std {std:?} must be finite and non-zero"
                )));
            }
        }
        Ok(())
    }

    /// The tensor shape this configuration produces.
    pub fn output_shape(&self) -> [usize; 4] {
        let (w, h) = (self.width as usize, self.height as usize);
        match self.layout {
            Layout::Nchw => [1, 3, h, w],
            Layout::Nhwc => [1, h, w, 3],
        }
    }
}

/// What to do with the parts of a crop that fall outside the image.
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
#[serde(rename_all = "snake_case")]
pub enum CropBorder {
    /// Keep the crop as computed; out-of-image pixels are padded (see the module docs).
    #[default]
    Pad,
    /// Move the crop inside the image where it fits (keeping its size); on an axis where
    /// it is larger than the image, cut it to the image.
    Clamp,
}

/// How a crop region is derived from an object box (e.g. a person box for a pose model).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CropConfig {
    /// Context added around the box, as a fraction of its side: each side of the crop is
    /// `(1 + margin)` times the box's (or the square's) side, around the box centre
    /// (>= 0). Default `0.25`.
    #[serde(default = "default_margin")]
    pub margin: f32,
    /// Make the crop a square whose side is the box's larger side (before the margin).
    /// Default `true`.
    #[serde(default = "default_true")]
    pub square: bool,
    /// Parts outside the image: `pad` or `clamp`. Default `pad`.
    #[serde(default)]
    pub border: CropBorder,
}

fn default_margin() -> f32 {
    0.25
}

fn default_true() -> bool {
    true
}

impl Default for CropConfig {
    fn default() -> Self {
        Self {
            margin: default_margin(),
            square: default_true(),
            border: CropBorder::default(),
        }
    }
}

impl CropConfig {
    /// The crop region for `bbox` in an image of `image_width` x `image_height`, or
    /// `None` when the box is not finite or empty, or the crop does not overlap the image.
    pub fn region(&self, bbox: &BBox, image_width: u32, image_height: u32) -> Option<BBox> {
        let finite = [bbox.x1, bbox.y1, bbox.x2, bbox.y2]
            .iter()
            .all(|v| v.is_finite());
        if !finite || bbox.x2 <= bbox.x1 || bbox.y2 <= bbox.y1 {
            return None;
        }
        let margin = if self.margin.is_finite() {
            f64::from(self.margin.max(0.0))
        } else {
            0.0
        };
        let (x1, y1, x2, y2) = (
            f64::from(bbox.x1),
            f64::from(bbox.y1),
            f64::from(bbox.x2),
            f64::from(bbox.y2),
        );
        let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        let (mut w, mut h) = (x2 - x1, y2 - y1);
        if self.square {
            w = w.max(h);
            h = w;
        }
        w *= 1.0 + margin;
        h *= 1.0 + margin;
        let (iw, ih) = (f64::from(image_width), f64::from(image_height));
        let (mut rx, mut ry) = (cx - w / 2.0, cy - h / 2.0);
        if self.border == CropBorder::Clamp {
            (rx, w) = clamp_axis(rx, w, iw);
            (ry, h) = clamp_axis(ry, h, ih);
        }
        let overlaps = rx < iw && ry < ih && rx + w > 0.0 && ry + h > 0.0;
        (overlaps && w > 0.0 && h > 0.0)
            .then(|| BBox::new(rx as f32, ry as f32, (rx + w) as f32, (ry + h) as f32))
    }
}

/// Shifts `[start, start + len)` into `[0, limit]` if it fits, else cuts it to `[0, limit]`.
fn clamp_axis(start: f64, len: f64, limit: f64) -> (f64, f64) {
    if len >= limit {
        (0.0, limit)
    } else {
        (start.clamp(0.0, limit - len), len)
    }
}

/// The part of the model input that receives resized pixels, and where they come from.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Content {
    /// Destination rectangle in model-input pixels.
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    /// Source crop box in image pixels (left, top, width, height), possibly fractional.
    crop: [f64; 4],
}

/// Geometry of one pre-processing call.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Plan {
    transform: Transform,
    content: Option<Content>,
}

/// Plans the mapping of region `r` = (x, y, w, h) of an `iw` x `ih` image onto a
/// `tw` x `th` model input.
fn plan(iw: u32, ih: u32, r: [f64; 4], tw: u32, th: u32, resize: Resize) -> Plan {
    const EPS: f64 = 1e-6;
    let [rx, ry, rw, rh] = r;
    let (twf, thf) = (f64::from(tw), f64::from(th));
    let (dx, dy, dw, dh) = match resize {
        Resize::Stretch => (0.0, 0.0, twf, thf),
        Resize::Letterbox { .. } => {
            let s = (twf / rw).min(thf / rh);
            let nw = (rw * s).round().clamp(1.0, twf);
            let nh = (rh * s).round().clamp(1.0, thf);
            (
                ((twf - nw) / 2.0).floor(),
                ((thf - nh) / 2.0).floor(),
                nw,
                nh,
            )
        }
    };
    let (sx, sy) = (rw / dw, rh / dh);
    let transform = Transform {
        scale_x: sx,
        scale_y: sy,
        offset_x: rx - dx * sx,
        offset_y: ry - dy * sy,
        from_width: tw,
        from_height: th,
        to_width: iw,
        to_height: ih,
    };
    // The visible part of the region, then the whole destination pixels it covers.
    let (vx0, vx1) = (rx.max(0.0), (rx + rw).min(f64::from(iw)));
    let (vy0, vy1) = (ry.max(0.0), (ry + rh).min(f64::from(ih)));
    let ix0 = (dx + (vx0 - rx) / sx - EPS).ceil().clamp(dx, dx + dw);
    let ix1 = (dx + (vx1 - rx) / sx + EPS).floor().clamp(dx, dx + dw);
    let iy0 = (dy + (vy0 - ry) / sy - EPS).ceil().clamp(dy, dy + dh);
    let iy1 = (dy + (vy1 - ry) / sy + EPS).floor().clamp(dy, dy + dh);
    let content = (vx1 > vx0 && vy1 > vy0 && ix1 > ix0 && iy1 > iy0).then(|| {
        let left = (rx + (ix0 - dx) * sx).clamp(0.0, f64::from(iw));
        let top = (ry + (iy0 - dy) * sy).clamp(0.0, f64::from(ih));
        let width = ((ix1 - ix0) * sx).min(f64::from(iw) - left);
        let height = ((iy1 - iy0) * sy).min(f64::from(ih) - top);
        Content {
            x0: ix0 as usize,
            y0: iy0 as usize,
            w: (ix1 - ix0) as usize,
            h: (iy1 - iy0) as usize,
            crop: [left, top, width, height],
        }
    });
    // A crop box that rounding made empty or that starts on the far edge cannot be
    // resized; treat it as not visible.
    let content = content.filter(|c| {
        c.crop[2] > 0.0 && c.crop[3] > 0.0 && c.crop[0] < f64::from(iw) && c.crop[1] < f64::from(ih)
    });
    Plan { transform, content }
}

/// Which source byte feeds each output channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    /// 3 channels, same order.
    Same,
    /// 3 channels, reversed (RGB <-> BGR).
    Swap,
    /// 1 channel replicated.
    Gray,
}

/// Turns images into model input tensors with reusable buffers. See the module docs.
#[derive(Debug)]
pub struct Preprocessor {
    config: PreprocessConfig,
    resizer: fr::Resizer,
    /// Resized pixels of the content rectangle, in the image's pixel type.
    resized: Vec<u8>,
    /// Packed copy of strided images.
    packed: Vec<u8>,
    lut_f32: Box<[[f32; 256]; 3]>,
    lut_u8: Box<[[u8; 256]; 3]>,
    lut_i32: Box<[[i32; 256]; 3]>,
}

impl Preprocessor {
    /// Validates the configuration and builds the lookup tables.
    pub fn new(config: PreprocessConfig) -> Result<Self, PreprocessError> {
        config.validate()?;
        let mut lut_f32 = Box::new([[0f32; 256]; 3]);
        let mut lut_u8 = Box::new([[0u8; 256]; 3]);
        let mut lut_i32 = Box::new([[0i32; 256]; 3]);
        for c in 0..3 {
            for v in 0..=255u8 {
                lut_f32[c][usize::from(v)] = config.normalize.apply(c, v);
                lut_u8[c][usize::from(v)] = v;
                lut_i32[c][usize::from(v)] = i32::from(v);
            }
        }
        Ok(Self {
            config,
            resizer: fr::Resizer::new(),
            resized: Vec::new(),
            packed: Vec::new(),
            lut_f32,
            lut_u8,
            lut_i32,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PreprocessConfig {
        &self.config
    }

    /// The tensor shape produced.
    pub fn output_shape(&self) -> [usize; 4] {
        self.config.output_shape()
    }

    /// Pre-processes the whole image into `out` and returns `image_from_model_input`.
    pub fn run(
        &mut self,
        image: &Image,
        out: &mut InputTensor,
    ) -> Result<Transform, PreprocessError> {
        let whole = BBox::new(0.0, 0.0, image.width() as f32, image.height() as f32);
        self.run_region(image, whole, out)
    }

    /// Pre-processes the crop [`CropConfig::region`] derives from `bbox` (e.g. a person
    /// box for a pose model) and returns the crop region and its
    /// `image_from_model_input`, or `Ok(None)` (tensor untouched) when the box gives no
    /// usable crop (empty, not finite, or outside the image).
    pub fn run_crop(
        &mut self,
        image: &Image,
        bbox: &BBox,
        crop: &CropConfig,
        out: &mut InputTensor,
    ) -> Result<Option<(BBox, Transform)>, PreprocessError> {
        let Some(region) = crop.region(bbox, image.width(), image.height()) else {
            return Ok(None);
        };
        self.run_region(image, region, out)
            .map(|t| Some((region, t)))
    }

    /// Pre-processes `region` (source pixels; may extend beyond the image, see
    /// [`CropConfig`]) into `out` and returns `image_from_model_input`, which maps to
    /// pixels of the *full* image.
    pub fn run_region(
        &mut self,
        image: &Image,
        region: BBox,
        out: &mut InputTensor,
    ) -> Result<Transform, PreprocessError> {
        let (channels, pixel_type, mapping) = match (image.format(), self.config.color) {
            (PixelFormat::Rgb24, ColorOrder::Rgb) | (PixelFormat::Bgr24, ColorOrder::Bgr) => {
                (3, fr::PixelType::U8x3, Mapping::Same)
            }
            (PixelFormat::Rgb24, ColorOrder::Bgr) | (PixelFormat::Bgr24, ColorOrder::Rgb) => {
                (3, fr::PixelType::U8x3, Mapping::Swap)
            }
            (PixelFormat::Gray8, _) => (1, fr::PixelType::U8, Mapping::Gray),
            (other, _) => return Err(PreprocessError::UnsupportedFormat(other)),
        };
        let r = [
            f64::from(region.x1),
            f64::from(region.y1),
            f64::from(region.x2) - f64::from(region.x1),
            f64::from(region.y2) - f64::from(region.y1),
        ];
        if !r.iter().all(|v| v.is_finite()) || r[2] <= 0.0 || r[3] <= 0.0 {
            return Err(PreprocessError::EmptyRegion {
                x1: region.x1,
                y1: region.y1,
                x2: region.x2,
                y2: region.y2,
            });
        }
        let (tw, th) = (self.config.width, self.config.height);
        let plan = plan(image.width(), image.height(), r, tw, th, self.config.resize);

        if let Some(c) = &plan.content {
            let (iw, ih) = (image.width() as usize, image.height() as usize);
            let row = iw * channels;
            let src: &[u8] = if image.stride() == row {
                &image.data()[..row * ih]
            } else {
                self.packed.clear();
                for y in 0..image.height() {
                    self.packed.extend_from_slice(image.row(y));
                }
                &self.packed
            };
            let src = fr::images::ImageRef::new(image.width(), image.height(), src, pixel_type)
                .map_err(|e| PreprocessError::Resize(e.to_string()))?;
            self.resized.resize(c.w * c.h * channels, 0);
            let mut dst = fr::images::Image::from_slice_u8(
                c.w as u32,
                c.h as u32,
                &mut self.resized,
                pixel_type,
            )
            .map_err(|e| PreprocessError::Resize(e.to_string()))?;
            let options = fr::ResizeOptions::new()
                .resize_alg(self.config.filter.algorithm())
                .crop(c.crop[0], c.crop[1], c.crop[2], c.crop[3]);
            self.resizer
                .resize(&src, &mut dst, &options)
                .map_err(|e| PreprocessError::Resize(e.to_string()))?;
        }

        let pad = match self.config.resize {
            Resize::Letterbox { pad_value } => pad_value,
            Resize::Stretch => 0,
        };
        let job = Job {
            width: tw as usize,
            height: th as usize,
            content: plan.content,
            src: &self.resized,
            mapping,
            layout: self.config.layout,
        };
        let shape = self.config.output_shape();
        match self.config.dtype {
            ElementType::F32 => job.write(out.f32_mut(shape), &self.lut_f32, pad),
            ElementType::U8 if job.layout == Layout::Nhwc && job.mapping == Mapping::Same => {
                job.copy_nhwc(out.u8_mut(shape), pad);
            }
            ElementType::U8 => job.write(out.u8_mut(shape), &self.lut_u8, pad),
            ElementType::I32 => job.write(out.i32_mut(shape), &self.lut_i32, pad),
        }
        Ok(plan.transform)
    }
}

/// The fused layout/colour/normalisation/padding pass.
struct Job<'a> {
    width: usize,
    height: usize,
    content: Option<Content>,
    /// Resized content pixels, `content.w * content.h * channels` bytes.
    src: &'a [u8],
    mapping: Mapping,
    layout: Layout,
}

impl Job<'_> {
    fn write<T: Copy>(&self, out: &mut [T], lut: &[[T; 256]; 3], pad: u8) {
        let pad = [
            lut[0][usize::from(pad)],
            lut[1][usize::from(pad)],
            lut[2][usize::from(pad)],
        ];
        match (self.layout, self.mapping) {
            (Layout::Nchw, Mapping::Same) => self.nchw::<T, 3, 0, 1, 2>(out, lut, pad),
            (Layout::Nchw, Mapping::Swap) => self.nchw::<T, 3, 2, 1, 0>(out, lut, pad),
            (Layout::Nchw, Mapping::Gray) => self.nchw::<T, 1, 0, 0, 0>(out, lut, pad),
            (Layout::Nhwc, Mapping::Same) => self.nhwc::<T, 3, 0, 1, 2>(out, lut, pad),
            (Layout::Nhwc, Mapping::Swap) => self.nhwc::<T, 3, 2, 1, 0>(out, lut, pad),
            (Layout::Nhwc, Mapping::Gray) => self.nhwc::<T, 1, 0, 0, 0>(out, lut, pad),
        }
    }

    /// `u8` NHWC output in the source's channel order: rows are copied as they are.
    fn copy_nhwc(&self, out: &mut [u8], pad: u8) {
        for (y, row) in out.chunks_exact_mut(self.width * 3).enumerate() {
            match self.content_row::<3>(y) {
                None => row.fill(pad),
                Some((x0, x1, px)) => {
                    row[..x0 * 3].fill(pad);
                    row[x1 * 3..].fill(pad);
                    row[x0 * 3..x1 * 3].copy_from_slice(px.as_flattened());
                }
            }
        }
    }

    /// Source pixels of output row `y`, with the content's x range, if the row has content.
    fn content_row<const CH: usize>(&self, y: usize) -> Option<(usize, usize, &[[u8; CH]])> {
        let c = self.content.as_ref()?;
        if y < c.y0 || y >= c.y0 + c.h {
            return None;
        }
        let start = (y - c.y0) * c.w * CH;
        let row = self.src.get(start..start + c.w * CH)?;
        Some((c.x0, c.x0 + c.w, row.as_chunks::<CH>().0))
    }

    fn nchw<T: Copy, const CH: usize, const I0: usize, const I1: usize, const I2: usize>(
        &self,
        out: &mut [T],
        lut: &[[T; 256]; 3],
        pad: [T; 3],
    ) {
        let (w, plane) = (self.width, self.width * self.height);
        let (p0, rest) = out.split_at_mut(plane.min(out.len()));
        let (p1, p2) = rest.split_at_mut(plane.min(rest.len()));
        let rows = p0
            .chunks_exact_mut(w)
            .zip(p1.chunks_exact_mut(w))
            .zip(p2.chunks_exact_mut(w));
        for (y, ((r0, r1), r2)) in rows.enumerate() {
            match self.content_row::<CH>(y) {
                None => {
                    r0.fill(pad[0]);
                    r1.fill(pad[1]);
                    r2.fill(pad[2]);
                }
                Some((x0, x1, px)) => {
                    for (r, p) in [(&mut *r0, pad[0]), (&mut *r1, pad[1]), (&mut *r2, pad[2])] {
                        r[..x0].fill(p);
                        r[x1..].fill(p);
                    }
                    plane_row::<T, CH, I0>(&mut r0[x0..x1], px, &lut[0]);
                    plane_row::<T, CH, I1>(&mut r1[x0..x1], px, &lut[1]);
                    plane_row::<T, CH, I2>(&mut r2[x0..x1], px, &lut[2]);
                }
            }
        }
    }

    fn nhwc<T: Copy, const CH: usize, const I0: usize, const I1: usize, const I2: usize>(
        &self,
        out: &mut [T],
        lut: &[[T; 256]; 3],
        pad: [T; 3],
    ) {
        let (out, _) = out.as_chunks_mut::<3>();
        for (y, row) in out.chunks_exact_mut(self.width).enumerate() {
            match self.content_row::<CH>(y) {
                None => row.fill(pad),
                Some((x0, x1, px)) => {
                    row[..x0].fill(pad);
                    row[x1..].fill(pad);
                    for (d, p) in row[x0..x1].iter_mut().zip(px) {
                        *d = [
                            lut[0][usize::from(p[I0])],
                            lut[1][usize::from(p[I1])],
                            lut[2][usize::from(p[I2])],
                        ];
                    }
                }
            }
        }
    }
}

#[inline]
fn plane_row<T: Copy, const CH: usize, const I: usize>(
    dst: &mut [T],
    px: &[[u8; CH]],
    lut: &[T; 256],
) {
    for (d, p) in dst.iter_mut().zip(px) {
        *d = lut[usize::from(p[I])];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_letterbox_whole_frame() {
        let p = plan(
            768,
            576,
            [0.0, 0.0, 768.0, 576.0],
            640,
            640,
            Resize::default(),
        );
        let c = p.content.unwrap();
        assert_eq!((c.x0, c.y0, c.w, c.h), (0, 80, 640, 480));
        assert_eq!(c.crop, [0.0, 0.0, 768.0, 576.0]);
        assert_eq!(p.transform.scale_x, 1.2);
        assert_eq!(p.transform.offset_y, -96.0);
    }

    #[test]
    fn plan_region_partly_outside_keeps_the_linear_map() {
        // A 100x100 square at (-50, -50): only the bottom-right quarter is in the image.
        let p = plan(
            200,
            200,
            [-50.0, -50.0, 100.0, 100.0],
            10,
            10,
            Resize::Stretch,
        );
        let c = p.content.unwrap();
        assert_eq!((c.x0, c.y0, c.w, c.h), (5, 5, 5, 5));
        assert_eq!(c.crop, [0.0, 0.0, 50.0, 50.0]);
        // Fractional edge: -45 maps destination pixel 5 to source 5, and 4.5 is padding.
        let p = plan(
            200,
            200,
            [-45.0, 0.0, 100.0, 100.0],
            10,
            10,
            Resize::Stretch,
        );
        let c = p.content.unwrap();
        assert_eq!((c.x0, c.w), (5, 5));
        assert_eq!(c.crop[0], 5.0);
        // Entirely outside: no content.
        assert!(
            plan(200, 200, [300.0, 0.0, 10.0, 10.0], 10, 10, Resize::Stretch)
                .content
                .is_none()
        );
    }

    #[test]
    fn config_validation() {
        let mut c = PreprocessConfig {
            dtype: ElementType::U8,
            ..Default::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "preprocess: u8 tensors carry raw 0-255 values: set `normalize: none` (got unit)"
        );
        c.normalize = Normalize::None;
        assert!(c.validate().is_ok());
        c.width = 0;
        assert!(c.validate().unwrap_err().to_string().contains("width is 0"));
        let c = PreprocessConfig {
            normalize: Normalize::MeanStd {
                mean: [0.0; 3],
                std: [1.0, 0.0, 1.0],
            },
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("non-zero"));
    }

    #[test]
    fn crop_regions() {
        let crop = CropConfig::default();
        // 40x80 box centred at (100, 100): square side 80 * 1.25 = 100.
        let r = crop
            .region(&BBox::new(80.0, 60.0, 120.0, 140.0), 640, 480)
            .unwrap();
        assert_eq!(r, BBox::new(50.0, 50.0, 150.0, 150.0));
        // Near the corner, `pad` keeps the square outside the image ...
        let b = BBox::new(0.0, 0.0, 40.0, 80.0);
        let r = crop.region(&b, 640, 480).unwrap();
        assert_eq!(r, BBox::new(-30.0, -10.0, 70.0, 90.0));
        // ... and `clamp` shifts it in.
        let clamp = CropConfig {
            border: CropBorder::Clamp,
            ..Default::default()
        };
        assert_eq!(
            clamp.region(&b, 640, 480).unwrap(),
            BBox::new(0.0, 0.0, 100.0, 100.0)
        );
        // Larger than the image on one axis: cut on that axis.
        let big = BBox::new(0.0, 0.0, 60.0, 60.0);
        assert_eq!(
            clamp.region(&big, 200, 50).unwrap(),
            BBox::new(0.0, 0.0, 75.0, 50.0)
        );
        assert!(
            crop.region(&BBox::new(5.0, 5.0, 5.0, 9.0), 10, 10)
                .is_none()
        );
        assert!(
            crop.region(&BBox::new(f32::NAN, 0.0, 1.0, 1.0), 10, 10)
                .is_none()
        );
        assert!(
            crop.region(&BBox::new(100.0, 100.0, 110.0, 110.0), 10, 10)
                .is_none()
        );
        let plain = CropConfig {
            margin: 0.0,
            square: false,
            border: CropBorder::Pad,
        };
        assert_eq!(plain.region(&b, 640, 480).unwrap(), b);
    }

    #[test]
    fn config_yaml_shapes() {
        let c: PreprocessConfig = serde_json::from_str(
            r#"{"width": 300, "height": 300, "resize": "stretch", "layout": "nhwc",
                "dtype": "u8", "normalize": "none", "color": "bgr", "filter": "bilinear_antialias"}"#,
        )
        .unwrap();
        assert_eq!(c.resize, Resize::Stretch);
        assert!(c.validate().is_ok());
        let c: PreprocessConfig =
            serde_json::from_str(r#"{"resize": {"letterbox": {}}, "normalize": {"mean_std": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}}"#)
                .unwrap();
        assert_eq!(c.resize, Resize::Letterbox { pad_value: 114 });
        assert!(
            serde_json::from_str::<PreprocessConfig>(r#"{"resize": {"letterbox": {"pad": 1}}}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<PreprocessConfig>(r#"{"size": 1}"#).is_err());
        assert_eq!(
            serde_json::from_str::<PreprocessConfig>("{}").unwrap(),
            PreprocessConfig::default()
        );
    }
}
