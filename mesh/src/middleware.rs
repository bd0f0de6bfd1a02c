//! Middleware: filters and transformers that see an event before its
//! receivers do.
//!
//! A middleware gets the envelope mutably and answers with a [`Flow`]: pass
//! the event on ([`Flow::Continue`]), possibly after changing its payload,
//! source or metadata, or drop it ([`Flow::Drop`]; the emit then reports
//! [`EmitStatus::Filtered`](crate::EmitStatus::Filtered) and no receiver,
//! history or later middleware sees it). Observing is continuing without a
//! change.
//!
//! There are two chains:
//!
//! * **per-signal** ([`Signal::add_middleware`](crate::Signal::add_middleware)):
//!   typed, `Fn(&mut Event<T>) -> Flow` or any [`Middleware<T>`];
//! * **global** ([`add_global`]): type-erased, sees every signal's events
//!   through [`DynEvent`].
//!
//! # Order
//!
//! Global middleware runs first, then the signal's own; within a chain, in
//! the order added. The envelope's `seq` is assigned after both chains
//! accept the event, so dropped events leave no gap; `id` and `timestamp`
//! exist from the start.
//!
//! # Cost
//!
//! Middleware needs an envelope, so a signal with middleware (or any global
//! middleware) builds one per emit. A signal with no middleware and no
//! global middleware pays one atomic load for the feature and nothing
//! else.
//!
//! # Failures
//!
//! A middleware that panics is reported on
//! [`mesh.receiver.failed`](crate::meta::failed) (as `middleware <name>`)
//! and skipped: the event goes on as the middleware left it.
//!
//! ```
//! use mesh::{Event, EmitStatus, Signal, middleware::Flow};
//! let s = Signal::<i32>::new();
//! s.connect(|x: &i32| assert!(*x >= 0));
//! // A transformer and a filter.
//! s.add_middleware(|ev: &mut Event<i32>| { ev.data *= 10; Flow::Continue });
//! s.add_middleware(|ev: &mut Event<i32>| if ev.data < 0 { Flow::Drop } else { Flow::Continue });
//! assert_eq!(s.emit(1).delivered, 1);
//! assert_eq!(s.emit(-1).status, EmitStatus::Filtered);
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use crate::event::DebugFn;
use crate::event::{Event, Metadata, Uuid};
use crate::subscribers::{Flags, Subscribers};
use crate::sync::LockExt;

/// What a middleware decides for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flow {
    /// Pass the event on (changed or not).
    Continue,
    /// Drop the event: no later middleware, history or receiver sees it.
    Drop,
}

/// A typed middleware for one signal.
pub trait Middleware<T>: Send + Sync + 'static {
    /// Inspects or changes `event`; decides whether it goes on.
    fn handle(&self, event: &mut Event<T>) -> Flow;

    /// Name in failure reports.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<Self>())
    }
}

impl<T, F> Middleware<T> for F
where
    F: Fn(&mut Event<T>) -> Flow + Send + Sync + 'static,
{
    fn handle(&self, event: &mut Event<T>) -> Flow {
        self(event)
    }
}

/// A type-erased middleware that sees every signal's events.
pub trait GlobalMiddleware: Send + Sync + 'static {
    /// Inspects or changes `event`; decides whether it goes on.
    fn handle(&self, event: &mut dyn DynEvent) -> Flow;

    /// Name in failure reports.
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(std::any::type_name::<Self>())
    }
}

impl<F> GlobalMiddleware for F
where
    F: Fn(&mut dyn DynEvent) -> Flow + Send + Sync + 'static,
{
    fn handle(&self, event: &mut dyn DynEvent) -> Flow {
        self(event)
    }
}

/// A type-erased, mutable view of an envelope, for global middleware.
///
/// The payload is reachable as `dyn Any`, so a global middleware can
/// downcast it to a type it knows and change it.
pub trait DynEvent {
    /// Full name of the signal.
    fn name(&self) -> &'static str;
    /// The envelope id.
    fn id(&self) -> Uuid;
    /// The timestamp.
    fn timestamp(&self) -> SystemTime;
    /// The source, if any.
    fn source(&self) -> Option<&str>;
    /// Replaces the source.
    fn set_source(&mut self, source: Option<Cow<'static, str>>);
    /// The metadata.
    fn metadata(&self) -> &Metadata;
    /// The metadata, mutably.
    fn metadata_mut(&mut self) -> &mut Metadata;
    /// The payload.
    fn payload(&self) -> &dyn Any;
    /// The payload, mutably.
    fn payload_mut(&mut self) -> &mut dyn Any;
    /// The payload's type name.
    fn payload_type(&self) -> &'static str;
    /// Writes the payload's `Debug` (or `<type name>` if unknown).
    fn fmt_payload(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

impl fmt::Debug for dyn DynEvent + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct P<'a, 'b>(&'a (dyn DynEvent + 'b));
        impl fmt::Debug for P<'_, '_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt_payload(f)
            }
        }
        f.debug_struct("DynEvent")
            .field("name", &self.name())
            .field("id", &self.id())
            .field("source", &self.source())
            .field("metadata", self.metadata())
            .field("data", &P(self))
            .finish()
    }
}

