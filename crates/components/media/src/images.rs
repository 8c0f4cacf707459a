//! A folder of still images as a [`Source`].
//!
//! # Semantics
//! - The frames are the folder's `.jpg`, `.jpeg` and `.png` files (extension matched
//!   without regard to case; subfolders and other files ignored), in byte order of their
//!   file names (`frame_0002.png` before `frame_0010.png` when numbers are zero-padded;
//!   `10.png` sorts before `9.png` otherwise). The listing is taken once, when the
//!   source is built.
//! - Each image is decoded when its frame is requested, to packed RGB24 (grey, alpha and
//!   16-bit images are converted; alpha is dropped). Images may differ in size; each
//!   frame has its image's size. `info().width`/`height` are the first image's.
//! - `seq` counts frames from 0 and continues across rewinds. Stream time
//!   `pts_ns` is the image's index in the folder divided by `fps`; capture time is the
//!   run's start (wall clock at the first `next_frame` call) plus `seq / fps`, so it keeps
//!   increasing across loops. `arrival_ns` is the clock's monotonic time at emission.
//! - An image that cannot be decoded is an error naming the file; the next call moves on
//!   to the following image.
//! - RGB8 images are decoded straight into pooled pixel storage (no extra copy).

use std::path::{Path, PathBuf};

use image::{ColorType, DynamicImage, ImageDecoder, ImageReader};
use serde::{Deserialize, Serialize};
use visualpath_core::{BufferPool, Frame, Image, PixelBuffer, PixelFormat};
use visualpath_sdk::{ComponentError, Name, Poll, Source, SourceContext, SourceInfo};

/// A folder of `.jpg`/`.jpeg`/`.png` images played as a video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageFolderConfig {
    /// The folder. Its `.jpg`, `.jpeg` and `.png` files are the frames, in file name
    /// order. Required.
    pub path: String,
    /// Frame rate in frames per second used for capture times and stream times (frame
    /// `n` is captured `n / fps` seconds after the run's start). Positive. Default `10`.
    #[serde(default = "default_fps")]
    pub fps: f64,
    /// Start again from the first image after the last one, forever. Default `false`.
    #[serde(rename = "loop", default = "default_loop")]
    pub looping: bool,
}

fn default_fps() -> f64 {
    10.0
}

fn default_loop() -> bool {
    false
}

impl Default for ImageFolderConfig {
    fn default() -> Self {
        Self {
            path: String::new(),
            fps: default_fps(),
            looping: default_loop(),
        }
    }
}

impl ImageFolderConfig {
    /// A config reading `path` with the defaults.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }

    /// Lists the folder and creates a source named `name`.
    pub fn build(&self, name: Name) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(ImageFolderSource::open(name, self)?))
    }
}

/// Whether a file name has one of the accepted image extensions.
fn is_image(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["jpg", "jpeg", "png"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// A folder of images. See the module docs.
#[derive(Debug)]
pub struct ImageFolderSource {
    info: SourceInfo,
    files: Vec<PathBuf>,
    next: usize,
    seq: u64,
    period_ns: f64,
    start_wall_ns: Option<i64>,
    pool: BufferPool,
}

impl ImageFolderSource {
    /// Lists `config.path` and reads the first image's size.
    pub fn open(name: Name, config: &ImageFolderConfig) -> Result<Self, ComponentError> {
        let dir = &config.path;
        if !(config.fps.is_finite() && config.fps > 0.0) {
            return Err(ComponentError::new(format!(
                "image folder `{dir}`: fps must be a positive number of frames per second, got {}",
                config.fps
            )));
        }
        let entries = std::fs::read_dir(dir)
            .map_err(|e| ComponentError::new(format!("cannot read image folder `{dir}`: {e}")))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                ComponentError::new(format!("cannot read image folder `{dir}`: {e}"))
            })?;
            let path = entry.path();
            let is_file = entry.file_type().is_ok_and(|t| !t.is_dir());
            if is_file && is_image(&path) {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(ComponentError::new(format!(
                "image folder `{dir}` has no .jpg, .jpeg or .png files"
            )));
        }
        files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        let (width, height) = image::image_dimensions(&files[0]).map_err(|e| {
            ComponentError::new(format!("cannot decode image `{}`: {e}", files[0].display()))
        })?;
        let mut info = SourceInfo::new(name, "images");
        info.location = dir.clone();
        info.width = Some(width);
        info.height = Some(height);
        info.fps = Some(config.fps);
        info.frame_count = Some(files.len() as u64);
        info.live = false;
        Ok(Self {
            info,
            files,
            next: 0,
            seq: 0,
            period_ns: 1e9 / config.fps,
            start_wall_ns: None,
            pool: BufferPool::new(4),
        })
    }

    /// The image files, in frame order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    fn decode(&self, path: &Path) -> Result<Image, ComponentError> {
        let err = |e: &dyn std::fmt::Display| {
            ComponentError::new(format!("cannot decode image `{}`: {e}", path.display()))
        };
        let reader = ImageReader::open(path)
            .map_err(|e| err(&e))?
            .with_guessed_format()
            .map_err(|e| err(&e))?;
        let decoder = reader.into_decoder().map_err(|e| err(&e))?;
        let (width, height) = decoder.dimensions();
        if width == 0 || height == 0 {
            return Err(err(&"the image is empty"));
        }
        let pixels = if decoder.color_type() == ColorType::Rgb8 {
            let len = decoder.total_bytes();
            let Ok(len) = usize::try_from(len) else {
                return Err(err(&"the image is too large"));
            };
            let mut result = Ok(());
            let buf = self.pool.fill(len, |dst| result = decoder.read_image(dst));
            result.map_err(|e| err(&e))?;
            buf
        } else {
            let img = DynamicImage::from_decoder(decoder).map_err(|e| err(&e))?;
            PixelBuffer::from_vec(img.into_rgb8().into_raw())
        };
        Image::packed(width, height, PixelFormat::Rgb24, pixels).map_err(|e| err(&e))
    }
}

impl Source for ImageFolderSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self, cx: &SourceContext) -> Result<Poll, ComponentError> {
        let start = *self.start_wall_ns.get_or_insert_with(|| cx.clock.wall_ns());
        let Some(path) = self.files.get(self.next) else {
            return Ok(Poll::Eos);
        };
        // A file that fails is passed over, so a runtime that skips failed frames moves on.
        let decoded = self.decode(path);
        self.next += 1;
        let image = decoded?;
        let index = self.next - 1;
        let frame = Frame {
            source: self.info.name.clone(),
            seq: self.seq,
            pts_ns: Some((index as f64 * self.period_ns).round() as i64),
            capture_time_ns: start
                .saturating_add((self.seq as f64 * self.period_ns).round() as i64),
            arrival_ns: cx.clock.mono_ns(),
            capture_clock: visualpath_core::CaptureClock::Media,
            image,
        };
        self.seq += 1;
        Ok(Poll::Frame(frame))
    }

    fn rewind(&mut self) -> Result<(), ComponentError> {
        self.next = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert!(is_image(Path::new("a/b.PNG")));
        assert!(is_image(Path::new("b.jpeg")));
        assert!(is_image(Path::new("b.Jpg")));
        assert!(!is_image(Path::new("b.gif")));
        assert!(!is_image(Path::new("png")));
        assert!(!is_image(Path::new("b.png.txt")));
    }
}
