//! Pattern subscriptions: one subscriber, every named signal whose name
//! matches a [`Pattern`], present and future.
//!
//! # Design
//!
//! A pattern subscription is matched against names when it is made and
//! when a signal is made, never when an event is emitted. Each match
//! *attaches* it to that signal as one more ordinary receiver (an
//! [`AnyEvent`] adapter, or the user's typed receiver for
//! [`subscribe_pattern_typed`]), so a matched signal pays what one more
//! receiver costs and a signal no pattern matches pays nothing: its
//! receiver list does not know patterns exist.
//!
//! Subscriptions live in a segment trie (one node per literal segment,
//! one per `*`, subscriptions kept at the node where their pattern ends
//! or meets its `>`). A new signal's name walks it once: the cost depends
//! on the name's length and the wildcards on its path, not on how many
//! patterns exist. A new subscription scans the registry's sorted names
//! from its literal prefix (`system.provider.` for `system.provider.*`)
//! only, so a pattern under a namespace never looks at the others.
//!
//! # Exactly once
//!
//! Each (subscription, signal) pair is attached exactly once, whatever
//! the interleaving of `subscribe_pattern` with signals being made on
//! other threads. The registry's name map lock is the serialisation
//! point:
//!
//! * making a signal holds the map's *write* lock while it inserts the
//!   name and walks the trie (read), attaching what matches;
//! * subscribing holds the map's *read* lock while it inserts into the
//!   trie (write) and scans the names, attaching what matches.
//!
//! The two critical sections exclude each other, so one of them comes
//! first: if the signal was made first, the subscription's scan finds its
//! name, and the signal's walk did not find the subscription; if the
//! subscription came first, the signal's walk finds it, and the scan ran
//! before the name existed. (Two subscribers share the read lock; each
//! attaches only itself.) Lock order: the name map, then the trie; a
//! disconnect takes the trie alone.
//!
//! A subscription's attachments are recorded under its own lock, which
//! also holds its `dead` flag: an attach that runs while the subscription
//! is being disconnected either records its connection before the
//! disconnect collects them (and is detached with them) or sees `dead`
//! and attaches nothing.
//!
//! # Meta-signals
//!
//! The built-in `mesh.*` signals match only patterns whose first segment
//! is the literal `mesh`: a leading `*` or `>` never reaches them, so a
//! catch-all subscriber cannot loop on the bookkeeping its own
//! connections emit.
//!
//! # Testing scopes
//!
//! A subscription made while a [testing scope](crate::testing) is entered
//! on the thread belongs to that scope: it attaches to the scope's
//! signals (event types resolved inside it), present and future, and to
//! nothing global; a global subscription never reaches a scope's signals.

use std::any::{Any, type_name};
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::connection::{Connection, Detach, DisconnectReason};
use crate::event::{AnyEvent, PayloadView};
use crate::name::{Pattern, PatternError};
use crate::namespace::Namespace;
use crate::observe;
use crate::receiver::{
    ConnectOptions, Delivery, Handler, IntoReceiver, REMOVE, ReceiverInfo, ReceiverResult, SKIPPED,
    Status, report,
};
use crate::signal::{Signal, SignalView};
use crate::sync::{LockExt, RwLockExt};

use super::{Announcements, Erased, SignalRef, registry};

