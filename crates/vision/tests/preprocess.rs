//! Pre-processing: geometry round trips, pixel values, layouts, element types.

mod common;

use common::{black, close, gray, image3};
use visualpath_core::{BBox, Image, PixelBuffer, PixelFormat};
use visualpath_vision::{
    ColorOrder, CropBorder, CropConfig, ElementType, Filter, InputTensor, Layout, Normalize,
    PreprocessConfig, Preprocessor, Resize,
};

fn cfg(w: u32, h: u32, resize: Resize) -> PreprocessConfig {
    PreprocessConfig {
        width: w,
        height: h,
        resize,
        ..Default::default()
    }
}

fn raw_u8_nhwc(w: u32, h: u32, resize: Resize) -> PreprocessConfig {
    PreprocessConfig {
        width: w,
        height: h,
        resize,
        layout: Layout::Nhwc,
        dtype: ElementType::U8,
        normalize: Normalize::None,
        ..Default::default()
    }
}

const LB: Resize = Resize::Letterbox { pad_value: 114 };

#[test]
fn letterbox_maps_model_boxes_to_exact_source_pixels() {
    let mut p = Preprocessor::new(cfg(640, 640, LB)).unwrap();
    let mut out = InputTensor::new();
    let t = p.run(&black(768, 576), &mut out).unwrap();
    assert_eq!(out.shape(), &[1, 3, 640, 640]);
    // Content is 640x480 at y = 80; scale 1.2.
    let b = t.map_box(&BBox::new(100.0, 180.0, 200.0, 280.0));
    assert_eq!(b, BBox::new(120.0, 120.0, 240.0, 240.0));
    assert_eq!(
        t.map_box(&BBox::new(0.0, 80.0, 640.0, 560.0)),
        BBox::new(0.0, 0.0, 768.0, 576.0)
    );
    // The bars clamp to the image border.
    assert_eq!(t.map_point(320.0, 10.0), (384.0, 0.0));
    // Inverse: source corners land on the content's corners.
    let inv = t.inverse();
    assert_eq!(inv.map_point(768.0, 576.0), (640.0, 560.0));
    assert_eq!(inv.map_point(0.0, 0.0), (0.0, 80.0));
}

#[test]
fn letterbox_tall_image_pads_left_and_right() {
    let mut p = Preprocessor::new(raw_u8_nhwc(8, 8, Resize::Letterbox { pad_value: 7 })).unwrap();
    let mut out = InputTensor::new();
    // 2x4 white image into 8x8: content 4x8 at x = 2.
    let img = image3(2, 4, PixelFormat::Rgb24, |_, _| [255, 255, 255]);
    let t = p.run(&img, &mut out).unwrap();
    let d = out.as_u8().unwrap();
    for y in 0..8 {
        for x in 0..8 {
            let v = d[(y * 8 + x) * 3];
            let expect = if (2..6).contains(&x) { 255 } else { 7 };
            assert_eq!(v, expect, "pixel {x},{y}");
        }
    }
    assert_eq!(
        t.map_box(&BBox::new(2.0, 0.0, 6.0, 8.0)),
        BBox::new(0.0, 0.0, 2.0, 4.0)
    );
}

#[test]
fn stretch_maps_each_axis() {
    let mut p = Preprocessor::new(raw_u8_nhwc(300, 300, Resize::Stretch)).unwrap();
    let mut out = InputTensor::new();
    let t = p.run(&black(768, 576), &mut out).unwrap();
    assert_eq!(out.shape(), &[1, 300, 300, 3]);
    assert_eq!(out.len(), 270_000);
    assert_eq!(
        t.map_box(&BBox::new(0.0, 0.0, 300.0, 300.0)),
        BBox::new(0.0, 0.0, 768.0, 576.0)
    );
    assert_eq!(t.map_point(150.0, 75.0), (384.0, 144.0));
}

#[test]
fn pixels_agree_with_the_transform() {
    // A white rectangle [200, 300) x [100, 250) on black; nearest-neighbour letterbox.
    let img = image3(768, 576, PixelFormat::Rgb24, |x, y| {
        if (200..300).contains(&x) && (100..250).contains(&y) {
            [255; 3]
        } else {
            [0; 3]
        }
    });
    let mut c = raw_u8_nhwc(640, 640, LB);
    c.filter = Filter::Nearest;
    let mut p = Preprocessor::new(c).unwrap();
    let mut out = InputTensor::new();
    let t = p.run(&img, &mut out).unwrap();
    let d = out.as_u8().unwrap();
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..640 {
        for x in 0..640 {
            if d[(y * 640 + x) * 3] == 255 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
        }
    }
    let b = t.map_box(&BBox::new(x0 as f32, y0 as f32, x1 as f32, y1 as f32));
    for (got, want) in [(b.x1, 200.0), (b.y1, 100.0), (b.x2, 300.0), (b.y2, 250.0)] {
        assert!(close(got, want, 1.2), "{b:?}");
    }
}

