//! A signal's optional parts — history, middleware, the payload
//! formatter — allocated the first time a signal uses one, so an idle
//! signal stays small; and the `Signal` API over them, replay included.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};

use crate::loom::{AtomicBool, Mutex, MutexGuard};

use crate::connection::Connection;
use crate::event::{DebugFn, Event, PayloadView};
use crate::history::Envelopes;
use crate::middleware::{self, Chain, Middleware, MiddlewareHandle, Remove};
use crate::observe;
use crate::receiver::{
    ConnectOptions, DELIVERED, Delivery, FAILED, Handler, IntoReceiver, NEEDS_ENVELOPE,
    NEEDS_SHARED, REMOVE, ReceiverInfo, SKIPPED, Slot, Status, TypedSlot, make_slot,
};
use crate::subscribers::Subscribers;
use crate::sync::LockExt;

use super::Signal;
use super::core::{Core, HISTORY, MIDDLEWARE};

/// A signal's history, middleware and payload formatter.
///
pub(crate) struct Extras<T> {
    pub(crate) history: Mutex<Envelopes<T>>,
    /// Each entry a `Box<dyn Middleware<T>>`, type-erased so the chain
    /// is compiled once (issue 14); cast back in `Core::run_middleware`.
    pub(crate) middleware: Arc<Chain<dyn std::any::Any + Send + Sync>>,
    /// Serialises adding and removing middleware with the `MIDDLEWARE`
    /// flag, so the flag is set exactly while the chain is non-empty.
    pub(crate) middleware_edit: Mutex<()>,
    pub(crate) debug: OnceLock<DebugFn<T>>,
    /// The payload as JSON (see [`Signal::serde_payloads`]).
    #[cfg(feature = "serde")]
    pub(crate) to_json: OnceLock<ToJson<T>>,
    /// JSON into a payload (see [`Signal::serde_payloads`]).
    #[cfg(feature = "serde")]
    pub(crate) from_json: OnceLock<FromJson<T>>,
}

/// Serializes a payload (feature `serde`).
#[cfg(feature = "serde")]
pub(crate) type ToJson<T> = fn(&T) -> Result<serde_json::Value, serde_json::Error>;
/// Deserializes a payload (feature `serde`).
#[cfg(feature = "serde")]
pub(crate) type FromJson<T> = fn(serde_json::Value) -> Result<T, serde_json::Error>;

impl<T: 'static> Extras<T> {
    pub(crate) fn new() -> Self {
        Extras {
            history: Mutex::new(Envelopes::new(0)),
            middleware: Arc::new(Subscribers::new()),
            middleware_edit: Mutex::new(()),
            debug: OnceLock::new(),
            #[cfg(feature = "serde")]
            to_json: OnceLock::new(),
            #[cfg(feature = "serde")]
            from_json: OnceLock::new(),
        }
    }

    pub(crate) fn history(&self) -> MutexGuard<'_, Envelopes<T>> {
        self.history.locked()
    }

    pub(crate) fn history_capacity(&self) -> usize {
        self.history().capacity()
    }
}

