//! Validated names for sources, analyzers, rules, sinks and other pipeline nodes.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The name of a pipeline node (source, analyzer, rule, sink, sync group).
///
/// Names are 1 to 64 characters: ASCII letters, digits, `_` and `-`, starting with a
/// letter. They are used in fusion expressions (`motion.score`) and in output records, so
/// the rule is strict. Cloning is a reference-count increment.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Arc<str>);

/// Why a string is not a valid [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid name `{name}`: {reason} (a name is 1-64 ASCII letters, digits, `_` or `-`, starting with a letter)"
)]
pub struct NameError {
    /// The rejected input.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Name {
    /// Validates and creates a name.
    pub fn new(s: &str) -> Result<Self, NameError> {
        let err = |reason| NameError {
            name: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        if s.len() > 64 {
            return Err(err("it is longer than 64 characters"));
        }
        if !s.as_bytes()[0].is_ascii_alphabetic() {
            return Err(err("it does not start with a letter"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(err(
                "it contains a character other than letters, digits, `_` and `-`",
            ));
        }
        Ok(Self(Arc::from(s)))
    }

    /// Creates a name from a string known to be valid (constants in code).
    ///
    /// # Panics
    /// If `s` is not a valid name: a programming error, never user input.
    pub fn from_static(s: &'static str) -> Self {
        match Self::new(s) {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Name {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Name::new(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Name {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Name".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,63}$",
            "description": "A node name: 1-64 ASCII letters, digits, `_` or `-`, starting with a letter."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        assert!(Name::new("cam-1").is_ok());
        assert!(Name::new("motion_2").is_ok());
        assert_eq!(Name::new("").unwrap_err().reason, "it is empty");
        assert!(Name::new("1cam").is_err());
        assert!(Name::new("a.b").is_err());
        assert!(Name::new(&"a".repeat(65)).is_err());
        let e = Name::new("a b").unwrap_err().to_string();
        assert!(e.starts_with("invalid name `a b`: it contains"), "{e}");
    }
}