#[test]
fn fractional_crop_follows_the_linear_map() {
    // Ramps: red = 4x, green = 4y. Bilinear interpolation of a ramp is exact, so model
    // pixel (i, j) holds 4 * (source coordinate of its centre - 0.5) on each axis, up to
    // the resizer's rounding to u8 (0.5). A crop misplaced by 0.3 px would be off by 1.2.
    let img = image3(64, 64, PixelFormat::Rgb24, |x, y| {
        [(4 * x) as u8, (4 * y) as u8, 0]
    });
    let mut c = cfg(20, 20, Resize::Stretch);
    c.normalize = Normalize::None;
    let mut p = Preprocessor::new(c).unwrap();
    let mut out = InputTensor::new();
    let region = BBox::new(10.3, 5.7, 50.3, 45.7); // 40 x 40 -> scale 2
    let t = p.run_region(&img, region, &mut out).unwrap();
    let d = out.as_f32().unwrap();
    for j in 0..20 {
        for i in 0..20 {
            let (sx, sy) = t.map_point(i as f32 + 0.5, j as f32 + 0.5);
            let (r, g) = (d[j * 20 + i], d[400 + j * 20 + i]);
            assert!(
                close(r, 4.0 * (sx - 0.5), 0.51),
                "red at {i},{j}: {r} vs {sx}"
            );
            assert!(
                close(g, 4.0 * (sy - 0.5), 0.51),
                "green at {i},{j}: {g} vs {sy}"
            );
        }
    }
}

#[test]
fn roi_transform_maps_to_full_frame_pixels() {
    let mut p = Preprocessor::new(cfg(160, 120, LB)).unwrap();
    let mut out = InputTensor::new();
    let t = p
        .run_region(
            &black(640, 480),
            BBox::new(100.0, 50.0, 420.0, 290.0),
            &mut out,
        )
        .unwrap();
    assert_eq!(t.map_point(0.0, 0.0), (100.0, 50.0));
    assert_eq!(t.map_point(160.0, 120.0), (420.0, 290.0));
    assert_eq!(
        t.map_box(&BBox::new(10.0, 20.0, 30.0, 40.0)),
        BBox::new(120.0, 90.0, 160.0, 130.0)
    );
    assert_eq!((t.to_width, t.to_height), (640, 480));
}

#[test]
fn roi_content_comes_from_the_region() {
    // Left half red, right half blue; a region in the right half gives only blue.
    let img = image3(100, 50, PixelFormat::Rgb24, |x, _| {
        if x < 50 { [255, 0, 0] } else { [0, 0, 255] }
    });
    let mut p = Preprocessor::new(raw_u8_nhwc(10, 10, Resize::Stretch)).unwrap();
    let mut out = InputTensor::new();
    p.run_region(&img, BBox::new(60.0, 10.0, 90.0, 40.0), &mut out)
        .unwrap();
    assert!(out.as_u8().unwrap().chunks(3).all(|px| px == [0, 0, 255]));
}

#[test]
fn crop_beyond_the_border_is_padded() {
    // A person box in the top-left corner of a 100x100 white image; the square crop
    // (-20, -20, 80, 80) is 100 px; into 50x50 it is scale 2 and a 10-px pad band.
    let img = image3(100, 100, PixelFormat::Rgb24, |_, _| [200, 200, 200]);
    let crop = CropConfig {
        margin: 0.0,
        square: true,
        border: CropBorder::Pad,
    };
    let region = crop
        .region(&BBox::new(-20.0, -20.0, 80.0, 80.0), 100, 100)
        .unwrap();
    let mut c = raw_u8_nhwc(50, 50, Resize::Stretch);
    c.filter = Filter::Bilinear;
    let mut p = Preprocessor::new(c).unwrap();
    let mut out = InputTensor::new();
    let t = p.run_region(&img, region, &mut out).unwrap();
    let d = out.as_u8().unwrap();
    for y in 0..50 {
        for x in 0..50 {
            let expect = if x < 10 || y < 10 { 0 } else { 200 };
            assert_eq!(d[(y * 50 + x) * 3 + 1], expect, "pixel {x},{y}");
        }
    }
    assert_eq!(t.map_point(10.0, 10.0), (0.0, 0.0));
    assert_eq!(t.map_point(50.0, 50.0), (80.0, 80.0));
    assert_eq!(t.map_point_unclamped(0.0, 0.0), (-20.0, -20.0));
    // Letterbox pads out-of-image parts with its pad value.
    let mut c = raw_u8_nhwc(50, 50, Resize::Letterbox { pad_value: 9 });
    c.filter = Filter::Nearest;
    let mut p = Preprocessor::new(c).unwrap();
    p.run_region(&img, region, &mut out).unwrap();
    assert_eq!(out.as_u8().unwrap()[0], 9);
    assert_eq!(out.as_u8().unwrap()[(20 * 50 + 20) * 3], 200);
}

