//! What is connected to what: a snapshot of the mesh, and pictures of it.
//!
//! [`topology`] reads every registered signal — its configuration, its
//! counters, its receivers in dispatch order, each with its kind (plain,
//! weak, one-shot, queued with its policy and counters, or attached by a
//! pattern subscription) — into a plain value, [`Topology`].
//! [`Topology::to_mermaid`] and [`Topology::to_dot`] draw it.
//!
//! # Design
//!
//! Reading is a walk over the registry's signals, loading each one's
//! receiver snapshot (the same lock-free load an emit makes) and its
//! queues' counters; pattern attachments are matched from the pattern
//! subscriptions' own records, so the emit path carries nothing for
//! introspection. Reading never changes state and never runs user code.
//! A snapshot is a consistent view of each signal, not of the whole mesh
//! at one instant: two snapshots taken apart give rates (counters only
//! grow).
//!
//! ```
//! use mesh::{Namespace, introspect};
//! static SHOP: Namespace = Namespace::new("doc-shop");
//! let placed = SHOP.signal::<u32>("order.placed").unwrap();
//! let _c = placed.connect_with(mesh::ConnectOptions::new().name("billing"), |_: &u32| {});
//!
//! let topology = introspect::topology().under("doc-shop");
//! let node = topology.signal("doc-shop.order.placed").unwrap();
//! assert_eq!(node.payload_type, "u32");
//! assert_eq!(node.receivers[0].name, "billing");
//! assert!(topology.to_mermaid().contains("billing"));
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::delivery::{Overflow, QueueReport, QueueStats};
use crate::registry;

/// Everything registered, by signal name.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Topology {
    /// The signals, sorted by name (the built-in `mesh.*` ones included).
    pub signals: Vec<SignalNode>,
}

/// One signal.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SignalNode {
    /// Its full name.
    pub name: &'static str,
    /// Its id (unique in the process).
    pub id: u64,
    /// Its payload type.
    pub payload_type: &'static str,
    /// Whether dispatch is serialised.
    pub ordered: bool,
    /// How many envelopes its history keeps (0: none).
    pub history_capacity: usize,
    /// How many it holds now.
    pub history_len: usize,
    /// Whether it is muted.
    pub muted: bool,
    /// Receiver failures since it was made.
    pub failures: u64,
    /// Installed middleware.
    pub middleware: usize,
    /// Emits counted while counting was on ([`set_stats`]); 0 if never.
    /// `emit`, `emit_from` and `Publisher::emit` calls that find no
    /// receiver and nothing else to do return before counting (one load,
    /// as with counting off); `emit_event`, `try_emit`, `emit_async` and
    /// `emit_and_wait` are counted either way.
    pub emits: u64,
    /// Its receivers, in dispatch order.
    pub receivers: Vec<ReceiverNode>,
}

/// One receiver of one signal.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReceiverNode {
    /// Its id, unique within its signal.
    pub id: u64,
    /// Its name.
    pub name: Cow<'static, str>,
    /// Its priority.
    pub priority: i32,
    /// The sources it accepts (empty: any).
    pub sources: Vec<Cow<'static, str>>,
    /// What kind of receiver it is.
    pub kind: ReceiverKind,
}

/// How a receiver is connected.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReceiverKind {
    /// Called in the emit.
    Plain,
    /// Called in the emit while its object lives.
    Weak,
    /// Called for one event, then removed.
    Once,
    /// A queue between the emit and its consumer (an async receiver or a
    /// stream subscription), with its policy and counters.
    Queued {
        /// What a full queue does.
        overflow: Overflow,
        /// Its counters now.
        stats: QueueStats,
    },
    /// Attached by a pattern subscription.
    Pattern {
        /// The subscription's pattern.
        pattern: String,
    },
}

