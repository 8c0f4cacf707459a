//! The client against a REAL ComfyUI (0.3.75, CPU, no models) started by the testkit.
//!
//! Most tests share one server per test binary (startup takes ~10 s and ~1 GB of RAM);
//! it lives in a `static`, so it is never dropped: the testkit's watchdog kills it when
//! this binary exits. Every prompt gets a fresh `EmptyImage` colour, so ComfyUI's cache
//! never short-cuts a run, and every test uses its own `clientId`, so it only sees its
//! own prompts' events. The test that kills and restarts a server has one of its own.
//!
//! Every test skips with a `SKIP:` line when ComfyUI is not installed
//! (`scripts/comfyui.sh`). No test asserts how long something took: waits are bounded by
//! generous safety limits whose expiry is a failure.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use visualpath_comfy::{
    Client, ComfyError, Event, Events, HistoryEntry, Outcome, OutputItem, PromptRequest,
};
use visualpath_testkit::{Server, skip};

/// The longest any single wait may take before the test fails (a loaded 2-core machine
/// can be very slow; this is a hang detector, not a performance check).
const SAFETY: Duration = Duration::from_secs(180);

/// How long `Events::next` waits before returning `Ok(None)`.
const TICK: Duration = Duration::from_millis(500);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The shared server, or `None` after a SKIP line.
fn shared() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Server>> = OnceLock::new();
    let mut started_here = false;
    let server = SERVER.get_or_init(|| {
        started_here = true;
        Server::comfyui()
    });
    if server.is_none() && !started_here {
        // The testkit printed why for the first test; say it for every test.
        skip(
            "ComfyUI contract test",
            "ComfyUI is not installed; run scripts/comfyui.sh",
        );
    }
    server.as_ref()
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh lowercase UUID-shaped id (newer ComfyUI versions want UUIDs as prompt ids).
fn uid() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let a = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    let b = (u64::from(n) << 40) ^ (nanos >> 64) as u64 ^ 0x5eed_0000_0000;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a & 0xfff) as u16,
        (b >> 48) as u16 & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// A colour no other prompt of this process used, so nothing comes from the cache.
fn fresh_color() -> u64 {
    let n = u64::from(COUNTER.fetch_add(1, Ordering::SeqCst));
    (u64::from(std::process::id()).wrapping_mul(7919) + n.wrapping_mul(104_729)) & 0xff_ffff
}

fn client(server: &Server) -> Client {
    Client::new(server.url()).expect("the testkit's URL is valid")
}

fn events(server: &Server, client_id: &str) -> Events {
    Events::connect(server.url(), client_id, TICK)
        .unwrap_or_else(|e| panic!("connect the WebSocket: {e}"))
}

/// Whether the server has `class` (SaveImageWebsocket lives under custom_nodes).
fn has_class(client: &Client, class: &str) -> bool {
    client
        .object_info()
        .unwrap_or_else(|e| panic!("object_info: {e}"))
        .get(class)
        .is_some()
}

/// A model-free 6-node workflow: EmptyImage, ImageInvert, ImageScale, SaveImage, PreviewImage,
/// SaveImageWebsocket (without node 6 when the server lacks
/// SaveImageWebsocket).
fn six_node(color: u64, with_websocket: bool) -> Value {
    let mut w = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 256, "batch_size": 2, "color": color}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageScale", "inputs": {"image": ["2", 0], "upscale_method": "bilinear", "width": 128, "height": 128, "crop": "disabled"}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "orch/test_%width%x%height%"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
    });
    if with_websocket {
        w["6"] = json!({"class_type": "SaveImageWebsocket", "inputs": {"images": ["3", 0]}});
    }
    w
}

/// EmptyImage 512x512x2 -> `blurs` x ImageBlur(31, 10) -> SaveImage: each blur is one
/// interruptible step of about a second.
fn slow(color: u64, blurs: usize) -> Value {
    let mut w = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 2, "color": color}}
    });
    let mut last = "1".to_string();
    for i in 0..blurs {
        let id = format!("{}", 10 + i);
        w[&id] = json!({"class_type": "ImageBlur", "inputs": {"image": [last, 0], "blur_radius": 31, "sigma": 10.0}});
        last = id;
    }
    w["2"] = json!({"class_type": "SaveImage", "inputs": {"images": [last, 0], "filename_prefix": "orch/slow"}});
    w
}

