mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use visualpath_core::{EventPhase, ManualClock, Name, ObservationData, Record, Values};
use visualpath_fusion::{Condition, RuleConfig};
use visualpath_runtime::{
    AnalyzerOptions, EdgeSpec, ErrorPolicy, Executor, PipelineBuilder, Schedule, SinkOptions,
    SourceOptions,
};
use visualpath_sdk::ComponentError;
use visualpath_sync::{BarrierConfig, SyncPolicy};

fn opts() -> AnalyzerOptions {
    AnalyzerOptions::default()
}

#[test]
fn chain_processes_every_frame_losslessly() {
    for executor in [Executor::Sequential, Executor::Pool { threads: 3 }] {
        let mut p = PipelineBuilder::new();
        p.executor(executor);
        let a = Probe::seq();
        let cam = p.source(
            "cam",
            TestSource::boxed("cam", Some(300)),
            SourceOptions::default(),
        );
        let an = p.analyzer("a", a.factory(), opts());
        let out = Collect::default();
        let s = p.sink("out", out.boxed(), SinkOptions::default());
        p.link(cam).to(an).to(s);
        let report = p.build().unwrap().run().unwrap();
        let seqs: Vec<u64> = out.observations("a").iter().map(|x| x.1).collect();
        assert_eq!(seqs, (0..300).collect::<Vec<_>>(), "{executor:?}");
        let node = report.node("a").unwrap();
        assert_eq!(node.processed, 300);
        assert_eq!(report.node("cam").unwrap().processed, 300);
        assert_eq!(report.node("out").unwrap().processed, 300);
        assert!(report.error.is_none());
    }
}

#[test]
fn fan_out_shares_pixels_and_never_copies() {
    let mut p = PipelineBuilder::new();
    p.executor(Executor::Pool { threads: 2 });
    let probes: Vec<Probe> = (0..3).map(|_| Probe::seq()).collect();
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(50)),
        SourceOptions::default(),
    );
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    for (i, pr) in probes.iter().enumerate() {
        let a = p.analyzer(&format!("a{i}"), pr.factory(), opts());
        p.link(cam).to(a).to(s);
    }
    let report = p.build().unwrap().run().unwrap();
    assert_eq!(report.buffers.copies, 0, "fan-out copied pixels");
    // Every analyzer saw the very same pixel storage for each frame.
    let ptrs = |pr: &Probe| {
        let mut v: Vec<(u64, usize)> = pr
            .seen
            .frames
            .lock()
            .unwrap()
            .iter()
            .map(|f| (f.1, f.2))
            .collect();
        v.sort();
        v
    };
    let p0 = ptrs(&probes[0]);
    assert_eq!(p0.len(), 50);
    assert_eq!(p0, ptrs(&probes[1]));
    assert_eq!(p0, ptrs(&probes[2]));
    assert_eq!(out.records().len(), 150);
}

#[test]
fn realtime_edge_keeps_the_newest_frame_and_counts_drops() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000_000_000));
    let mut p = PipelineBuilder::new();
    p.clock(clock.clone());
    let slow = Probe::new(|f| {
        sleep_ms(20);
        Ok(ObservationData {
            values: Values::new().with("seq", f.seq as f64),
            ..Default::default()
        })
    });
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(200)),
        SourceOptions::default(),
    );
    let a = p.analyzer("slow", slow.factory(), opts());
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(cam).with(EdgeSpec::realtime()).to(a).to(s);
    let report = p.build().unwrap().run().unwrap();
    let edge = report
        .edges
        .iter()
        .find(|e| e.to.as_str() == "slow")
        .unwrap();
    let analyzed = report.node("slow").unwrap().processed;
    assert!(
        edge.replaced > 0,
        "a 20 ms analyzer cannot keep up with an unpaced source"
    );
    assert_eq!(
        analyzed + edge.replaced,
        200,
        "every frame is analyzed or counted as dropped"
    );
    let seqs: Vec<u64> = out.observations("slow").iter().map(|x| x.1).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order");
    assert_eq!(*seqs.last().unwrap(), 199, "the last frame is never lost");
}

