//! YAML configuration loading for visualpath, with exact `line:column` positions on every error.
//!
//! `visualpath validate pipeline.yaml` must answer `pipeline.yaml:3:5: unknown field `pathh`,
//! expected one of `name`, `path``, not "somewhere in the file". Existing serde YAML crates
//! lose positions once the document is turned into a value, so this crate has its own, small
//! serde layer:
//!
//! 1. [`parse`] turns the text into a [`Node`] tree with `saphyr-parser` (an event parser that
//!    reports positions). Every node, including every mapping *key*, keeps its [`Span`].
//!    Anchors and aliases are expanded (an alias is a copy of the anchored node), merge keys
//!    (`<<: *base`, `<<: [*a, *b]`) are applied, duplicate keys are rejected, and environment
//!    references are substituted in every scalar (see below).
//! 2. A serde `Deserializer` walks the tree. While it is inside a node it keeps that node's
//!    span on a thread-local stack, and [`Error`]'s `serde::de::Error::custom` records the
//!    innermost span. So the errors that serde-derived code creates itself get the right
//!    position without parsing any message text:
//!    * `unknown field` / `unknown variant`: the key (or the scalar naming the variant),
//!    * `invalid type` / `invalid value` (e.g. a `u32` out of range): the value,
//!    * `missing field`: the mapping that lacks it,
//!    * `invalid length`: the sequence.
//! 3. [`Spanned<T>`] captures the position of a value for checks done after deserialization
//!    (e.g. "unknown analyzer `x` in `after:`"); report those with [`Error::at`].
//!
//! ```
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Source { name: String, path: String }
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct Config { sources: Vec<Source> }
//!
//! let yaml = "sources:\n  - name: cam1\n    pathh: a.mp4\n";
//! let err = visualpath_yaml::from_str::<Config>(yaml).unwrap_err();
//! assert_eq!(
//!     err.with_file("pipeline.yaml").to_string(),
//!     "pipeline.yaml:3:5: unknown field `pathh`, expected `name` or `path`",
//! );
//! ```
//!
//! # Scalars (YAML 1.2 core schema)
//!
//! A plain (unquoted) scalar is `null` (`null`, `Null`, `NULL`, `~` or empty), a bool (`true`,
//! `True`, `TRUE`, `false`, ...), an integer (`42`, `-7`, `0x1F`, `0o17`), a float (`1.5`,
//! `1e3`, `.inf`, `-.inf`, `.nan`) or else a string. Quoted and block (`|`, `>`) scalars, and
//! scalars tagged `!!str`, are always strings; other tags are ignored. When the target type
//! asks for a string, any scalar is given as its text, so `name: 123` fills a `String` field.
//! The reverse is not true: `fps: "30"` is a string and fails for a number field.
//!
//! A null or empty value is accepted as an empty sequence/mapping/struct (`sources:` with
//! nothing under it is an empty list), and `Option<T>` is `None` for null. Structs must be
//! written as mappings (a sequence is not accepted as a positional struct).
//!
//! # Environment substitution
//!
//! Substitution is applied by [`parse`] to the text of every scalar (plain, quoted or block,
//! keys included) before the scalar is resolved, so `port: ${PORT}` is an integer when `PORT`
//! is `8080`. It only ever produces scalar text, never YAML structure.
//!
//! * `${VAR}`: the value of `VAR`; an error if `VAR` is not set.
//! * `${VAR:-default}`: the value of `VAR`, or `default` when `VAR` is unset or empty. The
//!   default is literal text up to the first `}`.
//! * `$${`: a literal `${`. Any other `$` is literal.
//! * Names match `[A-Za-z_][A-Za-z0-9_]*`; a bad name or a `${` without `}` is an error.
//!
//! Errors are reported at the scalar's position. The lookup is a parameter
//! (`&dyn Fn(&str) -> Option<String>`) so tests never depend on the process environment;
//! [`from_str`] and [`from_path`] use `std::env::var`. Because substitution happens while
//! parsing, a [`Node`] holds substituted text and [`from_node`] needs no environment.
//!
//! # Limits
//!
//! Nesting is capped at 256 levels and alias expansion at 100,000 copied nodes (an error, not
//! a crash). Only one document per file. Positions are exact for externally tagged enums (the
//! serde default); inside `#[serde(flatten)]`, untagged and internally tagged enums serde
//! buffers the content first, and errors point at the enclosing value.
#![forbid(clippy::print_stdout, clippy::print_stderr, unsafe_code)]
#![warn(missing_docs)]

