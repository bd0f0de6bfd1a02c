//! Floor 4: [`Signal<T>`], the typed dispatcher.
//!
//! A signal owns a subscriber list (`subscribers.rs`) and decides, per emit, how much work
//! is needed:
//!
//! 1. *Nobody listening*: one atomic load (the signal's word: receiver
//!    count and state together) and return.
//! 2. *Muted*: the same word, and return.
//! 3. *Payload-only receivers*: load the snapshot, call each receiver with
//!    `&T`. No id, no clock read, no allocation. The loop is one dynamic
//!    call per receiver and nothing else: a receiver that does not simply
//!    deliver (fails, skips, expires) leaves a note that is settled after
//!    the loop, so the common case pays no per-receiver check.
//! 4. *Some receiver wants the envelope* (or the caller passed an
//!    [`Event`]): build the [`Event<T>`] once — id, timestamp, sequence
//!    number — and hand every receiver a view of it.
//!
//! The dispatch rules are documented on [`Signal`], the type users see.

use std::any::type_name;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::connection::{Connection, Detach, DisconnectReason, ScopedConnection};
use crate::event::Event;
use crate::observe;
use crate::receiver::{
    ConnectOptions, Handler, IntoReceiver, IntoWeakReceiver, Key, NEEDS_ENVELOPE, ReceiverInfo,
    SlotRef, make_slot,
};
use crate::subscribers::Snapshot;

mod core;
mod extras;
#[cfg(all(test, loom))]
mod loom_tests;

pub use self::core::LARGE_PAYLOAD;
pub(crate) use self::core::{Base, Core, STATE, panic_message};
pub(crate) use self::extras::SignalView;

/// How a signal dispatches; see [`Signal`](Signal#dispatch-and-ordering).
///
/// ```
/// use mesh::{Signal, SignalConfig};
/// let s = Signal::<u64>::with_config(SignalConfig::new().ordered());
/// assert!(s.is_ordered());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct SignalConfig {
    /// Serialise dispatch into one total order.
    pub ordered: bool,
    /// Capacity of the history ring: the last `history` envelopes are kept
    /// (0: no history).
    pub history: usize,
}

impl SignalConfig {
    /// The default: concurrent, lock-free dispatch, no history.
    pub const fn new() -> Self {
        SignalConfig { ordered: false, history: 0 }
    }

    /// Keep the last `capacity` envelopes for replay.
    pub const fn history(mut self, capacity: usize) -> Self {
        self.history = capacity;
        self
    }

    /// Serialise dispatch: every receiver sees every event in `seq` order.
    pub const fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }
}

/// What happened to one emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitStatus {
    /// The event was dispatched (to zero or more receivers).
    Dispatched,
    /// Nobody was connected; nothing was done.
    NoReceivers,
    /// The signal was muted; the event was dropped.
    Muted,
    /// Ordered signal, emitted while a dispatch was in progress (on any
    /// thread): queued, and delivered after the events before it by the
    /// dispatching thread.
    Deferred,
    /// A [middleware](crate::middleware) dropped the event.
    Filtered,
}

/// The summary an emit returns.
///
/// ```
/// use mesh::Signal;
/// let s = Signal::<i32>::new();
/// s.connect(|_: &i32| {});
/// s.connect(|x: &i32| if *x > 0 { Ok(()) } else { Err("not positive") });
/// let r = s.emit(-1);
/// assert_eq!((r.delivered, r.failed), (1, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Emitted {
    /// Receivers that ran and succeeded.
    pub delivered: u32,
    /// Receivers that panicked or returned `Err`.
    pub failed: u32,
    /// Receivers that declined the event (source filter, spent one-shot,
    /// dropped weak target).
    pub skipped: u32,
    /// [Queued receivers](crate::delivery) that took the event into their
    /// queue (it is processed later, by their consumer). Not counted in
    /// `delivered`.
    pub queued: u32,
    /// Events queued receivers dropped because of this emit: this one
    /// (`DropNewest`, `Disconnect`) or the oldest they held (`DropOldest`,
    /// which queued this one: counted in `queued` too).
    pub dropped: u32,
    /// Queued receivers that refused the event: `Reject` with a full
    /// queue, or `Block` that timed out or would have deadlocked.
    pub rejected: u32,
    /// Whether and how the event was dispatched.
    pub status: EmitStatus,
}

