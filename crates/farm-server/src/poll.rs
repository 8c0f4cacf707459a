//! One thread per backend: health and load from `/system_stats` and `/queue` every
//! `poll_interval`; the node catalogue from `/object_info` (and the model folders) when
//! the backend becomes usable and every `catalog_refresh` after that.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use visualpath_comfy::Client;
use visualpath_farm::catalog::Catalog;
use visualpath_farm::health::Probe;

use crate::engine::Farm;

pub(crate) fn run(farm: Farm, name: String, client: Client, stop: Arc<AtomicBool>) {
    let cfg = farm.inner.cfg.clone();
    let probe_client = client.clone().with_timeout(cfg.probe_timeout);
    let slow_client = client.with_timeout(cfg.request_timeout);
    let mut catalog_at: Option<Instant> = None;
    let mut last_view = None;
    while !stop.load(Ordering::SeqCst) && !farm.stopping() {
        let t0 = Instant::now();
        // A backend that did not answer the first request is not asked a second time in
        // this round (a frozen one would cost two timeouts per probe).
        let answer = probe_client
            .system_stats()
            .and_then(|stats| Ok((stats, probe_client.queue()?)));
        let latency_ms = t0.elapsed().as_millis() as u64;
        let usable = {
            let mut st = farm.inner.state.lock();
            let Some(b) = st.backends.get_mut(&name) else {
                return;
            };
            let (probe, remaining) = match answer {
                Ok((stats, q)) => {
                    b.stats = Some(stats);
                    (
                        Probe::Ok { latency_ms },
                        Some((q.running.len() + q.pending.len()) as u32),
                    )
                }
                Err(e) => (Probe::Failed(e.to_string()), None),
            };
            let changed = b.health.observe(probe);
            let usable = b.health.state().usable();
            if let Some(h) = changed {
                tracing::info!("backend `{name}` is {h}");
                farm.health_changed(&mut st, &name, h);
            }
            if let Some(r) = remaining {
                farm.load_changed(&mut st, &name, r);
            }
            usable
        };
        if usable {
            stop_orphans(&farm, &name, &probe_client);
        }
        let due = catalog_at.is_none_or(|t| t.elapsed() >= cfg.catalog_refresh);
        if usable && due {
            match slow_client
                .object_info()
                .map(|v| Catalog::from_object_info(&v))
            {
                Ok(Ok(catalog)) => {
                    let models = model_counts(&slow_client);
                    let mut st = farm.inner.state.lock();
                    if let Some(b) = st.backends.get_mut(&name) {
                        b.models = models;
                        let catalog = Arc::new(catalog);
                        b.catalog = Some(catalog.clone());
                        farm.catalog_changed(&mut st, &name, catalog);
                    }
                    catalog_at = Some(Instant::now());
                }
                Ok(Err(e)) => tracing::warn!("backend `{name}`: its node catalogue: {e}"),
                Err(e) => tracing::warn!("backend `{name}`: reading its node catalogue: {e}"),
            }
        }
        // Tell the page only when something it shows changed.
        if let Some(v) = farm.backend_view(&name)
            && last_view.as_ref() != Some(&v)
        {
            farm.emit(crate::view::FarmEvent::Backend {
                backend: Box::new(v.clone()),
            });
            last_view = Some(v);
        }
        let until = t0 + cfg.poll_interval;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) && !farm.stopping() {
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Remove and interrupt the prompts of attempts that were given up on this backend (it
/// froze, they went elsewhere); kept for the next round when the backend does not answer.
fn stop_orphans(farm: &Farm, name: &str, client: &Client) {
    let orphans = farm.inner.state.lock().orphans.remove(name);
    let mut left = Vec::new();
    for prompt in orphans.into_iter().flatten() {
        let done = client
            .delete_pending(&[&prompt])
            .and_then(|()| client.interrupt(&prompt));
        match done {
            Ok(()) => tracing::info!("backend `{name}`: stopped prompt {prompt} of a lost attempt"),
            Err(_) => left.push(prompt),
        }
    }
    if !left.is_empty() {
        farm.inner
            .state
            .lock()
            .orphans
            .entry(name.to_string())
            .or_default()
            .extend(left);
    }
}

/// Files per model folder (checkpoints, loras, ...), for the dashboard.
fn model_counts(client: &Client) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(folders) = client.model_folders() {
        for f in folders {
            if let Ok(files) = client.models(&f)
                && !files.is_empty()
            {
                out.insert(f, files.len());
            }
        }
    }
    out
}
