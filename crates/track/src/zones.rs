//! Polygon zones and counting lines over confirmed tracks.
//!
//! # Positions
//!
//! Each zone and line looks at one point of every track's box, its [`Anchor`]
//! (`bottom_center` by default: where a standing person or a car touches the ground, which
//! is what floor zones and lines drawn on the ground mean). Coordinates in the config are
//! fractions of the frame width and height (`normalized: true`, the default: the same file
//! works at any resolution) or source pixels (`normalized: false`); `x` grows to the right
//! and `y` downwards from the top-left corner.
//!
//! Only tracks **matched on the current frame** (`lost == 0`) move zones and lines: a
//! predicted box (a frame without detection, a lost track) never counts a crossing or
//! changes a membership, so "detect every 3rd frame" pipelines count the same as detecting
//! every frame.
//!
//! # Zones
//!
//! A track is *inside* a zone when its anchor is inside the polygon by the even-odd rule
//! (crossing-number test, so a self-intersecting outline alternates; a point exactly on an
//! edge may fall on either side). Membership changes only on frames where the track is
//! matched: it *enters* when its anchor is inside and it was not a member (this includes
//! appearing inside), and *exits* when its anchor is outside while a member, or when the
//! track ends (the tracker gave up on it) while a member. A lost track that has not ended
//! stays a member at its last matched position, so a missed detection or two does not
//! make a `count >= 3 for 5s` rule flicker.
//!
//! Values per zone, on every frame:
//!
//! - `zone.<name>.count`: members (confirmed live tracks inside);
//! - `zone.<name>.max_dwell_s`: the longest membership, seconds of stream time since the
//!   member entered (0 without members);
//! - `zone.<name>.entered`, `zone.<name>.exited`: tracks that entered / exited on this
//!   frame.
//!
//! The dwell time of one track is available from [`Regions::dwell_s`].
//!
//! # Lines
//!
//! A line is the segment `a -> b`. A point is on its *right* side when the cross product
//! `(b - a) x (p - a) = (bx - ax)(py - ay) - (by - ay)(px - ax)` is positive, else (zero
//! included) on its *left* side; with `y` pointing down this is the right and left of
//! someone walking from `a` to `b` *as seen on the screen*. A track *crosses* on a frame
//! where it is matched when the segment from its anchor at its previous match to its anchor
//! now goes from one side to the other and meets `a -> b` between `a` and `b` (ends
//! included). Left to right is `in`, right to left is `out`. Examples: for a horizontal
//! line drawn left to right (`a = [0, 0.5]`, `b = [1, 0.5]`) moving **down** the screen is
//! `in`; for a vertical line drawn top to bottom (`a = [0.5, 0]`, `b = [0.5, 1]`) moving
//! **left** is `in`. Swap `a` and `b` to swap the directions.
//!
//! Values per line, on every frame:
//!
//! - `line.<name>.in`, `line.<name>.out`: crossings since the analyzer started;
//! - `line.<name>.per_minute`: crossings (both directions) in the last 60 s of stream time,
//!   i.e. with time `t` in `(now - 60 s, now]`. At most [`MAX_WINDOW_EVENTS`] crossings
//!   are remembered per line, so the rate saturates there (68 per second).
//!
//! # Memory
//!
//! One entry per live confirmed track (removed when the tracker reports the track ended;
//! as a guard, the entries unseen the longest are dropped above [`MAX_REMEMBERED`]),
//! holding its last matched box and one entry time per zone; at most
//! [`MAX_WINDOW_EVENTS`] times per line. [`Regions::reset`] forgets the tracks and the
//! per-minute windows and keeps the cumulative `in`/`out` counts.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

use visualpath_core::observation::Label;
use visualpath_core::{BBox, Name, Track, Values};

use crate::ConfigError;
use crate::clock::{FrameTime, StreamClock};

/// Length of the per-minute window, ns.
pub const WINDOW_NS: i64 = 60_000_000_000;
/// Most crossings a line remembers for its per-minute rate.
pub const MAX_WINDOW_EVENTS: usize = 4096;
/// Most tracks remembered at once (see the module docs).
pub const MAX_REMEMBERED: usize = 2 * crate::MAX_TRACKS;
/// Most points of a zone polygon.
pub const MAX_POINTS: usize = 64;

