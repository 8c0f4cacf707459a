//! A backend's node catalogue, read from ComfyUI's `GET /object_info`, and what a
//! workflow requires of a backend.
//!
//! The catalogue says which node classes exist, the type and range of each input, the
//! output types, and which classes are output nodes. It also carries the backend's model
//! files: a checkpoint or LoRA name is one of the options of a combo input
//! (`CheckpointLoaderSimple.ckpt_name`). So "can this backend run this job" is
//! [`Catalog::missing`] applied to [`requirements`].
//!
//! Input spec forms read (all seen in ComfyUI 0.3.75): `["INT", {min, max, ...}]`,
//! `["FLOAT", {...}]`, `["STRING", {...}]`, `["BOOLEAN", {...}]`, the legacy combo
//! `[["a", "b"], {...}]`, the newer `["COMBO", {"options": [...]}]`, and link types such
//! as `["IMAGE"]` or `["*"]`. Hidden inputs are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::workflow::{Input, Workflow};

/// Node classes by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    classes: BTreeMap<String, ClassInfo>,
}

/// One node class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassInfo {
    pub name: String,
    pub inputs: BTreeMap<String, InputSpec>,
    /// Required inputs then optional ones, in `input_order` when the server sends it.
    pub input_order: Vec<String>,
    /// Output types, by output index.
    pub outputs: Vec<String>,
    /// ComfyUI runs only what output nodes need.
    pub output_node: bool,
}

/// One (non-hidden) input of a class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub kind: InputKind,
    pub required: bool,
    /// The UI adds a "control after generate" widget value after this one (seeds).
    /// Set from the spec's `control_after_generate`, and for INT inputs named `seed` or
    /// `noise_seed` (the frontend adds it to those by name).
    pub control_after_generate: bool,
    /// The value names an uploaded file (`image_upload`, and likewise `video_upload`,
    /// `audio_upload`, `file_upload`), not a model the backend must have.
    pub image_upload: bool,
}

/// What an input takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InputKind {
    /// Bounds saturate to the `i64` range (seeds declare a `u64::MAX` max).
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Float {
        min: Option<f64>,
        max: Option<f64>,
    },
    String,
    Boolean,
    /// One of these options (numbers and other non-strings in their JSON text form).
    Combo(Vec<String>),
    /// Only a link of this type (`IMAGE`, `MODEL`, `*`, ...). A primitive declared with
    /// `forceInput` is a link too (`Link("INT")`): the UI gives it no widget.
    Link(String),
}

impl InputKind {
    /// The type name links are matched against (`INT`, `COMBO`, `IMAGE`, ...).
    pub fn type_name(&self) -> &str {
        match self {
            InputKind::Int { .. } => "INT",
            InputKind::Float { .. } => "FLOAT",
            InputKind::String => "STRING",
            InputKind::Boolean => "BOOLEAN",
            InputKind::Combo(_) => "COMBO",
            InputKind::Link(t) => t,
        }
    }

    /// A widget in the UI (has a value in `widgets_values`), as opposed to a link socket.
    pub fn is_widget(&self) -> bool {
        !matches!(self, InputKind::Link(_))
    }
}

/// A catalogue that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    #[error("object_info is not a JSON object of class name -> class info")]
    NotObject,
    #[error("object_info class `{class}`: {what}")]
    BadClass { class: String, what: String },
    #[error("object_info class `{class}` input `{input}`: {what}")]
    BadInput {
        class: String,
        input: String,
        what: String,
    },
}

impl Catalog {
    /// Reads `GET /object_info`.
    pub fn from_object_info(v: &Value) -> Result<Catalog, CatalogError> {
        let obj = v.as_object().ok_or(CatalogError::NotObject)?;
        let classes = obj
            .iter()
            .map(|(name, info)| Ok((name.clone(), ClassInfo::from_object_info(name, info)?)))
            .collect::<Result<_, CatalogError>>()?;
        Ok(Catalog { classes })
    }

    pub fn class(&self, name: &str) -> Option<&ClassInfo> {
        self.classes.get(name)
    }

