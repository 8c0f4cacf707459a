//! `visualpath`: real-time video AI pipelines from the command line.
//!
//! The command-line contract is documented in `docs/ref/cli.md`; scripts depend on it.

mod bench;
mod bench_models;
mod farm;
mod inspect;
mod models;
mod rules;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Real-time video AI pipelines: sources -> analyzers -> fusion rules -> sinks.
#[derive(Parser, Debug)]
#[command(name = "visualpath", version, about, long_about = None)]
struct Cli {
    /// Log filter (e.g. `info`, `visualpath_runtime=debug`). Also read from VISUALPATH_LOG.
    /// The default shows warnings, errors, and one line per loaded model (which execution
    /// provider runs it).
    #[arg(
        long,
        global = true,
        env = "VISUALPATH_LOG",
        default_value = "warn,visualpath_models=info"
    )]
    log: String,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a pipeline on a video file, an image folder, a URL, `synthetic`, or a pipeline .yaml.
    Run(Box<run::RunArgs>),
    /// Check a pipeline file: exit 0 when valid, 1 with FILE:LINE:COL: message lines when not.
    Validate {
        /// The pipeline file.
        file: PathBuf,
    },
    /// Print the JSON Schema of pipeline files.
    Schema,
    /// Print the resolved graph of a pipeline file (nodes, links, queue behaviour).
    Graph {
        /// The pipeline file.
        file: PathBuf,
        /// Graphviz dot instead of text.
        #[arg(long)]
        dot: bool,
    },
    /// Run fusion rule tests (rules, sample observations, expected events).
    Test {
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Benchmarks, each against its baseline measured in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Built-in models: list, info, fetch.
    #[command(subcommand)]
    Models(models::ModelsCmd),
    /// Render farm: a durable job queue for ComfyUI servers (serve, submit, status, cancel, backends).
    #[command(subcommand)]
    Farm(farm::FarmCmd),
}

/// The checkout this executable was built in (for scripts/ and tools/).
pub fn repo_root() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let mut dir = exe.parent();
    while let Some(d) = dir {
        if d.join("scripts/fetch-assets.sh").is_file() {
            return Some(d.to_path_buf());
        }
        dir = d.parent();
    }
    None
}

fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Per-stage spans (decode, analyze, fuse, write) print their duration when they
        // close, at TRACE level only: nothing is recorded per frame otherwise.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_json);
    let result = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Validate { file } => inspect::validate(&file),
        Command::Schema => inspect::schema(),
        Command::Graph { file, dot } => inspect::graph(&file, dot),
        Command::Test { files } => rules::test(&files),
        Command::Bench(args) => bench::bench(args),
        Command::Models(cmd) => models::models(cmd),
        Command::Farm(cmd) => farm::farm(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
