//! Asynchronous delivery for network sinks: a bounded queue, a delivery thread, retries
//! with backoff, counters and health.
//!
//! A network sink is a [`Transport`] (how to send one record) wrapped in an [`Outbox`]
//! (everything else). [`Sink::write`] only puts the record in the outbox's queue and
//! returns, so a slow or unreachable peer never slows the pipeline or the other sinks:
//!
//! - the queue holds at most `queue.capacity` records; when it is full, `overflow`
//!   decides: `drop_oldest` (default: the newest data wins, as a live display wants),
//!   `drop_newest` (the record being written is dropped) or `block` (the pipeline waits:
//!   lossless, for sinks that must not lose anything). Drops are counted in
//!   [`SinkStatus::dropped`];
//! - the delivery thread sends records in order. A transient error (connection refused,
//!   a broker restarting, HTTP 5xx) is retried with jittered exponential backoff
//!   (`retry.initial` doubling up to `retry.max`) until it succeeds or `retry.attempts`
//!   attempts were made (0: no limit), while later records wait in the queue (which
//!   drops per its policy when it fills): order is kept. A permanent error (a record
//!   the peer rejects) counts the record as failed and moves on;
//! - at the end of the run ([`Sink::flush`]) the outbox delivers what is queued for at
//!   most `drain_timeout`; what is left is counted as dropped, so a dead peer delays the
//!   end of a run by at most that long.
//!
//! The health is `starting` until the first delivery, then `healthy` after each
//! success, `retrying` while a transient failure is being retried and `failing` after a
//! record was given up on.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use visualpath_sdk::core::HumanDuration;
use visualpath_sdk::{ComponentError, Record, Result, Sink, SinkHealth, SinkStatus};

/// What happens when a sink's queue is full.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum QueueOverflow {
    /// Drop the oldest waiting record to make room (the newest data wins).
    #[default]
    DropOldest,
    /// Drop the record being written.
    DropNewest,
    /// Make the pipeline wait until there is room (nothing is lost; a dead peer then
    /// stalls the records feeding this sink).
    Block,
}

/// A sink's queue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Records that may wait for delivery. Default `1024`; at least 1.
    pub capacity: usize,
    /// When full: `drop_oldest` (default), `drop_newest` or `block`.
    pub overflow: QueueOverflow,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 1024,
            overflow: QueueOverflow::DropOldest,
        }
    }
}

/// Retries of a sink's deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First wait after a failed attempt. Default `100ms`.
    pub initial: HumanDuration,
    /// Longest wait between attempts. Default `5s`.
    pub max: HumanDuration,
    /// Attempts per record before it counts as failed; `0` retries until delivered (the
    /// queue's overflow policy then bounds what waits). Default `0`.
    pub attempts: u32,
    /// At the end of a run, how long to keep delivering what is queued. Default `5s`.
    pub drain_timeout: HumanDuration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial: HumanDuration::from_millis(100),
            max: HumanDuration::from_millis(5000),
            attempts: 0,
            drain_timeout: HumanDuration::from_millis(5000),
        }
    }
}

/// How a network sink sends one record. Runs on the outbox's delivery thread.
pub trait Transport: Send + 'static {
    /// Sends `record`. `Ok(false)`: the transport chose not to send it (a rate limit, a
    /// record kind it has nothing for), counted as skipped. A transient error is
    /// retried; a permanent one counts the record as failed. The transport connects
    /// lazily and reconnects inside `send` after an error.
    fn send(&mut self, record: &Record) -> Result<bool>;

    /// Called when the queue is empty and the outbox has been idle for a moment (and at
    /// the end): send anything the transport batches.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

struct Queued {
    record: Record,
    at: Instant,
}

struct State {
    queue: VecDeque<Queued>,
    closing: bool,
    /// Set by `flush`: when the delivery thread must give up.
    deadline: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a record is queued or the outbox closes.
    work: Condvar,
    /// Signalled when room frees up or the queue empties.
    room: Condvar,
    status: Arc<SinkStatus>,
    queue: QueueConfig,
    retry: RetryConfig,
    what: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A [`Sink`] that delivers through a [`Transport`] on a thread of its own.
pub struct Outbox {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("what", &self.shared.what)
            .finish()
    }
}