/// Turns per-signal emit counting on or off, for every signal — registered
/// or anonymous, made before or after ([`SignalNode::emits`]; anonymous
/// signals are not in the [`topology`], but count, and stop counting,
/// with the others). Off by default. Off,
/// the check shares the branch that already sends muted, ordered or
/// recorded emits elsewhere (no load is added); on, a counted emit adds
/// a store to a cache line of its thread's own, ~2 ns, and two threads
/// emitting at once do not contend (see BENCHMARKS.md, "Introspection").
///
/// ```
/// use mesh::{Namespace, introspect};
/// static APP: Namespace = Namespace::new("doc-stats");
/// let s = APP.signal::<u8>("tick").unwrap();
/// let _r = s.connect(|_: &u8| {});
/// introspect::set_stats(true);
/// s.emit(1);
/// s.emit(2);
/// introspect::set_stats(false);
/// s.emit(3);
/// let t = introspect::topology();
/// assert_eq!(t.signal("doc-stats.tick").unwrap().emits, 2);
/// ```
pub fn set_stats(on: bool) {
    crate::observe::set_counting(on);
}

/// Whether [`set_stats`] turned counting on.
pub fn stats_enabled() -> bool {
    crate::observe::counting()
}

/// A snapshot of every registered signal and its receivers.
pub fn topology() -> Topology {
    let patterns = registry::pattern_receivers();
    let signals = registry::signals()
        .into_iter()
        .map(|signal| {
            let facts = signal.facts();
            let addr = signal.addr();
            let receivers = facts
                .receivers
                .into_iter()
                .map(|(info, report)| {
                    let report = report.and_then(|r| r.downcast::<QueueReport>().ok());
                    let kind = if let Some(p) = patterns.get(&(addr, info.id)) {
                        ReceiverKind::Pattern { pattern: p.as_str().to_owned() }
                    } else if let Some(r) = report {
                        ReceiverKind::Queued { overflow: r.overflow, stats: r.stats }
                    } else if info.weak {
                        ReceiverKind::Weak
                    } else if info.once {
                        ReceiverKind::Once
                    } else {
                        ReceiverKind::Plain
                    };
                    ReceiverNode {
                        id: info.id,
                        name: info.name,
                        priority: info.priority,
                        sources: info.sources,
                        kind,
                    }
                })
                .collect();
            SignalNode {
                name: signal.name(),
                id: signal.id(),
                payload_type: signal.type_name(),
                ordered: facts.ordered,
                history_capacity: facts.history_capacity,
                history_len: facts.history_len,
                muted: facts.muted,
                failures: facts.failures,
                middleware: facts.middleware,
                emits: facts.emits,
                receivers,
            }
        })
        .collect();
    Topology { signals }
}

impl Topology {
    /// The signals named `prefix` or under it (`prefix.…`).
    pub fn under(mut self, prefix: &str) -> Topology {
        self.signals.retain(|s| {
            s.name == prefix
                || (s.name.starts_with(prefix)
                    && s.name.as_bytes().get(prefix.len()) == Some(&b'.'))
        });
        self
    }

    /// Without the built-in `mesh.*` signals.
    pub fn without_meta(mut self) -> Topology {
        self.signals.retain(|s| !s.name.starts_with("mesh."));
        self
    }

    /// The signal named `name`.
    pub fn signal(&self, name: &str) -> Option<&SignalNode> {
        self.signals.iter().find(|s| s.name == name)
    }

