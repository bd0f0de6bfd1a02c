//! One queued receiver's queue: a bounded FIFO of shared envelopes between
//! the emitting threads (producers) and one consumer (a [`Subscription`]
//! or an async receiver's driver).
//!
//! # Design
//!
//! Everything lives under one short mutex: the items, the counters, the
//! reservations and the wakers. A push or a pop holds it for a few
//! instructions and never while user code runs or a waker is woken, so the
//! lock is held for less time than a lock-free queue spends on its
//! compare-and-swap retries under contention, and every invariant below is
//! one lock away from being checked. (A lock-free ring, such as
//! `concurrent-queue`'s, pads its head and tail to a cache line each: 256
//! bytes before the first slot, which is the whole memory budget of an
//! idle queued receiver.)
//!
//! Producers never wait for the lock behind a consumer that is blocked:
//! blocking waits release it (condition variables), and async waits
//! register a waker and return.
//!
//! # Invariants (under the lock)
//!
//! 1. `items.len() + reserved + batched - handed <= capacity`: a queue
//!    never exceeds its bound, counting the room promised to reservations
//!    (`try_emit`, `emit_async`) and what its consumer took in its batch
//!    but has not handed out yet (an event handed out, to the user or to
//!    the handler, takes no room, as before batching).
//! 2. `offered == processed + dropped + rejected + items.len() + batched`:
//!    every event offered is accounted for exactly once (`batched`: taken
//!    by the consumer, not reported processed yet).
//! 3. Once `closed` is set no item is added; the consumer takes what is
//!    left (unless the queue was discarded, which counts it as dropped)
//!    and then sees the end.
//! 4. A waiting consumer has left its waker in `consumer` (async) or set
//!    `consumer_waits` (blocking) before it releases the lock, and every
//!    push or close after that wakes it; likewise producers waiting for
//!    room (`Rare::producers`, `producers_wait`) and every pop, unreservation or
//!    close. So no wake-up is lost (modelled with loom below).
//!
//! [`Subscription`]: super::Subscription

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::loom::{AtomicUsize, Condvar, Mutex, MutexGuard};
use crate::sync::LockExt;
use std::sync::atomic::Ordering;

use super::done::Done;
use super::{Overflow, QueueStats};

#[cfg(not(loom))]
use std::thread::ThreadId;

#[cfg(loom)]
use loom::thread::ThreadId;

/// This thread's id. Cached: `thread::current()` clones the thread's
/// handle (a reference count written and released) on every call.
#[cfg(not(loom))]
fn this_thread() -> ThreadId {
    thread_local! {
        static ID: ThreadId = std::thread::current().id();
    }
    ID.with(|id| *id)
}

/// This (model) thread's id.
#[cfg(loom)]
fn this_thread() -> ThreadId {
    loom::thread::current().id()
}

/// One queued event and, when its emitter waits for it to be processed,
/// what to tell.
pub(crate) struct Item<T> {
    pub(crate) event: Arc<Event<T>>,
    pub(crate) done: Option<Arc<Done>>,
}

/// An envelope's address and id: unique among envelopes alive at once,
/// and never the same for two envelopes (the id is unique).
pub(crate) type EventKey = (usize, u128);

/// The key of `event`.
pub(crate) fn event_key<T>(event: &Arc<Event<T>>) -> EventKey {
    (Arc::as_ptr(event) as usize, event.id.as_u128())
}

/// What an emit on its way arranged for its event, found by its
/// [`EventKey`] (an address may be reused once the envelope is freed; its
/// id never is).
struct Promise {
    event: EventKey,
    /// Room was reserved for it.
    reserved: bool,
    /// Its emitter waits until it is processed.
    done: Option<Arc<Done>>,
}

/// What a consumer took from its queue in one go, and how many of those
/// it has finished: reported (and room made) when it comes back for
/// more, so the consumer takes the lock the producers need once per
/// batch, not once per event.
pub(crate) struct Batch<T> {
    pub(crate) items: VecDeque<Item<T>>,
    /// Taken from `items` and finished, not reported yet.
    pub(crate) done: usize,
}

impl<T> Batch<T> {
    pub(crate) fn new() -> Self {
        Batch { items: VecDeque::new(), done: 0 }
    }

    /// The next event of the batch; counted finished at once.
    pub(crate) fn take_one(&mut self) -> Option<Item<T>> {
        let item = self.items.pop_front()?;
        self.done += 1;
        Some(item)
    }
}

