//! The execution plan: which nodes a run executes, in which order, and which output
//! subgraphs are independent of each other.
//!
//! Like ComfyUI, only nodes that an executed output node needs (its ancestors through
//! links) run. The order is a topological order that breaks ties by node id (numeric ids
//! numerically, see [`compare_node_ids`]), so it is the same every time; ComfyUI itself
//! may pick another valid order.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::validate::ValidationError;
use crate::workflow::{Workflow, compare_node_ids};

/// What a run of the workflow executes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Every executed node, dependencies first.
    pub order: Vec<String>,
    /// The output nodes run (the targets, or every output node).
    pub outputs: Vec<String>,
    /// Independent output subgraphs: outputs whose ancestor sets share a node are in the
    /// same group.
    pub groups: Vec<OutputGroup>,
    /// Nodes no executed output needs (ComfyUI skips them).
    pub unused: Vec<String>,
}

/// Output nodes that share work, with every node they need (in plan order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputGroup {
    pub outputs: Vec<String>,
    pub nodes: Vec<String>,
}

/// The plan for `targets` (all output nodes when `None`). Fails on the first problem with
/// the targets, no output node, or a cycle; [`crate::validate::validate`] reports all.
pub fn plan(
    wf: &Workflow,
    catalog: &Catalog,
    targets: Option<&[String]>,
) -> Result<Plan, ValidationError> {
    let outputs = select_outputs(wf, catalog, targets).map_err(first)?;
    build(wf, &outputs).map_err(first)
}

fn first(mut errs: Vec<ValidationError>) -> ValidationError {
    // Callers only pass non-empty lists; keep a fallback rather than panic.
    if errs.is_empty() {
        ValidationError::NoOutputs
    } else {
        errs.swap_remove(0)
    }
}

/// Node id wrapper ordered by [`compare_node_ids`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Id<'a>(&'a str);

impl Ord for Id<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        compare_node_ids(self.0, other.0)
    }
}

impl PartialOrd for Id<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

pub(crate) fn sort_ids(ids: &mut [String]) {
    ids.sort_by(|a, b| compare_node_ids(a, b));
}

