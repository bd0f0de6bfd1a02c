//! A fast publisher and subscribers of different speeds, one per overflow
//! policy: live queue depth and losses while it runs, a summary at the end.
//!
//! ```sh
//! cargo run --example backpressure
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mesh::Signal;
use mesh::delivery::{Overflow, Queue, QueueStats, Subscription};
use mesh::meta;

/// A price tick.
#[derive(Debug, Clone, Copy)]
struct Tick {
    price: f64,
}

/// One subscriber: its policy's name, and its counters as its consumer
/// last saw them.
struct Watched {
    name: &'static str,
    stats: Arc<Mutex<QueueStats>>,
    consumer: thread::JoinHandle<u64>,
}

/// Reads `sub`, taking `work` per event, publishing its counters.
fn consume(
    mut sub: Subscription<Tick>,
    work: Duration,
    stats: Arc<Mutex<QueueStats>>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut seen = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(ev) = sub.recv_timeout(Duration::from_millis(5)) {
                std::hint::black_box(ev.data.price);
                seen += 1;
                thread::sleep(work);
            }
            *stats.lock().unwrap() = sub.stats();
        }
        *stats.lock().unwrap() = sub.stats();
        seen
    })
}

fn main() {
    let ticks = Signal::<Tick>::new();
    let lag_reports = Arc::new(AtomicU64::new(0));
    let reports = lag_reports.clone();
    let _watch = meta::lagged().connect_scoped(move |_: &meta::ReceiverLagged| {
        reports.fetch_add(1, Ordering::Relaxed);
    });

    let policies = [
        ("block 2ms", Overflow::block_for(Duration::from_millis(2))),
        ("drop oldest", Overflow::DropOldest),
        ("drop newest", Overflow::DropNewest),
        ("reject", Overflow::Reject),
        ("disconnect", Overflow::Disconnect),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let watched: Vec<Watched> = policies
        .iter()
        .enumerate()
        .map(|(i, &(name, policy))| {
            let sub = ticks.subscribe(Queue::bounded(64).overflow(policy).name(name));
            let stats = Arc::new(Mutex::new(sub.stats()));
            // Each subscriber slower than the last: 20, 40, ... µs per tick.
            let work = Duration::from_micros(20 * (i as u64 + 1));
            let consumer = consume(sub, work, stats.clone(), stop.clone());
            Watched { name, stats, consumer }
        })
        .collect();

    let start = Instant::now();
    let mut emitted = 0u64;
    let mut next_print = start;
    while start.elapsed() < Duration::from_millis(600) {
        // The publisher: bursts of 50 ticks, as fast as it can.
        for _ in 0..50 {
            ticks.emit(Tick { price: 100.0 + (emitted % 17) as f64 });
            emitted += 1;
        }
        thread::sleep(Duration::from_micros(100));
        if Instant::now() >= next_print {
            next_print += Duration::from_millis(200);
            println!("after {emitted} ticks:");
            for w in &watched {
                let s = *w.stats.lock().unwrap();
                println!(
                    "  {:<12} depth {:>2}/{} dropped {:>6} rejected {:>6}",
                    w.name, s.len, s.capacity, s.dropped, s.rejected
                );
            }
        }
    }
    stop.store(true, Ordering::Relaxed);

    println!(
        "\nsummary: {emitted} ticks, {} reports on mesh.receiver.lagged",
        lag_reports.load(Ordering::Relaxed)
    );
    println!(
        "{:<12} {:>8} {:>9} {:>8} {:>8} {:>5} {:>9}",
        "policy", "offered", "processed", "dropped", "rejected", "hwm", "connected"
    );
    for w in watched {
        let seen = w.consumer.join().unwrap();
        let s = *w.stats.lock().unwrap();
        assert_eq!(seen, s.processed);
        assert_eq!(
            s.processed + s.dropped + s.rejected + s.len as u64,
            s.offered,
            "{}: every offered tick is accounted for",
            w.name
        );
        println!(
            "{:<12} {:>8} {:>9} {:>8} {:>8} {:>5} {:>9}",
            w.name,
            s.offered,
            s.processed,
            s.dropped,
            s.rejected,
            s.high_water,
            if s.closed { "no" } else { "yes" }
        );
    }
}
