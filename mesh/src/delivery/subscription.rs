//! [`Subscription`]: a queued receiver read by its owner, as a `Stream`
//! or with `recv`.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;

use crate::connection::Connection;
use crate::event::Event;
use crate::receiver::ReceiverInfo;
use crate::signal::Signal;

use super::channel::{Channel, Closed, Item};
use super::feed::Feed;
use super::{Queue, QueueStats};

/// A stream of a signal's events through a bounded queue: see the
/// [module docs](super) for the policies.
///
/// Events arrive as the shared envelope (`Arc<Event<T>>`). Taking an event
/// out ([`recv`](Self::recv), [`try_recv`](Self::try_recv),
/// [`recv_blocking`](Self::recv_blocking), `Stream::poll_next`) counts it
/// as processed. Dropping the subscription disconnects it and drops what
/// it still held (counted); [`close`](Self::close) disconnects it and
/// lets the rest be read first.
///
/// `recv` is cancel safe: a `recv()` future dropped before it completes
/// (say, the losing branch of a `select!`) has taken nothing.
///
/// ```
/// use mesh::Signal;
/// use mesh::delivery::Queue;
/// let s = Signal::<&'static str>::new();
/// let mut sub = s.subscribe(Queue::bounded(16));
/// s.emit("a");
/// s.emit("b");
/// sub.close();
/// let got: Vec<_> = std::iter::from_fn(|| sub.recv_blocking()).map(|ev| ev.data).collect();
/// assert_eq!(got, ["a", "b"]);
/// ```
pub struct Subscription<T> {
    channel: Arc<Channel<T>>,
    connection: Connection,
}

/// Why [`Subscription::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing queued now.
    Empty,
    /// Disconnected and drained: nothing will come.
    Closed,
}

/// Why [`Subscription::recv_timeout`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// Nothing came in time.
    Timeout,
    /// Disconnected and drained: nothing will come.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "no event queued",
            TryRecvError::Closed => "subscription closed",
        })
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecvTimeoutError::Timeout => "no event before the timeout",
            RecvTimeoutError::Closed => "subscription closed",
        })
    }
}

impl std::error::Error for TryRecvError {}
impl std::error::Error for RecvTimeoutError {}

/// The envelope of a taken item; an emitter waiting for it is told.
fn taken<T>(item: Item<T>) -> Arc<Event<T>> {
    if let Some(done) = item.done {
        done.complete();
    }
    item.event
}

impl<T: Send + Sync + 'static> Subscription<T> {
    /// The next event; `None` once the subscription is closed and drained.
    /// Cancel safe.
    pub async fn recv(&mut self) -> Option<Arc<Event<T>>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next event, if one is queued.
    pub fn try_recv(&mut self) -> Result<Arc<Event<T>>, TryRecvError> {
        match self.channel.try_pop(false) {
            Ok(Some(item)) => Ok(taken(item)),
            Ok(None) => Err(TryRecvError::Empty),
            Err(()) => Err(TryRecvError::Closed),
        }
    }

    /// The next event, blocking the thread until one comes; `None` once
    /// closed and drained. Not for async code (use [`recv`](Self::recv)).
    pub fn recv_blocking(&mut self) -> Option<Arc<Event<T>>> {
        self.channel.pop_blocking(None).ok().map(taken)
    }

    /// [`recv_blocking`](Self::recv_blocking), waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Arc<Event<T>>, RecvTimeoutError> {
        match self.channel.pop_blocking(Instant::now().checked_add(timeout)) {
            Ok(item) => Ok(taken(item)),
            Err(true) => Err(RecvTimeoutError::Closed),
            Err(false) => Err(RecvTimeoutError::Timeout),
        }
    }

    /// `recv` as a poll.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Event<T>>>> {
        self.channel.poll_pop(cx, false).map(|item| item.map(taken))
    }

    /// Disconnects from the signal: nothing more is queued, what is queued
    /// can still be read, then the stream ends.
    pub fn close(&mut self) {
        self.connection.clone().disconnect();
        self.channel.close(Closed::Detached);
    }

    /// Whether it still receives new events.
    pub fn is_connected(&self) -> bool {
        self.connection.is_connected()
    }

    /// Its queue's counters.
    pub fn stats(&self) -> QueueStats {
        self.channel.stats()
    }

    /// Its connection (for its id; disconnecting through it is
    /// [`close`](Self::close)).
    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}

impl<T: Send + Sync + 'static> Stream for Subscription<T> {
    type Item = Arc<Event<T>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        self.connection.clone().disconnect();
        self.channel.close(Closed::Discarded);
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.connection.id())
            .field("stats", &self.channel.stats())
            .finish()
    }
}

impl<T: Send + Sync + 'static> Signal<T> {
    /// Subscribes through a bounded queue: see [`delivery`](super).
    ///
    /// ```
    /// use mesh::Signal;
    /// use mesh::delivery::{Overflow, Queue};
    /// let s = Signal::<u32>::new();
    /// let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::Reject));
    /// assert_eq!(s.emit(1).queued, 1);
    /// assert_eq!(s.emit(2).rejected, 1);
    /// assert_eq!(sub.try_recv().unwrap().data, 1);
    /// ```
    pub fn subscribe(&self, queue: Queue) -> Subscription<T> {
        let (channel, connection, _) = connect_queue(self, queue, "subscription", true, true, true);
        Subscription { channel, connection }
    }
}

/// Connects a queued receiver feeding a new channel. `envelope`: its
/// consumer reads the envelope (unless the queue says payload only).
/// `announce`: report it on `mesh.receiver.connected` (else its info is
/// returned). `consumer_here`: see [`Channel::new`].
pub(crate) fn connect_queue<T: Send + Sync + 'static>(
    signal: &Signal<T>,
    queue: Queue,
    default_name: &'static str,
    envelope: bool,
    announce: bool,
    consumer_here: bool,
) -> (Arc<Channel<T>>, Connection, Option<ReceiverInfo>) {
    let channel = queue.channel::<T>(consumer_here);
    let mut options = queue.options;
    let name = options.name.get_or_insert(default_name.into()).clone();
    let (sig, signal_id) = (signal.name(), signal.id());
    let (connection, info) = if envelope && !queue.payload_only {
        let feed = Feed::<T, true> { channel: channel.clone(), signal: sig, signal_id, name };
        signal.connect_queued(feed, options, queue.replay, announce)
    } else {
        let feed = Feed::<T, false> { channel: channel.clone(), signal: sig, signal_id, name };
        signal.connect_queued(feed, options, queue.replay, announce)
    };
    (channel, connection, info)
}
