//! The REST and WebSocket API, and the farm page (docs/ref/farm.md).
//!
//! Conventions: JSON in and out; errors are `{"error": "one line"}` with 400 (invalid),
//! 404, 409 (state conflict), 503 (no backend ready), 500; when a token is configured every
//! `/api` request needs `Authorization: Bearer TOKEN` or `?token=TOKEN` (browsers cannot
//! set headers on WebSockets, images and video elements), compared in constant time. The
//! page itself (`/farm`) is static and asks for the token when the API answers 401.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use visualpath_farm::job::{JobState, Submission};
use visualpath_farm_store::JobFilter;

use crate::engine::{Farm, FarmError, NewBackend};

const PAGE: &str = include_str!("page/farm.html");

#[derive(Clone)]
struct App {
    farm: Farm,
    token: Option<Arc<str>>,
}

/// The router: `/farm` (page) and `/api/farm/...`.
pub fn router(farm: Farm, token: Option<String>) -> Router {
    let app = App {
        farm,
        token: token.map(Arc::from),
    };
    let api = Router::new()
        .route("/stats", get(stats))
        .route("/jobs", get(list_jobs).post(submit))
        .route("/jobs/{id}", get(get_job))
        .route("/jobs/{id}/cancel", post(cancel))
        .route("/jobs/{id}/retry", post(retry))
        .route("/jobs/{id}/priority", post(priority))
        .route("/jobs/{id}/preview", get(preview))
        .route("/batches", get(batches))
        .route("/backends", get(backends).post(add_backend))
        .route("/backends/{name}", axum::routing::delete(remove_backend))
        .route("/outputs/{job}/{file}", get(output))
        .route("/ws", get(ws))
        .layer(middleware::from_fn_with_state(app.clone(), auth));
    Router::new()
        .route("/", get(|| async { Redirect::to("/farm") }))
        .route("/farm", get(|| async { Html(PAGE) }))
        .nest("/api/farm", api)
        .with_state(app)
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    farm: Farm,
    listener: tokio::net::TcpListener,
    token: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(farm, token))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Whether an address is loopback-only (serving elsewhere needs a token).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<FarmError> for ApiError {
    fn from(e: FarmError) -> Self {
        let code = match &e {
            FarmError::Invalid(_) => StatusCode::BAD_REQUEST,
            FarmError::NotFound(_) => StatusCode::NOT_FOUND,
            FarmError::Conflict(_) => StatusCode::CONFLICT,
            FarmError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            FarmError::Store(_) | FarmError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn eq_const_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(app): State<App>, req: Request, next: Next) -> Response {
    let Some(token) = &app.token else {
        return next.run(req).await;
    };
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let from_query = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(percent_decode)
    });
    let ok = [from_header, from_query]
        .into_iter()
        .flatten()
        .any(|t| eq_const_time(t.as_bytes(), token.as_bytes()));
    if ok {
        next.run(req).await
    } else {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "this farm needs a token: send `Authorization: Bearer TOKEN` (or `?token=TOKEN`)"
                .into(),
        )
        .into_response()
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FarmError> + Send + 'static,
) -> ApiResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
    }
}

async fn stats(State(app): State<App>) -> ApiResult<Json<Value>> {
    let farm = app.farm.clone();
    let counts = blocking(move || farm.counts()).await?;
    let mut all = serde_json::Map::new();
    for s in JobState::ALL {
        all.insert(
            s.as_str().into(),
            json!(counts.get(&s).copied().unwrap_or(0)),
        );
    }
    Ok(Json(json!({
        "counts": all,
        "backends": app.farm.backends().len(),
    })))
}

#[derive(Deserialize)]
struct JobsQuery {
    state: Option<String>,
    batch: Option<i64>,
    limit: Option<usize>,
    before: Option<i64>,
    #[allow(dead_code)]
    token: Option<String>,
}

