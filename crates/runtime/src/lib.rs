//! The visualpath runtime: turns declared sources, analyzers, fusion rules,
//! synchronizers and sinks into running threads joined by bounded edges.
//!
//! - [`edge`]: bounded queues with a declared QoS and counted drops.
//! - [`schedule`]: which frames an analyzer runs on.
//! - [`exec`]: executors (sequential, pool, dedicated threads) and the actor scheduler.
//! - [`pipeline`]: the builder API and the running pipeline.
//! - [`stats`]: live counters and the end-of-run report.
//! - [`trace`]: the per-frame trace file.
//!
//! Read `ARCHITECTURE.md` at the repository root for how these fit together.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod edge;
pub mod exec;
pub mod message;
mod nodes;
pub mod pipeline;
pub mod schedule;
pub mod stats;
pub mod trace;

pub use edge::{EdgeSpec, Overflow, Qos};
pub use exec::{Executor, SourceExtras};
pub use message::{Message, Packet};
pub use nodes::analyzer::{AnalyzerOptions, ErrorPolicy, Isolation};
pub use nodes::source::{Backoff, SourceOptions};
pub use pipeline::{
    BuildError, Linker, NodeRef, Pipeline, PipelineBuilder, RunError, RunningPipeline,
    SinkErrorPolicy, SinkOptions,
};
pub use schedule::Schedule;
pub use stats::{NodeKind, NodeReport, RunReport, SkipReason, SourceReport, SourceState};
pub use trace::Tracer;
pub use visualpath_fusion::{Condition, RuleConfig};
