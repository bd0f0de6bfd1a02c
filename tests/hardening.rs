//! Regression tests for the bugs listed in the core-hardening issue. Each
//! test failed (or hung, or aborted) before its fix.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesh::meta::{self, ReceiverDisconnected, ReceiverFailed};
use mesh::prelude::*;
use mesh::projection::Projection;
use mesh::testing::{self, Recorder};
use mesh::{DisconnectReason, RegistryError, registry};

/// Runs `f` on another thread; fails the test if it has not finished in
/// 10 s (a deadlock), instead of hanging the suite.
fn within_deadline<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("deadlocked: no result within 10 s")
}

/// Collects the `mesh.receiver.disconnected` events of the signal `name`.
fn watch_disconnects(
    name: &'static str,
) -> (Arc<Mutex<Vec<ReceiverDisconnected>>>, ScopedConnection) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let guard = meta::disconnected().connect_scoped(move |ev: &ReceiverDisconnected| {
        if ev.signal == name {
            sink.lock().unwrap().push(ev.clone());
        }
    });
    (seen, guard)
}

mesh::namespace!(pub HARD = "hardening");

// ----- 2. testing scopes never share signals -----------------------------

#[signal(namespace = HARD, name = "scoped.ping")]
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedPing(u32);

#[test]
fn a_signal_kept_from_a_finished_scope_reaches_no_later_scope() {
    let kept = {
        let _first = testing::scope();
        ScopedPing::signal()
    };
    let _second = testing::scope();
    let rec = Recorder::<ScopedPing>::new();
    kept.emit(ScopedPing(1));
    ScopedPing(2).emit();
    rec.assert_payloads(&[ScopedPing(2)]);
}

// ----- 3. and 4. projections ---------------------------------------------

#[signal(namespace = HARD, name = "proj.first", history = 16)]
#[derive(Debug, Clone)]
pub struct First(u32);

#[signal(namespace = HARD, name = "proj.second", history = 16)]
#[derive(Debug, Clone)]
pub struct Second(u32);

#[test]
fn a_fold_may_emit_on_a_signal_its_projection_follows() {
    let _mesh = testing::scope();
    let log = within_deadline(|| {
        let _mesh = testing::scope();
        let p = Projection::builder(Vec::<String>::new)
            .on::<First>(|log, ev| {
                log.push(format!("first {}", ev.data.0));
                Second(ev.data.0 * 10).emit();
                log.push(format!("first {} done", ev.data.0));
            })
            .on::<Second>(|log, ev| log.push(format!("second {}", ev.data.0)))
            .build();
        First(1).emit();
        p.get()
    });
    // The nested event is folded after the fold that emitted it.
    assert_eq!(log, ["first 1", "first 1 done", "second 10"]);
}

#[test]
fn a_panicking_fold_during_rebuild_is_isolated_and_reported() {
    let _mesh = testing::scope();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let sink = failures.clone();
    let _watch = meta::failed().connect_scoped(move |f: &ReceiverFailed| {
        if f.signal == First::NAME {
            sink.lock().unwrap().push(f.message.clone());
        }
    });
    let live_panics = Arc::new(AtomicUsize::new(0));
    let lp = live_panics.clone();
    let p = Projection::builder(|| 0u32)
        .on::<First>(move |sum, ev| {
            if ev.data.0 == 2 {
                lp.fetch_add(1, Ordering::Relaxed);
                panic!("bad event 2");
            }
            *sum += ev.data.0;
        })
        .build();
    for i in 1..=3 {
        First(i).emit();
    }
    assert_eq!(p.get(), 4, "live folding skips the panicking event");
    let rebuilt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| p.rebuild()));
    let rebuilt = rebuilt.expect("rebuild must not let a fold's panic escape");
    assert!(rebuilt.is_ok());
    assert_eq!(p.get(), 4, "rebuild ends where live folding ended");
    assert_eq!(live_panics.load(Ordering::Relaxed), 2);
    let failures = failures.lock().unwrap();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures.iter().all(|m| m.contains("bad event 2")), "{failures:?}");
}

// ----- 5. and 6. replay --------------------------------------------------

