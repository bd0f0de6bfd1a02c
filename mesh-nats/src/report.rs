//! What the bridge reports, on meta-signals of its own (reached, like
//! mesh's built-ins, only by patterns that spell out `mesh.`):
//!
//! * `mesh.nats.rejected` ([`Rejected`]): a message from the wire that was
//!   not delivered, or a local event that could not be sent, with the
//!   reason and the subject;
//! * `mesh.nats.lost` ([`Lost`]): events known to be lost — the export
//!   buffer was full, a publish failed, the client dropped messages for a
//!   slow subscription, or an importer saw a gap in an origin's publish sequence (`Mesh-Seq`);
//! * `mesh.nats.connection` ([`ConnectionEvent`]): the client's
//!   connection events (disconnected, reconnected, server errors).
//!
//! Every report is also counted in [`Stats`](crate::Stats).

use std::sync::OnceLock;

use mesh::Signal;

use crate::wire::WireError;

/// Which way an event was going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From this process to NATS.
    Export,
    /// From NATS into this process.
    Import,
}

/// A message or event the bridge did not pass on (`mesh.nats.rejected`).
#[derive(Debug, Clone)]
pub struct Rejected {
    /// Which way it was going.
    pub direction: Direction,
    /// The NATS subject (on export, the one it would have had).
    pub subject: String,
    /// Why.
    pub reason: WireError,
}

/// Why events were lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// The export buffer was full (the server unreachable for longer
    /// than the buffer covers, or publishing slower than emitting).
    BufferFull,
    /// The client refused a publish (connection closed).
    PublishFailed,
    /// The client dropped messages for a subscription that fell behind
    /// (`count` is the number of reports, at least one per burst).
    SlowConsumer,
    /// An importer saw an origin's publish sequence (`Mesh-Seq`) jump:
    /// the events between never arrived (one that arrives after all is
    /// counted [`late`](crate::Stats::late)).
    Gap,
}

/// Events known to be lost (`mesh.nats.lost`).
#[derive(Debug, Clone)]
pub struct Lost {
    /// Why.
    pub reason: LossReason,
    /// The subject, where known (a slow consumer names the subscription's
    /// filter).
    pub subject: String,
    /// How many.
    pub count: u64,
}

/// A connection event of the bridge's client (`mesh.nats.connection`).
#[derive(Debug, Clone)]
pub struct ConnectionEvent {
    /// The bridge's node id.
    pub node: String,
    /// What happened, as the client words it (`disconnected`,
    /// `connected`, `server error: ...`).
    pub event: String,
}

struct Signals {
    rejected: Signal<Rejected>,
    lost: Signal<Lost>,
    connection: Signal<ConnectionEvent>,
}

fn signals() -> &'static Signals {
    static SIGNALS: OnceLock<Signals> = OnceLock::new();
    SIGNALS.get_or_init(|| Signals {
        // The names are valid, under `mesh.`, and owned by this crate's
        // types: registering cannot fail.
        rejected: mesh::meta::extension("mesh.nats.rejected").expect("a valid meta name"),
        lost: mesh::meta::extension("mesh.nats.lost").expect("a valid meta name"),
        connection: mesh::meta::extension("mesh.nats.connection").expect("a valid meta name"),
    })
}

/// The `mesh.nats.rejected` signal.
pub fn rejected() -> &'static Signal<Rejected> {
    &signals().rejected
}

/// The `mesh.nats.lost` signal.
pub fn lost() -> &'static Signal<Lost> {
    &signals().lost
}

/// The `mesh.nats.connection` signal.
pub fn connection() -> &'static Signal<ConnectionEvent> {
    &signals().connection
}
