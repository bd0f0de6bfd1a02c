//! Floor 1: the copy-on-write subscriber list.
//!
//! This is the only concurrency-critical code in the crate. Everything else
//! builds on the four operations here, so the invariants are spelled out
//! once, next to the fields they constrain.
//!
//! # Design
//!
//! A signal's receivers live in an immutable [`Snapshot`]: a sorted slice,
//! never mutated after it is published. Readers (emitters) take the current
//! snapshot with one lock-free [`arc_swap::ArcSwap::load`] and walk it; they
//! never block and never allocate. Writers (connect, disconnect, clean-up)
//! serialise on a mutex, copy the current slice with the change applied,
//! and publish the copy with a single store. An emit that loaded the old
//! snapshot finishes on the old snapshot; the next emit sees the new one.
//! Lists that never had an entry share one empty snapshot per item type,
//! so an idle signal allocates none.
//!
//! Beside the snapshot sit two plain atomics that let the hot path skip work:
//!
//! * `word` answers "is anybody listening?" with one load, so an emit on a
//!   signal nobody listens to costs a single atomic load. Its low 32 bits
//!   are the receiver count ([`LEN`]); the high 32 belong to the owner
//!   (a signal keeps its state there: flags, mute count, the global gate),
//!   so one load tells the hot path both whether anyone listens and
//!   whether anything else wants the emit;
//! * `version` lets a publisher-side cache ([`crate::Publisher`]) keep an
//!   `Arc` of the snapshot and revalidate it with one load instead of paying
//!   for `ArcSwap::load` on every emit.
//!
//! # Invariants
//!
//! 1. `current` is only replaced while `writer` is held, so two writers never
//!    race on a read-modify-write and no update is lost.
//! 2. Entries of a snapshot are sorted by priority (descending), then by id
//!    (ascending). Ids come from `writer`'s counter and only grow, so id
//!    order is connection order.
//! 3. After a writer stores a snapshot it updates the count in `word` and
//!    then bumps `version`, both before releasing `writer`. A reader that observes
//!    version `v` (Acquire) and then loads `current` gets the snapshot of
//!    version `v` or a later one, never an earlier one.
//! 4. No user code runs while `writer` is held: removed entries are handed
//!    back to the caller, which drops them (possibly running user `Drop`
//!    code) after the lock is released. A receiver that connects or
//!    disconnects from inside a dispatch therefore cannot deadlock, and a
//!    panic in user code cannot poison the lock.
//!
//! Under `--cfg loom` the snapshot cell is a loom atomic index into the
//! snapshots published so far (standing in for arc-swap's pointer, which is
//! not instrumented for loom; its own guarantees are taken as given), and
//! the writer lock and `word`/`version` are loom types, so loom explores
//! every interleaving and every permitted reordering of the protocol above.
//! Weakening the `version` orderings to `Relaxed` makes
//! `loom_version_then_snapshot_is_never_stale` fail.

use std::sync::Arc;

use std::sync::atomic::Ordering;

#[cfg(loom)]
use crate::loom::AtomicUsize;
use crate::loom::{AtomicU64, Mutex};

/// The receiver-count bits of [`Subscribers::word`]: the low 32. The
/// owner's bits ([`Subscribers::set_bits`]) are the high 32.
pub(crate) const LEN: u64 = 0xFFFF_FFFF;

/// Per-item facts a snapshot summarises so the hot path can test them once
/// per emit instead of once per receiver.
pub(crate) trait Flags {
    /// Bit set describing this item; snapshots OR them together.
    fn flags(&self) -> u8;
}

/// An immutable, sorted list of receivers.
pub(crate) struct Snapshot<E> {
    /// The receivers, in dispatch order. Kept apart from `keys` so the
    /// dispatch loop walks a dense slice of the items it calls.
    items: Box<[E]>,
    /// `(id, priority)` of `items[i]`, same index, 12 bytes each (see
    /// [`Key`]).
    keys: Box<[Key]>,
    /// OR of every item's [`Flags::flags`].
    flags: u8,
}

