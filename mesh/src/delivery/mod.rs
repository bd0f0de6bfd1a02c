//! Delivery: queued and async receivers, `Stream` subscriptions, and
//! backpressure — what happens when publishers are faster than a
//! subscriber.
//!
//! A plain receiver runs on the emitting thread, inside `emit`: a slow one
//! slows every publisher. A *queued* receiver instead gets each event in
//! its own bounded queue, and its consumer — a [`Subscription`] you read
//! (`recv().await`, `try_recv`, `recv_blocking`, or as a `Stream`), or an
//! async receiver's [`Driver`] running on your executor — takes them from
//! there at its own pace. Each queued receiver has its own queue, bound
//! and [`Overflow`] policy: one slow subscriber never delays another, nor
//! the signal's synchronous receivers.
//!
//! ```
//! use mesh::Signal;
//! use mesh::delivery::{Overflow, Queue};
//!
//! let orders = Signal::<u32>::new();
//! let mut sub = orders.subscribe(Queue::bounded(2).overflow(Overflow::DropOldest));
//! for n in 1..=3 {
//!     orders.emit(n);
//! }
//! // The queue held two: the oldest was dropped, and counted.
//! assert_eq!(sub.try_recv().unwrap().data, 2);
//! assert_eq!(sub.try_recv().unwrap().data, 3);
//! assert_eq!(sub.stats().dropped, 1);
//! ```
//!
//! # Backpressure
//!
//! A queue is bounded ([`Queue::bounded`]), or unbounded up to a memory cap
//! ([`Queue::unbounded`]); there is no queue without a bound. When an emit
//! finds it full, the receiver's [`Overflow`] policy decides:
//!
//! | policy | the emitter | what is lost | use it for |
//! |---|---|---|---|
//! | [`DropOldest`](Overflow::DropOldest) (default) | never waits | the oldest queued event | live views, where the latest state matters |
//! | [`DropNewest`](Overflow::DropNewest) | never waits | the new event | samples, where what is queued matters |
//! | [`Reject`](Overflow::Reject) | never waits, learns it ([`Emitted::rejected`], [`Signal::try_emit`] fails) | the new event, for this receiver | work the emitter can retry or shed |
//! | [`Block`](Overflow::Block) | waits for room (at most `timeout`) | nothing, unless the wait times out | pipelines that must not lose anything |
//! | [`Disconnect`](Overflow::Disconnect) | never waits | the new event; the receiver is disconnected | consumers that must keep up or go |
//!
//! Every loss is counted on the receiver ([`QueueStats`]: for every
//! receiver, `offered = processed + dropped + rejected + len + in_flight`)
//! and in the emit's [`Emitted`] (`queued`, `dropped`, `rejected`), and
//! reported on [`mesh.receiver.lagged`](crate::meta::lagged), coalesced to
//! at most one report per receiver per 100 ms with the counts since the
//! last one. Lagging never ends a subscription: it is reported, and the
//! consumer goes on with what is queued.
//!
//! A synchronous `emit` never waits unless a receiver chose `Block`. A
//! blocking emit on the thread that consumes that queue would wait for
//! itself; it is refused instead (counted in `rejected`, reported with
//! [`would_deadlock`](crate::meta::ReceiverLagged::would_deadlock)):
//!
//! * from inside an async receiver's own handler (on whatever thread its
//!   driver runs), or while a replay fills the queue it is connecting;
//! * on the thread that last took from the queue;
//! * with the `tokio` feature, on any thread of a single-threaded runtime;
//! * on the thread that created a subscription, before any thread took
//!   from it, after waiting one second for another thread to start taking
//!   (a subscription handed to a consumer thread loses nothing).
//!
//! Not detected (they wait until another thread makes room, or a timeout
//! given with [`Overflow::block_for`] passes): a blocking emit before an
//! async receiver's driver first runs, on the thread that will run it; a
//! subscription's consumer awaiting [`Signal::emit_and_wait`] or
//! [`Signal::emit_async`] into its own full queue; cycles across threads
//! (thread A's receiver blocks on a queue whose consumer B waits for A).
//! From async code, use [`Signal::emit_async`], which awaits room in
//! `Block` queues instead of blocking the thread; from inside an async
//! receiver it does not wait on that receiver's own queue.
//!
//! On an [ordered](crate::SignalConfig::ordered) signal, a `Block` queue
//! blocks the thread holding the signal's turn; other emitters do not
//! wait, their events wait in the signal's ordered queue, which is bounded
//! only by how fast they emit.
//!
//! Loss reports are coalesced: the counts of the last 100 ms are reported
//! with the next loss (or when a blocking emit would deadlock); the
//! receiver's [`QueueStats`] always have the exact totals.
//!
//! # Emitting from async code
//!
//! * [`Signal::emit_async`] reserves room in every `Block` queue (awaiting
//!   it), then emits: the emit never blocks the thread.
//! * [`Signal::try_emit`] reserves room in every `Reject` and `Block`
//!   queue first, and fails with nothing delivered anywhere if one is full
//!   (all or nothing).
//! * [`Signal::emit_and_wait`] is `emit_async` that then waits until every
//!   queued receiver has processed the event (Blinker's `send_async`).
//!
//! On an ordered signal whose turn another emit holds, the event is
//! delivered later by that emit: what was reserved stays reserved for it,
//! and `emit_and_wait` waits for that delivery too (but not when the
//! turn is this thread's: a receiver of the signal waiting for its own
//! emit would wait for itself; it returns once the event is queued). A
//! queue still catching up on [replay](Queue::replay) takes such an event
//! under its policy.
//!
//! # What an event costs
//!
//! One envelope per emit, behind an `Arc` shared by every queued receiver:
//! no `T: Clone`, no copy per receiver. A queue whose consumer reads only
//! the payload ([`Queue::payload_only`]) lets the signal skip the id and the
//! clock when no other receiver reads them. A signal with no queued
//! receiver takes today's synchronous paths unchanged.
//!
//! A consumer takes everything queued in one go (one lock for the batch,
//! so it and the emitters rarely meet at the queue's lock) and reports it
//! processed once it has handed all of it out; until then what it took
//! still counts against the bound (`in_flight`). Under `DropOldest` it
//! takes one event at a time, so every queued event but the newest can
//! still be dropped.
//!
//! # Order
//!
//! Each queue is FIFO in the order events reached it: the order one
//! thread emitted them, and on an [ordered](crate::SignalConfig::ordered)
//! signal the one total order of `seq`.
//!
//! # Shutdown
//!
//! Dropping a [`Subscription`] or a [`Driver`] disconnects the receiver and
//! drops what it still held (counted as dropped; an event a driver was
//! handling when dropped counts as processed). [`Subscription::close`]
//! and [`QueueConnection::disconnect`] with [`Shutdown::Drain`] disconnect
//! it and let the consumer finish what is queued. [`drain`] waits, up to
//! a deadline, until every queue in the process is empty.
//!
//! [`Emitted`]: crate::Emitted
//! [`Emitted::rejected`]: crate::Emitted::rejected
//! [`Signal::try_emit`]: crate::Signal::try_emit
//! [`Signal::emit_async`]: crate::Signal::emit_async
//! [`Signal::emit_and_wait`]: crate::Signal::emit_and_wait
//! [`Overflow::block_for`]: Overflow::block_for

