//! Effects (issue 13): receivers return the events to publish; the mesh
//! performs them after the handler returns, correlated with their cause.

use std::sync::{Arc, Mutex};

use mesh::effects::{CAUSATION_ID, Effects};
use mesh::middleware::CORRELATION_ID;
use mesh::prelude::*;
use mesh::{AnyEvent, Signal};

#[signal(name = "fx.order.placed")]
#[derive(Debug, Clone, PartialEq)]
struct OrderPlaced {
    id: u32,
}

#[signal(name = "fx.order.ship")]
#[derive(Debug, Clone, PartialEq)]
struct ShipOrder {
    id: u32,
}

#[signal(name = "fx.order.shipped")]
#[derive(Debug, Clone, PartialEq)]
struct Shipped {
    id: u32,
}

/// The rules, as plain functions.
fn plan(order: &OrderPlaced) -> Effects {
    Effects::new().emit(ShipOrder { id: order.id })
}

fn ship(ev: &Event<ShipOrder>) -> Effects {
    Effects::new().emit(Shipped { id: ev.data.id })
}

/// Registered globally; performs its effects in every test binary run,
/// so it listens to a signal of its own.
#[signal(name = "fx.macro.in")]
#[derive(Debug, Clone)]
struct MacroIn(u32);

#[signal(name = "fx.macro.out")]
#[derive(Debug, Clone, PartialEq)]
struct MacroOut(u32);

#[receiver]
fn doubled(x: &MacroIn) -> Effects {
    Effects::new().emit(MacroOut(x.0 * 2))
}

#[test]
fn a_handler_called_directly_emits_nothing() {
    let _mesh = mesh::testing::scope();
    let shipped = mesh::testing::Recorder::<ShipOrder>::new();
    let effects = plan(&OrderPlaced { id: 3 });
    assert_eq!(effects.events::<ShipOrder>(), [&ShipOrder { id: 3 }]);
    assert_eq!(effects.names(), ["fx.order.ship"]);
    assert_eq!(effects.len(), 1);
    drop(effects);
    assert!(shipped.payloads().is_empty(), "returning effects emits nothing");
}

#[test]
fn connected_the_effects_are_performed_in_a_traced_chain() {
    let _mesh = mesh::testing::scope();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let _c = ShipOrder::signal().connect(move |ev: &Event<ShipOrder>| {
        sink.lock().unwrap().push(("ship", ev.id, ev.metadata.clone()));
    });
    let sink = seen.clone();
    let _d = Shipped::signal().connect(move |ev: &Event<Shipped>| {
        sink.lock().unwrap().push(("shipped", ev.id, ev.metadata.clone()));
    });
    // After the loggers: a handler's effects run as soon as it returns,
    // before the receivers after it.
    let _a = OrderPlaced::signal().connect(plan);
    let _b = ShipOrder::signal().connect(ship);
    let root = Event::new(OrderPlaced { id: 9 });
    let root_id = root.id.to_string();
    OrderPlaced::signal().emit_event(root);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), ["ship", "shipped"]);
    let (_, ship_id, ship_meta) = &seen[0];
    let (_, _, shipped_meta) = &seen[1];
    assert_eq!(ship_meta.get(CAUSATION_ID), Some(root_id.as_str()));
    assert_eq!(ship_meta.get(CORRELATION_ID), Some(root_id.as_str()));
    assert_eq!(shipped_meta.get(CAUSATION_ID), Some(ship_id.to_string().as_str()));
    assert_eq!(shipped_meta.get(CORRELATION_ID), Some(root_id.as_str()), "the chain's root");
}

