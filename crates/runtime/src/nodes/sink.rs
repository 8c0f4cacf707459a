//! The sink node: writes records through a [`Sink`], on a thread of its own.

use std::sync::atomic::Ordering;

use visualpath_core::{ErrorContext, Event, Name, Record, StageError};
use visualpath_sdk::{ComponentError, Sink};

use crate::exec::{Behavior, NodeCx};
use crate::message::Message;
use crate::nodes::analyzer::ErrorPolicy;
use crate::trace::Tracer;

pub(crate) struct SinkNode {
    name: Name,
    sink: Box<dyn Sink>,
    on_error: ErrorPolicy,
    tracer: Option<Tracer>,
}

impl SinkNode {
    pub fn new(
        name: Name,
        sink: Box<dyn Sink>,
        on_error: ErrorPolicy,
        tracer: Option<Tracer>,
    ) -> Self {
        Self {
            name,
            sink,
            on_error,
            tracer,
        }
    }

    fn failed(&self, cx: &mut NodeCx<'_>, source: Option<&Name>, e: ComponentError) {
        let mut ctx = ErrorContext::stage(&self.name);
        ctx.source = source.cloned();
        let err = StageError::new(ctx, e.message);
        let n = cx.stats.error(err.to_string());
        if self.on_error == ErrorPolicy::Stop {
            cx.fail(err);
        } else if n <= 3 || n.is_power_of_two() {
            tracing::warn!(errors = n, "{err}");
        }
    }
}

impl Behavior for SinkNode {
    fn on_message(&mut self, _input: usize, msg: Message, cx: &mut NodeCx<'_>) {
        let Message::Record(r) = msg else {
            return;
        };
        let _span = tracing::trace_span!("write", stage = %self.name, kind = r.kind()).entered();
        let t0 = cx.clock.mono_ns();
        match self.sink.write(&r) {
            Ok(()) => {
                let t1 = cx.clock.mono_ns();
                cx.stats.processed.fetch_add(1, Ordering::Relaxed);
                cx.stats.latency.record(t1 - t0);
                if let Record::Observation(o) = &r {
                    cx.stats.end_to_end.record(t1.saturating_sub(o.arrival_ns));
                    if let Some(t) = &self.tracer {
                        t.written(&self.name, &o.source, o.seq, t1);
                    }
                }
            }
            Err(e) => self.failed(cx, Some(r.source()), e),
        }
    }

    fn on_finish(&mut self, cx: &mut NodeCx<'_>) {
        if let Err(e) = self.sink.flush() {
            self.failed(cx, None, e);
        }
    }
}

/// A sink that calls a closure for every event (the `on_event` API).
pub(crate) struct CallbackSink(pub Box<dyn FnMut(&Event) + Send>);

impl Sink for CallbackSink {
    fn write(&mut self, record: &Record) -> visualpath_sdk::Result<()> {
        if let Record::Event(e) = record {
            (self.0)(e);
        }
        Ok(())
    }
}
