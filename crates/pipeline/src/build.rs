//! Turning a validated [`Plan`] into a runnable pipeline: components are created (files
//! opened, analyzers configured) and linked as the plan says.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use visualpath_core::{Name, SharedClock};
use visualpath_media::{FileSource, PacketTaps};
use visualpath_runtime::{
    AnalyzerOptions, Executor, NodeRef, PipelineBuilder, SinkErrorPolicy, SinkOptions,
    SourceOptions,
};
use visualpath_sdk::{AnalyzerFactory, ComponentError, Sink, Source};
use visualpath_sinks::StdoutSink;

use crate::config::{AnalyzerSpec, SinkOnError, SinkSpec, SourceSpec};
use crate::plan::Plan;

/// Settings given on the command line that override the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Pace every source at its capture-time rate.
    pub realtime: bool,
    /// Stop every source after this many frames.
    pub max_frames: Option<u64>,
    /// Stop every source after this much capture time.
    pub duration: Option<Duration>,
    /// Use this executor instead of the file's.
    pub executor: Option<Executor>,
    /// Write a per-frame trace here.
    pub trace: Option<PathBuf>,
    /// Use this clock (tests).
    pub clock: Option<SharedClock>,
}

/// A component that could not be created (a missing file, an unreadable folder).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{name}`: {message}")]
pub struct CreateError {
    /// `source`, `analyzer` or `sink`.
    pub kind: &'static str,
    /// The node's name.
    pub name: Name,
    /// What went wrong.
    pub message: String,
}

/// Creates a source from its settings (nothing is opened until the first frame for live
/// sources).
pub fn create_source(s: &SourceSpec) -> Result<Box<dyn Source>, ComponentError> {
    create_source_tapped(s, None)
}

/// [`create_source`], with FFmpeg-based sources (file, RTSP, HTTP, webcam) reporting
/// their compressed packets to `taps` (for clip sinks).
pub(crate) fn create_source_tapped(
    s: &SourceSpec,
    taps: Option<&PacketTaps>,
) -> Result<Box<dyn Source>, ComponentError> {
    let name = s.name.value.clone();
    if let Some(taps) = taps {
        let tap = || taps.tap(name.clone());
        if let Some(c) = &s.rtsp {
            return Ok(Box::new(c.build_live(name.clone())?.with_packet_tap(tap())));
        } else if let Some(c) = &s.http {
            return Ok(Box::new(c.build_live(name.clone())?.with_packet_tap(tap())));
        } else if let Some(c) = &s.webcam {
            return Ok(Box::new(c.build_live(name.clone())?.with_packet_tap(tap())));
        } else if let Some(c) = &s.file {
            return Ok(Box::new(
                FileSource::open(name.clone(), c)?.with_packet_tap(tap()),
            ));
        }
    }
    if let Some(c) = &s.rtsp {
        c.build(name)
    } else if let Some(c) = &s.http {
        c.build(name)
    } else if let Some(c) = &s.webcam {
        c.build(name)
    } else if let Some(c) = &s.file {
        c.build(name)
    } else if let Some(c) = &s.images {
        c.build(name)
    } else if let Some(c) = &s.synthetic {
        c.build(name)
    } else {
        Err(ComponentError::new("no source kind set"))
    }
}

/// Creates an analyzer's factory (loading its model, if any).
pub fn create_analyzer(a: &AnalyzerSpec) -> Result<Arc<dyn AnalyzerFactory>, ComponentError> {
    if let Some(c) = &a.detect {
        c.build()
    } else if let Some(c) = &a.track {
        c.validate()
            .map_err(|e| ComponentError::new(e.to_string()))?;
        Ok(c.factory())
    } else if let Some(c) = &a.pose {
        c.build()
    } else if let Some(c) = &a.face {
        c.build()
    } else if let Some(c) = &a.motion {
        Ok(c.factory())
    } else if let Some(c) = &a.frame_stats {
        Ok(c.factory())
    } else if let Some(c) = &a.scene_cut {
        Ok(c.factory())
    } else {
        Err(ComponentError::new("no analyzer kind set"))
    }
}

fn create_sink(s: &SinkSpec, taps: Option<&PacketTaps>) -> Result<Box<dyn Sink>, ComponentError> {
    let settings = s.settings();
    if let Some(c) = &s.jsonl {
        c.build()
    } else if let Some(c) = &s.csv {
        c.build()
    } else if s.stdout.is_some() {
        Ok(Box::new(StdoutSink::default()))
    } else if let Some(c) = &s.osc {
        c.build(&settings)
    } else if let Some(c) = &s.mqtt {
        c.build(&settings)
    } else if let Some(c) = &s.redis {
        c.build(&settings)
    } else if let Some(c) = &s.websocket {
        c.build(&settings)
    } else if let Some(c) = &s.webhook {
        c.build(&settings)
    } else if let Some(c) = &s.clips {
        let taps = taps.ok_or_else(|| ComponentError::new("clips: no packet taps"))?;
        c.build(&settings, taps)
    } else {
        Err(ComponentError::new("no sink kind set"))
    }
}

/// How the runtime drives a source.
pub fn source_options(s: &SourceSpec, o: &Overrides) -> SourceOptions {
    SourceOptions {
        realtime: s.realtime || o.realtime,
        looping: s.file.as_ref().is_some_and(|f| f.looping)
            || s.images.as_ref().is_some_and(|i| i.looping),
        max_frames: o.max_frames.or(s.max_frames),
        duration: o.duration.or(s.duration.map(|d| d.get())),
        backoff: Default::default(),
    }
}