/// A tiny job: EmptyImage 64x64 -> SaveImage.
fn tiny(color: u64) -> Value {
    json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": color}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "orch/tiny"}}
    })
}

fn submit(client: &Client, prompt: &Value, client_id: &str, prompt_id: &str) {
    let s = client
        .submit(&PromptRequest::new(prompt, client_id, prompt_id))
        .unwrap_or_else(|e| panic!("submit: {e}"));
    assert_eq!(s.prompt_id, prompt_id);
    assert!(!s.has_node_errors(), "{}", s.node_errors_summary());
}

/// Reads events until `stop` says so; returns everything read. Panics (with the events
/// so far) after [`SAFETY`] or on an error.
fn read_until(events: &mut Events, what: &str, mut stop: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + SAFETY;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match events.next() {
            Ok(Some(event)) => {
                let done = stop(&event);
                seen.push(event);
                if done {
                    return seen;
                }
            }
            Ok(None) => {}
            Err(e) => panic!("waiting for {what}: {e}; events so far: {}", summary(&seen)),
        }
    }
    panic!(
        "no {what} within {} s; events so far: {}",
        SAFETY.as_secs(),
        summary(&seen)
    )
}

/// Reads until `prompt_id` is finished (`Executing { node: None }` for it).
fn follow(events: &mut Events, prompt_id: &str) -> Vec<Event> {
    read_until(
        events,
        &format!("the end of {prompt_id}"),
        |e| matches!(e, Event::Executing { prompt_id: Some(p), node: None } if p == prompt_id),
    )
}

/// The events without the chatty ones and without preview bytes, for messages.
fn summary(events: &[Event]) -> String {
    let parts: Vec<String> = events
        .iter()
        .filter(|e| !matches!(e, Event::Other { kind } if kind == "progress_state"))
        .map(|e| match e {
            Event::Preview {
                prompt_id,
                node_id,
                mime,
                bytes,
            } => {
                format!(
                    "Preview({prompt_id:?}, {node_id:?}, {mime}, {} bytes)",
                    bytes.len()
                )
            }
            other => format!("{other:?}"),
        })
        .collect();
    parts.join(", ")
}

fn history(client: &Client, prompt_id: &str) -> HistoryEntry {
    client
        .history(prompt_id)
        .unwrap_or_else(|e| panic!("history: {e}"))
        .unwrap_or_else(|| panic!("no history for the finished prompt {prompt_id}"))
}

fn output_file(server: &Server, item: &OutputItem) -> PathBuf {
    let dir = server.data_dir().expect("ComfyUI has a data dir");
    dir.join(&item.file_type)
        .join(&item.subfolder)
        .join(&item.filename)
}

// ---------------------------------------------------------------------------------------
// Read-only endpoints
// ---------------------------------------------------------------------------------------

#[test]
fn system_stats_are_typed() {
    let Some(server) = shared() else { return };
    let stats = client(server)
        .system_stats()
        .unwrap_or_else(|e| panic!("{e}"));
    println!(
        "ComfyUI {} on Python {} / torch {}",
        stats.comfyui_version, stats.python_version, stats.pytorch_version
    );
    assert!(
        stats
            .comfyui_version
            .starts_with(|c: char| c.is_ascii_digit()),
        "{stats:?}"
    );
    assert!(stats.comfyui_version.split('.').count() >= 2, "{stats:?}");
    assert!(stats.python_version.starts_with('3'), "{stats:?}");
    assert!(!stats.pytorch_version.is_empty(), "{stats:?}");
    assert_eq!(stats.os, "posix");
    assert!(
        stats.ram_total > 0 && stats.ram_free <= stats.ram_total,
        "{stats:?}"
    );
    // Started with --cpu: exactly one CPU device, without an index.
    assert_eq!(stats.devices.len(), 1, "{stats:?}");
    let cpu = &stats.devices[0];
    assert_eq!(
        (cpu.name.as_str(), cpu.kind.as_str(), cpu.index),
        ("cpu", "cpu", None)
    );
    assert!(
        cpu.vram_total > 0 && cpu.vram_free <= cpu.vram_total,
        "{cpu:?}"
    );
}