/// A receiver's `(id, priority)` as a snapshot stores it: packed to 12
/// bytes (4-byte alignment) instead of the tuple's 16, because a
/// snapshot's key block is a heap allocation per snapshot and the
/// allocator rounds it up: with two receivers 24 bytes fit the smallest
/// block where 32 took the next (usable 24 against 40 with glibc), which
/// is what brings a pattern attachment under issue 11's 128 bytes (W5).
/// Its fields are only ever read by value (a reference into a packed
/// struct is refused by the compiler), so packing needs no `unsafe`.
#[derive(Clone, Copy)]
#[repr(C, packed(4))]
struct Key {
    id: u64,
    priority: i32,
}

impl Key {
    #[inline]
    fn new((id, priority): (u64, i32)) -> Self {
        Key { id, priority }
    }

    #[inline]
    fn get(self) -> (u64, i32) {
        (self.id, self.priority)
    }
}

impl<E> Snapshot<E> {
    fn empty() -> Self {
        Snapshot { items: Box::new([]), keys: Box::new([]), flags: 0 }
    }

    /// The receivers in dispatch order.
    #[inline]
    pub(crate) fn items(&self) -> &[E] {
        &self.items
    }

    /// `(id, priority)` of each receiver, in dispatch order.
    pub(crate) fn keys(&self) -> impl ExactSizeIterator<Item = (u64, i32)> + '_ {
        self.keys.iter().map(|k| k.get())
    }

    /// `(id, priority)` of `items()[at]`.
    ///
    /// # Panics
    ///
    /// If `at` is out of bounds.
    pub(crate) fn key(&self, at: usize) -> (u64, i32) {
        self.keys[at].get()
    }

    /// OR of the flags of every receiver.
    #[inline]
    pub(crate) fn flags(&self) -> u8 {
        self.flags
    }

    /// Number of receivers.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
}

impl<E: Clone + Flags> Snapshot<E> {
    fn from_parts(items: Vec<E>, keys: Vec<Key>) -> Self {
        let flags = items.iter().fold(0, |acc, e| acc | e.flags());
        Snapshot { items: items.into_boxed_slice(), keys: keys.into_boxed_slice(), flags }
    }

    /// A copy without the entries for which `remove` says true; the removed
    /// items are pushed to `out`.
    fn without(&self, remove: &mut dyn FnMut((u64, i32), &E) -> bool, out: &mut Vec<E>) -> Self {
        let mut items = Vec::with_capacity(self.items.len());
        let mut keys = Vec::with_capacity(self.items.len());
        for (item, key) in self.items.iter().zip(self.keys.iter()) {
            if remove(key.get(), item) {
                out.push(item.clone());
            } else {
                items.push(item.clone());
                keys.push(*key);
            }
        }
        Snapshot::from_parts(items, keys)
    }
}

/// What a reader holds while it walks a snapshot.
#[cfg(not(loom))]
pub(crate) type Loaded<E> = arc_swap::Guard<Arc<Snapshot<E>>>;
/// What a reader holds while it walks a snapshot.
#[cfg(loom)]
pub(crate) type Loaded<E> = Arc<Snapshot<E>>;

/// The cell holding the current snapshot.
#[cfg(not(loom))]
struct Cell<E>(arc_swap::ArcSwap<Snapshot<E>>);
/// Under loom: an atomic index into an append-only store of every
/// snapshot ever published. Loom sees the index as a real atomic, so it
/// explores which snapshot a reader may observe under each memory
/// ordering, as it would for arc-swap's pointer (whose `load` and `swap`
/// are at least Acquire and AcqRel). The store is plain storage behind a
/// std mutex, never held across a loom operation.
#[cfg(loom)]
struct Cell<E> {
    index: AtomicUsize,
    store: std::sync::Mutex<Vec<Arc<Snapshot<E>>>>,
}

