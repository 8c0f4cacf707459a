//! A blocking client for ComfyUI servers, for the render farm's orchestrator threads.
//!
//! * [`Client`]: HTTP: submit prompts ([`PromptRequest`] → [`Submitted`], or
//!   [`ComfyError::Rejected`] with a one-line summary of the validation errors), read the
//!   queue ([`QueueState`]) and the history ([`HistoryEntry`], whose [`Outcome`] tells
//!   success, error and interrupt apart), download outputs ([`OutputItem`]) by streaming,
//!   interrupt one prompt (never globally), delete pending prompts, and read the server's
//!   [`SystemStats`], node catalogue and model lists.
//! * [`Events`]: the WebSocket, read with a timeout so the caller can check for
//!   cancellation between [`Event`]s; asks for binary previews in the format that carries
//!   the prompt id.
//! * [`ComfyError`]: one-line messages naming the server;
//!   [`ComfyError::is_unreachable`] separates "backend down" from "backend said no".
//!
//! Only plain `http://` (no TLS). Written against ComfyUI 0.3.75 and checked by the
//! contract tests against a real server (docs/ref/farm.md); no `Origin` header is ever
//! sent, so the server's anti-CSRF check does not apply.

#![forbid(clippy::print_stdout, clippy::print_stderr)]

mod client;
mod error;
mod events;
mod history;
mod json;
mod queue;
mod stats;
mod url;

pub use client::{Client, DEFAULT_TIMEOUT};
pub use error::ComfyError;
pub use events::{Event, Events};
pub use history::{HistoryEntry, Outcome, OutputItem};
pub use queue::{PromptRequest, QueueItem, QueueState, Submitted};
pub use stats::{Device, SystemStats};