thread_local! {
    /// [`Emitted`]s too wide for [`Emitted::to_bits`], each under the
    /// token its bits carry, until [`Emitted::from_bits`] takes it back.
    /// Tokens, not a single slot: user code (a nested emit, a `Drop`) may
    /// run between the two and stash its own. Bounded: bits dropped
    /// unread leave at most [`WIDE_KEPT`] entries behind.
    static WIDE: std::cell::RefCell<Vec<(u64, Emitted)>> = const { std::cell::RefCell::new(Vec::new()) };
    static WIDE_NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// [`Emitted::to_bits`]'s status code for "the summary is in `WIDE`".
const WIDE_CODE: u128 = 7;
/// Entries `WIDE` keeps at most.
const WIDE_KEPT: usize = 64;

impl Emitted {
    pub(crate) const fn with(status: EmitStatus) -> Self {
        Emitted { delivered: 0, failed: 0, skipped: 0, queued: 0, dropped: 0, rejected: 0, status }
    }

    /// The summary as one integer (see `Core::emit_data_bits`): the three
    /// counts in bits 0–95, the status in 96–103 and the queue counts in
    /// one byte each above. Queue counts over 255 do not fit: the summary
    /// then waits in a thread-local under a token the bits carry, for
    /// [`from_bits`](Self::from_bits) on this thread.
    #[inline(always)]
    pub(crate) fn to_bits(self) -> u128 {
        if (self.queued | self.dropped | self.rejected) > 0xff {
            return Self::wide(self);
        }
        let status: u128 = match self.status {
            EmitStatus::Dispatched => 0,
            EmitStatus::NoReceivers => 1,
            EmitStatus::Muted => 2,
            EmitStatus::Deferred => 3,
            EmitStatus::Filtered => 4,
        };
        Self::dispatched_bits(self.delivered, self.skipped)
            | u128::from(self.failed) << 32
            | status << 96
            | u128::from(self.queued) << 104
            | u128::from(self.dropped) << 112
            | u128::from(self.rejected) << 120
    }

    /// [`to_bits`](Self::to_bits) of a dispatch with no failure, built
    /// from its two counts without an `Emitted` in between.
    #[inline(always)]
    pub(crate) fn dispatched_bits(delivered: u32, skipped: u32) -> u128 {
        u128::from(delivered) | u128::from(skipped) << 64
    }

    #[cold]
    #[inline(never)]
    fn wide(self) -> u128 {
        let token = WIDE_NEXT.get();
        WIDE_NEXT.set(token.wrapping_add(1));
        WIDE.with_borrow_mut(|wide| {
            if wide.len() == WIDE_KEPT {
                wide.remove(0);
            }
            wide.push((token, self));
        });
        WIDE_CODE << 96 | u128::from(token)
    }

    #[cold]
    #[inline(never)]
    fn unwide(bits: u128) -> Self {
        let token = bits as u64;
        WIDE.with_borrow_mut(|wide| {
            let at = wide.iter().rposition(|&(t, _)| t == token)?;
            Some(wide.remove(at).1)
        })
        .unwrap_or(Emitted::with(EmitStatus::Dispatched))
    }

    /// The inverse of [`to_bits`](Self::to_bits).
    #[inline(always)]
    pub(crate) fn from_bits(bits: u128) -> Self {
        let status = match (bits >> 96) as u8 {
            0 => EmitStatus::Dispatched,
            1 => EmitStatus::NoReceivers,
            2 => EmitStatus::Muted,
            3 => EmitStatus::Deferred,
            4 => EmitStatus::Filtered,
            _ => return Self::unwide(bits),
        };
        Emitted {
            delivered: bits as u32,
            failed: (bits >> 32) as u32,
            skipped: (bits >> 64) as u32,
            queued: u32::from((bits >> 104) as u8),
            dropped: u32::from((bits >> 112) as u8),
            rejected: u32::from((bits >> 120) as u8),
            status,
        }
    }
}

/// A typed signal: connect receivers, emit events.
///
/// `Signal<T>` is a cheap handle (`Clone` shares the same signal) and is
/// `Send + Sync`.
///
/// # Dispatch and ordering
///
/// Receivers run on the emitting thread, in the snapshot's order: priority
/// (higher first), then connection order. Events one thread emits reach each
/// receiver in the order they were emitted. Concurrent emits from different
/// threads run concurrently: one receiver may be running for two events at
/// once, and two receivers may see them in different orders.
///
/// A receiver that emits on its own signal from inside a dispatch starts a
/// nested dispatch at once (depth first): receivers after it see the
/// nested event before the outer one. Use an ordered signal where that
/// matters.
///
/// An *ordered* signal ([`SignalConfig::ordered`]) serialises dispatch: at
/// most one event is being delivered at a time, events are numbered (`seq`)
/// in delivery order, and every receiver sees every event in that one total
/// order. The emit that finds the signal idle delivers its event and then
/// the events other emits queued meanwhile; an emit that finds a dispatch in
/// progress (on another thread, or from inside a receiver) queues its event
/// and returns [`EmitStatus::Deferred`] without waiting, so ordered signals
/// never deadlock. An uncontended ordered emit costs two compare-and-swaps
/// (claim and release the dispatch); an emit that finds a dispatch in
/// progress takes a short lock to queue its event. The queue is bounded
/// only by how fast emitters outrun receivers.
///
/// # Failure isolation
///
/// Each receiver call is guarded: a receiver that panics or returns `Err`
/// does not stop the receivers after it and leaves nothing poisoned. The
/// failure is counted ([`Signal::failure_count`]) and emitted on
/// [`mesh.receiver.failed`](crate::meta::failed) after the dispatch.
/// The panic itself is still reported by the process's panic hook.
///
/// # Re-entrancy
///
/// A receiver may connect, disconnect or emit on any signal, including its
/// own, while it is being dispatched. No lock is held while user code runs.
/// Changes to the receiver list take effect from the next emit.
///
/// ```
/// use mesh::{Event, Signal};
/// let signal = Signal::<String>::new();
/// let c = signal.connect(|name: &String| println!("hello {name}"));
/// signal.connect(|ev: &Event<String>| println!("event #{} from {:?}", ev.seq, ev.source));
/// let r = signal.emit_from("tests", "mesh".to_string());
/// assert_eq!(r.delivered, 2);
/// c.disconnect();
/// assert_eq!(signal.receiver_count(), 1);
/// ```
pub struct Signal<T> {
    core: Arc<Core<T>>,
}

impl<T> Clone for Signal<T> {
    fn clone(&self) -> Self {
        Signal { core: self.core.clone() }
    }
}

impl<T: Send + Sync + 'static> Default for Signal<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Signal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("name", &self.core.name)
            .field("type", &type_name::<T>())
            .field("receivers", &self.core.subs.len())
            .finish()
    }
}