#[cfg(not(loom))]
impl<E> Cell<E> {
    fn new(s: Arc<Snapshot<E>>) -> Self {
        Cell(arc_swap::ArcSwap::new(s))
    }
    #[inline]
    fn load(&self) -> Loaded<E> {
        self.0.load()
    }
    fn load_full(&self) -> Arc<Snapshot<E>> {
        self.0.load_full()
    }
    fn store(&self, s: Arc<Snapshot<E>>) -> Arc<Snapshot<E>> {
        self.0.swap(s)
    }
}

#[cfg(loom)]
impl<E> Cell<E> {
    fn new(s: Arc<Snapshot<E>>) -> Self {
        Cell { index: AtomicUsize::new(0), store: std::sync::Mutex::new(vec![s]) }
    }
    fn get(&self, i: usize) -> Arc<Snapshot<E>> {
        self.store.lock().unwrap()[i].clone()
    }
    fn load(&self) -> Loaded<E> {
        self.get(self.index.load(Ordering::Acquire))
    }
    fn load_full(&self) -> Arc<Snapshot<E>> {
        self.load()
    }
    fn store(&self, s: Arc<Snapshot<E>>) -> Arc<Snapshot<E>> {
        let i = {
            let mut store = self.store.lock().unwrap();
            store.push(s);
            store.len() - 1
        };
        let old = self.index.swap(i, Ordering::AcqRel);
        self.get(old)
    }
}

/// A signal's receivers: a published snapshot plus the writer lock.
pub(crate) struct Subscribers<E> {
    /// The published snapshot. Replaced only under `writer` (invariant 1).
    current: Cell<E>,
    /// `current.len()` in the low 32 bits ([`LEN`]), updated after
    /// `current` (invariant 3); the owner's bits in the high 32. Every
    /// change is a read-modify-write of its own bits (the count's under
    /// `writer`, the owner's under the owner's rules), so no change is
    /// lost to another. Read with `Relaxed`: it only decides whether to
    /// do any work; the data a reader then touches is reached through
    /// `current`, which carries its own synchronisation. A reader that
    /// happens-after a writer's update sees it or a later one
    /// (read-write coherence), so an emit that starts after `connect`
    /// returned never misses the new receiver.
    word: AtomicU64,
    /// Incremented (Release) after every store to `current`. Readers that
    /// cache a snapshot load it with Acquire before reloading `current`.
    version: AtomicU64,
    /// Serialises writers; holds the next receiver id.
    writer: Mutex<u64>,
}

/// The empty snapshot of `E`, one per type for the whole process: a list
/// that never had an entry allocates no snapshot of its own (an idle
/// signal is that much smaller). Taken under a lock, once per list
/// created; never on a read path.
fn shared_empty<E: Send + Sync + 'static>() -> Arc<Snapshot<E>> {
    use std::any::{Any, TypeId};
    use std::collections::BTreeMap;
    type Empties = BTreeMap<TypeId, Box<dyn Any + Send + Sync>>;
    // A std mutex even under loom: lists are created outside the modelled
    // interleavings, and nothing here is part of the protocol.
    static EMPTIES: std::sync::Mutex<Empties> = std::sync::Mutex::new(BTreeMap::new());
    let mut empties = EMPTIES.lock().unwrap_or_else(|e| e.into_inner());
    let empty = empties
        .entry(TypeId::of::<E>())
        .or_insert_with(|| Box::new(Arc::new(Snapshot::<E>::empty())));
    empty.downcast_ref::<Arc<Snapshot<E>>>().expect("keyed by its type").clone()
}

impl<E: Clone + Flags + Send + Sync + 'static> Subscribers<E> {
    /// An empty list.
    pub(crate) fn new() -> Self {
        Subscribers {
            current: Cell::new(shared_empty()),
            word: AtomicU64::new(0),
            version: AtomicU64::new(0),
            writer: Mutex::new(1),
        }
    }
}

impl<E: Clone + Flags> Subscribers<E> {
    /// The current snapshot, lock-free.
    #[inline]
    pub(crate) fn load(&self) -> Loaded<E> {
        self.current.load()
    }

