//! Queued receivers, subscriptions and async receivers (issue 10): every
//! overflow policy, the accounting, cancel safety, replay, the emit forms
//! for async code, failure isolation and the deadlock guard.

use std::collections::HashSet;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use mesh::delivery::{Overflow, Queue, RecvTimeoutError, Shutdown, TryRecvError};
use mesh::{DisconnectReason, EmitStatus, Event, ScopedConnection, Signal, SignalConfig, meta};
use mesh_test_support::block_on;

/// Polls `f` once with a waker that counts its wakes.
struct Counted(AtomicUsize);

impl Wake for Counted {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Counted>, Waker) {
    let c = Arc::new(Counted(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// The `mesh.receiver.lagged` reports about signal `sid`, while the
/// returned guard lives.
fn lag_reports(sid: u64) -> (ScopedConnection, Arc<Mutex<Vec<meta::ReceiverLagged>>>) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = reports.clone();
    let watch = meta::lagged().connect_scoped(move |l: &meta::ReceiverLagged| {
        if l.signal_id == sid {
            r.lock().unwrap().push(l.clone());
        }
    });
    (watch, reports)
}

// ----- policies ----------------------------------------------------------------

#[test]
fn drop_oldest_keeps_the_newest_and_counts_the_rest() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(3).overflow(Overflow::DropOldest));
    let mut dropped = 0;
    for n in 1..=10 {
        let r = s.emit(n);
        assert_eq!(r.queued, 1);
        dropped += r.dropped;
    }
    assert_eq!(dropped, 7);
    let got: Vec<u32> = std::iter::from_fn(|| sub.try_recv().ok()).map(|e| e.data).collect();
    assert_eq!(got, [8, 9, 10]);
    let st = sub.stats();
    assert_eq!((st.offered, st.processed, st.dropped, st.rejected, st.len), (10, 3, 7, 0, 0));
    assert_eq!(st.high_water, 3);
}

#[test]
fn drop_newest_keeps_the_oldest() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(2).overflow(Overflow::DropNewest));
    let results: Vec<_> = (1..=4).map(|n| s.emit(n)).collect();
    assert_eq!(
        results.iter().map(|r| (r.queued, r.dropped)).collect::<Vec<_>>(),
        [(1, 0), (1, 0), (0, 1), (0, 1)]
    );
    assert_eq!(sub.try_recv().unwrap().data, 1);
    assert_eq!(sub.try_recv().unwrap().data, 2);
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
}

#[test]
fn reject_tells_the_emitter() {
    let s = Signal::<u32>::new();
    let sync_calls = Arc::new(AtomicUsize::new(0));
    let c = sync_calls.clone();
    s.connect(move |_: &u32| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::Reject));
    let a = s.emit(1);
    assert_eq!((a.delivered, a.queued, a.rejected), (1, 1, 0));
    let b = s.emit(2);
    assert_eq!((b.delivered, b.queued, b.rejected), (1, 0, 1));
    // The synchronous receiver ran both times: a full queue delays no one.
    assert_eq!(sync_calls.load(Ordering::Relaxed), 2);
    assert_eq!(sub.try_recv().unwrap().data, 1);
    assert_eq!(sub.stats().rejected, 1);
}

#[test]
fn block_waits_for_room() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::block()));
    let emitter = {
        let s = s.clone();
        thread::spawn(move || (1..=50).map(|n| s.emit(n).queued).sum::<u32>())
    };
    let mut got = Vec::new();
    while got.len() < 50 {
        got.push(sub.recv_timeout(Duration::from_secs(10)).expect("an event").data);
    }
    assert_eq!(emitter.join().unwrap(), 50);
    assert_eq!(got, (1..=50).collect::<Vec<_>>());
    let st = sub.stats();
    assert_eq!((st.offered, st.processed, st.dropped, st.rejected), (50, 50, 0, 0));
    assert!(st.high_water <= 1);
}

