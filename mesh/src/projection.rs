//! Projections: state folded from events (the read side of event sourcing).
//!
//! A [`Projection<S>`] holds a state `S` and one fold function per event
//! type it follows. Each event that reaches it is folded into the state
//! under a write lock; readers take a read lock, so they never see a
//! half-applied event. Dropping the projection disconnects it.
//!
//! [`Projection::rebuild`] resets the state and folds the signals'
//! retained [history](crate::history) instead: the whole log, from each
//! signal's first event. A projection built before the first event and
//! rebuilt from complete histories ends in the same state as live folding;
//! one built later catches up on what it missed. Each signal's events are
//! replayed in `seq` order; events of several signals are interleaved by
//! timestamp (then id), which matches the live order for events emitted
//! at different times; events of two signals emitted within one clock
//! tick by different threads may interleave differently.
//!
//! ```
//! use mesh::prelude::*;
//! use mesh::projection::Projection;
//!
//! #[signal(history = 128)]
//! #[derive(Debug, Clone)]
//! pub struct Deposited(u64);
//! #[signal(history = 128)]
//! #[derive(Debug, Clone)]
//! pub struct Withdrawn(u64);
//!
//! let balance = Projection::builder(|| 0i64)
//!     .on::<Deposited>(|b, ev| *b += ev.data.0 as i64)
//!     .on::<Withdrawn>(|b, ev| *b -= ev.data.0 as i64)
//!     .build();
//! Deposited(100).emit();
//! Withdrawn(30).emit();
//! assert_eq!(balance.get(), 70);
//! balance.rebuild().unwrap();
//! assert_eq!(balance.get(), 70);
//! ```

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use crate::connection::Connection;
use crate::event::{Event, Uuid};
use crate::event_type::EventType;
use crate::receiver::{ConnectOptions, DELIVERED, Delivery, FAILED, Handler, Status};
use crate::signal::{Signal, WeakSignal};
use crate::sync::{LockExt, RwLockExt};
use std::time::SystemTime;

/// Why a projection could not be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProjectionError {
    /// The signal keeps no history.
    NoHistory {
        /// Its name (`""` if anonymous).
        signal: &'static str,
    },
    /// The signal's history no longer starts at its first event: older
    /// events were evicted.
    Truncated {
        /// Its name.
        signal: &'static str,
        /// Oldest retained `seq`.
        oldest: u64,
    },
}

impl fmt::Display for ProjectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProjectionError::NoHistory { signal } => {
                write!(f, "signal `{signal}` keeps no history to rebuild from")
            }
            ProjectionError::Truncated { signal, oldest } => write!(
                f,
                "history of `{signal}` starts at seq {oldest}, not 1: older events were \
                 evicted; raise its history capacity"
            ),
        }
    }
}

impl std::error::Error for ProjectionError {}

/// One event's fold. It catches its own panic: run directly, it returns
/// the message for the dispatch to count and report; run deferred (the
/// flag), it reports the panic itself. See [`Shared::fold`].
type Fold<S> = Box<dyn FnOnce(&mut S, bool) -> Option<String> + Send>;

