//! `Core<T>`, the state behind every handle to one signal, and every
//! decision an emit makes: this is the one module that decides the emit
//! path, once per emit, and the only place `Core<T>` has methods.
//!
//! # The paths
//!
//! 1. *Nobody listening*: one relaxed load of the signal's word (receiver
//!    count and state, see [`Base::subs`]), compared with zero, inlined
//!    into the caller by [`Signal::emit`].
//! 2. *The hot path* ([`Core::emit_plain_bits`]): a bare payload,
//!    payload-only receivers, nothing muted, ordered or observed: the same
//!    word with no state bit, one snapshot load (the thread's cache), one
//!    dynamic call per receiver. An ordered signal with nothing else set
//!    claims its turn from the caller's frame too.
//! 3. *Everything else* ([`Core::emit_slow`]): decided once, here.
//!    The payload is moved once — into an envelope on that frame, or into
//!    its `Arc` when the envelope must outlive the dispatch (history,
//!    middleware, observers, a receiver that keeps it, an ordered queue).
//!
//! # The full path
//!
//! For signals that ask for more than dispatch.
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
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use crate::counter::EmitCounter;
use crate::loom::{AtomicU8, AtomicU64, Mutex};

use crate::connection::{Detach, DisconnectReason};
use crate::event::{DebugFn, Event, Metadata, new_id};
use crate::local;
use crate::middleware::{self, Erased, Flow, Middleware, Remove};
use crate::observe;
use crate::receiver::{
    self, ConnectOptions, DELIVERED, Delivery, Entry as SlotEntry, FAILED, Key, MAY_EXPIRE,
    NEEDS_ENVELOPE, NEEDS_SHARED, Note, Notes, QueueTally, READS_ENVELOPE, REMOVE, ReceiverInfo,
    SKIPPED, SlotRef, TallyScope, TypedSlot,
};
use crate::subscribers::{LEN, Snapshot, Subscribers};
use crate::sync::LockExt;

use super::extras::Extras;
use super::{EmitStatus, Emitted, SignalConfig};

/// The next [`Signal::id`] of a signal that is not registered (registered
/// signals' ids come from [`local::registered_id`]).
static NEXT_SIGNAL_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A fresh id for a signal that is not registered.
fn next_id() -> u64 {
    // Relaxed: only uniqueness matters, which the RMW gives.
    NEXT_SIGNAL_ID.fetch_add(1, Ordering::Relaxed)
}

/// Payloads larger than this many bytes are never passed by value below
/// the emit call: see [`Signal::emit`](crate::Signal::emit). Smaller ones are cheaper to copy a
/// few times than to allocate for.
pub const LARGE_PAYLOAD: usize = 256;