    /// Adds or replaces a class.
    pub fn insert(&mut self, class: ClassInfo) {
        self.classes.insert(class.name.clone(), class);
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    pub fn class_names(&self) -> impl Iterator<Item = &str> {
        self.classes.keys().map(String::as_str)
    }

    pub fn classes(&self) -> impl Iterator<Item = &ClassInfo> {
        self.classes.values()
    }

    /// Union with another backend's catalogue, to validate against "any backend".
    ///
    /// Classes only in `other` are added. For a class in both, inputs only in `other`
    /// are added (after ours in `input_order`), combo options are unioned (ours first),
    /// and `output_node` is true if either says so; types and ranges stay ours.
    pub fn merge(&mut self, other: &Catalog) {
        for (name, theirs) in &other.classes {
            match self.classes.get_mut(name) {
                None => {
                    self.classes.insert(name.clone(), theirs.clone());
                }
                Some(ours) => ours.merge(theirs),
            }
        }
    }

    /// What this backend lacks to run a workflow with these requirements (empty: it can).
    ///
    /// A choice is missing when its class has that input as a combo without the value.
    /// Choices of a missing class are not listed again; an input this backend's version of
    /// the class does not have is not counted (ComfyUI ignores unknown inputs).
    pub fn missing(&self, req: &Requirements) -> Vec<Missing> {
        let mut out: Vec<Missing> = req
            .classes
            .iter()
            .filter(|c| !self.classes.contains_key(*c))
            .map(|c| Missing::Class(c.clone()))
            .collect();
        for choice in &req.choices {
            let Some(class) = self.classes.get(&choice.class) else {
                continue;
            };
            if let Some(InputSpec {
                kind: InputKind::Combo(options),
                ..
            }) = class.inputs.get(&choice.input)
                && !options.contains(&choice.value)
            {
                out.push(Missing::Choice(choice.clone()));
            }
        }
        out
    }
}

impl ClassInfo {
    fn from_object_info(key: &str, v: &Value) -> Result<ClassInfo, CatalogError> {
        let bad = |what: &str| CatalogError::BadClass {
            class: key.to_string(),
            what: what.to_string(),
        };
        let obj = v.as_object().ok_or_else(|| bad("not an object"))?;
        let input = match obj.get("input") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(bad("`input` is not an object")),
        };
        let order = obj.get("input_order");
        let mut inputs = BTreeMap::new();
        let mut input_order = Vec::new();
        for (section, required) in [("required", true), ("optional", false)] {
            let specs = match input.get(section) {
                None | Some(Value::Null) => continue,
                Some(Value::Object(m)) => m,
                Some(_) => return Err(bad(&format!("`input.{section}` is not an object"))),
            };
            for (name, spec) in specs {
                let spec = InputSpec::from_object_info(key, name, spec, required)?;
                inputs.insert(name.clone(), spec);
            }
            // The server's own order when given (serde_json sorts object keys otherwise).
            let listed: Vec<&str> = order
                .and_then(|o| o.get(section))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for name in listed {
                if specs.contains_key(name) && !input_order.iter().any(|n| n == name) {
                    input_order.push(name.to_string());
                }
            }
            for name in specs.keys() {
                if !input_order.contains(name) {
                    input_order.push(name.clone());
                }
            }
        }
        let outputs = match obj.get("output") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|t| match t {
                    Value::String(s) => s.clone(),
                    // A node returning a combo's option list.
                    Value::Array(_) => "COMBO".to_string(),
                    _ => "*".to_string(),
                })
                .collect(),
            Some(_) => return Err(bad("`output` is not a list")),
        };
        let output_node = obj
            .get("output_node")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_string();
        Ok(ClassInfo {
            name,
            inputs,
            input_order,
            outputs,
            output_node,
        })
    }

    fn merge(&mut self, other: &ClassInfo) {
        for name in &other.input_order {
            let Some(theirs) = other.inputs.get(name) else {
                continue;
            };
            match self.inputs.get_mut(name) {
                None => {
                    self.inputs.insert(name.clone(), theirs.clone());
                    self.input_order.push(name.clone());
                }
                Some(ours) => {
                    if let (InputKind::Combo(a), InputKind::Combo(b)) =
                        (&mut ours.kind, &theirs.kind)
                    {
                        for opt in b {
                            if !a.contains(opt) {
                                a.push(opt.clone());
                            }
                        }
                    }
                }
            }
        }
        self.output_node |= other.output_node;
    }

    /// The inputs the UI shows as widgets, in `widgets_values` order.
    pub fn widget_inputs(&self) -> impl Iterator<Item = (&str, &InputSpec)> {
        self.input_order.iter().filter_map(|n| {
            self.inputs
                .get(n)
                .filter(|s| s.kind.is_widget())
                .map(|s| (n.as_str(), s))
        })
    }
}

