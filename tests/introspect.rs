//! `mesh::introspect` (issue 13): the snapshot of a live mesh — kinds,
//! counters, pattern attachments — and its pictures.

use std::sync::Arc;

use mesh::delivery::{Overflow, Queue};
use mesh::introspect::{self, ReceiverKind};
use mesh::prelude::*;
use mesh::{AnyEvent, ConnectOptions};

#[test]
fn the_snapshot_shows_every_kind_of_receiver_with_its_counters() {
    static NS: Namespace = Namespace::new("intro");
    let placed = NS.signal_with::<u32>("order.placed", SignalConfig::new().history(8)).unwrap();
    let lost = NS.signal::<String>("order.lost").unwrap();
    let named = |n: &'static str| ConnectOptions::new().name(n);
    let _plain = placed.connect_with(named("billing").priority(5), |_: &u32| {});
    struct Dashboard;
    let dash = Arc::new(Dashboard);
    let _weak = placed.connect_weak_with(named("dashboard"), &dash, |_: &Dashboard, _: &u32| {});
    let _once = lost.connect_with(named("first-loss").once().source("db"), |_: &String| {});
    let mut stream =
        placed.subscribe(Queue::bounded(4).overflow(Overflow::DropOldest).options(named("audit")));
    let _watch =
        mesh::subscribe_pattern_with("intro.order.*", named("watch"), |_: &AnyEvent| {}).unwrap();
    for n in 0..6 {
        placed.emit(n);
    }
    let _ = stream.try_recv();

    let topology = introspect::topology().under("intro");
    assert_eq!(topology.signals.len(), 2);
    let placed_node = topology.signal("intro.order.placed").unwrap();
    assert_eq!(
        (placed_node.payload_type, placed_node.history_len, placed_node.history_capacity),
        ("u32", 6, 8)
    );
    let kinds: Vec<(&str, &ReceiverKind)> =
        placed_node.receivers.iter().map(|r| (r.name.as_ref(), &r.kind)).collect();
    assert_eq!(kinds[0], ("billing", &ReceiverKind::Plain), "priority first");
    assert_eq!(kinds[1], ("dashboard", &ReceiverKind::Weak));
    match kinds[2] {
        ("audit", ReceiverKind::Queued { overflow: Overflow::DropOldest, stats }) => {
            assert_eq!((stats.capacity, stats.offered, stats.dropped), (4, 6, 2));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(kinds[3], ("watch", &ReceiverKind::Pattern { pattern: "intro.order.*".into() }));
    let lost_node = topology.signal("intro.order.lost").unwrap();
    assert_eq!(lost_node.receivers[0].kind, ReceiverKind::Once);
    assert_eq!(lost_node.receivers[0].sources, ["db"]);
    assert_eq!(
        lost_node.receivers[1].kind,
        ReceiverKind::Pattern { pattern: "intro.order.*".into() }
    );

    // Reading changed nothing: the same snapshot again.
    assert_eq!(introspect::topology().under("intro"), topology);

    let mermaid = topology.to_mermaid();
    assert!(mermaid.contains("p0{{\"intro.order.*<br/>watch\"}}"), "{mermaid}");
    assert!(mermaid.contains("s1 -. \"3/4 · lag 3 · dropped 2\" .-> r1_2"), "{mermaid}");
    let dot = topology.to_dot();
    assert!(dot.contains("s0 -> p0 [style=bold];"), "{dot}");
    assert!(dot.contains("history 6/8"), "{dot}");
    drop(dash);
}

#[test]
fn meta_signals_can_be_left_out() {
    let all = introspect::topology();
    assert!(all.signal("mesh.receiver.failed").is_some());
    assert!(all.without_meta().signals.iter().all(|s| !s.name.starts_with("mesh.")));
}

/// Where Graphviz is installed, `dot` accepts the DOT text (the golden
/// test in `introspect` checks its syntax without it).
#[test]
fn graphviz_accepts_the_dot_text_where_installed() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if Command::new("dot").arg("-V").output().is_err() {
        eprintln!("Graphviz not installed: DOT checked by the golden test's syntax check only");
        return;
    }
    static NS: Namespace = Namespace::new("intro-dot");
    let s = NS.signal::<u8>("a\"quoted\"").ok(); // invalid name: not registered
    assert!(s.is_none());
    let ok = NS.signal::<u8>("x").unwrap();
    let _r = ok.connect_with(ConnectOptions::new().name("needs \"escaping\" \\ here"), |_: &u8| {});
    let text = introspect::topology().under("intro-dot").to_dot();
    let mut dot = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    dot.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(dot.wait().unwrap().success(), "{text}");
}

/// `set_stats`: every emit form is counted once, from any thread; off,
/// nothing is counted. (Other tests of this binary may run meanwhile:
/// only this test's namespace is read.)
#[test]
fn emit_counters_count_every_form_once() {
    use mesh::{Event, SignalConfig};
    static NS: Namespace = Namespace::new("intro-stats");
    let plain = NS.signal::<u64>("plain").unwrap();
    let ordered = NS.signal_with::<u64>("ordered", SignalConfig::new().ordered()).unwrap();
    let enveloped = NS.signal::<u64>("enveloped").unwrap();
    let _a = plain.connect(|_: &u64| {});
    let _b = ordered.connect(|_: &u64| {});
    let _c = enveloped.connect(|_: &Event<u64>| {});
    plain.emit(0); // before: not counted
    introspect::set_stats(true);
    assert!(introspect::stats_enabled());
    let mut publisher = plain.publisher();
    for i in 0..10 {
        plain.emit(i);
        publisher.emit(i);
        ordered.emit(i);
        enveloped.emit(i);
        enveloped.emit_event(Event::new(i));
        plain.emit_from("here", i);
    }
    std::thread::scope(|s| {
        for _ in 0..3 {
            let plain = plain.clone();
            s.spawn(move || {
                let mut p = plain.publisher();
                for i in 0..1_000 {
                    plain.emit(i);
                    p.emit(i);
                }
            });
        }
    });
    introspect::set_stats(false);
    plain.emit(1); // after: not counted
    publisher.emit(1);
    let t = introspect::topology().under("intro-stats");
    let emits = |name: &str| t.signal(name).unwrap().emits;
    assert_eq!(emits("intro-stats.plain"), 30 + 6_000);
    assert_eq!(emits("intro-stats.ordered"), 10);
    assert_eq!(emits("intro-stats.enveloped"), 20);
}
