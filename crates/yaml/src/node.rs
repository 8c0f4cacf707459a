//! The spanned node tree and its construction from parser events.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle as ParserStyle};

use crate::{Error, Span};

/// Maximum nesting of sequences and mappings.
pub(crate) const MAX_DEPTH: usize = 256;
/// Maximum number of nodes that alias expansion may copy (guards against "billion laughs").
const MAX_ALIAS_NODES: usize = 100_000;

/// A YAML value with the position where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Where the value starts (for a tagged or anchored node, the tag or anchor).
    pub span: Span,
}

/// The value of a [`Node`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// No value at all: only for an empty document. (`key:` or `~` is a plain scalar that
    /// resolves to null.)
    Null,
    /// A scalar's text, after environment substitution and before type resolution.
    Scalar {
        /// The text.
        value: String,
        /// Plain scalars are resolved (null/bool/int/float/string); others are strings.
        style: ScalarStyle,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order; keys are nodes so their positions are kept. Merge keys are
    /// already applied and keys are unique.
    Map(Vec<(Node, Node)>),
}

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarStyle {
    /// Unquoted: resolved with the YAML 1.2 core schema.
    Plain,
    /// Single- or double-quoted, a block scalar (`|`, `>`), or tagged `!!str`: always a string.
    Quoted,
}

impl Node {
    /// The value of `key` in a mapping (compared with the key's text).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The items of a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// Whether this is [`NodeKind::Null`] or a plain scalar that resolves to null.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Null => true,
            NodeKind::Scalar { value, style } => {
                *style == ScalarStyle::Plain && matches!(resolve(value), Resolved::Null)
            }
            _ => false,
        }
    }

    fn is_merge_key(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { value, style: ScalarStyle::Plain } if value == "<<")
    }
}

/// A plain scalar resolved with the YAML 1.2 core schema.
#[derive(Debug, PartialEq)]
pub(crate) enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
}

pub(crate) fn resolve(s: &str) -> Resolved<'_> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    // `from_str_radix` alone would also accept a sign after `0x`.
    let int = |digits: &str, text: &str, radix: u32| {
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        i128::from_str_radix(text, radix).ok()
    };
    let int = if let Some(hex) = s.strip_prefix("0x") {
        int(hex, hex, 16)
    } else if let Some(oct) = s.strip_prefix("0o") {
        int(oct, oct, 8)
    } else {
        int(s.strip_prefix(['+', '-']).unwrap_or(s), s, 10)
    };
    if let Some(i) = int {
        return Resolved::Int(i);
    }
    if is_float(s)
        && let Ok(f) = s.parse()
    {
        return Resolved::Float(f);
    }
    Resolved::Str(s)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_digits = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 && int_digits == 0 {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Applies `${VAR}`, `${VAR:-default}` and `$${` (see the crate docs).
pub(crate) fn substitute<'s>(
    s: &'s str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'s, str>, String> {
    if !s.contains('$') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(body_start) = tail.strip_prefix("${") {
            let Some(end) = body_start.find('}') else {
                return Err(
                    "malformed environment reference: `${` without a closing `}` (write `$${` for a literal `${`)"
                        .to_owned(),
                );
            };
            let body = &body_start[..end];
            let (name, default) = match body.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (body, None),
            };
            let valid = name
                .chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
            if name.is_empty() || !valid {
                return Err(format!(
                    "malformed environment reference `${{{body}}}`: a variable name is [A-Za-z_][A-Za-z0-9_]*"
                ));
            }
            match (env(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (write ${{{name}:-default}} to give a default)"
                    ));
                }
            }
            rest = &body_start[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn span_of(marker: saphyr_parser::Marker) -> Span {
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Span::new(clamp(marker.line()), clamp(marker.col()).saturating_add(1))
}

/// A container being built.
struct Frame {
    span: Span,
    anchor: usize,
    /// Deepest nesting among the children (0 when only scalars).
    child_depth: usize,
    /// Nodes in this container, itself included.
    count: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        /// Text of each scalar key and where it was first seen.
        seen: HashMap<String, Span>,
    },
}

