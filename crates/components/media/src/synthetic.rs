//! A deterministic moving test pattern, needing no file.
//!
//! # The picture
//! - The background is dark (values 18 to 36) with a fixed per-pixel texture, so it is
//!   not flat (a sharpness or scene analyzer sees detail) but identical in every frame (a
//!   motion analyzer sees no motion there).
//! - `objects` bright squares, each `max(4, min(width, height) / 8)` pixels on a side,
//!   filled with a checkerboard of two shades of one colour (so that moving squares
//!   change pixels inside them, not only at their edges), move in straight lines at
//!   different speeds and bounce off the frame edges. Later squares are drawn over
//!   earlier ones. Square `i` moves `u * (1 + i % 4)` pixels per frame horizontally and
//!   `max(1, u / 2) * (1 + (i + 1) % 3)` vertically, where `u = max(1, width / 160)`.
//! - Everything is a pure function of the settings and the frame index:
//!   [`synthetic_frame`] returns the pixels and [`object_boxes`] the squares' boxes, so
//!   tests elsewhere know the ground truth.
//!
//! # Still periods
//! With `still_frames > 0` the squares move for `moving_frames` frames, then stand still
//! for `still_frames` frames, and so on: frame `n` shows new positions (differs from
//! frame `n - 1`) exactly when `n > 0` and `n % (moving_frames + still_frames)` is below
//! `moving_frames`. [`moves`] answers that per frame.
//!
//! # Frame fields
//! `seq` counts from 0 across rewinds; the picture index restarts at 0 on rewind.
//! `pts_ns` is picture index / fps; capture time is the run's start (wall clock at the
//! first `next_frame` call) plus `seq / fps`; `arrival_ns` is the clock's monotonic time
//! at emission. Frames come from a [`BufferPool`], and the background is computed once,
//! so a frame costs one copy of the background plus the squares.

use serde::{Deserialize, Serialize};
use visualpath_core::{BBox, BufferPool, Frame, Image, PixelFormat};
use visualpath_sdk::{ComponentError, Name, Poll, Source, SourceContext, SourceInfo};

/// A synthetic moving test pattern (no file needed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Frame width in pixels, 16 to 8192. Default `640`.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Frame height in pixels, 16 to 8192. Default `480`.
    #[serde(default = "default_height")]
    pub height: u32,
    /// Frame rate in frames per second, used for stream and capture times. Positive.
    /// Default `10.0`.
    #[serde(default = "default_fps")]
    pub fps: f64,
    /// Number of frames before the stream ends; omitted for an endless stream. At least
    /// 1. Default: endless.
    #[serde(default)]
    pub frames: Option<u64>,
    /// Number of moving squares, 0 to 64. Default `2`.
    #[serde(default = "default_objects")]
    pub objects: u32,
    /// Frames in each still period, during which the squares do not move; `0` means the
    /// squares always move. Default `0`.
    #[serde(default)]
    pub still_frames: u64,
    /// Frames in each moving period between still periods (only used when
    /// `still_frames` is positive). At least 1. Default `50`.
    #[serde(default = "default_moving_frames")]
    pub moving_frames: u64,
}

fn default_width() -> u32 {
    640
}
fn default_height() -> u32 {
    480
}
fn default_fps() -> f64 {
    10.0
}
fn default_objects() -> u32 {
    2
}
fn default_moving_frames() -> u64 {
    50
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            width: default_width(),
            height: default_height(),
            fps: default_fps(),
            frames: None,
            objects: default_objects(),
            still_frames: 0,
            moving_frames: default_moving_frames(),
        }
    }
}

impl SyntheticConfig {
    /// Checks the ranges documented on each field.
    pub fn validate(&self) -> Result<(), ComponentError> {
        let bad = |what: String| Err(ComponentError::new(format!("synthetic source: {what}")));
        for (field, v) in [("width", self.width), ("height", self.height)] {
            if !(16..=8192).contains(&v) {
                return bad(format!("{field} must be 16 to 8192 pixels, got {v}"));
            }
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return bad(format!(
                "fps must be a positive number of frames per second, got {}",
                self.fps
            ));
        }
        if self.frames == Some(0) {
            return bad("frames must be at least 1 (omit it for an endless stream)".into());
        }
        if self.objects > 64 {
            return bad(format!("objects must be 0 to 64, got {}", self.objects));
        }
        if self.moving_frames == 0 {
            return bad("moving_frames must be at least 1".into());
        }
        Ok(())
    }

    /// Creates the source named `name`.
    pub fn build(&self, name: Name) -> Result<Box<dyn Source>, ComponentError> {
        Ok(Box::new(SyntheticSource::new(name, self)?))
    }
}

