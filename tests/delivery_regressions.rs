//! Bugs found by review of the delivery layer (issue 10), each pinned by
//! the test that showed it: promises on ordered signals, the wide summary
//! stash, waits on a consumer's own thread or task, and deadline overflow.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Waker};
use std::thread;
use std::time::Duration;

use mesh::delivery::{Overflow, Queue};
use mesh::{Event, Signal, SignalConfig};
use mesh_test_support::{block_on, yield_once};

/// Runs `f` on a thread; `true` if it finished within `secs`.
fn finishes_within(secs: u64, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(secs)).is_ok()
}

#[test]
fn try_emit_on_an_ordered_signal_is_all_or_nothing() {
    // A receiver of an ordered signal calls `try_emit` on it: the events
    // are deferred to this turn's batch, and must still land where room
    // was reserved for them (before: the reservation was withdrawn when
    // `try_emit` returned, and the queue refused them later).
    let s = Signal::<u32>::with_config(SignalConfig::new().ordered());
    let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::Reject).priority(-10));
    let oks = Arc::new(Mutex::new(Vec::new()));
    let (s2, o2) = (s.clone(), oks.clone());
    s.connect(move |x: &u32| {
        if *x == 0 {
            for n in [100, 101] {
                if s2.try_emit(n).is_ok() {
                    o2.lock().unwrap().push(n);
                }
            }
        }
    });
    let _ = s.emit(0);
    // Room for one: 100 reserved it (so the plain emit of 0, arriving at
    // the queue after, found it taken); 101 failed and went nowhere.
    assert_eq!(*oks.lock().unwrap(), [100]);
    assert_eq!(sub.try_recv().unwrap().data, 100);
    let st = sub.stats();
    assert_eq!((st.offered, st.rejected, st.len), (2, 1, 0), "{st:?}");
}

#[test]
fn emit_and_wait_on_a_busy_ordered_signal_waits_for_delivery() {
    // Another thread holds the ordered signal's turn: `emit_and_wait`'s
    // event is deferred to it, and the wait must last until the event is
    // delivered and taken (before: it returned at once).
    let s = Signal::<u32>::with_config(SignalConfig::new().ordered());
    let mut sub = s.subscribe(Queue::bounded(8));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    s.connect(move |x: &u32| {
        if *x == 0 {
            entered_tx.send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
        }
    });
    let s2 = s.clone();
    let holder = thread::spawn(move || s2.emit(0));
    entered_rx.recv().unwrap(); // `holder` holds the turn
    let taken = Arc::new(AtomicUsize::new(0));
    let t2 = taken.clone();
    let consumer = thread::spawn(move || {
        while let Some(ev) = sub.recv_blocking() {
            if ev.data == 1 {
                t2.store(1, Ordering::SeqCst);
                break;
            }
        }
    });
    let release = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        go_tx.send(()).unwrap();
    });
    let start = std::time::Instant::now();
    let r = block_on(s.emit_and_wait(1));
    // The turn was released 50 ms in: event 1 could not be delivered, let
    // alone taken, before that.
    assert!(start.elapsed() >= Duration::from_millis(50), "returned ({:?}) at once", r.status);
    release.join().unwrap();
    holder.join().unwrap();
    consumer.join().unwrap();
    assert_eq!(taken.load(Ordering::SeqCst), 1);
}

#[test]
fn a_blocking_emit_before_the_first_recv_on_the_subscribing_thread_is_refused() {
    let ok = finishes_within(3, || {
        let s = Signal::<u32>::new();
        let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::block()));
        s.emit(1);
        s.emit(2); // same thread that will consume: should be refused
        let _ = sub.try_recv();
    });
    assert!(ok, "deadlocked: emit blocked on the thread that owns the only consumer");
}

#[test]
fn replay_into_a_small_blocking_queue_returns() {
    let ok = finishes_within(3, || {
        let s = Signal::<u32>::with_config(SignalConfig::new().history(4));
        for n in 0..4 {
            s.emit(n);
        }
        let _sub = s.subscribe(Queue::bounded(2).overflow(Overflow::block()).replay());
    });
    assert!(ok, "subscribe() never returned: replay blocked on its own consumer");
}