impl<T: Send + Sync + 'static> Signal<T> {
    /// A new anonymous signal with no receivers.
    pub fn new() -> Self {
        Self::with_config(SignalConfig::new())
    }

    /// A new anonymous signal with the given configuration.
    pub fn with_config(config: SignalConfig) -> Self {
        Self::build("", config, false)
    }

    /// A new signal; a `registered` one (it lives as long as the process,
    /// in the registry) gets a thread-cache slot of its own (see `local`).
    pub(crate) fn build(name: &'static str, config: SignalConfig, registered: bool) -> Self {
        let signal = Signal { core: Arc::new(Core::new(name, config.ordered, registered)) };
        observe::gate(&*signal.core, Arc::downgrade(&signal.core) as _);
        if config.history > 0 {
            signal.set_history_capacity(config.history);
        }
        signal
    }

    /// The full name (`""` for an anonymous signal).
    pub fn name(&self) -> &'static str {
        self.core.name
    }

    /// A number unique to this signal in the process (never reused), also
    /// carried by meta events: it tells anonymous signals apart.
    ///
    /// ```
    /// use mesh::Signal;
    /// let (a, b) = (Signal::<u8>::new(), Signal::<u8>::new());
    /// assert_ne!(a.id(), b.id());
    /// assert_eq!(a.id(), a.clone().id());
    /// ```
    pub fn id(&self) -> u64 {
        self.core.id
    }

    /// Whether this signal serialises dispatch.
    pub fn is_ordered(&self) -> bool {
        self.core.ordered.is_some()
    }

    // ----- connecting -------------------------------------------------

    /// Connects a receiver taking `&T` or `&Event<T>`. The returned handle
    /// disconnects on demand; dropping it leaves the receiver connected.
    pub fn connect<M, F: IntoReceiver<T, M>>(&self, receiver: F) -> Connection {
        self.connect_with(ConnectOptions::new(), receiver)
    }

    /// Connects with [`ConnectOptions`]: priority, source filter, one-shot,
    /// name.
    pub fn connect_with<M, F: IntoReceiver<T, M>>(
        &self,
        options: ConnectOptions,
        receiver: F,
    ) -> Connection {
        self.connect_handler(receiver.into_handler(), options, type_name::<F>(), true).0
    }

    /// Connects `handler` (see [`Base::connect_slot`], where every
    /// connect ends): returns the connection and, for a new receiver, what
    /// to report on `mesh.receiver.connected` (reported here when
    /// `announce`).
    pub(crate) fn connect_handler<H: Handler<T>>(
        &self,
        handler: H,
        options: ConnectOptions,
        default_name: &'static str,
        announce: bool,
    ) -> (Connection, Option<ReceiverInfo>) {
        let priority = options.priority;
        let key = options.key.clone().map(Key::Named).or_else(|| handler.key());
        let mut handler = Some(handler);
        let (id, new) = self.core.connect_slot(options, key, &mut |options| {
            Some(make_slot(handler.take()?, options, default_name))
        });
        // An unused handler (user captures) drops here, unlocked.
        drop(handler);
        let info = self.core.connected(id, new, priority, announce);
        (self.connection(id), info)
    }

    /// The handle to receiver `id`.
    fn connection(&self, id: u64) -> Connection {
        Connection { signal: Arc::downgrade(&self.core) as std::sync::Weak<dyn Detach>, id }
    }

    /// [`connect_with`](Self::connect_with) without the
    /// `mesh.receiver.connected` event: the caller reports the returned
    /// receiver once it may run user code (static signal initialisation).
    pub(crate) fn connect_quiet<M, F: IntoReceiver<T, M>>(
        &self,
        options: ConnectOptions,
        receiver: F,
    ) -> Option<ReceiverInfo> {
        self.connect_handler(receiver.into_handler(), options, type_name::<F>(), false).1
    }

    /// Connects a receiver that is disconnected when the returned guard
    /// drops.
    pub fn connect_scoped<M, F: IntoReceiver<T, M>>(&self, receiver: F) -> ScopedConnection {
        self.connect(receiver).scoped()
    }

    /// Connects a receiver for at most one event.
    pub fn connect_once<M, F: IntoReceiver<T, M>>(&self, receiver: F) -> Connection {
        self.connect_with(ConnectOptions::new().once(), receiver)
    }

    /// Connects a receiver that only gets events whose `source` is
    /// `source` (Blinker's `sender=`).
    ///
    /// ```
    /// use mesh::Signal;
    /// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
    /// let s = Signal::<u32>::new();
    /// let seen = Arc::new(AtomicU32::new(0));
    /// let n = seen.clone();
    /// s.connect_from("db", move |x: &u32| { n.fetch_add(*x, Ordering::Relaxed); });
    /// s.emit_from("cache", 1);
    /// s.emit_from("db", 10);
    /// s.emit(100);
    /// assert_eq!(seen.load(Ordering::Relaxed), 10);
    /// ```
    pub fn connect_from<M, F: IntoReceiver<T, M>>(
        &self,
        source: impl Into<Cow<'static, str>>,
        receiver: F,
    ) -> Connection {
        self.connect_with(ConnectOptions::new().source(source), receiver)
    }

    /// Connects a method of an `Arc`-held object without keeping the
    /// object alive: `receiver(&object, &T)` or `receiver(&object,
    /// &Event<T>)`. Once the object is dropped the receiver no longer
    /// counts ([`receiver_count`](Self::receiver_count),
    /// [`receivers`](Self::receivers)) and is removed at the next emit
    /// (whatever its source) or connect, firing
    /// [`mesh.receiver.disconnected`](crate::meta::disconnected).
    pub fn connect_weak<S, M, F>(&self, target: &Arc<S>, receiver: F) -> Connection
    where
        S: Send + Sync + 'static,
        F: IntoWeakReceiver<S, T, M>,
    {
        self.connect_weak_with(ConnectOptions::new(), target, receiver)
    }

    /// [`connect_weak`](Self::connect_weak) with options.
    pub fn connect_weak_with<S, M, F>(
        &self,
        options: ConnectOptions,
        target: &Arc<S>,
        receiver: F,
    ) -> Connection
    where
        S: Send + Sync + 'static,
        F: IntoWeakReceiver<S, T, M>,
    {
        let handler = receiver.into_weak_handler(Arc::downgrade(target));
        self.connect_handler(handler, options, type_name::<F>(), true).0
    }

    /// Disconnects every receiver; returns how many there were.
    pub fn disconnect_all(&self) -> usize {
        self.core.remove(&mut |_, _| true, &|_, _| DisconnectReason::Cleared)
    }

    // ----- introspection ---------------------------------------------

    /// Number of connected receivers. Exact: weak receivers whose object is
    /// gone and spent one-shots are not counted. That costs a snapshot load
    /// and a flag test; only signals that have weak or one-shot receivers
    /// also scan them. A query: it changes nothing and runs no user code
    /// (the next emit or connect removes what it did not count).
    pub fn receiver_count(&self) -> usize {
        self.core.receiver_count()
    }

    /// Whether any receiver is connected (see
    /// [`receiver_count`](Self::receiver_count)).
    pub fn has_receivers(&self) -> bool {
        self.receiver_count() > 0
    }

    /// The connected receivers, in dispatch order.
    pub fn receivers(&self) -> Vec<ReceiverInfo> {
        let snap = self.core.subs.load();
        snap.items()
            .iter()
            .zip(snap.keys())
            .filter(|(s, _)| Base::live(s))
            .map(|(s, (id, priority))| ReceiverInfo::of(id, priority, s))
            .collect()
    }

    /// The live receivers with their queues' reports (introspection).
    pub(crate) fn receiver_reports(
        &self,
    ) -> Vec<(ReceiverInfo, Option<Box<dyn std::any::Any + Send>>)> {
        let snap = self.core.subs.load();
        snap.items()
            .iter()
            .zip(snap.keys())
            .filter(|(s, _)| Base::live(s))
            .map(|(s, (id, priority))| {
                (ReceiverInfo::of(id, priority, s), s.0.backlog().map(|b| b.report()))
            })
            .collect()
    }

    /// The receivers an emit from `source` would reach (`None`: an emit
    /// without a source), in dispatch order: live receivers whose source
    /// filter accepts it (Blinker's `receivers_for`). A query: it changes
    /// nothing.
    ///
    /// ```
    /// use mesh::{ConnectOptions, Signal};
    /// let s = Signal::<u8>::new();
    /// s.connect_with(ConnectOptions::new().name("any"), |_: &u8| {});
    /// s.connect_with(ConnectOptions::new().name("db only").source("db"), |_: &u8| {});
    /// let names = |src| s.receivers_for(src).into_iter().map(|r| r.name).collect::<Vec<_>>();
    /// assert_eq!(names(Some("db")), ["any", "db only"]);
    /// assert_eq!(names(Some("cache")), ["any"]);
    /// assert!(s.has_receivers_for(None));
    /// ```
    pub fn receivers_for(&self, source: Option<&str>) -> Vec<ReceiverInfo> {
        let snap = self.core.subs.load();
        snap.items()
            .iter()
            .zip(snap.keys())
            .filter(|(s, _)| s.0.accepts(source))
            .map(|(s, (id, priority))| ReceiverInfo::of(id, priority, s))
            .collect()
    }

    /// Whether an emit from `source` would reach any receiver (see
    /// [`receivers_for`](Self::receivers_for)).
    pub fn has_receivers_for(&self, source: Option<&str>) -> bool {
        self.core.subs.load().items().iter().any(|s| s.0.accepts(source))
    }

    /// Receiver failures (panics and `Err`s) since the signal was created.
    pub fn failure_count(&self) -> u64 {
        self.core.failures.load(Ordering::Relaxed)
    }

    /// Counts a failure of `receiver` outside a dispatch (a replay, a
    /// projection rebuild) and reports it on `mesh.receiver.failed`, as a
    /// dispatch would.
    pub(crate) fn report_failure(&self, receiver: Cow<'static, str>, message: String) {
        self.core.failures.fetch_add(1, Ordering::Relaxed);
        observe::failed(self.core.name, self.core.id, receiver, message);
    }

    // ----- emitting ---------------------------------------------------

    /// Emits `data` to every receiver; returns what happened.
    ///
    /// With no receivers connected this is one atomic load, inlined into
    /// the caller.
    ///
    /// A payload larger than [`LARGE_PAYLOAD`] bytes is never passed down
    /// by value: payload-only receivers get a reference to it where it is,
    /// and an envelope, when one is needed, is built around it once, behind
    /// an `Arc`.
    #[inline(always)]
    pub fn emit(&self, data: T) -> Emitted {
        self.core.emit(data)
    }

    /// Emits `data` with `source` set: receivers connected with
    /// [`connect_from`](Self::connect_from) for another source skip it.
    #[inline(always)]
    pub fn emit_from(&self, source: impl Into<Cow<'static, str>>, data: T) -> Emitted {
        if self.core.idle() {
            return Emitted::with(EmitStatus::NoReceivers);
        }
        if size_of::<T>() > LARGE_PAYLOAD {
            return self.core.emit_large(data, Some(source.into()));
        }
        self.core.emit_slow(data, Some(source.into()), None)
    }

    /// Emits a prepared envelope (id, timestamp, source and metadata as
    /// given); the signal sets `name` and `seq`.
    #[inline(always)]
    pub fn emit_event(&self, event: Event<T>) -> Emitted {
        if self.core.idle() {
            return Emitted::with(EmitStatus::NoReceivers);
        }
        if size_of::<Event<T>>() > LARGE_PAYLOAD {
            return self.core.emit_shared_event(Arc::new(event));
        }
        self.core.emit_envelope(event)
    }

    /// Mutes the signal until the guard drops: emits (from any thread)
    /// that start while a guard lives return [`EmitStatus::Muted`] and reach
    /// nobody. Guards nest: the signal stays muted while any guard lives.
    /// Dispatches already in progress, and events an ordered signal had
    /// already queued, are still delivered.
    ///
    /// # Panics
    ///
    /// If 1,048,575 (2^20 − 1) guards of this signal are alive already:
    /// the count shares a word with the receiver count and the signal's
    /// flags. The count is left as it was.
    ///
    /// ```
    /// use mesh::{EmitStatus, Signal};
    /// let s = Signal::<()>::new();
    /// s.connect(|_: &()| {});
    /// let outer = s.mute();
    /// let inner = s.mute();
    /// drop(outer);
    /// assert_eq!(s.emit(()).status, EmitStatus::Muted);
    /// drop(inner);
    /// assert_eq!(s.emit(()).delivered, 1);
    /// ```
    pub fn mute(&self) -> MuteGuard<T> {
        self.core.mute_one();
        MuteGuard { core: self.core.clone() }
    }

    /// A handle that does not keep the signal alive; see [`WeakSignal`].
    pub fn downgrade(&self) -> WeakSignal<T> {
        WeakSignal { core: Arc::downgrade(&self.core) }
    }

    /// Whether a [`MuteGuard`] is alive.
    pub fn is_muted(&self) -> bool {
        self.core.is_muted()
    }

    /// A publishing handle that caches the receiver snapshot: see
    /// [`Publisher`].
    pub fn publisher(&self) -> Publisher<T> {
        // The version is read (Acquire) *before* the snapshot, as in
        // `Publisher::emit`, so a change made in between is seen at the
        // first emit.
        let version = self.core.subs.version();
        let snapshot = self.core.subs.load_full();
        let (fast, idle, counting, enveloped) = Publisher::modes(&self.core, &snapshot);
        Publisher {
            core: self.core.clone(),
            version,
            seen: version,
            snapshot: Some(snapshot),
            fast,
            idle,
            counting,
            enveloped,
        }
    }

    pub(crate) fn core(&self) -> &Arc<Core<T>> {
        &self.core
    }

    pub(crate) fn from_core(core: Arc<Core<T>>) -> Self {
        Signal { core }
    }
}