    /// The groups the picture draws: each signal's name without its last
    /// segment (`""` for a signal at the root), in order.
    fn groups(&self) -> Vec<(&'static str, Vec<usize>)> {
        let mut groups: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (i, s) in self.signals.iter().enumerate() {
            let group = s.name.rfind('.').map_or("", |at| &s.name[..at]);
            match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, members)) => members.push(i),
                None => groups.push((group, vec![i])),
            }
        }
        groups
    }

    /// The pattern subscriptions drawn once each: (pattern, receiver
    /// name) in order of first appearance.
    fn pattern_nodes(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for s in &self.signals {
            for r in &s.receivers {
                if let ReceiverKind::Pattern { pattern } = &r.kind {
                    let key = (pattern.as_str(), r.name.as_ref());
                    if !out.contains(&key) {
                        out.push(key);
                    }
                }
            }
        }
        out
    }

    /// The topology as a Mermaid flowchart: signals grouped by namespace
    /// (stadium shapes), receivers (boxes; queued ones as subroutines,
    /// with a dotted edge labelled `len/capacity · lag n`), pattern
    /// subscriptions (hexagons, one per subscription, thick edges from
    /// every signal they are attached to). Ids are generated (`s0`, `r0_1`,
    /// `p0`); labels are escaped.
    ///
    /// ```
    /// let text = mesh::introspect::topology().without_meta().to_mermaid();
    /// assert!(text.starts_with("flowchart LR\n"));
    /// ```
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for (g, (group, members)) in self.groups().into_iter().enumerate() {
            let indent = if group.is_empty() { "  " } else { "    " };
            if !group.is_empty() {
                let _ = writeln!(out, "  subgraph g{g}[\"{}\"]", mermaid(group));
            }
            for i in members {
                let s = &self.signals[i];
                let _ = writeln!(
                    out,
                    "{indent}s{i}([\"{}<br/><i>{}</i>{}\"])",
                    mermaid(s.name),
                    mermaid(s.payload_type),
                    mermaid(&signal_notes(s)),
                );
            }
            if !group.is_empty() {
                out.push_str("  end\n");
            }
        }
        let patterns = self.pattern_nodes();
        for (k, (pattern, name)) in patterns.iter().enumerate() {
            let _ = writeln!(out, "  p{k}{{{{\"{}<br/>{}\"}}}}", mermaid(pattern), mermaid(name));
        }
        for (i, s) in self.signals.iter().enumerate() {
            for (j, r) in s.receivers.iter().enumerate() {
                match &r.kind {
                    ReceiverKind::Pattern { pattern } => {
                        let k = pattern_index(&patterns, pattern, &r.name);
                        let _ = writeln!(out, "  s{i} ==> p{k}");
                    }
                    ReceiverKind::Queued { stats, .. } => {
                        let _ = writeln!(out, "  r{i}_{j}[[\"{}\"]]", mermaid(&receiver_label(r)));
                        let _ = writeln!(
                            out,
                            "  s{i} -. \"{}\" .-> r{i}_{j}",
                            mermaid(&queue_label(stats))
                        );
                    }
                    _ => {
                        let _ = writeln!(out, "  r{i}_{j}[\"{}\"]", mermaid(&receiver_label(r)));
                        let _ = writeln!(out, "  s{i} --> r{i}_{j}");
                    }
                }
            }
        }
        out
    }

    /// The topology as a Graphviz DOT digraph, drawn as
    /// [`to_mermaid`](Self::to_mermaid) draws it (clusters per namespace;
    /// queued edges dashed and labelled; pattern edges bold to hexagons).
    ///
    /// ```
    /// let text = mesh::introspect::topology().without_meta().to_dot();
    /// assert!(text.starts_with("digraph mesh {\n"));
    /// ```
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph mesh {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n  \
             edge [fontname=\"Helvetica\", fontsize=9];\n",
        );
        for (g, (group, members)) in self.groups().into_iter().enumerate() {
            let indent = if group.is_empty() { "  " } else { "    " };
            if !group.is_empty() {
                let _ = writeln!(out, "  subgraph cluster_{g} {{\n    label=\"{}\";", dot(group));
            }
            for i in members {
                let s = &self.signals[i];
                let _ = writeln!(
                    out,
                    "{indent}s{i} [label=\"{}\\n{}{}\", shape=box, style=rounded];",
                    dot(s.name),
                    dot(s.payload_type),
                    dot(&signal_notes(s)),
                );
            }
            if !group.is_empty() {
                out.push_str("  }\n");
            }
        }
        let patterns = self.pattern_nodes();
        for (k, (pattern, name)) in patterns.iter().enumerate() {
            let _ = writeln!(
                out,
                "  p{k} [label=\"{}\\n{}\", shape=hexagon];",
                dot(pattern),
                dot(name)
            );
        }
        for (i, s) in self.signals.iter().enumerate() {
            for (j, r) in s.receivers.iter().enumerate() {
                match &r.kind {
                    ReceiverKind::Pattern { pattern } => {
                        let k = pattern_index(&patterns, pattern, &r.name);
                        let _ = writeln!(out, "  s{i} -> p{k} [style=bold];");
                    }
                    ReceiverKind::Queued { stats, .. } => {
                        let _ = writeln!(
                            out,
                            "  r{i}_{j} [label=\"{}\", shape=box, peripheries=2];\n  s{i} -> r{i}_{j} [style=dashed, label=\"{}\"];",
                            dot(&receiver_label(r)),
                            dot(&queue_label(stats)),
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            out,
                            "  r{i}_{j} [label=\"{}\", shape=box];\n  s{i} -> r{i}_{j};",
                            dot(&receiver_label(r)),
                        );
                    }
                }
            }
        }
        out.push_str("}\n");
        out
    }
}

