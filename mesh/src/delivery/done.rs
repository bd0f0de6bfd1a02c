//! What [`emit_and_wait`](crate::Signal::emit_and_wait) waits on: a count
//! of the queues still holding one event, and the waker of the emitter.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::sync::LockExt;

/// One per waited-for emit; every queue that takes the event holds a
/// share ([`Done::share`]) and gives it back once the event is processed
/// or dropped ([`Done::complete`]).
///
/// Invariant: `remaining` counts the shares not given back, plus one held
/// by the emitter until its dispatch returns, so it cannot reach zero
/// while queues may still take the event.
pub(crate) struct Done {
    remaining: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl Done {
    /// A count holding the emitter's share.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Done { remaining: AtomicUsize::new(1), waker: Mutex::new(None) })
    }

    /// A share for one more queue.
    pub(crate) fn share(self: &Arc<Self>) -> Arc<Self> {
        // Relaxed: the count only needs to be exact; the release and
        // acquire that order the emitter's wake-up are in `complete`.
        self.remaining.fetch_add(1, Ordering::Relaxed);
        self.clone()
    }

    /// Gives a share back; the last one wakes the emitter.
    pub(crate) fn complete(&self) {
        // AcqRel: whoever brings it to zero sees every other share's work
        // (the receivers' effects) before it wakes the emitter, which
        // reads the count with Acquire.
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Taken, then woken with the lock released.
            let waker = self.waker.locked().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Ready once every share is back.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        // Acquire: pairs with `complete`.
        if self.remaining.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        *self.waker.locked() = Some(cx.waker().clone());
        // Checked again after the waker is in place: a `complete` that
        // reached zero before it was stored found no waker to wake.
        if self.remaining.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
