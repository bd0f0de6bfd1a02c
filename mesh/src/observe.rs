//! Floor 3: the process-wide hook the emit path calls, so that
//! cross-cutting watchers attach from above instead of being imported from
//! below.
//!
//! The signal layer (floor 5) reports here and knows nothing of who
//! listens; the watchers live in higher floors and register themselves:
//!
//! * **Work gate.** [`work`] is one relaxed load on every emit: nonzero
//!   sends the emit down the full path (envelope, middleware, observers).
//!   Global middleware, the recent-events view and testing all-recorders
//!   each hold a count while they exist.
//! * **Envelope observers** ([`Observer`]): handed every envelope the full
//!   path builds, type-erased and shared (no copy of the payload). The
//!   recent-events view ([`history`](crate::history)) and testing
//!   all-recorders are observers.
//! * **Lifecycle** ([`Lifecycle`]): receivers connected, disconnected and
//!   failed. The [`meta`](crate::meta) floor installs it the first time its
//!   signals are used and turns the calls into `mesh.receiver.*` emits;
//!   before that, nobody can be listening, and the calls cost one load.
//! * **Scopes** ([`Scopes`]): where an event type's signal resolves inside
//!   a testing scope. The [`testing`](crate::testing) floor installs it;
//!   while no scope exists, resolving costs one load.
//!
//! Everything here is type-erased (`dyn`), so this floor depends on
//! nothing but the envelope's erased view.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use crate::connection::DisconnectReason;
use crate::event::{DebugFn, Entry, Erased, Event};
use crate::receiver::ReceiverInfo;
use crate::sync::RwLockExt;

// ----- the work gate --------------------------------------------------------

/// Things outside any one signal that need every emit to take the full
/// path. Relaxed: it only gates work; a watcher registered before an emit
/// starts (happens-before) is seen by read-write coherence, and what the
/// full path then reads (observers, global middleware) carries its own
/// synchronisation.
static WORK: AtomicUsize = AtomicUsize::new(0);

/// Whether some global watcher wants every emit to take the full path.
#[inline]
pub(crate) fn work() -> bool {
    WORK.load(Ordering::Relaxed) != 0
}

/// One more reason for the full path (see [`WORK`]). The caller calls
/// [`release_deferred`] once it holds no lock.
pub(crate) fn add_work() {
    let gates = gates();
    WORK.fetch_add(1, Ordering::Relaxed);
    regate(gates);
}

/// One reason fewer. The caller calls [`release_deferred`] once it holds
/// no lock.
pub(crate) fn sub_work() {
    let gates = gates();
    WORK.fetch_sub(1, Ordering::Relaxed);
    regate(gates);
}

// ----- the global gate on every signal ---------------------------------------
//
// The hot path of an emit reads one word of its signal: the receiver count
// and the signal's state, which includes a `GLOBAL` bit standing for
// "something process-wide may want this emit" (`WORK` above, or a live
// testing scope, which decides where an event type's signal resolves). So
// that no emit reads a process-wide static, the bit is pushed to every
// signal when that process-wide state changes, which is rare (a recorder,
// the recent view or global middleware installed or removed, a testing
// scope entered or left).
//
// Invariant: while `GATES` is not held, every live signal's `GLOBAL` bit is
// `Gates::on`, and `Gates::on` is `WORK > 0 || LIVE_SCOPES > 0`. Both
// counters change only under the lock, followed by `regate` before it is
// released; a signal is listed, with its bit set to `on`, under the lock
// before its first handle is returned (`gate`). So an emit that
// happens-after a change sees the bit that change set (read-write
// coherence on the signal's word; Relaxed throughout, as the bit only gates
// work and the full path re-reads the counters themselves).
//
// The same list carries the `STATS` bit (`introspect::set_stats`), with the
// same invariant: while `GATES` is not held, every live signal's `STATS`
// bit is `Gates::counting` (set under the lock by `set_counting`, and by
// `gate` for a new signal), registered or anonymous.

/// A signal, as the global gate sees it.
pub(crate) trait Gated: Send + Sync {
    /// Sets or clears the signal's `GLOBAL` bit.
    fn set_global(&self, on: bool);
    /// Sets or clears the signal's `STATS` bit (counting its emits),
    /// without republishing its snapshot (see [`touch`](Gated::touch)).
    fn set_counting(&self, on: bool);
    /// Republishes the signal's snapshot unchanged, so its publishers
    /// re-derive their paths from its state. Takes the signal's writer
    /// lock: never called under [`GATES`].
    fn touch(&self);
}

