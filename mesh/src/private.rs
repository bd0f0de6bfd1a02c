//! Support code for the macros. Not a public API: anything here may change
//! in any release.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

pub use inventory;
use std::sync::{Arc, OnceLock};

use crate::event_type::EventType;
use crate::observe::{self, ScopedSignal};
use crate::receiver::{ConnectOptions, IntoReceiver, ReceiverInfo, ReceiverResult};
use crate::registry;
use crate::signal::Signal;
use crate::signal::SignalConfig;

pub use crate::event_type::ReceiverArg;

/// A `#[receiver]`, collected at link time.
pub struct StaticReceiver {
    /// `TypeId` of the event type it receives.
    pub event: fn() -> TypeId,
    /// `module::path::fn_name`, or the `name = "..."` option.
    pub name: &'static str,
    /// The `priority = N` option.
    pub priority: i32,
    /// The `source = "..."` option.
    pub source: Option<&'static str>,
    /// Connects the function to the signal passed as `&Signal<T>`,
    /// without announcing it.
    pub connect: fn(&dyn Any, ConnectOptions) -> Connected,
}

inventory::collect!(StaticReceiver);

pub use crate::registry::{PatternReceiver, StaticPattern};

/// A pattern receiver taking [`AnyEvent`](crate::AnyEvent).
pub fn any_pattern<R, F>(f: F) -> PatternReceiver
where
    R: ReceiverResult,
    F: Fn(&crate::AnyEvent<'_>) -> R + Send + Sync + 'static,
{
    PatternReceiver::any(f)
}

/// A pattern receiver taking `&P` or `&Event<P>`: attached to the
/// matching signals whose payload is `P`.
pub fn typed_pattern<P, M, F>(f: F) -> PatternReceiver
where
    P: Send + Sync + 'static,
    F: IntoReceiver<P, M>,
{
    PatternReceiver::typed::<P, F::Handler>(f.into_handler())
}

pub use crate::namespace::NamespaceDecl;

/// The static signal of an event type: what `#[signal]` puts in a
/// `static` (see the [`event_type`](crate::event_type) module docs for the
/// initialisation protocol).
pub struct StaticSignal<T: 'static> {
    cell: OnceLock<Signal<T>>,
    config: SignalConfig,
    setup: fn(&Signal<T>),
}

impl<T: EventType> StaticSignal<T> {
    /// A signal created on first use with `config`; `setup` tells it
    /// what the type can do for type-erased views (see [`setup`]).
    pub const fn new(config: SignalConfig, setup: fn(&Signal<T>)) -> Self {
        StaticSignal { cell: OnceLock::new(), config, setup }
    }

    /// Runs `f` with the signal: inside a testing scope the scope's, else
    /// the process-wide one.
    #[inline]
    pub fn with<R>(&'static self, f: impl FnOnce(&Signal<T>) -> R) -> R {
        let scoped = observe::scoped::<Signal<T>>(TypeId::of::<T>(), |globals| {
            let signal = self.unregistered();
            if globals {
                for receiver in connect_globals(&signal) {
                    observe::connected(T::NAME, signal.id(), receiver);
                }
            }
            registry::scoped_signal_made(&signal);
            Box::new(signal)
        });
        // `f` is called in one place, so it is inlined here (called in
        // three, it was not: measured, an event type's `.emit()` with no
        // receivers took 49 instructions instead of 15).
        let signal = match &scoped {
            Some(scoped) => scoped,
            None => match self.cell.get() {
                Some(signal) => signal,
                None => self.init(),
            },
        };
        f(signal)
    }

    /// `T::emit`, as [`Emitted::to_bits`](crate::Emitted): on the
    /// process-wide signal, once made, one load of its state word decides
    /// "nobody listening" and "receivers, nothing else" (a live testing
    /// scope sets the `GLOBAL` state bit on every signal, so
    /// neither case can skip the scope's resolution); anything else goes
    /// through [`with`](Self::with).
    #[inline]
    pub fn emit_bits(&'static self, data: T) -> u128 {
        if let Some(signal) = self.cell.get() {
            let core = signal.core();
            let word = core.subs.word();
            if word == 0 {
                return crate::Emitted::with(crate::EmitStatus::NoReceivers).to_bits();
            }
            if word & crate::signal::STATE == 0 && size_of::<T>() <= crate::signal::LARGE_PAYLOAD {
                return core.emit_plain_bits(data);
            }
        }
        self.emit_cold(data)
    }

