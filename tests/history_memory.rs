//! Memory held by history stays within its documented bound: after
//! 1,000,000 emits into a history of 1,024, what is still allocated is what
//! 1,024 envelopes need. Its own test binary, for its counting allocator.

use mesh::{Event, Signal, SignalConfig};
use mesh_test_support::Counting;

#[global_allocator]
static ALLOC: Counting = Counting;

#[derive(Clone, Debug)]
struct Reading {
    _sensor: u32,
    _value: f64,
}

#[test]
fn a_million_emits_into_a_history_of_1024() {
    const CAP: usize = 1024;
    let s = Signal::<Reading>::with_config(SignalConfig::new().history(CAP));
    s.connect(|_: &Reading| {});
    // Warm up: fill the ring once so its slots are allocated.
    for i in 0..CAP as u32 {
        s.emit(Reading { _sensor: i, _value: 0.0 });
    }
    let before = Counting::live();
    for i in 0..1_000_000u32 {
        s.emit(Reading { _sensor: i, _value: f64::from(i) });
    }
    let after = Counting::live();
    // Steady state: each new envelope replaces an evicted one. (The counter
    // is process-wide, so allow a page for the test harness's own threads.)
    assert!(after - before <= 4096, "history grew by {} bytes", after - before);
    // And the ring itself: CAP envelopes (Arc header + Event) plus a slot each.
    let per_event = 2 * std::mem::size_of::<usize>() + std::mem::size_of::<Event<Reading>>();
    let bound = CAP * (per_event + std::mem::size_of::<usize>());
    s.clear_history();
    s.set_history_capacity(0);
    let freed = after - Counting::live();
    assert!(freed > 0 && freed as usize <= bound, "ring held {freed} bytes, bound {bound}");
    println!("history of {CAP}: {freed} bytes held ({per_event} bytes per envelope)");
}
