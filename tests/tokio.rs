//! The `tokio` feature (issue 10): `#[receiver] async fn`s spawn on the
//! runtime that first uses their signal; subscriptions and async emits
//! inside a runtime; a blocking emit on a single-threaded runtime is
//! refused instead of deadlocking.
#![cfg(feature = "tokio")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mesh::delivery::{Overflow, Queue};
use mesh::prelude::*;

#[signal]
#[derive(Debug, Clone)]
pub struct Ping(pub u64);

static SUM: AtomicU64 = AtomicU64::new(0);

#[receiver(queue = 4, overflow = block)]
async fn on_ping(ping: &Ping) {
    tokio::time::sleep(Duration::from_millis(1)).await;
    SUM.fetch_add(ping.0, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_receivers_spawn_on_the_current_runtime() {
    for n in 1..=20 {
        // Awaits room in the receiver's queue of 4 instead of blocking.
        let r = Ping::signal().emit_async(Ping(n)).await;
        assert_eq!(r.queued, 1);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while SUM.load(Ordering::SeqCst) != 210 {
        assert!(tokio::time::Instant::now() < deadline, "sum {}", SUM.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn recv_in_select_loses_nothing() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(8));
    let mut got = Vec::new();
    for round in 0..3u32 {
        // A recv that loses the race to a timer is dropped mid-wait...
        tokio::select! {
            ev = sub.recv() => panic!("nothing was emitted, got {:?}", ev.map(|e| e.data)),
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
        s.emit(round);
        // ...and the event emitted after it is not lost.
        got.push(sub.recv().await.unwrap().data);
    }
    assert_eq!(got, [0, 1, 2]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocking_emit_on_a_single_threaded_runtime_is_refused() {
    let s = Signal::<u32>::new();
    let seen = Arc::new(AtomicU64::new(0));
    let log = seen.clone();
    let (handle, driver) = s.connect_async(
        Queue::bounded(1).overflow(Overflow::block()),
        move |ev: Arc<Event<u32>>| {
            let log = log.clone();
            async move {
                log.fetch_add(u64::from(ev.data), Ordering::SeqCst);
            }
        },
    );
    let task = tokio::spawn(driver);
    assert_eq!(s.emit(1).queued, 1);
    // The driver runs on this very thread: waiting would never end.
    let r = s.emit(2);
    assert_eq!((r.queued, r.rejected), (0, 1));
    // From async code, `emit_async` waits for room without blocking.
    assert_eq!(s.emit_async(3).await.queued, 1);
    handle.disconnect(mesh::delivery::Shutdown::Drain);
    task.await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 4);
    assert_eq!(handle.stats().rejected, 1);
}
