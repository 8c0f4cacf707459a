//! FileSource and VideoDecoder against the shared media assets and damaged copies of them.

mod common;

use std::path::{Path, PathBuf};

use common::{Summary, WALL0, asset, checksum, context, drain, is_eos, next};
use ffmpeg_next as ffmpeg;
use visualpath_media::{
    DecoderOptions, FileSource, FileSourceConfig, Threading, VideoDecoder, probe,
};
use visualpath_sdk::{ComponentError, Name, Source};

fn open(path: &Path) -> FileSource {
    FileSource::open(
        Name::from_static("cam"),
        &FileSourceConfig::new(path.to_str().unwrap()),
    )
    .unwrap()
}

fn open_err(path: &str) -> ComponentError {
    match FileSource::open(Name::from_static("cam"), &FileSourceConfig::new(path)) {
        Ok(_) => panic!("`{path}` opened"),
        Err(e) => e,
    }
}

fn assert_strictly_increasing(frames: &[Summary]) {
    for w in frames.windows(2) {
        assert!(
            w[1].pts_ns.unwrap() > w[0].pts_ns.unwrap(),
            "pts not increasing at seq {}: {:?} -> {:?}",
            w[1].seq,
            w[0].pts_ns,
            w[1].pts_ns
        );
        assert!(w[1].capture_time_ns > w[0].capture_time_ns);
        assert!(w[1].arrival_ns > w[0].arrival_ns);
    }
}

fn assert_steps(frames: &[Summary], step_ns: i64, tolerance_ns: i64) {
    for w in frames.windows(2) {
        let d = w[1].capture_time_ns - w[0].capture_time_ns;
        assert!(
            (d - step_ns).abs() <= tolerance_ns,
            "capture step {d} ns at seq {}, expected {step_ns}",
            w[1].seq
        );
    }
}

#[test]
fn vtest_avi_decodes_every_frame_with_times_and_loops() {
    let Some(path) = asset("vtest.avi") else {
        return;
    };
    let mut src = open(&path);
    let info = src.info().clone();
    assert_eq!(info.kind, "file");
    assert_eq!(info.location, path.to_str().unwrap());
    assert_eq!((info.width, info.height), (Some(768), Some(576)));
    assert_eq!(info.fps, Some(10.0));
    assert_eq!(info.frame_count, Some(795));
    assert!(!info.live);

    let (clock, cx) = context();
    let frames = drain(&mut src, &cx, &clock, 10_000, &[0, 794]);
    assert_eq!(frames.len(), 795);
    assert!(frames.iter().all(|f| (f.width, f.height) == (768, 576)));
    assert!(frames.iter().enumerate().all(|(i, f)| f.seq == i as u64));
    assert_eq!(frames[0].pts_ns, Some(0));
    assert_eq!(frames[794].pts_ns, Some(79_400_000_000));
    // The run started when the first frame was asked for (the clock had moved 1 ms).
    assert_eq!(frames[0].capture_time_ns, WALL0 + 1_000_000);
    assert_eq!(frames[0].arrival_ns, 1_000_000);
    assert_strictly_increasing(&frames);
    assert_steps(&frames, 100_000_000, 1_000_000);
    assert!(is_eos(&mut src, &cx), "end of stream is sticky");
    assert!(is_eos(&mut src, &cx));
    assert_eq!(src.skipped_packets(), 0);

    // Looping: frame 0 again, numbered on, one frame period after the last one.
    src.rewind().unwrap();
    let again = drain(&mut src, &cx, &clock, 2, &[795]);
    assert_eq!(again[0].seq, 795);
    assert_eq!(again[0].pts_ns, Some(0));
    assert_eq!(again[0].checksum, frames[0].checksum);
    assert_eq!(
        again[0].capture_time_ns,
        frames[794].capture_time_ns + 100_000_000
    );
    assert_eq!(again[1].seq, 796);
    assert_eq!(
        again[1].capture_time_ns - again[0].capture_time_ns,
        100_000_000
    );
}

