//! Test support shared by visualpath's crates (a dev-dependency only).
//!
//! A test that needs something this machine lacks must say so and skip, never pass
//! silently: helpers here return `None` after printing `SKIP: <what> (<why, how to fix>)`
//! to stderr, and the caller returns. Something that IS available but misbehaves (a server
//! that does not start, ffmpeg failing on a present input) is a test failure: those
//! helpers panic with the reason and the tail of the relevant log.
//!
//! What is here:
//!
//! * assets: [`repo_root`], [`asset_dirs`], [`asset`], [`skip`];
//! * media derived from the assets with the ffmpeg CLI and cached under
//!   `<repo>/target/visualpath-test-media/`: [`derived_media`] (see [`DERIVED_MEDIA`]);
//! * real servers as child processes on free ports: [`Server`] (a looping RTSP camera, an
//!   MJPEG-over-HTTP camera, mosquitto, redis) with kill / restart / pause / resume, and
//!   [`free_port`];
//! * leak checks: [`open_fds`], [`rss_kb`];
//! * [`find_program`] to look for a CLI tool.
//!
//! Only `std` is used: no async runtime, no extra threads (child output goes to log files
//! under `<repo>/target/visualpath-test-logs/`, so no pipe can fill up and block a child).
//! Linux only (`/proc`, signals through the `kill` command).

pub mod bench;
mod media;
mod server;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use media::{DERIVED_MEDIA, derived_media};
pub use server::{READY_TIMEOUT, Server, ServerKind};

/// The repository root.
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../..")
        .canonicalize()
        .unwrap_or_else(|_| here.join("../.."))
}

/// Folders searched for test assets, in order: `$VISUALPATH_ASSETS`, the repository's
/// `assets/` (filled by `scripts/fetch-assets.sh`), and the shared cache beside the
/// repository.
pub fn asset_dirs() -> Vec<PathBuf> {
    let root = repo_root();
    std::env::var_os("VISUALPATH_ASSETS")
        .map(PathBuf::from)
        .into_iter()
        .chain([root.join("assets"), root.join("../shared/assets")])
        .collect()
}

/// The asset `rel` (e.g. `media/vtest.avi`), or `None` after printing why the calling test
/// skips.
pub fn asset(rel: &str) -> Option<PathBuf> {
    let found = asset_dirs()
        .into_iter()
        .map(|d| d.join(rel))
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!("SKIP: asset `{rel}` not found; run scripts/fetch-assets.sh to fetch it");
    }
    found
}

/// Prints the standard skip line: `SKIP: <what> (<why>)`.
pub fn skip(what: &str, why: &str) {
    eprintln!("SKIP: {what} ({why})");
}

/// The repository's `target/` folder (where derived media and server logs go).
pub(crate) fn target_dir() -> PathBuf {
    repo_root().join("target")
}

/// Ports already handed out by [`free_port`] in this process.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A TCP port on 127.0.0.1 that was free a moment ago: binds port 0, reads the port the
/// kernel chose and closes the socket.
///
/// Never returns the same port twice in one process, so tests running in parallel threads
/// do not collide; another process may still take the port before the caller binds it
/// (the [`Server`] constructors retry on a new port when that happens).
///
/// # Panics
/// If 127.0.0.1 cannot be bound at all (no loopback interface).
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("free_port: cannot bind 127.0.0.1:0 ({e})"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("free_port: no local address ({e})"))
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
    panic!("free_port: the kernel kept returning ports this process already used")
}

/// How many file descriptors this process has open (entries of `/proc/self/fd`, not
/// counting the one used to list them); 0 where `/proc` is unavailable. For leak checks:
/// compare before and after, in a test binary where nothing else runs at the same time.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1))
        .unwrap_or(0)
}

/// This process's resident set size in KiB (`VmRSS` of `/proc/self/status`); 0 where
/// `/proc` is unavailable.
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The Python of the tools virtualenv (`scripts/python-tools.sh`: onnxruntime, OpenCV,
/// python-osc), or `None` after a `SKIP:` line naming `what` when it is missing.
pub fn tools_python(what: &str) -> Option<String> {
    let script = repo_root().join("scripts/python-tools.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("--check")
        .output()
        .ok();
    match out {
        Some(o) if o.status.success() => {
            Some(String::from_utf8_lossy(&o.stdout).trim().to_string())
        }
        _ => {
            skip(
                what,
                "no tools virtualenv (onnxruntime 1.31.1, OpenCV, python-osc); run scripts/python-tools.sh",
            );
            None
        }
    }
}

/// The executable `name` found on `$PATH` or in `/usr/sbin`, `/sbin`, `/usr/local/sbin`
/// (daemons such as mosquitto live there and a normal user's `$PATH` may lack them), or
/// `None`. A `name` containing `/` is checked as a path.
pub fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exe = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_exe(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_exe(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_program_finds_installed_tools_only() {
        let sh = find_program("sh").expect("every Linux has sh");
        assert!(sh.is_absolute() && sh.ends_with("sh"));
        assert_eq!(find_program("/bin/sh"), Some(PathBuf::from("/bin/sh")));
        assert_eq!(find_program("visualpath-no-such-program"), None);
        let plain = std::env::temp_dir().join(format!("vp-testkit-plain-{}", std::process::id()));
        std::fs::write(&plain, "not a program").unwrap();
        let found = find_program(plain.to_str().unwrap());
        let _ = std::fs::remove_file(&plain);
        assert_eq!(found, None, "not executable");
    }

    #[test]
    fn target_dir_is_inside_the_repository() {
        assert!(target_dir().starts_with(repo_root()));
        assert!(repo_root().join("Cargo.toml").is_file());
    }
}
