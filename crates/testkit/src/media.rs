//! Test media derived from the assets with the ffmpeg CLI, generated once and cached.
//!
//! Design decisions:
//!
//! * Cache: `<repo>/target/visualpath-test-media/<stem>-<hash>/<name>`, where `<hash>`
//!   (FNV-1a, 16 hex digits) covers the recipe (name, ffmpeg arguments) and the source
//!   asset's size, so changing a recipe or the footage regenerates instead of serving a
//!   stale file. `cargo clean` removes the cache.
//! * Atomic: ffmpeg writes to a temporary name in the same folder, which is renamed into
//!   place when complete; a path returned by [`derived_media`] is always complete.
//! * Concurrency: generations are serialised within a process (a mutex) and across
//!   processes by a lock file created with `O_EXCL` beside the output; a process that finds
//!   the lock waits for the output to appear. A lock older than 10 minutes is taken to be
//!   left by a killed process and broken. Should two processes still generate the same
//!   output, both renames are complete files with the same content (for a folder, the
//!   loser discards its copy).
//! * Skips: `None` after a `SKIP:` line when ffmpeg (with libx264 and mjpeg encoders) or the
//!   source asset is missing. ffmpeg failing on a present input panics (a real failure).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// The names [`derived_media`] knows, each derived from the asset `media/vtest.avi`
/// (768x576, 10 fps, 795 frames = 79.5 s):
///
/// * `vtest_h264.mp4`: H.264 Main profile, yuv420p, 768x576, 10 fps, a key frame every 10
///   frames (1 s, no scene-cut key frames), no B-frames, `moov` first (faststart);
/// * `vtest_640x480_h264.mp4`: the same, scaled to 640x480;
/// * `vtest_2s_h264.mp4`: the first 20 frames (2 s) of `vtest_h264.mp4`'s encoding, for
///   tests that must see a looping server go round several times;
/// * `vtest_jpeg`: a folder of 795 JPEG files `frame_00001.jpg`, ... at 640x480 (quality
///   `-q:v 3`), for the MJPEG server.
pub const DERIVED_MEDIA: &[&str] = &[
    "vtest_h264.mp4",
    "vtest_640x480_h264.mp4",
    "vtest_2s_h264.mp4",
    "vtest_jpeg",
];

/// H.264 settings shared by the MP4 recipes: 1 s GOP at 10 fps, no B-frames.
const H264: &[&str] = &[
    "-an",
    "-c:v",
    "libx264",
    "-profile:v",
    "main",
    "-pix_fmt",
    "yuv420p",
    "-preset",
    "veryfast",
    "-crf",
    "23",
    "-g",
    "10",
    "-keyint_min",
    "10",
    "-sc_threshold",
    "0",
    "-bf",
    "0",
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
];

struct Recipe {
    source: &'static str,
    /// Arguments between `-i SOURCE` and the output.
    args: Vec<&'static str>,
    /// The output is a folder of `frame_%05d.jpg` rather than a file.
    folder: bool,
}

