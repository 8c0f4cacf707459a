//! Decoders on hand-built tensors, checked in source pixels after pre-processing.

mod common;

use common::{black, close};
use visualpath_core::{BBox, Detection};
use visualpath_vision::{
    CenterFaceConfig, CenterFaceDecoder, CenterFaceOutputs, ClassRef, CropConfig, InputTensor,
    KEYPOINT_NAMES, Labels, MovenetConfig, MovenetDecoder, NmsMode, PreprocessConfig, Preprocessor,
    Resize, SsdConfig, SsdDecoder, SsdOutputs, TensorRef, Transform, YoloConfig, YoloDecoder,
    YoloLayout,
};

/// `image_from_model_input` of a letterbox of a `w` x `h` frame into `tw` x `th`.
fn letterbox(w: u32, h: u32, tw: u32, th: u32) -> Transform {
    let mut p = Preprocessor::new(PreprocessConfig {
        width: tw,
        height: th,
        resize: Resize::Letterbox { pad_value: 114 },
        ..Default::default()
    })
    .unwrap();
    p.run(&black(w, h), &mut InputTensor::new()).unwrap()
}

fn assert_box(got: &BBox, want: [f32; 4]) {
    let g = [got.x1, got.y1, got.x2, got.y2];
    assert!(
        g.iter().zip(&want).all(|(a, b)| close(*a, *b, 1e-3)),
        "{g:?} vs {want:?}"
    );
}

// ---------------------------------------------------------------- SSD

/// 600x400 into 300x300: content 300x200 at y = 50, scale 2.
struct Ssd {
    boxes: Vec<f32>,
    scores: Vec<f32>,
    classes: Vec<f32>,
    num: [f32; 1],
}

impl Ssd {
    /// Rows of (model-input box x1, y1, x2, y2 in pixels, score, class).
    fn new(rows: &[([f32; 4], f32, f32)]) -> Self {
        let mut s = Ssd {
            boxes: vec![],
            scores: vec![],
            classes: vec![],
            num: [rows.len() as f32],
        };
        for ([x1, y1, x2, y2], score, class) in rows {
            s.boxes
                .extend([y1 / 300.0, x1 / 300.0, y2 / 300.0, x2 / 300.0]);
            s.scores.push(*score);
            s.classes.push(*class);
        }
        s
    }

    fn decode(
        &self,
        d: &SsdDecoder,
        n: usize,
    ) -> Result<Vec<Detection>, visualpath_vision::DecodeError> {
        let shape3 = [1, n, 4];
        let shape2 = [1, n];
        let outputs = SsdOutputs {
            boxes: TensorRef::new(&shape3, &self.boxes),
            scores: TensorRef::new(&shape2, &self.scores),
            classes: TensorRef::new(&shape2, &self.classes),
            num_detections: Some(TensorRef::new(&[1], &self.num)),
        };
        d.decode(&outputs, &letterbox(600, 400, 300, 300))
    }
}

fn ssd(config: SsdConfig) -> SsdDecoder {
    SsdDecoder::new(config, Labels::coco90()).unwrap()
}

#[test]
fn ssd_boxes_in_source_pixels() {
    let s = Ssd::new(&[
        ([50.0, 100.0, 150.0, 200.0], 0.9, 1.0),
        ([0.0, 50.0, 30.0, 80.0], 0.7, 3.0),
        ([10.0, 60.0, 20.0, 70.0], 0.3, 1.0),
    ]);
    let dets = s.decode(&ssd(SsdConfig::default()), 3).unwrap();
    assert_eq!(dets.len(), 2);
    assert_eq!(
        (dets[0].class.as_ref(), dets[0].class_id, dets[0].score),
        ("person", 1, 0.9)
    );
    assert_box(&dets[0].bbox, [100.0, 100.0, 300.0, 300.0]);
    assert_eq!(dets[1].class, "car");
    assert_box(&dets[1].bbox, [0.0, 0.0, 60.0, 60.0]);
}