    /// [`emit_bits`](Self::emit_bits) through [`with`](Self::with): first
    /// use, a testing scope, a large payload or a signal with state.
    #[inline(never)]
    fn emit_cold(&'static self, data: T) -> u128 {
        // One closure, so an unoptimised build keeps one copy of a large
        // payload in this frame, not one per branch.
        self.with(|s| {
            if size_of::<T>() > crate::signal::LARGE_PAYLOAD {
                s.emit(data).to_bits()
            } else {
                s.core().emit_cold_bits(data)
            }
        })
    }

    /// First use: create, register and wire up the signal without running
    /// user code, then announce its receivers.
    ///
    /// # Panics
    ///
    /// If `T::NAME` is already registered with another payload type or
    /// configuration: two types claiming one name is a programming error
    /// that only shows when both are linked into one program. The cell
    /// stays uninitialised, so every use panics with the same message.
    #[cold]
    #[inline(never)]
    fn init(&'static self) -> &'static Signal<T> {
        let mut connected = Vec::new();
        let mut patterns = None;
        let signal = self.cell.get_or_init(|| {
            let (signal, announce) = registry::register_quiet::<T>(T::NAME, self.config)
                .unwrap_or_else(|e| panic!("#[signal] on `{}`: {e}", std::any::type_name::<T>()));
            patterns = Some(announce);
            (self.setup)(&signal);
            connected = connect_globals(&signal);
            signal
        });
        // Only the thread that ran the initialiser has anything to announce.
        if let Some(patterns) = patterns {
            patterns.run();
        }
        for receiver in connected {
            observe::connected(T::NAME, signal.id(), receiver);
        }
        signal
    }

    /// A signal like this one, registered nowhere: for testing scopes.
    fn unregistered(&self) -> Signal<T> {
        let signal = Signal::build(T::NAME, self.config, false);
        (self.setup)(&signal);
        signal
    }
}

/// A testing scope's signal of an event type.
impl<T: Send + Sync + 'static> ScopedSignal for Signal<T> {
    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }
    fn clear(&self) {
        self.disconnect_all();
    }
}

/// What a `#[receiver]`'s connect function returns: the connected
/// receiver, for the caller to announce, or `None` if the signal was not
/// the receiver's.
pub type Connected = Option<ReceiverInfo>;

/// Connects every `#[receiver]` for `T` in (priority descending, name)
/// order, quietly: returns what to announce on `mesh.receiver.connected`.
pub(crate) fn connect_globals<T: EventType>(signal: &Signal<T>) -> Vec<ReceiverInfo> {
    connect_globals_erased(TypeId::of::<T>(), signal)
}

/// [`connect_globals`], compiled once (issue 14): `signal` is the
/// `Signal<T>` of event type `event`.
fn connect_globals_erased(event: TypeId, signal: &dyn Any) -> Vec<ReceiverInfo> {
    let receivers = receivers_of(event);
    let mut connected = Vec::with_capacity(receivers.len());
    for r in receivers {
        // A `#[receiver]`'s identity is its name: connected once per signal.
        let mut options = ConnectOptions::new()
            .priority(r.priority)
            .name(Cow::Borrowed(r.name))
            .key(Cow::Borrowed(r.name));
        if let Some(source) = r.source {
            options = options.source(source);
        }
        connected.extend((r.connect)(signal, options));
    }
    connected
}

