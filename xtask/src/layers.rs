//! The layering rules, checked over the resolved dependency graph (`cargo metadata`).
//!
//! Pure cores stay pure: they can be unit-tested, fuzzed and benchmarked without a
//! runtime, a decoder or a network stack, and they build fast.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use anyhow::Context;
use serde_json::Value;

/// Crates no pure core may depend on, even indirectly.
const HEAVY: &[&str] = &[
    "tokio",
    "axum",
    "hyper",
    "ort",
    "redis",
    "rumqttc",
    "async-nats",
    "rusqlite",
    "ffmpeg-next",
    "ffmpeg-sys-next",
    "gstreamer",
    "image",
    "reqwest",
];

/// (crate, crates it must not depend on, why)
const LAYERS: &[(&str, &[&str], &str)] = &[
    ("visualpath-core", HEAVY, "the data model has no I/O"),
    (
        "visualpath-sdk",
        HEAVY,
        "component authors depend on a small SDK",
    ),
    ("visualpath-yaml", HEAVY, "config parsing is pure"),
    (
        "visualpath-fusion",
        HEAVY,
        "fusion is a pure synchronous core",
    ),
    (
        "visualpath-sync",
        HEAVY,
        "synchronizers are pure synchronous cores",
    ),
    (
        "visualpath-fusion",
        &["visualpath-yaml", "visualpath-runtime"],
        "the rule engine does not parse files or run threads",
    ),
    (
        "visualpath-runtime",
        &[
            "tokio",
            "axum",
            "ort",
            "redis",
            "rumqttc",
            "ffmpeg-next",
            "rusqlite",
            "image",
        ],
        "the runtime drives components; it does not decode, infer or talk to brokers",
    ),
    (
        "visualpath-analyzers",
        &["visualpath-runtime", "visualpath-pipeline", "ffmpeg-next"],
        "components depend on the SDK, not on the runtime",
    ),
    (
        "visualpath-media",
        &["visualpath-runtime", "visualpath-pipeline"],
        "components depend on the SDK, not on the runtime",
    ),
    (
        "visualpath-sinks",
        &["visualpath-runtime", "visualpath-pipeline", "ffmpeg-next"],
        "components depend on the SDK, not on the runtime",
    ),
    (
        "visualpath-sink-osc",
        &[
            "visualpath-runtime",
            "visualpath-pipeline",
            "ffmpeg-next",
            "tokio",
        ],
        "components depend on the SDK, not on the runtime; OSC needs no async runtime",
    ),
    (
        "visualpath-sink-mqtt",
        &["visualpath-runtime", "visualpath-pipeline", "ffmpeg-next"],
        "components depend on the SDK, not on the runtime",
    ),
    (
        "visualpath-sink-redis",
        &[
            "visualpath-runtime",
            "visualpath-pipeline",
            "ffmpeg-next",
            "tokio",
        ],
        "components depend on the SDK, not on the runtime; the sync Redis API needs no async runtime",
    ),
    (
        "visualpath-sink-ws",
        &[
            "visualpath-runtime",
            "visualpath-pipeline",
            "ffmpeg-next",
            "tokio",
        ],
        "components depend on the SDK, not on the runtime; the hub uses blocking sockets",
    ),
    (
        "visualpath-sink-webhook",
        &[
            "visualpath-runtime",
            "visualpath-pipeline",
            "ffmpeg-next",
            "tokio",
        ],
        "components depend on the SDK, not on the runtime",
    ),
    (
        "visualpath-clips",
        &["visualpath-runtime", "visualpath-pipeline"],
        "components depend on the SDK, not on the runtime",
    ),
    (
        "visualpath-farm",
        HEAVY,
        "the render farm's core (workflows, validation, scheduler, health) is pure",
    ),
    (
        "visualpath-farm-store",
        &["tokio", "axum", "hyper", "visualpath-comfy"],
        "the store is SQLite only: no async runtime, no network",
    ),
    (
        "visualpath-comfy",
        &["tokio", "axum", "rusqlite", "visualpath-farm-store"],
        "the ComfyUI client is a blocking client with no storage",
    ),
];

/// Every violation as a line of text.
pub fn check(root: &Path) -> anyhow::Result<Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .context("packages")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    // id -> normal/build dependency ids
    let mut deps: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in meta["resolve"]["nodes"].as_array().context("resolve")? {
        let id = node["id"].as_str().unwrap_or_default();
        let v = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| k["kind"].is_null() || k["kind"] == "build")
            })
            .filter_map(|d| d["pkg"].as_str())
            .collect();
        deps.insert(id, v);
    }
    let mut violations = Vec::new();
    for (krate, forbidden, why) in LAYERS {
        let Some((&id, _)) = names.iter().find(|(_, n)| *n == krate) else {
            violations.push(format!(
                "layer rule names `{krate}`, which is not in the workspace"
            ));
            continue;
        };
        // Transitive closure with the path that reached each crate.
        let mut seen: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut stack = vec![(id, vec![*krate])];
        while let Some((cur, path)) = stack.pop() {
            for &d in deps.get(cur).into_iter().flatten() {
                if seen.contains_key(d) {
                    continue;
                }
                let mut p = path.clone();
                p.push(names.get(d).copied().unwrap_or("?"));
                seen.insert(d, p.clone());
                stack.push((d, p));
            }
        }
        let found: BTreeSet<String> = seen
            .values()
            .filter(|p| forbidden.contains(p.last().unwrap_or(&"")))
            .map(|p| p.join(" -> "))
            .collect();
        for f in found {
            violations.push(format!(
                "`{krate}` must not depend on `{}` ({why}): {f}",
                f.rsplit(" -> ").next().unwrap_or("")
            ));
        }
    }
    Ok(violations)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_workspace_respects_its_layers() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let v = super::check(&root).unwrap();
        assert!(v.is_empty(), "layering violations:\n{}", v.join("\n"));
    }
}
