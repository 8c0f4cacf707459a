//! Building and running a pipeline from Rust.
//!
//! ```no_run
//! use visualpath_runtime::{EdgeSpec, PipelineBuilder};
//! # fn demo(src: Box<dyn visualpath_sdk::Source>,
//! #         motion: std::sync::Arc<dyn visualpath_sdk::AnalyzerFactory>,
//! #         sink: Box<dyn visualpath_sdk::Sink>) -> Result<(), Box<dyn std::error::Error>> {
//! let mut p = PipelineBuilder::new();
//! let cam = p.source("cam", src, Default::default());
//! let mot = p.analyzer("motion", motion, Default::default());
//! let out = p.sink("out", sink, Default::default());
//! p.link(cam).with(EdgeSpec::realtime()).to(mot).to(out);
//! p.on_event(|e| println!("{} {:?}", e.rule, e.phase));
//! let report = p.build()?.run()?;
//! println!("{}", report.summary());
//! # Ok(()) }
//! ```
//!
//! What flows on a link depends on the kinds it joins:
//!
//! | from \ to | analyzer | sync | fusion | sink |
//! |---|---|---|---|---|
//! | source | frames | frames | - | - |
//! | analyzer | frames + upstream observations | frames | its observations | its observations |
//! | sync | - | - | - | sync sets |
//! | fusion | - | - | - | events |
//!
//! Default edge behaviour when a link does not say ([`Linker::with`]):
//! a source feeding anything uses `realtime` when the source is live or paced
//! (`realtime: true`), else `durable(8, block)` (lossless for files); analyzer to analyzer
//! or sync: `durable(8, block)`; anything to fusion or a sink: `durable(1024, block)`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use visualpath_core::{Event, Name, SharedClock, SystemClock, buffer};
use visualpath_fusion::{FusionEngine, RuleConfig};
use visualpath_sdk::{AnalyzerFactory, Fusion, Sink, Source};
use visualpath_sync::SyncPolicy;

use crate::edge::{Edge, EdgeSpec};
use crate::exec::{Control, Executor, Node, NodeWiring, Outputs, Scheduler, SourceExtras};
use crate::message::{Message, Packet};
use crate::nodes::analyzer::{AnalyzerNode, AnalyzerOptions, ErrorPolicy, Isolation, SourceInfos};
use crate::nodes::fusion::{FusionNode, Rules};
use crate::nodes::sink::{CallbackSink, SinkNode};
use crate::nodes::source::{SourceDriver, SourceOptions};
use crate::nodes::sync::SyncNode;
use crate::stats::{
    BufferReport, EdgeReport, LatencySummary, NodeKind, NodeReport, NodeStats, RunReport,
};
use crate::trace::{TraceWriter, Tracer};

/// A handle to a node declared on a [`PipelineBuilder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeRef(usize);

/// How a sink node behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkOptions {
    /// What to do when a write fails. Default: stop the pipeline (no silent data loss).
    pub on_error: SinkErrorPolicy,
}

/// What a sink does when a write fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SinkErrorPolicy {
    /// Stop the pipeline with the error.
    #[default]
    Stop,
    /// Count it and go on.
    Skip,
}

/// A pipeline that cannot be built, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

enum Decl {
    Source(Box<dyn Source>, SourceOptions),
    Analyzer(Arc<dyn AnalyzerFactory>, AnalyzerOptions),
    Fusion(Box<dyn Fusion>),
    Sync(Vec<Name>, SyncPolicy),
    Sink(Box<dyn Sink>, SinkOptions),
}

impl Decl {
    fn kind(&self) -> NodeKind {
        match self {
            Self::Source(..) => NodeKind::Source,
            Self::Analyzer(..) => NodeKind::Analyzer,
            Self::Fusion(..) => NodeKind::Fusion,
            Self::Sync(..) => NodeKind::Sync,
            Self::Sink(..) => NodeKind::Sink,
        }
    }
}

struct Link {
    from: usize,
    to: usize,
    spec: Option<EdgeSpec>,
}

/// A closure called for every event.
pub type EventCallback = Box<dyn FnMut(&Event) + Send>;

