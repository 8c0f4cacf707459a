//! Validation: a parsed [`PipelineConfig`] becomes a resolved [`Plan`] (nodes, links,
//! edge behaviour) or a list of positioned errors. Nothing is opened or started here, so
//! `visualpath validate` and `visualpath graph` work on a machine without the cameras.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use visualpath_core::Name;
use visualpath_fusion::Condition;
use visualpath_runtime::{EdgeSpec, NodeKind, Overflow, Qos};
use visualpath_yaml::{Error, Span, Spanned};

use crate::config::{
    ANALYZER_KINDS, AnalyzerSpec, FUSION_NODE, PipelineConfig, SINK_KINDS, SOURCE_KINDS, SinkSpec,
    SourceSpec,
};

/// Every problem found in a pipeline file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<Error>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A node of the resolved graph.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanNode {
    /// Name.
    pub name: Name,
    /// Kind.
    pub kind: NodeKind,
    /// One-line description (`file vtest.avi`, `motion (threshold 0.01, grid 4x3)`).
    pub detail: String,
}

/// A link of the resolved graph with its queue behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanLink {
    /// Producer.
    pub from: Name,
    /// Consumer.
    pub to: Name,
    /// Queue behaviour (declared in `edges:` or the default).
    pub spec: EdgeSpec,
    /// Whether `spec` was declared in `edges:`.
    pub declared: bool,
}

/// The resolved pipeline: what `visualpath graph` prints and what is built and run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The validated config.
    pub config: PipelineConfig,
    /// The file it came from, if any (relative paths in it are relative to the
    /// current directory, as on the command line).
    pub file: Option<PathBuf>,
    /// Nodes: sources, analyzers (in dependency order), fusion, sync groups, sinks.
    pub nodes: Vec<PlanNode>,
    /// Links.
    pub links: Vec<PlanLink>,
    /// Analyzer indices into `config.analyzers`, in dependency order.
    pub analyzer_order: Vec<usize>,
    /// Parsed `when:` conditions by analyzer index.
    pub conditions: HashMap<usize, Condition>,
    /// Per-source settings (`overrides:`): analyzer index -> source -> the analyzer with
    /// that source's settings.
    pub overrides: HashMap<usize, HashMap<Name, AnalyzerSpec>>,
}

/// Merges `patch` (a partial settings mapping) into the analyzer's settings and checks
/// the result like the file's own settings.
pub fn apply_override(
    spec: &AnalyzerSpec,
    patch: &serde_json::Value,
) -> Result<AnalyzerSpec, String> {
    fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
        match (base, patch) {
            (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                for (k, v) in p {
                    merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
            (b, p) => *b = p.clone(),
        }
    }
    if !patch.is_object() {
        return Err("an override is a mapping of settings, e.g. `{threshold: 0.05}`".into());
    }
    let mut out = spec.clone();
    macro_rules! patch_kind {
        ($field:ident) => {
            if let Some(c) = &spec.$field {
                let mut v = serde_json::to_value(c).map_err(|e| e.to_string())?;
                merge(&mut v, patch);
                out.$field = Some(serde_json::from_value(v).map_err(|e| e.to_string())?);
            }
        };
    }
    patch_kind!(motion);
    patch_kind!(frame_stats);
    patch_kind!(scene_cut);
    patch_kind!(detect);
    patch_kind!(track);
    patch_kind!(pose);
    patch_kind!(face);
    analyzer_settings_check(&out)?;
    Ok(out)
}

/// Parses and validates a pipeline file's text. `env` resolves `${VAR}` references.
pub fn load_str(
    src: &str,
    file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, ConfigErrors> {
    let with_file = |e: Error| match file {
        Some(f) => e.with_file(f),
        None => e,
    };
    let node = visualpath_yaml::parse(src, env).map_err(|e| ConfigErrors(vec![with_file(e)]))?;
    let config: PipelineConfig = visualpath_yaml::from_node(&node).map_err(|e| {
        ConfigErrors(vec![with_file(refine_unknown_kind(
            refine_condition_error(e, src),
        ))])
    })?;
    let mut plan =
        validate(config).map_err(|errs| ConfigErrors(errs.into_iter().map(with_file).collect()))?;
    plan.file = file.map(Path::to_path_buf);
    Ok(plan)
}

/// Reads, parses and validates a pipeline file.
pub fn load_path(path: &Path) -> Result<Plan, ConfigErrors> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![Error::at(
            Span::UNKNOWN,
            format!("{}: cannot read: {e}", path.display()),
        )])
    })?;
    load_str(&src, Some(path), &|k| std::env::var(k).ok())
}