/// An event queued on an ordered signal (boxed as a [`Job`] in the queue).
pub(crate) enum Queued<T> {
    /// A bare payload: when it was emitted, no receiver needed the
    /// envelope and the signal had no history or middleware.
    Data(Box<T>, Option<Cow<'static, str>>),
    /// An envelope that passed middleware (on the emitting thread).
    Event(Arc<Event<T>>),
}

/// State of an ordered signal: whether a thread is dispatching (the
/// *turn*), and the events emitted meanwhile, which that thread delivers
/// next.
///
/// # Protocol
///
/// `turn` holds two bits, [`BUSY`] (a thread is dispatching) and
/// [`QUEUED`] (the queue may be non-empty). An uncontended emit is one
/// compare-and-swap to claim the turn (`0 → BUSY`) and one to release it
/// (`BUSY → 0`): the queue's lock is never touched.
///
/// * An emit that cannot claim the turn takes the queue lock and, still
///   holding it, either claims the turn after all (it was released
///   meanwhile) or sets `QUEUED` and pushes its event.
/// * The dispatcher releases with `BUSY → 0`; if that fails, `QUEUED` is
///   set: it takes the lock, takes the whole queue, clears `QUEUED` (still
///   under the lock), and delivers what it took, in order, then tries to
///   release again.
///
/// Invariant: outside the lock, `QUEUED` clear implies the queue is empty
/// (both change only under the lock, pushes after setting the bit, the
/// bit cleared after emptying). So a release that finds `QUEUED` clear
/// strands no event, and a queued event is delivered by the thread that
/// holds the turn when it is pushed. Orderings: the claim is Acquire and
/// the release Release, so a dispatcher sees everything the previous one
/// did (its `seq` numbers included); the queue's contents are ordered by
/// its lock.
///
/// The queue holds its events type-erased ([`Job`]), so the queue and the
/// turn are compiled once, not once per payload type (issue 14); the
/// dispatcher casts each back ([`Core::deliver_job`]).
pub(crate) struct Ordered {
    pub(crate) turn: AtomicU8,
    pub(crate) queue: Mutex<VecDeque<Job>>,
}

/// A [`Queued<T>`] of the signal's payload type, boxed for the queue.
pub(crate) type Job = Box<dyn std::any::Any + Send>;

/// What [`Ordered::claim_or_queue`] did with an event.
pub(crate) enum Claim {
    /// The turn is this thread's; the event is handed back to deliver.
    Claimed(Job),
    /// The turn is this thread's, and the event was queued behind events
    /// an abandoned turn left: the caller delivers the queue.
    Behind,
    /// Another dispatch is in progress; it will deliver the event.
    Queued,
}

/// [`Ordered::turn`]: a thread is dispatching.
pub(crate) const BUSY: u8 = 1;
/// [`Ordered::turn`]: events wait in the queue.
pub(crate) const QUEUED: u8 = 2;

impl Ordered {
    /// Claims the turn if nobody holds it and nothing is queued: the
    /// uncontended path, one compare-and-swap.
    #[inline]
    pub(crate) fn try_claim(&self) -> bool {
        // Acquire: see everything the previous dispatcher did.
        self.turn.compare_exchange(0, BUSY, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// The turn could not be claimed at once: under the queue lock, claim
    /// it after all, or queue the event (see [`Claim`]).
    pub(crate) fn claim_or_queue(&self, queued: Job) -> Claim {
        let mut queue = self.queue.locked();
        let mut seen = self.turn.load(Ordering::Relaxed);
        loop {
            let (want, claim) =
                if seen & BUSY == 0 { (seen | BUSY, true) } else { (seen | QUEUED, false) };
            // Acquire on a claim, as in `try_claim`; setting `QUEUED` only
            // needs the lock (the dispatcher reads the queue under it).
            match self.turn.compare_exchange(seen, want, Ordering::Acquire, Ordering::Relaxed) {
                // Events left queued by an abandoned turn go first.
                Ok(_) if claim && seen & QUEUED != 0 => {
                    queue.push_back(queued);
                    return Claim::Behind;
                }
                Ok(_) if claim => return Claim::Claimed(queued),
                Ok(_) => {
                    queue.push_back(queued);
                    return Claim::Queued;
                }
                Err(now) => seen = now,
            }
        }
    }

    /// Puts events back at the front of the queue (a dispatch unwound
    /// while delivering them), for the next dispatcher.
    #[cold]
    fn requeue_front(&self, rest: VecDeque<Job>) {
        let mut queue = self.queue.locked();
        for queued in rest.into_iter().rev() {
            queue.push_front(queued);
        }
        self.turn.fetch_or(QUEUED, Ordering::Relaxed);
        drop(queue);
    }

    /// Releases the turn, or — events were queued — takes them all for the
    /// caller to deliver (still holding the turn).
    #[inline]
    pub(crate) fn release_or_take(&self) -> Option<VecDeque<Job>> {
        // Release: the next dispatcher sees this one's work.
        if self.turn.compare_exchange(BUSY, 0, Ordering::Release, Ordering::Relaxed).is_ok() {
            return None;
        }
        self.take_queued()
    }

    /// [`release_or_take`](Self::release_or_take) found `QUEUED` set.
    #[cold]
    #[inline(never)]
    fn take_queued(&self) -> Option<VecDeque<Job>> {
        let mut queue = self.queue.locked();
        let batch = std::mem::take(&mut *queue);
        // Under the lock, with the queue empty: clear `QUEUED`.
        self.turn.store(BUSY, Ordering::Relaxed);
        drop(queue);
        Some(batch)
    }

    /// Gives the turn up without delivering the queue (a dispatch is
    /// unwinding): `QUEUED` stays, so the next emit claims the turn
    /// through the lock, queues its own event behind what is there
    /// ([`Claim::Behind`]) and delivers the queue in order.
    pub(crate) fn abandon(&self) {
        let queue = self.queue.locked();
        self.turn.fetch_and(!BUSY, Ordering::Release);
        drop(queue);
    }
}

/// The shared state behind every handle to one signal: the part that does
/// not depend on the payload type ([`Base`]) and the part that does.
/// Derefs to its [`Base`].
pub(crate) struct Core<T> {
    pub(crate) base: Base,
    /// History, middleware and payload formatter, allocated on first use
    /// so an idle signal stays small.
    pub(crate) extras: OnceLock<Box<Extras<T>>>,
    /// Boxed: most signals are not ordered, and an idle signal should be
    /// small (the lock and the queue are ~40 bytes).
    pub(crate) ordered: Option<Box<Ordered>>,
}

impl<T> std::ops::Deref for Core<T> {
    type Target = Base;
    #[inline(always)]
    fn deref(&self) -> &Base {
        &self.base
    }
}

/// A signal's state that does not depend on its payload type, and every
/// operation on it: connecting and disconnecting, pruning, the dispatch's
/// aftermath, counting, reporting. Compiled once for every payload type
/// (issue 14: machine code and build time per event type), where methods
/// of [`Core<T>`] are compiled once per type.
pub(crate) struct Base {
    pub(crate) name: &'static str,
    /// Unique in the process, never reused: tells signals apart in meta
    /// events and introspection even when they have no name.
    pub(crate) id: u64,
    /// The receivers. Invariant: in the `Base` of a `Core<T>`, every entry
    /// was made for `T` ([`TypedSlot<T>`]): only [`Core::insert`] and
    /// [`Core::connect_slot`] add entries. The typed calls in the
    /// dispatch loops rely on it.
    ///
    /// Its word ([`Subscribers::word`]) is also the signal's *state*:
    /// beside the receiver count (bits 0–31) it holds everything that
    /// sends an emit off the hot path, so "nobody listening, nothing to
    /// do" is one load and a compare with zero, and "receivers, nothing
    /// else" one load and a mask: the signal's flags (bits 32–39:
    /// [`HISTORY`], [`MIDDLEWARE`]), [`ORDERED`] (fixed at creation),
    /// [`STATS`] and [`GLOBAL`] (the process-wide gate; both kept by
    /// [`observe`]'s list of signals), and the number of live
    /// [`MuteGuard`]s (bits 44–63, in steps of [`MUTE_ONE`]). Relaxed:
    /// these bits only gate work (the state they gate is reached through
    /// `extras` under its own locks, or through `observe`), and a change
    /// made before an emit starts (happens-before) is seen by read-write
    /// coherence.
    ///
    /// [`MuteGuard`]: crate::MuteGuard
    pub(crate) subs: Subscribers<SlotRef>,
    /// Last `seq` handed out. Relaxed `fetch_add`: uniqueness and
    /// gap-freedom come from the RMW itself; nothing else is published
    /// through it.
    pub(crate) seq: AtomicU64,
    /// Receiver failures so far. Relaxed: a statistic.
    pub(crate) failures: AtomicU64,
    /// Emits counted while [`STATS`] is set, allocated at the first.
    pub(crate) emits: OnceLock<Box<EmitCounter>>,
}

/// What [`Base::gate`] decided for an emit with state bits.
pub(crate) enum Gate {
    /// The hot path, as if no state bit were set.
    Plain,
    /// Nobody listening, nothing to do.
    Idle,
    /// The typed slow side: an ordered turn, or the full path.
    Other,
}

/// The state bits of `word`, [`GLOBAL`] read as what it stands for: kept
/// only while [`observe::work`] (a live testing scope alone sets the bit
/// and asks nothing of a signal already resolved).
#[inline]
fn state_of(word: u64) -> u64 {
    let global = word & GLOBAL != 0 && observe::work();
    (word & STATE & !GLOBAL) | if global { GLOBAL } else { 0 }
}

/// Whether `word` is an ordered signal's common case: receivers and
/// nothing set but [`ORDERED`] (its turn, no general decision).
#[inline]
fn ordered_turn(word: u64) -> bool {
    word & STATE == ORDERED && word & LEN != 0
}

/// State flag ([`Base::subs`]' word): the signal keeps history.
pub(crate) const HISTORY: u64 = 1 << 32;
/// State flag: the signal has middleware.
pub(crate) const MIDDLEWARE: u64 = 1 << 33;
/// State: the bits that send every emit down the full path.
pub(crate) const FLAGS: u64 = 0xFF << 32;
/// State: the signal is ordered (set at creation, never changed).
pub(crate) const ORDERED: u64 = 1 << 40;
/// State: emits are counted (`introspect::set_stats`). Set and cleared on
/// every signal at once, registered or anonymous, by [`observe`]'s list of
/// signals. Outside [`FLAGS`]: counting keeps an emit on its path, it only
/// adds the count.
pub(crate) const STATS: u64 = 1 << 41;
/// State: something process-wide may want this emit — global work
/// ([`observe::work`]: global middleware, the recent view, recorders) or
/// a live testing scope. Set and cleared on every signal at once by
/// [`observe`]'s list of signals; an emit that finds it re-reads the
/// process-wide state it stands for.
pub(crate) const GLOBAL: u64 = 1 << 42;
/// State: one live mute guard (the count is bits 44–63).
pub(crate) const MUTE_ONE: u64 = 1 << 44;
/// State: the most mute guards that can live at once.
pub(crate) const MUTE_MAX: u64 = u64::MAX >> 44;
/// State: the mute count's bits.
pub(crate) const MUTED: u64 = !0 << 44;
/// State: every bit but the receiver count.
pub(crate) const STATE: u64 = !crate::subscribers::LEN;

/// Removing a signal's middleware clears its `MIDDLEWARE` flag with the
/// last one, so the signal returns to the plain emit path.
impl<T: Send + Sync + 'static> Remove for Core<T> {
    fn remove_middleware(&self, id: u64) -> bool {
        let Some(extras) = self.extras.get() else { return false };
        let edit = extras.middleware_edit.locked();
        let removed = extras.middleware.remove_where(&mut |i, _| i == id);
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

impl<T: Send + Sync + 'static> Core<T> {
    /// The extras, allocated on first use.
    pub(crate) fn extras(&self) -> &Extras<T> {
        self.extras.get_or_init(|| Box::new(Extras::new()))
    }

    /// Adds `slot` after every entry of greater or equal priority; returns
    /// its id. (With [`connect_slot`](Self::connect_slot), the only ways
    /// into [`Base::subs`]: see its invariant.)
    pub(crate) fn insert(&self, priority: i32, slot: TypedSlot<T>) -> u64 {
        self.subs.insert(priority, slot.into_erased())
    }

    /// [`Base::connect_slot`] with receivers made for `T`.
    pub(crate) fn connect_slot(
        &self,
        options: ConnectOptions,
        key: Option<Key>,
        make: &mut dyn FnMut(ConnectOptions) -> Option<TypedSlot<T>>,
    ) -> (u64, bool) {
        self.base.connect_slot(options, key, &mut |o| make(o).map(TypedSlot::into_erased))
    }
}

impl Base {
    /// Connects the receiver `make` builds from `options` — every connect
    /// ends here. A receiver with an identity (`key`: a function item, a
    /// `#[receiver]`, an explicit [`ConnectOptions::key`]) that is already
    /// connected is not connected again: the existing connection is kept,
    /// its source filter widened to accept the new one's sources too (any
    /// source absorbs the others), as Blinker does — `make` then builds
    /// the replacement, published in its place (same id, same position).
    /// Returns the id and whether the receiver is new.
    ///
    /// Non-generic (issue 14): only building the receiver is compiled per
    /// receiver type. `make` must return receivers made for this signal's
    /// payload type (see [`Base::subs`]): [`Core::connect_slot`] sees to it.
    pub(crate) fn connect_slot(
        &self,
        mut options: ConnectOptions,
        key: Option<Key>,
        make: &mut dyn FnMut(ConnectOptions) -> Option<SlotRef>,
    ) -> (u64, bool) {
        let priority = options.priority;
        let Some(key) = key else {
            return match make(options) {
                Some(slot) => (self.subs.insert(priority, slot), true),
                None => (0, false),
            };
        };
        let (id, new) =
            self.subs.insert_unique(priority, &|e| e.0.key() == Some(&key), &mut |existing| {
                let Some(old) = existing else {
                    return make(std::mem::take(&mut options));
                };
                let sources = widened(old.0.sources(), &options.sources)?;
                let options = ConnectOptions {
                    sources,
                    name: Some(old.0.name().clone()),
                    once: old.0.is_once(),
                    ..std::mem::take(&mut options)
                };
                make(options)
            });
        if !new {
            // A replaced entry may be held by this thread's cache.
            local::evict(self.id);
        }
        (id, new)
    }

    /// The end of every connect, after [`connect_slot`](Self::connect_slot):
    /// what to report on `mesh.receiver.connected` for a new receiver
    /// (reported here when `announce`, and then weak receivers whose
    /// object is gone are cleared out, so a signal that is connected to
    /// but never emitted does not accumulate them).
    pub(crate) fn connected(
        &self,
        id: u64,
        new: bool,
        priority: i32,
        announce: bool,
    ) -> Option<ReceiverInfo> {
        let mut info = None;
        if new && (!announce || observe::wants_connected()) {
            let snap = self.subs.load();
            info = snap
                .keys()
                .position(|(i, _)| i == id)
                .map(|at| ReceiverInfo::of(id, priority, &snap.items()[at]));
        }
        if announce {
            if let Some(info) = info.take() {
                observe::connected(self.name, self.id, info);
            }
            self.prune();
        }
        info
    }
}

impl Base {
    /// Sets or clears `flag` (Relaxed: see `Core::flags`), then bumps the
    /// snapshot version so publishers re-check their fast path.
    pub(crate) fn set_flag(&self, flag: u64, on: bool) {
        if on {
            self.subs.set_bits(flag);
        } else {
            self.subs.clear_bits(flag);
        }
        self.subs.touch();
    }

    /// Counts one emit.
    #[inline]
    pub(crate) fn count_emit(&self) {
        self.emits.get_or_init(|| Box::new(EmitCounter::new())).add_one();
    }

    /// Whether counting is on for this signal.
    #[inline]
    pub(crate) fn counting(&self) -> bool {
        self.subs.word() & STATS != 0
    }

    /// Counts one emit if counting is on (the paths off the hot one).
    #[inline]
    pub(crate) fn count_if_on(&self) {
        if self.counting() {
            self.count_emit();
        }
    }

    /// Emits counted so far (0 if never counted).
    pub(crate) fn emit_count(&self) -> u64 {
        self.emits.get().map_or(0, |c| c.total())
    }

    /// The flag bits of the state ([`HISTORY`], [`MIDDLEWARE`]).
    #[inline]
    pub(crate) fn flags(&self) -> u64 {
        self.subs.word() & FLAGS
    }

    /// The state bits of the word, [`GLOBAL`] read as what it stands for
    /// (see [`state_of`]): what the paths off the gate decide on.
    #[inline]
    pub(crate) fn state(&self) -> u64 {
        state_of(self.subs.word())
    }

    /// The way of an emit whose word (`word`, loaded by the caller) has
    /// state bits: [`GLOBAL`] is read as what it stands for (a live testing
    /// scope alone sets the bit and asks nothing of a signal already
    /// resolved), and an emit counted on the way ([`STATS`] alone) is
    /// counted here. Non-generic, out of line: compiled once (issue 14).
    /// Cold: the hot path is laid out as if no state bit were ever set.
    #[cold]
    #[inline(never)]
    pub(crate) fn gate(&self, word: u64) -> Gate {
        let state = state_of(word);
        // `idle()` on the loaded word: no receivers, no flags, no work.
        if word & LEN == 0 && state & (FLAGS | GLOBAL) == 0 {
            return Gate::Idle;
        }
        match state {
            0 => Gate::Plain,
            STATS => {
                // Counting is the only reason to be here: counted, then
                // the hot path.
                self.count_emit();
                Gate::Plain
            }
            _ => Gate::Other,
        }
    }

    /// Whether a mute guard lives.
    #[inline]
    pub(crate) fn is_muted(&self) -> bool {
        self.subs.word() >= MUTE_ONE
    }

    /// One more mute guard.
    pub(crate) fn mute_one(&self) {
        // Never carried out of the word: the count stays as it was.
        if !self.subs.add_bits_below(MUTE_ONE, MUTED) {
            panic!("more than {MUTE_MAX} mute guards alive on one signal");
        }
    }

    /// One mute guard fewer.
    pub(crate) fn unmute_one(&self) {
        self.subs.add_bits(MUTE_ONE.wrapping_neg());
    }

    /// Whether this emit must take the full path.
    #[inline]
    pub(crate) fn has_work(&self) -> bool {
        self.flags() != 0 || observe::work()
    }

    #[inline]
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    #[cold]
    pub(crate) fn middleware_failed(
        &self,
        name: Cow<'static, str>,
        panic: &(dyn std::any::Any + Send),
    ) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let receiver = Cow::Owned(format!("middleware {name}"));
        observe::failed(self.name, self.id, receiver, crate::signal::panic_message(panic));
    }
}

impl<T: Send + Sync + 'static> Core<T> {
    /// Steps 3 and 4 of the full path for an envelope that passed
    /// middleware (see the module docs): number it — under the history
    /// lock when the signal keeps history, appending it to the ring — and
    /// hand it to the global observers. The caller then dispatches it.
    ///
    /// `event` must not be shared yet (it is numbered in place).
    pub(crate) fn record(&self, event: &mut Arc<Event<T>>) {
        let extras = self.extras.get();
        let keep = extras.filter(|_| self.flags() & HISTORY != 0);
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
        if observe::work() {
            observe::envelope(event, extras.and_then(|x| x.debug.get().copied()));
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
    pub(crate) fn run_middleware(&self, event: &mut Event<T>, debug: Option<DebugFn<T>>) -> Flow {
        if let Some(global) = middleware::global() {
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
        if self.flags() & MIDDLEWARE != 0 {
            if let Some(extras) = self.extras.get() {
                for m in extras.middleware.load().items() {
                    // A signal's chain holds its own payload type only.
                    let Some(m) = m.0.downcast_ref::<Box<dyn Middleware<T>>>() else { continue };
                    match catch_unwind(AssertUnwindSafe(|| m.handle(event))) {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Drop) => return Flow::Drop,
                        Err(panic) => self.middleware_failed(m.name(), &*panic),
                    }
                }
            }
        }
        Flow::Continue
    }
}

/// Records a receiver that panicked (cold path of [`Core::walk`]).
#[cold]
#[inline(never)]
pub(crate) fn caught(
    panic: Box<dyn std::any::Any + Send>,
    receiver: &dyn SlotEntry,
    notes: &Notes,
) {
    notes.record(receiver.addr(), FAILED, Some(panic_message(&*panic)));
    // Drop the payload here: it is user data.
    drop(panic);
}

/// Failures and removals noticed during one dispatch (the cold path).
#[derive(Default)]
pub(crate) struct Aftermath {
    pub(crate) failures: Vec<(Cow<'static, str>, String)>,
    pub(crate) removals: Vec<(u64, DisconnectReason)>,
}

impl<T: Send + Sync + 'static> Core<T> {
    /// [`Signal::emit`] (and a [`Publisher`](crate::Publisher) whose
    /// receivers changed): with no receivers one load (two with the work
    /// gate), inlined into the caller; a large payload is decided in the
    /// caller's frame.
    #[inline(always)]
    pub(crate) fn emit(&self, data: T) -> Emitted {
        if size_of::<T>() > LARGE_PAYLOAD {
            // Decided here: each frame a large payload passes through by
            // value costs its size in stack in an unoptimised build.
            if self.idle() {
                return Emitted::with(EmitStatus::NoReceivers);
            }
            return self.emit_large(data, None);
        }
        Emitted::from_bits(self.emit_bits(data))
    }

    /// [`emit`](Self::emit) as [`Emitted::to_bits`]: the summary is built
    /// only where it is read, in the caller's frame (an `Emitted` returned
    /// through memory from each layer costs a store per field).
    #[inline(always)]
    pub(crate) fn emit_bits(&self, data: T) -> u128 {
        // One load decides the common cases (see `Base::subs`): zero is
        // nobody listening and nothing to do; a count and no state bits is
        // the hot path.
        let word = self.subs.word();
        if word == 0 {
            return Emitted::with(EmitStatus::NoReceivers).to_bits();
        }
        if size_of::<T>() > LARGE_PAYLOAD {
            if self.idle() {
                return Emitted::with(EmitStatus::NoReceivers).to_bits();
            }
            return self.emit_large(data, None).to_bits();
        }
        self.emit_word_bits(data, word)
    }

    /// Whether an emit with state bits set still has nothing to do: no
    /// receivers, and none of the state sends it down the full path
    /// (muted or counted signals with no receivers report
    /// [`EmitStatus::NoReceivers`] and count nothing, as an idle one).
    /// A zero word answers at once.
    #[inline]
    pub(crate) fn idle(&self) -> bool {
        let word = self.subs.word();
        word == 0 || (word & LEN == 0 && !self.has_work())
    }

    /// [`Signal::emit`] after the "anyone listening?" check, as
    /// [`Emitted::to_bits`]: the hot path delivers a bare payload to
    /// payload-only receivers by reference; anything else goes to
    /// [`emit_slow`](Self::emit_slow).
    #[inline]
    pub(crate) fn emit_data_bits(&self, data: T) -> u128 {
        self.emit_word_bits(data, self.subs.word())
    }

    /// An emit that is not worth a copy of the hot path (issue 14: one
    /// per call site would be ~1 KB per event type): an event type's first
    /// use or testing scope's signal, or a signal with state. Nobody
    /// listening returns, an ordered signal with nothing else set takes
    /// its turn, and everything else the general path, whose payload-only
    /// dispatch differs from the hot path's only in not using the thread's
    /// cache.
    #[inline]
    pub(crate) fn emit_cold_bits(&self, data: T) -> u128 {
        if self.idle() {
            return Emitted::with(EmitStatus::NoReceivers).to_bits();
        }
        if ordered_turn(self.subs.word()) {
            return self.emit_gated_bits(data, true);
        }
        self.emit_slow(data, None, None).to_bits()
    }

    /// The emit once the signal's word (`word`) is loaded and not zero:
    /// with no state bit, the hot path; else what [`Base::gate`] (compiled
    /// once, out of line) decides. One copy of the hot path per call site.
    #[inline(always)]
    pub(crate) fn emit_word_bits(&self, data: T, word: u64) -> u128 {
        if word & STATE != 0 {
            // An ordered signal's common case goes to its turn without the
            // general decision.
            if ordered_turn(word) {
                return self.emit_gated_bits(data, true);
            }
            match self.base.gate(word) {
                Gate::Plain => {}
                Gate::Idle => return Emitted::with(EmitStatus::NoReceivers).to_bits(),
                Gate::Other => return self.emit_gated_bits(data, false),
            }
        }
        self.emit_plain_bits(data)
    }

    /// What [`Base::gate`] leaves to the typed code: an ordered signal's
    /// turn (`turn`: nothing but [`ORDERED`] set), or the slow path.
    #[inline(never)]
    fn emit_gated_bits(&self, data: T, turn: bool) -> u128 {
        if let Some(ordered) = self.ordered.as_deref().filter(|_| turn) {
            return self.emit_ordered_plain(ordered, data);
        }
        self.emit_slow(data, None, None).to_bits()
    }

    /// The hot path once the gate found nothing but receivers: the cached
    /// snapshot, walked with the payload by reference.
    #[inline]
    pub(crate) fn emit_plain_bits(&self, data: T) -> u128 {
        // The summary crosses the closure as one integer: as a struct, its
        // two producers (the slow path's returned value and the loop's
        // fields) meet in a stack slot written field by field and copied
        // wider, a store-forwarding stall costing ~4 ns per emit (measured
        // with `perf annotate` on the comparison bench).
        local::with_snapshot(&self.subs, self.id, |snap, cached| {
            if snap.flags() & NEEDS_ENVELOPE != 0 {
                return self.emit_enveloped(data, snap);
            }
            self.run_payload_bits(snap, &data, cached)
        })
    }

    /// [`emit_data_bits`](Self::emit_data_bits) when a receiver takes the envelope
    /// and the gate found nothing else on (not muted, no history,
    /// middleware or global work, not ordered): unless a receiver keeps
    /// the envelope, it is built on this frame and walked, without
    /// [`emit_slow`](Self::emit_slow)'s checks the gate already made.
    #[inline(never)]
    pub(crate) fn emit_enveloped(&self, data: T, snap: &Snapshot<SlotRef>) -> u128 {
        if snap.flags() & NEEDS_SHARED != 0 {
            // The gate checked what `emit_slow` would check again.
            return self.emit_to_queues(data, None, snap);
        }
        let event = self.envelope(data, None, self.next_seq());
        self.run_event_bits(snap, &event, None, &Cell::new(None))
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
        snap: Option<&Snapshot<SlotRef>>,
    ) -> Emitted {
        self.count_if_on();
        if self.is_muted() {
            return Emitted::with(EmitStatus::Muted);
        }
        // The full path loads its own snapshot, after the history append.
        if self.has_work() {
            return self.emit_shared(Arc::new(self.envelope(data, source, 0)));
        }
        if let Some(ordered) = &self.ordered {
            // The dispatcher decides, holding the turn, whether the
            // payload needs an envelope (`deliver_data`).
            return self.emit_ordered_data(ordered, data, source);
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
        if needs & NEEDS_SHARED != 0 {
            return Emitted::from_bits(self.emit_to_queues(data, source, snap));
        }
        if needs & NEEDS_ENVELOPE == 0 {
            return self.run_data(snap, &data, source.as_deref());
        }
        let event = self.envelope(data, source, self.next_seq());
        self.run_event(snap, &event, None, &Cell::new(None))
    }

    /// A receiver of `snap` keeps the envelope (a queued receiver), and
    /// the signal has no history, middleware, observers or ordering (the
    /// caller checked): the envelope goes straight to this snapshot's
    /// receivers (`deliver` reloads the snapshot only to be exact against
    /// a history append). If none reads more than the payload (payload-only
    /// queues), the envelope is bare: no id, no clock and no `seq` (nobody
    /// reads them; `seq` stays gap-free among the envelopes that are read).
    fn emit_to_queues(
        &self,
        data: T,
        source: Option<Cow<'static, str>>,
        snap: &Snapshot<SlotRef>,
    ) -> u128 {
        let event = if snap.flags() & READS_ENVELOPE == 0 {
            Arc::new(Event::bare(self.name, data, source))
        } else {
            let mut event = Arc::new(self.envelope(data, source, 0));
            number(&mut event, self.next_seq());
            event
        };
        self.run_event_bits(snap, &event, Some(&event), &Cell::new(None))
    }

    /// Delivers a bare payload (with the emitter's source, if any) to a
    /// snapshot with no envelope receiver.
    #[inline(always)]
    pub(crate) fn run_data(
        &self,
        snap: &Snapshot<SlotRef>,
        data: &T,
        source: Option<&str>,
    ) -> Emitted {
        let failure = Cell::new(None);
        self.run(snap, &Delivery { data, event: None, source, shared: None, failure: &failure })
    }

    /// [`Signal::emit_event`] after the "anyone listening?" check; as
    /// [`emit_slow`](Self::emit_slow), the envelope is moved at most once.
    #[inline(never)]
    pub(crate) fn emit_envelope(&self, mut event: Event<T>) -> Emitted {
        self.count_if_on();
        if self.is_muted() {
            return Emitted::with(EmitStatus::Muted);
        }
        event.name = self.name;
        if self.has_work() || self.ordered.is_some() {
            return self.emit_shared(Arc::new(event));
        }
        let snap = self.subs.load();
        if snap.flags() & NEEDS_SHARED != 0 {
            return self.emit_shared(Arc::new(event));
        }
        event.seq = self.next_seq();
        self.run_event(&snap, &event, None, &Cell::new(None))
    }

    /// A payload larger than [`LARGE_PAYLOAD`]: decided here, inlined
    /// into the caller's frame, so the payload is read where it is
    /// (payload-only receivers) or moved once, into its `Arc` envelope.
    #[inline(always)]
    pub(crate) fn emit_large(&self, data: T, source: Option<Cow<'static, str>>) -> Emitted {
        if self.state() == 0 {
            let snap = self.subs.load();
            if snap.flags() & NEEDS_ENVELOPE == 0 {
                return self.run_data(&snap, &data, source.as_deref());
            }
        }
        self.count_if_on();
        if self.is_muted() {
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
    pub(crate) fn emit_shared_event(&self, mut event: Arc<Event<T>>) -> Emitted {
        self.count_if_on();
        if self.is_muted() {
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
    pub(crate) fn emit_shared(&self, mut event: Arc<Event<T>>) -> Emitted {
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
    pub(crate) fn deliver(&self, mut event: Arc<Event<T>>) -> Emitted {
        self.record(&mut event);
        self.run_event(&self.subs.load(), &event, Some(&event), &Cell::new(None))
    }

    /// Delivers a bare payload on an ordered signal (the turn is held):
    /// emitted or queued when no receiver needed the envelope and the
    /// signal had no history or middleware.
    fn deliver_data(&self, data: T, source: Option<Cow<'static, str>>) -> Emitted {
        if self.has_work() {
            return self.deliver_enveloped(data, source);
        }
        let mut data = Some((data, source));
        let bits = local::with_snapshot(&self.subs, self.id, |snap, _| {
            if snap.flags() & NEEDS_ENVELOPE != 0 {
                return None;
            }
            let (data, source) = data.take()?;
            Some(self.run_data(snap, &data, source.as_deref()).to_bits())
        });
        match (bits, data) {
            (Some(bits), _) => Emitted::from_bits(bits),
            // An envelope receiver: delivered off the cached snapshot, to
            // the one loaded after numbering (see `deliver`).
            (None, Some((data, source))) => self.deliver_enveloped(data, source),
            (None, None) => Emitted::with(EmitStatus::Dispatched),
        }
    }

    /// [`deliver_data`](Self::deliver_data) for a payload that needs its
    /// envelope after all: history, middleware or an envelope receiver
    /// came since it was emitted (or were there).
    #[inline(never)]
    fn deliver_enveloped(&self, data: T, source: Option<Cow<'static, str>>) -> Emitted {
        let mut event = Arc::new(self.envelope(data, source, 0));
        if self.has_work() && !self.filter(&mut event) {
            return Emitted::with(EmitStatus::Filtered);
        }
        self.deliver(event)
    }

    /// Delivers one event an ordered signal queued (or is about to).
    pub(crate) fn deliver_queued(&self, queued: Queued<T>) -> Emitted {
        match queued {
            Queued::Event(event) => self.deliver(event),
            Queued::Data(data, source) => self.deliver_data(*data, source),
        }
    }

    /// Delivers a job this signal queued.
    fn deliver_job(&self, job: Job) -> Emitted {
        match job.downcast::<Queued<T>>() {
            Ok(queued) => self.deliver_queued(*queued),
            // Unreachable: a signal's queue holds its own payload type.
            Err(_) => Emitted::with(EmitStatus::Dispatched),
        }
    }

    /// Ordered mode: one dispatching thread at a time; see [`Ordered`].
    ///
    /// An emit that finds the signal idle becomes the dispatcher: it
    /// delivers its event, then every event queued meanwhile, until the
    /// queue is empty. An emit that finds a dispatch in progress — on any
    /// thread, its own included — queues its event and returns
    /// [`EmitStatus::Deferred`] at once. Nobody ever waits for another
    /// thread's dispatch, so receivers that emit (directly, or from threads
    /// they join) cannot deadlock, and events are delivered in one total
    /// order: `seq` is assigned by the single dispatcher.
    pub(crate) fn emit_ordered(&self, ordered: &Ordered, queued: Queued<T>) -> Emitted {
        if ordered.try_claim() {
            return self.dispatch_turn(ordered, |core| core.deliver_queued(queued));
        }
        match ordered.claim_or_queue(Box::new(queued)) {
            Claim::Claimed(job) => self.dispatch_turn(ordered, |core| core.deliver_job(job)),
            Claim::Behind => self.dispatch_turn(ordered, |_| Emitted::with(EmitStatus::Deferred)),
            Claim::Queued => Emitted::with(EmitStatus::Deferred),
        }
    }

    /// A bare payload on an ordered signal whose receivers take it as is:
    /// delivered from the caller's frame when the turn is free (nothing
    /// allocated), queued in a box otherwise.
    pub(crate) fn emit_ordered_data(
        &self,
        ordered: &Ordered,
        data: T,
        source: Option<Cow<'static, str>>,
    ) -> Emitted {
        if ordered.try_claim() {
            return self.dispatch_turn(ordered, |core| core.deliver_data(data, source));
        }
        self.queue_payload(ordered, data, source)
    }

    /// A bare payload for an ordered signal whose dispatch is in progress:
    /// if a receiver takes the envelope, it is built now, so its id and
    /// timestamp say when the event was emitted, not when the dispatcher
    /// reaches it; otherwise the payload waits in a box. (No middleware or
    /// history here: those send every emit down `emit_shared`, on the
    /// emitting thread.)
    #[cold]
    #[inline(never)]
    fn queue_payload(
        &self,
        ordered: &Ordered,
        data: T,
        source: Option<Cow<'static, str>>,
    ) -> Emitted {
        let queued = if self.subs.load().flags() & NEEDS_ENVELOPE != 0 {
            Queued::Event(Arc::new(self.envelope(data, source, 0)))
        } else {
            Queued::Data(Box::new(data), source)
        };
        self.emit_ordered(ordered, queued)
    }

    /// An ordered emit of a bare payload with no source, nothing muted and
    /// no history, middleware or global work: the turn's two
    /// compare-and-swaps around a walk of the cached snapshot. Anything
    /// else goes the general way
    /// ([`emit_ordered_data`](Self::emit_ordered_data)).
    #[inline(never)]
    pub(crate) fn emit_ordered_plain(&self, ordered: &Ordered, data: T) -> u128 {
        if !ordered.try_claim() {
            return self.queue_payload(ordered, data, None).to_bits();
        }
        // Not `deliver_data(data, None)`: that passes the source through
        // memory and walks the general delivery; this walks payload-only
        // receivers directly (`cargo bench -p mesh-bench --bench loop`
        // under callgrind: 148 instructions per ordered emit here, 258
        // through `deliver_data`).
        self.dispatch_turn(ordered, |core| {
            let mut data = Some(data);
            let bits = local::with_snapshot(&core.subs, core.id, |snap, cached| {
                if snap.flags() & NEEDS_ENVELOPE != 0 {
                    return None;
                }
                let data = data.take()?;
                Some(core.run_payload_bits(snap, &data, cached))
            });
            match (bits, data) {
                (Some(bits), _) => bits,
                (None, Some(data)) => core.deliver_enveloped(data, None).to_bits(),
                (None, None) => Emitted::with(EmitStatus::Dispatched).to_bits(),
            }
        })
    }

    /// Holding the turn: `first`, then whatever was queued meanwhile, then
    /// the turn is released.
    fn dispatch_turn<R>(&self, ordered: &Ordered, first: impl FnOnce(&Self) -> R) -> R {
        /// Gives the turn up if a dispatch unwinds (receivers' panics are
        /// caught, so only a bug gets here); the queue, with anything not
        /// delivered put back at its front, is left for the next
        /// dispatcher, which delivers it before its own event.
        struct Turn<'a>(&'a Ordered, bool, usize);
        impl Drop for Turn<'_> {
            #[inline]
            fn drop(&mut self) {
                HELD.with(|(_, depth)| depth.set(self.2));
                if self.1 {
                    self.0.abandon();
                }
            }
        }
        let depth = HELD.with(|(ids, depth)| {
            let d = depth.get();
            if let Some(slot) = ids.get(d) {
                slot.set(self.id);
            }
            depth.set(d + 1);
            d
        });
        let mut turn = Turn(ordered, true, depth);
        let first = first(self);
        while let Some(batch) = ordered.release_or_take() {
            self.deliver_batch(ordered, batch);
        }
        turn.1 = false;
        first
    }

    /// Delivers what was queued while this thread held the turn.
    #[cold]
    #[inline(never)]
    fn deliver_batch(&self, ordered: &Ordered, batch: VecDeque<Job>) {
        /// If a delivery unwinds (receivers' panics are caught, so only a
        /// bug gets here), the events not yet delivered go back to the
        /// front of the queue, in order, for the next dispatcher.
        struct Rest<'a>(&'a Ordered, VecDeque<Job>);
        impl Drop for Rest<'_> {
            fn drop(&mut self) {
                if !self.1.is_empty() {
                    self.0.requeue_front(std::mem::take(&mut self.1));
                }
            }
        }
        let mut rest = Rest(ordered, batch);
        while let Some(job) = rest.1.pop_front() {
            self.deliver_job(job);
        }
    }

    pub(crate) fn run_event(
        &self,
        snap: &Snapshot<SlotRef>,
        ev: &Event<T>,
        shared: Option<&Arc<Event<T>>>,
        failure: &Cell<Option<String>>,
    ) -> Emitted {
        Emitted::from_bits(self.run_event_bits(snap, ev, shared, failure))
    }

    /// [`run_event`](Self::run_event) as [`Emitted::to_bits`].
    pub(crate) fn run_event_bits(
        &self,
        snap: &Snapshot<SlotRef>,
        ev: &Event<T>,
        shared: Option<&Arc<Event<T>>>,
        failure: &Cell<Option<String>>,
    ) -> u128 {
        let d = Delivery {
            data: &ev.data,
            event: Some(ev),
            source: ev.source.as_deref(),
            shared,
            failure,
        };
        self.run_bits(snap, &d)
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

    /// Delivers a bare payload, emitted without a source, to a snapshot
    /// with no envelope receiver: the hot path.
    #[inline(always)]
    pub(crate) fn run_payload(&self, snap: &Snapshot<SlotRef>, data: &T) -> Emitted {
        Emitted::from_bits(self.run_payload_bits(snap, data, true))
    }

    /// [`run_payload`](Self::run_payload), as [`Emitted::to_bits`], with the loop inlined here if
    /// `inline`, else the one loop shared by every payload type
    /// ([`Base::run_payload_shared`]; see `local::with_snapshot`).
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(crate) fn run_payload_bits(
        &self,
        snap: &Snapshot<SlotRef>,
        data: &T,
        inline: bool,
    ) -> u128 {
        if !inline {
            // SAFETY: `snap` is this signal's, whose entries are made for
            // `T` (`Base::subs`), and `data` is a `T`.
            return unsafe { self.base.run_payload_shared(snap, data as *const T as *const ()) };
        }
        let notes = Notes::new();
        // SAFETY: `snap` is this signal's, whose entries are made for `T`
        // (`Base::subs`).
        #[allow(unsafe_code)]
        self.walk::<false>(snap, &notes, |slot| unsafe {
            receiver::call_payload(slot, data, &notes)
        })
    }

    /// Delivers `d` to the receivers of `snap`.
    #[inline]
    pub(crate) fn run(&self, snap: &Snapshot<SlotRef>, d: &Delivery<'_, T>) -> Emitted {
        Emitted::from_bits(self.run_bits(snap, d))
    }

    /// [`run`](Self::run) as [`Emitted::to_bits`].
    #[inline]
    pub(crate) fn run_bits(&self, snap: &Snapshot<SlotRef>, d: &Delivery<'_, T>) -> u128 {
        let notes = Notes::new();
        self.walk::<true>(snap, &notes, |slot| {
            // SAFETY: as in `run_payload`.
            #[allow(unsafe_code)]
            let status = unsafe { receiver::call(slot, d) };
            if status != DELIVERED {
                notes.record(slot.addr(), status, d.failure.take());
            }
        })
    }
}

impl Base {
    /// [`Core::run_payload`] compiled once for every payload type: `data`
    /// is the payload, type-erased.
    ///
    /// # Safety
    ///
    /// `data` points to a live payload of the type the entries of `snap`
    /// were made for (it is the snapshot of that `Core<T>`'s list).
    #[inline(never)]
    #[allow(unsafe_code)]
    pub(crate) unsafe fn run_payload_shared(
        &self,
        snap: &Snapshot<SlotRef>,
        data: *const (),
    ) -> u128 {
        let notes = Notes::new();
        // SAFETY: this function's contract.
        self.walk::<false>(snap, &notes, |slot| unsafe { slot.call_payload_erased(data, &notes) })
    }

    /// The dispatch loop: one dynamic call per receiver inside a single
    /// `catch_unwind`, and nothing else. Receivers that do not simply
    /// deliver leave [`Notes`], settled after the loop; a panic is noted
    /// the same way and the loop resumes after the receiver that panicked.
    ///
    /// `QUEUES`: whether the snapshot may hold queued receivers (whose
    /// counts go to [`Emitted`]): only deliveries of the envelope, never
    /// the payload-only paths, which then read no counts.
    #[inline(always)]
    pub(crate) fn walk<const QUEUES: bool>(
        &self,
        snap: &Snapshot<SlotRef>,
        notes: &Notes,
        call: impl Fn(&dyn SlotEntry),
    ) -> u128 {
        let items = snap.items();
        // Queued receivers need their envelope shared: a snapshot without
        // that flag has none, and counts nothing.
        let queues = QUEUES && snap.flags() & NEEDS_SHARED != 0;
        let scope = if queues { Some(TallyScope::begin()) } else { None };
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
        // Both arms meet as one integer: an `Emitted` built here lands in a
        // stack slot written field by field and read back wider, a
        // store-forwarding stall of ~4 ns per emit (seen with `perf
        // annotate` on the comparison bench).
        if let Some(scope) = scope {
            let queue = scope.end();
            return match notes.take() {
                None if queue.is_empty() => {
                    Emitted::dispatched_bits(items.len() as u32 - skipped, skipped)
                }
                // Queues counted, nothing else to settle.
                None => Emitted {
                    delivered: items.len() as u32 - skipped - queue.receivers,
                    failed: 0,
                    skipped,
                    queued: queue.queued,
                    dropped: queue.dropped,
                    rejected: queue.rejected,
                    status: EmitStatus::Dispatched,
                }
                .to_bits(),
                notes => {
                    let notes = notes.map_or_else(Vec::new, |n| *n);
                    self.settle(snap, notes, skipped, queue).to_bits()
                }
            };
        }
        match notes.take() {
            None => Emitted::dispatched_bits(items.len() as u32 - skipped, skipped),
            Some(notes) => self.settle(snap, *notes, skipped, QueueTally::EMPTY).to_bits(),
        }
    }

    /// Counts, reports and applies the notes of one dispatch (cold path).
    #[cold]
    #[inline(never)]
    pub(crate) fn settle(
        &self,
        snap: &Snapshot<SlotRef>,
        notes: Vec<Note>,
        skipped: u32,
        queue: QueueTally,
    ) -> Emitted {
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
                after.removals.push((snap.key(i).0, reason));
            } else if status & REMOVE != 0 {
                after.removals.push((snap.key(i).0, DisconnectReason::Expired));
            }
        }
        self.aftermath(after);
        // A queued receiver is counted once, as what its queue did with the
        // event: queued (a drop of an older event besides is counted in
        // `dropped` too), dropped or rejected.
        let QueueTally { receivers, queued, dropped, rejected } = queue;
        let not_run = skipped + failed + receivers;
        Emitted {
            delivered: (items.len() as u32).saturating_sub(not_run),
            failed,
            skipped,
            queued,
            dropped,
            rejected,
            status: EmitStatus::Dispatched,
        }
    }

    /// Reports failures and removes spent receivers, after a dispatch.
    #[cold]
    pub(crate) fn aftermath(&self, after: Aftermath) {
        if !after.removals.is_empty() {
            let removals = after.removals;
            self.remove(&mut |id, _| removals.iter().any(|&(r, _)| r == id), &|id, _| {
                removals.iter().find(|&&(r, _)| r == id).map_or(DisconnectReason::Expired, |r| r.1)
            });
        }
        if !after.failures.is_empty() {
            self.failures.fetch_add(after.failures.len() as u64, Ordering::Relaxed);
            for (receiver, message) in after.failures {
                observe::failed(self.name, self.id, receiver, message);
            }
        }
    }

    /// Removes receivers matching `which`, firing `disconnected` for each.
    /// Returns how many were removed.
    ///
    /// The callbacks are trait objects: one instantiation per payload type
    /// (issue 14).
    #[inline(never)]
    pub(crate) fn remove(
        &self,
        which: &mut dyn FnMut(u64, &SlotRef) -> bool,
        reason: &dyn Fn(u64, &SlotRef) -> DisconnectReason,
    ) -> usize {
        let removed = self.subs.remove_where(which);
        let n = removed.len();
        if n != 0 {
            // This thread's cached snapshot may hold the last reference to
            // what was removed: let it go now (see `local`).
            local::evict(self.id);
        }
        for ((id, priority), slot) in removed {
            // A queued receiver's consumer ends once its queue is drained,
            // now, not when the last snapshot holding the slot lets go.
            if let Some(backlog) = slot.0.backlog() {
                backlog.detached();
            }
            if observe::wants_disconnected() {
                let reason = reason(id, &slot);
                observe::disconnected(
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
            self.remove(&mut |_, s| s.0.expiry().is_some(), &|_, s| {
                s.0.expiry().unwrap_or(DisconnectReason::Expired)
            });
        }
    }

    /// Whether `slot` is live: connected and able to run again.
    pub(crate) fn live(slot: &SlotRef) -> bool {
        slot.0.expiry().is_none()
    }
}

/// The source filter that accepts what `old` and `new` accept (empty:
/// any source), or `None` if that is `old` already.
pub(crate) fn widened(
    old: &[Cow<'static, str>],
    new: &[Cow<'static, str>],
) -> Option<Vec<Cow<'static, str>>> {
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

impl Base {
    fn detach(&self, id: u64, reason: DisconnectReason) -> bool {
        self.remove(&mut |i, _| i == id, &|_, _| reason) == 1
    }

    fn is_attached(&self, id: u64) -> bool {
        // A query: it reads, removes nothing and runs no user code.
        let snap = self.subs.load();
        snap.keys().zip(snap.items()).any(|((i, _), s)| i == id && Self::live(s))
    }
}

impl<T: Send + Sync + 'static> Detach for Core<T> {
    fn detach(&self, id: u64, reason: DisconnectReason) -> bool {
        self.base.detach(id, reason)
    }

    fn is_attached(&self, id: u64) -> bool {
        self.base.is_attached(id)
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

impl Base {
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

/// Sets the `seq` of an envelope nobody else holds yet.
pub(crate) fn number<T>(event: &mut Arc<Event<T>>, seq: u64) {
    // Unshared by contract (see `Core::record`): `get_mut` always succeeds.
    if let Some(event) = Arc::get_mut(event) {
        event.seq = seq;
    }
}

/// Ordered turns a thread records (deeper nesting is not recorded).
const HELD_MAX: usize = 8;

thread_local! {
    /// The ids of the ordered signals whose turns this thread holds,
    /// outermost first, and how many it holds.
    static HELD: ([std::cell::Cell<u64>; HELD_MAX], std::cell::Cell<usize>) =
        const { ([const { std::cell::Cell::new(0) }; HELD_MAX], std::cell::Cell::new(0)) };
}

impl Base {
    /// Whether this thread holds this (ordered) signal's dispatch turn,
    /// at any depth: an emit from here is delivered only after that
    /// dispatch returns. Turns nested deeper than [`HELD_MAX`] are not
    /// recorded.
    pub(crate) fn turn_held_here(&self) -> bool {
        HELD.with(|(ids, depth)| {
            ids[..depth.get().min(HELD_MAX)].iter().any(|i| i.get() == self.id)
        })
    }
}

impl<T: Send + Sync + 'static> Core<T> {
    /// A signal's state, with no receivers.
    pub(crate) fn new(name: &'static str, ordered: bool, registered: bool) -> Self {
        Core {
            base: Base::new(name, ordered, registered),
            extras: OnceLock::new(),
            ordered: ordered.then(|| {
                Box::new(Ordered { turn: AtomicU8::new(0), queue: Mutex::new(VecDeque::new()) })
            }),
        }
    }
}

impl Base {
    /// The untyped state of a new signal.
    #[inline(never)]
    fn new(name: &'static str, ordered: bool, registered: bool) -> Self {
        let base = Base {
            name,
            id: if registered { local::registered_id() } else { next_id() },
            subs: Subscribers::new(),
            seq: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            emits: OnceLock::new(),
        };
        // `STATS` and `GLOBAL` are set when the signal is listed
        // (`observe::gate`).
        if ordered {
            base.subs.set_bits(ORDERED);
        }
        base
    }

    /// Sets or clears [`GLOBAL`] (for [`observe`]'s list of signals).
    fn set_global(&self, on: bool) {
        if on {
            self.subs.set_bits(GLOBAL);
        } else {
            self.subs.clear_bits(GLOBAL);
        }
    }
}

/// Every signal is on [`observe`]'s list, which pushes [`GLOBAL`] and
/// [`STATS`] to it.
impl<T: Send + Sync + 'static> observe::Gated for Core<T> {
    fn set_global(&self, on: bool) {
        self.base.set_global(on);
    }
    fn set_counting(&self, on: bool) {
        if on {
            self.base.subs.set_bits(STATS);
        } else {
            self.base.subs.clear_bits(STATS);
        }
    }
    fn touch(&self) {
        self.base.subs.touch();
    }
}

/// A signal dropped with receivers still connected reports each removal.
impl Drop for Base {
    fn drop(&mut self) {
        local::evict(self.id);
        observe::ungate();
        if self.subs.len() == 0 {
            return;
        }
        let snap = self.subs.load();
        for slot in snap.items() {
            if let Some(backlog) = slot.0.backlog() {
                backlog.detached();
            }
        }
        if !observe::wants_disconnected() {
            return;
        }
        for (slot, (id, priority)) in snap.items().iter().zip(snap.keys()) {
            let info = ReceiverInfo::of(id, priority, slot);
            observe::disconnected(self.name, self.id, info, DisconnectReason::SignalDropped);
        }
    }
}
