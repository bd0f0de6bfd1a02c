//! A testing kit: private meshes, recorders and simulated events.
//!
//! # Private meshes
//!
//! [`scope`] (or [`Scope`]) gives the current thread a private mesh: while
//! its guard lives, every [`EventType`]'s `signal()` on this thread — and so
//! `MyEvent { .. }.emit()`, `MyEvent::signal().connect(..)`, [`Recorder`]s
//! — resolves to a signal of that scope instead of the global one. Code
//! under test that emits through the global API is thus seen only by
//! receivers connected inside the scope, and two tests running in parallel
//! in one test binary never see each other's events.
//!
//! Global `#[receiver]`s are left out by default; include them with
//! [`Scope::with_global_receivers`]. To let another thread join the scope
//! (a worker spawned by the code under test), pass it a [`ScopeHandle`]
//! and [`enter`](ScopeHandle::enter) there.
//!
//! Scoping covers event types (`#[signal]`); signals made by hand
//! (`Signal::new()`, `Namespace::signal`) and lookups by name are not
//! scoped. Each scope makes its own signals and never hands them to
//! another scope: a handle kept from [`EventType::signal`] after its scope
//! ended still points at that scope's signal, which the end of the scope
//! emptied (every receiver disconnected), so it reaches no later scope's
//! receivers or recorders. A receiver connected in a scope that owns a
//! [`ScopeHandle`] of that scope keeps the scope alive (a reference cycle):
//! it then never ends.
//!
//! Outside tests the cost is one atomic load per `signal()` call while no
//! scope exists.
//!
//! ```
//! use mesh::prelude::*;
//! use mesh::testing::{self, Recorder};
//!
//! #[signal]
//! #[derive(Debug, Clone, PartialEq)]
//! pub struct OrderPlaced { pub id: u32 }
//!
//! fn code_under_test() {
//!     OrderPlaced { id: 1 }.emit();
//!     OrderPlaced { id: 2 }.emit();
//! }
//!
//! let _mesh = testing::scope();
//! let orders = Recorder::<OrderPlaced>::new();
//! code_under_test();
//! orders.assert_payloads(&[OrderPlaced { id: 1 }, OrderPlaced { id: 2 }]);
//! ```

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::connection::ScopedConnection;
use crate::event::Event;
use crate::event_type::EventType;
use crate::history::{DebugFn, RecentEvent, view};
use crate::signal::{Emitted, Signal};
use crate::sync::LockExt;

/// Live scopes in the process. Relaxed: it only tells `signal()` whether
/// to look at the thread-local scope at all; a scope entered on this thread
/// is seen by this thread in program order.
static LIVE_SCOPES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The scopes entered on this thread, innermost last. A stack (not a
    /// single slot restored by each guard) so guards may drop in any order.
    static ENTERED: RefCell<Vec<Arc<Inner>>> = const { RefCell::new(Vec::new()) };
}

/// One scope's signal of some event type, type-erased.
trait ScopedSignal: Send + Sync {
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    /// Disconnects every receiver (the scope ended).
    fn clear(&self);
}

impl<T: Send + Sync + 'static> ScopedSignal for Signal<T> {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
    fn clear(&self) {
        self.disconnect_all();
    }
}

/// A scope's state: its signals, by event type, and its all-recorders.
struct Inner {
    include_globals: bool,
    /// Each signal is the scope's own, made for it and never reused: a
    /// handle kept after the scope ends still points at this scope's
    /// (emptied) signal, never at another scope's.
    signals: Mutex<HashMap<TypeId, Box<dyn ScopedSignal>>>,
    all: Mutex<Vec<Weak<Mutex<Vec<RecentEvent>>>>>,
}

/// The innermost scope entered on this thread.
fn current() -> Option<Arc<Inner>> {
    ENTERED.with(|e| e.borrow().last().cloned())
}