/// The point of a track's box that zones and lines look at.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The middle of the bottom edge (feet, wheels).
    #[default]
    BottomCenter,
    /// The centre of the box.
    Center,
    /// The middle of the top edge (heads).
    TopCenter,
}

impl Anchor {
    /// The anchor point of `b`.
    pub fn point(self, b: &BBox) -> (f64, f64) {
        let x = (f64::from(b.x1) + f64::from(b.x2)) * 0.5;
        let y = match self {
            Self::BottomCenter => f64::from(b.y2),
            Self::Center => (f64::from(b.y1) + f64::from(b.y2)) * 0.5,
            Self::TopCenter => f64::from(b.y1),
        };
        (x, y)
    }
}

fn default_normalized() -> bool {
    true
}

/// A polygon area of the frame whose tracks are counted.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Zone name, unique among the zones of the analyzer; its values are
    /// `zone.<name>.count`, `zone.<name>.max_dwell_s`, `zone.<name>.entered` and
    /// `zone.<name>.exited`. Required.
    pub name: Name,
    /// The polygon's corners `[x, y]` in order (either direction), 3 to 64 of them; the
    /// last connects back to the first. Fractions of the frame size (0-1) with
    /// `normalized`, else source pixels. Required.
    pub points: Vec<[f64; 2]>,
    /// Whether `points` are fractions of the frame width and height (0-1, origin
    /// top-left) rather than source pixels. Default `true`.
    #[serde(default = "default_normalized")]
    pub normalized: bool,
    /// The point of each track's box that must be inside: `bottom_center`, `center` or
    /// `top_center`. Default `bottom_center`.
    #[serde(default)]
    pub anchor: Anchor,
}

/// A directed segment whose crossings are counted.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// Line name, unique among the lines of the analyzer; its values are
    /// `line.<name>.in`, `line.<name>.out` and `line.<name>.per_minute`. Required.
    pub name: Name,
    /// Start point `[x, y]` (fractions of the frame size with `normalized`, else source
    /// pixels). Crossing from the left to the right of `a -> b` as seen on screen is `in`.
    /// Required.
    pub a: [f64; 2],
    /// End point `[x, y]`, distinct from `a`. Required.
    pub b: [f64; 2],
    /// Whether `a` and `b` are fractions of the frame width and height (0-1, origin
    /// top-left) rather than source pixels. Default `true`.
    #[serde(default = "default_normalized")]
    pub normalized: bool,
    /// The point of each track's box whose path is tested: `bottom_center`, `center` or
    /// `top_center`. Default `bottom_center`.
    #[serde(default)]
    pub anchor: Anchor,
}

fn check_point(what: &str, p: [f64; 2], normalized: bool) -> Result<(), ConfigError> {
    let ok = p
        .iter()
        .all(|v| v.is_finite() && *v >= 0.0 && (!normalized || *v <= 1.0) && *v <= 1e6);
    if ok {
        Ok(())
    } else {
        let range = if normalized {
            "between 0 and 1 (`normalized: true`)"
        } else {
            "pixels between 0 and 1000000"
        };
        Err(ConfigError(format!(
            "{}: {what} [{}, {}] must have coordinates {range}",
            crate::KIND,
            p[0],
            p[1]
        )))
    }
}

impl ZoneConfig {
    /// Checks the polygon; `at` names the zone in errors (e.g. `zones[0]`).
    pub fn validate_at(&self, at: &str) -> Result<(), ConfigError> {
        let n = self.points.len();
        if !(3..=MAX_POINTS).contains(&n) {
            return Err(ConfigError(format!(
                "{}: `{at}` (`{}`) must have 3 to {MAX_POINTS} points, got {n}",
                crate::KIND,
                self.name
            )));
        }
        for (i, p) in self.points.iter().enumerate() {
            check_point(
                &format!("`{at}.points[{i}]` (`{}`)", self.name),
                *p,
                self.normalized,
            )?;
        }
        let area2: f64 = (0..n)
            .map(|i| {
                let (p, q) = (self.points[i], self.points[(i + 1) % n]);
                p[0] * q[1] - q[0] * p[1]
            })
            .sum();
        if area2 == 0.0 {
            return Err(ConfigError(format!(
                "{}: `{at}` (`{}`) has no area: its points must not all be on one line",
                crate::KIND,
                self.name
            )));
        }
        Ok(())
    }
}