impl InputSpec {
    fn from_object_info(
        class: &str,
        name: &str,
        v: &Value,
        required: bool,
    ) -> Result<InputSpec, CatalogError> {
        let bad = |what: String| CatalogError::BadInput {
            class: class.to_string(),
            input: name.to_string(),
            what,
        };
        // `["TYPE", {options}]`; a bare `"TYPE"` is accepted as well.
        let (ty, opts) = match v {
            Value::Array(a) => match a.first() {
                Some(t) => (t, a.get(1)),
                None => return Err(bad("empty input spec".into())),
            },
            Value::String(_) => (v, None),
            other => {
                return Err(bad(format!(
                    "input spec {} is neither a list nor a type name",
                    crate::workflow::short_json(other)
                )));
            }
        };
        let opts = opts.and_then(Value::as_object);
        let flag = |k: &str| {
            opts.and_then(|o| o.get(k))
                .is_some_and(|v| v.as_bool().unwrap_or(!v.is_null()))
        };
        let kind = match ty {
            Value::Array(options) => InputKind::Combo(options.iter().map(option_text).collect()),
            Value::String(t) if flag("forceInput") => InputKind::Link(t.clone()),
            Value::String(t) => match t.as_str() {
                "INT" => InputKind::Int {
                    min: opts.and_then(|o| o.get("min")).and_then(saturating_i64),
                    max: opts.and_then(|o| o.get("max")).and_then(saturating_i64),
                },
                "FLOAT" => InputKind::Float {
                    min: opts.and_then(|o| o.get("min")).and_then(Value::as_f64),
                    max: opts.and_then(|o| o.get("max")).and_then(Value::as_f64),
                },
                "STRING" => InputKind::String,
                "BOOLEAN" => InputKind::Boolean,
                "COMBO" => InputKind::Combo(
                    opts.and_then(|o| o.get("options"))
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(option_text).collect())
                        .unwrap_or_default(),
                ),
                _ => InputKind::Link(t.clone()),
            },
            other => {
                return Err(bad(format!(
                    "input type {} is neither a type name nor a list of options",
                    crate::workflow::short_json(other)
                )));
            }
        };
        let is_int = matches!(kind, InputKind::Int { .. });
        let control_after_generate =
            flag("control_after_generate") || (is_int && matches!(name, "seed" | "noise_seed"));
        let image_upload = [
            "image_upload",
            "video_upload",
            "audio_upload",
            "file_upload",
        ]
        .iter()
        .any(|k| flag(k));
        Ok(InputSpec {
            kind,
            required,
            control_after_generate,
            image_upload,
        })
    }
}

fn option_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An integer bound clamped to `i64` (`0xffffffffffffffff` -> `i64::MAX`); floats allowed.
fn saturating_i64(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    if v.as_u64().is_some() {
        return Some(i64::MAX);
    }
    // `as` saturates at the i64 range; NaN cannot come out of JSON.
    v.as_f64().map(|f| f as i64)
}

/// What a workflow needs of a backend: node classes, and model files (combo choices).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Requirements {
    pub classes: BTreeSet<String>,
    pub choices: BTreeSet<Choice>,
}

/// A literal value given to a combo input: usually a model file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Choice {
    pub class: String,
    pub input: String,
    pub value: String,
}