    /// The current snapshot as an owned `Arc` (for caches).
    pub(crate) fn load_full(&self) -> Arc<Snapshot<E>> {
        self.current.load_full()
    }

    /// The number of receivers in the latest snapshot: one atomic load.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        (self.word() & LEN) as usize
    }

    /// The receiver count ([`LEN`]) and the owner's bits, in one load
    /// (Relaxed: see the field).
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        self.word.load(Ordering::Relaxed)
    }

    /// Sets owner's `bits` (outside [`LEN`]); returns the word before.
    pub(crate) fn set_bits(&self, bits: u64) -> u64 {
        debug_assert_eq!(bits & LEN, 0);
        self.word.fetch_or(bits, Ordering::Relaxed)
    }

    /// Clears owner's `bits` (outside [`LEN`]); returns the word before.
    pub(crate) fn clear_bits(&self, bits: u64) -> u64 {
        debug_assert_eq!(bits & LEN, 0);
        self.word.fetch_and(!bits, Ordering::Relaxed)
    }

    /// Adds `delta` (a multiple of 2^32, wrapping: a negative step is its
    /// two's complement) to the owner's bits; returns the word before.
    /// The owner keeps its counters from carrying out of the word.
    pub(crate) fn add_bits(&self, delta: u64) -> u64 {
        debug_assert_eq!(delta & LEN, 0);
        self.word.fetch_add(delta, Ordering::Relaxed)
    }

    /// Adds `step` to the owner's bits unless the word's bits under
    /// `field` are `field` already (the counter would carry out); returns
    /// whether it added.
    pub(crate) fn add_bits_below(&self, step: u64, field: u64) -> bool {
        debug_assert_eq!((step | field) & LEN, 0);
        // Relaxed, as every change of the word (see the field).
        self.word
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                (w & field != field).then(|| w.wrapping_add(step))
            })
            .is_ok()
    }

    /// The snapshot version: changes whenever the snapshot is replaced.
    /// Acquire pairs with the Release increment in [`Self::publish`].
    #[inline]
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Adds `item` after every entry of greater or equal priority; returns
    /// its id.
    pub(crate) fn insert(&self, priority: i32, item: E) -> u64 {
        let mut next = lock(&self.writer);
        let id = *next;
        *next += 1;
        let displaced = self.insert_locked(id, priority, item);
        drop(next);
        // Invariant 4: the displaced snapshot may hold the last reference
        // to nothing but shared items here, but drop it unlocked anyway.
        drop(displaced);
        id
    }

    /// [`insert`](Self::insert) once the writer lock is held and the id
    /// drawn; returns the displaced snapshot, for the caller to drop after
    /// unlocking.
    fn insert_locked(&self, id: u64, priority: i32, item: E) -> Arc<Snapshot<E>> {
        let old = self.current.load_full();
        // Invariant 2: the new id is the largest, so it goes after every
        // entry whose priority is >= its own.
        let at = old.keys.partition_point(|k| k.get().1 >= priority);
        let mut items = Vec::with_capacity(old.len() + 1);
        let mut keys = Vec::with_capacity(old.len() + 1);
        items.extend_from_slice(&old.items[..at]);
        keys.extend_from_slice(&old.keys[..at]);
        items.push(item);
        keys.push(Key::new((id, priority)));
        items.extend_from_slice(&old.items[at..]);
        keys.extend_from_slice(&old.keys[at..]);
        self.publish(Snapshot::from_parts(items, keys))
    }

    /// Inserts an entry unless one for which `same` is true is there:
    /// `make(None)` makes the new entry, inserted as by
    /// [`insert`](Self::insert); `make(Some(existing))` may return a
    /// replacement, published in the existing entry's place (same id, same
    /// position), or `None` to leave it. One writer critical section, so
    /// two concurrent calls never both insert. Returns the id and whether
    /// it is new. `make` runs under the writer lock: it must not run user
    /// code (invariant 4).
    ///
    /// The callbacks are trait objects, not generic parameters: this
    /// function is instantiated once per item type, not once per caller's
    /// closures (issue 14: machine code per event type).
    pub(crate) fn insert_unique(
        &self,
        priority: i32,
        same: &dyn Fn(&E) -> bool,
        make: &mut dyn FnMut(Option<&E>) -> Option<E>,
    ) -> (u64, bool) {
        let mut next = lock(&self.writer);
        let old = self.current.load_full();
        if let Some(at) = old.items.iter().position(same) {
            let id = old.key(at).0;
            let Some(replacement) = make(Some(&old.items[at])) else {
                return (id, false);
            };
            let mut items = old.items.to_vec();
            items[at] = replacement;
            let displaced = self.publish(Snapshot::from_parts(items, old.keys.to_vec()));
            drop(next);
            drop(displaced);
            return (id, false);
        }
        let Some(item) = make(None) else {
            return (0, false);
        };
        drop(old);
        let id = *next;
        *next += 1;
        let displaced = self.insert_locked(id, priority, item);
        drop(next);
        drop(displaced);
        (id, true)
    }

    /// Removes the entries for which `remove(id, item)` is true and returns
    /// them (to be dropped by the caller, outside the lock). Publishes
    /// nothing when nothing matched.
    /// (A trait object, as in [`insert_unique`](Self::insert_unique).)
    pub(crate) fn remove_where(
        &self,
        remove: &mut dyn FnMut(u64, &E) -> bool,
    ) -> Vec<((u64, i32), E)> {
        let next = lock(&self.writer);
        let old = self.current.load_full();
        let mut keys = Vec::new();
        let mut out = Vec::new();
        let new = old.without(
            &mut |key, e| {
                let r = remove(key.0, e);
                if r {
                    keys.push(key);
                }
                r
            },
            &mut out,
        );
        if out.is_empty() {
            return Vec::new();
        }
        let displaced = self.publish(new);
        drop(next);
        drop(displaced);
        drop(old);
        keys.into_iter().zip(out).collect()
    }

    /// Removes the entry with `id`; returns it if it was there.
    #[cfg(test)]
    pub(crate) fn remove(&self, id: u64) -> Option<E> {
        self.remove_where(&mut |i, _| i == id).pop().map(|(_, e)| e)
    }

    /// Republishes the current snapshot unchanged, so readers that cache it
    /// (publishers) re-check what they derived from the signal's state.
    pub(crate) fn touch(&self) {
        let next = lock(&self.writer);
        let current = self.current.load_full();
        let copy = Snapshot {
            items: current.items.clone(),
            keys: current.keys.clone(),
            flags: current.flags,
        };
        let displaced = self.publish(copy);
        drop(next);
        drop(displaced);
    }

    /// Whether an entry with `id` is in the current snapshot.
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.load().keys().any(|(i, _)| i == id)
    }

    /// Stores `new` and publishes `len` and `version`. Must be called with
    /// `writer` held (invariant 1); returns the displaced snapshot so the
    /// caller can drop it after unlocking (invariant 4).
    fn publish(&self, new: Snapshot<E>) -> Arc<Snapshot<E>> {
        let len = new.len() as u64;
        assert!(len <= LEN, "more than {LEN} receivers on one signal");
        // (A list emptied by removals gets a fresh empty snapshot: 56
        // bytes, only for lists that had entries.)
        let displaced = self.current.store(Arc::new(new));
        // Invariant 3: the count and `version` move only after `current`.
        // Under `writer` the count bits equal `displaced.len()`, so adding
        // the difference (wrapping) sets them to `len` without touching the
        // owner's bits, which other threads may change meanwhile.
        let delta = len.wrapping_sub(displaced.len() as u64);
        if delta != 0 {
            self.word.fetch_add(delta, Ordering::Relaxed);
        }
        // Release: a reader that acquires this version also sees the store
        // to `current` above.
        self.version.fetch_add(1, Ordering::Release);
        displaced
    }
}