/// A pattern subscriber's call, whatever the payload type: runs the
/// user's function on the view, leaving a failure's text in the cell.
pub(crate) type AnyFn = dyn Fn(&AnyEvent<'_>, &Cell<Option<String>>) -> Status + Send + Sync;

/// A `mesh.receiver.connected` report, made once no lock is held.
pub(crate) type Announce = (&'static str, u64, ReceiverInfo);

/// How a subscription attaches to one signal: `None` if it does not
/// (a typed subscription and another payload type).
type Attach = dyn Fn(&SignalRef) -> Option<(Connection, Option<ReceiverInfo>)> + Send + Sync;

/// Subscription ids: attach order among subscriptions. `Relaxed`: the
/// counter only has to hand out distinct, growing numbers (one atomic
/// read-modify-write each); nothing is published through it.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Where a subscription is listed.
enum Home {
    Global,
    Scope(Weak<ScopeTable>),
}

/// One pattern subscription.
pub(crate) struct Sub {
    id: u64,
    pattern: Pattern,
    attach: Box<Attach>,
    home: Home,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    dead: bool,
    /// One connection per signal it is attached to.
    attached: Vec<Connection>,
}

impl Sub {
    /// Attaches to `signal` unless disconnected meanwhile (see the module
    /// docs), recording the connection; reports what to announce.
    fn attach_to(&self, signal: &SignalRef, out: &mut Vec<Announce>) {
        let mut state = self.state.locked();
        if state.dead {
            return;
        }
        if let Some((connection, info)) = (self.attach)(signal) {
            state.attached.push(connection);
            if let Some(info) = info {
                out.push((signal.name(), signal.id(), info));
            }
        }
    }

    /// Ends the subscription: unlisted, detached from every signal.
    /// Returns whether it was live.
    fn kill(&self, reason: DisconnectReason) -> bool {
        let attached = {
            let mut state = self.state.locked();
            if std::mem::replace(&mut state.dead, true) {
                return false;
            }
            std::mem::take(&mut state.attached)
        };
        match &self.home {
            Home::Global => registry().patterns.write_locked().remove(self),
            Home::Scope(table) => {
                if let Some(table) = table.upgrade() {
                    table.inner.locked().trie.remove(self);
                }
            }
        }
        // No lock held: detaching drops receivers and reports them.
        for connection in attached {
            if let Some(signal) = connection.signal.upgrade() {
                signal.detach(connection.id, reason);
            }
        }
        true
    }

    /// Signals it is attached to now.
    fn attachments(&self) -> usize {
        self.state.locked().attached.iter().filter(|c| c.is_connected()).count()
    }
}

impl Detach for Sub {
    fn detach(&self, _: u64, reason: DisconnectReason) -> bool {
        self.kill(reason)
    }
    fn is_attached(&self, _: u64) -> bool {
        !self.state.locked().dead
    }
    fn pattern_attachments(&self) -> Option<usize> {
        Some(self.attachments())
    }
}

// ----- the trie ---------------------------------------------------------------

/// Subscriptions by pattern segment (see the module docs).
#[derive(Default)]
pub(crate) struct Trie {
    lits: HashMap<Box<str>, Trie>,
    star: Option<Box<Trie>>,
    /// Subscriptions whose pattern ends here with `>`.
    tail: Vec<Arc<Sub>>,
    /// Subscriptions whose pattern ends here.
    end: Vec<Arc<Sub>>,
}

impl Trie {
    fn insert(&mut self, sub: Arc<Sub>) {
        let mut node = self;
        let owner = sub.clone();
        for seg in owner.pattern.as_str().split('.') {
            match seg {
                ">" => return node.tail.push(sub),
                "*" => node = node.star.get_or_insert_default(),
                lit => node = node.lits.entry(lit.into()).or_default(),
            }
        }
        node.end.push(sub);
    }

    /// Removes `sub`; prunes the nodes left empty.
    fn remove(&mut self, sub: &Sub) {
        let segs: Vec<&str> = sub.pattern.as_str().split('.').collect();
        self.remove_at(&segs, sub.id);
    }

    /// Returns whether this node is now empty.
    fn remove_at(&mut self, segs: &[&str], id: u64) -> bool {
        match segs.split_first() {
            None => self.end.retain(|s| s.id != id),
            Some((&">", _)) => self.tail.retain(|s| s.id != id),
            Some((&"*", rest)) => {
                if self.star.as_mut().is_some_and(|n| n.remove_at(rest, id)) {
                    self.star = None;
                }
            }
            Some((lit, rest)) => {
                if self.lits.get_mut(*lit).is_some_and(|n| n.remove_at(rest, id)) {
                    self.lits.remove(*lit);
                }
            }
        }
        self.lits.is_empty() && self.star.is_none() && self.tail.is_empty() && self.end.is_empty()
    }

    /// The subscriptions whose pattern admits `name`, in subscription
    /// order.
    fn matching(&self, name: &str) -> Vec<Arc<Sub>> {
        let mut out = Vec::new();
        if is_meta(name) {
            // Only a literal `mesh` first segment reaches a meta-signal.
            if let Some(node) = self.lits.get("mesh") {
                node.walk(&name["mesh.".len()..], &mut out);
            }
        } else {
            self.walk(name, &mut out);
        }
        out.sort_by_key(|s| s.id);
        out
    }

    fn walk(&self, rest: &str, out: &mut Vec<Arc<Sub>>) {
        // `>` here takes the (non-empty) rest.
        out.extend(self.tail.iter().cloned());
        let (seg, after) = match rest.split_once('.') {
            Some((seg, after)) => (seg, Some(after)),
            None => (rest, None),
        };
        for next in self.lits.get(seg).into_iter().chain(self.star.as_deref()) {
            match after {
                Some(after) => next.walk(after, out),
                None => out.extend(next.end.iter().cloned()),
            }
        }
    }
}

impl Trie {
    /// Every subscription in it, in no particular order.
    fn each(&self, f: &mut impl FnMut(&Arc<Sub>)) {
        self.tail.iter().chain(&self.end).for_each(&mut *f);
        if let Some(star) = &self.star {
            star.each(f);
        }
        for node in self.lits.values() {
            node.each(f);
        }
    }
}

/// The global pattern subscriptions' attachments, for introspection:
/// (signal address, receiver id) → the pattern. Read under the trie's
/// lock and each subscription's; runs no user code.
pub(crate) fn attachments() -> HashMap<(usize, u64), Pattern> {
    let mut out = HashMap::new();
    registry().patterns.read_locked().each(&mut |sub| {
        for c in &sub.state.locked().attached {
            let addr = c.signal.as_ptr() as *const () as usize;
            out.insert((addr, c.id), sub.pattern.clone());
        }
    });
    out
}

fn is_meta(name: &str) -> bool {
    name.starts_with("mesh.")
}

/// Whether `pattern` reaches the signal `name` (meta-signals only by a
/// literal `mesh` first segment).
fn admits(pattern: &Pattern, name: &str) -> bool {
    (!is_meta(name) || pattern.as_str().starts_with("mesh.")) && pattern.matches(name)
}

/// The names before the pattern's first wildcard, with the dot: where its
/// matches start in sorted order (`system.provider.` for
/// `system.provider.*`; all of it for a literal pattern).
fn literal_prefix(pattern: &Pattern) -> &str {
    let s = pattern.as_str();
    match s.find(['*', '>']) {
        Some(at) => &s[..at],
        None => s,
    }
}

// ----- attaching ------------------------------------------------------------

/// A new signal in the registry: attaches the global subscriptions that
/// match it. Called with the name map's write lock held (see the module
/// docs).
pub(crate) fn signal_made(signal: &SignalRef, out: &mut Vec<Announce>) {
    let subs = registry().patterns.read_locked().matching(signal.name());
    for sub in subs {
        sub.attach_to(signal, out);
    }
}

/// Lists `sub` and attaches it to what already matches.
fn subscribe(sub: Arc<Sub>) -> Vec<Announce> {
    let mut out = Vec::new();
    match &sub.home {
        Home::Global => {
            let reg = registry();
            let signals = reg.signals.read_locked();
            reg.patterns.write_locked().insert(sub.clone());
            let prefix = literal_prefix(&sub.pattern);
            let candidates = signals
                .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
                .take_while(|(name, _)| name.starts_with(prefix));
            for (name, signal) in candidates {
                if admits(&sub.pattern, name) {
                    sub.attach_to(signal, &mut out);
                }
            }
        }
        Home::Scope(table) => {
            let Some(table) = table.upgrade() else { return out };
            let mut inner = table.inner.locked();
            inner.trie.insert(sub.clone());
            inner.signals.retain(|s| s.strong_count() > 0);
            for signal in &inner.signals {
                let Some(signal) = signal.upgrade().map(|erased| SignalRef { erased }) else {
                    continue;
                };
                if admits(&sub.pattern, signal.name()) {
                    sub.attach_to(&signal, &mut out);
                }
            }
        }
    }
    out
}

/// A testing scope's pattern subscriptions and the signals they may
/// attach to (the scope's own, held weakly: the scope holds them).
#[derive(Default)]
pub(crate) struct ScopeTable {
    inner: Mutex<ScopeInner>,
}

#[derive(Default)]
struct ScopeInner {
    trie: Trie,
    signals: Vec<Weak<dyn Erased>>,
}

impl ScopeTable {
    /// A new scope's (empty) table.
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }
}

/// A signal made for the testing scope entered on this thread: attaches
/// that scope's subscriptions that match it.
pub(crate) fn scoped_signal_made<T: Send + Sync + 'static>(signal: &Signal<T>) {
    let Some(table) = scope_table() else { return };
    let signal = signal.erased();
    let mut out = Vec::new();
    {
        let mut inner = table.inner.locked();
        inner.signals.push(Arc::downgrade(&signal.erased));
        let subs = inner.trie.matching(signal.name());
        // Attached under the table's lock, as subscribing does (exactly
        // once, by the module docs' argument).
        for sub in subs {
            sub.attach_to(&signal, &mut out);
        }
    }
    Announcements(out).run();
}

