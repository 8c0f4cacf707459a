//! ImageFolderSource on folders written by the tests.

mod common;

use std::path::Path;

use common::{WALL0, context, drain, is_eos, next};
use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use visualpath_media::{ImageFolderConfig, ImageFolderSource};
use visualpath_sdk::{ComponentError, Name, Source};

/// An image whose pixel (x, y) is (seed, x, y).
fn pattern(seed: u8, w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([seed, x as u8, y as u8]))
}

fn open(dir: &Path, fps: f64) -> Result<ImageFolderSource, ComponentError> {
    ImageFolderSource::open(
        Name::from_static("imgs"),
        &ImageFolderConfig {
            fps,
            ..ImageFolderConfig::new(dir.to_str().unwrap())
        },
    )
}

#[test]
fn three_pngs_play_in_name_order_with_times_and_loop() {
    let dir = tempfile::tempdir().unwrap();
    // Written out of order; other files and a folder with an image name are ignored.
    pattern(2, 8, 6)
        .save(dir.path().join("frame_002.png"))
        .unwrap();
    pattern(1, 8, 6)
        .save(dir.path().join("frame_001.png"))
        .unwrap();
    pattern(3, 8, 6)
        .save(dir.path().join("frame_010.png"))
        .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    std::fs::create_dir(dir.path().join("folder.png")).unwrap();

    let mut src = open(dir.path(), 4.0).unwrap();
    let info = src.info().clone();
    assert_eq!(info.kind, "images");
    assert_eq!(info.location, dir.path().to_str().unwrap());
    assert_eq!((info.width, info.height), (Some(8), Some(6)));
    assert_eq!(info.fps, Some(4.0));
    assert_eq!(info.frame_count, Some(3));
    assert!(!info.live);
    let names: Vec<_> = src
        .files()
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["frame_001.png", "frame_002.png", "frame_010.png"]);

    let (clock, cx) = context();
    let mut frames = Vec::new();
    for seed in 1..=3u8 {
        clock.advance(std::time::Duration::from_millis(7));
        let f = next(&mut src, &cx);
        assert_eq!((f.width(), f.height()), (8, 6));
        assert_eq!(f.image.data(), pattern(seed, 8, 6).as_raw().as_slice());
        frames.push(f);
    }
    let seqs: Vec<u64> = frames.iter().map(|f| f.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    let capture: Vec<i64> = frames
        .iter()
        .map(|f| f.capture_time_ns - frames[0].capture_time_ns)
        .collect();
    assert_eq!(capture, [0, 250_000_000, 500_000_000]);
    assert_eq!(frames[0].capture_time_ns, WALL0 + 7_000_000);
    let pts: Vec<_> = frames.iter().map(|f| f.pts_ns).collect();
    assert_eq!(pts, [Some(0), Some(250_000_000), Some(500_000_000)]);
    let arrival: Vec<_> = frames.iter().map(|f| f.arrival_ns).collect();
    assert_eq!(arrival, [7_000_000, 14_000_000, 21_000_000]);
    assert!(is_eos(&mut src, &cx));
    assert!(is_eos(&mut src, &cx));

    src.rewind().unwrap();
    let f = next(&mut src, &cx);
    assert_eq!(f.seq, 3);
    assert_eq!(f.pts_ns, Some(0));
    assert_eq!(f.capture_time_ns, frames[0].capture_time_ns + 750_000_000);
    assert_eq!(f.image.data(), frames[0].image.data());
}

#[test]
fn other_colour_types_and_jpeg_become_rgb24() {
    let dir = tempfile::tempdir().unwrap();
    GrayImage::from_pixel(4, 3, Luma([77]))
        .save(dir.path().join("a.png"))
        .unwrap();
    RgbaImage::from_pixel(4, 3, Rgba([10, 20, 30, 0]))
        .save(dir.path().join("b.PNG"))
        .unwrap();
    RgbImage::from_pixel(16, 16, Rgb([200, 100, 50]))
        .save(dir.path().join("c.jpeg"))
        .unwrap();
    let mut src = open(dir.path(), 10.0).unwrap();
    let (clock, cx) = context();
    let frames: Vec<_> = (0..3).map(|_| next(&mut src, &cx)).collect();
    assert!(is_eos(&mut src, &cx));
    drop(clock);
    assert!(frames[0].image.data().iter().all(|&v| v == 77));
    assert_eq!(&frames[1].image.data()[..3], &[10, 20, 30], "alpha dropped");
    assert_eq!(frames[1].image.data().len(), 4 * 3 * 3);
    // Images may differ in size; JPEG is lossy but close.
    assert_eq!((frames[2].width(), frames[2].height()), (16, 16));
    let px = &frames[2].image.data()[..3];
    assert!(
        px[0].abs_diff(200) < 8 && px[1].abs_diff(100) < 8 && px[2].abs_diff(50) < 8,
        "{px:?}"
    );
}