/// A condition that fails to parse is reported by serde at the start of its scalar;
/// move the position to the offending character.
fn refine_condition_error(e: Error, src: &str) -> Error {
    let (Some(span), Some(col)) = (
        e.span(),
        visualpath_fusion::ConditionError::column_in_message(e.message()),
    ) else {
        return e;
    };
    let quoted = src
        .lines()
        .nth(span.line.saturating_sub(1) as usize)
        .and_then(|l| l.chars().nth(span.col.saturating_sub(1) as usize))
        .is_some_and(|c| c == '"' || c == '\'');
    let shift = col as u32 + u32::from(quoted);
    Error::at(
        Span::new(span.line, span.col + shift),
        e.message().to_owned(),
    )
}

/// serde reports an unknown component kind as an unknown field of the entry; say what
/// the valid kinds are instead.
fn refine_unknown_kind(e: Error) -> Error {
    let msg = e.message();
    let Some(rest) = msg.strip_prefix("unknown field `") else {
        return e;
    };
    let Some((field, expected)) = rest.split_once("`, expected one of ") else {
        return e;
    };
    for (what, a, kinds) in [
        ("source", "a", SOURCE_KINDS),
        ("analyzer", "an", ANALYZER_KINDS),
        ("sink", "a", SINK_KINDS),
    ] {
        let listed = |k: &&str| expected.contains(&format!("`{k}`"));
        if kinds.iter().all(listed) {
            let others: Vec<&str> = expected
                .split(", ")
                .map(|f| f.trim_matches('`'))
                .filter(|f| !kinds.contains(f))
                .collect();
            let span = e.span().unwrap_or(Span::UNKNOWN);
            return Error::at(
                span,
                format!(
                    "unknown {what} kind or field `{field}`: {a} {what} is one of {}; its other fields are {}",
                    list(kinds.iter()),
                    list(others)
                ),
            );
        }
    }
    e
}

fn at(span: Span, msg: impl Into<String>) -> Error {
    Error::at(span, msg)
}

fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn kind_error(what: &str, name: &str, found: &[&str], valid: &[&str]) -> String {
    if found.is_empty() {
        format!(
            "{what} `{name}` needs one of {} to say what it is",
            list(valid)
        )
    } else {
        format!(
            "{what} `{name}` sets {}; set exactly one of {}",
            list(found),
            list(valid)
        )
    }
}

