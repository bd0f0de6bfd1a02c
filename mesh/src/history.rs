//! Bounded event history: a per-signal ring of recent envelopes, and a
//! process-wide, type-erased view of recent events for debugging.
//!
//! # Per-signal history
//!
//! A signal with a history capacity `N` (`#[signal(history = N)]`,
//! [`SignalConfig::history`](crate::SignalConfig::history) or
//! [`Signal::set_history_capacity`](crate::Signal::set_history_capacity))
//! keeps the last `N` envelopes it dispatched, in `seq` order. Each
//! envelope is stored once, behind an `Arc`, so keeping it costs one
//! allocation per emit and no copy of the payload. Memory held is bounded
//! by `N` envelopes plus the ring's slots (one pointer each): the oldest
//! envelope is released when the `N + 1`-th arrives.
//!
//! A receiver connected with
//! [`Signal::connect_with_replay`](crate::Signal::connect_with_replay) first
//! gets the retained history, then live events, with no gap and no
//! duplicate even while other threads emit; see that method for how.
//!
//! # Recent events
//!
//! [`recent`] is a process-wide ring of the last events of *every* signal,
//! type-erased: name, id, seq, timestamp and the payload's `Debug` text. It
//! is off until [`set_recent_capacity`] gives it a bound, because it makes
//! every signal build an envelope and allocate for each emit. Use it to see
//! "what just happened" while debugging.
//!
//! ```
//! use mesh::{Signal, history};
//! history::set_recent_capacity(16);
//! let s = Signal::<u32>::new();
//! s.debug_payloads();
//! s.connect(|_: &u32| {});
//! s.emit(7);
//! let last = history::recent().into_iter().rev().find(|e| e.payload == "7").unwrap();
//! assert_eq!(last.seq, 1);
//! history::set_recent_capacity(0);
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::event::Erased;
pub use crate::event::RecentEvent;
use crate::observe::{self, Observer};
use crate::sync::LockExt;

/// A bounded FIFO: the ring of one signal (`I = Arc<Event<T>>`), or of the
/// recent view.
pub(crate) struct Ring<I> {
    capacity: usize,
    events: VecDeque<I>,
}

impl<I: Clone> Ring<I> {
    pub(crate) const fn new(capacity: usize) -> Self {
        Ring { capacity, events: VecDeque::new() }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends, evicting the oldest beyond capacity. Returns the evicted
    /// envelope so the caller can drop it outside any lock.
    pub(crate) fn push(&mut self, event: I) -> Option<I> {
        if self.capacity == 0 {
            return Some(event);
        }
        let evicted =
            if self.events.len() == self.capacity { self.events.pop_front() } else { None };
        self.events.push_back(event);
        evicted
    }

    /// The retained envelopes, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<I> {
        self.events.iter().cloned().collect()
    }

    /// Number of retained items.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Empties the ring; returns the envelopes to drop outside the lock.
    pub(crate) fn clear(&mut self) -> VecDeque<I> {
        std::mem::take(&mut self.events)
    }

    /// Changes the capacity, dropping the oldest envelopes beyond it, and
    /// releases spare slots.
    pub(crate) fn set_capacity(&mut self, capacity: usize) -> Vec<I> {
        self.capacity = capacity;
        let excess = self.events.len().saturating_sub(capacity);
        let dropped = self.events.drain(..excess).collect();
        self.events.shrink_to(capacity);
        dropped
    }
}

/// One signal's history: a [`Ring`] of `Arc<Event<T>>`, stored as bare
/// addresses so the ring's code (append, evict, resize, clear, snapshot,
/// drop) is compiled once for every payload type (issue 14: it was ~4.5
/// KB of machine code per event type), with a slot as small as a typed
/// `Arc` (one word: issue 9's P8 bounds a history slot; a type-erased
/// `Arc<dyn Any>` would be two). Typed only at the edges: what goes in is
/// an `Arc<Event<T>>`, what comes out (a snapshot) too, and what leaves
/// the ring otherwise is dropped through the two functions of `T`'s
/// [`Ops`].
pub(crate) struct Envelopes<T> {
    raw: Raw,
    /// Owns `Arc<Event<T>>`s: `Send`/`Sync` as they are.
    _owns: std::marker::PhantomData<Arc<crate::event::Event<T>>>,
}

