//! ComfyUI workflows in API format: `node id -> {"class_type", "inputs", "_meta"}`.
//!
//! This is the shape `POST /prompt` takes. An input is either a literal or a link
//! `[source node id, output index]`; a literal list must be wrapped as
//! `{"__value__": [...]}` because a bare list means a link. Parsing checks exactly that
//! much structure (what ComfyUI rejects before it even looks at node classes); everything
//! that needs the node catalogue lives in [`crate::validate`].
//!
//! The UI format (the saved `.json` with `nodes` and `links`) is converted by
//! [`crate::ui::from_ui`], which needs the catalogue to know which inputs are widgets.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::catalog::Catalog;

/// A workflow in API format, keyed by node id (opaque strings such as `"3"` or `"57:12"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub nodes: BTreeMap<String, Node>,
}

/// One node: its class, its inputs (literals and links, as JSON) and its UI title.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub class_type: String,
    /// Input name -> literal, or link `["node id", output index]` (node id always a string).
    pub inputs: BTreeMap<String, Value>,
    /// `_meta.title`, written by the UI's "Export (API)"; ComfyUI ignores it.
    pub title: Option<String>,
}

/// A node input seen through its meaning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// Output `output` of node `node`.
    Link { node: &'a str, output: usize },
    /// A literal (a `{"__value__": [...]}` list stays wrapped).
    Value(&'a Value),
}

/// Where in a workflow something is: a node, its class and one of its inputs. Displays
/// as ``node 3 (KSampler) input `seed` ``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputAt {
    pub node: String,
    pub class: String,
    pub input: String,
}

impl InputAt {
    pub fn new(node: &str, class: &str, input: &str) -> Box<InputAt> {
        Box::new(InputAt {
            node: node.to_string(),
            class: class.to_string(),
            input: input.to_string(),
        })
    }
}

impl std::fmt::Display for InputAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node {} ({}) input `{}`",
            self.node, self.class, self.input
        )
    }
}

/// A workflow that cannot be read. Each message names the node and input at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkflowError {
    #[error("the workflow is not a JSON object of node id -> node (API format) nor a UI workflow")]
    NotObject,
    #[error("the workflow has no nodes")]
    Empty,
    #[error(
        "node {node}: not an object (expected {{\"class_type\": \"...\", \"inputs\": {{...}}}})"
    )]
    NodeNotObject { node: String },
    #[error(
        "node {node}: missing class_type (a UI-format workflow needs a node catalogue to convert; or use \"Export (API)\")"
    )]
    MissingClassType { node: String },
    #[error("node {node}: class_type is not a string (found {found})")]
    ClassTypeNotString { node: String, found: String },
    #[error("node {node} ({class}): inputs is not an object of input name -> value")]
    InputsNotObject { node: String, class: String },
    #[error(
        "node {node} ({class}) input `{input}`: {reason} (bad_linked_input: a link is [\"node id\", output index]; wrap a literal list as {{\"__value__\": [...]}})"
    )]
    BadLink {
        node: String,
        class: String,
        input: String,
        reason: String,
    },
    #[error(
        "the workflow is in the UI format; converting it to the API format needs a node catalogue (/object_info of a backend), and none is available"
    )]
    NeedsCatalog,
    #[error("UI workflow: {what}")]
    UiMalformed { what: String },
    #[error("UI workflow node {node}: class `{class}` is not in the node catalogue of any backend")]
    UiUnknownClass { node: String, class: String },
    #[error(
        "UI workflow uses subgraphs ({count} in definitions.subgraphs), which are not supported; unpack them in the editor or submit the \"Export (API)\" file"
    )]
    UiSubgraphs { count: usize },
    #[error("UI workflow node {node}: reroutes or bypassed nodes form a loop")]
    UiLoop { node: String },
}