#[test]
fn join_merges_observations_of_two_parents() {
    let mut p = PipelineBuilder::new();
    p.executor(Executor::Pool { threads: 2 });
    let (a, b, c) = (Probe::seq(), Probe::seq(), Probe::seq());
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(100)),
        SourceOptions::default(),
    );
    let na = p.analyzer("a", a.factory(), opts());
    let nb = p.analyzer("b", b.factory(), opts());
    let nc = p.analyzer("c", c.factory(), opts());
    p.link(cam).to(na).to(nc);
    p.link(cam).to(nb).to(nc);
    p.build().unwrap().run().unwrap();
    let seen = c.seen.frames.lock().unwrap().clone();
    assert_eq!(seen.len(), 100);
    for (_, seq, _, up) in &seen {
        let mut up = up.clone();
        up.sort();
        assert_eq!(up, ["a", "b"], "frame {seq}");
    }
}

#[test]
fn when_condition_gates_on_upstream_observations() {
    let mut p = PipelineBuilder::new();
    let (a, b) = (Probe::seq(), Probe::seq());
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(20)),
        SourceOptions::default(),
    );
    let na = p.analyzer("a", a.factory(), opts());
    let nb = p.analyzer(
        "b",
        b.factory(),
        AnalyzerOptions {
            when: Some(Condition::parse("a.even == 1").unwrap()),
            ..opts()
        },
    );
    p.link(cam).to(na).to(nb);
    let report = p.build().unwrap().run().unwrap();
    let seqs: Vec<u64> = b.seen.frames.lock().unwrap().iter().map(|f| f.1).collect();
    assert_eq!(seqs, (0..20).step_by(2).collect::<Vec<_>>());
    let node = report.node("b").unwrap();
    assert_eq!(node.skipped, vec![("condition", 10)]);
}

#[test]
fn every_nth_schedule() {
    let mut p = PipelineBuilder::new();
    let a = Probe::seq();
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(10)),
        SourceOptions::default(),
    );
    let na = p.analyzer(
        "a",
        a.factory(),
        AnalyzerOptions {
            schedule: Schedule::EveryNth(3),
            ..opts()
        },
    );
    p.link(cam).to(na);
    let report = p.build().unwrap().run().unwrap();
    let seqs: Vec<u64> = a.seen.frames.lock().unwrap().iter().map(|f| f.1).collect();
    assert_eq!(seqs, [0, 3, 6, 9]);
    assert_eq!(report.node("a").unwrap().skipped, vec![("schedule", 6)]);
}

#[test]
fn timeout_skips_a_stuck_analyzer_without_stalling_the_pipeline() {
    let mut p = PipelineBuilder::new();
    let stuck = Probe::new(|f| {
        if f.seq == 3 {
            sleep_ms(400);
        }
        Ok(ObservationData::default())
    });
    let fine = Probe::seq();
    // A small pacing interval so frames keep arriving while seq 3 is stuck.
    let mut src = TestSource::new("cam", Some(40));
    src.interval_ns = 20_000_000;
    let cam = p.source(
        "cam",
        Box::new(src),
        SourceOptions {
            realtime: true,
            ..Default::default()
        },
    );
    let ns = p.analyzer(
        "stuck",
        stuck.factory(),
        AnalyzerOptions {
            timeout: Some(Duration::from_millis(50)),
            ..opts()
        },
    );
    let nf = p.analyzer("fine", fine.factory(), opts());
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(cam).with(EdgeSpec::lossless(64)).to(ns).to(nf).to(s);
    p.link(ns).to(s);
    let report = p.build().unwrap().run().unwrap();
    let st = report.node("stuck").unwrap();
    assert_eq!(st.errors, 1, "one timeout reported: {st:?}");
    let skipped: std::collections::HashMap<_, _> = st.skipped.iter().cloned().collect();
    assert_eq!(skipped.get("timeout"), Some(&1));
    assert!(skipped.get("busy").copied().unwrap_or(0) >= 1, "{st:?}");
    // The downstream analyzer still saw every frame.
    assert_eq!(out.observations("fine").len(), 40);
    assert!(!out.observations("stuck").iter().any(|(_, s)| *s == 3));
}

