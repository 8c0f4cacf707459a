//! The testkit's servers and derived media, proven against real clients: the ffmpeg and
//! ffprobe CLIs, plus small hand-written RTSP (TCP interleaved), MJPEG, MQTT and Redis
//! clients on `std::net::TcpStream`.
//!
//! Every test skips with a `SKIP:` line when a program or asset is missing. No test asserts
//! how long something took: waits are bounded by counts or by generous safety limits whose
//! expiry is a failure, and timings are only printed.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use visualpath_testkit::{Server, ServerKind, derived_media, find_program, free_port, skip};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A CLI tool, or `None` after a SKIP line.
fn tool(name: &str) -> Option<PathBuf> {
    let found = find_program(name);
    if found.is_none() {
        skip(
            &format!("test needing `{name}`"),
            "not installed; e.g. `apt-get install ffmpeg`",
        );
    }
    found
}

/// Runs `program args` under coreutils `timeout` (a safety net: a hang is a failure, exit
/// status 124), capturing its output.
fn run(program: &Path, args: &[&str]) -> Output {
    let out = Command::new("timeout")
        .args(["-k", "5", "90"])
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run `timeout`");
    assert_ne!(
        out.status.code(),
        Some(124),
        "{} {args:?} hung for 90 s",
        program.display()
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `key=value` lines of `ffprobe -of default` output.
fn probe_value<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Decoded frames of a live RTSP stream: `(pts, md5)` per frame, from `ffmpeg -f framemd5`.
fn rtsp_frames(ffmpeg: &Path, url: &str, transport: &str, frames: u32) -> Vec<(i64, String)> {
    let n = frames.to_string();
    let out = run(
        ffmpeg,
        &[
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            transport,
            "-timeout",
            "10000000",
            "-i",
            url,
            "-map",
            "0:v",
            "-frames:v",
            &n,
            "-f",
            "framemd5",
            "-",
        ],
    );
    assert!(
        out.status.success(),
        "ffmpeg over {transport} from {url}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            (f[2].parse().expect("pts"), f[5].to_string())
        })
        .collect()
}

/// A minimal RTSP client: RTP over TCP (interleaved channels 0 and 1).
struct RtspClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    cseq: u32,
    session: Option<String>,
}

/// One interleaved packet: channel (0 = RTP, 1 = RTCP) and payload.
type Interleaved = (u8, Vec<u8>);

impl RtspClient {
    /// DESCRIBE, SETUP (TCP interleaved 0-1), PLAY.
    fn play(url: &str) -> RtspClient {
        let authority = url
            .strip_prefix("rtsp://")
            .and_then(|r| r.split('/').next())
            .expect("rtsp URL");
        let stream = TcpStream::connect(authority).expect("connect to the RTSP server");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut c = RtspClient {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            cseq: 0,
            session: None,
        };
        let (status, headers, sdp) = c.request("DESCRIBE", url, "Accept: application/sdp\r\n");
        assert_eq!(status, 200, "DESCRIBE {url}");
        assert!(
            sdp.contains("m=video") && sdp.contains("H264/90000"),
            "{sdp}"
        );
        let base = header(&headers, "content-base").unwrap_or_else(|| format!("{url}/"));
        let control = sdp
            .lines()
            .skip_while(|l| !l.starts_with("m=video"))
            .find_map(|l| l.strip_prefix("a=control:"))
            .expect("a media control in the SDP")
            .trim()
            .to_string();
        let track = if control.starts_with("rtsp://") {
            control
        } else {
            format!("{}/{control}", base.trim_end_matches('/'))
        };
        let (status, headers, _) = c.request(
            "SETUP",
            &track,
            "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n",
        );
        assert_eq!(status, 200, "SETUP {track}");
        let session = header(&headers, "session").expect("a Session header");
        c.session = Some(session.split(';').next().unwrap().trim().to_string());
        let (status, _, _) = c.request("PLAY", url, "Range: npt=0.000-\r\n");
        assert_eq!(status, 200, "PLAY {url}");
        c
    }

