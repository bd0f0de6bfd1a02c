//! Receivers: what can be connected to a signal, and how it is called.
//!
//! A user hands [`Signal::connect`](crate::Signal::connect) a closure or a
//! function taking either `&T` (the payload) or `&Event<T>` (the envelope),
//! returning `()` or `Result<(), E>` with `E: Display`. The traits here turn
//! that value into a *slot*: one monomorphised object that the dispatch loop
//! calls through a single dynamic call. Options that most receivers do not
//! use (a source filter, one-shot delivery) live in a separate wrapper type,
//! so a plain receiver pays for none of them.
//!
//! The marker type parameter of [`IntoReceiver`] is what lets one `connect`
//! method accept both shapes: a closure implements `Fn(&T)` or
//! `Fn(&Event<T>)`, never both, so the compiler picks the one impl that
//! fits. Annotate the closure's argument type (`|ev: &Event<T>| …`) so it is
//! known which shape you mean.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::Display;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use crate::connection::DisconnectReason;
use crate::event::{Cause, Event};
use crate::subscribers::Flags;

/// What a receiver returns: `()` or `Result<(), E>` with `E: Display`;
/// or [`Effects`](crate::effects::Effects) (or `Result<Effects, E>`),
/// events the mesh publishes once the receiver has returned.
///
/// An `Err` is a failure: it is counted on the signal and reported on
/// [`mesh.receiver.failed`](crate::meta::failed), and the remaining
/// receivers still run.
pub trait ReceiverResult: 'static {
    /// `None` on success, the error text on failure.
    fn into_failure(self) -> Option<String>;

    /// Whether the receiver needs the envelope to finish (a receiver
    /// returning [`Effects`](crate::effects::Effects) correlates them
    /// with the event's id), even if it takes only the payload.
    #[doc(hidden)]
    const NEEDS_ENVELOPE: bool = false;

    /// Finishes a delivery of `cause` (the envelope, when one was built):
    /// performs what the result asks (effects), then [`into_failure`](Self::into_failure).
    #[doc(hidden)]
    #[inline(always)]
    fn finish<C: Cause + ?Sized>(self, cause: Option<&C>) -> Option<String>
    where
        Self: Sized,
    {
        let _ = cause;
        self.into_failure()
    }
}

impl ReceiverResult for () {
    #[inline(always)]
    fn into_failure(self) -> Option<String> {
        None
    }
}

impl<E: Display + 'static> ReceiverResult for Result<(), E> {
    #[inline(always)]
    fn into_failure(self) -> Option<String> {
        match self {
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        }
    }
}

/// Everything a receiver may look at for one delivery.
pub struct Delivery<'a, T> {
    pub(crate) data: &'a T,
    pub(crate) event: Option<&'a Event<T>>,
    pub(crate) source: Option<&'a str>,
    /// The envelope as stored in the history, when it is (replaying
    /// receivers keep it while they catch up).
    pub(crate) shared: Option<&'a std::sync::Arc<Event<T>>>,
    /// Where a failing receiver leaves its message for the dispatch loop.
    pub(crate) failure: &'a Cell<Option<String>>,
}

/// Outcome bits of one call; `0` is the common "delivered".
pub(crate) type Status = u8;
pub(crate) const DELIVERED: Status = 0;
/// The receiver declined this event (source filter, one-shot already used).
pub(crate) const SKIPPED: Status = 1;
/// The receiver failed; its message is in [`Delivery::failure`].
pub(crate) const FAILED: Status = 2;
/// The receiver must be removed (weak target gone, one-shot used up).
pub(crate) const REMOVE: Status = 4;
/// A queued receiver took the event into its queue.
pub(crate) const QUEUED: Status = 8;
/// A queued receiver's policy dropped an event: this one (drop newest,
/// disconnect) or the oldest it held (drop oldest, with `QUEUED`).
pub(crate) const DROPPED: Status = 16;
/// A queued receiver refused the event (reject policy, or a blocking one
/// that timed out or would have deadlocked).
pub(crate) const REJECTED: Status = 32;
/// The statuses counted without a note (see [`Notes::queue`]).
pub(crate) const QUEUE_STATUS: Status = QUEUED | DROPPED | REJECTED;

/// Slot flag: the receiver needs the envelope.
pub(crate) const NEEDS_ENVELOPE: u8 = 1;
/// Slot flag: the receiver may ask to be removed during dispatch.
pub(crate) const MAY_EXPIRE: u8 = 2;
/// Slot flag: the receiver needs the envelope behind an `Arc` (a replaying
/// receiver buffers live events while it catches up).
pub(crate) const NEEDS_SHARED: u8 = 4;
/// Slot flag: a weak receiver (for [`ReceiverInfo::weak`]).
pub(crate) const WEAK: u8 = 8;
/// Slot flag: the receiver reads the envelope's id, timestamp or `seq`
/// (not only the payload). A snapshot whose receivers need the envelope
/// shared ([`NEEDS_SHARED`]) but none reads it (payload-only queued
/// receivers) gets a bare one: no id made, no clock read.
pub(crate) const READS_ENVELOPE: u8 = 16;

