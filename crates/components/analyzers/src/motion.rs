//! `motion`: frame differencing on the grayscale working image.
//!
//! # Exact semantics
//!
//! Each frame is downscaled to the working image (see [`crate::gray`]), optionally
//! blurred with a 3x3 box blur ([`crate::gray::box_blur3`], on by default: it suppresses
//! sensor noise and compression speckle that would otherwise count as change), and
//! compared with the previous frame's working image of the same stream:
//!
//! - a working pixel has **changed** when its luma differs from the previous frame's by
//!   *more than* `pixel_threshold` (so `0` counts any difference and `255` none);
//! - `score` is the fraction of changed working pixels (`0..=1`);
//! - `moving` is `1` when `score >= threshold` and at least one pixel changed, else `0`
//!   (so `threshold: 0` means "any change", never "always");
//! - the working image is split into a `cols x rows` grid (column `c` covers working
//!   columns `floor(c * w / cols) .. floor((c + 1) * w / cols)`, likewise for rows) and
//!   `cell.r{row}c{col}` is the fraction of changed pixels in that cell; a cell that
//!   covers no working pixel (a grid finer than the working image) scores 0;
//! - `zone.<name>` is the fraction of changed pixels among the working pixels whose
//!   centre lies inside the zone's normalised box (`x1 <= (x + 0.5) / w < x2`, likewise
//!   for `y`); a zone too small to contain a pixel centre scores 0;
//! - `regions` has one [`Region`] per grid cell that scores `>= threshold` with at least
//!   one changed pixel, named `r{row}c{col}`, whose box is the cell's extent mapped to
//!   source pixels by [`crate::gray::WorkImage::source_from_work`] (box edges; within one
//!   source pixel of the source pixels averaged into the cell);
//! - tag `motion` when `moving`.
//!
//! Values are always reported in the same order: `score`, `moving`, the cells row by
//! row, then the zones in configuration order, so every frame has the same fields.
//!
//! # Stream boundaries
//!
//! The first frame of a stream has no previous frame: every value is 0, no region, no
//! tag. [`Analyzer::reset`] forgets the previous frame, and so does a change of the
//! source frame size (a reconnect at another resolution is a new stream, not motion).
//! A change of pixel format at the same size keeps the previous frame: luma is
//! comparable across formats.
//!
//! # Cost
//!
//! Per frame: the downscale, the blur and one pass over the working image for the
//! grid (zones re-read only their own pixels). No allocation except the returned
//! observation (its values, region and label strings).

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use visualpath_sdk::{
    Analyzer, AnalyzerFactory, ComponentError, Frame, Name, ObservationData, Region, SourceInfo,
    Upstream, Values,
};

use crate::check;
use crate::gray::{Downscaler, box_blur3};

/// The analyzer kind, as written in pipeline files.
pub const KIND: &str = "motion";

/// Largest number of grid columns or rows.
pub const MAX_GRID: u32 = 64;
/// Largest number of grid cells (`cols * rows`).
///
/// Every cell is a value of every observation, and `Values::set` looks for an earlier
/// value of the same name, so building the values costs `O(cells^2)`: measured 0.7 ms
/// per frame for 32x32 and 10.7 ms for 64x64 (against 0.15 ms for the whole analyzer at
/// 4x3). 256 cells (e.g. 16x16 or 32x8) cost about 0.03 ms; cells finer than that are a
/// few working pixels wide anyway.
pub const MAX_CELLS: u32 = 256;
/// Largest number of zones (each is a value of every observation, see [`MAX_CELLS`]).
pub const MAX_ZONES: usize = 64;

fn default_width() -> u32 {
    160
}
fn default_pixel_threshold() -> u32 {
    25
}
fn default_threshold() -> f64 {
    0.01
}
fn default_grid() -> [u32; 2] {
    [4, 3]
}
fn default_blur() -> bool {
    true
}

