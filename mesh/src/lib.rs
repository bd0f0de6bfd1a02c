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
//! The modules stand on floors, and each uses only floors below it; a
//! test in the crate (`layers.rs`, which holds the list) fails when a
//! `crate::` path points sideways or up:
//!
//! 0. [`name`] (validated dotted names), [`event`] (the envelope), `sync`.
//! 1. `subscribers` (the copy-on-write receiver snapshot behind
//!    [`arc_swap`], loom-tested), [`connection`], [`Namespace`].
//! 2. `receiver`: what can be connected and how it is called; `local`:
//!    the per-thread cache of snapshots that `Signal::emit` reads.
//! 3. `observe`: the process-wide hook the emit path calls; watchers
//!    (the recent view, testing recorders, meta-signals) attach to it from
//!    above instead of being imported from below.
//! 4. [`middleware`], [`history`].
//! 5. [`Signal`]: connect, emit, envelope, ordering, failure isolation;
//!    one module (`signal/core.rs`) decides the emit path, once per emit.
//! 6. [`registry`] (named signals, lookup by name), [`collect`].
//! 7. [`meta`] (the `mesh.receiver.*` signals), [`event_type`].
//! 8. [`projection`], [`delivery`] (queued and async receivers), the
//!    macros' support code.
//! 9. [`testing`].
//!
//! # Guarantees
//!
//! **Thread safety.** `Signal<T>` is `Send + Sync`. A plain emit (no
//! history, middleware, observers or ordering) takes no lock, allocates
//! nothing and writes no memory shared with other threads; history and
//! middleware take a short per-signal lock and allocate the shared
//! envelope, and an ordered emit claims and releases the dispatch with one
//! compare-and-swap each (see below). Connecting or disconnecting never blocks an emit in
//! progress. A receiver may connect,
//! disconnect or emit — on any signal, its own included — from inside a
//! dispatch.
//!
//! **Ordering.** Receivers run by priority (higher first), then in
//! connection order. The events one thread emits reach each receiver in
//! the order they were emitted — except that an event a receiver emits on
//! its own signal during a dispatch is delivered at once, depth first.
//! Events emitted concurrently by different threads are dispatched
//! concurrently, with no order between them. An *ordered* signal
//! ([`SignalConfig::ordered`]) delivers one event at a time, so every
//! receiver sees all events in one total order, the order of their `seq`;
//! an emit that finds a dispatch in progress queues its event for the
//! dispatching thread and returns at once, so nothing waits and nothing
//! deadlocks.
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
//! behind: a disconnected receiver is never called again, and its closure
//! is dropped once no emit in progress walks it and no thread's snapshot
//! cache holds it. The thread that disconnects holds none; another thread
//! that emitted on the signal holds at most a few snapshots (one per
//! cache slot) until its next emit on that signal, its exit or
//! [`release_thread_cache`]; a [`Publisher`] holds one until its next
//! emit.
//!
//! **Cost.** Work nobody asked for is not done: with no receiver, emit is
//! one atomic load; with payload-only receivers no id or clock is read.
//!
//! # Backpressure
//!
//! Receivers run on the emitting thread, so a slow one slows its
//! publishers. Where that must not happen, subscribe through a queue
//! ([`delivery`]): [`Signal::subscribe`] gives a `Stream` of events and
//! [`Signal::connect_async`] an async receiver, each with its own bounded
//! queue and overflow policy — block the emitter (with a timeout), drop
//! the oldest or the newest, reject (the emitter learns it), or disconnect
//! the subscriber. Nothing is lost silently: every drop and refusal is
//! counted on the subscriber, in the emit's [`Emitted`], and on
//! [`mesh.receiver.lagged`](meta::lagged). Which policy when, and what
//! each loses, is in [`delivery`'s docs](delivery#backpressure).
//!
//! ```
//! use mesh::Signal;
//! use mesh::delivery::{Overflow, Queue};
//! let prices = Signal::<f64>::new();
//! let mut ticker = prices.subscribe(Queue::bounded(1).overflow(Overflow::DropOldest));
//! prices.emit(1.0);
//! prices.emit(2.0); // the slow reader only cares about the latest
//! assert_eq!(ticker.try_recv().unwrap().data, 2.0);
//! assert_eq!(ticker.stats().dropped, 1);
//! ```
//!
//! # Introspection
//!
//! [`introspect::topology`] is a snapshot of what is connected to what:
//! every signal, its receivers in dispatch order with their kinds (plain,
//! weak, one-shot, queued with policy and counters, attached by a
//! pattern), and its counters; reading it changes nothing and runs no
//! user code. [`Topology::to_mermaid`](introspect::Topology::to_mermaid)
//! and [`to_dot`](introspect::Topology::to_dot) draw it
//! (`cargo run --example topology`).
//!
//! # Patterns
//!
//! Dotted names make a hierarchy; patterns in NATS subject syntax
//! ([`name::Pattern`]: `*` one segment, `>` one or more trailing) subscribe
//! to a part of it. [`subscribe_pattern`] hears every named signal the
//! pattern matches, whatever its payload type, as an [`AnyEvent`] (the
//! envelope, with the payload borrowed as `dyn Any`);
//! [`subscribe_pattern_typed`] attaches an ordinary typed receiver to the
//! matching signals of one payload type. Signals made later join. A
//! subscription is matched against names when it or a signal is made,
//! never per emit: a signal no pattern matches pays nothing, a matched one
//! pays one receiver. [`Namespace::subscribe`] and [`bus::Bus`] take
//! patterns relative to their prefix; a [`bus::Bus`] also makes child
//! buses at run time and frees what it made when dropped. The `mesh.*`
//! meta-signals match only patterns that start with `mesh.`. Declared at
//! compile time, `#[receiver(pattern = "system.provider.*")]` makes a
//! global pattern receiver with no init call (see [`macro@receiver`]).
//!
//! ```
//! use mesh::{AnyEvent, Namespace};
//! static SYSTEM: Namespace = Namespace::new("system-doc");
//! let sub = SYSTEM.subscribe("provider.>", |ev: &AnyEvent| {
//!     println!("{} at {:?}: {}", ev.name(), ev.timestamp(), ev.payload_debug());
//! })
//! .unwrap();
//! SYSTEM.signal::<u32>("provider.db.connected").unwrap().emit(1);
//! assert_eq!(mesh::registry::pattern_attachments(&sub), Some(1));
//! ```