impl Outbox {
    /// Starts the delivery thread. `what` names the peer in errors and logs (`mqtt
    /// broker 127.0.0.1:1883`); it must not contain credentials.
    pub fn start(
        what: impl Into<String>,
        transport: impl Transport,
        queue: QueueConfig,
        retry: RetryConfig,
    ) -> Result<Self> {
        let what = what.into();
        if queue.capacity == 0 {
            return Err(ComponentError::new(format!(
                "{what}: queue capacity must be at least 1"
            )));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(queue.capacity.min(4096)),
                closing: false,
                deadline: None,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            status: SinkStatus::new(),
            queue,
            retry,
            what: what.clone(),
        });
        let s = shared.clone();
        let worker = std::thread::Builder::new()
            .name(format!("outbox {what}"))
            .spawn(move || deliver(&s, transport))
            .map_err(|e| {
                ComponentError::new(format!("{what}: cannot start delivery thread: {e}"))
            })?;
        Ok(Self {
            shared,
            worker: Some(worker),
        })
    }

    /// The outbox's counters and health.
    pub fn status_handle(&self) -> Arc<SinkStatus> {
        self.shared.status.clone()
    }

    fn close(&mut self) {
        let deadline = Instant::now() + self.shared.retry.drain_timeout.get();
        {
            let mut st = self.shared.lock();
            st.closing = true;
            st.deadline.get_or_insert(deadline);
        }
        self.shared.work.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Sink for Outbox {
    fn write(&mut self, record: &Record) -> Result<()> {
        let sh = &self.shared;
        let mut st = sh.lock();
        if st.closing {
            return Err(ComponentError::new(format!(
                "{}: sink already closed",
                sh.what
            )));
        }
        if st.queue.len() >= sh.queue.capacity {
            match sh.queue.overflow {
                QueueOverflow::DropOldest => {
                    st.queue.pop_front();
                    SinkStatus::bump(&sh.status.dropped);
                }
                QueueOverflow::DropNewest => {
                    SinkStatus::bump(&sh.status.dropped);
                    return Ok(());
                }
                QueueOverflow::Block => {
                    while st.queue.len() >= sh.queue.capacity && !st.closing {
                        st = sh.room.wait(st).unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
        }
        st.queue.push_back(Queued {
            record: record.clone(),
            at: Instant::now(),
        });
        sh.status
            .queued
            .store(st.queue.len() as u64, Ordering::Relaxed);
        drop(st);
        sh.work.notify_one();
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.close();
        Ok(())
    }

    fn status(&self) -> Option<Arc<SinkStatus>> {
        Some(self.shared.status.clone())
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.worker.is_some() {
            // Not flushed (the pipeline failed): give the peer no extra time.
            self.shared.lock().deadline = Some(Instant::now());
            self.close();
        }
    }
}

/// A wait of `base` scaled by a pseudo-random factor in [0.75, 1.25).
fn jittered(base: Duration, seed: &mut u64) -> Duration {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let f = 0.75 + 0.5 * ((*seed >> 11) as f64 / (1u64 << 53) as f64);
    base.mul_f64(f)
}

/// The delivery thread.
fn deliver(sh: &Shared, mut transport: impl Transport) {
    let status = &sh.status;
    let mut seed = u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15;
    let mut idle_flushed = true;
    loop {
        let item = {
            let mut st = sh.lock();
            loop {
                if let Some(item) = st.queue.pop_front() {
                    status
                        .queued
                        .store(st.queue.len() as u64, Ordering::Relaxed);
                    break Some(item);
                }
                if st.closing {
                    break None;
                }
                if !idle_flushed {
                    break None;
                }
                st = sh.work.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        sh.room.notify_one();
        let Some(item) = item else {
            if let Err(e) = transport.flush() {
                status.set_error(e.message);
            }
            idle_flushed = true;
            let st = sh.lock();
            if st.closing && st.queue.is_empty() {
                return;
            }
            continue;
        };
        idle_flushed = false;
        let mut attempt = 0u32;
        let mut wait = sh.retry.initial.get();
        loop {
            attempt += 1;
            match transport.send(&item.record) {
                Ok(sent) => {
                    if sent {
                        SinkStatus::bump(&status.sent);
                        status.latency.record(
                            u64::try_from(item.at.elapsed().as_nanos()).unwrap_or(u64::MAX),
                        );
                    } else {
                        SinkStatus::bump(&status.skipped);
                    }
                    status.set_health(SinkHealth::Healthy);
                    break;
                }
                Err(e) => {
                    let give_up = !e.transient
                        || (sh.retry.attempts > 0 && attempt >= sh.retry.attempts)
                        || past_deadline(sh);
                    status.set_error(format!("{}: {}", sh.what, e.message));
                    if give_up {
                        SinkStatus::bump(&status.failed);
                        status.set_health(SinkHealth::Failing);
                        let n = status.failed.load(Ordering::Relaxed);
                        if n <= 3 || n.is_power_of_two() {
                            tracing::warn!(sink = %sh.what, failed = n, "record not delivered: {}", e.message);
                        }
                        break;
                    }
                    SinkStatus::bump(&status.retries);
                    status.set_health(SinkHealth::Retrying);
                    let r = status.retries.load(Ordering::Relaxed);
                    if attempt == 1 && (r <= 3 || r.is_power_of_two()) {
                        tracing::warn!(sink = %sh.what, "delivery failed, retrying: {}", e.message);
                    }
                    let pause = jittered(wait, &mut seed);
                    wait = (wait * 2).min(sh.retry.max.get());
                    sleep_unless_deadline(sh, pause);
                }
            }
        }
        // Past the drain deadline: what is left is dropped.
        if past_deadline(sh) {
            let mut st = sh.lock();
            let left = st.queue.len() as u64;
            st.queue.clear();
            status.queued.store(0, Ordering::Relaxed);
            status.dropped.fetch_add(left, Ordering::Relaxed);
            if left > 0 {
                tracing::warn!(sink = %sh.what, dropped = left, "drain timeout passed; records left undelivered");
            }
            drop(st);
            sh.room.notify_all();
            let _ = transport.flush();
            return;
        }
    }
}

fn past_deadline(sh: &Shared) -> bool {
    sh.lock().deadline.is_some_and(|d| Instant::now() >= d)
}

/// Sleeps `pause`, waking early when the drain deadline comes first.
fn sleep_unless_deadline(sh: &Shared, pause: Duration) {
    let until = Instant::now() + pause;
    let mut st = sh.lock();
    loop {
        let now = Instant::now();
        let end = st.deadline.map_or(until, |d| d.min(until));
        if now >= end {
            return;
        }
        st = sh
            .work
            .wait_timeout(st, end - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32};
    use visualpath_sdk::core::{Event, EventPhase, Name};

    fn record(i: u64) -> Record {
        Record::Event(Arc::new(Event {
            id: i,
            rule: Name::from_static("r"),
            source: Name::from_static("cam"),
            phase: EventPhase::Start,
            seq: i,
            capture_time_ns: i as i64,
            since_ns: i as i64,
            until_ns: None,
            values: Default::default(),
            clip: Default::default(),
        }))
    }

    fn seq(r: &Record) -> u64 {
        match r {
            Record::Event(e) => e.seq,
            _ => u64::MAX,
        }
    }

    /// Fails the first `fail` attempts transiently, then records what it sent.
    struct Flaky {
        fail: Arc<AtomicU32>,
        sent: Arc<Mutex<Vec<u64>>>,
        gate: Arc<AtomicBool>,
    }

    impl Transport for Flaky {
        fn send(&mut self, r: &Record) -> Result<bool> {
            while !self.gate.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
            }
            if self.fail.load(Ordering::Relaxed) > 0 {
                self.fail.fetch_sub(1, Ordering::Relaxed);
                return Err(ComponentError::transient("peer down"));
            }
            if seq(r) == 999 {
                return Err(ComponentError::new("rejected"));
            }
            self.sent.lock().unwrap().push(seq(r));
            Ok(true)
        }
    }

    fn flaky(fail: u32, open: bool) -> (Flaky, Arc<Mutex<Vec<u64>>>, Arc<AtomicBool>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(AtomicBool::new(open));
        (
            Flaky {
                fail: Arc::new(AtomicU32::new(fail)),
                sent: sent.clone(),
                gate: gate.clone(),
            },
            sent,
            gate,
        )
    }

    fn fast_retry() -> RetryConfig {
        RetryConfig {
            initial: HumanDuration::from_millis(1),
            max: HumanDuration::from_millis(4),
            ..RetryConfig::default()
        }
    }

    #[test]
    fn retries_keep_order_and_lose_nothing() {
        let (t, sent, _) = flaky(5, true);
        let mut o = Outbox::start("test", t, QueueConfig::default(), fast_retry()).unwrap();
        for i in 0..100 {
            o.write(&record(i)).unwrap();
        }
        o.flush().unwrap();
        assert_eq!(*sent.lock().unwrap(), (0..100).collect::<Vec<_>>());
        let s = o.status_handle();
        assert_eq!(s.sent.load(Ordering::Relaxed), 100);
        assert_eq!(s.retries.load(Ordering::Relaxed), 5);
        assert_eq!(s.health(), SinkHealth::Healthy);
    }

    #[test]
    fn full_queue_drops_oldest_and_counts() {
        let (t, sent, gate) = flaky(0, false);
        let q = QueueConfig {
            capacity: 10,
            overflow: QueueOverflow::DropOldest,
        };
        let mut o = Outbox::start("test", t, q, fast_retry()).unwrap();
        for i in 0..50 {
            o.write(&record(i)).unwrap();
        }
        gate.store(true, Ordering::Relaxed);
        o.flush().unwrap();
        let got = sent.lock().unwrap().clone();
        let s = o.status_handle();
        // The delivery thread may hold one record (the first) while the queue fills.
        assert!(got.len() == 10 || got.len() == 11, "{got:?}");
        assert_eq!(*got.last().unwrap(), 49, "the newest survive");
        assert_eq!(s.dropped.load(Ordering::Relaxed) + got.len() as u64, 50);
    }

    #[test]
    fn full_queue_drops_newest_when_asked() {
        let (t, sent, gate) = flaky(0, false);
        let q = QueueConfig {
            capacity: 5,
            overflow: QueueOverflow::DropNewest,
        };
        let mut o = Outbox::start("test", t, q, fast_retry()).unwrap();
        for i in 0..20 {
            o.write(&record(i)).unwrap();
        }
        gate.store(true, Ordering::Relaxed);
        o.flush().unwrap();
        let got = sent.lock().unwrap().clone();
        assert!(
            got.len() <= 6 && got[..5] == [0, 1, 2, 3, 4][..got.len().min(5)],
            "{got:?}"
        );
    }

    #[test]
    fn block_policy_waits_and_loses_nothing() {
        let (t, sent, gate) = flaky(0, false);
        let q = QueueConfig {
            capacity: 2,
            overflow: QueueOverflow::Block,
        };
        let mut o = Outbox::start("test", t, q, fast_retry()).unwrap();
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            gate.store(true, Ordering::Relaxed);
        });
        for i in 0..20 {
            o.write(&record(i)).unwrap();
        }
        o.flush().unwrap();
        opener.join().unwrap();
        assert_eq!(*sent.lock().unwrap(), (0..20).collect::<Vec<_>>());
        assert_eq!(o.status_handle().dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn permanent_errors_and_spent_budgets_fail_the_record_only() {
        let (t, sent, _) = flaky(3, true);
        let retry = RetryConfig {
            attempts: 2,
            ..fast_retry()
        };
        let mut o = Outbox::start("test", t, QueueConfig::default(), retry).unwrap();
        // Record 0: attempts 1 and 2 fail (budget 2): failed. Record 1: attempt 1 fails,
        // attempt 2 succeeds. 999 is rejected for good.
        for i in [0, 1, 999, 2] {
            o.write(&record(i)).unwrap();
        }
        o.flush().unwrap();
        assert_eq!(*sent.lock().unwrap(), vec![1, 2]);
        let s = o.status_handle();
        assert_eq!(s.failed.load(Ordering::Relaxed), 2);
        assert!(s.last_error().unwrap().contains("test"));
    }

    #[test]
    fn a_dead_peer_delays_the_end_by_the_drain_timeout_only() {
        let (t, sent, _) = flaky(u32::MAX, true);
        let retry = RetryConfig {
            drain_timeout: HumanDuration::from_millis(100),
            ..fast_retry()
        };
        let mut o = Outbox::start("test", t, QueueConfig::default(), retry).unwrap();
        for i in 0..10 {
            o.write(&record(i)).unwrap();
        }
        o.flush().unwrap();
        assert!(sent.lock().unwrap().is_empty());
        let s = o.status_handle();
        assert_eq!(s.health(), SinkHealth::Failing);
        assert_eq!(
            s.failed.load(Ordering::Relaxed) + s.dropped.load(Ordering::Relaxed),
            10
        );
        assert!(o.write(&record(11)).is_err(), "closed");
    }
}