    fn request(
        &mut self,
        method: &str,
        url: &str,
        extra: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        self.cseq += 1;
        let session = self
            .session
            .as_ref()
            .map(|s| format!("Session: {s}\r\n"))
            .unwrap_or_default();
        write!(
            self.writer,
            "{method} {url} RTSP/1.0\r\nCSeq: {}\r\n{session}{extra}\r\n",
            self.cseq
        )
        .unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad RTSP status line {status_line:?}"));
        let (headers, body) = self.read_message_rest();
        (status, headers, body)
    }

    /// Headers and body of an RTSP message whose first line was consumed.
    fn read_message_rest(&mut self) -> (Vec<(String, String)>, String) {
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = header(&headers, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).unwrap();
        (headers, text(&body))
    }

    /// The next interleaved packet (RTSP messages from the server are skipped).
    fn packet(&mut self) -> io::Result<Interleaved> {
        loop {
            let mut first = [0u8; 1];
            self.reader.read_exact(&mut first)?;
            if first[0] != b'$' {
                let mut rest = String::new();
                self.reader.read_line(&mut rest)?;
                self.read_message_rest();
                continue;
            }
            let mut head = [0u8; 3];
            self.reader.read_exact(&mut head)?;
            let mut payload = vec![0; usize::from(u16::from_be_bytes([head[1], head[2]]))];
            self.reader.read_exact(&mut payload)?;
            return Ok((head[0], payload));
        }
    }

    fn set_read_timeout(&self, t: Duration) {
        self.writer.set_read_timeout(Some(t)).unwrap();
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// RTP timestamp of an RTP packet.
fn rtp_timestamp(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[4], p[5], p[6], p[7]])
}

/// `(NTP seconds since 1900, RTP timestamp)` of each sender report in an RTCP compound.
fn sender_reports(mut p: &[u8]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    while p.len() >= 4 {
        let len = (usize::from(u16::from_be_bytes([p[2], p[3]])) + 1) * 4;
        if p[1] == 200 && p.len() >= 20 {
            out.push((
                u32::from_be_bytes([p[8], p[9], p[10], p[11]]),
                u32::from_be_bytes([p[16], p[17], p[18], p[19]]),
            ));
        }
        p = &p[len.min(p.len())..];
    }
    out
}

// ---------------------------------------------------------------------------------------
// Ports and derived media
// ---------------------------------------------------------------------------------------

#[test]
fn free_ports_are_distinct_and_bindable() {
    let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
    let distinct: BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), ports.len());
    assert!(ports.iter().all(|&p| p >= 1024));
    for p in &ports[..5] {
        std::net::TcpListener::bind(("127.0.0.1", *p)).expect("a free port binds");
    }
}

/// Top-level MP4 box types in file order.
fn mp4_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        boxes.push(text(&data[at + 4..at + 8]));
        if size < 8 {
            break; // 64-bit or to-end sizes do not occur in these small files
        }
        at += size;
    }
    boxes
}

#[test]
fn derived_h264_media_have_the_promised_format() {
    let Some(ffprobe) = tool("ffprobe") else {
        return;
    };
    for (name, size, frames) in [
        ("vtest_h264.mp4", (768, 576), 795),
        ("vtest_640x480_h264.mp4", (640, 480), 795),
        ("vtest_2s_h264.mp4", (768, 576), 20),
    ] {
        let Some(path) = derived_media(name) else {
            return;
        };
        assert!(path.ends_with(name), "{}", path.display());
        assert!(
            path.starts_with(visualpath_testkit::repo_root().join("target/visualpath-test-media"))
        );
        let p = path.to_str().unwrap();
        let out = run(
            &ffprobe,
            &[
                "-v",
                "error",
                "-select_streams",
                "v",
                "-count_packets",
                "-show_entries",
                "stream=codec_name,profile,width,height,pix_fmt,r_frame_rate,has_b_frames,nb_read_packets",
                "-of",
                "default=nw=1",
                p,
            ],
        );
        let o = text(&out.stdout);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert_eq!(probe_value(&o, "codec_name"), Some("h264"), "{name}: {o}");
        assert_eq!(probe_value(&o, "profile"), Some("Main"), "{name}");
        assert_eq!(probe_value(&o, "pix_fmt"), Some("yuv420p"), "{name}");
        assert_eq!(probe_value(&o, "width"), Some(size.0.to_string().as_str()));
        assert_eq!(probe_value(&o, "height"), Some(size.1.to_string().as_str()));
        assert_eq!(probe_value(&o, "r_frame_rate"), Some("10/1"), "{name}");
        assert_eq!(probe_value(&o, "has_b_frames"), Some("0"), "{name}");
        assert_eq!(
            probe_value(&o, "nb_read_packets"),
            Some(frames.to_string().as_str()),
            "{name}"
        );
        // A key frame exactly every 10 frames.
        let out = run(
            &ffprobe,
            &[
                "-v",
                "error",
                "-select_streams",
                "v",
                "-show_entries",
                "packet=flags",
                "-of",
                "csv=p=0",
                p,
            ],
        );
        let keys: Vec<usize> = text(&out.stdout)
            .lines()
            .enumerate()
            .filter(|(_, f)| f.starts_with('K'))
            .map(|(i, _)| i)
            .collect();
        let expected: Vec<usize> = (0..frames).step_by(10).collect();
        assert_eq!(keys, expected, "{name}: key frames");
        // faststart: the index comes before the media data.
        let boxes = mp4_boxes(&path);
        let pos = |t: &str| boxes.iter().position(|b| b == t);
        assert!(
            pos("moov").unwrap() < pos("mdat").unwrap(),
            "{name}: {boxes:?}"
        );
    }
}

