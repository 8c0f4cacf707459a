//! Test helpers: synthetic images.

#![allow(dead_code)]

use visualpath_core::{Image, PixelBuffer, PixelFormat};

/// A packed image whose pixel at `(x, y)` is `f(x, y)` (channels in memory order).
pub fn image3(w: u32, h: u32, format: PixelFormat, f: impl Fn(u32, u32) -> [u8; 3]) -> Image {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            v.extend_from_slice(&f(x, y));
        }
    }
    Image::packed(w, h, format, PixelBuffer::from_vec(v)).unwrap()
}

/// A packed grey image.
pub fn gray(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Image {
    let v = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| f(x, y))
        .collect();
    Image::packed(w, h, PixelFormat::Gray8, PixelBuffer::from_vec(v)).unwrap()
}

/// A black RGB image.
pub fn black(w: u32, h: u32) -> Image {
    image3(w, h, PixelFormat::Rgb24, |_, _| [0, 0, 0])
}

/// `|a - b| <= tol`, with a message.
pub fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol
}