impl<T: Send + Sync + 'static> Signal<T> {
    // ----- history ----------------------------------------------------

    /// The retained envelopes, oldest first (empty without history).
    pub fn history(&self) -> Vec<Arc<Event<T>>> {
        self.core().extras.get().map(|x| x.history().snapshot()).unwrap_or_default()
    }

    /// How many envelopes the history holds now (introspection).
    pub(crate) fn history_len(&self) -> usize {
        self.core().extras.get().map_or(0, |x| x.history().len())
    }

    /// How many middleware are installed (introspection).
    pub(crate) fn middleware_count(&self) -> usize {
        self.core().extras.get().map_or(0, |x| x.middleware.len())
    }

    /// How many envelopes the history keeps (0: none).
    pub fn history_capacity(&self) -> usize {
        self.core().extras.get().map_or(0, |x| x.history_capacity())
    }

    /// Keeps the last `capacity` envelopes from now on (0 turns history
    /// off and frees it). Lowering it drops the oldest envelopes.
    pub fn set_history_capacity(&self, capacity: usize) {
        let core = self.core();
        let dropped = core.extras().history().set_capacity(capacity);
        core.set_flag(HISTORY, capacity > 0);
        drop(dropped);
    }

    /// Forgets the retained envelopes (the capacity stays).
    pub fn clear_history(&self) {
        if let Some(extras) = self.core().extras.get() {
            let old = extras.history().clear();
            drop(old);
        }
    }

    // ----- middleware -------------------------------------------------

    /// Adds a middleware after those already added; see
    /// [`middleware`](mod@crate::middleware).
    pub fn add_middleware(&self, m: impl Middleware<T>) -> MiddlewareHandle {
        let core = self.core();
        let extras = core.extras();
        let edit = extras.middleware_edit.locked();
        let id = extras
            .middleware
            .insert(0, middleware::Entry(Arc::new(Box::new(m) as Box<dyn Middleware<T>>)));
        core.set_flag(MIDDLEWARE, true);
        drop(edit);
        let weak: Weak<dyn Remove> = Arc::downgrade(core) as Weak<Core<T>>;
        MiddlewareHandle { chain: weak, id }
    }

    /// `seq` of the last envelope this signal numbered (0: none yet).
    pub(crate) fn last_seq(&self) -> u64 {
        // Relaxed: a snapshot of a counter; see `Core::seq`.
        self.core().seq.load(Ordering::Relaxed)
    }

    // ----- type-erased views ------------------------------------------

    /// Lets type-erased views (the [recent events](crate::history::recent),
    /// [`DynEvent`](crate::middleware::DynEvent), recorders) show payloads
    /// with their `Debug`. `#[signal]` types do this automatically when
    /// they implement `Debug`.
    pub fn debug_payloads(&self)
    where
        T: fmt::Debug,
    {
        self.set_debug(|t, f| fmt::Debug::fmt(t, f));
    }

    pub(crate) fn set_debug(&self, debug: DebugFn<T>) {
        let _ = self.core().extras().debug.set(debug);
    }

    /// Lets type-erased views convert payloads to and from JSON:
    /// [`AnyEvent::to_json`](crate::AnyEvent::to_json) for pattern
    /// subscribers, and the dynamic face
    /// ([`bus::publish_json`](crate::bus::publish_json)) publishing JSON
    /// on this signal. `#[signal]` types do this automatically when they
    /// implement `Serialize` (and `Deserialize`).
    ///
    /// ```
    /// # #[cfg(feature = "serde")] {
    /// use mesh::{AnyEvent, Event, Signal};
    /// let s = Signal::<u32>::new();
    /// s.serde_payloads();
    /// assert_eq!(s.payload_to_json(&7).unwrap().unwrap(), serde_json::json!(7));
    /// # }
    /// ```
    #[cfg(feature = "serde")]
    pub fn serde_payloads(&self)
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        self.set_to_json(|t| serde_json::to_value(t));
        self.set_from_json(serde_json::from_value::<T>);
    }

    /// `payload` as JSON, if this signal knows how (see
    /// [`serde_payloads`](Self::serde_payloads)).
    #[cfg(feature = "serde")]
    pub fn payload_to_json(
        &self,
        payload: &T,
    ) -> Option<Result<serde_json::Value, serde_json::Error>> {
        let to = *self.core().extras.get()?.to_json.get()?;
        Some(to(payload))
    }

    /// `value` as a payload, if this signal knows how (see
    /// [`serde_payloads`](Self::serde_payloads)).
    #[cfg(feature = "serde")]
    pub fn payload_from_json(
        &self,
        value: serde_json::Value,
    ) -> Option<Result<T, serde_json::Error>> {
        let from = *self.core().extras.get()?.from_json.get()?;
        Some(from(value))
    }

    #[cfg(feature = "serde")]
    pub(crate) fn set_to_json(&self, to: ToJson<T>) {
        let _ = self.core().extras().to_json.set(to);
    }

    #[cfg(feature = "serde")]
    pub(crate) fn set_from_json(&self, from: FromJson<T>) {
        let _ = self.core().extras().from_json.set(from);
    }

    /// What an [`AnyEvent`](crate::AnyEvent) of this signal asks about
    /// its payload, looked up when asked (so a formatter set later is
    /// used).
    pub(crate) fn payload_view(&self) -> SignalView<T> {
        SignalView(Arc::downgrade(self.core()))
    }
}

/// A signal's [`PayloadView`]: its formatter and JSON converters, read
/// from its extras when a subscriber asks (never on the emit path).
pub(crate) struct SignalView<T>(Weak<Core<T>>);

impl<T: Send + Sync + 'static> SignalView<T> {
    fn extras<R>(&self, f: impl FnOnce(&Extras<T>) -> Option<R>) -> Option<R> {
        let core = self.0.upgrade()?;
        f(core.extras.get()?)
    }
}

