//! Runs every rule test file in `tests/rules/` (the format of `visualpath_fusion::RuleTest`).

use std::path::{Path, PathBuf};

use visualpath_fusion::RuleTest;

fn rule_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Result<RuleTest, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    visualpath_yaml::from_str::<RuleTest>(&text).map_err(|e| format!("{}:{e}", path.display()))
}

#[test]
fn every_rule_file_passes() {
    let files = rule_files();
    assert!(
        files.len() >= 10,
        "expected at least 10 rule files, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let outcome = load(path).and_then(|t| {
            if t.expect.is_empty() {
                return Err("a rule file must expect at least one event".to_owned());
            }
            t.run()
        });
        if let Err(e) = outcome {
            failures.push(format!("{}:\n{e}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Each file's expectations are tight: changing any expected event makes the file fail.
#[test]
fn every_rule_file_fails_when_an_expectation_changes() {
    for path in rule_files() {
        let test = load(&path).unwrap();
        let mut dropped = test.clone();
        dropped.expect.pop();
        assert!(
            dropped.run().is_err(),
            "{}: dropping the last expected event",
            path.display()
        );
        let mut shifted = test.clone();
        let last = shifted.expect.last_mut().unwrap();
        last.seq = Some(last.seq.unwrap_or(0) + 1000);
        assert!(shifted.run().is_err(), "{}: changing a seq", path.display());
    }
}

#[test]
fn yaml_errors_have_positions() {
    let src = "rules:\n  - name: r\n    when: motion.score >> 1\n";
    let e = visualpath_yaml::from_str::<RuleTest>(src)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "3:11: invalid condition `motion.score >> 1`: column 13: expected a comparison operator"
        ),
        "{e}"
    );
    let src = "rules:\n  - name: r\n    when: a.x > 1\n    fro: 1s\n";
    let e = visualpath_yaml::from_str::<RuleTest>(src)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("4:5: unknown field `fro`"), "{e}");
}
