//! Executors: how nodes are mapped onto threads.
//!
//! Every non-source node is an *actor*: it owns its state, has one input edge per
//! incoming link, and handles one message at a time, so per-node order is preserved and
//! no state is shared. Where actors run is the executor's choice:
//!
//! - `sequential`: one worker thread runs every pool node (deterministic, lowest
//!   overhead, the default for files);
//! - `pool`: N worker threads pick ready nodes from a shared run queue (parallel
//!   analyzers, pipelining across frames);
//! - nodes marked *dedicated* (every sink, and analyzers with `isolation: thread` or a
//!   `timeout`) get a thread of their own, so a slow or stuck one never holds a pool
//!   worker.
//!
//! Sources always run on their own threads (they block on I/O).
//!
//! Backpressure without deadlock: a pool node is only run when all of its `block`
//! output edges have room, so a worker never waits on a full queue (with one worker a
//! blocking push would otherwise deadlock). A node that is not runnable for lack of room
//! is woken by its consumer's next pop.
//!
//! Wake-ups are race-free by construction: a producer pushes *then* tries to move the
//! consumer from idle to queued; a worker marks a node idle *then* re-checks its inputs.
//! One of the two always sees the other's change.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};
use visualpath_core::{Name, Record, SharedClock, StageError};

use crate::edge::{Edge, Wake};
use crate::message::{Message, Packet};
use crate::stats::NodeStats;

/// How pool nodes are mapped onto threads.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Executor {
    /// One worker thread for all analyzers and fusion rules, in order. Deterministic.
    #[default]
    Sequential,
    /// A pool of worker threads (0 = one per CPU core).
    Pool {
        /// Number of worker threads; 0 means one per CPU core. Default `0`.
        #[serde(default)]
        threads: usize,
    },
}

impl Executor {
    /// Number of pool threads.
    pub fn threads(&self) -> usize {
        match *self {
            Self::Sequential => 1,
            Self::Pool { threads: 0 } => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            Self::Pool { threads } => threads,
        }
    }
}

