//! Consumers that take their queue in batches (issue 10), pinned by the
//! review that found their first version's faults: an event handed out
//! takes no room (drop-oldest keeps the newest, reject and disconnect see
//! the room), `Shutdown::Discard` drops a driver's untouched batch, and
//! `emit_and_wait` under nested ordered turns returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use mesh::delivery::{Overflow, Queue, Shutdown};
use mesh::{Event, Signal, SignalConfig};
use mesh_test_support::block_on;

/// A future pending until `gate` is set.
fn gated(gate: Arc<AtomicBool>) -> impl Future<Output = ()> + Send {
    std::future::poll_fn(
        move |_cx| {
            if gate.load(Ordering::SeqCst) { Poll::Ready(()) } else { Poll::Pending }
        },
    )
}

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    f.poll(&mut cx)
}

/// (5) DropOldest, capacity 1, async receiver busy with the only event:
/// the newest event must survive (that is DropOldest's contract: "the
/// latest state matters"). Before 0166cec the item in flight did not
/// count against the bound.
#[test]
fn drop_oldest_keeps_the_newest_while_the_driver_is_busy() {
    let s = Signal::<u32>::new();
    let gate = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (g, log) = (gate.clone(), seen.clone());
    let (handle, driver) = s.connect_async(
        Queue::bounded(1).overflow(Overflow::DropOldest),
        move |ev: Arc<Event<u32>>| {
            let (g, log) = (g.clone(), log.clone());
            async move {
                log.lock().unwrap().push(ev.data);
                if ev.data == 1 {
                    gated(g).await;
                }
            }
        },
    );
    let mut driver = Box::pin(driver);
    s.emit(1);
    assert!(poll_once(driver.as_mut()).is_pending()); // handling 1
    let r2 = s.emit(2);
    let r3 = s.emit(3);
    gate.store(true, Ordering::SeqCst);
    assert!(poll_once(driver.as_mut()).is_pending());
    let st = handle.stats();
    assert_eq!(*seen.lock().unwrap(), [1, 3], "r2={r2:?} r3={r3:?} stats={st:?}");
}

/// (5') Disconnect, capacity 1: an async receiver busy with one event is
/// disconnected by the next emit although its queue is empty.
#[test]
fn a_busy_driver_is_not_disconnected_by_one_more_event() {
    let s = Signal::<u32>::new();
    let gate = Arc::new(AtomicBool::new(false));
    let g = gate.clone();
    let (handle, driver) = s.connect_async(
        Queue::bounded(1).overflow(Overflow::Disconnect),
        move |ev: Arc<Event<u32>>| {
            let g = g.clone();
            async move {
                if ev.data == 1 {
                    gated(g).await;
                }
            }
        },
    );
    let mut driver = Box::pin(driver);
    s.emit(1);
    assert!(poll_once(driver.as_mut()).is_pending());
    let r = s.emit(2);
    assert!(
        handle.is_connected(),
        "disconnected by one event while the queue was empty: {r:?} {:?}",
        handle.stats()
    );
}

/// (1') A Subscription has taken event 1 out (stats: processed 1, len 1,
/// in_flight 0, capacity 2) yet the next emit is refused as if full.
#[test]
fn room_is_made_when_an_event_is_handed_out() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(2).overflow(Overflow::Reject));
    s.emit(1);
    s.emit(2);
    assert_eq!(sub.try_recv().unwrap().data, 1);
    let st = sub.stats();
    assert_eq!((st.len, st.in_flight, st.capacity), (1, 0, 2));
    let r = s.emit(3);
    assert_eq!(r.rejected, 0, "rejected with stats {st:?} (len 1 of 2)");
}

/// (1'') Shutdown::Discard while an async receiver holds a batch: the
/// rest of its batch should be dropped, not handled after the discard.
#[test]
fn discard_drops_what_a_driver_took_and_did_not_start() {
    let s = Signal::<u32>::new();
    let gate = Arc::new(AtomicBool::new(false));
    let handled = Arc::new(AtomicUsize::new(0));
    let (g, h) = (gate.clone(), handled.clone());
    let (handle, driver) = s.connect_async(
        Queue::bounded(8).overflow(Overflow::DropNewest),
        move |ev: Arc<Event<u32>>| {
            let (g, h) = (g.clone(), h.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                if ev.data == 1 {
                    gated(g).await;
                }
            }
        },
    );
    let mut driver = Box::pin(driver);
    for n in 1..=5 {
        s.emit(n);
    }
    assert!(poll_once(driver.as_mut()).is_pending()); // took [1..5], handling 1
    handle.disconnect(Shutdown::Discard);
    gate.store(true, Ordering::SeqCst);
    assert!(poll_once(driver.as_mut()).is_ready());
    let st = handle.stats();
    assert_eq!(
        st.offered,
        st.processed + st.dropped + st.rejected + st.len as u64 + st.in_flight as u64
    );
    assert_eq!(handled.load(Ordering::SeqCst), 1, "handled after Discard: {st:?}");
}

/// (HELD_TURN) Nested ordered turns: A's receiver emits on ordered B, B's
/// receiver awaits emit_and_wait on A. A's event is deferred to A's turn,
/// held further up this very stack: the wait never ends.
#[test]
fn emit_and_wait_under_a_nested_ordered_turn_returns() {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let a = Signal::<u32>::with_config(SignalConfig::new().ordered());
        let b = Signal::<u32>::with_config(SignalConfig::new().ordered());
        let mut sub = a.subscribe(Queue::bounded(8));
        let (a2, b2) = (a.clone(), b.clone());
        a.connect(move |x: &u32| {
            if *x == 0 {
                b2.emit(0);
            }
        });
        b.connect(move |_x: &u32| {
            let _ = block_on(a2.emit_and_wait(7));
        });
        a.emit(0);
        let _ = sub.try_recv();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(3)).is_ok(),
        "emit_and_wait under a nested turn hung"
    );
}
