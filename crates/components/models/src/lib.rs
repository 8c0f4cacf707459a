//! Model analyzers: `detect` (SSD, YOLO), `pose` (MoveNet) and `face` (CenterFace), and
//! the registry of built-in models ([`registry`]).
//!
//! Each analyzer is split into pure stages: pre-processing (`visualpath-vision`),
//! inference through the `visualpath-infer` interface (ONNX Runtime here), and a tensor
//! decoder (`visualpath-vision`). The model session is loaded once per (file, device,
//! threads) and shared by every camera; each camera's analyzer owns its buffers.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod detect;
pub mod face;
mod load;
pub mod pose;
pub mod registry;

pub use detect::DetectConfig;
pub use face::FaceConfig;
pub use load::check_family;
pub use pose::PoseConfig;
pub use registry::{BUILTIN, BuiltinModel, Family};
