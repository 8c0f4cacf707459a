//! Packet taps: a file source reports its stream, packets, frame times and end.

use std::sync::{Arc, Mutex};

use visualpath_core::{ManualClock, Name};
use visualpath_media::{
    FileSource, FileSourceConfig, PacketConsumer, PacketTaps, TapPacket, TapStream,
};
use visualpath_sdk::{Poll, Source, SourceContext};

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl PacketConsumer for Log {
    fn stream_start(&self, source: &Name, s: &TapStream) {
        assert_eq!(s.codec, "h264");
        assert!((s.width, s.height) == (768, 576));
        self.0.lock().unwrap().push(format!("start {source}"));
    }
    fn packet(&self, _: &Name, p: &TapPacket) {
        assert!(!p.data.is_empty());
        assert!(p.pts_ns.is_some() && p.dts_ns.is_some());
        self.0
            .lock()
            .unwrap()
            .push(if p.key { "key".into() } else { "packet".into() });
    }
    fn frame(&self, _: &Name, pts_ns: i64, capture_ns: i64) {
        self.0
            .lock()
            .unwrap()
            .push(format!("frame {}", capture_ns - pts_ns));
    }
    fn stream_end(&self, _: &Name) {
        self.0.lock().unwrap().push("end".into());
    }
}

#[test]
fn a_file_source_reports_packets_frames_and_stream_boundaries() {
    let Some(media) = visualpath_testkit::derived_media("vtest_2s_h264.mp4") else {
        return;
    };
    let taps = PacketTaps::new();
    let name = Name::new("cam").unwrap();
    let mut src = FileSource::open(
        name.clone(),
        &FileSourceConfig::new(media.to_str().unwrap()),
    )
    .unwrap()
    .with_packet_tap(taps.tap(name));
    // Registered after the source was built, before it reads: still sees the start.
    let log = Arc::new(Log::default());
    taps.register(log.clone());
    let cx = SourceContext::new(Arc::new(ManualClock::new(1_000)));
    let mut frames = 0;
    while let Poll::Frame(_) = src.next_frame(&cx).unwrap() {
        frames += 1;
    }
    assert_eq!(frames, 20);
    src.rewind().unwrap();
    let Poll::Frame(_) = src.next_frame(&cx).unwrap() else {
        panic!("no frame after rewind")
    };
    drop(src);
    let log = log.0.lock().unwrap().clone();
    let count = |w: &str| log.iter().filter(|l| l.as_str() == w).count();
    assert_eq!(log[0], "start cam");
    assert_eq!(log[1], "key", "packets start at a keyframe");
    // First pass: 20 packets (2 keyframes, no B-frames), 20 frames, one end.
    let first_end = log.iter().position(|l| l == "end").unwrap();
    let first: Vec<&String> = log[..first_end].iter().collect();
    assert_eq!(
        first
            .iter()
            .filter(|l| l.as_str() == "key" || l.as_str() == "packet")
            .count(),
        20
    );
    assert_eq!(first.iter().filter(|l| l.starts_with("frame")).count(), 20);
    // The rewound file is a new stream, ended when the source is dropped.
    assert_eq!(count("start cam"), 2);
    assert_eq!(count("end"), 2);
    assert_eq!(log.last().unwrap(), "end");
    // Frame mappings of one pass share one offset (capture = start + media time).
    let offsets: Vec<&String> = first
        .iter()
        .filter(|l| l.starts_with("frame"))
        .copied()
        .collect();
    assert!(offsets.windows(2).all(|w| w[0] == w[1]), "{offsets:?}");
}