#![warn(missing_docs)]
// One `unsafe` idea, measured to matter (issue 14: machine code per event
// type) and justified where it is: a subscriber list stores receivers
// type-erased (`receiver::Entry`) and the dispatch loops call them with
// the payload's type restored (`receiver::call`, `receiver::call_payload`,
// `TypedSlot::call`, their callers in `signal/core.rs`, and
// `Base::run_payload_shared`, the dispatch loop all payload types share);
// likewise a signal's history ring stores its envelopes as addresses
// (`history::Envelopes`).
#![deny(unsafe_code)]

// Lets the macros' `::mesh::…` paths resolve inside this crate too.
extern crate self as mesh;

pub mod bus;
pub mod collect;
pub mod connection;
mod counter;
pub mod delivery;
pub mod effects;
pub mod event;
pub mod event_type;
pub mod history;
pub mod introspect;
#[cfg(test)]
mod layers;
mod local;
mod loom;
pub mod meta;
pub mod middleware;
pub mod name;
mod namespace;
mod observe;
pub mod projection;
mod receiver;
pub mod registry;
mod signal;
mod subscribers;
mod sync;
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's examples run as doctests, so the quickstart stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub use connection::{Connection, DisconnectReason, ScopedConnection};
pub use event::{AnyEvent, Event, Metadata, Uuid};
pub use event_type::EventType;
pub use local::release_thread_cache;
pub use namespace::{MAX_NAMESPACE_LEN, Namespace};
pub use receiver::{ConnectOptions, IntoReceiver, IntoWeakReceiver, ReceiverInfo, ReceiverResult};
pub use registry::{
    RegistryError, SignalRef, subscribe_pattern, subscribe_pattern_typed,
    subscribe_pattern_typed_with, subscribe_pattern_weak, subscribe_pattern_with,
};
pub use signal::{
    EmitStatus, Emitted, LARGE_PAYLOAD, MuteGuard, Publisher, Signal, SignalConfig, WeakSignal,
};

/// The old name of a named [`Signal`]: a signal with a dotted name is a
/// `Signal` (its [`name`](Signal::name) is not empty), not another type.
#[deprecated(since = "0.1.0", note = "use `Signal<T>`: named and anonymous signals are one type")]
pub type NamedSignal<T> = Signal<T>;

/// Everything a typical user needs: `use mesh::prelude::*;`.
pub mod prelude {
    pub use crate::middleware::{Flow, Middleware};
    pub use crate::{
        ConnectOptions, Connection, Event, EventType, Namespace, ScopedConnection, Signal,
        SignalConfig, receiver, signal,
    };
}