impl LineConfig {
    /// Checks the segment; `at` names the line in errors (e.g. `lines[0]`).
    pub fn validate_at(&self, at: &str) -> Result<(), ConfigError> {
        check_point(
            &format!("`{at}.a` (`{}`)", self.name),
            self.a,
            self.normalized,
        )?;
        check_point(
            &format!("`{at}.b` (`{}`)", self.name),
            self.b,
            self.normalized,
        )?;
        if self.a == self.b {
            return Err(ConfigError(format!(
                "{}: `{at}` (`{}`) needs two distinct points, got a = b = [{}, {}]",
                crate::KIND,
                self.name,
                self.a[0],
                self.a[1]
            )));
        }
        Ok(())
    }
}

/// Whether `p` is inside `poly` by the even-odd rule (crossing-number test).
pub fn point_in_polygon(p: (f64, f64), poly: &[(f64, f64)]) -> bool {
    let (px, py) = p;
    let mut inside = false;
    let mut j = poly.len().wrapping_sub(1);
    for (i, &(xi, yi)) in poly.iter().enumerate() {
        let (xj, yj) = poly[j];
        if (yi > py) != (yj > py) {
            let x = xi + (py - yi) * (xj - xi) / (yj - yi);
            if px < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

/// A crossing of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crossing {
    /// From the left to the right of `a -> b`.
    In,
    /// From the right to the left of `a -> b`.
    Out,
}

/// Whether the path `p -> q` crosses the segment `a -> b`, and in which direction (see the
/// module docs).
pub fn crossing(a: (f64, f64), b: (f64, f64), p: (f64, f64), q: (f64, f64)) -> Option<Crossing> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let side = |r: (f64, f64)| dx * (r.1 - a.1) - dy * (r.0 - a.0);
    let (sp, sq) = (side(p), side(q));
    let (rp, rq) = (sp > 0.0, sq > 0.0);
    if rp == rq {
        return None;
    }
    // sp != sq since exactly one of them is positive.
    let s = sp / (sp - sq);
    let x = (p.0 + s * (q.0 - p.0), p.1 + s * (q.1 - p.1));
    let len2 = dx * dx + dy * dy;
    let t = ((x.0 - a.0) * dx + (x.1 - a.1) * dy) / len2;
    if !(0.0..=1.0).contains(&t) {
        return None;
    }
    Some(if rq { Crossing::In } else { Crossing::Out })
}

/// What a zone says on the current frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZoneStats {
    /// Members: confirmed live tracks inside.
    pub count: u32,
    /// Longest membership, seconds (0 without members).
    pub max_dwell_s: f64,
    /// Tracks that entered on this frame.
    pub entered: u32,
    /// Tracks that exited on this frame.
    pub exited: u32,
}

/// What a line says on the current frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineStats {
    /// Left-to-right crossings since the start.
    pub ins: u64,
    /// Right-to-left crossings since the start.
    pub outs: u64,
    /// Crossings in the last 60 s of stream time.
    pub per_minute: u32,
}

#[derive(Debug)]
struct ZoneRt {
    config: ZoneConfig,
    px: Vec<(f64, f64)>,
    stats: ZoneStats,
    labels: [Label; 4],
}

#[derive(Debug)]
struct LineRt {
    config: LineConfig,
    a: (f64, f64),
    b: (f64, f64),
    ins: u64,
    outs: u64,
    window: VecDeque<i64>,
    labels: [Label; 3],
}

#[derive(Debug)]
struct Member {
    last_box: Option<BBox>,
    /// Per zone: stream time of entry while a member.
    inside: Vec<Option<i64>>,
    seen_ns: i64,
}

