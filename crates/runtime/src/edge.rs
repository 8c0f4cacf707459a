//! Edges: bounded queues between pipeline nodes, with a declared quality of service.
//!
//! Every edge has a bound and an explicit overflow policy, and every drop is counted by
//! reason. There is no unbounded queue in visualpath.
//!
//! | QoS | capacity | when full | use |
//! |---|---|---|---|
//! | `realtime` | 1 | the new item replaces the waiting one (counted `replaced`) | live inference inputs: a slow analyzer always gets the newest frame |
//! | `durable` + `block` | `capacity` | the producer waits (sources) or is not scheduled (pool nodes) | lossless: files, records to sinks |
//! | `durable` + `drop-oldest` | `capacity` | the oldest waiting item is dropped (counted `overflow`) | bounded memory with a preference for fresh data |
//!
//! End-of-stream markers are control items: they are never dropped or replaced, and are
//! delivered after the data items pushed before them.
//!
//! `block` edges fed by a pool node can exceed `capacity` by the few items one input
//! message produces (a node is only scheduled when its `block` outputs have room for one
//! more item, and then handles one message); the excess is bounded by the node kind and
//! shown as `max_depth` in the statistics.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use visualpath_core::{Histogram, Name};

/// What happens when a `durable` edge is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// The producer waits until there is room: nothing is lost, upstream slows down.
    Block,
    /// The oldest waiting item is dropped to make room (counted as `overflow`).
    DropOldest,
}

/// The quality of service of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Qos {
    /// Latest only: depth 1, a new item replaces the waiting one.
    Realtime,
    /// Every item in order, up to a bound, with an overflow policy.
    Durable,
}

/// An edge's declared behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EdgeSpec {
    /// Latest-only or durable.
    pub qos: Qos,
    /// Bound for durable edges (ignored for realtime, whose bound is 1).
    pub capacity: usize,
    /// Policy when a durable edge is full.
    pub overflow: Overflow,
}

impl EdgeSpec {
    /// Latest-only delivery.
    pub const fn realtime() -> Self {
        Self {
            qos: Qos::Realtime,
            capacity: 1,
            overflow: Overflow::DropOldest,
        }
    }

    /// Lossless delivery with backpressure.
    pub const fn lossless(capacity: usize) -> Self {
        Self {
            qos: Qos::Durable,
            capacity,
            overflow: Overflow::Block,
        }
    }

    /// Bounded delivery that drops the oldest item when full.
    pub const fn drop_oldest(capacity: usize) -> Self {
        Self {
            qos: Qos::Durable,
            capacity,
            overflow: Overflow::DropOldest,
        }
    }

    /// The effective bound.
    pub fn bound(&self) -> usize {
        match self.qos {
            Qos::Realtime => 1,
            Qos::Durable => self.capacity.max(1),
        }
    }

    /// Whether a full edge makes its producer wait.
    pub fn blocks(&self) -> bool {
        self.qos == Qos::Durable && self.overflow == Overflow::Block
    }
}

impl fmt::Display for EdgeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.qos, self.overflow) {
            (Qos::Realtime, _) => f.write_str("realtime"),
            (Qos::Durable, Overflow::Block) => write!(f, "durable({}, block)", self.capacity),
            (Qos::Durable, Overflow::DropOldest) => {
                write!(f, "durable({}, drop-oldest)", self.capacity)
            }
        }
    }
}

/// Someone to tell when an edge changes: the consumer when an item arrives, the producer
/// when room appears.
pub trait Wake: Send + Sync {
    /// Called after the change; must not block.
    fn wake(&self);
}

/// Counters of one edge. Readable at any time from any thread.
#[derive(Debug, Default)]
pub struct EdgeStats {
    /// Items pushed.
    pub pushed: AtomicU64,
    /// Items handed to the consumer.
    pub delivered: AtomicU64,
    /// Items dropped because a newer item replaced them (realtime edges).
    pub replaced: AtomicU64,
    /// Items dropped because the edge was full (drop-oldest edges).
    pub overflow: AtomicU64,
    /// Items discarded at shutdown without being delivered.
    pub discarded: AtomicU64,
    /// Largest number of items waiting at once.
    pub max_depth: AtomicU64,
    /// Time items waited in the queue, ns.
    pub queue_age: Histogram,
}

impl EdgeStats {
    /// All drops.
    pub fn dropped(&self) -> u64 {
        self.replaced.load(Ordering::Relaxed) + self.overflow.load(Ordering::Relaxed)
    }
}

struct Queue<T> {
    data: VecDeque<(u64, T)>,
    /// Control items with the number of data items that were pushed before them.
    control: VecDeque<(u64, T)>,
    /// Data items ever accepted (monotonic, to order control items after data).
    data_seq: u64,
    /// Data items ever taken out (delivered or dropped).
    data_out: u64,
    closed: bool,
}

