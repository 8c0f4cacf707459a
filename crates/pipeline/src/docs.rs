//! The configuration reference page, generated from the JSON Schema of the config
//! types (and so from their doc comments). `docs/ref/config.md` is this output; a test
//! fails if it drifts (regenerate with `cargo run -p xtask -- docs`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

/// The JSON Schema of a pipeline file.
pub fn schema() -> Value {
    let s = schemars::schema_for!(crate::config::PipelineConfig);
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// The JSON Schema, pretty-printed with a trailing newline.
pub fn schema_json() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    s.push('\n');
    s
}

fn type_of(v: &Value) -> String {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("[{name}](#{})", name.to_lowercase());
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(alts) = v.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = alts
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .map(type_of)
                .collect();
            if !parts.is_empty() {
                return parts.join(" or ");
            }
        }
    }
    if let Some(vals) = v.get("enum").and_then(Value::as_array) {
        return vals
            .iter()
            .map(|x| format!("`{}`", x.as_str().unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", ");
    }
    if let Some(c) = v.get("const") {
        return format!(
            "`{}`",
            c.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| c.to_string())
        );
    }
    match v.get("type") {
        Some(Value::String(t)) if t == "array" => {
            format!(
                "list of {}",
                v.get("items").map(type_of).unwrap_or_else(|| "any".into())
            )
        }
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".into(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn object_table(out: &mut String, v: &Value) {
    let Some(props) = v.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: BTreeSet<&str> = v
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| field | type | description |\n|---|---|---|\n");
    for (k, p) in props {
        let req = if required.contains(k.as_str()) {
            " **(required)**"
        } else {
            ""
        };
        let desc = p.get("description").and_then(Value::as_str).unwrap_or("");
        let _ = writeln!(out, "| `{k}`{req} | {} | {} |", type_of(p), one_line(desc));
    }
    out.push('\n');
}

fn variants(out: &mut String, v: &Value) {
    let Some(alts) = v
        .get("oneOf")
        .or_else(|| v.get("anyOf"))
        .and_then(Value::as_array)
    else {
        return;
    };
    out.push_str("One of:\n\n");
    for a in alts {
        let desc = one_line(a.get("description").and_then(Value::as_str).unwrap_or(""));
        if let Some(vals) = a.get("enum").and_then(Value::as_array) {
            for x in vals {
                let _ = writeln!(out, "- `{}`: {desc}", x.as_str().unwrap_or("?"));
            }
        } else if let Some(c) = a.get("const") {
            let _ = writeln!(out, "- `{}`: {desc}", c.as_str().unwrap_or("?"));
        } else if let Some(props) = a.get("properties").and_then(Value::as_object) {
            for (k, p) in props {
                let _ = writeln!(out, "- `{{{k}: ...}}` ({}): {desc}", type_of(p));
            }
        } else {
            let _ = writeln!(out, "- {}: {desc}", type_of(a));
        }
    }
    out.push('\n');
}

/// The Markdown reference of every config type.
pub fn reference_markdown() -> String {
    let schema = schema();
    let mut out = String::from(
        "# Pipeline file reference\n\n\
         <!-- Generated from the config types by `cargo run -p xtask -- docs`. Do not edit. -->\n\n\
         A pipeline file is YAML. Unknown fields are errors. Every string may use `${VAR}` or\n\
         `${VAR:-default}` to read an environment variable (write `$${` for a literal `${`).\n\
         Durations are written with a unit: `250ms`, `1.5s`, `2m`.\n\n\
         ## PipelineConfig (the file)\n\n",
    );
    if let Some(d) = schema.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{}\n", one_line(d));
    }
    object_table(&mut out, &schema);
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        for (name, def) in defs {
            let _ = writeln!(out, "## {name}\n");
            if let Some(d) = def.get("description").and_then(Value::as_str) {
                let _ = writeln!(out, "{}\n", one_line(d));
            }
            if def.get("properties").is_some() {
                object_table(&mut out, def);
            } else if def.get("oneOf").is_some() || def.get("anyOf").is_some() {
                variants(&mut out, def);
            } else if let Some(vals) = def.get("enum").and_then(Value::as_array) {
                let _ = writeln!(
                    out,
                    "One of: {}\n",
                    vals.iter()
                        .map(|x| format!("`{}`", x.as_str().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            } else {
                let _ = writeln!(out, "Type: {}\n", type_of(def));
            }
        }
    }
    out
}