/// An anchored node: the node, its nesting depth and its node count.
type Anchored = (Node, usize, usize);

struct Builder<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    alias_nodes: usize,
    root: Option<Node>,
}

pub(crate) fn build(src: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Node, Error> {
    let mut builder = Builder {
        env,
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
        root: None,
    };
    let mut parser = Parser::new_from_str(src);
    let mut documents = 0;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| {
            let span = span_of(*e.marker());
            if e.info() == "recursion limit exceeded" {
                // The scanner's own cap on `[`/`{` nesting, just below ours.
                Error::at(
                    span,
                    "nesting too deep (flow collections nest at most 255 levels)",
                )
            } else {
                Error::at(span, format!("YAML syntax error: {}", e.info()))
            }
        })?;
        let span = span_of(span.start);
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Error::at(
                        span,
                        "expected one YAML document, found another one (`---`)",
                    ));
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                let forced_str = tag.is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let style = if style == ParserStyle::Plain && !forced_str {
                    ScalarStyle::Plain
                } else {
                    ScalarStyle::Quoted
                };
                let value = substitute(&value, builder.env)
                    .map_err(|msg| Error::at(span, msg))?
                    .into_owned();
                let node = Node {
                    kind: NodeKind::Scalar { value, style },
                    span,
                };
                builder.complete(node, anchor, 0, 1)?;
            }
            Event::SequenceStart(anchor, _) => {
                builder.open(span, anchor, FrameKind::Seq(vec![]))?
            }
            Event::MappingStart(anchor, _) => builder.open(
                span,
                anchor,
                FrameKind::Map {
                    entries: vec![],
                    key: None,
                    seen: HashMap::new(),
                },
            )?,
            Event::SequenceEnd | Event::MappingEnd => builder.close()?,
            Event::Alias(id) => {
                let Some((node, depth, count)) = builder.anchors.get(&id) else {
                    return Err(Error::at(
                        span,
                        "recursive alias: an alias cannot refer to a node that contains it",
                    ));
                };
                let (depth, count) = (*depth, *count);
                builder.alias_nodes = builder.alias_nodes.saturating_add(count);
                if builder.alias_nodes > MAX_ALIAS_NODES {
                    return Err(Error::at(
                        span,
                        format!("aliases expand to too many nodes (more than {MAX_ALIAS_NODES})"),
                    ));
                }
                if builder.stack.len() + depth > MAX_DEPTH {
                    return Err(too_deep(span));
                }
                // The copy takes the alias's position, so errors point where it is used.
                let node = Node {
                    kind: node.kind.clone(),
                    span,
                };
                builder.complete(node, 0, depth, count)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Null,
        span: Span::new(1, 1),
    }))
}

fn too_deep(span: Span) -> Error {
    Error::at(
        span,
        format!("nesting too deep (more than {MAX_DEPTH} levels)"),
    )
}

