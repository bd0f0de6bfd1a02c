//! Behaviour of `Signal<T>`: connect shapes, handles, options, envelope,
//! ordering, failure isolation, muting, meta-signals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use mesh::meta::{self, ReceiverDisconnected};
use mesh::{
    ConnectOptions, DisconnectReason, EmitStatus, Event, Metadata, Signal, SignalConfig, Uuid,
};

fn log() -> (Arc<Mutex<Vec<String>>>, impl Fn(String) + Clone + Send + Sync + 'static) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    (log, move |s: String| l.lock().unwrap().push(s))
}

#[test]
fn payload_and_envelope_receivers_both_run() {
    let s = Signal::<u32>::new();
    let (log, push) = log();
    let p = push.clone();
    s.connect(move |x: &u32| p(format!("payload {x}")));
    s.connect(move |ev: &Event<u32>| push(format!("event {} seq {}", ev.data, ev.seq)));
    let r = s.emit(5);
    assert_eq!((r.delivered, r.failed, r.skipped), (2, 0, 0));
    assert_eq!(r.status, EmitStatus::Dispatched);
    assert_eq!(*log.lock().unwrap(), ["payload 5", "event 5 seq 1"]);
}

#[test]
fn no_receivers_is_reported() {
    let s = Signal::<u32>::new();
    assert_eq!(s.emit(1).status, EmitStatus::NoReceivers);
    assert!(!s.has_receivers());
}

#[test]
fn connection_handle_disconnects_on_demand_not_on_drop() {
    let s = Signal::<()>::new();
    let c = s.connect(|_: &()| {});
    let c2 = c.clone();
    drop(c);
    assert_eq!(s.receiver_count(), 1);
    assert!(c2.is_connected());
    assert!(c2.clone().disconnect());
    assert!(!c2.is_connected());
    assert!(!c2.disconnect(), "second disconnect reports false");
    assert_eq!(s.receiver_count(), 0);
}

#[test]
fn scoped_connection_disconnects_on_drop_and_release_keeps_it() {
    let s = Signal::<()>::new();
    let g = s.connect_scoped(|_: &()| {});
    assert!(g.is_connected());
    drop(g);
    assert_eq!(s.receiver_count(), 0);
    let kept = s.connect_scoped(|_: &()| {}).release();
    assert_eq!(s.receiver_count(), 1);
    assert!(kept.disconnect());
}

#[test]
fn handle_outliving_signal_is_harmless() {
    let s = Signal::<()>::new();
    let c = s.connect(|_: &()| {});
    drop(s);
    assert!(!c.is_connected());
    assert!(!c.disconnect());
}