#[test]
fn object_info_lists_core_nodes_and_output_nodes() {
    let Some(server) = shared() else { return };
    let info = client(server)
        .object_info()
        .unwrap_or_else(|e| panic!("{e}"));
    let classes = info.as_object().expect("object").len();
    assert!(classes > 100, "only {classes} node classes");
    assert_eq!(info["EmptyImage"]["output_node"], json!(false));
    assert_eq!(info["SaveImage"]["output_node"], json!(true));
    assert_eq!(info["PreviewImage"]["output_node"], json!(true));
    assert!(info["EmptyImage"]["input"]["required"]["width"][0] == json!("INT"));
    assert_eq!(info["SaveImage"]["output"], json!([]));
    // The testkit copies the stock custom node into each server's base directory.
    if info.get("SaveImageWebsocket").is_none() {
        eprintln!("note: this server has no SaveImageWebsocket (custom_nodes not loaded)");
    }
}

#[test]
fn model_folders_and_models() {
    let Some(server) = shared() else { return };
    let c = client(server);
    let folders = c.model_folders().unwrap_or_else(|e| panic!("{e}"));
    for f in ["checkpoints", "loras", "vae", "upscale_models"] {
        assert!(
            folders.iter().any(|x| x == f),
            "{f} missing from {folders:?}"
        );
    }
    // A fresh base directory has no model files.
    assert_eq!(
        c.models("checkpoints").unwrap_or_else(|e| panic!("{e}")),
        Vec::<String>::new()
    );
    let e = c.models("no such folder").expect_err("unknown folder");
    assert!(matches!(e, ComfyError::Http { status: 404, .. }), "{e}");
    assert!(
        e.to_string().contains("/api/models/no%20such%20folder"),
        "{e}"
    );
    assert!(!e.is_unreachable());
}

// ---------------------------------------------------------------------------------------
// Running prompts
// ---------------------------------------------------------------------------------------