/// The calling convention every connected receiver is reduced to.
#[doc(hidden)]
pub trait Handler<T>: Send + Sync + 'static {
    /// Whether this handler reads the envelope.
    const ENVELOPE: bool;
    /// Whether this handler can ask to be removed (weak receivers).
    const MAY_EXPIRE: bool = false;
    /// Whether this handler needs the envelope behind an `Arc`
    /// ([`Delivery::shared`] set), to keep it past the call.
    const SHARED: bool = false;
    /// Runs the receiver for one delivery.
    fn handle(&self, d: &Delivery<'_, T>) -> Status;
    /// Whether the receiver can never run again (weak target dropped).
    fn expired(&self) -> bool {
        false
    }
    /// The receiver's identity, where Rust gives it one (see [`Key`]).
    fn key(&self) -> Option<Key> {
        None
    }
    /// A responder's token (see `collect`).
    fn token(&self) -> Option<u64> {
        None
    }
    /// Why it is removed once [`expired`](Self::expired).
    fn expiry_reason(&self) -> DisconnectReason {
        DisconnectReason::Expired
    }
    /// A queued receiver's queue (the delivery layer downcasts it).
    fn backlog(&self) -> Option<&dyn Backlog> {
        None
    }
}

/// A queued receiver's queue, as the layers below the delivery layer see
/// it: told when its receiver is removed, and downcast by the delivery
/// layer (which knows the payload type) for everything else.
#[doc(hidden)]
pub trait Backlog: Any + Send + Sync {
    /// The receiver was removed from its signal: no event will be added.
    fn detached(&self);
    /// `self`, to downcast.
    fn as_any(&self) -> &dyn Any;
    /// What introspection shows of the queue (the delivery layer's
    /// counters and policy, boxed: this layer does not know their type).
    fn report(&self) -> Box<dyn Any + Send>;
}

/// A receiver's identity: connecting a receiver whose key is already
/// connected to the signal returns the existing connection instead of a
/// second one (Blinker's "connecting twice is idempotent").
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(hidden)]
pub enum Key {
    /// A function item (`fn on_ping(..)`): its type is the function.
    Fn(TypeId),
    /// A function item called as a method of one weakly held object.
    Method(TypeId, usize),
    /// An explicit key ([`ConnectOptions::key`]); `#[receiver]`s use their
    /// name.
    Named(Cow<'static, str>),
}

/// The identity of `F` if it is a function item: a zero-sized type that is
/// not a closure. Closures get none: every closure *value* may be meant as
/// a separate receiver, even two made by one expression.
fn fn_key<F: 'static>() -> Option<TypeId> {
    (size_of::<F>() == 0 && !std::any::type_name::<F>().contains("{{closure}}"))
        .then(TypeId::of::<F>)
}

/// Marker: a receiver taking `&T`.
#[doc(hidden)]
pub struct PayloadArg<R>(PhantomData<fn() -> R>);
/// Marker: a receiver taking `&Event<T>`.
#[doc(hidden)]
pub struct EnvelopeArg<R>(PhantomData<fn() -> R>);

/// Anything that can be connected to a `Signal<T>`: `Fn(&T) -> R` or
/// `Fn(&Event<T>) -> R` with `R: ReceiverResult`, `Send + Sync + 'static`.
///
/// A closure whose body only panics (`|_: &T| todo!()`) returns `!`, which
/// is not a [`ReceiverResult`]: give it a block that can finish, or
/// annotate `-> ()`.
///
/// ```
/// use mesh::{Event, Signal};
/// let s = Signal::<i32>::new();
/// let _a = s.connect(|x: &i32| println!("payload {x}"));
/// let _b = s.connect(|ev: &Event<i32>| println!("#{} {}", ev.seq, ev.data));
/// let _c = s.connect(|x: &i32| if *x < 0 { Err("negative") } else { Ok(()) });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot receive events of type `{T}`",
    label = "expected a function taking `&{T}` or `&Event<{T}>`",
    note = "a receiver is `Fn(&T)` or `Fn(&Event<T>)`, returning `()` or `Result<(), E: Display>`, and `Send + Sync + 'static`"
)]
pub trait IntoReceiver<T, Marker>: Send + Sync + Sized + 'static {
    /// The handler type this receiver becomes.
    #[doc(hidden)]
    type Handler: Handler<T>;
    /// Converts into the handler.
    #[doc(hidden)]
    fn into_handler(self) -> Self::Handler;
}

#[doc(hidden)]
pub struct PayloadFn<F, R>(F, PhantomData<fn() -> R>);
#[doc(hidden)]
pub struct EnvelopeFn<F, R>(F, PhantomData<fn() -> R>);

impl<T, F, R> IntoReceiver<T, PayloadArg<R>> for F
where
    T: 'static,
    F: Fn(&T) -> R + Send + Sync + 'static,
    R: ReceiverResult,
{
    type Handler = PayloadFn<F, R>;
    fn into_handler(self) -> Self::Handler {
        PayloadFn(self, PhantomData)
    }
}

impl<T, F, R> IntoReceiver<T, EnvelopeArg<R>> for F
where
    T: 'static,
    F: Fn(&Event<T>) -> R + Send + Sync + 'static,
    R: ReceiverResult,
{
    type Handler = EnvelopeFn<F, R>;
    fn into_handler(self) -> Self::Handler {
        EnvelopeFn(self, PhantomData)
    }
}

