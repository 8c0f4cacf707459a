//! A pipeline built in Rust instead of YAML:
//!
//! ```text
//! synthetic camera --realtime--> motion --> centre (custom analyzer, only when motion) --> printer (custom sink)
//!                                  \--> bursts (custom fusion) --> on_event callback
//! ```
//!
//! Run it with `cargo run -p visualpath-example-rust-api`.

use std::sync::{Arc, Mutex};

use visualpath_analyzers::MotionConfig;
use visualpath_core::{ClipWindow, Event, EventPhase, Name, Values};
use visualpath_media::SyntheticConfig;
use visualpath_runtime::{
    AnalyzerOptions, EdgeSpec, PipelineBuilder, RunReport, SinkOptions, SourceOptions,
};
use visualpath_sdk::{
    Analyzer, AnalyzerFactory, Frame, Fusion, Observation, ObservationData, PixelFormat, Record,
    Result, Sink, SourceInfo, Upstream,
};

/// A custom analyzer: mean luma of the centre quarter of the frame, in 0..1.
struct CentreBrightness;

impl Analyzer for CentreBrightness {
    fn analyze(&mut self, frame: &Frame, upstream: Upstream<'_>) -> Result<ObservationData> {
        let img = &frame.image;
        if img.format() != PixelFormat::Rgb24 {
            return Err(visualpath_sdk::ComponentError::new(format!(
                "centre: expected rgb24 frames, got {}",
                img.format()
            )));
        }
        let (w, h) = (img.width(), img.height());
        let mut sum = 0u64;
        let mut n = 0u64;
        for y in h / 4..3 * h / 4 {
            let row = img.row(y);
            for px in row[(w / 4 * 3) as usize..(3 * w / 4 * 3) as usize].chunks_exact(3) {
                sum +=
                    (u64::from(px[0]) * 77 + u64::from(px[1]) * 150 + u64::from(px[2]) * 29) >> 8;
                n += 1;
            }
        }
        // Upstream observations of the same frame are available, e.g. the motion score.
        let motion = upstream
            .get("motion")
            .and_then(|o| o.data.values.get("score"))
            .unwrap_or(0.0);
        Ok(ObservationData {
            values: Values::new()
                .with("brightness", sum as f64 / n.max(1) as f64 / 255.0)
                .with("motion_seen", motion),
            ..Default::default()
        })
    }
}

struct CentreFactory;

impl AnalyzerFactory for CentreFactory {
    fn describe(&self) -> String {
        "centre brightness".into()
    }
    fn create(&self, _source: &SourceInfo) -> Result<Box<dyn Analyzer>> {
        Ok(Box::new(CentreBrightness))
    }
}

/// Custom fusion: an event for every `every` frames with motion, per source.
struct MotionBursts {
    every: u32,
    counts: std::collections::HashMap<Name, u32>,
    next_id: u64,
}

impl Fusion for MotionBursts {
    fn observe(&mut self, o: &Observation, out: &mut Vec<Event>) {
        if o.analyzer.as_str() != "motion" || o.data.values.get("moving") != Some(1.0) {
            return;
        }
        let c = self.counts.entry(o.source.clone()).or_default();
        *c += 1;
        if c.is_multiple_of(self.every) {
            self.next_id += 1;
            out.push(Event {
                id: self.next_id,
                rule: Name::from_static("motion_burst"),
                source: o.source.clone(),
                phase: EventPhase::Start,
                seq: o.seq,
                capture_time_ns: o.capture_time_ns,
                since_ns: o.capture_time_ns,
                until_ns: None,
                values: Values::new().with("frames_with_motion", f64::from(*c)),
                clip: ClipWindow::default(),
            });
        }
    }
}

/// A custom sink: keeps the centre brightness per frame.
struct Printer(Arc<Mutex<Vec<(u64, f64)>>>);

