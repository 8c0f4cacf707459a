//! The scheduler: which queued job goes to which backend, now.
//!
//! * Order: higher priority first, then submission order (job ids grow).
//! * A job only goes to a backend that is usable (healthy or degraded), has reported its
//!   node catalogue, has every node class and model file the job needs
//!   ([`Catalog::missing`]), carries all the job's tags, is in the job's pool (when it
//!   names one), is not excluded for this job (it failed it before), and has a free slot
//!   (`max_concurrent`).
//! * Among those: healthy before degraded, then the least load per unit of weight, where
//!   load is our running jobs plus the prompts others queued on it directly.
//! * A job no free backend can take does not block the jobs behind it (they may fit
//!   elsewhere); it keeps its place for the next round.
//!
//! Pure and synchronous: the orchestrator calls [`Scheduler::assign`] when something
//! changed (a job queued, a slot freed, a backend's health or catalogue changed).

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::catalog::{Catalog, Requirements};
use crate::health::HealthState;

/// Jobs are numbered by the store; ids grow with submission order.
pub type JobId = i64;

/// A registered backend as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSpec {
    pub name: String,
    pub tags: BTreeSet<String>,
    pub pool: Option<String>,
    /// Relative capacity: a backend with weight 2 takes twice the load of one with 1.
    pub weight: f64,
    /// Prompts we keep on it at once (ComfyUI runs one at a time; 2 hides the gap
    /// between jobs at the cost of a job waiting in the backend's own queue).
    pub max_concurrent: u32,
}

/// A queued job as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedJob {
    pub id: JobId,
    pub priority: i64,
    pub requirements: Requirements,
    pub tags: BTreeSet<String>,
    pub pool: Option<String>,
    /// Backends this job must not go to again.
    pub excluded: BTreeSet<String>,
}

/// A decision: run `job` on `backend`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub job: JobId,
    pub backend: String,
}

#[derive(Debug)]
struct Slot {
    spec: BackendSpec,
    health: HealthState,
    catalog: Option<Arc<Catalog>>,
    /// Our jobs on it.
    running: u32,
    /// Prompts queued on it by others.
    external: u32,
}

impl Slot {
    fn free(&self) -> bool {
        self.health.usable() && self.catalog.is_some() && self.running < self.spec.max_concurrent
    }

    fn load(&self) -> f64 {
        f64::from(self.running + self.external) / self.spec.weight.max(1e-6)
    }
}

/// The queue and the backends' slots.
#[derive(Debug, Default)]
pub struct Scheduler {
    order: BTreeSet<(Reverse<i64>, JobId)>,
    jobs: HashMap<JobId, QueuedJob>,
    backends: BTreeMap<String, Slot>,
}

impl Scheduler {
    pub fn new() -> Self {
        Scheduler::default()
    }

    /// Register or update a backend (its running count and health are kept).
    pub fn upsert_backend(&mut self, spec: BackendSpec) {
        match self.backends.get_mut(&spec.name) {
            Some(slot) => slot.spec = spec,
            None => {
                self.backends.insert(
                    spec.name.clone(),
                    Slot {
                        spec,
                        health: HealthState::Unknown,
                        catalog: None,
                        running: 0,
                        external: 0,
                    },
                );
            }
        }
    }

    pub fn remove_backend(&mut self, name: &str) -> bool {
        self.backends.remove(name).is_some()
    }

    pub fn set_health(&mut self, backend: &str, health: HealthState) {
        if let Some(s) = self.backends.get_mut(backend) {
            s.health = health;
        }
    }

    pub fn set_catalog(&mut self, backend: &str, catalog: Arc<Catalog>) {
        if let Some(s) = self.backends.get_mut(backend) {
            s.catalog = Some(catalog);
        }
    }

    /// Prompts on the backend that are not ours (its queue length minus our running jobs).
    pub fn set_external_load(&mut self, backend: &str, prompts: u32) {
        if let Some(s) = self.backends.get_mut(backend) {
            s.external = prompts;
        }
    }

    /// A job of ours runs on `backend` without having been assigned here (after a restart
    /// the orchestrator re-attaches to jobs that were running).
    pub fn occupy(&mut self, backend: &str) {
        if let Some(s) = self.backends.get_mut(backend) {
            s.running += 1;
        }
    }

    /// A job of ours on `backend` ended (whatever the outcome): its slot is free.
    pub fn release(&mut self, backend: &str) {
        if let Some(s) = self.backends.get_mut(backend) {
            s.running = s.running.saturating_sub(1);
        }
    }

