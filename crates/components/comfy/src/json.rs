//! Small helpers for reading loosely typed JSON from the server.

use serde_json::Value;

/// `v[key]` as a string: a JSON string as is, a number printed (node ids are sometimes
/// numbers in custom nodes' payloads); `None` when absent, null or another type.
pub(crate) fn string(v: &Value, key: &str) -> Option<String> {
    as_string(v.get(key)?)
}

/// A JSON string as is, a number printed, anything else `None`.
pub(crate) fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `v[key]` as a non-negative integer (floats are truncated, negatives give 0).
pub(crate) fn uint(v: &Value, key: &str) -> Option<u64> {
    let n = v.get(key)?;
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| if f <= 0.0 { 0 } else { f as u64 })
    })
}

/// The type name of a JSON value, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