/// Zone and line state for one stream; see the module docs.
#[derive(Debug)]
pub struct Regions {
    zones: Vec<ZoneRt>,
    lines: Vec<LineRt>,
    size: Option<(u32, u32)>,
    members: HashMap<u64, Member>,
    clock: StreamClock,
    stale: Vec<(i64, u64)>,
}

fn label(s: String) -> Label {
    Cow::Owned(s)
}

impl Regions {
    /// Zones and lines from (validated) configs.
    pub fn new(zones: &[ZoneConfig], lines: &[LineConfig]) -> Self {
        Self {
            zones: zones
                .iter()
                .map(|z| ZoneRt {
                    config: z.clone(),
                    px: Vec::new(),
                    stats: ZoneStats {
                        count: 0,
                        max_dwell_s: 0.0,
                        entered: 0,
                        exited: 0,
                    },
                    labels: ["count", "max_dwell_s", "entered", "exited"]
                        .map(|v| label(format!("zone.{}.{v}", z.name))),
                })
                .collect(),
            lines: lines
                .iter()
                .map(|l| LineRt {
                    config: l.clone(),
                    a: (0.0, 0.0),
                    b: (0.0, 0.0),
                    ins: 0,
                    outs: 0,
                    window: VecDeque::new(),
                    labels: ["in", "out", "per_minute"]
                        .map(|v| label(format!("line.{}.{v}", l.name))),
                })
                .collect(),
            size: None,
            members: HashMap::new(),
            clock: StreamClock::new(),
            stale: Vec::new(),
        }
    }

    fn layout(&mut self, w: u32, h: u32) {
        let (sx, sy) = (f64::from(w), f64::from(h));
        let scale = |p: [f64; 2], normalized: bool| {
            if normalized {
                (p[0] * sx, p[1] * sy)
            } else {
                (p[0], p[1])
            }
        };
        for z in &mut self.zones {
            z.px.clear();
            let n = z.config.normalized;
            z.px.extend(z.config.points.iter().map(|&p| scale(p, n)));
        }
        for l in &mut self.lines {
            l.a = scale(l.config.a, l.config.normalized);
            l.b = scale(l.config.b, l.config.normalized);
        }
        self.size = Some((w, h));
    }

    /// Advances to `frame` (of `width x height` source pixels) with the tracker's output
    /// `tracks` and the tracks that `ended` on this frame.
    pub fn update(
        &mut self,
        frame: FrameTime,
        width: u32,
        height: u32,
        tracks: &[Track],
        ended: &[Track],
    ) {
        self.clock.advance(frame);
        let now = self.clock.now_ns();
        if self.zones.is_empty() && self.lines.is_empty() {
            return;
        }
        if self.size != Some((width, height)) {
            self.layout(width, height);
        }
        for z in &mut self.zones {
            z.stats.entered = 0;
            z.stats.exited = 0;
        }
        for e in ended {
            if let Some(m) = self.members.remove(&e.id) {
                for (z, since) in self.zones.iter_mut().zip(&m.inside) {
                    if since.is_some() {
                        z.stats.exited += 1;
                    }
                }
            }
        }
        let nz = self.zones.len();
        for t in tracks {
            if t.lost > 0 {
                if let Some(m) = self.members.get_mut(&t.id) {
                    m.seen_ns = now;
                }
                continue;
            }
            let m = self.members.entry(t.id).or_insert_with(|| Member {
                last_box: None,
                inside: vec![None; nz],
                seen_ns: now,
            });
            m.seen_ns = now;
            if let Some(prev) = m.last_box {
                for l in &mut self.lines {
                    let p = l.config.anchor.point(&prev);
                    let q = l.config.anchor.point(&t.bbox);
                    if let Some(c) = crossing(l.a, l.b, p, q) {
                        match c {
                            Crossing::In => l.ins += 1,
                            Crossing::Out => l.outs += 1,
                        }
                        if l.window.len() >= MAX_WINDOW_EVENTS {
                            l.window.pop_front();
                        }
                        l.window.push_back(now);
                    }
                }
            }
            for (z, since) in self.zones.iter_mut().zip(m.inside.iter_mut()) {
                let inside = point_in_polygon(z.config.anchor.point(&t.bbox), &z.px);
                match (inside, since.is_some()) {
                    (true, false) => {
                        *since = Some(now);
                        z.stats.entered += 1;
                    }
                    (false, true) => {
                        *since = None;
                        z.stats.exited += 1;
                    }
                    _ => {}
                }
            }
            m.last_box = Some(t.bbox);
        }
        self.enforce_bound();
        for (zi, z) in self.zones.iter_mut().enumerate() {
            let mut count = 0;
            let mut longest = 0i64;
            for m in self.members.values() {
                if let Some(since) = m.inside[zi] {
                    count += 1;
                    longest = longest.max(now.saturating_sub(since));
                }
            }
            z.stats.count = count;
            z.stats.max_dwell_s = longest as f64 / 1e9;
        }
        let horizon = now.saturating_sub(WINDOW_NS);
        for l in &mut self.lines {
            while l.window.front().is_some_and(|&t| t <= horizon) {
                l.window.pop_front();
            }
        }
    }