#[test]
fn decoding_is_deterministic_across_runs_and_thread_counts() {
    let Some(path) = asset("vtest.avi") else {
        return;
    };
    let frame100 = |threads: u32| {
        let cfg = FileSourceConfig {
            threads,
            ..FileSourceConfig::new(path.to_str().unwrap())
        };
        let mut src = FileSource::open(Name::from_static("cam"), &cfg).unwrap();
        let (clock, cx) = context();
        let frames = drain(&mut src, &cx, &clock, 101, &[100]);
        frames[100].checksum.unwrap()
    };
    let a = frame100(0);
    let b = frame100(0);
    let c = frame100(1);
    assert_eq!(a, b);
    assert_eq!(a, c, "threaded and single-threaded decoding differ");
}

#[test]
fn rewind_mid_stream_restarts_at_frame_zero() {
    let Some(path) = asset("vtest.avi") else {
        return;
    };
    let mut src = open(&path);
    let (clock, cx) = context();
    let first = drain(&mut src, &cx, &clock, 30, &[0]);
    src.rewind().unwrap();
    let f = next(&mut src, &cx);
    assert_eq!(f.seq, 30);
    assert_eq!(f.pts_ns, Some(0));
    assert_eq!(checksum(f.image.data()), first[0].checksum.unwrap());
    assert_eq!(f.capture_time_ns, first[29].capture_time_ns + 100_000_000);
}

#[test]
fn bikes_mp4_h264_has_250_frames() {
    let Some(path) = asset("bikes.mp4") else {
        return;
    };
    let mut src = open(&path);
    assert_eq!(src.info().frame_count, Some(250));
    assert_eq!(src.info().fps, Some(25.0));
    let (clock, cx) = context();
    let frames = drain(&mut src, &cx, &clock, 10_000, &[0]);
    assert_eq!(frames.len(), 250);
    assert!(frames.iter().all(|f| (f.width, f.height) == (640, 272)));
    assert_strictly_increasing(&frames);
    assert_steps(&frames, 40_000_000, 1_000_000);
    // H.264 with B-frames also loops back to the same first picture.
    src.rewind().unwrap();
    let f = next(&mut src, &cx);
    assert_eq!((f.seq, f.pts_ns), (250, Some(0)));
    assert_eq!(Some(checksum(f.image.data())), frames[0].checksum);
}

#[test]
fn carphone_mp4_decodes_at_ntsc_rate() {
    let Some(path) = asset("carphone_pristine.mp4") else {
        return;
    };
    let mut src = open(&path);
    let fps = src.info().fps.unwrap();
    assert!((fps - 30000.0 / 1001.0).abs() < 1e-9, "{fps}");
    let (clock, cx) = context();
    let frames = drain(&mut src, &cx, &clock, 10_000, &[]);
    assert_eq!(frames.len(), 120);
    assert!(frames.iter().all(|f| (f.width, f.height) == (176, 144)));
    assert_strictly_increasing(&frames);
    assert_steps(&frames, 33_366_667, 1_000_000);
}

#[test]
fn rgb_pixels_are_plausible() {
    // A decoded frame is real picture content, not a blank or garbage buffer.
    let Some(path) = asset("bikes.mp4") else {
        return;
    };
    let mut src = open(&path);
    let (_clock, cx) = context();
    let f = next(&mut src, &cx);
    let img = &f.image;
    assert_eq!(img.format(), visualpath_core::PixelFormat::Rgb24);
    assert_eq!(img.stride(), 640 * 3);
    assert_eq!(img.data().len(), 640 * 272 * 3);
    let mean = img.data().iter().map(|&v| u64::from(v)).sum::<u64>() / img.data().len() as u64;
    assert!((20..235).contains(&mean), "mean {mean}");
    let distinct: std::collections::HashSet<u8> = img.data().iter().copied().collect();
    assert!(
        distinct.len() > 100,
        "only {} distinct values",
        distinct.len()
    );
}

#[test]
fn probe_reports_the_stream() {
    let Some(path) = asset("vtest.avi") else {
        return;
    };
    let info = probe(&path).unwrap();
    assert_eq!(info.name.as_str(), "vtest");
    assert_eq!(info.kind, "file");
    assert_eq!((info.width, info.height), (Some(768), Some(576)));
    assert_eq!(info.fps, Some(10.0));
    assert_eq!(info.frame_count, Some(795));
    let d = VideoDecoder::open(path.to_str().unwrap(), DecoderOptions::default()).unwrap();
    assert_eq!(d.info().codec, "msmpeg4v3");
    assert_eq!(d.info().frame_duration_ns, 100_000_000);
}

