//! The farm service on a free port, shared by the API and page tests.
#![allow(dead_code)]

use std::time::Duration;

use visualpath_farm_server::{Farm, FarmConfig, api};

/// A farm with its HTTP service on 127.0.0.1 (a free port), requiring `token`.
pub struct Service {
    pub base: String,
    pub farm: Farm,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Service {
    pub fn start(token: &str) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = FarmConfig::new(dir.path());
        cfg.poll_interval = Duration::from_millis(200);
        let farm = Farm::start(cfg).unwrap();
        let token = token.to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::sync_channel(1);
        let f = farm.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(l.local_addr().unwrap()).unwrap();
                api::serve(f, l, Some(token), async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        Service {
            base: format!("http://{addr}"),
            farm,
            stop: Some(tx),
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.farm.shutdown();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    )
}
