//! The analyzer node: runs one analyzer over frames, per source.
//!
//! For each packet it receives the node, in order:
//! 1. joins it with the same frame from its other inputs, when several inputs carry the
//!    same source (an analyzer `after:` two others);
//! 2. forwards it untouched if its source is filtered out (`sources:`);
//! 3. asks the schedule whether to analyze it, then evaluates `when:` on the upstream
//!    observations;
//! 4. runs the analyzer (directly, or on a guard thread when a `timeout` is set);
//! 5. emits the observation as a record and forwards the packet, with the observation
//!    appended, to downstream analyzers.
//!
//! A frame the analyzer does not run on still flows downstream, so analyzers after it
//! run on the frames they want. Every skip is counted by reason.
//!
//! A panicking analyzer is contained: the panic becomes an error on that frame and the
//! error policy applies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use visualpath_core::{
    ErrorContext, Frame, Name, Observation, ObservationData, Record, StageError, Timing,
};
use visualpath_fusion::{Condition, ObservationEnv};
use visualpath_sdk::{Analyzer, AnalyzerFactory, ComponentError, SourceInfo, Upstream};

use crate::exec::{Behavior, NodeCx, SourceExtras};
use crate::message::{Message, Packet};
use crate::schedule::{Admission, Schedule};
use crate::stats::SkipReason;
use crate::trace::Tracer;

/// What to do when an analyzer fails on a frame.
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
#[serde(rename_all = "snake_case")]
pub enum ErrorPolicy {
    /// Count the error, skip the frame, keep going (errors are logged with their
    /// camera, stage and frame; repeated ones are rate-limited).
    #[default]
    Skip,
    /// Stop the whole pipeline with the error.
    Stop,
}

/// Where an analyzer runs.
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
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// On the pipeline's executor (sequential or pool).
    #[default]
    Inline,
    /// On a thread of its own.
    Thread,
}

/// How an analyzer node runs its analyzer.
#[derive(Debug, Clone, Default)]
pub struct AnalyzerOptions {
    /// Which frames to analyze.
    pub schedule: Schedule,
    /// Analyze only when this holds on the upstream observations of the frame.
    pub when: Option<Condition>,
    /// Give up on a frame after this long; the analyzer is then busy (later frames are
    /// skipped) until the late call returns, whose result is discarded.
    pub timeout: Option<Duration>,
    /// Only analyze frames from these sources; others pass through untouched.
    pub sources: Option<HashSet<Name>>,
    /// What to do on failure.
    pub on_error: ErrorPolicy,
    /// Where to run.
    pub isolation: Isolation,
}

enum Instance {
    Direct(Box<dyn Analyzer>),
    Guarded(Guard),
    /// Creation failed; every frame of this source is skipped with this error counted.
    Failed,
}

struct SourceState {
    instance: Instance,
    admission: Admission,
}

