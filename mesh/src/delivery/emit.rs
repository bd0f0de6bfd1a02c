//! Emitting with queued receivers in mind: [`Signal::try_emit`] (all or
//! nothing), [`Signal::emit_async`] (await room instead of blocking) and
//! [`Signal::emit_and_wait`] (until every queue has processed the event).
//!
//! All three build the envelope first and *promise* it to the queues of
//! the current snapshot ([`Channel::promise`]): room reserved where the
//! policy would refuse or wait, and a share of the emitter's [`Done`]
//! where it waits for processing. The envelope is then emitted as any
//! other; each queue recognises it by address and id when it arrives and
//! uses what was promised. What was not used (the event was filtered or
//! transformed by middleware, a receiver went away) is withdrawn after
//! the emit. A queued receiver connected between the promise and the emit
//! gets the event under its own policy.

use std::fmt;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use crate::receiver::SlotRef;
use crate::signal::{EmitStatus, Emitted, Signal};
use crate::subscribers::Snapshot;

use super::channel::{Channel, EventKey, event_key};
use super::done::Done;

/// [`Signal::try_emit`] found a queue full: nothing was delivered.
pub struct TryEmitError<T> {
    data: T,
    receiver: std::borrow::Cow<'static, str>,
}

impl<T> TryEmitError<T> {
    /// The payload, back.
    pub fn into_inner(self) -> T {
        self.data
    }

    /// The name of the queued receiver that was full.
    pub fn receiver(&self) -> &str {
        &self.receiver
    }
}

impl<T> fmt::Debug for TryEmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryEmitError").field("receiver", &self.receiver).finish_non_exhaustive()
    }
}

impl<T> fmt::Display for TryEmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the queue of receiver `{}` is full: nothing was emitted", self.receiver)
    }
}

impl<T> std::error::Error for TryEmitError<T> {}

/// The queues of `snap` that take an event emitted without a source.
fn queues<T: Send + Sync + 'static>(
    snap: &Snapshot<SlotRef>,
) -> impl Iterator<Item = (&SlotRef, &Channel<T>)> {
    snap.items().iter().filter(|slot| slot.0.accepts(None)).filter_map(|slot| {
        let channel = slot.0.backlog()?.as_any().downcast_ref::<Channel<T>>()?;
        Some((slot, channel))
    })
}

/// Withdraws the promises of `event` from `channels`.
fn withdraw<T>(channels: &[&Channel<T>], key: EventKey) {
    for channel in channels {
        channel.withdraw(key);
    }
}

/// Promises made for one emit, withdrawn when this drops (after the emit,
/// or if it unwinds), unless the event was deferred: an ordered signal's
/// dispatcher delivers it later, and the queues use what was promised
/// then (a queue that goes away first gives its promises back when it
/// closes).
struct Promised<'a, T> {
    channels: Vec<&'a Channel<T>>,
    key: EventKey,
}

impl<T> Promised<'_, T> {
    /// The emit returned `status`.
    fn settle(mut self, status: EmitStatus) {
        if status == EmitStatus::Deferred {
            self.channels.clear();
        }
    }
}

impl<T> Drop for Promised<'_, T> {
    fn drop(&mut self) {
        withdraw(&self.channels, self.key);
    }
}

/// The queue whose async receiver this thread is running, if any: an emit
/// from inside it must not wait for room in that queue, nor for the event
/// to be processed there (both would wait for itself).
pub(crate) fn driving() -> usize {
    DRIVING.get()
}