#[test]
fn derived_jpeg_folder_holds_every_frame_at_640x480() {
    let Some(ffprobe) = tool("ffprobe") else {
        return;
    };
    let Some(dir) = derived_media("vtest_jpeg") else {
        return;
    };
    assert!(dir.is_dir());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 795);
    assert_eq!(names[0], "frame_00001.jpg");
    assert_eq!(names[794], "frame_00795.jpg");
    let first = dir.join(&names[0]);
    let out = run(
        &ffprobe,
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "default=nw=1",
            first.to_str().unwrap(),
        ],
    );
    let o = text(&out.stdout);
    assert_eq!(probe_value(&o, "codec_name"), Some("mjpeg"), "{o}");
    assert_eq!(
        (probe_value(&o, "width"), probe_value(&o, "height")),
        (Some("640"), Some("480"))
    );
}

#[test]
fn concurrent_callers_get_the_same_complete_file() {
    if tool("ffmpeg").is_none() {
        return;
    }
    let paths: Vec<Option<PathBuf>> = (0..4)
        .map(|_| thread::spawn(|| derived_media("vtest_2s_h264.mp4")))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let Some(first) = paths[0].clone() else {
        return;
    };
    assert!(paths.iter().all(|p| p.as_ref() == Some(&first)));
    assert!(mp4_boxes(&first).contains(&"mdat".to_string()));
    let leftovers: Vec<_> = std::fs::read_dir(first.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-") || n.ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// ---------------------------------------------------------------------------------------
// RTSP
// ---------------------------------------------------------------------------------------

#[test]
fn rtsp_serves_h264_over_tcp_and_udp() {
    let (Some(ffmpeg), Some(ffprobe)) = (tool("ffmpeg"), tool("ffprobe")) else {
        return;
    };
    let Some(file) = derived_media("vtest_h264.mp4") else {
        return;
    };
    let Some(server) = Server::rtsp(&file) else {
        return;
    };
    eprintln!("RTSP server ready after {:?}", server.ready_after());
    assert_eq!(server.kind(), ServerKind::Rtsp);
    assert_eq!(
        server.url(),
        format!("rtsp://127.0.0.1:{}/cam", server.port())
    );
    assert!(server.is_running() && !server.is_paused());
    let out = run(
        &ffprobe,
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "default=nw=1",
            server.url(),
        ],
    );
    let o = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(probe_value(&o, "codec_name"), Some("h264"), "{o}");
    assert_eq!(
        (probe_value(&o, "width"), probe_value(&o, "height")),
        (Some("768"), Some("576"))
    );
    for transport in ["tcp", "udp"] {
        let frames = rtsp_frames(&ffmpeg, server.url(), transport, 30);
        assert_eq!(frames.len(), 30, "{transport}");
    }
}

#[test]
fn rtsp_loops_a_short_clip_with_increasing_timestamps() {
    let Some(ffmpeg) = tool("ffmpeg") else { return };
    // 20 frames (2 s) looped; 55 frames take 5.5 s of real time.
    let Some(file) = derived_media("vtest_2s_h264.mp4") else {
        return;
    };
    let Some(server) = Server::rtsp(&file) else {
        return;
    };
    let frames = rtsp_frames(&ffmpeg, server.url(), "tcp", 55);
    assert_eq!(frames.len(), 55);
    for w in frames.windows(2) {
        assert!(w[1].0 > w[0].0, "pts go back: {:?} then {:?}", w[0], w[1]);
    }
    // The same 20 pictures again and again: the clip really loops (no re-encoding, the
    // decoded frames are bit-identical), and a 20-frame clip gave 55 frames.
    for i in 0..35 {
        assert_eq!(frames[i].1, frames[i + 20].1, "frame {i} vs {}", i + 20);
    }
    assert_ne!(frames[0].1, frames[1].1);
}

#[test]
fn rtsp_sends_rtcp_sender_reports_and_continuous_rtp_timestamps() {
    let Some(file) = derived_media("vtest_2s_h264.mp4") else {
        return;
    };
    let Some(server) = Server::rtsp(&file) else {
        return;
    };
    let mut client = RtspClient::play(server.url());
    let (mut first, mut last): (Option<u32>, Option<u32>) = (None, None);
    let mut frames = 0u32;
    let mut reports = Vec::new();
    // Until 2 sender reports and more than 3 loops (6 s at 90 kHz) of timestamps; the
    // packet count bounds the loop (about 150 packets per second here).
    for _ in 0..20_000 {
        let (channel, p) = client.packet().expect("a packet within 10 s");
        match channel {
            0 => {
                let ts = rtp_timestamp(&p);
                if let Some(prev) = last {
                    assert!(
                        ts.wrapping_sub(prev) < 1 << 31,
                        "RTP timestamp went back: {prev} -> {ts}"
                    );
                }
                first.get_or_insert(ts);
                last = Some(ts);
                if p[1] & 0x80 != 0 {
                    frames += 1;
                }
            }
            1 => {
                for (ntp_secs, rtp_ts) in sender_reports(&p) {
                    // The report's RTP time is the stream's current time (within 1 s).
                    let lag = last.expect("RTP before RTCP").wrapping_sub(rtp_ts) as i32;
                    assert!(lag.abs() < 90_000, "SR rtp {rtp_ts} vs stream {last:?}");
                    reports.push(ntp_secs);
                }
            }
            other => panic!("unexpected channel {other}"),
        }
        let span = last.unwrap_or(0).wrapping_sub(first.unwrap_or(0));
        if reports.len() >= 2 && span > 6 * 90_000 {
            break;
        }
    }
    assert!(reports.len() >= 2, "only {} sender reports", reports.len());
    assert!(frames > 60, "{frames} frames from a 20-frame clip");
    // NTP times are wall-clock times (seconds since 1900), not stream-relative.
    let now_ntp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2_208_988_800;
    for r in &reports {
        assert!(
            now_ntp.abs_diff(u64::from(*r)) < 3600,
            "SR NTP seconds {r} vs now {now_ntp}"
        );
    }
    assert!(reports.windows(2).all(|w| w[1] >= w[0]));
}

#[test]
fn rtsp_kill_then_restart_serves_again_on_the_same_port() {
    let Some(ffmpeg) = tool("ffmpeg") else { return };
    let Some(file) = derived_media("vtest_640x480_h264.mp4") else {
        return;
    };
    let Some(mut server) = Server::rtsp(&file) else {
        return;
    };
    let (port, url) = (server.port(), server.url().to_string());
    // A client is connected when the server dies, so the port has a connection in
    // FIN-WAIT / TIME_WAIT when the new server binds it.
    let mut client = RtspClient::play(&url);
    client.packet().unwrap();
    let old_pid = server.pid().unwrap();
    server.kill();
    assert!(!server.is_running() && server.pid().is_none());
    assert!(!process_exists(old_pid));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after kill"
    );
    // The old connection ends (EOF or reset), it does not hang.
    let end = loop {
        match client.packet() {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(!is_timeout(&end), "{end}");
    let started = Instant::now();
    server.restart();
    eprintln!(
        "RTSP restart on the same port ready after {:?} ({:?} in restart())",
        server.ready_after(),
        started.elapsed()
    );
    assert_eq!((server.port(), server.url()), (port, url.as_str()));
    assert_ne!(server.pid(), Some(old_pid));
    assert_eq!(rtsp_frames(&ffmpeg, &url, "tcp", 10).len(), 10);
    // And again, right away.
    server.kill();
    server.restart();
    assert_eq!(rtsp_frames(&ffmpeg, &url, "tcp", 5).len(), 5);
}

#[test]
fn rtsp_pause_stalls_readers_and_resume_lets_them_continue() {
    let (Some(ffprobe), Some(ffmpeg)) = (tool("ffprobe"), tool("ffmpeg")) else {
        return;
    };
    let Some(file) = derived_media("vtest_640x480_h264.mp4") else {
        return;
    };
    let Some(server) = Server::rtsp(&file) else {
        return;
    };
    let mut client = RtspClient::play(server.url());
    for _ in 0..10 {
        client.packet().unwrap();
    }
    server.pause();
    assert!(server.is_paused() && server.is_running());
    // What was already in flight may still arrive; then reads time out (not EOF).
    client.set_read_timeout(Duration::from_secs(2));
    let mut drained = 0;
    let stalled = loop {
        match client.packet() {
            Ok(_) => drained += 1,
            Err(e) => break e,
        }
        assert!(drained < 100_000, "still receiving while paused");
    };
    assert!(is_timeout(&stalled), "{stalled}");
    // A new reader cannot even get the stream description.
    let out = run(
        &ffprobe,
        &[
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-timeout",
            "2000000",
            server.url(),
        ],
    );
    assert!(
        !out.status.success(),
        "ffprobe succeeded against a paused server"
    );
    server.resume();
    assert!(!server.is_paused());
    // The timeout may have cut a packet in half, so only count fresh bytes on the same
    // connection (not what sits in the reader's buffer already).
    client.set_read_timeout(Duration::from_secs(10));
    let buffered = client.reader.buffer().len();
    client.reader.consume(buffered);
    let mut buf = [0u8; 4096];
    let n = client
        .reader
        .get_mut()
        .read(&mut buf)
        .expect("data again after resume");
    assert!(n > 0, "the connection closed instead of resuming");
    assert!(server.is_running(), "the server survived SIGSTOP + SIGCONT");
    assert_eq!(rtsp_frames(&ffmpeg, server.url(), "tcp", 5).len(), 5);
}

#[test]
fn rtsp_server_exits_cleanly_on_sigterm_and_reports_bad_files() {
    let Some(file) = derived_media("vtest_2s_h264.mp4") else {
        return;
    };
    let Some(mut server) = Server::rtsp(&file) else {
        return;
    };
    let pid = server.pid().unwrap();
    let status = server.terminate().expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
    assert!(!process_exists(pid));
    assert!(server.terminate().is_none(), "nothing left to terminate");

    // Not an MP4: the start fails loudly, naming the file.
    let bad = std::env::temp_dir().join(format!("vp-testkit-not-mp4-{}.mp4", std::process::id()));
    std::fs::write(&bad, b"not a video").unwrap();
    let b = bad.clone();
    let err = std::panic::catch_unwind(move || Server::rtsp(&b)).expect_err("start must fail");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("Server::start: the rtsp server"), "{msg}");
    assert!(msg.contains("cannot demux an H.264 video track"), "{msg}");
    let _ = std::fs::remove_file(bad);
    // The failed start kept its log for inspection; this test does not need it.
    if let Some(log) = msg
        .split("; log ")
        .nth(1)
        .and_then(|r| r.split(":\n").next())
    {
        assert!(Path::new(log).exists(), "{log}");
        let _ = std::fs::remove_file(log);
    }
}

#[test]
fn dropping_a_server_kills_it_even_while_panicking() {
    let Some(file) = derived_media("vtest_2s_h264.mp4") else {
        return;
    };
    let Some(dir) = derived_media("vtest_jpeg") else {
        return;
    };
    let mut pids = Vec::new();
    let mut logs = Vec::new();
    {
        let Some(rtsp) = Server::rtsp(&file) else {
            return;
        };
        let Some(mjpeg) = Server::mjpeg(&dir, 10, None) else {
            return;
        };
        rtsp.pause(); // a stopped process must die too
        pids.extend([rtsp.pid().unwrap(), mjpeg.pid().unwrap()]);
        logs.push(rtsp.log_path().to_path_buf());
    }
    assert!(pids.iter().all(|&p| !process_exists(p)), "{pids:?}");
    assert!(!logs[0].exists(), "a clean drop removes the log");

    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let server = Server::rtsp(&file).expect("started above");
        tx.send((server.pid().unwrap(), server.log_path().to_path_buf()))
            .unwrap();
        panic!("test failure with a live server");
    }));
    assert!(result.is_err());
    let (pid, log) = rx.recv().unwrap();
    assert!(
        !process_exists(pid),
        "server {pid} outlived the panicking test"
    );
    assert!(log.exists(), "the log is kept for a failed test");
    let _ = std::fs::remove_file(log);
}