/// A bounded single-consumer queue between two nodes.
pub struct Edge<T> {
    /// `from -> to`, for statistics and errors.
    pub from: Name,
    /// Consumer name.
    pub to: Name,
    spec: EdgeSpec,
    queue: Mutex<Queue<T>>,
    room: Condvar,
    consumer: Mutex<Option<Arc<dyn Wake>>>,
    producer: Mutex<Option<Arc<dyn Wake>>>,
    stats: EdgeStats,
    now: Arc<dyn Fn() -> u64 + Send + Sync>,
    has_room_flag: AtomicBool,
}

/// Why a push did not complete.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The pipeline is stopping; the item was not queued.
    Stopped,
}

impl<T> Edge<T> {
    /// A new edge. `now` gives monotonic ns for queue-age statistics.
    pub fn new(
        from: Name,
        to: Name,
        spec: EdgeSpec,
        now: Arc<dyn Fn() -> u64 + Send + Sync>,
    ) -> Self {
        Self {
            from,
            to,
            spec,
            queue: Mutex::new(Queue {
                data: VecDeque::with_capacity(spec.bound().min(1024)),
                control: VecDeque::new(),
                data_seq: 0,
                data_out: 0,
                closed: false,
            }),
            room: Condvar::new(),
            consumer: Mutex::new(None),
            producer: Mutex::new(None),
            stats: EdgeStats::default(),
            now,
            has_room_flag: AtomicBool::new(true),
        }
    }

    /// The declared behaviour.
    pub fn spec(&self) -> EdgeSpec {
        self.spec
    }

    /// Counters.
    pub fn stats(&self) -> &EdgeStats {
        &self.stats
    }

    /// Registers who consumes (woken on push).
    pub fn set_consumer(&self, w: Arc<dyn Wake>) {
        *self.consumer.lock() = Some(w);
    }

    /// Registers who produces (woken when room appears on a blocking edge).
    pub fn set_producer(&self, w: Arc<dyn Wake>) {
        *self.producer.lock() = Some(w);
    }

