//! FusionEngine behaviour that the rule files cannot express: statistics, configuration,
//! several records from one observation, extreme times.

use visualpath_core::observation::Timing;
use visualpath_core::{
    ClipWindow, Event, EventPhase, HumanDuration, Name, Observation, ObservationData, Values,
};
use visualpath_fusion::{Condition, FusionEngine, FusionStats, RuleConfig, RuleTest};

fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}

fn rule(n: &str, when: &str) -> RuleConfig {
    RuleConfig::new(name(n), Condition::parse(when).unwrap())
}

fn obs(
    source: &str,
    analyzer: &str,
    seq: u64,
    t_ms: i64,
    values: &[(&'static str, f64)],
) -> Observation {
    let mut v = Values::new();
    for (k, x) in values {
        v.set(*k, *x);
    }
    Observation {
        analyzer: name(analyzer),
        source: name(source),
        seq,
        capture_time_ns: t_ms * 1_000_000,
        arrival_ns: 0,
        frame_size: (0, 0),
        data: ObservationData {
            values: v,
            ..ObservationData::default()
        },
        timing: Timing::default(),
    }
}

fn phases(events: &[Event]) -> Vec<(String, EventPhase, u64, u64)> {
    events
        .iter()
        .map(|e| (e.rule.to_string(), e.phase, e.seq, e.id))
        .collect()
}

#[test]
fn stats_count_evaluations_events_and_stale_observations_once() {
    let mut r = rule("r", "motion.score > 0.5 and present(detect)");
    r.stale_after = HumanDuration::from_millis(100);
    let mut other = rule("other", "motion.score > 0.5");
    other.sources = Some(vec![name("cam2")]);
    let mut e = FusionEngine::new(vec![r, other]);
    let mut out = Vec::new();
    e.observe(&obs("cam1", "detect", 0, 0, &[]), &mut out);
    e.observe(&obs("cam1", "motion", 0, 0, &[("score", 0.9)]), &mut out);
    assert_eq!(phases(&out), [("r".into(), EventPhase::Start, 0, 1)]);
    // detect becomes stale at 200 ms: counted once although evaluated twice while stale.
    e.observe(&obs("cam1", "motion", 1, 200, &[("score", 0.9)]), &mut out);
    e.observe(&obs("cam1", "motion", 2, 250, &[("score", 0.9)]), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[1].phase, out[1].seq, out[1].until_ns),
        (EventPhase::End, 1, Some(0))
    );
    // A fresh detect resets the flag; when it goes stale again it counts again.
    e.observe(&obs("cam1", "detect", 3, 300, &[]), &mut out);
    e.observe(&obs("cam1", "motion", 4, 500, &[("score", 0.9)]), &mut out);
    assert_eq!(
        e.stats(),
        FusionStats {
            evaluations: 6, // `other` does not apply to cam1
            events_started: 2,
            events_ended: 2,
            stale_ignored: 2,
        }
    );
}

#[test]
fn end_events_off_still_counts_ends() {
    let mut r = rule("r", "a.x > 0");
    r.end_events = false;
    let mut e = FusionEngine::new(vec![r]);
    let mut out = Vec::new();
    e.observe(&obs("cam1", "a", 0, 0, &[("x", 1.0)]), &mut out);
    e.observe(&obs("cam1", "a", 1, 10, &[("x", 0.0)]), &mut out);
    e.observe(&obs("cam1", "a", 2, 20, &[("x", 1.0)]), &mut out);
    e.finish_source(&name("cam1"), &mut out);
    assert_eq!(
        phases(&out),
        [
            ("r".into(), EventPhase::Start, 0, 1),
            ("r".into(), EventPhase::Start, 2, 2)
        ]
    );
    assert_eq!(e.stats().events_ended, 2);
}

#[test]
fn a_gap_can_end_and_start_on_one_observation() {
    let mut r = rule("r", "a.x > 0");
    r.stale_after = HumanDuration::from_millis(500);
    let mut e = FusionEngine::new(vec![r]);
    let mut out = Vec::new();
    e.observe(&obs("cam1", "a", 0, 0, &[("x", 1.0)]), &mut out);
    e.observe(&obs("cam1", "a", 1, 100, &[("x", 1.0)]), &mut out);
    e.observe(&obs("cam1", "a", 2, 2000, &[("x", 1.0)]), &mut out);
    assert_eq!(
        phases(&out),
        [
            ("r".into(), EventPhase::Start, 0, 1),
            ("r".into(), EventPhase::End, 2, 1),
            ("r".into(), EventPhase::Start, 2, 2),
        ]
    );
    assert_eq!(out[1].until_ns, Some(100_000_000));
    assert_eq!(out[2].since_ns, 2_000_000_000);
}

#[test]
fn a_gap_respects_the_cooldown() {
    let mut r = rule("r", "a.x > 0");
    r.stale_after = HumanDuration::from_millis(500);
    r.cooldown = HumanDuration::from_millis(3000);
    let mut e = FusionEngine::new(vec![r]);
    let mut out = Vec::new();
    e.observe(&obs("cam1", "a", 0, 0, &[("x", 1.0)]), &mut out);
    e.observe(&obs("cam1", "a", 1, 2000, &[("x", 1.0)]), &mut out); // ends, cooldown until 3 s
    e.observe(&obs("cam1", "a", 2, 2400, &[("x", 1.0)]), &mut out);
    e.observe(&obs("cam1", "a", 3, 2800, &[("x", 1.0)]), &mut out);
    e.observe(&obs("cam1", "a", 4, 3000, &[("x", 1.0)]), &mut out);
    assert_eq!(
        phases(&out),
        [
            ("r".into(), EventPhase::Start, 0, 1),
            ("r".into(), EventPhase::End, 1, 1),
            ("r".into(), EventPhase::Start, 4, 2),
        ]
    );
}

#[test]
fn observations_of_unreferenced_analyzers_advance_holds() {
    let mut r = rule("r", "flag.on");
    r.hold = HumanDuration::from_millis(1000);
    r.stale_after = HumanDuration::from_millis(5000);
    let mut e = FusionEngine::new(vec![r]);
    let mut out = Vec::new();
    e.observe(&obs("cam1", "flag", 0, 0, &[("on", 1.0)]), &mut out);
    e.observe(&obs("cam1", "stats", 1, 500, &[]), &mut out);
    assert!(out.is_empty());
    e.observe(&obs("cam1", "stats", 2, 1000, &[]), &mut out);
    assert_eq!(phases(&out), [("r".into(), EventPhase::Start, 2, 1)]);
    assert_eq!(out[0].values, Values::new().with("flag.on", 1.0));
}

#[test]
fn constant_conditions_and_nan_values() {
    let mut e = FusionEngine::new(vec![
        rule("always", "true"),
        rule("nan", "a.x > 0 or a.x <= 0"),
    ]);
    let mut out = Vec::new();
    e.observe(&obs("cam1", "a", 0, 0, &[("x", f64::NAN)]), &mut out);
    assert_eq!(phases(&out), [("always".into(), EventPhase::Start, 0, 1)]);
    e.observe(&obs("cam1", "a", 1, 10, &[("x", 2.0)]), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].rule.as_str(), "nan");
    assert_eq!(out[1].values, Values::new().with("a.x", 2.0));
}