/// Every `#[receiver]` of event type `event`, in connection order
/// (priority descending, then name).
///
/// The link-time list is read once, on the first signal's first use, into
/// an index by event type: initialising S signals with R receivers in all
/// costs O(S + R), where scanning the whole list for each signal cost
/// O(S × R) (issue 14: 2,000 types and 4,000 receivers took 128–152 ms to
/// start). Building it runs no user code.
fn receivers_of(event: TypeId) -> &'static [&'static StaticReceiver] {
    type Index = std::collections::HashMap<TypeId, Vec<&'static StaticReceiver>>;
    static INDEX: OnceLock<Index> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut index = Index::new();
        for r in inventory::iter::<StaticReceiver>() {
            index.entry((r.event)()).or_default().push(r);
        }
        for receivers in index.values_mut() {
            receivers.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(b.name)));
        }
        index
    });
    index.get(&event).map_or(&[], Vec::as_slice)
}

/// How a signal formats payloads for type-erased views.
pub type DebugFn<T> = crate::event::DebugFn<T>;

/// What `T` can do, found by autoref specialisation: in
/// `(&Probe::<T>::new()).debug_fn()`, method lookup first tries receivers
/// of type `&Probe<T>`, which [`ViaDebug`] (implemented for `Probe<T>`
/// when `T: Debug`) takes; only if that does not apply does it autoref to
/// `&&Probe<T>`, which [`NoDebug`] (implemented for `&Probe<T>`) takes.
/// The same for [`ViaSerialize`] / [`ViaDeserialize`] against
/// [`NoSerde`]. Works for the concrete types the macros name.
pub struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    /// A probe for `T`.
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<T> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Chosen when `T: Debug`.
pub trait ViaDebug<T> {
    /// `T`'s `Debug`.
    fn debug_fn(&self) -> Option<DebugFn<T>>;
}

impl<T: fmt::Debug> ViaDebug<T> for Probe<T> {
    fn debug_fn(&self) -> Option<DebugFn<T>> {
        Some(|t, f| fmt::Debug::fmt(t, f))
    }
}

/// Chosen otherwise.
pub trait NoDebug<T> {
    /// `None`.
    fn debug_fn(&self) -> Option<DebugFn<T>>;
}

impl<T> NoDebug<T> for &Probe<T> {
    fn debug_fn(&self) -> Option<DebugFn<T>> {
        None
    }
}

/// What `#[signal]` found its type can do, told to its signal: `Debug`
/// and, with feature `serde`, JSON both ways (each found by a
/// [`Probe`]).
pub fn setup<T: Send + Sync + 'static>(
    signal: &Signal<T>,
    debug: Option<DebugFn<T>>,
    to_json: Option<ToJsonFn<T>>,
    from_json: Option<FromJsonFn<T>>,
) {
    if let Some(debug) = debug {
        signal.set_debug(debug);
    }
    #[cfg(feature = "serde")]
    {
        if let Some(to) = to_json {
            signal.set_to_json(to);
        }
        if let Some(from) = from_json {
            signal.set_from_json(from);
        }
    }
    #[cfg(not(feature = "serde"))]
    let _ = (to_json, from_json);
}

/// Serializes a payload to JSON (a placeholder type without feature
/// `serde`, where no probe finds one).
#[cfg(feature = "serde")]
pub type ToJsonFn<T> = fn(&T) -> Result<serde_json::Value, serde_json::Error>;
/// Without feature `serde`: never made.
#[cfg(not(feature = "serde"))]
pub type ToJsonFn<T> = fn(&T);
/// Deserializes a payload from JSON.
#[cfg(feature = "serde")]
pub type FromJsonFn<T> = fn(serde_json::Value) -> Result<T, serde_json::Error>;
/// Without feature `serde`: never made.
#[cfg(not(feature = "serde"))]
pub type FromJsonFn<T> = fn() -> T;

/// Chosen when `T: Serialize` (feature `serde`).
pub trait ViaSerialize<T> {
    /// `T` to JSON.
    fn serialize_fn(&self) -> Option<ToJsonFn<T>>;
}

/// Chosen when `T: DeserializeOwned` (feature `serde`).
pub trait ViaDeserialize<T> {
    /// JSON to `T`.
    fn deserialize_fn(&self) -> Option<FromJsonFn<T>>;
}

