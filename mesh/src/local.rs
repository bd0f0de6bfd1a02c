//! Floor 3: the per-thread snapshot cache behind [`Signal::emit`].
//!
//! # Why
//!
//! Loading a signal's snapshot from its `ArcSwap` costs two locked
//! instructions (arc-swap claims a debt slot with a sequentially
//! consistent store and pays it back with a compare-and-swap): ~4 ns on
//! the machine of `BENCHMARKS.md`, more than an uncontended
//! `RwLock::read` and more than calling a receiver. A [`Publisher`] avoids
//! it by keeping its own `Arc` of the snapshot and checking with one load
//! of the signal's `version` that it is still current. This module gives
//! every thread that cache for the last few signals it emitted on, so
//! [`Signal::emit`] and an event type's `.emit()` cost what a publisher
//! costs, with no handle to carry.
//!
//! # Design
//!
//! Each thread owns a slot for each registered signal (named signals and
//! event types' static signals, which live as long as the process: their
//! ids carry an index, see [`registered_id`]) and [`WAYS`] slots shared by
//! every other signal, direct-mapped by the signal's id (unique in the
//! process, never reused). A slot holds the signal id, the
//! snapshot version it was loaded at and an `Arc` of it (every signal's
//! snapshot has the same type, whatever its payload type). An emit:
//!
//! 1. reads `version` (Acquire) *before* it looks at its slot, as a
//!    publisher does (`subscribers.rs`, invariant 3): a slot filled at
//!    that version holds that version's snapshot or a later one, never an
//!    earlier one;
//! 2. borrows the slot shared (a `RefCell`: a receiver that emits on the
//!    same signal borrows it too) and, if id and version match, walks the
//!    cached snapshot;
//! 3. otherwise loads the snapshot and decides whether to keep it in the
//!    slot (below); if not, it walks a borrowed load (no reference count
//!    touched), as an emit without the cache would.
//!
//! A slot is filled when it is empty, or on a signal's *second* miss in a
//! row there at the same version:
//!
//! * a slot that held an older snapshot of the same signal drops it at
//!   once and is refilled when the version holds still from one emit to
//!   the next, so a signal whose receivers change flat out costs one
//!   borrowed load per emit, not a reload and a release per change;
//! * a slot held by another signal that was hit since the last miss there
//!   keeps it (a second chance), so emitting round robin over more signals
//!   than slots costs borrowed loads, not an eviction and a reload per
//!   emit, and never evicts a signal that is emitted often.
//!
//! The slow half (a miss) is compiled once: it takes the dispatch as a
//! `&mut dyn FnMut`, so what each payload type adds is only the inlined
//! hit path and that closure (issue 14: machine code per event type).
//!
//! # What a cached snapshot keeps alive
//!
//! A cached snapshot keeps its receivers (closures and what they capture)
//! alive, as a [`Publisher`] does. A disconnected receiver is never
//! *called* again (step 1 sees to that), and:
//!
//! * the thread that disconnects a receiver (or drops a signal, or whose
//!   emit removes spent one-shots and dead weak receivers) drops its own
//!   slot for that signal at once ([`evict`]; from inside a dispatch of
//!   that signal, when the dispatch ends), so on one thread a disconnected
//!   receiver is dropped when `disconnect` returns;
//! * another thread that emitted on the signal keeps at most one snapshot
//!   per slot — one per registered signal it emitted on, [`WAYS`] for all
//!   other signals — until it emits again on that signal (or one sharing
//!   the slot), calls [`release_thread_cache`], or exits.
//!
//! [`Signal::emit`]: crate::Signal::emit
//! [`Publisher`]: crate::Publisher
//! [`Subscribers::load_full`]: crate::subscribers::Subscribers::load_full

