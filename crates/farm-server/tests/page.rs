//! The farm page (`GET /farm`) driven end to end in headless Chromium over the Chrome
//! DevTools Protocol, against a token-protected service and a real ComfyUI backend.
//!
//! The page is exercised the way a person uses it: it asks for the token, the backend is
//! registered through its form, jobs move between the Queue, Running and Finished lists as
//! the WebSocket reports them, a queued job is cancelled with its button and the outputs of
//! a finished job load as images.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use visualpath_testkit::Server;

mod common;
use common::{Service, agent};

const TOKEN: &str = "page-s3cret";
/// How long any one condition on the page may take to become true.
const DEADLINE: Duration = Duration::from_secs(60);

/// GET or POST (with a JSON body) with the token; (status, JSON body or Null).
fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let a = agent();
    let auth = format!("Bearer {TOKEN}");
    let resp = match body {
        None if method == "GET" => a.get(url).header("Authorization", &auth).call(),
        b => a
            .post(url)
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(b.unwrap_or(json!({})).to_string()),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let bytes = resp.body_mut().read_to_vec().unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

// ---------------------------------------------------------------------------
// A tiny Chrome DevTools Protocol client
// ---------------------------------------------------------------------------

type Socket = tungstenite::WebSocket<MaybeTlsStream<TcpStream>>;

/// A headless Chromium with one page attached over CDP; killed on drop (also on panic).
struct Browser {
    child: Child,
    ws: Option<Socket>,
    next_id: u64,
    /// The last lines Chromium wrote to stderr, for failure messages.
    log: Arc<Mutex<Vec<String>>>,
    /// `Runtime.exceptionThrown` events seen so far (uncaught errors in the page).
    exceptions: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close(None);
        }
        // Chromium runs in its own process group: end the renderer and helpers with it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium on a fresh profile and attaches to its page target.
    fn launch(program: &std::path::Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1024",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let mut browser = Browser {
            child,
            ws: None,
            next_id: 0,
            log: Arc::new(Mutex::new(Vec::new())),
            exceptions: Vec::new(),
            _profile: profile,
        };

        // Drain stderr for the whole run; hand over the DevTools line when it shows up.
        let stderr = browser.child.stderr.take().unwrap();
        let (found_tx, found_rx) = std::sync::mpsc::sync_channel::<String>(1);
        let log = browser.log.clone();
        std::thread::spawn(move || {
            let mut found = Some(found_tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("DevTools listening on ").nth(1)
                    && let Some(tx) = found.take()
                {
                    let _ = tx.send(rest.trim().to_string());
                }
                let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                if log.len() >= 200 {
                    log.remove(0);
                }
                log.push(line);
            }
        });
        let browser_ws = found_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "Chromium printed no `DevTools listening on` line; stderr:\n{}",
                    browser.log_tail()
                )
            });
        // ws://127.0.0.1:PORT/devtools/browser/ID -> 127.0.0.1:PORT
        let host = browser_ws
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("unexpected DevTools address {browser_ws}"))
            .to_string();

        let page_ws = Self::page_target(&host);
        let (ws, _) = tungstenite::connect(page_ws.as_str())
            .unwrap_or_else(|e| panic!("CDP connect {page_ws}: {e}"));
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        }
        browser.ws = Some(ws);
        browser.cmd("Runtime.enable", json!({}));
        browser.cmd("Page.enable", json!({}));
        browser
    }

    /// The webSocketDebuggerUrl of a page target: the initial tab, or a new one.
    fn page_target(host: &str) -> String {
        let mut r = agent()
            .get(&format!("http://{host}/json/list"))
            .call()
            .unwrap_or_else(|e| panic!("GET /json/list: {e}"));
        let body = r.body_mut().read_to_vec().unwrap();
        let list: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let page = list
            .as_array()
            .and_then(|l| l.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .map(str::to_string);
        if let Some(url) = page {
            return url;
        }
        let mut r = agent()
            .put(&format!("http://{host}/json/new?about:blank"))
            .send_empty()
            .unwrap_or_else(|e| panic!("PUT /json/new: {e}"));
        let body = r.body_mut().read_to_vec().unwrap();
        let target: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        target["webSocketDebuggerUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("no webSocketDebuggerUrl in {target} (list: {list})"))
            .to_string()
    }

    fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log[log.len().saturating_sub(30)..].join("\n")
    }

    /// Sends one CDP command and returns its `result`; events read meanwhile are noted.
    fn try_cmd(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let ws = self.ws.as_mut().ok_or("no CDP connection")?;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        ws.send(tungstenite::Message::text(msg))
            .map_err(|e| format!("CDP send {method}: {e}"))?;
        loop {
            let msg = ws.read().map_err(|e| format!("CDP read ({method}): {e}"))?;
            let tungstenite::Message::Text(text) = msg else {
                continue;
            };
            let v: Value =
                serde_json::from_str(&text).map_err(|e| format!("CDP message {text}: {e}"))?;
            if v["id"] == id {
                if !v["error"].is_null() {
                    return Err(format!("CDP {method}: {}", v["error"]));
                }
                return Ok(v["result"].clone());
            }
            if v["method"] == "Runtime.exceptionThrown" {
                let d = &v["params"]["exceptionDetails"];
                let what = d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str())
                    .unwrap_or("?");
                self.exceptions.push(format!(
                    "{what} (line {}, column {})",
                    d["lineNumber"], d["columnNumber"]
                ));
            }
        }
    }

    fn cmd(&mut self, method: &str, params: Value) -> Value {
        self.try_cmd(method, params)
            .unwrap_or_else(|e| panic!("{e}; Chromium stderr:\n{}", self.log_tail()))
    }

    /// Evaluates `expr` in the page (awaiting a promise) and returns its value.
    fn try_eval(&mut self, expr: &str) -> Result<Value, String> {
        let r = self.try_cmd(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(d) = r.get("exceptionDetails") {
            let what = d["exception"]["description"]
                .as_str()
                .or(d["text"].as_str())
                .unwrap_or("?");
            return Err(format!("`{expr}` threw {what}"));
        }
        Ok(r["result"]["value"].clone())
    }

    fn eval(&mut self, expr: &str) -> Value {
        self.try_eval(expr)
            .unwrap_or_else(|e| panic!("{e}\npage:\n{}", self.page_text()))
    }

    /// The page's visible text (truncated), for failure messages.
    fn page_text(&mut self) -> String {
        match self.try_eval("document.body ? document.body.innerText : '(no body)'") {
            Ok(Value::String(s)) => s.chars().take(3000).collect(),
            Ok(v) => v.to_string(),
            Err(e) => format!("(cannot read the page: {e})"),
        }
    }

    /// Polls `expr` until it is truthy; returns that value, or panics after [`DEADLINE`]
    /// naming `what` and showing the page text.
    fn wait_for(&mut self, what: &str, expr: &str) -> Value {
        let t0 = Instant::now();
        loop {
            let last = match self.try_eval(expr) {
                Ok(v) if truthy(&v) => return v,
                Ok(v) => v,
                Err(e) => Value::String(e),
            };
            if t0.elapsed() > DEADLINE {
                let text = self.page_text();
                panic!(
                    "timed out waiting for {what}\n  condition: {expr}\n  last value: {last}\n\
                     page exceptions: {:?}\npage text:\n{text}",
                    self.exceptions
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn navigate(&mut self, url: &str) {
        let r = self.cmd("Page.navigate", json!({"url": url}));
        assert!(
            r["errorText"].is_null(),
            "navigating to {url}: {}",
            r["errorText"]
        );
        self.wait_for("the page to load", "document.readyState === 'complete'");
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// A JS string literal.
fn js(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// JS: the number in the header count of `state` (e.g. "succeeded").
fn count_expr(state: &str) -> String {
    format!(
        "(() => {{ const b = document.querySelector('#counts .count[data-state={}] b'); \
         return b ? Number(b.textContent) : -1; }})()",
        js(state)
    )
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn farm_page_in_headless_chromium() {
    let Some(chromium) = visualpath_testkit::find_program("chromium") else {
        visualpath_testkit::skip("farm_page_in_headless_chromium", "no chromium on PATH");
        return;
    };
    let Some(comfy) = Server::comfyui() else {
        visualpath_testkit::skip(
            "farm_page_in_headless_chromium",
            "no ComfyUI install (run scripts/comfyui.sh)",
        );
        return;
    };
    let svc = Service::start(TOKEN);
    let api = format!("{}/api/farm", svc.base);
    let mut b = Browser::launch(&chromium);

    // Without a token the page asks for one and says why.
    b.navigate(&format!("{}/farm", svc.base));
    b.wait_for(
        "the token form",
        "!document.getElementById('auth').hidden && \
         document.getElementById('notice').textContent.includes('token')",
    );
    assert_ne!(
        b.eval("document.getElementById('conn').dataset.state"),
        "connected"
    );

    // Type the token and submit the form the way a click does.
    let filled = b.eval(&format!(
        "(() => {{ const i = document.getElementById('auth-token'); i.value = {}; \
         const btn = document.querySelector('#auth-form button[type=submit]'); \
         if (!btn) return false; btn.click(); return true; }})()",
        js(TOKEN)
    ));
    assert_eq!(filled, true, "the token form has a submit button");
    b.wait_for(
        "the form to hide and the WebSocket to connect",
        "document.getElementById('auth').hidden && \
         document.getElementById('conn').dataset.state === 'connected' && \
         document.getElementById('notice').textContent === ''",
    );
    assert_eq!(
        b.eval("localStorage.getItem('visualpath.farm.token')"),
        TOKEN,
        "the token is kept for the next visit"
    );
    assert_eq!(b.eval("document.getElementById('auth-token').value"), "");

    // Register the backend through the page's form.
    let filled = b.eval(&format!(
        "(() => {{ const f = document.getElementById('backend-form'); \
         f.elements.name.value = 'b1'; f.elements.url.value = {}; \
         f.elements.tags.value = 'cpu, test'; \
         const btn = f.querySelector('button[type=submit]'); \
         if (!btn) return false; btn.click(); return true; }})()",
        js(comfy.url())
    ));
    assert_eq!(filled, true, "the backend form has a submit button");
    b.wait_for(
        "the b1 card",
        "document.querySelector('[data-backend=\"b1\"]') !== null",
    );
    assert_eq!(
        b.eval("document.getElementById('backend-form').elements.name.value"),
        "",
        "the form is reset after registering"
    );
    let (s, v) = call("GET", &format!("{api}/backends"), None);
    assert_eq!(s, 200, "{v}");
    let b1 = &v["backends"][0];
    assert_eq!(b1["name"], "b1", "{v}");
    assert_eq!(b1["url"], comfy.url(), "{v}");
    assert_eq!(b1["tags"], json!(["cpu", "test"]), "{v}");
    assert_eq!(b1["max_concurrent"], 1, "{v}");

    // 1. The card turns healthy and shows the catalogue it reported.
    b.wait_for(
        "b1 healthy with its node classes",
        "(() => { const c = document.querySelector('[data-backend=\"b1\"]'); \
         return !!c && c.dataset.health === 'healthy' && \
         /[1-9][0-9]* node classes/.test(c.textContent) && \
         c.querySelector('.badge.health-healthy') !== null; })()",
    );
    assert_eq!(b.eval(&count_expr("backends")), 1);

    // 2. A slow job and a quick one behind it (b1 runs one job at a time).
    let slow_wf = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 2, "color": 0}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 31, "sigma": 10.0}},
        "3": {"class_type": "ImageBlur", "inputs": {"image": ["2", 0], "blur_radius": 31, "sigma": 10.0}},
        "4": {"class_type": "ImageBlur", "inputs": {"image": ["3", 0], "blur_radius": 31, "sigma": 10.0}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0], "filename_prefix": "page/slow"}}
    });
    let quick_wf = json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 255}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "page/quick"}}
    });
    let (s, v) = call(
        "POST",
        &format!("{api}/jobs"),
        Some(json!({"workflow": slow_wf, "name": "slow blur"})),
    );
    assert_eq!(s, 201, "{v}");
    let slow = v["jobs"][0].as_i64().unwrap();
    let (s, v) = call(
        "POST",
        &format!("{api}/jobs"),
        Some(json!({"workflow": quick_wf, "name": "quick one"})),
    );
    assert_eq!(s, 201, "{v}");
    let quick = v["jobs"][0].as_i64().unwrap();

    let slow_row = format!("#running li.job[data-job=\"{slow}\"][data-state=\"running\"]");
    let slow_bar = format!("#running progress[data-job=\"{slow}\"]");
    let quick_queued = format!("#queue li.job[data-job=\"{quick}\"][data-state=\"queued\"]");
    b.wait_for(
        "the slow job running with its progress above 0, the quick one queued",
        &format!(
            "(() => {{ const r = document.querySelector('{slow_row}'); \
             const p = document.querySelector('{slow_bar}'); \
             return !!r && !!p && p.value > 0 && \
             document.querySelector('{quick_queued}') !== null; }})()"
        ),
    );
    let running = b.eval(&format!(
        "(() => {{ const r = document.querySelector('{slow_row}'); \
         const p = document.querySelector('{slow_bar}'); \
         return {{ text: r.textContent, max: p.max, value: p.value, \
         label: p.nextElementSibling ? p.nextElementSibling.textContent : '' }}; }})()"
    ));
    let text = running["text"].as_str().unwrap_or("");
    assert!(text.contains("slow blur"), "{running}");
    assert!(text.contains("on b1"), "{running}");
    // Progress counts the workflow's 5 nodes.
    assert_eq!(running["max"], 5, "{running}");
    let value = running["value"].as_f64().unwrap_or(0.0);
    assert!(value > 0.0 && value <= 5.0, "{running}");
    assert!(
        running["label"].as_str().unwrap_or("").contains("/5"),
        "{running}"
    );
    assert_eq!(b.eval(&count_expr("running")), 1);
    assert_eq!(b.eval(&count_expr("queued")), 1);

    // 3. Cancel the queued quick job with its button.
    let clicked = b.eval(&format!(
        "(() => {{ const btn = document.querySelector('{quick_queued} button[data-action=\"cancel\"]'); \
         if (!btn) return false; btn.click(); return true; }})()"
    ));
    assert_eq!(
        clicked, true,
        "the quick job is still queued with a cancel button"
    );
    b.wait_for(
        "the quick job cancelled in Finished",
        &format!(
            "document.querySelector('#finished li.job[data-job=\"{quick}\"][data-state=\"cancelled\"] .state') !== null && \
             document.querySelector('#queue li.job[data-job=\"{quick}\"]') === null"
        ),
    );
    assert_eq!(
        b.eval(&format!(
            "document.querySelector('#finished li.job[data-job=\"{quick}\"] .state').textContent"
        )),
        "cancelled"
    );
    assert_eq!(
        b.eval(&format!(
            "document.querySelector('#finished li.job[data-job=\"{quick}\"] button[data-action=\"retry\"]') !== null"
        )),
        true,
        "a cancelled job offers retry"
    );
    let (s, v) = call("GET", &format!("{api}/jobs/{quick}"), None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "cancelled", "{v}");
    assert!(v["outputs"].as_array().is_none_or(Vec::is_empty), "{v}");

    // 4. The slow job succeeds; its two images load from the gallery.
    b.wait_for(
        "the slow job succeeded in Finished",
        &format!(
            "document.querySelector('#finished li.job[data-job=\"{slow}\"][data-state=\"succeeded\"]') !== null && \
             document.querySelector('#running li.job[data-job=\"{slow}\"]') === null"
        ),
    );
    let n = b.wait_for(
        "two output images in the gallery",
        "(() => { const imgs = document.querySelectorAll('#outputs img.output'); \
         imgs.forEach((i) => i.scrollIntoView()); return imgs.length === 2 ? 2 : 0; })()",
    );
    assert_eq!(n, 2);
    let imgs = b.wait_for(
        "the output images to load",
        "(() => { const imgs = Array.from(document.querySelectorAll('#outputs img.output')); \
         if (!imgs.every((i) => i.complete && i.naturalWidth > 0)) return null; \
         return imgs.map((i) => ({ src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight })); })()",
    );
    for img in imgs.as_array().unwrap() {
        assert_eq!(img["w"], 512, "{imgs}");
        assert_eq!(img["h"], 512, "{imgs}");
        let src = img["src"].as_str().unwrap_or("");
        assert!(
            src.starts_with(&format!("/api/farm/outputs/{slow}/")),
            "{imgs}"
        );
        assert!(src.contains(&format!("token={TOKEN}")), "{imgs}");
    }
    let caption = b.eval("document.querySelector('#outputs figcaption').textContent");
    assert!(
        caption.as_str().unwrap_or("").contains("slow blur"),
        "{caption}"
    );

    // The header counts agree with the API.
    b.wait_for(
        "the header counts",
        &format!(
            "{} === 1 && {} === 1 && {} === 0 && {} === 0 && {} === 0",
            count_expr("succeeded"),
            count_expr("cancelled"),
            count_expr("running"),
            count_expr("queued"),
            count_expr("failed")
        ),
    );
    let (s, v) = call("GET", &format!("{api}/stats"), None);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["counts"]["succeeded"], 1, "{v}");
    assert_eq!(v["counts"]["cancelled"], 1, "{v}");
    let (_, v) = call("GET", &format!("{api}/jobs/{slow}"), None);
    assert_eq!(v["state"], "succeeded", "{v}");
    assert_eq!(v["outputs"].as_array().map_or(0, Vec::len), 2, "{v}");

    assert_eq!(
        b.eval("document.getElementById('notice').textContent"),
        "",
        "no error notice"
    );
    assert!(
        b.exceptions.is_empty(),
        "uncaught errors in the page: {:?}",
        b.exceptions
    );
}
