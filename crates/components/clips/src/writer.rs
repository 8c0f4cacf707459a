//! Writing clips: remuxing ring packets into MP4 (no re-encoding), the JPEG snapshot,
//! file naming and retention.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::{Rational, codec, frame};
use ffmpeg_next as ffmpeg;

use crate::ring::Packet;

/// A camera stream's codec facts, shared by its ring and its clips.
pub struct Header {
    /// Codec parameters (owned copy; `Mutex` because FFmpeg's parameters are not `Sync`).
    pub parameters: Mutex<codec::Parameters>,
    /// Time base of packet timestamps.
    pub time_base: Rational,
    /// Codec name.
    pub codec: &'static str,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Nominal frame duration, ns.
    pub frame_ns: i64,
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Header")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl Header {
    fn parameters(&self) -> codec::Parameters {
        self.parameters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What [`remux`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// The file (`.mp4`, or `.mkv` when MP4 does not accept the stream's codec tag).
    pub path: PathBuf,
    /// Packets (frames) written.
    pub frames: u64,
    /// File size.
    pub bytes: u64,
}

/// Writes `packets` (decoding order, starting at a keyframe) to `{stem}.mp4` (or
/// `{stem}.mkv` if the MP4 muxer refuses the stream, e.g. an AVI codec tag), timestamps
/// shifted so decoding starts at 0. Written to a temporary name and renamed.
pub fn remux(
    stem: &Path,
    header: &Header,
    packets: &[Packet],
    faststart: bool,
) -> Result<Written, String> {
    match remux_as(stem, "mp4", "mp4", header, packets, faststart) {
        Ok(w) => Ok(w),
        Err((true, e)) => {
            tracing::debug!(error = %e, "MP4 refused the stream; writing Matroska");
            remux_as(stem, "matroska", "mkv", header, packets, false).map_err(|(_, e)| e)
        }
        Err((false, e)) => Err(e),
    }
}

/// `Err((header_refused, message))`.
fn remux_as(
    stem: &Path,
    format: &str,
    ext: &str,
    header: &Header,
    packets: &[Packet],
    faststart: bool,
) -> Result<Written, (bool, String)> {
    let path = stem.with_extension(ext);
    let tmp = stem.with_extension(format!("{ext}.part"));
    let fail = |what: &str, e: ffmpeg::Error| (false, format!("{what} `{}`: {e}", path.display()));
    let mut octx = ffmpeg::format::output_as(&tmp, format).map_err(|e| fail("cannot create", e))?;
    {
        let mut ost = octx
            .add_stream(ffmpeg::encoder::find(codec::Id::None))
            .map_err(|e| fail("cannot add a stream to", e))?;
        ost.set_parameters(header.parameters());
        ost.set_time_base(header.time_base);
    }
    let mut opts = ffmpeg::Dictionary::new();
    if faststart {
        opts.set("movflags", "+faststart");
    }
    let header_result = octx.write_header_with(opts).map(|_| ());
    if let Err(e) = header_result {
        drop(octx);
        let _ = std::fs::remove_file(&tmp);
        return Err((true, format!("cannot write `{}`: {e}", path.display())));
    }
    let out_tb = octx
        .stream(0)
        .map(|s| s.time_base())
        .unwrap_or(header.time_base);
    let base = packets
        .iter()
        .filter_map(|p| p.dts.or(p.pts))
        .min()
        .unwrap_or(0);
    let frame_tb = ns_to_ts(header.frame_ns, header.time_base).max(1);
    let mut frames = 0u64;
    for (i, p) in packets.iter().enumerate() {
        let mut pkt = ffmpeg::Packet::copy(&p.data);
        let (pts, dts) = match (p.pts, p.dts) {
            (None, None) => {
                let t = i as i64 * frame_tb;
                (Some(t), Some(t))
            }
            (pts, dts) => (pts.map(|t| t - base), dts.map(|t| t - base)),
        };
        pkt.set_pts(pts);
        pkt.set_dts(dts);
        pkt.set_duration(if p.duration > 0 { p.duration } else { frame_tb });
        if p.key {
            pkt.set_flags(codec::packet::Flags::KEY);
        }
        pkt.set_stream(0);
        pkt.rescale_ts(header.time_base, out_tb);
        match pkt.write_interleaved(&mut octx) {
            Ok(()) => frames += 1,
            Err(e) => {
                tracing::debug!(error = %e, "packet refused by the muxer; skipped");
            }
        }
    }
    octx.write_trailer().map_err(|e| fail("cannot finish", e))?;
    drop(octx);
    std::fs::rename(&tmp, &path)
        .map_err(|e| (false, format!("cannot rename to `{}`: {e}", path.display())))?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(Written {
        path,
        frames,
        bytes,
    })
}

fn ns_to_ts(ns: i64, tb: Rational) -> i64 {
    let (num, den) = (i128::from(tb.numerator()), i128::from(tb.denominator()));
    if num == 0 {
        return 0;
    }
    (i128::from(ns) * den / (num * 1_000_000_000)) as i64
}

/// Decodes `packets` from their first keyframe up to the first picture whose capture
/// time (`pts_ns + offset_ns`) is at or after `at_ns` (else the last picture) and writes
/// it as a JPEG to `path`.
pub fn snapshot(
    path: &Path,
    header: &Header,
    packets: &[Packet],
    offset_ns: i64,
    at_ns: i64,
) -> Result<(), String> {
    let err = |e: ffmpeg::Error| format!("snapshot `{}`: {e}", path.display());
    let ctx = codec::context::Context::from_parameters(header.parameters()).map_err(err)?;
    let mut decoder = ctx.decoder().video().map_err(err)?;
    let by_pts: HashMap<i64, i64> = packets
        .iter()
        .filter_map(|p| Some((p.pts?, p.pts_ns?)))
        .collect();
    let mut decoded = frame::Video::empty();
    let mut best: Option<frame::Video> = None;
    let mut done = false;
    let mut take =
        |decoder: &mut ffmpeg::decoder::Video, best: &mut Option<frame::Video>| -> bool {
            while decoder.receive_frame(&mut decoded).is_ok() {
                let t = decoded
                    .pts()
                    .and_then(|p| by_pts.get(&p).copied())
                    .map(|ns| ns + offset_ns);
                *best = Some(decoded.clone());
                if t.is_some_and(|t| t >= at_ns) {
                    return true;
                }
            }
            false
        };
    for p in packets {
        let mut pkt = ffmpeg::Packet::copy(&p.data);
        pkt.set_pts(p.pts);
        pkt.set_dts(p.dts);
        if p.key {
            pkt.set_flags(codec::packet::Flags::KEY);
        }
        if decoder.send_packet(&pkt).is_err() {
            continue;
        }
        if take(&mut decoder, &mut best) {
            done = true;
            break;
        }
    }
    if !done {
        let _ = decoder.send_eof();
        take(&mut decoder, &mut best);
    }
    let Some(picture) = best else {
        return Err(format!(
            "snapshot `{}`: no picture could be decoded",
            path.display()
        ));
    };
    let (w, h) = (picture.width(), picture.height());
    let mut scaler = scaling::Context::get(
        picture.format(),
        w,
        h,
        Pixel::RGB24,
        w,
        h,
        scaling::Flags::BILINEAR,
    )
    .map_err(err)?;
    let mut rgb = frame::Video::empty();
    scaler.run(&picture, &mut rgb).map_err(err)?;
    let row = w as usize * 3;
    let stride = rgb.stride(0);
    let mut pixels = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        pixels.extend_from_slice(&rgb.data(0)[y * stride..y * stride + row]);
    }
    let tmp = path.with_extension("jpg.part");
    let file =
        std::fs::File::create(&tmp).map_err(|e| format!("snapshot `{}`: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode(&pixels, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| format!("snapshot `{}`: {e}", path.display()))?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| format!("snapshot `{}`: {e}", path.display()))
}

/// `YYYYmmdd-HHMMSS` (UTC) of a time in ns since the Unix epoch.
pub fn timestamp_name(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// One clip's files (same stem: `.mp4`/`.mkv`, `.jpg`, `.json`).
#[derive(Debug)]
struct Group {
    files: Vec<PathBuf>,
    bytes: u64,
    modified: SystemTime,
}

/// Deletes whole clips (all files of a stem) under `dir/*/`, oldest first, while the
/// total exceeds `max_bytes` or a clip is older than `max_age`; the newest clip is never
/// deleted for size. Returns the clips deleted.
pub fn apply_retention(
    dir: &Path,
    max_bytes: Option<u64>,
    max_age: Option<Duration>,
    now: SystemTime,
) -> usize {
    if max_bytes.is_none() && max_age.is_none() {
        return 0;
    }
    let mut groups: HashMap<PathBuf, Group> = HashMap::new();
    let Ok(cameras) = std::fs::read_dir(dir) else {
        return 0;
    };
    for cam in cameras.flatten() {
        let Ok(files) = std::fs::read_dir(cam.path()) else {
            continue;
        };
        for f in files.flatten() {
            let path = f.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "mp4" | "mkv" | "jpg" | "json") {
                continue;
            }
            let Ok(meta) = f.metadata() else { continue };
            let g = groups.entry(path.with_extension("")).or_insert(Group {
                files: Vec::new(),
                bytes: 0,
                modified: SystemTime::UNIX_EPOCH,
            });
            g.bytes += meta.len();
            g.modified = g
                .modified
                .max(meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
            g.files.push(path);
        }
    }
    let mut groups: Vec<(PathBuf, Group)> = groups.into_iter().collect();
    groups.sort_by(|a, b| a.1.modified.cmp(&b.1.modified).then(a.0.cmp(&b.0)));
    let mut total: u64 = groups.iter().map(|g| g.1.bytes).sum();
    let n = groups.len();
    let mut deleted = 0;
    for (i, (_, g)) in groups.into_iter().enumerate() {
        let too_old =
            max_age.is_some_and(|a| now.duration_since(g.modified).unwrap_or_default() > a);
        let too_big = max_bytes.is_some_and(|m| total > m) && i + 1 < n;
        if !too_old && !too_big {
            continue;
        }
        for f in &g.files {
            let _ = std::fs::remove_file(f);
        }
        total -= g.bytes;
        deleted += 1;
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_times_in_utc() {
        assert_eq!(timestamp_name(0), "19700101-000000");
        // 2024-02-29T23:59:58Z
        assert_eq!(
            timestamp_name(1_709_251_198 * 1_000_000_000),
            "20240229-235958"
        );
        assert_eq!(
            timestamp_name(1_735_689_600 * 1_000_000_000 + 3_661_500_000_000),
            "20250101-010101"
        );
    }
}
