//! The shared building block: a small grayscale *working image* made from a frame.
//!
//! Every analyzer in this crate works on a downscaled 8-bit luma image a few hundred
//! pixels wide rather than on the source frame: motion, statistics and histograms do not
//! need full resolution, the small image is a few kilobytes that stay in cache, and
//! sensor noise is averaged away by the downscale itself.
//!
//! # Exact semantics
//!
//! - **Size.** The working width is `min(target_width, source_width)` (never upscaled);
//!   the working height keeps the aspect ratio:
//!   `round(source_height * width / source_width)`, at least 1. A 768x576 frame at the
//!   default target 160 becomes 160x120.
//! - **Box (area) averaging.** Working column `x` covers the source columns
//!   `floor(x * W / w) .. floor((x + 1) * W / w)` (and likewise for rows): the source is
//!   partitioned into boxes whose sides differ by at most one pixel, and each working
//!   pixel is the rounded mean luma of its box. Every source pixel contributes to exactly
//!   one working pixel.
//! - **Luma.** Integer BT.601 weights `(77 R + 150 G + 29 B) / 256` (they sum to 256, so
//!   white stays 255 and gray stays gray exactly). GRAY8 is used as is; for NV12 and
//!   YUV420P only the Y plane is read (it already is luma). A uniform input of value `v`
//!   always gives a uniform working image of exactly `v`.
//! - **Mapping back.** [`WorkImage::source_from_work`] is the scale from working to
//!   source pixel coordinates (`x_src = x_work * W / w`, `y_src = y_work * H / h`), in
//!   the `a_from_b` naming used for coordinate transforms. It maps box *edges*: the
//!   working pixel `x` spans `[x, x + 1)`, which maps to the source span
//!   `[x * W / w, (x + 1) * W / w)`, within one source pixel of the source columns that
//!   were averaged into it.
//!
//! # Speed
//!
//! The source is read once, row by row, with no per-pixel bounds checks: the rows of one
//! box are first summed byte by byte into a row accumulator (a loop the compiler
//! vectorises; `u16` lanes whenever boxes are at most 257 rows tall, so that
//! `257 * 255` still fits, `u32` otherwise), then each box's channel sums are read off
//! the accumulator and turned into luma with one fixed-point multiply per working pixel
//! (the reciprocals of the at most four distinct box areas are precomputed when the
//! source size changes). There is no floating point and no division per pixel. On one
//! core of the development machine a 768x576 frame takes about 0.14 ms in RGB24 and
//! 0.06 ms in GRAY8 (`benches/analyzers.rs`, `gray/downscale_768x576_rgb24`).
//!
//! # Allocation
//!
//! A [`Downscaler`] owns its output and scratch buffers. They are allocated on the first
//! frame and again only when the source size changes; steady-state frames allocate
//! nothing.

use visualpath_sdk::{BBox, ComponentError, Image, PixelFormat};

/// Smallest working width the analyzers' `width` settings accept.
pub const MIN_WIDTH: u32 = 16;
/// Largest working width the analyzers' `width` settings accept.
pub const MAX_WIDTH: u32 = 1920;
/// Largest source width or height accepted, which keeps every integer sum in range.
pub const MAX_SOURCE_SIDE: u32 = 32_768;

/// BT.601 luma weights scaled to sum to 256, in R, G, B order.
const RGB_WEIGHTS: [u64; 3] = [77, 150, 29];
/// The same weights in B, G, R order (for BGR24).
const BGR_WEIGHTS: [u64; 3] = [29, 150, 77];
/// Fraction bits of the fixed-point reciprocals of box areas.
///
/// A box sum `s` is at most `256 * 255 * n` for a box of `n` pixels and its reciprocal
/// `m` is about `2^52 / (256 n)`, so `s * m` stays below `255 * 2^52 + 2^51 < 2^60`.
/// The rounding error of `m` moves the result by less than `n * 2^-37`, which is below
/// `2^-7` even for the largest boxes ([`MAX_SOURCE_SIDE`] squared), so results are the
/// correctly rounded mean except at exact ties.
const FRAC_BITS: u32 = 52;
const HALF: u64 = 1 << (FRAC_BITS - 1);

