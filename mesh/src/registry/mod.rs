//! Floor 6: the process-wide registry of named signals.
//!
//! Every named [`Signal`] is registered under its full dotted name, once, for
//! the life of the process (the registry holds it, so looking a name up
//! again always finds the same signal). The registry answers:
//!
//! * [`lookup`]: a type-erased [`SignalRef`] by full name, which can report
//!   its name, payload type and receiver count, and be downcast back to a
//!   `Signal<T>`;
//! * [`signals`] and [`namespaces`]: what exists, for introspection.
//!
//! One name carries one payload type: registering an existing name with a
//! different type is a [`RegistryError::TypeMismatch`] naming both types,
//! never silent sharing.
//!
//! The registry is behind a read-write lock: registration and lookup are
//! rare, and no emit ever touches it.

use std::any::{Any, TypeId, type_name};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, LazyLock, RwLock};

use crate::connection::Connection;
use crate::name::{NameError, join, validate_name};
use crate::namespace::{Namespace, NamespaceDecl};
use crate::observe;
use crate::receiver::{ConnectOptions, ReceiverInfo};
use crate::signal::{Core, Signal, SignalConfig};
use crate::sync::RwLockExt;

mod pattern;

use pattern::{Announce, AnyFn, AnyHandler};
#[doc(hidden)]
pub use pattern::{PatternReceiver, StaticPattern};
pub(crate) use pattern::{
    ScopeTable, attachments as pattern_receivers, relative as relative_pattern,
    scope_static_receivers, scoped_signal_made,
};
pub use pattern::{
    pattern_attachments, subscribe_pattern, subscribe_pattern_typed, subscribe_pattern_typed_with,
    subscribe_pattern_weak, subscribe_pattern_with,
};

/// Why a named signal could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The name is not a valid dotted name.
    InvalidName {
        /// The full name that was requested.
        name: String,
        /// What is wrong with it.
        error: NameError,
    },
    /// The name is registered with another payload type.
    TypeMismatch {
        /// The full name.
        name: &'static str,
        /// The type it is registered with.
        registered: &'static str,
        /// The type that was requested.
        requested: &'static str,
    },
    /// The name is registered with another configuration.
    ConfigMismatch {
        /// The full name.
        name: &'static str,
        /// The configuration it is registered with.
        registered: SignalConfig,
        /// The configuration that was requested.
        requested: SignalConfig,
    },
    /// The `mesh` namespace is reserved for built-in signals.
    Reserved {
        /// The full name that was requested.
        name: String,
    },
    /// A meta-signal's name must start with `mesh.` (see
    /// [`meta::extension`](crate::meta::extension)).
    NotMeta {
        /// The full name that was requested.
        name: String,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::InvalidName { name, error } => {
                write!(f, "invalid signal name `{name}`: {error}")
            }
            RegistryError::TypeMismatch { name, registered, requested } => write!(
                f,
                "signal `{name}` is registered with payload type `{registered}`, \
                 not `{requested}`"
            ),
            RegistryError::ConfigMismatch { name, registered, requested } => {
                write!(f, "signal `{name}` is registered with {registered:?}, not {requested:?}")
            }
            RegistryError::Reserved { name } => {
                write!(f, "signal name `{name}` is in the reserved `mesh` namespace")
            }
            RegistryError::NotMeta { name } => {
                write!(f, "meta-signal name `{name}` must start with `mesh.`")
            }
        }
    }
}

impl std::error::Error for RegistryError {}

impl<T: Send + Sync + 'static> Signal<T> {
    /// A type-erased handle to this signal (for a registered signal, the
    /// same as its registry entry).
    ///
    /// ```
    /// use mesh::Signal;
    /// let s = Signal::<u8>::new();
    /// assert_eq!(s.erased().type_name(), "u8");
    /// assert_eq!(s.erased().downcast::<u8>().unwrap().id(), s.id());
    /// ```
    pub fn erased(&self) -> SignalRef {
        entry(self)
    }
}