impl Builder<'_> {
    fn open(&mut self, span: Span, anchor: usize, kind: FrameKind) -> Result<(), Error> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(too_deep(span));
        }
        self.stack.push(Frame {
            span,
            anchor,
            child_depth: 0,
            count: 1,
            kind,
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), Error> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let kind = match frame.kind {
            FrameKind::Seq(items) => NodeKind::Seq(items),
            FrameKind::Map { entries, .. } => NodeKind::Map(merge(entries)?),
        };
        let node = Node {
            kind,
            span: frame.span,
        };
        self.complete(node, frame.anchor, frame.child_depth + 1, frame.count)
    }

    /// Attaches a finished node (of nesting `depth`, `count` nodes) to its parent.
    fn complete(
        &mut self,
        node: Node,
        anchor: usize,
        depth: usize,
        count: usize,
    ) -> Result<(), Error> {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), depth, count));
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        parent.child_depth = parent.child_depth.max(depth);
        parent.count = parent.count.saturating_add(count);
        match &mut parent.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map { entries, key, seen } => match key.take() {
                None => {
                    if let NodeKind::Scalar { value, .. } = &node.kind {
                        if let Some(first) = seen.get(value) {
                            return Err(Error::at(
                                node.span,
                                format!("duplicate key `{value}` (first at {first})"),
                            ));
                        }
                        seen.insert(value.clone(), node.span);
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

/// Applies merge keys: `<<: mapping` or `<<: [mapping, ...]` inserts the entries whose keys
/// are not written explicitly (earlier mappings in the list win).
fn merge(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, Error> {
    if !entries.iter().any(|(k, _)| k.is_merge_key()) {
        return Ok(entries);
    }
    let mut present: std::collections::HashSet<String> = entries
        .iter()
        .filter(|(k, _)| !k.is_merge_key())
        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
        .collect();
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if !key.is_merge_key() {
            out.push((key, value));
            continue;
        }
        let sources = match value.kind {
            NodeKind::Map(_) => vec![value],
            NodeKind::Seq(items) => items,
            _ => vec![value],
        };
        for source in sources {
            let NodeKind::Map(merged) = source.kind else {
                return Err(Error::at(
                    source.span,
                    "the merge key `<<` expects a mapping or a list of mappings",
                ));
            };
            for (k, v) in merged {
                if let Some(text) = k.as_str()
                    && !present.insert(text.to_owned())
                {
                    continue;
                }
                out.push((k, v));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_core_schema() {
        assert_eq!(resolve(""), Resolved::Null);
        assert_eq!(resolve("~"), Resolved::Null);
        assert_eq!(resolve("TRUE"), Resolved::Bool(true));
        assert_eq!(resolve("yes"), Resolved::Str("yes"));
        assert_eq!(resolve("-12"), Resolved::Int(-12));
        assert_eq!(resolve("+7"), Resolved::Int(7));
        assert_eq!(resolve("0x1F"), Resolved::Int(31));
        assert_eq!(resolve("0o17"), Resolved::Int(15));
        assert_eq!(resolve("0x"), Resolved::Str("0x"));
        assert_eq!(resolve("1_000"), Resolved::Str("1_000"));
        assert_eq!(resolve("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve("1."), Resolved::Float(1.0));
        assert_eq!(resolve("-.5e2"), Resolved::Float(-50.0));
        assert_eq!(resolve("1e3"), Resolved::Float(1000.0));
        assert_eq!(resolve("-.inf"), Resolved::Float(f64::NEG_INFINITY));
        assert!(matches!(resolve(".nan"), Resolved::Float(f) if f.is_nan()));
        assert_eq!(resolve("1e"), Resolved::Str("1e"));
        assert_eq!(resolve("."), Resolved::Str("."));
        assert_eq!(resolve("-"), Resolved::Str("-"));
        assert_eq!(resolve("1.2.3"), Resolved::Str("1.2.3"));
        // Too big for i128: the float grammar still matches.
        assert_eq!(resolve(&"9".repeat(40)), Resolved::Float(1e40));
    }

    #[test]
    fn substitution_rules() {
        let env = |name: &str| match name {
            "A" => Some("x".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let sub = |s: &str| substitute(s, &env).map(Cow::into_owned);
        assert_eq!(sub("no dollar").as_deref(), Ok("no dollar"));
        assert_eq!(sub("a${A}b${A}").as_deref(), Ok("axbx"));
        assert_eq!(sub("${EMPTY}").as_deref(), Ok(""));
        assert_eq!(sub("${EMPTY:-d}").as_deref(), Ok("d"));
        assert_eq!(sub("${NOPE:-}").as_deref(), Ok(""));
        assert_eq!(sub("${NOPE:-a:-b}").as_deref(), Ok("a:-b"));
        assert_eq!(sub("$${A} $A $ $$").as_deref(), Ok("${A} $A $ $$"));
        assert_eq!(
            sub("${1A}"),
            Err("malformed environment reference `${1A}`: a variable name is [A-Za-z_][A-Za-z0-9_]*".to_owned())
        );
        assert!(sub("${}").is_err());
        assert!(sub("${A").is_err());
        assert!(sub("${A B}").is_err());
    }
}