#[test]
fn a_saturated_blocking_queue_is_counted_and_reported() {
    let s = Signal::<u32>::new();
    let (_watch, reports) = lag_reports(s.id());
    let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::block()));
    let emitter = {
        let s = s.clone();
        thread::spawn(move || (s.emit(1).queued, s.emit(2).queued))
    };
    thread::sleep(Duration::from_millis(50)); // the second emit waits
    assert_eq!(sub.recv_blocking().unwrap().data, 1);
    assert_eq!(emitter.join().unwrap(), (1, 1));
    assert_eq!(sub.try_recv().unwrap().data, 2);
    assert_eq!(sub.stats().waited, 1);
    let counts: Vec<_> =
        reports.lock().unwrap().iter().map(|l| (l.waited, l.dropped, l.rejected)).collect();
    assert_eq!(counts, [(1, 0, 0)]);
}

#[test]
fn block_with_a_timeout_gives_up_and_counts_it() {
    let s = Signal::<u32>::new();
    let sub =
        s.subscribe(Queue::bounded(1).overflow(Overflow::block_for(Duration::from_millis(20))));
    assert_eq!(s.emit(1).queued, 1);
    // From another thread: on the subscribing thread a blocking emit is
    // refused at once (it would wait for itself).
    let emitter = {
        let s = s.clone();
        thread::spawn(move || {
            let start = Instant::now();
            (s.emit(2), start.elapsed())
        })
    };
    let (r, waited) = emitter.join().unwrap();
    assert!(waited >= Duration::from_millis(20));
    assert_eq!((r.queued, r.rejected), (0, 1));
    assert_eq!(sub.stats().rejected, 1);
}

#[test]
fn a_blocking_emit_on_the_consumers_own_thread_is_refused_not_a_deadlock() {
    let s = Signal::<u32>::new();
    let (_watch, reports) = lag_reports(s.id());
    let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::block()).name("mine"));
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty); // this thread consumes
    assert_eq!(s.emit(1).queued, 1);
    let r = s.emit(2); // would wait for this very thread
    assert_eq!((r.queued, r.rejected), (0, 1));
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].would_deadlock);
    assert_eq!(reports[0].receiver, "mine");
    drop(reports);
    assert_eq!(sub.try_recv().unwrap().data, 1);
}

#[test]
fn disconnect_policy_removes_the_receiver_and_lets_it_drain() {
    let s = Signal::<u32>::new();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r = reasons.clone();
    let sid = s.id();
    let _watch = meta::disconnected().connect_scoped(move |d: &meta::ReceiverDisconnected| {
        if d.signal_id == sid {
            r.lock().unwrap().push(d.reason);
        }
    });
    let mut sub = s.subscribe(Queue::bounded(2).overflow(Overflow::Disconnect));
    s.emit(1);
    s.emit(2);
    let r = s.emit(3);
    assert_eq!((r.queued, r.dropped), (0, 1));
    assert_eq!(s.receiver_count(), 0);
    assert!(!sub.is_connected());
    assert_eq!(*reasons.lock().unwrap(), [DisconnectReason::Overflow]);
    assert_eq!(s.emit(4).queued, 0);
    let got: Vec<u32> = std::iter::from_fn(|| sub.recv_blocking()).map(|e| e.data).collect();
    assert_eq!(got, [1, 2]);
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Closed);
    let st = sub.stats();
    assert_eq!((st.offered, st.processed, st.dropped), (3, 2, 1));
}

#[test]
fn unbounded_is_capped_by_memory() {
    let s = Signal::<[u64; 8]>::new();
    let per_event = size_of::<Event<[u64; 8]>>() + 2 * size_of::<usize>();
    let sub = s.subscribe(Queue::unbounded(10 * per_event).overflow(Overflow::DropNewest));
    for _ in 0..100 {
        s.emit([0; 8]);
    }
    let st = sub.stats();
    assert_eq!((st.capacity, st.len, st.dropped), (10, 10, 90));
}

// ----- subscriptions -----------------------------------------------------------

