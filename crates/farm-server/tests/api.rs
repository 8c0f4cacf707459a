//! The REST and WebSocket API over HTTP, with a token, against a real ComfyUI backend.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use visualpath_testkit::Server;

mod common;
use common::{Service, agent};

const TOKEN: &str = "s3cret-token";

/// (status, JSON body or Null, raw bytes)
fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value, Vec<u8>) {
    let a = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    let resp = match (method, body) {
        ("GET", _) => {
            let mut r = a.get(url);
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.call()
        }
        ("DELETE", _) => {
            let mut r = a.delete(url);
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.call()
        }
        (_, b) => {
            let mut r = a.post(url).header("Content-Type", "application/json");
            if let Some(h) = &auth {
                r = r.header("Authorization", h);
            }
            r.send(b.unwrap_or("{}"))
        }
    };
    let mut resp = resp.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.body_mut().read_to_vec().unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v, bytes)
}

#[test]
fn rest_and_websocket_with_a_token() {
    let Some(comfy) = Server::comfyui() else {
        visualpath_testkit::skip(
            "rest_and_websocket_with_a_token",
            "no ComfyUI install (run scripts/comfyui.sh)",
        );
        return;
    };
    let svc = Service::start(TOKEN);
    let api = format!("{}/api/farm", svc.base);

    // The page needs no token; the API does.
    let (s, _, page) = call("GET", &format!("{}/farm", svc.base), None, None);
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&page).contains("id=\"backends\""));
    let (s, v, _) = call("GET", &format!("{api}/stats"), None, None);
    assert_eq!(s, 401);
    assert!(v["error"].as_str().unwrap().contains("token"));
    let (s, _, _) = call("GET", &format!("{api}/stats"), Some("wrong"), None);
    assert_eq!(s, 401);
    let (s, v, _) = call("GET", &format!("{api}/stats?token={TOKEN}"), None, None);
    assert_eq!(s, 200, "{v}");
    let t = Some(TOKEN);

    // Register the backend over the API; bad input gets a one-line 400.
    let (s, v, _) = call(
        "POST",
        &format!("{api}/backends"),
        t,
        Some(&json!({"name": "b1", "url": comfy.url(), "tags": ["cpu"]}).to_string()),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["name"], "b1");
    let (s, v, _) = call(
        "POST",
        &format!("{api}/backends"),
        t,
        Some(r#"{"name": "x", "url": "ftp://nope"}"#),
    );
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("x"), "{v}");
    let (s, v, _) = call("POST", &format!("{api}/jobs"), t, Some("{\"workflow\": "));
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("line 1"), "{v}");

    let t0 = Instant::now();
    loop {
        let (_, v, _) = call("GET", &format!("{api}/backends"), t, None);
        let b = &v["backends"][0];
        if b["health"] == "healthy" && b["classes"].as_u64().unwrap_or(0) > 0 {
            assert!(b["comfyui_version"].is_string(), "{b}");
            assert!(b["ram_total"].as_u64().unwrap() > 0);
            assert!(!b["devices"].as_array().unwrap().is_empty(), "{b}");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(90), "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Follow the events of one job over the WebSocket.
    let ws_url = format!(
        "{}/api/farm/ws?token={TOKEN}",
        svc.base.replace("http", "ws")
    );
    let (mut ws, _) = tungstenite::connect(ws_url.as_str()).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    }
    let wf = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 256, "batch_size": 2, "color": 0}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 5, "sigma": 2.0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "api/x"}},
        // Streams its images as binary previews over the backend's WebSocket.
        "4": {"class_type": "SaveImageWebsocket", "inputs": {"images": ["2", 0]}}
    });
    let (s, v, _) = call(
        "POST",
        &format!("{api}/jobs"),
        t,
        Some(&json!({"workflow": wf, "name": "api job"}).to_string()),
    );
    assert_eq!(s, 201, "{v}");
    let id = v["jobs"][0].as_i64().unwrap();
    let mut states = Vec::new();
    let mut progress = 0;
    let mut previews = Vec::new();
    while !states
        .iter()
        .any(|s: &String| s == "succeeded" || s == "failed")
    {
        let msg = ws.read().unwrap();
        let tungstenite::Message::Text(text) = msg else {
            continue;
        };
        let ev: Value = serde_json::from_str(&text).unwrap();
        match ev["type"].as_str().unwrap() {
            "job" if ev["job"]["id"] == id => {
                states.push(ev["job"]["state"].as_str().unwrap().to_string())
            }
            "progress" if ev["job"] == id => {
                assert!(ev["max"].as_u64().unwrap() >= ev["value"].as_u64().unwrap());
                progress += 1
            }
            "preview" if ev["job"] == id => previews.push(ev["url"].as_str().unwrap().to_string()),
            _ => {}
        }
    }
    assert_eq!(states.first().map(String::as_str), Some("queued"));
    assert!(states.contains(&"running".to_string()), "{states:?}");
    assert_eq!(states.last().map(String::as_str), Some("succeeded"));
    assert!(progress > 0, "progress events relayed");
    // SaveImageWebsocket sent each of its 2 images as a preview; they were relayed.
    assert_eq!(previews.len(), 2, "{previews:?}");
    assert!(previews[0].starts_with(&format!("/api/farm/jobs/{id}/preview?n=")));
    let _ = ws.close(None);

    // The job, its outputs over HTTP, and the state rules.
    let (s, j, _) = call("GET", &format!("{api}/jobs/{id}"), t, None);
    assert_eq!(s, 200);
    assert_eq!(j["name"], "api job");
    assert_eq!(j["detail"]["attempts"][0]["backend"], "b1");
    assert_eq!(j["detail"]["plan"]["outputs"], json!(["3", "4"]));
    let url = j["outputs"][0]["url"].as_str().unwrap();
    let (s, _, png) = call("GET", &format!("{}{url}", svc.base), t, None);
    assert_eq!(s, 200);
    assert_eq!(&png[..4], b"\x89PNG");
    let (s, v, _) = call("POST", &format!("{api}/jobs/{id}/cancel"), t, None);
    assert_eq!(s, 409, "{v}");
    let (s, _, _) = call("GET", &format!("{api}/jobs/999999"), t, None);
    assert_eq!(s, 404);
    let (s, v, _) = call("GET", &format!("{api}/jobs?state=nope"), t, None);
    assert_eq!(s, 400, "{v}");
    let (s, v, _) = call("GET", &format!("{api}/jobs?state=succeeded"), t, None);
    assert_eq!(s, 200);
    assert_eq!(v["jobs"].as_array().unwrap().len(), 1);
    let (s, v, _) = call("GET", &format!("{api}/stats"), t, None);
    assert_eq!(s, 200);
    assert_eq!(v["counts"]["succeeded"], 1);
    let (s, _, _) = call("DELETE", &format!("{api}/backends/b1"), t, None);
    assert_eq!(s, 204);
    let (s, _, _) = call("DELETE", &format!("{api}/backends/b1"), t, None);
    assert_eq!(s, 404);
}