/// What a node does with its messages.
pub(crate) trait Behavior: Send {
    /// Handles one message that arrived on input `input` (never an `Eos`: those are
    /// handled by the node runtime, which calls [`Behavior::on_source_end`]).
    fn on_message(&mut self, input: usize, msg: Message, cx: &mut NodeCx<'_>);

    /// Every input carrying `source` has delivered its end: flush what belongs to it.
    /// The runtime forwards the end marker downstream afterwards.
    fn on_source_end(&mut self, _source: &Name, _cx: &mut NodeCx<'_>) {}

    /// A source added at run time will arrive on `inputs`.
    fn source_added(&mut self, _source: &Name, _inputs: &HashSet<usize>, _extras: &SourceExtras) {}

    /// A timer set with [`NodeCx::set_timer`] is due.
    fn on_timer(&mut self, _now_ns: u64, _cx: &mut NodeCx<'_>) {}

    /// Every source has ended: final flush. Returning an error fails the pipeline.
    fn on_finish(&mut self, _cx: &mut NodeCx<'_>) {}
}

/// Output edges of a node, by what they carry.
#[derive(Default)]
pub(crate) struct Outputs {
    pub packets: Vec<Arc<Edge<Message>>>,
    pub records: Vec<Arc<Edge<Message>>>,
}

impl Outputs {
    fn all(&self) -> impl Iterator<Item = &Arc<Edge<Message>>> {
        self.packets.iter().chain(self.records.iter())
    }
}

/// Settings that come with a source added at run time.
#[derive(Default, Clone)]
pub struct SourceExtras {
    /// Analyzers (by name) that use another factory for this source (per-camera settings).
    pub analyzer_factories: HashMap<Name, std::sync::Arc<dyn visualpath_sdk::AnalyzerFactory>>,
}

impl std::fmt::Debug for SourceExtras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceExtras")
            .field(
                "analyzer_factories",
                &self.analyzer_factories.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What a behavior can do while handling a message.
pub(crate) struct NodeCx<'a> {
    pub clock: &'a SharedClock,
    pub stats: &'a NodeStats,
    pub outputs: &'a Outputs,
    pub control: &'a Control,
    timer: &'a mut Option<u64>,
}

impl NodeCx<'_> {
    /// Sends a packet to every packet output.
    pub fn emit_packet(&mut self, p: Packet) {
        let n = self.outputs.packets.len();
        for (i, e) in self.outputs.packets.iter().enumerate() {
            if i + 1 == n {
                e.push(Message::Packet(p));
                break;
            }
            e.push(Message::Packet(p.clone()));
        }
    }

    /// Sends a record to every record output.
    pub fn emit_record(&mut self, r: Record) {
        self.stats.emitted.fetch_add(1, Ordering::Relaxed);
        for e in &self.outputs.records {
            e.push(Message::Record(r.clone()));
        }
    }

    /// Whether anything consumes packets.
    pub fn has_packet_outputs(&self) -> bool {
        !self.outputs.packets.is_empty()
    }

    /// Asks for [`Behavior::on_timer`] at monotonic time `at_ns` (replaces an earlier
    /// request).
    pub fn set_timer(&mut self, at_ns: u64) {
        *self.timer = Some(at_ns);
    }

    /// Stops the whole pipeline with an error.
    pub fn fail(&self, err: StageError) {
        self.control.fail(err);
    }
}

const IDLE: u8 = 0;
const QUEUED: u8 = 1;
const RUNNING: u8 = 2;

struct NodeInner {
    behavior: Box<dyn Behavior>,
    /// For each source, the inputs that still owe its end marker.
    pending_ends: HashMap<Name, HashSet<usize>>,
    rr: usize,
    timer: Option<u64>,
    finished: bool,
}

/// Where a node sits in the graph.
pub(crate) struct NodeWiring {
    pub id: usize,
    pub name: Name,
    pub inputs: Vec<Arc<Edge<Message>>>,
    /// `input_sources[i]` lists the sources input `i` carries.
    pub input_sources: Vec<HashSet<Name>>,
    pub outputs: Outputs,
}

/// One input of a node.
#[derive(Clone)]
struct InputSlot {
    edge: Arc<Edge<Message>>,
    /// The source this edge comes straight from, when it was added at run time: the slot
    /// is removed once that source's end marker has been taken from it.
    direct: Option<Name>,
}

/// A node: its edges, its behavior, its scheduling state.
pub(crate) struct Node {
    pub id: usize,
    pub name: Name,
    /// Inputs by index; an index is never reused (removed inputs leave a `None`).
    inputs: RwLock<Vec<Option<InputSlot>>>,
    pub outputs: Outputs,
    pub stats: Arc<NodeStats>,
    pub dedicated: bool,
    inner: Mutex<NodeInner>,
    sched: AtomicU8,
    timer_due: AtomicBool,
    finish_check: AtomicBool,
    /// Set once the node has finished: it never has work again (a timer that comes due or
    /// a flag set after the end must not keep rescheduling it).
    done: AtomicBool,
    notify: (Mutex<bool>, Condvar),
}

impl Node {
    /// A node.
    pub fn new(
        wiring: NodeWiring,
        stats: Arc<NodeStats>,
        behavior: Box<dyn Behavior>,
        dedicated: bool,
    ) -> Self {
        let NodeWiring {
            id,
            name,
            inputs,
            input_sources,
            outputs,
        } = wiring;
        let mut pending_ends: HashMap<Name, HashSet<usize>> = HashMap::new();
        for (i, srcs) in input_sources.iter().enumerate() {
            for s in srcs {
                pending_ends.entry(s.clone()).or_default().insert(i);
            }
        }
        Self {
            id,
            name,
            inputs: RwLock::new(
                inputs
                    .into_iter()
                    .map(|edge| Some(InputSlot { edge, direct: None }))
                    .collect(),
            ),
            outputs,
            stats,
            dedicated,
            inner: Mutex::new(NodeInner {
                behavior,
                pending_ends,
                rr: 0,
                timer: None,
                finished: false,
            }),
            sched: AtomicU8::new(IDLE),
            timer_due: AtomicBool::new(false),
            finish_check: AtomicBool::new(true),
            done: AtomicBool::new(false),
            notify: (Mutex::new(false), Condvar::new()),
        }
    }

    /// Adds an input at run time; returns its index. A slot freed by a removed source is
    /// reused (no end marker can still refer to it: its source was drained).
    pub fn add_input(&self, edge: Arc<Edge<Message>>, direct: Option<Name>) -> usize {
        let mut inputs = self.inputs.write();
        let slot = Some(InputSlot { edge, direct });
        if let Some(i) = inputs.iter().position(Option::is_none) {
            inputs[i] = slot;
            i
        } else {
            inputs.push(slot);
            inputs.len() - 1
        }
    }

    /// Number of input slots (free ones included).
    pub fn input_slots(&self) -> usize {
        self.inputs.read().len()
    }

    /// The node will receive `source` on `inputs` (a source added at run time).
    pub fn expect_source(&self, source: &Name, inputs: HashSet<usize>, extras: &SourceExtras) {
        let mut inner = self.inner.lock();
        inner.behavior.source_added(source, &inputs, extras);
        inner.pending_ends.insert(source.clone(), inputs);
    }

    /// Whether the node still waits for the end of `source`.
    pub fn awaits(&self, source: &Name) -> bool {
        self.inner.lock().pending_ends.contains_key(source)
    }

    /// Asks the node to finish if it has no source left (after keep-alive is turned off).
    pub fn request_finish_check(&self) {
        self.finish_check.store(true, Ordering::Release);
    }

    fn cx<'a>(
        &'a self,
        clock: &'a SharedClock,
        control: &'a Control,
        timer: &'a mut Option<u64>,
    ) -> NodeCx<'a> {
        NodeCx {
            clock,
            stats: &self.stats,
            outputs: &self.outputs,
            control,
            timer,
        }
    }

    fn outputs_have_room(&self) -> bool {
        self.outputs.all().all(|e| e.has_room())
    }

    fn has_work(&self) -> bool {
        if self.done.load(Ordering::Acquire) {
            return false;
        }
        self.timer_due.load(Ordering::Acquire)
            || self.finish_check.load(Ordering::Acquire)
            || (self
                .inputs
                .read()
                .iter()
                .flatten()
                .any(|s| !s.edge.is_empty())
                && self.outputs_have_room())
    }

    /// Handles at most one message (or a due timer). Returns whether it did anything.
    fn run_once(&self, clock: &SharedClock, control: &Control, timers: &Timers) -> bool {
        let mut inner = self.inner.lock();
        if inner.finished {
            return false;
        }
        let NodeInner {
            behavior,
            pending_ends,
            rr,
            timer,
            finished,
        } = &mut *inner;
        let before = *timer;
        let mut did = false;
        let mut drop_input = None;
        if self.finish_check.swap(false, Ordering::AcqRel) {
            if pending_ends.is_empty() && !control.keep_alive.load(Ordering::Acquire) {
                let mut cx = self.cx(clock, control, timer);
                behavior.on_finish(&mut cx);
                *finished = true;
                self.done.store(true, Ordering::Release);
            }
            did = true;
        } else if self.timer_due.swap(false, Ordering::AcqRel) {
            let mut cx = self.cx(clock, control, timer);
            if cx.timer.is_some_and(|t| t <= clock.mono_ns()) {
                *cx.timer = None;
                behavior.on_timer(clock.mono_ns(), &mut cx);
            }
            did = true;
        } else if self.outputs_have_room() {
            let inputs = self.inputs.read();
            let n = inputs.len();
            for k in 0..n {
                let i = (*rr + k) % n;
                let Some(slot) = &inputs[i] else { continue };
                let Some(msg) = slot.edge.pop() else {
                    continue;
                };
                *rr = i + 1;
                let mut cx = self.cx(clock, control, timer);
                match msg {
                    Message::Eos(source) => {
                        if slot.direct.as_ref() == Some(&source) {
                            drop_input = Some(i);
                        }
                        let done = match pending_ends.get_mut(&source) {
                            Some(waiting) => {
                                waiting.remove(&i);
                                waiting.is_empty()
                            }
                            None => false,
                        };
                        if done {
                            pending_ends.remove(&source);
                            behavior.on_source_end(&source, &mut cx);
                            // The final flush happens before the last end marker goes
                            // out, so downstream receives everything before it ends.
                            if pending_ends.is_empty()
                                && !control.keep_alive.load(Ordering::Acquire)
                            {
                                behavior.on_finish(&mut cx);
                                *finished = true;
                                self.done.store(true, Ordering::Release);
                            }
                            for e in self.outputs.all() {
                                e.push_control(Message::Eos(source.clone()));
                            }
                        }
                    }
                    other => {
                        self.stats.received.fetch_add(1, Ordering::Relaxed);
                        behavior.on_message(i, other, &mut cx);
                    }
                }
                did = true;
                break;
            }
        }
        let after = *timer;
        let finished_now = *finished;
        drop(inner);
        if let Some(i) = drop_input
            && let Some(s) = self.inputs.write().get_mut(i).and_then(Option::take)
        {
            s.edge.clear_wakers();
        }
        if after != before
            && let Some(t) = after
        {
            timers.add(t, self.id);
        }
        if finished_now {
            control.node_finished();
        }
        did
    }

    fn is_finished(&self) -> bool {
        self.inner.lock().finished
    }
}

/// Pipeline-wide control: stop flag, first fatal error, completion latch.
pub(crate) struct Control {
    pub stop: AtomicBool,
    /// Nodes stay up when their last source ends (sources come and go at run time);
    /// cleared at shutdown.
    pub keep_alive: AtomicBool,
    error: Mutex<Option<StageError>>,
    source_stops: Mutex<Vec<visualpath_sdk::StopToken>>,
    remaining: AtomicUsize,
    done: (Mutex<bool>, Condvar),
    pub events: AtomicU64,
}

impl Control {
    pub fn new(nodes: usize) -> Self {
        Self {
            stop: AtomicBool::new(false),
            keep_alive: AtomicBool::new(false),
            error: Mutex::new(None),
            source_stops: Mutex::new(Vec::new()),
            remaining: AtomicUsize::new(nodes),
            done: (Mutex::new(nodes == 0), Condvar::new()),
            events: AtomicU64::new(0),
        }
    }

