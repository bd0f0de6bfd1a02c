//! The event envelope: [`Event<T>`] and its [`Metadata`].
//!
//! An envelope wraps a payload with the facts a subscriber may want to know
//! about one occurrence: a unique, time-ordered id, the signal's name, when
//! and by whom it was emitted, free-form metadata, and its sequence number.
//!
//! Envelopes cost an id and a clock read, so a signal builds one only when
//! something needs it: a receiver that takes `&Event<T>`, or a caller that
//! emits a prepared event. A signal whose receivers all take `&T` never
//! builds one.
//!
//! # Ids
//!
//! Ids are [UUID version 7](https://www.rfc-editor.org/rfc/rfc9562#section-5.7):
//! 48 bits of Unix milliseconds, then a per-thread 18-bit counter (reseeded
//! at random every millisecond), then 56 random bits. Ids made by one thread
//! strictly increase; ids made by different threads are ordered to the
//! millisecond only (within one millisecond, two threads' ids interleave
//! in no particular order, even on an `ordered` signal: use `seq` for
//! dispatch order) and unique with overwhelming probability. No lock or
//! shared atomic is touched, so concurrent emitters do not contend on id
//! creation.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use uuid::Uuid;

mod any;
pub use any::AnyEvent;

/// What an effect needs of the event that caused it: its id and
/// metadata (for correlation; see [`effects`](crate::effects)).
/// Implemented by [`Event`] and [`AnyEvent`].
pub trait Cause {
    /// The causing event's id.
    fn cause_id(&self) -> Uuid;
    /// Its metadata.
    fn cause_metadata(&self) -> &Metadata;
}

impl<T> Cause for Event<T> {
    fn cause_id(&self) -> Uuid {
        self.id
    }
    fn cause_metadata(&self) -> &Metadata {
        &self.metadata
    }
}

impl Cause for AnyEvent<'_> {
    fn cause_id(&self) -> Uuid {
        self.id()
    }
    fn cause_metadata(&self) -> &Metadata {
        self.metadata()
    }
}
pub(crate) use any::PayloadView;

/// String-keyed metadata carried by an [`Event`].
///
/// Keys are usually `&'static str` (stored without allocating); values are
/// strings, so metadata maps one to one onto message headers when events
/// cross processes. Iteration is in key order.
///
/// ```
/// use mesh::Metadata;
/// let mut m = Metadata::new();
/// m.insert("correlation-id", "42");
/// assert_eq!(m.get("correlation-id"), Some("42"));
/// assert_eq!(m.len(), 1);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
// Boxed on purpose: an envelope carries 8 bytes for its metadata instead of
// 24, and only events that carry metadata pay the extra allocation.
#[allow(clippy::box_collection)]
pub struct Metadata(
    /// `None` when empty (never `Some` of an empty map, so the derived
    /// comparisons hold): most envelopes carry no metadata, and an empty
    /// `Option` is dropped with one test, where an empty `BTreeMap` walks
    /// its drop machinery (~3 ns per envelope, measured).
    Option<Box<BTreeMap<Cow<'static, str>, String>>>,
);

impl Metadata {
    /// Empty metadata; does not allocate.
    pub const fn new() -> Self {
        Metadata(None)
    }

