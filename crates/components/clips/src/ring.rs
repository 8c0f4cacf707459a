//! The pure parts of the clip recorder: the per-camera ring of compressed packets and the
//! plan of a clip (which events it covers and the capture-time span it must hold). No
//! FFmpeg here, so both are unit-tested directly.
//!
//! # Ring
//! Packets are kept in decoding order, each with a sequence number (consecutive per
//! ring, never reused, so a reader can continue where it stopped and notice a gap). The
//! ring always starts at a keyframe: packets before the first keyframe of a stream are
//! dropped (counted), and trimming removes whole GOPs from the front. Bounds:
//! - time: the oldest GOP is removed while the ring would still span at least `max_ns`
//!   without it (so the ring holds between `max_ns` and `max_ns` + one GOP);
//! - bytes: the oldest GOP is removed while the payload exceeds `max_bytes` (counted as
//!   dropped, since the ring then covers less than `max_ns`); a single GOP larger than
//!   the cap empties the ring, which waits for the next keyframe.
//!
//! Capture times: packets carry stream time (`dts_ns`, from the stream's start), and the
//! source reports, for each picture it emits, its stream time and capture time; the
//! latest difference (`offset`) maps any packet to capture time.

use std::collections::VecDeque;
use std::sync::Arc;

use visualpath_core::{Event, EventPhase};

/// A packet in the ring.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Sequence number within the ring (consecutive).
    pub seq: u64,
    /// The payload.
    pub data: Arc<[u8]>,
    /// Presentation timestamp (stream time base).
    pub pts: Option<i64>,
    /// Decoding timestamp (stream time base).
    pub dts: Option<i64>,
    /// Duration (stream time base).
    pub duration: i64,
    /// Keyframe.
    pub key: bool,
    /// Presentation time, ns from the stream's start.
    pub pts_ns: Option<i64>,
    /// Decoding time, ns from the stream's start (synthesized from the previous packet
    /// when the packet has no timestamp).
    pub time_ns: i64,
}

/// What a packet brings into the ring (a [`Packet`] without its sequence number): the
/// media tap's packet.
pub use visualpath_media::TapPacket as NewPacket;

/// A bounded ring of one camera's packets (see the module docs).
#[derive(Debug)]
pub struct Ring {
    packets: VecDeque<Packet>,
    /// Sequence numbers of the keyframes in `packets`.
    keys: VecDeque<u64>,
    bytes: usize,
    max_ns: i64,
    max_bytes: usize,
    next_seq: u64,
    offset_ns: Option<i64>,
    frame_ns: i64,
    last_time_ns: Option<i64>,
    /// Packets dropped: before a stream's first keyframe, or by the byte cap.
    pub dropped: u64,
}

impl Ring {
    /// An empty ring keeping at least `max_ns` of video (when `max_bytes` allows).
    pub fn new(max_ns: i64, max_bytes: usize) -> Self {
        Self {
            packets: VecDeque::new(),
            keys: VecDeque::new(),
            bytes: 0,
            max_ns,
            max_bytes,
            next_seq: 0,
            offset_ns: None,
            frame_ns: 40_000_000,
            last_time_ns: None,
            dropped: 0,
        }
    }

    /// Empties the ring for a new stream (a reconnect, a rewound file): times of the new
    /// stream are unrelated to the old. Sequence numbers keep increasing.
    pub fn restart(&mut self, frame_ns: i64) {
        self.packets.clear();
        self.keys.clear();
        self.bytes = 0;
        self.offset_ns = None;
        self.last_time_ns = None;
        self.frame_ns = frame_ns.max(1);
    }