fn scope_table() -> Option<Arc<ScopeTable>> {
    observe::scope_patterns()?.downcast::<ScopeTable>().ok()
}

// ----- the handlers -----------------------------------------------------------

/// A one-shot subscription's latch, shared by all its attachments: the
/// first delivery anywhere wins and ends the subscription.
struct Gate {
    /// One atomic swap decides the winner; nothing is published through
    /// it, so `Relaxed`.
    fired: AtomicBool,
    sub: Weak<Sub>,
}

impl Gate {
    /// Runs `call` if this is the first delivery; ends the subscription.
    fn once(&self, call: impl FnOnce() -> Status) -> Status {
        if self.fired.swap(true, Ordering::Relaxed) {
            return SKIPPED | REMOVE;
        }
        let status = call();
        if let Some(sub) = self.sub.upgrade() {
            sub.kill(DisconnectReason::Once);
        }
        status | REMOVE
    }
}

/// The [`AnyEvent`] adapter attached to a `Signal<T>`: one pointer, so
/// an attachment stays small (W5); what only the payload type knows is
/// looked up through the registry when asked ([`RegistryView`]).
pub(crate) struct AnyHandler<T> {
    pub(crate) f: Arc<AnyFn>,
    pub(crate) _payload: PhantomData<fn(&T)>,
}