#[test]
fn a_wide_summary_survives_an_ordered_batch() {
    let s = Signal::<u32>::with_config(SignalConfig::new().ordered());
    let subs: Vec<_> = (0..300).map(|_| s.subscribe(Queue::bounded(4))).collect();
    let s2 = s.clone();
    s.connect(move |x: &u32| {
        if *x == 0 {
            s2.emit(1); // deferred: delivered in this turn's batch
        }
    });
    let r = s.emit(0);
    assert_eq!(subs[0].stats().offered, 2);
    assert_eq!(r.queued, 300, "Emitted lost its queue counts: {r:?}");
}

/// Connects an async receiver, on a queue made by `queue`, that runs
/// `on_zero` with its own signal when it gets event 0; emits 0, and says
/// whether `on_zero` finished within 3 s.
fn own_receiver_returns<F, Fut>(queue: Queue, on_zero: F) -> bool
where
    F: Fn(Signal<u32>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let s = Signal::<u32>::new();
    let s2 = s.clone();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let on_zero = Arc::new(on_zero);
    let (_handle, driver) = s.connect_async(queue, move |ev: Arc<Event<u32>>| {
        let (s2, on_zero) = (s2.clone(), on_zero.clone());
        let tx = tx.lock().unwrap().clone();
        async move {
            if ev.data == 0 {
                on_zero(s2).await;
                let _ = tx.send(());
            }
        }
    });
    thread::spawn(move || block_on(driver));
    s.emit(0);
    rx.recv_timeout(Duration::from_secs(3)).is_ok()
}

#[test]
fn emit_and_wait_from_an_async_receiver_on_its_own_signal_returns() {
    let returned = own_receiver_returns(Queue::bounded(8), |s| async move {
        s.emit_and_wait(1).await;
    });
    assert!(returned, "the async receiver waits for itself forever");
}

#[test]
fn emit_async_from_an_async_receiver_into_its_own_full_queue_returns() {
    let returned =
        own_receiver_returns(Queue::bounded(1).overflow(Overflow::block()), |s| async move {
            s.emit_async(1).await; // room: queued
            s.emit_async(2).await; // full: awaits its own consumer
        });
    assert!(returned, "the async receiver awaits room in its own queue forever");
}

#[test]
fn block_for_duration_max_does_not_overflow() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::block_for(Duration::MAX)));
    s.emit(1);
    let consumer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        let _ = sub.try_recv();
        sub
    });
    let r = s.emit(2);
    let sub = consumer.join().unwrap();
    let st = sub.stats();
    assert_eq!(
        st.offered,
        st.processed + st.dropped + st.rejected + st.len as u64 + st.in_flight as u64,
        "accounting invariant broken: {st:?}"
    );
    assert_eq!(r.failed, 0);
}

struct EmitOnDrop(Signal<u32>);
impl Drop for EmitOnDrop {
    fn drop(&mut self) {
        let r = self.0.emit(7);
        assert_eq!(r.queued, 300);
    }
}
#[test]
fn a_wide_summary_survives_user_code_in_the_cache_epilogue() {
    let other = Signal::<u32>::new();
    let _osubs: Vec<_> = (0..300).map(|_| other.subscribe(Queue::bounded(4))).collect();
    let s = Signal::<u32>::new();
    let _subs: Vec<_> = (0..300).map(|_| s.subscribe(Queue::bounded(4))).collect();
    let guard = EmitOnDrop(other.clone());
    let conn: Arc<Mutex<Option<mesh::Connection>>> = Arc::new(Mutex::new(None));
    let c2 = conn.clone();
    let c = s.connect(move |x: &Event<u32>| {
        let _keep = &guard;
        if x.data == 1 {
            if let Some(c) = c2.lock().unwrap().take() {
                c.disconnect();
            }
        }
    });
    *conn.lock().unwrap() = Some(c);
    assert_eq!(s.emit(0).queued, 300); // warm the cache
    let r = s.emit(1);
    assert_eq!(r.queued, 300, "outer Emitted lost: {r:?}");
}

