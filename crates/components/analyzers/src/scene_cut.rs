//! `scene_cut`: hard cuts found by comparing consecutive luma histograms.
//!
//! # Exact semantics
//!
//! - Each frame's grayscale working image (see [`crate::gray`]; setting `width`, default
//!   160) is summarised by a 32-bin luma histogram (bin `luma / 8`), normalised to sum
//!   to 1. Working on the downscaled image is cheaper and insensitive to pixel noise;
//!   a histogram does not depend on where things are, so camera pans and moving objects
//!   score low while a change of scene scores high.
//! - `cut_score` is half the L1 distance between this frame's and the previous frame's
//!   normalised histograms: `0.5 * sum(|p_i - q_i|)`, in `0..=1` (0 for identical
//!   histograms, 1 for disjoint ones such as black then white). It is computed from the
//!   integer counts exactly (`sum |p_i * M - q_i * N| / (2 N M)`), so it is
//!   deterministic.
//! - A cut is **reported** (value `cut` = 1 and tag `cut`) when
//!   `cut_score > threshold` and at least `min_gap` frames separate it from the last
//!   reported cut, counted in frame numbers (`Frame::seq`, which counts every decoded
//!   frame, including frames a scheduler dropped before this analyzer): with the default
//!   5, cuts at frames 10 and 14 are not both reported, at 10 and 15 they are. `min_gap`
//!   0 or 1 suppresses nothing. A suppressed cut still reports its `cut_score`, with
//!   `cut` = 0, and does not restart the gap. Otherwise `cut` = 0.
//! - The first frame of a stream scores 0. [`Analyzer::reset`] and a change of the
//!   source frame size start a new stream: the previous histogram and the last cut are
//!   forgotten. A frame whose `seq` is lower than the last cut's (a restarted source)
//!   never has its cut suppressed.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use visualpath_sdk::{
    Analyzer, AnalyzerFactory, ComponentError, Frame, ObservationData, SourceInfo, Upstream, Values,
};

use crate::check;
use crate::gray::{Downscaler, WorkImage};

/// The analyzer kind, as written in pipeline files.
pub const KIND: &str = "scene_cut";

/// Number of histogram bins.
pub const BINS: usize = 32;

fn default_width() -> u32 {
    160
}
fn default_threshold() -> f64 {
    0.4
}
fn default_min_gap() -> u32 {
    5
}

/// Settings of the `scene_cut` analyzer (luma histogram differences).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SceneCutConfig {
    /// Width in pixels of the grayscale working image the histograms are computed on
    /// (never upscaled; the height keeps the aspect ratio). From 16 to 1920. Default
    /// `160`.
    #[serde(default = "default_width")]
    #[schemars(range(min = 16, max = 1920))]
    pub width: u32,
    /// `cut_score` (0-1, half the L1 distance between consecutive normalised luma
    /// histograms) above which a frame is a cut. Default `0.4`.
    #[serde(default = "default_threshold")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub threshold: f64,
    /// Minimum distance in frames (frame numbers) between two reported cuts; a cut closer
    /// to the previous reported one is not reported. 0 or 1 disables the rule. Default
    /// `5`.
    #[serde(default = "default_min_gap")]
    pub min_gap: u32,
}

impl Default for SceneCutConfig {
    fn default() -> Self {
        Self {
            width: default_width(),
            threshold: default_threshold(),
            min_gap: default_min_gap(),
        }
    }
}

impl SceneCutConfig {
    /// Checks every setting; the error is one line naming the field and the valid range.
    pub fn validate(&self) -> Result<(), ComponentError> {
        check::width(KIND, self.width)?;
        check::fraction(KIND, "threshold", self.threshold)
    }

    /// A short description, e.g. `scene_cut (threshold 0.4, min gap 5)`.
    pub fn describe(&self) -> String {
        format!(
            "{KIND} (threshold {}, min gap {})",
            self.threshold, self.min_gap
        )
    }

    /// The factory that creates one analyzer per source. An invalid configuration is
    /// reported by [`AnalyzerFactory::create`] (the same message as
    /// [`SceneCutConfig::validate`]).
    pub fn factory(&self) -> Arc<dyn AnalyzerFactory> {
        Arc::new(SceneCutFactory {
            config: self.validate().map(|()| self.clone()),
            description: self.describe(),
        })
    }
}

/// A 32-bin luma histogram of a working image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LumaHistogram {
    /// Pixel counts per bin; bin `i` holds luma `8 i ..= 8 i + 7`.
    pub counts: [u64; BINS],
    /// Total pixels counted.
    pub total: u64,
}

impl LumaHistogram {
    /// Counts the pixels of a working image.
    pub fn of(work: &WorkImage) -> Self {
        let mut counts = [0u64; BINS];
        for &p in work.pixels() {
            counts[usize::from(p >> 3)] += 1;
        }
        Self {
            counts,
            total: work.pixels().len() as u64,
        }
    }

    /// Half the L1 distance between the two normalised histograms, `0..=1`; 0 when either
    /// is empty.
    pub fn distance(&self, other: &Self) -> f64 {
        let (n, m) = (u128::from(self.total), u128::from(other.total));
        if n == 0 || m == 0 {
            return 0.0;
        }
        let l1: u128 = self
            .counts
            .iter()
            .zip(&other.counts)
            .map(|(&p, &q)| (u128::from(p) * m).abs_diff(u128::from(q) * n))
            .sum();
        l1 as f64 / (2 * n * m) as f64
    }
}

struct SceneCutFactory {
    config: Result<SceneCutConfig, ComponentError>,
    description: String,
}

impl AnalyzerFactory for SceneCutFactory {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn create(&self, _source: &SourceInfo) -> Result<Box<dyn Analyzer>, ComponentError> {
        let config = self.config.clone()?;
        Ok(Box::new(SceneCutAnalyzer {
            down: Downscaler::new(config.width),
            config,
            prev: None,
            last_cut: None,
        }))
    }
}

struct SceneCutAnalyzer {
    config: SceneCutConfig,
    down: Downscaler,
    /// The previous frame's histogram and source size.
    prev: Option<(LumaHistogram, (u32, u32))>,
    /// `seq` of the last reported cut.
    last_cut: Option<u64>,
}

impl Analyzer for SceneCutAnalyzer {
    fn analyze(
        &mut self,
        frame: &Frame,
        _upstream: Upstream<'_>,
    ) -> Result<ObservationData, ComponentError> {
        let work = self.down.downscale(&frame.image)?;
        let size = (work.source_width(), work.source_height());
        let hist = LumaHistogram::of(work);
        let score = match &self.prev {
            Some((prev, prev_size)) if *prev_size == size => prev.distance(&hist),
            Some(_) => {
                // New stream at another size: forget the last cut too.
                self.last_cut = None;
                0.0
            }
            None => 0.0,
        };
        self.prev = Some((hist, size));
        let gap_ok = match self.last_cut {
            Some(last) => frame.seq < last || frame.seq - last >= u64::from(self.config.min_gap),
            None => true,
        };
        let cut = score > self.config.threshold && gap_ok;
        if cut {
            self.last_cut = Some(frame.seq);
        }
        Ok(ObservationData {
            values: Values::new()
                .with("cut_score", score)
                .with("cut", if cut { 1.0 } else { 0.0 }),
            tags: if cut {
                vec![Cow::Borrowed("cut")]
            } else {
                Vec::new()
            },
            ..ObservationData::default()
        })
    }

    fn reset(&mut self) {
        self.prev = None;
        self.last_cut = None;
    }
}
