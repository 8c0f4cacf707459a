//! `cargo run -p xtask -- <task>`:
//!
//! - `docs`: regenerate `docs/ref/schema.json` and `docs/ref/config.md` from the config
//!   types (tests fail when the committed copies drift);
//! - `check-layers`: fail if a crate depends (directly or not) on something its layer
//!   forbids (see `LAYERS` in `src/layers.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

mod layers;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let r = match task.as_str() {
        "docs" => docs(),
        "check-layers" => layers::check(&root()).map(|violations| {
            for v in &violations {
                eprintln!("{v}");
            }
            violations.is_empty()
        }),
        _ => {
            eprintln!("usage: cargo run -p xtask -- <docs|check-layers>");
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask {task}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn docs() -> anyhow::Result<bool> {
    let dir = root().join("docs/ref");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("schema.json"),
        visualpath_pipeline::docs::schema_json(),
    )?;
    std::fs::write(
        dir.join("config.md"),
        visualpath_pipeline::docs::reference_markdown(),
    )?;
    eprintln!("wrote docs/ref/schema.json and docs/ref/config.md");
    Ok(true)
}
