//! Checks a workflow against the node catalogue before it is queued, the way ComfyUI's
//! `POST /prompt` would, so a job that cannot run is refused at submission instead of
//! failing on a backend later.
//!
//! Checked: unknown node classes (every node), the output targets, and for each node
//! the run executes: links to missing nodes, output indexes beyond the source's outputs,
//! link types, missing required inputs, literal types and ranges, combo values (against
//! every backend's options when given a merged catalogue), placeholders left in
//! non-text inputs; then cycles. Like ComfyUI, nodes no executed output needs are not
//! checked beyond their class. All problems are reported, not just the first.

use std::fmt;

use serde_json::Value;

use crate::catalog::{Catalog, ClassInfo, InputKind};
use crate::patch::{Token, check_literal, tokens};
use crate::plan::{self, Plan};
use crate::workflow::{Input, InputAt, Node, Workflow, short_json};

/// One problem with a workflow. The message names the node, its class and the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    #[error("node {node}: class `{class}` is not known to any backend")]
    UnknownClass { node: String, class: String },
    #[error("{at}: links to node {from_node}, which is not in the workflow")]
    MissingNode { at: Box<InputAt>, from_node: String },
    #[error(
        "{at}: links to output {index} of node {from_node} ({from_class}), which has {count} output(s)"
    )]
    BadOutputIndex {
        at: Box<InputAt>,
        from_node: String,
        from_class: String,
        index: usize,
        count: usize,
    },
    #[error(
        "{at}: expects {expected} but output {index} of node {from_node} ({from_class}) is {received}"
    )]
    TypeMismatch {
        at: Box<InputAt>,
        expected: String,
        received: String,
        from_node: String,
        from_class: String,
        index: usize,
    },
    #[error("node {node} ({class}): required input `{input}` is missing")]
    RequiredInputMissing {
        node: String,
        class: String,
        input: String,
    },
    #[error("{at}: {value} is {problem} (valid: {valid})")]
    InvalidValue {
        at: Box<InputAt>,
        value: String,
        /// ComfyUI's error type (`invalid_input_type`, `value_not_in_list`, ...).
        error_type: &'static str,
        problem: String,
        valid: String,
    },
    #[error("{at}: placeholder `{{{name}}}` was not filled in (pass parameter `{name}`)")]
    UnfilledPlaceholder { at: Box<InputAt>, name: String },
    #[error("nodes {} form a cycle", nodes.join(", "))]
    Cycle { nodes: Vec<String> },
    #[error(
        "the workflow has no output node (prompt_no_outputs); add one such as SaveImage or PreviewImage"
    )]
    NoOutputs,
    #[error("the list of output nodes to run is empty (prompt_no_outputs)")]
    EmptyTargets,
    #[error("output target {target} is not a node of the workflow")]
    TargetNotInWorkflow { target: String },
    #[error("output target {target} ({class}) is not an output node (prompt_no_outputs)")]
    TargetNotOutput { target: String, class: String },
}

impl ValidationError {
    /// The node at fault, when there is one (the key of ComfyUI's `node_errors`).
    pub fn node(&self) -> Option<&str> {
        use ValidationError::*;
        match self {
            UnknownClass { node, .. } | RequiredInputMissing { node, .. } => Some(node),
            MissingNode { at, .. }
            | BadOutputIndex { at, .. }
            | TypeMismatch { at, .. }
            | InvalidValue { at, .. }
            | UnfilledPlaceholder { at, .. } => Some(&at.node),
            TargetNotInWorkflow { target } | TargetNotOutput { target, .. } => Some(target),
            Cycle { .. } | NoOutputs | EmptyTargets => None,
        }
    }

    /// The closest ComfyUI error type, for API responses that mirror ComfyUI's.
    pub fn error_type(&self) -> &'static str {
        use ValidationError::*;
        match self {
            UnknownClass { .. } => "invalid_prompt",
            MissingNode { .. } => "exception_during_validation",
            BadOutputIndex { .. } => "bad_linked_input",
            TypeMismatch { .. } => "return_type_mismatch",
            RequiredInputMissing { .. } => "required_input_missing",
            InvalidValue { error_type, .. } => error_type,
            UnfilledPlaceholder { .. } => "invalid_input_type",
            Cycle { .. } => "dependency_cycle",
            NoOutputs | EmptyTargets | TargetNotInWorkflow { .. } | TargetNotOutput { .. } => {
                "prompt_no_outputs"
            }
        }
    }
}