mod channel;
mod done;
mod driver;
mod emit;
mod feed;
mod spawn;
mod subscription;

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::connection::Connection;
use crate::event::Event;
use crate::receiver::ConnectOptions;
use crate::sync::LockExt;

use channel::{Channel, Closed};

pub use driver::Driver;
pub use emit::TryEmitError;
pub(crate) use spawn::spawn;
#[cfg(feature = "tokio")]
pub use spawn::spawn_on;
pub use spawn::{Task, set_spawner, take_pending};
pub use subscription::{RecvTimeoutError, Subscription, TryRecvError};

/// What a queued receiver does when its queue is full (see
/// [Backpressure](self#backpressure)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// Wait for room, at most `timeout` (`None`: as long as it takes);
    /// an emit that times out is refused (counted in `rejected`).
    Block {
        /// How long an emit may wait.
        timeout: Option<Duration>,
    },
    /// Drop the oldest queued event to make room (counted in `dropped`).
    #[default]
    DropOldest,
    /// Drop the new event (counted in `dropped`).
    DropNewest,
    /// Refuse the new event: the emitter sees it in
    /// [`Emitted::rejected`](crate::Emitted::rejected), and
    /// [`Signal::try_emit`](crate::Signal::try_emit) fails.
    Reject,
    /// Disconnect the receiver ([`DisconnectReason::Overflow`]); its
    /// consumer still gets what was queued, then the end.
    ///
    /// [`DisconnectReason::Overflow`]: crate::DisconnectReason::Overflow
    Disconnect,
}

impl Overflow {
    /// `Block` with no timeout.
    pub const fn block() -> Self {
        Overflow::Block { timeout: None }
    }

    /// `Block` for at most `timeout`.
    pub const fn block_for(timeout: Duration) -> Self {
        Overflow::Block { timeout: Some(timeout) }
    }

