//! Layer 3: [`Signal<T>`], the typed dispatcher.
//!
//! A signal owns a subscriber list (`subscribers.rs`) and decides, per emit, how much work
//! is needed:
//!
//! 1. *Nobody listening*: one atomic load (`len`) and return.
//! 2. *Muted*: one more load, and return.
//! 3. *Payload-only receivers*: load the snapshot, call each receiver with
//!    `&T`. No id, no clock read, no allocation. The loop is one dynamic
//!    call per receiver and nothing else: a receiver that does not simply
//!    deliver (fails, skips, expires) leaves a note that is settled after
//!    the loop, so the common case pays no per-receiver check.
//! 4. *Some receiver wants the envelope* (or the caller passed an
//!    [`Event`]): build the [`Event<T>`] once — id, timestamp, sequence
//!    number — and hand every receiver a view of it.
//!
//! # Dispatch and ordering
//!
//! Receivers run on the emitting thread, in the snapshot's order: priority
//! (higher first), then connection order. Events one thread emits reach each
//! receiver in the order they were emitted. Concurrent emits from different
//! threads run concurrently: one receiver may be running for two events at
//! once, and two receivers may see them in different orders.
//!
//! A receiver that emits on its own signal from inside a dispatch starts a
//! nested dispatch at once (depth first): receivers after it see the
//! nested event before the outer one. Use an ordered signal where that
//! matters.
//!
//! An *ordered* signal ([`SignalConfig::ordered`]) serialises dispatch: at
//! most one event is being delivered at a time, events are numbered (`seq`)
//! in delivery order, and every receiver sees every event in that one total
//! order. The emit that finds the signal idle delivers its event and then
//! the events other emits queued meanwhile; an emit that finds a dispatch in
//! progress (on another thread, or from inside a receiver) queues its event
//! and returns [`EmitStatus::Deferred`] without waiting, so ordered signals
//! never deadlock. This mode takes a short lock per emit, and its queue is
//! bounded only by how fast emitters outrun receivers.
//!
//! # Failure isolation
//!
//! Each receiver call is guarded: a receiver that panics or returns `Err`
//! does not stop the receivers after it and leaves nothing poisoned. The
//! failure is counted ([`Signal::failure_count`]) and emitted on
//! [`mesh.receiver.failed`](crate::meta::failed) after the dispatch.
//! The panic itself is still reported by the process's panic hook.
//!
//! # Re-entrancy
//!
//! A receiver may connect, disconnect or emit on any signal, including its
//! own, while it is being dispatched. No lock is held while user code runs.
//! Changes to the receiver list take effect from the next emit.

use std::any::type_name;
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::connection::{Connection, Detach, DisconnectReason, ScopedConnection};
use crate::event::{Event, Metadata, new_id};
use crate::meta;
use crate::pipeline::{Extras, global_work};
use crate::receiver::{
    ConnectOptions, DELIVERED, Delivery, Entry, FAILED, Handler, IntoReceiver, IntoWeakReceiver,
    Key, MAY_EXPIRE, NEEDS_ENVELOPE, NEEDS_SHARED, Note, Notes, REMOVE, ReceiverInfo, SKIPPED,
    SlotRef, make_slot,
};
use crate::subscribers::{Snapshot, Subscribers};
use crate::sync::LockExt;

/// How a signal dispatches; see the [module docs](self).
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
    /// Whether and how the event was dispatched.
    pub status: EmitStatus,
}

impl Emitted {
    pub(crate) const fn with(status: EmitStatus) -> Self {
        Emitted { delivered: 0, failed: 0, skipped: 0, status }
    }
}

/// The next [`Signal::id`].
static NEXT_SIGNAL_ID: AtomicU64 = AtomicU64::new(1);

/// Payloads larger than this many bytes are never passed by value below
/// the emit call: see [`Signal::emit`]. Smaller ones are cheaper to copy a
/// few times than to allocate for.
pub const LARGE_PAYLOAD: usize = 256;

