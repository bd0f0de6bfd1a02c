//! # mesh — a typed, lock-free reactive event mesh
//!
//! Components talk through typed, named *signals* without knowing each
//! other: publishers [`emit`](Signal::emit) events, subscribers
//! [`connect`](Signal::connect) receivers, and the compiler checks every
//! payload.
//!
//! ```
//! use mesh::prelude::*;
//!
//! static SYSTEM: Namespace = Namespace::new("system");
//!
//! #[derive(Debug, Clone)]
//! struct ProviderConnected { provider: String }
//!
//! let signal = SYSTEM.signal::<ProviderConnected>("provider.connected").unwrap();
//! // A receiver taking the payload: the fast path, no envelope built.
//! signal.connect(|ev: &ProviderConnected| println!("{} is up", ev.provider));
//! // A receiver taking the envelope: id, timestamp, source, metadata, seq.
//! signal.connect(|ev: &Event<ProviderConnected>| {
//!     println!("#{} {} from {:?}", ev.seq, ev.name, ev.source);
//! });
//! let summary = signal.emit_from("pool", ProviderConnected { provider: "db".into() });
//! assert_eq!(summary.delivered, 2);
//! ```
//!
//! # Layers
//!
//! Each module uses only those above it:
//!
//! 1. [`name`] — validated dotted names.
//! 2. `subscribers` — the copy-on-write receiver snapshot behind
//!    [`arc_swap`]; the only concurrency-critical code, loom-tested.
//! 3. [`Signal`] — connect, emit, envelope, ordering, failure isolation,
//!    muting; [`meta`] signals.
//! 4. [`registry`] and [`Namespace`] — named signals, lookup by name,
//!    introspection.
//!
//! # Guarantees
//!
//! **Thread safety.** `Signal<T>` is `Send + Sync`. Emit takes no lock and
//! allocates nothing (ordered signals excepted, see below); connecting or
//! disconnecting never blocks an emit in progress. A receiver may connect,
//! disconnect or emit — on any signal, its own included — from inside a
//! dispatch.
//!
//! **Ordering.** Receivers run by priority (higher first), then in
//! connection order. The events one thread emits reach each receiver in
//! the order they were emitted. Events emitted concurrently by different
//! threads are dispatched concurrently, with no order between them. An
//! *ordered* signal ([`SignalConfig::ordered`]) delivers one event at a
//! time, so every receiver sees all events in one total order, the order
//! of their `seq`; concurrent emitters wait their turn, and an emit from
//! inside the signal's own dispatch is queued behind the current event.
//!
//! **Sequence numbers.** `seq` numbers the envelopes a signal builds: 1, 2,
//! 3… without gaps or repeats, even with concurrent emitters. A signal
//! whose receivers all take `&T` builds no envelope and so numbers nothing.
//!
//! **Failure isolation.** A receiver that panics or returns `Err` does not
//! stop the others and poisons nothing; the failure is counted on the
//! signal and emitted on [`meta::failed`] (`mesh.receiver.failed`).
//!
//! **Memory.** Weak receivers and disconnected receivers leave nothing
//! behind: a receiver's closure is dropped once it is disconnected and no
//! emit in progress still walks it.
//!
//! **Cost.** Work nobody asked for is not done: with no receiver, emit is
//! one atomic load; with payload-only receivers no id or clock is read.

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod connection;
pub mod event;
pub mod meta;
pub mod name;
pub mod namespace;
pub mod receiver;
pub mod registry;
pub mod signal;
mod subscribers;

pub use connection::{Connection, DisconnectReason, ScopedConnection};
pub use event::{Event, Metadata, Uuid};
pub use namespace::Namespace;
pub use receiver::{ConnectOptions, IntoReceiver, IntoWeakReceiver, ReceiverInfo, ReceiverResult};
pub use registry::{NamedSignal, RegistryError, SignalRef};
pub use signal::{EmitStatus, Emitted, MuteGuard, Publisher, Signal, SignalConfig};

/// Everything a typical user needs: `use mesh::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ConnectOptions, Connection, Event, NamedSignal, Namespace, ScopedConnection, Signal,
        SignalConfig,
    };
}
