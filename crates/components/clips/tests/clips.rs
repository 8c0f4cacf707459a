//! Clips from real footage: a file source with a packet tap feeding the clip recorder,
//! events written to the sink at known capture times, results checked with ffprobe.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use visualpath_clips::{ClipsConfig, ClipsSink};
use visualpath_core::{
    ClipWindow, Event, EventPhase, HumanDuration, ManualClock, Name, Record, Values,
};
use visualpath_media::{FileSource, FileSourceConfig, PacketTaps};
use visualpath_sdk::{Poll, Sink, Source, SourceContext};
use visualpath_sinks::SinkSettings;
use visualpath_testkit::{derived_media, find_program, skip};

const S: i64 = 1_000_000_000;
/// Wall time of the run's start (2026-01-01T00:00:00Z).
const T0: i64 = 1_767_225_600 * S;

struct Fixture {
    ffprobe: PathBuf,
    media: PathBuf,
}

fn fixture(test: &str) -> Option<Fixture> {
    let Some(ffprobe) = find_program("ffprobe") else {
        skip(test, "ffprobe is not installed");
        return None;
    };
    let media = derived_media("vtest_h264.mp4")?;
    Some(Fixture { ffprobe, media })
}

fn event(
    id: u64,
    phase: EventPhase,
    since: i64,
    until: Option<i64>,
    at: i64,
    pre: f64,
    post: f64,
) -> Record {
    Record::Event(Arc::new(Event {
        id,
        rule: Name::new("person").unwrap(),
        source: Name::new("cam").unwrap(),
        phase,
        seq: 0,
        capture_time_ns: at,
        since_ns: since,
        until_ns: until,
        values: Values::default(),
        clip: ClipWindow {
            pre: HumanDuration::from_secs_f64(pre),
            post: HumanDuration::from_secs_f64(post),
        },
    }))
}

/// Runs the file through a tapped source, calling `on_frame(seq, capture_ns, sink)` for
/// every frame, for `frames` frames; then waits until `expect` event records went into
/// written clips (bounded) and flushes.
fn run(
    media: &Path,
    config: &ClipsConfig,
    frames: u64,
    expect: u64,
    mut on_frame: impl FnMut(u64, i64, &mut ClipsSink),
) -> ClipsSink {
    let taps = PacketTaps::new();
    let mut sink = ClipsSink::start(
        config,
        &SinkSettings::new(Name::new("clips").unwrap()),
        &taps,
    )
    .unwrap();
    let name = Name::new("cam").unwrap();
    let mut source = FileSource::open(
        name.clone(),
        &FileSourceConfig::new(media.to_str().unwrap()),
    )
    .unwrap()
    .with_packet_tap(taps.tap(name));
    let cx = SourceContext::new(Arc::new(ManualClock::new(T0)));
    for _ in 0..frames {
        let Poll::Frame(f) = source.next_frame(&cx).unwrap() else {
            break;
        };
        on_frame(f.seq, f.capture_time_ns, &mut sink);
        // Let the writer keep up, as a real pipeline's pacing would.
        if f.seq % 10 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = sink.status().unwrap();
    while status.sent.load(std::sync::atomic::Ordering::Relaxed) < expect
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    sink.flush().unwrap();
    sink
}

fn clips(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("cam"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "mp4"));
    v.sort();
    v
}

struct Probe {
    frames: u64,
    duration: f64,
}

/// `ffprobe -count_frames`: decodes every frame (fails on an unplayable file).
fn probe(ffprobe: &Path, file: &Path) -> Probe {
    let out = Command::new(ffprobe)
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=nb_read_frames,duration:format=duration",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "ffprobe reported errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    Probe {
        frames: s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        // Matroska states the duration of the file only.
        duration: s["duration"]
            .as_str()
            .or(v["format"]["duration"].as_str())
            .unwrap()
            .parse()
            .unwrap(),
    }
}

