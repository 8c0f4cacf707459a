//! The ONNX Runtime backend against the real runtime library and real models.

use visualpath_infer::{Device, ElementType, Input, InputData, LoadOptions, Model};

fn runtime() -> bool {
    match visualpath_infer_ort::runtime_available() {
        Ok(()) => true,
        Err(e) => {
            visualpath_testkit::skip("ONNX Runtime tests", &e.to_string());
            false
        }
    }
}

#[test]
fn ssd_model_loads_with_its_declared_io_and_runs() {
    if !runtime() {
        return;
    }
    let Some(path) = visualpath_testkit::asset("models/ssd_mobilenet_v2_coco.onnx") else {
        return;
    };
    let m = visualpath_infer_ort::load(
        &path,
        &LoadOptions {
            device: Device::Cpu,
            threads: 1,
        },
    )
    .unwrap();
    let info = m.info();
    assert_eq!(info.inputs.len(), 1);
    assert_eq!(info.inputs[0].name, "image_tensor:0");
    assert_eq!(info.inputs[0].element, ElementType::U8);
    assert_eq!(info.inputs[0].shape.len(), 4);
    let names: Vec<&str> = info.outputs.iter().map(|o| o.name.as_str()).collect();
    for n in [
        "detection_boxes:0",
        "detection_scores:0",
        "detection_classes:0",
        "num_detections:0",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    // A black frame: a valid run with no confident detection.
    let (h, w) = (240usize, 320usize);
    let data = vec![0u8; h * w * 3];
    let mut out = Vec::new();
    m.run(
        &[Input {
            shape: &[1, h, w, 3],
            data: InputData::U8(&data),
        }],
        &mut out,
    )
    .unwrap();
    let scores = out.iter().find(|o| o.name == "detection_scores:0").unwrap();
    assert_eq!(scores.shape, vec![1, 100]);
    assert!(
        scores.data.iter().all(|s| *s < 0.5),
        "nothing confident on black"
    );
    assert!(
        m.describe()
            .starts_with("onnxruntime 1.31.1, CPU, 1 threads"),
        "{}",
        m.describe()
    );
}

#[test]
fn one_session_is_shared_for_the_same_model_and_options() {
    if !runtime() {
        return;
    }
    let Some(path) = visualpath_testkit::asset("models/movenet_lightning.onnx") else {
        return;
    };
    let o = LoadOptions {
        device: Device::Cpu,
        threads: 1,
    };
    let a = visualpath_infer_ort::load(&path, &o).unwrap();
    let b = visualpath_infer_ort::load(&path, &o).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    let c = visualpath_infer_ort::load(
        &path,
        &LoadOptions {
            device: Device::Cpu,
            threads: 2,
        },
    )
    .unwrap();
    assert!(!std::sync::Arc::ptr_eq(&a, &c));
}

#[test]
fn bad_models_and_devices_give_clear_errors() {
    if !runtime() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let e = visualpath_infer_ort::load(&dir.path().join("missing.onnx"), &LoadOptions::default())
        .unwrap_err();
    assert!(e.to_string().starts_with("model file `"), "{e}");
    assert!(
        e.to_string().contains("missing.onnx` cannot be opened"),
        "{e}"
    );

    let junk = dir.path().join("notes.onnx");
    std::fs::write(&junk, b"this is not a model").unwrap();
    let e = visualpath_infer_ort::load(&junk, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("notes.onnx") && e.contains("not a valid ONNX file"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");

    let Some(path) = visualpath_testkit::asset("models/centerface.onnx") else {
        return;
    };
    if !visualpath_infer_ort::providers().contains(&"CUDA") {
        let e = visualpath_infer_ort::load(
            &path,
            &LoadOptions {
                device: Device::Cuda(0),
                threads: 0,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("device `cuda:0` needs the CUDA execution provider"),
            "{e}"
        );
        assert!(e.ends_with("or use `device: cpu`"), "{e}");
    }
}

#[test]
fn wrong_input_sizes_are_errors_not_crashes() {
    if !runtime() {
        return;
    }
    let Some(path) = visualpath_testkit::asset("models/movenet_lightning.onnx") else {
        return;
    };
    let m = visualpath_infer_ort::load(
        &path,
        &LoadOptions {
            device: Device::Cpu,
            threads: 1,
        },
    )
    .unwrap();
    let data = vec![0i32; 10];
    let mut out = Vec::new();
    let e = m
        .run(
            &[Input {
                shape: &[1, 192, 192, 3],
                data: InputData::I32(&data),
            }],
            &mut out,
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("needs 110592 elements, 10 given"),
        "{e}"
    );
    let e = m.run(&[], &mut out).unwrap_err();
    assert_eq!(e.to_string(), "the model takes 1 inputs, 0 given");
}