/// A receiver's outcome as a status: a failure's text is left in
/// `cell` (a [`Delivery::failure`]) for the dispatch loop.
#[inline(always)]
pub(crate) fn report(failure: Option<String>, cell: &Cell<Option<String>>) -> Status {
    match failure {
        None => DELIVERED,
        Some(msg) => {
            cell.set(Some(msg));
            FAILED
        }
    }
}

impl<T: 'static, F: Fn(&T) -> R + Send + Sync + 'static, R: ReceiverResult> Handler<T>
    for PayloadFn<F, R>
{
    const ENVELOPE: bool = R::NEEDS_ENVELOPE;
    fn key(&self) -> Option<Key> {
        fn_key::<F>().map(Key::Fn)
    }
    #[inline(always)]
    fn handle(&self, d: &Delivery<'_, T>) -> Status {
        report((self.0)(d.data).finish(d.event), d.failure)
    }
}

impl<T: 'static, F: Fn(&Event<T>) -> R + Send + Sync + 'static, R: ReceiverResult> Handler<T>
    for EnvelopeFn<F, R>
{
    const ENVELOPE: bool = true;
    fn key(&self) -> Option<Key> {
        fn_key::<F>().map(Key::Fn)
    }
    #[inline(always)]
    fn handle(&self, d: &Delivery<'_, T>) -> Status {
        // The dispatcher builds the envelope whenever a snapshot holds an
        // envelope receiver (NEEDS_ENVELOPE), so `event` is always set here.
        match d.event {
            Some(ev) => report((self.0)(ev).finish(Some(ev)), d.failure),
            None => SKIPPED,
        }
    }
}

/// A method of an `Arc<S>`-held object, connected without keeping it alive:
/// `Fn(&S, &T) -> R` or `Fn(&S, &Event<T>) -> R`.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
/// use mesh::Signal;
/// struct Counter(AtomicU32);
/// let s = Signal::<u32>::new();
/// let c = Arc::new(Counter(AtomicU32::new(0)));
/// s.connect_weak(&c, |c: &Counter, x: &u32| { c.0.fetch_add(*x, Ordering::Relaxed); });
/// s.emit(2);
/// assert_eq!(c.0.load(Ordering::Relaxed), 2);
/// drop(c);              // the receiver goes with its object
/// s.emit(3);
/// assert_eq!(s.receiver_count(), 0);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot receive events of type `{T}` for a weakly held `{S}`",
    label = "expected a function taking `&{S}` and then `&{T}` or `&Event<{T}>`"
)]
pub trait IntoWeakReceiver<S, T, Marker>: Send + Sync + Sized + 'static {
    /// The handler type this receiver becomes.
    #[doc(hidden)]
    type Handler: Handler<T>;
    /// Converts into the handler.
    #[doc(hidden)]
    fn into_weak_handler(self, target: Weak<S>) -> Self::Handler;
}

#[doc(hidden)]
pub struct WeakFn<S, F, M>(Weak<S>, F, PhantomData<fn() -> M>);

impl<S, T, F, R> IntoWeakReceiver<S, T, PayloadArg<R>> for F
where
    S: Send + Sync + 'static,
    T: 'static,
    F: Fn(&S, &T) -> R + Send + Sync + 'static,
    R: ReceiverResult,
{
    type Handler = WeakFn<S, F, PayloadArg<R>>;
    fn into_weak_handler(self, target: Weak<S>) -> Self::Handler {
        WeakFn(target, self, PhantomData)
    }
}

impl<S, T, F, R> IntoWeakReceiver<S, T, EnvelopeArg<R>> for F
where
    S: Send + Sync + 'static,
    T: 'static,
    F: Fn(&S, &Event<T>) -> R + Send + Sync + 'static,
    R: ReceiverResult,
{
    type Handler = WeakFn<S, F, EnvelopeArg<R>>;
    fn into_weak_handler(self, target: Weak<S>) -> Self::Handler {
        WeakFn(target, self, PhantomData)
    }
}

impl<S, T, F, R> Handler<T> for WeakFn<S, F, PayloadArg<R>>
where
    S: Send + Sync + 'static,
    T: 'static,
    F: Fn(&S, &T) -> R + Send + Sync + 'static,
    R: ReceiverResult,
{
    const ENVELOPE: bool = R::NEEDS_ENVELOPE;
    const MAY_EXPIRE: bool = true;
    fn expired(&self) -> bool {
        self.0.strong_count() == 0
    }
    fn key(&self) -> Option<Key> {
        fn_key::<F>().map(|f| Key::Method(f, self.0.as_ptr() as *const () as usize))
    }
    #[inline]
    fn handle(&self, d: &Delivery<'_, T>) -> Status {
        match self.0.upgrade() {
            Some(target) => report((self.1)(&target, d.data).finish(d.event), d.failure),
            None => SKIPPED | REMOVE,
        }
    }
}

