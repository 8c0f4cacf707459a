//! The orchestrator's state and its operations (what the API and the CLI call).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;
use visualpath_comfy::{Client, SystemStats};
use visualpath_farm::catalog::{Catalog, requirements};
use visualpath_farm::health::{Health, HealthConfig, HealthState};
use visualpath_farm::job::{AttemptState, JobState, Submission};
use visualpath_farm::sched::{Assignment, BackendSpec, QueuedJob, Scheduler};
use visualpath_farm::{patch, sweep, validate, workflow};
use visualpath_farm_store::{
    BackendRow, JobFilter, JobId, JobRow, NewJob, OutputRow, Store, StoreError,
};

use crate::exec::{self, Attempt, Outcome};
use crate::view::{BackendView, DeviceView, FarmEvent, JobDetail, JobView, Progress};

/// Dispatch samples kept for [`Farm::take_dispatch_samples`].
const MAX_DISPATCH_SAMPLES: usize = 100_000;

/// How the orchestrator runs.
#[derive(Debug, Clone)]
pub struct FarmConfig {
    /// Holds `farm.sqlite` and `outputs/<job>/`.
    pub data_dir: PathBuf,
    /// How often each backend is probed (`/system_stats`, `/queue`).
    pub poll_interval: Duration,
    /// Timeout of a probe; a frozen backend fails its probes after this.
    pub probe_timeout: Duration,
    pub health: HealthConfig,
    /// How often a healthy backend's node catalogue is read again.
    pub catalog_refresh: Duration,
    /// How long a cancelled running job may take to stop before it counts as cancelled anyway.
    pub cancel_grace: Duration,
    /// Timeout of other requests to a backend (submit, history, output downloads).
    pub request_timeout: Duration,
}

impl FarmConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> FarmConfig {
        FarmConfig {
            data_dir: data_dir.into(),
            poll_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(2),
            health: HealthConfig::default(),
            catalog_refresh: Duration::from_secs(60),
            cancel_grace: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Errors of farm operations; each maps to an HTTP status in the API.
#[derive(Debug, thiserror::Error)]
pub enum FarmError {
    /// The request is wrong (a workflow that does not validate, a bad parameter).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the job's state (cancel a finished job).
    #[error("{0}")]
    Conflict(String),
    /// Cannot be done now (no backend has reported its node catalogue yet).
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(String),
}

/// A backend to register.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBackend {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub pool: Option<String>,
    #[serde(default = "one")]
    pub weight: f64,
    #[serde(default = "one_u32")]
    pub max_concurrent: u32,
}

fn one() -> f64 {
    1.0
}
fn one_u32() -> u32 {
    1
}

/// One dispatch: how long a job waited between "it could start" (queued with a free
/// capable slot, or a slot freed with it at the head) and our `/prompt` call.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSample {
    pub job: JobId,
    pub overhead: Duration,
}

/// The orchestrator. Cheap to clone; [`Farm::shutdown`] stops its threads.
#[derive(Clone)]
pub struct Farm {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Farm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Farm")
            .field("data_dir", &self.inner.cfg.data_dir)
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) cfg: FarmConfig,
    pub(crate) store: Store,
    pub(crate) state: Mutex<State>,
    pub(crate) wake: Condvar,
    pub(crate) events: broadcast::Sender<FarmEvent>,
    pub(crate) stop: AtomicBool,
    pub(crate) dispatch: Mutex<Vec<DispatchSample>>,
    preview_seq: AtomicU64,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

pub(crate) struct State {
    pub(crate) sched: Scheduler,
    pub(crate) backends: BTreeMap<String, BackendRt>,
    pub(crate) running: HashMap<JobId, RunningRt>,
    /// Every backend's catalogue merged: what "some backend knows" means at validation.
    union: Arc<Catalog>,
    /// Something changed since the dispatcher last asked the scheduler.
    dirty: bool,
    /// When a slot last freed on each backend (for the dispatch overhead).
    freed_at: HashMap<String, Instant>,
    /// When each queued job was queued (for the dispatch overhead).
    queued_at: HashMap<JobId, Instant>,
    /// Prompts of lost attempts, by backend: a backend that only froze would otherwise run
    /// them to the end when it comes back, beside the new attempt elsewhere. Its poller
    /// removes and interrupts them once the backend answers again.
    pub(crate) orphans: HashMap<String, Vec<String>>,
}

