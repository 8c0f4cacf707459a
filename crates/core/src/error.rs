//! Errors that name the camera, the stage and the frame.
//!
//! Live video fails partially all the time; an error is only useful to a user if it says
//! where. [`StageError`] carries that context; its `Display` puts it first:
//! `camera `cam1`, stage `motion`, frame 42: message`.

use std::fmt;

use crate::name::Name;

/// Where something happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorContext {
    /// The source (camera, file).
    pub source: Option<Name>,
    /// The pipeline stage (analyzer, sink, ...).
    pub stage: Option<Name>,
    /// The frame's `seq`.
    pub seq: Option<u64>,
}

impl ErrorContext {
    /// Context for a stage.
    pub fn stage(stage: &Name) -> Self {
        Self {
            stage: Some(stage.clone()),
            ..Self::default()
        }
    }

    /// Adds the source.
    pub fn with_source(mut self, source: &Name) -> Self {
        self.source = Some(source.clone());
        self
    }

    /// Adds the frame.
    pub fn with_seq(mut self, seq: u64) -> Self {
        self.seq = Some(seq);
        self
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            if first {
                first = false;
                Ok(())
            } else {
                f.write_str(", ")
            }
        };
        if let Some(s) = &self.source {
            sep(f)?;
            write!(f, "camera `{s}`")?;
        }
        if let Some(s) = &self.stage {
            sep(f)?;
            write!(f, "stage `{s}`")?;
        }
        if let Some(s) = self.seq {
            sep(f)?;
            write!(f, "frame {s}")?;
        }
        Ok(())
    }
}

/// An error in a pipeline stage, with its context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageError {
    /// Where.
    pub context: ErrorContext,
    /// What, for users.
    pub message: String,
}

impl StageError {
    /// A new error.
    pub fn new(context: ErrorContext, message: impl Into<String>) -> Self {
        Self {
            context,
            message: message.into(),
        }
    }
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ctx = self.context.to_string();
        if ctx.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{ctx}: {}", self.message)
        }
    }
}

impl std::error::Error for StageError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_context_first() {
        let e = StageError::new(
            ErrorContext::stage(&Name::from_static("motion"))
                .with_source(&Name::from_static("cam1"))
                .with_seq(42),
            "boom",
        );
        assert_eq!(
            e.to_string(),
            "camera `cam1`, stage `motion`, frame 42: boom"
        );
    }
}