impl<T: Send + Sync + 'static> PayloadView for SignalView<T> {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn has_debug(&self, _: &str) -> bool {
        self.extras(|x| x.debug.get().copied()).is_some()
    }
    fn debug(
        &self,
        _: &str,
        payload: &dyn std::any::Any,
        f: &mut fmt::Formatter<'_>,
    ) -> Option<fmt::Result> {
        let debug = self.extras(|x| x.debug.get().copied())?;
        Some(debug(payload.downcast_ref::<T>()?, f))
    }
    #[cfg(feature = "serde")]
    fn json(
        &self,
        _: &str,
        payload: &dyn std::any::Any,
    ) -> Option<Result<serde_json::Value, serde_json::Error>> {
        let to = self.extras(|x| x.to_json.get().copied())?;
        Some(to(payload.downcast_ref::<T>()?))
    }
}

// ----- replay -------------------------------------------------------------

/// A receiver connected with replay, while it catches up: live events that
/// arrive before the replayed history has been delivered are buffered, so
/// the receiver sees history first, then live events, each once.
pub(crate) struct Replaying<T> {
    pub(crate) inner: TypedSlot<T>,
    /// Live events below this `seq` were in the replayed history: skipped.
    pub(crate) first_live: u64,
    /// Set (Release) once the buffer is drained for good; a live delivery
    /// that sees it (Acquire) goes straight to the receiver.
    pub(crate) caught_up: AtomicBool,
    /// `Some` while catching up: live events to deliver after the history.
    pub(crate) pending: Mutex<Option<Vec<Arc<Event<T>>>>>,
}

impl<T: Send + Sync + 'static> Replaying<T> {
    pub(crate) fn pending(&self) -> MutexGuard<'_, Option<Vec<Arc<Event<T>>>>> {
        self.pending.locked()
    }
}

impl<T: Send + Sync + 'static> Slot<T> for Arc<Replaying<T>> {
    fn call(&self, d: &Delivery<'_, T>) -> Status {
        let Some(event) = d.event else { return self.inner.call(d) };
        if event.seq < self.first_live {
            return SKIPPED;
        }
        if !self.caught_up.load(Ordering::Acquire) {
            if let (Some(buffer), Some(shared)) = (self.pending().as_mut(), d.shared) {
                buffer.push(shared.clone());
                return DELIVERED;
            }
        }
        self.inner.call(d)
    }

    fn name(&self) -> &Cow<'static, str> {
        self.inner.name()
    }

    fn slot_flags(&self) -> u8 {
        // While catching up it buffers live envelopes, so it needs them
        // shared (read when a snapshot is built: once caught up, the next
        // snapshot drops the requirement).
        let shared = if self.caught_up.load(Ordering::Acquire) { 0 } else { NEEDS_SHARED };
        self.inner.slot_flags() | NEEDS_ENVELOPE | shared
    }

    fn expiry(&self) -> Option<crate::connection::DisconnectReason> {
        self.inner.expiry()
    }

    fn token(&self) -> Option<u64> {
        self.inner.token()
    }

    fn sources(&self) -> &[Cow<'static, str>] {
        self.inner.sources()
    }

    fn is_once(&self) -> bool {
        self.inner.is_once()
    }

    fn backlog(&self) -> Option<&dyn crate::receiver::Backlog> {
        self.inner.backlog()
    }

    fn key(&self) -> Option<&crate::receiver::Key> {
        self.inner.key()
    }
}

