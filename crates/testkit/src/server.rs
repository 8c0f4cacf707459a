//! Real servers as child processes for tests: [`Server`].
//!
//! Design decisions and exact semantics:
//!
//! * Each server listens on 127.0.0.1 on a port from [`crate::free_port`]. If the port was
//!   taken by someone else between choosing and binding (the child exits saying the
//!   address is in use), the constructor retries on a new port (3 attempts).
//! * Readiness: the Python servers (`tools/rtsp_server.py`, `tools/mjpeg_server.py`) print
//!   `READY <url>` once they listen and the URL is taken from that line; mosquitto is ready
//!   when its port accepts a TCP connection AND its log says `running` (an `information`
//!   line: the generated configuration keeps mosquitto's default log types); redis when it
//!   answers `PING` with `+PONG` AND its log says `Ready to accept connections` (the log
//!   check makes sure the answer came from OUR child, not from a process that stole the
//!   port). A start or restart that is not ready within [`READY_TIMEOUT`] panics with the
//!   tail of the child's log.
//! * Output: the child's stdout and stderr both go (appended) to
//!   `<repo>/target/visualpath-test-logs/<kind>-<port>-<test pid>.log`; no pipe can fill
//!   and block the child, and no reader thread is needed. The log survives restarts. It is
//!   deleted when the `Server` is dropped normally and kept when dropped during a panic
//!   (a failing test), so it can be read afterwards.
//! * No orphans: `Drop` SIGKILLs and reaps the child, also while unwinding from a panic.
//!   The Python servers are started with `--parent-pid <test pid>`, so they also go away
//!   (within half a second) if the test process itself is killed; mosquitto and redis have
//!   no such option.
//! * Signals are sent with the `kill` command (std only, no `unsafe`). [`Server::pause`]
//!   sends SIGSTOP: the process keeps its sockets, the kernel still accepts TCP connections
//!   into the listen backlog, but nothing is read or sent (a frozen camera or broker);
//!   [`Server::resume`] sends SIGCONT and everything continues where it stopped.
//! * Missing programs or Python modules are skips: the constructors return `None` after a
//!   `SKIP:` line. Prerequisites are probed once per process.
//! * ComfyUI ([`Server::comfyui`]) is the exception to the 10 s rule: it takes 7-10 s to
//!   start on an idle 2-core machine, so its (re)starts may take `COMFYUI_READY_TIMEOUT` (90 s,
//!   see [`Server::ready_timeout`]). Each instance gets a fresh base directory of its own
//!   (`--base-directory`, [`Server::data_dir`]) next to its log, kept across restarts and
//!   removed on drop like the log; ComfyUI wipes its temp dir at startup, so instances must
//!   never share one. ComfyUI has no `--parent-pid` option: a small `sh` watchdog started
//!   next to it SIGKILLs it when the test process goes away, so a server held in a `static`
//!   (never dropped) does not outlive the test binary; leftovers of dead test processes
//!   (logs, base directories) are swept when the next ComfyUI server starts.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long a (re)start may take before it counts as failed.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a (re)start of ComfyUI may take before it counts as failed: it imports torch
/// and scans its nodes (7-10 s idle, much more on a loaded machine).
pub const COMFYUI_READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Debian's Python, the one with GStreamer's introspection bindings (`gi`).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Which program a [`Server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// `tools/rtsp_server.py`: an H.264 MP4 looped forever over RTSP.
    Rtsp,
    /// `tools/mjpeg_server.py`: a folder of JPEG files as an MJPEG-over-HTTP stream.
    Mjpeg,
    /// The mosquitto MQTT broker.
    Mosquitto,
    /// The redis server.
    Redis,
    /// A real ComfyUI (0.3.75, CPU only) from `scripts/comfyui.sh`.
    ComfyUi,
}

impl ServerKind {
    /// Lower-case name used in log file names and messages.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Rtsp => "rtsp",
            ServerKind::Mjpeg => "mjpeg",
            ServerKind::Mosquitto => "mosquitto",
            ServerKind::Redis => "redis",
            ServerKind::ComfyUi => "comfyui",
        }
    }
}

#[derive(Debug, Clone)]
enum Spec {
    Rtsp {
        file: PathBuf,
    },
    Mjpeg {
        python: PathBuf,
        dir: PathBuf,
        fps: f64,
        freeze_after: Option<u32>,
    },
    Mosquitto {
        program: PathBuf,
        /// Keep sessions and retained messages in a database across restarts.
        persistent: bool,
    },
    Redis {
        program: PathBuf,
    },
    ComfyUi {
        /// The install: holds `venv/bin/python` and `comfyui/main.py`.
        home: PathBuf,
    },
}

impl Spec {
    fn kind(&self) -> ServerKind {
        match self {
            Spec::Rtsp { .. } => ServerKind::Rtsp,
            Spec::Mjpeg { .. } => ServerKind::Mjpeg,
            Spec::Mosquitto { .. } => ServerKind::Mosquitto,
            Spec::Redis { .. } => ServerKind::Redis,
            Spec::ComfyUi { .. } => ServerKind::ComfyUi,
        }
    }
}

/// A server child process on 127.0.0.1 for the duration of a test: started by one of the
/// constructors ([`Server::rtsp`], [`Server::mjpeg`], [`Server::mosquitto`],
/// [`Server::redis`]), killed by `Drop`. See the module docs for the exact semantics.
#[derive(Debug)]
pub struct Server {
    spec: Spec,
    port: u16,
    url: String,
    child: Option<Child>,
    log: PathBuf,
    /// Mosquitto's generated configuration file.
    conf: Option<PathBuf>,
    paused: AtomicBool,
    ready_after: Duration,
    /// ComfyUI's `--base-directory` (input, output, temp, user, custom_nodes).
    data_dir: Option<PathBuf>,
    /// ComfyUI's watchdog: kills the server when the test process is gone.
    watchdog: Option<Child>,
}

/// Why a spawn did not become ready.
enum StartError {
    /// The child exited first; `in_use` when its log says the address was in use.
    Exited { status: ExitStatus, in_use: bool },
    /// Not ready within [`READY_TIMEOUT`] (the child was killed).
    Timeout,
    /// The program could not be run at all.
    Spawn(std::io::Error),
}

impl Server {
    /// `tools/rtsp_server.py` serving the H.264 MP4 `file` at `rtsp://127.0.0.1:PORT/cam`,
    /// looped forever, one shared live stream for all clients, RTP over UDP or TCP
    /// (interleaved), RTCP sender reports on. `None` after a `SKIP:` line when Debian's
    /// `/usr/bin/python3` cannot import GStreamer's RTSP server bindings.
    ///
    /// # Panics
    /// If the server does not become ready (e.g. `file` is not an H.264 MP4).
    pub fn rtsp(file: &Path) -> Option<Server> {
        if let Err(why) = rtsp_prerequisites() {
            crate::skip("RTSP test server", why);
            return None;
        }
        Some(Self::start(Spec::Rtsp {
            file: file.to_path_buf(),
        }))
    }

    /// `tools/mjpeg_server.py` serving the `.jpg` files of `dir` (sorted by name) as
    /// `multipart/x-mixed-replace; boundary=frame` at `http://127.0.0.1:PORT/stream.mjpg`,
    /// `fps` frames per second, looping; each client starts at the first file. With
    /// `freeze_after = Some(n)`, after `n` frames the connection stays open but nothing
    /// more is sent (a frozen camera). `None` after a `SKIP:` line when no Python 3 is
    /// installed.
    ///
    /// # Panics
    /// If the server does not become ready (e.g. `dir` has no `.jpg` files, `fps` is not
    /// positive).
    pub fn mjpeg(dir: &Path, fps: impl Into<f64>, freeze_after: Option<u32>) -> Option<Server> {
        let Some(python) = any_python() else {
            crate::skip(
                "MJPEG test server",
                "no python3 on PATH or in /usr/bin; install python3",
            );
            return None;
        };
        Some(Self::start(Spec::Mjpeg {
            python,
            dir: dir.to_path_buf(),
            fps: fps.into(),
            freeze_after,
        }))
    }

    /// A mosquitto broker of its own at `mqtt://127.0.0.1:PORT`, from a generated
    /// configuration: one listener on 127.0.0.1, anonymous clients allowed, no
    /// persistence, log to stderr. `None` after a `SKIP:` line when mosquitto is not
    /// installed.
    ///
    /// # Panics
    /// If the broker does not become ready.
    pub fn mosquitto() -> Option<Server> {
        Self::mosquitto_with(false)
    }

    /// Like [`Server::mosquitto`], but with persistence on: sessions, queued QoS 1
    /// messages and retained messages are saved to `<log>.db` (next to the log, deleted
    /// on drop) when the broker stops with SIGTERM ([`Server::terminate`]) and loaded by
    /// [`Server::restart`]. A SIGKILL ([`Server::kill`]) loses what was not saved.
    pub fn mosquitto_persistent() -> Option<Server> {
        Self::mosquitto_with(true)
    }

    fn mosquitto_with(persistent: bool) -> Option<Server> {
        let Some(program) = crate::find_program("mosquitto") else {
            crate::skip(
                "MQTT test broker",
                "no `mosquitto` on PATH or in /usr/sbin; install it, e.g. `apt-get install mosquitto`",
            );
            return None;
        };
        Some(Self::start(Spec::Mosquitto {
            program,
            persistent,
        }))
    }

    /// A redis server of its own at `redis://127.0.0.1:PORT`: `redis-server --port PORT
    /// --bind 127.0.0.1 --save "" --appendonly no --daemonize no` (nothing written to
    /// disk). `None` after a `SKIP:` line when redis-server is not installed.
    ///
    /// # Panics
    /// If the server does not become ready.
    pub fn redis() -> Option<Server> {
        let Some(program) = crate::find_program("redis-server") else {
            crate::skip(
                "Redis test server",
                "no `redis-server` on PATH; install it, e.g. `apt-get install redis-server`",
            );
            return None;
        };
        Some(Self::start(Spec::Redis { program }))
    }

    /// A real ComfyUI at `http://127.0.0.1:PORT`: `venv/bin/python comfyui/main.py --cpu
    /// --listen 127.0.0.1 --port PORT --base-directory <fresh dir> --disable-api-nodes
    /// --database-url sqlite:///<fresh dir>/user/comfyui.db`, ready when `GET
    /// /api/system_stats` answers 200 and its log announces the port.
    ///
    /// The install is the one `scripts/comfyui.sh --check` names ($VISUALPATH_COMFYUI_HOME,
    /// default `~/.cache/visualpath/comfyui`). The base directory ([`Server::data_dir`])
    /// starts with an empty `user/` and a `custom_nodes/` holding only the install's
    /// bundled `websocket_image_save.py` (the `SaveImageWebsocket` node every stock
    /// ComfyUI has). `None` after a `SKIP:` line when ComfyUI is not installed.
    ///
    /// # Panics
    /// If the server does not become ready within [`Server::ready_timeout`] (90 s).
    pub fn comfyui() -> Option<Server> {
        match comfyui_home() {
            Ok(home) => Some(Self::start(Spec::ComfyUi {
                home: home.to_path_buf(),
            })),
            Err(why) => {
                crate::skip("ComfyUI test server", why);
                None
            }
        }
    }

    /// Which program this is.
    pub fn kind(&self) -> ServerKind {
        self.spec.kind()
    }

    /// The URL clients use: `rtsp://127.0.0.1:PORT/cam`,
    /// `http://127.0.0.1:PORT/stream.mjpg`, `mqtt://127.0.0.1:PORT`,
    /// `redis://127.0.0.1:PORT` or `http://127.0.0.1:PORT` (ComfyUI). Unchanged by restarts.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The TCP port on 127.0.0.1. Unchanged by restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The child's process id, `None` after [`Server::kill`] (until [`Server::restart`]).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the child process exists and has not exited (a paused child is running).
    pub fn is_running(&self) -> bool {
        self.pid().is_some_and(process_alive)
    }

    /// Whether the child is stopped by [`Server::pause`].
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// How long the last start or restart took until the server was ready.
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// ComfyUI's `--base-directory` (with `input/`, `output/`, `temp/`, `user/`,
    /// `custom_nodes/`), the same across restarts; `None` for the other kinds.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// How long a start or restart of this kind may take: [`READY_TIMEOUT`], or
    /// `COMFYUI_READY_TIMEOUT` (90 s) for ComfyUI.
    pub fn ready_timeout(&self) -> Duration {
        match self.kind() {
            ServerKind::ComfyUi => COMFYUI_READY_TIMEOUT,
            _ => READY_TIMEOUT,
        }
    }

    /// The child's log file (stdout and stderr of every start, appended).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the child's log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Kills the child with SIGKILL and reaps it (also when paused). Clients see their
    /// connections reset; the port is free again at once. Does nothing when not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stop_watchdog();
        self.paused.store(false, Ordering::SeqCst);
    }

    fn stop_watchdog(&mut self) {
        if let Some(mut dog) = self.watchdog.take() {
            let _ = dog.kill();
            let _ = dog.wait();
        }
    }

    /// Asks the child to stop with SIGTERM (resuming it first if paused) and waits up to
    /// [`Server::ready_timeout`] for it to exit: its exit status, or `None` if it had to be
    /// killed (or was not running).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        if self.paused.swap(false, Ordering::SeqCst) {
            signal(child.id(), "CONT");
        }
        let deadline = Instant::now() + self.ready_timeout();
        let mut status = None;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = child.try_wait() {
                status = Some(s);
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stop_watchdog();
        status
    }

    /// Starts the server again on the SAME port (killing the current child first, if
    /// any) and waits until it is ready; while the port is still held (e.g. by a process
    /// that has not quite gone), retries for up to [`Server::ready_timeout`]. ComfyUI keeps
    /// its base directory (outputs survive; its temp dir is wiped by ComfyUI itself).
    ///
    /// # Panics
    /// If the server is not ready again within [`Server::ready_timeout`].
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + self.ready_timeout();
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(StartError::Exited { in_use: true, .. }) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("{}", self.describe_failure("restart", &e)),
            }
        }
    }

    /// Freezes the child with SIGSTOP: connections stay open, nothing is sent or
    /// answered. Safe to call when already paused.
    ///
    /// # Panics
    /// If the server is not running (killed, or it exited).
    pub fn pause(&self) {
        let pid = self.running_pid("pause");
        signal(pid, "STOP");
        self.paused.store(true, Ordering::SeqCst);
    }

    /// Lets a paused child continue with SIGCONT. Safe to call when not paused.
    ///
    /// # Panics
    /// If the server is not running (killed, or it exited).
    pub fn resume(&self) {
        let pid = self.running_pid("resume");
        signal(pid, "CONT");
        self.paused.store(false, Ordering::SeqCst);
    }

    fn running_pid(&self, what: &str) -> u32 {
        match self.pid() {
            Some(pid) if process_alive(pid) => pid,
            _ => panic!(
                "Server::{what}: the {} server on port {} is not running (killed or exited); log tail:\n{}",
                self.kind().name(),
                self.port,
                self.log_tail(20)
            ),
        }
    }

    /// Mosquitto's persistence database, when persistence is on.
    fn persistence_db(&self) -> Option<PathBuf> {
        match self.spec {
            Spec::Mosquitto {
                persistent: true, ..
            } => Some(self.log.with_extension("db")),
            _ => None,
        }
    }

    /// Starts `spec` on a free port, retrying on a new port if the chosen one was taken.
    fn start(spec: Spec) -> Server {
        let kind = spec.kind();
        let logs = crate::target_dir().join("visualpath-test-logs");
        if let Err(e) = fs::create_dir_all(&logs) {
            panic!("Server: cannot create {} ({e})", logs.display());
        }
        if kind == ServerKind::ComfyUi {
            sweep_dead_leftovers(&logs, kind.name());
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = crate::free_port();
            let name = format!("{}-{port}-{}", kind.name(), std::process::id());
            let mut server = Server {
                spec: spec.clone(),
                port,
                url: match kind {
                    ServerKind::Mosquitto => format!("mqtt://127.0.0.1:{port}"),
                    ServerKind::Redis => format!("redis://127.0.0.1:{port}"),
                    ServerKind::ComfyUi => format!("http://127.0.0.1:{port}"),
                    _ => String::new(), // from the READY line
                },
                child: None,
                log: logs.join(format!("{name}.log")),
                conf: (kind == ServerKind::Mosquitto).then(|| logs.join(format!("{name}.conf"))),
                paused: AtomicBool::new(false),
                ready_after: Duration::ZERO,
                data_dir: (kind == ServerKind::ComfyUi).then(|| logs.join(format!("{name}.d"))),
                watchdog: None,
            };
            let _ = fs::remove_file(&server.log);
            if let Err(e) = server.prepare_data_dir() {
                panic!(
                    "Server::start: cannot prepare the {} base directory ({e})",
                    kind.name()
                );
            }
            match server.spawn_and_wait() {
                Ok(()) => return server,
                // Dropping `server` removes its log and configuration.
                Err(StartError::Exited { in_use: true, .. }) if attempt < 3 => {}
                Err(e) => panic!("{}", server.describe_failure("start", &e)),
            }
        }
    }

    /// Creates ComfyUI's fresh base directory (removing a stale one of the same name):
    /// `custom_nodes/` with the install's `websocket_image_save.py`, and `user/`.
    fn prepare_data_dir(&self) -> std::io::Result<()> {
        let (Some(dir), Spec::ComfyUi { home }) = (&self.data_dir, &self.spec) else {
            return Ok(());
        };
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        fs::create_dir_all(dir.join("custom_nodes"))?;
        fs::create_dir_all(dir.join("user"))?;
        let node = home.join("comfyui/custom_nodes/websocket_image_save.py");
        if node.is_file() {
            fs::copy(&node, dir.join("custom_nodes/websocket_image_save.py"))?;
        }
        Ok(())
    }

    fn command(&self) -> Command {
        let port = self.port.to_string();
        let parent = std::process::id().to_string();
        match &self.spec {
            Spec::Rtsp { file } => {
                let mut c = Command::new(SYSTEM_PYTHON);
                c.arg(crate::repo_root().join("tools/rtsp_server.py"))
                    .args(["--port", &port, "--parent-pid", &parent, "--file"])
                    .arg(file)
                    // A virtualenv's or pyenv's settings must not leak into Debian's Python.
                    .env_remove("PYTHONPATH")
                    .env_remove("PYTHONHOME");
                c
            }
            Spec::Mjpeg {
                python,
                dir,
                fps,
                freeze_after,
            } => {
                let mut c = Command::new(python);
                c.arg(crate::repo_root().join("tools/mjpeg_server.py"))
                    .args(["--port", &port, "--parent-pid", &parent, "--loop"])
                    .args(["--fps", &fps.to_string()])
                    .arg("--dir")
                    .arg(dir);
                if let Some(n) = freeze_after {
                    c.args(["--freeze-after", &n.to_string()]);
                }
                c
            }
            Spec::Mosquitto { program, .. } => {
                let mut c = Command::new(program);
                c.arg("-c")
                    .arg(self.conf.as_deref().unwrap_or(Path::new("")));
                c
            }
            Spec::Redis { program } => {
                let mut c = Command::new(program);
                c.args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
                    .args(["--appendonly", "no", "--daemonize", "no"])
                    .arg("--dir")
                    .arg(self.log.parent().unwrap_or(Path::new(".")));
                c
            }
            Spec::ComfyUi { home } => {
                let base = self.data_dir.as_deref().unwrap_or(Path::new("."));
                let mut c = Command::new(home.join("venv/bin/python"));
                c.arg(home.join("comfyui/main.py"))
                    .args(["--cpu", "--listen", "127.0.0.1", "--port", &port])
                    .arg("--base-directory")
                    .arg(base)
                    .arg("--disable-api-nodes")
                    // Its default database lives in the install (shared, and its `user/`
                    // does not exist there): give each instance its own.
                    .arg("--database-url")
                    .arg(format!(
                        "sqlite:///{}",
                        base.join("user/comfyui.db").display()
                    ))
                    .current_dir(base)
                    // Unbuffered, so the log shows the "To see the GUI" line at once.
                    .env("PYTHONUNBUFFERED", "1")
                    .env_remove("PYTHONPATH")
                    .env_remove("PYTHONHOME");
                c
            }
        }
    }

    /// For ComfyUI: a `sh` loop that SIGKILLs the child once the test process is gone
    /// and exits by itself when the child is (ComfyUI has no `--parent-pid` option).
    fn start_watchdog(&mut self) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        if self.kind() != ServerKind::ComfyUi {
            return;
        }
        let script = "while kill -0 \"$2\" 2>/dev/null; do \
                        kill -0 \"$1\" 2>/dev/null || { kill -9 \"$2\"; exit 0; }; \
                        sleep 0.5; done";
        self.watchdog = Command::new("sh")
            .args(["-c", script, "watchdog"])
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
    }

    /// Spawns the child on `self.port` and waits until it is ready.
    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        if let Some(conf) = &self.conf {
            let mut text = format!(
                "# Generated by visualpath-testkit for one test.\n\
                 listener {} 127.0.0.1\nallow_anonymous true\n\
                 log_dest stderr\n",
                self.port
            );
            match self.persistence_db() {
                Some(db) => text.push_str(&format!(
                    "persistence true\npersistence_location {}/\npersistence_file {}\n",
                    db.parent().unwrap_or(Path::new(".")).display(),
                    db.file_name().unwrap_or_default().to_string_lossy()
                )),
                None => text.push_str("persistence false\n"),
            }
            fs::write(conf, text).map_err(StartError::Spawn)?;
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(StartError::Spawn)?;
        let offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let err = log.try_clone().map_err(StartError::Spawn)?;
        let started = Instant::now();
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(StartError::Spawn)?;
        self.child = Some(child);
        self.start_watchdog();
        self.paused.store(false, Ordering::SeqCst);
        let deadline = started + self.ready_timeout();
        loop {
            let child = self.child.as_mut().expect("just spawned");
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                self.stop_watchdog();
                let text = read_from(&self.log, offset).to_lowercase();
                let in_use = text.contains("in use") || text.contains("cannot listen");
                return Err(StartError::Exited { status, in_use });
            }
            if let Some(url) = self.ready(offset) {
                if !url.is_empty() {
                    self.url = url;
                }
                self.ready_after = started.elapsed();
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(StartError::Timeout);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `Some(url from the READY line, or "")` once the child is ready.
    fn ready(&self, offset: u64) -> Option<String> {
        let log = read_from(&self.log, offset);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        match self.kind() {
            ServerKind::Rtsp | ServerKind::Mjpeg => log
                .lines()
                .find_map(|l| l.strip_prefix("READY "))
                .map(|u| u.trim().to_string()),
            ServerKind::Mosquitto => (log.contains(" running")
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok())
            .then(String::new),
            ServerKind::Redis => {
                (log.contains("Ready to accept connections") && redis_ping(addr)).then(String::new)
            }
            // The log line proves the answer comes from OUR child.
            ServerKind::ComfyUi => (log.contains(&format!(
                "To see the GUI go to: http://127.0.0.1:{}",
                self.port
            )) && http_get_ok(addr, "/api/system_stats"))
            .then(String::new),
        }
    }

    fn describe_failure(&self, what: &str, e: &StartError) -> String {
        let why = match e {
            StartError::Exited { status, .. } => format!("exited ({status}) before it was ready"),
            StartError::Timeout => {
                format!("was not ready within {} s", self.ready_timeout().as_secs())
            }
            StartError::Spawn(e) => format!("could not be started ({e})"),
        };
        format!(
            "Server::{what}: the {} server on 127.0.0.1:{} {why}; log {}:\n{}",
            self.kind().name(),
            self.port,
            self.log.display(),
            self.log_tail(30)
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if let Some(conf) = &self.conf {
            let _ = fs::remove_file(conf);
        }
        if let Some(db) = self.persistence_db() {
            let _ = fs::remove_file(db);
        }
        if !thread::panicking() && !self.log.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.log);
            if let Some(dir) = &self.data_dir {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

/// Sends `sig` (a name such as `STOP`) to `pid` with the `kill` command.
fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`kill -s {sig} {pid}` failed ({s})"),
        Err(e) => panic!("cannot run `kill -s {sig} {pid}` ({e}); is procps installed?"),
    }
}

/// Whether `pid` exists and is not a zombie.
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// The log text from byte `offset` on (lossy UTF-8; empty if unreadable).
fn read_from(path: &Path, offset: u64) -> String {
    let Ok(bytes) = fs::read(path) else {
        return String::new();
    };
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = read_from(path, 0);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `PING` answered with `+PONG` within half a second.
fn redis_ping(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// `GET path` over HTTP/1.0 answered with status 200 within two seconds.
fn http_get_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok()
        && (head.starts_with(b"HTTP/1.0 200") || head.starts_with(b"HTTP/1.1 200"))
}

/// The ComfyUI install (holding `venv/bin/python` and `comfyui/main.py`), found once per
/// process with `<repo>/scripts/comfyui.sh --check` (which honours
/// `$VISUALPATH_COMFYUI_HOME`), or why there is none.
fn comfyui_home() -> Result<&'static Path, &'static str> {
    static HOME: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    HOME.get_or_init(|| {
        let hint = "run scripts/comfyui.sh to install ComfyUI 0.3.75 for CPU from PyPI \
                    (about 4.3 GB download, 10 GB free disk needed)";
        let script = crate::repo_root().join("scripts/comfyui.sh");
        let found = if script.is_file() {
            Command::new("bash")
                .arg(&script)
                .arg("--check")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        } else {
            std::env::var_os("VISUALPATH_COMFYUI_HOME")
                .map(PathBuf::from)
                .filter(|h| h.join(".complete").is_file())
        };
        match found {
            Some(home)
                if home.join("venv/bin/python").is_file()
                    && home.join("comfyui/main.py").is_file() =>
            {
                Ok(home)
            }
            Some(home) => Err(format!(
                "the ComfyUI install at {} lacks venv/bin/python or comfyui/main.py; {hint}",
                home.display()
            )),
            None => Err(format!("ComfyUI is not installed; {hint}")),
        }
    })
    .as_ref()
    .map(PathBuf::as_path)
    .map_err(String::as_str)
}

/// Removes `<kind>-<port>-<pid>.log` files and `.d` directories under `logs` left by test
/// processes that no longer exist (a server in a `static` is never dropped).
fn sweep_dead_leftovers(logs: &Path, kind: &str) {
    let Ok(entries) = fs::read_dir(logs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(kind).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let stem = rest
            .strip_suffix(".log")
            .or_else(|| rest.strip_suffix(".d"));
        let pid = stem
            .and_then(|s| s.split('-').nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

/// Why the RTSP server cannot run here, checked once per process.
fn rtsp_prerequisites() -> Result<(), &'static str> {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    const PROBE: &str = "import gi\n\
gi.require_version('Gst', '1.0')\n\
gi.require_version('GstRtspServer', '1.0')\n\
from gi.repository import Gst, GstRtspServer\n\
Gst.init(None)\n\
missing = [e for e in ('filesrc', 'qtdemux', 'h264parse', 'appsink', 'appsrc', 'rtph264pay') if Gst.ElementFactory.find(e) is None]\n\
if missing: raise SystemExit('missing GStreamer elements: ' + ', '.join(missing))\n";
    CHECK
        .get_or_init(|| {
            let script = crate::repo_root().join("tools/rtsp_server.py");
            if !script.is_file() {
                return Err(format!("{} is missing", script.display()));
            }
            let hint = "install python3-gi, gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-{base,good,bad}";
            let out = Command::new(SYSTEM_PYTHON)
                .args(["-c", PROBE])
                .env_remove("PYTHONPATH")
                .env_remove("PYTHONHOME")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {SYSTEM_PYTHON} ({e}); {hint}"))?;
            if out.status.success() {
                return Ok(());
            }
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("").trim();
            Err(format!(
                "{SYSTEM_PYTHON} cannot load GStreamer's RTSP server: {last}; {hint}"
            ))
        })
        .as_ref()
        .map(|_| ())
        .map_err(String::as_str)
}

/// Debian's Python if present, else the first `python3` on `$PATH`.
fn any_python() -> Option<PathBuf> {
    let system = PathBuf::from(SYSTEM_PYTHON);
    if system.is_file() {
        return Some(system);
    }
    crate::find_program("python3")
}