impl<S, T, F, R> Handler<T> for WeakFn<S, F, EnvelopeArg<R>>
where
    S: Send + Sync + 'static,
    T: 'static,
    F: Fn(&S, &Event<T>) -> R + Send + Sync + 'static,
    R: ReceiverResult,
{
    const ENVELOPE: bool = true;
    const MAY_EXPIRE: bool = true;
    fn expired(&self) -> bool {
        self.0.strong_count() == 0
    }
    fn key(&self) -> Option<Key> {
        fn_key::<F>().map(|f| Key::Method(f, self.0.as_ptr() as *const () as usize))
    }
    #[inline]
    fn handle(&self, d: &Delivery<'_, T>) -> Status {
        match (self.0.upgrade(), d.event) {
            (Some(target), Some(ev)) => report((self.1)(&target, ev).finish(Some(ev)), d.failure),
            (Some(_), None) => SKIPPED,
            (None, _) => SKIPPED | REMOVE,
        }
    }
}

/// Options for [`Signal::connect_with`](crate::Signal::connect_with).
///
/// ```
/// use mesh::{ConnectOptions, Signal};
/// let s = Signal::<u8>::new();
/// let _c = s.connect_with(
///     ConnectOptions::new().priority(10).source("db").source("cache").once().name("audit"),
///     |x: &u8| println!("{x}"),
/// );
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ConnectOptions {
    pub(crate) priority: i32,
    /// Empty: any source.
    pub(crate) sources: Vec<Cow<'static, str>>,
    pub(crate) once: bool,
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) key: Option<Cow<'static, str>>,
}

impl ConnectOptions {
    /// Defaults: priority 0, any source, every event, name from the type.
    pub fn new() -> Self {
        Self::default()
    }

    /// Receivers run by priority, higher first; equal priorities run in
    /// connection order. Default 0.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Only events whose `source` equals this (Blinker's `sender=`).
    /// Given more than once, events from any of the sources given.
    pub fn source(mut self, source: impl Into<Cow<'static, str>>) -> Self {
        self.sources.push(source.into());
        self
    }

    /// Only events from one of `sources` (none: any source, the default).
    pub fn sources<S: Into<Cow<'static, str>>>(
        mut self,
        sources: impl IntoIterator<Item = S>,
    ) -> Self {
        self.sources.extend(sources.into_iter().map(Into::into));
        self
    }

    /// Gives the receiver an identity: connecting another receiver with
    /// the same key to the same signal returns the existing connection
    /// (with its source filter widened to the new one's) instead of a
    /// second receiver. Function items have an identity of their own (the
    /// function) and `#[receiver]`s their name; closures have none unless
    /// given a key.
    ///
    /// ```
    /// use mesh::{ConnectOptions, Signal};
    /// let s = Signal::<u8>::new();
    /// let a = s.connect_with(ConnectOptions::new().key("audit"), |_: &u8| {});
    /// let b = s.connect_with(ConnectOptions::new().key("audit"), |_: &u8| {});
    /// assert_eq!(a.id(), b.id());
    /// assert_eq!(s.emit(1).delivered, 1);
    /// ```
    pub fn key(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Deliver at most one event, then disconnect.
    pub fn once(mut self) -> Self {
        self.once = true;
        self
    }

    /// The name shown in introspection and failure reports (default: the
    /// receiver's type name).
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Public facts about one connected receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiverInfo {
    /// Id, unique within its signal; ids grow in connection order.
    pub id: u64,
    /// Name shown in introspection and failure reports.
    pub name: Cow<'static, str>,
    /// Dispatch priority (higher first).
    pub priority: i32,
    /// The sources it accepts events from (empty: any).
    pub sources: Vec<Cow<'static, str>>,
    /// Whether it is a weak receiver ([`Signal::connect_weak`](crate::Signal::connect_weak)).
    pub weak: bool,
    /// Whether it is a one-shot receiver.
    pub once: bool,
}

impl ReceiverInfo {
    pub(crate) fn of(id: u64, priority: i32, slot: &SlotRef) -> Self {
        let slot = &slot.0;
        ReceiverInfo {
            id,
            name: slot.name().clone(),
            priority,
            sources: slot.sources().to_vec(),
            weak: slot.slot_flags() & WEAK != 0,
            once: slot.is_once(),
        }
    }
}

/// One receiver's outcome other than "delivered", left for the dispatcher.
pub(crate) struct Note {
    /// [`Entry::addr`] of the receiver.
    pub(crate) slot: usize,
    /// Its status bits (never [`DELIVERED`]).
    pub(crate) status: Status,
    /// The failure message, for [`FAILED`].
    pub(crate) message: Option<String>,
}

/// Where receivers leave [`Note`]s during one dispatch, in call order.
///
/// Empty, it is one null pointer: nothing is allocated until the first
/// note, and the hot path only writes and reads back that one word (a
/// `Vec` moved out of a `Cell` would be three words written separately
/// and read back as one wide load, which the CPU cannot forward from the
/// store buffer: measured, it cost several ns per emit).
#[allow(clippy::box_collection)] // deliberate: one word, see above
pub(crate) struct Notes {
    /// Receivers that only declined (source filter, spent one-shot): a
    /// count, so a filtered delivery allocates nothing.
    skipped: Cell<u32>,
    list: Cell<Option<Box<Vec<Note>>>>,
}

thread_local! {
    /// What queued receivers did with the event being dispatched on this
    /// thread: counts, so a queued delivery allocates nothing. Kept here,
    /// not in [`Notes`], so the payload-only hot path (which never meets a
    /// queued receiver) initialises nothing for it; a dispatch that may
    /// meet one saves and restores it around its loop ([`QueueTally::begin`]),
    /// so nested dispatches keep their own counts.
    static TALLY: Cell<QueueTally> = const { Cell::new(QueueTally::EMPTY) };
}

/// Counts of queued receivers that queued, dropped and refused an event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct QueueTally {
    /// Queued receivers that counted anything below (one each).
    pub(crate) receivers: u32,
    pub(crate) queued: u32,
    pub(crate) dropped: u32,
    pub(crate) rejected: u32,
}

