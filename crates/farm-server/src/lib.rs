//! The render farm orchestrator: a durable job queue in front of a fleet of ComfyUI servers.
//!
//! * [`Farm`] owns the SQLite store, the scheduler and one health poller thread per
//!   backend. A dispatcher thread asks the scheduler for assignments whenever something
//!   changed and starts one executor thread per attempt: it submits the prompt with our
//!   own `client_id`/`prompt_id`, follows the backend's WebSocket (progress, previews,
//!   completion), fetches the outputs through `/view` into the data folder and settles
//!   the attempt in the store. A backend that dies or fails mid-job sends the job back to
//!   the queue, excluded from that backend, until its retry limit.
//! * Restart: queued jobs are queued again; running jobs are re-attached to their
//!   backend (finished there -> outputs fetched; still queued or running there -> followed;
//!   unknown there -> queued again).
//! * [`api`] serves the REST and WebSocket API and the farm page.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod api;
mod engine;
mod exec;
mod poll;
mod view;

pub use engine::{DispatchSample, Farm, FarmConfig, FarmError, NewBackend};
pub use view::{BackendView, FarmEvent, JobView, OutputView, Progress};