/// Why a queue was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// The receiver was disconnected (or its signal dropped); what is
    /// queued is still delivered.
    Detached,
    /// The `Disconnect` policy found it full.
    Overflowed,
    /// The consumer went away: what was queued was dropped.
    Discarded,
}

struct State<T> {
    items: VecDeque<Item<T>>,
    closed: Option<Closed>,
    /// Room promised to emits that reserved it (invariant 1): the number
    /// of `Rare::promised` entries with `reserved` set.
    reserved: usize,
    /// What only queues under pressure or waited on need, allocated on
    /// first use: an idle queue stays within its memory budget.
    rare: Option<Box<Rare>>,
    /// Taken by the consumer in its batches and not reported processed
    /// yet (see [`Batch`]): still counted against the bound.
    batched: usize,
    high_water: usize,
    offered: u64,
    processed: u64,
    dropped: u64,
    rejected: u64,
    /// The async consumer waiting for an item.
    consumer: Option<Waker>,
    /// A blocking consumer waits on `filled`.
    consumer_waits: bool,
    /// The thread that last took from the queue: a blocking push there
    /// would wait for itself.
    consumer_thread: Option<ThreadId>,
    /// Whether `consumer_thread` took from the queue (rather than only
    /// created it).
    consumer_seen: bool,
    /// Blocking emitters waiting on `room`.
    producers_wait: usize,
}

/// The parts of [`State`] an idle queue does without.
#[derive(Default)]
struct Rare {
    /// What emits that are on their way promised or asked for their
    /// event, found by the event's address when it arrives.
    promised: Vec<Promise>,
    /// Async emitters waiting for room.
    producers: Vec<Waker>,
    /// Losses not reported on `mesh.receiver.lagged` yet, and when the
    /// last report was made.
    /// (dropped, rejected, waited for room).
    unreported: (u64, u64, u64),
    /// Emits that waited for room (`Block`), in all.
    waited: u64,
    reported_at: Option<Instant>,
}

impl<T> State<T> {
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Counts a loss to report (dropped, rejected).
    fn unreported(&mut self, dropped: u64, rejected: u64) {
        let rare = self.rare();
        rare.unreported.0 += dropped;
        rare.unreported.1 += rejected;
    }

    /// Counts an emit that waited for room (saturation).
    fn waited(&mut self) {
        let rare = self.rare();
        rare.waited += 1;
        rare.unreported.2 += 1;
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued.
    Queued,
    /// Queued, and the oldest event was dropped to make room.
    QueuedDroppedOldest,
    /// Queued after waiting for room (`Block`: the queue was saturated).
    QueuedAfterWait,
    /// Dropped (drop newest, or a full queue under `Disconnect`, which
    /// closes it).
    Dropped,
    /// Dropped, and the queue closed: the `Disconnect` policy found it full.
    Overflowed,
    /// Refused: `Reject`, or `Block` timed out.
    Rejected,
    /// Refused: `Block` on the consumer's own thread would never end.
    WouldDeadlock,
    /// The queue is closed: the event was not offered.
    Closed,
}

/// A lag report due (see [`Channel::lag_report`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lag {
    pub(crate) dropped: u64,
    pub(crate) rejected: u64,
    pub(crate) waited: u64,
    pub(crate) len: usize,
}

/// How long a blocking emit on the thread that created a subscription
/// (and never took from it) waits for another thread to start taking,
/// before it is refused as one that would wait for itself.
pub(crate) const DEADLOCK_GRACE: Duration = Duration::from_secs(1);

/// [`Channel::handed`]: a producer waits for room (tell it on a hand-out).
const WANT: usize = 1 << (usize::BITS - 1);
/// [`Channel::handed`]: the queue was discarded (its consumer stops).
const DISCARDED: usize = 1 << (usize::BITS - 2);
/// [`Channel::handed`]: the count bits.
const COUNT: usize = !(WANT | DISCARDED);

/// Losses are reported at most this often per queue.
pub(crate) const LAG_INTERVAL: Duration = Duration::from_millis(100);

/// A queued receiver's queue.
pub(crate) struct Channel<T> {
    state: Mutex<State<T>>,
    /// A blocking consumer waits here for an item or the end.
    filled: Condvar,
    /// Blocking producers wait here for room.
    room: Condvar,
    /// Events of the consumer's batch it has handed out (to the user, or
    /// to its handler) since its last report, plus the [`WANT`] and
    /// [`DISCARDED`] flags. Handed-out events no longer take room: the
    /// consumer counts them here without the lock, producers read the
    /// count under it. One word for count and flag, changed by
    /// read-modify-writes only, so a producer that sets `WANT` and then
    /// finds no room, and a consumer that hands out an event, are ordered
    /// one way or the other: either the producer sees the room, or the
    /// consumer sees `WANT` and wakes it (modelled with loom below).
    handed: AtomicUsize,
    capacity: usize,
    overflow: Overflow,
}

