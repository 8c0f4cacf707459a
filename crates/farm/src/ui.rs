//! The UI workflow format (the editor's saved `.json`, also embedded in output PNGs)
//! converted to the API format, with the node catalogue telling which inputs are widgets.
//!
//! The UI format lists nodes with positional `widgets_values` and a separate link table
//! `[link id, from node, from slot, to node, to slot, type]`. The conversion follows what
//! the ComfyUI frontend does when it queues a prompt:
//!
//! * `widgets_values` map, in order, onto the class's widget inputs (the inputs that are
//!   not link types) in `input_order`; seed-like inputs are followed by an extra
//!   "control after generate" value (`fixed`, `randomize`, ...) that is skipped;
//! * a linked input becomes `[from node, from slot]`, also when it is a widget converted
//!   to an input (the link wins over the widget value);
//! * frontend-only nodes: a `Reroute` is followed to its source, a `PrimitiveNode`'s value
//!   is put into the inputs it feeds, `Note` and `MarkdownNote` are dropped;
//! * muted nodes (`mode` 2) are dropped, and inputs they fed are left unset; a bypassed
//!   node (`mode` 4) is dropped and its consumers are wired to its input of the same type
//!   (the input at the same slot first, then the first one of that type);
//! * node ids become strings and a node's `title` becomes `_meta.title`.
//!
//! Subgraphs (`definitions.subgraphs`, newer frontends) are not supported.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::workflow::{Node, Workflow, WorkflowError};

/// Mode of a node the frontend leaves out of the prompt ("never").
const MODE_MUTED: i64 = 2;
/// Mode of a node whose inputs pass straight through to its consumers.
const MODE_BYPASS: i64 = 4;
/// Values of the extra "control after generate" widget.
const CONTROL_VALUES: [&str; 4] = ["fixed", "increment", "decrement", "randomize"];

/// Converts a UI-format workflow to the API format.
pub fn from_ui(v: &Value, catalog: &Catalog) -> Result<Workflow, WorkflowError> {
    let g = Graph::parse(v)?;
    let mut nodes = BTreeMap::new();
    for n in g.nodes.values() {
        if is_frontend_only(n.ty) || n.mode == MODE_MUTED || n.mode == MODE_BYPASS {
            continue;
        }
        nodes.insert(n.id.clone(), g.convert(n, catalog)?);
    }
    if nodes.is_empty() {
        return Err(WorkflowError::Empty);
    }
    Ok(Workflow { nodes })
}

fn is_frontend_only(ty: &str) -> bool {
    matches!(ty, "Reroute" | "PrimitiveNode" | "Note" | "MarkdownNote")
}

struct UiNode<'a> {
    id: String,
    ty: &'a str,
    mode: i64,
    inputs: Vec<UiInput<'a>>,
    /// Output types by slot.
    outputs: Vec<&'a str>,
    widgets: Option<&'a Value>,
    title: Option<&'a str>,
}

struct UiInput<'a> {
    /// The input name (the widget's name for a widget converted to an input).
    name: &'a str,
    ty: &'a str,
    link: Option<String>,
}

struct UiLink {
    from: String,
    slot: usize,
}

struct Graph<'a> {
    nodes: BTreeMap<String, UiNode<'a>>,
    links: BTreeMap<String, UiLink>,
}

/// Where an input's value comes from once frontend-only and bypassed nodes are resolved.
enum Source {
    Link(String, usize),
    Value(Value),
    Nothing,
}

fn malformed(what: String) -> WorkflowError {
    WorkflowError::UiMalformed { what }
}

/// A node or link id (number or string) as a string.
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn slot(v: Option<&Value>) -> Option<usize> {
    v.and_then(Value::as_u64)
        .and_then(|s| usize::try_from(s).ok())
}

