#![doc = include_str!("../../../docs/ref/fusion.md")]
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use visualpath_core::{ClipWindow, Event, EventPhase, HumanDuration, Name, Observation, Values};

use crate::expr::{Condition, Env, Ref};

/// One fusion rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The rule's name, written as `rule` in its event records. Required.
    pub name: Name,
    /// The condition over the latest observations of the source's analyzers, e.g.
    /// `motion.score > 0.05 and count(detect, "person") >= 1`. Required.
    pub when: Condition,
    /// How long the condition must hold, in capture time, before the event starts. `0s` fires
    /// on the first observation on which it holds. Written `for:`. Default `0s`.
    #[serde(rename = "for", default = "default_hold")]
    pub hold: HumanDuration,
    /// After an event ends, no new event of this rule starts for the same source until this
    /// much capture time has passed since the condition last held. Default `0s`.
    #[serde(default = "default_cooldown")]
    pub cooldown: HumanDuration,
    /// How much video around the event a clip recorder keeps: `pre` before the condition
    /// started holding, `post` after it stopped. Default `{pre: 0s, post: 0s}`.
    #[serde(default = "default_clip")]
    pub clip: ClipWindow,
    /// The sources the rule applies to. Default: all sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<Name>>,
    /// Whether to write an `end` record when the condition stops holding (or the stream
    /// ends). Default `true`.
    #[serde(default = "default_end_events")]
    pub end_events: bool,
    /// An analyzer's latest observation older than this (in capture time, relative to the
    /// newest observation of the same source) is treated as missing; a gap between two
    /// observations of the source longer than this breaks a hold and ends an active event.
    /// Default `2s`.
    #[serde(default = "default_stale_after")]
    pub stale_after: HumanDuration,
}

fn default_hold() -> HumanDuration {
    HumanDuration::default()
}

fn default_cooldown() -> HumanDuration {
    HumanDuration::default()
}

fn default_clip() -> ClipWindow {
    ClipWindow::default()
}

fn default_end_events() -> bool {
    true
}

fn default_stale_after() -> HumanDuration {
    HumanDuration::from_millis(2000)
}

impl RuleConfig {
    /// A rule with every optional field at its default.
    pub fn new(name: Name, when: Condition) -> Self {
        Self {
            name,
            when,
            hold: default_hold(),
            cooldown: default_cooldown(),
            clip: default_clip(),
            sources: None,
            end_events: default_end_events(),
            stale_after: default_stale_after(),
        }
    }

    /// Whether the rule applies to `source`.
    pub fn applies_to(&self, source: &str) -> bool {
        self.sources
            .as_ref()
            .is_none_or(|s| s.iter().any(|n| n.as_str() == source))
    }
}

/// Counters of a [`FusionEngine`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FusionStats {
    /// Rule evaluations (one per observation per rule that applies to its source).
    pub evaluations: u64,
    /// Events started (start records written).
    pub events_started: u64,
    /// Events ended, including those whose end record was not written (`end_events: false`).
    pub events_ended: u64,
    /// Observations that some rule ignored because they were stale (each counted once).
    pub stale_ignored: u64,
}

/// The analyzers the rules read and, per analyzer, what they read of it.
#[derive(Debug, Default)]
struct Catalog {
    analyzers: Vec<Slots>,
}

#[derive(Debug)]
struct Slots {
    name: Name,
    values: Vec<Box<str>>,
    counts: Vec<Option<Box<str>>>,
    tags: Vec<Box<str>>,
}

impl Catalog {
    fn index(&self, analyzer: &str) -> Option<usize> {
        self.analyzers
            .iter()
            .position(|s| s.name.as_str() == analyzer)
    }

    fn add(&mut self, r: Ref<'_>) -> usize {
        let a = match r {
            Ref::Value(a, _) | Ref::Count(a, _) | Ref::Has(a, _) | Ref::Present(a) => a,
        };
        let i = self.index(a.as_str()).unwrap_or_else(|| {
            self.analyzers.push(Slots {
                name: a.clone(),
                values: Vec::new(),
                counts: Vec::new(),
                tags: Vec::new(),
            });
            self.analyzers.len() - 1
        });
        let s = &mut self.analyzers[i];
        match r {
            Ref::Value(_, v) if !s.values.iter().any(|x| &**x == v) => s.values.push(v.into()),
            Ref::Count(_, c) if !s.counts.iter().any(|x| x.as_deref() == c) => {
                s.counts.push(c.map(Into::into));
            }
            Ref::Has(_, t) if !s.tags.iter().any(|x| &**x == t) => s.tags.push(t.into()),
            _ => {}
        }
        i
    }