    /// Adds a packet; returns `false` when it was dropped (waiting for a keyframe).
    pub fn push(&mut self, p: NewPacket) -> bool {
        let time_ns = p.dts_ns.unwrap_or_else(|| {
            self.last_time_ns
                .map_or(0, |t| t.saturating_add(self.frame_ns))
        });
        self.last_time_ns = Some(time_ns);
        if self.packets.is_empty() && !p.key {
            self.dropped += 1;
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if p.key {
            self.keys.push_back(seq);
        }
        self.bytes += p.data.len();
        self.packets.push_back(Packet {
            seq,
            data: p.data,
            pts: p.pts,
            dts: p.dts,
            duration: p.duration,
            key: p.key,
            pts_ns: p.pts_ns,
            time_ns,
        });
        self.trim();
        true
    }

    fn trim(&mut self) {
        loop {
            let (Some(first), Some(newest)) = (self.packets.front(), self.packets.back()) else {
                return;
            };
            let first_seq = first.seq;
            let newest_ns = newest.time_ns;
            let second_key = self.keys.get(1).copied();
            let over_bytes = self.bytes > self.max_bytes;
            let over_time = second_key.is_some_and(|k| {
                let t = self.packets[(k - first_seq) as usize].time_ns;
                newest_ns.saturating_sub(t) >= self.max_ns
            });
            if !over_bytes && !over_time {
                return;
            }
            let cut = second_key.map_or(self.packets.len(), |k| (k - first_seq) as usize);
            for p in self.packets.drain(..cut) {
                self.bytes -= p.data.len();
                if over_bytes {
                    self.dropped += 1;
                }
            }
            self.keys.pop_front();
        }
    }

    /// Records that the picture with stream time `pts_ns` has capture time
    /// `capture_time_ns`.
    pub fn map_time(&mut self, pts_ns: i64, capture_time_ns: i64) {
        self.offset_ns = Some(capture_time_ns.saturating_sub(pts_ns));
    }

    /// The stream-time → capture-time offset, once a picture was reported.
    pub fn offset_ns(&self) -> Option<i64> {
        self.offset_ns
    }

    /// Capture time of a packet (by its decoding time), once the offset is known.
    pub fn capture_ns(&self, p: &Packet) -> Option<i64> {
        self.offset_ns.map(|o| p.time_ns.saturating_add(o))
    }

    /// Packets held.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Span of decoding times held, ns.
    pub fn span_ns(&self) -> i64 {
        match (self.packets.front(), self.packets.back()) {
            (Some(a), Some(b)) => b.time_ns - a.time_ns,
            _ => 0,
        }
    }

    /// The sequence number the next packet will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Where a clip starting at capture time `start_ns` begins: the last keyframe at or
    /// before it, else the oldest keyframe held (the ring does not reach back that
    /// far), else (empty ring) the next packet. With no capture-time mapping yet, the
    /// oldest keyframe.
    pub fn start_seq(&self, start_ns: i64) -> u64 {
        let Some(offset) = self.offset_ns else {
            return self.keys.front().copied().unwrap_or(self.next_seq);
        };
        let Some(first) = self.packets.front() else {
            return self.next_seq;
        };
        let mut best = None;
        for &k in &self.keys {
            let t = self.packets[(k - first.seq) as usize]
                .time_ns
                .saturating_add(offset);
            if t <= start_ns {
                best = Some(k);
            } else {
                break;
            }
        }
        best.or(self.keys.front().copied()).unwrap_or(self.next_seq)
    }

    /// Copies (shares) the packets from sequence number `seq` on. The second value is how
    /// many packets from `seq` on are no longer held (trimmed before they were read).
    pub fn since(&self, seq: u64) -> (Vec<Packet>, u64) {
        let Some(first) = self.packets.front() else {
            return (Vec::new(), self.next_seq.saturating_sub(seq));
        };
        let gap = first.seq.saturating_sub(seq);
        let skip = seq.saturating_sub(first.seq) as usize;
        (self.packets.iter().skip(skip).cloned().collect(), gap)
    }
}

/// One event a clip covers.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipEvent {
    /// The latest record of the event (its end record once it arrived).
    pub event: Event,
    /// Whether the end record arrived.
    pub ended: bool,
}

/// The capture-time span of a clip and the events it covers. Overlapping events of one
/// camera share a clip: an event whose clip window starts before this clip's end (or
/// while an event of it is still running) extends it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipPlan {
    /// Wanted start (capture time): the earliest `since - pre` of its events.
    pub start_ns: i64,
    /// Wanted end (capture time): the latest `until + post` (`capture_time + post` for
    /// an event that has not ended yet).
    pub end_ns: i64,
    /// The events, in arrival order.
    pub events: Vec<ClipEvent>,
}

/// The clip window of an event: its own, or `default_pre`/`default_post` when the rule
/// set none (both zero).
pub fn window(e: &Event, default_pre_ns: i64, default_post_ns: i64) -> (i64, i64) {
    let (pre, post) = if e.clip.pre.get().is_zero() && e.clip.post.get().is_zero() {
        (default_pre_ns, default_post_ns)
    } else {
        (e.clip.pre.as_nanos_i64(), e.clip.post.as_nanos_i64())
    };
    (
        e.since_ns.saturating_sub(pre),
        e.until_ns.unwrap_or(e.capture_time_ns).saturating_add(post),
    )
}