#[test]
fn effects_run_after_the_handler_returns_in_order() {
    let _mesh = mesh::testing::scope();
    let log = Arc::new(Mutex::new(Vec::new()));
    let numbers = Signal::<u32>::new();
    let sink = log.clone();
    let _n = numbers.connect(move |n: &u32| sink.lock().unwrap().push(format!("effect {n}")));
    let sink = log.clone();
    let target = numbers.clone();
    let _h = OrderPlaced::signal().connect(move |o: &OrderPlaced| {
        let effects = (0..3).fold(Effects::new(), |fx, i| fx.emit_on(&target, o.id * 10 + i));
        sink.lock().unwrap().push("handler returns".to_owned());
        effects
    });
    OrderPlaced { id: 1 }.emit();
    assert_eq!(*log.lock().unwrap(), ["handler returns", "effect 10", "effect 11", "effect 12"]);
}

#[test]
fn a_failing_handler_performs_nothing_and_is_reported() {
    let _mesh = mesh::testing::scope();
    let shipped = mesh::testing::Recorder::<ShipOrder>::new();
    let _h = OrderPlaced::signal().connect(|o: &OrderPlaced| -> Result<Effects, String> {
        if o.id == 0 {
            return Err("no order 0".into());
        }
        Ok(Effects::new().emit(ShipOrder { id: o.id }))
    });
    let emitted = OrderPlaced { id: 0 }.emit();
    assert_eq!(emitted.failed, 1);
    OrderPlaced { id: 5 }.emit();
    assert_eq!(shipped.payloads(), [ShipOrder { id: 5 }]);
}

#[test]
fn a_receiver_macro_and_a_pattern_subscriber_return_effects_too() {
    let _mesh = mesh::testing::Scope::new().with_global_receivers().enter();
    let out = mesh::testing::Recorder::<MacroOut>::new();
    MacroIn(21).emit();
    assert_eq!(out.payloads(), [MacroOut(42)]);
    let events = out.events();
    assert!(events[0].metadata.get(CAUSATION_ID).is_some(), "correlated through the macro too");

    let shipped = mesh::testing::Recorder::<Shipped>::new();
    let _p = mesh::subscribe_pattern("fx.order.*", |ev: &AnyEvent| {
        match ev.downcast_ref::<OrderPlaced>() {
            Some(o) => Effects::new().emit(Shipped { id: o.id }),
            None => Effects::new(),
        }
    })
    .unwrap();
    OrderPlaced { id: 4 }.emit();
    let got = shipped.events();
    assert_eq!(got.len(), 1);
    assert!(got[0].metadata.get(CAUSATION_ID).is_some());
}

/// A table of effect lists (lengths 0..6, mixed types): what is
/// performed is exactly what was returned, in order, each with the
/// cause's id.
#[test]
fn performed_effects_equal_returned_ones() {
    let _mesh = mesh::testing::scope();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (small, text) = (Signal::<u8>::new(), Signal::<String>::new());
    let sink = log.clone();
    let _s = small.connect(move |ev: &Event<u8>| {
        sink.lock()
            .unwrap()
            .push((format!("u8 {}", ev.data), ev.metadata.get(CAUSATION_ID).map(str::to_owned)))
    });
    let sink = log.clone();
    let _t = text.connect(move |ev: &Event<String>| {
        sink.lock()
            .unwrap()
            .push((format!("text {}", ev.data), ev.metadata.get(CAUSATION_ID).map(str::to_owned)))
    });
    let trigger = Signal::<u32>::new();
    let (s2, t2) = (small.clone(), text.clone());
    let _h = trigger.connect(move |n: &u32| {
        (0..*n).fold(Effects::new(), |fx, i| {
            if i % 2 == 0 { fx.emit_on(&s2, i as u8) } else { fx.emit_on(&t2, format!("#{i}")) }
        })
    });
    for n in 0..6u32 {
        log.lock().unwrap().clear();
        let cause = Event::new(n);
        let cause_id = cause.id.to_string();
        trigger.emit_event(cause);
        let expected: Vec<(String, Option<String>)> = (0..n)
            .map(|i| {
                let what = if i % 2 == 0 { format!("u8 {i}") } else { format!("text #{i}") };
                (what, Some(cause_id.clone()))
            })
            .collect();
        assert_eq!(*log.lock().unwrap(), expected, "n = {n}");
    }
}