#[test]
fn slice_threading_and_single_thread_work() {
    let Some(path) = asset("bikes.mp4") else {
        return;
    };
    for (threads, threading) in [(1, Threading::Frame), (2, Threading::Slice)] {
        let opts = DecoderOptions {
            threads,
            threading,
            ..DecoderOptions::default()
        };
        let mut d = VideoDecoder::open(path.to_str().unwrap(), opts).unwrap();
        let mut n = 0;
        while d.next_frame().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 250, "{threads} threads, {threading:?}");
    }
}

// ---- errors -------------------------------------------------------------------------

#[test]
fn missing_file_is_a_one_line_error_naming_it() {
    let e = open_err("no/such/x.mp4");
    assert_eq!(
        e.message,
        "cannot open video file `no/such/x.mp4`: No such file or directory"
    );
    assert!(!e.transient);
    let e = probe("no/such/x.mp4").unwrap_err();
    assert!(e.message.contains("`no/such/x.mp4`"), "{}", e.message);
}

#[test]
fn empty_and_nul_paths_are_rejected() {
    let e = open_err("");
    assert!(e.message.contains("path is empty"), "{}", e.message);
    let e = open_err("a\0b.mp4");
    assert!(e.message.contains("NUL"), "{}", e.message);
}

#[test]
fn a_text_file_is_not_a_video() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.txt");
    std::fs::write(&p, "shopping list\n- milk\n- eggs\n").unwrap();
    let e = open_err(p.to_str().unwrap());
    assert!(e.message.contains("notes.txt`"), "{}", e.message);
    assert!(e.message.contains("not a video format"), "{}", e.message);
    assert!(!e.message.contains('\n'));
}

/// A WAV file: 0.1 s of 8 kHz mono 16-bit silence.
fn write_wav(path: &Path) {
    let samples = 800u32;
    let data_len = samples * 2;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&16000u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    b.resize(b.len() + data_len as usize, 0);
    std::fs::write(path, b).unwrap();
}

#[test]
fn an_audio_file_has_no_video_stream() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tone.wav");
    write_wav(&p);
    let e = open_err(p.to_str().unwrap());
    assert_eq!(
        e.message,
        format!(
            "`{}` has no video stream FFmpeg can decode (streams: audio pcm_s16le)",
            p.display()
        )
    );
}

fn copy_asset(name: &str, dir: &Path, edit: impl FnOnce(&mut Vec<u8>)) -> Option<PathBuf> {
    let src = asset(name)?;
    let mut bytes = std::fs::read(src).unwrap();
    edit(&mut bytes);
    let dst = dir.join(format!("edited-{name}"));
    std::fs::write(&dst, bytes).unwrap();
    Some(dst)
}

#[test]
fn an_unknown_codec_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    // Replace the `div3` FourCC in the stream header and format by one no codec has.
    let Some(p) = copy_asset("vtest.avi", dir.path(), |b| {
        assert_eq!(&b[0x70..0x74], b"div3");
        assert_eq!(&b[0xbc..0xc0], b"div3");
        b[0x70..0x74].copy_from_slice(b"zqzq");
        b[0xbc..0xc0].copy_from_slice(b"zqzq");
    }) else {
        return;
    };
    let e = open_err(p.to_str().unwrap());
    assert!(
        e.message
            .starts_with(&format!("`{}` has a video stream", p.display())),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("cannot decode (an unknown codec)"),
        "{}",
        e.message
    );
}

/// xorshift64 bytes.
fn garbage(seed: u64) -> impl Iterator<Item = u8> {
    let mut x = seed.max(1);
    std::iter::from_fn(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        Some(x as u8)
    })
}

/// Overwrites the payload of every video chunk (`00dc`) of an AVI after the first `keep`.
fn scramble_avi_video_chunks(b: &mut [u8], keep: usize) {
    let movi = b.windows(4).position(|w| w == b"movi").unwrap();
    let mut i = movi + 4;
    let mut n = 0;
    let mut g = garbage(7);
    while i + 8 <= b.len() {
        let tag = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        let size = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        if &tag == b"idx1" {
            break;
        }
        if &tag[2..] == b"dc" {
            n += 1;
            if n > keep {
                let end = (i + 8 + size).min(b.len());
                for v in &mut b[i + 8..end] {
                    *v = g.next().unwrap();
                }
            }
        }
        i += 8 + size + (size & 1);
    }
    assert_eq!(n, 795);
}