/// A handle that does not keep its signal alive.
///
/// A receiver that captures its own signal (a `Signal` or a [`Publisher`])
/// makes a reference cycle: the signal owns the receiver, which owns the
/// signal, and neither is ever freed. Capture a `WeakSignal` instead.
///
/// ```
/// use mesh::Signal;
/// let s = Signal::<u32>::new();
/// let weak = s.downgrade();
/// s.connect(move |x: &u32| {
///     if *x > 0 {
///         if let Some(s) = weak.upgrade() {
///             s.emit(x - 1);
///         }
///     }
/// });
/// s.emit(3);
/// let weak = s.downgrade();
/// drop(s);
/// assert!(weak.upgrade().is_none(), "no cycle kept it alive");
/// ```
pub struct WeakSignal<T> {
    core: std::sync::Weak<Core<T>>,
}

impl<T> Clone for WeakSignal<T> {
    fn clone(&self) -> Self {
        WeakSignal { core: self.core.clone() }
    }
}

impl<T> WeakSignal<T> {
    /// The signal, if any handle still keeps it alive.
    pub fn upgrade(&self) -> Option<Signal<T>> {
        self.core.upgrade().map(|core| Signal { core })
    }
}

impl<T> fmt::Debug for WeakSignal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakSignal").field("alive", &(self.core.strong_count() > 0)).finish()
    }
}

