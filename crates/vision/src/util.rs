//! Shared checks of the decoders.

use crate::error::{ConfigError, DecodeError};
use crate::tensor::{Shape, TensorRef};

/// Largest accepted `max_detections`.
pub const MAX_DETECTIONS_LIMIT: usize = 10_000;

/// Checks that `v` is a number in `[0, 1]`.
pub(crate) fn check_fraction(
    decoder: &'static str,
    field: &str,
    v: f32,
) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(
            decoder,
            format!("{field} must be between 0 and 1, got {v}"),
        ))
    }
}

/// Checks `max_detections`.
pub(crate) fn check_max_detections(decoder: &'static str, v: usize) -> Result<(), ConfigError> {
    if (1..=MAX_DETECTIONS_LIMIT).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(
            decoder,
            format!("max_detections must be between 1 and {MAX_DETECTIONS_LIMIT}, got {v}"),
        ))
    }
}

/// Checks a tensor's length, then its shape with `ok`; `expected` describes the valid
/// shapes in the error.
pub(crate) fn check_shape(
    decoder: &'static str,
    name: &str,
    t: &TensorRef<'_>,
    expected: &str,
    ok: impl FnOnce(&[usize]) -> bool,
) -> Result<(), DecodeError> {
    t.check_len(decoder, name)?;
    if ok(t.shape) {
        Ok(())
    } else {
        Err(shape_error(decoder, name, t.shape, expected))
    }
}

/// "`name` has shape [..], expected `expected`".
pub(crate) fn shape_error(
    decoder: &'static str,
    name: &str,
    shape: &[usize],
    expected: &str,
) -> DecodeError {
    DecodeError::new(
        decoder,
        format!("{name} has shape {}, expected {expected}", Shape(shape)),
    )
}

/// Whether all four values are finite.
pub(crate) fn finite4(v: [f32; 4]) -> bool {
    v.iter().all(|x| x.is_finite())
}
