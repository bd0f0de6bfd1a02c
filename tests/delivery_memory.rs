//! Memory of an idle queued subscriber (issue 10): its queue costs at most
//! 256 bytes before any event is queued, beside the receiver slot every
//! receiver has (at most 128 bytes, issue 9's P8), and a bounded queue
//! never holds more than its bound. Its own test binary, for its counting
//! allocator.

use mesh::Signal;
use mesh::delivery::{Overflow, Queue};
use mesh_test_support::Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn an_idle_queued_subscriber_is_small_and_a_full_one_is_bounded() {
    let s = Signal::<u64>::new();
    // Warm up what the first subscriber of the process allocates once
    // (the registry of queues for `drain`, the snapshot's growth).
    let warm = s.subscribe(Queue::bounded(8));
    let plain = s.connect(|_: &u64| {});
    let before = Counting::live();
    let plain2 = s.connect(|_: &u64| {});
    let receiver = Counting::live() - before;
    let before = Counting::live();
    let sub = s.subscribe(Queue::bounded(1024).overflow(Overflow::DropOldest));
    let subscriber = Counting::live() - before;
    println!("a plain receiver: {receiver} B; an idle queued subscriber: {subscriber} B");
    assert!(subscriber - receiver <= 256, "queue {} B", subscriber - receiver);

    // Full: the queue holds its bound, and no more, whatever is emitted.
    // (The first drop allocates the queue's loss-report state, once.)
    for i in 0..1025 {
        s.emit(i);
    }
    let full = Counting::live();
    for i in 0..100_000 {
        s.emit(i);
    }
    assert_eq!(sub.stats().len, 1024);
    // The allocator's count is process-wide: under load, other threads of
    // the harness allocate a little meanwhile (this assertion failed
    // 1–2 times in 40 runs with both cores busy, before and after the
    // one-load gate). A queue past its bound would hold 100,000 more
    // envelopes (megabytes); 4 KiB of slack cannot hide that.
    let grown = Counting::live().saturating_sub(full);
    assert!(grown <= 4096, "grew past its bound: {grown} B");
    drop((warm, plain, plain2, sub));
}
