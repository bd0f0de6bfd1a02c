//! `delivery::drain` (issue 10): a process-wide wait, with a deadline, for
//! every queue to be processed. Its own test binary: it sees every queue
//! of the process.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mesh::delivery::{self, Queue, Shutdown};
use mesh::{Event, Signal};
use mesh_test_support::block_on;

#[test]
fn drain_waits_for_every_queue_and_reports_what_is_left_at_the_deadline() {
    let s = Signal::<u32>::new();
    // A subscription read by a slow thread, and an async receiver.
    let mut sub = s.subscribe(Queue::bounded(64));
    let (handle, driver) = s.connect_async(Queue::bounded(64), |_: Arc<Event<u32>>| async {
        thread::sleep(Duration::from_millis(1));
    });
    for n in 0..20 {
        s.emit(n);
    }
    let reader = thread::spawn(move || {
        let mut got = 0;
        while got < 20 {
            sub.recv_blocking().unwrap();
            got += 1;
            thread::sleep(Duration::from_millis(1));
        }
        sub
    });
    let runner = thread::spawn(move || block_on(driver));
    let start = Instant::now();
    delivery::drain(Duration::from_secs(10)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(handle.stats().processed, 20);
    let sub = reader.join().unwrap();
    assert_eq!(sub.stats().processed, 20);
    drop(sub);

    // Nobody reads this one (the async receiver keeps up): the deadline
    // passes, and says what is left.
    let stuck = s.subscribe(Queue::bounded(8));
    for n in 0..3 {
        s.emit(n);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.stats().processed < 23 {
        assert!(Instant::now() < deadline, "the async receiver keeps up");
        thread::sleep(Duration::from_millis(1));
    }
    let err = delivery::drain(Duration::from_millis(20)).unwrap_err();
    assert_eq!((err.queues, err.events), (1, 3));
    assert_eq!(err.to_string(), "1 queues still held 3 events at the deadline");
    drop(stuck);
    delivery::drain(Duration::from_secs(1)).unwrap();
    handle.disconnect(Shutdown::Drain);
    runner.join().unwrap();
}