/// Validates a parsed config into a plan.
pub fn validate(config: PipelineConfig) -> Result<Plan, Vec<Error>> {
    let mut errs = Vec::new();
    if let Some(v) = &config.version
        && v.value != 1
    {
        errs.push(at(
            v.span,
            format!("unsupported version {}; the only version is 1", v.value),
        ));
    }
    if config.sources.is_empty() {
        errs.push(at(
            Span::new(1, 1),
            "the pipeline has no sources; add at least one under `sources:`",
        ));
    }

    // Names are unique across every node kind, and `fusion` is reserved.
    let mut names: HashMap<Name, Span> = HashMap::new();
    let mut claim = |name: &Name, span: Span, errs: &mut Vec<Error>| {
        if name.as_str() == FUSION_NODE {
            errs.push(at(span, format!("`{FUSION_NODE}` is reserved for the node that evaluates the fusion rules; choose another name")));
        } else if let Some(first) = names.get(name) {
            errs.push(at(
                span,
                format!("duplicate name `{name}` (first used at {first}); names must be unique"),
            ));
        } else {
            names.insert(name.clone(), span);
        }
    };

    // Sources.
    let mut source_names = Vec::new();
    for s in &config.sources {
        claim(&s.name, s.name.span, &mut errs);
        let kinds = s.kinds();
        if kinds.len() != 1 {
            errs.push(at(
                s.span,
                kind_error("source", s.name.as_str(), &kinds, SOURCE_KINDS),
            ));
        }
        source_names.push(s.name.value.clone());
    }
    let is_source = |n: &Name| source_names.contains(n);

    // Analyzers: names (defaulting to the kind), kinds, settings.
    let mut analyzer_names: Vec<Name> = Vec::new();
    for a in &config.analyzers {
        let kinds = a.kinds();
        let default = kinds.first().copied().unwrap_or("analyzer");
        let name = match &a.name {
            Some(n) => n.value.clone(),
            None => Name::new(default).unwrap_or_else(|_| Name::from_static("analyzer")),
        };
        let span = a.name.as_ref().map(|n| n.span).unwrap_or(a.span);
        if kinds.len() != 1 {
            errs.push(at(
                a.span,
                kind_error("analyzer", name.as_str(), &kinds, ANALYZER_KINDS),
            ));
        }
        claim(&name, span, &mut errs);
        if let Err(e) = analyzer_settings_check(a) {
            errs.push(at(a.span, format!("analyzer `{name}`: {e}")));
        }
        if let Err(e) = a.schedule.validate() {
            errs.push(at(a.span, format!("analyzer `{name}`: schedule: {e}")));
        }
        analyzer_names.push(name);
    }
    let index_of: HashMap<&Name, usize> = analyzer_names
        .iter()
        .enumerate()
        .map(|(i, n)| (n, i))
        .collect();

    // `after:` references and `sources:` filters.
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); config.analyzers.len()];
    for (i, a) in config.analyzers.iter().enumerate() {
        for dep in &a.after {
            match index_of.get(&dep.value) {
                Some(&j) => parents[i].push(j),
                None => errs.push(at(
                    dep.span,
                    format!(
                        "`after:` names unknown analyzer `{}`; analyzers are: {}",
                        dep.value,
                        list(&analyzer_names)
                    ),
                )),
            }
        }
        for s in a.sources.iter().flatten() {
            if !is_source(&s.value) {
                errs.push(at(
                    s.span,
                    format!(
                        "unknown source `{}`; sources are: {}",
                        s.value,
                        list(&source_names)
                    ),
                ));
            }
        }
    }

    // Cycles among analyzers (reported at the `after:` entry that closes the cycle).
    let order = match analyzer_order(&parents) {
        Ok(o) => o,
        Err(cycle) => {
            let path: Vec<&str> = cycle.iter().map(|i| analyzer_names[*i].as_str()).collect();
            let (last, first) = (cycle[cycle.len() - 2], cycle[cycle.len() - 1]);
            let span = config.analyzers[first]
                .after
                .iter()
                .find(|d| d.value == analyzer_names[last])
                .map(|d| d.span)
                .unwrap_or(config.analyzers[first].span);
            errs.push(at(
                span,
                format!(
                    "analyzers form a cycle through `after:`: {}",
                    path.join(" -> ")
                ),
            ));
            (0..config.analyzers.len()).collect()
        }
    };

    // Upstream closure, for conditions.
    let mut upstream: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); config.analyzers.len()];
    for &i in &order {
        let mut set = BTreeSet::new();
        for &p in &parents[i] {
            set.insert(p);
            set.extend(upstream[p].iter().copied());
        }
        upstream[i] = set;
    }
    // Settings that name another analyzer (track's `detector`, detect's `regions_from`,
    // pose's `persons_from`) need it upstream on the same frame.
    for (i, a) in config.analyzers.iter().enumerate() {
        let refs: Vec<(&str, &Name)> = [
            a.track
                .as_ref()
                .and_then(|t| t.detector.as_ref())
                .map(|n| ("detector", n)),
            a.detect
                .as_ref()
                .and_then(|d| d.regions_from.as_ref())
                .map(|n| ("regions_from", n)),
            a.pose
                .as_ref()
                .and_then(|p| p.persons_from.as_ref())
                .map(|n| ("persons_from", n)),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (field, r) in refs {
            let ok = index_of.get(r).is_some_and(|j| upstream[i].contains(j));
            if !ok {
                errs.push(at(
                    config.analyzers[i].span,
                    format!(
                        "analyzer `{}`: `{field}: {r}` must name an analyzer in its `after:` (analyzers are: {})",
                        analyzer_names[i],
                        list(&analyzer_names)
                    ),
                ));
            }
        }
        if a.track.is_some() && a.after.is_empty() {
            errs.push(at(
                config.analyzers[i].span,
                format!(
                    "analyzer `{}` tracks detections: list the detector in `after:` (e.g. `after: [detect]`)",
                    analyzer_names[i]
                ),
            ));
        }
    }

    let mut conditions = HashMap::new();
    for (i, a) in config.analyzers.iter().enumerate() {
        let Some(w) = &a.when else { continue };
        match Condition::parse(&w.value) {
            Err(e) => errs.push(at(
                Span::new(w.span.line, w.span.col + e.column() as u32),
                e.to_string(),
            )),
            Ok(c) => {
                for r in c.expr().analyzers() {
                    let known =
                        index_of.get(&Name::new(r).unwrap_or_else(|_| Name::from_static("x")));
                    match known {
                        Some(j) if upstream[i].contains(j) => {}
                        Some(_) => errs.push(at(
                            w.span,
                            format!(
                                "the condition of `{}` refers to `{r}`, which does not run before it on the same frame; add `{r}` to its `after:`",
                                analyzer_names[i]
                            ),
                        )),
                        None => errs.push(at(
                            w.span,
                            format!("the condition refers to unknown analyzer `{r}`; analyzers are: {}", list(&analyzer_names)),
                        )),
                    }
                }
                conditions.insert(i, c);
            }
        }
    }

    // Per-source overrides of analyzer settings.
    let mut overrides: HashMap<usize, HashMap<Name, AnalyzerSpec>> = HashMap::new();
    for src in &config.sources {
        for (analyzer, patch) in &src.overrides {
            let Some(&i) = index_of.get(analyzer) else {
                errs.push(at(
                    patch.span,
                    format!(
                        "source `{}` overrides unknown analyzer `{analyzer}`; analyzers are: {}",
                        src.name.value,
                        list(&analyzer_names)
                    ),
                ));
                continue;
            };
            match apply_override(&config.analyzers[i], &patch.value) {
                Ok(spec) => {
                    overrides
                        .entry(i)
                        .or_default()
                        .insert(src.name.value.clone(), spec);
                }
                Err(e) => errs.push(at(
                    patch.span,
                    format!(
                        "source `{}`, override of analyzer `{analyzer}`: {e}",
                        src.name.value
                    ),
                )),
            }
        }
    }

    // Fusion rules.
    let mut rule_names = HashSet::new();
    let mut fusion_inputs: BTreeSet<usize> = BTreeSet::new();
    for r in &config.fusion {
        if !rule_names.insert(r.name.clone()) {
            errs.push(at(
                r.span,
                format!(
                    "two rules are called `{}`; rule names must be unique",
                    r.name
                ),
            ));
        }
        for a in r.when.expr().analyzers() {
            match analyzer_names.iter().position(|n| n.as_str() == a) {
                Some(j) => {
                    fusion_inputs.insert(j);
                }
                None => errs.push(at(
                    r.span,
                    format!(
                        "rule `{}`: the condition refers to unknown analyzer `{a}`; analyzers are: {}",
                        r.name,
                        list(&analyzer_names)
                    ),
                )),
            }
        }
        for s in r.sources.iter().flatten() {
            if !is_source(s) {
                errs.push(at(
                    r.span,
                    format!(
                        "rule `{}`: unknown source `{s}`; sources are: {}",
                        r.name,
                        list(&source_names)
                    ),
                ));
            }
        }
    }

    // Sync groups.
    let mut sync_names = Vec::new();
    for g in &config.sync {
        claim(&g.name, g.name.span, &mut errs);
        sync_names.push(g.name.value.clone());
        if g.sources.is_empty() {
            errs.push(at(
                g.span,
                format!(
                    "sync `{}` joins no sources; list them under `sources:`",
                    g.name.value
                ),
            ));
        }
        let mut seen = HashSet::new();
        for s in &g.sources {
            if !is_source(&s.value) {
                errs.push(at(
                    s.span,
                    format!(
                        "unknown source `{}`; sources are: {}",
                        s.value,
                        list(&source_names)
                    ),
                ));
            } else if !seen.insert(s.value.clone()) {
                errs.push(at(s.span, format!("source `{}` is listed twice", s.value)));
            }
        }
        if let Err(e) = g.policy.validate() {
            errs.push(at(g.span, format!("sync `{}`: {e}", g.name.value)));
        }
    }

    // Sinks and what feeds them.
    let mut sink_inputs: Vec<Vec<Name>> = Vec::new();
    for s in &config.sinks {
        claim(&s.name, s.name.span, &mut errs);
        let kinds = s.kinds();
        if kinds.len() != 1 {
            errs.push(at(
                s.span,
                kind_error("sink", s.name.as_str(), &kinds, SINK_KINDS),
            ));
        }
        let mut feeds: Vec<Name> = Vec::new();
        let add = |n: &Name, feeds: &mut Vec<Name>| {
            if !feeds.contains(n) {
                feeds.push(n.clone());
            }
        };
        let defaults = [
            Spanned::from("observations".to_string()),
            Spanned::from("events".to_string()),
        ];
        let inputs: Vec<&Spanned<String>> = match &s.inputs {
            Some(v) => v.iter().collect(),
            None => defaults.iter().collect(),
        };
        for inp in inputs {
            match inp.value.as_str() {
                "observations" => analyzer_names.iter().for_each(|n| add(n, &mut feeds)),
                "events" => {
                    if !config.fusion.is_empty() {
                        add(&Name::from_static(FUSION_NODE), &mut feeds);
                    }
                }
                "sync" => sync_names.iter().for_each(|n| add(n, &mut feeds)),
                other => {
                    let n = Name::new(other).ok();
                    match n {
                        Some(n) if analyzer_names.contains(&n) || sync_names.contains(&n) => {
                            add(&n, &mut feeds)
                        }
                        Some(n) if n.as_str() == FUSION_NODE && !config.fusion.is_empty() => {
                            add(&n, &mut feeds)
                        }
                        _ => {
                            let mut valid =
                                vec!["observations".to_string(), "events".into(), "sync".into()];
                            valid.extend(analyzer_names.iter().map(|n| n.to_string()));
                            valid.extend(sync_names.iter().map(|n| n.to_string()));
                            errs.push(at(
                                inp.span,
                                format!(
                                    "sink `{}` cannot take `{other}` as input; valid inputs: {}",
                                    s.name.value,
                                    list(valid)
                                ),
                            ));
                        }
                    }
                }
            }
        }
        sink_inputs.push(feeds);
    }

    if !errs.is_empty() {
        errs.sort_by_key(|e| e.span().unwrap_or(Span::UNKNOWN));
        return Err(errs);
    }

    // Resolved graph.
    let mut nodes = Vec::new();
    let mut links: Vec<PlanLink> = Vec::new();
    let paced: HashMap<&Name, bool> = config
        .sources
        .iter()
        .map(|s| (&s.name.value, s.realtime))
        .collect();
    let link = |from: &Name, to: &Name, to_kind: NodeKind, links: &mut Vec<PlanLink>| {
        let spec = match (paced.get(from), to_kind) {
            (Some(true), _) => EdgeSpec::realtime(),
            (_, NodeKind::Analyzer | NodeKind::Sync) => EdgeSpec::lossless(8),
            _ => EdgeSpec::lossless(1024),
        };
        links.push(PlanLink {
            from: from.clone(),
            to: to.clone(),
            spec,
            declared: false,
        });
    };
    for s in &config.sources {
        nodes.push(PlanNode {
            name: s.name.value.clone(),
            kind: NodeKind::Source,
            detail: describe_source(s),
        });
    }
    for &i in &order {
        let a = &config.analyzers[i];
        let name = &analyzer_names[i];
        let mut detail = describe_analyzer(a);
        if let Some(c) = conditions.get(&i) {
            let _ = write!(detail, " when `{}`", c.text());
        }
        if a.schedule != Default::default() {
            let _ = write!(detail, ", {}", a.schedule);
        }
        if let Some(per) = overrides.get(&i) {
            let mut srcs: Vec<&str> = per.keys().map(Name::as_str).collect();
            srcs.sort_unstable();
            let _ = write!(detail, ", settings overridden for {}", srcs.join(", "));
        }
        nodes.push(PlanNode {
            name: name.clone(),
            kind: NodeKind::Analyzer,
            detail,
        });
        if a.after.is_empty() {
            for s in &source_names {
                link(s, name, NodeKind::Analyzer, &mut links);
            }
        } else {
            for &p in &parents[i] {
                link(&analyzer_names[p], name, NodeKind::Analyzer, &mut links);
            }
        }
    }
    let fusion = Name::from_static(FUSION_NODE);
    if !config.fusion.is_empty() {
        let rules: Vec<String> = config
            .fusion
            .iter()
            .map(|r| format!("{} when `{}`", r.name, r.when.text()))
            .collect();
        nodes.push(PlanNode {
            name: fusion.clone(),
            kind: NodeKind::Fusion,
            detail: format!("{} rule(s): {}", rules.len(), rules.join("; ")),
        });
        for &j in &fusion_inputs {
            link(&analyzer_names[j], &fusion, NodeKind::Fusion, &mut links);
        }
    }
    for g in &config.sync {
        nodes.push(PlanNode {
            name: g.name.value.clone(),
            kind: NodeKind::Sync,
            detail: format!(
                "sync {} of {}",
                g.policy.name(),
                list(g.sources.iter().map(|s| s.value.as_str()))
            ),
        });
        for s in &g.sources {
            link(&s.value, &g.name.value, NodeKind::Sync, &mut links);
        }
    }
    for (k, s) in config.sinks.iter().enumerate() {
        nodes.push(PlanNode {
            name: s.name.value.clone(),
            kind: NodeKind::Sink,
            detail: describe_sink(s),
        });
        for f in &sink_inputs[k] {
            link(f, &s.name.value, NodeKind::Sink, &mut links);
        }
    }

    // Declared edge behaviour.
    let mut errs = Vec::new();
    for e in &config.edges {
        let Some(l) = links
            .iter_mut()
            .find(|l| l.from == e.from.value && l.to == e.to.value)
        else {
            let existing: Vec<String> = links
                .iter()
                .map(|l| format!("{} -> {}", l.from, l.to))
                .collect();
            errs.push(at(
                e.span,
                format!(
                    "there is no link `{}` -> `{}`; links are: {}",
                    e.from.value,
                    e.to.value,
                    list(existing)
                ),
            ));
            continue;
        };
        if l.declared {
            errs.push(at(
                e.span,
                format!(
                    "edge `{}` -> `{}` is declared twice",
                    e.from.value, e.to.value
                ),
            ));
        }
        let to_kind = nodes.iter().find(|n| n.name == l.to).map(|n| n.kind);
        let default_cap = if matches!(to_kind, Some(NodeKind::Analyzer | NodeKind::Sync)) {
            8
        } else {
            1024
        };
        l.spec = match e.qos {
            Qos::Realtime => {
                if e.capacity.is_some() || e.overflow.is_some() {
                    errs.push(at(e.span, "a `realtime` edge holds one item: `capacity` and `overflow` apply to `durable` edges only"));
                }
                EdgeSpec::realtime()
            }
            Qos::Durable => {
                let cap = e.capacity.unwrap_or(default_cap);
                if cap == 0 || cap > 1 << 20 {
                    errs.push(at(
                        e.span,
                        format!("capacity must be between 1 and {}, got {cap}", 1 << 20),
                    ));
                }
                match e.overflow.unwrap_or(Overflow::Block) {
                    Overflow::Block => EdgeSpec::lossless(cap),
                    Overflow::DropOldest => EdgeSpec::drop_oldest(cap),
                }
            }
        };
        l.declared = true;
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Plan {
        config,
        file: None,
        nodes,
        links,
        analyzer_order: order,
        conditions,
        overrides,
    })
}