#[test]
fn region_outside_the_image_is_all_padding() {
    let mut p = Preprocessor::new(raw_u8_nhwc(4, 4, LB)).unwrap();
    let mut out = InputTensor::new();
    let img = image3(10, 10, PixelFormat::Rgb24, |_, _| [1, 2, 3]);
    p.run_region(&img, BBox::new(20.0, 20.0, 30.0, 30.0), &mut out)
        .unwrap();
    assert!(out.as_u8().unwrap().iter().all(|&v| v == 114));
}

#[test]
fn nchw_unit_values_on_a_tiny_image() {
    let img = image3(2, 2, PixelFormat::Rgb24, |x, y| {
        let v = (10 * (y * 2 + x)) as u8;
        [v, v + 1, v + 2]
    });
    let mut p = Preprocessor::new(cfg(2, 2, Resize::Stretch)).unwrap();
    let mut out = InputTensor::new();
    p.run(&img, &mut out).unwrap();
    let d = out.as_f32().unwrap();
    let expect: Vec<f32> = [0u8, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32]
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect();
    assert_eq!(d, &expect[..]);
}

#[test]
fn bgr_input_and_output_orders() {
    // Stored BGR: memory [b, g, r] = [1, 2, 3], so red is 3.
    let img = image3(1, 1, PixelFormat::Bgr24, |_, _| [1, 2, 3]);
    let mut out = InputTensor::new();
    let mut c = raw_u8_nhwc(1, 1, Resize::Stretch);
    let mut p = Preprocessor::new(c.clone()).unwrap();
    p.run(&img, &mut out).unwrap();
    assert_eq!(out.as_u8().unwrap(), &[3, 2, 1]);
    c.color = ColorOrder::Bgr;
    let mut p = Preprocessor::new(c.clone()).unwrap();
    p.run(&img, &mut out).unwrap();
    assert_eq!(out.as_u8().unwrap(), &[1, 2, 3]);
    // RGB input into a BGR model, planar.
    c.layout = Layout::Nchw;
    let mut p = Preprocessor::new(c).unwrap();
    p.run(
        &image3(1, 1, PixelFormat::Rgb24, |_, _| [7, 8, 9]),
        &mut out,
    )
    .unwrap();
    assert_eq!(out.shape(), &[1, 3, 1, 1]);
    assert_eq!(out.as_u8().unwrap(), &[9, 8, 7]);
}

#[test]
fn gray_input_is_replicated() {
    let img = gray(3, 1, |x, _| (x * 100) as u8);
    let mut p = Preprocessor::new(raw_u8_nhwc(3, 1, Resize::Stretch)).unwrap();
    let mut out = InputTensor::new();
    p.run(&img, &mut out).unwrap();
    assert_eq!(
        out.as_u8().unwrap(),
        &[0, 0, 0, 100, 100, 100, 200, 200, 200]
    );
    let mut c = cfg(3, 1, Resize::Stretch);
    c.normalize = Normalize::None;
    let mut p = Preprocessor::new(c).unwrap();
    p.run(&img, &mut out).unwrap();
    assert_eq!(
        out.as_f32().unwrap(),
        &[0.0, 100.0, 200.0, 0.0, 100.0, 200.0, 0.0, 100.0, 200.0]
    );
}

#[test]
fn mean_std_and_pad_are_normalised_per_output_channel() {
    let img = image3(1, 1, PixelFormat::Rgb24, |_, _| [255, 0, 51]);
    let mut c = cfg(1, 3, Resize::Letterbox { pad_value: 255 });
    c.normalize = Normalize::MeanStd {
        mean: [0.5, 0.25, 0.0],
        std: [0.5, 0.25, 2.0],
    };
    let mut p = Preprocessor::new(c).unwrap();
    let mut out = InputTensor::new();
    p.run(&img, &mut out).unwrap();
    // 1x1 into 1x3: content at y = 1, pad rows 0 and 2.
    let d = out.as_f32().unwrap();
    let r = [1.0, 1.0, 1.0];
    let g = [3.0, -1.0, 3.0];
    let b = [0.5, 0.1, 0.5];
    for (i, want) in r.iter().chain(&g).chain(&b).enumerate() {
        assert!(close(d[i], *want, 1e-6), "element {i}: {} vs {want}", d[i]);
    }
}

