//! `{placeholder}` parameters patched into a workflow's node inputs, type-checked.
//!
//! A placeholder is `{name}` with `name` = `[A-Za-z_][A-Za-z0-9_]*`, inside a string
//! literal of a node input (never in `class_type` or links). Anything else in braces
//! (`{red|blue}` dynamic prompts, `{ "x": 1 }` JSON) stays as written. `{{` and `}}` are
//! literal braces, but only in strings that are templates (contain a placeholder or
//! `{{`): JSON text without placeholders passes through untouched.
//!
//! * An input whose whole value is `"{name}"` gets the parameter's JSON value as is (a
//!   list is wrapped as `{"__value__": [...]}`, since a bare list would be a link).
//! * A placeholder inside a longer string gets the value's text form (strings without
//!   quotes, numbers as written, booleans as `true`/`false`).
//!
//! With a catalogue, the result is checked against the input's spec: INT must be an
//! integer within min/max, FLOAT a number within min/max, STRING a string (numbers and
//! booleans become their text), BOOLEAN a bool, COMBO one of the options.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::catalog::{Catalog, InputKind};
use crate::workflow::{Input, InputAt, Workflow, short_json};

/// A parameter that cannot be applied. Each message names the node, class, input and
/// parameter, the value, and what would be valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    #[error(
        "parameter `{param}` is not used by any placeholder (the workflow's placeholders: {})",
        list_or_none(placeholders)
    )]
    UnusedParam {
        param: String,
        placeholders: Vec<String>,
    },
    #[error(
        "{at}: placeholder `{{{param}}}` has no parameter (given: {})",
        list_or_none(given)
    )]
    MissingParam {
        at: Box<InputAt>,
        param: String,
        given: Vec<String>,
    },
    #[error(
        "{at}: parameter `{param}` = {value} cannot be put into text (use a string, number or boolean)"
    )]
    NotText {
        at: Box<InputAt>,
        param: String,
        value: String,
    },
    #[error("{at}: parameter `{param}` gives {value}, {problem} (valid: {valid})")]
    Invalid {
        at: Box<InputAt>,
        param: String,
        value: String,
        problem: String,
        valid: String,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// Every placeholder name used in the workflow's input strings.
pub fn placeholders(wf: &Workflow) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for node in wf.nodes.values() {
        for v in node.inputs.values() {
            if matches!(Input::of(v), Input::Value(_)) {
                collect_names(v, &mut out);
            }
        }
    }
    out
}

fn collect_names(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            for t in tokens(s) {
                if let Token::Placeholder(name) = t {
                    out.insert(name.to_string());
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_names(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_names(x, out)),
        _ => {}
    }
}

/// Applies `params` to the workflow's placeholders. Every placeholder needs a parameter
/// and every parameter must be used (a typo would otherwise pass silently).
pub fn patch(
    wf: &Workflow,
    params: &BTreeMap<String, Value>,
    catalog: Option<&Catalog>,
) -> Result<Workflow, PatchError> {
    let used = placeholders(wf);
    if let Some(unused) = params.keys().find(|p| !used.contains(*p)) {
        return Err(PatchError::UnusedParam {
            param: unused.clone(),
            placeholders: used.into_iter().collect(),
        });
    }
    let mut out = wf.clone();
    for (id, node) in &mut out.nodes {
        let class = catalog.and_then(|c| c.class(&node.class_type));
        for (input, value) in &mut node.inputs {
            if matches!(Input::of(value), Input::Link { .. }) {
                continue;
            }
            let site = Site {
                node: id,
                class: &node.class_type,
                input,
                params,
            };
            let (new, whole_param) = site.substitute(value)?;
            if let (Some(param), Some(spec)) =
                (whole_param, class.and_then(|c| c.inputs.get(input)))
            {
                *value = site.check(&spec.kind, param, new)?;
            } else {
                *value = new;
            }
        }
    }
    Ok(out)
}

/// Where a substitution happens, for error messages.
struct Site<'a> {
    node: &'a str,
    class: &'a str,
    input: &'a str,
    params: &'a BTreeMap<String, Value>,
}

impl<'a> Site<'a> {
    fn at(&self) -> Box<InputAt> {
        InputAt::new(self.node, self.class, self.input)
    }

    /// The value with its placeholders replaced, and the parameter it came from when the
    /// top-level string held placeholders (the first one, for messages).
    fn substitute(&self, v: &Value) -> Result<(Value, Option<&'a str>), PatchError> {
        match v {
            Value::String(s) => self.substitute_str(s),
            Value::Array(a) => {
                let items = a
                    .iter()
                    .map(|x| self.substitute(x).map(|(v, _)| v))
                    .collect::<Result<_, _>>()?;
                Ok((Value::Array(items), None))
            }
            Value::Object(m) => {
                let items = m
                    .iter()
                    .map(|(k, x)| self.substitute(x).map(|(v, _)| (k.clone(), v)))
                    .collect::<Result<_, _>>()?;
                Ok((Value::Object(items), None))
            }
            other => Ok((other.clone(), None)),
        }
    }