/// The output nodes to run, sorted: the targets (checked), or every output node.
pub(crate) fn select_outputs(
    wf: &Workflow,
    catalog: &Catalog,
    targets: Option<&[String]>,
) -> Result<Vec<String>, Vec<ValidationError>> {
    let mut errs = Vec::new();
    let mut outputs: Vec<String> = match targets {
        Some([]) => return Err(vec![ValidationError::EmptyTargets]),
        Some(ts) => {
            let mut ok = Vec::new();
            for t in ts.iter().collect::<BTreeSet<_>>() {
                match wf.nodes.get(t.as_str()) {
                    None => errs.push(ValidationError::TargetNotInWorkflow { target: t.clone() }),
                    Some(n) => match catalog.class(&n.class_type) {
                        None => errs.push(ValidationError::UnknownClass {
                            node: t.clone(),
                            class: n.class_type.clone(),
                        }),
                        Some(c) if !c.output_node => errs.push(ValidationError::TargetNotOutput {
                            target: t.clone(),
                            class: n.class_type.clone(),
                        }),
                        Some(_) => ok.push(t.clone()),
                    },
                }
            }
            ok
        }
        None => {
            let all: Vec<String> = wf
                .nodes
                .iter()
                .filter(|(_, n)| catalog.class(&n.class_type).is_some_and(|c| c.output_node))
                .map(|(id, _)| id.clone())
                .collect();
            if all.is_empty() {
                errs.push(ValidationError::NoOutputs);
            }
            all
        }
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    sort_ids(&mut outputs);
    Ok(outputs)
}

/// The nodes a node links to (that exist), deduplicated.
fn deps<'a>(wf: &'a Workflow, id: &str) -> BTreeSet<&'a str> {
    wf.nodes
        .get(id)
        .map(|n| {
            n.links()
                .filter_map(|(_, src, _)| wf.nodes.get_key_value(src).map(|(k, _)| k.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// A node and everything it needs through links.
pub(crate) fn ancestors<'a>(wf: &'a Workflow, id: &'a str) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![id];
    while let Some(n) = stack.pop() {
        if seen.insert(n) {
            stack.extend(deps(wf, n));
        }
    }
    seen
}

/// Orders the nodes the outputs need; the error lists each cycle among them.
pub(crate) fn build(wf: &Workflow, outputs: &[String]) -> Result<Plan, Vec<ValidationError>> {
    let per_output: Vec<BTreeSet<&str>> = outputs.iter().map(|o| ancestors(wf, o)).collect();
    let needed: BTreeSet<&str> = per_output.iter().flatten().copied().collect();

    // Kahn's algorithm, smallest ready id first.
    let mut remaining: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for &n in &needed {
        let d = deps(wf, n);
        remaining.insert(n, d.len());
        for src in d {
            dependents.entry(src).or_default().push(n);
        }
    }
    let mut ready: BinaryHeap<Reverse<Id>> = remaining
        .iter()
        .filter(|(_, c)| **c == 0)
        .map(|(n, _)| Reverse(Id(n)))
        .collect();
    let mut order: Vec<String> = Vec::with_capacity(needed.len());
    while let Some(Reverse(Id(n))) = ready.pop() {
        order.push(n.to_string());
        for &d in dependents.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(c) = remaining.get_mut(d) {
                *c -= 1;
                if *c == 0 {
                    ready.push(Reverse(Id(d)));
                }
            }
        }
    }
    if order.len() < needed.len() {
        let stuck: BTreeSet<&str> = remaining
            .iter()
            .filter(|(_, c)| **c > 0)
            .map(|(n, _)| *n)
            .collect();
        return Err(cycles(wf, &stuck)
            .into_iter()
            .map(|nodes| ValidationError::Cycle { nodes })
            .collect());
    }

    let position: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let groups = group_outputs(outputs, &per_output, &position);
    let mut unused: Vec<String> = wf
        .nodes
        .keys()
        .filter(|n| !needed.contains(n.as_str()))
        .cloned()
        .collect();
    sort_ids(&mut unused);
    Ok(Plan {
        order,
        outputs: outputs.to_vec(),
        groups,
        unused,
    })
}

/// Unions outputs whose ancestor sets overlap.
fn group_outputs(
    outputs: &[String],
    per_output: &[BTreeSet<&str>],
    position: &BTreeMap<&str, usize>,
) -> Vec<OutputGroup> {
    // Union-find over output indexes.
    let mut parent: Vec<usize> = (0..outputs.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, set) in per_output.iter().enumerate() {
        for &n in set {
            match owner.get(n) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    // Keep the smaller index as root so groups follow output order.
                    parent[a.max(b)] = a.min(b);
                }
                None => {
                    owner.insert(n, i);
                }
            }
        }
    }
    let mut by_root: BTreeMap<usize, (Vec<String>, BTreeSet<&str>)> = BTreeMap::new();
    for (i, set) in per_output.iter().enumerate() {
        let r = root(&mut parent, i);
        let g = by_root.entry(r).or_default();
        g.0.push(outputs[i].clone());
        g.1.extend(set.iter().copied());
    }
    by_root
        .into_values()
        .map(|(outs, nodes)| {
            let mut nodes: Vec<&str> = nodes.into_iter().collect();
            nodes.sort_by_key(|n| position.get(n).copied().unwrap_or(usize::MAX));
            OutputGroup {
                outputs: outs,
                nodes: nodes.into_iter().map(str::to_string).collect(),
            }
        })
        .collect()
}

/// The cycles among `stuck` nodes: each strongly connected component with more than one
/// node, or a node linking to itself, as sorted node ids. Nodes that only wait on a cycle
/// are not part of one.
fn cycles(wf: &Workflow, stuck: &BTreeSet<&str>) -> Vec<Vec<String>> {
    let reach = |start: &str| -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = deps(wf, start)
            .into_iter()
            .filter(|d| stuck.contains(d))
            .collect();
        while let Some(n) = stack.pop() {
            if seen.insert(n) {
                stack.extend(deps(wf, n).into_iter().filter(|d| stuck.contains(d)));
            }
        }
        seen
    };
    let reachable: BTreeMap<&str, BTreeSet<&str>> = stuck.iter().map(|&n| (n, reach(n))).collect();
    let empty = BTreeSet::new();
    let from = |n: &str| reachable.get(n).unwrap_or(&empty);
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    let mut ids: Vec<&str> = stuck.iter().copied().collect();
    ids.sort_by(|a, b| compare_node_ids(a, b));
    for n in ids {
        if done.contains(n) || !from(n).contains(n) {
            continue;
        }
        let comp: Vec<&str> = from(n)
            .iter()
            .copied()
            .filter(|m| from(m).contains(n))
            .collect();
        done.extend(comp.iter().copied());
        let mut comp: Vec<String> = comp.into_iter().map(str::to_string).collect();
        sort_ids(&mut comp);
        out.push(comp);
    }
    out
}