#[test]
fn dropping_a_subscription_disconnects_it() {
    let s = Signal::<u32>::new();
    let sub = s.subscribe(Queue::bounded(4));
    assert_eq!(s.receiver_count(), 1);
    drop(sub);
    assert_eq!(s.receiver_count(), 0);
    assert_eq!(s.emit(1).status, EmitStatus::NoReceivers);
}

#[test]
fn close_drains_then_ends_the_stream() {
    use futures_core::Stream;
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(8));
    s.emit(1);
    s.emit(2);
    sub.close();
    assert_eq!(s.emit(3).queued, 0);
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut got = Vec::new();
    loop {
        match std::pin::Pin::new(&mut sub).poll_next(&mut cx) {
            Poll::Ready(Some(ev)) => got.push(ev.data),
            Poll::Ready(None) => break,
            Poll::Pending => panic!("a closed stream never waits"),
        }
    }
    assert_eq!(got, [1, 2]);
}

#[test]
fn a_pending_recv_is_woken_by_an_emit() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(8));
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    {
        let mut recv = pin!(sub.recv());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
        s.emit(7);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        match recv.as_mut().poll(&mut cx) {
            Poll::Ready(Some(ev)) => assert_eq!(ev.data, 7),
            other => panic!("expected the event, got {:?}", other.map(|o| o.map(|e| e.data))),
        }
    }
}

#[test]
fn recv_is_cancel_safe() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(8));
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    // A recv that loses a select: polled while empty, then dropped.
    {
        let mut recv = pin!(sub.recv());
        assert!(recv.as_mut().poll(&mut cx).is_pending());
    }
    s.emit(1);
    // Another that is dropped without being polled again after the emit.
    {
        let _recv = sub.recv();
    }
    s.emit(2);
    let got: Vec<u32> = std::iter::from_fn(|| sub.try_recv().ok()).map(|e| e.data).collect();
    assert_eq!(got, [1, 2], "nothing lost to a cancelled recv");
}

#[test]
fn one_envelope_is_shared_by_every_queue_and_needs_no_clone() {
    struct NotClone(u32);
    let s = Signal::<NotClone>::new();
    let mut a = s.subscribe(Queue::bounded(4));
    let mut b = s.subscribe(Queue::bounded(4));
    s.emit(NotClone(5));
    let (ea, eb) = (a.try_recv().unwrap(), b.try_recv().unwrap());
    assert!(Arc::ptr_eq(&ea, &eb));
    assert_eq!(ea.data.0, 5);
    assert_ne!(ea.id, mesh::Uuid::nil());
    assert_eq!(ea.seq, 1);
}

#[test]
fn payload_only_queues_build_no_id_and_read_no_clock() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(4).payload_only());
    s.emit(1);
    let ev = sub.try_recv().unwrap();
    assert_eq!(ev.data, 1);
    assert_eq!(ev.id, mesh::Uuid::nil());
    assert_eq!(ev.timestamp, std::time::SystemTime::UNIX_EPOCH);
    // With a receiver that reads the envelope, it is built in full.
    let _c = s.connect(|_: &Event<u32>| {});
    s.emit(2);
    assert_ne!(sub.try_recv().unwrap().id, mesh::Uuid::nil());
}

#[test]
fn a_slow_subscriber_delays_no_other() {
    let s = Signal::<u32>::new();
    let _stalled = s.subscribe(Queue::bounded(1).overflow(Overflow::DropOldest));
    let mut live = s.subscribe(Queue::bounded(1000));
    for n in 0..1000 {
        s.emit(n);
    }
    assert_eq!(live.stats().len, 1000);
    assert_eq!(live.try_recv().unwrap().data, 0);
}

