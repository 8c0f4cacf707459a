//! `validate`, `schema`, `graph`.

use std::path::Path;
use std::process::ExitCode;

use visualpath_pipeline::{docs, load_path};

pub fn validate(file: &Path) -> anyhow::Result<ExitCode> {
    match load_path(file) {
        Ok(plan) => {
            eprintln!(
                "{}: valid ({} nodes, {} links)",
                file.display(),
                plan.nodes.len(),
                plan.links.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) => {
            eprintln!("{errs}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn schema() -> anyhow::Result<ExitCode> {
    print!("{}", docs::schema_json());
    Ok(ExitCode::SUCCESS)
}

pub fn graph(file: &Path, dot: bool) -> anyhow::Result<ExitCode> {
    match load_path(file) {
        Ok(plan) => {
            print!("{}", if dot { plan.to_dot() } else { plan.to_text() });
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) => {
            eprintln!("{errs}");
            Ok(ExitCode::FAILURE)
        }
    }
}