#[cfg(feature = "serde")]
impl<T: serde::Serialize> ViaSerialize<T> for Probe<T> {
    fn serialize_fn(&self) -> Option<ToJsonFn<T>> {
        Some(|t| serde_json::to_value(t))
    }
}

#[cfg(feature = "serde")]
impl<T: serde::de::DeserializeOwned> ViaDeserialize<T> for Probe<T> {
    fn deserialize_fn(&self) -> Option<FromJsonFn<T>> {
        Some(serde_json::from_value::<T>)
    }
}

/// Chosen otherwise.
pub trait NoSerde<T> {
    /// `None`.
    fn serialize_fn(&self) -> Option<ToJsonFn<T>> {
        None
    }
    /// `None`.
    fn deserialize_fn(&self) -> Option<FromJsonFn<T>> {
        None
    }
}

impl<T> NoSerde<T> for &Probe<T> {}

/// A `#[receiver]`'s failure, as its text.
pub type Failure = String;

/// A `#[receiver]`'s result as `Result<(), Failure>` (see the macro).
#[inline(always)]
pub fn failure<R: ReceiverResult>(result: R) -> Result<(), Failure> {
    match result.into_failure() {
        None => Ok(()),
        Some(message) => Err(message),
    }
}

/// Connects `f` to `signal` if it is a `Signal<P>`, quietly (the
/// caller announces it).
pub fn connect_static<P, M, F>(signal: &dyn Any, options: ConnectOptions, f: F) -> Connected
where
    P: Send + Sync + 'static,
    F: IntoReceiver<P, M>,
{
    let signal = signal.downcast_ref::<Signal<P>>()?;
    signal.connect_quiet(options, f)
}

/// How an async `#[receiver]` is queued: `queue = N` and
/// `overflow = ...` (defaults: 1024, drop oldest).
pub struct AsyncQueue {
    /// The bound, in events.
    pub capacity: usize,
    /// The policy.
    pub overflow: crate::delivery::Overflow,
}

/// Connects the async function `f` (called with the envelope; `A` is the
/// receiver's argument, `&P` or `&Event<P>`) to `signal` if it is a
/// `Signal<P>`, quietly, and hands its driver to the spawner
/// ([`delivery::set_spawner`](crate::delivery::set_spawner)).
pub fn connect_static_async<P, A, F, Fut, R>(
    signal: &dyn Any,
    options: ConnectOptions,
    queue: AsyncQueue,
    f: F,
) -> Connected
where
    P: Send + Sync + 'static,
    A: ReceiverArg<Payload = P> + ?Sized,
    F: Fn(Arc<crate::Event<P>>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
    R: ReceiverResult,
{
    let signal = signal.downcast_ref::<Signal<P>>()?;
    let mut q =
        crate::delivery::Queue::bounded(queue.capacity).overflow(queue.overflow).options(options);
    // A receiver returning effects needs the event's id (its cause).
    if A::PAYLOAD_ONLY && !R::NEEDS_ENVELOPE {
        q = q.payload_only();
    }
    let (_handle, driver, info) = signal.connect_async_with(q, f, false);
    crate::delivery::spawn(Box::pin(driver));
    info
}

/// Length of `<namespace>.<name>` (or `<name>` at the root).
pub const fn joined_len(namespace: &str, name: &str) -> usize {
    if namespace.is_empty() { name.len() } else { namespace.len() + 1 + name.len() }
}

/// The bytes of `<namespace>.<name>`; `N` must be [`joined_len`].
pub const fn join_names<const N: usize>(namespace: &str, name: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let (ns, name) = (namespace.as_bytes(), name.as_bytes());
    let mut at = 0;
    while at < ns.len() {
        out[at] = ns[at];
        at += 1;
    }
    if !ns.is_empty() {
        out[at] = b'.';
        at += 1;
    }
    let mut i = 0;
    while i < name.len() {
        out[at + i] = name[i];
        i += 1;
    }
    out
}

/// `bytes` as `&str` in a const context.
pub const fn utf8(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => panic!("signal names are ASCII"),
    }
}