#[test]
fn an_empty_or_missing_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("readme.txt"), "x").unwrap();
    let e = open(dir.path(), 10.0).unwrap_err();
    assert_eq!(
        e.message,
        format!(
            "image folder `{}` has no .jpg, .jpeg or .png files",
            dir.path().display()
        )
    );
    let missing = dir.path().join("nope");
    let e = open(&missing, 10.0).unwrap_err();
    assert!(
        e.message.starts_with(&format!(
            "cannot read image folder `{}`: ",
            missing.display()
        )),
        "{}",
        e.message
    );
}

#[test]
fn invalid_fps_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    pattern(1, 2, 2).save(dir.path().join("a.png")).unwrap();
    for fps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = open(dir.path(), fps).unwrap_err();
        assert!(
            e.message.contains("fps must be a positive number"),
            "{}",
            e.message
        );
    }
}

#[test]
fn an_undecodable_image_names_the_file_and_is_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    pattern(1, 4, 4).save(dir.path().join("a.png")).unwrap();
    std::fs::write(
        dir.path().join("b.png"),
        b"\x89PNG\r\n\x1a\n but then nothing",
    )
    .unwrap();
    pattern(3, 4, 4).save(dir.path().join("c.png")).unwrap();
    let mut src = open(dir.path(), 10.0).unwrap();
    let (_clock, cx) = context();
    assert_eq!(next(&mut src, &cx).seq, 0);
    let e = src.next_frame(&cx).unwrap_err();
    let bad = dir.path().join("b.png");
    assert!(
        e.message
            .starts_with(&format!("cannot decode image `{}`: ", bad.display())),
        "{}",
        e.message
    );
    assert!(!e.message.contains('\n'));
    let f = next(&mut src, &cx);
    assert_eq!(f.seq, 1, "seq counts decoded frames");
    assert_eq!(f.pts_ns, Some(200_000_000), "stream time keeps the gap");
    assert_eq!(f.image.data()[0], 3);
}

#[test]
fn a_broken_first_image_fails_at_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), b"definitely not a jpeg").unwrap();
    let e = open(dir.path(), 10.0).unwrap_err();
    assert!(e.message.contains("a.jpg`"), "{}", e.message);
}

#[test]
fn config_defaults_and_build() {
    let c: ImageFolderConfig = serde_json::from_str(r#"{"path": "imgs"}"#).unwrap();
    assert_eq!(c, ImageFolderConfig::new("imgs"));
    assert_eq!(c.fps, 10.0);
    assert!(!c.looping);
    let c: ImageFolderConfig =
        serde_json::from_str(r#"{"path": "imgs", "fps": 2.5, "loop": true}"#).unwrap();
    assert!(c.looping && c.fps == 2.5);
    assert!(serde_json::from_str::<ImageFolderConfig>(r#"{"path": "a", "fsp": 1}"#).is_err());

    let dir = tempfile::tempdir().unwrap();
    for i in 0..5u8 {
        pattern(i, 3, 3)
            .save(dir.path().join(format!("{i}.png")))
            .unwrap();
    }
    let mut src = ImageFolderConfig::new(dir.path().to_str().unwrap())
        .build(Name::from_static("folder"))
        .unwrap();
    let (clock, cx) = context();
    let frames = drain(src.as_mut(), &cx, &clock, 100, &[]);
    assert_eq!(frames.len(), 5);
    assert_eq!(
        frames[4].capture_time_ns - frames[0].capture_time_ns,
        400_000_000
    );
}