/// Counting one dispatch's queue outcomes on this thread: the counts of
/// the dispatch it is nested in are put back when it ends, or if it
/// unwinds.
pub(crate) struct TallyScope {
    outer: QueueTally,
    open: bool,
}

impl TallyScope {
    /// Starts counting.
    #[inline]
    pub(crate) fn begin() -> Self {
        TallyScope { outer: TALLY.replace(QueueTally::EMPTY), open: true }
    }

    /// This dispatch's counts; the outer dispatch's are restored.
    #[inline]
    pub(crate) fn end(mut self) -> QueueTally {
        self.open = false;
        TALLY.replace(self.outer)
    }
}

impl Drop for TallyScope {
    fn drop(&mut self) {
        if self.open {
            TALLY.set(self.outer);
        }
    }
}

impl QueueTally {
    pub(crate) const EMPTY: QueueTally =
        QueueTally { receivers: 0, queued: 0, dropped: 0, rejected: 0 };

    /// Whether nothing was counted.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.receivers == 0
    }

    /// Counts one queued receiver's status bits.
    pub(crate) fn add(&mut self, status: Status) {
        self.receivers += 1;
        self.queued += u32::from(status & QUEUED != 0);
        self.dropped += u32::from(status & DROPPED != 0);
        self.rejected += u32::from(status & REJECTED != 0);
    }
}

impl Notes {
    pub(crate) const fn new() -> Self {
        Notes { skipped: Cell::new(0), list: Cell::new(None) }
    }

    /// Adds a note (the cold path of a dispatch).
    #[cold]
    #[inline(never)]
    pub(crate) fn record(&self, slot: usize, status: Status, message: Option<String>) {
        if status == SKIPPED {
            self.skipped.set(self.skipped.get() + 1);
            return;
        }
        if status & QUEUE_STATUS != 0 {
            let mut tally = TALLY.get();
            tally.add(status);
            TALLY.set(tally);
            if status & !QUEUE_STATUS == 0 {
                return;
            }
        }
        let mut notes = self.list.take().unwrap_or_default();
        notes.push(Note { slot, status, message });
        self.list.set(Some(notes));
    }

    /// Receivers that only declined.
    #[inline]
    pub(crate) fn skipped(&self) -> u32 {
        self.skipped.get()
    }

    /// The notes so far, if any, leaving none.
    #[inline]
    #[allow(clippy::box_collection)] // as for the struct
    pub(crate) fn take(&self) -> Option<Box<Vec<Note>>> {
        self.list.take()
    }
}