enum Outcome {
    Done(Result<ObservationData, ComponentError>, u64),
    TimedOut,
    Busy,
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

fn call(
    a: &mut dyn Analyzer,
    frame: &Frame,
    up: &[Arc<Observation>],
) -> Result<ObservationData, ComponentError> {
    match catch_unwind(AssertUnwindSafe(|| a.analyze(frame, Upstream::new(up)))) {
        Ok(r) => r,
        Err(p) => Err(ComponentError::new(format!(
            "analyzer panicked: {}",
            panic_message(p)
        ))),
    }
}

struct Job {
    frame: Frame,
    upstream: Vec<Arc<Observation>>,
    reset: bool,
}

/// An analyzer on its own thread, so that a call can be abandoned after a timeout.
struct Guard {
    tx: SyncSender<Job>,
    rx: Receiver<(Result<ObservationData, ComponentError>, u64)>,
    busy: bool,
}

impl Guard {
    fn spawn(
        mut analyzer: Box<dyn Analyzer>,
        thread_name: String,
        clock: visualpath_core::SharedClock,
    ) -> std::io::Result<Self> {
        let (tx, jobs) = sync_channel::<Job>(1);
        let (results, rx) = sync_channel(1);
        std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || {
                for job in jobs {
                    if job.reset {
                        analyzer.reset();
                    }
                    let t0 = clock.mono_ns();
                    let r = call(analyzer.as_mut(), &job.frame, &job.upstream);
                    if results.send((r, clock.mono_ns() - t0)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self {
            tx,
            rx,
            busy: false,
        })
    }

    fn run(&mut self, job: Job, timeout: Duration, late: &mut u64) -> Outcome {
        if self.busy {
            match self.rx.try_recv() {
                Ok(_) => {
                    *late += 1;
                    self.busy = false;
                }
                Err(TryRecvError::Empty) => return Outcome::Busy,
                Err(TryRecvError::Disconnected) => {
                    return Outcome::Done(Err(ComponentError::new("analyzer thread exited")), 0);
                }
            }
        }
        if self.tx.send(job).is_err() {
            return Outcome::Done(Err(ComponentError::new("analyzer thread exited")), 0);
        }
        match self.rx.recv_timeout(timeout) {
            Ok((r, ns)) => Outcome::Done(r, ns),
            Err(RecvTimeoutError::Timeout) => {
                self.busy = true;
                Outcome::TimedOut
            }
            Err(RecvTimeoutError::Disconnected) => {
                Outcome::Done(Err(ComponentError::new("analyzer thread exited")), 0)
            }
        }
    }
}

/// Packets of one source waiting for their counterparts from other inputs.
#[derive(Default)]
struct JoinBuf {
    /// seq -> (packet with merged observations, inputs that delivered it)
    pending: BTreeMap<u64, (Packet, HashSet<usize>)>,
}

pub(crate) struct AnalyzerNode {
    name: Name,
    factory: Arc<dyn AnalyzerFactory>,
    opts: AnalyzerOptions,
    source_infos: SourceInfos,
    /// For sources carried by several inputs: which inputs carry them.
    join_inputs: HashMap<Name, HashSet<usize>>,
    joins: HashMap<Name, JoinBuf>,
    states: HashMap<Name, SourceState>,
    tracer: Option<Tracer>,
    late_results: u64,
    /// Factories of sources added at run time with their own settings.
    per_source_factory: HashMap<Name, Arc<dyn AnalyzerFactory>>,
}

/// What each source knows about itself, shared with the pipeline (sources can be added
/// while it runs).
pub(crate) type SourceInfos = Arc<parking_lot::RwLock<HashMap<Name, SourceInfo>>>;

/// Most packets one source may have waiting in a join before the oldest is abandoned.
const JOIN_LIMIT: usize = 64;

impl AnalyzerNode {
    pub fn new(
        name: Name,
        factory: Arc<dyn AnalyzerFactory>,
        opts: AnalyzerOptions,
        source_infos: SourceInfos,
        input_sources: &[HashSet<Name>],
        tracer: Option<Tracer>,
    ) -> Self {
        let mut carried: HashMap<Name, HashSet<usize>> = HashMap::new();
        for (i, srcs) in input_sources.iter().enumerate() {
            for s in srcs {
                carried.entry(s.clone()).or_default().insert(i);
            }
        }
        carried.retain(|_, ins| ins.len() > 1);
        Self {
            name,
            factory,
            opts,
            source_infos,
            join_inputs: carried,
            joins: HashMap::new(),
            states: HashMap::new(),
            tracer,
            late_results: 0,
            per_source_factory: HashMap::new(),
        }
    }

    /// Adds `p` to the join of its source; returns the packets now complete, in order.
    fn join(&mut self, input: usize, p: Packet, cx: &mut NodeCx<'_>) -> Vec<Packet> {
        let source = p.frame.source.clone();
        let Some(needed) = self.join_inputs.get(&source) else {
            return vec![p];
        };
        let buf = self.joins.entry(source).or_default();
        let seq = p.frame.seq;
        let entry = buf.pending.entry(seq).or_insert_with(|| {
            (
                Packet {
                    observations: Vec::new(),
                    ..p.clone()
                },
                HashSet::new(),
            )
        });
        for o in p.observations {
            if !entry
                .0
                .observations
                .iter()
                .any(|x| Arc::ptr_eq(x, &o) || x.analyzer == o.analyzer)
            {
                entry.0.observations.push(o);
            }
        }
        entry.0.discontinuity |= p.discontinuity;
        entry.1.insert(input);
        // Inputs deliver each source in seq order: an older packet this input did not
        // deliver will never complete.
        let stale: Vec<u64> = buf
            .pending
            .range(..seq)
            .filter(|(_, (_, got))| !got.contains(&input))
            .map(|(s, _)| *s)
            .collect();
        for s in stale {
            buf.pending.remove(&s);
            cx.stats.skip(SkipReason::JoinIncomplete);
        }
        while buf.pending.len() > JOIN_LIMIT {
            buf.pending.pop_first();
            cx.stats.skip(SkipReason::JoinIncomplete);
        }
        let mut ready = Vec::new();
        while let Some(entry) = buf.pending.first_entry() {
            if needed.iter().all(|i| entry.get().1.contains(i)) {
                ready.push(entry.remove().0);
            } else {
                break;
            }
        }
        ready
    }

    fn state(&mut self, source: &Name, cx: &mut NodeCx<'_>) -> &mut SourceState {
        if !self.states.contains_key(source) {
            let info = self
                .source_infos
                .read()
                .get(source)
                .cloned()
                .unwrap_or_else(|| SourceInfo::new(source.clone(), "unknown"));
            let factory = self.per_source_factory.get(source).unwrap_or(&self.factory);
            let instance = match factory.create(&info) {
                Ok(a) => match self.opts.timeout {
                    None => Instance::Direct(a),
                    Some(_) => match Guard::spawn(
                        a,
                        format!("vp-{}-{}", self.name, source),
                        cx.clock.clone(),
                    ) {
                        Ok(g) => Instance::Guarded(g),
                        Err(e) => {
                            self.report(
                                cx,
                                source,
                                None,
                                &format!("cannot start analyzer thread: {e}"),
                            );
                            Instance::Failed
                        }
                    },
                },
                Err(e) => {
                    self.report(cx, source, None, &format!("cannot start: {}", e.message));
                    Instance::Failed
                }
            };
            self.states.insert(
                source.clone(),
                SourceState {
                    instance,
                    admission: Admission::default(),
                },
            );
        }
        match self.states.get_mut(source) {
            Some(s) => s,
            None => unreachable!("inserted above"),
        }
    }

    fn report(&self, cx: &mut NodeCx<'_>, source: &Name, seq: Option<u64>, msg: &str) {
        let mut ctx = ErrorContext::stage(&self.name).with_source(source);
        ctx.seq = seq;
        let err = StageError::new(ctx, msg);
        let n = cx.stats.error(err.to_string());
        if self.opts.on_error == ErrorPolicy::Stop {
            cx.fail(err);
        } else if n <= 3 || n.is_power_of_two() {
            tracing::warn!(errors = n, "{err}");
        }
    }

    fn process(&mut self, mut p: Packet, cx: &mut NodeCx<'_>) {
        let source = p.frame.source.clone();
        let seq = p.frame.seq;
        let queued = p.frame.arrival_ns;
        let skip = |cx: &mut NodeCx<'_>, tracer: &Option<Tracer>, why: SkipReason| {
            cx.stats.skip(why);
            if let Some(t) = tracer {
                t.skip(&cx.stats.name, &source, seq, why);
            }
        };
        if let Some(filter) = &self.opts.sources
            && !filter.contains(&source)
        {
            skip(cx, &self.tracer, SkipReason::SourceFilter);
            if cx.has_packet_outputs() {
                cx.emit_packet(p);
            }
            return;
        }
        let schedule = self.opts.schedule;
        let discontinuity = p.discontinuity;
        let state = self.state(&source, cx);
        if discontinuity {
            state.admission.reset();
            if let Instance::Direct(a) = &mut state.instance {
                a.reset();
            }
        }
        let admitted = state.admission.admit(&schedule, p.frame.capture_time_ns);
        let mut outcome = None;
        if !admitted {
            skip(cx, &self.tracer, SkipReason::Schedule);
        } else if let Some(cond) = &self.opts.when
            && !cond.expr().eval(&ObservationEnv::new(&p.observations))
        {
            skip(cx, &self.tracer, SkipReason::Condition);
        } else {
            let _span = tracing::trace_span!("analyze", stage = %self.name, source = %source, seq)
                .entered();
            let t0 = cx.clock.mono_ns();
            let age = cx.clock.wall_ns() - p.frame.capture_time_ns;
            if age >= 0 {
                cx.stats.capture_to_start.record(age as u64);
            }
            let timeout = self.opts.timeout.unwrap_or(Duration::MAX);
            let state = self.states.get_mut(&source);
            let mut late = 0;
            let o = match state.map(|s| &mut s.instance) {
                Some(Instance::Direct(a)) => {
                    let r = call(a.as_mut(), &p.frame, &p.observations);
                    Outcome::Done(r, cx.clock.mono_ns() - t0)
                }
                Some(Instance::Guarded(g)) => g.run(
                    Job {
                        frame: p.frame.clone(),
                        upstream: p.observations.clone(),
                        reset: discontinuity,
                    },
                    timeout,
                    &mut late,
                ),
                Some(Instance::Failed) | None => {
                    Outcome::Done(Err(ComponentError::new("analyzer could not be started")), 0)
                }
            };
            self.late_results += late;
            outcome = Some((o, t0));
        }
        if let Some((o, t0)) = outcome {
            match o {
                Outcome::Busy => skip(cx, &self.tracer, SkipReason::Busy),
                Outcome::TimedOut => {
                    skip(cx, &self.tracer, SkipReason::Timeout);
                    let msg = format!(
                        "no result within {:?}; later frames are skipped until it returns",
                        self.opts.timeout.unwrap_or_default()
                    );
                    self.report(cx, &source, Some(seq), &msg);
                }
                Outcome::Done(Err(e), _) => {
                    skip(cx, &self.tracer, SkipReason::Error);
                    self.report(cx, &source, Some(seq), &e.message);
                }
                Outcome::Done(Ok(data), ns) => {
                    cx.stats.processed.fetch_add(1, Ordering::Relaxed);
                    cx.stats.latency.record(ns);
                    if let Some(t) = &self.tracer {
                        t.analyzed(&self.name, &source, seq, queued, t0, ns);
                    }
                    let obs = Arc::new(Observation {
                        analyzer: self.name.clone(),
                        source: source.clone(),
                        seq,
                        capture_time_ns: p.frame.capture_time_ns,
                        arrival_ns: p.frame.arrival_ns,
                        frame_size: (p.frame.image.width(), p.frame.image.height()),
                        data,
                        timing: Timing {
                            queued_ns: queued,
                            started_ns: t0,
                            duration_ns: ns,
                        },
                    });
                    cx.emit_record(Record::Observation(obs.clone()));
                    p.observations.push(obs);
                }
            }
        }
        if cx.has_packet_outputs() {
            cx.emit_packet(p);
        }
    }
}

impl Behavior for AnalyzerNode {
    fn source_added(&mut self, source: &Name, inputs: &HashSet<usize>, extras: &SourceExtras) {
        self.joins.remove(source);
        self.states.remove(source);
        match extras.analyzer_factories.get(&self.name) {
            Some(f) => {
                self.per_source_factory.insert(source.clone(), f.clone());
            }
            None => {
                self.per_source_factory.remove(source);
            }
        }
        if inputs.len() > 1 {
            self.join_inputs.insert(source.clone(), inputs.clone());
        } else {
            self.join_inputs.remove(source);
        }
    }

    fn on_message(&mut self, input: usize, msg: Message, cx: &mut NodeCx<'_>) {
        let Message::Packet(p) = msg else {
            return;
        };
        for p in self.join(input, p, cx) {
            self.process(p, cx);
        }
    }

    fn on_source_end(&mut self, source: &Name, cx: &mut NodeCx<'_>) {
        // Whatever is still waiting in a join can never complete.
        if let Some(buf) = self.joins.remove(source) {
            for _ in buf.pending {
                cx.stats.skip(SkipReason::JoinIncomplete);
            }
        }
        // Dropping the state ends guard threads.
        self.states.remove(source);
    }
}
