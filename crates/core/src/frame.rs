//! Frames: shared immutable pixels plus identity and timing.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::buffer::PixelBuffer;
use crate::name::Name;

/// How pixels are laid out in an [`Image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// 8-bit R, G, B, interleaved.
    Rgb24,
    /// 8-bit B, G, R, interleaved.
    Bgr24,
    /// 8-bit luma.
    Gray8,
    /// Planar Y followed by interleaved UV at half resolution.
    Nv12,
    /// Planar Y, U, V with U and V at half resolution.
    Yuv420p,
}

impl PixelFormat {
    /// Bytes per pixel of the first plane.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Rgb24 | Self::Bgr24 => 3,
            Self::Gray8 | Self::Nv12 | Self::Yuv420p => 1,
        }
    }

    /// Total bytes for a tightly packed image of this size.
    pub fn packed_len(self, width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        match self {
            Self::Rgb24 | Self::Bgr24 => w * h * 3,
            Self::Gray8 => w * h,
            Self::Nv12 | Self::Yuv420p => w * h + 2 * w.div_ceil(2) * h.div_ceil(2),
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rgb24 => "rgb24",
            Self::Bgr24 => "bgr24",
            Self::Gray8 => "gray8",
            Self::Nv12 => "nv12",
            Self::Yuv420p => "yuv420p",
        })
    }
}

/// Why an [`Image`] could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {format} image {width}x{height} (stride {stride}): {reason}")]
pub struct ImageError {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row stride in bytes.
    pub stride: usize,
    /// Pixel format.
    pub format: PixelFormat,
    /// What is wrong.
    pub reason: String,
}

/// Pixels with their geometry. Cloning shares the pixels.
#[derive(Clone, Debug)]
pub struct Image {
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
    pixels: PixelBuffer,
}

impl Image {
    /// Wraps pixel bytes. For planar formats `stride` is the luma row stride and the
    /// chroma planes follow tightly packed.
    pub fn new(
        width: u32,
        height: u32,
        stride: usize,
        format: PixelFormat,
        pixels: PixelBuffer,
    ) -> Result<Self, ImageError> {
        let err = |reason: String| ImageError {
            width,
            height,
            stride,
            format,
            reason,
        };
        if width == 0 || height == 0 {
            return Err(err("width and height must be positive".into()));
        }
        let row = width as usize * format.bytes_per_pixel();
        if stride < row {
            return Err(err(format!("stride is smaller than a row of {row} bytes")));
        }
        let needed = format.packed_len(width, height) - row * height as usize
            + stride * (height as usize - 1)
            + row;
        if pixels.len() < needed {
            return Err(err(format!(
                "buffer holds {} bytes, {} needed",
                pixels.len(),
                needed
            )));
        }
        Ok(Self {
            width,
            height,
            stride,
            format,
            pixels,
        })
    }

    /// A tightly packed image.
    pub fn packed(
        width: u32,
        height: u32,
        format: PixelFormat,
        pixels: PixelBuffer,
    ) -> Result<Self, ImageError> {
        Self::new(
            width,
            height,
            width as usize * format.bytes_per_pixel(),
            format,
            pixels,
        )
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// Bytes between the starts of two rows of the first plane.
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Pixel layout.
    pub fn format(&self) -> PixelFormat {
        self.format
    }
    /// The shared pixel storage.
    pub fn pixels(&self) -> &PixelBuffer {
        &self.pixels
    }
    /// The raw bytes.
    pub fn data(&self) -> &[u8] {
        self.pixels.as_slice()
    }
    /// Row `y` of the first plane, without padding.
    pub fn row(&self, y: u32) -> &[u8] {
        let start = y as usize * self.stride;
        &self.data()[start..start + self.width as usize * self.format.bytes_per_pixel()]
    }
    /// Mutable bytes (copy-on-write: copies if the pixels are shared).
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.pixels.make_mut()
    }
}

/// Where a frame's `capture_time_ns` comes from (see `docs/ref/time.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureClock {
    /// The wall clock when the frame arrived (live sources without sender reports).
    #[default]
    Arrival,
    /// The camera's RTCP sender reports (NTP time of capture).
    Rtcp,
    /// The run's start plus the stream's own timestamps (files, folders, synthetic).
    Media,
}

impl CaptureClock {
    /// Name used in logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Arrival => "arrival",
            Self::Rtcp => "rtcp",
            Self::Media => "media",
        }
    }
}

/// One decoded picture from a source, with its identity and times.
///
/// Cloning a frame never copies pixels.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The source (camera, file) that produced it.
    pub source: Name,
    /// 0-based index of the frame within its source, counting every decoded frame
    /// (frames later dropped by a queue or scheduler keep their number).
    pub seq: u64,
    /// Stream time in nanoseconds from the stream's start, when the stream has one.
    pub pts_ns: Option<i64>,
    /// When the picture was captured, nanoseconds since the Unix epoch on one wall clock.
    /// See `docs/ref/time.md` for where it comes from for each source kind.
    pub capture_time_ns: i64,
    /// When the frame entered the pipeline, on the pipeline clock's monotonic timeline.
    pub arrival_ns: u64,
    /// Where `capture_time_ns` comes from.
    pub capture_clock: CaptureClock,
    /// The pixels.
    pub image: Image,
}

impl Frame {
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.image.width()
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.image.height()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_checks_geometry() {
        let buf = PixelBuffer::from_vec(vec![0; 2 * 2 * 3]);
        let img = Image::packed(2, 2, PixelFormat::Rgb24, buf.clone()).unwrap();
        assert_eq!(img.row(1).len(), 6);
        let e = Image::packed(3, 2, PixelFormat::Rgb24, buf).unwrap_err();
        assert!(e.to_string().contains("12 bytes, 18 needed"), "{e}");
        assert_eq!(PixelFormat::Nv12.packed_len(4, 4), 24);
    }

    #[test]
    fn cloning_a_frame_shares_pixels() {
        let img =
            Image::packed(2, 2, PixelFormat::Gray8, PixelBuffer::from_vec(vec![0; 4])).unwrap();
        let f = Frame {
            source: Name::from_static("cam"),
            seq: 0,
            pts_ns: None,
            capture_time_ns: 0,
            arrival_ns: 0,
            capture_clock: CaptureClock::Media,
            image: img,
        };
        let g = f.clone();
        assert!(PixelBuffer::ptr_eq(f.image.pixels(), g.image.pixels()));
    }
}
