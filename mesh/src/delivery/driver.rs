//! Async receivers: a queued receiver whose consumer is a future (the
//! [`Driver`]) that runs the user's async function on each event, one at
//! a time, on whatever executor the user spawns it on.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::event::Event;
use crate::receiver::{ReceiverInfo, ReceiverResult};
use crate::signal::{Signal, WeakSignal, panic_message};

use super::channel::{Batch, Channel, Closed, Item};
use super::done::Done;
use super::emit::Driving;
use super::subscription::connect_queue;
use super::{Control, Queue, QueueConnection};

/// The future one event's handling is: `None` on success, the failure
/// message on `Err`.
type Handling = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// The user's function, erased.
type Run<T> = Box<dyn Fn(Arc<Event<T>>) -> Handling + Send + Sync>;

/// Runs an async receiver: takes its events from its queue, one at a time,
/// and awaits the receiver on each. Spawn it on any executor; it finishes
/// when the receiver is disconnected and its queue drained. Dropping it
/// disconnects the receiver and drops what was queued (counted).
///
/// A receiver that panics or returns `Err` is counted on the signal and
/// reported on [`mesh.receiver.failed`](crate::meta::failed); the driver
/// goes on with the next event.
#[must_use = "a driver does nothing unless spawned or awaited"]
pub struct Driver<T> {
    channel: Arc<Channel<T>>,
    queue: QueueConnection,
    run: Run<T>,
    signal: WeakSignal<T>,
    name: Cow<'static, str>,
    /// The event being handled, and whom to tell when it is.
    current: Option<(Handling, Option<Arc<Done>>)>,
    /// The events taken from the queue in one go, handled one by one.
    batch: Batch<T>,
}

impl<T: Send + Sync + 'static> Driver<T> {
    /// The receiver's handle (also returned by `connect_async`).
    pub fn connection(&self) -> &QueueConnection {
        &self.queue
    }

    /// Starts handling `item`; a panic creating the future is a failure.
    fn start(&mut self, item: Item<T>) {
        let handling =
            catch_unwind(AssertUnwindSafe(|| (self.run)(item.event))).unwrap_or_else(|panic| {
                let message = panic_message(&*panic);
                Box::pin(std::future::ready(Some(message)))
            });
        self.current = Some((handling, item.done));
    }

    fn failed(&self, message: String) {
        if let Some(signal) = self.signal.upgrade() {
            signal.report_failure(self.name.clone(), message);
        }
    }
}

impl<T: Send + Sync + 'static> Future for Driver<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // While the receiver runs here, an emit from it must not wait on
        // this queue (see `emit::driving`); restored on the way out.
        let _driving = Driving::enter(Arc::as_ptr(&this.channel) as usize);
        loop {
            if let Some((handling, _)) = &mut this.current {
                let outcome = catch_unwind(AssertUnwindSafe(|| handling.as_mut().poll(cx)));
                let failure = match outcome {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(failure)) => failure,
                    Err(panic) => Some(panic_message(&*panic)),
                };
                if let Some(done) = this.current.take().and_then(|(_, done)| done) {
                    done.complete();
                }
                if let Some(message) = failure {
                    this.failed(message);
                }
            }
            if this.channel.discarded() {
                // `Shutdown::Discard`: what it took and did not start is
                // dropped (counted), as what was still queued was.
                this.channel.discard_batch(&mut this.batch);
                return Poll::Ready(());
            }
            if let Some(item) = this.batch.take_one() {
                // Being handled, it no longer takes room in the queue.
                this.channel.hand_out();
                this.start(item);
                continue;
            }
            // The batch is handled: report it and take what came since.
            match this.channel.poll_refill(cx, &mut this.batch) {
                Poll::Ready(true) => {}
                Poll::Ready(false) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T> Drop for Driver<T> {
    fn drop(&mut self) {
        self.queue.connection.clone().disconnect();
        if let Some((_, Some(done))) = self.current.take() {
            // Dropped while handling: that event was taken and its
            // handling cut short; it counts as processed, not dropped.
            done.complete();
        }
        self.channel.discard_batch(&mut self.batch);
        self.channel.close(Closed::Discarded);
    }
}

impl<T> fmt::Debug for Driver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("name", &self.name).field("queue", &self.queue).finish()
    }
}

impl<T: Send + Sync + 'static> Signal<T> {
    /// Connects an async receiver behind a queue: returns its handle and
    /// the [`Driver`] to spawn on your executor.
    ///
    /// The receiver takes the shared envelope (`Arc<Event<T>>`), so its
    /// future can own it; it returns `()` or `Result<(), E: Display>`.
    /// Events are handled one at a time, in queue order.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use mesh::{Event, Signal};
    /// use mesh::delivery::Queue;
    /// let s = Signal::<u32>::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let (handle, driver) = s.connect_async(Queue::bounded(64), move |ev: Arc<Event<u32>>| {
    ///     let log = log.clone();
    ///     async move { log.lock().unwrap().push(ev.data) }
    /// });
    /// s.emit(1);
    /// s.emit(2);
    /// handle.disconnect(mesh::delivery::Shutdown::Drain);
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Waker};
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = Context::from_waker(Waker::noop());
    /// #     loop { if let Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// block_on(driver); // on a real executor: tokio::spawn(driver)
    /// assert_eq!(*seen.lock().unwrap(), [1, 2]);
    /// ```
    pub fn connect_async<F, Fut, R>(
        &self,
        queue: Queue,
        receiver: F,
    ) -> (QueueConnection, Driver<T>)
    where
        F: Fn(Arc<Event<T>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: ReceiverResult,
    {
        let (handle, driver, _) = self.connect_async_with(queue, receiver, true);
        (handle, driver)
    }

    /// [`connect_async`](Self::connect_async); `announce`: report the
    /// receiver on `mesh.receiver.connected` (else its info is returned).
    pub(crate) fn connect_async_with<F, Fut, R>(
        &self,
        queue: Queue,
        receiver: F,
        announce: bool,
    ) -> (QueueConnection, Driver<T>, Option<ReceiverInfo>)
    where
        F: Fn(Arc<Event<T>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: ReceiverResult,
    {
        let (channel, connection, info, name) =
            connect_queue(self, queue, std::any::type_name::<F>(), true, announce, false);
        let handle = QueueConnection { connection, queue: channel.clone() as Arc<dyn Control> };
        #[cfg(feature = "tracing")]
        let span_name = name.clone();
        let run: Run<T> = Box::new(move |event| {
            // Effects are correlated with the event: kept only for them,
            // and only a real envelope (a payload-only queue's is bare:
            // the nil id).
            let cause = R::NEEDS_ENVELOPE.then(|| event.clone()).filter(|e| !e.id.is_nil());
            #[cfg(feature = "tracing")]
            let span = tracing::debug_span!(
                target: "mesh",
                "mesh.receive",
                signal = event.name,
                receiver = %span_name,
                event.id = %event.id,
                event.seq = event.seq,
            );
            let fut = receiver(event);
            let fut = async move { fut.await.finish(cause.as_deref()) };
            // Each event's work in a span of its own, so a `tracing`
            // subscriber sees per-event work across await points.
            #[cfg(feature = "tracing")]
            let fut = tracing::Instrument::instrument(fut, span);
            Box::pin(fut)
        });
        let driver = Driver {
            channel,
            queue: handle.clone(),
            run,
            signal: self.downgrade(),
            name,
            current: None,
            batch: Batch::new(),
        };
        (handle, driver, info)
    }
}