impl State {
    /// A job starts running (or is re-attached): its cancel and lost flags.
    fn track(&mut self, job: JobId, backend: &str) -> (Arc<AtomicBool>, Arc<AtomicBool>) {
        let cancel = Arc::new(AtomicBool::new(false));
        let lost = Arc::new(AtomicBool::new(false));
        self.running.insert(
            job,
            RunningRt {
                backend: backend.to_string(),
                cancel: cancel.clone(),
                lost: lost.clone(),
                progress: None,
                preview: None,
            },
        );
        (cancel, lost)
    }
}

pub(crate) struct BackendRt {
    pub(crate) row: BackendRow,
    pub(crate) client: Client,
    pub(crate) health: Health,
    pub(crate) stats: Option<SystemStats>,
    pub(crate) catalog: Option<Arc<Catalog>>,
    pub(crate) models: BTreeMap<String, usize>,
    pub(crate) queue_remaining: u32,
    pub(crate) stop: Arc<AtomicBool>,
}

pub(crate) struct RunningRt {
    pub(crate) backend: String,
    pub(crate) cancel: Arc<AtomicBool>,
    /// Set when the backend went down: the executor stops waiting for it.
    pub(crate) lost: Arc<AtomicBool>,
    pub(crate) progress: Option<Progress>,
    pub(crate) preview: Option<(String, Vec<u8>, u64)>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A lowercase UUID v4: the prompt id we give ComfyUI (newer versions require this form).
pub(crate) fn uuid4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn queued_job(row: &JobRow) -> QueuedJob {
    QueuedJob {
        id: row.id,
        priority: row.priority,
        requirements: serde_json::from_value(row.requirements.clone()).unwrap_or_default(),
        tags: row.tags.iter().cloned().collect(),
        pool: row.pool.clone(),
        excluded: row.excluded.iter().cloned().collect(),
    }
}

fn spec(row: &BackendRow) -> BackendSpec {
    BackendSpec {
        name: row.name.clone(),
        tags: row.tags.iter().cloned().collect(),
        pool: row.pool.clone(),
        weight: row.weight,
        max_concurrent: row.max_concurrent.max(1),
    }
}

impl Farm {
    /// Open (or create) the store under `cfg.data_dir`, re-queue and re-attach what it
    /// holds, and start the dispatcher and the backends' pollers.
    pub fn start(cfg: FarmConfig) -> Result<Farm, FarmError> {
        std::fs::create_dir_all(cfg.data_dir.join("outputs")).map_err(|e| {
            FarmError::Io(format!(
                "cannot create the farm's data folder {}: {e}",
                cfg.data_dir.display()
            ))
        })?;
        let store = Store::open(&cfg.data_dir.join("farm.sqlite"))?;
        let (events, _) = broadcast::channel(1024);
        let farm = Farm {
            inner: Arc::new(Inner {
                cfg,
                store,
                state: Mutex::new(State {
                    sched: Scheduler::new(),
                    backends: BTreeMap::new(),
                    running: HashMap::new(),
                    union: Arc::new(Catalog::default()),
                    dirty: true,
                    freed_at: HashMap::new(),
                    queued_at: HashMap::new(),
                    orphans: HashMap::new(),
                }),
                wake: Condvar::new(),
                events,
                stop: AtomicBool::new(false),
                dispatch: Mutex::new(Vec::new()),
                preview_seq: AtomicU64::new(0),
                threads: Mutex::new(Vec::new()),
            }),
        };
        for row in farm.inner.store.backends()? {
            farm.attach_backend(row);
        }
        {
            let mut st = farm.inner.state.lock();
            let now = Instant::now();
            for row in farm.inner.store.queued()? {
                st.queued_at.insert(row.id, now);
                st.sched.enqueue(queued_job(&row));
            }
        }
        for (job, attempt) in farm.inner.store.running()? {
            farm.reattach(job, attempt)?;
        }
        let f = farm.clone();
        let h = thread::Builder::new()
            .name("farm-dispatch".into())
            .spawn(move || f.dispatch_loop())
            .map_err(|e| FarmError::Io(format!("cannot start the dispatcher thread: {e}")))?;
        farm.inner.threads.lock().push(h);
        Ok(farm)
    }

