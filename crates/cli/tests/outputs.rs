//! Network outputs from the command line (`--mqtt`, `--redis`, `--ws`, `--osc`,
//! `--webhook`) against real peers.

mod support;

use std::io::BufRead;
use std::process::{Command, Stdio};

use support::*;
use visualpath_testkit::{Server, find_program};

#[test]
fn mqtt_and_redis_flags_deliver_every_observation() {
    let (Some(mosquitto), Some(redis)) = (Server::mosquitto(), Server::redis()) else {
        return;
    };
    let Some(sub) = find_program("mosquitto_sub") else {
        visualpath_testkit::skip(
            "--mqtt test",
            "no mosquitto_sub (apt-get install mosquitto-clients)",
        );
        return;
    };
    // An independent subscriber counts what reaches the broker (and gives up after 30 s,
    // so a failure cannot hang the test).
    let mut child = Command::new(sub)
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &mosquitto.port().to_string(),
            "-t",
            "cli/#",
            "-v",
            "-q",
            "1",
            "-W",
            "30",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = visualpath(&[
        "run",
        "synthetic:160x120@50",
        "--analyze",
        "frame_stats",
        "--max-frames",
        "40",
        "--mqtt",
        &format!("mqtt://127.0.0.1:{}/cli", mosquitto.port()),
        "--redis",
        &format!("redis://127.0.0.1:{}/cli:{{source}}", redis.port()),
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("healthy: sent 40, failed 0, dropped 0"),
        "{err}"
    );
    let out = Command::new(find_program("redis-cli").unwrap())
        .args([
            "-p",
            &redis.port().to_string(),
            "--scan",
            "--pattern",
            "cli:*",
        ])
        .output()
        .unwrap();
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = Command::new(find_program("redis-cli").unwrap())
        .args(["-p", &redis.port().to_string(), "XLEN", &key])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "40",
        "stream `{key}`"
    );
    // 40 observations on cli/<source>/frame_stats, plus the retained status topic.
    let reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = 0;
    for line in reader.lines() {
        let line = line.unwrap();
        if line.contains("/frame_stats ") {
            seen += 1;
            if seen == 40 {
                break;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen, 40);
}

#[test]
fn bad_output_flags_are_one_clear_line() {
    for (flag, value, expect) in [
        ("--osc", "localhost", "--osc"),
        ("--mqtt", "http://broker", "--mqtt"),
        ("--redis", "tcp://x", "--redis"),
        ("--ws", "nonsense", "--ws"),
        ("--webhook", "ftp://x", "--webhook"),
    ] {
        let o = visualpath(&["run", "synthetic", "--max-frames", "1", flag, value]);
        assert_eq!(o.status.code(), Some(1), "{flag} {value}");
        let e = stderr(&o);
        assert_eq!(e.trim().lines().count(), 1, "{flag} {value}: {e}");
        assert!(e.contains(expect), "{flag} {value}: {e}");
        assert!(!e.contains("panicked"), "{e}");
    }
}
