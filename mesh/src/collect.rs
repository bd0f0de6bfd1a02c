//! Collecting results: Blinker's `send` returns each receiver's return
//! value, which plugins use to gather answers or to veto. Here a
//! *responder* ([`Signal::connect_responder`]) is a receiver that returns
//! a value `R`, and [`Signal::emit_collect`] emits and returns each
//! responder's `R` (or its panic) with the responder's [`ReceiverInfo`].
//!
//! # Design
//!
//! The plain emit path knows nothing of this: a responder is an ordinary
//! receiver whose handler, when called, looks at a thread-local stack of
//! *collections* and pushes its result into the top one if that one was
//! opened by `emit_collect` on its own signal. An ordinary `emit` opens no
//! collection, so the value is dropped. While a responder runs, the top
//! collection is closed, so events its code emits (even on the same
//! signal) are not mistaken for answers to the outer emit. The cost is
//! paid by responders (one thread-local look-up per call) and by
//! `emit_collect`, never by other receivers or other emits.
//!
//! Responses come back in dispatch order. On an ordered signal, an
//! `emit_collect` that finds a dispatch in progress is queued
//! ([`EmitStatus::Deferred`](crate::EmitStatus::Deferred)) and answered by
//! nobody here: it returns no responses.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::connection::Connection;
use crate::receiver::{ConnectOptions, DELIVERED, Delivery, FAILED, Handler, ReceiverInfo, Status};
use crate::signal::{Emitted, Signal, panic_message};

/// One responder's answer to an [`emit_collect`](Signal::emit_collect).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response<R> {
    /// The responder.
    pub receiver: ReceiverInfo,
    /// What it returned, or the message of its panic.
    pub result: Result<R, String>,
}

/// What an [`emit_collect`](Signal::emit_collect) returns: the emit's
/// summary and the responses, in dispatch order.
#[derive(Debug)]
#[non_exhaustive]
pub struct Collected<R> {
    /// The emit, as [`Signal::emit`] reports it.
    pub emitted: Emitted,
    /// Each responder's answer.
    pub responses: Vec<Response<R>>,
}

/// An open collection: the signal it is for, whether it takes answers
/// right now, and the answers so far (responder token, boxed
/// `Result<R, String>`).
struct Collection {
    signal: u64,
    open: bool,
    answers: Vec<(u64, Box<dyn Any>)>,
}

thread_local! {
    static COLLECTIONS: RefCell<Vec<Collection>> = const { RefCell::new(Vec::new()) };
}

/// Tokens telling responders apart (never reused).
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// The handler of a responder.
pub(crate) struct Responder<F, R> {
    f: F,
    signal: u64,
    token: u64,
    _result: PhantomData<fn() -> R>,
}

/// Sets the top collection's `open` flag, returning what it was.
fn set_open(signal: u64, open: bool) -> Option<bool> {
    COLLECTIONS.with(|c| {
        let mut c = c.borrow_mut();
        let top = c.last_mut().filter(|top| top.signal == signal)?;
        Some(std::mem::replace(&mut top.open, open))
    })
}

impl<T, F, R> Handler<T> for Responder<F, R>
where
    T: 'static,
    F: Fn(&T) -> R + Send + Sync + 'static,
    R: Send + 'static,
{
    const ENVELOPE: bool = false;

    fn handle(&self, d: &Delivery<'_, T>) -> Status {
        // Close the collection while user code runs (see the module docs).
        let was_open = set_open(self.signal, false);
        let result = catch_unwind(AssertUnwindSafe(|| (self.f)(d.data)));
        if let Some(open) = was_open {
            set_open(self.signal, open);
        }
        let (answer, status) = match result {
            Ok(value) => (Ok(value), DELIVERED),
            Err(panic) => {
                let message = panic_message(&*panic);
                d.failure.set(Some(message.clone()));
                (Err::<R, String>(message), FAILED)
            }
        };
        if was_open == Some(true) {
            COLLECTIONS.with(|c| {
                if let Some(top) = c.borrow_mut().last_mut() {
                    top.answers.push((self.token, Box::new(answer)));
                }
            });
        }
        status
    }

    fn token(&self) -> Option<u64> {
        Some(self.token)
    }
}

/// Pops this collection even if the emit unwinds.
struct Opened;

impl Drop for Opened {
    fn drop(&mut self) {
        COLLECTIONS.with(|c| c.borrow_mut().pop());
    }
}

impl<T: Send + Sync + 'static> Signal<T> {
    /// Connects a *responder*: a receiver returning a value, which
    /// [`emit_collect`](Self::emit_collect) gathers (a plain
    /// [`emit`](Self::emit) drops it). A panicking responder is a failure
    /// like any receiver's, and its panic is its response.
    ///
    /// ```
    /// use mesh::{ConnectOptions, Signal};
    /// let approve = Signal::<u32>::new();
    /// approve.connect_responder(ConnectOptions::new().name("limit"), |amount: &u32| *amount <= 100);
    /// approve.connect_responder(ConnectOptions::new().name("fraud"), |_: &u32| true);
    /// let votes = approve.emit_collect::<bool>(250);
    /// let vetoes: Vec<_> = votes.responses.iter()
    ///     .filter(|r| r.result == Ok(false))
    ///     .map(|r| r.receiver.name.clone())
    ///     .collect();
    /// assert_eq!(vetoes, ["limit"]);
    /// ```
    pub fn connect_responder<R, F>(&self, options: ConnectOptions, f: F) -> Connection
    where
        F: Fn(&T) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let responder = Responder {
            f,
            signal: self.id(),
            // Relaxed: only uniqueness matters.
            token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
            _result: PhantomData,
        };
        self.connect_handler(responder, options, std::any::type_name::<F>(), true).0
    }

    /// Emits `data` like [`emit`](Self::emit) and returns, with the
    /// summary, what each responder returning `R` answered, in dispatch
    /// order. Responders returning another type, and other receivers, run
    /// as usual and are not in the list. See the [module docs](self).
    pub fn emit_collect<R: 'static>(&self, data: T) -> Collected<R> {
        COLLECTIONS.with(|c| {
            c.borrow_mut().push(Collection { signal: self.id(), open: true, answers: Vec::new() })
        });
        // Pops the collection even if the emit unwinds.
        let opened = Opened;
        let emitted = self.emit(data);
        let answers = COLLECTIONS
            .with(|c| c.borrow_mut().last_mut().map(|top| std::mem::take(&mut top.answers)))
            .unwrap_or_default();
        drop(opened);
        let snap = self.core().subs.load();
        let responses = answers
            .into_iter()
            .filter_map(|(token, answer)| {
                let result = *answer.downcast::<Result<R, String>>().ok()?;
                let at = snap.items().iter().position(|s| s.0.token() == Some(token))?;
                let (id, priority) = snap.key(at);
                Some(Response {
                    receiver: ReceiverInfo::of(id, priority, &snap.items()[at]),
                    result,
                })
            })
            .collect();
        Collected { emitted, responses }
    }
}