    /// Sets `key` to `value`; returns the previous value.
    pub fn insert(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Option<String> {
        self.0.get_or_insert_default().insert(key.into(), value.into())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.as_ref()?.get(key).map(String::as_str)
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let map = self.0.as_mut()?;
        let value = map.remove(key);
        if map.is_empty() {
            self.0 = None;
        }
        value
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.as_ref().is_some_and(|m| m.contains_key(key))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().flat_map(|m| m.iter()).map(|(k, v)| (k.as_ref(), v.as_str()))
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<Cow<'static, str>>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let map: BTreeMap<_, _> = iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        Metadata((!map.is_empty()).then(|| Box::new(map)))
    }
}

/// One occurrence of an event: the payload plus its envelope.
///
/// Receivers that take `&Event<T>` get this; receivers that take `&T` get
/// only `data`. Build one yourself with [`Event::new`] to emit with chosen
/// metadata or source ([`Signal::emit_event`](crate::Signal::emit_event));
/// the signal then fills in `name` and `seq`.
///
/// ```
/// use mesh::{Event, Signal};
/// let signal = Signal::<u32>::new();
/// let _c = signal.connect(|ev: &Event<u32>| {
///     assert_eq!(ev.data, 7);
///     assert_eq!(ev.source.as_deref(), Some("sensor"));
///     assert_eq!(ev.metadata.get("unit"), Some("celsius"));
///     assert_eq!(ev.seq, 1);
/// });
/// signal.emit_event(Event::new(7).with_source("sensor").with_meta("unit", "celsius"));
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Event<T> {
    /// Unique, time-ordered id (UUID v7).
    pub id: Uuid,
    /// Full name of the signal that carried it (`""` for an anonymous
    /// signal); set by the signal on emit.
    pub name: &'static str,
    /// The payload.
    pub data: T,
    /// When the event was created.
    pub timestamp: SystemTime,
    /// Who emitted it, if the emitter said (see
    /// [`Signal::emit_from`](crate::Signal::emit_from)).
    pub source: Option<Cow<'static, str>>,
    /// Free-form string metadata.
    pub metadata: Metadata,
    /// Position among the envelopes this signal has built: 1, 2, 3, …
    /// without gaps; set by the signal on emit.
    pub seq: u64,
}

impl<T> Event<T> {
    /// A new envelope around `data`, with a fresh id and the current time,
    /// no source, no metadata. `name` and `seq` are set when it is emitted.
    pub fn new(data: T) -> Self {
        let (id, timestamp) = new_id();
        Event { id, name: "", data, timestamp, source: None, metadata: Metadata::new(), seq: 0 }
    }

    /// An envelope made elsewhere (another process, a store): `data` with
    /// the given id and time, no source, no metadata; no id is made and
    /// no clock is read. `name` and `seq` are set when it is emitted.
    ///
    /// ```
    /// use mesh::Event;
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let id = "01937a9e-7d2a-7c1e-9b1a-2b3c4d5e6f70".parse().unwrap();
    /// let at = UNIX_EPOCH + Duration::from_secs(1_796_310_662);
    /// let ev = Event::from_parts(id, at, 7u32);
    /// assert_eq!((ev.id, ev.timestamp, ev.data), (id, at, 7));
    /// ```
    pub fn from_parts(id: Uuid, timestamp: SystemTime, data: T) -> Self {
        Event { id, name: "", data, timestamp, source: None, metadata: Metadata::new(), seq: 0 }
    }

    /// An envelope for receivers that read only the payload (payload-only
    /// queued receivers): the nil id and the Unix epoch as its time, so no
    /// id is made and no clock is read.
    pub(crate) fn bare(name: &'static str, data: T, source: Option<Cow<'static, str>>) -> Self {
        Event {
            id: Uuid::nil(),
            name,
            data,
            timestamp: SystemTime::UNIX_EPOCH,
            source,
            metadata: Metadata::new(),
            seq: 0,
        }
    }