#[test]
fn garbage_in_the_middle_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let Some(p) = copy_asset("vtest.avi", dir.path(), |b| {
        let mid = b.len() / 2;
        for (v, g) in b[mid..mid + 200_000].iter_mut().zip(garbage(1)) {
            *v = g;
        }
    }) else {
        return;
    };
    let mut src = open(&p);
    let (clock, cx) = context();
    let frames = drain(&mut src, &cx, &clock, 10_000, &[]);
    assert!(
        (700..795).contains(&frames.len()),
        "{} frames",
        frames.len()
    );
    assert_strictly_increasing(&frames);
}

#[test]
fn undecodable_packets_are_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let Some(p) = copy_asset("vtest.avi", dir.path(), |b| scramble_avi_video_chunks(b, 5)) else {
        return;
    };
    let mut src = open(&p);
    let (clock, cx) = context();
    let frames = drain(&mut src, &cx, &clock, 10_000, &[]);
    assert!(frames.len() >= 5, "{} frames", frames.len());
    assert!(
        src.skipped_packets() > 100,
        "{} skipped",
        src.skipped_packets()
    );
    assert!(frames.len() as u64 + src.skipped_packets() >= 795);
}

#[test]
fn too_many_consecutive_errors_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let Some(p) = copy_asset("vtest.avi", dir.path(), |b| scramble_avi_video_chunks(b, 5)) else {
        return;
    };
    let opts = DecoderOptions {
        max_consecutive_errors: 2,
        ..DecoderOptions::default()
    };
    let mut d = VideoDecoder::open(p.to_str().unwrap(), opts).unwrap();
    let mut frames = 0;
    let err = loop {
        match d.next_frame() {
            Ok(Some(_)) => frames += 1,
            Ok(None) => panic!("no error after {frames} frames"),
            Err(e) => break e,
        }
    };
    assert!(frames >= 5);
    assert!(
        err.message
            .starts_with(&format!("`{}` is corrupt after frame", p.display())),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("2 packets in a row could not be decoded"),
        "{}",
        err.message
    );
    // Afterwards the stream is over rather than spinning.
    assert!(d.next_frame().unwrap().is_none());
}

#[test]
fn a_truncated_avi_ends_early_without_error() {
    let dir = tempfile::tempdir().unwrap();
    let Some(p) = copy_asset("vtest.avi", dir.path(), |b| b.truncate(b.len() / 2)) else {
        return;
    };
    let mut src = open(&p);
    let (clock, cx) = context();
    let frames = drain(&mut src, &cx, &clock, 10_000, &[]);
    assert!(
        (300..795).contains(&frames.len()),
        "{} frames",
        frames.len()
    );
    assert!(is_eos(&mut src, &cx));
    src.rewind().unwrap();
    assert_eq!(next(&mut src, &cx).pts_ns, Some(0));
}

#[test]
fn a_truncated_mp4_with_trailing_index_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let Some(p) = copy_asset("bikes.mp4", dir.path(), |b| b.truncate(b.len() / 2)) else {
        return;
    };
    let e = open_err(p.to_str().unwrap());
    assert!(
        e.message.starts_with(&format!(
            "cannot open video file `{}`: Invalid data",
            p.display()
        )),
        "{}",
        e.message
    );
}

/// Remuxes `src` to an MP4 with its index first (`movflags=faststart`), like files made
/// for streaming.
fn remux_faststart(src: &Path, dst: &Path) {
    let mut ictx = ffmpeg::format::input(src).unwrap();
    let mut octx = ffmpeg::format::output(dst).unwrap();
    for ist in ictx.streams() {
        let mut ost = octx
            .add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None))
            .unwrap();
        ost.set_parameters(ist.parameters());
    }
    let mut opts = ffmpeg::Dictionary::new();
    opts.set("movflags", "faststart");
    octx.write_header_with(opts).unwrap();
    let in_tb: Vec<_> = ictx.streams().map(|s| s.time_base()).collect();
    let out_tb: Vec<_> = octx.streams().map(|s| s.time_base()).collect();
    for (stream, mut packet) in ictx.packets() {
        let i = stream.index();
        packet.rescale_ts(in_tb[i], out_tb[i]);
        packet.set_position(-1);
        packet.write_interleaved(&mut octx).unwrap();
    }
    octx.write_trailer().unwrap();
}