impl Sink for Printer {
    fn write(&mut self, record: &Record) -> Result<()> {
        if let Record::Observation(o) = record
            && let Some(b) = o.data.values.get("brightness")
        {
            self.0
                .lock()
                .map_err(|_| visualpath_sdk::ComponentError::new("poisoned"))?
                .push((o.seq, b));
        }
        Ok(())
    }
}

/// What the example produced.
pub struct Outcome {
    /// (seq, centre brightness) of the frames the custom analyzer ran on.
    pub brightness: Vec<(u64, f64)>,
    /// Events delivered to the callback.
    pub events: Vec<Event>,
    /// The run's report.
    pub report: RunReport,
}

/// Builds and runs the pipeline on `frames` synthetic frames.
pub fn run(
    frames: u64,
    realtime: bool,
) -> std::result::Result<Outcome, Box<dyn std::error::Error>> {
    let mut p = PipelineBuilder::new();
    let camera = SyntheticConfig {
        width: 320,
        height: 240,
        fps: 25.0,
        frames: Some(frames),
        ..Default::default()
    }
    .build(Name::from_static("cam"))?;
    let cam = p.source(
        "cam",
        camera,
        SourceOptions {
            realtime,
            ..Default::default()
        },
    );
    let motion = p.analyzer(
        "motion",
        MotionConfig::default().factory(),
        AnalyzerOptions::default(),
    );
    let centre = p.analyzer(
        "centre",
        Arc::new(CentreFactory),
        AnalyzerOptions {
            when: Some(visualpath_fusion_condition("motion.moving == 1")?),
            ..Default::default()
        },
    );
    let bursts = p.fusion_with(
        "bursts",
        Box::new(MotionBursts {
            every: 10,
            counts: Default::default(),
            next_id: 0,
        }),
    );
    let kept = Arc::new(Mutex::new(Vec::new()));
    let printer = p.sink(
        "printer",
        Box::new(Printer(kept.clone())),
        SinkOptions::default(),
    );
    // Live (paced) input wants the newest frame: a realtime link drops what a slow
    // analyzer cannot keep up with, and counts it. Batch input wants every frame.
    let input = if realtime {
        EdgeSpec::realtime()
    } else {
        EdgeSpec::lossless(8)
    };
    p.link(cam).with(input).to(motion).to(centre).to(printer);
    p.link(motion).to(bursts);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    p.on_event(move |e| {
        if let Ok(mut v) = seen.lock() {
            v.push(e.clone());
        }
    });
    let report = p.build()?.run()?;
    let brightness = kept.lock().map(|v| v.clone()).unwrap_or_default();
    let events = events.lock().map(|v| v.clone()).unwrap_or_default();
    Ok(Outcome {
        brightness,
        events,
        report,
    })
}

fn visualpath_fusion_condition(
    text: &str,
) -> std::result::Result<visualpath_runtime::Condition, Box<dyn std::error::Error>> {
    Ok(visualpath_runtime::Condition::parse(text)?)
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // Paced like a 25 fps camera: 4 seconds.
    let out = run(100, true)?;
    println!("{}", out.report.summary());
    println!(
        "centre brightness measured on {} frames with motion",
        out.brightness.len()
    );
    for e in &out.events {
        println!(
            "event {} on {} at frame {}: {:?}",
            e.rule, e.source, e.seq, e.values
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn example_runs_and_every_component_takes_part() {
        let out = super::run(100, false).unwrap();
        let motion = out.report.node("motion").unwrap();
        assert_eq!(motion.processed, 100);
        let centre = out.report.node("centre").unwrap();
        // The custom analyzer ran exactly on the frames motion flagged as moving.
        assert_eq!(centre.processed as usize, out.brightness.len());
        assert!(centre.processed > 50, "the synthetic squares keep moving");
        assert!(out.brightness.iter().all(|(_, b)| (0.0..=1.0).contains(b)));
        // One custom event per 10 moving frames.
        assert_eq!(out.events.len() as u64, centre.processed / 10);
        assert!(out.events.iter().all(|e| e.rule.as_str() == "motion_burst"));
    }
}
