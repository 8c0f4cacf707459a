//! The `track` analyzer: tracker, slots, zones and lines on an upstream analyzer's
//! detections.
//!
//! # Per frame
//!
//! 1. The detector's observation is looked up among the upstream observations (see
//!    [`TrackConfig::detector`](crate::TrackConfig::detector)). Present (even with no
//!    detection): the tracker is *updated* with its detections, filtered by `classes`.
//!    Absent (the detector did not run on this frame, e.g. it is scheduled every 3rd
//!    frame): the tracker *predicts*.
//! 2. Slots are assigned ([`crate::slots`]), then zones and lines advance
//!    ([`crate::zones`]; normalised coordinates are scaled by this frame's size).
//! 3. The observation carries the confirmed tracks visible on this frame (with their
//!    slots) and these values, in this order:
//!    - `count`: number of tracks in the observation;
//!    - `slots_used`: slots held by live tracks (lost ones inside the tracker's buffer
//!      included, reservations not);
//!    - per zone, in configuration order: `zone.<name>.count`, `zone.<name>.max_dwell_s`,
//!      `zone.<name>.entered`, `zone.<name>.exited`;
//!    - per line, in configuration order: `line.<name>.in`, `line.<name>.out`,
//!      `line.<name>.per_minute`.
//!
//!    In fusion rules they read as `<analyzer>.<value>`, e.g. `people.zone.door.count >= 3`.
//!
//! [`Analyzer::reset`] (a loop or reconnect) forgets tracks, slots, memberships and
//! per-minute windows; the id counter and the cumulative line counts go on.

use std::sync::Arc;

use visualpath_core::{Detection, Name, Observation, ObservationData, Track, Values};
use visualpath_sdk::{Analyzer, AnalyzerFactory, ComponentError, Frame, SourceInfo, Upstream};

use crate::clock::FrameTime;
use crate::slots::Slots;
use crate::zones::Regions;
use crate::{ConfigError, TrackConfig, Tracker};

pub(crate) struct TrackFactory {
    pub config: Result<Arc<TrackConfig>, ComponentError>,
    pub description: String,
}

impl AnalyzerFactory for TrackFactory {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn create(&self, _source: &SourceInfo) -> Result<Box<dyn Analyzer>, ComponentError> {
        let config = self.config.clone()?;
        let analyzer = TrackAnalyzer::new(&config).map_err(|e| ComponentError::new(e.0))?;
        Ok(Box::new(analyzer))
    }
}

/// The `track` analyzer for one source; see the module docs. Usable directly from Rust
/// through [`TrackAnalyzer::step`], without frames.
pub struct TrackAnalyzer {
    config: TrackConfig,
    tracker: Box<dyn Tracker>,
    slots: Slots,
    regions: Regions,
    learned: Option<Name>,
    filtered: Vec<Detection>,
}

impl std::fmt::Debug for TrackAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackAnalyzer")
            .field("config", &self.config)
            .field("learned", &self.learned)
            .finish_non_exhaustive()
    }
}

impl TrackAnalyzer {
    /// An analyzer with these settings (checked).
    pub fn new(config: &TrackConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            tracker: config.tracker.build(config.tracker_options())?,
            slots: Slots::new(config.slots, config.slot_grace.as_nanos_i64()),
            regions: Regions::new(&config.zones, &config.lines),
            config: config.clone(),
            learned: None,
            filtered: Vec::new(),
        })
    }

    /// The detector observation to use on this frame, if any.
    fn pick<'a>(&mut self, upstream: Upstream<'a>) -> Option<&'a Observation> {
        if let Some(name) = &self.config.detector {
            return upstream.get(name.as_str());
        }
        if let Some(name) = &self.learned
            && let Some(o) = upstream.get(name.as_str())
        {
            return Some(o);
        }
        let found = upstream
            .iter()
            .filter(|o| !o.data.detections.is_empty())
            .last();
        if let Some(o) = found {
            self.learned = Some(o.analyzer.clone());
        }
        found
    }

    /// One frame: `detections` is `Some` when the detector ran on it (even with no
    /// detection), `None` to predict. `width` and `height` are the frame's size in pixels
    /// (for normalised zones and lines).
    pub fn step(
        &mut self,
        frame: FrameTime,
        width: u32,
        height: u32,
        detections: Option<&[Detection]>,
    ) -> ObservationData {
        let out = match detections {
            Some(dets) => {
                let dets = match &self.config.classes {
                    Some(classes) => {
                        self.filtered.clear();
                        self.filtered.extend(
                            dets.iter()
                                .filter(|d| classes.iter().any(|c| *c == d.class))
                                .cloned(),
                        );
                        &self.filtered[..]
                    }
                    None => dets,
                };
                self.tracker.update(frame, dets)
            }
            None => self.tracker.predict(frame),
        };
        let mut tracks: Vec<Track> = out.to_vec();
        let ended = self.tracker.ended();
        self.slots.assign(frame, &mut tracks, ended);
        self.regions.update(frame, width, height, &tracks, ended);
        let mut values = Values::new();
        values.set("count", tracks.len() as f64);
        values.set("slots_used", f64::from(self.slots.used()));
        self.regions.write_values(&mut values);
        ObservationData {
            values,
            tracks,
            ..ObservationData::default()
        }
    }

    /// The tracker (for inspection).
    pub fn tracker(&self) -> &dyn Tracker {
        &*self.tracker
    }

    /// The slot state (for inspection).
    pub fn slots(&self) -> &Slots {
        &self.slots
    }

    /// The zone and line state (for inspection).
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The detector in use: the configured one, or the one learned from the upstream
    /// observations.
    pub fn detector(&self) -> Option<&Name> {
        self.config.detector.as_ref().or(self.learned.as_ref())
    }
}

impl Analyzer for TrackAnalyzer {
    fn analyze(
        &mut self,
        frame: &Frame,
        upstream: Upstream<'_>,
    ) -> Result<ObservationData, ComponentError> {
        let time = FrameTime::of(frame);
        let detections = self.pick(upstream).map(|o| &o.data.detections[..]);
        Ok(self.step(time, frame.width(), frame.height(), detections))
    }

    fn reset(&mut self) {
        self.tracker.reset();
        self.slots.reset();
        self.regions.reset();
    }
}
