//! Pre-processing of a 768x576 RGB24 frame, with a plain copy of the frame's bytes into
//! a reused buffer as the in-run baseline:
//!
//! - `letterbox_640_f32_nchw`: YOLO input (640x640, letterbox, RGB, f32 /255, NCHW);
//! - `stretch_300_u8_nhwc`: SSD-MobileNet input (300x300, stretch, RGB, u8, NHWC);
//! - `crop_192_i32_nhwc`: a MoveNet crop around a person box (192x192, i32, NHWC).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use visualpath_core::{BBox, Image, PixelBuffer, PixelFormat};
use visualpath_vision::{
    CropConfig, ElementType, Filter, InputTensor, Layout, Normalize, PreprocessConfig,
    Preprocessor, Resize,
};

const W: u32 = 768;
const H: u32 = 576;

fn frame() -> Image {
    let mut v = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H {
        for x in 0..W {
            v.extend_from_slice(&[(x ^ y) as u8, (x * 3 + y) as u8, (y * 5) as u8]);
        }
    }
    Image::packed(W, H, PixelFormat::Rgb24, PixelBuffer::from_vec(v)).unwrap()
}

fn bench(c: &mut Criterion) {
    let img = frame();
    let mut g = c.benchmark_group("preprocess_768x576");
    g.throughput(Throughput::Elements(1));

    let mut copy = vec![0u8; img.data().len()];
    g.bench_function("copy_frame_baseline", |b| {
        b.iter(|| {
            copy.copy_from_slice(black_box(img.data()));
            black_box(&copy);
        })
    });

    let configs = [
        ("letterbox_640_f32_nchw", PreprocessConfig::default()),
        (
            "letterbox_640_f32_nchw_antialias",
            PreprocessConfig {
                filter: Filter::BilinearAntialias,
                ..Default::default()
            },
        ),
        (
            "stretch_300_u8_nhwc",
            PreprocessConfig {
                width: 300,
                height: 300,
                resize: Resize::Stretch,
                layout: Layout::Nhwc,
                dtype: ElementType::U8,
                normalize: Normalize::None,
                ..Default::default()
            },
        ),
    ];
    for (name, config) in configs {
        let mut p = Preprocessor::new(config).unwrap();
        let mut out = InputTensor::new();
        g.bench_function(name, |b| {
            b.iter(|| black_box(p.run(black_box(&img), &mut out).unwrap()))
        });
    }

    let mut p = Preprocessor::new(PreprocessConfig {
        width: 192,
        height: 192,
        resize: Resize::Stretch,
        layout: Layout::Nhwc,
        dtype: ElementType::I32,
        normalize: Normalize::None,
        ..Default::default()
    })
    .unwrap();
    let region = CropConfig::default()
        .region(&BBox::new(300.0, 100.0, 420.0, 460.0), W, H)
        .unwrap();
    let mut out = InputTensor::new();
    g.bench_function("crop_192_i32_nhwc", |b| {
        b.iter(|| black_box(p.run_region(black_box(&img), region, &mut out).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
