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
pub struct Metadata(BTreeMap<Cow<'static, str>, String>);

impl Metadata {
    /// Empty metadata; does not allocate.
    pub const fn new() -> Self {
        Metadata(BTreeMap::new())
    }

    /// Sets `key` to `value`; returns the previous value.
    pub fn insert(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Option<String> {
        self.0.insert(key.into(), value.into())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    /// Whether `key` is set.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_str()))
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<Cow<'static, str>>, V: Into<String>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Metadata(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
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
/// and a random-number generator for the tail.
struct IdState {
    millis: Cell<u64>,
    counter: Cell<u64>,
    rng: Cell<u64>,
}

/// Counter bits (12 in `rand_a`, 6 at the top of `rand_b`).
const COUNTER_BITS: u32 = 18;
/// The counter is reseeded below this so it can grow within a millisecond.
const COUNTER_SEED_MASK: u64 = (1 << (COUNTER_BITS - 1)) - 1;
const COUNTER_MAX: u64 = (1 << COUNTER_BITS) - 1;

thread_local! {
    static ID_STATE: IdState = IdState {
        millis: Cell::new(0),
        counter: Cell::new(0),
        // Seeded once per thread from std's randomly keyed hasher (OS
        // randomness); `| 1` keeps the generator off its zero state.
        rng: Cell::new(RandomState::new().hash_one(std::thread::current().id()) | 1),
    };
}

/// The next value of a per-thread xorshift64* generator: fast, and plenty
/// for the random tail of an id (uniqueness, not secrecy, is the goal).
fn next_random(state: &Cell<u64>) -> u64 {
    let mut x = state.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    state.set(x);
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// A fresh UUID v7 and the timestamp it encodes (one clock read).
pub(crate) fn new_id() -> (Uuid, SystemTime) {
    let now = SystemTime::now();
    let since = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let now_ms = since.as_millis() as u64;
    ID_STATE.with(|s| {
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
        let mut bytes = [0u8; 10];
        // bytes[0] low nibble + bytes[1]: counter bits 17..6 (rand_a);
        // bytes[2] low 6 bits: counter bits 5..0; bytes[3..10]: random.
        bytes[0] = ((counter >> 14) & 0x0F) as u8;
        bytes[1] = (counter >> 6) as u8;
        bytes[2] = (counter & 0x3F) as u8;
        bytes[3..10].copy_from_slice(&tail.to_le_bytes()[..7]);
        (uuid::Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid(), now)
    })
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
