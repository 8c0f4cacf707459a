//! Vision kernels for visualpath: everything between a decoded frame and a model
//! session, and between the session's outputs and observations. Pure CPU code: no
//! inference runtime, no threads, no I/O, no clocks.
//!
//! - [`preprocess`]: an [`Image`](visualpath_core::Image) (RGB24, BGR24 or GRAY8), a
//!   region of interest of it, or a crop around an object box, into a model input tensor
//!   (stretch or letterbox, RGB/BGR, NCHW/NHWC, `u8`/`i32`/`f32` with normalisation),
//!   with SIMD resizing and a single fused conversion pass into caller-owned, reused
//!   buffers. Each call returns the [`Transform`] `image_from_model_input`.
//! - [`mod@nms`]: greedy non-maximum suppression, class-aware or class-agnostic.
//! - Decoders from plain `f32` tensors ([`TensorRef`]) to [`Detection`](visualpath_core::Detection),
//!   [`Face`](visualpath_core::Face) and [`Pose`](visualpath_core::Pose) in **source
//!   pixels**: [`ssd`] (TensorFlow Object Detection API), [`yolo`] (v5 and v8/11 heads,
//!   auto-detected), [`centerface`], [`movenet`]; plus [`angles`] (joint angles from
//!   keypoints) and [`labels`] (COCO-90 and COCO-80 names, class filters).
//!
//! # Contract with the inference crate
//!
//! The inference crate runs the model; this crate never sees it. Per frame:
//!
//! 1. `let t = preprocessor.run(&frame.image, &mut input)?;` fills `input`
//!    ([`InputTensor`]: shape plus `u8`/`i32`/`f32` data) and returns the transform.
//! 2. The inference crate feeds `input` to the session and borrows the outputs as
//!    [`TensorRef`]s (shape + `f32` slice).
//! 3. `decoder.decode(&outputs, &t)` returns observations in source pixels.
//!
//! Decoders validate every shape and length and return a one-line [`DecodeError`]
//! naming the tensor, the expected and the actual shape; they never panic, whatever the
//! shapes and values (NaN and infinities included: such candidates are skipped).
//!
//! # Coordinates
//!
//! Continuous pixel coordinates: pixel `i` spans `[i, i + 1)`. Every reported box and
//! point is clamped to the source image.

#![forbid(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod angles;
pub mod centerface;
mod error;
pub mod labels;
pub mod movenet;
pub mod nms;
pub mod preprocess;
pub mod ssd;
mod tensor;
mod transform;
mod util;
pub mod yolo;

pub use centerface::{CenterFaceConfig, CenterFaceDecoder, CenterFaceOutputs};
pub use error::{ConfigError, DecodeError, PreprocessError};
pub use labels::{COCO80, COCO90, ClassRef, Labels};
pub use movenet::{KEYPOINT_NAMES, MovenetConfig, MovenetDecoder};
pub use nms::{Candidate, NmsMode, nms, nms_by};
pub use preprocess::{
    ColorOrder, CropBorder, CropConfig, ElementType, Filter, Layout, Normalize, PreprocessConfig,
    Preprocessor, Resize,
};
pub use ssd::{SsdConfig, SsdDecoder, SsdOutputs};
pub use tensor::{InputTensor, TensorData, TensorRef};
pub use transform::Transform;
pub use util::MAX_DETECTIONS_LIMIT;
pub use yolo::{YoloConfig, YoloDecoder, YoloLayout};
