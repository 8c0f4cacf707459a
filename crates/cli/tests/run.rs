//! `visualpath run` on real footage.

mod support;

use support::*;

#[test]
fn motion_on_vtest_writes_one_observation_per_frame() {
    let Some(video) = asset("media/vtest.avi") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let o = visualpath(&[
        "run",
        video.to_str().unwrap(),
        "--analyze",
        "motion",
        "--jsonl",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 795);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["kind"], "observation");
        assert_eq!(l["source"], "vtest");
        assert_eq!(l["analyzer"], "motion");
        assert_eq!(l["seq"], i as u64);
        assert!(l["capture_time_ns"].as_i64().unwrap() > 1_600_000_000_000_000_000);
        let score = l["values"]["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score));
    }
    // People walk through the whole clip: nearly every frame after the first shows some
    // change (measured: 774 of 795 above 0.002), and the first frame scores 0.
    let some = lines
        .iter()
        .filter(|l| l["values"]["score"].as_f64().unwrap() > 0.002)
        .count();
    assert!(some >= 750, "only {some} frames with motion");
    assert_eq!(lines[0]["values"]["score"], 0.0);
    // Capture times advance at the file's 10 fps.
    let t0 = lines[0]["capture_time_ns"].as_i64().unwrap();
    let t100 = lines[100]["capture_time_ns"].as_i64().unwrap();
    assert!(
        (t100 - t0 - 10_000_000_000).abs() < 2_000_000,
        "{}",
        t100 - t0
    );
    let err = stderr(&o);
    assert!(err.contains("frames: 795"), "{err}");
    assert!(err.contains("analyzer   motion"), "{err}");
}

