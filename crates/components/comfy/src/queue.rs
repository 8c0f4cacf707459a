//! Submitting prompts (`POST /api/prompt`) and reading the queue (`GET /api/queue`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::one_line;
use crate::json;

/// One `POST /api/prompt`: an API-format workflow plus the ids that route its events.
#[derive(Debug, Clone, Copy)]
pub struct PromptRequest<'a> {
    /// The API-format graph: `{node_id: {"class_type", "inputs"}}`.
    pub prompt: &'a Value,
    /// The WebSocket `clientId` that receives this prompt's events.
    pub client_id: &'a str,
    /// Our id for the prompt (ComfyUI 0.3.75 takes any string; newer versions reportedly
    /// want a lowercase UUID, so prefer one).
    pub prompt_id: &'a str,
    /// Run only these output nodes (`partial_execution_targets`); `None` runs all.
    pub targets: Option<&'a [String]>,
    /// `extra_data` (e.g. `{"extra_pnginfo": {"workflow": ...}}`, embedded in PNGs).
    pub extra_data: Option<&'a Value>,
}

impl<'a> PromptRequest<'a> {
    /// A request running every output of `prompt`, without extra data.
    pub fn new(prompt: &'a Value, client_id: &'a str, prompt_id: &'a str) -> PromptRequest<'a> {
        PromptRequest {
            prompt,
            client_id,
            prompt_id,
            targets: None,
            extra_data: None,
        }
    }

    /// The JSON body of `POST /api/prompt`.
    pub(crate) fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("prompt".into(), self.prompt.clone());
        body.insert("client_id".into(), json!(self.client_id));
        body.insert("prompt_id".into(), json!(self.prompt_id));
        if let Some(targets) = self.targets {
            body.insert("partial_execution_targets".into(), json!(targets));
        }
        if let Some(extra) = self.extra_data {
            body.insert("extra_data".into(), extra.clone());
        }
        Value::Object(body)
    }
}

/// The answer to an accepted prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// The prompt's id (ours, echoed).
    pub prompt_id: String,
    /// The server's queue number (it increases with every POST, rejected ones included).
    pub number: f64,
    /// Per-node validation errors of outputs that will NOT run (the prompt was accepted
    /// because at least one output is valid); `{}` when everything is valid.
    pub node_errors: Value,
}

impl Submitted {
    /// Whether some outputs were dropped for validation errors.
    pub fn has_node_errors(&self) -> bool {
        match &self.node_errors {
            Value::Object(m) => !m.is_empty(),
            Value::Null => false,
            _ => true,
        }
    }

    /// [`Submitted::node_errors`] summarised on one line (empty when there are none).
    pub fn node_errors_summary(&self) -> String {
        node_errors_summary(&self.node_errors).join("; ")
    }
}

/// The server's queue: the running prompt (at most one per server) and the waiting ones.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueState {
    /// The prompt being executed, if any.
    pub running: Vec<QueueItem>,
    /// Waiting prompts in execution order (sorted by number).
    pub pending: Vec<QueueItem>,
}

impl QueueState {
    /// Whether `prompt_id` is running or pending.
    pub fn contains(&self, prompt_id: &str) -> bool {
        self.running
            .iter()
            .chain(&self.pending)
            .any(|i| i.prompt_id == prompt_id)
    }
}

/// One prompt in [`QueueState`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    /// The queue number (lower runs first).
    pub number: f64,
    /// The prompt's id.
    pub prompt_id: String,
}

/// Parses the body of an accepted `POST /api/prompt`.
pub(crate) fn parse_submitted(v: &Value) -> Result<Submitted, String> {
    let prompt_id = json::string(v, "prompt_id").ok_or("the answer has no `prompt_id`")?;
    let number = v
        .get("number")
        .and_then(Value::as_f64)
        .ok_or("the answer has no numeric `number`")?;
    Ok(Submitted {
        prompt_id,
        number,
        node_errors: v.get("node_errors").cloned().unwrap_or(json!({})),
    })
}

