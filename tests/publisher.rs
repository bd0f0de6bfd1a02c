//! `Publisher::emit` and `Signal::emit` take different fast paths; they must
//! behave the same: same summaries, same failure isolation, same removals.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use mesh::{EmitStatus, Emitted, Event, Signal, SignalConfig};

/// Runs `emit` against a signal built by `setup`, once through
/// `Signal::emit` and once through a `Publisher`, and returns both runs.
fn both(setup: impl Fn(&Signal<u32>), events: &[u32]) -> [Vec<Emitted>; 2] {
    let a = Signal::new();
    setup(&a);
    let by_signal = events.iter().map(|&e| a.emit(e)).collect();
    let b = Signal::new();
    setup(&b);
    let mut p = b.publisher();
    let by_publisher = events.iter().map(|&e| p.emit(e)).collect();
    [by_signal, by_publisher]
}

fn quiet_panics() {
    // Keep the expected panics out of the test output.
    std::panic::set_hook(Box::new(|_| {}));
}

#[test]
fn a_panicking_receiver_does_not_stop_the_others() {
    quiet_panics();
    let seen = Arc::new(AtomicU32::new(0));
    let [s, p] = both(
        |sig| {
            let a = seen.clone();
            sig.connect(move |x: &u32| {
                a.fetch_add(*x, Ordering::Relaxed);
            });
            sig.connect(|x: &u32| assert!(*x != 2, "two"));
            let b = seen.clone();
            sig.connect(move |x: &u32| {
                b.fetch_add(*x, Ordering::Relaxed);
            });
            sig.connect(|x: &u32| if *x == 3 { Err("three") } else { Ok(()) });
        },
        &[1, 2, 3],
    );
    assert_eq!(s, p);
    assert_eq!((p[1].delivered, p[1].failed), (3, 1));
    assert_eq!((p[2].delivered, p[2].failed), (3, 1));
    assert_eq!(seen.load(Ordering::Relaxed), 2 * 2 * (1 + 2 + 3));
}

#[test]
fn failures_are_counted_through_a_publisher() {
    quiet_panics();
    let s = Signal::<u32>::new();
    s.connect(|x: &u32| assert!(*x == 0, "boom"));
    s.connect(|_: &u32| Err::<(), _>("bad"));
    let mut p = s.publisher();
    let r = p.emit(1);
    assert_eq!((r.delivered, r.failed, r.status), (0, 2, EmitStatus::Dispatched));
    assert_eq!(s.failure_count(), 2);
}

#[test]
fn one_shot_and_weak_receivers_are_removed() {
    let [s, p] = both(
        |sig| {
            sig.connect_once(|_: &u32| {});
            let gone = Arc::new(());
            sig.connect_weak(&gone, |_: &(), _: &u32| {});
            drop(gone);
            sig.connect(|_: &u32| {});
        },
        &[1, 2],
    );
    assert_eq!(s, p);
    // The dead weak receiver was already swept by the last `connect`.
    assert_eq!((p[0].delivered, p[0].skipped), (2, 0));
    assert_eq!((p[1].delivered, p[1].skipped), (1, 0));
}

#[test]
fn source_filtered_receivers_skip_source_less_events() {
    let [s, p] = both(
        |sig| {
            sig.connect_from("db", |x: &u32| assert!(*x == 0, "must not run"));
            sig.connect(|_: &u32| {});
        },
        &[1],
    );
    assert_eq!(s, p);
    assert_eq!((p[0].delivered, p[0].skipped), (1, 1));
}

#[test]
fn muting_reaches_an_existing_publisher() {
    let s = Signal::<u32>::new();
    s.connect(|_: &u32| {});
    let mut p = s.publisher();
    assert_eq!(p.emit(1).delivered, 1);
    let guard = s.mute();
    assert_eq!(p.emit(2).status, EmitStatus::Muted);
    drop(guard);
    assert_eq!(p.emit(3).delivered, 1);
}

