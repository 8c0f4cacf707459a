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
use visualpath_sdk::{Poll, Source, SourceContext, StopToken};

use crate::edge::Edge;
use crate::exec::Control;
use crate::message::{Message, Packet};
use crate::stats::{NodeStats, SourceState};
use crate::trace::Tracer;

/// Reconnection waits: jittered exponential backoff with a cap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First wait after a failure.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

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
    /// Waits between reconnection attempts of a live source.
    pub backoff: Backoff,
}

pub(crate) struct SourceDriver {
    pub source: Box<dyn Source>,
    /// Stops this source only (a camera removed at run time); also set when the whole
    /// pipeline stops. Handed to the source in its context.
    pub own_stop: StopToken,
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
        self.control.stop.load(Ordering::Relaxed) || self.own_stop.is_stopped()
    }

    fn transition(&self, to: SourceState) {
        let from = self.stats.source.set_state(to);
        if from != to {
            tracing::debug!(source = %self.stats.name, from = from.as_str(), to = to.as_str(), "source state");
        }
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
            stop: self.own_stop.clone(),
        };
        let mut first: Option<(i64, u64)> = None; // (capture, mono)
        let mut emitted: u64 = 0;
        let mut discontinuity = false;
        let mut backoff = self.opts.backoff.initial;
        let mut failed_since: Option<u64> = None;
        self.transition(SourceState::Connecting);
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
                    backoff = self.opts.backoff.initial;
                    let now = self.clock.mono_ns();
                    if let Some(failed_at) = failed_since.take() {
                        self.stats.source.reconnects.fetch_add(1, Ordering::Relaxed);
                        self.stats
                            .source
                            .recovery
                            .record(now.saturating_sub(failed_at));
                        tracing::info!(
                            source = %name,
                            after_ms = (now.saturating_sub(failed_at)) / 1_000_000,
                            "source reconnected"
                        );
                    }
                    self.transition(SourceState::Streaming);
                    self.stats
                        .source
                        .last_frame_ns
                        .store(now, Ordering::Relaxed);
                    if self.stats.source.set_capture_clock(frame.capture_clock) {
                        tracing::info!(source = %name, capture_clock = frame.capture_clock.as_str(), "capture times from");
                    }
                    self.stats.latency.record(now - t0);
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
                    let now = self.clock.mono_ns();
                    failed_since.get_or_insert(now);
                    self.stats.source.failures.fetch_add(1, Ordering::Relaxed);
                    self.transition(if e.stalled {
                        SourceState::Stalled
                    } else {
                        SourceState::Connecting
                    });
                    let n = self.stats.error(e.message.clone());
                    // Jitter from the clock's low bits: no RNG dependency, and good
                    // enough to keep cameras from retrying in lockstep.
                    let jitter = (now % 1000) as f64 / 1000.0;
                    let wait = backoff.mul_f64(0.75 + 0.5 * jitter);
                    if n <= 3 || n.is_power_of_two() {
                        tracing::warn!(source = %name, failures = n, retry_in = ?wait, "{}", e.message);
                    }
                    self.transition(SourceState::BackingOff);
                    self.sleep_until(self.clock.mono_ns() + wait.as_nanos() as u64);
                    self.transition(SourceState::Connecting);
                    backoff = (backoff * 2).min(self.opts.backoff.max);
                    discontinuity = true;
                }
                Err(e) => {
                    self.fail(e.message, last_seq);
                    break;
                }
            }
        }
        self.transition(SourceState::Stopped);
        for e in &self.outputs {
            e.push_control(Message::Eos(name.clone()));
        }
    }
}