    /// Stop the dispatcher, the pollers and the executors. Jobs stay as they are in the
    /// store (running ones are re-attached by the next start).
    pub fn shutdown(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        {
            let st = self.inner.state.lock();
            for b in st.backends.values() {
                b.stop.store(true, Ordering::SeqCst);
            }
        }
        self.inner.wake.notify_all();
        let handles: Vec<_> = self.inner.threads.lock().drain(..).collect();
        for h in handles {
            let _ = h.join();
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.cfg.data_dir
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FarmEvent> {
        self.inner.events.subscribe()
    }

    /// Dispatch overheads recorded since the start (or the last call; at most the latest
    /// 100,000), oldest first.
    pub fn take_dispatch_samples(&self) -> Vec<DispatchSample> {
        std::mem::take(&mut *self.inner.dispatch.lock())
    }

    pub(crate) fn stopping(&self) -> bool {
        self.inner.stop.load(Ordering::SeqCst)
    }

    pub(crate) fn spawn(&self, name: String, f: impl FnOnce() + Send + 'static) {
        match thread::Builder::new().name(name).spawn(f) {
            Ok(h) => {
                let mut threads = self.inner.threads.lock();
                threads.retain(|t| !t.is_finished());
                threads.push(h);
            }
            Err(e) => tracing::error!("cannot start a farm thread: {e}"),
        }
    }

    pub(crate) fn emit(&self, ev: FarmEvent) {
        // No subscribers is fine.
        let _ = self.inner.events.send(ev);
    }

    pub(crate) fn emit_job(&self, id: JobId) {
        if let Ok(Some(v)) = self.job(id) {
            self.emit(FarmEvent::Job { job: Box::new(v) });
        }
    }

    fn mark_dirty(&self, st: &mut State) {
        st.dirty = true;
        self.inner.wake.notify_all();
    }

    // ---- submissions ------------------------------------------------------------------

    /// Validate and queue a submission: one job, or one job per parameter set of a sweep
    /// (grouped in a batch). Nothing is queued unless every job validates.
    pub fn submit(&self, sub: &Submission) -> Result<(Option<i64>, Vec<JobId>), FarmError> {
        let (union, catalogs) = {
            let st = self.inner.state.lock();
            let catalogs: Vec<(String, Arc<Catalog>)> = st
                .backends
                .values()
                .filter_map(|b| Some((b.row.name.clone(), b.catalog.clone()?)))
                .collect();
            (st.union.clone(), catalogs)
        };
        if catalogs.is_empty() {
            return Err(FarmError::Unavailable(
                "no backend has reported its node catalogue yet: register a ComfyUI backend (`visualpath farm backends add`) and wait until it is healthy".into(),
            ));
        }
        let base = workflow::load(&sub.workflow, Some(&union))
            .map_err(|e| FarmError::Invalid(format!("workflow: {e}")))?;
        let sets = sweep::expand(&sub.params, sub.sweep.as_ref())
            .map_err(|e| FarmError::Invalid(format!("sweep: {e}")))?;
        let targets = sub.outputs.as_deref();
        let mut jobs = Vec::with_capacity(sets.len());
        for (i, params) in sets.iter().enumerate() {
            let label = if sets.len() > 1 {
                format!("parameter set {} of {}: ", i + 1, sets.len())
            } else {
                String::new()
            };
            let wf = patch::patch(&base, params, Some(&union))
                .map_err(|e| FarmError::Invalid(format!("{label}{e}")))?;
            let plan = validate::validate(&wf, &union, targets)
                .map_err(|e| FarmError::Invalid(format!("{label}{e}")))?;
            let req = requirements(&wf, &union);
            // The union may accept a job no single backend can run.
            let lacks: Vec<String> = catalogs
                .iter()
                .filter_map(|(name, c)| {
                    let m = c.missing(&req);
                    (!m.is_empty()).then(|| format!("{name} lacks {}", m[0]))
                })
                .collect();
            if lacks.len() == catalogs.len() {
                return Err(FarmError::Invalid(format!(
                    "{label}no backend has everything this workflow needs: {}",
                    lacks.join("; ")
                )));
            }
            jobs.push(NewJob {
                name: sub.name.clone(),
                priority: sub.priority,
                workflow: wf.to_api(),
                params: serde_json::to_value(params).unwrap_or(Value::Null),
                targets: sub.outputs.clone(),
                tags: sub.tags.clone(),
                pool: sub.pool.clone(),
                max_retries: sub.max_retries,
                requirements: serde_json::to_value(&req).unwrap_or(Value::Null),
                plan: serde_json::to_value(&plan).unwrap_or(Value::Null),
            });
        }
        let batch = if sub.sweep.is_some() {
            Some(sub.name.as_deref())
        } else {
            None
        };
        let (batch_id, ids) = self.inner.store.submit(&jobs, batch, now_ms())?;
        {
            let mut st = self.inner.state.lock();
            let now = Instant::now();
            for &id in &ids {
                if let Some(row) = self.inner.store.job(id)? {
                    st.queued_at.insert(id, now);
                    st.sched.enqueue(queued_job(&row));
                    // Sent before the dispatcher can see the job: `queued` always comes
                    // before `running` on the event stream.
                    self.emit(FarmEvent::Job {
                        job: Box::new(JobView::new(&row, &[])),
                    });
                }
            }
            self.mark_dirty(&mut st);
        }
        Ok((batch_id, ids))
    }

    // ---- control ----------------------------------------------------------------------

    /// Cancel: a queued job is removed at once; a running one is interrupted on its
    /// backend (by its prompt id, never globally) and becomes cancelled when the backend
    /// confirms. Returns the state after the call.
    pub fn cancel(&self, id: JobId) -> Result<JobState, FarmError> {
        let after = {
            let mut st = self.inner.state.lock();
            let before = self.inner.store.cancel(id, now_ms()).map_err(not_found)?;
            match before {
                JobState::Queued => {
                    st.sched.remove(id);
                    st.queued_at.remove(&id);
                    JobState::Cancelled
                }
                JobState::Running => {
                    if let Some(r) = st.running.get(&id) {
                        r.cancel.store(true, Ordering::SeqCst);
                    }
                    JobState::Running
                }
                other => {
                    return Err(FarmError::Conflict(format!(
                        "job {id} is {other}: only queued or running jobs can be cancelled"
                    )));
                }
            }
        };
        self.emit_job(id);
        Ok(after)
    }

    /// Put a failed or cancelled job back in the queue.
    pub fn retry(&self, id: JobId) -> Result<(), FarmError> {
        {
            let mut st = self.inner.state.lock();
            self.inner.store.retry(id).map_err(not_found)?;
            if let Some(row) = self.inner.store.job(id)? {
                st.queued_at.insert(id, Instant::now());
                st.sched.enqueue(queued_job(&row));
            }
            self.mark_dirty(&mut st);
        }
        self.emit_job(id);
        Ok(())
    }

    /// Change a job's priority (it matters while the job is queued).
    pub fn set_priority(&self, id: JobId, priority: i64) -> Result<(), FarmError> {
        {
            let mut st = self.inner.state.lock();
            self.inner
                .store
                .set_priority(id, priority)
                .map_err(not_found)?;
            st.sched.set_priority(id, priority);
            self.mark_dirty(&mut st);
        }
        self.emit_job(id);
        Ok(())
    }

    // ---- queries ----------------------------------------------------------------------

    pub fn job(&self, id: JobId) -> Result<Option<JobView>, FarmError> {
        let Some(row) = self.inner.store.job(id)? else {
            return Ok(None);
        };
        let outputs = self.inner.store.outputs(id)?;
        Ok(Some(self.view(&row, &outputs)))
    }

    /// A job with its workflow, plan and attempts.
    pub fn job_detail(&self, id: JobId) -> Result<Option<JobView>, FarmError> {
        let Some(row) = self.inner.store.job(id)? else {
            return Ok(None);
        };
        let outputs = self.inner.store.outputs(id)?;
        let mut v = self.view(&row, &outputs);
        v.detail = Some(JobDetail {
            workflow: row.workflow.clone(),
            plan: row.plan.clone(),
            targets: row.targets.clone(),
            tags: row.tags.clone(),
            pool: row.pool.clone(),
            excluded: row.excluded.clone(),
            attempts: self.inner.store.attempts(id)?,
        });
        Ok(Some(v))
    }

    pub fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobView>, FarmError> {
        let rows = self.inner.store.jobs(filter)?;
        rows.iter()
            .map(|r| {
                let outputs = if r.state == JobState::Succeeded {
                    self.inner.store.outputs(r.id)?
                } else {
                    Vec::new()
                };
                Ok(self.view(r, &outputs))
            })
            .collect()
    }

    pub fn counts(&self) -> Result<BTreeMap<JobState, u64>, FarmError> {
        Ok(self.inner.store.counts()?)
    }

    pub fn batches(&self, limit: usize) -> Result<Vec<visualpath_farm_store::BatchRow>, FarmError> {
        Ok(self.inner.store.batches(limit)?)
    }

    fn view(&self, row: &JobRow, outputs: &[OutputRow]) -> JobView {
        let mut v = JobView::new(row, outputs);
        let st = self.inner.state.lock();
        if let Some(r) = st.running.get(&row.id) {
            v.progress = r.progress.clone();
            if let Some((_, _, seq)) = &r.preview {
                v.preview = Some(format!("/api/farm/jobs/{}/preview?n={seq}", row.id));
            }
        }
        if row.state == JobState::Queued {
            v.waiting = st.sched.blocked_reason(row.id);
        }
        v
    }

    /// The file of a stored output, if it exists.
    pub fn output_path(&self, job: JobId, file: &str) -> Option<PathBuf> {
        if file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return None;
        }
        let p = self
            .inner
            .cfg
            .data_dir
            .join("outputs")
            .join(job.to_string())
            .join(file);
        p.is_file().then_some(p)
    }

    /// The latest preview image of a running job: (MIME type, bytes).
    pub fn preview(&self, job: JobId) -> Option<(String, Vec<u8>)> {
        let st = self.inner.state.lock();
        let (mime, bytes, _) = st.running.get(&job)?.preview.clone()?;
        Some((mime, bytes))
    }

    // ---- backends ---------------------------------------------------------------------

    /// Register (or update) a backend and start probing it.
    pub fn add_backend(&self, b: &NewBackend) -> Result<BackendView, FarmError> {
        if b.name.is_empty()
            || !b
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(FarmError::Invalid(format!(
                "backend name `{}`: use letters, digits, `-`, `_` or `.`",
                b.name
            )));
        }
        Client::new(&b.url)
            .map_err(|e| FarmError::Invalid(format!("backend `{}`: {e}", b.name)))?;
        if !(b.weight > 0.0 && b.weight.is_finite()) {
            return Err(FarmError::Invalid(format!(
                "backend `{}`: weight must be a positive number, got {}",
                b.name, b.weight
            )));
        }
        if b.max_concurrent == 0 {
            return Err(FarmError::Invalid(format!(
                "backend `{}`: max_concurrent must be at least 1",
                b.name
            )));
        }
        let row = BackendRow {
            name: b.name.clone(),
            url: b.url.trim_end_matches('/').to_string(),
            tags: b.tags.clone(),
            pool: b.pool.clone(),
            weight: b.weight,
            max_concurrent: b.max_concurrent,
            added_ms: now_ms(),
        };
        self.inner.store.upsert_backend(&row)?;
        let existing = {
            let mut st = self.inner.state.lock();
            match st.backends.get_mut(&row.name) {
                Some(rt) if rt.row.url == row.url => {
                    rt.row = row.clone();
                    st.sched.upsert_backend(spec(&row));
                    self.mark_dirty(&mut st);
                    true
                }
                Some(rt) => {
                    // A new address: a new poller (the old one stops).
                    rt.stop.store(true, Ordering::SeqCst);
                    st.backends.remove(&row.name);
                    st.sched.remove_backend(&row.name);
                    false
                }
                None => false,
            }
        };
        if !existing {
            self.attach_backend(row.clone());
        }
        self.backend_view(&row.name)
            .ok_or_else(|| FarmError::NotFound(format!("backend `{}`", row.name)))
    }