impl<T: Send + Sync + 'static> Signal<T> {
    /// Connects a receiver that first gets the retained
    /// [history](mod@crate::history), oldest first, then every live event:
    /// no gap and no duplicate, even while other threads emit. The history
    /// is delivered on the calling thread before this returns. Without
    /// history, this is [`connect`](Self::connect).
    ///
    /// How: the receiver is inserted while the history lock is held, and
    /// emits append to the history before they load the receiver list. So
    /// each event is either in the replayed history or dispatched to the
    /// new receiver live; live events already replayed are recognised by
    /// `seq` and skipped, and live events that arrive while the history is
    /// still being delivered are buffered and delivered right after it.
    ///
    /// ```
    /// use mesh::{Signal, SignalConfig};
    /// let s = Signal::<u32>::with_config(SignalConfig::new().history(2));
    /// for i in 1..=3 { s.emit(i); }
    /// let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// s.connect_with_replay(move |x: &u32| log.lock().unwrap().push(*x));
    /// s.emit(4);
    /// assert_eq!(*seen.lock().unwrap(), [2, 3, 4]);
    /// ```
    pub fn connect_with_replay<M, F: IntoReceiver<T, M>>(&self, receiver: F) -> Connection {
        self.connect_with_replay_options(ConnectOptions::new(), receiver)
    }

    /// [`connect_with_replay`](Self::connect_with_replay) with options.
    pub fn connect_with_replay_options<M, F: IntoReceiver<T, M>>(
        &self,
        options: ConnectOptions,
        receiver: F,
    ) -> Connection {
        self.connect_replaying(receiver.into_handler(), options, std::any::type_name::<F>())
    }

    /// Connects `handler` (with replay if `replay`): the delivery layer's
    /// queued receivers.
    /// `announce`: report the new receiver on `mesh.receiver.connected`
    /// (else it is returned for the caller to report).
    pub(crate) fn connect_queued<H: Handler<T>>(
        &self,
        handler: H,
        options: ConnectOptions,
        replay: bool,
        announce: bool,
    ) -> (Connection, Option<ReceiverInfo>) {
        if replay {
            (self.connect_replaying(handler, options, ""), None)
        } else {
            self.connect_handler(handler, options, "", announce)
        }
    }

    /// [`connect_with_replay_options`](Self::connect_with_replay_options)
    /// for a handler.
    fn connect_replaying<H: Handler<T>>(
        &self,
        handler: H,
        options: ConnectOptions,
        default_name: &'static str,
    ) -> Connection {
        let core = self.core();
        let keeps_history = core.flags() & HISTORY != 0;
        let Some(extras) = core.extras.get().filter(|_| keeps_history) else {
            return self.connect_handler(handler, options, default_name, true).0;
        };
        let priority = options.priority;
        let inner = make_slot(handler, options, default_name);
        let ring = extras.history();
        let history = ring.snapshot();
        let first_live = history.last().map_or(0, |e| e.seq) + 1;
        let slot = Arc::new(Replaying {
            inner,
            first_live,
            caught_up: AtomicBool::new(false),
            pending: Mutex::new(Some(Vec::new())),
        });
        let id = core.insert(priority, TypedSlot::new(slot.clone()));
        drop(ring);
        if observe::wants_connected() {
            let info = ReceiverInfo::of(id, priority, slot.inner.erased());
            observe::connected(core.name, core.id, info);
        }
        let mut live = self.replay_all(id, &slot.inner, &history);
        while live {
            let batch = {
                let mut pending = slot.pending();
                let batch = pending.as_mut().map(std::mem::take).unwrap_or_default();
                if batch.is_empty() {
                    *pending = None;
                    slot.caught_up.store(true, Ordering::Release);
                    break;
                }
                batch
            };
            let mut batch = batch;
            batch.sort_by_key(|e| e.seq);
            live = self.replay_all(id, &slot.inner, &batch);
        }
        if !live {
            // Disconnected or spent during the replay: free what it buffered.
            slot.pending().take();
        }
        let weak: Weak<Core<T>> = Arc::downgrade(core);
        Connection { signal: weak, id }
    }

    /// Replays `events` to receiver `id` while it stays connected: a
    /// disconnect (from inside the receiver or from another thread) stops
    /// the replay at the next event, and a one-shot that has had its event
    /// is removed at once (reported as [`DisconnectReason::Once`]). Returns
    /// whether the receiver is still connected.
    ///
    /// [`DisconnectReason::Once`]: crate::DisconnectReason::Once
    pub(crate) fn replay_all(
        &self,
        id: u64,
        slot: &TypedSlot<T>,
        events: &[Arc<Event<T>>],
    ) -> bool {
        let core = self.core();
        for event in events {
            if !core.subs.contains(id) {
                return false;
            }
            if self.replay_one(slot, event) & REMOVE != 0 || slot.expiry().is_some() {
                core.remove(&mut |i, _| i == id, &|_, s| {
                    s.0.expiry().unwrap_or(crate::DisconnectReason::Expired)
                });
                return false;
            }
        }
        core.subs.contains(id)
    }

    /// Delivers one stored envelope to one receiver, reporting a failure.
    pub(crate) fn replay_one(&self, slot: &TypedSlot<T>, event: &Arc<Event<T>>) -> Status {
        let failure = Cell::new(None);
        let d = Delivery {
            data: &event.data,
            event: Some(event),
            source: event.source.as_deref(),
            shared: Some(event),
            failure: &failure,
        };
        let status = match catch_unwind(AssertUnwindSafe(|| slot.call(&d))) {
            Ok(status) => status,
            Err(panic) => {
                failure.set(Some(crate::signal::panic_message(&*panic)));
                FAILED
            }
        };
        if status & FAILED != 0 {
            self.report_failure(slot.name().clone(), failure.take().unwrap_or_default());
        }
        status
    }
}
