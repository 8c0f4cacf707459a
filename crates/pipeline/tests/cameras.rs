//! The camera manager with endless synthetic cameras.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use visualpath_pipeline::{CameraManager, Overrides, camera_from_str, load_str};

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn frames(m: &CameraManager, cam: &str) -> u64 {
    m.cameras()
        .iter()
        .find(|c| c.name.as_str() == cam)
        .map(|c| c.frames)
        .unwrap_or(0)
}

#[test]
fn cameras_are_added_stopped_started_and_removed_while_the_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let yaml = format!(
        "sources:\n  - name: cam1\n    synthetic: {{width: 160, height: 120, fps: 50}}\n    realtime: true\n  - name: cam2\n    synthetic: {{width: 160, height: 120, fps: 50}}\n    realtime: true\nanalyzers:\n  - motion: {{threshold: 0.0001}}\nsinks:\n  - name: out\n    jsonl: {{path: {}}}\n",
        out.display()
    );
    let plan = load_str(&yaml, None, &|_| None).unwrap();
    let m = CameraManager::start(&plan, &Overrides::default()).unwrap();
    wait_for("both cameras", || {
        frames(&m, "cam1") > 20 && frames(&m, "cam2") > 20
    });

    m.stop_camera("cam2").unwrap();
    let cam2 = m
        .cameras()
        .into_iter()
        .find(|c| c.name.as_str() == "cam2")
        .unwrap();
    assert!(!cam2.active && cam2.state.is_none());
    let cam1_before = frames(&m, "cam1");
    wait_for("cam1 to keep going", || {
        frames(&m, "cam1") > cam1_before + 25
    });

    m.start_camera("cam2").unwrap();
    wait_for("cam2 again", || frames(&m, "cam2") > 10);

    // A third camera, added at run time, with its own motion threshold (no frame reaches 1.0).
    let spec = camera_from_str(
        "name: cam3\nsynthetic: {width: 160, height: 120, fps: 50}\nrealtime: true\noverrides:\n  motion: {threshold: 1.0}\n",
    )
    .unwrap();
    m.add(spec.clone()).unwrap();
    assert_eq!(
        m.add(spec).unwrap_err().to_string(),
        "a camera called `cam3` already exists"
    );
    wait_for("cam3", || frames(&m, "cam3") > 25);

    m.remove("cam1").unwrap();
    assert!(m.cameras().iter().all(|c| c.name.as_str() != "cam1"));
    assert_eq!(
        m.stop_camera("cam1").unwrap_err().to_string(),
        "no camera called `cam1`"
    );
    let stats = m.pipeline().node_stats();
    assert!(stats.iter().all(|s| s.name.as_str() != "cam1"));
    let processed: u64 = stats
        .iter()
        .filter(|s| s.name.as_str() == "motion")
        .map(|s| s.processed.load(Ordering::Relaxed))
        .sum();
    assert!(processed > 100);
    let report = m.shutdown();
    assert!(report.error.is_none(), "{:?}", report.error);

    // cam3's override kept its motion flag at 0 while cam2 moved. (Paced cameras feed the
    // analyzer through latest-only queues, so a loaded machine may drop some frames:
    // counts are lower bounds.)
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let moving = |src: &str| {
        lines
            .iter()
            .filter(|l| l["source"] == src && l["values"]["moving"] == 1.0)
            .count()
    };
    let total = |src: &str| lines.iter().filter(|l| l["source"] == src).count();
    assert!(
        total("cam3") > 25 && moving("cam3") == 0,
        "cam3 {} {}",
        total("cam3"),
        moving("cam3")
    );
    assert!(moving("cam2") > 10);
    // cam1 records stopped when it was removed.
    assert!(total("cam1") > 45);
}

#[test]
fn camera_errors_are_one_line() {
    let yaml = "sources:\n  - name: cam1\n    synthetic: {frames: 1}\nanalyzers:\n  - motion: {}\n";
    let plan = load_str(yaml, None, &|_| None).unwrap();
    let m = CameraManager::start(&plan, &Overrides::default()).unwrap();
    let bad =
        camera_from_str("name: cam9\nsynthetic: {}\noverrides:\n  detect: {confidence: 0.2}\n")
            .unwrap();
    assert_eq!(
        m.add(bad).unwrap_err().to_string(),
        "camera `cam9` overrides unknown analyzer `detect`"
    );
    assert_eq!(
        m.start_camera("nope").unwrap_err().to_string(),
        "no camera called `nope`"
    );
    let e = camera_from_str("name: cam9\nsynthetic: {}\nrtsp_url: x\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("3:1: unknown field `rtsp_url`"), "{e}");
    m.shutdown();
}
