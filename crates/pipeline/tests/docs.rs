//! The generated reference docs must match the committed copies.

use std::path::Path;

fn committed(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn config_reference_is_up_to_date() {
    assert!(
        committed("docs/ref/config.md") == visualpath_pipeline::docs::reference_markdown(),
        "docs/ref/config.md is stale: run `cargo run -p xtask -- docs` and commit the result"
    );
}

#[test]
fn schema_is_up_to_date() {
    assert!(
        committed("docs/ref/schema.json") == visualpath_pipeline::docs::schema_json(),
        "docs/ref/schema.json is stale: run `cargo run -p xtask -- docs` and commit the result"
    );
}

#[test]
fn reference_documents_every_component_setting() {
    let md = visualpath_pipeline::docs::reference_markdown();
    for needle in [
        "## MotionConfig",
        "`pixel_threshold`",
        "## FileSourceConfig",
        "## RuleConfig",
        "`cooldown`",
        "## EdgeConfig",
        "## SyncPolicy",
        "{every_nth: ...}",
    ] {
        assert!(md.contains(needle), "reference lacks {needle}");
    }
}
