//! The OSC sink against a real, independent receiver (python-osc, `tests/osc_receiver.py`)
//! fed by the real detect -> track -> pose chain on recorded footage (vtest.avi).
//!
//! Needs ONNX Runtime, the models in assets/models and the tools virtualenv
//! (`scripts/python-tools.sh`); skips with `SKIP: ...` when one is missing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use visualpath_media::FileSourceConfig;
use visualpath_models::{DetectConfig, PoseConfig};
use visualpath_sdk::core::{ManualClock, Timing};
use visualpath_sdk::{
    Analyzer, Event, EventPhase, Frame, Name, Observation, ObservationData, Poll, Record,
    SourceContext, SourceInfo, Upstream, Values,
};
use visualpath_sink_osc::OscConfig;
use visualpath_sinks::{QueueOverflow, SinkSettings};
use visualpath_track::TrackConfig;

const FRAMES: u64 = 40;
/// 2026-01-01T00:00:00Z: capture times on a realistic wall clock.
const WALL0: i64 = 1_767_225_600_000_000_000;
const SLOTS: u32 = 10;

fn analyzer(f: Arc<dyn visualpath_sdk::AnalyzerFactory>) -> Box<dyn Analyzer> {
    f.create(&SourceInfo::new(Name::from_static("cam"), "file"))
        .unwrap()
}

fn observation(analyzer: &'static str, frame: &Frame, data: ObservationData) -> Arc<Observation> {
    Arc::new(Observation {
        analyzer: Name::from_static(analyzer),
        source: frame.source.clone(),
        seq: frame.seq,
        capture_time_ns: frame.capture_time_ns,
        arrival_ns: frame.arrival_ns,
        frame_size: (frame.width(), frame.height()),
        data,
        timing: Timing::default(),
    })
}

fn event(phase: EventPhase, at_ns: i64, since_ns: i64) -> Record {
    Record::Event(Arc::new(Event {
        id: 1,
        rule: Name::from_static("crowd"),
        source: Name::from_static("cam"),
        phase,
        seq: 0,
        capture_time_ns: at_ns,
        since_ns,
        until_ns: (phase == EventPhase::End).then_some(at_ns),
        values: Values::new(),
        clip: Default::default(),
    }))
}

/// One received message.
#[derive(Debug, Clone)]
struct Msg {
    addr: String,
    tags: String,
    arg: f64,
    ntp: Option<(u64, u64)>,
    time: Option<f64>,
    size: u64,
}

fn parse(v: &Value) -> Msg {
    let ntp = v["ntp"]
        .as_array()
        .map(|a| (a[0].as_u64().unwrap(), a[1].as_u64().unwrap()));
    let args = v["args"].as_array().unwrap();
    assert_eq!(args.len(), 1, "one argument per message: {v}");
    Msg {
        addr: v["addr"].as_str().unwrap().to_owned(),
        tags: v["tags"].as_str().unwrap().to_owned(),
        arg: args[0].as_f64().unwrap(),
        ntp,
        time: v["time"].as_f64(),
        size: v["size"].as_u64().unwrap(),
    }
}

/// The NTP timestamp of a Unix time in ns, computed independently of the crate.
fn ntp_of(ns: i64) -> (u64, u64) {
    let secs = (ns.div_euclid(1_000_000_000) + 2_208_988_800) as u64;
    let frac = (ns.rem_euclid(1_000_000_000) as f64 / 1e9 * 4_294_967_296.0).round() as u64;
    (secs, frac)
}

