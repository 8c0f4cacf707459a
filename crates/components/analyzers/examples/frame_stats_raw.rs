//! Prints `frame_stats` values for raw RGB24 frames read from standard input, and their
//! range over the whole input: the tool behind the `blurry_below` default.
//!
//! ```text
//! ffmpeg -i vtest.avi [-vf gblur=sigma=2] -f rawvideo -pix_fmt rgb24 - \
//!   | cargo run --release -p visualpath-analyzers --example frame_stats_raw -- 768 576 [160] [-v]
//! ```
//!
//! Arguments: source width, source height, optional working width (default 160), and
//! `-v` to print every frame.

use std::io::Read;

use visualpath_analyzers::FrameStats;
use visualpath_analyzers::gray::Downscaler;
use visualpath_sdk::{Image, PixelBuffer, PixelFormat};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "-v");
    let nums: Vec<u32> = args
        .iter()
        .filter(|a| *a != "-v")
        .map(|a| a.parse().map_err(|e| format!("bad number `{a}`: {e}")))
        .collect::<Result<_, _>>()?;
    let (w, h, work) = match nums[..] {
        [w, h] => (w, h, 160),
        [w, h, work] => (w, h, work),
        _ => return Err("usage: frame_stats_raw WIDTH HEIGHT [WORK_WIDTH] [-v]".into()),
    };
    let len = PixelFormat::Rgb24.packed_len(w, h);
    let mut down = Downscaler::new(work);
    let mut stdin = std::io::stdin().lock();
    let mut all = Vec::new();
    loop {
        let mut buf = vec![0u8; len];
        if stdin.read_exact(&mut buf).is_err() {
            break;
        }
        let image = Image::packed(w, h, PixelFormat::Rgb24, PixelBuffer::from_vec(buf))
            .map_err(|e| e.to_string())?;
        let work = down.downscale(&image).map_err(|e| e.to_string())?;
        let s = FrameStats::measure(work);
        if verbose {
            println!(
                "{} brightness {:.4} contrast {:.4} sharpness {:.6}",
                all.len(),
                s.brightness,
                s.contrast,
                s.sharpness
            );
        }
        all.push(s);
    }
    if all.is_empty() {
        return Err("no complete frame on standard input".into());
    }
    let summary = |name: &str, f: fn(&FrameStats) -> f64| {
        let v: Vec<f64> = all.iter().map(f).collect();
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        println!("{name:<10} min {min:.6} mean {mean:.6} max {max:.6}");
    };
    println!("{} frames {w}x{h}, working width {work}", all.len());
    summary("brightness", |s| s.brightness);
    summary("contrast", |s| s.contrast);
    summary("sharpness", |s| s.sharpness);
    Ok(())
}