#[test]
fn ssd_threshold_filters_and_limits() {
    let s = Ssd::new(&[
        ([50.0, 100.0, 150.0, 200.0], 0.9, 1.0),
        ([0.0, 50.0, 30.0, 80.0], 0.7, 3.0),
        ([10.0, 60.0, 20.0, 70.0], 0.3, 18.0),
        ([10.0, 60.0, 20.0, 70.0], 0.6, 12.0),
    ]);
    let low = |classes: Vec<ClassRef>| SsdConfig {
        confidence: 0.2,
        classes,
        ..Default::default()
    };
    assert_eq!(s.decode(&ssd(low(vec![])), 4).unwrap().len(), 4);
    let by_name = s
        .decode(&ssd(low(vec![ClassRef::Name("dog".into())])), 4)
        .unwrap();
    assert_eq!(by_name.len(), 1);
    assert_eq!(
        (by_name[0].class.as_ref(), by_name[0].class_id),
        ("dog", 18)
    );
    let by_id = s
        .decode(&ssd(low(vec![ClassRef::Id(3), ClassRef::Id(1)])), 4)
        .unwrap();
    assert_eq!(by_id.iter().map(|d| d.class_id).collect::<Vec<_>>(), [1, 3]);
    // An id without a name keeps its number.
    let unnamed = s.decode(&ssd(low(vec![ClassRef::Id(12)])), 4).unwrap();
    assert_eq!(unnamed[0].class, "class_12");
    // max_detections keeps the best.
    let top = s
        .decode(
            &ssd(SsdConfig {
                max_detections: 1,
                ..low(vec![])
            }),
            4,
        )
        .unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!(top[0].score, 0.9);
    // num_detections limits the rows read.
    let mut two = Ssd::new(&[
        ([50.0, 100.0, 150.0, 200.0], 0.9, 1.0),
        ([0.0, 50.0, 30.0, 80.0], 0.7, 3.0),
    ]);
    two.num = [1.0];
    assert_eq!(two.decode(&ssd(low(vec![])), 2).unwrap().len(), 1);
    two.num = [50.0];
    assert_eq!(two.decode(&ssd(low(vec![])), 2).unwrap().len(), 2);
    two.num = [f32::NAN];
    let e = two.decode(&ssd(low(vec![])), 2).unwrap_err().to_string();
    assert_eq!(
        e,
        "ssd: num_detections is NaN, expected a count from 0 to 2"
    );
}

#[test]
fn ssd_optional_nms() {
    let s = Ssd::new(&[
        ([50.0, 100.0, 150.0, 200.0], 0.9, 1.0),
        ([52.0, 100.0, 152.0, 200.0], 0.8, 1.0),
        ([52.0, 100.0, 152.0, 200.0], 0.8, 18.0),
    ]);
    assert_eq!(s.decode(&ssd(SsdConfig::default()), 3).unwrap().len(), 3);
    let aware = SsdConfig {
        nms_iou: Some(0.5),
        ..Default::default()
    };
    assert_eq!(s.decode(&ssd(aware.clone()), 3).unwrap().len(), 2);
    let agnostic = SsdConfig {
        nms_mode: NmsMode::ClassAgnostic,
        ..aware
    };
    assert_eq!(s.decode(&ssd(agnostic), 3).unwrap().len(), 1);
}

