//! The camera manager: one pipeline whose cameras are added, stopped, started and removed
//! at run time without touching the others (the service's camera API builds on it).
//!
//! The pipeline's analyzers, fusion rules, sync groups and sinks come from a pipeline
//! file and stay up; cameras are the file's sources plus any added later. A new camera
//! feeds every analyzer that takes frames from the sources (no `after:`) and the sync
//! groups that list it; its `overrides:` give analyzers other settings for it alone.

use std::collections::BTreeMap;

use parking_lot::Mutex;
use visualpath_core::Name;
use visualpath_runtime::{RunReport, RunningPipeline, SourceExtras, SourceState};

use crate::build::{
    CreateError, Overrides, builder_parts, create_analyzer, create_source_tapped, source_options,
};
use crate::config::{SOURCE_KINDS, SourceSpec};
use crate::plan::{Plan, apply_override};

/// A camera's status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraStatus {
    /// Name.
    pub name: Name,
    /// Kind (`rtsp`, `http`, `webcam`, `file`, ...).
    pub kind: &'static str,
    /// Whether it is started.
    pub active: bool,
    /// Connection state while started.
    pub state: Option<SourceState>,
    /// Frames delivered since it was (last) started.
    pub frames: u64,
    /// Reconnections since it was (last) started.
    pub reconnects: u64,
    /// Failures (failed connections, stalls) since it was (last) started.
    pub failures: u64,
    /// Where capture times come from.
    pub capture_clock: Option<&'static str>,
    /// The last error, if any.
    pub last_error: Option<String>,
}

struct Camera {
    spec: SourceSpec,
    active: bool,
}

/// Parses one camera (a `sources:` entry) from YAML or JSON text, with the same strict
/// rules and positioned errors as pipeline files.
pub fn camera_from_str(src: &str) -> Result<SourceSpec, visualpath_yaml::Error> {
    visualpath_yaml::from_str_with_env::<SourceSpec>(src, &|k| std::env::var(k).ok())
}

/// Runs a pipeline whose cameras can change while it runs.
pub struct CameraManager {
    plan: Plan,
    overrides: Overrides,
    running: RunningPipeline,
    cameras: Mutex<BTreeMap<Name, Camera>>,
    /// Where cameras hand their packets to the clip sinks, when there are any.
    taps: Option<visualpath_media::PacketTaps>,
}

/// Why a camera operation failed (one line, for users and API responses).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CameraError(pub String);

impl CameraManager {
    /// Builds the pipeline (keep-alive) and starts the cameras the file declares.
    pub fn start(plan: &Plan, overrides: &Overrides) -> Result<Self, CreateError> {
        let (mut b, taps) = builder_parts(plan, overrides, false)?;
        b.keep_alive(true);
        let pipeline = b.build().map_err(|e| CreateError {
            kind: "pipeline",
            name: Name::from_static("pipeline"),
            message: e.to_string(),
        })?;
        let running = pipeline.start().map_err(|e| CreateError {
            kind: "pipeline",
            name: Name::from_static("pipeline"),
            message: e.to_string(),
        })?;
        let m = Self {
            plan: plan.clone(),
            overrides: overrides.clone(),
            running,
            cameras: Mutex::new(BTreeMap::new()),
            taps,
        };
        for s in &plan.config.sources {
            m.add(s.value.clone()).map_err(|e| CreateError {
                kind: "source",
                name: s.name.value.clone(),
                message: e.0,
            })?;
        }
        Ok(m)
    }

    /// The nodes a camera feeds: analyzers that take frames from sources, sync groups
    /// listing it.
    fn targets(&self, camera: &Name) -> Vec<String> {
        let cfg = &self.plan.config;
        let mut t: Vec<String> = self
            .plan
            .analyzer_order
            .iter()
            .filter(|i| cfg.analyzers[**i].after.is_empty())
            .map(|i| self.plan.analyzer_name(*i).to_string())
            .collect();
        for g in &cfg.sync {
            if g.sources.iter().any(|s| s.value == *camera) {
                t.push(g.name.value.to_string());
            }
        }
        t
    }