#[test]
fn a_panicking_analyzer_is_contained() {
    let mut p = PipelineBuilder::new();
    let bad = Probe::new(|f| {
        if f.seq == 2 {
            panic!("boom on {}", f.seq);
        }
        Ok(ObservationData::default())
    });
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(5)),
        SourceOptions::default(),
    );
    let nb = p.analyzer("bad", bad.factory(), opts());
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(cam).to(nb).to(s);
    let report = p.build().unwrap().run().unwrap();
    let n = report.node("bad").unwrap();
    assert_eq!(n.errors, 1);
    assert!(
        n.last_error
            .as_deref()
            .unwrap()
            .contains("camera `cam`, stage `bad`, frame 2: analyzer panicked: boom on 2")
    );
    assert_eq!(out.observations("bad").len(), 4);
    assert!(report.error.is_none());
}

#[test]
fn stop_policy_ends_the_run_with_the_error() {
    let mut p = PipelineBuilder::new();
    let bad = Probe::new(|f| {
        if f.seq == 5 {
            Err(ComponentError::new("model exploded"))
        } else {
            Ok(ObservationData::default())
        }
    });
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", None),
        SourceOptions::default(),
    );
    let nb = p.analyzer(
        "bad",
        bad.factory(),
        AnalyzerOptions {
            on_error: ErrorPolicy::Stop,
            ..opts()
        },
    );
    p.link(cam).to(nb);
    let report = p.build().unwrap().run().unwrap();
    assert_eq!(
        report.error.as_deref(),
        Some("camera `cam`, stage `bad`, frame 5: model exploded")
    );
}

#[test]
fn tiny_blocking_queues_do_not_deadlock_on_one_thread() {
    let mut p = PipelineBuilder::new();
    let probes: Vec<Probe> = (0..4).map(|_| Probe::seq()).collect();
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(500)),
        SourceOptions::default(),
    );
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    let mut prev = cam;
    for (i, pr) in probes.iter().enumerate() {
        let a = p.analyzer(&format!("a{i}"), pr.factory(), opts());
        p.link(prev)
            .with(EdgeSpec::lossless(1))
            .to(a)
            .with(EdgeSpec::lossless(1))
            .to(s);
        prev = a;
    }
    let report = p.build().unwrap().run().unwrap();
    assert_eq!(out.records().len(), 2000);
    for e in &report.edges {
        assert_eq!(e.replaced + e.overflow, 0, "lossless edge dropped: {e:?}");
        assert!(
            e.max_depth <= 3,
            "bound exceeded on {} -> {}: {}",
            e.from,
            e.to,
            e.max_depth
        );
    }
}

#[test]
fn fusion_events_reach_sinks_and_callbacks() {
    let mut p = PipelineBuilder::new();
    let a = Probe::new(|f| {
        let level = if (10..20).contains(&f.seq) { 1.0 } else { 0.0 };
        Ok(ObservationData {
            values: Values::new().with("level", level),
            ..Default::default()
        })
    });
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(40)),
        SourceOptions::default(),
    );
    let na = p.analyzer("a", a.factory(), opts());
    let mut rule = RuleConfig::new(
        Name::from_static("high"),
        Condition::parse("a.level > 0.5").unwrap(),
    );
    rule.hold = visualpath_core::HumanDuration::from_millis(300);
    let f = p.fusion("fusion", vec![rule]);
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(cam).to(na).to(f).to(s);
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let c2 = calls.clone();
    p.on_event(move |e| c2.lock().unwrap().push((e.phase, e.seq)));
    let report = p.build().unwrap().run().unwrap();
    // Condition true from seq 10 (t=1.0s); held 300 ms at seq 13; false at seq 20.
    assert_eq!(
        *calls.lock().unwrap(),
        vec![(EventPhase::Start, 13), (EventPhase::End, 20)]
    );
    let events: Vec<_> = out
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some((e.phase, e.seq)),
            _ => None,
        })
        .collect();
    assert_eq!(events, vec![(EventPhase::Start, 13), (EventPhase::End, 20)]);
    assert_eq!(report.events, 2);
}