/// The [`DynEvent`] view of a typed envelope.
pub(crate) struct Erased<'a, T> {
    pub(crate) event: &'a mut Event<T>,
    pub(crate) debug: Option<DebugFn<T>>,
}

impl<T: Send + Sync + 'static> DynEvent for Erased<'_, T> {
    fn name(&self) -> &'static str {
        self.event.name
    }
    fn id(&self) -> Uuid {
        self.event.id
    }
    fn timestamp(&self) -> SystemTime {
        self.event.timestamp
    }
    fn source(&self) -> Option<&str> {
        self.event.source.as_deref()
    }
    fn set_source(&mut self, source: Option<Cow<'static, str>>) {
        self.event.source = source;
    }
    fn metadata(&self) -> &Metadata {
        &self.event.metadata
    }
    fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.event.metadata
    }
    fn payload(&self) -> &dyn Any {
        &self.event.data
    }
    fn payload_mut(&mut self) -> &mut dyn Any {
        &mut self.event.data
    }
    fn payload_type(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn fmt_payload(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.debug {
            Some(debug) => debug(&self.event.data, f),
            None => write!(f, "<{}>", std::any::type_name::<T>()),
        }
    }
}

/// A chain entry as the subscriber list stores it.
pub(crate) struct Entry<M: ?Sized>(pub(crate) Arc<M>);

impl<M: ?Sized> Clone for Entry<M> {
    fn clone(&self) -> Self {
        Entry(self.0.clone())
    }
}

impl<M: ?Sized> Flags for Entry<M> {
    fn flags(&self) -> u8 {
        0
    }
}

/// A chain: the same copy-on-write list receivers use, all at priority 0,
/// so entries run in the order added.
pub(crate) type Chain<M> = Subscribers<Entry<M>>;

/// What a handle needs to remove its middleware, type-erased.
pub(crate) trait Remove: Send + Sync {
    fn remove_middleware(&self, id: u64) -> bool;
}

impl<M: ?Sized + Send + Sync> Remove for Chain<M> {
    fn remove_middleware(&self, id: u64) -> bool {
        !self.remove_where(&mut |i, _| i == id).is_empty()
    }
}

/// Removes its middleware on demand; dropping it leaves the middleware in
/// place.
#[derive(Clone)]
pub struct MiddlewareHandle {
    pub(crate) chain: Weak<dyn Remove>,
    pub(crate) id: u64,
}

impl MiddlewareHandle {
    /// Removes the middleware; false if it was already removed.
    pub fn remove(self) -> bool {
        self.remove_ref()
    }

    fn remove_ref(&self) -> bool {
        self.chain.upgrade().is_some_and(|c| c.remove_middleware(self.id))
    }

    /// Turns this handle into a guard that removes the middleware when
    /// dropped, as [`ScopedConnection`](crate::ScopedConnection) does for
    /// receivers.
    ///
    /// ```
    /// use mesh::{Event, Signal, middleware::Flow};
    /// let s = Signal::<u32>::new();
    /// s.connect(|_: &u32| {});
    /// {
    ///     let _odd_only = s
    ///         .add_middleware(|ev: &mut Event<u32>| if ev.data % 2 == 1 { Flow::Continue } else { Flow::Drop })
    ///         .scoped();
    ///     assert_eq!(s.emit(2).delivered, 0);
    /// }
    /// assert_eq!(s.emit(2).delivered, 1);
    /// ```
    pub fn scoped(self) -> ScopedMiddleware {
        ScopedMiddleware { handle: self, armed: true }
    }
}

/// A middleware that is removed when this guard drops; see
/// [`MiddlewareHandle::scoped`].
#[must_use = "dropping a ScopedMiddleware removes the middleware at once"]
#[derive(Debug)]
pub struct ScopedMiddleware {
    handle: MiddlewareHandle,
    /// Cleared by [`release`](Self::release): then dropping does nothing.
    armed: bool,
}