    /// Unregister a backend. Jobs running on it run to their end.
    pub fn remove_backend(&self, name: &str) -> Result<(), FarmError> {
        let removed = self.inner.store.remove_backend(name)?;
        let mut st = self.inner.state.lock();
        if let Some(rt) = st.backends.remove(name) {
            rt.stop.store(true, Ordering::SeqCst);
        }
        st.sched.remove_backend(name);
        st.orphans.remove(name);
        st.freed_at.remove(name);
        st.union = Arc::new(merge(&st.backends));
        if !removed {
            return Err(FarmError::NotFound(format!(
                "no backend named `{name}` is registered"
            )));
        }
        Ok(())
    }

    pub fn backends(&self) -> Vec<BackendView> {
        let st = self.inner.state.lock();
        st.backends
            .values()
            .map(|b| backend_view(b, st.sched.running_on(&b.row.name)))
            .collect()
    }

    pub fn backend_view(&self, name: &str) -> Option<BackendView> {
        let st = self.inner.state.lock();
        st.backends
            .get(name)
            .map(|b| backend_view(b, st.sched.running_on(name)))
    }

    fn attach_backend(&self, row: BackendRow) {
        let client = match Client::new(&row.url) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("backend `{}`: {e}", row.name);
                return;
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        {
            let mut st = self.inner.state.lock();
            st.sched.upsert_backend(spec(&row));
            st.backends.insert(
                row.name.clone(),
                BackendRt {
                    row: row.clone(),
                    client: client.clone(),
                    health: Health::new(self.inner.cfg.health),
                    stats: None,
                    catalog: None,
                    models: BTreeMap::new(),
                    queue_remaining: 0,
                    stop: stop.clone(),
                },
            );
        }
        let f = self.clone();
        let name = row.name.clone();
        self.spawn(format!("farm-poll-{name}"), move || {
            crate::poll::run(f, name, client, stop)
        });
    }