#[test]
fn sync_joins_two_sources() {
    let mut p = PipelineBuilder::new();
    let c1 = p.source(
        "c1",
        TestSource::boxed("c1", Some(10)),
        SourceOptions::default(),
    );
    let c2 = p.source(
        "c2",
        TestSource::boxed("c2", Some(10)),
        SourceOptions::default(),
    );
    let g = p.sync(
        "pair",
        vec![Name::from_static("c1"), Name::from_static("c2")],
        SyncPolicy::Barrier(BarrierConfig::default()),
    );
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(c1).to(g).to(s);
    p.link(c2).to(g);
    p.build().unwrap().run().unwrap();
    let sets: Vec<_> = out
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Sync(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(!sets.is_empty());
    let complete: Vec<_> = sets.iter().filter(|s| !s.partial).collect();
    assert!(complete.iter().all(|s| s.members.len() == 2));
    let members: usize = sets.iter().map(|s| s.members.len()).sum();
    assert!(members <= 20);
}

#[test]
fn stop_ends_an_endless_source_and_everything_drains() {
    let mut p = PipelineBuilder::new();
    let a = Probe::seq();
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", None),
        SourceOptions::default(),
    );
    let na = p.analyzer("a", a.factory(), opts());
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(cam).to(na).to(s);
    let running = p.build().unwrap().start().unwrap();
    while running.node_stats()[0].processed.load(Ordering::Relaxed) < 100 {
        sleep_ms(2);
    }
    running.stop();
    let report = running.wait();
    let produced = report.node("cam").unwrap().processed;
    assert!(produced >= 100);
    assert_eq!(
        out.observations("a").len() as u64,
        produced,
        "everything in flight was written"
    );
}

#[test]
fn max_frames_duration_and_loop() {
    let mut p = PipelineBuilder::new();
    let a = Probe::seq();
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(5)),
        SourceOptions {
            looping: true,
            max_frames: Some(12),
            ..Default::default()
        },
    );
    let na = p.analyzer("a", a.factory(), opts());
    p.link(cam).to(na);
    p.build().unwrap().run().unwrap();
    assert_eq!(a.seen.frames.lock().unwrap().len(), 12);
    assert!(
        a.seen.resets.load(Ordering::SeqCst) >= 1,
        "looping resets analyzer state"
    );

    let mut p = PipelineBuilder::new();
    let a = Probe::seq();
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", None),
        SourceOptions {
            duration: Some(Duration::from_secs(2)),
            ..Default::default()
        },
    );
    let na = p.analyzer("a", a.factory(), opts());
    p.link(cam).to(na);
    p.build().unwrap().run().unwrap();
    // 100 ms apart: capture times 0.0 .. 1.9 s are within 2 s.
    assert_eq!(a.seen.frames.lock().unwrap().len(), 20);
}

#[test]
fn realtime_pacing_follows_capture_time_on_the_pipeline_clock() {
    let clock = Arc::new(ManualClock::new(0));
    let mut p = PipelineBuilder::new();
    p.clock(clock.clone());
    let a = Probe::seq();
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(30)),
        SourceOptions {
            realtime: true,
            ..Default::default()
        },
    );
    let na = p.analyzer("a", a.factory(), opts());
    p.link(cam).with(EdgeSpec::lossless(64)).to(na);
    p.build().unwrap().run().unwrap();
    use visualpath_core::Clock;
    // The simulated clock advanced by exactly the media time of 29 intervals.
    assert!(clock.mono_ns() >= 2_900_000_000, "{}", clock.mono_ns());
}