/// The longest keyframe interval of `file`'s video, in seconds.
fn gop_seconds(ffprobe: &Path, file: &Path) -> f64 {
    let out = Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let keys: Vec<f64> = text
        .lines()
        .filter(|l| l.contains('K'))
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .collect();
    assert!(keys.len() >= 2, "no GOP in {}", file.display());
    keys.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

fn sidecar(mp4: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(mp4.with_extension("json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn clip_around_an_event_is_playable_and_spans_pre_plus_post() {
    let Some(fx) = fixture("clip_around_an_event") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = ClipsConfig::new(dir.path());
    let gop = gop_seconds(&fx.ffprobe, &fx.media);
    let (mut since, mut until) = (0, 0);
    let keep = std::env::var_os("CLIPS_KEEP").map(PathBuf::from);
    let sink = run(&fx.media, &config, 150, 2, |seq, t, sink| {
        // Event: condition holds from frame 63 (6.3 s) to frame 68; clip 2 s + 2 s, so
        // the clip starts at the keyframe at 4 s, 0.3 s before the wanted start.
        if seq == 63 {
            since = t;
            sink.write(&event(7, EventPhase::Start, t, None, t, 2.0, 2.0))
                .unwrap();
        }
        if seq == 68 {
            until = t;
            sink.write(&event(7, EventPhase::End, since, Some(t), t, 2.0, 2.0))
                .unwrap();
        }
    });
    let files = clips(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let mp4 = &files[0];
    let name = mp4.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("20260101-000006-person-7"), "{name}");

    let p = probe(&fx.ffprobe, mp4);
    eprintln!(
        "{name}: {} frames, {} s, sidecar {}",
        p.frames,
        p.duration,
        sidecar(mp4)
    );
    let wanted = (until - since) as f64 / 1e9 + 4.0;
    let frame = 0.1;
    assert!(
        p.duration >= wanted - frame && p.duration <= wanted + gop + frame,
        "duration {} s, wanted {wanted} s (+ up to one GOP of {gop} s)",
        p.duration
    );
    let meta = sidecar(mp4);
    assert_eq!(meta["camera"], "cam");
    assert_eq!(meta["codec"], "h264");
    assert_eq!(meta["frames"].as_u64(), Some(p.frames), "{meta}");
    assert_eq!(meta["events"].as_array().unwrap().len(), 1);
    assert_eq!(meta["events"][0]["event_id"], 7);
    assert_eq!(meta["events"][0]["until_ns"].as_i64(), Some(until));
    assert_eq!(meta["truncated"], false);
    let start = meta["start_ns"].as_i64().unwrap();
    assert!(
        start <= since - 2 * S && start > since - 2 * S - (gop * 1e9) as i64 - S / 10,
        "{meta}"
    );

    let jpg = image::open(mp4.with_extension("jpg")).expect("the snapshot decodes");
    assert_eq!((jpg.width(), jpg.height()), (768, 576));

    if let Some(k) = keep {
        for ext in ["mp4", "jpg", "json"] {
            std::fs::copy(mp4.with_extension(ext), k.join(format!("clip.{ext}"))).unwrap();
        }
    }
    let status = sink.status().unwrap();
    assert_eq!(status.sent.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(status.failed.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn overlapping_events_share_one_clip() {
    let Some(fx) = fixture("overlapping_events") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = ClipsConfig::new(dir.path());
    let mut times = Vec::new();
    run(&fx.media, &config, 200, 6, |seq, t, sink| {
        times.push(t);
        let at = |s: u64| times[s as usize];
        match seq {
            40 => sink
                .write(&event(1, EventPhase::Start, t, None, t, 1.0, 1.0))
                .unwrap(),
            50 => sink
                .write(&event(2, EventPhase::Start, t, None, t, 1.0, 1.0))
                .unwrap(),
            55 => sink
                .write(&event(1, EventPhase::End, at(40), Some(t), t, 1.0, 1.0))
                .unwrap(),
            70 => sink
                .write(&event(2, EventPhase::End, at(50), Some(t), t, 1.0, 1.0))
                .unwrap(),
            // Starts more than `pre + post` after event 2 ended: a clip of its own.
            140 => sink
                .write(&event(3, EventPhase::Start, t, None, t, 1.0, 1.0))
                .unwrap(),
            142 => sink
                .write(&event(3, EventPhase::End, at(140), Some(t), t, 1.0, 1.0))
                .unwrap(),
            _ => {}
        }
    });
    let files = clips(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let first = sidecar(&files[0]);
    let ids: Vec<u64> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);
    assert!(
        first["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["ended"] == true)
    );
    let p = probe(&fx.ffprobe, &files[0]);
    // Frames 40..70 plus 1 s either side: 5 s, plus up to a GOP.
    assert!(p.duration >= 4.9 && p.duration <= 6.1, "{}", p.duration);
    let second = sidecar(&files[1]);
    assert_eq!(second["events"][0]["event_id"], 3);
    probe(&fx.ffprobe, &files[1]);
}

#[test]
fn retention_deletes_the_oldest_clips_beyond_max_bytes() {
    let Some(fx) = fixture("retention") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClipsConfig::new(dir.path());
    config.snapshot = false;
    // Writes three 2-s clips, one at a time; the cap holds about two.
    config.max_bytes = Some(1);
    let mut times = Vec::new();
    run(&fx.media, &config, 240, 6, |seq, t, sink| {
        times.push(t);
        for (i, start) in [(1u64, 30u64), (2, 100), (3, 170)] {
            if seq == start {
                sink.write(&event(i, EventPhase::Start, t, None, t, 1.0, 1.0))
                    .unwrap();
            }
            if seq == start + 1 {
                sink.write(&event(
                    i,
                    EventPhase::End,
                    times[start as usize],
                    Some(t),
                    t,
                    1.0,
                    1.0,
                ))
                .unwrap();
            }
        }
    });
    // With a 1-byte cap, only the newest clip survives each retention pass.
    let files = clips(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0].to_str().unwrap().contains("-person-3"),
        "{files:?}"
    );
    let jsons = std::fs::read_dir(dir.path().join("cam")).unwrap().count();
    assert_eq!(jsons, 2, "only the newest clip's mp4 and json remain");
}

#[test]
fn retention_by_bytes_keeps_the_newest_clips_that_fit() {
    let Some(fx) = fixture("retention_bytes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClipsConfig::new(dir.path());
    config.snapshot = false;
    let mut times = Vec::new();
    // First pass without a cap, to learn clip sizes.
    run(&fx.media, &config, 240, 6, |seq, t, sink| {
        times.push(t);
        for (i, start) in [(1u64, 30u64), (2, 100), (3, 170)] {
            if seq == start {
                sink.write(&event(i, EventPhase::Start, t, None, t, 1.0, 1.0))
                    .unwrap();
            }
            if seq == start + 1 {
                sink.write(&event(
                    i,
                    EventPhase::End,
                    times[start as usize],
                    Some(t),
                    t,
                    1.0,
                    1.0,
                ))
                .unwrap();
            }
        }
    });
    let all = clips(dir.path());
    assert_eq!(all.len(), 3);
    let group = |p: &Path| -> u64 {
        ["mp4", "json"]
            .iter()
            .map(|e| std::fs::metadata(p.with_extension(e)).unwrap().len())
            .sum()
    };
    let newest_two = group(&all[1]) + group(&all[2]);
    // Applying retention with room for the newest two deletes the oldest.
    let deleted = visualpath_clips::writer::apply_retention(
        dir.path(),
        Some(newest_two),
        None,
        std::time::SystemTime::now(),
    );
    assert_eq!(deleted, 1);
    let left = clips(dir.path());
    assert_eq!(left, all[1..].to_vec());
}

#[test]
fn msmpeg4_in_avi_is_remuxed_without_reencoding() {
    let Some(ffprobe) = find_program("ffprobe") else {
        skip("mpeg4_in_avi", "ffprobe is not installed");
        return;
    };
    let Some(avi) = visualpath_testkit::asset("media/vtest.avi") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = ClipsConfig::new(dir.path());
    let mut since = 0;
    let sink = run(&avi, &config, 120, 2, |seq, t, sink| {
        if seq == 50 {
            since = t;
            sink.write(&event(1, EventPhase::Start, t, None, t, 1.0, 1.0))
                .unwrap();
        }
        if seq == 55 {
            sink.write(&event(1, EventPhase::End, since, Some(t), t, 1.0, 1.0))
                .unwrap();
        }
    });
    assert_eq!(
        sink.status()
            .unwrap()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // vtest.avi is MS MPEG-4 v3 (DivX 3), which MP4 cannot hold: the clip is Matroska,
    // same packets.
    let files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("cam"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp4" || e == "mkv"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let p = probe(&ffprobe, &files[0]);
    assert!(p.frames >= 25, "{} frames", p.frames);
    let meta = sidecar(&files[0]);
    assert_eq!(meta["codec"], "msmpeg4v3");
    assert!(
        files[0].extension().is_some_and(|e| e == "mkv"),
        "{files:?}"
    );
    assert_eq!(meta["frames"].as_u64(), Some(p.frames));
    image::open(files[0].with_extension("jpg")).expect("the snapshot decodes");
}

#[test]
fn rtsp_camera_clips_are_playable() {
    use visualpath_core::SystemClock;
    use visualpath_media::RtspConfig;
    let Some(fx) = fixture("rtsp_camera_clips") else {
        return;
    };
    let Some(server) = visualpath_testkit::Server::rtsp(&fx.media) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = ClipsConfig::new(dir.path());
    let taps = PacketTaps::new();
    let mut sink = ClipsSink::start(
        &config,
        &SinkSettings::new(Name::new("clips").unwrap()),
        &taps,
    )
    .unwrap();
    let name = Name::new("cam").unwrap();
    let mut source = RtspConfig::new(server.url())
        .build_live(name.clone())
        .unwrap()
        .with_packet_tap(taps.tap(name));
    let cx = SourceContext::new(SystemClock::shared());
    // Real time at 10 fps: 5 s of stream, an event from 2.5 s to 3 s, clip 1 s + 1 s.
    let mut since = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0u64;
    while n < 50 && Instant::now() < deadline {
        let f = match source.next_frame(&cx) {
            Ok(Poll::Frame(f)) => f,
            Ok(_) => continue,
            Err(e) if e.transient => continue,
            Err(e) => panic!("{e}"),
        };
        let t = f.capture_time_ns;
        if n == 25 {
            since = t;
            sink.write(&event(1, EventPhase::Start, t, None, t, 1.0, 1.0))
                .unwrap();
        }
        if n == 30 {
            sink.write(&event(1, EventPhase::End, since, Some(t), t, 1.0, 1.0))
                .unwrap();
        }
        n += 1;
    }
    assert_eq!(n, 50, "the camera sent {n} frames in 30 s");
    let status = sink.status().unwrap();
    while status.sent.load(std::sync::atomic::Ordering::Relaxed) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    sink.flush().unwrap();
    drop(source);
    let files = clips(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let p = probe(&fx.ffprobe, &files[0]);
    let meta = sidecar(&files[0]);
    assert_eq!(meta["truncated"], false, "{meta}");
    // 0.5 s of event + 2 s, plus up to one GOP (1 s) before, with a frame of tolerance.
    assert!(
        p.duration >= 2.4 && p.duration <= 3.6,
        "{} s; {meta}",
        p.duration
    );
    assert_eq!(meta["frames"].as_u64(), Some(p.frames));
    image::open(files[0].with_extension("jpg")).expect("the snapshot decodes");
}