#[test]
fn replay_then_live_without_gap_or_duplicate() {
    let s = Signal::<u64>::with_config(SignalConfig::new().history(64));
    for n in 0..10 {
        s.emit(n);
    }
    let emitter = {
        let s = s.clone();
        thread::spawn(move || {
            for n in 10..2000 {
                s.emit(n);
            }
        })
    };
    let mut sub = s.subscribe(Queue::bounded(4096).replay());
    emitter.join().unwrap();
    sub.close();
    let got: Vec<u64> = std::iter::from_fn(|| sub.recv_blocking()).map(|e| e.data).collect();
    // The history (the last 64 at the time) first, then live: one run of
    // consecutive events to the last, none missing, none twice.
    let first = got[0];
    assert_eq!(got, (first..2000).collect::<Vec<_>>());
    assert!(got.len() >= 64, "the history was replayed");
}

#[test]
fn an_ordered_signal_queues_in_seq_order() {
    let s = Signal::<u64>::with_config(SignalConfig::new().ordered());
    let mut sub = s.subscribe(Queue::bounded(100_000));
    let emitters: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            thread::spawn(move || {
                for n in 0..2000 {
                    s.emit(t * 10_000 + n);
                }
            })
        })
        .collect();
    for e in emitters {
        e.join().unwrap();
    }
    sub.close();
    let seqs: Vec<u64> = std::iter::from_fn(|| sub.recv_blocking()).map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=8000).collect::<Vec<_>>());
}

// ----- accounting under stress ------------------------------------------------------