/// Side of every square in pixels.
fn square_size(s: &SyntheticConfig) -> u32 {
    (s.width.min(s.height) / 8).max(4)
}

/// The number of moving steps taken up to frame `index` (see the module docs).
fn steps(s: &SyntheticConfig, index: u64) -> u64 {
    if s.still_frames == 0 {
        return index;
    }
    let moving = s.moving_frames.max(1);
    let cycle = moving.saturating_add(s.still_frames);
    let n = index.saturating_add(1);
    (n / cycle) * moving + (n % cycle).min(moving) - 1
}

/// Whether the squares moved between frame `index - 1` and frame `index` (false for frame
/// 0 and during still periods; always false without objects).
pub fn moves(settings: &SyntheticConfig, index: u64) -> bool {
    settings.objects > 0 && index > 0 && steps(settings, index) != steps(settings, index - 1)
}

/// Position along one axis: start `p0`, `v` pixels per step, bouncing in `[0, range]`.
fn bounce(p0: u64, v: u64, t: u64, range: u64) -> u64 {
    if range == 0 {
        return 0;
    }
    let period = 2 * range;
    let p = (p0 + (v * (t % period)) % period) % period;
    if p > range { period - p } else { p }
}

/// Top-left corners of the squares in frame `index`.
fn positions(s: &SyntheticConfig, index: u64) -> impl Iterator<Item = (u32, u32)> + '_ {
    let size = square_size(s);
    let range_x = u64::from(s.width.saturating_sub(size));
    let range_y = u64::from(s.height.saturating_sub(size));
    let unit = u64::from((s.width / 160).max(1));
    let t = steps(s, index);
    (0..u64::from(s.objects)).map(move |i| {
        let x0 = range_x * ((i * 37 + 11) % 100) / 100;
        let y0 = range_y * ((i * 53 + 29) % 100) / 100;
        let vx = unit * (1 + i % 4);
        let vy = (unit / 2).max(1) * (1 + (i + 1) % 3);
        (
            bounce(x0, vx, t, range_x) as u32,
            bounce(y0, vy, t, range_y) as u32,
        )
    })
}

/// Boxes of the squares in frame `index`, in drawing order: `x1,y1` is the top-left
/// pixel, `x2,y2` one past the bottom-right pixel (so `x2 - x1` is the side).
pub fn object_boxes(settings: &SyntheticConfig, index: u64) -> Vec<BBox> {
    let size = square_size(settings) as f32;
    positions(settings, index)
        .map(|(x, y)| {
            let (x, y) = (x as f32, y as f32);
            BBox::new(x, y, x + size, y + size)
        })
        .collect()
}

/// Packed RGB24 pixels of frame `index` (`width * height * 3` bytes).
pub fn synthetic_frame(settings: &SyntheticConfig, index: u64) -> Vec<u8> {
    let r = Renderer::new(settings);
    let mut out = vec![0; r.background.len()];
    r.render(settings, index, &mut out);
    out
}

const PALETTE: [[u8; 3]; 6] = [
    [240, 240, 240],
    [250, 210, 40],
    [60, 220, 250],
    [250, 90, 90],
    [120, 250, 120],
    [220, 120, 250],
];

/// Precomputed background and square row templates.
#[derive(Debug, Clone)]
struct Renderer {
    background: Vec<u8>,
    /// Per object: two row templates (checker phases) of `size * 3` bytes.
    rows: Vec<[Vec<u8>; 2]>,
    cell: u32,
}

impl Renderer {
    fn new(s: &SyntheticConfig) -> Self {
        let (w, h) = (s.width as usize, s.height as usize);
        let mut background = vec![0u8; w * h * 3];
        for (y, row) in background.chunks_exact_mut((w * 3).max(1)).enumerate() {
            for (x, px) in row.chunks_exact_mut(3).enumerate() {
                let mut v =
                    (x as u32).wrapping_mul(0x9E37_79B1) ^ (y as u32).wrapping_mul(0x85EB_CA77);
                v ^= v >> 15;
                v = v.wrapping_mul(0x2C1B_3C6D);
                v ^= v >> 12;
                let base = 18 + (v & 15) as u8;
                px[0] = base;
                px[1] = base + ((v >> 8) & 3) as u8;
                px[2] = base + 2 + ((v >> 10) & 3) as u8;
            }
        }
        let size = square_size(s);
        let cell = (size / 6).max(2);
        let rows = (0..s.objects as usize)
            .map(|i| {
                let c = PALETTE[i % PALETTE.len()];
                let dim = c.map(|v| (u16::from(v) * 3 / 4) as u8);
                let template = |phase: u32| -> Vec<u8> {
                    (0..size)
                        .flat_map(|dx| {
                            if (dx / cell + phase).is_multiple_of(2) {
                                c
                            } else {
                                dim
                            }
                        })
                        .collect()
                };
                [template(0), template(1)]
            })
            .collect();
        Self {
            background,
            rows,
            cell,
        }
    }