#[test]
fn dropping_signal_drops_receivers() {
    let token = Arc::new(());
    let s = Signal::<()>::new();
    let t = token.clone();
    s.connect(move |_: &()| {
        let _ = &t;
    });
    assert_eq!(Arc::strong_count(&token), 2);
    drop(s);
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn disconnect_releases_captured_state() {
    let token = Arc::new(());
    let s = Signal::<()>::new();
    let t = token.clone();
    let c = s.connect(move |_: &()| {
        let _ = &t;
    });
    s.emit(());
    c.disconnect();
    assert_eq!(Arc::strong_count(&token), 1);
}

struct Counter(AtomicUsize);

#[test]
fn weak_receiver_does_not_keep_object_alive_and_vanishes() {
    let s = Signal::<usize>::new();
    let obj = Arc::new(Counter(AtomicUsize::new(0)));
    s.connect_weak(&obj, |c: &Counter, x: &usize| {
        c.0.fetch_add(*x, Ordering::Relaxed);
    });
    s.connect_weak(&obj, |c: &Counter, ev: &Event<usize>| {
        c.0.fetch_add(ev.data * 100, Ordering::Relaxed);
    });
    assert_eq!(Arc::strong_count(&obj), 1, "weak receivers hold no strong ref");
    s.emit(1);
    assert_eq!(obj.0.load(Ordering::Relaxed), 101);
    let weak = Arc::downgrade(&obj);
    drop(obj);
    assert_eq!(weak.strong_count(), 0);
    assert_eq!(s.receiver_count(), 0, "count is exact once the object is gone");
    assert_eq!(weak.weak_count(), 0, "the weak refs themselves are released");
}

#[test]
fn weak_receiver_is_removed_by_emit_with_meta_event() {
    let s = Signal::<u8>::new();
    let seen = Arc::new(Mutex::new(Vec::<DisconnectReason>::new()));
    let sn = seen.clone();
    let _w = meta::disconnected().connect_scoped(move |d: &ReceiverDisconnected| {
        if d.receiver.name == "weak-test" {
            sn.lock().unwrap().push(d.reason);
        }
    });
    let obj = Arc::new(());
    s.connect_weak_with(ConnectOptions::new().name("weak-test"), &obj, |_: &(), _: &u8| {});
    drop(obj);
    let r = s.emit(1);
    assert_eq!((r.delivered, r.skipped), (0, 1));
    assert_eq!(*seen.lock().unwrap(), [DisconnectReason::Expired]);
    assert_eq!(s.receiver_count(), 0);
}

#[test]
fn source_filter_matches_only_its_source() {
    let s = Signal::<u32>::new();
    let (log, push) = log();
    let p = push.clone();
    s.connect_from("db", move |x: &u32| p(format!("db {x}")));
    s.connect_from("cache", move |ev: &Event<u32>| push(format!("cache {}", ev.data)));
    s.emit(0);
    let r = s.emit_from("db", 1);
    assert_eq!((r.delivered, r.skipped), (1, 1));
    s.emit_event(Event::new(2).with_source("cache"));
    assert_eq!(*log.lock().unwrap(), ["db 1", "cache 2"]);
}

#[test]
fn one_shot_delivers_once_and_disconnects() {
    let s = Signal::<u32>::new();
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let c = s.connect_once(move |_: &u32| {
        n2.fetch_add(1, Ordering::Relaxed);
    });
    s.emit(1);
    s.emit(2);
    assert_eq!(n.load(Ordering::Relaxed), 1);
    assert!(!c.is_connected());
    assert_eq!(s.receiver_count(), 0);
}

#[test]
fn one_shot_is_exactly_once_under_concurrent_emitters() {
    for _ in 0..50 {
        let s = Signal::<u32>::new();
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        s.connect_once(move |_: &u32| {
            n2.fetch_add(1, Ordering::Relaxed);
        });
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for i in 0..50 {
                        s.emit(i);
                    }
                });
            }
        });
        assert_eq!(n.load(Ordering::Relaxed), 1);
        assert_eq!(s.receiver_count(), 0);
    }
}

#[test]
fn priority_then_connection_order() {
    let s = Signal::<()>::new();
    let (log, push) = log();
    for (name, prio) in [("a", 0), ("b", 5), ("c", 0), ("d", 10), ("e", -1), ("f", 5)] {
        let p = push.clone();
        s.connect_with(ConnectOptions::new().priority(prio).name(name), move |_: &()| {
            p(name.to_string())
        });
    }
    s.emit(());
    assert_eq!(*log.lock().unwrap(), ["d", "b", "f", "a", "c", "e"]);
    let names: Vec<_> = s.receivers().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["d", "b", "f", "a", "c", "e"]);
}

#[test]
fn envelope_fields_are_filled() {
    let s = Signal::<&'static str>::new();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    s.connect(move |ev: &Event<&'static str>| g.lock().unwrap().push(ev.clone()));
    s.emit("a");
    s.emit_from("src", "b");
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(42);
    s.emit_event(
        Event::new("c").with_id(Uuid::nil()).with_timestamp(t).with_meta("k", "v").with_source("x"),
    );
    let got = got.lock().unwrap();
    assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(got[0].id < got[1].id, "ids are time-ordered");
    assert_eq!(got[0].id.get_version_num(), 7);
    assert_eq!(got[0].source, None);
    assert_eq!(got[1].source.as_deref(), Some("src"));
    assert_eq!((got[2].id, got[2].timestamp), (Uuid::nil(), t));
    assert_eq!(got[2].metadata, [("k", "v")].into_iter().collect::<Metadata>());
    assert_eq!(got[2].name, "");
}

