//! Axis-aligned coordinate transforms between pixel spaces.
//!
//! Naming convention: a transform is named `b_from_a` after what it maps *to* and
//! *from*. The pre-processor returns `image_from_model_input`: it maps continuous
//! coordinates of the model input (0..width, 0..height of the tensor) to pixels of the
//! source image; decoders use it to report results in source pixels.
//! [`Transform::inverse`] gives `model_input_from_image`.
//!
//! Coordinates are continuous: pixel `i` covers `[i, i + 1)`, so a box from `0` to
//! `width` covers the whole image. The map is `to = from * scale + offset` on each axis
//! (positive scales only), computed in `f64`.

use visualpath_core::BBox;

/// `to = from * scale + offset` per axis, with the sizes of both spaces.
///
/// `map_*` results are clamped to the destination space `[0, to_width] x [0, to_height]`;
/// the `*_unclamped` variants are not.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Horizontal scale (destination pixels per source pixel).
    pub scale_x: f64,
    /// Vertical scale.
    pub scale_y: f64,
    /// Horizontal offset, in destination pixels.
    pub offset_x: f64,
    /// Vertical offset, in destination pixels.
    pub offset_y: f64,
    /// Width of the space mapped from (the model input for `image_from_model_input`).
    pub from_width: u32,
    /// Height of the space mapped from.
    pub from_height: u32,
    /// Width of the space mapped to (the source image); results are clamped to it.
    pub to_width: u32,
    /// Height of the space mapped to.
    pub to_height: u32,
}

impl Transform {
    /// The identity on a `width` x `height` space.
    pub const fn identity(width: u32, height: u32) -> Self {
        Self {
            scale_x: 1.0,
            scale_y: 1.0,
            offset_x: 0.0,
            offset_y: 0.0,
            from_width: width,
            from_height: height,
            to_width: width,
            to_height: height,
        }
    }

    /// Maps a point without clamping.
    pub fn map_point_unclamped(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (f64::from(x) * self.scale_x + self.offset_x) as f32,
            (f64::from(y) * self.scale_y + self.offset_y) as f32,
        )
    }

    /// Maps a point and clamps it to the destination space. A NaN coordinate stays NaN.
    pub fn map_point(&self, x: f32, y: f32) -> (f32, f32) {
        let (mx, my) = self.map_point_unclamped(x, y);
        (
            mx.clamp(0.0, self.to_width as f32),
            my.clamp(0.0, self.to_height as f32),
        )
    }

    /// Maps a point given as fractions of the source space (`0..1` across its width and
    /// height, as SSD and MoveNet outputs are), clamped.
    pub fn map_normalized_point(&self, nx: f32, ny: f32) -> (f32, f32) {
        self.map_point(nx * self.from_width as f32, ny * self.from_height as f32)
    }

    /// Maps a box without clamping (corners are re-ordered if the box was inverted).
    pub fn map_box_unclamped(&self, b: &BBox) -> BBox {
        let (x1, y1) = self.map_point_unclamped(b.x1, b.y1);
        let (x2, y2) = self.map_point_unclamped(b.x2, b.y2);
        BBox::new(x1.min(x2), y1.min(y2), x1.max(x2), y1.max(y2))
    }

    /// Maps a box and clamps it to the destination space (corners are re-ordered if the
    /// box was inverted). A box entirely outside becomes a zero-area box on the border.
    pub fn map_box(&self, b: &BBox) -> BBox {
        let (x1, y1) = self.map_point(b.x1, b.y1);
        let (x2, y2) = self.map_point(b.x2, b.y2);
        BBox::new(x1.min(x2), y1.min(y2), x1.max(x2), y1.max(y2))
    }

    /// The inverse map (`model_input_from_image` for `image_from_model_input`); its
    /// results are clamped to this transform's source space.
    pub fn inverse(&self) -> Transform {
        Transform {
            scale_x: 1.0 / self.scale_x,
            scale_y: 1.0 / self.scale_y,
            offset_x: -self.offset_x / self.scale_x,
            offset_y: -self.offset_y / self.scale_y,
            from_width: self.to_width,
            from_height: self.to_height,
            to_width: self.from_width,
            to_height: self.from_height,
        }
    }

    /// The composition `self ∘ inner`: first `inner`, then `self` (e.g.
    /// `image_from_crop = image_from_roi.compose(&roi_from_crop)`).
    pub fn compose(&self, inner: &Transform) -> Transform {
        Transform {
            scale_x: self.scale_x * inner.scale_x,
            scale_y: self.scale_y * inner.scale_y,
            offset_x: inner.offset_x * self.scale_x + self.offset_x,
            offset_y: inner.offset_y * self.scale_y + self.offset_y,
            from_width: inner.from_width,
            from_height: inner.from_height,
            to_width: self.to_width,
            to_height: self.to_height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letterbox() -> Transform {
        // 768x576 into 640x640: content 640x480 at y = 80, scale 1.2.
        Transform {
            scale_x: 1.2,
            scale_y: 1.2,
            offset_x: 0.0,
            offset_y: -96.0,
            from_width: 640,
            from_height: 640,
            to_width: 768,
            to_height: 576,
        }
    }

    #[test]
    fn maps_and_clamps() {
        let t = letterbox();
        assert_eq!(t.map_point(100.0, 80.0), (120.0, 0.0));
        assert_eq!(t.map_point(0.0, 0.0), (0.0, 0.0));
        assert_eq!(t.map_point_unclamped(0.0, 0.0), (0.0, -96.0));
        assert_eq!(t.map_point(640.0, 640.0), (768.0, 576.0));
        let b = t.map_box(&BBox::new(10.0, 100.0, 20.0, 700.0));
        assert_eq!(b, BBox::new(12.0, 24.0, 24.0, 576.0));
        let inv = t.map_box(&BBox::new(20.0, 200.0, 10.0, 100.0));
        assert_eq!(inv, BBox::new(12.0, 24.0, 24.0, 144.0));
        assert_eq!(t.map_normalized_point(0.5, 0.5), (384.0, 288.0));
        assert!(t.map_point(f32::NAN, 1.0).0.is_nan());
    }

    #[test]
    fn inverse_and_compose_round_trip() {
        let t = letterbox();
        let i = t.inverse();
        assert_eq!((i.from_width, i.to_height), (768, 640));
        let (x, y) = i.map_point(120.0, 24.0);
        assert!((x - 100.0).abs() < 1e-4 && (y - 100.0).abs() < 1e-4);
        let id = t.compose(&i);
        let (x, y) = id.map_point(333.0, 222.0);
        assert!((x - 333.0).abs() < 1e-3 && (y - 222.0).abs() < 1e-3);
        assert_eq!((id.from_width, id.to_width), (768, 768));
        // an image point above the letterbox content clamps to the model input
        assert_eq!(i.map_point(0.0, -500.0), (0.0, 0.0));
    }
}