/// Keeps a signal muted while alive; see [`Signal::mute`].
#[must_use = "the signal is unmuted as soon as the guard drops"]
pub struct MuteGuard<T> {
    core: Arc<Core<T>>,
}

impl<T> Drop for MuteGuard<T> {
    fn drop(&mut self) {
        self.core.unmute_one();
    }
}

impl<T> fmt::Debug for MuteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MuteGuard").field("signal", &self.core.name).finish()
    }
}

/// [`Publisher::version`] while the publisher holds no snapshot: never a
/// version (they count changes from 0).
const NOT_HELD: u64 = u64::MAX;

/// A per-thread publishing handle: the fastest way to emit.
///
/// A `Publisher` keeps its own `Arc` of the receiver snapshot and checks it
/// is current with one atomic load per emit. [`Signal::emit`] does the
/// same through a per-thread cache of the last few signals a thread
/// emitted on (see [`release_thread_cache`](crate::release_thread_cache));
/// a publisher skips the cache lookup and is inlined at the call site. It
/// is `Send` but its `emit` takes `&mut self`: give each publishing thread
/// its own.
///
/// Trade-off, and its bound: a publisher holds at most one snapshot, the
/// one it loaded when created or at its last emit that found the
/// receivers unchanged, and keeps its receivers alive until its next emit
/// (or drop), including ones disconnected since. They are never called
/// again. An emit that finds the receivers changed drops the held
/// snapshot before it dispatches; while the receivers keep changing from
/// one emit to the next, the publisher holds none and walks a borrowed
/// load, so a signal under connect/disconnect churn costs no reference
/// count round trip per change.
///
/// Cost: with payload-only receivers, an emit is the version check, a
/// mute check and one dynamic call per receiver, inlined at the call site;
/// `cargo bench -p mesh-bench --bench compare` (BENCHMARKS.md) measures it against a
/// plain `Vec<Box<dyn Fn(&T)>>` loop.
///
/// ```
/// use mesh::Signal;
/// let s = Signal::<u32>::new();
/// s.connect(|x: &u32| assert!(*x < 10));
/// let mut p = s.publisher();
/// for i in 0..10 {
///     p.emit(i);
/// }
/// ```
pub struct Publisher<T> {
    core: Arc<Core<T>>,
    /// `core.subs.version()` when `snapshot` was loaded; [`NOT_HELD`] when
    /// none is held, so the one comparison on the hot path also catches
    /// that case.
    version: u64,
    /// `core.subs.version()` at the last emit that found none held.
    seen: u64,
    /// `None` while the receivers change from one emit to the next.
    snapshot: Option<Arc<Snapshot<SlotRef>>>,
    /// `snapshot` has receivers, none needs the envelope, and the signal is
    /// not ordered and has no history or middleware: emits take the
    /// inlined path unless muted or global work exists.
    fast: bool,
    /// `snapshot` is empty and the signal has no history or middleware: an
    /// emit does nothing unless global work exists. Invariant: while set,
    /// the publisher holds no receiver (`snapshot` empty or `None`: a
    /// snapshot is only replaced together with this flag), which lets an
    /// emit that finds the signal's word zero return at once.
    idle: bool,
    /// `fast` but for counting being on: [`emit_counted`](Self::emit_counted).
    counting: bool,
    /// `fast` but for a receiver that takes the envelope: the envelope is
    /// built and walked without the general path's re-checks (see
    /// [`emit_slow`](Self::emit_slow)).
    enveloped: bool,
}