    /// Whether a full queue refuses the event outright or makes the
    /// emitter wait (what `try_emit` and `emit_async` reserve room in).
    fn refuses(self) -> bool {
        matches!(self, Overflow::Block { .. } | Overflow::Reject)
    }
}

/// How a queued receiver is connected: its bound, its overflow policy and
/// the usual connect options.
///
/// ```
/// use std::time::Duration;
/// use mesh::delivery::{Overflow, Queue};
/// let q = Queue::bounded(1024).overflow(Overflow::block_for(Duration::from_millis(5)));
/// let lossy = Queue::unbounded(1 << 20).name("audit").priority(10);
/// ```
#[derive(Debug, Clone)]
pub struct Queue {
    bound: Bound,
    overflow: Overflow,
    replay: bool,
    payload_only: bool,
    options: ConnectOptions,
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    Events(usize),
    Bytes(usize),
}

impl Queue {
    /// At most `capacity` events (at least 1: `0` is taken as 1).
    pub fn bounded(capacity: usize) -> Self {
        Queue::with_bound(Bound::Events(capacity.max(1)))
    }

    /// No fixed count, but at most `max_bytes` of queued envelopes, each
    /// counted as `size_of::<Event<T>>()` plus the two counts of its
    /// `Arc` (the envelope is shared between queues, so this is an upper
    /// bound of what the queue keeps alive, not counting what the payload
    /// owns on the heap). At least one event fits.
    pub fn unbounded(max_bytes: usize) -> Self {
        Queue::with_bound(Bound::Bytes(max_bytes))
    }

    fn with_bound(bound: Bound) -> Self {
        Queue {
            bound,
            overflow: Overflow::default(),
            replay: false,
            payload_only: false,
            options: ConnectOptions::new(),
        }
    }

    /// What to do when the queue is full (default: [`Overflow::DropOldest`]).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Starts with the signal's retained [history](crate::history), oldest
    /// first, then every live event: no gap, no duplicate (as
    /// [`Signal::connect_with_replay`](crate::Signal::connect_with_replay)).
    /// The history goes through the queue's policy like any event: give
    /// the queue room for it.
    pub fn replay(mut self) -> Self {
        self.replay = true;
        self
    }

    /// A promise that the consumer reads only the payload (`ev.data`):
    /// when no other receiver of the signal reads the envelope, events
    /// reach this queue with the nil id and the Unix epoch as their time,
    /// and the emit reads no clock.
    pub fn payload_only(mut self) -> Self {
        self.payload_only = true;
        self
    }

    /// The receiver's priority (see [`ConnectOptions::priority`]).
    pub fn priority(mut self, priority: i32) -> Self {
        self.options = self.options.priority(priority);
        self
    }

    /// Its name, in reports and introspection.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.options = self.options.name(name);
        self
    }

    /// Only events from `source` (see [`ConnectOptions::source`]).
    pub fn source(mut self, source: impl Into<Cow<'static, str>>) -> Self {
        self.options = self.options.source(source);
        self
    }

    /// Any other connect options (replacing those set above).
    pub fn options(mut self, options: ConnectOptions) -> Self {
        self.options = options;
        self
    }

    /// The number of events the queue holds for payload type `T`.
    fn capacity<T>(&self) -> usize {
        match self.bound {
            Bound::Events(n) => n,
            Bound::Bytes(bytes) => {
                (bytes / (size_of::<Event<T>>() + 2 * size_of::<usize>())).max(1)
            }
        }
    }

    /// A new queue for `T`, registered for [`drain`] (`consumer_here`:
    /// see [`Channel::new`]).
    fn channel<T: Send + Sync + 'static>(&self, consumer_here: bool) -> Arc<Channel<T>> {
        let channel = Arc::new(Channel::new(self.capacity::<T>(), self.overflow, consumer_here));
        let weak: Weak<dyn Control> = Arc::downgrade(&channel) as Weak<Channel<T>>;
        let mut live = LIVE.locked();
        live.retain(|w| w.strong_count() > 0);
        live.push(weak);
        channel
    }
}

/// A queued receiver's counters: for every receiver,
/// `offered = processed + dropped + rejected + len + in_flight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QueueStats {
    /// Events in the queue now.
    pub len: usize,
    /// Its bound, in events.
    pub capacity: usize,
    /// The most events it ever held at once (queued or taken by its
    /// consumer and not finished).
    pub high_water: usize,
    /// Events its consumer took and has not finished: an async receiver
    /// takes what is queued in one go and reports it processed when it
    /// has handled all of it (a [`Subscription`]'s own `stats` count what
    /// it took and has not handed out as `len`).
    pub in_flight: usize,
    /// Events that reached the queue (while it was open).
    pub offered: u64,
    /// Events its consumer took (a subscription) or finished (an async
    /// receiver, whether it succeeded or failed).
    pub processed: u64,
    /// Events its policy dropped, or that were queued when its consumer
    /// went away.
    pub dropped: u64,
    /// Events it refused (`Reject`, `Block` timed out or would deadlock).
    pub rejected: u64,
    /// Emits that waited for room before their event was queued
    /// (`Block`): how often the queue was saturated.
    pub waited: u64,
    /// Whether it takes no more events (disconnected).
    pub closed: bool,
}