#[test]
fn seq_is_gap_free_under_concurrent_emitters() {
    let s = Signal::<u32>::new();
    let seqs = Arc::new(Mutex::new(Vec::new()));
    let q = seqs.clone();
    s.connect(move |ev: &Event<u32>| q.lock().unwrap().push(ev.seq));
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                for i in 0..5_000 {
                    s.emit(i);
                }
            });
        }
    });
    let mut seqs = seqs.lock().unwrap().clone();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=10_000).collect::<Vec<u64>>());
}

#[test]
fn failures_are_isolated_counted_and_reported() {
    let s = Signal::<u32>::new();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r2 = reports.clone();
    let _w = meta::failed().connect_scoped(move |f: &meta::ReceiverFailed| {
        if f.receiver == "boom" || f.receiver == "err" {
            r2.lock().unwrap().push((f.receiver.to_string(), f.message.clone()));
        }
    });
    let after = Arc::new(AtomicUsize::new(0));
    let a = after.clone();
    s.connect_with(ConnectOptions::new().name("boom").priority(2), |x: &u32| {
        assert!(*x > 100, "receiver exploded")
    });
    s.connect_with(ConnectOptions::new().name("err").priority(1), |x: &u32| {
        Err::<(), String>(format!("bad {x}"))
    });
    s.connect(move |_: &u32| {
        a.fetch_add(1, Ordering::Relaxed);
    });
    let r = s.emit(7);
    assert_eq!((r.delivered, r.failed), (1, 2));
    assert_eq!(after.load(Ordering::Relaxed), 1, "later receivers still ran");
    assert_eq!(s.failure_count(), 2);
    // Nothing is poisoned: the signal keeps working, connect still works.
    s.connect(|_: &u32| {});
    assert_eq!(s.emit(8).failed, 2);
    let reports = reports.lock().unwrap();
    assert_eq!(reports[0], ("boom".into(), "panicked: receiver exploded".into()));
    assert_eq!(reports[1], ("err".into(), "bad 7".into()));
}

#[test]
fn failing_failure_receiver_does_not_loop() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let _w = meta::failed().connect_scoped(move |f: &meta::ReceiverFailed| {
        if f.receiver == "loop-source" {
            c.fetch_add(1, Ordering::Relaxed);
            return Err("handler failed too");
        }
        Ok(())
    });
    let s = Signal::<()>::new();
    s.connect_with(ConnectOptions::new().name("loop-source"), |_: &()| Err::<(), _>("x"));
    s.emit(());
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn mute_is_reentrant_and_scoped() {
    let s = Signal::<()>::new();
    s.connect(|_: &()| {});
    {
        let _a = s.mute();
        {
            let _b = s.mute();
            assert!(s.is_muted());
        }
        assert!(s.is_muted());
        assert_eq!(s.emit(()).status, EmitStatus::Muted);
    }
    assert!(!s.is_muted());
    assert_eq!(s.emit(()).delivered, 1);
}

#[test]
fn receivers_may_connect_disconnect_and_emit_during_dispatch() {
    let s = Signal::<u32>::new();
    let other = Signal::<u32>::new();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    other.connect(move |_: &u32| {
        h.fetch_add(1, Ordering::Relaxed);
    });
    let s2 = s.clone();
    let o2 = other.clone();
    let slot: Arc<Mutex<Option<mesh::Connection>>> = Arc::default();
    let slot2 = slot.clone();
    let c = s.connect(move |x: &u32| {
        if *x < 3 {
            s2.emit(x + 1); // same signal, re-entrant
        }
        o2.emit(*x); // other signal
        s2.connect(|_: &u32| {}); // connect from inside
        if let Some(c) = slot2.lock().unwrap().take() {
            c.disconnect(); // disconnect itself from inside
        }
    });
    *slot.lock().unwrap() = Some(c);
    s.emit(0);
    // Depth first: 0 emits 1 emits 2 emits 3 on `s`. The innermost call (3)
    // emits on `other`, connects a receiver and disconnects itself; then
    // the calls for 2, 1 and 0 each emit on `other` and connect one more.
    assert_eq!(hits.load(Ordering::Relaxed), 4);
    assert_eq!(s.receiver_count(), 4, "the four receivers connected from inside");
}