    /// Our jobs running on `backend`.
    pub fn running_on(&self, backend: &str) -> u32 {
        self.backends.get(backend).map_or(0, |s| s.running)
    }

    pub fn enqueue(&mut self, job: QueuedJob) {
        if let Some(old) = self.jobs.remove(&job.id) {
            self.order.remove(&(Reverse(old.priority), old.id));
        }
        self.order.insert((Reverse(job.priority), job.id));
        self.jobs.insert(job.id, job);
    }

    /// Take a job out of the queue (cancelled); false when it was not queued here.
    pub fn remove(&mut self, id: JobId) -> bool {
        match self.jobs.remove(&id) {
            Some(j) => self.order.remove(&(Reverse(j.priority), j.id)),
            None => false,
        }
    }

    /// Change a queued job's priority; false when it is not queued here.
    pub fn set_priority(&mut self, id: JobId, priority: i64) -> bool {
        let Some(j) = self.jobs.get_mut(&id) else {
            return false;
        };
        self.order.remove(&(Reverse(j.priority), id));
        j.priority = priority;
        self.order.insert((Reverse(priority), id));
        true
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    pub fn contains(&self, id: JobId) -> bool {
        self.jobs.contains_key(&id)
    }

    /// Queued job ids in the order they would run if every backend could take every job.
    pub fn queued(&self) -> impl Iterator<Item = JobId> + '_ {
        self.order.iter().map(|(_, id)| *id)
    }

    /// Decide every job that can start now, in priority order. The chosen slots count as
    /// taken; the jobs leave the queue.
    pub fn assign(&mut self) -> Vec<Assignment> {
        let mut out = Vec::new();
        let mut taken = Vec::new();
        for &(_, id) in &self.order {
            if !self.backends.values().any(Slot::free) {
                break;
            }
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            let best = self
                .backends
                .values()
                .filter(|s| s.free() && fits(job, s))
                .min_by(|a, b| rank(a).partial_cmp(&rank(b)).unwrap_or(Ordering::Equal));
            let Some(slot) = best else {
                continue;
            };
            let name = slot.spec.name.clone();
            if let Some(s) = self.backends.get_mut(&name) {
                s.running += 1;
            }
            taken.push((Reverse(job.priority), id));
            out.push(Assignment {
                job: id,
                backend: name,
            });
        }
        for key in taken {
            self.order.remove(&key);
            self.jobs.remove(&key.1);
        }
        out
    }

    /// Why a queued job is not running, in one line (for status views); None when some
    /// backend could take it as soon as it has a free slot.
    pub fn blocked_reason(&self, id: JobId) -> Option<String> {
        let job = self.jobs.get(&id)?;
        if self.backends.is_empty() {
            return Some("no backend is registered".into());
        }
        let mut reasons = Vec::new();
        for s in self.backends.values() {
            let name = &s.spec.name;
            let why = if job.excluded.contains(name) {
                Some("failed this job before".to_string())
            } else if job
                .pool
                .as_ref()
                .is_some_and(|p| s.spec.pool.as_ref() != Some(p))
            {
                Some(format!(
                    "is not in pool `{}`",
                    job.pool.as_deref().unwrap_or("")
                ))
            } else if let Some(t) = job.tags.iter().find(|t| !s.spec.tags.contains(*t)) {
                Some(format!("lacks tag `{t}`"))
            } else if let Some(c) = &s.catalog {
                c.missing(&job.requirements)
                    .first()
                    .map(|m| format!("lacks {m}"))
            } else {
                Some("has not reported its node catalogue".into())
            };
            match why {
                Some(w) => reasons.push(format!("{name} {w}")),
                None if !s.health.usable() => reasons.push(format!("{name} is {}", s.health)),
                None => return None,
            }
        }
        Some(reasons.join("; "))
    }
}

fn fits(job: &QueuedJob, s: &Slot) -> bool {
    if job.excluded.contains(&s.spec.name) {
        return false;
    }
    if let Some(pool) = &job.pool
        && s.spec.pool.as_ref() != Some(pool)
    {
        return false;
    }
    if !job.tags.is_subset(&s.spec.tags) {
        return false;
    }
    s.catalog
        .as_ref()
        .is_some_and(|c| c.missing(&job.requirements).is_empty())
}

/// Lower is better: healthy first, then load per weight, then fewer running, then name.
fn rank(s: &Slot) -> (u8, f64, u32) {
    let degraded = u8::from(s.health != HealthState::Healthy);
    (degraded, s.load(), s.running)
}