/// The untyped ring of [`Envelopes`]. Invariant: every address in `ring`
/// came from `Arc::into_raw` of an `Arc<Event<T>>` whose strong count it
/// owns, `T` the type `ops` was made for.
struct Raw {
    ring: Ring<usize>,
    ops: &'static Ops,
}

/// How to release and share an envelope of one payload type.
struct Ops {
    /// Gives up the strong count an address owns.
    release: unsafe fn(usize),
    /// Takes one more strong count for an address.
    share: unsafe fn(usize),
}

/// [`Ops`] of `T`.
struct OpsOf<T>(std::marker::PhantomData<T>);

#[allow(unsafe_code)]
impl<T> OpsOf<T> {
    const OPS: Ops = Ops { release: Self::release, share: Self::share };

    /// # Safety
    ///
    /// `addr` came from `Arc::into_raw` of an `Arc<Event<T>>` and owns one
    /// strong count, which this gives up.
    unsafe fn release(addr: usize) {
        // SAFETY: this function's contract.
        drop(unsafe { Arc::from_raw(addr as *const crate::event::Event<T>) });
    }

    /// # Safety
    ///
    /// `addr` came from `Arc::into_raw` of an `Arc<Event<T>>` that is
    /// still alive.
    unsafe fn share(addr: usize) {
        // SAFETY: this function's contract.
        unsafe { Arc::increment_strong_count(addr as *const crate::event::Event<T>) }
    }
}

/// Envelopes that left a ring, released when this drops (outside the
/// ring's lock: one may hold the last reference to a payload).
pub(crate) struct Released {
    /// What an append evicted (at most one: no allocation per emit).
    evicted: Option<usize>,
    /// What a resize or a clear let go.
    addrs: Vec<usize>,
    ops: &'static Ops,
}

#[allow(unsafe_code)]
impl Drop for Released {
    fn drop(&mut self) {
        for &addr in self.evicted.iter().chain(&self.addrs) {
            // SAFETY: the addresses left a `Raw` with these `ops`, each
            // with the strong count it owned (`Raw`'s invariant).
            unsafe { (self.ops.release)(addr) }
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        drop(Released { evicted: None, addrs: self.ring.clear().into(), ops: self.ops });
    }
}

impl<T: 'static> Envelopes<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        let ops: &'static Ops = &OpsOf::<T>::OPS;
        Envelopes { raw: Raw { ring: Ring::new(capacity), ops }, _owns: std::marker::PhantomData }
    }

    /// Appends, evicting the oldest beyond capacity (released when the
    /// returned value drops).
    pub(crate) fn push(&mut self, event: Arc<crate::event::Event<T>>) -> Released {
        self.raw.push(Arc::into_raw(event) as usize)
    }

    /// The retained envelopes, oldest first.
    #[allow(unsafe_code)]
    pub(crate) fn snapshot(&self) -> Vec<Arc<crate::event::Event<T>>> {
        let addrs = self.raw.shared();
        // SAFETY: `shared` took one strong count for each address, which
        // came from `Arc::into_raw` of an `Arc<Event<T>>` (`Raw`'s
        // invariant); `from_raw` takes each count over.
        addrs
            .into_iter()
            .map(|a| unsafe { Arc::from_raw(a as *const crate::event::Event<T>) })
            .collect()
    }
}

impl<T> Envelopes<T> {
    /// How many envelopes it holds.
    pub(crate) fn len(&self) -> usize {
        self.raw.ring.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.raw.ring.capacity()
    }

    /// Empties the ring (the envelopes are released when the returned
    /// value drops).
    pub(crate) fn clear(&mut self) -> Released {
        Released { evicted: None, addrs: self.raw.ring.clear().into(), ops: self.raw.ops }
    }

    /// Changes the capacity, releasing the oldest envelopes beyond it.
    pub(crate) fn set_capacity(&mut self, capacity: usize) -> Released {
        Released { evicted: None, addrs: self.raw.ring.set_capacity(capacity), ops: self.raw.ops }
    }
}

#[allow(unsafe_code)]
impl Raw {
    fn push(&mut self, addr: usize) -> Released {
        Released { evicted: self.ring.push(addr), addrs: Vec::new(), ops: self.ops }
    }

    /// The addresses, oldest first, each with a strong count taken for the
    /// caller.
    fn shared(&self) -> Vec<usize> {
        let addrs = self.ring.snapshot();
        for &addr in &addrs {
            // SAFETY: `addr` is in the ring, so its envelope is alive
            // (`Raw`'s invariant).
            unsafe { (self.ops.share)(addr) }
        }
        addrs
    }
}