impl<T: Send + Sync + 'static> Handler<T> for AnyHandler<T> {
    const ENVELOPE: bool = true;
    #[inline]
    fn handle(&self, d: &Delivery<'_, T>) -> Status {
        // The dispatcher builds the envelope for envelope receivers.
        match d.event {
            Some(ev) => (self.f)(&AnyEvent::of(ev, &RegistryView::<T>(PhantomData)), d.failure),
            None => SKIPPED,
        }
    }
}

/// The [`PayloadView`] of pattern deliveries: finds the signal by the
/// event's name in the registry when a subscriber formats or serialises
/// (a read lock and a lookup, never on the emit path). A testing scope's
/// signal of an event type shares its name, and its formatter, with the
/// global one.
struct RegistryView<T>(PhantomData<fn(&T)>);

impl<T: Send + Sync + 'static> RegistryView<T> {
    /// The signal `name` as the emitting thread sees it: its testing
    /// scope's, if one is entered and has it, else the registered one.
    fn signal_of(name: &str) -> Option<SignalView<T>> {
        let scoped = scope_table().and_then(|table| {
            let inner = table.inner.locked();
            inner.signals.iter().filter_map(Weak::upgrade).find(|s| s.name() == name)
        });
        let signal = match scoped {
            Some(erased) => SignalRef { erased },
            None => super::lookup(name)?,
        };
        Some(signal.downcast::<T>()?.payload_view())
    }
}

impl<T: Send + Sync + 'static> PayloadView for RegistryView<T> {
    fn type_name(&self) -> &'static str {
        type_name::<T>()
    }
    fn has_debug(&self, name: &str) -> bool {
        Self::signal_of(name).is_some_and(|v| v.has_debug(name))
    }
    fn debug(
        &self,
        name: &str,
        payload: &dyn Any,
        f: &mut fmt::Formatter<'_>,
    ) -> Option<fmt::Result> {
        Self::signal_of(name)?.debug(name, payload, f)
    }
    #[cfg(feature = "serde")]
    fn json(
        &self,
        name: &str,
        payload: &dyn Any,
    ) -> Option<Result<serde_json::Value, serde_json::Error>> {
        Self::signal_of(name)?.json(name, payload)
    }
}

/// A typed subscription's receiver, shared by its attachments.
struct Shared<H> {
    handler: Arc<H>,
    gate: Option<Arc<Gate>>,
}

impl<T: 'static, H: Handler<T>> Handler<T> for Shared<H> {
    const ENVELOPE: bool = H::ENVELOPE;
    #[inline]
    fn handle(&self, d: &Delivery<'_, T>) -> Status {
        match &self.gate {
            None => self.handler.handle(d),
            Some(gate) => gate.once(|| self.handler.handle(d)),
        }
    }
}

/// Per-signal options: the subscription's, except `once`, which the
/// subscription's gate applies across all its signals.
fn per_signal(options: &ConnectOptions) -> ConnectOptions {
    ConnectOptions { once: false, key: None, ..options.clone() }
}

/// Makes the subscription (its attach function built by `make` from a
/// weak handle to it), lists it where the calling thread is (its testing
/// scope, else the registry) and attaches it.
fn start(pattern: Pattern, make: impl FnOnce(&Weak<Sub>) -> Box<Attach>) -> Connection {
    let home = match scope_table() {
        Some(table) => Home::Scope(Arc::downgrade(&table)),
        None => Home::Global,
    };
    let sub = build(pattern, home, make);
    let connection = Connection { signal: Arc::downgrade(&sub) as Weak<dyn Detach>, id: sub.id };
    Announcements(subscribe(sub)).run();
    connection
}

/// A subscription, not yet listed anywhere.
fn build(pattern: Pattern, home: Home, make: impl FnOnce(&Weak<Sub>) -> Box<Attach>) -> Arc<Sub> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    Arc::new_cyclic(|weak| Sub { id, pattern, attach: make(weak), home, state: Mutex::default() })
}

// ----- `#[receiver(pattern = ..)]` --------------------------------------------

/// What a `#[receiver(pattern = "..")]` function becomes: an
/// [`AnyEvent`] call, or a typed receiver attached to the matching
/// signals of its payload type. Made by the macro through
/// `__private::any_pattern` / `__private::typed_pattern`. Not a public
/// API.
pub struct PatternReceiver(Kind);

