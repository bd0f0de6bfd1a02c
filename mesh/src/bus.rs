//! Runtime buses: child buses under a prefix, and the dynamic,
//! string-keyed face.
//!
//! A [`Namespace`] is a `static`, fixed at compile time. A [`Bus`] is its
//! run-time counterpart: made from a prefix string (or from a namespace),
//! it makes *child* buses (`bus.child("provider")` is
//! `<bus>.provider`), named signals under its prefix, and pattern
//! subscriptions relative to it. Everything goes through the one
//! registry, so a pattern subscription on a parent (`app.>`) sees the
//! events of its children's signals, made before or after it.
//!
//! # What a bus owns, and what dropping it frees
//!
//! A bus owns the signals it *made* (a name that already existed, made by
//! someone else, is shared, not owned) and the subscriptions made through
//! it. When its last handle drops:
//!
//! * its subscriptions are disconnected;
//! * its signals are removed from the registry and their receivers
//!   disconnected, so their memory goes with the last handle to them (a
//!   `Signal` kept by user code stays usable, unnamed in the registry:
//!   `lookup` no longer finds it, and a new signal of that name can be
//!   made);
//! * child buses are independent: a child keeps its parent's prefix, not
//!   its parent alive, and is freed by its own handles.
//!
//! What is kept: each distinct signal name, once (the registry hands out
//! names as `&'static str`, for `Event::name`; a name made again by a
//! later bus reuses it). A bus costs one allocation for its state and
//! its prefix; each signal it makes costs what a named signal costs (see
//! `BENCHMARKS.md`, P8), with no per-thread cache slot of its own.
//!
//! # The dynamic face
//!
//! Plugins, scripts and bridges know event names as strings. [`publish`]
//! emits a typed payload by name (the registry's one-name-one-type rule
//! makes a wrong type a [`RegistryError::TypeMismatch`], never a delivery
//! to typed receivers), and with feature `serde` `publish_json` emits a
//! `serde_json::Value`: converted into the owning signal's payload type
//! where the name belongs to a typed signal, carried as a
//! `Signal<serde_json::Value>` where nobody owns the name. Subscribing by
//! name or pattern is [`subscribe_pattern`](crate::subscribe_pattern): a
//! name is a pattern without wildcards.
//!
//! ```
//! use mesh::bus::Bus;
//! use mesh::AnyEvent;
//! use std::sync::{Arc, Mutex};
//!
//! let app = Bus::new("bus-doc").unwrap();
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! app.subscribe(">", move |ev: &AnyEvent| log.lock().unwrap().push(ev.name())).unwrap();
//!
//! let provider = app.child("provider").unwrap();
//! provider.signal::<u32>("connected").unwrap().emit(1);
//! assert_eq!(*seen.lock().unwrap(), ["bus-doc.provider.connected"]);
//!
//! drop(provider); // its signal leaves the registry
//! assert!(mesh::registry::lookup("bus-doc.provider.connected").is_none());
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::connection::Connection;
use crate::event::AnyEvent;
use crate::name::{NameError, PatternError, join, validate_name};
use crate::namespace::Namespace;
use crate::receiver::{ConnectOptions, IntoReceiver, ReceiverResult};
use crate::registry::{self, RegistryError, SignalRef};
use crate::signal::{Emitted, Signal, SignalConfig};
use crate::sync::LockExt;

/// A run-time bus: a prefix for named signals and pattern subscriptions,
/// owning what it makes (see the [module docs](self)). `Clone` gives
/// another handle to the same bus.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    name: Box<str>,
    owned: Mutex<Owned>,
}

#[derive(Default)]
struct Owned {
    signals: Vec<SignalRef>,
    subscriptions: Vec<Connection>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let owned = std::mem::take(&mut *self.owned.locked());
        for connection in owned.subscriptions {
            connection.disconnect();
        }
        for signal in owned.signals {
            registry::unregister(&signal);
            signal.clear();
        }
    }
}

impl Bus {
    /// A root bus with the dotted prefix `name`.
    ///
    /// # Errors
    ///
    /// A [`NameError`] if `name` is not a valid dotted name.
    pub fn new(name: &str) -> Result<Bus, NameError> {
        validate_name(name)?;
        Ok(Bus::named(name.into()))
    }

    /// The bus face of a static namespace: signals made through it are
    /// owned by the bus (and freed with it), unlike those of
    /// [`Namespace::signal`].
    pub fn of(namespace: &'static Namespace) -> Bus {
        Bus::named(namespace.name().into())
    }