#[test]
fn accounting_holds_under_concurrent_emitters_and_slow_subscribers() {
    const EMITTERS: u64 = 4;
    const PER: u64 = 5_000;
    let s = Signal::<(u64, u64)>::new();
    let policies = [
        Overflow::DropOldest,
        Overflow::DropNewest,
        Overflow::Reject,
        Overflow::block_for(Duration::from_micros(200)),
        Overflow::block(),
    ];
    let consumers: Vec<_> = policies
        .iter()
        .enumerate()
        .map(|(i, &policy)| {
            let mut sub = s.subscribe(Queue::bounded(16).overflow(policy));
            thread::spawn(move || {
                let mut seen = HashSet::new();
                let mut last = [None::<u64>; EMITTERS as usize];
                let mut n = 0u64;
                while let Some(ev) = sub.recv_blocking() {
                    let (t, k) = ev.data;
                    assert!(seen.insert(ev.data), "delivered twice: {:?}", ev.data);
                    // FIFO per emitter.
                    assert!(last[t as usize].is_none_or(|l| l < k), "out of order");
                    last[t as usize] = Some(k);
                    n += 1;
                    if i < 4 && n % 64 == 0 {
                        thread::sleep(Duration::from_micros(100)); // slow
                    }
                }
                (policy, sub.stats(), seen.len() as u64)
            })
        })
        .collect();
    let totals: (u64, u64, u64) = (0..EMITTERS)
        .map(|t| {
            let s = s.clone();
            thread::spawn(move || {
                let mut sum = (0u64, 0u64, 0u64);
                for k in 0..PER {
                    let r = s.emit((t, k));
                    sum.0 += u64::from(r.queued);
                    sum.1 += u64::from(r.dropped);
                    sum.2 += u64::from(r.rejected);
                }
                sum
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0, 0), |a: (u64, u64, u64), b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    s.disconnect_all();
    let mut offered_sum = 0;
    let (mut dropped_sum, mut rejected_sum, mut dropped_newest) = (0, 0, 0);
    for c in consumers {
        let (policy, st, received) = c.join().unwrap();
        assert_eq!(st.offered, EMITTERS * PER, "{policy:?}");
        assert_eq!(
            st.processed + st.dropped + st.rejected + st.len as u64 + st.in_flight as u64,
            st.offered,
            "{policy:?}: {st:?}"
        );
        assert_eq!(st.processed, received, "{policy:?}");
        assert!(st.high_water <= 16);
        if policy == Overflow::block() {
            assert_eq!((st.dropped, st.rejected), (0, 0), "blocking loses nothing");
        }
        if policy == Overflow::DropNewest {
            dropped_newest = st.dropped;
        }
        offered_sum += st.offered;
        dropped_sum += st.dropped;
        rejected_sum += st.rejected;
    }
    // What the emitters were told matches what the queues counted: each
    // offer was queued (a drop-oldest too), dropped as the newest, or
    // refused.
    let (queued, dropped, rejected) = totals;
    assert_eq!(dropped, dropped_sum);
    assert_eq!(rejected, rejected_sum);
    assert_eq!(queued + dropped_newest + rejected, offered_sum);
}

// ----- emitting from async code --------------------------------------------------

#[test]
fn try_emit_is_all_or_nothing() {
    let s = Signal::<u32>::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    s.connect(move |_: &u32| {
        r.fetch_add(1, Ordering::Relaxed);
    });
    let mut roomy = s.subscribe(Queue::bounded(8).overflow(Overflow::Reject).name("roomy"));
    let mut tight = s.subscribe(Queue::bounded(1).overflow(Overflow::Reject).name("tight"));
    let lossy = s.subscribe(Queue::bounded(1).overflow(Overflow::DropOldest));
    assert_eq!(s.try_emit(1).unwrap().queued, 3);
    let err = s.try_emit(2).unwrap_err();
    assert_eq!(err.receiver(), "tight");
    assert_eq!(err.to_string(), "the queue of receiver `tight` is full: nothing was emitted");
    assert_eq!(err.into_inner(), 2);
    assert_eq!(ran.load(Ordering::Relaxed), 1, "no side effect");
    assert_eq!(roomy.stats().offered, 1);
    assert_eq!(lossy.stats().offered, 1);
    assert_eq!(tight.try_recv().unwrap().data, 1);
    assert!(s.try_emit(3).is_ok());
    assert_eq!(roomy.try_recv().unwrap().data, 1);
    assert_eq!(roomy.try_recv().unwrap().data, 3);
}

#[test]
fn try_emit_reservations_hold_against_concurrent_emits() {
    let s = Signal::<u32>::new();
    let sub = s.subscribe(Queue::bounded(64).overflow(Overflow::Reject));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            thread::spawn(move || (0..100).filter(|&n| s.try_emit(n).is_ok()).count())
        })
        .collect();
    let ok: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let st = sub.stats();
    assert_eq!(ok, 64);
    assert_eq!((st.len, st.rejected, st.offered), (64, 0, 64));
}

#[test]
fn emit_async_awaits_room_instead_of_blocking() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::block()));
    assert_eq!(s.emit(1).queued, 1);
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(s.emit_async(2));
    assert!(fut.as_mut().poll(&mut cx).is_pending(), "full: waits, without blocking");
    assert_eq!(sub.try_recv().unwrap().data, 1);
    assert!(wakes.0.load(Ordering::SeqCst) >= 1, "room wakes the emitter");
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(r) => assert_eq!(r.queued, 1),
        Poll::Pending => panic!("room was made"),
    }
    assert_eq!(sub.try_recv().unwrap().data, 2);
}

#[test]
fn emit_and_wait_returns_once_every_queue_processed_it() {
    let s = Signal::<u32>::new();
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let (handle, driver) = s.connect_async(Queue::bounded(8), move |ev: Arc<Event<u32>>| {
        let d = d.clone();
        async move {
            thread::sleep(Duration::from_millis(20));
            d.fetch_add(ev.data as usize, Ordering::SeqCst);
        }
    });
    let runner = thread::spawn(move || block_on(driver));
    let r = block_on(s.emit_and_wait(5));
    assert_eq!(r.queued, 1);
    assert_eq!(done.load(Ordering::SeqCst), 5, "processed before emit_and_wait returned");
    handle.disconnect(Shutdown::Drain);
    runner.join().unwrap();
    let st = handle.stats();
    assert_eq!((st.offered, st.processed, st.in_flight), (1, 1, 0));
}

#[test]
fn emit_and_wait_with_no_queue_returns_at_once() {
    let s = Signal::<u32>::new();
    s.connect(|_: &u32| {});
    assert_eq!(block_on(s.emit_and_wait(1)).delivered, 1);
}

// ----- async receivers -------------------------------------------------------------