    /// Forgets the registered consumer and producer (at the end of a run).
    pub fn clear_wakers(&self) {
        *self.consumer.lock() = None;
        *self.producer.lock() = None;
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        let q = self.queue.lock();
        q.data.len() + q.control.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a push would not block (always true for non-blocking edges).
    pub fn has_room(&self) -> bool {
        if !self.spec.blocks() {
            return true;
        }
        self.has_room_flag.load(Ordering::Acquire)
    }

    fn update_room(&self, q: &Queue<T>) {
        self.has_room_flag
            .store(q.data.len() < self.spec.bound(), Ordering::Release);
    }

    fn wake_consumer(&self) {
        let c = self.consumer.lock().clone();
        if let Some(c) = c {
            c.wake();
        }
    }

    fn note_depth(&self, q: &Queue<T>) {
        self.stats
            .max_depth
            .fetch_max((q.data.len() + q.control.len()) as u64, Ordering::Relaxed);
    }

    /// Pushes a data item without ever waiting: realtime edges replace, drop-oldest edges
    /// drop, and block edges accept it even when full (the caller, a pool node, checked
    /// [`Edge::has_room`] before it started work).
    pub fn push(&self, item: T) {
        self.stats.pushed.fetch_add(1, Ordering::Relaxed);
        let now = (self.now)();
        {
            let mut q = self.queue.lock();
            if q.closed {
                self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                return;
            }
            match (self.spec.qos, self.spec.overflow) {
                (Qos::Realtime, _) => {
                    if q.data.pop_front().is_some() {
                        q.data_out += 1;
                        self.stats.replaced.fetch_add(1, Ordering::Relaxed);
                    }
                }
                (Qos::Durable, Overflow::DropOldest) => {
                    while q.data.len() >= self.spec.bound() {
                        q.data.pop_front();
                        q.data_out += 1;
                        self.stats.overflow.fetch_add(1, Ordering::Relaxed);
                    }
                }
                (Qos::Durable, Overflow::Block) => {}
            }
            q.data.push_back((now, item));
            q.data_seq += 1;
            self.note_depth(&q);
            self.update_room(&q);
        }
        self.wake_consumer();
    }

    /// Pushes a data item, waiting while a block edge is full. Returns
    /// `Err(Stopped)` if `stop` becomes true while waiting (checked every `poll`).
    pub fn push_wait(&self, item: T, stop: &AtomicBool, poll: Duration) -> Result<(), PushError> {
        if self.spec.blocks() {
            let mut q = self.queue.lock();
            while q.data.len() >= self.spec.bound() && !q.closed {
                if stop.load(Ordering::Relaxed) {
                    return Err(PushError::Stopped);
                }
                self.room.wait_for(&mut q, poll);
            }
        }
        self.push(item);
        Ok(())
    }

    /// Pushes a control item (end of stream): never dropped, delivered after every data
    /// item pushed before it.
    pub fn push_control(&self, item: T) {
        {
            let mut q = self.queue.lock();
            if q.closed {
                return;
            }
            let after = q.data_seq;
            q.control.push_back((after, item));
            self.note_depth(&q);
        }
        self.wake_consumer();
    }

    /// Takes the next item: data items first, then control items whose preceding data
    /// has been taken. Returns the item and how long it waited (ns; 0 for control).
    pub fn pop(&self) -> Option<T> {
        let (item, was_full) = {
            let mut q = self.queue.lock();
            let was_full = q.data.len() >= self.spec.bound();
            let ctl_ready = q
                .control
                .front()
                .is_some_and(|(after, _)| *after <= q.data_out);
            let item = if ctl_ready {
                q.control.pop_front().map(|(_, it)| it)
            } else if let Some((t, it)) = q.data.pop_front() {
                q.data_out += 1;
                let now = (self.now)();
                self.stats.queue_age.record(now.saturating_sub(t));
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                Some(it)
            } else {
                None
            };
            self.update_room(&q);
            (item, was_full)
        };
        if item.is_some() && was_full && self.spec.blocks() {
            self.room.notify_all();
            let p = self.producer.lock().clone();
            if let Some(p) = p {
                p.wake();
            }
        }
        item
    }

    /// Closes the edge: queued and future items are discarded (counted) and waiting
    /// producers are released. Used when the pipeline stops early.
    pub fn close(&self) {
        let mut q = self.queue.lock();
        q.closed = true;
        let n = q.data.len() as u64;
        q.data.clear();
        q.control.clear();
        self.stats.discarded.fetch_add(n, Ordering::Relaxed);
        self.update_room(&q);
        drop(q);
        self.room.notify_all();
    }
}

impl<T> fmt::Debug for Edge<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Edge({} -> {}, {})", self.from, self.to, self.spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn edge(spec: EdgeSpec) -> Edge<u32> {
        Edge::new(
            Name::from_static("a"),
            Name::from_static("b"),
            spec,
            Arc::new(|| 0),
        )
    }

    #[test]
    fn realtime_keeps_latest_and_counts_replacements() {
        let e = edge(EdgeSpec::realtime());
        for i in 0..5 {
            e.push(i);
        }
        assert_eq!(e.pop(), Some(4));
        assert_eq!(e.pop(), None);
        assert_eq!(e.stats().replaced.load(Ordering::Relaxed), 4);
        assert_eq!(e.stats().delivered.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn drop_oldest_keeps_newest_capacity_items() {
        let e = edge(EdgeSpec::drop_oldest(3));
        for i in 0..10 {
            e.push(i);
        }
        assert_eq!(
            (e.pop(), e.pop(), e.pop(), e.pop()),
            (Some(7), Some(8), Some(9), None)
        );
        assert_eq!(e.stats().overflow.load(Ordering::Relaxed), 7);
        assert_eq!(e.stats().max_depth.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn control_items_follow_earlier_data_and_are_never_dropped() {
        let e = edge(EdgeSpec::realtime());
        e.push(1);
        e.push_control(100);
        e.push(2); // replaces 1, but the marker stays after data pushed before it
        assert_eq!(e.pop(), Some(100));
        assert_eq!(e.pop(), Some(2));
        let e = edge(EdgeSpec::lossless(4));
        e.push(1);
        e.push(2);
        e.push_control(100);
        assert_eq!(e.pop(), Some(1));
        assert_eq!(e.pop(), Some(2));
        assert_eq!(e.pop(), Some(100));
    }

    #[test]
    fn block_edge_reports_room_and_wakes_producer() {
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(&self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let e = edge(EdgeSpec::lossless(2));
        let p = Arc::new(Count(AtomicUsize::new(0)));
        e.set_producer(p.clone());
        e.push(1);
        assert!(e.has_room());
        e.push(2);
        assert!(!e.has_room());
        assert_eq!(e.pop(), Some(1));
        assert!(e.has_room());
        assert_eq!(p.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn push_wait_blocks_until_room_or_stop() {
        let e = Arc::new(edge(EdgeSpec::lossless(1)));
        let stop = AtomicBool::new(false);
        e.push(1);
        let e2 = e.clone();
        let t = std::thread::spawn(move || {
            let stop = AtomicBool::new(false);
            e2.push_wait(2, &stop, Duration::from_millis(5)).unwrap();
        });
        // The producer cannot finish until we pop.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(e.len(), 1);
        assert_eq!(e.pop(), Some(1));
        t.join().unwrap();
        assert_eq!(e.pop(), Some(2));
        e.push(3);
        stop.store(true, Ordering::Relaxed);
        assert_eq!(
            e.push_wait(4, &stop, Duration::from_millis(1)),
            Err(PushError::Stopped)
        );
    }

    #[test]
    fn close_discards_and_releases() {
        let e = edge(EdgeSpec::lossless(1));
        e.push(1);
        e.close();
        assert_eq!(e.pop(), None);
        e.push(2);
        assert_eq!(e.stats().discarded.load(Ordering::Relaxed), 2);
        let stop = AtomicBool::new(false);
        assert!(e.push_wait(3, &stop, Duration::from_millis(1)).is_ok());
    }
}