/// Calls `call` with a [`Delivery`] of a bare payload and notes any outcome
/// other than "delivered" under `addr`. Inlined: the `Delivery` is never
/// built in memory when `call` is inlined too.
#[inline(always)]
fn deliver_payload<T>(
    data: &T,
    notes: &Notes,
    addr: usize,
    call: impl FnOnce(&Delivery<'_, T>) -> Status,
) {
    let failure = Cell::new(None);
    let status =
        call(&Delivery { data, event: None, source: None, shared: None, failure: &failure });
    if status != DELIVERED {
        notes.record(addr, status, failure.take());
    }
}

/// A connected receiver as the dispatch loop sees it.
pub(crate) trait Slot<T>: Send + Sync {
    /// Runs the receiver.
    fn call(&self, d: &Delivery<'_, T>) -> Status;
    /// Runs the receiver for a bare payload emitted without a source, when
    /// no receiver of the snapshot needs the envelope: the same as `call`
    /// with `event` and `source` unset, but the arguments arrive in
    /// registers instead of behind a `Delivery`, and an outcome other than
    /// "delivered" is left in `notes` instead of returned, so the dispatch
    /// loop is nothing but the calls: a plain receiver costs what calling
    /// it directly through a `dyn Fn` costs.
    #[inline]
    fn call_payload(&self, data: &T, notes: &Notes) {
        deliver_payload(data, notes, self as *const Self as *const () as usize, |d| self.call(d));
    }
    /// Its name.
    fn name(&self) -> &Cow<'static, str>;
    /// [`NEEDS_ENVELOPE`] / [`MAY_EXPIRE`] bits.
    fn slot_flags(&self) -> u8;
    /// The sources it accepts (empty: any).
    fn sources(&self) -> &[Cow<'static, str>] {
        &[]
    }
    /// Whether it delivers at most one event.
    fn is_once(&self) -> bool {
        false
    }
    /// Its identity, if it has one.
    fn key(&self) -> Option<&Key> {
        None
    }
    /// A responder's token (see `collect`).
    fn token(&self) -> Option<u64>;
    /// Why the receiver can never run again, if it cannot: a spent
    /// one-shot ([`DisconnectReason::Once`]) or a weak receiver whose
    /// object is gone ([`DisconnectReason::Expired`]). Whoever removes it
    /// — the dispatch that spent it or a prune that runs first — reports
    /// this reason, so the report does not depend on who got there first.
    fn expiry(&self) -> Option<DisconnectReason>;
    /// A queued receiver's queue (see [`Handler::backlog`]).
    fn backlog(&self) -> Option<&dyn Backlog> {
        None
    }
}

/// A slot with no options: exactly one call to the user's function.
///
/// The key is boxed: most receivers (closures) have none and pay 8 bytes
/// for it instead of 32, which keeps a receiver within 128 usable bytes
/// (`P8` in the comparison bench); a keyed receiver pays a 32-byte block.
struct Plain<H> {
    name: Cow<'static, str>,
    key: Option<Box<Key>>,
    handler: H,
}

/// A slot with a source filter and/or one-shot delivery. Generic in the
/// payload type only: the handler is behind a [`Run`] trait object (one
/// more dynamic call, for these receivers only), so each payload type
/// compiles this once, not once per receiver function (issue 14).
struct Guarded<T> {
    name: Cow<'static, str>,
    key: Option<Box<Key>>,
    /// Empty: any source.
    sources: Box<[Cow<'static, str>]>,
    /// `Some` for one-shot receivers: set by the first delivery. The
    /// `swap` is one atomic read-modify-write, so exactly one concurrent
    /// emitter reads `false`; no other data is published through the flag,
    /// so `Relaxed` suffices.
    once: Option<AtomicBool>,
    /// [`flags_of`] the handler's type.
    flags: u8,
    handler: Box<dyn Run<T>>,
}

/// A [`Handler`] behind a trait object: what [`Guarded`] calls.
trait Run<T>: Send + Sync {
    fn handle(&self, d: &Delivery<'_, T>) -> Status;
    fn expired(&self) -> bool;
    fn expiry_reason(&self) -> DisconnectReason;
    fn token(&self) -> Option<u64>;
    fn backlog(&self) -> Option<&dyn Backlog>;
}

impl<T, H: Handler<T>> Run<T> for H {
    fn handle(&self, d: &Delivery<'_, T>) -> Status {
        Handler::handle(self, d)
    }
    fn expired(&self) -> bool {
        Handler::expired(self)
    }
    fn expiry_reason(&self) -> DisconnectReason {
        Handler::expiry_reason(self)
    }
    fn token(&self) -> Option<u64> {
        Handler::token(self)
    }
    fn backlog(&self) -> Option<&dyn Backlog> {
        Handler::backlog(self)
    }
}

fn flags_of<T, H: Handler<T>>(may_expire: bool) -> u8 {
    (if H::ENVELOPE { NEEDS_ENVELOPE | READS_ENVELOPE } else { 0 })
        | (if H::SHARED { NEEDS_ENVELOPE | NEEDS_SHARED } else { 0 })
        | (if H::MAY_EXPIRE || may_expire { MAY_EXPIRE } else { 0 })
        | (if H::MAY_EXPIRE { WEAK } else { 0 })
}

impl<T, H: Handler<T>> Slot<T> for Plain<H> {
    #[inline]
    fn call(&self, d: &Delivery<'_, T>) -> Status {
        self.handler.handle(d)
    }
    #[inline]
    fn call_payload(&self, data: &T, notes: &Notes) {
        // `handle` is `inline(always)`: this `Delivery` is never built in
        // memory, the closure gets `data` straight from the register, and
        // for a receiver returning `()` the status check folds away.
        let addr = self as *const Self as *const () as usize;
        deliver_payload(data, notes, addr, |d| self.handler.handle(d));
    }
    fn name(&self) -> &Cow<'static, str> {
        &self.name
    }
    fn slot_flags(&self) -> u8 {
        flags_of::<T, H>(false)
    }
    fn key(&self) -> Option<&Key> {
        self.key.as_deref()
    }
    fn token(&self) -> Option<u64> {
        self.handler.token()
    }
    fn expiry(&self) -> Option<DisconnectReason> {
        self.handler.expired().then(|| self.handler.expiry_reason())
    }
    fn backlog(&self) -> Option<&dyn Backlog> {
        self.handler.backlog()
    }
}

impl<T> Slot<T> for Guarded<T> {
    fn call(&self, d: &Delivery<'_, T>) -> Status {
        if !self.sources.is_empty() && !self.sources.iter().any(|s| d.source == Some(s.as_ref())) {
            // A filtered-out event still tells a dead weak receiver to go:
            // removal at the next emit must not depend on its source.
            // (`expired` is a constant `false` for strong handlers.)
            return if self.handler.expired() { SKIPPED | REMOVE } else { SKIPPED };
        }
        match &self.once {
            None => self.handler.handle(d),
            Some(fired) => {
                if fired.swap(true, Ordering::Relaxed) {
                    // Spent by a concurrent emit, which removes it; asking
                    // again is harmless (a removal happens once).
                    return SKIPPED | REMOVE;
                }
                self.handler.handle(d) | REMOVE
            }
        }
    }
    fn name(&self) -> &Cow<'static, str> {
        &self.name
    }
    fn slot_flags(&self) -> u8 {
        self.flags | if self.once.is_some() { MAY_EXPIRE } else { 0 }
    }
    fn sources(&self) -> &[Cow<'static, str>] {
        &self.sources
    }
    fn is_once(&self) -> bool {
        self.once.is_some()
    }
    fn key(&self) -> Option<&Key> {
        self.key.as_deref()
    }
    fn token(&self) -> Option<u64> {
        self.handler.token()
    }
    fn expiry(&self) -> Option<DisconnectReason> {
        // Relaxed: see `once`; a prune that misses a concurrent first
        // delivery leaves the removal to that delivery's dispatch.
        if self.once.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
            Some(DisconnectReason::Once)
        } else {
            self.handler.expired().then(|| self.handler.expiry_reason())
        }
    }
    fn backlog(&self) -> Option<&dyn Backlog> {
        self.handler.backlog()
    }
}

/// A connected receiver as a snapshot holds it, whatever its payload
/// type: what connecting, disconnecting, pruning, introspection and the
/// dispatch's aftermath need, compiled once for every payload type
/// (issue 14: the list code used to be compiled again for each), plus
/// the two calls, taking the payload type-erased.
///
/// An entry is made only by [`TypedSlot::new`], from a [`Slot<T>`]; the
/// calls cast their pointer back to `T`. Whoever calls them must know the
/// entry was made for `T`: a signal's list holds only entries made for
/// its payload type (see `Core::subs`), and the typed wrappers
/// [`call`] and [`call_payload`] say so at each call site.
#[allow(unsafe_code)]
pub(crate) trait Entry: Send + Sync {
    /// [`Slot::call`] with `d` erased.
    ///
    /// # Safety
    ///
    /// `d` points to a live `Delivery<'_, T>`, `T` the payload type this
    /// entry was made for.
    unsafe fn call_erased(&self, d: *const ()) -> Status;
    /// [`Slot::call_payload`] with `data` erased.
    ///
    /// # Safety
    ///
    /// `data` points to a live `T`, the payload type this entry was made
    /// for.
    unsafe fn call_payload_erased(&self, data: *const (), notes: &Notes);
    /// The payload type this entry was made for (checked by the typed
    /// calls in debug builds).
    fn payload_type(&self) -> TypeId;
    /// Its name.
    fn name(&self) -> &Cow<'static, str>;
    /// [`NEEDS_ENVELOPE`] / [`MAY_EXPIRE`] / ... bits.
    fn slot_flags(&self) -> u8;
    /// The sources it accepts (empty: any).
    fn sources(&self) -> &[Cow<'static, str>];
    /// Whether it delivers at most one event.
    fn is_once(&self) -> bool;
    /// Its identity, if it has one.
    fn key(&self) -> Option<&Key>;
    /// A responder's token (see `collect`).
    fn token(&self) -> Option<u64>;
    /// See [`Slot::expiry`].
    fn expiry(&self) -> Option<DisconnectReason>;
    /// The address [`Slot::call_payload`] records in [`Notes`]: that of
    /// the slot itself.
    fn addr(&self) -> usize;
    /// See [`Slot::backlog`].
    fn backlog(&self) -> Option<&dyn Backlog>;
    /// Whether an emit from `source` reaches it (a live receiver whose
    /// source filter accepts it).
    fn accepts(&self, source: Option<&str>) -> bool {
        let sources = self.sources();
        self.expiry().is_none()
            && (sources.is_empty() || sources.iter().any(|s| Some(s.as_ref()) == source))
    }
}

/// A [`Slot<T>`] as an [`Entry`]: `repr(transparent)`, so the slot's
/// address is the entry's (what [`Notes`] record).
#[repr(transparent)]
struct Erase<T, S>(S, PhantomData<fn(&T)>);

#[allow(unsafe_code)]
impl<T: 'static, S: Slot<T>> Entry for Erase<T, S> {
    #[inline]
    unsafe fn call_erased(&self, d: *const ()) -> Status {
        // SAFETY: the caller guarantees `d` points to a live
        // `Delivery<'_, T>` of this entry's `T` (the trait's contract);
        // the reference lives only for this call.
        let d = unsafe { &*(d as *const Delivery<'_, T>) };
        self.0.call(d)
    }
    #[inline]
    unsafe fn call_payload_erased(&self, data: *const (), notes: &Notes) {
        // SAFETY: as in `call_erased`: `data` points to a live `T`.
        let data = unsafe { &*(data as *const T) };
        self.0.call_payload(data, notes)
    }
    fn payload_type(&self) -> TypeId {
        TypeId::of::<T>()
    }
    fn name(&self) -> &Cow<'static, str> {
        self.0.name()
    }
    fn slot_flags(&self) -> u8 {
        self.0.slot_flags()
    }
    fn sources(&self) -> &[Cow<'static, str>] {
        self.0.sources()
    }
    fn is_once(&self) -> bool {
        self.0.is_once()
    }
    fn key(&self) -> Option<&Key> {
        self.0.key()
    }
    fn token(&self) -> Option<u64> {
        self.0.token()
    }
    fn expiry(&self) -> Option<DisconnectReason> {
        self.0.expiry()
    }
    fn addr(&self) -> usize {
        &self.0 as *const S as *const () as usize
    }
    fn backlog(&self) -> Option<&dyn Backlog> {
        self.0.backlog()
    }
}

/// Calls `entry` with `d`.
///
/// # Safety
///
/// `entry` was made for payload type `T` (by [`TypedSlot::new`] for `T`).
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) unsafe fn call<T: 'static>(entry: &dyn Entry, d: &Delivery<'_, T>) -> Status {
    debug_assert!(entry.payload_type() == TypeId::of::<T>(), "an entry called with another type");
    // SAFETY: `entry` was made for `T` (this function's contract), and
    // `d` is a live `Delivery<'_, T>` for the call.
    unsafe { entry.call_erased(d as *const Delivery<'_, T> as *const ()) }
}

/// Calls `entry` with a bare payload (see [`Slot::call_payload`]).
///
/// # Safety
///
/// As for [`call`].
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) unsafe fn call_payload<T: 'static>(entry: &dyn Entry, data: &T, notes: &Notes) {
    debug_assert!(entry.payload_type() == TypeId::of::<T>(), "an entry called with another type");
    // SAFETY: as in `call`.
    unsafe { entry.call_payload_erased(data as *const T as *const (), notes) }
}