#[test]
fn tracks_and_poses_from_vtest_reach_a_python_osc_receiver() {
    if let Err(e) = visualpath_infer_ort::runtime_available() {
        visualpath_testkit::skip("OSC receiver test", &e.to_string());
        return;
    }
    let (Some(video), Some(_), Some(_)) = (
        visualpath_testkit::asset("media/vtest.avi"),
        visualpath_testkit::asset("models/ssd_mobilenet_v2_coco.onnx"),
        visualpath_testkit::asset("models/movenet_lightning.onnx"),
    ) else {
        return;
    };
    let Some(python) = visualpath_testkit::tools_python("OSC receiver test") else {
        return;
    };

    // The receiver, on a port it chose itself.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/osc_receiver.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .args(["--timeout", "120"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the python-osc receiver");
    let stdout = child.stdout.take().unwrap();
    // The first line (the port) comes through a channel; the rest is collected by the
    // reader thread while the sink runs, so the receiver never blocks on its pipe.
    let (tx, rx) = mpsc::sync_channel::<u16>(1);
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first: Value = serde_json::from_str(&lines.next()?.ok()?).ok()?;
        tx.send(first["port"].as_u64()? as u16).ok()?;
        let mut got = Vec::new();
        for line in lines {
            let v: Value = serde_json::from_str(&line.ok()?).expect("receiver output is JSON");
            if v.get("end").is_some() {
                return Some(got);
            }
            got.push(v);
        }
        None
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("receiver started");

    // The sink.
    let mut settings = SinkSettings::new(Name::from_static("td"));
    settings.queue.overflow = QueueOverflow::Block;
    let mut sink = OscConfig {
        prefix: Some("/vp".into()),
        ..OscConfig::new("127.0.0.1", port)
    }
    .build(&settings)
    .unwrap();

    // The real chain on the first FRAMES frames.
    let mut src = FileSourceConfig::new(video.to_str().unwrap())
        .build(Name::from_static("cam"))
        .unwrap();
    let cx = SourceContext::new(Arc::new(ManualClock::new(WALL0)));
    let mut detect = analyzer(
        DetectConfig {
            threads: 1,
            ..Default::default()
        }
        .build()
        .unwrap(),
    );
    let mut track = analyzer(
        TrackConfig {
            classes: Some(vec!["person".into()]),
            ..Default::default()
        }
        .factory(),
    );
    let mut pose = analyzer(
        PoseConfig {
            threads: 1,
            ..Default::default()
        }
        .build()
        .unwrap(),
    );
    let mut tracks_seen: Vec<Arc<Observation>> = Vec::new();
    let mut poses_seen: Vec<Arc<Observation>> = Vec::new();
    let mut crowd_since: Option<i64> = None;
    let mut written = 0u64;
    let mut last_t = 0;
    while let Ok(Poll::Frame(frame)) = src.next_frame(&cx) {
        if frame.seq >= FRAMES {
            break;
        }
        let d = observation(
            "detect",
            &frame,
            detect.analyze(&frame, Upstream::default()).unwrap(),
        );
        let up = [d.clone()];
        let t = observation(
            "track",
            &frame,
            track.analyze(&frame, Upstream::new(&up)).unwrap(),
        );
        let up = [d.clone(), t.clone()];
        let p = observation(
            "pose",
            &frame,
            pose.analyze(&frame, Upstream::new(&up)).unwrap(),
        );
        for o in [&d, &t, &p] {
            sink.write(&Record::Observation(o.clone())).unwrap();
            written += 1;
        }
        // A stand-in for a fusion rule `track.count >= 3` (fusion is not this crate's
        // dependency): an event start and, at the end, its end.
        if t.data.tracks.len() >= 3 && crowd_since.is_none() {
            crowd_since = Some(frame.capture_time_ns);
            sink.write(&event(
                EventPhase::Start,
                frame.capture_time_ns,
                frame.capture_time_ns,
            ))
            .unwrap();
            written += 1;
        }
        last_t = frame.capture_time_ns;
        tracks_seen.push(t);
        poses_seen.push(p);
    }
    assert_eq!(tracks_seen.len() as u64, FRAMES, "frames decoded");
    let since = crowd_since.expect("vtest has 3 or more people within the first frames");
    sink.write(&event(EventPhase::End, last_t, since)).unwrap();
    written += 1;
    let status = sink.status().unwrap();
    sink.flush().unwrap();
    assert_eq!(status.sent.load(Ordering::Relaxed), written);
    assert_eq!(status.failed.load(Ordering::Relaxed), 0);
    assert_eq!(status.dropped.load(Ordering::Relaxed), 0);

    // Stop the receiver, collect what it got.
    let stop = UdpSocket::bind("127.0.0.1:0").unwrap();
    stop.send_to(b"/__stop\0,\0\0\0", ("127.0.0.1", port))
        .unwrap();
    let msgs: Vec<Msg> = reader
        .join()
        .unwrap()
        .expect("the receiver ended cleanly")
        .iter()
        .map(parse)
        .collect();
    let _ = child.wait();

    // Every message: one float or int argument, in a bundle within an Ethernet datagram.
    assert!(!msgs.is_empty());
    for m in &msgs {
        assert!(m.tags == "f" || m.tags == "i", "{m:?}");
        assert!(m.size <= 1472, "{m:?}");
        assert!(m.ntp.is_some(), "not in a bundle: {m:?}");
    }
    // The latest value per (timetag, address), as a CHOP would hold it.
    let mut at: HashMap<((u64, u64), &str), &Msg> = HashMap::new();
    for m in &msgs {
        at.insert((m.ntp.unwrap(), m.addr.as_str()), m);
    }
    let get = |t: (u64, u64), addr: &str| -> &Msg {
        at.get(&(t, addr))
            .unwrap_or_else(|| panic!("no {addr} at {t:?}"))
    };

    let mut max_people = 0;
    let mut poses_checked = 0;
    for (o, p) in tracks_seen.iter().zip(&poses_seen) {
        let t = ntp_of(o.capture_time_ns);
        let (w, h) = (o.frame_size.0 as f64, o.frame_size.1 as f64);
        assert_eq!((w, h), (768.0, 576.0));
        // The bundle's timetag is the capture time (python-osc's own conversion).
        let m = get(t, "/vp/count");
        assert!(
            (m.time.unwrap() - o.capture_time_ns as f64 / 1e9).abs() < 1e-6,
            "{m:?}"
        );
        assert_eq!(m.tags, "i");
        assert_eq!(
            m.arg as usize,
            o.data.tracks.len(),
            "count at seq {}",
            o.seq
        );
        max_people = max_people.max(o.data.tracks.len());
        for slot in 1..=SLOTS {
            let a = |f: &str| format!("/vp/p{slot}/{f}");
            let active = get(t, &a("active"));
            assert_eq!(active.tags, "i");
            match o.data.tracks.iter().find(|tr| tr.slot == Some(slot)) {
                Some(tr) => {
                    assert_eq!(active.arg, 1.0);
                    let (cx, cy) = tr.bbox.center();
                    let tx = get(t, &a("tx"));
                    let ty = get(t, &a("ty"));
                    assert_eq!((tx.tags.as_str(), ty.tags.as_str()), ("f", "f"));
                    assert!((0.0..=1.0).contains(&tx.arg) && (0.0..=1.0).contains(&ty.arg));
                    assert!(
                        (tx.arg - (cx as f64 / w).clamp(0.0, 1.0)).abs() < 1e-5,
                        "{tx:?}"
                    );
                    // Origin bottom-left: y grows upwards.
                    assert!(
                        (ty.arg - (1.0 - cy as f64 / h).clamp(0.0, 1.0)).abs() < 1e-5,
                        "{ty:?}"
                    );
                    assert!((get(t, &a("w")).arg - tr.bbox.width() as f64 / w).abs() < 1e-5);
                    assert!((get(t, &a("h")).arg - tr.bbox.height() as f64 / h).abs() < 1e-5);
                    assert_eq!(get(t, &a("id")).arg as u64, tr.id);
                    assert_eq!(get(t, &a("id")).tags, "i");
                    assert!((get(t, &a("score")).arg - f64::from(tr.score)).abs() < 1e-6);
                }
                None => {
                    assert_eq!(active.arg, 0.0);
                    assert_eq!(get(t, &a("tx")).arg, 0.0);
                }
            }
        }
        assert!(
            at.contains_key(&(t, "/vp/cam/track/slots_used")),
            "values of the track analyzer"
        );
        // Poses on their tracks' slots.
        for ps in &p.data.poses {
            let Some(slot) = ps
                .track_id
                .and_then(|id| o.data.tracks.iter().find(|tr| tr.id == id))
                .and_then(|tr| tr.slot)
            else {
                continue;
            };
            for k in &ps.keypoints {
                let tx = get(t, &format!("/vp/p{slot}/{}:tx", k.name));
                let ty = get(t, &format!("/vp/p{slot}/{}:ty", k.name));
                let sc = get(t, &format!("/vp/p{slot}/{}:score", k.name));
                assert!(
                    (tx.arg - (k.x as f64 / w).clamp(0.0, 1.0)).abs() < 1e-5,
                    "{tx:?}"
                );
                assert!(
                    (ty.arg - (1.0 - k.y as f64 / h).clamp(0.0, 1.0)).abs() < 1e-5,
                    "{ty:?}"
                );
                assert!((sc.arg - f64::from(k.score)).abs() < 1e-6);
                poses_checked += 1;
            }
        }
    }
    assert!(max_people >= 3, "people tracked at once: {max_people}");
    assert!(
        poses_checked >= 17 * 3,
        "keypoints checked: {poses_checked}"
    );
    let datagrams: std::collections::HashSet<_> = msgs.iter().map(|m| (m.ntp, m.size)).collect();
    eprintln!(
        "received {} messages ({} distinct timetag/size pairs) for {written} records; up to {max_people} people; {poses_checked} keypoints checked",
        msgs.len(),
        datagrams.len()
    );

    // The event: 1 at its start, 0 at its end, timed by capture time.
    let ev: Vec<&Msg> = msgs
        .iter()
        .filter(|m| m.addr == "/vp/event/crowd")
        .collect();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(
        (ev[0].tags.as_str(), ev[0].arg, ev[0].ntp),
        ("i", 1.0, Some(ntp_of(since)))
    );
    assert_eq!((ev[1].arg, ev[1].ntp), (0.0, Some(ntp_of(last_t))));
}