#[test]
fn u8_i32_and_f32_agree() {
    let img = image3(37, 23, PixelFormat::Rgb24, |x, y| {
        [(x * 7) as u8, (y * 11) as u8, (x + y) as u8]
    });
    let mut out = InputTensor::new();
    let mut c = raw_u8_nhwc(16, 16, LB);
    let mut p = Preprocessor::new(c.clone()).unwrap();
    p.run(&img, &mut out).unwrap();
    let u8s = out.as_u8().unwrap().to_vec();
    c.dtype = ElementType::I32;
    let mut p = Preprocessor::new(c.clone()).unwrap();
    p.run(&img, &mut out).unwrap();
    let i32s: Vec<u8> = out.as_i32().unwrap().iter().map(|&v| v as u8).collect();
    assert_eq!(i32s, u8s);
    c.dtype = ElementType::F32;
    c.normalize = Normalize::Unit;
    let mut p = Preprocessor::new(c).unwrap();
    p.run(&img, &mut out).unwrap();
    let f: Vec<u8> = out
        .as_f32()
        .unwrap()
        .iter()
        .map(|&v| (v * 255.0).round() as u8)
        .collect();
    assert_eq!(f, u8s);
    assert!(u8s.iter().any(|&v| v != 114 && v != 0));
}

#[test]
fn strided_images_give_the_same_result() {
    let packed = image3(13, 7, PixelFormat::Rgb24, |x, y| {
        [(x * 19) as u8, (y * 31) as u8, 77]
    });
    let stride = 13 * 3 + 5;
    let mut bytes = vec![255u8; stride * 7];
    for y in 0..7 {
        bytes[y * stride..y * stride + 39].copy_from_slice(packed.row(y as u32));
    }
    let strided = Image::new(
        13,
        7,
        stride,
        PixelFormat::Rgb24,
        PixelBuffer::from_vec(bytes),
    )
    .unwrap();
    let mut p = Preprocessor::new(cfg(9, 9, LB)).unwrap();
    let (mut a, mut b) = (InputTensor::new(), InputTensor::new());
    p.run(&packed, &mut a).unwrap();
    p.run(&strided, &mut b).unwrap();
    assert_eq!(a, b);
}

#[test]
fn constant_images_stay_constant_through_every_filter() {
    for filter in [Filter::Nearest, Filter::Bilinear, Filter::BilinearAntialias] {
        let img = image3(97, 61, PixelFormat::Rgb24, |_, _| [40, 80, 120]);
        let mut c = raw_u8_nhwc(31, 17, Resize::Stretch);
        c.filter = filter;
        let mut p = Preprocessor::new(c).unwrap();
        let mut out = InputTensor::new();
        p.run_region(&img, BBox::new(3.3, 4.4, 90.1, 50.9), &mut out)
            .unwrap();
        assert!(
            out.as_u8().unwrap().chunks(3).all(|px| px == [40, 80, 120]),
            "{filter:?}"
        );
    }
}

#[test]
fn buffers_are_reused_after_warm_up() {
    let img = black(768, 576);
    let mut p = Preprocessor::new(cfg(640, 640, LB)).unwrap();
    let mut out = InputTensor::new();
    p.run(&img, &mut out).unwrap();
    let (ptr, cap) = (out.as_f32().unwrap().as_ptr(), out.capacity_bytes());
    for _ in 0..3 {
        p.run(&img, &mut out).unwrap();
    }
    assert_eq!(out.as_f32().unwrap().as_ptr(), ptr);
    assert_eq!(out.capacity_bytes(), cap);
    assert_eq!(cap, 640 * 640 * 3 * 4);
}

#[test]
fn errors_are_one_line() {
    let mut p = Preprocessor::new(PreprocessConfig::default()).unwrap();
    let mut out = InputTensor::new();
    let nv12 = Image::packed(4, 4, PixelFormat::Nv12, PixelBuffer::from_vec(vec![0; 24])).unwrap();
    let e = p.run(&nv12, &mut out).unwrap_err().to_string();
    assert_eq!(
        e,
        "preprocess: unsupported pixel format nv12 (supported: rgb24, bgr24, gray8; convert planar YUV first)"
    );
    let e = p
        .run_region(&black(4, 4), BBox::new(2.0, 0.0, 2.0, 4.0), &mut out)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("preprocess: region [2, 0, 2, 4] is empty"),
        "{e}"
    );
    assert!(
        p.run_region(&black(4, 4), BBox::new(0.0, 0.0, f32::NAN, 4.0), &mut out)
            .is_err()
    );
    assert!(
        Preprocessor::new(PreprocessConfig {
            height: 9000,
            ..Default::default()
        })
        .is_err()
    );
}