#[test]
fn builder_rejects_bad_graphs() {
    let mut p = PipelineBuilder::new();
    let a = Probe::seq();
    let x = p.analyzer("x", a.factory(), opts());
    let y = p.analyzer("y", a.factory(), opts());
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(1)),
        SourceOptions::default(),
    );
    p.link(cam).to(x).to(y).to(x);
    let e = p.build().err().unwrap().to_string();
    assert!(e.starts_with("the pipeline has a cycle: "), "{e}");

    let mut p = PipelineBuilder::new();
    let a = Probe::seq();
    p.analyzer("lonely", a.factory(), opts());
    p.source(
        "cam",
        TestSource::boxed("cam", Some(1)),
        SourceOptions::default(),
    );
    let e = p.build().err().unwrap().to_string();
    assert_eq!(
        e,
        "analyzer `lonely` has no input: link a source or an analyzer to it"
    );

    let mut p = PipelineBuilder::new();
    let out = Collect::default();
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(1)),
        SourceOptions::default(),
    );
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(cam).to(s);
    let e = p.build().err().unwrap().to_string();
    assert!(
        e.starts_with("cannot link source `cam` to sink `out`"),
        "{e}"
    );

    let mut p = PipelineBuilder::new();
    p.source(
        "cam",
        TestSource::boxed("cam", Some(1)),
        SourceOptions::default(),
    );
    p.source(
        "cam",
        TestSource::boxed("cam", Some(1)),
        SourceOptions::default(),
    );
    let e = p.build().err().unwrap().to_string();
    assert_eq!(e, "two nodes are called `cam`; names must be unique");
}

#[test]
fn nodes_are_freed_after_the_run() {
    struct Tracked(#[allow(dead_code)] Arc<()>);
    impl visualpath_sdk::Sink for Tracked {
        fn write(&mut self, _: &Record) -> visualpath_sdk::Result<()> {
            Ok(())
        }
    }
    let token = Arc::new(());
    let mut p = PipelineBuilder::new();
    let a = Probe::seq();
    let cam = p.source(
        "cam",
        TestSource::boxed("cam", Some(3)),
        SourceOptions::default(),
    );
    let na = p.analyzer("a", a.factory(), opts());
    let s = p.sink(
        "out",
        Box::new(Tracked(token.clone())),
        SinkOptions::default(),
    );
    p.link(cam).to(na).to(s);
    p.build().unwrap().run().unwrap();
    assert_eq!(
        Arc::strong_count(&token),
        1,
        "the sink (and the node graph) leaked"
    );
}

#[test]
fn per_source_state_and_two_sources() {
    let mut p = PipelineBuilder::new();
    p.executor(Executor::Pool { threads: 2 });
    let a = Probe::seq();
    let c1 = p.source(
        "c1",
        TestSource::boxed("c1", Some(30)),
        SourceOptions::default(),
    );
    let c2 = p.source(
        "c2",
        TestSource::boxed("c2", Some(50)),
        SourceOptions::default(),
    );
    let na = p.analyzer(
        "a",
        a.factory(),
        AnalyzerOptions {
            sources: Some([Name::from_static("c2")].into_iter().collect()),
            ..opts()
        },
    );
    let out = Collect::default();
    let s = p.sink("out", out.boxed(), SinkOptions::default());
    p.link(c1).to(na).to(s);
    p.link(c2).to(na);
    let report = p.build().unwrap().run().unwrap();
    let got = out.observations("a");
    assert_eq!(got.len(), 50);
    assert!(got.iter().all(|(s, _)| s == "c2"));
    assert_eq!(
        report.node("a").unwrap().skipped,
        vec![("source_filter", 30)]
    );
}