/// Every problem found, in a stable order.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Validates the workflow for a run of `targets` (all output nodes when `None`) and
/// returns its plan.
pub fn validate(
    wf: &Workflow,
    catalog: &Catalog,
    targets: Option<&[String]>,
) -> Result<Plan, ValidationErrors> {
    let mut errs = Vec::new();
    let outputs = match plan::select_outputs(wf, catalog, targets) {
        Ok(o) => Some(o),
        Err(e) => {
            // A target with an unknown class is reported below with the other nodes.
            errs.extend(
                e.into_iter()
                    .filter(|e| !matches!(e, ValidationError::UnknownClass { .. })),
            );
            None
        }
    };
    // The nodes the run executes; all of them when the outputs are unclear.
    let scope: Option<std::collections::BTreeSet<&str>> = outputs
        .as_ref()
        .map(|o| o.iter().flat_map(|o| plan::ancestors(wf, o)).collect());
    for id in wf.ids_sorted() {
        let Some(node) = wf.nodes.get(id) else {
            continue;
        };
        let Some(class) = catalog.class(&node.class_type) else {
            errs.push(ValidationError::UnknownClass {
                node: id.to_string(),
                class: node.class_type.clone(),
            });
            continue;
        };
        if scope.as_ref().is_none_or(|s| s.contains(id)) {
            check_node(wf, catalog, id, node, class, &mut errs);
        }
    }
    let plan = match &outputs {
        Some(o) => match plan::build(wf, o) {
            Ok(p) => Some(p),
            Err(cycles) => {
                errs.extend(cycles);
                None
            }
        },
        None => None,
    };
    match plan {
        Some(p) if errs.is_empty() => Ok(p),
        _ => Err(ValidationErrors(errs)),
    }
}

fn check_node(
    wf: &Workflow,
    catalog: &Catalog,
    id: &str,
    node: &Node,
    class: &ClassInfo,
    errs: &mut Vec<ValidationError>,
) {
    let here = |input: &str| InputAt::new(id, &node.class_type, input);
    for name in &class.input_order {
        let Some(spec) = class.inputs.get(name) else {
            continue;
        };
        let Some(input) = node.input(name) else {
            if spec.required {
                errs.push(ValidationError::RequiredInputMissing {
                    node: id.to_string(),
                    class: node.class_type.clone(),
                    input: name.clone(),
                });
            }
            continue;
        };
        match input {
            Input::Link { node: src, output } => {
                let Some(src_node) = wf.nodes.get(src) else {
                    errs.push(ValidationError::MissingNode {
                        at: here(name),
                        from_node: src.to_string(),
                    });
                    continue;
                };
                // An unknown source class is reported on its own node.
                let Some(src_class) = catalog.class(&src_node.class_type) else {
                    continue;
                };
                let Some(received) = src_class.outputs.get(output) else {
                    errs.push(ValidationError::BadOutputIndex {
                        at: here(name),
                        from_node: src.to_string(),
                        from_class: src_node.class_type.clone(),
                        index: output,
                        count: src_class.outputs.len(),
                    });
                    continue;
                };
                let expected = spec.kind.type_name();
                if !types_match(received, expected) {
                    errs.push(ValidationError::TypeMismatch {
                        at: here(name),
                        expected: expected.to_string(),
                        received: received.clone(),
                        from_node: src.to_string(),
                        from_class: src_node.class_type.clone(),
                        index: output,
                    });
                }
            }
            Input::Value(v) => {
                if let Some(e) = check_value(id, node, name, &spec.kind, spec.image_upload, v) {
                    errs.push(e);
                }
            }
        }
    }
}

fn check_value(
    id: &str,
    node: &Node,
    name: &str,
    kind: &InputKind,
    upload: bool,
    v: &Value,
) -> Option<ValidationError> {
    if !matches!(kind, InputKind::String | InputKind::Link(_))
        && let Value::String(s) = v
        && let Some(Token::Placeholder(p)) = tokens(s)
            .into_iter()
            .find(|t| matches!(t, Token::Placeholder(_)))
    {
        return Some(ValidationError::UnfilledPlaceholder {
            at: InputAt::new(id, &node.class_type, name),
            name: p.to_string(),
        });
    }
    // Upload inputs name files the farm uploads before the run: any name will do.
    let kind = match kind {
        InputKind::Combo(_) if upload => &InputKind::String,
        k => k,
    };
    check_literal(kind, v)
        .err()
        .map(|p| ValidationError::InvalidValue {
            at: InputAt::new(id, &node.class_type, name),
            value: short_json(v),
            error_type: p.kind,
            problem: p.problem,
            valid: p.valid,
        })
}

/// ComfyUI's rule: equal, either side `*`, or comma-separated type lists that share a type.
pub fn types_match(received: &str, expected: &str) -> bool {
    if received == expected || received == "*" || expected == "*" {
        return true;
    }
    let split = |s: &str| {
        s.split(',')
            .map(str::trim)
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let exp = split(expected);
    split(received).iter().any(|r| exp.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_types() {
        assert!(types_match("IMAGE", "IMAGE"));
        assert!(types_match("*", "IMAGE"));
        assert!(types_match("LATENT", "*"));
        assert!(types_match("IMAGE", "IMAGE,MASK"));
        assert!(types_match("MASK, IMAGE", "IMAGE"));
        assert!(!types_match("LATENT", "IMAGE"));
        assert!(!types_match("LATENT,MASK", "IMAGE"));
    }
}