/// A scale between two pixel coordinate frames: `to = (x * self.x, y * self.y)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Horizontal factor.
    pub x: f64,
    /// Vertical factor.
    pub y: f64,
}

impl Scale {
    /// The scale that changes nothing.
    pub const IDENTITY: Self = Self { x: 1.0, y: 1.0 };

    /// Maps a point.
    pub fn point(self, x: f64, y: f64) -> (f64, f64) {
        (x * self.x, y * self.y)
    }

    /// Maps a box given by its edges (`x1, y1` top-left, `x2, y2` bottom-right).
    pub fn bbox(self, x1: f64, y1: f64, x2: f64, y2: f64) -> BBox {
        BBox::new(
            (x1 * self.x) as f32,
            (y1 * self.y) as f32,
            (x2 * self.x) as f32,
            (y2 * self.y) as f32,
        )
    }
}

/// The working-image size for a source of `source_width x source_height` and a target
/// width (see the module docs). A `target_width` of 0 is treated as 1.
pub fn work_size(source_width: u32, source_height: u32, target_width: u32) -> (u32, u32) {
    let (sw, sh) = (
        u64::from(source_width.max(1)),
        u64::from(source_height.max(1)),
    );
    let w = u64::from(target_width.max(1)).min(sw);
    // round(sh * w / sw), at least 1, at most sh.
    let h = ((2 * sh * w + sw) / (2 * sw)).clamp(1, sh);
    // Both are at most the source sides, which are u32.
    (w as u32, h as u32)
}

/// A small 8-bit grayscale image derived from a frame, tightly packed (stride = width).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkImage {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    source_width: u32,
    source_height: u32,
}

impl WorkImage {
    /// Wraps luma bytes that are their own source (scale 1), e.g. for tests and tools.
    ///
    /// Returns `None` when a side is 0 or `pixels` does not hold exactly
    /// `width * height` bytes.
    pub fn from_luma(width: u32, height: u32, pixels: Vec<u8>) -> Option<Self> {
        (width > 0 && height > 0 && pixels.len() == width as usize * height as usize).then_some(
            Self {
                width,
                height,
                pixels,
                source_width: width,
                source_height: height,
            },
        )
    }

    /// Width in working pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in working pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The luma bytes, row after row.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Row `y` (panics if `y >= height`, like slice indexing).
    pub fn row(&self, y: u32) -> &[u8] {
        let w = self.width as usize;
        &self.pixels[y as usize * w..(y as usize + 1) * w]
    }

    /// Width of the source frame it was made from.
    pub fn source_width(&self) -> u32 {
        self.source_width
    }

    /// Height of the source frame it was made from.
    pub fn source_height(&self) -> u32 {
        self.source_height
    }

    /// The scale from working-image to source-frame pixel coordinates.
    pub fn source_from_work(&self) -> Scale {
        if self.width == 0 || self.height == 0 {
            return Scale::IDENTITY;
        }
        Scale {
            x: f64::from(self.source_width) / f64::from(self.width),
            y: f64::from(self.source_height) / f64::from(self.height),
        }
    }
}

/// The box partition for one source size, rebuilt only when that size changes.
#[derive(Debug, Default)]
struct Layout {
    source_width: u32,
    source_height: u32,
    /// `width + 1` source column boundaries.
    col_starts: Vec<u32>,
    /// `height + 1` source row boundaries.
    row_starts: Vec<u32>,
    /// The smaller of the (at most two) box heights.
    base_rows: u32,
    /// Fixed-point reciprocals of `256 * box area`: `width` entries for rows of
    /// `base_rows` source rows, then `width` entries for rows of `base_rows + 1`.
    recips: Vec<u64>,
}