impl Workflow {
    /// Reads the API format. Numeric node ids in links become strings.
    pub fn from_api(v: &Value) -> Result<Workflow, WorkflowError> {
        let obj = v.as_object().ok_or(WorkflowError::NotObject)?;
        if obj.is_empty() {
            return Err(WorkflowError::Empty);
        }
        let nodes = obj
            .iter()
            .map(|(id, n)| Ok((id.clone(), Node::from_api(id, n)?)))
            .collect::<Result<_, WorkflowError>>()?;
        Ok(Workflow { nodes })
    }

    /// True for the UI format: a `nodes` array beside a `links` table.
    pub fn is_ui_format(v: &Value) -> bool {
        v.get("nodes").is_some_and(Value::is_array) && v.get("links").is_some()
    }

    /// The API-format JSON (what `POST /prompt` takes as `prompt`), `_meta.title` kept.
    pub fn to_api(&self) -> Value {
        let nodes = self
            .nodes
            .iter()
            .map(|(id, n)| (id.clone(), n.to_api()))
            .collect::<Map<_, _>>();
        Value::Object(nodes)
    }

    /// Every node class the workflow uses.
    pub fn class_types(&self) -> BTreeSet<String> {
        self.nodes.values().map(|n| n.class_type.clone()).collect()
    }

    /// Node ids in the plan's order (numeric ids numerically, see [`compare_node_ids`]).
    pub fn ids_sorted(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.nodes.keys().map(String::as_str).collect();
        ids.sort_by(|a, b| compare_node_ids(a, b));
        ids
    }
}