/// An event queued on an ordered signal.
enum Queued<T> {
    /// A bare payload: when it was emitted, no receiver needed the
    /// envelope and the signal had no history or middleware.
    Data(Box<T>, Option<Cow<'static, str>>),
    /// An envelope that passed middleware (on the emitting thread).
    Event(Arc<Event<T>>),
}

/// State of an ordered signal: whether a thread is dispatching, and the
/// events emitted meanwhile, which that thread delivers next.
struct Ordered<T> {
    state: Mutex<OrderState<T>>,
}

struct OrderState<T> {
    /// Whether some thread is delivering events of this signal.
    dispatching: bool,
    /// Events emitted while `dispatching`, in emission order.
    queue: VecDeque<Queued<T>>,
}

/// The shared state behind every handle to one signal.
pub(crate) struct Core<T> {
    pub(crate) name: &'static str,
    /// Unique in the process, never reused: tells signals apart in meta
    /// events and introspection even when they have no name.
    pub(crate) id: u64,
    pub(crate) subs: Subscribers<SlotRef<T>>,
    /// Number of live [`MuteGuard`]s. Relaxed: it only gates work, and a
    /// guard created before an emit starts (happens-before) is seen by
    /// read-write coherence.
    muted: AtomicU32,
    /// Last `seq` handed out. Relaxed `fetch_add`: uniqueness and
    /// gap-freedom come from the RMW itself; nothing else is published
    /// through it.
    pub(crate) seq: AtomicU64,
    /// Receiver failures so far. Relaxed: a statistic.
    pub(crate) failures: AtomicU64,
    /// Which of history and middleware this signal uses
    /// (`pipeline::HISTORY`, `pipeline::MIDDLEWARE`); nonzero sends every
    /// emit down the full path. Relaxed: it only gates work; the state it
    /// gates is reached through `extras`, under its own locks.
    pub(crate) flags: AtomicU8,
    /// History, middleware and payload formatter, allocated on first use
    /// so an idle signal stays small.
    pub(crate) extras: OnceLock<Box<Extras<T>>>,
    /// Boxed: most signals are not ordered, and an idle signal should be
    /// small (the lock, queue and condition variable are ~50 bytes).
    ordered: Option<Box<Ordered<T>>>,
}

/// A typed signal: connect receivers, emit events.
///
/// `Signal<T>` is a cheap handle (`Clone` shares the same signal) and is
/// `Send + Sync`. See the [module docs](self) for dispatch and ordering.
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
        Self::build("", config)
    }

    pub(crate) fn build(name: &'static str, config: SignalConfig) -> Self {
        let signal = Signal {
            core: Arc::new(Core {
                name,
                // Relaxed: only uniqueness matters, which the RMW gives.
                id: NEXT_SIGNAL_ID.fetch_add(1, Ordering::Relaxed),
                subs: Subscribers::new(),
                muted: AtomicU32::new(0),
                seq: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                flags: AtomicU8::new(0),
                extras: OnceLock::new(),
                ordered: config.ordered.then(|| {
                    Box::new(Ordered {
                        state: Mutex::new(OrderState {
                            dispatching: false,
                            queue: VecDeque::new(),
                        }),
                    })
                }),
            }),
        };
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

    /// Connects `handler` — every connect ends here. A receiver with an
    /// identity (a function item, a `#[receiver]`, an explicit
    /// [`key`](ConnectOptions::key)) that is already connected is not
    /// connected again: the existing connection is returned, its source
    /// filter widened to accept the new one's sources too (any source
    /// absorbs the others), as Blinker does. Returns the connection and,
    /// for a new receiver, what to report on `mesh.receiver.connected`
    /// (reported here when `announce`).
    pub(crate) fn connect_handler<H: Handler<T>>(
        &self,
        handler: H,
        mut options: ConnectOptions,
        default_name: &'static str,
        announce: bool,
    ) -> (Connection, Option<ReceiverInfo>) {
        let priority = options.priority;
        let key = options.key.clone().map(Key::Named).or_else(|| handler.key());
        let (id, new) = match key {
            None => {
                (self.core.subs.insert(priority, make_slot(handler, options, default_name)), true)
            }
            Some(key) => {
                let mut handler = Some(handler);
                let (id, new) = self.core.subs.insert_unique(
                    priority,
                    |e| e.0.key() == Some(&key),
                    |existing| {
                        let Some(old) = existing else {
                            let (handler, options) =
                                (handler.take()?, std::mem::take(&mut options));
                            return Some(make_slot(handler, options, default_name));
                        };
                        let sources = widened(old.0.sources(), &options.sources)?;
                        let options = ConnectOptions {
                            sources,
                            name: Some(old.0.name().clone()),
                            once: old.0.is_once(),
                            ..std::mem::take(&mut options)
                        };
                        Some(make_slot(handler.take()?, options, default_name))
                    },
                );
                // An unused handler (user captures) drops here, unlocked.
                drop(handler);
                (id, new)
            }
        };
        let mut info = None;
        if new && (!announce || meta::wants_connected()) {
            let snap = self.core.subs.load();
            info = snap
                .keys()
                .iter()
                .position(|&(i, _)| i == id)
                .map(|at| ReceiverInfo::of(id, priority, &snap.items()[at]));
        }
        if announce {
            if let Some(info) = info.take() {
                meta::connected_event(self.core.name, self.core.id, info);
            }
            // Connecting also clears out weak receivers whose object is
            // gone, so a signal that is connected to but never emitted does
            // not accumulate them.
            self.core.prune();
        }
        (Connection { signal: Arc::downgrade(&self.core) as std::sync::Weak<dyn Detach>, id }, info)
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
        self.core.remove(|_, _| true, |_, _| DisconnectReason::Cleared)
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
            .filter(|(s, _)| Core::live(s))
            .map(|(s, &(id, priority))| ReceiverInfo::of(id, priority, s))
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
            .map(|(s, &(id, priority))| ReceiverInfo::of(id, priority, s))
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
        meta::failed_event(self.core.name, self.core.id, receiver, message);
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
        if self.core.subs.len() == 0 && !self.core.has_work() {
            return Emitted::with(EmitStatus::NoReceivers);
        }
        if size_of::<T>() > LARGE_PAYLOAD {
            return self.core.emit_large(data, None);
        }
        self.core.emit_data(data)
    }

    /// Emits `data` with `source` set: receivers connected with
    /// [`connect_from`](Self::connect_from) for another source skip it.
    #[inline(always)]
    pub fn emit_from(&self, source: impl Into<Cow<'static, str>>, data: T) -> Emitted {
        if self.core.subs.len() == 0 && !self.core.has_work() {
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
        if self.core.subs.len() == 0 && !self.core.has_work() {
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
        self.core.muted.fetch_add(1, Ordering::Relaxed);
        MuteGuard { core: self.core.clone() }
    }

    /// A handle that does not keep the signal alive; see [`WeakSignal`].
    pub fn downgrade(&self) -> WeakSignal<T> {
        WeakSignal { core: Arc::downgrade(&self.core) }
    }

    /// Whether a [`MuteGuard`] is alive.
    pub fn is_muted(&self) -> bool {
        self.core.muted.load(Ordering::Relaxed) != 0
    }

    /// A publishing handle that caches the receiver snapshot: see
    /// [`Publisher`].
    pub fn publisher(&self) -> Publisher<T> {
        // The version is read (Acquire) *before* the snapshot, as in
        // `Publisher::emit`, so a change made in between is seen at the
        // first emit.
        let version = self.core.subs.version();
        let snapshot = self.core.subs.load_full();
        let (fast, idle) = Publisher::modes(&self.core, &snapshot);
        Publisher { core: self.core.clone(), version, snapshot, fast, idle }
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
        self.core.muted.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T> fmt::Debug for MuteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MuteGuard").field("signal", &self.core.name).finish()
    }
}

/// A per-thread publishing handle: the fastest way to emit.
///
/// A `Publisher` keeps its own `Arc` of the receiver snapshot and checks it
/// is current with one atomic load per emit, instead of the shared
/// snapshot load [`Signal::emit`] does. It is `Send` but its `emit` takes
/// `&mut self`: give each publishing thread its own.
///
/// Trade-off: until its next emit (or drop), a publisher keeps the
/// receivers of the snapshot it last loaded (when it was created, or at
/// its last emit) alive, including ones disconnected since. They are not
/// called again.
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
    /// `core.subs.version()` when `snapshot` was loaded.
    version: u64,
    snapshot: Arc<Snapshot<SlotRef<T>>>,
    /// `snapshot` has receivers, none needs the envelope, and the signal is
    /// not ordered and has no history or middleware: emits take the
    /// inlined path unless muted or global work exists.
    fast: bool,
    /// `snapshot` is empty and the signal has no history or middleware: an
    /// emit does nothing unless global work exists.
    idle: bool,
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
        // Acquire; see `Subscribers::version`. Read the version *before*
        // the snapshot, so a stale snapshot is always detected next time.
        let version = self.core.subs.version();
        if version != self.version {
            self.reload(version);
        }
        // Relaxed: `muted` only gates work; see `Core::muted`.
        if self.fast {
            if self.core.muted.load(Ordering::Relaxed) == 0 && !global_work() {
                return self.core.run_payload(&self.snapshot, &data);
            }
        } else if self.idle && !global_work() {
            return Emitted::with(EmitStatus::NoReceivers);
        }
        if size_of::<T>() > LARGE_PAYLOAD {
            return self.core.emit_large(data, None);
        }
        self.emit_slow(data)
    }

    /// `(fast, idle)` for a snapshot: *fast* when every receiver takes the
    /// payload and the signal is neither ordered nor has history or
    /// middleware; *idle* when nobody listens and the signal has neither.
    /// `flags` changes bump the snapshot version, so both are re-derived
    /// whenever history or middleware come or go.
    fn modes(core: &Core<T>, snap: &Snapshot<SlotRef<T>>) -> (bool, bool) {
        let plain = core.flags.load(Ordering::Relaxed) == 0;
        let fast = plain
            && snap.len() != 0
            && snap.flags() & NEEDS_ENVELOPE == 0
            && core.ordered.is_none();
        (fast, plain && snap.len() == 0)
    }

    /// Replaces the cached snapshot (the signal's receivers changed).
    #[cold]
    #[inline(never)]
    fn reload(&mut self, version: u64) {
        self.snapshot = self.core.subs.load_full();
        self.version = version;
        (self.fast, self.idle) = Self::modes(&self.core, &self.snapshot);
    }

    /// Muted, ordered, or envelope receivers: the general path.
    #[inline(never)]
    fn emit_slow(&self, data: T) -> Emitted {
        // The cached snapshot is current: the version was checked.
        self.core.emit_slow(data, None, Some(&self.snapshot))
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

/// Records a receiver that panicked (cold path of [`Core::walk`]).
#[cold]
#[inline(never)]
fn caught<T>(panic: Box<dyn std::any::Any + Send>, receiver: &dyn Entry<T>, notes: &Notes) {
    notes.record(receiver.addr(), FAILED, Some(panic_message(&*panic)));
    // Drop the payload here: it is user data.
    drop(panic);
}

/// Failures and removals noticed during one dispatch (the cold path).
#[derive(Default)]
struct Aftermath {
    failures: Vec<(Cow<'static, str>, String)>,
    removals: Vec<(u64, DisconnectReason)>,
}

impl<T: Send + Sync + 'static> Core<T> {
    /// [`Signal::emit`] after the "anyone listening?" check: the hot path
    /// delivers a bare payload to payload-only receivers by reference;
    /// anything else goes to [`emit_slow`](Self::emit_slow).
    #[inline]
    fn emit_data(&self, data: T) -> Emitted {
        // One branch for every reason to leave the fast path: muted, history
        // or middleware, global work (all Relaxed gates; see the fields'
        // docs), or ordered dispatch.
        let gate = self.muted.load(Ordering::Relaxed)
            | u32::from(self.flags.load(Ordering::Relaxed))
            | u32::from(global_work());
        if gate != 0 || self.ordered.is_some() {
            return self.emit_slow(data, None, None);
        }
        let snap = self.subs.load();
        if snap.flags() & NEEDS_ENVELOPE != 0 {
            return self.emit_slow(data, None, Some(&snap));
        }
        self.run_payload(&snap, &data)
    }

    /// Every emit of a payload that is not the hot path: the one place
    /// that decides how an event travels.
    ///
    /// The payload is moved once: into an envelope in this frame, or —
    /// when the envelope must outlive the dispatch or be shared (history,
    /// middleware, global observers, a receiver that keeps it, an ordered
    /// signal's queue) — into its `Arc`. Every later step takes it by
    /// reference, so a large payload costs one copy and one frame's worth
    /// of stack, whatever the path. `snap` is a current snapshot the caller
    /// already holds, if any.
    #[inline(never)]
    pub(crate) fn emit_slow(
        &self,
        data: T,
        source: Option<Cow<'static, str>>,
        snap: Option<&Snapshot<SlotRef<T>>>,
    ) -> Emitted {
        if self.muted.load(Ordering::Relaxed) != 0 {
            return Emitted::with(EmitStatus::Muted);
        }
        let loaded;
        let snap = match snap {
            Some(snap) => snap,
            None => {
                loaded = self.subs.load();
                &loaded
            }
        };
        let needs = snap.flags();
        if self.has_work()
            || needs & NEEDS_SHARED != 0
            || (self.ordered.is_some() && needs & NEEDS_ENVELOPE != 0)
        {
            return self.emit_shared(Arc::new(self.envelope(data, source, 0)));
        }
        if let Some(ordered) = &self.ordered {
            return self.emit_ordered(ordered, Queued::Data(Box::new(data), source));
        }
        let failure = Cell::new(None);
        if needs & NEEDS_ENVELOPE == 0 {
            let d = Delivery {
                data: &data,
                event: None,
                source: source.as_deref(),
                shared: None,
                failure: &failure,
            };
            return self.run(snap, &d);
        }
        let event = self.envelope(data, source, self.next_seq());
        self.run_event(snap, &event, None, &failure)
    }

    /// [`Signal::emit_event`] after the "anyone listening?" check; as
    /// [`emit_slow`](Self::emit_slow), the envelope is moved at most once.
    #[inline(never)]
    fn emit_envelope(&self, mut event: Event<T>) -> Emitted {
        if self.muted.load(Ordering::Relaxed) != 0 {
            return Emitted::with(EmitStatus::Muted);
        }
        event.name = self.name;
        let snap = self.subs.load();
        if self.has_work() || self.ordered.is_some() || snap.flags() & NEEDS_SHARED != 0 {
            return self.emit_shared(Arc::new(event));
        }
        event.seq = self.next_seq();
        self.run_event(&snap, &event, None, &Cell::new(None))
    }

    /// A payload larger than [`LARGE_PAYLOAD`]: decided here, inlined
    /// into the caller's frame, so the payload is read where it is
    /// (payload-only receivers) or moved once, into its `Arc` envelope.
    #[inline(always)]
    fn emit_large(&self, data: T, source: Option<Cow<'static, str>>) -> Emitted {
        let gate = self.muted.load(Ordering::Relaxed)
            | u32::from(self.flags.load(Ordering::Relaxed))
            | u32::from(global_work());
        if gate == 0 && self.ordered.is_none() {
            let snap = self.subs.load();
            if snap.flags() & NEEDS_ENVELOPE == 0 {
                let failure = Cell::new(None);
                let d = Delivery {
                    data: &data,
                    event: None,
                    source: source.as_deref(),
                    shared: None,
                    failure: &failure,
                };
                return self.run(&snap, &d);
            }
        }
        if self.muted.load(Ordering::Relaxed) != 0 {
            return Emitted::with(EmitStatus::Muted);
        }
        let (id, timestamp) = new_id();
        let metadata = Metadata::new();
        let event = Event { id, name: self.name, data, timestamp, source, metadata, seq: 0 };
        self.emit_shared(Arc::new(event))
    }

    /// [`emit_envelope`](Self::emit_envelope) for an envelope already
    /// behind its `Arc` (large payloads).
    #[inline(never)]
    fn emit_shared_event(&self, mut event: Arc<Event<T>>) -> Emitted {
        if self.muted.load(Ordering::Relaxed) != 0 {
            return Emitted::with(EmitStatus::Muted);
        }
        if let Some(event) = Arc::get_mut(&mut event) {
            event.name = self.name;
        }
        self.emit_shared(event)
    }

    /// A fresh envelope behind its `Arc`: middleware (on the emitting
    /// thread, whichever thread delivers it), then delivery or, on an
    /// ordered signal, the queue.
    fn emit_shared(&self, mut event: Arc<Event<T>>) -> Emitted {
        if self.has_work() && !self.filter(&mut event) {
            return Emitted::with(EmitStatus::Filtered);
        }
        match &self.ordered {
            Some(ordered) => self.emit_ordered(ordered, Queued::Event(event)),
            None => self.deliver(event),
        }
    }

    /// Numbers and records an envelope that passed middleware, then
    /// dispatches it to the snapshot loaded *after* the history append
    /// (what makes [`Signal::connect_with_replay`] exact).
    fn deliver(&self, mut event: Arc<Event<T>>) -> Emitted {
        self.record(&mut event);
        self.run_event(&self.subs.load(), &event, Some(&event), &Cell::new(None))
    }

    /// Delivers one event an ordered signal queued (or is about to).
    fn deliver_queued(&self, queued: Queued<T>) -> Emitted {
        match queued {
            Queued::Event(event) => self.deliver(event),
            Queued::Data(data, source) => {
                let snap = self.subs.load();
                if self.has_work() || snap.flags() & NEEDS_ENVELOPE != 0 {
                    // History, middleware or an envelope receiver came
                    // since it was queued: it needs the envelope after all.
                    let mut event = Arc::new(self.envelope(*data, source, 0));
                    if self.has_work() && !self.filter(&mut event) {
                        return Emitted::with(EmitStatus::Filtered);
                    }
                    return self.deliver(event);
                }
                let failure = Cell::new(None);
                let d = Delivery {
                    data: &*data,
                    event: None,
                    source: source.as_deref(),
                    shared: None,
                    failure: &failure,
                };
                self.run(&snap, &d)
            }
        }
    }

    /// Ordered mode: one dispatching thread at a time; see the module docs.
    ///
    /// An emit that finds the signal idle becomes the dispatcher: it
    /// delivers its event, then every event queued meanwhile, until the
    /// queue is empty. An emit that finds a dispatch in progress — on any
    /// thread, its own included — queues its event and returns
    /// [`EmitStatus::Deferred`] at once. Nobody ever waits for another
    /// thread's dispatch, so receivers that emit (directly, or from threads
    /// they join) cannot deadlock, and events are delivered in one total
    /// order: `seq` is assigned by the single dispatcher.
    fn emit_ordered(&self, ordered: &Ordered<T>, queued: Queued<T>) -> Emitted {
        let mut state = ordered.state.locked();
        if state.dispatching {
            state.queue.push_back(queued);
            return Emitted::with(EmitStatus::Deferred);
        }
        state.dispatching = true;
        drop(state);

        /// Ends the dispatcher's turn if a dispatch unwinds (receivers'
        /// panics are caught, so only a bug gets here); the queue is left
        /// for the next dispatcher.
        struct Turn<'a, T>(&'a Ordered<T>, bool);
        impl<T> Drop for Turn<'_, T> {
            fn drop(&mut self) {
                if self.1 {
                    self.0.state.locked().dispatching = false;
                }
            }
        }
        let mut turn = Turn(ordered, true);
        let first = self.deliver_queued(queued);
        loop {
            let mut state = ordered.state.locked();
            match state.queue.pop_front() {
                Some(queued) => {
                    drop(state);
                    self.deliver_queued(queued);
                }
                None => {
                    state.dispatching = false;
                    turn.1 = false;
                    break first;
                }
            }
        }
    }

    pub(crate) fn run_event(
        &self,
        snap: &Snapshot<SlotRef<T>>,
        ev: &Event<T>,
        shared: Option<&Arc<Event<T>>>,
        failure: &Cell<Option<String>>,
    ) -> Emitted {
        let d = Delivery {
            data: &ev.data,
            event: Some(ev),
            source: ev.source.as_deref(),
            shared,
            failure,
        };
        self.run(snap, &d)
    }

    /// A fresh envelope (id and timestamp from one clock read) for `data`.
    pub(crate) fn envelope(
        &self,
        data: T,
        source: Option<Cow<'static, str>>,
        seq: u64,
    ) -> Event<T> {
        let (id, timestamp) = new_id();
        Event { id, name: self.name, data, timestamp, source, metadata: Metadata::new(), seq }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Delivers a bare payload, emitted without a source, to a snapshot
    /// with no envelope receiver: the hot path.
    #[inline(always)]
    fn run_payload(&self, snap: &Snapshot<SlotRef<T>>, data: &T) -> Emitted {
        let notes = Notes::new();
        self.walk(snap, &notes, |slot| slot.call_payload(data, &notes))
    }

    /// Delivers `d` to the receivers of `snap`.
    #[inline]
    pub(crate) fn run(&self, snap: &Snapshot<SlotRef<T>>, d: &Delivery<'_, T>) -> Emitted {
        let notes = Notes::new();
        self.walk(snap, &notes, |slot| {
            let status = slot.call(d);
            if status != DELIVERED {
                notes.record(slot.addr(), status, d.failure.take());
            }
        })
    }

    /// The dispatch loop: one dynamic call per receiver inside a single
    /// `catch_unwind`, and nothing else. Receivers that do not simply
    /// deliver leave [`Notes`], settled after the loop; a panic is noted
    /// the same way and the loop resumes after the receiver that panicked.
    #[inline(always)]
    fn walk(
        &self,
        snap: &Snapshot<SlotRef<T>>,
        notes: &Notes,
        call: impl Fn(&dyn Entry<T>),
    ) -> Emitted {
        let items = snap.items();
        // The index of the next receiver to call, advanced before each
        // call, so after a panic it is one past the receiver that panicked.
        let mut next = 0;
        loop {
            let walk = catch_unwind(AssertUnwindSafe(|| {
                while let Some(slot) = items.get(next) {
                    next += 1;
                    call(&**slot.0);
                }
            }));
            match walk {
                Ok(()) => break,
                Err(panic) => caught(panic, &**items[next - 1].0, notes),
            }
        }
        let skipped = notes.skipped();
        match notes.take() {
            None => Emitted {
                delivered: items.len() as u32 - skipped,
                failed: 0,
                skipped,
                status: EmitStatus::Dispatched,
            },
            Some(notes) => self.settle(snap, *notes, skipped),
        }
    }

    /// Counts, reports and applies the notes of one dispatch (cold path).
    #[cold]
    #[inline(never)]
    fn settle(&self, snap: &Snapshot<SlotRef<T>>, notes: Vec<Note>, skipped: u32) -> Emitted {
        let items = snap.items();
        let (mut skipped, mut failed) = (skipped, 0u32);
        let mut after = Aftermath::default();
        // Notes are in call order: look each receiver up from the last one.
        let mut at = 0;
        for Note { slot, status, message } in notes {
            let Some(i) = (at..items.len()).chain(0..at).find(|&i| items[i].0.addr() == slot)
            else {
                continue;
            };
            at = i + 1;
            if status & SKIPPED != 0 {
                skipped += 1;
            }
            if status & FAILED != 0 {
                failed += 1;
                after.failures.push((items[i].0.name().clone(), message.unwrap_or_default()));
            }
            // A one-shot that panicked unwound before it could ask to be
            // removed, but it is spent: its expiry says so.
            if let Some(reason) = items[i].0.expiry() {
                after.removals.push((snap.keys()[i].0, reason));
            } else if status & REMOVE != 0 {
                after.removals.push((snap.keys()[i].0, DisconnectReason::Expired));
            }
        }
        self.aftermath(after);
        Emitted {
            delivered: items.len() as u32 - skipped - failed,
            failed,
            skipped,
            status: EmitStatus::Dispatched,
        }
    }

    /// Reports failures and removes spent receivers, after a dispatch.
    #[cold]
    fn aftermath(&self, after: Aftermath) {
        if !after.removals.is_empty() {
            let removals = after.removals;
            self.remove(
                |id, _| removals.iter().any(|&(r, _)| r == id),
                |id, _| {
                    removals
                        .iter()
                        .find(|&&(r, _)| r == id)
                        .map_or(DisconnectReason::Expired, |r| r.1)
                },
            );
        }
        if !after.failures.is_empty() {
            self.failures.fetch_add(after.failures.len() as u64, Ordering::Relaxed);
            for (receiver, message) in after.failures {
                meta::failed_event(self.name, self.id, receiver, message);
            }
        }
    }

    /// Removes receivers matching `which`, firing `disconnected` for each.
    /// Returns how many were removed.
    pub(crate) fn remove(
        &self,
        which: impl FnMut(u64, &SlotRef<T>) -> bool,
        reason: impl Fn(u64, &SlotRef<T>) -> DisconnectReason,
    ) -> usize {
        let removed = self.subs.remove_where(which);
        let n = removed.len();
        for ((id, priority), slot) in removed {
            if meta::wants_disconnected() {
                let reason = reason(id, &slot);
                meta::disconnected_event(
                    self.name,
                    self.id,
                    ReceiverInfo::of(id, priority, &slot),
                    reason,
                );
            }
            // The slot (and the user's closure) drops here, outside the
            // writer lock.
            drop(slot);
        }
        n
    }

    /// Removes weak receivers whose object is gone and spent one-shots.
    ///
    /// Lock-free unless something is to be removed: the snapshot is scanned
    /// first, and the writer lock is taken only when an entry has expired.
    pub(crate) fn prune(&self) {
        let snap = self.subs.load();
        if snap.flags() & MAY_EXPIRE != 0 && snap.items().iter().any(|s| s.0.expiry().is_some()) {
            drop(snap);
            self.remove(
                |_, s| s.0.expiry().is_some(),
                |_, s| s.0.expiry().unwrap_or(DisconnectReason::Expired),
            );
        }
    }

    /// Whether `slot` is live: connected and able to run again.
    fn live(slot: &SlotRef<T>) -> bool {
        slot.0.expiry().is_none()
    }
}

/// The source filter that accepts what `old` and `new` accept (empty:
/// any source), or `None` if that is `old` already.
fn widened(old: &[Cow<'static, str>], new: &[Cow<'static, str>]) -> Option<Vec<Cow<'static, str>>> {
    if old.is_empty() {
        return None;
    }
    if new.is_empty() {
        return Some(Vec::new());
    }
    let mut out = old.to_vec();
    for source in new {
        if !out.contains(source) {
            out.push(source.clone());
        }
    }
    (out.len() != old.len()).then_some(out)
}