#[test]
fn events_carry_the_clip_window() {
    let mut r = rule("r", "a.x > 0");
    r.clip = ClipWindow {
        pre: HumanDuration::from_millis(2000),
        post: HumanDuration::from_millis(500),
    };
    let mut e = FusionEngine::new(vec![r]);
    let mut out = Vec::new();
    e.observe(&obs("cam1", "a", 0, 10_000, &[("x", 1.0)]), &mut out);
    e.observe(&obs("cam1", "a", 1, 11_000, &[("x", 0.0)]), &mut out);
    assert_eq!(out[1].clip_start_ns(), 8_000_000_000);
    assert_eq!(out[1].clip_end_ns(), 10_500_000_000);
}

#[test]
fn finish_all_ends_every_source_in_name_order() {
    let mut e = FusionEngine::new(vec![rule("r", "a.x > 0")]);
    let mut out = Vec::new();
    for s in ["cam3", "cam1", "cam2"] {
        e.observe(&obs(s, "a", 7, 0, &[("x", 1.0)]), &mut out);
    }
    out.clear();
    e.finish_all(&mut out);
    let ended: Vec<(&str, EventPhase, u64)> = out
        .iter()
        .map(|e| (e.source.as_str(), e.phase, e.seq))
        .collect();
    assert_eq!(
        ended,
        [
            ("cam1", EventPhase::End, 7),
            ("cam2", EventPhase::End, 7),
            ("cam3", EventPhase::End, 7)
        ]
    );
    out.clear();
    e.finish_all(&mut out);
    assert!(out.is_empty(), "sources are forgotten");
}

#[test]
fn extreme_times_do_not_panic() {
    let mut r = rule("r", "a.x > 0");
    r.hold = HumanDuration::from_secs_f64(1e9);
    r.cooldown = HumanDuration::from_secs_f64(1e9);
    let mut e = FusionEngine::new(vec![r, rule("s", "a.x > 0")]);
    let mut out = Vec::new();
    for (i, t) in [i64::MIN, i64::MAX, 0, i64::MIN, i64::MAX]
        .into_iter()
        .enumerate()
    {
        let mut o = obs(
            "cam1",
            "a",
            i as u64,
            0,
            &[("x", if i % 2 == 0 { 1.0 } else { 0.0 })],
        );
        o.capture_time_ns = t;
        e.observe(&o, &mut out);
    }
    e.finish_all(&mut out);
    assert!(out.iter().all(|e| e.rule.as_str() == "s"));
}

