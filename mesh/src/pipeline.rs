//! The full emit path, for signals that ask for more than dispatch.
//!
//! [`Signal::emit`] has a fast path for the common case: receivers only. A
//! signal that keeps history or has middleware — or a process with global
//! middleware, the recent-events view or an `AllRecorder` — takes this
//! path instead:
//!
//! 1. build the envelope (id, timestamp; `seq` not yet);
//! 2. run the global middleware chain, then the signal's own; a
//!    [`Flow::Drop`] ends the emit as [`EmitStatus::Filtered`];
//! 3. under the history lock, assign `seq` and append the envelope to the
//!    ring, so the ring is in `seq` order with no gap;
//! 4. hand the envelope to the global observers (recent view, recorders);
//! 5. load the receiver snapshot *after* step 3 and dispatch.
//!
//! Loading the snapshot after the history append is what makes
//! [`Signal::connect_with_replay`] exact: a replaying receiver is inserted
//! while the history lock is held, so every event is either already in the
//! history it replays or dispatched to it live (events in both are told
//! apart by `seq`).
//!
//! The per-signal part lives in [`Extras`], allocated the first time a
//! signal uses any of it, so an idle signal stays small.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::connection::Connection;
use crate::event::Event;
use crate::history::{self, DebugFn, Ring};
use crate::meta;
use crate::middleware::{self, Chain, Entry, Erased, Flow, Middleware, MiddlewareHandle, Remove};
use crate::receiver::{
    ConnectOptions, DELIVERED, Delivery, FAILED, IntoReceiver, NEEDS_ENVELOPE, NEEDS_SHARED,
    REMOVE, ReceiverInfo, SKIPPED, Slot, SlotRef, Status, make_slot,
};
use crate::signal::{Core, Signal};
use crate::subscribers::Subscribers;
use crate::sync::LockExt;
use crate::testing;

/// Flag: the signal keeps history.
pub(crate) const HISTORY: u8 = 1;
/// Flag: the signal has middleware.
pub(crate) const MIDDLEWARE: u8 = 2;

/// Removing a signal's middleware clears its `MIDDLEWARE` flag with the
/// last one, so the signal returns to the plain emit path.
impl<T: Send + Sync + 'static> Remove for Core<T> {
    fn remove_middleware(&self, id: u64) -> bool {
        let Some(extras) = self.extras.get() else { return false };
        let edit = extras.middleware_edit.locked();
        let removed = extras.middleware.remove_where(|i, _| i == id);
        let found = !removed.is_empty();
        if found && extras.middleware.len() == 0 {
            self.set_flag(MIDDLEWARE, false);
        }
        drop(edit);
        // The middleware (user code) drops here, unlocked.
        drop(removed);
        found
    }
}

/// Things outside any one signal that need every emit to take the full
/// path: global middleware, the recent view, all-recorders. Relaxed: it
/// only gates work (see `Core::flags`).
static GLOBAL_WORK: AtomicUsize = AtomicUsize::new(0);

#[inline]
pub(crate) fn global_work() -> bool {
    GLOBAL_WORK.load(Ordering::Relaxed) != 0
}

pub(crate) fn global_work_add() {
    GLOBAL_WORK.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn global_work_sub() {
    GLOBAL_WORK.fetch_sub(1, Ordering::Relaxed);
}

/// A signal's history, middleware and payload formatter.
pub(crate) struct Extras<T> {
    history: Mutex<Ring<Arc<Event<T>>>>,
    middleware: Arc<Chain<dyn Middleware<T>>>,
    /// Serialises adding and removing middleware with the `MIDDLEWARE`
    /// flag, so the flag is set exactly while the chain is non-empty.
    middleware_edit: Mutex<()>,
    debug: OnceLock<DebugFn<T>>,
}

/// Sets the `seq` of an envelope nobody else holds yet.
fn number<T>(event: &mut Arc<Event<T>>, seq: u64) {
    // Unshared by contract (see `Core::record`): `get_mut` always succeeds.
    if let Some(event) = Arc::get_mut(event) {
        event.seq = seq;
    }
}

impl<T: 'static> Extras<T> {
    fn new() -> Self {
        Extras {
            history: Mutex::new(Ring::new(0)),
            middleware: Arc::new(Subscribers::new()),
            middleware_edit: Mutex::new(()),
            debug: OnceLock::new(),
        }
    }

    fn history(&self) -> MutexGuard<'_, Ring<Arc<Event<T>>>> {
        self.history.locked()
    }

    pub(crate) fn history_capacity(&self) -> usize {
        self.history().capacity()
    }
}

