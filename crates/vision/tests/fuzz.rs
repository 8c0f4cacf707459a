//! Fuzz-ish robustness: every decoder on random shapes and values (NaN, infinities,
//! huge numbers, wrong lengths) returns `Ok` or `Err` without panicking, and whatever it
//! returns lies inside the image with finite numbers.

use visualpath_core::BBox;
use visualpath_vision::{
    CenterFaceConfig, CenterFaceDecoder, CenterFaceOutputs, Labels, MovenetConfig, MovenetDecoder,
    SsdConfig, SsdDecoder, SsdOutputs, TensorRef, Transform, YoloConfig, YoloDecoder,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
    fn value(&mut self) -> f32 {
        match self.below(12) {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::NEG_INFINITY,
            3 => 1e30,
            4 => -1e30,
            5 => 0.0,
            6 => 1.0,
            _ => (self.next() % 20_000) as f32 / 10_000.0 - 0.5,
        }
    }
}

/// A random shape: usually `expected` with dims perturbed, sometimes anything.
fn shape(r: &mut Rng, expected: &[usize]) -> Vec<usize> {
    match r.below(4) {
        0 => (0..r.below(6))
            .map(|_| [0, 1, 2, 3, 4, 17, 84, 85][r.below(8)])
            .collect(),
        1 => {
            let mut s = expected.to_vec();
            if !s.is_empty() {
                let i = r.below(s.len() as u64);
                s[i] = r.below(6);
            }
            s
        }
        _ => expected.to_vec(),
    }
}

/// Data for `shape`: usually the right length, sometimes one off.
fn data(r: &mut Rng, shape: &[usize]) -> Vec<f32> {
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(0)
        .min(200_000);
    let n = match r.below(8) {
        0 => n + 1,
        1 => n.saturating_sub(1),
        _ => n,
    };
    (0..n).map(|_| r.value()).collect()
}

fn inside(b: &BBox, t: &Transform) {
    let ok = [b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite())
        && b.x1 >= 0.0
        && b.y1 >= 0.0
        && b.x2 <= t.to_width as f32
        && b.y2 <= t.to_height as f32
        && b.x1 <= b.x2
        && b.y1 <= b.y2;
    assert!(ok, "{b:?}");
}

fn transform(r: &mut Rng, w: u32, h: u32) -> Transform {
    Transform {
        scale_x: 0.5 + r.below(4) as f64,
        scale_y: 0.5 + r.below(4) as f64,
        offset_x: r.below(50) as f64 - 25.0,
        offset_y: r.below(50) as f64 - 25.0,
        from_width: w,
        from_height: h,
        to_width: 640,
        to_height: 480,
    }
}

#[test]
fn decoders_never_panic() {
    let mut r = Rng(7);
    let ssd = SsdDecoder::new(
        SsdConfig {
            confidence: 0.0,
            nms_iou: Some(0.5),
            ..Default::default()
        },
        Labels::coco90(),
    )
    .unwrap();
    let mut yolo80 = YoloDecoder::new(
        YoloConfig {
            confidence: 0.0,
            ..Default::default()
        },
        Labels::coco80(),
    )
    .unwrap();
    let mut yolo2 = YoloDecoder::new(
        YoloConfig {
            confidence: 0.0,
            ..Default::default()
        },
        Labels::from_names(["a", "b"]),
    )
    .unwrap();
    let mut cf = CenterFaceDecoder::new(CenterFaceConfig {
        confidence: 0.0,
        ..Default::default()
    })
    .unwrap();
    let movenet = MovenetDecoder::new(MovenetConfig::default()).unwrap();
    let (mut ok, mut err) = (0, 0);
    // Results per decoder: SSD, YOLO, CenterFace.
    let mut found = [0usize; 3];
    for _ in 0..3000 {
        let t = transform(&mut r, 32, 32);
        // SSD
        let n = r.below(30);
        let (sb, ss, sc, sn) = (
            shape(&mut r, &[1, n, 4]),
            shape(&mut r, &[1, n]),
            shape(&mut r, &[1, n]),
            shape(&mut r, &[1]),
        );
        let (db, ds, dc, dn) = (
            data(&mut r, &sb),
            data(&mut r, &ss),
            data(&mut r, &sc),
            data(&mut r, &sn),
        );
        let outputs = SsdOutputs {
            boxes: TensorRef::new(&sb, &db),
            scores: TensorRef::new(&ss, &ds),
            classes: TensorRef::new(&sc, &dc),
            num_detections: (r.below(2) == 0).then(|| TensorRef::new(&sn, &dn)),
        };
        match ssd.decode(&outputs, &t) {
            Ok(d) => {
                ok += 1;
                found[0] += d.len();
                d.iter().for_each(|d| inside(&d.bbox, &t));
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().contains('\n'));
            }
        }
        // YOLO, both layouts, both label sets
        let n = r.below(40);
        for (yolo, nc) in [(&mut yolo80, 80), (&mut yolo2, 2)] {
            let expected = if r.below(2) == 0 {
                [1, 4 + nc, n]
            } else {
                [1, n, 5 + nc]
            };
            let s = shape(&mut r, &expected);
            let d = data(&mut r, &s);
            match yolo.decode(&TensorRef::new(&s, &d), &t) {
                Ok(d) => {
                    ok += 1;
                    found[1] += d.len();
                    d.iter().for_each(|d| inside(&d.bbox, &t));
                }
                Err(e) => {
                    err += 1;
                    assert!(!e.to_string().contains('\n'));
                }
            }
        }
        // CenterFace (32x32 input: 8x8 maps); sometimes an odd input size.
        let odd = r.below(9) as u32;
        let t = if r.below(5) == 0 {
            transform(&mut r, odd, 3)
        } else {
            t
        };
        let (h, w) = (t.from_height as usize / 4, t.from_width as usize / 4);
        let shapes = [
            shape(&mut r, &[1, 1, h, w]),
            shape(&mut r, &[1, 2, h, w]),
            shape(&mut r, &[1, 2, h, w]),
            shape(&mut r, &[1, 10, h, w]),
        ];
        let datas: Vec<Vec<f32>> = shapes.iter().map(|s| data(&mut r, s)).collect();
        let outputs = CenterFaceOutputs {
            heatmap: TensorRef::new(&shapes[0], &datas[0]),
            scale: TensorRef::new(&shapes[1], &datas[1]),
            offset: TensorRef::new(&shapes[2], &datas[2]),
            landmarks: (r.below(3) > 0).then(|| TensorRef::new(&shapes[3], &datas[3])),
        };
        match cf.decode(&outputs, &t) {
            Ok(faces) => {
                ok += 1;
                found[2] += faces.len();
                for f in faces {
                    inside(&f.bbox, &t);
                    assert!(f.landmarks.iter().flatten().all(|v| v.is_finite()));
                }
            }
            Err(_) => err += 1,
        }
        // MoveNet
        let s = shape(&mut r, &[1, 1, 17, 3]);
        let d = data(&mut r, &s);
        match movenet.decode(&TensorRef::new(&s, &d), &t, None) {
            Ok(p) => {
                ok += 1;
                assert!(p.score.is_finite() && (0.0..=1.0).contains(&p.score));
                assert!(
                    p.keypoints
                        .iter()
                        .all(|k| k.x.is_finite() && k.y.is_finite())
                );
                assert!(p.angles.iter().all(|(_, v)| v.is_finite()));
            }
            Err(_) => err += 1,
        }
    }
    // Both paths were exercised.
    assert!(ok > 3000 && err > 3000, "ok {ok}, err {err}");
    assert!(found.iter().all(|&n| n > 30), "{found:?}");
}

