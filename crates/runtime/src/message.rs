//! What flows on edges.

use std::sync::Arc;

use visualpath_core::{Frame, Name, Observation, Record};

/// A frame with the observations made on it so far, flowing between sources, analyzers
/// and synchronizers. Cloning shares the pixels and the observations.
#[derive(Clone, Debug)]
pub struct Packet {
    /// The frame.
    pub frame: Frame,
    /// Observations made on this frame by upstream analyzers, in the order they ran.
    pub observations: Vec<Arc<Observation>>,
    /// The source restarted its stream before this frame (loop, reconnect): analyzers
    /// must forget inter-frame state.
    pub discontinuity: bool,
}

/// An item on an edge.
#[derive(Clone, Debug)]
pub enum Message {
    /// A frame (source/analyzer to analyzer or synchronizer).
    Packet(Packet),
    /// An output record (analyzer, fusion or synchronizer to fusion or sink).
    Record(Record),
    /// The named source has ended; nothing more from it will follow on this edge.
    Eos(Name),
}

impl Message {
    /// The source this message belongs to.
    pub fn source(&self) -> &Name {
        match self {
            Self::Packet(p) => &p.frame.source,
            Self::Record(r) => r.source(),
            Self::Eos(s) => s,
        }
    }
}