    /// Records the first fatal error and asks sources to stop.
    pub fn fail(&self, err: StageError) {
        let mut e = self.error.lock();
        if e.is_none() {
            tracing::error!(error = %err, "pipeline stopping");
            *e = Some(err);
        }
        drop(e);
        self.stop_sources();
    }

    /// Asks every source to stop (their blocking calls are interrupted).
    pub fn stop_sources(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.source_stops.lock().iter() {
            t.stop();
        }
    }

    /// Remembers a source's stop token (so stopping the pipeline interrupts it).
    pub fn register_source(&self, token: visualpath_sdk::StopToken) {
        let mut v = self.source_stops.lock();
        v.retain(|t| !t.is_stopped());
        if self.stop.load(Ordering::SeqCst) {
            token.stop();
        }
        v.push(token);
    }

    pub fn error(&self) -> Option<StageError> {
        self.error.lock().clone()
    }

    fn node_finished(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let (m, cv) = &self.done;
            *m.lock() = true;
            cv.notify_all();
        }
    }

    /// Waits until every node has finished or `timeout` passes; returns whether done.
    pub fn wait_done(&self, timeout: Duration) -> bool {
        let (m, cv) = &self.done;
        let mut done = m.lock();
        if !*done {
            cv.wait_for(&mut done, timeout);
        }
        *done
    }
}