// ----- second review ----------------------------------------------------------

#[test]
fn connect_async_with_replay_into_a_small_blocking_queue_returns() {
    let ok = finishes_within(3, || {
        let s = Signal::<u32>::with_config(SignalConfig::new().history(4));
        for n in 0..4 {
            s.emit(n);
        }
        let (_h, _driver) = s.connect_async(
            Queue::bounded(2).overflow(Overflow::block()).replay(),
            |_ev: Arc<Event<u32>>| async {},
        );
    });
    assert!(ok, "connect_async() never returned: replay blocked on a driver not yet created");
}

/// The classic hand-off: subscribe on the producer thread, move the
/// subscription to a consumer thread, produce. A `Block` queue must lose
/// nothing; the consumer thread has not taken anything yet when the
/// producer first finds the queue full, and the emit is refused.

#[test]
fn a_blocking_subscription_handed_to_a_consumer_thread_loses_nothing() {
    let s = Signal::<u32>::new();
    let mut sub = s.subscribe(Queue::bounded(1).overflow(Overflow::block()));
    let consumer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100)); // thread start-up, say
        let mut got = Vec::new();
        while let Some(ev) = sub.recv_blocking() {
            got.push(ev.data);
        }
        got
    });
    let mut rejected = 0;
    for n in 0..4 {
        rejected += s.emit(n).rejected;
    }
    drop(s);
    let got = consumer.join().unwrap();
    assert_eq!((rejected, got), (0, vec![0, 1, 2, 3]));
}

/// Same as the regression test for subscriptions, with an async driver
/// run on the emitting thread afterwards (the module docs' own example).

#[test]
fn emit_and_wait_from_a_receiver_of_its_own_ordered_signal_returns() {
    let ok = finishes_within(3, || {
        let s = Signal::<u32>::with_config(SignalConfig::new().ordered());
        let _sub = s.subscribe(Queue::bounded(8).overflow(Overflow::DropNewest));
        let s2 = s.clone();
        s.connect(move |x: &u32| {
            if *x == 0 {
                block_on(s2.emit_and_wait(1));
            }
        });
        s.emit(0);
    });
    assert!(ok, "ordered receiver waits for its own turn");
}

/// Two threads: A holds ordered S's turn while its receiver blocks on a
/// full `Block` queue of another signal S' consumed by C; C, between two
/// takes, does `emit_and_wait` on S (whose only queue is drained by a
/// third thread). C waits for A's dispatch; A waits for C.

#[test]
fn emit_async_from_an_async_receiver_resumed_on_another_thread_returns() {
    let s = Signal::<u32>::new();
    let s2 = s.clone();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let (_handle, driver) = s.connect_async(
        Queue::bounded(1).overflow(Overflow::block()),
        move |ev: Arc<Event<u32>>| {
            let s2 = s2.clone();
            let tx = tx.lock().unwrap().clone();
            async move {
                if ev.data == 0 {
                    yield_once().await; // resumed on another thread
                    s2.emit_async(1).await; // room: queued
                    s2.emit_async(2).await; // full: must not wait for itself
                    let _ = tx.send(());
                }
            }
        },
    );
    s.emit(0);
    let mut driver = Box::pin(driver);
    // Thread X polls once: takes 0, the handler suspends.
    let mut driver = thread::spawn(move || {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(driver.as_mut().poll(&mut cx).is_pending());
        driver
    })
    .join()
    .unwrap();
    // Thread Y resumes it.
    thread::spawn(move || {
        let mut cx = Context::from_waker(Waker::noop());
        let _ = driver.as_mut().poll(&mut cx);
        std::mem::forget(driver);
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(3)).is_ok(),
        "the async receiver's thread blocks on its own queue"
    );
}
