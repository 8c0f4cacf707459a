//! Real models on real footage, against their golden outputs.

use std::sync::Arc;

use visualpath_core::{Frame, ManualClock, Name};
use visualpath_media::FileSourceConfig;
use visualpath_models::{DetectConfig, FaceConfig, PoseConfig};
use visualpath_sdk::{Analyzer, Poll, SourceContext, SourceInfo, Upstream};

fn ready() -> bool {
    match visualpath_infer_ort::runtime_available() {
        Ok(()) => true,
        Err(e) => {
            visualpath_testkit::skip("model tests", &e.to_string());
            false
        }
    }
}

/// Frames `wanted` (0-based, ascending) of a video.
fn frames(video: &str, wanted: &[u64]) -> Option<Vec<Frame>> {
    let path = visualpath_testkit::asset(video)?;
    let mut src = FileSourceConfig::new(path.to_str()?)
        .build(Name::from_static("cam"))
        .ok()?;
    let cx = SourceContext::new(Arc::new(ManualClock::new(0)));
    let mut out = Vec::new();
    while let Ok(Poll::Frame(f)) = src.next_frame(&cx) {
        if wanted.contains(&f.seq) {
            out.push(f);
        }
        if out.len() == wanted.len() {
            break;
        }
    }
    Some(out)
}

fn analyzer(f: Arc<dyn visualpath_sdk::AnalyzerFactory>) -> Box<dyn Analyzer> {
    f.create(&SourceInfo::new(Name::from_static("cam"), "file"))
        .unwrap()
}

#[test]
fn ssd_on_vtest_frame_100_matches_the_golden_output() {
    if !ready() {
        return;
    }
    if visualpath_testkit::asset("models/ssd_mobilenet_v2_coco.onnx").is_none() {
        return;
    }
    let Some(frames) = frames("media/vtest.avi", &[100]) else {
        return;
    };
    let factory = DetectConfig {
        confidence: 0.5,
        threads: 1,
        ..Default::default()
    }
    .build()
    .unwrap();
    let mut a = analyzer(factory);
    let data = a.analyze(&frames[0], Upstream::default()).unwrap();
    let persons: Vec<_> = data
        .detections
        .iter()
        .filter(|d| d.class == "person")
        .collect();
    assert_eq!(persons.len(), 5, "{:?}", data.detections);
    let top = persons.iter().map(|d| d.score).fold(0.0f32, f32::max);
    assert!((top - 0.904).abs() <= 0.002, "top score {top}");
    assert!(persons.iter().all(|d| d.class_id == 1 && d.score >= 0.5));
    // Boxes are in pixels of the 768x576 frame, people standing (taller than wide).
    for d in &persons {
        let b = d.bbox;
        assert!(
            b.x1 >= 0.0 && b.x2 <= 768.0 && b.y1 >= 0.0 && b.y2 <= 576.0,
            "{b:?}"
        );
        assert!(b.height() > b.width(), "{b:?}");
    }
    assert_eq!(data.values.get("count"), Some(data.detections.len() as f64));
}

#[test]
fn detect_respects_roi_and_class_filter() {
    if !ready() || visualpath_testkit::asset("models/ssd_mobilenet_v2_coco.onnx").is_none() {
        return;
    }
    let Some(frames) = frames("media/vtest.avi", &[100]) else {
        return;
    };
    let all = analyzer(
        DetectConfig {
            threads: 1,
            ..Default::default()
        }
        .build()
        .unwrap(),
    )
    .analyze(&frames[0], Upstream::default())
    .unwrap();
    let left = analyzer(
        DetectConfig {
            threads: 1,
            roi: Some([0.0, 0.0, 0.5, 1.0]),
            classes: Some(vec!["person".into()]),
            ..Default::default()
        }
        .build()
        .unwrap(),
    )
    .analyze(&frames[0], Upstream::default())
    .unwrap();
    assert!(
        left.detections
            .iter()
            .all(|d| d.class == "person" && d.bbox.x1 < 384.0 + 1.0)
    );
    assert!(left.detections.len() <= all.detections.len());
    let none = analyzer(
        DetectConfig {
            threads: 1,
            classes: Some(vec!["giraffe".into()]),
            ..Default::default()
        }
        .build()
        .unwrap(),
    )
    .analyze(&frames[0], Upstream::default())
    .unwrap();
    assert!(none.detections.is_empty());
}