impl Drop for Inner {
    fn drop(&mut self) {
        let signals = std::mem::take(&mut *self.signals.locked());
        // With no lock held: disconnecting drops receivers (user code) and
        // emits meta events, which may end other scopes.
        for signal in signals.values() {
            signal.clear();
        }
        drop(signals);
        LIVE_SCOPES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A private mesh under construction; [`enter`](Scope::enter) it.
#[derive(Debug, Default)]
#[must_use = "a scope does nothing until entered"]
pub struct Scope {
    include_globals: bool,
}

impl Scope {
    /// A private mesh without the global `#[receiver]`s.
    pub fn new() -> Self {
        Scope::default()
    }

    /// Also connect the global `#[receiver]`s (in their usual order) to
    /// this scope's signals.
    pub fn with_global_receivers(mut self) -> Self {
        self.include_globals = true;
        self
    }

    /// Enters the scope on this thread until the guard drops.
    #[must_use = "the scope ends as soon as the guard drops: bind it, `let _mesh = ..;` (`let _ = ..;` drops it at once)"]
    pub fn enter(self) -> ScopeGuard {
        LIVE_SCOPES.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::new(Inner {
            include_globals: self.include_globals,
            signals: Mutex::default(),
            all: Mutex::default(),
        });
        ScopeHandle { inner }.enter()
    }
}

/// Runs `f` in a new private mesh (without global receivers) and returns
/// what it returns: [`scope`] without a guard to hold.
///
/// ```
/// use mesh::prelude::*;
/// #[signal]
/// #[derive(Debug, Clone, PartialEq)]
/// pub struct Ping(u8);
///
/// let seen = mesh::testing::with_scope(|| {
///     let rec = mesh::testing::Recorder::<Ping>::new();
///     Ping(1).emit();
///     rec.payloads()
/// });
/// assert_eq!(seen, [Ping(1)]);
/// ```
pub fn with_scope<R>(f: impl FnOnce() -> R) -> R {
    let _scope = scope();
    f()
}

/// A new private mesh (without global receivers), entered on this thread
/// until the guard drops.
///
/// Bind the guard to a named variable: `let _mesh = testing::scope();`.
/// `let _ = testing::scope();` drops it at once, leaving the scope before
/// the test runs (`#[must_use]` catches `testing::scope();`, but Rust
/// treats `let _ =` as an explicit discard). [`with_scope`] has no guard
/// to get wrong.
#[must_use = "the scope ends as soon as the guard drops: bind it, `let _mesh = ..;` (`let _ = ..;` drops it at once)"]
pub fn scope() -> ScopeGuard {
    Scope::new().enter()
}

/// Keeps a scope entered on this thread; dropping it restores what was
/// entered before (scopes nest).
#[must_use = "the scope is left as soon as the guard drops"]
pub struct ScopeGuard {
    handle: ScopeHandle,
    /// Guards are tied to their thread.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl ScopeGuard {
    /// A handle other threads can [`enter`](ScopeHandle::enter).
    pub fn handle(&self) -> ScopeHandle {
        self.handle.clone()
    }

    /// Starts recording every event of every signal dispatched in this
    /// scope.
    ///
    /// ```
    /// use mesh::prelude::*;
    /// #[signal]
    /// #[derive(Debug)]
    /// pub struct Ping(u8);
    ///
    /// let mesh = mesh::testing::scope();
    /// let all = mesh.record_all();
    /// Ping(1).emit();
    /// assert_eq!(all.events()[0].payload, "Ping(1)");
    /// ```
    pub fn record_all(&self) -> AllRecorder {
        AllRecorder::start(&self.handle.inner)
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        // Remove this guard's own entry, wherever it is in the stack.
        let mine = Arc::as_ptr(&self.handle.inner);
        let left = ENTERED.with(|e| {
            let mut entered = e.borrow_mut();
            let at = entered.iter().rposition(|i| Arc::as_ptr(i) == mine);
            at.map(|at| entered.remove(at))
        });
        // Dropped after the borrow ends: it may be the scope's last handle.
        drop(left);
    }
}

impl fmt::Debug for ScopeGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeGuard").finish_non_exhaustive()
    }
}

/// A shareable reference to a scope, for entering it on other threads.
#[derive(Clone)]
pub struct ScopeHandle {
    inner: Arc<Inner>,
}

impl ScopeHandle {
    /// Enters the scope on the current thread until the guard drops.
    #[must_use = "the scope is left as soon as the guard drops: bind it, `let _mesh = ..;`"]
    pub fn enter(&self) -> ScopeGuard {
        ENTERED.with(|e| e.borrow_mut().push(self.inner.clone()));
        ScopeGuard { handle: self.clone(), _not_send: std::marker::PhantomData }
    }
}

impl fmt::Debug for ScopeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeHandle").finish_non_exhaustive()
    }
}

/// The scoped signal of `T` on this thread, if a scope is entered; `make`
/// creates it on the scope's first use of `T`.
#[inline]
pub(crate) fn scoped<T: EventType>(make: impl FnOnce() -> Signal<T>) -> Option<Signal<T>> {
    if LIVE_SCOPES.load(Ordering::Relaxed) == 0 {
        return None;
    }
    scoped_slow(make)
}

#[cold]
fn scoped_slow<T: EventType>(make: impl FnOnce() -> Signal<T>) -> Option<Signal<T>> {
    let inner = current()?;
    let lookup = |inner: &Inner| {
        let signals = inner.signals.locked();
        signals.get(&TypeId::of::<T>()).and_then(|s| s.as_any().downcast_ref().cloned())
    };
    if let Some(signal) = lookup(&inner) {
        return Some(signal);
    }
    // Made with no lock held: connecting the global receivers emits meta
    // events, whose receivers may resolve other scoped signals.
    let signal = make();
    if inner.include_globals {
        for receiver in crate::__private::connect_globals(&signal) {
            crate::meta::connected_event(T::NAME, signal.id(), receiver);
        }
    }
    let mut signals = inner.signals.locked();
    match signals.entry(TypeId::of::<T>()) {
        Entry::Occupied(winner) => {
            // Another thread of this scope got there first: use its signal;
            // ours is dropped (after the lock) with its receivers.
            let winner = winner.get().as_any().downcast_ref().cloned();
            drop(signals);
            drop(signal);
            winner
        }
        Entry::Vacant(slot) => {
            slot.insert(Box::new(signal.clone()));
            Some(signal)
        }
    }
}

