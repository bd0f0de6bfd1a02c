//! Event types: payload structs with a static, named signal.
//!
//! `#[signal]` implements [`EventType`] for a struct or enum: it fixes the
//! type's full signal name at compile time ([`EventType::NAME`]) and gives it
//! one process-wide [`NamedSignal`], created and registered on first use.
//! Every `#[receiver]` for the type, in every linked crate, is connected
//! before that first use returns, so no event can be emitted before its
//! global receivers are in place.
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

use crate::registry::NamedSignal;
use crate::signal::Emitted;

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

    /// The type's signal, registered (with its `#[receiver]`s connected) on
    /// first call.
    fn signal() -> &'static NamedSignal<Self>;

    /// Emits `self` on the type's signal.
    #[inline]
    fn emit(self) -> Emitted {
        Self::signal().emit(self)
    }

    /// Emits `self` with a source (see [`Signal::emit_from`](crate::Signal::emit_from)).
    #[inline]
    fn emit_from(self, source: impl Into<Cow<'static, str>>) -> Emitted {
        Self::signal().emit_from(source, self)
    }
}
