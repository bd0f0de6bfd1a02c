//! Built-in meta-signals: the mesh reporting on itself.
//!
//! | signal | payload | fired when |
//! |---|---|---|
//! | `mesh.receiver.connected` | [`ReceiverConnected`] | any receiver is connected to any signal |
//! | `mesh.receiver.disconnected` | [`ReceiverDisconnected`] | any receiver is removed: explicitly, by a scoped guard, weak clean-up, a spent one-shot, or `disconnect_all` |
//! | `mesh.receiver.failed` | [`ReceiverFailed`] | a receiver panicked or returned `Err` |
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
use crate::registry::registry;
use crate::signal::Signal;

/// Full name of the failure meta-signal.
pub const FAILED: &str = "mesh.receiver.failed";
/// Full name of the connection meta-signal.
pub const CONNECTED: &str = "mesh.receiver.connected";
/// Full name of the disconnection meta-signal.
pub const DISCONNECTED: &str = "mesh.receiver.disconnected";

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

/// The `mesh.receiver.connected` signal.
pub fn connected() -> &'static Signal<ReceiverConnected> {
    &registry().meta.connected
}

/// The `mesh.receiver.disconnected` signal.
pub fn disconnected() -> &'static Signal<ReceiverDisconnected> {
    &registry().meta.disconnected
}

/// The `mesh.receiver.failed` signal.
pub fn failed() -> &'static Signal<ReceiverFailed> {
    &registry().meta.failed
}

pub(crate) fn wants_connected() -> bool {
    connected().core().subs.len() > 0
}

pub(crate) fn wants_disconnected() -> bool {
    disconnected().core().subs.len() > 0
}

pub(crate) fn connected_event(signal: &'static str, signal_id: u64, receiver: ReceiverInfo) {
    connected().emit(ReceiverConnected { signal, signal_id, receiver });
}

pub(crate) fn disconnected_event(
    signal: &'static str,
    signal_id: u64,
    receiver: ReceiverInfo,
    reason: DisconnectReason,
) {
    disconnected().emit(ReceiverDisconnected { signal, signal_id, receiver, reason });
}

pub(crate) fn failed_event(
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