    fn named(name: Box<str>) -> Bus {
        Bus { inner: Arc::new(Inner { name, owned: Mutex::default() }) }
    }

    /// A child bus, `<this bus>.<name>` (`name` may be dotted).
    ///
    /// # Errors
    ///
    /// A [`NameError`] if `name` is not a valid dotted name (offsets into
    /// the full name).
    pub fn child(&self, name: &str) -> Result<Bus, NameError> {
        let full = join(&self.inner.name, name);
        validate_name(name).map_err(|e| e.shifted(full.len() - name.len()))?;
        Ok(Bus::named(full.into()))
    }

    /// The full prefix.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The signal `<bus>.<name>` carrying `T`: made (and owned by this
    /// bus) if new, shared if it exists.
    ///
    /// # Errors
    ///
    /// As for [`Namespace::signal`].
    pub fn signal<T: Send + Sync + 'static>(&self, name: &str) -> Result<Signal<T>, RegistryError> {
        self.signal_with(name, SignalConfig::new())
    }

    /// [`signal`](Self::signal) with a configuration.
    ///
    /// # Errors
    ///
    /// As for [`Namespace::signal_with`].
    pub fn signal_with<T: Send + Sync + 'static>(
        &self,
        name: &str,
        config: SignalConfig,
    ) -> Result<Signal<T>, RegistryError> {
        let full = registry::qualify(&self.inner.name, name)?;
        let mut created = false;
        let (signal, announce) = registry::register_with::<T>(&full, config, false, &mut created)?;
        if created {
            self.inner.owned.locked().signals.push(signal.erased());
        }
        announce.run();
        Ok(signal)
    }

    /// A pattern subscription relative to this bus (`">"` is everything
    /// under it), owned by the bus: disconnected when the bus is dropped.
    ///
    /// # Errors
    ///
    /// A [`PatternError`] (offsets into the full pattern).
    pub fn subscribe<R: ReceiverResult>(
        &self,
        pattern: &str,
        f: impl Fn(&AnyEvent<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Connection, PatternError> {
        self.subscribe_with(pattern, ConnectOptions::new(), f)
    }

    /// [`subscribe`](Self::subscribe) with options.
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](Self::subscribe).
    pub fn subscribe_with<R: ReceiverResult>(
        &self,
        pattern: &str,
        options: ConnectOptions,
        f: impl Fn(&AnyEvent<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Connection, PatternError> {
        let full = registry::relative_pattern(&self.inner.name, pattern)?;
        let connection = crate::subscribe_pattern_with(full.as_str(), options, f)?;
        self.inner.owned.locked().subscriptions.push(connection.clone());
        Ok(connection)
    }

    /// A typed pattern subscription relative to this bus (see
    /// [`subscribe_pattern_typed`](crate::subscribe_pattern_typed)),
    /// owned by the bus.
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](Self::subscribe).
    pub fn subscribe_typed<T, M, F>(&self, pattern: &str, f: F) -> Result<Connection, PatternError>
    where
        T: Send + Sync + 'static,
        F: IntoReceiver<T, M>,
    {
        let full = registry::relative_pattern(&self.inner.name, pattern)?;
        let connection = crate::subscribe_pattern_typed(full.as_str(), f)?;
        self.inner.owned.locked().subscriptions.push(connection.clone());
        Ok(connection)
    }

    /// [`publish`] under this bus (a signal it makes is owned by it).
    ///
    /// # Errors
    ///
    /// As for [`publish`].
    pub fn publish<T: Send + Sync + 'static>(
        &self,
        name: &str,
        payload: T,
    ) -> Result<Emitted, RegistryError> {
        Ok(self.signal::<T>(name)?.emit(payload))
    }

    /// [`publish_json`] under this bus (feature `serde`).
    ///
    /// # Errors
    ///
    /// As for [`publish_json`].
    #[cfg(feature = "serde")]
    pub fn publish_json(
        &self,
        name: &str,
        value: serde_json::Value,
    ) -> Result<Emitted, DynamicError> {
        let full = join(&self.inner.name, name);
        if let Some(signal) = registry::lookup(&full) {
            return emit_json(&signal, value);
        }
        Ok(self.signal::<serde_json::Value>(name)?.emit(value))
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owned = self.inner.owned.locked();
        f.debug_struct("Bus")
            .field("name", &self.inner.name)
            .field("signals", &owned.signals.len())
            .field("subscriptions", &owned.subscriptions.len())
            .finish()
    }
}