    // ---- called by the poller ---------------------------------------------------------

    pub(crate) fn health_changed(&self, st: &mut State, backend: &str, health: HealthState) {
        st.sched.set_health(backend, health);
        if !health.usable() {
            for r in st.running.values() {
                if r.backend == backend {
                    r.lost.store(true, Ordering::SeqCst);
                }
            }
        }
        self.mark_dirty(st);
    }

    pub(crate) fn catalog_changed(&self, st: &mut State, backend: &str, catalog: Arc<Catalog>) {
        st.sched.set_catalog(backend, catalog);
        st.union = Arc::new(merge(&st.backends));
        self.mark_dirty(st);
    }

    pub(crate) fn load_changed(&self, st: &mut State, backend: &str, queue_remaining: u32) {
        let ours = st.sched.running_on(backend);
        st.sched
            .set_external_load(backend, queue_remaining.saturating_sub(ours));
        if let Some(b) = st.backends.get_mut(backend) {
            b.queue_remaining = queue_remaining;
        }
    }

    pub(crate) fn emit_backend(&self, name: &str) {
        if let Some(b) = self.backend_view(name) {
            self.emit(FarmEvent::Backend {
                backend: Box::new(b),
            });
        }
    }

    // ---- called by executors ----------------------------------------------------------

    pub(crate) fn progress(&self, job: JobId, progress: Progress) {
        {
            let mut st = self.inner.state.lock();
            if let Some(r) = st.running.get_mut(&job) {
                r.progress = Some(progress.clone());
            }
        }
        self.emit(FarmEvent::Progress { job, progress });
    }

