//! `visualpath validate`, `graph`, `schema` and `test`: exit codes and exact messages.

mod support;

use support::*;

fn check(name: &str, yaml: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, yaml).unwrap();
    let o = visualpath(&["validate", path.to_str().unwrap()]);
    let e = stderr(&o).replace(&format!("{}/", dir.path().display()), "");
    (o.status.code(), e.trim().to_string())
}

const HEAD: &str = "sources:\n  - name: cam1\n    file: {path: a.mp4}\n";

#[test]
fn valid_file_exits_0() {
    let (code, e) = check("ok.yaml", &format!("{HEAD}analyzers:\n  - motion: {{}}\n"));
    assert_eq!(code, Some(0), "{e}");
    assert_eq!(e, "ok.yaml: valid (2 nodes, 1 links)");
}

#[test]
fn unknown_field_names_the_valid_fields() {
    let (code, e) = check(
        "f.yaml",
        &format!("{HEAD}analyzers:\n  - motion:\n      treshold: 0.1\n"),
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        e,
        "f.yaml:6:7: unknown field `treshold`, expected one of `width`, `pixel_threshold`, `threshold`, `grid`, `zones`, `blur`"
    );
}

#[test]
fn wrong_type_points_at_the_value() {
    let (code, e) = check(
        "t.yaml",
        &format!("{HEAD}analyzers:\n  - motion:\n      threshold: high\n"),
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        e,
        "t.yaml:6:18: invalid type: string \"high\", expected f64"
    );
}

#[test]
fn unknown_analyzer_kind_lists_the_kinds() {
    let (code, e) = check(
        "k.yaml",
        &format!("{HEAD}analyzers:\n  - name: det\n    detect_people: {{}}\n"),
    );
    assert_eq!(code, Some(1));
    assert_eq!(
        e,
        "k.yaml:6:5: unknown analyzer kind or field `detect_people`: an analyzer is one of `motion`, `frame_stats`, `scene_cut`, `detect`, `track`, `pose`, `face`; its other fields are `name`, `after`, `sources`, `when`, `schedule`, `timeout`, `on_error`, `isolation`"
    );
}

#[test]
fn cycle_is_reported_at_the_closing_after() {
    let yaml = format!(
        "{HEAD}analyzers:\n  - name: a\n    motion: {{}}\n    after: [c]\n  - name: b\n    frame_stats: {{}}\n    after: [a]\n  - name: c\n    scene_cut: {{}}\n    after: [b]\n"
    );
    let (code, e) = check("c.yaml", &yaml);
    assert_eq!(code, Some(1));
    assert_eq!(
        e,
        "c.yaml:10:13: analyzers form a cycle through `after:`: b -> c -> a -> b"
    );
}

#[test]
fn dangling_after_lists_the_analyzers() {
    let yaml = format!(
        "{HEAD}analyzers:\n  - motion: {{}}\n  - name: stats\n    frame_stats: {{}}\n    after: [motoin]\n"
    );
    let (code, e) = check("d.yaml", &yaml);
    assert_eq!(code, Some(1));
    assert_eq!(
        e,
        "d.yaml:8:13: `after:` names unknown analyzer `motoin`; analyzers are: `motion`, `stats`"
    );
}

#[test]
fn conditions_point_at_the_offending_character() {
    let yaml = format!(
        "{HEAD}analyzers:\n  - motion: {{}}\n  - name: stats\n    frame_stats: {{}}\n    after: [motion]\n    when: motion.score >> 0.1\n"
    );
    let (code, e) = check("w.yaml", &yaml);
    assert_eq!(code, Some(1));
    assert_eq!(
        e,
        "w.yaml:9:24: invalid condition `motion.score >> 0.1`: column 13: expected a comparison operator or `and`/`or` after `motion.score`, found `>>`"
    );

    let yaml = format!(
        "{HEAD}analyzers:\n  - motion: {{}}\nfusion:\n  - name: busy\n    when: \"motion.score > 0.1 and\"\n"
    );
    let (_, e) = check("r.yaml", &yaml);
    assert!(
        e.starts_with("r.yaml:8:34: invalid condition `motion.score > 0.1 and`: column 22: "),
        "{e}"
    );

    // A condition may only use analyzers that run before it on the same frame.
    let yaml = format!(
        "{HEAD}analyzers:\n  - motion: {{}}\n  - name: stats\n    frame_stats: {{}}\n    when: motion.score > 0.1\n"
    );
    let (_, e) = check("u.yaml", &yaml);
    assert_eq!(
        e,
        "u.yaml:8:11: the condition of `stats` refers to `motion`, which does not run before it on the same frame; add `motion` to its `after:`"
    );
}

#[test]
fn several_semantic_errors_are_all_reported_in_file_order() {
    let yaml = "sources:\n  - name: cam1\n    file: {path: a.mp4}\n  - name: cam1\n    synthetic: {}\nanalyzers:\n  - motion: {}\n    sources: [cam9]\n";
    let (code, e) = check("m.yaml", yaml);
    assert_eq!(code, Some(1));
    assert_eq!(
        e,
        "m.yaml:4:11: duplicate name `cam1` (first used at 2:11); names must be unique\nm.yaml:8:15: unknown source `cam9`; sources are: `cam1`, `cam1`"
    );
}