/// Turns a struct or enum into an event type with a static named signal.
///
/// ```
/// use mesh::prelude::*;
/// mesh::namespace!(pub SYSTEM = "system");
///
/// /// A provider came up.
/// #[signal(namespace = SYSTEM, name = "provider.connected")]
/// #[derive(Debug, Clone)]
/// pub struct ProviderConnected { pub provider: String }
///
/// assert_eq!(ProviderConnected::NAME, "system.provider.connected");
/// ProviderConnected { provider: "db".into() }.emit();
/// ```
///
/// Options (all optional):
///
/// | option | meaning |
/// |---|---|
/// | `name = "dotted.name"` | the name within the namespace; default: the type name in snake_case |
/// | `namespace = PATH` | a [`Namespace`] static (e.g. from [`namespace!`]); default: the root |
/// | `history = N` | keep the last `N` envelopes (see [`SignalConfig::history`]) |
/// | `ordered` | serialise dispatch (see [`SignalConfig::ordered`]) |
/// | `crate = PATH` | where `mesh` is, if renamed and not found in `Cargo.toml` |
///
/// The name is checked at compile time (dotted segments of `a-z 0-9 _ -`,
/// no wildcards, no empty segment). Generic types and unions are rejected:
/// an event type has exactly one static signal.
///
/// # Panics
///
/// The first use of the signal panics if another payload type already
/// claimed the same full name in this program.
pub use mesh_macros::signal;

/// Registers a free function as a global receiver: no init call needed.
///
/// The argument's type decides the signal: `&T` (payload only, the fast
/// path) or `&Event<T>` (the envelope), where `T` has [`#[signal]`](macro@signal).
/// The function returns `()` or `Result<(), E>` with `E: Display`, or
/// [`Effects`](effects::Effects) to publish once it returns.
///
/// ```
/// use mesh::prelude::*;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// #[signal]
/// pub struct Ping(u32);
///
/// static SEEN: AtomicU32 = AtomicU32::new(0);
///
/// #[receiver(priority = 10)]
/// fn count(ping: &Ping) {
///     SEEN.fetch_add(ping.0, Ordering::Relaxed);
/// }
///
/// Ping(2).emit();
/// assert_eq!(SEEN.load(Ordering::Relaxed), 2);
/// ```
///
/// Options: `priority = i32` (higher runs first), `source = "..."` (only
/// events from that source), `name = "..."` (shown in introspection and
/// failure reports; default `module::path::fn_name`), `crate = PATH`.
///
/// **Pattern receivers.** With `pattern = "..."` (NATS subject syntax, see
/// [`name::Pattern`], checked at compile time) the function hears every
/// named signal whose name matches, present and future, as
/// [`subscribe_pattern`] would make it: taking [`&AnyEvent`](AnyEvent),
/// signals of every payload type; taking `&T` or `&Event<T>`, the matching
/// signals whose payload is `T` (any type, `#[signal]` or not). They are
/// listed when the registry starts, before any signal but the built-in
/// `mesh.*` ones exists, so no signal is made without meeting them; a
/// testing scope takes them with
/// [`with_global_receivers`](testing::Scope::with_global_receivers).
///
/// ```
/// use mesh::prelude::*;
/// use mesh::AnyEvent;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// mesh::namespace! { pub DOCPAT = "docpat"; }
///
/// #[signal(namespace = DOCPAT, name = "provider.up")]
/// pub struct Up;
///
/// static SEEN: AtomicU32 = AtomicU32::new(0);
///
/// #[receiver(pattern = "docpat.provider.*")]
/// fn any_provider_event(ev: &AnyEvent) {
///     assert!(ev.name().starts_with("docpat.provider."));
///     SEEN.fetch_add(1, Ordering::Relaxed);
/// }
///
/// Up.emit();
/// DOCPAT.signal::<u32>("provider.down").unwrap().emit(3); // made at run time
/// DOCPAT.signal::<u32>("other").unwrap().emit(4); // not matched
/// assert_eq!(SEEN.load(Ordering::Relaxed), 2);
/// ```
///
/// A pattern receiver runs in the emit, so it cannot be `async`; an
/// invalid pattern, or `&AnyEvent` without a pattern, is a compile error.
///
/// Every `#[receiver]` of every linked crate is connected before the first
/// emit of its signal, ordered by priority (higher first), then by name.
///
/// **Caveat: linking.** Receivers are collected at link time (with
/// `inventory`). A library crate none of whose items the final binary
/// uses may be left out by the linker, and its receivers with it. Refer to
/// something in that crate (any item, or `use that_crate as _;` in the
/// binary is not enough: call or name one of its items) to keep it linked.
pub use mesh_macros::receiver;

/// Declares static [`Namespace`]s, checked at compile time.
///
/// ```
/// mesh::namespace! {
///     /// Everything about the system.
///     pub SYSTEM = "system";
///     /// `system.provider`
///     pub PROVIDER = "provider" in SYSTEM;
/// }
/// assert_eq!(PROVIDER.name(), "system.provider");
/// assert!(mesh::registry::namespaces().contains(&"system.provider"));
/// ```
pub use mesh_macros::namespace;
