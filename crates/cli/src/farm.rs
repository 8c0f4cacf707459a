//! `visualpath farm serve|submit|status|cancel|retry|priority|backends`.
//!
//! `serve` runs the orchestrator in this process; the other commands are clients of a
//! serving farm's REST API (`--url`, token from `VISUALPATH_FARM_TOKEN`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use visualpath_farm::job::DEFAULT_MAX_RETRIES;
use visualpath_farm_server::{Farm, FarmConfig, NewBackend};

const DEFAULT_URL: &str = "http://127.0.0.1:8190";

/// Subcommands of `visualpath farm`.
#[derive(clap::Subcommand, Debug)]
pub enum FarmCmd {
    /// Run the orchestrator: durable queue, dispatch to ComfyUI backends, REST/WebSocket
    /// API and the farm page (http://ADDR/farm).
    Serve {
        /// Address to listen on. Anything but loopback needs a token.
        #[arg(long, default_value = "127.0.0.1:8190")]
        bind: SocketAddr,
        /// Folder for the SQLite store (farm.sqlite) and the outputs (outputs/<job>/).
        #[arg(long, default_value = "farm-data")]
        data: PathBuf,
        /// Register a backend at start: NAME=URL (e.g. gpu0=http://10.0.0.5:8188).
        /// Registered backends are stored and come back on every start.
        #[arg(long = "backend", value_name = "NAME=URL")]
        backends: Vec<String>,
        /// Environment variable holding the API token (required by every /api request
        /// when set and non-empty).
        #[arg(long, default_value = "VISUALPATH_FARM_TOKEN")]
        token_env: String,
        /// How often each backend is probed, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        poll_ms: u64,
    },
    /// Queue a ComfyUI workflow (API format .json; UI format is converted).
    Submit {
        /// The workflow file.
        workflow: PathBuf,
        /// A parameter: NAME=VALUE (VALUE as JSON when it parses, e.g. 42, true, "x"; else text).
        #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// A sweep axis: NAME=V1,V2,... (one job per combination of all --grid axes).
        #[arg(long = "grid", value_name = "NAME=V1,V2")]
        grid: Vec<String>,
        /// Higher runs first.
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        priority: i64,
        /// Output node ids to run (comma-separated); all outputs by default.
        #[arg(long, value_delimiter = ',')]
        outputs: Vec<String>,
        /// Tags a backend must have (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// The backend pool to run in.
        #[arg(long)]
        pool: Option<String>,
        /// Extra attempts after a failure or a lost backend.
        #[arg(long, default_value_t = DEFAULT_MAX_RETRIES)]
        retries: u32,
        /// A name for the job (or the batch).
        #[arg(long)]
        name: Option<String>,
        /// Wait for the jobs to finish and print their outputs.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// One job in detail, or the queue.
    Status {
        job: Option<i64>,
        /// Only these states (comma-separated: queued,running,succeeded,failed,cancelled).
        #[arg(long)]
        state: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Cancel a queued or running job.
    Cancel {
        job: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Put a failed or cancelled job back in the queue.
    Retry {
        job: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// Change a job's priority.
    Priority {
        job: i64,
        #[arg(allow_hyphen_values = true)]
        priority: i64,
        #[command(flatten)]
        remote: Remote,
    },
    /// The backends: list (default), add, remove.
    Backends {
        #[command(subcommand)]
        cmd: Option<BackendsCmd>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum BackendsCmd {
    /// Health, load and capabilities of every backend.
    List,
    /// Register a ComfyUI server.
    Add {
        name: String,
        /// http://HOST:PORT of the ComfyUI server.
        url: String,
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long)]
        pool: Option<String>,
        #[arg(long, default_value_t = 1.0)]
        weight: f64,
        #[arg(long, default_value_t = 1)]
        max_concurrent: u32,
    },
    /// Unregister a backend (its running jobs finish).
    Remove { name: String },
}

/// Where the farm is.
#[derive(clap::Args, Debug, Clone)]
pub struct Remote {
    /// The farm's address.
    #[arg(long, env = "VISUALPATH_FARM_URL", default_value = DEFAULT_URL)]
    url: String,
}

pub fn farm(cmd: FarmCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        FarmCmd::Serve {
            bind,
            data,
            backends,
            token_env,
            poll_ms,
        } => serve(bind, &data, &backends, &token_env, poll_ms),
        FarmCmd::Submit {
            workflow,
            params,
            grid,
            priority,
            outputs,
            tags,
            pool,
            retries,
            name,
            wait,
            remote,
        } => {
            let api = Api::new(&remote)?;
            let text = std::fs::read_to_string(&workflow)
                .with_context(|| format!("cannot read workflow {}", workflow.display()))?;
            let wf: Value = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}:{}: not JSON: {e}",
                    workflow.display(),
                    e.line(),
                    e.column()
                )
            })?;
            let mut body = json!({
                "workflow": wf,
                "params": parse_params(&params)?,
                "priority": priority,
                "tags": tags,
                "pool": pool,
                "max_retries": retries,
                "name": name,
            });
            if !outputs.is_empty() {
                body["outputs"] = json!(outputs);
            }
            if !grid.is_empty() {
                body["sweep"] = json!({ "grid": parse_grid(&grid)? });
            }
            let r = api.post("/jobs", &body)?;
            let ids: Vec<i64> = serde_json::from_value(r["jobs"].clone()).unwrap_or_default();
            match r["batch"].as_i64() {
                Some(b) => println!("batch {b}: jobs {}", join(&ids)),
                None => println!("job {}", join(&ids)),
            }
            if wait {
                return wait_for(&api, &ids);
            }
            Ok(ExitCode::SUCCESS)
        }
        FarmCmd::Status {
            job,
            state,
            json,
            remote,
        } => {
            let api = Api::new(&remote)?;
            match job {
                Some(id) => {
                    let j = api.get(&format!("/jobs/{id}"))?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&j)?);
                    } else {
                        print_job_detail(&j);
                    }
                }
                None => {
                    let q = match &state {
                        Some(s) => format!("/jobs?limit=100&state={s}"),
                        None => "/jobs?limit=100".to_string(),
                    };
                    let r = api.get(&q)?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&r)?);
                    } else {
                        let stats = api.get("/stats")?;
                        print_counts(&stats["counts"]);
                        for j in r["jobs"].as_array().into_iter().flatten() {
                            print_job_line(j);
                        }
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FarmCmd::Cancel { job, remote } => {
            let r = Api::new(&remote)?.post(&format!("/jobs/{job}/cancel"), &json!({}))?;
            match r["state"].as_str() {
                Some("running") => {
                    println!(
                        "job {job}: interrupt sent; it becomes cancelled when its backend stops it"
                    )
                }
                _ => println!("job {job}: cancelled"),
            }
            Ok(ExitCode::SUCCESS)
        }
        FarmCmd::Retry { job, remote } => {
            Api::new(&remote)?.post(&format!("/jobs/{job}/retry"), &json!({}))?;
            println!("job {job}: queued again");
            Ok(ExitCode::SUCCESS)
        }
        FarmCmd::Priority {
            job,
            priority,
            remote,
        } => {
            Api::new(&remote)?.post(
                &format!("/jobs/{job}/priority"),
                &json!({ "priority": priority }),
            )?;
            println!("job {job}: priority {priority}");
            Ok(ExitCode::SUCCESS)
        }
        FarmCmd::Backends { cmd, remote } => {
            let api = Api::new(&remote)?;
            match cmd.unwrap_or(BackendsCmd::List) {
                BackendsCmd::List => {
                    let r = api.get("/backends")?;
                    let list = r["backends"].as_array().cloned().unwrap_or_default();
                    if list.is_empty() {
                        println!("no backends (add one: visualpath farm backends add NAME URL)");
                    }
                    for b in list {
                        print_backend(&b);
                    }
                }
                BackendsCmd::Add {
                    name,
                    url,
                    tags,
                    pool,
                    weight,
                    max_concurrent,
                } => {
                    let b = api.post(
                        "/backends",
                        &json!({"name": name, "url": url, "tags": tags, "pool": pool,
                                "weight": weight, "max_concurrent": max_concurrent}),
                    )?;
                    print_backend(&b);
                }
                BackendsCmd::Remove { name } => {
                    api.delete(&format!("/backends/{name}"))?;
                    println!("backend {name}: removed");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn serve(
    bind: SocketAddr,
    data: &Path,
    backends: &[String],
    token_env: &str,
    poll_ms: u64,
) -> anyhow::Result<ExitCode> {
    let token = std::env::var(token_env).ok().filter(|t| !t.is_empty());
    if token.is_none() && !visualpath_farm_server::api::is_loopback(&bind) {
        bail!(
            "--bind {bind}: serving beyond this machine needs a token; set {token_env} (or bind 127.0.0.1)"
        );
    }
    let mut specs = Vec::new();
    for b in backends {
        let (name, url) = b.split_once('=').with_context(|| {
            format!("--backend `{b}`: expected NAME=URL, e.g. gpu0=http://127.0.0.1:8188")
        })?;
        specs.push(NewBackend {
            name: name.to_string(),
            url: url.to_string(),
            tags: Vec::new(),
            pool: None,
            weight: 1.0,
            max_concurrent: 1,
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(bind))
        .with_context(|| format!("--bind {bind}: cannot listen there"))?;
    let mut cfg = FarmConfig::new(data);
    cfg.poll_interval = Duration::from_millis(poll_ms.max(50));
    let farm = Farm::start(cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    for b in &specs {
        farm.add_backend(b)
            .map_err(|e| anyhow::anyhow!("--backend {}: {e}", b.name))?;
    }
    let addr = listener.local_addr().unwrap_or(bind);
    eprintln!(
        "farm: serving http://{addr}/farm (API http://{addr}/api/farm, data {}){}",
        data.display(),
        if token.is_some() {
            ", token required"
        } else {
            ""
        }
    );
    let f = farm.clone();
    let result = rt.block_on(visualpath_farm_server::api::serve(
        f,
        listener,
        token,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ));
    farm.shutdown();
    result.context("the farm's HTTP server failed")?;
    Ok(ExitCode::SUCCESS)
}

/// NAME=VALUE, VALUE as JSON when it parses, else as text.
fn parse_value(v: &str) -> Value {
    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()))
}

fn parse_params(params: &[String]) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for p in params {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("--param `{p}`: expected NAME=VALUE"))?;
        out.insert(k.to_string(), parse_value(v));
    }
    Ok(out)
}

fn parse_grid(grid: &[String]) -> anyhow::Result<BTreeMap<String, Vec<Value>>> {
    let mut out = BTreeMap::new();
    for g in grid {
        let (k, v) = g
            .split_once('=')
            .with_context(|| format!("--grid `{g}`: expected NAME=V1,V2,..."))?;
        out.insert(k.to_string(), v.split(',').map(parse_value).collect());
    }
    Ok(out)
}

fn join(ids: &[i64]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn wait_for(api: &Api, ids: &[i64]) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    for &id in ids {
        loop {
            let j = api.get(&format!("/jobs/{id}"))?;
            match j["state"].as_str() {
                Some("succeeded") => {
                    println!("job {id}: succeeded");
                    for o in j["outputs"].as_array().into_iter().flatten() {
                        match (o["url"].as_str(), o["text"].as_str()) {
                            (Some(u), _) => println!("  {}{u}", api.base_no_api()),
                            (None, Some(t)) => println!("  node {}: {t}", o["node"]),
                            _ => {}
                        }
                    }
                    break;
                }
                Some(s @ ("failed" | "cancelled")) => {
                    println!("job {id}: {s}: {}", j["error"].as_str().unwrap_or(""));
                    ok = false;
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_counts(c: &Value) {
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    println!(
        "queued {}  running {}  succeeded {}  failed {}  cancelled {}",
        n("queued"),
        n("running"),
        n("succeeded"),
        n("failed"),
        n("cancelled")
    );
}

fn print_job_line(j: &Value) {
    let progress = match (&j["progress"]["value"], &j["progress"]["max"]) {
        (Value::Number(v), Value::Number(m)) => format!(" {v}/{m}"),
        _ => String::new(),
    };
    println!(
        "{:>6}  {:<9} prio {:<4} {:<12} {}{}{}",
        j["id"],
        j["state"].as_str().unwrap_or("?"),
        j["priority"],
        j["backend"].as_str().unwrap_or("-"),
        j["name"].as_str().unwrap_or(""),
        progress,
        j["error"]
            .as_str()
            .or(j["waiting"].as_str())
            .map(|e| format!("  ({e})"))
            .unwrap_or_default()
    );
}

fn print_job_detail(j: &Value) {
    print_job_line(j);
    println!("  params: {}", j["params"]);
    println!(
        "  attempts: {} of at most {}",
        j["attempts"],
        j["max_retries"].as_u64().unwrap_or(0) + 1
    );
    for a in j["detail"]["attempts"].as_array().into_iter().flatten() {
        println!(
            "    #{} {} {} {}",
            a["id"],
            a["backend"].as_str().unwrap_or("?"),
            a["state"].as_str().unwrap_or("?"),
            a["error"].as_str().unwrap_or("")
        );
    }
    for o in j["outputs"].as_array().into_iter().flatten() {
        match (o["url"].as_str(), o["text"].as_str()) {
            (Some(u), _) => println!("  output node {}: {u}", o["node"]),
            (None, Some(t)) => println!("  output node {}: {t}", o["node"]),
            _ => {}
        }
    }
}

fn print_backend(b: &Value) {
    let gpus: Vec<String> = b["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            let total = d["vram_total"].as_u64().unwrap_or(0);
            let free = d["vram_free"].as_u64().unwrap_or(0);
            format!(
                "{} {}/{} MiB",
                d["name"].as_str().unwrap_or("?"),
                (total.saturating_sub(free)) >> 20,
                total >> 20
            )
        })
        .collect();
    println!(
        "{:<12} {:<9} {}  running {}  queue {}  classes {}  {}{}",
        b["name"].as_str().unwrap_or("?"),
        b["health"].as_str().unwrap_or("?"),
        b["url"].as_str().unwrap_or("?"),
        b["running"],
        b["queue_remaining"],
        b["classes"],
        gpus.join(", "),
        b["last_error"]
            .as_str()
            .map(|e| format!("  ({e})"))
            .unwrap_or_default()
    );
}

/// A client of the farm's REST API.
struct Api {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Api {
    fn new(remote: &Remote) -> anyhow::Result<Api> {
        let base = remote.url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") {
            bail!(
                "--url `{}`: expected http://HOST:PORT (e.g. {DEFAULT_URL})",
                remote.url
            );
        }
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Ok(Api {
            base,
            token: std::env::var("VISUALPATH_FARM_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            agent: ureq::Agent::new_with_config(config),
        })
    }

    fn base_no_api(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/farm{path}", self.base)
    }

    fn finish(
        &self,
        path: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut resp = r.map_err(|e| {
            anyhow::anyhow!(
                "farm at {}: {e} (is `visualpath farm serve` running there?)",
                self.base
            )
        })?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            let msg = v["error"].as_str().map(str::to_string).unwrap_or(text);
            bail!("{msg} (HTTP {status} from {path})");
        }
        Ok(v)
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let mut req = self.agent.get(self.url(path));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        self.finish(path, req.call())
    }

    fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let mut req = self
            .agent
            .post(self.url(path))
            .header("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        self.finish(path, req.send(body.to_string()))
    }

    fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let mut req = self.agent.delete(self.url(path));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        self.finish(path, req.call())
    }
}