/// Locks a writer mutex, ignoring poison: no user code runs under the lock
/// (invariant 4), so a poisoned lock cannot guard broken state.
fn lock<T>(m: &Mutex<T>) -> impl std::ops::DerefMut<Target = T> + '_ {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Item(&'static str, u8);
    impl Flags for Item {
        fn flags(&self) -> u8 {
            self.1
        }
    }

    fn names(s: &Subscribers<Item>) -> Vec<&'static str> {
        s.load().items().iter().map(|i| i.0).collect()
    }

    #[test]
    fn orders_by_priority_then_connection() {
        let s = Subscribers::new();
        s.insert(0, Item("a", 0));
        s.insert(10, Item("b", 0));
        s.insert(0, Item("c", 0));
        s.insert(10, Item("d", 0));
        s.insert(-5, Item("e", 0));
        assert_eq!(names(&s), ["b", "d", "a", "c", "e"]);
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn the_owners_bits_survive_every_publish_and_the_count_never_touches_them() {
        let s = Subscribers::<Item>::new();
        s.set_bits(1 << 40 | 1 << 63);
        let ids: Vec<_> = (0..5).map(|i| s.insert(0, Item("x", i))).collect();
        assert_eq!(s.word(), 1 << 40 | 1 << 63 | 5);
        s.add_bits(1 << 44);
        for id in &ids[..4] {
            s.remove(*id);
        }
        s.touch();
        assert_eq!(s.word(), 1 << 40 | 1 << 44 | 1 << 63 | 1);
        s.remove(ids[4]);
        s.clear_bits(1 << 40 | 1 << 63);
        s.add_bits((1u64 << 44).wrapping_neg());
        assert_eq!((s.word(), s.len()), (0, 0));
        assert!(s.add_bits_below(1 << 44, 0b11 << 44));
        assert!(s.add_bits_below(1 << 44, 0b11 << 44));
        assert!(s.add_bits_below(1 << 44, 0b11 << 44));
        assert!(!s.add_bits_below(1 << 44, 0b11 << 44), "the field is full");
        assert_eq!(s.word(), 0b11 << 44);
    }

    #[test]
    fn remove_publishes_new_version_and_len() {
        let s = Subscribers::new();
        let a = s.insert(0, Item("a", 1));
        let v0 = s.version();
        s.insert(0, Item("b", 2));
        assert_eq!(s.load().flags(), 3);
        assert!(s.version() > v0);
        assert_eq!(s.remove(a), Some(Item("a", 1)));
        assert_eq!(s.remove(a), None);
        assert!(!s.contains(a));
        assert_eq!(names(&s), ["b"]);
        assert_eq!(s.load().flags(), 2);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn removing_nothing_does_not_publish() {
        let s = Subscribers::new();
        s.insert(0, Item("a", 0));
        let v = s.version();
        assert!(s.remove_where(&mut |_, _| false).is_empty());
        assert_eq!(s.version(), v);
    }

    #[test]
    fn new_lists_share_one_empty_snapshot() {
        let (a, b) = (Subscribers::<Item>::new(), Subscribers::<Item>::new());
        assert!(Arc::ptr_eq(&a.load_full(), &b.load_full()));
        a.insert(0, Item("a", 0));
        assert!(!Arc::ptr_eq(&a.load_full(), &b.load_full()));
        assert_eq!((a.len(), b.len(), b.load().len()), (1, 0, 0));
    }

    #[test]
    fn old_snapshot_survives_writers() {
        let s = Subscribers::new();
        s.insert(0, Item("a", 0));
        let held = s.load_full();
        s.insert(0, Item("b", 0));
        s.remove_where(&mut |_, _| true);
        assert_eq!(held.items(), &[Item("a", 0)]);
        assert_eq!(s.len(), 0);
    }
}

/// Loom models of the protocol: run with
/// `RUSTFLAGS="--cfg loom" cargo test -p mesh --lib --release loom`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    #[derive(Clone, Debug, PartialEq)]
    struct Item(u32);
    impl Flags for Item {
        fn flags(&self) -> u8 {
            0
        }
    }

    /// The word's two halves change concurrently without losing either:
    /// an insert and a remove (the count, under the writer lock) race an
    /// owner's set, add and clear (a signal's flags and mute count,
    /// outside it); once all are done the word is exactly the count plus
    /// the owner's bits.
    #[test]
    fn loom_count_and_owner_bits_never_lose_an_update() {
        loom::model(|| {
            let s = Arc::new(Subscribers::<Item>::new());
            let first = s.insert(0, Item(1));
            let (s1, s2) = (s.clone(), s.clone());
            let w = thread::spawn(move || {
                s1.insert(0, Item(2));
                s1.remove(first);
            });
            let o = thread::spawn(move || {
                s2.set_bits(1 << 40);
                s2.add_bits(1 << 44);
                s2.clear_bits(1 << 40);
            });
            w.join().unwrap();
            o.join().unwrap();
            assert_eq!(s.word(), 1 << 44 | 1);
            assert_eq!(s.load().len(), 1);
        });
    }

    /// Two concurrent writers never lose an update, and a concurrent reader
    /// only ever sees a sorted prefix-consistent snapshot whose `len` agrees
    /// with the published one once writers are done.
    #[test]
    fn loom_concurrent_writers_and_reader() {
        loom::model(|| {
            let s = Arc::new(Subscribers::<Item>::new());
            let s1 = s.clone();
            let s2 = s.clone();
            let s3 = s.clone();
            let w1 = thread::spawn(move || s1.insert(0, Item(1)));
            let w2 = thread::spawn(move || s2.insert(0, Item(2)));
            let r = thread::spawn(move || {
                let snap = s3.load();
                // Whatever the reader sees is internally consistent.
                assert_eq!(snap.items().len(), snap.keys().len());
                let keys: Vec<_> = snap.keys().collect();
                assert!(keys.windows(2).all(|w| w[0].0 < w[1].0));
                snap.len()
            });
            let id1 = w1.join().unwrap();
            let id2 = w2.join().unwrap();
            let seen = r.join().unwrap();
            assert!(seen <= 2);
            assert_ne!(id1, id2);
            assert_eq!(s.len(), 2);
            assert_eq!(s.load().len(), 2);
        });
    }

    /// The publisher cache protocol: read `version` (Acquire), then load
    /// the snapshot. A reader that sees version `v` must see the snapshot
    /// of version `v` or a later one. Snapshots only grow here (v0 = [],
    /// v1 = [1], v2 = [1, 2]), so "at least version v" is "at least v items".
    #[test]
    fn loom_version_then_snapshot_is_never_stale() {
        loom::model(|| {
            let s = Arc::new(Subscribers::<Item>::new());
            let w = {
                let s = s.clone();
                thread::spawn(move || {
                    s.insert(0, Item(1));
                    s.insert(0, Item(2));
                })
            };
            let v = s.version();
            let snap = s.load_full();
            assert!(snap.len() as u64 >= v, "version {v} but {} items", snap.len());
            w.join().unwrap();
            assert_eq!(s.version(), 2);
            assert_eq!(s.len(), 2);
        });
    }

    /// Disconnect concurrent with connect: the surviving set is exact.
    #[test]
    fn loom_remove_concurrent_with_insert() {
        loom::model(|| {
            let s = Arc::new(Subscribers::<Item>::new());
            let a = s.insert(0, Item(1));
            let s2 = s.clone();
            let t = thread::spawn(move || s2.insert(5, Item(2)));
            let removed = s.remove(a);
            let b = t.join().unwrap();
            assert_eq!(removed, Some(Item(1)));
            let snap = s.load();
            assert_eq!(snap.keys().collect::<Vec<_>>(), [(b, 5)]);
            assert_eq!(s.len(), 1);
        });
    }
}