/// An analyzer whose settings differ for some sources.
struct PerSource {
    default: Arc<dyn AnalyzerFactory>,
    by_source: HashMap<Name, Arc<dyn AnalyzerFactory>>,
}

impl AnalyzerFactory for PerSource {
    fn describe(&self) -> String {
        let mut names: Vec<&str> = self.by_source.keys().map(Name::as_str).collect();
        names.sort_unstable();
        format!(
            "{} (overridden for {})",
            self.default.describe(),
            names.join(", ")
        )
    }

    fn create(
        &self,
        source: &visualpath_sdk::SourceInfo,
    ) -> Result<Box<dyn visualpath_sdk::Analyzer>, ComponentError> {
        self.by_source
            .get(&source.name)
            .unwrap_or(&self.default)
            .create(source)
    }
}

/// Creates every component and links them into a builder, which the caller may extend
/// (e.g. with `on_event` callbacks) before building.
pub fn builder(plan: &Plan, o: &Overrides) -> Result<PipelineBuilder, CreateError> {
    builder_with(plan, o, true)
}

/// [`builder`], optionally without the sources (the camera manager adds them at run time).
pub(crate) fn builder_with(
    plan: &Plan,
    o: &Overrides,
    with_sources: bool,
) -> Result<PipelineBuilder, CreateError> {
    builder_parts(plan, o, with_sources).map(|(b, _)| b)
}

/// [`builder_with`], also returning the packet taps clip sinks record from (`Some` when the
/// plan has a clips sink), for sources added later.
pub(crate) fn builder_parts(
    plan: &Plan,
    o: &Overrides,
    with_sources: bool,
) -> Result<(PipelineBuilder, Option<PacketTaps>), CreateError> {
    let cfg = &plan.config;
    let mut b = PipelineBuilder::new();
    if let Some(c) = &o.clock {
        b.clock(c.clone());
    }
    b.executor(o.executor.unwrap_or(cfg.executor));
    if let Some(t) = &o.trace {
        b.trace(t.clone());
    }
    let mut refs: HashMap<Name, NodeRef> = HashMap::new();
    // Clip sinks record the sources' compressed packets: sources and clip sinks share a
    // registry of packet taps.
    let taps = cfg
        .sinks
        .iter()
        .any(|s| s.clips.is_some())
        .then(PacketTaps::new);
    for s in cfg.sources.iter().filter(|_| with_sources) {
        let src = create_source_tapped(s, taps.as_ref()).map_err(|e| CreateError {
            kind: "source",
            name: s.name.value.clone(),
            message: e.message,
        })?;
        let opts = source_options(s, o);
        let r = b.source(s.name.value.as_str(), src, opts);
        refs.insert(s.name.value.clone(), r);
    }
    for &i in &plan.analyzer_order {
        let a = &cfg.analyzers[i];
        let name = plan.analyzer_name(i);
        let mut factory = create_analyzer(a).map_err(|e| CreateError {
            kind: "analyzer",
            name: name.clone(),
            message: e.message,
        })?;
        if let Some(per_source) = plan.overrides.get(&i) {
            let mut by_source = HashMap::new();
            for (src, spec) in per_source {
                let f = create_analyzer(spec).map_err(|e| CreateError {
                    kind: "analyzer",
                    name: name.clone(),
                    message: format!("with the overrides of source `{src}`: {}", e.message),
                })?;
                by_source.insert(src.clone(), f);
            }
            factory = Arc::new(PerSource {
                default: factory,
                by_source,
            });
        }
        let opts = AnalyzerOptions {
            schedule: a.schedule,
            when: plan.conditions.get(&i).cloned(),
            timeout: a.timeout.map(|t| t.get()),
            sources: a
                .sources
                .as_ref()
                .map(|v| v.iter().map(|s| s.value.clone()).collect()),
            on_error: a.on_error,
            isolation: a.isolation,
        };
        let r = b.analyzer(name.as_str(), factory, opts);
        refs.insert(name, r);
    }
    if !cfg.fusion.is_empty() {
        let rules = cfg.fusion.iter().map(|r| r.value.clone()).collect();
        let r = b.fusion(crate::config::FUSION_NODE, rules);
        refs.insert(Name::from_static(crate::config::FUSION_NODE), r);
    }
    for g in &cfg.sync {
        let srcs = g.sources.iter().map(|s| s.value.clone()).collect();
        let r = b.sync(g.name.value.as_str(), srcs, g.policy.clone());
        refs.insert(g.name.value.clone(), r);
    }
    for s in &cfg.sinks {
        let sink = create_sink(s, taps.as_ref()).map_err(|e| CreateError {
            kind: "sink",
            name: s.name.value.clone(),
            message: e.message,
        })?;
        let opts = SinkOptions {
            on_error: match s.on_error {
                SinkOnError::Stop => SinkErrorPolicy::Stop,
                SinkOnError::Skip => SinkErrorPolicy::Skip,
            },
        };
        let r = b.sink(s.name.value.as_str(), sink, opts);
        refs.insert(s.name.value.clone(), r);
    }
    for l in &plan.links {
        let (Some(&from), Some(&to)) = (refs.get(&l.from), refs.get(&l.to)) else {
            continue;
        };
        b.link(from).with(l.spec).to(to);
    }
    Ok((b, taps))
}