    /// Writes frame `index` into `out` (`background.len()` bytes).
    fn render(&self, s: &SyntheticConfig, index: u64, out: &mut [u8]) {
        out.copy_from_slice(&self.background);
        let stride = s.width as usize * 3;
        let size = square_size(s) as usize;
        for ((x, y), rows) in positions(s, index).zip(&self.rows) {
            let (x, y) = (x as usize, y as usize);
            for dy in 0..size {
                let start = (y + dy) * stride + x * 3;
                let template = &rows[(dy / self.cell as usize) % 2];
                if let Some(dst) = out.get_mut(start..start + template.len()) {
                    dst.copy_from_slice(template);
                }
            }
        }
    }
}

/// The synthetic test pattern as a source. See the module docs.
#[derive(Debug)]
pub struct SyntheticSource {
    info: SourceInfo,
    settings: SyntheticConfig,
    renderer: Renderer,
    index: u64,
    seq: u64,
    period_ns: f64,
    start_wall_ns: Option<i64>,
    pool: BufferPool,
}

impl SyntheticSource {
    /// Validates `config` and precomputes the background.
    pub fn new(name: Name, config: &SyntheticConfig) -> Result<Self, ComponentError> {
        config.validate()?;
        let mut info = SourceInfo::new(name, "synthetic");
        info.location = format!(
            "synthetic {}x{} at {} fps, {} objects",
            config.width, config.height, config.fps, config.objects
        );
        info.width = Some(config.width);
        info.height = Some(config.height);
        info.fps = Some(config.fps);
        info.frame_count = config.frames;
        info.live = false;
        Ok(Self {
            info,
            settings: config.clone(),
            renderer: Renderer::new(config),
            index: 0,
            seq: 0,
            period_ns: 1e9 / config.fps,
            start_wall_ns: None,
            pool: BufferPool::new(8),
        })
    }
}

impl Source for SyntheticSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self, cx: &SourceContext) -> Result<Poll, ComponentError> {
        let start = *self.start_wall_ns.get_or_insert_with(|| cx.clock.wall_ns());
        if self.settings.frames.is_some_and(|n| self.index >= n) {
            return Ok(Poll::Eos);
        }
        let (renderer, settings, index) = (&self.renderer, &self.settings, self.index);
        let pixels = self.pool.fill(renderer.background.len(), |buf| {
            renderer.render(settings, index, buf)
        });
        let image = Image::packed(settings.width, settings.height, PixelFormat::Rgb24, pixels)
            .map_err(|e| ComponentError::new(format!("synthetic source: {e}")))?;
        let frame = Frame {
            source: self.info.name.clone(),
            seq: self.seq,
            pts_ns: Some((self.index as f64 * self.period_ns).round() as i64),
            capture_time_ns: start
                .saturating_add((self.seq as f64 * self.period_ns).round() as i64),
            arrival_ns: cx.clock.mono_ns(),
            capture_clock: visualpath_core::CaptureClock::Media,
            image,
        };
        self.index += 1;
        self.seq += 1;
        Ok(Poll::Frame(frame))
    }

    fn rewind(&mut self) -> Result<(), ComponentError> {
        self.index = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_moving_and_still_periods() {
        let s = SyntheticConfig {
            moving_frames: 3,
            still_frames: 2,
            ..Default::default()
        };
        let t: Vec<u64> = (0..11).map(|i| steps(&s, i)).collect();
        assert_eq!(t, [0, 1, 2, 2, 2, 3, 4, 5, 5, 5, 6]);
        let m: Vec<bool> = (0..11).map(|i| moves(&s, i)).collect();
        assert_eq!(
            m,
            [
                false, true, true, false, false, true, true, true, false, false, true
            ]
        );
        let always = SyntheticConfig::default();
        assert_eq!(steps(&always, 7), 7);
        assert!(moves(&always, 1) && !moves(&always, 0));
    }

    #[test]
    fn bounce_reflects_at_edges() {
        let seq: Vec<u64> = (0..9).map(|t| bounce(0, 3, t, 10)).collect();
        assert_eq!(seq, [0, 3, 6, 9, 8, 5, 2, 1, 4]);
        assert_eq!(bounce(5, 7, 123, 0), 0);
        // huge t does not overflow
        assert!(bounce(1, 8, u64::MAX, 600) <= 600);
    }
}