/// Something a backend lacks for a job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Missing {
    Class(String),
    Choice(Choice),
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Class(c) => write!(f, "node class `{c}`"),
            Missing::Choice(c) => write!(f, "`{}` for {}.{}", c.value, c.class, c.input),
        }
    }
}

/// The classes a workflow uses, and the literal strings it gives to combo inputs (except
/// upload inputs: those name files the farm uploads, not models the backend must have).
/// Linked combo inputs are not choices (their value is only known at run time).
pub fn requirements(wf: &Workflow, catalog: &Catalog) -> Requirements {
    let mut req = Requirements {
        classes: wf.class_types(),
        choices: BTreeSet::new(),
    };
    for node in wf.nodes.values() {
        let Some(class) = catalog.class(&node.class_type) else {
            continue;
        };
        for name in node.inputs.keys() {
            let Some(spec) = class.inputs.get(name) else {
                continue;
            };
            if spec.image_upload || !matches!(spec.kind, InputKind::Combo(_)) {
                continue;
            }
            if let Some(Input::Value(Value::String(s))) = node.input(name) {
                req.choices.insert(Choice {
                    class: node.class_type.clone(),
                    input: name.clone(),
                    value: s.clone(),
                });
            }
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value, name: &str) -> InputSpec {
        InputSpec::from_object_info("C", name, &v, true).unwrap()
    }

    #[test]
    fn spec_forms() {
        assert_eq!(
            spec(
                json!(["INT", {"min": 0, "max": 18446744073709551615u64}]),
                "seed"
            ),
            InputSpec {
                kind: InputKind::Int {
                    min: Some(0),
                    max: Some(i64::MAX)
                },
                required: true,
                control_after_generate: true,
                image_upload: false
            }
        );
        assert_eq!(
            spec(json!(["INT", {"min": -1.5e30, "max": 7.0}]), "x").kind,
            InputKind::Int {
                min: Some(i64::MIN),
                max: Some(7)
            }
        );
        assert_eq!(
            spec(json!(["FLOAT", {"min": 0.1}]), "x").kind,
            InputKind::Float {
                min: Some(0.1),
                max: None
            }
        );
        assert_eq!(spec(json!(["STRING", {}]), "x").kind, InputKind::String);
        assert_eq!(spec(json!(["BOOLEAN"]), "x").kind, InputKind::Boolean);
        assert_eq!(
            spec(json!([["a", 2, "c"]]), "x").kind,
            InputKind::Combo(vec!["a".into(), "2".into(), "c".into()])
        );
        assert_eq!(
            spec(json!(["COMBO", {"options": ["x", "-x"]}]), "x").kind,
            InputKind::Combo(vec!["x".into(), "-x".into()])
        );
        assert_eq!(
            spec(json!(["COMBO", {}]), "x").kind,
            InputKind::Combo(vec![])
        );
        assert_eq!(
            spec(json!(["IMAGE"]), "x").kind,
            InputKind::Link("IMAGE".into())
        );
        assert_eq!(
            spec(json!(["INT", {"forceInput": true}]), "x").kind,
            InputKind::Link("INT".into())
        );
        assert!(spec(json!([[], {"image_upload": true}]), "image").image_upload);
        assert!(spec(json!(["COMBO", {"video_upload": true}]), "file").image_upload);
        assert!(
            spec(json!(["INT", {"control_after_generate": true}]), "value").control_after_generate
        );
        assert!(!spec(json!(["INT", {}]), "steps").control_after_generate);
        // A FLOAT named seed is not given a control widget by the frontend.
        assert!(!spec(json!(["FLOAT", {}]), "seed").control_after_generate);
    }

    #[test]
    fn bad_specs_name_class_and_input() {
        let e = InputSpec::from_object_info("Foo", "bar", &json!([]), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "object_info class `Foo` input `bar`: empty input spec"
        );
        let e = InputSpec::from_object_info("Foo", "bar", &json!([5]), true).unwrap_err();
        assert!(e.to_string().contains("input `bar`: input type 5"), "{e}");
    }
}
