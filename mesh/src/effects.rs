//! Effects: a receiver returns the events it wants published instead of
//! emitting them.
//!
//! A handler that emits as a side effect is hard to test: the test must
//! catch the emit. A handler that *returns* [`Effects`] is a plain
//! function from an event to a value: a test calls it and looks at what
//! it returned, and nothing is emitted. Connected as a receiver (any
//! kind: `connect`, `#[receiver]`, weak, pattern), the mesh performs the
//! effects once the handler has returned, in order, each as an envelope
//! carrying the causing event's identity in its metadata:
//!
//! * [`CAUSATION_ID`] — the id of the event whose receiver returned it;
//! * [`CORRELATION_ID`] — the cause's
//!   own correlation id if it has one, else the cause's id: the id of the
//!   event that started the chain.
//!
//! So a chain of effects can be traced back to where it started. An
//! effect's own receivers run as usual (their failures are theirs,
//! counted on their signal); a handler that fails (`Err`) has nothing
//! performed.
//!
//! ```
//! use mesh::prelude::*;
//! use mesh::effects::{Effects, CAUSATION_ID};
//! use mesh::middleware::CORRELATION_ID;
//!
//! #[signal]
//! #[derive(Debug, Clone, PartialEq)]
//! pub struct OrderPlaced { pub id: u32 }
//!
//! #[signal]
//! #[derive(Debug, Clone, PartialEq)]
//! pub struct ShipOrder { pub id: u32 }
//!
//! /// The business rule, as a plain function.
//! fn ship(order: &OrderPlaced) -> Effects {
//!     Effects::new().emit(ShipOrder { id: order.id })
//! }
//!
//! // A test calls it: nothing is emitted, the effects are a value.
//! assert_eq!(ship(&OrderPlaced { id: 7 }).events::<ShipOrder>(), [&ShipOrder { id: 7 }]);
//!
//! // Connected, the mesh performs them, correlated with the cause.
//! let _r = OrderPlaced::signal().connect(ship);
//! let _check = ShipOrder::signal().connect(|ev: &Event<ShipOrder>| {
//!     assert!(ev.metadata.get(CAUSATION_ID).is_some());
//!     assert_eq!(ev.metadata.get(CAUSATION_ID), ev.metadata.get(CORRELATION_ID));
//! });
//! OrderPlaced { id: 7 }.emit();
//! ```

use std::any::Any;
use std::fmt;

use crate::event::{Cause, Event, Metadata};
use crate::event_type::EventType;
use crate::middleware::CORRELATION_ID;
use crate::receiver::ReceiverResult;
use crate::signal::Signal;

/// Metadata key: the id of the event whose receiver returned the effect.
pub const CAUSATION_ID: &str = "causation-id";

/// Events a receiver asks the mesh to publish once it has returned, in
/// order (see the [module docs](self)).
#[derive(Default)]
#[must_use = "effects do nothing unless returned from a receiver or performed"]
pub struct Effects {
    items: Vec<Effect>,
}

/// One event to publish: its payload (kept for inspection) and how to
/// emit it.
struct Effect {
    name: &'static str,
    payload: Box<dyn Any + Send>,
    perform: Box<dyn FnOnce(Box<dyn Any + Send>, Metadata) + Send>,
}

impl fmt::Debug for Effects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.items.iter().map(|e| e.name)).finish()
    }
}

impl Effects {
    /// No effects.
    pub fn new() -> Self {
        Effects::default()
    }

    /// Adds `event`, to be emitted on its type's signal.
    pub fn emit<T: EventType>(mut self, event: T) -> Self {
        self.push(event);
        self
    }

    /// Adds `event`, to be emitted on its type's signal.
    pub fn push<T: EventType>(&mut self, event: T) {
        self.items.push(Effect {
            name: T::NAME,
            payload: Box::new(event),
            perform: Box::new(|payload, metadata| {
                if let Ok(data) = payload.downcast::<T>() {
                    T::with_signal(|s| s.emit_event(envelope(*data, metadata)));
                }
            }),
        });
    }

    /// Adds `data`, to be emitted on `signal` (any signal, named or not).
    pub fn emit_on<T: Send + Sync + 'static>(mut self, signal: &Signal<T>, data: T) -> Self {
        let signal = signal.clone();
        self.items.push(Effect {
            name: signal.name(),
            payload: Box::new(data),
            perform: Box::new(move |payload, metadata| {
                if let Ok(data) = payload.downcast::<T>() {
                    signal.emit_event(envelope(*data, metadata));
                }
            }),
        });
        self
    }

    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The names of the signals its events go to, in order (`""` for an
    /// anonymous signal).
    pub fn names(&self) -> Vec<&'static str> {
        self.items.iter().map(|e| e.name).collect()
    }

    /// Its events of payload type `T`, in order.
    pub fn events<T: 'static>(&self) -> Vec<&T> {
        self.items.iter().filter_map(|e| e.payload.downcast_ref::<T>()).collect()
    }

    /// Performs the effects now, in order, correlated with `cause` if
    /// given (what the mesh does when a receiver returns them).
    pub fn perform(self, cause: Option<&dyn Cause>) {
        let mut metadata = Metadata::new();
        if let Some(cause) = cause {
            let id = cause.cause_id().to_string();
            let correlation = cause
                .cause_metadata()
                .get(CORRELATION_ID)
                .map_or_else(|| id.clone(), str::to_owned);
            metadata.insert(CAUSATION_ID, id);
            metadata.insert(CORRELATION_ID, correlation);
        }
        for effect in self.items {
            (effect.perform)(effect.payload, metadata.clone());
        }
    }
}

fn envelope<T>(data: T, metadata: Metadata) -> Event<T> {
    let mut event = Event::new(data);
    event.metadata = metadata;
    event
}

impl ReceiverResult for Effects {
    const NEEDS_ENVELOPE: bool = true;

    /// Performs the effects without a cause (a receiver that was handed
    /// no envelope); never a failure.
    fn into_failure(self) -> Option<String> {
        self.perform(None);
        None
    }

    fn finish<C: Cause + ?Sized>(self, cause: Option<&C>) -> Option<String> {
        match cause {
            Some(cause) => self.perform(Some(&Caused(cause))),
            None => self.perform(None),
        }
        None
    }
}

/// `cause` as a `dyn Cause` (it may be unsized).
struct Caused<'a, C: ?Sized>(&'a C);

impl<C: Cause + ?Sized> Cause for Caused<'_, C> {
    fn cause_id(&self) -> uuid::Uuid {
        self.0.cause_id()
    }
    fn cause_metadata(&self) -> &Metadata {
        self.0.cause_metadata()
    }
}

impl<E: fmt::Display + 'static> ReceiverResult for Result<Effects, E> {
    const NEEDS_ENVELOPE: bool = true;

    fn into_failure(self) -> Option<String> {
        match self {
            Ok(effects) => effects.into_failure(),
            Err(e) => Some(e.to_string()),
        }
    }

    fn finish<C: Cause + ?Sized>(self, cause: Option<&C>) -> Option<String> {
        match self {
            Ok(effects) => effects.finish(cause),
            Err(e) => Some(e.to_string()),
        }
    }
}
