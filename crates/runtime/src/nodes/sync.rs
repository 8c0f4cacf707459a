//! The synchronizer node: joins packets of several sources by capture time and emits
//! sync sets as records.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use visualpath_core::{Name, Record, SyncMember, SyncSet};
use visualpath_sync::{SyncSet as Joined, Synchronizer};

use crate::exec::{Behavior, NodeCx};
use crate::message::{Message, Packet};

pub(crate) struct SyncNode {
    name: Name,
    sources: Vec<Name>,
    index_of: HashMap<Name, usize>,
    sync: Box<dyn Synchronizer<Packet> + Send>,
    out: Vec<Joined<Packet>>,
}

impl SyncNode {
    pub fn new(name: Name, sources: Vec<Name>, sync: Box<dyn Synchronizer<Packet> + Send>) -> Self {
        let index_of = sources
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, s)| (s, i))
            .collect();
        Self {
            name,
            sources,
            index_of,
            sync,
            out: Vec::new(),
        }
    }

    fn flush(&mut self, cx: &mut NodeCx<'_>) {
        for set in self.out.drain(..) {
            let mut members = Vec::new();
            let mut missing = Vec::new();
            for (i, slot) in set.items.iter().enumerate() {
                match slot {
                    Some((capture, p)) => members.push(SyncMember {
                        source: p.frame.source.clone(),
                        seq: p.frame.seq,
                        capture_time_ns: *capture,
                    }),
                    None if set.partial => missing.push(self.sources[i].clone()),
                    None => {}
                }
            }
            if set.present() >= 2 {
                cx.stats.skew.record(set.skew_ns.max(0) as u64);
            }
            cx.emit_record(Record::Sync(Arc::new(SyncSet {
                group: self.name.clone(),
                index: set.index,
                reference_ns: set.reference_ns,
                members,
                missing,
                skew_ns: set.skew_ns,
                partial: set.partial,
            })));
        }
        if let Some(t) = self.sync.next_deadline() {
            cx.set_timer(t);
        }
    }
}

impl Behavior for SyncNode {
    fn on_message(&mut self, _input: usize, msg: Message, cx: &mut NodeCx<'_>) {
        let Message::Packet(p) = msg else {
            return;
        };
        let Some(&i) = self.index_of.get(&p.frame.source) else {
            return;
        };
        let now = cx.clock.mono_ns();
        let capture = p.frame.capture_time_ns;
        self.sync.push(i, capture, now, p, &mut self.out);
        cx.stats.processed.fetch_add(1, Ordering::Relaxed);
        self.flush(cx);
    }

    fn on_timer(&mut self, now_ns: u64, cx: &mut NodeCx<'_>) {
        self.sync.poll(now_ns, &mut self.out);
        self.flush(cx);
    }

    fn on_source_end(&mut self, source: &Name, cx: &mut NodeCx<'_>) {
        if let Some(&i) = self.index_of.get(source) {
            self.sync.end_input(i, cx.clock.mono_ns(), &mut self.out);
            self.flush(cx);
        }
    }

    fn on_finish(&mut self, cx: &mut NodeCx<'_>) {
        self.sync.finish(&mut self.out);
        self.flush(cx);
    }
}
