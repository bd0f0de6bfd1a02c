//! Blinker parity: behaviour Blinker's own test suite checks, read against
//! mesh (receiver identity, several sources, `receivers_for`, meta-signal
//! details, collecting results).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mesh::meta::{self, ReceiverConnected, ReceiverDisconnected};
use mesh::{ConnectOptions, Signal};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn counted(_: &u32) {
    CALLS.fetch_add(1, Ordering::Relaxed);
}

static METHOD_CALLS: AtomicUsize = AtomicUsize::new(0);

fn on_object(_: &String, _: &u32) {
    METHOD_CALLS.fetch_add(1, Ordering::Relaxed);
}

#[test]
fn a_function_connected_twice_is_one_receiver() {
    let s = Signal::<u32>::new();
    let a = s.connect(counted);
    let b = s.connect(counted);
    assert_eq!(a.id(), b.id());
    assert_eq!(s.receiver_count(), 1);
    let before = CALLS.load(Ordering::Relaxed);
    assert_eq!(s.emit(1).delivered, 1);
    assert_eq!(CALLS.load(Ordering::Relaxed) - before, 1);
}

#[test]
fn a_function_connected_for_a_source_and_for_any_runs_once() {
    let s = Signal::<u32>::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let key = ConnectOptions::new().key("audit");
    let l = log.clone();
    s.connect_with(key.clone().source("db"), move |x: &u32| l.lock().unwrap().push(*x));
    let l = log.clone();
    s.connect_with(key.clone(), move |x: &u32| l.lock().unwrap().push(*x));
    assert_eq!(s.receiver_count(), 1);
    s.emit_from("db", 1);
    s.emit_from("cache", 2);
    s.emit(3);
    assert_eq!(*log.lock().unwrap(), [1, 2, 3], "any source absorbed the filter");
}

#[test]
fn connecting_again_for_another_source_widens_the_filter() {
    let s = Signal::<u32>::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    for source in ["a", "b", "a"] {
        let l = log.clone();
        s.connect_with(ConnectOptions::new().key("k").source(source), move |x: &u32| {
            l.lock().unwrap().push(*x)
        });
    }
    assert_eq!(s.receiver_count(), 1);
    s.emit_from("a", 1);
    s.emit_from("b", 2);
    s.emit_from("c", 3);
    s.emit(4);
    assert_eq!(*log.lock().unwrap(), [1, 2]);
    assert_eq!(s.receivers()[0].sources, ["a", "b"]);
}

#[test]
fn closures_have_no_identity_unless_given_a_key() {
    let s = Signal::<u32>::new();
    for _ in 0..3 {
        s.connect(|_: &u32| {});
    }
    assert_eq!(s.receiver_count(), 3, "each closure value is its own receiver");
}

#[test]
fn a_weak_method_is_one_receiver_per_object() {
    let s = Signal::<u32>::new();
    let (x, y) = (Arc::new("x".to_string()), Arc::new("y".to_string()));
    s.connect_weak(&x, on_object);
    s.connect_weak(&x, on_object);
    s.connect_weak(&y, on_object);
    assert_eq!(s.receiver_count(), 2);
    let before = METHOD_CALLS.load(Ordering::Relaxed);
    s.emit(1);
    assert_eq!(METHOD_CALLS.load(Ordering::Relaxed) - before, 2);
    assert!(s.receivers().iter().all(|r| r.weak));
}

#[test]
fn one_filter_may_accept_several_sources() {
    let s = Signal::<u32>::new();
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    s.connect_with(ConnectOptions::new().sources(["db", "cache"]), move |_: &u32| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    for source in ["db", "cache", "queue"] {
        s.emit_from(source, 0);
    }
    s.emit(0);
    assert_eq!(n.load(Ordering::Relaxed), 2);
}

#[test]
fn receivers_for_tells_who_an_emit_reaches() {
    let s = Signal::<u32>::new();
    s.connect_with(ConnectOptions::new().name("any"), |_: &u32| {});
    s.connect_with(ConnectOptions::new().name("db").source("db"), |_: &u32| {});
    let target = Arc::new(());
    s.connect_weak_with(
        ConnectOptions::new().name("gone").source("db"),
        &target,
        |_: &(), _: &u32| {},
    );
    drop(target);
    let names = |source| s.receivers_for(source).into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(Some("db")), ["any", "db"], "a dead weak receiver reaches nobody");
    assert_eq!(names(Some("cache")), ["any"]);
    assert_eq!(names(None), ["any"]);
    let empty = Signal::<u32>::new();
    empty.connect_from("db", |_: &u32| {});
    assert!(empty.has_receivers_for(Some("db")));
    assert!(!empty.has_receivers_for(Some("cache")));
    assert!(!empty.has_receivers_for(None));
}

#[test]
fn meta_events_carry_sources_weakness_and_which_signal() {
    let (a, b) = (Signal::<u8>::new(), Signal::<u8>::new());
    let ids = [a.id(), b.id()];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let _on = meta::connected().connect_scoped(move |ev: &ReceiverConnected| {
        if ids.contains(&ev.signal_id) {
            sink.lock().unwrap().push((
                ev.signal_id,
                ev.receiver.sources.clone(),
                ev.receiver.weak,
            ));
        }
    });
    let gone = Arc::new(Mutex::new(Vec::new()));
    let sink = gone.clone();
    let _off = meta::disconnected().connect_scoped(move |ev: &ReceiverDisconnected| {
        if ids.contains(&ev.signal_id) {
            sink.lock().unwrap().push((ev.signal_id, ev.receiver.weak));
        }
    });
    a.connect_from("db", |_: &u8| {});
    let target = Arc::new(());
    b.connect_weak(&target, |_: &(), _: &u8| {});
    drop(target);
    b.emit(1);
    assert_eq!(*seen.lock().unwrap(), [(a.id(), vec!["db".into()], false), (b.id(), vec![], true)]);
    assert_eq!(*gone.lock().unwrap(), [(b.id(), true)]);
}

#[test]
fn emit_collect_gathers_each_responders_answer() {
    let s = Signal::<u32>::new();
    s.connect_responder(ConnectOptions::new().name("double").priority(2), |x: &u32| x * 2);
    s.connect(|_: &u32| {});
    s.connect_responder(ConnectOptions::new().name("text"), |x: &u32| x.to_string());
    s.connect_responder(ConnectOptions::new().name("boom").priority(1), |_: &u32| -> u32 {
        panic!("no answer")
    });
    let got = s.emit_collect::<u32>(21);
    assert_eq!((got.emitted.delivered, got.emitted.failed), (3, 1));
    let answers: Vec<_> =
        got.responses.iter().map(|r| (r.receiver.name.to_string(), r.result.clone())).collect();
    assert_eq!(
        answers,
        [("double".to_string(), Ok(42)), ("boom".to_string(), Err("panicked: no answer".into()))]
    );
    // A plain emit drops the answers and collects nothing later.
    s.emit(1);
    assert_eq!(s.emit_collect::<String>(5).responses[0].result, Ok("5".to_string()));
}

#[test]
fn answers_from_nested_emits_are_not_collected() {
    let s = Signal::<u32>::new();
    let weak = s.downgrade();
    s.connect_responder(ConnectOptions::new(), move |x: &u32| {
        if *x > 0 {
            weak.upgrade().unwrap().emit(x - 1);
        }
        *x
    });
    let got = s.emit_collect::<u32>(3);
    assert_eq!(got.responses.len(), 1);
    assert_eq!(got.responses[0].result, Ok(3));
}
