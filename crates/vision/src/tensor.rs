//! Plain tensors: the interface with the inference crate.
//!
//! - Decoders read model outputs as [`TensorRef`]: a shape and `f32` data in row-major
//!   (C) order, borrowed from the inference runtime's output buffers.
//! - The pre-processor writes model inputs into an [`InputTensor`] owned by the caller and
//!   reused frame after frame: its storage grows once (warm-up) and is then overwritten
//!   in place.

use std::fmt;

use crate::error::DecodeError;

/// A borrowed, row-major `f32` tensor (a model output).
///
/// The fields are public so that the inference crate can build one from any buffer; the
/// decoders check that `shape` and `data.len()` agree and report a one-line
/// [`DecodeError`] when they do not.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    /// Dimensions, outermost first (e.g. `[1, 84, 8400]`).
    pub shape: &'a [usize],
    /// Elements in row-major order; must hold exactly the product of `shape`.
    pub data: &'a [f32],
}

impl<'a> TensorRef<'a> {
    /// Wraps a shape and its data (not checked here: the decoders check).
    pub const fn new(shape: &'a [usize], data: &'a [f32]) -> Self {
        Self { shape, data }
    }

    /// The product of the dimensions, or `None` when it overflows `usize`.
    pub fn element_count(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Checks that `data` holds exactly the product of `shape`; `name` is the tensor's
    /// name in the error.
    pub(crate) fn check_len(&self, decoder: &'static str, name: &str) -> Result<(), DecodeError> {
        match self.element_count() {
            Some(n) if n == self.data.len() => Ok(()),
            Some(n) => Err(DecodeError::new(
                decoder,
                format!(
                    "{name} has shape {} ({n} values) but {} values were given",
                    Shape(self.shape),
                    self.data.len()
                ),
            )),
            None => Err(DecodeError::new(
                decoder,
                format!(
                    "{name} has shape {} whose size overflows",
                    Shape(self.shape)
                ),
            )),
        }
    }
}

/// Formats a shape as `[1, 84, 8400]`.
pub(crate) struct Shape<'a>(pub &'a [usize]);

impl fmt::Display for Shape<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// The element storage of an [`InputTensor`].
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 8-bit unsigned elements (raw 0-255 pixel values).
    U8(Vec<u8>),
    /// 32-bit signed elements (raw 0-255 pixel values; e.g. MoveNet's TensorFlow export).
    I32(Vec<i32>),
    /// 32-bit float elements (raw or normalised).
    F32(Vec<f32>),
}

/// A model input tensor owned by the caller and reused across frames.
///
/// [`crate::Preprocessor`] sets its shape and element type and overwrites every element
/// on each call; the storage is only reallocated when a larger tensor than ever before
/// is needed (or the element type changes).
#[derive(Debug, Clone, PartialEq)]
pub struct InputTensor {
    shape: [usize; 4],
    data: TensorData,
}

impl Default for InputTensor {
    fn default() -> Self {
        Self::new()
    }
}

impl InputTensor {
    /// An empty tensor (shape `[0, 0, 0, 0]`, `f32`); the first pre-processing sizes it.
    pub const fn new() -> Self {
        Self {
            shape: [0; 4],
            data: TensorData::F32(Vec::new()),
        }
    }

    /// The shape: `[1, C, H, W]` (NCHW) or `[1, H, W, C]` (NHWC).
    pub fn shape(&self) -> &[usize; 4] {
        &self.shape
    }

    /// The elements.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// The elements when they are `u8`.
    pub fn as_u8(&self) -> Option<&[u8]> {
        match &self.data {
            TensorData::U8(v) => Some(v),
            _ => None,
        }
    }

    /// The elements when they are `i32`.
    pub fn as_i32(&self) -> Option<&[i32]> {
        match &self.data {
            TensorData::I32(v) => Some(v),
            _ => None,
        }
    }

    /// The elements when they are `f32`.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            TensorData::U8(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::F32(v) => v.len(),
        }
    }

    /// Whether the tensor holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of storage currently reserved (to check that warm-up is over).
    pub fn capacity_bytes(&self) -> usize {
        match &self.data {
            TensorData::U8(v) => v.capacity(),
            TensorData::I32(v) => v.capacity() * 4,
            TensorData::F32(v) => v.capacity() * 4,
        }
    }

    pub(crate) fn u8_mut(&mut self, shape: [usize; 4]) -> &mut [u8] {
        self.shape = shape;
        let len = shape.iter().product();
        if !matches!(self.data, TensorData::U8(_)) {
            self.data = TensorData::U8(Vec::new());
        }
        match &mut self.data {
            TensorData::U8(v) => {
                v.resize(len, 0);
                v
            }
            _ => &mut [],
        }
    }

    pub(crate) fn i32_mut(&mut self, shape: [usize; 4]) -> &mut [i32] {
        self.shape = shape;
        let len = shape.iter().product();
        if !matches!(self.data, TensorData::I32(_)) {
            self.data = TensorData::I32(Vec::new());
        }
        match &mut self.data {
            TensorData::I32(v) => {
                v.resize(len, 0);
                v
            }
            _ => &mut [],
        }
    }

    pub(crate) fn f32_mut(&mut self, shape: [usize; 4]) -> &mut [f32] {
        self.shape = shape;
        let len = shape.iter().product();
        if !matches!(self.data, TensorData::F32(_)) {
            self.data = TensorData::F32(Vec::new());
        }
        match &mut self.data {
            TensorData::F32(v) => {
                v.resize(len, 0.0);
                v
            }
            _ => &mut [],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn len_check_names_tensor_and_shapes() {
        let data = [0.0f32; 39];
        let t = TensorRef::new(&[1, 10, 4], &data);
        let e = t.check_len("ssd", "detection_boxes").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ssd: detection_boxes has shape [1, 10, 4] (40 values) but 39 values were given"
        );
        let huge = [usize::MAX, 2];
        let t = TensorRef::new(&huge, &data);
        assert!(t.element_count().is_none());
        assert!(
            t.check_len("x", "y")
                .unwrap_err()
                .to_string()
                .contains("overflows")
        );
    }

    #[test]
    fn input_tensor_switches_type_and_reuses_storage() {
        let mut t = InputTensor::new();
        assert!(t.is_empty());
        t.f32_mut([1, 3, 4, 4]).fill(1.0);
        assert_eq!(t.len(), 48);
        let cap = t.capacity_bytes();
        t.f32_mut([1, 3, 2, 2]);
        assert_eq!(t.len(), 12);
        assert_eq!(t.capacity_bytes(), cap);
        t.u8_mut([1, 2, 2, 3]);
        assert!(t.as_f32().is_none());
        assert_eq!(t.as_u8().map(<[u8]>::len), Some(12));
        t.i32_mut([1, 1, 1, 3]);
        assert_eq!(t.as_i32(), Some(&[0, 0, 0][..]));
        assert_eq!(t.shape(), &[1, 1, 1, 3]);
    }
}
