//! What an expression reads: the [`Env`] trait and its implementation over observations.

use std::borrow::Borrow;

use visualpath_core::Observation;

/// The data a condition is evaluated against: the latest observation of each analyzer.
///
/// Every method answers `None` when the analyzer has no (usable) observation; `value` also
/// answers `None` when the observation has no value of that name. Implementations must not
/// allocate: conditions are evaluated on every observation.
pub trait Env {
    /// The value `name` of `analyzer`'s observation (`motion.score` asks
    /// `value("motion", "score")`). A NaN is treated as missing.
    fn value(&self, analyzer: &str, name: &str) -> Option<f64>;
    /// The number of detections in `analyzer`'s observation, of class `class` when given.
    fn count(&self, analyzer: &str, class: Option<&str>) -> Option<usize>;
    /// Whether `analyzer`'s observation carries the tag `tag`.
    fn has_tag(&self, analyzer: &str, tag: &str) -> Option<bool>;
    /// Whether `analyzer` produced a (usable) observation.
    fn present(&self, analyzer: &str) -> bool;
}

/// An [`Env`] over a slice of observations, e.g. the observations upstream analyzers made
/// for one frame (an analyzer's `when:`).
///
/// Works with `&[Observation]`, `&[&Observation]` and `&[Arc<Observation>]`. When the slice
/// holds several observations of one analyzer, the last one counts. Lookups are linear
/// scans: the slice holds a handful of observations.
#[derive(Debug)]
pub struct ObservationEnv<'a, O> {
    observations: &'a [O],
}

impl<O> Clone for ObservationEnv<'_, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O> Copy for ObservationEnv<'_, O> {}

impl<'a, O: Borrow<Observation>> ObservationEnv<'a, O> {
    /// An environment over `observations`.
    pub fn new(observations: &'a [O]) -> Self {
        Self { observations }
    }

    fn find(&self, analyzer: &str) -> Option<&'a Observation> {
        self.observations
            .iter()
            .rev()
            .map(Borrow::borrow)
            .find(|o| o.analyzer.as_str() == analyzer)
    }
}

impl<O: Borrow<Observation>> Env for ObservationEnv<'_, O> {
    fn value(&self, analyzer: &str, name: &str) -> Option<f64> {
        self.find(analyzer)?
            .data
            .values
            .get(name)
            .filter(|v| !v.is_nan())
    }

    fn count(&self, analyzer: &str, class: Option<&str>) -> Option<usize> {
        Some(self.find(analyzer)?.data.count(class))
    }

    fn has_tag(&self, analyzer: &str, tag: &str) -> Option<bool> {
        Some(self.find(analyzer)?.data.has_tag(tag))
    }

    fn present(&self, analyzer: &str) -> bool {
        self.find(analyzer).is_some()
    }
}