/// Reads a [`topology`] and publishes it through the `metrics` facade
/// (feature `metrics`): call it on the schedule your exporter scrapes at.
/// Pull, not push: nothing is recorded on the emit path, and no metric
/// handle is looked up per emit.
///
/// Per signal (label `signal`): counters `mesh_emits_total` (while
/// counting is on, see [`set_stats`]) and `mesh_receiver_failures_total`;
/// gauges `mesh_receivers` and `mesh_history_events`. Per queued receiver
/// (labels `signal`, `receiver`): gauges `mesh_queue_length`,
/// `mesh_queue_capacity`, `mesh_queue_lag`, `mesh_queue_high_water`;
/// counters `mesh_queue_offered_total`, `mesh_queue_processed_total`,
/// `mesh_queue_dropped_total`, `mesh_queue_rejected_total`.
#[cfg(feature = "metrics")]
pub fn record_metrics() {
    topology().record_metrics();
}

#[cfg(feature = "metrics")]
impl Topology {
    /// Publishes this snapshot through the `metrics` facade (see
    /// [`record_metrics`]).
    pub fn record_metrics(&self) {
        for s in &self.signals {
            let signal = s.name;
            if s.emits > 0 || stats_enabled() {
                metrics::counter!("mesh_emits_total", "signal" => signal).absolute(s.emits);
            }
            metrics::counter!("mesh_receiver_failures_total", "signal" => signal)
                .absolute(s.failures);
            metrics::gauge!("mesh_receivers", "signal" => signal).set(s.receivers.len() as f64);
            metrics::gauge!("mesh_history_events", "signal" => signal).set(s.history_len as f64);
            for r in &s.receivers {
                let ReceiverKind::Queued { stats, .. } = &r.kind else { continue };
                let labels = [("signal", signal.to_owned()), ("receiver", r.name.to_string())];
                metrics::gauge!("mesh_queue_length", &labels).set(stats.len as f64);
                metrics::gauge!("mesh_queue_capacity", &labels).set(stats.capacity as f64);
                metrics::gauge!("mesh_queue_lag", &labels).set(stats.lag() as f64);
                metrics::gauge!("mesh_queue_high_water", &labels).set(stats.high_water as f64);
                metrics::counter!("mesh_queue_offered_total", &labels).absolute(stats.offered);
                metrics::counter!("mesh_queue_processed_total", &labels).absolute(stats.processed);
                metrics::counter!("mesh_queue_dropped_total", &labels).absolute(stats.dropped);
                metrics::counter!("mesh_queue_rejected_total", &labels).absolute(stats.rejected);
            }
        }
    }
}

fn pattern_index(patterns: &[(&str, &str)], pattern: &str, name: &str) -> usize {
    patterns.iter().position(|&(p, n)| p == pattern && n == name).unwrap_or(0)
}

/// What a signal's picture notes besides its name and type.
fn signal_notes(s: &SignalNode) -> String {
    let mut notes = Vec::new();
    if s.ordered {
        notes.push("ordered".to_owned());
    }
    if s.history_capacity > 0 {
        notes.push(format!("history {}/{}", s.history_len, s.history_capacity));
    }
    if s.middleware > 0 {
        notes.push(format!("{} middleware", s.middleware));
    }
    if s.muted {
        notes.push("muted".to_owned());
    }
    if s.failures > 0 {
        notes.push(format!("{} failed", s.failures));
    }
    if notes.is_empty() { String::new() } else { format!("\n{}", notes.join(" · ")) }
}

/// A receiver's label: its name, and what sets it apart.
fn receiver_label(r: &ReceiverNode) -> String {
    let mut label = r.name.to_string();
    let mut notes = Vec::new();
    if r.priority != 0 {
        notes.push(format!("priority {}", r.priority));
    }
    match &r.kind {
        ReceiverKind::Weak => notes.push("weak".to_owned()),
        ReceiverKind::Once => notes.push("once".to_owned()),
        ReceiverKind::Queued { overflow, .. } => notes.push(format!("{overflow:?}")),
        _ => {}
    }
    if !r.sources.is_empty() {
        notes.push(format!("from {}", r.sources.join(", ")));
    }
    if !notes.is_empty() {
        let _ = write!(label, "\n{}", notes.join(" · "));
    }
    label
}