#[test]
fn envelope_receivers_get_sequence_numbers_through_a_publisher() {
    let seqs = Arc::new(Mutex::new(Vec::new()));
    let s = Signal::<u32>::new();
    let log = seqs.clone();
    s.connect(move |ev: &Event<u32>| log.lock().unwrap().push((ev.seq, ev.data)));
    s.connect(|_: &u32| {});
    let mut p = s.publisher();
    p.emit(10);
    s.emit(20);
    p.emit(30);
    assert_eq!(*seqs.lock().unwrap(), [(1, 10), (2, 20), (3, 30)]);
}

#[test]
fn ordered_signals_keep_their_order_through_a_publisher() {
    let s = Signal::<u32>::with_config(SignalConfig::new().ordered());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let inner = s.clone();
    let log = seen.clone();
    s.connect(move |x: &u32| {
        log.lock().unwrap().push(*x);
        if *x == 1 {
            // Re-entrant emit on an ordered signal: deferred, not nested.
            assert_eq!(inner.emit(2).status, EmitStatus::Deferred);
        }
    });
    let mut p = s.publisher();
    assert_eq!(p.emit(1).delivered, 1);
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
}

#[test]
fn no_receivers_and_late_receivers() {
    let s = Signal::<u32>::new();
    let mut p = s.publisher();
    assert_eq!(p.emit(1).status, EmitStatus::NoReceivers);
    let c = s.connect(|_: &u32| {});
    assert_eq!(p.emit(2).delivered, 1);
    c.disconnect();
    assert_eq!(p.emit(3).status, EmitStatus::NoReceivers);
}

/// The documented bound: a publisher holds the receivers of at most one
/// snapshot, until its next emit; an emit after a change lets go of them
/// before it dispatches, and a disconnected receiver is never called.
#[test]
fn a_publisher_holds_a_disconnected_receiver_only_until_its_next_emit() {
    let s = Signal::<u32>::new();
    let held = std::sync::Arc::new(());
    let h = held.clone();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let n = calls.clone();
    let c = s.connect(move |_: &u32| {
        let _ = &h;
        n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    s.connect(|_: &u32| {});
    let mut p = s.publisher();
    p.emit(1);
    c.disconnect();
    assert_eq!(std::sync::Arc::strong_count(&held), 2, "held by the publisher's snapshot");
    assert_eq!(p.emit(2).delivered, 1, "a disconnected receiver is not called");
    assert_eq!(std::sync::Arc::strong_count(&held), 1, "let go at the next emit");
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    // Under churn it holds none; once the receivers hold still it caches again.
    for i in 0..10 {
        let c = s.connect(|_: &u32| {});
        assert_eq!(p.emit(i).delivered, 2);
        c.disconnect();
        assert_eq!(p.emit(i).delivered, 1);
    }
    assert_eq!(p.emit(0).delivered, 1);
    assert_eq!(p.emit(0).delivered, 1);
}

/// A publisher whose receivers take the envelope walks it without the
/// general path; whatever changes after it was made (mute, history, a
/// receiver that keeps the envelope) still takes effect at its next emit,
/// and `seq` stays gap-free across it and `Signal::emit`.
#[test]
fn the_envelope_path_of_a_publisher_keeps_every_rule() {
    let signal = Signal::<u32>::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    signal.connect(move |ev: &Event<u32>| log.lock().unwrap().push((ev.data, ev.seq)));
    let mut p = signal.publisher();
    assert_eq!(p.emit(1).delivered, 1);
    assert_eq!(signal.emit(2).delivered, 1);
    assert_eq!(p.emit(3).delivered, 1);
    {
        let _muted = signal.mute();
        assert_eq!(p.emit(4).status, EmitStatus::Muted);
    }
    signal.set_history_capacity(8);
    assert_eq!(p.emit(5).delivered, 1);
    assert_eq!(signal.history().iter().map(|e| (e.data, e.seq)).collect::<Vec<_>>(), [(5, 4)]);
    assert_eq!(*seen.lock().unwrap(), [(1, 1), (2, 2), (3, 3), (5, 4)]);
}