/// Declares nodes and links, then [`PipelineBuilder::build`]s a runnable [`Pipeline`].
pub struct PipelineBuilder {
    clock: SharedClock,
    executor: Executor,
    names: Vec<String>,
    decls: Vec<Decl>,
    links: Vec<Link>,
    callbacks: Vec<EventCallback>,
    trace: Option<PathBuf>,
    keep_alive: bool,
}

impl Default for PipelineBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Chains links: `p.link(a).to(b).to(c)` links a→b and b→c.
pub struct Linker<'a> {
    builder: &'a mut PipelineBuilder,
    from: NodeRef,
    spec: Option<EdgeSpec>,
}

impl Linker<'_> {
    /// Sets the behaviour of the next link made with [`Linker::to`].
    pub fn with(mut self, spec: EdgeSpec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// Links the current node to `to` and continues from `to`.
    pub fn to(self, to: NodeRef) -> Self {
        self.builder.links.push(Link {
            from: self.from.0,
            to: to.0,
            spec: self.spec,
        });
        Linker {
            builder: self.builder,
            from: to,
            spec: None,
        }
    }
}

impl PipelineBuilder {
    /// An empty pipeline on the system clock with the sequential executor.
    pub fn new() -> Self {
        Self {
            clock: SystemClock::shared(),
            executor: Executor::default(),
            names: Vec::new(),
            decls: Vec::new(),
            links: Vec::new(),
            callbacks: Vec::new(),
            trace: None,
            keep_alive: false,
        }
    }

    /// Uses another clock (tests use a simulated one).
    pub fn clock(&mut self, clock: SharedClock) -> &mut Self {
        self.clock = clock;
        self
    }

    /// The clock frames will be stamped with.
    pub fn shared_clock(&self) -> SharedClock {
        self.clock.clone()
    }

    /// Chooses the executor.
    pub fn executor(&mut self, executor: Executor) -> &mut Self {
        self.executor = executor;
        self
    }

    /// Keeps the pipeline running when its last source ends: sources come and go with
    /// [`RunningPipeline::add_source`] / [`RunningPipeline::remove_source`], and the run
    /// ends with [`RunningPipeline::shutdown`].
    pub fn keep_alive(&mut self, on: bool) -> &mut Self {
        self.keep_alive = on;
        self
    }

    /// Writes a per-frame trace to this file.
    pub fn trace(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.trace = Some(path.into());
        self
    }

    fn add(&mut self, name: &str, d: Decl) -> NodeRef {
        self.names.push(name.to_owned());
        self.decls.push(d);
        NodeRef(self.decls.len() - 1)
    }

    /// Declares a source.
    pub fn source(&mut self, name: &str, source: Box<dyn Source>, opts: SourceOptions) -> NodeRef {
        self.add(name, Decl::Source(source, opts))
    }

    /// Declares an analyzer.
    pub fn analyzer(
        &mut self,
        name: &str,
        factory: Arc<dyn AnalyzerFactory>,
        opts: AnalyzerOptions,
    ) -> NodeRef {
        self.add(name, Decl::Analyzer(factory, opts))
    }

    /// Declares a fusion node that evaluates declarative rules.
    pub fn fusion(&mut self, name: &str, rules: Vec<RuleConfig>) -> NodeRef {
        self.add(
            name,
            Decl::Fusion(Box::new(Rules(FusionEngine::new(rules)))),
        )
    }

    /// Declares a fusion node with custom logic.
    pub fn fusion_with(&mut self, name: &str, fusion: Box<dyn Fusion>) -> NodeRef {
        self.add(name, Decl::Fusion(fusion))
    }

    /// Declares a synchronizer joining `sources` (by name) with `policy`.
    pub fn sync(&mut self, name: &str, sources: Vec<Name>, policy: SyncPolicy) -> NodeRef {
        self.add(name, Decl::Sync(sources, policy))
    }

    /// Declares a sink.
    pub fn sink(&mut self, name: &str, sink: Box<dyn Sink>, opts: SinkOptions) -> NodeRef {
        self.add(name, Decl::Sink(sink, opts))
    }

