//! `GET /api/history/{prompt_id}`: how a finished prompt ended and what it produced.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::one_line;
use crate::json;

/// A finished (or at least recorded) prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// How it ended.
    pub outcome: Outcome,
    /// Every output file, in node order (empty after an error or interrupt).
    pub outputs: Vec<OutputItem>,
    /// Text outputs `(node id, text)` (e.g. `PreviewAny`), in node order.
    pub texts: Vec<(String, String)>,
}

/// How a prompt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// All requested outputs ran.
    Success,
    /// A node raised an exception at run time.
    Error {
        /// The failing node, when the server says.
        node_id: Option<String>,
        /// Its class, when the server says.
        node_type: Option<String>,
        /// `exception_type: exception_message`, on one line.
        message: String,
    },
    /// Stopped by `POST /api/interrupt`.
    Interrupted,
    /// Recorded but not finished (no terminal status yet).
    Unfinished,
}

/// One output file of a prompt, as needed to download it with `GET /api/view`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputItem {
    /// The output node's id.
    pub node: String,
    /// The key the node listed it under: `images`, `gifs`, `audio`, ... (core `SaveVideo`
    /// lists videos under `images` with `animated`: look at the file extension).
    pub kind: String,
    /// The file name.
    pub filename: String,
    /// The folder under the root (`""` for none).
    pub subfolder: String,
    /// The JSON `type`: `output`, `temp` or `input`.
    pub file_type: String,
    /// Whether the node marked its outputs `animated` (videos, animated WEBP/PNG).
    pub animated: bool,
}

/// Parses one history entry (the value under the prompt id).
pub(crate) fn parse_entry(v: &Value) -> Result<HistoryEntry, String> {
    if !v.is_object() {
        return Err(format!(
            "the history entry is {}, expected an object",
            json::kind(v)
        ));
    }
    let (outputs, texts) = match v.get("outputs") {
        None | Some(Value::Null) => (Vec::new(), Vec::new()),
        Some(Value::Object(map)) => parse_outputs(map),
        Some(other) => {
            return Err(format!(
                "`outputs` is {}, expected an object",
                json::kind(other)
            ));
        }
    };
    Ok(HistoryEntry {
        outcome: outcome(v.get("status").unwrap_or(&Value::Null)),
        outputs,
        texts,
    })
}

/// The outcome from `status`: the last terminal message decides (errors and interrupts
/// both have `status_str: "error"`), `status_str` when there is none.
fn outcome(status: &Value) -> Outcome {
    let last = status
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .rev()
        .find_map(|m| {
            let kind = m.get(0)?.as_str()?;
            matches!(
                kind,
                "execution_success" | "execution_error" | "execution_interrupted"
            )
            .then(|| (kind, m.get(1).unwrap_or(&Value::Null)))
        });
    match last {
        Some(("execution_success", _)) => Outcome::Success,
        Some(("execution_interrupted", _)) => Outcome::Interrupted,
        Some((_, data)) => error_outcome(data),
        None => match status.get("status_str").and_then(Value::as_str) {
            Some("success") => Outcome::Success,
            Some("error") => Outcome::Error {
                node_id: None,
                node_type: None,
                message: "failed (the history has no error message)".into(),
            },
            _ => Outcome::Unfinished,
        },
    }
}

/// [`Outcome::Error`] from an `execution_error` payload (history or WebSocket).
pub(crate) fn error_outcome(data: &Value) -> Outcome {
    Outcome::Error {
        node_id: json::string(data, "node_id"),
        node_type: json::string(data, "node_type"),
        message: error_message(data),
    }
}

/// `exception_type: exception_message` on one line.
pub(crate) fn error_message(data: &Value) -> String {
    let kind = json::string(data, "exception_type").unwrap_or_default();
    let message = json::string(data, "exception_message").unwrap_or_default();
    let text = match (kind.trim().is_empty(), message.trim().is_empty()) {
        (false, false) => format!("{kind}: {message}"),
        (false, true) => kind,
        (true, false) => message,
        (true, true) => "unknown error (no exception in the message)".into(),
    };
    one_line(&text, 500)
}