#[test]
fn six_node_workflow_streams_events_and_outputs() {
    let Some(server) = shared() else { return };
    let c = client(server);
    let with_ws = has_class(&c, "SaveImageWebsocket");
    let client_id = uid();
    let prompt_id = uid();
    let mut ev = events(server, &client_id);
    // The server answers the feature negotiation, so format-4 previews are on.
    read_until(
        &mut ev,
        "the feature_flags answer",
        |e| matches!(e, Event::Other { kind } if kind == "feature_flags"),
    );
    submit(
        &c,
        &six_node(fresh_color(), with_ws),
        &client_id,
        &prompt_id,
    );
    let seen = follow(&mut ev, &prompt_id);
    let ours = |e: &&Event| e.prompt_id() == Some(prompt_id.as_str());
    let mine: Vec<&Event> = seen.iter().filter(ours).collect();
    let text = summary(&seen);

    assert!(matches!(mine.first(), Some(Event::Start { .. })), "{text}");
    assert!(
        mine.iter()
            .any(|e| matches!(e, Event::Cached { nodes, .. } if nodes.is_empty())),
        "{text}"
    );
    for node in ["1", "2", "3", "4", "5"] {
        assert!(
            mine.iter()
                .any(|e| matches!(e, Event::Executing { node: Some(n), .. } if n == node)),
            "node {node} never executing: {text}"
        );
    }
    let executed: Vec<(&str, &Value)> = mine
        .iter()
        .filter_map(|e| match e {
            Event::Executed { node, output, .. } => Some((node.as_str(), output)),
            _ => None,
        })
        .collect();
    let nodes: Vec<&str> = executed.iter().map(|(n, _)| *n).collect();
    assert!(nodes.contains(&"4") && nodes.contains(&"5"), "{text}");
    let saved = executed
        .iter()
        .find(|(n, _)| *n == "4")
        .map(|(_, o)| *o)
        .expect("node 4");
    assert_eq!(saved["images"].as_array().map(Vec::len), Some(2), "{saved}");
    assert!(
        mine.iter().any(|e| matches!(e, Event::Success { .. })),
        "{text}"
    );
    // Success comes before the final Executing(None).
    let success_at = seen
        .iter()
        .position(|e| matches!(e, Event::Success { prompt_id: p } if *p == prompt_id));
    assert!(success_at.is_some_and(|i| i + 1 < seen.len()), "{text}");

    let previews: Vec<&Event> = seen
        .iter()
        .filter(|e| matches!(e, Event::Preview { .. }))
        .collect();
    if with_ws {
        // SaveImageWebsocket reports progress per image and sends each image as a
        // format-4 binary preview carrying our prompt id.
        let progress: Vec<(u64, u64)> = mine
            .iter()
            .filter_map(|e| match e {
                Event::Progress {
                    node: Some(n),
                    value,
                    max,
                    ..
                } if n == "6" => Some((*value, *max)),
                _ => None,
            })
            .collect();
        assert_eq!(progress, [(0, 2), (1, 2)], "{text}");
        assert_eq!(previews.len(), 2, "{text}");
        for p in previews {
            let Event::Preview {
                prompt_id: p_id,
                node_id,
                mime,
                bytes,
            } = p
            else {
                unreachable!()
            };
            assert_eq!(p_id.as_deref(), Some(prompt_id.as_str()));
            assert_eq!(node_id.as_deref(), Some("6"));
            assert_eq!(mime, "image/png");
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        }
    } else {
        eprintln!(
            "note: no SaveImageWebsocket, so no progress or preview to check ({} previews)",
            previews.len()
        );
    }

    let entry = history(&c, &prompt_id);
    assert_eq!(entry.outcome, Outcome::Success);
    let saved: Vec<&OutputItem> = entry.outputs.iter().filter(|o| o.node == "4").collect();
    let previewed: Vec<&OutputItem> = entry.outputs.iter().filter(|o| o.node == "5").collect();
    assert_eq!(
        (saved.len(), previewed.len()),
        (2, 2),
        "{:?}",
        entry.outputs
    );
    for o in &saved {
        assert_eq!(
            (o.kind.as_str(), o.subfolder.as_str(), o.file_type.as_str()),
            ("images", "orch", "output")
        );
        assert!(
            o.filename.starts_with("test_128x128_") && o.filename.ends_with("_.png"),
            "{o:?}"
        );
        assert!(!o.animated);
    }
    assert!(
        previewed
            .iter()
            .all(|o| o.file_type == "temp" && o.kind == "images"),
        "{previewed:?}"
    );
    assert!(entry.texts.is_empty());

    // Download: the PNG bytes, the same as the file on disk.
    let mut png = Vec::new();
    let (n, mime) = c
        .download(saved[0], &mut png)
        .unwrap_or_else(|e| panic!("download: {e}"));
    assert_eq!(n, png.len() as u64);
    assert_eq!(mime.as_deref(), Some("image/png"));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let on_disk = std::fs::read(output_file(server, saved[0])).expect("the saved file");
    assert_eq!(png, on_disk);
    let mut temp = Vec::new();
    let (_, mime) = c
        .download(previewed[0], &mut temp)
        .unwrap_or_else(|e| panic!("download temp: {e}"));
    assert_eq!(mime.as_deref(), Some("image/png"));
    assert!(temp.starts_with(b"\x89PNG"));

    let mut missing = saved[0].clone();
    missing.filename = "no such file.png".into();
    let e = c
        .download(&missing, &mut Vec::new())
        .expect_err("missing file");
    assert!(matches!(e, ComfyError::Http { status: 404, .. }), "{e}");
}

#[test]
fn partial_execution_targets_run_only_the_named_output() {
    let Some(server) = shared() else { return };
    let c = client(server);
    let client_id = uid();
    let prompt_id = uid();
    let mut ev = events(server, &client_id);
    let prompt = six_node(fresh_color(), false);
    let targets = vec!["5".to_string()];
    let mut request = PromptRequest::new(&prompt, &client_id, &prompt_id);
    request.targets = Some(&targets);
    c.submit(&request).unwrap_or_else(|e| panic!("{e}"));
    let seen = follow(&mut ev, &prompt_id);
    let ran: Vec<&str> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Executing {
                prompt_id: Some(p),
                node: Some(n),
            } if *p == prompt_id => Some(n.as_str()),
            _ => None,
        })
        .collect();
    assert!(ran.contains(&"1") && ran.contains(&"5"), "{ran:?}");
    for skipped in ["2", "3", "4"] {
        assert!(!ran.contains(&skipped), "node {skipped} ran: {ran:?}");
    }
    let entry = history(&c, &prompt_id);
    assert_eq!(entry.outcome, Outcome::Success);
    assert!(!entry.outputs.is_empty());
    assert!(
        entry.outputs.iter().all(|o| o.node == "5"),
        "{:?}",
        entry.outputs
    );
}

