//! `frame_stats` on a real picture: `basketball1.png` (640x480, 8-bit grayscale) from the
//! shared media assets, read with the `image` crate. Skipped, with a message, when the
//! assets are not there.

mod support;

use std::path::PathBuf;

use support::*;
use visualpath_analyzers::FrameStatsConfig;
use visualpath_analyzers::gray::box_blur3;
use visualpath_sdk::PixelFormat;

fn asset(name: &str) -> Option<PathBuf> {
    visualpath_testkit::asset(&format!("media/{name}"))
}

#[test]
fn basketball_frame_stats_are_plausible_and_deterministic() {
    let Some(path) = asset("basketball1.png") else {
        eprintln!("skipped: basketball1.png not found beside the repository or in /work/shared");
        return;
    };
    let img = image::open(&path).unwrap();
    let luma = img.to_luma8();
    let (w, h) = luma.dimensions();
    assert_eq!((w, h), (640, 480));
    let luma = luma.into_raw();
    let rgb = img.to_rgb8().into_raw();

    let factory = FrameStatsConfig::default().factory();
    let gray_frame = frame(w, h, PixelFormat::Gray8, 0, luma.clone());
    let d = run(&mut *create(&factory), &gray_frame);
    let (brightness, contrast, sharpness) = (
        value(&d, "brightness"),
        value(&d, "contrast"),
        value(&d, "sharpness"),
    );
    // Values measured once (also by `examples/frame_stats_raw.rs` through ffmpeg):
    // a mid-gray indoor scene, in focus.
    assert!(
        (brightness - 0.4719).abs() < 5e-4,
        "brightness {brightness}"
    );
    assert!((contrast - 0.2391).abs() < 5e-4, "contrast {contrast}");
    assert!((sharpness - 0.01826).abs() < 2e-4, "sharpness {sharpness}");
    assert!(d.tags.is_empty(), "neither dark nor blurry: {:?}", d.tags);

    // Deterministic: the same frame again, a fresh analyzer, and the RGB24 copy of the
    // gray picture (r = g = b) give exactly the same observation.
    let mut a = create(&factory);
    assert_eq!(run(&mut *a, &gray_frame), d);
    assert_eq!(run(&mut *a, &gray_frame), d);
    assert_eq!(
        run(
            &mut *create(&factory),
            &frame(w, h, PixelFormat::Rgb24, 1, rgb)
        ),
        d
    );

    // Blurred at full resolution (three 3x3 box blurs, about a 5x5 Gaussian), the
    // picture keeps its brightness but loses sharpness.
    let (mut tmp, mut a_buf, mut b_buf) = (Vec::new(), Vec::new(), Vec::new());
    box_blur3(&luma, w, h, &mut tmp, &mut a_buf);
    box_blur3(&a_buf, w, h, &mut tmp, &mut b_buf);
    box_blur3(&b_buf, w, h, &mut tmp, &mut a_buf);
    let blurred = run(
        &mut *create(&factory),
        &frame(w, h, PixelFormat::Gray8, 0, a_buf),
    );
    assert!((value(&blurred, "brightness") - brightness).abs() < 2e-3);
    assert!(
        value(&blurred, "sharpness") < 0.8 * sharpness,
        "{blurred:?}"
    );
}