impl ClipPlan {
    /// A plan for one event, its window `(start, end)` from [`window`].
    pub fn new(e: &Event, (start_ns, end_ns): (i64, i64)) -> Self {
        Self {
            start_ns,
            end_ns,
            events: vec![ClipEvent {
                event: e.clone(),
                ended: e.phase == EventPhase::End,
            }],
        }
    }

    /// Whether an event whose window starts at `start_ns` belongs to this clip.
    pub fn overlaps(&self, start_ns: i64) -> bool {
        start_ns <= self.end_ns || self.running()
    }

    /// Whether an event of the clip has not ended yet.
    pub fn running(&self) -> bool {
        self.events.iter().any(|e| !e.ended)
    }

    /// Whether the clip covers event `id`.
    pub fn has(&self, id: u64) -> bool {
        self.events.iter().any(|e| e.event.id == id)
    }

    /// Adds a record (start or end) with window `(start, end)`: extends the span, and
    /// updates the event if the clip has it.
    pub fn add(&mut self, e: &Event, (start_ns, end_ns): (i64, i64)) {
        self.start_ns = self.start_ns.min(start_ns);
        self.end_ns = self.end_ns.max(end_ns);
        let ended = e.phase == EventPhase::End;
        match self.events.iter_mut().find(|c| c.event.id == e.id) {
            Some(c) => {
                c.event = e.clone();
                c.ended |= ended;
            }
            None => self.events.push(ClipEvent {
                event: e.clone(),
                ended,
            }),
        }
    }

    /// Whether the clip is complete once packets up to capture time `newest_ns` arrived:
    /// no event is running and the span's end is reached.
    pub fn complete(&self, newest_ns: i64) -> bool {
        !self.running() && newest_ns >= self.end_ns
    }
}