thread_local! {
    /// The projections (by the address of their [`Shared`]) this thread is
    /// folding into right now, innermost last.
    static FOLDING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Shared state: the value, how to make a fresh one, and the folds held
/// back while a fold runs.
struct Shared<S> {
    state: RwLock<S>,
    initial: Box<dyn Fn() -> S + Send + Sync>,
    /// Events that reached the projection from inside one of its own folds
    /// on the thread holding the write lock: folded by that thread right
    /// after the fold that emitted them, before the lock is released.
    deferred: Mutex<VecDeque<Fold<S>>>,
    /// The receiver name failures are reported under.
    name: Cow<'static, str>,
}

/// Marks this thread as folding into one projection until dropped (on
/// unwind too).
struct Folding(usize);

impl Folding {
    fn enter(addr: usize) -> Self {
        FOLDING.with(|f| f.borrow_mut().push(addr));
        Folding(addr)
    }

    /// Whether this thread is inside a fold of the projection at `addr`.
    fn active(addr: usize) -> bool {
        FOLDING.with(|f| f.borrow().contains(&addr))
    }
}

impl Drop for Folding {
    fn drop(&mut self) {
        FOLDING.with(|f| {
            let mut f = f.borrow_mut();
            if let Some(at) = f.iter().rposition(|&a| a == self.0) {
                f.remove(at);
            }
        });
    }
}

impl<S> Shared<S> {
    fn addr(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// The state, for folding. This lock is held around user code (the
    /// fold); poison is ignored all the same, so a fold that panics (the
    /// dispatch catches it) leaves the state as far as it got, and the
    /// projection keeps working. Folds that must be all-or-nothing should
    /// not panic midway.
    fn write(&self) -> RwLockWriteGuard<'_, S> {
        self.state.write_locked()
    }

    /// Folds one event, as the projection's receiver on a signal.
    ///
    /// A fold may emit, and may emit on a signal this projection follows:
    /// receivers may emit from inside a dispatch, and a projection keeps
    /// that promise. Such an event reaches this projection on the thread
    /// that holds the write lock; taking it again would deadlock, so it is
    /// *deferred*: queued, and folded by the same thread right after the
    /// fold that emitted it (like an ordered signal's re-entrant emit).
    /// Deferred folds run before the lock is released, so readers never
    /// see the state between a fold and the events it caused.
    ///
    /// Returns the panic message of the fold itself, if it panicked.
    fn fold(&self, fold: Fold<S>) -> Option<String> {
        if Folding::active(self.addr()) {
            self.deferred.locked().push_back(fold);
            return None;
        }
        let mut state = self.write();
        let _folding = Folding::enter(self.addr());
        let failure = fold(&mut state, false);
        self.drain(&mut state);
        failure
    }

    /// Folds the deferred events, in the order they were emitted (each
    /// reports its own panic).
    fn drain(&self, state: &mut S) {
        while let Some(next) = self.deferred.locked().pop_front() {
            next(state, true);
        }
    }
}

/// One replayed event: its merge key across signals (timestamp, then id)
/// and how to fold it (returns the panic message if the fold panicked).
type Replay<'a, S> = ((SystemTime, Uuid), Box<dyn FnOnce(&mut S) + 'a>);

/// A signal's replay: its events, and how to set its watermark afterwards.
type ReplayBatch<'a, S> = (Vec<Replay<'a, S>>, Box<dyn FnOnce() + 'a>);

/// One followed signal, type-erased.
trait Follow<S>: Send + Sync {
    fn attach(&self, shared: &Arc<Shared<S>>) -> Connection;
    /// Checks the history, records the watermark, and returns the events.
    fn replay<'a>(&'a self, shared: &'a Shared<S>) -> Result<ReplayBatch<'a, S>, ProjectionError>;
}

struct On<E, F> {
    signal: Signal<E>,
    fold: Arc<F>,
    /// Live events up to this `seq` are already in the state (folded by
    /// the last rebuild) and are skipped. Read and written only under the
    /// state's write lock, so Relaxed suffices.
    watermark: Arc<AtomicU64>,
}

/// The receiver a projection connects: it takes the envelope behind its
/// `Arc`, so a deferred fold can keep it.
struct Folder<S, E, F> {
    shared: Weak<Shared<S>>,
    /// Where a deferred fold reports its panic.
    signal: WeakSignal<E>,
    fold: Arc<F>,
    watermark: Arc<AtomicU64>,
    _event: PhantomData<fn(E)>,
}

