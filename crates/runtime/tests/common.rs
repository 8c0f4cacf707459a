//! Small in-test components for runtime tests. The real sources, analyzers and sinks
//! are exercised end to end by the CLI's integration tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use visualpath_core::{
    Frame, Image, Name, ObservationData, PixelBuffer, PixelFormat, Record, Values,
};
use visualpath_sdk::{
    Analyzer, AnalyzerFactory, Poll, Result, Sink, Source, SourceContext, SourceInfo, Upstream,
};

/// Produces `n` 64x48 gray frames, 100 ms apart in capture time (or forever).
pub struct TestSource {
    pub info: SourceInfo,
    pub n: Option<u64>,
    pub seq: u64,
    pub interval_ns: i64,
    pub start_ns: Option<i64>,
    pub size: (u32, u32),
}

impl TestSource {
    pub fn new(name: &str, n: Option<u64>) -> Self {
        let mut info = SourceInfo::new(Name::new(name).unwrap(), "test");
        info.frame_count = n;
        Self {
            info,
            n,
            seq: 0,
            interval_ns: 100_000_000,
            start_ns: None,
            size: (64, 48),
        }
    }

    pub fn boxed(name: &str, n: Option<u64>) -> Box<dyn Source> {
        Box::new(Self::new(name, n))
    }
}

impl Source for TestSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn next_frame(&mut self, cx: &SourceContext) -> Result<Poll> {
        if self.n.is_some_and(|n| self.seq >= n) {
            return Ok(Poll::Eos);
        }
        let start = *self.start_ns.get_or_insert_with(|| cx.clock.wall_ns());
        let (w, h) = self.size;
        let px = PixelBuffer::from_vec(vec![(self.seq % 251) as u8; (w * h) as usize]);
        let f = Frame {
            source: self.info.name.clone(),
            seq: self.seq,
            pts_ns: Some(self.seq as i64 * self.interval_ns),
            capture_time_ns: start + self.seq as i64 * self.interval_ns,
            arrival_ns: cx.clock.mono_ns(),
            capture_clock: visualpath_core::CaptureClock::Media,
            image: Image::packed(w, h, PixelFormat::Gray8, px).unwrap(),
        };
        self.seq += 1;
        Ok(Poll::Frame(f))
    }

    fn rewind(&mut self) -> Result<()> {
        self.n = self.n.map(|n| n + n);
        Ok(())
    }
}

/// (source, seq, pixel pointer, upstream analyzers)
pub type SeenFrame = (String, u64, usize, Vec<String>);

/// What an analyzer instance saw.
#[derive(Default)]
pub struct Seen {
    pub frames: Mutex<Vec<SeenFrame>>,
    pub resets: AtomicU64,
}

type Behaviour = Arc<dyn Fn(&Frame) -> Result<ObservationData> + Send + Sync>;

/// An analyzer whose output is computed by a closure, recording what it saw.
#[derive(Clone)]
pub struct Probe {
    pub seen: Arc<Seen>,
    pub f: Behaviour,
}

impl Probe {
    pub fn new(f: impl Fn(&Frame) -> Result<ObservationData> + Send + Sync + 'static) -> Self {
        Self {
            seen: Arc::new(Seen::default()),
            f: Arc::new(f),
        }
    }

    /// Emits `seq` as value `seq`.
    pub fn seq() -> Self {
        Self::new(|f| {
            Ok(ObservationData {
                values: Values::new()
                    .with("seq", f.seq as f64)
                    .with("even", (f.seq % 2 == 0) as u8 as f64),
                ..Default::default()
            })
        })
    }

    pub fn factory(&self) -> Arc<dyn AnalyzerFactory> {
        Arc::new(self.clone())
    }
}

struct ProbeInstance(Probe);

impl Analyzer for ProbeInstance {
    fn analyze(&mut self, frame: &Frame, upstream: Upstream<'_>) -> Result<ObservationData> {
        self.0.seen.frames.lock().unwrap().push((
            frame.source.to_string(),
            frame.seq,
            frame.image.data().as_ptr() as usize,
            upstream.iter().map(|o| o.analyzer.to_string()).collect(),
        ));
        (self.0.f)(frame)
    }

    fn reset(&mut self) {
        self.0.seen.resets.fetch_add(1, Ordering::SeqCst);
    }
}

impl AnalyzerFactory for Probe {
    fn describe(&self) -> String {
        "probe".into()
    }
    fn create(&self, _source: &SourceInfo) -> Result<Box<dyn Analyzer>> {
        Ok(Box::new(ProbeInstance(self.clone())))
    }
}

/// Collects every record.
#[derive(Clone, Default)]
pub struct Collect(pub Arc<Mutex<Vec<Record>>>);

impl Collect {
    pub fn boxed(&self) -> Box<dyn Sink> {
        Box::new(self.clone())
    }
    pub fn records(&self) -> Vec<Record> {
        self.0.lock().unwrap().clone()
    }
    pub fn observations(&self, analyzer: &str) -> Vec<(String, u64)> {
        self.records()
            .iter()
            .filter_map(|r| match r {
                Record::Observation(o) if o.analyzer.as_str() == analyzer => {
                    Some((o.source.to_string(), o.seq))
                }
                _ => None,
            })
            .collect()
    }
}

impl Sink for Collect {
    fn write(&mut self, record: &Record) -> Result<()> {
        self.0.lock().unwrap().push(record.clone());
        Ok(())
    }
}

pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
