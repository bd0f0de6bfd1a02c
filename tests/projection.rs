//! Projections: live folding, torn-free reads, and rebuild from history.

use std::collections::BTreeMap;

use mesh::prelude::*;
use mesh::projection::{Projection, ProjectionError};

#[signal(history = 100000)]
#[derive(Debug, Clone)]
pub struct Credited {
    pub account: u8,
    pub amount: i64,
}

#[signal(history = 100000)]
#[derive(Debug, Clone)]
pub struct Debited {
    pub account: u8,
    pub amount: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Ledger {
    balances: BTreeMap<u8, i64>,
    /// Both totals move together in one fold: a torn read would break
    /// `credits - debits == sum(balances)`.
    credits: i64,
    debits: i64,
    events: u64,
}

fn ledger() -> Projection<Ledger> {
    Projection::builder(Ledger::default)
        .on::<Credited>(|l, ev| {
            *l.balances.entry(ev.data.account).or_default() += ev.data.amount;
            l.credits += ev.data.amount;
            l.events += 1;
        })
        .on::<Debited>(|l, ev| {
            *l.balances.entry(ev.data.account).or_default() -= ev.data.amount;
            l.debits += ev.data.amount;
            l.events += 1;
        })
        .build()
}

#[test]
fn rebuild_from_history_equals_live_folding() {
    let _mesh = mesh::testing::scope();
    let live = ledger();
    std::thread::scope(|s| {
        // A reader that checks every state it sees is consistent.
        s.spawn(|| {
            for _ in 0..2_000 {
                live.read(|l| {
                    assert_eq!(l.credits - l.debits, l.balances.values().sum::<i64>(), "torn read")
                });
            }
        });
        for i in 0..3_000i64 {
            let account = (i % 7) as u8;
            if i % 3 == 0 {
                Debited { account, amount: i % 11 }.emit();
            } else {
                Credited { account, amount: i % 13 }.emit();
            }
        }
    });
    let live_state = live.get();
    assert_eq!(live_state.events, 3_000);
    live.rebuild().unwrap();
    assert_eq!(live.get(), live_state, "rebuilt state equals live state");
    // A projection built afterwards catches up from history.
    let late = ledger();
    assert_eq!(late.get().events, 0);
    late.rebuild().unwrap();
    assert_eq!(late.get(), live_state);
    // Live events after a rebuild are folded once.
    Credited { account: 1, amount: 5 }.emit();
    assert_eq!(late.get().events, 3_001);
    assert_eq!(live.get().events, 3_001);
}

#[test]
fn rebuild_errors_are_typed_and_leave_state_alone() {
    let no_history = Signal::<u8>::new();
    let p = Projection::builder(|| 0u32).on_signal(&no_history, |n, _| *n += 1).build();
    no_history.emit(1);
    assert_eq!(p.rebuild(), Err(ProjectionError::NoHistory { signal: "" }));
    assert_eq!(p.get(), 1);

    let small = Signal::<u8>::with_config(SignalConfig::new().history(2));
    let q = Projection::builder(|| 0u32).on_signal(&small, |n, _| *n += 1).build();
    for i in 0..5 {
        small.emit(i);
    }
    let err = q.rebuild().unwrap_err();
    assert_eq!(err, ProjectionError::Truncated { signal: "", oldest: 4 });
    assert!(err.to_string().contains("raise its history capacity"));
    assert_eq!(q.get(), 5);
}

#[test]
fn dropping_a_projection_disconnects_it() {
    let s = Signal::<u8>::new();
    let p = Projection::builder(|| 0u32).on_signal(&s, |n, _| *n += 1).build();
    assert_eq!(s.receiver_count(), 1);
    drop(p);
    assert_eq!(s.receiver_count(), 0);
}

#[test]
fn rebuild_keeps_each_signal_in_seq_order_even_with_chosen_ids() {
    let s = Signal::<u32>::with_config(SignalConfig::new().history(16));
    let order = Projection::builder(Vec::new).on_signal(&s, |v, ev| v.push(ev.data)).build();
    // Simulated events whose ids run backwards.
    for (i, id) in [(1u32, 30u128), (2, 20), (3, 10)] {
        s.emit_event(mesh::Event::new(i).with_id(mesh::Uuid::from_u128(id)));
    }
    let live = order.get();
    assert_eq!(live, [1, 2, 3]);
    order.rebuild().unwrap();
    assert_eq!(order.get(), live, "replayed in seq order, not id order");
}

#[test]
fn rebuild_refuses_a_cleared_history() {
    let s = Signal::<u8>::with_config(SignalConfig::new().history(4));
    let p = Projection::builder(|| 0u32).on_signal(&s, |n, _| *n += 1).build();
    s.emit(1);
    s.emit(2);
    s.clear_history();
    assert_eq!(p.rebuild(), Err(ProjectionError::Truncated { signal: "", oldest: 3 }));
    assert_eq!(p.get(), 2, "state left alone");
}