/// Emits a prepared (simulated) event on `T`'s signal: chosen id,
/// timestamp, source and metadata; the signal sets `name` and `seq`.
///
/// ```
/// use mesh::{Event, Uuid, prelude::*, testing};
/// #[signal]
/// #[derive(Clone)]
/// pub struct Tick;
///
/// let _mesh = testing::scope();
/// let rec = testing::Recorder::<Tick>::new();
/// let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1);
/// testing::inject(Event::new(Tick).with_id(Uuid::nil()).with_timestamp(at).with_source("sim"));
/// let ev = &rec.events()[0];
/// assert_eq!((ev.id, ev.timestamp, ev.source.as_deref()), (Uuid::nil(), at, Some("sim")));
/// ```
pub fn inject<T: EventType>(event: Event<T>) -> Emitted {
    T::with_signal(|s| s.emit_event(event))
}

/// Captures the events of one signal for assertions.
///
/// It connects an envelope receiver that clones each event (so `T:
/// Clone`), and disconnects when dropped.
pub struct Recorder<T> {
    events: Arc<Mutex<Vec<Event<T>>>>,
    _connection: ScopedConnection,
}

impl<T: Clone + Send + Sync + 'static> Recorder<T> {
    /// Records `T`'s signal (the scoped one inside a [`scope`]).
    pub fn new() -> Self
    where
        T: EventType,
    {
        Self::on(&T::signal())
    }

    /// Records any signal.
    pub fn on(signal: &Signal<T>) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let connection = signal.connect_scoped(move |ev: &Event<T>| {
            sink.locked().push(ev.clone());
        });
        Recorder { events, _connection: connection }
    }

    /// The recorded envelopes, in arrival order.
    pub fn events(&self) -> Vec<Event<T>> {
        self.lock().clone()
    }

    /// The recorded payloads, in arrival order.
    pub fn payloads(&self) -> Vec<T> {
        self.lock().iter().map(|e| e.data.clone()).collect()
    }

    /// Number of recorded events.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Asserts that exactly these payloads were recorded, in this order.
    ///
    /// # Panics
    ///
    /// With both lists in the message, when they differ (this is an
    /// assertion, for tests).
    #[track_caller]
    pub fn assert_payloads(&self, expected: &[T])
    where
        T: PartialEq + fmt::Debug,
    {
        let got = self.payloads();
        assert!(
            got == expected,
            "recorded payloads differ\n  expected: {expected:?}\n  recorded: {got:?}"
        );
    }

    /// Asserts that exactly `n` events were recorded.
    ///
    /// # Panics
    ///
    /// When the count differs.
    #[track_caller]
    pub fn assert_count(&self, n: usize) {
        let got = self.len();
        assert!(got == n, "expected {n} recorded events, got {got}");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event<T>>> {
        self.events.locked()
    }
}

impl<T: Clone + Send + Sync + EventType> Default for Recorder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Recorder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.events.lock().map(|v| v.len()).unwrap_or(0);
        f.debug_struct("Recorder").field("events", &n).finish()
    }
}

/// Live [`AllRecorder`]s. Relaxed: it only gates whether dispatch looks
/// for them (an emit that starts after a recorder was created on this
/// thread sees it by coherence).
static ALL_RECORDERS: AtomicUsize = AtomicUsize::new(0);

#[inline]
pub(crate) fn recording_all() -> bool {
    ALL_RECORDERS.load(Ordering::Relaxed) != 0
}

/// Hands one dispatched envelope to the all-recorders of this thread's
/// scope.
pub(crate) fn record_all<T: Send + Sync + 'static>(event: &Event<T>, debug: Option<DebugFn<T>>) {
    let Some(inner) = current() else { return };
    let sinks: Vec<_> = inner.all.locked().iter().filter_map(Weak::upgrade).collect();
    if sinks.is_empty() {
        return;
    }
    let entry = view(event, debug);
    for sink in sinks {
        sink.locked().push(entry.clone());
    }
}

/// Captures every event dispatched in a scope, of any signal, type-erased
/// (name, id, seq, timestamp, payload `Debug`).
///
/// Made by [`ScopeGuard::record_all`]; it records the events emitted on
/// threads that have that scope entered, and makes every signal build
/// envelopes while it lives.
pub struct AllRecorder {
    events: Arc<Mutex<Vec<RecentEvent>>>,
}

impl AllRecorder {
    fn start(inner: &Inner) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut all = inner.all.locked();
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&events));
        drop(all);
        ALL_RECORDERS.fetch_add(1, Ordering::Relaxed);
        crate::pipeline::global_work_add();
        AllRecorder { events }
    }

    /// What was recorded, in dispatch order.
    pub fn events(&self) -> Vec<RecentEvent> {
        self.events.locked().clone()
    }
}

impl Drop for AllRecorder {
    fn drop(&mut self) {
        ALL_RECORDERS.fetch_sub(1, Ordering::Relaxed);
        crate::pipeline::global_work_sub();
    }
}

impl fmt::Debug for AllRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllRecorder").finish_non_exhaustive()
    }
}
