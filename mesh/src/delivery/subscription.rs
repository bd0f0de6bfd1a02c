//! [`Subscription`]: a queued receiver read by its owner, as a `Stream`
//! or with `recv`.

use std::borrow::Cow;
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

use super::channel::{Batch, Channel, Closed, Item};
use super::emit::Driving;
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
    /// What it took from its queue and has not handed out yet.
    batch: Batch<T>,
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

    /// The next event of the batch taken, if any. The batch's last event
    /// reports the batch processed at once, so the room it held is made
    /// (and a blocked emitter goes on) whether or not this consumer comes
    /// back for more.
    fn next(&mut self) -> Option<Arc<Event<T>>> {
        let item = self.batch.take_one()?;
        self.channel.hand_out();
        if self.batch.items.is_empty() {
            self.channel.report(&mut self.batch);
        }
        Some(taken(item))
    }

    /// The next event, if one is queued.
    pub fn try_recv(&mut self) -> Result<Arc<Event<T>>, TryRecvError> {
        if let Some(ev) = self.next() {
            return Ok(ev);
        }
        match self.channel.try_refill(&mut self.batch) {
            Ok(true) => self.next().ok_or(TryRecvError::Empty),
            Ok(false) => Err(TryRecvError::Empty),
            Err(()) => Err(TryRecvError::Closed),
        }
    }

    /// The next event, blocking the thread until one comes; `None` once
    /// closed and drained. Not for async code (use [`recv`](Self::recv)).
    pub fn recv_blocking(&mut self) -> Option<Arc<Event<T>>> {
        if let Some(ev) = self.next() {
            return Some(ev);
        }
        self.channel.refill_blocking(&mut self.batch, None).ok()?;
        self.next()
    }

    /// [`recv_blocking`](Self::recv_blocking), waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Arc<Event<T>>, RecvTimeoutError> {
        if let Some(ev) = self.next() {
            return Ok(ev);
        }
        match self.channel.refill_blocking(&mut self.batch, Instant::now().checked_add(timeout)) {
            Ok(()) => self.next().ok_or(RecvTimeoutError::Timeout),
            Err(true) => Err(RecvTimeoutError::Closed),
            Err(false) => Err(RecvTimeoutError::Timeout),
        }
    }

    /// `recv` as a poll.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Event<T>>>> {
        if let Some(ev) = self.next() {
            return Poll::Ready(Some(ev));
        }
        match self.channel.poll_refill(cx, &mut self.batch) {
            Poll::Ready(true) => Poll::Ready(self.next()),
            Poll::Ready(false) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
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

    /// Its queue's counters (what it took in its last batch counts as
    /// queued until handed out, then as processed).
    pub fn stats(&self) -> QueueStats {
        let mut stats = self.channel.stats();
        let (left, done) = (self.batch.items.len(), self.batch.done);
        stats.len += left;
        stats.processed += done as u64;
        stats.in_flight = stats.in_flight.saturating_sub(left + done);
        stats
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
        self.channel.discard_batch(&mut self.batch);
        self.channel.close(Closed::Discarded);
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.connection.id())
            .field("stats", &self.channel.stats())
            .field("taken", &self.batch.items.len())
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
        let (channel, connection, ..) =
            connect_queue(self, queue, "subscription", true, true, true);
        Subscription { channel, connection, batch: Batch::new() }
    }
}

/// Connects a queued receiver feeding a new channel. `envelope`: its
/// consumer reads the envelope (unless the queue says payload only).
/// `announce`: report it on `mesh.receiver.connected` (else its info is
/// returned). `consumer_here`: see [`Channel::new`]. Returns the
/// receiver's name too (`default_name` unless the options gave one).
pub(crate) fn connect_queue<T: Send + Sync + 'static>(
    signal: &Signal<T>,
    queue: Queue,
    default_name: &'static str,
    envelope: bool,
    announce: bool,
    consumer_here: bool,
) -> (Arc<Channel<T>>, Connection, Option<ReceiverInfo>, Cow<'static, str>) {
    let channel = queue.channel::<T>(consumer_here);
    let mut options = queue.options;
    let name = options.name.get_or_insert(default_name.into()).clone();
    let (sig, signal_id) = (signal.name(), signal.id());
    // A replay pushes into the new queue from this thread, before any
    // consumer runs: it must not wait for room (it would wait for itself).
    let _replaying = Driving::enter(Arc::as_ptr(&channel) as usize);
    let (connection, info) = if envelope && !queue.payload_only {
        let feed = Feed::<T, true> {
            channel: channel.clone(),
            signal: sig,
            signal_id,
            name: name.clone(),
        };
        signal.connect_queued(feed, options, queue.replay, announce)
    } else {
        let feed = Feed::<T, false> {
            channel: channel.clone(),
            signal: sig,
            signal_id,
            name: name.clone(),
        };
        signal.connect_queued(feed, options, queue.replay, announce)
    };
    (channel, connection, info, name)
}