thread_local! {
    static DRIVING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// This thread runs (or fills) the consumer side of one queue while it
/// lives: see [`driving`]. The previous value comes back when it drops,
/// on unwinding too.
pub(crate) struct Driving(usize);

impl Driving {
    /// Marks the queue at `channel` (its address).
    pub(crate) fn enter(channel: usize) -> Driving {
        Driving(DRIVING.replace(channel))
    }
}

impl Drop for Driving {
    fn drop(&mut self) {
        DRIVING.set(self.0);
    }
}

impl<T: Send + Sync + 'static> Signal<T> {
    /// Emits only if every queued receiver that would refuse or wait
    /// (`Reject`, `Block`) has room: all or nothing. On success the room
    /// was reserved, so those queues take it. On failure nothing was
    /// delivered to anyone and the payload is handed back.
    ///
    /// ```
    /// use mesh::Signal;
    /// use mesh::delivery::{Overflow, Queue};
    /// let s = Signal::<u32>::new();
    /// let _sub = s.subscribe(Queue::bounded(1).overflow(Overflow::Reject));
    /// assert!(s.try_emit(1).is_ok());
    /// let err = s.try_emit(2).unwrap_err();
    /// assert_eq!(err.into_inner(), 2);
    /// ```
    pub fn try_emit(&self, data: T) -> Result<Emitted, TryEmitError<T>> {
        let core = self.core();
        let event = Arc::new(core.envelope(data, None, 0));
        let key = event_key(&event);
        let snap = core.subs.load_full();
        let mut promised = Promised { channels: Vec::new(), key };
        for (slot, channel) in queues::<T>(&snap) {
            if !channel.overflow().refuses() {
                continue;
            }
            match channel.promise(key, true, None, None) {
                Ok(true) => promised.channels.push(channel),
                Ok(false) => {}
                Err(()) => {
                    drop(promised);
                    let receiver = slot.0.name().clone();
                    let data = match Arc::try_unwrap(event) {
                        Ok(event) => event.data,
                        // Unreachable: the envelope was not shared yet.
                        Err(_) => unreachable!("an envelope not emitted yet is not shared"),
                    };
                    return Err(TryEmitError { data, receiver });
                }
            }
        }
        let emitted = core.emit_shared_event(event);
        promised.settle(emitted.status);
        Ok(emitted)
    }

    /// Emits without blocking the thread: waits (asynchronously) for room
    /// in every `Block` queue, reserves it, then emits. Other policies act
    /// as in [`emit`](Self::emit).
    pub async fn emit_async(&self, data: T) -> Emitted {
        self.emit_promised(data, false).await
    }

    /// [`emit_async`](Self::emit_async), then waits until every queued
    /// receiver that took the event has processed it (or dropped it):
    /// synchronous receivers have run, async receivers have finished, and
    /// subscriptions have taken it out (Blinker's `send_async`).
    pub async fn emit_and_wait(&self, data: T) -> Emitted {
        self.emit_promised(data, true).await
    }

    async fn emit_promised(&self, data: T, wait: bool) -> Emitted {
        let core = self.core().clone();
        let event = Arc::new(core.envelope(data, None, 0));
        let key = event_key(&event);
        // A receiver of an ordered signal that waits for its own emit
        // would wait for the turn it holds: its event is delivered after
        // it returns. It does not wait, then (room is still reserved).
        let done = (wait && !core.turn_held_here()).then(Done::new);
        let snap = core.subs.load_full();
        // Reserve in every `Block` queue, or wait for the full one and
        // start again (holding no reservation while waiting).
        // Not the queue of the async receiver running on this thread, if
        // any: its room is made, and its events processed, only after
        // this emit returns (it is refused there instead, as a blocking
        // emit on its consumer's thread is).
        let own = |channel: &Channel<T>| std::ptr::from_ref(channel) as usize == driving();
        poll_fn(|cx| {
            let mut promised = Promised { channels: Vec::new(), key };
            for (_, channel) in queues::<T>(&snap) {
                let reserve = matches!(channel.overflow(), super::Overflow::Block { .. });
                if (!reserve && done.is_none()) || own(channel) {
                    continue;
                }
                match channel.promise(key, reserve, done.as_ref(), Some(cx)) {
                    Ok(true) => promised.channels.push(channel),
                    Ok(false) => {}
                    Err(()) => return Poll::Pending,
                }
            }
            // Kept: withdrawn after the emit, below.
            promised.channels.clear();
            Poll::Ready(())
        })
        .await;
        let promised = Promised { channels: queues::<T>(&snap).map(|(_, c)| c).collect(), key };
        let emitted = core.emit_shared_event(event);
        promised.settle(emitted.status);
        drop(snap);
        if let Some(done) = done {
            done.complete();
            poll_fn(|cx| done.poll(cx)).await;
        }
        emitted
    }
}