/// Pending timer requests, served by one thread.
pub(crate) struct Timers {
    heap: Mutex<BinaryHeap<Reverse<(u64, usize)>>>,
    cv: Condvar,
}

impl Timers {
    fn new() -> Self {
        Self {
            heap: Mutex::new(BinaryHeap::new()),
            cv: Condvar::new(),
        }
    }

    fn add(&self, at: u64, node: usize) {
        let mut h = self.heap.lock();
        // At most a few entries per node: stale ones fire harmlessly (the node checks
        // its current deadline), and the heap is bounded by pruning duplicates.
        if h.len() > 4096 {
            let mut v: Vec<_> = h.drain().collect();
            v.sort();
            v.dedup_by_key(|Reverse((_, n))| *n);
            h.extend(v);
        }
        h.push(Reverse((at, node)));
        self.cv.notify_one();
    }
}

/// The run queue shared by pool workers.
pub(crate) struct Scheduler {
    pub nodes: Vec<Arc<Node>>,
    ready: Mutex<VecDeque<usize>>,
    ready_cv: Condvar,
    shutdown: AtomicBool,
    pub clock: SharedClock,
    pub control: Arc<Control>,
    timers: Timers,
}

struct NodeWaker {
    sched: Arc<Scheduler>,
    node: usize,
}

impl Wake for NodeWaker {
    fn wake(&self) {
        self.sched.wake(self.node);
    }
}

impl Scheduler {
    pub fn new(nodes: Vec<Arc<Node>>, clock: SharedClock, control: Arc<Control>) -> Arc<Self> {
        Arc::new(Self {
            nodes,
            ready: Mutex::new(VecDeque::new()),
            ready_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
            clock,
            control,
            timers: Timers::new(),
        })
    }