    pub(crate) fn preview_image(&self, job: JobId, mime: String, bytes: Vec<u8>) {
        let seq = self.inner.preview_seq.fetch_add(1, Ordering::Relaxed);
        {
            let mut st = self.inner.state.lock();
            match st.running.get_mut(&job) {
                Some(r) => r.preview = Some((mime, bytes, seq)),
                None => return,
            }
        }
        self.emit(FarmEvent::Preview {
            job,
            url: format!("/api/farm/jobs/{job}/preview?n={seq}"),
        });
    }

    pub(crate) fn record_dispatch(&self, sample: DispatchSample) {
        // The most recent samples only: a long-running farm must not grow this.
        let mut d = self.inner.dispatch.lock();
        if d.len() >= MAX_DISPATCH_SAMPLES {
            d.drain(..MAX_DISPATCH_SAMPLES / 2);
        }
        d.push(sample);
    }

    /// The end of an attempt: store the outcome, free the slot, and queue the job again
    /// (excluding that backend) when it failed or its backend died and retries are left.
    pub(crate) fn settle(&self, a: &Attempt, outcome: Outcome) {
        let now = now_ms();
        let store = &self.inner.store;
        let id = a.job.id;
        // An attempt that already ended (the orchestrator stopped between recording the
        // attempt and the job) is not an error: the job's own state decides.
        let finish_attempt =
            |state, error: Option<&str>| match store.finish_attempt(a.attempt, state, error, now) {
                Err(StoreError::AttemptState { .. }) => Ok(()),
                other => other,
            };
        let result: Result<(), StoreError> = (|| {
            let mut st = self.inner.state.lock();
            let rt = st.running.remove(&id);
            st.sched.release(&a.backend);
            st.freed_at.insert(a.backend.clone(), Instant::now());
            let cancelled = rt.as_ref().is_some_and(|r| r.cancel.load(Ordering::SeqCst));
            let lost_outcome = matches!(outcome, Outcome::Lost(_));
            match outcome {
                // `complete`, `fail` and `mark_cancelled` close the open attempt in their
                // own transaction; only a requeue (and a lost attempt's state) needs the
                // attempt finished separately.
                Outcome::Succeeded(outputs) => store.complete(id, &outputs, now)?,
                Outcome::Cancelled => store.mark_cancelled(id, now)?,
                Outcome::Failed(_) | Outcome::Lost(_) if cancelled => {
                    store.mark_cancelled(id, now)?
                }
                Outcome::Failed(msg) | Outcome::Lost(msg) => {
                    let lost = lost_outcome;
                    let (state, what) = if lost {
                        (AttemptState::Lost, "lost")
                    } else {
                        (AttemptState::Failed, "failed")
                    };
                    let msg = format!("attempt {} on {} {what}: {msg}", a.number, a.backend);
                    if lost {
                        st.orphans
                            .entry(a.backend.clone())
                            .or_default()
                            .push(a.prompt_id.clone());
                        let changed = st
                            .backends
                            .get_mut(&a.backend)
                            .and_then(|b| b.health.lost(msg.clone()));
                        if let Some(h) = changed {
                            self.health_changed(&mut st, &a.backend, h);
                        }
                    }
                    let row = store.job(id)?;
                    let attempts = row.as_ref().map_or(u32::MAX, |r| r.attempts);
                    if attempts > a.job.max_retries {
                        if lost {
                            finish_attempt(state, Some(&msg))?;
                        }
                        store.fail(id, &format!("{msg} (no retries left)"), now)?;
                    } else if let Some(row) = row {
                        // Exclude the backend, unless that leaves the job nowhere to run: a
                        // one-backend farm retries on the same backend once it is back.
                        let mut queued = queued_job(&row);
                        let capable = capable_backends(&st, &queued);
                        queued.excluded.insert(a.backend.clone());
                        let exclude = !capable.is_subset(&queued.excluded);
                        if !exclude {
                            queued.excluded.remove(&a.backend);
                        }
                        finish_attempt(state, Some(&msg))?;
                        store.requeue(id, exclude.then_some(a.backend.as_str()), Some(&msg))?;
                        st.queued_at.insert(id, Instant::now());
                        st.sched.enqueue(queued);
                    }
                }
                Outcome::Abandoned => {}
            }
            self.mark_dirty(&mut st);
            Ok(())
        })();
        if let Err(e) = result {
            tracing::error!(
                "job {id}: cannot record the end of attempt {}: {e}",
                a.number
            );
        }
        self.emit_job(id);
        self.emit_backend(&a.backend);
    }