#[test]
fn a_truncated_streamable_mp4_ends_early_without_hanging() {
    let Some(src) = asset("bikes.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("faststart.mp4");
    remux_faststart(&src, &full);
    // The remuxed file is complete and decodes entirely.
    let mut whole = open(&full);
    let (clock, cx) = context();
    assert_eq!(drain(&mut whole, &cx, &clock, 10_000, &[]).len(), 250);
    // Cut it in the middle of its media data.
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let mut src = open(&cut);
    assert_eq!(
        src.info().frame_count,
        Some(250),
        "the index still says 250"
    );
    let frames = drain(&mut src, &cx, &clock, 10_000, &[]);
    assert!((50..250).contains(&frames.len()), "{} frames", frames.len());
    assert!(is_eos(&mut src, &cx));
}

#[test]
fn url_credentials_never_appear_in_info_or_errors() {
    // Nothing listens on port 1: the connection is refused at once.
    let url = "http://admin:hunter2@127.0.0.1:1/cam.mp4";
    let e = open_err(url);
    assert!(
        e.message
            .starts_with("cannot open video stream `http://***@127.0.0.1:1/cam.mp4`: "),
        "{}",
        e.message
    );
    assert!(!e.message.contains("hunter2"));
    assert!(e.transient, "network failures may go away");
}

#[test]
fn looping_a_file_without_frames_is_refused() {
    // A one-frame "video" (a PNG read through FFmpeg's image demuxer) loops fine, but a
    // pass that produced nothing would make a looping runtime spin forever.
    let Some(png) = asset("basketball1.png") else {
        return;
    };
    let mut src = open(&png);
    let (clock, cx) = context();
    assert_eq!(drain(&mut src, &cx, &clock, 10, &[]).len(), 1);
    src.rewind().unwrap();
    assert_eq!(drain(&mut src, &cx, &clock, 10, &[]).len(), 1);
    // Rewinding right after a rewind (no frame produced in between) is refused.
    src.rewind().unwrap();
    let e = src.rewind().unwrap_err();
    assert!(e.message.contains("produced no frames"), "{}", e.message);
}

// ---- config ---------------------------------------------------------------------------

#[test]
fn config_uses_loop_and_rejects_unknown_fields() {
    let c: FileSourceConfig =
        serde_json::from_str(r#"{"path": "a.mp4", "loop": true, "threads": 2}"#).unwrap();
    assert_eq!(
        c,
        FileSourceConfig {
            path: "a.mp4".into(),
            looping: true,
            threads: 2
        }
    );
    let d: FileSourceConfig = serde_json::from_str(r#"{"path": "a.mp4"}"#).unwrap();
    assert_eq!(d, FileSourceConfig::new("a.mp4"));
    assert!(!d.looping);
    assert_eq!(d.threads, 0);
    let e =
        serde_json::from_str::<FileSourceConfig>(r#"{"path": "a", "looping": true}"#).unwrap_err();
    assert!(e.to_string().contains("unknown field `looping`"), "{e}");
    assert!(
        serde_json::from_str::<FileSourceConfig>("{}").is_err(),
        "path is required"
    );
    let schema = serde_json::to_string(&schemars::schema_for!(FileSourceConfig)).unwrap();
    assert!(schema.contains("\"loop\""), "{schema}");
    assert!(schema.contains("Default `false`"), "{schema}");
}

#[test]
fn build_returns_a_working_source() {
    let Some(path) = asset("carphone_pristine.mp4") else {
        return;
    };
    let mut src = FileSourceConfig::new(path.to_str().unwrap())
        .build(Name::from_static("phone"))
        .unwrap();
    assert_eq!(src.info().name.as_str(), "phone");
    let (_clock, cx) = context();
    let f = next(src.as_mut(), &cx);
    assert_eq!(f.source.as_str(), "phone");
    assert_eq!(f.seq, 0);
}