/// Settings of the `motion` analyzer (frame differencing).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MotionConfig {
    /// Width in pixels of the grayscale working image that frames are downscaled to
    /// before differencing (never upscaled; the height keeps the aspect ratio). From 16
    /// to 1920. Default `160`.
    #[serde(default = "default_width")]
    #[schemars(range(min = 16, max = 1920))]
    pub width: u32,
    /// Luma difference (0-255, on the working image) above which a pixel counts as
    /// changed: a pixel changed when `|now - before| > pixel_threshold`. Default `25`.
    #[serde(default = "default_pixel_threshold")]
    #[schemars(range(min = 0, max = 255))]
    pub pixel_threshold: u32,
    /// Fraction (0-1) of changed pixels from which the frame counts as moving (`moving`
    /// is 1 and the tag `motion` is set) and from which a grid cell is reported as a
    /// region. Default `0.01`.
    #[serde(default = "default_threshold")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub threshold: f64,
    /// Grid `[cols, rows]` for per-cell scores (`cell.r{row}c{col}`) and regions; each
    /// from 1 to 64, at most 256 cells in all. Default `[4, 3]`.
    #[serde(default = "default_grid")]
    pub grid: [u32; 2],
    /// Named rectangles whose scores are reported as `zone.<name>`; at most 64. Default:
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<MotionZone>,
    /// Whether to apply a 3x3 box blur before differencing, which suppresses sensor noise
    /// at a small cost in sensitivity to changes one working pixel wide. Default `true`.
    #[serde(default = "default_blur")]
    pub blur: bool,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            width: default_width(),
            pixel_threshold: default_pixel_threshold(),
            threshold: default_threshold(),
            grid: default_grid(),
            zones: Vec::new(),
            blur: default_blur(),
        }
    }
}

/// A named area of the frame whose motion score is reported on its own.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MotionZone {
    /// Zone name, unique within the analyzer; the score is reported as the value
    /// `zone.<name>`. Required.
    pub name: Name,
    /// The rectangle `[x1, y1, x2, y2]` in normalised frame coordinates (fractions of
    /// the frame width and height, origin at the top-left), with
    /// `0 <= x1 < x2 <= 1` and `0 <= y1 < y2 <= 1`. Required.
    #[serde(rename = "box")]
    pub bbox: [f64; 4],
}

impl MotionConfig {
    /// Checks every setting; the error is one line naming the field and the valid range.
    pub fn validate(&self) -> Result<(), ComponentError> {
        check::width(KIND, self.width)?;
        check::int_range(KIND, "pixel_threshold", self.pixel_threshold, 0, 255)?;
        check::fraction(KIND, "threshold", self.threshold)?;
        let [cols, rows] = self.grid;
        if !(1..=MAX_GRID).contains(&cols)
            || !(1..=MAX_GRID).contains(&rows)
            || cols * rows > MAX_CELLS
        {
            return Err(ComponentError::new(format!(
                "{KIND}: `grid` [cols, rows] must have each between 1 and {MAX_GRID} and at \
                 most {MAX_CELLS} cells in all, got [{cols}, {rows}]"
            )));
        }
        if self.zones.len() > MAX_ZONES {
            return Err(ComponentError::new(format!(
                "{KIND}: `zones` may list at most {MAX_ZONES} zones, got {}",
                self.zones.len()
            )));
        }
        let mut seen = HashSet::new();
        for (i, zone) in self.zones.iter().enumerate() {
            let [x1, y1, x2, y2] = zone.bbox;
            let ok = |a: f64, b: f64| 0.0 <= a && a < b && b <= 1.0;
            if !(ok(x1, x2) && ok(y1, y2)) {
                return Err(ComponentError::new(format!(
                    "{KIND}: `zones[{i}]` (`{}`) box [{x1}, {y1}, {x2}, {y2}] must satisfy \
                     0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1",
                    zone.name
                )));
            }
            if !seen.insert(zone.name.as_str()) {
                return Err(ComponentError::new(format!(
                    "{KIND}: `zones[{i}]` reuses the name `{}`; zone names must be unique",
                    zone.name
                )));
            }
        }
        Ok(())
    }

    /// A short description, e.g. `motion (threshold 0.01, grid 4x3)`.
    pub fn describe(&self) -> String {
        let [cols, rows] = self.grid;
        let mut s = format!("{KIND} (threshold {}, grid {cols}x{rows}", self.threshold);
        match self.zones.len() {
            0 => {}
            1 => s.push_str(", 1 zone"),
            n => s.push_str(&format!(", {n} zones")),
        }
        s.push(')');
        s
    }