#[test]
fn python_servers_exit_when_their_parent_dies() {
    let Some(file) = derived_media("vtest_2s_h264.mp4") else {
        return;
    };
    let Some(dir) = derived_media("vtest_jpeg") else {
        return;
    };
    let root = visualpath_testkit::repo_root();
    let mut pids = Vec::new();
    for (python, script, args) in [
        (
            "/usr/bin/python3",
            "tools/rtsp_server.py",
            format!("--file '{}'", file.display()),
        ),
        (
            "/usr/bin/python3",
            "tools/mjpeg_server.py",
            format!("--dir '{}' --loop", dir.display()),
        ),
    ] {
        if !Path::new(python).exists() {
            skip("parent-death test", "no /usr/bin/python3");
            return;
        }
        // The shell starts the server in the background and exits at once.
        let cmd = format!(
            "{python} '{}' --port {} {args} --parent-pid $$ >/dev/null 2>&1 & echo $!",
            root.join(script).display(),
            free_port()
        );
        let out = Command::new("sh").args(["-c", &cmd]).output().unwrap();
        pids.push(text(&out.stdout).trim().parse::<u32>().expect("a pid"));
    }
    // Each checks twice a second after start-up; 20 s is a generous safety limit.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pids.iter().any(|&p| process_exists(p)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    for p in &pids {
        if process_exists(*p) {
            let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
            panic!("server {p} outlived its parent");
        }
    }
}