/// Every signal made so far (weakly), and the bits they carry.
struct Gates {
    signals: Vec<std::sync::Weak<dyn Gated>>,
    /// The `GLOBAL` bit every listed signal carries.
    on: bool,
    /// The `STATS` bit every listed signal carries.
    counting: bool,
    /// Signals dropped since the list was last pruned: at more than half
    /// the list, the dropped ones are pruned (their memory, kept by the
    /// `Weak`s, is freed), so the list is at most twice the live signals.
    dropped: usize,
}

static GATES: Mutex<Gates> =
    Mutex::new(Gates { signals: Vec::new(), on: false, counting: false, dropped: 0 });

fn gates() -> MutexGuard<'static, Gates> {
    // No user code runs under the lock (the strong handles a pass takes are
    // dropped by `release_deferred`, with no lock held), so a poisoned
    // lock guards nothing broken.
    GATES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the process-wide state wants the `GLOBAL` bit on.
fn global() -> bool {
    WORK.load(Ordering::Relaxed) != 0 || LIVE_SCOPES.load(Ordering::Relaxed) != 0
}

/// After a change of `WORK` or `LIVE_SCOPES` under the lock: pushes the
/// bit to every live signal if it changed.
fn regate(mut gates: MutexGuard<'static, Gates>) {
    let on = global();
    if on == gates.on {
        return;
    }
    gates.on = on;
    let mut held = each_live(&gates, |signal| signal.set_global(on));
    drop(gates);
    // A handle held here may be a signal's last (another thread dropped
    // its own meanwhile): its drop runs user code (its receivers' drops,
    // removal reports). The callers of `add_work` and friends may hold
    // locks of their own (`set_recent_capacity`, a recorder's start), so
    // the handles wait on this thread until [`release_deferred`], which
    // each public entry point calls once its locks are released.
    let _ = DEFERRED.try_with(|d| d.borrow_mut().extend(held.drain(..)));
    // (Only if the thread is exiting: dropped here, as any thread-local.)
    drop(held);
}

/// Calls `f` on every live listed signal; returns the strong handles the
/// pass took, to be dropped with no lock held.
fn each_live(gates: &Gates, f: impl Fn(&dyn Gated)) -> Vec<Arc<dyn Gated>> {
    let mut held: Vec<Arc<dyn Gated>> = Vec::with_capacity(gates.signals.len());
    for signal in &gates.signals {
        if let Some(signal) = signal.upgrade() {
            f(&*signal);
            held.push(signal);
        }
    }
    held
}