/// Emits `payload` on the signal named `name` (made if new, as a
/// registered signal of the process).
///
/// # Errors
///
/// [`RegistryError::TypeMismatch`] if the name belongs to a signal of
/// another payload type (nothing is delivered), or an invalid name.
///
/// ```
/// let r = mesh::bus::publish("bus-pub.tick", 5u32).unwrap();
/// assert_eq!(r.delivered, 0);
/// assert!(mesh::bus::publish("bus-pub.tick", "five").is_err());
/// ```
pub fn publish<T: Send + Sync + 'static>(name: &str, payload: T) -> Result<Emitted, RegistryError> {
    let name = registry::qualify("", name)?;
    Ok(registry::register::<T>(&name, SignalConfig::new())?.emit(payload))
}

/// Why [`publish_json`] did not emit.
#[cfg(feature = "serde")]
#[derive(Debug)]
#[non_exhaustive]
pub enum DynamicError {
    /// The name is invalid or reserved.
    Registry(RegistryError),
    /// The name belongs to a typed signal that cannot take JSON: its type
    /// is not `Deserialize`, or its signal was not told (see
    /// [`Signal::serde_payloads`]).
    NotConvertible {
        /// The signal's name.
        name: &'static str,
        /// Its payload type.
        payload_type: &'static str,
    },
    /// The value does not fit the signal's payload type.
    Conversion {
        /// The signal's name.
        name: &'static str,
        /// Its payload type.
        payload_type: &'static str,
        /// What serde said.
        error: serde_json::Error,
    },
}

#[cfg(feature = "serde")]
impl fmt::Display for DynamicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DynamicError::Registry(e) => e.fmt(f),
            DynamicError::NotConvertible { name, payload_type } => write!(
                f,
                "signal `{name}` carries `{payload_type}`, which cannot be made from JSON"
            ),
            DynamicError::Conversion { name, payload_type, error } => {
                write!(f, "JSON for signal `{name}` does not fit `{payload_type}`: {error}")
            }
        }
    }
}

#[cfg(feature = "serde")]
impl std::error::Error for DynamicError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DynamicError::Registry(e) => Some(e),
            DynamicError::Conversion { error, .. } => Some(error),
            DynamicError::NotConvertible { .. } => None,
        }
    }
}

#[cfg(feature = "serde")]
impl From<RegistryError> for DynamicError {
    fn from(e: RegistryError) -> Self {
        DynamicError::Registry(e)
    }
}

/// Emits a dynamic payload on the signal named `name` (feature `serde`):
/// converted into its payload type if a typed signal owns the name, as a
/// `serde_json::Value` on a signal of that type if nobody does (made if
/// new). Typed receivers only ever see their own type.
///
/// # Errors
///
/// [`DynamicError::NotConvertible`] if the owning signal cannot take
/// JSON, [`DynamicError::Conversion`] if the value does not fit its type
/// (nothing is delivered either way), [`DynamicError::Registry`] for an
/// invalid or reserved name.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use mesh::bus::{publish_json, DynamicError};
/// use serde_json::json;
/// static NS: mesh::Namespace = mesh::Namespace::new("bus-json");
/// let typed = NS.signal::<u32>("count").unwrap();
/// typed.serde_payloads();
/// typed.connect(|n: &u32| assert_eq!(*n, 7));
/// assert_eq!(publish_json("bus-json.count", json!(7)).unwrap().delivered, 1);
/// assert!(matches!(publish_json("bus-json.count", json!("seven")), Err(DynamicError::Conversion { .. })));
/// // A name nobody owns carries the JSON itself.
/// publish_json("bus-json.free", json!({"any": "shape"})).unwrap();
/// assert_eq!(mesh::registry::lookup("bus-json.free").unwrap().type_name(), "serde_json::value::Value");
/// # }
/// ```
#[cfg(feature = "serde")]
pub fn publish_json(name: &str, value: serde_json::Value) -> Result<Emitted, DynamicError> {
    if let Some(signal) = registry::lookup(name) {
        return emit_json(&signal, value);
    }
    Ok(publish(name, value)?)
}

#[cfg(feature = "serde")]
fn emit_json(signal: &SignalRef, value: serde_json::Value) -> Result<Emitted, DynamicError> {
    let (name, payload_type) = (signal.name(), signal.type_name());
    match signal.emit_json(value) {
        Some(Ok(emitted)) => Ok(emitted),
        Some(Err(error)) => Err(DynamicError::Conversion { name, payload_type, error }),
        None => Err(DynamicError::NotConvertible { name, payload_type }),
    }
}