impl Node {
    fn from_api(id: &str, v: &Value) -> Result<Node, WorkflowError> {
        let obj = v.as_object().ok_or_else(|| WorkflowError::NodeNotObject {
            node: id.to_string(),
        })?;
        let class_type = match obj.get("class_type") {
            None | Some(Value::Null) => {
                return Err(WorkflowError::MissingClassType {
                    node: id.to_string(),
                });
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(WorkflowError::ClassTypeNotString {
                    node: id.to_string(),
                    found: short_json(other),
                });
            }
        };
        let inputs = match obj.get("inputs") {
            // ComfyUI writes `"inputs": {}` for nodes without inputs; be lenient when absent.
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(name, val)| {
                    normalize_input(val)
                        .map(|v| (name.clone(), v))
                        .map_err(|reason| WorkflowError::BadLink {
                            node: id.to_string(),
                            class: class_type.clone(),
                            input: name.clone(),
                            reason,
                        })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(WorkflowError::InputsNotObject {
                    node: id.to_string(),
                    class: class_type,
                });
            }
        };
        let title = obj
            .get("_meta")
            .and_then(|m| m.get("title"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Node {
            class_type,
            inputs,
            title,
        })
    }

    fn to_api(&self) -> Value {
        let mut m = Map::new();
        m.insert("class_type".into(), Value::String(self.class_type.clone()));
        m.insert(
            "inputs".into(),
            Value::Object(
                self.inputs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        );
        if let Some(t) = &self.title {
            let mut meta = Map::new();
            meta.insert("title".into(), Value::String(t.clone()));
            m.insert("_meta".into(), Value::Object(meta));
        }
        Value::Object(m)
    }

    /// A node with no inputs and no title.
    pub fn new(class_type: impl Into<String>) -> Node {
        Node {
            class_type: class_type.into(),
            inputs: BTreeMap::new(),
            title: None,
        }
    }

    /// The input `name`, as a link or a literal.
    pub fn input(&self, name: &str) -> Option<Input<'_>> {
        self.inputs.get(name).map(classify)
    }

    /// The links into this node: `(input name, source node id, source output index)`.
    pub fn links(&self) -> impl Iterator<Item = (&str, &str, usize)> {
        self.inputs
            .iter()
            .filter_map(|(name, v)| match classify(v) {
                Input::Link { node, output } => Some((name.as_str(), node, output)),
                Input::Value(_) => None,
            })
    }
}

impl<'a> Input<'a> {
    /// Reads an input value: a link is `["node id", output index]`, anything else a literal.
    pub fn of(v: &'a Value) -> Input<'a> {
        classify(v)
    }
}

/// A link is a 2-element array of a string node id and a non-negative integer (after
/// [`normalize_input`] turned numeric ids into strings).
fn classify(v: &Value) -> Input<'_> {
    if let Value::Array(a) = v
        && let [Value::String(node), Value::Number(n)] = a.as_slice()
        && let Some(output) = n.as_u64().and_then(|o| usize::try_from(o).ok())
    {
        return Input::Link { node, output };
    }
    Input::Value(v)
}

/// Checks a list input is a well-formed link and turns a numeric source id into a string.
fn normalize_input(v: &Value) -> Result<Value, String> {
    let Value::Array(a) = v else {
        return Ok(v.clone());
    };
    let [src, out] = a.as_slice() else {
        return Err(format!(
            "a list of {} element(s) is neither a link nor a literal",
            a.len()
        ));
    };
    let src = match src {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.as_u64().is_some() => n.to_string(),
        other => {
            return Err(format!(
                "link source {} is not a node id",
                short_json(other)
            ));
        }
    };
    match out.as_u64() {
        Some(o) if usize::try_from(o).is_ok() => {
            Ok(Value::Array(vec![Value::String(src), out.clone()]))
        }
        _ => Err(format!(
            "link output index {} is not a non-negative integer",
            short_json(out)
        )),
    }
}

/// Reads a workflow in either format. The UI format needs a catalogue to be converted.
pub fn load(v: &Value, catalog: Option<&Catalog>) -> Result<Workflow, WorkflowError> {
    if Workflow::is_ui_format(v) {
        let catalog = catalog.ok_or(WorkflowError::NeedsCatalog)?;
        crate::ui::from_ui(v, catalog)
    } else {
        Workflow::from_api(v)
    }
}

/// Orders node ids the way people expect: `"2" < "10"`, `"57:3" < "57:12"`.
///
/// Ids are split at `:`; all-digit parts compare as numbers and sort before other parts,
/// which compare as strings. Ties (`"07"` vs `"7"`) fall back to plain string order, so
/// this is a total order.
pub fn compare_node_ids(a: &str, b: &str) -> Ordering {
    let mut pa = a.split(':');
    let mut pb = b.split(':');
    loop {
        match (pa.next(), pb.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = compare_part(x, y);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

fn compare_part(x: &str, y: &str) -> Ordering {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (digits(x), digits(y)) {
        (true, true) => {
            // Compare as numbers without parsing (any length): strip leading zeros, then
            // a longer digit string is larger.
            let x = x.trim_start_matches('0');
            let y = y.trim_start_matches('0');
            x.len().cmp(&y.len()).then_with(|| x.cmp(y))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => x.cmp(y),
    }
}

/// A JSON value cut to a readable length for one-line messages.
pub(crate) fn short_json(v: &Value) -> String {
    const MAX: usize = 60;
    let s = v.to_string();
    if s.chars().count() <= MAX {
        s
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

impl Serialize for Workflow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_api().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Workflow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Workflow::from_api(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_ids_order_numerically_then_as_strings() {
        let mut ids = vec!["10", "9", "1a", "57:12", "57:3", "2", "007", "7", "b", "a"];
        ids.sort_by(|a, b| compare_node_ids(a, b));
        assert_eq!(
            ids,
            vec!["2", "007", "7", "9", "10", "57:3", "57:12", "1a", "a", "b"]
        );
    }

    #[test]
    fn numeric_link_ids_become_strings() {
        let wf = Workflow::from_api(&json!({
            "1": {"class_type": "EmptyImage", "inputs": {}},
            "2": {"class_type": "ImageInvert", "inputs": {"image": [1, 0]}}
        }))
        .unwrap();
        assert_eq!(wf.nodes["2"].inputs["image"], json!(["1", 0]));
        assert_eq!(
            wf.nodes["2"].input("image"),
            Some(Input::Link {
                node: "1",
                output: 0
            })
        );
    }

    #[test]
    fn serde_round_trip_uses_api_format() {
        let v = json!({"5": {"class_type": "X", "inputs": {"a": 1}, "_meta": {"title": "T"}}});
        let wf: Workflow = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&wf).unwrap(), v);
    }
}
