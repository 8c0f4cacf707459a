//! Node behaviors: what each kind of node does with the messages it receives.

pub(crate) mod analyzer;
pub(crate) mod fusion;
pub(crate) mod sink;
pub(crate) mod source;
pub(crate) mod sync;
