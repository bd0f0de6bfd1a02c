//! [`AnyEvent`]: one envelope, whatever its payload type.
//!
//! A pattern subscriber ([`subscribe_pattern`](crate::subscribe_pattern))
//! hears signals of many payload types, so it cannot be handed an
//! `&Event<T>`. It gets an `&AnyEvent`: the envelope's facts (name, id,
//! `seq`, timestamp, source, metadata) copied out — a few words — and the
//! payload *borrowed* as `dyn Any`, so nothing is cloned and no `unsafe`
//! is needed. What only the payload type knows (its `Debug`, its JSON
//! form) comes from a small per-type table the signal keeps
//! ([`PayloadView`]), consulted only when asked.
//!
//! ```
//! use mesh::{AnyEvent, Event};
//! let ev = Event::new(7u32).with_source("sensor");
//! let any = AnyEvent::with_debug(&ev);
//! assert_eq!(any.source(), Some("sensor"));
//! assert_eq!(any.type_name(), "u32");
//! assert_eq!(any.downcast_ref::<u32>(), Some(&7));
//! assert_eq!(any.downcast_ref::<i64>(), None);
//! assert_eq!(any.payload_debug().to_string(), "7");
//! ```

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::time::SystemTime;

use super::{Event, Metadata, RecentEvent, Uuid};

/// What only the payload's type knows, for an [`AnyEvent`]: one small
/// object per payload type (a signal's, or a zero-sized one for views made
/// by hand), asked only when a subscriber formats or serialises.
pub(crate) trait PayloadView: Send + Sync {
    /// The payload's type name.
    fn type_name(&self) -> &'static str;
    /// Whether [`debug`](Self::debug) can format the payload of an event
    /// of the signal `name`.
    fn has_debug(&self, name: &str) -> bool;
    /// Writes `payload`'s `Debug`; `None` when its type's `Debug` is not
    /// known to the signal `name`.
    fn debug(
        &self,
        name: &str,
        payload: &dyn Any,
        f: &mut fmt::Formatter<'_>,
    ) -> Option<fmt::Result>;
    /// `payload` as JSON; `None` when the signal `name` does not know its
    /// type to be serializable.
    #[cfg(feature = "serde")]
    fn json(
        &self,
        name: &str,
        payload: &dyn Any,
    ) -> Option<Result<serde_json::Value, serde_json::Error>>;
}

/// A type-erased view of one envelope, borrowed for one delivery.
///
/// What a pattern subscriber receives (see
/// [`subscribe_pattern`](crate::subscribe_pattern)). The envelope's facts
/// are read with the methods below; the payload is borrowed, not copied:
/// [`downcast_ref`](Self::downcast_ref) it to a type you know, format it
/// with [`payload_debug`](Self::payload_debug), or (feature `serde`) turn
/// it into JSON with `to_json`.
///
/// The view lives only as long as the delivery; keep what you need (for
/// example a [`RecentEvent`], via `From`).
///
/// It is three borrowed pointers and the name: the envelope's other facts
/// are read through [`Header`] when asked, not copied into the view on
/// every delivery (issue 11, W2: a pattern subscriber's call built the
/// view field by field, ~50 instructions per delivery).
pub struct AnyEvent<'a> {
    name: &'static str,
    header: &'a dyn Header,
    payload: &'a (dyn Any + Send + Sync),
    view: &'a dyn PayloadView,
}

/// The envelope's facts of an [`Event<T>`] whatever its `T`: what
/// [`AnyEvent`] reads when asked (one dynamic call each).
trait Header: Sync {
    fn id(&self) -> Uuid;
    fn seq(&self) -> u64;
    fn timestamp(&self) -> SystemTime;
    fn source(&self) -> Option<&str>;
    fn metadata(&self) -> &Metadata;
}

impl<T: Sync> Header for Event<T> {
    fn id(&self) -> Uuid {
        self.id
    }
    fn seq(&self) -> u64 {
        self.seq
    }
    fn timestamp(&self) -> SystemTime {
        self.timestamp
    }
    fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    fn metadata(&self) -> &Metadata {
        &self.metadata
    }
}

/// The view [`AnyEvent::new`] uses: the type name and nothing else.
struct TypeOnly<T>(PhantomData<fn() -> T>);

impl<T: 'static> PayloadView for TypeOnly<T> {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn has_debug(&self, _: &str) -> bool {
        false
    }
    fn debug(&self, _: &str, _: &dyn Any, _: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        None
    }
    #[cfg(feature = "serde")]
    fn json(&self, _: &str, _: &dyn Any) -> Option<Result<serde_json::Value, serde_json::Error>> {
        None
    }
}

/// The view [`AnyEvent::with_debug`] uses.
struct WithDebug<T>(PhantomData<fn() -> T>);

impl<T: fmt::Debug + 'static> PayloadView for WithDebug<T> {
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn has_debug(&self, _: &str) -> bool {
        true
    }
    fn debug(&self, _: &str, payload: &dyn Any, f: &mut fmt::Formatter<'_>) -> Option<fmt::Result> {
        payload.downcast_ref::<T>().map(|t| fmt::Debug::fmt(t, f))
    }
    #[cfg(feature = "serde")]
    fn json(&self, _: &str, _: &dyn Any) -> Option<Result<serde_json::Value, serde_json::Error>> {
        None
    }
}