impl ScopedMiddleware {
    /// Gives up the guard: the middleware stays.
    pub fn release(mut self) -> MiddlewareHandle {
        self.armed = false;
        MiddlewareHandle { chain: self.handle.chain.clone(), id: self.handle.id }
    }
}

impl Drop for ScopedMiddleware {
    fn drop(&mut self) {
        if self.armed {
            self.handle.remove_ref();
        }
    }
}

impl fmt::Debug for MiddlewareHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MiddlewareHandle").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The global chain. Non-empty, it counts as global work (see
/// `observe::work`), so every emit takes the full path.
pub(crate) struct GlobalChain(Chain<dyn GlobalMiddleware>);

impl Remove for GlobalChain {
    fn remove_middleware(&self, id: u64) -> bool {
        let removed = self.0.remove_middleware(id);
        if removed {
            GLOBAL_LEN.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            crate::observe::sub_work();
            // No lock is held here.
            crate::observe::release_deferred();
        }
        removed
    }
}

static GLOBAL: LazyLock<Arc<GlobalChain>> =
    LazyLock::new(|| Arc::new(GlobalChain(Subscribers::new())));

/// How many global middleware there are: read before touching the chain,
/// so an emit with none pays one relaxed load (and the loom models, which
/// add none, never touch the process-wide chain). Relaxed: it only gates
/// work; the chain itself is read through its snapshot.
static GLOBAL_LEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The global chain (for the emit path), if it has any middleware.
#[inline]
pub(crate) fn global() -> Option<&'static Chain<dyn GlobalMiddleware>> {
    (GLOBAL_LEN.load(std::sync::atomic::Ordering::Relaxed) != 0).then(|| &GLOBAL.0)
}

/// Adds a middleware that sees every event of every signal, after the
/// global middleware added before it.
///
/// ```
/// use mesh::{Signal, middleware::{self, DynEvent, Flow}};
/// let s = Signal::<u8>::new();
/// let _c = s.connect(|_: &mesh::Event<u8>| {});
/// let h = middleware::add_global(|ev: &mut dyn DynEvent| {
///     ev.metadata_mut().insert("seen-by", "audit");
///     Flow::Continue
/// });
/// s.emit(1);
/// h.remove();
/// ```
pub fn add_global(m: impl GlobalMiddleware) -> MiddlewareHandle {
    let chain: Arc<GlobalChain> = GLOBAL.clone();
    crate::observe::add_work();
    crate::observe::release_deferred();
    let id = chain.0.insert(0, Entry(Arc::new(m) as Arc<dyn GlobalMiddleware>));
    GLOBAL_LEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let weak: Weak<GlobalChain> = Arc::downgrade(&chain);
    MiddlewareHandle { chain: weak, id }
}

// ----- built-in middleware ------------------------------------------------

/// Drops events beyond `max` per `period` (a token bucket refilled
/// continuously). Works per signal or globally (then the budget is shared
/// by every signal).
///
/// ```
/// use std::time::Duration;
/// use mesh::{EmitStatus, Signal, middleware::RateLimit};
/// let s = Signal::<u32>::new();
/// s.connect(|_: &u32| {});
/// s.add_middleware(RateLimit::new(2, Duration::from_secs(3600)));
/// assert_eq!(s.emit(1).delivered, 1);
/// assert_eq!(s.emit(2).delivered, 1);
/// assert_eq!(s.emit(3).status, EmitStatus::Filtered);
/// ```
pub struct RateLimit {
    max: f64,
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// At most `max` events per `period`; bursts of up to `max`.
    pub fn new(max: u32, period: Duration) -> Self {
        let max = f64::from(max);
        RateLimit {
            max,
            per_second: max / period.as_secs_f64().max(f64::MIN_POSITIVE),
            state: Mutex::new((max, Instant::now())),
        }
    }

    fn admit(&self) -> Flow {
        let mut state = self.state.locked();
        let now = Instant::now();
        let (tokens, last) = *state;
        let tokens =
            (tokens + now.duration_since(last).as_secs_f64() * self.per_second).min(self.max);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            Flow::Continue
        } else {
            *state = (tokens, now);
            Flow::Drop
        }
    }
}

impl<T> Middleware<T> for RateLimit {
    fn handle(&self, _: &mut Event<T>) -> Flow {
        self.admit()
    }
}

impl GlobalMiddleware for RateLimit {
    fn handle(&self, _: &mut dyn DynEvent) -> Flow {
        self.admit()
    }
}