/// The type-erased face of a signal: everything a [`SignalRef`] asks of
/// it, so the handle is one fat pointer plus name and configuration.
trait Erased: Send + Sync {
    fn name(&self) -> &'static str;
    fn id(&self) -> u64;
    /// Attaches a pattern subscriber's [`AnyEvent`](crate::AnyEvent)
    /// call, quietly (the caller announces it).
    fn attach_any(
        self: Arc<Self>,
        f: &Arc<AnyFn>,
        options: ConnectOptions,
        default_name: &'static str,
    ) -> (Connection, Option<ReceiverInfo>);
    fn receiver_count(&self) -> usize;
    /// What introspection reads of it.
    fn facts(self: Arc<Self>) -> SignalFacts;
    fn payload_type_id(&self) -> TypeId;
    fn type_name(&self) -> &'static str;
    fn config(&self) -> SignalConfig;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// Disconnects every receiver (a child bus that made the signal is
    /// dropped).
    fn clear(self: Arc<Self>);
    /// Emits `value` converted into the payload type, if the signal
    /// knows how (see `Signal::serde_payloads`).
    #[cfg(feature = "serde")]
    fn emit_json(
        self: Arc<Self>,
        value: serde_json::Value,
    ) -> Option<Result<crate::signal::Emitted, serde_json::Error>>;
    /// [`emit_json`](Erased::emit_json) keeping the envelope's id,
    /// timestamp, source and metadata.
    #[cfg(feature = "serde")]
    fn emit_json_event(
        self: Arc<Self>,
        event: crate::Event<serde_json::Value>,
    ) -> Option<Result<crate::signal::Emitted, serde_json::Error>>;
}

impl<T: Send + Sync + 'static> Erased for Core<T> {
    fn name(&self) -> &'static str {
        Core::name(self)
    }
    fn id(&self) -> u64 {
        self.id
    }
    fn attach_any(
        self: Arc<Self>,
        f: &Arc<AnyFn>,
        options: ConnectOptions,
        default_name: &'static str,
    ) -> (Connection, Option<ReceiverInfo>) {
        let signal = Signal::from_core(self);
        let handler = AnyHandler { f: f.clone(), _payload: std::marker::PhantomData };
        signal.connect_handler(handler, options, default_name, false)
    }
    fn receiver_count(&self) -> usize {
        self.base.receiver_count()
    }
    fn facts(self: Arc<Self>) -> SignalFacts {
        let emits = self.base.emit_count();
        let signal = Signal::from_core(self);
        SignalFacts {
            history_len: signal.history_len(),
            history_capacity: signal.history_capacity(),
            ordered: signal.is_ordered(),
            muted: signal.is_muted(),
            failures: signal.failure_count(),
            middleware: signal.middleware_count(),
            receivers: signal.receiver_reports(),
            emits,
        }
    }
    fn payload_type_id(&self) -> TypeId {
        TypeId::of::<T>()
    }
    fn type_name(&self) -> &'static str {
        type_name::<T>()
    }
    fn config(&self) -> SignalConfig {
        Core::config(self)
    }
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
    fn clear(self: Arc<Self>) {
        Signal::from_core(self).disconnect_all();
    }
    #[cfg(feature = "serde")]
    fn emit_json(
        self: Arc<Self>,
        value: serde_json::Value,
    ) -> Option<Result<crate::signal::Emitted, serde_json::Error>> {
        let signal = Signal::from_core(self);
        Some(signal.payload_from_json(value)?.map(|payload| signal.emit(payload)))
    }
    #[cfg(feature = "serde")]
    fn emit_json_event(
        self: Arc<Self>,
        mut event: crate::Event<serde_json::Value>,
    ) -> Option<Result<crate::signal::Emitted, serde_json::Error>> {
        let signal = Signal::from_core(self);
        let value = std::mem::take(&mut event.data);
        Some(
            signal
                .payload_from_json(value)?
                .map(|payload| signal.emit_event(event.map(|_| payload))),
        )
    }
}

