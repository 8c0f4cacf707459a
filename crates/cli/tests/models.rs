//! Model analyzers from the command line and pipeline files.

mod support;

use support::*;

fn models_ready() -> bool {
    if let Err(e) = visualpath_infer_ort::runtime_available() {
        visualpath_testkit::skip("model CLI tests", &e.to_string());
        return false;
    }
    visualpath_testkit::asset("models/ssd_mobilenet_v2_coco.onnx").is_some()
        && visualpath_testkit::asset("models/movenet_lightning.onnx").is_some()
}

#[test]
fn detect_and_track_from_the_command_line() {
    if !models_ready() {
        return;
    }
    let Some(video) = asset("media/vtest.avi") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.jsonl");
    let o = visualpath(&[
        "run",
        video.to_str().unwrap(),
        "--analyze",
        "detect,track",
        "--jsonl",
        out.to_str().unwrap(),
        "--max-frames",
        "40",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = jsonl(&out);
    let detect: Vec<_> = lines.iter().filter(|l| l["analyzer"] == "detect").collect();
    let track: Vec<_> = lines.iter().filter(|l| l["analyzer"] == "track").collect();
    assert_eq!(detect.len(), 40);
    assert_eq!(track.len(), 40);
    let d = &detect[20]["detections"][0];
    assert!(
        d["class"].is_string() && d["class_id"].is_u64() && d["score"].as_f64().unwrap() >= 0.5
    );
    assert_eq!(d["box"].as_array().unwrap().len(), 4);
    // After a few frames, people are tracked with ids and slots 1..=10.
    let tracks = track[39]["tracks"].as_array().unwrap();
    let people = tracks.iter().filter(|t| t["class"] == "person").count();
    assert!(people >= 3, "{:?}", track[39]);
    for t in tracks {
        let slot = t["slot"].as_u64().unwrap();
        assert!((1..=10).contains(&slot));
        assert!(t["id"].as_u64().unwrap() >= 1);
        assert!(t["class"] == "person" || t["class"] == "car", "{t}");
    }
    let ids: std::collections::HashSet<u64> =
        tracks.iter().map(|t| t["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), tracks.len(), "ids are unique");
    assert!(stderr(&o).contains("analyzer   track"));
}

#[test]
fn the_people_example_runs_with_zones_lines_and_events() {
    if !models_ready() {
        return;
    }
    if asset("media/vtest.avi").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("people.jsonl");
    let example = root().join("examples/pipelines/people.yaml");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_visualpath"))
        .args(["run", example.to_str().unwrap(), "--max-frames", "300"])
        .env("OUT", &out)
        .env("VISUALPATH_ASSETS", root().join("assets"))
        .env("VISUALPATH_LOG", "error")
        .output()
        .unwrap();
    if !root().join("assets/media/vtest.avi").is_file() {
        return;
    }
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = jsonl(&out);
    let last_track = lines
        .iter()
        .rev()
        .find(|l| l["analyzer"] == "track")
        .unwrap();
    let v = &last_track["values"];
    for k in [
        "count",
        "slots_used",
        "zone.left.count",
        "line.middle.in",
        "line.middle.out",
        "line.middle.per_minute",
    ] {
        assert!(v[k].is_number(), "missing {k} in {v}");
    }
    assert!(
        v["line.middle.in"].as_f64().unwrap() + v["line.middle.out"].as_f64().unwrap() >= 1.0,
        "people cross the middle"
    );
    let poses: Vec<_> = lines
        .iter()
        .filter(|l| l["analyzer"] == "pose" && l["poses"].is_array())
        .collect();
    assert!(!poses.is_empty());
    let p = &poses[0]["poses"][0];
    assert_eq!(p["keypoints"].as_array().unwrap().len(), 17);
    assert!(p["track_id"].is_u64(), "poses carry the track id: {p}");
    // detect skipped by its schedule and condition, never failing.
    assert!(stderr(&o).contains("skipped (schedule)"));
}

#[test]
fn model_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.yaml");
    std::fs::write(
        &p,
        "sources:\n  - name: cam\n    file: {path: a.mp4}\nanalyzers:\n  - motion: {}\n  - track: {}\n  - detect: {regions_from: motion}\n",
    )
    .unwrap();
    let o = visualpath(&["validate", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o).replace(&format!("{}/", dir.path().display()), "");
    assert!(e.contains("t.yaml:6:5: analyzer `track` tracks detections: list the detector in `after:` (e.g. `after: [detect]`)"), "{e}");
    assert!(e.contains("t.yaml:7:5: analyzer `detect`: `regions_from: motion` must name an analyzer in its `after:`"), "{e}");

    std::fs::write(&p, "sources:\n  - name: cam\n    file: {path: a.mp4}\nanalyzers:\n  - detect: {confidence: 1.5}\n").unwrap();
    let o = visualpath(&["validate", p.to_str().unwrap()]);
    assert!(
        stderr(&o)
            .contains("analyzer `detect`: detect: `confidence` must be between 0 and 1, got 1.5"),
        "{}",
        stderr(&o)
    );

    let o = visualpath(&["run", "synthetic", "--analyze", "track"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--analyze track needs a detector: use --analyze detect,track"),
        "{}",
        stderr(&o)
    );

    if !models_ready() {
        return;
    }
    std::fs::write(&p, "sources:\n  - name: cam\n    synthetic: {frames: 1}\nanalyzers:\n  - detect: {model: yolo9000}\n").unwrap();
    let o = visualpath(&["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("analyzer `detect`: detect: unknown model `yolo9000`: use a built-in model (`ssd-mobilenet-v2-coco`) or a path to an .onnx file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn models_list_and_info() {
    let o = visualpath(&["models", "list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for id in ["ssd-mobilenet-v2-coco", "movenet-lightning", "centerface"] {
        assert!(out.contains(id), "{out}");
    }
    assert!(out.contains("Apache-2.0") && out.contains("MIT"));
    if !models_ready() {
        return;
    }
    let o = visualpath(&["models", "info", "ssd-mobilenet-v2-coco"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("licence:  Apache-2.0"), "{out}");
    assert!(
        out.contains("declared input:  image_tensor:0 uint8[?, ?, ?, 3]"),
        "{out}"
    );
    assert!(out.contains("runtime:  onnxruntime 1.31.1, CPU"), "{out}");
    let o = visualpath(&["models", "info", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown model `nope`"));
}

#[test]
fn a_missing_or_wrong_runtime_library_is_a_clear_error() {
    let run = |lib: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_visualpath"))
            .args([
                "run",
                "synthetic",
                "--analyze",
                "detect",
                "--max-frames",
                "1",
            ])
            .env("ORT_DYLIB_PATH", lib)
            .env("VISUALPATH_LOG", "error")
            .output()
            .unwrap()
    };
    let o = run("/nonexistent/libonnxruntime.so.1.31.1");
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("ONNX Runtime library libonnxruntime.so.1.31.1 not found (looked in: /nonexistent/libonnxruntime.so.1.31.1); run scripts/fetch-onnxruntime.sh, or set ORT_DYLIB_PATH to the library"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    // A library that is not ONNX Runtime.
    let libz = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/aarch64-linux-gnu/libz.so.1",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).is_file());
    if let Some(libz) = libz {
        let o = run(libz);
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(
            e.contains(&format!("cannot load ONNX Runtime from `{libz}`")),
            "{e}"
        );
        assert!(e.contains("visualpath needs ONNX Runtime 1.31.1"), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}