    fn substitute_str(&self, s: &str) -> Result<(Value, Option<&'a str>), PatchError> {
        let toks = tokens(s);
        if !is_template(&toks) {
            return Ok((Value::String(s.to_string()), None));
        }
        let mut first: Option<&'a str> = None;
        if let [Token::Placeholder(name)] = toks.as_slice() {
            let (key, value) = self.lookup(name)?;
            let v = match value {
                Value::Array(_) => {
                    let mut m = serde_json::Map::new();
                    m.insert("__value__".into(), value.clone());
                    Value::Object(m)
                }
                other => other.clone(),
            };
            return Ok((v, Some(key)));
        }
        let mut text = String::with_capacity(s.len());
        for t in &toks {
            match t {
                Token::Text(t) => text.push_str(t),
                Token::Brace(c) => text.push(*c),
                Token::Placeholder(name) => {
                    let (key, value) = self.lookup(name)?;
                    first.get_or_insert(key);
                    match value {
                        Value::String(v) => text.push_str(v),
                        Value::Number(n) => text.push_str(&n.to_string()),
                        Value::Bool(b) => text.push_str(if *b { "true" } else { "false" }),
                        other => {
                            return Err(PatchError::NotText {
                                at: self.at(),
                                param: key.to_string(),
                                value: short_json(other),
                            });
                        }
                    }
                }
            }
        }
        Ok((Value::String(text), first))
    }

    fn lookup(&self, name: &str) -> Result<(&'a str, &'a Value), PatchError> {
        self.params
            .get_key_value(name)
            .map(|(k, v)| (k.as_str(), v))
            .ok_or_else(|| PatchError::MissingParam {
                at: self.at(),
                param: name.to_string(),
                given: self.params.keys().cloned().collect(),
            })
    }

    /// Checks a substituted value against the input's kind; STRING inputs get numbers and
    /// booleans as text.
    fn check(&self, kind: &InputKind, param: &str, v: Value) -> Result<Value, PatchError> {
        if let (InputKind::String, Value::Number(_) | Value::Bool(_)) = (kind, &v) {
            return Ok(Value::String(v.to_string()));
        }
        match check_literal(kind, &v) {
            Ok(()) => Ok(v),
            Err(p) => Err(PatchError::Invalid {
                at: self.at(),
                param: param.to_string(),
                value: short_json(&v),
                problem: p.problem,
                valid: p.valid,
            }),
        }
    }
}

/// Why a literal does not fit an input, and what would.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    /// ComfyUI's error type: `invalid_input_type`, `value_smaller_than_min`,
    /// `value_bigger_than_max`, `value_not_in_list`.
    pub kind: &'static str,
    pub problem: String,
    pub valid: String,
}

/// Checks a literal against an input kind (links are not literals; `Link` kinds accept
/// any literal, as ComfyUI does).
pub(crate) fn check_literal(kind: &InputKind, v: &Value) -> Result<(), Problem> {
    let wrong = |what: &str, valid: String| Problem {
        kind: "invalid_input_type",
        problem: format!("not {what}"),
        valid,
    };
    match kind {
        InputKind::Int { min, max } => {
            let valid = int_range(*min, *max);
            let Some(i) = as_integer(v) else {
                return Err(wrong("an integer", valid));
            };
            if min.is_some_and(|m| i < i128::from(m)) && *min != Some(i64::MIN) {
                return Err(Problem {
                    kind: "value_smaller_than_min",
                    problem: "below the minimum".into(),
                    valid,
                });
            }
            // A saturated max (the spec said more than i64::MAX) bounds nothing we can see.
            if max.is_some_and(|m| i > i128::from(m)) && *max != Some(i64::MAX) {
                return Err(Problem {
                    kind: "value_bigger_than_max",
                    problem: "above the maximum".into(),
                    valid,
                });
            }
            Ok(())
        }
        InputKind::Float { min, max } => {
            let valid = float_range(*min, *max);
            let Some(f) = v.as_f64() else {
                return Err(wrong("a number", valid));
            };
            if min.is_some_and(|m| f < m) {
                return Err(Problem {
                    kind: "value_smaller_than_min",
                    problem: "below the minimum".into(),
                    valid,
                });
            }
            if max.is_some_and(|m| f > m) {
                return Err(Problem {
                    kind: "value_bigger_than_max",
                    problem: "above the maximum".into(),
                    valid,
                });
            }
            Ok(())
        }
        InputKind::String => match v {
            Value::String(_) => Ok(()),
            _ => Err(wrong("a string", "a string".into())),
        },
        InputKind::Boolean => match v {
            Value::Bool(_) => Ok(()),
            _ => Err(wrong("a boolean", "true or false".into())),
        },
        InputKind::Combo(options) => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(wrong("one of the options", options_text(options))),
            };
            if options.contains(&text) {
                Ok(())
            } else {
                Err(Problem {
                    kind: "value_not_in_list",
                    problem: "not among the options".into(),
                    valid: options_text(options),
                })
            }
        }
        InputKind::Link(_) => Ok(()),
    }
}