#[test]
fn meta_connected_and_disconnected_fire_for_every_kind_of_removal() {
    let (log, push) = log();
    let p = push.clone();
    let _a = meta::connected().connect_scoped(move |c: &meta::ReceiverConnected| {
        if c.receiver.name.starts_with("m-") {
            p(format!("+{}", c.receiver.name))
        }
    });
    let _b = meta::disconnected().connect_scoped(move |d: &ReceiverDisconnected| {
        if d.receiver.name.starts_with("m-") {
            push(format!("-{} {:?}", d.receiver.name, d.reason))
        }
    });
    let s = Signal::<()>::new();
    let named = |n: &'static str| ConnectOptions::new().name(n);
    let c = s.connect_with(named("m-explicit"), |_: &()| {});
    let g = s.connect_with(named("m-scoped"), |_: &()| {}).scoped();
    s.connect_with(named("m-once").once(), |_: &()| {});
    let obj = Arc::new(());
    s.connect_weak_with(named("m-weak"), &obj, |_: &(), _: &()| {});
    s.connect_with(named("m-cleared"), |_: &()| {});
    c.disconnect();
    drop(g);
    s.emit(());
    drop(obj);
    s.emit(());
    s.disconnect_all();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "+m-explicit",
            "+m-scoped",
            "+m-once",
            "+m-weak",
            "+m-cleared",
            "-m-explicit Disconnected",
            "-m-scoped Disconnected",
            "-m-once Once",
            "-m-weak Expired",
            "-m-cleared Cleared",
        ]
    );
}

#[test]
fn ordered_signal_delivers_one_total_order() {
    let s = Signal::<u32>::with_config(SignalConfig::new().ordered());
    let a = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::new(Mutex::new(Vec::new()));
    let (a2, b2) = (a.clone(), b.clone());
    s.connect(move |ev: &Event<u32>| a2.lock().unwrap().push(ev.seq));
    s.connect(move |ev: &Event<u32>| {
        std::thread::yield_now();
        b2.lock().unwrap().push(ev.seq)
    });
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                for i in 0..2_000 {
                    s.emit(i);
                }
            });
        }
    });
    let a = a.lock().unwrap().clone();
    let b = b.lock().unwrap().clone();
    assert_eq!(a, (1..=4_000).collect::<Vec<u64>>(), "seq order, no gap");
    assert_eq!(a, b, "both receivers saw the same total order");
}

#[test]
fn ordered_signal_defers_reentrant_emit() {
    let s = Signal::<u32>::with_config(SignalConfig::new().ordered());
    let (log, push) = log();
    let s2 = s.clone();
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let st = statuses.clone();
    s.connect(move |ev: &Event<u32>| {
        push(format!("start {} #{}", ev.data, ev.seq));
        if ev.data == 0 {
            st.lock().unwrap().push(s2.emit(1).status);
        }
        push(format!("end {}", ev.data));
    });
    assert_eq!(s.emit(0).delivered, 1);
    assert_eq!(*statuses.lock().unwrap(), [EmitStatus::Deferred]);
    assert_eq!(*log.lock().unwrap(), ["start 0 #1", "end 0", "start 1 #2", "end 1"]);
}

#[test]
fn publisher_sees_connects_and_disconnects() {
    let s = Signal::<u32>::new();
    let mut p = s.publisher();
    assert_eq!(p.emit(1).status, EmitStatus::NoReceivers);
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let c = s.connect(move |x: &u32| {
        n2.fetch_add(*x as usize, Ordering::Relaxed);
    });
    assert_eq!(p.emit(2).delivered, 1);
    let _m = s.mute();
    assert_eq!(p.emit(100).status, EmitStatus::Muted);
    drop(_m);
    c.disconnect();
    assert_eq!(p.emit(4).status, EmitStatus::NoReceivers);
    assert_eq!(n.load(Ordering::Relaxed), 2);
    assert_eq!(p.signal().receiver_count(), 0);
}

#[test]
fn receiver_result_error_types() {
    #[derive(Debug)]
    struct MyErr;
    impl std::fmt::Display for MyErr {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("my error")
        }
    }
    let s = Signal::<()>::new();
    s.connect(|_: &()| Err::<(), _>(MyErr));
    s.connect(|_: &Event<()>| Ok::<(), std::io::Error>(()));
    let r = s.emit(());
    assert_eq!((r.delivered, r.failed), (1, 1));
}