impl<T: Send + Sync + 'static> Core<T> {
    /// The extras, allocated on first use.
    pub(crate) fn extras(&self) -> &Extras<T> {
        self.extras.get_or_init(|| Box::new(Extras::new()))
    }

    /// Sets or clears `flag` (Relaxed: see `Core::flags`), then bumps the
    /// snapshot version so publishers re-check their fast path.
    fn set_flag(&self, flag: u8, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
        self.subs.touch();
    }

    /// Whether this emit must take the full path.
    #[inline]
    pub(crate) fn has_work(&self) -> bool {
        self.flags.load(Ordering::Relaxed) != 0 || global_work()
    }

    /// Steps 3 and 4 of the full path for an envelope that passed
    /// middleware (see the module docs): number it — under the history
    /// lock when the signal keeps history, appending it to the ring — and
    /// hand it to the global observers. The caller then dispatches it.
    ///
    /// `event` must not be shared yet (it is numbered in place).
    pub(crate) fn record(&self, event: &mut Arc<Event<T>>) {
        let extras = self.extras.get();
        let keep = extras.filter(|_| self.flags.load(Ordering::Relaxed) & HISTORY != 0);
        match keep {
            Some(extras) => {
                let mut ring = extras.history();
                number(event, self.next_seq());
                let evicted = ring.push(event.clone());
                drop(ring);
                // Outside the lock: it may hold the last reference to a payload.
                drop(evicted);
            }
            None => number(event, self.next_seq()),
        }
        let observe = history::recent_on() || testing::recording_all();
        if observe {
            let debug = extras.and_then(|x| x.debug.get().copied());
            if history::recent_on() {
                history::record_recent(event, debug);
            }
            if testing::recording_all() {
                testing::record_all(event, debug);
            }
        }
    }

    /// Step 2 of the full path: the middleware chains, on a fresh envelope
    /// (not shared yet). Returns whether the event goes on.
    pub(crate) fn filter(&self, event: &mut Arc<Event<T>>) -> bool {
        let debug = self.extras.get().and_then(|x| x.debug.get().copied());
        match Arc::get_mut(event) {
            Some(event) => {
                event.name = self.name;
                self.run_middleware(event, debug) == Flow::Continue
            }
            // Unreachable: callers pass an envelope they just made.
            None => true,
        }
    }

    /// Runs the global chain, then the signal's own. A panicking
    /// middleware is reported and skipped.
    fn run_middleware(&self, event: &mut Event<T>, debug: Option<DebugFn<T>>) -> Flow {
        let global = middleware::global();
        if global.len() != 0 {
            for m in global.load().items() {
                let flow = catch_unwind(AssertUnwindSafe(|| {
                    m.0.handle(&mut Erased { event: &mut *event, debug })
                }));
                match flow {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Drop) => return Flow::Drop,
                    Err(panic) => self.middleware_failed(m.0.name(), &*panic),
                }
            }
        }
        if self.flags.load(Ordering::Relaxed) & MIDDLEWARE != 0 {
            if let Some(extras) = self.extras.get() {
                for m in extras.middleware.load().items() {
                    match catch_unwind(AssertUnwindSafe(|| m.0.handle(event))) {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Drop) => return Flow::Drop,
                        Err(panic) => self.middleware_failed(m.0.name(), &*panic),
                    }
                }
            }
        }
        Flow::Continue
    }

    #[cold]
    fn middleware_failed(&self, name: Cow<'static, str>, panic: &(dyn std::any::Any + Send)) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let receiver = Cow::Owned(format!("middleware {name}"));
        meta::failed_event(self.name, self.id, receiver, crate::signal::panic_message(panic));
    }
}

impl<T: Send + Sync + 'static> Signal<T> {
    // ----- history ----------------------------------------------------

    /// The retained envelopes, oldest first (empty without history).
    pub fn history(&self) -> Vec<Arc<Event<T>>> {
        self.core().extras.get().map(|x| x.history().snapshot()).unwrap_or_default()
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
        let id = extras.middleware.insert(0, Entry(Arc::new(m) as Arc<dyn Middleware<T>>));
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
}

// ----- replay -------------------------------------------------------------