    fn enforce_bound(&mut self) {
        if self.members.len() <= MAX_REMEMBERED {
            return;
        }
        self.stale.clear();
        self.stale
            .extend(self.members.iter().map(|(&id, m)| (m.seen_ns, id)));
        self.stale.sort_unstable();
        let excess = self.members.len() - MAX_REMEMBERED;
        for k in 0..excess {
            let id = self.stale[k].1;
            self.members.remove(&id);
        }
    }

    /// Number of zones.
    pub fn zone_count(&self) -> usize {
        self.zones.len()
    }

    /// Number of lines.
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Zone `i` (configuration order) on the current frame.
    pub fn zone(&self, i: usize) -> Option<ZoneStats> {
        self.zones.get(i).map(|z| z.stats)
    }

    /// Line `i` (configuration order) on the current frame.
    pub fn line(&self, i: usize) -> Option<LineStats> {
        self.lines.get(i).map(|l| LineStats {
            ins: l.ins,
            outs: l.outs,
            per_minute: l.window.len() as u32,
        })
    }

    /// Seconds track `id` has been inside zone `zone`, if it is a member.
    pub fn dwell_s(&self, zone: usize, id: u64) -> Option<f64> {
        let since = (*self.members.get(&id)?.inside.get(zone)?)?;
        Some(self.clock.now_ns().saturating_sub(since) as f64 / 1e9)
    }

    /// Number of tracks remembered (bounded by [`MAX_REMEMBERED`]).
    pub fn remembered(&self) -> usize {
        self.members.len()
    }

    /// Appends the zone values then the line values (see the module docs) to `values`.
    pub fn write_values(&self, values: &mut Values) {
        for z in &self.zones {
            let s = z.stats;
            let [count, dwell, entered, exited] = &z.labels;
            values.set(count.clone(), f64::from(s.count));
            values.set(dwell.clone(), s.max_dwell_s);
            values.set(entered.clone(), f64::from(s.entered));
            values.set(exited.clone(), f64::from(s.exited));
        }
        for l in &self.lines {
            let [ins, outs, rate] = &l.labels;
            values.set(ins.clone(), l.ins as f64);
            values.set(outs.clone(), l.outs as f64);
            values.set(rate.clone(), l.window.len() as f64);
        }
    }