    /// Starts a chain of links from `from`.
    pub fn link(&mut self, from: NodeRef) -> Linker<'_> {
        Linker {
            builder: self,
            from,
            spec: None,
        }
    }

    /// Calls `f` for every event of every fusion node, on a thread of its own.
    pub fn on_event(&mut self, f: impl FnMut(&Event) + Send + 'static) -> &mut Self {
        self.callbacks.push(Box::new(f));
        self
    }

    /// Checks the graph and creates its edges and nodes.
    pub fn build(mut self) -> Result<Pipeline, BuildError> {
        // Callback sinks hang off every fusion node.
        let fusions: Vec<usize> = (0..self.decls.len())
            .filter(|i| self.decls[*i].kind() == NodeKind::Fusion)
            .collect();
        let callbacks = std::mem::take(&mut self.callbacks);
        if !callbacks.is_empty() && fusions.is_empty() {
            tracing::warn!("on_event callbacks registered, but the pipeline has no fusion rules");
        }
        for (k, cb) in callbacks.into_iter().enumerate() {
            let s = self.add(
                &format!("on-event-{k}"),
                Decl::Sink(Box::new(CallbackSink(cb)), SinkOptions::default()),
            );
            for f in &fusions {
                self.links.push(Link {
                    from: *f,
                    to: s.0,
                    spec: None,
                });
            }
        }

        let n = self.decls.len();
        let mut names = Vec::with_capacity(n);
        let mut seen = HashSet::new();
        for raw in &self.names {
            let name = Name::new(raw).map_err(|e| BuildError(e.to_string()))?;
            if !seen.insert(name.clone()) {
                return Err(BuildError(format!(
                    "two nodes are called `{name}`; names must be unique"
                )));
            }
            names.push(name);
        }
        let kinds: Vec<NodeKind> = self.decls.iter().map(Decl::kind).collect();
        let mut link_set = HashSet::new();
        for l in &self.links {
            let (a, b) = (kinds[l.from], kinds[l.to]);
            use NodeKind::*;
            let ok = matches!(
                (a, b),
                (Source, Analyzer)
                    | (Source, Sync)
                    | (Analyzer, Analyzer)
                    | (Analyzer, Sync)
                    | (Analyzer, Fusion)
                    | (Analyzer, Sink)
                    | (Fusion, Sink)
                    | (Sync, Sink)
            );
            if !ok {
                return Err(BuildError(format!(
                    "cannot link {a} `{}` to {b} `{}`: links go source -> analyzer/sync, analyzer -> analyzer/sync/fusion/sink, fusion -> sink, sync -> sink",
                    names[l.from], names[l.to]
                )));
            }
            if l.from == l.to || !link_set.insert((l.from, l.to)) {
                return Err(BuildError(format!(
                    "link `{}` -> `{}` is declared twice or loops onto itself",
                    names[l.from], names[l.to]
                )));
            }
        }
        let order = topo_order(n, &self.links).map_err(|cycle| {
            BuildError(format!(
                "the pipeline has a cycle: {}",
                cycle
                    .iter()
                    .map(|i| names[*i].as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            ))
        })?;

        // Which sources each node carries.
        let mut carries: Vec<HashSet<Name>> = vec![HashSet::new(); n];
        for &i in &order {
            if kinds[i] == NodeKind::Source {
                carries[i].insert(names[i].clone());
            }
            let ins: Vec<usize> = self
                .links
                .iter()
                .filter(|l| l.to == i)
                .map(|l| l.from)
                .collect();
            for f in ins {
                let c = carries[f].clone();
                carries[i].extend(c);
            }
        }
        for i in 0..n {
            // In keep-alive mode, analyzers and sync groups may wait for sources added at
            // run time.
            let fed_later =
                self.keep_alive && matches!(kinds[i], NodeKind::Analyzer | NodeKind::Sync);
            if kinds[i] != NodeKind::Source && !fed_later && !self.links.iter().any(|l| l.to == i) {
                return Err(BuildError(format!(
                    "{} `{}` has no input: link a source or an analyzer to it",
                    kinds[i], names[i]
                )));
            }
            if let Decl::Sync(srcs, _) = &self.decls[i] {
                for s in srcs {
                    if !carries[i].contains(s) {
                        return Err(BuildError(format!(
                            "sync `{}` joins source `{s}`, but no link brings frames of `{s}` to it",
                            names[i]
                        )));
                    }
                }
            }
        }

        // Source infos, for analyzers that create per-source state.
        let mut infos = HashMap::new();
        for (i, d) in self.decls.iter().enumerate() {
            if let Decl::Source(s, _) = d {
                let mut info = s.info().clone();
                info.name = names[i].clone();
                infos.insert(names[i].clone(), info);
            }
        }
        let infos: SourceInfos = Arc::new(parking_lot::RwLock::new(infos));

        let clock = self.clock.clone();
        let now_clock = clock.clone();
        let now: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::new(move || now_clock.mono_ns());
        let (tracer, trace_writer) = match &self.trace {
            Some(p) => {
                let (t, w) =
                    Tracer::create(p, clock.clone()).map_err(|e| BuildError(e.to_string()))?;
                (Some(t), Some(w))
            }
            None => (None, None),
        };

        // Edges.
        let paced = |i: usize| match &self.decls[i] {
            Decl::Source(s, o) => s.info().live || o.realtime,
            _ => false,
        };
        let mut edges: Vec<(usize, usize, Arc<Edge<Message>>)> = Vec::new();
        for l in &self.links {
            let spec = l.spec.unwrap_or(match (kinds[l.from], kinds[l.to]) {
                (NodeKind::Source, _) if paced(l.from) => EdgeSpec::realtime(),
                (_, NodeKind::Analyzer | NodeKind::Sync) => EdgeSpec::lossless(8),
                _ => EdgeSpec::lossless(1024),
            });
            edges.push((
                l.from,
                l.to,
                Arc::new(Edge::new(
                    names[l.from].clone(),
                    names[l.to].clone(),
                    spec,
                    now.clone(),
                )),
            ));
        }

        // Nodes (everything but sources), in declaration order; ids index `nodes`.
        let mut node_index = vec![usize::MAX; n];
        let mut nodes = Vec::new();
        let mut stats_all = Vec::new();
        let mut sources = Vec::new();
        let control = Arc::new(Control::new(
            kinds.iter().filter(|k| **k != NodeKind::Source).count(),
        ));
        let decls = std::mem::take(&mut self.decls);
        for (i, d) in decls.into_iter().enumerate() {
            let stats = Arc::new(NodeStats::new(names[i].clone(), kinds[i]));
            stats_all.push(stats.clone());
            let inputs: Vec<Arc<Edge<Message>>> = edges
                .iter()
                .filter(|e| e.1 == i)
                .map(|e| e.2.clone())
                .collect();
            let input_sources: Vec<HashSet<Name>> = edges
                .iter()
                .filter(|e| e.1 == i)
                .map(|e| carries[e.0].clone())
                .collect();
            let mut outputs = Outputs::default();
            for e in edges.iter().filter(|e| e.0 == i) {
                match kinds[e.1] {
                    NodeKind::Analyzer | NodeKind::Sync => outputs.packets.push(e.2.clone()),
                    _ => outputs.records.push(e.2.clone()),
                }
            }
            let (behavior, dedicated): (Box<dyn crate::exec::Behavior>, bool) = match d {
                Decl::Source(source, opts) => {
                    sources.push(SourceDriver {
                        source,
                        own_stop: visualpath_sdk::StopToken::new(),
                        opts,
                        outputs: outputs.packets.into_iter().chain(outputs.records).collect(),
                        stats,
                        control: control.clone(),
                        clock: clock.clone(),
                        tracer: tracer.clone(),
                    });
                    continue;
                }
                Decl::Analyzer(factory, opts) => {
                    let dedicated = opts.isolation == Isolation::Thread || opts.timeout.is_some();
                    (
                        Box::new(AnalyzerNode::new(
                            names[i].clone(),
                            factory,
                            opts,
                            infos.clone(),
                            &input_sources,
                            tracer.clone(),
                        )),
                        dedicated,
                    )
                }
                Decl::Fusion(fusion) => (Box::new(FusionNode::new(fusion)), false),
                Decl::Sync(srcs, policy) => {
                    let sync = visualpath_sync::build::<Packet>(&policy, srcs.len())
                        .map_err(|e| BuildError(format!("sync `{}`: {e}", names[i])))?;
                    (Box::new(SyncNode::new(names[i].clone(), srcs, sync)), false)
                }
                Decl::Sink(sink, opts) => {
                    if let Some(status) = sink.status() {
                        let _ = stats.sink.set(status);
                    }
                    let policy = match opts.on_error {
                        SinkErrorPolicy::Stop => ErrorPolicy::Stop,
                        SinkErrorPolicy::Skip => ErrorPolicy::Skip,
                    };
                    (
                        Box::new(SinkNode::new(
                            names[i].clone(),
                            sink,
                            policy,
                            tracer.clone(),
                        )),
                        true,
                    )
                }
            };
            node_index[i] = nodes.len();
            nodes.push(Arc::new(Node::new(
                NodeWiring {
                    id: nodes.len(),
                    name: names[i].clone(),
                    inputs,
                    input_sources,
                    outputs,
                },
                stats,
                behavior,
                dedicated,
            )));
        }
        // Topology, for sources added at run time.
        let mut topo = Topology::default();
        for i in 0..n {
            if node_index[i] == usize::MAX {
                continue;
            }
            topo.by_name.insert(names[i].clone(), node_index[i]);
        }
        topo.kinds = vec![NodeKind::Analyzer; nodes.len()];
        topo.producers = vec![Vec::new(); nodes.len()];
        topo.consumers = vec![Vec::new(); nodes.len()];
        for i in 0..n {
            if node_index[i] != usize::MAX {
                topo.kinds[node_index[i]] = kinds[i];
            }
        }
        for (from, to, _) in &edges {
            let t = node_index[*to];
            let p = if node_index[*from] == usize::MAX {
                Producer::Source(names[*from].clone())
            } else {
                topo.consumers[node_index[*from]].push(t);
                Producer::Node(node_index[*from])
            };
            topo.producers[t].push(p);
        }
        let scheduler = Scheduler::new(nodes, clock.clone(), control.clone());
        for (from, to, e) in &edges {
            e.set_consumer(scheduler.waker(node_index[*to]));
            if node_index[*from] != usize::MAX {
                e.set_producer(scheduler.waker(node_index[*from]));
            }
        }
        control.keep_alive.store(self.keep_alive, Ordering::Release);
        Ok(Pipeline {
            scheduler,
            sources,
            control,
            stats: stats_all,
            edges: edges.into_iter().map(|e| e.2).collect(),
            executor: self.executor,
            trace_writer,
            shared: Shared {
                topo: Mutex::new(topo),
                infos,
                tracer,
                now,
            },
        })
    }
}