impl<S, E, F> Handler<E> for Folder<S, E, F>
where
    S: Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fn(&mut S, &Event<E>) + Send + Sync + 'static,
{
    const ENVELOPE: bool = true;
    const SHARED: bool = true;

    fn handle(&self, d: &Delivery<'_, E>) -> Status {
        let (Some(shared), Some(event)) = (self.shared.upgrade(), d.shared) else {
            return DELIVERED;
        };
        let (fold, watermark, event) = (self.fold.clone(), self.watermark.clone(), event.clone());
        let (signal, name) = (self.signal.clone(), shared.name.clone());
        let failure = shared.fold(Box::new(move |state: &mut S, deferred: bool| {
            // Relaxed: the watermark is only touched under the write lock.
            if event.seq <= watermark.load(Ordering::Relaxed) {
                return None;
            }
            let panic = catch_unwind(AssertUnwindSafe(|| fold(state, &event))).err()?;
            let message = crate::signal::panic_message(&*panic);
            match signal.upgrade() {
                Some(signal) if deferred => signal.report_failure(name, message),
                _ => return Some(message),
            }
            None
        }));
        match failure {
            None => DELIVERED,
            Some(message) => {
                d.failure.set(Some(message));
                FAILED
            }
        }
    }
}

impl<S, E, F> Follow<S> for On<E, F>
where
    S: Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fn(&mut S, &Event<E>) + Send + Sync + 'static,
{
    fn attach(&self, shared: &Arc<Shared<S>>) -> Connection {
        let folder = Folder {
            shared: Arc::downgrade(shared),
            signal: self.signal.downgrade(),
            fold: self.fold.clone(),
            watermark: self.watermark.clone(),
            _event: PhantomData,
        };
        let options = ConnectOptions::new().name(shared.name.clone());
        self.signal.connect_handler(folder, options, "", true).0
    }

    fn replay<'a>(&'a self, shared: &'a Shared<S>) -> Result<ReplayBatch<'a, S>, ProjectionError> {
        let signal = self.signal.name();
        if self.signal.history_capacity() == 0 {
            return Err(ProjectionError::NoHistory { signal });
        }
        let events = self.signal.history();
        // An empty history is complete only if nothing was ever recorded.
        let oldest = events.first().map_or(self.signal.last_seq() + 1, |e| e.seq);
        if oldest > 1 {
            return Err(ProjectionError::Truncated { signal, oldest });
        }
        let last = events.last().map_or(0, |e| e.seq);
        let watermark = self.watermark.clone();
        let set = Box::new(move || watermark.store(last, Ordering::Relaxed));
        let fold = &self.fold;
        let replays = events
            .into_iter()
            .map(|e| {
                let key = (e.timestamp, e.id);
                let f: Box<dyn FnOnce(&mut S)> = Box::new(move |s: &mut S| {
                    // Isolated as in live folding: the panic is reported and
                    // the rebuild goes on with the next event.
                    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| fold(s, &e))) {
                        let message = crate::signal::panic_message(&*panic);
                        self.signal.report_failure(shared.name.clone(), message);
                    }
                });
                (key, f)
            })
            .collect();
        Ok((replays, set))
    }
}

/// Builds a [`Projection`]: the initial state and one fold per signal.
#[must_use = "call .build() to start the projection"]
pub struct Builder<S> {
    initial: Box<dyn Fn() -> S + Send + Sync>,
    follows: Vec<Box<dyn Follow<S>>>,
}

