//! Connection handles: how a receiver is disconnected.
//!
//! [`Signal::connect`](crate::Signal::connect) returns a [`Connection`]. It
//! does not own the receiver: dropping it leaves the receiver connected
//! (fire-and-forget subscriptions need no bookkeeping), and
//! [`Connection::disconnect`] removes it on demand. A [`ScopedConnection`]
//! is the RAII form: the receiver is disconnected when the guard drops.
//!
//! A handle refers to its signal weakly, so a handle never keeps a signal
//! alive, and disconnecting after the signal is gone is a harmless `false`.
//!
//! An emit already in progress when `disconnect` returns may still call the
//! receiver once (it walks the snapshot it loaded before); every emit that
//! starts afterwards does not.

use std::sync::Weak;

/// Why a receiver was removed (carried by
/// [`mesh.receiver.disconnected`](crate::meta::disconnected)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// [`Connection::disconnect`] or a dropped [`ScopedConnection`].
    Disconnected,
    /// The object of a weak receiver was dropped.
    Expired,
    /// A one-shot receiver delivered its event.
    Once,
    /// [`Signal::disconnect_all`](crate::Signal::disconnect_all).
    Cleared,
    /// The last handle to the signal was dropped, taking its receivers.
    SignalDropped,
    /// A queued receiver with the [`Overflow::Disconnect`] policy found
    /// its queue full.
    ///
    /// [`Overflow::Disconnect`]: crate::delivery::Overflow::Disconnect
    Overflow,
}

/// What a connection handle needs from its signal, type-erased.
pub(crate) trait Detach: Send + Sync {
    /// Removes receiver `id`; false if it was not connected.
    fn detach(&self, id: u64, reason: DisconnectReason) -> bool;
    /// Whether receiver `id` is connected.
    fn is_attached(&self, id: u64) -> bool;
    /// For a pattern subscription's handle: the signals it is attached to.
    fn pattern_attachments(&self) -> Option<usize> {
        None
    }
}

/// A handle to one connected receiver. Dropping it does **not** disconnect;
/// see [`ScopedConnection`] for that.
///
/// ```
/// use mesh::Signal;
/// let s = Signal::<()>::new();
/// let c = s.connect(|_: &()| {});
/// assert!(c.is_connected());
/// assert!(c.disconnect());
/// assert_eq!(s.receiver_count(), 0);
/// ```
#[derive(Clone)]
pub struct Connection {
    pub(crate) signal: Weak<dyn Detach>,
    pub(crate) id: u64,
}

impl Connection {
    /// Disconnects the receiver. Returns whether it was still connected
    /// (false if already disconnected, expired, or the signal is gone).
    pub fn disconnect(self) -> bool {
        self.disconnect_ref()
    }

    fn disconnect_ref(&self) -> bool {
        match self.signal.upgrade() {
            Some(s) => s.detach(self.id, DisconnectReason::Disconnected),
            None => false,
        }
    }

    /// Whether the receiver is still connected.
    pub fn is_connected(&self) -> bool {
        self.signal.upgrade().is_some_and(|s| s.is_attached(self.id))
    }

    /// The receiver's id within its signal.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Turns this handle into a guard that disconnects on drop.
    pub fn scoped(self) -> ScopedConnection {
        ScopedConnection { connection: self, armed: true }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A connection that disconnects its receiver when dropped.
///
/// ```
/// use mesh::Signal;
/// let s = Signal::<()>::new();
/// {
///     let _guard = s.connect_scoped(|_: &()| {});
///     assert_eq!(s.receiver_count(), 1);
/// }
/// assert_eq!(s.receiver_count(), 0);
/// ```
#[must_use = "dropping a ScopedConnection disconnects the receiver at once"]
#[derive(Debug)]
pub struct ScopedConnection {
    connection: Connection,
    /// Cleared by [`release`](Self::release): then dropping does nothing.
    armed: bool,
}

impl ScopedConnection {
    /// Gives up the guard: the receiver stays connected.
    pub fn release(mut self) -> Connection {
        self.armed = false;
        self.connection.clone()
    }

    /// Whether the receiver is still connected.
    pub fn is_connected(&self) -> bool {
        self.connection.is_connected()
    }
}

impl Drop for ScopedConnection {
    fn drop(&mut self) {
        if self.armed {
            self.connection.disconnect_ref();
        }
    }
}