/// What introspection reads of one signal (see `introspect`).
pub(crate) struct SignalFacts {
    pub(crate) history_len: usize,
    pub(crate) history_capacity: usize,
    pub(crate) ordered: bool,
    pub(crate) muted: bool,
    pub(crate) failures: u64,
    pub(crate) middleware: usize,
    /// Live receivers in dispatch order, with their queues' reports.
    pub(crate) receivers: Vec<(ReceiverInfo, Option<Box<dyn Any + Send>>)>,
    /// Emits counted (see `introspect::set_stats`).
    pub(crate) emits: u64,
}

/// A type-erased handle to a registered signal.
///
/// ```
/// use mesh::{Namespace, registry};
/// static APP: Namespace = Namespace::new("app");
/// let s = APP.signal::<u32>("tick").unwrap();
/// s.connect(|_: &u32| {});
///
/// let r = registry::lookup("app.tick").unwrap();
/// assert_eq!(r.receiver_count(), 1);
/// assert_eq!(r.type_name(), "u32");
/// let typed = r.downcast::<u32>().unwrap();
/// assert_eq!(typed.emit(1).delivered, 1);
/// assert!(r.downcast::<i64>().is_none());
/// ```
#[derive(Clone)]
pub struct SignalRef {
    erased: Arc<dyn Erased>,
}

impl SignalRef {
    /// The full name.
    pub fn name(&self) -> &'static str {
        self.erased.name()
    }

    /// The signal's [`id`](Signal::id).
    pub fn id(&self) -> u64 {
        self.erased.id()
    }

    /// The payload's `TypeId`.
    pub fn type_id(&self) -> TypeId {
        self.erased.payload_type_id()
    }

    /// The payload's type name.
    pub fn type_name(&self) -> &'static str {
        self.erased.type_name()
    }

    /// The signal's configuration as it is now (a history capacity
    /// changed with [`Signal::set_history_capacity`] shows here).
    pub fn config(&self) -> SignalConfig {
        self.erased.config()
    }

    /// Connected receivers (exact; see [`Signal::receiver_count`]).
    pub fn receiver_count(&self) -> usize {
        self.erased.receiver_count()
    }

    /// Emits `value` on this signal, converted into its payload type
    /// (feature `serde`): `None` if the signal does not know how (its type
    /// is not `Deserialize`, or was not told: see
    /// [`Signal::serde_payloads`]); `Some(Err(..))` if the value does not
    /// fit the type. A `serde_json::Value` signal takes the value as is.
    #[cfg(feature = "serde")]
    pub fn emit_json(
        &self,
        value: serde_json::Value,
    ) -> Option<Result<crate::signal::Emitted, serde_json::Error>> {
        if let Some(dynamic) = self.downcast::<serde_json::Value>() {
            return Some(Ok(dynamic.emit(value)));
        }
        self.erased.clone().emit_json(value)
    }

    /// [`emit_json`](Self::emit_json) with an envelope made elsewhere
    /// (feature `serde`): the event keeps its id, timestamp, source and
    /// metadata (a bridge importing events from another process uses
    /// this); the signal sets its name and `seq` as for
    /// [`Signal::emit_event`].
    ///
    /// ```
    /// # #[cfg(feature = "serde")] {
    /// use mesh::{Event, Namespace};
    /// static APP: Namespace = Namespace::new("app-json-event");
    /// let s = APP.signal::<u32>("n").unwrap();
    /// s.serde_payloads();
    /// let got = std::sync::Arc::new(std::sync::Mutex::new(None));
    /// let sink = got.clone();
    /// s.connect(move |ev: &Event<u32>| *sink.lock().unwrap() = Some((ev.id, ev.data)));
    /// let remote = Event::new(serde_json::json!(7)).with_source("node-b");
    /// let id = remote.id;
    /// s.erased().emit_json_event(remote).unwrap().unwrap();
    /// assert_eq!(*got.lock().unwrap(), Some((id, 7)));
    /// # }
    /// ```
    #[cfg(feature = "serde")]
    pub fn emit_json_event(
        &self,
        event: crate::Event<serde_json::Value>,
    ) -> Option<Result<crate::signal::Emitted, serde_json::Error>> {
        if let Some(dynamic) = self.downcast::<serde_json::Value>() {
            return Some(Ok(dynamic.emit_event(event)));
        }
        self.erased.clone().emit_json_event(event)
    }

    /// What introspection reads of it.
    pub(crate) fn facts(&self) -> SignalFacts {
        self.erased.clone().facts()
    }

    /// The signal's address: the same for every handle to it (pattern
    /// attachments are matched by it).
    pub(crate) fn addr(&self) -> usize {
        Arc::as_ptr(&self.erased) as *const () as usize
    }

    pub(crate) fn clear(&self) {
        self.erased.clone().clear();
    }

    /// The typed signal, if its payload is `T`.
    pub fn downcast<T: Send + Sync + 'static>(&self) -> Option<Signal<T>> {
        let core = self.erased.clone().into_any().downcast::<Core<T>>().ok()?;
        Some(Signal::from_core(core))
    }
}

