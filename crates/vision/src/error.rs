//! Errors. Every message is one line that names the thing and what would be valid.

use visualpath_core::PixelFormat;

/// Why an image could not be turned into a model input tensor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreprocessError {
    /// The configuration is not usable.
    #[error("preprocess: {0}")]
    Config(String),
    /// The image's pixel format is not one the pre-processor reads.
    #[error(
        "preprocess: unsupported pixel format {0} (supported: rgb24, bgr24, gray8; convert planar YUV first)"
    )]
    UnsupportedFormat(PixelFormat),
    /// The region of interest is empty or not finite.
    #[error(
        "preprocess: region [{x1}, {y1}, {x2}, {y2}] is empty or not finite (expected x1 < x2 and y1 < y2, in pixels)"
    )]
    EmptyRegion {
        /// Left.
        x1: f32,
        /// Top.
        y1: f32,
        /// Right.
        x2: f32,
        /// Bottom.
        y2: f32,
    },
    /// The resizer refused the job (an internal inconsistency; should not happen).
    #[error("preprocess: resize failed: {0}")]
    Resize(String),
}

/// Why a decoder could not be created from its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{decoder}: {message}")]
pub struct ConfigError {
    /// The decoder (`ssd`, `yolo`, `centerface`, `movenet`).
    pub decoder: &'static str,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(decoder: &'static str, message: impl Into<String>) -> Self {
        Self {
            decoder,
            message: message.into(),
        }
    }
}

/// Why model outputs could not be decoded (wrong shapes, inconsistent lengths).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{decoder}: {message}")]
pub struct DecodeError {
    /// The decoder (`ssd`, `yolo`, `centerface`, `movenet`).
    pub decoder: &'static str,
    /// What is wrong, naming the tensor, the expected and the actual shape.
    pub message: String,
}

impl DecodeError {
    pub(crate) fn new(decoder: &'static str, message: impl Into<String>) -> Self {
        Self {
            decoder,
            message: message.into(),
        }
    }
}
