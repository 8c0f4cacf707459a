//! Shared helpers for the CLI tests.
#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::process::{Command, Output};

pub use visualpath_testkit::{asset, repo_root as root};

pub fn visualpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_visualpath"))
        .args(args)
        .env("VISUALPATH_LOG", "error")
        .output()
        .expect("run visualpath")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// JSON lines of a file.
pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}