enum Kind {
    Any(Arc<AnyFn>),
    Typed(Box<TypedAttach>),
}

/// Attaches a typed pattern receiver to one signal if its payload type is
/// the receiver's.
type TypedAttach = dyn Fn(&SignalRef, ConnectOptions, &'static str) -> Option<(Connection, Option<ReceiverInfo>)>
    + Send
    + Sync;

impl PatternReceiver {
    /// `f` on every matching signal, as an [`AnyEvent`].
    pub(crate) fn any<R: ReceiverResult>(
        f: impl Fn(&AnyEvent<'_>) -> R + Send + Sync + 'static,
    ) -> Self {
        PatternReceiver(Kind::Any(Arc::new(any_call(f))))
    }

    /// `handler` on every matching signal of payload type `T`.
    pub(crate) fn typed<T: Send + Sync + 'static, H: Handler<T>>(handler: H) -> Self {
        let handler = Arc::new(handler);
        PatternReceiver(Kind::Typed(Box::new(move |signal, options, name| {
            attach_typed(signal, &handler, None, options, name)
        })))
    }
}

/// A `#[receiver(pattern = "...")]`, collected at link time and listed
/// when the registry starts (see `registry::pattern`).
#[doc(hidden)]
pub struct StaticPattern {
    /// The pattern, checked by the macro.
    pub pattern: &'static str,
    /// `module::path::fn_name`, or the `name = "..."` option.
    pub name: &'static str,
    /// The `priority = N` option.
    pub priority: i32,
    /// The `source = "..."` option.
    pub source: Option<&'static str>,
    /// Makes the function's receiver.
    pub receiver: fn() -> PatternReceiver,
}

inventory::collect!(StaticPattern);

/// The subscription of a `#[receiver(pattern = ..)]`, in `home`.
fn static_sub(receiver: &StaticPattern, home: Home) -> Option<Arc<Sub>> {
    // The macro checked the pattern with the same grammar; a pattern that
    // fails here (a macro and runtime of different versions) is skipped,
    // never a panic at start-up.
    let pattern = Pattern::new(receiver.pattern).ok()?;
    let name = receiver.name;
    let mut options = ConnectOptions::new().priority(receiver.priority).name(name);
    if let Some(source) = receiver.source {
        options = options.source(source);
    }
    let attach: Box<Attach> = match (receiver.receiver)().0 {
        Kind::Any(call) => Box::new(move |signal: &SignalRef| {
            Some(signal.erased.clone().attach_any(&call, options.clone(), name))
        }),
        Kind::Typed(attach) => {
            Box::new(move |signal: &SignalRef| attach(signal, options.clone(), name))
        }
    };
    Some(build(pattern, home, move |_| attach))
}

/// Every `#[receiver(pattern = ..)]` in the program, in the order
/// `#[receiver]`s are connected (priority descending, then name), so the
/// attach order among them does not depend on the linker.
fn static_receivers() -> Vec<&'static StaticPattern> {
    let mut all: Vec<_> = inventory::iter::<StaticPattern>().collect();
    all.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(b.name)));
    all
}

/// The registry's trie at initialisation: every static pattern receiver,
/// attached to the built-in `signals` it matches. Runs inside the
/// registry's initialiser, so it must not use the registry; the
/// attachments are not announced on `mesh.receiver.connected` (nothing
/// can have connected to it yet but these receivers themselves).
pub(crate) fn static_trie(signals: &std::collections::BTreeMap<&'static str, SignalRef>) -> Trie {
    let mut trie = Trie::default();
    let mut unannounced = Vec::new();
    for receiver in static_receivers() {
        let Some(sub) = static_sub(receiver, Home::Global) else { continue };
        for (name, signal) in signals {
            if admits(&sub.pattern, name) {
                sub.attach_to(signal, &mut unannounced);
            }
        }
        trie.insert(sub);
    }
    trie
}

/// A testing scope entered with its global receivers: lists every static
/// pattern receiver in it (it attaches to the scope's signals as they are
/// made).
pub(crate) fn scope_static_receivers(table: &Arc<ScopeTable>) {
    for receiver in static_receivers() {
        if let Some(sub) = static_sub(receiver, Home::Scope(Arc::downgrade(table))) {
            Announcements(subscribe(sub)).run();
        }
    }
}