/// `37/256 · lag 12`, and losses if any.
fn queue_label(q: &QueueStats) -> String {
    let mut label = format!("{}/{} · lag {}", q.len, q.capacity, q.lag());
    if q.dropped > 0 {
        let _ = write!(label, " · dropped {}", q.dropped);
    }
    if q.rejected > 0 {
        let _ = write!(label, " · rejected {}", q.rejected);
    }
    label
}

/// `text` inside a double-quoted Mermaid label: quotes and angle brackets
/// as entity codes, line breaks as `<br/>`.
fn mermaid(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '\n' => out.push_str("<br/>"),
            c => out.push(c),
        }
    }
    out
}

/// `text` inside a double-quoted DOT string: backslashes and quotes
/// escaped, line breaks as `\n`.
fn dot(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signal;

    /// The tests that turn counting on or off: one at a time (counting is
    /// process-wide).
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Holds [`SERIAL`] and puts counting back as it found it when
    /// dropped, a failed assertion included.
    struct Stats {
        was: bool,
        _one: std::sync::MutexGuard<'static, ()>,
    }

    impl Stats {
        fn lock() -> Stats {
            let one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
            Stats { was: stats_enabled(), _one: one }
        }
    }

    impl Drop for Stats {
        fn drop(&mut self) {
            set_stats(self.was);
        }
    }

    /// Issue 13: `set_stats(false)` reached only registered signals, so an
    /// anonymous signal made while counting was on kept counting (its
    /// emits took the counting path) after counting was turned off, and a
    /// publisher made while it was on went on counting too.
    #[test]
    fn stats_off_reaches_anonymous_signals_made_while_on() {
        let _stats = Stats::lock();
        set_stats(true);
        let signal = Signal::<u8>::new();
        let _c = signal.connect(|_: &u8| {});
        let mut publisher = signal.publisher();
        signal.emit(1);
        publisher.emit(2);
        assert_eq!(signal.core().emit_count(), 2, "counted while on");

        set_stats(false);
        signal.emit(3);
        publisher.emit(4);
        assert_eq!(signal.core().emit_count(), 2, "nothing counted once off");
        assert!(!signal.core().counting(), "the signal's STATS bit is cleared");
    }

    /// The reverse: an anonymous signal made while counting was off starts
    /// counting when it is turned on, as do its publishers.
    #[test]
    fn stats_on_reaches_anonymous_signals_made_while_off() {
        let _stats = Stats::lock();
        set_stats(false);
        let signal = Signal::<u8>::new();
        let _c = signal.connect(|_: &u8| {});
        let mut publisher = signal.publisher();
        signal.emit(1);
        publisher.emit(2);
        assert_eq!(signal.core().emit_count(), 0, "nothing counted while off");

        set_stats(true);
        signal.emit(3);
        publisher.emit(4);
        assert_eq!(signal.core().emit_count(), 2, "counted once on");
        assert!(signal.core().counting(), "the signal's STATS bit is set");
    }

    fn receiver(id: u64, name: &'static str, kind: ReceiverKind) -> ReceiverNode {
        ReceiverNode { id, name: Cow::Borrowed(name), priority: 0, sources: Vec::new(), kind }
    }

    fn signal(
        name: &'static str,
        payload: &'static str,
        receivers: Vec<ReceiverNode>,
    ) -> SignalNode {
        SignalNode {
            name,
            id: 0,
            payload_type: payload,
            ordered: false,
            history_capacity: 0,
            history_len: 0,
            muted: false,
            failures: 0,
            middleware: 0,
            emits: 0,
            receivers,
        }
    }

    /// A small topology with every kind of receiver and names that need
    /// escaping.
    fn sample() -> Topology {
        let stats = QueueStats {
            len: 37,
            capacity: 256,
            in_flight: 12,
            dropped: 2,
            ..QueueStats::default()
        };
        let mut connected = signal(
            "shop.provider.connected",
            "app::Connected<\"db\">",
            vec![
                ReceiverNode { priority: 10, ..receiver(1, "announce", ReceiverKind::Plain) },
                receiver(2, "dash\\board", ReceiverKind::Weak),
                receiver(
                    3,
                    "audit",
                    ReceiverKind::Queued { overflow: Overflow::DropOldest, stats },
                ),
                receiver(4, "watch", ReceiverKind::Pattern { pattern: "shop.*.connected".into() }),
            ],
        );
        connected.history_capacity = 16;
        connected.history_len = 3;
        let lost = signal(
            "shop.provider.lost",
            "u32",
            vec![ReceiverNode {
                sources: vec![Cow::Borrowed("db")],
                ..receiver(1, "first #1", ReceiverKind::Once)
            }],
        );
        let other = signal(
            "shop.cache.connected",
            "u8",
            vec![receiver(
                1,
                "watch",
                ReceiverKind::Pattern { pattern: "shop.*.connected".into() },
            )],
        );
        let root = signal("tick", "()", Vec::new());
        Topology { signals: vec![other, connected, lost, root] }
    }

    #[test]
    fn mermaid_golden() {
        let expected = r#"flowchart LR
  subgraph g0["shop.cache"]
    s0(["shop.cache.connected<br/><i>u8</i>"])
  end
  subgraph g1["shop.provider"]
    s1(["shop.provider.connected<br/><i>app::Connected#lt;#quot;db#quot;#gt;</i><br/>history 3/16"])
    s2(["shop.provider.lost<br/><i>u32</i>"])
  end
  s3(["tick<br/><i>()</i>"])
  p0{{"shop.*.connected<br/>watch"}}
  s0 ==> p0
  r1_0["announce<br/>priority 10"]
  s1 --> r1_0
  r1_1["dash\board<br/>weak"]
  s1 --> r1_1
  r1_2[["audit<br/>DropOldest"]]
  s1 -. "37/256 · lag 49 · dropped 2" .-> r1_2
  s1 ==> p0
  r2_0["first #35;1<br/>once · from db"]
  s2 --> r2_0
"#;
        assert_eq!(sample().to_mermaid(), expected);
    }

    #[test]
    fn dot_golden() {
        let expected = r#"digraph mesh {
  rankdir=LR;
  node [fontname="Helvetica", fontsize=10];
  edge [fontname="Helvetica", fontsize=9];
  subgraph cluster_0 {
    label="shop.cache";
    s0 [label="shop.cache.connected\nu8", shape=box, style=rounded];
  }
  subgraph cluster_1 {
    label="shop.provider";
    s1 [label="shop.provider.connected\napp::Connected<\"db\">\nhistory 3/16", shape=box, style=rounded];
    s2 [label="shop.provider.lost\nu32", shape=box, style=rounded];
  }
  s3 [label="tick\n()", shape=box, style=rounded];
  p0 [label="shop.*.connected\nwatch", shape=hexagon];
  s0 -> p0 [style=bold];
  r1_0 [label="announce\npriority 10", shape=box];
  s1 -> r1_0;
  r1_1 [label="dash\\board\nweak", shape=box];
  s1 -> r1_1;
  r1_2 [label="audit\nDropOldest", shape=box, peripheries=2];
  s1 -> r1_2 [style=dashed, label="37/256 · lag 49 · dropped 2"];
  s1 -> p0 [style=bold];
  r2_0 [label="first #1\nonce · from db", shape=box];
  s2 -> r2_0;
}
"#;
        let text = sample().to_dot();
        assert_eq!(text, expected);
        check_dot_syntax(&text);
    }

    /// A small check of what `dot` would reject: balanced braces outside
    /// strings, strings closed, every statement line ending in `;`, `{`
    /// or `}`.
    pub(crate) fn check_dot_syntax(text: &str) {
        let mut depth = 0i32;
        let mut in_string = false;
        let mut escaped = false;
        for c in text.chars() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    (false, '\n') => panic!("a line break inside a string"),
                    _ => {}
                }
                continue;
            }
            match c {
                '"' => in_string = true,
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0, "a `}}` closes nothing");
        }
        assert!(!in_string, "an unclosed string");
        assert_eq!(depth, 0, "unbalanced braces");
        for line in text.lines().skip(1) {
            let line = line.trim_end();
            assert!(
                line.ends_with(';') || line.ends_with('{') || line.ends_with('}'),
                "statement not terminated: {line}"
            );
        }
    }
}