    /// The factory that creates one analyzer per source. An invalid configuration is
    /// reported by [`AnalyzerFactory::create`] (the same message as
    /// [`MotionConfig::validate`]).
    pub fn factory(&self) -> Arc<dyn AnalyzerFactory> {
        let settings = self.validate().map(|()| {
            let [cols, rows] = self.grid;
            let cells = (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c)));
            Arc::new(Settings {
                cell_values: cells
                    .clone()
                    .map(|(r, c)| Cow::Owned(format!("cell.r{r}c{c}")))
                    .collect(),
                cell_names: cells
                    .map(|(r, c)| Cow::Owned(format!("r{r}c{c}")))
                    .collect(),
                zone_values: self
                    .zones
                    .iter()
                    .map(|z| Cow::Owned(format!("zone.{}", z.name)))
                    .collect(),
                config: self.clone(),
            })
        });
        Arc::new(MotionFactory {
            settings,
            description: self.describe(),
        })
    }
}

/// A validated configuration with its output labels made once.
#[derive(Debug)]
struct Settings {
    config: MotionConfig,
    /// `cell.r{row}c{col}`, row-major.
    cell_values: Vec<Cow<'static, str>>,
    /// `r{row}c{col}`, row-major.
    cell_names: Vec<Cow<'static, str>>,
    /// `zone.<name>`, in configuration order.
    zone_values: Vec<Cow<'static, str>>,
}

struct MotionFactory {
    settings: Result<Arc<Settings>, ComponentError>,
    description: String,
}

impl AnalyzerFactory for MotionFactory {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn create(&self, _source: &SourceInfo) -> Result<Box<dyn Analyzer>, ComponentError> {
        let settings = self.settings.clone()?;
        Ok(Box::new(MotionAnalyzer {
            down: Downscaler::new(settings.config.width),
            settings,
            cur: Vec::new(),
            prev: Vec::new(),
            tmp: Vec::new(),
            prev_source: None,
            layout: Layout::default(),
            counts: Vec::new(),
            zone_counts: Vec::new(),
        }))
    }
}

/// Grid and zone bounds in working pixels, rebuilt when the working size changes.
#[derive(Debug, Default)]
struct Layout {
    size: (u32, u32),
    /// `cols + 1` column boundaries.
    col_bounds: Vec<u32>,
    /// `rows + 1` row boundaries.
    row_bounds: Vec<u32>,
    /// Per zone `[x0, y0, x1, y1]`, half-open.
    zones: Vec<[u32; 4]>,
}

impl Layout {
    fn build(&mut self, w: u32, h: u32, config: &MotionConfig) {
        let [cols, rows] = config.grid;
        let bounds = |v: &mut Vec<u32>, n: u32, len: u32| {
            v.clear();
            v.extend((0..=n).map(|i| (u64::from(i) * u64::from(len) / u64::from(n)) as u32));
        };
        bounds(&mut self.col_bounds, cols, w);
        bounds(&mut self.row_bounds, rows, h);
        // Pixels whose centre is inside: lo <= p + 0.5 < hi (in pixels).
        let span = |lo: f64, hi: f64, len: u32| {
            let n = f64::from(len);
            let first = (lo * n - 0.5).ceil().clamp(0.0, n) as u32;
            let end = (hi * n - 0.5).ceil().clamp(0.0, n) as u32;
            (first, end.max(first))
        };
        self.zones.clear();
        self.zones.extend(config.zones.iter().map(|z| {
            let [x1, y1, x2, y2] = z.bbox;
            let (x0, x1) = span(x1, x2, w);
            let (y0, y1) = span(y1, y2, h);
            [x0, y0, x1, y1]
        }));
        self.size = (w, h);
    }
}

struct MotionAnalyzer {
    settings: Arc<Settings>,
    down: Downscaler,
    /// This frame's (blurred) working image.
    cur: Vec<u8>,
    /// The previous frame's, valid when `prev_source` is set.
    prev: Vec<u8>,
    /// Blur scratch.
    tmp: Vec<u16>,
    /// Source size of the frame in `prev`.
    prev_source: Option<(u32, u32)>,
    layout: Layout,
    /// Changed pixels per grid cell, row-major.
    counts: Vec<u32>,
    /// Changed pixels per zone.
    zone_counts: Vec<u32>,
}

/// Number of positions where `a` and `b` differ by more than `t`.
fn count_changed(a: &[u8], b: &[u8], t: u8) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| u32::from(a.abs_diff(b) > t))
        .sum()
}