/// An [`AnyEvent`] subscription calling `f` ([`report`]ing its result).
fn any_subscription_of<R: ReceiverResult>(
    pattern: Pattern,
    options: ConnectOptions,
    default_name: &'static str,
    f: impl Fn(&AnyEvent<'_>) -> R + Send + Sync + 'static,
) -> Connection {
    any_subscription(pattern, options, default_name, move |_| any_call(f))
}

/// `f` as a pattern subscriber's call: its result [`report`]ed, effects
/// performed with the event as their cause.
fn any_call<R: ReceiverResult>(
    f: impl Fn(&AnyEvent<'_>) -> R + Send + Sync + 'static,
) -> impl Fn(&AnyEvent<'_>, &Cell<Option<String>>) -> Status + Send + Sync + 'static {
    move |ev: &AnyEvent<'_>, cell: &Cell<Option<String>>| report(f(ev).finish(Some(ev)), cell)
}

/// An [`AnyEvent`] subscription whose call `make` builds from a weak
/// handle to the subscription (to end it from inside).
fn any_subscription<C>(
    pattern: Pattern,
    options: ConnectOptions,
    default_name: &'static str,
    make: impl FnOnce(Weak<Sub>) -> C,
) -> Connection
where
    C: Fn(&AnyEvent<'_>, &Cell<Option<String>>) -> Status + Send + Sync + 'static,
{
    let once = options.once;
    let options = per_signal(&options);
    start(pattern, move |weak| {
        let f = make(weak.clone());
        let call: Arc<AnyFn> = if once {
            let gate = Gate { fired: AtomicBool::new(false), sub: weak.clone() };
            Arc::new(move |ev: &AnyEvent<'_>, cell: &Cell<Option<String>>| {
                gate.once(|| f(ev, cell))
            })
        } else {
            Arc::new(f)
        };
        Box::new(move |signal: &SignalRef| {
            Some(signal.erased.clone().attach_any(&call, options.clone(), default_name))
        })
    })
}

// ----- the public face ------------------------------------------------------

/// Subscribes `f` to every named signal whose name matches `pattern`
/// (NATS subject syntax, see [`Pattern`]), whatever its payload type:
/// those registered now and those registered later. `f` gets each event
/// as an [`AnyEvent`].
///
/// The handle disconnects the subscription from every signal at once
/// (`.scoped()` for a guard). Each matched signal gets one more receiver:
/// it runs in the usual order (priority, then attach order), its failures
/// are isolated and reported like any receiver's, and a signal no pattern
/// matches pays nothing. Anonymous signals (`Signal::new()`) have no name
/// and are never matched. The built-in `mesh.*` signals are matched only
/// by patterns that start with `mesh.`.
///
/// # Errors
///
/// A [`PatternError`] if `pattern` is not a valid pattern.
///
/// ```
/// use mesh::{AnyEvent, Namespace};
/// use std::sync::{Arc, Mutex};
/// static SYSTEM: Namespace = Namespace::new("system");
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let sub = mesh::subscribe_pattern("system.*.connected", move |ev: &AnyEvent| {
///     log.lock().unwrap().push(format!("{} {}", ev.name(), ev.payload_debug()));
/// })
/// .unwrap();
///
/// // Signals made before and after the subscription both join it.
/// let db = SYSTEM.signal::<String>("db.connected").unwrap();
/// let cache = SYSTEM.signal::<u32>("cache.connected").unwrap();
/// db.debug_payloads();
/// db.emit("primary".to_string());
/// cache.emit(3);
/// SYSTEM.signal::<u8>("db.lost").unwrap().emit(1); // not matched
/// assert_eq!(*seen.lock().unwrap(), ["system.db.connected \"primary\"", "system.cache.connected <u32>"]);
/// sub.disconnect();
/// db.emit("again".to_string());
/// assert_eq!(seen.lock().unwrap().len(), 2);
/// ```
pub fn subscribe_pattern<R: ReceiverResult>(
    pattern: &str,
    f: impl Fn(&AnyEvent<'_>) -> R + Send + Sync + 'static,
) -> Result<Connection, PatternError> {
    subscribe_pattern_with(pattern, ConnectOptions::new(), f)
}

/// [`subscribe_pattern`] with [`ConnectOptions`]: priority (on every
/// matched signal), source filter, name, and `once` — at most one event
/// across all matched signals, then the subscription ends. (`key` does not
/// apply: a subscription attaches to each signal once by construction.)
///
/// # Errors
///
/// A [`PatternError`] if `pattern` is not a valid pattern.
///
/// ```
/// use mesh::{AnyEvent, ConnectOptions, Namespace};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// static APP: Namespace = Namespace::new("app-once");
/// static HITS: AtomicU32 = AtomicU32::new(0);
///
/// let (a, b) = (APP.signal::<u8>("a").unwrap(), APP.signal::<i64>("b").unwrap());
/// let sub = mesh::subscribe_pattern_with("app-once.>", ConnectOptions::new().once(), |_: &AnyEvent| {
///     HITS.fetch_add(1, Ordering::Relaxed);
/// })
/// .unwrap();
/// b.emit(1);
/// a.emit(2);
/// assert_eq!(HITS.load(Ordering::Relaxed), 1);
/// assert!(!sub.is_connected());
/// assert_eq!(a.receiver_count() + b.receiver_count(), 0);
/// ```
pub fn subscribe_pattern_with<R: ReceiverResult>(
    pattern: &str,
    options: ConnectOptions,
    f: impl Fn(&AnyEvent<'_>) -> R + Send + Sync + 'static,
) -> Result<Connection, PatternError> {
    let pattern = Pattern::new(pattern)?;
    Ok(any_subscription_of(pattern, options, type_name_of(&f), f))
}

/// [`subscribe_pattern`] for a method of an `Arc`-held object, without
/// keeping it alive: `f(&object, &AnyEvent)`. The first delivery after the
/// object is dropped ends the subscription (on every signal).
///
/// # Errors
///
/// A [`PatternError`] if `pattern` is not a valid pattern.
///
/// ```
/// use mesh::{AnyEvent, Namespace};
/// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
/// static APP: Namespace = Namespace::new("app-weak");
/// struct Audit(AtomicU32);
///
/// let audit = Arc::new(Audit(AtomicU32::new(0)));
/// let sub = mesh::subscribe_pattern_weak("app-weak.*", &audit, |a: &Audit, _: &AnyEvent| {
///     a.0.fetch_add(1, Ordering::Relaxed);
/// })
/// .unwrap();
/// let s = APP.signal::<u8>("x").unwrap();
/// s.emit(1);
/// assert_eq!(audit.0.load(Ordering::Relaxed), 1);
/// drop(audit);
/// s.emit(2);
/// assert!(!sub.is_connected());
/// ```
pub fn subscribe_pattern_weak<S: Send + Sync + 'static, R: ReceiverResult>(
    pattern: &str,
    target: &Arc<S>,
    f: impl Fn(&S, &AnyEvent<'_>) -> R + Send + Sync + 'static,
) -> Result<Connection, PatternError> {
    let pattern = Pattern::new(pattern)?;
    let name = type_name_of(&f);
    let target = Arc::downgrade(target);
    Ok(any_subscription(pattern, ConnectOptions::new(), name, move |me| {
        move |ev: &AnyEvent<'_>, cell: &Cell<Option<String>>| match target.upgrade() {
            Some(target) => report(f(&target, ev).finish(Some(ev)), cell),
            None => {
                if let Some(sub) = me.upgrade() {
                    sub.kill(DisconnectReason::Expired);
                }
                SKIPPED | REMOVE
            }
        }
    }))
}

/// [`subscribe_pattern`] for signals whose payload is `T` only: `f` is an
/// ordinary receiver (`&T` or `&Event<T>`), attached to every matching
/// signal of payload type `T`, at the cost of a typed receiver. A closure
/// taking `&Event<T>` does not say on its own whether the payload is `T`
/// or `Event<T>`: name it, `subscribe_pattern_typed::<T, _, _>(..)`.
///
/// # Errors
///
/// A [`PatternError`] if `pattern` is not a valid pattern.
///
/// ```
/// use mesh::Namespace;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// static ALARMS: Namespace = Namespace::new("alarms");
/// static TOTAL: AtomicU32 = AtomicU32::new(0);
///
/// mesh::subscribe_pattern_typed("alarms.>", |level: &u32| {
///     TOTAL.fetch_add(*level, Ordering::Relaxed);
/// })
/// .unwrap();
/// ALARMS.signal::<u32>("disk").unwrap().emit(2);
/// ALARMS.signal::<u32>("net.down").unwrap().emit(3);
/// ALARMS.signal::<String>("note").unwrap().emit("not a u32".into()); // not attached
/// assert_eq!(TOTAL.load(Ordering::Relaxed), 5);
/// ```
pub fn subscribe_pattern_typed<T, M, F>(pattern: &str, f: F) -> Result<Connection, PatternError>
where
    T: Send + Sync + 'static,
    F: IntoReceiver<T, M>,
{
    subscribe_pattern_typed_with(pattern, ConnectOptions::new(), f)
}

/// [`subscribe_pattern_typed`] with options (as for
/// [`subscribe_pattern_with`]).
///
/// # Errors
///
/// A [`PatternError`] if `pattern` is not a valid pattern.
pub fn subscribe_pattern_typed_with<T, M, F>(
    pattern: &str,
    options: ConnectOptions,
    f: F,
) -> Result<Connection, PatternError>
where
    T: Send + Sync + 'static,
    F: IntoReceiver<T, M>,
{
    let pattern = Pattern::new(pattern)?;
    Ok(typed_subscription::<T, F::Handler>(pattern, options, type_name::<F>(), f.into_handler()))
}

fn typed_subscription<T: Send + Sync + 'static, H: Handler<T>>(
    pattern: Pattern,
    options: ConnectOptions,
    default_name: &'static str,
    handler: H,
) -> Connection {
    let once = options.once;
    let options = per_signal(&options);
    let handler = Arc::new(handler);
    start(pattern, move |weak| {
        let gate =
            once.then(|| Arc::new(Gate { fired: AtomicBool::new(false), sub: weak.clone() }));
        Box::new(move |signal: &SignalRef| {
            attach_typed(signal, &handler, gate.clone(), options.clone(), default_name)
        })
    })
}

/// Attaches a typed subscription's shared `handler` to `signal` if its
/// payload type is `T`, quietly (the caller announces it).
fn attach_typed<T: Send + Sync + 'static, H: Handler<T>>(
    signal: &SignalRef,
    handler: &Arc<H>,
    gate: Option<Arc<Gate>>,
    options: ConnectOptions,
    name: &'static str,
) -> Option<(Connection, Option<ReceiverInfo>)> {
    let signal = signal.downcast::<T>()?;
    Some(signal.connect_handler(Shared { handler: handler.clone(), gate }, options, name, false))
}

fn type_name_of<F>(_: &F) -> &'static str {
    type_name::<F>()
}

/// Pattern subscriptions relative to a namespace.
impl Namespace {
    /// [`subscribe_pattern`] with `pattern` relative to this namespace:
    /// `SYSTEM.subscribe("provider.>", f)` subscribes to
    /// `system.provider.>`.
    ///
    /// # Errors
    ///
    /// A [`PatternError`] if `pattern` is not a valid pattern (offsets
    /// into the full pattern).
    ///
    /// ```
    /// use mesh::{AnyEvent, Namespace};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// static SYSTEM: Namespace = Namespace::new("system-rel");
    /// static SEEN: AtomicU32 = AtomicU32::new(0);
    ///
    /// SYSTEM.subscribe("provider.>", |_: &AnyEvent| { SEEN.fetch_add(1, Ordering::Relaxed); }).unwrap();
    /// SYSTEM.signal::<u8>("provider.up").unwrap().emit(1);
    /// SYSTEM.signal::<u8>("other").unwrap().emit(1);
    /// assert_eq!(SEEN.load(Ordering::Relaxed), 1);
    /// ```
    pub fn subscribe<R: ReceiverResult>(
        &'static self,
        pattern: &str,
        f: impl Fn(&AnyEvent<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Connection, PatternError> {
        self.subscribe_with(pattern, ConnectOptions::new(), f)
    }

    /// [`subscribe`](Self::subscribe) with options.
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](Self::subscribe).
    pub fn subscribe_with<R: ReceiverResult>(
        &'static self,
        pattern: &str,
        options: ConnectOptions,
        f: impl Fn(&AnyEvent<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Connection, PatternError> {
        let pattern = relative(self.name(), pattern)?;
        Ok(any_subscription_of(pattern, options, type_name_of(&f), f))
    }

    /// [`subscribe_pattern_typed`] relative to this namespace.
    ///
    /// # Errors
    ///
    /// As for [`subscribe`](Self::subscribe).
    pub fn subscribe_typed<T, M, F>(
        &'static self,
        pattern: &str,
        f: F,
    ) -> Result<Connection, PatternError>
    where
        T: Send + Sync + 'static,
        F: IntoReceiver<T, M>,
    {
        let pattern = relative(self.name(), pattern)?;
        Ok(typed_subscription::<T, F::Handler>(
            pattern,
            ConnectOptions::new(),
            type_name::<F>(),
            f.into_handler(),
        ))
    }
}

/// `<namespace>.<pattern>`, parsed (error offsets into the whole).
pub(crate) fn relative(namespace: &str, pattern: &str) -> Result<Pattern, PatternError> {
    let full = crate::name::join(namespace, pattern);
    match crate::name::validate_pattern(pattern) {
        Ok(()) => Pattern::new(&full),
        Err(error) => Err(error.shifted(full.len() - pattern.len())),
    }
}

/// The pattern subscriptions a signal's receivers belong to, for tests
/// and introspection: how many signals `connection` (from
/// [`subscribe_pattern`] and friends) is attached to now; `None` if it is
/// not a pattern subscription.
///
/// ```
/// use mesh::{AnyEvent, Namespace};
/// static APP: Namespace = Namespace::new("app-count");
/// APP.signal::<u8>("a").unwrap();
/// APP.signal::<u16>("b").unwrap();
/// let sub = mesh::subscribe_pattern("app-count.*", |_: &AnyEvent| {}).unwrap();
/// assert_eq!(mesh::registry::pattern_attachments(&sub), Some(2));
/// ```
pub fn pattern_attachments(connection: &Connection) -> Option<usize> {
    connection.signal.upgrade()?.pattern_attachments()
}
