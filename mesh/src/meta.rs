//! Built-in meta-signals: the mesh reporting on itself.
//!
//! | signal | payload | fired when |
//! |---|---|---|
//! | `mesh.receiver.connected` | [`ReceiverConnected`] | any receiver is connected to any signal |
//! | `mesh.receiver.disconnected` | [`ReceiverDisconnected`] | any receiver is removed: explicitly, by a scoped guard, weak clean-up, a spent one-shot, or `disconnect_all` |
//! | `mesh.receiver.failed` | [`ReceiverFailed`] | a receiver panicked or returned `Err` |
//! | `mesh.receiver.lagged` | [`ReceiverLagged`] | a [queued receiver](crate::delivery) dropped or refused events, or made emitters wait (saturation): at most one report per receiver per 100 ms, with the counts since its last report |
//!
//! They are ordinary named [`Signal`]s registered under the reserved `mesh`
//! namespace, so they can be looked up by name like any other. Payloads are
//! only built when someone listens: with no meta receivers, connecting and
//! disconnecting cost one extra atomic load each.
//!
//! A receiver of `mesh.receiver.failed` that itself fails is counted but
//! not reported again, so a failing failure handler cannot loop.
//!
//! Meta events are emitted after the change they report, by the thread
//! that made it. A receiver is live as soon as it is inserted, so when
//! another thread emits at that moment (and, say, removes a one-shot) its
//! `disconnected` event can be observed before the `connected` one.
//!
//! ```
//! use mesh::{Signal, meta};
//! use std::sync::{Arc, Mutex};
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let l = log.clone();
//! let _watch = meta::failed().connect_scoped(move |f: &meta::ReceiverFailed| {
//!     l.lock().unwrap().push(f.message.clone());
//! });
//! let s = Signal::<u8>::new();
//! s.connect(|_: &u8| Err::<(), _>("disk full"));
//! s.emit(1);
//! assert!(log.lock().unwrap().contains(&"disk full".to_string()));
//! ```

use std::borrow::Cow;

use crate::connection::DisconnectReason;
use crate::receiver::ReceiverInfo;
use std::sync::OnceLock;

use crate::observe::{self, Lifecycle};
use crate::registry::{self, Builtin, SignalRef};
use crate::signal::{Signal, SignalConfig};

/// Full name of the failure meta-signal.
pub const FAILED: &str = "mesh.receiver.failed";
/// Full name of the connection meta-signal.
pub const CONNECTED: &str = "mesh.receiver.connected";
/// Full name of the disconnection meta-signal.
pub const DISCONNECTED: &str = "mesh.receiver.disconnected";
/// Full name of the lag meta-signal.
pub const LAGGED: &str = "mesh.receiver.lagged";

/// Payload of `mesh.receiver.lagged`: a queued receiver lost or refused
/// events since its last report (reports are coalesced: at most one per
/// receiver per 100 ms, so an overloaded receiver does not flood it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverLagged {
    /// Full name of the signal (`""` if anonymous).
    pub signal: &'static str,
    /// The signal's [`id`](crate::Signal::id).
    pub signal_id: u64,
    /// The receiver's name.
    pub receiver: Cow<'static, str>,
    /// Events its policy dropped since the last report.
    pub dropped: u64,
    /// Events it refused since the last report.
    pub rejected: u64,
    /// Emits that had to wait for room in its queue since the last
    /// report (`Block`: the queue is saturated, and slows its emitters).
    pub waited: u64,
    /// Events in its queue when reported.
    pub len: usize,
    /// Its queue's capacity.
    pub capacity: usize,
    /// A blocking emit was refused because it would have waited for the
    /// receiver's own thread (see [`Overflow::Block`](crate::delivery::Overflow::Block)).
    pub would_deadlock: bool,
}

/// Payload of `mesh.receiver.connected`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverConnected {
    /// Full name of the signal (`""` if anonymous).
    pub signal: &'static str,
    /// The signal's [`id`](crate::Signal::id): tells anonymous signals
    /// apart.
    pub signal_id: u64,
    /// The receiver.
    pub receiver: ReceiverInfo,
}

/// Payload of `mesh.receiver.disconnected`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverDisconnected {
    /// Full name of the signal (`""` if anonymous).
    pub signal: &'static str,
    /// The signal's [`id`](crate::Signal::id).
    pub signal_id: u64,
    /// The receiver.
    pub receiver: ReceiverInfo,
    /// Why it was removed.
    pub reason: DisconnectReason,
}

/// Payload of `mesh.receiver.failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverFailed {
    /// Full name of the signal (`""` if anonymous).
    pub signal: &'static str,
    /// The signal's [`id`](crate::Signal::id).
    pub signal_id: u64,
    /// Name of the receiver that failed.
    pub receiver: Cow<'static, str>,
    /// The error's `Display`, or `panicked: <message>` for a panic.
    pub message: String,
}