impl Layout {
    fn build(&mut self, source_width: u32, source_height: u32, target_width: u32) -> (u32, u32) {
        let (w, h) = work_size(source_width, source_height, target_width);
        let starts = |v: &mut Vec<u32>, src: u32, n: u32| {
            v.clear();
            v.extend((0..=u64::from(n)).map(|i| (i * u64::from(src) / u64::from(n)) as u32));
        };
        starts(&mut self.col_starts, source_width, w);
        starts(&mut self.row_starts, source_height, h);
        self.base_rows = source_height / h;
        self.recips.clear();
        for rows in [self.base_rows, self.base_rows + 1] {
            self.recips.extend(self.col_starts.windows(2).map(|c| {
                let area = 256 * u64::from(c[1] - c[0]) * u64::from(rows);
                ((1u64 << FRAC_BITS) + area / 2) / area
            }));
        }
        self.source_width = source_width;
        self.source_height = source_height;
        (w, h)
    }
}

/// Turns frames into [`WorkImage`]s, reusing its buffers from frame to frame.
#[derive(Debug)]
pub struct Downscaler {
    target_width: u32,
    layout: Layout,
    /// Per-byte column sums of the source rows of one box row, when boxes are at most
    /// [`MAX_U16_ROWS`] rows tall (twice the SIMD lanes of `u32`).
    acc16: Vec<u16>,
    /// The same for taller boxes.
    acc32: Vec<u32>,
    out: WorkImage,
}

/// The tallest box whose per-byte column sums fit a `u16` (`257 * 255 = 65535`).
const MAX_U16_ROWS: u32 = 257;

/// A column-sum accumulator type.
trait Accum: Copy + From<u8> + Into<u64> + std::ops::AddAssign {}
impl Accum for u16 {}
impl Accum for u32 {}

impl Downscaler {
    /// A downscaler to working images `target_width` pixels wide (or the source width
    /// when that is smaller). A `target_width` of 0 is treated as 1; the analyzers'
    /// settings restrict it to [`MIN_WIDTH`]`..=`[`MAX_WIDTH`].
    pub fn new(target_width: u32) -> Self {
        Self {
            target_width: target_width.max(1),
            layout: Layout::default(),
            acc16: Vec::new(),
            acc32: Vec::new(),
            out: WorkImage::default(),
        }
    }

    /// The configured target width.
    pub fn target_width(&self) -> u32 {
        self.target_width
    }

    /// The last working image produced (empty before the first frame).
    pub fn last(&self) -> &WorkImage {
        &self.out
    }

    /// Makes the working image of `image`.
    ///
    /// Fails, with a one-line message, only for a source side above
    /// [`MAX_SOURCE_SIDE`].
    pub fn downscale(&mut self, image: &Image) -> Result<&WorkImage, ComponentError> {
        let (sw, sh) = (image.width(), image.height());
        if sw > MAX_SOURCE_SIDE || sh > MAX_SOURCE_SIDE {
            return Err(ComponentError::new(format!(
                "frame of {sw}x{sh} pixels is too large: the analyzers accept at most \
                 {MAX_SOURCE_SIDE} pixels per side"
            )));
        }
        let (channels, weights) = match image.format() {
            PixelFormat::Rgb24 => (3, RGB_WEIGHTS),
            PixelFormat::Bgr24 => (3, BGR_WEIGHTS),
            // Luma already: GRAY8 itself, or the Y plane (the first plane) of NV12/YUV420P.
            PixelFormat::Gray8 | PixelFormat::Nv12 | PixelFormat::Yuv420p => (1, [256, 0, 0]),
        };
        if self.layout.source_width != sw
            || self.layout.source_height != sh
            || self.out.pixels.is_empty()
        {
            let (w, h) = self.layout.build(sw, sh, self.target_width);
            self.out.width = w;
            self.out.height = h;
            self.out.source_width = sw;
            self.out.source_height = sh;
            self.out.pixels.clear();
            self.out.pixels.resize(w as usize * h as usize, 0);
        }
        let row_bytes = sw as usize * channels;
        let (layout, out) = (&self.layout, &mut self.out);
        // Boxes are base_rows or base_rows + 1 rows tall.
        if layout.base_rows < MAX_U16_ROWS {
            self.acc16.resize(row_bytes, 0);
            match channels {
                3 => downscale_rows::<3, _>(image, layout, &mut self.acc16, out, weights),
                _ => downscale_rows::<1, _>(image, layout, &mut self.acc16, out, weights),
            }
        } else {
            self.acc32.resize(row_bytes, 0);
            match channels {
                3 => downscale_rows::<3, _>(image, layout, &mut self.acc32, out, weights),
                _ => downscale_rows::<1, _>(image, layout, &mut self.acc32, out, weights),
            }
        }
        Ok(&self.out)
    }
}