// ---------------------------------------------------------------------------------------
// MJPEG
// ---------------------------------------------------------------------------------------

/// Opens the MJPEG stream and checks the response head.
fn mjpeg_open(url: &str) -> BufReader<TcpStream> {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = TcpStream::connect(authority).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.0 200"), "{status:?}");
    let mut content_type = None;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-type")
        {
            content_type = Some(v.trim().to_string());
        }
    }
    assert_eq!(
        content_type.as_deref(),
        Some("multipart/x-mixed-replace; boundary=frame")
    );
    r
}

/// The next JPEG part of a `boundary=frame` multipart stream.
fn mjpeg_part(r: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    assert_eq!(line.trim_end(), "--frame");
    let mut len = None;
    let mut kind = None;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("a part header");
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse::<usize>().ok(),
            "content-type" => kind = Some(v.trim().to_string()),
            _ => {}
        }
    }
    assert_eq!(kind.as_deref(), Some("image/jpeg"));
    let mut jpeg = vec![0; len.expect("Content-Length")];
    r.read_exact(&mut jpeg)?;
    Ok(jpeg)
}

#[test]
fn mjpeg_serves_the_folder_frames_in_order_to_several_clients() {
    let Some(dir) = derived_media("vtest_jpeg") else {
        return;
    };
    let Some(server) = Server::mjpeg(&dir, 50, None) else {
        return;
    };
    eprintln!("MJPEG server ready after {:?}", server.ready_after());
    assert_eq!(
        server.url(),
        format!("http://127.0.0.1:{}/stream.mjpg", server.port())
    );
    let files: Vec<Vec<u8>> = (1..=15)
        .map(|i| std::fs::read(dir.join(format!("frame_{i:05}.jpg"))).unwrap())
        .collect();
    let mut a = mjpeg_open(server.url());
    let mut b = mjpeg_open(server.url());
    for (i, want) in files.iter().enumerate() {
        for r in [&mut a, &mut b] {
            let got = mjpeg_part(r).unwrap();
            assert_eq!(&got[..2], &[0xFF, 0xD8], "SOI");
            assert_eq!(&got[got.len() - 2..], &[0xFF, 0xD9], "EOI");
            assert!(got == *want, "part {i} is not frame_{:05}.jpg", i + 1);
        }
    }
    // Pause freezes it, resume continues the same connection with the next frame.
    server.pause();
    a.get_ref()
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut drained = 0;
    let e = loop {
        match mjpeg_part(&mut a) {
            Ok(_) => drained += 1,
            Err(e) => break e,
        }
        assert!(drained < 1000);
    };
    assert!(is_timeout(&e), "{e}");
    server.resume();
    a.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The partially read part (if the timeout hit mid-part) makes this unreliable to
    // parse; a fresh connection starts at the first frame again.
    let mut c = mjpeg_open(server.url());
    assert!(mjpeg_part(&mut c).unwrap() == files[0]);
}