#[test]
fn rule_config_defaults_and_yaml_names() {
    let minimal: RuleConfig = visualpath_yaml::from_str("name: r\nwhen: a.x > 1\n").unwrap();
    assert_eq!(minimal, rule("r", "a.x > 1"));
    assert_eq!(minimal.hold, HumanDuration::default());
    assert_eq!(minimal.stale_after, HumanDuration::from_millis(2000));
    assert!(minimal.end_events);
    assert!(minimal.applies_to("anything"));

    let full: RuleConfig = visualpath_yaml::from_str(
        "name: r\nwhen: a.x > 1\nfor: 1.5s\ncooldown: 10s\nclip: {pre: 5s, post: 2s}\nsources: [cam1]\nend_events: false\nstale_after: 500ms\n",
    )
    .unwrap();
    assert_eq!(full.hold, HumanDuration::from_millis(1500));
    assert_eq!(full.cooldown, HumanDuration::from_millis(10_000));
    assert_eq!(full.clip.pre, HumanDuration::from_millis(5000));
    assert!(full.applies_to("cam1") && !full.applies_to("cam2"));
    assert!(!full.end_events);

    // Serializes back with `for`, and round-trips.
    let json = serde_json::to_value(&full).unwrap();
    assert_eq!(json["for"], "1500ms");
    assert_eq!(json["when"], "a.x > 1");
    let back: RuleConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back, full);

    let e = visualpath_yaml::from_str::<RuleConfig>("name: r\nwhen: a.x > 1\nhold: 1s\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("3:1: unknown field `hold`"), "{e}");
    let e = visualpath_yaml::from_str::<RuleConfig>("name: r\nwhen: \"a.x >\"\n").unwrap_err();
    let col = visualpath_fusion::ConditionError::column_in_message(e.message());
    assert_eq!(col, Some(5), "{e}");
}

#[test]
fn rule_config_schema_documents_fields_and_defaults() {
    let schema = serde_json::to_value(schemars::schema_for!(RuleConfig)).unwrap();
    let props = &schema["properties"];
    for field in [
        "name",
        "when",
        "for",
        "cooldown",
        "clip",
        "sources",
        "end_events",
        "stale_after",
    ] {
        let d = props[field]["description"].as_str().unwrap_or_default();
        assert!(
            !d.is_empty(),
            "{field} has no description: {}",
            props[field]
        );
    }
    assert_eq!(props["for"]["default"], "0s");
    assert_eq!(props["stale_after"]["default"], "2s");
    assert_eq!(props["end_events"]["default"], true);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["name", "when"]);
}

#[test]
fn rule_test_reports_differences_and_invalid_tests() {
    let src = r#"
rules:
  - {name: r, when: a.x > 0}
input:
  - {source: cam1, seq: 0, t: 0, analyzer: a, values: {x: 1}}
  - {source: cam1, seq: 1, t: 0.5, analyzer: a, values: {x: 0}}
expect:
  - {rule: r, phase: start, seq: 0, values: {a.x: 2}}
"#;
    let t: RuleTest = visualpath_yaml::from_str(src).unwrap();
    let report = t.run().unwrap_err();
    let want = "events differ from `expect` (expected 1, got 2):
  1. expected    start r seq=0 values={a.x: 2}
     got         start r source=cam1 seq=0 t=0 since=0 id=1 values={a.x: 1}
     differences values: expected {a.x: 2}, got {a.x: 1}
  2. unexpected  end r source=cam1 seq=1 t=0.5 since=0 until=0 id=1 values={a.x: 0}";
    assert_eq!(report, want);

    let mut silent = t.clone();
    silent.expect.clear();
    let report = silent.run().unwrap_err();
    assert!(
        report.starts_with("events differ from `expect` (expected 0, got 2):"),
        "{report}"
    );

    let mut bad = t.clone();
    bad.input[1].seq = None;
    assert_eq!(
        bad.run().unwrap_err(),
        "input #2 (source `cam1`): an observation needs `seq`, `t` and `analyzer` (or write `end: true` to end the source's stream)"
    );
    let mut bad = t.clone();
    bad.input[1].end = true;
    assert!(
        bad.run()
            .unwrap_err()
            .contains("an `end: true` item takes no other field")
    );
    let mut bad = t.clone();
    bad.rules.push(bad.rules[0].clone());
    assert_eq!(bad.run().unwrap_err(), "rule name `r` is used twice");
    let mut bad = t;
    bad.input[0].t = Some(f64::INFINITY);
    assert!(bad.run().unwrap_err().contains("out of range"));
}

#[test]
fn rule_test_with_no_events_expected_passes_when_silent() {
    let t: RuleTest = visualpath_yaml::from_str(
        "rules: [{name: r, when: a.x > 5}]\ninput: [{source: cam1, seq: 0, t: 0, analyzer: a, values: {x: 1}}]\n",
    )
    .unwrap();
    assert_eq!(t.run(), Ok(()));
}