    fn empty_latest(&self) -> Vec<Latest> {
        self.analyzers
            .iter()
            .map(|s| Latest {
                seen: false,
                capture_ns: 0,
                stale_counted: false,
                values: vec![f64::NAN; s.values.len()],
                counts: vec![0; s.counts.len()],
                tags: vec![false; s.tags.len()],
            })
            .collect()
    }
}

/// What the engine keeps of an analyzer's latest observation for one source.
#[derive(Debug)]
struct Latest {
    seen: bool,
    capture_ns: i64,
    stale_counted: bool,
    /// Parallel to `Slots::values`; NaN when the observation lacks the value.
    values: Vec<f64>,
    counts: Vec<usize>,
    tags: Vec<bool>,
}

impl Latest {
    fn store(&mut self, slots: &Slots, obs: &Observation) {
        self.seen = true;
        self.capture_ns = obs.capture_time_ns;
        self.stale_counted = false;
        for (slot, name) in self.values.iter_mut().zip(&slots.values) {
            *slot = obs.data.values.get(name).unwrap_or(f64::NAN);
        }
        for (slot, class) in self.counts.iter_mut().zip(&slots.counts) {
            *slot = obs.data.count(class.as_deref());
        }
        for (slot, tag) in self.tags.iter_mut().zip(&slots.tags) {
            *slot = obs.data.has_tag(tag);
        }
    }

    fn is_stale(&self, now: i64, stale_ns: i64) -> bool {
        now.saturating_sub(self.capture_ns) > stale_ns
    }
}

/// The [`Env`] of one rule evaluation: a source's latest observations minus stale ones.
struct Snapshot<'a> {
    catalog: &'a Catalog,
    latest: &'a [Latest],
    now: i64,
    stale_ns: i64,
}

impl Snapshot<'_> {
    fn fresh(&self, analyzer: &str) -> Option<(&Slots, &Latest)> {
        let i = self.catalog.index(analyzer)?;
        let l = &self.latest[i];
        (l.seen && !l.is_stale(self.now, self.stale_ns)).then(|| (&self.catalog.analyzers[i], l))
    }
}

impl Env for Snapshot<'_> {
    fn value(&self, analyzer: &str, name: &str) -> Option<f64> {
        let (s, l) = self.fresh(analyzer)?;
        let k = s.values.iter().position(|v| &**v == name)?;
        Some(l.values[k]).filter(|v| !v.is_nan())
    }

    fn count(&self, analyzer: &str, class: Option<&str>) -> Option<usize> {
        let (s, l) = self.fresh(analyzer)?;
        let k = s.counts.iter().position(|c| c.as_deref() == class)?;
        Some(l.counts[k])
    }

    fn has_tag(&self, analyzer: &str, tag: &str) -> Option<bool> {
        let (s, l) = self.fresh(analyzer)?;
        let k = s.tags.iter().position(|t| &**t == tag)?;
        Some(l.tags[k])
    }

    fn present(&self, analyzer: &str) -> bool {
        self.fresh(analyzer).is_some()
    }
}

/// A value reported in an event: how to read it and its label.
#[derive(Debug)]
enum Reported {
    Value {
        analyzer: Name,
        name: Box<str>,
        label: String,
    },
    Count {
        analyzer: Name,
        class: Option<Box<str>>,
        label: String,
    },
}

#[derive(Debug)]
struct CompiledRule {
    config: RuleConfig,
    hold_ns: i64,
    cooldown_ns: i64,
    stale_ns: i64,
    /// Catalog indices of the analyzers the condition reads.
    analyzers: Vec<usize>,
    reported: Vec<Reported>,
}

