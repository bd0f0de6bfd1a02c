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

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use crate::connection::ScopedConnection;
use crate::event::Event;
use crate::event::{Erased, RecentEvent};
use crate::event_type::EventType;
use crate::observe::{self, Observer, ScopedSignal, Scopes};
use crate::registry::ScopeTable;
use crate::signal::{Emitted, Signal};
use crate::sync::LockExt;

thread_local! {
    /// The scopes entered on this thread, innermost last. A stack (not a
    /// single slot restored by each guard) so guards may drop in any order.
    static ENTERED: RefCell<Vec<Arc<Inner>>> = const { RefCell::new(Vec::new()) };
}

/// A scope's state: its signals, by event type, and its all-recorders.
struct Inner {
    include_globals: bool,
    /// Each signal is the scope's own, made for it and never reused: a
    /// handle kept after the scope ends still points at this scope's
    /// (emptied) signal, never at another scope's.
    signals: Mutex<HashMap<TypeId, Box<dyn ScopedSignal>>>,
    all: Mutex<Vec<Weak<Mutex<Vec<RecentEvent>>>>>,
    /// Pattern subscriptions made in this scope.
    patterns: Arc<ScopeTable>,
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
        observe::scope_ended();
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
    /// this scope's signals, `#[receiver(pattern = ..)]`s included.
    pub fn with_global_receivers(mut self) -> Self {
        self.include_globals = true;
        self
    }

    /// Enters the scope on this thread until the guard drops.
    #[must_use = "the scope ends as soon as the guard drops: bind it, `let _mesh = ..;` (`let _ = ..;` drops it at once)"]
    pub fn enter(self) -> ScopeGuard {
        observe::scope_started(&RESOLVER);
        let inner = Arc::new(Inner {
            include_globals: self.include_globals,
            signals: Mutex::default(),
            all: Mutex::default(),
            patterns: ScopeTable::new(),
        });
        let patterns = self.include_globals.then(|| inner.patterns.clone());
        let guard = ScopeHandle { inner }.enter();
        // Listed once the scope is entered: they attach to its signals as
        // its event types are first used, like its `#[receiver]`s.
        if let Some(table) = patterns {
            crate::registry::scope_static_receivers(&table);
        }
        guard
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

/// Resolves event types' signals to the current thread's scope: the
/// [`observe::Scopes`] hook, installed when the first scope starts.
struct Resolver;

impl Scopes for Resolver {
    fn resolve(
        &self,
        event: TypeId,
        make: Box<dyn FnOnce(bool) -> Box<dyn ScopedSignal> + '_>,
        found: &mut dyn FnMut(&dyn ScopedSignal),
    ) {
        let Some(inner) = current() else { return };
        if let Some(signal) = inner.signals.locked().get(&event) {
            return found(&**signal);
        }
        // Made with no lock held: connecting the global receivers emits
        // meta events, whose receivers may resolve other scoped signals.
        let signal = make(inner.include_globals);
        let mut signals = inner.signals.locked();
        match signals.entry(event) {
            Entry::Occupied(winner) => {
                // Another thread of this scope got there first: use its
                // signal; ours is dropped (after the lock) with its
                // receivers.
                found(&**winner.get());
                drop(signals);
                drop(signal);
            }
            Entry::Vacant(slot) => found(&**slot.insert(signal)),
        }
    }

    fn patterns(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        Some(current()?.patterns.clone())
    }
}

static RESOLVER: Resolver = Resolver;

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

/// Live [`AllRecorder`]s; the first registers [`AllObserver`], the last
/// unregisters it.
static ALL_RECORDERS: Mutex<usize> = Mutex::new(0);

/// Hands each envelope to the all-recorders of the emitting thread's scope.
struct AllObserver;

static ALL_OBSERVER: AllObserver = AllObserver;

impl Observer for AllObserver {
    fn envelope(&self, event: &Arc<dyn Erased>) {
        let Some(inner) = current() else { return };
        let sinks: Vec<_> = inner.all.locked().iter().filter_map(Weak::upgrade).collect();
        if sinks.is_empty() {
            return;
        }
        let entry = event.view();
        for sink in sinks {
            sink.locked().push(entry.clone());
        }
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
        let mut live = ALL_RECORDERS.locked();
        if *live == 0 {
            observe::add_observer(&ALL_OBSERVER);
        }
        *live += 1;
        drop(live);
        // Unlocked: may drop a signal (see `observe::release_deferred`).
        observe::release_deferred();
        AllRecorder { events }
    }

    /// What was recorded, in dispatch order.
    pub fn events(&self) -> Vec<RecentEvent> {
        self.events.locked().clone()
    }
}

impl Drop for AllRecorder {
    fn drop(&mut self) {
        let mut live = ALL_RECORDERS.locked();
        *live -= 1;
        if *live == 0 {
            observe::remove_observer(&ALL_OBSERVER);
        }
        drop(live);
        // Unlocked: may drop a signal (see `observe::release_deferred`).
        observe::release_deferred();
    }
}

impl fmt::Debug for AllRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllRecorder").finish_non_exhaustive()
    }
}