#[test]
fn pose_on_each_detected_person() {
    if !ready()
        || visualpath_testkit::asset("models/ssd_mobilenet_v2_coco.onnx").is_none()
        || visualpath_testkit::asset("models/movenet_lightning.onnx").is_none()
    {
        return;
    }
    let Some(frames) = frames("media/vtest.avi", &[100]) else {
        return;
    };
    let det = analyzer(
        DetectConfig {
            threads: 1,
            ..Default::default()
        }
        .build()
        .unwrap(),
    )
    .analyze(&frames[0], Upstream::default())
    .unwrap();
    let obs = Arc::new(visualpath_core::Observation {
        analyzer: Name::from_static("detect"),
        source: Name::from_static("cam"),
        seq: 100,
        capture_time_ns: 0,
        arrival_ns: 0,
        frame_size: (0, 0),
        data: det.clone(),
        timing: Default::default(),
    });
    let up = [obs];
    let mut pose = analyzer(
        PoseConfig {
            threads: 1,
            ..Default::default()
        }
        .build()
        .unwrap(),
    );
    let data = pose.analyze(&frames[0], Upstream::new(&up)).unwrap();
    let persons = det
        .detections
        .iter()
        .filter(|d| d.class == "person")
        .count();
    assert_eq!(data.poses.len(), persons.min(6));
    for p in &data.poses {
        assert_eq!(p.keypoints.len(), 17);
        assert_eq!(p.keypoints[0].name, "nose");
        // Keypoints lie in (or near) the person's box, in frame pixels.
        let inside = p
            .keypoints
            .iter()
            .filter(|k| {
                k.x >= p.bbox.x1 - 20.0
                    && k.x <= p.bbox.x2 + 20.0
                    && k.y >= p.bbox.y1 - 20.0
                    && k.y <= p.bbox.y2 + 20.0
            })
            .count();
        assert!(inside >= 12, "{p:?}");
    }
    assert_eq!(data.values.get("count"), Some(data.poses.len() as f64));
}

#[test]
fn centerface_finds_the_face_in_carphone() {
    if !ready() || visualpath_testkit::asset("models/centerface.onnx").is_none() {
        return;
    }
    let Some(frames) = frames("media/carphone_pristine.mp4", &[0, 60]) else {
        return;
    };
    let mut face = analyzer(
        FaceConfig {
            width: 352,
            threads: 1,
            ..Default::default()
        }
        .build()
        .unwrap(),
    );
    for f in &frames {
        let data = face.analyze(f, Upstream::default()).unwrap();
        assert_eq!(data.faces.len(), 1, "frame {}: {:?}", f.seq, data.faces);
        let fc = &data.faces[0];
        assert!(fc.score > 0.5);
        assert_eq!(fc.landmarks.len(), 5);
        // 176x144 close-up: the face is large and inside the frame.
        assert!(
            fc.bbox.height() > 40.0 && fc.bbox.x2 <= 176.0 && fc.bbox.y2 <= 144.0,
            "{:?}",
            fc.bbox
        );
        // Eyes above the mouth corners.
        assert!(fc.landmarks[0][1] < fc.landmarks[3][1] && fc.landmarks[1][1] < fc.landmarks[4][1]);
    }
}

#[test]
fn wrong_family_and_bad_files_are_clear_errors() {
    if !ready() {
        return;
    }
    let Some(movenet) = visualpath_testkit::asset("models/movenet_lightning.onnx") else {
        return;
    };
    let e = DetectConfig {
        model: movenet.to_string_lossy().into_owned(),
        family: Some(visualpath_models::Family::Yolo),
        ..Default::default()
    }
    .build()
    .err()
    .unwrap()
    .message;
    assert!(e.starts_with("detect: model `"), "{e}");
    assert!(
        e.contains("does not look like a `yolo` model: expected one float32 input [1, 3, H, W]"),
        "{e}"
    );
    assert!(e.contains("set `family:`"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("model.onnx");
    std::fs::write(&junk, b"not onnx").unwrap();
    let e = DetectConfig {
        model: junk.to_string_lossy().into_owned(),
        family: Some(visualpath_models::Family::Ssd),
        ..Default::default()
    }
    .build()
    .err()
    .unwrap()
    .message;
    assert!(e.contains("model.onnx` is not a valid ONNX file"), "{e}");
    let e = DetectConfig {
        model: "yolo-imaginary".into(),
        ..Default::default()
    }
    .build()
    .err()
    .unwrap()
    .message;
    assert_eq!(
        e,
        "detect: unknown model `yolo-imaginary`: use a built-in model (`ssd-mobilenet-v2-coco`) or a path to an .onnx file"
    );
}