/// The downscale proper, for `C` interleaved 8-bit channels per pixel, summing columns
/// in `A`.
fn downscale_rows<const C: usize, A: Accum>(
    image: &Image,
    layout: &Layout,
    acc: &mut [A],
    out: &mut WorkImage,
    weights: [u64; 3],
) {
    let w = out.width as usize;
    let (base_recips, tall_recips) = layout.recips.split_at(w);
    for (out_row, rows) in out
        .pixels
        .chunks_exact_mut(w)
        .zip(layout.row_starts.windows(2))
    {
        let (r0, r1) = (rows[0], rows[1]);
        // Vertical pass: sum the box's source rows byte by byte.
        for (a, &b) in acc.iter_mut().zip(image.row(r0)) {
            *a = A::from(b);
        }
        for y in r0 + 1..r1 {
            for (a, &b) in acc.iter_mut().zip(image.row(y)) {
                *a += A::from(b);
            }
        }
        let recips = if r1 - r0 == layout.base_rows {
            base_recips
        } else {
            tall_recips
        };
        // Horizontal pass: one box per working pixel.
        for ((o, &m), cols) in out_row
            .iter_mut()
            .zip(recips)
            .zip(layout.col_starts.windows(2))
        {
            let boxed = &acc[cols[0] as usize * C..cols[1] as usize * C];
            let weighted = if C == 3 {
                let (mut s0, mut s1, mut s2) = (0u64, 0u64, 0u64);
                for px in boxed.chunks_exact(3) {
                    s0 += px[0].into();
                    s1 += px[1].into();
                    s2 += px[2].into();
                }
                s0 * weights[0] + s1 * weights[1] + s2 * weights[2]
            } else {
                boxed.iter().map(|&v| v.into()).sum::<u64>() * weights[0]
            };
            *o = ((weighted * m + HALF) >> FRAC_BITS).min(255) as u8;
        }
    }
}