async fn list_jobs(State(app): State<App>, Query(q): Query<JobsQuery>) -> ApiResult<Json<Value>> {
    let mut states = Vec::new();
    for s in q
        .state
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
    {
        states.push(
            s.parse::<JobState>()
                .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("state: {e}")))?,
        );
    }
    let filter = JobFilter {
        states,
        batch: q.batch,
        limit: q.limit.unwrap_or(50).clamp(1, 1000),
        before: q.before,
    };
    let farm = app.farm.clone();
    let jobs = blocking(move || farm.jobs(&filter)).await?;
    Ok(Json(json!({ "jobs": jobs })))
}

async fn submit(State(app): State<App>, body: axum::body::Bytes) -> ApiResult<Response> {
    let sub: Submission = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("submission, line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    let farm = app.farm.clone();
    let (batch, jobs) = blocking(move || farm.submit(&sub)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "batch": batch, "jobs": jobs })),
    )
        .into_response())
}

async fn get_job(State(app): State<App>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let farm = app.farm.clone();
    match blocking(move || farm.job_detail(id)).await? {
        Some(j) => Ok(Json(json!(j))),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no job {id}"))),
    }
}

async fn cancel(State(app): State<App>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let farm = app.farm.clone();
    let state = blocking(move || farm.cancel(id)).await?;
    Ok(Json(json!({ "state": state })))
}

async fn retry(State(app): State<App>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    let farm = app.farm.clone();
    let job = blocking(move || {
        farm.retry(id)?;
        farm.job(id)
    })
    .await?;
    Ok(Json(json!(job)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriorityBody {
    priority: i64,
}

async fn priority(
    State(app): State<App>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let p: PriorityBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("expected {{\"priority\": integer}}: {e}"),
        )
    })?;
    let farm = app.farm.clone();
    let job = blocking(move || {
        farm.set_priority(id, p.priority)?;
        farm.job(id)
    })
    .await?;
    Ok(Json(json!(job)))
}

async fn preview(State(app): State<App>, Path(id): Path<i64>) -> ApiResult<Response> {
    match app.farm.preview(id) {
        Some((mime, bytes)) => Ok((
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            bytes,
        )
            .into_response()),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("job {id} has no preview (it is not running, or its backend sent none)"),
        )),
    }
}

async fn batches(State(app): State<App>) -> ApiResult<Json<Value>> {
    let farm = app.farm.clone();
    let b = blocking(move || farm.batches(100)).await?;
    Ok(Json(json!({ "batches": b })))
}

async fn backends(State(app): State<App>) -> Json<Value> {
    Json(json!({ "backends": app.farm.backends() }))
}

async fn add_backend(State(app): State<App>, body: axum::body::Bytes) -> ApiResult<Response> {
    let b: NewBackend = serde_json::from_slice(&body).map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("backend, line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    let farm = app.farm.clone();
    let view = blocking(move || farm.add_backend(&b)).await?;
    Ok((StatusCode::CREATED, Json(json!(view))).into_response())
}

async fn remove_backend(State(app): State<App>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let farm = app.farm.clone();
    blocking(move || farm.remove_backend(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn output(
    State(app): State<App>,
    Path((job, file)): Path<(i64, String)>,
) -> ApiResult<Response> {
    let Some(path) = app.farm.output_path(job, &file) else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("job {job} has no output `{file}`"),
        ));
    };
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, mime_of(&file))], bytes).into_response())
}

fn mime_of(file: &str) -> &'static str {
    let ext = file.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

async fn ws(State(app): State<App>, upgrade: WebSocketUpgrade, _h: HeaderMap) -> Response {
    upgrade.on_upgrade(move |socket| push_events(app.farm, socket))
}

/// Push every farm event to one client. A client that falls more than the channel's
/// capacity behind misses events (counted in a `lagged` message) and should re-fetch.
async fn push_events(farm: Farm, mut socket: WebSocket) {
    let mut rx = farm.subscribe();
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let text = match ev {
                    Ok(ev) => serde_json::to_string(&ev).unwrap_or_default(),
                    Err(RecvError::Lagged(n)) => json!({"type": "lagged", "missed": n}).to_string(),
                    Err(RecvError::Closed) => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