impl fmt::Debug for SignalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalRef")
            .field("name", &self.name())
            .field("type", &self.type_name())
            .field("receivers", &self.receiver_count())
            .finish()
    }
}

/// Built-in signals, registered by the floors above (the meta floor's
/// `mesh.receiver.*`) at link time: the registry calls each `make` when it
/// is first used, so built-ins are registered whichever is touched first,
/// without the registry knowing who provides them.
pub(crate) struct Builtin {
    /// Makes (or finds) the provider's signals; called once, while the
    /// registry initialises, so it must not use the registry.
    pub(crate) make: fn() -> Vec<SignalRef>,
}

inventory::collect!(Builtin);

pub(crate) struct Registry {
    signals: RwLock<BTreeMap<&'static str, SignalRef>>,
    namespaces: RwLock<BTreeSet<&'static str>>,
    /// Global pattern subscriptions. Lock order: `signals` first (see
    /// `pattern`).
    patterns: RwLock<pattern::Trie>,
    /// Names of signals that were unregistered (a dropped child bus's):
    /// a name is leaked once (`Event::name` is `&'static str`) and reused
    /// when registered again. Lock order: after `signals`.
    interned: std::sync::Mutex<BTreeSet<&'static str>>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let mut signals = BTreeMap::new();
    let mut namespaces = BTreeSet::new();
    for builtin in inventory::iter::<Builtin>() {
        for r in (builtin.make)() {
            add_prefixes(&mut namespaces, r.name());
            signals.insert(r.name(), r);
        }
    }
    // The `#[receiver(pattern = ..)]`s are listed before any signal but
    // the built-ins exists, so every later signal meets them.
    let patterns = pattern::static_trie(&signals);
    Registry {
        signals: RwLock::new(signals),
        namespaces: RwLock::new(namespaces),
        patterns: RwLock::new(patterns),
        interned: std::sync::Mutex::default(),
    }
});

pub(crate) fn registry() -> &'static Registry {
    &REGISTRY
}

/// Adds every proper dotted prefix of `name` (`a`, `a.b` for `a.b.c`).
fn add_prefixes(namespaces: &mut BTreeSet<&'static str>, name: &'static str) {
    let mut end = 0;
    while let Some(dot) = name[end..].find('.') {
        end += dot;
        namespaces.insert(&name[..end]);
        end += 1;
    }
}

fn entry<T: Send + Sync + 'static>(signal: &Signal<T>) -> SignalRef {
    SignalRef { erased: signal.core().clone() }
}

/// Registers (or finds) the signal `full` with payload `T`, and
/// announces the pattern subscribers a new signal got.
pub(crate) fn register<T: Send + Sync + 'static>(
    full: &str,
    config: SignalConfig,
) -> Result<Signal<T>, RegistryError> {
    let (signal, announce) = register_quiet(full, config)?;
    announce.run();
    Ok(signal)
}

/// `mesh.receiver.connected` reports owed for pattern subscribers
/// attached to a new signal, for when the caller may run user code.
#[must_use = "the reports are owed: `run` them once no lock is held"]
pub(crate) struct Announcements(Vec<Announce>);

impl Announcements {
    /// Emits the reports.
    pub(crate) fn run(self) {
        for (name, id, info) in self.0 {
            observe::connected(name, id, info);
        }
    }
}