/// A receiver connected with replay, while it catches up: live events that
/// arrive before the replayed history has been delivered are buffered, so
/// the receiver sees history first, then live events, each once.
struct Replaying<T> {
    inner: SlotRef<T>,
    /// Live events below this `seq` were in the replayed history: skipped.
    first_live: u64,
    /// Set (Release) once the buffer is drained for good; a live delivery
    /// that sees it (Acquire) goes straight to the receiver.
    caught_up: AtomicBool,
    /// `Some` while catching up: live events to deliver after the history.
    pending: Mutex<Option<Vec<Arc<Event<T>>>>>,
}

impl<T: Send + Sync + 'static> Replaying<T> {
    fn pending(&self) -> MutexGuard<'_, Option<Vec<Arc<Event<T>>>>> {
        self.pending.locked()
    }
}

impl<T: Send + Sync + 'static> Slot<T> for Arc<Replaying<T>> {
    fn call(&self, d: &Delivery<'_, T>) -> Status {
        let Some(event) = d.event else { return self.inner.0.call(d) };
        if event.seq < self.first_live {
            return SKIPPED;
        }
        if !self.caught_up.load(Ordering::Acquire) {
            if let (Some(buffer), Some(shared)) = (self.pending().as_mut(), d.shared) {
                buffer.push(shared.clone());
                return DELIVERED;
            }
        }
        self.inner.0.call(d)
    }

    fn name(&self) -> &Cow<'static, str> {
        self.inner.0.name()
    }

    fn slot_flags(&self) -> u8 {
        // While catching up it buffers live envelopes, so it needs them
        // shared (read when a snapshot is built: once caught up, the next
        // snapshot drops the requirement).
        let shared = if self.caught_up.load(Ordering::Acquire) { 0 } else { NEEDS_SHARED };
        self.inner.0.slot_flags() | NEEDS_ENVELOPE | shared
    }

    fn expiry(&self) -> Option<crate::connection::DisconnectReason> {
        self.inner.0.expiry()
    }

    fn token(&self) -> Option<u64> {
        self.inner.0.token()
    }

    fn sources(&self) -> &[Cow<'static, str>] {
        self.inner.0.sources()
    }

    fn is_once(&self) -> bool {
        self.inner.0.is_once()
    }

    fn key(&self) -> Option<&crate::receiver::Key> {
        self.inner.0.key()
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
        let core = self.core();
        let keeps_history = core.flags.load(Ordering::Relaxed) & HISTORY != 0;
        let Some(extras) = core.extras.get().filter(|_| keeps_history) else {
            return self.connect_with(options, receiver);
        };
        let priority = options.priority;
        let inner = make_slot(receiver.into_handler(), options, std::any::type_name::<F>());
        let ring = extras.history();
        let history = ring.snapshot();
        let first_live = history.last().map_or(0, |e| e.seq) + 1;
        let slot = Arc::new(Replaying {
            inner,
            first_live,
            caught_up: AtomicBool::new(false),
            pending: Mutex::new(Some(Vec::new())),
        });
        let entry: Box<dyn crate::receiver::Entry<T>> = Box::new(slot.clone());
        let id = core.subs.insert(priority, SlotRef(Arc::new(entry)));
        drop(ring);
        if meta::wants_connected() {
            let info = ReceiverInfo::of(id, priority, &slot.inner);
            meta::connected_event(core.name, core.id, info);
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
    fn replay_all(&self, id: u64, slot: &SlotRef<T>, events: &[Arc<Event<T>>]) -> bool {
        let core = self.core();
        for event in events {
            if !core.subs.contains(id) {
                return false;
            }
            if self.replay_one(slot, event) & REMOVE != 0 || slot.0.expiry().is_some() {
                core.remove(
                    |i, _| i == id,
                    |_, s| s.0.expiry().unwrap_or(crate::DisconnectReason::Expired),
                );
                return false;
            }
        }
        core.subs.contains(id)
    }

    /// Delivers one stored envelope to one receiver, reporting a failure.
    fn replay_one(&self, slot: &SlotRef<T>, event: &Arc<Event<T>>) -> Status {
        let failure = Cell::new(None);
        let d = Delivery {
            data: &event.data,
            event: Some(event),
            source: event.source.as_deref(),
            shared: Some(event),
            failure: &failure,
        };
        let status = match catch_unwind(AssertUnwindSafe(|| slot.0.call(&d))) {
            Ok(status) => status,
            Err(panic) => {
                failure.set(Some(crate::signal::panic_message(&*panic)));
                FAILED
            }
        };
        if status & FAILED != 0 {
            self.report_failure(slot.0.name().clone(), failure.take().unwrap_or_default());
        }
        status
    }
}