use std::cell::{Cell, OnceCell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::receiver::SlotRef;
use crate::subscribers::{Snapshot, Subscribers};

/// Slots per thread.
pub(crate) const WAYS: usize = 8;

/// A cached snapshot.
struct Entry {
    /// The signal's id.
    id: u64,
    /// `Subscribers::version` read before `snap` was loaded.
    version: u64,
    snap: Arc<Snapshot<SlotRef>>,
}

struct Slot {
    entry: RefCell<Option<Entry>>,
    /// Set when the entry had to be dropped while borrowed (an eviction
    /// from inside a dispatch of it): dropped when the borrow ends.
    evict: Cell<bool>,
    /// The id and version of the last miss that did not fill the slot: a
    /// miss by the same signal at the same version fills it.
    waiting: Cell<(u64, u64)>,
    /// Hit since the last miss here by another signal.
    hot: Cell<bool>,
}

impl Slot {
    const fn empty() -> Slot {
        Slot {
            entry: RefCell::new(None),
            evict: Cell::new(false),
            waiting: Cell::new((0, 0)),
            hot: Cell::new(false),
        }
    }
}

/// Slots per chunk of dedicated slots.
const CHUNK: usize = 64;
/// Chunks of dedicated slots: registered signals beyond `CHUNK * CHUNKS`
/// share the direct-mapped slots.
const CHUNKS: usize = 64;

/// [`Signal::id`](crate::Signal::id) bit of a registered signal: the rest
/// of the id is its index among registered signals, which is its
/// dedicated slot.
const REGISTERED: u64 = 1 << 63;

/// A thread's cache.
struct Cache {
    /// Direct-mapped by signal id: anonymous signals, testing scopes'.
    ways: [Slot; WAYS],
    /// One slot per registered signal (named, static: they live as long
    /// as the process), by index, in chunks allocated when the thread
    /// first emits on a signal of the chunk: a program that emits round
    /// robin over hundreds of event types hits its cache on every emit
    /// instead of evicting (issue 14, C5). A chunk is `CHUNK` slots of
    /// ~64 bytes.
    dedicated: [OnceCell<Box<[Slot; CHUNK]>>; CHUNKS],
}

impl Cache {
    /// The shared slot of signal `id`.
    #[inline(always)]
    fn slot(&self, id: u64) -> &Slot {
        &self.ways[id as usize % WAYS]
    }

    /// The dedicated slot of signal `id`, if it is registered (and among
    /// the first `CHUNK * CHUNKS`).
    fn dedicated(&self, id: u64) -> Option<&Slot> {
        self.dedicated_in(id, true)
    }

    /// The dedicated slot of `id`, with its chunk allocated if `allocate`
    /// (else `None` when the chunk was never used).
    fn dedicated_in(&self, id: u64, allocate: bool) -> Option<&Slot> {
        if id & REGISTERED == 0 {
            return None;
        }
        let index = (id & !REGISTERED) as usize;
        let cell = self.dedicated.get(index / CHUNK)?;
        let chunk = if allocate { cell.get_or_init(new_chunk) } else { cell.get()? };
        Some(&chunk[index % CHUNK])
    }

    /// Every slot this thread has.
    fn slots(&self) -> impl Iterator<Item = &Slot> {
        let dedicated = self.dedicated.iter().filter_map(OnceCell::get).flat_map(|c| c.iter());
        self.ways.iter().chain(dedicated)
    }
}

#[cold]
fn new_chunk() -> Box<[Slot; CHUNK]> {
    Box::new([const { Slot::empty() }; CHUNK])
}

thread_local! {
    static CACHE: Cache = const {
        Cache {
            ways: [const { Slot::empty() }; WAYS],
            dedicated: [const { OnceCell::new() }; CHUNKS],
        }
    };
}

/// The id of a new registered signal (unique, never reused, as every
/// signal id): [`REGISTERED`] and its index among registered signals.
pub(crate) fn registered_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // Relaxed: only uniqueness matters, which the RMW gives.
    REGISTERED | NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs `f` on the current snapshot of `subs`, the list of signal `id`,
/// from this thread's cache when it is current (see the module docs).
///
/// `f`'s second argument says which of its two copies runs: `true` in the
/// copy inlined here (a hit in the shared slot), `false` in the one
/// compiled into the miss path. A caller can pick a dispatch loop inlined
/// for the first and shared by all payload types for the second, so a
/// program emitting round robin over hundreds of types runs one loop, not
/// hundreds (issue 14, C5).
#[inline(always)]
pub(crate) fn with_snapshot<R>(
    subs: &Subscribers<SlotRef>,
    id: u64,
    f: impl FnOnce(&Snapshot<SlotRef>, bool) -> R,
) -> R {
    // Under loom the cache is bypassed: the version-then-snapshot protocol
    // it relies on is modelled in `subscribers.rs`.
    #[cfg(loom)]
    if true {
        let _ = id;
        return f(&subs.load(), false);
    }
    // Acquire, before the slot is looked at: see the module docs.
    let version = subs.version();
    let mut f = Some(f);
    let hit = CACHE.try_with(|cache| {
        let slot = cache.slot(id);
        let guard = slot.entry.try_borrow().ok()?;
        let entry = guard.as_ref()?;
        if entry.id != id || entry.version != version {
            return None;
        }
        slot.hot.set(true);
        let r = f.take().map(|f| f(&entry.snap, true));
        drop(guard);
        if slot.evict.get() {
            evict_slot(slot);
        }
        r
    });
    match (hit, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => miss(subs, id, version, f),
        // Unreachable: `f` is taken only on a hit, which returns its value.
        (_, None) => unreachable!("a snapshot callback runs once"),
    }
}

/// The shared slot is empty, another signal's, or stale: walk the
/// signal's dedicated slot if it has a current one, else load the
/// snapshot and (unless the signal is changing, or the slot is borrowed)
/// keep it. Only the dispatch (`f`, called once, through a trait object)
/// is compiled per payload type; the rest is [`miss_erased`].
#[cold]
#[inline(never)]
fn miss<R>(
    subs: &Subscribers<SlotRef>,
    id: u64,
    version: u64,
    f: impl FnOnce(&Snapshot<SlotRef>, bool) -> R,
) -> R {
    let mut f = Some(f);
    let mut r = None;
    miss_erased(subs, id, version, &mut |snap| r = f.take().map(|f| f(snap, false)));
    r.expect("a miss runs the dispatch once")
}

/// [`miss`], compiled once.
fn miss_erased(
    subs: &Subscribers<SlotRef>,
    id: u64,
    version: u64,
    f: &mut dyn FnMut(&Snapshot<SlotRef>),
) {
    // The shared slot's policy runs on every miss, so a registered signal
    // that is emitted often wins its shared slot back (the fast path)
    // even while its dedicated slot serves its misses.
    let shared = shared_keep(id, version);
    let hit = CACHE.try_with(|cache| {
        let slot = cache.dedicated(id)?;
        let guard = slot.entry.try_borrow().ok()?;
        let entry = guard.as_ref().filter(|e| e.id == id && e.version == version)?;
        f(&entry.snap);
        let promote = shared.then(|| entry.snap.clone());
        drop(guard);
        if slot.evict.get() {
            evict_slot(slot);
        }
        Some(promote)
    });
    if let Ok(Some(promote)) = hit {
        if let Some(snap) = promote {
            keep(subs, id, version, Held::Kept(snap, true));
        }
        return;
    }
    let held = if shared || id & REGISTERED != 0 {
        Held::Kept(subs.load_full(), shared)
    } else {
        Held::Borrowed(subs.load())
    };
    let snap: &Snapshot<SlotRef> = match &held {
        Held::Borrowed(snap) => snap,
        Held::Kept(snap, _) => snap,
    };
    f(snap);
    keep(subs, id, version, held);
}

/// A snapshot loaded on a miss.
enum Held {
    /// Walked, then let go: the slot stays as it is.
    Borrowed(crate::subscribers::Loaded<SlotRef>),
    /// Walked, then kept (unless the signal changed meanwhile) in the
    /// signal's dedicated slot, if it has one, and in the shared slot if
    /// the flag says so.
    Kept(Arc<Snapshot<SlotRef>>, bool),
}

/// Whether a miss keeps its snapshot in the shared slot of `id` (see the
/// module docs); an older snapshot of `id` there is dropped at once.
fn shared_keep(id: u64, version: u64) -> bool {
    CACHE
        .try_with(|cache| {
            let slot = cache.slot(id);
            let Ok(mut entry) = slot.entry.try_borrow_mut() else {
                // An outer emit walks this slot: leave it.
                return false;
            };
            // This signal missed here at this version last time too.
            let again = slot.waiting.get() == (id, version);
            let keep = match entry.as_ref() {
                None => true,
                // An older snapshot of this signal: it drops here (possibly
                // the last reference to receivers disconnected since),
                // before the dispatch; refill once the version holds still.
                Some(e) if e.id == id => {
                    let old = entry.take();
                    drop(entry);
                    drop(old);
                    again
                }
                // Another signal's, hit since the last miss here: it stays
                // (second chance), so signals emitted round robin over
                // more slots than there are do not evict a hot one.
                Some(_) if slot.hot.replace(false) => false,
                // Another signal's, cold: taken over on this signal's
                // second miss in a row here.
                Some(_) => again,
            };
            if !keep {
                slot.waiting.set((id, version));
            }
            keep
        })
        .unwrap_or(false)
}

/// [`miss`]'s second half, after the dispatch: keeps the snapshot.
fn keep(subs: &Subscribers<SlotRef>, id: u64, version: u64, held: Held) {
    let Held::Kept(snap, shared) = held else { return };
    if subs.version() != version {
        // The receivers changed during the dispatch (a receiver
        // disconnected itself, a one-shot was spent): this snapshot may
        // hold the last reference to what was removed, and this thread's
        // `evict` found nothing to drop yet. Not kept: it drops here.
        return;
    }
    let _ = CACHE.try_with(|cache| {
        if let Some(slot) = cache.dedicated(id) {
            if let Ok(mut entry) = slot.entry.try_borrow_mut() {
                // Unless a nested emit filled it meanwhile at this version.
                if entry.as_ref().is_none_or(|e| e.version != version) {
                    let old = entry.replace(Entry { id, version, snap: snap.clone() });
                    drop(entry);
                    drop(old);
                }
            }
        }
        if !shared {
            return;
        }
        let slot = cache.slot(id);
        if let Ok(mut entry) = slot.entry.try_borrow_mut() {
            // Unless a nested emit filled it meanwhile with this signal.
            if entry.as_ref().is_none_or(|e| e.id != id) {
                // The displaced snapshot (another signal's) drops after the
                // borrow ends.
                let old = entry.replace(Entry { id, version, snap });
                slot.waiting.set((0, 0));
                slot.hot.set(false);
                drop(entry);
                drop(old);
            }
        }
    });
}

fn evict_slot(slot: &Slot) {
    if let Ok(mut entry) = slot.entry.try_borrow_mut() {
        slot.evict.set(false);
        let old = entry.take();
        drop(entry);
        drop(old);
    } else {
        slot.evict.set(true);
    }
}

/// Drops this thread's cached snapshot of signal `id`, if it has one: its
/// receivers changed (or it is being dropped) on this thread.
pub(crate) fn evict(id: u64) {
    let _ = CACHE.try_with(|cache| {
        for slot in std::iter::once(cache.slot(id)).chain(cache.dedicated_in(id, false)) {
            let mine = match slot.entry.try_borrow() {
                Ok(entry) => entry.as_ref().is_some_and(|e| e.id == id),
                // Borrowed: an emit walks it, maybe of this signal.
                Err(_) => true,
            };
            if mine {
                evict_slot(slot);
            }
        }
    });
}

/// Drops every receiver snapshot this thread caches.
///
/// [`Signal::emit`](crate::Signal::emit) keeps, per thread, the receiver
/// list of each named signal and event type it emitted on, and of the last
/// few other signals, so the next emit checks it with one load instead of
/// loading it anew. A receiver disconnected on
/// another thread is never called again, but its closure (and what it
/// captured) is dropped only once every thread that cached a list holding
/// it has emitted on that signal again, exited, or called this. The thread
/// that disconnects never holds it back. A thread about to idle for a long
/// time can call this if that matters.
///
/// ```
/// use mesh::Signal;
/// use std::sync::Arc;
/// let s = Signal::<u8>::new();
/// let captured = Arc::new(());
/// let held = captured.clone();
/// let c = s.connect(move |_: &u8| {
///     let _ = &held;
/// });
/// std::thread::scope(|t| {
///     t.spawn(|| {
///         s.emit(1); // this thread now caches the receiver list
///         mesh::release_thread_cache(); // ... and lets it go
///     });
/// });
/// c.disconnect();
/// assert_eq!(Arc::strong_count(&captured), 1, "nothing holds the closure");
/// ```
pub fn release_thread_cache() {
    let _ = CACHE.try_with(|cache| {
        for slot in cache.slots() {
            evict_slot(slot);
        }
    });
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The version this thread caches for signal `id`, if any.
    pub(crate) fn cached(id: u64) -> Option<u64> {
        CACHE.with(|cache| {
            let shared = cache.slot(id).entry.borrow();
            let shared = shared.as_ref().filter(|e| e.id == id).map(|e| e.version);
            let dedicated = cache.dedicated_in(id, false).and_then(|slot| {
                slot.entry.borrow().as_ref().filter(|e| e.id == id).map(|e| e.version)
            });
            shared.max(dedicated)
        })
    }

    /// Connects a receiver that keeps a capture alive; returns the
    /// capture (its strong count tells whether the receiver still lives)
    /// and the connection.
    fn holding(s: &crate::Signal<u8>) -> (Arc<()>, crate::Connection) {
        let held = Arc::new(());
        let h = held.clone();
        let c = s.connect(move |_: &u8| {
            let _ = &h;
        });
        (held, c)
    }

    #[test]
    fn emits_fill_and_reuse_the_slot() {
        let s = crate::Signal::<u8>::new();
        s.connect(|_: &u8| {});
        assert_eq!(cached(s.id()), None);
        s.emit(1);
        let v = cached(s.id()).expect("cached after the first emit");
        s.emit(2);
        assert_eq!(cached(s.id()), Some(v));
    }

    #[test]
    fn a_changed_signal_is_refilled_once_it_holds_still() {
        let s = crate::Signal::<u8>::new();
        s.connect(|_: &u8| {});
        s.emit(1);
        let v = cached(s.id()).expect("cached");
        // Connected on another thread: this thread's slot is stale.
        std::thread::scope(|t| {
            t.spawn(|| s.connect(|_: &u8| {}));
        });
        assert_eq!(s.emit(2).delivered, 2, "the stale slot is never walked");
        assert_eq!(cached(s.id()), None, "a borrowed load while it changes");
        assert_eq!(s.emit(3).delivered, 2);
        assert!(cached(s.id()).is_some_and(|w| w > v), "refilled once still");
    }

    #[test]
    fn a_hot_signal_keeps_its_slot_against_a_round_robin() {
        let a = crate::Signal::<u8>::new();
        a.connect(|_: &u8| {});
        // A signal sharing `a`'s slot.
        let b = loop {
            let s = crate::Signal::<u8>::new();
            if s.id() as usize % WAYS == a.id() as usize % WAYS {
                break s;
            }
        };
        b.connect(|_: &u8| {});
        a.emit(1);
        for _ in 0..10 {
            assert_eq!(a.emit(1).delivered, 1);
            assert_eq!(b.emit(1).delivered, 1, "a miss walks a borrowed load");
            assert!(cached(a.id()).is_some(), "hit since the last miss: it stays");
        }
        // Once `a` goes quiet, `b` takes the slot on its second miss in a row.
        b.emit(1);
        b.emit(1);
        assert!(cached(b.id()).is_some() && cached(a.id()).is_none());
    }

    #[test]
    fn disconnecting_on_this_thread_evicts_at_once() {
        let s = crate::Signal::<u8>::new();
        let (held, c) = holding(&s);
        s.emit(1);
        assert_eq!(Arc::strong_count(&held), 2);
        c.disconnect();
        assert_eq!(Arc::strong_count(&held), 1);
        assert_eq!(cached(s.id()), None);
    }

    #[test]
    fn a_receiver_disconnecting_itself_is_dropped_when_the_dispatch_ends() {
        let s = crate::Signal::<u8>::new();
        let held = Arc::new(());
        let h = held.clone();
        let conn = Arc::new(std::sync::Mutex::new(None::<crate::Connection>));
        let c2 = conn.clone();
        s.connect(|_: &u8| {});
        s.emit(0); // cached
        let c = s.connect(move |_: &u8| {
            let _ = &h;
            if let Some(c) = c2.lock().unwrap().take() {
                c.disconnect();
            }
        });
        *conn.lock().unwrap() = Some(c);
        s.emit(1); // refill is deferred: the signal just changed
        s.emit(2); // cached again, and the receiver disconnects itself
        assert_eq!(s.receiver_count(), 1);
        drop(conn);
        assert_eq!(Arc::strong_count(&held), 1, "evicted after the dispatch");
    }

    /// On a thread's first emit (a miss), a receiver that disconnects
    /// itself, or a one-shot, is not kept alive by the snapshot the miss
    /// loaded.
    #[test]
    fn a_miss_does_not_keep_receivers_removed_during_its_dispatch() {
        std::thread::spawn(|| {
            let s = crate::Signal::<u8>::new();
            let held = Arc::new(());
            let h = held.clone();
            s.connect_once(move |_: &u8| {
                let _ = &h;
            });
            assert_eq!(s.emit(1).delivered, 1);
            assert_eq!(s.receiver_count(), 0);
            assert_eq!(Arc::strong_count(&held), 1, "the spent one-shot is dropped");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn another_threads_cache_holds_a_disconnected_receiver_until_it_lets_go() {
        let s = crate::Signal::<u8>::new();
        let (held, c) = holding(&s);
        // Another receiver stays, so the next emit walks a list (an emit
        // with nobody listening returns before looking at the cache).
        s.connect(|_: &u8| {});
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let s = &s;
        std::thread::scope(move |t| {
            t.spawn(move || {
                s.emit(1); // caches the list
                done.send(()).unwrap();
                wait.recv().unwrap();
                assert_eq!(s.emit(2).delivered, 1, "never called once disconnected");
                done.send(()).unwrap();
                wait.recv().unwrap();
            });
            finished.recv().unwrap();
            c.disconnect();
            // The bound: until that thread emits again, it holds one list.
            assert_eq!(Arc::strong_count(&held), 2);
            go.send(()).unwrap();
            finished.recv().unwrap();
            assert_eq!(Arc::strong_count(&held), 1, "its next emit let go");
            go.send(()).unwrap();
        });
    }

    #[test]
    fn registered_signals_keep_their_own_slots() {
        static NS: crate::Namespace = crate::Namespace::new("local.tests.dedicated");
        let signals: Vec<_> = (0..4 * WAYS)
            .map(|i| {
                let s = NS.signal::<u8>(&format!("s{i}")).unwrap();
                s.connect(|_: &u8| {});
                s
            })
            .collect();
        // Round robin over more signals than shared slots, twice: the first
        // round fills each signal's own slot, the second hits every one.
        for _ in 0..2 {
            for s in &signals {
                assert_eq!(s.emit(1).delivered, 1);
            }
        }
        assert!(signals.iter().all(|s| cached(s.id()).is_some()), "each has its slot");
        // An anonymous signal taking over a shared slot leaves every
        // registered signal its own.
        let anonymous = crate::Signal::<u8>::new();
        anonymous.connect(|_: &u8| {});
        for _ in 0..3 {
            anonymous.emit(1);
        }
        assert!(cached(anonymous.id()).is_some());
        assert!(signals.iter().all(|s| cached(s.id()).is_some()), "still each its own");
        release_thread_cache();
        assert!(signals.iter().all(|s| cached(s.id()).is_none()), "released");
    }

    #[test]
    fn another_thread_caches_at_most_ways_snapshots() {
        let held = Arc::new(());
        let signals: Vec<_> = (0..4 * WAYS)
            .map(|_| {
                let s = crate::Signal::<u8>::new();
                let h = held.clone();
                s.connect(move |_: &u8| {
                    let _ = &h;
                });
                s
            })
            .collect();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let theirs = signals.clone();
        // Not a scoped thread: `join` waits for the thread's thread-local
        // destructors too (a scope may end before they ran).
        let thread = std::thread::spawn(move || {
            for s in &theirs {
                s.emit(1);
            }
            done.send(()).unwrap();
            wait.recv().unwrap();
        });
        finished.recv().unwrap();
        let removed: usize = signals.iter().map(|s| s.disconnect_all()).sum();
        assert_eq!(removed, 4 * WAYS);
        let kept = Arc::strong_count(&held) - 1;
        assert!(kept <= WAYS, "{kept} receivers held by the other thread's cache");
        go.send(()).unwrap();
        thread.join().unwrap();
        assert_eq!(Arc::strong_count(&held), 1, "released when the thread exits");
    }
}