    // ---- dispatch ---------------------------------------------------------------------

    fn dispatch_loop(&self) {
        while !self.stopping() {
            let assignments = {
                let mut st = self.inner.state.lock();
                while !st.dirty && !self.stopping() {
                    self.inner
                        .wake
                        .wait_for(&mut st, Duration::from_millis(500));
                }
                st.dirty = false;
                if self.stopping() {
                    return;
                }
                st.sched.assign()
            };
            for a in assignments {
                self.launch(a);
            }
        }
    }

    fn launch(&self, a: Assignment) {
        let prompt_id = uuid4();
        let mut st = self.inner.state.lock();
        let ready_at = {
            let q = st.queued_at.remove(&a.job);
            let f = st.freed_at.get(&a.backend).copied();
            match (q, f) {
                (Some(q), Some(f)) => Some(q.max(f)),
                (q, f) => q.or(f),
            }
        };
        let client = match st.backends.get(&a.backend) {
            Some(b) => b.client.clone(),
            None => {
                st.sched.release(&a.backend);
                return;
            }
        };
        let started = self
            .inner
            .store
            .start_attempt(a.job, &a.backend, &prompt_id, &prompt_id, now_ms())
            .and_then(|att| Ok((att, self.inner.store.job(a.job)?)));
        let (attempt, job) = match started {
            Ok((att, Some(job))) => (att, job),
            Ok((_, None)) | Err(_) => {
                // Cancelled (or gone) between the decision and now.
                st.sched.release(&a.backend);
                self.mark_dirty(&mut st);
                return;
            }
        };
        let (cancel, lost) = st.track(a.job, &a.backend);
        drop(st);
        let att = Attempt {
            number: job.attempts,
            job,
            attempt,
            backend: a.backend.clone(),
            prompt_id,
            probe: client.clone().with_timeout(self.inner.cfg.probe_timeout),
            client: client.with_timeout(self.inner.cfg.request_timeout),
            cancel,
            lost,
            ready_at,
        };
        self.emit_job(a.job);
        let f = self.clone();
        self.spawn(format!("farm-job-{}", a.job), move || {
            exec::run(&f, att, false)
        });
    }