/// How many packets of `packets` (decoding order) to keep for a clip ending at capture
/// time `end_ns`: those decoded at or before it (plus half a frame of tolerance). A
/// prefix in decoding order is always decodable.
pub fn cut_len(packets: &[Packet], offset_ns: i64, end_ns: i64, frame_ns: i64) -> usize {
    let limit = end_ns.saturating_add(frame_ns / 2);
    packets
        .iter()
        .position(|p| p.time_ns.saturating_add(offset_ns) > limit)
        .unwrap_or(packets.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use visualpath_core::{ClipWindow, HumanDuration, Name, Values};

    const MS: i64 = 1_000_000;
    const S: i64 = 1_000 * MS;

    /// A 10 fps stream, keyframe every `gop` packets, `size` bytes each.
    fn pkt(i: i64, gop: i64, size: usize) -> NewPacket {
        NewPacket {
            data: Arc::from(vec![0u8; size]),
            pts: Some(i),
            dts: Some(i),
            duration: 1,
            key: i % gop == 0,
            pts_ns: Some(i * 100 * MS),
            dts_ns: Some(i * 100 * MS),
        }
    }

    #[test]
    fn ring_starts_at_a_keyframe() {
        let mut r = Ring::new(10 * S, usize::MAX);
        assert!(!r.push(pkt(3, 10, 1)));
        assert!(!r.push(pkt(9, 10, 1)));
        assert!(r.push(pkt(10, 10, 1)));
        assert_eq!(r.dropped, 2);
        let (p, gap) = r.since(0);
        assert_eq!(gap, 0);
        assert!(p[0].key);
    }

    #[test]
    fn ring_holds_between_max_and_max_plus_one_gop() {
        let mut r = Ring::new(3 * S, usize::MAX);
        for i in 0..200 {
            r.push(pkt(i, 10, 100));
            let span = r.span_ns();
            if i >= 40 {
                assert!(span >= 3 * S - 100 * MS, "span {span} at {i}");
                assert!(span < 4 * S, "span {span} at {i}");
            }
            let (p, _) = r.since(0);
            assert!(p[0].key, "starts at a keyframe");
        }
        assert_eq!(r.dropped, 0, "time trimming is not a drop");
        assert_eq!(r.bytes(), r.len() * 100);
    }

    #[test]
    fn ring_byte_cap_drops_whole_gops_and_counts() {
        let mut r = Ring::new(100 * S, 2_500);
        for i in 0..100 {
            r.push(pkt(i, 10, 100));
            assert!(r.bytes() <= 2_500);
        }
        assert!(r.dropped > 0);
        let (p, _) = r.since(0);
        assert!(p[0].key);
        // One GOP larger than the cap: the ring empties and waits for a keyframe.
        let mut r = Ring::new(100 * S, 500);
        for i in 0..7 {
            r.push(pkt(i, 10, 100));
        }
        assert!(r.is_empty());
        assert!(r.dropped >= 6);
    }

    #[test]
    fn clip_starts_at_the_last_keyframe_at_or_before_its_start() {
        let mut r = Ring::new(100 * S, usize::MAX);
        for i in 0..100 {
            r.push(pkt(i, 10, 1));
        }
        // Without a mapping: the oldest keyframe.
        assert_eq!(r.start_seq(5 * S), 0);
        // Capture time = stream time + 1000 s.
        r.map_time(0, 1000 * S);
        assert_eq!(r.start_seq(1000 * S + 2500 * MS), 20);
        assert_eq!(r.start_seq(1000 * S + 3000 * MS), 30);
        // Before the ring: the oldest keyframe.
        assert_eq!(r.start_seq(0), 0);
        let (p, gap) = r.since(20);
        assert_eq!((p[0].seq, gap, p.len()), (20, 0, 80));
        // Reading from a trimmed position reports the gap.
        let mut r2 = Ring::new(S, usize::MAX);
        for i in 0..100 {
            r2.push(pkt(i, 10, 1));
        }
        let (p, gap) = r2.since(0);
        assert_eq!(gap, p[0].seq);
    }

    #[test]
    fn cut_keeps_a_decoding_order_prefix() {
        let mut r = Ring::new(100 * S, usize::MAX);
        for i in 0..50 {
            r.push(pkt(i, 10, 1));
        }
        let (p, _) = r.since(0);
        assert_eq!(cut_len(&p, 0, 2 * S, 100 * MS), 21);
        assert_eq!(cut_len(&p, 0, 100 * S, 100 * MS), 50);
    }

    fn event(id: u64, phase: EventPhase, since: i64, until: Option<i64>, at: i64) -> Event {
        Event {
            id,
            rule: Name::from_static("r"),
            source: Name::from_static("cam"),
            phase,
            seq: 0,
            capture_time_ns: at,
            since_ns: since,
            until_ns: until,
            values: Values::default(),
            clip: ClipWindow {
                pre: HumanDuration::from_secs_f64(2.0),
                post: HumanDuration::from_secs_f64(2.0),
            },
        }
    }

    #[test]
    fn overlapping_events_extend_one_clip() {
        let a = event(1, EventPhase::Start, 10 * S, None, 10 * S);
        let mut plan = ClipPlan::new(&a, window(&a, 0, 0));
        assert_eq!((plan.start_ns, plan.end_ns), (8 * S, 12 * S));
        assert!(!plan.complete(100 * S), "running events keep the clip open");
        // A second event starting while the first runs joins the clip.
        let b = event(2, EventPhase::Start, 11 * S, None, 11 * S);
        assert!(plan.overlaps(window(&b, 0, 0).0));
        plan.add(&b, window(&b, 0, 0));
        let a_end = event(1, EventPhase::End, 10 * S, Some(12 * S), 12 * S);
        plan.add(&a_end, window(&a_end, 0, 0));
        let b_end = event(2, EventPhase::End, 11 * S, Some(15 * S), 15 * S);
        plan.add(&b_end, window(&b_end, 0, 0));
        assert_eq!((plan.start_ns, plan.end_ns), (8 * S, 17 * S));
        assert_eq!(plan.events.len(), 2);
        assert!(!plan.complete(16 * S));
        assert!(plan.complete(17 * S));
        // An event starting within `post` of the end overlaps; a later one does not.
        assert!(plan.overlaps(window(&event(3, EventPhase::Start, 18 * S, None, 0), 0, 0).0));
        assert!(!plan.overlaps(window(&event(4, EventPhase::Start, 20 * S, None, 0), 0, 0).0));
    }

    #[test]
    fn rule_without_window_uses_the_defaults() {
        let mut e = event(1, EventPhase::Start, 10 * S, None, 10 * S);
        e.clip = ClipWindow::default();
        assert_eq!(window(&e, 3 * S, 4 * S), (7 * S, 14 * S));
    }
}