thread_local! {
    /// Signal handles a pass of [`regate`] took, waiting to be dropped
    /// with no lock held (see [`release_deferred`]).
    static DEFERRED: std::cell::RefCell<Vec<Arc<dyn Gated>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Drops the signal handles this thread's last global change took (see
/// [`regate`]). Called by every public function that changes global work
/// or the live scopes, after it has released its own locks; a signal whose
/// last handle this is drops here.
pub(crate) fn release_deferred() {
    let held = DEFERRED.try_with(|d| std::mem::take(&mut *d.borrow_mut())).unwrap_or_default();
    drop(held);
}

/// Lists a new signal (before any handle to it is returned) and sets its
/// `GLOBAL` bit as every other signal's is. `signal` is `weak`'s signal.
/// Non-generic (issue 14): the caller only makes the `Weak`.
pub(crate) fn gate(signal: &dyn Gated, weak: std::sync::Weak<dyn Gated>) {
    let mut gates = gates();
    if gates.on {
        signal.set_global(true);
    }
    // No publisher of it exists yet: nothing to republish.
    if gates.counting {
        signal.set_counting(true);
    }
    gates.signals.push(weak);
}

// ----- counting -------------------------------------------------------------

/// `Gates::counting`, readable without the lock (for
/// `introspect::stats_enabled`). Written under the lock; Relaxed: a
/// report, nothing is published through it.
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Whether every signal counts its emits ([`set_counting`]).
pub(crate) fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// Sets or clears the `STATS` bit of every live signal — registered or
/// anonymous — and of every signal made afterwards, then republishes each
/// one's snapshot so its publishers see the change. Takes signal writer
/// locks and may drop a signal's last handle (user code): the caller holds
/// no lock.
pub(crate) fn set_counting(on: bool) {
    let mut gates = gates();
    gates.counting = on;
    COUNTING.store(on, Ordering::Relaxed);
    let held = each_live(&gates, |signal| signal.set_counting(on));
    drop(gates);
    for signal in &held {
        signal.touch();
    }
    drop(held);
}

/// A signal was dropped: prunes the list once dropped signals are more
/// than half of it.
pub(crate) fn ungate() {
    let mut gates = gates();
    gates.dropped += 1;
    if gates.dropped * 2 > gates.signals.len() {
        gates.signals.retain(|w| w.strong_count() > 0);
        gates.dropped = 0;
    }
}

// ----- envelope observers ---------------------------------------------------

/// A watcher of every envelope the full emit path builds.
pub(crate) trait Observer: Send + Sync {
    /// Called on the emitting thread, after the envelope is numbered and
    /// before it is dispatched. Must not emit on the same signal.
    fn envelope(&self, event: &Arc<dyn Erased>);
}

/// The registered observers. Read (shared lock) only on the full path
/// while at least one exists (see [`OBSERVING`]); written when one comes
/// or goes.
static OBSERVERS: RwLock<Vec<&'static dyn Observer>> = RwLock::new(Vec::new());

/// `OBSERVERS.len()`, so an emit on the full path for another reason
/// (history, middleware) takes no lock when nobody observes. Relaxed: it
/// only gates work, like [`WORK`]; the list is read under its lock.
static OBSERVING: AtomicUsize = AtomicUsize::new(0);

/// Registers `observer` (and counts it as work): from now on every emit
/// builds an envelope and hands it over.
pub(crate) fn add_observer(observer: &'static dyn Observer) {
    OBSERVERS.write_locked().push(observer);
    OBSERVING.fetch_add(1, Ordering::Relaxed);
    add_work();
}

/// Unregisters one registration of `observer`.
pub(crate) fn remove_observer(observer: &'static dyn Observer) {
    let mut observers = OBSERVERS.write_locked();
    let this = observer as *const dyn Observer as *const ();
    if let Some(at) = observers.iter().position(|o| std::ptr::eq(*o as *const _ as *const (), this))
    {
        observers.remove(at);
        OBSERVING.fetch_sub(1, Ordering::Relaxed);
        sub_work();
    }
}

/// Hands `event` to the observers, if any.
pub(crate) fn envelope<T: Send + Sync + 'static>(event: &Arc<Event<T>>, debug: Option<DebugFn<T>>) {
    if OBSERVING.load(Ordering::Relaxed) == 0 {
        return;
    }
    let observers = OBSERVERS.read_locked();
    if observers.is_empty() {
        return;
    }
    let erased: Arc<dyn Erased> = Arc::new(Entry { event: event.clone(), debug });
    for observer in observers.iter() {
        observer.envelope(&erased);
    }
}

// ----- lifecycle ------------------------------------------------------------