impl CompiledRule {
    fn values(&self, env: &dyn Env) -> Values {
        let mut out = Values::new();
        for r in &self.reported {
            match r {
                Reported::Value {
                    analyzer,
                    name,
                    label,
                } => {
                    if let Some(v) = env.value(analyzer.as_str(), name) {
                        out.set(label.clone(), v);
                    }
                }
                Reported::Count {
                    analyzer,
                    class,
                    label,
                } => {
                    if let Some(n) = env.count(analyzer.as_str(), class.as_deref()) {
                        out.set(label.clone(), n as f64);
                    }
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Pending { since: i64 },
    Active { id: u64, since: i64 },
    Cooldown { until: i64 },
}

#[derive(Debug, Clone, Copy)]
struct RuleState {
    phase: Phase,
    /// The last time the condition held (meaningful while PENDING or ACTIVE).
    last_true: i64,
}

#[derive(Debug)]
struct SourceState {
    now: i64,
    last_seq: u64,
    last_capture_ns: i64,
    latest: Vec<Latest>,
    rules: Vec<RuleState>,
    applies: Vec<bool>,
}

/// Evaluates rules on observations and emits events. Pure and synchronous: time comes only
/// from the observations' capture times (see the [module docs](self)).
///
/// Memory is bounded by (number of sources) × (number of rules + values the rules read);
/// after a source's first observation, [`FusionEngine::observe`] allocates only when it
/// emits an event.
#[derive(Debug)]
pub struct FusionEngine {
    rules: Vec<CompiledRule>,
    catalog: Catalog,
    sources: HashMap<Name, SourceState>,
    next_id: u64,
    stats: FusionStats,
}

/// What a transition needs to build a record.
struct Emit<'a> {
    source: &'a Name,
    seq: u64,
    capture_ns: i64,
}

impl FusionEngine {
    /// An engine for `rules` (validated by the caller: unique names, known analyzers).
    pub fn new(rules: Vec<RuleConfig>) -> Self {
        let mut catalog = Catalog::default();
        let rules = rules
            .into_iter()
            .map(|config| {
                let mut analyzers = Vec::new();
                config.when.expr().visit(&mut |r| {
                    let i = catalog.add(r);
                    if !analyzers.contains(&i) {
                        analyzers.push(i);
                    }
                });
                let expr = config.when.expr();
                let mut reported: Vec<Reported> = expr
                    .value_paths()
                    .into_iter()
                    .filter_map(|(a, v)| {
                        Some(Reported::Value {
                            analyzer: Name::new(a).ok()?,
                            name: v.into(),
                            label: format!("{a}.{v}"),
                        })
                    })
                    .collect();
                reported.extend(expr.count_paths().into_iter().filter_map(|(a, c)| {
                    Some(Reported::Count {
                        analyzer: Name::new(a).ok()?,
                        class: c.map(Into::into),
                        label: match c {
                            Some(c) => format!("count({a},{c})"),
                            None => format!("count({a})"),
                        },
                    })
                }));
                CompiledRule {
                    hold_ns: config.hold.as_nanos_i64(),
                    cooldown_ns: config.cooldown.as_nanos_i64(),
                    stale_ns: config.stale_after.as_nanos_i64(),
                    analyzers,
                    reported,
                    config,
                }
            })
            .collect();
        Self {
            rules,
            catalog,
            sources: HashMap::new(),
            next_id: 1,
            stats: FusionStats::default(),
        }
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> impl ExactSizeIterator<Item = &RuleConfig> {
        self.rules.iter().map(|r| &r.config)
    }

    /// The counters so far.
    pub fn stats(&self) -> FusionStats {
        self.stats
    }

    /// Takes an observation into account and appends the records it causes to `out`.
    pub fn observe(&mut self, obs: &Observation, out: &mut Vec<Event>) {
        if !self.sources.contains_key(&obs.source) {
            let st = SourceState {
                now: obs.capture_time_ns,
                last_seq: obs.seq,
                last_capture_ns: obs.capture_time_ns,
                latest: self.catalog.empty_latest(),
                rules: vec![
                    RuleState {
                        phase: Phase::Idle,
                        last_true: 0,
                    };
                    self.rules.len()
                ],
                applies: self
                    .rules
                    .iter()
                    .map(|r| r.config.applies_to(obs.source.as_str()))
                    .collect(),
            };
            self.sources.insert(obs.source.clone(), st);
        }
        let Self {
            rules,
            catalog,
            sources,
            next_id,
            stats,
        } = self;
        let Some(st) = sources.get_mut(&obs.source) else {
            return;
        };
        st.now = st.now.max(obs.capture_time_ns);
        st.last_seq = obs.seq;
        st.last_capture_ns = obs.capture_time_ns;
        if let Some(ai) = catalog.index(obs.analyzer.as_str()) {
            let l = &mut st.latest[ai];
            if !l.seen || obs.capture_time_ns >= l.capture_ns {
                l.store(&catalog.analyzers[ai], obs);
            }
        }
        let now = st.now;
        let emit = Emit {
            source: &obs.source,
            seq: obs.seq,
            capture_ns: obs.capture_time_ns,
        };
        for (ri, rule) in rules.iter().enumerate() {
            if !st.applies[ri] {
                continue;
            }
            stats.evaluations += 1;
            for &ai in &rule.analyzers {
                let l = &mut st.latest[ai];
                if l.seen && !l.stale_counted && l.is_stale(now, rule.stale_ns) {
                    l.stale_counted = true;
                    stats.stale_ignored += 1;
                }
            }
            let env = Snapshot {
                catalog,
                latest: &st.latest,
                now,
                stale_ns: rule.stale_ns,
            };
            let cond = rule.config.when.expr().eval(&env);
            step(
                rule,
                &mut st.rules[ri],
                now,
                cond,
                &env,
                &emit,
                next_id,
                stats,
                out,
            );
        }
    }

    /// End of stream for `source`: appends end records for its active events (if the rule
    /// writes them) and forgets the source. Does nothing for an unknown source.
    pub fn finish_source(&mut self, source: &Name, out: &mut Vec<Event>) {
        let Some(st) = self.sources.remove(source) else {
            return;
        };
        let emit = Emit {
            source,
            seq: st.last_seq,
            capture_ns: st.last_capture_ns,
        };
        for (ri, rule) in self.rules.iter().enumerate() {
            if !st.applies[ri] {
                continue;
            }
            let rs = st.rules[ri];
            if let Phase::Active { id, since } = rs.phase {
                let env = Snapshot {
                    catalog: &self.catalog,
                    latest: &st.latest,
                    now: st.now,
                    stale_ns: rule.stale_ns,
                };
                end(
                    rule,
                    id,
                    since,
                    rs.last_true,
                    &env,
                    &emit,
                    &mut self.stats,
                    out,
                );
            }
        }
    }

    /// [`FusionEngine::finish_source`] for every source seen, in name order.
    pub fn finish_all(&mut self, out: &mut Vec<Event>) {
        let mut names: Vec<Name> = self.sources.keys().cloned().collect();
        names.sort();
        for n in &names {
            self.finish_source(n, out);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn end(
    rule: &CompiledRule,
    id: u64,
    since: i64,
    until: i64,
    env: &dyn Env,
    emit: &Emit<'_>,
    stats: &mut FusionStats,
    out: &mut Vec<Event>,
) {
    stats.events_ended += 1;
    if rule.config.end_events {
        out.push(Event {
            id,
            rule: rule.config.name.clone(),
            source: emit.source.clone(),
            phase: EventPhase::End,
            seq: emit.seq,
            capture_time_ns: emit.capture_ns,
            since_ns: since,
            until_ns: Some(until),
            values: rule.values(env),
            clip: rule.config.clip,
        });
    }
}

/// Advances one (rule, source) state machine by one evaluation at time `now`.
#[allow(clippy::too_many_arguments)]
fn step(
    rule: &CompiledRule,
    rs: &mut RuleState,
    now: i64,
    cond: bool,
    env: &dyn Env,
    emit: &Emit<'_>,
    next_id: &mut u64,
    stats: &mut FusionStats,
    out: &mut Vec<Event>,
) {
    // A gap longer than `stale_after` since the condition last held: we cannot tell whether
    // it held in between.
    let gap = now.saturating_sub(rs.last_true) > rule.stale_ns;
    match rs.phase {
        Phase::Pending { .. } if gap => rs.phase = Phase::Idle,
        Phase::Active { id, since } if gap => {
            end(rule, id, since, rs.last_true, env, emit, stats, out);
            rs.phase = Phase::Cooldown {
                until: rs.last_true.saturating_add(rule.cooldown_ns),
            };
        }
        _ => {}
    }
    if let Phase::Cooldown { until } = rs.phase
        && now >= until
    {
        rs.phase = Phase::Idle;
    }
    match rs.phase {
        Phase::Idle if cond => {
            rs.phase = Phase::Pending { since: now };
            rs.last_true = now;
        }
        Phase::Pending { .. } | Phase::Active { .. } if cond => rs.last_true = now,
        Phase::Pending { .. } => rs.phase = Phase::Idle,
        Phase::Active { id, since } => {
            end(rule, id, since, rs.last_true, env, emit, stats, out);
            rs.phase = Phase::Cooldown {
                until: rs.last_true.saturating_add(rule.cooldown_ns),
            };
        }
        Phase::Idle | Phase::Cooldown { .. } => {}
    }
    if let Phase::Pending { since } = rs.phase
        && now.saturating_sub(since) >= rule.hold_ns
    {
        let id = *next_id;
        *next_id += 1;
        stats.events_started += 1;
        rs.phase = Phase::Active { id, since };
        out.push(Event {
            id,
            rule: rule.config.name.clone(),
            source: emit.source.clone(),
            phase: EventPhase::Start,
            seq: emit.seq,
            capture_time_ns: emit.capture_ns,
            since_ns: since,
            until_ns: None,
            values: rule.values(env),
            clip: rule.config.clip,
        });
    }
}