fn recipe(name: &str) -> Option<Recipe> {
    let vtest = "media/vtest.avi";
    let h264 = |pre: &[&'static str]| pre.iter().chain(H264).copied().collect::<Vec<_>>();
    Some(match name {
        "vtest_h264.mp4" => Recipe {
            source: vtest,
            args: h264(&[]),
            folder: false,
        },
        "vtest_640x480_h264.mp4" => Recipe {
            source: vtest,
            args: h264(&["-vf", "scale=640:480,setsar=1"]),
            folder: false,
        },
        "vtest_2s_h264.mp4" => Recipe {
            source: vtest,
            args: h264(&["-frames:v", "20"]),
            folder: false,
        },
        "vtest_jpeg" => Recipe {
            source: vtest,
            args: vec![
                "-an",
                "-vf",
                "scale=640:480,setsar=1",
                "-c:v",
                "mjpeg",
                "-q:v",
                "3",
                "-f",
                "image2",
            ],
            folder: true,
        },
        _ => return None,
    })
}

/// The derived medium `name` (one of [`DERIVED_MEDIA`]): its path (a file, or a folder for
/// `vtest_jpeg`), generating it with ffmpeg on first use. `None` after printing a `SKIP:`
/// line when ffmpeg or the source asset is missing.
///
/// # Panics
/// If `name` is not one of [`DERIVED_MEDIA`] (a typo in a test must fail, not skip), or
/// ffmpeg fails on a present source (the panic message carries ffmpeg's error output).
pub fn derived_media(name: &str) -> Option<PathBuf> {
    let Some(recipe) = recipe(name) else {
        panic!(
            "derived_media: unknown name `{name}`; expected one of {}",
            DERIVED_MEDIA.join(", ")
        )
    };
    let ffmpeg = match ffmpeg() {
        Ok(p) => p.clone(),
        Err(why) => {
            crate::skip(&format!("derived test media `{name}`"), why);
            return None;
        }
    };
    let source = crate::asset(recipe.source)?;
    let source_len = fs::metadata(&source).map(|m| m.len()).unwrap_or(0);
    let mut key = format!("{name}\n{source_len}\n");
    for a in &recipe.args {
        key.push_str(a);
        key.push('\n');
    }
    let stem = name.split('.').next().unwrap_or(name);
    let folder = crate::target_dir()
        .join("visualpath-test-media")
        .join(format!("{stem}-{:016x}", fnv1a(key.as_bytes())));
    let out = folder.join(name);
    if out.exists() {
        return Some(out);
    }

    static IN_PROCESS: Mutex<()> = Mutex::new(());
    let _serial = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    if out.exists() {
        return Some(out);
    }
    fs::create_dir_all(&folder)
        .unwrap_or_else(|e| panic!("derived_media: cannot create {} ({e})", folder.display()));
    let lock = folder.join(format!("{name}.lock"));
    let Some(_lock) = LockFile::acquire(&lock, &out) else {
        // Another process finished it while we waited.
        return Some(out);
    };
    if out.exists() {
        return Some(out);
    }
    let tmp = folder.join(format!(".tmp-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let _ = fs::remove_file(&tmp);
    let target = if recipe.folder {
        fs::create_dir_all(&tmp)
            .unwrap_or_else(|e| panic!("derived_media: cannot create {} ({e})", tmp.display()));
        tmp.join("frame_%05d.jpg")
    } else {
        tmp.clone()
    };
    let started = Instant::now();
    let result = Command::new(&ffmpeg)
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&source)
        .args(&recipe.args)
        .arg(&target)
        .output();
    let failed = match result {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "{}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = failed {
        let _ = fs::remove_dir_all(&tmp);
        let _ = fs::remove_file(&tmp);
        panic!(
            "derived_media: ffmpeg could not make `{name}` from {} ({why})",
            source.display()
        );
    }
    match fs::rename(&tmp, &out) {
        Ok(()) => {}
        // A folder that another process renamed into place first.
        Err(_) if recipe.folder && out.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
        }
        Err(e) => panic!(
            "derived_media: cannot move {} to {} ({e})",
            tmp.display(),
            out.display()
        ),
    }
    eprintln!(
        "derived_media: generated {} in {:.1} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Some(out)
}

/// ffmpeg's path if it is installed with the encoders the recipes need, else why not.
fn ffmpeg() -> &'static Result<PathBuf, String> {
    static FFMPEG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FFMPEG.get_or_init(|| {
        let path = crate::find_program("ffmpeg")
            .ok_or("no `ffmpeg` on PATH; install it, e.g. `apt-get install ffmpeg`")?;
        let out = Command::new(&path)
            .args(["-hide_banner", "-encoders"])
            .output()
            .map_err(|e| format!("cannot run {} ({e})", path.display()))?;
        let list = String::from_utf8_lossy(&out.stdout);
        for enc in ["libx264", "mjpeg"] {
            if !list.split_whitespace().any(|w| w == enc) {
                return Err(format!(
                    "{} has no `{enc}` encoder; install a full build, e.g. Debian's ffmpeg",
                    path.display()
                ));
            }
        }
        Ok(path)
    })
}

/// An `O_EXCL` lock file, removed on drop.
struct LockFile(PathBuf);

impl LockFile {
    /// Takes the lock, or returns `None` once `out` exists (made by the lock's holder).
    fn acquire(lock: &Path, out: &Path) -> Option<LockFile> {
        const STALE: Duration = Duration::from_secs(600);
        loop {
            match fs::File::create_new(lock) {
                Ok(_) => return Some(LockFile(lock.to_path_buf())),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if out.exists() {
                        return None;
                    }
                    let age = fs::metadata(lock)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if age.is_some_and(|a| a > STALE) {
                        eprintln!("derived_media: breaking stale lock {}", lock.display());
                        let _ = fs::remove_file(lock);
                        continue;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("derived_media: cannot create {} ({e})", lock.display()),
            }
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// 64-bit FNV-1a: a hash that stays the same across Rust versions (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_has_a_recipe_and_distinct_hash_inputs() {
        for name in DERIVED_MEDIA {
            assert!(recipe(name).is_some(), "{name}");
        }
        assert!(recipe("vtest.mp4").is_none());
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        // Published FNV-1a test vector.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    #[should_panic(expected = "unknown name `nope.mp4`; expected one of vtest_h264.mp4")]
    fn an_unknown_name_fails_loudly() {
        derived_media("nope.mp4");
    }
}
