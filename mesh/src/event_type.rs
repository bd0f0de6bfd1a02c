//! Event types: payload structs with a static, named signal.
//!
//! `#[signal]` implements [`EventType`] for a struct or enum: it fixes the
//! type's full signal name at compile time ([`EventType::NAME`]) and gives it
//! one process-wide named [`Signal`], created and registered on first use.
//! Every `#[receiver]` for the type, in every linked crate, is connected
//! before that first use returns, so no event can be emitted before its
//! global receivers are in place.
//!
//! # Initialisation runs no user code
//!
//! The first use creates the signal inside a one-time initialiser (a
//! `OnceLock`; other threads wait for it). Nothing in there can call back
//! into user code: the `#[receiver]`s are connected *quietly*, and the
//! `mesh.receiver.connected` events that report them are emitted by the
//! initialising thread only after the initialiser has finished. So a meta
//! receiver that emits the very type being initialised finds it ready
//! instead of waiting for itself. The states are those of
//! `tracing-core`'s callsite registration: *uninitialised* → *initialising*
//! (no user code; re-entry impossible) → *ready*, then the announcements.
//!
//! An initialiser that fails (two types claim one name) leaves the signal
//! uninitialised, so every later use fails the same way, with the same
//! message naming both types.
//!
//! ```
//! use mesh::prelude::*;
//!
//! mesh::namespace!(pub APP = "app");
//!
//! /// A user logged in.
//! #[signal(namespace = APP, name = "user.login")]
//! #[derive(Debug, Clone)]
//! pub struct Login { pub user: String }
//!
//! assert_eq!(Login::NAME, "app.user.login");
//! let _c = Login::signal().connect(|ev: &Login| assert_eq!(ev.user, "ada"));
//! Login { user: "ada".into() }.emit();
//! ```

use std::borrow::Cow;

use crate::event::Event;
use crate::signal::{Emitted, Signal};

/// A payload type with a static named signal; implemented by `#[signal]`.
///
/// Implementing it by hand is possible but rarely useful: the macro also
/// validates the name at compile time and wires up `#[receiver]`s.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event type",
    label = "not an event type",
    note = "consider adding `#[signal]` to the definition of `{Self}`"
)]
pub trait EventType: Send + Sync + Sized + 'static {
    /// The full dotted signal name, e.g. `"system.provider.connected"`.
    const NAME: &'static str;

    /// Runs `f` with the type's signal: the process-wide one, or inside a
    /// [testing scope](crate::testing) the scope's own. The first call
    /// creates and registers the signal and connects its `#[receiver]`s.
    ///
    /// The reference lives only as long as the call, so it can never
    /// outlive a testing scope; use [`signal`](Self::signal) for a handle
    /// to keep.
    fn with_signal<R>(f: impl FnOnce(&Signal<Self>) -> R) -> R;

    /// A handle to the type's signal (see [`with_signal`](Self::with_signal)
    /// for which one). The handle is owned: one kept from a testing scope
    /// stays that scope's signal after the scope ends, and reaches no
    /// other scope.
    fn signal() -> Signal<Self> {
        Self::with_signal(Signal::clone)
    }

    /// Emits `self` on the type's signal.
    #[inline]
    fn emit(self) -> Emitted {
        Emitted::from_bits(self.__mesh_emit_bits())
    }

    /// [`emit`](Self::emit) as `Emitted::to_bits`. `#[signal]` replaces it
    /// with one that tests its static signal's state with one load before
    /// anything else. Not part of the public API.
    #[doc(hidden)]
    #[inline]
    fn __mesh_emit_bits(self) -> u128 {
        // The summary crosses `with_signal` as one integer (see
        // `Core::emit_bits`).
        // One closure, so an unoptimised build keeps one copy of a large
        // payload in this frame, not one per branch.
        Self::with_signal(|s| {
            if size_of::<Self>() > crate::signal::LARGE_PAYLOAD {
                s.emit(self).to_bits()
            } else {
                s.core().emit_bits(self)
            }
        })
    }

    /// Emits `self` with a source (see [`Signal::emit_from`](crate::Signal::emit_from)).
    #[inline]
    fn emit_from(self, source: impl Into<Cow<'static, str>>) -> Emitted {
        Self::with_signal(|s| s.emit_from(source, self))
    }
}

/// The argument of a `#[receiver]` function: `T` or `Event<T>` for an event
/// type `T` (implemented for those only; used by the macro). Resolving the payload through a trait (not by reading tokens)
/// keeps type aliases and re-exports working.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event type",
    label = "a receiver takes `&T` or `&Event<T>` where `T` has `#[signal]`",
    note = "consider adding `#[signal]` to the definition of the payload type"
)]
pub trait ReceiverArg {
    /// The event type.
    type Payload: EventType;
    /// Whether the argument is the payload alone (not the envelope).
    const PAYLOAD_ONLY: bool;
    /// The argument, from the envelope (async receivers).
    fn from_event(event: &Event<Self::Payload>) -> &Self;
}

impl<T: EventType> ReceiverArg for T {
    type Payload = T;
    const PAYLOAD_ONLY: bool = true;
    fn from_event(event: &Event<T>) -> &T {
        &event.data
    }
}

impl<T: EventType> ReceiverArg for Event<T> {
    type Payload = T;
    const PAYLOAD_ONLY: bool = false;
    fn from_event(event: &Event<T>) -> &Event<T> {
        event
    }
}