#[test]
fn async_receivers_are_isolated_from_failures() {
    let s = Signal::<u32>::new();
    let sid = s.id();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let f = failures.clone();
    let _watch = meta::failed().connect_scoped(move |e: &meta::ReceiverFailed| {
        if e.signal_id == sid {
            f.lock().unwrap().push(e.message.clone());
        }
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let (handle, driver) =
        s.connect_async(Queue::bounded(8).name("flaky"), move |ev: Arc<Event<u32>>| {
            let log = log.clone();
            async move {
                match ev.data {
                    2 => panic!("two"),
                    3 => Err("three".to_string()),
                    n => {
                        log.lock().unwrap().push(n);
                        Ok(())
                    }
                }
            }
        });
    for n in 1..=4 {
        s.emit(n);
    }
    handle.disconnect(Shutdown::Drain);
    block_on(driver);
    assert_eq!(*seen.lock().unwrap(), [1, 4]);
    assert_eq!(s.failure_count(), 2);
    let failures = failures.lock().unwrap();
    assert_eq!(failures.len(), 2);
    assert!(failures[0].contains("two"));
    assert_eq!(failures[1], "three");
    assert_eq!(handle.stats().processed, 4);
}

#[test]
fn dropping_a_driver_disconnects_and_counts_what_was_queued() {
    let s = Signal::<u32>::new();
    let (handle, driver) = s.connect_async(Queue::bounded(8), |_: Arc<Event<u32>>| async {});
    s.emit(1);
    s.emit(2);
    drop(driver);
    assert_eq!(s.receiver_count(), 0);
    let st = handle.stats();
    assert_eq!((st.offered, st.dropped, st.len, st.closed), (2, 2, 0, true));
    assert!(!handle.is_connected());
}

#[test]
fn shutdown_discard_drops_what_is_queued() {
    let s = Signal::<u32>::new();
    let (handle, driver) = s.connect_async(Queue::bounded(8), |_: Arc<Event<u32>>| async {});
    s.emit(1);
    assert!(handle.disconnect(Shutdown::Discard));
    block_on(driver);
    let st = handle.stats();
    assert_eq!((st.processed, st.dropped), (0, 1));
}

#[test]
fn an_async_receiver_on_another_thread_sees_every_event_in_order() {
    let s = Signal::<u32>::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let (handle, driver) = s.connect_async(
        Queue::bounded(4).overflow(Overflow::block()),
        move |ev: Arc<Event<u32>>| {
            let log = log.clone();
            async move { log.lock().unwrap().push(ev.data) }
        },
    );
    let runner = thread::spawn(move || block_on(driver));
    for n in 0..1000 {
        assert_eq!(s.emit(n).queued, 1);
    }
    handle.disconnect(Shutdown::Drain);
    runner.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..1000).collect::<Vec<_>>());
}

#[test]
fn lag_reports_are_coalesced() {
    let s = Signal::<u32>::new();
    let (_watch, reports) = lag_reports(s.id());
    let sub = s.subscribe(Queue::bounded(1).overflow(Overflow::DropNewest));
    let start = Instant::now();
    for n in 0..10_000 {
        s.emit(n);
    }
    let elapsed = start.elapsed();
    let reports = reports.lock().unwrap();
    let allowed = 1 + (elapsed.as_millis() / 100) as usize;
    assert!(!reports.is_empty() && reports.len() <= allowed, "{} reports", reports.len());
    let reported: u64 = reports.iter().map(|r| r.dropped).sum();
    assert!(reported >= 1 && reported <= sub.stats().dropped);
    assert_eq!(sub.stats().dropped, 9_999);
}

#[test]
fn recv_timeout_times_out() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(1));
    assert_eq!(sub.recv_timeout(Duration::from_millis(10)).unwrap_err(), RecvTimeoutError::Timeout);
    drop(s);
    assert_eq!(sub.recv_timeout(Duration::from_millis(10)).unwrap_err(), RecvTimeoutError::Closed);
}