impl<'a> AnyEvent<'a> {
    /// A view of `event` that knows its payload's type name only (no
    /// `Debug`, no JSON). Useful to call a pattern subscriber's function
    /// directly in a test.
    pub fn new<T: Send + Sync + 'static>(event: &'a Event<T>) -> Self {
        Self::of(event, &TypeOnly::<T>(PhantomData))
    }

    /// A view of `event` whose payload formats with its `Debug`.
    pub fn with_debug<T: fmt::Debug + Send + Sync + 'static>(event: &'a Event<T>) -> Self {
        Self::of(event, &WithDebug::<T>(PhantomData))
    }

    /// The view of `event` with `view` for what only its type knows.
    #[inline]
    pub(crate) fn of<T: Send + Sync + 'static>(
        event: &'a Event<T>,
        view: &'a dyn PayloadView,
    ) -> Self {
        AnyEvent { name: event.name, header: event, payload: &event.data, view }
    }

    /// Full name of the signal that carried it.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The envelope id (UUID v7).
    pub fn id(&self) -> Uuid {
        self.header.id()
    }

    /// The envelope's position on its signal (see [`Event::seq`]).
    pub fn seq(&self) -> u64 {
        self.header.seq()
    }

    /// When the event was created.
    pub fn timestamp(&self) -> SystemTime {
        self.header.timestamp()
    }

    /// Who emitted it, if the emitter said.
    pub fn source(&self) -> Option<&'a str> {
        self.header.source()
    }

    /// Its metadata.
    pub fn metadata(&self) -> &'a Metadata {
        self.header.metadata()
    }

    /// The payload's type name (`std::any::type_name`).
    pub fn type_name(&self) -> &'static str {
        self.view.type_name()
    }

    /// Whether the payload is a `T`.
    pub fn is<T: 'static>(&self) -> bool {
        self.payload.is::<T>()
    }

    /// The payload, if it is a `T`.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&'a T> {
        self.payload.downcast_ref::<T>()
    }

    /// The payload as `dyn Any`.
    pub fn payload(&self) -> &'a (dyn Any + Send + Sync) {
        self.payload
    }

    /// Whether the payload's `Debug` is known (a `#[signal]` type that
    /// implements `Debug`, or a signal told with
    /// [`Signal::debug_payloads`](crate::Signal::debug_payloads)).
    pub fn has_debug(&self) -> bool {
        self.view.has_debug(self.name)
    }

    /// The payload, formatted with its `Debug` where known and as
    /// `<type name>` otherwise (both with `{}` and `{:?}`).
    pub fn payload_debug(&self) -> impl fmt::Display + fmt::Debug + '_ {
        PayloadFmt(self)
    }

    /// The payload as JSON: `None` when the signal does not know its type
    /// to be serializable (a `#[signal]` type deriving `Serialize`, or a
    /// signal told with [`Signal::serde_payloads`](crate::Signal::serde_payloads)),
    /// `Some(Err(..))` when serializing fails.
    #[cfg(feature = "serde")]
    pub fn to_json(&self) -> Option<Result<serde_json::Value, serde_json::Error>> {
        self.view.json(self.name, self.payload)
    }
}

/// [`AnyEvent::payload_debug`].
struct PayloadFmt<'e, 'a>(&'e AnyEvent<'a>);

impl fmt::Display for PayloadFmt<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.view.debug(self.0.name, self.0.payload, f) {
            Some(done) => done,
            None => write!(f, "<{}>", self.0.type_name()),
        }
    }
}

impl fmt::Debug for PayloadFmt<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for AnyEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnyEvent")
            .field("id", &self.id())
            .field("name", &self.name)
            .field("seq", &self.seq())
            .field("source", &self.source())
            .field("timestamp", &self.timestamp())
            .field("metadata", self.metadata())
            .field("type", &self.type_name())
            .field("data", &self.payload_debug())
            .finish()
    }
}

impl From<&AnyEvent<'_>> for RecentEvent {
    fn from(ev: &AnyEvent<'_>) -> Self {
        RecentEvent {
            name: ev.name,
            id: ev.id(),
            seq: ev.seq(),
            timestamp: ev.timestamp(),
            payload: ev.payload_debug().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_borrow_the_payload() {
        let ev = Event::new(String::from("hello")).with_meta("k", "v");
        let any = AnyEvent::new(&ev);
        let borrowed: &String = any.downcast_ref().unwrap();
        assert!(std::ptr::eq(borrowed, &ev.data), "the payload is not copied");
        assert_eq!(any.metadata().get("k"), Some("v"));
        assert_eq!((any.id(), any.timestamp(), any.seq()), (ev.id, ev.timestamp, 0));
        assert!(!any.has_debug() && any.is::<String>() && !any.is::<&str>());
        assert_eq!(any.payload_debug().to_string(), "<alloc::string::String>");
        let recent = RecentEvent::from(&any);
        assert_eq!(recent.payload, "<alloc::string::String>");
        let dbg = AnyEvent::with_debug(&ev);
        assert!(dbg.has_debug());
        assert_eq!(format!("{:?}", dbg.payload_debug()), "\"hello\"");
        assert!(format!("{dbg:?}").contains("data: \"hello\""), "{dbg:?}");
    }
}