#[test]
fn text_outputs_come_back_as_texts() {
    let Some(server) = shared() else { return };
    let c = client(server);
    let (client_id, prompt_id) = (uid(), uid());
    let mut ev = events(server, &client_id);
    let value = format!("hello {{prompt}} {}", fresh_color());
    let prompt = json!({
        "1": {"class_type": "PrimitiveString", "inputs": {"value": value}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}
    });
    submit(&c, &prompt, &client_id, &prompt_id);
    follow(&mut ev, &prompt_id);
    let entry = history(&c, &prompt_id);
    assert_eq!(entry.outcome, Outcome::Success);
    assert_eq!(entry.texts, vec![("2".to_string(), value)]);
    assert!(entry.outputs.is_empty(), "{:?}", entry.outputs);
}

// ---------------------------------------------------------------------------------------
// Rejections and runtime errors
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_class_is_rejected_naming_class_and_node() {
    let Some(server) = shared() else { return };
    let c = client(server);
    let mut prompt = tiny(fresh_color());
    prompt["7"] = json!({"class_type": "VisualpathNoSuchNode", "inputs": {}});
    let id = uid();
    let e = c
        .submit(&PromptRequest::new(&prompt, "nobody", &id))
        .expect_err("rejected");
    let ComfyError::Rejected { url, message } = &e else {
        panic!("expected Rejected, got {e}")
    };
    assert_eq!(url, server.url());
    assert!(
        message.contains("VisualpathNoSuchNode") && message.contains("#7"),
        "{message}"
    );
    assert!(message.starts_with("invalid_prompt:"), "{message}");
    assert!(!e.to_string().contains('\n'));
    assert!(!e.is_unreachable());
    // Nothing was queued.
    assert_eq!(c.history(&id).unwrap_or_else(|e| panic!("{e}")), None);
}

#[test]
fn validation_errors_are_summarised_per_node() {
    let Some(server) = shared() else { return };
    let c = client(server);
    // The only output misses its input: the whole prompt is refused.
    let prompt = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}
    });
    let e = c
        .submit(&PromptRequest::new(&prompt, "nobody", &uid()))
        .expect_err("rejected");
    let msg = e.to_string();
    assert!(matches!(e, ComfyError::Rejected { .. }), "{msg}");
    assert!(msg.contains("prompt_outputs_failed_validation"), "{msg}");
    assert!(
        msg.contains("node 2 (SaveImage): required_input_missing (images)"),
        "{msg}"
    );
    // Two outputs, one invalid: accepted, with node_errors for the invalid branch.
    let (client_id, prompt_id) = (uid(), uid());
    let mut ev = events(server, &client_id);
    let mut prompt = tiny(fresh_color());
    prompt["3"] = json!({"class_type": "EmptyImage", "inputs": {"width": 999999, "height": 64, "batch_size": 1, "color": 0}});
    prompt["4"] =
        json!({"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}});
    let s = c
        .submit(&PromptRequest::new(&prompt, &client_id, &prompt_id))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.has_node_errors());
    let summary = s.node_errors_summary();
    assert!(
        summary.contains("node 3 (EmptyImage): value_bigger_than_max"),
        "{summary}"
    );
    follow(&mut ev, &prompt_id);
    let entry = history(&c, &prompt_id);
    assert_eq!(entry.outcome, Outcome::Success);
    assert!(
        entry.outputs.iter().all(|o| o.node == "2") && !entry.outputs.is_empty(),
        "{:?}",
        entry.outputs
    );
}

