//! The render farm's pure, synchronous core. No I/O, no threads, no clock: callers pass
//! time in. The orchestrator (`visualpath-farm-server`) feeds it what the ComfyUI client
//! (`visualpath-comfy`) and the store (`visualpath-farm-store`) read.
//!
//! * [`workflow`]: ComfyUI workflows in API format (and the UI format converted with a
//!   node catalogue).
//! * [`catalog`]: a backend's node catalogue from `/object_info`, and what a workflow
//!   requires of a backend (node classes, model files).
//! * [`patch`]: `{placeholder}` parameters patched into node inputs, type-checked.
//! * [`validate`]: checks before queueing (unknown node classes, dangling links, cycles).
//! * [`plan`]: topological order and independent output subgraphs.
//! * [`sweep`]: parameter grids and lists, one job per parameter set.
//! * [`job`]: job states and what a submission holds.
//! * [`sched`]: the scheduler (priority, FIFO, capabilities, least load, limits, pools).
//! * [`health`]: backend health with hysteresis.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod catalog;
pub mod health;
pub mod job;
pub mod patch;
pub mod plan;
pub mod sched;
pub mod sweep;
pub mod ui;
pub mod validate;
pub mod workflow;
