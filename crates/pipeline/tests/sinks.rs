//! Sinks from a pipeline file, on real footage: a peer that never answers does not slow
//! the pipeline or the other sinks, and the run report shows each sink's delivery.

use std::net::TcpListener;

use visualpath_pipeline::{Overrides, builder, load_str};
use visualpath_testkit::{Server, asset};

/// `vtest.avi` with motion, a fusion rule and the given sinks (YAML list items).
fn pipeline(video: &std::path::Path, sinks: &str) -> String {
    format!(
        "sources:\n  - name: plaza\n    file: {{path: {}}}\n    max_frames: 300\nanalyzers:\n  - motion: {{threshold: 0.01}}\nfusion:\n  - name: busy\n    when: motion.score > 0.02\n    for: 0s\nsinks:\n{sinks}",
        video.display()
    )
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_dead_peer_never_blocks_the_pipeline_or_the_other_sinks() {
    let Some(video) = asset("media/vtest.avi") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("out.jsonl");
    let csv = dir.path().join("out.csv");
    // A peer that accepts connections (the kernel's backlog) but never reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let yaml = pipeline(
        &video,
        &format!(
            "  - name: out\n    jsonl: {{path: {}}}\n  - name: table\n    csv: {{path: {}}}\n  - name: hook\n    webhook: {{url: \"http://127.0.0.1:{silent_port}/events\", records: [events, observations], timeout: 200ms}}\n    queue: {{capacity: 16}}\n    retry: {{initial: 10ms, max: 50ms, drain_timeout: 300ms}}\n",
            jsonl.display(),
            csv.display()
        ),
    );
    let plan = load_str(&yaml, None, &|_| None).unwrap();
    let report = builder(&plan, &Overrides::default())
        .unwrap()
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert!(report.error.is_none(), "{:?}", report.error);

    // The file sinks got everything: 300 motion observations plus the events.
    let records = lines(&jsonl);
    let observations = records
        .iter()
        .filter(|r| r["kind"] == "observation")
        .count();
    let events = records.iter().filter(|r| r["kind"] == "event").count();
    assert_eq!(observations, 300);
    assert!(events > 0, "the rule should fire on vtest");
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert!(csv_text.starts_with("capture_time_ns,source,seq,kind,name,key,value\n"));
    assert!(
        csv_text
            .lines()
            .filter(|l| l.contains(",observation,motion,score,"))
            .count()
            == 300
    );

    // The webhook never delivered; every record it was handed is accounted for.
    let hook = report.node("hook").unwrap();
    let d = hook
        .delivery
        .as_ref()
        .expect("webhook reports its delivery");
    assert_eq!(d.sent, 0);
    assert_eq!(d.health, "failing");
    assert_eq!(
        d.failed + d.dropped + d.skipped + d.queued,
        (observations + events) as u64,
        "{d:?}"
    );
    assert!(d.dropped > 0, "a queue of 16 must overflow: {d:?}");
    assert!(
        d.last_error.as_deref().unwrap_or("").contains("127.0.0.1"),
        "{d:?}"
    );
    assert!(
        report.summary().contains("failing: sent 0"),
        "{}",
        report.summary()
    );
    drop(silent);
}

#[test]
fn records_reach_a_real_redis_stream_from_a_pipeline_file() {
    let Some(video) = asset("media/vtest.avi") else {
        return;
    };
    let Some(redis) = Server::redis() else {
        return;
    };
    let yaml = pipeline(
        &video,
        &format!(
            "  - name: stream\n    redis: {{url: \"redis://127.0.0.1:{}\"}}\n    inputs: [events]\n",
            redis.port()
        ),
    );
    let plan = load_str(&yaml, None, &|_| None).unwrap();
    let report = builder(&plan, &Overrides::default())
        .unwrap()
        .build()
        .unwrap()
        .run()
        .unwrap();
    let d = report.node("stream").unwrap().delivery.clone().unwrap();
    assert!(d.sent > 0, "{d:?}");
    assert_eq!(d.failed + d.dropped, 0, "{d:?}");
    assert_eq!(d.health, "healthy");
    let out = std::process::Command::new(
        visualpath_testkit::find_program("redis-cli").expect("redis-cli next to redis-server"),
    )
    .args(["-p", &redis.port().to_string(), "XLEN", "visualpath:plaza"])
    .output()
    .unwrap();
    let n: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(n, d.sent);
}
