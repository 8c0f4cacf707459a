//! Clip recorder costs: the packet tap on the source thread (per packet), and the time
//! from writing an event's records (its whole window already in the ring) to its files
//! being written (remux + optional JPEG + sidecar), on real footage (`vtest_h264.mp4`,
//! 768x576 H.264, 1 s GOP).
//!
//! `cargo bench -p visualpath-clips --bench clips`

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ffmpeg_next as ffmpeg;
use visualpath_clips::{ClipsConfig, ClipsSink};
use visualpath_core::{
    ClipWindow, Event, EventPhase, HumanDuration, ManualClock, Name, Record, Values,
};
use visualpath_media::{FileSource, FileSourceConfig, PacketTaps, TapPacket, TapStream};
use visualpath_sdk::{Poll, Sink, Source, SourceContext};
use visualpath_sinks::SinkSettings;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    visualpath_media::decode::init();
    let dir = tempfile::tempdir().unwrap();
    println!("| measurement | n | p50 | p99 | rate |");
    println!("|---|---|---|---|---|");

    // 1. Tap push: 20 KB packets, 30 fps, 1 s GOP, into a 30 s / 64 MiB ring.
    {
        let taps = PacketTaps::new();
        let _sink = ClipsSink::start(
            &ClipsConfig::new(dir.path()),
            &SinkSettings::new(Name::new("b").unwrap()),
            &taps,
        )
        .unwrap();
        let tap = taps.tap(Name::new("cam").unwrap());
        tap.stream_start(&TapStream {
            parameters: ffmpeg::codec::Parameters::new(),
            time_base: ffmpeg::Rational::new(1, 90_000),
            codec: "h264",
            width: 1920,
            height: 1080,
            frame_duration_ns: 33_333_333,
        });
        let n = 200_000u64;
        let mut lat = Vec::with_capacity(n as usize);
        let t0 = Instant::now();
        for i in 0..n {
            let data: Arc<[u8]> = Arc::from(vec![0u8; 20_000]);
            let p = TapPacket {
                data,
                pts: Some(i as i64 * 3000),
                dts: Some(i as i64 * 3000),
                duration: 3000,
                key: i % 30 == 0,
                pts_ns: Some(i as i64 * 33_333_333),
                dts_ns: Some(i as i64 * 33_333_333),
            };
            let t = Instant::now();
            tap.packet(&p);
            tap.frame(i as i64 * 33_333_333, i as i64 * 33_333_333);
            lat.push(t.elapsed().as_nanos() as f64);
        }
        let rate = n as f64 / t0.elapsed().as_secs_f64();
        println!(
            "| tap push (packet + frame mapping, 20 KB packets, ring 30 s) | {n} | {:.0} ns | {:.0} ns | {:.0} packets/s incl. payload alloc |",
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
            rate
        );
    }

    // 2. Clip completion: a 1 s event with pre 2 s + post 2 s, measured from pushing
    // the frame that completes the clip to the writer counting it written.
    let Some(media) = visualpath_testkit::derived_media("vtest_h264.mp4") else {
        return;
    };
    for snapshot in [false, true] {
        let mut cfg = ClipsConfig::new(dir.path().join(format!("s{snapshot}")));
        cfg.snapshot = snapshot;
        let taps = PacketTaps::new();
        let mut sink =
            ClipsSink::start(&cfg, &SinkSettings::new(Name::new("b").unwrap()), &taps).unwrap();
        let status = sink.status().unwrap();
        let name = Name::new("cam").unwrap();
        let mut source = FileSource::open(
            name.clone(),
            &FileSourceConfig::new(media.to_str().unwrap()),
        )
        .unwrap()
        .with_packet_tap(taps.tap(name.clone()));
        let cx = SourceContext::new(Arc::new(ManualClock::new(0)));
        let ev = |id: u64, phase, since: i64, until: Option<i64>, at: i64| {
            Record::Event(Arc::new(Event {
                id,
                rule: Name::new("r").unwrap(),
                source: name.clone(),
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
            }))
        };
        let mut lat = Vec::new();
        let (mut since, mut until, mut id) = (0, 0, 0u64);
        while let Ok(Poll::Frame(f)) = source.next_frame(&cx) {
            let (seq, t) = (f.seq, f.capture_time_ns);
            // An event every 8 s from frame 80k+30 to 80k+40; at frame 80k+70 the ring
            // holds its whole window (until + 2 s), so both records are written then and
            // the clip is complete at once.
            match seq % 80 {
                30 => since = t,
                40 => until = t,
                70 => {
                    id += 1;
                    let want = status.sent.load(Ordering::Relaxed) + 2;
                    let t0 = Instant::now();
                    sink.write(&ev(id, EventPhase::Start, since, None, since))
                        .unwrap();
                    sink.write(&ev(id, EventPhase::End, since, Some(until), until))
                        .unwrap();
                    while status.sent.load(Ordering::Relaxed) < want
                        && t0.elapsed() < Duration::from_secs(10)
                    {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    lat.push(t0.elapsed().as_secs_f64() * 1e3);
                }
                _ => {}
            }
        }
        sink.flush().unwrap();
        let n = lat.len();
        println!(
            "| event records written -> clip files done (5 s of 768x576 H.264{}) | {n} | {:.1} ms | {:.1} ms | |",
            if snapshot { " + JPEG snapshot" } else { "" },
            pct(&mut lat, 0.5),
            pct(&mut lat, 0.99),
        );
    }
}