impl<T> Channel<T> {
    /// `consumer_here`: the consumer is this thread until it is seen
    /// taking from another (a subscription: its creator may well be its
    /// reader; not an async receiver, whose driver runs wherever it is
    /// spawned).
    pub(crate) fn new(capacity: usize, overflow: Overflow, consumer_here: bool) -> Self {
        Channel {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: None,
                reserved: 0,
                rare: None,
                batched: 0,
                high_water: 0,
                offered: 0,
                processed: 0,
                dropped: 0,
                rejected: 0,
                consumer: None,
                consumer_waits: false,
                consumer_thread: consumer_here.then(this_thread),
                consumer_seen: false,
                producers_wait: 0,
            }),
            filled: Condvar::new(),
            room: Condvar::new(),
            handed: AtomicUsize::new(0),
            capacity: capacity.max(1),
            overflow,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.locked()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// Offers `event` under the queue's policy (or into the room its emit
    /// reserved).
    pub(crate) fn push(&self, event: Arc<Event<T>>) -> Pushed {
        let mut st = self.lock();
        let (reserved, done) = match st.rare.as_mut().filter(|r| !r.promised.is_empty()) {
            None => (false, None),
            Some(rare) => {
                let at = event_key(&event);
                match rare.promised.iter().position(|p| p.event == at) {
                    Some(i) => {
                        let p = rare.promised.swap_remove(i);
                        (p.reserved, p.done)
                    }
                    None => (false, None),
                }
            }
        };
        let item = Item { event, done };
        if reserved {
            st.reserved -= 1;
        }
        if st.closed.is_some() {
            drop(st);
            finish(item.done);
            return Pushed::Closed;
        }
        st.offered += 1;
        if reserved || self.occupied(&st) < self.capacity {
            return self.enqueue(st, item, Pushed::Queued);
        }
        match self.overflow {
            Overflow::DropOldest if !st.items.is_empty() => {
                let oldest = st.items.pop_front();
                st.dropped += 1;
                st.unreported(1, 0);
                let pushed = self.enqueue(st, item, Pushed::QueuedDroppedOldest);
                // Outside the lock: it may hold the last reference to a
                // payload, and its emitter may be waiting on it.
                if let Some(oldest) = oldest {
                    finish(oldest.done);
                }
                pushed
            }
            // Every slot is reserved: the newest goes.
            Overflow::DropOldest | Overflow::DropNewest => {
                st.dropped += 1;
                st.unreported(1, 0);
                drop(st);
                finish(item.done);
                Pushed::Dropped
            }
            Overflow::Reject => {
                st.rejected += 1;
                st.unreported(0, 1);
                drop(st);
                finish(item.done);
                Pushed::Rejected
            }
            Overflow::Disconnect => {
                st.dropped += 1;
                st.unreported(1, 0);
                st.closed = Some(Closed::Overflowed);
                let wake = self.wake_consumer(&mut st);
                let producers = self.wake_producers(&mut st);
                drop(st);
                wake_all(wake);
                wake_all(producers);
                finish(item.done);
                Pushed::Overflowed
            }
            Overflow::Block { timeout } => self.block(st, item, timeout),
        }
    }