/// Files and texts of `outputs`, in node order.
fn parse_outputs(map: &serde_json::Map<String, Value>) -> (Vec<OutputItem>, Vec<(String, String)>) {
    let mut nodes: Vec<&String> = map.keys().collect();
    nodes.sort_by(|a, b| {
        let key = |s: &str| (s.parse::<u64>().unwrap_or(u64::MAX), s.to_string());
        key(a).cmp(&key(b))
    });
    let mut files = Vec::new();
    let mut texts = Vec::new();
    for node in nodes {
        let Value::Object(ui) = &map[node] else {
            continue;
        };
        let animated = match ui.get("animated") {
            Some(Value::Array(a)) => a.iter().any(|x| x.as_bool() == Some(true)),
            Some(Value::Bool(b)) => *b,
            _ => false,
        };
        for (kind, value) in ui {
            let Value::Array(list) = value else {
                continue;
            };
            for item in list {
                match item {
                    Value::Object(_) => {
                        let Some(filename) = json::string(item, "filename") else {
                            continue;
                        };
                        files.push(OutputItem {
                            node: node.clone(),
                            kind: kind.clone(),
                            filename,
                            subfolder: json::string(item, "subfolder").unwrap_or_default(),
                            file_type: json::string(item, "type")
                                .unwrap_or_else(|| "output".into()),
                            animated,
                        });
                    }
                    Value::String(s) if kind == "text" => texts.push((node.clone(), s.clone())),
                    _ => {}
                }
            }
        }
    }
    (files, texts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(status: Value, outputs: Value) -> Value {
        json!({"prompt": [3, "p", {}, {}, ["4"]], "outputs": outputs, "status": status, "meta": {}})
    }

    #[test]
    fn success_with_images_video_and_text() {
        let v = entry(
            json!({"status_str": "success", "completed": true, "messages": [
                ["execution_start", {"prompt_id": "p"}], ["execution_cached", {"nodes": []}],
                ["execution_success", {"prompt_id": "p"}]]}),
            json!({"4": {"images": [{"filename": "test_128x128_00009_.png", "subfolder": "orch", "type": "output"},
                                    {"filename": "test_128x128_00010_.png", "subfolder": "orch", "type": "output"}]},
                   "3": {"images": [{"filename": "x_00001_.mp4", "subfolder": "video", "type": "output"}], "animated": [true]},
                   "12": {"audio": [{"filename": "a.flac", "type": "temp"}]},
                   "6": {"text": ["hello {prompt}"]}}),
        );
        let e = parse_entry(&v).unwrap();
        assert_eq!(e.outcome, Outcome::Success);
        let got: Vec<(&str, &str, &str, &str, &str, bool)> = e
            .outputs
            .iter()
            .map(|o| {
                (
                    o.node.as_str(),
                    o.kind.as_str(),
                    o.filename.as_str(),
                    o.subfolder.as_str(),
                    o.file_type.as_str(),
                    o.animated,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("3", "images", "x_00001_.mp4", "video", "output", true),
                (
                    "4",
                    "images",
                    "test_128x128_00009_.png",
                    "orch",
                    "output",
                    false
                ),
                (
                    "4",
                    "images",
                    "test_128x128_00010_.png",
                    "orch",
                    "output",
                    false
                ),
                ("12", "audio", "a.flac", "", "temp", false),
            ]
        );
        assert_eq!(
            e.texts,
            vec![("6".to_string(), "hello {prompt}".to_string())]
        );
    }

    #[test]
    fn error_and_interrupt_told_apart_by_the_last_message() {
        let error = entry(
            json!({"status_str": "error", "completed": false, "messages": [
                ["execution_start", {}],
                ["execution_error", {"prompt_id": "p", "node_id": "2", "node_type": "LoadImage",
                  "exception_message": "cannot identify image file\n'/x/corrupt.png'",
                  "exception_type": "PIL.UnidentifiedImageError", "traceback": ["..."]}]]}),
            json!({}),
        );
        assert_eq!(
            parse_entry(&error).unwrap().outcome,
            Outcome::Error {
                node_id: Some("2".into()),
                node_type: Some("LoadImage".into()),
                message: "PIL.UnidentifiedImageError: cannot identify image file '/x/corrupt.png'"
                    .into()
            }
        );
        let interrupted = entry(
            json!({"status_str": "error", "completed": false, "messages": [
                ["execution_start", {}],
                ["execution_interrupted", {"prompt_id": "p", "node_id": "3", "node_type": "ImageBlur", "executed": ["1"]}]]}),
            json!({}),
        );
        let e = parse_entry(&interrupted).unwrap();
        assert_eq!(e.outcome, Outcome::Interrupted);
        assert!(e.outputs.is_empty() && e.texts.is_empty());
    }

    #[test]
    fn falls_back_to_status_str_and_unfinished() {
        let ok = entry(
            json!({"status_str": "success", "completed": true, "messages": []}),
            json!({}),
        );
        assert_eq!(parse_entry(&ok).unwrap().outcome, Outcome::Success);
        let err = entry(
            json!({"status_str": "error", "completed": false}),
            json!({}),
        );
        assert!(matches!(
            parse_entry(&err).unwrap().outcome,
            Outcome::Error { node_id: None, .. }
        ));
        let pending = json!({"prompt": [], "outputs": {}});
        assert_eq!(parse_entry(&pending).unwrap().outcome, Outcome::Unfinished);
        let null_status = entry(Value::Null, Value::Null);
        assert_eq!(
            parse_entry(&null_status).unwrap().outcome,
            Outcome::Unfinished
        );
    }

    #[test]
    fn skips_odd_output_entries_and_rejects_non_objects() {
        let v = entry(
            json!({"status_str": "success", "messages": [["execution_success", {}]]}),
            json!({"1": "junk", "2": {"images": [{"no_filename": 1}, 5], "animated": true, "text": [1]},
                   "3": {"gifs": [{"filename": "a.webp", "subfolder": "", "type": "output", "format": "image/webp"}]}}),
        );
        let e = parse_entry(&v).unwrap();
        assert_eq!(e.outputs.len(), 1);
        assert_eq!(
            (e.outputs[0].kind.as_str(), e.outputs[0].node.as_str()),
            ("gifs", "3")
        );
        assert!(e.texts.is_empty());
        assert!(parse_entry(&json!([1])).is_err());
        assert!(parse_entry(&json!({"outputs": []})).is_err());
    }

    #[test]
    fn error_message_without_exception_fields() {
        assert_eq!(
            error_message(&json!({})),
            "unknown error (no exception in the message)"
        );
        assert_eq!(error_message(&json!({"exception_type": "OOM"})), "OOM");
    }
}