/// An integer JSON value (floats with no fraction count, as ComfyUI takes `int(x)`).
fn as_integer(v: &Value) -> Option<i128> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    let f = n.as_f64()?;
    // Beyond 2^63 a float is not an exact integer anyone meant to type.
    (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i128)
}

fn int_range(min: Option<i64>, max: Option<i64>) -> String {
    let lo = min.filter(|m| *m != i64::MIN);
    let hi = max.filter(|m| *m != i64::MAX);
    match (lo, hi) {
        (Some(a), Some(b)) => format!("an integer from {a} to {b}"),
        (Some(a), None) => format!("an integer >= {a}"),
        (None, Some(b)) => format!("an integer <= {b}"),
        (None, None) => "an integer".into(),
    }
}

fn float_range(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("a number from {a} to {b}"),
        (Some(a), None) => format!("a number >= {a}"),
        (None, Some(b)) => format!("a number <= {b}"),
        (None, None) => "a number".into(),
    }
}

/// The options, or their count when there are many (as ComfyUI does above 20).
pub(crate) fn options_text(options: &[String]) -> String {
    if options.is_empty() {
        "no options on any backend".into()
    } else if options.len() > 20 {
        format!(
            "one of {} options, e.g. {}",
            options.len(),
            options[..3].join(", ")
        )
    } else {
        options.join(", ")
    }
}

/// A piece of an input string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token<'a> {
    Text(&'a str),
    /// `{{` or `}}`.
    Brace(char),
    Placeholder(&'a str),
}

/// A string is a template when it has a placeholder or an escaped `{{`.
pub(crate) fn is_template(toks: &[Token<'_>]) -> bool {
    toks.iter()
        .any(|t| matches!(t, Token::Placeholder(_) | Token::Brace('{')))
}

/// Splits a string into text, escaped braces and placeholders.
pub(crate) fn tokens(s: &str) -> Vec<Token<'_>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut start = 0; // start of the pending text run
    let mut i = 0;
    while i < b.len() {
        let escaped = match b[i] {
            b'{' if b.get(i + 1) == Some(&b'{') => Some('{'),
            b'}' if b.get(i + 1) == Some(&b'}') => Some('}'),
            _ => None,
        };
        if let Some(c) = escaped {
            if start < i {
                out.push(Token::Text(&s[start..i]));
            }
            out.push(Token::Brace(c));
            i += 2;
            start = i;
            continue;
        }
        if b[i] == b'{'
            && let Some(len) = ident_len(&b[i + 1..])
            && b.get(i + 1 + len) == Some(&b'}')
        {
            if start < i {
                out.push(Token::Text(&s[start..i]));
            }
            out.push(Token::Placeholder(&s[i + 1..i + 1 + len]));
            i += len + 2;
            start = i;
            continue;
        }
        i += 1;
    }
    if start < b.len() {
        out.push(Token::Text(&s[start..]));
    }
    out
}

/// Length of an identifier `[A-Za-z_][A-Za-z0-9_]*` at the start of `b`.
fn ident_len(b: &[u8]) -> Option<usize> {
    let first = *b.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_') {
        return None;
    }
    Some(
        b.iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer() {
        use Token::*;
        assert_eq!(
            tokens("a {x} {{y}} {red|blue} { \"k\": 1 } {_b9}}"),
            vec![
                Text("a "),
                Placeholder("x"),
                Text(" "),
                Brace('{'),
                Text("y"),
                Brace('}'),
                Text(" {red|blue} { \"k\": 1 } "),
                Placeholder("_b9"),
                Text("}"),
            ]
        );
        assert_eq!(tokens("{9x}"), vec![Text("{9x}")]);
        assert_eq!(tokens("{x"), vec![Text("{x")]);
        assert_eq!(tokens("é{ü}"), vec![Text("é{ü}")]);
        assert_eq!(tokens(""), vec![]);
        assert!(!is_template(&tokens(r#"{"a": {"b": 1}}"#)));
    }

    #[test]
    fn integer_values() {
        use serde_json::json;
        assert_eq!(as_integer(&json!(5)), Some(5));
        assert_eq!(as_integer(&json!(5.0)), Some(5));
        assert_eq!(as_integer(&json!(5.5)), None);
        assert_eq!(as_integer(&json!(u64::MAX)), Some(i128::from(u64::MAX)));
        assert_eq!(as_integer(&json!("5")), None);
    }
}
