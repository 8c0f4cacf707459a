//! Test support shared by visualpath's crates (a dev-dependency only).
//!
//! A test that needs something this machine lacks must say so and skip, never pass
//! silently: helpers here return `None` after printing `SKIP: <what> (<why, how to fix>)`
//! to stderr, and the caller returns.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../..")
        .canonicalize()
        .unwrap_or_else(|_| here.join("../.."))
}

/// Folders searched for test assets, in order: `$VISUALPATH_ASSETS`, the repository's
/// `assets/` (filled by `scripts/fetch-assets.sh`), and the shared cache beside the
/// repository.
pub fn asset_dirs() -> Vec<PathBuf> {
    let root = repo_root();
    std::env::var_os("VISUALPATH_ASSETS")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join("assets"), root.join("../shared/assets")])
        .collect()
}

/// The asset `rel` (e.g. `media/vtest.avi`), or `None` after printing why the calling test
/// skips.
pub fn asset(rel: &str) -> Option<PathBuf> {
    let found = asset_dirs()
        .into_iter()
        .map(|d| d.join(rel))
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!("SKIP: asset `{rel}` not found; run scripts/fetch-assets.sh to fetch it");
    }
    found
}

/// Prints the standard skip line.
pub fn skip(what: &str, why: &str) {
    eprintln!("SKIP: {what} ({why})");
}