impl<T: Send + Sync + 'static> Publisher<T> {
    /// Emits `data`, like [`Signal::emit`].
    ///
    /// The common case (the cached snapshot is current, the signal is
    /// neither muted nor ordered, every receiver takes `&T`) is inlined
    /// into the caller: one atomic load, a few plain ones, then one
    /// dynamic call per receiver.
    #[inline(always)]
    pub fn emit(&mut self, data: T) -> Emitted {
        // One load of the state word (Relaxed: it only gates work; see
        // `Base::subs`). Zero is nobody listening and nothing to do; with
        // `idle`, what the publisher holds (if anything) is empty too, so
        // it keeps nothing alive by not looking further.
        let word = self.core.subs.word();
        if word == 0 && self.idle {
            return Emitted::with(EmitStatus::NoReceivers);
        }
        // Acquire; see `Subscribers::version`. Read the version *before*
        // the snapshot, so a stale snapshot is always detected next time.
        let version = self.core.subs.version();
        if version != self.version {
            return self.changed(version, data);
        }
        // Neither muted nor anything process-wide.
        if self.fast {
            if let Some(snapshot) = &self.snapshot {
                if word & (self::core::MUTED | self::core::GLOBAL) == 0 {
                    return self.core.run_payload(snapshot, &data);
                }
            }
        } else if self.idle && (word & self::core::GLOBAL == 0 || !observe::work()) {
            // (The bit alone may stand for a live testing scope, which asks
            // nothing of a signal already resolved.)
            return Emitted::with(EmitStatus::NoReceivers);
        } else if self.counting {
            return self.emit_counted(data);
        }
        if size_of::<T>() > LARGE_PAYLOAD {
            return self.core.emit_large(data, None);
        }
        // As one integer: an `Emitted` returned from a frame that is not
        // inlined goes through memory (see `Core::emit_bits`).
        Emitted::from_bits(self.emit_slow(data))
    }

    /// `(fast, idle, counting)` for a snapshot: *fast* when every receiver takes the
    /// payload and the signal is neither ordered nor has history or
    /// middleware; *idle* when nobody listens and the signal has neither.
    /// `flags` changes bump the snapshot version, so both are re-derived
    /// whenever history or middleware come or go.
    fn modes(core: &Core<T>, snap: &Snapshot<SlotRef>) -> (bool, bool, bool, bool) {
        let plain = core.flags() == 0;
        let walkable = plain && snap.len() != 0 && core.ordered.is_none();
        let fast = walkable && snap.flags() & NEEDS_ENVELOPE == 0;
        // Counting leaves the fast path (see `emit_counted`).
        let counting = core.counting();
        let enveloped = walkable && !fast && !counting;
        (fast && !counting, plain && snap.len() == 0, fast && counting, enveloped)
    }

    /// The receivers changed since the held snapshot was loaded, or are
    /// changing (none held): drop what is held, and keep a new snapshot
    /// only if the version held still since the last emit. Either way this
    /// emit goes through the signal.
    #[cold]
    #[inline(never)]
    fn changed(&mut self, version: u64, data: T) -> Emitted {
        let still = self.version == NOT_HELD && version == self.seen;
        // The held snapshot may be the last reference to receivers
        // disconnected since: they drop here, before the dispatch.
        self.snapshot = None;
        self.version = NOT_HELD;
        self.seen = version;
        if still {
            let snapshot = self.core.subs.load_full();
            (self.fast, self.idle, self.counting, self.enveloped) =
                Self::modes(&self.core, &snapshot);
            self.snapshot = Some(snapshot);
            self.version = version;
        }
        self.core.emit(data)
    }

    /// The fast path's work, counted: every receiver takes the payload,
    /// the signal is neither ordered nor has history or middleware, and
    /// counting is on (`modes` left `fast` off for it).
    #[cold]
    #[inline(never)]
    fn emit_counted(&mut self, data: T) -> Emitted {
        if let Some(snapshot) = &self.snapshot {
            if !self.core.is_muted() && !observe::work() {
                self.core.count_emit();
                return self.core.run_payload(snapshot, &data);
            }
        }
        Emitted::from_bits(self.emit_slow(data))
    }

    /// Muted, ordered, or envelope receivers: the general path.
    #[inline(never)]
    fn emit_slow(&self, data: T) -> u128 {
        if let Some(snapshot) = self.snapshot.as_deref().filter(|_| self.enveloped) {
            // The held snapshot is current (the version was checked), its
            // receivers want the envelope, and the signal is plain: unless
            // muted or something process-wide wants the emit, what the
            // general path would decide is known.
            let word = self.core.subs.word();
            if word & (self::core::MUTED | self::core::GLOBAL) == 0 {
                return self.core.emit_enveloped(data, snapshot);
            }
        }
        if self.core.ordered.is_some() {
            // An ordered emit walks the snapshot its turn finds.
            return self.core.emit_data_bits(data);
        }
        // The held snapshot is current: the version was checked.
        self.core.emit_slow(data, None, self.snapshot.as_deref()).to_bits()
    }

    /// The signal this publisher emits on.
    pub fn signal(&self) -> Signal<T> {
        Signal { core: self.core.clone() }
    }
}

impl<T> fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher").field("signal", &self.core.name).finish()
    }
}