#[test]
fn runtime_error_is_an_error_event_and_outcome() {
    let Some(server) = shared() else { return };
    let c = client(server);
    // A garbage "PNG" in the server's input folder passes validation and fails in PIL.
    let name = format!("corrupt-{}.png", uid());
    let input = server.data_dir().expect("data dir").join("input");
    std::fs::create_dir_all(&input).expect("input dir");
    std::fs::write(input.join(&name), b"this is not an image").expect("write the corrupt file");
    let prompt = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": name}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "orch/never"}}
    });
    let (client_id, prompt_id) = (uid(), uid());
    let mut ev = events(server, &client_id);
    submit(&c, &prompt, &client_id, &prompt_id);
    let seen = follow(&mut ev, &prompt_id);
    let error = seen.iter().find_map(|e| match e {
        Event::Error {
            prompt_id: p,
            node_id,
            node_type,
            message,
        } if *p == prompt_id => Some((node_id.clone(), node_type.clone(), message.clone())),
        _ => None,
    });
    let (node_id, node_type, message) =
        error.unwrap_or_else(|| panic!("no error event: {}", summary(&seen)));
    assert_eq!(node_id.as_deref(), Some("1"));
    assert_eq!(node_type.as_deref(), Some("LoadImage"));
    assert!(message.contains("UnidentifiedImageError"), "{message}");
    assert!(!message.contains('\n'));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::Success { prompt_id: p } if *p == prompt_id))
    );
    let entry = history(&c, &prompt_id);
    let Outcome::Error {
        node_id,
        node_type,
        message: m,
    } = &entry.outcome
    else {
        panic!("expected an error outcome, got {:?}", entry.outcome)
    };
    assert_eq!(
        (node_id.as_deref(), node_type.as_deref()),
        (Some("1"), Some("LoadImage"))
    );
    assert_eq!(*m, message);
    assert!(entry.outputs.is_empty());
}

// ---------------------------------------------------------------------------------------
// Queue, delete, interrupt
// ---------------------------------------------------------------------------------------

#[test]
fn queue_shows_running_and_pending_and_delete_removes_pending() {
    let Some(server) = shared() else { return };
    let c = client(server);
    let (client_id, slow_id, quick_id) = (uid(), uid(), uid());
    let mut ev = events(server, &client_id);
    submit(&c, &slow(fresh_color(), 3), &client_id, &slow_id);
    submit(&c, &tiny(fresh_color()), &client_id, &quick_id);
    read_until(
        &mut ev,
        "the slow job's start",
        |e| matches!(e, Event::Start { prompt_id } if *prompt_id == slow_id),
    );
    let q = c.queue().unwrap_or_else(|e| panic!("{e}"));
    let running: Vec<&str> = q.running.iter().map(|i| i.prompt_id.as_str()).collect();
    assert_eq!(running, [slow_id.as_str()], "{q:?}");
    assert!(q.pending.iter().any(|i| i.prompt_id == quick_id), "{q:?}");
    assert!(
        q.pending.windows(2).all(|w| w[0].number <= w[1].number),
        "{q:?}"
    );
    let slow_number = q.running[0].number;
    assert!(q.pending.iter().all(|i| i.number > slow_number), "{q:?}");

    c.delete_pending(&[&quick_id])
        .unwrap_or_else(|e| panic!("{e}"));
    let q = c.queue().unwrap_or_else(|e| panic!("{e}"));
    assert!(!q.contains(&quick_id), "{q:?}");
    assert!(q.running.iter().any(|i| i.prompt_id == slow_id), "{q:?}");
    // Deleting the running prompt (or an unknown id) does nothing.
    c.delete_pending(&[&slow_id, "visualpath-unknown"])
        .unwrap_or_else(|e| panic!("{e}"));
    c.delete_pending(&[]).unwrap_or_else(|e| panic!("{e}"));

    // An interrupt naming another prompt leaves the running one alone.
    c.interrupt(&uid()).unwrap_or_else(|e| panic!("{e}"));
    let seen = follow(&mut ev, &slow_id);
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::Success { prompt_id } if *prompt_id == slow_id)),
        "{}",
        summary(&seen)
    );
    assert!(
        !seen.iter().any(|e| matches!(e, Event::Interrupted { .. })),
        "{}",
        summary(&seen)
    );
    assert_eq!(history(&c, &slow_id).outcome, Outcome::Success);
    // The deleted prompt never ran.
    assert_eq!(c.history(&quick_id).unwrap_or_else(|e| panic!("{e}")), None);
    assert!(
        !c.queue()
            .unwrap_or_else(|e| panic!("{e}"))
            .contains(&quick_id)
    );
}