/// What a subscriber list stores: a thin `Arc`, shared by every snapshot
/// that holds the receiver, of a `Box` of the entry. One type for every
/// payload type, so the list code (and the per-thread cache, and the
/// snapshot's `arc-swap` cell) is compiled once.
///
/// Why not `Arc<dyn Entry>`, one allocation less: measured in
/// `cargo bench -p mesh-bench --bench compare` (BENCHMARKS.md).
///
/// * Calling through an `Arc` of a trait object first works out where the
///   value sits in the `ArcInner` from the alignment in the vtable: a load
///   and four instructions per receiver. Through `Arc<Box<dyn _>>` the
///   dispatch loop reads the box's (data, vtable) pair at a fixed offset
///   and calls: the loop shrinks from ~47 to ~29 bytes, about the size of
///   a plain `Vec<Box<dyn Fn>>` loop. On the machine measured, a loop that
///   straddles a 64-byte boundary costs ~20% more per receiver, so the
///   shorter loop is much less often slow wherever it lands.
/// * Snapshot copies bump the reference count in the 32-byte `ArcInner`;
///   the user's closure lives in the box's own allocation, which writers
///   never touch. (Boxing a fresh handle per snapshot instead was measured
///   too: each connect or disconnect then wrote N new boxes that every
///   publisher missed in cache, and churn cost more than the loop saved.)
#[allow(clippy::redundant_allocation)] // deliberate, see above
#[derive(Clone)]
pub(crate) struct SlotRef(pub(crate) Arc<Box<dyn Entry>>);