/// Whether the recent view is on. Relaxed: read and written only under
/// [`RECENT_CONFIG`], which keeps the observer registration in step with
/// the capacity.
static RECENT_ON: AtomicBool = AtomicBool::new(false);

/// Serialises [`set_recent_capacity`]. Lock order: `RECENT_CONFIG`, then
/// the observers' lock or `RECENT`, never both of those at once: an emit
/// holds the observers' lock while it records into `RECENT`, so holding
/// `RECENT` while registering would deadlock against it.
static RECENT_CONFIG: Mutex<()> = Mutex::new(());

static RECENT: Mutex<Ring<Arc<dyn Erased>>> = Mutex::new(Ring::new(0));

/// The recent view, as an [`Observer`] of every envelope built.
struct Recent;

impl Observer for Recent {
    fn envelope(&self, event: &Arc<dyn Erased>) {
        let evicted = RECENT.locked().push(event.clone());
        // Dropped outside the lock: it may hold the last reference to a payload.
        drop(evicted);
    }
}

/// Sets the bound of the recent-events view (0 turns it off and frees it).
/// While on, the view observes every envelope (as an observer of the
/// emit path), which
/// makes every emit build one.
pub fn set_recent_capacity(capacity: usize) {
    static RECENT_OBSERVER: Recent = Recent;
    let _config = RECENT_CONFIG.locked();
    let was_on = RECENT_ON.swap(capacity > 0, Ordering::Relaxed);
    if was_on && capacity == 0 {
        // Off: no new envelope is recorded once this returns...
        observe::remove_observer(&RECENT_OBSERVER);
    }
    // ...so the ring is freed here and stays empty (one recorded by an
    // emit already past the observers' lock evicts at once: capacity 0).
    let dropped = RECENT.locked().set_capacity(capacity);
    drop(dropped);
    if !was_on && capacity > 0 {
        observe::add_observer(&RECENT_OBSERVER);
    }
    drop(_config);
    // Unlocked: may drop a signal (see `observe::release_deferred`).
    observe::release_deferred();
}

/// The bound of the recent-events view (0: off).
pub fn recent_capacity() -> usize {
    RECENT.locked().capacity()
}

/// The most recent events of every signal, oldest first.
pub fn recent() -> Vec<RecentEvent> {
    let entries = RECENT.locked().snapshot();
    entries.iter().map(|e| e.view()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::event::Event;

    #[test]
    fn envelopes_release_what_leaves_them_and_share_snapshots() {
        let payload = Arc::new(());
        let ev = || Arc::new(Event::new(payload.clone()));
        let count = || Arc::strong_count(&payload) - 1;
        let mut ring = Envelopes::new(2);
        for _ in 0..3 {
            drop(ring.push(ev()));
        }
        assert_eq!(count(), 2, "the oldest was released");
        let snap = ring.snapshot();
        assert_eq!((snap.len(), Arc::strong_count(&snap[0])), (2, 2), "shared, not copied");
        drop(snap);
        let evicted = ring.set_capacity(1);
        assert_eq!(count(), 2, "held until the released value drops");
        drop(evicted);
        assert_eq!(count(), 1);
        drop(ring.clear());
        assert_eq!(count(), 0);
        drop(ring.push(ev()));
        drop(ring);
        assert_eq!(count(), 0, "dropping the ring releases what it holds");
        let mut off = Envelopes::new(0);
        drop(off.push(ev()));
        assert_eq!(count(), 0, "capacity 0 keeps nothing");
    }

    fn ev(seq: u64) -> Arc<Event<u64>> {
        let mut e = Event::new(seq);
        e.seq = seq;
        Arc::new(e)
    }

    #[test]
    fn ring_keeps_the_last_n_in_order() {
        let mut r = Ring::new(3);
        for i in 1..=5 {
            r.push(ev(i));
        }
        assert_eq!(r.snapshot().iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(r.len(), 3);
        let dropped = r.set_capacity(2);
        assert_eq!(dropped.len(), 1);
        assert_eq!(r.snapshot().iter().map(|e| e.data).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(r.clear().len(), 2);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut r = Ring::<Arc<Event<u64>>>::new(0);
        assert!(r.push(ev(1)).is_some());
        assert!(r.snapshot().is_empty());
    }
}
