//! `visualpath farm serve|submit|status|cancel|retry|priority|backends` as a user runs
//! them, against a real ComfyUI.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;
use visualpath_testkit::{Server, free_port};

/// `visualpath farm ...` against the farm at `url`.
fn farm(url: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_visualpath"))
        .arg("farm")
        .args(args)
        .env("VISUALPATH_FARM_URL", url)
        .env("VISUALPATH_LOG", "error")
        .env_remove("VISUALPATH_FARM_TOKEN")
        .output()
        .expect("run visualpath")
}

/// `visualpath farm serve` as a child process, killed on drop.
struct Serve(Child);

impl Serve {
    fn start(port: u16, data: &std::path::Path, extra: &[&str]) -> Serve {
        Serve(
            Command::new(env!("CARGO_BIN_EXE_visualpath"))
                .args(["farm", "serve", "--bind", &format!("127.0.0.1:{port}")])
                .arg("--data")
                .arg(data)
                .args(extra)
                .env("VISUALPATH_LOG", "error")
                .env_remove("VISUALPATH_FARM_TOKEN")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_submit_status_cancel_and_backends() {
    let Some(comfy) = Server::comfyui() else {
        visualpath_testkit::skip("farm CLI", "no ComfyUI install (run scripts/comfyui.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let data = dir.path().join("data");
    let backend = format!("b1={}", comfy.url());
    let mut serve = Serve::start(port, &data, &["--backend", &backend, "--poll-ms", "200"]);

    // Wait until the backend is healthy, as `farm backends` shows it.
    let t0 = Instant::now();
    loop {
        let o = farm(&url, &["backends"]);
        if o.status.success() && stdout(&o).contains("healthy") && !stdout(&o).contains("classes 0")
        {
            assert!(stdout(&o).contains("b1"), "{}", stdout(&o));
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "backend never healthy: {} {}",
            stdout(&o),
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let wf = dir.path().join("wf.json");
    std::fs::write(
        &wf,
        json!({
            "1": {"class_type": "EmptyImage", "inputs": {"width": "{size}", "height": 32, "batch_size": 1, "color": 0}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "cli/{name}"}}
        })
        .to_string(),
    )
    .unwrap();

    // Submit with parameters and wait: the output is listed and stored.
    let o = farm(
        &url,
        &[
            "submit",
            wf.to_str().unwrap(),
            "-p",
            "size=40",
            "-p",
            "name=first",
            "--wait",
        ],
    );
    assert!(o.status.success(), "{} {}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("job 1") && out.contains("succeeded"), "{out}");
    assert!(out.contains("/api/farm/outputs/1/"), "{out}");
    assert!(data.join("outputs/1/job.json").is_file());
    assert!(data.join("farm.sqlite").is_file());

    // A sweep from the command line: a batch of 2 jobs.
    let o = farm(
        &url,
        &[
            "submit",
            wf.to_str().unwrap(),
            "--grid",
            "size=16,24",
            "-p",
            "name=sweep",
            "--wait",
        ],
    );
    assert!(o.status.success(), "{} {}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("batch 1: jobs 2, 3"), "{}", stdout(&o));

    // Bad input: one line naming the problem, exit 1.
    let o = farm(&url, &["submit", wf.to_str().unwrap(), "-p", "size=40"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("name") && err.lines().count() == 1, "{err}");
    let mut bad: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&wf).unwrap()).unwrap();
    bad["2"]["class_type"] = json!("NotANode");
    std::fs::write(&wf, bad.to_string()).unwrap();
    let o = farm(
        &url,
        &[
            "submit",
            wf.to_str().unwrap(),
            "-p",
            "size=8",
            "-p",
            "name=x",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("NotANode"), "{}", stderr(&o));
    std::fs::write(&wf, "{ not json").unwrap();
    let o = farm(&url, &["submit", wf.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("wf.json:1:"), "{}", stderr(&o));

    // Status: counts, the job list, one job.
    let o = farm(&url, &["status"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("succeeded 3"), "{}", stdout(&o));
    let o = farm(&url, &["status", "1"]);
    assert!(
        stdout(&o).contains("b1") && stdout(&o).contains("\"size\":40"),
        "{}",
        stdout(&o)
    );
    let o = farm(&url, &["status", "1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "succeeded");

    // Control: a finished job cannot be cancelled; it can be retried.
    let o = farm(&url, &["cancel", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("job 1 is succeeded"), "{}", stderr(&o));
    let o = farm(&url, &["priority", "99", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("99"), "{}", stderr(&o));

    // Backends: add a second one (unreachable: it never gets healthy), then remove it.
    let o = farm(
        &url,
        &[
            "backends",
            "add",
            "ghost",
            "http://127.0.0.1:9",
            "--tag",
            "gpu",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = farm(&url, &["backends", "remove", "ghost"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = farm(&url, &["backends", "add", "bad", "ftp://x"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("bad"), "{}", stderr(&o));

    // The farm keeps its jobs across a restart of `farm serve`.
    drop(serve);
    serve = Serve::start(port, &data, &[]);
    let t0 = Instant::now();
    loop {
        let o = farm(&url, &["status"]);
        if o.status.success() {
            assert!(stdout(&o).contains("succeeded 3"), "{}", stdout(&o));
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{}", stderr(&o));
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(serve);

    // No farm there: a clear error.
    let o = farm(&url, &["status"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("farm serve"), "{}", stderr(&o));
}

#[test]
fn serving_beyond_loopback_needs_a_token() {
    let o = Command::new(env!("CARGO_BIN_EXE_visualpath"))
        .args(["farm", "serve", "--bind", "0.0.0.0:0", "--data"])
        .arg(tempfile::tempdir().unwrap().path())
        .env_remove("VISUALPATH_FARM_TOKEN")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("token") && err.contains("VISUALPATH_FARM_TOKEN"),
        "{err}"
    );
    let o = farm("ftp://x", &["status"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--url"), "{}", stderr(&o));
}