/// The text of a panic payload (`&str` or `String`; otherwise a placeholder).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked with a non-string payload".to_owned()
    }
}

impl<T: Send + Sync + 'static> Detach for Core<T> {
    fn detach(&self, id: u64, reason: DisconnectReason) -> bool {
        self.remove(|i, _| i == id, |_, _| reason) == 1
    }

    fn is_attached(&self, id: u64) -> bool {
        // A query: it reads, removes nothing and runs no user code.
        let snap = self.subs.load();
        snap.keys().iter().zip(snap.items()).any(|(&(i, _), s)| i == id && Self::live(s))
    }
}

impl<T> Core<T> {
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }
}

impl<T: Send + Sync + 'static> Core<T> {
    /// The configuration as it is now.
    pub(crate) fn config(&self) -> SignalConfig {
        let history = self.extras.get().map_or(0, |x| x.history_capacity());
        SignalConfig { ordered: self.ordered.is_some(), history }
    }
}

impl<T: Send + Sync + 'static> Core<T> {
    /// Live receivers: a query, so spent one-shots and dead weak
    /// receivers still in the list are left for the next emit or connect
    /// to remove, and only not counted.
    pub(crate) fn receiver_count(&self) -> usize {
        let snap = self.subs.load();
        if snap.flags() & MAY_EXPIRE == 0 {
            return snap.len();
        }
        snap.items().iter().filter(|s| Self::live(s)).count()
    }
}

/// A signal dropped with receivers still connected reports each removal.
impl<T> Drop for Core<T> {
    fn drop(&mut self) {
        if self.subs.len() == 0 || !meta::wants_disconnected() {
            return;
        }
        let snap = self.subs.load();
        for (slot, &(id, priority)) in snap.items().iter().zip(snap.keys()) {
            let info = ReceiverInfo::of(id, priority, slot);
            meta::disconnected_event(self.name, self.id, info, DisconnectReason::SignalDropped);
        }
    }
}
