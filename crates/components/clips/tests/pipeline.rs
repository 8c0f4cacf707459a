//! Clips from a pipeline file: a file source, motion, a fusion rule with
//! `clip: {pre: 2s, post: 2s}` and a `clips:` sink. Every clip must be playable, cover
//! its events' windows (within one GOP), and come with a snapshot and a sidecar.

use std::path::{Path, PathBuf};
use std::process::Command;

use visualpath_pipeline::{Overrides, builder, load_str};
use visualpath_testkit::{derived_media, find_program, skip};

fn probe_duration(ffprobe: &Path, file: &Path) -> f64 {
    let out = Command::new(ffprobe)
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,duration",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffprobe on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let frames: u64 = v["streams"][0]["nb_read_frames"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(frames > 0);
    v["streams"][0]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_pipeline_with_a_clip_rule_writes_playable_clips() {
    let Some(ffprobe) = find_program("ffprobe") else {
        skip("pipeline clips", "ffprobe is not installed");
        return;
    };
    let Some(media) = derived_media("vtest_h264.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    let events = dir.path().join("events.jsonl");
    let yaml = format!(
        r#"
sources:
  - name: plaza
    file:
      path: {media}
    max_frames: 400
analyzers:
  - motion:
      threshold: 0.01
      grid: [4, 3]
fusion:
  - name: busy
    when: motion.score > 0.01
    for: 500ms
    cooldown: 3s
    clip: {{pre: 2s, post: 2s}}
sinks:
  - name: clips
    clips:
      dir: {clips}
    inputs: [events]
  - name: events
    jsonl:
      path: {events}
edges:
  - {{from: plaza, to: motion, qos: durable, capacity: 16}}
"#,
        media = media.display(),
        clips = clips.display(),
        events = events.display(),
    );
    let plan = load_str(&yaml, None, &|_| None).unwrap();
    let report = builder(&plan, &Overrides::default())
        .unwrap()
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert!(report.error.is_none(), "{:?}", report.error);
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let max_score = records
        .iter()
        .filter_map(|r| r["values"]["score"].as_f64())
        .fold(0.0, f64::max);
    assert!(
        report.events >= 2,
        "the footage should fire the rule: {} events (highest motion score {max_score}); first record {}",
        report.events,
        records.first().map(|r| r.to_string()).unwrap_or_default()
    );

    let mut mp4s: Vec<PathBuf> = std::fs::read_dir(clips.join("plaza"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
        .collect();
    mp4s.sort();
    assert!(!mp4s.is_empty(), "no clip written");
    let gop = 1.0; // vtest_h264.mp4: a keyframe every second
    let mut covered = 0;
    let mut checked = 0;
    for mp4 in &mp4s {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(mp4.with_extension("json")).unwrap())
                .unwrap();
        let duration = probe_duration(&ffprobe, mp4);
        image::open(mp4.with_extension("jpg")).expect("snapshot decodes");
        let evs = meta["events"].as_array().unwrap();
        covered += evs.len();
        assert!(evs.iter().all(|e| e["rule"] == "busy"));
        let since = evs
            .iter()
            .map(|e| e["since_ns"].as_i64().unwrap())
            .min()
            .unwrap();
        let until = evs
            .iter()
            .map(|e| {
                e["until_ns"]
                    .as_i64()
                    .or(e["capture_time_ns"].as_i64())
                    .unwrap()
            })
            .max()
            .unwrap();
        let wanted = (until - since) as f64 / 1e9 + 4.0;
        if meta["truncated"] == true {
            // The run ended (or began) inside the window: only check it is not longer.
            assert!(
                duration <= wanted + gop + 0.15,
                "{}: {duration} s > {wanted} s",
                mp4.display()
            );
            continue;
        }
        assert!(
            duration >= wanted - 0.15 && duration <= wanted + gop + 0.15,
            "{}: {duration} s, wanted {wanted} s + up to {gop} s; sidecar {meta}",
            mp4.display()
        );
        checked += 1;
    }
    assert!(checked >= 1, "every clip was truncated: {mp4s:?}");
    // Every event (start and end records share an id) is in some clip.
    let mut ids: Vec<u64> = records
        .iter()
        .filter(|r| r["kind"] == "event")
        .map(|r| r["event_id"].as_u64().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(covered, ids.len(), "clips {mp4s:?} vs events {ids:?}");
}

#[test]
fn cameras_added_at_run_time_are_recorded_too() {
    if find_program("ffprobe").is_none() {
        skip("camera manager clips", "ffprobe is not installed");
        return;
    }
    let Some(media) = derived_media("vtest_h264.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("clips");
    // One short camera in the file; the recorded one is added through the manager.
    let yaml = format!(
        "sources:\n  - name: first\n    file: {{path: {}}}\n    max_frames: 10\nanalyzers:\n  - motion: {{threshold: 0.01}}\nfusion:\n  - name: busy\n    when: motion.score > 0.01\n    for: 500ms\n    cooldown: 3s\n    clip: {{pre: 1s, post: 1s}}\nsinks:\n  - name: clips\n    clips: {{dir: {}}}\n    inputs: [events]\n",
        media.display(),
        clips.display()
    );
    let plan = load_str(&yaml, None, &|_| None).unwrap();
    let m = visualpath_pipeline::CameraManager::start(&plan, &Overrides::default()).unwrap();
    let cam = visualpath_pipeline::camera_from_str(&format!(
        "name: late\nfile: {{path: {}}}\nmax_frames: 200\n",
        media.display()
    ))
    .unwrap();
    m.add(cam).unwrap();
    let t = std::time::Instant::now();
    while m
        .cameras()
        .iter()
        .find(|c| c.name.as_str() == "late")
        .is_none_or(|c| c.frames < 200)
    {
        assert!(
            t.elapsed().as_secs() < 60,
            "the camera did not deliver its frames"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let report = m.shutdown();
    let d = report.node("clips").unwrap().delivery.clone().unwrap();
    assert!(d.sent > 0 && d.failed == 0, "{d:?}");
    let mp4: Vec<PathBuf> = std::fs::read_dir(clips.join("late"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    assert!(!mp4.is_empty());
}