#[test]
fn mjpeg_freeze_after_keeps_the_connection_open_but_silent() {
    let Some(dir) = derived_media("vtest_jpeg") else {
        return;
    };
    let Some(mut server) = Server::mjpeg(&dir, 50, Some(5)) else {
        return;
    };
    for _ in 0..2 {
        let mut r = mjpeg_open(server.url());
        for _ in 0..5 {
            mjpeg_part(&mut r).unwrap();
        }
        r.get_ref()
            .set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        for _ in 0..2 {
            let e = mjpeg_part(&mut r).expect_err("frozen after 5 frames");
            assert!(is_timeout(&e), "connection closed instead of frozen: {e}");
        }
    }
    let status = server.terminate().expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
}

// ---------------------------------------------------------------------------------------
// Brokers
// ---------------------------------------------------------------------------------------

/// MQTT 3.1.1 CONNECT: clean session, keep-alive 60 s, empty client id.
const MQTT_CONNECT: [u8; 14] = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 0];
/// CONNACK, session not present, accepted.
const MQTT_CONNACK: [u8; 4] = [0x20, 2, 0, 0];

fn mqtt_connect(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&MQTT_CONNECT).unwrap();
    s
}

fn read4(s: &mut TcpStream) -> io::Result<[u8; 4]> {
    let mut b = [0; 4];
    s.read_exact(&mut b).map(|()| b)
}

