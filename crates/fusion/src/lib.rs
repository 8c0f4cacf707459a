//! visualpath fusion: conditions over observations, and the rules engine that turns them
//! into events.
//!
//! - [`expr`]: the condition language used by `when:` on analyzers and on rules
//!   (`motion.score > 0.05 and count(detect, "person") >= 1`), with three-valued logic for
//!   missing data, exact error columns and a canonical form.
//! - [`rules`]: [`RuleConfig`] and the [`FusionEngine`] state machine (hold time, cooldown,
//!   stale observations, end of stream).
//! - [`ruletest`]: [`RuleTest`], a file format for testing rules against observations
//!   (`visualpath test FILE`).
//!
//! ```
//! use visualpath_core::{Name, Observation, ObservationData, Values};
//! use visualpath_fusion::{Condition, Expr, FusionEngine, ObservationEnv, RuleConfig};
//!
//! let obs = Observation {
//!     analyzer: Name::new("motion").unwrap(),
//!     source: Name::new("cam1").unwrap(),
//!     seq: 0,
//!     capture_time_ns: 0,
//!     arrival_ns: 0,
//!     frame_size: (0, 0),
//!     data: ObservationData { values: Values::new().with("score", 0.3), ..Default::default() },
//!     timing: Default::default(),
//! };
//!
//! // An analyzer's `when:` over the observations of one frame.
//! let when = Expr::parse("motion.score > 0.1 and not count(detect) > 0").unwrap();
//! assert_eq!(when.eval3(&ObservationEnv::new(&[&obs])), None); // `detect` is missing
//!
//! // A rule.
//! let rule = RuleConfig::new(
//!     Name::new("busy").unwrap(),
//!     Condition::parse("motion.score > 0.1").unwrap(),
//! );
//! let mut engine = FusionEngine::new(vec![rule]);
//! let mut events = Vec::new();
//! engine.observe(&obs, &mut events);
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].values.get("motion.score"), Some(0.3));
//! ```
//!
//! The crate is pure: no threads, no I/O, no clock reads. Time comes only from the
//! observations' `capture_time_ns`, so the same input always gives the same events.

#![forbid(clippy::print_stdout, clippy::print_stderr)]
#![warn(missing_docs)]

pub mod expr;
pub mod rules;
pub mod ruletest;

pub use expr::{AnalyzerRef, Condition, ConditionError, Env, Expr, ObservationEnv, ParseError};
pub use rules::{FusionEngine, FusionStats, RuleConfig};
pub use ruletest::{ExpectedEvent, RuleTest, TestDetection, TestInput, TestPhase};