/// [`register`] without announcing (static signal initialisation, which
/// runs no user code).
pub(crate) fn register_quiet<T: Send + Sync + 'static>(
    full: &str,
    config: SignalConfig,
) -> Result<(Signal<T>, Announcements), RegistryError> {
    register_with(full, config, true, &mut false)
}

/// [`register_quiet`]; `long_lived`: whether a new signal gets a
/// thread-cache slot of its own (signals that live as long as the
/// process); `created` is set when this call made the signal.
pub(crate) fn register_with<T: Send + Sync + 'static>(
    full: &str,
    config: SignalConfig,
    long_lived: bool,
    created: &mut bool,
) -> Result<(Signal<T>, Announcements), RegistryError> {
    if full == "mesh" || full.starts_with("mesh.") {
        return Err(RegistryError::Reserved { name: full.to_owned() });
    }
    register_any(full, config, long_lived, created)
}

/// A meta-signal under the reserved `mesh.` prefix, for crates that
/// extend mesh (see [`meta::extension`](crate::meta::extension)).
pub(crate) fn register_meta<T: Send + Sync + 'static>(
    full: &str,
) -> Result<Signal<T>, RegistryError> {
    if let Err(error) = crate::name::validate_name(full) {
        return Err(RegistryError::InvalidName { name: full.to_owned(), error });
    }
    if !full.starts_with("mesh.") {
        return Err(RegistryError::NotMeta { name: full.to_owned() });
    }
    if full.starts_with("mesh.receiver.") {
        // The built-ins' own: an extension cannot emit on them.
        return Err(RegistryError::Reserved { name: full.to_owned() });
    }
    let (signal, announce) = register_any(full, SignalConfig::new(), true, &mut false)?;
    announce.run();
    Ok(signal)
}

fn register_any<T: Send + Sync + 'static>(
    full: &str,
    config: SignalConfig,
    long_lived: bool,
    created: &mut bool,
) -> Result<(Signal<T>, Announcements), RegistryError> {
    let mut announce = Vec::new();
    let made = std::cell::Cell::new(false);
    let found = register_erased(
        full,
        config,
        TypeId::of::<T>(),
        type_name::<T>(),
        &|name| {
            made.set(true);
            entry(&Signal::<T>::build(name, config, long_lived))
        },
        &mut announce,
    )?;
    *created = made.get();
    // The type was checked: the downcast succeeds.
    let signal = found.downcast::<T>().ok_or(RegistryError::TypeMismatch {
        name: found.name(),
        registered: found.type_name(),
        requested: type_name::<T>(),
    })?;
    Ok((signal, Announcements(announce)))
}