#[test]
fn ssd_shape_errors() {
    let s = Ssd::new(&[([50.0, 100.0, 150.0, 200.0], 0.9, 1.0)]);
    let d = ssd(SsdConfig::default());
    let t = letterbox(600, 400, 300, 300);
    let shape_bad = [1, 4];
    let e = d
        .decode(
            &SsdOutputs {
                boxes: TensorRef::new(&shape_bad, &s.boxes),
                scores: TensorRef::new(&[1, 1], &s.scores),
                classes: TensorRef::new(&[1, 1], &s.classes),
                num_detections: None,
            },
            &t,
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ssd: detection_boxes has shape [1, 4], expected [1, N, 4]"
    );
    let e = d
        .decode(
            &SsdOutputs {
                boxes: TensorRef::new(&[1, 1, 4], &s.boxes),
                scores: TensorRef::new(&[1], &s.scores),
                classes: TensorRef::new(&[1, 1], &s.classes),
                num_detections: None,
            },
            &t,
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ssd: detection_scores has shape [1], expected [1, 1] (N = 1 from detection_boxes)"
    );
    let e = SsdDecoder::new(
        SsdConfig {
            confidence: 1.5,
            ..Default::default()
        },
        Labels::coco90(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ssd: confidence must be between 0 and 1, got 1.5"
    );
}

// ---------------------------------------------------------------- YOLO

/// 1280x960 into 640x640: content 640x480 at y = 80, scale 2.
fn yolo_t() -> Transform {
    letterbox(1280, 960, 640, 640)
}

/// `[1, 4+nc, N]` from candidates `(cx, cy, w, h, class scores)`.
fn v8(cands: &[([f32; 4], Vec<f32>)]) -> (Vec<usize>, Vec<f32>) {
    let nc = cands[0].1.len();
    let n = cands.len();
    let mut data = vec![0.0; (4 + nc) * n];
    for (i, (b, cls)) in cands.iter().enumerate() {
        for k in 0..4 {
            data[k * n + i] = b[k];
        }
        for (c, s) in cls.iter().enumerate() {
            data[(4 + c) * n + i] = *s;
        }
    }
    (vec![1, 4 + nc, n], data)
}

/// `[1, N, 5+nc]` from candidates `(cx, cy, w, h, objectness, class scores)`.
fn v5(cands: &[([f32; 4], f32, Vec<f32>)]) -> (Vec<usize>, Vec<f32>) {
    let nc = cands[0].2.len();
    let mut data = vec![];
    for (b, obj, cls) in cands {
        data.extend_from_slice(b);
        data.push(*obj);
        data.extend_from_slice(cls);
    }
    (vec![1, cands.len(), 5 + nc], data)
}

fn three() -> Labels {
    Labels::from_names(["person", "helmet", "vest"])
}

#[test]
fn yolo_v8_layout() {
    let (shape, data) = v8(&[
        ([320.0, 240.0, 100.0, 50.0], vec![0.1, 0.8, 0.3]),
        ([322.0, 240.0, 100.0, 50.0], vec![0.1, 0.7, 0.0]), // suppressed by the first
        ([322.0, 240.0, 100.0, 50.0], vec![0.6, 0.0, 0.0]), // other class: kept
        ([100.0, 200.0, 20.0, 20.0], vec![0.2, 0.1, 0.1]),  // below threshold
    ]);
    let mut d = YoloDecoder::new(YoloConfig::default(), three()).unwrap();
    assert_eq!(d.layout_of(&shape).unwrap(), YoloLayout::V8);
    let dets = d.decode(&TensorRef::new(&shape, &data), &yolo_t()).unwrap();
    assert_eq!(dets.len(), 2);
    assert_eq!(
        (dets[0].class.as_ref(), dets[0].class_id, dets[0].score),
        ("helmet", 1, 0.8)
    );
    assert_box(&dets[0].bbox, [540.0, 270.0, 740.0, 370.0]);
    assert_eq!(dets[1].class, "person");
    // Class-agnostic NMS drops the person box too.
    let mut d = YoloDecoder::new(
        YoloConfig {
            nms_mode: NmsMode::ClassAgnostic,
            ..Default::default()
        },
        three(),
    )
    .unwrap();
    assert_eq!(
        d.decode(&TensorRef::new(&shape, &data), &yolo_t())
            .unwrap()
            .len(),
        1
    );
    // The class filter applies to the best class: "vest" is never the best.
    let mut d = YoloDecoder::new(
        YoloConfig {
            classes: vec![ClassRef::Name("vest".into())],
            ..Default::default()
        },
        three(),
    )
    .unwrap();
    assert!(
        d.decode(&TensorRef::new(&shape, &data), &yolo_t())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn yolo_v5_layout_multiplies_objectness() {
    let (shape, data) = v5(&[
        ([320.0, 240.0, 100.0, 50.0], 0.9, vec![0.5, 0.9, 0.1]), // 0.81 helmet
        ([600.0, 100.0, 40.0, 40.0], 0.5, vec![0.4, 0.0, 0.0]),  // 0.2 < 0.25
        ([50.0, 500.0, 40.0, 40.0], 0.2, vec![1.0, 0.0, 0.0]),   // objectness too low
        ([50.0, 150.0, 40.0, 40.0], 1.0, vec![0.0, 0.0, 0.3]),   // 0.3 vest
    ]);
    let mut d = YoloDecoder::new(YoloConfig::default(), three()).unwrap();
    assert_eq!(d.layout_of(&shape).unwrap(), YoloLayout::V5);
    let dets = d.decode(&TensorRef::new(&shape, &data), &yolo_t()).unwrap();
    assert_eq!(dets.len(), 2);
    assert_eq!(dets[0].class, "helmet");
    assert!(close(dets[0].score, 0.81, 1e-6));
    assert_box(&dets[0].bbox, [540.0, 270.0, 740.0, 370.0]);
    assert_eq!(dets[1].class, "vest");
    // Top-left candidate: (30, 130)-(70, 170) in the model -> (60, 100)-(140, 180).
    assert_box(&dets[1].bbox, [60.0, 100.0, 140.0, 180.0]);
}

#[test]
fn yolo_layout_rule() {
    let d = |layout| {
        YoloDecoder::new(
            YoloConfig {
                layout,
                ..Default::default()
            },
            Labels::coco80(),
        )
        .unwrap()
    };
    let auto = d(YoloLayout::Auto);
    assert_eq!(auto.layout_of(&[1, 84, 8400]).unwrap(), YoloLayout::V8);
    assert_eq!(auto.layout_of(&[1, 25200, 85]).unwrap(), YoloLayout::V5);
    // Few candidates (tiny input): still v8 because only 4 + 80 matches.
    assert_eq!(auto.layout_of(&[1, 84, 21]).unwrap(), YoloLayout::V8);
    // Both match: the smaller dimension is the attribute axis.
    assert_eq!(auto.layout_of(&[1, 84, 85]).unwrap(), YoloLayout::V8);
    assert_eq!(auto.layout_of(&[1, 84, 85]).unwrap(), YoloLayout::V8);
    assert_eq!(
        d(YoloLayout::V5).layout_of(&[1, 84, 85]).unwrap(),
        YoloLayout::V5
    );
    let e = auto.layout_of(&[1, 84]).unwrap_err().to_string();
    assert_eq!(
        e,
        "yolo: output 0 has shape [1, 84], expected [1, 4+nc, N] or [1, N, 5+nc] with nc = 80 (the number of labels)"
    );
    let e = auto.layout_of(&[1, 7, 100]).unwrap_err().to_string();
    assert!(
        e.starts_with("yolo: output 0 has shape [1, 7, 100], expected"),
        "{e}"
    );
    let e = d(YoloLayout::V8)
        .layout_of(&[1, 8400, 85])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "yolo: output 0 has shape [1, 8400, 85], expected [1, 4+80, N] (layout v8, 80 labels)"
    );
    assert!(auto.layout_of(&[2, 84, 8400]).is_err());
}

#[test]
fn yolo_full_size_output_and_max_detections() {
    // 8400 candidates on a grid, all confident and non-overlapping.
    let n = 8400;
    let mut data = vec![0.0f32; 84 * n];
    for i in 0..n {
        data[i] = (i % 100) as f32 * 6.0 + 3.0;
        data[n + i] = (i / 100) as f32 * 6.0 + 3.0;
        data[2 * n + i] = 4.0;
        data[3 * n + i] = 4.0;
        data[(4 + i % 80) * n + i] = 0.5 + (i % 7) as f32 * 0.01;
    }
    let mut d = YoloDecoder::new(YoloConfig::default(), Labels::coco80()).unwrap();
    let dets = d
        .decode(&TensorRef::new(&[1, 84, n], &data), &yolo_t())
        .unwrap();
    assert_eq!(dets.len(), 100);
    assert!(dets.iter().all(|x| close(x.score, 0.56, 1e-6)));
    assert!(dets.windows(2).all(|w| w[0].score >= w[1].score));
    let e = d
        .decode(&TensorRef::new(&[1, 84, n], &data[1..]), &yolo_t())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "yolo: output 0 has shape [1, 84, 8400] (705600 values) but 705599 values were given"
    );
}

#[test]
fn yolo_config_errors() {
    let e = YoloDecoder::new(
        YoloConfig {
            classes: vec![ClassRef::Name("hardhat".into())],
            ..Default::default()
        },
        three(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "yolo: unknown class `hardhat` (known: person, helmet, vest)"
    );
    let e = YoloDecoder::new(
        YoloConfig::default(),
        Labels::from_names(Vec::<String>::new()),
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("yolo: the label list is empty"));
    let e = YoloDecoder::new(
        YoloConfig {
            max_detections: 0,
            ..Default::default()
        },
        three(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "yolo: max_detections must be between 1 and 10000, got 0"
    );
}

// ---------------------------------------------------------------- CenterFace

struct Maps {
    heat: Vec<f32>,
    scale: Vec<f32>,
    offset: Vec<f32>,
    lm: Vec<f32>,
}

const H: usize = 8;
const W: usize = 8;

impl Maps {
    fn new() -> Self {
        Maps {
            heat: vec![0.0; H * W],
            scale: vec![0.0; 2 * H * W],
            offset: vec![0.0; 2 * H * W],
            lm: vec![0.0; 10 * H * W],
        }
    }

    /// A face at cell (row, col): score, box height/width in model pixels, centre offset
    /// (y, x) in cells, landmarks (x, y) relative to the box.
    #[allow(clippy::too_many_arguments)]
    fn face(
        &mut self,
        row: usize,
        col: usize,
        p: f32,
        bh: f32,
        bw: f32,
        oy: f32,
        ox: f32,
        lm: [(f32, f32); 5],
    ) {
        let i = row * W + col;
        let plane = H * W;
        self.heat[i] = p;
        self.scale[i] = (bh / 4.0).ln();
        self.scale[plane + i] = (bw / 4.0).ln();
        self.offset[i] = oy;
        self.offset[plane + i] = ox;
        for (j, (lx, ly)) in lm.iter().enumerate() {
            self.lm[2 * j * plane + i] = *ly;
            self.lm[(2 * j + 1) * plane + i] = *lx;
        }
    }

    fn outputs(&self, with_landmarks: bool) -> CenterFaceOutputs<'_> {
        const S1: [usize; 4] = [1, 1, H, W];
        const S2: [usize; 4] = [1, 2, H, W];
        const S10: [usize; 4] = [1, 10, H, W];
        CenterFaceOutputs {
            heatmap: TensorRef::new(&S1, &self.heat),
            scale: TensorRef::new(&S2, &self.scale),
            offset: TensorRef::new(&S2, &self.offset),
            landmarks: with_landmarks.then(|| TensorRef::new(&S10, &self.lm)),
        }
    }
}

/// 64x64 frame stretched into the 32x32 input: scale 2.
fn cf_t() -> Transform {
    let mut p = Preprocessor::new(PreprocessConfig {
        width: 32,
        height: 32,
        resize: Resize::Stretch,
        ..Default::default()
    })
    .unwrap();
    p.run(&black(64, 64), &mut InputTensor::new()).unwrap()
}

const LM: [(f32, f32); 5] = [(0.25, 0.5), (0.75, 0.5), (0.5, 0.6), (0.3, 0.8), (0.7, 0.8)];

#[test]
fn centerface_boxes_and_landmarks() {
    let mut m = Maps::new();
    // Centre (4 (4 - 0.25 + 0.5), 4 (3 + 0.25 + 0.5)) = (17, 15); box 8 wide, 10 high.
    m.face(3, 4, 0.9, 10.0, 8.0, 0.25, -0.25, LM);
    // Neighbour cell of the same face: not a peak.
    m.heat[3 * W + 5] = 0.8;
    // A second face overlapping the first (a separate peak; centre x 16, IoU 0.78):
    // suppressed by NMS.
    m.face(3, 2, 0.7, 10.0, 8.0, 0.25, 1.5, LM);
    // A far face.
    m.face(7, 0, 0.6, 4.0, 4.0, 0.0, 0.0, LM);
    // Below threshold.
    m.face(0, 7, 0.4, 4.0, 4.0, 0.0, 0.0, LM);
    let mut d = CenterFaceDecoder::new(CenterFaceConfig::default()).unwrap();
    let faces = d.decode(&m.outputs(true), &cf_t()).unwrap();
    assert_eq!(faces.len(), 2, "{faces:?}");
    let f = &faces[0];
    assert_eq!(f.score, 0.9);
    // Model box (13, 10)-(21, 20), times 2.
    assert_box(&f.bbox, [26.0, 20.0, 42.0, 40.0]);
    assert_eq!(f.landmarks.len(), 5);
    // Landmark 0: (13 + 0.25 * 8, 10 + 0.5 * 10) = (15, 15) -> (30, 30).
    let want = [
        (30.0, 30.0),
        (38.0, 30.0),
        (34.0, 32.0),
        (30.8, 36.0),
        (37.2, 36.0),
    ];
    for (l, (x, y)) in f.landmarks.iter().zip(want) {
        assert!(
            close(l[0], x, 1e-3) && close(l[1], y, 1e-3),
            "{l:?} vs {x},{y}"
        );
    }
    // Far face: centre (2, 30), 4x4 -> (0, 28)-(4, 32), times 2.
    assert_box(&faces[1].bbox, [0.0, 56.0, 8.0, 64.0]);
    // Without the landmark tensor.
    let faces = d.decode(&m.outputs(false), &cf_t()).unwrap();
    assert!(faces.iter().all(|f| f.landmarks.is_empty()));
    // A lower threshold admits the fourth face; a looser NMS keeps the second.
    let mut d = CenterFaceDecoder::new(CenterFaceConfig {
        confidence: 0.3,
        nms_iou: 0.9,
        max_detections: 100,
    })
    .unwrap();
    assert_eq!(d.decode(&m.outputs(true), &cf_t()).unwrap().len(), 4);
}

#[test]
fn centerface_shape_errors() {
    let m = Maps::new();
    let mut d = CenterFaceDecoder::new(CenterFaceConfig::default()).unwrap();
    let e = d
        .decode(&m.outputs(true), &letterbox(64, 64, 64, 64))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "centerface: heatmap has shape [1, 1, 8, 8], expected [1, 1, 16, 16] for a 64x64 input"
    );
    let mut o = m.outputs(true);
    o.landmarks = Some(TensorRef::new(&[1, 8, 8, 8], &m.lm[..512]));
    let e = d.decode(&o, &cf_t()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "centerface: landmarks has shape [1, 8, 8, 8], expected [1, 10, 8, 8] for a 32x32 input"
    );
}

// ---------------------------------------------------------------- MoveNet

#[test]
fn movenet_keypoints_through_a_crop() {
    // Person box in a 640x480 frame; default crop: square of 160 * 1.25 = 200 around
    // (240, 180) -> (140, 80)-(340, 280); into 192x192 (scale 200/192).
    let person = BBox::new(200.0, 100.0, 280.0, 260.0);
    let region = CropConfig::default().region(&person, 640, 480).unwrap();
    assert_eq!(region, BBox::new(140.0, 80.0, 340.0, 280.0));
    let mut p = Preprocessor::new(PreprocessConfig {
        width: 192,
        height: 192,
        resize: Resize::Stretch,
        ..Default::default()
    })
    .unwrap();
    let mut input = InputTensor::new();
    let t = p.run_region(&black(640, 480), region, &mut input).unwrap();
    let (r2, t2) = p
        .run_crop(
            &black(640, 480),
            &person,
            &CropConfig::default(),
            &mut input,
        )
        .unwrap()
        .unwrap();
    assert_eq!((r2, t2), (region, t));
    let far = BBox::new(900.0, 0.0, 950.0, 50.0);
    let none = p.run_crop(&black(640, 480), &far, &CropConfig::default(), &mut input);
    assert!(none.unwrap().is_none());
    // A standing figure with a right-angled left knee, in crop fractions (y, x, score).
    let pts: [(f32, f32); 17] = [
        (0.1, 0.5),
        (0.08, 0.52),
        (0.08, 0.48),
        (0.1, 0.55),
        (0.1, 0.45),
        (0.25, 0.6),
        (0.25, 0.4),
        (0.4, 0.6),
        (0.4, 0.4),
        (0.55, 0.6),
        (0.55, 0.4),
        (0.5, 0.6), // left hip
        (0.5, 0.4),
        (0.7, 0.6), // left knee
        (0.7, 0.4),
        (0.7, 0.8), // left ankle: to the side -> 90 degrees
        (0.9, 0.4),
    ];
    let mut data = Vec::new();
    for (i, (y, x)) in pts.iter().enumerate() {
        data.extend([*y, *x, if i == 16 { 0.1 } else { 0.8 }]);
    }
    let d = MovenetDecoder::new(MovenetConfig::default()).unwrap();
    let pose = d
        .decode(&TensorRef::new(&[1, 1, 17, 3], &data), &t, Some(person))
        .unwrap();
    assert_eq!(pose.keypoints.len(), 17);
    let names: Vec<&str> = pose.keypoints.iter().map(|k| k.name.as_ref()).collect();
    assert_eq!(names, KEYPOINT_NAMES);
    // nose: (0.5 * 200 + 140, 0.1 * 200 + 80) = (240, 100).
    let nose = &pose.keypoints[0];
    assert!(
        close(nose.x, 240.0, 1e-3) && close(nose.y, 100.0, 1e-3),
        "{nose:?}"
    );
    let knee = &pose.keypoints[13];
    assert!(
        close(knee.x, 260.0, 1e-3) && close(knee.y, 220.0, 1e-3),
        "{knee:?}"
    );
    assert!(close(pose.score, (16.0 * 0.8 + 0.1) / 17.0, 1e-6));
    assert_eq!(pose.bbox, person);
    assert!((pose.angles.get("left_knee").unwrap() - 90.0).abs() < 1e-3);
    // The right ankle is not confident: no right knee angle.
    assert_eq!(pose.angles.get("right_knee"), None);
    // Without a person box the pose box is the crop, clamped to the frame.
    let pose = d
        .decode(&TensorRef::new(&[1, 1, 17, 3], &data), &t, None)
        .unwrap();
    assert_eq!(pose.bbox, BBox::new(140.0, 80.0, 340.0, 280.0));
    // Angles off.
    let d = MovenetDecoder::new(MovenetConfig {
        angles: false,
        ..Default::default()
    })
    .unwrap();
    assert!(
        d.decode(&TensorRef::new(&[1, 1, 17, 3], &data), &t, None)
            .unwrap()
            .angles
            .is_empty()
    );
}

#[test]
fn movenet_shape_error_and_bad_values() {
    let d = MovenetDecoder::new(MovenetConfig::default()).unwrap();
    let t = Transform::identity(192, 192);
    let data = [0.5f32; 51];
    let e = d
        .decode(&TensorRef::new(&[1, 17, 3], &data), &t, None)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "movenet: output 0 has shape [1, 17, 3], expected [1, 1, 17, 3]"
    );
    let mut data = [0.5f32; 51];
    data[0] = f32::NAN;
    data[5] = f32::INFINITY;
    let pose = d
        .decode(&TensorRef::new(&[1, 1, 17, 3], &data), &t, None)
        .unwrap();
    assert_eq!(
        (
            pose.keypoints[0].x,
            pose.keypoints[0].y,
            pose.keypoints[0].score
        ),
        (0.0, 0.0, 0.0)
    );
    assert_eq!(pose.keypoints[1].score, 0.0);
    assert!(pose.score.is_finite());
}