    fn launch(&self, spec: &SourceSpec) -> Result<(), CameraError> {
        let name = &spec.name.value;
        let mut extras = SourceExtras::default();
        for (analyzer, patch) in &spec.overrides {
            let i = self
                .plan
                .analyzer_order
                .iter()
                .copied()
                .find(|i| self.plan.analyzer_name(*i) == *analyzer)
                .ok_or_else(|| {
                    CameraError(format!(
                        "camera `{name}` overrides unknown analyzer `{analyzer}`"
                    ))
                })?;
            let a = apply_override(&self.plan.config.analyzers[i], &patch.value).map_err(|e| {
                CameraError(format!(
                    "camera `{name}`, override of analyzer `{analyzer}`: {e}"
                ))
            })?;
            let f = create_analyzer(&a)
                .map_err(|e| CameraError(format!("camera `{name}`: {}", e.message)))?;
            extras.analyzer_factories.insert(analyzer.clone(), f);
        }
        let source = create_source_tapped(spec, self.taps.as_ref())
            .map_err(|e| CameraError(format!("camera `{name}`: {}", e.message)))?;
        let targets = self.targets(name);
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        if targets.is_empty() {
            return Err(CameraError(format!(
                "camera `{name}` would feed nothing: the pipeline has no analyzer without `after:` and no sync group listing it"
            )));
        }
        self.running
            .add_source_with(
                name.as_str(),
                source,
                source_options(spec, &self.overrides),
                &targets,
                &extras,
            )
            .map_err(|e| CameraError(e.to_string()))
    }

    /// Adds and starts a camera.
    pub fn add(&self, spec: SourceSpec) -> Result<(), CameraError> {
        let name = spec.name.value.clone();
        let kinds = spec.kinds();
        if kinds.len() != 1 {
            return Err(CameraError(format!(
                "camera `{name}` needs exactly one of {}",
                SOURCE_KINDS
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let mut cams = self.cameras.lock();
        if cams.contains_key(&name) {
            return Err(CameraError(format!(
                "a camera called `{name}` already exists"
            )));
        }
        self.launch(&spec)?;
        cams.insert(name, Camera { spec, active: true });
        Ok(())
    }

    /// Stops a camera (its configuration is kept; [`CameraManager::start_camera`] restarts it).
    pub fn stop_camera(&self, name: &str) -> Result<(), CameraError> {
        let mut cams = self.cameras.lock();
        let cam = cams
            .iter_mut()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, c)| c)
            .ok_or_else(|| CameraError(format!("no camera called `{name}`")))?;
        if cam.active {
            self.running
                .remove_source(name)
                .map_err(|e| CameraError(e.to_string()))?;
            cam.active = false;
        }
        Ok(())
    }

    /// Starts a stopped camera again.
    pub fn start_camera(&self, name: &str) -> Result<(), CameraError> {
        let mut cams = self.cameras.lock();
        let cam = cams
            .iter_mut()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, c)| c)
            .ok_or_else(|| CameraError(format!("no camera called `{name}`")))?;
        if !cam.active {
            self.launch(&cam.spec)?;
            cam.active = true;
        }
        Ok(())
    }

    /// Stops and forgets a camera.
    pub fn remove(&self, name: &str) -> Result<(), CameraError> {
        self.stop_camera(name)?;
        self.cameras.lock().retain(|n, _| n.as_str() != name);
        Ok(())
    }

    /// Every camera with its status.
    pub fn cameras(&self) -> Vec<CameraStatus> {
        let stats = self.running.node_stats();
        self.cameras
            .lock()
            .iter()
            .map(|(name, c)| {
                let st = stats.iter().find(|s| s.name == *name && c.active);
                CameraStatus {
                    name: name.clone(),
                    kind: c.spec.kinds().first().copied().unwrap_or("?"),
                    active: c.active,
                    state: st.map(|s| s.source.state()),
                    frames: st
                        .map(|s| s.processed.load(std::sync::atomic::Ordering::Relaxed))
                        .unwrap_or(0),
                    reconnects: st
                        .map(|s| {
                            s.source
                                .reconnects
                                .load(std::sync::atomic::Ordering::Relaxed)
                        })
                        .unwrap_or(0),
                    failures: st
                        .map(|s| s.source.failures.load(std::sync::atomic::Ordering::Relaxed))
                        .unwrap_or(0),
                    capture_clock: st.map(|s| s.source.capture_clock().as_str()),
                    last_error: st.and_then(|s| s.last_error.lock().clone()),
                }
            })
            .collect()
    }

    /// The running pipeline (statistics, reports).
    pub fn pipeline(&self) -> &RunningPipeline {
        &self.running
    }

    /// Stops every camera and ends the pipeline.
    pub fn shutdown(self) -> RunReport {
        self.running.shutdown()
    }
}