/// Parses the body of `GET /api/queue`; pending items are sorted by number (the server
/// sends its raw heap array).
pub(crate) fn parse_queue(v: &Value) -> Result<QueueState, String> {
    let list = |key: &str| -> Result<Vec<QueueItem>, String> {
        let Some(items) = v.get(key) else {
            return Err(format!("the queue has no `{key}`"));
        };
        let Some(items) = items.as_array() else {
            return Err(format!(
                "`{key}` is {}, expected an array",
                json::kind(items)
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let number = item.get(0).and_then(Value::as_f64);
                let id = item.get(1).and_then(json::as_string);
                match (number, id) {
                    (Some(number), Some(prompt_id)) => Ok(QueueItem { number, prompt_id }),
                    _ => Err(format!(
                        "`{key}[{i}]` is not [number, prompt_id, ...]: {}",
                        one_line(&item.to_string(), 80)
                    )),
                }
            })
            .collect()
    };
    let running = list("queue_running")?;
    let mut pending = list("queue_pending")?;
    pending.sort_by(|a, b| a.number.total_cmp(&b.number));
    Ok(QueueState { running, pending })
}

/// Summarises a 400 answer of `POST /api/prompt` on one line: the top-level error (type,
/// message, details), then every `node_errors` entry (node id, class, error types with
/// their details), sorted by node id.
pub(crate) fn rejection_summary(v: &Value) -> String {
    let mut parts = Vec::new();
    match v.get("error") {
        Some(Value::Object(e)) => {
            let e = Value::Object(e.clone());
            let kind = json::string(&e, "type").unwrap_or_default();
            let message = json::string(&e, "message").unwrap_or_default();
            let details = json::string(&e, "details").unwrap_or_default();
            let mut top = match (kind.is_empty(), message.is_empty()) {
                (false, false) => format!("{kind}: {}", one_line(&message, 300)),
                (false, true) => kind,
                (true, false) => one_line(&message, 300),
                (true, true) => String::new(),
            };
            if !details.trim().is_empty() {
                top.push_str(&format!(" ({})", one_line(&details, 300)));
            }
            if !top.is_empty() {
                parts.push(top);
            }
        }
        Some(Value::String(s)) if !s.trim().is_empty() => parts.push(one_line(s, 300)),
        _ => {}
    }
    if let Some(errors) = v.get("node_errors") {
        parts.extend(node_errors_summary(errors));
    }
    if parts.is_empty() {
        return format!(
            "no error details in the answer: {}",
            one_line(&v.to_string(), 300)
        );
    }
    one_line(&parts.join("; "), 2000)
}

/// One string per `node_errors` entry: `node 3 (SaveImage): required_input_missing
/// (images)`, errors joined with `, `.
fn node_errors_summary(errors: &Value) -> Vec<String> {
    let Value::Object(map) = errors else {
        return Vec::new();
    };
    let mut ids: Vec<&String> = map.keys().collect();
    ids.sort_by(|a, b| natural(a).cmp(&natural(b)));
    ids.into_iter()
        .map(|id| {
            let entry = &map[id];
            let class = json::string(entry, "class_type").unwrap_or_else(|| "?".into());
            let list: Vec<String> = entry
                .get("errors")
                .and_then(Value::as_array)
                .map(|errs| errs.iter().map(describe_node_error).collect())
                .unwrap_or_default();
            let list = if list.is_empty() {
                "error without details".to_string()
            } else {
                list.join(", ")
            };
            format!("node {id} ({class}): {list}")
        })
        .collect()
}

/// `type (details)`, falling back to the message when there are no details.
fn describe_node_error(e: &Value) -> String {
    let kind = json::string(e, "type").unwrap_or_else(|| "error".into());
    let details = json::string(e, "details").unwrap_or_default();
    let message = json::string(e, "message").unwrap_or_default();
    let why = if details.trim().is_empty() {
        message
    } else {
        details
    };
    if why.trim().is_empty() {
        kind
    } else {
        format!("{kind} ({})", one_line(&why, 200))
    }
}

/// Sort key putting `2` before `10` (node ids are usually numbers, but opaque).
fn natural(id: &str) -> (u64, &str) {
    (id.parse().unwrap_or(u64::MAX), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_has_targets_and_extra_data_only_when_given() {
        let prompt = json!({"1": {"class_type": "X", "inputs": {}}});
        let mut r = PromptRequest::new(&prompt, "c", "p");
        assert_eq!(
            r.body(),
            json!({"prompt": prompt, "client_id": "c", "prompt_id": "p"})
        );
        let targets = vec!["4".to_string()];
        let extra = json!({"extra_pnginfo": {"workflow": {}}});
        r.targets = Some(&targets);
        r.extra_data = Some(&extra);
        let body = r.body();
        assert_eq!(body["partial_execution_targets"], json!(["4"]));
        assert_eq!(body["extra_data"], extra);
    }

    #[test]
    fn parses_submitted() {
        let s =
            parse_submitted(&json!({"prompt_id": "p1", "number": 7, "node_errors": {}})).unwrap();
        assert_eq!((s.prompt_id.as_str(), s.number), ("p1", 7.0));
        assert!(!s.has_node_errors());
        let s = parse_submitted(&json!({"prompt_id": "p1", "number": 7.5,
            "node_errors": {"3": {"class_type": "EmptyImage", "errors": [{"type": "value_bigger_than_max", "message": "Value 99999 bigger than max of 16384", "details": "width"}]}}}))
        .unwrap();
        assert!(s.has_node_errors());
        assert_eq!(
            s.node_errors_summary(),
            "node 3 (EmptyImage): value_bigger_than_max (width)"
        );
        assert!(parse_submitted(&json!({"number": 1})).is_err());
        assert!(parse_submitted(&json!({"prompt_id": "p"})).is_err());
    }

    #[test]
    fn parses_and_sorts_the_queue() {
        let v = json!({"queue_running": [[3, "a", {}, {}, ["4"]]],
                       "queue_pending": [[5, "c", {}, {}, []], [10, "e", {}, {}, []], [4.5, "b", {}, {}, []]]});
        let q = parse_queue(&v).unwrap();
        assert_eq!(
            q.running,
            vec![QueueItem {
                number: 3.0,
                prompt_id: "a".into()
            }]
        );
        let ids: Vec<&str> = q.pending.iter().map(|i| i.prompt_id.as_str()).collect();
        assert_eq!(ids, ["b", "c", "e"]);
        assert!(q.contains("e") && q.contains("a") && !q.contains("z"));
        let empty = parse_queue(&json!({"queue_running": [], "queue_pending": []})).unwrap();
        assert_eq!(empty, QueueState::default());
    }

    #[test]
    fn malformed_queues_are_errors() {
        assert!(
            parse_queue(&json!({"queue_running": []}))
                .unwrap_err()
                .contains("queue_pending")
        );
        let e = parse_queue(&json!({"queue_running": [["x"]], "queue_pending": []})).unwrap_err();
        assert!(e.contains("queue_running[0]"), "{e}");
        assert!(parse_queue(&json!({"queue_running": {}, "queue_pending": []})).is_err());
    }

    #[test]
    fn summarises_an_unknown_class() {
        let v = json!({"error": {"type": "invalid_prompt",
            "message": "Cannot execute because node NoSuchNode does not exist.",
            "details": "Node ID '#2'", "extra_info": {}}, "node_errors": {}});
        assert_eq!(
            rejection_summary(&v),
            "invalid_prompt: Cannot execute because node NoSuchNode does not exist. (Node ID '#2')"
        );
    }

    #[test]
    fn summarises_node_errors_in_node_order_on_one_line() {
        let v = json!({"error": {"type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation", "details": "", "extra_info": {}},
            "node_errors": {
              "10": {"errors": [{"type": "value_not_in_list", "message": "Value not in list",
                                 "details": "ckpt_name: 'x.safetensors' not in []", "extra_info": {}}],
                     "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple"},
              "4": {"errors": [{"type": "required_input_missing", "message": "Required input is missing", "details": "images"},
                               {"type": "invalid_input_type", "message": "bad\ntype", "details": ""}],
                    "dependent_outputs": ["4"], "class_type": "SaveImage"}}});
        let s = rejection_summary(&v);
        assert_eq!(
            s,
            "prompt_outputs_failed_validation: Prompt outputs failed validation; \
             node 4 (SaveImage): required_input_missing (images), invalid_input_type (bad type); \
             node 10 (CheckpointLoaderSimple): value_not_in_list (ckpt_name: 'x.safetensors' not in [])"
        );
        assert!(!s.contains('\n'));
    }

    #[test]
    fn summarises_odd_bodies() {
        assert_eq!(
            rejection_summary(&json!({"error": "no prompt"})),
            "no prompt"
        );
        let s = rejection_summary(&json!({"weird": 1}));
        assert!(s.starts_with("no error details in the answer"), "{s}");
        let s = rejection_summary(&json!({"node_errors": {"1": {}}}));
        assert_eq!(s, "node 1 (?): error without details");
    }
}