    /// `Block`: waits for room, at most `timeout`.
    fn block(
        &self,
        mut st: MutexGuard<'_, State<T>>,
        item: Item<T>,
        timeout: Option<Duration>,
    ) -> Pushed {
        let me = this_thread();
        let own = super::emit::driving() == std::ptr::from_ref(self) as usize;
        if own
            || (st.consumer_thread == Some(me) && st.consumer_seen)
            || on_single_threaded_runtime()
        {
            // The consumer runs on this thread (its driver is running here,
            // it took from the queue here last, or may: a single-threaded
            // runtime runs every task here): it cannot take anything while
            // this thread waits.
            return self.would_deadlock(st, item);
        }
        // A timeout too long to add to now is no deadline.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        // Created here and never taken from: the consumer may be this
        // thread, or the subscription may be on its way to another one.
        // Wait a grace period for a consumer to show up, then refuse.
        let grace = Instant::now() + DEADLOCK_GRACE;
        let mut waited = false;
        loop {
            if st.closed.is_some() {
                // Closed while waiting: offered, never queued.
                st.dropped += 1;
                st.unreported(1, 0);
                drop(st);
                finish(item.done);
                return Pushed::Dropped;
            }
            if self.occupied(&st) < self.capacity {
                if !waited {
                    return self.enqueue(st, item, Pushed::Queued);
                }
                st.waited();
                return self.enqueue(st, item, Pushed::QueuedAfterWait);
            }
            let tentative = st.consumer_thread == Some(me) && !st.consumer_seen;
            if tentative && Instant::now() >= grace {
                return self.would_deadlock(st, item);
            }
            let until = match (deadline, tentative) {
                (Some(d), true) => Some(d.min(grace)),
                (None, true) => Some(grace),
                (d, false) => d,
            };
            if self.want_room(&st) {
                // A hand-out made room meanwhile.
                continue;
            }
            waited = true;
            st.producers_wait += 1;
            st = match until {
                None => self.room.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() && deadline.is_some_and(|d| Instant::now() >= d) {
                        st.producers_wait -= 1;
                        st.rejected += 1;
                        st.unreported(0, 1);
                        drop(st);
                        finish(item.done);
                        return Pushed::Rejected;
                    }
                    self.room.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
            st.producers_wait -= 1;
        }
    }

    /// Refuses `item`: waiting for room would wait for this very thread.
    fn would_deadlock(&self, mut st: MutexGuard<'_, State<T>>, item: Item<T>) -> Pushed {
        st.rejected += 1;
        st.unreported(0, 1);
        drop(st);
        finish(item.done);
        Pushed::WouldDeadlock
    }

    /// Adds `item` (room was checked) and wakes the consumer.
    fn enqueue(&self, mut st: MutexGuard<'_, State<T>>, item: Item<T>, pushed: Pushed) -> Pushed {
        st.items.push_back(item);
        st.high_water = st.high_water.max(self.occupied(&st));
        let wake = self.wake_consumer(&mut st);
        drop(st);
        wake_all(wake);
        pushed
    }

    /// Room taken: queued, reserved, and taken by the consumer but not
    /// handed out yet (invariant 1).
    fn occupied(&self, st: &State<T>) -> usize {
        // Acquire: pairs with the consumer's hand-out (AcqRel).
        st.items.len() + st.reserved + st.batched - (self.handed.load(Ordering::Acquire) & COUNT)
    }

    /// A producer is about to wait for room: sets [`WANT`] and says
    /// whether a hand-out made room meanwhile (then it need not wait).
    fn want_room(&self, st: &State<T>) -> bool {
        // AcqRel: one read-modify-write on the word the consumer counts
        // in (see `handed`).
        let handed = self.handed.fetch_or(WANT, Ordering::AcqRel) & COUNT;
        st.items.len() + st.reserved + st.batched - handed < self.capacity
    }

    /// `done` events of the consumer's batch are finished: they leave the
    /// batch and the hand-out count, and count as processed.
    fn unhand(&self, st: &mut State<T>, done: usize) {
        st.batched -= done;
        st.processed += done as u64;
        // AcqRel: see `handed`; the flags are kept.
        self.handed.fetch_sub(done, Ordering::AcqRel);
    }

    /// The consumer hands out one event of its batch: its room is free.
    /// Wakes producers that wait for room, if any.
    pub(crate) fn hand_out(&self) {
        // AcqRel: see `handed`.
        if self.handed.fetch_add(1, Ordering::AcqRel) & WANT != 0 {
            let mut st = self.lock();
            self.handed.fetch_and(!WANT, Ordering::AcqRel);
            let wake = self.wake_producers(&mut st);
            drop(st);
            wake_all(wake);
        }
    }

    /// Whether the queue was discarded: its consumer stops taking.
    pub(crate) fn discarded(&self) -> bool {
        // Acquire: pairs with `close`.
        self.handed.load(Ordering::Acquire) & DISCARDED != 0
    }

    /// Tells a waiting consumer (invariant 4); the waker is woken by the
    /// caller, unlocked.
    fn wake_consumer(&self, st: &mut State<T>) -> Option<Waker> {
        if st.consumer_waits {
            self.filled.notify_one();
        }
        st.consumer.take()
    }

    /// Tells waiting producers there is room (or the end).
    fn wake_producers(&self, st: &mut State<T>) -> Vec<Waker> {
        if st.producers_wait != 0 {
            self.room.notify_all();
        }
        st.rare.as_mut().map(|r| std::mem::take(&mut r.producers)).unwrap_or_default()
    }

    /// Arranges for `event` (by address) before it is emitted: room
    /// reserved for it if `reserve`, and `done` told once it is processed
    /// or dropped. `Ok(false)`: the queue is closed (nothing arranged);
    /// `Err(())`: no room to reserve. `cx`: registered to be woken when
    /// room is made, if there is none.
    pub(crate) fn promise(
        &self,
        event: EventKey,
        reserve: bool,
        done: Option<&Arc<Done>>,
        cx: Option<&mut Context<'_>>,
    ) -> Result<bool, ()> {
        let mut st = self.lock();
        if st.closed.is_some() {
            return Ok(false);
        }
        if reserve {
            if self.occupied(&st) >= self.capacity && !self.want_room(&st) {
                if let Some(cx) = cx {
                    let producers = &mut st.rare().producers;
                    if !producers.iter().any(|w| w.will_wake(cx.waker())) {
                        producers.push(cx.waker().clone());
                    }
                }
                return Err(());
            }
            st.reserved += 1;
        }
        st.rare().promised.push(Promise { event, reserved: reserve, done: done.map(Done::share) });
        Ok(true)
    }

    /// Takes back what [`promise`](Self::promise) arranged for `event`,
    /// if its emit did not deliver it here (filtered, transformed, or the
    /// receiver went away): the room is given back and a waiting emitter
    /// is told.
    pub(crate) fn withdraw(&self, event: EventKey) {
        let mut st = self.lock();
        let Some(rare) = st.rare.as_mut() else { return };
        let Some(i) = rare.promised.iter().position(|p| p.event == event) else { return };
        let p = rare.promised.swap_remove(i);
        let wake = if p.reserved {
            st.reserved -= 1;
            self.wake_producers(&mut st)
        } else {
            Vec::new()
        };
        drop(st);
        wake_all(wake);
        finish(p.done);
    }

    /// Reports the consumer's finished items and hands it everything
    /// queued (one swap: `batch.items` is empty). Returns the producers to
    /// wake once the lock is released (room was made).
    fn refill_locked(&self, st: &mut State<T>, batch: &mut Batch<T>) -> Vec<Waker> {
        debug_assert!(batch.items.is_empty(), "a batch is refilled once worked through");
        st.consumer_thread = Some(this_thread());
        st.consumer_seen = true;
        let done = std::mem::take(&mut batch.done);
        self.unhand(st, done);
        if self.overflow == Overflow::DropOldest {
            // One at a time: what the consumer holds cannot be dropped, and
            // this policy must be able to drop all but the newest.
            batch.items.extend(st.items.pop_front());
        } else {
            std::mem::swap(&mut st.items, &mut batch.items);
        }
        st.batched += batch.items.len();
        if done == 0 { Vec::new() } else { self.wake_producers(st) }
    }

    /// [`refill_locked`](Self::refill_locked) for a consumer that does not
    /// wait: `Ok(true)` it got events, `Ok(false)` none are queued,
    /// `Err(())` the queue is closed and nothing is left.
    pub(crate) fn try_refill(&self, batch: &mut Batch<T>) -> Result<bool, ()> {
        let mut st = self.lock();
        let wake = self.refill_locked(&mut st, batch);
        let closed = st.closed.is_some();
        drop(st);
        wake_all(wake);
        match (batch.items.is_empty(), closed) {
            (false, _) => Ok(true),
            (true, true) => Err(()),
            (true, false) => Ok(false),
        }
    }

    /// [`try_refill`](Self::try_refill), or registers `cx` for the next
    /// push: `Ready(true)` it got events, `Ready(false)` the end.
    pub(crate) fn poll_refill(&self, cx: &mut Context<'_>, batch: &mut Batch<T>) -> Poll<bool> {
        let mut st = self.lock();
        let wake = self.refill_locked(&mut st, batch);
        let poll = if !batch.items.is_empty() {
            Poll::Ready(true)
        } else if st.closed.is_some() {
            Poll::Ready(false)
        } else {
            match &st.consumer {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.consumer = Some(cx.waker().clone()),
            }
            Poll::Pending
        };
        drop(st);
        wake_all(wake);
        poll
    }

    /// Refills `batch`, waiting for events until `deadline`: `Err(true)`
    /// closed and empty, `Err(false)` timed out.
    pub(crate) fn refill_blocking(
        &self,
        batch: &mut Batch<T>,
        deadline: Option<Instant>,
    ) -> Result<(), bool> {
        let mut st = self.lock();
        loop {
            let wake = self.refill_locked(&mut st, batch);
            let closed = st.closed.is_some();
            if !batch.items.is_empty() || closed || !wake.is_empty() {
                // Never wake with the lock held.
                drop(st);
                wake_all(wake);
                if !batch.items.is_empty() {
                    return Ok(());
                }
                if closed {
                    return Err(true);
                }
                // Only reported what was finished: look again.
                st = self.lock();
                continue;
            }
            st.consumer_waits = true;
            st = match deadline {
                None => self.filled.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        st.consumer_waits = false;
                        return Err(false);
                    }
                    self.filled.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
            st.consumer_waits = false;
        }
    }

    /// Reports the consumer's finished items now (its batch is worked
    /// through): the room they held is made, and waiting emitters are
    /// woken, without waiting for the consumer to come back for more.
    pub(crate) fn report(&self, batch: &mut Batch<T>) {
        let done = std::mem::take(&mut batch.done);
        if done == 0 {
            return;
        }
        let mut st = self.lock();
        self.unhand(&mut st, done);
        let wake = self.wake_producers(&mut st);
        drop(st);
        wake_all(wake);
    }

    /// The consumer goes away: its finished items are reported, and what
    /// it took but did not finish is dropped (counted).
    pub(crate) fn discard_batch(&self, batch: &mut Batch<T>) {
        let left = std::mem::take(&mut batch.items);
        let mut st = self.lock();
        let done = std::mem::take(&mut batch.done);
        self.unhand(&mut st, done);
        st.batched -= left.len();
        st.dropped += left.len() as u64;
        let wake = self.wake_producers(&mut st);
        drop(st);
        wake_all(wake);
        for item in left {
            finish(item.done);
        }
    }

    /// Closes the queue: nothing more is added. `discard`: what is queued
    /// is dropped (counted) instead of left for the consumer. Wakes
    /// everyone waiting.
    pub(crate) fn close(&self, why: Closed) {
        let mut st = self.lock();
        if st.closed.is_none() || why == Closed::Discarded {
            st.closed = Some(why);
        }
        if why == Closed::Discarded {
            // AcqRel: the consumer reads it (Acquire) without the lock.
            self.handed.fetch_or(DISCARDED, Ordering::AcqRel);
        }
        let discarded = if why == Closed::Discarded {
            let n = st.items.len() as u64;
            st.dropped += n;
            std::mem::take(&mut st.items)
        } else {
            VecDeque::new()
        };
        let consumer = self.wake_consumer(&mut st);
        let producers = self.wake_producers(&mut st);
        drop(st);
        wake_all(consumer);
        wake_all(producers);
        for item in discarded {
            finish(item.done);
        }
        // Promises of emits still on their way (deferred by an ordered
        // signal) will never be used: their room and their waiters'
        // shares are given back now.
        let promised = {
            let mut st = self.lock();
            let promised = st.rare.as_mut().map(|r| std::mem::take(&mut r.promised));
            let promised = promised.unwrap_or_default();
            st.reserved -= promised.iter().filter(|p| p.reserved).count();
            promised
        };
        for p in promised {
            finish(p.done);
        }
    }

    /// Why it was closed, if it was.
    pub(crate) fn closed(&self) -> Option<Closed> {
        self.lock().closed
    }

    /// Whether the queue holds nothing and nothing is being handled.
    pub(crate) fn is_idle(&self) -> bool {
        let st = self.lock();
        st.items.is_empty() && st.batched == 0
    }

    /// Its counters.
    pub(crate) fn stats(&self) -> QueueStats {
        let st = self.lock();
        QueueStats {
            len: st.items.len(),
            capacity: self.capacity,
            high_water: st.high_water,
            in_flight: st.batched,
            offered: st.offered,
            processed: st.processed,
            dropped: st.dropped,
            rejected: st.rejected,
            waited: st.rare.as_ref().map_or(0, |r| r.waited),
            closed: st.closed.is_some(),
        }
    }

    /// Losses to report on `mesh.receiver.lagged`, at most once per
    /// [`LAG_INTERVAL`] (`force`: now, if any: the queue is going away).
    pub(crate) fn lag_report(&self, force: bool) -> Option<Lag> {
        let mut st = self.lock();
        let len = st.items.len();
        let rare = st.rare.as_mut().filter(|r| r.unreported != (0, 0, 0))?;
        let now = Instant::now();
        if !force && rare.reported_at.is_some_and(|at| now.duration_since(at) < LAG_INTERVAL) {
            return None;
        }
        rare.reported_at = Some(now);
        let (dropped, rejected, waited) = std::mem::take(&mut rare.unreported);
        Some(Lag { dropped, rejected, waited, len })
    }
}

/// Whether this thread runs a single-threaded Tokio runtime (feature
/// `tokio`), whose tasks (the consumer among them) cannot run while it
/// blocks.
fn on_single_threaded_runtime() -> bool {
    #[cfg(all(feature = "tokio", not(loom)))]
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        return handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread;
    }
    false
}

