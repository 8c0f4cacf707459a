//! Sources added and removed while the pipeline runs (the camera manager's foundation).

mod common;

use common::*;
use visualpath_core::Name;
use visualpath_runtime::{
    AnalyzerOptions, EdgeSpec, Executor, PipelineBuilder, SinkOptions, SourceOptions,
};

fn wait_for(mut cond: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !cond() {
        assert!(t.elapsed().as_secs() < 20, "timed out");
        sleep_ms(2);
    }
}

#[test]
fn cameras_come_and_go_without_touching_the_others() {
    let mut p = PipelineBuilder::new();
    p.executor(Executor::Pool { threads: 2 }).keep_alive(true);
    let a = Probe::seq();
    let na = p.analyzer("a", a.factory(), AnalyzerOptions::default());
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(na).to(s);
    // No source at all to start with: keep-alive pipelines wait for cameras.
    let running = p.build().unwrap().start().unwrap();

    // An endless camera, and a second one that we will remove.
    running
        .add_source(
            "cam1",
            TestSource::boxed("cam1", None),
            SourceOptions::default(),
            &["a"],
        )
        .unwrap();
    running
        .add_source(
            "cam2",
            TestSource::boxed("cam2", None),
            SourceOptions::default(),
            &["a"],
        )
        .unwrap();
    let count = |src: &str| {
        out.observations("a")
            .iter()
            .filter(|(s, _)| s == src)
            .count()
    };
    wait_for(|| count("cam1") > 50 && count("cam2") > 50);
    running.remove_source("cam2").unwrap();
    let cam2_after_removal = count("cam2");
    let cam1_at_removal = count("cam1");
    wait_for(|| count("cam1") > cam1_at_removal + 100);
    assert_eq!(
        count("cam2"),
        cam2_after_removal,
        "a removed camera produces nothing more"
    );
    // Re-adding the same name starts a fresh stream (seq from 0 again, new analyzer state).
    running
        .add_source(
            "cam2",
            TestSource::boxed("cam2", Some(10)),
            SourceOptions::default(),
            &["a"],
        )
        .unwrap();
    wait_for(|| count("cam2") >= cam2_after_removal + 10);
    // cam2 (10 frames) has ended: it is listed as stopped, cam1 still runs.
    assert_eq!(running.source_names(), vec![Name::from_static("cam1")]);
    let states: Vec<(String, &str)> = running
        .source_states()
        .into_iter()
        .map(|(n, s)| (n.to_string(), s.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![("cam1".into(), "streaming"), ("cam2".into(), "stopped")]
    );
    let report = running.shutdown();
    let cam1 = count("cam1");
    assert!(cam1 > 100);
    // Every frame a camera produced was analyzed and written (lossless edges here).
    let produced: u64 = report
        .nodes
        .iter()
        .filter(|n| n.name.as_str() == "cam1")
        .map(|n| n.processed)
        .sum();
    assert_eq!(produced as usize, cam1);
    assert!(report.error.is_none());
}

#[test]
fn add_remove_cycles_do_not_grow_the_graph() {
    let mut p = PipelineBuilder::new();
    p.keep_alive(true);
    let a = Probe::seq();
    let na = p.analyzer("a", a.factory(), AnalyzerOptions::default());
    let b = Probe::seq();
    let nb = p.analyzer("b", b.factory(), AnalyzerOptions::default());
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(na).to(nb).to(s);
    let running = p.build().unwrap().start().unwrap();
    let mut slots_after_first = 0;
    for i in 0..50 {
        running
            .add_source(
                "cam",
                TestSource::boxed("cam", Some(5)),
                SourceOptions::default(),
                &["a"],
            )
            .unwrap();
        wait_for(|| out.observations("b").len() >= (i + 1) * 5);
        running.remove_source("cam").unwrap();
        if i == 0 {
            slots_after_first = running.input_slots();
        }
    }
    assert_eq!(
        running.input_slots(),
        slots_after_first,
        "input slots are reused"
    );
    assert_eq!(
        running.report().edges.len(),
        2,
        "only the static edges remain"
    );
    let report = running.shutdown();
    assert_eq!(out.observations("b").len(), 250);
    assert!(report.error.is_none());
}

#[test]
fn a_camera_added_at_run_time_is_joined_across_analyzers() {
    let mut p = PipelineBuilder::new();
    p.keep_alive(true).executor(Executor::Pool { threads: 2 });
    let (a, b, c) = (Probe::seq(), Probe::seq(), Probe::seq());
    let na = p.analyzer("a", a.factory(), AnalyzerOptions::default());
    let nb = p.analyzer("b", b.factory(), AnalyzerOptions::default());
    let nc = p.analyzer("c", c.factory(), AnalyzerOptions::default());
    let boot = p.source(
        "boot",
        TestSource::boxed("boot", Some(0)),
        SourceOptions::default(),
    );
    p.link(boot).to(na).to(nc);
    p.link(boot).to(nb).to(nc);
    let running = p.build().unwrap().start().unwrap();
    running
        .add_source(
            "cam",
            TestSource::boxed("cam", Some(30)),
            SourceOptions::default(),
            &["a", "b"],
        )
        .unwrap();
    wait_for(|| c.seen.frames.lock().unwrap().len() >= 30);
    running.shutdown();
    for (_, seq, _, up) in c.seen.frames.lock().unwrap().iter() {
        let mut up = up.clone();
        up.sort();
        assert_eq!(up, ["a", "b"], "frame {seq} joined from both parents");
    }
}

#[test]
fn run_time_changes_are_checked() {
    let mut p = PipelineBuilder::new();
    p.keep_alive(true);
    let a = Probe::seq();
    let na = p.analyzer("a", a.factory(), AnalyzerOptions::default());
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    let boot = p.source(
        "boot",
        TestSource::boxed("boot", Some(0)),
        SourceOptions::default(),
    );
    p.link(boot).with(EdgeSpec::lossless(4)).to(na).to(s);
    let running = p.build().unwrap().start().unwrap();
    let add = |name: &str, targets: &[&str]| {
        running
            .add_source(
                name,
                TestSource::boxed(name, Some(1)),
                SourceOptions::default(),
                targets,
            )
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        add("cam", &["nope"]).unwrap_err(),
        "source `cam`: no analyzer or sync group called `nope`"
    );
    assert_eq!(
        add("cam", &["out"]).unwrap_err(),
        "source `cam` cannot feed sink `out`: sources feed analyzers and sync groups"
    );
    assert_eq!(
        add("a", &["a"]).unwrap_err(),
        "a node or source called `a` already exists"
    );
    assert_eq!(
        add("cam", &[]).unwrap_err(),
        "source `cam` needs at least one analyzer or sync group to feed"
    );
    add("cam", &["a"]).unwrap();
    assert_eq!(
        add("cam", &["a"]).unwrap_err(),
        "a node or source called `cam` already exists"
    );
    assert_eq!(
        running.remove_source("ghost").unwrap_err().to_string(),
        "no source called `ghost`"
    );
    running.shutdown();
}