/// [`register`] without the payload type (compiled once, not once per
/// type: issue 14): `make` builds the signal with the leaked name when
/// `full` is new.
fn register_erased(
    full: &str,
    config: SignalConfig,
    payload: TypeId,
    payload_name: &'static str,
    make: &dyn Fn(&'static str) -> SignalRef,
    announce: &mut Vec<Announce>,
) -> Result<SignalRef, RegistryError> {
    let reg = registry();
    if let Some(found) = reg.signals.read_locked().get(full) {
        return check(found, config, payload, payload_name);
    }
    let mut signals = reg.signals.write_locked();
    if let Some(found) = signals.get(full) {
        return check(found, config, payload, payload_name);
    }
    let interned = reg.interned.lock().unwrap_or_else(|e| e.into_inner()).get(full).copied();
    let name: &'static str =
        interned.unwrap_or_else(|| Box::leak(full.to_owned().into_boxed_str()));
    let signal = make(name);
    signals.insert(name, signal.clone());
    // Under the write lock: the pattern subscriptions' exactly-once rule
    // (see `pattern`).
    pattern::signal_made(&signal, announce);
    drop(signals);
    add_prefixes(&mut reg.namespaces.write_locked(), name);
    Ok(signal)
}

/// An existing registration matches when the payload type matches (checked
/// first: a type clash is the more important error) and so does the
/// configuration as it is now (history capacity included, which may have
/// changed since the signal was registered).
fn check(
    found: &SignalRef,
    config: SignalConfig,
    payload: TypeId,
    payload_name: &'static str,
) -> Result<SignalRef, RegistryError> {
    if found.type_id() != payload {
        return Err(RegistryError::TypeMismatch {
            name: found.name(),
            registered: found.type_name(),
            requested: payload_name,
        });
    }
    let registered = found.config();
    if registered != config {
        return Err(RegistryError::ConfigMismatch {
            name: found.name(),
            registered,
            requested: config,
        });
    }
    Ok(found.clone())
}

/// Removes `signal` from the registry (if its name still maps to it),
/// keeping its name for reuse.
pub(crate) fn unregister(signal: &SignalRef) {
    let reg = registry();
    let mut signals = reg.signals.write_locked();
    if signals.get(signal.name()).is_some_and(|s| s.id() == signal.id()) {
        signals.remove(signal.name());
        reg.interned.lock().unwrap_or_else(|e| e.into_inner()).insert(signal.name());
    }
}

/// `<prefix>.<name>` (just `name` for an empty prefix), with `name`
/// checked; an error's offset is into the full name, which it shows.
pub(crate) fn qualify(prefix: &str, name: &str) -> Result<String, RegistryError> {
    let full = join(prefix, name);
    match validate_name(name) {
        Ok(()) => Ok(full),
        Err(error) => {
            let error = error.shifted(full.len() - name.len());
            Err(RegistryError::InvalidName { name: full, error })
        }
    }
}

/// The registered signal with this full name.
pub fn lookup(name: &str) -> Option<SignalRef> {
    registry().signals.read_locked().get(name).cloned()
}

/// Every registered signal (built-ins included), sorted by name.
pub fn signals() -> Vec<SignalRef> {
    registry().signals.read_locked().values().cloned().collect()
}

/// Every namespace declared with [`namespace!`](crate::namespace!) in a
/// linked crate, and every namespace that holds a registered signal
/// (directly or nested), sorted by name.
pub fn namespaces() -> Vec<&'static str> {
    let mut all = registry().namespaces.read_locked().clone();
    for decl in inventory::iter::<NamespaceDecl>() {
        let mut ns = Some(decl.0);
        while let Some(n) = ns {
            all.insert(n.name());
            ns = n.parent();
        }
    }
    all.into_iter().collect()
}

pub(crate) fn signals_under(prefix: &str) -> Vec<SignalRef> {
    let signals = registry().signals.read_locked();
    signals
        .range::<str, _>((std::ops::Bound::Excluded(prefix), std::ops::Bound::Unbounded))
        .take_while(|(k, _)| k.starts_with(prefix))
        .filter(|(k, _)| k.as_bytes().get(prefix.len()) == Some(&b'.'))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Makes sure the registry — and so every [`Builtin`] — is initialised.
pub(crate) fn ensure_builtins() {
    LazyLock::force(&REGISTRY);
}

/// The registry face of a [`Namespace`]: its signals.
impl Namespace {
    /// The named signal `<namespace>.<name>` carrying `T`, created and
    /// registered on first request; later requests for the same name and
    /// type share it.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`] for an invalid `name`,
    /// [`RegistryError::TypeMismatch`] if the name is taken by another
    /// payload type, [`RegistryError::Reserved`] in the `mesh` namespace.
    pub fn signal<T: Send + Sync + 'static>(
        &'static self,
        name: &str,
    ) -> Result<Signal<T>, RegistryError> {
        self.signal_with(name, SignalConfig::new())
    }

    /// [`signal`](Self::signal) with a configuration; a second request with
    /// a different configuration is a [`RegistryError::ConfigMismatch`].
    pub fn signal_with<T: Send + Sync + 'static>(
        &'static self,
        name: &str,
        config: SignalConfig,
    ) -> Result<Signal<T>, RegistryError> {
        register(&qualify(self.name(), name)?, config)
    }

    /// The registered signals in this namespace and those nested in it,
    /// sorted by name.
    pub fn signals(&'static self) -> Vec<SignalRef> {
        signals_under(self.name())
    }
}