/// Where a node input comes from.
#[derive(Debug, Clone, PartialEq)]
enum Producer {
    Source(Name),
    Node(usize),
}

/// The graph's shape, kept for adding sources at run time.
#[derive(Default)]
struct Topology {
    by_name: HashMap<Name, usize>,
    kinds: Vec<NodeKind>,
    /// Per node, per input index: where it comes from.
    producers: Vec<Vec<Producer>>,
    /// Per node: the nodes it feeds.
    consumers: Vec<Vec<usize>>,
}

/// What the builder hands to the running pipeline for run-time changes.
struct Shared {
    topo: Mutex<Topology>,
    infos: SourceInfos,
    tracer: Option<Tracer>,
    now: Arc<dyn Fn() -> u64 + Send + Sync>,
}

/// Kahn's algorithm; on a cycle returns one cycle's nodes (first repeated at the end).
fn topo_order(n: usize, links: &[Link]) -> Result<Vec<usize>, Vec<usize>> {
    let mut indeg = vec![0usize; n];
    for l in links {
        indeg[l.to] += 1;
    }
    let mut queue: Vec<usize> = (0..n).filter(|i| indeg[*i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = queue.pop() {
        order.push(i);
        for l in links.iter().filter(|l| l.from == i) {
            indeg[l.to] -= 1;
            if indeg[l.to] == 0 {
                queue.push(l.to);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk backwards along links between remaining nodes until a node repeats.
    let rest: HashSet<usize> = (0..n).filter(|i| indeg[*i] > 0).collect();
    let mut path = vec![*rest.iter().min().unwrap_or(&0)];
    loop {
        let cur = path[path.len() - 1];
        let Some(prev) = links
            .iter()
            .find(|l| l.to == cur && rest.contains(&l.from))
            .map(|l| l.from)
        else {
            return Err(path);
        };
        if let Some(pos) = path.iter().position(|p| *p == prev) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return Err(cycle);
        }
        path.push(prev);
    }
}

/// A built pipeline, ready to run.
pub struct Pipeline {
    scheduler: Arc<Scheduler>,
    sources: Vec<SourceDriver>,
    control: Arc<Control>,
    stats: Vec<Arc<NodeStats>>,
    edges: Vec<Arc<Edge<Message>>>,
    executor: Executor,
    trace_writer: Option<TraceWriter>,
    shared: Shared,
}

/// An error that ended a run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    /// A thread could not be started.
    #[error("cannot start pipeline threads: {0}")]
    Spawn(String),
}

fn spawn_source(d: SourceDriver) -> Result<JoinHandle<()>, RunError> {
    std::thread::Builder::new()
        .name(format!("vp-src-{}", d.stats.name))
        .spawn(move || d.run())
        .map_err(|e| RunError::Spawn(e.to_string()))
}

impl Pipeline {
    /// What each source knows about itself (declaration order).
    pub fn source_infos(&self) -> Vec<visualpath_sdk::SourceInfo> {
        self.sources
            .iter()
            .map(|s| s.source.info().clone())
            .collect()
    }

    /// Runs to completion (every source ended and every record written) and reports.
    pub fn run(self) -> Result<RunReport, RunError> {
        Ok(self.start()?.wait())
    }

    /// Starts the pipeline in the background.
    pub fn start(self) -> Result<RunningPipeline, RunError> {
        let started = self.scheduler.clock.mono_ns();
        let buffers_before = buffer::stats();
        let threads = self
            .scheduler
            .start(self.executor.threads())
            .map_err(|e| RunError::Spawn(e.to_string()))?;
        let mut handles = HashMap::new();
        for s in self.sources {
            let name = s.stats.name.clone();
            let own_stop = s.own_stop.clone();
            self.control.register_source(own_stop.clone());
            let stats = s.stats.clone();
            let thread = spawn_source(s)?;
            handles.insert(
                name,
                SourceHandle {
                    own_stop,
                    thread: Some(thread),
                    stats,
                },
            );
        }
        Ok(RunningPipeline {
            scheduler: self.scheduler,
            control: self.control,
            stats: Mutex::new(self.stats),
            edges: Mutex::new(self.edges),
            threads,
            sources: Mutex::new(handles),
            started,
            buffers_before,
            trace_writer: self.trace_writer,
            shared: self.shared,
        })
    }
}

struct SourceHandle {
    own_stop: visualpath_sdk::StopToken,
    thread: Option<JoinHandle<()>>,
    stats: Arc<NodeStats>,
}

/// A pipeline running in the background.
///
/// Sources can be added and removed while it runs ([`RunningPipeline::add_source`],
/// [`RunningPipeline::remove_source`]); the other sources and every node keep running.
/// Build with [`PipelineBuilder::keep_alive`] so the pipeline does not end when its last
/// source does, and end it with [`RunningPipeline::shutdown`].
pub struct RunningPipeline {
    scheduler: Arc<Scheduler>,
    control: Arc<Control>,
    stats: Mutex<Vec<Arc<NodeStats>>>,
    edges: Mutex<Vec<Arc<Edge<Message>>>>,
    threads: Vec<JoinHandle<()>>,
    sources: Mutex<HashMap<Name, SourceHandle>>,
    started: u64,
    buffers_before: buffer::BufferStats,
    trace_writer: Option<TraceWriter>,
    shared: Shared,
}

impl RunningPipeline {
    /// Asks sources to end (interrupting ones that wait on a camera); everything in
    /// flight is still processed and written.
    pub fn stop(&self) {
        self.control.stop_sources();
    }

    /// Adds a source while the pipeline runs, feeding the nodes named in `targets`
    /// (analyzers or sync groups that take frames). The new source's frames reach every
    /// node downstream of the targets; nothing else is touched.
    pub fn add_source(
        &self,
        name: &str,
        source: Box<dyn Source>,
        opts: SourceOptions,
        targets: &[&str],
    ) -> Result<(), BuildError> {
        self.add_source_with(name, source, opts, targets, &SourceExtras::default())
    }

    /// [`RunningPipeline::add_source`], with analyzers that use other settings for this
    /// source (`extras.analyzer_factories`, by analyzer name).
    pub fn add_source_with(
        &self,
        name: &str,
        source: Box<dyn Source>,
        opts: SourceOptions,
        targets: &[&str],
        extras: &SourceExtras,
    ) -> Result<(), BuildError> {
        let name = Name::new(name).map_err(|e| BuildError(e.to_string()))?;
        let mut sources = self.sources.lock();
        let topo = self.shared.topo.lock();
        if sources.contains_key(&name) || topo.by_name.contains_key(&name) {
            return Err(BuildError(format!(
                "a node or source called `{name}` already exists"
            )));
        }
        if targets.is_empty() {
            return Err(BuildError(format!(
                "source `{name}` needs at least one analyzer or sync group to feed"
            )));
        }
        let mut target_ids = Vec::new();
        for t in targets {
            let id = topo
                .by_name
                .iter()
                .find(|(n, _)| n.as_str() == *t)
                .map(|(_, id)| *id)
                .ok_or_else(|| {
                    BuildError(format!(
                        "source `{name}`: no analyzer or sync group called `{t}`"
                    ))
                })?;
            if !matches!(topo.kinds[id], NodeKind::Analyzer | NodeKind::Sync) {
                return Err(BuildError(format!(
                    "source `{name}` cannot feed {} `{t}`: sources feed analyzers and sync groups",
                    topo.kinds[id]
                )));
            }
            target_ids.push(id);
        }
        drop(topo);
        // Every node downstream of the targets will carry the new source.
        let mut carriers: HashSet<usize> = HashSet::new();
        {
            let topo = self.shared.topo.lock();
            let mut stack = target_ids.clone();
            while let Some(n) = stack.pop() {
                if carriers.insert(n) {
                    stack.extend(topo.consumers[n].iter().copied());
                }
            }
        }
        let mut info = source.info().clone();
        info.name = name.clone();
        let paced = info.live || opts.realtime;
        self.shared.infos.write().insert(name.clone(), info);
        let stats = Arc::new(NodeStats::new(name.clone(), NodeKind::Source));
        let mut outputs = Vec::new();
        {
            let mut topo = self.shared.topo.lock();
            for &t in &target_ids {
                let node = &self.scheduler.nodes[t];
                let spec = if paced {
                    EdgeSpec::realtime()
                } else {
                    EdgeSpec::lossless(8)
                };
                let edge = Arc::new(Edge::new(
                    name.clone(),
                    node.name.clone(),
                    spec,
                    self.shared.now.clone(),
                ));
                edge.set_consumer(self.scheduler.waker(t));
                let idx = node.add_input(edge.clone(), Some(name.clone()));
                let producers = &mut topo.producers[t];
                if producers.len() <= idx {
                    producers.resize(idx + 1, Producer::Source(Name::from_static("removed")));
                }
                producers[idx] = Producer::Source(name.clone());
                self.edges.lock().push(edge.clone());
                outputs.push(edge);
            }
            for &c in &carriers {
                let inputs: HashSet<usize> = topo.producers[c]
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| match p {
                        Producer::Source(s) => *s == name,
                        Producer::Node(n) => carriers.contains(n),
                    })
                    .map(|(i, _)| i)
                    .collect();
                self.scheduler.nodes[c].expect_source(&name, inputs, extras);
            }
        }
        let own_stop = visualpath_sdk::StopToken::new();
        self.control.register_source(own_stop.clone());
        let driver = SourceDriver {
            source,
            own_stop: own_stop.clone(),
            opts,
            outputs,
            stats: stats.clone(),
            control: self.control.clone(),
            clock: self.scheduler.clock.clone(),
            tracer: self.shared.tracer.clone(),
        };
        let thread = spawn_source(driver).map_err(|e| BuildError(e.to_string()))?;
        self.stats.lock().push(stats.clone());
        sources.insert(
            name,
            SourceHandle {
                own_stop,
                thread: Some(thread),
                stats,
            },
        );
        Ok(())
    }

    /// Stops a source and waits until every node has flushed what it had of it (so the
    /// same name can be added again). The other sources are not touched.
    pub fn remove_source(&self, name: &str) -> Result<(), BuildError> {
        let name = Name::new(name).map_err(|e| BuildError(e.to_string()))?;
        let handle = self
            .sources
            .lock()
            .remove(&name)
            .ok_or_else(|| BuildError(format!("no source called `{name}`")))?;
        handle.own_stop.stop();
        if let Some(t) = handle.thread {
            let _ = t.join();
        }
        // Wait for the end marker to pass through every node (bounded: a node stuck
        // behind a full blocking queue is reported, not waited for forever).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.scheduler.nodes.iter().any(|n| n.awaits(&name)) {
            if std::time::Instant::now() > deadline {
                return Err(BuildError(format!(
                    "source `{name}` stopped, but its last frames are still queued after 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stats.lock().retain(|s| !Arc::ptr_eq(s, &handle.stats));
        self.edges.lock().retain(|e| e.from != name);
        self.shared.infos.write().remove(&name);
        Ok(())
    }

    /// Input slots of every node (for leak checks: stays flat over add/remove cycles).
    pub fn input_slots(&self) -> usize {
        self.scheduler.nodes.iter().map(|n| n.input_slots()).sum()
    }

    /// Names of the sources that have not stopped.
    pub fn source_names(&self) -> Vec<Name> {
        let mut v: Vec<Name> = self
            .sources
            .lock()
            .iter()
            .filter(|(_, h)| h.stats.source.state() != crate::stats::SourceState::Stopped)
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    }

    /// Every source added and not removed, with its state.
    pub fn source_states(&self) -> Vec<(Name, crate::stats::SourceState)> {
        let mut v: Vec<_> = self
            .sources
            .lock()
            .iter()
            .map(|(n, h)| (n.clone(), h.stats.source.state()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Stops every source and ends the run (also for a keep-alive pipeline).
    pub fn shutdown(self) -> RunReport {
        self.stop();
        self.control.keep_alive.store(false, Ordering::Release);
        for n in &self.scheduler.nodes {
            n.request_finish_check();
            self.scheduler.wake_node(n.id);
        }
        self.wait()
    }

    /// Whether every node has finished.
    pub fn is_done(&self) -> bool {
        self.control.wait_done(Duration::ZERO)
    }

    /// Live counters of every node and source.
    pub fn node_stats(&self) -> Vec<Arc<NodeStats>> {
        self.stats.lock().clone()
    }

    /// A snapshot report without stopping.
    pub fn report(&self) -> RunReport {
        let b = buffer::stats();
        RunReport {
            elapsed_secs: (self.scheduler.clock.mono_ns() - self.started) as f64 / 1e9,
            nodes: self
                .stats
                .lock()
                .iter()
                .map(|s| s.snapshot())
                .collect::<Vec<NodeReport>>(),
            edges: self
                .edges
                .lock()
                .iter()
                .map(|e| {
                    let s = e.stats();
                    EdgeReport {
                        from: e.from.clone(),
                        to: e.to.clone(),
                        spec: e.spec().to_string(),
                        pushed: s.pushed.load(Ordering::Relaxed),
                        delivered: s.delivered.load(Ordering::Relaxed),
                        replaced: s.replaced.load(Ordering::Relaxed),
                        overflow: s.overflow.load(Ordering::Relaxed),
                        discarded: s.discarded.load(Ordering::Relaxed),
                        max_depth: s.max_depth.load(Ordering::Relaxed),
                        queue_age: LatencySummary::of(&s.queue_age),
                    }
                })
                .collect(),
            events: self.control.events.load(Ordering::Relaxed),
            buffers: BufferReport {
                allocated: b.allocated - self.buffers_before.allocated,
                reused: b.reused - self.buffers_before.reused,
                copies: b.copies - self.buffers_before.copies,
            },
            error: self.control.error().map(|e| e.to_string()),
        }
    }

    /// Waits for the end of the run and returns the report.
    pub fn wait(mut self) -> RunReport {
        let handles: Vec<JoinHandle<()>> = self
            .sources
            .lock()
            .values_mut()
            .filter_map(|h| h.thread.take())
            .collect();
        for h in handles {
            let _ = h.join();
        }
        while !self.control.wait_done(Duration::from_millis(200)) {}
        self.scheduler.shutdown();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        let report = self.report();
        // Edges hold wakers that hold the scheduler that holds the nodes that hold the
        // edges: break the cycle so everything (and every tracer handle) is freed.
        for e in self.edges.lock().iter() {
            e.clear_wakers();
        }
        let writer = self.trace_writer.take();
        drop(self);
        if let Some(w) = writer {
            match w.finish() {
                Ok((_, dropped)) if dropped > 0 => {
                    tracing::warn!(
                        dropped,
                        "trace entries dropped because the writer fell behind"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("trace file: {e}"),
            }
        }
        report
    }
}