/// Keeps one event in every `n` (the 1st, the `n+1`-th, …), drops the rest.
///
/// ```
/// use mesh::{Signal, middleware::Sample};
/// let s = Signal::<u32>::new();
/// s.connect(|_: &u32| {});
/// s.add_middleware(Sample::one_in(3));
/// let kept = (0..9).filter(|i| s.emit(*i).delivered == 1).count();
/// assert_eq!(kept, 3);
/// ```
pub struct Sample {
    n: u64,
    /// Events seen. Relaxed `fetch_add`: each event gets a distinct count;
    /// nothing else is synchronised through it.
    seen: AtomicU64,
}

impl Sample {
    /// Keep one event in `n` (`n` of 0 or 1 keeps everything).
    pub fn one_in(n: u64) -> Self {
        Sample { n: n.max(1), seen: AtomicU64::new(0) }
    }

    fn admit(&self) -> Flow {
        if self.seen.fetch_add(1, Ordering::Relaxed) % self.n == 0 {
            Flow::Continue
        } else {
            Flow::Drop
        }
    }
}

impl<T> Middleware<T> for Sample {
    fn handle(&self, _: &mut Event<T>) -> Flow {
        self.admit()
    }
}

impl GlobalMiddleware for Sample {
    fn handle(&self, _: &mut dyn DynEvent) -> Flow {
        self.admit()
    }
}

/// Metadata key set by [`CorrelationId`].
pub const CORRELATION_ID: &str = "correlation-id";

thread_local! {
    static CURRENT_CORRELATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` with `id` as the current correlation id of this thread: events
/// emitted inside get it from [`CorrelationId`].
///
/// ```
/// use mesh::{Event, Signal, middleware::{self, CorrelationId, CORRELATION_ID}};
/// let s = Signal::<()>::new();
/// s.add_middleware(CorrelationId);
/// s.connect(|ev: &Event<()>| assert_eq!(ev.metadata.get(CORRELATION_ID), Some("req-42")));
/// middleware::with_correlation_id("req-42", || s.emit(()));
/// ```
pub fn with_correlation_id<R>(id: impl Into<String>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<String>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT_CORRELATION.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT_CORRELATION.with(|c| c.borrow_mut().replace(id.into()));
    let _restore = Restore(previous);
    f()
}

/// Enricher: sets the `correlation-id` metadata of events that have none,
/// to the thread's current id ([`with_correlation_id`]) or else to the
/// event's own id, so every event can be traced across receivers and
/// processes.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorrelationId;

impl CorrelationId {
    fn enrich(metadata: &mut Metadata, id: Uuid) -> Flow {
        if !metadata.contains_key(CORRELATION_ID) {
            let value =
                CURRENT_CORRELATION.with(|c| c.borrow().clone()).unwrap_or_else(|| id.to_string());
            metadata.insert(CORRELATION_ID, value);
        }
        Flow::Continue
    }
}

impl<T> Middleware<T> for CorrelationId {
    fn handle(&self, event: &mut Event<T>) -> Flow {
        Self::enrich(&mut event.metadata, event.id)
    }
}

impl GlobalMiddleware for CorrelationId {
    fn handle(&self, event: &mut dyn DynEvent) -> Flow {
        let id = event.id();
        Self::enrich(event.metadata_mut(), id)
    }
}

/// Logs every event it sees with the `tracing` crate (target `mesh`, level
/// DEBUG): name, id, seq-to-be, source, metadata and the payload's
/// `Debug`. An observer: it never changes or drops events.
///
/// ```
/// # #[cfg(feature = "tracing")] {
/// let _h = mesh::middleware::add_global(mesh::middleware::Trace);
/// # }
/// ```
#[cfg(feature = "tracing")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Trace;

#[cfg(feature = "tracing")]
impl Trace {
    fn log(event: &dyn DynEvent) {
        struct P<'a, 'b>(&'a (dyn DynEvent + 'b));
        impl fmt::Display for P<'_, '_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt_payload(f)
            }
        }
        tracing::debug!(
            target: "mesh",
            name = event.name(),
            id = %event.id(),
            source = event.source(),
            metadata = ?event.metadata(),
            payload = %P(event),
            "event"
        );
    }
}

#[cfg(feature = "tracing")]
impl GlobalMiddleware for Trace {
    fn handle(&self, event: &mut dyn DynEvent) -> Flow {
        Self::log(event);
        Flow::Continue
    }
}

#[cfg(feature = "tracing")]
impl<T: Send + Sync + 'static> Middleware<T> for Trace {
    fn handle(&self, event: &mut Event<T>) -> Flow {
        Self::log(&Erased { event, debug: None });
        Flow::Continue
    }
}