    /// A job that was running when the orchestrator stopped: follow it on its backend.
    fn reattach(
        &self,
        job: JobRow,
        attempt: visualpath_farm_store::AttemptRow,
    ) -> Result<(), FarmError> {
        let mut st = self.inner.state.lock();
        let client = st.backends.get(&attempt.backend).map(|b| b.client.clone());
        let Some(client) = client else {
            // Its backend is no longer registered: run it elsewhere.
            let msg = format!(
                "backend `{}` is no longer registered after a restart",
                attempt.backend
            );
            self.inner.store.finish_attempt(
                attempt.id,
                AttemptState::Lost,
                Some(&msg),
                now_ms(),
            )?;
            self.inner.store.requeue(job.id, None, Some(&msg))?;
            if let Some(row) = self.inner.store.job(job.id)? {
                st.sched.enqueue(queued_job(&row));
            }
            return Ok(());
        };
        st.sched.occupy(&attempt.backend);
        let (cancel, lost) = st.track(job.id, &attempt.backend);
        drop(st);
        let att = Attempt {
            number: job.attempts,
            job,
            attempt: attempt.id,
            backend: attempt.backend,
            prompt_id: attempt.prompt_id,
            probe: client.clone().with_timeout(self.inner.cfg.probe_timeout),
            client: client.with_timeout(self.inner.cfg.request_timeout),
            cancel,
            lost,
            ready_at: None,
        };
        let f = self.clone();
        let id = att.job.id;
        self.spawn(format!("farm-job-{id}"), move || exec::run(&f, att, true));
        Ok(())
    }
}

fn not_found(e: StoreError) -> FarmError {
    match e {
        StoreError::NoJob(_) => FarmError::NotFound(e.to_string()),
        StoreError::State { .. } => FarmError::Conflict(e.to_string()),
        other => FarmError::Store(other),
    }
}

/// Backends whose catalogue, tags and pool fit the job (health and exclusions aside).
fn capable_backends(st: &State, q: &QueuedJob) -> BTreeSet<String> {
    st.backends
        .values()
        .filter(|b| {
            q.pool
                .as_ref()
                .is_none_or(|p| b.row.pool.as_ref() == Some(p))
                && q.tags.iter().all(|t| b.row.tags.contains(t))
                && b.catalog
                    .as_ref()
                    .is_some_and(|c| c.missing(&q.requirements).is_empty())
        })
        .map(|b| b.row.name.clone())
        .collect()
}

fn merge(backends: &BTreeMap<String, BackendRt>) -> Catalog {
    let mut union = Catalog::default();
    for c in backends.values().filter_map(|b| b.catalog.as_ref()) {
        union.merge(c);
    }
    union
}

fn backend_view(b: &BackendRt, running: u32) -> BackendView {
    let stats = b.stats.as_ref();
    BackendView {
        name: b.row.name.clone(),
        url: b.row.url.clone(),
        tags: b.row.tags.clone(),
        pool: b.row.pool.clone(),
        weight: b.row.weight,
        max_concurrent: b.row.max_concurrent,
        health: b.health.state().as_str().to_string(),
        running,
        queue_remaining: b.queue_remaining,
        last_error: b.health.last_error().map(str::to_string),
        comfyui_version: stats.map(|s| s.comfyui_version.clone()),
        classes: b.catalog.as_ref().map_or(0, |c| c.len()),
        models: b.models.clone(),
        ram_total: stats.map(|s| s.ram_total),
        ram_free: stats.map(|s| s.ram_free),
        devices: stats
            .map(|s| {
                s.devices
                    .iter()
                    .map(|d| DeviceView {
                        name: d.name.clone(),
                        kind: d.kind.clone(),
                        vram_total: d.vram_total,
                        vram_free: d.vram_free,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