fn ratio(part: u32, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        f64::from(part) / whole as f64
    }
}

impl Analyzer for MotionAnalyzer {
    fn analyze(
        &mut self,
        frame: &Frame,
        _upstream: Upstream<'_>,
    ) -> Result<ObservationData, ComponentError> {
        let settings = &*self.settings;
        let config = &settings.config;
        let work = self.down.downscale(&frame.image)?;
        let (w, h) = (work.width(), work.height());
        let source = (work.source_width(), work.source_height());
        let source_from_work = work.source_from_work();
        if config.blur {
            box_blur3(work.pixels(), w, h, &mut self.tmp, &mut self.cur);
        } else {
            self.cur.clear();
            self.cur.extend_from_slice(work.pixels());
        }
        if self.layout.size != (w, h) {
            self.layout.build(w, h, config);
        }
        let layout = &self.layout;
        let [cols, rows] = config.grid;
        let (cols, rows, wu) = (cols as usize, rows as usize, w as usize);
        let t = config.pixel_threshold.min(255) as u8;
        let has_prev = self.prev_source == Some(source) && self.prev.len() == self.cur.len();

        self.counts.clear();
        self.counts.resize(cols * rows, 0);
        self.zone_counts.clear();
        self.zone_counts.resize(layout.zones.len(), 0);
        if has_prev {
            for (r, ys) in layout.row_bounds.windows(2).enumerate() {
                let counts = &mut self.counts[r * cols..(r + 1) * cols];
                for y in ys[0] as usize..ys[1] as usize {
                    let (cur, prev) = (&self.cur[y * wu..][..wu], &self.prev[y * wu..][..wu]);
                    for (n, xs) in counts.iter_mut().zip(layout.col_bounds.windows(2)) {
                        let (x0, x1) = (xs[0] as usize, xs[1] as usize);
                        *n += count_changed(&cur[x0..x1], &prev[x0..x1], t);
                    }
                }
            }
            for (n, &[x0, y0, x1, y1]) in self.zone_counts.iter_mut().zip(&layout.zones) {
                let (x0, x1) = (x0 as usize, x1 as usize);
                *n = (y0 as usize..y1 as usize)
                    .map(|y| {
                        let row = y * wu;
                        count_changed(
                            &self.cur[row + x0..row + x1],
                            &self.prev[row + x0..row + x1],
                            t,
                        )
                    })
                    .sum::<u32>();
            }
        }

        let changed: u32 = self.counts.iter().sum();
        let score = ratio(changed, u64::from(w) * u64::from(h));
        let moving = changed > 0 && score >= config.threshold;
        let mut values = Values::new();
        values.set("score", score);
        values.set("moving", if moving { 1.0 } else { 0.0 });
        let mut regions = Vec::new();
        for (i, &n) in self.counts.iter().enumerate() {
            let (r, c) = (i / cols, i % cols);
            let (x0, x1) = (layout.col_bounds[c], layout.col_bounds[c + 1]);
            let (y0, y1) = (layout.row_bounds[r], layout.row_bounds[r + 1]);
            let cell_score = ratio(n, u64::from(x1 - x0) * u64::from(y1 - y0));
            values.set(settings.cell_values[i].clone(), cell_score);
            if n > 0 && cell_score >= config.threshold {
                regions.push(Region {
                    name: Some(settings.cell_names[i].clone()),
                    bbox: source_from_work.bbox(
                        f64::from(x0),
                        f64::from(y0),
                        f64::from(x1),
                        f64::from(y1),
                    ),
                    score: cell_score as f32,
                });
            }
        }
        for ((label, [x0, y0, x1, y1]), &n) in settings
            .zone_values
            .iter()
            .zip(&layout.zones)
            .zip(&self.zone_counts)
        {
            let area = u64::from(x1 - x0) * u64::from(y1 - y0);
            values.set(label.clone(), ratio(n, area));
        }

        std::mem::swap(&mut self.cur, &mut self.prev);
        self.prev_source = Some(source);
        Ok(ObservationData {
            values,
            regions,
            tags: if moving {
                vec![Cow::Borrowed("motion")]
            } else {
                Vec::new()
            },
            ..ObservationData::default()
        })
    }

    fn reset(&mut self) {
        self.prev_source = None;
    }
}
