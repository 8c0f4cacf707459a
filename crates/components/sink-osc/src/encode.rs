//! The pure part of the sink: which OSC messages a record becomes, their addresses, the
//! normalised coordinates, the bundle timetag, how messages are packed into datagrams
//! and the rate limit. No I/O: everything here is driven by the caller's clock.

use std::collections::HashMap;

use rosc::{OscMessage, OscPacket, OscType};
use visualpath_sdk::core::{Event, EventPhase, Observation, Pose};
use visualpath_sdk::{Name, Record};

use crate::{Origin, Timetag};

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// The OSC "immediately" timetag (63 zero bits then a one).
pub const IMMEDIATELY: (u32, u32) = (0, 1);

/// A capture time (ns since the Unix epoch) as an NTP 64-bit timestamp `(seconds,
/// fraction of a second in units of 2^-32 s)`, as OSC bundle timetags are. Times before
/// 1900 or after 2036-02-07 (where the 32-bit NTP seconds wrap) are clamped to the ends
/// of that range.
pub fn ntp_timetag(capture_time_ns: i64) -> (u32, u32) {
    let ns = i128::from(capture_time_ns) + i128::from(NTP_UNIX_OFFSET_S) * 1_000_000_000;
    let max = (i128::from(u32::MAX) + 1) * 1_000_000_000 - 1;
    let ns = ns.clamp(0, max);
    let secs = (ns / 1_000_000_000) as u32;
    let rem = (ns % 1_000_000_000) as u64;
    // Round to the nearest 2^-32 s; a remainder that rounds up to a full second stays
    // at the largest fraction (never carries into the seconds).
    let frac = ((rem << 32) + 500_000_000) / 1_000_000_000;
    (secs, frac.min(u64::from(u32::MAX)) as u32)
}

/// The inverse of [`ntp_timetag`], to the nearest nanosecond.
pub fn timetag_ns(secs: u32, frac: u32) -> i64 {
    let ns = (u64::from(frac) * 1_000_000_000 + (1 << 31)) >> 32;
    (i64::from(secs) - NTP_UNIX_OFFSET_S as i64) * 1_000_000_000 + ns as i64
}

/// Replaces characters an OSC address part may not contain (space, `#*,/?[]{}`, control
/// and non-ASCII characters) with `_`.
pub fn sanitize(part: &str, out: &mut String) {
    for c in part.chars() {
        let bad = !c.is_ascii_graphic()
            || matches!(c, '#' | '*' | ',' | '/' | '?' | '[' | ']' | '{' | '}');
        out.push(if bad { '_' } else { c });
    }
}

/// How slot channels are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// `p{slot}/{field}`; keypoints `p{slot}/{keypoint}:{axis}` (TouchDesigner's body
    /// tracking CHOPs).
    TouchDesigner,
    /// A template with `{slot}` and `{axis}`; keypoint fields are `{keypoint}_{axis}`.
    Template(String),
}

impl Format {
    /// Parses the `format` setting. `Err` says what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "touchdesigner" {
            return Ok(Self::TouchDesigner);
        }
        let t = s.trim_start_matches('/');
        if !t.contains("{slot}") || !t.contains("{axis}") {
            return Err(format!(
                "`{s}` is neither `touchdesigner` nor a template with both `{{slot}}` and `{{axis}}` (e.g. `p{{slot}}_{{axis}}`)"
            ));
        }
        let sample = t.replace("{slot}", "1").replace("{axis}", "tx");
        let ok = sample.split('/').all(|part| {
            let mut clean = String::new();
            sanitize(part, &mut clean);
            !part.is_empty() && clean == part
        });
        if !ok {
            return Err(format!(
                "template `{s}` has characters OSC addresses cannot hold (space, #*,?[]{{}}, an empty `//` part or a trailing `/`)"
            ));
        }
        Ok(Self::Template(t.to_owned()))
    }
}

