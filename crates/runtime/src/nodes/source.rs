//! The source driver: one thread per source, pulling frames and pushing them on.
//!
//! - `realtime` pacing releases each frame when `capture_time - first capture_time` has
//!   elapsed on the pipeline clock since the first frame, so a file behaves like a
//!   camera; `arrival_ns` is then the release time.
//! - `loop` rewinds at end of stream and marks the next frame as a discontinuity.
//! - `max_frames` and `duration` (capture time since the first frame) end the stream
//!   early, as does [`crate::RunningPipeline::stop`].
//! - Transient errors (a camera that dropped) are retried with a jittered exponential
//!   backoff capped at 5 s; permanent errors end this source only, never the others.
//! - The end-of-stream marker always goes out, whatever ended the source.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use visualpath_core::{ErrorContext, SharedClock, StageError};
use visualpath_sdk::{Poll, Source, SourceContext};

use crate::edge::Edge;
use crate::exec::Control;
use crate::message::{Message, Packet};
use crate::stats::NodeStats;
use crate::trace::Tracer;

/// How a source is driven.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// Release frames at their capture-time pace (files behave like cameras).
    pub realtime: bool,
    /// Start again at end of stream.
    pub looping: bool,
    /// Stop after this many frames.
    pub max_frames: Option<u64>,
    /// Stop after this much capture time since the first frame.
    pub duration: Option<Duration>,
}

pub(crate) struct SourceDriver {
    pub source: Box<dyn Source>,
    pub opts: SourceOptions,
    pub outputs: Vec<Arc<Edge<Message>>>,
    pub stats: Arc<NodeStats>,
    pub control: Arc<Control>,
    pub clock: SharedClock,
    pub tracer: Option<Tracer>,
}

const POLL: Duration = Duration::from_millis(50);

impl SourceDriver {
    fn stopping(&self) -> bool {
        self.control.stop.load(Ordering::Relaxed)
    }

    /// Sleeps until `deadline` (monotonic ns), waking early if the pipeline stops.
    fn sleep_until(&self, deadline: u64) {
        loop {
            let now = self.clock.mono_ns();
            if now >= deadline || self.stopping() {
                return;
            }
            let step = (deadline - now).min(POLL.as_nanos() as u64);
            self.clock.sleep_until(now + step);
        }
    }

    fn fail(&self, message: String, seq: Option<u64>) {
        let mut ctx = ErrorContext::stage(&self.stats.name).with_source(&self.stats.name);
        ctx.stage = None;
        ctx.seq = seq;
        let err = StageError::new(ctx, message);
        self.stats.error(err.to_string());
        tracing::error!("{err}");
    }

    pub fn run(mut self) {
        let name = self.stats.name.clone();
        tracing::debug!(source = %name, info = ?self.source.info(), "source started");
        let cx = SourceContext {
            clock: self.clock.clone(),
        };
        let mut first: Option<(i64, u64)> = None; // (capture, mono)
        let mut emitted: u64 = 0;
        let mut discontinuity = false;
        let mut backoff = Duration::from_millis(100);
        let mut last_seq = None;
        'frames: while !self.stopping() {
            if self.opts.max_frames.is_some_and(|m| emitted >= m) {
                break;
            }
            let t0 = self.clock.mono_ns();
            let polled = {
                let _span = tracing::trace_span!("decode", source = %name).entered();
                self.source.next_frame(&cx)
            };
            match polled {
                Ok(Poll::Frame(mut frame)) => {
                    backoff = Duration::from_millis(100);
                    self.stats.latency.record(self.clock.mono_ns() - t0);
                    let (c0, m0) =
                        *first.get_or_insert((frame.capture_time_ns, self.clock.mono_ns()));
                    let elapsed = frame.capture_time_ns - c0;
                    if let Some(d) = self.opts.duration
                        && elapsed >= d.as_nanos() as i64
                    {
                        break;
                    }
                    if self.opts.realtime {
                        self.sleep_until(m0 + elapsed.max(0) as u64);
                        frame.arrival_ns = self.clock.mono_ns();
                    }
                    last_seq = Some(frame.seq);
                    if let Some(t) = &self.tracer {
                        t.emitted(&name, frame.seq, frame.arrival_ns, frame.capture_time_ns);
                    }
                    let packet = Packet {
                        frame,
                        observations: Vec::new(),
                        discontinuity,
                    };
                    discontinuity = false;
                    self.stats.received.fetch_add(1, Ordering::Relaxed);
                    for e in &self.outputs {
                        // A clone shares the pixels: fan-out never copies them.
                        let msg = Message::Packet(packet.clone());
                        if e.push_wait(msg, &self.control.stop, POLL).is_err() {
                            break 'frames;
                        }
                    }
                    self.stats.processed.fetch_add(1, Ordering::Relaxed);
                    emitted += 1;
                }
                Ok(Poll::Eos) => {
                    if self.opts.looping {
                        match self.source.rewind() {
                            Ok(()) => {
                                discontinuity = true;
                                continue;
                            }
                            Err(e) => {
                                self.fail(e.message, last_seq);
                                break;
                            }
                        }
                    }
                    break;
                }
                Err(e) if e.transient => {
                    let n = self.stats.error(e.message.clone());
                    tracing::warn!(source = %name, errors = n, retry_in = ?backoff, "{}", e.message);
                    // Jitter from the clock's low bits: no RNG dependency, and good
                    // enough to keep cameras from retrying in lockstep.
                    let jitter = (self.clock.mono_ns() % 1000) as f64 / 1000.0;
                    let wait = backoff.mul_f64(0.75 + 0.5 * jitter);
                    self.sleep_until(self.clock.mono_ns() + wait.as_nanos() as u64);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    discontinuity = true;
                }
                Err(e) => {
                    self.fail(e.message, last_seq);
                    break;
                }
            }
        }
        for e in &self.outputs {
            e.push_control(Message::Eos(name.clone()));
        }
    }
}