/// Tells an emitter waiting for its event that this queue is done with it.
fn finish(done: Option<Arc<Done>>) {
    if let Some(done) = done {
        done.complete();
    }
}

fn wake_all(wakers: impl IntoIterator<Item = Waker>) {
    for w in wakers {
        w.wake();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The queue's wake-up protocol (invariant 4) and its accounting
    //! (invariants 1–2), with every interleaving loom finds.
    use super::*;
    use loom::sync::Arc as LoomArc;
    use loom::thread;
    use std::sync::atomic::Ordering::SeqCst;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn item(n: u32) -> std::sync::Arc<Event<u32>> {
        std::sync::Arc::new(Event::new(n))
    }

    /// A consumer that registers its waker while a producer pushes is
    /// either handed the item at once or woken: never left waiting.
    #[test]
    fn loom_async_pop_is_woken_by_push() {
        loom::model(|| {
            let ch = LoomArc::new(Channel::<u32>::new(2, Overflow::Reject, false));
            let producer = {
                let ch = ch.clone();
                thread::spawn(move || assert_eq!(ch.push(item(1)), Pushed::Queued))
            };
            let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
            let waker = Waker::from(count.clone());
            let mut cx = Context::from_waker(&waker);
            let mut batch = Batch::new();
            let first = ch.poll_refill(&mut cx, &mut batch);
            producer.join().unwrap();
            match first {
                Poll::Ready(true) => assert_eq!(
                    {
                        let it = batch.take_one().unwrap();
                        ch.hand_out();
                        it.event.data
                    },
                    1
                ),
                Poll::Ready(false) => panic!("closed"),
                Poll::Pending => {
                    assert_eq!(count.0.load(SeqCst), 1, "a pending consumer is woken");
                    assert_eq!(ch.poll_refill(&mut cx, &mut batch), Poll::Ready(true));
                    assert_eq!(
                        {
                            let it = batch.take_one().unwrap();
                            ch.hand_out();
                            it.event.data
                        },
                        1
                    );
                }
            }
            let s = ch.stats();
            let taken = s.in_flight as u64;
            assert_eq!(s.offered, s.processed + s.dropped + s.rejected + s.len as u64 + taken);
        });
    }

    /// A producer blocked on a full queue is released by a pop, and the
    /// queue never holds more than its bound.
    #[test]
    fn loom_blocked_push_is_released_by_pop() {
        loom::model(|| {
            let ch = LoomArc::new(Channel::<u32>::new(1, Overflow::Block { timeout: None }, false));
            assert_eq!(ch.push(item(1)), Pushed::Queued);
            let producer = {
                let ch = ch.clone();
                thread::spawn(move || ch.push(item(2)))
            };
            let mut batch = Batch::new();
            assert_eq!(ch.refill_blocking(&mut batch, None), Ok(()));
            assert_eq!(batch.take_one().map(|i| i.event.data), Some(1));
            ch.hand_out();
            assert!(ch.stats().len <= 1);
            // Coming back for more reports the first as processed, which
            // makes the room the producer waits for.
            assert_eq!(ch.refill_blocking(&mut batch, None), Ok(()));
            let pushed = producer.join().unwrap();
            assert!(matches!(pushed, Pushed::Queued | Pushed::QueuedAfterWait), "{pushed:?}");
            assert_eq!(batch.take_one().map(|i| i.event.data), Some(2));
            ch.hand_out();
            ch.discard_batch(&mut batch);
            let s = ch.stats();
            assert_eq!((s.offered, s.processed), (2, 2));
        });
    }

    /// A consumer that hands out an event of its batch (without
    /// reporting it) releases a producer blocked on the room it held:
    /// the `WANT` flag and the hand-out count share one word.
    #[test]
    fn loom_hand_out_releases_a_blocked_producer() {
        loom::model(|| {
            let ch = LoomArc::new(Channel::<u32>::new(1, Overflow::block(), false));
            assert_eq!(ch.push(item(1)), Pushed::Queued);
            let mut batch = Batch::new();
            assert_eq!(ch.refill_blocking(&mut batch, None), Ok(()));
            let producer = {
                let ch = ch.clone();
                thread::spawn(move || ch.push(item(2)))
            };
            assert_eq!(batch.take_one().map(|i| i.event.data), Some(1));
            ch.hand_out();
            let pushed = producer.join().unwrap();
            assert!(matches!(pushed, Pushed::Queued | Pushed::QueuedAfterWait), "{pushed:?}");
            ch.report(&mut batch);
            let s = ch.stats();
            assert_eq!((s.offered, s.processed, s.len, s.in_flight), (2, 1, 1, 0));
        });
    }

    /// A push racing a close: the push is either queued before the close
    /// (and drained by the consumer, which then sees the end) or refused
    /// (not offered); a consumer blocked meanwhile is woken either way.
    #[test]
    fn loom_close_drains_then_ends() {
        loom::model(|| {
            let ch = LoomArc::new(Channel::<u32>::new(2, Overflow::DropNewest, false));
            let producer = {
                let ch = ch.clone();
                thread::spawn(move || ch.push(item(1)))
            };
            let closer = {
                let ch = ch.clone();
                thread::spawn(move || ch.close(Closed::Detached))
            };
            let mut got = Vec::new();
            let mut batch = Batch::new();
            while ch.refill_blocking(&mut batch, None).is_ok() {
                while let Some(it) = batch.take_one() {
                    ch.hand_out();
                    got.push(it.event.data);
                }
            }
            let pushed = producer.join().unwrap();
            closer.join().unwrap();
            match pushed {
                Pushed::Queued => assert_eq!(got, [1]),
                Pushed::Closed => assert!(got.is_empty()),
                other => panic!("{other:?}"),
            }
            let s = ch.stats();
            assert_eq!(s.offered, s.processed + s.dropped + s.len as u64);
        });
    }

    /// Close racing a producer blocked on a full queue: the producer is
    /// released, and the event is either not offered (the queue was
    /// closed first) or offered and counted as dropped; the accounting
    /// adds up either way.
    #[test]
    fn loom_close_releases_a_blocked_producer() {
        loom::model(|| {
            let ch = LoomArc::new(Channel::<u32>::new(1, Overflow::block(), false));
            assert_eq!(ch.push(item(1)), Pushed::Queued);
            let producer = {
                let ch = ch.clone();
                thread::spawn(move || ch.push(item(2)))
            };
            ch.close(Closed::Detached);
            let pushed = producer.join().unwrap();
            assert!(matches!(pushed, Pushed::Closed | Pushed::Dropped), "{pushed:?}");
            let s = ch.stats();
            assert_eq!(s.offered, s.processed + s.dropped + s.rejected + s.len as u64);
            assert_eq!(s.len, 1);
        });
    }

    /// Room reserved for an emit on its way, then withdrawn: a producer
    /// waiting for that room is woken and queues.
    #[test]
    fn loom_withdraw_wakes_a_blocked_producer() {
        loom::model(|| {
            let ch = LoomArc::new(Channel::<u32>::new(1, Overflow::block(), false));
            let key = (1, 1);
            assert_eq!(ch.promise(key, true, None, None), Ok(true));
            let producer = {
                let ch = ch.clone();
                thread::spawn(move || ch.push(item(2)))
            };
            ch.withdraw(key);
            let pushed = producer.join().unwrap();
            assert!(matches!(pushed, Pushed::Queued | Pushed::QueuedAfterWait), "{pushed:?}");
            let s = ch.stats();
            assert_eq!((s.offered, s.len), (1, 1));
        });
    }

    /// Drop-oldest under two concurrent producers: the bound holds and
    /// the accounting adds up.
    #[test]
    fn loom_drop_oldest_accounting() {
        loom::model(|| {
            let ch = LoomArc::new(Channel::<u32>::new(1, Overflow::DropOldest, false));
            let a = {
                let ch = ch.clone();
                thread::spawn(move || ch.push(item(1)))
            };
            let b = ch.push(item(2));
            let a = a.join().unwrap();
            let pushed = [a, b];
            assert!(pushed.contains(&Pushed::QueuedDroppedOldest));
            let s = ch.stats();
            assert_eq!((s.offered, s.dropped, s.len), (2, 1, 1));
        });
    }
}