#[test]
fn mosquitto_answers_connect_and_survives_kill_pause_restart() {
    let Some(mut broker) = Server::mosquitto() else {
        return;
    };
    eprintln!("mosquitto ready after {:?}", broker.ready_after());
    let port = broker.port();
    assert_eq!(broker.url(), format!("mqtt://127.0.0.1:{port}"));
    assert_ne!(port, 1883, "its own instance, not the system broker");
    assert_eq!(read4(&mut mqtt_connect(port)).unwrap(), MQTT_CONNACK);

    broker.pause();
    let mut waiting = mqtt_connect(port); // the kernel still accepts the connection
    waiting
        .set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let e = read4(&mut waiting).expect_err("no CONNACK while paused");
    assert!(is_timeout(&e), "{e}");
    broker.resume();
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        read4(&mut waiting).unwrap(),
        MQTT_CONNACK,
        "answered after resume"
    );

    broker.kill();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    broker.restart();
    eprintln!("mosquitto restart ready after {:?}", broker.ready_after());
    assert_eq!(broker.port(), port);
    assert_eq!(read4(&mut mqtt_connect(port)).unwrap(), MQTT_CONNACK);
    let status = broker.terminate().expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
}

fn redis_command(port: u16, cmd: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(cmd).unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    line
}

#[test]
fn redis_answers_ping_and_survives_kill_restart() {
    let Some(mut redis) = Server::redis() else {
        return;
    };
    eprintln!("redis ready after {:?}", redis.ready_after());
    let port = redis.port();
    assert_ne!(port, 6379, "its own instance, not the system server");
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));
    assert_eq!(redis_command(port, b"PING\r\n"), "+PONG\r\n");
    assert_eq!(redis_command(port, b"SET vp:k 1\r\n"), "+OK\r\n");
    redis.kill();
    assert!(!redis.is_running());
    redis.restart();
    assert_eq!(redis_command(port, b"PING\r\n"), "+PONG\r\n");
    // Nothing persisted across the restart.
    assert_eq!(redis_command(port, b"GET vp:k\r\n"), "$-1\r\n");
    let status = redis.terminate().expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
}