impl<'a> Graph<'a> {
    fn parse(v: &'a Value) -> Result<Graph<'a>, WorkflowError> {
        if let Some(subgraphs) = v
            .get("definitions")
            .and_then(|d| d.get("subgraphs"))
            .and_then(Value::as_array)
            .filter(|s| !s.is_empty())
        {
            return Err(WorkflowError::UiSubgraphs {
                count: subgraphs.len(),
            });
        }
        let raw_nodes = v
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("`nodes` is not a list".into()))?;
        let mut nodes = BTreeMap::new();
        for (i, n) in raw_nodes.iter().enumerate() {
            let node = UiNode::parse(i, n)?;
            if nodes.contains_key(&node.id) {
                return Err(malformed(format!("node id {} appears twice", node.id)));
            }
            nodes.insert(node.id.clone(), node);
        }
        let mut links = BTreeMap::new();
        match v.get("links") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for (i, l) in a.iter().enumerate() {
                    let (id, link) = parse_link(i, l)?;
                    links.insert(id, link);
                }
            }
            Some(_) => return Err(malformed("`links` is not a list".into())),
        }
        Ok(Graph { nodes, links })
    }

    fn convert(&self, n: &UiNode<'a>, catalog: &Catalog) -> Result<Node, WorkflowError> {
        let class = catalog
            .class(n.ty)
            .ok_or_else(|| WorkflowError::UiUnknownClass {
                node: n.id.clone(),
                class: n.ty.to_string(),
            })?;
        let mut node = Node::new(n.ty);
        node.title = n.title.map(str::to_string);
        match n.widgets {
            Some(Value::Array(values)) => {
                let mut values = values.iter().peekable();
                for (name, spec) in class.widget_inputs() {
                    let Some(v) = values.next() else { break };
                    node.inputs.insert(name.to_string(), literal(v));
                    if spec.control_after_generate
                        && values
                            .peek()
                            .and_then(|c| c.as_str())
                            .is_some_and(|c| CONTROL_VALUES.contains(&c))
                    {
                        values.next();
                    }
                }
            }
            // Some custom nodes save their widgets by name.
            Some(Value::Object(by_name)) => {
                for (name, _) in class.widget_inputs() {
                    if let Some(v) = by_name.get(name) {
                        node.inputs.insert(name.to_string(), literal(v));
                    }
                }
            }
            _ => {}
        }
        for input in &n.inputs {
            let Some(link) = &input.link else { continue };
            match self.resolve(link, input.ty, 0)? {
                Source::Link(from, slot) => {
                    node.inputs.insert(
                        input.name.to_string(),
                        Value::Array(vec![Value::String(from), Value::from(slot)]),
                    );
                }
                Source::Value(v) => {
                    node.inputs.insert(input.name.to_string(), literal(&v));
                }
                // A widget keeps its own value; a plain input stays unset.
                Source::Nothing => {}
            }
        }
        Ok(node)
    }

    /// Follows a link through reroutes, primitives and bypassed nodes. `want` is the type
    /// of the consuming input (a bypassed node passes on its input of that type).
    fn resolve(&self, link: &str, want: &str, depth: usize) -> Result<Source, WorkflowError> {
        let Some(l) = self.links.get(link) else {
            return Ok(Source::Nothing);
        };
        let Some(from) = self.nodes.get(&l.from) else {
            return Ok(Source::Nothing);
        };
        if depth > self.nodes.len() {
            return Err(WorkflowError::UiLoop {
                node: from.id.clone(),
            });
        }
        match from.ty {
            "Reroute" => match from.inputs.first().and_then(|i| i.link.as_ref()) {
                Some(up) => self.resolve(up, want, depth + 1),
                None => Ok(Source::Nothing),
            },
            "PrimitiveNode" => Ok(match from.widgets {
                Some(Value::Array(a)) => a.first().cloned().map_or(Source::Nothing, Source::Value),
                _ => Source::Nothing,
            }),
            "Note" | "MarkdownNote" => Ok(Source::Nothing),
            _ if from.mode == MODE_MUTED => Ok(Source::Nothing),
            _ if from.mode == MODE_BYPASS => {
                let out_ty = from.outputs.get(l.slot).copied().unwrap_or(want);
                let matches =
                    |i: &UiInput<'_>| i.ty == want || i.ty == out_ty || i.ty == "*" || want == "*";
                let pass = from
                    .inputs
                    .get(l.slot)
                    .filter(|i| matches(i))
                    .or_else(|| from.inputs.iter().find(|i| matches(i)));
                match pass.and_then(|i| i.link.as_ref()) {
                    Some(up) => self.resolve(up, want, depth + 1),
                    None => Ok(Source::Nothing),
                }
            }
            _ => Ok(Source::Link(from.id.clone(), l.slot)),
        }
    }
}

impl<'a> UiNode<'a> {
    fn parse(index: usize, v: &'a Value) -> Result<UiNode<'a>, WorkflowError> {
        let id = v
            .get("id")
            .and_then(id_text)
            .ok_or_else(|| malformed(format!("node #{index} has no id")))?;
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(format!("node {id} has no type")))?;
        let mode = v.get("mode").and_then(Value::as_i64).unwrap_or(0);
        let inputs = match v.get("inputs") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|i| {
                    let name = i
                        .get("widget")
                        .and_then(|w| w.get("name"))
                        .and_then(Value::as_str)
                        .or_else(|| i.get("name").and_then(Value::as_str))
                        .ok_or_else(|| {
                            malformed(format!("node {id} has an input without a name"))
                        })?;
                    Ok(UiInput {
                        name,
                        ty: i.get("type").and_then(Value::as_str).unwrap_or("*"),
                        link: i.get("link").and_then(id_text),
                    })
                })
                .collect::<Result<_, WorkflowError>>()?,
            Some(_) => return Err(malformed(format!("node {id}: `inputs` is not a list"))),
        };
        let outputs = v
            .get("outputs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|o| o.get("type").and_then(Value::as_str).unwrap_or("*"))
                    .collect()
            })
            .unwrap_or_default();
        Ok(UiNode {
            id,
            ty,
            mode,
            inputs,
            outputs,
            widgets: v.get("widgets_values"),
            title: v.get("title").and_then(Value::as_str),
        })
    }
}

/// A link row: `[id, from node, from slot, to node, to slot, type]`, or the object form
/// `{id, origin_id, origin_slot, target_id, target_slot, type}` of newer frontends.
fn parse_link(index: usize, v: &Value) -> Result<(String, UiLink), WorkflowError> {
    let (id, from, from_slot) = match v {
        Value::Array(a) => (a.first(), a.get(1), a.get(2)),
        Value::Object(o) => (o.get("id"), o.get("origin_id"), o.get("origin_slot")),
        _ => (None, None, None),
    };
    let bad = || {
        malformed(format!(
            "link #{index} is not [id, from node, from slot, to node, to slot, type]"
        ))
    };
    let id = id.and_then(id_text).ok_or_else(bad)?;
    let from = from.and_then(id_text).ok_or_else(bad)?;
    let slot = slot(from_slot).ok_or_else(bad)?;
    Ok((id, UiLink { from, slot }))
}

/// A widget value as an API literal: a list must be wrapped, a bare list is a link.
fn literal(v: &Value) -> Value {
    match v {
        Value::Array(_) => {
            let mut m = Map::new();
            m.insert("__value__".into(), v.clone());
            Value::Object(m)
        }
        other => other.clone(),
    }
}