impl<S: Send + Sync + 'static> Builder<S> {
    /// Follows the static signal of event type `E`.
    pub fn on<E: EventType>(
        self,
        fold: impl Fn(&mut S, &Event<E>) + Send + Sync + 'static,
    ) -> Self {
        self.on_signal(&E::signal(), fold)
    }

    /// Follows any signal.
    pub fn on_signal<E: Send + Sync + 'static>(
        mut self,
        signal: &Signal<E>,
        fold: impl Fn(&mut S, &Event<E>) + Send + Sync + 'static,
    ) -> Self {
        self.follows.push(Box::new(On {
            signal: signal.clone(),
            fold: Arc::new(fold),
            watermark: Arc::new(AtomicU64::new(0)),
        }));
        self
    }

    /// Connects to every followed signal and starts folding.
    pub fn build(self) -> Projection<S> {
        let shared = Arc::new(Shared {
            state: RwLock::new((self.initial)()),
            initial: self.initial,
            deferred: Mutex::new(VecDeque::new()),
            name: Cow::Owned(format!("projection<{}>", std::any::type_name::<S>())),
        });
        let connections = self.follows.iter().map(|f| f.attach(&shared)).collect();
        Projection { shared, follows: self.follows, connections }
    }
}

/// State folded from events; see the [module docs](self).
pub struct Projection<S> {
    shared: Arc<Shared<S>>,
    follows: Vec<Box<dyn Follow<S>>>,
    connections: Vec<Connection>,
}

impl<S: Send + Sync + 'static> Projection<S> {
    /// Starts a projection whose state starts as `initial()` (also used by
    /// [`rebuild`](Self::rebuild)).
    pub fn builder(initial: impl Fn() -> S + Send + Sync + 'static) -> Builder<S> {
        Builder { initial: Box::new(initial), follows: Vec::new() }
    }

    /// Reads the state under a read lock.
    pub fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.guard())
    }

    /// A read guard on the state; folds wait while it lives.
    pub fn guard(&self) -> RwLockReadGuard<'_, S> {
        self.shared.state.read_locked()
    }

    /// A copy of the state.
    pub fn get(&self) -> S
    where
        S: Clone,
    {
        self.guard().clone()
    }

    /// Resets the state to `initial()` and folds the followed signals'
    /// histories, merged by timestamp, then id (see the
    /// [module docs](self)). Live events are held back while it runs and
    /// are not folded twice.
    ///
    /// A fold that panics during the rebuild is isolated as in live
    /// folding: the panic is counted on its signal and reported on
    /// [`mesh.receiver.failed`](crate::meta::failed) (receiver
    /// `projection<S>`), and the rebuild goes on with the next event. The
    /// state keeps whatever the panicking fold did before it panicked, as
    /// live folding does, so a rebuild ends in the state live folding
    /// reached.
    ///
    /// Folds may emit, on followed signals too: such events are folded
    /// after the rebuild, before the lock is released.
    ///
    /// # Errors
    ///
    /// If a followed signal keeps no history, or its history no longer
    /// starts at its first event; the state is then left unchanged.
    pub fn rebuild(&self) -> Result<(), ProjectionError> {
        let shared = &*self.shared;
        let mut state = shared.write();
        let _folding = Folding::enter(shared.addr());
        let mut lists = Vec::new();
        let mut marks = Vec::new();
        for follow in &self.follows {
            let (events, mark) = follow.replay(shared)?;
            lists.push(events.into_iter().peekable());
            marks.push(mark);
        }
        // Each list is in `seq` order and stays so; across signals, take
        // the earliest head (timestamp, then id; ties to the signal
        // followed first).
        let mut fresh = (self.shared.initial)();
        loop {
            let next = (0..lists.len())
                .filter_map(|i| lists[i].peek().map(|(key, _)| (*key, i)))
                .min()
                .map(|(_, i)| i);
            let Some(i) = next else { break };
            if let Some((_, fold)) = lists[i].next() {
                fold(&mut fresh);
            }
        }
        *state = fresh;
        marks.into_iter().for_each(|mark| mark());
        shared.drain(&mut state);
        Ok(())
    }
}

impl<S> Drop for Projection<S> {
    fn drop(&mut self) {
        for c in self.connections.drain(..) {
            c.disconnect();
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Projection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shared.state.try_read() {
            Ok(s) => f.debug_tuple("Projection").field(&*s).finish(),
            Err(_) => f.write_str("Projection(<locked>)"),
        }
    }
}