#[test]
fn interrupt_stops_the_named_running_prompt() {
    let Some(server) = shared() else { return };
    let c = client(server);
    let (client_id, prompt_id) = (uid(), uid());
    let mut ev = events(server, &client_id);
    submit(&c, &slow(fresh_color(), 4), &client_id, &prompt_id);
    // Interrupt while the first blur runs.
    read_until(
        &mut ev,
        "the first blur",
        |e| matches!(e, Event::Executing { prompt_id: Some(p), node: Some(n) } if *p == prompt_id && n == "10"),
    );
    c.interrupt(&prompt_id).unwrap_or_else(|e| panic!("{e}"));
    let seen = follow(&mut ev, &prompt_id);
    let interrupted = seen.iter().find_map(|e| match e {
        Event::Interrupted {
            prompt_id: p,
            node_id,
        } if *p == prompt_id => Some(node_id.clone()),
        _ => None,
    });
    let node = interrupted.unwrap_or_else(|| panic!("no interrupt event: {}", summary(&seen)));
    assert!(
        node.as_deref().is_some_and(|n| n.starts_with('1')),
        "{node:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::Success { prompt_id: p } if *p == prompt_id))
    );
    let entry = history(&c, &prompt_id);
    assert_eq!(entry.outcome, Outcome::Interrupted);
    assert!(entry.outputs.is_empty(), "{:?}", entry.outputs);
    assert!(
        !c.queue()
            .unwrap_or_else(|e| panic!("{e}"))
            .contains(&prompt_id)
    );
}

// ---------------------------------------------------------------------------------------
// Backend death and restart (a server of its own)
// ---------------------------------------------------------------------------------------

#[test]
fn killed_server_is_unreachable_and_restart_forgets_history() {
    let Some(mut server) = Server::comfyui() else {
        return;
    };
    let (port, data_dir) = (server.port(), server.data_dir().map(PathBuf::from));
    let c = client(&server).with_timeout(Duration::from_secs(5));
    let client_id = uid();
    let mut ev = events(&server, &client_id);

    // A finished prompt with an output file, then a slow one that is running.
    let (done_id, slow_id) = (uid(), uid());
    submit(&c, &tiny(fresh_color()), &client_id, &done_id);
    follow(&mut ev, &done_id);
    let done = history(&c, &done_id);
    assert_eq!(done.outcome, Outcome::Success);
    let file = output_file(&server, &done.outputs[0]);
    assert!(file.is_file(), "{}", file.display());
    submit(&c, &slow(fresh_color(), 6), &client_id, &slow_id);
    read_until(
        &mut ev,
        "the slow job's start",
        |e| matches!(e, Event::Start { prompt_id } if *prompt_id == slow_id),
    );

    server.kill();
    // The WebSocket reports the death (bounded by the safety limit, not timed).
    let deadline = Instant::now() + SAFETY;
    let closed = loop {
        match ev.next() {
            Ok(_) if Instant::now() < deadline => continue,
            Ok(e) => panic!("no error after the kill, last: {e:?}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(closed, ComfyError::Closed { .. }), "{closed}");
    assert!(closed.is_unreachable());
    assert!(closed.to_string().contains(server.url()), "{closed}");
    let again = ev.next().expect_err("still closed");
    assert!(again.is_unreachable(), "{again}");

    for e in [
        c.queue().map(|_| ()).expect_err("queue"),
        c.history(&slow_id).map(|_| ()).expect_err("history"),
        c.submit(&PromptRequest::new(&tiny(1), &client_id, &uid()))
            .map(|_| ())
            .expect_err("submit"),
        c.interrupt(&slow_id).expect_err("interrupt"),
        Events::connect(server.url(), &client_id, TICK)
            .map(|_| ())
            .expect_err("connect"),
    ] {
        assert!(e.is_unreachable(), "{e}");
        assert!(matches!(e, ComfyError::Connect { .. }), "{e}");
        assert!(e.to_string().contains(server.url()), "{e}");
    }

    server.restart();
    assert_eq!(server.port(), port);
    assert_eq!(server.data_dir().map(PathBuf::from), data_dir);
    // The same client works again; the restarted server remembers nothing.
    assert!(c.system_stats().is_ok());
    assert_eq!(c.history(&done_id).unwrap_or_else(|e| panic!("{e}")), None);
    assert_eq!(c.history(&slow_id).unwrap_or_else(|e| panic!("{e}")), None);
    let q = c.queue().unwrap_or_else(|e| panic!("{e}"));
    assert!(q.running.is_empty() && q.pending.is_empty(), "{q:?}");
    // Outputs live on in the (kept) base directory.
    assert!(file.is_file(), "{}", file.display());
    // And it runs prompts again.
    let mut ev = events(&server, &client_id);
    let after = uid();
    submit(&c, &tiny(fresh_color()), &client_id, &after);
    follow(&mut ev, &after);
    assert_eq!(history(&c, &after).outcome, Outcome::Success);
}