mod de;
mod node;
mod spanned;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use node::{Node, NodeKind, ScalarStyle};
pub use spanned::Spanned;

/// A position in a YAML source: 1-based line and 1-based column (in characters).
///
/// [`Span::UNKNOWN`] (`0:0`) means "no position", e.g. for a [`Spanned`] read from JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// Line, starting at 1.
    pub line: u32,
    /// Column, starting at 1, counted in characters.
    pub col: u32,
}

impl Span {
    /// The unknown position, `0:0`.
    pub const UNKNOWN: Span = Span { line: 0, col: 0 };

    /// A span at `line:col` (both 1-based).
    pub const fn new(line: u32, col: u32) -> Span {
        Span { line, col }
    }

    /// Whether this is [`Span::UNKNOWN`].
    pub const fn is_unknown(&self) -> bool {
        self.line == 0
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A configuration error with its position.
///
/// Displays as `FILE:LINE:COL: message`, `LINE:COL: message` when no file is attached, or just
/// the message when the position is unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
    span: Option<Span>,
    file: Option<PathBuf>,
}

impl Error {
    /// An error at `span`; for checks done after deserialization (use the [`Spanned`] or
    /// [`Node`] span of the offending value). An unknown span gives an error without position.
    pub fn at(span: Span, msg: impl Into<String>) -> Error {
        Error {
            message: msg.into(),
            span: (!span.is_unknown()).then_some(span),
            file: None,
        }
    }

    /// The message, without position.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The position, if known.
    pub fn span(&self) -> Option<Span> {
        self.span
    }

    /// The file this error is about, if attached.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Attaches the file name shown in front of the position.
    #[must_use]
    pub fn with_file(mut self, path: impl Into<PathBuf>) -> Error {
        self.file = Some(path.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.span) {
            (Some(file), Some(span)) => write!(f, "{}:{span}: {}", file.display(), self.message),
            (None, Some(span)) => write!(f, "{span}: {}", self.message),
            (_, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl serde::de::Error for Error {
    /// Errors raised by `Deserialize` impls (serde-derived or custom) get the span of the node
    /// being deserialized at that moment.
    fn custom<M: fmt::Display>(msg: M) -> Error {
        Error {
            message: msg.to_string(),
            span: de::current_span(),
            file: None,
        }
    }
}

/// Looks a variable up in the process environment.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Parses one YAML document into a [`Node`] tree, substituting environment references with
/// `env` (see the [crate docs](crate#environment-substitution)).
///
/// An empty document (or one with only comments) is a [`NodeKind::Null`] node at `1:1`.
pub fn parse(src: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Node, Error> {
    node::build(src, env)
}

/// Deserializes a `T` from a parsed [`Node`]. Strings may borrow from the node.
pub fn from_node<'a, T: Deserialize<'a>>(node: &'a Node) -> Result<T, Error> {
    de::deserialize(node)
}

/// Parses and deserializes YAML text, substituting from the process environment.
pub fn from_str<T: DeserializeOwned>(src: &str) -> Result<T, Error> {
    from_str_with_env(src, &process_env)
}

/// Parses and deserializes YAML text, substituting environment references with `env`.
pub fn from_str_with_env<T: DeserializeOwned>(
    src: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<T, Error> {
    from_node(&parse(src, env)?)
}

/// Reads, parses and deserializes a YAML file (process environment). Every error carries the
/// file, so it displays as `FILE:LINE:COL: message`.
pub fn from_path<T: DeserializeOwned>(path: impl AsRef<Path>) -> Result<T, Error> {
    let path = path.as_ref();
    let src = std::fs::read_to_string(path).map_err(|e| {
        Error {
            message: format!("cannot read {}: {e}", path.display()),
            span: None,
            file: None,
        }
        .with_file(path)
    })?;
    from_str(&src).map_err(|e| e.with_file(path))
}