impl Flags for SlotRef {
    fn flags(&self) -> u8 {
        self.0.slot_flags()
    }
}

/// A [`SlotRef`] made for payload type `T`: what a `Core<T>` inserts into
/// its list, so the list holds entries of `T` only.
pub(crate) struct TypedSlot<T>(SlotRef, PhantomData<fn(&T)>);

impl<T> Clone for TypedSlot<T> {
    fn clone(&self) -> Self {
        TypedSlot(self.0.clone(), PhantomData)
    }
}

impl<T: 'static> TypedSlot<T> {
    /// Erases `slot`.
    pub(crate) fn new<S: Slot<T> + 'static>(slot: S) -> Self {
        TypedSlot(SlotRef(Arc::new(Box::new(Erase(slot, PhantomData)))), PhantomData)
    }

    /// The entry, for a list of `T`.
    pub(crate) fn erased(&self) -> &SlotRef {
        &self.0
    }

    /// The entry, for a list of `T`.
    pub(crate) fn into_erased(self) -> SlotRef {
        self.0
    }

    /// Calls the receiver.
    #[allow(unsafe_code)]
    pub(crate) fn call(&self, d: &Delivery<'_, T>) -> Status {
        // SAFETY: a `TypedSlot<T>` is made only by `new`, from a `Slot<T>`.
        unsafe { call(&**self.0.0, d) }
    }
}

impl<T> std::ops::Deref for TypedSlot<T> {
    type Target = dyn Entry;
    fn deref(&self) -> &(dyn Entry + 'static) {
        &**self.0.0
    }
}

/// Builds the slot for `handler` with `options`.
pub(crate) fn make_slot<T: 'static, H: Handler<T>>(
    handler: H,
    options: ConnectOptions,
    default_name: &'static str,
) -> TypedSlot<T> {
    let name = options.name.unwrap_or(Cow::Borrowed(default_name));
    let key = options.key.map(Key::Named).or_else(|| handler.key()).map(Box::new);
    if options.sources.is_empty() && !options.once {
        TypedSlot::new(Plain { name, key, handler })
    } else {
        TypedSlot::new(Guarded {
            name,
            key,
            sources: options.sources.into_boxed_slice(),
            once: options.once.then(|| AtomicBool::new(false)),
            flags: flags_of::<T, H>(false),
            handler: Box::new(handler),
        })
    }
}