/// Receives the receiver lifecycle of every signal.
pub(crate) trait Lifecycle: Send + Sync {
    /// Whether `connected` would do anything (so callers can skip building
    /// its argument).
    fn wants_connected(&self) -> bool;
    fn connected(&self, signal: &'static str, signal_id: u64, receiver: ReceiverInfo);
    fn wants_disconnected(&self) -> bool;
    fn disconnected(
        &self,
        signal: &'static str,
        signal_id: u64,
        receiver: ReceiverInfo,
        reason: DisconnectReason,
    );
    fn failed(
        &self,
        signal: &'static str,
        signal_id: u64,
        receiver: Cow<'static, str>,
        message: String,
    );
}

static LIFECYCLE: OnceLock<&'static dyn Lifecycle> = OnceLock::new();

/// Installs the lifecycle hook (once; later calls are ignored).
pub(crate) fn set_lifecycle(hook: &'static dyn Lifecycle) {
    let _ = LIFECYCLE.set(hook);
}

pub(crate) fn wants_connected() -> bool {
    LIFECYCLE.get().is_some_and(|l| l.wants_connected())
}

pub(crate) fn wants_disconnected() -> bool {
    LIFECYCLE.get().is_some_and(|l| l.wants_disconnected())
}

pub(crate) fn connected(signal: &'static str, signal_id: u64, receiver: ReceiverInfo) {
    if let Some(l) = LIFECYCLE.get() {
        l.connected(signal, signal_id, receiver);
    }
}

pub(crate) fn disconnected(
    signal: &'static str,
    signal_id: u64,
    receiver: ReceiverInfo,
    reason: DisconnectReason,
) {
    if let Some(l) = LIFECYCLE.get() {
        l.disconnected(signal, signal_id, receiver, reason);
    }
}

pub(crate) fn failed(
    signal: &'static str,
    signal_id: u64,
    receiver: Cow<'static, str>,
    message: String,
) {
    if let Some(l) = LIFECYCLE.get() {
        l.failed(signal, signal_id, receiver, message);
    }
}

// ----- scopes ---------------------------------------------------------------

/// One scope's signal of some event type, type-erased.
pub(crate) trait ScopedSignal: Send + Sync {
    /// The signal (a `Signal<T>`), for downcasting.
    fn as_any(&self) -> &(dyn Any + Send + Sync);
    /// Disconnects every receiver (its scope ended).
    fn clear(&self);
}

/// Resolves event types' signals inside testing scopes.
pub(crate) trait Scopes: Send + Sync {
    /// The current thread's scope's signal for the event type `event`, if
    /// a scope is entered; `make` makes it on the scope's first use of the
    /// type (its argument: whether the scope includes global receivers).
    fn resolve(
        &self,
        event: TypeId,
        make: Box<dyn FnOnce(bool) -> Box<dyn ScopedSignal> + '_>,
        found: &mut dyn FnMut(&dyn ScopedSignal),
    );
    /// The current thread's scope's pattern subscriptions (the registry's
    /// table, type-erased: this floor cannot name it), if a scope is
    /// entered.
    fn patterns(&self) -> Option<Arc<dyn Any + Send + Sync>>;
}

/// Live scopes in the process. Relaxed: it only tells `resolve` whether to
/// look at the thread's scope at all; a scope entered on this thread is
/// seen by this thread in program order.
static LIVE_SCOPES: AtomicUsize = AtomicUsize::new(0);

static SCOPES: OnceLock<&'static dyn Scopes> = OnceLock::new();

/// Installs the scope resolver (once) and counts a live scope.
pub(crate) fn scope_started(scopes: &'static dyn Scopes) {
    let _ = SCOPES.set(scopes);
    let gates = gates();
    LIVE_SCOPES.fetch_add(1, Ordering::Relaxed);
    regate(gates);
    release_deferred();
}

/// Counts a scope gone.
pub(crate) fn scope_ended() {
    let gates = gates();
    LIVE_SCOPES.fetch_sub(1, Ordering::Relaxed);
    regate(gates);
    release_deferred();
}

/// The scope's signal for event type `event`, as `S`, if a scope is
/// entered on this thread. One relaxed load while no scope exists.
#[inline]
pub(crate) fn scoped<S: Clone + 'static>(
    event: TypeId,
    make: impl FnOnce(bool) -> Box<dyn ScopedSignal>,
) -> Option<S> {
    if LIVE_SCOPES.load(Ordering::Relaxed) == 0 {
        return None;
    }
    scoped_slow(event, make)
}

/// The pattern table of the scope entered on this thread, if any (see
/// [`Scopes::patterns`]). One relaxed load while no scope exists.
pub(crate) fn scope_patterns() -> Option<Arc<dyn Any + Send + Sync>> {
    if LIVE_SCOPES.load(Ordering::Relaxed) == 0 {
        return None;
    }
    SCOPES.get()?.patterns()
}

#[cold]
fn scoped_slow<S: Clone + 'static>(
    event: TypeId,
    make: impl FnOnce(bool) -> Box<dyn ScopedSignal>,
) -> Option<S> {
    let scopes = SCOPES.get()?;
    let mut out = None;
    scopes.resolve(event, Box::new(make), &mut |signal| {
        out = signal.as_any().downcast_ref::<S>().cloned();
    });
    out
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Dropped signals are pruned from the gate list once they are more
    /// than half of it, so the `Weak`s never keep more dead signals'
    /// memory than there are entries for live ones (plus one).
    #[test]
    fn the_gate_list_prunes_dropped_signals() {
        let signals: Vec<_> = (0..1000).map(|_| crate::Signal::<u8>::new()).collect();
        drop(signals);
        let gates = gates();
        let dead = gates.signals.iter().filter(|w| w.strong_count() == 0).count();
        // (+ 16: other tests of this binary drop signals meanwhile; one
        // whose strong count is 0 is listed until its drop reaches
        // `ungate`, which waits for this lock.)
        assert!(
            dead <= gates.signals.len() / 2 + 16,
            "{dead} dropped signals still listed of {}",
            gates.signals.len()
        );
    }
}
