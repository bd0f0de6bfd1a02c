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

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::connection::Connection;
use crate::event::{Event, Uuid};
use crate::event_type::EventType;
use crate::signal::Signal;
use crate::sync::RwLockExt;
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

/// Shared state: the value, and how to make a fresh one.
struct Shared<S> {
    state: RwLock<S>,
    initial: Box<dyn Fn() -> S + Send + Sync>,
}

impl<S> Shared<S> {
    /// The state, for folding. This lock is held around user code (the
    /// fold); poison is ignored all the same, so a fold that panics (the
    /// dispatch catches it) leaves the state as far as it got, and the
    /// projection keeps working. Folds that must be all-or-nothing should
    /// not panic midway.
    fn write(&self) -> RwLockWriteGuard<'_, S> {
        self.state.write_locked()
    }
}

/// One replayed event: its merge key across signals (timestamp, then id)
/// and how to fold it.
type Replay<'a, S> = ((SystemTime, Uuid), Box<dyn FnOnce(&mut S) + 'a>);

/// A signal's replay: its events, and how to set its watermark afterwards.
type ReplayBatch<'a, S> = (Vec<Replay<'a, S>>, Box<dyn FnOnce() + 'a>);

/// One followed signal, type-erased.
trait Follow<S>: Send + Sync {
    fn attach(&self, shared: &Arc<Shared<S>>) -> Connection;
    /// Checks the history, records the watermark, and returns the events.
    fn replay(&self) -> Result<ReplayBatch<'_, S>, ProjectionError>;
}

struct On<E, F> {
    signal: Signal<E>,
    fold: Arc<F>,
    /// Live events up to this `seq` are already in the state (folded by
    /// the last rebuild) and are skipped. Read and written only under the
    /// state's write lock, so Relaxed suffices.
    watermark: Arc<AtomicU64>,
}

impl<S, E, F> Follow<S> for On<E, F>
where
    S: Send + Sync + 'static,
    E: Send + Sync + 'static,
    F: Fn(&mut S, &Event<E>) + Send + Sync + 'static,
{
    fn attach(&self, shared: &Arc<Shared<S>>) -> Connection {
        let (shared, fold) = (Arc::downgrade(shared), self.fold.clone());
        let watermark = self.watermark.clone();
        self.signal.connect(move |ev: &Event<E>| {
            let Some(shared) = shared.upgrade() else { return };
            let mut state = shared.write();
            // Relaxed: both atomics are only touched under this lock.
            if ev.seq <= watermark.load(Ordering::Relaxed) {
                return;
            }
            fold(&mut state, ev);
        })
    }

    fn replay(&self) -> Result<ReplayBatch<'_, S>, ProjectionError> {
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
                let f: Box<dyn FnOnce(&mut S)> = Box::new(move |s: &mut S| fold(s, &e));
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
        self.on_signal(E::signal(), fold)
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
        let shared =
            Arc::new(Shared { state: RwLock::new((self.initial)()), initial: self.initial });
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
    /// histories, merged in event-id order. Live events are held back
    /// while it runs and are not folded twice.
    ///
    /// # Errors
    ///
    /// If a followed signal keeps no history, or its history no longer
    /// starts at its first event; the state is then left unchanged.
    pub fn rebuild(&self) -> Result<(), ProjectionError> {
        let mut state = self.shared.write();
        let mut lists = Vec::new();
        let mut marks = Vec::new();
        for follow in &self.follows {
            let (events, mark) = follow.replay()?;
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