fn analyzer_settings_check(a: &AnalyzerSpec) -> Result<(), String> {
    if let Some(c) = &a.detect {
        c.validate().map_err(|e| e.message)?;
    }
    if let Some(c) = &a.track {
        c.validate().map_err(|e| e.to_string())?;
    }
    if let Some(c) = &a.pose {
        c.validate().map_err(|e| e.message)?;
    }
    if let Some(c) = &a.face {
        c.validate().map_err(|e| e.message)?;
    }
    if let Some(c) = &a.motion {
        c.validate().map_err(|e| e.message)?;
    }
    if let Some(c) = &a.frame_stats {
        c.validate().map_err(|e| e.message)?;
    }
    if let Some(c) = &a.scene_cut {
        c.validate().map_err(|e| e.message)?;
    }
    Ok(())
}

/// Kahn's algorithm over `after:`; on a cycle, one cycle as indices with the first
/// repeated at the end.
fn analyzer_order(parents: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = parents.len();
    let mut indeg: Vec<usize> = parents.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..n).rev().filter(|i| indeg[*i] == 0).collect();
    let mut order = Vec::new();
    while let Some(i) = ready.pop() {
        order.push(i);
        for (j, ps) in parents.iter().enumerate() {
            for p in ps {
                if *p == i {
                    indeg[j] -= 1;
                    if indeg[j] == 0 {
                        ready.push(j);
                    }
                }
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Follow parents among the unresolved until one repeats.
    let stuck: Vec<usize> = (0..n).filter(|i| indeg[*i] > 0).collect();
    let mut path = vec![stuck[0]];
    loop {
        let cur = path[path.len() - 1];
        let Some(&p) = parents[cur].iter().find(|p| stuck.contains(p)) else {
            return Err(path);
        };
        if let Some(pos) = path.iter().position(|x| *x == p) {
            // path: cur <- ... ; reverse to read in `after` direction (parent -> child).
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return Err(cycle);
        }
        path.push(p);
    }
}

fn describe_source(s: &SourceSpec) -> String {
    let mut d = if let Some(c) = &s.rtsp {
        let transport = match c.transport {
            visualpath_media::RtspTransport::Tcp => "tcp",
            visualpath_media::RtspTransport::Udp => "udp",
        };
        format!(
            "rtsp {} over {transport}",
            visualpath_media::redact_location(&c.url)
        )
    } else if let Some(c) = &s.http {
        format!("http {}", visualpath_media::redact_location(&c.url))
    } else if let Some(c) = &s.webcam {
        format!("webcam {}", c.device)
    } else if let Some(f) = &s.file {
        format!("file {}{}", f.path, if f.looping { " (loop)" } else { "" })
    } else if let Some(i) = &s.images {
        format!("images {} at {} fps", i.path, i.fps)
    } else if let Some(x) = &s.synthetic {
        format!("synthetic {}x{} at {} fps", x.width, x.height, x.fps)
    } else {
        "?".into()
    };
    if s.realtime {
        d.push_str(", realtime");
    }
    if let Some(n) = s.max_frames {
        let _ = write!(d, ", max {n} frames");
    }
    if let Some(t) = s.duration {
        let _ = write!(d, ", for {t}");
    }
    d
}

fn describe_analyzer(a: &AnalyzerSpec) -> String {
    if let Some(c) = &a.detect {
        c.describe()
    } else if let Some(c) = &a.track {
        c.describe()
    } else if let Some(c) = &a.pose {
        c.describe()
    } else if let Some(c) = &a.face {
        c.describe()
    } else if let Some(c) = &a.motion {
        c.describe()
    } else if let Some(c) = &a.frame_stats {
        c.describe()
    } else if let Some(c) = &a.scene_cut {
        c.describe()
    } else {
        "?".into()
    }
}

fn describe_sink(s: &SinkSpec) -> String {
    if let Some(j) = &s.jsonl {
        format!("jsonl {}", j.path.display())
    } else if s.stdout.is_some() {
        "stdout".into()
    } else {
        "?".into()
    }
}

impl Plan {
    /// The graph as text: nodes with details, then links with their queue behaviour.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let w = self
            .nodes
            .iter()
            .map(|n| n.name.as_str().len())
            .max()
            .unwrap_or(4);
        for n in &self.nodes {
            let _ = writeln!(
                s,
                "{:<9} {:<w$}  {}",
                n.kind.to_string(),
                n.name.as_str(),
                n.detail
            );
        }
        s.push('\n');
        for l in &self.links {
            let _ = writeln!(
                s,
                "{:>w$} -> {:<w$}  {}{}",
                l.from.as_str(),
                l.to.as_str(),
                l.spec,
                if l.declared { " (declared)" } else { "" }
            );
        }
        s
    }

    /// The graph in Graphviz dot.
    pub fn to_dot(&self) -> String {
        let mut s = String::from(
            "digraph visualpath {\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n",
        );
        for n in &self.nodes {
            let shape = match n.kind {
                NodeKind::Source => "invhouse",
                NodeKind::Analyzer => "box",
                NodeKind::Fusion => "diamond",
                NodeKind::Sync => "hexagon",
                NodeKind::Sink => "house",
            };
            let label = format!("{}\\n{}", n.name, n.detail.replace('"', "'"));
            let _ = writeln!(s, "  \"{}\" [shape={shape}, label=\"{label}\"];", n.name);
        }
        for l in &self.links {
            let style = if l.spec.qos == Qos::Realtime {
                ", style=dashed"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "  \"{}\" -> \"{}\" [label=\"{}\"{style}];",
                l.from, l.to, l.spec
            );
        }
        s.push_str("}\n");
        s
    }

    /// The analyzer's name (explicit, or its kind).
    pub fn analyzer_name(&self, i: usize) -> Name {
        let a = &self.config.analyzers[i];
        a.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| {
            Name::new(a.kinds().first().copied().unwrap_or("analyzer"))
                .unwrap_or_else(|_| Name::from_static("analyzer"))
        })
    }
}