    /// Forgets the tracks and the per-minute windows (a new stream); cumulative `in`/`out`
    /// counts are kept.
    pub fn reset(&mut self) {
        self.members.clear();
        self.clock.reset();
        for z in &mut self.zones {
            z.stats = ZoneStats {
                count: 0,
                max_dwell_s: 0.0,
                entered: 0,
                exited: 0,
            };
        }
        for l in &mut self.lines {
            l.window.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygon_membership() {
        let square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
        assert!(point_in_polygon((5.0, 5.0), &square));
        assert!(!point_in_polygon((15.0, 5.0), &square));
        assert!(!point_in_polygon((5.0, -0.1), &square));
        // Concave "U": the notch is outside.
        let u = [
            (0.0, 0.0),
            (3.0, 0.0),
            (3.0, 8.0),
            (7.0, 8.0),
            (7.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
        ];
        assert!(!point_in_polygon((5.0, 4.0), &u));
        assert!(point_in_polygon((5.0, 9.0), &u));
        assert!(point_in_polygon((1.0, 4.0), &u));
        assert!(!point_in_polygon((1.0, 1.0), &[]));
    }

    #[test]
    fn crossing_directions() {
        // Horizontal line drawn left to right at y = 5: moving down is `in`.
        let (a, b) = ((0.0, 5.0), (10.0, 5.0));
        assert_eq!(crossing(a, b, (3.0, 2.0), (3.0, 8.0)), Some(Crossing::In));
        assert_eq!(crossing(a, b, (3.0, 8.0), (3.0, 2.0)), Some(Crossing::Out));
        // Beyond the end of the segment: no crossing.
        assert_eq!(crossing(a, b, (12.0, 2.0), (12.0, 8.0)), None);
        // At an end point exactly: counted.
        assert_eq!(crossing(a, b, (10.0, 2.0), (10.0, 8.0)), Some(Crossing::In));
        // Same side: none; touching the line counts as the left side.
        assert_eq!(crossing(a, b, (3.0, 2.0), (3.0, 4.0)), None);
        assert_eq!(crossing(a, b, (3.0, 2.0), (3.0, 5.0)), None);
        assert_eq!(crossing(a, b, (3.0, 5.0), (3.0, 6.0)), Some(Crossing::In));
        // Vertical line drawn top to bottom: moving left is `in`.
        let (a, b) = ((5.0, 0.0), (5.0, 10.0));
        assert_eq!(crossing(a, b, (8.0, 3.0), (2.0, 3.0)), Some(Crossing::In));
        assert_eq!(crossing(a, b, (2.0, 3.0), (8.0, 3.0)), Some(Crossing::Out));
        // Diagonal path through the segment's interior.
        assert_eq!(
            crossing((0.0, 0.0), (10.0, 10.0), (0.0, 10.0), (10.0, 0.0)),
            Some(Crossing::Out)
        );
    }

    #[test]
    fn validation_messages() {
        let z = ZoneConfig {
            name: Name::from_static("door"),
            points: vec![[0.0, 0.0], [1.0, 0.0]],
            normalized: true,
            anchor: Anchor::default(),
        };
        let e = z.validate_at("zones[0]").unwrap_err().0;
        assert_eq!(
            e,
            "track: `zones[0]` (`door`) must have 3 to 64 points, got 2"
        );
        let z = ZoneConfig {
            points: vec![[0.0, 0.0], [1.5, 0.0], [1.0, 1.0]],
            ..z
        };
        let e = z.validate_at("zones[0]").unwrap_err().0;
        assert_eq!(
            e,
            "track: `zones[0].points[1]` (`door`) [1.5, 0] must have coordinates between 0 and 1 (`normalized: true`)"
        );
        let z = ZoneConfig {
            points: vec![[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]],
            ..z
        };
        assert!(z.validate_at("zones[0]").unwrap_err().0.contains("no area"));
        let z = ZoneConfig {
            points: vec![[0.0, 0.0], [1500.0, 0.0], [0.0, 10.0]],
            normalized: false,
            ..z
        };
        assert!(z.validate_at("zones[0]").is_ok());
        let l = LineConfig {
            name: Name::from_static("gate"),
            a: [0.5, 0.5],
            b: [0.5, 0.5],
            normalized: true,
            anchor: Anchor::Center,
        };
        assert!(
            l.validate_at("lines[0]")
                .unwrap_err()
                .0
                .contains("two distinct points")
        );
        let l = LineConfig {
            b: [f64::NAN, 0.0],
            ..l
        };
        assert!(l.validate_at("lines[0]").is_err());
    }

    #[test]
    fn anchors() {
        let b = BBox::new(10.0, 20.0, 30.0, 60.0);
        assert_eq!(Anchor::BottomCenter.point(&b), (20.0, 60.0));
        assert_eq!(Anchor::Center.point(&b), (20.0, 40.0));
        assert_eq!(Anchor::TopCenter.point(&b), (20.0, 20.0));
    }
}