/// A 3x3 box blur of a `width x height` luma image into `dst`, replicating edge pixels.
///
/// Each output pixel is the rounded mean of the 9 pixels around it (edge pixels count
/// the nearest inside pixel again), so a uniform image stays exactly the same. `tmp` is
/// scratch space; both buffers are resized as needed and reused across calls.
pub fn box_blur3(src: &[u8], width: u32, height: u32, tmp: &mut Vec<u16>, dst: &mut Vec<u8>) {
    let (w, h) = (width as usize, height as usize);
    let n = w * h;
    tmp.resize(n, 0);
    dst.resize(n, 0);
    if n == 0 || src.len() < n {
        return;
    }
    // Horizontal sums of 3.
    for (s, t) in src[..n].chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
        if w == 1 {
            t[0] = 3 * u16::from(s[0]);
            continue;
        }
        t[0] = 2 * u16::from(s[0]) + u16::from(s[1]);
        t[w - 1] = u16::from(s[w - 2]) + 2 * u16::from(s[w - 1]);
        for (t, win) in t[1..w - 1].iter_mut().zip(s.windows(3)) {
            *t = u16::from(win[0]) + u16::from(win[1]) + u16::from(win[2]);
        }
    }
    // Vertical sums of 3 horizontal sums, then the rounded mean of 9.
    for y in 0..h {
        let up = &tmp[y.saturating_sub(1) * w..][..w];
        let mid = &tmp[y * w..][..w];
        let down = &tmp[(y + 1).min(h - 1) * w..][..w];
        let out = &mut dst[y * w..][..w];
        for (((o, &a), &b), &c) in out.iter_mut().zip(up).zip(mid).zip(down) {
            // At most 9 * 255 + 4, and the mean of values <= 255 is <= 255.
            *o = ((a + b + c + 4) / 9) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use visualpath_sdk::PixelBuffer;

    fn image(w: u32, h: u32, format: PixelFormat, data: Vec<u8>) -> Image {
        Image::packed(w, h, format, PixelBuffer::from_vec(data)).unwrap()
    }

    #[test]
    fn work_size_keeps_aspect_and_never_upscales() {
        assert_eq!(work_size(768, 576, 160), (160, 120));
        assert_eq!(work_size(640, 480, 160), (160, 120));
        assert_eq!(work_size(1920, 1080, 160), (160, 90));
        assert_eq!(work_size(100, 50, 160), (100, 50));
        assert_eq!(work_size(1000, 1, 160), (160, 1));
        assert_eq!(work_size(3, 1000, 16), (3, 1000));
        assert_eq!(work_size(5, 5, 0), (1, 1));
    }

    #[test]
    fn uniform_inputs_stay_exact_in_every_format() {
        for v in [0u8, 1, 77, 128, 254, 255] {
            let (w, h) = (97u32, 61u32); // odd sizes: boxes of unequal sides
            let rgb = image(w, h, PixelFormat::Rgb24, vec![v; (w * h * 3) as usize]);
            let gray = image(w, h, PixelFormat::Gray8, vec![v; (w * h) as usize]);
            let nv12_len = PixelFormat::Nv12.packed_len(w, h);
            let mut nv12 = vec![v; (w * h) as usize];
            nv12.resize(nv12_len, 200); // chroma must be ignored
            let nv12 = image(w, h, PixelFormat::Nv12, nv12);
            for img in [rgb, gray, nv12] {
                let mut d = Downscaler::new(16);
                let out = d.downscale(&img).unwrap();
                assert_eq!((out.width(), out.height()), (16, 10));
                assert!(
                    out.pixels().iter().all(|&p| p == v),
                    "{v} {:?}",
                    img.format()
                );
            }
        }
    }

    #[test]
    fn luma_weights_and_channel_order() {
        // Pure red, green, blue pixels.
        for (rgb, want) in [([255u8, 0, 0], 77u8), ([0, 255, 0], 149), ([0, 0, 255], 29)] {
            let img = image(1, 1, PixelFormat::Rgb24, rgb.to_vec());
            let mut d = Downscaler::new(160);
            // 255 * 150 / 256 = 149.4 -> 149; 255 * 77 / 256 = 76.7 -> 77; 28.9 -> 29.
            assert_eq!(d.downscale(&img).unwrap().pixels(), &[want]);
            let bgr = image(1, 1, PixelFormat::Bgr24, vec![rgb[2], rgb[1], rgb[0]]);
            assert_eq!(d.downscale(&bgr).unwrap().pixels(), &[want]);
        }
    }

    #[test]
    fn box_average_of_a_known_pattern() {
        // 4x2 gray source to width 2: boxes of 2x1... height round(2 * 2 / 4) = 1, so
        // boxes are 2 columns x 2 rows.
        let img = image(
            4,
            2,
            PixelFormat::Gray8,
            vec![0, 10, 20, 30, 40, 50, 60, 71],
        );
        let mut d = Downscaler::new(2);
        let out = d.downscale(&img).unwrap();
        assert_eq!((out.width(), out.height()), (2, 1));
        // (0 + 10 + 40 + 50) / 4 = 25; (20 + 30 + 60 + 71) / 4 = 45.25 -> 45.
        assert_eq!(out.pixels(), &[25, 45]);
        assert_eq!(out.source_from_work(), Scale { x: 2.0, y: 2.0 });
    }

    #[test]
    fn unequal_boxes_partition_the_source() {
        // 5 columns to 2: boxes of columns 0..2 and 2..5.
        let img = image(5, 1, PixelFormat::Gray8, vec![10, 20, 100, 100, 103]);
        let mut d = Downscaler::new(2);
        let out = d.downscale(&img).unwrap();
        assert_eq!(out.pixels(), &[15, 101]);
        assert_eq!(out.source_from_work().x, 2.5);
    }

    #[test]
    fn strided_rows_ignore_padding() {
        // 2x2 RGB with 2 bytes of padding per row filled with 255.
        let data = vec![0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 255, 255];
        let img = Image::new(2, 2, 8, PixelFormat::Rgb24, PixelBuffer::from_vec(data)).unwrap();
        let mut d = Downscaler::new(1);
        assert_eq!(d.downscale(&img).unwrap().pixels(), &[0]);
    }

    #[test]
    fn buffers_are_reused_and_size_changes_rebuild() {
        let mut d = Downscaler::new(160);
        let a = image(768, 576, PixelFormat::Rgb24, vec![9; 768 * 576 * 3]);
        let ptr = d.downscale(&a).unwrap().pixels().as_ptr();
        let b = image(768, 576, PixelFormat::Rgb24, vec![200; 768 * 576 * 3]);
        let out = d.downscale(&b).unwrap();
        assert_eq!(out.pixels().as_ptr(), ptr);
        assert!(out.pixels().iter().all(|&p| p == 200));
        let c = image(320, 240, PixelFormat::Gray8, vec![3; 320 * 240]);
        let out = d.downscale(&c).unwrap();
        assert_eq!(
            (out.width(), out.height(), out.source_width()),
            (160, 120, 320)
        );
        assert!(out.pixels().iter().all(|&p| p == 3));
    }

    #[test]
    fn tall_boxes_use_wide_sums_and_the_narrow_limit_holds() {
        // 4112x300 to width 16: one box row 300 source rows tall (> 257): u32 sums.
        let (w, h) = (4112u32, 300u32);
        let data = (0..h).flat_map(|_| (0..w).map(|x| if x < w / 2 { 0 } else { 255 }));
        let img = image(w, h, PixelFormat::Gray8, data.collect());
        let mut d = Downscaler::new(16);
        let out = d.downscale(&img).unwrap();
        assert_eq!((out.width(), out.height()), (16, 1));
        assert_eq!(out.pixels(), &[[0u8; 8], [255; 8]].concat()[..]);
        // 4104x513 to width 16: boxes of 256 and 257 rows, the most `u16` sums can take
        // (257 * 255 = 65535); a debug build would panic on overflow.
        let img = image(4104, 513, PixelFormat::Gray8, vec![255; 4104 * 513]);
        let out = d.downscale(&img).unwrap();
        assert_eq!((out.width(), out.height()), (16, 2));
        assert!(out.pixels().iter().all(|&p| p == 255));
    }

    #[test]
    fn oversized_frames_are_an_error_not_a_panic() {
        let img = image(MAX_SOURCE_SIDE + 1, 1, PixelFormat::Gray8, vec![0; 32_769]);
        let e = Downscaler::new(160).downscale(&img).unwrap_err();
        assert!(e.message.contains("at most 32768 pixels per side"), "{e}");
    }

    #[test]
    fn blur_keeps_uniform_and_spreads_a_dot() {
        let (mut tmp, mut dst) = (Vec::new(), Vec::new());
        box_blur3(&[50; 12], 4, 3, &mut tmp, &mut dst);
        assert_eq!(dst, vec![50; 12]);
        let mut dot = vec![0u8; 25];
        dot[12] = 90;
        box_blur3(&dot, 5, 5, &mut tmp, &mut dst);
        for y in 0..5 {
            for x in 0..5 {
                let inside = (1..=3).contains(&x) && (1..=3).contains(&y);
                assert_eq!(dst[y * 5 + x], if inside { 10 } else { 0 }, "{x},{y}");
            }
        }
        // Single row and single column images replicate edges.
        box_blur3(&[0, 90, 0], 3, 1, &mut tmp, &mut dst);
        assert_eq!(dst, vec![30, 30, 30]);
        box_blur3(&[90], 1, 1, &mut tmp, &mut dst);
        assert_eq!(dst, vec![90]);
    }
}