    /// Sets the source.
    pub fn with_source(mut self, source: impl Into<Cow<'static, str>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Adds one metadata entry.
    pub fn with_meta(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Self {
        self.metadata.insert(key, value);
        self
    }

    /// Replaces the id (for simulated or imported events).
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Replaces the timestamp (for simulated or imported events).
    pub fn with_timestamp(mut self, timestamp: SystemTime) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// Maps the payload, keeping the envelope.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Event<U> {
        Event {
            id: self.id,
            name: self.name,
            data: f(self.data),
            timestamp: self.timestamp,
            source: self.source,
            metadata: self.metadata,
            seq: self.seq,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("seq", &self.seq)
            .field("source", &self.source)
            .field("timestamp", &self.timestamp)
            .field("metadata", &self.metadata)
            .field("data", &self.data)
            .finish()
    }
}

/// Per-thread id state: the last millisecond used, the counter within it,
/// a random-number generator for the tail, and the wall-clock bounds of
/// the millisecond the clock was last in.
///
/// Everything is plain `Copy` data with a `const` initialiser, so the
/// thread-local needs no lazy initialisation and no destructor: one access
/// is a plain load from the thread's block.
struct IdState {
    millis: Cell<u64>,
    counter: Cell<u64>,
    /// 0 until the first id of this thread seeds it.
    rng: Cell<u64>,
    /// The millisecond the last clock read fell in: `clock_ms` since the
    /// epoch spans `[clock_start, clock_end)`. A read inside it skips the
    /// conversion to milliseconds (which costs as much as the rest of the
    /// id: a call into `std` returning through memory).
    clock_ms: Cell<u64>,
    clock_start: Cell<SystemTime>,
    clock_end: Cell<SystemTime>,
}

/// Counter bits (12 in `rand_a`, 6 at the top of `rand_b`).
const COUNTER_BITS: u32 = 18;
/// The counter is reseeded below this so it can grow within a millisecond.
const COUNTER_SEED_MASK: u64 = (1 << (COUNTER_BITS - 1)) - 1;
const COUNTER_MAX: u64 = (1 << COUNTER_BITS) - 1;

thread_local! {
    static ID_STATE: IdState = const {
        IdState {
            millis: Cell::new(0),
            counter: Cell::new(0),
            rng: Cell::new(0),
            clock_ms: Cell::new(0),
            clock_start: Cell::new(UNIX_EPOCH),
            clock_end: Cell::new(UNIX_EPOCH),
        }
    };
}

/// The next value of a per-thread xorshift64* generator: fast, and plenty
/// for the random tail of an id (uniqueness, not secrecy, is the goal).
#[inline]
fn next_random(state: &Cell<u64>) -> u64 {
    let mut x = state.get();
    if x == 0 {
        x = seed();
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    state.set(x);
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// A thread's first seed, from std's randomly keyed hasher (OS
/// randomness); `| 1` keeps the generator off its zero state.
#[cold]
fn seed() -> u64 {
    RandomState::new().hash_one(std::thread::current().id()) | 1
}

/// Milliseconds since the epoch of `now`, from the thread's cached
/// millisecond when `now` falls in it.
#[inline]
fn millis_of(s: &IdState, now: SystemTime) -> u64 {
    if s.clock_start.get() <= now && now < s.clock_end.get() {
        return s.clock_ms.get();
    }
    new_millisecond(s, now)
}

#[cold]
#[inline(never)]
fn new_millisecond(s: &IdState, now: SystemTime) -> u64 {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let ms = since.as_millis() as u64;
    let start = UNIX_EPOCH + Duration::from_millis(ms);
    s.clock_ms.set(ms);
    s.clock_start.set(start);
    s.clock_end.set(start + Duration::from_millis(1));
    ms
}

/// A fresh UUID v7 and the timestamp it encodes (one clock read).
///
/// RFC 9562 method 1 (a counter in the random bits), per thread: 48 bits of
/// Unix milliseconds, the version, 12 counter bits in `rand_a`, the
/// variant, then 6 more counter bits and 56 random bits in `rand_b`. Ids a
/// thread makes increase strictly (the counter is reseeded in the lower
/// half of its range each new millisecond, and borrows the next
/// millisecond if it runs out); ids of different threads and processes
/// differ in their random bits. No lock, no syscall beyond the clock read.
#[inline]
pub(crate) fn new_id() -> (Uuid, SystemTime) {
    let now = SystemTime::now();
    // The closure returns one integer (in registers), not the id: see below.
    let bits = ID_STATE.with(|s| id_bits(s, now));
    (Uuid::from_u128(bits), now)
}

/// The id of [`new_id`] as one integer, from the thread's state `s` and
/// the clock read `now`.
#[inline(never)]
fn id_bits(s: &IdState, now: SystemTime) -> u128 {
    let now_ms = millis_of(s, now);
    let (mut ms, mut counter) = (s.millis.get(), s.counter.get());
    if now_ms > ms {
        ms = now_ms;
        counter = next_random(&s.rng) & COUNTER_SEED_MASK;
    } else if counter >= COUNTER_MAX {
        // Counter exhausted within one millisecond (or the clock went
        // back): borrow the next millisecond so ids keep increasing.
        ms += 1;
        counter = next_random(&s.rng) & COUNTER_SEED_MASK;
    } else {
        counter += 1;
    }
    s.millis.set(ms);
    s.counter.set(counter);
    let tail = next_random(&s.rng);
    // Built as one integer: an id assembled byte by byte, or returned
    // through memory, is read back through a store-forwarding stall
    // (measured: ~8 ns per id each).
    u128::from(ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | u128::from((counter >> 6) & 0xFFF) << 64
        | 0b10 << 62
        | u128::from(counter & 0x3F) << 56
        | u128::from(tail & 0x00FF_FFFF_FFFF_FFFF)
}

/// A type-erased view of one envelope: an entry of the process-wide
/// [`recent`](crate::history::recent) view, or of a testing
/// [`AllRecorder`](crate::testing::AllRecorder).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecentEvent {
    /// Full name of the signal (`""` if anonymous).
    pub name: &'static str,
    /// The envelope id.
    pub id: Uuid,
    /// The envelope's `seq`.
    pub seq: u64,
    /// The envelope's timestamp.
    pub timestamp: SystemTime,
    /// `Debug` of the payload, or `<type name>` when the payload type's
    /// `Debug` is unknown to the signal (see
    /// [`Signal::debug_payloads`](crate::Signal::debug_payloads)).
    pub payload: String,
}

/// How a signal formats its payload for type-erased views, when known.
pub(crate) type DebugFn<T> = fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result;

/// A type-erased envelope, kept behind an `Arc` (no copy of the payload):
/// formats itself on demand.
pub(crate) trait Erased: Send + Sync {
    fn view(&self) -> RecentEvent;
}

/// An envelope with its payload formatter.
pub(crate) struct Entry<T> {
    pub(crate) event: Arc<Event<T>>,
    pub(crate) debug: Option<DebugFn<T>>,
}

impl<T: Send + Sync> Erased for Entry<T> {
    fn view(&self) -> RecentEvent {
        view(&self.event, self.debug)
    }
}

/// The type-erased view of one envelope.
pub(crate) fn view<T>(e: &Event<T>, debug: Option<DebugFn<T>>) -> RecentEvent {
    struct Payload<'a, T>(&'a T, Option<DebugFn<T>>);
    impl<T> fmt::Display for Payload<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.1 {
                Some(debug) => debug(self.0, f),
                None => write!(f, "<{}>", std::any::type_name::<T>()),
            }
        }
    }
    RecentEvent {
        name: e.name,
        id: e.id,
        seq: e.seq,
        timestamp: e.timestamp,
        payload: Payload(&e.data, debug).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_strictly_increasing_per_thread() {
        let mut last = new_id().0;
        assert_eq!(last.get_version_num(), 7);
        for _ in 0..100_000 {
            let id = new_id().0;
            assert!(id > last, "{id} <= {last}");
            last = id;
        }
    }

    #[test]
    fn ids_are_unique_across_threads() {
        let ids: Vec<Uuid> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..20_000).map(|_| new_id().0).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let set: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(set.len(), ids.len());
    }

    #[test]
    fn id_time_matches_timestamp() {
        let (id, ts) = new_id();
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        let id_ms = secs * 1000 + u64::from(nanos) / 1_000_000;
        let ts_ms = ts.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        // Equal unless the per-thread counter borrowed a millisecond.
        assert!(id_ms >= ts_ms && id_ms <= ts_ms + 1, "{id_ms} vs {ts_ms}");
    }

    /// The cached millisecond never misdates an id: across several
    /// millisecond boundaries, each id's time is its timestamp's
    /// millisecond (or one later, when the counter borrowed one).
    #[test]
    fn id_time_matches_timestamp_across_milliseconds() {
        let end = SystemTime::now() + Duration::from_millis(5);
        let mut n = 0;
        while SystemTime::now() < end || n < 1000 {
            let (id, ts) = new_id();
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
            let id_ms = secs * 1000 + u64::from(nanos) / 1_000_000;
            let ts_ms = ts.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
            assert!(id_ms == ts_ms || id_ms == ts_ms + 1, "{id_ms} vs {ts_ms}");
            n += 1;
        }
    }

    #[test]
    fn metadata_emptied_equals_new() {
        let mut m = Metadata::new();
        m.insert("k", "v");
        assert_ne!(m, Metadata::new());
        m.remove("k");
        assert_eq!(m, Metadata::new());
        assert!(m.is_empty() && m.iter().next().is_none());
        assert_eq!(m.len(), 0);
        let collected: Metadata = std::iter::empty::<(&str, &str)>().collect();
        assert_eq!(collected, Metadata::new());
    }

    #[test]
    fn metadata_round_trip() {
        let mut m: Metadata = [("b", "2"), ("a", "1")].into_iter().collect();
        assert_eq!(m.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2")]);
        assert_eq!(m.insert("a", "x"), Some("1".into()));
        assert_eq!(m.remove("b"), Some("2".into()));
        assert!(m.contains_key("a") && !m.contains_key("b"));
        assert_eq!(format!("{m:?}"), r#"{"a": "x"}"#);
    }

    #[test]
    fn event_builders_and_map() {
        let t = UNIX_EPOCH + Duration::from_secs(5);
        let ev =
            Event::new(2).with_id(Uuid::nil()).with_timestamp(t).with_source("s").map(|x| x * 2);
        assert_eq!((ev.data, ev.id, ev.timestamp), (4, Uuid::nil(), t));
        assert_eq!(ev.source.as_deref(), Some("s"));
    }
}