#[test]
fn a_one_shot_replaying_receiver_is_removed_after_its_event() {
    let s = Signal::<u32>::with_config(SignalConfig::new().history(8));
    for i in 1..=3 {
        s.emit(i);
    }
    let token = Arc::new(());
    let held = token.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    s.connect_with_replay_options(ConnectOptions::new().once(), move |x: &u32| {
        let _ = &held;
        log.lock().unwrap().push(*x);
    });
    assert_eq!(*seen.lock().unwrap(), [1]);
    let r = s.emit(4);
    assert_eq!((r.delivered, r.skipped), (0, 0), "the spent receiver is gone");
    assert_eq!(Arc::strong_count(&token), 1, "its closure was dropped");
}

#[test]
fn disconnecting_a_replaying_receiver_stops_its_replay() {
    let s = Signal::<u32>::with_config(SignalConfig::new().history(100));
    for i in 1..=100 {
        s.emit(i);
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let weak = s.downgrade();
    s.connect_with_replay(move |_: &u32| {
        if c.fetch_add(1, Ordering::Relaxed) + 1 == 5 {
            weak.upgrade().unwrap().disconnect_all();
        }
    });
    assert_eq!(calls.load(Ordering::Relaxed), 5);
}

// ----- 7. one-shot removal reason ----------------------------------------

#[test]
fn a_one_shot_that_connects_another_receiver_is_reported_as_once() {
    let s = HARD.signal::<u32>("once.reason").unwrap();
    let (seen, _watch) = watch_disconnects(s.name());
    let inner = s.clone();
    s.connect_once(move |_: &u32| {
        inner.connect(|_: &u32| {});
    });
    s.emit(1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].reason, DisconnectReason::Once);
}

// ----- 8. weak receiver with a source filter ------------------------------

#[test]
fn a_dead_weak_receiver_with_a_source_filter_goes_at_the_next_emit() {
    let s = HARD.signal::<u32>("weak.source").unwrap();
    let (seen, _watch) = watch_disconnects(s.name());
    let target = Arc::new(());
    let token = Arc::new(());
    let held = token.clone();
    s.connect_weak_with(ConnectOptions::new().source("db"), &target, move |_: &(), _: &u32| {
        let _ = &held;
    });
    drop(target);
    s.emit_from("cache", 1);
    assert_eq!(Arc::strong_count(&token), 1, "the closure was dropped at the emit");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].reason, DisconnectReason::Expired);
}

// ----- 9. SignalRef::config is current ------------------------------------

#[test]
fn signal_ref_config_follows_history_capacity() {
    let s = HARD.signal::<u64>("config.live").unwrap();
    s.set_history_capacity(5);
    let r = registry::lookup(s.name()).unwrap();
    assert_eq!(r.config(), SignalConfig::new().history(5));
    HARD.signal_with::<u64>("config.live", SignalConfig::new().history(5))
        .expect("asking with the actual configuration works");
}

// ----- 11. name errors point into the name they show -----------------------

#[test]
fn invalid_name_errors_give_offsets_into_the_full_name() {
    let err = HARD.signal::<u8>("bad..name").unwrap_err();
    let RegistryError::InvalidName { name, error } = &err else { panic!("{err:?}") };
    assert_eq!(name, "hardening.bad..name");
    let mesh::name::NameError::EmptySegment { at } = error else { panic!("{error:?}") };
    assert_eq!(&name[*at - 1..*at + 1], "..", "offset {at} points into {name}");
    assert!(err.to_string().contains(&format!("(at byte {at})")), "{err}");
}

// ----- 13. queries have no side effects ------------------------------------

#[test]
fn queries_do_not_remove_receivers_or_fire_meta_events() {
    let s = HARD.signal::<u16>("queries.pure").unwrap();
    let (seen, _watch) = watch_disconnects(s.name());
    let target = Arc::new(());
    let c = s.connect_weak(&target, |_: &(), _: &u16| {});
    drop(target);
    let r = registry::lookup(s.name()).unwrap();
    let shown = format!("{r:?} {s:?}");
    assert!(!c.is_connected(), "a dead weak receiver does not count as connected");
    assert_eq!(r.receiver_count(), 0);
    assert_eq!(s.receiver_count(), 0);
    assert!(s.receivers().is_empty());
    assert!(seen.lock().unwrap().is_empty(), "reading fired {:?} ({shown})", seen.lock().unwrap());
    s.emit(1);
    assert_eq!(seen.lock().unwrap().len(), 1, "the emit removed it");
}