/// The resolved naming and output settings.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `/vp` or empty; may contain `{source}`.
    pub prefix: String,
    /// Slot channel names.
    pub format: Format,
    /// Where `(0, 0)` is.
    pub origin: Origin,
    /// Slots `p1..pN` always sent.
    pub max_slots: u32,
    /// One bundle per record.
    pub bundle: bool,
    /// The bundles' timetag.
    pub timetag: Timetag,
    /// Largest datagram.
    pub max_datagram: usize,
    /// Observations per second per source and analyzer; `None`: no limit.
    pub max_rate: Option<f64>,
}

/// What the sink remembers about one source.
#[derive(Debug, Default)]
struct SourceState {
    /// Track id to slot, from the latest track observation.
    slots: HashMap<u64, u32>,
    /// A tracker has been seen on this source (then `/count` comes from it).
    tracker: bool,
    /// The analyzer whose detections give `/count` when there is no tracker.
    detector: Option<Name>,
    /// The analyzer that produced poses, and the keypoint names it uses.
    pose: Option<(Name, Vec<String>)>,
}

/// A limit of `rate` per second per key, with a tolerance of half an interval for
/// jitter (the generic cell rate algorithm): over any long run at most `rate` per
/// second pass, and frames that arrive slightly early are not dropped.
#[derive(Debug)]
pub struct RateLimiter {
    interval_ns: u64,
    next: HashMap<(Name, Name), u64>,
}

impl RateLimiter {
    /// A limiter of `rate` per second (> 0).
    pub fn new(rate: f64) -> Self {
        Self {
            interval_ns: (1e9 / rate).round().max(1.0) as u64,
            next: HashMap::new(),
        }
    }

    /// Whether a record of `key` may go at `now_ns` (monotonic); counts it if so.
    pub fn allow(&mut self, key: (&Name, &Name), now_ns: u64) -> bool {
        let tat = match self.next.get_mut(&(key.0.clone(), key.1.clone())) {
            Some(t) => t,
            None => {
                self.next
                    .insert((key.0.clone(), key.1.clone()), now_ns + self.interval_ns);
                return true;
            }
        };
        if *tat > now_ns + self.interval_ns / 2 {
            return false;
        }
        *tat = (*tat).max(now_ns) + self.interval_ns;
        true
    }
}