fn handler_fn(_: &u64) {}

#[test]
fn plain_functions_connect() {
    let s = Signal::<u64>::new();
    s.connect(handler_fn);
    assert!(s.receivers()[0].name.ends_with("handler_fn"));
    assert_eq!(s.emit(1).delivered, 1);
}

#[test]
fn signal_is_send_sync_and_clone_shares() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Signal<String>>();
    assert_send_sync::<mesh::Connection>();
    assert_send_sync::<mesh::Publisher<String>>();
    let s = Signal::<u8>::new();
    let t = s.clone();
    t.connect(|_: &u8| {});
    assert_eq!(s.receiver_count(), 1);
}

#[test]
fn ordered_receiver_that_joins_an_emitting_thread_does_not_deadlock() {
    let s = Signal::<u32>::with_config(SignalConfig::new().ordered());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s2, log) = (s.clone(), seen.clone());
    s.connect(move |ev: &Event<u32>| {
        log.lock().unwrap().push(ev.data);
        if ev.data == 0 {
            let s3 = s2.clone();
            let status = std::thread::spawn(move || s3.emit(1).status).join().unwrap();
            assert_eq!(status, EmitStatus::Deferred);
        }
    });
    assert_eq!(s.emit(0).delivered, 1);
    assert_eq!(*seen.lock().unwrap(), [0, 1]);
}

#[test]
fn two_ordered_signals_emitting_into_each_other_do_not_deadlock() {
    let a = Signal::<u32>::with_config(SignalConfig::new().ordered());
    let b = Signal::<u32>::with_config(SignalConfig::new().ordered());
    let count = Arc::new(AtomicUsize::new(0));
    let (b2, c) = (b.clone(), count.clone());
    a.connect(move |x: &u32| {
        c.fetch_add(1, Ordering::Relaxed);
        if *x > 0 {
            b2.emit(x - 1);
        }
    });
    let (a2, c) = (a.clone(), count.clone());
    b.connect(move |x: &u32| {
        c.fetch_add(1, Ordering::Relaxed);
        if *x > 0 {
            a2.emit(x - 1);
        }
    });
    std::thread::scope(|sc| {
        sc.spawn(|| {
            for _ in 0..200 {
                a.emit(3);
            }
        });
        sc.spawn(|| {
            for _ in 0..200 {
                b.emit(3);
            }
        });
    });
    // Each emit of 3 causes 4 deliveries in all (3, 2, 1, 0).
    assert_eq!(count.load(Ordering::Relaxed), 2 * 200 * 4);
}

#[test]
fn a_panicking_one_shot_is_removed() {
    let s = Signal::<u32>::new();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r = reasons.clone();
    let _w = meta::disconnected().connect_scoped(move |d: &ReceiverDisconnected| {
        if d.receiver.name == "panicky-once" {
            r.lock().unwrap().push(d.reason);
        }
    });
    s.connect_with(ConnectOptions::new().once().name("panicky-once"), |x: &u32| {
        assert!(*x > 100, "one-shot exploded");
    });
    assert_eq!(s.emit(1).failed, 1);
    assert_eq!(s.receiver_count(), 0);
    assert_eq!(*reasons.lock().unwrap(), [DisconnectReason::Once]);
    assert_eq!(s.emit(2).status, EmitStatus::NoReceivers);
}

#[test]
fn a_filtered_skip_is_counted() {
    let s = Signal::<u32>::new();
    s.connect_from("db", |_: &u32| {});
    s.connect(|_: &u32| {});
    let r = s.emit(1);
    assert_eq!((r.delivered, r.skipped, r.failed), (1, 1, 0));
}

#[test]
fn weak_receivers_are_cleared_by_connect_without_any_emit() {
    let s = Signal::<u8>::new();
    let mut last = None;
    for _ in 0..100 {
        let obj = Arc::new([0u8; 64]);
        last = Some(s.connect_weak(&obj, |_: &[u8; 64], _: &u8| {}));
        drop(obj);
    }
    let c = last.unwrap();
    assert!(!c.is_connected(), "a dead weak receiver is not connected");
    s.connect(|_: &u8| {});
    assert_eq!(s.receivers().len(), 1, "connect swept the dead weak receivers");
}

