//! The fusion node: feeds observations to the rule engine and emits its events.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use visualpath_core::{Event, Name, Observation, Record};
use visualpath_fusion::FusionEngine;
use visualpath_sdk::Fusion;

use crate::exec::{Behavior, NodeCx};
use crate::message::Message;

/// The declarative rule engine as a [`Fusion`].
pub(crate) struct Rules(pub FusionEngine);

impl Fusion for Rules {
    fn observe(&mut self, observation: &Observation, out: &mut Vec<Event>) {
        self.0.observe(observation, out);
    }

    fn finish_source(&mut self, source: &Name, out: &mut Vec<Event>) {
        self.0.finish_source(source, out);
    }
}

pub(crate) struct FusionNode {
    engine: Box<dyn Fusion>,
    out: Vec<Event>,
}

impl FusionNode {
    pub fn new(engine: Box<dyn Fusion>) -> Self {
        Self {
            engine,
            out: Vec::new(),
        }
    }

    fn flush(&mut self, cx: &mut NodeCx<'_>) {
        for e in self.out.drain(..) {
            cx.control.events.fetch_add(1, Ordering::Relaxed);
            cx.emit_record(Record::Event(Arc::new(e)));
        }
    }
}

impl Behavior for FusionNode {
    fn on_message(&mut self, _input: usize, msg: Message, cx: &mut NodeCx<'_>) {
        if let Message::Record(Record::Observation(o)) = msg {
            let _span = tracing::trace_span!("fuse", source = %o.source, seq = o.seq).entered();
            let t0 = cx.clock.mono_ns();
            self.engine.observe(&o, &mut self.out);
            cx.stats.processed.fetch_add(1, Ordering::Relaxed);
            cx.stats.latency.record(cx.clock.mono_ns() - t0);
            self.flush(cx);
        }
    }

    fn on_source_end(&mut self, source: &Name, cx: &mut NodeCx<'_>) {
        self.engine.finish_source(source, &mut self.out);
        self.flush(cx);
    }
}