    /// A waker for node `id`, to register on its edges.
    pub fn waker(self: &Arc<Self>, id: usize) -> Arc<dyn Wake> {
        Arc::new(NodeWaker {
            sched: self.clone(),
            node: id,
        })
    }

    /// Schedules node `id` (or wakes its dedicated thread).
    pub fn wake_node(&self, id: usize) {
        self.wake(id);
    }

    fn wake(&self, id: usize) {
        let node = &self.nodes[id];
        if node.dedicated {
            let (m, cv) = &node.notify;
            *m.lock() = true;
            cv.notify_one();
            return;
        }
        if node
            .sched
            .compare_exchange(IDLE, QUEUED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.ready.lock().push_back(id);
            self.ready_cv.notify_one();
        }
    }

    fn pool_worker(self: Arc<Self>) {
        loop {
            let id = {
                let mut q = self.ready.lock();
                loop {
                    if let Some(id) = q.pop_front() {
                        break id;
                    }
                    if self.shutdown.load(Ordering::Acquire) {
                        return;
                    }
                    self.ready_cv.wait_for(&mut q, Duration::from_millis(200));
                }
            };
            let node = &self.nodes[id];
            node.sched.store(RUNNING, Ordering::Release);
            let mut budget = 16;
            while budget > 0 && node.run_once(&self.clock, &self.control, &self.timers) {
                budget -= 1;
            }
            node.sched.store(IDLE, Ordering::Release);
            if node.has_work() {
                self.wake(id);
            }
        }
    }

    fn dedicated_worker(self: Arc<Self>, id: usize) {
        let node = self.nodes[id].clone();
        loop {
            while node.run_once(&self.clock, &self.control, &self.timers) {}
            if node.is_finished() || self.shutdown.load(Ordering::Acquire) {
                return;
            }
            let (m, cv) = &node.notify;
            let mut flag = m.lock();
            if !*flag && !node.has_work() {
                cv.wait_for(&mut flag, Duration::from_millis(100));
            }
            *flag = false;
        }
    }

    fn timer_thread(self: Arc<Self>) {
        loop {
            if self.shutdown.load(Ordering::Acquire) {
                return;
            }
            let now = self.clock.mono_ns();
            let mut due = Vec::new();
            let wait = {
                let mut h = self.timers.heap.lock();
                while let Some(Reverse((t, id))) = h.peek().copied() {
                    if t <= now {
                        h.pop();
                        due.push(id);
                    } else {
                        break;
                    }
                }
                let next = h.peek().map(|Reverse((t, _))| *t);
                if due.is_empty() {
                    let wait = next
                        .map(|t| Duration::from_nanos(t - now))
                        .unwrap_or(Duration::from_millis(100))
                        .min(Duration::from_millis(100));
                    self.timers.cv.wait_for(&mut h, wait);
                }
                Duration::ZERO
            };
            let _ = wait;
            for id in due {
                self.nodes[id].timer_due.store(true, Ordering::Release);
                self.wake(id);
            }
        }
    }

    /// Starts the pool workers, dedicated threads and the timer thread.
    pub fn start(self: &Arc<Self>, pool_threads: usize) -> std::io::Result<Vec<JoinHandle<()>>> {
        let mut handles = Vec::new();
        let any_pool = self.nodes.iter().any(|n| !n.dedicated);
        if any_pool {
            for i in 0..pool_threads.max(1) {
                let s = self.clone();
                handles.push(
                    std::thread::Builder::new()
                        .name(format!("vp-pool-{i}"))
                        .spawn(move || s.pool_worker())?,
                );
            }
        }
        for n in self.nodes.iter().filter(|n| n.dedicated) {
            let s = self.clone();
            let id = n.id;
            handles.push(
                std::thread::Builder::new()
                    .name(format!("vp-{}", n.name))
                    .spawn(move || s.dedicated_worker(id))?,
            );
        }
        let s = self.clone();
        handles.push(
            std::thread::Builder::new()
                .name("vp-timers".into())
                .spawn(move || s.timer_thread())?,
        );
        // Nodes that already have input (none at start) or nothing to wait for.
        for n in &self.nodes {
            if n.has_work() {
                self.wake(n.id);
            }
        }
        Ok(handles)
    }

    /// Tells every thread to exit once idle.
    pub fn shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.ready_cv.notify_all();
        self.timers.cv.notify_all();
        for n in &self.nodes {
            if n.dedicated {
                let (m, cv) = &n.notify;
                *m.lock() = true;
                cv.notify_one();
            }
        }
    }
}