/// Encoded datagrams, back to back.
#[derive(Debug, Default)]
pub struct Datagrams {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Datagrams {
    /// Empties the set, keeping the memory.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }
    /// Number of datagrams.
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Datagram `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
    /// All datagrams.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// Turns records into OSC datagrams.
#[derive(Debug)]
pub struct Encoder {
    layout: Layout,
    sources: HashMap<Name, SourceState>,
    limiter: Option<RateLimiter>,
    msgs: Vec<OscMessage>,
    /// Encoded messages back to back, and where each ends.
    mbuf: Vec<u8>,
    mends: Vec<usize>,
    warned_size: bool,
}

fn f(v: f32) -> OscType {
    OscType::Float(v)
}

impl Encoder {
    /// An encoder with these settings.
    pub fn new(layout: Layout) -> Self {
        let limiter = layout.max_rate.map(RateLimiter::new);
        Self {
            layout,
            sources: HashMap::new(),
            limiter,
            msgs: Vec::new(),
            mbuf: Vec::new(),
            mends: Vec::new(),
            warned_size: false,
        }
    }

    /// The settings.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The address prefix for `source` (empty or `/...`).
    fn prefix(&self, source: &str) -> String {
        let p = &self.layout.prefix;
        if p.contains("{source}") {
            let mut s = String::new();
            sanitize(source, &mut s);
            p.replace("{source}", &s)
        } else {
            p.clone()
        }
    }

    /// The address of slot `slot`'s `field` (`tx`, `id`, ...), or of a keypoint axis
    /// when `keypoint` is set.
    pub fn slot_address(
        &self,
        prefix: &str,
        slot: u32,
        keypoint: Option<&str>,
        field: &str,
    ) -> String {
        let mut a = String::with_capacity(prefix.len() + 24);
        a.push_str(prefix);
        a.push('/');
        match &self.layout.format {
            Format::TouchDesigner => {
                a.push('p');
                a.push_str(&slot.to_string());
                a.push('/');
                if let Some(k) = keypoint {
                    sanitize(k, &mut a);
                    a.push(':');
                }
                a.push_str(field);
            }
            Format::Template(t) => {
                let mut axis = String::new();
                if let Some(k) = keypoint {
                    sanitize(k, &mut axis);
                    axis.push('_');
                }
                axis.push_str(field);
                a.push_str(
                    &t.replace("{slot}", &slot.to_string())
                        .replace("{axis}", &axis),
                );
            }
        }
        a
    }

    /// A point in pixels as normalised `(x, y)` in `[0, 1]` with the configured origin;
    /// pixels, origin top-left, when the frame size is unknown.
    pub fn normalise(&self, size: (u32, u32), x: f32, y: f32) -> (f32, f32) {
        if size.0 == 0 || size.1 == 0 {
            return (x, y);
        }
        let nx = (x / size.0 as f32).clamp(0.0, 1.0);
        let ny = (y / size.1 as f32).clamp(0.0, 1.0);
        match self.layout.origin {
            Origin::BottomLeft => (nx, 1.0 - ny),
            Origin::TopLeft => (nx, ny),
        }
    }

    fn push(&mut self, addr: String, arg: OscType) {
        self.msgs.push(OscMessage {
            addr,
            args: vec![arg],
        });
    }

    /// Encodes `record` into `out` (cleared first). `false`: nothing to send for it
    /// (a sync set, an empty observation, or over the rate limit).
    pub fn encode(&mut self, record: &Record, now_ns: u64, out: &mut Datagrams) -> bool {
        out.clear();
        self.msgs.clear();
        let time_ns = match record {
            Record::Observation(o) => {
                if let Some(l) = &mut self.limiter
                    && !l.allow((&o.source, &o.analyzer), now_ns)
                {
                    return false;
                }
                self.observation(o);
                o.capture_time_ns
            }
            Record::Event(e) => {
                self.event(e);
                e.capture_time_ns
            }
            Record::Sync(_) => return false,
        };
        if self.msgs.is_empty() {
            return false;
        }
        self.pack(time_ns, out);
        true
    }

    fn event(&mut self, e: &Event) {
        let mut a = self.prefix(e.source.as_str());
        a.push_str("/event/");
        sanitize(e.rule.as_str(), &mut a);
        let v = match e.phase {
            EventPhase::Start => 1,
            EventPhase::End => 0,
        };
        self.push(a, OscType::Int(v));
    }

    fn observation(&mut self, o: &Observation) {
        let prefix = self.prefix(o.source.as_str());
        let d = &o.data;
        let mut st = self.sources.remove(&o.source).unwrap_or_default();
        let is_tracker = !d.tracks.is_empty() || d.values.get("slots_used").is_some();
        if is_tracker {
            st.tracker = true;
            st.slots.clear();
            for t in &d.tracks {
                if let Some(s) = t.slot {
                    st.slots.insert(t.id, s);
                }
            }
            for slot in 1..=self.layout.max_slots {
                match d.tracks.iter().find(|t| t.slot == Some(slot)) {
                    Some(t) => {
                        let (cx, cy) = t.bbox.center();
                        let (tx, ty) = self.normalise(o.frame_size, cx, cy);
                        let (w, h) = if o.frame_size.0 > 0 && o.frame_size.1 > 0 {
                            (
                                (t.bbox.width() / o.frame_size.0 as f32).min(1.0),
                                (t.bbox.height() / o.frame_size.1 as f32).min(1.0),
                            )
                        } else {
                            (t.bbox.width(), t.bbox.height())
                        };
                        let id = (t.id & 0x7fff_ffff) as i32;
                        for (field, v) in [
                            ("tx", f(tx)),
                            ("ty", f(ty)),
                            ("w", f(w)),
                            ("h", f(h)),
                            ("id", OscType::Int(id)),
                            ("active", OscType::Int(1)),
                            ("score", f(t.score)),
                        ] {
                            let a = self.slot_address(&prefix, slot, None, field);
                            self.push(a, v);
                        }
                    }
                    None => {
                        for (field, v) in [
                            ("tx", f(0.0)),
                            ("ty", f(0.0)),
                            ("w", f(0.0)),
                            ("h", f(0.0)),
                            ("id", OscType::Int(0)),
                            ("active", OscType::Int(0)),
                            ("score", f(0.0)),
                        ] {
                            let a = self.slot_address(&prefix, slot, None, field);
                            self.push(a, v);
                        }
                    }
                }
            }
            self.push(
                format!("{prefix}/count"),
                OscType::Int(d.tracks.len() as i32),
            );
        } else if !st.tracker {
            if !d.detections.is_empty() && st.detector.is_none() {
                st.detector = Some(o.analyzer.clone());
            }
            if st.detector.as_ref() == Some(&o.analyzer) {
                self.push(
                    format!("{prefix}/count"),
                    OscType::Int(d.detections.len() as i32),
                );
            }
        }
        if !d.poses.is_empty() || st.pose.as_ref().is_some_and(|(a, _)| *a == o.analyzer) {
            self.poses(&prefix, o, &mut st);
        }
        for (name, v) in d.values.iter() {
            if !v.is_finite() {
                continue;
            }
            let mut a = prefix.clone();
            a.push('/');
            sanitize(o.source.as_str(), &mut a);
            a.push('/');
            sanitize(o.analyzer.as_str(), &mut a);
            a.push('/');
            sanitize(name, &mut a);
            self.push(a, f(v as f32));
        }
        self.sources.insert(o.source.clone(), st);
    }

    fn poses(&mut self, prefix: &str, o: &Observation, st: &mut SourceState) {
        if let Some(p) = o.data.poses.first() {
            let names: Vec<String> = p.keypoints.iter().map(|k| k.name.to_string()).collect();
            match &mut st.pose {
                Some((a, n)) if *a == o.analyzer => {
                    if *n != names {
                        *n = names;
                    }
                }
                _ => st.pose = Some((o.analyzer.clone(), names)),
            }
        }
        let names = st.pose.as_ref().map(|(_, n)| n.clone()).unwrap_or_default();
        let slot_of = |i: usize, p: &Pose| -> Option<u32> {
            match p.track_id {
                Some(id) => st.slots.get(&id).copied(),
                None => u32::try_from(i + 1).ok(),
            }
        };
        let mut by_slot: Vec<Option<&Pose>> = vec![None; self.layout.max_slots as usize];
        for (i, p) in o.data.poses.iter().enumerate() {
            if let Some(s) = slot_of(i, p)
                && s >= 1
                && s <= self.layout.max_slots
            {
                by_slot[(s - 1) as usize].get_or_insert(p);
            }
        }
        for (i, p) in by_slot.into_iter().enumerate() {
            let slot = i as u32 + 1;
            match p {
                Some(p) => {
                    for k in &p.keypoints {
                        let (x, y) = self.normalise(o.frame_size, k.x, k.y);
                        for (axis, v) in [("tx", x), ("ty", y), ("score", k.score)] {
                            let a = self.slot_address(prefix, slot, Some(&k.name), axis);
                            self.push(a, f(v));
                        }
                    }
                }
                None => {
                    for k in &names {
                        for axis in ["tx", "ty", "score"] {
                            let a = self.slot_address(prefix, slot, Some(k), axis);
                            self.push(a, f(0.0));
                        }
                    }
                }
            }
        }
    }

    /// Encodes the collected messages and packs them into datagrams of at most
    /// `max_datagram` bytes (a single message larger than that goes alone).
    fn pack(&mut self, time_ns: i64, out: &mut Datagrams) {
        self.mbuf.clear();
        self.mends.clear();
        for m in self.msgs.drain(..) {
            // Encoding into a Vec cannot fail.
            let _ = rosc::encoder::encode_into(&OscPacket::Message(m), &mut self.mbuf);
            self.mends.push(self.mbuf.len());
        }
        let max = self.layout.max_datagram;
        let (secs, frac) = match self.layout.timetag {
            Timetag::Capture => ntp_timetag(time_ns),
            Timetag::Immediate => IMMEDIATELY,
        };
        let mut start = 0;
        let mut open = false; // a bundle with at least one element is being filled
        for &end in &self.mends {
            let m = &self.mbuf[start..end];
            start = end;
            if !self.layout.bundle {
                out.buf.extend_from_slice(m);
                out.ends.push(out.buf.len());
                continue;
            }
            let cur = out.buf.len() - out.ends.last().copied().unwrap_or(0);
            if open && cur + 4 + m.len() > max {
                out.ends.push(out.buf.len());
                open = false;
            }
            if !open {
                out.buf.extend_from_slice(b"#bundle\0");
                out.buf.extend_from_slice(&secs.to_be_bytes());
                out.buf.extend_from_slice(&frac.to_be_bytes());
                open = true;
            }
            out.buf.extend_from_slice(&(m.len() as u32).to_be_bytes());
            out.buf.extend_from_slice(m);
            if 16 + 4 + m.len() > max && !self.warned_size {
                self.warned_size = true;
                tracing::warn!(
                    bytes = m.len(),
                    max,
                    "an OSC message is larger than max_datagram; sent in a datagram of its own"
                );
            }
        }
        if open {
            out.ends.push(out.buf.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use visualpath_sdk::core::{BBox, Keypoint, ObservationData, Timing, Values};
    use visualpath_sdk::{Detection, Track};

    fn layout() -> Layout {
        Layout {
            prefix: String::new(),
            format: Format::TouchDesigner,
            origin: Origin::BottomLeft,
            max_slots: 3,
            bundle: true,
            timetag: Timetag::Capture,
            max_datagram: 1472,
            max_rate: None,
        }
    }

    fn track(id: u64, slot: Option<u32>, b: BBox) -> Track {
        Track {
            id,
            slot,
            class: "person".into(),
            class_id: 1,
            score: 0.75,
            bbox: b,
            velocity: [0.0, 0.0],
            age: 5,
            hits: 5,
            lost: 0,
        }
    }

    fn obs(analyzer: &'static str, data: ObservationData) -> Record {
        Record::Observation(Arc::new(Observation {
            analyzer: Name::from_static(analyzer),
            source: Name::from_static("cam"),
            seq: 7,
            capture_time_ns: 1_700_000_000_123_456_789,
            arrival_ns: 0,
            frame_size: (800, 400),
            data,
            timing: Timing::default(),
        }))
    }

    /// (address, args, timetag) of a received message.
    type Got = (String, Vec<OscType>, Option<(u32, u32)>);

    /// Every message in `out`.
    fn decode(out: &Datagrams) -> Vec<Got> {
        fn walk(p: OscPacket, tt: Option<(u32, u32)>, v: &mut Vec<Got>) {
            match p {
                OscPacket::Message(m) => v.push((m.addr, m.args, tt)),
                OscPacket::Bundle(b) => {
                    for c in b.content {
                        walk(c, Some((b.timetag.seconds, b.timetag.fractional)), v);
                    }
                }
            }
        }
        let mut v = Vec::new();
        for d in out.iter() {
            let (rest, p) = rosc::decoder::decode_udp(d).unwrap();
            assert!(rest.is_empty());
            walk(p, None, &mut v);
        }
        v
    }

    fn get<'a>(v: &'a [Got], addr: &str) -> &'a OscType {
        &v.iter()
            .find(|m| m.0 == addr)
            .unwrap_or_else(|| {
                panic!(
                    "no {addr} in {:?}",
                    v.iter().map(|m| &m.0).collect::<Vec<_>>()
                )
            })
            .1[0]
    }

    fn tracks_obs() -> Record {
        obs(
            "track",
            ObservationData {
                values: Values::new().with("count", 2.0).with("slots_used", 2.0),
                tracks: vec![
                    track(41, Some(1), BBox::new(200.0, 100.0, 400.0, 300.0)),
                    track(42, Some(3), BBox::new(0.0, 0.0, 80.0, 40.0)),
                    track(43, None, BBox::new(0.0, 0.0, 8.0, 4.0)),
                ],
                ..Default::default()
            },
        )
    }

    #[test]
    fn ntp_timetag_round_trips_and_matches_known_values() {
        assert_eq!(ntp_timetag(0), (2_208_988_800, 0));
        assert_eq!(ntp_timetag(500_000_000), (2_208_988_800, 1 << 31));
        assert_eq!(ntp_timetag(1_000_000_000 - 1).0, 2_208_988_800);
        // 2023-11-14T22:13:20Z
        let (s, _) = ntp_timetag(1_700_000_000_000_000_000);
        assert_eq!(u64::from(s), 1_700_000_000 + NTP_UNIX_OFFSET_S);
        for ns in [
            0i64,
            1,
            999_999_999,
            1_700_000_000_123_456_789,
            2_085_978_495_999_999_999,
        ] {
            let (s, f) = ntp_timetag(ns);
            assert!((timetag_ns(s, f) - ns).abs() <= 1, "{ns}");
        }
        // Clamped ends.
        assert_eq!(ntp_timetag(i64::MIN), (0, 0));
        assert_eq!(ntp_timetag(i64::MAX).0, u32::MAX);
    }

    #[test]
    fn touchdesigner_names_and_template_names() {
        let e = Encoder::new(layout());
        assert_eq!(e.slot_address("", 1, None, "tx"), "/p1/tx");
        assert_eq!(
            e.slot_address("/vp", 12, Some("left_knee"), "ty"),
            "/vp/p12/left_knee:ty"
        );
        let e = Encoder::new(Layout {
            format: Format::parse("p{slot}_{axis}").unwrap(),
            ..layout()
        });
        assert_eq!(e.slot_address("", 2, None, "tx"), "/p2_tx");
        assert_eq!(
            e.slot_address("/vp", 2, Some("nose"), "score"),
            "/vp/p2_nose_score"
        );
        let e = Encoder::new(Layout {
            format: Format::parse("/person/{slot}/{axis}").unwrap(),
            ..layout()
        });
        assert_eq!(e.slot_address("", 3, None, "id"), "/person/3/id");
        assert!(Format::parse("p{slot}").is_err());
        assert!(Format::parse("p {slot}{axis}").is_err());
        assert!(Format::parse("p{slot}//{axis}").is_err());
        assert!(Format::parse("p#{slot}{axis}").is_err());
        let mut s = String::new();
        sanitize("zone door/1#", &mut s);
        assert_eq!(s, "zone_door_1_");
    }

    #[test]
    fn normalisation_and_origin() {
        let e = Encoder::new(layout());
        assert_eq!(e.normalise((800, 400), 200.0, 100.0), (0.25, 0.75));
        assert_eq!(e.normalise((800, 400), -5.0, 500.0), (0.0, 0.0));
        assert_eq!(e.normalise((0, 0), 3.0, 4.0), (3.0, 4.0));
        let e = Encoder::new(Layout {
            origin: Origin::TopLeft,
            ..layout()
        });
        assert_eq!(e.normalise((800, 400), 200.0, 100.0), (0.25, 0.25));
    }

    #[test]
    fn tracks_become_slot_channels_count_and_values() {
        let mut e = Encoder::new(Layout {
            prefix: "/vp".into(),
            ..layout()
        });
        let mut out = Datagrams::default();
        assert!(e.encode(&tracks_obs(), 0, &mut out));
        assert_eq!(out.len(), 1);
        let v = decode(&out);
        let tt = ntp_timetag(1_700_000_000_123_456_789);
        assert!(v.iter().all(|m| m.2 == Some(tt)));
        assert_eq!(get(&v, "/vp/p1/tx"), &OscType::Float(0.375));
        assert_eq!(get(&v, "/vp/p1/ty"), &OscType::Float(0.5));
        assert_eq!(get(&v, "/vp/p1/w"), &OscType::Float(0.25));
        assert_eq!(get(&v, "/vp/p1/h"), &OscType::Float(0.5));
        assert_eq!(get(&v, "/vp/p1/id"), &OscType::Int(41));
        assert_eq!(get(&v, "/vp/p1/active"), &OscType::Int(1));
        assert_eq!(get(&v, "/vp/p1/score"), &OscType::Float(0.75));
        assert_eq!(get(&v, "/vp/p2/active"), &OscType::Int(0));
        assert_eq!(get(&v, "/vp/p2/tx"), &OscType::Float(0.0));
        assert_eq!(get(&v, "/vp/p3/id"), &OscType::Int(42));
        assert_eq!(get(&v, "/vp/p3/ty"), &OscType::Float(0.95));
        assert!(v.iter().all(|m| !m.0.starts_with("/vp/p4")));
        assert_eq!(get(&v, "/vp/count"), &OscType::Int(3));
        assert_eq!(get(&v, "/vp/cam/track/slots_used"), &OscType::Float(2.0));
        assert_eq!(v.len(), 3 * 7 + 1 + 2);
    }

    #[test]
    fn poses_follow_their_tracks_slots() {
        let mut e = Encoder::new(layout());
        let mut out = Datagrams::default();
        e.encode(&tracks_obs(), 0, &mut out);
        let kp = |n: &'static str, x, y| Keypoint {
            name: n.into(),
            x,
            y,
            score: 0.5,
        };
        let pose = |id| Pose {
            bbox: BBox::default(),
            score: 0.5,
            keypoints: vec![kp("nose", 400.0, 0.0), kp("left_knee", 0.0, 400.0)],
            angles: Values::new(),
            track_id: Some(id),
        };
        let r = obs(
            "pose",
            ObservationData {
                poses: vec![pose(42), pose(99)],
                ..Default::default()
            },
        );
        assert!(e.encode(&r, 0, &mut out));
        let v = decode(&out);
        assert_eq!(get(&v, "/p3/nose:tx"), &OscType::Float(0.5));
        assert_eq!(get(&v, "/p3/nose:ty"), &OscType::Float(1.0));
        assert_eq!(get(&v, "/p3/left_knee:ty"), &OscType::Float(0.0));
        assert_eq!(get(&v, "/p3/left_knee:score"), &OscType::Float(0.5));
        // Slots without a pose: zeros, with the same keypoint names.
        assert_eq!(get(&v, "/p1/nose:score"), &OscType::Float(0.0));
        assert_eq!(get(&v, "/p2/left_knee:tx"), &OscType::Float(0.0));
        // No /count from the pose analyzer once a tracker was seen.
        assert!(v.iter().all(|m| m.0 != "/count"));
        // An empty pose observation keeps the channels, all zero.
        let empty = obs("pose", ObservationData::default());
        assert!(e.encode(&empty, 0, &mut out));
        let v = decode(&out);
        assert_eq!(v.len(), 3 * 2 * 3);
        assert!(v.iter().all(|m| m.1[0] == OscType::Float(0.0)));
    }

    #[test]
    fn detections_count_without_a_tracker() {
        let mut e = Encoder::new(layout());
        let mut out = Datagrams::default();
        let det = Detection {
            class: "person".into(),
            class_id: 1,
            score: 0.9,
            bbox: BBox::new(0.0, 0.0, 1.0, 1.0),
        };
        let r = obs(
            "detect",
            ObservationData {
                values: Values::new().with("count", 2.0),
                detections: vec![det.clone(), det],
                ..Default::default()
            },
        );
        e.encode(&r, 0, &mut out);
        assert_eq!(get(&decode(&out), "/count"), &OscType::Int(2));
        let none = obs(
            "detect",
            ObservationData {
                values: Values::new().with("count", 0.0),
                ..Default::default()
            },
        );
        e.encode(&none, 0, &mut out);
        assert_eq!(get(&decode(&out), "/count"), &OscType::Int(0));
        // Another analyzer's empty observation does not reset it.
        let faces = obs(
            "face",
            ObservationData {
                values: Values::new().with("count", 0.0),
                ..Default::default()
            },
        );
        e.encode(&faces, 0, &mut out);
        assert!(decode(&out).iter().all(|m| m.0 != "/count"));
    }

    #[test]
    fn events_sync_and_empty_records() {
        let mut e = Encoder::new(Layout {
            prefix: "/vp/{source}".into(),
            bundle: false,
            ..layout()
        });
        let mut out = Datagrams::default();
        let ev = |phase| {
            Record::Event(Arc::new(Event {
                id: 1,
                rule: Name::from_static("busy"),
                source: Name::from_static("cam"),
                phase,
                seq: 1,
                capture_time_ns: 5,
                since_ns: 5,
                until_ns: None,
                values: Values::new(),
                clip: Default::default(),
            }))
        };
        assert!(e.encode(&ev(EventPhase::Start), 0, &mut out));
        let v = decode(&out);
        assert_eq!(
            v,
            vec![("/vp/cam/event/busy".into(), vec![OscType::Int(1)], None)]
        );
        assert!(e.encode(&ev(EventPhase::End), 0, &mut out));
        assert_eq!(decode(&out)[0].1, vec![OscType::Int(0)]);
        assert!(!e.encode(&obs("motion", ObservationData::default()), 0, &mut out));
        assert!(out.is_empty());
        let sync = Record::Sync(Arc::new(visualpath_sdk::SyncSet {
            group: Name::from_static("g"),
            index: 0,
            reference_ns: 0,
            members: vec![],
            missing: vec![],
            skew_ns: 0,
            partial: false,
        }));
        assert!(!e.encode(&sync, 0, &mut out));
    }

    #[test]
    fn bundles_are_split_under_the_datagram_limit() {
        for max in [64usize, 200, 512, 1472] {
            let mut e = Encoder::new(Layout {
                max_slots: 10,
                max_datagram: max,
                ..layout()
            });
            let mut out = Datagrams::default();
            e.encode(&tracks_obs(), 0, &mut out);
            assert!(out.iter().all(|d| d.len() <= max), "max {max}");
            let v = decode(&out);
            assert_eq!(v.len(), 10 * 7 + 1 + 2, "max {max}");
            if max == 1472 {
                assert_eq!(out.len(), 2);
            }
            // Order kept across datagrams.
            assert_eq!(v[0].0, "/p1/tx");
            assert_eq!(v[70].0, "/count");
        }
        // Unbundled: one message per datagram.
        let mut e = Encoder::new(Layout {
            bundle: false,
            ..layout()
        });
        let mut out = Datagrams::default();
        e.encode(&tracks_obs(), 0, &mut out);
        assert_eq!(out.len(), 3 * 7 + 1 + 2);
        assert!(out.iter().all(|d| d[0] == b'/'));
    }

    #[test]
    fn immediate_timetag() {
        let mut e = Encoder::new(Layout {
            timetag: Timetag::Immediate,
            ..layout()
        });
        let mut out = Datagrams::default();
        e.encode(&tracks_obs(), 0, &mut out);
        assert!(decode(&out).iter().all(|m| m.2 == Some(IMMEDIATELY)));
    }

    #[test]
    fn rate_limit_per_source_and_analyzer() {
        let mut l = RateLimiter::new(10.0);
        let cam = Name::from_static("cam");
        let (a, b) = (Name::from_static("track"), Name::from_static("pose"));
        // 100 records per second for 10 s.
        let mut passed = 0;
        for i in 0..1000u64 {
            if l.allow((&cam, &a), i * 10_000_000) {
                passed += 1;
            }
        }
        assert!((100..=101).contains(&passed), "{passed}");
        // Another analyzer has its own budget.
        assert!(l.allow((&cam, &b), 9_990_000_000));
        // Frames at exactly the limit, with jitter, all pass.
        let mut l = RateLimiter::new(30.0);
        let mut t = 0u64;
        for i in 0..300u64 {
            let jitter = if i % 2 == 0 { 0 } else { 3_000_000 };
            assert!(l.allow((&cam, &a), t + jitter), "frame {i}");
            t += 33_333_334;
        }
        // Through the encoder: over the limit is `false`, events are never limited.
        let mut e = Encoder::new(Layout {
            max_rate: Some(1.0),
            ..layout()
        });
        let mut out = Datagrams::default();
        assert!(e.encode(&tracks_obs(), 0, &mut out));
        assert!(!e.encode(&tracks_obs(), 100_000_000, &mut out));
        assert!(out.is_empty());
        assert!(e.encode(&tracks_obs(), 1_000_000_000, &mut out));
    }
}
