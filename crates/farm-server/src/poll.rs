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
        let stats = probe_client.system_stats();
        let queue = probe_client.queue();
        let latency_ms = t0.elapsed().as_millis() as u64;
        let usable = {
            let mut st = farm.inner.state.lock();
            let Some(b) = st.backends.get_mut(&name) else {
                return;
            };
            let (probe, remaining) = match (&stats, &queue) {
                (Ok(_), Ok(q)) => (
                    Probe::Ok { latency_ms },
                    Some((q.running.len() + q.pending.len()) as u32),
                ),
                (Err(e), _) | (_, Err(e)) => (Probe::Failed(e.to_string()), None),
            };
            if let Ok(s) = stats {
                b.stats = Some(s);
            }
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