#[test]
fn every_model_free_analyzer_and_the_summary() {
    let Some(video) = asset("media/bikes.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let report = dir.path().join("report.json");
    let o = visualpath(&[
        "run",
        video.to_str().unwrap(),
        "--analyze",
        "motion,frame_stats,scene_cut",
        "--jsonl",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--executor",
        "pool:2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 250 * 3);
    for a in ["motion", "frame_stats", "scene_cut"] {
        let n = lines.iter().filter(|l| l["analyzer"] == a).count();
        assert_eq!(n, 250, "{a}");
    }
    let stats: Vec<_> = lines
        .iter()
        .filter(|l| l["analyzer"] == "frame_stats")
        .collect();
    assert!(
        stats
            .iter()
            .all(|l| l["values"]["brightness"].as_f64().unwrap() > 0.05)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let nodes = r["nodes"].as_array().unwrap();
    let motion = nodes.iter().find(|n| n["name"] == "motion").unwrap();
    assert_eq!(motion["processed"], 250);
    assert!(motion["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(r["buffers"]["copies"], 0);
}

#[test]
fn max_frames_and_duration_limit_the_run() {
    let Some(video) = asset("media/vtest.avi") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.jsonl");
    let o = visualpath(&[
        "run",
        video.to_str().unwrap(),
        "--analyze",
        "motion",
        "--jsonl",
        out.to_str().unwrap(),
        "--max-frames",
        "10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(jsonl(&out).len(), 10);
    let o = visualpath(&[
        "run",
        video.to_str().unwrap(),
        "--analyze",
        "motion",
        "--jsonl",
        out.to_str().unwrap(),
        "--duration",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(jsonl(&out).len(), 20, "2 s of a 10 fps file");
}

#[test]
fn loop_continues_seq_across_the_end() {
    let Some(video) = asset("media/carphone_pristine.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.jsonl");
    let o = visualpath(&[
        "run",
        video.to_str().unwrap(),
        "--analyze",
        "motion",
        "--jsonl",
        out.to_str().unwrap(),
        "--loop",
        "--max-frames",
        "300",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 300);
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..300).collect::<Vec<_>>());
    let t: Vec<i64> = lines
        .iter()
        .map(|l| l["capture_time_ns"].as_i64().unwrap())
        .collect();
    assert!(
        t.windows(2).all(|w| w[1] > w[0]),
        "capture time keeps increasing across loops"
    );
}

#[test]
fn synthetic_and_image_folder_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.jsonl");
    let o = visualpath(&[
        "run",
        "synthetic:320x240@25",
        "--analyze",
        "motion",
        "--jsonl",
        out.to_str().unwrap(),
        "--max-frames",
        "50",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 50);
    assert_eq!(lines[0]["source"], "synthetic");
    assert!(
        lines[10]["values"]["score"].as_f64().unwrap() > 0.0,
        "squares move"
    );

    let Some(png) = asset("media/basketball1.png") else {
        return;
    };
    let imgs = dir.path().join("imgs");
    std::fs::create_dir(&imgs).unwrap();
    for i in 0..3 {
        std::fs::copy(&png, imgs.join(format!("f{i}.png"))).unwrap();
    }
    let out = dir.path().join("i.jsonl");
    let o = visualpath(&[
        "run",
        imgs.to_str().unwrap(),
        "--analyze",
        "frame_stats",
        "--jsonl",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["source"], "imgs");
    assert_eq!(
        lines[0]["values"], lines[2]["values"],
        "same picture, same stats"
    );
}

#[test]
fn output_is_deterministic_apart_from_times() {
    let Some(video) = asset("media/bikes.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let strip = |p: &std::path::Path| -> Vec<serde_json::Value> {
        jsonl(p)
            .into_iter()
            .map(|mut l| {
                let o = l.as_object_mut().unwrap();
                o.remove("capture_time_ns");
                o.remove("analyze_ms");
                l
            })
            .collect()
    };
    let mut runs = Vec::new();
    for (i, exec) in ["sequential", "pool:2"].iter().enumerate() {
        let out = dir.path().join(format!("{i}.jsonl"));
        let o = visualpath(&[
            "run",
            video.to_str().unwrap(),
            "--analyze",
            "motion,scene_cut",
            "--jsonl",
            out.to_str().unwrap(),
            "--executor",
            exec,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut v = strip(&out);
        // The pool may interleave analyzers differently; compare as a sorted multiset.
        v.sort_by_key(|l| (l["analyzer"].to_string(), l["seq"].as_u64()));
        runs.push(v);
    }
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn trace_file_follows_frames_through_stages() {
    let Some(video) = asset("media/vtest.avi") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.jsonl");
    let out = dir.path().join("o.jsonl");
    let o = visualpath(&[
        "run",
        video.to_str().unwrap(),
        "--analyze",
        "motion",
        "--jsonl",
        out.to_str().unwrap(),
        "--max-frames",
        "20",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = jsonl(&trace);
    for what in ["emit", "analyze", "write"] {
        let n = t
            .iter()
            .filter(|e| e["what"] == what && e["seq"] == 7)
            .count();
        assert_eq!(n, 1, "frame 7 has one `{what}` entry");
    }
    let a = t
        .iter()
        .find(|e| e["what"] == "analyze" && e["seq"] == 7)
        .unwrap();
    assert_eq!(a["stage"], "motion");
    assert!(a["duration_ns"].as_u64().unwrap() > 0);
}

#[test]
fn bad_inputs_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = visualpath(&["run", "/no/such/video.mp4", "--analyze", "motion"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("/no/such/video.mp4") && e.contains("no such file"),
        "{e}"
    );

    let txt = dir.path().join("notes.mp4");
    std::fs::write(&txt, "this is not a video\n".repeat(100)).unwrap();
    let o = visualpath(&["run", txt.to_str().unwrap(), "--analyze", "motion"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("notes.mp4"), "{e}");
    assert!(!e.contains("panicked"), "{e}");

    let o = visualpath(&["run", "synthetic", "--analyze", "motoin"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(
            "unknown analyzer `motoin` in --analyze; available: motion, frame_stats, scene_cut"
        ),
        "{}",
        stderr(&o)
    );

    let o = visualpath(&["run", "synthetic:big", "--max-frames", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid input `synthetic:big`"),
        "{}",
        stderr(&o)
    );
}
