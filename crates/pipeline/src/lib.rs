//! Pipeline files: parse, validate, describe, build.
//!
//! Two phases, as `visualpath validate` and `visualpath run` use them:
//! 1. [`plan::load_path`] parses the YAML strictly into [`config::PipelineConfig`]
//!    (unknown fields, wrong types and unknown component kinds are errors with the file,
//!    line and column) and validates it into a [`plan::Plan`]: names resolved, `after:`
//!    graph checked for dangling references and cycles, conditions parsed, links and
//!    their queue behaviour decided. Nothing is opened.
//! 2. [`build::builder`] creates the components and links them into a
//!    `visualpath_runtime::PipelineBuilder`.
//!
//! [`docs`] generates the JSON Schema and the reference page from the same types.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod build;
pub mod cameras;
pub mod config;
pub mod docs;
pub mod plan;

pub use build::{CreateError, Overrides, builder};
pub use cameras::{CameraError, CameraManager, CameraStatus, camera_from_str};
pub use config::PipelineConfig;
pub use plan::{ConfigErrors, Plan, load_path, load_str};
