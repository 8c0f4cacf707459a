//! Validation helpers shared by the config types: one-line messages that name the
//! analyzer kind, the field and the valid range.

use visualpath_sdk::ComponentError;

use crate::gray::{MAX_WIDTH, MIN_WIDTH};

/// `field` must be a number in `0..=1`.
pub(crate) fn fraction(kind: &str, field: &str, value: f64) -> Result<(), ComponentError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(ComponentError::new(format!(
            "{kind}: `{field}` must be between 0 and 1, got {value}"
        )))
    }
}

/// `field` must be an integer in `min..=max`.
pub(crate) fn int_range(
    kind: &str,
    field: &str,
    value: u32,
    min: u32,
    max: u32,
) -> Result<(), ComponentError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ComponentError::new(format!(
            "{kind}: `{field}` must be between {min} and {max}, got {value}"
        )))
    }
}

/// The working width setting.
pub(crate) fn width(kind: &str, value: u32) -> Result<(), ComponentError> {
    int_range(kind, "width", value, MIN_WIDTH, MAX_WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_field_and_range() {
        assert!(fraction("motion", "threshold", 0.0).is_ok());
        assert!(fraction("motion", "threshold", 1.0).is_ok());
        let e = fraction("motion", "threshold", 1.5).unwrap_err();
        assert_eq!(
            e.message,
            "motion: `threshold` must be between 0 and 1, got 1.5"
        );
        assert!(fraction("motion", "threshold", f64::NAN).is_err());
        let e = width("scene_cut", 8).unwrap_err();
        assert_eq!(
            e.message,
            "scene_cut: `width` must be between 16 and 1920, got 8"
        );
        assert!(width("scene_cut", 16).is_ok() && width("scene_cut", 1920).is_ok());
        assert!(width("scene_cut", 1921).is_err());
    }
}