#[test]
fn dropping_a_signal_reports_its_receivers() {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r = reasons.clone();
    let _w = meta::disconnected().connect_scoped(move |d: &ReceiverDisconnected| {
        if d.receiver.name == "dies-with-signal" {
            r.lock().unwrap().push(d.reason);
        }
    });
    let s = Signal::<u8>::new();
    s.connect_with(ConnectOptions::new().name("dies-with-signal"), |_: &u8| {});
    drop(s);
    assert_eq!(*reasons.lock().unwrap(), [DisconnectReason::SignalDropped]);
}

/// A deferred emit on an ordered signal gets its envelope (id, timestamp)
/// when it is emitted, not when the dispatcher reaches it.
#[test]
fn a_deferred_ordered_event_is_stamped_when_emitted() {
    use std::time::{Duration, SystemTime};
    let s = Signal::<u32>::with_config(mesh::SignalConfig::new().ordered());
    let weak = s.downgrade();
    let emitted_at = std::sync::Arc::new(std::sync::Mutex::new(None::<SystemTime>));
    let stamped = std::sync::Arc::new(std::sync::Mutex::new(None::<SystemTime>));
    let (e, st) = (emitted_at.clone(), stamped.clone());
    s.connect(move |ev: &mesh::Event<u32>| {
        if ev.data == 1 {
            let s = weak.upgrade().expect("alive");
            *e.lock().unwrap() = Some(SystemTime::now());
            assert_eq!(s.emit(2).status, mesh::EmitStatus::Deferred);
            std::thread::sleep(Duration::from_millis(50));
        } else {
            *st.lock().unwrap() = Some(ev.timestamp);
        }
    });
    s.emit(1);
    let emitted = emitted_at.lock().unwrap().expect("first event delivered");
    let stamp = stamped.lock().unwrap().expect("deferred event delivered");
    let lag = stamp.duration_since(emitted).unwrap_or(Duration::ZERO);
    assert!(lag < Duration::from_millis(25), "stamped {lag:?} after it was emitted");
}

/// A payload whose `Drop` panics unwinds out of an ordered dispatch (it is
/// not a receiver's panic, which is caught). The events queued behind it
/// are not lost: the next emit delivers them first, in order.
#[test]
fn an_unwinding_ordered_dispatch_loses_no_queued_event() {
    struct Bomb(u32);
    impl Drop for Bomb {
        fn drop(&mut self) {
            if self.0 == 2 && !std::thread::panicking() {
                panic!("a payload that panics when dropped");
            }
        }
    }
    let s = Signal::<Bomb>::with_config(mesh::SignalConfig::new().ordered());
    let weak = s.downgrade();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = log.clone();
    s.connect(move |b: &Bomb| {
        l.lock().unwrap().push(b.0);
        if b.0 == 1 {
            let s = weak.upgrade().expect("alive");
            s.emit(Bomb(2));
            s.emit(Bomb(3));
        }
    });
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.emit(Bomb(1))));
    std::panic::set_hook(hook);
    assert!(unwound.is_err(), "the drop's panic unwinds out of the emit");
    assert_eq!(*log.lock().unwrap(), [1, 2]);
    assert_eq!(s.emit(Bomb(4)).status, mesh::EmitStatus::Deferred);
    assert_eq!(*log.lock().unwrap(), [1, 2, 3, 4], "3 was put back, and goes before 4");
    assert_eq!(s.emit(Bomb(5)).delivered, 1, "the turn is free again");
}

/// Mute guards are counted in 32 bits: 70,000 live guards (more than 16
/// bits count) still mute.
#[test]
fn many_mute_guards_still_mute() {
    let s = Signal::<u8>::new();
    s.connect(|_: &u8| {});
    let guards: Vec<_> = (0..70_000).map(|_| s.mute()).collect();
    assert!(s.is_muted());
    assert_eq!(s.emit(1).status, mesh::EmitStatus::Muted);
    drop(guards);
    assert_eq!(s.emit(1).delivered, 1);
}