impl QueueStats {
    /// Events offered and not yet taken or lost: `len + in_flight`, the
    /// receiver's lag behind its signal.
    pub fn lag(&self) -> usize {
        self.len + self.in_flight
    }
}

/// A queued receiver as introspection shows it (see `Backlog::report`).
pub(crate) struct QueueReport {
    pub(crate) stats: QueueStats,
    pub(crate) overflow: Overflow,
}

/// How a queued receiver ends ([`QueueConnection::disconnect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shutdown {
    /// Its consumer still gets what is queued, then the end.
    Drain,
    /// What is queued is dropped (counted).
    Discard,
}

/// A queue as the rest of the crate sees it, whatever its payload type.
pub(crate) trait Control: Send + Sync {
    fn stats(&self) -> QueueStats;
    fn close(&self, why: Closed);
    fn is_idle(&self) -> bool;
}

impl<T: Send + Sync + 'static> Control for Channel<T> {
    fn stats(&self) -> QueueStats {
        Channel::stats(self)
    }
    fn close(&self, why: Closed) {
        Channel::close(self, why)
    }
    fn is_idle(&self) -> bool {
        Channel::is_idle(self)
    }
}

/// Every queue in the process, for [`drain`].
static LIVE: Mutex<Vec<Weak<dyn Control>>> = Mutex::new(Vec::new());

/// The handle to a queued receiver connected by
/// [`Signal::connect_async`](crate::Signal::connect_async): its
/// connection and its queue's counters.
#[derive(Clone)]
pub struct QueueConnection {
    connection: Connection,
    queue: Arc<dyn Control>,
}

impl QueueConnection {
    /// The receiver's counters.
    pub fn stats(&self) -> QueueStats {
        self.queue.stats()
    }

    /// Whether the receiver is still connected.
    pub fn is_connected(&self) -> bool {
        self.connection.is_connected()
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Disconnects the receiver; `how` says what becomes of what is
    /// queued. Returns whether it was connected.
    pub fn disconnect(&self, how: Shutdown) -> bool {
        let was = self.connection.clone().disconnect();
        self.queue.close(match how {
            Shutdown::Drain => Closed::Detached,
            Shutdown::Discard => Closed::Discarded,
        });
        was
    }
}

impl fmt::Debug for QueueConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueConnection")
            .field("id", &self.connection.id())
            .field("stats", &self.stats())
            .finish()
    }
}

/// [`drain`] gave up: queues still held events at the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainTimeout {
    /// Queues not empty at the deadline.
    pub queues: usize,
    /// Events they held (queued or being handled).
    pub events: usize,
}

impl fmt::Display for DrainTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} queues still held {} events at the deadline", self.queues, self.events)
    }
}

impl std::error::Error for DrainTimeout {}

/// Waits until every queued receiver in the process has processed what it
/// holds (its consumer must be running), or `timeout` passes.
///
/// ```
/// use std::time::Duration;
/// use mesh::{Signal, delivery::{self, Queue}};
/// let s = Signal::<u8>::new();
/// let mut sub = s.subscribe(Queue::bounded(8));
/// s.emit(1);
/// let consumer = std::thread::spawn(move || sub.recv_blocking());
/// delivery::drain(Duration::from_secs(5)).unwrap();
/// assert_eq!(consumer.join().unwrap().unwrap().data, 1);
/// ```
pub fn drain(timeout: Duration) -> Result<(), DrainTimeout> {
    let deadline = Instant::now().checked_add(timeout);
    let mut pause = Duration::from_micros(50);
    loop {
        let queues: Vec<Arc<dyn Control>> =
            LIVE.locked().iter().filter_map(Weak::upgrade).collect();
        let busy: Vec<QueueStats> =
            queues.iter().filter(|q| !q.is_idle()).map(|q| q.stats()).collect();
        if busy.is_empty() {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let events = busy.iter().map(QueueStats::lag).sum();
            return Err(DrainTimeout { queues: busy.len(), events });
        }
        drop(queues);
        let left = deadline.map_or(pause, |d| d.saturating_duration_since(Instant::now()));
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}
