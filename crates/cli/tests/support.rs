//! Shared helpers for the CLI tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A test asset: `assets/<rel>` (made by scripts/fetch-assets.sh), else the shared cache.
/// `None` (after printing why) when it is not on this machine.
pub fn asset(rel: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("VISUALPATH_ASSETS").map(|d| PathBuf::from(d).join(rel)),
        Some(root().join("assets").join(rel)),
        Some(root().join("../shared/assets").join(rel)),
    ];
    for c in candidates.into_iter().flatten() {
        if c.is_file() {
            return Some(c);
        }
    }
    eprintln!("SKIP: asset `{rel}` not found; run scripts/fetch-assets.sh to fetch it");
    None
}

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
