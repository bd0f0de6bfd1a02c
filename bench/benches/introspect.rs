//! `introspect::topology()` over 1,000 signals with 5,000 receivers
//! (issue 13: ≤ 2 ms): the median and quartiles of 31 snapshots.
//!
//! ```text
//! cargo bench -p mesh-bench --bench introspect
//! ```

#[path = "spread.rs"]
mod spread;

use std::time::Instant;

use mesh::{Namespace, introspect};
use spread::Spread;

static NS: Namespace = Namespace::new("bench-intro");

fn main() {
    let mut connections = Vec::new();
    for i in 0..1_000 {
        let s = NS.signal::<u64>(&format!("g{}.s{i}", i % 10)).unwrap();
        for _ in 0..5 {
            connections.push(s.connect(|_: &u64| {}));
        }
    }
    let mut ms = Vec::new();
    let mut receivers = 0;
    for _ in 0..31 {
        let start = Instant::now();
        let t = introspect::topology();
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        receivers = t.signals.iter().map(|s| s.receivers.len()).sum::<usize>();
        std::hint::black_box(t);
    }
    let s = Spread::of(ms);
    println!(
        "topology {} <= 2 ms with 1,000 signals and 5,000 receivers: {:.3} ms [{:.3}–{:.3}] ({receivers} receivers read)",
        s.verdict(2.0).word(),
        s.median,
        s.q1,
        s.q3
    );
    drop(connections);
}