/// The built-in signals, made when the registry (or this module) is first
/// used.
struct MetaSignals {
    connected: Signal<ReceiverConnected>,
    disconnected: Signal<ReceiverDisconnected>,
    failed: Signal<ReceiverFailed>,
    lagged: Signal<ReceiverLagged>,
}

static META: OnceLock<MetaSignals> = OnceLock::new();

/// Makes the signals (once), installs the lifecycle hook, and hands them to
/// the registry: the [`Builtin`] this module provides.
fn builtins() -> Vec<SignalRef> {
    let meta = META.get_or_init(make);
    observe::set_lifecycle(&Hook);
    vec![
        meta.connected.erased(),
        meta.disconnected.erased(),
        meta.failed.erased(),
        meta.lagged.erased(),
    ]
}

inventory::submit! { Builtin { make: builtins } }

fn make() -> MetaSignals {
    MetaSignals {
        connected: Signal::build(CONNECTED, SignalConfig::new(), true),
        disconnected: Signal::build(DISCONNECTED, SignalConfig::new(), true),
        failed: Signal::build(FAILED, SignalConfig::new(), true),
        lagged: Signal::build(LAGGED, SignalConfig::new(), true),
    }
}

fn meta() -> &'static MetaSignals {
    // Initialising the registry runs `builtins`, which makes the signals
    // and installs the hook.
    registry::ensure_builtins();
    META.get_or_init(make)
}

/// The `mesh.receiver.connected` signal.
pub fn connected() -> &'static Signal<ReceiverConnected> {
    &meta().connected
}

/// The `mesh.receiver.disconnected` signal.
pub fn disconnected() -> &'static Signal<ReceiverDisconnected> {
    &meta().disconnected
}

/// The `mesh.receiver.failed` signal.
pub fn failed() -> &'static Signal<ReceiverFailed> {
    &meta().failed
}

/// A meta-signal of a crate that extends mesh (a bridge's
/// `mesh.nats.rejected`, say): `name` must start with `mesh.`, the prefix
/// user signals may not take. Registered on first request; later requests
/// with the same payload type share it. Like the built-ins, it is reached
/// only by patterns that spell out `mesh.`.
///
/// # Errors
///
/// [`RegistryError::NotMeta`](crate::registry::RegistryError::NotMeta)
/// if `name` does not start with `mesh.`, `InvalidName` if it is not a
/// dotted name, `TypeMismatch` if it is taken by another payload type,
/// [`Reserved`](crate::registry::RegistryError::Reserved) if it is under
/// `mesh.receiver.`, the built-ins' own.
///
/// ```
/// #[derive(Debug, Clone)]
/// struct Dropped { subject: String }
///
/// let dropped = mesh::meta::extension::<Dropped>("mesh.example.dropped").unwrap();
/// assert_eq!(dropped.name(), "mesh.example.dropped");
/// assert!(mesh::meta::extension::<Dropped>("example.dropped").is_err());
/// // The built-ins' names are not an extension's to take.
/// assert!(mesh::meta::extension::<Dropped>("mesh.receiver.failed").is_err());
/// ```
pub fn extension<T: Send + Sync + 'static>(
    name: &str,
) -> Result<Signal<T>, registry::RegistryError> {
    registry::register_meta(name)
}

/// The `mesh.receiver.lagged` signal.
pub fn lagged() -> &'static Signal<ReceiverLagged> {
    &meta().lagged
}

/// Turns the lifecycle calls of every signal into `mesh.receiver.*` emits.
struct Hook;

impl Lifecycle for Hook {
    fn wants_connected(&self) -> bool {
        connected().core().subs.len() > 0
    }

    fn connected(&self, signal: &'static str, signal_id: u64, receiver: ReceiverInfo) {
        connected().emit(ReceiverConnected { signal, signal_id, receiver });
    }

    fn wants_disconnected(&self) -> bool {
        disconnected().core().subs.len() > 0
    }

    fn disconnected(
        &self,
        signal: &'static str,
        signal_id: u64,
        receiver: ReceiverInfo,
        reason: DisconnectReason,
    ) {
        disconnected().emit(ReceiverDisconnected { signal, signal_id, receiver, reason });
    }

    fn failed(
        &self,
        signal: &'static str,
        signal_id: u64,
        receiver: Cow<'static, str>,
        message: String,
    ) {
        // A failing failure handler is counted, not reported again.
        if signal != FAILED {
            failed().emit(ReceiverFailed { signal, signal_id, receiver, message });
        }
    }
}