#[test]
fn environment_variables_are_substituted_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.yaml");
    std::fs::write(
        &path,
        "sources:\n  - name: cam1\n    file: {path: \"${VP_TEST_CAMERA}\"}\n",
    )
    .unwrap();
    let o = visualpath(&["validate", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("e.yaml:3:18: environment variable `VP_TEST_CAMERA` is not set (write ${VP_TEST_CAMERA:-default} to give a default)"),
        "{}",
        stderr(&o)
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_visualpath"))
        .args(["graph", path.to_str().unwrap()])
        .env("VP_TEST_CAMERA", "/videos/front door.mp4")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("file /videos/front door.mp4"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn edges_must_name_existing_links() {
    let yaml = format!(
        "{HEAD}analyzers:\n  - motion: {{}}\nedges:\n  - {{from: cam1, to: stats, qos: realtime}}\n"
    );
    let (code, e) = check("g.yaml", &yaml);
    assert_eq!(code, Some(1));
    assert_eq!(
        e,
        "g.yaml:7:5: there is no link `cam1` -> `stats`; links are: `cam1 -> motion`"
    );
}

#[test]
fn syntax_errors_and_missing_files() {
    let (code, e) = check("s.yaml", "sources:\n  - name: [cam1\n");
    assert_eq!(code, Some(1));
    assert!(e.starts_with("s.yaml:3:1: YAML syntax error: "), "{e}");
    let o = visualpath(&["validate", "/no/such/pipeline.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/no/such/pipeline.yaml: cannot read: No such file or directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn graph_text_and_dot() {
    let example = root().join("examples/pipelines/plaza.yaml");
    let o = visualpath(&["graph", example.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("plaza -> motion  durable(16, block) (declared)"),
        "{text}"
    );
    assert!(
        text.contains("motion -> stats   durable(8, block)"),
        "{text}"
    );
    assert!(
        text.contains("when `motion.score > 0.015`, every 2 frames"),
        "{text}"
    );
    let o = visualpath(&["graph", example.to_str().unwrap(), "--dot"]);
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph visualpath {"), "{dot}");
    assert!(dot.contains("\"motion\" -> \"fusion\""), "{dot}");
}

#[test]
fn schema_is_json_and_matches_the_committed_copy() {
    let o = visualpath(&["schema"]);
    assert!(o.status.success());
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["title"], "PipelineConfig");
    assert!(s["properties"]["sources"].is_object());
    let committed = std::fs::read_to_string(root().join("docs/ref/schema.json")).unwrap();
    assert_eq!(
        stdout(&o),
        committed,
        "docs/ref/schema.json is stale: run `cargo run -p xtask -- docs`"
    );
}

#[test]
fn every_example_pipeline_validates() {
    let dir = root().join("examples/pipelines");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let o = visualpath(&["validate", p.to_str().unwrap()]);
            assert!(o.status.success(), "{}: {}", p.display(), stderr(&o));
            n += 1;
        }
    }
    assert!(n >= 2);
}

#[test]
fn rule_tests_pass_and_a_wrong_expectation_fails() {
    let rules = root().join("crates/fusion/tests/rules");
    let files: Vec<String> = std::fs::read_dir(&rules)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    assert!(files.len() >= 10);
    let mut args = vec!["test"];
    args.extend(files.iter().map(String::as_str));
    let o = visualpath(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("{} passed, 0 failed", files.len())));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "rules:\n  - name: busy\n    when: motion.score > 0.5\ninput:\n  - {source: cam1, seq: 0, t: 0.0, analyzer: motion, values: {score: 0.9}}\nexpect:\n  - {rule: busy, phase: start, seq: 1}\n",
    )
    .unwrap();
    let o = visualpath(&["test", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("FAIL"), "{}", stderr(&o));
}

#[test]
fn per_camera_overrides_are_checked_like_the_settings_they_change() {
    let yaml = "sources:\n  - name: cam1\n    file: {path: a.mp4}\n    overrides:\n      motion: {treshold: 0.1}\n      detect: {confidence: 0.9}\nanalyzers:\n  - motion: {}\n";
    let (code, e) = check("o.yaml", yaml);
    assert_eq!(code, Some(1));
    assert!(
        e.contains("o.yaml:5:15: source `cam1`, override of analyzer `motion`: unknown field `treshold`, expected one of"),
        "{e}"
    );
    assert!(e.contains("o.yaml:6:15: source `cam1` overrides unknown analyzer `detect`; analyzers are: `motion`"), "{e}");
    let yaml = "sources:\n  - name: cam1\n    file: {path: a.mp4}\n    overrides:\n      motion: {threshold: 2}\nanalyzers:\n  - motion: {}\n";
    let (_, e) = check("r.yaml", yaml);
    assert!(e.contains("r.yaml:5:15: source `cam1`, override of analyzer `motion`: motion: `threshold` must be between 0 and 1, got 2"), "{e}");
}

#[test]
fn an_override_changes_one_camera_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.jsonl");
    let p = dir.path().join("p.yaml");
    // Two identical synthetic cameras; `quiet` sees motion only above a threshold no frame reaches.
    let yaml = format!(
        "sources:\n  - name: busy\n    synthetic: {{frames: 30}}\n  - name: quiet\n    synthetic: {{frames: 30}}\n    overrides:\n      motion: {{threshold: 1.0}}\nanalyzers:\n  - motion: {{threshold: 0.0001}}\nsinks:\n  - name: out\n    jsonl: {{path: {}}}\n",
        out.display()
    );
    std::fs::write(&p, yaml).unwrap();
    let o = visualpath(&["graph", p.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("settings overridden for quiet"),
        "{}",
        stdout(&o)
    );
    let o = visualpath(&["run", p.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = jsonl(&out);
    let moving = |src: &str| {
        lines
            .iter()
            .filter(|l| l["source"] == src && l["values"]["moving"] == 1.0)
            .count()
    };
    assert!(moving("busy") > 20, "busy: {}", moving("busy"));
    assert_eq!(moving("quiet"), 0);
}
