//! [`Condition`]: a condition as written in a config file.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Expr, ParseError};

/// A condition as written in a config file (`when: motion.score > 0.05`): the source text and
/// its parsed [`Expr`].
///
/// Deserializes from a string (a parse error becomes the one-line message of
/// [`ConditionError`]), serializes back to the text as written, and its JSON schema is a
/// string described by the grammar.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    text: String,
    expr: Expr,
}

/// A condition that does not parse.
///
/// Displays as ``invalid condition `TEXT`: column N: MESSAGE`` where `N` is the 0-based
/// character offset into `TEXT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionError {
    /// The condition as written.
    pub text: String,
    /// What is wrong, and where in `text`.
    pub error: ParseError,
}

impl ConditionError {
    /// 0-based character offset into the condition's text.
    pub fn column(&self) -> usize {
        self.error.column
    }

    /// Recovers the column from a message produced by this type's `Display` (for example the
    /// message of a deserialization error, which is all serde keeps), so that a caller can
    /// point at the exact character. `None` if `message` is not such a message.
    ///
    /// The text between the backticks may itself contain "`: column "; each candidate split
    /// is checked by parsing the candidate text again and comparing the error column.
    pub fn column_in_message(message: &str) -> Option<usize> {
        let rest = message.strip_prefix("invalid condition `")?;
        rest.match_indices("`: column ").find_map(|(i, m)| {
            let (digits, after) = rest[i + m.len()..].split_once(':')?;
            let column: usize = digits.parse().ok()?;
            if !after.starts_with(' ') {
                return None;
            }
            let reparsed = Expr::parse(&rest[..i]).err()?;
            (reparsed.column == column).then_some(column)
        })
    }
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid condition `{}`: column {}: {}",
            self.text, self.error.column, self.error.message
        )
    }
}

impl std::error::Error for ConditionError {}

impl Condition {
    /// Parses a condition.
    pub fn parse(text: &str) -> Result<Self, ConditionError> {
        match Expr::parse(text) {
            Ok(expr) => Ok(Self {
                text: text.to_owned(),
                expr,
            }),
            Err(error) => Err(ConditionError {
                text: text.to_owned(),
                error,
            }),
        }
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }
}

impl std::str::FromStr for Condition {
    type Err = ConditionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Condition {
    /// The text as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Condition {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "description": concat!(
                "A condition over the latest observations of the source's analyzers, e.g. ",
                "`motion.score > 0.05 and count(detect, \"person\") >= 1`. ",
                "Operands: numbers (`0.5`, `-1`), `true`/`false`, values `ANALYZER.VALUE` ",
                "(`motion.score`, `motion.region.r1c2`), `count(ANALYZER)` and ",
                "`count(ANALYZER, \"CLASS\")` (number of detections), `has(ANALYZER, \"TAG\")`, ",
                "`present(ANALYZER)`. Comparisons: `>`, `>=`, `<`, `<=`, `==`, `!=` (no chaining). ",
                "Logic, loosest first: `or` (`||`), `and` (`&&`), `not` (`!`); parentheses group. ",
                "A number used as a condition means \"is not 0\". Missing data (an analyzer ",
                "without a recent observation, a missing value) makes a comparison unknown; ",
                "`false and unknown` is false, `true or unknown` is true, `not unknown` is ",
                "unknown, and an unknown condition does not hold."
            )
        })
    }
}