#[test]
fn preprocessing_never_panics() {
    use visualpath_core::{Image, PixelBuffer, PixelFormat};
    use visualpath_vision::{
        ColorOrder, CropConfig, ElementType, Filter, InputTensor, Layout, Normalize,
        PreprocessConfig, Preprocessor, Resize,
    };
    let mut r = Rng(11);
    let mut out = InputTensor::new();
    let coord = |r: &mut Rng| match r.below(6) {
        0 => -1e9,
        1 => 1e9,
        2 => (r.below(1000) as f32) / 1000.0,
        _ => r.below(80) as f32 - 20.0 + (r.below(10) as f32) / 10.0,
    };
    let mut ran = 0;
    for _ in 0..1500 {
        let (w, h) = (1 + r.below(40) as u32, 1 + r.below(40) as u32);
        let format = [PixelFormat::Rgb24, PixelFormat::Bgr24, PixelFormat::Gray8][r.below(3)];
        let stride = w as usize * format.bytes_per_pixel() + r.below(3);
        let bytes: Vec<u8> = (0..stride * h as usize)
            .map(|_| r.below(256) as u8)
            .collect();
        let img = Image::new(w, h, stride, format, PixelBuffer::from_vec(bytes)).unwrap();
        let dtype = [ElementType::U8, ElementType::I32, ElementType::F32][r.below(3)];
        let config = PreprocessConfig {
            width: 1 + r.below(24) as u32,
            height: 1 + r.below(24) as u32,
            resize: if r.below(2) == 0 {
                Resize::Stretch
            } else {
                Resize::Letterbox { pad_value: 5 }
            },
            color: if r.below(2) == 0 {
                ColorOrder::Rgb
            } else {
                ColorOrder::Bgr
            },
            layout: if r.below(2) == 0 {
                Layout::Nchw
            } else {
                Layout::Nhwc
            },
            dtype,
            normalize: if dtype == ElementType::F32 {
                Normalize::imagenet()
            } else {
                Normalize::None
            },
            filter: [Filter::Nearest, Filter::Bilinear, Filter::BilinearAntialias][r.below(3)],
        };
        let mut p = Preprocessor::new(config.clone()).unwrap();
        let region = if r.below(3) == 0 {
            let b = BBox::new(coord(&mut r), coord(&mut r), coord(&mut r), coord(&mut r));
            CropConfig::default().region(&b, w, h).unwrap_or(b)
        } else {
            BBox::new(coord(&mut r), coord(&mut r), coord(&mut r), coord(&mut r))
        };
        if let Ok(t) = p.run_region(&img, region, &mut out) {
            ran += 1;
            assert_eq!(out.shape(), &config.output_shape());
            assert_eq!(out.len(), (config.width * config.height * 3) as usize);
            assert!(t.scale_x > 0.0 && t.scale_y > 0.0);
            if let Some(f) = out.as_f32() {
                assert!(f.iter().all(|v| v.is_finite()));
            }
        }
    }
    assert!(ran > 300, "only {ran} successful runs");
}
