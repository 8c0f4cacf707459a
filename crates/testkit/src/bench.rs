//! Shared pieces of the sink benchmarks: the wall clock, a typical event record, and a
//! pre-encoded record whose time stamp can be rewritten in place (so a bare-client
//! baseline sends the sink's exact bytes without encoding on the timed path).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use visualpath_sdk::Record;
use visualpath_sdk::core::{Event, EventPhase, Name, Values};

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// An event start of `rule` on `source`, number `seq`, at `at_ns` (capture and start
/// time), with `values`.
pub fn event(
    rule: &'static str,
    source: &'static str,
    seq: u64,
    at_ns: i64,
    since_ns: i64,
    values: Values,
) -> Record {
    Record::Event(Arc::new(Event {
        id: seq,
        rule: Name::from_static(rule),
        source: Name::from_static(source),
        phase: EventPhase::Start,
        seq,
        capture_time_ns: at_ns,
        since_ns,
        until_ns: None,
        values,
        clip: Default::default(),
    }))
}

/// A record's JSON, encoded once, and where its time stamp is (every occurrence of the
/// placeholder time's digits), so that a time of the same width can be written in place
/// before it is sent.
#[derive(Debug, Clone)]
pub struct Stamped {
    /// The JSON text, with the last stamped time.
    pub text: String,
    at: Vec<usize>,
    width: usize,
}

impl Stamped {
    /// Encodes `record`, whose JSON contains `placeholder`.
    ///
    /// # Panics
    /// If the JSON does not contain the placeholder's digits.
    pub fn new(record: &Record, placeholder: i64) -> Self {
        let text = serde_json::to_string(record).expect("records encode");
        let p = placeholder.to_string();
        let at: Vec<usize> = text.match_indices(&p).map(|(i, _)| i).collect();
        assert!(!at.is_empty(), "no {p} in {text}");
        Self {
            text,
            at,
            width: p.len(),
        }
    }

    /// Writes `t` (as many digits as the placeholder) over the placeholder.
    ///
    /// # Panics
    /// If `t` does not have exactly the placeholder's number of digits.
    pub fn stamp(&mut self, t: i64) {
        let mut digits = [b'0'; 24];
        let mut v = t;
        for d in digits[..self.width].iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        assert!(
            v == 0 && digits[0] != b'0',
            "{t} is not {} digits",
            self.width
        );
        let d = std::str::from_utf8(&digits[..self.width]).expect("ASCII digits");
        for &i in &self.at {
            self.text.replace_range(i..i + self.width, d);
        }
    }
}
